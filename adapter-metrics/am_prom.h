/* am_prom.h — the Prometheus text format (0.0.4) and OpenMetrics 1.0.0 as input: a pulled
 * exposition validated and turned into store updates. Pure: no I/O. */
#ifndef AM_PROM_H
#define AM_PROM_H

#include <stddef.h>

#include "am_sample.h"
#include "am_store.h"

/* Receives each update found, ready for am_store_update except source and gen, which the
 * receiver sets (it may also add labels: u->labels may be replaced for the call). u and
 * everything it points to live only for the call. */
typedef void am_prom_fn(void *arg, struct am_update *u);

/*
 * Parses an exposition in either format (told apart by nothing: the union of both is
 * accepted): "# HELP name text" (escapes \\ \n, and \" as OpenMetrics has it), "# TYPE name
 * type" (counter, gauge, histogram, summary, untyped, unknown, stateset, info; gaugehistogram
 * is refused), other '#' lines are comments, "# EOF" ends the input, blank lines are skipped;
 * samples "name{l="v",...} value [timestamp]" with \\ \" \n escapes in label values (any
 * other backslash kept as written), a trailing comma allowed, values as Prometheus reads
 * them: Go's ParseFloat (incl. "+Inf", "-Inf", "NaN", any case) without hex or '_' ("0x10",
 * "0x1p-2" and "1_000" are refused, as Prometheus refuses them), and refused past the range
 * of a double ("1e999"); timestamps read and ignored, exemplars ("# {...} v") ignored.
 * A sample belongs to the family of the last TYPE/HELP whose name it extends with the
 * type's suffixes, else it is an untyped family of its own name. Updates:
 *   untyped/gauge          AM_OP_SET on the family's name
 *   counter                AM_OP_SET on the name without "_total" (a 0.0.4 family typed
 *                          "x_total" becomes "x"; "x" stays "x"); "_created" ignored
 *   stateset               AM_OP_STATE with the state whose sample is 1 (one per series,
 *                          spec.states listing all the states seen in the group)
 *   info                   AM_OP_INFO on the name without "_info": the sample's last
 *                          label is the info label (spec.info_label), its value the str,
 *                          the other labels name the series; a value other than 1 is refused
 *   histogram              one AM_OP_SET_HISTOGRAM per series: the consecutive _bucket lines
 *                          with equal labels but le, its _count and _sum. Checked: le values
 *                          parse and ascend, the last is +Inf, cumulative counts never
 *                          decrease, _count (when given) equals the +Inf bucket; _sum may be
 *                          missing (0). A series that fails is refused whole.
 *   summary                one AM_OP_SET_SUMMARY per series: its quantile lines (ascending
 *                          quantile in [0,1]), _count and _sum.
 * spec (owned by the parser) carries the type and HELP; names and label values point into
 * buf or the parser's scratch (unescaped). Lines that do not parse go to reject (may be
 * NULL) with their 1-based number and a static reason, and the parser goes on with the next;
 * one bad line never costs the other families. Bounded: lines up to 64 KiB (without the
 * '\n'), AM_LABELS_MAX labels, histograms up to 256 buckets, summaries up to 64 quantiles,
 * statesets up to 64 states; scratch is one allocation of about 5 x min(len, 64 KiB) bytes
 * for the call (when it fails: one reject, line 0, "out of memory", and nothing emitted).
 * emit and reject may be NULL. Returns the number of updates emitted.
 */
size_t am_prom_parse(const char *buf, size_t len, am_prom_fn *emit, am_reject_fn *reject,
                     void *arg);

#endif
