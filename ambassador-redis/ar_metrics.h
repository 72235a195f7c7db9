/* ar_metrics.h — the data path's counters and latency histogram, and their Prometheus
 * text. Plain counters in the proxy's context: no locking, no allocation. */
#ifndef AR_METRICS_H
#define AR_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct evbuffer;

#define AR_METRICS_CMDS 512 /* slots for command names: Redis 7 has about 240 */
#define AR_METRICS_BUCKETS 14

struct ar_cmd_stat {
    const char *name; /* static (ar_cmd_metric_name's), NULL: a free slot */
    uint64_t calls, errors;
};

struct ar_metrics {
    struct ar_cmd_stat cmds[AR_METRICS_CMDS];
    uint64_t lat[AR_METRICS_BUCKETS]; /* replies per latency bucket (not cumulative) */
    uint64_t lat_count;
    double lat_sum; /* seconds */
    uint64_t clients_total, protocol_errors, auth_failures, no_master;
    uint64_t bytes_in, bytes_out;       /* client commands forwarded, replies delivered */
    uint64_t upstream_connects, upstream_failures, upstream_lost, replies_lost;
    uint64_t moved_to_dedicated;        /* multiplex: clients given their own connection */
    uint64_t slow_clients_closed;       /* multiplex: over the output limit */
};

/* The slot of a command name (a static string: compared by address, then by text). Never
 * fails: when every slot is taken the last one ("other") is shared. */
uint16_t ar_metrics_cmd(struct ar_metrics *m, const char *name);

/* A command was sent (calls) ... */
void ar_metrics_sent(struct ar_metrics *m, uint16_t cmd);

/* ... and its reply came after ns nanoseconds, an error or not. */
void ar_metrics_replied(struct ar_metrics *m, uint16_t cmd, bool error, uint64_t ns);

/* Appends the counters and the histogram as Prometheus text (0.0.4) to out. */
void ar_metrics_render(const struct ar_metrics *m, struct evbuffer *out);

#endif
