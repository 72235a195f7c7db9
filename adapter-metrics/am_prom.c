/* am_prom.c — Prometheus text 0.0.4 and OpenMetrics 1.0.0 as input: lines checked, samples
 * sorted into families and series, and each series turned into one store update.
 *
 * Where the formats (or the contract in am_prom.h) leave a choice, this file takes the one
 * that Prometheus' own scrape parser takes, so that what is refused here is what a real
 * Prometheus would refuse too:
 *   - Numbers: Go's strconv.ParseFloat as Prometheus calls it, which refuses 'p', 'P' and
 *     '_' "to keep pre-Go 1.13 float formats". Since ParseFloat wants a 'p' exponent in a
 *     hex number, neither "0x10" nor "0x1p-2" is a number there, nor here. Decimal with an
 *     optional fraction and exponent ("1e3", ".5", "5."), [+-]inf / [+-]infinity and nan
 *     (unsigned) in any case. A finite number past the range of a double ("1e999") is
 *     refused (ParseFloat's ErrRange); one that underflows reads as 0 or a denormal.
 *   - Escapes: \\ \" \n in label values and HELP text; a backslash before anything else
 *     stays as written (Prometheus' server does this; the renderer escapes the backslash
 *     again, so the value round-trips).
 *   - Blanks: spaces and tabs around tokens, before '#' and inside braces; "\r\n" ends a
 *     line like "\n". "# HELP", "# TYPE" and "# EOF" need a blank after '#'; type words in
 *     any case (client_golang's parser), HELP/TYPE keywords as written.
 *   - Timestamps: any finite number (0.0.4's integer milliseconds, OpenMetrics' float
 *     seconds), read and ignored. Exemplars anywhere after the value, checked and ignored.
 *   - A second HELP or TYPE for the family being read is refused, and the first one kept.
 *     A TYPE that names a family but no usable type (unknown word, gaugehistogram, missing
 *     or extra words) refuses that family: its samples are refused one by one instead of
 *     being taken as untyped families that would clash with the store's reserved suffixes.
 *     Families interleaved with others are not detected: that would take memory growing
 *     with the input; the store sees the same series updated twice.
 *   - Grouped families (histogram, summary, stateset): a series is a run of consecutive
 *     lines of the family with equal label sets (order aside) once le / quantile / the
 *     state label is taken out; a line of another family, a HELP or TYPE line of another
 *     family, "# EOF" and the end close the run. Comments and blank lines do not. A series
 *     is refused whole at its first problem, with one reject; its later lines say nothing
 *     more unless they do not parse. A line of the family that does not parse far enough
 *     to tell its series fails the series it sits in and, when the next line starts
 *     another series, that one too ("series next to a line that does not parse"): either
 *     could be missing a bucket, and a histogram with a bucket gone would be wrong without
 *     any sign. A bad line of another family (or one whose name cannot be read) leaves
 *     an open series alone.
 *   - An le (histogram) or quantile (summary) label on a _count, _sum or _created line
 *     refuses its series (taken as a series label, it would make a malformed one).
 *   - Histograms: le finite or +Inf (NaN and -Inf refused), bucket counts and _count
 *     finite and >= 0 (whole numbers are the store's check); _count missing takes the
 *     +Inf bucket, _sum missing 0. Summaries: _count missing is 0, _sum missing 0; _count
 *     finite and >= 0; a series of nothing but _created emits nothing. Statesets: values 0
 *     or 1, up to 64 states per series, no NUL in a state (spec.states are C strings).
 *   - A counter's or info's name that is only the suffix ("_total") keeps it: an empty
 *     name is never emitted.
 *
 * Memory: one allocation per call of about 5 x min(len, 64 KiB) bytes plus fixed arrays,
 * freed before returning; nothing else grows with the input. Numbers that need strtod are
 * read with it, so the process must keep the C locale's '.'.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am_prom.h"

#define PROM_LINE_MAX 65536 /* bytes in a line, without its '\n' */
#define HIST_MAX 256        /* buckets in a histogram series, +Inf included */
#define SUMMARY_MAX 64      /* quantiles in a summary series */
#define STATES_MAX 64       /* states in a stateset series */

#define WHY_NOMEM "out of memory"
#define WHY_LONG "line longer than 64 KiB"
#define WHY_NAME "bad metric name"
#define WHY_LABELS "bad label set"
#define WHY_LABEL_NAME "bad label name"
#define WHY_LABEL_DUP "duplicate label name"
#define WHY_LABELS_MANY "more than 32 labels"
#define WHY_NO_VALUE "no value"
#define WHY_VALUE "bad value"
#define WHY_TIMESTAMP "bad timestamp"
#define WHY_EXEMPLAR "bad exemplar"
#define WHY_TRAILING "text after the sample"
#define WHY_HELP "bad HELP line"
#define WHY_TYPE "bad TYPE line"
#define WHY_TYPE_UNKNOWN "unknown type"
#define WHY_GAUGEHISTOGRAM "gaugehistogram is not supported"
#define WHY_HELP_DUP "second HELP for the family"
#define WHY_TYPE_DUP "second TYPE for the family"
#define WHY_REFUSED "sample of a family whose TYPE was refused"
#define WHY_NEXT_TO_BAD "series next to a line that does not parse"
#define WHY_NO_LE "bucket without le"
#define WHY_LE "bad le"
#define WHY_LE_ORDER "le values not ascending"
#define WHY_BUCKETS_MANY "more than 256 buckets"
#define WHY_BUCKET_COUNT "bucket count not a finite number >= 0"
#define WHY_BUCKETS_DECREASE "bucket counts decrease"
#define WHY_NO_INF "no +Inf bucket"
#define WHY_COUNT "_count not a finite number >= 0"
#define WHY_COUNT_INF "_count differs from the +Inf bucket"
#define WHY_COUNT_DUP "second _count for the series"
#define WHY_SUM_DUP "second _sum for the series"
#define WHY_LE_STRAY "le on a line that is not a bucket"
#define WHY_NO_QUANTILE "summary sample without quantile"
#define WHY_QUANTILE_STRAY "quantile on a line that is not a quantile"
#define WHY_QUANTILE "bad quantile"
#define WHY_QUANTILE_ORDER "quantiles not ascending"
#define WHY_QUANTILES_MANY "more than 64 quantiles"
#define WHY_NO_STATE "stateset sample without the family's label"
#define WHY_STATE_VALUE "state value not 0 or 1"
#define WHY_STATE_DUP "second sample for a state"
#define WHY_STATES_MANY "more than 64 states"
#define WHY_STATE_NUL "state with a NUL byte"
#define WHY_STATES_LONG "states longer than 64 KiB in all"
#define WHY_NO_STATE_SET "no state is 1"
#define WHY_STATES_SET "more than one state is 1"
#define WHY_INFO_LABELS "info sample without labels"
#define WHY_INFO_VALUE "info value not 1"

/* Bytes of the input: not NUL-terminated. */
struct span {
    const char *s;
    size_t n;
};

/* What a sample's name is to the family being read. */
enum role {
    R_NONE,     /* not the family's: an untyped family of its own name */
    R_REFUSED,  /* the family's, whose TYPE was refused */
    R_VALUE,    /* untyped, gauge, counter (name or name_total) */
    R_CREATED,  /* name_created: read, not emitted */
    R_BUCKET,   /* histogram name_bucket */
    R_COUNT,    /* histogram or summary name_count */
    R_SUM,      /* histogram or summary name_sum */
    R_QUANTILE, /* summary name{quantile} */
    R_STATE,    /* stateset name{name} */
    R_INFO,     /* info name_info */
};

/* How far a sample line was read before it failed. */
enum known {
    K_NOTHING, /* not even its name */
    K_NAME,    /* its name, not its labels */
    K_SERIES,  /* name and labels */
};

/* One sample line. Label values point into the input or into the line's escape scratch. */
struct line {
    size_t no;
    struct span name;
    struct am_label labels[AM_LABELS_MAX];
    size_t nlabels;
    double value;
    struct am_label series[AM_LABELS_MAX]; /* labels without the special one */
    size_t nseries;
    const struct am_label *special; /* le, quantile or the state label; NULL when absent */
};

/* The family of the last HELP or TYPE. */
struct family {
    bool active;
    struct span name;
    enum am_type type;
    bool has_type, has_help, refused;
};

/* The series being collected for a histogram, summary or stateset family. */
struct group {
    bool open, failed;
    size_t last_line, count_line;
    struct am_label labels[AM_LABELS_MAX]; /* values in the group's escape scratch */
    size_t nlabels;
    size_t n;                /* buckets or quantiles */
    double bounds[HIST_MAX]; /* le values, or quantiles */
    double counts[HIST_MAX]; /* cumulative bucket counts */
    double qvalues[SUMMARY_MAX];
    struct am_quantile quantiles[SUMMARY_MAX];
    double count, sum;
    bool has_count, has_sum, any;   /* any: a quantile, _count or _sum was seen */
    const char *states[STATES_MAX]; /* NUL-terminated, in p->states_buf */
    size_t state_lens[STATES_MAX];
    size_t nstates, states_used;
    size_t one; /* index of the state at 1; STATES_MAX when none */
};

/* One call's state. The scratch buffers follow the struct in the same allocation. */
struct prom {
    am_prom_fn *emit;
    am_reject_fn *reject;
    void *arg;
    size_t count;
    size_t scratch;   /* min(len, PROM_LINE_MAX): what one line can need */
    char *line_esc;   /* unescaped label values of the line being read */
    char *group_esc;  /* ... of the open group's labels (swapped with line_esc) */
    char *help;       /* the family's HELP, NUL-terminated */
    char *tmp;        /* a number's text for strtod; the info label's name */
    char *states_buf; /* the open stateset group's states */
    struct family fam;
    struct group g;
    bool taint; /* the last sample line was the family's and could not be read */
    struct line line;
};

/* ---- characters and numbers ---------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_start(char c)
{
    return is_alpha(c) || c == ':';
}

static bool is_name_char(char c)
{
    return is_alpha(c) || c == ':' || is_digit(c);
}

static bool is_label_char(char c)
{
    return is_alpha(c) || is_digit(c);
}

static size_t skip_blanks(const char *s, size_t n, size_t i)
{
    while (i < n && is_blank(s[i])) {
        i++;
    }
    return i;
}

/* ASCII case-insensitive equality of s[0..n) with a lower-case word. */
static bool word_is(const char *s, size_t n, const char *w)
{
    size_t i = 0;

    for (; i < n && w[i] != '\0'; i++) {
        char c = s[i];

        if ((c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c) != w[i]) {
            return false;
        }
    }
    return i == n && w[i] == '\0';
}

static bool span_eq(struct span a, struct span b)
{
    return a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
}

static bool span_is(struct span a, const char *lit)
{
    return a.n == strlen(lit) && memcmp(a.s, lit, a.n) == 0;
}

/*
 * Reads s[0..n) as a number, the whole of it, as Prometheus does (see the top of the file).
 * Integers of up to 15 digits are exact and read here; the rest goes to strtod on a copy
 * in p->tmp (n is at most one line, which p->tmp holds).
 */
static bool read_number(struct prom *p, const char *s, size_t n, double *out)
{
    size_t i = 0, mant = 0;
    bool neg = false, plain = true;
    uint64_t m = 0;
    char *end;
    double v;

    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (word_is(s + i, n - i, "inf") || word_is(s + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (i == 0 && word_is(s, n, "nan")) { /* ParseFloat takes no sign on NaN */
        *out = NAN;
        return true;
    }
    for (; i < n && is_digit(s[i]); i++) {
        m = m * 10 + (uint64_t)(s[i] - '0');
        mant++;
    }
    if (i < n && s[i] == '.') {
        plain = false;
        for (i++; i < n && is_digit(s[i]); i++) {
            mant++;
        }
    }
    if (mant == 0) {
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t first;

        plain = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        for (first = i; i < n && is_digit(s[i]); i++) {
        }
        if (i == first) {
            return false;
        }
    }
    if (i != n) {
        return false;
    }
    if (plain && mant <= 15) {
        *out = neg ? -(double)m : (double)m;
        return true;
    }
    memcpy(p->tmp, s, n);
    p->tmp[n] = '\0';
    v = strtod(p->tmp, &end);
    if (end != p->tmp + n || isinf(v)) {
        return false;
    }
    *out = v;
    return true;
}

/* Copies s[0..n) to dst with \\ \" \n resolved (other escapes stay as written). Returns
 * the bytes written, at most n. */
static size_t unescape(char *dst, const char *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '\\' || s[i + 1] == '"' || s[i + 1] == 'n')) {
            i++;
            dst[o++] = s[i] == 'n' ? '\n' : s[i];
        } else {
            dst[o++] = s[i];
        }
    }
    return o;
}

/* ---- output --------------------------------------------------------------------------- */

static void reject_line(struct prom *p, size_t no, const char *why)
{
    if (p->reject != NULL) {
        p->reject(p->arg, no, why);
    }
}

/* The family's name as the store wants it: a counter without "_total", info without "_info"
 * (unless nothing would be left). */
static struct span family_name(const struct family *f)
{
    struct span n = f->name;
    const char *suffix = NULL;
    size_t sn;

    if (f->type == AM_TYPE_COUNTER) {
        suffix = "_total";
    } else if (f->type == AM_TYPE_INFO) {
        suffix = "_info";
    }
    if (suffix != NULL) {
        sn = strlen(suffix);
        if (n.n > sn && memcmp(n.s + n.n - sn, suffix, sn) == 0) {
            n.n -= sn;
        }
    }
    return n;
}

/* An update for the current family (or, when own is set, for an untyped family of its own
 * name) with everything else zero. */
static void update_init(struct prom *p, struct am_update *u, struct am_family_spec *spec,
                        struct span name, bool own, const struct am_label *labels, size_t n)
{
    memset(u, 0, sizeof(*u));
    memset(spec, 0, sizeof(*spec));
    spec->type = own ? AM_TYPE_UNTYPED : p->fam.type;
    spec->help = !own && p->fam.has_help ? p->help : NULL;
    u->name = name.s;
    u->name_len = name.n;
    u->spec = spec;
    u->labels = labels;
    u->nlabels = n;
}

static void emit_update(struct prom *p, struct am_update *u)
{
    p->count++;
    if (p->emit != NULL) {
        p->emit(p->arg, u);
    }
}

/* ---- families -------------------------------------------------------------------------- */

/* Which of the family's samples is this name, if any. */
static enum role classify(const struct family *f, struct span name)
{
    struct span suf;

    if (!f->active || name.n < f->name.n || memcmp(name.s, f->name.s, f->name.n) != 0) {
        return R_NONE;
    }
    suf.s = name.s + f->name.n;
    suf.n = name.n - f->name.n;
    if (f->refused) {
        static const char *const all[] = {"",     "_total", "_created", "_bucket", "_count",
                                          "_sum", "_info",  "_gcount",  "_gsum"};

        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            if (span_is(suf, all[i])) {
                return R_REFUSED;
            }
        }
        return R_NONE;
    }
    switch (f->type) {
    case AM_TYPE_UNTYPED:
    case AM_TYPE_GAUGE:
        return suf.n == 0 ? R_VALUE : R_NONE;
    case AM_TYPE_COUNTER:
        if (suf.n == 0 || span_is(suf, "_total")) {
            return R_VALUE;
        }
        return span_is(suf, "_created") ? R_CREATED : R_NONE;
    case AM_TYPE_HISTOGRAM:
        if (span_is(suf, "_bucket")) {
            return R_BUCKET;
        }
        break;
    case AM_TYPE_SUMMARY:
        if (suf.n == 0) {
            return R_QUANTILE;
        }
        break;
    case AM_TYPE_STATESET:
        return suf.n == 0 ? R_STATE : R_NONE;
    case AM_TYPE_INFO:
        return suf.n == 0 || span_is(suf, "_info") ? R_INFO : R_NONE;
    }
    if (span_is(suf, "_count")) {
        return R_COUNT;
    }
    if (span_is(suf, "_sum")) {
        return R_SUM;
    }
    return span_is(suf, "_created") ? R_CREATED : R_NONE;
}

static bool is_grouped(const struct family *f)
{
    return f->type == AM_TYPE_HISTOGRAM || f->type == AM_TYPE_SUMMARY ||
           f->type == AM_TYPE_STATESET;
}

/* ---- grouped series -------------------------------------------------------------------- */

static void group_fail(struct prom *p, size_t no, const char *why)
{
    if (!p->g.failed) {
        p->g.failed = true;
        reject_line(p, no, why);
    }
}

/* Splits the line's labels into its series labels and the special one of the family's type
 * (le, quantile, the state label), whatever the line's role: on a _count, _sum or _created
 * line it is out of place, and must not end up as a series label. */
static void split_special(struct prom *p, struct line *l)
{
    struct span want = {NULL, 0};

    if (p->fam.type == AM_TYPE_HISTOGRAM) {
        want.s = "le";
        want.n = 2;
    } else if (p->fam.type == AM_TYPE_SUMMARY) {
        want.s = "quantile";
        want.n = 8;
    } else {
        want = p->fam.name;
    }
    l->special = NULL;
    l->nseries = 0;
    for (size_t i = 0; i < l->nlabels; i++) {
        struct span name = {l->labels[i].name, l->labels[i].name_len};

        if (span_eq(name, want)) {
            l->special = &l->labels[i];
        } else {
            l->series[l->nseries++] = l->labels[i];
        }
    }
}

/* Equal label sets, order aside (names are unique within each). */
static bool same_series(const struct group *g, const struct line *l)
{
    if (g->nlabels != l->nseries) {
        return false;
    }
    for (size_t i = 0; i < g->nlabels; i++) {
        const struct am_label *a = &g->labels[i];
        bool found = false;

        for (size_t j = 0; j < l->nseries && !found; j++) {
            const struct am_label *b = &l->series[j];

            found = a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
            if (found &&
                (a->value_len != b->value_len || memcmp(a->value, b->value, a->value_len) != 0)) {
                return false;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* Emits the open group, or refuses it when it is not whole. */
static void group_close(struct prom *p)
{
    struct group *g = &p->g;
    struct am_family_spec spec;
    struct am_update u;

    if (!g->open) {
        return;
    }
    g->open = false;
    if (g->failed) {
        return;
    }
    update_init(p, &u, &spec, family_name(&p->fam), false, g->labels, g->nlabels);
    switch (p->fam.type) {
    case AM_TYPE_HISTOGRAM:
        if (g->n == 0 || g->bounds[g->n - 1] != INFINITY) {
            reject_line(p, g->last_line, WHY_NO_INF);
            return;
        }
        if (g->has_count && g->count != g->counts[g->n - 1]) {
            reject_line(p, g->count_line, WHY_COUNT_INF);
            return;
        }
        spec.buckets = g->bounds;
        spec.nbuckets = g->n - 1;
        u.op = AM_OP_SET_HISTOGRAM;
        u.bounds = g->bounds;
        u.counts = g->counts;
        u.nbounds = g->n;
        u.count = g->counts[g->n - 1];
        u.sum = g->has_sum ? g->sum : 0;
        break;
    case AM_TYPE_SUMMARY:
        if (!g->any) {
            return;
        }
        spec.quantiles = g->quantiles;
        spec.nquantiles = g->n;
        u.op = AM_OP_SET_SUMMARY;
        u.bounds = g->bounds;
        u.qvalues = g->qvalues;
        u.nbounds = g->n;
        u.count = g->has_count ? g->count : 0;
        u.sum = g->has_sum ? g->sum : 0;
        break;
    default: /* stateset */
        if (g->one == STATES_MAX) {
            reject_line(p, g->last_line, WHY_NO_STATE_SET);
            return;
        }
        spec.states = g->states;
        spec.nstates = g->nstates;
        u.op = AM_OP_STATE;
        u.str = g->states[g->one];
        u.str_len = g->state_lens[g->one];
        break;
    }
    emit_update(p, &u);
}

/* Opens a group for l's series. Its labels' escaped values move with it: the two escape
 * buffers swap, so the next line writes into the other one. */
static void group_open(struct prom *p, const struct line *l)
{
    struct group *g = &p->g;
    char *t = p->line_esc;

    p->line_esc = p->group_esc;
    p->group_esc = t;
    g->open = true;
    g->failed = false;
    g->last_line = l->no;
    g->count_line = 0;
    memcpy(g->labels, l->series, l->nseries * sizeof(l->series[0]));
    g->nlabels = l->nseries;
    g->n = 0;
    g->count = g->sum = 0;
    g->has_count = g->has_sum = g->any = false;
    g->nstates = g->states_used = 0;
    g->one = STATES_MAX;
}

/* Adds a state line to the open stateset group. */
static void group_add_state(struct prom *p, const struct line *l)
{
    struct group *g = &p->g;
    const struct am_label *st = l->special;
    char *dst;

    if (l->value != 0 && l->value != 1) {
        group_fail(p, l->no, WHY_STATE_VALUE);
        return;
    }
    if (memchr(st->value, '\0', st->value_len) != NULL) {
        group_fail(p, l->no, WHY_STATE_NUL);
        return;
    }
    for (size_t i = 0; i < g->nstates; i++) {
        if (g->state_lens[i] == st->value_len &&
            memcmp(g->states[i], st->value, st->value_len) == 0) {
            group_fail(p, l->no, WHY_STATE_DUP);
            return;
        }
    }
    if (g->nstates == STATES_MAX) {
        group_fail(p, l->no, WHY_STATES_MANY);
        return;
    }
    if (st->value_len + 1 > p->scratch + STATES_MAX - g->states_used) {
        group_fail(p, l->no, WHY_STATES_LONG);
        return;
    }
    if (l->value == 1) {
        if (g->one != STATES_MAX) {
            group_fail(p, l->no, WHY_STATES_SET);
            return;
        }
        g->one = g->nstates;
    }
    dst = p->states_buf + g->states_used;
    memcpy(dst, st->value, st->value_len);
    dst[st->value_len] = '\0';
    g->states_used += st->value_len + 1;
    g->states[g->nstates] = dst;
    g->state_lens[g->nstates++] = st->value_len;
}

/* Adds a bucket line to the open histogram group. */
static void group_add_bucket(struct prom *p, const struct line *l)
{
    struct group *g = &p->g;
    double le;

    if (!read_number(p, l->special->value, l->special->value_len, &le) ||
        !(isfinite(le) || le == INFINITY)) {
        group_fail(p, l->no, WHY_LE);
    } else if (g->n > 0 && !(le > g->bounds[g->n - 1])) {
        group_fail(p, l->no, WHY_LE_ORDER);
    } else if (g->n == HIST_MAX) {
        group_fail(p, l->no, WHY_BUCKETS_MANY);
    } else if (!(isfinite(l->value) && l->value >= 0)) {
        group_fail(p, l->no, WHY_BUCKET_COUNT);
    } else if (g->n > 0 && l->value < g->counts[g->n - 1]) {
        group_fail(p, l->no, WHY_BUCKETS_DECREASE);
    } else {
        g->bounds[g->n] = le;
        g->counts[g->n++] = l->value;
    }
}

/* Adds a quantile line to the open summary group. */
static void group_add_quantile(struct prom *p, const struct line *l)
{
    struct group *g = &p->g;
    double q;

    if (!read_number(p, l->special->value, l->special->value_len, &q) || !(q >= 0 && q <= 1)) {
        group_fail(p, l->no, WHY_QUANTILE);
    } else if (g->n > 0 && !(q > g->bounds[g->n - 1])) {
        group_fail(p, l->no, WHY_QUANTILE_ORDER);
    } else if (g->n == SUMMARY_MAX) {
        group_fail(p, l->no, WHY_QUANTILES_MANY);
    } else {
        g->bounds[g->n] = q;
        g->quantiles[g->n].q = q;
        g->quantiles[g->n].err = 0;
        g->qvalues[g->n++] = l->value;
        g->any = true;
    }
}

/* Adds a line whose series is the open group's. */
static void group_add(struct prom *p, const struct line *l, enum role r)
{
    struct group *g = &p->g;

    g->last_line = l->no;
    if (g->failed) {
        return;
    }
    switch (r) {
    case R_BUCKET:
        group_add_bucket(p, l);
        break;
    case R_QUANTILE:
        group_add_quantile(p, l);
        break;
    case R_STATE:
        group_add_state(p, l);
        break;
    case R_COUNT:
        if (g->has_count) {
            group_fail(p, l->no, WHY_COUNT_DUP);
        } else if (!(isfinite(l->value) && l->value >= 0)) {
            group_fail(p, l->no, WHY_COUNT);
        } else {
            g->has_count = g->any = true;
            g->count = l->value;
            g->count_line = l->no;
        }
        break;
    case R_SUM:
        if (g->has_sum) {
            group_fail(p, l->no, WHY_SUM_DUP);
        } else {
            g->has_sum = g->any = true;
            g->sum = l->value;
        }
        break;
    default: /* R_CREATED */
        break;
    }
}

/* A good line of a histogram, summary or stateset family. */
static void group_line(struct prom *p, struct line *l, enum role r, bool taint)
{
    const char *why = NULL;

    split_special(p, l);
    if (l->special == NULL) {
        if (r == R_BUCKET) {
            why = WHY_NO_LE;
        } else if (r == R_QUANTILE) {
            why = WHY_NO_QUANTILE;
        } else if (r == R_STATE) {
            why = WHY_NO_STATE;
        }
    } else if (r == R_COUNT || r == R_SUM || r == R_CREATED) {
        why = p->fam.type == AM_TYPE_HISTOGRAM ? WHY_LE_STRAY : WHY_QUANTILE_STRAY;
    }
    if (!p->g.open || !same_series(&p->g, l)) {
        group_close(p);
        group_open(p, l);
        if (taint) {
            group_fail(p, l->no, WHY_NEXT_TO_BAD);
        }
    }
    if (why != NULL) {
        p->g.last_line = l->no;
        group_fail(p, l->no, why);
        return;
    }
    group_add(p, l, r);
}

/* ---- sample lines ---------------------------------------------------------------------- */

/*
 * Reads a label set from s[*i] (just past '{') to past its '}'. Into l when not NULL
 * (unescaped values in p->line_esc), else only checked (an exemplar's). Returns NULL or
 * the reason.
 */
static const char *read_labels(struct prom *p, const char *s, size_t n, size_t *i, struct line *l)
{
    size_t k = *i, esc = 0;

    for (;;) {
        struct am_label lb;
        bool escaped = false;
        size_t start;

        k = skip_blanks(s, n, k);
        if (k < n && s[k] == '}') {
            break;
        }
        if (k >= n) {
            return WHY_LABELS;
        }
        if (!is_alpha(s[k])) {
            return WHY_LABEL_NAME;
        }
        for (start = k++; k < n && is_label_char(s[k]); k++) {
        }
        lb.name = s + start;
        lb.name_len = k - start;
        k = skip_blanks(s, n, k);
        if (k >= n || s[k] != '=') {
            return WHY_LABELS;
        }
        k = skip_blanks(s, n, k + 1);
        if (k >= n || s[k] != '"') {
            return WHY_LABELS;
        }
        for (start = ++k; k < n && s[k] != '"'; k++) {
            if (s[k] == '\\') {
                escaped = true;
                k++;
                if (k == n) {
                    break;
                }
            }
        }
        if (k >= n) {
            return WHY_LABELS;
        }
        lb.value = s + start;
        lb.value_len = k - start;
        k++;
        if (l != NULL) {
            for (size_t j = 0; j < l->nlabels; j++) {
                if (l->labels[j].name_len == lb.name_len &&
                    memcmp(l->labels[j].name, lb.name, lb.name_len) == 0) {
                    return WHY_LABEL_DUP;
                }
            }
            if (l->nlabels == AM_LABELS_MAX) {
                return WHY_LABELS_MANY;
            }
            if (escaped) {
                lb.value_len = unescape(p->line_esc + esc, lb.value, lb.value_len);
                lb.value = p->line_esc + esc;
                esc += lb.value_len;
            }
            l->labels[l->nlabels++] = lb;
        }
        k = skip_blanks(s, n, k);
        if (k < n && s[k] == ',') {
            k++;
        } else if (k >= n || s[k] != '}') {
            return WHY_LABELS;
        }
    }
    *i = k + 1;
    return NULL;
}

/* The token at s[*i] up to a blank or the end; *i moves past it. */
static struct span read_token(const char *s, size_t n, size_t *i)
{
    struct span t = {s + *i, 0};

    while (*i < n && !is_blank(s[*i])) {
        (*i)++;
    }
    t.n = (size_t)(s + *i - t.s);
    return t;
}

/* "# {labels} value [timestamp]" from s[i] (the '#') to the end. */
static bool read_exemplar(struct prom *p, const char *s, size_t n, size_t i)
{
    struct span t;
    double v;

    i++;
    if (i >= n || !is_blank(s[i])) {
        return false;
    }
    i = skip_blanks(s, n, i);
    if (i >= n || s[i] != '{') {
        return false;
    }
    i++;
    if (read_labels(p, s, n, &i, NULL) != NULL) {
        return false;
    }
    i = skip_blanks(s, n, i);
    t = read_token(s, n, &i);
    if (!read_number(p, t.s, t.n, &v)) {
        return false;
    }
    i = skip_blanks(s, n, i);
    if (i < n) {
        t = read_token(s, n, &i);
        if (!read_number(p, t.s, t.n, &v) || !isfinite(v)) {
            return false;
        }
        i = skip_blanks(s, n, i);
    }
    return i == n;
}

/*
 * Reads the sample line s[0..n) (blanks at both ends allowed, s[0] is not blank) into l.
 * Returns K_SERIES with *why NULL when it is whole; else *why and how much was known.
 */
static enum known read_sample(struct prom *p, const char *s, size_t n, struct line *l,
                              const char **why)
{
    size_t i = 0, after;
    struct span t;
    double ts;

    l->nlabels = 0;
    l->name.s = s;
    l->name.n = 0;
    *why = NULL;
    if (!is_name_start(s[0])) {
        *why = WHY_NAME;
        return K_NOTHING;
    }
    for (i = 1; i < n && is_name_char(s[i]); i++) {
    }
    l->name.n = i;
    after = i;
    i = skip_blanks(s, n, i);
    if (i < n && s[i] == '{') {
        i++;
        *why = read_labels(p, s, n, &i, l);
        if (*why != NULL) {
            return K_NAME;
        }
        i = skip_blanks(s, n, i);
    } else if (i == after && i < n) {
        *why = WHY_NAME;
        return K_NAME;
    }
    t = read_token(s, n, &i);
    if (t.n == 0) {
        *why = WHY_NO_VALUE;
    } else if (!read_number(p, t.s, t.n, &l->value)) {
        *why = WHY_VALUE;
    }
    i = skip_blanks(s, n, i);
    if (*why == NULL && i < n && s[i] != '#') {
        t = read_token(s, n, &i);
        if (!read_number(p, t.s, t.n, &ts) || !isfinite(ts)) {
            *why = WHY_TIMESTAMP;
        }
        i = skip_blanks(s, n, i);
    }
    if (*why == NULL && i < n) {
        *why = s[i] == '#' ? (read_exemplar(p, s, n, i) ? NULL : WHY_EXEMPLAR) : WHY_TRAILING;
    }
    return K_SERIES;
}

/* A good sample not in a histogram, summary or stateset: one update at once. */
static void plain_sample(struct prom *p, const struct line *l, enum role r)
{
    struct am_family_spec spec;
    struct am_update u;

    switch (r) {
    case R_NONE:
        update_init(p, &u, &spec, l->name, true, l->labels, l->nlabels);
        u.op = AM_OP_SET;
        u.value = l->value;
        break;
    case R_VALUE:
        update_init(p, &u, &spec, family_name(&p->fam), false, l->labels, l->nlabels);
        u.op = AM_OP_SET;
        u.value = l->value;
        break;
    case R_INFO: {
        const struct am_label *last;

        if (l->nlabels == 0) {
            reject_line(p, l->no, WHY_INFO_LABELS);
            return;
        }
        if (l->value != 1) {
            reject_line(p, l->no, WHY_INFO_VALUE);
            return;
        }
        last = &l->labels[l->nlabels - 1];
        memcpy(p->tmp, last->name, last->name_len);
        p->tmp[last->name_len] = '\0';
        update_init(p, &u, &spec, family_name(&p->fam), false, l->labels, l->nlabels - 1);
        spec.info_label = p->tmp;
        u.op = AM_OP_INFO;
        u.str = last->value;
        u.str_len = last->value_len;
        break;
    }
    default: /* R_CREATED of a counter */
        return;
    }
    emit_update(p, &u);
}

/* A sample line s[0..n), s[0] not blank. */
static void on_sample(struct prom *p, const char *s, size_t n, size_t no)
{
    struct line *l = &p->line;
    const char *why;
    enum known known;
    enum role r;
    bool taint = p->taint;

    l->no = no;
    known = read_sample(p, s, n, l, &why);
    if (known == K_NOTHING) {
        reject_line(p, no, why); /* says nothing about any series: taint stays as it was */
        return;
    }
    p->taint = false;
    r = classify(&p->fam, l->name);
    if (!is_grouped(&p->fam) || r == R_NONE || r == R_REFUSED) {
        if (why != NULL || r == R_REFUSED) {
            reject_line(p, no, why != NULL ? why : WHY_REFUSED);
            return;
        }
        group_close(p);
        plain_sample(p, l, r);
        return;
    }
    if (why == NULL) {
        group_line(p, l, r, taint);
        return;
    }
    if (known == K_NAME) {
        /* Its series is unknown: fail the one it may sit in, and the one it may start. */
        p->g.failed = p->g.failed || p->g.open;
        p->taint = true;
    } else {
        /* Its series is known and refused; an open one before it is done. */
        split_special(p, l);
        if (!p->g.open || !same_series(&p->g, l)) {
            group_close(p);
            group_open(p, l);
        }
        p->g.last_line = no;
        p->g.failed = true;
    }
    reject_line(p, no, why);
}

/* A line past PROM_LINE_MAX: refused unread, but its name (when it starts with one) may
 * put a series in doubt like any unreadable line of the family. */
static void on_long_line(struct prom *p, const char *s, size_t n, size_t no)
{
    size_t i = skip_blanks(s, n, 0), k;
    struct span name;

    reject_line(p, no, WHY_LONG);
    if (i >= n || !is_name_start(s[i])) {
        return;
    }
    for (k = i + 1; k < n && is_name_char(s[k]); k++) {
    }
    name.s = s + i;
    name.n = k - i;
    p->taint = false;
    if (is_grouped(&p->fam) && classify(&p->fam, name) != R_NONE) {
        if (p->g.open) {
            p->g.failed = true;
        }
        p->taint = true;
    }
}

/* ---- comment lines ----------------------------------------------------------------------- */

/* Makes name the family being read (after closing the open group). */
static void family_start(struct prom *p, struct span name)
{
    group_close(p);
    memset(&p->fam, 0, sizeof(p->fam));
    p->fam.active = true;
    p->fam.name = name;
    p->fam.type = AM_TYPE_UNTYPED;
    p->taint = false;
}

static bool same_family(const struct prom *p, struct span name)
{
    return p->fam.active && span_eq(p->fam.name, name);
}

/* Reads a metric name at s[*i] that ends the line or is followed by a blank. */
static bool read_meta_name(const char *s, size_t n, size_t *i, struct span *name)
{
    size_t k = *i;

    if (k >= n || !is_name_start(s[k])) {
        return false;
    }
    for (k++; k < n && is_name_char(s[k]); k++) {
    }
    if (k < n && !is_blank(s[k])) {
        return false;
    }
    name->s = s + *i;
    name->n = k - *i;
    *i = k;
    return true;
}

/* "# HELP name text", from s[i] just past "HELP". */
static void on_help(struct prom *p, const char *s, size_t n, size_t i, size_t no)
{
    struct span name, text;
    size_t len;

    i = skip_blanks(s, n, i);
    if (!read_meta_name(s, n, &i, &name)) {
        reject_line(p, no, WHY_HELP);
        return;
    }
    i = skip_blanks(s, n, i);
    text.s = s + i;
    text.n = n - i;
    if (memchr(text.s, '\0', text.n) != NULL) {
        reject_line(p, no, WHY_HELP);
        return;
    }
    if (same_family(p, name)) {
        if (p->fam.has_help) {
            reject_line(p, no, WHY_HELP_DUP);
            return;
        }
    } else {
        family_start(p, name);
    }
    len = unescape(p->help, text.s, text.n);
    p->help[len] = '\0';
    p->fam.has_help = true;
}

/* "# TYPE name type", from s[i] just past "TYPE". */
static void on_type(struct prom *p, const char *s, size_t n, size_t i, size_t no)
{
    static const struct {
        const char *word;
        enum am_type type;
    } types[] = {
        {"counter", AM_TYPE_COUNTER},     {"gauge", AM_TYPE_GAUGE},
        {"histogram", AM_TYPE_HISTOGRAM}, {"summary", AM_TYPE_SUMMARY},
        {"untyped", AM_TYPE_UNTYPED},     {"unknown", AM_TYPE_UNTYPED},
        {"stateset", AM_TYPE_STATESET},   {"info", AM_TYPE_INFO},
    };
    const char *why = WHY_TYPE_UNKNOWN;
    enum am_type type = AM_TYPE_UNTYPED;
    struct span name, word;

    i = skip_blanks(s, n, i);
    if (!read_meta_name(s, n, &i, &name)) {
        reject_line(p, no, WHY_TYPE);
        return;
    }
    if (same_family(p, name) && p->fam.has_type) {
        reject_line(p, no, WHY_TYPE_DUP);
        return;
    }
    i = skip_blanks(s, n, i);
    word = read_token(s, n, &i);
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        if (word_is(word.s, word.n, types[k].word)) {
            type = types[k].type;
            why = NULL;
        }
    }
    if (word_is(word.s, word.n, "gaugehistogram")) {
        why = WHY_GAUGEHISTOGRAM;
    }
    if (word.n == 0 || skip_blanks(s, n, i) != n) {
        why = WHY_TYPE;
    }
    if (!same_family(p, name)) {
        family_start(p, name);
    }
    p->fam.has_type = true;
    if (why != NULL) {
        p->fam.refused = true;
        reject_line(p, no, why);
        return;
    }
    p->fam.type = type;
}

/* A line starting with '#'. Returns true for "# EOF". */
static bool on_comment(struct prom *p, const char *s, size_t n, size_t no)
{
    size_t i = 1;
    struct span kw;

    if (i >= n || !is_blank(s[i])) {
        return false;
    }
    i = skip_blanks(s, n, i);
    kw = read_token(s, n, &i);
    if (span_is(kw, "EOF")) {
        return skip_blanks(s, n, i) == n;
    }
    if (span_is(kw, "HELP")) {
        on_help(p, s, n, i, no);
    } else if (span_is(kw, "TYPE")) {
        on_type(p, s, n, i, no);
    }
    return false;
}

/* ---- the parser ------------------------------------------------------------------------ */

size_t am_prom_parse(const char *buf, size_t len, am_prom_fn *emit, am_reject_fn *reject, void *arg)
{
    size_t scratch = len < PROM_LINE_MAX ? len : PROM_LINE_MAX;
    size_t pos = 0, no = 0, count;
    struct prom *p;
    char *mem;

    /* line_esc and group_esc: scratch each; help and tmp: scratch + 1 each; states:
     * scratch + STATES_MAX (their NULs). */
    p = malloc(sizeof(*p) + 5 * scratch + 2 + STATES_MAX);
    if (p == NULL) {
        if (reject != NULL) {
            reject(arg, 0, WHY_NOMEM);
        }
        return 0;
    }
    memset(p, 0, sizeof(*p));
    mem = (char *)(p + 1);
    p->emit = emit;
    p->reject = reject;
    p->arg = arg;
    p->scratch = scratch;
    p->line_esc = mem;
    p->group_esc = mem + scratch;
    p->help = mem + 2 * scratch;
    p->tmp = mem + 3 * scratch + 1;
    p->states_buf = mem + 4 * scratch + 2;
    while (pos < len) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
        size_t i;

        pos += n + (nl != NULL);
        no++;
        if (n > PROM_LINE_MAX) {
            on_long_line(p, s, n, no);
            continue;
        }
        if (n > 0 && s[n - 1] == '\r') {
            n--;
        }
        i = skip_blanks(s, n, 0);
        if (i == n) {
            continue;
        }
        if (s[i] == '#') {
            if (on_comment(p, s + i, n - i, no)) {
                break;
            }
            continue;
        }
        on_sample(p, s + i, n - i, no);
    }
    group_close(p);
    count = p->count;
    free(p);
    return count;
}
