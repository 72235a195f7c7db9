/* am_app.c — one running adapter: sources feeding the store, scrapes waiting for the pull
 * sources, the adapter's own metrics, and reloads that keep statsd sockets open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "am_app.h"
#include "am_prom.h"
#include "am_statsd.h"
#include "am_text.h"
#include "pk_log.h"
#include "pk_version.h"

#define LOG_EVERY_NS (10 * 1000000000LL)
#define SELF 0

struct am_waiter {
    struct am_waiter *next;
    struct am_app *app;
    struct evhttp_request *req; /* NULL once its connection closed */
    enum am_format fmt;
    bool gzip;
};

int64_t am_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- bad input: counted always, logged at most every 10 s per source ---- */

static void bad_input(struct am_source *s, size_t line, const char *why)
{
    int64_t t = now_ns();

    if (s->last_log_ns != 0 && t - s->last_log_ns < LOG_EVERY_NS) {
        s->unlogged++;
        return;
    }
    char more[64] = "";
    if (s->unlogged > 0) {
        snprintf(more, sizeof(more), " (and %llu more since the last report)",
                 (unsigned long long)s->unlogged);
    }
    if (line > 0) {
        pk_log_warn("source %s: line %zu: %s%s", s->conf->name, line, why, more);
    } else {
        pk_log_warn("source %s: %s%s", s->conf->name, why, more);
    }
    s->last_log_ns = t;
    s->unlogged = 0;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    struct am_source *s = arg;

    s->counts.parse_errors++;
    bad_input(s, line, why);
}

/* A string value no rule maps is not an error: JSON status pages are full of them. */
#define NO_VALUE_MAP "string value without value_map"

static void on_sample(void *arg, const struct am_sample *smp)
{
    struct am_source *s = arg;
    const char *why = NULL;

    if (am_map_apply(s->map, s->app->store, smp, s->gen, s->now_ms, &why) < 0) {
        if (smp->kind == AM_KIND_UNTYPED && smp->set_member != NULL && why != NULL &&
            strcmp(why, NO_VALUE_MAP) == 0) {
            s->counts.skipped++;
            return;
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "%.*s: %s", (int)(smp->name_len > 80 ? 80 : smp->name_len),
                 smp->name, why != NULL ? why : "refused");
        bad_input(s, 0, msg);
    }
}

/* A pulled Prometheus exposition: no rules, only the source's constant labels added. */
static void on_prom(void *arg, struct am_update *u)
{
    struct am_source *s = arg;
    struct am_label labels[AM_LABELS_MAX];
    struct am_family_spec counter;
    const char *why = NULL;
    size_t n = 0;

    for (size_t i = 0; i < u->nlabels && n < AM_LABELS_MAX; i++) {
        labels[n++] = u->labels[i];
    }
    for (size_t i = 0; i < s->conf->nlabels; i++) {
        bool dup = false;
        for (size_t j = 0; j < u->nlabels; j++) {
            dup |= u->labels[j].name_len == s->conf->labels[i].name_len &&
                   memcmp(u->labels[j].name, s->conf->labels[i].name, u->labels[j].name_len) == 0;
        }
        if (!dup && n < AM_LABELS_MAX) {
            labels[n++] = s->conf->labels[i];
        }
    }
    u->labels = labels;
    u->nlabels = n;
    /* A "_total" without a TYPE line is a counter to every reader (and to promtool). */
    if (u->spec->type == AM_TYPE_UNTYPED && u->op == AM_OP_SET && u->name_len > 6 &&
        memcmp(u->name + u->name_len - 6, "_total", 6) == 0) {
        counter = *u->spec;
        counter.type = AM_TYPE_COUNTER;
        u->spec = &counter;
        u->name_len -= 6;
    }
    u->source = s->id;
    u->gen = s->gen;
    if (am_store_update(s->app->store, u, s->now_ms, &why) < 0) {
        char msg[160];
        s->counts.refused++;
        snprintf(msg, sizeof(msg), "%.*s: %s", (int)(u->name_len > 80 ? 80 : u->name_len), u->name,
                 why != NULL ? why : "refused");
        bad_input(s, 0, msg);
    } else {
        s->counts.mapped++;
    }
}

static void on_statsd(void *arg, const char *buf, size_t len)
{
    struct am_source *s = arg;

    s->now_ms = am_now_ms();
    am_statsd_parse(buf, len, on_sample, on_reject, s);
}

/* ---- scrapes ---- */

static void self_metrics(struct am_app *app);

static void respond(struct am_app *app, struct am_waiter *w)
{
    struct evbuffer *body = evbuffer_new(), *gz = NULL;
    struct evkeyvalq *h;

    if (w->req == NULL) {
        evbuffer_free(body);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
    if (body == NULL || am_expo_render(app->store, w->fmt, am_now_ms(), body) < 0) {
        evhttp_send_error(w->req, HTTP_INTERNAL, "out of memory");
        goto out;
    }
    h = evhttp_request_get_output_headers(w->req);
    evhttp_add_header(h, "Content-Type", am_expo_content_type(w->fmt));
    if (w->gzip) {
        if ((gz = evbuffer_new()) != NULL && am_gzip(body, gz, 1) == 0) {
            evhttp_add_header(h, "Content-Encoding", "gzip");
            evbuffer_free(body);
            body = gz;
            gz = NULL;
        }
    }
    evhttp_add_header(h, "Vary", "Accept, Accept-Encoding");
    evhttp_send_reply(w->req, HTTP_OK, "OK", body);
out:
    if (gz != NULL) {
        evbuffer_free(gz);
    }
    if (body != NULL) {
        evbuffer_free(body);
    }
}

/* Every pull source is in (or the deadline passed): answer everyone waiting. */
static void scrape_done(struct am_app *app)
{
    struct am_waiter *w = app->waiters;

    app->waiters = NULL;
    app->scraping = false;
    event_del(app->deadline);
    app->scrapes++;
    self_metrics(app);
    while (w != NULL) {
        struct am_waiter *next = w->next;
        respond(app, w);
        free(w);
        w = next;
    }
}

static bool any_in_flight(const struct am_app *app)
{
    for (size_t i = 0; i < app->nsrc; i++) {
        if (app->src[i]->in_flight) {
            return true;
        }
    }
    return false;
}

static void on_pulled(void *arg, const char *data, size_t len, const char *err)
{
    struct am_source *s = arg;
    struct am_app *app = s->app;

    s->in_flight = false;
    s->now_ms = am_now_ms();
    s->gen++;
    if (err != NULL) {
        s->up = false;
        bad_input(s, 0, err);
    } else {
        s->up = true;
        switch (s->conf->url.format) {
        case AM_SRC_FORMAT_KV:
            am_kv_parse(data, len, true, on_sample, on_reject, s);
            break;
        case AM_SRC_FORMAT_JSON:
            am_json_parse(data, len, true, on_sample, on_reject, s);
            break;
        case AM_SRC_FORMAT_INFO:
            am_info_parse(data, len, true, on_sample, on_reject, s);
            break;
        case AM_SRC_FORMAT_PROM:
            am_prom_parse(data, len, on_prom, on_reject, s);
            break;
        case AM_SRC_FORMAT_STATSD:
            break;
        }
    }
    /* What the source did not report this time (or everything, when it is down) goes. */
    am_store_sweep(app->store, s->id, s->gen);
    s->duration = (double)(now_ns() - s->start_ns) / 1e9;
    if (app->scraping && !any_in_flight(app)) {
        scrape_done(app);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct am_app *app = arg;
    (void)fd;
    (void)what;

    for (size_t i = 0; i < app->nsrc; i++) {
        if (app->src[i]->in_flight) {
            pk_log_warn("source %s: still fetching at the scrape deadline",
                        app->src[i]->conf->name);
        }
    }
    scrape_done(app);
}

static void on_conn_close(struct evhttp_connection *conn, void *arg)
{
    struct am_waiter *w = arg;
    (void)conn;

    w->req = NULL;
}

void am_app_scrape(struct am_app *app, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct am_waiter *w = calloc(1, sizeof(*w));
    int64_t longest = 0;

    if (w == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    w->app = app;
    w->req = req;
    w->fmt = am_expo_negotiate(evhttp_find_header(h, "Accept"));
    w->gzip = am_expo_wants_gzip(evhttp_find_header(h, "Accept-Encoding"));
    w->next = app->waiters;
    app->waiters = w;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, w);
    if (app->scraping) {
        return; /* joins the scrape in flight */
    }
    app->scraping = true;
    for (size_t i = 0; i < app->nsrc; i++) {
        struct am_source *s = app->src[i];
        int64_t t = s->conf->timeout_ms > 0 ? s->conf->timeout_ms : app->conf->scrape_timeout_ms;
        if (s->pull == NULL || s->in_flight) {
            continue;
        }
        s->start_ns = now_ns();
        if (am_pull_start(s->pull, on_pulled, s) == 0) {
            s->in_flight = true;
            longest = t > longest ? t : longest;
        }
    }
    if (!any_in_flight(app)) {
        scrape_done(app);
        return;
    }
    struct timeval tv = {.tv_sec = (longest + 500) / 1000,
                         .tv_usec = ((longest + 500) % 1000) * 1000};
    event_add(app->deadline, &tv);
}

/* ---- the adapter's own metrics, in the store under source 0 ---- */

struct self {
    struct am_app *app;
    int64_t now;
};

static void put(struct self *sf, const char *name, enum am_type type, const char *help,
                const struct am_label *labels, size_t nlabels, double v)
{
    struct am_family_spec spec = {.type = type, .help = help};
    struct am_update u = {
        .name = name,
        .name_len = strlen(name),
        .spec = &spec,
        .labels = labels,
        .nlabels = nlabels,
        .op = AM_OP_SET,
        .value = v,
        .source = SELF,
        .gen = sf->app->self_gen,
    };
    const char *why = NULL;

    if (am_store_update(sf->app->store, &u, sf->now, &why) < 0) {
        pk_log_error("self-metric %s: %s", name, why != NULL ? why : "refused");
    }
}

static void put1(struct self *sf, const char *name, enum am_type type, const char *help,
                 const char *lname, const char *lvalue, double v)
{
    struct am_label l = {lname, strlen(lname), lvalue, strlen(lvalue)};
    put(sf, name, type, help, &l, 1, v);
}

static void put2(struct self *sf, const char *name, const char *help, const char *source,
                 const char *lname, const char *lvalue, double v)
{
    struct am_label l[2] = {{"source", 6, source, strlen(source)},
                            {lname, strlen(lname), lvalue, strlen(lvalue)}};
    put(sf, name, AM_TYPE_COUNTER, help, l, 2, v);
}

/* Adds what map has counted so far to c. */
static void add_map_counts(struct am_counts *c, const struct am_map *map)
{
    const struct am_map_stats *ms = am_map_stats(map);

    c->mapped += ms->mapped;
    c->unmapped += ms->unmapped;
    c->dropped += ms->dropped;
    c->refused += ms->refused;
}

static void self_metrics(struct am_app *app)
{
    struct self sf = {.app = app, .now = am_now_ms()};
    const struct am_store_stats *st = am_store_stats(app->store);
    struct am_family_spec info = {.type = AM_TYPE_INFO,
                                  .help = "The adapter's version (label) and git revision.",
                                  .info_label = "revision"};
    struct am_label ver = {"version", 7, pk_version(), strlen(pk_version())};
    struct am_update u = {.name = "adapter_metrics_build",
                          .name_len = strlen("adapter_metrics_build"),
                          .spec = &info,
                          .labels = &ver,
                          .nlabels = 1,
                          .op = AM_OP_INFO,
                          .str = pk_git_rev(),
                          .str_len = strlen(pk_git_rev()),
                          .source = SELF};
    const char *why = NULL;

    app->self_gen++;
    u.gen = app->self_gen;
    if (am_store_update(app->store, &u, sf.now, &why) < 0) {
        pk_log_error("self-metric build_info: %s", why);
    }
    for (size_t i = 0; i < app->nsrc; i++) {
        struct am_source *s = app->src[i];
        const char *n = s->conf->name;
        struct am_counts c = s->counts;
        add_map_counts(&c, s->map);
        put1(&sf, "adapter_metrics_source_up", AM_TYPE_GAUGE,
             "1 when the source's last fetch worked (statsd sources: 1).", "source", n,
             s->up ? 1 : 0);
        if (s->pull != NULL) {
            put1(&sf, "adapter_metrics_source_scrape_duration_seconds", AM_TYPE_GAUGE,
                 "How long the source's last fetch and parse took.", "source", n, s->duration);
        }
        static const char *const help_samples =
            "Samples from the source by outcome: mapped by a rule, unmapped (default name), "
            "dropped by a rule, refused (bad name, conflict, cap), skipped (strings no rule "
            "maps).";
        put2(&sf, "adapter_metrics_samples", help_samples, n, "outcome", "mapped",
             (double)c.mapped);
        put2(&sf, "adapter_metrics_samples", help_samples, n, "outcome", "unmapped",
             (double)c.unmapped);
        put2(&sf, "adapter_metrics_samples", help_samples, n, "outcome", "dropped",
             (double)c.dropped);
        put2(&sf, "adapter_metrics_samples", help_samples, n, "outcome", "refused",
             (double)c.refused);
        put2(&sf, "adapter_metrics_samples", help_samples, n, "outcome", "skipped",
             (double)c.skipped);
        put1(&sf, "adapter_metrics_parse_errors", AM_TYPE_COUNTER,
             "Lines or documents from the source that did not parse.", "source", n,
             (double)c.parse_errors);
        if (s->statsd != NULL) {
            struct am_statsd_in_stats is;
            static const char *const help_drops =
                "Datagrams lost: by the kernel (receive buffer full), the hand-over queue, "
                "too large, or TCP lines too long.";
            am_statsd_in_stats(s->statsd, &is);
            put1(&sf, "adapter_metrics_statsd_packets", AM_TYPE_COUNTER,
                 "Datagrams (or TCP chunks) received.", "source", n, (double)is.packets);
            put2(&sf, "adapter_metrics_statsd_drops", help_drops, n, "reason", "kernel",
                 (double)is.kernel_drops);
            put2(&sf, "adapter_metrics_statsd_drops", help_drops, n, "reason", "queue",
                 (double)is.queue_drops);
            put2(&sf, "adapter_metrics_statsd_drops", help_drops, n, "reason", "too_large",
                 (double)is.truncated);
            put2(&sf, "adapter_metrics_statsd_drops", help_drops, n, "reason", "long_line",
                 (double)is.long_lines);
        }
    }
    static const char *const help_refused =
        "Updates the store refused, by reason, since the adapter started.";
    const struct {
        const char *reason;
        uint64_t v;
    } refused[] = {
        {"bad_name", st->bad_name + app->carried.bad_name},
        {"bad_label", st->bad_label + app->carried.bad_label},
        {"type_conflict", st->type_conflict + app->carried.type_conflict},
        {"label_conflict", st->label_conflict + app->carried.label_conflict},
        {"reserved_suffix", st->reserved_suffix + app->carried.reserved_suffix},
        {"bad_value", st->bad_value + app->carried.bad_value},
        {"overflow", st->overflow + app->carried.overflow},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        put1(&sf, "adapter_metrics_refused", AM_TYPE_COUNTER, help_refused, "reason",
             refused[i].reason, (double)refused[i].v);
    }
    static const char *const help_removed =
        "Series removed: expired (TTL) or swept (a pull source no longer reports them).";
    put1(&sf, "adapter_metrics_series_removed", AM_TYPE_COUNTER, help_removed, "reason", "expired",
         (double)(st->expired + app->carried.expired));
    put1(&sf, "adapter_metrics_series_removed", AM_TYPE_COUNTER, help_removed, "reason", "swept",
         (double)(st->swept + app->carried.swept));
    put(&sf, "adapter_metrics_series", AM_TYPE_GAUGE, "Series held now (these included).", NULL, 0,
        (double)am_store_nseries(app->store));
    put(&sf, "adapter_metrics_series_limit", AM_TYPE_GAUGE, "The --max-series cap.", NULL, 0,
        (double)app->conf->max_series);
    put(&sf, "adapter_metrics_families", AM_TYPE_GAUGE, "Metric families held now.", NULL, 0,
        (double)am_store_nfamilies(app->store));
    put(&sf, "adapter_metrics_store_bytes", AM_TYPE_GAUGE,
        "Memory the series, families and sketches hold.", NULL, 0,
        (double)am_store_bytes(app->store));
    put(&sf, "adapter_metrics_scrapes", AM_TYPE_COUNTER, "Scrapes of the metrics served.", NULL, 0,
        (double)app->scrapes);
    put(&sf, "adapter_metrics_config_last_reload_successful", AM_TYPE_GAUGE,
        "1 when the last configuration (re)load worked.", NULL, 0, app->last_reload_ok ? 1 : 0);
    put(&sf, "adapter_metrics_config_last_reload_success_timestamp_seconds", AM_TYPE_GAUGE,
        "When the configuration was last loaded, in Unix seconds.", NULL, 0, app->last_reload_time);
    put1(&sf, "adapter_metrics_config_reloads", AM_TYPE_COUNTER, "Reloads by result.", "result",
         "success", (double)app->reloads_ok);
    put1(&sf, "adapter_metrics_config_reloads", AM_TYPE_COUNTER, "Reloads by result.", "result",
         "failure", (double)app->reloads_failed);
    am_store_sweep(app->store, SELF, app->self_gen);
}

/* ---- sources ---- */

static void source_free(struct am_source *s)
{
    if (s == NULL) {
        return;
    }
    am_map_destroy(s->map);
    am_pull_destroy(s->pull);
    am_statsd_in_destroy(s->statsd, false);
    free(s);
}

/* The map for sc under conf, as source id. */
static struct am_map *make_map(const struct am_conf *conf, const struct am_source_conf *sc,
                               uint16_t id, char *err, size_t errsz)
{
    struct am_map_conf mc = {
        .defaults = conf->eff_defaults,
        .own = sc->rules,
        .global = conf->eff_rules,
        .prefix = sc->prefix != NULL ? sc->prefix : conf->prefix,
        .labels = sc->labels,
        .nlabels = sc->nlabels,
        .source = id,
    };
    char msg[PK_CONF_ERR_MAX];
    struct am_map *m = am_map_create(&mc, msg, sizeof(msg));

    if (m == NULL) {
        snprintf(err, errsz, "source '%s': %s", sc->name, msg);
    }
    return m;
}

static struct am_source *source_new(struct am_app *app, const struct am_conf *conf,
                                    const struct am_source_conf *sc, uint16_t id, char *err,
                                    size_t errsz)
{
    struct am_source *s = calloc(1, sizeof(*s));
    char msg[PK_CONF_ERR_MAX];

    if (s == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    s->app = app;
    s->conf = sc;
    s->id = id;
    s->up = true;
    if ((s->map = make_map(conf, sc, id, err, errsz)) == NULL) {
        goto fail;
    }
    switch (sc->url.kind) {
    case AM_SRC_FILE:
    case AM_SRC_HTTP:
    case AM_SRC_REDIS:
        s->up = false;
        s->pull = am_pull_create(app->base, &sc->url,
                                 sc->timeout_ms > 0 ? sc->timeout_ms : conf->scrape_timeout_ms,
                                 (size_t)conf->max_body, msg, sizeof(msg));
        if (s->pull == NULL) {
            snprintf(err, errsz, "source '%s': %s", sc->name, msg);
            goto fail;
        }
        break;
    case AM_SRC_STATSD_UDP:
    case AM_SRC_STATSD_TCP:
    case AM_SRC_STATSD_UNIX:
        s->statsd = am_statsd_in_create(app->base, &sc->url, on_statsd, s, msg, sizeof(msg));
        if (s->statsd == NULL) {
            snprintf(err, errsz, "source '%s': %s", sc->name, msg);
            goto fail;
        }
        break;
    }
    return s;
fail:
    source_free(s);
    return NULL;
}

static struct am_store *store_new(const struct am_conf *conf)
{
    struct am_store_limits lim = {
        .max_series = (size_t)conf->max_series,
        .max_series_per_family = (size_t)conf->max_series_per_family,
        .max_families = (size_t)conf->max_families,
    };
    return am_store_create(&lim);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct am_app *app = arg;
    (void)fd;
    (void)what;

    am_store_expire(app->store, am_now_ms());
}

int am_app_start(struct am_app *app, struct event_base *base, const struct am_conf *conf, char *err,
                 size_t errsz)
{
    struct timeval sec = {1, 0};

    memset(app, 0, sizeof(*app));
    app->base = base;
    app->conf = conf;
    if ((app->store = store_new(conf)) == NULL ||
        (app->src = calloc(conf->nall, sizeof(*app->src))) == NULL ||
        (app->tick = event_new(base, -1, EV_PERSIST, on_tick, app)) == NULL ||
        (app->deadline = evtimer_new(base, on_deadline, app)) == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < conf->nall; i++) {
        if ((app->src[i] = source_new(app, conf, &conf->all[i], (uint16_t)(i + 1), err, errsz)) ==
            NULL) {
            return -1;
        }
        app->nsrc++;
    }
    event_add(app->tick, &sec);
    am_app_reloaded(app, true);
    return am_web_start(app, err, errsz);
}

void am_app_reloaded(struct am_app *app, bool ok)
{
    app->last_reload_ok = ok;
    if (ok) {
        app->reloads_ok += app->last_reload_time != 0;
        app->last_reload_time = (double)time(NULL);
    } else {
        app->reloads_failed++;
    }
}

static void carry(struct am_store_stats *to, const struct am_store_stats *from)
{
    to->bad_name += from->bad_name;
    to->bad_label += from->bad_label;
    to->type_conflict += from->type_conflict;
    to->label_conflict += from->label_conflict;
    to->reserved_suffix += from->reserved_suffix;
    to->bad_value += from->bad_value;
    to->overflow += from->overflow;
    to->expired += from->expired;
    to->swept += from->swept;
}

int am_app_swap(struct am_app *app, const struct am_conf *conf, char *err, size_t errsz)
{
    struct am_source **next = calloc(conf->nall ? conf->nall : 1, sizeof(*next));
    struct am_map **maps = calloc(conf->nall ? conf->nall : 1, sizeof(*maps));
    bool *kept = calloc(app->nsrc ? app->nsrc : 1, sizeof(*kept));
    struct am_store *store = store_new(conf);
    int rc = -1;

    if (next == NULL || maps == NULL || kept == NULL || store == NULL) {
        snprintf(err, errsz, "out of memory");
        goto out;
    }
    /* Build everything that can fail first: maps for kept sources, whole new sources. */
    for (size_t i = 0; i < conf->nall; i++) {
        const struct am_source_conf *sc = &conf->all[i];
        for (size_t j = 0; j < app->nsrc; j++) {
            if (!kept[j] && strcmp(app->src[j]->conf->name, sc->name) == 0 &&
                strcmp(app->src[j]->conf->url_text, sc->url_text) == 0) {
                kept[j] = true;
                next[i] = app->src[j];
                break;
            }
        }
        if (next[i] != NULL) {
            if ((maps[i] = make_map(conf, sc, (uint16_t)(i + 1), err, errsz)) == NULL) {
                goto out;
            }
            continue;
        }
    }
    /* Sources that go are closed before new ones bind, so that a port can move from one
     * source name to another; if a new one then fails, the old config cannot come back
     * whole, so failures here are checked first by binding nothing else. */
    for (size_t j = 0; j < app->nsrc; j++) {
        if (!kept[j] && app->src[j]->statsd != NULL) {
            am_statsd_in_destroy(app->src[j]->statsd, true);
            app->src[j]->statsd = NULL;
        }
    }
    for (size_t i = 0; i < conf->nall; i++) {
        if (next[i] == NULL) {
            next[i] = source_new(app, conf, &conf->all[i], (uint16_t)(i + 1), err, errsz);
            if (next[i] == NULL) {
                goto out;
            }
        }
    }
    /* Commit: nothing below fails. */
    for (size_t i = 0; i < conf->nall; i++) {
        struct am_source *s = next[i];
        if (maps[i] != NULL) {
            add_map_counts(&s->counts, s->map); /* the totals outlive the map */
            am_map_destroy(s->map);
            s->map = maps[i];
            maps[i] = NULL;
            s->conf = &conf->all[i];
            s->id = (uint16_t)(i + 1);
            s->gen = 0;
        }
    }
    for (size_t j = 0; j < app->nsrc; j++) {
        if (!kept[j]) {
            source_free(app->src[j]);
        }
    }
    free(app->src);
    app->src = next;
    app->nsrc = conf->nall;
    next = NULL;
    carry(&app->carried, am_store_stats(app->store));
    am_store_destroy(app->store);
    app->store = store;
    store = NULL;
    app->conf = conf;
    rc = 0;
    if (app->scraping && !any_in_flight(app)) {
        scrape_done(app);
    }
out:
    if (next != NULL) {
        /* Failed: free only what was made here; kept sources still belong to the app. */
        for (size_t i = 0; i < conf->nall; i++) {
            bool old = false;
            for (size_t j = 0; j < app->nsrc; j++) {
                old |= next[i] == app->src[j];
            }
            if (!old) {
                source_free(next[i]);
            }
        }
        /* Sources whose sockets were closed above come back. */
        for (size_t j = 0; j < app->nsrc; j++) {
            struct am_source *s = app->src[j];
            char msg[PK_CONF_ERR_MAX];
            if (s->statsd == NULL &&
                (s->conf->url.kind == AM_SRC_STATSD_UDP || s->conf->url.kind == AM_SRC_STATSD_TCP ||
                 s->conf->url.kind == AM_SRC_STATSD_UNIX)) {
                s->statsd =
                    am_statsd_in_create(app->base, &s->conf->url, on_statsd, s, msg, sizeof(msg));
                if (s->statsd == NULL) {
                    pk_log_error("reload failed and source %s cannot listen again: %s",
                                 s->conf->name, msg);
                }
            }
        }
    }
    for (size_t i = 0; i < conf->nall && maps != NULL; i++) {
        am_map_destroy(maps[i]);
    }
    free(next);
    free(maps);
    free(kept);
    am_store_destroy(store);
    return rc;
}

void am_app_free(struct am_app *app)
{
    struct am_waiter *w = app->waiters;

    while (w != NULL) {
        struct am_waiter *next = w->next;
        if (w->req != NULL) {
            evhttp_connection_set_closecb(evhttp_request_get_connection(w->req), NULL, NULL);
        }
        free(w);
        w = next;
    }
    app->waiters = NULL;
    if (app->http != NULL) {
        evhttp_free(app->http);
    }
    for (size_t i = 0; i < app->nsrc; i++) {
        source_free(app->src[i]);
    }
    free(app->src);
    if (app->tick != NULL) {
        event_free(app->tick);
    }
    if (app->deadline != NULL) {
        event_free(app->deadline);
    }
    am_store_destroy(app->store);
    memset(app, 0, sizeof(*app));
}
