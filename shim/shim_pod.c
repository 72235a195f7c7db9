/* shim_pod.c — the pod lifecycle: init containers in order, app containers with restart
 * policies and CrashLoopBackOff, phases, CRI logs, graceful termination and teardown. */
#include "shim_pod.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pk_fs.h"
#include "pk_log.h"
#include "shim_cgroup.h"
#include "shim_ctl.h"
#include "shim_env.h"
#include "shim_health.h"
#include "shim_portfwd.h"
#include "shim_security.h"
#include "shim_spawn.h"

#define POD_IP "127.0.0.1" /* the pod has loopback only: its own address is localhost */
#define READ_CHUNK 65536   /* per pipe per wakeup, so that one container cannot starve others */

static void start_container(struct shim_ctr *c);
static void advance(struct shim_podrt *p);
static void on_kill_timer(evutil_socket_t fd, short what, void *arg);
static void drop_cgroup(struct shim_ctr *c);

const char *shim_phase_name(enum shim_phase phase)
{
    static const char *const names[] = {"Pending", "Running", "Succeeded", "Failed"};
    return names[phase];
}

static void now_wall(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_waiting(struct shim_ctr *c, const char *reason, const char *message)
{
    c->state = SHIM_WAITING;
    snprintf(c->reason, sizeof(c->reason), "%s", reason);
    snprintf(c->message, sizeof(c->message), "%s", message != NULL ? message : "");
}

/* ---- logs ------------------------------------------------------------------------------ */

/* Reads once (up to READ_CHUNK) from one of the instance's pipes into its CRI log.
 * Returns 1 after data, 0 when nothing is waiting, -1 when the stream ended (the pipe is
 * closed then, and its partial line written whole). */
static int read_once(struct shim_ctr *c, enum shim_stream stream)
{
    int *fd = stream == SHIM_STDOUT ? &c->out_fd : &c->err_fd;
    struct event **ev = stream == SHIM_STDOUT ? &c->out_ev : &c->err_ev;
    char buf[READ_CHUNK];
    char err[256];
    struct timespec now;
    ssize_t n;

    if (*fd < 0) {
        return -1;
    }
    n = read(*fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    now_wall(&now);
    if (n > 0) {
        if (shim_crilog_feed(c->log, stream, buf, (size_t)n, &now, err, sizeof(err)) < 0) {
            pk_log_warn("pod %s container %s: log: %s", c->pod->m->pod->name, c->spec->name, err);
        }
        return 1;
    }
    if (shim_crilog_eof(c->log, stream, &now, err, sizeof(err)) < 0) {
        pk_log_warn("pod %s container %s: log: %s", c->pod->m->pod->name, c->spec->name, err);
    }
    event_free(*ev);
    *ev = NULL;
    close(*fd);
    *fd = -1;
    return -1;
}

static void on_output(evutil_socket_t fd, short what, void *arg)
{
    struct shim_ctr *c = arg;
    (void)what;
    read_once(c, fd == c->out_fd ? SHIM_STDOUT : SHIM_STDERR);
}

/* Drains what the current instance's pipes hold and closes them and its log (before a
 * restart opens new ones, or at teardown). Whatever a leftover process writes later is
 * not this instance's output. Drops what its handlers used: environment, pid namespace. */
static void close_instance(struct shim_ctr *c)
{
    enum shim_stream streams[] = {SHIM_STDOUT, SHIM_STDERR};

    for (size_t i = 0; i < 2; i++) {
        while (read_once(c, streams[i]) > 0) {
        }
        int *fd = streams[i] == SHIM_STDOUT ? &c->out_fd : &c->err_fd;
        if (*fd >= 0) {
            struct timespec now;
            char err[256];
            now_wall(&now);
            shim_crilog_eof(c->log, streams[i], &now, err, sizeof(err));
            event_free(streams[i] == SHIM_STDOUT ? c->out_ev : c->err_ev);
            close(*fd);
            *fd = -1;
        }
    }
    c->out_ev = c->err_ev = NULL;
    shim_crilog_destroy(c->log);
    c->log = NULL;
    shim_strv_free(c->env);
    c->env = NULL;
    if (c->pid_fd >= 0) {
        close(c->pid_fd);
        c->pid_fd = -1;
    }
}

/* Opens the log file of this instance and the pipes that feed it. */
static int open_instance(struct shim_ctr *c, int wfds[2], char *err, size_t errsz)
{
    struct shim_podrt *p = c->pod;
    char path[2048];
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    struct shim_crilog_config cfg = {.max_bytes = p->opts->log_max_bytes,
                                     .max_files = p->opts->log_max_files};

    snprintf(path, sizeof(path), "%s/%s/%d.log", p->log_dir, c->spec->name, c->restarts);
    c->log = shim_crilog_create(path, &cfg, err, errsz);
    if (c->log == NULL) {
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errsz, "pipe2: %s", strerror(errno));
        goto fail;
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    c->out_fd = out[0];
    c->err_fd = errp[0];
    c->out_ev = event_new(p->base, c->out_fd, EV_READ | EV_PERSIST, on_output, c);
    c->err_ev = event_new(p->base, c->err_fd, EV_READ | EV_PERSIST, on_output, c);
    if (c->out_ev == NULL || c->err_ev == NULL) {
        snprintf(err, errsz, "out of memory");
        close(out[1]);
        close(errp[1]);
        close_instance(c);
        return -1;
    }
    event_add(c->out_ev, NULL);
    event_add(c->err_ev, NULL);
    wfds[0] = out[1];
    wfds[1] = errp[1];
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0) {
            close(out[i]);
        }
        if (errp[i] >= 0) {
            close(errp[i]);
        }
    }
    shim_crilog_destroy(c->log);
    c->log = NULL;
    return -1;
}

/* ---- starting and restarting ------------------------------------------------------------ */

static void on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
    struct shim_ctr *c = arg;
    (void)fd;
    (void)what;
    if (!c->pod->terminating) {
        start_container(c);
        advance(c->pod);
    }
}

/* A container that could not be created: recorded like kubelet's CreateContainerError
 * (or StartError with the exit code of a command that cannot run). */
static void creation_failed(struct shim_ctr *c, const char *reason, int exit_code, const char *msg)
{
    pk_log_warn("pod %s: container %s: %s", c->pod->m->pod->name, c->spec->name, msg);
    if (c->pod->failure[0] == '\0') {
        snprintf(c->pod->failure, sizeof(c->pod->failure), "container %s: %s", c->spec->name, msg);
    }
    c->state = SHIM_TERMINATED;
    memset(&c->term, 0, sizeof(c->term));
    c->term.set = true;
    c->term.exit_code = exit_code != 0 ? exit_code : 128;
    snprintf(c->term.reason, sizeof(c->term.reason), "%s", reason);
    snprintf(c->term.message, sizeof(c->term.message), "%s", msg);
    now_wall(&c->term.started);
    c->term.finished = c->term.started;
}

static void report_started(struct shim_podrt *p);

/* Learns whether container c's exec worked (its result pipe is readable, or the child has
 * exited): running from now on, or a StartError that its reaping will not overwrite. */
static void finish_start(struct shim_ctr *c)
{
    char err[512];
    int code;

    if (c->start_ev != NULL) {
        event_free(c->start_ev);
        c->start_ev = NULL;
    }
    if (c->start_fd < 0) {
        return;
    }
    int rc = shim_spawn_finish(c->start_fd, &code, err, sizeof(err));
    c->start_fd = -1;
    if (rc < 0) {
        /* The child exits 127 after reporting; shim_pod_reap keeps this instead. */
        pid_t pid = c->pid;
        creation_failed(c, "StartError", code, err);
        c->pid = pid;
        return;
    }
    c->ever_started = true;
    now_wall(&c->started);
    clock_gettime(CLOCK_MONOTONIC, &c->started_mono);
    shim_health_started(c); /* postStart, then probes; running once postStart is done */
}

void shim_pod_mark_running(struct shim_ctr *c)
{
    c->state = SHIM_CRUNNING;
    c->reason[0] = '\0';
    c->message[0] = '\0';
    pk_log_info("pod %s: container %s started (pid %d)", c->pod->m->pod->name, c->spec->name,
                (int)c->pid);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    struct shim_ctr *c = arg;
    (void)fd;
    (void)what;
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
    }
}

void shim_pod_kill_container(struct shim_ctr *c, long long grace_s, const char *why)
{
    struct timeval tv = {grace_s, 0};

    snprintf(c->kill_reason, sizeof(c->kill_reason), "%s", why);
    pk_log_info("pod %s: stopping container %s: %s", c->pod->m->pod->name, c->spec->name, why);
    if (c->pid <= 0) {
        return;
    }
    kill(c->pid, grace_s > 0 ? SIGTERM : SIGKILL);
    if (grace_s > 0) {
        evtimer_add(c->kill_timer, &tv);
    }
}

void shim_pod_changed(struct shim_podrt *p)
{
    advance(p);
}

bool shim_pod_ready(const struct shim_podrt *p)
{
    for (size_t i = 0; i < p->nctrs; i++) {
        const struct shim_ctr *c = &p->ctrs[i];
        if ((i >= p->ninit || c->spec->sidecar) && !(c->state == SHIM_CRUNNING && c->ready)) {
            return false;
        }
    }
    return p->initialized;
}

static void on_start_result(evutil_socket_t fd, short what, void *arg)
{
    struct shim_ctr *c = arg;
    (void)fd;
    (void)what;
    finish_start(c);
    advance(c->pod);
}

static void start_container(struct shim_ctr *c)
{
    struct shim_podrt *p = c->pod;
    struct shim_env_pod ep = {p->hostname, POD_IP};
    struct shim_bind *binds = NULL;
    size_t nbinds = 0;
    char err[512];
    char **env = NULL, **argv = NULL;
    int wfds[2] = {-1, -1};

    if (c->term.set) {
        c->last = c->term;
        memset(&c->term, 0, sizeof(c->term));
    }
    if (c->ever_started) {
        c->restarts++; /* as the kubelet counts: when the next instance is made */
    }
    c->term_sent = false;
    set_waiting(c, "ContainerCreating", NULL);
    /* An image that is a directory is the container's root filesystem. */
    struct stat st;
    const char *rootfs =
        c->spec->image[0] == '/' && stat(c->spec->image, &st) == 0 && S_ISDIR(st.st_mode)
            ? c->spec->image
            : NULL;
    if (shim_security_plan(p->m->pod, c->spec, &c->security, err, sizeof(err)) < 0) {
        creation_failed(c, "CreateContainerConfigError", 0, err);
        goto out;
    }
    env = shim_env_build(p->m, c->spec, &ep, err, sizeof(err));
    if (env == NULL || (argv = shim_argv_build(c->spec, env, err, sizeof(err))) == NULL ||
        shim_volumes_binds(&p->volumes, c->spec, rootfs == NULL, &binds, &nbinds, err,
                           sizeof(err)) < 0) {
        creation_failed(c, "CreateContainerConfigError", 0, err);
        goto out;
    }
    if (p->cgroup != NULL) {
        char cgname[128];
        snprintf(cgname, sizeof(cgname), "%s-%d", c->spec->name, c->restarts);
        c->cg = shim_cgroup_child_create(p->cgroup, cgname, &c->spec->resources,
                                         p->opts->pids_limit, err, sizeof(err));
        if (c->cg == NULL) {
            creation_failed(c, "CreateContainerError", 0, err);
            goto out;
        }
    }
    if (open_instance(c, wfds, err, sizeof(err)) < 0) {
        creation_failed(c, "CreateContainerError", 0, err);
        goto out;
    }
    struct shim_spawn_spec spec = {
        .sandbox = &p->sandbox,
        .share_pid = p->m->pod->share_process_namespace,
        .pause_path = p->opts->pause_path,
        .pause_fd = p->pause_fd,
        .argv = argv,
        .envp = env,
        .working_dir = c->spec->working_dir,
        .rootfs = rootfs,
        .etc_dir = p->dir,
        .security = &c->security,
        .cgroup = c->cg,
        .binds = binds,
        .nbinds = nbinds,
        .stdout_fd = wfds[0],
        .stderr_fd = wfds[1],
    };
    int result_fd;
    pid_t pid = shim_spawn_start(&spec, &result_fd, err, sizeof(err));
    close(wfds[0]);
    close(wfds[1]);
    if (pid < 0) {
        close_instance(c);
        drop_cgroup(c);
        creation_failed(c, "StartError", 127, err);
        goto out;
    }
    /* The next container is cloned while this one execs; on_start_result says how it went. */
    c->pid = pid;
    c->env = env; /* exec handlers run with it */
    env = NULL;
    {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
        c->pid_fd = open(path, O_RDONLY | O_CLOEXEC); /* -1: handlers open it themselves */
    }
    c->start_fd = result_fd;
    c->start_ev = event_new(p->base, result_fd, EV_READ, on_start_result, c);
    if (c->start_ev == NULL || event_add(c->start_ev, NULL) < 0) {
        finish_start(c); /* no event: learn the outcome now */
    }
out:
    shim_binds_free(binds, nbinds);
    shim_strv_free(argv);
    shim_strv_free(env);
}

/* Whether a terminated container runs again under the pod's restart policy. */
static bool wants_restart(const struct shim_ctr *c)
{
    enum shim_restart_policy rp = c->pod->m->pod->restart_policy;
    bool failed = c->term.exit_code != 0;

    if (c->pod->terminating) {
        return false;
    }
    if (c->spec->sidecar) {
        return true; /* a native sidecar restarts whenever it exits */
    }
    if (c->init) {
        return failed && rp != SHIM_RESTART_NEVER; /* init containers retry failures only */
    }
    return rp == SHIM_RESTART_ALWAYS || (rp == SHIM_RESTART_ON_FAILURE && failed);
}

/* Schedules the next start after the back-off, shown as CrashLoopBackOff meanwhile. */
static void schedule_restart(struct shim_ctr *c)
{
    const struct shim_opts *o = c->pod->opts;
    struct timeval tv;
    char msg[256];

    int64_t ran = c->state == SHIM_TERMINATED && c->started_mono.tv_sec != 0
                      ? now_ms() - ((int64_t)c->started_mono.tv_sec * 1000 +
                                    c->started_mono.tv_nsec / 1000000)
                      : 0;
    if (c->backoff_ms == 0 || ran >= o->backoff_reset_ms) {
        c->backoff_ms = o->backoff_base_ms;
    }
    int64_t delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > o->backoff_max_ms ? o->backoff_max_ms : c->backoff_ms * 2;
    c->last = c->term;
    snprintf(msg, sizeof(msg), "back-off %llds restarting failed container=%s pod=%s_%s",
             (long long)(delay / 1000), c->spec->name, c->pod->m->pod->name,
             c->pod->m->pod->namespace);
    set_waiting(c, "CrashLoopBackOff", msg);
    memset(&c->term, 0, sizeof(c->term));
    tv.tv_sec = delay / 1000;
    tv.tv_usec = (delay % 1000) * 1000;
    evtimer_add(c->timer, &tv);
}

/* ---- the pod's state machine ------------------------------------------------------------- */

/* Tells the caller waiting for the start (apply) how it went: every app container
 * started, or the first reason one could not (p->failure). */
static void report_started(struct shim_podrt *p)
{
    if (!p->started_reported && p->on_started != NULL) {
        p->started_reported = true;
        p->on_started(p, p->cb_arg);
    }
}

static void teardown(struct shim_podrt *p);
static void stop_containers(struct shim_podrt *p, long long grace_s);

/* Moves the pod on after any change: next init container, app containers, phase. */
static void advance(struct shim_podrt *p)
{
    if (p->torn_down) {
        return;
    }
    /* Init containers, one at a time. */
    while (!p->initialized && !p->terminating) {
        if (p->next_init == p->ninit) {
            p->initialized = true;
            for (size_t i = p->ninit; i < p->nctrs; i++) {
                start_container(&p->ctrs[i]);
            }
            break;
        }
        struct shim_ctr *c = &p->ctrs[p->next_init];
        if (c->spec->sidecar && c->state == SHIM_CRUNNING && c->started_ok) {
            p->next_init++; /* a sidecar counts as started once it runs; it keeps running */
            continue;
        }
        if (c->spec->sidecar && c->state == SHIM_TERMINATED && c->pid == 0) {
            schedule_restart(c); /* exited before it counted as started */
            break;
        }
        if (c->pid > 0 || c->state == SHIM_CRUNNING ||
            (c->state == SHIM_WAITING && evtimer_pending(c->timer, NULL))) {
            break; /* starting, running, or waiting out its back-off */
        }
        if (c->state == SHIM_TERMINATED && c->term.exit_code == 0 && c->pid == 0) {
            c->done = true;
            p->next_init++;
            continue;
        }
        if (c->state == SHIM_TERMINATED) {
            if (!p->started_reported && p->failure[0] == '\0') {
                snprintf(p->failure, sizeof(p->failure),
                         "init container %s failed (exit code %d); see 'podshim logs %s -c %s'",
                         c->spec->name, c->term.exit_code, p->m->pod->name, c->spec->name);
            }
            if (wants_restart(c)) {
                schedule_restart(c);
                report_started(p); /* the failure, while the pod keeps retrying */
                break;
            }
            c->done = true;
            p->phase = SHIM_FAILED; /* an init container failed for good */
            snprintf(p->failure, sizeof(p->failure), "init container %s failed (exit code %d)",
                     c->spec->name, c->term.exit_code);
            break;
        }
        start_container(c); /* waiting for its first start */
        if (c->state == SHIM_TERMINATED && c->pid == 0) {
            continue; /* could not even be created: judged like an exit above */
        }
        break;
    }
    /* Sidecars that already counted as started restart whenever they exit. */
    for (size_t i = 0; i < p->next_init && !p->terminating; i++) {
        struct shim_ctr *c = &p->ctrs[i];
        if (c->spec->sidecar && c->state == SHIM_TERMINATED && c->pid == 0) {
            schedule_restart(c);
        }
    }
    /* App containers: restart what the policy restarts. */
    if (p->initialized) {
        for (size_t i = p->ninit; i < p->nctrs; i++) {
            struct shim_ctr *c = &p->ctrs[i];
            if (c->state == SHIM_TERMINATED && !c->done && c->pid == 0) {
                if (wants_restart(c)) {
                    schedule_restart(c);
                } else {
                    c->done = true;
                }
            }
        }
    }

    /* The phase; a pod being deleted keeps the one it had. */
    size_t running = 0, done = 0, failed = 0, started = 0;
    for (size_t i = p->ninit; i < p->nctrs; i++) {
        const struct shim_ctr *c = &p->ctrs[i];
        running += c->state == SHIM_CRUNNING;
        started += c->ever_started;
        if (c->done) {
            done++;
            failed += c->term.exit_code != 0;
        }
    }
    if (p->phase != SHIM_FAILED && !p->deleting) {
        if (p->initialized && done == p->nctrs - p->ninit) {
            p->phase = failed > 0 ? SHIM_FAILED : SHIM_SUCCEEDED;
        } else if (p->initialized && running > 0) {
            p->phase = SHIM_RUNNING;
        }
    }
    if (p->initialized && started == p->nctrs - p->ninit) {
        p->failure[0] = '\0'; /* a container that failed to start once has started since */
        report_started(p);
    } else if (p->failure[0] != '\0' || p->phase >= SHIM_SUCCEEDED) {
        report_started(p);
    }
    if (p->phase >= SHIM_SUCCEEDED && !p->terminating) {
        pk_log_info("pod %s: %s", p->m->pod->name, shim_phase_name(p->phase));
        /* The app containers are done; sidecars, if any, stop gracefully (last first). */
        stop_containers(p, -1);
    } else if (p->terminating) {
        teardown(p);
    }
}

/* The instance's cgroup goes with it: what is left in it is killed first. */
static void drop_cgroup(struct shim_ctr *c)
{
    if (c->cg != NULL) {
        shim_cgroup_kill_all(c->cg);
        shim_cgroup_destroy(c->cg);
        c->cg = NULL;
    }
}

static struct shim_ctr *find_pid(struct shim_podrt *p, pid_t pid)
{
    for (size_t i = 0; i < p->nctrs; i++) {
        if (p->ctrs[i].pid == pid) {
            return &p->ctrs[i];
        }
    }
    return NULL;
}

void shim_pod_reap(struct shim_podrt *p)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == p->sandbox.pause_pid) {
            p->sandbox.pause_pid = 0;
            if (!p->terminating) {
                pk_log_error("pod %s: the sandbox's pause exited; stopping the pod",
                             p->m->pod->name);
                p->phase = SHIM_FAILED;
                snprintf(p->failure, sizeof(p->failure), "the sandbox (pause) exited");
                stop_containers(p, 0);
            }
            continue;
        }
        struct shim_ctr *c = find_pid(p, pid);
        if (c == NULL) {
            /* An exec probe's or hook's command, or an orphan we adopted as subreaper. */
            shim_health_reaped(p, pid, status);
            continue;
        }
        finish_start(c); /* dead before its result was read: read it now */
        c->pid = 0;
        if (c->state == SHIM_TERMINATED && c->term.set) {
            /* It never ran: the StartError recorded by finish_start stands. */
            close_instance(c);
            continue;
        }
        c->state = SHIM_TERMINATED;
        memset(&c->term, 0, sizeof(c->term));
        c->term.set = true;
        c->term.started = c->started;
        now_wall(&c->term.finished);
        if (WIFSIGNALED(status)) {
            c->term.signal = WTERMSIG(status);
            c->term.exit_code = 128 + c->term.signal;
        } else {
            c->term.exit_code = WEXITSTATUS(status);
            /* pause reports a command killed by signal N as 128+N, like a shell. */
            if (c->term.exit_code > 128 && c->term.exit_code < 128 + 65) {
                c->term.signal = c->term.exit_code - 128;
            }
        }
        snprintf(c->term.reason, sizeof(c->term.reason), "%s",
                 c->term.exit_code == 0 ? "Completed" : "Error");
        if (c->kill_reason[0] != '\0') {
            snprintf(c->term.message, sizeof(c->term.message), "%s", c->kill_reason);
            c->kill_reason[0] = '\0';
        }
        if (shim_cgroup_oom_killed(c->cg)) {
            snprintf(c->term.reason, sizeof(c->term.reason), "OOMKilled");
            c->term.exit_code = 137;
            c->term.signal = SIGKILL;
        }
        shim_health_stopped(c);
        drop_cgroup(c);
        pk_log_info("pod %s: container %s exited with %d", p->m->pod->name, c->spec->name,
                    c->term.exit_code);
        close_instance(c);
    }
    advance(p);
}

/* ---- termination ------------------------------------------------------------------------- */

static void signal_all(struct shim_podrt *p, int sig)
{
    for (size_t i = 0; i < p->nctrs; i++) {
        if (p->ctrs[i].pid > 0) {
            kill(p->ctrs[i].pid, sig);
        }
    }
}

static void on_grace_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct shim_podrt *p = arg;
    (void)fd;
    (void)what;
    if (shim_health_hooks_running(p) && !p->grace_extended) {
        /* Kubernetes' one-off extension for preStop hooks that overran the grace period. */
        struct timeval tv = {2, 0};
        p->grace_extended = true;
        pk_log_info("pod %s: preStop hooks still running: 2 s more", p->m->pod->name);
        evtimer_add(p->grace_timer, &tv);
        return;
    }
    pk_log_info("pod %s: grace period over, killing what still runs", p->m->pod->name);
    signal_all(p, SIGKILL);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* Stopping, in Kubernetes' order: app (and plain init) containers first; once they are
 * all gone, the sidecars one at a time, the last started first, so that a log shipper sees
 * the app's last lines and an ambassador serves the app until it is gone. Returns true while
 * something still runs. The grace timer kills whatever is left when the period ends. */
static bool stop_in_order(struct shim_podrt *p)
{
    bool waiting = false;

    /* App and plain init containers: every preStop hook at once, then each its SIGTERM. */
    for (size_t i = 0; i < p->nctrs; i++) {
        struct shim_ctr *c = &p->ctrs[i];
        if (c->spec->sidecar || c->pid <= 0) {
            continue;
        }
        waiting = true;
        if (!shim_health_prestop(c) && !c->term_sent) {
            kill(c->pid, SIGTERM);
            c->term_sent = true;
        }
    }
    if (waiting) {
        return true;
    }
    for (size_t i = p->ninit; i-- > 0;) {
        struct shim_ctr *c = &p->ctrs[i];
        if (c->spec->sidecar && c->pid > 0) {
            if (!shim_health_prestop(c) && !c->term_sent) {
                pk_log_info("pod %s: stopping sidecar %s", p->m->pod->name, c->spec->name);
                kill(c->pid, SIGTERM);
                c->term_sent = true;
            }
            return true;
        }
    }
    return false;
}

/* Once no container runs: stop the sandbox, remove volumes and state, report. */
static void teardown(struct shim_podrt *p)
{
    if (p->finished) {
        return;
    }
    if (p->terminating && stop_in_order(p)) {
        return; /* not yet: their SIGCHLD brings us back */
    }
    for (size_t i = 0; i < p->nctrs; i++) {
        if (p->ctrs[i].pid > 0) {
            return; /* not yet: their SIGCHLD brings us back */
        }
    }
    if (p->sandbox.pause_pid > 0) {
        kill(p->sandbox.pause_pid, SIGKILL); /* PID 1 of the pod: the kernel kills the rest */
        waitpid(p->sandbox.pause_pid, NULL, 0);
        p->sandbox.pause_pid = 0;
    }
    /* Anything that escaped its pid namespace is still in the pod's cgroup. */
    shim_cgroup_kill_all(p->cgroup);
    for (size_t i = 0; i < p->nctrs; i++) {
        drop_cgroup(&p->ctrs[i]);
    }
    shim_cgroup_destroy(p->pause_cg);
    p->pause_cg = NULL;
    shim_cgroup_destroy(p->cgroup);
    p->cgroup = NULL;
    for (size_t i = 0; i < p->nfwds; i++) {
        shim_portfwd_destroy(p->fwds[i]);
    }
    p->nfwds = 0;
    for (size_t i = 0; i < p->nctrs; i++) {
        if (p->ctrs[i].timer != NULL) {
            evtimer_del(p->ctrs[i].timer);
        }
        shim_health_stopped(&p->ctrs[i]);
        if (p->ctrs[i].start_ev != NULL) {
            event_free(p->ctrs[i].start_ev);
            p->ctrs[i].start_ev = NULL;
        }
        if (p->ctrs[i].start_fd >= 0) {
            close(p->ctrs[i].start_fd);
            p->ctrs[i].start_fd = -1;
        }
        if (p->ctrs[i].log != NULL || p->ctrs[i].env != NULL || p->ctrs[i].pid_fd >= 0) {
            close_instance(&p->ctrs[i]);
        }
    }
    if (p->grace_timer != NULL) {
        evtimer_del(p->grace_timer);
    }
    if (!p->torn_down) {
        shim_sandbox_destroy(&p->sandbox);
        shim_volumes_teardown(&p->volumes);
        p->torn_down = true;
        pk_log_info("pod %s: sandbox and volumes removed", p->m->pod->name);
    }
    if ((p->deleting || !p->opts->keep_after_end) && !p->finished) {
        /* The state directory goes last: it is the pod's name, and its control socket. */
        nftw(p->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        p->finished = true;
        pk_log_info("pod %s: deleted", p->m->pod->name);
        if (p->on_finished != NULL) {
            p->on_finished(p, p->cb_arg);
        }
    }
}

void shim_pod_terminate(struct shim_podrt *p, long long grace_s)
{
    p->deleting = true;
    stop_containers(p, grace_s);
}

/* SIGTERM to every container (SIGKILL with grace 0), SIGKILL after the grace period;
 * the teardown follows once nothing runs. */
static void stop_containers(struct shim_podrt *p, long long grace_s)
{
    struct timeval tv;

    if (p->terminating) {
        if (grace_s == 0) {
            signal_all(p, SIGKILL);
        }
        teardown(p); /* a pod that ended already is deleted at once */
        return;
    }
    p->terminating = true;
    if (grace_s < 0) {
        grace_s = p->opts->grace_override >= 0 ? p->opts->grace_override
                                               : p->m->pod->termination_grace_period;
    }
    for (size_t i = 0; i < p->nctrs; i++) {
        if (p->ctrs[i].timer != NULL) {
            evtimer_del(p->ctrs[i].timer);
        }
    }
    pk_log_info("pod %s: stopping (grace period %llds)", p->m->pod->name, grace_s);
    if (grace_s == 0) {
        signal_all(p, SIGKILL);
    }
    /* With a grace period, teardown() below sends SIGTERM in Kubernetes' order. */
    tv.tv_sec = grace_s;
    tv.tv_usec = 0;
    evtimer_add(p->grace_timer, &tv);
    teardown(p); /* at once when nothing runs */
}

/* ---- creation ---------------------------------------------------------------------------- */

struct shim_podrt *shim_pod_create(struct event_base *base, struct shim_manifest *m,
                                   const struct shim_opts *opts, char *err, size_t errsz)
{
    struct shim_podrt *p = calloc(1, sizeof(*p));
    const struct shim_pod *pod = m->pod;

    if (p == NULL) {
        snprintf(err, errsz, "out of memory");
        shim_manifest_free(m);
        return NULL;
    }
    p->pause_fd = p->home_net_fd = p->home_pid_fd = -1;
    p->base = base;
    p->m = m;
    p->opts = opts;
    p->sandbox.net_fd = p->sandbox.ipc_fd = p->sandbox.uts_fd = p->sandbox.pid_fd = -1;
    /* Kept, so that handlers need not open them for every attempt (-1: they do). */
    p->home_net_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    p->home_pid_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    p->pause_fd = open(opts->pause_path, O_PATH | O_CLOEXEC);
    if (p->pause_fd < 0) {
        snprintf(err, errsz, "pause binary %s: %s", opts->pause_path, strerror(errno));
        goto fail;
    }
    now_wall(&p->created);
    snprintf(p->hostname, sizeof(p->hostname), "%.63s",
             pod->hostname != NULL ? pod->hostname : pod->name);
    snprintf(p->dir, sizeof(p->dir), "%s/%s_%s", opts->root, pod->namespace, pod->name);
    snprintf(p->log_dir, sizeof(p->log_dir), "%s/%s_%s_%s", opts->log_dir, pod->namespace,
             pod->name, pod->uid);
    if (pk_mkdir_p(opts->root, 0700) < 0) {
        snprintf(err, errsz, "cannot make %s: %s", opts->root, strerror(errno));
        goto fail;
    }
    /* The state directory is the pod's claim on its name. A claim whose supervisor no
     * longer answers (killed with SIGKILL: its pod died with it) is cleared first. */
    int made = mkdir(p->dir, 0700);
    if (made < 0 && errno == EEXIST) {
        char *answer = NULL, cerr[256];
        if (shim_ctl_call(p->dir, "row", &answer, cerr, sizeof(cerr)) < 0) {
            pk_log_warn("pod %s: clearing the state of a supervisor that is gone (%s)", pod->name,
                        cerr);
            /* Its cgroup first (named in DIR/cgroup), then its mounts and files. */
            char cgname[600] = "", cgerr[256], path[1200];
            snprintf(path, sizeof(path), "%s/cgroup", p->dir);
            FILE *f = fopen(path, "re");
            if (f != NULL && fgets(cgname, sizeof(cgname), f) != NULL && cgname[0] != '\0') {
                struct shim_cgroup *stale = shim_cgroup_pod_create(cgname, cgerr, sizeof(cgerr));
                shim_cgroup_kill_all(stale);
                shim_cgroup_destroy(stale);
            }
            if (f != NULL) {
                fclose(f);
            }
            shim_volumes_cleanup_stale(p->dir);
            made = mkdir(p->dir, 0700);
        } else {
            errno = EEXIST;
        }
        free(answer);
    }
    if (made < 0) {
        if (errno == EEXIST) {
            snprintf(err, errsz, "pod \"%s\" already exists in namespace \"%s\" (%s)", pod->name,
                     pod->namespace, p->dir);
        } else {
            snprintf(err, errsz, "cannot make %s: %s", p->dir, strerror(errno));
        }
        p->dir[0] = '\0';
        goto fail;
    }
    p->ninit = pod->ninit_containers;
    p->nctrs = pod->ninit_containers + pod->ncontainers;
    p->ctrs = calloc(p->nctrs, sizeof(*p->ctrs));
    p->grace_timer = evtimer_new(base, on_grace_timeout, p);
    if (p->ctrs == NULL || p->grace_timer == NULL) {
        snprintf(err, errsz, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < p->nctrs; i++) {
        struct shim_ctr *c = &p->ctrs[i];
        c->pod = p;
        c->init = i < p->ninit;
        c->spec = c->init ? &pod->init_containers[i] : &pod->containers[i - p->ninit];
        c->out_fd = c->err_fd = c->start_fd = c->pid_fd = -1;
        c->timer = evtimer_new(base, on_restart_timer, c);
        c->kill_timer = evtimer_new(base, on_kill_timer, c);
        if (c->timer == NULL || c->kill_timer == NULL || shim_health_init(c) < 0) {
            snprintf(err, errsz, "out of memory");
            goto fail;
        }
        set_waiting(c,
                    c->init ? "PodInitializing"
                            : (p->ninit > 0 ? "PodInitializing" : "ContainerCreating"),
                    NULL);
    }
    return p;
fail:
    shim_pod_destroy(p);
    return NULL;
}

/* The pod's cgroup and pause's below it. Without usable cgroups a pod runs anyway, unless
 * one of its containers asks for a limit: that is an error naming what is missing. */
static int make_cgroups(struct shim_podrt *p, char *err, size_t errsz)
{
    char name[600], why[256];
    bool limits = false;

    for (size_t i = 0; i < p->nctrs; i++) {
        limits |= p->ctrs[i].spec->resources.set;
    }
    /* The uid too: two podshims (two --root) may each run a pod of the same name. The name
     * is kept in the state directory for a stale cleanup (the uid may be random). */
    snprintf(name, sizeof(name), "%s_%s_%.8s", p->m->pod->namespace, p->m->pod->name,
             p->m->pod->uid);
    char path[1200];
    snprintf(path, sizeof(path), "%s/cgroup", p->dir);
    pk_write_file(path, name, strlen(name), 0600);
    p->cgroup = shim_cgroup_pod_create(name, why, sizeof(why));
    if (p->cgroup != NULL) {
        p->pause_cg = shim_cgroup_child_create(p->cgroup, "pause", NULL, 0, why, sizeof(why));
    }
    if (p->cgroup == NULL || p->pause_cg == NULL) {
        if (limits) {
            snprintf(err, errsz, "cgroups: %s", why);
            return -1;
        }
        pk_log_warn("pod %s: no cgroup (%s): it runs without one", p->m->pod->name, why);
        shim_cgroup_destroy(p->pause_cg);
        shim_cgroup_destroy(p->cgroup);
        p->pause_cg = p->cgroup = NULL;
    }
    return 0;
}

/* /etc/hostname and /etc/resolv.conf (the host's) for containers in image directories. */
static int write_etc_files(struct shim_podrt *p, char *err, size_t errsz)
{
    char path[1200], buf[8192];
    ssize_t n = 0;
    FILE *f;
    int in = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);

    if (in >= 0) {
        n = read(in, buf, sizeof(buf));
        close(in);
    }
    snprintf(path, sizeof(path), "%s/resolv.conf", p->dir);
    f = fopen(path, "we");
    if (f == NULL || (n > 0 && fwrite(buf, 1, (size_t)n, f) != (size_t)n) || fclose(f) != 0) {
        snprintf(err, errsz, "write %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/hostname", p->dir);
    f = fopen(path, "we");
    if (f == NULL || fprintf(f, "%s\n", p->hostname) < 0 || fclose(f) != 0) {
        snprintf(err, errsz, "write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int shim_pod_start(struct shim_podrt *p, char *err, size_t errsz)
{
    const struct shim_pod *pod = p->m->pod;
    char *hosts;
    char **ips = NULL, **names = NULL;

    if (shim_volumes_setup(&p->volumes, p->m, p->dir, err, errsz) < 0 ||
        write_etc_files(p, err, errsz) < 0) {
        return -1;
    }
    /* /etc/hosts with the HostAliases section. */
    ips = calloc(pod->nhost_aliases + 1, sizeof(*ips));
    names = calloc(pod->nhost_aliases + 1, sizeof(*names));
    for (size_t i = 0; ips != NULL && names != NULL && i < pod->nhost_aliases; i++) {
        const struct shim_host_alias *a = &pod->host_aliases[i];
        size_t len = 1;
        for (size_t j = 0; j < a->nhostnames; j++) {
            len += strlen(a->hostnames[j]) + 1;
        }
        names[i] = calloc(1, len);
        for (size_t j = 0; names[i] != NULL && j < a->nhostnames; j++) {
            strcat(names[i], j ? "\t" : "");
            strcat(names[i], a->hostnames[j]);
        }
        ips[i] = a->ip;
    }
    hosts =
        ips && names ? shim_hosts_file(p->hostname, POD_IP, ips, names, pod->nhost_aliases) : NULL;
    for (size_t i = 0; names != NULL && i < pod->nhost_aliases; i++) {
        free(names[i]);
    }
    free(ips);
    free(names);
    if (hosts == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    if (make_cgroups(p, err, errsz) < 0) {
        free(hosts);
        return -1;
    }
    struct shim_sandbox_spec sspec = {p->opts->pause_path, p->hostname, p->dir, hosts, p->pause_cg};
    int rc = shim_sandbox_create(&p->sandbox, &sspec, err, errsz);
    free(hosts);
    if (rc < 0) {
        return -1;
    }
    /* hostPort forwarders, for every container's ports. */
    for (size_t i = 0; i < p->nctrs; i++) {
        const struct shim_container *c = p->ctrs[i].spec;
        for (size_t j = 0; j < c->nports; j++) {
            const struct shim_port *port = &c->ports[j];
            if (port->host_port == 0 || strcmp(port->protocol, "TCP") != 0) {
                continue;
            }
            struct shim_portfwd **f = realloc(p->fwds, (p->nfwds + 1) * sizeof(*f));
            if (f == NULL) {
                snprintf(err, errsz, "out of memory");
                return -1;
            }
            p->fwds = f;
            f[p->nfwds] = shim_portfwd_create(p->base, port->host_ip ? port->host_ip : "127.0.0.1",
                                              port->host_port, p->sandbox.net_fd,
                                              port->container_port, err, errsz);
            if (f[p->nfwds] == NULL) {
                return -1;
            }
            p->nfwds++;
        }
    }
    p->phase = SHIM_PENDING;
    advance(p);
    return 0;
}

void shim_pod_destroy(struct shim_podrt *p)
{
    if (p == NULL) {
        return;
    }
    if (!p->finished && p->dir[0] != '\0') {
        /* Started and not finished, or failed while starting: take down what exists. */
        p->terminating = true;
        p->deleting = true;
        signal_all(p, SIGKILL);
        for (size_t i = 0; i < p->nctrs; i++) {
            if (p->ctrs[i].pid > 0) {
                waitpid(p->ctrs[i].pid, NULL, 0);
                p->ctrs[i].pid = 0;
            }
        }
        p->on_finished = NULL;
        teardown(p);
    }
    for (size_t i = 0; p->ctrs != NULL && i < p->nctrs; i++) {
        if (p->ctrs[i].timer != NULL) {
            event_free(p->ctrs[i].timer);
        }
        shim_health_free(&p->ctrs[i]);
    }
    free(p->ctrs);
    free(p->fwds);
    if (p->pause_fd >= 0) {
        close(p->pause_fd);
    }
    if (p->home_net_fd >= 0) {
        close(p->home_net_fd);
    }
    if (p->home_pid_fd >= 0) {
        close(p->home_pid_fd);
    }
    if (p->grace_timer != NULL) {
        event_free(p->grace_timer);
    }
    shim_manifest_free(p->m);
    free(p);
}
