/* am_store.h — the metrics as they will be served: families and series, checked when a
 * sample arrives, capped, expired. Single-threaded: one event loop owns a store. */
#ifndef AM_STORE_H
#define AM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am_quant.h"
#include "am_sample.h"

/* A family's type, as served. */
enum am_type {
    AM_TYPE_UNTYPED,   /* 0.0.4 "untyped", OpenMetrics "unknown" */
    AM_TYPE_GAUGE,     /* also statsd sets (distinct members) */
    AM_TYPE_COUNTER,   /* family name without "_total"; samples get "_total" */
    AM_TYPE_HISTOGRAM, /* _bucket{le}, _count, _sum */
    AM_TYPE_SUMMARY,   /* {quantile}, _count, _sum */
    AM_TYPE_STATESET,  /* OpenMetrics stateset; 0.0.4 gauge. The state label is named as the family
                        */
    AM_TYPE_INFO,      /* family name without "_info"; samples get "_info", value 1 */
};

/* Names of the types for messages and configs ("counter", "stateset", ...). */
const char *am_type_name(enum am_type t);

/* A summary's target quantile and its allowed error (statsd_exporter's "quantiles"). */
struct am_quantile {
    double q;   /* in [0, 1] */
    double err; /* kept for compatibility and documentation; am_quant's error is relative */
};

/*
 * How a family is made when the first sample for it arrives. Everything is copied; later
 * samples for the same family are checked against what the family became (type and label
 * names), not against their spec.
 */
struct am_family_spec {
    enum am_type type;
    const char *help;      /* NULL: none; any bytes (the renderer escapes) */
    const double *buckets; /* histogram: ascending finite upper bounds, no +Inf; NULL:
                            * the Prometheus defaults .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 */
    size_t nbuckets;
    const struct am_quantile *quantiles; /* summary; NULL: 0.5, 0.9, 0.99 */
    size_t nquantiles;
    int64_t max_age_ms;    /* summary sliding window; 0: 10 minutes */
    unsigned age_buckets;  /* summary: windows the max age is cut into; 0: 5 */
    int64_t ttl_ms;        /* a series not updated for this long is removed; 0: never */
    int64_t set_window_ms; /* statsd sets: a member counts this long after it was seen; 0: 60 s */
    const char *const *states; /* stateset: the states, in order; NULL: learned as they come
                                * (at most 256 either way) */
    size_t nstates;
    const char *info_label; /* info: the label that carries the string; NULL: "value" */
};

/* What an update does to its series. Which ops a type takes:
 *   SET            untyped, gauge, counter (an absolute total: a smaller one is a reset)
 *   ADD            counter (value >= 0), gauge (relative, any finite value)
 *   OBSERVE        histogram, summary: value observed weight times
 *   MEMBER         gauge: str is a set member (statsd |s); the gauge is the number of
 *                  distinct members seen within set_window_ms
 *   STATE          stateset: str becomes the current state
 *   INFO           info: str is the info label's value
 *   SET_HISTOGRAM  histogram: the whole series at once (a pulled Prometheus text)
 *   SET_SUMMARY    summary: the whole series at once, quantile values as given
 * Any other pairing is rejected ("op does not fit the type").
 */
enum am_op {
    AM_OP_SET,
    AM_OP_ADD,
    AM_OP_OBSERVE,
    AM_OP_MEMBER,
    AM_OP_STATE,
    AM_OP_INFO,
    AM_OP_SET_HISTOGRAM,
    AM_OP_SET_SUMMARY,
};

/* One change to one series. Everything is borrowed for the call. */
struct am_update {
    const char *name; /* the family name: counters without "_total", info without "_info" */
    size_t name_len;
    const struct am_family_spec *spec;
    const struct am_label *labels; /* in any order; names unique (else rejected) */
    size_t nlabels;
    enum am_op op;
    double value;    /* SET, ADD, OBSERVE */
    uint64_t weight; /* OBSERVE: how many observations this is (>= 1) */
    const char *str; /* MEMBER, STATE, INFO */
    size_t str_len;
    /* SET_HISTOGRAM: bounds[n] ascending, the last one +Inf, cumulative counts[n];
     * SET_SUMMARY: bounds[n] are quantiles, counts unused, qvalues[n] their values. The
     * family's buckets/quantiles come from the first series; later ones must match. */
    const double *bounds;
    const double *counts;
    const double *qvalues;
    size_t nbounds;
    double count, sum; /* SET_HISTOGRAM / SET_SUMMARY; count must equal the +Inf bucket */
    uint16_t source;   /* who wrote it, for am_store_sweep */
    uint32_t gen;      /* the source's generation, for am_store_sweep */
};

/* Limits; zero fields take the defaults named. */
struct am_store_limits {
    size_t max_series;            /* in all: 100000 */
    size_t max_series_per_family; /* 10000 */
    size_t max_families;          /* 10000 */
    size_t max_set_members;       /* per set series: 10000 (more are counted, not stored) */
};

/* Why updates were refused, counted since the store was made (self-metrics). */
struct am_store_stats {
    uint64_t bad_name;        /* family name charset, empty, too long (> 200 bytes) */
    uint64_t bad_label;       /* label name charset/reserved "__", value not UTF-8, dup name */
    uint64_t type_conflict;   /* the family exists with another type */
    uint64_t label_conflict;  /* the family exists with another label-name set */
    uint64_t reserved_suffix; /* name ends in a suffix its type may not have */
    uint64_t bad_value;       /* NaN/Inf where not allowed, negative counter ADD, bad shape,
                               * an op the type or the series does not take */
    uint64_t overflow;        /* a cap was reached: series, family, set members, states */
    uint64_t expired;         /* series removed by TTL */
    uint64_t swept;           /* series removed by am_store_sweep */
};

/* ---- read side: for the renderer only; do not modify ---- */

struct am_series {
    struct am_series *next;  /* in the family, oldest first */
    const char *const *vals; /* label values in the family's label order, NUL-terminated */
    const uint32_t *val_lens;
    int64_t updated_ms;
    uint32_t gen;
    uint16_t source;
    union {
        double value; /* untyped, gauge, counter (the total) */
        struct {
            uint64_t *counts; /* per bucket, NOT cumulative; counts[nbuckets] is +Inf */
            double sum;
            uint64_t count;
            double *abs; /* SET_HISTOGRAM: cumulative counts per bucket incl +Inf, or NULL */
            double abs_count;
        } hist;
        struct {
            struct am_quant *sketch; /* OBSERVE; NULL for SET_SUMMARY */
            double *qvalues;         /* SET_SUMMARY: per family quantile */
            double sum;
            double count;
        } sum;
        struct {
            void *members; /* the store's own table */
            size_t n;      /* members within the window, as of the last am_store_expire */
        } set;
        uint32_t state; /* stateset: index into the family's states */
        struct {
            const char *str; /* info value, NUL-terminated */
            uint32_t len;
        } info;
    } u;
    bool is_set; /* gauge series fed by MEMBER */
};

struct am_family {
    struct am_family *next; /* in the store, oldest first */
    char *name;             /* NUL-terminated */
    size_t name_len;
    enum am_type type;
    char *help;         /* or NULL */
    bool help_plain;    /* help is printable ASCII without \\ or ": written as it is */
    char **label_names; /* sorted by strcmp; for stateset/info not including the state/info label */
    size_t nlabels;
    double *buckets; /* histogram: upper bounds, without +Inf */
    size_t nbuckets;
    struct am_quantile *quantiles; /* summary */
    size_t nquantiles;
    char **states; /* stateset */
    size_t nstates;
    char *info_label; /* info */
    struct am_series *series;
    size_t nseries;
    int64_t ttl_ms;
    /* ... the store's own fields follow in the .c file's view; the renderer ignores them */
};

struct am_store;

/* A new empty store, or NULL when out of memory. */
struct am_store *am_store_create(const struct am_store_limits *lim);

/* Frees the store and everything in it; NULL is fine. */
void am_store_destroy(struct am_store *st);

/*
 * Applies one update at time now_ms (CLOCK_MONOTONIC milliseconds). Checks, in order, before
 * anything changes: family name charset [a-zA-Z_:][a-zA-Z0-9_:]* (1..200 bytes); that no
 * name ends in "_total", "_created" or "_info" (counters' and info's suffixes are added by
 * the renderer) and, unless histogram or summary, not in "_count", "_sum" or "_bucket" (so
 * no two families' samples can clash and promtool's lint stays quiet); label names
 * [a-zA-Z_][a-zA-Z0-9_]*, not "__..." , unique, and none of "le" (histogram), "quantile" (summary),
 * the state label (stateset) or the info label (info); label values valid UTF-8 without NUL (up
 * to 1024 bytes; states and info strings likewise);
 * the type and label names of an existing family; a stateset family name must itself be a valid
 * label name. The first update for a family makes it from u->spec; for a series, makes it (caps:
 * the store's and per-family limits). SET_HISTOGRAM counts must be whole numbers (OpenMetrics),
 * finite and >= 0; SET_SUMMARY count likewise. Counts the reason in the stats when refused.
 * Returns 0, or -1 with *why a static reason ("type conflict", "label names differ from the
 * family's", ...). A refused update changes nothing.
 */
int am_store_update(struct am_store *st, const struct am_update *u, int64_t now_ms,
                    const char **why);

/* Removes series written by source whose gen is not gen (what a pull source did not
 * report this time), and families left empty. Returns how many series went. */
size_t am_store_sweep(struct am_store *st, uint16_t source, uint32_t gen);

/* Removes series older than their family's TTL, forgets set members past their window,
 * and drops empty families. Call about once a second. Returns how many series went. */
size_t am_store_expire(struct am_store *st, int64_t now_ms);

/* The families, oldest first (NULL when none), and the counts. */
const struct am_family *am_store_families(const struct am_store *st);
size_t am_store_nseries(const struct am_store *st);
size_t am_store_nfamilies(const struct am_store *st);
const struct am_store_stats *am_store_stats(const struct am_store *st);

/* Bytes the store holds (families, series, label values, sketches, tables): self-metric and
 * the memory-per-series benchmark. */
size_t am_store_bytes(const struct am_store *st);

/* For mappers: true when s is a valid metric name / label name (the checks above). */
bool am_valid_metric_name(const char *s, size_t len);
bool am_valid_label_name(const char *s, size_t len);
bool am_valid_utf8(const char *s, size_t len);

#endif
