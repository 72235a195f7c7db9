/* fuzz_am_prom.c — libFuzzer target: the Prometheus text / OpenMetrics input parser, checking
 * every update it emits (names, label sets, histogram and summary shapes, states) and that a
 * good family after any input, or before it, is read the same and costs nothing. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am_prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "# TYPE aa_fuzz_start gauge\naa_fuzz_start 1\n"
#define SUFFIX "# TYPE zz_fuzz_end gauge\nzz_fuzz_end 2\n"

/* What one run saw. */
struct run {
    const char *in;
    size_t n, lines;
    size_t line_shift; /* rejects' line numbers are this much past the input's */
    size_t updates, rejects;
    uint64_t sum;      /* a fingerprint of everything emitted and refused */
    uint64_t sum_prev; /* ... as it was before the last update */
    bool first_is_start, last_is_end;
    bool forget_first; /* start the fingerprint after the first update */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

static uint64_t mix_double(uint64_t h, double v)
{
    if (v != v) { /* NaN has many bit patterns */
        return mix(h, "nan", 3);
    }
    return mix(h, &v, sizeof(v));
}

static bool in_input(const struct run *r, const char *p, size_t len)
{
    return p >= r->in && p <= r->in + r->n && len <= (size_t)(r->in + r->n - p);
}

/* Every byte is read, so ASan sees any that is not there. Names point into the input. */
static void check_bytes(struct run *r, const char *p, size_t len, bool must_be_input)
{
    if (p == NULL || (must_be_input && !in_input(r, p, len))) {
        abort();
    }
    r->sum = mix(r->sum, p, len);
}

static bool name_ok(const char *s, size_t n, bool metric)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');

        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool has_label(const struct am_update *u, const char *name, size_t len)
{
    for (size_t i = 0; i < u->nlabels; i++) {
        if (u->labels[i].name_len == len && memcmp(u->labels[i].name, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static void check_histogram(struct run *r, const struct am_update *u)
{
    const struct am_family_spec *spec = u->spec;

    if (u->nbounds < 1 || u->nbounds > 256 || u->bounds == NULL || u->counts == NULL ||
        u->bounds[u->nbounds - 1] != INFINITY || u->count != u->counts[u->nbounds - 1] ||
        spec->buckets != u->bounds || spec->nbuckets != u->nbounds - 1 || has_label(u, "le", 2)) {
        abort();
    }
    for (size_t i = 0; i < u->nbounds; i++) {
        if (!isfinite(u->counts[i]) || u->counts[i] < 0 ||
            (i > 0 && (!(u->bounds[i] > u->bounds[i - 1]) || u->counts[i] < u->counts[i - 1])) ||
            (i + 1 < u->nbounds && !isfinite(u->bounds[i]))) {
            abort();
        }
        r->sum = mix_double(r->sum, u->bounds[i]);
        r->sum = mix_double(r->sum, u->counts[i]);
    }
    r->sum = mix_double(r->sum, u->sum);
}

static void check_summary(struct run *r, const struct am_update *u)
{
    const struct am_family_spec *spec = u->spec;

    if (u->nbounds > 64 || (u->nbounds > 0 && (u->bounds == NULL || u->qvalues == NULL)) ||
        spec->quantiles == NULL || spec->nquantiles != u->nbounds || !isfinite(u->count) ||
        u->count < 0 || has_label(u, "quantile", 8)) {
        abort();
    }
    for (size_t i = 0; i < u->nbounds; i++) {
        if (!(u->bounds[i] >= 0 && u->bounds[i] <= 1) || spec->quantiles[i].q != u->bounds[i] ||
            (i > 0 && !(u->bounds[i] > u->bounds[i - 1]))) {
            abort();
        }
        r->sum = mix_double(r->sum, u->bounds[i]);
        r->sum = mix_double(r->sum, u->qvalues[i]);
    }
    r->sum = mix_double(r->sum, u->count);
    r->sum = mix_double(r->sum, u->sum);
}

/* The one state is among the distinct states, and the state label is not a series label. */
static void check_stateset(struct run *r, const struct am_update *u)
{
    const struct am_family_spec *spec = u->spec;
    size_t hits = 0;

    if (u->str == NULL || spec->states == NULL || spec->nstates < 1 || spec->nstates > 64 ||
        has_label(u, u->name, u->name_len)) {
        abort();
    }
    for (size_t i = 0; i < spec->nstates; i++) {
        size_t len = strlen(spec->states[i]);

        for (size_t j = 0; j < i; j++) {
            if (strcmp(spec->states[i], spec->states[j]) == 0) {
                abort();
            }
        }
        hits += len == u->str_len && memcmp(spec->states[i], u->str, len) == 0;
        r->sum = mix(r->sum, spec->states[i], len);
    }
    if (hits != 1) {
        abort();
    }
    check_bytes(r, u->str, u->str_len, false);
}

static void on_update(void *arg, struct am_update *u)
{
    struct run *r = arg;
    const struct am_family_spec *spec = u->spec;
    enum am_op want;

    r->sum_prev = r->sum;
    if (spec == NULL || !name_ok(u->name, u->name_len, true) || u->nlabels > AM_LABELS_MAX ||
        (u->nlabels > 0 && u->labels == NULL) || u->weight != 0 || u->source != 0 || u->gen != 0) {
        abort();
    }
    switch (spec->type) {
    case AM_TYPE_HISTOGRAM:
        want = AM_OP_SET_HISTOGRAM;
        break;
    case AM_TYPE_SUMMARY:
        want = AM_OP_SET_SUMMARY;
        break;
    case AM_TYPE_STATESET:
        want = AM_OP_STATE;
        break;
    case AM_TYPE_INFO:
        want = AM_OP_INFO;
        break;
    default:
        want = AM_OP_SET;
        break;
    }
    if (u->op != want) {
        abort();
    }
    check_bytes(r, u->name, u->name_len, true);
    for (size_t i = 0; i < u->nlabels; i++) {
        if (!name_ok(u->labels[i].name, u->labels[i].name_len, false)) {
            abort();
        }
        check_bytes(r, u->labels[i].name, u->labels[i].name_len, true);
        check_bytes(r, u->labels[i].value, u->labels[i].value_len, false);
        for (size_t j = 0; j < i; j++) {
            if (u->labels[i].name_len == u->labels[j].name_len &&
                memcmp(u->labels[i].name, u->labels[j].name, u->labels[i].name_len) == 0) {
                abort();
            }
        }
    }
    if (spec->help != NULL) {
        r->sum = mix(r->sum, spec->help, strlen(spec->help));
    }
    switch (u->op) {
    case AM_OP_SET_HISTOGRAM:
        check_histogram(r, u);
        break;
    case AM_OP_SET_SUMMARY:
        check_summary(r, u);
        break;
    case AM_OP_STATE:
        check_stateset(r, u);
        break;
    case AM_OP_INFO:
        if (u->str == NULL || spec->info_label == NULL ||
            !name_ok(spec->info_label, strlen(spec->info_label), false) ||
            has_label(u, spec->info_label, strlen(spec->info_label))) {
            abort();
        }
        check_bytes(r, u->str, u->str_len, false);
        break;
    default:
        r->sum = mix_double(r->sum, u->value);
        break;
    }
    r->sum = mix(r->sum, &spec->type, sizeof(spec->type));
    r->last_is_end = spec->type == AM_TYPE_GAUGE && u->name_len == 11 &&
                     memcmp(u->name, "zz_fuzz_end", 11) == 0 && u->value == 2 && u->nlabels == 0;
    if (r->updates == 0) {
        r->first_is_start = spec->type == AM_TYPE_GAUGE && u->name_len == 13 &&
                            memcmp(u->name, "aa_fuzz_start", 13) == 0 && u->value == 1 &&
                            u->nlabels == 0;
        if (r->forget_first) {
            r->sum = 0;
        }
    }
    r->updates++;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    struct run *r = arg;

    if (why == NULL || why[0] == '\0' || line == 0 || line > r->lines) {
        abort();
    }
    line -= r->line_shift; /* as the input alone numbers it */
    r->sum = mix(r->sum, &line, sizeof(line));
    r->sum = mix(r->sum, why, strlen(why));
    r->rejects++;
}

static void run_parser(struct run *r, const char *in, size_t n, size_t shift)
{
    size_t count;

    memset(r, 0, sizeof(*r));
    r->forget_first = shift > 0;
    r->in = in;
    r->n = n;
    r->lines = 1;
    r->line_shift = shift;
    for (size_t i = 0; i < n; i++) {
        r->lines += in[i] == '\n';
    }
    count = am_prom_parse(in, n, on_update, on_reject, r);
    if (count != r->updates || am_prom_parse(in, n, NULL, NULL, NULL) != count) {
        abort();
    }
}

/* Does some line of in say "# EOF" (as the parser reads it)? */
static bool has_eof(const char *in, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t e = i;

        while (e < n && in[e] != '\n') {
            e++;
        }
        size_t k = i, end = e;

        if (end - i > 65536) { /* refused unread */
            i = e + 1;
            continue;
        }
        if (end > k && in[end - 1] == '\r') {
            end--;
        }
        while (k < end && (in[k] == ' ' || in[k] == '\t')) {
            k++;
        }
        if (k + 2 < end && in[k] == '#' && (in[k + 1] == ' ' || in[k + 1] == '\t')) {
            k++;
            while (k < end && (in[k] == ' ' || in[k] == '\t')) {
                k++;
            }
            if (end - k >= 3 && memcmp(in + k, "EOF", 3) == 0) {
                k += 3;
                while (k < end && (in[k] == ' ' || in[k] == '\t')) {
                    k++;
                }
                if (k == end) {
                    return true;
                }
            }
        }
        i = e + 1;
    }
    return false;
}

static bool mentions(const char *in, size_t n, const char *word)
{
    return memmem(in, n, word, strlen(word)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t np = sizeof(PREFIX) - 1, ns = sizeof(SUFFIX) - 1;
    struct run plain, again, before, after;
    char *buf;
    size_t n;

    run_parser(&plain, in, size, 0);
    run_parser(&again, in, size, 0);
    if (again.sum != plain.sum || again.updates != plain.updates ||
        again.rejects != plain.rejects) {
        abort();
    }
    /* The fuzzer learns the names from memcmp: inputs that use them are not about this. */
    if (mentions(in, size, "aa_fuzz_start") || mentions(in, size, "zz_fuzz_end")) {
        return 0;
    }
    buf = malloc(np + size + 1 + ns);
    if (buf == NULL) {
        return 0;
    }
    /* A good family before the input: emitted first; the input reads as before. */
    memcpy(buf, PREFIX, np);
    memcpy(buf + np, in, size);
    run_parser(&before, buf, np + size, 2);
    if (!before.first_is_start || before.updates != plain.updates + 1 ||
        before.rejects != plain.rejects || before.sum != plain.sum) {
        abort();
    }
    /* A good family after it: emitted last unless the input ended at "# EOF", and what came
     * before is what the input alone gave. */
    memcpy(buf, in, size);
    n = size;
    if (n > 0 && buf[n - 1] != '\n') {
        buf[n++] = '\n';
    }
    memcpy(buf + n, SUFFIX, ns);
    run_parser(&after, buf, n + ns, 0);
    if (has_eof(in, size)) {
        if (after.sum != plain.sum || after.updates != plain.updates) {
            abort();
        }
    } else if (!after.last_is_end || after.updates != plain.updates + 1 ||
               after.rejects != plain.rejects || after.sum_prev != plain.sum) {
        abort();
    }
    free(buf);
    return 0;
}
