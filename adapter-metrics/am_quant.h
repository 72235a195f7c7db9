/* am_quant.h — streaming quantiles over a sliding window, for summaries: bounded memory,
 * bounded relative error, no sample kept. */
#ifndef AM_QUANT_H
#define AM_QUANT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A log-bucketed sketch (values are counted in buckets whose bounds grow by a factor of
 * (1 + AM_QUANT_ALPHA) / (1 - AM_QUANT_ALPHA)), one per age window: max_age is cut into
 * age_buckets windows; an observation goes into the current one; a query merges the windows
 * younger than max_age. So a quantile is reported with a relative value error of at most
 * AM_QUANT_ALPHA for values whose magnitude lies in [1e-9, 1e15]; smaller magnitudes count
 * as zero, larger ones in the top bucket. Negative values and zero are kept exactly apart.
 * Each window holds at most AM_QUANT_MAX_BINS buckets: past that the lowest ones are merged
 * (the low quantiles lose accuracy first, as DDSketch does), so memory is bounded whatever
 * comes in.
 */
#define AM_QUANT_ALPHA 0.01
#define AM_QUANT_MAX_BINS 1024

struct am_quant;

/* A new sketch; max_age_ms > 0, age_buckets >= 1. NULL when out of memory. */
struct am_quant *am_quant_create(int64_t max_age_ms, unsigned age_buckets);

/* Frees it; NULL is fine. */
void am_quant_destroy(struct am_quant *qs);

/* Adds v (finite) weight times, at now_ms (monotonic ms, never going back). NaN and
 * infinities are ignored. */
void am_quant_observe(struct am_quant *qs, double v, uint64_t weight, int64_t now_ms);

/* The q-quantile (q in [0, 1]) of what was observed within max_age of now_ms, or NaN when
 * nothing was. Rotates windows as time passes, so it is not const. */
double am_quant_query(struct am_quant *qs, double q, int64_t now_ms);

/* Bytes it holds, for the store's accounting. */
size_t am_quant_bytes(const struct am_quant *qs);

#endif
