/* shim_spawn.h — starts one container: joins the sandbox, mounts its volumes, execs. */
#ifndef SHIM_SPAWN_H
#define SHIM_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "shim_sandbox.h"
#include "shim_security.h"

/* One bind mount into the container. On the host's root the target must exist already
 * (the caller makes mount points, so that it can remove the ones it made); in an image
 * directory the target is made inside it, as runc does. */
struct shim_bind {
    const char *source; /* a host path: a volume's directory, or a file or dir in it */
    const char *target; /* where the container sees it */
    bool read_only;
};

/* Everything a container start needs; all borrowed for the call. */
struct shim_spawn_spec {
    const struct shim_sandbox *sandbox;
    bool share_pid;          /* join pause's pid namespace instead of a new one */
    const char *pause_path;  /* init of the container's own pid namespace, for messages */
    int pause_fd;            /* pause opened O_PATH: exec'd through it, since a volume
                              * mounted over its directory would hide pause_path */
    char *const *argv;       /* the command, $(VAR) already expanded; NULL-terminated */
    char *const *envp;       /* NAME=VALUE, NULL-terminated; PATH is looked up in it */
    const char *working_dir; /* NULL: "/" */
    const char *rootfs;      /* an image directory to pivot_root into, or NULL: the host's root */
    const char *etc_dir;     /* rootfs only: holds the hostname and resolv.conf files for /etc */
    const struct shim_sec_plan *security; /* user, groups, capabilities; applied last */
    const struct shim_cgroup *cgroup;     /* entered first, or NULL */
    const struct shim_bind *binds;        /* in mount order: parents before children */
    size_t nbinds;
    int stdout_fd, stderr_fd; /* become the container's 1 and 2; stdin is /dev/null */
};

/* Starts the container as a child of the caller in a new mount namespace (and a new pid
 * namespace with pause as its init, unless share_pid) joined to the sandbox's net, ipc and
 * uts namespaces, with the binds and the pod's /etc/hosts mounted and a /proc of its own.
 * Returns the child's pid at once, without waiting for the exec, and in *result_fd the
 * read end of a pipe (close-on-exec, non-blocking) for shim_spawn_finish: it reaches EOF
 * once the command is exec'd, or carries the reason it could not be. The caller reaps the
 * child; its exit status is the container's. -1 with err when not even the clone worked. */
pid_t shim_spawn_start(const struct shim_spawn_spec *spec, int *result_fd, char *err, size_t errsz);

/* Reads the outcome of a start from result_fd, once it is readable or the child has exited
 * (it blocks until then), and closes it. Returns 0 when the command was exec'd, or -1 with
 * err naming the step that failed (e.g. 'executable file not found in $PATH: "nginx"') and
 * *exit_code: 127 when the command does not exist, 126 otherwise. */
int shim_spawn_finish(int result_fd, int *exit_code, char *err, size_t errsz);

#endif
