/* shim_kubelet.c — the static-pod loop: inotify plus rescan, one `podshim run` per file. */
#include "shim_kubelet.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "pk_log.h"
#include "shim_manifest.h"

/* One manifest file and the pod running it. */
struct entry {
    struct entry *next;
    char *name; /* the file's name in the directory */
    dev_t dev;  /* what the file was when its pod was (last) started */
    ino_t ino;
    struct timespec mtime;
    off_t size;
    pid_t pid;    /* the pod's `podshim run`, 0 when none */
    bool seen;    /* found by the scan under way */
    bool invalid; /* this version of the file does not parse: logged once */
    bool restart; /* changed while running: start again once stopped */
    bool gone;    /* the file was removed: forget the entry once stopped */
};

struct kubelet {
    const struct shim_kubelet_opts *o;
    struct event_base *base;
    struct entry *entries;
    bool stopping; /* SIGTERM: stop every pod, then return */
};

static bool wanted(const char *name)
{
    size_t n = strlen(name);

    if (name[0] == '.') {
        return false;
    }
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static bool same_file(const struct entry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void remember(struct entry *e, const struct stat *st)
{
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
}

/* Starts the pod of e's file, after checking that it parses (so that a bad file is one
 * clear log line, not a supervisor that exits 2 at every rescan). */
static void start(struct kubelet *k, struct entry *e)
{
    char path[4096], err[SHIM_ERR_MAX];
    struct shim_manifest *m = NULL;
    size_t nargs = 0;

    snprintf(path, sizeof(path), "%s/%s", k->o->dir, e->name);
    if (shim_manifest_load(path, &m, err, sizeof(err)) < 0) {
        if (!e->invalid) {
            pk_log_error("static pod %s not started: %s", e->name, err);
        }
        e->invalid = true;
        return;
    }
    e->invalid = false;
    pk_log_info("static pod %s: starting pod %s", e->name, m->pod->name);
    shim_manifest_free(m);
    while (k->o->run_args[nargs] != NULL) {
        nargs++;
    }
    char **argv = calloc(nargs + 5, sizeof(*argv));
    if (argv == NULL) {
        pk_log_error("static pod %s: out of memory", e->name);
        return;
    }
    argv[0] = "podshim";
    argv[1] = "run";
    argv[2] = "-f";
    argv[3] = path;
    memcpy(argv + 4, k->o->run_args, nargs * sizeof(*argv));
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0L, 0L, 0L); /* a killed kubelet stops its pods */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(k->o->self_exe, argv);
        _exit(127);
    }
    free(argv);
    if (pid < 0) {
        pk_log_error("static pod %s: fork: %s", e->name, strerror(errno));
        return;
    }
    e->pid = pid;
}

static void stop(struct entry *e)
{
    if (e->pid > 0) {
        kill(e->pid, SIGTERM); /* `podshim run` stops its pod gracefully */
    }
}

static void forget(struct kubelet *k, struct entry *e)
{
    for (struct entry **pp = &k->entries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            free(e->name);
            free(e);
            return;
        }
    }
}

/* Brings the pods in step with the directory: new, changed and removed files. */
static void scan(struct kubelet *k)
{
    DIR *d = opendir(k->o->dir);
    struct dirent *de;

    if (d == NULL) {
        pk_log_warn("cannot read %s: %s", k->o->dir, strerror(errno));
        return;
    }
    for (struct entry *e = k->entries; e != NULL; e = e->next) {
        e->seen = false;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char path[4096];
        struct entry *e;

        if (!wanted(de->d_name)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", k->o->dir, de->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        for (e = k->entries; e != NULL && strcmp(e->name, de->d_name) != 0; e = e->next) {
        }
        if (e == NULL) {
            e = calloc(1, sizeof(*e));
            if (e == NULL || (e->name = strdup(de->d_name)) == NULL) {
                free(e);
                continue;
            }
            e->next = k->entries;
            k->entries = e;
            remember(e, &st);
            e->seen = true;
            start(k, e);
            continue;
        }
        e->seen = true;
        e->gone = false;
        if (same_file(e, &st)) {
            continue;
        }
        remember(e, &st);
        if (e->pid > 0) {
            pk_log_info("static pod %s changed: replacing its pod", e->name);
            e->restart = true;
            stop(e);
        } else {
            start(k, e);
        }
    }
    closedir(d);
    for (struct entry *e = k->entries, *next; e != NULL; e = next) {
        next = e->next;
        if (!e->seen) {
            e->gone = true;
            e->restart = false;
            if (e->pid > 0) {
                pk_log_info("static pod %s removed: stopping its pod", e->name);
                stop(e);
            } else {
                forget(k, e);
            }
        }
    }
}

static void on_child(struct kubelet *k)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct entry *e;
        for (e = k->entries; e != NULL && e->pid != pid; e = e->next) {
        }
        if (e == NULL) {
            continue;
        }
        e->pid = 0;
        if (e->gone || k->stopping) {
            forget(k, e);
        } else if (e->restart) {
            e->restart = false;
            start(k, e);
        } else {
            pk_log_info("static pod %s: its pod ended (status %d)", e->name,
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
    if (k->stopping && k->entries == NULL) {
        event_base_loopexit(k->base, NULL);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct kubelet *k = arg;
    (void)what;

    if (sig == SIGCHLD) {
        on_child(k);
        return;
    }
    if (sig == SIGTERM || sig == SIGINT) {
        pk_log_info("received %s: stopping every static pod",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
        k->stopping = true;
        for (struct entry *e = k->entries, *next; e != NULL; e = next) {
            next = e->next;
            if (e->pid > 0) {
                stop(e);
            } else {
                forget(k, e);
            }
        }
        if (k->entries == NULL) {
            event_base_loopexit(k->base, NULL);
        }
    }
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct kubelet *k = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    (void)what;

    /* Drain, then scan once: the scan looks at the whole directory anyway. */
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    if (!k->stopping) {
        scan(k);
    }
}

static void on_rescan(evutil_socket_t fd, short what, void *arg)
{
    struct kubelet *k = arg;
    (void)fd;
    (void)what;
    if (!k->stopping) {
        scan(k);
    }
}

int shim_kubelet_run(const struct shim_kubelet_opts *o)
{
    struct kubelet k = {o, NULL, NULL, false};
    const int signos[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
    struct event *sigs[4] = {NULL}, *ino_ev = NULL, *timer = NULL;
    struct timeval tv = {o->rescan_ms / 1000, (o->rescan_ms % 1000) * 1000};
    int rc = 1;
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (ino < 0 || inotify_add_watch(ino, o->dir,
                                     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                         IN_ATTRIB | IN_DELETE_SELF) < 0) {
        pk_log_error("cannot watch %s: %s", o->dir, strerror(errno));
        goto out;
    }
    k.base = event_base_new();
    if (k.base == NULL) {
        pk_log_error("event_base_new failed");
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(k.base, signos[i], on_signal, &k);
        if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
            pk_log_error("cannot watch signal %d", signos[i]);
            goto out;
        }
    }
    ino_ev = event_new(k.base, ino, EV_READ | EV_PERSIST, on_inotify, &k);
    timer = event_new(k.base, -1, EV_PERSIST, on_rescan, &k);
    if (ino_ev == NULL || timer == NULL || event_add(ino_ev, NULL) < 0 ||
        event_add(timer, &tv) < 0) {
        pk_log_error("cannot set up the event loop");
        goto out;
    }
    pk_log_info("watching %s for static pods", o->dir);
    scan(&k);
    event_base_dispatch(k.base);
    rc = 0;
out:
    for (size_t i = 0; i < 4; i++) {
        if (sigs[i] != NULL) {
            event_free(sigs[i]);
        }
    }
    if (ino_ev != NULL) {
        event_free(ino_ev);
    }
    if (timer != NULL) {
        event_free(timer);
    }
    if (k.base != NULL) {
        event_base_free(k.base);
    }
    while (k.entries != NULL) {
        struct entry *e = k.entries;
        if (e->pid > 0) { /* only on a setup failure: nothing was started then */
            kill(e->pid, SIGTERM);
        }
        forget(&k, e);
    }
    if (ino >= 0) {
        close(ino);
    }
    return rc;
}
