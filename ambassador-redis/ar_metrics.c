/* ar_metrics.c — command counters by name, a latency histogram, rendered as Prometheus
 * text. */
#include "ar_metrics.h"

#include <stddef.h>
#include <string.h>

#include <event2/buffer.h>

/* Upper bounds of the latency buckets, in seconds (the last is +Inf). */
static const double bounds[AR_METRICS_BUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                      0.005,  0.01,    0.025,  0.05,  0.1,
                                                      0.25,   0.5,     1.0};

uint16_t ar_metrics_cmd(struct ar_metrics *m, const char *name)
{
    size_t h = ((uintptr_t)name >> 3) * 2654435761u % (AR_METRICS_CMDS - 1);

    for (size_t i = 0; i < AR_METRICS_CMDS - 1; i++) {
        struct ar_cmd_stat *s = &m->cmds[(h + i) % (AR_METRICS_CMDS - 1)];
        if (s->name == name || (s->name != NULL && strcmp(s->name, name) == 0)) {
            return (uint16_t)((h + i) % (AR_METRICS_CMDS - 1));
        }
        if (s->name == NULL) {
            s->name = name;
            return (uint16_t)((h + i) % (AR_METRICS_CMDS - 1));
        }
    }
    m->cmds[AR_METRICS_CMDS - 1].name = "other";
    return AR_METRICS_CMDS - 1;
}

void ar_metrics_sent(struct ar_metrics *m, uint16_t cmd)
{
    m->cmds[cmd].calls++;
}

void ar_metrics_replied(struct ar_metrics *m, uint16_t cmd, bool error, uint64_t ns)
{
    double s = (double)ns / 1e9;
    size_t b = 0;

    if (error) {
        m->cmds[cmd].errors++;
    }
    while (b < AR_METRICS_BUCKETS - 1 && s > bounds[b]) {
        b++;
    }
    m->lat[b]++;
    m->lat_count++;
    m->lat_sum += s;
}

static void counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,
                        name, (unsigned long long)v);
}

void ar_metrics_render(const struct ar_metrics *m, struct evbuffer *out)
{
    uint64_t cum = 0;

    evbuffer_add_printf(out, "# HELP ambassador_redis_commands_total Commands forwarded, by "
                             "name.\n# TYPE ambassador_redis_commands_total counter\n");
    for (size_t i = 0; i < AR_METRICS_CMDS; i++) {
        if (m->cmds[i].name != NULL && m->cmds[i].calls > 0) {
            evbuffer_add_printf(out, "ambassador_redis_commands_total{cmd=\"%s\"} %llu\n",
                                m->cmds[i].name, (unsigned long long)m->cmds[i].calls);
        }
    }
    evbuffer_add_printf(out, "# HELP ambassador_redis_command_errors_total Error replies, by "
                             "command.\n# TYPE ambassador_redis_command_errors_total counter\n");
    for (size_t i = 0; i < AR_METRICS_CMDS; i++) {
        if (m->cmds[i].name != NULL && m->cmds[i].errors > 0) {
            evbuffer_add_printf(out, "ambassador_redis_command_errors_total{cmd=\"%s\"} %llu\n",
                                m->cmds[i].name, (unsigned long long)m->cmds[i].errors);
        }
    }
    evbuffer_add_printf(out, "# HELP ambassador_redis_command_duration_seconds From a command "
                             "sent upstream to its reply.\n# TYPE "
                             "ambassador_redis_command_duration_seconds histogram\n");
    for (size_t b = 0; b < AR_METRICS_BUCKETS; b++) {
        cum += m->lat[b];
        if (b < AR_METRICS_BUCKETS - 1) {
            evbuffer_add_printf(out,
                                "ambassador_redis_command_duration_seconds_bucket{le=\"%g\"} "
                                "%llu\n",
                                bounds[b], (unsigned long long)cum);
        } else {
            evbuffer_add_printf(out,
                                "ambassador_redis_command_duration_seconds_bucket{le=\"+Inf\"} "
                                "%llu\n",
                                (unsigned long long)cum);
        }
    }
    evbuffer_add_printf(out,
                        "ambassador_redis_command_duration_seconds_sum %.9f\n"
                        "ambassador_redis_command_duration_seconds_count %llu\n",
                        m->lat_sum, (unsigned long long)m->lat_count);
    counter(out, "ambassador_redis_client_connections_total", "Client connections accepted.",
            m->clients_total);
    counter(out, "ambassador_redis_protocol_errors_total",
            "Clients closed for a protocol error.", m->protocol_errors);
    counter(out, "ambassador_redis_auth_failures_total", "Failed AUTH to the ambassador.",
            m->auth_failures);
    counter(out, "ambassador_redis_no_master_errors_total",
            "Commands refused because no master was known.", m->no_master);
    counter(out, "ambassador_redis_received_bytes_total", "Command bytes from clients.",
            m->bytes_in);
    counter(out, "ambassador_redis_sent_bytes_total", "Reply bytes to clients.", m->bytes_out);
    counter(out, "ambassador_redis_upstream_connects_total", "Upstream connections made.",
            m->upstream_connects);
    counter(out, "ambassador_redis_upstream_failures_total",
            "Upstream connections that could not be made.", m->upstream_failures);
    counter(out, "ambassador_redis_upstream_lost_total", "Upstream connections lost.",
            m->upstream_lost);
    counter(out, "ambassador_redis_replies_lost_total",
            "Replies in flight on a lost connection (the client got an error).",
            m->replies_lost);
    counter(out, "ambassador_redis_moved_to_dedicated_total",
            "Multiplexed clients moved to a connection of their own.", m->moved_to_dedicated);
    counter(out, "ambassador_redis_slow_clients_closed_total",
            "Multiplexed clients closed for reading too slowly.", m->slow_clients_closed);
}
