/* sl_app.h — one running sidecar-log: the files, the queue, the outputs, the positions. */
#ifndef SL_APP_H
#define SL_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "sl_conf.h"
#include "sl_db.h"
#include "sl_enc.h"
#include "sl_out.h"
#include "sl_queue.h"
#include "sl_tail.h"
#include "sl_watch.h"

struct sl_app {
    struct event_base *base;
    const struct sl_conf *conf;
    struct sl_enc enc;
    struct sl_queue *q;
    struct sl_out **outs;
    size_t nouts;
    struct sl_db db;
    struct sl_tail *tail;
    struct sl_watch *watch;
    struct evhttp *admin;
    struct event *save_ev;  /* --save-interval after positions changed */
    struct event *prune_ev; /* drops positions of files no longer followed */
    struct event *drain_ev; /* while stopping: is the queue empty yet? */
    int64_t stop_deadline_ns;
    int64_t saved_ns; /* CLOCK_REALTIME of the last save that succeeded; 0: none */
    uint64_t save_errors;
    bool stopping;
    void (*stopped)(void *arg, bool drained); /* called once stopping is over */
    void *stopped_arg;
};

/* Starts everything conf asks for on base: positions loaded, outputs made, files found
 * (the first scan runs now). conf must outlive the app. Returns 0, or -1 with one line in
 * err; sl_app_free cleans up either way. */
int sl_app_start(struct sl_app *app, struct event_base *base, const struct sl_conf *conf, char *err,
                 size_t errsz);

/* Stops reading, waits (at most --shutdown-timeout) until the outputs acknowledged what
 * is queued, saves the positions, then calls done(arg, drained). */
void sl_app_stop(struct sl_app *app, void (*done)(void *arg, bool drained), void *arg);

void sl_app_free(struct sl_app *app);

/* /metrics and /healthz on conf->admin_addr. */
int sl_admin_start(struct sl_app *app, char *err, size_t errsz);

#endif
