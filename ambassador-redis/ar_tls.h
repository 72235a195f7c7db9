/* ar_tls.h — OpenSSL and libevent's TLS bufferevents, loaded only when --upstream-tls asks
 * for them. Linked in, libcrypto alone would hold 1.4 MB of every ambassador's memory,
 * the idle RSS goal being 4 MiB; loaded with dlopen, it costs nothing when unused. */
#ifndef AR_TLS_H
#define AR_TLS_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

/* The functions the ambassador uses, resolved from libssl (and the libcrypto it brings) and
 * libevent_openssl. */
struct ar_tls {
    void *ssl_lib, *event_lib; /* dlopen handles */
    const SSL_METHOD *(*TLS_client_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
    void (*SSL_CTX_free)(SSL_CTX *);
    long (*SSL_CTX_ctrl)(SSL_CTX *, int, long, void *);
    int (*SSL_CTX_load_verify_locations)(SSL_CTX *, const char *, const char *);
    int (*SSL_CTX_set_default_verify_paths)(SSL_CTX *);
    void (*SSL_CTX_set_verify)(SSL_CTX *, int, SSL_verify_cb);
    int (*SSL_CTX_use_certificate_chain_file)(SSL_CTX *, const char *);
    int (*SSL_CTX_use_PrivateKey_file)(SSL_CTX *, const char *, int);
    int (*SSL_CTX_check_private_key)(const SSL_CTX *);
    SSL *(*SSL_new)(SSL_CTX *);
    void (*SSL_free)(SSL *);
    long (*SSL_ctrl)(SSL *, int, long, void *);
    int (*SSL_set1_host)(SSL *, const char *);
    X509_VERIFY_PARAM *(*SSL_get0_param)(SSL *);
    int (*X509_VERIFY_PARAM_set1_ip_asc)(X509_VERIFY_PARAM *, const char *);
    unsigned long (*ERR_peek_last_error)(void);
    const char *(*ERR_reason_error_string)(unsigned long);
    void (*ERR_clear_error)(void);
    struct bufferevent *(*bufferevent_openssl_socket_new)(struct event_base *, evutil_socket_t,
                                                          SSL *, enum bufferevent_ssl_state,
                                                          int);
    SSL *(*bufferevent_openssl_get_ssl)(struct bufferevent *);
    unsigned long (*bufferevent_get_openssl_error)(struct bufferevent *);
};

/* Loads the libraries and resolves every function. Returns a table (free with
 * ar_tls_unload), or NULL with err naming the library or function missing. */
struct ar_tls *ar_tls_load(char *err, size_t errsz);

/* Frees the table; the libraries stay loaded until the process ends. Accepts NULL. */
void ar_tls_unload(struct ar_tls *t);

#endif
