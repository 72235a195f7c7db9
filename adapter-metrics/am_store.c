/* am_store.c — the store: families and series in hash tables, every update checked before
 * anything changes, caps, TTL expiry and pull-source sweeps. */
#include "am_store.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define STORE_NAME_MAX 200   /* bytes of a family name */
#define STORE_VALUE_MAX 1024 /* bytes of a label value, a state, an info string */
#define STORE_STATES_MAX 256 /* states of a stateset, fixed or learned */
#define STORE_FTAB0 64       /* family hash table's first size (a power of 2) */
#define STORE_STAB0 4        /* a family's series hash table's first size */
#define STORE_SET0 8         /* a set's member table's first size */

#define STORE_K0 0xa0761d6478bd642fULL
#define STORE_K1 0xe7037ed1a0b428dbULL
#define STORE_K2 0x8ebc6af09c88c6e3ULL

static const double store_default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
static const struct am_quantile store_default_quantiles[] = {
    {0.5, 0.05},
    {0.9, 0.01},
    {0.99, 0.001},
};

/* A series: the renderer's view, then the store's; label values and any bucket or quantile
 * array share its allocation. */
struct store_series {
    struct am_series pub;
    struct store_series *hnext; /* in the family's hash chain */
    uint64_t hash;              /* of the label values */
};

/* A set's members: linear probing on the member's hash (0 marks a free slot). */
struct store_member {
    uint64_t hash;
    int64_t seen_ms;
};

struct store_set {
    uint32_t mask;
    uint32_t n;
    struct store_member e[];
};

struct store_family {
    struct am_family pub;
    struct store_family *hnext; /* in the store's hash chain */
    uint64_t hash;              /* of the name */
    uint32_t *label_lens;       /* of pub.label_names */
    struct store_series **tab;  /* series by label values; size tab_mask + 1 */
    size_t tab_mask;
    struct store_series *tail; /* the newest series */
    int64_t max_age_ms;
    unsigned age_buckets;
    int64_t set_window_ms;
    size_t states_cap;
    bool states_fixed;
    bool has_sets; /* some series is a statsd set: am_store_expire looks at its members */
};

struct am_store {
    struct am_store_limits lim;
    struct am_store_stats stats;
    struct store_family **tab; /* families by name; size tab_mask + 1 */
    size_t tab_mask;
    struct am_family *head;    /* oldest first */
    struct store_family *tail; /* the newest */
    size_t nfamilies;
    size_t nseries;
    size_t bytes;
    uint64_t seed; /* of every hash, random so that hostile names cannot aim at one chain */
};

const char *am_type_name(enum am_type t)
{
    switch (t) {
    case AM_TYPE_UNTYPED:
        return "untyped";
    case AM_TYPE_GAUGE:
        return "gauge";
    case AM_TYPE_COUNTER:
        return "counter";
    case AM_TYPE_HISTOGRAM:
        return "histogram";
    case AM_TYPE_SUMMARY:
        return "summary";
    case AM_TYPE_STATESET:
        return "stateset";
    case AM_TYPE_INFO:
        return "info";
    }
    return "?";
}

/* ---- memory, counted in st->bytes as the allocator holds it ---- */

static size_t store_cost(void *p)
{
    return malloc_usable_size(p) + sizeof(size_t);
}

static void *store_alloc(struct am_store *st, size_t n)
{
    void *p = malloc(n);

    if (p != NULL) {
        st->bytes += store_cost(p);
    }
    return p;
}

static void *store_zalloc(struct am_store *st, size_t n)
{
    void *p = calloc(1, n);

    if (p != NULL) {
        st->bytes += store_cost(p);
    }
    return p;
}

/* Like realloc; on failure p is left as it was. */
static void *store_realloc(struct am_store *st, void *p, size_t n)
{
    size_t old = p != NULL ? store_cost(p) : 0;
    void *q = realloc(p, n);

    if (q != NULL) {
        st->bytes = st->bytes - old + store_cost(q);
    }
    return q;
}

static void store_free(struct am_store *st, void *p)
{
    if (p != NULL) {
        st->bytes -= store_cost(p);
        free(p);
    }
}

static char *store_strndup(struct am_store *st, const char *s, size_t len)
{
    char *p = store_alloc(st, len + 1);

    if (p != NULL) {
        if (len > 0) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
    }
    return p;
}

/* ---- hashing: a multiply-fold mix over 8-byte words ---- */

static inline uint64_t store_mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;

    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t store_r8(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t store_r4(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

/* The tail is read with overlapping loads, not copied byte by byte: for a given length they
 * still see every byte once or twice, so equal-length inputs that differ hash apart. */
static uint64_t store_hash(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ store_mum(len ^ STORE_K0, STORE_K1);
    size_t n = len;
    uint64_t w;

    for (; n >= 8; s += 8, n -= 8) {
        h = store_mum(h ^ store_r8(s), STORE_K1);
    }
    if (n > 0) {
        if (len >= 8) {
            w = store_r8(s + n - 8);
        } else if (n >= 4) {
            w = store_r4(s) << 32 | store_r4(s + n - 4);
        } else {
            w = (uint64_t)s[0] << 16 | (uint64_t)s[n >> 1] << 8 | s[n - 1];
        }
        h = store_mum(h ^ w ^ STORE_K2, STORE_K1);
    }
    return store_mum(h ^ STORE_K0, STORE_K2);
}

static bool store_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* ---- names, values ---- */

static bool store_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool store_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

bool am_valid_metric_name(const char *s, size_t len)
{
    if (len == 0 || len > STORE_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!store_is_alpha(c) && c != ':' && !(i > 0 && store_is_digit(c))) {
            return false;
        }
    }
    return true;
}

bool am_valid_label_name(const char *s, size_t len)
{
    if (len == 0 || (len >= 2 && s[0] == '_' && s[1] == '_')) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!store_is_alpha(c) && !(i > 0 && store_is_digit(c))) {
            return false;
        }
    }
    return true;
}

/* Well-formed UTF-8 as Unicode defines it: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no truncated sequence. */
bool am_valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;

    while (p < end) {
        unsigned char c = *p, lo = 0x80, hi = 0xBF;
        size_t n;

        if (end - p >= 8) {
            uint64_t w;

            memcpy(&w, p, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                p += 8;
                continue;
            }
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80; /* overlong */
            hi = c == 0xED ? 0x9F : 0xBF; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            lo = c == 0xF0 ? 0x90 : 0x80; /* overlong */
            hi = c == 0xF4 ? 0x8F : 0xBF; /* past U+10FFFF */
        } else {
            return false;
        }
        if ((size_t)(end - p) <= n || p[1] < lo || p[1] > hi) {
            return false;
        }
        for (size_t i = 2; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
        }
        p += n + 1;
    }
    return true;
}

/* A label value, state or info string: UTF-8, bounded, and without NUL (the renderer gets
 * them NUL-terminated). */
static bool store_valid_value(const char *s, size_t len)
{
    return len == 0 ||
           (len <= STORE_VALUE_MAX && memchr(s, '\0', len) == NULL && am_valid_utf8(s, len));
}

static bool store_ends(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool store_reserved_suffix(const char *s, size_t len, enum am_type t)
{
    if (store_ends(s, len, "_total") || store_ends(s, len, "_created") ||
        store_ends(s, len, "_info")) {
        return true;
    }
    if (t == AM_TYPE_HISTOGRAM || t == AM_TYPE_SUMMARY) {
        return false;
    }
    return store_ends(s, len, "_count") || store_ends(s, len, "_sum") ||
           store_ends(s, len, "_bucket");
}

static int store_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen;
}

/* Insertion sort by name: n is at most AM_LABELS_MAX and mostly tiny. */
static void store_sort_labels(const struct am_label **v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const struct am_label *x = v[i];
        size_t j = i;

        while (j > 0 &&
               store_name_cmp(v[j - 1]->name, v[j - 1]->name_len, x->name, x->name_len) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* ---- lookups ---- */

static struct store_family *store_family_find(const struct am_store *st, const char *name,
                                              size_t len, uint64_t h)
{
    for (struct store_family *f = st->tab[h & st->tab_mask]; f != NULL; f = f->hnext) {
        if (f->hash == h && store_eq(f->pub.name, f->pub.name_len, name, len)) {
            return f;
        }
    }
    return NULL;
}

/* Whether the sorted labels have exactly the family's names. */
static bool store_labels_match(const struct store_family *f, const struct am_label *const *lab,
                               size_t n)
{
    if (n != f->pub.nlabels) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!store_eq(lab[i]->name, lab[i]->name_len, f->pub.label_names[i], f->label_lens[i])) {
            return false;
        }
    }
    return true;
}

static uint64_t store_values_hash(const struct am_store *st, const struct am_label *const *lab,
                                  size_t n)
{
    uint64_t h = st->seed ^ STORE_K2;

    for (size_t i = 0; i < n; i++) {
        h = store_hash(lab[i]->value, lab[i]->value_len, h);
    }
    return h;
}

static struct store_series *store_series_find(const struct store_family *f,
                                              const struct am_label *const *lab, size_t n,
                                              uint64_t h)
{
    for (struct store_series *s = f->tab[h & f->tab_mask]; s != NULL; s = s->hnext) {
        size_t i;

        if (s->hash != h) {
            continue;
        }
        for (i = 0; i < n; i++) {
            if (!store_eq(s->pub.vals[i], s->pub.val_lens[i], lab[i]->value, lab[i]->value_len)) {
                break;
            }
        }
        if (i == n) {
            return s;
        }
    }
    return NULL;
}

/* The index of the state str in states[n], or -1. */
static long store_state_find(const char *const *states, size_t n, const char *str, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (states[i] != NULL && store_eq(states[i], strlen(states[i]), str, len)) {
            return (long)i;
        }
    }
    return -1;
}

/* ---- checks: each returns NULL or a static reason with *stat the counter to bump ---- */

/* The name and label checks of am_store_update, in the contract's order. */
static const char *store_check_names(struct am_store *st, const struct am_update *u, enum am_type t,
                                     const struct store_family *f,
                                     const struct am_label *const *lab, uint64_t **stat)
{
    const char *info_label = "value";

    if (f != NULL && f->pub.type == AM_TYPE_INFO) {
        info_label = f->pub.info_label;
    } else if (u->spec != NULL && u->spec->info_label != NULL) {
        info_label = u->spec->info_label;
    }
    *stat = &st->stats.bad_name;
    if (!am_valid_metric_name(u->name, u->name_len)) {
        return "bad metric name";
    }
    *stat = &st->stats.reserved_suffix;
    if (store_reserved_suffix(u->name, u->name_len, t)) {
        return "name ends in a reserved suffix";
    }
    *stat = &st->stats.bad_label;
    if (u->nlabels > AM_LABELS_MAX) {
        return "too many labels";
    }
    for (size_t i = 0; i < u->nlabels; i++) {
        const struct am_label *l = lab[i];

        if (!am_valid_label_name(l->name, l->name_len)) {
            return "bad label name";
        }
        if (i > 0 && store_eq(lab[i - 1]->name, lab[i - 1]->name_len, l->name, l->name_len)) {
            return "duplicate label name";
        }
        if ((t == AM_TYPE_HISTOGRAM && store_eq(l->name, l->name_len, "le", 2)) ||
            (t == AM_TYPE_SUMMARY && store_eq(l->name, l->name_len, "quantile", 8)) ||
            (t == AM_TYPE_STATESET && store_eq(l->name, l->name_len, u->name, u->name_len)) ||
            (t == AM_TYPE_INFO && store_eq(l->name, l->name_len, info_label, strlen(info_label)))) {
            return "reserved label name";
        }
    }
    for (size_t i = 0; i < u->nlabels; i++) {
        if (!store_valid_value(lab[i]->value, lab[i]->value_len)) {
            return "label value not UTF-8 or too long";
        }
    }
    if (f != NULL) {
        *stat = &st->stats.type_conflict;
        if (f->pub.type != t) {
            return "type conflict";
        }
        *stat = &st->stats.label_conflict;
        if (!store_labels_match(f, lab, u->nlabels)) {
            return "label names differ from the family's";
        }
    }
    *stat = &st->stats.bad_name;
    if (t == AM_TYPE_STATESET && !am_valid_label_name(u->name, u->name_len)) {
        return "stateset name is not a label name";
    }
    return NULL;
}

static bool store_op_fits(enum am_type t, enum am_op op)
{
    switch (op) {
    case AM_OP_SET:
        return t == AM_TYPE_UNTYPED || t == AM_TYPE_GAUGE || t == AM_TYPE_COUNTER;
    case AM_OP_ADD:
        return t == AM_TYPE_GAUGE || t == AM_TYPE_COUNTER;
    case AM_OP_OBSERVE:
        return t == AM_TYPE_HISTOGRAM || t == AM_TYPE_SUMMARY;
    case AM_OP_MEMBER:
        return t == AM_TYPE_GAUGE;
    case AM_OP_STATE:
        return t == AM_TYPE_STATESET;
    case AM_OP_INFO:
        return t == AM_TYPE_INFO;
    case AM_OP_SET_HISTOGRAM:
        return t == AM_TYPE_HISTOGRAM;
    case AM_OP_SET_SUMMARY:
        return t == AM_TYPE_SUMMARY;
    }
    return false;
}

/* A count OpenMetrics takes: whole, finite, >= 0, and one a uint64_t holds. */
static bool store_whole(double v)
{
    return v >= 0 && v < 0x1p64 && v == floor(v);
}

static const char *store_check_set_histogram(const struct am_update *u,
                                             const struct store_family *f)
{
    size_t n = u->nbounds;

    if (n < 1 || u->bounds == NULL || u->counts == NULL || u->bounds[n - 1] != INFINITY) {
        return "histogram without a +Inf bucket";
    }
    for (size_t i = 0; i < n; i++) {
        if ((i + 1 < n && !isfinite(u->bounds[i])) ||
            (i > 0 && !(u->bounds[i] > u->bounds[i - 1]))) {
            return "histogram bounds not ascending";
        }
        if (!store_whole(u->counts[i]) || (i > 0 && u->counts[i] < u->counts[i - 1])) {
            return "histogram bucket counts not cumulative whole numbers";
        }
    }
    if (u->count != u->counts[n - 1]) {
        return "histogram count differs from its +Inf bucket";
    }
    if (f != NULL) {
        if (f->pub.nbuckets != n - 1) {
            return "buckets differ from the family's";
        }
        for (size_t i = 0; i + 1 < n; i++) {
            if (u->bounds[i] != f->pub.buckets[i]) {
                return "buckets differ from the family's";
            }
        }
    }
    return NULL;
}

static const char *store_check_set_summary(const struct am_update *u, const struct store_family *f)
{
    size_t n = u->nbounds;

    if (n > 0 && (u->bounds == NULL || u->qvalues == NULL)) {
        return "summary without quantile values";
    }
    for (size_t i = 0; i < n; i++) {
        if (!(u->bounds[i] >= 0 && u->bounds[i] <= 1) ||
            (i > 0 && !(u->bounds[i] > u->bounds[i - 1]))) {
            return "summary quantiles not ascending in [0, 1]";
        }
    }
    if (!store_whole(u->count)) {
        return "summary count not a whole number";
    }
    if (f != NULL) {
        if (f->pub.nquantiles != n) {
            return "quantiles differ from the family's";
        }
        for (size_t i = 0; i < n; i++) {
            if (u->bounds[i] != f->pub.quantiles[i].q) {
                return "quantiles differ from the family's";
            }
        }
    }
    return NULL;
}

/*
 * The value checks that need no series. For STATE, sets *state to the state's index and
 * *new_state when it is to be learned.
 */
static const char *store_check_value(struct am_store *st, const struct am_update *u, enum am_type t,
                                     const struct store_family *f, uint64_t **stat, uint32_t *state,
                                     bool *new_state)
{
    const char *const *states;
    size_t nstates;
    bool fixed;
    long i;

    *stat = &st->stats.bad_value;
    switch (u->op) {
    case AM_OP_SET:
        if (t == AM_TYPE_COUNTER && !(isfinite(u->value) && u->value >= 0)) {
            return "counter total not finite or negative";
        }
        return NULL;
    case AM_OP_ADD:
        if (!isfinite(u->value)) {
            return "increment not finite";
        }
        if (t == AM_TYPE_COUNTER && u->value < 0) {
            return "negative counter increment";
        }
        return NULL;
    case AM_OP_OBSERVE:
        if (!isfinite(u->value)) {
            return "observation not finite";
        }
        if (u->weight == 0) {
            return "observation weight 0";
        }
        return NULL;
    case AM_OP_MEMBER:
        if (u->str == NULL && u->str_len > 0) {
            return "no set member";
        }
        return NULL;
    case AM_OP_INFO:
        *stat = &st->stats.bad_label;
        if ((u->str == NULL && u->str_len > 0) || !store_valid_value(u->str, u->str_len)) {
            return "info value not UTF-8 or too long";
        }
        return NULL;
    case AM_OP_STATE:
        *stat = &st->stats.bad_label;
        if ((u->str == NULL && u->str_len > 0) || !store_valid_value(u->str, u->str_len)) {
            return "state not UTF-8 or too long";
        }
        if (f != NULL) {
            states = (const char *const *)f->pub.states;
            nstates = f->pub.nstates;
            fixed = f->states_fixed;
        } else {
            states = u->spec->states;
            nstates = u->spec->states != NULL ? u->spec->nstates : 0;
            fixed = u->spec->states != NULL;
        }
        i = store_state_find(states, nstates, u->str, u->str_len);
        *state = (uint32_t)i;
        *new_state = false;
        if (i >= 0) {
            return NULL;
        }
        *stat = &st->stats.bad_value;
        if (fixed) {
            return "unknown state";
        }
        *stat = &st->stats.overflow;
        if (nstates >= STORE_STATES_MAX) {
            return "too many states";
        }
        *state = (uint32_t)nstates;
        *new_state = true;
        return NULL;
    case AM_OP_SET_HISTOGRAM:
        return store_check_set_histogram(u, f);
    case AM_OP_SET_SUMMARY:
        return store_check_set_summary(u, f);
    }
    return "op does not fit the type";
}

/* What an existing series' kind allows. */
static const char *store_check_series(const struct store_series *s, const struct am_update *u,
                                      enum am_type t)
{
    const struct am_series *p = &s->pub;

    if (t == AM_TYPE_GAUGE && p->is_set != (u->op == AM_OP_MEMBER)) {
        return p->is_set ? "series is a set: members only" : "series is a gauge, not a set";
    }
    if (t == AM_TYPE_HISTOGRAM && (p->u.hist.abs != NULL) != (u->op == AM_OP_SET_HISTOGRAM)) {
        return p->u.hist.abs != NULL ? "histogram series is set whole, not observed"
                                     : "histogram series is observed, not set whole";
    }
    if (t == AM_TYPE_SUMMARY && (p->u.sum.sketch == NULL) != (u->op == AM_OP_SET_SUMMARY)) {
        return p->u.sum.sketch == NULL ? "summary series is set whole, not observed"
                                       : "summary series is observed, not set whole";
    }
    return NULL;
}

/* The spec of a family about to be made. */
static const char *store_check_spec(struct am_store *st, const struct am_update *u, uint64_t **stat)
{
    const struct am_family_spec *sp = u->spec;

    *stat = &st->stats.bad_value;
    if (sp->ttl_ms < 0 || sp->set_window_ms < 0 || sp->max_age_ms < 0) {
        return "negative duration in the family spec";
    }
    if (sp->type == AM_TYPE_HISTOGRAM && u->op == AM_OP_OBSERVE && sp->buckets != NULL) {
        for (size_t i = 0; i < sp->nbuckets; i++) {
            bool last_inf = i + 1 == sp->nbuckets && sp->buckets[i] == INFINITY;

            if ((!isfinite(sp->buckets[i]) && !last_inf) ||
                (i > 0 && !(sp->buckets[i] > sp->buckets[i - 1]))) {
                return "buckets not ascending and finite";
            }
        }
    }
    if (sp->type == AM_TYPE_SUMMARY && u->op == AM_OP_OBSERVE && sp->quantiles != NULL) {
        for (size_t i = 0; i < sp->nquantiles; i++) {
            double q = sp->quantiles[i].q;

            if (!(q >= 0 && q <= 1)) {
                return "quantile outside [0, 1]";
            }
            for (size_t j = 0; j < i; j++) {
                if (sp->quantiles[j].q == q) {
                    return "quantile given twice";
                }
            }
        }
    }
    if (sp->type == AM_TYPE_STATESET && sp->states != NULL) {
        if (sp->nstates > STORE_STATES_MAX) {
            return "too many states";
        }
        for (size_t i = 0; i < sp->nstates; i++) {
            const char *s = sp->states[i];

            if (s == NULL || !store_valid_value(s, strlen(s))) {
                return "state not UTF-8 or too long";
            }
            if (store_state_find(sp->states, i, s, strlen(s)) >= 0) {
                return "state given twice";
            }
        }
    }
    *stat = &st->stats.bad_label;
    if (sp->type == AM_TYPE_INFO && sp->info_label != NULL &&
        !am_valid_label_name(sp->info_label, strlen(sp->info_label))) {
        return "bad info label name";
    }
    return NULL;
}

/* ---- families ---- */

static void store_series_free(struct am_store *st, const struct store_family *f,
                              struct store_series *s)
{
    struct am_series *p = &s->pub;

    if (f->pub.type == AM_TYPE_SUMMARY && p->u.sum.sketch != NULL) {
        st->bytes -= am_quant_bytes(p->u.sum.sketch);
        am_quant_destroy(p->u.sum.sketch);
    } else if (f->pub.type == AM_TYPE_GAUGE && p->is_set) {
        store_free(st, p->u.set.members);
    } else if (f->pub.type == AM_TYPE_INFO) {
        store_free(st, (char *)p->u.info.str);
    }
    store_free(st, s);
}

/* Frees f and its series; f may be half-built. */
static void store_family_free(struct am_store *st, struct store_family *f)
{
    struct am_series *next;

    if (f == NULL) {
        return;
    }
    for (struct am_series *p = f->pub.series; p != NULL; p = next) {
        next = p->next;
        store_series_free(st, f, (struct store_series *)p);
    }
    for (size_t i = 0; i < f->pub.nstates; i++) {
        store_free(st, f->pub.states[i]);
    }
    store_free(st, f->pub.states);
    store_free(st, f->pub.help);
    store_free(st, f->pub.label_names);
    store_free(st, f->pub.buckets);
    store_free(st, f->pub.quantiles);
    store_free(st, f->pub.info_label);
    store_free(st, f->tab);
    store_free(st, f);
}

static int store_quantile_cmp(const void *a, const void *b)
{
    double x = ((const struct am_quantile *)a)->q, y = ((const struct am_quantile *)b)->q;

    return (x > y) - (x < y);
}

/* The shape of a histogram or summary family, from its first update. */
static int store_family_shape(struct am_store *st, struct store_family *f,
                              const struct am_update *u)
{
    const struct am_family_spec *sp = u->spec;
    const double *b = store_default_buckets;
    size_t nb = sizeof(store_default_buckets) / sizeof(store_default_buckets[0]);
    const struct am_quantile *q = store_default_quantiles;
    size_t nq = sizeof(store_default_quantiles) / sizeof(store_default_quantiles[0]);

    if (f->pub.type == AM_TYPE_HISTOGRAM) {
        if (u->op == AM_OP_SET_HISTOGRAM) {
            b = u->bounds;
            nb = u->nbounds - 1;
        } else if (sp->buckets != NULL) {
            b = sp->buckets;
            nb = sp->nbuckets;
            if (nb > 0 && b[nb - 1] == INFINITY) {
                nb--; /* the +Inf bucket is always there */
            }
        }
        f->pub.buckets = store_alloc(st, (nb > 0 ? nb : 1) * sizeof(double));
        if (f->pub.buckets == NULL) {
            return -1;
        }
        if (nb > 0) {
            memcpy(f->pub.buckets, b, nb * sizeof(double));
        }
        f->pub.nbuckets = nb;
    } else if (f->pub.type == AM_TYPE_SUMMARY) {
        if (u->op == AM_OP_SET_SUMMARY) {
            q = NULL;
            nq = u->nbounds;
        } else if (sp->quantiles != NULL) {
            q = sp->quantiles;
            nq = sp->nquantiles;
        }
        f->pub.quantiles = store_alloc(st, (nq > 0 ? nq : 1) * sizeof(struct am_quantile));
        if (f->pub.quantiles == NULL) {
            return -1;
        }
        for (size_t i = 0; i < nq; i++) {
            f->pub.quantiles[i] = q != NULL ? q[i] : (struct am_quantile){u->bounds[i], 0};
        }
        qsort(f->pub.quantiles, nq, sizeof(struct am_quantile), store_quantile_cmp);
        f->pub.nquantiles = nq;
        f->max_age_ms = sp->max_age_ms > 0 ? sp->max_age_ms : 10 * 60 * 1000;
        f->age_buckets = sp->age_buckets > 0 ? sp->age_buckets : 5;
    }
    return 0;
}

/* A new family for u (checked), not yet in the store; NULL when out of memory. */
static struct store_family *store_family_make(struct am_store *st, const struct am_update *u,
                                              const struct am_label *const *lab, uint64_t h)
{
    const struct am_family_spec *sp = u->spec;
    struct store_family *f;
    size_t n = u->nlabels, chars = 0;
    char *c;

    f = store_zalloc(st, sizeof(*f) + u->name_len + 1);
    if (f == NULL) {
        return NULL;
    }
    f->pub.name = (char *)(f + 1);
    memcpy(f->pub.name, u->name, u->name_len);
    f->pub.name[u->name_len] = '\0';
    f->pub.name_len = u->name_len;
    f->pub.type = sp->type;
    f->pub.ttl_ms = sp->ttl_ms;
    f->hash = h;
    f->set_window_ms = sp->set_window_ms > 0 ? sp->set_window_ms : 60 * 1000;
    f->tab = store_zalloc(st, STORE_STAB0 * sizeof(*f->tab));
    if (f->tab == NULL) {
        goto fail;
    }
    f->tab_mask = STORE_STAB0 - 1;
    if (sp->help != NULL && (f->pub.help = store_strndup(st, sp->help, strlen(sp->help))) == NULL) {
        goto fail;
    }
    f->pub.help_plain = f->pub.help != NULL;
    for (const char *hc = f->pub.help; hc != NULL && *hc != '\0'; hc++) {
        if ((unsigned char)*hc < 0x20 || (unsigned char)*hc >= 0x7F || *hc == '\\' || *hc == '"') {
            f->pub.help_plain = false;
            break;
        }
    }
    /* Label names: pointers, lengths and the names themselves in one block. */
    for (size_t i = 0; i < n; i++) {
        chars += lab[i]->name_len + 1;
    }
    f->pub.label_names = store_alloc(st, n * (sizeof(char *) + sizeof(uint32_t)) + chars + 1);
    if (f->pub.label_names == NULL) {
        goto fail;
    }
    f->label_lens = (uint32_t *)(f->pub.label_names + n);
    c = (char *)(f->label_lens + n);
    for (size_t i = 0; i < n; i++) {
        f->pub.label_names[i] = c;
        f->label_lens[i] = (uint32_t)lab[i]->name_len;
        memcpy(c, lab[i]->name, lab[i]->name_len);
        c[lab[i]->name_len] = '\0';
        c += lab[i]->name_len + 1;
    }
    f->pub.nlabels = n;
    if (store_family_shape(st, f, u) < 0) {
        goto fail;
    }
    if (sp->type == AM_TYPE_STATESET && sp->states != NULL) {
        f->states_fixed = true;
        f->pub.states = store_zalloc(st, (sp->nstates > 0 ? sp->nstates : 1) * sizeof(char *));
        if (f->pub.states == NULL) {
            goto fail;
        }
        f->states_cap = sp->nstates;
        for (size_t i = 0; i < sp->nstates; i++) {
            f->pub.states[i] = store_strndup(st, sp->states[i], strlen(sp->states[i]));
            if (f->pub.states[i] == NULL) {
                goto fail;
            }
            f->pub.nstates++;
        }
    }
    if (sp->type == AM_TYPE_INFO) {
        const char *l = sp->info_label != NULL ? sp->info_label : "value";

        if ((f->pub.info_label = store_strndup(st, l, strlen(l))) == NULL) {
            goto fail;
        }
    }
    return f;
fail:
    store_family_free(st, f);
    return NULL;
}

/* The size of a hash table for n entries: a power of 2, at least n and at least min. */
static size_t store_tab_size(size_t n, size_t min)
{
    size_t size = min;

    while (size < n) {
        size *= 2;
    }
    return size;
}

/* Moves the store's families into a hash table of size entries (best effort). */
static void store_family_rehash(struct am_store *st, size_t size)
{
    struct store_family **tab = store_zalloc(st, size * sizeof(*tab));

    if (tab == NULL) {
        return; /* the chains grow longer, that is all */
    }
    for (struct am_family *p = st->head; p != NULL; p = p->next) {
        struct store_family *f = (struct store_family *)p;

        f->hnext = tab[f->hash & (size - 1)];
        tab[f->hash & (size - 1)] = f;
    }
    store_free(st, st->tab);
    st->tab = tab;
    st->tab_mask = size - 1;
}

static void store_family_link(struct am_store *st, struct store_family *f)
{
    size_t size = st->tab_mask + 1;

    if (st->tail != NULL) {
        st->tail->pub.next = &f->pub;
    } else {
        st->head = &f->pub;
    }
    st->tail = f;
    st->nfamilies++;
    if (st->nfamilies > size) {
        store_family_rehash(st, size * 2);
        if (st->tab_mask + 1 > size) {
            return; /* f was in the list, so it is in the new table */
        }
    }
    f->hnext = st->tab[f->hash & st->tab_mask];
    st->tab[f->hash & st->tab_mask] = f;
}

/* Unlinks f (whose predecessor in the list is prev) and frees it. */
static void store_family_remove(struct am_store *st, struct store_family *f,
                                struct store_family *prev)
{
    struct store_family **pp = &st->tab[f->hash & st->tab_mask];

    while (*pp != f) {
        pp = &(*pp)->hnext;
    }
    *pp = f->hnext;
    if (prev != NULL) {
        prev->pub.next = f->pub.next;
    } else {
        st->head = f->pub.next;
    }
    if (st->tail == f) {
        st->tail = prev;
    }
    st->nfamilies--;
    st->nseries -= f->pub.nseries;
    store_family_free(st, f);
    /* After a burst, the memory comes back. */
    if (st->tab_mask + 1 > STORE_FTAB0 && st->nfamilies * 4 < st->tab_mask + 1) {
        store_family_rehash(st, store_tab_size(st->nfamilies, STORE_FTAB0));
    }
}

/* ---- series ---- */

/* A new series of f for u (checked), not yet in the family; NULL when out of memory. Label
 * values, and a histogram's counts or a set summary's values, share its allocation. */
static struct store_series *store_series_make(struct am_store *st, struct store_family *f,
                                              const struct am_update *u,
                                              const struct am_label *const *lab, uint64_t h)
{
    size_t n = f->pub.nlabels, nextra = 0, off_lens, off_extra, off_chars, size;
    struct store_series *s;
    const char **vals;
    uint32_t *lens;
    char *c;

    if (f->pub.type == AM_TYPE_HISTOGRAM) {
        nextra = f->pub.nbuckets + 1;
    } else if (f->pub.type == AM_TYPE_SUMMARY && u->op == AM_OP_SET_SUMMARY) {
        nextra = f->pub.nquantiles;
    }
    off_lens = sizeof(*s) + n * sizeof(char *);
    off_extra = (off_lens + n * sizeof(uint32_t) + 7) & ~(size_t)7;
    off_chars = off_extra + nextra * sizeof(double);
    size = off_chars;
    for (size_t i = 0; i < n; i++) {
        size += lab[i]->value_len + 1;
    }
    s = store_alloc(st, size);
    if (s == NULL) {
        return NULL;
    }
    memset(s, 0, off_chars);
    vals = (const char **)(s + 1);
    lens = (uint32_t *)((char *)s + off_lens);
    c = (char *)s + off_chars;
    for (size_t i = 0; i < n; i++) {
        vals[i] = c;
        lens[i] = (uint32_t)lab[i]->value_len;
        if (lab[i]->value_len > 0) {
            memcpy(c, lab[i]->value, lab[i]->value_len);
        }
        c[lab[i]->value_len] = '\0';
        c += lab[i]->value_len + 1;
    }
    s->pub.vals = vals;
    s->pub.val_lens = lens;
    s->hash = h;
    if (f->pub.type == AM_TYPE_HISTOGRAM && u->op == AM_OP_OBSERVE) {
        s->pub.u.hist.counts = (uint64_t *)((char *)s + off_extra);
    } else if (f->pub.type == AM_TYPE_HISTOGRAM) {
        s->pub.u.hist.abs = (double *)((char *)s + off_extra);
    } else if (f->pub.type == AM_TYPE_SUMMARY && u->op == AM_OP_SET_SUMMARY) {
        s->pub.u.sum.qvalues = (double *)((char *)s + off_extra);
    } else if (f->pub.type == AM_TYPE_SUMMARY) {
        s->pub.u.sum.sketch = am_quant_create(f->max_age_ms, f->age_buckets);
        if (s->pub.u.sum.sketch == NULL) {
            store_free(st, s);
            return NULL;
        }
        st->bytes += am_quant_bytes(s->pub.u.sum.sketch);
    } else if (u->op == AM_OP_MEMBER) {
        s->pub.is_set = true;
    }
    return s;
}

static void store_series_rehash(struct am_store *st, struct store_family *f, size_t size)
{
    struct store_series **tab = store_zalloc(st, size * sizeof(*tab));

    if (tab == NULL) {
        return;
    }
    for (struct am_series *p = f->pub.series; p != NULL; p = p->next) {
        struct store_series *s = (struct store_series *)p;

        s->hnext = tab[s->hash & (size - 1)];
        tab[s->hash & (size - 1)] = s;
    }
    store_free(st, f->tab);
    f->tab = tab;
    f->tab_mask = size - 1;
}

static void store_series_link(struct am_store *st, struct store_family *f, struct store_series *s)
{
    size_t size = f->tab_mask + 1;

    if (f->tail != NULL) {
        f->tail->pub.next = &s->pub;
    } else {
        f->pub.series = &s->pub;
    }
    f->tail = s;
    f->pub.nseries++;
    st->nseries++;
    if (f->pub.nseries > size) {
        store_series_rehash(st, f, size * 2);
        if (f->tab_mask + 1 > size) {
            return; /* s was in the list, so it is in the new table */
        }
    }
    s->hnext = f->tab[s->hash & f->tab_mask];
    f->tab[s->hash & f->tab_mask] = s;
}

/* Removes from f the series for which drop() is true; returns how many. */
static size_t store_series_drop(struct am_store *st, struct store_family *f,
                                bool (*drop)(const struct am_series *, const void *),
                                const void *arg)
{
    struct am_series *p, *next, *prev = NULL;
    size_t gone = 0;

    for (p = f->pub.series; p != NULL; p = next) {
        struct store_series *s = (struct store_series *)p, **pp;

        next = p->next;
        if (!drop(p, arg)) {
            prev = p;
            continue;
        }
        for (pp = &f->tab[s->hash & f->tab_mask]; *pp != s; pp = &(*pp)->hnext) {
        }
        *pp = s->hnext;
        if (prev != NULL) {
            prev->next = next;
        } else {
            f->pub.series = next;
        }
        if (f->tail == s) {
            f->tail = (struct store_series *)prev;
        }
        store_series_free(st, f, s);
        f->pub.nseries--;
        st->nseries--;
        gone++;
    }
    if (f->pub.nseries > 0 && f->tab_mask + 1 > STORE_STAB0 &&
        f->pub.nseries * 4 < f->tab_mask + 1) {
        store_series_rehash(st, f, store_tab_size(f->pub.nseries, STORE_STAB0));
    }
    return gone;
}

/* ---- sets ---- */

static struct store_set *store_set_new(struct am_store *st, uint32_t size)
{
    struct store_set *set = store_zalloc(st, sizeof(*set) + size * sizeof(set->e[0]));

    if (set != NULL) {
        set->mask = size - 1;
    }
    return set;
}

static struct store_member *store_set_find(struct store_set *set, uint64_t h)
{
    if (set == NULL) {
        return NULL;
    }
    for (uint32_t i = (uint32_t)h & set->mask;; i = (i + 1) & set->mask) {
        if (set->e[i].hash == h) {
            return &set->e[i];
        }
        if (set->e[i].hash == 0) {
            return NULL;
        }
    }
}

/* Adds a member known to be absent, with room known to be there. */
static void store_set_put(struct store_set *set, uint64_t h, int64_t seen_ms)
{
    uint32_t i = (uint32_t)h & set->mask;

    while (set->e[i].hash != 0) {
        i = (i + 1) & set->mask;
    }
    set->e[i].hash = h;
    set->e[i].seen_ms = seen_ms;
    set->n++;
}

/* A table for n members, at most 3/4 full after one more is added. */
static uint32_t store_set_size(size_t n)
{
    uint32_t size = STORE_SET0;

    while ((n + 1) * 4 > (size_t)size * 3) {
        size *= 2;
    }
    return size;
}

/* Copies the members of old seen after since_ms into a new table (NULL when none are);
 * -1 when out of memory. */
static int store_set_copy(struct am_store *st, const struct store_set *old, int64_t since_ms,
                          struct store_set **out)
{
    size_t keep = 0;
    struct store_set *set;

    for (uint32_t i = 0; old != NULL && i <= old->mask; i++) {
        keep += old->e[i].hash != 0 && old->e[i].seen_ms > since_ms;
    }
    *out = NULL;
    if (keep == 0) {
        return 0;
    }
    set = store_set_new(st, store_set_size(keep));
    if (set == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i <= old->mask; i++) {
        if (old->e[i].hash != 0 && old->e[i].seen_ms > since_ms) {
            store_set_put(set, old->e[i].hash, old->e[i].seen_ms);
        }
    }
    *out = set;
    return 0;
}

/* Makes room for one more member in s's table. */
static int store_set_reserve(struct am_store *st, struct store_series *s)
{
    struct store_set *set = s->pub.u.set.members, *bigger;

    if (set != NULL && ((size_t)set->n + 2) * 4 <= ((size_t)set->mask + 1) * 3) {
        return 0;
    }
    if (set == NULL) {
        bigger = store_set_new(st, STORE_SET0);
        if (bigger == NULL) {
            return -1;
        }
    } else {
        bigger = store_set_new(st, (set->mask + 1) * 2);
        if (bigger == NULL) {
            return -1;
        }
        for (uint32_t i = 0; i <= set->mask; i++) {
            if (set->e[i].hash != 0) {
                store_set_put(bigger, set->e[i].hash, set->e[i].seen_ms);
            }
        }
        store_free(st, set);
    }
    s->pub.u.set.members = bigger;
    return 0;
}

static uint64_t store_member_hash(const struct am_store *st, const struct am_update *u)
{
    uint64_t h = store_hash(u->str, u->str_len, st->seed ^ STORE_K1);

    return h != 0 ? h : 1;
}

/* ---- update ---- */

/* The bucket of v: the first upper bound >= v, or nbuckets for +Inf. */
static size_t store_bucket(const struct store_family *f, double v)
{
    size_t lo = 0, hi = f->pub.nbuckets;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (f->pub.buckets[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Applies a checked update to its series; nothing here can fail. */
static void store_apply(struct am_store *st, struct store_family *f, struct store_series *s,
                        const struct am_update *u, int64_t now_ms, uint32_t state, char *info,
                        uint64_t member)
{
    struct am_series *p = &s->pub;
    double w = (double)u->weight;
    struct store_member *m;

    switch (u->op) {
    case AM_OP_SET:
        p->u.value = u->value;
        break;
    case AM_OP_ADD:
        p->u.value += u->value;
        break;
    case AM_OP_OBSERVE:
        if (f->pub.type == AM_TYPE_HISTOGRAM) {
            p->u.hist.counts[store_bucket(f, u->value)] += u->weight;
            p->u.hist.sum += u->value * w;
            p->u.hist.count += u->weight;
        } else {
            size_t before = am_quant_bytes(p->u.sum.sketch);

            am_quant_observe(p->u.sum.sketch, u->value, u->weight, now_ms);
            st->bytes += am_quant_bytes(p->u.sum.sketch) - before;
            p->u.sum.sum += u->value * w;
            p->u.sum.count += w;
        }
        break;
    case AM_OP_MEMBER:
        m = store_set_find(p->u.set.members, member);
        if (m != NULL) {
            m->seen_ms = now_ms;
        } else {
            store_set_put(p->u.set.members, member, now_ms);
        }
        p->u.set.n = ((struct store_set *)p->u.set.members)->n;
        f->has_sets = true;
        break;
    case AM_OP_STATE:
        p->u.state = state;
        break;
    case AM_OP_INFO:
        if (info != NULL) {
            store_free(st, (char *)p->u.info.str);
            p->u.info.str = info;
            p->u.info.len = (uint32_t)u->str_len;
        }
        break;
    case AM_OP_SET_HISTOGRAM:
        memcpy(p->u.hist.abs, u->counts, u->nbounds * sizeof(double));
        p->u.hist.abs_count = u->count;
        p->u.hist.count = (uint64_t)u->count;
        p->u.hist.sum = u->sum;
        break;
    case AM_OP_SET_SUMMARY:
        if (u->nbounds > 0) {
            memcpy(p->u.sum.qvalues, u->qvalues, u->nbounds * sizeof(double));
        }
        p->u.sum.count = u->count;
        p->u.sum.sum = u->sum;
        break;
    }
    p->updated_ms = now_ms;
    p->gen = u->gen;
    p->source = u->source;
}

/* Adds a learned state to f; on failure f is as it was, capacity and bytes included. */
static int store_state_add(struct am_store *st, struct store_family *f, const char *str, size_t len)
{
    char *copy = store_strndup(st, str, len);

    if (copy == NULL) {
        return -1;
    }
    if (f->pub.nstates == f->states_cap) {
        size_t cap = f->states_cap > 0 ? f->states_cap * 2 : 4;
        char **states = store_realloc(st, f->pub.states, cap * sizeof(char *));

        if (states == NULL) {
            store_free(st, copy);
            return -1;
        }
        f->pub.states = states;
        f->states_cap = cap;
    }
    f->pub.states[f->pub.nstates++] = copy;
    return 0;
}

int am_store_update(struct am_store *st, const struct am_update *u, int64_t now_ms,
                    const char **why)
{
    const struct am_label *lab[AM_LABELS_MAX];
    struct store_family *f, *newf = NULL;
    struct store_series *s, *news = NULL;
    uint64_t *stat = &st->stats.bad_value;
    const char *reason;
    uint64_t hname, hvals, member = 0;
    size_t n = u->nlabels;
    enum am_type t;
    uint32_t state = 0;
    bool new_state = false, checked = false;
    char *info = NULL;

    hname = store_hash(u->name, u->name_len, st->seed);
    f = store_family_find(st, u->name, u->name_len, hname);
    if (u->spec == NULL && f == NULL) {
        reason = "no family spec";
        goto refuse;
    }
    t = u->spec != NULL ? u->spec->type : f->pub.type;
    if ((unsigned)t > AM_TYPE_INFO) {
        reason = "unknown type";
        goto refuse;
    }
    if (n <= AM_LABELS_MAX) {
        for (size_t i = 0; i < n; i++) {
            lab[i] = &u->labels[i];
        }
        store_sort_labels(lab, n);
    }
    /* The usual case, a known family with its own label names, passed the name checks when
     * the family was made. */
    if (f == NULL || f->pub.type != t || n > AM_LABELS_MAX || !store_labels_match(f, lab, n)) {
        reason = store_check_names(st, u, t, f, lab, &stat);
        if (reason != NULL) {
            goto refuse;
        }
        checked = true;
    }
    hvals = store_values_hash(st, lab, n);
    s = f != NULL ? store_series_find(f, lab, n, hvals) : NULL;
    if (s == NULL && !checked) {
        for (size_t i = 0; i < n; i++) {
            if (!store_valid_value(lab[i]->value, lab[i]->value_len)) {
                stat = &st->stats.bad_label;
                reason = "label value not UTF-8 or too long";
                goto refuse;
            }
        }
    }
    stat = &st->stats.bad_value;
    if (!store_op_fits(t, u->op)) {
        reason = "op does not fit the type";
        goto refuse;
    }
    reason = store_check_value(st, u, t, f, &stat, &state, &new_state);
    if (reason == NULL && s != NULL) {
        stat = &st->stats.bad_value;
        reason = store_check_series(s, u, t);
    }
    if (reason == NULL && f == NULL) {
        reason = store_check_spec(st, u, &stat);
    }
    if (reason != NULL) {
        goto refuse;
    }
    stat = &st->stats.overflow;
    if (f == NULL && st->nfamilies >= st->lim.max_families) {
        reason = "too many families";
        goto refuse;
    }
    if (s == NULL && st->nseries >= st->lim.max_series) {
        reason = "too many series";
        goto refuse;
    }
    if (s == NULL && f != NULL && f->pub.nseries >= st->lim.max_series_per_family) {
        reason = "too many series in the family";
        goto refuse;
    }
    if (u->op == AM_OP_MEMBER) {
        member = store_member_hash(st, u);
        if (s != NULL && store_set_find(s->pub.u.set.members, member) == NULL &&
            s->pub.u.set.n >= st->lim.max_set_members) {
            reason = "too many set members";
            goto refuse;
        }
    }

    /* Everything that can fail for want of memory, before anything is linked in. */
    if (f == NULL) {
        newf = f = store_family_make(st, u, lab, hname);
        if (f == NULL) {
            goto oom;
        }
    }
    if (s == NULL) {
        news = s = store_series_make(st, f, u, lab, hvals);
        if (s == NULL) {
            goto oom;
        }
    }
    if (u->op == AM_OP_MEMBER && store_set_find(s->pub.u.set.members, member) == NULL &&
        store_set_reserve(st, s) < 0) {
        goto oom;
    }
    if (u->op == AM_OP_INFO &&
        (s->pub.u.info.str == NULL ||
         !store_eq(s->pub.u.info.str, s->pub.u.info.len, u->str, u->str_len))) {
        info = store_strndup(st, u->str, u->str_len);
        if (info == NULL) {
            goto oom;
        }
    }
    if (new_state && store_state_add(st, f, u->str, u->str_len) < 0) {
        goto oom; /* the last thing that can fail */
    }

    if (newf != NULL) {
        store_family_link(st, newf);
    }
    if (news != NULL) {
        store_series_link(st, f, news);
    }
    store_apply(st, f, s, u, now_ms, state, info, member);
    return 0;
oom:
    store_free(st, info);
    if (news != NULL) {
        store_series_free(st, f, news);
    }
    store_family_free(st, newf);
    if (why != NULL) {
        *why = "out of memory";
    }
    return -1;
refuse:
    (*stat)++;
    if (why != NULL) {
        *why = reason;
    }
    return -1;
}

/* ---- expiry and sweeps ---- */

struct store_sweep {
    uint16_t source;
    uint32_t gen;
};

static bool store_is_stale(const struct am_series *p, const void *arg)
{
    const struct store_sweep *sw = arg;

    return p->source == sw->source && p->gen != sw->gen;
}

struct store_expiry {
    int64_t now_ms;
    int64_t ttl_ms;
};

static bool store_is_expired(const struct am_series *p, const void *arg)
{
    const struct store_expiry *ex = arg;

    return ex->now_ms - p->updated_ms >= ex->ttl_ms;
}

/* Forgets the members of f's sets seen set_window_ms ago or longer. */
static void store_sets_expire(struct am_store *st, struct store_family *f, int64_t now_ms)
{
    for (struct am_series *p = f->pub.series; p != NULL; p = p->next) {
        struct store_set *set = p->u.set.members, *kept;

        if (!p->is_set || set == NULL) {
            continue;
        }
        if (store_set_copy(st, set, now_ms - f->set_window_ms, &kept) < 0) {
            continue; /* out of memory: the members stay until next time */
        }
        store_free(st, set);
        p->u.set.members = kept;
        p->u.set.n = kept != NULL ? kept->n : 0;
    }
}

size_t am_store_sweep(struct am_store *st, uint16_t source, uint32_t gen)
{
    struct store_sweep sw = {source, gen};
    struct store_family *f, *next, *prev = NULL;
    size_t gone = 0;

    for (f = (struct store_family *)st->head; f != NULL; f = next) {
        next = (struct store_family *)f->pub.next;
        gone += store_series_drop(st, f, store_is_stale, &sw);
        if (f->pub.nseries == 0) {
            store_family_remove(st, f, prev);
        } else {
            prev = f;
        }
    }
    st->stats.swept += gone;
    return gone;
}

size_t am_store_expire(struct am_store *st, int64_t now_ms)
{
    struct store_family *f, *next, *prev = NULL;
    size_t gone = 0;

    for (f = (struct store_family *)st->head; f != NULL; f = next) {
        next = (struct store_family *)f->pub.next;
        if (f->pub.ttl_ms > 0) {
            struct store_expiry ex = {now_ms, f->pub.ttl_ms};

            gone += store_series_drop(st, f, store_is_expired, &ex);
        }
        if (f->has_sets) {
            store_sets_expire(st, f, now_ms);
        }
        if (f->pub.nseries == 0) {
            store_family_remove(st, f, prev);
        } else {
            prev = f;
        }
    }
    st->stats.expired += gone;
    return gone;
}

/* ---- the store ---- */

struct am_store *am_store_create(const struct am_store_limits *lim)
{
    struct am_store *st = calloc(1, sizeof(*st));
    struct timespec ts;

    if (st == NULL) {
        return NULL;
    }
    st->bytes = store_cost(st);
    if (lim != NULL) {
        st->lim = *lim;
    }
    st->lim.max_series = st->lim.max_series > 0 ? st->lim.max_series : 100000;
    st->lim.max_series_per_family =
        st->lim.max_series_per_family > 0 ? st->lim.max_series_per_family : 10000;
    st->lim.max_families = st->lim.max_families > 0 ? st->lim.max_families : 10000;
    st->lim.max_set_members = st->lim.max_set_members > 0 ? st->lim.max_set_members : 10000;
    if (getrandom(&st->seed, sizeof(st->seed), GRND_NONBLOCK) != (ssize_t)sizeof(st->seed)) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        st->seed = (uint64_t)(uintptr_t)st ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32;
    }
    st->tab = store_zalloc(st, STORE_FTAB0 * sizeof(*st->tab));
    if (st->tab == NULL) {
        free(st);
        return NULL;
    }
    st->tab_mask = STORE_FTAB0 - 1;
    return st;
}

void am_store_destroy(struct am_store *st)
{
    struct am_family *next;

    if (st == NULL) {
        return;
    }
    for (struct am_family *p = st->head; p != NULL; p = next) {
        next = p->next;
        store_family_free(st, (struct store_family *)p);
    }
    free(st->tab);
    free(st);
}

const struct am_family *am_store_families(const struct am_store *st)
{
    return st->head;
}

size_t am_store_nseries(const struct am_store *st)
{
    return st->nseries;
}

size_t am_store_nfamilies(const struct am_store *st)
{
    return st->nfamilies;
}

const struct am_store_stats *am_store_stats(const struct am_store *st)
{
    return &st->stats;
}

size_t am_store_bytes(const struct am_store *st)
{
    return st->bytes;
}
