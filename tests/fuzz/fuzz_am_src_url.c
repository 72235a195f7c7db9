/* fuzz_am_src_url.c — libFuzzer target: am_src_url_parse on any text, checking what a parsed
 * URL must hold, that a refusal is one line and leaves nothing behind, and that a parsed URL
 * written back out parses to the same thing. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am_src.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_MAX 5000

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool has_control(const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return true;
        }
    }
    return false;
}

/* Appends s with every byte but unreserved ones as %XX. */
static size_t put_pct(char *out, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c) != NULL) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return n;
}

static const char *format_name(enum am_src_format f)
{
    return f == AM_SRC_FORMAT_KV ? "kv" : f == AM_SRC_FORMAT_JSON ? "json" : "prom";
}

/* The URL u reads back from. */
static void write_url(const struct am_src_url *u, char *out, size_t outsz)
{
    bool v6 = u->host != NULL && strchr(u->host, ':') != NULL;
    const char *o = v6 ? "[" : "", *c = v6 ? "]" : "";
    size_t n;

    switch (u->kind) {
    case AM_SRC_FILE:
        snprintf(out, outsz, "file:%s%s%s%s", u->path[0] == '/' ? "//" : "", u->path,
                 u->format != AM_SRC_FORMAT_KV ? "?format=" : "",
                 u->format != AM_SRC_FORMAT_KV ? format_name(u->format) : "");
        break;
    case AM_SRC_HTTP:
        snprintf(out, outsz, "http://%s%s%s:%u%s%sformat=%s", o, u->host, c, (unsigned)u->port,
                 u->path, strchr(u->path, '?') != NULL ? "&" : "?", format_name(u->format));
        break;
    case AM_SRC_REDIS:
        n = (size_t)snprintf(out, outsz, "redis://");
        if (u->password != NULL) {
            n = put_pct(out, n, u->user != NULL ? u->user : "");
            out[n++] = ':';
            n = put_pct(out, n, u->password);
            out[n++] = '@';
        }
        snprintf(out + n, outsz - n, "%s%s%s:%u", o, u->host, c, (unsigned)u->port);
        break;
    case AM_SRC_STATSD_UDP:
    case AM_SRC_STATSD_TCP:
        snprintf(out, outsz, "statsd+%s://%s%s%s:%u", u->kind == AM_SRC_STATSD_UDP ? "udp" : "tcp",
                 o, u->host, c, (unsigned)u->port);
        break;
    case AM_SRC_STATSD_UNIX:
        snprintf(out, outsz, "statsd+unix:%s%s", u->path[0] == '/' ? "//" : "", u->path);
        break;
    }
}

/* Whether the query q ("?a=1&b") still has an item called format: it must not. */
static bool query_has_format(const char *q)
{
    while (q != NULL) {
        q++;
        if (strncmp(q, "format", 6) == 0 && (q[6] == '=' || q[6] == '&' || q[6] == '\0')) {
            return true;
        }
        q = strchr(q, '&');
    }
    return false;
}

/* What every parsed URL holds. */
static void check_parsed(const struct am_src_url *u)
{
    bool listen = u->kind == AM_SRC_STATSD_UDP || u->kind == AM_SRC_STATSD_TCP;
    bool pathy = u->kind == AM_SRC_FILE || u->kind == AM_SRC_STATSD_UNIX;

    if (pathy != (u->host == NULL) || (pathy || u->kind == AM_SRC_HTTP) != (u->path != NULL) ||
        (u->kind != AM_SRC_REDIS && (u->user != NULL || u->password != NULL)) ||
        (u->user != NULL && u->password == NULL) ||
        (u->password != NULL && u->password[0] == '\0') ||
        (u->user != NULL && u->user[0] == '\0')) {
        abort();
    }
    if (has_control(u->path) || has_control(u->host) || (u->path != NULL && u->path[0] == '\0')) {
        abort();
    }
    if (u->host != NULL && (strchr(u->host, '[') != NULL || strchr(u->host, ']') != NULL ||
                            (u->host[0] == '\0' && !listen))) {
        abort();
    }
    switch (u->kind) {
    case AM_SRC_FILE:
        if (u->port != 0 || strchr(u->path, '?') != NULL ||
            (u->format != AM_SRC_FORMAT_KV && u->format != AM_SRC_FORMAT_JSON &&
             u->format != AM_SRC_FORMAT_PROM)) {
            abort();
        }
        break;
    case AM_SRC_HTTP:
        if (u->port == 0 || u->path[0] != '/' || strchr(u->path, '#') != NULL ||
            strchr(u->path, ' ') != NULL || query_has_format(strchr(u->path, '?')) ||
            (u->format != AM_SRC_FORMAT_KV && u->format != AM_SRC_FORMAT_JSON &&
             u->format != AM_SRC_FORMAT_PROM)) {
            abort();
        }
        break;
    case AM_SRC_REDIS:
        if (u->port == 0 || u->format != AM_SRC_FORMAT_INFO) {
            abort();
        }
        break;
    case AM_SRC_STATSD_UDP:
    case AM_SRC_STATSD_TCP:
        if (u->format != AM_SRC_FORMAT_STATSD) {
            abort();
        }
        break;
    case AM_SRC_STATSD_UNIX:
        if (u->port != 0 || strlen(u->path) > 107 || u->format != AM_SRC_FORMAT_STATSD) {
            abort();
        }
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[TEXT_MAX + 1], again[3 * TEXT_MAX + 64];
    struct am_src_url u, v;
    char err[256], tiny[6];
    int rc;

    /* The text up to the first NUL, as a C caller would pass it. */
    size = size > TEXT_MAX ? TEXT_MAX : size;
    memcpy(text, data, size);
    text[size] = '\0';
    memset(err, 'z', sizeof(err));
    rc = am_src_url_parse(text, &u, err, sizeof(err));
    if (rc == -1) {
        /* One line, and nothing left behind. */
        if (err[0] == '\0' || strlen(err) >= sizeof(err) || strchr(err, '\n') != NULL ||
            u.path != NULL || u.host != NULL || u.user != NULL || u.password != NULL) {
            abort();
        }
        am_src_url_clear(&u);
    } else if (rc == 0) {
        check_parsed(&u);
        write_url(&u, again, sizeof(again));
        /* Written back, it parses the same (when it is not too long: %XX triples bytes). */
        if (strlen(again) <= 4096) {
            if (am_src_url_parse(again, &v, err, sizeof(err)) != 0 || v.kind != u.kind ||
                v.format != u.format || v.port != u.port || !same_str(v.path, u.path) ||
                !same_str(v.host, u.host) || !same_str(v.user, u.user) ||
                !same_str(v.password, u.password)) {
                abort();
            }
            am_src_url_clear(&v);
        }
        am_src_url_clear(&u);
    } else {
        abort();
    }
    /* A small error buffer is cut, not overrun; the answer is the same. */
    memset(tiny, 'z', sizeof(tiny));
    if (am_src_url_parse(text, &v, tiny, sizeof(tiny)) != rc ||
        memchr(tiny, '\0', sizeof(tiny)) == NULL) {
        abort();
    }
    am_src_url_clear(&v);
    return 0;
}
