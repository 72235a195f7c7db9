/* shim_manifest_ctr.c — a Pod's containers and initContainers: image, command, env,
 * envFrom, ports and volumeMounts, checked as the API server checks them (probes, hooks,
 * resources and securityContext are read by shim_manifest_{probe,res,sec}.c). */
#include "shim_manifest_int.h"

#include <stdio.h>
#include <string.h>

static const char *const supported_field_paths[] = {
    "metadata.name", "metadata.namespace", "metadata.uid", "status.podIP",
    "status.hostIP", "spec.nodeName",      NULL,
};

/* Field paths Kubernetes knows and podshim does not support yet. */
static const char *const later_field_paths[] = {
    "metadata.labels", "metadata.annotations", "spec.serviceAccountName",
    "status.podIPs",   "status.hostIPs",       NULL,
};

static const char *const protocols[] = {"TCP", "UDP", "SCTP", NULL};

/* A second source where one is allowed (valueFrom, envFrom, a volume). */
static int one_source(struct shim_mf *c, yaml_node_t *key, const char *path)
{
    if (c->nsources++ > 0) {
        return shim_mf_fail(c, key, path, "may not have more than one field specified at a time");
    }
    return 0;
}

/* ---- env ----------------------------------------------------------------------------- */

static int read_field_path(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                           const char *path)
{
    struct shim_env_var *env = obj;
    const char *s;

    (void)key;
    if (shim_mf_string(c, value, path, &env->field_path) < 0) {
        return -1;
    }
    s = env->field_path;
    for (size_t i = 0; later_field_paths[i] != NULL; i++) {
        size_t n = strlen(later_field_paths[i]);
        if (strncmp(s, later_field_paths[i], n) == 0 && (s[n] == '\0' || s[n] == '[')) {
            return shim_mf_fail(c, value, path, "\"%s\" is not supported yet",
                                later_field_paths[i]);
        }
    }
    return shim_mf_choice(c, value, path, supported_field_paths, s);
}

static int check_api_version(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                             const char *path)
{
    static const char *const v1[] = {"v1", NULL};
    char *s;

    (void)obj;
    (void)key;
    return shim_mf_string(c, value, path, &s) < 0 ? -1 : shim_mf_choice(c, value, path, v1, s);
}

static const struct shim_mf_field field_ref_fields[] = {
    {.name = "fieldPath", .type = SHIM_MF_FUNC, .fn = read_field_path},
    {.name = "apiVersion", .type = SHIM_MF_FUNC, .fn = check_api_version},
    {.name = NULL},
};

static int read_field_ref(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                          const char *path)
{
    struct shim_env_var *env = obj;

    if (one_source(c, key, path) < 0 ||
        shim_mf_walk(c, value, path, field_ref_fields, env, NULL) < 0 ||
        shim_mf_required(c, env->field_path, value, path, "fieldPath") < 0) {
        return -1;
    }
    env->source = SHIM_ENV_FIELD;
    return 0;
}

static const struct shim_mf_field key_ref_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_env_var, ref_name),
     .check = shim_mf_check_subdomain},
    {.name = "key",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_env_var, ref_key),
     .check = shim_mf_check_config_key},
    {.name = "optional", .type = SHIM_MF_BOOL, .off = offsetof(struct shim_env_var, optional)},
    {.name = NULL},
};

static int read_key_ref(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                        const char *path)
{
    struct shim_env_var *env = obj;

    if (one_source(c, key, path) < 0 ||
        shim_mf_walk(c, value, path, key_ref_fields, env, NULL) < 0 ||
        shim_mf_required(c, env->ref_name, value, path, "name") < 0 ||
        shim_mf_required(c, env->ref_key, value, path, "key") < 0) {
        return -1;
    }
    env->source = strcmp((const char *)key->data.scalar.value, "secretKeyRef") == 0
                      ? SHIM_ENV_SECRET
                      : SHIM_ENV_CONFIGMAP;
    return 0;
}

static const struct shim_mf_field value_from_fields[] = {
    {.name = "fieldRef", .type = SHIM_MF_FUNC, .fn = read_field_ref},
    {.name = "configMapKeyRef", .type = SHIM_MF_FUNC, .fn = read_key_ref},
    {.name = "secretKeyRef", .type = SHIM_MF_FUNC, .fn = read_key_ref},
    {.name = "resourceFieldRef", .type = SHIM_MF_UNSUPPORTED},
    {.name = "fileKeyRef", .type = SHIM_MF_UNSUPPORTED},
    {.name = NULL},
};

static int read_value_from(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                           const char *path)
{
    (void)key;
    c->nsources = 0;
    if (shim_mf_walk(c, value, path, value_from_fields, obj, NULL) < 0) {
        return -1;
    }
    if (c->nsources == 0) {
        return shim_mf_fail(c, value, path,
                            "must specify one of: fieldRef, configMapKeyRef or secretKeyRef");
    }
    return 0;
}

static const struct shim_mf_field env_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_env_var, name),
     .check = shim_mf_check_env_name},
    {.name = "value", .type = SHIM_MF_STRING, .off = offsetof(struct shim_env_var, value)},
    {.name = "valueFrom", .type = SHIM_MF_FUNC, .fn = read_value_from},
    {.name = NULL},
};

static int read_env(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path)
{
    struct shim_container *ctr = obj;
    char ipath[SHIM_MF_PATH_MAX];
    char vpath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_ENV_MAX, &ctr->nenv) < 0 ||
        (ctr->env = shim_mf_array(c, ctr->nenv, sizeof(*ctr->env))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < ctr->nenv; i++) {
        struct shim_env_var *env = &ctr->env[i];
        yaml_node_t *item, *from;
        uint64_t given;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, env_fields, env, &given) < 0 ||
            shim_mf_required(c, env->name, item, ipath, "name") < 0) {
            return -1;
        }
        if (env->value != NULL && env->value[0] != '\0' && (given & 4) /* valueFrom */) {
            from = shim_mf_get(c, item, "valueFrom", NULL);
            shim_mf_join(vpath, sizeof(vpath), ipath, "valueFrom");
            return shim_mf_fail(c, from, vpath, "may not be specified when value is not empty");
        }
        if (env->value == NULL) {
            env->value = "";
        }
        env->mark = shim_mf_mark(c, item);
    }
    return 0;
}

/* ---- envFrom ------------------------------------------------------------------------- */

static const struct shim_mf_field env_from_ref_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_env_from, name),
     .check = shim_mf_check_subdomain},
    {.name = "optional", .type = SHIM_MF_BOOL, .off = offsetof(struct shim_env_from, optional)},
    {.name = NULL},
};

static int read_env_from_ref(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                             const char *path)
{
    struct shim_env_from *from = obj;

    if (one_source(c, key, path) < 0 ||
        shim_mf_walk(c, value, path, env_from_ref_fields, from, NULL) < 0 ||
        shim_mf_required(c, from->name, value, path, "name") < 0) {
        return -1;
    }
    from->secret = strcmp((const char *)key->data.scalar.value, "secretRef") == 0;
    return 0;
}

static int check_prefix(const char *s, char *why, size_t whysz)
{
    return s[0] == '\0' ? 0 : shim_mf_check_env_name(s, why, whysz);
}

static const struct shim_mf_field env_from_fields[] = {
    {.name = "configMapRef", .type = SHIM_MF_FUNC, .fn = read_env_from_ref},
    {.name = "secretRef", .type = SHIM_MF_FUNC, .fn = read_env_from_ref},
    {.name = "prefix",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_env_from, prefix),
     .check = check_prefix},
    {.name = NULL},
};

static int read_env_from(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                         const char *path)
{
    struct shim_container *ctr = obj;
    char ipath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &ctr->nenv_from) < 0 ||
        (ctr->env_from = shim_mf_array(c, ctr->nenv_from, sizeof(*ctr->env_from))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < ctr->nenv_from; i++) {
        struct shim_env_from *from = &ctr->env_from[i];
        yaml_node_t *item;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        c->nsources = 0;
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, env_from_fields, from, NULL) < 0) {
            return -1;
        }
        if (c->nsources == 0) {
            return shim_mf_fail(c, item, ipath, "must specify one of: configMapRef or secretRef");
        }
        if (from->prefix == NULL) {
            from->prefix = "";
        }
        from->mark = shim_mf_mark(c, item);
    }
    return 0;
}

/* ---- ports --------------------------------------------------------------------------- */

static const struct shim_mf_field port_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_port, name),
     .check = shim_mf_check_port_name},
    {.name = "containerPort",
     .type = SHIM_MF_INT,
     .off = offsetof(struct shim_port, container_port),
     .min = 1,
     .max = 65535},
    {.name = "hostPort",
     .type = SHIM_MF_INT,
     .off = offsetof(struct shim_port, host_port),
     .min = 0,
     .max = 65535},
    {.name = "hostIP",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_port, host_ip),
     .check = shim_mf_check_ip},
    {.name = "protocol",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_port, protocol),
     .choices = protocols},
    {.name = NULL},
};

/* Names are unique in a container and host ports (with IP and protocol) in the pod's app
 * containers, as the API server checks them. */
static int check_port(struct shim_mf *c, const struct shim_port *port, yaml_node_t *item,
                      const char *path)
{
    char fpath[SHIM_MF_PATH_MAX];
    yaml_node_t *node;
    char *key;
    int rc;

    if (port->name != NULL && (rc = shim_mf_set_add(c, &c->port_names, port->name, 0, NULL)) != 0) {
        node = shim_mf_get(c, item, "name", NULL);
        shim_mf_join(fpath, sizeof(fpath), path, "name");
        return rc < 0 ? -1 : shim_mf_fail(c, node, fpath, "duplicate value \"%s\"", port->name);
    }
    if (c->init || port->host_port == 0) {
        return 0;
    }
    key = shim_mf_array(c, strlen(port->host_ip != NULL ? port->host_ip : "") + 32, 1);
    if (key == NULL) {
        return -1;
    }
    sprintf(key, "%s/%s/%d", port->host_ip != NULL ? port->host_ip : "", port->protocol,
            port->host_port);
    if ((rc = shim_mf_set_add(c, &c->host_ports, key, 0, NULL)) != 0) {
        node = shim_mf_get(c, item, "hostPort", NULL);
        shim_mf_join(fpath, sizeof(fpath), path, "hostPort");
        return rc < 0 ? -1
                      : shim_mf_fail(c, node, fpath, "duplicate value \"%d/%s\"", port->host_port,
                                     port->protocol);
    }
    return 0;
}

static int read_ports(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    struct shim_container *ctr = obj;
    char ipath[SHIM_MF_PATH_MAX];
    char ppath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &ctr->nports) < 0 ||
        (ctr->ports = shim_mf_array(c, ctr->nports, sizeof(*ctr->ports))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < ctr->nports; i++) {
        struct shim_port *port = &ctr->ports[i];
        yaml_node_t *item, *pkey = NULL;
        uint64_t given;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, port_fields, port, &given) < 0 ||
            shim_mf_required(c, (given & 2) /* containerPort */ ? port : NULL, item, ipath,
                             "containerPort") < 0) {
            return -1;
        }
        if (port->protocol == NULL) {
            port->protocol = "TCP";
        } else if (strcmp(port->protocol, "TCP") != 0) {
            shim_mf_get(c, item, "protocol", &pkey);
            shim_mf_join(ppath, sizeof(ppath), ipath, "protocol");
            if (shim_mf_note(c, pkey, ppath, "only TCP hostPorts are forwarded") < 0) {
                return -1;
            }
        }
        port->mark = shim_mf_mark(c, item);
        if (check_port(c, port, item, ipath) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- volumeMounts -------------------------------------------------------------------- */

static const struct shim_mf_field mount_fields[] = {
    {.name = "name", .type = SHIM_MF_STRING, .off = offsetof(struct shim_mount, name)},
    {.name = "mountPath",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_mount, mount_path),
     .check = shim_mf_check_mount_path},
    {.name = "readOnly", .type = SHIM_MF_BOOL, .off = offsetof(struct shim_mount, read_only)},
    {.name = "subPath",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_mount, sub_path),
     .check = shim_mf_check_relative_path},
    {.name = "mountPropagation", .type = SHIM_MF_UNSUPPORTED},
    {.name = "subPathExpr", .type = SHIM_MF_UNSUPPORTED},
    {.name = "recursiveReadOnly", .type = SHIM_MF_UNSUPPORTED},
    {.name = NULL},
};

static int check_mount(struct shim_mf *c, const struct shim_mount *mount, yaml_node_t *item,
                       const char *path)
{
    char fpath[SHIM_MF_PATH_MAX];
    bool found = false;
    int rc;

    for (size_t i = 0; i < c->pod->nvolumes && !found; i++) {
        found = strcmp(c->pod->volumes[i].name, mount->name) == 0;
    }
    if (!found) {
        shim_mf_join(fpath, sizeof(fpath), path, "name");
        return shim_mf_fail(c, shim_mf_get(c, item, "name", NULL), fpath,
                            "not found: no volume \"%s\"", mount->name);
    }
    if ((rc = shim_mf_set_add(c, &c->mount_paths, mount->mount_path, 0, NULL)) != 0) {
        shim_mf_join(fpath, sizeof(fpath), path, "mountPath");
        return rc < 0 ? -1
                      : shim_mf_fail(c, shim_mf_get(c, item, "mountPath", NULL), fpath,
                                     "duplicate value \"%s\"", mount->mount_path);
    }
    return 0;
}

static int read_mounts(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    struct shim_container *ctr = obj;
    char ipath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &ctr->nmounts) < 0 ||
        (ctr->mounts = shim_mf_array(c, ctr->nmounts, sizeof(*ctr->mounts))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < ctr->nmounts; i++) {
        struct shim_mount *mount = &ctr->mounts[i];
        yaml_node_t *item;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, mount_fields, mount, NULL) < 0 ||
            shim_mf_required(c, mount->name, item, ipath, "name") < 0 ||
            shim_mf_required(c, mount->mount_path, item, ipath, "mountPath") < 0 ||
            check_mount(c, mount, item, ipath) < 0) {
            return -1;
        }
        if (mount->sub_path == NULL) {
            mount->sub_path = "";
        }
        mount->mark = shim_mf_mark(c, item);
    }
    return 0;
}

/* ---- containers ---------------------------------------------------------------------- */

/* tty, stdin and stdinOnce are kept, but podshim gives a container no terminal or stdin. */
static int read_io_flag(struct shim_mf *c, bool *dst, yaml_node_t *key, yaml_node_t *value,
                        const char *path, const char *why)
{
    if (shim_mf_bool(c, value, path, dst) < 0) {
        return -1;
    }
    return *dst ? shim_mf_note(c, key, path, why) : 0;
}

static int read_tty(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path)
{
    return read_io_flag(c, &((struct shim_container *)obj)->tty, key, value, path,
                        "no tty is given");
}

static int read_stdin(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    return read_io_flag(c, &((struct shim_container *)obj)->stdin_open, key, value, path,
                        "no stdin is given");
}

static int read_stdin_once(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                           const char *path)
{
    bool once;

    (void)obj;
    return read_io_flag(c, &once, key, value, path, "no stdin is given");
}

static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};
static const char *const message_policies[] = {"File", "FallbackToLogsOnError", NULL};

static const struct shim_mf_field container_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_container, name),
     .check = shim_mf_check_label},
    {.name = "image",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_container, image),
     .check = shim_mf_check_image},
    {.name = "command",
     .type = SHIM_MF_STRLIST,
     .off = offsetof(struct shim_container, command),
     .off2 = offsetof(struct shim_container, ncommand)},
    {.name = "args",
     .type = SHIM_MF_STRLIST,
     .off = offsetof(struct shim_container, args),
     .off2 = offsetof(struct shim_container, nargs)},
    {.name = "workingDir",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_container, working_dir)},
    {.name = "env", .type = SHIM_MF_FUNC, .fn = read_env},
    {.name = "envFrom", .type = SHIM_MF_FUNC, .fn = read_env_from},
    {.name = "ports", .type = SHIM_MF_FUNC, .fn = read_ports},
    {.name = "volumeMounts", .type = SHIM_MF_FUNC, .fn = read_mounts},
    {.name = "tty", .type = SHIM_MF_FUNC, .fn = read_tty},
    {.name = "stdin", .type = SHIM_MF_FUNC, .fn = read_stdin},
    {.name = "stdinOnce", .type = SHIM_MF_FUNC, .fn = read_stdin_once},
    {.name = "imagePullPolicy",
     .type = SHIM_MF_NOTE,
     .choices = pull_policies,
     .why = "podshim pulls no images: the command runs from the host"},
    {.name = "terminationMessagePath",
     .type = SHIM_MF_NOTE,
     .fn = shim_mf_is_string,
     .why = "no termination message is read"},
    {.name = "terminationMessagePolicy",
     .type = SHIM_MF_NOTE,
     .choices = message_policies,
     .why = "no termination message is read"},
    {.name = "resources", .type = SHIM_MF_FUNC, .fn = shim_mf_resources},
    {.name = "securityContext", .type = SHIM_MF_FUNC, .fn = shim_mf_container_security},
    {.name = "livenessProbe", .type = SHIM_MF_FUNC, .fn = shim_mf_probe},
    {.name = "readinessProbe", .type = SHIM_MF_FUNC, .fn = shim_mf_probe},
    {.name = "startupProbe", .type = SHIM_MF_FUNC, .fn = shim_mf_probe},
    {.name = "lifecycle", .type = SHIM_MF_FUNC, .fn = shim_mf_lifecycle},
    {.name = "restartPolicy", .type = SHIM_MF_FUNC, .fn = shim_mf_container_restart},
    {.name = "restartPolicyRules", .type = SHIM_MF_UNSUPPORTED},
    {.name = "volumeDevices", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "resizePolicy", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = NULL},
};

static int read_container(struct shim_mf *c, struct shim_container *ctr, yaml_node_t *item,
                          const char *path)
{
    char fpath[SHIM_MF_PATH_MAX];
    int rc;

    memset(&c->port_names, 0, sizeof(c->port_names));
    memset(&c->mount_paths, 0, sizeof(c->mount_paths));
    shim_mf_container_begin(c, ctr, item);
    if (shim_mf_walk(c, item, path, container_fields, ctr, NULL) < 0 ||
        shim_mf_required(c, ctr->name, item, path, "name") < 0 ||
        shim_mf_container_end(c, ctr) < 0) {
        return -1;
    }
    if ((rc = shim_mf_set_add(c, &c->ctr_names, ctr->name, 0, NULL)) != 0) {
        shim_mf_join(fpath, sizeof(fpath), path, "name");
        return rc < 0 ? -1
                      : shim_mf_fail(c, shim_mf_get(c, item, "name", NULL), fpath,
                                     "duplicate value \"%s\"", ctr->name);
    }
    if (shim_mf_required(c, ctr->image, item, path, "image") < 0) {
        return -1;
    }
    ctr->mark = shim_mf_mark(c, item);
    return 0;
}

int shim_mf_containers(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    struct shim_pod *pod = obj;
    struct shim_container *v;
    char ipath[SHIM_MF_PATH_MAX];
    size_t n;

    c->init = strcmp((const char *)key->data.scalar.value, "initContainers") == 0;
    if (shim_mf_seq(c, value, path, SHIM_MF_CONTAINERS_MAX, &n) < 0 ||
        (v = shim_mf_array(c, n, sizeof(*v))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item;
        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            read_container(c, &v[i], item, ipath) < 0) {
            return -1;
        }
    }
    if (c->init) {
        pod->init_containers = v;
        pod->ninit_containers = n;
    } else {
        pod->containers = v;
        pod->ncontainers = n;
    }
    return 0;
}
