/* shim_health.h — a container's lifecycle hooks and probes, as the kubelet runs them. */
#ifndef SHIM_HEALTH_H
#define SHIM_HEALTH_H

#include "shim_pod.h"

/* Prepares c's probe states (once, at pod creation). Returns 0, or -1 out of memory. */
int shim_health_init(struct shim_ctr *c);

/* c's instance has exec'd: runs postStart (the container counts as running only once it
 * finished; a failure stops the container), then the startup probe, then readiness and
 * liveness, each on its own schedule. */
void shim_health_started(struct shim_ctr *c);

/* c's instance ended: cancels its hook, probes and timers; not ready. */
void shim_health_stopped(struct shim_ctr *c);

/* Stopping c: starts its preStop hook if it has one not yet run. Returns true while the hook
 * runs (its end calls shim_pod_changed, and the stop goes on), false when c may get its stop
 * signal now. */
bool shim_health_prestop(struct shim_ctr *c);

/* Whether some container of p runs a preStop hook now. */
bool shim_health_hooks_running(const struct shim_podrt *p);

/* The pod's reaper got pid, which is none of its containers, with wait status status: when
 * it is the command of one of p's exec probes or hooks, hands the status over (see
 * shim_probe_reaped) and returns true. */
bool shim_health_reaped(struct shim_podrt *p, pid_t pid, int status);

/* Frees what shim_health_init made. */
void shim_health_free(struct shim_ctr *c);

#endif
