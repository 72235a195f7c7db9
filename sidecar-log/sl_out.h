/* sl_out.h — the outputs: batching, acknowledgement, retries with back-off; one driver each. */
#ifndef SL_OUT_H
#define SL_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "sl_block.h"
#include "sl_enc.h"
#include "sl_queue.h"

/* What every output shares (flags of sidecar-log). */
struct sl_out_conf {
    size_t batch_records;      /* a batch holds at most this many records (--batch-records) */
    size_t batch_bytes;        /* ... and about this many bytes of text (--batch-bytes) */
    int64_t flush_interval_ms; /* a batch below both limits waits at most this long for more
                                * (--flush-interval); stdout, file and tcp never wait */
    long retry_max;            /* tries of one batch before it is given up: 0 = forever
                                * (--retry-max); a batch given up is counted as dropped */
    int64_t backoff_min_ms;    /* first retry after this, doubled each time, with jitter */
    int64_t backoff_max_ms;    /* ... up to this */
    int64_t timeout_ms;        /* connect and request timeout of network outputs */
    int format;                /* -1: each driver's default; else enum sl_format (--format) */
    const char *dead_letter;   /* es: items rejected for good are appended here (JSON lines) */
};

/*
 * An output, from the spec given to --output:
 *   stdout                                    raw by default
 *   file:PATH                                 appended; raw by default
 *   tcp://HOST:PORT                           json by default (NDJSON)
 *   http://HOST:PORT/PATH                     POST of NDJSON batches; 2xx acknowledges
 *   es://HOST:PORT/INDEX                      Elasticsearch/OpenSearch _bulk, create + _id
 *   redis://HOST:PORT/KEY?type=list|stream[&maxlen=N]
 * Any spec may end in "?format=raw|json" (after other parameters: "&format=json"). It reads
 * the queue from the blocks pushed after it was made, sends them in batches in order, and
 * acknowledges each batch to the queue once its driver says it was delivered; a batch that
 * failed is sent again after a back-off. Nothing is ever skipped unless retry_max gives up.
 */
struct sl_out;

struct sl_out_stats {
    uint64_t records;   /* acknowledged */
    uint64_t bytes;     /* of text acknowledged (the records' len, not the encoding) */
    uint64_t batches;   /* acknowledged */
    uint64_t retries;   /* batches sent again */
    uint64_t dropped;   /* records given up (retry_max) */
    uint64_t dead;      /* es: records written to the dead-letter file */
    bool down;          /* the last try failed */
    int64_t last_ok_ns; /* CLOCK_REALTIME of the last acknowledgement, 0: none yet */
};

/* Makes an output reading q. conf and enc are borrowed and must outlive it. Returns NULL
 * with one line in err ("--output 'tcp://x': no port") on a bad spec; nothing is connected
 * yet (a peer that is down is a retry, not an error). */
struct sl_out *sl_out_new(struct event_base *base, struct sl_queue *q, const char *spec,
                          const struct sl_out_conf *conf, const struct sl_enc *enc, char *err,
                          size_t errsz);

/* Detaches and frees o; a batch in flight is abandoned (it stays unacknowledged). */
void sl_out_free(struct sl_out *o);

const char *sl_out_spec(const struct sl_out *o);
void sl_out_stats(const struct sl_out *o, struct sl_out_stats *st);

/* ---- for sl_queue.c ------------------------------------------------------------------ */

/* New blocks were pushed: o sends them now, or when its batch fills or its interval ends. */
void sl_out_wake(struct sl_out *o);

/* ---- for the drivers ----------------------------------------------------------------- */

struct sl_out_driver {
    const char *scheme; /* "stdout", "file", "tcp", "http", "es", "redis" */
    enum sl_format default_format;
    bool immediate; /* sends what there is at once, never waits for a fuller batch */
    /* Parses spec (the whole --output text, "?format=" already removed) and makes the
     * driver's state; no I/O that can block. NULL with one line in err. */
    void *(*open)(struct sl_out *o, const char *spec, char *err, size_t errsz);
    /* Sends the records of nblk blocks from first (following ->next; blocks may hold no
     * record). Later, or before it returns, the driver calls sl_out_done once: NULL when
     * every record was delivered (or dead-lettered), else why this try failed. The blocks
     * stay valid until then. The same blocks are given again after a failure. */
    void (*send)(void *state, struct sl_block *first, size_t nblk);
    /* Frees the state; a send in flight is abandoned (no sl_out_done). */
    void (*close)(void *state);
};

extern const struct sl_out_driver sl_out_stdout, sl_out_file, sl_out_tcp; /* sl_out_local.c */
extern const struct sl_out_driver sl_out_http, sl_out_es;                 /* sl_out_http.c */
extern const struct sl_out_driver sl_out_redis;                           /* sl_out_redis.c */

/* Walks the records of a batch (nblk blocks from first, following ->next) in order. */
struct sl_out_walk {
    const struct sl_block *b; /* NULL at the end */
    size_t blocks_left;       /* after b */
    size_t ri;                /* the next record of b */
    size_t n;                 /* records returned so far: the last one's index is n - 1 */
};
void sl_out_walk_start(struct sl_out_walk *w, const struct sl_block *first, size_t nblk);
/* The next record and its block, or NULL at the end. */
const struct sl_rec *sl_out_walk_next(struct sl_out_walk *w, const struct sl_block **b);

void sl_out_done(struct sl_out *o, const char *error);
struct event_base *sl_out_base(const struct sl_out *o);
const struct sl_enc *sl_out_enc(const struct sl_out *o);
enum sl_format sl_out_format(const struct sl_out *o);
const struct sl_out_conf *sl_out_conf(const struct sl_out *o);
void sl_out_count_dead(struct sl_out *o, uint64_t n); /* es: n records dead-lettered */

#endif
