/* sl_out_local.c — the outputs that need no protocol: stdout, file:PATH and tcp://HOST:PORT. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "pk_addr.h"
#include "pk_log.h"
#include "sl_out.h"

#define WHY_MAX 320
#define REOPEN_CHECK_NS 1000000000LL /* a file output looks for rotation at most this often */
/* Room for one record of JSON besides its text, path and extra, when a block's encoding is
 * sized up front: a little more than sl_enc.c writes, so a block seldom takes two chains. */
#define JSON_GUESS 128

/* Encodes the records of nblk blocks from first onto buf, in o's format. Space for each
 * block is made once, so records are written into one chain without allocating.
 * Returns 0, or -1 when memory runs out (buf then holds part of the batch). */
static int encode_batch(struct sl_out *o, struct evbuffer *buf, struct sl_block *first, size_t nblk)
{
    const struct sl_enc *enc = sl_out_enc(o);
    enum sl_format f = sl_out_format(o);
    struct sl_block *b = first;

    for (size_t i = 0; i < nblk; i++, b = b->next) {
        size_t each = f == SL_FMT_RAW ? 1 : JSON_GUESS + strlen(b->src->path) + enc->extra_len;
        if (b->nrec == 0) {
            continue;
        }
        if (evbuffer_expand(buf, b->len + b->nrec * each) < 0) {
            return -1;
        }
        for (size_t k = 0; k < b->nrec; k++) {
            if (sl_enc_record(enc, f, buf, b, &b->rec[k]) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* ---- stdout and file:PATH ---------------------------------------------------------------- */

struct fdout {
    struct sl_out *o;
    int fd;     /* 1, or the file's; -1 while it is not open */
    char *path; /* file: its path; stdout: NULL */
    struct evbuffer *buf;
    /* The batch buf holds what is left of after a failed try (a short write before an
     * error): it is finished, not written again, when the same batch comes back. */
    uint64_t buf_seq;
    size_t buf_nblk;
    struct event *writable; /* stdout: a non-blocking pipe that was full */
    int64_t checked_ns;     /* file: when it was last looked for rotation (monotonic) */
};

static void *fdout_new(struct sl_out *o, int fd, const char *path, char *err, size_t errsz)
{
    struct fdout *w = calloc(1, sizeof(*w));

    if (w == NULL || (w->buf = evbuffer_new()) == NULL ||
        (path != NULL && (w->path = strdup(path)) == NULL)) {
        snprintf(err, errsz, "out of memory");
        if (w != NULL && w->buf != NULL) {
            evbuffer_free(w->buf);
        }
        free(w);
        return NULL;
    }
    w->o = o;
    w->fd = fd;
    return w;
}

static void fdout_close(void *state)
{
    struct fdout *w = state;

    if (w->writable != NULL) {
        event_free(w->writable);
    }
    if (w->path != NULL && w->fd >= 0) {
        close(w->fd);
    }
    evbuffer_free(w->buf);
    free(w->path);
    free(w);
}

static void fdout_flush(struct fdout *w);

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fdout_flush(arg);
}

/* Writes all of buf (writev of its chains), then the batch is done. A pipe that is full
 * is waited for; a regular file or a blocking stdout simply blocks, as a terminal must. */
static void fdout_flush(struct fdout *w)
{
    char why[WHY_MAX];

    while (evbuffer_get_length(w->buf) > 0) {
        int n = evbuffer_write(w->buf, w->fd);
        if (n > 0) {
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (w->writable == NULL) {
                w->writable = event_new(sl_out_base(w->o), w->fd, EV_WRITE, on_writable, w);
            }
            if (w->writable != NULL && event_add(w->writable, NULL) == 0) {
                return;
            }
            snprintf(why, sizeof(why), "cannot wait for %s to be writable",
                     w->path != NULL ? w->path : "stdout");
        } else {
            snprintf(why, sizeof(why), "write to %s: %s", w->path != NULL ? w->path : "stdout",
                     n < 0 ? strerror(errno) : "nothing written");
        }
        sl_out_done(w->o, why);
        return;
    }
    w->buf_seq = 0;
    sl_out_done(w->o, NULL);
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Opens the file, or opens it again when it was removed or renamed away since (logrotate
 * of our own output): checked at most once a second, two stat calls. 0, or -1 with why. */
static int file_ready(struct fdout *w, char *why, size_t whysz)
{
    int64_t now = monotonic_ns();
    struct stat fs, ps;

    if (w->fd >= 0) {
        if (now - w->checked_ns < REOPEN_CHECK_NS) {
            return 0;
        }
        w->checked_ns = now;
        if (fstat(w->fd, &fs) == 0 && fs.st_nlink > 0 && stat(w->path, &ps) == 0 &&
            ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino) {
            return 0;
        }
        pk_log_info("output '%s': %s was rotated or removed: opening it again", sl_out_spec(w->o),
                    w->path);
        close(w->fd);
        w->fd = -1;
    }
    w->fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (w->fd < 0) {
        snprintf(why, whysz, "open %s: %s", w->path, strerror(errno));
        return -1;
    }
    w->checked_ns = now;
    return 0;
}

static void fdout_send(void *state, struct sl_block *first, size_t nblk)
{
    struct fdout *w = state;
    char why[WHY_MAX];

    if (w->path != NULL && file_ready(w, why, sizeof(why)) < 0) {
        sl_out_done(w->o, why);
        return;
    }
    if (w->buf_seq != first->seq || w->buf_nblk != nblk) {
        evbuffer_drain(w->buf, evbuffer_get_length(w->buf));
        w->buf_seq = first->seq;
        w->buf_nblk = nblk;
        if (encode_batch(w->o, w->buf, first, nblk) < 0) {
            evbuffer_drain(w->buf, evbuffer_get_length(w->buf));
            w->buf_seq = 0;
            sl_out_done(w->o, "out of memory");
            return;
        }
    }
    fdout_flush(w);
}

static void *stdout_open(struct sl_out *o, const char *spec, char *err, size_t errsz)
{
    if (strcmp(spec, "stdout") != 0) {
        snprintf(err, errsz, "stdout takes no parameters but format");
        return NULL;
    }
    return fdout_new(o, STDOUT_FILENO, NULL, err, errsz);
}

static void *file_open(struct sl_out *o, const char *spec, char *err, size_t errsz)
{
    if (strncmp(spec, "file:", 5) != 0 || spec[5] == '\0') {
        snprintf(err, errsz, "expected file:PATH");
        return NULL;
    }
    return fdout_new(o, -1, spec + 5, err, errsz); /* opened at the first batch */
}

const struct sl_out_driver sl_out_stdout = {
    .scheme = "stdout",
    .default_format = SL_FMT_RAW,
    .immediate = true,
    .open = stdout_open,
    .send = fdout_send,
    .close = fdout_close,
};

const struct sl_out_driver sl_out_file = {
    .scheme = "file",
    .default_format = SL_FMT_RAW,
    .immediate = true,
    .open = file_open,
    .send = fdout_send,
    .close = fdout_close,
};

/* ---- tcp://HOST:PORT ----------------------------------------------------------------------- */

/*
 * One connection, made when a batch is to be sent and kept. TCP has no acknowledgement an
 * application can see, so a batch counts as delivered once all of it was written to the
 * kernel: what the kernel still held when the peer died is lost, and a batch that failed
 * half-written is sent whole again on a new connection (duplicates of that batch only).
 */
struct tcp {
    struct sl_out *o;
    struct pk_addr addr;
    struct evdns_base *dns;  /* made at the first connection to a host name */
    struct bufferevent *bev; /* NULL: not connected */
    bool connected;
    bool sending;         /* a batch is being written: its end is the ack */
    struct evbuffer *buf; /* a batch is encoded here, a slice at a time, then moved to bev */
    /* What of the batch is not encoded yet. Encoding a slice at a time as the socket
     * drains keeps the encoded batch (JSON is ~2.5x the text) from adding megabytes to
     * RSS. */
    struct sl_out_walk rest;
    bool more; /* rest has records left */
};

#define TCP_SLICE (512u * 1024)  /* encoded bytes queued on the socket at most, about */
#define TCP_REFILL (256u * 1024) /* encode more once the queue is below this */

/* Encodes the next slice of the batch into bev's output. Returns 0, or -1 (memory). */
static int tcp_refill(struct tcp *t)
{
    const struct sl_enc *enc = sl_out_enc(t->o);
    enum sl_format f = sl_out_format(t->o);
    struct evbuffer *out = bufferevent_get_output(t->bev);
    const struct sl_block *b;
    const struct sl_rec *r;

    while (t->more && evbuffer_get_length(t->buf) < TCP_SLICE) {
        if ((r = sl_out_walk_next(&t->rest, &b)) == NULL) {
            t->more = false;
        } else if (sl_enc_record(enc, f, t->buf, b, r) < 0) {
            return -1;
        }
    }
    /* Moves the chains: no copy. */
    return evbuffer_add_buffer(out, t->buf);
}

static void tcp_drop(struct tcp *t)
{
    if (t->bev != NULL) {
        bufferevent_free(t->bev); /* safe inside its own callbacks */
        t->bev = NULL;
    }
    t->connected = false;
}

/* The connection failed or ended: a batch in flight failed with it. */
static void tcp_fail(struct tcp *t, const char *why)
{
    bool sending = t->sending;

    tcp_drop(t);
    t->sending = false;
    if (sending) {
        sl_out_done(t->o, why);
    } else {
        pk_log_debug("output '%s': connection closed while idle: %s", sl_out_spec(t->o), why);
    }
}

static void tcp_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    /* The peer has nothing to say in this protocol: whatever it sends is dropped. */
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void tcp_write(struct bufferevent *bev, void *arg)
{
    struct tcp *t = arg;

    if (!t->sending) {
        return;
    }
    if (t->more) {
        if (tcp_refill(t) < 0) {
            tcp_fail(t, "out of memory");
        }
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        t->sending = false;
        sl_out_done(t->o, NULL);
    }
}

static void tcp_event(struct bufferevent *bev, short what, void *arg)
{
    struct tcp *t = arg;
    char why[WHY_MAX];

    if (what & BEV_EVENT_CONNECTED) {
        int fd = bufferevent_getfd(bev);
        int one = 1;
        /* A batch is written whole: Nagle would only hold its last segment back. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* libevent makes a name's socket without it */
        t->connected = true;
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof(why), "%s", t->connected ? "write timed out" : "connect timed out");
    } else if (what & BEV_EVENT_ERROR) {
        int dns_err = bufferevent_socket_get_dns_error(bev);
        snprintf(why, sizeof(why), "%s: %s",
                 dns_err != 0                 ? "resolve"
                 : !t->connected              ? "connect"
                 : (what & BEV_EVENT_READING) ? "read"
                                              : "write",
                 dns_err != 0 ? evutil_gai_strerror(dns_err)
                              : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    } else {
        snprintf(why, sizeof(why), "connection closed by the peer");
    }
    tcp_fail(t, why);
}

/* Starts a connection. 0, or -1 with why. An IP address is connected to here, so that a
 * refusal seen at once is reported with its own errno (libevent would report it later, with
 * errno long gone); a name goes through libevent's lookup, and the first address it gives. */
static int tcp_connect(struct tcp *t, char *why, size_t whysz)
{
    const struct sl_out_conf *c = sl_out_conf(t->o);
    struct event_base *base = sl_out_base(t->o);
    struct sockaddr_storage ss;
    socklen_t len;
    bool literal = pk_addr_sockaddr(&t->addr, &ss, &len) == 0;
    int fd = -1, rc;

    if (literal) {
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)) {
            snprintf(why, whysz, "%s: %s", fd < 0 ? "socket" : "connect", strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
    } else if (t->dns == NULL &&
               (t->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
        snprintf(why, whysz, "cannot start a DNS resolver for %s", t->addr.host);
        return -1;
    }
    if ((t->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        snprintf(why, whysz, "cannot make a connection object");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    bufferevent_setcb(t->bev, tcp_read, tcp_write, tcp_event, t);
    bufferevent_setwatermark(t->bev, EV_WRITE, TCP_REFILL, 0);
    if (c->timeout_ms > 0) {
        /* The write timeout covers the connect too, and a peer that stops reading. */
        struct timeval tv = {(time_t)(c->timeout_ms / 1000),
                             (suseconds_t)(c->timeout_ms % 1000 * 1000)};
        bufferevent_set_timeouts(t->bev, NULL, &tv);
    }
    bufferevent_enable(t->bev, EV_READ | EV_WRITE);
    rc = literal ? bufferevent_socket_connect(t->bev, NULL, 0) /* ours: tell when it is done */
                 : bufferevent_socket_connect_hostname(t->bev, t->dns, AF_UNSPEC, t->addr.host,
                                                       t->addr.port);
    if (rc < 0) {
        snprintf(why, whysz, "connect: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        tcp_drop(t);
        return -1;
    }
    return 0;
}

static void tcp_send(void *state, struct sl_block *first, size_t nblk)
{
    struct tcp *t = state;
    char why[WHY_MAX];

    evbuffer_drain(t->buf, evbuffer_get_length(t->buf));
    if (t->bev == NULL && tcp_connect(t, why, sizeof(why)) < 0) {
        sl_out_done(t->o, why);
        return;
    }
    sl_out_walk_start(&t->rest, first, nblk);
    t->more = true;
    if (tcp_refill(t) < 0) {
        evbuffer_drain(t->buf, evbuffer_get_length(t->buf));
        sl_out_done(t->o, "out of memory");
        return;
    }
    t->sending = true;
}

static void *tcp_open(struct sl_out *o, const char *spec, char *err, size_t errsz)
{
    struct pk_addr addr, probe;
    char perr[128];
    struct tcp *t;

    if (strncmp(spec, "tcp://", 6) != 0) {
        snprintf(err, errsz, "expected tcp://HOST:PORT");
        return NULL;
    }
    spec += 6;
    if (pk_addr_parse(spec, 0, &addr, perr, sizeof(perr)) < 0) {
        /* Says "no port" when that is all that is wrong. */
        bool only_port = pk_addr_parse(spec, 1, &probe, err, errsz) == 0;
        snprintf(err, errsz, "%s", only_port ? "no port" : perr);
        return NULL;
    }
    if (addr.kind != PK_ADDR_INET || addr.host[0] == '\0' || addr.port == 0) {
        snprintf(err, errsz, "%s",
                 addr.kind != PK_ADDR_INET ? "expected tcp://HOST:PORT"
                 : addr.host[0] == '\0'    ? "no host"
                                           : "port 0");
        return NULL;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL || (t->buf = evbuffer_new()) == NULL) {
        free(t);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    t->o = o;
    t->addr = addr;
    return t;
}

static void tcp_close(void *state)
{
    struct tcp *t = state;

    tcp_drop(t);
    if (t->dns != NULL) {
        /* A lookup in progress holds a reference on the bufferevent just freed: failing it
         * (in a later turn of the loop) lets that go; dropping it silently would leak. */
        evdns_base_free(t->dns, 1);
    }
    evbuffer_free(t->buf);
    free(t);
}

const struct sl_out_driver sl_out_tcp = {
    .scheme = "tcp",
    .default_format = SL_FMT_JSON,
    .immediate = true,
    .open = tcp_open,
    .send = tcp_send,
    .close = tcp_close,
};
