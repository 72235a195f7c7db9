/* test_am_src.c — adapter-metrics' sources: the URL table, and real I/O on loopback: files,
 * HTTP against an evhttp server in this process, Redis against a real redis-server started
 * per test in a temporary directory, and the statsd listeners (UDP, TCP, unixgram) fed by
 * a sender thread. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>

#include "am_src.h"

#define TEST_SECONDS 60 /* alarm() per test: a backstop, every wait below has its own bound */
#define WAIT_MS 10000   /* the longest a condition is waited for */
#define TIMEOUT_MS 300  /* the fetchers' timeout */
/* What a loaded machine (ASan, a parallel CI step) may add to a timer: once seen over 300 ms
 * in CI. The checks are that a timeout fires, and not early. */
#define SLACK_MS 2000
#define MAX_BYTES 4096
#define LOCAL "127.0.0.1"
#define NSEQ 100000 /* datagrams of the big UDP test */
#define CHUNKS_MAX 4096

/* A thread sending numbered datagrams "s<seq>:1|c" (padded to size) at rate per second. */
struct sender {
    pthread_t thread;
    bool started;
    int fd; /* connected */
    int first, n, size;
    long rate;
    atomic_int sent;
    atomic_int errors;
};

/* What the statsd callback saw. */
struct seen {
    uint8_t *bits; /* per seq: how many times it came */
    int nbits;
    long distinct, dups, bad;
    char *text; /* TCP and small tests: everything, concatenated */
    size_t text_len, text_cap;
    size_t chunk_len[CHUNKS_MAX];
    int nchunks;
};

struct fx {
    char dir[64];
    struct event_base *base;
    struct event *tick;
    const char *no_redis;
    pid_t redis_pid;
    int redis_port;
    int hole; /* a listener never accepted from */
    /* the HTTP server */
    struct evhttp *http;
    int http_port;
    int requests;
    char host_header[128], accept[64], uri[128];
    struct evhttp_connection *conns[8];
    int nconns;
    bool slow_answered_none; /* /slow: the first request is left unanswered */
    /* the fetch under test */
    struct am_pull *pull;
    int calls;
    bool in_start, cb_in_start, destroy_in_cb, restart_in_cb;
    char *data;
    size_t len;
    char err[512];
    /* statsd */
    struct am_statsd_in *in;
    struct seen seen;
    struct sender snd;
};

/* ---- helpers ------------------------------------------------------------------------- */

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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A free port on 127.0.0.1 (the kernel's choice, released at once). */
static int free_port(int type)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void write_file(struct fx *fx, const char *name, const char *text, size_t len)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct timeval five_ms = {.tv_usec = 5000};
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_NODEFER};

    assert_non_null(fx);
    *state = fx;
    fx->hole = -1;
    fx->snd.fd = -1;
    sigaction(SIGALRM, &sa, NULL);
    alarm(TEST_SECONDS);
    fx->base = event_base_new();
    assert_non_null(fx->base);
    fx->tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    assert_non_null(fx->tick);
    event_add(fx->tick, &five_ms);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_am_src.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        fx->no_redis = "needs redis-server";
    }
    return 0;
}

static void redis_stop(struct fx *fx);

static void sender_join(struct sender *s)
{
    if (s->started) {
        pthread_join(s->thread, NULL);
        s->started = false;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    sender_join(&fx->snd);
    redis_stop(fx);
    am_pull_destroy(fx->pull);
    am_statsd_in_destroy(fx->in, false);
    if (fx->http != NULL) {
        evhttp_free(fx->http);
    }
    if (fx->hole >= 0) {
        close(fx->hole);
    }
    free(fx->data);
    free(fx->seen.bits);
    free(fx->seen.text);
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    event_free(fx->tick);
    event_base_free(fx->base);
    alarm(0);
    free(fx);
    return 0;
}

/* ---- URLs ---------------------------------------------------------------------------- */

static void test_url_table(void **state)
{
    static const struct {
        const char *url;
        enum am_src_kind kind;
        enum am_src_format format;
        const char *path, *host;
        int port;
        const char *user, *password;
    } good[] = {
        {"file:/var/run/app/stats", AM_SRC_FILE, AM_SRC_FORMAT_KV, "/var/run/app/stats", NULL, 0,
         NULL, NULL},
        {"file:///var/stats?format=json", AM_SRC_FILE, AM_SRC_FORMAT_JSON, "/var/stats", NULL, 0,
         NULL, NULL},
        {"file:stats.txt?format=prom", AM_SRC_FILE, AM_SRC_FORMAT_PROM, "stats.txt", NULL, 0, NULL,
         NULL},
        {"FILE:/x?", AM_SRC_FILE, AM_SRC_FORMAT_KV, "/x", NULL, 0, NULL, NULL},
        {"file:/with space#hash", AM_SRC_FILE, AM_SRC_FORMAT_KV, "/with space#hash", NULL, 0, NULL,
         NULL},
        {"http://127.0.0.1:8080/status", AM_SRC_HTTP, AM_SRC_FORMAT_JSON, "/status", "127.0.0.1",
         8080, NULL, NULL},
        {"http://example.com", AM_SRC_HTTP, AM_SRC_FORMAT_JSON, "/", "example.com", 80, NULL, NULL},
        {"http://[::1]:9000/s?x=1&format=kv&&y=2", AM_SRC_HTTP, AM_SRC_FORMAT_KV, "/s?x=1&y=2",
         "::1", 9000, NULL, NULL},
        {"http://h/p?format=prom#frag", AM_SRC_HTTP, AM_SRC_FORMAT_PROM, "/p", "h", 80, NULL, NULL},
        {"http://h?a=b", AM_SRC_HTTP, AM_SRC_FORMAT_JSON, "/?a=b", "h", 80, NULL, NULL},
        {"redis://127.0.0.1", AM_SRC_REDIS, AM_SRC_FORMAT_INFO, NULL, "127.0.0.1", 6379, NULL,
         NULL},
        {"redis://:secret@redis-0.redis:6380", AM_SRC_REDIS, AM_SRC_FORMAT_INFO, NULL,
         "redis-0.redis", 6380, NULL, "secret"},
        {"redis://alice:p%40ss%2Fword@[::1]/0", AM_SRC_REDIS, AM_SRC_FORMAT_INFO, NULL, "::1", 6379,
         "alice", "p@ss/word"},
        {"redis://u:p@ss@host:1", AM_SRC_REDIS, AM_SRC_FORMAT_INFO, NULL, "host", 1, "u", "p@ss"},
        {"statsd+udp://127.0.0.1:9125", AM_SRC_STATSD_UDP, AM_SRC_FORMAT_STATSD, NULL, "127.0.0.1",
         9125, NULL, NULL},
        {"statsd+udp://:8125", AM_SRC_STATSD_UDP, AM_SRC_FORMAT_STATSD, NULL, "", 8125, NULL, NULL},
        {"statsd+tcp://[::1]:0", AM_SRC_STATSD_TCP, AM_SRC_FORMAT_STATSD, NULL, "::1", 0, NULL,
         NULL},
        {"statsd+unix:/run/statsd.sock", AM_SRC_STATSD_UNIX, AM_SRC_FORMAT_STATSD,
         "/run/statsd.sock", NULL, 0, NULL, NULL},
        {"statsd+unix:@abstract", AM_SRC_STATSD_UNIX, AM_SRC_FORMAT_STATSD, "@abstract", NULL, 0,
         NULL, NULL},
        {"statsd+unix:///run/x.sock", AM_SRC_STATSD_UNIX, AM_SRC_FORMAT_STATSD, "/run/x.sock", NULL,
         0, NULL, NULL},
    };
    static const struct {
        const char *url, *err;
    } bad[] = {
        {"", "empty URL"},
        {"ftp://x", "unknown scheme 'ftp'"},
        {"https://x/", "https is not supported (only http)"},
        {"/just/a/path", "no scheme: expected file:, http://, redis:// or statsd+udp://, "
                         "statsd+tcp://, statsd+unix:"},
        {":x", "no scheme: expected file:, http://, redis:// or statsd+udp://, statsd+tcp://, "
               "statsd+unix:"},
        {"statsd+udp://127.0.0.1", "statsd+udp needs a port"},
        {"statsd+tcp://", "statsd+tcp needs a port"},
        {"statsd+udp://127.0.0.1:9125/x", "statsd+udp: nothing may follow HOST:PORT"},
        {"statsd+udp:127.0.0.1:9125", "statsd+udp: expected statsd+udp://HOST:PORT"},
        {"statsd+udp://::1:9125", "statsd+udp: an IPv6 address needs brackets ([::1])"},
        {"statsd+udp://127.0.0.1:65536", "statsd+udp: invalid port '65536'"},
        {"statsd+tcp://[::1]", "statsd+tcp needs a port"},
        {"statsd+tcp://[::1]x:1", "statsd+tcp: expected ':PORT' after ']'"},
        {"statsd+tcp://[zz]:1", "statsd+tcp: invalid IPv6 address in brackets"},
        {"file:/x?format=xml", "format must be kv, json or prom"},
        {"file:/x?format", "format must be kv, json or prom"},
        {"file:/x?fmt=kv", "unknown parameter 'fmt' (only format)"},
        {"file:/x?format=kv&format=json", "format given twice"},
        {"file:", "file needs a path"},
        {"file://", "file needs a path"},
        {"file://host/x", "file: a host is not supported (write file:/PATH or file:///PATH)"},
        {"http://h/p?format=yaml", "format must be kv, json or prom"},
        {"http://user@h/", "http: user info is not supported"},
        {"http:/h", "http: expected http://HOST[:PORT]/PATH"},
        {"http://:80/", "http needs a host"},
        {"http:///x", "http needs a host"},
        {"http://h:0/", "http: invalid port '0'"},
        {"http://h:x/", "http: invalid port 'x'"},
        {"http://h:/", "http: invalid port ''"},
        {"http://bad_host/", "http: invalid host name"},
        {"http://999.1.1.1/", "http: invalid IPv4 address"},
        {"http://[::1/", "http: missing ']' after the IPv6 address"},
        {"http://h/a b", "http: a space in the URL (write it as %20)"},
        {"redis://secret@h", "redis: the user info must be [USER]:PASSWORD"},
        {"redis://:@h", "redis: empty password"},
        {"redis://:%zz@h", "redis: bad %-escape in the user info (%XX, not %00)"},
        {"redis://:a%00@h", "redis: bad %-escape in the user info (%XX, not %00)"},
        {"redis://:a%4@h", "redis: bad %-escape in the user info (%XX, not %00)"},
        {"redis://h/x", "redis: only a database number may follow the address (/0)"},
        {"redis://h?db=0", "redis: only a database number may follow the address (/0)"},
        {"redis:h", "redis: expected redis://[[USER]:PASSWORD@]HOST[:PORT]"},
        {"statsd+unix:", "statsd+unix needs a path"},
        {"statsd+unix:@", "statsd+unix: an abstract socket needs a name after '@'"},
        {"file:/x\n", "a control character in the URL (byte 8)"},
        {"http://h/\x7f", "a control character in the URL (byte 10)"},
    };
    struct am_src_url u;
    char err[256], longurl[4200], tiny[8];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(err, sizeof(err), "(untouched)");
        if (am_src_url_parse(good[i].url, &u, err, sizeof(err)) != 0) {
            fail_msg("'%s': %s", good[i].url, err);
        }
        assert_int_equal(u.kind, good[i].kind);
        assert_int_equal(u.format, good[i].format);
        if (good[i].path == NULL) {
            assert_null(u.path);
        } else {
            assert_non_null(u.path);
            assert_string_equal(u.path, good[i].path);
        }
        if (good[i].host == NULL) {
            assert_null(u.host);
        } else {
            assert_non_null(u.host);
            assert_string_equal(u.host, good[i].host);
        }
        assert_int_equal(u.port, good[i].port);
        if (good[i].user == NULL) {
            assert_null(u.user);
        } else {
            assert_string_equal(u.user, good[i].user);
        }
        if (good[i].password == NULL) {
            assert_null(u.password);
        } else {
            assert_string_equal(u.password, good[i].password);
        }
        am_src_url_clear(&u);
        assert_null(u.path);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&u, 0x5a, sizeof(u));
        if (am_src_url_parse(bad[i].url, &u, err, sizeof(err)) != -1) {
            fail_msg("'%s' was taken", bad[i].url);
        }
        if (strcmp(err, bad[i].err) != 0) {
            fail_msg("'%s': got \"%s\", want \"%s\"", bad[i].url, err, bad[i].err);
        }
        /* Left empty: nothing to free. */
        assert_null(u.path);
        assert_null(u.host);
        assert_null(u.user);
        assert_null(u.password);
        am_src_url_clear(&u);
    }
    /* The longest path a unix socket takes, and one byte more. */
    memset(longurl, 0, sizeof(longurl));
    memcpy(longurl, "statsd+unix:/", 13);
    memset(longurl + 13, 'a', 106);
    assert_int_equal(am_src_url_parse(longurl, &u, err, sizeof(err)), 0);
    assert_int_equal(strlen(u.path), 107);
    am_src_url_clear(&u);
    longurl[13 + 106] = 'a';
    assert_int_equal(am_src_url_parse(longurl, &u, err, sizeof(err)), -1);
    assert_string_equal(err, "statsd+unix: the socket path is longer than 107 bytes");
    /* URL length, and an error buffer too small for the message. */
    memset(longurl, 0, sizeof(longurl));
    memcpy(longurl, "file:/", 6);
    memset(longurl + 6, 'a', 4090);
    assert_int_equal(am_src_url_parse(longurl, &u, err, sizeof(err)), 0);
    am_src_url_clear(&u);
    longurl[4096] = 'a';
    assert_int_equal(am_src_url_parse(longurl, &u, err, sizeof(err)), -1);
    assert_string_equal(err, "URL longer than 4096 bytes");
    memset(tiny, 'x', sizeof(tiny));
    assert_int_equal(am_src_url_parse("ftp://x", &u, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "unknown");
    assert_int_equal(am_src_url_parse("ftp://x", &u, NULL, 0), -1);
    am_src_url_clear(NULL);
}

/* ---- pull: shared ------------------------------------------------------------------------ */

static void on_pulled(void *arg, const char *data, size_t len, const char *err)
{
    struct fx *fx = arg;

    fx->cb_in_start |= fx->in_start;
    fx->calls++;
    free(fx->data);
    fx->data = NULL;
    fx->len = 0;
    fx->err[0] = '\0';
    if (data != NULL) {
        assert_null(err);
        assert_int_equal(data[len], '\0');
        fx->data = malloc(len + 1);
        assert_non_null(fx->data);
        memcpy(fx->data, data, len + 1);
        fx->len = len;
    } else {
        assert_non_null(err);
        assert_true(err[0] != '\0');
        assert_null(strchr(err, '\n'));
        snprintf(fx->err, sizeof(fx->err), "%s", err);
    }
    assert_false(am_pull_busy(fx->pull));
    if (fx->restart_in_cb) {
        fx->restart_in_cb = false;
        assert_int_equal(am_pull_start(fx->pull, on_pulled, fx), 0);
    }
    if (fx->destroy_in_cb) {
        am_pull_destroy(fx->pull);
        fx->pull = NULL;
    }
}

static void make_pull(struct fx *fx, const char *url, int64_t timeout_ms, size_t max_bytes)
{
    struct am_src_url u;
    char err[256];

    if (am_src_url_parse(url, &u, err, sizeof(err)) < 0) {
        fail_msg("'%s': %s", url, err);
    }
    am_pull_destroy(fx->pull);
    fx->pull = am_pull_create(fx->base, &u, timeout_ms, max_bytes, err, sizeof(err));
    am_src_url_clear(&u);
    if (fx->pull == NULL) {
        fail_msg("am_pull_create '%s': %s", url, err);
    }
}

static int want_calls;

static bool called(struct fx *fx)
{
    return fx->calls >= want_calls;
}

/* One fetch, waited for: its duration in ms. The callback never runs inside start. */
static long fetch(struct fx *fx)
{
    long t0 = now_ms();

    want_calls = fx->calls + 1;
    fx->in_start = true;
    assert_int_equal(am_pull_start(fx->pull, on_pulled, fx), 0);
    fx->in_start = false;
    assert_false(fx->cb_in_start);
    assert_true(am_pull_busy(fx->pull));
    assert_int_equal(am_pull_start(fx->pull, on_pulled, fx), -1); /* one at a time */
    if (!run_until(fx, called, WAIT_MS)) {
        fail_msg("no answer within %d ms", WAIT_MS);
    }
    assert_int_equal(fx->calls, want_calls);
    return now_ms() - t0;
}

static void expect_err(struct fx *fx, const char *want)
{
    if (fx->data != NULL || strcmp(fx->err, want) != 0) {
        fail_msg("got %s \"%s\", want error \"%s\"", fx->data != NULL ? "data" : "error",
                 fx->data != NULL ? fx->data : fx->err, want);
    }
}

static void expect_data(struct fx *fx, const char *want)
{
    if (fx->data == NULL) {
        fail_msg("got error \"%s\", want \"%s\"", fx->err, want);
    }
    assert_int_equal(fx->len, strlen(want));
    assert_string_equal(fx->data, want);
}

static void test_pull_create_errors(void **state)
{
    struct fx *fx = *state;
    struct am_src_url u;
    char err[256];

    assert_int_equal(am_src_url_parse("statsd+udp://127.0.0.1:1", &u, err, sizeof(err)), 0);
    assert_null(am_pull_create(fx->base, &u, 100, 100, err, sizeof(err)));
    assert_string_equal(err, "not a pull source (file, http or redis)");
    am_src_url_clear(&u);
    assert_int_equal(am_src_url_parse("file:/x", &u, err, sizeof(err)), 0);
    assert_null(am_pull_create(fx->base, &u, 100, 0, err, sizeof(err)));
    assert_string_equal(err, "the size limit must be 1 byte to 2 GiB");
    am_src_url_clear(&u);
    am_pull_destroy(NULL);
    assert_false(am_pull_busy(NULL));
}

/* ---- pull: file ---------------------------------------------------------------------- */

static void test_file(void **state)
{
    struct fx *fx = *state;
    char url[256], want[256], big[MAX_BYTES + 1];

    write_file(fx, "stats", "a=1\nb: 2\n", 9);
    snprintf(url, sizeof(url), "file:%s/stats", fx->dir);
    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_data(fx, "a=1\nb: 2\n");
    /* Read again at every fetch. */
    write_file(fx, "stats", "c=3\n", 4);
    fetch(fx);
    expect_data(fx, "c=3\n");
    write_file(fx, "stats", "", 0);
    fetch(fx);
    expect_data(fx, "");

    /* Exactly the limit, and one byte more. */
    memset(big, 'x', sizeof(big));
    write_file(fx, "stats", big, MAX_BYTES);
    fetch(fx);
    assert_non_null(fx->data);
    assert_int_equal(fx->len, MAX_BYTES);
    write_file(fx, "stats", big, MAX_BYTES + 1);
    fetch(fx);
    expect_err(fx, "larger than 4096 bytes");

    /* Missing, a directory, and a file that says it is empty (/proc) but is not. */
    snprintf(url, sizeof(url), "file:%s/missing?format=json", fx->dir);
    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    snprintf(want, sizeof(want), "open %s/missing: No such file or directory", fx->dir);
    expect_err(fx, want);
    snprintf(url, sizeof(url), "file:%s", fx->dir);
    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    snprintf(want, sizeof(want), "read %s: Is a directory", fx->dir);
    expect_err(fx, want);
    make_pull(fx, "file:/proc/self/status", TIMEOUT_MS, 10);
    fetch(fx);
    expect_err(fx, "larger than 10 bytes");
    make_pull(fx, "file:/proc/self/status", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    assert_non_null(fx->data);
    assert_non_null(strstr(fx->data, "Name:"));
}

/* The callback frees the fetcher, or starts the next fetch; a fetcher freed while busy
 * never calls back. */
static void test_file_cb_reentry(void **state)
{
    struct fx *fx = *state;
    char url[256];

    write_file(fx, "stats", "a=1\n", 4);
    snprintf(url, sizeof(url), "file:%s/stats", fx->dir);
    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    fx->restart_in_cb = true;
    fetch(fx);
    expect_data(fx, "a=1\n");
    assert_true(am_pull_busy(fx->pull)); /* the one the callback started */
    want_calls = fx->calls + 1;
    assert_true(run_until(fx, called, WAIT_MS));
    expect_data(fx, "a=1\n");

    fx->destroy_in_cb = true;
    fetch(fx);
    assert_null(fx->pull);
    fx->destroy_in_cb = false;

    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    assert_int_equal(am_pull_start(fx->pull, on_pulled, fx), 0);
    am_pull_destroy(fx->pull);
    fx->pull = NULL;
    want_calls = fx->calls + 1;
    assert_false(run_until(fx, called, 100));

    /* Started and freed from inside the callback: neither answers, nothing leaks. */
    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    fx->restart_in_cb = true;
    fx->destroy_in_cb = true;
    fetch(fx);
    assert_null(fx->pull);
    want_calls = fx->calls + 1;
    assert_false(run_until(fx, called, 100));
}

/* ---- pull: http ---------------------------------------------------------------------- */

static void on_http(struct evhttp_request *req, void *arg)
{
    struct fx *fx = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct evbuffer *out = evbuffer_new();
    const char *h;
    bool known = false;

    fx->requests++;
    snprintf(fx->uri, sizeof(fx->uri), "%s", uri);
    h = evhttp_find_header(in, "Host");
    snprintf(fx->host_header, sizeof(fx->host_header), "%s", h != NULL ? h : "(none)");
    h = evhttp_find_header(in, "Accept");
    snprintf(fx->accept, sizeof(fx->accept), "%s", h != NULL ? h : "(none)");
    for (int i = 0; i < fx->nconns; i++) {
        known |= fx->conns[i] == conn;
    }
    if (!known && fx->nconns < 8) {
        fx->conns[fx->nconns++] = conn;
    }
    assert_non_null(out);
    if (strncmp(uri, "/ok", 3) == 0) {
        evbuffer_add_printf(out, "{\"up\":1}");
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(uri, "/empty") == 0) {
        evhttp_send_reply(req, 204, "No Content", out);
    } else if (strcmp(uri, "/fail") == 0) {
        evhttp_send_reply(req, 500, "Internal Server Error", out);
    } else if (strcmp(uri, "/moved") == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/ok");
        evhttp_send_reply(req, 301, "Moved Permanently", out);
    } else if (strcmp(uri, "/slow") == 0 && !fx->slow_answered_none) {
        fx->slow_answered_none = true; /* left unanswered; evhttp_free takes it */
    } else if (strcmp(uri, "/slow") == 0) {
        evbuffer_add_printf(out, "late");
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(uri, "/big") == 0) {
        for (int i = 0; i < MAX_BYTES + 1; i++) {
            evbuffer_add(out, "x", 1);
        }
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(uri, "/chunked") == 0 || strcmp(uri, "/chunked-small") == 0) {
        int n = strcmp(uri, "/chunked") == 0 ? 5 : 2;
        evhttp_send_reply_start(req, 200, "OK");
        for (int i = 0; i < n; i++) {
            evbuffer_add_printf(out, "%01000d", i);
            evhttp_send_reply_chunk(req, out);
        }
        evhttp_send_reply_end(req);
    } else {
        evhttp_send_reply(req, 404, "Not Found", out);
    }
    evbuffer_free(out);
}

static void http_start(struct fx *fx)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    fx->http = evhttp_new(fx->base);
    assert_non_null(fx->http);
    evhttp_set_gencb(fx->http, on_http, fx);
    bs = evhttp_bind_socket_with_handle(fx->http, LOCAL, 0);
    assert_non_null(bs);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len), 0);
    fx->http_port = ntohs(sa.sin_port);
}

static void http_pull(struct fx *fx, const char *path, int64_t timeout_ms, size_t max_bytes)
{
    char url[256];

    snprintf(url, sizeof(url), "http://%s:%d%s", LOCAL, fx->http_port, path);
    make_pull(fx, url, timeout_ms, max_bytes);
}

static void test_http_ok_keepalive(void **state)
{
    struct fx *fx = *state;
    char host[64];

    http_start(fx);
    http_pull(fx, "/ok?a=1&format=json&b=2", TIMEOUT_MS, MAX_BYTES);
    for (int i = 0; i < 3; i++) {
        fetch(fx);
        expect_data(fx, "{\"up\":1}");
    }
    snprintf(host, sizeof(host), "%s:%d", LOCAL, fx->http_port);
    assert_string_equal(fx->host_header, host);
    assert_string_equal(fx->accept, "application/json");
    assert_string_equal(fx->uri, "/ok?a=1&b=2"); /* format is the adapter's */
    assert_int_equal(fx->requests, 3);
    assert_int_equal(fx->nconns, 1); /* kept alive */

    http_pull(fx, "/ok?format=prom", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    assert_string_equal(fx->accept, "text/plain;version=0.0.4");
    assert_string_equal(fx->uri, "/ok");
    /* A reply with no body is an empty document, not an error. */
    http_pull(fx, "/empty", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_data(fx, "");
    /* Chunked, under the limit. */
    http_pull(fx, "/chunked-small", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    assert_non_null(fx->data);
    assert_int_equal(fx->len, 2000);
}

static void test_http_errors(void **state)
{
    struct fx *fx = *state;
    char url[128];
    long ms;

    http_start(fx);
    http_pull(fx, "/fail", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_err(fx, "GET /fail: HTTP 500");
    fetch(fx); /* the connection stays usable */
    expect_err(fx, "GET /fail: HTTP 500");
    http_pull(fx, "/moved", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_err(fx, "GET /moved: HTTP 301");
    http_pull(fx, "/nothing", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_err(fx, "GET /nothing: HTTP 404");

    /* Over the limit: said by Content-Length, and found while reading chunks. */
    http_pull(fx, "/big", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_err(fx, "GET /big: larger than 4096 bytes");
    http_pull(fx, "/chunked", TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_err(fx, "GET /chunked: larger than 4096 bytes");
    http_pull(fx, "/big", TIMEOUT_MS, MAX_BYTES + 1);
    fetch(fx);
    assert_non_null(fx->data);

    /* Nobody listening. */
    snprintf(url, sizeof(url), "http://%s:%d/stats", LOCAL, free_port(SOCK_STREAM));
    make_pull(fx, url, TIMEOUT_MS, MAX_BYTES);
    fetch(fx);
    expect_err(fx, "GET /stats: connect: Connection refused");
    fetch(fx);
    expect_err(fx, "GET /stats: connect: Connection refused");

    /* No answer: the whole fetch is bounded; the next one goes on a new connection. */
    http_pull(fx, "/slow", TIMEOUT_MS, MAX_BYTES);
    ms = fetch(fx);
    expect_err(fx, "GET /slow: timed out after 300 ms");
    assert_true(ms >= TIMEOUT_MS - 5 && ms <= TIMEOUT_MS + SLACK_MS);
    fetch(fx);
    expect_data(fx, "late");
}

/* A connect that never completes: the deadline covers connecting too. */
static void test_http_connect_timeout(void **state)
{
    struct fx *fx = *state;
    long ms;

    /* 192.0.2.0/24 is TEST-NET-1: nothing answers there, or the route is missing. */
    make_pull(fx, "http://192.0.2.1:9/stats", TIMEOUT_MS, MAX_BYTES);
    ms = fetch(fx);
    if (strstr(fx->err, "timed out") == NULL) {
        print_message("# no route to TEST-NET-1 here: %s\n", fx->err);
        assert_non_null(strstr(fx->err, "GET /stats: connect: "));
        return;
    }
    expect_err(fx, "GET /stats: timed out after 300 ms");
    assert_true(ms >= TIMEOUT_MS - 5 && ms <= TIMEOUT_MS + SLACK_MS);
}

static void test_http_destroy(void **state)
{
    struct fx *fx = *state;

    http_start(fx);
    /* Freed while a request is in flight: never answers. */
    http_pull(fx, "/slow", TIMEOUT_MS, MAX_BYTES);
    assert_int_equal(am_pull_start(fx->pull, on_pulled, fx), 0);
    run_for(fx, 50);
    assert_int_equal(fx->requests, 1);
    am_pull_destroy(fx->pull);
    fx->pull = NULL;
    want_calls = fx->calls + 1;
    assert_false(run_until(fx, called, TIMEOUT_MS + 100));
    /* Freed from inside its callback, with its connection kept alive. */
    http_pull(fx, "/ok", TIMEOUT_MS, MAX_BYTES);
    fx->destroy_in_cb = true;
    fetch(fx);
    expect_data(fx, "{\"up\":1}");
    assert_null(fx->pull);
}

/* ---- pull: redis --------------------------------------------------------------------- */

#define NEED_REDIS(fx)                                                                             \
    do {                                                                                           \
        if ((fx)->no_redis != NULL) {                                                              \
            print_message("# skipped: %s\n", (fx)->no_redis);                                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* One command on a fresh connection (AUTH first when pass is not NULL); NULL when the
 * server does not answer. */
static redisReply *cmd(int port, const char *pass, const char *fmt, ...)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout(LOCAL, port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        if (pass != NULL) {
            freeReplyObject(redisCommand(c, "AUTH %s", pass));
        }
        va_start(ap, fmt);
        r = redisvCommand(c, fmt, ap);
        va_end(ap);
    }
    redisFree(c);
    return r;
}

static bool answers(int port)
{
    redisReply *r = cmd(port, NULL, "PING"); /* NOAUTH is an answer too */
    bool ok = r != NULL;

    freeReplyObject(r);
    return ok;
}

/* redis-server on fx->redis_port, with extra arguments (NULL-terminated). */
static void redis_start(struct fx *fx, ...)
{
    char port[16], log[128];
    char *argv[32] = {"redis-server", "--port", port,    "--bind", LOCAL, "--save", "",
                      "--appendonly", "no",     "--dir", fx->dir};
    int argc = 11;
    pid_t parent = getpid();
    va_list ap;

    va_start(ap, fx);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
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
    for (long end = now_ms() + 5000; !answers(fx->redis_port); sleep_ms(20)) {
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

static void redis_pull(struct fx *fx, const char *userinfo, int64_t timeout_ms, size_t max)
{
    char url[256];

    snprintf(url, sizeof(url), "redis://%s%s:%d", userinfo, LOCAL, fx->redis_port);
    make_pull(fx, url, timeout_ms, max);
}

/* A field of the INFO fetched last, as a number (-1 when absent). */
static long info_field(struct fx *fx, const char *name)
{
    char key[64];
    const char *p;

    assert_non_null(fx->data);
    snprintf(key, sizeof(key), "\r\n%s:", name);
    p = strstr(fx->data, key);
    return p != NULL ? atol(p + strlen(key)) : -1;
}

static void test_redis_info(void **state)
{
    struct fx *fx = *state;
    long conns;

    NEED_REDIS(fx);
    fx->redis_port = free_port(SOCK_STREAM);
    redis_start(fx, NULL);
    redis_pull(fx, "", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    assert_non_null(fx->data);
    assert_non_null(strstr(fx->data, "# Server\r\n"));
    assert_non_null(strstr(fx->data, "# Commandstats\r\n")); /* ALL, not the default set */
    assert_true(info_field(fx, "redis_version") > 0);
    conns = info_field(fx, "total_connections_received");
    /* Kept: the same connection serves the next fetches. */
    fetch(fx);
    fetch(fx);
    assert_int_equal(info_field(fx, "total_connections_received"), conns);
    assert_true(info_field(fx, "connected_clients") >= 1);

    /* A reply over the limit is an error, and the next fetch works. */
    redis_pull(fx, "", TIMEOUT_MS, 100);
    fetch(fx);
    expect_err(fx, "INFO: larger than 100 bytes");
}

static void test_redis_auth(void **state)
{
    struct fx *fx = *state;
    redisReply *r;

    NEED_REDIS(fx);
    fx->redis_port = free_port(SOCK_STREAM);
    redis_start(fx, "--requirepass", "p@ss/w:rd", NULL);
    redis_pull(fx, ":p%40ss%2Fw%3Ard@", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    assert_non_null(fx->data);
    fetch(fx);
    assert_non_null(fx->data);
    redis_pull(fx, ":wrong@", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    expect_err(fx, "AUTH: WRONGPASS invalid username-password pair or user is disabled.");
    fetch(fx); /* a new connection, AUTH again */
    expect_err(fx, "AUTH: WRONGPASS invalid username-password pair or user is disabled.");
    redis_pull(fx, "", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    expect_err(fx, "INFO: NOAUTH Authentication required.");

    /* A user of the ACL, allowed INFO alone. */
    r = cmd(fx->redis_port, "p@ss/w:rd", "ACL SETUSER alice on >s3cret -@all +info");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redis_pull(fx, "alice:s3cret@", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    assert_non_null(fx->data);
    assert_non_null(strstr(fx->data, "# Server\r\n"));
    redis_pull(fx, "alice:wrong@", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    expect_err(fx, "AUTH: WRONGPASS invalid username-password pair or user is disabled.");
}

static void test_redis_restart(void **state)
{
    struct fx *fx = *state;

    NEED_REDIS(fx);
    fx->redis_port = free_port(SOCK_STREAM);
    redis_start(fx, NULL);
    redis_pull(fx, "", TIMEOUT_MS, 1 << 20);
    fetch(fx);
    assert_non_null(fx->data);
    /* Down: the kept connection is dead, a new one is refused. */
    redis_stop(fx);
    fetch(fx);
    expect_err(fx, "connect: Connection refused");
    fetch(fx);
    expect_err(fx, "connect: Connection refused");
    redis_start(fx, NULL);
    fetch(fx);
    assert_non_null(fx->data);
    /* Restarted between two fetches, the loop not told yet: the fetch goes on a new
     * connection by itself. */
    redis_stop(fx);
    redis_start(fx, NULL);
    fetch(fx);
    if (fx->data == NULL) {
        fail_msg("after a restart: %s", fx->err);
    }
    /* ... and the same once the loop saw the old connection close. */
    redis_stop(fx);
    run_for(fx, 50);
    redis_start(fx, NULL);
    fetch(fx);
    assert_non_null(fx->data);
}

static void test_redis_timeout(void **state)
{
    struct fx *fx = *state;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    long ms;

    /* A listener never accepted from: the connect succeeds, nothing answers. */
    fx->hole = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fx->hole >= 0);
    assert_int_equal(bind(fx->hole, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fx->hole, 16), 0);
    assert_int_equal(getsockname(fx->hole, (struct sockaddr *)&sa, &len), 0);
    fx->redis_port = ntohs(sa.sin_port);
    redis_pull(fx, ":pw@", TIMEOUT_MS, 1 << 20);
    ms = fetch(fx);
    expect_err(fx, "timed out after 300 ms");
    assert_true(ms >= TIMEOUT_MS - 5 && ms <= TIMEOUT_MS + SLACK_MS);
    ms = fetch(fx);
    expect_err(fx, "timed out after 300 ms");
    /* Freed in the middle of a fetch. */
    assert_int_equal(am_pull_start(fx->pull, on_pulled, fx), 0);
    am_pull_destroy(fx->pull);
    fx->pull = NULL;
    want_calls = fx->calls + 1;
    assert_false(run_until(fx, called, TIMEOUT_MS + 100));
}

/* ---- statsd: shared ------------------------------------------------------------------ */

static void seen_init(struct seen *s, int nbits)
{
    free(s->bits);
    free(s->text);
    memset(s, 0, sizeof(*s));
    s->bits = calloc((size_t)nbits, 1);
    assert_non_null(s->bits);
    s->nbits = nbits;
}

/* Datagrams "s<seq>:1|c" (padded with spaces) are counted per seq; anything else kept as
 * text, chunk by chunk. */
static void on_statsd(void *arg, const char *buf, size_t len)
{
    struct fx *fx = arg;
    struct seen *s = &fx->seen;

    if (len > 1 && buf[0] == 's' && buf[1] >= '0' && buf[1] <= '9') {
        long seq = strtol(buf + 1, NULL, 10);
        if (seq < 0 || seq >= s->nbits) {
            s->bad++;
        } else if (s->bits[seq]++ == 0) {
            s->distinct++;
        } else {
            s->dups++;
        }
        return;
    }
    if (s->nchunks < CHUNKS_MAX) {
        s->chunk_len[s->nchunks++] = len;
    }
    if (s->text_len + len + 1 > s->text_cap) {
        s->text_cap = (s->text_len + len + 1) * 2;
        s->text = realloc(s->text, s->text_cap);
        assert_non_null(s->text);
    }
    memcpy(s->text + s->text_len, buf, len);
    s->text_len += len;
    s->text[s->text_len] = '\0';
}

static struct am_statsd_in *listen_on(struct fx *fx, const char *url)
{
    struct am_src_url u;
    char err[256];

    if (am_src_url_parse(url, &u, err, sizeof(err)) < 0) {
        fail_msg("'%s': %s", url, err);
    }
    fx->in = am_statsd_in_create(fx->base, &u, on_statsd, fx, err, sizeof(err));
    am_src_url_clear(&u);
    if (fx->in == NULL) {
        fail_msg("am_statsd_in_create '%s': %s", url, err);
    }
    return fx->in;
}

static struct am_statsd_in_stats stats(struct fx *fx)
{
    struct am_statsd_in_stats st;

    am_statsd_in_stats(fx->in, &st);
    return st;
}

/* A socket connected to the listener: UDP or TCP on family's loopback, or unixgram. */
static int connect_to(struct fx *fx, int family, int type, const char *unix_path)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(family, type | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&ss, 0, sizeof(ss));
    if (family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s", unix_path);
        len = sizeof(*un);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_port = htons(am_statsd_in_port(fx->in));
        len = sizeof(*in6);
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_port = htons(am_statsd_in_port(fx->in));
        len = sizeof(*in4);
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

static void *send_main(void *arg)
{
    struct sender *s = arg;
    enum { B = 64 };
    static _Thread_local char buf[B][2048];
    struct mmsghdr msgs[B];
    struct iovec iov[B];
    struct timespec t0, due;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < s->n;) {
        int k = s->n - i < B ? s->n - i : B;
        for (int j = 0; j < k; j++) {
            int len = snprintf(buf[j], sizeof(buf[j]), "s%d:1|c", s->first + i + j);
            if (len < s->size) {
                memset(buf[j] + len, ' ', (size_t)(s->size - len));
                len = s->size;
            }
            iov[j] = (struct iovec){.iov_base = buf[j], .iov_len = (size_t)len};
            memset(&msgs[j], 0, sizeof(msgs[j]));
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
        }
        int n = sendmmsg(s->fd, msgs, (unsigned)k, 0);
        if (n <= 0) {
            if (atomic_fetch_add(&s->errors, 1) > 1000) {
                break;
            }
            sleep_ms(1);
            continue;
        }
        i += n;
        atomic_store(&s->sent, i);
        if (s->rate > 0) {
            /* Paced to the rate, from the start: no drift. */
            long long ns = (long long)i * 1000000000LL / s->rate;
            due.tv_sec = t0.tv_sec + (time_t)(ns / 1000000000LL);
            due.tv_nsec = t0.tv_nsec + (long)(ns % 1000000000LL);
            if (due.tv_nsec >= 1000000000L) {
                due.tv_sec++;
                due.tv_nsec -= 1000000000L;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
        }
    }
    return NULL;
}

static void sender_start(struct fx *fx, int fd, int first, int n, int size, long rate)
{
    struct sender *s = &fx->snd;

    s->fd = fd;
    s->first = first;
    s->n = n;
    s->size = size;
    s->rate = rate;
    atomic_store(&s->sent, 0);
    atomic_store(&s->errors, 0);
    assert_int_equal(pthread_create(&s->thread, NULL, send_main, s), 0);
    s->started = true;
}

static long want_distinct;

static bool all_seen(struct fx *fx)
{
    return fx->seen.distinct >= want_distinct;
}

static bool drops_settled(struct fx *fx)
{
    struct am_statsd_in_stats st = stats(fx);
    return (long)(st.packets + st.queue_drops + st.kernel_drops) >= want_distinct;
}

/* ---- statsd: UDP --------------------------------------------------------------------- */

/* 100k datagrams at 25k/s while the loop keeps up: every one arrives once, nothing dropped.
 * (100k/s with scrapes going on is make bench's figure: a unit test on a loaded CI machine
 * checks what arrives, not how fast.) */
static void test_statsd_udp_100k(void **state)
{
    struct fx *fx = *state;
    struct am_statsd_in_stats st;
    long t0 = now_ms();

    listen_on(fx, "statsd+udp://127.0.0.1:0");
    assert_true(am_statsd_in_port(fx->in) > 0);
    seen_init(&fx->seen, NSEQ);
    sender_start(fx, connect_to(fx, AF_INET, SOCK_DGRAM, NULL), 0, NSEQ, 0, 25000);
    want_distinct = NSEQ;
    if (!run_until(fx, all_seen, WAIT_MS * 2)) {
        st = stats(fx);
        fail_msg("%ld of %d arrived (kernel drops %llu, queue drops %llu)", fx->seen.distinct, NSEQ,
                 (unsigned long long)st.kernel_drops, (unsigned long long)st.queue_drops);
    }
    sender_join(&fx->snd);
    st = stats(fx);
    print_message("# 100k datagrams in %ld ms\n", now_ms() - t0);
    assert_int_equal(atomic_load(&fx->snd.errors), 0);
    assert_int_equal(fx->seen.dups, 0);
    assert_int_equal(fx->seen.bad, 0);
    assert_int_equal(st.packets, NSEQ);
    assert_int_equal(st.kernel_drops, 0);
    assert_int_equal(st.queue_drops, 0);
    assert_int_equal(st.truncated, 0);
    assert_true(st.bytes >= (uint64_t)NSEQ * 6);
    assert_int_equal(st.tcp_conns, 0);
}

/* The loop blocked for the whole send (2 s at 25k/s): the queue holds it all, and the loop
 * then takes it in shares, not in one go. */
static void test_statsd_udp_loop_blocked(void **state)
{
    struct fx *fx = *state;
    struct am_statsd_in_stats st;
    const int n = 50000;

    listen_on(fx, "statsd+udp://127.0.0.1:0");
    seen_init(&fx->seen, n);
    sender_start(fx, connect_to(fx, AF_INET, SOCK_DGRAM, NULL), 0, n, 0, 25000);
    sender_join(&fx->snd); /* the loop does not run meanwhile */
    sleep_ms(300);         /* for the reader to take the last ones, even on a loaded machine */
    assert_int_equal(stats(fx).packets, 0);
    event_base_loop(fx->base, EVLOOP_ONCE);
    st = stats(fx);
    assert_true(st.packets > 0 && st.packets < (uint64_t)n);
    want_distinct = n;
    assert_true(run_until(fx, all_seen, WAIT_MS));
    st = stats(fx);
    assert_int_equal(st.packets, n);
    assert_int_equal(st.kernel_drops, 0);
    assert_int_equal(st.queue_drops, 0);
    assert_int_equal(fx->seen.dups, 0);
}

/* More than the queue holds while the loop is blocked: the excess is dropped and counted,
 * the rest delivered, every datagram accounted for. */
static void test_statsd_udp_queue_full(void **state)
{
    struct fx *fx = *state;
    struct am_statsd_in_stats st;
    const int n = 20000, size = 1000; /* 20 MB against an 8 MiB queue */
    int fd;

    listen_on(fx, "statsd+udp://127.0.0.1:0");
    seen_init(&fx->seen, n);
    sender_start(fx, connect_to(fx, AF_INET, SOCK_DGRAM, NULL), 0, n, size, 100000);
    fd = dup(fx->snd.fd);
    sender_join(&fx->snd);
    /* The kernel's drop count comes with the next datagram: one more, counted too. */
    sleep_ms(20);
    assert_int_equal(send(fd, "flush", 5, 0), 5);
    close(fd);
    sleep_ms(20);
    want_distinct = n + 1;
    assert_true(run_until(fx, drops_settled, WAIT_MS));
    run_for(fx, 20);
    st = stats(fx);
    print_message("# queue full: %llu delivered, %llu dropped by the queue, %llu by the kernel\n",
                  (unsigned long long)st.packets, (unsigned long long)st.queue_drops,
                  (unsigned long long)st.kernel_drops);
    assert_int_equal(st.packets + st.queue_drops + st.kernel_drops, n + 1);
    assert_int_equal(st.packets, fx->seen.distinct + (fx->seen.text_len > 0));
    assert_true(st.queue_drops > 0);
    /* 8 MiB of 1004-byte records, less what the chunks' ends waste. */
    assert_true(st.packets >= (AM_STATSD_QUEUE_BYTES / 1004) * 9 / 10);
    /* ... and it works on afterwards. */
    seen_init(&fx->seen, n);
    fx->snd.fd = connect_to(fx, AF_INET, SOCK_DGRAM, NULL);
    assert_int_equal(send(fx->snd.fd, "s7:1|c", 6, 0), 6);
    want_distinct = 1;
    assert_true(run_until(fx, all_seen, WAIT_MS));
}

/* destroy with drain delivers what was queued and what the socket still holds. */
static void test_statsd_udp_drain_on_destroy(void **state)
{
    struct fx *fx = *state;
    const int n = 500;
    struct am_statsd_in *in;

    listen_on(fx, "statsd+udp://127.0.0.1:0");
    seen_init(&fx->seen, n);
    fx->snd.fd = connect_to(fx, AF_INET, SOCK_DGRAM, NULL);
    for (int i = 0; i < n; i++) {
        char b[32];
        int len = snprintf(b, sizeof(b), "s%d:1|c", i);
        assert_int_equal(send(fx->snd.fd, b, (size_t)len, 0), len);
    }
    sleep_ms(50);
    assert_int_equal(fx->seen.distinct, 0);
    in = fx->in;
    fx->in = NULL;
    am_statsd_in_destroy(in, true);
    assert_int_equal(fx->seen.distinct, n);
    assert_int_equal(fx->seen.dups, 0);
}

static void test_statsd_errors(void **state)
{
    struct fx *fx = *state;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    struct am_src_url u;
    char url[128], err[256], want[256];
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, sizeof(url), "statsd+udp://127.0.0.1:%d", ntohs(sa.sin_port));
    assert_int_equal(am_src_url_parse(url, &u, err, sizeof(err)), 0);
    assert_null(am_statsd_in_create(fx->base, &u, on_statsd, fx, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: bind: Address already in use", url);
    assert_string_equal(err, want);
    am_src_url_clear(&u);
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, sizeof(url), "statsd+tcp://[::ffff:127.0.0.1]:%d", ntohs(sa.sin_port));
    assert_int_equal(am_src_url_parse(url, &u, err, sizeof(err)), 0);
    assert_null(am_statsd_in_create(fx->base, &u, on_statsd, fx, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: bind: Address already in use", url);
    assert_string_equal(err, want);
    am_src_url_clear(&u);
    close(fd);

    assert_int_equal(am_src_url_parse("file:/x", &u, err, sizeof(err)), 0);
    assert_null(am_statsd_in_create(fx->base, &u, on_statsd, fx, err, sizeof(err)));
    assert_string_equal(err, "not a statsd URL (statsd+udp, statsd+tcp, statsd+unix)");
    am_src_url_clear(&u);

    am_statsd_in_destroy(NULL, true);
    assert_int_equal(am_statsd_in_port(NULL), 0);
}

/* Listens on url, sends one line "s<seq>:1|c" from family's loopback over UDP or TCP, and
 * waits for it; the listener is gone afterwards. */
static void one_line(struct fx *fx, const char *url, int family, int type, int seq)
{
    char line[32];
    int len = snprintf(line, sizeof(line), "s%d:1|c\n", seq);

    listen_on(fx, url);
    fx->snd.fd = connect_to(fx, family, type, NULL);
    assert_int_equal(send(fx->snd.fd, line, (size_t)len, 0), len);
    want_distinct = fx->seen.distinct + 1;
    assert_true(run_until(fx, all_seen, WAIT_MS));
    assert_int_equal(stats(fx).tcp_conns, type == SOCK_STREAM);
    close(fx->snd.fd);
    fx->snd.fd = -1;
    am_statsd_in_destroy(fx->in, false);
    fx->in = NULL;
}

/* No host: every address, IPv4 included. */
static void test_statsd_any_address(void **state)
{
    struct fx *fx = *state;

    seen_init(&fx->seen, 10);
    one_line(fx, "statsd+udp://:0", AF_INET, SOCK_DGRAM, 1);
    one_line(fx, "statsd+tcp://:0", AF_INET, SOCK_STREAM, 2);
}

/* IPv6 loopback, when this machine has it. */
static void test_statsd_ipv6(void **state)
{
    struct fx *fx = *state;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool have = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    if (!have) {
        print_message("# skipped: no IPv6 loopback\n");
        skip();
    }
    seen_init(&fx->seen, 10);
    one_line(fx, "statsd+udp://[::1]:0", AF_INET6, SOCK_DGRAM, 3);
    one_line(fx, "statsd+tcp://[::1]:0", AF_INET6, SOCK_STREAM, 4);
}

/* ---- statsd: TCP --------------------------------------------------------------------- */

static size_t want_text;

static bool text_done(struct fx *fx)
{
    return fx->seen.text_len >= want_text;
}

/* Sends it all, running the loop while the socket is full. */
static void send_all(struct fx *fx, int fd, const char *buf, size_t len)
{
    long end = now_ms() + WAIT_MS;

    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            assert_true(now_ms() < end);
            event_base_loop(fx->base, EVLOOP_NONBLOCK);
            continue;
        }
        assert_true(n > 0);
        buf += n;
        len -= (size_t)n;
    }
}

/* Sends text, then runs the loop until the callback got want_total bytes in all. */
static void send_expect(struct fx *fx, int fd, const char *text, size_t want_total)
{
    send_all(fx, fd, text, strlen(text));
    want_text = want_total;
    if (!run_until(fx, text_done, WAIT_MS)) {
        fail_msg("got %zu bytes \"%s\", want %zu", fx->seen.text_len,
                 fx->seen.text != NULL ? fx->seen.text : "", want_total);
    }
}

static void test_statsd_tcp(void **state)
{
    struct fx *fx = *state;
    struct am_statsd_in_stats st;
    size_t big = AM_STATSD_LINE_MAX + 100;
    char *line = malloc(big + 2);
    int fd;

    assert_non_null(line);
    listen_on(fx, "statsd+tcp://127.0.0.1:0");
    seen_init(&fx->seen, 1);
    fd = connect_to(fx, AF_INET, SOCK_STREAM, NULL);
    /* A line split across writes comes whole, in its own chunk. */
    send_expect(fx, fd, "a:1|c\nb:", 6);
    assert_string_equal(fx->seen.text, "a:1|c\n");
    run_for(fx, 30);
    assert_int_equal(fx->seen.text_len, 6); /* "b:" waits for its end */
    send_expect(fx, fd, "2|c\nc:3|", 12);
    send_expect(fx, fd, "c\n", 18);
    assert_string_equal(fx->seen.text, "a:1|c\nb:2|c\nc:3|c\n");
    for (int i = 0; i < fx->seen.nchunks; i++) {
        assert_true(fx->seen.chunk_len[i] > 0);
    }

    /* A line over the limit is dropped to its end and counted; the next one comes. */
    memset(line, 'x', big);
    line[big] = '\0';
    send_all(fx, fd, line, big);
    send_expect(fx, fd, "\nok:1|c\n", 25);
    assert_string_equal(fx->seen.text + 18, "ok:1|c\n");
    st = stats(fx);
    assert_int_equal(st.long_lines, 1);
    /* The longest line taken, exactly. */
    memset(line, 'y', AM_STATSD_LINE_MAX);
    line[AM_STATSD_LINE_MAX] = '\n';
    line[AM_STATSD_LINE_MAX + 1] = '\0';
    send_expect(fx, fd, line, 25 + AM_STATSD_LINE_MAX + 1);
    assert_int_equal(stats(fx).long_lines, 1);
    /* At EOF the last line comes without its '\n'. */
    send_expect(fx, fd, "last:1|c", 25 + AM_STATSD_LINE_MAX + 1);
    shutdown(fd, SHUT_WR);
    want_text = 25 + AM_STATSD_LINE_MAX + 1 + 8;
    assert_true(run_until(fx, text_done, WAIT_MS));
    assert_string_equal(fx->seen.text + fx->seen.text_len - 8, "last:1|c");
    close(fd);

    /* Every chunk ends a line; one per read at most AM_STATSD_LINE_MAX + 1 bytes. */
    for (int i = 0; i < fx->seen.nchunks; i++) {
        assert_true(fx->seen.chunk_len[i] <= AM_STATSD_LINE_MAX + 1);
    }
    /* Many lines in one go, and a second connection at the same time. */
    int fd2 = connect_to(fx, AF_INET, SOCK_STREAM, NULL);
    size_t before = fx->seen.text_len;
    char *many = malloc(200000);
    size_t n = 0;
    assert_non_null(many);
    for (int i = 0; n < 199000; i++) {
        n += (size_t)snprintf(many + n, 200000 - n, "m%d:1|c\n", i);
    }
    fd = connect_to(fx, AF_INET, SOCK_STREAM, NULL);
    send_all(fx, fd, many, n);
    send_all(fx, fd2, "z:1|c\n", 6);
    want_text = before + n + 6;
    assert_true(run_until(fx, text_done, WAIT_MS));
    assert_non_null(strstr(fx->seen.text + before, "z:1|c\n"));
    st = stats(fx);
    assert_int_equal(st.tcp_conns, 3);
    assert_int_equal(st.bytes, fx->seen.text_len);
    assert_int_equal(st.packets, fx->seen.nchunks);
    /* Drained at destroy: whole lines still waiting. */
    send_all(fx, fd2, "w:1|c\npartial", 13);
    sleep_ms(20);
    before = fx->seen.text_len;
    am_statsd_in_destroy(fx->in, true);
    fx->in = NULL;
    assert_int_equal(fx->seen.text_len, before + 6);
    close(fd);
    close(fd2);
    free(many);
    free(line);
}

/* ---- statsd: unixgram ---------------------------------------------------------------- */

static bool one_truncated(struct fx *fx)
{
    return stats(fx).truncated >= 1;
}

static void test_statsd_unixgram(void **state)
{
    struct fx *fx = *state;
    char path[100], url[160], other[100], ourl[160], err[256], want[400];
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct am_src_url u;
    struct stat st;
    const int n = 2000;
    size_t bigsz = 70000;
    char *big = malloc(bigsz);
    int fd, sndbuf = 1 << 20;

    assert_non_null(big);
    /* A file that is not a socket stays, and is an error. */
    snprintf(other, sizeof(other), "%s/plain", fx->dir);
    write_file(fx, "plain", "x", 1);
    snprintf(ourl, sizeof(ourl), "statsd+unix:%s", other);
    assert_int_equal(am_src_url_parse(ourl, &u, err, sizeof(err)), 0);
    assert_null(am_statsd_in_create(fx->base, &u, on_statsd, fx, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: %s exists and is not a socket", ourl, other);
    assert_string_equal(err, want);
    am_src_url_clear(&u);
    assert_int_equal(stat(other, &st), 0);

    /* An old socket file (its owner gone) is replaced. */
    snprintf(path, sizeof(path), "%s/statsd.sock", fx->dir);
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    close(fd);
    snprintf(url, sizeof(url), "statsd+unix:%s", path);
    listen_on(fx, url);
    assert_int_equal(am_statsd_in_port(fx->in), 0);
    seen_init(&fx->seen, n);
    fd = connect_to(fx, AF_UNIX, SOCK_DGRAM, path);
    fx->snd.fd = fd;
    for (int i = 0; i < n; i++) {
        char b[32];
        int len = snprintf(b, sizeof(b), "s%d:1|c", i);
        /* A full unix queue blocks the sender until the reader thread takes some. */
        assert_int_equal(send(fd, b, (size_t)len, 0), len);
    }
    want_distinct = n;
    assert_true(run_until(fx, all_seen, WAIT_MS));
    assert_int_equal(stats(fx).packets, n);

    /* Larger than a datagram may be: dropped and counted. */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    memset(big, 'x', bigsz);
    assert_int_equal(send(fd, big, bigsz, 0), (ssize_t)bigsz);
    assert_true(run_until(fx, one_truncated, WAIT_MS));
    assert_int_equal(stats(fx).packets, n);
    assert_int_equal(send(fd, big, AM_STATSD_DGRAM_MAX, 0), AM_STATSD_DGRAM_MAX);
    want_text = AM_STATSD_DGRAM_MAX;
    assert_true(run_until(fx, text_done, WAIT_MS));
    assert_int_equal(stats(fx).truncated, 1);

    /* Gone with the listener. */
    am_statsd_in_destroy(fx->in, false);
    fx->in = NULL;
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    free(big);

    /* An abstract socket: nothing on disk. */
    snprintf(url, sizeof(url), "statsd+unix:@test_am_src.%d", (int)getpid());
    listen_on(fx, url);
    am_statsd_in_destroy(fx->in, false);
    fx->in = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_table),
        cmocka_unit_test_setup_teardown(test_pull_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_cb_reentry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_ok_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_udp_100k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_udp_loop_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_udp_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_udp_drain_on_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_any_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statsd_unixgram, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
