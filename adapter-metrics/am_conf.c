/* am_conf.c — the table of adapter-metrics' keys, the sources list, and the checks across
 * them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am_conf.h"

#define KEY(n, t, f, d, m, h)                                                                      \
    {                                                                                              \
        .name = n, .type = t, .offset = offsetof(struct am_conf, f), .def = d, .metavar = m,       \
        .help = h                                                                                  \
    }
#define INT(n, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        .name = n, .type = PK_CONF_INT, .offset = offsetof(struct am_conf, f), .def = d,           \
        .min = lo, .max = hi, .metavar = "N", .help = h                                            \
    }
#define CUSTOM(n, f, cu, m, h, fl)                                                                 \
    {                                                                                              \
        .name = n, .type = PK_CONF_CUSTOM, .offset = offsetof(struct am_conf, f), .metavar = m,    \
        .help = h, .custom = &cu, .flags = fl                                                      \
    }

/* ---- the sources: list ---- */

static void source_clear(struct am_source_conf *s)
{
    free(s->name);
    free(s->url_text);
    am_src_url_clear(&s->url);
    free(s->prefix);
    for (size_t i = 0; i < s->nlabels; i++) {
        free((char *)s->labels[i].name);
        free((char *)s->labels[i].value);
    }
    free(s->labels);
    am_rules_free(s->rules);
    memset(s, 0, sizeof(*s));
}

static void sources_clear(void *dst)
{
    struct am_source_list *l = dst;

    for (size_t i = 0; i < l->n; i++) {
        source_clear(&l->v[i]);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int sources_from_text(struct pk_conf *c, void *dst, const char *text, bool append)
{
    (void)dst;
    (void)text;
    (void)append;
    return pk_conf_fail(c, NULL, "sources", "only in the config file (the flag is --source)");
}

static const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* One {name, url, prefix, labels, mappings, timeout} map into s. */
static int source_from_yaml(struct pk_conf *c, struct am_source_conf *s, yaml_node_t *item,
                            const char *path)
{
    char sub[256], msg[200];

    if (item->type == YAML_SCALAR_NODE) {
        const char *t = scalar(item), *eq = strchr(t, '=');
        if (eq == NULL || eq == t) {
            return pk_conf_fail(c, item, path, "expected NAME=URL or a map with name and url");
        }
        s->name = strndup(t, (size_t)(eq - t));
        s->url_text = strdup(eq + 1);
        return s->name == NULL || s->url_text == NULL ? pk_conf_fail(c, item, path, "out of memory")
                                                      : 0;
    }
    if (item->type != YAML_MAPPING_NODE) {
        return pk_conf_fail(c, item, path, "expected a map with name and url");
    }
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = pk_conf_node(c, p->key), *v = pk_conf_node(c, p->value);
        const char *key = scalar(k), *val = scalar(v);
        char **slot = NULL;

        if (key == NULL || v == NULL) {
            return pk_conf_fail(c, k, path, "expected a key");
        }
        if ((size_t)snprintf(sub, sizeof(sub), "%s.%s", path, key) >= sizeof(sub)) {
            return pk_conf_fail(c, k, path, "key too long");
        }
        if (strcmp(key, "name") == 0) {
            slot = &s->name;
        } else if (strcmp(key, "url") == 0) {
            slot = &s->url_text;
        } else if (strcmp(key, "prefix") == 0) {
            slot = &s->prefix;
        } else if (strcmp(key, "timeout") == 0) {
            if (val == NULL || pk_conf_parse_duration(val, &s->timeout_ms, msg, sizeof(msg)) < 0) {
                return pk_conf_fail(c, v, sub, "%s", val == NULL ? "expected a duration" : msg);
            }
            continue;
        } else if (strcmp(key, "mappings") == 0) {
            if (am_rules_conf.from_yaml(c, &s->rules, v, sub) < 0) {
                return -1;
            }
            continue;
        } else if (strcmp(key, "labels") == 0) {
            if (v->type != YAML_MAPPING_NODE) {
                return pk_conf_fail(c, v, sub, "expected a map of label names to values");
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const char *ln = scalar(pk_conf_node(c, q->key));
                const char *lv = scalar(pk_conf_node(c, q->value));
                struct am_label *nl;
                if (ln == NULL || lv == NULL) {
                    return pk_conf_fail(c, pk_conf_node(c, q->key), sub,
                                        "expected label: value scalars");
                }
                if (!am_valid_label_name(ln, strlen(ln))) {
                    return pk_conf_fail(c, pk_conf_node(c, q->key), sub,
                                        "'%s' is not a valid label name", ln);
                }
                nl = realloc(s->labels, (s->nlabels + 1) * sizeof(*nl));
                if (nl == NULL) {
                    return pk_conf_fail(c, v, sub, "out of memory");
                }
                s->labels = nl;
                nl[s->nlabels].name = strdup(ln);
                nl[s->nlabels].value = strdup(lv);
                nl[s->nlabels].name_len = strlen(ln);
                nl[s->nlabels].value_len = strlen(lv);
                s->nlabels++;
                if (nl[s->nlabels - 1].name == NULL || nl[s->nlabels - 1].value == NULL) {
                    return pk_conf_fail(c, v, sub, "out of memory");
                }
            }
            continue;
        } else {
            return pk_conf_fail(c, k, sub,
                                "unknown key (name, url, prefix, labels, mappings, timeout)");
        }
        if (val == NULL) {
            return pk_conf_fail(c, v, sub, "expected a string");
        }
        free(*slot);
        if ((*slot = strdup(val)) == NULL) {
            return pk_conf_fail(c, v, sub, "out of memory");
        }
    }
    if (s->name == NULL || s->url_text == NULL) {
        return pk_conf_fail(c, item, path, "a source needs a name and a url");
    }
    return 0;
}

static int sources_from_yaml(struct pk_conf *c, void *dst, yaml_node_t *node, const char *path)
{
    struct am_source_list *l = dst;
    char sub[256];

    sources_clear(l);
    if (node->type == YAML_SCALAR_NODE && scalar(node)[0] == '\0') {
        return 0;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        return pk_conf_fail(c, node, path, "expected a list of sources");
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = pk_conf_node(c, *it);
        struct am_source_conf *nv;

        if (item == NULL) {
            return pk_conf_fail(c, node, path, "bad list item");
        }
        if (l->n >= AM_SOURCES_MAX) {
            return pk_conf_fail(c, item, path, "more than %d sources", AM_SOURCES_MAX);
        }
        if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL) {
            return pk_conf_fail(c, item, path, "out of memory");
        }
        l->v = nv;
        memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
        l->n++;
        snprintf(sub, sizeof(sub), "%s[%zu]", path, l->n - 1);
        if (source_from_yaml(c, &l->v[l->n - 1], item, sub) < 0) {
            return -1;
        }
    }
    return 0;
}

static const struct pk_conf_custom sources_conf = {sources_from_text, sources_from_yaml,
                                                   sources_clear};

const struct pk_conf_key am_conf_keys[] = {
    KEY("web.listen-address", PK_CONF_LIST, listen, ":10180", "ADDR",
        "serve /metrics here (HOST:PORT, :PORT for every address, unix:PATH)"),
    KEY("web.telemetry-path", PK_CONF_STRING, telemetry_path, "/metrics", "PATH",
        "where the metrics are served"),
    KEY("source", PK_CONF_LIST, source, NULL, "NAME=URL",
        "a source: file:PATH?format=kv|json|prom, http://H:P/PATH, redis://H:P, "
        "statsd+udp://H:P, statsd+tcp://H:P, statsd+unix:PATH"),
    CUSTOM("sources", sources, sources_conf, "LIST",
           "sources with their own prefix, labels, mappings and timeout", PK_CONF_FILE_ONLY),
    CUSTOM("mappings", mappings, am_rules_conf, "LIST",
           "mapping rules (statsd_exporter's language) for every source", PK_CONF_FILE_ONLY),
    CUSTOM("defaults", defaults, am_defaults_conf, "MAP",
           "mapping defaults: observer_type, buckets, quantiles, ttl, match_type...",
           PK_CONF_FILE_ONLY),
    KEY("statsd.mapping-config", PK_CONF_STRING, mapping_config, NULL, "FILE",
        "a statsd_exporter mapping file (defaults and mappings), instead of the inline ones"),
    KEY("prefix", PK_CONF_STRING, prefix, NULL, "NAME_",
        "put before names no rule maps (a source's own prefix wins)"),
    KEY("scrape-timeout", PK_CONF_DURATION, scrape_timeout_ms, "5s", NULL,
        "longest wait for a file, http or redis source during a scrape"),
    KEY("max-body", PK_CONF_SIZE, max_body, "4MiB", NULL,
        "largest document a file, http or redis source may return"),
    INT("max-series", max_series, "100000", 1, 100000000,
        "series kept in all; more are refused and counted"),
    INT("max-series-per-family", max_series_per_family, "10000", 1, 100000000,
        "series kept per metric family"),
    INT("max-families", max_families, "10000", 1, 10000000, "metric families kept"),
    {.name = NULL},
};

/* ---- checks ---- */

static int fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

static bool valid_source_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 64) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-')) {
            return false;
        }
    }
    return true;
}

/* Copies src (owned strings duplicated, rules borrowed: the table keeps them). */
static int source_copy(struct am_source_conf *dst, const struct am_source_conf *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->name = strdup(src->name);
    dst->url_text = strdup(src->url_text);
    dst->prefix = src->prefix != NULL ? strdup(src->prefix) : NULL;
    dst->timeout_ms = src->timeout_ms;
    if (dst->name == NULL || dst->url_text == NULL ||
        (src->prefix != NULL && dst->prefix == NULL)) {
        return -1;
    }
    if (src->nlabels > 0) {
        if ((dst->labels = calloc(src->nlabels, sizeof(*dst->labels))) == NULL) {
            return -1;
        }
        for (size_t i = 0; i < src->nlabels; i++) {
            dst->labels[i] = src->labels[i];
            dst->labels[i].name = strdup(src->labels[i].name);
            dst->labels[i].value = strdup(src->labels[i].value);
            dst->nlabels++;
            if (dst->labels[i].name == NULL || dst->labels[i].value == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

/* What a redis source maps without rules of its own: INFO's instance_info sample to
 * redis_exporter's redis_instance_info (an info metric; the version is its info label). */
static const char redis_builtin[] = "mappings:\n"
                                    "  - match: instance_info\n"
                                    "    name: redis_instance_info\n"
                                    "    type: info\n"
                                    "    info_label: redis_version\n"
                                    "    help: The Redis server's version, mode, OS and role.\n";

static int redis_rules(struct am_conf *c, char *err, size_t errsz)
{
    static const struct pk_conf_key keys[] = {
        {.name = "mappings", .type = PK_CONF_CUSTOM, .offset = 0, .custom = &am_rules_conf},
        {.name = NULL},
    };
    struct pk_conf pc;
    struct am_rules *rules = NULL;
    int rc = 0;

    pk_conf_init(&pc);
    if (pk_conf_add(&pc, keys, &rules) < 0 ||
        pk_conf_load_buffer(&pc, "built-in redis rules", redis_builtin, strlen(redis_builtin)) <
            0) {
        rc = fail(err, errsz, "%s", pc.err);
    }
    /* The rules are moved out: the release below would free them. */
    c->redis_rules = rules;
    rules = NULL;
    pk_conf_release(&pc);
    return rc;
}

int am_conf_check(struct am_conf *c, char *err, size_t errsz)
{
    char msg[PK_CONF_ERR_MAX];
    size_t n = c->sources.n + c->source.n;

    if (c->telemetry_path == NULL || c->telemetry_path[0] != '/') {
        return fail(err, errsz, "web.telemetry-path: '%s' must start with '/'",
                    c->telemetry_path != NULL ? c->telemetry_path : "");
    }
    if (c->listen.n == 0) {
        return fail(err, errsz, "web.listen-address: at least one address is needed");
    }
    if ((c->addrs = calloc(c->listen.n, sizeof(*c->addrs))) == NULL) {
        return fail(err, errsz, "out of memory");
    }
    for (size_t i = 0; i < c->listen.n; i++) {
        if (pk_addr_parse(c->listen.v[i], AM_DEFAULT_PORT, &c->addrs[i], msg, sizeof(msg)) < 0) {
            return fail(err, errsz, "web.listen-address: %s", msg);
        }
        c->naddrs++;
    }
    if (n == 0) {
        return fail(err, errsz, "no sources: give --source NAME=URL or a sources: list");
    }
    if (n > AM_SOURCES_MAX) {
        return fail(err, errsz, "source: more than 64 sources");
    }
    if ((c->all = calloc(n, sizeof(*c->all))) == NULL) {
        return fail(err, errsz, "out of memory");
    }
    for (size_t i = 0; i < c->sources.n; i++) {
        if (source_copy(&c->all[c->nall++], &c->sources.v[i]) < 0) {
            return fail(err, errsz, "out of memory");
        }
        c->all[c->nall - 1].rules = c->sources.v[i].rules; /* borrowed from the table */
    }
    for (size_t i = 0; i < c->source.n; i++) {
        const char *t = c->source.v[i], *eq = strchr(t, '=');
        struct am_source_conf *s = &c->all[c->nall++];
        if (eq == NULL || eq == t) {
            return fail(err, errsz, "--source '%s': expected NAME=URL", t);
        }
        s->name = strndup(t, (size_t)(eq - t));
        s->url_text = strdup(eq + 1);
        if (s->name == NULL || s->url_text == NULL) {
            return fail(err, errsz, "out of memory");
        }
    }
    for (size_t i = 0; i < c->nall; i++) {
        struct am_source_conf *s = &c->all[i];
        if (!valid_source_name(s->name)) {
            return fail(err, errsz,
                        "source '%s': a name is 1-64 of [A-Za-z0-9_.-] (it becomes a label "
                        "value)",
                        s->name);
        }
        if (strcmp(s->name, "self") == 0) {
            return fail(err, errsz,
                        "source '%s': the name is reserved for the adapter's own "
                        "metrics",
                        s->name);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->all[j].name, s->name) == 0) {
                return fail(err, errsz, "source '%s': two sources have this name", s->name);
            }
        }
        if (am_src_url_parse(s->url_text, &s->url, msg, sizeof(msg)) < 0) {
            snprintf(err, errsz, "source '%s': %s", s->name, msg);
            return -1;
        }
        if (s->prefix != NULL && s->prefix[0] != '\0' &&
            !am_valid_metric_name(s->prefix, strlen(s->prefix))) {
            return fail(err, errsz, "source '%s': prefix '%s' is not a valid metric name start",
                        s->name, s->prefix);
        }
    }
    if (c->prefix != NULL && c->prefix[0] != '\0' &&
        !am_valid_metric_name(c->prefix, strlen(c->prefix))) {
        return fail(err, errsz, "prefix: '%s' is not a valid metric name start", c->prefix);
    }
    am_defaults_init(&c->file_defaults);
    if (c->mapping_config != NULL) {
        if (c->mappings != NULL) {
            return fail(err, errsz,
                        "statsd.mapping-config and mappings: give the rules in one place");
        }
        if (am_rules_load_file(c->mapping_config, &c->file_defaults, &c->file_rules, err, errsz) <
            0) {
            return -1;
        }
        c->eff_defaults = &c->file_defaults;
        c->eff_rules = c->file_rules;
    } else {
        if (c->defaults.observer_type != AM_TYPE_HISTOGRAM &&
            c->defaults.observer_type != AM_TYPE_SUMMARY) {
            am_defaults_init(&c->defaults);
        }
        c->eff_defaults = &c->defaults;
        c->eff_rules = c->mappings;
    }
    for (size_t i = 0; i < c->nall; i++) {
        if (c->all[i].url.kind == AM_SRC_REDIS && c->all[i].rules == NULL) {
            if (c->redis_rules == NULL && redis_rules(c, err, errsz) < 0) {
                return -1;
            }
            c->all[i].rules = c->redis_rules; /* borrowed, like the table's */
        }
    }
    /* Compile every source's mapping once, so that -t finds what the run would. */
    for (size_t i = 0; i < c->nall; i++) {
        const struct am_source_conf *s = &c->all[i];
        struct am_map_conf mc = {
            .defaults = c->eff_defaults,
            .own = s->rules,
            .global = c->eff_rules,
            .prefix = s->prefix != NULL ? s->prefix : c->prefix,
            .labels = s->labels,
            .nlabels = s->nlabels,
            .source = (uint16_t)(i + 1),
        };
        struct am_map *m = am_map_create(&mc, msg, sizeof(msg));
        if (m == NULL) {
            snprintf(err, errsz, "source '%s': %s", s->name, msg);
            return -1;
        }
        am_map_destroy(m);
    }
    return 0;
}

void am_conf_clear(struct am_conf *c)
{
    for (size_t i = 0; i < c->nall; i++) {
        c->all[i].rules = NULL; /* the table's */
        source_clear(&c->all[i]);
    }
    free(c->all);
    c->all = NULL;
    c->nall = 0;
    am_defaults_clear(&c->file_defaults);
    am_rules_free(c->file_rules);
    c->file_rules = NULL;
    am_rules_free(c->redis_rules);
    c->redis_rules = NULL;
    c->eff_defaults = NULL;
    c->eff_rules = NULL;
    free(c->addrs);
    c->addrs = NULL;
    c->naddrs = 0;
}
