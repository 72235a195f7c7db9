/* pk_conf.c — the table-driven configuration: defaults, YAML documents (libyaml), flags. */
#include "pk_conf.h"
#include "pk_str.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_LEN 256 /* longest key path reported in an error */

/* ---- small helpers --------------------------------------------------------------- */

int pk_strv_push(struct pk_strv *sv, const char *s)
{
    char *copy = strdup(s);
    char **v;

    if (copy == NULL) {
        return -1;
    }
    v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
    if (v == NULL) {
        free(copy);
        return -1;
    }
    v[sv->n++] = copy;
    sv->v = v;
    return 0;
}

void pk_strv_clear(struct pk_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->v[i]);
    }
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

/* Records the first error: "SOURCE:LINE:COL: PATH: message", parts left out when unknown. */
static int vfail(struct pk_conf *c, const yaml_mark_t *mark, const char *path, const char *fmt,
                 va_list ap)
{
    char msg[PK_CONF_ERR_MAX];
    size_t n = 0;

    if (c->err[0] != '\0') {
        return -1; /* the first error is the one worth reading */
    }
    if (mark != NULL && c->source != NULL) {
        n = (size_t)snprintf(msg, sizeof(msg), "%s:%zu:%zu: ", c->source, (size_t)mark->line + 1,
                             (size_t)mark->column + 1);
    } else if (c->source != NULL) {
        n = (size_t)snprintf(msg, sizeof(msg), "%s: ", c->source);
    }
    if (path != NULL && path[0] != '\0' && n < sizeof(msg)) {
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s: ", path);
    }
    if (n < sizeof(msg)) {
        vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
    }
    /* Keys and values come from the file: keep the message one printable line. */
    for (char *p = msg; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    snprintf(c->err, sizeof(c->err), "%s", msg);
    return -1;
}

static int pk_conf_fail_at(struct pk_conf *c, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pk_conf_fail_at(struct pk_conf *c, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(c, mark, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int pk_conf_fail(struct pk_conf *c, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(c, node != NULL ? &node->start_mark : NULL, path, fmt, ap);
    va_end(ap);
    return -1;
}

/* A syntax error found by libyaml, at the position it names. Encoding errors come with
 * a byte offset instead of a mark: count lines up to it in the document's bytes. */
static int syntax_error(struct pk_conf *c, const yaml_parser_t *parser, const char *data,
                        size_t len)
{
    yaml_mark_t mark = parser->problem_mark;

    if (parser->error == YAML_READER_ERROR) {
        memset(&mark, 0, sizeof(mark));
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            if (data[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
                mark.column++; /* a character, not a UTF-8 continuation byte */
            }
        }
    }
    return pk_conf_fail_at(c, &mark, "YAML syntax error: %s%s%s",
                           parser->problem != NULL ? parser->problem : "unknown",
                           parser->context != NULL ? " " : "",
                           parser->context != NULL ? parser->context : "");
}

yaml_node_t *pk_conf_node(struct pk_conf *c, int index)
{
    return c->doc != NULL ? yaml_document_get_node(c->doc, index) : NULL;
}

/* A value shown in an error: printable, and cut when long. */
static const char *shown(const char *s, char *buf, size_t bufsz)
{
    size_t i = 0;

    for (; s[i] != '\0' && i + 4 < bufsz; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* ---- value parsers ----------------------------------------------------------------- */

int pk_conf_parse_bool(const char *s, bool *out, char *err, size_t errsz)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    snprintf(err, errsz, "expected true or false");
    return -1;
}

int pk_conf_parse_int(const char *s, long long min, long long max, long long *out, char *err,
                      size_t errsz)
{
    char *end;
    long long v;

    bool bounded = min != 0 || max != 0;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || s[0] == ' ' || errno == ERANGE ||
        (bounded && (v < min || v > max))) {
        if (bounded) {
            snprintf(err, errsz, "expected a whole number from %lld to %lld", min, max);
        } else {
            snprintf(err, errsz, "expected a whole number");
        }
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads the leading digits of s into *v (with overflow check); returns how many. */
static size_t read_digits(const char *s, uint64_t *v, bool *overflow)
{
    size_t i = 0;

    *v = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (__builtin_mul_overflow(*v, 10u, v) ||
            __builtin_add_overflow(*v, (uint64_t)(s[i] - '0'), v)) {
            *overflow = true;
        }
    }
    return i;
}

int pk_conf_parse_size(const char *s, uint64_t *out, char *err, size_t errsz)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"k", 1000ull},
        {"K", 1000ull},
        {"KB", 1000ull},
        {"M", 1000ull * 1000},
        {"MB", 1000ull * 1000},
        {"G", 1000ull * 1000 * 1000},
        {"GB", 1000ull * 1000 * 1000},
        {"T", 1000ull * 1000 * 1000 * 1000},
        {"TB", 1000ull * 1000 * 1000 * 1000},
        {"Ki", 1ull << 10},
        {"KiB", 1ull << 10},
        {"Mi", 1ull << 20},
        {"MiB", 1ull << 20},
        {"Gi", 1ull << 30},
        {"GiB", 1ull << 30},
        {"Ti", 1ull << 40},
        {"TiB", 1ull << 40},
    };
    uint64_t v;
    bool overflow = false;
    size_t n = read_digits(s, &v, &overflow);

    if (n == 0) {
        goto bad;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + n, units[i].suffix) == 0) {
            if (overflow || __builtin_mul_overflow(v, units[i].mult, out)) {
                snprintf(err, errsz, "size too large");
                return -1;
            }
            return 0;
        }
    }
bad:
    snprintf(err, errsz, "expected a size such as 512, 64KiB, 8MiB or 1GB");
    return -1;
}

int pk_conf_parse_duration(const char *s, int64_t *out_ms, char *err, size_t errsz)
{
    /* Each part is NUMBER[.FRACTION]UNIT and parts add up ("1m30s"); the whole text may
     * also be one bare number of seconds. Integer arithmetic in microseconds, so "1.5s"
     * is exactly 1500 ms. Units are tried longest first: "ms" before "m". */
    static const struct {
        const char *unit;
        uint64_t us;
    } units[] = {{"ms", 1000ull}, {"s", 1000000ull}, {"m", 60000000ull}, {"h", 3600000000ull}};
    const uint64_t max_us = 100ull * 365 * 24 * 3600 * 1000000; /* a century is plenty */
    uint64_t total = 0;
    const char *p = s;

    if (*p == '\0') {
        goto bad;
    }
    while (*p != '\0') {
        const char *start = p;
        uint64_t whole, part, frac = 0, frac_div = 1, unit_us = 0;
        bool overflow = false;
        size_t n = read_digits(p, &whole, &overflow);

        p += n;
        if (*p == '.') {
            size_t f = 0;
            for (p++; p[f] >= '0' && p[f] <= '9'; f++) {
                if (f < 9) { /* nanoseconds are more than any key needs */
                    frac = frac * 10 + (uint64_t)(p[f] - '0');
                    frac_div *= 10;
                }
            }
            n += f;
            p += f;
        }
        if (n == 0) {
            goto bad;
        }
        if (*p == '\0' && start == s) {
            unit_us = 1000000ull; /* a bare number is seconds */
        } else {
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && unit_us == 0; i++) {
                size_t l = strlen(units[i].unit);
                if (strncmp(p, units[i].unit, l) == 0) {
                    unit_us = units[i].us;
                    p += l;
                }
            }
            if (unit_us == 0) {
                goto bad;
            }
        }
        if (overflow || __builtin_mul_overflow(whole, unit_us, &part) ||
            __builtin_add_overflow(total, part + frac * unit_us / frac_div, &total) ||
            total > max_us) {
            snprintf(err, errsz, "duration too long");
            return -1;
        }
    }
    *out_ms = (int64_t)(total / 1000);
    return 0;
bad:
    snprintf(err, errsz, "expected a duration such as 250ms, 5s, 1m30s or 2h");
    return -1;
}

/* ---- tables ------------------------------------------------------------------------ */

void pk_conf_init(struct pk_conf *c)
{
    memset(c, 0, sizeof(*c));
}

static void clear_value(const struct pk_conf_key *k, void *base)
{
    void *dst = (char *)base + k->offset;

    switch (k->type) {
    case PK_CONF_STRING:
        free(*(char **)dst);
        *(char **)dst = NULL;
        break;
    case PK_CONF_LIST:
        pk_strv_clear(dst);
        break;
    case PK_CONF_CUSTOM:
        k->custom->clear(dst);
        break;
    default:
        break;
    }
}

/* Sets k from text; on failure fills msg (without position) and returns -1. */
static int set_text(struct pk_conf *c, const struct pk_conf_key *k, void *base, const char *text,
                    bool append, char *msg, size_t msgsz)
{
    void *dst = (char *)base + k->offset;
    long long ll;

    switch (k->type) {
    case PK_CONF_BOOL:
        return pk_conf_parse_bool(text, dst, msg, msgsz);
    case PK_CONF_INT:
        if (pk_conf_parse_int(text, k->min, k->max, &ll, msg, msgsz) < 0) {
            return -1;
        }
        *(long long *)dst = ll;
        return 0;
    case PK_CONF_SIZE:
        return pk_conf_parse_size(text, dst, msg, msgsz);
    case PK_CONF_DURATION:
        return pk_conf_parse_duration(text, dst, msg, msgsz);
    case PK_CONF_STRING: {
        char *copy = strdup(text);
        if (copy == NULL) {
            snprintf(msg, msgsz, "out of memory");
            return -1;
        }
        free(*(char **)dst);
        *(char **)dst = copy;
        return 0;
    }
    case PK_CONF_LIST:
        if (!append) {
            pk_strv_clear(dst);
        }
        if (pk_strv_push(dst, text) < 0) {
            snprintf(msg, msgsz, "out of memory");
            return -1;
        }
        return 0;
    case PK_CONF_ENUM:
        for (int i = 0; k->choices[i] != NULL; i++) {
            if (strcmp(text, k->choices[i]) == 0) {
                *(int *)dst = i;
                return 0;
            }
        }
        {
            size_t n = (size_t)snprintf(msg, msgsz, "expected one of");
            for (int i = 0; k->choices[i] != NULL && n < msgsz; i++) {
                n += (size_t)snprintf(msg + n, msgsz - n, "%s%s", i == 0 ? " " : ", ",
                                      k->choices[i]);
            }
        }
        return -1;
    case PK_CONF_CUSTOM:
        /* The custom parser reports through c->err; copy it out for the caller. */
        if (k->custom->from_text(c, dst, text, append) < 0) {
            snprintf(msg, msgsz, "%s", c->err[0] != '\0' ? c->err : "invalid value");
            c->err[0] = '\0';
            return -1;
        }
        return 0;
    }
    snprintf(msg, msgsz, "unknown key type");
    return -1;
}

int pk_conf_add(struct pk_conf *c, const struct pk_conf_key *keys, void *base)
{
    size_t n = 0;
    char msg[PK_CONF_ERR_MAX];

    if (c->nsect == PK_CONF_MAX_SECTIONS) {
        return pk_conf_fail(c, NULL, NULL, "too many configuration tables");
    }
    while (keys[n].name != NULL) {
        n++;
    }
    c->sect[c->nsect].keys = keys;
    c->sect[c->nsect].base = base;
    c->sect[c->nsect].nkeys = n;
    c->sect[c->nsect].seen = calloc(n + 1, 1);
    if (c->sect[c->nsect].seen == NULL) {
        return pk_conf_fail(c, NULL, NULL, "out of memory");
    }
    c->nsect++;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].def != NULL &&
            set_text(c, &keys[i], base, keys[i].def, false, msg, sizeof(msg)) < 0) {
            return pk_conf_fail(c, NULL, keys[i].name, "bad default '%s': %s", keys[i].def, msg);
        }
    }
    return 0;
}

/* The first key, in table order, with the long name name or (name NULL) the short flag ch. */
static const struct pk_conf_key *find(const struct pk_conf *c, const char *name, char ch,
                                      size_t *section)
{
    for (size_t s = 0; s < c->nsect; s++) {
        for (size_t i = 0; i < c->sect[s].nkeys; i++) {
            const struct pk_conf_key *k = &c->sect[s].keys[i];
            if (name != NULL ? strcmp(k->name, name) == 0 : (ch != 0 && k->short_flag == ch)) {
                if (section != NULL) {
                    *section = s;
                }
                return k;
            }
        }
    }
    return NULL;
}

const struct pk_conf_key *pk_conf_find(const struct pk_conf *c, const char *name, size_t *section)
{
    return find(c, name, 0, section);
}

const struct pk_conf_key *pk_conf_find_short(const struct pk_conf *c, char ch, size_t *section)
{
    return find(c, NULL, ch, section);
}

int pk_conf_set(struct pk_conf *c, size_t section, const struct pk_conf_key *key, const char *text,
                bool append)
{
    char msg[PK_CONF_ERR_MAX];
    char val[64];

    if (set_text(c, key, c->sect[section].base, text, append, msg, sizeof(msg)) < 0) {
        return pk_conf_fail(c, NULL, NULL, "--%s: invalid value '%s': %s", key->name,
                            shown(text, val, sizeof(val)), msg);
    }
    c->sect[section].seen[key - c->sect[section].keys] = 1;
    return 0;
}

int pk_conf_check_required(struct pk_conf *c)
{
    for (size_t s = 0; s < c->nsect; s++) {
        for (size_t i = 0; i < c->sect[s].nkeys; i++) {
            const struct pk_conf_key *k = &c->sect[s].keys[i];
            if ((k->flags & PK_CONF_REQUIRED) && !c->sect[s].seen[i]) {
                return pk_conf_fail(c, NULL, NULL,
                                    "missing required option --%s ('%s:' in the config file)",
                                    k->name, k->name);
            }
        }
    }
    return 0;
}

void pk_conf_release(struct pk_conf *c)
{
    for (size_t s = 0; s < c->nsect; s++) {
        for (size_t i = 0; i < c->sect[s].nkeys; i++) {
            clear_value(&c->sect[s].keys[i], c->sect[s].base);
        }
        free(c->sect[s].seen);
        c->sect[s].seen = NULL;
    }
    c->nsect = 0;
}

/* ---- YAML documents ---------------------------------------------------------------- */

const char *pk_conf_node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* A plain (unquoted) null: empty, "~", "null". Quoted "" is an empty string instead. */
bool pk_conf_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
            strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static const char *type_word(const struct pk_conf_key *k)
{
    static const char *const words[] = {"true or false",    "a whole number", "a size",
                                        "a duration",       "a string",       "a list",
                                        "one of the names", "a value"};
    return words[k->type];
}

static int set_node(struct pk_conf *c, const struct pk_conf_key *k, void *base, yaml_node_t *node,
                    const char *path)
{
    char msg[PK_CONF_ERR_MAX];
    char val[64];
    void *dst = (char *)base + k->offset;

    if (k->type == PK_CONF_CUSTOM) {
        return k->custom->from_yaml(c, dst, node, path);
    }
    if (k->type == PK_CONF_LIST) {
        pk_strv_clear(dst);
        if (node->type == YAML_SCALAR_NODE) {
            if (pk_conf_is_null(node)) {
                return 0; /* an explicit empty list */
            }
            return set_text(c, k, base, (const char *)node->data.scalar.value, true, msg,
                            sizeof(msg)) < 0
                       ? pk_conf_fail(c, node, path, "%s", msg)
                       : 0;
        }
        if (node->type != YAML_SEQUENCE_NODE) {
            return pk_conf_fail(c, node, path, "expected a list, got %s", pk_conf_node_kind(node));
        }
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(c->doc, *it);
            char ipath[PATH_MAX_LEN + 24];
            snprintf(ipath, sizeof(ipath), "%s[%ld]", path,
                     (long)(it - node->data.sequence.items.start));
            if (item == NULL || item->type != YAML_SCALAR_NODE || pk_conf_is_null(item)) {
                return pk_conf_fail(
                    c, item != NULL ? item : node, ipath, "expected a string, got %s",
                    item == NULL || pk_conf_is_null(item) ? "nothing" : pk_conf_node_kind(item));
            }
            if (set_text(c, k, base, (const char *)item->data.scalar.value, true, msg,
                         sizeof(msg)) < 0) {
                return pk_conf_fail(c, item, ipath, "%s", msg);
            }
        }
        return 0;
    }
    if (k->type == PK_CONF_STRING && pk_conf_is_null(node)) {
        clear_value(k, base); /* "name: null" unsets a string */
        return 0;
    }
    if (node->type != YAML_SCALAR_NODE || pk_conf_is_null(node)) {
        return pk_conf_fail(c, node, path, "expected %s, got %s", type_word(k),
                            pk_conf_is_null(node) ? "nothing" : pk_conf_node_kind(node));
    }
    if (set_text(c, k, base, (const char *)node->data.scalar.value, false, msg, sizeof(msg)) < 0) {
        return pk_conf_fail(c, node, path, "invalid value '%s': %s",
                            shown((const char *)node->data.scalar.value, val, sizeof(val)), msg);
    }
    return 0;
}

/* True when some file key of section s lies under prefix ("web" for "web.listen"). */
static bool is_section_prefix(const struct pk_conf *c, size_t s, const char *prefix)
{
    size_t n = strlen(prefix);

    for (size_t i = 0; i < c->sect[s].nkeys; i++) {
        const struct pk_conf_key *k = &c->sect[s].keys[i];
        if (!(k->flags & PK_CONF_FLAG_ONLY) && strncmp(k->name, prefix, n) == 0 &&
            k->name[n] == '.') {
            return true;
        }
    }
    return false;
}

static int unknown_key(struct pk_conf *c, const yaml_node_t *key, const char *path)
{
    const char *best = NULL;
    size_t len = strlen(path);
    size_t best_d = (len < 6 ? 1 : len < 12 ? 2 : 3) + 1; /* suggest only close names */

    for (size_t s = 0; s < c->nsect; s++) {
        for (size_t i = 0; i < c->sect[s].nkeys; i++) {
            const struct pk_conf_key *k = &c->sect[s].keys[i];
            size_t d = pk_edit_distance(path, k->name, false);
            if (!(k->flags & PK_CONF_FLAG_ONLY) && d < best_d) {
                best_d = d;
                best = k->name;
            }
        }
    }
    if (best != NULL) {
        return pk_conf_fail(c, key, path, "unknown key (did you mean '%s'?)", best);
    }
    return pk_conf_fail(c, key, path, "unknown key");
}

/* Applies a mapping whose keys are under prefix ("" at the top). */
static int walk_mapping(struct pk_conf *c, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(c->doc, p->value);
        char path[PATH_MAX_LEN];
        const struct pk_conf_key *k = NULL;
        size_t s = 0;
        bool section = false;

        if (key == NULL || value == NULL) {
            return pk_conf_fail(c, map, prefix, "broken mapping");
        }
        if (key->type != YAML_SCALAR_NODE) {
            return pk_conf_fail(c, key, prefix, "a key must be a plain name, not %s",
                                pk_conf_node_kind(key));
        }
        int n = snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "",
                         (const char *)key->data.scalar.value);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            return pk_conf_fail(c, key, prefix, "key too long");
        }
        k = pk_conf_find(c, path, &s);
        if (k != NULL && (k->flags & PK_CONF_FLAG_ONLY)) {
            return pk_conf_fail(c, key, path, "only accepted on the command line (--%s)", k->name);
        }
        if (k == NULL) {
            for (s = 0; s < c->nsect && !section; s++) {
                section = is_section_prefix(c, s, path);
            }
            if (!section) {
                return unknown_key(c, key, path);
            }
            if (value->type != YAML_MAPPING_NODE) {
                return pk_conf_fail(c, value, path, "expected a mapping, got %s",
                                    pk_conf_node_kind(value));
            }
            if (walk_mapping(c, value, path) < 0) {
                return -1;
            }
            continue;
        }
        size_t idx = (size_t)(k - c->sect[s].keys);
        if (c->sect[s].seen[idx] == 2) {
            return pk_conf_fail(c, key, path, "duplicate key");
        }
        if (set_node(c, k, c->sect[s].base, value, path) < 0) {
            return -1;
        }
        c->sect[s].seen[idx] = 2; /* 2: set by this document; becomes 1 afterwards */
    }
    return 0;
}

int pk_conf_load_buffer(struct pk_conf *c, const char *name, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_document_t extra;
    int rc = -1;
    bool have_doc = false;

    c->source = name;
    if (!yaml_parser_initialize(&parser)) {
        pk_conf_fail(c, NULL, NULL, "out of memory");
        c->source = NULL;
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(c, &parser, data, len);
        goto out;
    }
    have_doc = true;
    c->doc = &doc;

    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL || pk_conf_is_null(root)) {
        rc = 0; /* an empty file sets nothing */
        goto check_single;
    }
    if (root->type != YAML_MAPPING_NODE) {
        pk_conf_fail(c, root, NULL, "expected a mapping of keys, got %s", pk_conf_node_kind(root));
        goto out;
    }
    if (walk_mapping(c, root, "") < 0) {
        goto out;
    }
    rc = 0;

check_single:
    /* A second document would be silently ignored; say so instead. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = syntax_error(c, &parser, data, len);
    } else {
        yaml_node_t *second = yaml_document_get_root_node(&extra);
        if (second != NULL) {
            rc = pk_conf_fail(c, second, NULL, "only one YAML document is allowed");
        }
        yaml_document_delete(&extra);
    }
out:
    for (size_t s = 0; s < c->nsect; s++) {
        for (size_t i = 0; i < c->sect[s].nkeys; i++) {
            if (c->sect[s].seen[i] == 2) {
                c->sect[s].seen[i] = 1;
            }
        }
    }
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    c->doc = NULL;
    c->source = NULL;
    return rc;
}

int pk_conf_load_file(struct pk_conf *c, const char *path)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return pk_conf_fail(c, NULL, NULL, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        pk_conf_fail(c, NULL, NULL, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
        pk_conf_fail(c, NULL, NULL, "%s: not a regular file", path);
        goto out;
    }
    /* Read up to the limit plus one byte, so that a file (or pipe) that is too big is
     * told apart from one exactly at the limit. */
    data = malloc(PK_CONF_FILE_MAX + 1);
    if (data == NULL) {
        pk_conf_fail(c, NULL, NULL, "%s: out of memory", path);
        goto out;
    }
    while (len <= PK_CONF_FILE_MAX) {
        ssize_t r = read(fd, data + len, PK_CONF_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            pk_conf_fail(c, NULL, NULL, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    if (len > PK_CONF_FILE_MAX) {
        pk_conf_fail(c, NULL, NULL, "%s: larger than %d bytes", path, PK_CONF_FILE_MAX);
        goto out;
    }
    rc = pk_conf_load_buffer(c, path, data, len);
out:
    free(data);
    close(fd);
    return rc;
}
