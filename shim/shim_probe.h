/* shim_probe.h — runs one attempt of a probe or lifecycle handler (exec, httpGet, tcpSocket,
 * sleep) inside the supervisor's event loop, without blocking it, and reports the outcome. */
#ifndef SHIM_PROBE_H
#define SHIM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct shim_cgroup;
struct shim_container;
struct shim_handler;
struct shim_sec_plan;

#define SHIM_PROBE_OUTPUT_MAX (10 * 1024)    /* exec output kept (the kubelet's limit too) */
#define SHIM_PROBE_HTTP_READ_MAX (10 * 1024) /* HTTP bytes read at most to find the status */
#define SHIM_PROBE_USER_AGENT "kube-probe/1.31"

/* Where a handler runs; everything is borrowed for the shim_probe_start call only. */
struct shim_probe_target {
    int netns_fd;        /* the pod's network namespace (httpGet, tcpSocket) */
    pid_t container_pid; /* the container's init, as seen from the supervisor (exec: its ipc,
                          * uts, net, pid and mnt namespaces, /proc/PID/environ and cwd) */
    const struct shim_container *spec; /* for port_name; NULL: named ports cannot resolve */
    const struct shim_cgroup *cgroup;  /* exec: the container's cgroup for the command, as
                                        * runc exec does (its limits apply, and
                                        * shim_cgroup_kill_all reaches it); NULL: none */
    const struct shim_sec_plan *security; /* exec: the container's user, groups and
                                           * capabilities, applied to the command as to the
                                           * container's own process; NULL: root with
                                           * every capability */
    char *const *envp; /* exec: the container's environment (NAME=VALUE, NULL-terminated);
                        * NULL: that of container_pid, read from /proc/PID/environ */
    /* Descriptors a caller may keep open so that attempts need not open them each time;
     * -1: opened (and closed) by every attempt that needs them. */
    int home_net_fd; /* the caller's own network namespace, to return to (httpGet, tcp) */
    int home_pid_fd; /* the caller's own pid namespace, to return to (exec) */
    int ctr_pid_fd;  /* exec: container_pid's pid namespace, where the command is born */
};

enum shim_probe_result {
    SHIM_PROBE_SUCCESS,
    SHIM_PROBE_FAILURE, /* the check ran and failed: a status, an exit code, a refusal, a timeout */
    SHIM_PROBE_ERROR,   /* it could not even run: a bad handler, a gone container, no fork...
                         * (the kubelet's "probe errored"; it counts as a failure there) */
};

/* The outcome of one attempt, called exactly once per started attempt that is not
 * cancelled, always from the event loop and never from inside shim_probe_start.
 * message says why, for events and logs ("HTTP probe failed with statuscode: 500", an exec
 * command's output, at most SHIM_PROBE_OUTPUT_MAX bytes of it, NUL bytes shown as '?'); it
 * is never NULL and lives only for the call. When cb runs, the attempt is over and its
 * memory is freed as cb returns: cb must not cancel it (doing so is a harmless no-op),
 * but may start or cancel any other attempt, or free anything of its own. */
typedef void shim_probe_cb(void *arg, enum shim_probe_result result, const char *message);

struct shim_probe_run;

/* Starts one attempt of handler h (a container's probe handler or lifecycle hook) against
 * target t; h and t are borrowed for the call (everything needed is copied). t may be NULL
 * for a sleep.
 *   timeout_ms  the attempt fails ("timed out") when not done by then; 0: no limit (hooks).
 * What each handler does (Kubernetes' semantics; details at the top of shim_probe.c):
 *   exec       the command (no shell, no $(VAR) expansion) in the container's namespaces,
 *              with its environment and working directory; exit 0 is success; stdout and
 *              stderr together are the message. On timeout its process group is killed.
 *              A command that cannot be exec'd is a FAILURE naming why.
 *   httpGet    GET from inside the pod's network namespace; 200-399 is success (redirects
 *              are not followed: a 3xx is a success). host is an IPv4 or IPv6 literal or
 *              "localhost" (NULL: 127.0.0.1); a name is an ERROR (nothing is resolved);
 *              scheme HTTPS is an ERROR (not supported yet).
 *   tcpSocket  a connect from inside the pod's network namespace.
 *   sleep      succeeds after sleep_seconds.
 * Everything that goes wrong, even a bad handler detected right here, reaches cb (later,
 * from the loop) as ERROR or FAILURE: the caller has one path for outcomes. Returns the
 * attempt, owned by this module until cb has run or shim_probe_cancel; NULL only when
 * memory or an event could not be had (err says so, and cb will not run).
 * Requirements: the calling thread is in the host's network namespace and the process has
 * CAP_SYS_ADMIN (setns), as for shim_portfwd; single-threaded (setns moves this thread for
 * the socket() call or the clone only; should returning fail, the process aborts); base
 * outlives the attempt. An exec attempt's command is an ordinary child of the caller
 * (SIGCHLD), started as posix_spawn starts one: it shares the caller's memory until its
 * exec and the caller waits for that (microseconds, unless the command's file sits on a
 * stalled filesystem). The attempt reaps it itself through a pidfd; a caller that reaps
 * with waitpid(-1) must pass every pid it does not know to shim_probe_reaped. */
struct shim_probe_run *shim_probe_start(struct event_base *base, const struct shim_handler *h,
                                        const struct shim_probe_target *t, int64_t timeout_ms,
                                        shim_probe_cb *cb, void *arg, char *err, size_t errsz);

/* Ends an attempt that has not reported: cb will not be called, an exec attempt's process
 * group is killed (SIGKILL) and its process reaped before this returns, sockets and
 * events are freed. Accepts NULL. Safe from inside any callback, this attempt's own cb
 * included (where it does nothing). r must not be used afterwards. */
void shim_probe_cancel(struct shim_probe_run *r);

/* For a caller that reaps with waitpid(-1): when pid, which it has just reaped with wait
 * status status, is attempt r's exec command, hands the status to r and returns true; the
 * outcome still comes later, from the loop. Otherwise (r NULL, not exec, another pid) returns
 * false and does nothing. */
bool shim_probe_reaped(struct shim_probe_run *r, pid_t pid, int status);

/* "Success", "Failure" or "Error", for logs. */
const char *shim_probe_result_name(enum shim_probe_result result);

#endif
