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

#include "pk_fs.h"
#include "shim_cgroup.h"

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

/* In the cloned child: become pause, and die with the supervisor whatever kills it (pause
 * is PID 1 of the pod, so the whole pod goes). A failed exec shows as pause exiting 127. */
static void __attribute__((noreturn)) sandbox_child(const struct shim_sandbox_spec *spec)
{
    sigset_t none;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
    if (shim_cgroup_enter(spec->cgroup) < 0) {
        _exit(126);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl(spec->pause_path, "pause", (char *)NULL);
    _exit(127);
}

static int open_ns(pid_t pid, const char *name, char *err, size_t errsz)
{
    char path[64];
    int fd;

    if (pid > 0) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
    } else {
        snprintf(path, sizeof(path), "/proc/thread-self/ns/%s", name);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "open %s: %s", path, strerror(errno));
    }
    return fd;
}

/* Runs fn inside the namespace ns_fd (of type nstype) and comes back to ours. Failing to
 * come back would leave the supervisor in the pod: that is fatal. */
static int in_ns(int ns_fd, int nstype, const char *name, int (*fn)(const void *), const void *arg,
                 char *err, size_t errsz)
{
    char what[32];
    int self = open_ns(0, name, err, errsz);
    int rc;

    if (self < 0) {
        return -1;
    }
    if (setns(ns_fd, nstype) < 0) {
        snprintf(err, errsz, "enter the pod's %s namespace: %s", name, strerror(errno));
        close(self);
        return -1;
    }
    rc = fn(arg);
    snprintf(what, sizeof(what), "%s", rc < 0 ? strerror(errno) : "");
    if (setns(self, nstype) < 0) {
        fprintf(stderr, "podshim: cannot return to its own %s namespace: %s\n", name,
                strerror(errno));
        abort();
    }
    close(self);
    if (rc < 0) {
        snprintf(err, errsz, "%s in the pod's %s namespace: %s",
                 nstype == CLONE_NEWUTS ? "sethostname" : "bring lo up", name, what);
    }
    return rc;
}

static int set_hostname(const void *name)
{
    return sethostname(name, strlen(name));
}

static int lo_up(const void *unused)
{
    (void)unused;
    return loopback_up();
}

int shim_sandbox_create(struct shim_sandbox *sb, const struct shim_sandbox_spec *spec, char *err,
                        size_t errsz)
{
    memset(sb, 0, sizeof(*sb));
    sb->net_fd = sb->ipc_fd = sb->uts_fd = sb->pid_fd = -1;
    if (snprintf(sb->hosts_path, sizeof(sb->hosts_path), "%s/hosts", spec->dir) >=
        (int)sizeof(sb->hosts_path)) {
        snprintf(err, errsz, "state directory path too long");
        return -1;
    }
    if (pk_write_file(sb->hosts_path, spec->hosts, strlen(spec->hosts), 0644) < 0) {
        snprintf(err, errsz, "write %s: %s", sb->hosts_path, strerror(errno));
        return -1;
    }
    if (access(spec->pause_path, X_OK) < 0) {
        snprintf(err, errsz, "pause binary %s: %s", spec->pause_path, strerror(errno));
        return -1;
    }
    /* A raw clone without a new stack behaves like fork, with the new namespaces; they
     * exist as soon as it returns, so nothing here waits for pause's exec. */
    pid_t pid = (pid_t)syscall(SYS_clone,
                               CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD,
                               NULL, NULL, NULL, NULL);
    if (pid < 0) {
        snprintf(err, errsz, "clone(new net, ipc, uts, pid namespaces): %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sandbox_child(spec);
    }
    sb->pause_pid = pid;
    if ((sb->net_fd = open_ns(pid, "net", err, errsz)) < 0 ||
        (sb->ipc_fd = open_ns(pid, "ipc", err, errsz)) < 0 ||
        (sb->uts_fd = open_ns(pid, "uts", err, errsz)) < 0 ||
        (sb->pid_fd = open_ns(pid, "pid", err, errsz)) < 0 ||
        in_ns(sb->uts_fd, CLONE_NEWUTS, "uts", set_hostname, spec->hostname, err, errsz) < 0 ||
        in_ns(sb->net_fd, CLONE_NEWNET, "net", lo_up, NULL, err, errsz) < 0) {
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
