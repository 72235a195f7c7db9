/* shim_status.h — a pod's status as Kubernetes prints it: a Pod object (JSON, YAML) or a row. */
#ifndef SHIM_STATUS_H
#define SHIM_STATUS_H

#include <stddef.h>
#include <stdio.h>

#include "shim_pod.h"

/* The pod as a Kubernetes v1 Pod object in JSON: metadata, the spec's container names and
 * images, and a status with phase, conditions, podIP, startTime, initContainerStatuses and
 * containerStatuses (state, lastState, ready, started, restartCount, containerID).
 * Returns a malloc'd string, or NULL when out of memory. */
char *shim_status_json(const struct shim_podrt *p);

/* The kubectl table row: NAME READY STATUS RESTARTS AGE IP NODE, tab-separated, no
 * newline. STATUS follows kubectl: Init:N/M, Init:Error, PodInitializing, a waiting or
 * terminated reason (CrashLoopBackOff, Completed, Error), Terminating, or the phase. */
void shim_status_row(const struct shim_podrt *p, char *buf, size_t bufsz);

/* Re-emits a JSON document as block-style YAML (strings plain where that reads back as
 * the same string). Returns 0, or -1 with err on a JSON syntax error. */
int shim_json_to_yaml(const char *json, FILE *out, char *err, size_t errsz);

/* "5s", "2m3s", "7m", "3h", "2d": kubectl's AGE for a duration in seconds. */
void shim_age(long long seconds, char *buf, size_t bufsz);

#endif
