/* sl_enc.c — a record as the outputs write it: the raw line, or one JSON object. */
#include "sl_enc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every record is written into space reserved in the evbuffer once and committed once: its
 * size is bounded first (cheap: a table lookup per byte), so the hot path is one scan, one
 * memcpy per run of plain bytes and no allocation.
 */

/* 1 for the bytes a JSON string holds as they are: printable ASCII but '"' and '\\' (DEL is
 * allowed by RFC 8259 and kept). Bytes >= 0x80 are checked as UTF-8. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
};

static const char hex[] = "0123456789abcdef";

/* The most a record's JSON takes besides its path, text and extra: the keys, the time (30),
 * an offset (20 digits), both string quotes, stream, truncated, the braces and '\n'. */
#define JSON_FIXED 160

/* Our own keys: a label may not take one. */
static const char *const own_keys[] = {"time",      "file",   "offset",    "message",
                                       "json",      "stream", "truncated", "pod",
                                       "namespace", "node",   "container", NULL};

/* Downward-API variables and the keys they are written under, in this order. */
static const struct {
    const char *env;
    const char *key;
} meta[] = {
    {"POD_NAME", "pod"},
    {"POD_NAMESPACE", "namespace"},
    {"NODE_NAME", "node"},
    {"CONTAINER_NAME", "container"},
};

/* What len bytes of s may take inside a JSON string: each byte that is not plain counts as
 * a \u00XX escape (valid UTF-8 is copied, so this is an upper bound). */
static size_t escaped_bound(const unsigned char *s, size_t len)
{
    size_t special = 0;

    for (size_t i = 0; i < len; i++) {
        special += !plain[s[i]];
    }
    return len + 5 * special;
}

/* The length of the valid UTF-8 sequence at p (2-4 bytes, within avail), or 0 if the bytes
 * there are not one: overlong forms, surrogates and code points past U+10FFFF are not. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = p[0] == 0xe0 ? 0xa0 : 0x80; /* overlong */
        hi = p[0] == 0xed ? 0x9f : 0xbf; /* surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : 0x80; /* overlong */
        hi = p[0] == 0xf4 ? 0x8f : 0xbf; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

static char *put_u00(char *p, unsigned char c)
{
    memcpy(p, "\\u00", 4);
    p[4] = hex[c >> 4];
    p[5] = hex[c & 15];
    return p + 6;
}

/* Writes the body of a JSON string for len bytes of s at p (room: escaped_bound). */
static char *put_escaped(char *p, const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t run = i;
        while (run < len && plain[s[run]]) {
            run++;
        }
        memcpy(p, s + i, run - i);
        p += run - i;
        i = run;
        if (i == len) {
            break;
        }
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n > 0) {
                memcpy(p, s + i, n);
                p += n;
                i += n;
            } else {
                p = put_u00(p, c);
                i++;
            }
            continue;
        }
        char short_esc = c == '"'    ? '"'
                         : c == '\\' ? '\\'
                         : c == '\n' ? 'n'
                         : c == '\t' ? 't'
                         : c == '\r' ? 'r'
                         : c == '\b' ? 'b'
                         : c == '\f' ? 'f'
                                     : 0;
        if (short_esc != 0) {
            p[0] = '\\';
            p[1] = short_esc;
            p += 2;
        } else {
            p = put_u00(p, c);
        }
        i++;
    }
    return p;
}

/* A JSON string, quotes included; bound is escaped_bound(s, len). */
static char *put_string(char *p, const char *s, size_t len, size_t bound)
{
    *p++ = '"';
    if (bound != len) {
        p = put_escaped(p, (const unsigned char *)s, len);
    } else if (len > 0) { /* nothing to escape: one copy (s may be NULL when len is 0) */
        memcpy(p, s, len);
        p += len;
    }
    *p++ = '"';
    return p;
}

static char *put_lit(char *p, const char *lit, size_t len)
{
    memcpy(p, lit, len);
    return p + len;
}

#define PUT_LIT(p, lit) put_lit((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* v as exactly width decimal digits (v < 10^width). */
static char *put_fixed(char *p, unsigned long v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* The proleptic Gregorian date of a day counted from 1970-01-01 (may be negative). Done by
 * hand rather than with gmtime_r: no locale or time-zone lookups on the hot path. */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */

    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* "2026-11-22T01:02:03.123456789Z": 30 bytes. */
static char *put_time(char *p, int64_t ns)
{
    int64_t secs = ns / 1000000000;
    int64_t frac = ns % 1000000000;
    int64_t year;
    unsigned month, day;

    if (frac < 0) { /* floor, for times before 1970 */
        frac += 1000000000;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &year, &month, &day);
    p = put_fixed(p, (unsigned long)year, 4); /* int64 ns spans 1677..2262 */
    *p++ = '-';
    p = put_fixed(p, month, 2);
    *p++ = '-';
    p = put_fixed(p, day, 2);
    *p++ = 'T';
    p = put_fixed(p, (unsigned long)(sod / 3600), 2);
    *p++ = ':';
    p = put_fixed(p, (unsigned long)(sod / 60 % 60), 2);
    *p++ = ':';
    p = put_fixed(p, (unsigned long)(sod % 60), 2);
    *p++ = '.';
    p = put_fixed(p, (unsigned long)frac, 9);
    *p++ = 'Z';
    return p;
}

/* Reserves room for at most need bytes in out as one piece. NULL when memory runs out. */
static char *reserve(struct evbuffer *out, size_t need, struct evbuffer_iovec *v)
{
    if (need > (size_t)EV_SSIZE_MAX || evbuffer_reserve_space(out, (ev_ssize_t)need, v, 1) != 1) {
        return NULL;
    }
    return v->iov_base;
}

static int commit(struct evbuffer *out, struct evbuffer_iovec *v, const char *end)
{
    v->iov_len = (size_t)(end - (const char *)v->iov_base);
    return evbuffer_commit_space(out, v, 1);
}

int sl_enc_json_string(struct evbuffer *out, const char *s, size_t len)
{
    size_t bound = escaped_bound((const unsigned char *)s, len);
    struct evbuffer_iovec v;
    char *p = reserve(out, bound + 2, &v);

    if (p == NULL) {
        return -1;
    }
    return commit(out, &v, put_string(p, s, len, bound));
}

int sl_enc_record(const struct sl_enc *e, enum sl_format f, struct evbuffer *out,
                  const struct sl_block *b, const struct sl_rec *r)
{
    /* A block of empty records has no data at all. */
    const char *text = b->data != NULL ? b->data + r->start : "";
    struct evbuffer_iovec v;
    char *p;

    if (f == SL_FMT_RAW) {
        if ((p = reserve(out, (size_t)r->len + 1, &v)) == NULL) {
            return -1;
        }
        memcpy(p, text, r->len);
        p[r->len] = '\n';
        return commit(out, &v, p + r->len + 1);
    }

    const char *path = b->src->path;
    size_t path_len = strlen(path);
    size_t path_bound = escaped_bound((const unsigned char *)path, path_len);
    bool verbatim = (r->flags & SL_REC_JSON) != 0;
    size_t text_bound = verbatim ? r->len : escaped_bound((const unsigned char *)text, r->len);

    p = reserve(out, JSON_FIXED + path_bound + text_bound + e->extra_len, &v);
    if (p == NULL) {
        return -1;
    }
    p = PUT_LIT(p, "{\"time\":\"");
    p = put_time(p, (r->flags & SL_REC_CRI) != 0 ? r->time_ns : b->read_ns);
    p = PUT_LIT(p, "\",\"file\":");
    p = put_string(p, path, path_len, path_bound);
    p = PUT_LIT(p, ",\"offset\":");
    p = put_u64(p, r->offset);
    if (verbatim) {
        p = PUT_LIT(p, ",\"json\":");
        p = put_lit(p, text, r->len);
    } else {
        p = PUT_LIT(p, ",\"message\":");
        p = put_string(p, text, r->len, text_bound);
    }
    if ((r->flags & SL_REC_CRI) != 0) {
        p = (r->flags & SL_REC_STDERR) != 0 ? PUT_LIT(p, ",\"stream\":\"stderr\"")
                                            : PUT_LIT(p, ",\"stream\":\"stdout\"");
    }
    if ((r->flags & SL_REC_TRUNCATED) != 0) {
        p = PUT_LIT(p, ",\"truncated\":true");
    }
    p = put_lit(p, e->extra, e->extra_len);
    p = PUT_LIT(p, "}\n");
    return commit(out, &v, p);
}

size_t sl_enc_id(const struct sl_block *b, const struct sl_rec *r, char out[SL_ENC_ID_MAX])
{
    size_t n = strnlen(b->src->id, sizeof(b->src->id) - 1);
    char tmp[16];
    size_t k = 0;
    uint64_t v = r->offset;

    memcpy(out, b->src->id, n);
    out[n++] = '-';
    do {
        tmp[k++] = hex[v & 15];
        v >>= 4;
    } while (v > 0);
    while (k > 0) {
        out[n++] = tmp[--k];
    }
    out[n] = '\0';
    return n;
}

/* Appends ,"key":"value" to buf. 0 or -1 (memory). */
static int add_field(struct evbuffer *buf, const char *key, size_t key_len, const char *value)
{
    if (evbuffer_add(buf, ",", 1) < 0 || sl_enc_json_string(buf, key, key_len) < 0 ||
        evbuffer_add(buf, ":", 1) < 0) {
        return -1;
    }
    return sl_enc_json_string(buf, value, strlen(value));
}

/* Checks label i of labels: KEY=VALUE, a key of its own. 0, or -1 with err. */
static int check_label(const struct pk_strv *labels, size_t i, char *err, size_t errsz)
{
    const char *label = labels->v[i];
    const char *eq = strchr(label, '=');
    size_t key_len = eq != NULL ? (size_t)(eq - label) : 0;

    if (key_len == 0) {
        snprintf(err, errsz, "--label '%s': expected KEY=VALUE", label);
        return -1;
    }
    for (size_t k = 0; own_keys[k] != NULL; k++) {
        if (strlen(own_keys[k]) == key_len && memcmp(own_keys[k], label, key_len) == 0) {
            snprintf(err, errsz, "--label '%s': \"%s\" is a field of every record", label,
                     own_keys[k]);
            return -1;
        }
    }
    for (size_t j = 0; j < i; j++) {
        if (strncmp(labels->v[j], label, key_len + 1) == 0) {
            snprintf(err, errsz, "--label '%s': \"%.*s\" is given twice", label, (int)key_len,
                     label);
            return -1;
        }
    }
    return 0;
}

int sl_enc_init(struct sl_enc *e, const struct pk_strv *labels, char *err, size_t errsz)
{
    struct evbuffer *buf = evbuffer_new();
    size_t n = labels != NULL ? labels->n : 0;
    int rc = -1;

    e->extra = NULL;
    e->extra_len = 0;
    if (buf == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        const char *value = getenv(meta[i].env);
        if (value != NULL && value[0] != '\0' &&
            add_field(buf, meta[i].key, strlen(meta[i].key), value) < 0) {
            snprintf(err, errsz, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *label = labels->v[i];
        if (check_label(labels, i, err, errsz) < 0) {
            goto out;
        }
        size_t key_len = (size_t)(strchr(label, '=') - label);
        if (add_field(buf, label, key_len, label + key_len + 1) < 0) {
            snprintf(err, errsz, "out of memory");
            goto out;
        }
    }
    e->extra_len = evbuffer_get_length(buf);
    if ((e->extra = malloc(e->extra_len + 1)) == NULL) {
        e->extra_len = 0;
        snprintf(err, errsz, "out of memory");
        goto out;
    }
    evbuffer_copyout(buf, e->extra, e->extra_len);
    e->extra[e->extra_len] = '\0';
    rc = 0;
out:
    evbuffer_free(buf);
    return rc;
}

void sl_enc_free(struct sl_enc *e)
{
    free(e->extra);
    e->extra = NULL;
    e->extra_len = 0;
}
