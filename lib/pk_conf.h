/* pk_conf.h — configuration declared once per key: YAML file, flag, default and help. */
#ifndef PK_CONF_H
#define PK_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

/* What a key holds, and the C type at its offset in the destination struct. */
enum pk_conf_type {
    PK_CONF_BOOL,     /* bool: true/false, yes/no, on/off */
    PK_CONF_INT,      /* long long, within [min, max] */
    PK_CONF_SIZE,     /* uint64_t bytes: 512, 64KiB or 64Ki (1024^n), 8MB or 8M (1000^n) */
    PK_CONF_DURATION, /* int64_t ms: 250ms, 5s, 1.5s, 1m30s, 2h; a bare number is seconds */
    PK_CONF_STRING,   /* char *, owned by the config; NULL when unset */
    PK_CONF_LIST,     /* struct pk_strv: a YAML sequence of scalars, or a repeatable flag */
    PK_CONF_ENUM,     /* int: index into choices */
    PK_CONF_CUSTOM,   /* whatever the key's struct pk_conf_custom parses */
};

/* A growable list of owned strings. */
struct pk_strv {
    char **v;
    size_t n;
};

struct pk_conf;

/* A key whose value needs its own parser: a list of mappings, a parsed address. Every
 * callback gets dst = base + offset. Errors go through pk_conf_fail(). */
struct pk_conf_custom {
    /* Parses a flag's text. append is true for the second and later uses of a flag. */
    int (*from_text)(struct pk_conf *c, void *dst, const char *text, bool append);
    /* Parses the YAML node at path (node belongs to c's current document). Aliases can
     * make the node graph cyclic: a parser that recurses must bound its depth. */
    int (*from_yaml)(struct pk_conf *c, void *dst, yaml_node_t *node, const char *path);
    /* Frees what the value owns and leaves it empty. */
    void (*clear)(void *dst);
};

/* Flags on a key. */
#define PK_CONF_FILE_ONLY 0x1u /* no command-line flag */
#define PK_CONF_FLAG_ONLY 0x2u /* not accepted in the file */
#define PK_CONF_REQUIRED 0x4u  /* must be set by the file or a flag */

/* One row of a binary's table: the only place a key is declared. The table ends with a
 * row whose name is NULL. */
struct pk_conf_key {
    const char *name; /* YAML key, "a.b" for b nested under a; the long flag is --name */
    char short_flag;  /* e.g. 'l' for -l, or 0; c h t V are reserved */
    enum pk_conf_type type;
    size_t offset;              /* offsetof(destination struct, field) */
    const char *def;            /* default, written as in YAML; NULL for none */
    const char *metavar;        /* word for the value in --help ("ADDR"); NULL: from the type */
    const char *help;           /* one line for --help */
    long long min, max;         /* PK_CONF_INT bounds, inclusive; both 0 means any long long */
    const char *const *choices; /* PK_CONF_ENUM: NULL-terminated names */
    const struct pk_conf_custom *custom; /* PK_CONF_CUSTOM */
    unsigned flags;                      /* PK_CONF_FILE_ONLY, ... */
};

#define PK_CONF_MAX_SECTIONS 4
#define PK_CONF_ERR_MAX 512
#define PK_CONF_FILE_MAX (1024 * 1024) /* a larger config file is refused */

/* A configuration being built: tables of keys with the struct each writes into. */
struct pk_conf {
    struct {
        const struct pk_conf_key *keys; /* borrowed, static */
        void *base;                     /* borrowed: where the keys' offsets point */
        size_t nkeys;
        unsigned char *seen; /* owned: per key, 1 once set by the file or a flag (2 while
                              * the document that set it is being walked: duplicates) */
    } sect[PK_CONF_MAX_SECTIONS];
    size_t nsect;
    /* While a document is walked: its name, for error positions, and the document. */
    const char *source;
    yaml_document_t *doc;
    char err[PK_CONF_ERR_MAX]; /* the first error, one line, no newline */
};

/* Starts an empty configuration. Call pk_conf_add for each table, then load. */
void pk_conf_init(struct pk_conf *c);

/* Adds a table writing into base and sets every key of it to its default. A default
 * that does not parse is a programming error; it is reported like any other (-1). */
int pk_conf_add(struct pk_conf *c, const struct pk_conf_key *keys, void *base);

/* Reads a YAML file (at most PK_CONF_FILE_MAX bytes) and sets the keys it names.
 * Unknown keys, wrong types, bad values, duplicates and syntax errors fail with
 * c->err = "FILE:LINE:COLUMN: key.path: what is wrong". Returns 0 or -1. */
int pk_conf_load_file(struct pk_conf *c, const char *path);

/* The same for a buffer already in memory; name is used in error messages. */
int pk_conf_load_buffer(struct pk_conf *c, const char *name, const char *data, size_t len);

/* The key named name (the long flag without dashes), or NULL. With section, also
 * which table holds it. */
const struct pk_conf_key *pk_conf_find(const struct pk_conf *c, const char *name, size_t *section);

/* The key with short flag ch, or NULL. */
const struct pk_conf_key *pk_conf_find_short(const struct pk_conf *c, char ch, size_t *section);

/* Sets a key from text, as a flag does. For lists, append adds an item; otherwise
 * the list is replaced by this one item. Errors name the flag: "--name: ...". */
int pk_conf_set(struct pk_conf *c, size_t section, const struct pk_conf_key *key, const char *text,
                bool append);

/* Fails naming the first PK_CONF_REQUIRED key that nothing set. */
int pk_conf_check_required(struct pk_conf *c);

/* Frees every value the tables own (strings, lists, custom values) and the
 * bookkeeping. The destination structs may be reused after pk_conf_init. */
void pk_conf_release(struct pk_conf *c);

/* For custom parsers: records an error at node ("FILE:LINE:COL: path: message"), or
 * without a position when node is NULL, and returns -1. Only the first error is kept. */
int pk_conf_fail(struct pk_conf *c, const yaml_node_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* For custom parsers: what a node is, for messages ("a scalar", "a list", "a mapping"). */
const char *pk_conf_node_kind(const yaml_node_t *n);

/* For custom parsers: true for YAML's null (an empty plain scalar, ~, null, Null, NULL). */
bool pk_conf_is_null(const yaml_node_t *n);

/* For custom parsers: the node at index in the document being walked, or NULL. */
yaml_node_t *pk_conf_node(struct pk_conf *c, int index);

/* Value parsers shared by files and flags; each returns 0, or -1 with a message in err
 * saying what was expected. */
int pk_conf_parse_bool(const char *s, bool *out, char *err, size_t errsz);
int pk_conf_parse_int(const char *s, long long min, long long max, long long *out, char *err,
                      size_t errsz);
int pk_conf_parse_size(const char *s, uint64_t *out, char *err, size_t errsz);
int pk_conf_parse_duration(const char *s, int64_t *out_ms, char *err, size_t errsz);

/* Appends a copy of s. Returns 0 or -1 (out of memory). */
int pk_strv_push(struct pk_strv *sv, const char *s);
void pk_strv_clear(struct pk_strv *sv);

#endif
