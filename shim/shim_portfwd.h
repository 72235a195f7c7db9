/* shim_portfwd.h — forwards a TCP port on the host to localhost:PORT inside a pod's network
 * namespace (ports[].hostPort), relaying bytes with libevent and bounded buffers. */
#ifndef SHIM_PORTFWD_H
#define SHIM_PORTFWD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct shim_portfwd;

#define SHIM_PORTFWD_BACKLOG 128
#define SHIM_PORTFWD_MAX_CONNS 1024 /* default; see shim_portfwd_set_max_conns */
/* Backpressure: once the bytes waiting to be written to one side reach HIGH_WATER, the
 * other side is no longer read until they drain to LOW_WATER. So per direction at most
 * HIGH_WATER plus one read (16 KiB with libevent 2.1) is held, however slow the reader. */
#define SHIM_PORTFWD_HIGH_WATER (256 * 1024)
#define SHIM_PORTFWD_LOW_WATER (64 * 1024)
#define SHIM_PORTFWD_CONNECT_TIMEOUT_MS 10000 /* for the connection inside the pod */

struct shim_portfwd_stats {
    uint64_t accepted;       /* every connection accepted on the host, rejected ones included */
    uint64_t active;         /* connections open now */
    uint64_t failed;         /* accepted, but the pod side could not be reached (refused...) */
    uint64_t rejected;       /* closed at once because max_conns were already open */
    uint64_t bytes_to_pod;   /* relayed from host clients to the pod */
    uint64_t bytes_from_pod; /* relayed from the pod to host clients */
    uint64_t buffered;       /* bytes held in the forwarder's buffers now, all connections */
    uint64_t buffered_peak;  /* the most ever waiting to be written to any one socket */
};

/* Receives one line per connection that failed ("127.0.0.1:8080 -> pod port 80: connect:
 * Connection refused"), was rejected over max_conns, or per accept() error; connections
 * that work are only counted. Called from the event loop, never from create; msg lives
 * only for the call. The level and any rate limit are the caller's. The callback may call
 * shim_portfwd_destroy; the forwarder is then freed when the callback returns. */
typedef void shim_portfwd_log_fn(void *arg, const char *msg);

/* Listens on host_ip:host_port in the caller's (the host's) network namespace and relays
 * every connection to 127.0.0.1:container_port inside the network namespace netns_fd.
 *   host_ip    NULL for 127.0.0.1 (the Kubernetes default podshim keeps), "" for every
 *              address (IPv6 and IPv4), or an IPv4 or IPv6 literal ("0.0.0.0", "::1").
 *              Names are refused: nothing is resolved.
 *   host_port  1-65535, or 0 to let the kernel choose (see shim_portfwd_port).
 *   netns_fd   an open /proc/PID/ns/net of the pod; borrowed: the forwarder keeps its own
 *              duplicate, so the caller may close it as soon as this returns.
 * The calling thread must be in the host network namespace, and the process needs
 * CAP_SYS_ADMIN (setns). Sockets for the pod side are made by entering the pod's
 * namespace for the socket() call and returning at once: the supervisor must be
 * single-threaded, or at least call every shim_portfwd function and run base from the
 * same thread. Should returning to the host namespace ever fail, the process aborts:
 * carrying on would open every later socket of the supervisor inside one pod.
 * The process must ignore or block SIGPIPE: libevent writes with writev(2), and a client
 * that has gone away would otherwise kill the supervisor.
 * base is borrowed and must outlive the forwarder. Returns NULL with one line in err
 * (naming the address on a bind failure) when anything fails. */
struct shim_portfwd *shim_portfwd_create(struct event_base *base, const char *host_ip,
                                         int host_port, int netns_fd, int container_port, char *err,
                                         size_t errsz);

/* Stops listening, resets every open connection and frees the forwarder. Accepts NULL.
 * Called from inside one of the forwarder's own callbacks (the log callback), the
 * freeing happens when that callback returns; either way f must not be used again. */
void shim_portfwd_destroy(struct shim_portfwd *f);

/* Sends per-connection failures to fn(arg, msg); NULL (the default) drops them. arg is
 * borrowed and must outlive the forwarder or the next call. */
void shim_portfwd_set_log(struct shim_portfwd *f, shim_portfwd_log_fn *fn, void *arg);

/* At most max_conns connections at once (at least 1); more are accepted and reset at
 * once, counted in rejected. Lowering it closes none of the open ones. */
void shim_portfwd_set_max_conns(struct shim_portfwd *f, size_t max_conns);

/* The host port listened on (the one the kernel chose when created with port 0). */
uint16_t shim_portfwd_port(const struct shim_portfwd *f);

/* Fills *out; buffered is summed over the open connections (cost: one walk of them). */
void shim_portfwd_stats(const struct shim_portfwd *f, struct shim_portfwd_stats *out);

#endif
