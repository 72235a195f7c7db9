/* ar_topo_int.h — what the topology's files share: ar_topo.c (configuration, checks, events),
 * ar_topo_probe.c (one-shot exchanges: Sentinel's questions, ROLE) and ar_topo_sub.c (the
 * +switch-master subscriptions).
 *
 * Letting go of a hiredis context is only safe where hiredis 0.14 allows it:
 *   - from our own timers, or from outside any hiredis callback: redisAsyncFree at once;
 *   - from a reply callback given a reply: redisAsyncFree only flags the context, and
 *     hiredis frees it when the callback returns;
 *   - from the connect callback, the disconnect callback, or a reply callback given NULL:
 *     hiredis is already tearing the context down, so it is only detached, never freed.
 * Detaching sets ac->data to NULL, and every callback returns at once on a NULL data, so the
 * callbacks hiredis still runs while it frees touch nothing of ours. */
#ifndef AR_TOPO_INT_H
#define AR_TOPO_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "ar_topo.h"

#define AR_TOPO_REPLICAS_MAX 64 /* replicas followed; a Sentinel reporting more: the first */
#define AR_TOPO_ERR_MAX 256     /* one failure's detail */
#define AR_PROBE_ERR_MAX (AR_TOPO_ERR_MAX + AR_TOPO_HOST_MAX + 32) /* with what and where */

/* What one exchange is for. */
enum ar_probe_kind {
    AR_PROBE_SENTINEL,     /* SENTINEL get-master-addr-by-name (and replicas) */
    AR_PROBE_ROLE_MASTER,  /* ROLE must say "master" */
    AR_PROBE_ROLE_REPLICA, /* ROLE must say "slave" with master_link "connected" */
};

struct ar_probe;
struct ar_topo;

/* Called once when an exchange ends (not when it is cancelled), from a callback of the
 * loop. p is freed when it returns; the callback may start or cancel other probes. */
typedef void ar_probe_done_fn(struct ar_topo *t, struct ar_probe *p);

/* One exchange on its own connection: connect (within connect_timeout_ms), AUTH when
 * configured, the kind's commands pipelined, every reply within connect_timeout_ms. */
struct ar_probe {
    struct ar_topo *t;
    struct ar_probe *prev, *next; /* t->probes: every probe in flight */
    enum ar_probe_kind kind;
    size_t slot; /* the caller's: which candidate this checks */
    struct ar_topo_addr addr;
    ar_probe_done_fn *done;
    struct redisAsyncContext *ac; /* NULL once detached from hiredis */
    struct event *timer;
    bool connected;
    int pending; /* replies still awaited */
    /* the outcome, for done */
    bool ok;
    char err[AR_PROBE_ERR_MAX];
    struct ar_topo_addr master;    /* SENTINEL: the master it names */
    struct ar_topo_addr *replicas; /* SENTINEL with discovery: the healthy ones it lists */
    size_t nreplicas;
    bool replicas_valid; /* it answered SENTINEL replicas */
};

/* The +switch-master subscription to one Sentinel. */
struct ar_sub {
    struct ar_topo *t;
    struct ar_topo_addr addr;
    struct redisAsyncContext *ac; /* NULL while waiting to reconnect */
    struct event *timer;          /* connect timeout, then the reconnect back-off */
    int backoff_ms;
    bool subscribed;
};

/* The master a check is confirming, and where the check stands. */
enum ar_check_phase {
    AR_CHECK_IDLE,
    AR_CHECK_SENTINEL, /* asking Sentinels in turn */
    AR_CHECK_MASTER,   /* ROLE on the master candidate */
    AR_CHECK_REPLICAS, /* ROLE on every replica candidate at once */
};

struct ar_topo {
    struct event_base *base;
    ar_topo_cb *cb;
    void *arg;

    /* configuration, copied */
    bool sentinel_mode, discover_replicas, skip_role_check;
    char *master_name;
    char *upstream_user, *upstream_password;
    char *sentinel_user, *sentinel_password;
    int connect_timeout_ms, recheck_ms;
    struct ar_topo_addr upstream;
    struct ar_topo_addr *sentinels; /* the one that answered last comes first */
    size_t nsentinels;
    struct ar_topo_addr *fixed_replicas;
    size_t nfixed_replicas;

    struct ar_sub *subs; /* one per Sentinel, in the configured order */
    struct ar_probe *probes;
    struct event *check_ev;    /* the next check */
    struct event *dispatch_ev; /* delivers events from the loop */

    /* the check in progress */
    enum ar_check_phase phase;
    bool again;             /* a suspect arrived during the check: another one after */
    double check_started;   /* monotonic seconds */
    double check_ended;     /* the last one */
    double check_due;       /* when check_ev fires */
    size_t next_sentinel;   /* index into sentinels */
    bool sentinel_answered; /* one answered during this check */
    bool fallback;          /* the candidate is the last master, Sentinels being silent */
    bool master_ok;         /* the candidate is confirmed */
    struct ar_topo_addr cand;
    struct ar_topo_addr cand_replicas[AR_TOPO_REPLICAS_MAX];
    bool cand_ok[AR_TOPO_REPLICAS_MAX];
    size_t ncand_replicas;
    size_t outstanding; /* replica probes in flight */

    /* the replicas the last Sentinel that answered listed */
    struct ar_topo_addr sentinel_replicas[AR_TOPO_REPLICAS_MAX];
    size_t nsentinel_replicas;

    /* what the checks found */
    bool have_master;
    struct ar_topo_addr master;
    bool have_last; /* last_master is the last master ever confirmed */
    struct ar_topo_addr last_master;
    struct ar_topo_addr replicas[AR_TOPO_REPLICAS_MAX]; /* sorted */
    size_t nreplicas;
    double sign_at;          /* the first sign of a failover not yet resolved; 0: none */
    double failover_seconds; /* of the last master change the checks found */

    /* what the callback has been told; ar_topo_master and ar_topo_replicas return it */
    bool ann_have;
    struct ar_topo_addr ann_master;
    bool ann_ever;
    struct ar_topo_addr ann_last;
    struct ar_topo_addr ann_replicas[AR_TOPO_REPLICAS_MAX];
    size_t ann_nreplicas;

    struct ar_topo_stats stats;
    bool in_cb, freeing; /* ar_topo_free from inside cb is deferred until it returns */
};

/* Records a failure for stats.last_error (printf-style). */
void ar_topo_error(struct ar_topo *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A Sentinel announced +switch-master for our master: ar_topo.c re-checks at once. */
void ar_topo_switched(struct ar_topo *t);

/* Starts an exchange with addr. Returns 0, or -1 when it could not even start (out of
 * memory); done is then never called. A connection that fails later calls done. */
int ar_probe_start(struct ar_topo *t, enum ar_probe_kind kind, const struct ar_topo_addr *addr,
                   size_t slot, ar_probe_done_fn *done);

/* Cancels every probe in flight without calling their done callbacks. Never call it from
 * inside a hiredis callback of one of them. */
void ar_probe_cancel_all(struct ar_topo *t);

/* Sets up the subscription to addr; it connects from the loop, soon after. -1: no memory. */
int ar_sub_init(struct ar_sub *s, struct ar_topo *t, const struct ar_topo_addr *addr);

/* Closes the subscription and frees what it holds (accepts a zeroed or half-built one). */
void ar_sub_fini(struct ar_sub *s);

/* "host:port", or "[v6]:port", into buf; returns buf. */
const char *ar_topo_addr_str(const struct ar_topo_addr *a, char *buf, size_t bufsz);

/* ms milliseconds as a timeval. */
struct timeval ar_topo_tv(int ms);

/* Opens a non-blocking connection to a, attached to base, with data in ac->data. NULL with
 * err when it fails at once (an immediate refusal, out of memory): nothing is left then. */
redisAsyncContext *ar_topo_connect(struct event_base *base, const struct ar_topo_addr *a,
                                   void *data, redisConnectCallback *on_conn,
                                   redisDisconnectCallback *on_disc, char *err, size_t errsz);

/* Queues AUTH when pass is set ("AUTH user pass" with a user): returns the replies it adds
 * (0 or 1), or -1 when hiredis refuses the command. */
int ar_topo_send_auth(redisAsyncContext *ac, const char *user, const char *pass,
                      redisCallbackFn *fn);

/* Why a context went away, from inside hiredis' teardown. */
const char *ar_topo_lost_why(const redisAsyncContext *ac);

/* A reply that carries text (a bulk string or a status). */
bool ar_topo_is_str(const redisReply *r);

#endif
