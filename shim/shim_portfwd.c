/* shim_portfwd.c — hostPort forwarding: a host listener relaying to localhost in a pod. */
#include "shim_portfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "pk_addr.h"
#include "pk_log.h"

#define NAME_MAX_LEN 300 /* "[IPv6]:PORT -> pod port N" */
#define ACCEPT_PAUSE_MS 100

enum { CLIENT = 0, UPSTREAM = 1 };

struct side {
    struct bufferevent *bev;
    bool eof;    /* this side sent FIN: nothing more to read from it */
    bool shut;   /* we sent FIN to this side (shutdown SHUT_WR) */
    bool paused; /* not read because the other side's output is full */
};

/* One forwarded connection: the host client and the socket inside the pod. */
struct conn {
    struct shim_portfwd *f;
    struct conn *prev, *next;
    struct side side[2];
    bool connected; /* the pod side is connected; until then the client is not read */
};

struct shim_portfwd {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *resume; /* re-enables accepting after an accept error (EMFILE...) */
    int host_ns_fd;       /* the namespace the forwarder was created in */
    int pod_ns_fd;
    struct sockaddr_in upstream; /* 127.0.0.1:container_port */
    uint16_t port;
    char name[NAME_MAX_LEN];
    size_t max_conns;
    struct conn *conns;
    struct shim_portfwd_stats st; /* all but buffered, which is summed on demand */
    shim_portfwd_log_fn *log_fn;
    void *log_arg;
    unsigned depth; /* how many of our callbacks are running */
    bool dying;     /* destroy was called from inside one: free when they return */
};

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errsz == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static void notify(struct shim_portfwd *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void notify(struct shim_portfwd *f, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    if (f->log_fn == NULL) {
        return;
    }
    n = snprintf(msg, sizeof(msg), "%s: ", f->name);
    if (n < 0 || (size_t)n >= sizeof(msg)) {
        n = 0;
    }
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    f->log_fn(f->log_arg, msg);
}

/* Makes the coming close of fd send a RST rather than a FIN: an aborted relay must not
 * look like a complete, cleanly ended reply. */
static void arm_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void close_reset(int fd)
{
    arm_reset(fd);
    close(fd);
}

/* A relay forwards whatever its peers wrote, already coalesced: Nagle would only delay
 * the last small segment of each burst. */
static void set_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A TCP socket that lives in the pod's network namespace: a socket keeps the namespace it
 * was created in, so the thread steps in for socket() only. Returns -1 with errno set. */
static int socket_in_pod(const struct shim_portfwd *f)
{
    int fd, saved;

    if (setns(f->pod_ns_fd, CLONE_NEWNET) == -1) {
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    saved = errno;
    if (setns(f->host_ns_fd, CLONE_NEWNET) == -1) {
        /* Staying would put every later socket of the supervisor (other pods' listeners,
         * probes) in this pod, silently: there is no safe way to go on. */
        pk_log_error("port forward: cannot return to the host network namespace: setns: %s",
                     strerror(errno));
        abort();
    }
    errno = saved;
    return fd;
}

static void enter(struct shim_portfwd *f)
{
    f->depth++;
}

static void free_all(struct shim_portfwd *f);

static void leave(struct shim_portfwd *f)
{
    if (--f->depth == 0 && f->dying) {
        free_all(f);
    }
}

/* Frees c and both its sockets, with a RST when reset. Safe from inside c's own
 * bufferevent callbacks (libevent holds a reference on a bufferevent while it runs one of
 * its callbacks, and clears them on free); the caller must not touch c afterwards. */
static void conn_close(struct conn *c, bool reset)
{
    struct shim_portfwd *f = c->f;

    for (int i = 0; i < 2; i++) {
        struct bufferevent *bev = c->side[i].bev;
        if (bev == NULL) {
            continue;
        }
        if (reset) {
            arm_reset(bufferevent_getfd(bev));
        }
        bufferevent_free(bev); /* closes the socket: BEV_OPT_CLOSE_ON_FREE */
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        f->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    f->st.active--;
    free(c);
}

static void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(struct conn *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->f->st.failed++;
    notify(c->f, "%s", msg);
    conn_close(c, true);
}

static int side_of(const struct conn *c, const struct bufferevent *bev)
{
    return bev == c->side[UPSTREAM].bev ? UPSTREAM : CLIENT;
}

/* Moves what side i has read to the other side's output (no copy: evbuffer chains move),
 * and stops reading side i while that output is at the high watermark. */
static void relay(struct conn *c, int i)
{
    struct shim_portfwd *f = c->f;
    struct evbuffer *in = bufferevent_get_input(c->side[i].bev);
    struct evbuffer *out = bufferevent_get_output(c->side[!i].bev);
    size_t n = evbuffer_get_length(in), pending;

    if (n == 0) {
        return;
    }
    evbuffer_add_buffer(out, in);
    if (i == CLIENT) {
        f->st.bytes_to_pod += n;
    } else {
        f->st.bytes_from_pod += n;
    }
    pending = evbuffer_get_length(out);
    if (pending > f->st.buffered_peak) {
        f->st.buffered_peak = pending;
    }
    /* (A side at EOF is read no more: pausing it would only resume it.) */
    if (pending >= SHIM_PORTFWD_HIGH_WATER && !c->side[i].paused && !c->side[i].eof) {
        c->side[i].paused = true;
        bufferevent_disable(c->side[i].bev, EV_READ);
    }
}

/* Sends FIN to side i (its peer has ended and everything it sent was written); the
 * connection is done once both sides have had one. */
static void shut_write(struct conn *c, int i)
{
    if (shutdown(bufferevent_getfd(c->side[i].bev), SHUT_WR) == -1) {
        conn_close(c, true);
        return;
    }
    c->side[i].shut = true;
    if (c->side[CLIENT].shut && c->side[UPSTREAM].shut) {
        conn_close(c, false);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct shim_portfwd *f = c->f;

    enter(f);
    relay(c, side_of(c, bev));
    leave(f);
}

/* The pod side is connected: from now on both sides are read. */
static void conn_connected(struct conn *c)
{
    c->connected = true;
    bufferevent_set_timeouts(c->side[UPSTREAM].bev, NULL, NULL);
    bufferevent_enable(c->side[CLIENT].bev, EV_READ);
    bufferevent_enable(c->side[UPSTREAM].bev, EV_READ);
}

/* bev's output drained to the low watermark (or was just written while below it). */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct shim_portfwd *f = c->f;
    int i = side_of(c, bev);
    struct side *peer = &c->side[!i];

    enter(f);
    if (!c->connected) {
        /* libevent 2.1 reports a connect that succeeded within connect() with this
         * callback alone, without BEV_EVENT_CONNECTED (Linux answers EINPROGRESS). */
        conn_connected(c);
    }
    if (peer->paused) {
        peer->paused = false;
        bufferevent_enable(peer->bev, EV_READ);
    }
    if (peer->eof && !c->side[i].shut && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        shut_write(c, i);
    }
    leave(f);
}

static void on_eof(struct conn *c, int i)
{
    struct bufferevent *to = c->side[!i].bev;

    c->side[i].eof = true; /* libevent has stopped reading side i */
    relay(c, i);
    if (evbuffer_get_length(bufferevent_get_output(to)) == 0) {
        shut_write(c, !i);
    }
    /* else on_write sends the FIN once the output is written */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct shim_portfwd *f = c->f;
    int i = side_of(c, bev), err = EVUTIL_SOCKET_ERROR();

    enter(f);
    if (what & BEV_EVENT_CONNECTED) {
        conn_connected(c);
    } else if (!c->connected) {
        conn_fail(c, "connect: %s",
                  (what & BEV_EVENT_TIMEOUT) ? "timed out"
                  : err != 0                 ? strerror(err)
                                             : "failed");
    } else if (what & BEV_EVENT_EOF) {
        on_eof(c, i);
    } else {
        /* An error on either side aborts both: pass the reset on. */
        conn_close(c, true);
    }
    leave(f);
}

/* Gives side i its bufferevent on fd, which it owns from here on (closed on failure). */
static int side_open(struct conn *c, int i, int fd)
{
    set_nodelay(fd);
    c->side[i].bev = bufferevent_socket_new(c->f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->side[i].bev == NULL) {
        close_reset(fd);
        return -1;
    }
    return 0;
}

static void conn_open(struct shim_portfwd *f, int client_fd)
{
    struct timeval connect_timeout = {
        .tv_sec = SHIM_PORTFWD_CONNECT_TIMEOUT_MS / 1000,
        .tv_usec = (SHIM_PORTFWD_CONNECT_TIMEOUT_MS % 1000) * 1000,
    };
    struct conn *c = calloc(1, sizeof(*c));
    int up_fd;

    if (c == NULL) {
        f->st.failed++;
        close_reset(client_fd);
        notify(f, "out of memory");
        return;
    }
    c->f = f;
    c->next = f->conns;
    if (f->conns != NULL) {
        f->conns->prev = c;
    }
    f->conns = c;
    f->st.active++;

    if (side_open(c, CLIENT, client_fd) == -1) {
        conn_fail(c, "bufferevent_socket_new failed");
        return;
    }
    up_fd = socket_in_pod(f);
    if (up_fd == -1) {
        conn_fail(c, "socket in the pod's network namespace: %s", strerror(errno));
        return;
    }
    if (side_open(c, UPSTREAM, up_fd) == -1) {
        conn_fail(c, "bufferevent_socket_new failed");
        return;
    }
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(c->side[i].bev, on_read, on_write, on_event, c);
        bufferevent_setwatermark(c->side[i].bev, EV_WRITE, SHIM_PORTFWD_LOW_WATER, 0);
    }
    /* A connect inside the pod waits on the write event: a write timeout bounds it. */
    bufferevent_set_timeouts(c->side[UPSTREAM].bev, NULL, &connect_timeout);
    /* Refused at once or later, the error arrives in on_event, never in this call. */
    if (bufferevent_socket_connect(c->side[UPSTREAM].bev, (struct sockaddr *)&f->upstream,
                                   sizeof(f->upstream)) == -1) {
        conn_fail(c, "connect: %s", strerror(errno));
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct shim_portfwd *f = arg;

    (void)l;
    (void)sa;
    (void)salen;
    enter(f);
    f->st.accepted++;
    if (f->st.active >= f->max_conns) {
        f->st.rejected++;
        close_reset(fd);
        notify(f, "%zu connections open already: refused one", f->max_conns);
    } else {
        conn_open(f, fd);
    }
    leave(f);
}

/* accept() failed for a reason that will not go away by itself (EMFILE, ENOBUFS): the
 * listener would fire again at once, so it rests a moment instead of spinning. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct shim_portfwd *f = arg;
    struct timeval pause = {.tv_sec = 0, .tv_usec = ACCEPT_PAUSE_MS * 1000};
    int err = EVUTIL_SOCKET_ERROR();

    enter(f);
    evconnlistener_disable(l);
    event_add(f->resume, &pause);
    notify(f, "accept: %s; pausing %d ms", strerror(err), ACCEPT_PAUSE_MS);
    leave(f);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct shim_portfwd *f = arg;

    (void)fd;
    (void)what;
    evconnlistener_enable(f->listener);
}

/* A bound, listening, non-blocking socket for a; returns the fd, or -1 with err set. */
static int listen_on(const struct pk_addr *a, const char *shown, char *err, size_t errsz)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, zero = 0;

    pk_addr_sockaddr(a, &ss, &len);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 && a->host[0] == '\0' && errno == EAFNOSUPPORT) {
        /* Every address on a host without IPv6: IPv4's every address. */
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        in4->sin_family = AF_INET;
        in4->sin_port = htons(a->port);
        len = sizeof(*in4);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd == -1) {
        set_err(err, errsz, "listen on %s: socket: %s", shown, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->host[0] == '\0' && ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)); /* IPv4 too */
    }
    if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
        set_err(err, errsz, "bind %s: %s", shown, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, SHIM_PORTFWD_BACKLOG) == -1) {
        set_err(err, errsz, "listen on %s: %s", shown, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void free_all(struct shim_portfwd *f)
{
    while (f->conns != NULL) {
        conn_close(f->conns, true);
    }
    if (f->listener != NULL) {
        evconnlistener_free(f->listener); /* closes the socket: LEV_OPT_CLOSE_ON_FREE */
    }
    if (f->resume != NULL) {
        event_free(f->resume);
    }
    if (f->host_ns_fd != -1) {
        close(f->host_ns_fd);
    }
    if (f->pod_ns_fd != -1) {
        close(f->pod_ns_fd);
    }
    free(f);
}

struct shim_portfwd *shim_portfwd_create(struct event_base *base, const char *host_ip,
                                         int host_port, int netns_fd, int container_port, char *err,
                                         size_t errsz)
{
    struct shim_portfwd *f;
    struct pk_addr a = {.kind = PK_ADDR_INET};
    struct sockaddr_storage ss;
    socklen_t len;
    char shown[PK_ADDR_HOST_MAX + 16];
    int fd;

    if (host_ip == NULL) {
        host_ip = "127.0.0.1";
    }
    if (host_port < 0 || host_port > 65535) {
        set_err(err, errsz, "invalid host port %d (expected 0 to 65535)", host_port);
        return NULL;
    }
    if (container_port < 1 || container_port > 65535) {
        set_err(err, errsz, "invalid container port %d (expected 1 to 65535)", container_port);
        return NULL;
    }
    if (strlen(host_ip) > PK_ADDR_HOST_MAX) {
        set_err(err, errsz, "invalid host IP: too long");
        return NULL;
    }
    strcpy(a.host, host_ip);
    a.port = (uint16_t)host_port;
    if (pk_addr_sockaddr(&a, &ss, &len) == -1) {
        set_err(err, errsz, "invalid host IP '%s' (expected an IPv4 or IPv6 address)", host_ip);
        return NULL;
    }

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        set_err(err, errsz, "out of memory");
        return NULL;
    }
    f->base = base;
    f->host_ns_fd = -1;
    f->pod_ns_fd = -1;
    f->max_conns = SHIM_PORTFWD_MAX_CONNS;
    f->upstream.sin_family = AF_INET;
    f->upstream.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->upstream.sin_port = htons((uint16_t)container_port);
    pk_addr_format(&a, shown, sizeof(shown)); /* for errors; the name waits for the port */

    /* thread-self, not self: setns moves only the calling thread. */
    f->host_ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (f->host_ns_fd == -1) {
        set_err(err, errsz, "open /proc/thread-self/ns/net: %s", strerror(errno));
        goto fail;
    }
    f->pod_ns_fd = fcntl(netns_fd, F_DUPFD_CLOEXEC, 3);
    if (f->pod_ns_fd == -1) {
        set_err(err, errsz, "the pod's network namespace fd %d: %s", netns_fd, strerror(errno));
        goto fail;
    }
    /* Make one socket now, so a wrong fd or a missing privilege fails here, once, rather
     * than on every connection. */
    fd = socket_in_pod(f);
    if (fd == -1) {
        set_err(err, errsz, "socket in the pod's network namespace (fd %d): %s", netns_fd,
                strerror(errno));
        goto fail;
    }
    close(fd);

    fd = listen_on(&a, shown, err, errsz);
    if (fd == -1) {
        goto fail;
    }
    f->listener = evconnlistener_new(base, on_accept, f,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (f->listener == NULL) {
        close(fd);
        set_err(err, errsz, "listen on %s: evconnlistener_new failed", shown);
        goto fail;
    }
    evconnlistener_set_error_cb(f->listener, on_accept_error);
    f->resume = evtimer_new(base, on_resume, f);
    if (f->resume == NULL) {
        set_err(err, errsz, "evtimer_new failed");
        goto fail;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    f->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    a.port = f->port;
    pk_addr_format(&a, shown, sizeof(shown));
    snprintf(f->name, sizeof(f->name), "%s -> pod port %d", shown, container_port);
    return f;

fail:
    free_all(f);
    return NULL;
}

void shim_portfwd_destroy(struct shim_portfwd *f)
{
    if (f == NULL) {
        return;
    }
    if (f->depth > 0) {
        f->dying = true;
        return;
    }
    free_all(f);
}

void shim_portfwd_set_log(struct shim_portfwd *f, shim_portfwd_log_fn *fn, void *arg)
{
    f->log_fn = fn;
    f->log_arg = arg;
}

void shim_portfwd_set_max_conns(struct shim_portfwd *f, size_t max_conns)
{
    f->max_conns = max_conns > 0 ? max_conns : 1;
}

uint16_t shim_portfwd_port(const struct shim_portfwd *f)
{
    return f->port;
}

void shim_portfwd_stats(const struct shim_portfwd *f, struct shim_portfwd_stats *out)
{
    *out = f->st;
    out->buffered = 0;
    for (const struct conn *c = f->conns; c != NULL; c = c->next) {
        for (int i = 0; i < 2; i++) {
            if (c->side[i].bev != NULL) {
                out->buffered += evbuffer_get_length(bufferevent_get_input(c->side[i].bev)) +
                                 evbuffer_get_length(bufferevent_get_output(c->side[i].bev));
            }
        }
    }
}
