/* sl_out.c — the outputs: spec to driver, batches in order, acknowledgements, retries. */
#include "sl_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pk_log.h"

#define ERR_MAX 512

enum phase {
    IDLE,    /* no batch: the next is made when blocks come */
    WAITING, /* not immediate: the timer ends the wait for a fuller batch */
    SENDING, /* the driver has the batch */
    BACKOFF, /* the batch failed: the timer sends it again */
};

struct sl_out {
    struct event_base *base;
    struct sl_queue *q;
    const struct sl_out_conf *conf; /* borrowed */
    const struct sl_enc *enc;       /* borrowed */
    const struct sl_out_driver *drv;
    void *state; /* the driver's */
    char *spec;  /* as given: for sl_out_spec and every log line */
    enum sl_format format;
    struct event *timer;
    enum phase phase;
    bool flush_due; /* the wait for a fuller batch is over */
    uint64_t taken; /* the seq of the last block put in a batch */
    /* The batch: in flight, or waiting to be sent again. */
    struct sl_block *first;
    size_t nblk;
    uint64_t last_seq;
    uint64_t nrec, nbytes;
    long tries;
    /* pump() is running; again: run its loop once more (a nested call asked) */
    bool pumping, again;
    /* The log's rate limit: failures since the last success, when one was last logged,
     * whether a drop was (since the last success). */
    uint64_t failures;
    int64_t logged_ns;
    bool drop_logged;
    uint64_t rng;
    struct sl_out_stats st;
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: jitter only, nothing secret. */
static uint64_t next_random(struct sl_out *o)
{
    o->rng ^= o->rng >> 12;
    o->rng ^= o->rng << 25;
    o->rng ^= o->rng >> 27;
    return o->rng * 0x2545f4914f6cdd1dULL;
}

/* The wait before try number tries+1 of a batch: backoff_min_ms doubled per failed try up to
 * backoff_max_ms, less up to a quarter at random so that outputs (and sidecars) that failed
 * together do not retry together; never below backoff_min_ms (nor 1 ms: no busy loop). */
static int64_t backoff_ms(struct sl_out *o)
{
    int64_t lo = o->conf->backoff_min_ms > 0 ? o->conf->backoff_min_ms : 1;
    int64_t hi = o->conf->backoff_max_ms > lo ? o->conf->backoff_max_ms : lo;
    int64_t base = lo;

    for (long i = 1; i < o->tries && base < hi; i++) {
        base = base > hi / 2 ? hi : base * 2;
    }
    if (base > hi) {
        base = hi;
    }
    int64_t d = base - (int64_t)(next_random(o) % (uint64_t)(base / 4 + 1));
    return d < lo ? lo : d;
}

static void arm(struct sl_out *o, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};

    evtimer_add(o->timer, &tv);
}

/* The rate limit of failure lines, so that an output that is down does not flood the log:
 * the first of an outage (and what force says), then one per back-off cap at most. */
static bool may_log(struct sl_out *o, bool force)
{
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    int64_t every = o->conf->backoff_max_ms > 0 ? o->conf->backoff_max_ms : 1000;

    if (!force && o->failures > 1 && now - o->logged_ns < every * 1000000) {
        return false;
    }
    o->logged_ns = now;
    return true;
}

static void pump(struct sl_out *o);

static void send_batch(struct sl_out *o)
{
    o->phase = SENDING;
    if (o->tries++ > 0) {
        o->st.retries++;
    }
    o->drv->send(o->state, o->first, o->nblk);
}

/* Blocks were acknowledged (or given up): they are o's no more. */
static void ack(struct sl_out *o)
{
    o->phase = IDLE;
    o->first = NULL;
    o->nblk = 0;
    sl_queue_ack(o->q, o, o->last_seq);
}

void sl_out_done(struct sl_out *o, const char *error)
{
    const struct sl_out_conf *c = o->conf;

    if (o->phase != SENDING) {
        return; /* a driver's second call: nothing to do */
    }
    if (error == NULL) {
        if (o->st.down) {
            char dropped[64] = "";
            if (o->st.dropped > 0) {
                snprintf(dropped, sizeof(dropped), " (%" PRIu64 " records dropped in all)",
                         o->st.dropped);
            }
            pk_log_info("output '%s': recovered after %" PRIu64 " failed %s%s", o->spec,
                        o->failures, o->failures == 1 ? "try" : "tries", dropped);
        }
        o->st.down = false;
        o->failures = 0;
        o->drop_logged = false;
        o->st.records += o->nrec;
        o->st.bytes += o->nbytes;
        o->st.batches++;
        o->st.last_ok_ns = clock_ns(CLOCK_REALTIME);
        ack(o);
    } else if (c->retry_max > 0 && o->tries >= c->retry_max) {
        o->st.down = true;
        o->failures++;
        o->st.dropped += o->nrec;
        /* Lost lines: the first loss of an outage is always told. */
        if (may_log(o, !o->drop_logged)) {
            pk_log_error("output '%s': %s; gave up on %" PRIu64 " records after %ld tries (%" PRIu64
                         " dropped in all)",
                         o->spec, error, o->nrec, o->tries, o->st.dropped);
            o->drop_logged = true;
        }
        ack(o);
    } else {
        int64_t ms = backoff_ms(o);
        o->st.down = true;
        o->failures++;
        if (may_log(o, false)) {
            if (o->failures == 1) {
                pk_log_error("output '%s': %s; retrying in %" PRId64 " ms", o->spec, error, ms);
            } else {
                pk_log_error("output '%s': %s; still failing after %" PRIu64
                             " tries, retrying in %" PRId64 " ms",
                             o->spec, error, o->failures, ms);
            }
        }
        o->phase = BACKOFF;
        arm(o, ms);
        return;
    }
    pump(o);
}

static bool over(const struct sl_out_conf *c, uint64_t nrec, uint64_t nbytes)
{
    return (c->batch_records > 0 && nrec > c->batch_records) ||
           (c->batch_bytes > 0 && nbytes > c->batch_bytes);
}

/*
 * Makes the next batch when there is none: whole blocks from the cursor, as many as the
 * limits take (always one, however large: a block cannot be split, its acknowledgement is
 * one number). A driver that is not immediate waits for a fuller batch until the oldest
 * block has waited flush_interval_ms since it was read.
 */
static void step(struct sl_out *o)
{
    const struct sl_out_conf *c = o->conf;
    struct sl_block *first, *last = NULL, *b;
    uint64_t nrec = 0, nbytes = 0;
    size_t nblk = 0;
    bool full = false;

    if (o->phase == SENDING || o->phase == BACKOFF) {
        return;
    }
    if ((first = sl_queue_after(o->q, o->taken)) == NULL) {
        return;
    }
    for (b = first; b != NULL; b = b->next) {
        if (nblk > 0 && over(c, nrec + b->nrec, nbytes + b->len)) {
            full = true;
            break;
        }
        nblk++;
        nrec += b->nrec;
        nbytes += b->len;
        last = b;
    }
    full = full || (c->batch_records > 0 && nrec >= c->batch_records) ||
           (c->batch_bytes > 0 && nbytes >= c->batch_bytes);
    if (nrec > 0 && !full && !o->flush_due && !o->drv->immediate) {
        if (o->phase == WAITING) {
            return; /* the timer is set for the same oldest block */
        }
        int64_t interval = c->flush_interval_ms > 0 ? c->flush_interval_ms : 0;
        int64_t waited = (clock_ns(CLOCK_REALTIME) - first->read_ns) / 1000000;
        /* A clock that jumped cannot stretch the wait past one interval. */
        int64_t left = waited < 0 ? interval : interval - waited;
        if (left > 0) {
            o->phase = WAITING;
            arm(o, left);
            return;
        }
    }
    if (o->phase == WAITING) {
        evtimer_del(o->timer);
    }
    o->flush_due = false;
    o->taken = last->seq;
    o->first = first;
    o->nblk = nblk;
    o->last_seq = last->seq;
    o->nrec = nrec;
    o->nbytes = nbytes;
    o->tries = 0;
    if (nrec == 0) {
        ack(o); /* only positions: nothing to deliver */
        o->again = true;
        return;
    }
    send_batch(o);
}

/* Runs step() until nothing changes. A driver that finishes inside send, or a push from
 * inside an acknowledgement, calls back in here: the nested call only asks for one more
 * turn of the loop, so the stack does not grow with the number of batches. */
static void pump(struct sl_out *o)
{
    if (o->pumping) {
        o->again = true;
        return;
    }
    o->pumping = true;
    do {
        o->again = false;
        step(o);
    } while (o->again);
    o->pumping = false;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sl_out *o = arg;
    (void)fd;
    (void)what;

    if (o->phase == BACKOFF) {
        send_batch(o);
    } else if (o->phase == WAITING) {
        o->phase = IDLE;
        o->flush_due = true;
        pump(o);
    }
}

void sl_out_wake(struct sl_out *o)
{
    if (o->phase == IDLE || o->phase == WAITING) {
        pump(o);
    }
}

/* Removes "?format=raw|json" (or "&format=...") from spec, if there, into *format: the last
 * one, so that a file name with a '?' in it stays whole. 0, or -1 with err for another
 * value. */
static int take_format(char *spec, int *format, char *err, size_t errsz)
{
    char *p = NULL;

    for (char *s = strstr(spec, "format="); s != NULL; s = strstr(s + 1, "format=")) {
        if (s > spec && (s[-1] == '?' || s[-1] == '&')) {
            p = s - 1;
        }
    }
    if (p == NULL) {
        return 0;
    }
    char *value = p + 8;
    size_t n = strcspn(value, "&");
    char *rest = value + n;
    if (n == 3 && memcmp(value, "raw", 3) == 0) {
        *format = SL_FMT_RAW;
    } else if (n == 4 && memcmp(value, "json", 4) == 0) {
        *format = SL_FMT_JSON;
    } else {
        snprintf(err, errsz, "format must be raw or json, not '%.*s'", (int)n, value);
        return -1;
    }
    if (*rest == '\0') {
        *p = '\0';
    } else if (*p == '?') {
        memmove(p + 1, rest + 1, strlen(rest + 1) + 1); /* "?format=x&a=b": "?a=b" */
    } else {
        memmove(p, rest, strlen(rest) + 1);
    }
    return 0;
}

static int find_driver(const char *spec, const struct sl_out_driver **out, char *err, size_t errsz)
{
    const struct sl_out_driver *const known[] = {&sl_out_stdout, &sl_out_file, &sl_out_tcp,
                                                 &sl_out_http,   &sl_out_es,   &sl_out_redis};
    static const char *const schemes[] = {"stdout", "file", "tcp", "http", "es", "redis"};
    size_t n = strcspn(spec, ":?");

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (strlen(schemes[i]) != n || strncmp(spec, schemes[i], n) != 0) {
            continue;
        }
        *out = known[i];
        return 0;
    }
    snprintf(err, errsz,
             "unknown output (expected stdout, file:PATH, tcp://HOST:PORT, "
             "http://HOST:PORT/PATH, es://HOST:PORT/INDEX or redis://HOST:PORT/KEY)");
    return -1;
}

struct sl_out *sl_out_new(struct event_base *base, struct sl_queue *q, const char *spec,
                          const struct sl_out_conf *conf, const struct sl_enc *enc, char *err,
                          size_t errsz)
{
    struct sl_out *o = calloc(1, sizeof(*o));
    char why[ERR_MAX] = "out of memory";
    char *bare = NULL;
    int format = -1;

    if (o == NULL) {
        goto fail;
    }
    o->base = base;
    o->q = q;
    o->conf = conf;
    o->enc = enc;
    if ((o->spec = strdup(spec)) == NULL || (bare = strdup(spec)) == NULL) {
        goto fail;
    }
    o->rng = (uint64_t)(uintptr_t)o ^ (uint64_t)clock_ns(CLOCK_MONOTONIC) ^
             ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    if (o->rng == 0) {
        o->rng = 1;
    }
    if (take_format(bare, &format, why, sizeof(why)) < 0 ||
        find_driver(bare, &o->drv, why, sizeof(why)) < 0) {
        goto fail;
    }
    o->format = format >= 0         ? (enum sl_format)format
                : conf->format >= 0 ? (enum sl_format)conf->format
                                    : o->drv->default_format;
    if ((o->timer = evtimer_new(base, on_timer, o)) == NULL) {
        snprintf(why, sizeof(why), "out of memory");
        goto fail;
    }
    why[0] = '\0';
    if ((o->state = o->drv->open(o, bare, why, sizeof(why))) == NULL) {
        if (why[0] == '\0') {
            snprintf(why, sizeof(why), "cannot set up the output");
        }
        goto fail;
    }
    /* It owes nothing for the blocks already queued: it starts after the newest. */
    for (struct sl_block *b = sl_queue_after(q, 0); b != NULL; b = b->next) {
        o->taken = b->seq;
    }
    sl_queue_attach(q, o);
    free(bare);
    return o;
fail:
    /* A driver may already have said whose it is; else the spec is named here. */
    if (strncmp(why, "--output", 8) == 0) {
        snprintf(err, errsz, "%s", why);
    } else {
        snprintf(err, errsz, "--output '%s': %s", spec, why);
    }
    free(bare);
    sl_out_free(o);
    return NULL;
}

/* Also frees a half-built output (sl_out_new's failure path). */
void sl_out_free(struct sl_out *o)
{
    if (o == NULL) {
        return;
    }
    sl_queue_detach(o->q, o); /* nothing when it was never attached */
    if (o->state != NULL) {
        o->drv->close(o->state);
    }
    if (o->timer != NULL) {
        event_free(o->timer);
    }
    free(o->spec);
    free(o);
}

const char *sl_out_spec(const struct sl_out *o)
{
    return o->spec;
}

void sl_out_stats(const struct sl_out *o, struct sl_out_stats *st)
{
    *st = o->st;
}

struct event_base *sl_out_base(const struct sl_out *o)
{
    return o->base;
}

const struct sl_enc *sl_out_enc(const struct sl_out *o)
{
    return o->enc;
}

enum sl_format sl_out_format(const struct sl_out *o)
{
    return o->format;
}

const struct sl_out_conf *sl_out_conf(const struct sl_out *o)
{
    return o->conf;
}

void sl_out_count_dead(struct sl_out *o, uint64_t n)
{
    o->st.dead += n;
}

void sl_out_walk_start(struct sl_out_walk *w, const struct sl_block *first, size_t nblk)
{
    *w = (struct sl_out_walk){.b = nblk > 0 ? first : NULL, .blocks_left = nblk > 0 ? nblk - 1 : 0};
}

const struct sl_rec *sl_out_walk_next(struct sl_out_walk *w, const struct sl_block **b)
{
    while (w->b != NULL && w->ri >= w->b->nrec) {
        w->b = w->blocks_left > 0 ? w->b->next : NULL;
        w->blocks_left -= w->blocks_left > 0;
        w->ri = 0;
    }
    if (w->b == NULL) {
        return NULL;
    }
    *b = w->b;
    w->n++;
    return &w->b->rec[w->ri++];
}
