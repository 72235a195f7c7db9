/* pk_addr.h — parses and formats the addresses podkit daemons listen on and connect to. */
#ifndef PK_ADDR_H
#define PK_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum pk_addr_kind {
    PK_ADDR_INET, /* a host (name, IPv4 or IPv6 literal, or "" for every address) and a port */
    PK_ADDR_UNIX, /* a Unix socket path; a leading '@' is Linux's abstract namespace */
};

#define PK_ADDR_HOST_MAX 253 /* the longest DNS name */
#define PK_ADDR_PATH_MAX 107 /* sizeof(sun_path) less the terminating NUL */

struct pk_addr {
    enum pk_addr_kind kind;
    char host[PK_ADDR_HOST_MAX + 1]; /* INET: without brackets; "" means every address */
    uint16_t port;                   /* INET: 0 asks the kernel for a free port */
    char path[PK_ADDR_PATH_MAX + 1]; /* UNIX */
};

/* Parses one of
 *   HOST:PORT       127.0.0.1:6379, redis-0.redis:6379
 *   [IPV6]:PORT     [::1]:6379
 *   :PORT           every address (0.0.0.0 and ::)
 *   unix:PATH       unix:/run/app.sock, unix:@abstract ("unix:80" is host "unix", port 80)
 * and, when default_port is not 0, HOST, [IPV6] or a bare IPv6 literal with that port.
 * Host names must be valid DNS names (letters, digits, '-', '.'); nothing is resolved.
 * Returns 0, or -1 with one line in err saying what is wrong with text. */
int pk_addr_parse(const char *text, uint16_t default_port, struct pk_addr *out, char *err,
                  size_t errsz);

/* Writes the address as pk_addr_parse reads it back ("[::1]:6379"). Returns the length,
 * or -1 when buf is too small. */
int pk_addr_format(const struct pk_addr *a, char *buf, size_t bufsz);

/* Fills a socket address for a numeric host, "" (IPv6 any, which on Linux also takes
 * IPv4 unless IPV6_V6ONLY) or a Unix path, without any lookup. Returns 0, or -1 when
 * the host is a name that needs resolving. */
int pk_addr_sockaddr(const struct pk_addr *a, struct sockaddr_storage *ss, socklen_t *len);

#endif
