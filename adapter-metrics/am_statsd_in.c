/* am_statsd_in.c — statsd listeners: UDP and unixgram read by a thread of their own into a
 * bounded queue the loop drains, TCP read on the loop in whole lines.
 *
 * Datagrams: the loop can be busy for tens of milliseconds (a large scrape is rendered and
 * gzipped on it), which at 100k packets/s overflows a socket's receive buffer. So a reader
 * thread does nothing but wait in poll() and take datagrams with recvmmsg, BATCH at a time,
 * into a queue of chunks (at most AM_STATSD_QUEUE_BYTES), and wakes the loop through an
 * eventfd only when the loop said it had run dry. The loop hands at most DRAIN_MAX datagrams
 * to the callback per turn and, when more is left, comes back through a zero timer, so
 * sockets and timers get their turn in between. A datagram is copied once, from the
 * thread's receive slots into the queue; the callback reads it in place.
 *
 * The queue is a list of CHUNK_BYTES chunks of records (a uint32_t length, then the bytes),
 * made with mmap and given back with munmap (one kept spare), so memory comes back after a
 * burst; a queue that runs dry starts its chunk over. The thread appends and the loop
 * consumes under one mutex, held for a batch's copy or a look at the ends, never during a
 * callback: bytes below a chunk's 'used' are never written again until the loop is done
 * with them.
 *
 * TCP: accepted on the loop (at most TCP_CONNS_MAX connections at once), each read handed
 * over as the run of whole lines it completes, at most AM_STATSD_LINE_MAX + 1 bytes per call;
 * a line longer than that is dropped to its end. At EOF a last line without '\n' is handed
 * over too (statsd clients often leave it out). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "am_src.h"
#include "pk_addr.h"

#define BATCH 32                        /* datagrams per recvmmsg */
#define BURST_ROUNDS 64                 /* full batches read before poll looks at the stop */
#define CHUNK_BYTES ((size_t)256 << 10) /* a queue chunk, its header included */
#define CHUNKS_MAX (AM_STATSD_QUEUE_BYTES / CHUNK_BYTES)
#define DRAIN_MAX 1024         /* datagrams handed over per turn of the loop */
#define RCVBUF_BYTES (8 << 20) /* the receive buffer asked for */
#define TCP_CONNS_MAX 1024     /* connections at once; more are closed at once */
#define TCP_BACKLOG 128
#define ACCEPT_PAUSE_MS 100      /* out of descriptors: accepting waits this long */
#define DRAIN_SOCKET_ROUNDS 1024 /* destroy with drain: batches still read from the socket */
#define NAME_MAX_LEN (PK_ADDR_HOST_MAX + 32)

struct chunk {
    struct chunk *next;
    size_t used; /* bytes of records, written under the queue's lock */
    char data[];
};

#define CHUNK_DATA (CHUNK_BYTES - offsetof(struct chunk, data))
_Static_assert(sizeof(uint32_t) + AM_STATSD_DGRAM_MAX <= CHUNK_DATA, "a datagram fits a chunk");

struct tcp_conn {
    struct am_statsd_in *in;
    struct bufferevent *bev;
    struct tcp_conn *prev, *next;
    bool skipping; /* inside a line that was too long: dropped up to its '\n' */
};

struct am_statsd_in {
    struct event_base *base;
    enum am_src_kind kind;
    am_statsd_fn *cb;
    void *arg;
    int fd;          /* the datagram socket (the TCP listener owns its own) */
    char *unix_path; /* unixgram: made here, unlinked at the end; NULL for abstract ones */
    uint16_t port;

    /* datagrams: the thread's side */
    pthread_t thread;
    bool thread_started;
    int stop_fd; /* eventfd: readable when the thread must stop */
    int wake_fd; /* eventfd: the thread wakes the loop */
    char *slots; /* BATCH receive buffers of AM_STATSD_DGRAM_MAX bytes */
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctl[BATCH];       /* each datagram's SO_RXQ_OVFL */
    uint32_t ovfl_last; /* the socket's drop count, as last seen */
    _Atomic uint64_t kernel_drops, queue_drops, truncated;

    /* datagrams: the queue, under mu */
    pthread_mutex_t mu;
    bool mu_made;
    struct chunk *head, *tail, *spare;
    size_t nchunks;
    bool need_wake; /* the loop ran dry: the next append writes wake_fd */
    size_t rd;      /* the loop's offset in head (the loop alone touches it) */

    /* datagrams: the loop's side */
    struct event *wake_ev; /* wake_fd readable */
    struct event *more_ev; /* a zero timer: more was left after a turn */

    /* tcp */
    struct evconnlistener *listener;
    struct event *resume_ev; /* accepting again after a pause */
    struct tcp_conn *conns;
    size_t nconns;

    /* the loop's counters */
    uint64_t packets, bytes, tcp_conns, long_lines;
};

static void *bad(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *bad(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (errsz > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* The URL as it reads, for messages: "statsd+udp://[::1]:9125", "statsd+unix:/run/s". */
static void url_name(const struct am_src_url *u, char *buf, size_t bufsz)
{
    bool v6 = u->host != NULL && strchr(u->host, ':') != NULL;

    switch (u->kind) {
    case AM_SRC_STATSD_UNIX:
        snprintf(buf, bufsz, "statsd+unix:%s", u->path != NULL ? u->path : "");
        break;
    case AM_SRC_STATSD_UDP:
    case AM_SRC_STATSD_TCP:
        snprintf(buf, bufsz, "statsd+%s://%s%s%s:%u", u->kind == AM_SRC_STATSD_UDP ? "udp" : "tcp",
                 v6 ? "[" : "", u->host != NULL ? u->host : "", v6 ? "]" : "", (unsigned)u->port);
        break;
    default:
        snprintf(buf, bufsz, "(not a statsd URL)");
        break;
    }
}

static void deliver(struct am_statsd_in *in, const char *buf, size_t len)
{
    in->packets++;
    in->bytes += len;
    in->cb(in->arg, buf, len);
}

/* ---- the queue ------------------------------------------------------------------------ */

static struct chunk *chunk_new(void)
{
    void *m = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return m != MAP_FAILED ? m : NULL;
}

static void chunk_free(struct chunk *c)
{
    if (c != NULL) {
        munmap(c, CHUNK_BYTES);
    }
}

/* Appends one datagram (lock held). 0, or -1 when the queue is full. */
static int queue_put(struct am_statsd_in *in, const char *buf, size_t len)
{
    uint32_t len32 = (uint32_t)len;
    size_t need = sizeof(len32) + len;
    struct chunk *c = in->tail;

    if (c == NULL || c->used + need > CHUNK_DATA) {
        if (in->nchunks >= CHUNKS_MAX) {
            return -1;
        }
        if (in->spare != NULL) {
            c = in->spare;
            in->spare = NULL;
        } else if ((c = chunk_new()) == NULL) {
            return -1;
        }
        c->next = NULL;
        c->used = 0;
        if (in->tail != NULL) {
            in->tail->next = c;
        } else {
            in->head = c; /* the first: the loop's rd is 0 */
        }
        in->tail = c;
        in->nchunks++;
    }
    memcpy(c->data + c->used, &len32, sizeof(len32));
    memcpy(c->data + c->used + sizeof(len32), buf, len);
    c->used += need;
    return 0;
}

/*
 * Hands at most max queued datagrams to the callback (the loop's side). Returns true when the
 * queue is empty afterwards; then the next append wakes the loop.
 */
static bool queue_drain(struct am_statsd_in *in, size_t max)
{
    size_t n = 0;

    for (;;) {
        struct chunk *c, *done = NULL;
        size_t end;
        bool empty;

        pthread_mutex_lock(&in->mu);
        c = in->head;
        if (c != NULL && in->rd == c->used) {
            if (c->next != NULL) {
                in->head = c->next;
                in->nchunks--;
                in->rd = 0;
                if (in->spare == NULL) {
                    in->spare = c;
                } else {
                    done = c;
                }
                c = in->head;
            } else {
                c->used = 0; /* dry: the chunk starts over, its pages stay the warm ones */
                in->rd = 0;
            }
        }
        end = c != NULL ? c->used : 0;
        empty = in->rd == end;
        if (empty || n >= max) {
            in->need_wake = empty;
            pthread_mutex_unlock(&in->mu);
            chunk_free(done);
            return empty;
        }
        pthread_mutex_unlock(&in->mu);
        chunk_free(done);
        /* [rd, end) is whole and stays as it is until rd passes it: no lock needed. */
        while (in->rd < end && n < max) {
            uint32_t len;
            memcpy(&len, c->data + in->rd, sizeof(len));
            const char *buf = c->data + in->rd + sizeof(len);
            in->rd += sizeof(len) + len;
            n++;
            deliver(in, buf, len);
        }
    }
}

/* ---- the reader thread ---------------------------------------------------------------- */

/* The socket's drop count from a datagram's SO_RXQ_OVFL, if it carries one. */
static void note_kernel_drops(struct am_statsd_in *in, struct msghdr *h)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
            cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(cm), sizeof(v));
            /* A 32-bit counter of the socket's whole life: its growth is what counts. */
            atomic_fetch_add_explicit(&in->kernel_drops, (uint32_t)(v - in->ovfl_last),
                                      memory_order_relaxed);
            in->ovfl_last = v;
        }
    }
}

/* Moves n received datagrams into the queue, and wakes the loop if it ran dry. */
static void enqueue_batch(struct am_statsd_in *in, int n)
{
    uint64_t dropped = 0, truncated = 0;
    bool wake;

    for (int i = 0; i < n; i++) {
        note_kernel_drops(in, &in->msgs[i].msg_hdr);
    }
    pthread_mutex_lock(&in->mu);
    for (int i = 0; i < n; i++) {
        if (in->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            truncated++;
        } else if (queue_put(in, in->slots + (size_t)i * AM_STATSD_DGRAM_MAX, in->msgs[i].msg_len) <
                   0) {
            dropped++;
        }
    }
    wake = in->need_wake && dropped + truncated < (uint64_t)n;
    if (wake) {
        in->need_wake = false;
    }
    pthread_mutex_unlock(&in->mu);
    if (dropped > 0) {
        atomic_fetch_add_explicit(&in->queue_drops, dropped, memory_order_relaxed);
    }
    if (truncated > 0) {
        atomic_fetch_add_explicit(&in->truncated, truncated, memory_order_relaxed);
    }
    if (wake) {
        uint64_t one = 1;
        ssize_t w = write(in->wake_fd, &one, sizeof(one));
        (void)w; /* EAGAIN: the counter is full, the loop is woken anyway */
    }
}

/* One recvmmsg into the slots. The number of datagrams, 0 when there are none, or -1. */
static int receive_batch(struct am_statsd_in *in)
{
    int n;

    for (int i = 0; i < BATCH; i++) {
        in->msgs[i].msg_hdr.msg_controllen = sizeof(in->ctl[i].buf);
        in->msgs[i].msg_hdr.msg_flags = 0;
    }
    do {
        n = recvmmsg(in->fd, in->msgs, BATCH, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return 0;
    }
    return n;
}

static void *reader_main(void *arg)
{
    struct am_statsd_in *in = arg;
    struct pollfd pfd[2] = {{.fd = in->fd, .events = POLLIN},
                            {.fd = in->stop_fd, .events = POLLIN}};

    for (;;) {
        int n = poll(pfd, 2, -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 || pfd[1].revents != 0) {
            break;
        }
        /* Full batches mean more is waiting: read on without asking poll. */
        for (int round = 0; round < BURST_ROUNDS; round++) {
            n = receive_batch(in);
            if (n > 0) {
                enqueue_batch(in, n);
            }
            if (n < 0) {
                poll(NULL, 0, 1); /* ENOMEM and the like: poll would wake at once */
            }
            if (n < BATCH) {
                break;
            }
        }
    }
    return NULL;
}

/* ---- the loop's side of datagrams ------------------------------------------------------ */

/* One turn: a share of the queue, and a zero timer when more is left. */
static void drain_turn(struct am_statsd_in *in)
{
    if (!queue_drain(in, DRAIN_MAX)) {
        struct timeval zero = {0, 0};
        evtimer_add(in->more_ev, &zero);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct am_statsd_in *in = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));

    (void)r; /* EAGAIN: a wake that a turn already served */
    (void)what;
    drain_turn(in);
}

static void on_more(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_turn(arg);
}

/* ---- sockets ------------------------------------------------------------------------- */

/* The address to bind for host and port: every address (IPv6 and IPv4) for "", else a
 * literal or a name, resolved now. 0, or -1 with err. */
static int listen_addr(const struct am_src_url *u, int socktype, struct sockaddr_storage *ss,
                       socklen_t *len, const char *name, char *err, size_t errsz)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = socktype};
    struct addrinfo *res = NULL;
    char port[8];
    int rc;

    memset(ss, 0, sizeof(*ss));
    if (u->host == NULL || u->host[0] == '\0') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(u->port);
        *len = sizeof(*in6);
        return 0;
    }
    snprintf(port, sizeof(port), "%u", (unsigned)u->port);
    rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        bad(err, errsz, "%s: resolve %s: %s", name, u->host,
            rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        if (res != NULL) {
            freeaddrinfo(res);
        }
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A socket bound to u: UDP, TCP (listening) or unixgram. The fd, or -1 with err. */
static int open_socket(struct am_statsd_in *in, const struct am_src_url *u, const char *name,
                       char *err, size_t errsz)
{
    int type = u->kind == AM_SRC_STATSD_TCP ? SOCK_STREAM : SOCK_DGRAM;
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, zero = 0, rcvbuf = RCVBUF_BYTES;
    const char *what;

    if (u->kind == AM_SRC_STATSD_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        size_t n = strlen(u->path);
        struct stat st;
        if (n > PK_ADDR_PATH_MAX) {
            bad(err, errsz, "%s: the socket path is longer than %d bytes", name, PK_ADDR_PATH_MAX);
            return -1;
        }
        memset(&ss, 0, sizeof(ss));
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, u->path, n);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        if (u->path[0] == '@') {
            un->sun_path[0] = '\0'; /* abstract: nothing on disk */
            len--;
        } else if (lstat(u->path, &st) == 0) {
            /* An old socket is replaced; anything else there stays. */
            if (!S_ISSOCK(st.st_mode)) {
                bad(err, errsz, "%s: %s exists and is not a socket", name, u->path);
                return -1;
            }
            if (unlink(u->path) < 0) {
                bad(err, errsz, "%s: unlink the old socket: %s", name, strerror(errno));
                return -1;
            }
        }
    } else if (listen_addr(u, type, &ss, &len, name, err, errsz) < 0) {
        return -1;
    }
    fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && errno == EAFNOSUPPORT && ss.ss_family == AF_INET6 &&
        (u->host == NULL || u->host[0] == '\0')) {
        /* No IPv6 here: every address is every IPv4 address. */
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        in4->sin_family = AF_INET;
        in4->sin_port = htons(u->port);
        len = sizeof(*in4);
        fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        bad(err, errsz, "%s: socket: %s", name, strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (type == SOCK_STREAM) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    } else {
        /* Both best effort: SO_RCVBUFFORCE needs CAP_NET_ADMIN, SO_RCVBUF stops at
         * net.core.rmem_max; SO_RXQ_OVFL only counts. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        }
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    }
    what = "bind";
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        goto fail;
    }
    if (u->kind == AM_SRC_STATSD_UNIX && u->path[0] != '@' &&
        (in->unix_path = strdup(u->path)) == NULL) {
        errno = ENOMEM;
        what = "strdup";
        goto fail;
    }
    what = "listen";
    if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) < 0) {
        goto fail;
    }
    if (u->kind != AM_SRC_STATSD_UNIX) {
        len = sizeof(ss);
        what = "getsockname";
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
            goto fail;
        }
        in->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
fail:
    bad(err, errsz, "%s: %s: %s", name, what, strerror(errno));
    close(fd);
    return -1;
}

/* The reader thread, its eventfds, slots and the loop's events. 0, or -1 with err. */
static int dgram_start(struct am_statsd_in *in, const char *name, char *err, size_t errsz)
{
    sigset_t all, old;
    int rc;

    in->slots = malloc((size_t)BATCH * AM_STATSD_DGRAM_MAX); /* touched as datagrams come */
    in->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    in->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->slots == NULL || in->stop_fd < 0 || in->wake_fd < 0) {
        bad(err, errsz, "%s: %s", name, in->slots == NULL ? "out of memory" : strerror(errno));
        return -1;
    }
    for (int i = 0; i < BATCH; i++) {
        in->iov[i].iov_base = in->slots + (size_t)i * AM_STATSD_DGRAM_MAX;
        in->iov[i].iov_len = AM_STATSD_DGRAM_MAX;
        in->msgs[i].msg_hdr.msg_iov = &in->iov[i];
        in->msgs[i].msg_hdr.msg_iovlen = 1;
        in->msgs[i].msg_hdr.msg_control = in->ctl[i].buf;
    }
    if (pthread_mutex_init(&in->mu, NULL) != 0) {
        bad(err, errsz, "%s: pthread_mutex_init failed", name);
        return -1;
    }
    in->mu_made = true;
    in->need_wake = true;
    in->wake_ev = event_new(in->base, in->wake_fd, EV_READ | EV_PERSIST, on_wake, in);
    in->more_ev = evtimer_new(in->base, on_more, in);
    if (in->wake_ev == NULL || in->more_ev == NULL || event_add(in->wake_ev, NULL) < 0) {
        bad(err, errsz, "%s: out of memory", name);
        return -1;
    }
    /* Signals are the main thread's (signalfd, handlers): the reader takes none. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&in->thread, NULL, reader_main, in);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        bad(err, errsz, "%s: pthread_create: %s", name, strerror(rc));
        return -1;
    }
    in->thread_started = true;
    pthread_setname_np(in->thread, "am-statsd");
    return 0;
}

/* ---- tcp ----------------------------------------------------------------------------- */

static void tcp_conn_free(struct tcp_conn *c)
{
    struct am_statsd_in *in = c->in;

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        in->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    in->nconns--;
    bufferevent_free(c->bev);
    free(c);
}

/* Hands over the whole lines in the connection's input, and at EOF the last one too. */
static void tcp_take(struct tcp_conn *c, bool eof)
{
    struct evbuffer *inbuf = bufferevent_get_input(c->bev);
    const size_t window = (size_t)AM_STATSD_LINE_MAX + 1; /* the longest line and its '\n' */

    for (;;) {
        size_t avail = evbuffer_get_length(inbuf), n = avail < window ? avail : window;
        const char *p, *nl;

        if (n == 0) {
            return;
        }
        p = (const char *)evbuffer_pullup(inbuf, (ev_ssize_t)n);
        if (p == NULL) {
            return; /* out of memory: tried again at the next read */
        }
        if (c->skipping) {
            nl = memchr(p, '\n', n);
            c->skipping = nl == NULL;
            evbuffer_drain(inbuf, nl != NULL ? (size_t)(nl - p) + 1 : n);
            continue;
        }
        /* Lines start at p, so none in the window is longer than AM_STATSD_LINE_MAX. */
        nl = memrchr(p, '\n', n);
        if (nl != NULL) {
            size_t len = (size_t)(nl - p) + 1;
            deliver(c->in, p, len);
            evbuffer_drain(inbuf, len);
        } else if (n == window) {
            c->in->long_lines++;
            c->skipping = true;
            evbuffer_drain(inbuf, n);
        } else {
            if (eof) {
                deliver(c->in, p, n);
                evbuffer_drain(inbuf, n);
            }
            return; /* a line still coming */
        }
    }
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    tcp_take(arg, false);
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
    struct tcp_conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF) {
        tcp_take(c, true);
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        tcp_conn_free(c);
    }
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct am_statsd_in *in = arg;
    struct tcp_conn *c;

    (void)lev;
    (void)sa;
    (void)salen;
    if (in->nconns >= TCP_CONNS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->in = in;
    c->bev = bufferevent_socket_new(in->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_tcp_read, NULL, on_tcp_event, c);
    bufferevent_enable(c->bev, EV_READ);
    c->next = in->conns;
    if (in->conns != NULL) {
        in->conns->prev = c;
    }
    in->conns = c;
    in->nconns++;
    in->tcp_conns++;
}

/* Out of descriptors or memory: the pending connection stays, and the listener would wake
 * again at once, so accepting pauses for a while instead. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct am_statsd_in *in = arg;
    int e = EVUTIL_SOCKET_ERROR();

    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = ACCEPT_PAUSE_MS * 1000};
        evconnlistener_disable(lev);
        evtimer_add(in->resume_ev, &tv);
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct am_statsd_in *in = arg;

    (void)fd;
    (void)what;
    evconnlistener_enable(in->listener);
}

static int tcp_start(struct am_statsd_in *in, int fd, const char *name, char *err, size_t errsz)
{
    in->resume_ev = evtimer_new(in->base, on_resume, in);
    /* Backlog 0: the socket listens already. */
    in->listener = evconnlistener_new(in->base, on_accept, in,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (in->listener == NULL) {
        close(fd);
        bad(err, errsz, "%s: out of memory", name);
        return -1;
    }
    evconnlistener_set_error_cb(in->listener, on_accept_error);
    if (in->resume_ev == NULL) {
        bad(err, errsz, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

/* ---- the listener -------------------------------------------------------------------- */

struct am_statsd_in *am_statsd_in_create(struct event_base *base, const struct am_src_url *url,
                                         am_statsd_fn *cb, void *arg, char *err, size_t errsz)
{
    struct am_statsd_in *in;
    char name[NAME_MAX_LEN];
    int fd;

    url_name(url, name, sizeof(name));
    if (url->kind != AM_SRC_STATSD_UDP && url->kind != AM_SRC_STATSD_TCP &&
        url->kind != AM_SRC_STATSD_UNIX) {
        return bad(err, errsz, "not a statsd URL (statsd+udp, statsd+tcp, statsd+unix)");
    }
    if ((url->kind == AM_SRC_STATSD_UNIX ? url->path : url->host) == NULL) {
        return bad(err, errsz, "%s: the URL lacks its %s", name,
                   url->kind == AM_SRC_STATSD_UNIX ? "path" : "host");
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        return bad(err, errsz, "%s: out of memory", name);
    }
    in->base = base;
    in->kind = url->kind;
    in->cb = cb;
    in->arg = arg;
    in->fd = in->stop_fd = in->wake_fd = -1;
    fd = open_socket(in, url, name, err, errsz);
    if (fd < 0) {
        goto fail;
    }
    if (url->kind == AM_SRC_STATSD_TCP) {
        if (tcp_start(in, fd, name, err, errsz) < 0) {
            goto fail;
        }
    } else {
        in->fd = fd;
        if (dgram_start(in, name, err, errsz) < 0) {
            goto fail;
        }
    }
    return in;
fail:
    am_statsd_in_destroy(in, false);
    return NULL;
}

/* destroy with drain, the thread stopped: what is queued, then what the sockets still
 * hold, bounded. */
static void drain_all(struct am_statsd_in *in)
{
    if (in->mu_made) {
        queue_drain(in, SIZE_MAX);
    }
    for (int round = 0; in->fd >= 0 && in->mu_made && round < DRAIN_SOCKET_ROUNDS; round++) {
        int n = receive_batch(in);
        if (n <= 0) {
            break;
        }
        enqueue_batch(in, n);
        queue_drain(in, SIZE_MAX);
    }
    for (struct tcp_conn *c = in->conns; c != NULL; c = c->next) {
        struct evbuffer *inbuf = bufferevent_get_input(c->bev);
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        int n = 1;
        /* A bufferevent keeps its input's end frozen but while it reads: so do we. */
        evbuffer_unfreeze(inbuf, 0);
        for (int round = 0; n > 0 && round < DRAIN_SOCKET_ROUNDS; round++) {
            tcp_take(c, false);
            n = evbuffer_read(inbuf, fd, (int)AM_STATSD_LINE_MAX);
        }
        evbuffer_freeze(inbuf, 0);
        tcp_take(c, n == 0);
    }
}

void am_statsd_in_destroy(struct am_statsd_in *in, bool drain)
{
    if (in == NULL) {
        return;
    }
    if (in->thread_started) {
        uint64_t one = 1;
        ssize_t w = write(in->stop_fd, &one, sizeof(one));
        (void)w; /* an eventfd at 0 takes it */
        pthread_join(in->thread, NULL);
    }
    if (drain) {
        drain_all(in);
    }
    while (in->conns != NULL) {
        tcp_conn_free(in->conns);
    }
    if (in->listener != NULL) {
        evconnlistener_free(in->listener);
    }
    if (in->resume_ev != NULL) {
        event_free(in->resume_ev);
    }
    if (in->wake_ev != NULL) {
        event_free(in->wake_ev);
    }
    if (in->more_ev != NULL) {
        event_free(in->more_ev);
    }
    if (in->fd >= 0) {
        close(in->fd);
    }
    if (in->unix_path != NULL) {
        unlink(in->unix_path);
        free(in->unix_path);
    }
    if (in->stop_fd >= 0) {
        close(in->stop_fd);
    }
    if (in->wake_fd >= 0) {
        close(in->wake_fd);
    }
    while (in->head != NULL) {
        struct chunk *next = in->head->next;
        chunk_free(in->head);
        in->head = next;
    }
    chunk_free(in->spare);
    if (in->mu_made) {
        pthread_mutex_destroy(&in->mu);
    }
    free(in->slots);
    free(in);
}

void am_statsd_in_stats(const struct am_statsd_in *in, struct am_statsd_in_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL) {
        return;
    }
    out->packets = in->packets;
    out->bytes = in->bytes;
    out->kernel_drops = atomic_load_explicit(&in->kernel_drops, memory_order_relaxed);
    out->queue_drops = atomic_load_explicit(&in->queue_drops, memory_order_relaxed);
    out->truncated = atomic_load_explicit(&in->truncated, memory_order_relaxed);
    out->tcp_conns = in->tcp_conns;
    out->long_lines = in->long_lines;
}

uint16_t am_statsd_in_port(const struct am_statsd_in *in)
{
    return in != NULL && in->kind != AM_SRC_STATSD_UNIX ? in->port : 0;
}
