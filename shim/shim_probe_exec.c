/* shim_probe_exec.c — exec attempts: a command run in a container's namespaces, as
 * `podshim exec` runs one, by a child that is invisible to waitpid(-1) and reaped here.
 *
 * The caller's child C1 is made with no exit signal (clone with CSIGNAL 0): waitpid(-1)
 * without __WALL or __WCLONE never returns it and its end raises no SIGCHLD, so the
 * supervisor's reaping loop and this module cannot take each other's children. C1 holds
 * the write end of a report pipe until it exits, so EOF there says it is exiting; it is
 * then reaped with waitid(P_PID, __WALL, WNOHANG). (A pidfd would do as well, but valgrind
 * 3.19 knows no pidfd_open.)
 *
 * C1 leads a new process group, joins the container's cgroup when given one, opens the
 * container init's /proc/PID/ns/{ipc,uts,net,pid,mnt}, cwd and environ (host paths, so
 * before it joins the mount namespace), joins the namespaces, and forks C2, which is born
 * in the container's pid namespace, enters the working directory and execs the command.
 * C1 waits for C2 and exits with its status (128+N when C2 was killed by signal N).
 *
 * A timeout or a cancel SIGKILLs the whole process group: C1, C2 and whatever C2 started
 * that stayed in the group. Should C1 die before C2, C2 is reparented to the supervisor
 * (a subreaper), whose waitpid(-1) reaps it as any orphan of the pod; what C2 started goes
 * to the container's init. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "shim_cgroup.h"
#include "shim_env.h"
#include "shim_probe_int.h"

#define CMDLINE_MAX 256 /* the command as shown in messages */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What a child that could not run the command sends up the report pipe. */
enum { STAGE_SETUP, STAGE_EXEC };
struct report {
    int stage; /* SETUP: the container could not be entered (ERROR); EXEC: exec failed */
    char what[240];
};

_Static_assert(sizeof(struct report) <= sizeof(((struct shim_probe_run *)NULL)->rep),
               "the report must fit the attempt's buffer");

/* Everything the child needs, in memory it shares (copied) with the caller at clone. */
struct child_args {
    pid_t parent;
    pid_t target;
    const struct shim_cgroup *cgroup; /* or NULL */
    char *const *argv;
    int out_w, rep_w;
};

static const struct {
    const char *name;
    int type;
} nss[] = {{"ipc", CLONE_NEWIPC},
           {"uts", CLONE_NEWUTS},
           {"net", CLONE_NEWNET},
           {"pid", CLONE_NEWPID},
           {"mnt", CLONE_NEWNS}}; /* the mount namespace last: /proc paths are the host's */

#define NNS (sizeof(nss) / sizeof(nss[0]))

/* ---- the child: C1 (in the caller's namespaces) and C2 (in the container's) ---------- */

static void __attribute__((noreturn, format(printf, 3, 4)))
report(int fd, int stage, const char *fmt, ...)
{
    struct report rep;
    va_list ap;

    memset(&rep, 0, sizeof(rep));
    rep.stage = stage;
    va_start(ap, fmt);
    vsnprintf(rep.what, sizeof(rep.what), fmt, ap);
    va_end(ap);
    if (write(fd, &rep, sizeof(rep)) < 0) {
        /* the caller sees no report, only the exit status */
    }
    _exit(stage == STAGE_SETUP ? 125 : 127);
}

/* Closes every descriptor from 3 up but a and b. */
static void close_all_but(int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;

    if (lo > 3) {
        close_range(3, (unsigned)lo - 1, 0);
    }
    if (hi > lo + 1) {
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    }
    close_range((unsigned)hi + 1, ~0U, 0);
}

static const char *env_path(char *const *env)
{
    for (char *const *e = env; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "PATH=", 5) == 0) {
            return *e + 5;
        }
    }
    return DEFAULT_PATH;
}

/* execvp against the container's PATH, without execvp's fallback to /bin/sh for a file
 * that is not an executable (runc has none either). Returns errno when nothing ran. */
static int exec_path(char *const *argv, char *const *env)
{
    const char *cmd = argv[0], *p;
    char buf[PATH_MAX];
    int err = ENOENT;

    if (strchr(cmd, '/') != NULL) {
        execve(cmd, argv, env);
        return errno;
    }
    for (p = env_path(env);;) {
        const char *colon = strchr(p, ':');
        size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
        /* An empty element is the working directory, as for execvp. */
        int len = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)n, p, n > 0 ? "/" : "", cmd);

        if (len > 0 && (size_t)len < sizeof(buf)) {
            execve(buf, argv, env);
            if (errno == EACCES) {
                err = EACCES;
            } else if (errno != ENOENT && errno != ENOTDIR) {
                return errno; /* found, but it cannot run (ENOEXEC, E2BIG...) */
            }
        }
        if (colon == NULL) {
            break;
        }
        p = colon + 1;
    }
    return err;
}

static void reset_signals(void)
{
    sigset_t none;

    /* The supervisor's handlers (libevent's) would write into its own signal pipe. */
    for (int sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn)) run_command(const struct child_args *a, int out_w, int rep_w,
                                                  int nul, int cwd, char **env, char *block)
{
    char why[128];
    int err;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L); /* dies with C1 */
    if (cwd < 0 || fchdir(cwd) < 0) {
        if (chdir("/") < 0) {
            report(rep_w, STAGE_SETUP, "chdir to the container's working directory: %s",
                   strerror(errno));
        }
    }
    if (dup2(nul, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0) {
        report(rep_w, STAGE_SETUP, "set up stdin, stdout and stderr: %s", strerror(errno));
    }
    err = exec_path(a->argv, env);
    free(env); /* for valgrind, which follows this process until it exits */
    free(block);
    if (err == ENOENT && strchr(a->argv[0], '/') == NULL) {
        report(rep_w, STAGE_EXEC, "exec: \"%.160s\": executable file not found in $PATH",
               a->argv[0]);
    }
    shim_probe_strerror(err, why, sizeof(why));
    report(rep_w, STAGE_EXEC, "exec: \"%.160s\": %s", a->argv[0], why);
}

static void __attribute__((noreturn)) child_main(const struct child_args *a)
{
    char path[64], **env, *block = NULL;
    int ns[NNS], out_w, rep_w, nul, cwd, status;
    pid_t pid;

    reset_signals();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L); /* dies with the supervisor */
    if (getppid() != a->parent) {
        _exit(125);
    }
    setpgid(0, 0); /* the caller does it too: whoever runs first */
    /* Above 2 (0, 1, 2 are replaced in C2), then nothing else of the supervisor's. */
    out_w = fcntl(a->out_w, F_DUPFD_CLOEXEC, 3);
    rep_w = fcntl(a->rep_w, F_DUPFD_CLOEXEC, 3);
    if (out_w < 0 || rep_w < 0) {
        report(a->rep_w, STAGE_SETUP, "dup: %s", strerror(errno));
    }
    close_all_but(out_w, rep_w);
    /* Host paths: before the mount namespace. C2 is born in it too. */
    if (a->cgroup != NULL && shim_cgroup_enter(a->cgroup) < 0) {
        report(rep_w, STAGE_SETUP, "join the container's cgroup: %s", strerror(errno));
    }
    nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul < 0) {
        report(rep_w, STAGE_SETUP, "open /dev/null: %s", strerror(errno));
    }
    for (size_t i = 0; i < NNS; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)a->target, nss[i].name);
        ns[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (ns[i] < 0) {
            report(rep_w, STAGE_SETUP, "the container's process %d: open %s: %s", (int)a->target,
                   path, strerror(errno));
        }
    }
    snprintf(path, sizeof(path), "/proc/%d/cwd", (int)a->target);
    cwd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* -1: "/" */
    env = shim_env_read(a->target, &block);
    for (size_t i = 0; i < NNS; i++) {
        if (setns(ns[i], nss[i].type) < 0) {
            report(rep_w, STAGE_SETUP, "join the container's %s namespace: %s", nss[i].name,
                   strerror(errno));
        }
        close(ns[i]);
    }
    pid = fork(); /* born in the container's pid namespace */
    if (pid < 0) {
        report(rep_w, STAGE_SETUP, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        run_command(a, out_w, rep_w, nul, cwd, env, block);
    }
    /* The output pipe is C2's alone now; the report pipe stays open to the end: its EOF
     * tells the caller that C1 is exiting. */
    close(out_w);
    close(nul);
    free(env);
    free(block);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            _exit(125);
        }
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* ---- the caller's side --------------------------------------------------------------- */

/* SIGKILL to the child's process group (C1, C2 and what C2 started in it), and to C1 itself
 * in case the group was never made. The child is unreaped (and invisible to waitpid(-1)),
 * so neither its pid nor its group id can have been reused. */
static void kill_child(const struct shim_probe_run *r)
{
    if (r->pid > 0) {
        kill(-r->pid, SIGKILL);
        kill(r->pid, SIGKILL);
    }
}

/* Reads the command's output: the first SHIM_PROBE_OUTPUT_MAX bytes are kept, the rest
 * read and dropped (so that a talkative command never blocks on a full pipe), at most
 * budget bytes per call. Stops watching at EOF. */
static void read_output(struct shim_probe_run *r, size_t budget)
{
    char scratch[4096];

    while (budget > 0) {
        bool keep = r->out_len < SHIM_PROBE_OUTPUT_MAX;
        char *dst = keep ? r->out + r->out_len : scratch;
        size_t room = keep ? SHIM_PROBE_OUTPUT_MAX - r->out_len : sizeof(scratch);
        ssize_t n = read(r->out_fd, dst, room < budget ? room : budget);

        if (n > 0) {
            r->out_len += keep ? (size_t)n : 0;
            budget -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n == 0 || errno != EAGAIN) {
                event_del(r->out_ev); /* EOF: every writer is gone */
            }
            return;
        }
    }
}

static void on_output(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    read_output(arg, 64 * 1024);
}

/* The outcome, once C1 is reaped with status code (its exit code, or 128+N for signal N). */
static void report_outcome(struct shim_probe_run *r, int code)
{
    if (r->timed_out) {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE, "command \"%s\" timed out", r->cmdline);
        return;
    }
    if (r->rep_len == sizeof(struct report)) {
        struct report rep;
        memcpy(&rep, r->rep, sizeof(rep));
        rep.what[sizeof(rep.what) - 1] = '\0';
        snprintf(r->note, sizeof(r->note), "%s", rep.what);
        shim_probe_finish(r, rep.stage == STAGE_SETUP ? SHIM_PROBE_ERROR : SHIM_PROBE_FAILURE,
                          r->note);
        return;
    }
    /* C2 is gone: what it wrote is in the pipe. Only the first bytes are wanted. */
    read_output(r, SHIM_PROBE_OUTPUT_MAX);
    for (size_t i = 0; i < r->out_len; i++) {
        if (r->out[i] == '\0') {
            r->out[i] = '?';
        }
    }
    r->out[r->out_len] = '\0';
    if (code == 0) {
        shim_probe_finish(r, SHIM_PROBE_SUCCESS, r->out);
    } else if (r->out_len > 0) {
        shim_probe_finish(r, SHIM_PROBE_FAILURE, r->out);
    } else {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE, "command \"%s\" exited with code %d", r->cmdline,
                           code);
    }
}

/* C1 has closed its end of the report pipe, so it is exiting: reaps it and reports, or,
 * when it is not a zombie yet (its files go before its exit status is set), looks again
 * in a millisecond rather than wait here. */
static void reap(struct shim_probe_run *r)
{
    struct timeval ms = {.tv_usec = 1000};
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | __WALL) < 0 && errno != EINTR) {
        /* ECHILD: someone waited with __WALL and took it; nothing left to wait for. */
        r->pid = 0;
        shim_probe_finishf(r, SHIM_PROBE_ERROR, "waitid: %s", strerror(errno));
        return;
    }
    if (si.si_pid == 0) {
        r->ending = true;
        evtimer_del(r->timer);
        evtimer_add(r->timer, &ms);
        return;
    }
    r->pid = 0;
    report_outcome(r, si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status);
}

/* The report pipe: C2's reason when it could not run the command, then EOF when C1 ends
 * (C1 holds the pipe to its end; C2 loses it at exec, and ends before C1). */
static void on_report(evutil_socket_t fd, short what, void *arg)
{
    struct shim_probe_run *r = arg;
    char drop[64];

    (void)what;
    for (;;) {
        bool keep = r->rep_len < sizeof(r->rep);
        ssize_t n = keep ? read(fd, r->rep + r->rep_len, sizeof(r->rep) - r->rep_len)
                         : read(fd, drop, sizeof(drop));
        if (n > 0) {
            r->rep_len += keep ? (size_t)n : 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else {
            event_del(r->rep_ev);
            reap(r);
            return;
        }
    }
}

/* The command as one line for messages (Go's strings.Join(cmd, " ")), cut to fit. */
static char *join_command(char *const *argv)
{
    char *s = malloc(CMDLINE_MAX);
    size_t len = 0;

    if (s == NULL) {
        return NULL;
    }
    s[0] = '\0';
    for (size_t i = 0; argv[i] != NULL && len < CMDLINE_MAX - 1; i++) {
        int n = snprintf(s + len, CMDLINE_MAX - len, "%s%s", i > 0 ? " " : "", argv[i]);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len >= CMDLINE_MAX - 1) {
        strcpy(s + CMDLINE_MAX - 4, "...");
    }
    return s;
}

int shim_probe_exec_start(struct shim_probe_run *r, const struct shim_handler *h,
                          const struct shim_probe_target *t)
{
    int out[2] = {-1, -1}, rep[2] = {-1, -1};
    struct child_args a;
    pid_t pid;
    int saved;

    if (h->command == NULL || h->command[0] == NULL) {
        shim_probe_later(r, SHIM_PROBE_ERROR, "exec handler without a command");
        return 0;
    }
    if (t->container_pid <= 0) {
        shim_probe_later(r, SHIM_PROBE_ERROR, "the container is not running");
        return 0;
    }
    r->cmdline = join_command(h->command);
    r->out = malloc(SHIM_PROBE_OUTPUT_MAX + 1);
    if (r->cmdline == NULL || r->out == NULL) {
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
        saved = errno;
        for (int i = 0; i < 2; i++) {
            if (out[i] >= 0) {
                close(out[i]);
            }
        }
        shim_probe_later(r, SHIM_PROBE_ERROR, "pipe2: %s", strerror(saved));
        return 0;
    }
    a = (struct child_args){getpid(), t->container_pid, t->cgroup, h->command, out[1], rep[1]};
    /* No exit signal (CSIGNAL 0): see the top of this file. Like fork otherwise. */
    pid = (pid_t)syscall(SYS_clone, 0UL, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        child_main(&a);
    }
    saved = errno;
    close(out[1]);
    close(rep[1]);
    r->out_fd = out[0];
    r->rep_fd = rep[0];
    if (pid < 0) {
        shim_probe_later(r, SHIM_PROBE_ERROR, "clone: %s", strerror(saved));
        return 0;
    }
    r->pid = pid;
    setpgid(pid, pid);
    /* Our ends only: the command's stay blocking, as any program expects of stdout. */
    fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(r->rep_fd, F_SETFL, O_NONBLOCK);
    r->rep_ev = event_new(r->base, r->rep_fd, EV_READ | EV_PERSIST, on_report, r);
    r->out_ev = event_new(r->base, r->out_fd, EV_READ | EV_PERSIST, on_output, r);
    if (r->rep_ev == NULL || r->out_ev == NULL || event_add(r->rep_ev, NULL) == -1 ||
        event_add(r->out_ev, NULL) == -1) {
        return -1; /* the caller's free kills and reaps the child */
    }
    return 0;
}

void shim_probe_exec_timer(struct shim_probe_run *r)
{
    if (r->ending) {
        reap(r); /* the child was not a zombie yet a millisecond ago */
        return;
    }
    /* The outcome waits for the reaping, so that no process outlives the report. */
    r->timed_out = true;
    kill_child(r);
}

void shim_probe_exec_release(struct shim_probe_run *r)
{
    if (r->pid > 0) {
        siginfo_t si;
        kill_child(r);
        /* Blocking, but only for the kernel to finish a SIGKILLed child that runs nothing
         * but our own code (C2 is not waited for): microseconds. So a cancelled attempt
         * leaves nothing behind to track. */
        while (waitid(P_PID, (id_t)r->pid, &si, WEXITED | __WALL) < 0 && errno == EINTR) {
        }
        r->pid = 0;
    }
    if (r->rep_ev != NULL) {
        event_free(r->rep_ev);
        r->rep_ev = NULL;
    }
    if (r->out_ev != NULL) {
        event_free(r->out_ev);
        r->out_ev = NULL;
    }
    if (r->out_fd >= 0) {
        close(r->out_fd);
        r->out_fd = -1;
    }
    if (r->rep_fd >= 0) {
        close(r->rep_fd);
        r->rep_fd = -1;
    }
}
