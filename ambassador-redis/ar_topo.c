/* ar_topo.c — where the master and the healthy replicas are: the configuration, the checks
 * (Sentinels in turn, ROLE on what they name, ROLE on the replicas), the state they lead to,
 * and the events announced from the loop. The connections are in ar_topo_probe.c (one-shot
 * exchanges) and ar_topo_sub.c (the +switch-master subscriptions).
 *
 * A check runs one phase at a time: SENTINEL (each Sentinel in turn until one names a master
 * that ROLE confirms), MASTER (ROLE on the candidate), REPLICAS (ROLE on every candidate at
 * once). Its outcome is the "found" state; the dispatcher compares it with what the callback
 * was told last and announces the difference, so one state is never announced twice. */
#include "ar_topo_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pk_addr.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 500
#define DEFAULT_RECHECK_MS 1000
/* The least time from the end of a check to one a suspect asks for: a data path reporting
 * every failed connection must not turn the checks into a busy loop on the Sentinels. */
#define SUSPECT_GAP_MS 100

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool addr_eq(const struct ar_topo_addr *a, const struct ar_topo_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static int addr_cmp(const void *pa, const void *pb)
{
    const struct ar_topo_addr *a = pa, *b = pb;
    int c = strcmp(a->host, b->host);

    return c != 0 ? c : (a->port > b->port) - (a->port < b->port);
}

/* Keeps the failure for stats.last_error (see ar_topo_int.h). */
void ar_topo_error(struct ar_topo *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->stats.last_error, sizeof(t->stats.last_error), fmt, ap);
    va_end(ap);
}

/* ---- the checks ---------------------------------------------------------------------- */

static void check_replicas(struct ar_topo *t);

static void schedule_check(struct ar_topo *t, int ms)
{
    struct timeval tv = ar_topo_tv(ms);

    evtimer_del(t->check_ev);
    evtimer_add(t->check_ev, &tv);
    t->check_due = now_s() + ms / 1000.0;
}

/* A sign that the master may have moved, kept to time the failover it may start. */
static void note_sign(struct ar_topo *t)
{
    if (t->sign_at == 0) {
        t->sign_at = now_s();
    }
}

/* A check as soon as allowed: after the one running, or SUSPECT_GAP_MS after the last. */
static void trigger(struct ar_topo *t)
{
    double now = now_s();
    double at = t->check_ended + SUSPECT_GAP_MS / 1000.0;

    if (t->phase != AR_CHECK_IDLE) {
        t->again = true;
        return;
    }
    if (at < now) {
        at = now;
    }
    if (t->check_due <= at) {
        return; /* already that soon: several suspects make one check */
    }
    schedule_check(t, (int)((at - now) * 1000.0 + 0.999));
}

static void check_end(struct ar_topo *t)
{
    double now = now_s();
    size_t n = 0;

    t->phase = AR_CHECK_IDLE;
    t->check_ended = now;
    if (t->master_ok) {
        if (t->have_last && !addr_eq(&t->cand, &t->last_master)) {
            t->failover_seconds = now - (t->sign_at > 0 ? t->sign_at : t->check_started);
        }
        t->sign_at = 0;
        t->have_master = true;
        t->master = t->cand;
        t->have_last = true;
        t->last_master = t->cand;
    } else {
        if (t->sign_at == 0 && t->have_last) {
            t->sign_at = t->check_started;
        }
        t->have_master = false;
    }
    for (size_t i = 0; i < t->ncand_replicas; i++) {
        if (t->cand_ok[i]) {
            t->replicas[n++] = t->cand_replicas[i];
        }
    }
    qsort(t->replicas, n, sizeof(t->replicas[0]), addr_cmp);
    t->nreplicas = n;
    event_active(t->dispatch_ev, EV_TIMEOUT, 0);
    schedule_check(t, t->again ? SUSPECT_GAP_MS : t->recheck_ms);
    t->again = false;
}

static void on_replica_probe(struct ar_topo *t, struct ar_probe *p)
{
    if (p->ok) {
        t->cand_ok[p->slot] = true;
    } else {
        ar_topo_error(t, "%s", p->err);
    }
    if (--t->outstanding == 0) {
        check_end(t);
    }
}

/* ROLE on every replica candidate at once: those Sentinel listed last, or the fixed ones. */
static void check_replicas(struct ar_topo *t)
{
    const struct ar_topo_addr *src = t->fixed_replicas;
    size_t n = t->nfixed_replicas;

    if (t->sentinel_mode && t->discover_replicas) {
        src = t->sentinel_replicas;
        n = t->nsentinel_replicas;
    }
    t->ncand_replicas = 0;
    for (size_t i = 0; i < n; i++) {
        if (t->master_ok && addr_eq(&src[i], &t->cand)) {
            continue; /* promoted: not a replica any more */
        }
        t->cand_replicas[t->ncand_replicas] = src[i];
        t->cand_ok[t->ncand_replicas] = t->skip_role_check;
        t->ncand_replicas++;
    }
    t->outstanding = 0;
    t->phase = AR_CHECK_REPLICAS;
    for (size_t i = 0; i < t->ncand_replicas && !t->skip_role_check; i++) {
        if (ar_probe_start(t, AR_PROBE_ROLE_REPLICA, &t->cand_replicas[i], i, on_replica_probe) ==
            0) {
            t->outstanding++;
        } else {
            ar_topo_error(t, "replica check: out of memory");
        }
    }
    if (t->outstanding == 0) {
        check_end(t);
    }
}

static void ask_next_sentinel(struct ar_topo *t);

static void master_done(struct ar_topo *t, bool ok)
{
    t->master_ok = ok;
    if (!ok && t->sentinel_mode && !t->fallback) {
        /* This Sentinel named a master that does not say it is one: ask the next. */
        t->next_sentinel++;
        ask_next_sentinel(t);
        return;
    }
    check_replicas(t);
}

static void on_master_probe(struct ar_topo *t, struct ar_probe *p)
{
    if (!p->ok) {
        ar_topo_error(t, "%s", p->err);
    }
    master_done(t, p->ok);
}

/* ROLE on t->cand, unless told to trust it. */
static void confirm_master(struct ar_topo *t)
{
    if (t->skip_role_check) {
        master_done(t, true);
        return;
    }
    t->phase = AR_CHECK_MASTER;
    if (ar_probe_start(t, AR_PROBE_ROLE_MASTER, &t->cand, 0, on_master_probe) < 0) {
        ar_topo_error(t, "master check: out of memory");
        master_done(t, false);
    }
}

/* The Sentinel at index i answered: it is asked first from now on. The ones not asked yet
 * keep their indexes above i. */
static void sentinel_to_front(struct ar_topo *t, size_t i)
{
    struct ar_topo_addr s = t->sentinels[i];

    memmove(&t->sentinels[1], &t->sentinels[0], i * sizeof(t->sentinels[0]));
    t->sentinels[0] = s;
}

static void on_sentinel_probe(struct ar_topo *t, struct ar_probe *p)
{
    if (!p->ok) {
        t->stats.sentinel_errors++;
        ar_topo_error(t, "%s", p->err);
        t->next_sentinel++;
        ask_next_sentinel(t);
        return;
    }
    t->sentinel_answered = true;
    sentinel_to_front(t, p->slot);
    if (p->replicas_valid) {
        memcpy(t->sentinel_replicas, p->replicas, p->nreplicas * sizeof(p->replicas[0]));
        t->nsentinel_replicas = p->nreplicas;
    }
    t->cand = p->master;
    confirm_master(t);
}

static void ask_next_sentinel(struct ar_topo *t)
{
    t->phase = AR_CHECK_SENTINEL;
    while (t->next_sentinel < t->nsentinels) {
        if (ar_probe_start(t, AR_PROBE_SENTINEL, &t->sentinels[t->next_sentinel], t->next_sentinel,
                           on_sentinel_probe) == 0) {
            return;
        }
        t->stats.sentinel_errors++;
        ar_topo_error(t, "sentinel check: out of memory");
        t->next_sentinel++;
    }
    /* No Sentinel named a master that confirms. When none answered at all, the last master
     * stays if it still says it is one: Sentinels being down is no reason to lose it. */
    if (!t->sentinel_answered && t->have_master) {
        t->fallback = true;
        t->cand = t->master;
        confirm_master(t);
        return;
    }
    t->master_ok = false;
    check_replicas(t);
}

static void on_check_timer(evutil_socket_t fd, short what, void *arg)
{
    struct ar_topo *t = arg;

    (void)fd;
    (void)what;
    t->check_due = 1e300; /* none scheduled until this one ends */
    t->check_started = now_s();
    t->next_sentinel = 0;
    t->sentinel_answered = false;
    t->fallback = false;
    t->master_ok = false;
    if (t->sentinel_mode) {
        ask_next_sentinel(t);
    } else {
        t->cand = t->upstream;
        confirm_master(t);
    }
}

/* A Sentinel announced +switch-master for our master: a sign, and a check soon. */
void ar_topo_switched(struct ar_topo *t)
{
    note_sign(t);
    trigger(t);
}

/* ---- events -------------------------------------------------------------------------- */

static void announce_master(struct ar_topo *t)
{
    struct ar_topo_addr old = t->ann_master, now = t->master;
    enum ar_topo_event ev = AR_TOPO_MASTER_FOUND;
    bool has_old = true;

    if (t->have_master == t->ann_have && (!t->have_master || addr_eq(&t->master, &old))) {
        return;
    }
    if (!t->have_master) {
        ev = AR_TOPO_MASTER_LOST;
    } else if (t->ann_have) {
        ev = AR_TOPO_MASTER_CHANGED;
    } else if (t->ann_ever && !addr_eq(&t->ann_last, &now)) {
        ev = AR_TOPO_MASTER_CHANGED; /* lost, then found elsewhere: a failover all the same */
        old = t->ann_last;
    } else {
        has_old = false;
    }
    t->ann_have = t->have_master;
    if (t->have_master) {
        t->ann_master = now;
        t->ann_ever = true;
        t->ann_last = now;
    }
    if (ev == AR_TOPO_MASTER_CHANGED) {
        t->stats.failovers++;
        t->stats.last_failover_seconds = t->failover_seconds;
    }
    if (t->cb != NULL) {
        t->cb(t->arg, ev, has_old ? &old : NULL, t->have_master ? &now : NULL);
    }
}

static void announce_replicas(struct ar_topo *t)
{
    struct ar_topo_addr now = t->ann_master;
    bool same = t->nreplicas == t->ann_nreplicas;

    for (size_t i = 0; same && i < t->nreplicas; i++) {
        same = addr_eq(&t->replicas[i], &t->ann_replicas[i]);
    }
    if (same) {
        return;
    }
    memcpy(t->ann_replicas, t->replicas, t->nreplicas * sizeof(t->replicas[0]));
    t->ann_nreplicas = t->nreplicas;
    if (t->cb != NULL) {
        t->cb(t->arg, AR_TOPO_REPLICAS, NULL, t->ann_have ? &now : NULL);
    }
}

static void topo_destroy(struct ar_topo *t);

static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    struct ar_topo *t = arg;

    (void)fd;
    (void)what;
    t->in_cb = true;
    announce_master(t);
    if (!t->freeing) {
        announce_replicas(t);
    }
    t->in_cb = false;
    if (t->freeing) {
        topo_destroy(t);
    }
}

/* ---- configuration and the object ---------------------------------------------------- */

static int bad(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

/* One "HOST:PORT" or "[v6]:PORT" that can be connected to. */
static int parse_addr(const char *what, const char *text, struct ar_topo_addr *out, char *err,
                      size_t errsz)
{
    struct pk_addr a;
    char why[128];

    if (text == NULL) {
        return bad(err, errsz, "%s: no address", what);
    }
    if (pk_addr_parse(text, 0, &a, why, sizeof(why)) < 0) {
        return bad(err, errsz, "%s '%s': %s", what, text, why);
    }
    if (a.kind != PK_ADDR_INET) {
        return bad(err, errsz, "%s '%s': expected HOST:PORT, not a unix socket", what, text);
    }
    if (a.host[0] == '\0' || a.port == 0) {
        return bad(err, errsz, "%s '%s': needs a host and a port other than 0", what, text);
    }
    snprintf(out->host, sizeof(out->host), "%s", a.host);
    out->port = a.port;
    return 0;
}

/* A copy of s (NULL stays NULL); -1 when memory runs out. */
static int dup_str(char **dst, const char *s)
{
    *dst = NULL;
    if (s != NULL && (*dst = strdup(s)) == NULL) {
        return -1;
    }
    return 0;
}

static int check_config(const struct ar_topo_config *c, char *err, size_t errsz)
{
    if (c->nsentinels == 0 && c->upstream == NULL) {
        return bad(err, errsz, "neither an upstream nor Sentinels: one of them is required");
    }
    if (c->nsentinels > 0 && c->sentinels == NULL) {
        return bad(err, errsz, "%zu Sentinels announced but none given", c->nsentinels);
    }
    if (c->nsentinels > 0 && (c->master_name == NULL || c->master_name[0] == '\0')) {
        return bad(err, errsz,
                   "Sentinels need master_name, the name of the master they "
                   "monitor");
    }
    if (c->nsentinels > 0 && strpbrk(c->master_name, " \t\r\n") != NULL) {
        return bad(err, errsz, "master_name '%s' has white space", c->master_name);
    }
    if (c->nreplicas > 0 && c->replicas == NULL) {
        return bad(err, errsz, "%zu replicas announced but none given", c->nreplicas);
    }
    if (c->nreplicas > AR_TOPO_REPLICAS_MAX) {
        return bad(err, errsz, "%zu replicas: at most %d are followed", c->nreplicas,
                   AR_TOPO_REPLICAS_MAX);
    }
    if (c->upstream_user != NULL && c->upstream_password == NULL) {
        return bad(err, errsz, "upstream_user needs upstream_password");
    }
    if (c->sentinel_user != NULL && c->sentinel_password == NULL) {
        return bad(err, errsz, "sentinel_user needs sentinel_password");
    }
    return 0;
}

/* See ar_topo.h: validates and copies cfg; the first check runs from the loop. */
struct ar_topo *ar_topo_new(struct event_base *base, const struct ar_topo_config *cfg,
                            ar_topo_cb *cb, void *arg, char *err, size_t errsz)
{
    struct ar_topo *t = NULL;
    char what[48];

    if (base == NULL || cfg == NULL) {
        bad(err, errsz, "no event base or no configuration");
        goto fail;
    }
    if (check_config(cfg, err, errsz) < 0) {
        goto fail;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        goto oom;
    }
    t->base = base;
    t->cb = cb;
    t->arg = arg;
    t->sentinel_mode = cfg->nsentinels > 0;
    t->discover_replicas = cfg->discover_replicas;
    t->skip_role_check = cfg->skip_role_check;
    t->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    t->recheck_ms = cfg->recheck_ms > 0 ? cfg->recheck_ms : DEFAULT_RECHECK_MS;
    t->stats.sentinel_mode = t->sentinel_mode;
    if (dup_str(&t->master_name, t->sentinel_mode ? cfg->master_name : NULL) < 0 ||
        dup_str(&t->upstream_user, cfg->upstream_user) < 0 ||
        dup_str(&t->upstream_password, cfg->upstream_password) < 0 ||
        dup_str(&t->sentinel_user, cfg->sentinel_user) < 0 ||
        dup_str(&t->sentinel_password, cfg->sentinel_password) < 0) {
        goto oom;
    }
    /* With Sentinels the upstream is not used: Sentinel says where the master is. */
    if (!t->sentinel_mode && parse_addr("upstream", cfg->upstream, &t->upstream, err, errsz) < 0) {
        goto fail;
    }
    t->nsentinels = cfg->nsentinels;
    t->sentinels = calloc(cfg->nsentinels + 1, sizeof(*t->sentinels));
    t->subs = calloc(cfg->nsentinels + 1, sizeof(*t->subs));
    t->fixed_replicas = calloc(cfg->nreplicas + 1, sizeof(*t->fixed_replicas));
    if (t->sentinels == NULL || t->subs == NULL || t->fixed_replicas == NULL) {
        goto oom;
    }
    for (size_t i = 0; i < cfg->nsentinels; i++) {
        snprintf(what, sizeof(what), "sentinel %zu", i + 1);
        if (parse_addr(what, cfg->sentinels[i], &t->sentinels[i], err, errsz) < 0) {
            goto fail;
        }
    }
    for (size_t i = 0; i < cfg->nreplicas; i++) {
        snprintf(what, sizeof(what), "replica %zu", i + 1);
        if (parse_addr(what, cfg->replicas[i], &t->fixed_replicas[t->nfixed_replicas], err, errsz) <
            0) {
            goto fail;
        }
        t->nfixed_replicas++;
    }
    t->check_ev = evtimer_new(base, on_check_timer, t);
    t->dispatch_ev = event_new(base, -1, 0, on_dispatch, t);
    if (t->check_ev == NULL || t->dispatch_ev == NULL) {
        goto oom;
    }
    for (size_t i = 0; i < t->nsentinels; i++) {
        if (ar_sub_init(&t->subs[i], t, &t->sentinels[i]) < 0) {
            goto oom;
        }
    }
    schedule_check(t, 0); /* the first check, from the loop */
    return t;

oom:
    bad(err, errsz, "out of memory");
fail:
    topo_destroy(t);
    return NULL;
}

/* Frees t and all it holds; t may be half-built. */
static void topo_destroy(struct ar_topo *t)
{
    if (t == NULL) {
        return;
    }
    ar_probe_cancel_all(t);
    for (size_t i = 0; t->subs != NULL && i < t->nsentinels; i++) {
        ar_sub_fini(&t->subs[i]);
    }
    if (t->check_ev != NULL) {
        event_free(t->check_ev);
    }
    if (t->dispatch_ev != NULL) {
        event_free(t->dispatch_ev);
    }
    free(t->subs);
    free(t->sentinels);
    free(t->fixed_replicas);
    free(t->master_name);
    free(t->upstream_user);
    free(t->upstream_password);
    free(t->sentinel_user);
    free(t->sentinel_password);
    free(t);
}

/* What the callback was last told, so that the two never disagree. */
const struct ar_topo_addr *ar_topo_master(const struct ar_topo *t)
{
    return t->ann_have ? &t->ann_master : NULL;
}

/* Likewise: the replicas last announced, sorted by host and port. */
size_t ar_topo_replicas(const struct ar_topo *t, const struct ar_topo_addr **out)
{
    *out = t->ann_replicas;
    return t->ann_nreplicas;
}

/* A check as soon as allowed; several suspects in a row make one. */
void ar_topo_suspect(struct ar_topo *t, const char *why)
{
    (void)why; /* the caller logs it; a library does not */
    if (t == NULL || t->freeing) {
        return;
    }
    note_sign(t);
    trigger(t);
}

/* A copy of the counters. */
void ar_topo_stats(const struct ar_topo *t, struct ar_topo_stats *out)
{
    *out = t->stats;
}

/* Frees now, or once the callback returns when called from inside it. */
void ar_topo_free(struct ar_topo *t)
{
    if (t == NULL) {
        return;
    }
    if (t->in_cb) {
        t->freeing = true; /* on_dispatch frees it when the callback returns */
        return;
    }
    topo_destroy(t);
}
