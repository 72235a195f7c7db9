/* ar_proxy_int.h — what the data path's files share: clients, upstream connections,
 * the proxy context. Private to ar_proxy.c, ar_upstream.c, ar_metrics.c and ar_admin.c. */
#ifndef AR_PROXY_INT_H
#define AR_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ar_conf.h"
#include "ar_metrics.h"
#include "ar_proxy.h"
#include "ar_resp.h"
#include "ar_topo.h"

struct bufferevent;
struct evconnlistener;
struct evdns_base;
struct event;
struct evhttp;
struct ssl_ctx_st;
struct ar_tls;

/* How far an upstream connection has got. */
enum ar_up_state {
    AR_UP_CONNECTING, /* the TCP (and TLS) connect is under way; commands queue in output */
    AR_UP_READY,      /* connected; our AUTH, if any, is queued first */
    AR_UP_DEAD,       /* failed or closed; freed once nothing refers to it */
};

/* Who a reply in flight belongs to. */
enum ar_pend_kind {
    AR_PEND_CLIENT,   /* a client's command */
    AR_PEND_INTERNAL, /* our own AUTH: its reply is checked, not forwarded */
};

struct ar_client;

struct ar_pending {
    struct ar_client *client; /* AR_PEND_CLIENT: the client (kept alive while referred to) */
    uint64_t sent_ns;         /* monotonic, for the latency histogram */
    uint16_t cmd;             /* metric index of the command */
    uint8_t kind;
};

/* One connection to the master (or a replica). Shared (multiplex) or dedicated to one
 * client (pinned mode, or a multiplexed client after a stateful command). */
struct ar_upconn {
    struct ar_proxy *px;
    struct bufferevent *bev;
    enum ar_up_state state;
    struct ar_topo_addr addr;  /* where it connects */
    struct ar_client *owner;   /* dedicated: its client; NULL: shared or replica */
    bool replica;              /* to a replica, for read-only commands */
    struct ar_client *rclient; /* pinned mode's replica connection: its client */
    size_t shared_index;       /* shared: its slot in px->shared */
    struct ar_resp_parser rp;  /* replies */
    uint64_t fed;              /* bytes of the current reply already fed to rp */
    uint64_t sent;             /* of those, bytes already passed on (a large reply goes
                                * out as it comes, not once it is whole) */
    struct ar_pending *pend;   /* a ring of replies awaited, oldest first */
    size_t pend_cap, pend_head, pend_len;
    bool streaming;            /* dedicated and subscribed/monitoring: replies are no longer
                                * one per command; everything goes to the owner */
    bool paused;               /* not read: the owner's output is over its limit */
};

/* One client connection. */
struct ar_client {
    struct ar_proxy *px;
    struct ar_client *prev, *next; /* px->clients */
    struct bufferevent *bev;       /* NULL once the connection is gone */
    struct ar_resp_parser cp;      /* commands */
    uint64_t fed;                  /* bytes of the current command already fed to cp */
    struct ar_upconn *up;          /* dedicated connection, or NULL */
    struct ar_upconn *rup;         /* pinned: its replica connection, or NULL */
    struct ar_upconn *last;        /* where its commands in flight went */
    size_t rshared_idx;            /* multiplex: its shared replica connection's slot */
    bool in_tx;                    /* after MULTI or WATCH: everything goes to the master */
    size_t shared_idx;             /* multiplex: the slot of the shared connection it uses
                                    * until it moves (SIZE_MAX: none yet) */
    size_t inflight;               /* replies awaited on shared (and dedicated) connections */
    bool authed;                   /* requirepass satisfied (or none) */
    bool waiting;                  /* the next command waits for every reply in flight (it
                                    * moves to its own connection, or is answered here: a
                                    * reply must not overtake those before it) */
    bool closing;                  /* close once the output is flushed */
    bool gone;                     /* the connection is closed; freed when inflight is 0 */
    bool read_paused;              /* not read: its upstream's output is over the limit */
};

struct ar_listener {
    struct evconnlistener *l;
    char path[128]; /* a Unix socket to unlink at the end, or "" */
};

struct ar_proxy {
    struct event_base *base;
    const struct ar_conf *conf;    /* borrowed; replaced by ar_proxy_reload */
    struct evdns_base *dns;        /* for upstream names; created on first need */
    struct ar_topo *topo;
    struct ar_listener *listeners;
    size_t nlisteners;
    struct ar_client *clients;     /* every client, gone ones included until freed */
    size_t nclients;               /* connected ones */
    struct ar_upconn **shared;     /* multiplex: conf->upstream_conns of them */
    size_t nshared;
    struct ar_upconn **rshared;    /* multiplex: as many shared replica connections */
    size_t next_replica;           /* round-robin over the healthy replicas */
    size_t next_shared;            /* round-robin for new clients */
    struct ssl_ctx_st *ssl_ctx;    /* --upstream-tls, or NULL */
    struct ar_tls *tls;            /* the TLS libraries, loaded for --upstream-tls, or NULL */
    struct evhttp *admin;
    struct ar_metrics metrics;
    size_t nupconns;               /* open upstream connections */
    size_t npaused;                /* clients not read for a full upstream output */
    bool stopping;
    struct event *stop_timer;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* ---- ar_upstream.c ----------------------------------------------------------------- */

/* A new connection to the current master, dedicated to owner (or shared when owner is
 * NULL, at slot index); or, when replica is not NULL, to that replica (owner NULL). Returns
 * NULL with err when no master is known or memory runs out; a connect that fails later is
 * reported through the usual paths (the owner is closed; a shared connection retries; a
 * replica connection's clients get an error for each command in flight). */
struct ar_upconn *ar_up_new(struct ar_proxy *px, struct ar_client *owner, size_t index,
                            const struct ar_topo_addr *replica, char *err, size_t errsz);

/* The healthy replicas changed: replica connections to one no longer listed are closed. */
void ar_up_replicas_changed(struct ar_proxy *px);

/* A command of client c (NULL: no reply is awaited) is about to be written: its reply is
 * awaited, in order. Returns -1 when out of memory. */
int ar_up_expect(struct ar_upconn *up, struct ar_client *c, uint16_t cmd);

/* Moves len bytes of src (one or more commands already expected) to up's output. */
void ar_up_write(struct ar_upconn *up, struct evbuffer *src, size_t len);

/* Closes up: its pending clients get an error reply each (shared) or are closed
 * (dedicated owner), and it is freed. */
void ar_up_close(struct ar_upconn *up, const char *why);

/* Reading resumes (the owner's output drained) or stops. */
void ar_up_pause(struct ar_upconn *up, bool paused);

/* The master changed or was lost: dedicated connections to another address close their
 * clients; shared ones reconnect. */
void ar_up_master_changed(struct ar_proxy *px);

/* Writes what was just queued on bev now, rather than one loop iteration later, when its
 * output held before bytes before (0: nothing). bev: a plain connected socket, not TLS. */
void ar_write_now(struct bufferevent *bev, size_t before);

/* Frees up at once, without telling anyone (the proxy is being freed). */
void ar_up_free_now(struct ar_upconn *up);

/* TLS context from the configuration, or NULL with err. */
struct ssl_ctx_st *ar_up_tls_context(const struct ar_tls *tls, const struct ar_conf *conf,
                                     char *err, size_t errsz);

/* ---- ar_proxy.c -------------------------------------------------------------------- */

/* A reply for c is in its output now (or was dropped): bookkeeping, and continuing a
 * client that waits for its shared replies before it moves. */
void ar_client_replied(struct ar_client *c);

/* Closes c's connection (now, or after its output is flushed when flush is true); the
 * struct lives on while replies for it are in flight. */
void ar_client_close(struct ar_client *c, bool flush);

/* Writes an error reply "-<text>\r\n" to c. */
void ar_client_error(struct ar_client *c, const char *text);

/* Whether c's output is over client-output-limit. */
bool ar_client_output_full(const struct ar_client *c);

/* An upstream's output drained: clients paused for it are read again. */
void ar_proxy_up_drained(struct ar_proxy *px);

/* ---- ar_admin.c -------------------------------------------------------------------- */

/* Serves /metrics, /healthz and /readyz on conf->admin_addr. Returns 0 or -1 with err. */
int ar_admin_start(struct ar_proxy *px, char *err, size_t errsz);
void ar_admin_stop(struct ar_proxy *px);

/* Monotonic nanoseconds. */
uint64_t ar_now_ns(void);

#endif
