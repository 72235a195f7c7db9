/* test_am_text.c — table tests of the key=value, JSON and Redis INFO parsers, and INFO ALL
 * from a real redis-server on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "am_text.h"

/* ---- what a parser said, as text --------------------------------------------------------
 * One line per sample:  name{label="value",...} KIND value [="member"] [abs]
 * and per reject:       !LINE why
 * KIND is U, G or C; values print with %.15g; bytes outside printable ASCII as \xHH. */

struct log {
    char *buf;
    size_t len, cap;
    size_t samples;
};

static void log_add(struct log *l, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < l->cap - l->len) {
            l->len += (size_t)n;
            return;
        }
        l->cap = (l->cap + (size_t)n + 1) * 2;
        l->buf = realloc(l->buf, l->cap);
        assert_non_null(l->buf);
    }
}

static void log_bytes(struct log *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            log_add(l, "\\x%02x", c);
        } else {
            log_add(l, "%c", c);
        }
    }
}

static void on_sample(void *arg, const struct am_sample *s)
{
    static const char kinds[] = "UGCTHDS";
    struct log *l = arg;

    assert_non_null(s->name);
    assert_true(s->name_len > 0);
    assert_true(s->nlabels <= AM_LABELS_MAX);
    assert_true(s->rate == 1);
    assert_false(s->relative);
    assert_null(s->help);
    log_bytes(l, s->name, s->name_len);
    if (s->nlabels > 0) {
        log_add(l, "{");
        for (size_t i = 0; i < s->nlabels; i++) {
            log_add(l, "%s", i > 0 ? "," : "");
            log_bytes(l, s->labels[i].name, s->labels[i].name_len);
            log_add(l, "=\"");
            log_bytes(l, s->labels[i].value, s->labels[i].value_len);
            log_add(l, "\"");
        }
        log_add(l, "}");
    }
    log_add(l, " %c %.15g", kinds[s->kind], s->value);
    if (s->set_member != NULL) {
        log_add(l, " =\"");
        log_bytes(l, s->set_member, s->set_member_len);
        log_add(l, "\"");
    }
    assert_true(s->counter_absolute == (s->kind == AM_KIND_COUNTER));
    log_add(l, "%s\n", s->counter_absolute ? " abs" : "");
    l->samples++;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    struct log *l = arg;

    assert_non_null(why);
    assert_true(why[0] != '\0');
    log_add(l, "!%zu %s\n", line, why);
}

typedef size_t parse_fn(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                        am_reject_fn *reject, void *arg);

/* Runs parse on in and returns what it said (the caller frees it). */
static char *run(parse_fn *parse, const char *in, size_t n, bool strings)
{
    struct log l = {0};
    size_t count;

    log_add(&l, "%s", "");
    count = parse(in, n, strings, on_sample, on_reject, &l);
    assert_int_equal(count, l.samples);
    /* Without callbacks the count is the same. */
    assert_int_equal(parse(in, n, strings, NULL, NULL, NULL), count);
    return l.buf;
}

struct row {
    const char *in;
    size_t n;
    bool strings;
    const char *want;
};

#define IN(s) .in = (s), .n = sizeof(s) - 1
#define S .strings = true

static void check_table(parse_fn *parse, const char *what, const struct row *t, size_t rows)
{
    int bad = 0;

    for (size_t i = 0; i < rows; i++) {
        char *got = run(parse, t[i].in, t[i].n, t[i].strings);

        if (strcmp(got, t[i].want) != 0) {
            print_error("%s row %zu (%s%.*s):\nwant:\n%sgot:\n%s\n", what, i,
                        t[i].strings ? "strings, " : "", (int)(t[i].n < 60 ? t[i].n : 60), t[i].in,
                        t[i].want, got);
            bad++;
        }
        free(got);
    }
    assert_int_equal(bad, 0);
}

#define TABLE(parse, t) check_table(parse, #t, t, sizeof(t) / sizeof(t[0]))

/* ---- key=value ----------------------------------------------------------------------- */

#define NOT_NUMBER(line) "!" #line " not a number\n"

static const struct row kv_table[] = {
    {IN("a=1\n"), .want = "a U 1\n"},
    {IN("a = 1\n"), .want = "a U 1\n"},
    {IN("  a\t=\t2.5  \n"), .want = "a U 2.5\n"},
    {IN("a: 3"), .want = "a U 3\n"},
    {IN("a:3\nb = 4\n"), .want = "a U 3\nb U 4\n"},
    {IN("a=1\r\nb=2\r\n"), .want = "a U 1\nb U 2\n"},
    {IN("a=1\r\n\r\n#c\r\n"), .want = "a U 1\n"},
    {IN("# comment\n; other\n\n   # indented\nx=1"), .want = "x U 1\n"},
    {IN(""), .want = ""},
    {IN("\n\n\n"), .want = ""},
    /* Numbers. */
    {IN("hex=0x1F\nHEX=0XfF\nneg=-0x10\n"), .want = "hex U 31\nHEX U 255\nneg U -16\n"},
    {IN("big=0xFFFFFFFFFFFFFFFFFF"), .want = "big U 4.72236648286965e+21\n"},
    {IN("x=0x"), .want = NOT_NUMBER(1)},
    {IN("x=0xg1"), .want = NOT_NUMBER(1)},
    {IN("e=1e3\nf=-2.5E-3\ng=+7\n"), .want = "e U 1000\nf U -0.0025\ng U 7\n"},
    {IN("a=.5\nb=5.\nc=00012\nd=-0\n"), .want = "a U 0.5\nb U 5\nc U 12\nd U -0\n"},
    {IN("a=+Inf\nb=-Inf\nc=inf\nd=Infinity\ne=NaN\nf=nan\n"),
     .want = "a U inf\nb U -inf\nc U inf\nd U inf\ne U nan\nf U nan\n"},
    {IN("big=1e999\ntiny=1e-999\n"), .want = "big U inf\ntiny U 0\n"},
    {IN("x=1.2.3"), .want = NOT_NUMBER(1)},
    {IN("x=1e"), .want = NOT_NUMBER(1)},
    {IN("x=e5"), .want = NOT_NUMBER(1)},
    {IN("x=+\ny=-\nz=."), .want = NOT_NUMBER(1) NOT_NUMBER(2) NOT_NUMBER(3)},
    {IN("x=1_000"), .want = NOT_NUMBER(1)},
    {IN("x=0x1p3"), .want = NOT_NUMBER(1)}, /* strtod would take it */
    {IN("x=nan(1)"), .want = NOT_NUMBER(1)},
    {IN("x=1 # one"), .want = NOT_NUMBER(1)}, /* comments are whole lines */
    /* Booleans. */
    {IN("t=true\nf=false\ny=yes\nn=no\no=on\nx=off\n"),
     .want = "t U 1\nf U 0\ny U 1\nn U 0\no U 1\nx U 0\n"},
    {IN("t=TRUE\nf=False\ny=YES\nx=Off\n"), .want = "t U 1\nf U 0\ny U 1\nx U 0\n"},
    {IN("t=truth"), .want = NOT_NUMBER(1)},
    /* Strings. */
    {IN("s=hello"), .want = NOT_NUMBER(1)},
    {IN("s=hello"), S, .want = "s U 0 =\"hello\"\n"},
    {IN("s = two words \n"), S, .want = "s U 0 =\"two words\"\n"},
    {IN("s=\"quoted text\""), S, .want = "s U 0 =\"quoted text\"\n"},
    {IN("s='single'"), S, .want = "s U 0 =\"single\"\n"},
    {IN("s=\"\""), S, .want = "s U 0 =\"\"\n"},
    {IN("s=\"\""), .want = NOT_NUMBER(1)},
    {IN("q=\"42\"\nr='true'"), .want = "q U 42\nr U 1\n"},
    {IN("s=\"unbalanced"), S, .want = "s U 0 =\"\\x22unbalanced\"\n"},
    {IN("a=b=c"), S, .want = "a U 0 =\"b=c\"\n"},
    {IN("url: http://x:80/"), S, .want = "url U 0 =\"http://x:80/\"\n"},
    {IN("a=x=1"), .want = NOT_NUMBER(1)},
    /* Keys as written: the mapping sanitizes them. */
    {IN("dotted.name=7\nwith space = 8\n"), .want = "dotted.name U 7\nwith space U 8\n"},
    {IN("a\0b=1"), .want = "a\\x00b U 1\n"},
    {IN("caf\xc3\xa9=1"), .want = "caf\\xc3\\xa9 U 1\n"},
    /* Bad lines, and the ones around them still count. */
    {IN("nokey"), .want = "!1 no '=' or ':'\n"},
    {IN("key value"), .want = "!1 no '=' or ':'\n"},
    {IN("=5"), .want = "!1 empty key\n"},
    {IN("  : 5"), .want = "!1 empty key\n"},
    {IN("k="), .want = "!1 empty value\n"},
    {IN("k=   "), S, .want = "!1 empty value\n"},
    {IN("a=1\nbad\nb=2"), .want = "a U 1\n!2 no '=' or ':'\nb U 2\n"},
    {IN("a=1\n\n#c\nb\nc=x\nd=4"), .want = "a U 1\n!4 no '=' or ':'\n" NOT_NUMBER(5) "d U 4\n"},
};

static void test_kv(void **state)
{
    (void)state;
    TABLE(am_kv_parse, kv_table);
}

/* ---- JSON ---------------------------------------------------------------------------- */

static const struct row json_table[] = {
    {IN("{\"a\":1}"), .want = "a U 1\n"},
    {IN("{\"stats\":{\"server.conns\":3,\"up\":2.5}}"),
     .want = "stats_server.conns U 3\nstats_up U 2.5\n"},
    {IN("{\"workers\":[{\"busy\":1},{\"busy\":0}]}"),
     .want = "workers_0_busy U 1\nworkers_1_busy U 0\n"},
    {IN("{\"b\":1,\"a\":2,\"c\":{\"z\":3,\"y\":4}}"), .want = "b U 1\na U 2\nc_z U 3\nc_y U 4\n"},
    {IN("[1,2,[3]]"), .want = "0 U 1\n1 U 2\n2_0 U 3\n"},
    {IN("{\"t\":true,\"f\":false}"), .want = "t U 1\nf U 0\n"},
    {IN("{\"n\":null,\"a\":[null]}"), .want = ""},
    {IN("{}"), .want = ""},
    {IN("[]"), .want = ""},
    {IN("{\"a\":{},\"b\":[]}"), .want = ""},
    /* Strings as kv's. */
    {IN("{\"s\":\"x\"}"), .want = "!0 not a number\n"},
    {IN("{\"s\":\"x\"}"), S, .want = "s U 0 =\"x\"\n"},
    {IN("{\"s\":\"12\",\"h\":\"0x10\",\"y\":\"yes\"}"), .want = "s U 12\nh U 16\ny U 1\n"},
    {IN("{\"s\":\"a\\u0000b\"}"), S, .want = "s U 0 =\"a\\x00b\"\n"},
    {IN("{\"s\":\"\\u00e9\"}"), S, .want = "s U 0 =\"\\xc3\\xa9\"\n"},
    {IN("{\"v\":\"1.2.3\",\"n\":5}"), .want = "!0 not a number\nn U 5\n"},
    /* Numbers. */
    {IN("{\"i\":-42,\"r\":-0.0,\"e\":1.5e-300,\"z\":0}"),
     .want = "i U -42\nr U -0\ne U 1.5e-300\nz U 0\n"},
    {IN("{\"big\":123456789012345678901234567890}"), .want = "big U 1.23456789012346e+29\n"},
    {IN("{\"big\":-9223372036854775809}"), .want = "big U -9.22337203685478e+18\n"},
    {IN("{\"max\":1.7976931348623157e308}"), .want = "max U 1.79769313486232e+308\n"},
    {IN("{\"over\":1e400}"), .want = "!1 not valid JSON\n"}, /* jansson refuses it */
    /* Names. */
    {IN("{\"\":1}"), .want = "!0 a value with no name\n"},
    {IN("{\"a\":{\"\":1}}"), .want = "a_ U 1\n"},
    {IN("{\"\":{\"a\":1}}"), .want = "_a U 1\n"},
    {IN("{\"a\":1,\"a\":2}"), .want = "a U 2\n"}, /* jansson: the last one wins */
    {IN("{\"caf\\u00e9\":1}"), .want = "caf\\xc3\\xa9 U 1\n"},
    {IN("5"), .want = "!0 a value with no name\n"},
    {IN("\"x\""), S, .want = "!0 a value with no name\n"},
    {IN("true"), .want = "!0 a value with no name\n"},
    {IN("null"), .want = ""},
    /* Not JSON: one reject, with jansson's line. */
    {IN(""), .want = "!1 not valid JSON\n"},
    {IN("{"), .want = "!1 not valid JSON\n"},
    {IN("{\n\"a\":1,\n}"), .want = "!3 not valid JSON\n"},
    {IN("{} x"), .want = "!1 not valid JSON\n"},
    {IN("{\"a\":NaN}"), .want = "!1 not valid JSON\n"},
    {IN("{\"a\\u0000\":1}"), .want = "!1 not valid JSON\n"},
    {IN("{\"a\":1}\0"), .want = "!1 not valid JSON\n"},
};

static void test_json(void **state)
{
    (void)state;
    TABLE(am_json_parse, json_table);
}

/* Nesting: 64 containers are read, the 65th is refused, the rest of the document is not. */
static void test_json_depth(void **state)
{
    char doc[512], *got;
    size_t n = 0;

    (void)state;
    for (int depth = 63; depth <= 65; depth++) {
        n = 0;
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{\"ok\":1,\"d\":");
        for (int i = 1; i < depth; i++) {
            doc[n++] = '[';
        }
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "7");
        for (int i = 1; i < depth; i++) {
            doc[n++] = ']';
        }
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, ",\"after\":2}");
        got = run(am_json_parse, doc, n, false);
        if (depth <= 64) {
            char want[512];
            size_t w = (size_t)snprintf(want, sizeof(want), "ok U 1\nd");

            for (int i = 1; i < depth; i++) {
                w += (size_t)snprintf(want + w, sizeof(want) - w, "_0");
            }
            snprintf(want + w, sizeof(want) - w, " U 7\nafter U 2\n");
            assert_string_equal(got, want);
        } else {
            assert_string_equal(got, "ok U 1\n!0 nesting deeper than 64\nafter U 2\n");
        }
        free(got);
    }
    /* Past jansson's own bound (2048) the document does not parse at all. */
    {
        size_t big = 5000;
        char *deep = malloc(2 * big);

        assert_non_null(deep);
        memset(deep, '[', big);
        memset(deep + big, ']', big);
        got = run(am_json_parse, deep, 2 * big, false);
        assert_string_equal(got, "!1 not valid JSON\n");
        free(got);
        free(deep);
    }
}

/* Names are built in a 256-byte scratch: 255 bytes fit, 256 are refused with a reason. */
static void test_json_name_bound(void **state)
{
    char a[201], b[55], c[56], doc[1024], want[1024], *got;
    int n;

    (void)state;
    memset(a, 'a', sizeof(a) - 1);
    memset(b, 'b', sizeof(b) - 1);
    memset(c, 'c', sizeof(c) - 1);
    a[sizeof(a) - 1] = b[sizeof(b) - 1] = c[sizeof(c) - 1] = '\0';
    /* a_b is 200 + 1 + 54 = 255 bytes, a_c 256. */
    n = snprintf(doc, sizeof(doc), "{\"%s\":{\"%s\":1,\"%s\":2},\"z\":3}", a, b, c);
    got = run(am_json_parse, doc, (size_t)n, false);
    snprintf(want, sizeof(want), "%s_%s U 1\n!0 name longer than 255 bytes\nz U 3\n", a, b);
    assert_string_equal(got, want);
    free(got);
}

/* A number's text is read up to 127 bytes. */
static void test_kv_number_bound(void **state)
{
    char line[256], *got;

    (void)state;
    for (size_t len = 126; len <= 128; len++) {
        memcpy(line, "x=", 2);
        memset(line + 2, '0', len - 1);
        line[2 + len - 1] = '7';
        got = run(am_kv_parse, line, 2 + len, false);
        assert_string_equal(got, len < 128 ? "x U 7\n" : "!1 not a number\n");
        free(got);
    }
}

/* ---- Redis INFO ---------------------------------------------------------------------- */

/* An INFO text as Redis 7 writes it, with a few lines of every composite kind and some
 * broken ones. */
static const char info_fixture[] =
    "# Server\r\n"
    "redis_version:7.2.4\r\n"
    "redis_mode:standalone\r\n"
    "uptime_in_seconds:100\r\n"
    "uptime_in_days:0\r\n"
    "config_file:\r\n"
    "lru_clock:123\r\n"
    "server_time_usec:1700000000500000\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:1024\r\n"
    "used_memory_human:1.00K\r\n"
    "mem_fragmentation_ratio:1.23\r\n"
    "\r\n"
    "# Persistence\r\n"
    "rdb_last_save_time:1700000000\r\n"
    "rdb_last_bgsave_status:ok\r\n"
    "aof_last_write_status:err\r\n"
    "rdb_last_bgsave_time_sec:-1\r\n"
    "\r\n"
    "# Stats\r\n"
    "total_connections_received:5\r\n"
    "keyspace_hits:3\r\n"
    "expired_time_cap_reached_count:2\r\n"
    "expire_cycle_cpu_milliseconds:1500\r\n"
    "instantaneous_input_kbps:1.50\r\n"
    "latest_fork_usec:250\r\n"
    "total_error_replies:4\r\n"
    "migrate_cached_sockets:0\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:2\r\n"
    "slave0:ip=127.0.0.1,port=6380,state=online,offset=123,lag=1\r\n"
    "slave1:ip=::1,port=6381,state=wait_bgsave,offset=0\r\n"
    "\r\n"
    "# CPU\r\n"
    "used_cpu_sys:1.5\r\n"
    "\r\n"
    "# Commandstats\r\n"
    "cmdstat_get:calls=5,usec=12,usec_per_call=2.40,rejected_calls=1,failed_calls=2\r\n"
    "cmdstat_config|get:calls=1,usec=10,usec_per_call=10.00\r\n"
    "\r\n"
    "# Errorstats\r\n"
    "errorstat_ERR:count=3\r\n"
    "\r\n"
    "# Latencystats\r\n"
    "latency_percentiles_usec_get:p50=1.003,p99=2.007,p99.9=3.001\r\n"
    "\r\n"
    "# Keyspace\r\n"
    "db0:keys=1,expires=0,avg_ttl=0\r\n"
    "db1:keys=10,expires=2,avg_ttl=1500,subexpiry=0\r\n";

#define FIXTURE_SAMPLES                                                                            \
    "uptime_in_seconds G 100\n"                                                                    \
    "lru_clock U 123\n"                                                                            \
    "server_time_seconds G 1700000000.5\n"                                                         \
    "memory_used_bytes G 1024\n"                                                                   \
    "mem_fragmentation_ratio G 1.23\n"                                                             \
    "rdb_last_save_timestamp_seconds G 1700000000\n"                                               \
    "rdb_last_bgsave_status G 1\n"                                                                 \
    "aof_last_write_status G 0\n"                                                                  \
    "rdb_last_bgsave_duration_seconds G -1\n"                                                      \
    "connections_received_total C 5 abs\n"                                                         \
    "keyspace_hits_total C 3 abs\n"                                                                \
    "expired_time_cap_reached_total C 2 abs\n"                                                     \
    "expire_cycle_cpu_time_seconds_total C 1.5 abs\n"                                              \
    "instantaneous_input_bytes_per_second G 1536\n"                                                \
    "latest_fork_seconds G 0.00025\n"                                                              \
    "error_replies_total C 4 abs\n"                                                                \
    "migrate_cached_sockets G 0\n"                                                                 \
    "connected_slaves G 2\n"                                                                       \
    "connected_slave_offset_bytes{slave_ip=\"127.0.0.1\",slave_port=\"6380\","                     \
    "slave_state=\"online\"} G 123\n"                                                              \
    "connected_slave_lag_seconds{slave_ip=\"127.0.0.1\",slave_port=\"6380\","                      \
    "slave_state=\"online\"} G 1\n"                                                                \
    "connected_slave_offset_bytes{slave_ip=\"::1\",slave_port=\"6381\","                           \
    "slave_state=\"wait_bgsave\"} G 0\n"                                                           \
    "cpu_sys_seconds_total C 1.5 abs\n"                                                            \
    "commands_total{cmd=\"get\"} C 5 abs\n"                                                        \
    "commands_duration_seconds_total{cmd=\"get\"} C 1.2e-05 abs\n"                                 \
    "commands_rejected_calls_total{cmd=\"get\"} C 1 abs\n"                                         \
    "commands_failed_calls_total{cmd=\"get\"} C 2 abs\n"                                           \
    "commands_total{cmd=\"config|get\"} C 1 abs\n"                                                 \
    "commands_duration_seconds_total{cmd=\"config|get\"} C 1e-05 abs\n"                            \
    "errors_total{err=\"ERR\"} C 3 abs\n"                                                          \
    "latency_percentiles_seconds{cmd=\"get\",percentile=\"50\"} G 1.003e-06\n"                     \
    "latency_percentiles_seconds{cmd=\"get\",percentile=\"99\"} G 2.007e-06\n"                     \
    "latency_percentiles_seconds{cmd=\"get\",percentile=\"99.9\"} G 3.001e-06\n"                   \
    "db_keys{db=\"db0\"} G 1\n"                                                                    \
    "db_keys_expiring{db=\"db0\"} G 0\n"                                                           \
    "db_avg_ttl_seconds{db=\"db0\"} G 0\n"                                                         \
    "db_keys{db=\"db1\"} G 10\n"                                                                   \
    "db_keys_expiring{db=\"db1\"} G 2\n"                                                           \
    "db_avg_ttl_seconds{db=\"db1\"} G 1.5\n"                                                       \
    "db_keys_with_expiring_items{db=\"db1\"} G 0\n"

static const struct row info_table[] = {
    {IN(info_fixture), .want = FIXTURE_SAMPLES},
    /* Strings only with the flag: fields in no table keep their name. */
    {IN("redis_version:7.2.4\r\nrole:master\r\nconfig_file:\r\nused_memory_human:1.00K\r\n"), S,
     .want = "redis_version U 0 =\"7.2.4\"\nrole U 0 =\"master\"\nconfig_file U 0 =\"\"\n"
             "used_memory_human U 0 =\"1.00K\"\n"
             /* and at the end redis_exporter's instance_info: the version, the rest labels */
             "instance_info{redis_build_id=\"\",redis_mode=\"\",os=\"\",maxmemory_policy=\"\","
             "tcp_port=\"\",run_id=\"\",process_id=\"\",role=\"master\"} U 0 =\"7.2.4\"\n"},
    {IN("executable:/usr/bin/redis-server\nlistener0:name=tcp,bind=127.0.0.1,port=6379\n"), S,
     .want = "executable U 0 =\"/usr/bin/redis-server\"\n"
             "listener0 U 0 =\"name=tcp,bind=127.0.0.1,port=6379\"\n"},
    {IN("role:master\nuptime_in_days:7\nrun_id:1234\nredis_git_sha1:00000000\n"), .want = ""},
    {IN("run_id:1234\nredis_git_sha1:00000000\n"), S,
     .want = "run_id U 0 =\"1234\"\nredis_git_sha1 U 0 =\"00000000\"\n"},
    /* A replica: the master_* samples carry master_host and master_port. */
    {IN("role:slave\nmaster_host:10.0.0.1\nmaster_port:6379\nmaster_link_status:up\n"
        "master_last_io_seconds_ago:2\nmaster_sync_in_progress:0\nslave_repl_offset:99\n"),
     .want = "master_port U 6379\n"
             "master_link_up{master_host=\"10.0.0.1\",master_port=\"6379\"} G 1\n"
             "master_last_io_seconds_ago{master_host=\"10.0.0.1\",master_port=\"6379\"} G 2\n"
             "master_sync_in_progress{master_host=\"10.0.0.1\",master_port=\"6379\"} G 0\n"
             "slave_repl_offset{master_host=\"10.0.0.1\",master_port=\"6379\"} G 99\n"},
    {IN("master_link_status:down\n"), .want = "master_link_up G 0\n"},
    /* Keyspace. */
    {IN("db15:keys=3,expires=1"),
     .want = "db_keys{db=\"db15\"} G 3\ndb_keys_expiring{db=\"db15\"} G 1\n"},
    {IN("db0:keys=3,expires=1,avg_ttl=10,keys_with_volatile_items=2,cached_keys=1"),
     .want = "db_keys{db=\"db0\"} G 3\ndb_keys_expiring{db=\"db0\"} G 1\n"
             "db_avg_ttl_seconds{db=\"db0\"} G 0.01\ndb_keys_cached{db=\"db0\"} G 1\n"
             "db_keys_with_expiring_items{db=\"db0\"} G 2\n"},
    {IN("db0:keys=1"), .want = "!1 composite field without a needed number\n"},
    {IN("db0:keys=x,expires=0"), .want = "!1 bad number in composite field\n"},
    {IN("db0:keys=1,expires"), .want = "!1 composite field without '='\n"},
    {IN("db0:"), .want = "!1 composite field without a needed number\n"},
    {IN("dbx:5\ndb:6\n"), .want = "dbx U 5\ndb U 6\n"}, /* not keyspace lines */
    /* Commands and errors. */
    {IN("cmdstat_set:usec=1"), .want = "!1 composite field without a needed number\n"},
    {IN("cmdstat_set:calls=x,usec=1"), .want = "!1 bad number in composite field\n"},
    {IN("cmdstat_set:calls=1,usec=2,usec_per_call=junk,weird=1,rejected_calls=0"),
     .want = "commands_total{cmd=\"set\"} C 1 abs\n"
             "commands_duration_seconds_total{cmd=\"set\"} C 2e-06 abs\n"
             "commands_rejected_calls_total{cmd=\"set\"} C 0 abs\n"},
    {IN("errorstat_WRONGTYPE:count=7\nerrorstat_X:count=\n"),
     .want = "errors_total{err=\"WRONGTYPE\"} C 7 abs\n!2 bad number in composite field\n"},
    {IN("cmdstat_:calls=1\n"), S, .want = "cmdstat_ U 0 =\"calls=1\"\n"},
    /* Latency percentiles. */
    {IN("latency_percentiles_usec_ping:p50=0.001"),
     .want = "latency_percentiles_seconds{cmd=\"ping\",percentile=\"50\"} G 1e-09\n"},
    {IN("latency_percentiles_usec_get:p50=1,x99=2"), .want = "!1 bad latency percentile\n"},
    {IN("latency_percentiles_usec_get:p50=1,p=2"), .want = "!1 bad latency percentile\n"},
    {IN("latency_percentiles_usec_get:p50=1,p99=x"), .want = "!1 bad latency percentile\n"},
    {IN("latency_percentiles_usec_get:p50"), .want = "!1 composite field without '='\n"},
    {IN("latency_percentiles_usec_get:"), .want = "!1 composite field without a needed number\n"},
    /* Replicas. */
    {IN("slave0:ip=10.0.0.2,port=6379,state=online,offset=5,lag=x"),
     .want = "!1 bad number in composite field\n"},
    {IN("slave0:127.0.0.1,6380,online"), .want = "!1 composite field without '='\n"},
    {IN("slave0:state=online,offset=5"), .want = "connected_slave_offset_bytes{slave_ip=\"\",slave_"
                                                 "port=\"\",slave_state=\"online\"} G 5\n"},
    /* Broken lines. */
    {IN("nocolon\r\nused_memory:1\r\n"), .want = "!1 no ':'\nmemory_used_bytes G 1\n"},
    {IN(":5"), .want = "!1 empty field name\n"},
    {IN("used_memory:lots"), .want = "!1 not a number\n"},
    {IN("used_memory:"), .want = "!1 not a number\n"},
    {IN("   \t\r\n# Anything\nfoo:1\n"), .want = "foo U 1\n"},
    {IN("  used_memory:7  \n"), .want = "memory_used_bytes G 7\n"},
    {IN(""), .want = ""},
};

static void test_info(void **state)
{
    (void)state;
    TABLE(am_info_parse, info_table);
}

/* With strings, the fixture gives its string fields too, and nothing else changes. */
static void test_info_fixture_strings(void **state)
{
    char *got = run(am_info_parse, info_fixture, sizeof(info_fixture) - 1, true);

    (void)state;
    assert_non_null(strstr(got, "redis_version U 0 =\"7.2.4\"\nredis_mode U 0 =\"standalone\"\n"
                                "uptime_in_seconds G 100\nconfig_file U 0 =\"\"\n"));
    assert_non_null(strstr(got, "role U 0 =\"master\"\n"));
    assert_null(strchr(got, '!'));
    free(got);
}

/* ---- INFO ALL from a real redis-server ----------------------------------------------- */

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

/* Runs redis-cli against port with the arguments in cmd; returns its stdout (freed by the
 * caller) or NULL when it fails. */
static char *cli(int port, const char *cmd)
{
    char line[512], *out = NULL;
    size_t len = 0, n;
    FILE *p;

    snprintf(line, sizeof(line), "redis-cli -h 127.0.0.1 -p %d %s 2>/dev/null", port, cmd);
    p = popen(line, "r");
    assert_non_null(p);
    for (;;) {
        out = realloc(out, len + 4096 + 1);
        assert_non_null(out);
        n = fread(out + len, 1, 4096, p);
        len += n;
        if (n == 0) {
            break;
        }
    }
    out[len] = '\0';
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The sample line of got that starts with prefix (a name and its labels), or NULL. */
static const char *find_sample(const char *got, const char *prefix)
{
    size_t n = strlen(prefix);

    for (const char *l = got; *l != '\0';) {
        const char *nl = strchr(l, '\n');

        if (strncmp(l, prefix, n) == 0 && l[n] == ' ') {
            return l;
        }
        if (nl == NULL) {
            break;
        }
        l = nl + 1;
    }
    return NULL;
}

/* The value of the sample prefix in got, which must be there with kind. */
static double sample_value(const char *got, const char *prefix, char kind)
{
    const char *l = find_sample(got, prefix);

    if (l == NULL) {
        fail_msg("no sample %s in:\n%s", prefix, got);
    }
    l += strlen(prefix) + 1;
    assert_int_equal(l[0], kind);
    return strtod(l + 2, NULL);
}

static void test_info_live(void **state)
{
    char dir[] = "/tmp/test_am_text.XXXXXX", sport[16], *info = NULL, *got = NULL, *r;
    struct timespec nap = {0, 20 * 1000 * 1000};
    pid_t parent = getpid(), pid;
    int port, status;

    (void)state;
    if (system("command -v redis-server >/dev/null && command -v redis-cli >/dev/null") != 0) {
        print_message("[  SKIPPED ] INFO ALL from a real server: needs redis-server and "
                      "redis-cli\n");
        skip();
    }
    assert_non_null(mkdtemp(dir));
    port = free_port();
    snprintf(sport, sizeof(sport), "%d", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || fd < 0) {
            _exit(126);
        }
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("redis-server", "redis-server", "--port", sport, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 250 && (r = cli(port, "PING")) == NULL; i++) {
        nanosleep(&nap, NULL);
    }
    assert_non_null(r);
    free(r);
    /* Keys in two databases, one with a TTL; a GET; an error (INCR on a string). */
    const char *cmds[] = {"SET k v", "GET k", "INCR k", "-n 1 SET k2 v EX 1000", "-n 1 SET k3 v"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        free(cli(port, cmds[i])); /* INCR's error reply may make redis-cli exit 1 */
    }
    info = cli(port, "INFO ALL");
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    assert_non_null(info);
    assert_non_null(strstr(info, "\r\n")); /* redis-cli passes Redis' own line ends on */

    /* A real INFO ALL: no line refused. */
    got = run(am_info_parse, info, strlen(info), false);
    if (strchr(got, '!') != NULL) {
        fail_msg("refused lines in INFO ALL:\n%s\n--- INFO ---\n%s", got, info);
    }
    assert_true(sample_value(got, "db_keys{db=\"db0\"}", 'G') == 1);
    assert_true(sample_value(got, "db_keys_expiring{db=\"db0\"}", 'G') == 0);
    assert_true(sample_value(got, "db_keys{db=\"db1\"}", 'G') == 2);
    assert_true(sample_value(got, "db_keys_expiring{db=\"db1\"}", 'G') == 1);
    /* Redis samples the TTLs in its expire cycle: 0 until it has run. */
    assert_true(sample_value(got, "db_avg_ttl_seconds{db=\"db1\"}", 'G') >= 0);
    assert_true(sample_value(got, "commands_total{cmd=\"set\"}", 'C') == 3);
    assert_true(sample_value(got, "commands_total{cmd=\"get\"}", 'C') == 1);
    assert_true(sample_value(got, "commands_total{cmd=\"incr\"}", 'C') == 1);
    assert_true(sample_value(got, "commands_failed_calls_total{cmd=\"incr\"}", 'C') == 1);
    assert_true(sample_value(got, "commands_rejected_calls_total{cmd=\"get\"}", 'C') == 0);
    assert_true(sample_value(got, "commands_duration_seconds_total{cmd=\"set\"}", 'C') >= 0);
    assert_true(sample_value(got, "errors_total{err=\"ERR\"}", 'C') == 1);
    assert_true(
        sample_value(got, "latency_percentiles_seconds{cmd=\"get\",percentile=\"50\"}", 'G') >= 0);
    assert_true(sample_value(got, "latency_percentiles_seconds{cmd=\"set\",percentile=\"99.9\"}",
                             'G') >= 0);
    assert_true(sample_value(got, "memory_used_bytes", 'G') > 0);
    assert_true(sample_value(got, "uptime_in_seconds", 'G') >= 0);
    assert_true(sample_value(got, "connections_received_total", 'C') >= 7);
    assert_true(sample_value(got, "commands_processed_total", 'C') >= 6);
    assert_true(sample_value(got, "keyspace_hits_total", 'C') >= 1);
    assert_true(sample_value(got, "error_replies_total", 'C') == 1);
    assert_true(sample_value(got, "rdb_last_save_timestamp_seconds", 'G') > 1e9);
    assert_true(sample_value(got, "rdb_last_bgsave_status", 'G') == 1);
    assert_true(sample_value(got, "cpu_sys_seconds_total", 'C') >= 0);
    assert_true(sample_value(got, "connected_slaves", 'G') == 0);
    assert_null(find_sample(got, "uptime_in_days"));
    assert_null(find_sample(got, "used_memory"));
    free(got);

    /* With strings: the version and the role too, and still nothing refused. */
    got = run(am_info_parse, info, strlen(info), true);
    assert_null(strchr(got, '!'));
    assert_non_null(strstr(got, "\nrole U 0 =\"master\"\n"));
    assert_non_null(strstr(got, "redis_version U 0 =\""));
    free(got);
    free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_kv_number_bound),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_json_name_bound),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_info_fixture_strings),
        cmocka_unit_test(test_info_live),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
