/* shim_manifest_res.c — a container's resources: cpu and memory requests and limits as
 * numbers, checked and defaulted as the API server does. */
#include "shim_manifest_int.h"

#include <stdio.h>
#include <string.h>

enum { REQUESTS, LIMITS };
enum { CPU, MEMORY };

static const char *const resource_names[] = {"cpu", "memory"};

/* What resources holds while it is read; [REQUESTS or LIMITS][CPU or MEMORY]. */
struct resources_doc {
    uint64_t value[2][2]; /* millicores, bytes */
    char *text[2][2];     /* as written */
    yaml_node_t *node[2][2];
};

/* One quantity of requests or limits; "path[name]" in messages. */
static int read_quantity(struct shim_mf *c, struct resources_doc *doc, int which, int res,
                         yaml_node_t *key, yaml_node_t *value, const char *path)
{
    char why[256];
    char val[64];
    char *s;
    int rc;

    if (doc->node[which][res] != NULL) {
        return shim_mf_fail(c, key, path, "duplicate key");
    }
    if (shim_mf_string(c, value, path, &s) < 0) {
        return -1;
    }
    rc = res == CPU ? shim_mf_millis(s, &doc->value[which][res], why, sizeof(why))
                    : shim_mf_quantity(s, &doc->value[which][res], why, sizeof(why));
    if (rc < 0) {
        return shim_mf_fail(c, value, path, "invalid value \"%s\": %s",
                            shim_mf_shown(s, val, sizeof(val)), why);
    }
    doc->text[which][res] = s;
    doc->node[which][res] = value;
    return 0;
}

/* requests or limits (the key's name): a mapping of resource names to quantities. */
static int read_map(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path)
{
    struct resources_doc *doc = obj;
    int which = strcmp((const char *)key->data.scalar.value, "limits") == 0 ? LIMITS : REQUESTS;
    char kpath[SHIM_MF_PATH_MAX];
    char val[64];

    if (shim_mf_expect(c, value, path, "a mapping") < 0) {
        return -1;
    }
    if (shim_mf_is_empty(value)) {
        return shim_mf_note(c, key, path, "empty");
    }
    for (yaml_node_pair_t *p = value->data.mapping.pairs.start; p < value->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = shim_mf_node(c, p->key);
        yaml_node_t *v = shim_mf_node(c, p->value);
        int res = -1;
        char *name;

        if (k == NULL || v == NULL) {
            return shim_mf_fail(c, value, path, "broken mapping");
        }
        if (shim_mf_tick(c, k, path) < 0 || shim_mf_string(c, k, path, &name) < 0) {
            return -1;
        }
        shim_mf_key(kpath, sizeof(kpath), path, name);
        for (int r = 0; r < 2; r++) {
            res = strcmp(name, resource_names[r]) == 0 ? r : res;
        }
        if (res >= 0) {
            if (read_quantity(c, doc, which, res, k, v, kpath) < 0) {
                return -1;
            }
        } else if (strcmp(name, "ephemeral-storage") == 0 || strncmp(name, "hugepages-", 10) == 0) {
            return shim_mf_fail(c, k, kpath, "not supported yet");
        } else {
            return shim_mf_fail(c, k, kpath,
                                "unknown resource \"%s\": supported resources: \"cpu\", "
                                "\"memory\"",
                                shim_mf_shown(name, val, sizeof(val)));
        }
    }
    return 0;
}

static const struct shim_mf_field resources_fields[] = {
    {.name = "limits", .type = SHIM_MF_FUNC, .fn = read_map},
    {.name = "requests", .type = SHIM_MF_FUNC, .fn = read_map},
    {.name = "claims", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = NULL},
};

int shim_mf_resources(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    struct shim_resources *r = &((struct shim_container *)obj)->resources;
    struct resources_doc doc;
    char rpath[SHIM_MF_PATH_MAX];
    char kpath[SHIM_MF_PATH_MAX];
    char val[64], limit[64];

    if (value->type == YAML_MAPPING_NODE && shim_mf_is_empty(value)) {
        return shim_mf_note(c, key, path, "empty");
    }
    memset(&doc, 0, sizeof(doc));
    if (shim_mf_walk(c, value, path, resources_fields, &doc, NULL) < 0) {
        return -1;
    }
    for (int res = 0; res < 2; res++) {
        if (doc.node[LIMITS][res] == NULL) {
            continue;
        }
        if (doc.node[REQUESTS][res] == NULL) {
            /* A limit alone is also the request, as the API server defaults it. */
            doc.value[REQUESTS][res] = doc.value[LIMITS][res];
        } else if (doc.value[REQUESTS][res] > doc.value[LIMITS][res]) {
            shim_mf_join(rpath, sizeof(rpath), path, "requests");
            shim_mf_key(kpath, sizeof(kpath), rpath, resource_names[res]);
            return shim_mf_fail(c, doc.node[REQUESTS][res], kpath,
                                "invalid value \"%s\": must be less than or equal to %s limit of "
                                "%s",
                                shim_mf_shown(doc.text[REQUESTS][res], val, sizeof(val)),
                                resource_names[res],
                                shim_mf_shown(doc.text[LIMITS][res], limit, sizeof(limit)));
        }
    }
    r->cpu_request_millis = doc.value[REQUESTS][CPU];
    r->cpu_limit_millis = doc.value[LIMITS][CPU];
    r->memory_request = doc.value[REQUESTS][MEMORY];
    r->memory_limit = doc.value[LIMITS][MEMORY];
    r->set = doc.node[REQUESTS][CPU] != NULL || doc.node[REQUESTS][MEMORY] != NULL ||
             doc.node[LIMITS][CPU] != NULL || doc.node[LIMITS][MEMORY] != NULL;
    return 0;
}
