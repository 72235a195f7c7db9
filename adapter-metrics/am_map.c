/* am_map.c — the mapping language: rules read from YAML, globs compiled into a trie, regexes
 * with PCRE2, and the per-sample path from a name to a store update through a bounded cache. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "am_map.h"
#include "pk_str.h"

#include <math.h>
#include <stdarg.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLOB_MAX_COMPONENTS 128 /* a longer glob is refused; longer names match no glob */
#define GLOB_MAX_STARS 32       /* '*' in one glob: its captures */
#define RULE_MAX_LABELS 64      /* labels one rule may set */
#define UPDATE_MAX_LABELS 128   /* rule + sample + constant labels in one update */
#define REGEX_MATCH_LIMIT 200000
#define CACHE_WAYS 4
#define NONE UINT32_MAX
#define PATH_LEN 256         /* longest key path in a message */
#define DEFAULT_HELP_MAX 160 /* a generated help text names at most this much of a name */

/* The classes a rule's match_metric_type selects; every sample kind falls in one. */
enum cls { CLS_COUNTER, CLS_GAUGE, CLS_OBSERVER, CLS_SET, CLS_UNTYPED, NCLS };
#define CLS_ALL ((1u << NCLS) - 1)

/* ---- rules as parsed --------------------------------------------------------------- */

/* A name or label value with $n / ${n} / ${name} references, split into parts. */
struct tpart {
    int32_t cap; /* capture number (0: the whole match), or -1: literal text[off..off+len) */
    uint32_t off;
    uint32_t len;
};
struct tmpl {
    char *text; /* literal bytes, "$$" already made one '$' */
    struct tpart *parts;
    size_t nparts;
};

struct vmap_entry {
    char *key;
    size_t key_len;
    bool key_is_num; /* the key reads as a number: numeric samples are looked up by it */
    double key_num;
    double value;
};

struct rule {
    char *match;
    size_t match_len;
    bool regex;
    bool match_type_set; /* on the rule, not from the defaults */
    unsigned classes;    /* bit per enum cls */
    pcre2_code *re;      /* regex rules: compiled without JIT (maps JIT their own copy) */
    uint32_t ncaps;      /* globs: '*' count; regexes: groups */
    size_t ncomp;        /* globs: components */
    bool drop;
    struct tmpl name;
    char **label_names;
    struct tmpl *label_vals;
    size_t nlabels;
    char *help;
    int observer; /* -1: the defaults'; else AM_TYPE_HISTOGRAM or AM_TYPE_SUMMARY */
    double *buckets;
    size_t nbuckets;
    struct am_quantile *quantiles;
    size_t nquantiles;
    int64_t max_age_ms;   /* 0: the defaults' */
    unsigned age_buckets; /* 0: the defaults' */
    bool ttl_set;
    int64_t ttl_ms;
    bool scale_set;
    double scale;
    enum am_type type; /* what an untyped sample becomes */
    struct vmap_entry *vmap;
    size_t nvmap;
    bool vmap_has_num;
    char **states;
    size_t nstates;
    char *info_label;
    int64_t set_window_ms; /* 0: the defaults' */
    size_t line;           /* 1-based, for messages */
};

struct am_rules {
    struct rule *v;
    size_t n;
};

/* ---- small helpers ----------------------------------------------------------------- */

static bool is_word(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static enum cls class_of(enum am_kind k)
{
    switch (k) {
    case AM_KIND_COUNTER:
        return CLS_COUNTER;
    case AM_KIND_GAUGE:
        return CLS_GAUGE;
    case AM_KIND_TIMER:
    case AM_KIND_HISTOGRAM:
    case AM_KIND_DISTRIBUTION:
        return CLS_OBSERVER;
    case AM_KIND_SET:
        return CLS_SET;
    case AM_KIND_UNTYPED:
        break;
    }
    return CLS_UNTYPED;
}

/* A 64-bit hash of bytes, 8 at a time: for the cache and the glob trie's literal edges. */
static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    uint64_t w;

    while (n >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

/* ---- YAML helpers (pk_conf has pk_conf_node_kind and pk_conf_is_null) ----------------- */

/* The text of a scalar node into *out, or an error naming what came instead. */
static int get_str(struct pk_conf *c, yaml_node_t *n, const char *path, const char **out)
{
    *out = NULL;
    if (n->type != YAML_SCALAR_NODE || pk_conf_is_null(n)) {
        return pk_conf_fail(c, n, path, "expected a string, got %s",
                            pk_conf_is_null(n) ? "nothing" : pk_conf_node_kind(n));
    }
    *out = (const char *)n->data.scalar.value;
    return 0;
}

/* A number as YAML writes one: decimal (strtod in the C locale, no hex), or .inf/.nan. */
static bool read_number(const char *s, double *out)
{
    static const struct {
        const char *word;
        double v;
    } words[] = {{".inf", INFINITY},   {".Inf", INFINITY},   {".INF", INFINITY},
                 {"+.inf", INFINITY},  {"+.Inf", INFINITY},  {"+.INF", INFINITY},
                 {"-.inf", -INFINITY}, {"-.Inf", -INFINITY}, {"-.INF", -INFINITY},
                 {".nan", NAN},        {".NaN", NAN},        {".NAN", NAN}};
    char *end;

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i].word) == 0) {
            *out = words[i].v;
            return true;
        }
    }
    if (s[0] == '\0' || strpbrk(s, "xX \t") != NULL) {
        return false;
    }
    *out = strtod(s, &end);
    return *end == '\0';
}

static int get_number(struct pk_conf *c, yaml_node_t *n, const char *path, double *out)
{
    if (n->type != YAML_SCALAR_NODE || pk_conf_is_null(n) ||
        !read_number((const char *)n->data.scalar.value, out)) {
        return pk_conf_fail(c, n, path, "expected a number");
    }
    return 0;
}

static int get_duration(struct pk_conf *c, yaml_node_t *n, const char *path, int64_t *out)
{
    char msg[128];
    const char *s;

    if (get_str(c, n, path, &s) < 0) {
        return -1;
    }
    if (pk_conf_parse_duration(s, out, msg, sizeof(msg)) < 0) {
        return pk_conf_fail(c, n, path, "%s", msg);
    }
    return 0;
}

static int get_uint(struct pk_conf *c, yaml_node_t *n, const char *path, long long min,
                    long long max, long long *out)
{
    char msg[128];
    const char *s;

    if (get_str(c, n, path, &s) < 0) {
        return -1;
    }
    if (pk_conf_parse_int(s, min, max, out, msg, sizeof(msg)) < 0) {
        return pk_conf_fail(c, n, path, "%s", msg);
    }
    return 0;
}

/* One of choices (NULL-terminated) into *out, else "expected WORDS". */
static int get_choice(struct pk_conf *c, yaml_node_t *n, const char *path,
                      const char *const *choices, const char *expect, int *out)
{
    const char *s;

    if (get_str(c, n, path, &s) < 0) {
        return -1;
    }
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return pk_conf_fail(c, n, path, "expected %s", expect);
}

static int get_mapping(struct pk_conf *c, yaml_node_t *n, const char *path, const char *what)
{
    if (n->type != YAML_MAPPING_NODE) {
        return pk_conf_fail(c, n, path, "expected %s, got %s", what,
                            pk_conf_is_null(n) ? "nothing" : pk_conf_node_kind(n));
    }
    return 0;
}

/* Marks a path that did not fit: it ends in "...". */
static const char *cut_path(char *buf, size_t bufsz, int n)
{
    if (n < 0 || (size_t)n >= bufsz) {
        memcpy(buf + bufsz - 4, "...", 4);
    }
    return buf;
}

/* "PATH.KEY" into buf (PATH_LEN bytes). */
static const char *sub_path(char *buf, const char *path, const char *key)
{
    return cut_path(buf, PATH_LEN,
                    snprintf(buf, PATH_LEN, "%s%s%s", path, path[0] != '\0' ? "." : "", key));
}

/* "PATH[I]" into buf (PATH_LEN bytes). */
static const char *item_path(char *buf, const char *path, size_t i)
{
    return cut_path(buf, PATH_LEN, snprintf(buf, PATH_LEN, "%s[%zu]", path, i));
}

/* Walks a mapping's pairs: *key gets the key text, *kn and *vn the nodes. Non-scalar keys and
 * broken pairs are errors. Returns 1 for a pair, 0 at the end, -1 on error. */
struct pairs {
    yaml_node_pair_t *p, *end;
};

static void pairs_init(struct pairs *it, yaml_node_t *map)
{
    it->p = map->data.mapping.pairs.start;
    it->end = map->data.mapping.pairs.top;
}

static int pairs_next(struct pk_conf *c, struct pairs *it, yaml_node_t *map, const char *path,
                      const char **key, yaml_node_t **kn, yaml_node_t **vn)
{
    if (it->p >= it->end) {
        return 0;
    }
    *kn = pk_conf_node(c, it->p->key);
    *vn = pk_conf_node(c, it->p->value);
    it->p++;
    if (*kn == NULL || *vn == NULL) {
        return pk_conf_fail(c, map, path, "broken mapping");
    }
    if ((*kn)->type != YAML_SCALAR_NODE) {
        return pk_conf_fail(c, *kn, path, "a key must be a plain name, not %s",
                            pk_conf_node_kind(*kn));
    }
    *key = (const char *)(*kn)->data.scalar.value;
    return 1;
}

/* The index of key in keys[0..n), or -1 after an "unknown key" error (with a suggestion). */
static int key_index(struct pk_conf *c, yaml_node_t *kn, const char *path, const char *key,
                     const char *const *keys, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(key, keys[i]) == 0) {
            return (int)i;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t d = pk_edit_distance(key, keys[i], false);
        if (d < best_d) {
            best_d = d;
            best = keys[i];
        }
    }
    if (best != NULL) {
        return pk_conf_fail(c, kn, path, "unknown key (did you mean '%s'?)", best);
    }
    return pk_conf_fail(c, kn, path, "unknown key");
}

/* Walks a mapping whose keys come from a fixed list (at most 32): each step gives the next
 * key's index k, its nodes kn and vn, and kpath "PATH.KEY". Unknown and repeated keys are
 * errors. */
struct kwalk {
    struct pairs it;
    yaml_node_t *map;
    const char *path;
    const char *const *keys;
    size_t nkeys;
    uint32_t seen; /* bit per key */
    int k;
    yaml_node_t *kn, *vn;
    char kpath[PATH_LEN];
};

static void kwalk_init(struct kwalk *w, yaml_node_t *map, const char *path, const char *const *keys,
                       size_t nkeys)
{
    pairs_init(&w->it, map);
    w->map = map;
    w->path = path;
    w->keys = keys;
    w->nkeys = nkeys;
    w->seen = 0;
}

/* Returns 1 for a key, 0 at the end, -1 on error. */
static int kwalk_next(struct pk_conf *c, struct kwalk *w)
{
    const char *key;
    int rc = pairs_next(c, &w->it, w->map, w->path, &key, &w->kn, &w->vn);

    if (rc <= 0) {
        return rc;
    }
    sub_path(w->kpath, w->path, key);
    if ((w->k = key_index(c, w->kn, w->kpath, key, w->keys, w->nkeys)) < 0) {
        return -1;
    }
    if (w->seen & (1u << w->k)) {
        return pk_conf_fail(c, w->kn, w->kpath, "duplicate key");
    }
    w->seen |= 1u << w->k;
    return 1;
}

/* ---- shared option parsers ------------------------------------------------------------ */

/* For a list node: its length in *cnt and a zeroed array of as many elements of size elem
 * (one more, so never empty), or NULL after an error ("expected WHAT"). */
static void *seq_array(struct pk_conf *c, yaml_node_t *n, const char *path, const char *what,
                       size_t elem, size_t *cnt)
{
    void *v;

    if (n->type != YAML_SEQUENCE_NODE) {
        pk_conf_fail(c, n, path, "expected %s", what);
        return NULL;
    }
    *cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if ((v = calloc(*cnt + 1, elem)) == NULL) {
        pk_conf_fail(c, n, path, "out of memory");
    }
    return v;
}

/* Item i of list node n, with its path in ipath (PATH_LEN bytes); NULL after an error. */
static yaml_node_t *seq_item(struct pk_conf *c, yaml_node_t *n, size_t i, const char *path,
                             char *ipath)
{
    yaml_node_t *item = pk_conf_node(c, n->data.sequence.items.start[i]);

    item_path(ipath, path, i);
    if (item == NULL) {
        pk_conf_fail(c, n, ipath, "broken list");
    }
    return item;
}

/* A list of ascending finite bounds; a last +Inf is dropped (the store adds it). An empty list
 * leaves *out NULL (the defaults). */
static int parse_buckets(struct pk_conf *c, yaml_node_t *n, const char *path, double **out,
                         size_t *nout)
{
    size_t cap, k = 0;
    double *v = seq_array(c, n, path, "a list of numbers", sizeof(double), &cap);

    if (v == NULL) {
        return -1;
    }
    for (size_t i = 0; i < cap; i++) {
        char ipath[PATH_LEN];
        yaml_node_t *item = seq_item(c, n, i, path, ipath);
        double b;

        if (item == NULL || get_number(c, item, ipath, &b) < 0) {
            free(v);
            return -1;
        }
        if (b == INFINITY && i + 1 == cap) {
            break;
        }
        if (!isfinite(b)) {
            free(v);
            return pk_conf_fail(c, item, ipath, "a bucket bound must be finite (+Inf is implied)");
        }
        if (k > 0 && b <= v[k - 1]) {
            free(v);
            return pk_conf_fail(c, item, ipath, "bucket bounds must be in increasing order");
        }
        v[k++] = b;
    }
    free(*out);
    *out = NULL;
    *nout = 0;
    if (k == 0) {
        free(v);
        return 0;
    }
    *out = v;
    *nout = k;
    return 0;
}

/* A list of {quantile, error}. An empty list leaves *out NULL. */
static int parse_quantiles(struct pk_conf *c, yaml_node_t *n, const char *path,
                           struct am_quantile **out, size_t *nout)
{
    static const char *const keys[] = {"quantile", "error"};
    size_t cnt;
    struct am_quantile *v =
        seq_array(c, n, path, "a list of {quantile, error}", sizeof(struct am_quantile), &cnt);

    if (v == NULL) {
        return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
        char ipath[PATH_LEN];
        yaml_node_t *item = seq_item(c, n, i, path, ipath);
        struct kwalk w;
        int r;

        if (item == NULL || get_mapping(c, item, ipath, "a mapping {quantile, error}") < 0) {
            goto fail;
        }
        kwalk_init(&w, item, ipath, keys, 2);
        while ((r = kwalk_next(c, &w)) > 0) {
            double *d = w.k == 0 ? &v[i].q : &v[i].err;
            if (get_number(c, w.vn, w.kpath, d) < 0) {
                goto fail;
            }
            if (!(*d >= 0 && *d <= 1)) {
                pk_conf_fail(c, w.vn, w.kpath, "%s must be from 0 to 1",
                             w.k == 0 ? "a quantile" : "an error");
                goto fail;
            }
        }
        if (r < 0) {
            goto fail;
        }
        if (!(w.seen & 1u)) {
            pk_conf_fail(c, item, ipath, "needs a quantile");
            goto fail;
        }
    }
    free(*out);
    *out = cnt > 0 ? v : NULL;
    *nout = cnt;
    if (cnt == 0) {
        free(v);
    }
    return 0;
fail:
    free(v);
    return -1;
}

/* histogram_options: {buckets, native_histogram_bucket_factor, native_histogram_max_buckets}
 * (the native ones accepted and unused). */
static int parse_histogram_options(struct pk_conf *c, yaml_node_t *n, const char *path,
                                   double **buckets, size_t *nbuckets, bool *have)
{
    static const char *const keys[] = {"buckets", "native_histogram_bucket_factor",
                                       "native_histogram_max_buckets"};
    struct kwalk w;
    int r;

    if (get_mapping(c, n, path, "a mapping") < 0) {
        return -1;
    }
    kwalk_init(&w, n, path, keys, 3);
    while ((r = kwalk_next(c, &w)) > 0) {
        double d;
        long long ll;

        if (w.k == 0) {
            if (parse_buckets(c, w.vn, w.kpath, buckets, nbuckets) < 0) {
                return -1;
            }
            *have = *buckets != NULL;
        } else if (w.k == 1 ? get_number(c, w.vn, w.kpath, &d) < 0
                            : get_uint(c, w.vn, w.kpath, 0, 1000000, &ll) < 0) {
            return -1;
        }
    }
    return r;
}

/* summary_options: {quantiles, max_age, age_buckets, buf_cap (accepted, unused)}. */
static int parse_summary_options(struct pk_conf *c, yaml_node_t *n, const char *path,
                                 struct am_quantile **q, size_t *nq, bool *have_q,
                                 int64_t *max_age_ms, unsigned *age_buckets)
{
    static const char *const keys[] = {"quantiles", "max_age", "age_buckets", "buf_cap"};
    struct kwalk w;
    int r;

    if (get_mapping(c, n, path, "a mapping") < 0) {
        return -1;
    }
    kwalk_init(&w, n, path, keys, 4);
    while ((r = kwalk_next(c, &w)) > 0) {
        long long ll;

        switch (w.k) {
        case 0:
            if (parse_quantiles(c, w.vn, w.kpath, q, nq) < 0) {
                return -1;
            }
            *have_q = *q != NULL;
            break;
        case 1:
            if (get_duration(c, w.vn, w.kpath, max_age_ms) < 0) {
                return -1;
            }
            break;
        case 2:
            if (get_uint(c, w.vn, w.kpath, 0, 1000, &ll) < 0) {
                return -1;
            }
            *age_buckets = (unsigned)ll;
            break;
        default:
            if (get_uint(c, w.vn, w.kpath, 0, 1000000000, &ll) < 0) {
                return -1;
            }
            break;
        }
    }
    return r;
}

static const char *const observer_words[] = {"histogram", "summary", NULL};
#define OBSERVER_EXPECT "histogram or summary"

static enum am_type observer_type(int choice)
{
    return choice == 0 ? AM_TYPE_HISTOGRAM : AM_TYPE_SUMMARY;
}

/* ---- defaults ------------------------------------------------------------------------ */

void am_defaults_init(struct am_defaults *d)
{
    memset(d, 0, sizeof(*d));
    d->observer_type = AM_TYPE_SUMMARY;
    d->set_window_ms = 60000;
}

void am_defaults_clear(struct am_defaults *d)
{
    free(d->buckets);
    free(d->quantiles);
    am_defaults_init(d);
}

static int defaults_from_text(struct pk_conf *c, void *dst, const char *text, bool append)
{
    (void)dst;
    (void)text;
    (void)append;
    return pk_conf_fail(c, NULL, NULL, "defaults: only in the config file");
}

enum dkey {
    DK_OBSERVER_TYPE,
    DK_TIMER_TYPE,
    DK_BUCKETS,
    DK_QUANTILES,
    DK_HISTOGRAM_OPTIONS,
    DK_SUMMARY_OPTIONS,
    DK_TTL,
    DK_MATCH_TYPE,
    DK_GLOB_DISABLE_ORDERING,
    DK_SET_WINDOW,
    DK_N
};
static const char *const defaults_keys[DK_N] = {
    "observer_type",         "timer_type",      "buckets", "quantiles",
    "histogram_options",     "summary_options", "ttl",     "match_type",
    "glob_disable_ordering", "set_window",
};

static const char *const match_type_words[] = {"glob", "regex", NULL};

static int defaults_from_yaml(struct pk_conf *c, void *dst, yaml_node_t *node, const char *path)
{
    struct am_defaults d;
    struct kwalk w;
    double *legacy_b = NULL;
    size_t legacy_nb = 0;
    struct am_quantile *legacy_q = NULL;
    size_t legacy_nq = 0;
    bool have_b = false, have_q = false;
    int observer = -1, timer = -1, r = -1;

    am_defaults_init(&d);
    if (pk_conf_is_null(node)) {
        am_defaults_clear(dst);
        return 0;
    }
    if (get_mapping(c, node, path, "a mapping") < 0) {
        return -1;
    }
    kwalk_init(&w, node, path, defaults_keys, DK_N);
    while ((r = kwalk_next(c, &w)) > 0) {
        int ch;
        bool b;
        char msg[64];
        const char *s;

        r = -1;
        switch ((enum dkey)w.k) {
        case DK_OBSERVER_TYPE:
        case DK_TIMER_TYPE:
            if (get_choice(c, w.vn, w.kpath, observer_words, OBSERVER_EXPECT, &ch) < 0) {
                goto out;
            }
            *(w.k == DK_OBSERVER_TYPE ? &observer : &timer) = ch;
            break;
        case DK_BUCKETS:
            if (parse_buckets(c, w.vn, w.kpath, &legacy_b, &legacy_nb) < 0) {
                goto out;
            }
            break;
        case DK_QUANTILES:
            if (parse_quantiles(c, w.vn, w.kpath, &legacy_q, &legacy_nq) < 0) {
                goto out;
            }
            break;
        case DK_HISTOGRAM_OPTIONS:
            if (parse_histogram_options(c, w.vn, w.kpath, &d.buckets, &d.nbuckets, &have_b) < 0) {
                goto out;
            }
            break;
        case DK_SUMMARY_OPTIONS:
            if (parse_summary_options(c, w.vn, w.kpath, &d.quantiles, &d.nquantiles, &have_q,
                                      &d.max_age_ms, &d.age_buckets) < 0) {
                goto out;
            }
            break;
        case DK_TTL:
            if (get_duration(c, w.vn, w.kpath, &d.ttl_ms) < 0) {
                goto out;
            }
            break;
        case DK_MATCH_TYPE:
            if (get_choice(c, w.vn, w.kpath, match_type_words, "glob or regex", &ch) < 0) {
                goto out;
            }
            d.match_regex = ch == 1;
            break;
        case DK_GLOB_DISABLE_ORDERING:
            if (get_str(c, w.vn, w.kpath, &s) < 0) {
                goto out;
            }
            if (pk_conf_parse_bool(s, &b, msg, sizeof(msg)) < 0) {
                pk_conf_fail(c, w.vn, w.kpath, "%s", msg);
                goto out;
            }
            break;
        case DK_SET_WINDOW:
            if (get_duration(c, w.vn, w.kpath, &d.set_window_ms) < 0) {
                goto out;
            }
            if (d.set_window_ms <= 0) {
                pk_conf_fail(c, w.vn, w.kpath, "must be longer than 0");
                goto out;
            }
            break;
        case DK_N:
            break;
        }
    }
    if (r < 0) {
        goto out;
    }
    /* As statsd_exporter: observer_type over timer_type, the options' lists over the old
     * top-level ones. */
    if (observer >= 0 || timer >= 0) {
        d.observer_type = observer_type(observer >= 0 ? observer : timer);
    }
    if (!have_b && legacy_b != NULL) {
        d.buckets = legacy_b;
        d.nbuckets = legacy_nb;
        legacy_b = NULL;
    }
    if (!have_q && legacy_q != NULL) {
        d.quantiles = legacy_q;
        d.nquantiles = legacy_nq;
        legacy_q = NULL;
    }
    am_defaults_clear(dst);
    *(struct am_defaults *)dst = d;
    am_defaults_init(&d);
    r = 0;
out:
    free(legacy_b);
    free(legacy_q);
    am_defaults_clear(&d);
    return r;
}

static void defaults_clear_cb(void *dst)
{
    am_defaults_clear(dst);
}

const struct pk_conf_custom am_defaults_conf = {defaults_from_text, defaults_from_yaml,
                                                defaults_clear_cb};

/* ---- templates --------------------------------------------------------------------- */

static void tmpl_free(struct tmpl *t)
{
    free(t->text);
    free(t->parts);
    memset(t, 0, sizeof(*t));
}

static int tmpl_push(struct tmpl *t, int32_t cap, uint32_t off, uint32_t len)
{
    struct tpart *p;

    if (cap < 0 && len == 0) {
        return 0;
    }
    if (cap < 0 && t->nparts > 0 && t->parts[t->nparts - 1].cap < 0) {
        t->parts[t->nparts - 1].len += len; /* literal after literal: one part */
        return 0;
    }
    p = realloc(t->parts, (t->nparts + 1) * sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    t->parts = p;
    p[t->nparts++] = (struct tpart){cap, off, len};
    return 0;
}

/* Resolves a reference's name (digits, or a regex group's name) to a capture number. */
static int tmpl_ref(struct pk_conf *c, yaml_node_t *n, const char *path, const struct rule *r,
                    const char *ref, size_t ref_len, const char *name, size_t name_len)
{
    bool digits = true;
    unsigned long num = 0;

    for (size_t i = 0; i < name_len; i++) {
        if (!is_digit((unsigned char)name[i])) {
            digits = false;
            break;
        }
        if (num < 1000000) {
            num = num * 10 + (unsigned long)(name[i] - '0');
        }
    }
    if (digits && num <= r->ncaps) {
        return (int)num;
    }
    if (!digits && r->regex) {
        char buf[256];
        int g;

        snprintf(buf, sizeof(buf), "%.*s", (int)name_len, name);
        g = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR)buf);
        if (g >= 0) {
            return g;
        }
        return pk_conf_fail(c, n, path,
                            "unknown capture '%.*s' (the regex has no group named '%s')",
                            (int)ref_len, ref, buf);
    }
    if (!digits && is_digit((unsigned char)name[0])) {
        size_t d = 0;
        while (is_digit((unsigned char)name[d])) {
            d++;
        }
        return pk_conf_fail(c, n, path,
                            "unknown capture '%.*s' (to follow $%.*s with text, write "
                            "${%.*s}%.*s)",
                            (int)ref_len, ref, (int)d, name, (int)d, name, (int)(name_len - d),
                            name + d);
    }
    if (!digits) {
        return pk_conf_fail(c, n, path,
                            "unknown capture '%.*s' (a glob's captures are $1, $2, ...)",
                            (int)ref_len, ref);
    }
    return pk_conf_fail(c, n, path, "unknown capture '%.*s' (the %s has %u %s)", (int)ref_len, ref,
                        r->regex ? "regex" : "glob", (unsigned)r->ncaps,
                        r->regex ? (r->ncaps == 1 ? "group" : "groups") : "'*'");
}

/*
 * Parses src as Go's Regexp.Expand reads a template: "$$" is '$'; "$name" takes the longest
 * run of [A-Za-z0-9_]; "${name}" the text between the braces; a '$' followed by neither is
 * itself. Unlike Go, a name that is not a capture is an error, not an empty string.
 */
static int tmpl_parse(struct pk_conf *c, yaml_node_t *n, const char *path, const struct rule *r,
                      const char *src, struct tmpl *t)
{
    size_t len = strlen(src), o = 0;

    memset(t, 0, sizeof(*t));
    t->text = malloc(len + 1);
    if (t->text == NULL) {
        return pk_conf_fail(c, n, path, "out of memory");
    }
    for (size_t i = 0; i < len;) {
        const char *name = NULL;
        size_t name_len = 0, j = i + 1;
        int rc;

        if (src[i] == '$' && j < len && src[j] == '{') {
            size_t k = j + 1;
            while (k < len && is_word((unsigned char)src[k])) {
                k++;
            }
            if (k > j + 1 && k < len && src[k] == '}') {
                name = src + j + 1;
                name_len = k - j - 1;
                j = k + 1;
            }
        } else if (src[i] == '$' && j < len && src[j] != '$') {
            size_t k = j;
            while (k < len && is_word((unsigned char)src[k])) {
                k++;
            }
            if (k > j) {
                name = src + j;
                name_len = k - j;
                j = k;
            }
        }
        if (name == NULL) {
            /* A literal byte; "$$" is one '$'. */
            t->text[o] = src[i];
            rc = tmpl_push(t, -1, (uint32_t)o, 1);
            o++;
            i += src[i] == '$' && i + 1 < len && src[i + 1] == '$' ? 2 : 1;
        } else {
            int cap = tmpl_ref(c, n, path, r, src + i, j - i, name, name_len);
            if (cap < 0) {
                tmpl_free(t);
                return -1;
            }
            rc = tmpl_push(t, cap, 0, 0);
            i = j;
        }
        if (rc < 0) {
            tmpl_free(t);
            return pk_conf_fail(c, n, path, "out of memory");
        }
    }
    t->text[o] = '\0';
    return 0;
}

/* A name template's literal text must be metric-name bytes, and not begin with a digit. */
static bool tmpl_name_ok(const struct tmpl *t)
{
    if (t->nparts == 0) {
        return false;
    }
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tpart *p = &t->parts[i];
        for (uint32_t k = 0; p->cap < 0 && k < p->len; k++) {
            unsigned char ch = (unsigned char)t->text[p->off + k];
            if (!is_word(ch) && ch != ':') {
                return false;
            }
            if (i == 0 && k == 0 && is_digit(ch)) {
                return false;
            }
        }
    }
    return true;
}

/* ---- rules --------------------------------------------------------------------------- */

static void rule_free(struct rule *r)
{
    free(r->match);
    pcre2_code_free(r->re);
    tmpl_free(&r->name);
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->label_names[i]);
        tmpl_free(&r->label_vals[i]);
    }
    free(r->label_names);
    free(r->label_vals);
    free(r->help);
    free(r->buckets);
    free(r->quantiles);
    for (size_t i = 0; i < r->nvmap; i++) {
        free(r->vmap[i].key);
    }
    free(r->vmap);
    for (size_t i = 0; i < r->nstates; i++) {
        free(r->states[i]);
    }
    free(r->states);
    free(r->info_label);
    memset(r, 0, sizeof(*r));
}

void am_rules_free(struct am_rules *rules)
{
    if (rules == NULL) {
        return;
    }
    for (size_t i = 0; i < rules->n; i++) {
        rule_free(&rules->v[i]);
    }
    free(rules->v);
    free(rules);
}

size_t am_rules_count(const struct am_rules *rules)
{
    return rules != NULL ? rules->n : 0;
}

/* Checks a glob: components split on '.', none empty, '*' anywhere in them but not twice in a
 * row, no blanks, controls or regex syntax. Returns NULL, or what is wrong (static, or in
 * why[whysz]). */
static const char *glob_check(const char *m, size_t *ncomp, uint32_t *nstars, char *why,
                              size_t whysz)
{
    size_t comps = 1, complen = 0;
    uint32_t stars = 0;

    for (const char *p = m; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '.') {
            if (complen == 0) {
                return "empty component";
            }
            comps++;
            complen = 0;
            continue;
        }
        if (ch == '*') {
            if (complen > 0 && p[-1] == '*') {
                return "'**' (one '*' already matches any text in a component)";
            }
            stars++;
        } else if (ch <= 0x20 || ch == 0x7f) {
            return "blanks and control characters are not allowed";
        } else if (strchr("()[]{}\\^$+?|", ch) != NULL) {
            snprintf(why, whysz,
                     "'%c' is regular expression syntax (for a regex, set match_type: regex)", ch);
            return why;
        }
        complen++;
    }
    if (complen == 0) {
        return "empty component";
    }
    if (comps > GLOB_MAX_COMPONENTS) {
        return "more than 128 components";
    }
    if (stars > GLOB_MAX_STARS) {
        return "more than 32 '*'";
    }
    *ncomp = comps;
    *nstars = stars;
    return NULL;
}

static int compile_match(struct pk_conf *c, yaml_node_t *n, const char *path, struct rule *r)
{
    if (!r->regex) {
        char buf[96];
        const char *why = glob_check(r->match, &r->ncomp, &r->ncaps, buf, sizeof(buf));
        if (why != NULL) {
            return pk_conf_fail(c, n, path, "bad glob: %s", why);
        }
        return 0;
    }
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    r->re = pcre2_compile((PCRE2_SPTR)r->match, r->match_len, opts, &errcode, &erroff, NULL);
    if (r->re == NULL) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0) {
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        }
        return pk_conf_fail(c, n, path, "bad regex at offset %zu: %s", (size_t)erroff,
                            (const char *)msg);
    }
    pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &r->ncaps);
    return 0;
}

enum rkey {
    RK_MATCH,
    RK_MATCH_TYPE,
    RK_MATCH_METRIC_TYPE,
    RK_NAME,
    RK_LABELS,
    RK_HELP,
    RK_ACTION,
    RK_OBSERVER_TYPE,
    RK_TIMER_TYPE,
    RK_BUCKETS,
    RK_QUANTILES,
    RK_HISTOGRAM_OPTIONS,
    RK_SUMMARY_OPTIONS,
    RK_TTL,
    RK_SCALE,
    RK_TYPE,
    RK_VALUE_MAP,
    RK_STATES,
    RK_INFO_LABEL,
    RK_SET_WINDOW,
    RK_N
};
static const char *const rule_keys[RK_N] = {
    "match",
    "match_type",
    "match_metric_type",
    "name",
    "labels",
    "help",
    "action",
    "observer_type",
    "timer_type",
    "buckets",
    "quantiles",
    "histogram_options",
    "summary_options",
    "ttl",
    "scale",
    "type",
    "value_map",
    "states",
    "info_label",
    "set_window",
};

static const char *const metric_type_words[] = {"counter", "gauge", "observer", "set",
                                                "untyped", "timer", NULL};
static const unsigned metric_type_classes[] = {1u << CLS_COUNTER,  1u << CLS_GAUGE,
                                               1u << CLS_OBSERVER, 1u << CLS_SET,
                                               1u << CLS_UNTYPED,  1u << CLS_OBSERVER};
static const char *const action_words[] = {"map", "drop", NULL};
static const char *const type_words[] = {"untyped", "gauge", "counter", "stateset", "info", NULL};
static const enum am_type type_values[] = {AM_TYPE_UNTYPED, AM_TYPE_GAUGE, AM_TYPE_COUNTER,
                                           AM_TYPE_STATESET, AM_TYPE_INFO};

static int parse_labels(struct pk_conf *c, yaml_node_t *n, const char *path, struct rule *r)
{
    struct pairs it;
    const char *key;
    yaml_node_t *kn, *vn;
    char kpath[PATH_LEN];
    size_t cnt;
    int rc;

    if (pk_conf_is_null(n)) {
        return 0;
    }
    if (get_mapping(c, n, path, "a mapping of label names to values") < 0) {
        return -1;
    }
    cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt > RULE_MAX_LABELS) {
        return pk_conf_fail(c, n, path, "more than %d labels", RULE_MAX_LABELS);
    }
    r->label_names = calloc(cnt + 1, sizeof(*r->label_names));
    r->label_vals = calloc(cnt + 1, sizeof(*r->label_vals));
    if (r->label_names == NULL || r->label_vals == NULL) {
        return pk_conf_fail(c, n, path, "out of memory");
    }
    pairs_init(&it, n);
    while ((rc = pairs_next(c, &it, n, path, &key, &kn, &vn)) > 0) {
        const char *val;

        sub_path(kpath, path, key);
        if (!am_valid_label_name(key, strlen(key))) {
            return pk_conf_fail(c, kn, kpath, "not a valid label name");
        }
        for (size_t i = 0; i < r->nlabels; i++) {
            if (strcmp(r->label_names[i], key) == 0) {
                return pk_conf_fail(c, kn, kpath, "duplicate key");
            }
        }
        if (get_str(c, vn, kpath, &val) < 0 ||
            tmpl_parse(c, vn, kpath, r, val, &r->label_vals[r->nlabels]) < 0) {
            return -1;
        }
        r->label_names[r->nlabels] = strdup(key);
        r->nlabels++;
        if (r->label_names[r->nlabels - 1] == NULL) {
            return pk_conf_fail(c, kn, kpath, "out of memory");
        }
    }
    return rc;
}

static int parse_value_map(struct pk_conf *c, yaml_node_t *n, const char *path, struct rule *r)
{
    struct pairs it;
    const char *key;
    yaml_node_t *kn, *vn;
    char kpath[PATH_LEN];
    size_t cnt;
    int rc;

    if (get_mapping(c, n, path, "a mapping of values to numbers") < 0) {
        return -1;
    }
    cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    r->vmap = calloc(cnt + 1, sizeof(*r->vmap));
    if (r->vmap == NULL) {
        return pk_conf_fail(c, n, path, "out of memory");
    }
    pairs_init(&it, n);
    while ((rc = pairs_next(c, &it, n, path, &key, &kn, &vn)) > 0) {
        struct vmap_entry *e = &r->vmap[r->nvmap];

        sub_path(kpath, path, key);
        for (size_t i = 0; i < r->nvmap; i++) {
            if (strcmp(r->vmap[i].key, key) == 0) {
                return pk_conf_fail(c, kn, kpath, "duplicate key");
            }
        }
        if (get_number(c, vn, kpath, &e->value) < 0) {
            return -1;
        }
        e->key = strdup(key);
        if (e->key == NULL) {
            return pk_conf_fail(c, kn, kpath, "out of memory");
        }
        e->key_len = strlen(key);
        e->key_is_num = read_number(key, &e->key_num) && !isnan(e->key_num);
        r->vmap_has_num |= e->key_is_num;
        r->nvmap++;
    }
    return rc;
}

static int parse_states(struct pk_conf *c, yaml_node_t *n, const char *path, struct rule *r)
{
    size_t cnt;

    if ((r->states = seq_array(c, n, path, "a list of states", sizeof(char *), &cnt)) == NULL) {
        return -1;
    }
    if (cnt == 0) {
        return pk_conf_fail(c, n, path, "expected at least one state");
    }
    for (size_t i = 0; i < cnt; i++) {
        char ipath[PATH_LEN];
        yaml_node_t *item = seq_item(c, n, i, path, ipath);
        const char *s;

        if (item == NULL || get_str(c, item, ipath, &s) < 0) {
            return -1;
        }
        for (size_t k = 0; k < r->nstates; k++) {
            if (strcmp(r->states[k], s) == 0) {
                return pk_conf_fail(c, item, ipath, "state '%s' is listed twice", s);
            }
        }
        if ((r->states[r->nstates] = strdup(s)) == NULL) {
            return pk_conf_fail(c, item, ipath, "out of memory");
        }
        r->nstates++;
    }
    return 0;
}

static int dup_str(struct pk_conf *c, yaml_node_t *n, const char *path, char **out)
{
    const char *s;

    if (get_str(c, n, path, &s) < 0) {
        return -1;
    }
    free(*out);
    if ((*out = strdup(s)) == NULL) {
        return pk_conf_fail(c, n, path, "out of memory");
    }
    return 0;
}

/* One rule map into r. default_regex: the match_type of the defaults beside the list. */
static int parse_rule(struct pk_conf *c, yaml_node_t *n, const char *path, bool default_regex,
                      struct rule *r)
{
    yaml_node_t *nodes[RK_N] = {0};
    yaml_node_t *keyn[RK_N] = {0};
    char kpath[PATH_LEN];
    struct kwalk w;
    int ch, rc;
    bool have_hb = false, have_sq = false;

    memset(r, 0, sizeof(*r));
    r->observer = -1;
    r->classes = CLS_ALL;
    r->type = AM_TYPE_UNTYPED;
    r->regex = default_regex;
    r->line = (size_t)n->start_mark.line + 1;
    if (get_mapping(c, n, path, "a mapping (match, name, labels, ...)") < 0) {
        return -1;
    }
    kwalk_init(&w, n, path, rule_keys, RK_N);
    while ((rc = kwalk_next(c, &w)) > 0) {
        nodes[w.k] = w.vn;
        keyn[w.k] = w.kn;
    }
    if (rc < 0) {
        return -1;
    }
    if (nodes[RK_MATCH] == NULL) {
        return pk_conf_fail(c, n, path, "a rule needs 'match'");
    }

/* The path of key k of this rule, for its messages. */
#define KP(k) sub_path(kpath, path, rule_keys[k])

    /* Scalars and options first: what the templates are checked against comes from them. */
    if (nodes[RK_MATCH_TYPE] != NULL) {
        if (get_choice(c, nodes[RK_MATCH_TYPE], KP(RK_MATCH_TYPE), match_type_words,
                       "glob or regex", &ch) < 0) {
            return -1;
        }
        r->regex = ch == 1;
        r->match_type_set = true;
    }
    if (dup_str(c, nodes[RK_MATCH], KP(RK_MATCH), &r->match) < 0) {
        return -1;
    }
    r->match_len = strlen(r->match);
    if (compile_match(c, nodes[RK_MATCH], KP(RK_MATCH), r) < 0) {
        return -1;
    }
    if (nodes[RK_MATCH_METRIC_TYPE] != NULL) {
        if (get_choice(c, nodes[RK_MATCH_METRIC_TYPE], KP(RK_MATCH_METRIC_TYPE), metric_type_words,
                       "counter, gauge, observer, set or untyped", &ch) < 0) {
            return -1;
        }
        r->classes = metric_type_classes[ch];
    }
    if (nodes[RK_ACTION] != NULL) {
        if (get_choice(c, nodes[RK_ACTION], KP(RK_ACTION), action_words, "map or drop", &ch) < 0) {
            return -1;
        }
        r->drop = ch == 1;
    }
    if (nodes[RK_HELP] != NULL && dup_str(c, nodes[RK_HELP], KP(RK_HELP), &r->help) < 0) {
        return -1;
    }
    for (int k = RK_OBSERVER_TYPE; k <= RK_TIMER_TYPE; k++) {
        /* observer_type over timer_type, as statsd_exporter. */
        if (nodes[k] != NULL) {
            if (get_choice(c, nodes[k], KP(k), observer_words, OBSERVER_EXPECT, &ch) < 0) {
                return -1;
            }
            if (k == RK_OBSERVER_TYPE || r->observer < 0) {
                r->observer = (int)observer_type(ch);
            }
        }
    }
    if (nodes[RK_HISTOGRAM_OPTIONS] != NULL &&
        parse_histogram_options(c, nodes[RK_HISTOGRAM_OPTIONS], KP(RK_HISTOGRAM_OPTIONS),
                                &r->buckets, &r->nbuckets, &have_hb) < 0) {
        return -1;
    }
    if (nodes[RK_SUMMARY_OPTIONS] != NULL &&
        parse_summary_options(c, nodes[RK_SUMMARY_OPTIONS], KP(RK_SUMMARY_OPTIONS), &r->quantiles,
                              &r->nquantiles, &have_sq, &r->max_age_ms, &r->age_buckets) < 0) {
        return -1;
    }
    if (nodes[RK_BUCKETS] != NULL) {
        KP(RK_BUCKETS);
        if (have_hb) {
            return pk_conf_fail(c, keyn[RK_BUCKETS], kpath,
                                "buckets are also in histogram_options: give them once");
        }
        if (parse_buckets(c, nodes[RK_BUCKETS], kpath, &r->buckets, &r->nbuckets) < 0) {
            return -1;
        }
    }
    if (nodes[RK_QUANTILES] != NULL) {
        KP(RK_QUANTILES);
        if (have_sq) {
            return pk_conf_fail(c, keyn[RK_QUANTILES], kpath,
                                "quantiles are also in summary_options: give them once");
        }
        if (parse_quantiles(c, nodes[RK_QUANTILES], kpath, &r->quantiles, &r->nquantiles) < 0) {
            return -1;
        }
    }
    if (r->observer == AM_TYPE_HISTOGRAM && nodes[RK_SUMMARY_OPTIONS] != NULL) {
        return pk_conf_fail(c, keyn[RK_SUMMARY_OPTIONS], KP(RK_SUMMARY_OPTIONS),
                            "summary_options with observer_type histogram");
    }
    if (r->observer == AM_TYPE_SUMMARY && nodes[RK_HISTOGRAM_OPTIONS] != NULL) {
        return pk_conf_fail(c, keyn[RK_HISTOGRAM_OPTIONS], KP(RK_HISTOGRAM_OPTIONS),
                            "histogram_options with observer_type summary");
    }
    if (nodes[RK_TTL] != NULL) {
        if (get_duration(c, nodes[RK_TTL], KP(RK_TTL), &r->ttl_ms) < 0) {
            return -1;
        }
        r->ttl_set = true;
    }
    if (nodes[RK_SET_WINDOW] != NULL) {
        if (get_duration(c, nodes[RK_SET_WINDOW], KP(RK_SET_WINDOW), &r->set_window_ms) < 0) {
            return -1;
        }
        if (r->set_window_ms <= 0) {
            return pk_conf_fail(c, nodes[RK_SET_WINDOW], kpath, "must be longer than 0");
        }
    }
    if (nodes[RK_SCALE] != NULL) {
        if (get_number(c, nodes[RK_SCALE], KP(RK_SCALE), &r->scale) < 0) {
            return -1;
        }
        if (!isfinite(r->scale)) {
            return pk_conf_fail(c, nodes[RK_SCALE], kpath, "must be finite");
        }
        r->scale_set = true;
    }
    if (nodes[RK_TYPE] != NULL) {
        if (get_choice(c, nodes[RK_TYPE], KP(RK_TYPE), type_words,
                       "untyped, gauge, counter, stateset or info", &ch) < 0) {
            return -1;
        }
        r->type = type_values[ch];
    }
    if (nodes[RK_VALUE_MAP] != NULL) {
        if (r->type == AM_TYPE_STATESET || r->type == AM_TYPE_INFO) {
            return pk_conf_fail(c, keyn[RK_VALUE_MAP], KP(RK_VALUE_MAP),
                                "value_map makes numbers: not with type %s", am_type_name(r->type));
        }
        if (parse_value_map(c, nodes[RK_VALUE_MAP], KP(RK_VALUE_MAP), r) < 0) {
            return -1;
        }
    }
    if (nodes[RK_STATES] != NULL) {
        KP(RK_STATES);
        if (r->type != AM_TYPE_STATESET) {
            return pk_conf_fail(c, keyn[RK_STATES], kpath, "only with type stateset");
        }
        if (parse_states(c, nodes[RK_STATES], kpath, r) < 0) {
            return -1;
        }
    }
    if (nodes[RK_INFO_LABEL] != NULL) {
        KP(RK_INFO_LABEL);
        if (r->type != AM_TYPE_INFO) {
            return pk_conf_fail(c, keyn[RK_INFO_LABEL], kpath, "only with type info");
        }
        if (dup_str(c, nodes[RK_INFO_LABEL], kpath, &r->info_label) < 0) {
            return -1;
        }
        if (!am_valid_label_name(r->info_label, strlen(r->info_label))) {
            return pk_conf_fail(c, nodes[RK_INFO_LABEL], kpath, "not a valid label name");
        }
    }
    /* The templates, against the match's captures. */
    if (nodes[RK_NAME] != NULL) {
        const char *s;
        if (get_str(c, nodes[RK_NAME], KP(RK_NAME), &s) < 0 ||
            tmpl_parse(c, nodes[RK_NAME], kpath, r, s, &r->name) < 0) {
            return -1;
        }
        if (!tmpl_name_ok(&r->name)) {
            return pk_conf_fail(c, nodes[RK_NAME], kpath,
                                "'%s' is not a valid metric name (letters, digits, '_' and ':' "
                                "around the captures, not a digit first)",
                                s);
        }
    } else if (!r->drop) {
        return pk_conf_fail(c, n, path, "a rule needs 'name' (unless its action is drop)");
    }
    if (nodes[RK_LABELS] != NULL && parse_labels(c, nodes[RK_LABELS], KP(RK_LABELS), r) < 0) {
        return -1;
    }
#undef KP
    return 0;
}

/* Whether the defaults that go with the rules list at node say match_type: regex. They are
 * the "defaults" key beside the list (a statsd_exporter file, the config's top level), else
 * the document's top-level "defaults" (a source's own list). */
static bool defaults_say_regex(struct pk_conf *c, yaml_node_t *node)
{
    yaml_document_t *doc = c->doc;
    yaml_node_t *defaults = NULL;
    int idx;

    if (doc == NULL) {
        return false;
    }
    idx = (int)(node - doc->nodes.start) + 1;
    for (yaml_node_t *m = doc->nodes.start; m < doc->nodes.top && defaults == NULL; m++) {
        yaml_node_t *d = NULL;
        bool parent = false;

        if (m->type != YAML_MAPPING_NODE) {
            continue;
        }
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            parent |= p->value == idx;
            if (k != NULL && k->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k->data.scalar.value, "defaults") == 0) {
                d = yaml_document_get_node(doc, p->value);
            }
        }
        if (parent) {
            defaults = d;
            break;
        }
    }
    if (defaults == NULL) {
        yaml_node_t *root = yaml_document_get_root_node(doc);
        for (yaml_node_pair_t *p = root != NULL && root->type == YAML_MAPPING_NODE
                                       ? root->data.mapping.pairs.start
                                       : NULL;
             p != NULL && p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k != NULL && k->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k->data.scalar.value, "defaults") == 0) {
                defaults = yaml_document_get_node(doc, p->value);
            }
        }
    }
    if (defaults == NULL || defaults->type != YAML_MAPPING_NODE) {
        return false;
    }
    for (yaml_node_pair_t *p = defaults->data.mapping.pairs.start;
         p < defaults->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k != NULL && v != NULL && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, "match_type") == 0) {
            return strcmp((const char *)v->data.scalar.value, "regex") == 0;
        }
    }
    return false;
}

static int rules_from_text(struct pk_conf *c, void *dst, const char *text, bool append)
{
    (void)dst;
    (void)text;
    (void)append;
    return pk_conf_fail(c, NULL, NULL, "mappings: only in the config file");
}

static int rules_from_yaml(struct pk_conf *c, void *dst, yaml_node_t *node, const char *path)
{
    struct am_rules **out = dst;
    struct am_rules *rules;
    size_t cnt;
    bool def_regex;

    if (pk_conf_is_null(node)) {
        am_rules_free(*out);
        *out = NULL;
        return 0;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        return pk_conf_fail(c, node, path, "expected a list of rules, got %s",
                            pk_conf_node_kind(node));
    }
    cnt = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    rules = calloc(1, sizeof(*rules));
    if (rules == NULL || (rules->v = calloc(cnt + 1, sizeof(*rules->v))) == NULL) {
        free(rules);
        return pk_conf_fail(c, node, path, "out of memory");
    }
    def_regex = defaults_say_regex(c, node);
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *item = pk_conf_node(c, node->data.sequence.items.start[i]);
        char ipath[PATH_LEN];
        int rc;

        item_path(ipath, path, i);
        rc = item != NULL ? parse_rule(c, item, ipath, def_regex, &rules->v[i])
                          : pk_conf_fail(c, node, ipath, "broken list");
        rules->n = i + 1; /* a half-parsed rule is freed with the others */
        if (rc < 0) {
            am_rules_free(rules);
            return -1;
        }
    }
    am_rules_free(*out);
    *out = NULL;
    if (cnt == 0) {
        am_rules_free(rules);
        return 0;
    }
    *out = rules;
    return 0;
}

static void rules_clear_cb(void *dst)
{
    struct am_rules **r = dst;

    am_rules_free(*r);
    *r = NULL;
}

const struct pk_conf_custom am_rules_conf = {rules_from_text, rules_from_yaml, rules_clear_cb};

/* The two keys of a statsd_exporter mapping file. */
struct mapping_file {
    struct am_defaults defaults;
    struct am_rules *rules;
};

static const struct pk_conf_key mapping_file_keys[] = {
    {.name = "defaults",
     .type = PK_CONF_CUSTOM,
     .offset = offsetof(struct mapping_file, defaults),
     .custom = &am_defaults_conf,
     .flags = PK_CONF_FILE_ONLY,
     .help = "defaults for every rule"},
    {.name = "mappings",
     .type = PK_CONF_CUSTOM,
     .offset = offsetof(struct mapping_file, rules),
     .custom = &am_rules_conf,
     .flags = PK_CONF_FILE_ONLY,
     .help = "the rules"},
    {.name = NULL},
};

int am_rules_load_file(const char *path, struct am_defaults *defaults, struct am_rules **rules,
                       char *err, size_t errsz)
{
    struct pk_conf c;
    struct mapping_file f;
    int rc = -1;

    am_defaults_clear(defaults);
    *rules = NULL;
    am_defaults_init(&f.defaults);
    f.rules = NULL;
    pk_conf_init(&c);
    if (pk_conf_add(&c, mapping_file_keys, &f) < 0 || pk_conf_load_file(&c, path) < 0) {
        snprintf(err, errsz, "%s", c.err);
        goto out;
    }
    *defaults = f.defaults;
    *rules = f.rules;
    am_defaults_init(&f.defaults); /* moved out: the release below frees nothing of them */
    f.rules = NULL;
    rc = 0;
out:
    pk_conf_release(&c);
    return rc;
}

/* ---- the glob trie ------------------------------------------------------------------- */

/*
 * One trie per component count (a name matches only globs with as many components). A node
 * is a prefix of components; its literal edges are in one hash table keyed by (node,
 * component), its pattern edges (components with '*') in a list. Every node knows, per
 * class, the smallest rule index below it, so a search for the first rule in file order
 * prunes every subtree that cannot beat what it already found.
 */
struct gnode {
    uint32_t min[NCLS];
    uint32_t pat; /* first pattern edge, or NONE */
    uint32_t nlit;
};

struct gedge {
    uint64_t h; /* literal edges: hash of (parent, text) */
    const char *s;
    uint32_t len;
    uint32_t parent, child;
    uint32_t next; /* next pattern edge of the parent, or NONE */
    uint32_t nstars;
};

struct glob_trie {
    struct gnode *nodes;
    size_t nnodes, cap_nodes;
    struct gedge *edges;
    size_t nedges, cap_edges;
    uint32_t *lit;   /* edge index + 1; 0: empty */
    size_t lit_mask; /* table size - 1 */
    size_t nlit;
    uint32_t roots[GLOB_MAX_COMPONENTS + 1]; /* by component count; NONE: no glob */
};

static uint32_t trie_node(struct glob_trie *g)
{
    if (g->nnodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        struct gnode *n = realloc(g->nodes, cap * sizeof(*n));
        if (n == NULL) {
            return NONE;
        }
        g->nodes = n;
        g->cap_nodes = cap;
    }
    struct gnode *n = &g->nodes[g->nnodes];
    for (int i = 0; i < NCLS; i++) {
        n->min[i] = NONE;
    }
    n->pat = NONE;
    n->nlit = 0;
    return (uint32_t)g->nnodes++;
}

static uint64_t lit_hash(uint32_t parent, const char *s, size_t len)
{
    return hash_bytes(s, len, 0x51afd7ed558ccd00ull ^ parent);
}

/* The literal edge from parent with text s, or NONE. */
static uint32_t lit_find(const struct glob_trie *g, uint32_t parent, const char *s, size_t len)
{
    uint64_t h;

    if (g->nlit == 0) {
        return NONE;
    }
    h = lit_hash(parent, s, len);
    for (size_t i = h & g->lit_mask;; i = (i + 1) & g->lit_mask) {
        uint32_t e = g->lit[i];
        if (e == 0) {
            return NONE;
        }
        const struct gedge *ed = &g->edges[e - 1];
        if (ed->h == h && ed->parent == parent && ed->len == len && memcmp(ed->s, s, len) == 0) {
            return e - 1;
        }
    }
}

static int lit_insert(struct glob_trie *g, uint32_t e)
{
    if ((g->nlit + 1) * 2 > g->lit_mask + 1 || g->lit == NULL) {
        size_t size = g->lit == NULL ? 64 : (g->lit_mask + 1) * 2;
        uint32_t *t = calloc(size, sizeof(*t));
        if (t == NULL) {
            return -1;
        }
        for (size_t i = 0; g->lit != NULL && i <= g->lit_mask; i++) {
            if (g->lit[i] != 0) {
                size_t k = g->edges[g->lit[i] - 1].h & (size - 1);
                while (t[k] != 0) {
                    k = (k + 1) & (size - 1);
                }
                t[k] = g->lit[i];
            }
        }
        free(g->lit);
        g->lit = t;
        g->lit_mask = size - 1;
    }
    size_t k = g->edges[e].h & g->lit_mask;
    while (g->lit[k] != 0) {
        k = (k + 1) & g->lit_mask;
    }
    g->lit[k] = e + 1;
    g->nlit++;
    return 0;
}

/* The child of parent along component s, made when missing. */
static uint32_t trie_child(struct glob_trie *g, uint32_t parent, const char *s, size_t len)
{
    uint32_t nstars = 0, e, child;

    for (size_t i = 0; i < len; i++) {
        nstars += s[i] == '*';
    }
    if (nstars == 0) {
        e = lit_find(g, parent, s, len);
    } else {
        for (e = g->nodes[parent].pat; e != NONE; e = g->edges[e].next) {
            if (g->edges[e].len == len && memcmp(g->edges[e].s, s, len) == 0) {
                break;
            }
        }
    }
    if (e != NONE) {
        return g->edges[e].child;
    }
    if ((child = trie_node(g)) == NONE) {
        return NONE;
    }
    if (g->nedges == g->cap_edges) {
        size_t cap = g->cap_edges ? g->cap_edges * 2 : 64;
        struct gedge *ne = realloc(g->edges, cap * sizeof(*ne));
        if (ne == NULL) {
            return NONE;
        }
        g->edges = ne;
        g->cap_edges = cap;
    }
    e = (uint32_t)g->nedges++;
    g->edges[e] = (struct gedge){.s = s,
                                 .len = (uint32_t)len,
                                 .parent = parent,
                                 .child = child,
                                 .next = NONE,
                                 .nstars = nstars};
    if (nstars == 0) {
        g->edges[e].h = lit_hash(parent, s, len);
        g->nodes[parent].nlit++;
        if (lit_insert(g, e) < 0) {
            return NONE;
        }
    } else {
        /* Appended, so that pattern edges are tried in the order rules made them. */
        uint32_t *link = &g->nodes[parent].pat;
        while (*link != NONE) {
            link = &g->edges[*link].next;
        }
        *link = e;
    }
    return child;
}

/* Adds glob rule index idx (classes: its match_metric_type). */
static int trie_add(struct glob_trie *g, const struct rule *r, uint32_t idx)
{
    uint32_t path[GLOB_MAX_COMPONENTS + 1];
    const char *s = r->match;
    size_t depth = 0;

    if (g->roots[r->ncomp] == NONE && (g->roots[r->ncomp] = trie_node(g)) == NONE) {
        return -1;
    }
    path[0] = g->roots[r->ncomp];
    while (depth < r->ncomp) {
        const char *dot = strchr(s, '.');
        size_t len = dot != NULL ? (size_t)(dot - s) : strlen(s);
        uint32_t child = trie_child(g, path[depth], s, len);
        if (child == NONE) {
            return -1;
        }
        path[++depth] = child;
        s += len + 1;
    }
    for (size_t d = 0; d <= depth; d++) {
        struct gnode *n = &g->nodes[path[d]];
        for (int k = 0; k < NCLS; k++) {
            if ((r->classes & (1u << k)) && n->min[k] == NONE) {
                n->min[k] = idx; /* rules come in order: the first one is the smallest */
            }
        }
    }
    return 0;
}

static void trie_free(struct glob_trie *g)
{
    free(g->nodes);
    free(g->edges);
    free(g->lit);
}

struct span {
    uint32_t off, len;
};

/*
 * Matches one component t[0..n) (at offset base in the name) against a pattern with stars,
 * capturing as the regex ^p$ with each '*' as ([^.]*) would in Go or PCRE: the first star as
 * long as possible, then the next. That is each literal segment at its latest place, found
 * from the right. caps gets one span per star.
 */
static bool comp_match(const char *p, size_t pl, const char *t, size_t n, uint32_t base,
                       struct span *caps)
{
    size_t seg_off[GLOB_MAX_STARS + 1], seg_len[GLOB_MAX_STARS + 1], pos[GLOB_MAX_STARS + 1];
    size_t k = 0, start = 0;

    for (size_t i = 0; i <= pl; i++) {
        if (i == pl || p[i] == '*') {
            seg_off[k] = start;
            seg_len[k] = i - start;
            start = i + 1;
            if (i < pl) {
                k++;
            }
        }
    }
    /* k stars, k + 1 segments; the first is a prefix, the last a suffix. */
    if (n < seg_len[0] + seg_len[k] || memcmp(t, p + seg_off[0], seg_len[0]) != 0 ||
        memcmp(t + n - seg_len[k], p + seg_off[k], seg_len[k]) != 0) {
        return false;
    }
    size_t limit = n - seg_len[k], lo = seg_len[0];
    pos[k] = limit;
    for (size_t j = k - 1; j >= 1; j--) {
        size_t q, l = seg_len[j];
        bool found = false;
        if (limit < lo + l) {
            return false;
        }
        for (q = limit - l;; q--) {
            if (memcmp(t + q, p + seg_off[j], l) == 0) {
                found = true;
                break;
            }
            if (q == lo) {
                break;
            }
        }
        if (!found) {
            return false;
        }
        pos[j] = q;
        limit = q;
    }
    for (size_t j = 1; j <= k; j++) {
        size_t from = j == 1 ? seg_len[0] : pos[j - 1] + seg_len[j - 1];
        caps[j - 1] = (struct span){base + (uint32_t)from, (uint32_t)(pos[j] - from)};
    }
    return true;
}

struct gsearch {
    const struct glob_trie *g;
    const char *name;
    const uint32_t *cstart; /* component i is name[cstart[i] .. cstart[i+1]-1) */
    size_t ncomp;
    unsigned cls;
    uint32_t best;
    struct span caps[GLOB_MAX_STARS];
    struct span best_caps[GLOB_MAX_STARS];
    size_t nbest;
};

static void gsearch_at(struct gsearch *s, uint32_t node, size_t depth, size_t ncaps)
{
    const struct gnode *n = &s->g->nodes[node];
    const char *comp;
    size_t len;
    uint32_t e;

    if (n->min[s->cls] >= s->best) {
        return;
    }
    if (depth == s->ncomp) {
        s->best = n->min[s->cls];
        memcpy(s->best_caps, s->caps, ncaps * sizeof(s->caps[0]));
        s->nbest = ncaps;
        return;
    }
    comp = s->name + s->cstart[depth];
    len = s->cstart[depth + 1] - 1 - s->cstart[depth];
    if (n->nlit > 0 && (e = lit_find(s->g, node, comp, len)) != NONE) {
        gsearch_at(s, s->g->edges[e].child, depth + 1, ncaps);
    }
    for (e = n->pat; e != NONE; e = s->g->edges[e].next) {
        const struct gedge *ed = &s->g->edges[e];
        if (s->g->nodes[ed->child].min[s->cls] >= s->best) {
            continue;
        }
        if (ed->len == 1) {
            s->caps[ncaps] = (struct span){s->cstart[depth], (uint32_t)len}; /* a lone '*' */
        } else if (!comp_match(ed->s, ed->len, comp, len, s->cstart[depth], s->caps + ncaps)) {
            continue;
        }
        gsearch_at(s, ed->child, depth + 1, ncaps + ed->nstars);
    }
}

/* The first glob rule (index) for name in class cls with its captures, or NONE. */
static uint32_t trie_match(const struct glob_trie *g, const char *name, size_t len, unsigned cls,
                           struct span *caps, size_t *ncaps)
{
    uint32_t cstart[GLOB_MAX_COMPONENTS + 1];
    size_t ncomp = 1;
    struct gsearch s;

    cstart[0] = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (ncomp == GLOB_MAX_COMPONENTS) {
                return NONE;
            }
            cstart[ncomp++] = (uint32_t)i + 1;
        }
    }
    cstart[ncomp] = (uint32_t)len + 1;
    if (g->roots[ncomp] == NONE) {
        return NONE;
    }
    s.g = g;
    s.name = name;
    s.cstart = cstart;
    s.ncomp = ncomp;
    s.cls = cls;
    s.best = NONE;
    s.nbest = 0;
    gsearch_at(&s, g->roots[ncomp], 0, 0);
    if (s.best != NONE) {
        memcpy(caps, s.best_caps, s.nbest * sizeof(caps[0]));
        *ncaps = s.nbest;
    }
    return s.best;
}

/* ---- the map ------------------------------------------------------------------------- */

enum result { RES_MAPPED, RES_UNMAPPED, RES_DROP };

/* What a (name, kind) resolved to: one allocation, the strings after the labels. */
struct centry {
    uint64_t hash;
    const char *key; /* the source name */
    uint32_t key_len;
    uint8_t kind;
    uint8_t result;
    const struct rule *rule; /* NULL: unmapped */
    const char *name;        /* the family name (NUL-terminated) */
    size_t name_len;
    struct am_family_spec spec; /* help: the rule's, or generated (sample help goes first) */
    bool own_help;              /* spec.help is the rule's */
    size_t nlabels;
    struct am_label labels[]; /* the rule's, expanded */
};

struct cset {
    uint64_t tag[CACHE_WAYS];
    struct centry *e[CACHE_WAYS];
    uint32_t victim;
};

struct cregex {
    pcre2_code *code;
    uint32_t rule;
};

struct am_map {
    const struct rule **rules; /* own, then global */
    size_t nrules;
    struct glob_trie trie;
    bool have_globs;
    struct cregex *re;
    size_t nre;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct am_defaults d; /* a copy */
    char *prefix;
    size_t prefix_len;
    struct am_label *clabels; /* constant labels, names sanitized; strings owned */
    size_t nclabels;
    uint16_t source;
    struct cset *sets;
    size_t set_mask;
    uint64_t seed;
    struct span *caps; /* a lookup's captures: [0] the whole match, then $1... */
    struct am_map_stats stats;
};

static void centry_free(struct centry *e)
{
    free(e);
}

void am_map_destroy(struct am_map *m)
{
    if (m == NULL) {
        return;
    }
    free(m->rules);
    trie_free(&m->trie);
    for (size_t i = 0; i < m->nre; i++) {
        pcre2_code_free(m->re[i].code);
    }
    free(m->re);
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    am_defaults_clear(&m->d);
    free(m->prefix);
    for (size_t i = 0; i < m->nclabels; i++) {
        free((char *)m->clabels[i].name);
        free((char *)m->clabels[i].value);
    }
    free(m->clabels);
    for (size_t i = 0; m->sets != NULL && i <= m->set_mask; i++) {
        for (int w = 0; w < CACHE_WAYS; w++) {
            centry_free(m->sets[i].e[w]);
        }
    }
    free(m->sets);
    free(m->caps);
    free(m);
}

/* The sanitized form of s: bytes outside [A-Za-z0-9_] become '_'. */
static void sanitize(char *dst, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        dst[i] = is_word((unsigned char)s[i]) ? s[i] : '_';
    }
}

static bool needs_sanitize(const char *s, size_t len)
{
    if (len == 0 || is_digit((unsigned char)s[0])) {
        return len > 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_word((unsigned char)s[i])) {
            return true;
        }
    }
    return false;
}

static void *fmt_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err; returns NULL, for the constructor's failures. */
static void *fmt_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return NULL;
}

static int copy_defaults(struct am_defaults *dst, const struct am_defaults *src)
{
    *dst = *src;
    dst->buckets = NULL;
    dst->quantiles = NULL;
    if (src->nbuckets > 0) {
        if ((dst->buckets = malloc(src->nbuckets * sizeof(double))) == NULL) {
            return -1;
        }
        memcpy(dst->buckets, src->buckets, src->nbuckets * sizeof(double));
    }
    if (src->nquantiles > 0) {
        if ((dst->quantiles = malloc(src->nquantiles * sizeof(struct am_quantile))) == NULL) {
            return -1;
        }
        memcpy(dst->quantiles, src->quantiles, src->nquantiles * sizeof(struct am_quantile));
    }
    return 0;
}

struct am_map *am_map_create(const struct am_map_conf *mc, char *err, size_t errsz)
{
    struct am_map *m = calloc(1, sizeof(*m));
    size_t nown = am_rules_count(mc->own), nglob = am_rules_count(mc->global);
    size_t cache = mc->cache_size != 0 ? mc->cache_size : 8192, sets = 1;
    uint32_t max_groups = 0;

    if (m == NULL) {
        return fmt_err(err, errsz, "out of memory");
    }
    for (size_t i = 0; i <= GLOB_MAX_COMPONENTS; i++) {
        m->trie.roots[i] = NONE;
    }
    m->source = mc->source;
    m->seed = (uint64_t)(uintptr_t)m * 0x9e3779b97f4a7c15ull;
    if (copy_defaults(&m->d, mc->defaults) < 0) {
        goto oom;
    }
    m->rules = calloc(nown + nglob + 1, sizeof(*m->rules));
    m->re = calloc(nown + nglob + 1, sizeof(*m->re));
    if (m->rules == NULL || m->re == NULL) {
        goto oom;
    }
    for (size_t i = 0; i < nown + nglob; i++) {
        m->rules[m->nrules++] = i < nown ? &mc->own->v[i] : &mc->global->v[i - nown];
    }
    for (size_t i = 0; i < m->nrules; i++) {
        const struct rule *r = m->rules[i];
        if (!r->match_type_set && r->regex != m->d.match_regex) {
            fmt_err(err, errsz,
                    "rule at line %zu: was read as a %s, but defaults.match_type is %s; set "
                    "match_type on the rule",
                    r->line, r->regex ? "regex" : "glob", r->regex ? "glob" : "regex");
            am_map_destroy(m);
            return NULL;
        }
        if (!r->regex) {
            if (trie_add(&m->trie, r, (uint32_t)i) < 0) {
                goto oom;
            }
            m->have_globs = true;
            continue;
        }
        struct cregex *cr = &m->re[m->nre];
        if ((cr->code = pcre2_code_copy(r->re)) == NULL) {
            goto oom;
        }
        cr->rule = (uint32_t)i;
        m->nre++;
        /* Without JIT support this fails and pcre2_match interprets: slower, same result. */
        (void)pcre2_jit_compile(cr->code, PCRE2_JIT_COMPLETE);
        if (r->ncaps > max_groups) {
            max_groups = r->ncaps;
        }
    }
    if ((m->caps = calloc((max_groups > GLOB_MAX_STARS ? max_groups : GLOB_MAX_STARS) + 1,
                          sizeof(*m->caps))) == NULL) {
        goto oom;
    }
    if (m->nre > 0) {
        m->md = pcre2_match_data_create(max_groups + 1, NULL);
        m->mctx = pcre2_match_context_create(NULL);
        if (m->md == NULL || m->mctx == NULL) {
            goto oom;
        }
        pcre2_set_match_limit(m->mctx, REGEX_MATCH_LIMIT);
        pcre2_set_depth_limit(m->mctx, REGEX_MATCH_LIMIT / 10);
    }
    if (mc->prefix != NULL && mc->prefix[0] != '\0') {
        if ((m->prefix = strdup(mc->prefix)) == NULL) {
            goto oom;
        }
        m->prefix_len = strlen(m->prefix);
    }
    if (mc->nlabels > 0) {
        if ((m->clabels = calloc(mc->nlabels, sizeof(*m->clabels))) == NULL) {
            goto oom;
        }
        for (size_t i = 0; i < mc->nlabels; i++) {
            const struct am_label *l = &mc->labels[i];
            char *name = malloc(l->name_len + 2), *val = malloc(l->value_len + 1);
            size_t nl = l->name_len;
            m->clabels[m->nclabels++] = (struct am_label){name, 0, val, l->value_len};
            if (name == NULL || val == NULL) {
                goto oom;
            }
            if (nl > 0 && is_digit((unsigned char)l->name[0])) {
                name[0] = '_';
                sanitize(name + 1, l->name, nl++);
            } else {
                sanitize(name, l->name, nl);
            }
            name[nl] = '\0';
            m->clabels[i].name_len = nl;
            memcpy(val, l->value, l->value_len);
            val[l->value_len] = '\0';
        }
    }
    while (sets * CACHE_WAYS < cache) {
        sets *= 2;
    }
    if ((m->sets = calloc(sets, sizeof(*m->sets))) == NULL) {
        goto oom;
    }
    m->set_mask = sets - 1;
    return m;
oom:
    am_map_destroy(m);
    return fmt_err(err, errsz, "out of memory");
}

const struct am_map_stats *am_map_stats(const struct am_map *m)
{
    return &m->stats;
}

/* The first rule for name in class cls: globs, then regexes. NONE when none. */
static uint32_t find_rule(struct am_map *m, const char *name, size_t len, unsigned cls,
                          struct span *caps, size_t *ncaps)
{
    uint32_t idx = NONE;

    *ncaps = 0;
    if (m->have_globs) {
        idx = trie_match(&m->trie, name, len, cls, caps + 1, ncaps);
        if (idx != NONE) {
            caps[0] = (struct span){0, (uint32_t)len}; /* $0: the whole name */
            return idx;
        }
    }
    for (size_t i = 0; i < m->nre; i++) {
        const struct rule *r = m->rules[m->re[i].rule];
        int rc;

        if (!(r->classes & (1u << cls))) {
            continue;
        }
        rc = pcre2_match(m->re[i].code, (PCRE2_SPTR)name, len, 0, 0, m->md, m->mctx);
        if (rc < 0) {
            continue; /* no match, or a match limit: the next rule */
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        for (uint32_t g = 0; g <= r->ncaps; g++) {
            if (ov[2 * g] == PCRE2_UNSET || (int)g >= rc) {
                caps[g] = (struct span){0, 0};
            } else {
                caps[g] = (struct span){(uint32_t)ov[2 * g], (uint32_t)(ov[2 * g + 1] - ov[2 * g])};
            }
        }
        *ncaps = r->ncaps;
        return m->re[i].rule;
    }
    return NONE;
}

static size_t tmpl_len(const struct tmpl *t, const struct span *caps)
{
    size_t n = 0;

    for (size_t i = 0; i < t->nparts; i++) {
        n += t->parts[i].cap < 0 ? t->parts[i].len : caps[t->parts[i].cap].len;
    }
    return n;
}

/* Writes t expanded at out; captured text sanitized when asked. Returns the end. */
static char *tmpl_put(const struct tmpl *t, const char *name, const struct span *caps, char *out,
                      bool sanitize_caps)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tpart *p = &t->parts[i];
        if (p->cap < 0) {
            memcpy(out, t->text + p->off, p->len);
            out += p->len;
        } else if (sanitize_caps) {
            sanitize(out, name + caps[p->cap].off, caps[p->cap].len);
            out += caps[p->cap].len;
        } else {
            memcpy(out, name + caps[p->cap].off, caps[p->cap].len);
            out += caps[p->cap].len;
        }
    }
    return out;
}

static const char *kind_word(enum am_kind k)
{
    static const char *const words[] = {"Value",     "Gauge",        "Counter", "Timer",
                                        "Histogram", "Distribution", "Set"};
    return (unsigned)k < sizeof(words) / sizeof(words[0]) ? words[k] : "Value";
}

/* The family type a sample of kind k becomes under rule r (NULL: unmapped). */
static enum am_type family_type(const struct am_map *m, const struct rule *r, enum am_kind k)
{
    switch (k) {
    case AM_KIND_COUNTER:
        return AM_TYPE_COUNTER;
    case AM_KIND_GAUGE:
    case AM_KIND_SET:
        return AM_TYPE_GAUGE;
    case AM_KIND_TIMER:
    case AM_KIND_HISTOGRAM:
    case AM_KIND_DISTRIBUTION:
        return r != NULL && r->observer >= 0 ? (enum am_type)r->observer : m->d.observer_type;
    case AM_KIND_UNTYPED:
        break;
    }
    return r != NULL ? r->type : AM_TYPE_UNTYPED;
}

/* The generated help of a family that neither its rule nor its source describes. Written once,
 * when the family is made, so it names the rule's match or the first source name. */
static size_t default_help(char *buf, size_t bufsz, const struct rule *r, const struct am_sample *s)
{
    int n;

    if (r != NULL) {
        n = snprintf(buf, bufsz, "%s matching %.*s%s, mapped by adapter-metrics.",
                     kind_word(s->kind), DEFAULT_HELP_MAX, r->match,
                     r->match_len > DEFAULT_HELP_MAX ? "..." : "");
    } else {
        n = snprintf(buf, bufsz, "%s %.*s%s, adapted by adapter-metrics.", kind_word(s->kind),
                     (int)(s->name_len < DEFAULT_HELP_MAX ? s->name_len : DEFAULT_HELP_MAX),
                     s->name, s->name_len > DEFAULT_HELP_MAX ? "..." : "");
    }
    return n > 0 ? ((size_t)n < bufsz ? (size_t)n : bufsz - 1) : 0;
}

/* Builds the cache entry for s: the rule, the family name, the rule's labels expanded, and
 * the family spec. NULL when out of memory. */
static struct centry *resolve(struct am_map *m, const struct am_sample *s, uint64_t h)
{
    struct span *caps = m->caps;
    size_t ncaps = 0, nlabels = 0, chars = s->name_len + 1, help_len = 0;
    uint32_t idx = NONE;
    const struct rule *r;
    struct centry *e;
    char help[DEFAULT_HELP_MAX * 2 + 64];
    char *p, *name, *end;
    enum am_type type;

    if (s->name_len < UINT32_MAX / 2) {
        idx = find_rule(m, s->name, s->name_len, class_of(s->kind), caps, &ncaps);
    }
    r = idx != NONE ? m->rules[idx] : NULL;
    type = family_type(m, r, s->kind);
    if (r == NULL || !r->drop) {
        if (r != NULL) {
            nlabels = r->nlabels;
            chars += tmpl_len(&r->name, caps);
            for (size_t i = 0; i < nlabels; i++) {
                chars += tmpl_len(&r->label_vals[i], caps) + 1;
            }
        } else {
            chars += m->prefix_len + s->name_len;
        }
        chars += 2; /* a '_' before a leading digit, the NUL */
        if (r == NULL || r->help == NULL) {
            help_len = default_help(help, sizeof(help), r, s) + 1;
            chars += help_len;
        }
    }
    e = calloc(1, sizeof(*e) + nlabels * sizeof(e->labels[0]) + chars);
    if (e == NULL) {
        return NULL;
    }
    p = (char *)(e->labels + nlabels);
    memcpy(p, s->name, s->name_len);
    e->key = p;
    e->hash = h;
    e->key_len = (uint32_t)s->name_len;
    e->kind = (uint8_t)s->kind;
    e->rule = r;
    p += s->name_len + 1;
    if (r != NULL && r->drop) {
        e->result = RES_DROP;
        return e;
    }
    /* The name: captures sanitized as the default name is; one '_' room before it. */
    name = p + 1;
    if (r != NULL) {
        end = tmpl_put(&r->name, s->name, caps, name, true);
        e->result = RES_MAPPED;
    } else {
        if (m->prefix_len > 0) {
            memcpy(name, m->prefix, m->prefix_len);
        }
        sanitize(name + m->prefix_len, s->name, s->name_len);
        end = name + m->prefix_len + s->name_len;
        e->result = RES_UNMAPPED;
    }
    if (end > name && is_digit((unsigned char)name[0])) {
        *--name = '_';
    }
    e->name = name;
    e->name_len = (size_t)(end - name);
    /* A plain number named "..._total" that no rule types is a running total: promtool,
     * Prometheus and every reader take it for a counter, and as untyped the store would
     * refuse the suffix. */
    if (type == AM_TYPE_UNTYPED && s->kind == AM_KIND_UNTYPED && s->set_member == NULL &&
        e->name_len > 6 && memcmp(end - 6, "_total", 6) == 0) {
        type = AM_TYPE_COUNTER;
    }
    if (type == AM_TYPE_COUNTER && e->name_len >= 6 && memcmp(end - 6, "_total", 6) == 0) {
        e->name_len -= 6;
    } else if (type == AM_TYPE_INFO && e->name_len >= 5 && memcmp(end - 5, "_info", 5) == 0) {
        e->name_len -= 5;
    }
    name[e->name_len] = '\0';
    p = end + 1;
    for (size_t i = 0; i < nlabels; i++) {
        char *v = p;
        p = tmpl_put(&r->label_vals[i], s->name, caps, p, false);
        e->labels[i] =
            (struct am_label){r->label_names[i], strlen(r->label_names[i]), v, (size_t)(p - v)};
        *p++ = '\0';
    }
    e->nlabels = nlabels;
    e->spec.type = type;
    if (r != NULL && r->help != NULL) {
        e->spec.help = r->help;
        e->own_help = true;
    } else {
        memcpy(p, help, help_len);
        e->spec.help = p;
    }
    bool rb = r != NULL && r->buckets != NULL, rq = r != NULL && r->quantiles != NULL;
    e->spec.buckets = rb ? r->buckets : m->d.buckets;
    e->spec.nbuckets = rb ? r->nbuckets : m->d.nbuckets;
    e->spec.quantiles = rq ? r->quantiles : m->d.quantiles;
    e->spec.nquantiles = rq ? r->nquantiles : m->d.nquantiles;
    e->spec.max_age_ms = r != NULL && r->max_age_ms > 0 ? r->max_age_ms : m->d.max_age_ms;
    e->spec.age_buckets = r != NULL && r->age_buckets > 0 ? r->age_buckets : m->d.age_buckets;
    e->spec.ttl_ms = r != NULL && r->ttl_set ? r->ttl_ms : m->d.ttl_ms;
    e->spec.set_window_ms =
        r != NULL && r->set_window_ms > 0 ? r->set_window_ms : m->d.set_window_ms;
    e->spec.states = r != NULL ? (const char *const *)r->states : NULL;
    e->spec.nstates = r != NULL ? r->nstates : 0;
    e->spec.info_label = r != NULL && r->info_label != NULL ? r->info_label : "version";
    return e;
}

/* The cached entry for s, resolved and cached on a miss (evicting round-robin within the
 * set). NULL when out of memory. */
static struct centry *lookup(struct am_map *m, const struct am_sample *s)
{
    uint64_t h = hash_bytes(s->name, s->name_len, m->seed ^ ((uint64_t)s->kind << 56));
    struct cset *set = &m->sets[h & m->set_mask];
    struct centry *e;
    int w;

    for (w = 0; w < CACHE_WAYS; w++) {
        e = set->e[w];
        if (set->tag[w] == h && e != NULL && e->key_len == s->name_len && e->kind == s->kind &&
            memcmp(e->key, s->name, s->name_len) == 0) {
            return e;
        }
    }
    if ((e = resolve(m, s, h)) == NULL) {
        return NULL;
    }
    for (w = 0; w < CACHE_WAYS && set->e[w] != NULL; w++) {
    }
    if (w == CACHE_WAYS) {
        w = (int)(set->victim++ % CACHE_WAYS);
        centry_free(set->e[w]);
    }
    set->e[w] = e;
    set->tag[w] = h;
    return e;
}

static bool has_label(const struct am_label *v, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].name_len == len && memcmp(v[i].name, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static const struct vmap_entry *vmap_str(const struct rule *r, const char *s, size_t len)
{
    for (size_t i = 0; r != NULL && i < r->nvmap; i++) {
        if (r->vmap[i].key_len == len && memcmp(r->vmap[i].key, s, len) == 0) {
            return &r->vmap[i];
        }
    }
    return NULL;
}

static const struct vmap_entry *vmap_num(const struct rule *r, double v)
{
    for (size_t i = 0; i < r->nvmap; i++) {
        if (r->vmap[i].key_is_num && r->vmap[i].key_num == v) {
            return &r->vmap[i];
        }
    }
    return NULL;
}

/* Fills u's op, value, weight and string from s as e's family takes it; *why on refusal. */
static int sample_op(const struct centry *e, const struct am_sample *s, struct am_update *u,
                     const char **why)
{
    const struct rule *r = e->rule;
    const struct vmap_entry *ve;
    bool numeric = true;

    u->value = s->value;
    u->weight = 1;
    switch (s->kind) {
    case AM_KIND_COUNTER:
        u->op = s->counter_absolute ? AM_OP_SET : AM_OP_ADD;
        if (!s->counter_absolute && s->rate > 0 && s->rate < 1) {
            u->value = s->value / s->rate;
        }
        break;
    case AM_KIND_GAUGE:
        u->op = s->relative ? AM_OP_ADD : AM_OP_SET;
        break;
    case AM_KIND_TIMER:
    case AM_KIND_HISTOGRAM:
    case AM_KIND_DISTRIBUTION:
        u->op = AM_OP_OBSERVE;
        if (s->kind == AM_KIND_TIMER) {
            u->value = s->value / 1000.0;
        }
        if (s->rate > 0 && s->rate < 1) {
            double w = round(1.0 / s->rate);
            u->weight = w >= 1 && w < 1e18 ? (uint64_t)w : 1;
        }
        break;
    case AM_KIND_SET:
        u->op = AM_OP_MEMBER;
        u->str = s->set_member;
        u->str_len = s->set_member_len;
        numeric = false;
        break;
    case AM_KIND_UNTYPED:
        u->op = AM_OP_SET;
        if (s->set_member == NULL) {
            if (r != NULL && r->vmap_has_num && (ve = vmap_num(r, s->value)) != NULL) {
                u->value = ve->value;
            }
        } else if ((ve = vmap_str(r, s->set_member, s->set_member_len)) != NULL) {
            u->value = ve->value;
        } else if (e->spec.type == AM_TYPE_STATESET || e->spec.type == AM_TYPE_INFO) {
            u->op = e->spec.type == AM_TYPE_STATESET ? AM_OP_STATE : AM_OP_INFO;
            u->str = s->set_member;
            u->str_len = s->set_member_len;
            numeric = false;
        } else {
            *why = r != NULL && r->nvmap > 0 ? "string value not in value_map"
                                             : "string value without value_map";
            return -1;
        }
        break;
    }
    if (numeric && r != NULL && r->scale_set) {
        u->value *= r->scale;
    }
    return 0;
}

int am_map_apply(struct am_map *m, struct am_store *st, const struct am_sample *s, uint32_t gen,
                 int64_t now_ms, const char **why)
{
    struct am_label labels[UPDATE_MAX_LABELS];
    char names[4096]; /* sample label names that needed sanitizing */
    size_t n, used = 0;
    struct am_update u;
    struct am_family_spec spec;
    const char *dummy;
    struct centry *e;

    if (why == NULL) {
        why = &dummy;
    }
    if ((e = lookup(m, s)) == NULL) {
        *why = "out of memory";
        goto refused;
    }
    if (e->result == RES_DROP) {
        m->stats.dropped++;
        return 1;
    }
    if (e->nlabels + s->nlabels + m->nclabels > UPDATE_MAX_LABELS) {
        *why = "too many labels";
        goto refused;
    }
    memcpy(labels, e->labels, e->nlabels * sizeof(labels[0]));
    n = e->nlabels;
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct am_label *l = &s->labels[i];
        const char *ln = l->name;
        size_t ll = l->name_len;

        if (needs_sanitize(ln, ll)) {
            char *d = names + used;
            bool digit = is_digit((unsigned char)ln[0]);
            if (used + ll + 1 > sizeof(names)) {
                *why = "label names too long";
                goto refused;
            }
            if (digit) {
                *d = '_';
            }
            sanitize(d + digit, ln, ll);
            ll += digit;
            ln = d;
            used += ll;
        }
        if (!has_label(labels, n, ln, ll)) {
            labels[n++] = (struct am_label){ln, ll, l->value, l->value_len};
        }
    }
    for (size_t i = 0; i < m->nclabels; i++) {
        if (!has_label(labels, n, m->clabels[i].name, m->clabels[i].name_len)) {
            labels[n++] = m->clabels[i];
        }
    }
    /* Field by field: a memset of the whole struct costs more than the rest of a hit. */
    u.str = NULL;
    u.str_len = 0;
    u.bounds = u.counts = u.qvalues = NULL;
    u.nbounds = 0;
    u.count = u.sum = 0;
    if (sample_op(e, s, &u, why) < 0) {
        goto refused;
    }
    u.name = e->name;
    u.name_len = e->name_len;
    u.spec = &e->spec;
    if (!e->own_help && s->help != NULL) {
        spec = e->spec;
        spec.help = s->help;
        u.spec = &spec;
    }
    u.labels = labels;
    u.nlabels = n;
    u.source = m->source;
    u.gen = gen;
    if (am_store_update(st, &u, now_ms, why) < 0) {
        goto refused;
    }
    if (e->result == RES_MAPPED) {
        m->stats.mapped++;
    } else {
        m->stats.unmapped++;
    }
    return 0;
refused:
    m->stats.refused++;
    return -1;
}
