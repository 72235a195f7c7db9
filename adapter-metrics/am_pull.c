/* am_pull.c — the pull sources' fetches at scrape time: a file read, an HTTP GET (libevent's
 * evhttp client) and Redis INFO ALL (hiredis async), each reported from the loop.
 *
 * Every outcome goes through the report event, never straight from inside am_pull_start,
 * evhttp's or hiredis' callbacks: they walk their own state after a callback returns, and the
 * caller's cb may start the next fetch or free the fetcher. A file is read in that event too.
 * The cb gets bytes the fetcher moved out of itself first, so a fetch started from the cb
 * cannot overwrite them; am_pull_destroy from inside the cb only marks the fetcher, which the
 * report event frees once the cb has returned (hiredis' "entered/deleted" pattern).
 *
 * http: one evhttp connection, kept alive between fetches; evhttp's own retries are off.
 * evhttp 2.1 reports a failed connect without its errno (it shuts the socket down before it
 * calls back), so while a connection is being made its bufferevent's event callback is
 * wrapped to keep the errno for "connect: Connection refused". At the deadline the
 * connection is freed (the request with it, unanswered) and the next fetch makes a new one.
 *
 * redis: one hiredis connection, made at the first fetch and again after any error; AUTH goes
 * first on each new connection. A kept connection that turns out to be dead before it
 * answered (the server restarted between scrapes) is replaced once within the same fetch.
 * Letting go of a hiredis context follows hiredis 0.14's rules (see ar_topo_int.h): from our
 * own events, redisAsyncFree at once; from a reply callback given a reply, redisAsyncFree only
 * flags it; from the connect or disconnect callback or a reply callback given NULL, hiredis is
 * already freeing it, so it is only detached (ac->data = NULL; every callback returns at once
 * on a NULL data). hiredis resolves a host name with a blocking getaddrinfo when it connects,
 * and libevent does too without an evdns base: an address, or a name the local resolver
 * answers at once, keeps the loop free. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "am_src.h"
#include "pk_addr.h"

#define ERR_MAX 512
#define HTTP_HEADERS_MAX (64 * 1024) /* bytes of a reply's status line and headers */
#define HTTP_IDLE_SECONDS 300        /* evhttp closes a kept connection idle this long */
#define FILE_FIRST_READ 4096         /* bytes first asked for when the size is not known */

static const char CMD_AUTH[] = "AUTH", CMD_INFO[] = "INFO";

struct am_pull {
    struct event_base *base;
    enum am_src_kind kind;
    enum am_src_format format;
    char *path; /* file: the path; http: the request URI */
    char *host;
    uint16_t port;
    char *user, *password;
    char *host_header; /* http: "127.0.0.1:8080", "[::1]" */
    int64_t timeout_ms;
    size_t max_bytes;

    am_pull_fn *cb;
    void *arg;
    bool busy;            /* from am_pull_start until cb */
    bool settled;         /* the fetch's outcome is known: data or err */
    bool in_cb;           /* cb is running: am_pull_destroy only marks */
    bool dying;           /* ... and this is its mark */
    struct event *report; /* reads a file, retries, and reports every outcome */
    struct event *timer;  /* http, redis: the whole fetch's deadline */
    char *data;           /* the outcome: data (len bytes, NUL after) or err */
    size_t len;
    char err[ERR_MAX];

    /* http */
    struct evhttp_connection *conn;
    struct evhttp_request *req; /* in flight (evhttp owns it), or NULL */
    bool have_req_error;
    enum evhttp_request_error req_error;
    int connect_errno;               /* of a failed connect, or 0 */
    bufferevent_event_cb connect_cb; /* evhttp's, wrapped while it connects */
    void *connect_arg;

    /* redis */
    redisAsyncContext *ac; /* NULL before the first fetch and once let go of */
    bool fresh;            /* ac was made for this fetch */
    bool retry;            /* the report event is to start the fetch again (once) */
    bool retried;
    bool got_reply; /* a reply came in during this fetch */
};

/* ---- outcomes ------------------------------------------------------------------------ */

/* The report event runs at the loop's next turn, after it polled: a cb that starts the next
 * fetch, which settles at once, cannot keep the loop from its sockets. */
static void report_soon(struct am_pull *p)
{
    static const struct timeval zero = {0, 0};

    event_add(p->report, &zero);
}

static void settle(struct am_pull *p)
{
    p->settled = true;
    evtimer_del(p->timer);
    report_soon(p);
}

static void fail(struct am_pull *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The fetch fails with this reason, unless its outcome is known already. */
static void fail(struct am_pull *p, const char *fmt, ...)
{
    va_list ap;

    if (p->settled) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    settle(p);
}

/* The fetch succeeds with a copy of buf[0..len), or fails when it is too large. */
static void succeed(struct am_pull *p, const char *buf, size_t len, const char *prefix)
{
    if (p->settled) {
        return;
    }
    if (len > p->max_bytes) {
        fail(p, "%slarger than %zu bytes", prefix, p->max_bytes);
        return;
    }
    p->data = malloc(len + 1);
    if (p->data == NULL) {
        fail(p, "%sout of memory", prefix);
        return;
    }
    memcpy(p->data, buf, len);
    p->data[len] = '\0';
    p->len = len;
    settle(p);
}

static struct timeval ms_tv(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* ---- file ---------------------------------------------------------------------------- */

/* Reads the whole file into p->data, at most max_bytes, or fails. */
static void file_read(struct am_pull *p)
{
    int fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    size_t cap, len = 0;
    char *buf = NULL;

    if (fd < 0) {
        fail(p, "open %s: %s", p->path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        fail(p, "fstat %s: %s", p->path, strerror(errno));
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > p->max_bytes) {
        fail(p, "larger than %zu bytes", p->max_bytes);
        goto out;
    }
    /* Room for the size it says and one byte more, so that EOF comes with the first read;
     * files of /proc and /sys say 0. */
    cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 2 : FILE_FIRST_READ;
    for (;;) {
        ssize_t n;
        if (len + 1 == cap || buf == NULL) {
            size_t want = buf == NULL ? cap : cap * 2;
            char *grown;
            if (want > p->max_bytes + 2) {
                want = p->max_bytes + 2; /* enough to see that it is too large */
            }
            if ((grown = realloc(buf, want)) == NULL) {
                fail(p, "read %s: out of memory", p->path);
                goto out;
            }
            buf = grown;
            cap = want;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail(p, "read %s: %s", p->path, strerror(errno));
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > p->max_bytes) {
            fail(p, "larger than %zu bytes", p->max_bytes);
            goto out;
        }
    }
    buf[len] = '\0';
    p->data = buf;
    p->len = len;
    buf = NULL;
    settle(p);
out:
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
}

/* ---- http ---------------------------------------------------------------------------- */

static const char *http_error_text(enum evhttp_request_error e)
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
        break;
    }
    return NULL;
}

static void on_http_error(enum evhttp_request_error e, void *arg)
{
    struct am_pull *p = arg;

    p->have_req_error = true;
    p->req_error = e;
}

static void on_http_reply(struct evhttp_request *req, void *arg)
{
    struct am_pull *p = arg;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    char prefix[64];

    snprintf(prefix, sizeof(prefix), "GET %.50s: ", p->path);
    p->req = NULL;
    if (code == 0 && p->have_req_error && p->req_error == EVREQ_HTTP_DATA_TOO_LONG) {
        fail(p, "%slarger than %zu bytes", prefix, p->max_bytes);
    } else if (code == 0 && p->have_req_error && p->req_error == EVREQ_HTTP_TIMEOUT) {
        fail(p, "%stimed out after %lld ms", prefix, (long long)p->timeout_ms);
    } else if (code == 0 && p->have_req_error) {
        fail(p, "%s%s", prefix, http_error_text(p->req_error));
    } else if (code == 0) {
        fail(p, "%sconnect: %s", prefix,
             p->connect_errno != 0 ? strerror(p->connect_errno) : "failed");
    } else if (code < 200 || code > 299) {
        fail(p, "%sHTTP %d", prefix, code);
    } else {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
        if (body == NULL) {
            fail(p, "%sout of memory", prefix);
        } else {
            succeed(p, body, len, prefix);
        }
    }
}

/* Wraps evhttp's connect callback: keeps errno of a failed connect, then hands over. */
static void on_http_connect_event(struct bufferevent *bev, short what, void *arg)
{
    struct am_pull *p = arg;

    if (!(what & BEV_EVENT_CONNECTED)) {
        p->connect_errno = errno;
    }
    p->connect_cb(bev, what, p->connect_arg);
}

/* While evhttp connects, its bufferevent has only an event callback (it sets its read and
 * write callbacks once connected): that one is wrapped. */
static void http_watch_connect(struct am_pull *p)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(p->conn);
    bufferevent_data_cb rd, wr;
    bufferevent_event_cb ev;
    void *arg;

    if (bev == NULL) {
        return;
    }
    bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
    if (rd == NULL && wr == NULL && ev != NULL && ev != on_http_connect_event) {
        p->connect_cb = ev;
        p->connect_arg = arg;
        bufferevent_setcb(bev, NULL, NULL, on_http_connect_event, p);
    }
}

static void http_begin(struct am_pull *p)
{
    struct evhttp_request *req;
    struct evkeyvalq *h;
    const char *accept = p->format == AM_SRC_FORMAT_JSON   ? "application/json"
                         : p->format == AM_SRC_FORMAT_PROM ? "text/plain;version=0.0.4"
                                                           : "text/plain";

    p->have_req_error = false;
    p->connect_errno = 0;
    if (p->conn == NULL) {
        p->conn = evhttp_connection_base_new(p->base, NULL, p->host, p->port);
        if (p->conn == NULL) {
            fail(p, "GET %.50s: out of memory", p->path);
            return;
        }
        evhttp_connection_set_retries(p->conn, 0);
        evhttp_connection_set_timeout(p->conn, HTTP_IDLE_SECONDS);
        evhttp_connection_set_max_body_size(p->conn, (ev_ssize_t)p->max_bytes);
        evhttp_connection_set_max_headers_size(p->conn, HTTP_HEADERS_MAX);
    }
    req = evhttp_request_new(on_http_reply, p);
    if (req == NULL) {
        fail(p, "GET %.50s: out of memory", p->path);
        return;
    }
    evhttp_request_set_error_cb(req, on_http_error);
    h = evhttp_request_get_output_headers(req);
    if (evhttp_add_header(h, "Host", p->host_header) < 0 ||
        evhttp_add_header(h, "Accept", accept) < 0 ||
        evhttp_add_header(h, "User-Agent", "podkit-adapter-metrics") < 0) {
        evhttp_request_free(req);
        fail(p, "GET %.50s: out of memory", p->path);
        return;
    }
    p->req = req;
    /* A connect that fails at once answers from inside (on_http_reply ran, req is gone). */
    if (evhttp_make_request(p->conn, req, EVHTTP_REQ_GET, p->path) < 0) {
        if (p->req != NULL) {
            p->req = NULL;
            evhttp_request_free(req);
        }
        fail(p, "GET %.50s: cannot start the request", p->path);
        return;
    }
    if (p->req != NULL) {
        http_watch_connect(p);
    }
}

/* ---- redis --------------------------------------------------------------------------- */

/* Lets go of the connection; frees it unless hiredis is already at it (see the top). */
static void redis_drop(struct am_pull *p, bool free_ctx)
{
    redisAsyncContext *ac = p->ac;

    p->ac = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        if (free_ctx) {
            redisAsyncFree(ac);
        }
    }
}

/* The connection went away under hiredis: a fetch that used a kept connection and got no
 * reply yet goes again on a new one, once; any other fetch in flight fails. */
static void redis_lost(struct am_pull *p, const redisAsyncContext *ac, const char *what)
{
    redis_drop(p, false);
    if (!p->busy || p->settled) {
        return;
    }
    if (!p->fresh && !p->got_reply && !p->retried) {
        p->retried = true;
        p->retry = true;
        report_soon(p);
        return;
    }
    fail(p, "%s%s", what, ac->c.err != 0 ? ac->c.errstr : "connection closed");
}

static void on_redis_connect(const redisAsyncContext *ac, int status)
{
    struct am_pull *p = ac->data;

    if (p != NULL && status != REDIS_OK) {
        redis_lost(p, ac, "connect: ");
    }
}

static void on_redis_disconnect(const redisAsyncContext *ac, int status)
{
    struct am_pull *p = ac->data;

    (void)status;
    if (p != NULL) {
        redis_lost(p, ac, "connection lost: ");
    }
}

/* privdata: CMD_AUTH or CMD_INFO. */
static void on_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct am_pull *p = ac->data;
    const redisReply *r = reply;
    const char *cmd = privdata;

    if (p == NULL) {
        return;
    }
    if (r == NULL) {
        redis_lost(p, ac, "connection lost: ");
        return;
    }
    p->got_reply = true;
    if (r->type == REDIS_REPLY_ERROR) {
        /* A new connection, and AUTH again, for the next fetch. */
        fail(p, "%s: %.*s", cmd, (int)r->len, r->str);
        redis_drop(p, true);
    } else if (cmd == CMD_INFO && r->type != REDIS_REPLY_STRING) {
        fail(p, "INFO: the reply is not a string");
        redis_drop(p, true);
    } else if (cmd == CMD_INFO) {
        succeed(p, r->str, r->len, "INFO: ");
    }
}

static int redis_connect(struct am_pull *p)
{
    redisAsyncContext *ac = redisAsyncConnect(p->host, p->port);

    if (ac == NULL) {
        fail(p, "connect: out of memory");
        return -1;
    }
    if (ac->err != 0) {
        fail(p, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return -1;
    }
    if (redisLibeventAttach(ac, p->base) != REDIS_OK) {
        fail(p, "connect: cannot attach to the event loop");
        redisAsyncFree(ac);
        return -1;
    }
    ac->data = p;
    redisAsyncSetConnectCallback(ac, on_redis_connect);
    redisAsyncSetDisconnectCallback(ac, on_redis_disconnect);
    p->ac = ac;
    return 0;
}

static void redis_begin(struct am_pull *p)
{
    const char *argv[3];
    size_t argvlen[3];
    int argc = 0;

    p->got_reply = false;
    p->fresh = p->ac == NULL;
    if (p->fresh && redis_connect(p) < 0) {
        return;
    }
    if (p->fresh && p->password != NULL) {
        argv[argc++] = CMD_AUTH;
        if (p->user != NULL) {
            argv[argc++] = p->user;
        }
        argv[argc++] = p->password;
        for (int i = 0; i < argc; i++) {
            argvlen[i] = strlen(argv[i]);
        }
        if (redisAsyncCommandArgv(p->ac, on_redis_reply, (void *)CMD_AUTH, argc, argv, argvlen) !=
            REDIS_OK) {
            goto refused;
        }
    }
    argv[0] = CMD_INFO;
    argv[1] = "ALL";
    argvlen[0] = 4;
    argvlen[1] = 3;
    if (redisAsyncCommandArgv(p->ac, on_redis_reply, (void *)CMD_INFO, 2, argv, argvlen) !=
        REDIS_OK) {
        goto refused;
    }
    return;
refused:
    fail(p, "cannot send commands: %s", p->ac->c.err != 0 ? p->ac->errstr : "closing");
    redis_drop(p, true);
}

/* ---- the fetcher --------------------------------------------------------------------- */

static void pull_free(struct am_pull *p)
{
    if (p->conn != NULL) {
        evhttp_connection_free(p->conn); /* a request in flight goes with it, unanswered */
    }
    redis_drop(p, true);
    if (p->report != NULL) {
        event_free(p->report);
    }
    if (p->timer != NULL) {
        event_free(p->timer);
    }
    free(p->data);
    free(p->path);
    free(p->host);
    free(p->user);
    free(p->password);
    free(p->host_header);
    free(p);
}

static void on_report(evutil_socket_t fd, short what, void *arg)
{
    struct am_pull *p = arg;
    char err[ERR_MAX];
    char *data;
    size_t len;

    (void)fd;
    (void)what;
    if (!p->busy) {
        return;
    }
    if (p->kind == AM_SRC_FILE && !p->settled) {
        file_read(p);
    }
    if (p->retry && !p->settled) {
        p->retry = false;
        redis_begin(p);
        return;
    }
    p->retry = false;
    /* The outcome is moved out first: the cb may start the next fetch. */
    data = p->data;
    len = p->len;
    p->data = NULL;
    p->len = 0;
    snprintf(err, sizeof(err), "%s", p->err);
    p->busy = false;
    p->in_cb = true;
    p->cb(p->arg, data, data != NULL ? len : 0, data != NULL ? NULL : err);
    p->in_cb = false;
    free(data);
    if (p->dying) {
        pull_free(p);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct am_pull *p = arg;

    (void)fd;
    (void)what;
    if (!p->busy || p->settled) {
        return;
    }
    if (p->kind == AM_SRC_HTTP) {
        fail(p, "GET %.50s: timed out after %lld ms", p->path, (long long)p->timeout_ms);
        /* Our own event: the connection may go, with the request in flight. */
        if (p->conn != NULL) {
            evhttp_connection_free(p->conn);
        }
        p->conn = NULL;
        p->req = NULL;
    } else {
        fail(p, "timed out after %lld ms", (long long)p->timeout_ms);
        redis_drop(p, true);
    }
}

struct am_pull *am_pull_create(struct event_base *base, const struct am_src_url *url,
                               int64_t timeout_ms, size_t max_bytes, char *err, size_t errsz)
{
    struct am_pull *p = NULL;

    if (url->kind != AM_SRC_FILE && url->kind != AM_SRC_HTTP && url->kind != AM_SRC_REDIS) {
        snprintf(err, errsz, "not a pull source (file, http or redis)");
        return NULL;
    }
    if (max_bytes == 0 || max_bytes > (size_t)INT32_MAX) {
        snprintf(err, errsz, "the size limit must be 1 byte to 2 GiB");
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        goto oom;
    }
    p->base = base;
    p->kind = url->kind;
    p->format = url->format;
    p->port = url->port;
    p->timeout_ms = timeout_ms;
    p->max_bytes = max_bytes;
    p->report = event_new(base, -1, 0, on_report, p);
    p->timer = evtimer_new(base, on_timer, p);
    if (p->report == NULL || p->timer == NULL ||
        (url->path != NULL && (p->path = strdup(url->path)) == NULL) ||
        (url->host != NULL && (p->host = strdup(url->host)) == NULL) ||
        (url->user != NULL && (p->user = strdup(url->user)) == NULL) ||
        (url->password != NULL && (p->password = strdup(url->password)) == NULL)) {
        goto oom;
    }
    if ((p->kind == AM_SRC_FILE && p->path == NULL) ||
        (p->kind == AM_SRC_HTTP && (p->path == NULL || p->host == NULL)) ||
        (p->kind == AM_SRC_REDIS && p->host == NULL)) {
        snprintf(err, errsz, "the URL lacks its %s", p->host == NULL ? "host" : "path");
        pull_free(p);
        return NULL;
    }
    if (p->kind == AM_SRC_HTTP) {
        /* "HOST" for port 80, else "HOST:PORT"; an IPv6 address in brackets. */
        bool v6 = strchr(p->host, ':') != NULL;
        char port[8] = "";
        if (p->port != 80) {
            snprintf(port, sizeof(port), ":%u", (unsigned)p->port);
        }
        if (asprintf(&p->host_header, "%s%s%s%s", v6 ? "[" : "", p->host, v6 ? "]" : "", port) <
            0) {
            p->host_header = NULL;
            goto oom;
        }
    }
    return p;
oom:
    snprintf(err, errsz, "out of memory");
    if (p != NULL) {
        pull_free(p);
    }
    return NULL;
}

int am_pull_start(struct am_pull *p, am_pull_fn *cb, void *arg)
{
    if (p->busy) {
        return -1;
    }
    p->cb = cb;
    p->arg = arg;
    p->busy = true;
    p->settled = false;
    p->retry = false;
    p->retried = false;
    p->err[0] = '\0';
    free(p->data);
    p->data = NULL;
    p->len = 0;
    if (p->kind != AM_SRC_FILE && p->timeout_ms > 0) {
        struct timeval tv = ms_tv(p->timeout_ms);
        evtimer_add(p->timer, &tv);
    }
    switch (p->kind) {
    case AM_SRC_HTTP:
        http_begin(p);
        break;
    case AM_SRC_REDIS:
        redis_begin(p);
        break;
    default:
        report_soon(p); /* the file is read from the loop */
        break;
    }
    return 0;
}

bool am_pull_busy(const struct am_pull *p)
{
    return p != NULL && p->busy;
}

void am_pull_destroy(struct am_pull *p)
{
    if (p == NULL) {
        return;
    }
    if (p->in_cb) {
        p->dying = true;
        p->busy = false;
        return;
    }
    pull_free(p);
}
