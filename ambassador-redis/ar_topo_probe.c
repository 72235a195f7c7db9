/* ar_topo_probe.c — the topology's one-shot control exchanges on hiredis' async API (the
 * Sentinel questions and ROLE), and the connection helpers the subscriptions share. The
 * rules for letting go of a hiredis context are in ar_topo_int.h. */
#include "ar_topo_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

/* ---- connection helpers -------------------------------------------------------------- */

/* ms milliseconds as a timeval. */
struct timeval ar_topo_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* The address as it is configured: "host:port" or "[v6]:port". */
const char *ar_topo_addr_str(const struct ar_topo_addr *a, char *buf, size_t bufsz)
{
    if (strchr(a->host, ':') != NULL) {
        snprintf(buf, bufsz, "[%s]:%d", a->host, a->port);
    } else {
        snprintf(buf, bufsz, "%s:%d", a->host, a->port);
    }
    return buf;
}

/* A connection attached to the loop, or NULL with err (see ar_topo_int.h). */
redisAsyncContext *ar_topo_connect(struct event_base *base, const struct ar_topo_addr *a,
                                   void *data, redisConnectCallback *on_conn,
                                   redisDisconnectCallback *on_disc, char *err, size_t errsz)
{
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);

    if (ac == NULL) {
        snprintf(err, errsz, "connect: out of memory");
        return NULL;
    }
    if (ac->err != 0) {
        snprintf(err, errsz, "connect: %s", ac->c.errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    if (redisLibeventAttach(ac, base) != REDIS_OK) {
        snprintf(err, errsz, "connect: cannot attach to the event loop");
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = data;
    redisAsyncSetConnectCallback(ac, on_conn);
    redisAsyncSetDisconnectCallback(ac, on_disc);
    return ac;
}

/* Queues AUTH when a password is set: the replies it adds (0 or 1), or -1. */
int ar_topo_send_auth(redisAsyncContext *ac, const char *user, const char *pass,
                      redisCallbackFn *fn)
{
    int rc;

    if (pass == NULL) {
        return 0;
    }
    if (user != NULL) {
        rc = redisAsyncCommand(ac, fn, NULL, "AUTH %s %s", user, pass);
    } else {
        rc = redisAsyncCommand(ac, fn, NULL, "AUTH %s", pass);
    }
    return rc == REDIS_OK ? 1 : -1;
}

/* Why a context went away, from inside hiredis' teardown. */
const char *ar_topo_lost_why(const redisAsyncContext *ac)
{
    return ac->c.err != 0 ? ac->c.errstr : "connection closed";
}

/* A reply that carries text. */
bool ar_topo_is_str(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* ---- one-shot exchanges -------------------------------------------------------------- */

static const char *probe_what(const struct ar_probe *p)
{
    switch (p->kind) {
    case AR_PROBE_SENTINEL:
        return "sentinel";
    case AR_PROBE_ROLE_MASTER:
        return "master";
    case AR_PROBE_ROLE_REPLICA:
        return "replica";
    }
    return "?";
}

static void probe_unlink(struct ar_probe *p)
{
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else if (p->t->probes == p) {
        p->t->probes = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    p->prev = p->next = NULL;
}

static void probe_free(struct ar_probe *p)
{
    if (p->timer != NULL) {
        event_free(p->timer);
    }
    free(p->replicas);
    free(p);
}

/* Lets go of the context: freed now (free_ctx) or by hiredis, which is already at it. */
static void probe_detach(struct ar_probe *p, bool free_ctx)
{
    redisAsyncContext *ac = p->ac;

    p->ac = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        if (free_ctx) {
            redisAsyncFree(ac);
        }
    }
}

/* Ends the exchange: done sees the outcome, then p is gone. */
static void probe_finish(struct ar_probe *p, bool free_ctx)
{
    struct ar_topo *t = p->t;

    probe_detach(p, free_ctx);
    probe_unlink(p);
    p->done(t, p);
    probe_free(p);
}

static void probe_set_err(struct ar_probe *p, const char *fmt, va_list ap)
{
    char detail[AR_TOPO_ERR_MAX], where[AR_TOPO_HOST_MAX + 16];

    vsnprintf(detail, sizeof(detail), fmt, ap);
    snprintf(p->err, sizeof(p->err), "%s %s: %s", probe_what(p),
             ar_topo_addr_str(&p->addr, where, sizeof(where)), detail);
    p->ok = false;
}

static void probe_set_errf(struct ar_probe *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void probe_set_errf(struct ar_probe *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    probe_set_err(p, fmt, ap);
    va_end(ap);
}

static void probe_fail(struct ar_probe *p, bool free_ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void probe_fail(struct ar_probe *p, bool free_ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    probe_set_err(p, fmt, ap);
    va_end(ap);
    probe_finish(p, free_ctx);
}

/* The probe a reply belongs to, or NULL when there is nothing more to do with it: detached
 * already, the connection lost (NULL reply), or an error reply when errors_fail. */
static struct ar_probe *probe_reply(redisAsyncContext *ac, const redisReply *r, const char *cmd,
                                    bool errors_fail)
{
    struct ar_probe *p = ac->data;

    if (p == NULL) {
        return NULL;
    }
    if (r == NULL) {
        probe_fail(p, false, "%s: %s", cmd, ar_topo_lost_why(ac));
        return NULL;
    }
    if (errors_fail && r->type == REDIS_REPLY_ERROR) {
        probe_fail(p, true, "%s: %s", cmd, r->str);
        return NULL;
    }
    p->pending--;
    return p;
}

/* After a reply was used: the exchange succeeds once every reply is in. */
static void probe_maybe_done(struct ar_probe *p)
{
    if (p->pending == 0) {
        p->ok = true;
        probe_finish(p, true);
    }
}

/* A port as Redis writes it; 0 when it is not one. */
static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return end != s && *end == '\0' && v > 0 && v <= 65535 ? (int)v : 0;
}

static bool set_addr(struct ar_topo_addr *a, const char *host, int port)
{
    size_t n = strlen(host);

    if (n == 0 || n >= sizeof(a->host) || port <= 0) {
        return false;
    }
    memcpy(a->host, host, n + 1);
    a->port = port;
    return true;
}

static void on_probe_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct ar_probe *p = probe_reply(ac, reply, "AUTH", true);

    (void)privdata;
    if (p != NULL) {
        probe_maybe_done(p);
    }
}

static void on_master_addr(redisAsyncContext *ac, void *reply, void *privdata)
{
    const redisReply *r = reply;
    struct ar_probe *p = probe_reply(ac, r, "SENTINEL get-master-addr-by-name", true);

    (void)privdata;
    if (p == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_NIL) {
        probe_fail(p, true, "does not know master '%s'", p->t->master_name);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !ar_topo_is_str(r->element[0]) ||
        !ar_topo_is_str(r->element[1]) ||
        !set_addr(&p->master, r->element[0]->str, parse_port(r->element[1]->str))) {
        probe_fail(p, true, "a malformed reply to SENTINEL get-master-addr-by-name");
        return;
    }
    probe_maybe_done(p);
}

/* True when the comma-separated list has the flag as one of its items. */
static bool has_flag(const char *list, const char *flag)
{
    size_t n = strlen(flag);

    for (const char *s = list;; s++) {
        if (strncmp(s, flag, n) == 0 && (s[n] == ',' || s[n] == '\0')) {
            return true;
        }
        s = strchr(s, ',');
        if (s == NULL) {
            return false;
        }
    }
}

/* One entry of SENTINEL replicas (a flat list of names and values): its address when
 * Sentinel sees it healthy. */
static bool healthy_replica(const redisReply *e, struct ar_topo_addr *out)
{
    const char *ip = NULL, *port = NULL, *flags = NULL, *link = NULL;

    if (e->type != REDIS_REPLY_ARRAY) {
        return false;
    }
    for (size_t i = 0; i + 1 < e->elements; i += 2) {
        const redisReply *k = e->element[i], *v = e->element[i + 1];
        if (!ar_topo_is_str(k) || !ar_topo_is_str(v)) {
            continue;
        }
        if (strcmp(k->str, "ip") == 0) {
            ip = v->str;
        } else if (strcmp(k->str, "port") == 0) {
            port = v->str;
        } else if (strcmp(k->str, "flags") == 0) {
            flags = v->str;
        } else if (strcmp(k->str, "master-link-status") == 0) {
            link = v->str;
        }
    }
    if (ip == NULL || port == NULL || flags == NULL || link == NULL || has_flag(flags, "s_down") ||
        has_flag(flags, "o_down") || has_flag(flags, "disconnected") || strcmp(link, "ok") != 0) {
        return false;
    }
    return set_addr(out, ip, parse_port(port));
}

static void on_replicas(redisAsyncContext *ac, void *reply, void *privdata)
{
    const redisReply *r = reply;
    struct ar_probe *p = probe_reply(ac, r, "SENTINEL replicas", false);
    char where[AR_TOPO_HOST_MAX + 16];

    (void)privdata;
    if (p == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        /* The master's address stands; the replicas stay as they were. */
        ar_topo_error(p->t, "sentinel %s: SENTINEL replicas: %s",
                      ar_topo_addr_str(&p->addr, where, sizeof(where)),
                      r->type == REDIS_REPLY_ERROR ? r->str : "a malformed reply");
        probe_maybe_done(p);
        return;
    }
    size_t n = r->elements < AR_TOPO_REPLICAS_MAX ? r->elements : AR_TOPO_REPLICAS_MAX;
    p->replicas = calloc(n > 0 ? n : 1, sizeof(*p->replicas));
    if (p->replicas == NULL) {
        probe_fail(p, true, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (healthy_replica(r->element[i], &p->replicas[p->nreplicas])) {
            p->nreplicas++;
        }
    }
    p->replicas_valid = true;
    probe_maybe_done(p);
}

static void on_role(redisAsyncContext *ac, void *reply, void *privdata)
{
    const redisReply *r = reply;
    struct ar_probe *p = probe_reply(ac, r, "ROLE", false);

    (void)privdata;
    if (p == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_ERROR &&
        (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "NOPERM", 6) == 0)) {
        /* It answers, but its role is not ours to ask: without upstream credentials the
         * clients authenticate themselves. An answer is taken as proof enough. */
        probe_maybe_done(p);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        probe_fail(p, true, "ROLE: %s", r->str);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !ar_topo_is_str(r->element[0])) {
        probe_fail(p, true, "a malformed reply to ROLE");
        return;
    }
    const char *role = r->element[0]->str;
    if (p->kind == AR_PROBE_ROLE_MASTER && strcmp(role, "master") != 0) {
        probe_fail(p, true, "ROLE says %s, not master", role);
        return;
    }
    if (p->kind == AR_PROBE_ROLE_REPLICA) {
        if (strcmp(role, "slave") != 0) {
            probe_fail(p, true, "ROLE says %s, not slave", role);
            return;
        }
        if (r->elements < 4 || !ar_topo_is_str(r->element[3]) ||
            strcmp(r->element[3]->str, "connected") != 0) {
            probe_fail(p, true, "its link to the master is %s, not connected",
                       r->elements >= 4 && ar_topo_is_str(r->element[3]) ? r->element[3]->str
                                                                         : "?");
            return;
        }
    }
    probe_maybe_done(p);
}

static void on_probe_connect(const redisAsyncContext *ac, int status)
{
    struct ar_probe *p = ac->data;

    if (p == NULL) {
        return;
    }
    if (status != REDIS_OK) {
        probe_fail(p, false, "connect: %s", ar_topo_lost_why(ac));
        return;
    }
    /* Connected in time: now the replies get the same delay. */
    struct timeval tv = ar_topo_tv(p->t->connect_timeout_ms);
    p->connected = true;
    evtimer_add(p->timer, &tv);
}

static void on_probe_disconnect(const redisAsyncContext *ac, int status)
{
    struct ar_probe *p = ac->data;

    (void)status;
    if (p != NULL) {
        probe_fail(p, false, "%s", ar_topo_lost_why(ac));
    }
}

static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
    struct ar_probe *p = arg;

    (void)fd;
    (void)what;
    if (p->ac == NULL) {
        probe_finish(p, false); /* it failed to start: err is set */
    } else if (p->connected) {
        probe_fail(p, true, "no reply within %d ms", p->t->connect_timeout_ms);
    } else {
        probe_fail(p, true, "connect timed out after %d ms", p->t->connect_timeout_ms);
    }
}

/* Queues the kind's commands after AUTH; -1 when hiredis refuses one. */
static int probe_send(struct ar_probe *p)
{
    struct ar_topo *t = p->t;
    redisAsyncContext *ac = p->ac;
    bool sentinel = p->kind == AR_PROBE_SENTINEL;
    int n =
        ar_topo_send_auth(ac, sentinel ? t->sentinel_user : t->upstream_user,
                          sentinel ? t->sentinel_password : t->upstream_password, on_probe_auth);

    if (n < 0) {
        return -1;
    }
    p->pending = n;
    if (!sentinel) {
        p->pending++;
        return redisAsyncCommand(ac, on_role, NULL, "ROLE") == REDIS_OK ? 0 : -1;
    }
    p->pending++;
    if (redisAsyncCommand(ac, on_master_addr, NULL, "SENTINEL get-master-addr-by-name %s",
                          t->master_name) != REDIS_OK) {
        return -1;
    }
    if (t->discover_replicas) {
        p->pending++;
        if (redisAsyncCommand(ac, on_replicas, NULL, "SENTINEL replicas %s", t->master_name) !=
            REDIS_OK) {
            return -1;
        }
    }
    return 0;
}

/* Starts one exchange; done reports it from the loop, never from inside this call. */
int ar_probe_start(struct ar_topo *t, enum ar_probe_kind kind, const struct ar_topo_addr *addr,
                   size_t slot, ar_probe_done_fn *done)
{
    struct ar_probe *p = calloc(1, sizeof(*p));
    char err[AR_TOPO_ERR_MAX];
    struct timeval tv = ar_topo_tv(t->connect_timeout_ms);

    if (p == NULL) {
        return -1;
    }
    p->t = t;
    p->kind = kind;
    p->slot = slot;
    p->addr = *addr;
    p->done = done;
    p->timer = evtimer_new(t->base, on_probe_timer, p);
    if (p->timer == NULL) {
        probe_free(p);
        return -1;
    }
    p->next = t->probes;
    if (t->probes != NULL) {
        t->probes->prev = p;
    }
    t->probes = p;

    /* A failure to start is reported like any other, from the loop, so that done never
     * runs inside the caller. */
    p->ac =
        ar_topo_connect(t->base, addr, p, on_probe_connect, on_probe_disconnect, err, sizeof(err));
    if (p->ac == NULL) {
        probe_set_errf(p, "%s", err);
        tv = ar_topo_tv(0);
    } else if (probe_send(p) < 0) {
        probe_detach(p, true);
        probe_set_errf(p, "cannot queue commands");
        tv = ar_topo_tv(0);
    }
    evtimer_add(p->timer, &tv);
    return 0;
}

/* Drops every exchange in flight without a word to their done callbacks. */
void ar_probe_cancel_all(struct ar_topo *t)
{
    while (t->probes != NULL) {
        struct ar_probe *p = t->probes;
        probe_detach(p, true);
        probe_unlink(p);
        probe_free(p);
    }
}
