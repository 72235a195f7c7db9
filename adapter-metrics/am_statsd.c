/* am_statsd.c — the statsd line parser: four tag dialects, multi-value lines, no allocation. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am_statsd.h"

#define NAME_MAX_LEN 4096 /* the name field as sent, its InfluxDB/Librato/SignalFX tags included */
#define SLOW_NUM_MAX 128  /* a number strtod has to read is copied: longer ones are refused */

/* What one line says, shared by the samples of its values. It lives in am_statsd_parse's
 * frame and is reused line after line: only what a line sets is written. */
struct line {
    struct am_sample s; /* name, kind, rate and labels; value and relative per value */
    const char *vals;   /* "1" or "1:2:3" (a set's member), not empty-checked yet */
    size_t vals_len;
    struct am_label labels[AM_LABELS_MAX];
    char name_buf[NAME_MAX_LEN]; /* a name with a SignalFX group in its middle, put together */
};

/* Powers of ten that a double holds exactly: the limit of the fast path. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The bytes of a name field that mean something: where it ends and where tags start. */
enum { N_PLAIN, N_COLON, N_TAGS, N_OPEN, N_CLOSE };
static const unsigned char name_class[256] = {
    [':'] = N_COLON, [','] = N_TAGS, ['#'] = N_TAGS, ['['] = N_OPEN, [']'] = N_CLOSE,
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Case-insensitive: does s[0..n) equal the lower-case word w? */
static bool word_is(const char *s, size_t n, const char *w)
{
    size_t i = 0;

    for (; i < n && w[i] != '\0'; i++) {
        if ((s[i] | 0x20) != w[i]) {
            return false;
        }
    }
    return i == n && w[i] == '\0';
}

/* Is s[0..n) a number in the syntax Go's strconv.ParseFloat (statsd_exporter) and strtod
 * both read the same way: [+-] digits [. digits] [e [+-] digits], or inf, infinity, nan in
 * any case? Hex, "nan(...)" and leading blanks (strtod takes them, ParseFloat does not) are
 * not. */
static bool is_number_text(const char *s, size_t n)
{
    size_t i = 0, mant = 0;

    if (i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    if (word_is(s + i, n - i, "inf") || word_is(s + i, n - i, "infinity") ||
        word_is(s + i, n - i, "nan")) {
        return true;
    }
    for (; i < n && is_digit(s[i]); i++) {
        mant++;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            mant++;
        }
    }
    if (mant == 0) {
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;

        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        for (; i < n && is_digit(s[i]); i++) {
            exp++;
        }
        if (exp == 0) {
            return false;
        }
    }
    return i == n;
}

/* The slow path: strtod on a NUL-terminated copy of text is_number_text accepted. An
 * overflow to infinity is refused (ParseFloat refuses it too); "inf" itself is not. Under a
 * locale whose decimal point is not '.', strtod stops early and the number is refused:
 * never misread. */
static bool parse_number_slow(const char *s, size_t n, double *out)
{
    char tmp[SLOW_NUM_MAX];
    char *end;
    double v;

    if (n >= sizeof(tmp) || !is_number_text(s, n)) {
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    v = strtod(tmp, &end);
    if (end != tmp + n) {
        return false;
    }
    if (isinf(v)) {
        size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;

        if (s[i] != 'i' && s[i] != 'I') {
            return false;
        }
    }
    *out = v;
    return true;
}

/*
 * Reads s[0..n) as a number, giving exactly what strtod gives. The common shapes ("42",
 * "-3", "0.25") are read here: at most 19 significant digits making an integer m <= 2^53 and
 * at most 22 digits after the point, so that m and 10^k are exact doubles and the one
 * division m / 10^k is correctly rounded, as strtod is. Anything else goes to strtod.
 */
static bool parse_number(const char *s, size_t n, double *out)
{
    uint64_t m = 0;
    size_t i = 0, digits = 0, sig = 0, frac = 0;
    bool neg = false;
    double v;

    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    for (; i < n && is_digit(s[i]); i++) {
        digits++;
        if (m != 0 || s[i] != '0') {
            m = m * 10 + (uint64_t)(s[i] - '0');
            if (++sig > 19) {
                return parse_number_slow(s, n, out);
            }
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            digits++;
            frac++;
            if (m != 0 || s[i] != '0') {
                m = m * 10 + (uint64_t)(s[i] - '0');
                if (++sig > 19) {
                    return parse_number_slow(s, n, out);
                }
            }
        }
    }
    /* Under x87's extended precision (FLT_EVAL_METHOD != 0) the division could round
     * twice: there every fraction goes to strtod. */
    if (i != n || digits == 0 || m > (UINT64_C(1) << 53) || frac > 22 ||
        (FLT_EVAL_METHOD != 0 && frac > 0)) {
        return parse_number_slow(s, n, out);
    }
    v = (double)m;
    if (frac > 0) {
        v /= pow10_exact[frac];
    }
    *out = neg ? -v : v;
    return true;
}

/* Adds the comma-separated tags in s[0..n) to l, each split at its first sep (a tag without
 * one has an empty value). Empty items (",,", a trailing ',') are skipped. */
static const char *add_tags(struct line *l, const char *s, size_t n, char sep)
{
    const char *end = s + n;

    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma != NULL ? comma : end;
        const char *eq;
        struct am_label *lab;

        if (item_end == s) {
            s = item_end + 1;
            continue;
        }
        if (l->s.nlabels == AM_LABELS_MAX) {
            return "too many labels";
        }
        lab = &l->labels[l->s.nlabels++];
        eq = memchr(s, sep, (size_t)(item_end - s));
        lab->name = s;
        if (eq != NULL) {
            lab->name_len = (size_t)(eq - s);
            lab->value = eq + 1;
            lab->value_len = (size_t)(item_end - eq - 1);
        } else {
            lab->name_len = (size_t)(item_end - s);
            lab->value = item_end;
            lab->value_len = 0;
        }
        s = item_end + 1;
    }
    return NULL;
}

/* The name is s[0..tag); when tag < n, InfluxDB or Librato tags follow its ',' or '#'. */
static const char *split_name(struct line *l, const char *s, size_t n, size_t tag)
{
    l->s.name = s;
    l->s.name_len = tag;
    return tag < n ? add_tags(l, s + tag + 1, n - tag - 1, '=') : NULL;
}

/* A name field with one "[...]" group in it, at lb and rb: the group's tags come first, then
 * the name without the group is read as if it had never had one. */
static const char *split_signalfx(struct line *l, const char *s, size_t n, size_t lb, size_t rb)
{
    const char *rest = s, *why;
    size_t rest_len = lb, tag;

    why = add_tags(l, s + lb + 1, rb - lb - 1, '=');
    if (why != NULL) {
        return why;
    }
    if (lb == 0) {
        rest = s + rb + 1;
        rest_len = n - rb - 1;
    } else if (rb + 1 < n) {
        memcpy(l->name_buf, s, lb);
        memcpy(l->name_buf + lb, s + rb + 1, n - rb - 1);
        rest = l->name_buf;
        rest_len = n - (rb - lb + 1);
    }
    for (tag = 0; tag < rest_len && name_class[(unsigned char)rest[tag]] != N_TAGS; tag++) {
    }
    return split_name(l, rest, rest_len, tag);
}

static bool parse_type(const char *t, size_t n, enum am_kind *kind)
{
    if (n == 2 && t[0] == 'm' && t[1] == 's') {
        *kind = AM_KIND_TIMER;
        return true;
    }
    if (n != 1) {
        return false;
    }
    switch (t[0]) {
    case 'c':
        *kind = AM_KIND_COUNTER;
        return true;
    case 'g':
        *kind = AM_KIND_GAUGE;
        return true;
    case 'h':
        *kind = AM_KIND_HISTOGRAM;
        return true;
    case 'd':
        *kind = AM_KIND_DISTRIBUTION;
        return true;
    case 's':
        *kind = AM_KIND_SET;
        return true;
    default:
        return false;
    }
}

/* A DogStatsD extension field we do not use: lower-case letters, then ':' ("c:<container>",
 * "e:<external data>", "card:<cardinality>"). */
static bool is_extension(const char *f, size_t n)
{
    size_t i = 0;

    while (i < n && f[i] >= 'a' && f[i] <= 'z') {
        i++;
    }
    return i > 0 && i < n && f[i] == ':';
}

/* The fields after the type, s[0..n) starting at a '|': "@rate", "#tags", "T<unix time>"
 * (read, not used: a sample is stamped when it arrives) and extensions (skipped). */
static const char *parse_fields(struct line *l, const char *s, size_t n)
{
    const char *end = s + n;
    bool rated = false;

    while (s < end) {
        const char *f = s + 1, *bar = memchr(f, '|', (size_t)(end - f));
        size_t fn = (size_t)((bar != NULL ? bar : end) - f);
        const char *why;

        s = f + fn;
        if (fn == 0) {
            return "bad field";
        }
        switch (f[0]) {
        case '@':
            if (rated || !parse_number(f + 1, fn - 1, &l->s.rate) || !(l->s.rate > 0) ||
                l->s.rate > 1) {
                return "bad sample rate";
            }
            rated = true;
            break;
        case '#':
            why = add_tags(l, f + 1, fn - 1, ':');
            if (why != NULL) {
                return why;
            }
            break;
        case 'T':
            for (size_t i = 1; i < fn; i++) {
                if (!is_digit(f[i])) {
                    return "bad timestamp";
                }
            }
            if (fn == 1) {
                return "bad timestamp";
            }
            break;
        default:
            if (!is_extension(f, fn)) {
                return "bad field";
            }
        }
    }
    return NULL;
}

/* Whether v, read from text starting with c, can be a sample of l's kind; sets relative. */
static const char *check_value(struct line *l, char c, double v)
{
    l->s.relative = false;
    switch (l->s.kind) {
    case AM_KIND_COUNTER:
        /* statsd_exporter drops negative increments ("illegal_negative_counter"); -0 adds
         * nothing and passes, as there. An infinite increment would stick the counter. */
        if (isnan(v)) {
            return "counter is NaN";
        }
        if (v < 0) {
            return "negative counter";
        }
        if (isinf(v)) {
            return "counter is infinite";
        }
        return NULL;
    case AM_KIND_GAUGE:
        l->s.relative = c == '+' || c == '-';
        if (l->s.relative && !isfinite(v)) {
            return "relative gauge not finite";
        }
        return NULL;
    default:
        return isfinite(v) ? NULL : "observation not finite";
    }
}

/* Reads the values one by one; with emit, hands each over (values already checked). Returns
 * NULL and the count in *n, or why the line is refused. */
static const char *each_value(struct line *l, am_sample_fn *emit, void *arg, size_t *n)
{
    const char *v = l->vals, *end = l->vals + l->vals_len;

    *n = 0;
    for (;;) {
        const char *colon = memchr(v, ':', (size_t)(end - v));
        const char *vend = colon != NULL ? colon : end;
        const char *why;

        if (vend == v || !parse_number(v, (size_t)(vend - v), &l->s.value)) {
            return "bad value";
        }
        why = check_value(l, v[0], l->s.value);
        if (why != NULL) {
            return why;
        }
        if (emit != NULL) {
            emit(arg, &l->s);
        }
        ++*n;
        if (colon == NULL) {
            return NULL;
        }
        v = colon + 1;
    }
}

/* Parses one line s[0..n) (not empty, no '\n', '\r' dropped) and emits its samples: all of
 * them, or none and the reason. */
static const char *parse_line(struct line *l, const char *s, size_t n, am_sample_fn *emit,
                              void *arg, size_t *count)
{
    size_t i, colon, lb = SIZE_MAX, rb = SIZE_MAX, tag = SIZE_MAX, brackets = 0, nvals;
    const char *bar, *type, *type_end, *why;

    for (i = 0; i < n; i++) {
        unsigned c = name_class[(unsigned char)s[i]];

        if (c == N_PLAIN) {
            continue;
        }
        if (c == N_COLON) {
            break;
        }
        if (c == N_TAGS) {
            tag = tag == SIZE_MAX ? i : tag;
        } else {
            brackets++;
            if (c == N_OPEN) {
                lb = lb == SIZE_MAX ? i : lb;
            } else {
                rb = rb == SIZE_MAX ? i : rb;
            }
        }
    }
    if (i == n) {
        return "no value";
    }
    colon = i;
    if (colon > NAME_MAX_LEN) {
        return "name too long";
    }
    l->s.nlabels = 0;
    l->s.labels = l->labels;
    l->s.rate = 1;
    if (brackets == 0) {
        why = split_name(l, s, colon, tag == SIZE_MAX ? colon : tag);
    } else if (brackets == 2 && lb < rb && rb != SIZE_MAX) {
        why = split_signalfx(l, s, colon, lb, rb);
    } else {
        why = "bad SignalFX tags";
    }
    if (why != NULL) {
        return why;
    }
    if (l->s.name_len == 0) {
        return "empty name";
    }

    bar = memchr(s + colon + 1, '|', n - colon - 1);
    if (bar == NULL) {
        return "no type";
    }
    l->vals = s + colon + 1;
    l->vals_len = (size_t)(bar - l->vals);
    type = bar + 1;
    type_end = memchr(type, '|', (size_t)(s + n - type));
    type_end = type_end != NULL ? type_end : s + n;
    if (!parse_type(type, (size_t)(type_end - type), &l->s.kind)) {
        return "unknown type";
    }
    why = parse_fields(l, type_end, (size_t)(s + n - type_end));
    if (why != NULL) {
        return why;
    }

    if (l->s.kind == AM_KIND_SET) {
        /* A member is any text, ':' included: DogStatsD packs no values into a set line. */
        if (l->vals_len == 0) {
            return "bad value";
        }
        l->s.value = 0;
        l->s.relative = false;
        l->s.set_member = l->vals;
        l->s.set_member_len = l->vals_len;
        emit(arg, &l->s);
        ++*count;
        return NULL;
    }
    l->s.set_member = NULL;
    l->s.set_member_len = 0;
    /* One value (the usual line) is read once; several are all checked before the first is
     * emitted, so that a line is taken whole or refused whole. */
    why = each_value(l, NULL, NULL, &nvals);
    if (why != NULL) {
        return why;
    }
    if (nvals == 1) {
        emit(arg, &l->s);
    } else {
        each_value(l, emit, arg, &nvals);
    }
    *count += nvals;
    return NULL;
}

/* DogStatsD events ("_e{title_len,text_len}:...") and service checks ("_sc|name|status"). */
static bool is_event(const char *s, size_t n)
{
    return (n >= 3 && memcmp(s, "_e{", 3) == 0) || (n >= 4 && memcmp(s, "_sc|", 4) == 0);
}

size_t am_statsd_parse(const char *buf, size_t len, am_sample_fn *emit, am_reject_fn *reject,
                       void *arg)
{
    struct line l;
    size_t pos = 0, lineno = 0, count = 0;

    l.s.counter_absolute = false;
    l.s.help = NULL;
    while (pos < len) {
        const char *s = buf + pos, *nl = memchr(s, '\n', len - pos), *why;
        size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;

        pos += n + (nl != NULL);
        lineno++;
        if (n > 0 && s[n - 1] == '\r') {
            n--;
        }
        if (n == 0 || is_event(s, n)) {
            continue;
        }
        why = parse_line(&l, s, n, emit, arg, &count);
        if (why != NULL && reject != NULL) {
            reject(arg, lineno, why);
        }
    }
    return count;
}
