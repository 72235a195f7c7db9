/* test_am_expo.c — exposition: Accept negotiation, gzip, shortest round-trip numbers, and
 * documents of every type in both formats, checked by promtool and the OpenMetrics parser. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <zlib.h>

#include "am_expo.h"
#include "am_store.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- negotiation ---------------------------------------------------------------------- */

struct accept_row {
    const char *accept;
    enum am_format want;
};

#define TXT AM_FORMAT_TEXT
#define OM AM_FORMAT_OPENMETRICS

static const struct accept_row accept_table[] = {
    {NULL, TXT},
    {"", TXT},
    {" , ,", TXT},
    {"*/*", TXT},
    {"text/plain", TXT},
    {"text/plain; version=0.0.4", TXT},
    {"text/*", TXT},
    {"application/json", TXT},
    {"application/openmetrics-text", OM},
    {"application/openmetrics-text; version=1.0.0", OM},
    {"application/openmetrics-text;version=\"1.0.0\"", OM},
    {"application/openmetrics-text; charset=utf-8; version=1.0.0", OM},
    {"APPLICATION/OpenMetrics-Text ; Version=1.0.0 ; Q=1", OM},
    {",, application/openmetrics-text ,,", OM},
    /* Another version is not ours. */
    {"application/openmetrics-text;version=0.0.1", TXT},
    {"application/openmetrics-text;version=2.0.0", TXT},
    {"application/openmetrics-text;version=1.0", TXT},
    /* What Prometheus 2.42 sends, and what later ones send. */
    {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
     OM},
    {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
     "q=0.7,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
     "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
     OM},
    /* Prometheus' scrape_protocols: [PrometheusText0.0.4] */
    {"text/plain;version=0.0.4;q=0.5,*/*;q=0.1", TXT},
    /* q-values: the higher wins; at equal q OpenMetrics does. */
    {"text/plain;q=0.9,application/openmetrics-text;q=0.5", TXT},
    {"application/openmetrics-text;q=0.5,text/plain;q=0.5", OM},
    {"text/plain, application/openmetrics-text", OM},
    {"application/openmetrics-text;q=0.2,*/*;q=0.1", OM},
    {"application/openmetrics-text;q=0.1,*/*", TXT},
    {"application/openmetrics-text;q=0.1,text/*", TXT},
    {"application/openmetrics-text;q=0", TXT},
    {"application/openmetrics-text;q=0.000", TXT},
    {"application/openmetrics-text;q=abc", TXT},
    {"application/openmetrics-text;q=", TXT},
    {"application/openmetrics-text;q=1.5", OM},
    {"application/openmetrics-text;q=0.001", OM},
    {"text/plain;q=0,application/openmetrics-text;q=0.001", OM},
    /* text/plain of another version does not count against OpenMetrics. */
    {"application/openmetrics-text;q=0.5,text/plain;version=1.0.0", OM},
    /* A quoted parameter may hold separators. */
    {"text/plain;x=\"a,b;q=0\";q=0.1,application/openmetrics-text;q=0.2", OM},
    {"application/openmetrics-text;x=\"a\\\"b,c\";q=0.3,text/plain;q=0.2", OM},
    /* A browser. */
    {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", TXT},
    {"application/*", TXT},
    {"application/openmetrics-textx", TXT},
    {"application/openmetrics", TXT},
};

static void test_negotiate(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(accept_table); i++) {
        const struct accept_row *r = &accept_table[i];
        enum am_format got = am_expo_negotiate(r->accept);

        if (got != r->want) {
            fail_msg("row %zu: Accept \"%s\": got %d want %d", i, r->accept ? r->accept : "(null)",
                     (int)got, (int)r->want);
        }
    }
}

static void test_content_type(void **state)
{
    (void)state;
    assert_string_equal(am_expo_content_type(AM_FORMAT_TEXT),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(am_expo_content_type(AM_FORMAT_OPENMETRICS),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

struct gzip_row {
    const char *accept_encoding;
    bool want;
};

static const struct gzip_row gzip_table[] = {
    {NULL, false},
    {"", false},
    {"gzip", true},
    {"GZip", true},
    {" gzip ", true},
    {"x-gzip", true},
    {"gzip;q=0", false},
    {"gzip; q=0.000", false},
    {"gzip ; Q=0", false},
    {"gzip;q=0.5", true},
    {"gzip;q=0.001", true},
    {"gzip;q=abc", false},
    {"deflate, gzip;q=1.0, *;q=0.5", true},
    {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
    {"gzip, deflate, br", true},
    {"deflate", false},
    {"deflate, br", false},
    {"identity", false},
    {"gzipx", false},
    {"xgzip", false},
    {"*", true},
    {"*;q=0", false},
    {"*;q=0.1", true},
    {"gzip;q=0, *", false},
    {"*, gzip;q=0", false},
    {"*;q=0, gzip", true},
    {"identity;q=1, *;q=0", false},
    {",,gzip,,", true},
};

static void test_wants_gzip(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(gzip_table); i++) {
        const struct gzip_row *r = &gzip_table[i];

        if (am_expo_wants_gzip(r->accept_encoding) != r->want) {
            fail_msg("row %zu: Accept-Encoding \"%s\": want %s", i,
                     r->accept_encoding ? r->accept_encoding : "(null)", r->want ? "gzip" : "none");
        }
    }
}

/* ---- numbers -------------------------------------------------------------------------- */

struct double_row {
    double v;
    const char *want;    /* sample values */
    const char *want_om; /* OpenMetrics label values */
};

static const struct double_row double_table[] = {
    {0.0, "0", "0.0"},
    {-0.0, "-0", "-0.0"},
    {1, "1", "1.0"},
    {42, "42", "42.0"},
    {-7, "-7", "-7.0"},
    {10, "10", "10.0"},
    {1e6, "1000000", "1000000.0"},
    {1e15, "1000000000000000", "1000000000000000.0"},
    {9007199254740992.0, "9007199254740992", "9007199254740992.0"},
    {-9007199254740992.0, "-9007199254740992", "-9007199254740992.0"},
    {9007199254740994.0, "9007199254740994", "9007199254740994"},
    {1e16, "1e+16", "1e+16"},
    {1e21, "1e+21", "1e+21"},
    {123456789012345678901.0, "1.2345678901234568e+20", "1.2345678901234568e+20"},
    {18446744073709551616.0, "1.8446744073709552e+19", "1.8446744073709552e+19"},
    {0.1, "0.1", "0.1"},
    {-0.25, "-0.25", "-0.25"},
    {0.005, "0.005", "0.005"},
    {0.01, "0.01", "0.01"},
    {0.025, "0.025", "0.025"},
    {2.5, "2.5", "2.5"},
    {100.5, "100.5", "100.5"},
    {0.99, "0.99", "0.99"},
    {0.999, "0.999", "0.999"},
    {123456.789, "123456.789", "123456.789"},
    {0.0001, "0.0001", "0.0001"},
    {0.00012, "0.00012", "0.00012"},
    {0.00009, "9e-05", "9e-05"},
    {1.2e-05, "1.2e-05", "1.2e-05"},
    {1e-07, "1e-07", "1e-07"},
    {0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"},
    {1.0 / 3, "0.3333333333333333", "0.3333333333333333"},
    {2.0 / 3, "0.6666666666666666", "0.6666666666666666"},
    {999999999999999.9, "999999999999999.9", "999999999999999.9"},
    {1000000000000000.5, "1000000000000000.5", "1000000000000000.5"},
    {12345678.123456789, "12345678.12345679", "12345678.12345679"},
    {DBL_MAX, "1.7976931348623157e+308", "1.7976931348623157e+308"},
    {-DBL_MAX, "-1.7976931348623157e+308", "-1.7976931348623157e+308"},
    {DBL_MIN, "2.2250738585072014e-308", "2.2250738585072014e-308"},
    {4.9406564584124654e-324, "5e-324", "5e-324"},
    {2.5e-323, "2.5e-323", "2.5e-323"},
    {1e-320, "1e-320", "1e-320"},
    {INFINITY, "+Inf", "+Inf"},
    {-INFINITY, "-Inf", "-Inf"},
    {NAN, "NaN", "NaN"},
};

static void test_double_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(double_table); i++) {
        const struct double_row *r = &double_table[i];
        char buf[32];
        size_t n;

        n = am_expo_double(buf, r->v, false);
        if (strcmp(buf, r->want) != 0 || n != strlen(buf)) {
            fail_msg("row %zu: %.17g: got \"%s\" (%zu) want \"%s\"", i, r->v, buf, n, r->want);
        }
        n = am_expo_double(buf, r->v, true);
        if (strcmp(buf, r->want_om) != 0 || n != strlen(buf)) {
            fail_msg("row %zu: %.17g om: got \"%s\" want \"%s\"", i, r->v, buf, r->want_om);
        }
    }
}

/* What the header promises, the slow way: integers up to 2^53 plainly, else the first of
 * %.1g .. %.17g that reads back. */
static void reference_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (fabs(v) <= 9007199254740992.0 && v == floor(v)) {
        snprintf(buf, size, "%.0f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, size, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) {
                break;
            }
        }
    }
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void check_double(double v)
{
    char got[32], want[64];
    size_t n;
    double back;

    reference_double(want, sizeof(want), v);
    for (int om = 0; om <= 1; om++) {
        memset(got, 0x55, sizeof(got));
        n = am_expo_double(got, v, om);
        if (om && fabs(v) <= 9007199254740992.0 && v == floor(v)) {
            strcat(want, ".0"); /* OpenMetrics label values: "1.0" */
        }
        if (n >= sizeof(got) || strlen(got) != n || strcmp(got, want) != 0) {
            fail_msg("%a (%.17g)%s: got \"%.32s\" want \"%s\"", v, v, om ? " om" : "", got, want);
        }
        if (!isnan(v) && !isinf(v)) {
            back = strtod(got, NULL);
            if (memcmp(&back, &v, sizeof(v)) != 0) {
                fail_msg("%a: \"%s\" reads back as %a", v, got, back);
            }
        }
    }
}

/* Random doubles of every kind read back bit for bit and match the slow reference: any bit
 * pattern; short decimals (what the fast path is for) of up to 17 digits at every scale;
 * neighbours of those; integers near 2^53. */
static void test_double_random(void **state)
{
    uint64_t x = 0x2545f4914f6cdd1dULL;

    (void)state;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = splitmix(&x);
        double v;

        memcpy(&v, &bits, sizeof(v));
        check_double(v);
    }
    for (int i = 0; i < 40000; i++) {
        uint64_t r = splitmix(&x);
        unsigned digits = 1 + (unsigned)(r % 17), k = (unsigned)((r >> 8) % 23);
        uint64_t m = splitmix(&x) % 100000000000000000ULL;
        uint64_t lim = 1;
        double v;

        for (unsigned d = 0; d < digits; d++) {
            lim *= 10;
        }
        m %= lim;
        v = (double)m / pow(10, k);
        if ((r >> 20) & 1) {
            v = -v;
        }
        check_double(v);
        check_double(nextafter(v, INFINITY));
        check_double(nextafter(v, -INFINITY));
    }
    for (int i = -2000; i <= 2000; i++) {
        check_double(9007199254740992.0 + i);
        check_double(1e15 + i * 0.25);
        check_double(i * 0.001);
        check_double(i / 7.0);
    }
    /* Log-uniform over the fast paths' range, 16 and 17 digits mostly. */
    for (int i = 0; i < 30000; i++) {
        double u = (double)(splitmix(&x) >> 11) / 9007199254740992.0;
        double v = pow(10, u * 23 - 8);

        check_double(i & 1 ? -v : v);
    }
    /* Powers of two: the next double down is nearer than the next one up. */
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1, e);

        check_double(v);
        check_double(nextafter(v, 0));
        check_double(nextafter(v, INFINITY));
        check_double(v * 1.5);
    }
    for (int e = -330; e <= 310; e++) {
        check_double(pow(10, e));
        check_double(5 * pow(10, e));
        check_double(nextafter(pow(10, e), 0));
    }
}

/* ---- a store, filled from a table ----------------------------------------------------- */

/* A whole histogram or summary at once (SET_HISTOGRAM, SET_SUMMARY). */
struct whole {
    const double *bounds, *counts, *qvalues;
    size_t n;
    double count, sum;
};

/* One update: labels as "name=value" pairs joined by '|'. */
struct upd {
    const char *name;
    const struct am_family_spec *spec;
    enum am_op op;
    const char *labels;
    double value;
    uint64_t weight; /* 0: 1 */
    const char *str;
    const struct whole *whole;
    int64_t at_ms;
};

#define U(n, sp, o, l, ...)                                                                        \
    {                                                                                              \
        .name = (n), .spec = (sp), .op = (o), .labels = (l), __VA_ARGS__                           \
    }

static void apply(struct am_store *st, const struct upd *d)
{
    struct am_label labels[16];
    struct am_update u;
    const char *why = NULL;
    const char *p = d->labels;

    memset(&u, 0, sizeof(u));
    while (p != NULL && *p != '\0') {
        const char *eq = strchr(p, '='), *end = strchr(p, '|');

        assert_true(u.nlabels < N(labels));
        if (end == NULL) {
            end = p + strlen(p);
        }
        assert_true(eq != NULL && eq < end);
        labels[u.nlabels++] =
            (struct am_label){p, (size_t)(eq - p), eq + 1, (size_t)(end - eq - 1)};
        p = *end == '|' ? end + 1 : end;
    }
    u.name = d->name;
    u.name_len = strlen(d->name);
    u.spec = d->spec;
    u.labels = labels;
    u.op = d->op;
    u.value = d->value;
    u.weight = d->weight ? d->weight : 1;
    u.str = d->str;
    u.str_len = d->str ? strlen(d->str) : 0;
    if (d->whole != NULL) {
        u.bounds = d->whole->bounds;
        u.counts = d->whole->counts;
        u.qvalues = d->whole->qvalues;
        u.nbounds = d->whole->n;
        u.count = d->whole->count;
        u.sum = d->whole->sum;
    }
    if (am_store_update(st, &u, d->at_ms, &why) != 0) {
        fail_msg("update of %s{%s} refused: %s", d->name, d->labels ? d->labels : "",
                 why ? why : "(no reason)");
    }
}

/* The document for fmt, NUL-terminated; the caller frees it. */
static char *render(struct am_store *st, enum am_format fmt, int64_t now_ms)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *doc;

    assert_non_null(b);
    assert_int_equal(am_expo_render(st, fmt, now_ms, b), 0);
    n = evbuffer_get_length(b);
    doc = malloc(n + 1);
    assert_non_null(doc);
    assert_int_equal(evbuffer_remove(b, doc, n), (int)n);
    doc[n] = '\0';
    evbuffer_free(b);
    return doc;
}

/* Is got what want says? Exact, except that "~X" in want stands for a number within
 * AM_QUANT_ALPHA of X (a sketch's quantile). */
static bool doc_matches(const char *got, const char *want)
{
    while (*want != '\0') {
        if (*want == '~') {
            char *we, *ge;
            double w = strtod(want + 1, &we), g = strtod(got, &ge);

            if (ge == got || fabs(g - w) > AM_QUANT_ALPHA * 1.001 * fabs(w)) {
                return false;
            }
            want = we;
            got = ge;
        } else if (*got++ != *want++) {
            return false;
        }
    }
    return *got == '\0';
}

static const struct am_family_spec sp_counter = {.type = AM_TYPE_COUNTER};
static const struct am_family_spec sp_gauge = {.type = AM_TYPE_GAUGE};
static const struct am_family_spec sp_untyped = {.type = AM_TYPE_UNTYPED};
static const struct am_family_spec sp_hist = {.type = AM_TYPE_HISTOGRAM};
static const struct am_family_spec sp_summary = {.type = AM_TYPE_SUMMARY};
static const struct am_family_spec sp_counter_help = {
    .type = AM_TYPE_COUNTER,
    .help = "Requests \"served\" \\ by\nthe app: \xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd "
            "k\xc5\xaf\xc5\x88.",
};
static const struct am_family_spec sp_gauge_bad_help = {
    .type = AM_TYPE_GAUGE,
    .help = "bytes \xff\xfe and \xe2\x82 cut; tab\there, \\n literal",
};
static const double custom_buckets[] = {0.1, 1, 2.5};
static const struct am_family_spec sp_hist_custom = {
    .type = AM_TYPE_HISTOGRAM, .buckets = custom_buckets, .nbuckets = 3, .help = "Latency."};
static const double negative_buckets[] = {-1, 0, 1};
static const struct am_family_spec sp_hist_negative = {
    .type = AM_TYPE_HISTOGRAM, .buckets = negative_buckets, .nbuckets = 3};
static const struct am_quantile custom_quantiles[] = {{0.25, 0.05}, {0.5, 0.05}, {1, 0.001}};
static const struct am_family_spec sp_summary_custom = {
    .type = AM_TYPE_SUMMARY, .quantiles = custom_quantiles, .nquantiles = 3};
static const char *const states[] = {"starting", "up", "down \"hard\""};
static const struct am_family_spec sp_stateset = {
    .type = AM_TYPE_STATESET, .states = states, .nstates = 3, .help = "State."};
static const struct am_family_spec sp_stateset_learned = {.type = AM_TYPE_STATESET};
static const struct am_family_spec sp_info = {
    .type = AM_TYPE_INFO, .info_label = "version", .help = "Build."};
static const struct am_family_spec sp_info_default = {.type = AM_TYPE_INFO};

static const double whole_bounds[] = {1, 2, INFINITY};
static const double whole_counts[] = {1, 3, 4};
static const struct whole whole_hist = {whole_bounds, whole_counts, NULL, 3, 4, 6};
static const double whole_quantiles[] = {0.5, 0.99};
static const double whole_qvalues[] = {0.2, 0.9};
static const struct whole whole_summary = {whole_quantiles, NULL, whole_qvalues, 2, 7, 3.5};

#define UPDS_MAX 12

struct doc_row {
    const char *what;
    struct upd upds[UPDS_MAX]; /* up to the first without a name */
    int64_t render_ms;
    const char *text; /* Prometheus text 0.0.4 */
    const char *om;   /* OpenMetrics 1.0.0 */
};

#define HELP0 "# HELP "
#define DEFHELP " Metric adapted by adapter-metrics.\n"

static const struct doc_row doc_table[] = {
    {"empty store", {{0}}, 0, "", "# EOF\n"},
    {"counter: _total, help escaped per format, labels in order",
     {U("http_requests", &sp_counter_help, AM_OP_ADD, "method=GET|code=200", .value = 3),
      U("http_requests", &sp_counter_help, AM_OP_ADD, "code=500|method=POST", .value = 1.5),
      U("http_requests", &sp_counter_help, AM_OP_ADD, "method=GET|code=200", .value = 2)},
     0,
     "# HELP http_requests_total Requests \"served\" \\\\ by\\nthe app: "
     "\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd k\xc5\xaf\xc5\x88.\n"
     "# TYPE http_requests_total counter\n"
     "http_requests_total{code=\"200\",method=\"GET\"} 5\n"
     "http_requests_total{code=\"500\",method=\"POST\"} 1.5\n",
     "# HELP http_requests Requests \\\"served\\\" \\\\ by\\nthe app: "
     "\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd k\xc5\xaf\xc5\x88.\n"
     "# TYPE http_requests counter\n"
     "http_requests_total{code=\"200\",method=\"GET\"} 5\n"
     "http_requests_total{code=\"500\",method=\"POST\"} 1.5\n"
     "# EOF\n"},
    {"counter without labels; absolute totals",
     {U("process_restarts", &sp_counter, AM_OP_SET, NULL, .value = 7)},
     0,
     HELP0 "process_restarts_total" DEFHELP "# TYPE process_restarts_total counter\n"
           "process_restarts_total 7\n",
     HELP0 "process_restarts" DEFHELP "# TYPE process_restarts counter\n"
           "process_restarts_total 7\n"
           "# EOF\n"},
    {"gauge: label values escaped, UTF-8 kept, special values",
     {U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=quote \"q\"", .value = 21.5),
      U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=back\\slash\\", .value = -0.0),
      U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=new\nline", .value = NAN),
      U("temperature_celsius", &sp_gauge, AM_OP_SET,
        "room=\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd \xf0\x9f\x90\x8e", .value = INFINITY),
      U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=a # b} {c=\"d\"}", .value = -INFINITY),
      U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=", .value = 1e-07),
      U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=max", .value = DBL_MAX),
      U("temperature_celsius", &sp_gauge, AM_OP_SET, "room=big", .value = 9007199254740993.0),
      U("temperature_celsius", &sp_gauge, AM_OP_ADD, "room=add", .value = 0.1),
      U("temperature_celsius", &sp_gauge, AM_OP_ADD, "room=add", .value = 0.2)},
     0,
     HELP0 "temperature_celsius" DEFHELP "# TYPE temperature_celsius gauge\n"
           "temperature_celsius{room=\"quote \\\"q\\\"\"} 21.5\n"
           "temperature_celsius{room=\"back\\\\slash\\\\\"} -0\n"
           "temperature_celsius{room=\"new\\nline\"} NaN\n"
           "temperature_celsius{room=\"\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd \xf0\x9f\x90\x8e\"} "
           "+Inf\n"
           "temperature_celsius{room=\"a # b} {c=\\\"d\\\"}\"} -Inf\n"
           "temperature_celsius{room=\"\"} 1e-07\n"
           "temperature_celsius{room=\"max\"} 1.7976931348623157e+308\n"
           "temperature_celsius{room=\"big\"} 9007199254740992\n"
           "temperature_celsius{room=\"add\"} 0.30000000000000004\n",
     HELP0 "temperature_celsius" DEFHELP "# TYPE temperature_celsius gauge\n"
           "temperature_celsius{room=\"quote \\\"q\\\"\"} 21.5\n"
           "temperature_celsius{room=\"back\\\\slash\\\\\"} -0\n"
           "temperature_celsius{room=\"new\\nline\"} NaN\n"
           "temperature_celsius{room=\"\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd \xf0\x9f\x90\x8e\"} "
           "+Inf\n"
           "temperature_celsius{room=\"a # b} {c=\\\"d\\\"}\"} -Inf\n"
           "temperature_celsius{room=\"\"} 1e-07\n"
           "temperature_celsius{room=\"max\"} 1.7976931348623157e+308\n"
           "temperature_celsius{room=\"big\"} 9007199254740992\n"
           "temperature_celsius{room=\"add\"} 0.30000000000000004\n"
           "# EOF\n"},
    {"gauge: help that is not UTF-8, a tab, a literal backslash-n",
     {U("queue_length", &sp_gauge_bad_help, AM_OP_SET, NULL, .value = 3)},
     0,
     "# HELP queue_length bytes \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd\xef\xbf\xbd cut; "
     "tab\there, \\\\n literal\n"
     "# TYPE queue_length gauge\n"
     "queue_length 3\n",
     "# HELP queue_length bytes \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd\xef\xbf\xbd cut; "
     "tab\there, \\\\n literal\n"
     "# TYPE queue_length gauge\n"
     "queue_length 3\n"
     "# EOF\n"},
    {"statsd set: a gauge of distinct members",
     {U("unique_users", &sp_gauge, AM_OP_MEMBER, NULL, .str = "alice"),
      U("unique_users", &sp_gauge, AM_OP_MEMBER, NULL, .str = "bob"),
      U("unique_users", &sp_gauge, AM_OP_MEMBER, NULL, .str = "alice")},
     0,
     HELP0 "unique_users" DEFHELP "# TYPE unique_users gauge\n"
           "unique_users 2\n",
     HELP0 "unique_users" DEFHELP "# TYPE unique_users gauge\n"
           "unique_users 2\n"
           "# EOF\n"},
    {"untyped: untyped / unknown",
     {U("app_uptime", &sp_untyped, AM_OP_SET, "host=a", .value = 12345.5)},
     0,
     HELP0 "app_uptime" DEFHELP "# TYPE app_uptime untyped\n"
           "app_uptime{host=\"a\"} 12345.5\n",
     HELP0 "app_uptime" DEFHELP "# TYPE app_uptime unknown\n"
           "app_uptime{host=\"a\"} 12345.5\n"
           "# EOF\n"},
    {"histogram, custom buckets: cumulative, canonical le",
     {U("request_duration_seconds", &sp_hist_custom, AM_OP_OBSERVE, "path=/", .value = 0.25),
      U("request_duration_seconds", &sp_hist_custom, AM_OP_OBSERVE, "path=/", .value = 0.5),
      U("request_duration_seconds", &sp_hist_custom, AM_OP_OBSERVE, "path=/", .value = 3),
      U("request_duration_seconds", &sp_hist_custom, AM_OP_OBSERVE, "path=/", .value = 1),
      U("request_duration_seconds", &sp_hist_custom, AM_OP_OBSERVE, "path=/x", .value = 0.05,
        .weight = 4)},
     0,
     "# HELP request_duration_seconds Latency.\n"
     "# TYPE request_duration_seconds histogram\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"0.1\"} 0\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"1\"} 3\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"2.5\"} 3\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 4\n"
     "request_duration_seconds_count{path=\"/\"} 4\n"
     "request_duration_seconds_sum{path=\"/\"} 4.75\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"0.1\"} 4\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"1\"} 4\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"2.5\"} 4\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"+Inf\"} 4\n"
     "request_duration_seconds_count{path=\"/x\"} 4\n"
     "request_duration_seconds_sum{path=\"/x\"} 0.2\n",
     "# HELP request_duration_seconds Latency.\n"
     "# TYPE request_duration_seconds histogram\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"0.1\"} 0\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"1.0\"} 3\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"2.5\"} 3\n"
     "request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 4\n"
     "request_duration_seconds_count{path=\"/\"} 4\n"
     "request_duration_seconds_sum{path=\"/\"} 4.75\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"0.1\"} 4\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"1.0\"} 4\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"2.5\"} 4\n"
     "request_duration_seconds_bucket{path=\"/x\",le=\"+Inf\"} 4\n"
     "request_duration_seconds_count{path=\"/x\"} 4\n"
     "request_duration_seconds_sum{path=\"/x\"} 0.2\n"
     "# EOF\n"},
    {"histogram, default buckets, no labels",
     {U("job_duration_seconds", &sp_hist, AM_OP_OBSERVE, NULL, .value = 7)},
     0,
     HELP0 "job_duration_seconds" DEFHELP "# TYPE job_duration_seconds histogram\n"
           "job_duration_seconds_bucket{le=\"0.005\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.01\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.025\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.05\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.1\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.25\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.5\"} 0\n"
           "job_duration_seconds_bucket{le=\"1\"} 0\n"
           "job_duration_seconds_bucket{le=\"2.5\"} 0\n"
           "job_duration_seconds_bucket{le=\"5\"} 0\n"
           "job_duration_seconds_bucket{le=\"10\"} 1\n"
           "job_duration_seconds_bucket{le=\"+Inf\"} 1\n"
           "job_duration_seconds_count 1\n"
           "job_duration_seconds_sum 7\n",
     HELP0 "job_duration_seconds" DEFHELP "# TYPE job_duration_seconds histogram\n"
           "job_duration_seconds_bucket{le=\"0.005\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.01\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.025\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.05\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.1\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.25\"} 0\n"
           "job_duration_seconds_bucket{le=\"0.5\"} 0\n"
           "job_duration_seconds_bucket{le=\"1.0\"} 0\n"
           "job_duration_seconds_bucket{le=\"2.5\"} 0\n"
           "job_duration_seconds_bucket{le=\"5.0\"} 0\n"
           "job_duration_seconds_bucket{le=\"10.0\"} 1\n"
           "job_duration_seconds_bucket{le=\"+Inf\"} 1\n"
           "job_duration_seconds_count 1\n"
           "job_duration_seconds_sum 7\n"
           "# EOF\n"},
    {"histogram, negative buckets: OpenMetrics has no _sum, so no _count",
     {U("temperature_delta", &sp_hist_negative, AM_OP_OBSERVE, NULL, .value = -0.5),
      U("temperature_delta", &sp_hist_negative, AM_OP_OBSERVE, NULL, .value = 2)},
     0,
     HELP0 "temperature_delta" DEFHELP "# TYPE temperature_delta histogram\n"
           "temperature_delta_bucket{le=\"-1\"} 0\n"
           "temperature_delta_bucket{le=\"0\"} 1\n"
           "temperature_delta_bucket{le=\"1\"} 1\n"
           "temperature_delta_bucket{le=\"+Inf\"} 2\n"
           "temperature_delta_count 2\n"
           "temperature_delta_sum 1.5\n",
     HELP0 "temperature_delta" DEFHELP "# TYPE temperature_delta histogram\n"
           "temperature_delta_bucket{le=\"-1.0\"} 0\n"
           "temperature_delta_bucket{le=\"0.0\"} 1\n"
           "temperature_delta_bucket{le=\"1.0\"} 1\n"
           "temperature_delta_bucket{le=\"+Inf\"} 2\n"
           "# EOF\n"},
    {"histogram, negative sum with non-negative buckets",
     {U("offset_seconds", &sp_hist_custom, AM_OP_OBSERVE, NULL, .value = -3)},
     0,
     "# HELP offset_seconds Latency.\n"
     "# TYPE offset_seconds histogram\n"
     "offset_seconds_bucket{le=\"0.1\"} 1\n"
     "offset_seconds_bucket{le=\"1\"} 1\n"
     "offset_seconds_bucket{le=\"2.5\"} 1\n"
     "offset_seconds_bucket{le=\"+Inf\"} 1\n"
     "offset_seconds_count 1\n"
     "offset_seconds_sum -3\n",
     "# HELP offset_seconds Latency.\n"
     "# TYPE offset_seconds histogram\n"
     "offset_seconds_bucket{le=\"0.1\"} 1\n"
     "offset_seconds_bucket{le=\"1.0\"} 1\n"
     "offset_seconds_bucket{le=\"2.5\"} 1\n"
     "offset_seconds_bucket{le=\"+Inf\"} 1\n"
     "# EOF\n"},
    {"histogram given whole (a pulled text)",
     {U("response_size_bytes", &sp_hist, AM_OP_SET_HISTOGRAM, "code=200", .whole = &whole_hist)},
     0,
     HELP0 "response_size_bytes" DEFHELP "# TYPE response_size_bytes histogram\n"
           "response_size_bytes_bucket{code=\"200\",le=\"1\"} 1\n"
           "response_size_bytes_bucket{code=\"200\",le=\"2\"} 3\n"
           "response_size_bytes_bucket{code=\"200\",le=\"+Inf\"} 4\n"
           "response_size_bytes_count{code=\"200\"} 4\n"
           "response_size_bytes_sum{code=\"200\"} 6\n",
     HELP0 "response_size_bytes" DEFHELP "# TYPE response_size_bytes histogram\n"
           "response_size_bytes_bucket{code=\"200\",le=\"1.0\"} 1\n"
           "response_size_bytes_bucket{code=\"200\",le=\"2.0\"} 3\n"
           "response_size_bytes_bucket{code=\"200\",le=\"+Inf\"} 4\n"
           "response_size_bytes_count{code=\"200\"} 4\n"
           "response_size_bytes_sum{code=\"200\"} 6\n"
           "# EOF\n"},
    {"summary, default quantiles, within the window",
     {U("rpc_duration_seconds", &sp_summary, AM_OP_OBSERVE, "service=a", .value = 0.25,
        .weight = 10, .at_ms = 1000)},
     2000,
     HELP0 "rpc_duration_seconds" DEFHELP "# TYPE rpc_duration_seconds summary\n"
           "rpc_duration_seconds{service=\"a\",quantile=\"0.5\"} ~0.25\n"
           "rpc_duration_seconds{service=\"a\",quantile=\"0.9\"} ~0.25\n"
           "rpc_duration_seconds{service=\"a\",quantile=\"0.99\"} ~0.25\n"
           "rpc_duration_seconds_count{service=\"a\"} 10\n"
           "rpc_duration_seconds_sum{service=\"a\"} 2.5\n",
     HELP0 "rpc_duration_seconds" DEFHELP "# TYPE rpc_duration_seconds summary\n"
           "rpc_duration_seconds{service=\"a\",quantile=\"0.5\"} ~0.25\n"
           "rpc_duration_seconds{service=\"a\",quantile=\"0.9\"} ~0.25\n"
           "rpc_duration_seconds{service=\"a\",quantile=\"0.99\"} ~0.25\n"
           "rpc_duration_seconds_count{service=\"a\"} 10\n"
           "rpc_duration_seconds_sum{service=\"a\"} 2.5\n"
           "# EOF\n"},
    {"summary, custom quantiles, an empty window: NaN",
     {U("rpc_duration_seconds", &sp_summary_custom, AM_OP_OBSERVE, NULL, .value = 2, .weight = 3)},
     3600 * 1000,
     HELP0 "rpc_duration_seconds" DEFHELP "# TYPE rpc_duration_seconds summary\n"
           "rpc_duration_seconds{quantile=\"0.25\"} NaN\n"
           "rpc_duration_seconds{quantile=\"0.5\"} NaN\n"
           "rpc_duration_seconds{quantile=\"1\"} NaN\n"
           "rpc_duration_seconds_count 3\n"
           "rpc_duration_seconds_sum 6\n",
     HELP0 "rpc_duration_seconds" DEFHELP "# TYPE rpc_duration_seconds summary\n"
           "rpc_duration_seconds{quantile=\"0.25\"} NaN\n"
           "rpc_duration_seconds{quantile=\"0.5\"} NaN\n"
           "rpc_duration_seconds{quantile=\"1.0\"} NaN\n"
           "rpc_duration_seconds_count 3\n"
           "rpc_duration_seconds_sum 6\n"
           "# EOF\n"},
    {"summary of negative values: OpenMetrics drops negative quantiles and _sum",
     {U("clock_skew_seconds", &sp_summary_custom, AM_OP_OBSERVE, NULL, .value = -2, .weight = 3)},
     0,
     HELP0 "clock_skew_seconds" DEFHELP "# TYPE clock_skew_seconds summary\n"
           "clock_skew_seconds{quantile=\"0.25\"} ~-2\n"
           "clock_skew_seconds{quantile=\"0.5\"} ~-2\n"
           "clock_skew_seconds{quantile=\"1\"} ~-2\n"
           "clock_skew_seconds_count 3\n"
           "clock_skew_seconds_sum -6\n",
     HELP0 "clock_skew_seconds" DEFHELP "# TYPE clock_skew_seconds summary\n"
           "clock_skew_seconds_count 3\n"
           "# EOF\n"},
    {"summary given whole",
     {U("gc_pause_seconds", &sp_summary, AM_OP_SET_SUMMARY, "gen=young", .whole = &whole_summary)},
     0,
     HELP0 "gc_pause_seconds" DEFHELP "# TYPE gc_pause_seconds summary\n"
           "gc_pause_seconds{gen=\"young\",quantile=\"0.5\"} 0.2\n"
           "gc_pause_seconds{gen=\"young\",quantile=\"0.99\"} 0.9\n"
           "gc_pause_seconds_count{gen=\"young\"} 7\n"
           "gc_pause_seconds_sum{gen=\"young\"} 3.5\n",
     HELP0 "gc_pause_seconds" DEFHELP "# TYPE gc_pause_seconds summary\n"
           "gc_pause_seconds{gen=\"young\",quantile=\"0.5\"} 0.2\n"
           "gc_pause_seconds{gen=\"young\",quantile=\"0.99\"} 0.9\n"
           "gc_pause_seconds_count{gen=\"young\"} 7\n"
           "gc_pause_seconds_sum{gen=\"young\"} 3.5\n"
           "# EOF\n"},
    {"stateset: a gauge in 0.0.4, the state label last",
     {U("service_state", &sp_stateset, AM_OP_STATE, "instance=a", .str = "up"),
      U("service_state", &sp_stateset, AM_OP_STATE, "instance=b", .str = "down \"hard\"")},
     0,
     "# HELP service_state State.\n"
     "# TYPE service_state gauge\n"
     "service_state{instance=\"a\",service_state=\"starting\"} 0\n"
     "service_state{instance=\"a\",service_state=\"up\"} 1\n"
     "service_state{instance=\"a\",service_state=\"down \\\"hard\\\"\"} 0\n"
     "service_state{instance=\"b\",service_state=\"starting\"} 0\n"
     "service_state{instance=\"b\",service_state=\"up\"} 0\n"
     "service_state{instance=\"b\",service_state=\"down \\\"hard\\\"\"} 1\n",
     "# HELP service_state State.\n"
     "# TYPE service_state stateset\n"
     "service_state{instance=\"a\",service_state=\"starting\"} 0\n"
     "service_state{instance=\"a\",service_state=\"up\"} 1\n"
     "service_state{instance=\"a\",service_state=\"down \\\"hard\\\"\"} 0\n"
     "service_state{instance=\"b\",service_state=\"starting\"} 0\n"
     "service_state{instance=\"b\",service_state=\"up\"} 0\n"
     "service_state{instance=\"b\",service_state=\"down \\\"hard\\\"\"} 1\n"
     "# EOF\n"},
    {"stateset learning its states",
     {U("link", &sp_stateset_learned, AM_OP_STATE, NULL, .str = "b"),
      U("link", &sp_stateset_learned, AM_OP_STATE, NULL, .str = "a")},
     0,
     HELP0 "link" DEFHELP "# TYPE link gauge\n"
           "link{link=\"b\"} 0\n"
           "link{link=\"a\"} 1\n",
     HELP0 "link" DEFHELP "# TYPE link stateset\n"
           "link{link=\"b\"} 0\n"
           "link{link=\"a\"} 1\n"
           "# EOF\n"},
    {"info: _info, value 1, its label last",
     {U("build", &sp_info, AM_OP_INFO, "branch=main|commit=abc", .str = "v1.2 \"beta\"\n\\"),
      U("app", &sp_info_default, AM_OP_INFO, NULL, .str = "x")},
     0,
     "# HELP build_info Build.\n"
     "# TYPE build_info gauge\n"
     "build_info{branch=\"main\",commit=\"abc\",version=\"v1.2 \\\"beta\\\"\\n\\\\\"} 1\n" HELP0
     "app_info" DEFHELP "# TYPE app_info gauge\n"
     "app_info{value=\"x\"} 1\n",
     "# HELP build Build.\n"
     "# TYPE build info\n"
     "build_info{branch=\"main\",commit=\"abc\",version=\"v1.2 \\\"beta\\\"\\n\\\\\"} 1\n" HELP0
     "app" DEFHELP "# TYPE app info\n"
     "app_info{value=\"x\"} 1\n"
     "# EOF\n"},
    {"families in the order they came, series oldest first",
     {U("zeta", &sp_gauge, AM_OP_SET, "k=2", .value = 2),
      U("alpha", &sp_counter, AM_OP_ADD, NULL, .value = 1),
      U("zeta", &sp_gauge, AM_OP_SET, "k=1", .value = 1),
      U("zeta", &sp_gauge, AM_OP_SET, "k=2", .value = 3)},
     0,
     HELP0 "zeta" DEFHELP "# TYPE zeta gauge\n"
           "zeta{k=\"2\"} 3\n"
           "zeta{k=\"1\"} 1\n" HELP0 "alpha_total" DEFHELP "# TYPE alpha_total counter\n"
           "alpha_total 1\n",
     HELP0 "zeta" DEFHELP "# TYPE zeta gauge\n"
           "zeta{k=\"2\"} 3\n"
           "zeta{k=\"1\"} 1\n" HELP0 "alpha" DEFHELP "# TYPE alpha counter\n"
           "alpha_total 1\n"
           "# EOF\n"},
};

static struct am_store *fill(const struct doc_row *r)
{
    struct am_store *st = am_store_create(NULL);

    assert_non_null(st);
    for (size_t j = 0; j < UPDS_MAX && r->upds[j].name != NULL; j++) {
        apply(st, &r->upds[j]);
    }
    am_store_expire(st, r->render_ms);
    return st;
}

static void test_render_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(doc_table); i++) {
        const struct doc_row *r = &doc_table[i];
        struct am_store *st = fill(r);

        for (int f = 0; f < 2; f++) {
            enum am_format fmt = f ? AM_FORMAT_OPENMETRICS : AM_FORMAT_TEXT;
            const char *want = f ? r->om : r->text;
            char *doc = render(st, fmt, r->render_ms);

            if (!doc_matches(doc, want)) {
                fail_msg("row %zu (%s), %s:\n--- got\n%s--- want\n%s---", i, r->what,
                         f ? "OpenMetrics" : "0.0.4", doc, want);
            }
            free(doc);
        }
        am_store_destroy(st);
    }
}

/* ---- the oracles ---------------------------------------------------------------------- */

/* Runs cmd_fmt (with "%s" for a file holding doc) and puts what it said in said; 0 when it
 * exited 0 and said nothing at all. */
static int oracle_run(const char *cmd_fmt, const char *doc, char *said, size_t said_size)
{
    char path[] = "/tmp/test_am_expo.XXXXXX", cmd[1024];
    int fd = mkstemp(path), status;
    size_t len = strlen(doc), n;
    FILE *p;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, doc, len), (ssize_t)len);
    close(fd);
    snprintf(cmd, sizeof(cmd), cmd_fmt, path);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(said, 1, said_size - 1, p);
    said[n] = '\0';
    status = pclose(p);
    unlink(path);
    return status == 0 && n == 0 ? 0 : -1;
}

#define PROMTOOL_CMD "promtool check metrics < %s 2>&1"

/* The script goes in as one argument: it has no single quote in it. */
#define OM_PARSER_CMD                                                                              \
    "/usr/bin/python3 -c '"                                                                        \
    "import sys\n"                                                                                 \
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families\n"            \
    "text = open(sys.argv[1], \"rb\").read().decode(\"utf-8\")\n"                                  \
    "for _ in text_string_to_metric_families(text):\n"                                             \
    "    pass\n"                                                                                   \
    "' %s 2>&1"

static void oracle(const char *cmd_fmt, const char *doc, const char *what)
{
    char said[4096];

    if (oracle_run(cmd_fmt, doc, said, sizeof(said)) != 0) {
        fail_msg("%s: \"%s\" complained:\n%s\n--- on\n%.8000s---", what, cmd_fmt, said, doc);
    }
}

static bool have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

static bool have_om_parser(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' "
                  ">/dev/null 2>&1") == 0;
}

/* An oracle: how to tell it is there, how to run it, and two documents it must refuse (the
 * first saying says), to show it is awake. */
struct oracle_def {
    const char *name;
    bool (*have)(void);
    const char *cmd_fmt;
    enum am_format fmt;
    const char *bad[2];
    const char *says;
};

static const struct oracle_def promtool_def = {
    "promtool",
    have_promtool,
    PROMTOOL_CMD,
    AM_FORMAT_TEXT,
    {"# TYPE x gauge\nx 1\n", "# HELP x h\n# TYPE x counter\nx 1\n"},
    "no help text",
};

static const struct oracle_def om_parser_def = {
    "/usr/bin/python3 with prometheus_client",
    have_om_parser,
    OM_PARSER_CMD,
    AM_FORMAT_OPENMETRICS,
    {"x 1\n", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\nh_sum 1\n# EOF\n"},
    "Missing # EOF",
};

/* Every document of the table in the oracle's format passes it. */
static void table_through(const struct oracle_def *o)
{
    char said[4096];

    if (!o->have()) {
        print_message("%s not found: skipping its checks\n", o->name);
        skip();
    }
    assert_int_equal(oracle_run(o->cmd_fmt, o->bad[0], said, sizeof(said)), -1);
    assert_non_null(strstr(said, o->says));
    assert_int_equal(oracle_run(o->cmd_fmt, o->bad[1], said, sizeof(said)), -1);
    for (size_t i = 0; i < N(doc_table); i++) {
        struct am_store *st = fill(&doc_table[i]);
        char *doc = render(st, o->fmt, doc_table[i].render_ms);

        oracle(o->cmd_fmt, doc, doc_table[i].what);
        free(doc);
        am_store_destroy(st);
    }
}

/* Every document of the table passes promtool (0.0.4: no error, no lint warning). */
static void test_promtool(void **state)
{
    (void)state;
    table_through(&promtool_def);
}

/* Every OpenMetrics document of the table passes the strict parser (# EOF, +Inf bucket,
 * bucket order, _count equal to +Inf, no negative counter-like sample, ...). */
static void test_om_parser(void **state)
{
    (void)state;
    table_through(&om_parser_def);
}

/* A store of everything at once, from random but fixed input: every type, hostile label
 * values, random values of every kind; both documents pass both oracles. */
static struct am_store *fill_random(int64_t *now)
{
    static const char *const values[] = {
        "a",          "",           "\"",       "\\",       "\n",
        "\\n",        "a\"b\\c\nd", "} # {x}",  "\xc3\xa9", "\xf0\x9f\x98\x80",
        "  spaced  ", ",",          "le=\"1\"", "\t\r",
    };
    static const struct am_family_spec *const specs[] = {
        &sp_counter,     &sp_gauge,         &sp_untyped,      &sp_hist,
        &sp_hist_custom, &sp_hist_negative, &sp_summary,      &sp_summary_custom,
        &sp_stateset,    &sp_info,          &sp_counter_help, &sp_gauge_bad_help,
    };
    struct am_store *st = am_store_create(NULL);
    uint64_t x = 42;

    assert_non_null(st);
    *now = 1000;
    for (int i = 0; i < 3000; i++) {
        uint64_t r = splitmix(&x);
        size_t fi = (size_t)(r % N(specs));
        const struct am_family_spec *sp = specs[fi];
        char name[32], labels[256];
        struct upd d = {.name = name, .spec = sp, .at_ms = *now};
        double v;
        uint64_t bits = splitmix(&x);

        memcpy(&v, &bits, sizeof(v));
        snprintf(name, sizeof(name), "family_%zu", fi);
        snprintf(labels, sizeof(labels), "first=%s|second=%s", values[(r >> 8) % N(values)],
                 values[(r >> 16) % N(values)]);
        d.labels = labels;
        switch (sp->type) {
        case AM_TYPE_COUNTER:
            d.op = AM_OP_ADD;
            d.value = (double)((r >> 24) % 1000) / 8;
            break;
        case AM_TYPE_GAUGE:
        case AM_TYPE_UNTYPED:
            d.op = AM_OP_SET;
            d.value = (r >> 30) & 1 ? v : (double)(int64_t)(r >> 32) / 1000;
            if ((r >> 31) % 8 == 0) {
                d.value = (r >> 33) & 1 ? NAN : (r >> 34) & 1 ? INFINITY : -INFINITY;
            }
            break;
        case AM_TYPE_HISTOGRAM:
        case AM_TYPE_SUMMARY:
            d.op = AM_OP_OBSERVE;
            d.value = ((double)((r >> 24) % 20000) - 2000) / 1000;
            d.weight = 1 + (r >> 40) % 3;
            break;
        case AM_TYPE_STATESET:
            d.op = AM_OP_STATE;
            d.str = states[(r >> 24) % N(states)];
            break;
        case AM_TYPE_INFO:
            d.op = AM_OP_INFO;
            d.str = values[(r >> 24) % N(values)];
            break;
        }
        apply(st, &d);
        *now += 7;
    }
    am_store_expire(st, *now);
    return st;
}

static void test_oracles_random(void **state)
{
    bool pt = have_promtool(), py = have_om_parser();
    int64_t now;
    struct am_store *st;
    char *text, *om;

    (void)state;
    if (!pt && !py) {
        print_message("neither promtool nor the OpenMetrics parser found: skipping\n");
        skip();
    }
    st = fill_random(&now);
    text = render(st, AM_FORMAT_TEXT, now);
    om = render(st, AM_FORMAT_OPENMETRICS, now);
    if (pt) {
        oracle(PROMTOOL_CMD, text, "random store");
    }
    if (py) {
        oracle(OM_PARSER_CMD, om, "random store");
    }
    free(text);
    free(om);
    am_store_destroy(st);
    if (!pt || !py) {
        print_message("%s not found: its half skipped\n",
                      pt ? "the OpenMetrics parser" : "promtool");
        skip();
    }
}

/* ---- gzip ----------------------------------------------------------------------------- */

/* Inflates all of gz (one gzip member) and compares with want. */
static void check_gunzip(struct evbuffer *gz, const char *want, size_t want_len)
{
    size_t n = evbuffer_get_length(gz);
    unsigned char *in = evbuffer_pullup(gz, -1);
    char *plain = malloc(want_len + 1);
    z_stream zs;

    assert_non_null(plain);
    assert_true(n >= 18);
    assert_true(in[0] == 0x1f && in[1] == 0x8b);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = in;
    zs.avail_in = (uInt)n;
    zs.next_out = (unsigned char *)plain;
    zs.avail_out = (uInt)want_len + 1; /* one more: a longer output shows */
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0);
    assert_int_equal(zs.total_out, want_len);
    assert_memory_equal(plain, want, want_len);
    inflateEnd(&zs);
    free(plain);
}

static void test_gzip(void **state)
{
    size_t big_len = 3 * 1024 * 1024 + 17;
    char *big = malloc(big_len);
    uint64_t x = 7;

    (void)state;
    assert_non_null(big);
    /* Text-like and partly random, so that it neither vanishes nor stays the same size. */
    for (size_t i = 0; i < big_len; i++) {
        big[i] = (i % 61 == 60) ? '\n' : (char)('a' + splitmix(&x) % 4 + (i % 7 == 0) * 10);
    }
    for (int level = 1; level <= 9; level += 4) {
        static const char *const small[] = {"", "x", "# EOF\n"};

        for (size_t i = 0; i < N(small); i++) {
            struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();

            evbuffer_add(in, small[i], strlen(small[i]));
            assert_int_equal(am_gzip(in, out, level), 0);
            assert_int_equal(evbuffer_get_length(in), strlen(small[i]));
            check_gunzip(out, small[i], strlen(small[i]));
            evbuffer_free(in);
            evbuffer_free(out);
        }
        {
            /* Many chains in, and out already holding something, which stays in front. */
            struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();

            for (size_t off = 0; off < big_len; off += 10007) {
                size_t n = big_len - off < 10007 ? big_len - off : 10007;
                struct evbuffer *piece = evbuffer_new();

                evbuffer_add(piece, big + off, n);
                evbuffer_add_buffer(in, piece); /* keeps the chains apart */
                evbuffer_free(piece);
            }
            assert_true(evbuffer_peek(in, -1, NULL, NULL, 0) > 100);
            evbuffer_add(out, "HEAD", 4);
            assert_int_equal(am_gzip(in, out, level), 0);
            assert_int_equal(evbuffer_get_length(in), big_len);
            assert_memory_equal(evbuffer_pullup(out, 4), "HEAD", 4);
            evbuffer_drain(out, 4);
            assert_true(evbuffer_get_length(out) < big_len / 2);
            check_gunzip(out, big, big_len);
            evbuffer_free(in);
            evbuffer_free(out);
        }
    }
    free(big);
}

/* A rendered document, gzipped and inflated, is the same document. */
static void test_gzip_rendered(void **state)
{
    int64_t now;
    struct am_store *st = fill_random(&now);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    size_t n;

    (void)state;
    assert_int_equal(am_expo_render(st, AM_FORMAT_OPENMETRICS, now, in), 0);
    assert_int_equal(am_gzip(in, out, 1), 0);
    n = evbuffer_get_length(in);
    check_gunzip(out, (const char *)evbuffer_pullup(in, -1), n);
    evbuffer_free(in);
    evbuffer_free(out);
    am_store_destroy(st);
}

/* Rendering appends: what out held stays in front, and two renders are two documents. */
static void test_render_appends(void **state)
{
    struct am_store *st = fill(&doc_table[2]);
    struct evbuffer *b = evbuffer_new();
    char *one = render(st, AM_FORMAT_TEXT, 0);
    size_t n = strlen(one);

    (void)state;
    evbuffer_add(b, "X", 1);
    assert_int_equal(am_expo_render(st, AM_FORMAT_TEXT, 0, b), 0);
    assert_int_equal(am_expo_render(st, AM_FORMAT_TEXT, 0, b), 0);
    assert_int_equal(evbuffer_get_length(b), 1 + 2 * n);
    assert_memory_equal(evbuffer_pullup(b, -1), "X", 1);
    assert_memory_equal(evbuffer_pullup(b, -1) + 1, one, n);
    assert_memory_equal(evbuffer_pullup(b, -1) + 1 + n, one, n);
    evbuffer_free(b);
    free(one);
    am_store_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate),      cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_wants_gzip),     cmocka_unit_test(test_double_table),
        cmocka_unit_test(test_double_random),  cmocka_unit_test(test_render_table),
        cmocka_unit_test(test_render_appends), cmocka_unit_test(test_promtool),
        cmocka_unit_test(test_om_parser),      cmocka_unit_test(test_oracles_random),
        cmocka_unit_test(test_gzip),           cmocka_unit_test(test_gzip_rendered),
    };

    return cmocka_run_group_tests_name("am_expo", tests, NULL, NULL);
}
