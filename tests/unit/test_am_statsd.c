/* test_am_statsd.c — table test of the statsd parser: types, dialects, values, refusals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "am_statsd.h"

/* Everything the parser said, as text: one line per sample or refusal. */
struct seen {
    char out[16384];
    size_t len;
    size_t samples;
    const char *in; /* the input, to tell its pointers from scratch ones */
    size_t in_len;
};

static void put(struct seen *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(w->out + w->len, sizeof(w->out) - w->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(w->out) - w->len);
    w->len += (size_t)n;
}

/* Whole numbers as such ("320"), others as the shortest %g that reads back as v ("0.1", not
 * "0.10000000000000001"). */
static void put_num(struct seen *w, double v)
{
    char tmp[64];

    if (v == floor(v) && fabs(v) < 1e17) {
        put(w, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v || isnan(v)) {
            break;
        }
    }
    put(w, "%s", tmp);
}

static const char *kind_name(const struct am_sample *s)
{
    switch (s->kind) {
    case AM_KIND_COUNTER:
        return "c";
    case AM_KIND_GAUGE:
        return s->relative ? "g+" : "g";
    case AM_KIND_TIMER:
        return "ms";
    case AM_KIND_HISTOGRAM:
        return "h";
    case AM_KIND_DISTRIBUTION:
        return "d";
    case AM_KIND_SET:
        return "s";
    default:
        return "?";
    }
}

/* "KIND NAME VALUE[ @RATE][ {k=v,...}]", KIND "g+" for a relative gauge, VALUE a set's
 * member in quotes. */
static void on_sample(void *arg, const struct am_sample *s)
{
    struct seen *w = arg;

    assert_true(s->name_len > 0);
    assert_true(s->nlabels <= AM_LABELS_MAX);
    assert_true(s->rate > 0 && s->rate <= 1);
    assert_false(s->counter_absolute);
    assert_null(s->help);
    assert_true(s->relative == false || s->kind == AM_KIND_GAUGE);
    put(w, "%s %.*s ", kind_name(s), (int)s->name_len, s->name);
    if (s->kind == AM_KIND_SET) {
        assert_true(s->value == 0);
        put(w, "'%.*s'", (int)s->set_member_len, s->set_member);
    } else {
        assert_null(s->set_member);
        put_num(w, s->value);
    }
    if (s->rate != 1) {
        put(w, " @");
        put_num(w, s->rate);
    }
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct am_label *l = &s->labels[i];

        put(w, "%s%.*s=%.*s", i == 0 ? " {" : ",", (int)l->name_len, l->name,
            (int)l->value_len, l->value);
    }
    put(w, "%s\n", s->nlabels > 0 ? "}" : "");
    w->samples++;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    put(arg, "!%zu %s\n", line, why);
}

/* Parses in[0..n) from an allocation of exactly n bytes, so that a sanitizer sees any read
 * past the end, and checks the count returned. */
static const char *run(struct seen *w, const char *in, size_t n)
{
    char *copy = malloc(n + 1);
    size_t got;

    assert_non_null(copy);
    memcpy(copy, in, n);
    memset(w, 0, sizeof(*w));
    w->in = copy;
    w->in_len = n;
    got = am_statsd_parse(copy, n, on_sample, on_reject, w);
    assert_int_equal(got, w->samples);
    free(copy);
    return w->out;
}

struct row {
    const char *in;
    const char *want; /* samples and refusals as run() writes them; "" for nothing */
};

#define TAGS32                                                                                     \
    "t1,t2,t3,t4,t5,t6,t7,t8,t9,t10,t11,t12,t13,t14,t15,t16,t17,t18,t19,t20,t21,t22,t23,t24,t25,"  \
    "t26,t27,t28,t29,t30,t31,t32"

static const struct row table[] = {
    /* ---- every type ---- */
    {"api.requests:1|c", "c api.requests 1\n"},
    {"temp:21.5|g", "g temp 21.5\n"},
    {"db.query:320|ms", "ms db.query 320\n"},
    {"resp.size:512|h", "h resp.size 512\n"},
    {"latency:0.25|d", "d latency 0.25\n"},
    {"users:alice|s", "s users 'alice'\n"},
    {"users:1234|s", "s users '1234'\n"},
    {"ratio:0.1|g", "g ratio 0.1\n"},
    {"big:9007199254740993|g", "g big 9007199254740992\n"},
    {"exp:1e3|c", "c exp 1000\n"},
    {"exp:2.5E-3|ms", "ms exp 0.0025\n"},
    {"dot:.5|g", "g dot 0.5\n"},
    {"dot:5.|g", "g dot 5\n"},
    {"lead:007|c", "c lead 7\n"},
    {"frac:0.000001|h", "h frac 1e-06\n"},
    /* ---- unknown types and values ---- */
    {"a:1|x", "!1 unknown type\n"},
    {"a:1|C", "!1 unknown type\n"},
    {"a:1|msx", "!1 unknown type\n"},
    {"a:1|", "!1 unknown type\n"},
    {"a:1|c:2|c", "!1 unknown type\n"},
    {"a:|c", "!1 bad value\n"},
    {"a:abc|c", "!1 bad value\n"},
    {"a:1.2.3|g", "!1 bad value\n"},
    {"a:0x10|g", "!1 bad value\n"},
    {"a: 1|g", "!1 bad value\n"},
    {"a:1 |g", "!1 bad value\n"},
    {"a:-|g", "!1 bad value\n"},
    {"a:.|g", "!1 bad value\n"},
    {"a:1e|g", "!1 bad value\n"},
    {"a:1e400|g", "!1 bad value\n"},
    {"a:|s", "!1 bad value\n"},
    /* ---- structure ---- */
    {"a", "!1 no value\n"},
    {"a:1", "!1 no type\n"},
    {":1|c", "!1 empty name\n"},
    {"a=1|c", "!1 no value\n"},
    /* Trailing garbage makes the type or a field unknown. */
    {"a:1|c junk", "!1 unknown type\n"},
    {"a:1|c|junk", "!1 bad field\n"},
    {"a:1|c|", "!1 bad field\n"},
    {"a:1|c||#x:y", "!1 bad field\n"},
    /* ---- signs: relative gauges; counters as statsd_exporter keeps them ---- */
    {"g:+3|g", "g+ g 3\n"},
    {"g:-3|g", "g+ g -3\n"},
    {"g:-0|g", "g+ g -0\n"},
    {"g:+0|g", "g+ g 0\n"},
    {"g:0|g", "g g 0\n"},
    {"c:-5|c", "!1 negative counter\n"},
    {"c:-0|c", "c c -0\n"},
    {"c:+5|c", "c c 5\n"},
    {"t:-5|ms", "ms t -5\n"},
    {"h:-1.5|h", "h h -1.5\n"},
    /* ---- NaN and Inf, per kind ---- */
    {"g:NaN|g", "g g nan\n"},
    {"g:inf|g", "g g inf\n"},
    {"g:Infinity|g", "g g inf\n"},
    {"g:+Inf|g", "!1 relative gauge not finite\n"},
    {"g:-inf|g", "!1 relative gauge not finite\n"},
    {"g:-nan|g", "!1 relative gauge not finite\n"},
    {"c:nan|c", "!1 counter is NaN\n"},
    {"c:inf|c", "!1 counter is infinite\n"},
    {"c:-inf|c", "!1 negative counter\n"},
    {"t:inf|ms", "!1 observation not finite\n"},
    {"h:NAN|h", "!1 observation not finite\n"},
    {"d:-Inf|d", "!1 observation not finite\n"},
    {"s:nan|s", "s s 'nan'\n"},
    {"g:nan(1)|g", "!1 bad value\n"},
    /* ---- sample rates ---- */
    {"a:1|c|@0.5", "c a 1 @0.5\n"},
    {"a:1|c|@1", "c a 1\n"},
    {"a:3|ms|@0.1", "ms a 3 @0.1\n"},
    {"a:1|g|@0.25", "g a 1 @0.25\n"},
    {"a:1|c|@1e-3", "c a 1 @0.001\n"},
    {"a:1|c|@0", "!1 bad sample rate\n"},
    {"a:1|c|@1.5", "!1 bad sample rate\n"},
    {"a:1|c|@-0.5", "!1 bad sample rate\n"},
    {"a:1|c|@nan", "!1 bad sample rate\n"},
    {"a:1|c|@", "!1 bad sample rate\n"},
    {"a:1|c|@x", "!1 bad sample rate\n"},
    {"a:1|c|@0.5|@0.5", "!1 bad sample rate\n"},
    /* ---- DogStatsD tags and fields ---- */
    {"a:1|c|#env:prod,region:eu", "c a 1 {env=prod,region=eu}\n"},
    {"a:1|c|#bare", "c a 1 {bare=}\n"},
    {"a:1|c|#url:http://x:80", "c a 1 {url=http://x:80}\n"},
    {"a:1|c|#a:1,,b:2,", "c a 1 {a=1,b=2}\n"},
    {"a:1|c|#", "c a 1\n"},
    {"a:1|c|#:v,k:", "c a 1 {=v,k=}\n"},
    {"a:1|c|@0.5|#env:prod", "c a 1 @0.5 {env=prod}\n"},
    {"a:1|c|#env:prod|@0.5", "c a 1 @0.5 {env=prod}\n"},
    {"a:1|c|#x:1|#y:2", "c a 1 {x=1,y=2}\n"},
    {"a:1|c|#env:prod|c:abc123", "c a 1 {env=prod}\n"},
    {"a:1|c|c:abc|e:it-1|card:low", "c a 1\n"},
    {"a:1|c|T1656581400", "c a 1\n"},
    {"a:1|c|T", "!1 bad timestamp\n"},
    {"a:1|c|T12x", "!1 bad timestamp\n"},
    {"a:1|c|C:abc", "!1 bad field\n"},
    {"a:1|c|#" TAGS32, "c a 1 {t1=,t2=,t3=,t4=,t5=,t6=,t7=,t8=,t9=,t10=,t11=,t12=,t13=,t14=,"
                       "t15=,t16=,t17=,t18=,t19=,t20=,t21=,t22=,t23=,t24=,t25=,t26=,t27=,t28=,"
                       "t29=,t30=,t31=,t32=}\n"},
    {"a:1|c|#" TAGS32 ",t33", "!1 too many labels\n"},
    {"a:1|c|#,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,", "c a 1\n"},
    /* ---- InfluxDB ---- */
    {"a,env=prod,region=eu:1|c", "c a 1 {env=prod,region=eu}\n"},
    {"a,bare:1|c", "c a 1 {bare=}\n"},
    {"a,k=v=w:1|g", "g a 1 {k=v=w}\n"},
    {"a,:1|c", "c a 1\n"},
    {",env=prod:1|c", "!1 empty name\n"},
    /* ---- Librato ---- */
    {"a#env=prod,region=eu:1|c", "c a 1 {env=prod,region=eu}\n"},
    {"a#k=v#w:1|c", "c a 1 {k=v#w}\n"},
    {"#env=prod:1|c", "!1 empty name\n"},
    /* ---- SignalFX ---- */
    {"a[env=prod,region=eu]:1|c", "c a 1 {env=prod,region=eu}\n"},
    {"[env=prod]a.b:1|c", "c a.b 1 {env=prod}\n"},
    {"a.[env=prod]b:1|c", "c a.b 1 {env=prod}\n"},
    {"a[]:1|c", "c a 1\n"},
    {"[env=prod]:1|c", "!1 empty name\n"},
    {"a[env=prod:1|c", "!1 bad SignalFX tags\n"},
    {"a]env=prod[:1|c", "!1 bad SignalFX tags\n"},
    {"a[x=1][y=2]:1|c", "!1 bad SignalFX tags\n"},
    {"a[x=1]]:1|c", "!1 bad SignalFX tags\n"},
    /* ---- mixed dialects: labels from each, SignalFX first, DogStatsD last ---- */
    {"a,env=prod:1|c|#region:eu", "c a 1 {env=prod,region=eu}\n"},
    {"a#env=prod:1|ms|#region:eu", "ms a 1 {env=prod,region=eu}\n"},
    {"a[x=1],env=prod:1|c|#region:eu", "c a 1 {x=1,env=prod,region=eu}\n"},
    {"a,env=prod[x=1]:1|c", "c a 1 {x=1,env=prod}\n"},
    {"a.[x=1]b,env=prod:2|g", "g a.b 2 {x=1,env=prod}\n"},
    {"a[x=1,y=2]#k=v:1|c", "c a 1 {x=1,y=2,k=v}\n"},
    /* ---- DogStatsD multi-value ---- */
    {"a:1:2:3|h", "h a 1\nh a 2\nh a 3\n"},
    {"a:1:2.5|ms|@0.5|#env:prod", "ms a 1 @0.5 {env=prod}\nms a 2.5 @0.5 {env=prod}\n"},
    {"a:1:2|c", "c a 1\nc a 2\n"},
    {"a:+1:-2:3|g", "g+ a 1\ng+ a -2\ng a 3\n"},
    {"a:1:x:3|h", "!1 bad value\n"},
    {"a:1::3|h", "!1 bad value\n"},
    {"a:1:2:|h", "!1 bad value\n"},
    {"a:1:-2|c", "!1 negative counter\n"},
    {"a:1:inf|d", "!1 observation not finite\n"},
    {"a:x:y|s", "s a 'x:y'\n"},
    {"ip:fe80::1|s", "s ip 'fe80::1'\n"},
    /* ---- events, service checks, empty lines, CRLF ---- */
    {"_e{5,4}:title|text|#env:prod", ""},
    {"_e{", ""},
    {"_sc|db.up|0|#env:prod", ""},
    {"_sc", "!1 no value\n"},
    {"_e:1|c", "c _e 1\n"},
    {"", ""},
    {"\n\n\r\n", ""},
    {"a:1|c\r\n", "c a 1\n"},
    {"a:1|c\r\r\n", "!1 unknown type\n"},
    {"a:1|c\r", "c a 1\n"},
    {"\r", ""},
    /* ---- packets: one line's refusal never costs the others ---- */
    {"a:1|c\nb:2|g\nc:3|ms", "c a 1\ng b 2\nms c 3\n"},
    {"a:1|c\nbad\nc:3|ms\n", "c a 1\n!2 no value\nms c 3\n"},
    {"a:1|c\r\nb:x|g\r\n\r\n_sc|x|0\r\nc:3|ms|#k:v\r\n",
     "c a 1\n!2 bad value\nms c 3 {k=v}\n"},
    {"\n\nx\n\ny:1|s\n", "!3 no value\ns y '1'\n"},
    {"a:1:2|h\nb:1|z\nc,k=v:1|c|#j:w", "h a 1\nh a 2\n!2 unknown type\nc c 1 {k=v,j=w}\n"},
    {"_e{1,1}:a|b\na:1|c", "c a 1\n"},
    /* ---- odd bytes are the mapping's business ---- */
    {"a b:1|c", "c a b 1\n"},
    {"a|b:1|c", "c a|b 1\n"},
    {"é.ü:1|c|#ä:ö", "c é.ü 1 {ä=ö}\n"},
};

static void expect(size_t row, const char *in, size_t n, const char *want)
{
    struct seen w;

    if (strcmp(run(&w, in, n), want) != 0) {
        fail_msg("row %zu \"%.*s\":\n got: %s\nwant: %s", row, (int)n, in, w.out, want);
    }
}

/* Each row as it is, then ending in "\n", "\r" and "\r\n", which change nothing. */
static void test_table(void **state)
{
    (void)state;
    assert_true(sizeof(table) / sizeof(table[0]) >= 80);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct row *r = &table[i];
        size_t n = strlen(r->in);
        char buf[1024];

        expect(i, r->in, n, r->want);
        if (n > 0 && r->in[n - 1] == '\r') {
            continue;
        }
        assert_true(n + 2 < sizeof(buf));
        memcpy(buf, r->in, n);
        memcpy(buf + n, "\r\n", 2);
        expect(i, buf, n + 2, r->want);
        expect(i, buf, n + 1, r->want); /* "\r" alone: the last line's, dropped */
        buf[n] = '\n';
        expect(i, buf, n + 1, r->want);
    }
}

/* The name field may be 4096 bytes, tags included; a SignalFX group in its middle puts the
 * name together in scratch. */
static void test_long_names(void **state)
{
    enum { MAX = 4096 };
    static char in[MAX + 64], want[MAX + 64];
    struct seen w;

    (void)state;
    memset(in, 'n', MAX);
    memcpy(in + MAX, ":1|c", 4);
    memset(want, 'n', MAX);
    memcpy(want, "c ", 2);
    memset(want + 2, 'n', MAX);
    memcpy(want + 2 + MAX, " 1\n", 4);
    assert_string_equal(run(&w, in, MAX + 4), want);

    memset(in, 'n', MAX + 1);
    memcpy(in + MAX + 1, ":1|c", 4);
    assert_string_equal(run(&w, in, MAX + 5), "!1 name too long\n");

    /* "nnn...[k=v]nnn...:1|c": 4096 bytes in all, 4091 of name from two places. */
    memset(in, 'n', MAX);
    memcpy(in + 100, "[k=v]", 5);
    memcpy(in + MAX, ":1|c", 4);
    memset(want + 2, 'n', MAX - 5);
    memcpy(want + 2 + MAX - 5, " 1 {k=v}\n", 10);
    assert_string_equal(run(&w, in, MAX + 4), want);
}

/* 32 labels from all four dialects together pass; one more is refused. */
static void test_label_limit(void **state)
{
    char in[512], want[1024];
    size_t n = 0, m = 0;
    struct seen w;

    (void)state;
    n += (size_t)sprintf(in + n, "a[s0=0,s1=1,s2=2,s3=3,s4=4,s5=5,s6=6,s7=7]");
    n += (size_t)sprintf(in + n, "#");
    for (int i = 0; i < 12; i++) {
        n += (size_t)sprintf(in + n, "%si%d=%d", i ? "," : "", i, i);
    }
    n += (size_t)sprintf(in + n, ":1|c|#");
    for (int i = 0; i < 12; i++) {
        n += (size_t)sprintf(in + n, "%sd%d:%d", i ? "," : "", i, i);
    }
    m += (size_t)sprintf(want + m, "c a 1 {s0=0,s1=1,s2=2,s3=3,s4=4,s5=5,s6=6,s7=7");
    for (int i = 0; i < 12; i++) {
        m += (size_t)sprintf(want + m, ",i%d=%d", i, i);
    }
    for (int i = 0; i < 12; i++) {
        m += (size_t)sprintf(want + m, ",d%d=%d", i, i);
    }
    sprintf(want + m, "}\n");
    assert_string_equal(run(&w, in, n), want);
    n += (size_t)sprintf(in + n, ",one:more");
    assert_string_equal(run(&w, in, n), "!1 too many labels\n");
}

/* Numbers read without strtod equal strtod's, bit for bit: random decimals of every shape
 * near the fast path's limits (19 digits, 2^53, 22 after the point). */
static void test_numbers_match_strtod(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    struct seen w;

    (void)state;
    for (int k = 0; k < 200000; k++) {
        char num[64], in[96];
        size_t n = 0, len;
        double want, got;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x & 1) {
            num[n++] = (x & 2) ? '-' : '+';
        }
        len = (x >> 8) % 24;
        for (size_t i = 0; i < len; i++) {
            num[n++] = (char)('0' + (x >> (i % 50)) % 10);
        }
        if (x & 4) {
            size_t point = (x >> 16) % (n + 1);

            if (point > 0 && (num[point - 1] == '-' || num[point - 1] == '+')) {
                point = 0;
            }
            memmove(num + point + 1, num + point, n - point);
            num[point] = '.';
            n++;
        }
        num[n] = '\0';
        want = strtod(num, NULL);
        n = (size_t)snprintf(in, sizeof(in), "g:%s|h", num);
        run(&w, in, n);
        if (strncmp(w.out, "h g ", 4) != 0) {
            continue; /* not a number ("+", ".", "-."): refused, as is right */
        }
        /* Printed with 17 digits, a double reads back to itself. */
        assert_true(w.out[w.len - 1] == '\n');
        got = strtod(w.out + 4, NULL);
        if (memcmp(&got, &want, sizeof(got)) != 0 && !(got == 0 && want == 0)) {
            fail_msg("%s: got %.17g want %.17g", num, got, want);
        }
        /* The sign of zero too: the text shows it. */
        assert_true(signbit(want) == (w.out[4] == '-'));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_label_limit),
        cmocka_unit_test(test_numbers_match_strtod),
    };

    return cmocka_run_group_tests_name("am_statsd", tests, NULL, NULL);
}
