/* test_am_prom.c — table tests of the Prometheus text / OpenMetrics input parser: the updates
 * and rejects each input gives, and its limits. */
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

#include "am_prom.h"

/* ---- what the parser said, as text ------------------------------------------------------
 * One line per update:  TYPE name{label="value",...} PAYLOAD [help="..."]
 *   untyped / gauge / counter (SET):  the value
 *   histogram:  le:count ... count=N sum=N
 *   summary:    quantile:value ... count=N sum=N
 *   stateset:   state="s" of s1,s2,...
 *   info:       label="value" (the info label and its value)
 * and per reject:  !LINE why
 * Numbers print with %.15g; bytes outside printable ASCII, '"' and '\' as \xHH. */

struct log {
    char *buf;
    size_t len, cap;
    size_t updates;
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

static const char *type_name(enum am_type t)
{
    static const char *const names[] = {"untyped", "gauge",    "counter", "histogram",
                                        "summary", "stateset", "info"};

    assert_true((size_t)t < sizeof(names) / sizeof(names[0]));
    return names[t];
}

/* The op each type takes from this parser. */
static enum am_op op_of(enum am_type t)
{
    switch (t) {
    case AM_TYPE_HISTOGRAM:
        return AM_OP_SET_HISTOGRAM;
    case AM_TYPE_SUMMARY:
        return AM_OP_SET_SUMMARY;
    case AM_TYPE_STATESET:
        return AM_OP_STATE;
    case AM_TYPE_INFO:
        return AM_OP_INFO;
    default:
        return AM_OP_SET;
    }
}

static void on_update(void *arg, struct am_update *u)
{
    struct log *l = arg;
    const struct am_family_spec *spec = u->spec;

    assert_non_null(spec);
    assert_non_null(u->name);
    assert_true(u->name_len > 0);
    assert_true(u->nlabels <= AM_LABELS_MAX);
    assert_true(u->nlabels == 0 || u->labels != NULL);
    assert_int_equal(u->op, op_of(spec->type));
    assert_int_equal(u->weight, 0);
    assert_int_equal(u->source, 0);
    assert_int_equal(u->gen, 0);
    log_add(l, "%s ", type_name(spec->type));
    log_bytes(l, u->name, u->name_len);
    if (u->nlabels > 0) {
        log_add(l, "{");
        for (size_t i = 0; i < u->nlabels; i++) {
            log_add(l, "%s", i > 0 ? "," : "");
            log_bytes(l, u->labels[i].name, u->labels[i].name_len);
            log_add(l, "=\"");
            log_bytes(l, u->labels[i].value, u->labels[i].value_len);
            log_add(l, "\"");
        }
        log_add(l, "}");
    }
    switch (u->op) {
    case AM_OP_SET:
        log_add(l, " %.15g", u->value);
        break;
    case AM_OP_SET_HISTOGRAM:
        assert_true(u->nbounds >= 1);
        assert_true(spec->buckets == u->bounds);
        assert_int_equal(spec->nbuckets, u->nbounds - 1);
        assert_true(u->count == u->counts[u->nbounds - 1]);
        assert_null(u->qvalues);
        for (size_t i = 0; i < u->nbounds; i++) {
            log_add(l, " %.15g:%.15g", u->bounds[i], u->counts[i]);
        }
        log_add(l, " count=%.15g sum=%.15g", u->count, u->sum);
        break;
    case AM_OP_SET_SUMMARY:
        assert_non_null(spec->quantiles);
        assert_int_equal(spec->nquantiles, u->nbounds);
        assert_null(u->counts);
        for (size_t i = 0; i < u->nbounds; i++) {
            assert_true(spec->quantiles[i].q == u->bounds[i]);
            log_add(l, " %.15g:%.15g", u->bounds[i], u->qvalues[i]);
        }
        log_add(l, " count=%.15g sum=%.15g", u->count, u->sum);
        break;
    case AM_OP_STATE:
        assert_true(spec->nstates >= 1);
        log_add(l, " state=\"");
        log_bytes(l, u->str, u->str_len);
        log_add(l, "\" of ");
        for (size_t i = 0; i < spec->nstates; i++) {
            log_add(l, "%s", i > 0 ? "," : "");
            log_bytes(l, spec->states[i], strlen(spec->states[i]));
        }
        break;
    case AM_OP_INFO:
        assert_non_null(spec->info_label);
        log_add(l, " %s=\"", spec->info_label);
        log_bytes(l, u->str, u->str_len);
        log_add(l, "\"");
        break;
    default:
        fail_msg("op %d", (int)u->op);
    }
    if (spec->help != NULL) {
        log_add(l, " help=\"");
        log_bytes(l, spec->help, strlen(spec->help));
        log_add(l, "\"");
    }
    log_add(l, "\n");
    l->updates++;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    struct log *l = arg;

    assert_non_null(why);
    assert_true(why[0] != '\0');
    log_add(l, "!%zu %s\n", line, why);
}

/* Parses in and returns what the parser said (the caller frees it). */
static char *run(const char *in, size_t n)
{
    struct log l = {0};
    size_t count;

    log_add(&l, "%s", "");
    count = am_prom_parse(in, n, on_update, on_reject, &l);
    assert_int_equal(count, l.updates);
    /* Without callbacks the count is the same. */
    assert_int_equal(am_prom_parse(in, n, NULL, NULL, NULL), count);
    return l.buf;
}

struct row {
    const char *in;
    size_t n;
    const char *want;
};

#define IN(s) .in = (s), .n = sizeof(s) - 1

static void check_table(const char *what, const struct row *t, size_t rows)
{
    int bad = 0;

    for (size_t i = 0; i < rows; i++) {
        char *got = run(t[i].in, t[i].n);

        if (strcmp(got, t[i].want) != 0) {
            print_error("%s row %zu (%.*s):\nwant:\n%sgot:\n%s\n", what, i,
                        (int)(t[i].n < 70 ? t[i].n : 70), t[i].in, t[i].want, got);
            bad++;
        }
        free(got);
    }
    assert_int_equal(bad, 0);
}

#define TABLE(t) check_table(#t, t, sizeof(t) / sizeof(t[0]))

/* ---- lines, values, labels ------------------------------------------------------------ */

static const struct row sample_table[] = {
    {IN(""), .want = ""},
    {IN("\n\n  \n\t\n\r\n"), .want = ""},
    {IN("a 1\n"), .want = "untyped a 1\n"},
    {IN("a 1"), .want = "untyped a 1\n"},
    {IN(":a_b:c9 1"), .want = "untyped :a_b:c9 1\n"},
    {IN("a{b=\"c\"} 2\n"), .want = "untyped a{b=\"c\"} 2\n"},
    {IN("a{b=\"c\",d=\"e\",} 2"), .want = "untyped a{b=\"c\",d=\"e\"} 2\n"},
    {IN("a{} 3"), .want = "untyped a 3\n"},
    {IN("a{b=\"\"} 3"), .want = "untyped a{b=\"\"} 3\n"},
    {IN("  a { b = \"c\" , d=\"e\" }\t4 \t"), .want = "untyped a{b=\"c\",d=\"e\"} 4\n"},
    {IN("a{b=\"c\"}5"), .want = "untyped a{b=\"c\"} 5\n"},
    {IN("a 1\r\nb 2\r\n"), .want = "untyped a 1\nuntyped b 2\n"},
    {IN("# a comment\n#no blank\n# UNIT a seconds\n#\na 1"), .want = "untyped a 1\n"},
    /* Timestamps: 0.0.4's milliseconds, OpenMetrics' seconds; read and ignored. */
    {IN("a 1 1700000000000\nb 2 1.7e9\nc 3 -5\nd 4 1520879607.789"),
     .want = "untyped a 1\nuntyped b 2\nuntyped c 3\nuntyped d 4\n"},
    {IN("a 1 x"), .want = "!1 bad timestamp\n"},
    {IN("a 1 NaN\nb 1 +Inf\nc 1 0x10"),
     .want = "!1 bad timestamp\n!2 bad timestamp\n!3 bad timestamp\n"},
    {IN("a 1 2 3"), .want = "!1 text after the sample\n"},
    /* Values: Go's ParseFloat as Prometheus uses it. */
    {IN("a 1e3\nb -2.5E-3\nc +7\nd .5\ne 5.\nf -0\ng 007\n"),
     .want = "untyped a 1000\nuntyped b -0.0025\nuntyped c 7\nuntyped d 0.5\nuntyped e 5\n"
             "untyped f -0\nuntyped g 7\n"},
    {IN("a +Inf\nb -Inf\nc inf\nd Infinity\ne -INFINITY\nf NaN\ng nan\nh NAN\n"),
     .want = "untyped a inf\nuntyped b -inf\nuntyped c inf\nuntyped d inf\nuntyped e -inf\n"
             "untyped f nan\nuntyped g nan\nuntyped h nan\n"},
    {IN("a 123456789012345678901234567890\nb 9007199254740993\nc 0.1\n"),
     .want = "untyped a 1.23456789012346e+29\nuntyped b 9.00719925474099e+15\nuntyped c 0.1\n"},
    {IN("a 1e-999\nb 1.7976931348623157e308\n"),
     .want = "untyped a 0\nuntyped b 1.79769313486232e+308\n"},
    {IN("a 1e999\nb -1e400"), .want = "!1 bad value\n!2 bad value\n"}, /* ErrRange */
    /* Hex: ParseFloat needs a 'p' exponent, and Prometheus refuses 'p' and '_'. */
    {IN("a 0x10\nb 0x1p-2\nc 0X1P3\nd 1_000\n"),
     .want = "!1 bad value\n!2 bad value\n!3 bad value\n!4 bad value\n"},
    {IN("a -nan\nb +NaN\nc nan(1)\nd infinit\ne Inf1"),
     .want = "!1 bad value\n!2 bad value\n!3 bad value\n!4 bad value\n!5 bad value\n"},
    {IN("a 1.2.3\nb 1e\nc e5\nd .\ne +\nf 1e+\ng --1\nh 1,5"),
     .want = "!1 bad value\n!2 bad value\n!3 bad value\n!4 bad value\n!5 bad value\n"
             "!6 bad value\n!7 bad value\n!8 bad value\n"},
    {IN("a\nb{}\nc  \t"), .want = "!1 no value\n!2 no value\n!3 no value\n"},
    {IN("a 1#"), .want = "!1 bad value\n"},
    /* Names. */
    {IN("1a 1\n{a=\"b\"} 1\na-b 1\na.b 1\n\"a\" 1\n"),
     .want = "!1 bad metric name\n!2 bad metric name\n!3 bad metric name\n!4 bad metric name\n"
             "!5 bad metric name\n"},
    {IN("a\xc3\xa9 1"), .want = "!1 bad metric name\n"},
    /* Labels. */
    {IN("a{b=\"c\" 1"), .want = "!1 bad label set\n"},
    {IN("a{b=\"c} 1"), .want = "!1 bad label set\n"},
    {IN("a{b} 1\na{b=c} 1\na{b=\"c\" d=\"e\"} 1\na{b:c=\"d\"} 1\na{b=\"c\"\n"),
     .want = "!1 bad label set\n!2 bad label set\n!3 bad label set\n!4 bad label set\n"
             "!5 bad label set\n"},
    {IN("a{,} 1\na{1b=\"c\"} 1\na{b=\"c\",,} 1\na{:b=\"c\"} 1"),
     .want = "!1 bad label name\n!2 bad label name\n!3 bad label name\n!4 bad label name\n"},
    {IN("a{b=\"c\",b=\"d\"} 1"), .want = "!1 duplicate label name\n"},
    {IN("a{_b=\"1\",__name__=\"x\",B9=\"2\"} 1"),
     .want = "untyped a{_b=\"1\",__name__=\"x\",B9=\"2\"} 1\n"}, /* "__" is the store's check */
    /* Escapes: \\ \" \n; any other backslash stays. */
    {IN("a{b=\"x\\\\y\\\"z\\nw\"} 1"), .want = "untyped a{b=\"x\\x5cy\\x22z\\x0aw\"} 1\n"},
    {IN("a{b=\"C:\\temp\\\"} 1\na{b=\"C:\\temp\"} 2"),
     .want = "!1 bad label set\nuntyped a{b=\"C:\\x5ctemp\"} 2\n"},
    {IN("a{b=\"\\\\\"} 1\na{b=\"\\\"} 1"), .want = "untyped a{b=\"\\x5c\"} 1\n!2 bad label set\n"},
    {IN("a{b=\"}\",c=\"{,=\"} 1"), .want = "untyped a{b=\"}\",c=\"{,=\"} 1\n"},
    {IN("a{b=\"caf\xc3\xa9 \xff\0\t\"} 1"),
     .want = "untyped a{b=\"caf\\xc3\\xa9 \\xff\\x00\\x09\"} 1\n"}, /* checked by the store */
    {IN("a{b=\"x\\ny\",c=\"\\\\\",d=\"z\"} 1"),
     .want = "untyped a{b=\"x\\x0ay\",c=\"\\x5c\",d=\"z\"} 1\n"},
    /* Exemplars: checked, ignored. */
    {IN("a_total 1 # {trace_id=\"x\"} 0.5\n"), .want = "untyped a_total 1\n"},
    {IN("a 1 123 # {t=\"x\"} 0.5 123.4\nb 2 # {} 1\nc 3  #  { t = \"\\\"\" }  1  "),
     .want = "untyped a 1\nuntyped b 2\nuntyped c 3\n"},
    {IN("a 1 # {t=\"x\"}\nb 1 #{t=\"x\"} 1\nc 1 # t 1\nd 1 # {t=\"x\"} 1 2 3\ne 1 # {t=x} 1\n"
        "f 1 # {t=\"x\"} 1 NaN\ng 1 #"),
     .want = "!1 bad exemplar\n!2 bad exemplar\n!3 bad exemplar\n!4 bad exemplar\n"
             "!5 bad exemplar\n!6 bad exemplar\n!7 bad exemplar\n"},
    /* One bad line never costs the others. */
    {IN("a 1\nbad line\nb 2\n{\nc{ 3\nd 4"),
     .want = "untyped a 1\n!2 bad value\nuntyped b 2\n!4 bad metric name\n!5 bad label name\n"
             "untyped d 4\n"},
};

static void test_samples(void **state)
{
    (void)state;
    TABLE(sample_table);
}

/* ---- HELP, TYPE, families ------------------------------------------------------------- */

static const struct row family_table[] = {
    {IN("# HELP a The a.\n# TYPE a gauge\na 1"), .want = "gauge a 1 help=\"The a.\"\n"},
    {IN("# TYPE a gauge\n# HELP a The a.\na 1"), .want = "gauge a 1 help=\"The a.\"\n"},
    {IN("# HELP a x\\\\y\\nz \\\" \\t\na 1"),
     .want = "untyped a 1 help=\"x\\x5cy\\x0az \\x22 \\x5ct\"\n"},
    {IN("# HELP a\na 1\n# HELP b \nb 2"), .want = "untyped a 1 help=\"\"\nuntyped b 2 help=\"\"\n"},
    {IN("#  HELP\ta \t lead  trail  \na 1"), .want = "untyped a 1 help=\"lead  trail  \"\n"},
    {IN("# HELP a caf\xc3\xa9\r\na 1\r\n"), .want = "untyped a 1 help=\"caf\\xc3\\xa9\"\n"},
    {IN("# HELP a x\0y\na 1"), .want = "!1 bad HELP line\nuntyped a 1\n"},
    /* Counters: OpenMetrics "a" with a_total, 0.0.4 "a" or "a_total" as named. */
    {IN("# TYPE a counter\na_total 5\na_created 1.7e9\n"), .want = "counter a 5\n"},
    {IN("# TYPE a counter\na 5"), .want = "counter a 5\n"},
    {IN("# TYPE a_total counter\n# HELP a_total Help.\na_total 5\n"),
     .want = "counter a 5 help=\"Help.\"\n"},
    {IN("# TYPE a counter\na_total 5\na_total{x=\"y\"} 6\na_created{x=\"y\"} 1\n"),
     .want = "counter a 5\ncounter a{x=\"y\"} 6\n"},
    {IN("# TYPE a counter\na_created x"), .want = "!2 bad value\n"},
    {IN("# TYPE _total counter\n_total 1"), .want = "counter _total 1\n"}, /* never empty */
    /* Types: any case; unknown and untyped are one. */
    {IN("# TYPE a unknown\na 1\n# TYPE b untyped\nb 2\n# TYPE c GAUGE\nc 3\n"),
     .want = "untyped a 1\nuntyped b 2\ngauge c 3\n"},
    /* A sample belongs to the last HELP/TYPE when it extends its name the type's way. */
    {IN("# TYPE a gauge\na 1\nb 2\na 3"), .want = "gauge a 1\nuntyped b 2\ngauge a 3\n"},
    {IN("# TYPE a gauge\na_total 1\na_count 2\nab 3"),
     .want = "untyped a_total 1\nuntyped a_count 2\nuntyped ab 3\n"},
    {IN("# HELP a x\nb 1\na 2"), .want = "untyped b 1\nuntyped a 2 help=\"x\"\n"},
    {IN("# TYPE a counter\n# TYPE b gauge\na_total 1"), .want = "untyped a_total 1\n"},
    {IN("  # TYPE a gauge\n\t a 1"), .want = "gauge a 1\n"},
    {IN("#TYPE a gauge\na 1"), .want = "untyped a 1\n"}, /* a comment */
    {IN("# type a gauge\na 1"), .want = "untyped a 1\n"},
    /* Refused TYPE lines refuse their family's samples, not the others'. */
    {IN("# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gcount 1\na_gsum 0\nb 2"),
     .want = "!1 gaugehistogram is not supported\n!2 sample of a family whose TYPE was refused\n"
             "!3 sample of a family whose TYPE was refused\n"
             "!4 sample of a family whose TYPE was refused\nuntyped b 2\n"},
    {IN("# TYPE a bogus\na 1\nab 2"),
     .want = "!1 unknown type\n!2 sample of a family whose TYPE was refused\nuntyped ab 2\n"},
    {IN("# TYPE a\na 1"),
     .want = "!1 bad TYPE line\n!2 sample of a family whose TYPE was refused\n"},
    {IN("# TYPE a counter extra\na_total 1"),
     .want = "!1 bad TYPE line\n!2 sample of a family whose TYPE was refused\n"},
    {IN("# HELP a x\n# TYPE a bogus\na 1\n# TYPE b gauge\nb 1"),
     .want = "!2 unknown type\n!3 sample of a family whose TYPE was refused\ngauge b 1\n"},
    {IN("# TYPE a bogus\na x"), .want = "!1 unknown type\n!2 bad value\n"}, /* one reject each */
    {IN("# TYPE\n# HELP\n# TYPE 1a gauge\n# HELP a-b x\n# TYPE  \n"),
     .want = "!1 bad TYPE line\n!2 bad HELP line\n!3 bad TYPE line\n!4 bad HELP line\n"
             "!5 bad TYPE line\n"},
    /* Second HELP or TYPE: refused, the first kept. */
    {IN("# TYPE a counter\n# TYPE a gauge\na 1"),
     .want = "!2 second TYPE for the family\ncounter a 1\n"},
    {IN("# HELP a x\n# HELP a y\na 1"),
     .want = "!2 second HELP for the family\nuntyped a 1 help=\"x\"\n"},
    {IN("# TYPE a counter\n# TYPE a bogus\na 1"),
     .want = "!2 second TYPE for the family\ncounter a 1\n"},
    /* # EOF ends the input. */
    {IN("# TYPE a gauge\na 1\n# EOF\nb 2"), .want = "gauge a 1\n"},
    {IN("a 1\n  # EOF \t\r\nb 2"), .want = "untyped a 1\n"},
    {IN("# EOF x\na 1\n#EOF\nb 2\n# eof\nc 3"), .want = "untyped a 1\nuntyped b 2\nuntyped c 3\n"},
    /* Info: the last label is the info label. */
    {IN("# TYPE build info\nbuild_info{name=\"x\",version=\"1.2\"} 1"),
     .want = "info build{name=\"x\"} version=\"1.2\"\n"},
    {IN("# TYPE build_info info\nbuild_info{version=\"1\\n\"} 1.0"),
     .want = "info build version=\"1\\x0a\"\n"},
    {IN("# TYPE b info\nb{v=\"1\"} 1"), .want = "info b v=\"1\"\n"},
    {IN("# TYPE b info\nb_info 1\nb_info{} 1\nb_info{v=\"1\"} 2\nb_info{v=\"1\"} NaN\n"),
     .want = "!2 info sample without labels\n!3 info sample without labels\n!4 info value not 1\n"
             "!5 info value not 1\n"},
    {IN("# TYPE b info\nb_total{v=\"1\"} 1"), .want = "untyped b_total{v=\"1\"} 1\n"},
};

static void test_families(void **state)
{
    (void)state;
    TABLE(family_table);
}

/* ---- histograms ------------------------------------------------------------------------ */

#define TH "# TYPE h histogram\n"

static const struct row histogram_table[] = {
    /* client_golang's 0.0.4. */
    {IN("# HELP h A histogram.\n" TH "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\n"
        "h_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n"),
     .want = "histogram h 0.1:1 1:3 inf:4 count=4 sum=2.5 help=\"A histogram.\"\n"},
    /* OpenMetrics: _count before _sum, _created, exemplars, label order aside. */
    {IN(TH "h_bucket{m=\"GET\",le=\"1\"} 1 # {trace=\"a\"} 0.5\n"
           "h_bucket{m=\"GET\",le=\"+Inf\"} 2\nh_count{m=\"GET\"} 2\nh_sum{m=\"GET\"} 3\n"
           "h_created{m=\"GET\"} 1.7e9\nh_bucket{le=\"1\",m=\"POST\"} 0\n"
           "h_bucket{m=\"POST\",le=\"+Inf\"} 0\nh_count{m=\"POST\"} 0\nh_sum{m=\"POST\"} 0\n"
           "# EOF\n"),
     .want = "histogram h{m=\"GET\"} 1:1 inf:2 count=2 sum=3\n"
             "histogram h{m=\"POST\"} 1:0 inf:0 count=0 sum=0\n"},
    {IN(TH "h_bucket{a=\"1\",b=\"2\",le=\"+Inf\"} 1\nh_count{b=\"2\",a=\"1\"} 1\n"),
     .want = "histogram h{a=\"1\",b=\"2\"} inf:1 count=1 sum=0\n"},
    /* _count missing: the +Inf bucket; _sum missing: 0. */
    {IN(TH "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\n"),
     .want = "histogram h 1:2 inf:3 count=3 sum=0\n"},
    {IN(TH "h_bucket{le=\"1e-3\"} 0\nh_bucket{le=\"0.5\"} 0\nh_bucket{le=\"+inf\"} 0\n"),
     .want = "histogram h 0.001:0 0.5:0 inf:0 count=0 sum=0\n"},
    {IN(TH "h_bucket{le=\"-5\"} 0\nh_bucket{le=\"Inf\"} 1\nh_sum -3\n"),
     .want = "histogram h -5:0 inf:1 count=1 sum=-3\n"},
    {IN(TH "h_sum NaN\nh_bucket{le=\"+Inf\"} 1.5\n"),
     .want = "histogram h inf:1.5 count=1.5 sum=nan\n"}, /* whole counts: the store's check */
    /* Comments and blank lines inside a series do not end it. */
    {IN(TH "h_bucket{le=\"1\"} 1\n# a comment\n\nh_bucket{le=\"+Inf\"} 1\n"),
     .want = "histogram h 1:1 inf:1 count=1 sum=0\n"},
    /* Refused series, each once, at the line that shows it. */
    {IN(TH "h_bucket{le=\"1\"} 1\nh_count 1\n"), .want = "!3 no +Inf bucket\n"},
    {IN(TH "h_count 1\nh_sum 1\n"), .want = "!3 no +Inf bucket\n"},
    {IN(TH "h_created 1\n"), .want = "!2 no +Inf bucket\n"},
    {IN(TH "h_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
           "h_bucket{le=\"+Inf\"} 1\nh_count 9\n"),
     .want = "!3 le values not ascending\n"},
    {IN(TH "h_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\n"),
     .want = "!3 le values not ascending\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"+Inf\"} 1\n"),
     .want = "!3 le values not ascending\n"},
    {IN(TH "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"),
     .want = "!3 bucket counts decrease\n"},
    {IN(TH "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 4\nh_count 5\nh_sum 1\n"),
     .want = "!4 _count differs from the +Inf bucket\n"},
    {IN(TH "h_bucket{le=\"x\"} 1\n"), .want = "!2 bad le\n"},
    {IN(TH "h_bucket{le=\"NaN\"} 1\n"), .want = "!2 bad le\n"},
    {IN(TH "h_bucket{le=\"-Inf\"} 0\nh_bucket{le=\"+Inf\"} 0\n"), .want = "!2 bad le\n"},
    {IN(TH "h_bucket{le=\"\"} 0\n"), .want = "!2 bad le\n"},
    {IN(TH "h_bucket{le=\"0x1p3\"} 0\n"), .want = "!2 bad le\n"},
    {IN(TH "h_bucket 1\n"), .want = "!2 bucket without le\n"},
    {IN(TH "h_bucket{a=\"b\"} 1\nh_bucket{a=\"b\",le=\"+Inf\"} 1\n"),
     .want = "!2 bucket without le\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} -1\n"), .want = "!2 bucket count not a finite number >= 0\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} NaN\n"), .want = "!2 bucket count not a finite number >= 0\n"},
    {IN(TH "h_bucket{le=\"1\"} +Inf\nh_bucket{le=\"+Inf\"} +Inf\n"),
     .want = "!2 bucket count not a finite number >= 0\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh_count NaN\n"),
     .want = "!3 _count not a finite number >= 0\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh_count 1\nh_count 1\n"),
     .want = "!4 second _count for the series\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_sum 1\n"),
     .want = "!4 second _sum for the series\n"},
    /* le belongs on buckets only: elsewhere it is not a series label. */
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh_count{le=\"+Inf\"} 1\n"),
     .want = "!3 le on a line that is not a bucket\n"},
    {IN(TH "h_sum{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_bucket{a=\"b\",le=\"+Inf\"} 1\n"),
     .want = "!2 le on a line that is not a bucket\nhistogram h{a=\"b\"} inf:1 count=1 sum=0\n"},
    {IN(TH "h_created{le=\"1\"} 1\n"), .want = "!2 le on a line that is not a bucket\n"},
    /* A bad series costs only itself. */
    {IN(TH "h_bucket{a=\"1\",le=\"1\"} 2\nh_bucket{a=\"1\",le=\"+Inf\"} 1\nh_count{a=\"1\"} 1\n"
           "h_bucket{a=\"2\",le=\"+Inf\"} 7\nh_count{a=\"2\"} 7\n# TYPE g gauge\ng 1\n"),
     .want = "!3 bucket counts decrease\nhistogram h{a=\"2\"} inf:7 count=7 sum=0\ngauge g 1\n"},
    /* A line of a series that does not parse refuses the series. */
    {IN(TH "h_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"1\",le=\"+Inf\"} x\nh_count{a=\"1\"} 1\n"
           "h_bucket{a=\"2\",le=\"1\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n"),
     .want = "!3 bad value\nhistogram h{a=\"2\"} 1:1 inf:1 count=1 sum=0\n"},
    {IN(TH "h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_bucket{a=\"2\",le=\"1\"} x\n"
           "h_bucket{a=\"2\",le=\"+Inf\"} 1\nh_count{a=\"2\"} 1\n"),
     .want = "histogram h{a=\"1\"} inf:1 count=1 sum=0\n!3 bad value\n"},
    {IN(TH "h_bucket{le=\"1\"} 1 2 3\nh_bucket{le=\"+Inf\"} 1\n"),
     .want = "!2 text after the sample\n"},
    /* ... even when its series cannot be told: then the next series is refused too
     * when it starts right after, as that line may have been its first. */
    {IN(TH "h_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"1\",le=\"2\" 2\n"
           "h_bucket{a=\"1\",le=\"+Inf\"} 3\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n"),
     .want = "!3 bad label set\nhistogram h{a=\"2\"} inf:1 count=1 sum=0\n"},
    {IN(TH
        "h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_bucket{a=\"2\" le=\"1\"} 1\n"
        "h_bucket{a=\"2\",le=\"+Inf\"} 1\nh_count{a=\"2\"} 1\nh_bucket{a=\"3\",le=\"+Inf\"} 1\n"),
     .want = "!3 bad label set\n!4 series next to a line that does not parse\n"
             "histogram h{a=\"3\"} inf:1 count=1 sum=0\n"},
    {IN(TH "h_bucket{le=\"1\" 0\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"),
     .want = "!2 bad label set\n!3 series next to a line that does not parse\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh_bucket-x 1\nh_count 1\n"), .want = "!3 bad metric name\n"},
    /* A bad line of another family leaves the series alone. */
    {IN(TH "h_bucket{le=\"1\"} 1\nx{ 1\n{ 2\nh_bucket{le=\"+Inf\"} 1\n"),
     .want = "!3 bad label name\n!4 bad metric name\nhistogram h 1:1 inf:1 count=1 sum=0\n"},
    /* A good line of another family, or another TYPE, ends the series. */
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nother 5\nh_count 1\n"),
     .want = "histogram h inf:1 count=1 sum=0\nuntyped other 5\n!4 no +Inf bucket\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\n# TYPE g gauge\nh_count 1\n"),
     .want = "histogram h inf:1 count=1 sum=0\nuntyped h_count 1\n"},
    {IN(TH "h_bucket{le=\"+Inf\"} 1\nh 1\nh_bucket{le=\"+Inf\"} 2\n"),
     .want = "histogram h inf:1 count=1 sum=0\nuntyped h 1\nhistogram h inf:2 count=2 sum=0\n"},
    /* The same series twice in a row is one series (its second +Inf is out of order). */
    {IN(TH "h_bucket{a=\"x\",le=\"+Inf\"} 1\nh_bucket{a=\"x\",le=\"+Inf\"} 1\n"),
     .want = "!3 le values not ascending\n"},
    /* Escaped label values of the series outlive its first line. */
    {IN(TH "h_bucket{p=\"a\\\"b\",le=\"1\"} 1\nh_bucket{p=\"a\\\"b\",le=\"+Inf\"} 2\n"
           "h_sum{p=\"a\\\"b\"} 3\nh_bucket{p=\"c\\\\\",le=\"+Inf\"} 1\n"),
     .want = "histogram h{p=\"a\\x22b\"} 1:1 inf:2 count=2 sum=3\n"
             "histogram h{p=\"c\\x5c\"} inf:1 count=1 sum=0\n"},
    {IN(TH "h_bucket{le=\"+\\Inf\"} 1\n"), .want = "!2 bad le\n"},
};

static void test_histograms(void **state)
{
    (void)state;
    TABLE(histogram_table);
}

/* ---- summaries and statesets ----------------------------------------------------------- */

#define TS "# TYPE s summary\n"
#define TSS "# TYPE s stateset\n"

static const struct row summary_table[] = {
    {IN("# HELP s A summary.\n" TS "s{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\n"
        "s{quantile=\"0.99\"} 3\ns_sum 10\ns_count 5\n"),
     .want = "summary s 0.5:1 0.9:2 0.99:3 count=5 sum=10 help=\"A summary.\"\n"},
    {IN(TS "s_count 2\ns_sum 3\n"), .want = "summary s count=2 sum=3\n"},
    {IN(TS "s{quantile=\"0\"} NaN\ns{quantile=\"1\"} -Inf\n"),
     .want = "summary s 0:nan 1:-inf count=0 sum=0\n"},
    {IN(TS "s_sum 1\ns_created 5\n"), .want = "summary s count=0 sum=1\n"},
    {IN(TS "s_created 5\n"), .want = ""},
    {IN(TS "s{a=\"x\",quantile=\"0.5\"} 1\ns_count{a=\"x\"} 1\ns{quantile=\"0.5\",a=\"y\"} 2\n"),
     .want = "summary s{a=\"x\"} 0.5:1 count=1 sum=0\nsummary s{a=\"y\"} 0.5:2 count=0 sum=0\n"},
    {IN(TS "s{quantile=\"1.5\"} 1\n"), .want = "!2 bad quantile\n"},
    {IN(TS "s{quantile=\"-0.1\"} 1\n"), .want = "!2 bad quantile\n"},
    {IN(TS "s{quantile=\"NaN\"} 1\n"), .want = "!2 bad quantile\n"},
    {IN(TS "s{quantile=\"x\"} 1\ns_count 1\n"), .want = "!2 bad quantile\n"},
    {IN(TS "s{quantile=\"0.9\"} 1\ns{quantile=\"0.5\"} 1\n"),
     .want = "!3 quantiles not ascending\n"},
    {IN(TS "s{quantile=\"0.5\"} 1\ns{quantile=\"0.50\"} 1\n"),
     .want = "!3 quantiles not ascending\n"},
    {IN(TS "s{a=\"b\"} 1\n"), .want = "!2 summary sample without quantile\n"},
    {IN(TS "s 1\n"), .want = "!2 summary sample without quantile\n"},
    {IN(TS "s_count -1\n"), .want = "!2 _count not a finite number >= 0\n"},
    {IN(TS "s{quantile=\"0.5\"} 1\ns_count{quantile=\"0\"} 2\n"),
     .want = "!3 quantile on a line that is not a quantile\n"},
    {IN(TS "s_sum{quantile=\"0\"} 2\ns_count{a=\"b\"} 1\n"),
     .want = "!2 quantile on a line that is not a quantile\nsummary s{a=\"b\"} count=1 sum=0\n"},
    {IN(TS "s_count 1\ns_count 2\ns_sum 1\ns_sum 1\n"),
     .want = "!3 second _count for the series\n"},
    {IN(TS "s{a=\"1\",quantile=\"2\"} 1\ns_count{a=\"1\"} 1\ns{a=\"2\",quantile=\"0.5\"} 1\n"),
     .want = "!2 bad quantile\nsummary s{a=\"2\"} 0.5:1 count=0 sum=0\n"},
    {IN(TS "s_bucket{le=\"+Inf\"} 1\n"), .want = "untyped s_bucket{le=\"+Inf\"} 1\n"},
};

static const struct row stateset_table[] = {
    {IN(TSS "s{s=\"a\"} 1\ns{s=\"b\"} 0\ns{s=\"c\"} 0\n"),
     .want = "stateset s state=\"a\" of a,b,c\n"},
    {IN(TSS "s{s=\"a\"} 0.0\ns{s=\"b\"} 1.0\n"), .want = "stateset s state=\"b\" of a,b\n"},
    {IN(TSS "s{e=\"x\",s=\"a\"} 0\ns{e=\"x\",s=\"b\"} 1\ns{s=\"a\",e=\"y\"} 1\n"
            "s{e=\"y\",s=\"b\"} 0\n"),
     .want = "stateset s{e=\"x\"} state=\"b\" of a,b\nstateset s{e=\"y\"} state=\"a\" of a,b\n"},
    {IN(TSS "s{s=\"a\\\"q\"} 1\ns{s=\"b\\\\\"} 0\n"),
     .want = "stateset s state=\"a\\x22q\" of a\\x22q,b\\x5c\n"},
    {IN(TSS "s{s=\"a\"} 0\ns{s=\"b\"} 0\n"), .want = "!3 no state is 1\n"},
    {IN(TSS "s{s=\"a\"} 1\ns{s=\"b\"} 1\ns{s=\"c\"} 0\n"), .want = "!3 more than one state is 1\n"},
    {IN(TSS "s{s=\"a\"} 2\n"), .want = "!2 state value not 0 or 1\n"},
    {IN(TSS "s{s=\"a\"} NaN\n"), .want = "!2 state value not 0 or 1\n"},
    {IN(TSS "s 1\ns{e=\"x\"} 1\n"), .want = "!2 stateset sample without the family's label\n"
                                            "!3 stateset sample without the family's label\n"},
    {IN(TSS "s{s=\"a\"} 1\ns{s=\"a\"} 0\n"), .want = "!3 second sample for a state\n"},
    {IN(TSS "s{s=\"a\\x00\"} 1\n"), .want = "stateset s state=\"a\\x5cx00\" of a\\x5cx00\n"},
    {IN(TSS "s{s=\"a\0\"} 1\n"), .want = "!2 state with a NUL byte\n"},
    {IN(TSS "s{e=\"x\",s=\"a\"} 1\ns{e=\"x\",s=\"b\"} 1\ns{e=\"y\",s=\"a\"} 1\n"),
     .want = "!3 more than one state is 1\nstateset s{e=\"y\"} state=\"a\" of a\n"},
    {IN(TSS "s{s=\"a\"} 1\ns_total 1\n"),
     .want = "stateset s state=\"a\" of a\nuntyped s_total 1\n"},
    {IN("# TYPE s:x stateset\ns:x{a=\"b\"} 1\n"),
     .want = "!2 stateset sample without the family's label\n"},
};

static void test_summaries(void **state)
{
    (void)state;
    TABLE(summary_table);
}

static void test_statesets(void **state)
{
    (void)state;
    TABLE(stateset_table);
}

/* ---- limits ---------------------------------------------------------------------------- */

/* A line is read up to 64 KiB (without its '\n'); a longer one is refused, and only it. */
static void test_line_limit(void **state)
{
    size_t max = 65536;
    char *in = malloc(3 * max + 64), *got;
    size_t n = 0;

    (void)state;
    assert_non_null(in);
    /* Exactly 64 KiB: "a{b=\"xxx...\"} 1" */
    n += (size_t)sprintf(in, "a{b=\"");
    memset(in + n, 'x', max - 9);
    n += max - 9;
    n += (size_t)sprintf(in + n, "\"} 1\n");
    assert_int_equal(n, max + 1);
    /* One more byte. */
    n += (size_t)sprintf(in + n, "a{b=\"");
    memset(in + n, 'y', max - 8);
    n += max - 8;
    n += (size_t)sprintf(in + n, "\"} 2\nc 3\n");
    got = run(in, n);
    assert_int_equal(strncmp(got, "untyped a{b=\"xxx", 16), 0);
    assert_non_null(strstr(got, "x\"} 1\n!2 line longer than 64 KiB\nuntyped c 3\n"));
    free(got);
    /* A 64 KiB HELP and a long line in a histogram series, which it refuses. */
    n = (size_t)sprintf(in, "# HELP h ");
    memset(in + n, 'h', max - 9);
    n += max - 9;
    n += (size_t)sprintf(in + n, "\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"");
    memset(in + n, '9', max);
    n += max;
    n += (size_t)sprintf(in + n, "\"} 1\nh_bucket{le=\"+Inf\"} 1\n# TYPE g gauge\ng 1\n");
    got = run(in, n);
    assert_string_equal(got, "!4 line longer than 64 KiB\ngauge g 1\n");
    free(got);
    free(in);
}

/* AM_LABELS_MAX labels are read, one more is refused. */
static void test_label_limit(void **state)
{
    struct log in = {0};
    char *got;

    (void)state;
    for (int k = AM_LABELS_MAX; k <= AM_LABELS_MAX + 1; k++) {
        in.len = 0;
        log_add(&in, "a{");
        for (int i = 0; i < k; i++) {
            log_add(&in, "l%d=\"%d\",", i, i);
        }
        log_add(&in, "} 1\nb 2\n");
        got = run(in.buf, in.len);
        if (k == AM_LABELS_MAX) {
            assert_int_equal(strncmp(got, "untyped a{l0=\"0\",", 17), 0);
            assert_non_null(strstr(got, ",l31=\"31\"} 1\nuntyped b 2\n"));
        } else {
            assert_string_equal(got, "!1 more than 32 labels\nuntyped b 2\n");
        }
        free(got);
    }
    /* The le of a histogram counts among them. */
    in.len = 0;
    log_add(&in, "# TYPE h histogram\nh_bucket{");
    for (int i = 0; i < AM_LABELS_MAX; i++) {
        log_add(&in, "l%d=\"%d\",", i, i);
    }
    log_add(&in, "le=\"+Inf\"} 1\n");
    got = run(in.buf, in.len);
    assert_string_equal(got, "!2 more than 32 labels\n");
    free(got);
    free(in.buf);
}

/* 256 buckets (+Inf among them), 64 quantiles, 64 states; one more refuses the series. */
static void test_group_limits(void **state)
{
    struct log in = {0};
    char *got;

    (void)state;
    for (int k = 256; k <= 257; k++) {
        in.len = 0;
        log_add(&in, "# TYPE h histogram\n");
        for (int i = 1; i < k; i++) {
            log_add(&in, "h_bucket{le=\"%d\"} %d\n", i, i);
        }
        log_add(&in, "h_bucket{le=\"+Inf\"} %d\n# TYPE g gauge\ng 1\n", k);
        got = run(in.buf, in.len);
        if (k == 256) {
            assert_int_equal(strncmp(got, "histogram h 1:1 2:2 ", 20), 0);
            assert_non_null(strstr(got, " 255:255 inf:256 count=256 sum=0\ngauge g 1\n"));
        } else {
            assert_string_equal(got, "!258 more than 256 buckets\ngauge g 1\n");
        }
        free(got);
    }
    for (int k = 64; k <= 65; k++) {
        in.len = 0;
        log_add(&in, "# TYPE s summary\n");
        for (int i = 0; i < k; i++) {
            log_add(&in, "s{quantile=\"%g\"} %d\n", i / 100.0, i);
        }
        log_add(&in, "s_count 1\n");
        got = run(in.buf, in.len);
        if (k == 64) {
            assert_int_equal(strncmp(got, "summary s 0:0 0.01:1 ", 21), 0);
            assert_non_null(strstr(got, " 0.63:63 count=1 sum=0\n"));
        } else {
            assert_string_equal(got, "!66 more than 64 quantiles\n");
        }
        free(got);
    }
    for (int k = 64; k <= 65; k++) {
        in.len = 0;
        log_add(&in, "# TYPE s stateset\n");
        for (int i = 0; i < k; i++) {
            log_add(&in, "s{s=\"st%d\"} %d\n", i, i == 0);
        }
        got = run(in.buf, in.len);
        if (k == 64) {
            assert_int_equal(strncmp(got, "stateset s state=\"st0\" of st0,st1,", 34), 0);
            assert_non_null(strstr(got, ",st63\n"));
        } else {
            assert_string_equal(got, "!66 more than 64 states\n");
        }
        free(got);
    }
    free(in.buf);
}

/* What the header promises about pointers: help and states are C strings, names and
 * plain label values point into the input. */
struct ptrs {
    const char *in;
    size_t n;
    int seen;
};

static void on_ptr_update(void *arg, struct am_update *u)
{
    struct ptrs *p = arg;

    assert_true(u->name >= p->in && u->name + u->name_len <= p->in + p->n);
    for (size_t i = 0; i < u->nlabels; i++) {
        assert_true(u->labels[i].name >= p->in && u->labels[i].name < p->in + p->n);
    }
    if (u->op == AM_OP_SET) {
        /* The plain value lives in the input, the escaped one in scratch. */
        assert_true(u->labels[0].value >= p->in && u->labels[0].value < p->in + p->n);
        assert_false(u->labels[1].value >= p->in && u->labels[1].value < p->in + p->n);
        assert_string_equal(u->spec->help, "x\ny");
    }
    p->seen++;
}

static void test_pointers(void **state)
{
    static const char in[] = "# HELP a x\\ny\n# TYPE a gauge\na{p=\"plain\",q=\"e\\\\s\"} 1\n";
    struct ptrs p = {in, sizeof(in) - 1, 0};

    (void)state;
    assert_int_equal(am_prom_parse(in, p.n, on_ptr_update, NULL, &p), 1);
    assert_int_equal(p.seen, 1);
    assert_int_equal(am_prom_parse(NULL, 0, NULL, NULL, NULL), 0);
}

/* A realistic exposition: node_exporter/client_golang style with every type, and a few bad
 * lines scattered in it that cost nothing else. */
static void test_exposition(void **state)
{
    static const char in[] = "# HELP go_gc_duration_seconds A summary of the pause duration.\n"
                             "# TYPE go_gc_duration_seconds summary\n"
                             "go_gc_duration_seconds{quantile=\"0\"} 2.1e-05\n"
                             "go_gc_duration_seconds{quantile=\"0.25\"} 3.3e-05\n"
                             "go_gc_duration_seconds{quantile=\"1\"} 0.000101\n"
                             "go_gc_duration_seconds_sum 0.0012\n"
                             "go_gc_duration_seconds_count 21\n"
                             "# HELP go_goroutines Number of goroutines that currently exist.\n"
                             "# TYPE go_goroutines gauge\n"
                             "go_goroutines 8\n"
                             "# HELP http_requests_total Requests.\n"
                             "# TYPE http_requests_total counter\n"
                             "http_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n"
                             "http_requests_total{code=\"400\",method=\"post\"} 3 1395066363000\n"
                             "http_requests_total{code=\"500\",method=\"post\" 3\n" /* bad */
                             "# HELP rpc_duration_seconds A histogram.\n"
                             "# TYPE rpc_duration_seconds histogram\n"
                             "rpc_duration_seconds_bucket{le=\"0.05\"} 24054\n"
                             "rpc_duration_seconds_bucket{le=\"0.1\"} 33444\n"
                             "rpc_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
                             "rpc_duration_seconds_sum 53423\n"
                             "rpc_duration_seconds_count 144320\n"
                             "# TYPE broken histogram\n"
                             "broken_bucket{le=\"+Inf\"} 3\n"
                             "broken_count 4\n" /* bad series */
                             "# TYPE up_state stateset\n"
                             "up_state{up_state=\"down\"} 0\n"
                             "up_state{up_state=\"up\"} 1\n"
                             "# TYPE build info\n"
                             "build_info{version=\"1.0\"} 1\n"
                             "metric_without_timestamp_and_labels 12.47\n"
                             "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
                             "# EOF\n";
    char *got;

    (void)state;
    got = run(in, sizeof(in) - 1);
    assert_string_equal(
        got, "summary go_gc_duration_seconds 0:2.1e-05 0.25:3.3e-05 1:0.000101 count=21 "
             "sum=0.0012 help=\"A summary of the pause duration.\"\n"
             "gauge go_goroutines 8 help=\"Number of goroutines that currently exist.\"\n"
             "counter http_requests{code=\"200\",method=\"get\"} 1027 help=\"Requests.\"\n"
             "counter http_requests{code=\"400\",method=\"post\"} 3 help=\"Requests.\"\n"
             "!15 bad label set\n"
             "histogram rpc_duration_seconds 0.05:24054 0.1:33444 inf:144320 count=144320 "
             "sum=53423 help=\"A histogram.\"\n"
             "!25 _count differs from the +Inf bucket\n"
             "stateset up_state state=\"up\" of down,up\n"
             "info build version=\"1.0\"\n"
             "untyped metric_without_timestamp_and_labels 12.47\n"
             "untyped something_weird{problem=\"division by zero\"} inf\n");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),     cmocka_unit_test(test_families),
        cmocka_unit_test(test_histograms),  cmocka_unit_test(test_summaries),
        cmocka_unit_test(test_statesets),   cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_label_limit), cmocka_unit_test(test_group_limits),
        cmocka_unit_test(test_pointers),    cmocka_unit_test(test_exposition),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
