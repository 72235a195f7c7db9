/* shim_manifest_int.h — private to shim_manifest*.c: the parse context, field tables and the
 * helpers that walk libyaml documents by schema. */
#ifndef SHIM_MANIFEST_INT_H
#define SHIM_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "shim_arena.h"
#include "shim_manifest.h"

#define SHIM_MF_PATH_MAX 256           /* a longer field path is cut in messages */
#define SHIM_MF_ARENA_CAP (256u << 20) /* memory one manifest may take */
#define SHIM_MF_NODES_BASE 10000       /* node visits allowed beyond 2 per byte */
#define SHIM_MF_CONTAINERS_MAX 1000    /* per list: initContainers, containers */
#define SHIM_MF_VOLUMES_MAX 1000
#define SHIM_MF_ENV_MAX 10000                /* env entries per container */
#define SHIM_MF_LIST_MAX 10000               /* any other list */
#define SHIM_MF_DATA_MAX (1024 * 1024)       /* bytes of keys and values per ConfigMap/Secret */
#define SHIM_MF_ANNOTATIONS_MAX (256 * 1024) /* bytes of annotation keys and values */
#define SHIM_MF_PORT_REFS 5 /* ports named by one container's 3 probes and 2 hooks */

/* The kind of the document being walked. */
enum shim_mf_kind {
    SHIM_MF_POD,
    SHIM_MF_CONFIGMAP,
    SHIM_MF_SECRET,
};

/* Strings already seen, each with a number (an index): duplicate checks in O(1). */
struct shim_mf_set {
    const char **keys;
    size_t *vals;
    size_t cap, n; /* cap is 0 or a power of two */
};

/* A port that a probe or hook names: it must be one of its container's ports. */
struct shim_mf_port_ref {
    const char *name;
    struct shim_mark mark;
    char path[SHIM_MF_PATH_MAX];
};

/* The metadata every kind shares; copied into the Pod, ConfigMap or Secret. */
struct shim_mf_meta {
    char *name;
    char *namespace;
    char *uid;
    struct shim_kv *labels;
    size_t nlabels;
    struct shim_kv *annotations;
    size_t nannotations;
};

/* One parse: where errors and notes go, what is being built, and the limits. */
struct shim_mf {
    const char *file; /* the manifest's name, in the arena */
    const char *data; /* the whole input, for reader errors that give a byte offset */
    size_t len;
    struct shim_arena *arena;
    struct shim_manifest *m;
    char *err; /* the caller's buffer; the first error is kept */
    size_t errsz;
    bool failed;
    size_t budget; /* node visits left: aliases must not blow the walk up */
    size_t notes_cap, configmaps_cap, secrets_cap;
    yaml_document_t *doc; /* the document being walked */
    char **scalars;       /* per node of doc: its text in the arena, once copied */
    size_t nscalars;
    enum shim_mf_kind kind; /* of doc */
    /* While the Pod is walked. */
    struct shim_pod *pod;
    struct shim_mf_set ctr_names;   /* names of init and app containers */
    struct shim_mf_set host_ports;  /* "hostIP/protocol/port" of app containers */
    struct shim_mf_set port_names;  /* of the container being walked */
    struct shim_mf_set mount_paths; /* likewise */
    bool init;                      /* walking initContainers */
    bool plain_init; /* walking an init container that is not a sidecar: no probes, no hooks */
    struct shim_mf_port_ref port_refs[SHIM_MF_PORT_REFS]; /* of the container being walked */
    size_t nport_refs;
    int nsources; /* sources seen in a volume, valueFrom or envFrom; handlers in a probe or hook */
};

/* How a field of a mapping is read. */
enum shim_mf_type {
    SHIM_MF_STRING,            /* char * at off; checked by .check or .choices when set */
    SHIM_MF_BOOL,              /* bool at off */
    SHIM_MF_INT,               /* int at off, from .min to .max */
    SHIM_MF_INT64,             /* long long at off, from .min to .max */
    SHIM_MF_STRLIST,           /* char ** (NULL-terminated) at off, its count (size_t) at off2 */
    SHIM_MF_FUNC,              /* .fn reads it */
    SHIM_MF_DONE,              /* read before the walk (only checked for duplicates) */
    SHIM_MF_NOTE,              /* accepted without effect (.why); .fn or .choices, when set,
                                * check it first */
    SHIM_MF_UNSUPPORTED,       /* a Kubernetes field podshim does not support yet */
    SHIM_MF_UNSUPPORTED_EMPTY, /* the same, but an empty {} or [] is a note */
    SHIM_MF_UNSUPPORTED_FALSE, /* the same, but false (the default) is a note */
};

struct shim_mf;

/* Reads the value of a FUNC (or checks a NOTE) field; obj is the walk's object plus the
 * row's off. */
typedef int (*shim_mf_fn)(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                          const char *path);

/* Checks a string: 0 when fine, -1 with why filled (without the value) when not, -2 when it
 * is empty and may not be ("required value"). */
typedef int (*shim_mf_check)(const char *s, char *why, size_t whysz);

/* One row of a mapping's schema; a table ends with a row whose name is NULL. At most 64
 * rows, so that the fields seen fit a bit mask. */
struct shim_mf_field {
    const char *name;
    enum shim_mf_type type;
    size_t off, off2;
    long long min, max;
    bool octal;                 /* INT: show the range in octal (file modes) */
    const char *const *choices; /* STRING, NOTE: the allowed values, NULL-terminated */
    shim_mf_check check;        /* STRING */
    shim_mf_fn fn;              /* FUNC, NOTE */
    const char *why;            /* NOTE and the notes of UNSUPPORTED_* */
};

/* ---- shim_manifest_util.c: errors, notes, memory, paths, nodes, typed reads ------------- */

/* Record the first error, "FILE:LINE:COL: PATH: message" (position and path left out when
 * NULL), as one printable line in the caller's buffer. Return -1. */
int shim_mf_fail(struct shim_mf *c, const yaml_node_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int shim_mf_fail_mark(struct shim_mf *c, const struct shim_mark *mark, const char *path,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Add "FILE:LINE:COL: PATH: accepted, no effect: why" to the manifest's notes. 0, or -1. */
int shim_mf_note(struct shim_mf *c, const yaml_node_t *node, const char *path, const char *why);
int shim_mf_note_mark(struct shim_mf *c, const struct shim_mark *mark, const char *path,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The error of a failed yaml_parser_load, at its position (reader errors: from the offset). */
int shim_mf_syntax_error(struct shim_mf *c, const yaml_parser_t *parser);
/* The error for a failed arena allocation (errno E2BIG: the manifest's memory cap). */
int shim_mf_oom(struct shim_mf *c);
/* s for a message: cut to fit bufsz with "..." (shim_mf_clean makes it printable later). */
const char *shim_mf_shown(const char *s, char *buf, size_t bufsz);
/* Replaces control characters and bytes that are not UTF-8 in s with '?'. */
void shim_mf_clean(char *s);
/* What node is, for "expected X, got Y": a mapping, a list, null, "text", the string "text". */
const char *shim_mf_described(const yaml_node_t *n, char *buf, size_t bufsz);

/* Zeroed arena memory; NULL with the error recorded. */
void *shim_mf_array(struct shim_mf *c, size_t n, size_t size);
char *shim_mf_strdup(struct shim_mf *c, const char *s);
/* Makes room for element n of *v (capacity *cap, doubling in the arena). 0, or -1. */
int shim_mf_grow(struct shim_mf *c, void **v, size_t *cap, size_t n, size_t size);

/* Field paths: "parent.field", "parent[i]", "parent[key]" (cut to bufsz). */
void shim_mf_join(char *buf, size_t bufsz, const char *parent, const char *field);
void shim_mf_index(char *buf, size_t bufsz, const char *parent, size_t i);
void shim_mf_key(char *buf, size_t bufsz, const char *parent, const char *key);

/* Where node starts, counting from 1. */
struct shim_mark shim_mf_mark(const struct shim_mf *c, const yaml_node_t *node);
yaml_node_t *shim_mf_node(struct shim_mf *c, int index);
/* A plain null: nothing, "~" or "null"; a quoted "" is a string. */
bool shim_mf_is_null(const yaml_node_t *n);
/* {} or []. */
bool shim_mf_is_empty(const yaml_node_t *n);
/* Counts one node visit against the budget; -1 (error at node) when it is spent. */
int shim_mf_tick(struct shim_mf *c, const yaml_node_t *node, const char *path);
/* 0 when node is "a mapping" or "a list" as expected, else -1 with the error. */
int shim_mf_expect(struct shim_mf *c, const yaml_node_t *node, const char *path,
                   const char *expected);
/* node is a list of at most max items; *n is their number. */
int shim_mf_seq(struct shim_mf *c, const yaml_node_t *node, const char *path, size_t max,
                size_t *n);
/* Item i of the list seq, counted against the budget; NULL with the error recorded. */
yaml_node_t *shim_mf_item(struct shim_mf *c, const yaml_node_t *seq, size_t i, const char *path);
/* The value of field in the mapping map (and its key in *key), or NULL: for positions. */
yaml_node_t *shim_mf_get(struct shim_mf *c, const yaml_node_t *map, const char *field,
                         yaml_node_t **key);

/* A scalar as a string in the arena (one copy per node); errors for null, non-scalars and,
 * in shim_mf_string, NUL bytes. shim_mf_bytes also gives the length. */
int shim_mf_string(struct shim_mf *c, const yaml_node_t *node, const char *path, char **out);
int shim_mf_bytes(struct shim_mf *c, const yaml_node_t *node, const char *path, char **out,
                  size_t *len);
/* A plain true/false (yes/no/on/off, as YAML 1.1); a quoted "true" is an error. */
int shim_mf_bool(struct shim_mf *c, const yaml_node_t *node, const char *path, bool *out);
/* A plain YAML 1.1 integer from min to max (a quoted "80" is an error). */
int shim_mf_int(struct shim_mf *c, const yaml_node_t *node, const char *path, long long min,
                long long max, bool octal, long long *out);
/* Runs check on s; the error ("required value" or "invalid value") is at node. */
int shim_mf_checked(struct shim_mf *c, shim_mf_check check, const yaml_node_t *node,
                    const char *path, const char *s);
/* s is one of choices (NULL-terminated), else "unsupported value" at node. */
int shim_mf_choice(struct shim_mf *c, const yaml_node_t *node, const char *path,
                   const char *const *choices, const char *s);
/* "path.name: required value" at map when field is NULL. */
int shim_mf_required(struct shim_mf *c, const void *field, yaml_node_t *map, const char *path,
                     const char *name);
/* A list of strings, each checked by check (NULL: none), NULL-terminated in *out. */
int shim_mf_strlist(struct shim_mf *c, const yaml_node_t *node, const char *path,
                    shim_mf_check check, char ***out, size_t *n);

/* ---- shim_manifest_walk.c: mappings by their schema, string sets ------------------------ */

/* Reads the mapping map into obj by the table fields: every key is a row (else "unknown
 * field", with "did you mean"), at most once; null values are skipped. *given (when not
 * NULL) gets a bit per row whose value was given. 0, or -1 with the error. */
int shim_mf_walk(struct shim_mf *c, yaml_node_t *map, const char *path,
                 const struct shim_mf_field *fields, void *obj, uint64_t *given);
/* FUNC/NOTE checks: the value is a boolean, or a string. */
int shim_mf_is_bool(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path);
int shim_mf_is_string(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path);
/* Adds key (which must outlive the set) with val: 0 added, 1 already there (its value in
 * *old when old is not NULL), -1 out of memory. */
int shim_mf_set_add(struct shim_mf *c, struct shim_mf_set *s, const char *key, size_t val,
                    size_t *old);

/* ---- shim_manifest_check.c: the API server's checks of names, paths and addresses ------- */

int shim_mf_why(char *why, size_t whysz, const char *text);          /* fills why, returns -1 */
int shim_mf_check_label(const char *s, char *why, size_t whysz);     /* DNS-1123 label */
int shim_mf_check_subdomain(const char *s, char *why, size_t whysz); /* DNS-1123 subdomain */
int shim_mf_check_port_name(const char *s, char *why, size_t whysz); /* IANA_SVC_NAME */
int shim_mf_check_ip(const char *s, char *why, size_t whysz);        /* IPv4 or IPv6 literal */
int shim_mf_check_env_name(const char *s, char *why, size_t whysz);
int shim_mf_check_config_key(const char *s, char *why, size_t whysz);     /* data keys */
int shim_mf_check_qualified_name(const char *s, char *why, size_t whysz); /* label keys */
int shim_mf_check_label_value(const char *s, char *why, size_t whysz);
int shim_mf_check_mount_path(const char *s, char *why, size_t whysz);    /* absolute, no ':' */
int shim_mf_check_relative_path(const char *s, char *why, size_t whysz); /* no "..", "" ok */
int shim_mf_check_item_path(const char *s, char *why, size_t whysz);     /* and no "..x" */
int shim_mf_check_host_path(const char *s, char *why, size_t whysz);     /* absolute, no ".." */
int shim_mf_check_uid(const char *s, char *why, size_t whysz);           /* safe in a path */
int shim_mf_check_image(const char *s, char *why, size_t whysz);

/* ---- shim_manifest_value.c: integers, quantities, base64 -------------------------------- */

/* A YAML 1.1 integer (42, -1, 0644 and 0o644 octal, 0x1a4): 0, -1 not one, -2 too large. */
int shim_mf_parse_int(const char *s, long long *out);
/* A Kubernetes quantity (64Mi, 1.5G, 1e3, 2000m) in whole bytes; -1 with why when not. */
int shim_mf_quantity(const char *s, uint64_t *out, char *why, size_t whysz);
/* The same quantity in thousandths, a fraction rounded up as Kubernetes does for CPU
 * ("500m" is 500, "1.5" is 1500, "0.1m" is 1). */
int shim_mf_millis(const char *s, uint64_t *out, char *why, size_t whysz);
/* Decodes standard, padded base64 (newlines skipped) into out (len / 4 * 3 + 3 bytes);
 * -1 with the offset of the bad byte in *bad. */
int shim_mf_base64(const char *in, size_t len, unsigned char *out, size_t *outlen, size_t *bad);

/* ---- the kinds and their parts --------------------------------------------------------- */

/* FUNC readers: metadata (into a struct shim_mf_meta), the Pod's containers or
 * initContainers, volumes and hostAliases (into the struct shim_pod). */
int shim_mf_meta(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                 const char *path);
int shim_mf_containers(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                       const char *path);
int shim_mf_volumes(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                    const char *path);
int shim_mf_host_aliases(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                         const char *path);
/* metadata.name, required of every object; *mark becomes its position. */
int shim_mf_need_name(struct shim_mf *c, yaml_node_t *root, const struct shim_mf_meta *meta,
                      struct shim_mark *mark);
/* Reads a ConfigMap or Secret document and adds it to the manifest. */
int shim_mf_configmap(struct shim_mf *c, yaml_node_t *root);
int shim_mf_secret(struct shim_mf *c, yaml_node_t *root);

/* ---- shim_manifest_probe.c: probes, lifecycle hooks, native sidecars ------------------- */

/* Before a container is walked: the defaults of its probes, hooks and securityContext, and
 * whether it is an init container that is not a sidecar (item's restartPolicy is looked at
 * first, so that its probes and hooks are refused where they stand). */
void shim_mf_container_begin(struct shim_mf *c, struct shim_container *ctr, yaml_node_t *item);
/* After: every port its probes and hooks name is one of its ports. 0, or -1. */
int shim_mf_container_end(struct shim_mf *c, const struct shim_container *ctr);
/* FUNC readers of a container (obj): livenessProbe, readinessProbe and startupProbe (by the
 * key's name), lifecycle, and restartPolicy (Always makes an init container a sidecar). */
int shim_mf_probe(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                  const char *path);
int shim_mf_lifecycle(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path);
int shim_mf_container_restart(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                              const char *path);

/* ---- shim_manifest_res.c, shim_manifest_sec.c: resources and securityContext ---------- */

/* FUNC reader of a container's (obj) resources. */
int shim_mf_resources(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                      const char *path);
/* Every number of sc "not given" (-1). */
void shim_mf_security_init(struct shim_security_context *sc);
/* FUNC readers of spec.securityContext (obj: the pod) and a container's (obj: the container). */
int shim_mf_pod_security(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                         const char *path);
int shim_mf_container_security(struct shim_mf *c, void *obj, yaml_node_t *key, yaml_node_t *value,
                               const char *path);

/* How shim_mf_strmap reads a mapping of strings (labels, annotations, data). */
struct shim_mf_map {
    shim_mf_check key_check;
    shim_mf_check value_check;
    bool bytes;    /* values may hold NUL bytes */
    bool base64;   /* values are base64, kept decoded */
    size_t *total; /* bytes of keys and values so far; NULL: no limit */
    size_t max_total;
    struct shim_mf_set *set;  /* shared by the maps of one object; NULL: its own */
    size_t id;                /* this map's number in set */
    const char *const *names; /* the names of the maps sharing set, by id */
};

/* Reads a mapping of strings into *out (keys unique, also across maps sharing how->set). */
int shim_mf_strmap(struct shim_mf *c, const yaml_node_t *node, const char *path,
                   const struct shim_mf_map *how, struct shim_kv **out, size_t *n);

#endif
