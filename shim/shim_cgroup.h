/* shim_cgroup.h — a pod's cgroup with one child per container: limits, attach, OOM kills,
 * killing everything in it, and removal; on cgroup v2, v1 and the hybrid of both. */
#ifndef SHIM_CGROUP_H
#define SHIM_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "shim_manifest.h"

#define SHIM_CGROUP_CPU_PERIOD_US 100000  /* the CFS period, as the kubelet sets it */
#define SHIM_CGROUP_CPU_QUOTA_MIN_US 1000 /* the kubelet's smallest quota */
#define SHIM_CGROUP_KILL_MS 2000          /* how long shim_cgroup_kill_all waits at most */
#define SHIM_CGROUP_RMDIR_MS 500          /* how long shim_cgroup_destroy retries at most */

/*
 * Where the cgroups are. shim_cgroup_pod_create reads /proc/self/mountinfo and uses every
 * hierarchy that holds a controller podkit needs (cpu, cpuacct, memory, pids), plus the
 * cgroup2 hierarchy even when it holds none (a hybrid layout's /sys/fs/cgroup/unified):
 * there it tracks every process and gives cgroup.kill. In each of them the pod's cgroup is
 * MOUNT/podkit/POD and a container's is MOUNT/podkit/POD/CONTAINER, so
 *   v2:        /sys/fs/cgroup/podkit/POD/CTR
 *   v1/hybrid: /sys/fs/cgroup/{cpu,cpuacct,memory,pids,unified}/podkit/POD/CTR
 * Nothing outside MOUNT/podkit/ is created, written or removed, with one exception: on v2,
 * +cpu +memory +pids are enabled in the root's cgroup.subtree_control (as in podkit/'s
 * and the pod's) when not already, since nothing below could limit anything otherwise.
 * MOUNT/podkit/ itself stays: other pods may be using it.
 *
 * A controller that is not mounted, or that cannot be used (the pod's directory cannot be
 * made there, or v2 refuses to enable it), is missing: a limit that needs it is an error
 * naming it, and everything else works without it.
 *
 * A struct shim_cgroup is immutable once made: reading it from several threads, and from
 * a child between clone and exec, is safe. Pod and container objects are independent
 * (a container's does not point at its pod's) and may be destroyed in either order.
 */
struct shim_cgroup;

/* Writes into out (outsz bytes) the directory name podkit uses for the pod or container
 * called name: letters lowered, every byte outside [a-z0-9_.-] replaced by '_', and a '_'
 * put in front when the result holds a '.' or starts with '_' (so that it can never be a
 * control file such as "memory.max") or is "tasks", "notify_on_release" or "release_agent"
 * (v1's files without a dot). Different names may share a directory name ("a b", "a_b"):
 * the caller keeps names unique. Returns 0, or -1 when name is empty or the result does
 * not fit in outsz or in NAME_MAX. Pure: no system calls. */
int shim_cgroup_sanitize(const char *name, char *out, size_t outsz);

/* The pod's cgroup, MOUNT/podkit/NAME (NAME sanitized) in every hierarchy in use, with
 * podkit/ made when missing; an existing directory (from a supervisor that died) is used
 * as it is. On v2, enables +cpu +memory +pids in subtree_control from the root down to the
 * pod's cgroup, so that its children can be limited; the pod's cgroup itself can then hold
 * no process (v2's "no internal processes" rule): put the infra process in a child too.
 * Returns the cgroup, to free with shim_cgroup_destroy, or NULL with err when no
 * hierarchy is mounted or none could be used (e.g. EACCES when not root). */
struct shim_cgroup *shim_cgroup_pod_create(const char *name, char *err, size_t errsz);

/* A container's cgroup POD/NAME (NAME sanitized) in every hierarchy of pod, with r's
 * limits (r may be NULL: none) and pids_max (0: no limit, > 0: pids.max):
 *   limits.memory  v2 memory.max and memory.swap.max = 0 (when swap is accounted); v1
 *                  memory.limit_in_bytes (swap is left alone: the kubelet wants it off).
 *                  v2 also gets memory.oom.group = 1 in any case, as the kubelet sets it:
 *                  an OOM kill takes the whole container
 *   limits.cpu     v2 cpu.max "QUOTA 100000"; v1 cpu.cfs_period_us = 100000 then
 *                  cpu.cfs_quota_us = QUOTA; QUOTA = millis * 100, at least 1000
 *   requests.cpu   v2 cpu.weight, v1 cpu.shares, from shares = millis * 1024 / 1000 in
 *                  [2, 262144] and weight = 1 + (shares - 2) * 9999 / 262142 (the kubelet's
 *                  formulas); the limit stands in for a missing request, as the API server
 *                  defaults it; with neither, the kernel's default (weight 100,
 *                  shares 1024)
 *   memory requests are not applied (the kubelet sets memory.min only with MemoryQoS).
 * A limit whose controller is missing is an error naming the controller; a cpu request
 * without the cpu controller is ignored (requests are shown, not enforced). An existing
 * directory is reused and every one of these files rewritten, defaults included. Make one
 * per container instance (destroy it and make it again on restart), so that
 * shim_cgroup_oom_killed speaks of that instance. Returns the cgroup, to free with
 * shim_cgroup_destroy, or NULL with err (naming the file that could not be written) and
 * nothing left behind. */
struct shim_cgroup *shim_cgroup_child_create(const struct shim_cgroup *pod, const char *name,
                                             const struct shim_resources *r, long long pids_max,
                                             char *err, size_t errsz);

/* Moves the calling process (all its threads) into cg, in every hierarchy, by writing "0"
 * into each cgroup.procs. For a container's child between clone and exec: async-signal-safe
 * (only open, write and close, no allocation), and pid-namespace-proof ("0" is the writer
 * itself). Call it before pivot_root or anything mounted over /sys/fs/cgroup, as it opens
 * the host's paths: in shim_spawn's child, first thing. On v2 it fails (EBUSY) for a pod's
 * cgroup once controllers are enabled there; use a container's. Returns 0 (also for a NULL
 * cg: no cgroup, nothing to do), or -1 with errno when a write failed (the process may
 * then be in some hierarchies only). */
int shim_cgroup_enter(const struct shim_cgroup *cg);

/* Whether the kernel's OOM killer killed a process in cg since cg was made (the
 * oom_kill counter of v2's memory.events, which also counts cg's descendants, or of v1's
 * memory.oom_control, kernel >= 4.13, which counts cg alone). false without a memory
 * controller, when the kernel does not count, and for NULL. */
bool shim_cgroup_oom_killed(const struct shim_cgroup *cg);

/* SIGKILLs every process in cg and below it, wherever its pid namespace or parent: writes
 * cgroup.kill where the kernel has it (cgroup2, >= 5.14), then, in every hierarchy, reads
 * cgroup.procs of cg and its descendants and SIGKILLs what it lists, again and again until
 * nothing is listed and v2's cgroup.events says unpopulated. It blocks: usually for a few
 * milliseconds, SHIM_CGROUP_KILL_MS at most. The killed become zombies of their parents (or
 * of the supervisor, as subreaper), which still reap them. The caller must not be in cg.
 * Returns 0 once cg is empty, -1 with errno EBUSY when processes remained at the deadline
 * (e.g. stuck in uninterruptible sleep). NULL: 0. */
int shim_cgroup_kill_all(const struct shim_cgroup *cg);

/* Removes cg's directory and every cgroup below it (deepest first), in every hierarchy,
 * retrying while the kernel still holds exiting tasks (blocking SHIM_CGROUP_RMDIR_MS at
 * most), and frees cg. It kills nothing: use shim_cgroup_kill_all first. Safe with NULL
 * and with a half-made cgroup; a directory already gone counts as removed. Returns 0 when
 * every directory is gone, -1 with errno (EBUSY: processes left) when some remained. */
int shim_cgroup_destroy(struct shim_cgroup *cg);

/* What cg (and below) uses now, for status and tests; -1 where unknown (all of it for a
 * NULL cg). */
struct shim_cgroup_usage {
    long long memory_bytes; /* v2 memory.current, v1 memory.usage_in_bytes */
    long long pids;         /* pids.current: tasks (threads), zombies until reaped */
    long long cpu_usec;     /* v1 cpuacct.usage / 1000, v2 cpu.stat usage_usec */
};
void shim_cgroup_usage(const struct shim_cgroup *cg, struct shim_cgroup_usage *u);

/* The i-th directory of cg, one per hierarchy (i from 0), or NULL past the last: for
 * status and tests (NULL for a NULL cg). Lives as long as cg. */
const char *shim_cgroup_dir(const struct shim_cgroup *cg, size_t i);

#endif
