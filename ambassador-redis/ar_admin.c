/* ar_admin.c — the admin endpoint: /metrics (Prometheus text), /healthz and /readyz. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ar_proxy_int.h"
#include "pk_log.h"

static void gauge(struct evbuffer *out, const char *name, const char *help, double v)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name,
                        v);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct ar_proxy *px = arg;
    struct evbuffer *out = evbuffer_new();
    const struct ar_topo_addr *m = ar_topo_master(px->topo);
    const struct ar_topo_addr *replicas;
    size_t nreplicas = ar_topo_replicas(px->topo, &replicas);
    struct ar_topo_stats ts;

    if (out == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    memset(&ts, 0, sizeof(ts));
    ar_topo_stats(px->topo, &ts);
    ar_metrics_render(&px->metrics, out);
    gauge(out, "ambassador_redis_clients", "Connected clients.", (double)px->nclients);
    gauge(out, "ambassador_redis_upstream_connections", "Open connections to the master.",
          (double)px->nupconns);
    gauge(out, "ambassador_redis_master_known", "1 when a reachable master is known.",
          m != NULL ? 1 : 0);
    evbuffer_add_printf(out, "# HELP ambassador_redis_master The current master.\n"
                             "# TYPE ambassador_redis_master gauge\n");
    if (m != NULL) {
        evbuffer_add_printf(out, "ambassador_redis_master{address=\"%s:%d\"} 1\n", m->host,
                            m->port);
    }
    gauge(out, "ambassador_redis_replicas", "Healthy replicas known.", (double)nreplicas);
    evbuffer_add_printf(out,
                        "# HELP ambassador_redis_failovers_total Master changes seen.\n"
                        "# TYPE ambassador_redis_failovers_total counter\n"
                        "ambassador_redis_failovers_total %llu\n",
                        (unsigned long long)ts.failovers);
    gauge(out, "ambassador_redis_last_failover_seconds",
          "From the first sign of the last failover to the new master confirmed.",
          ts.last_failover_seconds);
    evbuffer_add_printf(out,
                        "# HELP ambassador_redis_sentinel_errors_total Sentinels that could not "
                        "be reached or answered badly.\n"
                        "# TYPE ambassador_redis_sentinel_errors_total counter\n"
                        "ambassador_redis_sentinel_errors_total %llu\n",
                        (unsigned long long)ts.sentinel_errors);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *text)
{
    struct evbuffer *out = evbuffer_new();

    if (out == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evbuffer_add_printf(out, "%s\n", text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    (void)arg;
    reply_text(req, HTTP_OK, "OK", "ok");
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
    struct ar_proxy *px = arg;
    const struct ar_topo_addr *m = ar_topo_master(px->topo);
    char text[AR_TOPO_HOST_MAX + 64];

    if (px->stopping) {
        reply_text(req, 503, "Service Unavailable", "stopping");
    } else if (m == NULL) {
        reply_text(req, 503, "Service Unavailable", "no reachable master is known");
    } else {
        snprintf(text, sizeof(text), "ready: master %s:%d", m->host, m->port);
        reply_text(req, HTTP_OK, "OK", text);
    }
}

int ar_admin_start(struct ar_proxy *px, char *err, size_t errsz)
{
    const struct pk_addr *a = &px->conf->admin_addr;

    px->admin = evhttp_new(px->base);
    if (px->admin == NULL) {
        snprintf(err, errsz, "admin-listen: out of memory");
        return -1;
    }
    evhttp_set_allowed_methods(px->admin, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(px->admin, "/metrics", on_metrics, px);
    evhttp_set_cb(px->admin, "/healthz", on_healthz, px);
    evhttp_set_cb(px->admin, "/readyz", on_readyz, px);
    if (evhttp_bind_socket(px->admin, a->host[0] != '\0' ? a->host : "::", a->port) < 0) {
        snprintf(err, errsz, "admin-listen: %s:%u: cannot bind", a->host, (unsigned)a->port);
        evhttp_free(px->admin);
        px->admin = NULL;
        return -1;
    }
    pk_log_info("admin endpoint on %s:%u", a->host, (unsigned)a->port);
    return 0;
}

void ar_admin_stop(struct ar_proxy *px)
{
    if (px->admin != NULL) {
        evhttp_free(px->admin);
        px->admin = NULL;
    }
}
