/* main.c — podshim: run a Kubernetes v1 Pod manifest as a real pod on this host. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "pk_cli.h"
#include "pk_conf.h"
#include "pk_log.h"
#include "shim_crilog.h"
#include "shim_kubelet.h"
#include "shim_ctl.h"
#include "shim_env.h"
#include "shim_manifest.h"
#include "shim_pod.h"
#include "shim_status.h"

/* Every option of every command; each command's table fills the fields it knows. */
struct shim_cli {
    char *root, *log_dir, *pause;
    int64_t backoff_base_ms, backoff_max_ms;
    uint64_t log_max_size;
    long long log_max_files, pids_limit;
    char *filename, *namespace, *container, *manifest_dir, *target;
    int64_t rescan_ms;
    int output, wait;
    int64_t timeout_ms;
    long long grace_period, tail;
    bool follow, previous, timestamps;
};

static const char *const outputs[] = {"table", "wide", "json", "yaml", NULL};
static const char *const waits[] = {"started", "ready", NULL};
enum { WAIT_STARTED, WAIT_READY };
enum { OUT_TABLE, OUT_WIDE, OUT_JSON, OUT_YAML };

#define KEY(n, s, t, f, d, m, h)                                                                   \
    {                                                                                              \
        .name = n, .short_flag = s, .type = t, .offset = offsetof(struct shim_cli, f), .def = d,   \
        .metavar = m, .help = h                                                                    \
    }

static const struct pk_conf_key global_keys[] = {
    KEY("root", 0, PK_CONF_STRING, root, "/run/podshim", "DIR",
        "per-pod state and control sockets"),
    KEY("log-dir", 0, PK_CONF_STRING, log_dir, "/var/log/pods", "DIR",
        "container logs, CRI format: DIR/NS_POD_UID/CONTAINER/N.log"),
    KEY("pause", 0, PK_CONF_STRING, pause, NULL, "PATH",
        "the pause binary (default: beside podshim)"),
    {.name = NULL},
};

/* The settings of a pod's supervisor, shared by run, apply and kubelet. */
#define POD_KEYS                                                                                   \
    KEY("backoff-base", 0, PK_CONF_DURATION, backoff_base_ms, "10s", NULL,                         \
        "first CrashLoopBackOff delay; doubles after each crash"),                                 \
        KEY("backoff-max", 0, PK_CONF_DURATION, backoff_max_ms, "300s", NULL, "longest back-off"), \
        KEY("log-max-size", 0, PK_CONF_SIZE, log_max_size, "10MiB", NULL,                          \
            "rotate a container's log file at this size"),                                         \
        {.name = "pids-limit",                                                                     \
         .type = PK_CONF_INT,                                                                      \
         .offset = offsetof(struct shim_cli, pids_limit),                                          \
         .def = "0",                                                                               \
         .min = 0,                                                                                 \
         .max = 4194304,                                                                           \
         .metavar = "N",                                                                           \
         .help = "most processes per container (the kubelet's podPidsLimit; 0: no limit)"},        \
    {                                                                                              \
        .name = "log-max-files", .type = PK_CONF_INT,                                              \
        .offset = offsetof(struct shim_cli, log_max_files), .def = "5", .min = 2, .max = 1000,     \
        .help = "log files kept per container, current included"                                   \
    }

/* The manifest and its grace period, for run and apply. */
#define FILE_KEYS                                                                                  \
    {.name = "filename",                                                                           \
     .short_flag = 'f',                                                                            \
     .type = PK_CONF_STRING,                                                                       \
     .offset = offsetof(struct shim_cli, filename),                                                \
     .metavar = "FILE",                                                                            \
     .flags = PK_CONF_REQUIRED,                                                                    \
     .help = "the Pod manifest (YAML or JSON; '-' is stdin)"},                                     \
    {                                                                                              \
        .name = "grace-period", .type = PK_CONF_INT,                                               \
        .offset = offsetof(struct shim_cli, grace_period), .def = "-1", .min = -1,                 \
        .max = 1000000000, .metavar = "SECONDS",                                                   \
        .help = "overrides terminationGracePeriodSeconds (-1: the pod's)"                          \
    }

static const struct pk_conf_key run_keys[] = {FILE_KEYS, POD_KEYS, {.name = NULL}};

static const struct pk_conf_key apply_run_keys[] = {
    FILE_KEYS,
    POD_KEYS,
    {.name = "wait",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct shim_cli, wait),
     .def = "started",
     .choices = waits,
     .metavar = "started|ready",
     .help = "return once every app container started, or once the pod is Ready"},
    KEY("timeout", 0, PK_CONF_DURATION, timeout_ms, "5m", NULL, "how long --wait ready waits"),
    {.name = NULL},
};

static const struct pk_conf_key kubelet_keys[] = {
    {.name = "manifest-dir",
     .type = PK_CONF_STRING,
     .offset = offsetof(struct shim_cli, manifest_dir),
     .metavar = "DIR",
     .flags = PK_CONF_REQUIRED,
     .help = "run every *.yaml, *.yml and *.json pod in DIR, kept in step with it"},
    KEY("rescan-interval", 0, PK_CONF_DURATION, rescan_ms, "20s", NULL,
        "rescan DIR this often besides inotify"),
    POD_KEYS,
    {.name = NULL},
};

/* apply takes run's keys and its own: one table, built from both at compile time. */

static const struct pk_conf_key get_keys[] = {
    KEY("namespace", 'n', PK_CONF_STRING, namespace, "default", "NS", "the pod's namespace"),
    {.name = "output",
     .short_flag = 'o',
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct shim_cli, output),
     .def = "table",
     .metavar = "FORMAT",
     .choices = outputs,
     .help = "table, wide, json or yaml"},
    {.name = NULL},
};

static const struct pk_conf_key logs_keys[] = {
    KEY("namespace", 'n', PK_CONF_STRING, namespace, "default", "NS", "the pod's namespace"),
    KEY("container", 'c', PK_CONF_STRING, container, NULL, "NAME",
        "the container (default: the pod's only one)"),
    KEY("follow", 'f', PK_CONF_BOOL, follow, "false", NULL, "keep printing new lines"),
    KEY("previous", 'p', PK_CONF_BOOL, previous, "false", NULL,
        "the previous instance of the container"),
    KEY("timestamps", 0, PK_CONF_BOOL, timestamps, "false", NULL, "prefix lines with their time"),
    {.name = "tail",
     .type = PK_CONF_INT,
     .offset = offsetof(struct shim_cli, tail),
     .def = "-1",
     .min = -1,
     .max = LLONG_MAX,
     .metavar = "N",
     .help = "only the last N lines (-1: all)"},
    {.name = NULL},
};

static const struct pk_conf_key exec_keys[] = {
    KEY("namespace", 'n', PK_CONF_STRING, namespace, "default", "NS", "the pod's namespace"),
    KEY("container", 'c', PK_CONF_STRING, container, NULL, "NAME",
        "the container (default: the pod's only one)"),
    {.name = NULL},
};

static const struct pk_conf_key debug_keys[] = {
    KEY("namespace", 'n', PK_CONF_STRING, namespace, "default", "NS", "the pod's namespace"),
    KEY("target", 0, PK_CONF_STRING, target, NULL, "CONTAINER",
        "share this container's pid namespace (default: the pod's)"),
    {.name = NULL},
};

static const struct pk_conf_key delete_keys[] = {
    KEY("namespace", 'n', PK_CONF_STRING, namespace, "default", "NS", "the pod's namespace"),
    {.name = "filename",
     .short_flag = 'f',
     .type = PK_CONF_STRING,
     .offset = offsetof(struct shim_cli, filename),
     .metavar = "FILE",
     .help = "delete the pod this manifest names"},
    {.name = "grace-period",
     .type = PK_CONF_INT,
     .offset = offsetof(struct shim_cli, grace_period),
     .def = "-1",
     .min = -1,
     .max = 1000000000,
     .metavar = "SECONDS",
     .help = "seconds before SIGKILL (-1: the pod's terminationGracePeriodSeconds)"},
    {.name = NULL},
};

#define ABOUT_ROOTFS                                                                               \
    "Containers share the pod's net, ipc and uts namespaces and have a mount and a pid\n"          \
    "namespace of their own (pause is each container's init). A container runs a host\n"           \
    "command on the host's root filesystem; when `image` is an absolute path to a directory\n"     \
    "holding a root filesystem, the container is pivot_rooted into it instead (with /proc,\n"      \
    "/dev, /sys, /etc/hosts, /etc/hostname and /etc/resolv.conf). Nothing is pulled and there\n"   \
    "is no image entrypoint, so `command` (or `args`) must name what to run."

struct command {
    const char *name;
    const char *synopsis;
    const char *about;
    const struct pk_conf_key *keys;
    int (*run)(struct pk_cli *cli, struct shim_cli *o);
};

/* ---- helpers ----------------------------------------------------------------------------- */

static void default_pause(struct shim_cli *o)
{
    char self[PATH_MAX];
    ssize_t n;

    if (o->pause != NULL) {
        return;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            strcpy(slash + 1, "pause");
            o->pause = strdup(self);
        }
    }
}

static void pod_dir(const struct shim_cli *o, const char *ns, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s_%s", o->root, ns, name);
}

/* Asks pod ns/name's supervisor; prints "Error from server ..." like kubectl on failure. */
static int call(const struct shim_cli *o, const char *ns, const char *name, const char *req,
                char **out)
{
    char dir[1200], err[512];
    struct stat st;

    pod_dir(o, ns, name, dir, sizeof(dir));
    if (stat(dir, &st) < 0) {
        fprintf(stderr, "Error from server (NotFound): pods \"%s\" not found\n", name);
        return -1;
    }
    if (shim_ctl_call(dir, req, out, err, sizeof(err)) < 0) {
        fprintf(stderr, "podshim: pod %s: %s\n", name, err);
        return -1;
    }
    if (strncmp(*out, "error: ", 7) == 0) {
        fprintf(stderr, "%s", *out + 7);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* The single argument a command takes (the pod), or NULL after saying what is wrong. */
static const char *pod_arg(const struct pk_cli *cli, bool required)
{
    if (cli->args_dashdash > 2) {
        fprintf(stderr, "podshim %s: one pod at a time (see --help)\n", cli->args[0]);
        return NULL;
    }
    if (cli->args_dashdash < 2) {
        if (required) {
            fprintf(stderr, "podshim %s: which pod? (see --help)\n", cli->args[0]);
        }
        return NULL;
    }
    return cli->args[1];
}

/* ---- run and apply ------------------------------------------------------------------------- */

struct supervisor {
    struct event_base *base;
    struct shim_podrt *pod;
    struct shim_ctl *ctl;
    int ready_fd; /* apply: where the parent waits for "ok" or the reason it failed */
};

static void on_started(struct shim_podrt *p, void *arg)
{
    struct supervisor *s = arg;

    if (s->ready_fd >= 0) {
        const char *msg = p->failure[0] != '\0'     ? p->failure
                          : p->phase == SHIM_FAILED ? "the pod failed"
                                                    : "ok";
        if (write(s->ready_fd, msg, strlen(msg)) < 0) {
            /* the parent went away: nothing to tell */
        }
        close(s->ready_fd);
        s->ready_fd = -1;
    }
}

static void on_finished(struct shim_podrt *p, void *arg)
{
    struct supervisor *s = arg;
    (void)p;
    shim_ctl_pod_finished(s->ctl);
    on_started(p, arg);
    /* supervise() flushes the "deleted" answers after the loop, then closes them. */
    event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *s = arg;
    (void)what;

    if (sig == SIGCHLD) {
        shim_pod_reap(s->pod);
    } else if (sig == SIGTERM || sig == SIGINT) {
        pk_log_info("received %s: stopping the pod", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        shim_pod_terminate(s->pod, -1);
    }
}

/* Runs the pod to its end in this process. Returns the exit status: 0 when the pod
 * Succeeded or was stopped, 1 when it Failed. */
static int supervise(struct shim_manifest *m, const struct shim_opts *opts, int ready_fd)
{
    struct supervisor s = {NULL, NULL, NULL, ready_fd};
    struct event *sigs[4] = {NULL};
    const int signos[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
    char err[1024];
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    /* Orphans of the pod come to us, never to the host's init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
    s.base = event_base_new();
    if (s.base == NULL) {
        snprintf(err, sizeof(err), "event_base_new failed");
        shim_manifest_free(m);
        goto fail;
    }
    s.pod = shim_pod_create(s.base, m, opts, err, sizeof(err));
    if (s.pod == NULL) {
        goto fail;
    }
    s.pod->on_started = on_started;
    s.pod->on_finished = on_finished;
    s.pod->cb_arg = &s;
    s.ctl = shim_ctl_create(s.pod, err, sizeof(err));
    if (s.ctl == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(s.base, signos[i], on_signal, &s);
        if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
            snprintf(err, sizeof(err), "cannot watch signal %d", signos[i]);
            goto fail;
        }
    }
    if (shim_pod_start(s.pod, err, sizeof(err)) < 0) {
        goto fail;
    }
    event_base_dispatch(s.base);
    rc = s.pod->phase == SHIM_FAILED && !s.pod->deleting ? 1 : 0;
    if (s.pod->phase == SHIM_FAILED && s.pod->failure[0] != '\0') {
        pk_log_error("pod %s failed: %s", s.pod->m->pod->name, s.pod->failure);
    }
    goto out;
fail:
    pk_log_error("%s", err);
    if (s.ready_fd >= 0) {
        if (write(s.ready_fd, err, strlen(err)) < 0) {
            /* nothing to add */
        }
        close(s.ready_fd);
        s.ready_fd = -1;
    }
out:
    for (size_t i = 0; i < 4; i++) {
        if (sigs[i] != NULL) {
            event_free(sigs[i]);
        }
    }
    shim_pod_destroy(s.pod);
    if (s.ctl != NULL) {
        event_base_loop(s.base, EVLOOP_NONBLOCK); /* flush the "deleted" answers */
    }
    shim_ctl_destroy(s.ctl); /* closes them: a waiting delete returns now */
    if (s.base != NULL) {
        event_base_free(s.base);
    }
    return rc;
}

static struct shim_manifest *load(const struct shim_cli *o)
{
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX];

    if (shim_manifest_load(o->filename, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "podshim: %s\n", err);
        return NULL;
    }
    for (size_t i = 0; i < m->nnotes; i++) {
        pk_log_info("%s", m->notes[i]);
    }
    return m;
}

static void fill_opts(const struct shim_cli *o, struct shim_opts *opts)
{
    opts->root = o->root;
    opts->log_dir = o->log_dir;
    opts->pause_path = o->pause;
    opts->backoff_base_ms = o->backoff_base_ms;
    opts->backoff_max_ms = o->backoff_max_ms;
    opts->backoff_reset_ms = 10 * 60 * 1000;
    opts->grace_override = o->grace_period;
    opts->log_max_bytes = o->log_max_size;
    opts->log_max_files = (int)o->log_max_files;
    opts->pids_limit = o->pids_limit;
    opts->keep_after_end = false;
}

static int cmd_run(struct pk_cli *cli, struct shim_cli *o)
{
    struct shim_opts opts;
    struct shim_manifest *m;

    if (cli->nargs > 1) {
        fprintf(stderr, "podshim run: unexpected argument %s (see --help)\n", cli->args[1]);
        return 2;
    }
    m = load(o);
    if (m == NULL) {
        return 2;
    }
    fill_opts(o, &opts);
    return supervise(m, &opts, -1);
}

static int cmd_apply(struct pk_cli *cli, struct shim_cli *o)
{
    struct shim_opts opts;
    struct shim_manifest *m;
    int fds[2];
    char msg[1024];
    ssize_t n;

    if (cli->nargs > 1) {
        fprintf(stderr, "podshim apply: unexpected argument %s (see --help)\n", cli->args[1]);
        return 2;
    }
    m = load(o);
    if (m == NULL) {
        return 2;
    }
    char name[512], namespace[512];
    snprintf(name, sizeof(name), "%s", m->pod->name);
    snprintf(namespace, sizeof(namespace), "%s", m->pod->namespace);
    fill_opts(o, &opts);
    opts.keep_after_end = true; /* a detached pod that ended stays for get and logs */
    if (pipe2(fds, O_CLOEXEC) < 0) {
        fprintf(stderr, "podshim: pipe: %s\n", strerror(errno));
        shim_manifest_free(m);
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "podshim: fork: %s\n", strerror(errno));
        shim_manifest_free(m);
        return 1;
    }
    if (pid == 0) {
        /* The detached supervisor: its own session, no terminal, logs to a file. */
        close(fds[0]);
        setsid();
        int nul = open("/dev/null", O_RDWR);
        char logpath[1200];
        snprintf(logpath, sizeof(logpath), "%s/%s_%s.log", o->root, m->pod->namespace,
                 m->pod->name);
        mkdir(o->root, 0700);
        int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(logfd >= 0 ? logfd : nul, 2);
        if (nul > 2) {
            close(nul);
        }
        if (logfd > 2) {
            close(logfd);
        }
        int rc = supervise(m, &opts, fds[1]);
        unlink(logpath);
        _exit(rc);
    }
    shim_manifest_free(m);
    close(fds[1]);
    do {
        n = read(fds[0], msg, sizeof(msg) - 1);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    msg[n > 0 ? n : 0] = '\0';
    if (strcmp(msg, "ok") == 0 && o->wait == WAIT_READY) {
        /* The pod runs: poll its readiness (probes decide it) until Ready or the timeout. */
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            char *out = NULL, err[256], dir[1200];
            pod_dir(o, namespace, name, dir, sizeof(dir));
            if (shim_ctl_call(dir, "ready", &out, err, sizeof(err)) < 0) {
                fprintf(stderr, "podshim: pod %s: %s\n", name, err);
                return 1;
            }
            bool ready = strncmp(out, "true", 4) == 0;
            bool over = strncmp(out, "failed", 6) == 0;
            bool ended = strncmp(out, "ended", 5) == 0;
            free(out);
            if (ready) {
                printf("pod/%s created and ready\n", name);
                return 0;
            }
            if (over || ended) {
                fprintf(stderr, "podshim: pod %s %s before it was ready\n", name,
                        over ? "failed" : "ended");
                return 1;
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >
                o->timeout_ms) {
                fprintf(stderr, "podshim: pod %s not ready after %lld ms\n", name,
                        (long long)o->timeout_ms);
                return 1;
            }
            usleep(20000);
        }
    }
    if (strcmp(msg, "ok") == 0) {
        printf("pod/%s created\n", name);
        return 0;
    }
    fprintf(stderr, "podshim: pod %s: %s\n", name,
            msg[0] != '\0' ? msg : "the supervisor exited before the pod started");
    return 1;
}

/* ---- get ----------------------------------------------------------------------------------- */

static int print_rows(struct shim_cli *o, const char *only)
{
    char **rows = NULL;
    size_t n = 0;
    char prefix[300];
    DIR *d = opendir(o->root);
    struct dirent *e;

    snprintf(prefix, sizeof(prefix), "%s_", o->namespace);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *out = NULL, dir[1200];
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
            (only != NULL && strcmp(e->d_name + strlen(prefix), only) != 0)) {
            continue;
        }
        snprintf(dir, sizeof(dir), "%s/%s", o->root, e->d_name);
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            continue;
        }
        char err[256];
        if (shim_ctl_call(dir, "row", &out, err, sizeof(err)) < 0 ||
            strncmp(out, "error", 5) == 0) {
            free(out);
            continue;
        }
        char **r = realloc(rows, (n + 1) * sizeof(*r));
        if (r == NULL) {
            free(out);
            break;
        }
        rows = r;
        out[strcspn(out, "\n")] = '\0';
        rows[n++] = out;
    }
    if (d != NULL) {
        closedir(d);
    }
    if (only != NULL && n == 0) {
        fprintf(stderr, "Error from server (NotFound): pods \"%s\" not found\n", only);
        free(rows);
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "No resources found in %s namespace.\n", o->namespace);
        free(rows);
        return 0;
    }
    /* Column widths over the header and every row, as kubectl's tabwriter. */
    static const char *const head[] = {"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"};
    size_t cols = o->output == OUT_WIDE ? 7 : 5;
    size_t width[7];
    for (size_t c = 0; c < 7; c++) {
        width[c] = strlen(head[c]);
    }
    for (size_t i = 0; i < n; i++) {
        char *p = rows[i];
        for (size_t c = 0; c < 7 && p != NULL; c++) {
            size_t l = strcspn(p, "\t");
            width[c] = l > width[c] ? l : width[c];
            p = p[l] == '\t' ? p + l + 1 : NULL;
        }
    }
    for (size_t c = 0; c < cols; c++) {
        printf(c + 1 < cols ? "%-*s   " : "%-*s\n", (int)(c + 1 < cols ? width[c] : 0), head[c]);
    }
    for (size_t i = 0; i < n; i++) {
        char *p = rows[i];
        for (size_t c = 0; c < cols && p != NULL; c++) {
            size_t l = strcspn(p, "\t");
            if (c + 1 < cols) {
                printf("%-*.*s   ", (int)width[c], (int)l, p);
            } else {
                printf("%.*s\n", (int)l, p);
            }
            p = p[l] == '\t' ? p + l + 1 : NULL;
        }
        free(rows[i]);
    }
    free(rows);
    return 0;
}

static int cmd_get(struct pk_cli *cli, struct shim_cli *o)
{
    const char *pod = pod_arg(cli, false);
    char *json = NULL;
    char err[256];

    if (cli->args_dashdash > 2) {
        return 2;
    }
    if (o->output == OUT_TABLE || o->output == OUT_WIDE) {
        return print_rows(o, pod);
    }
    if (pod == NULL) {
        fprintf(stderr, "podshim get: -o json and -o yaml need a pod name\n");
        return 2;
    }
    if (call(o, o->namespace, pod, "status", &json) < 0) {
        return 1;
    }
    int rc = 0;
    if (o->output == OUT_JSON) {
        fputs(json, stdout);
    } else if (shim_json_to_yaml(json, stdout, err, sizeof(err)) < 0) {
        fprintf(stderr, "podshim: %s\n", err);
        rc = 1;
    }
    free(json);
    return rc;
}

/* ---- logs ---------------------------------------------------------------------------------- */

struct follow {
    const struct shim_cli *o;
    const char *pod, *container;
    const char *path;
};

/* Following ends when the instance being followed has exited (or the pod is gone). */
static bool follow_done(void *arg)
{
    struct follow *f = arg;
    char req[400], dir[1200], err[256];
    char *out = NULL;
    bool done;

    snprintf(req, sizeof(req), "log %s -1", f->container);
    pod_dir(f->o, f->o->namespace, f->pod, dir, sizeof(dir));
    if (shim_ctl_call(dir, req, &out, err, sizeof(err)) < 0) {
        return true;
    }
    done = strncmp(out, f->path, strlen(f->path)) != 0 || strstr(out, "\nrunning") == NULL;
    free(out);
    return done;
}

static int cmd_logs(struct pk_cli *cli, struct shim_cli *o)
{
    const char *pod = pod_arg(cli, true);
    char req[400], err[512];
    char *out = NULL;

    if (pod == NULL) {
        return 2;
    }
    const char *c = o->container != NULL ? o->container : "-";
    snprintf(req, sizeof(req), "log %s %d", c, o->previous ? -2 : -1);
    if (call(o, o->namespace, pod, req, &out) < 0) {
        return 1;
    }
    out[strcspn(out, "\n")] = '\0';
    struct follow f = {o, pod, c, out};
    struct shim_cat_opts cat = {
        .timestamps = o->timestamps,
        .tail = o->tail,
        .follow = o->follow && !o->previous,
        .stop = follow_done,
        .arg = &f,
    };
    signal(SIGPIPE, SIG_IGN);
    int rc = shim_crilog_cat(out, 1, &cat, NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "podshim logs: %s\n", err);
    }
    free(out);
    return rc < 0 ? 1 : 0;
}

/* ---- exec ----------------------------------------------------------------------------------- */

/* Opens /proc/PID/ns/NAME for a setns, or says why not (as cmd) and returns -1. */
static int open_ns(const char *cmd, pid_t pid, const char *name)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "podshim %s: %s: %s\n", cmd, path, strerror(errno));
    }
    return fd;
}

static int cmd_exec(struct pk_cli *cli, struct shim_cli *o)
{
    const char *pod;
    char req[400], *out = NULL, *block = NULL;
    static const struct {
        const char *name;
        int type;
    } nss[] = {{"ipc", CLONE_NEWIPC},
               {"uts", CLONE_NEWUTS},
               {"net", CLONE_NEWNET},
               {"pid", CLONE_NEWPID},
               {"mnt", CLONE_NEWNS}};
    int fds[5];

    if (cli->args_dashdash != 2 || cli->nargs < 3) {
        fprintf(stderr, "podshim exec: usage: podshim exec POD [-c CONTAINER] -- CMD [ARGS...]\n");
        return 2;
    }
    pod = cli->args[1];
    snprintf(req, sizeof(req), "pid %s", o->container != NULL ? o->container : "-");
    if (call(o, o->namespace, pod, req, &out) < 0) {
        return 1;
    }
    pid_t target = (pid_t)atoi(out);
    free(out);
    char cwd[PATH_MAX] = "/", link[64];
    snprintf(link, sizeof(link), "/proc/%d/cwd", (int)target);
    ssize_t cl = readlink(link, cwd, sizeof(cwd) - 1);
    cwd[cl > 0 ? cl : 1] = '\0';
    char **env = shim_env_read(target, &block);
    for (size_t i = 0; i < 5; i++) {
        if ((fds[i] = open_ns("exec", target, nss[i].name)) < 0) {
            return 1;
        }
    }
    for (size_t i = 0; i < 5; i++) {
        if (setns(fds[i], nss[i].type) < 0) {
            fprintf(stderr, "podshim exec: join the container's %s namespace: %s\n", nss[i].name,
                    strerror(errno));
            return 1;
        }
        close(fds[i]);
    }
    pid_t pid = fork(); /* the pid namespace takes effect for children */
    if (pid < 0) {
        fprintf(stderr, "podshim exec: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        if (chdir(cwd) < 0 && chdir("/") < 0) {
            _exit(126);
        }
        if (env != NULL) {
            environ = env;
        }
        execvp(cli->args[2], cli->args + 2);
        fprintf(stderr, "podshim exec: exec \"%s\": %s\n", cli->args[2], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    free(env);
    free(block);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- debug: an ephemeral process in the pod ---- */

/* Asks the supervisor for a pid ("sandbox" or "pid NAME"); -1 after saying why not. */
static pid_t ask_pid(const struct shim_cli *o, const char *pod, const char *req)
{
    char *out = NULL;

    if (call(o, o->namespace, pod, req, &out) < 0) {
        return -1;
    }
    pid_t pid = (pid_t)atoi(out);
    free(out);
    return pid;
}

static int cmd_debug(struct pk_cli *cli, struct shim_cli *o)
{
    static const struct {
        const char *name;
        int type;
    } nss[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}};
    char req[300];
    int fds[4];

    if (cli->args_dashdash != 2 || cli->nargs < 3) {
        fprintf(stderr, "podshim debug: usage: podshim debug POD [--target CONTAINER] -- CMD...\n");
        return 2;
    }
    const char *pod = cli->args[1];
    pid_t sandbox = ask_pid(o, pod, "sandbox");
    snprintf(req, sizeof(req), "pid %s", o->target != NULL ? o->target : "");
    pid_t target = o->target != NULL ? ask_pid(o, pod, req) : sandbox;
    if (sandbox <= 0 || target <= 0) {
        return 1;
    }
    for (size_t i = 0; i < 4; i++) {
        fds[i] = open_ns("debug", i < 3 ? sandbox : target, i < 3 ? nss[i].name : "pid");
        if (fds[i] < 0) {
            return 1;
        }
    }
    for (size_t i = 0; i < 4; i++) {
        if (setns(fds[i], i < 3 ? nss[i].type : CLONE_NEWPID) < 0) {
            fprintf(stderr, "podshim debug: join the pod's %s namespace: %s\n",
                    i < 3 ? nss[i].name : "pid", strerror(errno));
            return 1;
        }
        close(fds[i]);
    }
    /* The host's files and tools, but a /proc of the pod: in a mount namespace of ours. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "podshim debug: a private mount namespace: %s\n", strerror(errno));
        return 1;
    }
    pid_t pid = fork(); /* born in the target's pid namespace */
    if (pid < 0) {
        fprintf(stderr, "podshim debug: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
            fprintf(stderr, "podshim debug: mount /proc: %s\n", strerror(errno));
            _exit(126);
        }
        execvp(cli->args[2], cli->args + 2);
        fprintf(stderr, "podshim debug: exec \"%s\": %s\n", cli->args[2], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- delete --------------------------------------------------------------------------------- */

static int cmd_delete(struct pk_cli *cli, struct shim_cli *o)
{
    const char *pod = pod_arg(cli, o->filename == NULL);
    const char *ns = o->namespace;
    struct shim_manifest *m = NULL;
    char req[64], *out = NULL, name[300];

    if (o->filename != NULL) {
        if (pod != NULL) {
            fprintf(stderr, "podshim delete: give a pod or -f FILE, not both\n");
            return 2;
        }
        m = load(o);
        if (m == NULL) {
            return 2;
        }
        pod = m->pod->name;
        ns = m->pod->namespace;
    } else if (pod == NULL) {
        return 2;
    }
    snprintf(name, sizeof(name), "%s", pod);
    snprintf(req, sizeof(req), "delete %lld", o->grace_period);
    int rc = call(o, ns, name, req, &out);
    shim_manifest_free(m);
    if (rc < 0) {
        return 1;
    }
    rc = strncmp(out, "deleted", 7) == 0 ? 0 : 1;
    if (rc == 0) {
        printf("pod \"%s\" deleted\n", name);
    } else {
        fprintf(stderr, "podshim delete: pod %s: the supervisor ended without confirming\n", name);
    }
    free(out);
    return rc;
}

/* ---- kubelet: static pods ---- */

static int cmd_kubelet(struct pk_cli *cli, struct shim_cli *o)
{
    char self[PATH_MAX], base[32], max[32], size[32], files[32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (cli->nargs > 1) {
        fprintf(stderr, "podshim kubelet: unexpected argument %s (see --help)\n", cli->args[1]);
        return 2;
    }
    if (n <= 0) {
        fprintf(stderr, "podshim kubelet: /proc/self/exe: %s\n", strerror(errno));
        return 1;
    }
    self[n] = '\0';
    snprintf(base, sizeof(base), "%lldms", (long long)o->backoff_base_ms);
    snprintf(max, sizeof(max), "%lldms", (long long)o->backoff_max_ms);
    snprintf(size, sizeof(size), "%llu", (unsigned long long)o->log_max_size);
    snprintf(files, sizeof(files), "%lld", o->log_max_files);
    char pids[32];
    snprintf(pids, sizeof(pids), "%lld", o->pids_limit);
    char *args[] = {"--root",
                    o->root,
                    "--log-dir",
                    o->log_dir,
                    "--pause",
                    o->pause,
                    "--backoff-base",
                    base,
                    "--backoff-max",
                    max,
                    "--log-max-size",
                    size,
                    "--log-max-files",
                    files,
                    "--pids-limit",
                    pids,
                    NULL};
    struct shim_kubelet_opts ko = {o->manifest_dir, self, args, o->rescan_ms};
    signal(SIGPIPE, SIG_IGN);
    return shim_kubelet_run(&ko);
}

/* ---- main -------------------------------------------------------------------------------------
 */

static const struct command commands[] = {
    {"run", "run -f FILE [OPTIONS]",
     "Runs the pod of FILE in the foreground until it completes or SIGTERM/SIGINT stops it.\n"
     "Exit status 0 when the pod Succeeded or was stopped, 1 when it Failed, 2 for a bad\n"
     "manifest (one line: FILE:LINE:COL: field.path: what is wrong).\n\n" ABOUT_ROOTFS,
     run_keys, cmd_run},
    {"apply", "apply -f FILE [OPTIONS]",
     "Starts the pod of FILE under a detached supervisor and returns once every app\n"
     "container has started (non-zero with the reason if it cannot).\n\n" ABOUT_ROOTFS,
     apply_run_keys, cmd_apply},
    {"get", "get [POD] [-n NS] [-o wide|json|yaml]",
     "Lists pods (NAME READY STATUS RESTARTS AGE), or prints one as a Kubernetes Pod object.",
     get_keys, cmd_get},
    {"logs", "logs POD [-c CONTAINER] [-f] [-p] [--timestamps] [--tail N]",
     "Prints a container's log (the CRI files under --log-dir).", logs_keys, cmd_logs},
    {"exec", "exec POD [-c CONTAINER] -- CMD [ARGS...]",
     "Runs CMD in the container's namespaces, with its environment and working directory.",
     exec_keys, cmd_exec},
    {"debug", "debug POD [--target CONTAINER] -- CMD [ARGS...]",
     "Runs a host command inside the pod, like kubectl debug's ephemeral container: in the\n"
     "pod's net, ipc and uts namespaces and the target container's pid namespace (the pod's\n"
     "without --target), with the host's files and a /proc that shows the pod's processes.\n"
     "Nothing in the pod is restarted.",
     debug_keys, cmd_debug},
    {"kubelet", "kubelet --manifest-dir DIR [OPTIONS]",
     "Runs the static pods of DIR, like the kubelet's staticPodPath: every *.yaml, *.yml and\n"
     "*.json file (not dot-files) is one pod under its own supervisor; inotify and a rescan\n"
     "start new files, replace changed ones (graceful stop, then start) and stop removed\n"
     "ones. A file that does not parse is logged with its line and skipped. SIGTERM stops\n"
     "every pod gracefully.",
     kubelet_keys, cmd_kubelet},
    {"delete", "delete POD | -f FILE [--grace-period N]",
     "Stops the pod gracefully (SIGTERM, then SIGKILL after the grace period) and removes it.",
     delete_keys, cmd_delete},
};

static void version_extra(FILE *out)
{
    fprintf(out, "libevent %s\n", event_get_version());
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: podshim COMMAND [OPTIONS]\n\n"
                 "Runs Kubernetes v1 Pod manifests as real pods on this host: pause holds each\n"
                 "pod's net, ipc and uts namespaces, containers join them, volumes are shared.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  podshim %s\n", commands[i].synopsis);
    }
    fprintf(out, "\n'podshim COMMAND --help' shows a command's options. -V shows the version.\n");
}

int main(int argc, char **argv)
{
    struct shim_cli o;
    struct pk_cli cli;
    const struct command *cmd = NULL;
    char prog[32];

    pk_log_init("podshim");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            cmd = &commands[i];
        }
    }
    if (cmd == NULL) {
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
            struct pk_cli_spec vs = {.prog = "podshim",
                                     .synopsis = "",
                                     .about = "",
                                     .keys = global_keys,
                                     .version_extra = version_extra};
            memset(&o, 0, sizeof(o));
            int rc = pk_cli_start(&cli, &vs, &o, argc, argv);
            pk_cli_release(&cli);
            return rc == PK_CLI_RUN ? 0 : rc;
        }
        fprintf(stderr, "podshim: unknown command \"%s\" (see 'podshim --help')\n", argv[1]);
        return 2;
    }
    snprintf(prog, sizeof(prog), "podshim %s", cmd->name);
    struct pk_cli_spec spec = {
        .prog = prog,
        .synopsis = cmd->synopsis + strlen(cmd->name) + 1,
        .about = cmd->about,
        .keys = global_keys,
        .more_keys = cmd->keys,
        .interleaved = true,
        .config_long_only = true,
        .version_extra = version_extra,
    };
    memset(&o, 0, sizeof(o));
    int rc = pk_cli_start(&cli, &spec, &o, argc, argv);
    if (rc == PK_CLI_RUN) {
        pk_log_init("podshim");
        default_pause(&o);
        rc = cmd->run(&cli, &o);
    }
    pk_cli_release(&cli); /* frees every string key, o.pause from default_pause too */
    return rc;
}
