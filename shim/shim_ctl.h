/* shim_ctl.h — the supervisor's control socket (DIR/control.sock) and its client. */
#ifndef SHIM_CTL_H
#define SHIM_CTL_H

#include <stddef.h>

#include "shim_pod.h"

/* Requests, one line each; the answer is the rest of the stream:
 *   status            the Pod object as JSON
 *   row               the kubectl table row (see shim_status_row)
 *   ready             "true" when the pod is Ready, "false", or "failed" / "ended"
 *   sandbox           the pid of the pod's pause (which holds its namespaces)
 *   pid NAME          the pid of container NAME's init, or "error: ..."
 *   log NAME N        the path of the log of instance N of NAME (-1: the current one,
 *                     -2: the previous one), and "running" or "exited" on a second line
 * NAME "-" means the pod's only app container (an error listing them when there are more).
 *   delete GRACE      stops the pod (GRACE seconds, -1: the pod's own); the answer,
 *                     "deleted", comes once the pod is torn down
 * An unknown request is answered "error: unknown request" and closed; a line longer
 * than 1 KiB closes the connection. */
struct shim_ctl;

/* Listens on p->dir/control.sock (mode 0600). NULL with err on failure. */
struct shim_ctl *shim_ctl_create(struct shim_podrt *p, char *err, size_t errsz);

/* The pod is torn down: answers every waiting delete. */
void shim_ctl_pod_finished(struct shim_ctl *ctl);

/* Closes the listener and every connection. NULL is fine. */
void shim_ctl_destroy(struct shim_ctl *ctl);

/* Client: sends req to the supervisor whose state directory is dir and returns its whole
 * answer (malloc'd, NUL-terminated) in *out. Blocks until the answer ends. Returns 0, or
 * -1 with err (no such pod, supervisor gone). */
int shim_ctl_call(const char *dir, const char *req, char **out, char *err, size_t errsz);

#endif
