/* shim_manifest.h — a Kubernetes v1 Pod manifest (with its ConfigMaps and Secrets), parsed
 * and validated the way the API server would, with file:line:column for every error. */
#ifndef SHIM_MANIFEST_H
#define SHIM_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_MANIFEST_FILE_MAX (4 * 1024 * 1024) /* a larger manifest file is refused */
#define SHIM_ERR_MAX 512

/* Where a node stood in its file, for errors found after parsing (a missing ConfigMap
 * key, a command that cannot run). line and column count from 1. */
struct shim_mark {
    const char *file; /* the manifest's name as given to the parser; owned by the manifest */
    unsigned line, column;
};

/* All strings and arrays below live in the manifest's arena and are freed with it:
 * nothing in a manifest is freed on its own, and nothing outlives shim_manifest_free. */

struct shim_kv {
    char *key;
    char *value; /* for Secrets: the decoded bytes, NUL-terminated; see value_len */
    size_t value_len;
};

enum shim_env_source {
    SHIM_ENV_VALUE,     /* value: literal, may hold $(VAR) references (not yet expanded) */
    SHIM_ENV_FIELD,     /* field_path: metadata.name, metadata.namespace, metadata.uid,
                         * status.podIP, and (part 2) others */
    SHIM_ENV_CONFIGMAP, /* ref_name/ref_key: configMapKeyRef */
    SHIM_ENV_SECRET,    /* ref_name/ref_key: secretKeyRef */
};

struct shim_env_var {
    char *name;
    enum shim_env_source source;
    char *value;      /* SHIM_ENV_VALUE; "" when the manifest gives no value */
    char *field_path; /* SHIM_ENV_FIELD */
    char *ref_name;   /* SHIM_ENV_CONFIGMAP / SHIM_ENV_SECRET */
    char *ref_key;
    bool optional; /* configMapKeyRef/secretKeyRef.optional */
    struct shim_mark mark;
};

struct shim_env_from {
    bool secret; /* secretRef, else configMapRef */
    char *name;
    char *prefix; /* "" when none */
    bool optional;
    struct shim_mark mark;
};

struct shim_port {
    char *name;         /* NULL when unnamed; else an IANA_SVC_NAME, unique in its container */
    int container_port; /* 1-65535 */
    int host_port;      /* 0: none */
    char *host_ip;      /* NULL: 127.0.0.1 when host_port is set */
    char *protocol;     /* "TCP" (default), "UDP" or "SCTP"; podshim forwards TCP only */
    struct shim_mark mark;
};

struct shim_mount {
    char *name;       /* a volume of the pod */
    char *mount_path; /* absolute, no ':' */
    bool read_only;
    char *sub_path; /* "" when none; relative, no ".." */
    struct shim_mark mark;
};

/* What a probe or a lifecycle hook does: exactly one of these. */
enum shim_handler_type {
    SHIM_HANDLER_NONE, /* not given */
    SHIM_HANDLER_EXEC, /* command, run in the container's namespaces */
    SHIM_HANDLER_HTTP, /* httpGet, from inside the pod's network namespace */
    SHIM_HANDLER_TCP,  /* tcpSocket: a connect from inside the pod's network namespace */
    SHIM_HANDLER_SLEEP, /* lifecycle hooks only: sleep.seconds */
};

struct shim_http_header {
    char *name;
    char *value;
};

struct shim_handler {
    enum shim_handler_type type;
    char **command; /* EXEC: NULL-terminated, no shell, no $(VAR) expansion (as Kubernetes) */
    size_t ncommand;
    char *host;      /* HTTP, TCP: NULL means the pod's address (127.0.0.1 here) */
    int port;        /* HTTP, TCP: 1-65535, or 0 when port_name is given */
    char *port_name; /* HTTP, TCP: a container port's name (resolved by the runtime) */
    char *path;      /* HTTP: "/" when not given */
    char *scheme;    /* HTTP: "HTTP" (default) or "HTTPS" */
    struct shim_http_header *headers; /* HTTP: httpHeaders */
    size_t nheaders;
    long long sleep_seconds; /* SLEEP */
    struct shim_mark mark;
};

/* livenessProbe, readinessProbe, startupProbe. Kubernetes' defaults filled in. */
struct shim_probe {
    bool set;
    struct shim_handler handler;
    int initial_delay_seconds; /* 0 */
    int period_seconds;        /* 10, >= 1 */
    int timeout_seconds;       /* 1, >= 1 */
    int success_threshold;     /* 1; liveness and startup must be 1 */
    int failure_threshold;     /* 3, >= 1 */
    long long termination_grace_period; /* probe-level terminationGracePeriodSeconds, -1 unset */
};

/* resources.requests and resources.limits, as numbers. 0 means not given. */
struct shim_resources {
    uint64_t cpu_request_millis, cpu_limit_millis; /* "500m", "1.5", "2" */
    uint64_t memory_request, memory_limit;         /* bytes: "64Mi", "1G" */
    bool set;                                      /* any of them given */
};

/* A capability name as Kubernetes writes it, without "CAP_" ("NET_ADMIN"), or "ALL". */
struct shim_security_context {
    long long run_as_user;  /* -1 when not given */
    long long run_as_group; /* -1 when not given */
    int run_as_non_root;    /* -1 not given, 0 false, 1 true */
    int read_only_root_fs;  /* -1, 0, 1 (container only) */
    int allow_privilege_escalation; /* -1, 0, 1 (container only) */
    int privileged;                 /* -1, 0, 1 (container only) */
    char **cap_add;  /* capabilities.add, NULL-terminated (container only) */
    size_t ncap_add;
    char **cap_drop; /* capabilities.drop */
    size_t ncap_drop;
    long long *supplemental_groups; /* pod only */
    size_t nsupplemental_groups;
    bool set; /* given and not empty */
};

struct shim_container {
    char *name; /* DNS-1123 label, unique across init and app containers */
    char *image;
    char **command; /* NULL-terminated; $(VAR) not yet expanded; NULL when not given */
    size_t ncommand;
    char **args; /* likewise */
    size_t nargs;
    char *working_dir; /* NULL when not given */
    struct shim_env_var *env;
    size_t nenv;
    struct shim_env_from *env_from;
    size_t nenv_from;
    struct shim_port *ports;
    size_t nports;
    struct shim_mount *mounts;
    size_t nmounts;
    bool tty, stdin_open; /* accepted; podshim gives no tty or stdin (yet) */
    bool sidecar; /* an init container with restartPolicy: Always (a native sidecar) */
    struct shim_probe liveness, readiness, startup; /* readiness and liveness: not on
                                                     * plain init containers */
    struct shim_handler post_start, pre_stop; /* lifecycle; SHIM_HANDLER_NONE when absent */
    struct shim_resources resources;
    struct shim_security_context security;
    struct shim_mark mark;
};

enum shim_volume_type {
    SHIM_VOL_EMPTYDIR,
    SHIM_VOL_HOSTPATH,
    SHIM_VOL_CONFIGMAP,
    SHIM_VOL_SECRET,
};

struct shim_key_path {
    char *key;
    char *path; /* relative, no "..", no leading '/' */
    int mode;   /* -1: the volume's default mode */
};

struct shim_volume {
    char *name; /* DNS-1123 label, unique in the pod */
    enum shim_volume_type type;
    /* emptyDir */
    bool memory;         /* medium: Memory -> tmpfs */
    uint64_t size_limit; /* bytes, 0: none (a Kubernetes quantity: 64Mi, 1G, 500M, ...) */
    /* hostPath */
    char *path;      /* absolute */
    char *host_type; /* "" or DirectoryOrCreate, Directory, FileOrCreate, File, Socket,
                      * CharDevice, BlockDevice */
    /* configMap / secret */
    char *source_name; /* configMap.name or secret.secretName */
    struct shim_key_path *items;
    size_t nitems;
    int default_mode; /* 0644 when not given */
    bool optional;
    struct shim_mark mark;
};

struct shim_host_alias {
    char *ip; /* IPv4 or IPv6 literal */
    char **hostnames; /* NULL-terminated */
    size_t nhostnames;
};

enum shim_restart_policy {
    SHIM_RESTART_ALWAYS,
    SHIM_RESTART_ON_FAILURE,
    SHIM_RESTART_NEVER,
};

struct shim_pod {
    char *name;      /* DNS-1123 subdomain */
    char *namespace; /* "default" when not given; DNS-1123 label */
    char *uid;       /* metadata.uid when given, else a random UUID made by the parser */
    struct shim_kv *labels;
    size_t nlabels;
    struct shim_kv *annotations;
    size_t nannotations;
    struct shim_container *init_containers;
    size_t ninit_containers;
    struct shim_container *containers; /* at least one */
    size_t ncontainers;
    struct shim_volume *volumes;
    size_t nvolumes;
    enum shim_restart_policy restart_policy; /* Always when not given */
    long long termination_grace_period;      /* seconds, 30 when not given, >= 0 */
    char *hostname;                          /* NULL: the pod name (cut to 63) */
    char *subdomain;                         /* NULL when not given */
    struct shim_host_alias *host_aliases;
    size_t nhost_aliases;
    bool share_process_namespace;
    struct shim_security_context security; /* spec.securityContext: runAsUser, runAsGroup,
                                            * runAsNonRoot, supplementalGroups */
    struct shim_mark mark;
};

struct shim_configmap {
    char *name;
    char *namespace;
    struct shim_kv *data; /* data and binaryData (decoded), keys unique */
    size_t ndata;
    struct shim_mark mark;
};

struct shim_secret {
    char *name;
    char *namespace;
    char *type;           /* "Opaque" when not given */
    struct shim_kv *data; /* data (base64-decoded) and stringData (which wins), keys unique */
    size_t ndata;
    struct shim_mark mark;
};

struct shim_arena; /* where every string and array of a manifest lives */

struct shim_manifest {
    struct shim_arena *arena; /* owned */
    struct shim_pod *pod;     /* exactly one Pod per file */
    struct shim_configmap *configmaps;
    size_t nconfigmaps;
    struct shim_secret *secrets;
    size_t nsecrets;
    /* Fields accepted although they have no effect on podshim (imagePullPolicy, ...),
     * one "file:line:col: path: why" line each, for the caller to log at info level. */
    char **notes;
    size_t nnotes;
};

/* Parses and validates every document of data (YAML or JSON; several documents may be
 * separated by ---). name is used in messages. On success *out is a new manifest (free
 * with shim_manifest_free) and 0 is returned. On failure returns -1, *out is NULL and err
 * holds one line: "FILE:LINE:COL: field.path: what is wrong", for example
 *   pod.yaml:14:7: spec.containers[1].resources: not supported yet
 *   pod.yaml:3:9: metadata.name: invalid value "Web_1": a lowercase RFC 1123 subdomain ...
 * Every field is either understood, noted as without effect (notes), or an error: nothing
 * is ignored silently. References between documents (a configMap volume naming a
 * ConfigMap of the file) are not required to resolve here: the runtime reports a missing
 * one when it starts the pod, as the kubelet does. */
int shim_manifest_parse(const char *name, const char *data, size_t len, struct shim_manifest **out,
                        char *err, size_t errsz);

/* Reads path (at most SHIM_MANIFEST_FILE_MAX bytes; "-" is stdin) and parses it. */
int shim_manifest_load(const char *path, struct shim_manifest **out, char *err, size_t errsz);

/* Frees the manifest and everything in it. NULL is fine. */
void shim_manifest_free(struct shim_manifest *m);

/* Looks a ConfigMap or Secret of the manifest up by name (the pod's namespace). */
const struct shim_configmap *shim_manifest_configmap(const struct shim_manifest *m,
                                                     const char *name);
const struct shim_secret *shim_manifest_secret(const struct shim_manifest *m, const char *name);

/* Expands Kubernetes $(VAR) references in s against the NAME=VALUE strings of env
 * (n of them): $(VAR) with VAR defined becomes its value, $$ becomes $, and anything
 * else (an undefined $(VAR), a lone $) stays as it is, as the kubelet does. Returns a
 * new malloc'd string, or NULL when out of memory. */
char *shim_expand(const char *s, char *const *env, size_t n);

#endif
