/* test_am_store.c — table tests of the metric store: checks and their order, every op, caps,
 * TTL, sweeps, sets, statesets, info, memory accounting. */
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

#include "am_store.h"

#define NSTEPS 16

/* ---- the store as text, to compare whole states ---- */

struct text {
    char out[8192];
    size_t len;
};

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(t->out + t->len, sizeof(t->out) - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(t->out) - t->len);
    t->len += (size_t)n;
}

/* Whole numbers as such, others as the shortest %g that reads back as v. */
static void put_num(struct text *t, double v)
{
    char tmp[64];

    if (v == floor(v) && fabs(v) < 1e15) {
        put(t, "%.0f", v);
        return;
    }

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v || isnan(v)) {
            break;
        }
    }
    put(t, "%s", tmp);
}

/*
 * One line per family, "TYPE NAME" and its shape (le=, q=, states=, label=), then one line per
 * series: "  {k=v,...} VALUE" where VALUE is the number; a set's "set=N"; a histogram's
 * "count= sum= b=per,bucket" (observed) or "abs count= sum= cum=..." (set whole); a summary's
 * "count= sum= q=..." (quantiles at now_ms, 2 digits: the sketch is within 1%) or "set ..."; a
 * state's name; an info value in quotes. Checks the read side's invariants on the way.
 */
static const char *dump(struct am_store *st, int64_t now_ms, struct text *t)
{
    size_t nfam = 0, nser = 0;

    t->len = 0;
    t->out[0] = '\0';
    for (const struct am_family *f = am_store_families(st); f != NULL; f = f->next) {
        size_t n = 0;

        nfam++;
        assert_int_equal(strlen(f->name), f->name_len);
        put(t, "%s %s", am_type_name(f->type), f->name);
        for (size_t i = 1; i < f->nlabels; i++) {
            assert_true(strcmp(f->label_names[i - 1], f->label_names[i]) < 0);
        }
        if (f->type == AM_TYPE_HISTOGRAM) {
            put(t, " le=");
            for (size_t i = 0; i < f->nbuckets; i++) {
                put(t, i > 0 ? "," : "");
                put_num(t, f->buckets[i]);
            }
        }
        if (f->type == AM_TYPE_SUMMARY) {
            put(t, " q=");
            for (size_t i = 0; i < f->nquantiles; i++) {
                put(t, i > 0 ? "," : "");
                put_num(t, f->quantiles[i].q);
            }
        }
        if (f->type == AM_TYPE_STATESET) {
            put(t, " states=");
            for (size_t i = 0; i < f->nstates; i++) {
                put(t, "%s%s", i > 0 ? "," : "", f->states[i]);
            }
        }
        if (f->type == AM_TYPE_INFO) {
            put(t, " label=%s", f->info_label);
        }
        if (f->help != NULL) {
            put(t, " help=\"%s\"", f->help);
        }
        put(t, "\n");
        for (const struct am_series *s = f->series; s != NULL; s = s->next) {
            n++;
            put(t, "  {");
            for (size_t i = 0; i < f->nlabels; i++) {
                assert_int_equal(strlen(s->vals[i]), s->val_lens[i]);
                put(t, "%s%s=%s", i > 0 ? "," : "", f->label_names[i], s->vals[i]);
            }
            put(t, "} ");
            switch (f->type) {
            case AM_TYPE_UNTYPED:
            case AM_TYPE_COUNTER:
                put_num(t, s->u.value);
                break;
            case AM_TYPE_GAUGE:
                if (s->is_set) {
                    put(t, "set=%zu", s->u.set.n);
                } else {
                    put_num(t, s->u.value);
                }
                break;
            case AM_TYPE_HISTOGRAM:
                if (s->u.hist.abs != NULL) {
                    put(t, "abs count=");
                    put_num(t, s->u.hist.abs_count);
                    assert_true(s->u.hist.count == (uint64_t)s->u.hist.abs_count);
                } else {
                    put(t, "count=%llu", (unsigned long long)s->u.hist.count);
                }
                put(t, " sum=");
                put_num(t, s->u.hist.sum);
                put(t, s->u.hist.abs != NULL ? " cum=" : " b=");
                for (size_t i = 0; i <= f->nbuckets; i++) {
                    put(t, i > 0 ? "," : "");
                    if (s->u.hist.abs != NULL) {
                        put_num(t, s->u.hist.abs[i]);
                    } else {
                        put(t, "%llu", (unsigned long long)s->u.hist.counts[i]);
                    }
                }
                break;
            case AM_TYPE_SUMMARY:
                put(t, "%scount=", s->u.sum.sketch == NULL ? "set " : "");
                put_num(t, s->u.sum.count);
                put(t, " sum=");
                put_num(t, s->u.sum.sum);
                put(t, " q=");
                for (size_t i = 0; i < f->nquantiles; i++) {
                    double v = s->u.sum.sketch != NULL
                                   ? am_quant_query(s->u.sum.sketch, f->quantiles[i].q, now_ms)
                                   : s->u.sum.qvalues[i];

                    put(t, "%s%.2g", i > 0 ? "," : "", v);
                }
                break;
            case AM_TYPE_STATESET:
                assert_true(s->u.state < f->nstates);
                put(t, "%s", f->states[s->u.state]);
                break;
            case AM_TYPE_INFO:
                assert_int_equal(strlen(s->u.info.str), s->u.info.len);
                put(t, "\"%s\"", s->u.info.str);
                break;
            }
            put(t, "\n");
        }
        assert_int_equal(n, f->nseries);
        assert_true(n > 0);
        nser += n;
    }
    assert_int_equal(nfam, am_store_nfamilies(st));
    assert_int_equal(nser, am_store_nseries(st));
    return t->out;
}

/* ---- updates from table rows ---- */

/* "k=v,k=v" (NULL or "" for none) into labels, pointing into buf. */
static size_t parse_labels(const char *s, char *buf, size_t bufsz, struct am_label *l)
{
    size_t n = 0;
    char *p;

    if (s == NULL || *s == '\0') {
        return 0;
    }
    assert_true(strlen(s) < bufsz);
    strcpy(buf, s);
    for (p = strtok(buf, ","); p != NULL; p = strtok(NULL, ",")) {
        char *eq = strchr(p, '=');

        assert_non_null(eq);
        assert_true(n < AM_LABELS_MAX + 4);
        l[n] = (struct am_label){p, (size_t)(eq - p), eq + 1, strlen(eq + 1)};
        n++;
    }
    return n;
}

struct step {
    int64_t now;
    const char *name;
    enum am_type type;
    enum am_op op;
    const char *labels;
    double value;
    const char *str;                   /* MEMBER, STATE, INFO */
    const struct am_family_spec *spec; /* NULL: one of the type alone */
    const char *why;                   /* NULL: accepted */
    size_t stat;                       /* refused: offsetof the counter in am_store_stats */
    uint16_t source;
    uint32_t gen;
};

#define STAT(f) offsetof(struct am_store_stats, f)

static uint64_t stats_sum(const struct am_store_stats *s)
{
    return s->bad_name + s->bad_label + s->type_conflict + s->label_conflict + s->reserved_suffix +
           s->bad_value + s->overflow;
}

static uint64_t stat_at(const struct am_store *st, size_t off)
{
    uint64_t v;

    memcpy(&v, (const char *)am_store_stats(st) + off, sizeof(v));
    return v;
}

/*
 * Applies a step and checks its outcome: accepted, or refused with that reason, that one
 * counter bumped, and nothing else changed (the dump, the bytes, the counts).
 */
static void apply(struct am_store *st, const struct step *r, const char *title, size_t i)
{
    struct am_label labels[AM_LABELS_MAX + 4];
    char buf[1024];
    struct am_family_spec spec = {.type = r->type};
    struct am_update u = {
        .name = r->name,
        .name_len = strlen(r->name),
        .spec = r->spec != NULL ? r->spec : &spec,
        .labels = labels,
        .op = r->op,
        .value = r->value,
        .weight = 1,
        .str = r->str,
        .str_len = r->str != NULL ? strlen(r->str) : 0,
        .source = r->source,
        .gen = r->gen,
    };
    static struct text before, after;
    size_t bytes = am_store_bytes(st);
    uint64_t sum = stats_sum(am_store_stats(st)), stat = stat_at(st, r->stat);
    const char *why = NULL;
    int rc;

    u.nlabels = parse_labels(r->labels, buf, sizeof(buf), labels);
    dump(st, r->now, &before);
    rc = am_store_update(st, &u, r->now, &why);
    if (r->why == NULL) {
        if (rc != 0) {
            fail_msg("%s step %zu (%s): refused: %s", title, i, r->name, why);
        }
        assert_int_equal(stats_sum(am_store_stats(st)), sum);
        return;
    }
    if (rc != -1 || why == NULL || strcmp(why, r->why) != 0) {
        fail_msg("%s step %zu (%s): got %d \"%s\", want \"%s\"", title, i, r->name, rc,
                 why != NULL ? why : "", r->why);
    }
    assert_int_equal(stats_sum(am_store_stats(st)), sum + 1);
    if (stat_at(st, r->stat) != stat + 1) {
        fail_msg("%s step %zu: the wrong counter went up", title, i);
    }
    assert_int_equal(am_store_bytes(st), bytes);
    assert_string_equal(dump(st, r->now, &after), before.out);
}

/* ---- checks on one update into an empty store ---- */

struct one {
    const char *name;
    enum am_type type;
    enum am_op op;
    const char *labels;
    const char *why; /* NULL: accepted */
    size_t stat;
};

static const struct one one_table[] = {
    /* ---- family names ---- */
    {"a", AM_TYPE_GAUGE, AM_OP_SET, NULL, NULL, 0},
    {"_a:b_9", AM_TYPE_GAUGE, AM_OP_SET, NULL, NULL, 0},
    {":x", AM_TYPE_GAUGE, AM_OP_SET, NULL, NULL, 0},
    {"", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    {"9a", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    {"a-b", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    {"a.b", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    {"a b", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    {"é", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    /* ---- suffixes: per type ---- */
    {"x_total", AM_TYPE_COUNTER, AM_OP_ADD, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_total", AM_TYPE_GAUGE, AM_OP_SET, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_created", AM_TYPE_COUNTER, AM_OP_ADD, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_info", AM_TYPE_INFO, AM_OP_INFO, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_info", AM_TYPE_HISTOGRAM, AM_OP_OBSERVE, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_count", AM_TYPE_GAUGE, AM_OP_SET, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_sum", AM_TYPE_UNTYPED, AM_OP_SET, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_bucket", AM_TYPE_COUNTER, AM_OP_SET, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_bucket", AM_TYPE_STATESET, AM_OP_STATE, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"x_count", AM_TYPE_HISTOGRAM, AM_OP_OBSERVE, NULL, NULL, 0},
    {"x_sum", AM_TYPE_SUMMARY, AM_OP_OBSERVE, NULL, NULL, 0},
    {"x_bucket", AM_TYPE_HISTOGRAM, AM_OP_OBSERVE, NULL, NULL, 0},
    {"_total", AM_TYPE_GAUGE, AM_OP_SET, NULL, "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"total", AM_TYPE_COUNTER, AM_OP_ADD, NULL, NULL, 0},
    {"x_totals", AM_TYPE_COUNTER, AM_OP_ADD, NULL, NULL, 0},
    {"x_Total", AM_TYPE_COUNTER, AM_OP_ADD, NULL, NULL, 0},
    /* The name is checked before the suffix. */
    {"x-y_total", AM_TYPE_GAUGE, AM_OP_SET, NULL, "bad metric name", STAT(bad_name)},
    /* ---- label names ---- */
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=v,_k=v,K9=v", NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "=v", "bad label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "9k=v", "bad label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k:x=v", "bad label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k-x=v", "bad label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "__name__=v", "bad label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "__=v", "bad label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "_=v", NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=v,j=w,k=x", "duplicate label name", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "le=1,quantile=2", NULL, 0},
    {"a", AM_TYPE_HISTOGRAM, AM_OP_OBSERVE, "le=1", "reserved label name", STAT(bad_label)},
    {"a", AM_TYPE_HISTOGRAM, AM_OP_OBSERVE, "quantile=1", NULL, 0},
    {"a", AM_TYPE_SUMMARY, AM_OP_OBSERVE, "quantile=1", "reserved label name", STAT(bad_label)},
    {"a", AM_TYPE_SUMMARY, AM_OP_OBSERVE, "le=1", NULL, 0},
    {"st", AM_TYPE_STATESET, AM_OP_STATE, "st=x", "reserved label name", STAT(bad_label)},
    {"st", AM_TYPE_STATESET, AM_OP_STATE, "value=x", NULL, 0},
    {"i", AM_TYPE_INFO, AM_OP_INFO, "value=x", "reserved label name", STAT(bad_label)},
    {"i", AM_TYPE_INFO, AM_OP_INFO, "version=x", NULL, 0},
    /* A stateset's name is its state label's. */
    {"a:b", AM_TYPE_STATESET, AM_OP_STATE, NULL, "stateset name is not a label name",
     STAT(bad_name)},
    {"__a", AM_TYPE_STATESET, AM_OP_STATE, NULL, "stateset name is not a label name",
     STAT(bad_name)},
    {"a:b", AM_TYPE_GAUGE, AM_OP_SET, NULL, NULL, 0},
    /* The suffix before the labels; the labels before the stateset name. */
    {"a_total", AM_TYPE_GAUGE, AM_OP_SET, "9=x", "name ends in a reserved suffix",
     STAT(reserved_suffix)},
    {"a:b", AM_TYPE_STATESET, AM_OP_STATE, "9=x", "bad label name", STAT(bad_label)},
    /* ---- label values ---- */
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=", NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=\"quoted\" \\back\\ \nline", NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=h\xc3\xa9llo \xf0\x9f\x98\x80", NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=\xc3", "label value not UTF-8 or too long", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=\xff", "label value not UTF-8 or too long", STAT(bad_label)},
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=\xed\xa0\x80", "label value not UTF-8 or too long",
     STAT(bad_label)},
    /* Label names are all checked before any value. */
    {"a", AM_TYPE_GAUGE, AM_OP_SET, "k=\xff,9=x", "bad label name", STAT(bad_label)},
    /* ---- ops per type ---- */
    {"a", AM_TYPE_UNTYPED, AM_OP_SET, NULL, NULL, 0},
    {"a", AM_TYPE_UNTYPED, AM_OP_ADD, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_GAUGE, AM_OP_ADD, NULL, NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_MEMBER, NULL, NULL, 0},
    {"a", AM_TYPE_GAUGE, AM_OP_OBSERVE, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_COUNTER, AM_OP_SET, NULL, NULL, 0},
    {"a", AM_TYPE_COUNTER, AM_OP_MEMBER, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_HISTOGRAM, AM_OP_SET, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_HISTOGRAM, AM_OP_SET_SUMMARY, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_SUMMARY, AM_OP_SET_HISTOGRAM, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_STATESET, AM_OP_INFO, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_INFO, AM_OP_STATE, NULL, "op does not fit the type", STAT(bad_value)},
    {"a", AM_TYPE_STATESET, AM_OP_STATE, NULL, NULL, 0},
    {"a", AM_TYPE_INFO, AM_OP_INFO, NULL, NULL, 0},
    {"a", (enum am_type)99, AM_OP_SET, NULL, "unknown type", STAT(bad_value)},
};

static void test_one_update(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(one_table) / sizeof(one_table[0]); i++) {
        const struct one *o = &one_table[i];
        struct am_store *st = am_store_create(NULL);
        struct step r = {
            .now = 1000,
            .name = o->name,
            .type = o->type,
            .op = o->op,
            .labels = o->labels,
            .value = 1,
            .str = "x",
            .why = o->why,
            .stat = o->stat,
        };
        char title[64];

        assert_non_null(st);
        snprintf(title, sizeof(title), "row %zu", i);
        apply(st, &r, title, i);
        assert_int_equal(am_store_nseries(st), o->why == NULL ? 1 : 0);
        assert_int_equal(am_store_nfamilies(st), o->why == NULL ? 1 : 0);
        am_store_destroy(st);
    }
}

/* ---- scripts: steps on one store, then its dump ---- */

static const double b125[] = {1, 2, 5};
static const struct am_family_spec hist125 = {
    .type = AM_TYPE_HISTOGRAM, .buckets = b125, .nbuckets = 3, .help = "Latency."};
static const double b12inf[] = {1, 2, INFINITY};
static const struct am_family_spec hist12inf = {
    .type = AM_TYPE_HISTOGRAM, .buckets = b12inf, .nbuckets = 3};
static const double bbad[] = {1, 1};
static const struct am_family_spec hist_bad = {
    .type = AM_TYPE_HISTOGRAM, .buckets = bbad, .nbuckets = 2};
static const double bnan[] = {1, NAN};
static const struct am_family_spec hist_nan = {
    .type = AM_TYPE_HISTOGRAM, .buckets = bnan, .nbuckets = 2};
static const struct am_quantile q9050[] = {{0.9, 0.01}, {0.5, 0.05}};
static const struct am_family_spec sum9050 = {
    .type = AM_TYPE_SUMMARY, .quantiles = q9050, .nquantiles = 2};
static const struct am_quantile qbad[] = {{0.5, 0.05}, {1.5, 0.01}};
static const struct am_family_spec sum_bad = {
    .type = AM_TYPE_SUMMARY, .quantiles = qbad, .nquantiles = 2};
static const struct am_quantile qdup[] = {{0.5, 0.05}, {0.5, 0.01}};
static const struct am_family_spec sum_dup = {
    .type = AM_TYPE_SUMMARY, .quantiles = qdup, .nquantiles = 2};
static const char *const updown[] = {"up", "down", "unknown"};
static const struct am_family_spec fixed_states = {
    .type = AM_TYPE_STATESET, .states = updown, .nstates = 3};
static const char *const dup_states[] = {"a", "b", "a"};
static const struct am_family_spec dup_states_spec = {
    .type = AM_TYPE_STATESET, .states = dup_states, .nstates = 3};
static const char *const bad_states[] = {"a", "\xc0\xaf"};
static const char *const null_states[] = {"a", NULL};
static const struct am_family_spec null_states_spec = {
    .type = AM_TYPE_STATESET, .states = null_states, .nstates = 2};
static const struct am_family_spec bad_states_spec = {
    .type = AM_TYPE_STATESET, .states = bad_states, .nstates = 2};
static const struct am_family_spec info_version = {.type = AM_TYPE_INFO, .info_label = "version"};
static const struct am_family_spec info_bad = {.type = AM_TYPE_INFO, .info_label = "9x"};
static const struct am_family_spec neg_ttl = {.type = AM_TYPE_GAUGE, .ttl_ms = -1};
static const struct am_family_spec gauge_help = {.type = AM_TYPE_GAUGE, .help = "First."};
static const struct am_family_spec gauge_help2 = {.type = AM_TYPE_GAUGE, .help = "Second."};

struct script {
    const char *title;
    struct step steps[NSTEPS];
    const char *want;
};

#define C AM_TYPE_COUNTER
#define G AM_TYPE_GAUGE
#define U AM_TYPE_UNTYPED
#define H AM_TYPE_HISTOGRAM
#define S AM_TYPE_SUMMARY
#define SS AM_TYPE_STATESET
#define I AM_TYPE_INFO

static const struct script scripts[] = {
    {"counter adds and resets",
     {
         {0, "c", C, AM_OP_ADD, "a=1", 2, .why = NULL},
         {0, "c", C, AM_OP_ADD, "a=1", 3.5, .why = NULL},
         {0, "c", C, AM_OP_ADD, "a=2", 0, .why = NULL},
         {0, "c", C, AM_OP_ADD, "a=2", -0.0, .why = NULL},
         {0, "c", C, AM_OP_ADD, "a=1", -1, .why = "negative counter increment",
          .stat = STAT(bad_value)},
         {0, "c", C, AM_OP_ADD, "a=1", NAN, .why = "increment not finite", .stat = STAT(bad_value)},
         {0, "c", C, AM_OP_ADD, "a=1", INFINITY, .why = "increment not finite",
          .stat = STAT(bad_value)},
         {0, "c", C, AM_OP_SET, "a=3", 100, .why = NULL},
         {0, "c", C, AM_OP_SET, "a=3", 7, .why = NULL}, /* smaller: a reset */
         {0, "c", C, AM_OP_SET, "a=3", -7, .why = "counter total not finite or negative",
          .stat = STAT(bad_value)},
         {0, "c", C, AM_OP_SET, "a=3", INFINITY, .why = "counter total not finite or negative",
          .stat = STAT(bad_value)},
         {0, "c", C, AM_OP_SET, "a=3", NAN, .why = "counter total not finite or negative",
          .stat = STAT(bad_value)},
     },
     "counter c\n  {a=1} 5.5\n  {a=2} 0\n  {a=3} 7\n"},
    {"gauges and untyped take any SET",
     {
         {0, "g", G, AM_OP_SET, NULL, 5, .why = NULL},
         {0, "g", G, AM_OP_ADD, NULL, -7.5, .why = NULL},
         {0, "g", G, AM_OP_ADD, NULL, INFINITY, .why = "increment not finite",
          .stat = STAT(bad_value)},
         {0, "u", U, AM_OP_SET, "k=v", NAN, .why = NULL},
         {0, "u", U, AM_OP_SET, "k=w", -INFINITY, .why = NULL},
         {0, "g2", G, AM_OP_ADD, NULL, 3, .why = NULL}, /* a new gauge starts at 0 */
     },
     "gauge g\n  {} -2.5\nuntyped u\n  {k=v} nan\n  {k=w} -inf\ngauge g2\n  {} 3\n"},
    {"type flip-flop",
     {
         {0, "m", C, AM_OP_ADD, NULL, 1, .why = NULL},
         {0, "m", G, AM_OP_SET, NULL, 1, .why = "type conflict", .stat = STAT(type_conflict)},
         {0, "m", C, AM_OP_ADD, NULL, 1, .why = NULL},
         {0, "m", U, AM_OP_SET, NULL, 1, .why = "type conflict", .stat = STAT(type_conflict)},
         {0, "m", H, AM_OP_OBSERVE, NULL, 1, .why = "type conflict", .stat = STAT(type_conflict)},
         {0, "m", C, AM_OP_ADD, NULL, 1, .why = NULL},
         /* The suffix comes first: for a histogram "m_count" is fine, for a gauge not. */
         {0, "m_count", H, AM_OP_OBSERVE, NULL, 1, .why = NULL},
         {0, "m_count", G, AM_OP_SET, NULL, 1, .why = "name ends in a reserved suffix",
          .stat = STAT(reserved_suffix)},
         {0, "m_count", S, AM_OP_OBSERVE, NULL, 1, .why = "type conflict",
          .stat = STAT(type_conflict)},
     },
     "counter m\n  {} 3\nhistogram m_count le=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10\n"
     "  {} count=1 sum=1 b=0,0,0,0,0,0,0,1,0,0,0,0\n"},
    {"label names are fixed per family; order does not matter",
     {
         {0, "g", G, AM_OP_SET, "b=1,a=2", 1, .why = NULL},
         {0, "g", G, AM_OP_SET, "a=2,b=1", 2, .why = NULL},
         {0, "g", G, AM_OP_SET, "a=3,b=1", 3, .why = NULL},
         {0, "g", G, AM_OP_SET, "a=2", 4, .why = "label names differ from the family's",
          .stat = STAT(label_conflict)},
         {0, "g", G, AM_OP_SET, "a=2,b=1,c=3", 4, .why = "label names differ from the family's",
          .stat = STAT(label_conflict)},
         {0, "g", G, AM_OP_SET, "a=2,c=1", 4, .why = "label names differ from the family's",
          .stat = STAT(label_conflict)},
         {0, "g", G, AM_OP_SET, NULL, 4, .why = "label names differ from the family's",
          .stat = STAT(label_conflict)},
         /* Values are checked before the family's label names. */
         {0, "g", G, AM_OP_SET, "a=\xc3\x28", 4, .why = "label value not UTF-8 or too long",
          .stat = STAT(bad_label)},
         /* A new series of a known family: its values are checked too. */
         {0, "g", G, AM_OP_SET, "a=\xe0\x80\x80,b=1", 4, .why = "label value not UTF-8 or too long",
          .stat = STAT(bad_label)},
         {0, "g", G, AM_OP_SET, "b=x,a=\xc3\xa9", 5, .why = NULL},
         /* Empty values are values. */
         {0, "g", G, AM_OP_SET, "b=,a=", 6, .why = NULL},
     },
     "gauge g\n  {a=2,b=1} 2\n  {a=3,b=1} 3\n  {a=é,b=x} 5\n  {a=,b=} 6\n"},
    {"histograms observed",
     {
         {0, "h", H, AM_OP_OBSERVE, "k=v", 0.5, .spec = &hist125},
         {0, "h", H, AM_OP_OBSERVE, "k=v", 1, .spec = &hist125}, /* le is inclusive */
         {0, "h", H, AM_OP_OBSERVE, "k=v", 1.5, .spec = &hist125},
         {0, "h", H, AM_OP_OBSERVE, "k=v", 5.5, .spec = &hist125},
         {0, "h", H, AM_OP_OBSERVE, "k=v", -3, .spec = &hist125},
         {0, "h", H, AM_OP_OBSERVE, "k=v", NAN, .spec = &hist125, .why = "observation not finite",
          .stat = STAT(bad_value)},
         {0, "h", H, AM_OP_OBSERVE, "k=v", INFINITY, .spec = &hist125,
          .why = "observation not finite", .stat = STAT(bad_value)},
         /* Later specs do not change the family. */
         {0, "h", H, AM_OP_OBSERVE, "k=w", 3, .why = NULL},
         {0, "h2", H, AM_OP_OBSERVE, NULL, 2, .spec = &hist12inf},
         {0, "h3", H, AM_OP_OBSERVE, NULL, 2, .spec = &hist_bad,
          .why = "buckets not ascending and finite", .stat = STAT(bad_value)},
         {0, "h3", H, AM_OP_OBSERVE, NULL, 2, .spec = &hist_nan,
          .why = "buckets not ascending and finite", .stat = STAT(bad_value)},
         {0, "h", H, AM_OP_SET_HISTOGRAM, "k=v", 0, .spec = &hist125,
          .why = "histogram without a +Inf bucket", .stat = STAT(bad_value)},
     },
     "histogram h le=1,2,5 help=\"Latency.\"\n  {k=v} count=5 sum=5.5 b=3,1,0,1\n"
     "  {k=w} count=1 sum=3 b=0,0,1,0\nhistogram h2 le=1,2\n  {} count=1 sum=2 b=0,1,0\n"},
    {"summaries observed",
     {
         {0, "s", S, AM_OP_OBSERVE, NULL, 3, .why = NULL},
         {0, "s", S, AM_OP_OBSERVE, NULL, 1, .why = NULL},
         {0, "s", S, AM_OP_OBSERVE, NULL, 2, .why = NULL},
         {0, "s9", S, AM_OP_OBSERVE, NULL, 10, .spec = &sum9050},
         {0, "sb", S, AM_OP_OBSERVE, NULL, 10, .spec = &sum_bad, .why = "quantile outside [0, 1]",
          .stat = STAT(bad_value)},
         {0, "sb", S, AM_OP_OBSERVE, NULL, 10, .spec = &sum_dup, .why = "quantile given twice",
          .stat = STAT(bad_value)},
         {0, "s", S, AM_OP_OBSERVE, NULL, -INFINITY, .why = "observation not finite",
          .stat = STAT(bad_value)},
     },
     "summary s q=0.5,0.9,0.99\n  {} count=3 sum=6 q=2,2,2\nsummary s9 q=0.5,0.9\n"
     "  {} count=1 sum=10 q=10,10\n"},
    {"statesets: fixed and learned states",
     {
         {0, "svc", SS, AM_OP_STATE, "host=a", 0, "down", .spec = &fixed_states},
         {0, "svc", SS, AM_OP_STATE, "host=b", 0, "up", .spec = &fixed_states},
         {0, "svc", SS, AM_OP_STATE, "host=a", 0, "up", .spec = &fixed_states},
         {0, "svc", SS, AM_OP_STATE, "host=a", 0, "sideways", .spec = &fixed_states,
          .why = "unknown state", .stat = STAT(bad_value)},
         {0, "svc", SS, AM_OP_STATE, "host=c", 0, "Up", .spec = &fixed_states,
          .why = "unknown state", .stat = STAT(bad_value)},
         {0, "mode", SS, AM_OP_STATE, NULL, 0, "b", .why = NULL},
         {0, "mode", SS, AM_OP_STATE, NULL, 0, "a", .why = NULL},
         {0, "mode", SS, AM_OP_STATE, NULL, 0, "b", .why = NULL},
         {0, "mode", SS, AM_OP_STATE, NULL, 0, "c", .why = NULL},
         {0, "mode", SS, AM_OP_STATE, NULL, 0, "\xc0\x80", .why = "state not UTF-8 or too long",
          .stat = STAT(bad_label)},
         {0, "dup", SS, AM_OP_STATE, NULL, 0, "a", .spec = &dup_states_spec,
          .why = "state given twice", .stat = STAT(bad_value)},
         {0, "bad", SS, AM_OP_STATE, NULL, 0, "a", .spec = &bad_states_spec,
          .why = "state not UTF-8 or too long", .stat = STAT(bad_value)},
         {0, "nul", SS, AM_OP_STATE, NULL, 0, "b", .spec = &null_states_spec,
          .why = "unknown state", .stat = STAT(bad_value)},
         {0, "nul", SS, AM_OP_STATE, NULL, 0, "a", .spec = &null_states_spec,
          .why = "state not UTF-8 or too long", .stat = STAT(bad_value)},
         {0, "bad", SS, AM_OP_STATE, "bad=x", 0, "a", .why = "reserved label name",
          .stat = STAT(bad_label)},
     },
     "stateset svc states=up,down,unknown\n  {host=a} up\n  {host=b} up\n"
     "stateset mode states=b,a,c\n  {} c\n"},
    {"info replaces its value",
     {
         {0, "build", I, AM_OP_INFO, "app=x", 0, "1.0", .spec = &info_version},
         {0, "build", I, AM_OP_INFO, "app=y", 0, "2.0", .spec = &info_version},
         {0, "build", I, AM_OP_INFO, "app=x", 0, "1.1-rc\"1\"", .spec = &info_version},
         {0, "build", I, AM_OP_INFO, "app=y", 0, "", .spec = &info_version},
         {0, "build", I, AM_OP_INFO, "version=1", 0, "1", .spec = &info_version,
          .why = "reserved label name", .stat = STAT(bad_label)},
         {0, "build", I, AM_OP_INFO, "app=x", 0, "\xf4\x90\x80\x80", .spec = &info_version,
          .why = "info value not UTF-8 or too long", .stat = STAT(bad_label)},
         {0, "plain", I, AM_OP_INFO, NULL, 0, "v", .why = NULL},
         {0, "bad", I, AM_OP_INFO, NULL, 0, "v", .spec = &info_bad, .why = "bad info label name",
          .stat = STAT(bad_label)},
     },
     "info build label=version\n  {app=x} \"1.1-rc\"1\"\"\n  {app=y} \"\"\n"
     "info plain label=value\n  {} \"v\"\n"},
    {"sets and gauges do not mix in a series",
     {
         {0, "users", G, AM_OP_MEMBER, "k=a", 0, "alice", .why = NULL},
         {0, "users", G, AM_OP_MEMBER, "k=a", 0, "bob", .why = NULL},
         {0, "users", G, AM_OP_MEMBER, "k=a", 0, "alice", .why = NULL},
         {0, "users", G, AM_OP_MEMBER, "k=a", 0, "", .why = NULL},
         {0, "users", G, AM_OP_SET, "k=a", 3, .why = "series is a set: members only",
          .stat = STAT(bad_value)},
         {0, "users", G, AM_OP_SET, "k=b", 3, .why = NULL},
         {0, "users", G, AM_OP_MEMBER, "k=b", 0, "x", .why = "series is a gauge, not a set",
          .stat = STAT(bad_value)},
     },
     "gauge users\n  {k=a} set=3\n  {k=b} 3\n"},
    {"the family spec: kept from the first update",
     {
         {0, "g", G, AM_OP_SET, NULL, 1, .spec = &gauge_help},
         {0, "g", G, AM_OP_SET, NULL, 2, .spec = &gauge_help2},
         {0, "t", G, AM_OP_SET, NULL, 1, .spec = &neg_ttl,
          .why = "negative duration in the family spec", .stat = STAT(bad_value)},
     },
     "gauge g help=\"First.\"\n  {} 2\n"},
};

static void test_scripts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        const struct script *sc = &scripts[i];
        struct am_store *st = am_store_create(NULL);
        static struct text t;
        int64_t now = 0;

        assert_non_null(st);
        for (size_t j = 0; j < NSTEPS && sc->steps[j].name != NULL; j++) {
            apply(st, &sc->steps[j], sc->title, j);
            now = sc->steps[j].now;
        }
        if (strcmp(dump(st, now, &t), sc->want) != 0) {
            fail_msg("%s:\n got:\n%s\nwant:\n%s", sc->title, t.out, sc->want);
        }
        am_store_destroy(st);
    }
}

/* ---- whole histograms and summaries (pulled expositions) ---- */

struct whole {
    const char *title;
    double bounds[6];
    double counts[6];
    double qvalues[6];
    size_t n;
    double count, sum;
    const char *why; /* NULL: accepted */
};

#define NOT_CUMULATIVE "histogram bucket counts not cumulative whole numbers"
#define NOT_ASCENDING "histogram bounds not ascending"
#define NOT_QUANTILES "summary quantiles not ascending in [0, 1]"
#define OTHER_BUCKETS "buckets differ from the family's"
#define OTHER_QUANTILES "quantiles differ from the family's"
#define COUNT_NOT_INF "histogram count differs from its +Inf bucket"
#define NOT_WHOLE "summary count not a whole number"

static const struct whole hist_rows[] = {
    {"first: sets the buckets", {1, 2, INFINITY}, {1, 3, 4}, {0}, 3, 4, 10.5, NULL},
    {"same buckets", {1, 2, INFINITY}, {0, 0, 0}, {0}, 3, 0, 0, NULL},
    {"other buckets", {1, 3, INFINITY}, {1, 3, 4}, {0}, 3, 4, 1, OTHER_BUCKETS},
    {"fewer buckets", {1, INFINITY}, {1, 4}, {0}, 2, 4, 1, OTHER_BUCKETS},
    {"no +Inf", {1, 2, 3}, {1, 3, 4}, {0}, 3, 4, 1, "histogram without a +Inf bucket"},
    {"nothing", {0}, {0}, {0}, 0, 0, 0, "histogram without a +Inf bucket"},
    {"descending", {2, 1, INFINITY}, {1, 3, 4}, {0}, 3, 4, 1, NOT_ASCENDING},
    {"equal bounds", {1, 1, INFINITY}, {1, 3, 4}, {0}, 3, 4, 1, NOT_ASCENDING},
    {"NaN bound", {1, NAN, INFINITY}, {1, 3, 4}, {0}, 3, 4, 1, NOT_ASCENDING},
    {"-Inf bound", {-INFINITY, 2, INFINITY}, {1, 3, 4}, {0}, 3, 4, 1, NOT_ASCENDING},
    {"fraction", {1, 2, INFINITY}, {1, 2.5, 4}, {0}, 3, 4, 1, NOT_CUMULATIVE},
    {"negative", {1, 2, INFINITY}, {-1, 2, 4}, {0}, 3, 4, 1, NOT_CUMULATIVE},
    {"decreasing", {1, 2, INFINITY}, {3, 2, 4}, {0}, 3, 4, 1, NOT_CUMULATIVE},
    {"NaN count", {1, 2, INFINITY}, {1, NAN, 4}, {0}, 3, 4, 1, NOT_CUMULATIVE},
    {"infinite count", {1, 2, INFINITY}, {1, 2, INFINITY}, {0}, 3, INFINITY, 1, NOT_CUMULATIVE},
    {"count not +Inf", {1, 2, INFINITY}, {1, 3, 4}, {0}, 3, 5, 1, COUNT_NOT_INF},
    {"last accepted wins", {1, 2, INFINITY}, {2, 2, 9}, {0}, 3, 9, -1.5, NULL},
};

static const struct whole sum_rows[] = {
    {"first: sets the quantiles", {0.5, 0.99}, {0}, {1.5, 7}, 2, 10, 20, NULL},
    {"other quantiles", {0.5, 0.9}, {0}, {1.5, 7}, 2, 10, 20, OTHER_QUANTILES},
    {"fewer quantiles", {0.5}, {0}, {1.5}, 1, 10, 20, OTHER_QUANTILES},
    {"descending", {0.99, 0.5}, {0}, {1.5, 7}, 2, 10, 20, NOT_QUANTILES},
    {"out of range", {0.5, 1.01}, {0}, {1.5, 7}, 2, 10, 20, NOT_QUANTILES},
    {"NaN quantile", {NAN, 0.99}, {0}, {1.5, 7}, 2, 10, 20, NOT_QUANTILES},
    {"fractional count", {0.5, 0.99}, {0}, {1.5, 7}, 2, 10.5, 20, NOT_WHOLE},
    {"negative count", {0.5, 0.99}, {0}, {1.5, 7}, 2, -1, 20, NOT_WHOLE},
    {"NaN values are fine", {0.5, 0.99}, {0}, {NAN, NAN}, 2, 0, 0, NULL},
};

static void whole_updates(const struct whole *rows, size_t nrows, enum am_type type,
                          const char *want)
{
    struct am_store *st = am_store_create(NULL);
    struct am_family_spec spec = {.type = type};
    static struct text t, before;

    assert_non_null(st);
    for (size_t i = 0; i < nrows; i++) {
        const struct whole *w = &rows[i];
        struct am_update u = {
            .name = "w",
            .name_len = 1,
            .spec = &spec,
            .op = type == AM_TYPE_HISTOGRAM ? AM_OP_SET_HISTOGRAM : AM_OP_SET_SUMMARY,
            .bounds = w->bounds,
            .counts = w->counts,
            .qvalues = w->qvalues,
            .nbounds = w->n,
            .count = w->count,
            .sum = w->sum,
        };
        const char *why = NULL;
        size_t bytes = am_store_bytes(st);
        uint64_t bad = am_store_stats(st)->bad_value;
        int rc;

        if (am_store_nseries(st) > 0) {
            dump(st, 0, &before);
        }
        rc = am_store_update(st, &u, 0, &why);
        if (w->why == NULL ? rc != 0 : rc != -1 || strcmp(why, w->why) != 0) {
            fail_msg("%s: got %d \"%s\", want \"%s\"", w->title, rc, rc != 0 ? why : "",
                     w->why != NULL ? w->why : "");
        }
        if (w->why != NULL) {
            assert_int_equal(am_store_stats(st)->bad_value, bad + 1);
            assert_int_equal(am_store_bytes(st), bytes);
            assert_string_equal(dump(st, 0, &t), before.out);
        }
    }
    if (strcmp(dump(st, 0, &t), want) != 0) {
        fail_msg("got:\n%s\nwant:\n%s", t.out, want);
    }
    am_store_destroy(st);
}

static void test_set_histogram(void **state)
{
    (void)state;
    whole_updates(hist_rows, sizeof(hist_rows) / sizeof(hist_rows[0]), AM_TYPE_HISTOGRAM,
                  "histogram w le=1,2\n  {} abs count=9 sum=-1.5 cum=2,2,9\n");
}

static void test_set_summary(void **state)
{
    (void)state;
    whole_updates(sum_rows, sizeof(sum_rows) / sizeof(sum_rows[0]), AM_TYPE_SUMMARY,
                  "summary w q=0.5,0.99\n  {} set count=0 sum=0 q=nan,nan\n");
}

/* A series set whole is not observed into, and the other way round. */
static void test_whole_and_observed(void **state)
{
    struct am_store *st = am_store_create(NULL);
    struct am_family_spec hs = {.type = AM_TYPE_HISTOGRAM, .buckets = b125, .nbuckets = 3};
    struct am_family_spec ss = {.type = AM_TYPE_SUMMARY};
    double bounds[] = {1, 2, 5, INFINITY}, counts[] = {1, 1, 1, 1}, q[] = {0.5, 0.9, 0.99};
    struct am_label l = {"k", 1, "set", 3};
    struct am_update u = {.name = "h", .name_len = 1, .spec = &hs, .labels = &l, .nlabels = 1};
    const char *why;

    (void)state;
    u.op = AM_OP_SET_HISTOGRAM;
    u.bounds = bounds;
    u.counts = counts;
    u.nbounds = 4;
    u.count = 1;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    u.op = AM_OP_OBSERVE;
    u.weight = 1;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "histogram series is set whole, not observed");
    l.value = "obs";
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    u.op = AM_OP_SET_HISTOGRAM;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "histogram series is observed, not set whole");
    /* Weight: 0 is refused, more counts that often. */
    u.op = AM_OP_OBSERVE;
    u.weight = 0;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "observation weight 0");
    u.weight = 4;
    u.value = 1.5;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);

    u.name = "s";
    u.spec = &ss;
    u.op = AM_OP_SET_SUMMARY;
    u.bounds = q;
    u.qvalues = q;
    u.nbounds = 3;
    u.count = 2;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    u.op = AM_OP_OBSERVE;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "summary series is set whole, not observed");
    l.value = "set";
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    u.op = AM_OP_SET_SUMMARY;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "summary series is observed, not set whole");
    {
        static struct text t;

        assert_string_equal(dump(st, 0, &t),
                            "histogram h le=1,2,5\n  {k=set} abs count=1 sum=0 cum=1,1,1,1\n"
                            "  {k=obs} count=5 sum=6 b=1,4,0,0\n"
                            "summary s q=0.5,0.9,0.99\n  {k=obs} set count=2 sum=0 q=0.5,0.9,0.99\n"
                            "  {k=set} count=4 sum=6 q=1.5,1.5,1.5\n");
    }
    assert_int_equal(am_store_stats(st)->bad_value, 5);
    am_store_destroy(st);
}

/* ---- validators ---- */

struct bytes_row {
    const char *s;
    size_t len; /* 0: strlen */
    bool valid;
};

static const struct bytes_row utf8_rows[] = {
    {"", 0, true},
    {"plain ascii, longer than eight bytes", 0, true},
    {"\x7f", 0, true},
    {"\xc2\x80", 0, true},         /* U+0080, the first two-byte one */
    {"\xdf\xbf", 0, true},         /* U+07FF */
    {"\xe0\xa0\x80", 0, true},     /* U+0800 */
    {"\xed\x9f\xbf", 0, true},     /* U+D7FF, before the surrogates */
    {"\xee\x80\x80", 0, true},     /* U+E000, after them */
    {"\xef\xbf\xbf", 0, true},     /* U+FFFF */
    {"\xf0\x90\x80\x80", 0, true}, /* U+10000 */
    {"\xf4\x8f\xbf\xbf", 0, true}, /* U+10FFFF, the last */
    {"h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80 tail", 0, true},
    {"a\0b", 3, true}, /* NUL is UTF-8 (the store refuses it in values: see below) */
    /* overlongs */
    {"\xc0\x80", 0, false},
    {"\xc0\xaf", 0, false},
    {"\xc1\xbf", 0, false},
    {"\xe0\x80\x80", 0, false},
    {"\xe0\x9f\xbf", 0, false},
    {"\xf0\x80\x80\x80", 0, false},
    {"\xf0\x8f\xbf\xbf", 0, false},
    /* surrogates */
    {"\xed\xa0\x80", 0, false},
    {"\xed\xbf\xbf", 0, false},
    {"\xed\xa0\xbd\xed\xb8\x80", 0, false}, /* CESU-8 pair */
    /* past U+10FFFF, and bytes that never occur */
    {"\xf4\x90\x80\x80", 0, false},
    {"\xf5\x80\x80\x80", 0, false},
    {"\xf8\x88\x80\x80\x80", 0, false},
    {"\xfe", 0, false},
    {"\xff", 0, false},
    /* stray continuations */
    {"\x80", 0, false},
    {"a\xbf", 0, false},
    {"12345678\x80", 0, false},
    /* truncated */
    {"\xc3", 0, false},
    {"\xe2\x82", 0, false},
    {"\xf0\x9f\x98", 0, false},
    {"\xc3x", 0, false},
    {"\xe2\x82x", 0, false},
    {"\xf0\x9f\x98x", 0, false},
    {"abcdefgh\xe2\x82", 0, false},
    {"\xe2\x82\xac", 2, false}, /* cut by the length, not a NUL */
};

static void test_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(utf8_rows) / sizeof(utf8_rows[0]); i++) {
        const struct bytes_row *r = &utf8_rows[i];
        size_t len = r->len > 0 ? r->len : strlen(r->s);
        char *copy = malloc(len + 1); /* exactly: the sanitizer sees any over-read */

        assert_non_null(copy);
        memcpy(copy, r->s, len);
        if (am_valid_utf8(copy, len) != r->valid) {
            fail_msg("row %zu: want %s", i, r->valid ? "valid" : "invalid");
        }
        free(copy);
    }
}

static const struct bytes_row metric_name_rows[] = {
    {"a", 0, true},    {"_", 0, true},    {":", 0, true},    {"a:b_c9", 0, true},
    {"__x", 0, true},  {"A", 0, true},    {"", 0, false},    {"9", 0, false},
    {"a-b", 0, false}, {"a b", 0, false}, {"a.b", 0, false}, {"\xc3\xa9", 0, false},
    {"a\0", 2, false}, {"a{", 0, false},
};

static const struct bytes_row label_name_rows[] = {
    {"a", 0, true},         {"_", 0, true},    {"_a", 0, true},   {"a_9", 0, true},
    {"a__", 0, true},       {"__", 0, false},  {"__a", 0, false}, {"", 0, false},
    {"9", 0, false},        {"a:b", 0, false}, {":", 0, false},   {"a-b", 0, false},
    {"\xc3\xa9", 0, false},
};

static void test_valid_names(void **state)
{
    char name[256];

    (void)state;
    for (size_t i = 0; i < sizeof(metric_name_rows) / sizeof(metric_name_rows[0]); i++) {
        const struct bytes_row *r = &metric_name_rows[i];

        if (am_valid_metric_name(r->s, r->len > 0 ? r->len : strlen(r->s)) != r->valid) {
            fail_msg("metric name row %zu", i);
        }
    }
    for (size_t i = 0; i < sizeof(label_name_rows) / sizeof(label_name_rows[0]); i++) {
        const struct bytes_row *r = &label_name_rows[i];

        if (am_valid_label_name(r->s, r->len > 0 ? r->len : strlen(r->s)) != r->valid) {
            fail_msg("label name row %zu", i);
        }
    }
    memset(name, 'a', sizeof(name));
    assert_true(am_valid_metric_name(name, 200));
    assert_false(am_valid_metric_name(name, 201));
}

/* Values: at most 1024 bytes, and no NUL. */
static void test_value_limits(void **state)
{
    struct am_store *st = am_store_create(NULL);
    struct am_family_spec spec = {.type = AM_TYPE_GAUGE};
    static char big[1025];
    struct am_label l = {"k", 1, big, 1024};
    struct am_update u = {
        .name = "g", .name_len = 1, .spec = &spec, .labels = &l, .nlabels = 1, .op = AM_OP_SET};
    struct am_label many[AM_LABELS_MAX + 1];
    char names[AM_LABELS_MAX + 1][8];
    const char *why;

    (void)state;
    memset(big, 'x', sizeof(big));
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    l.value_len = 1025;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "label value not UTF-8 or too long");
    l.value = "a\0b";
    l.value_len = 3;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "label value not UTF-8 or too long");
    /* AM_LABELS_MAX labels, and one more. */
    for (size_t i = 0; i <= AM_LABELS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "l%zu", i);
        many[i] = (struct am_label){names[i], strlen(names[i]), "v", 1};
    }
    u.name = "m";
    u.labels = many;
    u.nlabels = AM_LABELS_MAX;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    u.nlabels = AM_LABELS_MAX + 1;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "too many labels");
    /* A name of 201 bytes. */
    u.name = big;
    u.name_len = 201;
    u.nlabels = 0;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "bad metric name");
    u.name_len = 200;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    /* No spec for a new family. */
    u.name = "nospec";
    u.name_len = 6;
    u.spec = NULL;
    assert_int_equal(am_store_update(st, &u, 0, &why), -1);
    assert_string_equal(why, "no family spec");
    /* ... but an existing one does without. */
    u.name = "g";
    u.name_len = 1;
    u.labels = &l;
    u.nlabels = 1;
    l.value = "y";
    l.value_len = 1;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    assert_int_equal(am_store_nseries(st), 4);
    assert_int_equal(am_store_stats(st)->bad_label, 3);
    assert_int_equal(am_store_stats(st)->bad_name, 1);
    assert_int_equal(am_store_stats(st)->bad_value, 1);
    am_store_destroy(st);
}

/* ---- caps ---- */

static int set_gauge(struct am_store *st, const char *name, const char *k, const char *v,
                     int64_t now, const char **why)
{
    struct am_family_spec spec = {.type = AM_TYPE_GAUGE};
    struct am_label l = {k, strlen(k), v, strlen(v)};
    struct am_update u = {.name = name,
                          .name_len = strlen(name),
                          .spec = &spec,
                          .labels = &l,
                          .nlabels = 1,
                          .op = AM_OP_SET,
                          .value = 1};

    return am_store_update(st, &u, now, why);
}

/* 100k distinct label values against a cap of 1000 per family: the cap holds, every refusal
 * is counted, memory stays bounded, and the existing series still take updates. */
static void test_cardinality_cap(void **state)
{
    struct am_store_limits lim = {.max_series_per_family = 1000};
    struct am_store *st = am_store_create(&lim);
    size_t empty = am_store_bytes(st), at_cap = 0;
    const char *why;
    char v[32];

    (void)state;
    for (int i = 0; i < 100000; i++) {
        snprintf(v, sizeof(v), "user-%d", i);
        if (i < 1000) {
            assert_int_equal(set_gauge(st, "g", "user", v, i, &why), 0);
            at_cap = am_store_bytes(st);
        } else {
            assert_int_equal(set_gauge(st, "g", "user", v, i, &why), -1);
            assert_string_equal(why, "too many series in the family");
        }
    }
    assert_int_equal(am_store_nseries(st), 1000);
    assert_int_equal(am_store_stats(st)->overflow, 99000);
    assert_int_equal(am_store_bytes(st), at_cap);
    assert_true(am_store_bytes(st) - empty < 1000 * 256);
    /* Known series are not new ones. */
    assert_int_equal(set_gauge(st, "g", "user", "user-999", 0, &why), 0);
    /* Another family has its own cap. */
    assert_int_equal(set_gauge(st, "g2", "user", "user-100000", 0, &why), 0);
    am_store_destroy(st);
}

static void test_total_caps(void **state)
{
    struct am_store_limits lim = {.max_series = 10, .max_families = 3};
    struct am_store *st = am_store_create(&lim);
    const char *why;
    char v[16];

    (void)state;
    for (int i = 0; i < 8; i++) {
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(set_gauge(st, "a", "k", v, 0, &why), 0);
    }
    assert_int_equal(set_gauge(st, "b", "k", "0", 0, &why), 0);
    assert_int_equal(set_gauge(st, "c", "k", "0", 0, &why), 0);
    assert_int_equal(set_gauge(st, "d", "k", "0", 0, &why), -1);
    assert_string_equal(why, "too many families");
    assert_int_equal(set_gauge(st, "c", "k", "1", 0, &why), -1);
    assert_string_equal(why, "too many series");
    assert_int_equal(set_gauge(st, "a", "k", "0", 0, &why), 0);
    assert_int_equal(am_store_nseries(st), 10);
    assert_int_equal(am_store_nfamilies(st), 3);
    assert_int_equal(am_store_stats(st)->overflow, 2);
    am_store_destroy(st);
}

/* ---- sets ---- */

static int member(struct am_store *st, const char *m, int64_t now, const char **why)
{
    struct am_family_spec spec = {.type = AM_TYPE_GAUGE, .set_window_ms = 1000};
    struct am_update u = {.name = "users",
                          .name_len = 5,
                          .spec = &spec,
                          .op = AM_OP_MEMBER,
                          .str = m,
                          .str_len = strlen(m)};

    return am_store_update(st, &u, now, why);
}

static void test_set_members(void **state)
{
    struct am_store_limits lim = {.max_set_members = 100};
    struct am_store *st = am_store_create(&lim);
    size_t empty = am_store_bytes(st);
    const struct am_series *s;
    const char *why;
    char m[32];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(m, sizeof(m), "m%d", i % 150);
        if (i % 150 < 100) {
            assert_int_equal(member(st, m, 0, &why), 0);
        } else {
            assert_int_equal(member(st, m, 0, &why), -1);
            assert_string_equal(why, "too many set members");
        }
    }
    s = am_store_families(st)->series;
    assert_true(s->is_set);
    assert_int_equal(s->u.set.n, 100);
    assert_int_equal(am_store_stats(st)->overflow, 300);
    /* The window: members seen at 0 count until 999. */
    assert_int_equal(member(st, "m5", 500, &why), 0);
    assert_int_equal(am_store_expire(st, 999), 0);
    assert_int_equal(s->u.set.n, 100);
    assert_int_equal(am_store_expire(st, 1000), 0);
    assert_int_equal(s->u.set.n, 1);
    /* Room again. */
    assert_int_equal(member(st, "m120", 1000, &why), 0);
    assert_int_equal(s->u.set.n, 2);
    assert_int_equal(am_store_expire(st, 2000), 0);
    assert_int_equal(s->u.set.n, 0);
    /* The series stays (no TTL): a set of nothing is 0. */
    assert_int_equal(am_store_nseries(st), 1);
    assert_true(am_store_bytes(st) - empty < 1024);
    am_store_destroy(st);
}

/* ---- TTL and sweeps ---- */

static void test_ttl(void **state)
{
    struct am_store *st = am_store_create(NULL);
    struct am_family_spec ttl = {.type = AM_TYPE_COUNTER, .ttl_ms = 1000};
    struct am_family_spec never = {.type = AM_TYPE_GAUGE};
    struct am_label l = {"k", 1, "a", 1};
    struct am_update u = {.name = "c",
                          .name_len = 1,
                          .spec = &ttl,
                          .labels = &l,
                          .nlabels = 1,
                          .op = AM_OP_ADD,
                          .value = 1};
    size_t empty = am_store_bytes(st);
    static struct text t;
    const char *why;

    (void)state;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    l.value = "b";
    assert_int_equal(am_store_update(st, &u, 500, &why), 0);
    u.name = "g";
    u.spec = &never;
    u.op = AM_OP_SET;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    u.name = "d";
    u.spec = &ttl;
    u.op = AM_OP_ADD;
    assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    assert_int_equal(am_store_expire(st, 999), 0);
    assert_int_equal(am_store_nseries(st), 4);
    /* An update keeps a series alive. */
    u.name = "c";
    l.value = "a";
    assert_int_equal(am_store_update(st, &u, 900, &why), 0);
    assert_int_equal(am_store_expire(st, 1000), 1); /* d{k=b}, and with it d */
    assert_string_equal(dump(st, 0, &t), "counter c\n  {k=a} 2\n  {k=b} 1\ngauge g\n  {k=b} 1\n");
    assert_int_equal(am_store_expire(st, 1500), 1);
    assert_int_equal(am_store_expire(st, 1900), 1);
    assert_int_equal(am_store_stats(st)->expired, 3);
    assert_string_equal(dump(st, 0, &t), "gauge g\n  {k=b} 1\n");
    /* The family is gone from the hash table too: made anew, at the end. */
    assert_int_equal(am_store_update(st, &u, 2000, &why), 0);
    assert_string_equal(dump(st, 0, &t), "gauge g\n  {k=b} 1\ncounter c\n  {k=a} 1\n");
    u.name = "d";
    assert_int_equal(am_store_update(st, &u, 2000, &why), 0);
    assert_int_equal(am_store_expire(st, 1000000), 2);
    assert_int_equal(am_store_nfamilies(st), 1);
    u.name = "g";
    u.spec = &never;
    u.op = AM_OP_SET;
    u.value = 5;
    l.value = "b";
    assert_int_equal(am_store_update(st, &u, 1000000, &why), 0);
    assert_string_equal(dump(st, 0, &t), "gauge g\n  {k=b} 5\n");
    am_store_sweep(st, 0, 1);
    assert_int_equal(am_store_nfamilies(st), 0);
    assert_null(am_store_families(st));
    assert_int_equal(am_store_bytes(st), empty);
    am_store_destroy(st);
}

static int pulled(struct am_store *st, const char *name, const char *v, uint16_t source,
                  uint32_t gen)
{
    struct am_family_spec spec = {.type = AM_TYPE_UNTYPED};
    struct am_label l = {"k", 1, v, strlen(v)};
    struct am_update u = {.name = name,
                          .name_len = strlen(name),
                          .spec = &spec,
                          .labels = &l,
                          .nlabels = 1,
                          .op = AM_OP_SET,
                          .value = gen,
                          .source = source,
                          .gen = gen};
    const char *why;

    return am_store_update(st, &u, 0, &why);
}

static void test_sweep(void **state)
{
    struct am_store *st = am_store_create(NULL);
    static struct text t;

    (void)state;
    assert_int_equal(pulled(st, "a", "1", 1, 1), 0);
    assert_int_equal(pulled(st, "a", "2", 1, 1), 0);
    assert_int_equal(pulled(st, "b", "1", 1, 1), 0);
    assert_int_equal(pulled(st, "a", "3", 2, 7), 0);
    assert_int_equal(pulled(st, "c", "1", 2, 7), 0);
    /* Source 1's next pull reports a{k=2} only. */
    assert_int_equal(pulled(st, "a", "2", 1, 2), 0);
    assert_int_equal(am_store_sweep(st, 1, 2), 2);
    assert_int_equal(am_store_stats(st)->swept, 2);
    assert_string_equal(dump(st, 0, &t), "untyped a\n  {k=2} 2\n  {k=3} 7\nuntyped c\n  {k=1} 7\n");
    /* Nothing stale: nothing goes. */
    assert_int_equal(am_store_sweep(st, 1, 2), 0);
    assert_int_equal(am_store_sweep(st, 3, 0), 0);
    /* Source 2 reports nothing: c goes, a keeps source 1's series. */
    assert_int_equal(am_store_sweep(st, 2, 8), 2);
    assert_string_equal(dump(st, 0, &t), "untyped a\n  {k=2} 2\n");
    /* Families b and c were unhashed: they come back. */
    assert_int_equal(pulled(st, "c", "1", 2, 8), 0);
    assert_int_equal(pulled(st, "b", "1", 2, 8), 0);
    assert_string_equal(dump(st, 0, &t),
                        "untyped a\n  {k=2} 2\nuntyped c\n  {k=1} 8\nuntyped b\n  {k=1} 8\n");
    am_store_destroy(st);
}

/* Many families and series: the hash tables grow, removal in the middle keeps them whole,
 * and the bytes come back to where they started. */
static void test_many(void **state)
{
    struct am_store_limits lim = {.max_families = 100000, .max_series = 200000};
    struct am_store *st = am_store_create(&lim);
    size_t empty = am_store_bytes(st);
    char name[32], v[32];

    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "fam_%d", i);
        for (int j = 0; j < 5; j++) {
            snprintf(v, sizeof(v), "%d", j);
            assert_int_equal(pulled(st, name, v, (uint16_t)(i % 2), 1), 0);
        }
    }
    assert_int_equal(am_store_nfamilies(st), 5000);
    assert_int_equal(am_store_nseries(st), 25000);
    assert_int_equal(am_store_sweep(st, 0, 2), 12500);
    assert_int_equal(am_store_nfamilies(st), 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "fam_%d", i);
        assert_int_equal(pulled(st, name, "0", 1, 1), 0);
    }
    assert_int_equal(am_store_nfamilies(st), 5000);
    assert_int_equal(am_store_nseries(st), 12500 + 2500);
    {
        const struct am_family *f = am_store_families(st);

        /* The odd ones kept their place; the even ones came back after them. */
        assert_string_equal(f->name, "fam_1");
        assert_int_equal(f->nseries, 5);
    }
    assert_int_equal(am_store_sweep(st, 1, 2), 15000);
    assert_int_equal(am_store_nfamilies(st), 0);
    assert_int_equal(am_store_bytes(st), empty);
    am_store_destroy(st);
}

/* Memory per counter series at 100k, as the README quotes it. */
static void test_bytes_per_series(void **state)
{
    struct am_store *st = am_store_create(NULL);
    struct am_family_spec spec = {.type = AM_TYPE_COUNTER};
    struct am_label l[2] = {{"path", 4, NULL, 0}, {"code", 4, "200", 3}};
    struct am_update u = {.name = "requests",
                          .name_len = 8,
                          .spec = &spec,
                          .labels = l,
                          .nlabels = 2,
                          .op = AM_OP_ADD,
                          .value = 1};
    char name[32], v[32];
    const char *why;

    (void)state;
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "requests_%d", i / 10000);
        snprintf(v, sizeof(v), "/api/v1/item/%d", i);
        u.name = name;
        u.name_len = strlen(name);
        l[0].value = v;
        l[0].value_len = strlen(v);
        assert_int_equal(am_store_update(st, &u, 0, &why), 0);
    }
    assert_int_equal(am_store_nseries(st), 100000);
    print_message("am_store_bytes per counter series: %zu\n", am_store_bytes(st) / 100000);
    assert_true(am_store_bytes(st) / 100000 <= 1024);
    am_store_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_update),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_set_histogram),
        cmocka_unit_test(test_set_summary),
        cmocka_unit_test(test_whole_and_observed),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_valid_names),
        cmocka_unit_test(test_value_limits),
        cmocka_unit_test(test_cardinality_cap),
        cmocka_unit_test(test_total_caps),
        cmocka_unit_test(test_set_members),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_bytes_per_series),
    };

    return cmocka_run_group_tests_name("am_store", tests, NULL, NULL);
}
