/* am_statsd.h — the statsd line protocol, with its four tag dialects. Pure: no I/O. */
#ifndef AM_STATSD_H
#define AM_STATSD_H

#include <stddef.h>

#include "am_sample.h"

/*
 * Parses one packet (or a chunk of a TCP/unix stream that ends on a line boundary): lines
 * separated by '\n' (one trailing '\r' dropped), each
 *     name:value|type[|@rate][|#tag,tag:value...][|c:container-id][|T<ts>]
 * Types c, g, ms, h, d, s. Several values share one line in DogStatsD's multi-value form
 * ("name:1:2:3|ms": one sample per value, all or none of them); "name:1|c:2|c" is not that
 * form (its type "c:2" is unknown), and a set's member is all the text up to '|', ':' and
 * all. A gauge whose value has a sign ("+3", "-3", "-0", "+0") is relative; without one it is
 * absolute: statsd's rule (a negative gauge is set by 0 then "-n"). Values are decimal
 * ("42", "-0.5", "1e3", "inf", "nan"; no hex, no blanks, no overflow to infinity), read
 * exactly as strtod reads them in the C locale (one needing strtod, i.e. with an exponent or
 * over 15-19 digits, may be at most 127 bytes). Per kind: a counter increment must be >= 0 (statsd_exporter drops
 * negative ones), not NaN and not infinite ("-0" passes, adding nothing); an absolute gauge
 * may be NaN or +-Inf, a relative one must be finite; an observation (ms, h, d) must be
 * finite. Timer values stay in milliseconds. "@rate" must be in (0, 1] (once); it is passed
 * on for every kind, not applied. "T<digits>" is read and not used; other DogStatsD fields of
 * the form "<a-z...>:..." ("c:", "e:", "card:") are skipped; any other field is refused.
 * Tags in any of:
 *   DogStatsD  name:1|c|#env:prod,region:eu      (a tag without ':' has an empty value)
 *   InfluxDB   name,env=prod,region=eu:1|c
 *   Librato    name#env=prod,region=eu:1|c
 *   SignalFX   name[env=prod,region=eu]:1|c     (one group, anywhere in the name)
 * The name field ends at the first ':'. Its "[...]" group is taken out first, then its first
 * ',' or '#' starts InfluxDB/Librato tags; DogStatsD tags may come on top. Labels come in
 * that order (SignalFX, InfluxDB/Librato, DogStatsD), each split at its first '=' (':' for
 * DogStatsD), no '=' meaning an empty value; empty items (",,") are skipped; nothing is
 * unescaped or deduplicated. Label text points into buf, or into scratch when the SignalFX
 * group sat in the middle of the name (then the name does too).
 * DogStatsD events ("_e{") and service checks ("_sc|") and empty lines are skipped without
 * complaint. Refused lines go to reject (which may be NULL) with a static reason and their
 * 1-based line number: no ':' ("no value"), no '|' ("no type"), "unknown type", "bad value",
 * "counter is NaN", "negative counter", "counter is infinite", "relative gauge not finite",
 * "observation not finite", "bad sample rate", "bad timestamp", "bad field", "too many
 * labels" (more than AM_LABELS_MAX), "bad SignalFX tags" (a lone or second bracket),
 * "empty name", "name too long" (a name field, tags included, over 4096 bytes).
 * No allocation; buf need not be NUL-terminated. Returns the number of samples emitted.
 */
size_t am_statsd_parse(const char *buf, size_t len, am_sample_fn *emit, am_reject_fn *reject,
                       void *arg);

#endif
