/* am_map.h — the mapping language (statsd_exporter's, plus value maps, StateSets and
 * _info): from a source's sample to a store update. */
#ifndef AM_MAP_H
#define AM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am_sample.h"
#include "am_store.h"
#include "pk_conf.h"

/*
 * statsd_exporter's "defaults:" block. Keys: observer_type (histogram|summary; default
 * summary, as statsd_exporter), buckets (list), quantiles (list of {quantile, error}),
 * histogram_options {buckets}, summary_options {quantiles, max_age, age_buckets,
 * buf_cap (accepted, unused)}, ttl (duration, 0 = never), match_type (glob|regex),
 * glob_disable_ordering (bool; accepted: glob rules are always tried in file order).
 * Our additions: set_window (duration, statsd sets; default 60s).
 */
struct am_defaults {
    enum am_type observer_type; /* AM_TYPE_HISTOGRAM or AM_TYPE_SUMMARY */
    double *buckets;            /* owned; NULL: the store's defaults */
    size_t nbuckets;
    struct am_quantile *quantiles; /* owned; NULL: the store's defaults */
    size_t nquantiles;
    int64_t max_age_ms;
    unsigned age_buckets;
    int64_t ttl_ms;
    int64_t set_window_ms;
    bool match_regex; /* default match_type */
};

/*
 * A list of mapping rules as written (statsd_exporter's "mappings:"), parsed and checked
 * but not compiled. Per rule:
 *   match (required), match_type glob|regex, match_metric_type counter|gauge|observer
 *   (also "set" and "untyped", ours), name (required unless action is drop; may use $1,
 *   ${1}, ${name}), labels (map; values may use captures), help, action map|drop,
 *   observer_type, timer_type (old alias), buckets, quantiles, histogram_options,
 *   summary_options, ttl, scale (values are multiplied by it; timers' ms -> s happens
 *   before).
 * Ours: type (untyped|gauge|counter|stateset|info: what a plain number or string becomes),
 * value_map (a map from a string value to a number: "ok: 1"; also numbers to numbers),
 * states (stateset: the list of states, in order), info_label (info: the label carrying
 * the string; default "version"), set_window (duration).
 * Unknown keys, a bad regex (PCRE2's message and offset), a bad glob, a label name or
 * literal name that is not valid, an unknown $capture are errors at the node's position.
 */
struct am_rules;

/* pk_conf custom parsers. am_rules_conf: dst is a struct am_rules * (NULL when unset; a
 * YAML sequence of rule maps). am_defaults_conf: dst is a struct am_defaults (a YAML map).
 * Neither takes a flag's text (from_text fails: "only in the config file"). */
extern const struct pk_conf_custom am_rules_conf;
extern const struct pk_conf_custom am_defaults_conf;

/* Sets d to the defaults above (nothing owned). */
void am_defaults_init(struct am_defaults *d);
/* Frees what d owns and re-inits it. */
void am_defaults_clear(struct am_defaults *d);

/* Reads a statsd_exporter mapping file (top-level keys "defaults" and "mappings", nothing
 * else) into *defaults (which it clears first) and *rules (NULL when none). Returns 0, or
 * -1 with "FILE:LINE:COL: path: what" in err. */
int am_rules_load_file(const char *path, struct am_defaults *defaults, struct am_rules **rules,
                       char *err, size_t errsz);

/* Frees rules; NULL is fine. */
void am_rules_free(struct am_rules *rules);

/* How many rules. */
size_t am_rules_count(const struct am_rules *rules);

/* One source's mapping: its own rules first, then the global ones, then the default name. */
struct am_map_conf {
    const struct am_defaults *defaults; /* required */
    const struct am_rules *own;         /* NULL: none */
    const struct am_rules *global;      /* NULL: none */
    const char *prefix;                 /* before unmapped names; NULL or "" for none */
    const struct am_label *labels;      /* constant labels for every sample (e.g. source) */
    size_t nlabels;
    uint16_t source;   /* written into every update */
    size_t cache_size; /* names whose rule is remembered; 0: 8192 */
};

struct am_map;

/* Compiles a mapping (globs into a matcher, regexes with PCRE2 JIT when available). Copies
 * what it needs from mc (rules must outlive it: they are borrowed). NULL with a message in
 * err (one line) on failure. */
struct am_map *am_map_create(const struct am_map_conf *mc, char *err, size_t errsz);

/* Frees it; NULL is fine. */
void am_map_destroy(struct am_map *m);

/*
 * Maps sample s and applies it to st at now_ms with generation gen:
 *   - rules: glob rules in file order (own, then global), then regex rules likewise; a
 *     rule's match_metric_type must fit s->kind; the first match wins. The name -> rule
 *     result (and captures) is cached per (name, kind), so a steady stream of the same
 *     names costs one hash lookup.
 *   - no rule: the default name: prefix + the name with every byte outside [a-zA-Z0-9_]
 *     turned into '_' and a leading digit prefixed with '_'.
 *   - kind -> op: COUNTER ADD value/rate (counter_absolute: SET); GAUGE SET or ADD
 *     (relative); TIMER OBSERVE value/1000 (seconds), HISTOGRAM and DISTRIBUTION OBSERVE
 *     value, weight round(1/rate) >= 1, type observer_type; SET MEMBER on a gauge; UNTYPED
 *     SET as the rule's type (default untyped). A string value (set_member with kind
 *     UNTYPED) goes through value_map, else becomes STATE (stateset) or INFO (info), else is
 *     refused ("string value without value_map"). scale multiplies numbers.
 *   - a counter name ending in "_total" (or an info name in "_info") loses the suffix.
 *   - labels: the rule's, then the sample's (names sanitized like the default name), then
 *     the constant ones; a name already present is skipped.
 * Returns 0 when stored, 1 when a drop rule matched, -1 when refused (by the mapping or the
 * store) with a static reason in *why.
 */
int am_map_apply(struct am_map *m, struct am_store *st, const struct am_sample *s, uint32_t gen,
                 int64_t now_ms, const char **why);

/* What a map did, since it was made. */
struct am_map_stats {
    uint64_t mapped;   /* matched a rule and stored */
    uint64_t unmapped; /* stored under the default name */
    uint64_t dropped;  /* a drop rule matched */
    uint64_t refused;  /* -1 returns */
};
const struct am_map_stats *am_map_stats(const struct am_map *m);

#endif
