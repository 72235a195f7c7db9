/* test_sl_out_net.c — the http, es and redis outputs through sl_out_new and a real queue,
 * against sinks on 127.0.0.1: an HTTP sink and a fake _bulk endpoint served by evhttp in
 * this process, and a real redis-server started per test in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "pk_log.h"
#include "sl_block.h"
#include "sl_enc.h"
#include "sl_out.h"
#include "sl_queue.h"

#define TEST_SECONDS 60 /* alarm() per test: a backstop, every wait below has its own bound */
#define WAIT_MS 10000   /* the longest a condition is waited for */
#define TIMEOUT_MS 300  /* the outputs' timeout_ms */
#define SLACK_MS 250    /* what a loaded machine may add to a timer */
#define LOCAL "127.0.0.1"
#define MAXMSG 4096
#define MAXOUT 2

/* What the HTTP sink (or the fake Elasticsearch) saw and how it answers. */
struct sink {
    struct evhttp *http;
    int port;
    int fail_first; /* fail this many requests whole, then answer as told */
    bool garbage;   /* ... with 200 and a body that is not JSON, else with 503 */
    bool raw;       /* http: the lines are kept as they are, not read as JSON */
    int requests;
    int problems; /* requests not as they should be: said by problem */
    char problem[256];
    char content_type[64], uri[128];
    /* http: the messages of the requests answered 2xx, in order */
    char *msgs[MAXMSG];
    int nmsgs;
    /* es */
    json_t *index;   /* _id -> the document: what the fake index holds */
    json_t *reqs;    /* per request, per item: [_id, k of "line k", status or 0 (whole)] */
    json_t *got429;  /* _id -> true once it was answered 429 */
};

struct fx {
    const char *skip_why;
    char dir[64];
    pid_t redis_pid;
    int redis_port;
    struct event_base *base;
    struct event *tick;
    struct sl_queue *q;
    struct sl_enc enc;
    struct sl_src *src;
    struct sl_out_conf conf;
    struct sl_out *out[MAXOUT];
    struct sink sink;
    int hole[4]; /* a listener never accepted from, and the fillers of its backlog */
    uint64_t released;  /* blocks the queue released */
    uint64_t next_off;  /* the file offset of the next line pushed */
    int next_line;      /* "line N" of the next line pushed */
    char dead_letter[128];
    int devnull;
};

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void on_alarm(int sig)
{
    (void)sig;
    fail_msg("the test ran longer than %d s", TEST_SECONDS); /* teardown still runs */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until pred holds, for at most ms. */
static bool run_until(struct fx *fx, bool (*pred)(struct fx *), long ms)
{
    for (long end = now_ms() + ms; !pred(fx);) {
        if (now_ms() >= end) {
            return false;
        }
        event_base_loop(fx->base, EVLOOP_ONCE);
    }
    return true;
}

static void run_for(struct fx *fx, long ms)
{
    for (long end = now_ms() + ms; now_ms() < end;) {
        event_base_loop(fx->base, EVLOOP_ONCE);
    }
}

static bool delivered(struct fx *fx)
{
    return sl_queue_empty(fx->q);
}

static struct sl_out_stats stats(struct fx *fx, int i)
{
    struct sl_out_stats st;

    memset(&st, 0, sizeof(st));
    sl_out_stats(fx->out[i], &st);
    return st;
}

static bool retried_twice(struct fx *fx)
{
    return stats(fx, 0).retries >= 2;
}

static bool went_down(struct fx *fx)
{
    return stats(fx, 0).down;
}

/* ---- the queue and the output under test --------------------------------------------- */

static void on_released(void *arg, const struct sl_block *b)
{
    struct fx *fx = arg;

    (void)b;
    fx->released++;
}

static struct sl_out *start_out(struct fx *fx, int i, const char *spec)
{
    char err[256] = "";

    fx->out[i] = sl_out_new(fx->base, fx->q, spec, &fx->conf, &fx->enc, err, sizeof(err));
    if (fx->out[i] == NULL) {
        fail_msg("sl_out_new '%s': %s", spec, err);
    }
    return fx->out[i];
}

/* Pushes n lines "line K" in blocks of per_block records. */
static void push_lines(struct fx *fx, int n, int per_block)
{
    while (n > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct sl_block *b = sl_block_new(fx->src, now.tv_sec * 1000000000LL + now.tv_nsec);
        assert_non_null(b);
        for (int i = 0; i < per_block && n > 0; i++, n--) {
            char text[32];
            int len = snprintf(text, sizeof(text), "line %d", fx->next_line++);
            assert_int_equal(sl_block_add(b, text, (size_t)len, fx->next_off, 0, 0), 0);
            fx->next_off += (uint64_t)len + 1;
        }
        assert_true(sl_queue_room(fx->q) >= sl_block_mem(b));
        sl_queue_push(fx->q, b);
    }
}

/* k of "line k", or -1. */
static int line_no(const char *msg)
{
    return msg != NULL && strncmp(msg, "line ", 5) == 0 ? atoi(msg + 5) : -1;
}

/* ---- the HTTP sink and the fake Elasticsearch ---------------------------------------- */

static void problem(struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct sink *s, const char *fmt, ...)
{
    va_list ap;

    if (s->problems++ == 0) {
        va_start(ap, fmt);
        vsnprintf(s->problem, sizeof(s->problem), fmt, ap);
        va_end(ap);
    }
}

static void reply_json(struct evhttp_request *req, json_t *body)
{
    struct evbuffer *out = evbuffer_new();
    char *text = json_dumps(body, JSON_COMPACT);

    evbuffer_add(out, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    free(text);
    json_decref(body);
}

/* http: keeps the message of every NDJSON line. */
static void sink_lines(struct sink *s, struct evhttp_request *req, struct evbuffer *in)
{
    char *line;

    while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
        if (s->raw && s->nmsgs < MAXMSG) {
            s->msgs[s->nmsgs++] = line;
            continue;
        }
        json_t *rec = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(rec, "message"));
        if (msg == NULL) {
            problem(s, "a line that is not a record: %s", line);
        } else if (s->nmsgs < MAXMSG) {
            s->msgs[s->nmsgs++] = strdup(msg);
        }
        json_decref(rec);
        free(line);
    }
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* How the fake index answers one create: line k with k % 5 == 1 does not fit the mapping
 * (400), k % 5 == 2 is refused once (429), k % 5 == 3 was indexed by an earlier run (409
 * the first time already); the rest is created unless it is there (409). */
static int es_status(struct sink *s, const char *id, int k, json_t *doc)
{
    if (k % 5 == 1) {
        return 400;
    }
    if (k % 5 == 2 && json_object_get(s->got429, id) == NULL) {
        json_object_set_new(s->got429, id, json_true());
        return 429;
    }
    if (k % 5 == 3 && json_object_get(s->index, id) == NULL) {
        json_object_set_new(s->index, id, json_string("from an earlier run"));
        return 409;
    }
    if (json_object_get(s->index, id) != NULL) {
        return 409;
    }
    json_object_set(s->index, id, doc);
    return 201;
}

static json_t *es_error(int status)
{
    const char *type = status == 400   ? "mapper_parsing_exception"
                       : status == 429 ? "es_rejected_execution_exception"
                                       : "version_conflict_engine_exception";

    return json_pack("{s:s,s:s}", "type", type, "reason", "as the test says");
}

/* es: a _bulk request of create actions; every item answered as es_status says. */
static void sink_bulk(struct sink *s, struct evhttp_request *req, struct evbuffer *in, bool whole)
{
    json_t *items = json_array(), *seen = json_array();
    bool errors = false;
    char *action;

    while ((action = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
        char *docline = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF);
        json_t *a = json_loads(action, 0, NULL);
        json_t *doc = docline != NULL ? json_loads(docline, 0, NULL) : NULL;
        json_t *create = json_object_get(a, "create");
        const char *id = json_string_value(json_object_get(create, "_id"));
        const char *index = json_string_value(json_object_get(create, "_index"));
        const char *msg = json_string_value(json_object_get(doc, "message"));
        int k = line_no(msg), status = 0;

        if (id == NULL || index == NULL || strcmp(index, "logs") != 0 || k < 0 ||
            json_object_size(a) != 1) {
            problem(s, "a bad action or document: %s / %s", action,
                    docline != NULL ? docline : "(none)");
        } else if (!whole) {
            status = es_status(s, id, k, doc);
            json_t *r = json_pack("{s:s,s:s,s:i}", "_index", index, "_id", id, "status", status);
            if (status != 201) {
                json_object_set_new(r, "error", es_error(status));
                errors = true;
            }
            json_array_append_new(items, json_pack("{s:o}", "create", r));
        }
        json_array_append_new(seen, json_pack("[s,i,i]", id != NULL ? id : "?", k, status));
        json_decref(a);
        json_decref(doc);
        free(action);
        free(docline);
    }
    json_array_append_new(s->reqs, seen);
    if (!whole) {
        reply_json(req, json_pack("{s:i,s:b,s:o}", "took", 3, "errors", errors, "items", items));
        return;
    }
    json_decref(items);
    if (s->garbage) {
        struct evbuffer *out = evbuffer_new();
        evbuffer_add_printf(out, "<html>a proxy's error page</html>");
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
    } else {
        evhttp_send_reply(req, 503, "Service Unavailable", NULL);
    }
}

static void on_sink(struct evhttp_request *req, void *arg)
{
    struct sink *s = arg;
    const char *ct =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    bool whole_failure = s->requests++ < s->fail_first;
    struct evkeyval *kv;
    char host[32];
    int nhost = 0;

    snprintf(host, sizeof(host), "%s:%d", LOCAL, s->port);
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    {
        if (strcasecmp(kv->key, "Host") == 0 && nhost++ == 0 && strcmp(kv->value, host) != 0) {
            problem(s, "Host: %s, not %s", kv->value, host);
        }
    }
    if (nhost != 1) {
        problem(s, "%d Host headers", nhost);
    }
    snprintf(s->content_type, sizeof(s->content_type), "%s", ct != NULL ? ct : "");
    snprintf(s->uri, sizeof(s->uri), "%s", evhttp_request_get_uri(req));
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        problem(s, "a request other than POST");
    }
    if (s->index != NULL) {
        sink_bulk(s, req, in, whole_failure);
    } else if (whole_failure) {
        evhttp_send_reply(req, 503, "Service Unavailable", NULL);
    } else {
        sink_lines(s, req, in);
    }
}

/* Serves on port (0: the kernel's choice, kept in s->port). */
static void sink_start(struct fx *fx, int port)
{
    struct sink *s = &fx->sink;
    struct evhttp_bound_socket *h;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    s->http = evhttp_new(fx->base);
    assert_non_null(s->http);
    evhttp_set_gencb(s->http, on_sink, s);
    h = evhttp_bind_socket_with_handle(s->http, LOCAL, (ev_uint16_t)port);
    assert_non_null(h);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
}

/* ---- redis-server -------------------------------------------------------------------- */

/* A free port on 127.0.0.1 (the kernel's choice, released at once). */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A port that takes connections but never reads: a listener never accepted from. */
static int blackhole(struct fx *fx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    fx->hole[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fx->hole[0] >= 0);
    assert_int_equal(bind(fx->hole[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fx->hole[0], 16), 0);
    assert_int_equal(getsockname(fx->hole[0], (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* One command on a fresh connection; NULL when the server does not answer. */
static redisReply *cmd(int port, const char *fmt, ...)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout(LOCAL, port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        va_start(ap, fmt);
        r = redisvCommand(c, fmt, ap);
        va_end(ap);
    }
    redisFree(c);
    return r;
}

static bool answers_ping(int port)
{
    redisReply *r = cmd(port, "PING");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;

    freeReplyObject(r);
    return ok;
}

static void redis_start(struct fx *fx)
{
    char port[16];
    char *argv[] = {"redis-server", "--port", port, "--bind", LOCAL, "--save", "",
                    "--appendonly", "no", "--dir", fx->dir, NULL};
    char log[128];
    pid_t parent = getpid();

    snprintf(port, sizeof(port), "%d", fx->redis_port);
    snprintf(log, sizeof(log), "%s/redis.log", fx->dir);
    fx->redis_pid = fork();
    assert_true(fx->redis_pid >= 0);
    if (fx->redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, whatever kills it */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (getppid() != parent || fd < 0) {
            _exit(126);
        }
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    for (long end = now_ms() + 5000; !answers_ping(fx->redis_port); sleep_ms(20)) {
        if (now_ms() >= end) {
            fail_msg("redis-server on port %d did not answer within 5 s", fx->redis_port);
        }
    }
}

static void redis_stop(struct fx *fx)
{
    if (fx->redis_pid > 0) {
        kill(fx->redis_pid, SIGKILL);
        waitpid(fx->redis_pid, NULL, 0);
        fx->redis_pid = 0;
    }
}

static long long redis_int(struct fx *fx, const char *fmt, const char *arg)
{
    redisReply *r = cmd(fx->redis_port, fmt, arg);
    long long n;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    n = r->integer;
    freeReplyObject(r);
    return n;
}

/* How many times the server ran a command, from INFO commandstats. */
static long calls(struct fx *fx, const char *name)
{
    redisReply *r = cmd(fx->redis_port, "INFO commandstats");
    char key[64];
    const char *p;
    long n;

    assert_non_null(r);
    snprintf(key, sizeof(key), "cmdstat_%s:calls=", name);
    p = r->type == REDIS_REPLY_STRING ? strstr(r->str, key) : NULL;
    n = p != NULL ? atol(p + strlen(key)) : 0;
    freeReplyObject(r);
    return n;
}

/* The message of a record as the output stored it (JSON). */
static int stored_line(const char *text, size_t len)
{
    json_t *rec = json_loadb(text, len, 0, NULL);
    int k = line_no(json_string_value(json_object_get(rec, "message")));

    json_decref(rec);
    return k;
}

/* The list holds exactly "line from" .. "line from+n-1", in order. */
static void assert_list(struct fx *fx, const char *key, int from, int n)
{
    redisReply *r = cmd(fx->redis_port, "LRANGE %s 0 -1", key);

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r->element[i]->str[r->element[i]->len - 1], '}'); /* no '\n' */
        assert_int_equal(stored_line(r->element[i]->str, r->element[i]->len), from + i);
    }
    freeReplyObject(r);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct timeval five_ms = {.tv_usec = 5000};
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_NODEFER};
    struct pk_strv labels = {0};
    char err[256];

    assert_non_null(fx);
    *state = fx;
    for (int i = 0; i < 4; i++) {
        fx->hole[i] = -1;
    }
    fx->devnull = -1;
    sigaction(SIGALRM, &sa, NULL);
    alarm(TEST_SECONDS);
    fx->base = event_base_new();
    assert_non_null(fx->base);
    fx->tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    assert_non_null(fx->tick);
    event_add(fx->tick, &five_ms);
    fx->q = sl_queue_new((size_t)256 << 20, on_released, fx);
    assert_non_null(fx->q);
    assert_int_equal(sl_enc_init(&fx->enc, &labels, err, sizeof(err)), 0);
    fx->src = sl_src_new("/logs/app.log", 0x801, 4242, 0x1234abcdULL);
    assert_non_null(fx->src);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_sl_out_net.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->dead_letter, sizeof(fx->dead_letter), "%s/dead.jsonl", fx->dir);
    fx->conf = (struct sl_out_conf){
        .batch_records = 10,
        .batch_bytes = 1 << 20,
        .flush_interval_ms = 20,
        .retry_max = 0,
        .backoff_min_ms = 10,
        .backoff_max_ms = 80,
        .timeout_ms = TIMEOUT_MS,
        .format = -1,
        .dead_letter = fx->dead_letter,
    };
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        fx->skip_why = "needs redis-server";
    }
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    struct sink *s = &fx->sink;

    redis_stop(fx);
    for (int i = 0; i < MAXOUT; i++) {
        if (fx->out[i] != NULL) {
            sl_out_free(fx->out[i]);
        }
    }
    sl_queue_free(fx->q);
    sl_enc_free(&fx->enc);
    sl_src_unref(fx->src);
    if (s->http != NULL) {
        evhttp_free(s->http);
    }
    for (int i = 0; i < s->nmsgs; i++) {
        free(s->msgs[i]);
    }
    json_decref(s->index);
    json_decref(s->reqs);
    json_decref(s->got429);
    for (int i = 0; i < 4; i++) {
        if (fx->hole[i] >= 0) {
            close(fx->hole[i]);
        }
    }
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    event_free(fx->tick);
    event_base_free(fx->base);
    if (fx->devnull >= 0) {
        pk_log_set_fd(2);
        close(fx->devnull);
    }
    alarm(0);
    free(fx);
    return 0;
}

#define NEED_REDIS(fx)                                                                             \
    do {                                                                                           \
        if ((fx)->skip_why != NULL) {                                                              \
            print_message("# skipped: %s\n", (fx)->skip_why);                                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- specs --------------------------------------------------------------------------- */

static void test_specs(void **state)
{
    struct fx *fx = *state;
    struct {
        const char *spec, *want;
    } bad[] = {
        {"http://", "empty address"},
        {"http://127.0.0.1:x/in", "127.0.0.1:x"},
        {"http://:8080/in", "with a host and a port"},
        {"es://127.0.0.1:9200", "no index"},
        {"es://127.0.0.1:9200/", "no index"},
        {"es://127.0.0.1:9200/Logs", "lowercase"},
        {"es://127.0.0.1:9200/a/b", "cannot hold"},
        {"es://127.0.0.1:9200/_x", "cannot start"},
        {"redis://127.0.0.1:6379/k", "type=list"},
        {"redis://127.0.0.1:6379/?type=list", "no key"},
        {"redis://127.0.0.1:6379?type=list", "no key"},
        {"redis://127.0.0.1:6379/k?type=set", "type 'set'"},
        {"redis://127.0.0.1:6379/k?type=list&maxlen=5", "for type=stream only"},
        {"redis://127.0.0.1:6379/k?type=stream&maxlen=0", "maxlen '0'"},
        {"redis://127.0.0.1:6379/k?type=stream&maxlen=1x", "maxlen '1x'"},
        {"redis://127.0.0.1:6379/k?type=stream&db=2", "unknown parameter 'db'"},
    };
    const char *good[] = {
        "http://127.0.0.1:8080/in?token=t", "http://[::1]:8080", "http://localhost/",
        "es://127.0.0.1:9200/logs-app.2026", "es://[::1]/logs",
        "redis://127.0.0.1:6379/k?type=list", "redis://[::1]/a:b/c?type=stream&maxlen=1000",
        "redis://127.0.0.1:6379/k?type=stream&format=raw",
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(err, "untouched");
        assert_null(sl_out_new(fx->base, fx->q, bad[i].spec, &fx->conf, &fx->enc, err,
                               sizeof(err)));
        if (strstr(err, bad[i].want) == NULL) {
            fail_msg("'%s': '%s' does not say '%s'", bad[i].spec, err, bad[i].want);
        }
    }
    /* Good ones connect to nothing until there is something to send. */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        sl_out_free(start_out(fx, 0, good[i]));
        fx->out[0] = NULL;
    }
}

/* ---- http ---------------------------------------------------------------------------- */

static void assert_sink_ok(const struct sink *s)
{
    if (s->problems > 0) {
        fail_msg("%d bad requests, the first: %s", s->problems, s->problem);
    }
}

static void assert_messages(struct fx *fx, int n)
{
    struct sink *s = &fx->sink;

    assert_sink_ok(s);
    assert_int_equal(s->nmsgs, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(line_no(s->msgs[i]), i);
    }
}

/* 503 to the first requests: the batch is sent again, every line arrives once, in order. */
static void test_http_503_then_ok(void **state)
{
    struct fx *fx = *state;
    char spec[96];

    fx->sink.fail_first = 3;
    sink_start(fx, 0);
    snprintf(spec, sizeof(spec), "http://%s:%d/ingest?token=t", LOCAL, fx->sink.port);
    start_out(fx, 0, spec);
    push_lines(fx, 57, 4);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_messages(fx, 57);
    assert_string_equal(fx->sink.content_type, "application/x-ndjson");
    assert_string_equal(fx->sink.uri, "/ingest?token=t");
    struct sl_out_stats st = stats(fx, 0);
    assert_int_equal(st.records, 57);
    assert_int_equal(st.retries, 3);
    assert_int_equal((long)st.batches, fx->sink.requests - 3);
    assert_false(st.down);
    /* More lines later, on the same connection. */
    push_lines(fx, 5, 5);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_messages(fx, 62);
}

/* Nobody listening: connection errors are retries; once the sink is up, all arrives once. */
static void test_http_down_then_up(void **state)
{
    struct fx *fx = *state;
    int port = free_port();
    char spec[96];

    snprintf(spec, sizeof(spec), "http://%s:%d/", LOCAL, port);
    start_out(fx, 0, spec);
    push_lines(fx, 23, 3);
    assert_true(run_until(fx, retried_twice, WAIT_MS));
    assert_true(stats(fx, 0).down);
    assert_int_equal(stats(fx, 0).records, 0);
    sink_start(fx, port);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_messages(fx, 23);
    assert_int_equal(stats(fx, 0).records, 23);
}

/* ?format=raw: the lines as read, as text/plain. */
static void test_http_raw(void **state)
{
    struct fx *fx = *state;
    char spec[96];

    fx->sink.raw = true;
    sink_start(fx, 0);
    snprintf(spec, sizeof(spec), "http://%s:%d/in?format=raw", LOCAL, fx->sink.port);
    start_out(fx, 0, spec);
    push_lines(fx, 12, 5);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_messages(fx, 12);
    for (int i = 0; i < 12; i++) {
        char want[32];
        snprintf(want, sizeof(want), "line %d", i);
        assert_string_equal(fx->sink.msgs[i], want);
    }
    assert_string_equal(fx->sink.content_type, "text/plain");
    assert_string_equal(fx->sink.uri, "/in");
}

/* A sink that takes the connection and never answers: the try fails after timeout_ms. */
/* The output of spec (its "%d": a port that never answers) fails its first try after
 * timeout_ms, sends again, and is freed with the next try in flight. */
static void assert_times_out(struct fx *fx, const char *spec_fmt)
{
    char spec[96];
    long t0 = now_ms();

    snprintf(spec, sizeof(spec), spec_fmt, blackhole(fx));
    start_out(fx, 0, spec);
    push_lines(fx, 3, 3);
    assert_true(run_until(fx, went_down, WAIT_MS));
    long took = now_ms() - t0;
    if (took < TIMEOUT_MS - 10 || took > TIMEOUT_MS + 20 + SLACK_MS * 2) {
        fail_msg("the first try failed after %ld ms, timeout %d ms", took, TIMEOUT_MS);
    }
    run_for(fx, 50);
    assert_true(stats(fx, 0).retries >= 1);
    assert_int_equal(stats(fx, 0).records, 0);
    assert_false(delivered(fx));
    /* Nothing of the try in flight may run once the output is gone. */
    sl_out_free(fx->out[0]);
    fx->out[0] = NULL;
    run_for(fx, TIMEOUT_MS + 50);
}

static void test_http_timeout(void **state)
{
    assert_times_out(*state, "http://" LOCAL ":%d/in");
}

/* ---- es ------------------------------------------------------------------------------ */

static void es_sink(struct fx *fx)
{
    fx->sink.index = json_object();
    fx->sink.reqs = json_array();
    fx->sink.got429 = json_object();
    sink_start(fx, 0);
}

/* The dead-letter file: one line per rejected record, each "line k" with k % 5 == 1. */
static int check_dead_letters(struct fx *fx, int n)
{
    FILE *f = fopen(fx->dead_letter, "r");
    char line[4096];
    int count = 0;
    bool seen[MAXMSG] = {false};

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        json_error_t jerr;
        json_t *dl = json_loads(line, 0, &jerr);
        if (dl == NULL) {
            fail_msg("dead-letter line %d is not JSON: %s", count + 1, jerr.text);
        }
        const char *type =
            json_string_value(json_object_get(json_object_get(dl, "error"), "type"));
        json_t *rec = json_object_get(dl, "record");
        int k = line_no(json_string_value(json_object_get(rec, "message")));
        assert_non_null(type);
        assert_string_equal(type, "mapper_parsing_exception");
        assert_string_equal(json_string_value(json_object_get(rec, "file")), "/logs/app.log");
        assert_true(k >= 0 && k < n && k % 5 == 1);
        assert_false(seen[k]);
        seen[k] = true;
        count++;
        json_decref(dl);
    }
    fclose(f);
    return count;
}

/* 503 to the first request, then per item: 201, 409 (there already), 429 once, 400. */
static void test_es_bulk(void **state)
{
    struct fx *fx = *state;
    struct sink *s = &fx->sink;
    char spec[96];
    const int n = 60;
    int sends[64] = {0}, ndead = 0;

    s->fail_first = 1;
    es_sink(fx);
    snprintf(spec, sizeof(spec), "es://%s:%d/logs", LOCAL, s->port);
    start_out(fx, 0, spec);
    push_lines(fx, n, 5);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_sink_ok(s);
    assert_string_equal(s->content_type, "application/x-ndjson");
    assert_non_null(strstr(s->uri, "/_bulk"));

    /* Request by request: after a whole failure the same items, after 429s those alone. */
    size_t nreq = json_array_size(s->reqs);
    for (size_t i = 0; i < nreq; i++) {
        json_t *r = json_array_get(s->reqs, i), *next = json_array_get(s->reqs, i + 1);
        json_t *want = json_array();
        bool whole = false, retry = false;
        for (size_t j = 0; j < json_array_size(r); j++) {
            json_t *it = json_array_get(r, j);
            int k = (int)json_integer_value(json_array_get(it, 1));
            int status = (int)json_integer_value(json_array_get(it, 2));
            whole |= status == 0;
            retry |= status == 429;
            if (status == 0 || status == 429) {
                json_array_append(want, json_array_get(it, 0));
            }
            if (status != 0) {
                sends[k]++;
            }
        }
        if (whole || retry) {
            assert_non_null(next);
            assert_int_equal(json_array_size(next), json_array_size(want));
            for (size_t j = 0; j < json_array_size(want); j++) {
                assert_string_equal(json_string_value(json_array_get(want, j)),
                                    json_string_value(json_array_get(json_array_get(next, j), 0)));
            }
        }
        json_decref(want);
    }
    /* Every record answered once, twice for the one 429; nothing created twice. */
    for (int k = 0; k < n; k++) {
        if (sends[k] != (k % 5 == 2 ? 2 : 1)) {
            fail_msg("line %d was answered %d times", k, sends[k]);
        }
        ndead += k % 5 == 1;
    }
    assert_int_equal(json_object_size(s->index), n - ndead);
    assert_int_equal(check_dead_letters(fx, n), ndead);
    struct sl_out_stats st = stats(fx, 0);
    assert_int_equal(st.records, n);
    assert_int_equal(st.dead, ndead);
    assert_false(st.down);
}

/* Without a dead-letter file a rejected record is logged and counted, not retried. */
static void test_es_no_dead_letter(void **state)
{
    struct fx *fx = *state;
    char spec[96];

    fx->conf.dead_letter = NULL;
    fx->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pk_log_set_fd(fx->devnull);
    fx->sink.fail_first = 1;
    fx->sink.garbage = true;
    es_sink(fx);
    snprintf(spec, sizeof(spec), "es://%s:%d/logs", LOCAL, fx->sink.port);
    start_out(fx, 0, spec);
    push_lines(fx, 10, 10);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_sink_ok(&fx->sink);
    assert_int_equal(stats(fx, 0).dead, 2);
    assert_int_equal(stats(fx, 0).records, 10);
    /* A reply that is not JSON, then the same 10 items, then the 429s' retry. */
    assert_int_equal(json_array_size(fx->sink.reqs), 3);
    assert_int_equal(json_array_size(json_array_get(fx->sink.reqs, 0)), 10);
    assert_int_equal(json_array_size(json_array_get(fx->sink.reqs, 1)), 10);
    assert_int_equal(json_array_size(json_array_get(fx->sink.reqs, 2)), 2);
    assert_int_equal(access(fx->dead_letter, F_OK), -1);
}

/* A dead-letter file that cannot be written: the rejected records are sent again (and
 * only they), until it can. */
static void test_es_dead_letter_unwritable(void **state)
{
    struct fx *fx = *state;
    char spec[96], dir[80];

    snprintf(dir, sizeof(dir), "%s/later", fx->dir);
    snprintf(fx->dead_letter, sizeof(fx->dead_letter), "%s/dead.jsonl", dir);
    es_sink(fx);
    snprintf(spec, sizeof(spec), "es://%s:%d/logs", LOCAL, fx->sink.port);
    start_out(fx, 0, spec);
    push_lines(fx, 10, 10);
    assert_true(run_until(fx, retried_twice, WAIT_MS));
    assert_true(stats(fx, 0).down);
    assert_int_equal(stats(fx, 0).dead, 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_sink_ok(&fx->sink);
    assert_int_equal(stats(fx, 0).dead, 2);
    assert_int_equal(check_dead_letters(fx, 10), 2);
    /* After the first request, only the rejected two (and the 429s once) were sent. */
    for (size_t i = 1; i < json_array_size(fx->sink.reqs); i++) {
        json_t *r = json_array_get(fx->sink.reqs, i);
        for (size_t j = 0; j < json_array_size(r); j++) {
            int k = (int)json_integer_value(json_array_get(json_array_get(r, j), 1));
            if (k % 5 != 1 && !(i == 1 && k % 5 == 2)) {
                fail_msg("line %d was sent again in request %zu", k, i);
            }
        }
    }
}

/* ---- redis --------------------------------------------------------------------------- */

/* A list, in transactions of RPUSHes of at most 1000 arguments. */
static void test_redis_list(void **state)
{
    struct fx *fx = *state;
    char spec[96];

    NEED_REDIS(fx);
    fx->redis_port = free_port();
    redis_start(fx);
    fx->conf.batch_records = 5000;
    fx->conf.batch_bytes = 64 << 20;
    snprintf(spec, sizeof(spec), "redis://%s:%d/logs?type=list", LOCAL, fx->redis_port);
    start_out(fx, 0, spec);
    push_lines(fx, 2500, 2500);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_list(fx, "logs", 0, 2500);
    assert_int_equal(calls(fx, "rpush"), 3); /* 998 + 998 + 504 */
    assert_int_equal(calls(fx, "multi"), 1);
    assert_int_equal(calls(fx, "exec"), 1);
    push_lines(fx, 7, 2);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_list(fx, "logs", 0, 2507);
    assert_int_equal(stats(fx, 0).records, 2507);
}

/* Two streams from the same queue: one trimmed (MAXLEN ~), one whole. */
static void test_redis_stream(void **state)
{
    struct fx *fx = *state;
    char spec[128];

    NEED_REDIS(fx);
    fx->redis_port = free_port();
    redis_start(fx);
    fx->conf.batch_records = 50;
    snprintf(spec, sizeof(spec), "redis://%s:%d/trimmed?type=stream&maxlen=100", LOCAL,
             fx->redis_port);
    start_out(fx, 0, spec);
    snprintf(spec, sizeof(spec), "redis://%s:%d/whole?type=stream", LOCAL, fx->redis_port);
    start_out(fx, 1, spec);
    push_lines(fx, 500, 20);
    assert_true(run_until(fx, delivered, WAIT_MS));

    redisReply *r = cmd(fx->redis_port, "XRANGE whole - +");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 500);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *fields = r->element[i]->element[1];
        assert_int_equal(fields->elements, 2);
        assert_string_equal(fields->element[0]->str, "message");
        assert_int_equal(stored_line(fields->element[1]->str, fields->element[1]->len), (int)i);
    }
    freeReplyObject(r);
    /* ~ trims whole nodes only: at least 100 are kept, the newest. */
    long long n = redis_int(fx, "XLEN %s", "trimmed");
    if (n < 100 || n >= 500) {
        fail_msg("XLEN trimmed is %lld", n);
    }
    r = cmd(fx->redis_port, "XREVRANGE trimmed + - COUNT 1");
    assert_non_null(r);
    assert_int_equal(r->elements, 1);
    const redisReply *last = r->element[0]->element[1]->element[1];
    assert_int_equal(stored_line(last->str, last->len), 499);
    freeReplyObject(r);
    assert_int_equal(calls(fx, "xadd"), 1000);
    assert_int_equal(stats(fx, 0).records, 500);
    assert_int_equal(stats(fx, 1).records, 500);
}

/* No server at first: the tries fail; once it is up, everything arrives once, in order. */
static void test_redis_down_then_up(void **state)
{
    struct fx *fx = *state;
    char spec[96];

    NEED_REDIS(fx);
    fx->redis_port = free_port();
    snprintf(spec, sizeof(spec), "redis://%s:%d/logs?type=list", LOCAL, fx->redis_port);
    start_out(fx, 0, spec);
    push_lines(fx, 30, 4);
    assert_true(run_until(fx, retried_twice, WAIT_MS));
    assert_true(stats(fx, 0).down);
    redis_start(fx);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_list(fx, "logs", 0, 30);
    assert_false(stats(fx, 0).down);
    /* The server goes away between batches: the next try reconnects. */
    redis_stop(fx);
    redis_start(fx);
    push_lines(fx, 5, 5);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_list(fx, "logs", 30, 5);
}

/* An error reply fails the try, and the transaction stored nothing of it. */
static void test_redis_error_reply(void **state)
{
    struct fx *fx = *state;
    char spec[96];
    redisReply *r;

    NEED_REDIS(fx);
    fx->redis_port = free_port();
    redis_start(fx);
    r = cmd(fx->redis_port, "SET logs not-a-list");
    freeReplyObject(r);
    fx->conf.batch_records = 2000;
    snprintf(spec, sizeof(spec), "redis://%s:%d/logs?type=list", LOCAL, fx->redis_port);
    start_out(fx, 0, spec);
    push_lines(fx, 1500, 1500); /* two RPUSHes in one transaction */
    assert_true(run_until(fx, retried_twice, WAIT_MS));
    assert_true(stats(fx, 0).down);
    r = cmd(fx->redis_port, "DEL logs");
    freeReplyObject(r);
    assert_true(run_until(fx, delivered, WAIT_MS));
    assert_list(fx, "logs", 0, 1500);
}

/* A server that never answers: the try fails after timeout_ms. */
static void test_redis_timeout(void **state)
{
    assert_times_out(*state, "redis://" LOCAL ":%d/logs?type=list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_503_then_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_down_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_no_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_dead_letter_unwritable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_timeout, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
