/* ar_proxy.h — the ambassador's data path: listeners, clients, upstream connections,
 * pinned and multiplexed modes, following the master the topology module finds. */
#ifndef AR_PROXY_H
#define AR_PROXY_H

#include <stddef.h>

#include "ar_conf.h"

struct event_base;
struct ar_proxy;

/* Binds every listener and the admin endpoint, starts following the topology. conf is
 * borrowed and must live until ar_proxy_free or until a later ar_proxy_reload replaced it.
 * Returns NULL with one line in err (an address that cannot be bound, TLS files that do not
 * load...). */
struct ar_proxy *ar_proxy_new(struct event_base *base, const struct ar_conf *conf, char *err,
                              size_t errsz);

/* A new configuration (checked): new upstream and Sentinel settings, secrets and limits
 * apply to connections made from now on; listeners stay as they are (a changed listen
 * address needs a restart: logged). Returns 0, or -1 with err when it cannot apply (the old
 * one stays). conf is borrowed as for ar_proxy_new; the previous one may be freed after a
 * successful call. */
int ar_proxy_reload(struct ar_proxy *px, const struct ar_conf *conf, char *err, size_t errsz);

/* Stops accepting, closes idle clients, lets in-flight replies finish for at most the
 * configured shutdown-timeout, then calls done(arg) from the loop. */
void ar_proxy_shutdown(struct ar_proxy *px, void (*done)(void *arg), void *arg);

/* Closes everything and frees px (accepts NULL). */
void ar_proxy_free(struct ar_proxy *px);

#endif
