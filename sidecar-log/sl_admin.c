/* sl_admin.c — the admin endpoint: /metrics (Prometheus text) and /healthz. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "pk_log.h"
#include "sl_app.h"

/* Appends s as a Prometheus label value: \, " and newline escaped. */
static void label_value(struct evbuffer *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            evbuffer_add_printf(out, "\\%c", *s);
        } else if (*s == '\n') {
            evbuffer_add(out, "\\n", 2);
        } else {
            evbuffer_add(out, s, 1);
        }
    }
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family with one sample per file. */
struct file_family {
    struct evbuffer *out;
    const char *name;
    int which;
};

static void file_sample(void *arg, const struct sl_tail_file_stats *st)
{
    struct file_family *ff = arg;
    unsigned long long v = 0;

    switch (ff->which) {
    case 0:
        v = st->lines;
        break;
    case 1:
        v = st->bytes;
        break;
    case 2:
        v = st->truncated;
        break;
    case 3:
        v = st->bad;
        break;
    default:
        v = st->size > st->acked ? st->size - st->acked : 0;
        break;
    }
    evbuffer_add_printf(ff->out, "%s{path=\"", ff->name);
    label_value(ff->out, st->path);
    evbuffer_add_printf(ff->out, "\"} %llu\n", v);
}

static void per_file(struct sl_app *app, struct evbuffer *out, const char *name, const char *type,
                     const char *help, int which)
{
    struct file_family ff = {.out = out, .name = name, .which = which};

    family(out, name, type, help);
    sl_tail_each(app->tail, file_sample, &ff);
}

static void per_output(struct sl_app *app, struct evbuffer *out, const char *name, const char *type,
                       const char *help, int which)
{
    family(out, name, type, help);
    for (size_t i = 0; i < app->nouts; i++) {
        struct sl_out_stats st;
        unsigned long long v;
        sl_out_stats(app->outs[i], &st);
        v = which == 0   ? st.records
            : which == 1 ? st.bytes
            : which == 2 ? st.retries
            : which == 3 ? st.dropped
            : which == 4 ? st.dead
                         : (unsigned long long)!st.down;
        evbuffer_add_printf(out, "%s{output=\"", name);
        label_value(out, sl_out_spec(app->outs[i]));
        evbuffer_add_printf(out, "\"} %llu\n", v);
    }
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct sl_app *app = arg;
    struct evbuffer *out = evbuffer_new();
    struct sl_tail_stats ts;
    struct timespec now;

    if (out == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    per_file(app, out, "sidecar_log_lines_read_total", "counter", "Records read from the file.", 0);
    per_file(app, out, "sidecar_log_bytes_read_total", "counter", "Bytes read from the file.", 1);
    per_file(app, out, "sidecar_log_lines_truncated_total", "counter",
             "Records cut at --max-line-bytes.", 2);
    per_file(app, out, "sidecar_log_lines_malformed_total", "counter",
             "Lines the parser could not parse (shipped as raw text).", 3);
    per_file(app, out, "sidecar_log_lag_bytes", "gauge",
             "Bytes of the file not yet acknowledged by every output.", 4);
    per_output(app, out, "sidecar_log_records_shipped_total", "counter",
               "Records the output acknowledged.", 0);
    per_output(app, out, "sidecar_log_bytes_shipped_total", "counter",
               "Bytes of text the output acknowledged.", 1);
    per_output(app, out, "sidecar_log_retries_total", "counter", "Batches sent again.", 2);
    per_output(app, out, "sidecar_log_records_dropped_total", "counter",
               "Records given up after --retry-max tries.", 3);
    per_output(app, out, "sidecar_log_records_dead_lettered_total", "counter",
               "Records refused for good by Elasticsearch (to --dead-letter).", 4);
    per_output(app, out, "sidecar_log_output_up", "gauge", "0 while the output is failing.", 5);
    sl_tail_stats(app->tail, &ts);
    family(out, "sidecar_log_files_open", "gauge", "Files followed now.");
    evbuffer_add_printf(out, "sidecar_log_files_open %llu\n", (unsigned long long)ts.files_open);
    family(out, "sidecar_log_rotations_total", "counter", "Files whose path went to another.");
    evbuffer_add_printf(out, "sidecar_log_rotations_total %llu\n",
                        (unsigned long long)ts.rotations);
    family(out, "sidecar_log_truncations_total", "counter",
           "Files truncated or rewritten, read again from the start.");
    evbuffer_add_printf(out, "sidecar_log_truncations_total %llu\n",
                        (unsigned long long)ts.truncations);
    family(out, "sidecar_log_queue_bytes", "gauge", "Memory held by records not yet acknowledged.");
    evbuffer_add_printf(out, "sidecar_log_queue_bytes %llu\n",
                        (unsigned long long)sl_queue_bytes(app->q));
    family(out, "sidecar_log_reading_paused", "gauge", "1 while the queue is full.");
    evbuffer_add_printf(out, "sidecar_log_reading_paused %d\n", ts.waiting_room ? 1 : 0);
    family(out, "sidecar_log_position_save_age_seconds", "gauge",
           "Since the positions were last saved (-1: never).");
    evbuffer_add_printf(
        out, "sidecar_log_position_save_age_seconds %.3f\n",
        app->saved_ns == 0
            ? -1.0
            : ((double)now.tv_sec * 1e9 + (double)now.tv_nsec - (double)app->saved_ns) / 1e9);
    family(out, "sidecar_log_position_save_errors_total", "counter",
           "Saves of the positions file that failed.");
    evbuffer_add_printf(out, "sidecar_log_position_save_errors_total %llu\n",
                        (unsigned long long)app->save_errors);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    struct sl_app *app = arg;
    struct evbuffer *out = evbuffer_new();

    if (out == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evbuffer_add_printf(out, "%s\n", app->stopping ? "stopping" : "ok");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, app->stopping ? 503 : HTTP_OK, app->stopping ? "Stopping" : "OK", out);
    evbuffer_free(out);
}

int sl_admin_start(struct sl_app *app, char *err, size_t errsz)
{
    const struct pk_addr *a = &app->conf->admin_addr;

    app->admin = evhttp_new(app->base);
    if (app->admin == NULL) {
        snprintf(err, errsz, "admin-listen: out of memory");
        return -1;
    }
    evhttp_set_allowed_methods(app->admin, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(app->admin, "/metrics", on_metrics, app);
    evhttp_set_cb(app->admin, "/healthz", on_healthz, app);
    if (evhttp_bind_socket(app->admin, a->host[0] != '\0' ? a->host : "::", a->port) < 0) {
        snprintf(err, errsz, "admin-listen: %s:%u: cannot bind", a->host, (unsigned)a->port);
        return -1;
    }
    pk_log_info("admin endpoint on %s:%u", a->host, (unsigned)a->port);
    return 0;
}
