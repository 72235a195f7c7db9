/* am_sample.h — one number as a source gives it, before mapping: what every parser emits. */
#ifndef AM_SAMPLE_H
#define AM_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>

/* What kind of number the source says it is. */
enum am_kind {
    AM_KIND_UNTYPED,      /* a plain number: kv files, JSON, INFO fields of unknown meaning */
    AM_KIND_GAUGE,        /* a level (statsd |g, INFO gauges) */
    AM_KIND_COUNTER,      /* a running total (statsd |c adds to it; INFO totals are absolute) */
    AM_KIND_TIMER,        /* statsd |ms: one observation in milliseconds */
    AM_KIND_HISTOGRAM,    /* statsd |h: one observation */
    AM_KIND_DISTRIBUTION, /* statsd |d (DogStatsD): one observation */
    AM_KIND_SET,          /* statsd |s: one member; the metric counts distinct members */
};

/* A label as the source gives it. Name and value point into the parsed input (or the
 * parser's scratch space) and live only for the callback; neither is NUL-terminated, and
 * neither is checked or sanitized here: that is the mapping's job. */
struct am_label {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

#define AM_LABELS_MAX 32 /* a sample with more labels is refused by the parsers */

/*
 * One sample. Everything lives only for the callback: it points into the input, the
 * parser's scratch space, a parsed JSON tree, or (INFO's names) static strings.
 *   name      the source's name for it ("api.requests", "used_memory", "db0_keys"), raw
 *   value     the number; for AM_KIND_SET 0 (the member is in set_member)
 *   relative  statsd gauges "+3" / "-3": add to the current value instead of setting it
 *   rate      statsd sample rate in (0, 1], 1 when none: a counter increment counts 1/rate
 *             times, an observation 1/rate times
 *   counter_absolute  for AM_KIND_COUNTER: value is the total itself (Redis INFO,
 *             files), not an increment (statsd)
 */
struct am_sample {
    const char *name;
    size_t name_len;
    enum am_kind kind;
    double value;
    bool relative;
    bool counter_absolute;
    double rate;
    const char *set_member;
    size_t set_member_len;
    const char *help; /* a description when the source has one (INFO: none), or NULL */
    const struct am_label *labels;
    size_t nlabels;
};

/* Receives each sample a parser finds, in input order. */
typedef void am_sample_fn(void *arg, const struct am_sample *s);

/* Receives each line a parser refuses: 1-based line number (0 when the input has no lines),
 * and a static reason ("no type", "bad sample rate"). The parser goes on with the next
 * line: one bad line never costs the others. */
typedef void am_reject_fn(void *arg, size_t line, const char *why);

#endif
