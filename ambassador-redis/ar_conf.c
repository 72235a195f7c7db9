/* ar_conf.c — ambassador-redis' configuration table and the checks that span keys. */
#include "ar_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const modes[] = {"pinned", "multiplex", NULL};
static const char *const read_froms[] = {"master", "replica", "prefer-replica", NULL};

#define KEY(n, t, f, d, m, h)                                                                      \
    {                                                                                              \
        .name = n, .type = t, .offset = offsetof(struct ar_conf, f), .def = d, .metavar = m,       \
        .help = h                                                                                  \
    }

const struct pk_conf_key ar_conf_keys[] = {
    KEY("listen", PK_CONF_LIST, listen, "127.0.0.1:6379", "ADDR",
        "where clients connect: HOST:PORT, [IPV6]:PORT or unix:PATH"),
    {.name = "mode",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct ar_conf, mode),
     .def = "pinned",
     .choices = modes,
     .help = "pinned: one upstream connection per client; multiplex: clients share "
             "--upstream-conns pipelined connections"},
    {.name = "upstream-conns",
     .type = PK_CONF_INT,
     .offset = offsetof(struct ar_conf, upstream_conns),
     .def = "2",
     .min = 1,
     .max = 64,
     .metavar = "N",
     .help = "multiplex: shared connections to the master"},
    KEY("upstream", PK_CONF_STRING, upstream, NULL, "HOST:PORT", "a fixed master"),
    KEY("sentinel", PK_CONF_LIST, sentinel, NULL, "HOST:PORT[,...]",
        "Sentinels that know the master, with --master-name"),
    KEY("master-name", PK_CONF_STRING, master_name, NULL, "NAME",
        "the master's name in Sentinel"),
    {.name = "read-from",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct ar_conf, read_from),
     .def = "master",
     .choices = read_froms,
     .help = "where read-only commands go outside transactions"},
    KEY("replica", PK_CONF_LIST, replica, NULL, "HOST:PORT",
        "a fixed replica for --read-from (with Sentinel: discovered)"),
    KEY("upstream-user", PK_CONF_STRING, upstream_user, NULL, "USER",
        "ACL user the ambassador authenticates upstream as"),
    KEY("upstream-password", PK_CONF_STRING, upstream_password, NULL, "PASSWORD",
        "its password (prefer --upstream-password-file)"),
    KEY("upstream-password-file", PK_CONF_STRING, upstream_password_file, NULL, "FILE",
        "read the upstream password from FILE (a Kubernetes secret)"),
    KEY("sentinel-user", PK_CONF_STRING, sentinel_user, NULL, "USER", "ACL user for Sentinels"),
    KEY("sentinel-password", PK_CONF_STRING, sentinel_password, NULL, "PASSWORD",
        "password for Sentinels"),
    KEY("requirepass", PK_CONF_STRING, requirepass, NULL, "PASSWORD",
        "clients must AUTH with this password (prefer --requirepass-file)"),
    KEY("requirepass-file", PK_CONF_STRING, requirepass_file, NULL, "FILE",
        "read the clients' password from FILE"),
    KEY("upstream-tls", PK_CONF_BOOL, upstream_tls, "false", NULL,
        "connect to the master and replicas with TLS"),
    KEY("tls-ca-file", PK_CONF_STRING, tls_ca_file, NULL, "FILE",
        "CA certificates to verify the upstream (default: the system's)"),
    KEY("tls-cert-file", PK_CONF_STRING, tls_cert_file, NULL, "FILE",
        "client certificate for the upstream"),
    KEY("tls-key-file", PK_CONF_STRING, tls_key_file, NULL, "FILE", "its private key"),
    KEY("tls-server-name", PK_CONF_STRING, tls_server_name, NULL, "NAME",
        "SNI and the name to verify (default: the upstream's host)"),
    KEY("connect-timeout", PK_CONF_DURATION, connect_timeout_ms, "500ms", NULL,
        "upstream and Sentinel connect timeout"),
    KEY("idle-timeout", PK_CONF_DURATION, idle_timeout_ms, "0", NULL,
        "close clients idle this long (0: never; blocked commands are not idle)"),
    KEY("recheck-interval", PK_CONF_DURATION, recheck_ms, "1s", NULL,
        "how often the master and replicas are checked again"),
    KEY("shutdown-timeout", PK_CONF_DURATION, shutdown_timeout_ms, "5s", NULL,
        "SIGTERM: longest wait for in-flight replies"),
    KEY("client-output-limit", PK_CONF_SIZE, client_output_limit, "64MiB", NULL,
        "replies buffered for one client before its upstream stops being read"),
    KEY("proto-max-bulk-len", PK_CONF_SIZE, proto_max_bulk_len, "512MiB", NULL,
        "largest bulk string a client may send"),
    KEY("client-query-buffer-limit", PK_CONF_SIZE, client_query_buffer_limit, "1GiB", NULL,
        "largest command a client may send"),
    {.name = "max-multibulk-len",
     .type = PK_CONF_INT,
     .offset = offsetof(struct ar_conf, max_multibulk_len),
     .def = "1048576",
     .min = 1,
     .max = 2147483647,
     .metavar = "N",
     .help = "most arguments in one command"},
    KEY("admin-listen", PK_CONF_STRING, admin_listen, NULL, "ADDR",
        "serve /metrics, /healthz and /readyz over HTTP here"),
    {.name = NULL},
};

/* Reads a secret: the whole file, less one trailing newline (and CR). */
static char *read_secret(const char *path, const char *key, char *err, size_t errsz)
{
    FILE *fp = fopen(path, "re");
    char buf[4096];
    size_t n;

    if (fp == NULL) {
        snprintf(err, errsz, "%s: %s: %s", key, path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    if (n > 0 && buf[n - 1] == '\r') {
        buf[--n] = '\0';
    }
    if (n == 0 || strlen(buf) != n) {
        snprintf(err, errsz, "%s: %s: empty, or holds a NUL byte", key, path);
        return NULL;
    }
    char *s = strdup(buf);
    if (s == NULL) {
        snprintf(err, errsz, "out of memory");
    }
    return s;
}

/* One of a flag and its file, into *out (NULL when neither is set). */
static int secret(const char *value, const char *file, const char *key, char **out, char *err,
                  size_t errsz)
{
    *out = NULL;
    if (value != NULL && file != NULL) {
        snprintf(err, errsz, "%s and %s-file: give only one", key, key);
        return -1;
    }
    if (file != NULL) {
        char fkey[64];
        snprintf(fkey, sizeof(fkey), "%s-file", key);
        *out = read_secret(file, fkey, err, errsz);
        return *out == NULL ? -1 : 0;
    }
    if (value != NULL && (*out = strdup(value)) == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    return 0;
}

static int check_addr(const char *text, const char *key, char *err, size_t errsz)
{
    struct pk_addr a;
    char why[256];

    if (pk_addr_parse(text, 0, &a, why, sizeof(why)) < 0 || a.kind != PK_ADDR_INET ||
        a.host[0] == '\0' || a.port == 0) {
        snprintf(err, errsz, "%s: \"%s\": %s", key, text,
                 a.kind != PK_ADDR_INET ? "a HOST:PORT is needed" : why);
        return -1;
    }
    return 0;
}

static int split_sentinels(struct ar_conf *c, char *err, size_t errsz)
{
    for (size_t i = 0; i < c->sentinel.n; i++) {
        char *copy = strdup(c->sentinel.v[i]), *save = NULL;
        if (copy == NULL) {
            snprintf(err, errsz, "out of memory");
            return -1;
        }
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            char **grown = realloc(c->sentinels, (c->nsentinels + 1) * sizeof(*grown));
            if (grown == NULL || check_addr(tok, "sentinel", err, errsz) < 0) {
                if (grown != NULL) {
                    c->sentinels = grown;
                } else {
                    snprintf(err, errsz, "out of memory");
                }
                free(copy);
                return -1;
            }
            c->sentinels = grown;
            if ((c->sentinels[c->nsentinels] = strdup(tok)) == NULL) {
                snprintf(err, errsz, "out of memory");
                free(copy);
                return -1;
            }
            c->nsentinels++;
        }
        free(copy);
    }
    return 0;
}

int ar_conf_check(struct ar_conf *c, char *err, size_t errsz)
{
    char why[256];

    c->nlisten = c->listen.n;
    c->listen_addrs = calloc(c->nlisten > 0 ? c->nlisten : 1, sizeof(*c->listen_addrs));
    if (c->listen_addrs == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    if (c->nlisten == 0) {
        snprintf(err, errsz, "listen: at least one address is needed");
        return -1;
    }
    for (size_t i = 0; i < c->nlisten; i++) {
        if (pk_addr_parse(c->listen.v[i], 0, &c->listen_addrs[i], why, sizeof(why)) < 0) {
            snprintf(err, errsz, "listen: \"%s\": %s", c->listen.v[i], why);
            return -1;
        }
    }
    if (c->admin_listen != NULL) {
        if (pk_addr_parse(c->admin_listen, 0, &c->admin_addr, why, sizeof(why)) < 0 ||
            c->admin_addr.kind != PK_ADDR_INET) {
            snprintf(err, errsz, "admin-listen: \"%s\": %s", c->admin_listen,
                     c->admin_addr.kind != PK_ADDR_INET ? "a HOST:PORT is needed" : why);
            return -1;
        }
        c->has_admin = true;
    }
    if (split_sentinels(c, err, errsz) < 0) {
        return -1;
    }
    if ((c->upstream != NULL) == (c->nsentinels > 0)) {
        snprintf(err, errsz, c->upstream != NULL
                                 ? "upstream and sentinel: give only one"
                                 : "no master to proxy to: give --upstream or --sentinel");
        return -1;
    }
    if (c->upstream != NULL && check_addr(c->upstream, "upstream", err, errsz) < 0) {
        return -1;
    }
    if (c->nsentinels > 0 && (c->master_name == NULL || c->master_name[0] == '\0')) {
        snprintf(err, errsz, "sentinel: --master-name is needed too");
        return -1;
    }
    for (size_t i = 0; i < c->replica.n; i++) {
        if (check_addr(c->replica.v[i], "replica", err, errsz) < 0) {
            return -1;
        }
    }
    if (secret(c->upstream_password, c->upstream_password_file, "upstream-password",
               &c->upstream_secret, err, errsz) < 0 ||
        secret(c->requirepass, c->requirepass_file, "requirepass", &c->client_secret, err,
               errsz) < 0) {
        return -1;
    }
    if (c->upstream_user != NULL && c->upstream_secret == NULL) {
        snprintf(err, errsz, "upstream-user: a password is needed too");
        return -1;
    }
    const char *files[] = {c->tls_ca_file, c->tls_cert_file, c->tls_key_file};
    const char *names[] = {"tls-ca-file", "tls-cert-file", "tls-key-file"};
    for (size_t i = 0; i < 3; i++) {
        if (files[i] != NULL && access(files[i], R_OK) < 0) {
            snprintf(err, errsz, "%s: %s: %s", names[i], files[i], strerror(errno));
            return -1;
        }
        if (files[i] != NULL && !c->upstream_tls) {
            snprintf(err, errsz, "%s: only with --upstream-tls", names[i]);
            return -1;
        }
    }
    if ((c->tls_cert_file != NULL) != (c->tls_key_file != NULL)) {
        snprintf(err, errsz, "tls-cert-file and tls-key-file: give both or neither");
        return -1;
    }
    if (c->connect_timeout_ms <= 0 || c->recheck_ms <= 0) {
        snprintf(err, errsz, "%s: must be more than 0",
                 c->connect_timeout_ms <= 0 ? "connect-timeout" : "recheck-interval");
        return -1;
    }
    return 0;
}

void ar_conf_clear(struct ar_conf *c)
{
    free(c->listen_addrs);
    c->listen_addrs = NULL;
    c->nlisten = 0;
    for (size_t i = 0; i < c->nsentinels; i++) {
        free(c->sentinels[i]);
    }
    free(c->sentinels);
    c->sentinels = NULL;
    c->nsentinels = 0;
    free(c->upstream_secret);
    free(c->client_secret);
    c->upstream_secret = c->client_secret = NULL;
    c->has_admin = false;
}
