/* shim_env.h — a container's environment and command line, as the kubelet builds them. */
#ifndef SHIM_ENV_H
#define SHIM_ENV_H

#include <stddef.h>
#include <sys/types.h>

#include "shim_manifest.h"

/* What the pod knows about itself, for fieldRef values and defaults. Borrowed. */
struct shim_env_pod {
    const char *hostname;
    const char *pod_ip;
};

/* Builds c's environment as NAME=VALUE strings (NULL-terminated, malloc'd; free with
 * shim_strv_free): PATH, HOSTNAME and HOME defaults (podshim runs host binaries, with no
 * image to provide them), then envFrom, then env in order, each value with $(VAR)
 * expanded against what was defined before it; a later definition replaces an earlier
 * one. A missing ConfigMap, Secret or key is an error naming it unless optional.
 * Returns NULL with err set on failure. */
char **shim_env_build(const struct shim_manifest *m, const struct shim_container *c,
                      const struct shim_env_pod *pod, char *err, size_t errsz);

/* command + args with $(VAR) expanded against env (NULL-terminated, malloc'd). Without
 * a command, args[0] is the command: podshim has no image entrypoint to fall back on.
 * Returns NULL with err set when there is nothing to run or memory runs out. */
char **shim_argv_build(const struct shim_container *c, char *const *env, char *err, size_t errsz);

void shim_strv_free(char **v);

/* The environment of process pid (/proc/PID/environ) as a NULL-terminated array pointing
 * into *blockp, or NULL when it cannot be read (*blockp may still need freeing). Both are
 * malloc'd; at most 4 MiB is read. For exec and exec probes, which run with a container's
 * environment. */
char **shim_env_read(pid_t pid, char **blockp);

#endif
