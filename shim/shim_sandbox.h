/* shim_sandbox.h — the pod sandbox: pause holding new net, ipc, uts and pid namespaces. */
#ifndef SHIM_SANDBOX_H
#define SHIM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct shim_cgroup;

/* What the sandbox is made from. All strings are borrowed for the call. */
struct shim_sandbox_spec {
    const char *pause_path; /* the pause binary */
    const char *hostname;   /* set in the new uts namespace */
    const char *dir;        /* the pod's state directory: the hosts file is written here */
    const char *hosts;      /* contents of /etc/hosts for every container */
    const struct shim_cgroup *cgroup; /* pause enters it before exec, or NULL */
};

/* A running sandbox. Namespace descriptors are owned (closed by _destroy). */
struct shim_sandbox {
    pid_t pause_pid; /* a child of the caller; 0 once reaped */
    int net_fd, ipc_fd, uts_fd, pid_fd;
    char hosts_path[4096]; /* bind-mounted as /etc/hosts in every container */
};

/* Starts pause as PID 1 of new pid, net, ipc and uts namespaces, with spec->hostname as
 * its host name and loopback up, writes the hosts file, and opens the namespaces so that
 * containers can join them. The caller reaps pause (it is the caller's child). Returns 0,
 * or -1 with err set and nothing left running. */
int shim_sandbox_create(struct shim_sandbox *sb, const struct shim_sandbox_spec *spec, char *err,
                        size_t errsz);

/* Closes the namespace descriptors (the namespaces live on while pause does). Safe on a
 * zeroed or half-built sandbox; it does not signal pause. */
void shim_sandbox_destroy(struct shim_sandbox *sb);

/* The Kubernetes-style /etc/hosts of a pod: localhost lines, the pod's own name, and a
 * "# Entries added by HostAliases." section when aliases are given (ips[i] with the
 * space-separated names[i]). Returns a malloc'd string, or NULL when out of memory. */
char *shim_hosts_file(const char *hostname, const char *pod_ip, char *const *ips,
                      char *const *names, size_t n);

#endif
