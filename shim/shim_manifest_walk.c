/* shim_manifest_walk.c — the table-driven walk of a manifest's mappings (known, noted,
 * not-yet-supported and unknown fields, with "did you mean"), and string sets. */
#include "pk_str.h"
#include "shim_manifest_int.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- the walk ---------------------------------------------------------------------- */

static int unknown_field(struct shim_mf *c, const yaml_node_t *key, const char *path,
                         const char *name, const struct shim_mf_field *fields)
{
    size_t len = strlen(name);
    size_t best_d = (len < 6 ? 1 : len < 12 ? 2 : 3) + 1; /* suggest only close names */
    const char *best = NULL;
    char val[64];

    for (const struct shim_mf_field *f = fields; f->name != NULL; f++) {
        size_t d = pk_edit_distance(name, f->name, true);
        if (d < best_d) {
            best_d = d;
            best = f->name;
        }
    }
    shim_mf_shown(name, val, sizeof(val));
    if (best != NULL) {
        return shim_mf_fail(c, key, path, "unknown field \"%s\" (did you mean \"%s\"?)", val, best);
    }
    return shim_mf_fail(c, key, path, "unknown field \"%s\"", val);
}

/* Reads one field whose value is not null. */
static int read_field(struct shim_mf *c, const struct shim_mf_field *f, void *obj, yaml_node_t *key,
                      yaml_node_t *value, const char *path)
{
    char *base = obj;
    long long ll;
    bool b;
    char *s;

    switch (f->type) {
    case SHIM_MF_STRING:
        if (shim_mf_string(c, value, path, &s) < 0 ||
            (f->check != NULL && shim_mf_checked(c, f->check, value, path, s) < 0) ||
            (f->choices != NULL && shim_mf_choice(c, value, path, f->choices, s) < 0)) {
            return -1;
        }
        *(char **)(base + f->off) = s;
        return 0;
    case SHIM_MF_BOOL:
        return shim_mf_bool(c, value, path, (bool *)(base + f->off));
    case SHIM_MF_INT:
    case SHIM_MF_INT64:
        if (shim_mf_int(c, value, path, f->min, f->max, f->octal, &ll) < 0) {
            return -1;
        }
        if (f->type == SHIM_MF_INT) {
            *(int *)(base + f->off) = (int)ll;
        } else {
            *(long long *)(base + f->off) = ll;
        }
        return 0;
    case SHIM_MF_STRLIST:
        return shim_mf_strlist(c, value, path, f->check, (char ***)(base + f->off),
                               (size_t *)(base + f->off2));
    case SHIM_MF_FUNC:
        return f->fn(c, base + f->off, key, value, path);
    case SHIM_MF_DONE:
        return 0;
    case SHIM_MF_NOTE:
        if (f->fn != NULL && f->fn(c, base + f->off, key, value, path) < 0) {
            return -1;
        }
        if (f->choices != NULL && (shim_mf_string(c, value, path, &s) < 0 ||
                                   shim_mf_choice(c, value, path, f->choices, s) < 0)) {
            return -1;
        }
        return shim_mf_note(c, key, path, f->why);
    case SHIM_MF_UNSUPPORTED_EMPTY:
        if (shim_mf_is_empty(value)) {
            return shim_mf_note(c, key, path, f->why != NULL ? f->why : "empty");
        }
        break;
    case SHIM_MF_UNSUPPORTED_FALSE:
        if (shim_mf_bool(c, value, path, &b) < 0) {
            return -1;
        }
        if (!b) {
            return shim_mf_note(c, key, path, "false is the default");
        }
        break;
    case SHIM_MF_UNSUPPORTED:
        break;
    }
    return shim_mf_fail(c, key, path, "not supported yet");
}

int shim_mf_walk(struct shim_mf *c, yaml_node_t *map, const char *path,
                 const struct shim_mf_field *fields, void *obj, uint64_t *given)
{
    uint64_t seen = 0;
    char kpath[SHIM_MF_PATH_MAX];
    char buf[96];

    if (given != NULL) {
        *given = 0;
    }
    if (shim_mf_expect(c, map, path, "a mapping") < 0) {
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = shim_mf_node(c, p->key);
        yaml_node_t *value = shim_mf_node(c, p->value);
        const struct shim_mf_field *f = fields;
        const char *name;

        if (key == NULL || value == NULL) {
            return shim_mf_fail(c, map, path, "broken mapping");
        }
        if (shim_mf_tick(c, key, path) < 0) {
            return -1;
        }
        name = (const char *)key->data.scalar.value;
        if (key->type != YAML_SCALAR_NODE || strlen(name) != key->data.scalar.length) {
            return shim_mf_fail(c, key, path, "a field name must be a string, not %s",
                                key->type != YAML_SCALAR_NODE
                                    ? shim_mf_described(key, buf, sizeof(buf))
                                    : "one with a NUL character");
        }
        shim_mf_join(kpath, sizeof(kpath), path, name);
        while (f->name != NULL && strcmp(f->name, name) != 0) {
            f++;
        }
        if (f->name == NULL) {
            if (strcmp(name, "<<") == 0) {
                return shim_mf_fail(c, key, kpath, "YAML merge keys are not supported");
            }
            return unknown_field(c, key, kpath, name, fields);
        }
        uint64_t bit = UINT64_C(1) << (f - fields);
        if (seen & bit) {
            return shim_mf_fail(c, key, kpath, "duplicate key");
        }
        seen |= bit;
        if (shim_mf_is_null(value)) {
            continue; /* null is "not given" */
        }
        if (given != NULL) {
            *given |= bit;
        }
        if (read_field(c, f, obj, key, value, kpath) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- string sets ------------------------------------------------------------------- */

static size_t hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return (size_t)h;
}

int shim_mf_set_add(struct shim_mf *c, struct shim_mf_set *s, const char *key, size_t val,
                    size_t *old)
{
    size_t i;

    if ((s->n + 1) * 2 > s->cap) {
        struct shim_mf_set bigger = {NULL, NULL, s->cap == 0 ? 16 : s->cap * 2, 0};
        bigger.keys = shim_mf_array(c, bigger.cap, sizeof(*bigger.keys));
        bigger.vals = shim_mf_array(c, bigger.cap, sizeof(*bigger.vals));
        if (bigger.keys == NULL || bigger.vals == NULL) {
            return -1;
        }
        for (size_t j = 0; j < s->cap; j++) {
            if (s->keys[j] != NULL) {
                for (i = hash(s->keys[j]) & (bigger.cap - 1); bigger.keys[i] != NULL;
                     i = (i + 1) & (bigger.cap - 1)) {
                }
                bigger.keys[i] = s->keys[j];
                bigger.vals[i] = s->vals[j];
            }
        }
        bigger.n = s->n;
        *s = bigger;
    }
    for (i = hash(key) & (s->cap - 1); s->keys[i] != NULL; i = (i + 1) & (s->cap - 1)) {
        if (strcmp(s->keys[i], key) == 0) {
            if (old != NULL) {
                *old = s->vals[i];
            }
            return 1;
        }
    }
    s->keys[i] = key;
    s->vals[i] = val;
    s->n++;
    return 0;
}
