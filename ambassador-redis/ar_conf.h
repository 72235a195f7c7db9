/* ar_conf.h — ambassador-redis' settings: one table of keys (flags and YAML), then the
 * checks and derived values (parsed addresses, secrets read from their files). */
#ifndef AR_CONF_H
#define AR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pk_addr.h"
#include "pk_conf.h"

enum ar_mode { AR_MODE_PINNED, AR_MODE_MULTIPLEX };
enum ar_read_from { AR_READ_MASTER, AR_READ_REPLICA, AR_READ_PREFER_REPLICA };

struct ar_conf {
    /* As the table sets them (owned by the pk_conf that loaded them). */
    struct pk_strv listen;
    int mode;
    long long upstream_conns;
    char *upstream;
    struct pk_strv sentinel; /* each item may hold several, comma-separated */
    char *master_name;
    int read_from;
    struct pk_strv replica;
    char *upstream_user, *upstream_password, *upstream_password_file;
    char *sentinel_user, *sentinel_password;
    char *requirepass, *requirepass_file;
    bool upstream_tls;
    char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_server_name;
    int64_t connect_timeout_ms, idle_timeout_ms, recheck_ms, shutdown_timeout_ms;
    uint64_t client_output_limit, proto_max_bulk_len, client_query_buffer_limit;
    long long max_multibulk_len;
    char *admin_listen;

    /* Derived by ar_conf_check (owned here; freed by ar_conf_clear). */
    struct pk_addr *listen_addrs;
    size_t nlisten;
    struct pk_addr admin_addr;
    bool has_admin;
    char **sentinels; /* one "HOST:PORT" each, split from the lists */
    size_t nsentinels;
    char *upstream_secret; /* the password, from the flag or its file (trailing newline
                            * dropped), or NULL */
    char *client_secret;   /* --requirepass, likewise, or NULL */
};

/* The table: every key as a flag and a YAML key. Ends with a NULL name. */
extern const struct pk_conf_key ar_conf_keys[];

/* Checks what one key cannot check alone and fills the derived fields: listen addresses,
 * exactly one of upstream and sentinel (with master-name), secrets read from files, TLS
 * files readable. Returns 0, or -1 with one line in err naming the key. Call
 * ar_conf_clear before checking the same struct again. */
int ar_conf_check(struct ar_conf *c, char *err, size_t errsz);

/* Frees the derived fields (the table's values belong to their pk_conf). */
void ar_conf_clear(struct ar_conf *c);

#endif
