/* shim_manifest_data.c — metadata, mappings of strings (labels, annotations, data) and the
 * ConfigMap and Secret documents of a manifest. */
#include "shim_manifest_int.h"

#include <stdio.h>
#include <string.h>

#define SET_BY_SERVER "set by the API server"

/* ---- metadata ---------------------------------------------------------------------- */

static int read_uid(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path)
{
    struct shim_mf_meta *meta = obj;

    if (c->kind != SHIM_MF_POD) {
        return shim_mf_is_string(c, obj, key, value, path) < 0
                   ? -1
                   : shim_mf_note(c, key, path, SET_BY_SERVER);
    }
    /* podshim names directories after the uid: it must be safe in a path. */
    if (shim_mf_string(c, value, path, &meta->uid) < 0 ||
        shim_mf_checked(c, shim_mf_check_uid, value, path, meta->uid) < 0) {
        return -1;
    }
    return 0;
}

static int read_labels(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    struct shim_mf_meta *meta = obj;
    struct shim_mf_map how = {.key_check = shim_mf_check_qualified_name,
                              .value_check = shim_mf_check_label_value};

    (void)key;
    return shim_mf_strmap(c, value, path, &how, &meta->labels, &meta->nlabels);
}

static int read_annotations(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                            const char *path)
{
    struct shim_mf_meta *meta = obj;
    size_t total = 0;
    struct shim_mf_map how = {.key_check = shim_mf_check_qualified_name,
                              .total = &total,
                              .max_total = SHIM_MF_ANNOTATIONS_MAX};

    (void)key;
    return shim_mf_strmap(c, value, path, &how, &meta->annotations, &meta->nannotations);
}

static const struct shim_mf_field meta_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_mf_meta, name),
     .check = shim_mf_check_subdomain},
    {.name = "namespace",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_mf_meta, namespace),
     .check = shim_mf_check_label},
    {.name = "uid", .type = SHIM_MF_FUNC, .fn = read_uid},
    {.name = "labels", .type = SHIM_MF_FUNC, .fn = read_labels},
    {.name = "annotations", .type = SHIM_MF_FUNC, .fn = read_annotations},
    {.name = "generateName", .type = SHIM_MF_UNSUPPORTED},
    {.name = "ownerReferences", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "finalizers", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "creationTimestamp", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = "resourceVersion", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = "generation", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = "managedFields", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = "selfLink", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = "deletionTimestamp", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = "deletionGracePeriodSeconds", .type = SHIM_MF_NOTE, .why = SET_BY_SERVER},
    {.name = NULL},
};

int shim_mf_meta(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                 const char *path)
{
    (void)key;
    return shim_mf_walk(c, value, path, meta_fields, obj, NULL);
}

int shim_mf_strmap(struct shim_mf *c, const yaml_node_t *node, const char *path,
                   const struct shim_mf_map *how, struct shim_kv **out, size_t *n)
{
    struct shim_mf_set own = {0};
    struct shim_mf_set *set = how->set != NULL ? how->set : &own;
    char kpath[SHIM_MF_PATH_MAX];
    char why[256];
    char val[64];
    struct shim_kv *kv;
    size_t i = 0;

    if (shim_mf_expect(c, node, path, "a mapping") < 0) {
        return -1;
    }
    *n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if ((kv = shim_mf_array(c, *n, sizeof(*kv))) == NULL) {
        return -1;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++, i++) {
        yaml_node_t *key = shim_mf_node(c, p->key);
        yaml_node_t *value = shim_mf_node(c, p->value);
        size_t old;
        int rc;

        if (key == NULL || value == NULL) {
            return shim_mf_fail(c, node, path, "broken mapping");
        }
        if (shim_mf_tick(c, key, path) < 0 || shim_mf_string(c, key, path, &kv[i].key) < 0) {
            return -1;
        }
        shim_mf_key(kpath, sizeof(kpath), path, kv[i].key);
        if (how->key_check != NULL && (rc = how->key_check(kv[i].key, why, sizeof(why))) < 0) {
            return shim_mf_fail(c, key, path, "invalid key \"%s\": %s",
                                shim_mf_shown(kv[i].key, val, sizeof(val)),
                                rc == -2 ? "must not be empty" : why);
        }
        if ((rc = shim_mf_set_add(c, set, kv[i].key, how->id, &old)) != 0) {
            if (rc < 0 || old == how->id) {
                return rc < 0 ? -1 : shim_mf_fail(c, key, kpath, "duplicate key");
            }
            return shim_mf_fail(c, key, kpath, "duplicate of key present in %s", how->names[old]);
        }
        if (shim_mf_is_null(value)) {
            kv[i].value = "";
        } else if (how->base64) {
            unsigned char *bytes;
            size_t len, bad;
            if (shim_mf_bytes(c, value, kpath, &kv[i].value, &len) < 0 ||
                (bytes = shim_mf_array(c, len / 4 * 3 + 4, 1)) == NULL) {
                return -1;
            }
            if (shim_mf_base64(kv[i].value, len, bytes, &kv[i].value_len, &bad) < 0) {
                return shim_mf_fail(c, value, kpath,
                                    "invalid value: illegal base64 data at input byte %zu", bad);
            }
            kv[i].value = (char *)bytes; /* zeroed by the arena: NUL-terminated */
        } else if (how->bytes) {
            if (shim_mf_bytes(c, value, kpath, &kv[i].value, &kv[i].value_len) < 0) {
                return -1;
            }
        } else {
            if (shim_mf_string(c, value, kpath, &kv[i].value) < 0 ||
                (how->value_check != NULL &&
                 shim_mf_checked(c, how->value_check, value, kpath, kv[i].value) < 0)) {
                return -1;
            }
            kv[i].value_len = strlen(kv[i].value);
        }
        if (how->total != NULL) {
            *how->total += strlen(kv[i].key) + kv[i].value_len;
            if (*how->total > how->max_total) {
                return shim_mf_fail(c, value, kpath, "too long: must have at most %zu bytes",
                                    how->max_total);
            }
        }
    }
    *out = kv;
    return 0;
}

/* ---- ConfigMap --------------------------------------------------------------------- */

struct configmap_doc {
    struct shim_mf_meta meta;
    struct shim_mf_set keys; /* of data and binaryData: a key may be in one only */
    size_t total;
    struct shim_kv *data[2]; /* data, binaryData */
    size_t ndata[2];
};

static const char *const configmap_maps[] = {"data", "binaryData"};

static int read_configmap_data(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                               const char *path)
{
    struct configmap_doc *doc = obj;
    size_t id = strcmp((const char *)key->data.scalar.value, "data") == 0 ? 0 : 1;
    struct shim_mf_map how = {.key_check = shim_mf_check_config_key,
                              .bytes = id == 0,
                              .base64 = id == 1,
                              .total = &doc->total,
                              .max_total = SHIM_MF_DATA_MAX,
                              .set = &doc->keys,
                              .id = id,
                              .names = configmap_maps};

    return shim_mf_strmap(c, value, path, &how, &doc->data[id], &doc->ndata[id]);
}

static const struct shim_mf_field configmap_fields[] = {
    {.name = "apiVersion", .type = SHIM_MF_DONE},
    {.name = "kind", .type = SHIM_MF_DONE},
    {.name = "metadata", .type = SHIM_MF_FUNC, .fn = shim_mf_meta},
    {.name = "data", .type = SHIM_MF_FUNC, .fn = read_configmap_data},
    {.name = "binaryData", .type = SHIM_MF_FUNC, .fn = read_configmap_data},
    {.name = "immutable", .type = SHIM_MF_FUNC, .fn = shim_mf_is_bool},
    {.name = NULL},
};

/* The metadata.name every object needs; its position becomes the object's mark. */
int shim_mf_need_name(struct shim_mf *c, yaml_node_t *root, const struct shim_mf_meta *meta,
                      struct shim_mark *mark)
{
    yaml_node_t *md = shim_mf_get(c, root, "metadata", NULL);
    yaml_node_t *name = md != NULL ? shim_mf_get(c, md, "name", NULL) : NULL;

    if (meta->name == NULL) {
        return shim_mf_fail(c, md != NULL && !shim_mf_is_null(md) ? md : root, "metadata.name",
                            "required value");
    }
    *mark = shim_mf_mark(c, name != NULL ? name : root);
    return 0;
}

int shim_mf_configmap(struct shim_mf *c, yaml_node_t *root)
{
    struct shim_manifest *m = c->m;
    struct configmap_doc doc;
    struct shim_configmap *cm;
    struct shim_mark mark;

    memset(&doc, 0, sizeof(doc));
    if (shim_mf_walk(c, root, "", configmap_fields, &doc, NULL) < 0 ||
        shim_mf_need_name(c, root, &doc.meta, &mark) < 0 ||
        shim_mf_grow(c, (void **)&m->configmaps, &c->configmaps_cap, m->nconfigmaps,
                     sizeof(*m->configmaps)) < 0) {
        return -1;
    }
    cm = &m->configmaps[m->nconfigmaps];
    cm->ndata = doc.ndata[0] + doc.ndata[1];
    if ((cm->data = shim_mf_array(c, cm->ndata, sizeof(*cm->data))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < doc.ndata[0]; i++) {
        cm->data[i] = doc.data[0][i];
    }
    for (size_t i = 0; i < doc.ndata[1]; i++) {
        cm->data[doc.ndata[0] + i] = doc.data[1][i];
    }
    cm->name = doc.meta.name;
    cm->namespace = doc.meta.namespace;
    cm->mark = mark;
    m->nconfigmaps++;
    return 0;
}

/* ---- Secret ------------------------------------------------------------------------ */

struct secret_doc {
    struct shim_mf_meta meta;
    char *type;
    size_t total;
    struct shim_mf_set keys[2]; /* data, stringData: the same key may be in both */
    struct shim_kv *data[2];
    size_t ndata[2];
};

static const char *const secret_maps[] = {"data", "stringData"};

static int read_secret_data(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                            const char *path)
{
    struct secret_doc *doc = obj;
    size_t id = strcmp((const char *)key->data.scalar.value, "data") == 0 ? 0 : 1;
    struct shim_mf_map how = {.key_check = shim_mf_check_config_key,
                              .bytes = id == 1,
                              .base64 = id == 0,
                              .total = &doc->total,
                              .max_total = SHIM_MF_DATA_MAX,
                              .set = &doc->keys[id],
                              .id = id,
                              .names = secret_maps};

    return shim_mf_strmap(c, value, path, &how, &doc->data[id], &doc->ndata[id]);
}

static const struct shim_mf_field secret_fields[] = {
    {.name = "apiVersion", .type = SHIM_MF_DONE},
    {.name = "kind", .type = SHIM_MF_DONE},
    {.name = "metadata", .type = SHIM_MF_FUNC, .fn = shim_mf_meta},
    {.name = "data", .type = SHIM_MF_FUNC, .fn = read_secret_data},
    {.name = "stringData", .type = SHIM_MF_FUNC, .fn = read_secret_data},
    {.name = "type", .type = SHIM_MF_STRING, .off = offsetof(struct secret_doc, type)},
    {.name = "immutable", .type = SHIM_MF_FUNC, .fn = shim_mf_is_bool},
    {.name = NULL},
};

/* The keys the API server requires in Secrets of the well-known types. */
static int check_type(struct shim_mf *c, yaml_node_t *root, const struct shim_secret *s)
{
    static const struct {
        const char *type;
        const char *keys[2];
    } types[] = {
        {"kubernetes.io/tls", {"tls.crt", "tls.key"}},
        {"kubernetes.io/ssh-auth", {"ssh-privatekey", NULL}},
        {"kubernetes.io/dockercfg", {".dockercfg", NULL}},
        {"kubernetes.io/dockerconfigjson", {".dockerconfigjson", NULL}},
    };
    char path[SHIM_MF_PATH_MAX];

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        if (strcmp(s->type, types[t].type) != 0) {
            continue;
        }
        for (size_t k = 0; k < 2 && types[t].keys[k] != NULL; k++) {
            bool found = false;
            for (size_t i = 0; i < s->ndata && !found; i++) {
                found = strcmp(s->data[i].key, types[t].keys[k]) == 0;
            }
            if (!found) {
                shim_mf_key(path, sizeof(path), "data", types[t].keys[k]);
                return shim_mf_fail(c, root, path, "required value (for type %s)", s->type);
            }
        }
    }
    return 0;
}

int shim_mf_secret(struct shim_mf *c, yaml_node_t *root)
{
    struct shim_manifest *m = c->m;
    struct secret_doc doc;
    struct shim_secret *s;
    struct shim_mark mark;

    memset(&doc, 0, sizeof(doc));
    if (shim_mf_walk(c, root, "", secret_fields, &doc, NULL) < 0 ||
        shim_mf_need_name(c, root, &doc.meta, &mark) < 0 ||
        shim_mf_grow(c, (void **)&m->secrets, &c->secrets_cap, m->nsecrets, sizeof(*m->secrets)) <
            0) {
        return -1;
    }
    s = &m->secrets[m->nsecrets];
    if ((s->data = shim_mf_array(c, doc.ndata[0] + doc.ndata[1], sizeof(*s->data))) == NULL) {
        return -1;
    }
    /* stringData wins over data for the same key, as the API server merges them. */
    for (size_t i = 0; i < doc.ndata[0]; i++) {
        int rc = shim_mf_set_add(c, &doc.keys[1], doc.data[0][i].key, 1, NULL);
        if (rc < 0) {
            return -1;
        }
        if (rc == 0) {
            s->data[s->ndata++] = doc.data[0][i];
        }
    }
    for (size_t i = 0; i < doc.ndata[1]; i++) {
        s->data[s->ndata++] = doc.data[1][i];
    }
    s->name = doc.meta.name;
    s->namespace = doc.meta.namespace;
    s->type = doc.type != NULL && doc.type[0] != '\0' ? doc.type : "Opaque";
    s->mark = mark;
    if (check_type(c, root, s) < 0) {
        return -1;
    }
    m->nsecrets++;
    return 0;
}
