/* pause.c — pod infra process: hold the namespaces and reap zombies, or run one CMD as init. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PODKIT_VERSION
#define PODKIT_VERSION "unknown"
#endif
#ifndef PODKIT_GIT_REV
#define PODKIT_GIT_REV "unknown"
#endif

/* Exit codes, shell style. */
enum {
    EXIT_OK = 0,
    EXIT_SETUP = 1,     /* pause itself could not set up (pipe, fork, ...) */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_NOEXEC = 126,  /* CMD exists but cannot be executed */
    EXIT_NOTFOUND = 127 /* CMD not found */
};

/* Longest log line, newline included; longer messages are cut. */
#define LOG_MAX 512

/* Signals the kernel knows (64; 128 on MIPS) and its sigset size in bytes. */
#define KERNEL_NSIG (NSIG - 1)
#define KERNEL_SIGSET_SIZE (KERNEL_NSIG / 8)
#define LONG_BITS (8 * sizeof(unsigned long))

/* Upper bound for the close() fallback loop when RLIMIT_NOFILE is unlimited. */
#define FD_SCAN_MAX (1 << 20)

static const char USAGE[] =
    "Usage: pause [-h|-V]\n"
    "       pause [-g] [--] CMD [ARG...]\n"
    "Pause mode (no CMD): chdir /, close fds > 2, reap zombies (as PID 1 or as a\n"
    "subreaper), exit 0 on SIGTERM or SIGINT, ignore every other signal.\n"
    "Init mode: run CMD (PATH search) in its own process group, the tty's\n"
    "foreground; forward SIGTERM SIGINT SIGHUP SIGUSR1 SIGUSR2 SIGQUIT SIGWINCH\n"
    "to it; reap zombies; exit with CMD's status as soon as it exits.\n"
    "  -g             forward signals to CMD's whole process group\n"
    "  -h, --help     print this help and exit\n"
    "  -V, -v, --version  print the version and exit\n"
    "Exit: pause mode 0; init mode CMD's status, 128+N if killed by signal N,\n"
    "126 CMD not executable, 127 CMD not found; 2 usage error; 1 setup error.\n";

/* The signals init mode passes on to CMD; the names are used in log lines. */
static const struct {
    int sig;
    char name[9];
} FORWARDED[] = {
    {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGHUP, "SIGHUP"},     {SIGUSR1, "SIGUSR1"},
    {SIGUSR2, "SIGUSR2"}, {SIGQUIT, "SIGQUIT"}, {SIGWINCH, "SIGWINCH"},
};

/* Synchronous fault signals: never blocked, so a real fault still kills pause. */
static const int FAULT_SIGNALS[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

/*
 * A signal set as the rt_sig* system calls take it: bit N-1 is signal N. pause uses these
 * rather than sigset_t because both C libraries keep signals 32-34 (their own internals)
 * out of sigfillset and sigprocmask; left unblocked, one stray `kill -34` would kill pause.
 */
struct kernel_sigset {
    unsigned long bits[KERNEL_NSIG / LONG_BITS];
};

/* Everything the run loop needs; lives in main(). */
struct pause_ctx {
    char **cmd;                     /* CMD and its arguments (in argv), NULL in pause mode */
    int group;                      /* -g: forward to the child's process group */
    pid_t child;                    /* the main child in init mode, 0 before it is started */
    struct kernel_sigset orig_mask; /* the mask pause inherited, given back to CMD */
    struct kernel_sigset wait_set;  /* every signal pause blocks and takes synchronously */
};

/* A log line under construction; add() silently cuts at LOG_MAX - 1 bytes. */
struct line {
    size_t len;
    char buf[LOG_MAX];
};

/* Append the NUL-terminated string s, cutting it if the line is full. */
static void line_add(struct line *l, const char *s)
{
    while (*s != '\0' && l->len < LOG_MAX - 1) {
        l->buf[l->len++] = *s++;
    }
}

/* Append v in decimal. */
static void line_add_uint(struct line *l, unsigned long v)
{
    char tmp[3 * sizeof(v) + 1];
    size_t i = sizeof(tmp) - 1;

    tmp[i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    line_add(l, tmp + i);
}

/*
 * Write all of buf[0..len) to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set.
 */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Log one line "pause[PID] LEVEL abcd" to stderr with a single write(2); NULL parts are
 * skipped. Fixed arity rather than varargs: va_arg costs more code than the few callers.
 * errno is preserved, a failed write ignored: there is nowhere else to report it.
 */
static void log_msg(const char *level, const char *a, const char *b, const char *c, const char *d)
{
    int saved_errno = errno;
    const char *parts[] = {level, " ", a, b, c, d};
    struct line l;

    l.len = 0;
    line_add(&l, "pause[");
    line_add_uint(&l, (unsigned long)getpid());
    line_add(&l, "] ");
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (parts[i] != NULL) {
            line_add(&l, parts[i]);
        }
    }
    l.buf[l.len++] = '\n';
    (void)write_all(STDERR_FILENO, l.buf, l.len);
    errno = saved_errno;
}

/* The name of a forwarded signal ("SIGTERM"), or NULL if sig is not one of them. */
static const char *forwarded_name(int sig)
{
    for (size_t i = 0; i < sizeof(FORWARDED) / sizeof(FORWARDED[0]); i++) {
        if (FORWARDED[i].sig == sig) {
            return FORWARDED[i].name;
        }
    }
    return NULL;
}

/*
 * Parse the command line into ctx. Options end at "--" or at the first word that does not
 * start with '-'; the rest is CMD. Returns -1 to run, or the exit code to leave with
 * (help and version are printed here, usage errors logged).
 */
static int parse_args(int argc, char **argv, struct pause_ctx *ctx)
{
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--") == 0) {
            i++;
            if (i == argc) {
                log_msg("ERROR", "missing command after \"--\" (see --help)", NULL, NULL, NULL);
                return EXIT_USAGE;
            }
            break;
        } else if (strcmp(arg, "-g") == 0) {
            ctx->group = 1;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            return write_all(STDOUT_FILENO, USAGE, sizeof(USAGE) - 1) == 0 ? EXIT_OK : EXIT_SETUP;
        } else if (strcmp(arg, "-V") == 0 || strcmp(arg, "-v") == 0 ||
                   strcmp(arg, "--version") == 0) {
            static const char VERSION[] = "pause " PODKIT_VERSION " (git " PODKIT_GIT_REV ")\n";

            return write_all(STDOUT_FILENO, VERSION, sizeof(VERSION) - 1) == 0 ? EXIT_OK
                                                                               : EXIT_SETUP;
        } else {
            log_msg("ERROR", "unknown option \"", arg, "\" (see --help)", NULL);
            return EXIT_USAGE;
        }
    }
    if (i < argc) {
        ctx->cmd = &argv[i];
    } else if (ctx->group) {
        log_msg("ERROR", "option \"-g\" needs a command (see --help)", NULL, NULL, NULL);
        return EXIT_USAGE;
    }
    return -1;
}

/*
 * Close every descriptor >= 3 that pause inherited. close_range(2) does it in one call; on
 * kernels without it (before 5.9) fall back to close() up to the RLIMIT_NOFILE soft limit,
 * which bounds every descriptor a process can have been given.
 */
static void close_inherited_fds(void)
{
    struct rlimit rl;
    long max = FD_SCAN_MAX;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) {
        return;
    }
#endif
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)FD_SCAN_MAX) {
        max = (long)rl.rlim_cur;
    }
    for (long fd = 3; fd < max; fd++) {
        (void)close((int)fd);
    }
}

/* 1 if sig is in set, else 0. */
static int kernel_sigset_has(const struct kernel_sigset *set, int sig)
{
    return (int)((set->bits[(sig - 1) / LONG_BITS] >> ((sig - 1) % LONG_BITS)) & 1);
}

/*
 * Give every catchable signal its default disposition, then block all of them except the
 * synchronous faults. Blocked signals stay queued (even for PID 1 of a namespace, where the
 * kernel drops unhandled SIG_DFL signals) until the run loop takes them with
 * rt_sigtimedwait, so no handler ever runs and SIGTSTP/SIGTTIN/SIGTTOU cannot stop pause.
 * Resetting matters for SIGCHLD: an inherited SIG_IGN would make the kernel reap children
 * itself and hide CMD's status. It also gives CMD default dispositions (SIG_IGN survives
 * exec, and so does a blocked mask, which child_exec restores).
 *
 * An all-zero kernel struct sigaction means SIG_DFL, no flags, empty mask on every
 * architecture whatever its field order. Returns 0, or -1 with errno set.
 */
static int setup_signals(struct pause_ctx *ctx)
{
    static const unsigned long KERNEL_SIG_DFL[8];

    memset(&ctx->wait_set, 0xff, sizeof(ctx->wait_set));
    for (size_t i = 0; i < sizeof(FAULT_SIGNALS) / sizeof(FAULT_SIGNALS[0]); i++) {
        int bit = FAULT_SIGNALS[i] - 1;

        ctx->wait_set.bits[bit / LONG_BITS] &= ~(1UL << (bit % LONG_BITS));
    }
    for (int sig = 1; sig <= KERNEL_NSIG; sig++) {
        /* Fails with EINVAL for SIGKILL and SIGSTOP, which nobody can catch anyway. */
        if (kernel_sigset_has(&ctx->wait_set, sig)) {
            (void)syscall(SYS_rt_sigaction, sig, KERNEL_SIG_DFL, NULL, KERNEL_SIGSET_SIZE);
        }
    }
    return (int)syscall(SYS_rt_sigprocmask, SIG_BLOCK, &ctx->wait_set, &ctx->orig_mask,
                        KERNEL_SIGSET_SIZE);
}

/*
 * Reap every child that has exited: loop waitpid(-1, WNOHANG) until nothing is left, since
 * several exits may have merged into one SIGCHLD. Returns 1 and stores CMD's exit code
 * (128+N if killed by signal N) in *code if ctx->child was among them, else 0.
 */
static int reap_children(const struct pause_ctx *ctx, int *code)
{
    int found = 0;

    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid < 0 && errno == EINTR) {
            continue;
        }
        if (pid <= 0) {
            return found; /* 0: children left but none exited; -1/ECHILD: no children */
        }
        if (pid == ctx->child) {
            found = 1;
            *code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        }
    }
}

/*
 * In the forked child: own process group, the terminal's foreground if stdin is one, the
 * inherited signal mask back, then exec CMD. On failure send errno down err_fd and exit.
 *
 * Why a CLOEXEC pipe rather than having the child print and _exit(127): the pipe is closed
 * by a successful exec, so the parent tells "exec failed" from "CMD ran and exited 127"
 * without guessing, and the error is logged by pause itself with its own PID.
 */
static void __attribute__((noreturn)) child_exec(const struct pause_ctx *ctx, int err_fd)
{
    int err;

    /* Cannot fail: a freshly forked child is never a session or group leader. */
    (void)setpgid(0, 0);
    /*
     * SIGTTOU is still blocked here, so a background group may take the terminal; Ctrl-C
     * then reaches CMD's group only, not pause as well. Best effort: it fails with ENOTTY
     * when stdin is not our controlling terminal (no tty at all, the common case).
     */
    (void)tcsetpgrp(STDIN_FILENO, getpid());
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &ctx->orig_mask, NULL, KERNEL_SIGSET_SIZE);
    execvp(ctx->cmd[0], ctx->cmd);
    err = errno;
    (void)write_all(err_fd, (const char *)&err, sizeof(err));
    _exit(EXIT_NOEXEC);
}

/*
 * Fork and exec CMD, then wait on the CLOEXEC pipe until the exec is known to have worked.
 * Returns -1 once CMD runs (ctx->child set), or the exit code to leave with after logging.
 */
static int spawn_child(struct pause_ctx *ctx)
{
    int fds[2];
    int err = 0;
    ssize_t n;

    /* Raw pipe2: musl's wrapper adds a fallback for pre-2.6.27 kernels (~230 bytes). */
    if (syscall(SYS_pipe2, fds, O_CLOEXEC) < 0) {
        log_msg("ERROR", "pipe2: ", strerror(errno), NULL, NULL);
        return EXIT_SETUP;
    }
    /*
     * _Fork, not fork: pause is single-threaded and the child makes only async-signal-safe
     * calls before exec, so fork's atfork handlers and lock resets are dead weight (about
     * 1.8 KB of musl).
     */
    ctx->child = _Fork();
    if (ctx->child < 0) {
        log_msg("ERROR", "fork: ", strerror(errno), NULL, NULL);
        (void)close(fds[0]);
        (void)close(fds[1]);
        return EXIT_SETUP;
    }
    if (ctx->child == 0) {
        (void)close(fds[0]);
        child_exec(ctx, fds[1]);
    }
    (void)close(fds[1]);
    do {
        n = read(fds[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    (void)close(fds[0]);
    if (n <= 0) {
        return -1; /* EOF: the exec closed the pipe */
    }
    (void)waitpid(ctx->child, NULL, 0);
    ctx->child = 0;
    log_msg("ERROR", "exec \"", ctx->cmd[0], "\": ", strerror(err));
    return (err == ENOENT || err == ENOTDIR) ? EXIT_NOTFOUND : EXIT_NOEXEC;
}

/*
 * Send sig to CMD (or to its process group with -g). ESRCH is fine: CMD may have just exited
 * and its SIGCHLD is on its way.
 */
static void forward_signal(const struct pause_ctx *ctx, int sig, const char *name)
{
    pid_t target = ctx->group ? -ctx->child : ctx->child;

    if (kill(target, sig) < 0 && errno != ESRCH) {
        log_msg("WARN", "forwarding ", name, ": ", strerror(errno));
    }
}

/*
 * The supervision loop: sleep in rt_sigtimedwait (no timeout, so no CPU while idle), reap on
 * SIGCHLD, and in pause mode exit 0 on SIGTERM/SIGINT; in init mode forward signals and exit
 * with CMD's code once it is reaped. Every other signal is taken and dropped. Never returns
 * unless it is time to exit; the return value is the exit code.
 */
static int run_loop(const struct pause_ctx *ctx)
{
    int code = EXIT_OK;

    /* A child may have exited before its SIGCHLD was blocked. */
    if (reap_children(ctx, &code)) {
        return code;
    }
    for (;;) {
        int sig = (int)syscall(SYS_rt_sigtimedwait, &ctx->wait_set, NULL, NULL, KERNEL_SIGSET_SIZE);
        const char *name;

        if (sig < 0) {
            /* EINTR (e.g. resumed after SIGSTOP) is the only error a valid set can give. */
            continue;
        }
        name = forwarded_name(sig);
        if (sig == SIGCHLD) {
            if (reap_children(ctx, &code)) {
                return code;
            }
        } else if (ctx->cmd != NULL) {
            if (name != NULL) {
                forward_signal(ctx, sig, name);
            }
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_msg("INFO", "received ", name, ", exiting", NULL);
            return EXIT_OK;
        }
    }
}

/* Set up, then run pause mode or init mode; returns the process exit code. */
int main(int argc, char **argv)
{
    struct pause_ctx ctx;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    rc = parse_args(argc, argv, &ctx);
    if (rc >= 0) {
        goto out;
    }
    /* PID 1 reaps orphans anyway; elsewhere ask the kernel to hand them to us. */
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) < 0) {
        log_msg("WARN", "prctl(PR_SET_CHILD_SUBREAPER): ", strerror(errno), NULL, NULL);
    }
    if (setup_signals(&ctx) < 0) {
        log_msg("ERROR", "rt_sigprocmask: ", strerror(errno), NULL, NULL);
        rc = EXIT_SETUP;
        goto out;
    }
    if (ctx.cmd == NULL) {
        /* Do not pin whatever filesystem we were started in. */
        if (chdir("/") < 0) {
            log_msg("ERROR", "chdir(\"/\"): ", strerror(errno), NULL, NULL);
            rc = EXIT_SETUP;
            goto out;
        }
    } else {
        rc = spawn_child(&ctx);
        if (rc >= 0) {
            goto out;
        }
    }
    /* In init mode only pause's own copies go; CMD keeps its descriptors. */
    close_inherited_fds();
    rc = run_loop(&ctx);
out:
    return rc;
}
