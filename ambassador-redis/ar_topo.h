/* ar_topo.h — where the master and the healthy replicas are: fixed addresses, or found
 * and followed through Redis Sentinel, on control connections of hiredis' async API with
 * its libevent adapter. The data path asks it where to connect; it never carries data.
 *
 * With Sentinel it does what Redis' "Sentinel client guidelines" ask:
 *   - discovery: each Sentinel in turn, with a short connect timeout, is asked
 *     SENTINEL get-master-addr-by-name NAME; the first answer is confirmed by connecting
 *     to that address and asking ROLE (it must say "master"); a Sentinel that answered is
 *     moved to the front of the list;
 *   - following: a subscription to +switch-master on every Sentinel (reconnected when it
 *     drops), plus a re-check every recheck_ms (pub/sub is not guaranteed), plus at once
 *     when the data path reports trouble (ar_topo_suspect);
 *   - replicas: SENTINEL replicas NAME, keeping those that are not s_down/o_down, not
 *     disconnected and whose master-link-status is "ok"; each is confirmed with ROLE
 *     ("slave", master_link "connected").
 * Without Sentinel the master is the fixed upstream and the replicas the fixed list; they
 * are still checked with ROLE every recheck_ms, so readiness and replica reads follow
 * their health.
 *
 * Ownership: ar_topo_new copies what it needs from cfg. Addresses returned live until the
 * next return to the event loop. Callbacks run from the loop, never from inside a call
 * into this module. */
#ifndef AR_TOPO_H
#define AR_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define AR_TOPO_HOST_MAX 256

struct ar_topo_addr {
    char host[AR_TOPO_HOST_MAX]; /* an IP literal or a name, as configured or as Sentinel
                                  * reported it */
    int port;
};

struct ar_topo_config {
    const char *upstream;          /* "HOST:PORT" of a fixed master, or NULL */
    const char *const *sentinels;  /* "HOST:PORT" each (IPv6: "[::1]:26379") */
    size_t nsentinels;             /* 0: no Sentinel (then upstream is required) */
    const char *master_name;       /* with Sentinel: the monitored master's name */
    const char *const *replicas;   /* fixed replicas, "HOST:PORT" each */
    size_t nreplicas;
    bool discover_replicas;        /* with Sentinel: ask it for the replicas */
    const char *upstream_user;     /* AUTH for ROLE checks on master and replicas (NULL:   */
    const char *upstream_password; /* none; a password alone: AUTH password)              */
    const char *sentinel_user;     /* AUTH for Sentinels, likewise                          */
    const char *sentinel_password;
    bool skip_role_check;          /* trust Sentinel's answer without ROLE (an upstream
                                    * that hiredis cannot reach, such as TLS-only) */
    int connect_timeout_ms;        /* each control connection; default 500 */
    int recheck_ms;                /* periodic re-check; default 1000 */
};

/* Why the master changed, for logs and metrics. */
enum ar_topo_event {
    AR_TOPO_MASTER_FOUND,   /* first known, or known again after being lost */
    AR_TOPO_MASTER_CHANGED, /* a failover: another address */
    AR_TOPO_MASTER_LOST,    /* none is known or reachable now */
    AR_TOPO_REPLICAS,       /* the set of healthy replicas changed */
};

/* Called from the loop when the topology changed. now is the master after the change (NULL
 * when lost); both pointers live for the call only. */
typedef void ar_topo_cb(void *arg, enum ar_topo_event ev, const struct ar_topo_addr *old,
                        const struct ar_topo_addr *now);

struct ar_topo;

/* Starts following the topology; the first answers come later, through cb. Returns NULL
 * with err set when cfg is unusable (no upstream and no Sentinel, a bad address, a
 * Sentinel list without master_name) or memory runs out. */
struct ar_topo *ar_topo_new(struct event_base *base, const struct ar_topo_config *cfg,
                            ar_topo_cb *cb, void *arg, char *err, size_t errsz);

/* The current master, or NULL while none is known. */
const struct ar_topo_addr *ar_topo_master(const struct ar_topo *t);

/* The healthy replicas (possibly none): sets *out to an array of them, returns the count. */
size_t ar_topo_replicas(const struct ar_topo *t, const struct ar_topo_addr **out);

/* The data path saw a sign that the master moved (-READONLY, -LOADING, a refused or dropped
 * connection to it): re-checks now instead of at the next period. why is for the log. */
void ar_topo_suspect(struct ar_topo *t, const char *why);

/* Counters for /metrics. */
struct ar_topo_stats {
    uint64_t failovers;           /* AR_TOPO_MASTER_CHANGED events */
    double last_failover_seconds; /* from the first sign (a suspect, a +switch-master, a
                                   * failed check) to the new master confirmed; 0: none */
    uint64_t sentinel_errors;     /* Sentinels that could not be reached or answered badly */
    bool sentinel_mode;
    char last_error[256];         /* the last failure seen ("" : none yet), for the log */
};
void ar_topo_stats(const struct ar_topo *t, struct ar_topo_stats *out);

/* Stops everything and frees t (accepts NULL). Safe from inside cb. */
void ar_topo_free(struct ar_topo *t);

#endif
