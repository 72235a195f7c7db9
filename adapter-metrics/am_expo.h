/* am_expo.h — a store as Prometheus text 0.0.4 or OpenMetrics 1.0.0: choosing the format,
 * rendering it, and gzip. */
#ifndef AM_EXPO_H
#define AM_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am_store.h"

struct evbuffer;

enum am_format {
    AM_FORMAT_TEXT,        /* text/plain; version=0.0.4; charset=utf-8 */
    AM_FORMAT_OPENMETRICS, /* application/openmetrics-text; version=1.0.0; charset=utf-8 */
};

/*
 * The format an Accept header asks for, as Prometheus' own negotiation does: media ranges
 * with q-values; "application/openmetrics-text" (version 1.0.0 or none; another version
 * does not match) beats "text/plain" at equal q; "*" + "/" + "*", "text/plain", an empty or
 * missing header (NULL), or anything unknown give 0.0.4.
 */
enum am_format am_expo_negotiate(const char *accept);

/* The Content-Type header value for a format (static). */
const char *am_expo_content_type(enum am_format fmt);

/* True when an Accept-Encoding header allows gzip (q > 0; "*" counts). NULL: false. */
bool am_expo_wants_gzip(const char *accept_encoding);

/*
 * Appends every family of st to out, in the store's order, at now_ms (for summaries'
 * windows). Per family: "# HELP" (its help, or "Metric adapted by adapter-metrics." when it
 * has none: promtool's lint wants help on every family), "# TYPE", then its series, oldest
 * first. Families without a series are skipped. The differences between the formats:
 *   0.0.4: counter "# TYPE x_total counter" and "x_total"; untyped "untyped"; stateset as a
 *          gauge "x{x="state"} 1|0"; info as a gauge "x_info{...} 1"; HELP escapes only
 *          backslash and newline; label values escape backslash, quote and newline.
 *   OpenMetrics: "# TYPE x counter" and "x_total"; untyped "unknown"; stateset and info as
 *          themselves; HELP escapes backslash, quote and newline; "# EOF" at the end.
 * Both: histogram buckets cumulative with canonical "le" values ("0.005", "1.0" in
 * OpenMetrics, "1" in 0.0.4, "+Inf"), then _count and _sum (OpenMetrics: _count and _sum
 * after the buckets too); summaries "quantile" likewise canonical, NaN when the window is
 * empty; values with am_expo_double. Labels in the family's order; the stateset/info label
 * last. OpenMetrics allows no negative quantile value, no negative or NaN _sum, no _sum next
 * to a negative bucket bound and no histogram _count without _sum: there those samples are
 * left out (0.0.4 keeps them). Returns 0, or -1 when out of memory (out may then hold part
 * of it).
 */
int am_expo_render(struct am_store *st, enum am_format fmt, int64_t now_ms, struct evbuffer *out);

/*
 * Writes v into buf (at least 32 bytes) the shortest way that reads back to the same double:
 * integers up to 2^53 without exponent or point ("42", "-7", "0"), others as the shortest of
 * %.{1..17}g that round-trips ("0.1", "1e-07", "1.7976931348623157e+308"); "+Inf", "-Inf",
 * "NaN". With om (OpenMetrics label values such as le/quantile), an integer gets ".0"
 * ("1.0"). Returns the length; buf is NUL-terminated.
 */
size_t am_expo_double(char *buf, double v, bool om);

/* gzip-compresses all of in (left unchanged) onto the end of out, at level 1..9.
 * Returns 0, or -1 on a zlib error or out of memory. */
int am_gzip(const struct evbuffer *in, struct evbuffer *out, int level);

#endif
