/* am_conf.h — adapter-metrics' settings: one table of keys (Prometheus-exporter-style flags
 * and YAML), the sources list, and what the checks derive from them. */
#ifndef AM_CONF_H
#define AM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "am_map.h"
#include "am_src.h"
#include "pk_addr.h"
#include "pk_conf.h"

#define AM_DEFAULT_PORT 10180 /* outside 9090-9999: Prometheus' allocations list is full */
#define AM_SOURCES_MAX 64

/* One source as configured. Strings owned. */
struct am_source_conf {
    char *name;              /* [A-Za-z0-9_.-]+, unique: the "source" label of self-metrics */
    char *url_text;          /* as written */
    struct am_src_url url;   /* parsed by the check */
    char *prefix;            /* for unmapped names; NULL: the global prefix */
    struct am_label *labels; /* constant labels (owned strings, NUL-terminated) */
    size_t nlabels;
    struct am_rules *rules; /* its own rules, tried before the global ones, or NULL; in
                             * am_conf.all borrowed from the table */
    int64_t timeout_ms;     /* pull sources; 0: the global scrape-timeout */
};

/* The sources: list. */
struct am_source_list {
    struct am_source_conf *v;
    size_t n;
};

struct am_conf {
    /* As the table sets them (owned by the pk_conf that loaded them). */
    struct pk_strv listen;         /* web.listen-address */
    char *telemetry_path;          /* web.telemetry-path */
    struct pk_strv source;         /* --source NAME=URL */
    struct am_source_list sources; /* sources: in the file */
    struct am_rules *mappings;     /* mappings: */
    struct am_defaults defaults;   /* defaults: */
    char *mapping_config;          /* statsd.mapping-config: a statsd_exporter mapping file */
    char *prefix;
    int64_t scrape_timeout_ms;
    uint64_t max_body;
    long long max_series, max_series_per_family, max_families;

    /* Derived by am_conf_check (owned here; freed by am_conf_clear). */
    struct am_source_conf *all; /* the file's sources, then the flags' */
    size_t nall;
    struct am_defaults file_defaults;       /* from mapping-config */
    struct am_rules *file_rules;            /* from mapping-config */
    const struct am_defaults *eff_defaults; /* the ones in force */
    const struct am_rules *eff_rules;
    struct am_rules *redis_rules; /* the built-in rule of redis sources without their own */
    struct pk_addr *addrs;        /* listen addresses */
    size_t naddrs;
};

extern const struct pk_conf_key am_conf_keys[];

/* Checks what one key cannot check alone (source names and URLs, listen addresses, the
 * mapping file) and fills the derived fields; every source's mapping is also compiled once
 * so that a bad regex fails here (and with -t). Returns 0, or -1 with one line in err.
 * Call am_conf_clear before checking again. */
int am_conf_check(struct am_conf *c, char *err, size_t errsz);

/* Frees the derived fields (not the table's). */
void am_conf_clear(struct am_conf *c);

#endif
