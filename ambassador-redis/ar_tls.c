/* ar_tls.c — loads OpenSSL and libevent_openssl at run time, for --upstream-tls only. */
#include "ar_tls.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Debian 12's sonames (libssl3, libevent-openssl-2.1-7). */
#define SSL_SONAME "libssl.so.3"
#define EVENT_SONAME "libevent_openssl-2.1.so.7"

/* One function: where it lands in the table, its name, and which library has it. */
#define FN(lib, name) {offsetof(struct ar_tls, name), #name, lib}

enum { IN_SSL, IN_EVENT };

static const struct {
    size_t off;
    const char *name;
    int lib;
} fns[] = {
    FN(IN_SSL, TLS_client_method),
    FN(IN_SSL, SSL_CTX_new),
    FN(IN_SSL, SSL_CTX_free),
    FN(IN_SSL, SSL_CTX_ctrl),
    FN(IN_SSL, SSL_CTX_load_verify_locations),
    FN(IN_SSL, SSL_CTX_set_default_verify_paths),
    FN(IN_SSL, SSL_CTX_set_verify),
    FN(IN_SSL, SSL_CTX_use_certificate_chain_file),
    FN(IN_SSL, SSL_CTX_use_PrivateKey_file),
    FN(IN_SSL, SSL_CTX_check_private_key),
    FN(IN_SSL, SSL_new),
    FN(IN_SSL, SSL_free),
    FN(IN_SSL, SSL_ctrl),
    FN(IN_SSL, SSL_set1_host),
    FN(IN_SSL, SSL_get0_param),
    FN(IN_SSL, X509_VERIFY_PARAM_set1_ip_asc), /* libcrypto's: found through libssl */
    FN(IN_SSL, ERR_peek_last_error),
    FN(IN_SSL, ERR_reason_error_string),
    FN(IN_SSL, ERR_clear_error),
    FN(IN_EVENT, bufferevent_openssl_socket_new),
    FN(IN_EVENT, bufferevent_openssl_get_ssl),
    FN(IN_EVENT, bufferevent_get_openssl_error),
};

struct ar_tls *ar_tls_load(char *err, size_t errsz)
{
    struct ar_tls *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    t->ssl_lib = dlopen(SSL_SONAME, RTLD_NOW | RTLD_LOCAL);
    /* libevent_openssl needs libssl's symbols: it was linked against them. */
    t->event_lib = t->ssl_lib != NULL ? dlopen(EVENT_SONAME, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (t->ssl_lib == NULL || t->event_lib == NULL) {
        snprintf(err, errsz, "TLS needs %s: %s", t->ssl_lib == NULL ? SSL_SONAME : EVENT_SONAME,
                 dlerror());
        ar_tls_unload(t);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        void *sym = dlsym(fns[i].lib == IN_SSL ? t->ssl_lib : t->event_lib, fns[i].name);
        if (sym == NULL) {
            snprintf(err, errsz, "TLS: %s not found: %s", fns[i].name, dlerror());
            ar_tls_unload(t);
            return NULL;
        }
        /* POSIX guarantees a function pointer survives the trip through void *. */
        memcpy((char *)t + fns[i].off, &sym, sizeof(sym));
    }
    return t;
}

void ar_tls_unload(struct ar_tls *t)
{
    /* The libraries stay loaded: libevent finishes freeing a TLS bufferevent after
     * bufferevent_free returns, through libevent_openssl, and OpenSSL registers exit
     * handlers of its own. Unmapping them under either is a crash at exit. */
    free(t);
}
