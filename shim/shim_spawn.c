/* shim_spawn.c — the container start: clone, setns, mounts, then exec of pause -- CMD. */
#include "shim_spawn.h"

#include "shim_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a failed child sends up its pipe. */
struct report {
    int err;
    char what[200];
};

static void __attribute__((noreturn)) fail(int fd, int err, const char *what, const char *arg)
{
    struct report r;

    r.err = err;
    snprintf(r.what, sizeof(r.what), "%s%s%s%s", what, arg ? " \"" : "", arg ? arg : "",
             arg ? "\"" : "");
    if (write(fd, &r, sizeof(r)) < 0) {
        /* the parent sees EOF without a report and says so */
    }
    _exit(127);
}

/* The value of PATH in envp, or the default a container runtime uses. */
static const char *env_path(char *const *envp)
{
    for (char *const *e = envp; *e != NULL; e++) {
        if (strncmp(*e, "PATH=", 5) == 0) {
            return *e + 5;
        }
    }
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/* Resolves cmd like execvp would, against the container's PATH, so that a missing
 * command is reported when the container is created, with the same words runc uses.
 * Returns 0 with the path in out, or an errno. */
static int resolve(const char *cmd, char *const *envp, char *out, size_t outsz)
{
    const char *p;
    int err = ENOENT;

    if (strchr(cmd, '/') != NULL) {
        snprintf(out, outsz, "%s", cmd);
        return access(out, X_OK) == 0 ? 0 : errno;
    }
    p = env_path(envp);
    while (*p != '\0') {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        struct stat st;

        snprintf(out, outsz, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(out, X_OK) == 0) {
                return 0;
            }
            err = EACCES;
        }
        p += n + (colon ? 1 : 0);
    }
    return err;
}

/* mkdir -p of path (inside an image directory); or, with file, an empty file at the end. */
static int make_target(const char *path, bool file)
{
    char buf[4096];
    struct stat st;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (lstat(buf, &st) == 0) {
        return 0;
    }
    if (file) {
        int f = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        return f < 0 ? -1 : close(f);
    }
    return mkdir(buf, 0755);
}

/* Bind-mounts source at rootfs + target (made if missing), read-only when asked. */
static void bind_in(int fd, const char *rootfs, const char *source, const char *target, bool ro)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s%s", rootfs, target);
    if (make_target(path, stat(source, &st) == 0 && !S_ISDIR(st.st_mode)) < 0) {
        fail(fd, errno, "make mount point", target);
    }
    if (mount(source, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        fail(fd, errno, "mount", target);
    }
    if (ro && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) < 0) {
        fail(fd, errno, "remount read-only", target);
    }
}

/* The image directory becomes the container's root: /proc, a minimal /dev, a read-only
 * /sys, the volumes and the pod's /etc files mounted into it, then pivot_root. */
static void enter_rootfs(const struct shim_spawn_spec *s, int fd)
{
    static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {{"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"},
                                           {"pts/ptmx", "ptmx"}};
    const char *r = s->rootfs;
    char path[4096], src[4096];

    if (mount(r, r, NULL, MS_BIND | MS_REC, NULL) < 0) {
        fail(fd, errno, "bind the image directory", r);
    }
    if (s->security->read_only_root &&
        mount(NULL, r, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
        fail(fd, errno, "make the root filesystem read-only", r);
    }
    snprintf(path, sizeof(path), "%s/proc", r);
    if (make_target(path, false) < 0 ||
        mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        fail(fd, errno, "mount /proc in", r);
    }
    snprintf(path, sizeof(path), "%s/dev", r);
    if (make_target(path, false) < 0 ||
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0) {
        fail(fd, errno, "mount /dev in", r);
    }
    for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
        snprintf(src, sizeof(src), "/dev/%s", devices[i]);
        bind_in(fd, r, src, src, false);
    }
    snprintf(path, sizeof(path), "%s/dev/pts", r);
    if (make_target(path, false) < 0 || mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
                                              "newinstance,ptmxmode=0666,mode=620") < 0) {
        fail(fd, errno, "mount /dev/pts in", r);
    }
    snprintf(path, sizeof(path), "%s/dev/shm", r);
    if (make_target(path, false) < 0 ||
        mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") <
            0) {
        fail(fd, errno, "mount /dev/shm in", r);
    }
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/dev/%s", r, links[i][1]);
        if (symlink(links[i][0], path) < 0 && errno != EEXIST) {
            fail(fd, errno, "symlink", path);
        }
    }
    bind_in(fd, r, "/sys", "/sys", true);
    for (size_t i = 0; i < s->nbinds; i++) {
        bind_in(fd, r, s->binds[i].source, s->binds[i].target, s->binds[i].read_only);
    }
    bind_in(fd, r, s->sandbox->hosts_path, "/etc/hosts", false);
    snprintf(src, sizeof(src), "%s/hostname", s->etc_dir);
    bind_in(fd, r, src, "/etc/hostname", false);
    snprintf(src, sizeof(src), "%s/resolv.conf", s->etc_dir);
    bind_in(fd, r, src, "/etc/resolv.conf", false);
    /* pivot_root(".", "."): the old root ends up on top of the new one; detach it. */
    if (chdir(r) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
        chdir("/") < 0) {
        fail(fd, errno, "pivot_root into", r);
    }
}

static void __attribute__((noreturn)) child(const struct shim_spawn_spec *s, int fd)
{
    const struct shim_sandbox *sb = s->sandbox;
    char path[4096];
    sigset_t none;
    int nul;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L); /* dies with the supervisor */
    /* Into the container's cgroup before anything else: its limits apply from here on, and
     * the pod's kill reaches everything it will start. */
    if (shim_cgroup_enter(s->cgroup) < 0) {
        fail(fd, errno, "join the container's cgroup", NULL);
    }
    if (setns(sb->net_fd, CLONE_NEWNET) < 0) {
        fail(fd, errno, "join the pod's network namespace", NULL);
    }
    if (setns(sb->ipc_fd, CLONE_NEWIPC) < 0) {
        fail(fd, errno, "join the pod's ipc namespace", NULL);
    }
    if (setns(sb->uts_fd, CLONE_NEWUTS) < 0) {
        fail(fd, errno, "join the pod's uts namespace", NULL);
    }
    /* Nothing mounted here may reach the host: make the copied tree private first. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fail(fd, errno, "make mounts private", NULL);
    }
    if (s->rootfs != NULL) {
        enter_rootfs(s, fd);
    } else if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        fail(fd, errno, "mount /proc", NULL);
    } else if (s->security->read_only_root &&
               mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
        /* Only this container's view: its mount namespace; volumes go on top, writable. */
        fail(fd, errno, "make the root filesystem read-only", NULL);
    }
    for (size_t i = 0; i < s->nbinds && s->rootfs == NULL; i++) {
        const struct shim_bind *b = &s->binds[i];
        if (mount(b->source, b->target, NULL, MS_BIND | MS_REC, NULL) < 0) {
            fail(fd, errno, "mount", b->target);
        }
        if (b->read_only &&
            mount(NULL, b->target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
            fail(fd, errno, "remount read-only", b->target);
        }
    }
    if (s->rootfs == NULL && mount(sb->hosts_path, "/etc/hosts", NULL, MS_BIND, NULL) < 0) {
        fail(fd, errno, "mount", "/etc/hosts");
    }
    if (chdir(s->working_dir != NULL ? s->working_dir : "/") < 0) {
        fail(fd, errno, "chdir to workingDir", s->working_dir);
    }
    int rerr = resolve(s->argv[0], s->envp, path, sizeof(path));
    if (rerr != 0) {
        fail(fd, rerr, rerr == ENOENT ? "executable file not found in $PATH:" : "cannot run",
             s->argv[0]);
    }
    nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(s->stdout_fd, 1) < 0 || dup2(s->stderr_fd, 2) < 0) {
        fail(fd, errno, "set up stdin, stdout and stderr", NULL);
    }
    /* The supervisor blocks and ignores signals for its loop; the container starts clean. */
    for (int sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const char *step = NULL;
    if (shim_security_apply(s->security, &step) < 0) {
        fail(fd, errno, step, NULL);
    }
    if (s->share_pid) {
        execve(path, s->argv, s->envp);
        fail(fd, errno, "exec", path);
    }
    /* Our own pid namespace: pause is its init, reaping and passing signals on. */
    size_t argc = 0;
    while (s->argv[argc] != NULL) {
        argc++;
    }
    char **argv = calloc(argc + 3, sizeof(*argv));
    if (argv == NULL) {
        fail(fd, ENOMEM, "exec", s->pause_path);
    }
    argv[0] = "pause";
    argv[1] = "--";
    argv[2] = path;
    memcpy(argv + 3, s->argv + 1, (argc - 1) * sizeof(*argv));
    syscall(SYS_execveat, s->pause_fd, "", argv, s->envp, AT_EMPTY_PATH);
    fail(fd, errno, "exec", s->pause_path);
}

pid_t shim_spawn_start(const struct shim_spawn_spec *s, int *result_fd, char *err, size_t errsz)
{
    int fds[2];
    int self_pid_ns = -1;
    pid_t pid;
    unsigned long flags = CLONE_NEWNS | SIGCHLD;

    *result_fd = -1;
    if (s->argv == NULL || s->argv[0] == NULL) {
        snprintf(err, errsz, "no command");
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errsz, "pipe2: %s", strerror(errno));
        return -1;
    }
    if (s->share_pid) {
        /* setns(CLONE_NEWPID) changes where our next child is born, not where we are:
         * the container is born in the pod's pid namespace, still our child. */
        self_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (self_pid_ns < 0 || setns(s->sandbox->pid_fd, CLONE_NEWPID) < 0) {
            snprintf(err, errsz, "join the pod's pid namespace: %s", strerror(errno));
            if (self_pid_ns >= 0) {
                close(self_pid_ns);
            }
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
    } else {
        flags |= CLONE_NEWPID;
    }
    pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        close(fds[0]);
        child(s, fds[1]);
    }
    int clone_errno = errno;
    if (self_pid_ns >= 0) {
        if (setns(self_pid_ns, CLONE_NEWPID) < 0) {
            /* Every later child would be born in the pod: nothing sane can go on. */
            fprintf(stderr, "podshim: cannot return to its own pid namespace: %s\n",
                    strerror(errno));
            abort();
        }
        close(self_pid_ns);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        snprintf(err, errsz, "clone: %s", strerror(clone_errno));
        return -1;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    *result_fd = fds[0];
    return pid;
}

int shim_spawn_finish(int result_fd, int *exit_code, char *err, size_t errsz)
{
    struct report r;
    ssize_t n;
    struct pollfd pfd = {result_fd, POLLIN, 0};

    *exit_code = 0;
    for (;;) {
        n = read(result_fd, &r, sizeof(r));
        if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
            break;
        }
        poll(&pfd, 1, -1); /* only when called before the pipe was ready */
    }
    close(result_fd);
    if (n <= 0) {
        return 0; /* EOF: exec closed the pipe */
    }
    r.what[sizeof(r.what) - 1] = '\0';
    snprintf(err, errsz, "%s: %s", r.what, strerror(r.err));
    *exit_code = r.err == ENOENT ? 127 : 126;
    return -1;
}
