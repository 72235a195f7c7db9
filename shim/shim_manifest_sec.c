/* shim_manifest_sec.c — the securityContext of a Pod and of its containers: users, groups,
 * privileges and capabilities, checked as the API server does; seccomp and AppArmor noted. */
#include "shim_manifest_int.h"
#include "shim_security.h"

#include <stdio.h>
#include <string.h>

#define ID_MAX 2147483647 /* user and group ids: the API server's IsValidUserID/GroupID */
#define PROFILE_WHY "podshim applies no seccomp/AppArmor profile"

void shim_mf_security_init(struct shim_security_context *sc)
{
    sc->run_as_user = -1;
    sc->run_as_group = -1;
    sc->run_as_non_root = -1;
    sc->read_only_root_fs = -1;
    sc->allow_privilege_escalation = -1;
    sc->privileged = -1;
}

/* A boolean into an int (obj) that is -1 while not given. */
static int read_tristate(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                         const char *path)
{
    bool b;

    (void)key;
    if (shim_mf_bool(c, value, path, &b) < 0) {
        return -1;
    }
    *(int *)obj = b ? 1 : 0;
    return 0;
}

static int read_groups(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    struct shim_security_context *sc = obj;
    char ipath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &sc->nsupplemental_groups) < 0 ||
        (sc->supplemental_groups = shim_mf_array(c, sc->nsupplemental_groups,
                                                 sizeof(*sc->supplemental_groups))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sc->nsupplemental_groups; i++) {
        yaml_node_t *item;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_int(c, item, ipath, 0, ID_MAX, false, &sc->supplemental_groups[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- capabilities ---------------------------------------------------------------------- */

/* "NET_ADMIN" or "CAP_NET_ADMIN" (Kubernetes passes either on), or "ALL". The names are the
 * runtime's (shim_security.c), so that what parses can be applied. */
static int check_capability(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    if (strcmp(s, "ALL") == 0) {
        return 0;
    }
    if (strcmp(s, "CAP_ALL") == 0) {
        return shim_mf_why(why, whysz, "ALL is written without \"CAP_\"");
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && *p != '_') {
            return shim_mf_why(why, whysz,
                               "a capability must consist of upper case letters, digits and "
                               "'_' (such as NET_ADMIN or CAP_NET_ADMIN), or be ALL");
        }
    }
    if (shim_security_cap_number(s) >= 0) {
        return 0;
    }
    snprintf(why, whysz, "unknown capability \"%s\"", strncmp(s, "CAP_", 4) == 0 ? s + 4 : s);
    return -1;
}

static const struct shim_mf_field capabilities_fields[] = {
    {.name = "add",
     .type = SHIM_MF_STRLIST,
     .off = offsetof(struct shim_security_context, cap_add),
     .off2 = offsetof(struct shim_security_context, ncap_add),
     .check = check_capability},
    {.name = "drop",
     .type = SHIM_MF_STRLIST,
     .off = offsetof(struct shim_security_context, cap_drop),
     .off2 = offsetof(struct shim_security_context, ncap_drop),
     .check = check_capability},
    {.name = NULL},
};

/* Capabilities are kept without their "CAP_" prefix: the strings stay, the pointers move. */
static void strip_prefixes(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strncmp(v[i], "CAP_", 4) == 0) {
            v[i] += 4;
        }
    }
}

static int read_capabilities(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                             const char *path)
{
    struct shim_security_context *sc = obj;

    if (value->type == YAML_MAPPING_NODE && shim_mf_is_empty(value)) {
        return shim_mf_note(c, key, path, "empty");
    }
    if (shim_mf_walk(c, value, path, capabilities_fields, sc, NULL) < 0) {
        return -1;
    }
    strip_prefixes(sc->cap_add, sc->ncap_add);
    strip_prefixes(sc->cap_drop, sc->ncap_drop);
    return 0;
}

/* ---- seccomp, AppArmor, procMount: accepted where they change nothing -------------------- */

struct profile {
    char *type;
    char *localhost_profile;
};

static const struct shim_mf_field profile_fields[] = {
    {.name = "type", .type = SHIM_MF_STRING, .off = offsetof(struct profile, type)},
    {.name = "localhostProfile",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct profile, localhost_profile)},
    {.name = NULL},
};

/* seccompProfile or appArmorProfile (the key's name). */
static int read_profile(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                        const char *path)
{
    static const char *const types[] = {"Localhost", "RuntimeDefault", "Unconfined", NULL};
    const char *what = strcmp((const char *)key->data.scalar.value, "seccompProfile") == 0
                           ? "seccomp"
                           : "AppArmor";
    char fpath[SHIM_MF_PATH_MAX];
    char val[64];
    struct profile p = {NULL, NULL};
    yaml_node_t *node;

    (void)obj;
    if (shim_mf_walk(c, value, path, profile_fields, &p, NULL) < 0 ||
        shim_mf_required(c, p.type, value, path, "type") < 0) {
        return -1;
    }
    node = shim_mf_get(c, value, "type", NULL);
    shim_mf_join(fpath, sizeof(fpath), path, "type");
    if (shim_mf_choice(c, node, fpath, types, p.type) < 0) {
        return -1;
    }
    if (strcmp(p.type, "Localhost") == 0) {
        return shim_mf_fail(c, node, fpath, "\"Localhost\" is not supported yet");
    }
    if (p.localhost_profile != NULL) {
        shim_mf_join(fpath, sizeof(fpath), path, "localhostProfile");
        return shim_mf_fail(c, shim_mf_get(c, value, "localhostProfile", NULL), fpath,
                            "invalid value \"%s\": can only be set when %s type is Localhost",
                            shim_mf_shown(p.localhost_profile, val, sizeof(val)), what);
    }
    return shim_mf_note(c, key, path, PROFILE_WHY);
}

static int read_proc_mount(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                           const char *path)
{
    static const char *const types[] = {"Default", "Unmasked", NULL};
    char *s;

    (void)obj;
    if (shim_mf_string(c, value, path, &s) < 0 || shim_mf_choice(c, value, path, types, s) < 0) {
        return -1;
    }
    if (strcmp(s, "Unmasked") == 0) {
        return shim_mf_fail(c, value, path, "\"Unmasked\" is not supported yet");
    }
    return shim_mf_note(c, key, path, "Default is the default");
}

/* ---- the pod's and the containers' securityContext --------------------------------------- */

#define ID_FIELD(field_name, member)                                                               \
    {                                                                                              \
        .name = field_name, .type = SHIM_MF_INT64,                                                 \
        .off = offsetof(struct shim_security_context, member), .min = 0, .max = ID_MAX             \
    }
#define TRISTATE_FIELD(field_name, member)                                                         \
    {                                                                                              \
        .name = field_name, .type = SHIM_MF_FUNC,                                                  \
        .off = offsetof(struct shim_security_context, member), .fn = read_tristate                 \
    }

static const struct shim_mf_field pod_fields[] = {
    ID_FIELD("runAsUser", run_as_user),
    ID_FIELD("runAsGroup", run_as_group),
    TRISTATE_FIELD("runAsNonRoot", run_as_non_root),
    {.name = "supplementalGroups", .type = SHIM_MF_FUNC, .fn = read_groups},
    {.name = "seccompProfile", .type = SHIM_MF_FUNC, .fn = read_profile},
    {.name = "appArmorProfile", .type = SHIM_MF_FUNC, .fn = read_profile},
    {.name = "fsGroup", .type = SHIM_MF_UNSUPPORTED},
    {.name = "fsGroupChangePolicy", .type = SHIM_MF_UNSUPPORTED},
    {.name = "supplementalGroupsPolicy", .type = SHIM_MF_UNSUPPORTED},
    {.name = "seLinuxOptions", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "seLinuxChangePolicy", .type = SHIM_MF_UNSUPPORTED},
    {.name = "sysctls", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "windowsOptions", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = NULL},
};

static const struct shim_mf_field container_fields[] = {
    ID_FIELD("runAsUser", run_as_user),
    ID_FIELD("runAsGroup", run_as_group),
    TRISTATE_FIELD("runAsNonRoot", run_as_non_root),
    TRISTATE_FIELD("readOnlyRootFilesystem", read_only_root_fs),
    TRISTATE_FIELD("allowPrivilegeEscalation", allow_privilege_escalation),
    TRISTATE_FIELD("privileged", privileged),
    {.name = "capabilities", .type = SHIM_MF_FUNC, .fn = read_capabilities},
    {.name = "seccompProfile", .type = SHIM_MF_FUNC, .fn = read_profile},
    {.name = "appArmorProfile", .type = SHIM_MF_FUNC, .fn = read_profile},
    {.name = "procMount", .type = SHIM_MF_FUNC, .fn = read_proc_mount},
    {.name = "seLinuxOptions", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "windowsOptions", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = NULL},
};

/* Something with an effect was given (not only notes, empty lists or an empty mapping). */
static bool is_set(const struct shim_security_context *sc)
{
    return sc->run_as_user >= 0 || sc->run_as_group >= 0 || sc->run_as_non_root >= 0 ||
           sc->read_only_root_fs >= 0 || sc->allow_privilege_escalation >= 0 ||
           sc->privileged >= 0 || sc->ncap_add > 0 || sc->ncap_drop > 0 ||
           sc->nsupplemental_groups > 0;
}

/* Reads value into sc by fields; {} is a note. */
static int read_context(struct shim_mf *c, struct shim_security_context *sc,
                        const struct shim_mf_field *fields, yaml_node_t *key, yaml_node_t *value,
                        const char *path)
{
    if (value->type == YAML_MAPPING_NODE && shim_mf_is_empty(value)) {
        return shim_mf_note(c, key, path, "empty");
    }
    if (shim_mf_walk(c, value, path, fields, sc, NULL) < 0) {
        return -1;
    }
    sc->set = is_set(sc);
    return 0;
}

int shim_mf_pod_security(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                         const char *path)
{
    return read_context(c, &((struct shim_pod *)obj)->security, pod_fields, key, value, path);
}

int shim_mf_container_security(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                               const char *path)
{
    struct shim_security_context *sc = &((struct shim_container *)obj)->security;
    char fpath[SHIM_MF_PATH_MAX];
    const char *with = NULL;

    if (read_context(c, sc, container_fields, key, value, path) < 0) {
        return -1;
    }
    /* The API server's rule: no_new_privs cannot hold for a privileged process. */
    if (sc->allow_privilege_escalation != 0) {
        return 0;
    }
    if (sc->privileged == 1) {
        with = "`privileged` to true";
    }
    for (size_t i = 0; i < sc->ncap_add && with == NULL; i++) {
        if (strcmp(sc->cap_add[i], "SYS_ADMIN") == 0) {
            with = "`capabilities.Add` CAP_SYS_ADMIN";
        }
    }
    if (with == NULL) {
        return 0;
    }
    shim_mf_join(fpath, sizeof(fpath), path, "allowPrivilegeEscalation");
    return shim_mf_fail(c, shim_mf_get(c, value, "allowPrivilegeEscalation", NULL), fpath,
                        "cannot set `allowPrivilegeEscalation` to false and %s", with);
}
