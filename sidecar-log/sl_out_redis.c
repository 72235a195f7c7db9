/* sl_out_redis.c — the redis output: each batch RPUSHed to a list or XADDed to a stream,
 * inside MULTI/EXEC, on one hiredis connection attached to the loop.
 *
 * A batch is one transaction, so Redis applies all of it or none of it. A try fails on any
 * error reply, on the connection lost and on timeout_ms without a reply (then the
 * connection is dropped and the next try makes a new one). One window is left where a
 * retried batch is stored twice: Redis ran EXEC but its reply was lost with the
 * connection. Closing it would take a marker stored in the same transaction and read back
 * before a retry; lists and streams are appended to as they are, so it stays open.
 *
 * Letting go of a hiredis context follows hiredis 0.14's rules (as ar_topo_int.h says):
 * from our own timer or from send, redisAsyncFree at once; from the connect or disconnect
 * callback or a reply callback given NULL, hiredis is already freeing it, so it is only
 * detached (ac->data = NULL, and every callback returns at once on a NULL data). The
 * outcome of a try is reported from the loop (the report event), never from inside a
 * hiredis callback or from inside send, so the framework may free the output from there.
 *
 * hiredis 0.14 resolves a host name with a blocking getaddrinfo when it connects (as
 * ambassador-redis does too); an address, or a name the local resolver answers at once,
 * keeps the loop free. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "pk_addr.h"
#include "sl_out.h"

#define REDIS_DEFAULT_PORT 6379
#define WHY_MAX 512
#define RPUSH_ARGS_MAX 1000 /* arguments of one RPUSH, its name and the key included */
#define XADD_ARGS_MAX 8     /* XADD key MAXLEN ~ N * message record */
_Static_assert(XADD_ARGS_MAX <= RPUSH_ARGS_MAX, "one argv holds either command");

static const char CMD_MULTI[] = "MULTI", CMD_EXEC[] = "EXEC";
static const char CMD_RPUSH[] = "RPUSH", CMD_XADD[] = "XADD";

struct rd {
    struct sl_out *o;
    char host[PK_ADDR_HOST_MAX + 1];
    uint16_t port;
    char *key;
    bool stream;           /* XADD, else RPUSH */
    char maxlen[24];       /* stream: XADD trims with MAXLEN ~ this; "" for no trimming */
    redisAsyncContext *ac; /* NULL before the first send and once the connection is lost */
    bool connected;
    bool busy;            /* a try is in flight */
    size_t pending;       /* replies it still awaits */
    struct event *timer;  /* while busy: the connect timeout, then the reply timeout */
    struct event *report; /* reports the try's outcome from the loop */
    bool failed;
    char why[WHY_MAX];
    struct evbuffer *enc; /* the records of one command, encoded */
    const char *argv[RPUSH_ARGS_MAX];
    size_t argvlen[RPUSH_ARGS_MAX];
};

/* ---- helpers ------------------------------------------------------------------------- */

static void fail(struct rd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The try fails; the first reason given is the one reported. */
static void fail(struct rd *d, const char *fmt, ...)
{
    va_list ap;

    if (d->failed) {
        return;
    }
    d->failed = true;
    va_start(ap, fmt);
    vsnprintf(d->why, sizeof(d->why), fmt, ap);
    va_end(ap);
}

static struct timeval ms_tv(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* (Re)arms the timer for timeout_ms; none when it is 0. */
static void arm_timer(struct rd *d)
{
    int64_t ms = sl_out_conf(d->o)->timeout_ms;
    struct timeval tv = ms_tv(ms);

    evtimer_del(d->timer);
    if (ms > 0) {
        evtimer_add(d->timer, &tv);
    }
}

/* Lets go of the context; frees it unless hiredis is already at it (see the top). */
static void drop_conn(struct rd *d, bool free_ctx)
{
    redisAsyncContext *ac = d->ac;

    d->ac = NULL;
    d->connected = false;
    if (ac != NULL) {
        ac->data = NULL;
        if (free_ctx) {
            redisAsyncFree(ac);
        }
    }
}

/* The try is over: its outcome goes to the framework from the loop. */
static void finish(struct rd *d)
{
    d->busy = false;
    evtimer_del(d->timer);
    event_active(d->report, EV_TIMEOUT, 0);
}

static const char *lost_why(const redisAsyncContext *ac)
{
    return ac->c.err != 0 ? ac->c.errstr : "connection closed";
}

/* The connection went away under hiredis: a try in flight fails. */
static void lost(struct rd *d, const redisAsyncContext *ac, const char *what)
{
    drop_conn(d, false);
    if (d->busy) {
        fail(d, "%s%s", what, lost_why(ac));
        finish(d);
    }
}

/* ---- callbacks ----------------------------------------------------------------------- */

static void on_report(evutil_socket_t fd, short what, void *arg)
{
    struct rd *d = arg;

    (void)fd;
    (void)what;
    /* The last thing done: the framework may send the next batch, or free d, from here. */
    sl_out_done(d->o, d->failed ? d->why : NULL);
}

/* privdata: the command's name, one of the CMD_ strings. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rd *d = ac->data;
    const redisReply *r = reply;
    const char *cmd = privdata;

    if (d == NULL) {
        return;
    }
    if (r == NULL) {
        lost(d, ac, "connection lost: ");
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fail(d, "%s: %s", cmd, r->str);
    } else if (cmd == CMD_EXEC && r->type != REDIS_REPLY_ARRAY) {
        fail(d, "EXEC: the transaction was not run");
    } else if (cmd == CMD_EXEC) {
        /* A command can fail inside a transaction that ran (WRONGTYPE): EXEC says so. */
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type == REDIS_REPLY_ERROR) {
                fail(d, "%s: %s", d->stream ? CMD_XADD : CMD_RPUSH, r->element[i]->str);
                break;
            }
        }
    }
    if (--d->pending == 0) {
        finish(d);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rd *d = ac->data;

    if (d == NULL) {
        return;
    }
    if (status != REDIS_OK) {
        lost(d, ac, "connect: ");
        return;
    }
    d->connected = true;
    if (d->busy) {
        arm_timer(d); /* connected in time: now the replies get as long */
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rd *d = ac->data;

    (void)status;
    if (d != NULL) {
        lost(d, ac, "connection lost: ");
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rd *d = arg;
    int64_t ms = sl_out_conf(d->o)->timeout_ms;

    (void)fd;
    (void)what;
    if (!d->busy) {
        return;
    }
    if (d->connected) {
        fail(d, "no reply within %lld ms", (long long)ms);
    } else {
        fail(d, "connect: timed out after %lld ms", (long long)ms);
    }
    drop_conn(d, true);
    finish(d);
}

/* ---- sending ------------------------------------------------------------------------- */

static int connect_to(struct rd *d)
{
    redisAsyncContext *ac = redisAsyncConnect(d->host, d->port);

    if (ac == NULL) {
        fail(d, "connect: out of memory");
        return -1;
    }
    if (ac->err != 0) {
        fail(d, "connect: %s", ac->c.errstr);
        redisAsyncFree(ac);
        return -1;
    }
    if (redisLibeventAttach(ac, sl_out_base(d->o)) != REDIS_OK) {
        fail(d, "connect: cannot attach to the event loop");
        redisAsyncFree(ac);
        return -1;
    }
    ac->data = d;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    d->ac = ac;
    d->connected = false;
    return 0;
}

/* Queues one command; its reply is awaited. 0, or -1 when hiredis refuses it. */
static int queue(struct rd *d, const char *cmd, int argc, const char **argv, const size_t *argvlen)
{
    if (redisAsyncCommandArgv(d->ac, on_reply, (void *)cmd, argc, argv, argvlen) != REDIS_OK) {
        return -1;
    }
    d->pending++;
    return 0;
}

static int queue_word(struct rd *d, const char *cmd)
{
    size_t len = strlen(cmd);

    return queue(d, cmd, 1, &cmd, &len);
}

/* Encodes up to max records from w into d->enc, each without its '\n', and points
 * argv[first ...] at them. The number encoded (0 at the end), or -1 (memory). */
static int encode_some(struct rd *d, struct sl_out_walk *w, int first, int max)
{
    enum sl_format f = sl_out_format(d->o);
    size_t start[RPUSH_ARGS_MAX];
    const struct sl_block *b;
    const struct sl_rec *r;
    const char *base;
    int n = 0;

    evbuffer_drain(d->enc, evbuffer_get_length(d->enc));
    while (n < max && (r = sl_out_walk_next(w, &b)) != NULL) {
        start[n] = evbuffer_get_length(d->enc);
        if (sl_enc_record(sl_out_enc(d->o), f, d->enc, b, r) < 0) {
            return -1;
        }
        d->argvlen[first + n] = evbuffer_get_length(d->enc) - start[n] - 1; /* the '\n' */
        n++;
    }
    base = (const char *)evbuffer_pullup(d->enc, -1);
    if (n > 0 && base == NULL) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        d->argv[first + i] = base + start[i];
    }
    return n;
}

/* MULTI, the batch's RPUSH or XADD commands, EXEC. 0, or -1 with the try failed. */
static int queue_batch(struct rd *d, struct sl_block *first, size_t nblk)
{
    struct sl_out_walk w;
    int head = 2, n;

    d->argv[0] = d->stream ? CMD_XADD : CMD_RPUSH;
    d->argv[1] = d->key;
    if (d->stream && d->maxlen[0] != '\0') {
        d->argv[head++] = "MAXLEN";
        d->argv[head++] = "~";
        d->argv[head++] = d->maxlen;
    }
    if (d->stream) {
        d->argv[head++] = "*";
        d->argv[head++] = "message";
    }
    for (int i = 0; i < head; i++) {
        d->argvlen[i] = strlen(d->argv[i]);
    }
    if (queue_word(d, CMD_MULTI) < 0) {
        goto refused;
    }
    sl_out_walk_start(&w, first, nblk);
    while ((n = encode_some(d, &w, head, d->stream ? 1 : RPUSH_ARGS_MAX - head)) > 0) {
        if (queue(d, d->argv[0], head + n, d->argv, d->argvlen) < 0) {
            goto refused;
        }
    }
    if (n < 0) {
        fail(d, "out of memory");
        return -1;
    }
    if (queue_word(d, CMD_EXEC) < 0) {
        goto refused;
    }
    return 0;
refused:
    fail(d, "cannot queue commands: %s",
         d->ac->c.err != 0 ? d->ac->c.errstr : "the connection is closing");
    return -1;
}

static void rd_send(void *state, struct sl_block *first, size_t nblk)
{
    struct rd *d = state;
    size_t nrec = 0, k = nblk;

    d->failed = false;
    d->pending = 0;
    for (const struct sl_block *b = first; b != NULL && k > 0; b = b->next, k--) {
        nrec += b->nrec;
    }
    d->busy = true;
    if (nrec == 0) {
        finish(d); /* nothing to send: delivered */
        return;
    }
    if (d->ac == NULL && connect_to(d) < 0) {
        finish(d);
        return;
    }
    if (queue_batch(d, first, nblk) < 0) {
        /* Part of a transaction may be queued: only a new connection starts clean. */
        drop_conn(d, true);
        finish(d);
        return;
    }
    arm_timer(d);
}

/* ---- the spec ------------------------------------------------------------------------ */

/* What is wrong with the spec, into err (sl_out_new names the spec). */
static void *bad(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *bad(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return NULL;
}

static void rd_close(void *state);

/* "type=list|stream[&maxlen=N]" into d. 0, or -1 with err. */
static int parse_params(struct rd *d, const char *q, char *err, size_t errsz)
{
    bool have_type = false;

    while (q != NULL && *q != '\0') {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t klen = eq != NULL ? (size_t)(eq - q) : len;
        const char *v = eq != NULL ? eq + 1 : q + len;
        size_t vlen = (size_t)(q + len - v);

        if (klen == 4 && strncmp(q, "type", 4) == 0 && vlen == 4 && strncmp(v, "list", 4) == 0) {
            have_type = true;
            d->stream = false;
        } else if (klen == 4 && strncmp(q, "type", 4) == 0 && vlen == 6 &&
                   strncmp(v, "stream", 6) == 0) {
            have_type = true;
            d->stream = true;
        } else if (klen == 4 && strncmp(q, "type", 4) == 0) {
            bad(err, errsz, "type '%.*s': expected list or stream", (int)vlen, v);
            return -1;
        } else if (klen == 6 && strncmp(q, "maxlen", 6) == 0) {
            char text[24], *end;
            long long n;
            snprintf(text, sizeof(text), "%.*s", (int)(vlen < 23 ? vlen : 23), v);
            n = strtoll(text, &end, 10);
            if (vlen == 0 || vlen > 19 || *end != '\0' || n <= 0) {
                bad(err, errsz, "maxlen '%.*s': expected a number above 0", (int)vlen, v);
                return -1;
            }
            snprintf(d->maxlen, sizeof(d->maxlen), "%lld", n);
        } else {
            bad(err, errsz, "unknown parameter '%.*s' (type, maxlen)", (int)klen, q);
            return -1;
        }
        q += len + (q[len] == '&');
    }
    if (!have_type) {
        bad(err, errsz, "expected ?type=list or ?type=stream after the key");
        return -1;
    }
    if (!d->stream && d->maxlen[0] != '\0') {
        bad(err, errsz, "maxlen is for type=stream only");
        return -1;
    }
    return 0;
}

/* redis://HOST[:PORT]/KEY?type=list|stream[&maxlen=N] */
static void *rd_open(struct sl_out *o, const char *spec, char *err, size_t errsz)
{
    static const char scheme[] = "redis://";
    struct rd *d = calloc(1, sizeof(*d));
    const char *a = spec + strlen(scheme), *slash, *q;
    char text[PK_ADDR_HOST_MAX + 16], why[256];
    struct pk_addr addr;

    if (d == NULL) {
        return bad(err, errsz, "out of memory");
    }
    d->o = o;
    if (strncmp(spec, scheme, strlen(scheme)) != 0) {
        bad(err, errsz, "expected redis://HOST:PORT/KEY?type=list|stream");
        goto fail;
    }
    slash = a + strcspn(a, "/?");
    if ((size_t)(slash - a) >= sizeof(text)) {
        bad(err, errsz, "the address is too long");
        goto fail;
    }
    snprintf(text, sizeof(text), "%.*s", (int)(slash - a), a);
    if (pk_addr_parse(text, REDIS_DEFAULT_PORT, &addr, why, sizeof(why)) < 0) {
        bad(err, errsz, "%s", why);
        goto fail;
    }
    if (addr.kind != PK_ADDR_INET || addr.host[0] == '\0' || addr.port == 0) {
        bad(err, errsz, "expected redis://HOST:PORT/KEY, with a host and a port");
        goto fail;
    }
    snprintf(d->host, sizeof(d->host), "%s", addr.host);
    d->port = addr.port;
    q = strchr(slash, '?');
    if (*slash != '/' || slash + 1 == (q != NULL ? q : slash + strlen(slash))) {
        bad(err, errsz, "no key: expected redis://HOST:PORT/KEY?type=list|stream");
        goto fail;
    }
    d->key = strndup(slash + 1, q != NULL ? (size_t)(q - slash - 1) : strlen(slash + 1));
    if (parse_params(d, q != NULL ? q + 1 : NULL, err, errsz) < 0) {
        goto fail;
    }
    d->enc = evbuffer_new();
    d->timer = evtimer_new(sl_out_base(o), on_timer, d);
    d->report = event_new(sl_out_base(o), -1, 0, on_report, d);
    if (d->key == NULL || d->enc == NULL || d->timer == NULL || d->report == NULL) {
        bad(err, errsz, "out of memory");
        goto fail;
    }
    return d;
fail:
    rd_close(d);
    return NULL;
}

/* Frees d, half-built or not; a try in flight is abandoned with the connection. */
static void rd_close(void *state)
{
    struct rd *d = state;

    if (d == NULL) {
        return;
    }
    drop_conn(d, true);
    if (d->timer != NULL) {
        event_free(d->timer);
    }
    if (d->report != NULL) {
        event_free(d->report);
    }
    if (d->enc != NULL) {
        evbuffer_free(d->enc);
    }
    free(d->key);
    free(d);
}

const struct sl_out_driver sl_out_redis = {
    .scheme = "redis",
    .default_format = SL_FMT_JSON,
    .immediate = false,
    .open = rd_open,
    .send = rd_send,
    .close = rd_close,
};
