/* sl_out_http.c — the http and es outputs: batches POSTed as NDJSON on one persistent
 * connection, and Elasticsearch/OpenSearch _bulk with each item's own outcome.
 *
 * Both send one request per try on an evhttp connection made at the first send, which
 * reconnects by itself when the peer closed it. evhttp's own retries are off: a failed try
 * goes back to the framework, which sends the batch again after its back-off. The outcome
 * of a try is reported from the loop (the report event), never from inside evhttp's
 * callbacks or from inside send: evhttp walks its connection after a request's callback
 * returns, so the framework must not be able to free the output from there.
 *
 * es: records are created with an _id made of their file and offset (sl_enc_id), so a
 * record sent twice is indexed once and answers 409. Each batch keeps a bitmap of the
 * records not settled yet (neither created, nor already there, nor dead-lettered); when
 * the framework gives the same batch again, only those are sent.
 *
 * http has no such ids: a try that failed after the sink took the batch (its answer lost or
 * late) is sent again, and the sink sees those records twice. libevent resolves a host name
 * with a blocking getaddrinfo when it connects (no evdns base here, as hiredis does for the
 * redis output); an address, or a name the local resolver answers at once, keeps the loop
 * free. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "pk_addr.h"
#include "pk_log.h"
#include "sl_out.h"

#define HTTP_DEFAULT_PORT 80
#define ES_DEFAULT_PORT 9200
#define WHY_MAX 512
#define REPLY_MAX ((ev_ssize_t)64 << 20) /* a reply body larger than this fails the try */
/* Only what is read of a _bulk reply is asked for: a small part of the whole. */
#define ES_BULK_URI "/_bulk?filter_path=errors,items.*.status,items.*.error"
#define ES_INDEX_MAX 255 /* bytes, Elasticsearch's own limit */

/* One http or es output. */
struct ht {
    struct sl_out *o;
    bool es;
    char host[PK_ADDR_HOST_MAX + 1]; /* as connected to: no brackets */
    uint16_t port;
    char *host_header;              /* "127.0.0.1:9200", "[::1]:80" */
    char *uri;                      /* what is POSTed to: "/ingest?x=1", ES_BULK_URI */
    char *action;                   /* es: {"create":{"_index":"<index>","_id":"  */
    struct evhttp_connection *conn; /* made at the first send */
    struct evhttp_request *req;     /* the request in flight (evhttp owns it), or NULL */
    struct event *report;           /* reports the try's outcome from the loop */
    /* the try's outcome */
    bool failed;
    char why[WHY_MAX];
    bool have_req_error;
    enum evhttp_request_error req_error;
    /* es: the batch given last and which of its records are not settled yet */
    uint64_t seq;
    size_t nblk, nrec;
    struct sl_block *first;
    uint64_t *unsettled; /* bit i: record i of the batch is still to be sent */
    size_t nunsettled;
    size_t nsent;  /* records in the request in flight */
    uint64_t dead; /* records the last reply dead-lettered, counted at the report */
};

/* ---- helpers ------------------------------------------------------------------------- */

static void fail(struct ht *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The try fails; the first reason given is the one reported. */
static void fail(struct ht *h, const char *fmt, ...)
{
    va_list ap;

    if (h->failed) {
        return;
    }
    h->failed = true;
    va_start(ap, fmt);
    vsnprintf(h->why, sizeof(h->why), fmt, ap);
    va_end(ap);
}

static size_t count_records(const struct sl_block *first, size_t nblk)
{
    size_t n = 0;

    for (const struct sl_block *b = first; b != NULL && nblk > 0; b = b->next, nblk--) {
        n += b->nrec;
    }
    return n;
}

static bool bit_get(const uint64_t *bits, size_t i)
{
    return (bits[i / 64] >> (i % 64)) & 1u;
}

static void bit_clear(uint64_t *bits, size_t i)
{
    bits[i / 64] &= ~((uint64_t)1 << (i % 64));
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

/* "SCHEME://HOST[:PORT]/REST": the address (default_port when it has none) into h, and
 * where REST starts (at its '/' or '?', or at the end). 0, or -1 with err. */
static int parse_authority(struct ht *h, const char *spec, const char *scheme,
                           uint16_t default_port, const char **rest, char *err, size_t errsz)
{
    size_t n = strlen(scheme);
    const char *a = spec + n + 3, *end;
    char text[PK_ADDR_HOST_MAX + 16], why[256];
    struct pk_addr addr;

    if (strncmp(spec, scheme, n) != 0 || strncmp(spec + n, "://", 3) != 0) {
        bad(err, errsz, "expected %s://HOST:PORT/...", scheme);
        return -1;
    }
    end = a + strcspn(a, "/?");
    if ((size_t)(end - a) >= sizeof(text)) {
        bad(err, errsz, "the address is too long");
        return -1;
    }
    memcpy(text, a, (size_t)(end - a));
    text[end - a] = '\0';
    if (pk_addr_parse(text, default_port, &addr, why, sizeof(why)) < 0) {
        bad(err, errsz, "%s", why);
        return -1;
    }
    if (addr.kind != PK_ADDR_INET || addr.host[0] == '\0' || addr.port == 0) {
        bad(err, errsz, "expected %s://HOST:PORT/..., with a host and a port", scheme);
        return -1;
    }
    snprintf(h->host, sizeof(h->host), "%s", addr.host);
    h->port = addr.port;
    *rest = end;
    return 0;
}

/* Elasticsearch's rules for an index name, those that a typo breaks. */
static const char *index_problem(const char *index, size_t len)
{
    if (len == 0) {
        return "no index: expected es://HOST:PORT/INDEX";
    }
    if (len > ES_INDEX_MAX) {
        return "the index name is longer than 255 bytes";
    }
    if (strchr("-_+", index[0]) != NULL || strcmp(index, ".") == 0 || strcmp(index, "..") == 0) {
        return "an index name cannot start with '-', '_' or '+', nor be '.' or '..'";
    }
    for (size_t i = 0; i < len; i++) {
        if (index[i] >= 'A' && index[i] <= 'Z') {
            return "an index name must be lowercase";
        }
        if (strchr("\\/*?\"<>| ,#:", index[i]) != NULL || (unsigned char)index[i] < 0x20) {
            return "an index name cannot hold \\ / * ? \" < > | , # : spaces or parameters";
        }
    }
    return NULL;
}

static void ht_close(void *state);

/* The {"create":{"_index":"<index>","_id":" that starts every action line. */
static char *make_action(const char *index, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    char *s = NULL;

    if (b != NULL && evbuffer_add_printf(b, "{\"create\":{\"_index\":") >= 0 &&
        sl_enc_json_string(b, index, len) == 0 && evbuffer_add_printf(b, ",\"_id\":\"") >= 0 &&
        (s = calloc(1, evbuffer_get_length(b) + 1)) != NULL) {
        evbuffer_remove(b, s, evbuffer_get_length(b));
    }
    if (b != NULL) {
        evbuffer_free(b);
    }
    return s;
}

static void on_report(evutil_socket_t fd, short what, void *arg);

static void *ht_open(struct sl_out *o, const char *spec, bool es, char *err, size_t errsz)
{
    struct ht *h = calloc(1, sizeof(*h));
    const char *rest;
    char hostport[PK_ADDR_HOST_MAX + 16];
    struct pk_addr addr = {.kind = PK_ADDR_INET};

    if (h == NULL) {
        return bad(err, errsz, "out of memory");
    }
    h->o = o;
    h->es = es;
    if (parse_authority(h, spec, es ? "es" : "http", es ? ES_DEFAULT_PORT : HTTP_DEFAULT_PORT,
                        &rest, err, errsz) < 0) {
        goto fail;
    }
    snprintf(addr.host, sizeof(addr.host), "%s", h->host);
    addr.port = h->port;
    pk_addr_format(&addr, hostport, sizeof(hostport));
    h->host_header = strdup(hostport);
    if (es) {
        const char *index = rest[0] == '/' ? rest + 1 : rest;
        const char *problem = index_problem(index, strlen(index));
        if (problem != NULL) {
            bad(err, errsz, "%s", problem);
            goto fail;
        }
        h->uri = strdup(ES_BULK_URI);
        h->action = make_action(index, strlen(index));
    } else {
        /* The path and its query as given; "/" when there is none. */
        if (rest[0] == '/') {
            h->uri = strdup(rest);
        } else if (asprintf(&h->uri, "/%s", rest) < 0) {
            h->uri = NULL;
        }
    }
    h->report = event_new(sl_out_base(o), -1, 0, on_report, h);
    if (h->host_header == NULL || h->uri == NULL || (es && h->action == NULL) ||
        h->report == NULL) {
        bad(err, errsz, "out of memory");
        goto fail;
    }
    return h;
fail:
    ht_close(h);
    return NULL;
}

static void *http_open(struct sl_out *o, const char *spec, char *err, size_t errsz)
{
    return ht_open(o, spec, false, err, errsz);
}

static void *es_open(struct sl_out *o, const char *spec, char *err, size_t errsz)
{
    return ht_open(o, spec, true, err, errsz);
}

/* Frees h, half-built or not; a request in flight goes with the connection, unanswered. */
static void ht_close(void *state)
{
    struct ht *h = state;

    if (h == NULL) {
        return;
    }
    if (h->conn != NULL) {
        evhttp_connection_free(h->conn);
    }
    if (h->report != NULL) {
        event_free(h->report);
    }
    free(h->host_header);
    free(h->uri);
    free(h->action);
    free(h->unsettled);
    free(h);
}

/* ---- replies ------------------------------------------------------------------------- */

static void on_report(evutil_socket_t fd, short what, void *arg)
{
    struct ht *h = arg;
    uint64_t dead = h->dead;

    (void)fd;
    (void)what;
    h->dead = 0;
    if (dead > 0) {
        sl_out_count_dead(h->o, dead);
    }
    /* The last thing done: the framework may send the next batch, or free h, from here. */
    sl_out_done(h->o, h->failed ? h->why : NULL);
}

static const char *req_error_text(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "the connection was closed";
    case EVREQ_HTTP_INVALID_HEADER:
        return "a malformed reply";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection failed";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "the request was cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "a reply larger than 64 MiB";
    }
    return "connection failed";
}

static void on_req_error(enum evhttp_request_error e, void *arg)
{
    struct ht *h = arg;

    h->have_req_error = true;
    h->req_error = e;
}

/* Appends the dead-letter line of one record to fd: {"error":..,"record":<document>}. */
static int dead_letter_write(struct ht *h, int fd, const json_t *error, const struct sl_block *b,
                             const struct sl_rec *r)
{
    struct evbuffer *line = evbuffer_new(), *doc = evbuffer_new();
    char *e = error != NULL ? json_dumps(error, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = -1;

    errno = ENOMEM;
    if (line == NULL || doc == NULL ||
        sl_enc_record(sl_out_enc(h->o), SL_FMT_JSON, doc, b, r) < 0 ||
        evbuffer_add_printf(line, "{\"error\":%s,\"record\":", e != NULL ? e : "null") < 0 ||
        evbuffer_remove_buffer(doc, line, evbuffer_get_length(doc) - 1) < 0 ||
        evbuffer_add(line, "}\n", 2) < 0) {
        goto out;
    }
    /* One write for the line when it can: O_APPEND keeps lines of several writers whole. */
    while (evbuffer_get_length(line) > 0) {
        int n = evbuffer_write(line, fd);
        if (n == 0) {
            errno = EIO; /* a regular file that takes nothing: no progress to wait for */
        }
        if (n <= 0 && errno != EINTR) {
            goto out;
        }
    }
    rc = 0;
out:
    free(e);
    if (line != NULL) {
        evbuffer_free(line);
    }
    if (doc != NULL) {
        evbuffer_free(doc);
    }
    return rc;
}

/* A record rejected for good: to the dead-letter file, or to the log when there is none.
 * 0 when it is settled, -1 when it must be sent again (the file could not be written). */
static int dead_letter(struct ht *h, int *fd, const json_t *error, const struct sl_block *b,
                       const struct sl_rec *r)
{
    const char *path = sl_out_conf(h->o)->dead_letter;
    char id[SL_ENC_ID_MAX];

    if (path == NULL) {
        char *e = error != NULL ? json_dumps(error, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        sl_enc_id(b, r, id);
        pk_log_error("output '%s': record %s of %s rejected for good, dropped (no "
                     "--dead-letter): %s",
                     sl_out_spec(h->o), id, b->src->path, e != NULL ? e : "no error given");
        free(e);
        return 0;
    }
    if (*fd < 0) {
        *fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    if (*fd < 0 || dead_letter_write(h, *fd, error, b, r) < 0) {
        fail(h, "cannot write the dead-letter file '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The item of a _bulk reply: {"create":{"status":201,...}} -> status and error. */
static int item_status(const json_t *item, const json_t **error)
{
    void *it = json_is_object(item) ? json_object_iter((json_t *)item) : NULL;
    const json_t *op = it != NULL ? json_object_iter_value(it) : NULL;
    const json_t *status = json_is_object(op) ? json_object_get(op, "status") : NULL;

    *error = json_is_object(op) ? json_object_get(op, "error") : NULL;
    return json_is_integer(status) ? (int)json_integer_value(status) : 0;
}

/* Settles the records of the request by the items of a _bulk reply, in order. */
static void es_items(struct ht *h, const json_t *items)
{
    const struct sl_block *b;
    const struct sl_rec *r;
    struct sl_out_walk w;
    size_t k = 0, retry = 0;
    int retry_status = 0, fd = -1;
    const char *retry_type = NULL;

    sl_out_walk_start(&w, h->first, h->nblk);
    while ((r = sl_out_walk_next(&w, &b)) != NULL) {
        size_t i = w.n - 1;
        const json_t *error;
        if (!bit_get(h->unsettled, i)) {
            continue;
        }
        int status = item_status(json_array_get(items, k++), &error);
        if ((status >= 200 && status < 300) || status == 409) {
            /* created, or there already: an earlier try got it in */
        } else if (status >= 400 && status < 500 && status != 429) {
            if (dead_letter(h, &fd, error, b, r) < 0) {
                retry++;
                continue;
            }
            h->dead++;
        } else {
            /* 429, 5xx, or an item without a status: sent again */
            if (retry_status == 0) {
                retry_status = status;
                retry_type = json_string_value(json_object_get(error, "type"));
            }
            retry++;
            continue;
        }
        bit_clear(h->unsettled, i);
        h->nunsettled--;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (retry > 0) {
        fail(h, "%zu of %zu items to retry (%d%s%s)", retry, h->nsent, retry_status,
             retry_type != NULL ? " " : "", retry_type != NULL ? retry_type : "");
    }
}

/* Every record of the request was settled. */
static void es_all_settled(struct ht *h)
{
    size_t nwords = (h->nrec + 63) / 64;

    memset(h->unsettled, 0, nwords * sizeof(*h->unsettled));
    h->nunsettled = 0;
}

static void es_reply(struct ht *h, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    json_error_t jerr;
    json_t *root = body != NULL || len == 0 ? json_loadb(body, len, 0, &jerr) : NULL;
    const json_t *errors = json_object_get(root, "errors");
    const json_t *items = json_object_get(root, "items");

    if (root == NULL) {
        fail(h, "the _bulk reply is not JSON (%s)",
             body != NULL || len == 0 ? jerr.text : "out of memory");
    } else if (json_is_false(errors)) {
        es_all_settled(h);
    } else if (!json_is_true(errors) || !json_is_array(items) ||
               json_array_size(items) != h->nsent) {
        fail(h, "a _bulk reply without \"errors\", or with %zu items for %zu records",
             json_array_size(items), h->nsent);
    } else {
        es_items(h, items);
    }
    json_decref(root);
}

static void on_reply(struct evhttp_request *req, void *arg)
{
    struct ht *h = arg;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;

    h->req = NULL;
    if (code == 0 && h->have_req_error && h->req_error == EVREQ_HTTP_TIMEOUT) {
        fail(h, "no answer within %lld ms", (long long)sl_out_conf(h->o)->timeout_ms);
    } else if (code == 0) {
        /* libevent 2.1 fails a connect without a word (no error callback, errno stale) */
        fail(h, "%s", h->have_req_error ? req_error_text(h->req_error) : "cannot connect");
    } else if (h->es ? code != 200 : code < 200 || code > 299) {
        const char *line = evhttp_request_get_response_code_line(req);
        fail(h, "HTTP %d%s%s", code, line != NULL && line[0] != '\0' ? " " : "",
             line != NULL ? line : "");
    } else if (h->es) {
        es_reply(h, req);
    }
    event_active(h->report, EV_TIMEOUT, 0);
}

/* ---- sending ------------------------------------------------------------------------- */

static int make_conn(struct ht *h)
{
    const struct sl_out_conf *conf = sl_out_conf(h->o);

    h->conn = evhttp_connection_base_new(sl_out_base(h->o), NULL, h->host, h->port);
    if (h->conn == NULL) {
        return -1;
    }
    if (conf->timeout_ms > 0) {
        struct timeval tv = {.tv_sec = conf->timeout_ms / 1000,
                             .tv_usec = (conf->timeout_ms % 1000) * 1000};
        evhttp_connection_set_timeout_tv(h->conn, &tv); /* connecting, then each read */
    }
    evhttp_connection_set_retries(h->conn, 0);
    evhttp_connection_set_max_body_size(h->conn, REPLY_MAX);
    return 0;
}

/* es: the batch's bitmap, kept when the framework gives the same batch again. 0 or -1. */
static int es_batch(struct ht *h, struct sl_block *first, size_t nblk)
{
    size_t nrec = count_records(first, nblk), nwords = (nrec + 63) / 64;
    uint64_t seq = first != NULL ? first->seq : 0;

    h->first = first;
    if (h->unsettled != NULL && seq == h->seq && nblk == h->nblk && nrec == h->nrec) {
        return 0;
    }
    free(h->unsettled);
    h->unsettled = calloc(nwords > 0 ? nwords : 1, sizeof(*h->unsettled));
    if (h->unsettled == NULL) {
        h->nrec = 0;
        return -1;
    }
    for (size_t i = 0; i < nrec; i++) {
        h->unsettled[i / 64] |= (uint64_t)1 << (i % 64);
    }
    h->seq = seq;
    h->nblk = nblk;
    h->nrec = nrec;
    h->nunsettled = nrec;
    return 0;
}

/* The request's body: every record (http), or an action line and the document of each
 * record not settled yet (es). The number of records in it, or -1 (memory). */
static long build_body(struct ht *h, struct evbuffer *out, struct sl_block *first, size_t nblk)
{
    const struct sl_enc *enc = sl_out_enc(h->o);
    enum sl_format f = h->es ? SL_FMT_JSON : sl_out_format(h->o);
    const struct sl_block *b;
    const struct sl_rec *r;
    struct sl_out_walk w;
    long n = 0;

    sl_out_walk_start(&w, first, nblk);
    while ((r = sl_out_walk_next(&w, &b)) != NULL) {
        if (h->es) {
            char id[SL_ENC_ID_MAX];
            size_t idlen;
            if (!bit_get(h->unsettled, w.n - 1)) {
                continue;
            }
            idlen = sl_enc_id(b, r, id);
            if (evbuffer_add(out, h->action, strlen(h->action)) < 0 ||
                evbuffer_add(out, id, idlen) < 0 || evbuffer_add(out, "\"}}\n", 4) < 0) {
                return -1;
            }
        }
        if (sl_enc_record(enc, f, out, b, r) < 0) {
            return -1;
        }
        n++;
    }
    return n;
}

static void ht_send(void *state, struct sl_block *first, size_t nblk)
{
    struct ht *h = state;
    struct evhttp_request *req = NULL;
    struct evkeyvalq *hdr;
    long n;

    h->failed = false;
    h->have_req_error = false;
    h->dead = 0;
    if (h->es && es_batch(h, first, nblk) < 0) {
        fail(h, "out of memory");
        goto report;
    }
    if (h->es ? h->nunsettled == 0 : count_records(first, nblk) == 0) {
        goto report; /* nothing to send: delivered */
    }
    if ((h->conn == NULL && make_conn(h) < 0) || (req = evhttp_request_new(on_reply, h)) == NULL) {
        fail(h, "out of memory");
        goto report;
    }
    evhttp_request_set_error_cb(req, on_req_error);
    hdr = evhttp_request_get_output_headers(req);
    n = build_body(h, evhttp_request_get_output_buffer(req), first, nblk);
    if (n < 0 || evhttp_add_header(hdr, "Host", h->host_header) < 0 ||
        evhttp_add_header(hdr, "Content-Type",
                          h->es || sl_out_format(h->o) == SL_FMT_JSON ? "application/x-ndjson"
                                                                      : "text/plain") < 0) {
        evhttp_request_free(req);
        fail(h, "out of memory");
        goto report;
    }
    h->nsent = (size_t)n;
    h->req = req;
    /* On failure evhttp may have answered already (on_reply ran, req is freed). */
    if (evhttp_make_request(h->conn, req, EVHTTP_REQ_POST, h->uri) < 0 && h->req != NULL) {
        h->req = NULL;
        fail(h, "cannot start the request");
        goto report;
    }
    return;
report:
    event_active(h->report, EV_TIMEOUT, 0);
}

const struct sl_out_driver sl_out_http = {
    .scheme = "http",
    .default_format = SL_FMT_JSON,
    .immediate = false,
    .open = http_open,
    .send = ht_send,
    .close = ht_close,
};

const struct sl_out_driver sl_out_es = {
    .scheme = "es",
    .default_format = SL_FMT_JSON,
    .immediate = false,
    .open = es_open,
    .send = ht_send,
    .close = ht_close,
};
