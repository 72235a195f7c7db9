/* ar_proxy.c — clients: accepted, their commands found and routed (pinned, multiplexed,
 * or moved to a connection of their own), replies delivered in order; and the proxy's
 * life: listeners, topology events, reload, graceful shutdown. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "ar_cmd.h"
#include "ar_proxy_int.h"
#include "ar_tls.h"
#include "pk_log.h"

/* A client whose upstream has this much unsent is not read until it drains. */
#define UP_OUT_HIGH (4u << 20)

static void client_process(struct ar_client *c);

uint64_t ar_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- clients' lifetime ------------------------------------------------------------- */

static void client_free_later(evutil_socket_t fd, short what, void *arg)
{
    struct ar_client *c = arg;
    struct ar_proxy *px = c->px;
    (void)fd;
    (void)what;

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        px->clients = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c);
}

/* Frees c from the loop once it is gone and nothing is in flight for it. Idempotent:
 * inflight reaches 0 only once after gone is set. */
static void client_maybe_free(struct ar_client *c)
{
    if (c->gone && c->inflight == 0) {
        c->inflight = (size_t)-1; /* never again */
        event_base_once(c->px->base, -1, EV_TIMEOUT, client_free_later, c, NULL);
    }
}

static void stop_check(struct ar_proxy *px);

void ar_client_close(struct ar_client *c, bool flush)
{
    struct ar_proxy *px = c->px;

    if (c->gone) {
        return;
    }
    if (flush && c->bev != NULL && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        c->closing = true; /* the write callback finishes it */
        bufferevent_disable(c->bev, EV_READ);
        return;
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    c->gone = true;
    px->nclients--;
    if (c->up != NULL) {
        struct ar_upconn *up = c->up;
        c->up = NULL;
        up->owner = NULL;
        ar_up_close(up, "its client is gone");
    }
    if (c->rup != NULL) {
        ar_up_close(c->rup, "its client is gone"); /* clears c->rup */
    }
    client_maybe_free(c);
    stop_check(px);
}

void ar_client_error(struct ar_client *c, const char *text)
{
    if (c->bev != NULL) {
        evbuffer_add_printf(bufferevent_get_output(c->bev), "-%s\r\n", text);
    }
}

bool ar_client_output_full(const struct ar_client *c)
{
    return c->bev != NULL &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) > c->px->conf->client_output_limit;
}

void ar_client_replied(struct ar_client *c)
{
    if (c->gone) {
        client_maybe_free(c);
        return;
    }
    if (c->inflight == 0 && c->px->stopping) {
        ar_client_close(c, true); /* its last reply is in its output */
    } else if (c->inflight == 0 && c->waiting) {
        /* From the loop: the caller may be in the middle of an upstream's replies. */
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
}

/* ---- commands ---------------------------------------------------------------------- */

static bool secret_equal(const char *a, uint64_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char diff = alen == blen ? 0 : 1;

    for (size_t i = 0; i < blen; i++) {
        diff |= (unsigned char)(a[i < alen ? i : 0] ^ b[i]);
    }
    return diff == 0 && alen < AR_RESP_ARG_MAX;
}

/* AUTH to the ambassador itself (--requirepass): Redis' replies, Redis' rules. */
static void local_auth(struct ar_client *c, const struct ar_resp_msg *m)
{
    const char *secret = c->px->conf->client_secret;
    bool ok;

    if (m->argc != 2 && m->argc != 3) {
        ar_client_error(c, "ERR wrong number of arguments for 'auth' command");
        return;
    }
    if (m->argc == 3) {
        ok = strcmp(m->arg[0], "default") == 0 && secret_equal(m->arg[1], m->arg_len[1], secret);
    } else {
        ok = secret_equal(m->arg[0], m->arg_len[0], secret);
    }
    if (ok) {
        c->authed = true;
        evbuffer_add(bufferevent_get_output(c->bev), "+OK\r\n", 5);
    } else {
        c->px->metrics.auth_failures++;
        ar_client_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
    }
}

/* What to do with one command. */
enum action {
    FORWARD, /* to *upp: its reply is awaited (or not, when streaming) */
    HANDLED, /* answered here and drained */
    STOP,    /* not now: it stays in the input until client_process runs again */
};

/* The connection c's commands go to now, made if needed; NULL with err when none can be. */
static struct ar_upconn *target(struct ar_client *c, unsigned flags, char *err, size_t errsz)
{
    struct ar_proxy *px = c->px;

    if (c->up == NULL && (px->conf->mode == AR_MODE_PINNED || (flags & AR_CMD_STATEFUL))) {
        c->up = ar_up_new(px, c, 0, NULL, err, errsz);
        if (c->up != NULL && px->conf->mode == AR_MODE_MULTIPLEX) {
            px->metrics.moved_to_dedicated++;
        }
        return c->up;
    }
    if (c->up != NULL) {
        return c->up;
    }
    if (c->shared_idx == SIZE_MAX) {
        c->shared_idx = px->next_shared++ % px->nshared;
    }
    if (px->shared[c->shared_idx] == NULL) {
        px->shared[c->shared_idx] = ar_up_new(px, NULL, c->shared_idx, NULL, err, errsz);
    }
    return px->shared[c->shared_idx];
}

/* The replica connection c's read-only command goes to, made if needed; NULL when no
 * replica is healthy. */
static struct ar_upconn *replica_target(struct ar_client *c, char *err, size_t errsz)
{
    struct ar_proxy *px = c->px;
    const struct ar_topo_addr *list;
    size_t n = ar_topo_replicas(px->topo, &list);
    struct ar_upconn **slot;

    if (px->conf->mode == AR_MODE_PINNED || c->up != NULL) {
        slot = &c->rup;
    } else {
        if (c->rshared_idx == SIZE_MAX) {
            c->rshared_idx = px->next_shared++ % px->nshared;
        }
        slot = &px->rshared[c->rshared_idx];
    }
    if (*slot == NULL) {
        if (n == 0) {
            snprintf(err, errsz, "no healthy replica is known");
            return NULL;
        }
        *slot = ar_up_new(px, NULL, c->rshared_idx, &list[px->next_replica++ % n], err, errsz);
        if (*slot != NULL && slot == &c->rup) {
            (*slot)->rclient = c;
        }
    }
    return *slot;
}

/* Whether m goes to a replica: a read-only command outside a transaction, when reads may. */
static bool for_replica(const struct ar_client *c, unsigned flags)
{
    return c->px->conf->read_from != AR_READ_MASTER && (flags & AR_CMD_READONLY) &&
           !(flags & AR_CMD_STATEFUL) && !c->in_tx;
}

/* HELLO protover AUTH user pass, with --requirepass: the AUTH part is the ambassador's.
 * Checks it; when it passes, the command at the front of the input becomes "HELLO
 * protover" (and the parser's message its length), to go upstream as usual. Returns false
 * when it was answered here (a wrong password, or SETNAME, which is not kept). */
static bool rewrite_hello(struct ar_client *c, const struct ar_resp_msg *m)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    const char *secret = c->px->conf->client_secret;
    char head[64];
    int n;

    evbuffer_drain(in, (size_t)m->len);
    if (m->argc != 5) {
        ar_client_error(c, m->argc < 5 ? "ERR Syntax error in HELLO option 'auth'"
                                       : "ERR ambassador: HELLO with AUTH takes no other "
                                         "option here; send CLIENT SETNAME after it");
        return false;
    }
    if (strcmp(m->arg[2], "default") != 0 || !secret_equal(m->arg[3], m->arg_len[3], secret)) {
        c->px->metrics.auth_failures++;
        ar_client_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
        return false;
    }
    c->authed = true;
    n = snprintf(head, sizeof(head), "*2\r\n$5\r\nHELLO\r\n$%llu\r\n",
                 (unsigned long long)m->arg_len[0]);
    if (m->arg_len[0] >= AR_RESP_ARG_MAX) {
        ar_client_error(c, "NOPROTO unsupported protocol version");
        return false;
    }
    evbuffer_prepend(in, "\r\n", 2);
    evbuffer_prepend(in, m->arg[0], (size_t)m->arg_len[0]);
    evbuffer_prepend(in, head, (size_t)n);
    c->cp.msg.len = (uint64_t)n + m->arg_len[0] + 2; /* what client_process moves */
    return true;
}

/* Commands after which replies cannot be matched to commands any more. */
static bool streams(const char *name)
{
    return strcmp(name, "unsubscribe") == 0 || strcmp(name, "punsubscribe") == 0 ||
           strcmp(name, "sunsubscribe") == 0 || strcmp(name, "sync") == 0 ||
           strcmp(name, "psync") == 0;
}

/* Keeps in_tx: from MULTI or WATCH to EXEC, DISCARD, UNWATCH or RESET. */
static void track_tx(struct ar_client *c, const char *name)
{
    if (strcmp(name, "multi") == 0 || strcmp(name, "watch") == 0) {
        c->in_tx = true;
    } else if (strcmp(name, "exec") == 0 || strcmp(name, "discard") == 0 ||
               strcmp(name, "unwatch") == 0 || strcmp(name, "reset") == 0) {
        c->in_tx = false;
    }
}

/* The command waits: for the replies in flight (c->waiting, resumed when the last one is
 * delivered), or only for the bytes before it to be written (client_process goes on). */
static enum action wait_turn(struct ar_client *c)
{
    c->waiting = c->inflight > 0;
    return STOP;
}

/* Answers the command m at the front of c's input with "-ERR ambassador: why". */
static enum action answer_error(struct ar_client *c, const struct ar_resp_msg *m,
                                const char *why)
{
    char text[400];

    evbuffer_drain(bufferevent_get_input(c->bev), (size_t)m->len);
    snprintf(text, sizeof(text), "ERR ambassador: %s", why);
    ar_client_error(c, text);
    return HANDLED;
}

/* Decides what to do with the command m at offset off of c's input (the bytes before it
 * are commands already bound for the same connection). Local answers are written only when
 * nothing is in flight or waiting to be written: a reply never overtakes an earlier one. */
static enum action decide(struct ar_client *c, const struct ar_resp_msg *m, size_t off,
                          struct ar_upconn **upp)
{
    struct ar_proxy *px = c->px;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    bool local, moves, busy;
    unsigned flags;
    char err[300];

    if (m->argc == 0) {
        if (off > 0) {
            return STOP; /* drained once what is before it has gone */
        }
        evbuffer_drain(in, (size_t)m->len); /* a blank line: Redis answers nothing */
        return HANDLED;
    }
    flags = ar_cmd_flags(m);
    bool hello_auth = px->conf->client_secret != NULL && strcmp(m->name, "hello") == 0 &&
                      m->argc >= 3 && strcasecmp(m->arg[1], "auth") == 0;
    local = (flags & AR_CMD_QUIT) || (!c->authed && !hello_auth) ||
            (px->conf->client_secret != NULL && strcmp(m->name, "auth") == 0);
    moves = c->up == NULL && (px->conf->mode == AR_MODE_PINNED || (flags & AR_CMD_STATEFUL));
    busy = off > 0 || c->inflight > 0;
    if ((local || moves || hello_auth) && busy) {
        return wait_turn(c);
    }
    c->waiting = false;
    if (local) {
        evbuffer_drain(in, (size_t)m->len);
        if (flags & AR_CMD_QUIT) {
            evbuffer_add(bufferevent_get_output(c->bev), "+OK\r\n", 5);
            ar_client_close(c, true);
            return STOP;
        }
        if (px->conf->client_secret != NULL && strcmp(m->name, "auth") == 0) {
            local_auth(c, m);
        } else if (strcmp(m->name, "hello") == 0) {
            ar_client_error(c, "NOAUTH HELLO must be called with the client already "
                               "authenticated, otherwise the HELLO AUTH <user> <pass> option "
                               "can be used to authenticate the client and select the RESP "
                               "protocol version at the same time");
        } else {
            ar_client_error(c, "NOAUTH Authentication required.");
        }
        return HANDLED;
    }
    if (hello_auth && !rewrite_hello(c, m)) {
        return HANDLED;
    }
    *upp = NULL;
    if (for_replica(c, flags)) {
        *upp = replica_target(c, err, sizeof(err));
        if (*upp == NULL && px->conf->read_from == AR_READ_REPLICA) {
            return busy ? wait_turn(c) : answer_error(c, m, err);
        }
    }
    if (*upp == NULL) {
        *upp = target(c, flags, err, sizeof(err));
    }
    if (*upp != NULL && *upp != c->last && busy) {
        return wait_turn(c); /* another connection: its reply could overtake those in flight */
    }
    if (*upp == NULL) {
        if (busy) {
            return wait_turn(c); /* the error waits for the replies before it */
        }
        px->metrics.no_master++;
        return answer_error(c, m, err);
    }
    if (evbuffer_get_length(bufferevent_get_output((*upp)->bev)) > UP_OUT_HIGH) {
        /* The server does not keep up: stop reading this client until it drains. */
        c->read_paused = true;
        px->npaused++;
        bufferevent_disable(c->bev, EV_READ);
        return STOP;
    }
    if ((flags & (AR_CMD_PUBSUB | AR_CMD_MONITOR)) || streams(m->name)) {
        /* Replies are no longer one per command (UNSUBSCRIBE of N channels answers N
         * times even when not subscribed): from now on the connection is the client's. */
        (*upp)->streaming = true;
    }
    uint16_t cmd = ar_metrics_cmd(&px->metrics, ar_cmd_metric_name(m));
    if (ar_up_expect(*upp, (*upp)->streaming ? NULL : c, cmd) < 0) {
        ar_client_close(c, false);
        return STOP;
    }
    c->last = *upp;
    track_tx(c, m->name);
    return FORWARD;
}

/* Finds and routes every complete command in c's input. Consecutive commands for the same
 * connection are moved there in one piece. */
static void client_process(struct ar_client *c)
{
    struct ar_proxy *px = c->px;
    struct ar_upconn *acc = NULL; /* the commands at the front of the input go there */
    size_t acc_len = 0;

    while (!c->gone && !c->closing && !c->read_paused) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        if (c->cp.state == AR_RESP_MORE) {
            struct evbuffer_iovec v[16];
            struct evbuffer_ptr at;
            size_t pos = acc_len + c->fed;
            int n;
            if (pos >= evbuffer_get_length(in) ||
                evbuffer_ptr_set(in, &at, pos, EVBUFFER_PTR_SET) < 0) {
                break;
            }
            n = evbuffer_peek(in, -1, &at, v, 16);
            for (int i = 0; i < n && c->cp.state == AR_RESP_MORE; i++) {
                c->fed += ar_resp_feed(&c->cp, v[i].iov_base, v[i].iov_len);
            }
            if (c->cp.state == AR_RESP_MORE) {
                if (c->fed > px->conf->client_query_buffer_limit) {
                    pk_log_warn("closing a client whose command passed "
                                "client-query-buffer-limit");
                    ar_client_close(c, false);
                }
                continue;
            }
        }
        if (c->cp.state == AR_RESP_ERROR) {
            char text[AR_RESP_ERR_MAX + 8];
            if (acc_len > 0 || c->inflight > 0) {
                c->waiting = c->inflight > 0; /* its replies first, then the error */
                break;
            }
            px->metrics.protocol_errors++;
            snprintf(text, sizeof(text), "ERR %s", c->cp.err);
            ar_client_error(c, text);
            ar_client_close(c, true);
            break;
        }
        struct ar_upconn *up = NULL;
        enum action a = decide(c, &c->cp.msg, acc_len, &up);
        if (a == STOP) {
            if (acc_len > 0 && acc != NULL && acc->state != AR_UP_DEAD && !c->gone) {
                ar_up_write(acc, in, acc_len);
                acc_len = 0;
                if (!c->waiting && !c->read_paused && !c->closing) {
                    continue; /* what waited only for these bytes goes on now */
                }
            }
            break;
        }
        if (a == FORWARD) {
            if (up != acc && acc_len > 0) {
                ar_up_write(acc, in, acc_len);
                acc_len = 0;
            }
            acc = up;
            acc_len += (size_t)c->cp.msg.len;
        }
        c->fed = 0;
        ar_resp_next(&c->cp);
    }
    if (acc_len > 0 && acc->state != AR_UP_DEAD && !c->gone) {
        ar_up_write(acc, bufferevent_get_input(c->bev), acc_len);
    }
}

static void client_read(struct bufferevent *bev, void *arg)
{
    struct ar_client *c = arg;
    (void)bev;
    if (c->read_paused) {
        return;
    }
    client_process(c);
}

static void client_write(struct bufferevent *bev, void *arg)
{
    struct ar_client *c = arg;
    struct evbuffer *out = bufferevent_get_output(bev);

    if (c->closing && evbuffer_get_length(out) == 0) {
        c->closing = false;
        ar_client_close(c, false);
        return;
    }
    if (c->up != NULL && c->up->paused && !ar_client_output_full(c)) {
        ar_up_pause(c->up, false);
    }
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
    struct ar_client *c = arg;
    (void)bev;

    if ((what & BEV_EVENT_TIMEOUT) && c->inflight > 0) {
        bufferevent_enable(c->bev, EV_READ); /* blocked in a command: not idle */
        return;
    }
    ar_client_close(c, false);
}

void ar_proxy_up_drained(struct ar_proxy *px)
{
    if (px->npaused == 0) {
        return; /* the common case, on every write */
    }
    px->npaused = 0;
    for (struct ar_client *c = px->clients; c != NULL; c = c->next) {
        if (c->read_paused && !c->gone) {
            /* Those whose connection is still full pause again at their next command. */
            c->read_paused = false;
            bufferevent_enable(c->bev, EV_READ);
            bufferevent_trigger(c->bev, EV_READ,
                                BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
        }
    }
}

/* ---- accepting ------------------------------------------------------------------------ */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct ar_proxy *px = arg;
    struct ar_client *c;
    struct ar_resp_limits lim;
    int one = 1;
    (void)l;
    (void)salen;

    if (px->stopping) {
        evutil_closesocket(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    if (sa->sa_family != AF_UNIX) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->px = px;
    c->bev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    ar_resp_limits_default(&lim);
    lim.max_bulk_len = (int64_t)px->conf->proto_max_bulk_len;
    lim.max_multibulk_len = px->conf->max_multibulk_len;
    ar_resp_init(&c->cp, AR_RESP_COMMAND, &lim);
    c->authed = px->conf->client_secret == NULL;
    c->shared_idx = c->rshared_idx = SIZE_MAX;
    c->next = px->clients;
    if (px->clients != NULL) {
        px->clients->prev = c;
    }
    px->clients = c;
    px->nclients++;
    px->metrics.clients_total++;
    bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, px->conf->client_output_limit / 2, 0);
    if (px->conf->idle_timeout_ms > 0) {
        struct timeval idle = {px->conf->idle_timeout_ms / 1000,
                               px->conf->idle_timeout_ms % 1000 * 1000};
        bufferevent_set_timeouts(c->bev, &idle, NULL);
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    (void)l;
    /* EMFILE and the like: the listener retries on the next readiness; one line. */
    pk_log_warn("accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static int listen_on(struct ar_proxy *px, const struct pk_addr *a, struct ar_listener *out,
                     char *err, size_t errsz)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char text[300];

    pk_addr_format(a, text, sizeof(text));
    if (pk_addr_sockaddr(a, &ss, &len) < 0) {
        snprintf(err, errsz, "listen: %s: a numeric address is needed", text);
        return -1;
    }
    if (a->kind == PK_ADDR_UNIX && a->path[0] != '@') {
        struct stat st;
        if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(a->path); /* a stale socket of an earlier run */
        }
        snprintf(out->path, sizeof(out->path), "%s", a->path);
    }
    out->l = evconnlistener_new_bind(px->base, on_accept, px,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                         LEV_OPT_CLOSE_ON_EXEC,
                                     1024, (struct sockaddr *)&ss, (int)len);
    if (out->l == NULL) {
        snprintf(err, errsz, "listen: %s: %s", text,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        out->path[0] = '\0';
        return -1;
    }
    evconnlistener_set_error_cb(out->l, on_accept_error);
    pk_log_info("listening on %s", text);
    return 0;
}

/* ---- topology ------------------------------------------------------------------------ */

static void on_topo(void *arg, enum ar_topo_event ev, const struct ar_topo_addr *old,
                    const struct ar_topo_addr *now)
{
    struct ar_proxy *px = arg;

    switch (ev) {
    case AR_TOPO_MASTER_FOUND:
        pk_log_info("master at %s:%d", now->host, now->port);
        break;
    case AR_TOPO_MASTER_CHANGED:
        pk_log_info("failover: the master moved from %s:%d to %s:%d", old != NULL ? old->host : "?",
                    old != NULL ? old->port : 0, now->host, now->port);
        ar_up_master_changed(px);
        break;
    case AR_TOPO_MASTER_LOST:
        /* Connections made stay: a master busy with a slow command answers no check, yet
         * is still the master. If it is really gone they fail on their own; a new master
         * found elsewhere is a MASTER_CHANGED, which moves them. */
        pk_log_warn("no master is reachable now");
        break;
    case AR_TOPO_REPLICAS:
        ar_up_replicas_changed(px);
        break;
    }
}

static struct ar_topo *topo_start(struct ar_proxy *px, const struct ar_conf *conf, char *err,
                                  size_t errsz)
{
    struct ar_topo_config tc = {
        .upstream = conf->upstream,
        .sentinels = (const char *const *)conf->sentinels,
        .nsentinels = conf->nsentinels,
        .master_name = conf->master_name,
        .replicas = (const char *const *)conf->replica.v,
        .nreplicas = conf->replica.n,
        .discover_replicas = conf->read_from != AR_READ_MASTER,
        .upstream_user = conf->upstream_user,
        .upstream_password = conf->upstream_secret,
        .sentinel_user = conf->sentinel_user,
        .sentinel_password = conf->sentinel_password,
        .skip_role_check = conf->upstream_tls,
        .connect_timeout_ms = (int)conf->connect_timeout_ms,
        .recheck_ms = (int)conf->recheck_ms,
    };
    return ar_topo_new(px->base, &tc, on_topo, px, err, errsz);
}

/* ---- the proxy ------------------------------------------------------------------------ */

struct ar_proxy *ar_proxy_new(struct event_base *base, const struct ar_conf *conf, char *err,
                              size_t errsz)
{
    struct ar_proxy *px = calloc(1, sizeof(*px));

    if (px == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    px->base = base;
    px->conf = conf;
    if (conf->upstream_tls &&
        ((px->tls = ar_tls_load(err, errsz)) == NULL ||
         (px->ssl_ctx = ar_up_tls_context(px->tls, conf, err, errsz)) == NULL)) {
        goto fail;
    }
    px->listeners = calloc(conf->nlisten, sizeof(*px->listeners));
    px->nshared = conf->mode == AR_MODE_MULTIPLEX ? (size_t)conf->upstream_conns : 0;
    px->shared = calloc(px->nshared > 0 ? px->nshared : 1, sizeof(*px->shared));
    px->rshared = calloc(px->nshared > 0 ? px->nshared : 1, sizeof(*px->rshared));
    if (px->listeners == NULL || px->shared == NULL || px->rshared == NULL) {
        snprintf(err, errsz, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < conf->nlisten; i++) {
        if (listen_on(px, &conf->listen_addrs[i], &px->listeners[i], err, errsz) < 0) {
            goto fail;
        }
        px->nlisteners++;
    }
    if (conf->has_admin && ar_admin_start(px, err, errsz) < 0) {
        goto fail;
    }
    px->topo = topo_start(px, conf, err, errsz);
    if (px->topo == NULL) {
        goto fail;
    }
    return px;
fail:
    ar_proxy_free(px);
    return NULL;
}

int ar_proxy_reload(struct ar_proxy *px, const struct ar_conf *conf, char *err, size_t errsz)
{
    struct ar_topo *topo;
    struct ssl_ctx_st *ctx = NULL;

    if (conf->mode != px->conf->mode || conf->upstream_conns != px->conf->upstream_conns) {
        snprintf(err, errsz, "mode and upstream-conns change only with a restart");
        return -1;
    }
    if (conf->upstream_tls && px->tls == NULL && (px->tls = ar_tls_load(err, errsz)) == NULL) {
        return -1; /* loaded once, kept: freeing a context needs it */
    }
    if (conf->upstream_tls && (ctx = ar_up_tls_context(px->tls, conf, err, errsz)) == NULL) {
        return -1;
    }
    topo = topo_start(px, conf, err, errsz);
    if (topo == NULL) {
        if (ctx != NULL) {
            px->tls->SSL_CTX_free(ctx);
        }
        return -1;
    }
    if (conf->nlisten != px->conf->nlisten) {
        pk_log_warn("reload: listen addresses change only with a restart");
    }
    ar_topo_free(px->topo);
    px->topo = topo;
    if (px->ssl_ctx != NULL) {
        px->tls->SSL_CTX_free(px->ssl_ctx); /* connections hold references of their own */
    }
    px->ssl_ctx = ctx;
    px->conf = conf;
    return 0;
}

/* Shutting down: done once no client is left. */
static void stop_finish(evutil_socket_t fd, short what, void *arg)
{
    struct ar_proxy *px = arg;
    void (*done)(void *) = px->stop_done;
    (void)fd;
    (void)what;

    if (done != NULL) {
        px->stop_done = NULL;
        done(px->stop_arg);
    }
}

static void stop_check(struct ar_proxy *px)
{
    if (px->stopping && px->nclients == 0 && px->stop_done != NULL) {
        event_base_once(px->base, -1, EV_TIMEOUT, stop_finish, px, NULL);
    }
}

void ar_proxy_shutdown(struct ar_proxy *px, void (*done)(void *arg), void *arg)
{
    struct timeval tmo = {px->conf->shutdown_timeout_ms / 1000,
                          px->conf->shutdown_timeout_ms % 1000 * 1000};

    px->stopping = true;
    px->stop_done = done;
    px->stop_arg = arg;
    /* Closed, not merely disabled: a connection the kernel would still complete is one a
     * client library takes as accepted. */
    for (size_t i = 0; i < px->nlisteners; i++) {
        evconnlistener_free(px->listeners[i].l);
        if (px->listeners[i].path[0] != '\0') {
            unlink(px->listeners[i].path);
        }
    }
    px->nlisteners = 0;
    for (struct ar_client *c = px->clients; c != NULL; c = c->next) {
        if (!c->gone && c->inflight == 0) {
            ar_client_close(c, true);
        }
    }
    px->stop_timer = evtimer_new(px->base, stop_finish, px);
    if (px->stop_timer != NULL) {
        evtimer_add(px->stop_timer, &tmo);
    }
    stop_check(px);
}

void ar_proxy_free(struct ar_proxy *px)
{
    if (px == NULL) {
        return;
    }
    while (px->clients != NULL) {
        struct ar_client *c = px->clients;
        px->clients = c->next;
        if (c->up != NULL) {
            ar_up_free_now(c->up);
        }
        if (c->rup != NULL) {
            ar_up_free_now(c->rup);
        }
        if (c->bev != NULL) {
            bufferevent_free(c->bev);
        }
        free(c);
    }
    for (size_t i = 0; i < px->nshared; i++) {
        if (px->shared[i] != NULL) {
            ar_up_free_now(px->shared[i]);
        }
        if (px->rshared[i] != NULL) {
            ar_up_free_now(px->rshared[i]);
        }
    }
    for (size_t i = 0; i < px->nlisteners; i++) {
        evconnlistener_free(px->listeners[i].l);
        if (px->listeners[i].path[0] != '\0') {
            unlink(px->listeners[i].path);
        }
    }
    free(px->listeners);
    free(px->shared);
    free(px->rshared);
    ar_admin_stop(px);
    ar_topo_free(px->topo);
    if (px->stop_timer != NULL) {
        event_free(px->stop_timer);
    }
    if (px->dns != NULL) {
        evdns_base_free(px->dns, 0);
    }
    if (px->ssl_ctx != NULL) {
        px->tls->SSL_CTX_free(px->ssl_ctx);
    }
    ar_tls_unload(px->tls);
    free(px);
}
