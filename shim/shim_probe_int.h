/* shim_probe_int.h — what shim_probe.c, shim_probe_net.c and shim_probe_exec.c share. */
#ifndef SHIM_PROBE_INT_H
#define SHIM_PROBE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "shim_manifest.h"
#include "shim_probe.h"

#define PROBE_NOTE_MAX 512 /* a message that is not an exec command's output */

struct event;

/* One attempt. The kind's part is set up by its _start and released by its _release, which
 * must accept a half-built attempt (fds -1, pointers NULL). */
struct shim_probe_run {
    struct event_base *base;
    enum shim_handler_type type;
    shim_probe_cb *cb;
    void *arg;
    struct event *timer; /* the timeout, when there is one; for SLEEP the sleep itself */
    struct event *later; /* delivers an outcome decided inside shim_probe_start */
    enum shim_probe_result later_result;
    bool decided; /* shim_probe_later was called: no timeout, the outcome is known */
    bool in_cb;   /* cb is running: cancel is a no-op, the attempt is freed when it returns */
    char note[PROBE_NOTE_MAX];

    /* httpGet, tcpSocket */
    int fd;             /* the socket, made inside the pod's network namespace */
    struct event *io;   /* write readiness until the request is sent, then read */
    bool sending;       /* io watches EV_WRITE (connecting, then writing the request) */
    char hostport[280]; /* "127.0.0.1:8080", "[::1]:8080": for Host and for messages */
    char *url;          /* HTTP: "http://127.0.0.1:8080/path", malloc'd */
    char *req;          /* HTTP: the request, malloc'd */
    size_t req_len, req_off;
    char *resp; /* HTTP: what was read, up to SHIM_PROBE_HTTP_READ_MAX, malloc'd */
    size_t resp_len;

    /* exec */
    pid_t pid;            /* the command, our child (no exit signal), until reaped; 0 after */
    int pidfd;            /* its pidfd: readable once it has ended */
    int out_fd;           /* read end of the command's stdout and stderr */
    struct event *exit_ev; /* on pidfd */
    struct event *out_ev;  /* on out_fd, until EOF */
    char rep[256];         /* why the child could not run the command (a struct report) */
    size_t rep_len;
    char *out; /* the first SHIM_PROBE_OUTPUT_MAX bytes of output, malloc'd */
    size_t out_len;
    bool timed_out; /* killed for the timeout: report that once reaped */
    bool ending;    /* the pidfd was readable: timer retries the reaping */
    bool claimed;   /* the caller reaped the command (shim_probe_reaped) */
    int claimed_status;
    char *cmdline;  /* the command as one string, for messages, malloc'd */
};

/* Reports result and message to the caller, then frees r (the kind's part included).
 * Only from a callback of r's events, never from inside shim_probe_start. */
void shim_probe_finish(struct shim_probe_run *r, enum shim_probe_result result,
                       const char *message);

/* finish() with a printf-style message. */
void shim_probe_finishf(struct shim_probe_run *r, enum shim_probe_result result, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

/* From inside shim_probe_start: has result and message reported from the loop, soon. */
void shim_probe_later(struct shim_probe_run *r, enum shim_probe_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* httpGet and tcpSocket (shim_probe_net.c). _start returns 0 once the connection is under
 * way, or when it has already called shim_probe_later (a bad handler, a refusal at once);
 * -1 only when out of memory. */
int shim_probe_net_start(struct shim_probe_run *r, const struct shim_handler *h,
                         const struct shim_probe_target *t, int port);
void shim_probe_net_timeout(struct shim_probe_run *r);
void shim_probe_net_release(struct shim_probe_run *r);

/* exec (shim_probe_exec.c), likewise. _release kills and reaps a child still running. */
int shim_probe_exec_start(struct shim_probe_run *r, const struct shim_handler *h,
                          const struct shim_probe_target *t);
void shim_probe_exec_timer(struct shim_probe_run *r); /* r->timer fired */
void shim_probe_exec_release(struct shim_probe_run *r);

/* strerror(err) as Go words it: "connection refused". */
void shim_probe_strerror(int err, char *buf, size_t bufsz);

#endif
