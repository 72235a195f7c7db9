/* sl_app.c — wiring one sidecar-log together, and taking it down without losing a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pk_log.h"
#include "sl_app.h"

static int64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void save(struct sl_app *app)
{
    char err[512];

    if (!app->db.dirty) {
        return;
    }
    if (sl_db_save(&app->db, err, sizeof(err)) < 0) {
        if (app->save_errors++ == 0 || app->save_errors % 100 == 0) {
            pk_log_error("positions: %s (failed %llu times; retried)", err,
                         (unsigned long long)app->save_errors);
        }
        return;
    }
    app->saved_ns = wall_ns();
}

static void on_save(evutil_socket_t fd, short what, void *arg)
{
    struct sl_app *app = arg;
    (void)fd;
    (void)what;

    save(app);
    if (app->db.dirty) { /* failed: tried again a second later */
        struct timeval second = {1, 0};
        evtimer_add(app->save_ev, &second);
    }
}

/* Positions of files no longer followed are dropped from the file once a minute. */
#define PRUNE_SECONDS 60

static void on_prune(evutil_socket_t fd, short what, void *arg)
{
    struct sl_app *app = arg;
    (void)fd;
    (void)what;

    if (!app->stopping) {
        sl_tail_mark_seen(app->tail);
        sl_db_prune(&app->db);
    }
}

static void on_released(void *arg, const struct sl_block *b)
{
    struct sl_app *app = arg;

    if (app->tail != NULL) {
        sl_tail_released(app->tail, b);
    }
    /* A save --save-interval from now, if none is due: idle, nothing wakes us. */
    if (app->db.dirty && app->save_ev != NULL && !evtimer_pending(app->save_ev, NULL)) {
        struct timeval in = {app->conf->save_interval_ms / 1000,
                             (app->conf->save_interval_ms % 1000) * 1000};
        evtimer_add(app->save_ev, &in);
    }
}

int sl_app_start(struct sl_app *app, struct event_base *base, const struct sl_conf *conf, char *err,
                 size_t errsz)
{

    memset(app, 0, sizeof(*app));
    app->base = base;
    app->conf = conf;
    if (sl_enc_init(&app->enc, &conf->label, err, errsz) < 0 ||
        sl_db_open(&app->db, conf->db, err, errsz) < 0) {
        return -1;
    }
    app->q = sl_queue_new((size_t)conf->buffer_bytes, on_released, app);
    app->outs = calloc(conf->output.n, sizeof(*app->outs));
    if (app->q == NULL || app->outs == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < conf->output.n; i++) {
        app->outs[i] =
            sl_out_new(base, app->q, conf->output.v[i], &conf->out, &app->enc, err, errsz);
        if (app->outs[i] == NULL) {
            return -1;
        }
        app->nouts++;
    }
    app->tail = sl_tail_new(base, conf, app->q, &app->db, NULL);
    if (app->tail == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    app->watch = sl_watch_new(base, &conf->path, &conf->exclude, (enum sl_watch_mode)conf->watch,
                              conf->rescan_ms, sl_tail_path, app->tail, err, errsz);
    if (app->watch == NULL) {
        return -1;
    }
    sl_tail_watch(app->tail, app->watch);
    sl_watch_on_moved(app->watch, sl_tail_moved);
    app->save_ev = evtimer_new(base, on_save, app);
    app->prune_ev = event_new(base, -1, EV_PERSIST, on_prune, app);
    if (app->save_ev == NULL || app->prune_ev == NULL ||
        event_add(app->prune_ev, &(struct timeval){PRUNE_SECONDS, 0}) < 0) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    if (conf->has_admin && sl_admin_start(app, err, errsz) < 0) {
        return -1;
    }
    sl_watch_scan(app->watch);
    sl_tail_started(app->tail);
    pk_log_info("shipping %zu glob(s) to %zu output(s)", conf->path.n, app->nouts);
    return 0;
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct sl_app *app = arg;
    bool drained = sl_queue_empty(app->q);
    struct timespec ts;
    (void)fd;
    (void)what;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (!drained && (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec < app->stop_deadline_ns) {
        return;
    }
    event_del(app->drain_ev);
    if (!drained) {
        pk_log_warn("shutdown-timeout: %llu bytes of records not acknowledged; their lines "
                    "are read again at the next start",
                    (unsigned long long)sl_queue_bytes(app->q));
    }
    save(app);
    app->stopped(app->stopped_arg, drained);
}

void sl_app_stop(struct sl_app *app, void (*done)(void *arg, bool drained), void *arg)
{
    struct timeval tick = {0, 20 * 1000};
    struct timespec ts;

    if (app->stopping) {
        return;
    }
    app->stopping = true;
    app->stopped = done;
    app->stopped_arg = arg;
    sl_tail_stop(app->tail);
    sl_tail_watch(app->tail, NULL);
    sl_watch_free(app->watch);
    app->watch = NULL;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    app->stop_deadline_ns =
        (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + app->conf->shutdown_timeout_ms * 1000000;
    app->drain_ev = event_new(app->base, -1, EV_PERSIST, on_drain, app);
    if (app->drain_ev == NULL || event_add(app->drain_ev, &tick) < 0) {
        save(app);
        done(arg, sl_queue_empty(app->q));
        return;
    }
    on_drain(-1, 0, app);
}

void sl_app_free(struct sl_app *app)
{
    if (app->admin != NULL) {
        evhttp_free(app->admin);
    }
    for (size_t i = 0; i < app->nouts; i++) {
        sl_out_free(app->outs[i]);
    }
    free(app->outs);
    sl_tail_free(app->tail); /* before the watcher it may tell */
    sl_watch_free(app->watch);
    if (app->q != NULL) {
        sl_queue_free(app->q);
    }
    if (app->save_ev != NULL) {
        event_free(app->save_ev);
    }
    if (app->drain_ev != NULL) {
        event_free(app->drain_ev);
    }
    if (app->prune_ev != NULL) {
        event_free(app->prune_ev);
    }
    sl_db_close(&app->db);
    sl_enc_free(&app->enc);
    memset(app, 0, sizeof(*app));
}
