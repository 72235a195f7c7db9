/* shim_probe.c — one attempt of a probe or lifecycle handler: dispatch, timeout, delivery.
 *
 * The module runs attempts; the supervisor schedules them (initialDelaySeconds,
 * periodSeconds, thresholds) and decides what an outcome means. Semantics follow the
 * kubelet (v1.31) wherever one host allows:
 *   exec       runs in the container's ipc, uts, net, pid and mnt namespaces with its
 *              environment (/proc/PID/environ) and working directory (/proc/PID/cwd), like
 *              `podshim exec`; no shell, no $(VAR) expansion, stdin /dev/null. Exit 0 is
 *              SUCCESS, any other status FAILURE. The message is the command's stdout and
 *              stderr (the first 10 KiB; the rest is read and dropped), or, when it printed
 *              nothing and failed, its exit code. A command that cannot be exec'd is a
 *              FAILURE ('exec: "x": executable file not found in $PATH'), as runc reports it;
 *              a container that cannot be entered is an ERROR. On timeout the command's
 *              process group is SIGKILLed and the FAILURE says 'command "x" timed out'.
 *   httpGet    "GET path HTTP/1.1" from inside the pod's network namespace with Host
 *              (host:port), User-Agent kube-probe/1.31, Accept of any type, the httpHeaders
 *              (a Host, User-Agent or Accept of theirs replaces ours; an empty Accept drops
 *              it), and Connection: close. Only the status line is read (1xx interim
 *              responses skipped): 200-399 is SUCCESS, anything else "HTTP probe failed
 *              with statuscode: N". Redirects are not followed: a 3xx is a SUCCESS, which is
 *              what the kubelet reports for a redirect to another host (one to the same host
 *              it would follow). A refusal, a reset, a malformed answer or the timeout is a
 *              FAILURE worded as Go's client words it. HTTPS is an ERROR (no TLS library).
 *   tcpSocket  SUCCESS once a connect from inside the pod's network namespace completes.
 *   sleep      SUCCESS after sleep_seconds (a timer: no process).
 * host is an IPv4 or IPv6 literal or "localhost" (NULL: 127.0.0.1, the pod's address here);
 * names are not resolved (an ERROR). A named port is looked up in the container's ports. */
#include "shim_probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "shim_probe_int.h"

static void set_err(char *err, size_t errsz, const char *msg)
{
    if (err != NULL && errsz > 0) {
        snprintf(err, errsz, "%s", msg);
    }
}

/* Everything of r but the memory for its outcome's message (note, out). Idempotent. */
static void release(struct shim_probe_run *r)
{
    if (r->timer != NULL) {
        event_del(r->timer);
    }
    if (r->later != NULL) {
        event_del(r->later);
    }
    shim_probe_net_release(r);
    shim_probe_exec_release(r);
}

static void free_run(struct shim_probe_run *r)
{
    release(r);
    if (r->timer != NULL) {
        event_free(r->timer);
    }
    if (r->later != NULL) {
        event_free(r->later);
    }
    free(r->out);
    free(r->cmdline);
    free(r);
}

void shim_probe_finish(struct shim_probe_run *r, enum shim_probe_result result, const char *message)
{
    /* Sockets closed and the child reaped before cb: what it starts next finds none. */
    release(r);
    r->in_cb = true;
    r->cb(r->arg, result, message != NULL ? message : "");
    free_run(r);
}

void shim_probe_finishf(struct shim_probe_run *r, enum shim_probe_result result, const char *fmt,
                        ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->note, sizeof(r->note), fmt, ap);
    va_end(ap);
    shim_probe_finish(r, result, r->note);
}

void shim_probe_later(struct shim_probe_run *r, enum shim_probe_result result, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->note, sizeof(r->note), fmt, ap);
    va_end(ap);
    r->later_result = result;
    r->decided = true;
    /* Active without being added: runs on the loop's next pass, after start returned. */
    event_active(r->later, EV_TIMEOUT, 1);
}

void shim_probe_strerror(int err, char *buf, size_t bufsz)
{
    char tmp[128];
    const char *s = strerror_r(err, tmp, sizeof(tmp));

    snprintf(buf, bufsz, "%s", s);
    /* Go's syscall errors start in lower case ("connection refused"); keep "I/O ...". */
    if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z') {
        buf[0] = (char)(buf[0] - 'A' + 'a');
    }
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    struct shim_probe_run *r = arg;

    (void)fd;
    (void)what;
    shim_probe_finish(r, r->later_result, r->note);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct shim_probe_run *r = arg;

    (void)fd;
    (void)what;
    switch (r->type) {
    case SHIM_HANDLER_SLEEP:
        if (r->timed_out) {
            shim_probe_finish(r, SHIM_PROBE_FAILURE, "sleep timed out");
        } else {
            shim_probe_finish(r, SHIM_PROBE_SUCCESS, "");
        }
        break;
    case SHIM_HANDLER_EXEC:
        shim_probe_exec_timer(r);
        break;
    default:
        shim_probe_net_timeout(r);
        break;
    }
}

static void add_timer(struct shim_probe_run *r, int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    evtimer_add(r->timer, &tv);
}

/* The port of an httpGet or tcpSocket handler, or -1 after shim_probe_later. */
static int resolve_port(struct shim_probe_run *r, const struct shim_handler *h,
                        const struct shim_container *spec)
{
    if (h->port_name == NULL || h->port_name[0] == '\0') {
        if (h->port < 1 || h->port > 65535) {
            shim_probe_later(r, SHIM_PROBE_ERROR, "invalid port %d (expected 1 to 65535)", h->port);
            return -1;
        }
        return h->port;
    }
    for (size_t i = 0; spec != NULL && i < spec->nports; i++) {
        const struct shim_port *p = &spec->ports[i];
        if (p->name != NULL && strcmp(p->name, h->port_name) == 0) {
            return p->container_port;
        }
    }
    shim_probe_later(r, SHIM_PROBE_ERROR, "couldn't find port: %s in container %s", h->port_name,
                     spec != NULL && spec->name != NULL ? spec->name : "(unknown)");
    return -1;
}

/* Sets up the kind's part of r. Returns -1 when out of memory, else 0 (the outcome may
 * already be decided: shim_probe_later was called). */
static int start_kind(struct shim_probe_run *r, const struct shim_handler *h,
                      const struct shim_probe_target *t, int64_t timeout_ms)
{
    static const struct shim_probe_target nowhere = {
        .netns_fd = -1, .home_net_fd = -1, .home_pid_fd = -1, .ctr_pid_fd = -1};
    int port;

    if (t == NULL) {
        t = &nowhere; /* a sleep needs none; the others then report an ERROR */
    }
    switch (h->type) {
    case SHIM_HANDLER_EXEC:
        return shim_probe_exec_start(r, h, t);
    case SHIM_HANDLER_HTTP:
    case SHIM_HANDLER_TCP:
        port = resolve_port(r, h, t->spec);
        return port < 0 ? 0 : shim_probe_net_start(r, h, t, port);
    case SHIM_HANDLER_SLEEP:
        if (h->sleep_seconds < 0 || h->sleep_seconds > INT64_MAX / 1000) {
            shim_probe_later(r, SHIM_PROBE_ERROR, "invalid sleep of %lld seconds",
                             h->sleep_seconds);
            return 0;
        }
        int64_t ms = (int64_t)h->sleep_seconds * 1000;
        if (timeout_ms > 0 && timeout_ms < ms) {
            ms = timeout_ms;
            r->timed_out = true;
        }
        add_timer(r, ms);
        return 0;
    case SHIM_HANDLER_NONE:
    default:
        shim_probe_later(r, SHIM_PROBE_ERROR, "no handler to run");
        return 0;
    }
}

struct shim_probe_run *shim_probe_start(struct event_base *base, const struct shim_handler *h,
                                        const struct shim_probe_target *t, int64_t timeout_ms,
                                        shim_probe_cb *cb, void *arg, char *err, size_t errsz)
{
    struct shim_probe_run *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        set_err(err, errsz, "out of memory");
        return NULL;
    }
    r->base = base;
    r->type = h->type;
    r->cb = cb;
    r->arg = arg;
    r->fd = r->out_fd = r->pidfd = -1;
    r->timer = evtimer_new(base, on_timer, r);
    r->later = event_new(base, -1, 0, on_later, r);
    if (r->timer == NULL || r->later == NULL) {
        set_err(err, errsz, "event_new failed");
        free_run(r);
        return NULL;
    }
    if (timeout_ms < 0) {
        shim_probe_later(r, SHIM_PROBE_ERROR, "invalid timeout of %lld ms", (long long)timeout_ms);
        return r;
    }
    if (start_kind(r, h, t, timeout_ms) < 0) {
        set_err(err, errsz, "out of memory");
        free_run(r);
        return NULL;
    }
    if (timeout_ms > 0 && h->type != SHIM_HANDLER_SLEEP && !r->decided) {
        add_timer(r, timeout_ms);
    }
    return r;
}

void shim_probe_cancel(struct shim_probe_run *r)
{
    if (r == NULL || r->in_cb) {
        return; /* in its own cb: freed when cb returns */
    }
    free_run(r);
}

const char *shim_probe_result_name(enum shim_probe_result result)
{
    switch (result) {
    case SHIM_PROBE_SUCCESS:
        return "Success";
    case SHIM_PROBE_FAILURE:
        return "Failure";
    default:
        return "Error";
    }
}
