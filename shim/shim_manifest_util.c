/* shim_manifest_util.c — the manifest parser's plumbing: errors and notes, arena memory,
 * field paths, and typed reads of libyaml nodes. */
#include "shim_manifest_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pk_conf.h"

#define MSG_MAX (2 * SHIM_ERR_MAX)

/* ---- messages ---------------------------------------------------------------------- */

void shim_mf_clean(char *s)
{
    /* Keys and values come from the file: keep messages one line of valid UTF-8, also
     * where a cut fell inside a character. */
    unsigned char *p = (unsigned char *)s;

    while (*p != '\0') {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xe0) == 0xc0 ? 2
                   : (*p & 0xf0) == 0xe0 ? 3
                   : (*p & 0xf8) == 0xf0 ? 4
                                         : 0;
        /* No overlong forms, surrogates or code points past U+10FFFF. */
        bool ok = n > 0 && !(n == 2 && *p < 0xc2) && !(n == 4 && *p > 0xf4) &&
                  !(*p == 0xe0 && p[1] < 0xa0) && !(*p == 0xed && p[1] >= 0xa0) &&
                  !(*p == 0xf0 && p[1] < 0x90) && !(*p == 0xf4 && p[1] >= 0x90);

        for (size_t i = 1; ok && i < n; i++) {
            ok = (p[i] & 0xc0) == 0x80;
        }
        if (!ok || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

/* "FILE:LINE:COL: PATH: PREFIXmessage" into out; the mark and the path are left out when
 * unknown. */
static void vformat(const struct shim_mf *c, const struct shim_mark *mark, const char *path,
                    const char *prefix, const char *fmt, va_list ap, char *out, size_t outsz)
{
    size_t n;

    if (mark != NULL) {
        n = (size_t)snprintf(out, outsz, "%s:%u:%u: ", c->file, mark->line, mark->column);
    } else {
        n = (size_t)snprintf(out, outsz, "%s: ", c->file);
    }
    if (path != NULL && path[0] != '\0' && n < outsz) {
        n += (size_t)snprintf(out + n, outsz - n, "%s: ", path);
    }
    if (n < outsz) {
        n += (size_t)snprintf(out + n, outsz - n, "%s", prefix);
    }
    if (n < outsz) {
        vsnprintf(out + n, outsz - n, fmt, ap);
    }
    shim_mf_clean(out);
}

static int vfail(struct shim_mf *c, const struct shim_mark *mark, const char *path, const char *fmt,
                 va_list ap)
{
    char msg[MSG_MAX];

    if (c->failed) {
        return -1; /* the first error is the one worth reading */
    }
    c->failed = true;
    vformat(c, mark, path, "", fmt, ap, msg, sizeof(msg));
    if (c->errsz > 0) {
        snprintf(c->err, c->errsz, "%s", msg);
        shim_mf_clean(c->err);
    }
    return -1;
}

struct shim_mark shim_mf_mark(const struct shim_mf *c, const yaml_node_t *node)
{
    struct shim_mark mark = {c->file, (unsigned)node->start_mark.line + 1,
                             (unsigned)node->start_mark.column + 1};
    return mark;
}

int shim_mf_fail(struct shim_mf *c, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
    struct shim_mark mark;
    va_list ap;

    if (node != NULL) {
        mark = shim_mf_mark(c, node);
    }
    va_start(ap, fmt);
    vfail(c, node != NULL ? &mark : NULL, path, fmt, ap);
    va_end(ap);
    return -1;
}

int shim_mf_fail_mark(struct shim_mf *c, const struct shim_mark *mark, const char *path,
                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(c, mark, path, fmt, ap);
    va_end(ap);
    return -1;
}

int shim_mf_oom(struct shim_mf *c)
{
    if (errno == E2BIG) {
        return shim_mf_fail(c, NULL, NULL, "the manifest needs more than %u MiB of memory",
                            SHIM_MF_ARENA_CAP >> 20);
    }
    return shim_mf_fail(c, NULL, NULL, "out of memory");
}

int shim_mf_note_mark(struct shim_mf *c, const struct shim_mark *mark, const char *path,
                      const char *fmt, ...)
{
    char msg[MSG_MAX];
    char *note;
    va_list ap;

    va_start(ap, fmt);
    vformat(c, mark, path, "accepted, no effect: ", fmt, ap, msg, sizeof(msg));
    va_end(ap);
    note = shim_mf_strdup(c, msg);
    if (note == NULL ||
        shim_mf_grow(c, (void **)&c->m->notes, &c->notes_cap, c->m->nnotes, sizeof(char *)) < 0) {
        return -1;
    }
    c->m->notes[c->m->nnotes++] = note;
    return 0;
}

int shim_mf_note(struct shim_mf *c, const yaml_node_t *node, const char *path, const char *why)
{
    struct shim_mark mark = shim_mf_mark(c, node);

    return shim_mf_note_mark(c, &mark, path, "%s", why);
}

int shim_mf_syntax_error(struct shim_mf *c, const yaml_parser_t *parser)
{
    yaml_mark_t ym = parser->problem_mark;
    struct shim_mark mark;

    /* Encoding errors come with a byte offset instead of a mark: count lines up to it. */
    if (parser->error == YAML_READER_ERROR) {
        memset(&ym, 0, sizeof(ym));
        for (size_t i = 0; i < parser->problem_offset && i < c->len; i++) {
            if (c->data[i] == '\n') {
                ym.line++;
                ym.column = 0;
            } else if (((unsigned char)c->data[i] & 0xc0) != 0x80) {
                ym.column++; /* a character, not a UTF-8 continuation byte */
            }
        }
    }
    if (parser->error == YAML_MEMORY_ERROR) {
        return shim_mf_fail(c, NULL, NULL, "out of memory");
    }
    mark.file = c->file;
    mark.line = (unsigned)ym.line + 1;
    mark.column = (unsigned)ym.column + 1;
    return shim_mf_fail_mark(c, &mark, NULL, "YAML syntax error: %s%s%s",
                             parser->problem != NULL ? parser->problem : "unknown",
                             parser->context != NULL ? " " : "",
                             parser->context != NULL ? parser->context : "");
}

const char *shim_mf_shown(const char *s, char *buf, size_t bufsz)
{
    size_t i = 0;

    for (; s[i] != '\0' && i + 4 < bufsz; i++) {
        buf[i] = s[i];
    }
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* ---- memory and paths -------------------------------------------------------------- */

void *shim_mf_array(struct shim_mf *c, size_t n, size_t size)
{
    void *p = shim_arena_array(c->arena, n, size);

    if (p == NULL) {
        shim_mf_oom(c);
    }
    return p;
}

char *shim_mf_strdup(struct shim_mf *c, const char *s)
{
    char *p = shim_arena_strdup(c->arena, s);

    if (p == NULL) {
        shim_mf_oom(c);
    }
    return p;
}

int shim_mf_grow(struct shim_mf *c, void **v, size_t *cap, size_t n, size_t size)
{
    size_t ncap = *cap == 0 ? 4 : *cap * 2;
    void *nv;

    if (n < *cap) {
        return 0;
    }
    nv = shim_mf_array(c, ncap, size);
    if (nv == NULL) {
        return -1;
    }
    if (n > 0) {
        memcpy(nv, *v, n * size);
    }
    *v = nv;
    *cap = ncap;
    return 0;
}

void shim_mf_join(char *buf, size_t bufsz, const char *parent, const char *field)
{
    snprintf(buf, bufsz, "%s%s%s", parent, parent[0] != '\0' ? "." : "", field);
}

void shim_mf_index(char *buf, size_t bufsz, const char *parent, size_t i)
{
    snprintf(buf, bufsz, "%s[%zu]", parent, i);
}

void shim_mf_key(char *buf, size_t bufsz, const char *parent, const char *key)
{
    snprintf(buf, bufsz, "%s[%s]", parent, key);
}

/* ---- nodes ------------------------------------------------------------------------- */

yaml_node_t *shim_mf_node(struct shim_mf *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

bool shim_mf_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
            strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

bool shim_mf_is_empty(const yaml_node_t *n)
{
    return (n->type == YAML_MAPPING_NODE &&
            n->data.mapping.pairs.top == n->data.mapping.pairs.start) ||
           (n->type == YAML_SEQUENCE_NODE &&
            n->data.sequence.items.top == n->data.sequence.items.start);
}

int shim_mf_tick(struct shim_mf *c, const yaml_node_t *node, const char *path)
{
    if (c->budget == 0) {
        return shim_mf_fail(c, node, path,
                            "too many nodes: the manifest grows too large once its aliases "
                            "are expanded");
    }
    c->budget--;
    return 0;
}

/* What node is, for "expected X, got Y". */
const char *shim_mf_described(const yaml_node_t *n, char *buf, size_t bufsz)
{
    char val[64];

    if (n->type == YAML_MAPPING_NODE) {
        return "a mapping";
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        return "a list";
    }
    if (shim_mf_is_null(n)) {
        return "null";
    }
    snprintf(buf, bufsz, "%s\"%s\"",
             n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the string ",
             shim_mf_shown((const char *)n->data.scalar.value, val, sizeof(val)));
    return buf;
}

int shim_mf_expect(struct shim_mf *c, const yaml_node_t *node, const char *path,
                   const char *expected)
{
    char buf[96];
    bool map = strcmp(expected, "a mapping") == 0;

    if ((map && node->type == YAML_MAPPING_NODE) || (!map && node->type == YAML_SEQUENCE_NODE)) {
        return 0;
    }
    return shim_mf_fail(c, node, path, "expected %s, got %s", expected,
                        shim_mf_described(node, buf, sizeof(buf)));
}

int shim_mf_seq(struct shim_mf *c, const yaml_node_t *node, const char *path, size_t max, size_t *n)
{
    if (shim_mf_expect(c, node, path, "a list") < 0) {
        return -1;
    }
    *n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (*n > max) {
        return shim_mf_fail(c, node, path, "too many items (%zu): at most %zu", *n, max);
    }
    return 0;
}

yaml_node_t *shim_mf_item(struct shim_mf *c, const yaml_node_t *seq, size_t i, const char *path)
{
    yaml_node_t *item = shim_mf_node(c, seq->data.sequence.items.start[i]);

    if (item == NULL) {
        shim_mf_fail(c, seq, path, "broken list");
        return NULL;
    }
    return shim_mf_tick(c, item, path) < 0 ? NULL : item;
}

yaml_node_t *shim_mf_get(struct shim_mf *c, const yaml_node_t *map, const char *field,
                         yaml_node_t **key)
{
    if (map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = shim_mf_node(c, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, field) == 0) {
            if (key != NULL) {
                *key = k;
            }
            return shim_mf_node(c, p->value);
        }
    }
    return NULL;
}

/* ---- typed reads ------------------------------------------------------------------- */

/* The scalar's text in the arena, copied once per node however often aliases reach it. */
static char *scalar_text(struct shim_mf *c, const yaml_node_t *node)
{
    size_t i = (size_t)(node - c->doc->nodes.start);
    char *s;

    if (i < c->nscalars && c->scalars[i] != NULL) {
        return c->scalars[i];
    }
    s = shim_arena_memdup(c->arena, node->data.scalar.value, node->data.scalar.length);
    if (s == NULL) {
        shim_mf_oom(c);
        return NULL;
    }
    if (i < c->nscalars) {
        c->scalars[i] = s;
    }
    return s;
}

int shim_mf_bytes(struct shim_mf *c, const yaml_node_t *node, const char *path, char **out,
                  size_t *len)
{
    char buf[96];

    if (node->type != YAML_SCALAR_NODE || shim_mf_is_null(node)) {
        return shim_mf_fail(c, node, path, "expected a string, got %s",
                            shim_mf_described(node, buf, sizeof(buf)));
    }
    *out = scalar_text(c, node);
    *len = node->data.scalar.length;
    return *out == NULL ? -1 : 0;
}

int shim_mf_string(struct shim_mf *c, const yaml_node_t *node, const char *path, char **out)
{
    size_t len;

    if (shim_mf_bytes(c, node, path, out, &len) < 0) {
        return -1;
    }
    if (strlen(*out) != len) {
        return shim_mf_fail(c, node, path, "invalid value: contains a NUL character");
    }
    return 0;
}

int shim_mf_bool(struct shim_mf *c, const yaml_node_t *node, const char *path, bool *out)
{
    char buf[96];
    char why[64];

    if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        pk_conf_parse_bool((const char *)node->data.scalar.value, out, why, sizeof(why)) == 0) {
        return 0;
    }
    return shim_mf_fail(c, node, path, "expected true or false, got %s",
                        shim_mf_described(node, buf, sizeof(buf)));
}

int shim_mf_int(struct shim_mf *c, const yaml_node_t *node, const char *path, long long min,
                long long max, bool octal, long long *out)
{
    char buf[96];
    const char *text;
    long long v;
    int rc;

    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        shim_mf_is_null(node)) {
        return shim_mf_fail(c, node, path, "expected an integer, got %s",
                            shim_mf_described(node, buf, sizeof(buf)));
    }
    text = (const char *)node->data.scalar.value;
    rc = shim_mf_parse_int(text, &v);
    if (rc == -1) {
        return shim_mf_fail(c, node, path, "expected an integer, got %s",
                            shim_mf_described(node, buf, sizeof(buf)));
    }
    if (rc == -2 || v < min || v > max) {
        const char *shown = shim_mf_shown(text, buf, sizeof(buf));
        if (rc == -2 && !octal) {
            return shim_mf_fail(c, node, path,
                                "invalid value %s: out of range for a 64-bit integer", shown);
        }
        if (octal) {
            return shim_mf_fail(c, node, path,
                                "invalid value %s: must be a number between 0%llo and 0%llo "
                                "(octal), both inclusive",
                                shown, (unsigned long long)min, (unsigned long long)max);
        }
        if (max == LLONG_MAX) {
            return shim_mf_fail(c, node, path,
                                "invalid value %s: must be greater than or equal to %lld", shown,
                                min);
        }
        return shim_mf_fail(c, node, path,
                            "invalid value %s: must be between %lld and %lld, "
                            "inclusive",
                            shown, min, max);
    }
    *out = v;
    return 0;
}

int shim_mf_checked(struct shim_mf *c, shim_mf_check check, const yaml_node_t *node,
                    const char *path, const char *s)
{
    char why[256];
    char val[64];
    int rc = check(s, why, sizeof(why));

    if (rc == -2) {
        return shim_mf_fail(c, node, path, "required value");
    }
    if (rc < 0) {
        return shim_mf_fail(c, node, path, "invalid value \"%s\": %s",
                            shim_mf_shown(s, val, sizeof(val)), why);
    }
    return 0;
}

int shim_mf_choice(struct shim_mf *c, const yaml_node_t *node, const char *path,
                   const char *const *choices, const char *s)
{
    char why[256];
    char val[64];
    size_t n = 0;

    for (size_t i = 0; choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            return 0;
        }
    }
    for (size_t i = 0; choices[i] != NULL && n < sizeof(why); i++) {
        n += (size_t)snprintf(why + n, sizeof(why) - n, "%s\"%s\"", i > 0 ? ", " : "", choices[i]);
    }
    return shim_mf_fail(c, node, path, "unsupported value \"%s\": supported values: %s",
                        shim_mf_shown(s, val, sizeof(val)), why);
}

int shim_mf_required(struct shim_mf *c, const void *field, yaml_node_t *map, const char *path,
                     const char *name)
{
    char fpath[SHIM_MF_PATH_MAX];

    if (field != NULL) {
        return 0;
    }
    shim_mf_join(fpath, sizeof(fpath), path, name);
    return shim_mf_fail(c, map, fpath, "required value");
}

int shim_mf_strlist(struct shim_mf *c, const yaml_node_t *node, const char *path,
                    shim_mf_check check, char ***out, size_t *n)
{
    char ipath[SHIM_MF_PATH_MAX];
    char **v;

    if (shim_mf_seq(c, node, path, SHIM_MF_LIST_MAX, n) < 0 ||
        (v = shim_mf_array(c, *n + 1, sizeof(*v))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        yaml_node_t *item;
        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, node, i, ipath)) == NULL ||
            shim_mf_string(c, item, ipath, &v[i]) < 0) {
            return -1;
        }
        if (check != NULL && shim_mf_checked(c, check, item, ipath, v[i]) < 0) {
            return -1;
        }
    }
    *out = v;
    return 0;
}

int shim_mf_is_bool(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path)
{
    bool b;

    (void)obj;
    (void)key;
    return shim_mf_bool(c, value, path, &b);
}

int shim_mf_is_string(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    char *s;

    (void)obj;
    (void)key;
    return shim_mf_string(c, value, path, &s);
}
