/* shim_probe_exec.c — exec attempts: a command run in a container's namespaces, started
 * the way posix_spawn starts a program, so that a probe never copies the supervisor.
 *
 * The command is our direct child, made with clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD):
 * it runs on a stack of its own in our memory while we wait for its exec, so no page table
 * is copied (forking the supervisor for every probe was most of its CPU). Its pidfd becomes
 * readable when it ends and it is reaped here with waitid(P_PIDFD). It is an ordinary child
 * (an exec makes every child one: the kernel resets the exit signal to SIGCHLD), so a
 * caller that reaps with waitpid(-1) may take it first; such a caller hands the status over
 * with shim_probe_reaped, and the outcome is the same.
 *
 * It is born in the container's pid namespace: we point our own pid_for_children at it
 * around the clone (setns), then back at ours. Before its exec the child, still ours in all
 * else, leads a new process group, joins the container's cgroup (host paths, so first), its
 * ipc, uts, net and mount namespaces, takes the working directory of the container's
 * process, stdin (/dev/null), the output pipe as stdout and stderr, the container's user,
 * groups and capability bounding set (shim_security_apply: raw system calls, which change
 * this task alone), default signal dispositions, and execs the command with the
 * container's environment. What failed there the child writes into our memory before it
 * exits, as posix_spawn does (where CLONE_VM is turned into a plain fork, as under
 * valgrind, that report is lost: the outcome is still a failure, "exited with code 125"
 * or 127, without the reason).
 *
 * The clone shares our descriptor table too (CLONE_FILES), so that the kernel does not copy
 * it on our time; the child's first act is to take a copy of its own.
 *
 * The child must not return into our frames, allocate, or run our signal handlers: all
 * signals are blocked in us across the clone, and the child resets every disposition (its
 * own copy: no CLONE_SIGHAND) before unblocking them for the command.
 *
 * A timeout or a cancel SIGKILLs the command's process group: the command and whatever it
 * started that stayed in the group (what left the group is the container's, as under
 * runc exec; deleting the pod reaches it through the cgroup). */
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
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "shim_cgroup.h"
#include "shim_env.h"
#include "shim_probe_int.h"
#include "shim_security.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CMDLINE_MAX 256         /* the command as shown in messages */
#define CHILD_STACK (64 * 1024) /* the child's own stack, in our heap (see child_main) */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What a child that could not run the command sends up the report pipe. */
enum { STAGE_SETUP, STAGE_EXEC };
struct report {
    int stage; /* SETUP: the container could not be entered (ERROR); EXEC: exec failed */
    char what[240];
};

_Static_assert(sizeof(struct report) <= sizeof(((struct shim_probe_run *)NULL)->rep),
               "the report must fit the attempt's buffer");

/* Everything the child needs; it lives in our frame, which the child shares (CLONE_VM) and
 * which outlives it (CLONE_VFORK: we resume once it has exec'd or exited). */
struct child_args {
    pid_t target;
    const struct shim_cgroup *cgroup;     /* or NULL */
    const struct shim_sec_plan *security; /* or NULL: root, every capability */
    char *const *argv;
    char *const *envp; /* or NULL: none */
    int out_w;
    struct report rep; /* written by a child that could not run the command */
};

static const struct {
    const char *name;
    int type;
} nss[] = {{"ipc", CLONE_NEWIPC},
           {"uts", CLONE_NEWUTS},
           {"net", CLONE_NEWNET},
           {"mnt", CLONE_NEWNS}}; /* the mount namespace last: /proc paths are the host's.
                                   * The pid namespace is the parent's part: the child is
                                   * born in it. */

#define NNS (sizeof(nss) / sizeof(nss[0]))

/* ---- the child: from the clone to the exec -------------------------------------------- */

static void __attribute__((noreturn, format(printf, 3, 4)))
report(struct child_args *a, int stage, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(a->rep.what, sizeof(a->rep.what), fmt, ap);
    va_end(ap);
    a->rep.stage = stage; /* last: the parent reads it once we are gone */
    _exit(stage == STAGE_SETUP ? 125 : 127);
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
 * that is not an executable (runc has none either), and without allocating. Returns errno
 * when nothing ran. */
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

/* Every disposition to its default (the supervisor's handlers would run libevent's code in
 * our memory; an ignored SIGPIPE would leak into the command), then the mask emptied. */
static void reset_signals(void)
{
    struct sigaction dfl;
    sigset_t none;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        sigaction(sig, &dfl, NULL); /* EINVAL for SIGKILL, SIGSTOP and libc's own: fine */
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The child. Runs on CHILD_STACK bytes: no allocation, no recursion, nothing large on the
 * stack but exec_path's PATH_MAX buffer. Ends by exec or _exit. */
static int child_main(void *arg)
{
    struct child_args *a = arg;
    const char *step = NULL;
    char path[64], why[128];
    int ns[NNS], out_w, nul, cwd, err;

    /* Our own descriptor table first (CLONE_FILES shared the caller's): from here on,
     * nothing we open or close is the supervisor's business. */
    if (unshare(CLONE_FILES) < 0) {
        report(a, STAGE_SETUP, "unshare the descriptor table: %s", strerror(errno));
    }
    setpgid(0, 0);
    /* Above 2 (0, 1, 2 are replaced below), then nothing else of the supervisor's. */
    out_w = fcntl(a->out_w, F_DUPFD_CLOEXEC, 3);
    if (out_w < 0) {
        report(a, STAGE_SETUP, "dup: %s", strerror(errno));
    }
    close_range(3, (unsigned)out_w - 1, 0);
    close_range((unsigned)out_w + 1, ~0U, 0);
    /* Host paths: before the mount namespace. */
    if (a->cgroup != NULL && shim_cgroup_enter(a->cgroup) < 0) {
        report(a, STAGE_SETUP, "join the container's cgroup: %s", strerror(errno));
    }
    nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul < 0) {
        report(a, STAGE_SETUP, "open /dev/null: %s", strerror(errno));
    }
    for (size_t i = 0; i < NNS; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)a->target, nss[i].name);
        ns[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (ns[i] < 0) {
            report(a, STAGE_SETUP, "the container's process %d: open %s: %s", (int)a->target,
                   path, strerror(errno));
        }
    }
    snprintf(path, sizeof(path), "/proc/%d/cwd", (int)a->target);
    cwd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* -1: "/" */
    for (size_t i = 0; i < NNS; i++) {
        if (setns(ns[i], nss[i].type) < 0) {
            report(a, STAGE_SETUP, "join the container's %s namespace: %s", nss[i].name,
                   strerror(errno));
        }
        close(ns[i]);
    }
    if ((cwd < 0 || fchdir(cwd) < 0) && chdir("/") < 0) {
        report(a, STAGE_SETUP, "chdir to the container's working directory: %s",
               strerror(errno));
    }
    if (dup2(nul, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0) {
        report(a, STAGE_SETUP, "set up stdin, stdout and stderr: %s", strerror(errno));
    }
    if (a->security != NULL && shim_security_apply(a->security, &step) < 0) {
        report(a, STAGE_SETUP, "%s: %s", step, strerror(errno));
    }
    /* After the user change, which clears it. The parent waits for our exec, so it is
     * alive here; should it die later, the command goes with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
    reset_signals();
    err = exec_path(a->argv, a->envp);
    if (err == ENOENT && strchr(a->argv[0], '/') == NULL) {
        report(a, STAGE_EXEC, "exec: \"%.160s\": executable file not found in $PATH",
               a->argv[0]);
    }
    shim_probe_strerror(err, why, sizeof(why));
    report(a, STAGE_EXEC, "exec: \"%.160s\": %s", a->argv[0], why);
}

/* ---- the caller's side --------------------------------------------------------------- */

/* SIGKILL to the command's process group (and what it started in it), and to the command
 * itself in case the group was never made. The command is not reaped yet (pid is 0 once it
 * is), so neither its pid nor its group id can have been reused. */
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

/* The outcome, once the command is reaped with status code (its exit code, or 128+N for
 * signal N). */
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
    /* The command is gone: what it wrote is in the pipe. Only the first bytes are wanted. */
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

static int status_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The pidfd said the command ended: reaps it (unless the caller's waitpid(-1) did and
 * handed the status over) and reports, or, should it not be a zombie yet, looks again in a
 * millisecond rather than wait here. */
static void reap(struct shim_probe_run *r)
{
    struct timeval ms = {.tv_usec = 1000};
    siginfo_t si;

    if (r->claimed) {
        report_outcome(r, status_code(r->claimed_status));
        return;
    }
    memset(&si, 0, sizeof(si));
    if (waitid(P_PIDFD, (id_t)r->pidfd, &si, WEXITED | WNOHANG | __WALL) < 0 && errno != EINTR) {
        /* ECHILD: a waiter that does not hand statuses over (shim_probe_reaped) took it. */
        r->pid = 0;
        shim_probe_finishf(r, SHIM_PROBE_ERROR, "the command's exit status was lost: waitid: %s",
                           strerror(errno));
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

static void on_exit_fd(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reap(arg);
}

bool shim_probe_reaped(struct shim_probe_run *r, pid_t pid, int status)
{
    if (r == NULL || r->type != SHIM_HANDLER_EXEC || pid <= 0 || r->pid != pid) {
        return false;
    }
    r->pid = 0; /* reaped: never signalled again, its number may be reused */
    r->claimed = true;
    r->claimed_status = status;
    return true; /* the pidfd is readable now: reap() reports from the loop */
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

/* Opens /proc/PID/ns/pid (PID 0: our own), close-on-exec. */
static int open_pidns(pid_t pid)
{
    char path[64];

    if (pid == 0) {
        return open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Starts the child in the pid namespace theirs, coming back to ours; returns its pid and
 * sets *pidfd, or returns -1 with errno (and *what naming the step, NULL for the clone
 * itself). Signals stay blocked from before the clone to after our pid_for_children is ours
 * again. */
static pid_t spawn_child(struct child_args *a, int theirs, int ours, int *pidfd,
                         const char **what)
{
    sigset_t all, old;
    char *stack = malloc(CHILD_STACK);
    int saved;
    pid_t pid = -1;

    *what = NULL;
    if (stack == NULL) {
        errno = ENOMEM;
        return -1;
    }
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    if (setns(theirs, CLONE_NEWPID) == 0) {
        /* The stack grows down: the child starts at the top of the block. */
        pid = clone(child_main, stack + CHILD_STACK,
                    CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD | SIGCHLD, a, pidfd);
        saved = errno; /* the child shares our errno: meaningful only when there is none */
        if (setns(ours, CLONE_NEWPID) < 0) {
            /* Every later child (containers!) would be born in this container: never. */
            abort();
        }
    } else {
        saved = errno;
        *what = "join the container's pid namespace";
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(stack);
    errno = saved;
    return pid;
}

/* Closes fd unless it is the caller's (kept). */
static void close_unless(int fd, int kept)
{
    if (fd >= 0 && fd != kept) {
        close(fd);
    }
}

int shim_probe_exec_start(struct shim_probe_run *r, const struct shim_handler *h,
                          const struct shim_probe_target *t)
{
    int out[2] = {-1, -1}, theirs = t->ctr_pid_fd, ours = t->home_pid_fd, saved = 0;
    struct child_args a;
    const char *what = NULL;
    char **env = NULL, *block = NULL;
    pid_t pid = -1;

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
    if (theirs < 0 && (theirs = open_pidns(t->container_pid)) < 0) {
        saved = errno;
        what = "open /proc/PID/ns/pid";
    } else if (ours < 0 && (ours = open_pidns(0)) < 0) {
        saved = errno;
        what = "open /proc/self/ns/pid";
    } else if (pipe2(out, O_CLOEXEC) < 0) {
        saved = errno;
        what = "pipe2";
    } else {
        /* The child cannot allocate: the environment is ready before it starts. */
        if (t->envp == NULL) {
            env = shim_env_read(t->container_pid, &block);
        }
        a = (struct child_args){t->container_pid, t->cgroup, t->security, h->command,
                                t->envp != NULL ? t->envp : env, out[1], {.stage = -1}};
        pid = spawn_child(&a, theirs, ours, &r->pidfd, &what);
        saved = errno;
        free(env);
        free(block);
        close(out[1]);
        r->out_fd = out[0];
    }
    close_unless(theirs, t->ctr_pid_fd);
    close_unless(ours, t->home_pid_fd);
    if (pid < 0) {
        if (what != NULL) {
            shim_probe_later(r, SHIM_PROBE_ERROR, "the container's process %d: %s: %s",
                             (int)t->container_pid, what, strerror(saved));
        } else {
            shim_probe_later(r, SHIM_PROBE_ERROR, "clone: %s", strerror(saved));
        }
        return 0;
    }
    r->pid = pid;
    if (a.rep.stage >= 0) { /* it could not run the command, and has exited */
        a.rep.what[sizeof(a.rep.what) - 1] = '\0';
        memcpy(r->rep, &a.rep, sizeof(a.rep));
        r->rep_len = sizeof(a.rep);
    }
    /* Our end only: the command's stays blocking, as any program expects of stdout. */
    fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
    r->exit_ev = event_new(r->base, r->pidfd, EV_READ, on_exit_fd, r);
    r->out_ev = event_new(r->base, r->out_fd, EV_READ | EV_PERSIST, on_output, r);
    if (r->exit_ev == NULL || r->out_ev == NULL || event_add(r->exit_ev, NULL) == -1 ||
        event_add(r->out_ev, NULL) == -1) {
        return -1; /* the caller's free kills and reaps the child */
    }
    return 0;
}

void shim_probe_exec_timer(struct shim_probe_run *r)
{
    if (r->ending) {
        reap(r); /* the command was not a zombie yet a millisecond ago */
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
        /* Blocking, but only for the kernel to finish a SIGKILLed process: microseconds.
         * So a cancelled attempt leaves nothing behind to track. */
        while (waitid(P_PIDFD, (id_t)r->pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR) {
        }
        r->pid = 0;
    }
    if (r->exit_ev != NULL) {
        event_free(r->exit_ev);
        r->exit_ev = NULL;
    }
    if (r->out_ev != NULL) {
        event_free(r->out_ev);
        r->out_ev = NULL;
    }
    if (r->pidfd >= 0) {
        close(r->pidfd);
        r->pidfd = -1;
    }
    if (r->out_fd >= 0) {
        close(r->out_fd);
        r->out_fd = -1;
    }
}
