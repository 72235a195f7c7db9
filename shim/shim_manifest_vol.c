/* shim_manifest_vol.c — a Pod's volumes (emptyDir, hostPath, configMap, secret) and its
 * hostAliases. */
#include "shim_manifest_int.h"

#include <stdio.h>
#include <string.h>

/* ---- emptyDir and hostPath ------------------------------------------------------------- */

static int read_medium(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    static const char *const media[] = {"", "Memory", NULL};
    struct shim_volume *vol = obj;
    char *s;

    (void)key;
    if (shim_mf_string(c, value, path, &s) < 0) {
        return -1;
    }
    if (strncmp(s, "HugePages", 9) == 0) {
        return shim_mf_fail(c, value, path, "\"%s\" is not supported yet", s);
    }
    vol->memory = strcmp(s, "Memory") == 0;
    return shim_mf_choice(c, value, path, media, s);
}

static int read_size_limit(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                           const char *path)
{
    struct shim_volume *vol = obj;
    char why[256];
    char val[64];
    char *s;

    (void)key;
    if (shim_mf_string(c, value, path, &s) < 0) {
        return -1;
    }
    if (shim_mf_quantity(s, &vol->size_limit, why, sizeof(why)) < 0) {
        return shim_mf_fail(c, value, path, "invalid value \"%s\": %s",
                            shim_mf_shown(s, val, sizeof(val)), why);
    }
    return 0;
}

static const struct shim_mf_field empty_dir_fields[] = {
    {.name = "medium", .type = SHIM_MF_FUNC, .fn = read_medium},
    {.name = "sizeLimit", .type = SHIM_MF_FUNC, .fn = read_size_limit},
    {.name = NULL},
};

static const char *const host_path_types[] = {
    "",       "DirectoryOrCreate", "Directory",   "FileOrCreate", "File",
    "Socket", "CharDevice",        "BlockDevice", NULL,
};

static const struct shim_mf_field host_path_fields[] = {
    {.name = "path",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_volume, path),
     .check = shim_mf_check_host_path},
    {.name = "type",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_volume, host_type),
     .choices = host_path_types},
    {.name = NULL},
};

/* ---- configMap and secret ------------------------------------------------------------ */

static const struct shim_mf_field item_fields[] = {
    {.name = "key",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_key_path, key),
     .check = shim_mf_check_config_key},
    {.name = "path",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_key_path, path),
     .check = shim_mf_check_item_path},
    {.name = "mode",
     .type = SHIM_MF_INT,
     .off = offsetof(struct shim_key_path, mode),
     .min = 0,
     .max = 0777,
     .octal = true},
    {.name = NULL},
};

static int read_items(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    struct shim_volume *vol = obj;
    char ipath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &vol->nitems) < 0 ||
        (vol->items = shim_mf_array(c, vol->nitems, sizeof(*vol->items))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < vol->nitems; i++) {
        struct shim_key_path *item = &vol->items[i];
        yaml_node_t *node;

        item->mode = -1;
        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((node = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, node, ipath, item_fields, item, NULL) < 0 ||
            shim_mf_required(c, item->key, node, ipath, "key") < 0 ||
            shim_mf_required(c, item->path, node, ipath, "path") < 0) {
            return -1;
        }
    }
    return 0;
}

#define OBJECT_FIELDS                                                                              \
    {.name = "items", .type = SHIM_MF_FUNC, .fn = read_items},                                     \
        {.name = "defaultMode",                                                                    \
         .type = SHIM_MF_INT,                                                                      \
         .off = offsetof(struct shim_volume, default_mode),                                        \
         .min = 0,                                                                                 \
         .max = 0777,                                                                              \
         .octal = true},                                                                           \
    {                                                                                              \
        .name = "optional", .type = SHIM_MF_BOOL, .off = offsetof(struct shim_volume, optional)    \
    }

static const struct shim_mf_field configmap_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_volume, source_name),
     .check = shim_mf_check_subdomain},
    OBJECT_FIELDS,
    {.name = NULL},
};

static const struct shim_mf_field secret_fields[] = {
    {.name = "secretName",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_volume, source_name),
     .check = shim_mf_check_subdomain},
    OBJECT_FIELDS,
    {.name = NULL},
};

/* ---- volumes ------------------------------------------------------------------------- */

/* One volume source: emptyDir, hostPath, configMap or secret. */
static int read_source(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    struct shim_volume *vol = obj;
    const char *type = (const char *)key->data.scalar.value;

    if (c->nsources++ > 0) {
        return shim_mf_fail(c, key, path, "may not specify more than 1 volume type");
    }
    if (strcmp(type, "emptyDir") == 0) {
        vol->type = SHIM_VOL_EMPTYDIR;
        return shim_mf_walk(c, value, path, empty_dir_fields, vol, NULL);
    }
    if (strcmp(type, "hostPath") == 0) {
        vol->type = SHIM_VOL_HOSTPATH;
        return shim_mf_walk(c, value, path, host_path_fields, vol, NULL) < 0
                   ? -1
                   : shim_mf_required(c, vol->path, value, path, "path");
    }
    if (strcmp(type, "configMap") == 0) {
        vol->type = SHIM_VOL_CONFIGMAP;
        return shim_mf_walk(c, value, path, configmap_fields, vol, NULL) < 0
                   ? -1
                   : shim_mf_required(c, vol->source_name, value, path, "name");
    }
    vol->type = SHIM_VOL_SECRET;
    return shim_mf_walk(c, value, path, secret_fields, vol, NULL) < 0
               ? -1
               : shim_mf_required(c, vol->source_name, value, path, "secretName");
}

static const struct shim_mf_field volume_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_volume, name),
     .check = shim_mf_check_label},
    {.name = "emptyDir", .type = SHIM_MF_FUNC, .fn = read_source},
    {.name = "hostPath", .type = SHIM_MF_FUNC, .fn = read_source},
    {.name = "configMap", .type = SHIM_MF_FUNC, .fn = read_source},
    {.name = "secret", .type = SHIM_MF_FUNC, .fn = read_source},
    {.name = "persistentVolumeClaim", .type = SHIM_MF_UNSUPPORTED},
    {.name = "projected", .type = SHIM_MF_UNSUPPORTED},
    {.name = "downwardAPI", .type = SHIM_MF_UNSUPPORTED},
    {.name = "ephemeral", .type = SHIM_MF_UNSUPPORTED},
    {.name = "image", .type = SHIM_MF_UNSUPPORTED},
    {.name = "csi", .type = SHIM_MF_UNSUPPORTED},
    {.name = "nfs", .type = SHIM_MF_UNSUPPORTED},
    {.name = "iscsi", .type = SHIM_MF_UNSUPPORTED},
    {.name = "gitRepo", .type = SHIM_MF_UNSUPPORTED},
    {.name = "gcePersistentDisk", .type = SHIM_MF_UNSUPPORTED},
    {.name = "awsElasticBlockStore", .type = SHIM_MF_UNSUPPORTED},
    {.name = "azureDisk", .type = SHIM_MF_UNSUPPORTED},
    {.name = "azureFile", .type = SHIM_MF_UNSUPPORTED},
    {.name = "cephfs", .type = SHIM_MF_UNSUPPORTED},
    {.name = "cinder", .type = SHIM_MF_UNSUPPORTED},
    {.name = "fc", .type = SHIM_MF_UNSUPPORTED},
    {.name = "flexVolume", .type = SHIM_MF_UNSUPPORTED},
    {.name = "flocker", .type = SHIM_MF_UNSUPPORTED},
    {.name = "glusterfs", .type = SHIM_MF_UNSUPPORTED},
    {.name = "photonPersistentDisk", .type = SHIM_MF_UNSUPPORTED},
    {.name = "portworxVolume", .type = SHIM_MF_UNSUPPORTED},
    {.name = "quobyte", .type = SHIM_MF_UNSUPPORTED},
    {.name = "rbd", .type = SHIM_MF_UNSUPPORTED},
    {.name = "scaleIO", .type = SHIM_MF_UNSUPPORTED},
    {.name = "storageos", .type = SHIM_MF_UNSUPPORTED},
    {.name = "vsphereVolume", .type = SHIM_MF_UNSUPPORTED},
    {.name = NULL},
};

int shim_mf_volumes(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path)
{
    struct shim_pod *pod = obj;
    struct shim_mf_set names = {0};
    char ipath[SHIM_MF_PATH_MAX];
    char fpath[SHIM_MF_PATH_MAX];
    size_t n;

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_VOLUMES_MAX, &n) < 0 ||
        (pod->volumes = shim_mf_array(c, n, sizeof(*pod->volumes))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct shim_volume *vol = &pod->volumes[i];
        yaml_node_t *item;
        int rc;

        vol->default_mode = 0644;
        vol->host_type = "";
        c->nsources = 0;
        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, volume_fields, vol, NULL) < 0 ||
            shim_mf_required(c, vol->name, item, ipath, "name") < 0) {
            return -1;
        }
        if ((rc = shim_mf_set_add(c, &names, vol->name, 0, NULL)) != 0) {
            shim_mf_join(fpath, sizeof(fpath), ipath, "name");
            return rc < 0 ? -1
                          : shim_mf_fail(c, shim_mf_get(c, item, "name", NULL), fpath,
                                         "duplicate value \"%s\"", vol->name);
        }
        if (c->nsources == 0) {
            return shim_mf_fail(c, item, ipath, "must specify a volume type");
        }
        vol->mark = shim_mf_mark(c, item);
        pod->nvolumes = i + 1;
    }
    return 0;
}

/* ---- hostAliases --------------------------------------------------------------------- */

static const struct shim_mf_field host_alias_fields[] = {
    {.name = "ip",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_host_alias, ip),
     .check = shim_mf_check_ip},
    {.name = "hostnames",
     .type = SHIM_MF_STRLIST,
     .off = offsetof(struct shim_host_alias, hostnames),
     .off2 = offsetof(struct shim_host_alias, nhostnames),
     .check = shim_mf_check_subdomain},
    {.name = NULL},
};

int shim_mf_host_aliases(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                         const char *path)
{
    struct shim_pod *pod = obj;
    char ipath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &pod->nhost_aliases) < 0 ||
        (pod->host_aliases = shim_mf_array(c, pod->nhost_aliases, sizeof(*pod->host_aliases))) ==
            NULL) {
        return -1;
    }
    for (size_t i = 0; i < pod->nhost_aliases; i++) {
        struct shim_host_alias *alias = &pod->host_aliases[i];
        yaml_node_t *item;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, host_alias_fields, alias, NULL) < 0 ||
            shim_mf_required(c, alias->ip, item, ipath, "ip") < 0) {
            return -1;
        }
        if (alias->hostnames == NULL &&
            (alias->hostnames = shim_mf_array(c, 1, sizeof(*alias->hostnames))) == NULL) {
            return -1;
        }
    }
    return 0;
}
