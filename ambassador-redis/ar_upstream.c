/* ar_upstream.c — connections to the master: connect (TCP or TLS), our own AUTH first,
 * then replies parsed and handed to the clients that wait for them, in order. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h> /* ev_write, for ar_write_now */
#include <event2/dns.h>
#include <event2/event.h>

#include "ar_proxy_int.h"
#include "ar_tls.h"
#include "pk_log.h"

/* A client is paused when its connection has 4 MiB unsent (ar_proxy.c); they all go on
 * again once it is down to this. */
#define UP_OUT_LOW (1u << 20)

/* Replies from the server are trusted for size (it enforces its own limits); only the
 * nesting is bounded. */
static void reply_limits(struct ar_resp_limits *l)
{
    ar_resp_limits_default(l);
    l->max_bulk_len = INT64_MAX;
    l->max_depth = AR_RESP_DEPTH_MAX;
}

static void up_free_later(evutil_socket_t fd, short what, void *arg)
{
    struct ar_upconn *up = arg;
    (void)fd;
    (void)what;
    free(up->pend);
    free(up);
}

static bool is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct ssl_ctx_st *ar_up_tls_context(const struct ar_tls *tls, const struct ar_conf *conf,
                                     char *err, size_t errsz)
{
    SSL_CTX *ctx = tls->SSL_CTX_new(tls->TLS_client_method());
    const char *step = "SSL_CTX_new";

    if (ctx == NULL) {
        goto fail;
    }
    tls->SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    step = conf->tls_ca_file != NULL ? "tls-ca-file" : "the system's CA certificates";
    if ((conf->tls_ca_file != NULL
             ? tls->SSL_CTX_load_verify_locations(ctx, conf->tls_ca_file, NULL)
             : tls->SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        goto fail;
    }
    tls->SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (conf->tls_cert_file != NULL) {
        step = "tls-cert-file";
        if (tls->SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert_file) != 1) {
            goto fail;
        }
        step = "tls-key-file";
        if (tls->SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
            tls->SSL_CTX_check_private_key(ctx) != 1) {
            goto fail;
        }
    }
    return ctx;
fail:
    snprintf(err, errsz, "%s: %s", step,
             tls->ERR_reason_error_string(tls->ERR_peek_last_error()));
    tls->ERR_clear_error();
    if (ctx != NULL) {
        tls->SSL_CTX_free(ctx);
    }
    return NULL;
}

/* An SSL object for host: SNI unless it is an IP literal, and the name (or IP) checked. */
static SSL *tls_for(struct ar_proxy *px, const char *host)
{
    const struct ar_tls *tls = px->tls;
    const char *name = px->conf->tls_server_name != NULL ? px->conf->tls_server_name : host;
    SSL *ssl = tls->SSL_new(px->ssl_ctx);

    if (ssl == NULL) {
        return NULL;
    }
    if (is_ip(name)) {
        tls->X509_VERIFY_PARAM_set1_ip_asc(tls->SSL_get0_param(ssl), name);
    } else if (tls->SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                             (void *)name) != 1 ||
               tls->SSL_set1_host(ssl, name) != 1) {
        tls->SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static int ring_push(struct ar_upconn *up, const struct ar_pending *p)
{
    if (up->pend_len == up->pend_cap) {
        size_t cap = up->pend_cap > 0 ? up->pend_cap * 2 : 16;
        struct ar_pending *grown = malloc(cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        for (size_t i = 0; i < up->pend_len; i++) {
            grown[i] = up->pend[(up->pend_head + i) % up->pend_cap];
        }
        free(up->pend);
        up->pend = grown;
        up->pend_cap = cap;
        up->pend_head = 0;
    }
    up->pend[(up->pend_head + up->pend_len) % up->pend_cap] = *p;
    up->pend_len++;
    return 0;
}

static struct ar_pending ring_pop(struct ar_upconn *up)
{
    struct ar_pending p = up->pend[up->pend_head];
    up->pend_head = (up->pend_head + 1) % up->pend_cap;
    up->pend_len--;
    return p;
}

/* Appends one command as a multibulk of n arguments. */
static void add_command(struct evbuffer *out, const char *const *argv, size_t n)
{
    evbuffer_add_printf(out, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(out, "$%zu\r\n", strlen(argv[i]));
        evbuffer_add(out, argv[i], strlen(argv[i]));
        evbuffer_add(out, "\r\n", 2);
    }
}

/* Decides who the reply msg belongs to (NULL: nobody, drop it) and does its bookkeeping;
 * the bytes are moved later, with the replies after it that go to the same client. */
static struct ar_client *route(struct ar_upconn *up, const struct ar_resp_msg *msg)
{
    struct ar_proxy *px = up->px;

    if (msg->is_error && (strcmp(msg->word, "READONLY") == 0 ||
                          strcmp(msg->word, "LOADING") == 0 ||
                          strcmp(msg->word, "MASTERDOWN") == 0)) {
        ar_topo_suspect(px->topo, msg->word);
    }
    if (up->pend_len > 0 && !msg->is_push) {
        struct ar_pending p = ring_pop(up);
        if (p.kind == AR_PEND_INTERNAL) {
            if (msg->is_error) {
                pk_log_warn("upstream %s:%d refused our AUTH: %s", up->addr.host,
                            up->addr.port, msg->word);
            }
            return NULL;
        }
        ar_metrics_replied(&px->metrics, p.cmd, msg->is_error, ar_now_ns() - p.sent_ns);
        p.client->inflight--;
        return p.client;
    }
    return up->owner; /* a push, or a subscribed connection's message */
}

/* After bytes for to were queued: over --client-output-limit, its own connection stops
 * being read until the output drains; a shared one cannot wait for one client, which is
 * closed instead. */
static void check_full(struct ar_upconn *up, struct ar_client *to)
{
    if (to->gone || !ar_client_output_full(to)) {
        return;
    }
    if (up->owner == to || up->rclient == to) {
        ar_up_pause(up, true); /* resumed when its output drains */
    } else {
        pk_log_warn("closing a multiplexed client that does not read its replies");
        up->px->metrics.slow_clients_closed++;
        ar_client_close(to, false);
    }
}

/* Moves the first len bytes of up's input (whole replies) to client to, or drops them. */
static void flush(struct ar_upconn *up, struct ar_client *to, size_t len)
{
    struct ar_proxy *px = up->px;
    struct evbuffer *in = bufferevent_get_input(up->bev);

    if (len == 0) {
        return;
    }
    if (to == NULL || to->gone || to->bev == NULL) {
        evbuffer_drain(in, len);
    } else {
        struct evbuffer *out = bufferevent_get_output(to->bev);
        size_t before = evbuffer_get_length(out);
        evbuffer_remove_buffer(in, out, len);
        px->metrics.bytes_out += len;
        ar_write_now(to->bev, before);
        if (to->closing && evbuffer_get_length(out) == 0) {
            to->closing = false;
            ar_client_close(to, false); /* its last bytes are written */
            return;
        }
    }
    if (to == NULL) {
        return;
    }
    ar_client_replied(to);
    check_full(up, to);
}

/* A reply this large is passed on as it comes rather than held until it is whole. */
#define STREAM_MIN (64u * 1024)

/* Passes the unsent part of the reply being read (at the front of the input) to the client
 * at the head of the queue, when that is whom it belongs to. */
static void stream_head(struct ar_upconn *up)
{
    struct ar_proxy *px = up->px;
    struct evbuffer *in = bufferevent_get_input(up->bev);
    size_t n = (size_t)(up->fed - up->sent);
    unsigned char first;
    struct ar_client *to;

    if (up->pend_len == 0 || up->pend[up->pend_head].kind != AR_PEND_CLIENT) {
        return;
    }
    if (up->sent == 0 && (evbuffer_copyout(in, &first, 1) != 1 || first == '>' || first == '|')) {
        return; /* a push, or an attribute before one maybe: whole, as usual */
    }
    to = up->pend[up->pend_head].client;
    if (to->gone || to->bev == NULL) {
        evbuffer_drain(in, n);
    } else {
        struct evbuffer *out = bufferevent_get_output(to->bev);
        size_t before = evbuffer_get_length(out);
        evbuffer_remove_buffer(in, out, n);
        px->metrics.bytes_out += n;
        ar_write_now(to->bev, before);
    }
    up->sent = up->fed;
    check_full(up, to); /* closed: the rest of its reply is dropped */
}

static void up_read(struct bufferevent *bev, void *arg)
{
    struct ar_upconn *up = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct ar_client *acc = NULL; /* whole replies at the front of in, all for acc */
    size_t acc_len = 0;

    while (up->state == AR_UP_READY && !up->paused) {
        struct evbuffer_iovec v[16];
        struct evbuffer_ptr at;
        size_t pos = acc_len + (size_t)(up->fed - up->sent);
        int n;

        if (up->streaming && up->pend_len == 0 && up->fed == 0 && up->owner != NULL) {
            /* Subscribed, monitoring or replicating: everything from here on is the
             * owner's, as it comes (an RDB transfer is not even RESP). */
            if (acc != up->owner) {
                flush(up, acc, acc_len);
                acc_len = 0;
                acc = up->owner;
            }
            acc_len = evbuffer_get_length(in);
            break;
        }
        if (pos >= evbuffer_get_length(in) ||
            evbuffer_ptr_set(in, &at, pos, EVBUFFER_PTR_SET) < 0) {
            break;
        }
        n = evbuffer_peek(in, -1, &at, v, 16);
        for (int i = 0; i < n && up->rp.state == AR_RESP_MORE; i++) {
            up->fed += ar_resp_feed(&up->rp, v[i].iov_base, v[i].iov_len);
        }
        if (up->rp.state == AR_RESP_ERROR) {
            flush(up, acc, acc_len);
            pk_log_error("upstream %s:%d: bad reply: %s", up->addr.host, up->addr.port,
                         up->rp.err);
            ar_up_close(up, "a bad reply from the server");
            return;
        }
        if (up->rp.state == AR_RESP_MORE && up->fed - up->sent >= STREAM_MIN) {
            flush(up, acc, acc_len); /* the replies before it, so that it is at the front */
            acc_len = 0;
            acc = NULL;
            if (up->state != AR_UP_DEAD) {
                stream_head(up);
            }
            continue;
        }
        if (up->rp.state == AR_RESP_DONE) {
            size_t len = (size_t)(up->rp.msg.len - up->sent);
            struct ar_client *to = route(up, &up->rp.msg);
            up->fed = up->sent = 0;
            ar_resp_next(&up->rp);
            if (to != acc) {
                flush(up, acc, acc_len);
                acc_len = 0;
                acc = to;
            }
            acc_len += len;
        }
    }
    if (up->state != AR_UP_DEAD) {
        flush(up, acc, acc_len);
    }
}

/* Its output drained below UP_OUT_LOW: clients paused for a full connection go on. */
static void up_write(struct bufferevent *bev, void *arg)
{
    struct ar_upconn *up = arg;
    (void)bev;
    ar_proxy_up_drained(up->px);
}

static void up_event(struct bufferevent *bev, short what, void *arg)
{
    struct ar_upconn *up = arg;
    struct ar_proxy *px = up->px;
    char why[256];

    if (what & BEV_EVENT_CONNECTED) {
        evutil_socket_t fd = bufferevent_getfd(bev);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        bufferevent_set_timeouts(bev, NULL, NULL);
        up->state = AR_UP_READY;
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof(why), "%s", up->state == AR_UP_CONNECTING ? "connect timed out"
                                                                        : "timed out");
    } else if (what & BEV_EVENT_ERROR) {
        unsigned long ssl_err = px->tls != NULL ? px->tls->bufferevent_get_openssl_error(bev) : 0;
        int dns_err = bufferevent_socket_get_dns_error(bev);
        snprintf(why, sizeof(why), "%s",
                 ssl_err != 0   ? px->tls->ERR_reason_error_string(ssl_err)
                 : dns_err != 0 ? evutil_gai_strerror(dns_err)
                                : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    } else {
        snprintf(why, sizeof(why), "closed by the server");
    }
    if (up->state == AR_UP_CONNECTING) {
        px->metrics.upstream_failures++;
        pk_log_warn("upstream %s:%d: %s", up->addr.host, up->addr.port, why);
    } else {
        px->metrics.upstream_lost++;
        pk_log_info("upstream %s:%d: connection lost: %s", up->addr.host, up->addr.port, why);
    }
    ar_topo_suspect(px->topo, why);
    ar_up_close(up, why);
}

/* A lost or failed shared connection is made again shortly (not in a tight loop). */
static void retry_shared(evutil_socket_t fd, short what, void *arg)
{
    struct ar_proxy *px = arg;
    char err[256];
    (void)fd;
    (void)what;

    for (size_t i = 0; i < px->nshared; i++) {
        if (px->shared[i] == NULL && !px->stopping) {
            px->shared[i] = ar_up_new(px, NULL, i, NULL, err, sizeof(err));
        }
    }
}

static int start_connect(struct ar_upconn *up)
{
    struct ar_proxy *px = up->px;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char text[AR_TOPO_HOST_MAX + 16];

    snprintf(text, sizeof(text), is_ip(up->addr.host) && strchr(up->addr.host, ':') != NULL
                                     ? "[%s]:%d"
                                     : "%s:%d",
             up->addr.host, up->addr.port);
    if (evutil_parse_sockaddr_port(text, (struct sockaddr *)&ss, &len) == 0) {
        return bufferevent_socket_connect(up->bev, (struct sockaddr *)&ss, len);
    }
    if (px->dns == NULL && (px->dns = evdns_base_new(px->base, 1)) == NULL) {
        return -1;
    }
    return bufferevent_socket_connect_hostname(up->bev, px->dns, AF_UNSPEC, up->addr.host,
                                               up->addr.port);
}

struct ar_upconn *ar_up_new(struct ar_proxy *px, struct ar_client *owner, size_t index,
                            const struct ar_topo_addr *replica, char *err, size_t errsz)
{
    const struct ar_topo_addr *master = replica != NULL ? replica : ar_topo_master(px->topo);
    const struct ar_conf *conf = px->conf;
    struct ar_resp_limits lim;
    struct ar_upconn *up;

    if (master == NULL) {
        snprintf(err, errsz, "no master is known yet");
        return NULL;
    }
    up = calloc(1, sizeof(*up));
    if (up == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    up->px = px;
    up->owner = owner;
    up->shared_index = index;
    up->addr = *master;
    up->replica = replica != NULL;
    up->state = AR_UP_CONNECTING;
    reply_limits(&lim);
    ar_resp_init(&up->rp, AR_RESP_REPLY, &lim);
    if (px->ssl_ctx != NULL) {
        SSL *ssl = tls_for(px, up->addr.host);
        up->bev = ssl == NULL ? NULL
                              : px->tls->bufferevent_openssl_socket_new(px->base, -1, ssl,
                                                               BUFFEREVENT_SSL_CONNECTING,
                                                               BEV_OPT_CLOSE_ON_FREE);
    } else {
        up->bev = bufferevent_socket_new(px->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (up->bev == NULL) {
        snprintf(err, errsz, "cannot make a connection object");
        free(up);
        return NULL;
    }
    struct timeval tmo = {conf->connect_timeout_ms / 1000, conf->connect_timeout_ms % 1000 * 1000};
    bufferevent_setcb(up->bev, up_read, up_write, up_event, up);
    bufferevent_setwatermark(up->bev, EV_WRITE, UP_OUT_LOW, 0);
    bufferevent_set_timeouts(up->bev, &tmo, &tmo);
    bufferevent_enable(up->bev, EV_READ | EV_WRITE);
    px->nupconns++;
    px->metrics.upstream_connects++;
    if (conf->upstream_secret != NULL) {
        /* Pipelined ahead of the first command: no round trip is waited for. */
        const char *argv[] = {"AUTH", conf->upstream_user, conf->upstream_secret};
        struct ar_pending p = {.kind = AR_PEND_INTERNAL};
        if (conf->upstream_user != NULL) {
            add_command(bufferevent_get_output(up->bev), argv, 3);
        } else {
            argv[1] = conf->upstream_secret;
            add_command(bufferevent_get_output(up->bev), argv, 2);
        }
        ring_push(up, &p);
    }
    if (start_connect(up) < 0) {
        snprintf(err, errsz, "connect to %s:%d: %s", up->addr.host, up->addr.port,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        up->owner = NULL;
        ar_up_close(up, err);
        return NULL;
    }
    return up;
}

int ar_up_expect(struct ar_upconn *up, struct ar_client *c, uint16_t cmd)
{
    struct ar_proxy *px = up->px;

    if (c != NULL) {
        struct ar_pending p = {.client = c, .sent_ns = ar_now_ns(), .cmd = cmd,
                               .kind = AR_PEND_CLIENT};
        if (ring_push(up, &p) < 0) {
            return -1;
        }
        c->inflight++;
    }
    ar_metrics_sent(&px->metrics, cmd);
    return 0;
}

void ar_write_now(struct bufferevent *bev, size_t before)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    evutil_socket_t fd;

    /* A queue that was not empty has its write under way (and may have watermarks to
     * cross). Never called for a TLS bufferevent: its bytes go through OpenSSL. */
    if (before != 0 || (fd = bufferevent_getfd(bev)) < 0) {
        return;
    }
    /* A socket bufferevent keeps the front of its output frozen so that only it drains
     * it: evbuffer_write would fail without a syscall. Errors and EAGAIN leave the bytes
     * queued: the bufferevent meets them itself. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, fd);
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) == 0) {
        /* Queuing the bytes armed the write event; all are written, so it would only wake
         * the loop to find nothing to do. Disarmed in the same loop turn, the epoll
         * changelist makes neither change (saves 2 epoll_ctl and a loop turn per reply).
         * The next bytes queued arm it again. */
        event_del(&bev->ev_write);
    }
}

void ar_up_write(struct ar_upconn *up, struct evbuffer *src, size_t len)
{
    if (len > 0) {
        struct evbuffer *out = bufferevent_get_output(up->bev);
        size_t before = evbuffer_get_length(out);
        up->px->metrics.bytes_in += len;
        evbuffer_remove_buffer(src, out, len);
        /* A shared connection is written one loop turn later, when every client read in
         * this turn has added its commands: one write, one read for Redis, for all. */
        if (up->state == AR_UP_READY && up->px->tls == NULL && up->owner != NULL) {
            ar_write_now(up->bev, before);
        }
    }
}

void ar_up_pause(struct ar_upconn *up, bool paused)
{
    if (up->state == AR_UP_DEAD || up->paused == paused) {
        return;
    }
    up->paused = paused;
    if (paused) {
        bufferevent_disable(up->bev, EV_READ);
    } else {
        bufferevent_enable(up->bev, EV_READ);
        /* Replies already read are handled from the loop, not from inside the caller. */
        bufferevent_trigger(up->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
}

void ar_up_close(struct ar_upconn *up, const char *why)
{
    struct ar_proxy *px = up->px;
    struct ar_client *owner = up->owner;
    struct timeval soon = {0, 100 * 1000};

    if (up->state == AR_UP_DEAD) {
        return;
    }
    up->state = AR_UP_DEAD;
    bufferevent_free(up->bev);
    up->bev = NULL;
    px->nupconns--;
    if (up->replica) {
        /* Made again on the next read, to whichever replica is healthy then. */
        if (up->rclient != NULL) {
            up->rclient->rup = NULL;
            up->rclient = NULL;
        } else if (px->rshared != NULL && up->shared_index < px->nshared &&
                   px->rshared[up->shared_index] == up) {
            px->rshared[up->shared_index] = NULL;
        }
    } else if (owner == NULL && px->shared != NULL && up->shared_index < px->nshared &&
               px->shared[up->shared_index] == up) {
        px->shared[up->shared_index] = NULL;
        event_base_once(px->base, -1, EV_TIMEOUT, retry_shared, px, &soon);
    }
    if (up->sent > 0 && up->pend_len > 0 && up->pend[up->pend_head].kind == AR_PEND_CLIENT) {
        /* Half of a reply is out: an error after it would be garbage. Close that client. */
        ar_client_close(up->pend[up->pend_head].client, false);
    }
    while (up->pend_len > 0) {
        struct ar_pending p = ring_pop(up);
        if (p.kind != AR_PEND_CLIENT) {
            continue;
        }
        p.client->inflight--;
        px->metrics.replies_lost++;
        if (p.client != owner && !p.client->gone) {
            char text[300];
            snprintf(text, sizeof(text), "ERR ambassador: the upstream connection was lost "
                                         "before the reply (%s)", why);
            ar_client_error(p.client, text);
        }
        ar_client_replied(p.client);
    }
    if (owner != NULL) {
        up->owner = NULL;
        owner->up = NULL;
        ar_client_close(owner, true);
    }
    event_base_once(px->base, -1, EV_TIMEOUT, up_free_later, up, NULL);
}

void ar_up_master_changed(struct ar_proxy *px)
{
    const struct ar_topo_addr *m = ar_topo_master(px->topo);

    for (struct ar_client *c = px->clients; c != NULL; c = c->next) {
        struct ar_upconn *up = c->up;
        if (up != NULL && (m == NULL || strcmp(up->addr.host, m->host) != 0 ||
                           up->addr.port != m->port)) {
            /* As Sentinel does with CLIENT KILL: the client reconnects to the new one. */
            ar_up_close(up, "the master changed");
        }
    }
    for (size_t i = 0; i < px->nshared; i++) {
        struct ar_upconn *up = px->shared[i];
        if (up != NULL && (m == NULL || strcmp(up->addr.host, m->host) != 0 ||
                           up->addr.port != m->port)) {
            ar_up_close(up, "the master changed");
        }
    }
}

void ar_up_free_now(struct ar_upconn *up)
{
    if (up->bev != NULL) {
        bufferevent_free(up->bev);
    }
    free(up->pend);
    free(up);
}

static bool listed(const struct ar_topo_addr *a, const struct ar_topo_addr *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a->host, list[i].host) == 0 && a->port == list[i].port) {
            return true;
        }
    }
    return false;
}

void ar_up_replicas_changed(struct ar_proxy *px)
{
    const struct ar_topo_addr *list;
    size_t n = ar_topo_replicas(px->topo, &list);

    for (struct ar_client *c = px->clients; c != NULL; c = c->next) {
        if (c->rup != NULL && !listed(&c->rup->addr, list, n)) {
            ar_up_close(c->rup, "the replica is no longer healthy");
        }
    }
    for (size_t i = 0; px->rshared != NULL && i < px->nshared; i++) {
        if (px->rshared[i] != NULL && !listed(&px->rshared[i]->addr, list, n)) {
            ar_up_close(px->rshared[i], "the replica is no longer healthy");
        }
    }
}
