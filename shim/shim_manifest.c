/* shim_manifest.c — a Pod manifest: reading the file, its YAML documents and their kinds,
 * the Pod's spec, the defaults filled in at the end, and lookups. */
#include "shim_manifest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the Pod ----------------------------------------------------------------------- */

static int read_restart_policy(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                               const char *path)
{
    static const char *const names[] = {"Always", "OnFailure", "Never"};
    struct shim_pod *pod = obj;
    char val[64];
    char *s;

    (void)key;
    if (shim_mf_string(c, value, path, &s) < 0) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            pod->restart_policy = (enum shim_restart_policy)i;
            return 0;
        }
    }
    return shim_mf_fail(c, value, path,
                        "unsupported value \"%s\": supported values: \"Always\", \"OnFailure\", "
                        "\"Never\"",
                        shim_mf_shown(s, val, sizeof(val)));
}

static int read_dns_policy(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                           const char *path)
{
    char val[64];
    char *s;

    (void)obj;
    if (shim_mf_string(c, value, path, &s) < 0) {
        return -1;
    }
    if (strcmp(s, "ClusterFirst") == 0 || strcmp(s, "Default") == 0 ||
        strcmp(s, "ClusterFirstWithHostNet") == 0) {
        return shim_mf_note(c, key, path, "containers use the host's DNS resolver");
    }
    if (strcmp(s, "None") == 0) {
        return shim_mf_fail(c, value, path, "\"None\" (with dnsConfig) is not supported yet");
    }
    return shim_mf_fail(c, value, path,
                        "unsupported value \"%s\": supported values: \"ClusterFirst\", "
                        "\"ClusterFirstWithHostNet\", \"Default\", \"None\"",
                        shim_mf_shown(s, val, sizeof(val)));
}

static const struct shim_mf_field spec_fields[] = {
    {.name = "volumes", .type = SHIM_MF_DONE},
    {.name = "initContainers", .type = SHIM_MF_FUNC, .fn = shim_mf_containers},
    {.name = "containers", .type = SHIM_MF_FUNC, .fn = shim_mf_containers},
    {.name = "restartPolicy", .type = SHIM_MF_FUNC, .fn = read_restart_policy},
    {.name = "terminationGracePeriodSeconds", .type = SHIM_MF_DONE},
    {.name = "hostname",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_pod, hostname),
     .check = shim_mf_check_label},
    {.name = "subdomain",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_pod, subdomain),
     .check = shim_mf_check_label},
    {.name = "hostAliases", .type = SHIM_MF_FUNC, .fn = shim_mf_host_aliases},
    {.name = "shareProcessNamespace",
     .type = SHIM_MF_BOOL,
     .off = offsetof(struct shim_pod, share_process_namespace)},
    {.name = "dnsPolicy", .type = SHIM_MF_FUNC, .fn = read_dns_policy},
    {.name = "schedulerName",
     .type = SHIM_MF_NOTE,
     .fn = shim_mf_is_string,
     .why = "no scheduler: the pod runs on this host"},
    {.name = "enableServiceLinks",
     .type = SHIM_MF_NOTE,
     .fn = shim_mf_is_bool,
     .why = "there are no Services to link"},
    {.name = "automountServiceAccountToken",
     .type = SHIM_MF_NOTE,
     .fn = shim_mf_is_bool,
     .why = "there is no service account token to mount"},
    {.name = "nodeSelector", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "nodeName", .type = SHIM_MF_UNSUPPORTED},
    {.name = "affinity", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "tolerations", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "serviceAccountName", .type = SHIM_MF_UNSUPPORTED},
    {.name = "serviceAccount", .type = SHIM_MF_UNSUPPORTED},
    {.name = "activeDeadlineSeconds", .type = SHIM_MF_UNSUPPORTED},
    {.name = "securityContext", .type = SHIM_MF_FUNC, .fn = shim_mf_pod_security},
    {.name = "imagePullSecrets", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "dnsConfig", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "ephemeralContainers", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "hostNetwork", .type = SHIM_MF_UNSUPPORTED_FALSE},
    {.name = "hostPID", .type = SHIM_MF_UNSUPPORTED_FALSE},
    {.name = "hostIPC", .type = SHIM_MF_UNSUPPORTED_FALSE},
    {.name = "setHostnameAsFQDN", .type = SHIM_MF_UNSUPPORTED_FALSE},
    {.name = "priorityClassName", .type = SHIM_MF_UNSUPPORTED},
    {.name = "priority", .type = SHIM_MF_UNSUPPORTED},
    {.name = "preemptionPolicy", .type = SHIM_MF_UNSUPPORTED},
    {.name = "runtimeClassName", .type = SHIM_MF_UNSUPPORTED},
    {.name = "topologySpreadConstraints", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "readinessGates", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "os", .type = SHIM_MF_UNSUPPORTED},
    {.name = "overhead", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "resourceClaims", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "schedulingGates", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "hostUsers", .type = SHIM_MF_UNSUPPORTED},
    {.name = "resources", .type = SHIM_MF_UNSUPPORTED_EMPTY},
    {.name = "hostnameOverride", .type = SHIM_MF_UNSUPPORTED},
    {.name = NULL},
};

static int read_spec(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                     const char *path)
{
    char cpath[SHIM_MF_PATH_MAX];
    yaml_node_t *vkey = NULL;
    yaml_node_t *vols = shim_mf_get(c, value, "volumes", &vkey);
    yaml_node_t *grace = shim_mf_get(c, value, "terminationGracePeriodSeconds", NULL);
    yaml_node_t *ctrs;

    (void)obj;
    (void)key;
    /* Volumes first, so that a volumeMount can be checked against them where it stands, and
     * the grace period, which bounds every preStop sleep. */
    shim_mf_join(cpath, sizeof(cpath), path, "volumes");
    if (vols != NULL && !shim_mf_is_null(vols) &&
        shim_mf_volumes(c, c->pod, vkey, vols, cpath) < 0) {
        return -1;
    }
    shim_mf_join(cpath, sizeof(cpath), path, "terminationGracePeriodSeconds");
    if (grace != NULL && !shim_mf_is_null(grace) &&
        shim_mf_int(c, grace, cpath, 0, LLONG_MAX, false, &c->pod->termination_grace_period) < 0) {
        return -1;
    }
    if (shim_mf_walk(c, value, path, spec_fields, c->pod, NULL) < 0) {
        return -1;
    }
    if (c->pod->ncontainers == 0) {
        ctrs = shim_mf_get(c, value, "containers", NULL);
        shim_mf_join(cpath, sizeof(cpath), path, "containers");
        return shim_mf_fail(c, ctrs != NULL && !shim_mf_is_null(ctrs) ? ctrs : value, cpath,
                            "required value");
    }
    return 0;
}

static const struct shim_mf_field pod_fields[] = {
    {.name = "apiVersion", .type = SHIM_MF_DONE},
    {.name = "kind", .type = SHIM_MF_DONE},
    {.name = "metadata", .type = SHIM_MF_FUNC, .fn = shim_mf_meta},
    {.name = "spec", .type = SHIM_MF_FUNC, .fn = read_spec},
    {.name = "status", .type = SHIM_MF_NOTE, .why = "the status is podshim's to report"},
    {.name = NULL},
};

static int read_pod(struct shim_mf *c, yaml_node_t *root, yaml_node_t *kind)
{
    struct shim_mf_meta meta;
    struct shim_pod *pod;
    yaml_node_t *spec = shim_mf_get(c, root, "spec", NULL);

    if (c->m->pod != NULL) {
        return shim_mf_fail(c, kind, "kind",
                            "a second Pod: a manifest holds one Pod (the first is \"%s\" at line "
                            "%u)",
                            c->m->pod->name, c->m->pod->mark.line);
    }
    memset(&meta, 0, sizeof(meta));
    pod = shim_mf_array(c, 1, sizeof(*pod));
    if (pod == NULL) {
        return -1;
    }
    pod->restart_policy = SHIM_RESTART_ALWAYS;
    pod->termination_grace_period = 30;
    shim_mf_security_init(&pod->security);
    c->pod = pod;
    if (shim_mf_walk(c, root, "", pod_fields, &meta, NULL) < 0 ||
        shim_mf_need_name(c, root, &meta, &pod->mark) < 0) {
        return -1;
    }
    if (spec == NULL || shim_mf_is_null(spec)) {
        return shim_mf_fail(c, root, "spec", "required value");
    }
    pod->name = meta.name;
    pod->namespace = meta.namespace;
    pod->uid = meta.uid;
    pod->labels = meta.labels;
    pod->nlabels = meta.nlabels;
    pod->annotations = meta.annotations;
    pod->nannotations = meta.nannotations;
    c->m->pod = pod;
    return 0;
}

/* ---- documents --------------------------------------------------------------------- */

static int read_document(struct shim_mf *c, yaml_node_t *root)
{
    yaml_node_t *kind, *api;
    char val[64];
    char *k, *v;

    if (shim_mf_expect(c, root, "", "a mapping") < 0) {
        return -1;
    }
    kind = shim_mf_get(c, root, "kind", NULL);
    if (kind == NULL || shim_mf_is_null(kind)) {
        return shim_mf_fail(c, root, "kind", "required value");
    }
    if (shim_mf_string(c, kind, "kind", &k) < 0) {
        return -1;
    }
    if (strcmp(k, "Pod") != 0 && strcmp(k, "ConfigMap") != 0 && strcmp(k, "Secret") != 0) {
        return shim_mf_fail(c, kind, "kind",
                            "unsupported kind \"%s\": a manifest holds one Pod and the ConfigMaps "
                            "and Secrets it uses",
                            shim_mf_shown(k, val, sizeof(val)));
    }
    api = shim_mf_get(c, root, "apiVersion", NULL);
    if (api == NULL || shim_mf_is_null(api)) {
        return shim_mf_fail(c, root, "apiVersion", "required value");
    }
    if (shim_mf_string(c, api, "apiVersion", &v) < 0) {
        return -1;
    }
    if (strcmp(v, "v1") != 0) {
        return shim_mf_fail(c, api, "apiVersion",
                            "unsupported value \"%s\": a %s is in apiVersion \"v1\"",
                            shim_mf_shown(v, val, sizeof(val)), k);
    }
    if (strcmp(k, "Pod") == 0) {
        c->kind = SHIM_MF_POD;
        return read_pod(c, root, kind);
    }
    if (strcmp(k, "ConfigMap") == 0) {
        c->kind = SHIM_MF_CONFIGMAP;
        return shim_mf_configmap(c, root);
    }
    c->kind = SHIM_MF_SECRET;
    return shim_mf_secret(c, root);
}

/* Loads and reads the next document: 1 when there was one, 0 at the end, -1 on error. */
static int next_document(struct shim_mf *c, yaml_parser_t *parser)
{
    yaml_document_t doc;
    yaml_node_t *root;
    int rc = 1;

    if (!yaml_parser_load(parser, &doc)) {
        return shim_mf_syntax_error(c, parser);
    }
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        yaml_document_delete(&doc);
        return 0; /* the end of the stream */
    }
    c->doc = &doc;
    c->nscalars = (size_t)(doc.nodes.top - doc.nodes.start);
    c->scalars = calloc(c->nscalars, sizeof(*c->scalars));
    if (c->scalars == NULL) {
        rc = shim_mf_fail(c, NULL, NULL, "out of memory");
    } else if (!shim_mf_is_null(root) && read_document(c, root) < 0) {
        rc = -1; /* an empty document (null) is skipped */
    }
    free(c->scalars);
    c->scalars = NULL;
    c->nscalars = 0;
    c->doc = NULL;
    yaml_document_delete(&doc);
    return rc;
}

/* A random (version 4) UUID for a pod without metadata.uid. */
static int make_uid(struct shim_mf *c)
{
    unsigned char b[16];
    char s[37];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return shim_mf_fail(c, NULL, NULL, "cannot make a pod uid: getrandom: %s",
                                strerror(errno));
        }
        got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(s, sizeof(s), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    c->pod->uid = shim_mf_strdup(c, s);
    return c->pod->uid == NULL ? -1 : 0;
}

/* A ConfigMap or Secret: its namespace defaults to the Pod's, and one name is one object. */
static int finish_object(struct shim_mf *c, struct shim_mf_set *seen, const char *what,
                         const char *name, char **namespace, const struct shim_mark *mark)
{
    const char *pod_ns = c->pod->namespace;
    char *key;

    if (*namespace == NULL) {
        *namespace = (char *)pod_ns;
    }
    key = shim_mf_array(c, strlen(*namespace) + strlen(name) + 2, 1);
    if (key == NULL) {
        return -1;
    }
    sprintf(key, "%s/%s", *namespace, name);
    if (shim_mf_set_add(c, seen, key, 0, NULL) != 0) {
        return c->failed ? -1
                         : shim_mf_fail_mark(c, mark, "metadata.name",
                                             "duplicate value \"%s\": another %s of this name is "
                                             "in the manifest",
                                             name, what);
    }
    if (strcmp(*namespace, pod_ns) != 0) {
        return shim_mf_note_mark(c, mark, "metadata.namespace",
                                 "the %s is in namespace \"%s\", the Pod in \"%s\"", what,
                                 *namespace, pod_ns);
    }
    return 0;
}

static int finish(struct shim_mf *c)
{
    struct shim_manifest *m = c->m;
    struct shim_mf_set configmaps = {0}, secrets = {0};

    c->pod = m->pod;
    if (m->pod == NULL) {
        return shim_mf_fail(c, NULL, NULL, "no Pod: a manifest must hold one document of kind Pod");
    }
    if (m->pod->namespace == NULL && (m->pod->namespace = shim_mf_strdup(c, "default")) == NULL) {
        return -1;
    }
    if (m->pod->uid == NULL && make_uid(c) < 0) {
        return -1;
    }
    for (size_t i = 0; i < m->nconfigmaps; i++) {
        struct shim_configmap *cm = &m->configmaps[i];
        if (finish_object(c, &configmaps, "ConfigMap", cm->name, &cm->namespace, &cm->mark) < 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < m->nsecrets; i++) {
        struct shim_secret *s = &m->secrets[i];
        if (finish_object(c, &secrets, "Secret", s->name, &s->namespace, &s->mark) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- the interface ----------------------------------------------------------------- */

int shim_manifest_parse(const char *name, const char *data, size_t len, struct shim_manifest **out,
                        char *err, size_t errsz)
{
    struct shim_mf c;
    yaml_parser_t parser;
    bool have_parser = false;
    int rc = -1;

    memset(&c, 0, sizeof(c));
    *out = NULL;
    if (errsz > 0) {
        err[0] = '\0';
    }
    c.err = err;
    c.errsz = errsz;
    c.data = data;
    c.len = len;
    c.file = name != NULL ? name : "<input>";
    /* Every node costs at least 2 bytes of input; aliases may reuse a node a little more. */
    c.budget = SHIM_MF_NODES_BASE + 2 * len;
    if (len > SHIM_MANIFEST_FILE_MAX) {
        shim_mf_fail(&c, NULL, NULL, "larger than %d bytes", SHIM_MANIFEST_FILE_MAX);
        goto out;
    }
    c.arena = shim_arena_create(0, SHIM_MF_ARENA_CAP);
    if (c.arena == NULL) {
        shim_mf_fail(&c, NULL, NULL, "out of memory");
        goto out;
    }
    if ((c.m = shim_mf_array(&c, 1, sizeof(*c.m))) == NULL ||
        (c.file = shim_mf_strdup(&c, c.file)) == NULL) {
        goto out;
    }
    c.m->arena = c.arena;
    if (!yaml_parser_initialize(&parser)) {
        shim_mf_fail(&c, NULL, NULL, "out of memory");
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while ((rc = next_document(&c, &parser)) > 0) {
    }
    if (rc == 0) {
        rc = finish(&c);
    }
out:
    if (have_parser) {
        yaml_parser_delete(&parser);
    }
    if (rc < 0) {
        shim_arena_destroy(c.arena);
        return -1;
    }
    *out = c.m;
    return 0;
}

/* "NAME: what[: strerror(errnum)]" into err. */
static int load_fail(char *err, size_t errsz, const char *name, const char *what, int errnum)
{
    if (errsz > 0) {
        snprintf(err, errsz, "%s: %s%s%s", name, what, errnum != 0 ? ": " : "",
                 errnum != 0 ? strerror(errnum) : "");
        shim_mf_clean(err);
    }
    return -1;
}

int shim_manifest_load(const char *path, struct shim_manifest **out, char *err, size_t errsz)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int rc = -1;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0) {
        return load_fail(err, errsz, name, "cannot open", errno);
    }
    if (fstat(fd, &st) < 0) {
        load_fail(err, errsz, name, "cannot stat", errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode) &&
        !S_ISSOCK(st.st_mode)) {
        load_fail(err, errsz, name, "not a regular file", 0);
        goto out;
    }
    /* Read up to the limit plus one byte, so that a file (or pipe) that is too big is told
     * apart from one exactly at the limit (which the parser then refuses). */
    data = malloc(SHIM_MANIFEST_FILE_MAX + 1);
    if (data == NULL) {
        load_fail(err, errsz, name, "out of memory", 0);
        goto out;
    }
    while (len <= SHIM_MANIFEST_FILE_MAX) {
        ssize_t r = read(fd, data + len, SHIM_MANIFEST_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            load_fail(err, errsz, name, "cannot read", errno);
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    rc = shim_manifest_parse(name, data, len, out, err, errsz);
out:
    free(data);
    if (!is_stdin) {
        close(fd);
    }
    return rc;
}

void shim_manifest_free(struct shim_manifest *m)
{
    if (m != NULL) {
        shim_arena_destroy(m->arena); /* m itself lives in the arena */
    }
}

const struct shim_configmap *shim_manifest_configmap(const struct shim_manifest *m,
                                                     const char *name)
{
    for (size_t i = 0; m != NULL && name != NULL && i < m->nconfigmaps; i++) {
        const struct shim_configmap *cm = &m->configmaps[i];
        if (strcmp(cm->name, name) == 0 &&
            (m->pod == NULL || strcmp(cm->namespace, m->pod->namespace) == 0)) {
            return cm;
        }
    }
    return NULL;
}

const struct shim_secret *shim_manifest_secret(const struct shim_manifest *m, const char *name)
{
    for (size_t i = 0; m != NULL && name != NULL && i < m->nsecrets; i++) {
        const struct shim_secret *s = &m->secrets[i];
        if (strcmp(s->name, name) == 0 &&
            (m->pod == NULL || strcmp(s->namespace, m->pod->namespace) == 0)) {
            return s;
        }
    }
    return NULL;
}
