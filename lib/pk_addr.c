/* pk_addr.c — address parsing: HOST:PORT, [IPV6]:PORT, :PORT and unix:PATH. */
#include "pk_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

static int bad(char *err, size_t errsz, const char *what)
{
    snprintf(err, errsz, "%s", what);
    return -1;
}

/* A port: 1 to 5 digits, at most 65535. */
static int parse_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9' && i < 6; i++) {
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (i == 0 || s[i] != '\0' || v > 65535) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

/* A DNS name per RFC 1123: dot-separated labels of letters, digits and inner hyphens,
 * each 1-63 bytes; a trailing dot (fully qualified) is allowed. */
static bool valid_hostname(const char *h, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > PK_ADDR_HOST_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        if (ch == '.') {
            if (label == 0 || h[i - 1] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && !(ch == '-' && label > 0)) {
            return false;
        }
        if (++label > 63) {
            return false;
        }
    }
    return h[len - 1] != '-';
}

static bool is_ipv4(const char *h)
{
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1;
}

/* True when the last label is all digits: no DNS name ends so, so it must be IPv4. */
static bool numeric_tld(const char *h)
{
    size_t n = strlen(h);

    if (n > 0 && h[n - 1] == '.') {
        n--;
    }
    size_t i = n;
    while (i > 0 && h[i - 1] >= '0' && h[i - 1] <= '9') {
        i--;
    }
    return i < n && (i == 0 || h[i - 1] == '.');
}

static bool is_ipv6(const char *h)
{
    struct in6_addr a;
    return inet_pton(AF_INET6, h, &a) == 1;
}

int pk_addr_parse(const char *text, uint16_t default_port, struct pk_addr *out, char *err,
                  size_t errsz)
{
    const char *host = text;
    size_t hostlen;
    const char *port = NULL;

    memset(out, 0, sizeof(*out));
    /* "unix:6379" is the host called unix, so that every HOST:PORT reads back as itself;
     * a relative socket path made only of digits is written ./NAME. */
    if (strncmp(text, "unix:", 5) == 0 && parse_port(text + 5, &out->port) < 0) {
        const char *path = text + 5;
        size_t n = strlen(path);
        out->kind = PK_ADDR_UNIX;
        if (n == 0 || (path[0] == '@' && n == 1)) {
            return bad(err, errsz, "unix: needs a socket path");
        }
        if (n > PK_ADDR_PATH_MAX) {
            return bad(err, errsz, "unix socket path longer than 107 bytes");
        }
        memcpy(out->path, path, n + 1);
        return 0;
    }

    out->kind = PK_ADDR_INET;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL) {
            return bad(err, errsz, "missing ']' after the IPv6 address");
        }
        host = text + 1;
        hostlen = (size_t)(close - host);
        if (close[1] == ':') {
            port = close + 2;
        } else if (close[1] != '\0') {
            return bad(err, errsz, "expected ':PORT' after ']'");
        }
        if (hostlen == 0 || hostlen > PK_ADDR_HOST_MAX) {
            return bad(err, errsz, "invalid IPv6 address in brackets");
        }
        memcpy(out->host, host, hostlen);
        if (!is_ipv6(out->host)) {
            return bad(err, errsz, "invalid IPv6 address in brackets");
        }
    } else {
        const char *colon = strrchr(text, ':');
        if (colon != NULL && strchr(text, ':') != colon) {
            /* Several colons and no brackets: only a bare IPv6 address makes sense. */
            if (strlen(text) <= PK_ADDR_HOST_MAX && is_ipv6(text) && default_port != 0) {
                strcpy(out->host, text);
                out->port = default_port;
                return 0;
            }
            return bad(err, errsz, "an IPv6 address with a port needs brackets: [ADDR]:PORT");
        }
        hostlen = colon != NULL ? (size_t)(colon - text) : strlen(text);
        port = colon != NULL ? colon + 1 : NULL;
        if (hostlen == 0 && port == NULL) {
            return bad(err, errsz, "empty address");
        }
        if (hostlen > 0 && !valid_hostname(text, hostlen)) {
            return bad(err, errsz, "invalid host name");
        }
        memcpy(out->host, text, hostlen);
        if (hostlen > 0 && numeric_tld(out->host) && !is_ipv4(out->host)) {
            return bad(err, errsz, "invalid IPv4 address");
        }
    }

    if (port == NULL) {
        if (default_port == 0) {
            return bad(err, errsz, "expected HOST:PORT");
        }
        out->port = default_port;
        return 0;
    }
    if (parse_port(port, &out->port) < 0) {
        return bad(err, errsz, "invalid port (expected 0 to 65535)");
    }
    return 0;
}

int pk_addr_format(const struct pk_addr *a, char *buf, size_t bufsz)
{
    int n;

    if (a->kind == PK_ADDR_UNIX) {
        n = snprintf(buf, bufsz, "unix:%s", a->path);
    } else if (strchr(a->host, ':') != NULL) {
        n = snprintf(buf, bufsz, "[%s]:%u", a->host, a->port);
    } else {
        n = snprintf(buf, bufsz, "%s:%u", a->host, a->port);
    }
    return n < 0 || (size_t)n >= bufsz ? -1 : n;
}

int pk_addr_sockaddr(const struct pk_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->kind == PK_ADDR_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(a->path);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->path, n);
        if (a->path[0] == '@') {
            un->sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
            *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        } else {
            *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        }
        return 0;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, a->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(a->port);
        *len = sizeof(*in4);
        return 0;
    }
    if (a->host[0] == '\0' || inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6; /* "" leaves in6addr_any, all zeros */
        in6->sin6_port = htons(a->port);
        *len = sizeof(*in6);
        return 0;
    }
    return -1;
}
