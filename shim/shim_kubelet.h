/* shim_kubelet.h — static pods: every manifest in a directory runs as a pod, kept in step. */
#ifndef SHIM_KUBELET_H
#define SHIM_KUBELET_H

#include <stdint.h>

/* Borrowed for the call. */
struct shim_kubelet_opts {
    const char *dir;       /* the manifest directory */
    const char *self_exe;  /* podshim itself: each pod runs as `podshim run -f FILE ARGS` */
    char *const *run_args; /* ARGS, NULL-terminated: --root, --log-dir, --pause, ... */
    int64_t rescan_ms;     /* the safety-net rescan (the kubelet's is 20 s) */
};

/* Runs the static pods of o->dir until SIGTERM or SIGINT, like the kubelet's staticPodPath:
 * files named *.yaml, *.yml or *.json (not dot-files) each run as one pod under its own
 * `podshim run` supervisor. inotify and a rescan every rescan_ms find new, changed and
 * removed files: a new file's pod starts, a changed file's pod is stopped gracefully and
 * started again, a removed file's pod is stopped. A file that does not parse is logged once
 * (with FILE:LINE:COL) until it changes, and the others keep running. On SIGTERM every pod
 * is stopped gracefully; returns 0 then, or 1 when the directory cannot be watched. */
int shim_kubelet_run(const struct shim_kubelet_opts *o);

#endif
