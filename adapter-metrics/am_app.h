/* am_app.h — one running adapter: its sources, the store they fill, scrapes, self-metrics,
 * reloads, and the HTTP endpoints. */
#ifndef AM_APP_H
#define AM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "am_conf.h"
#include "am_expo.h"
#include "am_map.h"
#include "am_src.h"
#include "am_store.h"

/* Counters that outlive a map or a store (a reload replaces both). */
struct am_counts {
    uint64_t mapped, unmapped, dropped, refused, skipped, parse_errors;
};

/* One running source. Heap-allocated and kept across reloads when its name and URL stay
 * the same, so that a statsd socket is never closed and bound again. */
struct am_source {
    struct am_app *app;
    const struct am_source_conf *conf; /* the running configuration's */
    uint16_t id;                       /* 1..; 0 is the adapter's own metrics */
    struct am_map *map;
    struct am_pull *pull;        /* file, http, redis */
    struct am_statsd_in *statsd; /* statsd */
    uint32_t gen;                /* pull sources: one per fetch */
    bool in_flight;
    bool up;                 /* the last fetch worked (statsd: always) */
    double duration;         /* seconds the last fetch took */
    int64_t start_ns;        /* of the fetch in flight */
    int64_t now_ms;          /* the store's clock for the input being parsed (read once) */
    struct am_counts counts; /* of maps already replaced, plus the parse errors */
    int64_t last_log_ns;     /* bad input is logged at most every 10 s per source */
    uint64_t unlogged;       /* bad inputs since the last line logged */
};

struct am_waiter; /* a /metrics request waiting for the pull sources */

struct am_app {
    struct event_base *base;
    const struct am_conf *conf; /* borrowed; replaced by am_app_swap */
    struct am_store *store;
    struct am_source **src;
    size_t nsrc;
    struct evhttp *http;
    struct event *tick;     /* expiry, once a second */
    struct event *deadline; /* a scrape waiting too long for its sources */
    struct am_waiter *waiters;
    bool scraping;
    uint32_t self_gen;
    struct am_store_stats carried; /* stats of stores already replaced */
    uint64_t scrapes;
    /* Reloads: main's function builds, checks and swaps in a new configuration. */
    int (*reload)(void *arg, char *err, size_t errsz);
    void *reload_arg;
    uint64_t reloads_ok, reloads_failed;
    bool last_reload_ok;
    double last_reload_time; /* Unix seconds of the last successful (re)load */
};

/* Starts what conf asks for on base: sources (statsd sockets bound, pullers made), the
 * store, the HTTP endpoints on every listen address. conf must outlive the app (or be
 * replaced through am_app_swap). Returns 0, or -1 with one line in err; am_app_free cleans
 * up either way. */
int am_app_start(struct am_app *app, struct event_base *base, const struct am_conf *conf, char *err,
                 size_t errsz);

/* Swaps in a new configuration: new maps and a new store, statsd listeners and pullers
 * kept for sources whose name and URL did not change, others made or closed. On failure
 * (a socket that will not bind) nothing changes. Listen addresses need a restart.
 * Returns 0, or -1 with err. */
int am_app_swap(struct am_app *app, const struct am_conf *conf, char *err, size_t errsz);

/* Records a reload's outcome for the self-metrics. */
void am_app_reloaded(struct am_app *app, bool ok);

/* Stops everything and frees it; safe on a half-started app. */
void am_app_free(struct am_app *app);

/* Monotonic milliseconds, the store's clock. */
int64_t am_now_ms(void);

/* am_web.c: the HTTP endpoints (telemetry path, /-/healthy, /-/ready, /-/reload, /). */
int am_web_start(struct am_app *app, char *err, size_t errsz);

/* am_app.c, for am_web.c: answers req with the metrics once the pull sources are in (or
 * at once when there are none). */
void am_app_scrape(struct am_app *app, struct evhttp_request *req);

#endif
