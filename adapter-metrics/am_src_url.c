/* am_src_url.c — source URLs: file:, http://, redis://, statsd+udp://, statsd+tcp:// and
 * statsd+unix:, read into a struct am_src_url. Pure: nothing is resolved or opened. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "am_src.h"
#include "pk_addr.h"

#define URL_MAX 4096 /* bytes: longer is refused */
#define HTTP_PORT 80
#define REDIS_PORT 6379

static const struct {
    const char *name;
    enum am_src_kind kind;
} schemes[] = {
    {"file", AM_SRC_FILE},
    {"http", AM_SRC_HTTP},
    {"redis", AM_SRC_REDIS},
    {"statsd+udp", AM_SRC_STATSD_UDP},
    {"statsd+tcp", AM_SRC_STATSD_TCP},
    {"statsd+unix", AM_SRC_STATSD_UNIX},
};

static int bad(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (errsz > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *scheme_name(enum am_src_kind kind)
{
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (schemes[i].kind == kind) {
            return schemes[i].name;
        }
    }
    return "?";
}

/* "kv", "json" or "prom" (s[0..n)) into *out. 0, or -1 with err. */
static int parse_format(const char *s, size_t n, enum am_src_format *out, char *err, size_t errsz)
{
    if (n == 2 && memcmp(s, "kv", 2) == 0) {
        *out = AM_SRC_FORMAT_KV;
    } else if (n == 4 && memcmp(s, "json", 4) == 0) {
        *out = AM_SRC_FORMAT_JSON;
    } else if (n == 4 && memcmp(s, "prom", 4) == 0) {
        *out = AM_SRC_FORMAT_PROM;
    } else {
        return bad(err, errsz, "format must be kv, json or prom");
    }
    return 0;
}

/*
 * Walks the query q[0..n) ("a=1&format=prom&b"): 'format' goes into out->format; any other
 * item is an error when keep is NULL, else it is appended to keep (joined with '&', empty
 * items left out). 0, or -1 with err.
 */
static int parse_query(const char *q, size_t n, struct am_src_url *out, char *keep, char *err,
                       size_t errsz)
{
    bool have_format = false;
    size_t kept = 0;

    for (size_t i = 0; i < n;) {
        const char *item = q + i;
        const char *amp = memchr(item, '&', n - i);
        size_t len = amp != NULL ? (size_t)(amp - item) : n - i;
        const char *eq = memchr(item, '=', len);
        size_t klen = eq != NULL ? (size_t)(eq - item) : len;

        i += len + (amp != NULL);
        if (len == 0) {
            continue;
        }
        if (klen == 6 && memcmp(item, "format", 6) == 0) {
            const char *v = eq != NULL ? eq + 1 : item + len;
            if (have_format) {
                return bad(err, errsz, "format given twice");
            }
            have_format = true;
            if (parse_format(v, (size_t)(item + len - v), &out->format, err, errsz) < 0) {
                return -1;
            }
        } else if (keep == NULL) {
            return bad(err, errsz, "unknown parameter '%.*s' (only format)", (int)klen, item);
        } else {
            if (kept > 0) {
                keep[kept++] = '&';
            }
            memcpy(keep + kept, item, len);
            kept += len;
        }
    }
    if (keep != NULL) {
        keep[kept] = '\0';
    }
    return 0;
}

/* A port: 1 to 5 digits, at most 65535. */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
    unsigned long v = 0;

    if (n == 0 || n > 5) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

/*
 * HOST[:PORT] or [IPV6][:PORT] in s[0..n) into out->host and out->port. A listener
 * (statsd) needs a port, may have port 0 and an empty host (every address); a client
 * (http, redis) gets default_port and needs a host and a port above 0. 0, or -1 with err.
 */
static int parse_authority(const char *s, size_t n, enum am_src_kind kind, uint16_t default_port,
                           struct am_src_url *out, char *err, size_t errsz)
{
    bool listen = default_port == 0;
    const char *scheme = scheme_name(kind);
    const char *host = s, *port = NULL;
    size_t hostlen = n;
    char text[PK_ADDR_HOST_MAX + 3], why[128];
    struct pk_addr a;

    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL) {
            return bad(err, errsz, "%s: missing ']' after the IPv6 address", scheme);
        }
        hostlen = (size_t)(close + 1 - s);
        if (hostlen < n && close[1] != ':') {
            return bad(err, errsz, "%s: expected ':PORT' after ']'", scheme);
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)) != NULL) {
            return bad(err, errsz, "%s: an IPv6 address needs brackets ([::1])", scheme);
        }
        hostlen = colon != NULL ? (size_t)(colon - s) : n;
    }
    if (hostlen < n) {
        port = s + hostlen + 1;
    }
    if (port == NULL && listen) {
        return bad(err, errsz, "%s needs a port", scheme);
    }
    if (hostlen == 0 && !listen) {
        return bad(err, errsz, "%s needs a host", scheme);
    }
    if (hostlen >= sizeof(text)) {
        return bad(err, errsz, "%s: the host is longer than %d bytes", scheme, PK_ADDR_HOST_MAX);
    }
    if (hostlen > 0) {
        /* The host alone, with a dummy port: pk_addr checks names and literals. */
        memcpy(text, host, hostlen);
        text[hostlen] = '\0';
        if (pk_addr_parse(text, 1, &a, why, sizeof(why)) < 0) {
            return bad(err, errsz, "%s: %s", scheme, why);
        }
        if (a.kind != PK_ADDR_INET || a.host[0] == '\0') {
            return bad(err, errsz, "%s: invalid host name", scheme);
        }
    } else {
        a.host[0] = '\0';
    }
    if (port != NULL) {
        size_t plen = (size_t)(s + n - port);
        if (parse_port(port, plen, &out->port) < 0 || (!listen && out->port == 0)) {
            return bad(err, errsz, "%s: invalid port '%.*s'", scheme, (int)plen, port);
        }
    } else {
        out->port = default_port;
    }
    out->host = strdup(a.host);
    if (out->host == NULL) {
        return bad(err, errsz, "out of memory");
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/* s[0..n) with its %XX escapes decoded, as a new string; NULL with err. */
static char *pct_decode(const char *s, size_t n, char *err, size_t errsz)
{
    char *out = malloc(n + 1);
    size_t k = 0;

    if (out == NULL) {
        bad(err, errsz, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[k++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
        if (lo < 0 || hi * 16 + lo == 0) {
            free(out);
            bad(err, errsz, "redis: bad %%-escape in the user info (%%XX, not %%00)");
            return NULL;
        }
        out[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[k] = '\0';
    return out;
}

/* file:PATH[?format=...]; statsd+unix:PATH. "//" before an absolute path is dropped
 * (file:///run/x is /run/x); any other "//" would name a host, which is refused. */
static int parse_path(const char *rest, struct am_src_url *out, char *err, size_t errsz)
{
    const char *scheme = scheme_name(out->kind);
    bool file = out->kind == AM_SRC_FILE;
    size_t n = file ? strcspn(rest, "?") : strlen(rest);

    if (rest[0] == '/' && rest[1] == '/') {
        if (rest[2] != '/' && rest[2] != '\0') {
            return bad(err, errsz, "%s: a host is not supported (write %s:/PATH or %s:///PATH)",
                       scheme, scheme, scheme);
        }
        rest += 2;
        n -= 2;
    }
    if (n == 0) {
        return bad(err, errsz, "%s needs a path", scheme);
    }
    if (!file && n > PK_ADDR_PATH_MAX) {
        return bad(err, errsz, "%s: the socket path is longer than %d bytes", scheme,
                   PK_ADDR_PATH_MAX);
    }
    if (!file && rest[0] == '@' && n == 1) {
        return bad(err, errsz, "%s: an abstract socket needs a name after '@'", scheme);
    }
    out->format = file ? AM_SRC_FORMAT_KV : AM_SRC_FORMAT_STATSD;
    if (file && rest[n] == '?' &&
        parse_query(rest + n + 1, strlen(rest + n + 1), out, NULL, err, errsz) < 0) {
        return -1;
    }
    out->path = strndup(rest, n);
    if (out->path == NULL) {
        return bad(err, errsz, "out of memory");
    }
    return 0;
}

/* http://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]: format taken out of the query, the
 * fragment dropped (it is never sent). */
static int parse_http(const char *rest, struct am_src_url *out, char *err, size_t errsz)
{
    const char *a = rest + 2, *end, *query, *stop;
    size_t alen, plen, qlen;
    char *keep;

    if (strncmp(rest, "//", 2) != 0) {
        return bad(err, errsz, "http: expected http://HOST[:PORT]/PATH");
    }
    alen = strcspn(a, "/?#");
    if (memchr(a, '@', alen) != NULL) {
        return bad(err, errsz, "http: user info is not supported");
    }
    if (memchr(a, ' ', strcspn(a, "#")) != NULL) {
        return bad(err, errsz, "http: a space in the URL (write it as %%20)");
    }
    if (parse_authority(a, alen, AM_SRC_HTTP, HTTP_PORT, out, err, errsz) < 0) {
        return -1;
    }
    end = a + alen;
    stop = end + strcspn(end, "#");
    query = memchr(end, '?', (size_t)(stop - end));
    plen = (size_t)((query != NULL ? query : stop) - end);
    qlen = query != NULL ? (size_t)(stop - query - 1) : 0;
    out->format = AM_SRC_FORMAT_JSON;
    /* "/" for an empty path, the path, "?", what is kept of the query, '\0' */
    keep = malloc(1 + plen + 1 + qlen + 1);
    if (keep == NULL) {
        return bad(err, errsz, "out of memory");
    }
    out->path = keep;
    if (plen == 0) {
        keep[0] = '/';
        plen = 1;
    } else {
        memcpy(keep, end, plen);
    }
    keep[plen] = '?';
    if (parse_query(query != NULL ? query + 1 : "", qlen, out, keep + plen + 1, err, errsz) < 0) {
        return -1;
    }
    if (keep[plen + 1] == '\0') {
        keep[plen] = '\0';
    }
    return 0;
}

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: the user info ends at the last '@', so a
 * password may hold '/', '?' and '@' unescaped; a database number is allowed (URLs are copied
 * from apps' configs) and ignored: INFO is about the whole server. */
static int parse_redis(const char *rest, struct am_src_url *out, char *err, size_t errsz)
{
    const char *a = rest + 2, *at, *colon, *tail;
    size_t alen;

    if (strncmp(rest, "//", 2) != 0) {
        return bad(err, errsz, "redis: expected redis://[[USER]:PASSWORD@]HOST[:PORT]");
    }
    at = strrchr(a, '@');
    if (at != NULL) {
        colon = memchr(a, ':', (size_t)(at - a));
        if (colon == NULL) {
            return bad(err, errsz, "redis: the user info must be [USER]:PASSWORD");
        }
        if (colon + 1 == at) {
            return bad(err, errsz, "redis: empty password");
        }
        if (colon > a && (out->user = pct_decode(a, (size_t)(colon - a), err, errsz)) == NULL) {
            return -1;
        }
        out->password = pct_decode(colon + 1, (size_t)(at - colon - 1), err, errsz);
        if (out->password == NULL) {
            return -1;
        }
        a = at + 1;
    }
    alen = strcspn(a, "/?#");
    if (parse_authority(a, alen, AM_SRC_REDIS, REDIS_PORT, out, err, errsz) < 0) {
        return -1;
    }
    tail = a + alen;
    if (tail[0] == '/' && tail[1 + strspn(tail + 1, "0123456789")] == '\0' &&
        strlen(tail + 1) <= 5) {
        tail += strlen(tail);
    }
    if (tail[0] != '\0') {
        return bad(err, errsz, "redis: only a database number may follow the address (/0)");
    }
    out->format = AM_SRC_FORMAT_INFO;
    return 0;
}

/* statsd+udp://HOST:PORT, statsd+tcp://HOST:PORT. */
static int parse_listen(const char *rest, struct am_src_url *out, char *err, size_t errsz)
{
    const char *scheme = scheme_name(out->kind);
    const char *a = rest + 2;
    size_t alen;

    if (strncmp(rest, "//", 2) != 0) {
        return bad(err, errsz, "%s: expected %s://HOST:PORT", scheme, scheme);
    }
    alen = strcspn(a, "/?#");
    if (parse_authority(a, alen, out->kind, 0, out, err, errsz) < 0) {
        return -1;
    }
    if (a[alen] != '\0') {
        return bad(err, errsz, "%s: nothing may follow HOST:PORT", scheme);
    }
    out->format = AM_SRC_FORMAT_STATSD;
    return 0;
}

int am_src_url_parse(const char *url, struct am_src_url *out, char *err, size_t errsz)
{
    size_t len = strlen(url), slen = strcspn(url, ":");
    int rc = -1;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (errsz > 0) {
        err[0] = '\0';
    }
    if (len == 0) {
        return bad(err, errsz, "empty URL");
    }
    if (len > URL_MAX) {
        return bad(err, errsz, "URL longer than %d bytes", URL_MAX);
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c < 0x20 || c == 0x7f) {
            return bad(err, errsz, "a control character in the URL (byte %zu)", i + 1);
        }
    }
    if (url[slen] != ':' || slen == 0) {
        return bad(err, errsz,
                   "no scheme: expected file:, http://, redis:// or "
                   "statsd+udp://, statsd+tcp://, statsd+unix:");
    }
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (strlen(schemes[i].name) == slen && strncasecmp(url, schemes[i].name, slen) == 0) {
            break;
        }
    }
    if (i == sizeof(schemes) / sizeof(schemes[0])) {
        if (slen == 5 && strncasecmp(url, "https", 5) == 0) {
            return bad(err, errsz, "https is not supported (only http)");
        }
        return bad(err, errsz, "unknown scheme '%.*s'", (int)(slen < 32 ? slen : 32), url);
    }
    out->kind = schemes[i].kind;
    switch (out->kind) {
    case AM_SRC_FILE:
    case AM_SRC_STATSD_UNIX:
        rc = parse_path(url + slen + 1, out, err, errsz);
        break;
    case AM_SRC_HTTP:
        rc = parse_http(url + slen + 1, out, err, errsz);
        break;
    case AM_SRC_REDIS:
        rc = parse_redis(url + slen + 1, out, err, errsz);
        break;
    case AM_SRC_STATSD_UDP:
    case AM_SRC_STATSD_TCP:
        rc = parse_listen(url + slen + 1, out, err, errsz);
        break;
    }
    if (rc < 0) {
        am_src_url_clear(out);
    }
    return rc;
}

void am_src_url_clear(struct am_src_url *u)
{
    if (u == NULL) {
        return;
    }
    free(u->path);
    free(u->host);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof(*u));
}
