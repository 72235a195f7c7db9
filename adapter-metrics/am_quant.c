/* am_quant.c — sliding-window quantiles: log-spaced bins (DDSketch's idea) per age window. */
#include "am_quant.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define QUANT_MIN 1e-9 /* smaller magnitudes count as zero */
#define QUANT_MAX 1e15 /* larger magnitudes go into the top bin */
#define QUANT_CAP0 16  /* a window's first bin array */

/*
 * One age window: bins sorted by key. A key orders values: 0 is zero (and magnitudes below
 * QUANT_MIN), k > 0 is the positive bin k, -k the same bin for negative values, so sorting
 * by key sorts by value.
 */
struct quant_window {
    int64_t epoch; /* now_ms / width of the window's time; INT64_MIN: never used */
    uint64_t total;
    double min, max; /* exact, to answer q = 0 and 1 and to clamp the others */
    uint32_t n, cap;
    int32_t *keys;
    uint64_t *counts;
};

struct am_quant {
    int64_t width_ms; /* of one window */
    unsigned nwin;
    size_t bytes;
    double inv_log_gamma;
    double log_gamma;
    double mid; /* 2 / (gamma + 1): a bin's value is gamma^idx times this */
    int32_t idx_lo, idx_hi;
    uint32_t *cursor; /* query scratch: a position per window */
    struct quant_window win[];
};

struct am_quant *am_quant_create(int64_t max_age_ms, unsigned age_buckets)
{
    struct am_quant *qs;
    double gamma = (1 + AM_QUANT_ALPHA) / (1 - AM_QUANT_ALPHA);
    size_t size;

    if (max_age_ms <= 0 || age_buckets == 0) {
        return NULL;
    }
    if ((int64_t)age_buckets > max_age_ms) {
        age_buckets = (unsigned)max_age_ms; /* windows of 1 ms */
    }
    size = sizeof(*qs) + age_buckets * sizeof(qs->win[0]);
    qs = calloc(1, size);
    if (qs == NULL) {
        return NULL;
    }
    qs->cursor = calloc(age_buckets, sizeof(qs->cursor[0]));
    if (qs->cursor == NULL) {
        free(qs);
        return NULL;
    }
    qs->nwin = age_buckets;
    qs->width_ms = max_age_ms / age_buckets;
    qs->log_gamma = log(gamma);
    qs->inv_log_gamma = 1 / qs->log_gamma;
    qs->mid = 2 / (gamma + 1);
    qs->idx_lo = (int32_t)ceil(log(QUANT_MIN) * qs->inv_log_gamma);
    qs->idx_hi = (int32_t)ceil(log(QUANT_MAX) * qs->inv_log_gamma);
    for (unsigned i = 0; i < age_buckets; i++) {
        qs->win[i].epoch = INT64_MIN;
    }
    qs->bytes = size + age_buckets * sizeof(qs->cursor[0]);
    return qs;
}

void am_quant_destroy(struct am_quant *qs)
{
    if (qs == NULL) {
        return;
    }
    for (unsigned i = 0; i < qs->nwin; i++) {
        free(qs->win[i].keys);
        free(qs->win[i].counts);
    }
    free(qs->cursor);
    free(qs);
}

static int64_t quant_epoch(const struct am_quant *qs, int64_t now_ms)
{
    int64_t e = now_ms / qs->width_ms;

    if (now_ms % qs->width_ms < 0) {
        e--;
    }
    return e;
}

/* Whether window w holds observations younger than max_age at epoch e. */
static bool quant_live(const struct am_quant *qs, const struct quant_window *w, int64_t e)
{
    return w->epoch != INT64_MIN && w->epoch <= e && e - w->epoch < (int64_t)qs->nwin &&
           w->total > 0;
}

/* Bin key of a finite v: gamma^(idx-1) < |v| <= gamma^idx gives key idx - idx_lo + 1. */
static int32_t quant_key(const struct am_quant *qs, double v)
{
    double a = fabs(v);
    int32_t idx;

    if (a < QUANT_MIN) {
        return 0;
    }
    if (a > QUANT_MAX) {
        idx = qs->idx_hi;
    } else {
        idx = (int32_t)ceil(log(a) * qs->inv_log_gamma);
        if (idx < qs->idx_lo) {
            idx = qs->idx_lo;
        } else if (idx > qs->idx_hi) {
            idx = qs->idx_hi;
        }
    }
    return v < 0 ? -(idx - qs->idx_lo + 1) : idx - qs->idx_lo + 1;
}

/* The value a bin stands for: within AM_QUANT_ALPHA of everything in it. */
static double quant_value(const struct am_quant *qs, int32_t key)
{
    int32_t k = key < 0 ? -key : key;
    double v;

    if (k == 0) {
        return 0;
    }
    v = exp((double)(k + qs->idx_lo - 1) * qs->log_gamma) * qs->mid;
    return key < 0 ? -v : v;
}

/* Makes room for one more bin; false when out of memory (the caller collapses instead). */
static bool quant_grow(struct am_quant *qs, struct quant_window *w)
{
    uint32_t cap = w->cap == 0 ? QUANT_CAP0 : w->cap * 2;
    int32_t *keys;
    uint64_t *counts;

    if (cap > AM_QUANT_MAX_BINS) {
        cap = AM_QUANT_MAX_BINS;
    }
    keys = realloc(w->keys, cap * sizeof(*keys));
    if (keys == NULL) {
        return false;
    }
    w->keys = keys;
    counts = realloc(w->counts, cap * sizeof(*counts));
    if (counts == NULL) {
        return false; /* keys is merely larger than it needs */
    }
    w->counts = counts;
    qs->bytes += (cap - w->cap) * (sizeof(*keys) + sizeof(*counts));
    w->cap = cap;
    return true;
}

static void quant_add(struct am_quant *qs, struct quant_window *w, int32_t key, uint64_t weight)
{
    uint32_t lo = 0, hi = w->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (w->keys[mid] < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < w->n && w->keys[lo] == key) {
        w->counts[lo] += weight;
        return;
    }
    if (w->n == w->cap && (w->cap == AM_QUANT_MAX_BINS || !quant_grow(qs, w))) {
        if (w->n == 0) {
            return; /* no memory at all for this window */
        }
        /* Full: the lowest bins merge, so the low quantiles lose accuracy first. */
        if (lo == 0) {
            w->counts[0] += weight;
            return;
        }
        w->counts[1] += w->counts[0];
        memmove(w->keys, w->keys + 1, (w->n - 1) * sizeof(w->keys[0]));
        memmove(w->counts, w->counts + 1, (w->n - 1) * sizeof(w->counts[0]));
        w->n--;
        lo--;
    }
    memmove(w->keys + lo + 1, w->keys + lo, (w->n - lo) * sizeof(w->keys[0]));
    memmove(w->counts + lo + 1, w->counts + lo, (w->n - lo) * sizeof(w->counts[0]));
    w->keys[lo] = key;
    w->counts[lo] = weight;
    w->n++;
}

void am_quant_observe(struct am_quant *qs, double v, uint64_t weight, int64_t now_ms)
{
    int64_t e;
    struct quant_window *w;

    if (!isfinite(v) || weight == 0) {
        return;
    }
    e = quant_epoch(qs, now_ms);
    w = &qs->win[(uint64_t)(e % (int64_t)qs->nwin + (int64_t)qs->nwin) % qs->nwin];
    if (w->epoch != e) {
        /* The slot's old window is past max_age: reuse its arrays. */
        w->epoch = e;
        w->total = 0;
        w->n = 0;
        w->min = INFINITY;
        w->max = -INFINITY;
    }
    quant_add(qs, w, quant_key(qs, v), weight);
    w->total += weight;
    if (v < w->min) {
        w->min = v;
    }
    if (v > w->max) {
        w->max = v;
    }
}

double am_quant_query(struct am_quant *qs, double q, int64_t now_ms)
{
    int64_t e = quant_epoch(qs, now_ms);
    uint64_t total = 0, seen = 0;
    double min = INFINITY, max = -INFINITY, rank;

    for (unsigned i = 0; i < qs->nwin; i++) {
        const struct quant_window *w = &qs->win[i];

        qs->cursor[i] = 0;
        if (quant_live(qs, w, e)) {
            total += w->total;
            min = w->min < min ? w->min : min;
            max = w->max > max ? w->max : max;
        }
    }
    if (total == 0 || isnan(q)) {
        return NAN;
    }
    if (q <= 0) {
        return min;
    }
    if (q >= 1) {
        return max;
    }
    /* The value of rank floor(q * (total - 1)), 0-based, as DDSketch defines it. */
    rank = q * (double)(total - 1);
    for (;;) {
        int32_t key = INT32_MAX;
        uint64_t count = 0;
        bool any = false;

        for (unsigned i = 0; i < qs->nwin; i++) {
            const struct quant_window *w = &qs->win[i];

            if (quant_live(qs, w, e) && qs->cursor[i] < w->n && w->keys[qs->cursor[i]] <= key) {
                key = w->keys[qs->cursor[i]];
                any = true;
            }
        }
        if (!any) {
            return max; /* not reached: the counts add up to total */
        }
        for (unsigned i = 0; i < qs->nwin; i++) {
            const struct quant_window *w = &qs->win[i];

            if (quant_live(qs, w, e) && qs->cursor[i] < w->n && w->keys[qs->cursor[i]] == key) {
                count += w->counts[qs->cursor[i]++];
            }
        }
        seen += count;
        if ((double)seen > rank) {
            double v = quant_value(qs, key);

            return v < min ? min : v > max ? max : v;
        }
    }
}

size_t am_quant_bytes(const struct am_quant *qs)
{
    return qs == NULL ? 0 : qs->bytes;
}
