/* shim_manifest_probe.c — a container's probes and lifecycle hooks (exec, httpGet, tcpSocket,
 * sleep) and native sidecars, checked and defaulted as the API server does. */
#include "shim_manifest_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define PLAIN_INIT_WHY "may not be set for init containers without restartPolicy=Always"

/* ---- numbers --------------------------------------------------------------------------- */

/* The integer value as written, for messages. */
static const char *shown(const yaml_node_t *value, char *buf, size_t bufsz)
{
    return shim_mf_shown((const char *)value->data.scalar.value, buf, bufsz);
}

/* A probe's count or seconds (obj: an int): an int32 >= 0, where 0 is the default. */
static int read_count(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    char buf[64];
    long long v;

    (void)key;
    if (shim_mf_int(c, value, path, 0, LLONG_MAX, false, &v) < 0) {
        return -1;
    }
    if (v > INT_MAX) {
        return shim_mf_fail(c, value, path,
                            "invalid value %s: must be less than or equal to 2147483647",
                            shown(value, buf, sizeof(buf)));
    }
    *(int *)obj = (int)v;
    return 0;
}

/* A probe's terminationGracePeriodSeconds (obj: a long long), > 0. */
static int read_probe_grace(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                            const char *path)
{
    char buf[64];
    long long v;

    (void)key;
    if (shim_mf_int(c, value, path, LLONG_MIN, LLONG_MAX, false, &v) < 0) {
        return -1;
    }
    if (v <= 0) {
        return shim_mf_fail(c, value, path, "invalid value %s: must be greater than 0",
                            shown(value, buf, sizeof(buf)));
    }
    *(long long *)obj = v;
    return 0;
}

/* ---- handlers: exec, httpGet, tcpSocket, sleep ----------------------------------------- */

/* A port by number (a plain integer, as intstr reads it) or by name (any other string),
 * for the handler obj. A name is remembered: it must be one of the container's ports, which
 * may come later in the container. */
static int read_port(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                     const char *path)
{
    struct shim_handler *h = obj;
    struct shim_mf_port_ref *ref;
    long long v;
    char *s;

    (void)key;
    if (value->type == YAML_SCALAR_NODE && value->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        shim_mf_parse_int((const char *)value->data.scalar.value, &v) != -1) {
        if (shim_mf_int(c, value, path, 1, 65535, false, &v) < 0) {
            return -1;
        }
        h->port = (int)v;
        return 0;
    }
    if (shim_mf_string(c, value, path, &s) < 0 ||
        shim_mf_checked(c, shim_mf_check_port_name, value, path, s) < 0) {
        return -1;
    }
    if (c->nport_refs == SHIM_MF_PORT_REFS) {
        return shim_mf_fail(c, value, path, "too many named ports"); /* 3 probes, 2 hooks */
    }
    ref = &c->port_refs[c->nport_refs++];
    ref->name = s;
    ref->mark = shim_mf_mark(c, value);
    snprintf(ref->path, sizeof(ref->path), "%s", path);
    h->port_name = s;
    return 0;
}

static int read_scheme(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path)
{
    static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
    struct shim_handler *h = obj;
    char *s;

    (void)key;
    if (shim_mf_string(c, value, path, &s) < 0) {
        return -1;
    }
    if (s[0] == '\0') {
        return 0; /* the default */
    }
    h->scheme = s;
    return shim_mf_choice(c, value, path, schemes, s);
}

static int check_header_name(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    for (; *s != '\0'; s++) {
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            *s != '-') {
            return shim_mf_why(why, whysz,
                               "a valid HTTP header must consist of alphanumeric characters or "
                               "'-' (e.g. 'X-Header-Name', regex used for validation is "
                               "'[-A-Za-z0-9]+')");
        }
    }
    return 0;
}

static const struct shim_mf_field header_fields[] = {
    {.name = "name",
     .type = SHIM_MF_STRING,
     .off = offsetof(struct shim_http_header, name),
     .check = check_header_name},
    {.name = "value", .type = SHIM_MF_STRING, .off = offsetof(struct shim_http_header, value)},
    {.name = NULL},
};

static int read_headers(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                        const char *path)
{
    struct shim_handler *h = obj;
    char ipath[SHIM_MF_PATH_MAX];

    (void)key;
    if (shim_mf_seq(c, value, path, SHIM_MF_LIST_MAX, &h->nheaders) < 0 ||
        (h->headers = shim_mf_array(c, h->nheaders, sizeof(*h->headers))) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        struct shim_http_header *hd = &h->headers[i];
        yaml_node_t *item;

        shim_mf_index(ipath, sizeof(ipath), path, i);
        if ((item = shim_mf_item(c, value, i, ipath)) == NULL ||
            shim_mf_walk(c, item, ipath, header_fields, hd, NULL) < 0 ||
            shim_mf_required(c, hd->name, item, ipath, "name") < 0) {
            return -1;
        }
        if (hd->value == NULL) {
            hd->value = "";
        }
    }
    return 0;
}

/* A sleep lasts at least a second and no longer than the pod's grace period (read first). */
static int read_sleep_seconds(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                              const char *path)
{
    struct shim_handler *h = obj;
    long long grace = c->pod->termination_grace_period;
    char buf[64];

    (void)key;
    if (shim_mf_int(c, value, path, LLONG_MIN, LLONG_MAX, false, &h->sleep_seconds) < 0) {
        return -1;
    }
    if (h->sleep_seconds <= 0 || h->sleep_seconds > grace) {
        return shim_mf_fail(c, value, path,
                            "invalid value %s: must be greater than 0 and less than "
                            "terminationGracePeriodSeconds (%lld)",
                            shown(value, buf, sizeof(buf)), grace);
    }
    return 0;
}

/* The port is the second row of both tables: bit 2 of what the walk saw. */
#define PORT_GIVEN 2

static const struct shim_mf_field http_fields[] = {
    {.name = "host", .type = SHIM_MF_STRING, .off = offsetof(struct shim_handler, host)},
    {.name = "port", .type = SHIM_MF_FUNC, .fn = read_port},
    {.name = "path", .type = SHIM_MF_STRING, .off = offsetof(struct shim_handler, path)},
    {.name = "scheme", .type = SHIM_MF_FUNC, .fn = read_scheme},
    {.name = "httpHeaders", .type = SHIM_MF_FUNC, .fn = read_headers},
    {.name = NULL},
};

static const struct shim_mf_field tcp_fields[] = {
    {.name = "host", .type = SHIM_MF_STRING, .off = offsetof(struct shim_handler, host)},
    {.name = "port", .type = SHIM_MF_FUNC, .fn = read_port},
    {.name = NULL},
};

static const struct shim_mf_field exec_fields[] = {
    {.name = "command",
     .type = SHIM_MF_STRLIST,
     .off = offsetof(struct shim_handler, command),
     .off2 = offsetof(struct shim_handler, ncommand)},
    {.name = NULL},
};

static const struct shim_mf_field sleep_fields[] = {
    {.name = "seconds", .type = SHIM_MF_FUNC, .fn = read_sleep_seconds},
    {.name = NULL},
};

/* "path.field: required value" at the field's value when it was given (an empty list or
 * string), else at the mapping. */
static int required_at(struct shim_mf *c, yaml_node_t *map, const char *path, const char *field)
{
    char fpath[SHIM_MF_PATH_MAX];
    yaml_node_t *node = shim_mf_get(c, map, field, NULL);

    shim_mf_join(fpath, sizeof(fpath), path, field);
    return shim_mf_fail(c, node != NULL && !shim_mf_is_null(node) ? node : map, fpath,
                        "required value");
}

/* One handler type (the key's name) of a probe or hook: obj is the handler. */
static int read_handler(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                        const char *path)
{
    struct shim_handler *h = obj;
    const char *type = (const char *)key->data.scalar.value;
    uint64_t given;

    if (c->nsources++ > 0) {
        return shim_mf_fail(c, key, path, "may not specify more than 1 handler type");
    }
    if (strcmp(type, "exec") == 0) {
        h->type = SHIM_HANDLER_EXEC;
        if (shim_mf_walk(c, value, path, exec_fields, h, NULL) < 0) {
            return -1;
        }
        return h->ncommand > 0 ? 0 : required_at(c, value, path, "command");
    }
    if (strcmp(type, "sleep") == 0) {
        h->type = SHIM_HANDLER_SLEEP;
        if (shim_mf_walk(c, value, path, sleep_fields, h, &given) < 0) {
            return -1;
        }
        return given != 0 ? 0 : required_at(c, value, path, "seconds");
    }
    h->type = strcmp(type, "httpGet") == 0 ? SHIM_HANDLER_HTTP : SHIM_HANDLER_TCP;
    if (shim_mf_walk(c, value, path, h->type == SHIM_HANDLER_HTTP ? http_fields : tcp_fields, h,
                     &given) < 0) {
        return -1;
    }
    if (!(given & PORT_GIVEN)) {
        return required_at(c, value, path, "port");
    }
    if (h->host != NULL && h->host[0] == '\0') {
        h->host = NULL; /* the pod's address, as Kubernetes reads "" */
    }
    if (h->type == SHIM_HANDLER_HTTP) {
        h->path = h->path != NULL && h->path[0] != '\0' ? h->path : "/";
        h->scheme = h->scheme != NULL ? h->scheme : "HTTP";
    }
    return 0;
}

/* Walks a probe or hook (obj) by fields, which must give it exactly one handler, h. */
static int read_one_handler(struct shim_mf *c, yaml_node_t *value, const char *path,
                            const struct shim_mf_field *fields, void *obj, struct shim_handler *h)
{
    c->nsources = 0;
    if (shim_mf_walk(c, value, path, fields, obj, NULL) < 0) {
        return -1;
    }
    if (c->nsources == 0) {
        return shim_mf_fail(c, value, path, "must specify a handler type");
    }
    h->mark = shim_mf_mark(c, value); /* where the probe's or hook's mapping starts */
    return 0;
}

/* ---- probes ---------------------------------------------------------------------------- */

#define PROBE_HANDLER(type_name)                                                                   \
    {                                                                                              \
        .name = type_name, .type = SHIM_MF_FUNC, .off = offsetof(struct shim_probe, handler),      \
        .fn = read_handler                                                                         \
    }
#define PROBE_COUNT(field_name, member)                                                            \
    {                                                                                              \
        .name = field_name, .type = SHIM_MF_FUNC, .off = offsetof(struct shim_probe, member),      \
        .fn = read_count                                                                           \
    }

static const struct shim_mf_field probe_fields[] = {
    PROBE_HANDLER("exec"),
    PROBE_HANDLER("httpGet"),
    PROBE_HANDLER("tcpSocket"),
    {.name = "grpc", .type = SHIM_MF_UNSUPPORTED},
    PROBE_COUNT("initialDelaySeconds", initial_delay_seconds),
    PROBE_COUNT("periodSeconds", period_seconds),
    PROBE_COUNT("timeoutSeconds", timeout_seconds),
    PROBE_COUNT("successThreshold", success_threshold),
    PROBE_COUNT("failureThreshold", failure_threshold),
    {.name = "terminationGracePeriodSeconds",
     .type = SHIM_MF_FUNC,
     .off = offsetof(struct shim_probe, termination_grace_period),
     .fn = read_probe_grace},
    {.name = NULL},
};

/* "path.field: invalid value X: why" at the field's value (which was given). */
static int invalid_at(struct shim_mf *c, yaml_node_t *map, const char *path, const char *field,
                      const char *why)
{
    char fpath[SHIM_MF_PATH_MAX];
    char buf[64];
    yaml_node_t *node = shim_mf_get(c, map, field, NULL);

    shim_mf_join(fpath, sizeof(fpath), path, field);
    return shim_mf_fail(c, node, fpath, "invalid value %s: %s", shown(node, buf, sizeof(buf)), why);
}

int shim_mf_probe(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                  const char *path)
{
    struct shim_container *ctr = obj;
    const char *name = (const char *)key->data.scalar.value;
    bool readiness = strcmp(name, "readinessProbe") == 0;
    struct shim_probe *p = readiness                            ? &ctr->readiness
                           : strcmp(name, "livenessProbe") == 0 ? &ctr->liveness
                                                                : &ctr->startup;

    if (c->plain_init) {
        return shim_mf_fail(c, key, path, PLAIN_INIT_WHY);
    }
    if (read_one_handler(c, value, path, probe_fields, p, &p->handler) < 0) {
        return -1;
    }
    /* Kubernetes' defaults, also for a 0 written out. */
    p->period_seconds = p->period_seconds != 0 ? p->period_seconds : 10;
    p->timeout_seconds = p->timeout_seconds != 0 ? p->timeout_seconds : 1;
    p->success_threshold = p->success_threshold != 0 ? p->success_threshold : 1;
    p->failure_threshold = p->failure_threshold != 0 ? p->failure_threshold : 3;
    if (!readiness && p->success_threshold != 1) {
        return invalid_at(c, value, path, "successThreshold", "must be 1");
    }
    if (readiness && p->termination_grace_period != -1) {
        return invalid_at(c, value, path, "terminationGracePeriodSeconds",
                          "must not be set for readinessProbes");
    }
    p->set = true;
    return 0;
}

/* ---- lifecycle hooks ------------------------------------------------------------------- */

static const struct shim_mf_field hook_fields[] = {
    {.name = "exec", .type = SHIM_MF_FUNC, .fn = read_handler},
    {.name = "httpGet", .type = SHIM_MF_FUNC, .fn = read_handler},
    {.name = "tcpSocket", .type = SHIM_MF_FUNC, .fn = read_handler}, /* deprecated, accepted */
    {.name = "sleep", .type = SHIM_MF_FUNC, .fn = read_handler},
    {.name = NULL},
};

/* postStart or preStop: obj is the handler. */
static int read_hook(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                     const char *path)
{
    (void)key;
    return read_one_handler(c, value, path, hook_fields, obj, obj);
}

static const struct shim_mf_field lifecycle_fields[] = {
    {.name = "postStart",
     .type = SHIM_MF_FUNC,
     .off = offsetof(struct shim_container, post_start),
     .fn = read_hook},
    {.name = "preStop",
     .type = SHIM_MF_FUNC,
     .off = offsetof(struct shim_container, pre_stop),
     .fn = read_hook},
    {.name = "stopSignal", .type = SHIM_MF_UNSUPPORTED},
    {.name = NULL},
};

int shim_mf_lifecycle(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path)
{
    if (c->plain_init) {
        return shim_mf_fail(c, key, path, PLAIN_INIT_WHY);
    }
    if (value->type == YAML_MAPPING_NODE && shim_mf_is_empty(value)) {
        return shim_mf_note(c, key, path, "empty");
    }
    return shim_mf_walk(c, value, path, lifecycle_fields, obj, NULL);
}

/* ---- native sidecars, and the container as a whole ------------------------------------- */

int shim_mf_container_restart(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                              const char *path)
{
    static const char *const always[] = {"Always", NULL};
    struct shim_container *ctr = obj;
    char *s;

    if (!c->init) {
        return shim_mf_fail(c, key, path, "not supported yet"); /* an alpha in Kubernetes 1.34 */
    }
    if (shim_mf_string(c, value, path, &s) < 0 || shim_mf_choice(c, value, path, always, s) < 0) {
        return -1;
    }
    ctr->sidecar = true;
    return 0;
}

static void probe_init(struct shim_probe *p)
{
    p->period_seconds = 10;
    p->timeout_seconds = 1;
    p->success_threshold = 1;
    p->failure_threshold = 3;
    p->termination_grace_period = -1;
}

void shim_mf_container_begin(struct shim_mf *c, struct shim_container *ctr, yaml_node_t *item)
{
    yaml_node_t *policy = shim_mf_get(c, item, "restartPolicy", NULL);

    c->plain_init = c->init && !(policy != NULL && policy->type == YAML_SCALAR_NODE &&
                                 strcmp((const char *)policy->data.scalar.value, "Always") == 0);
    c->nport_refs = 0;
    probe_init(&ctr->liveness);
    probe_init(&ctr->readiness);
    probe_init(&ctr->startup);
    shim_mf_security_init(&ctr->security);
}

int shim_mf_container_end(struct shim_mf *c, const struct shim_container *ctr)
{
    for (size_t i = 0; i < c->nport_refs; i++) {
        const struct shim_mf_port_ref *ref = &c->port_refs[i];
        bool found = false;

        for (size_t p = 0; p < ctr->nports && !found; p++) {
            found = ctr->ports[p].name != NULL && strcmp(ctr->ports[p].name, ref->name) == 0;
        }
        if (!found) {
            return shim_mf_fail_mark(c, &ref->mark, ref->path,
                                     "not found: the container has no port named \"%s\"",
                                     ref->name);
        }
    }
    return 0;
}
