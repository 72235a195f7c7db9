/* am_expo.c — the store as Prometheus text 0.0.4 or OpenMetrics 1.0.0: Accept negotiation,
 * the renderer, shortest round-trip numbers and gzip. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <zlib.h>

#include "am_expo.h"
#include "am_quant.h"

#define OUT_CHUNK (256 * 1024) /* bytes reserved in the evbuffer at a time */
#define DOUBLE_MAX_LEN 32      /* what am_expo_double may write, its NUL included */
#define SUFFIX_MAX_LEN 8       /* "_bucket" and the like */
#define DEFAULT_HELP "Metric adapted by adapter-metrics."
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */
#define LIT(s) s, sizeof(s) - 1          /* a string literal and its length */

/* ---- negotiation ---------------------------------------------------------------------- */

/* One element of an Accept or Accept-Encoding list. */
struct range {
    const char *token; /* "text/plain", "gzip", "*" + "/" + "*" */
    size_t token_len;
    double q;            /* 1 when none; 0 when unreadable, as Prometheus' goautoneg does */
    const char *version; /* the version parameter's value without quotes, or NULL */
    size_t version_len;
};

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive: does s[0..n) equal the lower-case word w? */
static bool word_is(const char *s, size_t n, const char *w)
{
    size_t i = 0;

    for (; i < n && w[i] != '\0'; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != w[i]) {
            return false;
        }
    }
    return i == n && w[i] == '\0';
}

/* s[0..n) without the blanks at its end: the new length. */
static size_t trim_end(const char *s, size_t n)
{
    while (n > 0 && is_ows(s[n - 1])) {
        n--;
    }
    return n;
}

/* A qvalue (RFC 9110: "0", "0.5", "1.000"; more digits are taken too), clamped to [0, 1];
 * 0 when it is not a number. */
static double parse_qvalue(const char *s, size_t n)
{
    double v = 0, scale = 1;
    size_t i = 0;
    bool digits = false;

    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        digits = true;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            scale /= 10;
            v += (s[i] - '0') * scale;
            digits = true;
        }
    }
    if (!digits || i != n) {
        return 0;
    }
    return v > 1 ? 1 : v;
}

/* Reads the list element at p into *r: the token, then ";name=value" parameters (values
 * bare or quoted). Returns where the next element starts, or NULL when there is none. */
static const char *next_range(const char *p, struct range *r)
{
    while (*p == ',' || is_ows(*p)) {
        p++;
    }
    if (*p == '\0') {
        return NULL;
    }
    r->token = p;
    while (*p != '\0' && *p != ',' && *p != ';') {
        p++;
    }
    r->token_len = trim_end(r->token, (size_t)(p - r->token));
    r->q = 1;
    r->version = NULL;
    r->version_len = 0;
    while (*p == ';') {
        const char *name, *val = "";
        size_t name_len, val_len = 0;

        for (p++; is_ows(*p); p++) {
        }
        name = p;
        while (*p != '\0' && *p != '=' && *p != ';' && *p != ',') {
            p++;
        }
        name_len = trim_end(name, (size_t)(p - name));
        if (*p == '=') {
            for (p++; is_ows(*p); p++) {
            }
            if (*p == '"') {
                val = ++p;
                while (*p != '\0' && *p != '"') {
                    p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
                }
                val_len = (size_t)(p - val);
                if (*p == '"') {
                    p++;
                }
            } else {
                val = p;
                while (*p != '\0' && *p != ';' && *p != ',') {
                    p++;
                }
                val_len = trim_end(val, (size_t)(p - val));
            }
            /* Whatever follows a quoted value up to the next separator is ignored. */
            while (*p != '\0' && *p != ';' && *p != ',') {
                p++;
            }
        }
        if (word_is(name, name_len, "q")) {
            r->q = parse_qvalue(val, val_len);
        } else if (word_is(name, name_len, "version")) {
            r->version = val;
            r->version_len = val_len;
        }
    }
    if (*p == ',') {
        p++;
    }
    return p;
}

static bool version_is(const struct range *r, const char *want)
{
    return r->version == NULL ||
           (r->version_len == strlen(want) && memcmp(r->version, want, r->version_len) == 0);
}

enum am_format am_expo_negotiate(const char *accept)
{
    double om_q = 0, text_q = 0;
    struct range r;
    const char *p = accept;

    if (accept == NULL) {
        return AM_FORMAT_TEXT;
    }
    while ((p = next_range(p, &r)) != NULL) {
        if (word_is(r.token, r.token_len, "application/openmetrics-text")) {
            if (version_is(&r, "1.0.0")) {
                om_q = fmax(om_q, r.q);
            }
        } else if (word_is(r.token, r.token_len, "text/plain")) {
            if (version_is(&r, "0.0.4")) {
                text_q = fmax(text_q, r.q);
            }
        } else if (word_is(r.token, r.token_len, "*/*") ||
                   word_is(r.token, r.token_len, "text/*")) {
            text_q = fmax(text_q, r.q);
        }
    }
    return om_q > 0 && om_q >= text_q ? AM_FORMAT_OPENMETRICS : AM_FORMAT_TEXT;
}

const char *am_expo_content_type(enum am_format fmt)
{
    if (fmt == AM_FORMAT_OPENMETRICS) {
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    }
    return "text/plain; version=0.0.4; charset=utf-8";
}

bool am_expo_wants_gzip(const char *accept_encoding)
{
    double gzip_q = -1, star_q = -1; /* -1: not named */
    struct range r;
    const char *p = accept_encoding;

    if (accept_encoding == NULL) {
        return false;
    }
    while ((p = next_range(p, &r)) != NULL) {
        if (word_is(r.token, r.token_len, "gzip") || word_is(r.token, r.token_len, "x-gzip")) {
            gzip_q = fmax(gzip_q, r.q);
        } else if (word_is(r.token, r.token_len, "*")) {
            star_q = fmax(star_q, r.q);
        }
    }
    /* A coding named outright wins over "*" (RFC 9110 12.5.3). */
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

/* ---- numbers -------------------------------------------------------------------------- */

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t pow10_u64[] = {1ULL,
                                     10ULL,
                                     100ULL,
                                     1000ULL,
                                     10000ULL,
                                     100000ULL,
                                     1000000ULL,
                                     10000000ULL,
                                     100000000ULL,
                                     1000000000ULL,
                                     10000000000ULL,
                                     100000000000ULL,
                                     1000000000000ULL,
                                     10000000000000ULL,
                                     100000000000000ULL,
                                     1000000000000000ULL,
                                     10000000000000000ULL,
                                     100000000000000000ULL,
                                     1000000000000000000ULL,
                                     10000000000000000000ULL};

/* Powers of ten that a double holds exactly. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static char *put_digits(char *p, const char *ds, size_t n)
{
    memcpy(p, ds, n);
    return p + n;
}

/* Writes u in decimal at p (at most 20 bytes); returns the end. */
static char *put_u64(char *p, uint64_t u)
{
    char tmp[20];
    char *t = tmp + sizeof(tmp);
    size_t n;

    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);

        u /= 100;
        t -= 2;
        memcpy(t, digit_pairs + 2 * r, 2);
    }
    if (u >= 10) {
        t -= 2;
        memcpy(t, digit_pairs + 2 * u, 2);
    } else {
        *--t = (char)('0' + u);
    }
    n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

/*
 * Writes nd significant digits ds (the first not 0, the last not 0) of a non-integer whose
 * first digit is worth 10^x, -7 <= x <= 15, as %g does: fixed notation ("0.005", "2.5") from
 * x = -4 on, else "d.ddde-05". Returns the length; NUL-terminates.
 */
static size_t put_sig(char *buf, const char *ds, size_t nd, int x)
{
    char *p = buf;

    if (x >= 0) {
        size_t whole = (size_t)x + 1;

        if (nd > whole) {
            p = put_digits(p, ds, whole);
            *p++ = '.';
            p = put_digits(p, ds + whole, nd - whole);
        } else {
            p = put_digits(p, ds, nd);
            memset(p, '0', whole - nd);
            p += whole - nd;
        }
    } else if (x >= -4) {
        *p++ = '0';
        *p++ = '.';
        memset(p, '0', (size_t)(-x - 1));
        p += -x - 1;
        p = put_digits(p, ds, nd);
    } else {
        *p++ = ds[0];
        if (nd > 1) {
            *p++ = '.';
            p = put_digits(p, ds + 1, nd - 1);
        }
        *p++ = 'e';
        *p++ = '-';
        *p++ = '0';
        *p++ = (char)('0' - x);
    }
    *p = '\0';
    return (size_t)(p - buf);
}

/* The digits of m / 10^k without the trailing zeros, then put_sig. m > 0. */
static size_t put_scaled(char *buf, uint64_t m, int k)
{
    char ds[20];
    size_t nd;

    while (m % 10 == 0) {
        m /= 10;
        k--;
    }
    nd = (size_t)(put_u64(ds, m) - ds);
    return put_sig(buf, ds, nd, (int)nd - 1 - k);
}

/*
 * The shortest decimal of a, a finite non-integer with 1e-7 <= a < 1e15, when it has at most
 * 15 significant digits ("0.005", "2.5", "1.5e-06"). Returns the length, or 0 when a needs
 * more digits. Why it is exact: if the shortest string that reads back as a is n / 10^k with
 * n < 10^15 < 2^50, then a * 10^k computed in double lies within 1.5 ulp(n) <= 0.19 of n, so
 * rint() finds n; n and 10^k <= 10^22 are exact doubles, so the correctly rounded n / 10^k
 * equals what strtod makes of the string. Trying k upwards finds the fewest fraction digits
 * first, which for a given a are the fewest significant digits; and with 15 digits or fewer
 * only one candidate lies within half an ulp of a, so it is also the one %.15g prints.
 */
static size_t short_decimal(char *buf, double a)
{
    for (int k = 1; k <= 22; k++) {
        double m = rint(a * pow10_exact[k]);

        if (m >= 1e15) {
            return 0;
        }
        if (m != 0 && m / pow10_exact[k] == a) {
            return put_scaled(buf, (uint64_t)m, k);
        }
    }
    return 0;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

/*
 * %.16g of a, or %.17g when that does not read back, for a finite non-integer with
 * 1e-4 <= a < 1e15 that needs more than 15 digits, in exact integer arithmetic: a is
 * M / 2^s, so a * 10^j (j < 22 fraction digits) is M * 10^j / 2^s, whose integer part and
 * remainder give the correctly rounded digits (ties to even, as printf) and tell exactly
 * whether they are within half an ulp of a (ties to even, as strtod).
 */
static size_t long_decimal(char *buf, double a)
{
    static const double pow10_neg[] = {1e-4, 1e-3, 1e-2, 1e-1};
    int e, x = 14;
    uint64_t mant = (uint64_t)ldexp(frexp(a, &e), 53); /* a = mant / 2^s, 2^52 <= mant < 2^53 */
    int s = 53 - e;                                    /* 3 <= s <= 66 here */
    u128 one = (u128)1 << s;

    /* 10^x <= a < 10^(x+1). The doubles nearest 10^-4 .. 10^-1 lie above them, so a >= one
     * exactly when a >= the power itself. */
    while (x > -4 && a < (x >= 0 ? pow10_exact[x] : pow10_neg[x + 4])) {
        x--;
    }
    for (int prec = 16;; prec++) {
        int j = prec - 1 - x; /* fraction digits, 1 .. 20 */
        u128 ten_j = j < 20 ? (u128)pow10_u64[j] : (u128)pow10_u64[19] * 10;
        u128 n = (u128)mant * ten_j, rem = n & (one - 1), dist;
        uint64_t d = (uint64_t)(n >> s);
        bool up = rem > one / 2 || (rem == one / 2 && (d & 1)), ok;

        d += up;
        dist = up ? one - rem : rem; /* |d / 10^j - a| = dist / (10^j * 2^s); ulp(a) = 1 / 2^s */
        if (!up && mant == 1ULL << 52) {
            /* Below a power of two the next double down is only half an ulp away. */
            ok = 4 * dist <= ten_j;
        } else {
            ok = 2 * dist < ten_j || (2 * dist == ten_j && !(mant & 1));
        }
        if (ok || prec == 17) {
            return put_scaled(buf, d, j);
        }
    }
}
#else
static size_t long_decimal(char *buf, double a)
{
    (void)buf;
    (void)a;
    return 0;
}
#endif

size_t am_expo_double(char *buf, double v, bool om)
{
    double a = fabs(v);
    char *p = buf;
    int n = 0;

    if (isnan(v)) {
        memcpy(buf, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(buf, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    if (a <= MAX_EXACT_INT && (double)(int64_t)v == v) {
        if (signbit(v)) {
            *p++ = '-';
        }
        p = put_u64(p, (uint64_t)a);
        if (om) {
            memcpy(p, ".0", 2);
            p += 2;
        }
        *p = '\0';
        return (size_t)(p - buf);
    }
    if (a >= 1e-7 && a < 1e15) {
        size_t len;

        if (v < 0) {
            *p++ = '-';
        }
        len = short_decimal(p, a);
        if (len == 0 && a >= 1e-4) {
            len = long_decimal(p, a);
        }
        if (len > 0) {
            return (size_t)(p - buf) + len;
        }
        /* More than 15 digits: %.15g cannot read back either. */
        n = 16;
    } else {
        /* Subnormals have fewer significant bits: %.15g may not be the shortest there. */
        n = fpclassify(v) == FP_SUBNORMAL ? 1 : 15;
    }
    for (;; n++) {
        int len = snprintf(buf, DOUBLE_MAX_LEN, "%.*g", n, v);

        if (n == 17 || strtod(buf, NULL) == v) {
            return (size_t)len;
        }
    }
}

/* ---- writing into the evbuffer -------------------------------------------------------- */

/* Space reserved in the evbuffer, written to directly and committed chunk by chunk. */
struct out {
    struct evbuffer *buf;
    struct evbuffer_iovec vec;
    bool reserved;
    char *p;   /* the next byte to write */
    char *end; /* the end of the reserved space */
};

static int out_commit(struct out *o)
{
    if (!o->reserved) {
        return 0;
    }
    o->reserved = false;
    o->vec.iov_len = (size_t)(o->p - (char *)o->vec.iov_base);
    return evbuffer_commit_space(o->buf, &o->vec, 1);
}

/* Makes room for n more bytes at o->p. */
static int out_room(struct out *o, size_t n)
{
    if (o->reserved && (size_t)(o->end - o->p) >= n) {
        return 0;
    }
    if (out_commit(o) != 0) {
        return -1;
    }
    if (n < OUT_CHUNK) {
        n = OUT_CHUNK;
    }
    if (n > (size_t)EV_SSIZE_MAX ||
        evbuffer_reserve_space(o->buf, (ev_ssize_t)n, &o->vec, 1) != 1) {
        return -1;
    }
    o->reserved = true;
    o->p = o->vec.iov_base;
    o->end = o->p + o->vec.iov_len;
    return 0;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* The bytes a label value escapes: backslash, quote and newline. */
static const unsigned char esc_label[256] = {['\\'] = 1, ['"'] = 1, ['\n'] = 1};

/* Writes s[0..n) escaped as a label value (at most 2n bytes). */
static char *put_label_value(char *p, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && !esc_label[(unsigned char)s[i]]) {
        i++;
    }
    p = put(p, s, i);
    for (; i < n; i++) {
        char c = s[i];

        if (esc_label[(unsigned char)c]) {
            *p++ = '\\';
            c = c == '\n' ? 'n' : c;
        }
        *p++ = c;
    }
    return p;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;

    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80;
        hi = s[0] == 0xED ? 0x9F : 0xBF;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;
        hi = s[0] == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return len;
}

/* Writes help text (at most 3n bytes): backslash and newline escaped, the quote too in
 * OpenMetrics, and bytes that are not UTF-8 as U+FFFD, since both formats are UTF-8. */
static char *put_help(char *p, const char *s, size_t n, enum am_format fmt)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        /* Most help is plain ASCII with nothing to escape: copy such a run at once. */
        size_t run = i;
        while (run < n && u[run] < 0x80 && u[run] != '\\' && u[run] != '\n' && u[run] != '"') {
            run++;
        }
        if (run > i) {
            p = put(p, s + i, run - i);
            i = run;
            continue;
        }
        size_t len = utf8_seq(u + i, n - i);

        if (len == 0) {
            p = put(p, "\xEF\xBF\xBD", 3);
            i++;
        } else if (u[i] == '\\') {
            p = put(p, "\\\\", 2);
            i++;
        } else if (u[i] == '\n') {
            p = put(p, "\\n", 2);
            i++;
        } else if (u[i] == '"' && fmt == AM_FORMAT_OPENMETRICS) {
            p = put(p, "\\\"", 2);
            i++;
        } else {
            p = put(p, s + i, len);
            i += len;
        }
    }
    return p;
}

/* ---- rendering ------------------------------------------------------------------------ */

/* What a family's lines share, worked out once per family; the arrays grow as needed and
 * are reused by the next family. */
struct fam {
    const struct am_family *f;
    enum am_format fmt;
    int64_t now_ms;
    size_t *lname_len; /* the label names' lengths */
    size_t lname_cap;
    char *bound; /* DOUBLE_MAX_LEN bytes per bucket or quantile: its canonical string */
    size_t *bound_len;
    size_t bound_cap;
    size_t fixed; /* bound on a line's bytes other than its label values and extra label */
};

static int fam_prepare(struct fam *x, const struct am_family *f)
{
    size_t nb = f->type == AM_TYPE_HISTOGRAM ? f->nbuckets
                : f->type == AM_TYPE_SUMMARY ? f->nquantiles
                                             : 0;

    x->f = f;
    if (f->nlabels > x->lname_cap) {
        size_t *lens = reallocarray(x->lname_len, f->nlabels, sizeof(*lens));

        if (lens == NULL) {
            return -1;
        }
        x->lname_len = lens;
        x->lname_cap = f->nlabels;
    }
    if (nb > x->bound_cap) {
        char *bound = reallocarray(x->bound, nb, DOUBLE_MAX_LEN);
        size_t *lens;

        if (bound == NULL) {
            return -1;
        }
        x->bound = bound;
        if ((lens = reallocarray(x->bound_len, nb, sizeof(*lens))) == NULL) {
            return -1;
        }
        x->bound_len = lens;
        x->bound_cap = nb;
    }
    x->fixed = f->name_len + SUFFIX_MAX_LEN + 2 + DOUBLE_MAX_LEN + 2;
    for (size_t i = 0; i < f->nlabels; i++) {
        x->lname_len[i] = strlen(f->label_names[i]);
        x->fixed += x->lname_len[i] + 4; /* ,name="" */
    }
    for (size_t i = 0; i < nb; i++) {
        double b = f->type == AM_TYPE_HISTOGRAM ? f->buckets[i] : f->quantiles[i].q;

        x->bound_len[i] =
            am_expo_double(x->bound + i * DOUBLE_MAX_LEN, b, x->fmt == AM_FORMAT_OPENMETRICS);
    }
    return 0;
}

/* Bytes the label values of s take at most, escaped, plus the family's fixed part. */
static size_t series_bytes(const struct fam *x, const struct am_series *s)
{
    size_t n = x->fixed;

    for (size_t i = 0; i < x->f->nlabels; i++) {
        n += 2 * (size_t)s->val_lens[i];
    }
    return n;
}

/*
 * Writes one sample line: name, suffix, the series' labels and an extra label (le,
 * quantile, the state, the info label; xname NULL for none), the value, a newline. The
 * caller made room for series_bytes() plus xname_len + 4 + 2 * xval_len.
 */
static char *put_line(char *p, const struct fam *x, const struct am_series *s, const char *suffix,
                      size_t suffix_len, const char *xname, size_t xname_len, const char *xval,
                      size_t xval_len, double v)
{
    const struct am_family *f = x->f;
    char sep = '{';

    p = put(p, f->name, f->name_len);
    p = put(p, suffix, suffix_len);
    for (size_t i = 0; i < f->nlabels; i++) {
        *p++ = sep;
        sep = ',';
        p = put(p, f->label_names[i], x->lname_len[i]);
        *p++ = '=';
        *p++ = '"';
        p = put_label_value(p, s->vals[i], s->val_lens[i]);
        *p++ = '"';
    }
    if (xname != NULL) {
        *p++ = sep;
        sep = ',';
        p = put(p, xname, xname_len);
        *p++ = '=';
        *p++ = '"';
        p = put_label_value(p, xval, xval_len);
        *p++ = '"';
    }
    if (sep == ',') {
        *p++ = '}';
    }
    *p++ = ' ';
    p += am_expo_double(p, v, false);
    *p++ = '\n';
    return p;
}

/* "# HELP" and "# TYPE" for f. */
static int put_meta(struct out *o, const struct fam *x)
{
    const struct am_family *f = x->f;
    bool om = x->fmt == AM_FORMAT_OPENMETRICS;
    const char *help = f->help != NULL && f->help[0] != '\0' ? f->help : DEFAULT_HELP;
    size_t help_len = strlen(help);
    const char *suffix = "", *type = "";
    size_t suffix_len = 0, type_len;
    char *p;

    switch (f->type) {
    case AM_TYPE_UNTYPED:
        type = om ? "unknown" : "untyped";
        break;
    case AM_TYPE_GAUGE:
        type = "gauge";
        break;
    case AM_TYPE_COUNTER:
        type = "counter";
        suffix = om ? "" : "_total";
        break;
    case AM_TYPE_HISTOGRAM:
        type = "histogram";
        break;
    case AM_TYPE_SUMMARY:
        type = "summary";
        break;
    case AM_TYPE_STATESET:
        type = om ? "stateset" : "gauge";
        break;
    case AM_TYPE_INFO:
        type = om ? "info" : "gauge";
        suffix = om ? "" : "_info";
        break;
    }
    suffix_len = strlen(suffix);
    type_len = strlen(type);
    if (help_len > SIZE_MAX / 4 ||
        out_room(o, 2 * (f->name_len + suffix_len) + 3 * help_len + type_len + 32) != 0) {
        return -1;
    }
    p = o->p;
    p = put(p, LIT("# HELP "));
    p = put(p, f->name, f->name_len);
    p = put(p, suffix, suffix_len);
    *p++ = ' ';
    p = f->help_plain ? put(p, help, help_len) : put_help(p, help, help_len, x->fmt);
    p = put(p, LIT("\n# TYPE "));
    p = put(p, f->name, f->name_len);
    p = put(p, suffix, suffix_len);
    *p++ = ' ';
    p = put(p, type, type_len);
    *p++ = '\n';
    o->p = p;
    return 0;
}

/* A histogram series: cumulative buckets, then _count and _sum. OpenMetrics has no _sum
 * next to negative buckets nor a negative one, and no _count without _sum. */
static int put_histogram(struct out *o, const struct fam *x, const struct am_series *s)
{
    const struct am_family *f = x->f;
    size_t line = series_bytes(x, s) + 2 + 4 + 2 * DOUBLE_MAX_LEN;
    bool om = x->fmt == AM_FORMAT_OPENMETRICS;
    uint64_t cum = 0;
    double total;

    if (out_room(o, (f->nbuckets + 3) * line) != 0) {
        return -1;
    }
    for (size_t i = 0; i <= f->nbuckets; i++) {
        const char *le = i < f->nbuckets ? x->bound + i * DOUBLE_MAX_LEN : "+Inf";
        size_t le_len = i < f->nbuckets ? x->bound_len[i] : 4;

        if (s->u.hist.abs != NULL) {
            o->p = put_line(o->p, x, s, LIT("_bucket"), LIT("le"), le, le_len, s->u.hist.abs[i]);
        } else {
            cum += s->u.hist.counts[i];
            o->p = put_line(o->p, x, s, LIT("_bucket"), LIT("le"), le, le_len, (double)cum);
        }
    }
    if (om && ((f->nbuckets > 0 && f->buckets[0] < 0) || !(s->u.hist.sum >= 0))) {
        return 0;
    }
    /* _count is the +Inf bucket, whatever else the series holds, so that they always agree. */
    if (s->u.hist.abs != NULL) {
        total = s->u.hist.abs[f->nbuckets];
        o->p = put_line(o->p, x, s, LIT("_count"), NULL, 0, NULL, 0, total);
    } else {
        o->p = put_line(o->p, x, s, LIT("_count"), NULL, 0, NULL, 0, (double)cum);
    }
    o->p = put_line(o->p, x, s, LIT("_sum"), NULL, 0, NULL, 0, s->u.hist.sum);
    return 0;
}

/* A summary series: its quantiles (NaN when the window is empty), _count and _sum.
 * OpenMetrics takes no negative quantile value nor a negative or NaN _sum. */
static int put_summary(struct out *o, const struct fam *x, const struct am_series *s)
{
    const struct am_family *f = x->f;
    size_t line = series_bytes(x, s) + 8 + 4 + 2 * DOUBLE_MAX_LEN;
    bool om = x->fmt == AM_FORMAT_OPENMETRICS;

    if (out_room(o, (f->nquantiles + 2) * line) != 0) {
        return -1;
    }
    for (size_t i = 0; i < f->nquantiles; i++) {
        double v = s->u.sum.sketch != NULL
                       ? am_quant_query(s->u.sum.sketch, f->quantiles[i].q, x->now_ms)
                       : s->u.sum.qvalues[i];

        if (om && v < 0) {
            continue;
        }
        o->p = put_line(o->p, x, s, "", 0, LIT("quantile"), x->bound + i * DOUBLE_MAX_LEN,
                        x->bound_len[i], v);
    }
    o->p = put_line(o->p, x, s, LIT("_count"), NULL, 0, NULL, 0, s->u.sum.count);
    if (!om || s->u.sum.sum >= 0) {
        o->p = put_line(o->p, x, s, LIT("_sum"), NULL, 0, NULL, 0, s->u.sum.sum);
    }
    return 0;
}

/* A stateset series: one line per state, 1 for the current one. */
static int put_stateset(struct out *o, const struct fam *x, const struct am_series *s)
{
    const struct am_family *f = x->f;

    for (size_t i = 0; i < f->nstates; i++) {
        size_t state_len = strlen(f->states[i]);

        if (out_room(o, series_bytes(x, s) + f->name_len + 4 + 2 * state_len) != 0) {
            return -1;
        }
        o->p = put_line(o->p, x, s, "", 0, f->name, f->name_len, f->states[i], state_len,
                        i == s->u.state ? 1 : 0);
    }
    return 0;
}

static int put_family(struct out *o, struct fam *x)
{
    const struct am_family *f = x->f;
    bool om = x->fmt == AM_FORMAT_OPENMETRICS;
    const char *info_label = f->info_label != NULL ? f->info_label : "value";
    size_t info_label_len = strlen(info_label);

    if (put_meta(o, x) != 0) {
        return -1;
    }
    for (const struct am_series *s = f->series; s != NULL; s = s->next) {
        size_t n = series_bytes(x, s);
        int rc = 0;

        switch (f->type) {
        case AM_TYPE_UNTYPED:
        case AM_TYPE_GAUGE:
            rc = out_room(o, n);
            if (rc == 0) {
                double v = s->is_set ? (double)s->u.set.n : s->u.value;

                o->p = put_line(o->p, x, s, "", 0, NULL, 0, NULL, 0, v);
            }
            break;
        case AM_TYPE_COUNTER:
            /* OpenMetrics has no negative or NaN counter; the store should not make one. */
            if (om && !(s->u.value >= 0)) {
                break;
            }
            rc = out_room(o, n);
            if (rc == 0) {
                o->p = put_line(o->p, x, s, LIT("_total"), NULL, 0, NULL, 0, s->u.value);
            }
            break;
        case AM_TYPE_HISTOGRAM:
            rc = put_histogram(o, x, s);
            break;
        case AM_TYPE_SUMMARY:
            rc = put_summary(o, x, s);
            break;
        case AM_TYPE_STATESET:
            rc = put_stateset(o, x, s);
            break;
        case AM_TYPE_INFO:
            rc = out_room(o, n + info_label_len + 4 + 2 * (size_t)s->u.info.len);
            if (rc == 0) {
                o->p = put_line(o->p, x, s, LIT("_info"), info_label, info_label_len, s->u.info.str,
                                s->u.info.len, 1);
            }
            break;
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

int am_expo_render(struct am_store *st, enum am_format fmt, int64_t now_ms, struct evbuffer *out)
{
    struct out o = {.buf = out};
    struct fam x = {.fmt = fmt, .now_ms = now_ms};
    int rc = -1;

    for (const struct am_family *f = am_store_families(st); f != NULL; f = f->next) {
        if (f->series == NULL) {
            continue;
        }
        if (fam_prepare(&x, f) != 0 || put_family(&o, &x) != 0) {
            goto out;
        }
    }
    if (fmt == AM_FORMAT_OPENMETRICS) {
        if (out_room(&o, 6) != 0) {
            goto out;
        }
        o.p = put(o.p, LIT("# EOF\n"));
    }
    rc = 0;
out:
    if (out_commit(&o) != 0) {
        rc = -1;
    }
    free(x.lname_len);
    free(x.bound);
    free(x.bound_len);
    return rc;
}

/* ---- gzip ----------------------------------------------------------------------------- */

int am_gzip(const struct evbuffer *in, struct evbuffer *out, int level)
{
    /* evbuffer_peek does not change the buffer; it only lacks a const in its signature. */
    struct evbuffer *src = (struct evbuffer *)(uintptr_t)in;
    struct evbuffer_iovec *vec = NULL, ov = {0};
    bool reserved = false;
    z_stream zs;
    int n, rc = -1, zrc = Z_OK;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -1;
    }
    n = evbuffer_peek(src, -1, NULL, NULL, 0);
    if (n < 0 || (n > 0 && (vec = calloc((size_t)n, sizeof(*vec))) == NULL)) {
        goto out;
    }
    if (n > 0 && evbuffer_peek(src, -1, NULL, vec, n) != n) {
        goto out;
    }
    /* One pass per chain; an extra one with no input to finish an empty stream. */
    for (int i = 0; i < n || (i == 0 && n == 0); i++) {
        int flush = i + 1 >= n ? Z_FINISH : Z_NO_FLUSH;

        zs.next_in = n > 0 ? vec[i].iov_base : NULL;
        zs.avail_in = n > 0 ? (uInt)vec[i].iov_len : 0;
        for (;;) {
            if (!reserved || zs.avail_out == 0) {
                if (reserved) {
                    ov.iov_len = (size_t)((char *)zs.next_out - (char *)ov.iov_base);
                    reserved = false;
                    if (evbuffer_commit_space(out, &ov, 1) != 0) {
                        goto out;
                    }
                }
                if (evbuffer_reserve_space(out, OUT_CHUNK, &ov, 1) != 1) {
                    goto out;
                }
                reserved = true;
                zs.next_out = ov.iov_base;
                zs.avail_out = (uInt)(ov.iov_len > UINT32_MAX ? UINT32_MAX : ov.iov_len);
            }
            zrc = deflate(&zs, flush);
            if (zrc == Z_STREAM_ERROR) {
                goto out;
            }
            if (flush == Z_FINISH ? zrc == Z_STREAM_END : zs.avail_in == 0 && zs.avail_out > 0) {
                break;
            }
        }
    }
    rc = 0;
out:
    if (reserved) {
        ov.iov_len = (size_t)((char *)zs.next_out - (char *)ov.iov_base);
        if (evbuffer_commit_space(out, &ov, 1) != 0) {
            rc = -1;
        }
    }
    deflateEnd(&zs);
    free(vec);
    return rc;
}
