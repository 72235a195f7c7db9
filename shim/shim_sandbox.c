/* shim_sandbox.c — starts pause in the pod's new namespaces and opens them for containers. */
#include "shim_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

char *shim_hosts_file(const char *hostname, const char *pod_ip, char *const *ips,
                      char *const *names, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL) {
        return NULL;
    }
    fprintf(f,
            "# Kubernetes-managed hosts file (podshim).\n"
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\n"
            "fe00::0\tip6-mcastprefix\n"
            "fe00::1\tip6-allnodes\n"
            "fe00::2\tip6-allrouters\n"
            "%s\t%s\n",
            pod_ip, hostname);
    if (n > 0) {
        fprintf(f, "\n# Entries added by HostAliases.\n");
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "%s\t%s\n", ips[i], names[i]);
        }
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Writes data to path atomically enough for a file nobody reads yet. */
static int write_file(const char *path, const char *data, char *err, size_t errsz)
{
    size_t len = strlen(data);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0) {
        snprintf(err, errsz, "open %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            snprintf(err, errsz, "write %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

/* In the new network namespace: bring lo up (it starts down). */
static int loopback_up(void)
{
    struct ifreq ifr;
    int rc = -1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0) {
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

/* In the cloned child: finish the sandbox and become pause. On failure, the step and
 * errno go up the pipe and the child exits. Only async-signal-safe work, and what the
 * kernel needs, happens here. */
static void __attribute__((noreturn)) sandbox_child(const struct shim_sandbox_spec *spec, int fd)
{
    struct {
        int err;
        char step[24];
    } report = {0, ""};
    sigset_t none;

    /* The pod dies with its supervisor, whatever kills it: pause is PID 1 of the pod. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
    if (sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        report.err = errno;
        strcpy(report.step, "sethostname");
    } else if (loopback_up() < 0) {
        report.err = errno;
        strcpy(report.step, "bring lo up");
    } else {
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl(spec->pause_path, "pause", (char *)NULL);
        report.err = errno;
        snprintf(report.step, sizeof(report.step), "exec pause");
    }
    if (write(fd, &report, sizeof(report)) < 0) {
        /* nothing more to do: the parent sees EOF and reports the exit */
    }
    _exit(127);
}

static int open_ns(pid_t pid, const char *name, char *err, size_t errsz)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "open %s: %s", path, strerror(errno));
    }
    return fd;
}

int shim_sandbox_create(struct shim_sandbox *sb, const struct shim_sandbox_spec *spec, char *err,
                        size_t errsz)
{
    struct {
        int err;
        char step[24];
    } report;
    int fds[2];
    ssize_t n;

    memset(sb, 0, sizeof(*sb));
    sb->net_fd = sb->ipc_fd = sb->uts_fd = sb->pid_fd = -1;
    if (snprintf(sb->hosts_path, sizeof(sb->hosts_path), "%s/hosts", spec->dir) >=
        (int)sizeof(sb->hosts_path)) {
        snprintf(err, errsz, "state directory path too long");
        return -1;
    }
    if (write_file(sb->hosts_path, spec->hosts, err, errsz) < 0) {
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errsz, "pipe2: %s", strerror(errno));
        return -1;
    }
    /* A raw clone without a new stack behaves like fork, with the new namespaces. */
    pid_t pid = (pid_t)syscall(SYS_clone,
                               CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD,
                               NULL, NULL, NULL, NULL);
    if (pid < 0) {
        snprintf(err, errsz, "clone(new net, ipc, uts, pid namespaces): %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        sandbox_child(spec, fds[1]);
    }
    close(fds[1]);
    do {
        n = read(fds[0], &report, sizeof(report));
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        report.step[sizeof(report.step) - 1] = '\0';
        snprintf(err, errsz, "starting pause (%s): %s: %s", spec->pause_path, report.step,
                 strerror(report.err));
        return -1;
    }
    sb->pause_pid = pid;
    if ((sb->net_fd = open_ns(pid, "net", err, errsz)) < 0 ||
        (sb->ipc_fd = open_ns(pid, "ipc", err, errsz)) < 0 ||
        (sb->uts_fd = open_ns(pid, "uts", err, errsz)) < 0 ||
        (sb->pid_fd = open_ns(pid, "pid", err, errsz)) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        sb->pause_pid = 0;
        shim_sandbox_destroy(sb);
        return -1;
    }
    return 0;
}

void shim_sandbox_destroy(struct shim_sandbox *sb)
{
    int *fds[] = {&sb->net_fd, &sb->ipc_fd, &sb->uts_fd, &sb->pid_fd};

    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] > 0) {
            close(*fds[i]);
        }
        *fds[i] = -1;
    }
}
