/* shim_manifest_value.c — values of a manifest: YAML 1.1 integers, Kubernetes quantities,
 * base64, and the kubelet's $(VAR) expansion. */
#include "shim_manifest_int.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers ----------------------------------------------------------------------- */

int shim_mf_parse_int(const char *s, long long *out)
{
    /* YAML 1.1 integers as kubectl reads them: decimal, 0644 (octal), 0o644, 0x1a4. */
    bool neg = *s == '-';
    bool big = false;
    unsigned base = 10;
    unsigned long long v = 0;

    if (*s == '-' || *s == '+') {
        s++;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16, s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8, s += 2;
    } else if (s[0] == '0' && s[1] != '\0') {
        base = 8, s += 1;
    }
    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        unsigned d = *s >= '0' && *s <= '9'   ? (unsigned)(*s - '0')
                     : *s >= 'a' && *s <= 'f' ? (unsigned)(*s - 'a' + 10)
                     : *s >= 'A' && *s <= 'F' ? (unsigned)(*s - 'A' + 10)
                                              : 99;
        if (d >= base) {
            return -1;
        }
        /* Too large: keep reading, to tell a bad digit apart. */
        big = big || __builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v);
    }
    if (big || v > (unsigned long long)LLONG_MAX) {
        return -2;
    }
    *out = neg ? -(long long)v : (long long)v;
    return 0;
}

/* A Kubernetes quantity times 10^scale: [+-]DIGITS[.DIGITS] with a binary (Ki..Ei), decimal
 * (n u m k M G T P E) or exponent (e3) suffix, computed exactly as digits * mult / 10^frac in
 * 128 bits. A fraction left over is rounded up when round_up (as Kubernetes' MilliValue does),
 * else an error (bytes are whole). */
static int quantity(const char *s, int scale, bool round_up, uint64_t *out, char *why, size_t whysz)
{
    static const struct {
        const char *suffix;
        int pow10;
        int pow2;
    } units[] = {{"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},
                 {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},
                 {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
                 {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60}};
    unsigned __int128 n = 0, div = 1;
    const char *p = s;
    int digits = 0, frac = 0, pow10 = 0, pow2 = 0;
    bool found = false, any = false;

    if (*p == '+' || *p == '-') {
        if (*p == '-') {
            return shim_mf_why(why, whysz, "must be greater than or equal to 0");
        }
        p++;
    }
    for (bool dot = false; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
        if (*p == '.') {
            dot = true;
            continue;
        }
        any = true;
        if (n == 0 && *p == '0' && !dot) {
            continue; /* leading zeros */
        }
        if (++digits > 36) {
            return shim_mf_why(why, whysz, "too many digits");
        }
        n = n * 10 + (unsigned)(*p - '0');
        frac += dot;
    }
    if (!any) {
        goto bad;
    }
    if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) || p[1] == '-' || p[1] == '+')) {
        char *end;
        long e = strtol(p + 1, &end, 10);
        if (*end != '\0' || e < -36 || e > 36) {
            goto bad;
        }
        pow10 = (int)e;
        found = true;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !found; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            pow10 = units[i].pow10;
            pow2 = units[i].pow2;
            found = true;
        }
    }
    if (!found) {
        goto bad;
    }
    pow10 += scale - frac;
    for (; pow10 > 0; pow10--) {
        if (n > ((unsigned __int128)1 << 124)) {
            goto large;
        }
        n *= 10;
    }
    if (pow10 < -38) {
        pow10 = n == 0 ? 0 : -38; /* n has at most 36 digits: a fraction of one unit */
        n = n == 0 ? 0 : 1;
    }
    for (; pow10 < 0; pow10++) {
        div *= 10;
    }
    if (pow2 > 0) {
        if (n > ((unsigned __int128)1 << (124 - pow2))) {
            goto large;
        }
        n <<= pow2;
    }
    if (n % div != 0 && !round_up) {
        return shim_mf_why(why, whysz, "must be a whole number of bytes");
    }
    n = n / div + (n % div != 0);
    if (n > UINT64_MAX) {
        goto large;
    }
    *out = (uint64_t)n;
    return 0;
large:
    return shim_mf_why(why, whysz, "too large");
bad:
    return shim_mf_why(why, whysz,
                       "quantities must match the regular expression "
                       "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. 64Mi, 1G, 500M)");
}

int shim_mf_quantity(const char *s, uint64_t *out, char *why, size_t whysz)
{
    return quantity(s, 0, false, out, why, whysz);
}

int shim_mf_millis(const char *s, uint64_t *out, char *why, size_t whysz)
{
    return quantity(s, 3, true, out, why, whysz);
}

int shim_mf_base64(const char *in, size_t len, unsigned char *out, size_t *outlen, size_t *bad)
{
    /* Standard alphabet, padding required; newlines are skipped as Go's decoder does. */
    unsigned quad = 0, nq = 0, pad = 0;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        unsigned v;

        if (ch == '\r' || ch == '\n') {
            continue;
        }
        *bad = i;
        if (ch == '=') {
            if (nq < 2 || nq + pad >= 4) {
                return -1;
            }
            pad++;
            continue;
        }
        if (pad > 0) {
            return -1; /* data after the padding */
        }
        if (ch >= 'A' && ch <= 'Z') {
            v = ch - 'A';
        } else if (ch >= 'a' && ch <= 'z') {
            v = ch - 'a' + 26;
        } else if (ch >= '0' && ch <= '9') {
            v = ch - '0' + 52;
        } else if (ch == '+' || ch == '/') {
            v = ch == '+' ? 62 : 63;
        } else {
            return -1;
        }
        quad = quad << 6 | v;
        if (++nq == 4) {
            out[o++] = (unsigned char)(quad >> 16);
            out[o++] = (unsigned char)(quad >> 8);
            out[o++] = (unsigned char)quad;
            quad = 0;
            nq = 0;
        }
    }
    *bad = len;
    if (nq + pad != 0 && nq + pad != 4) {
        return -1; /* the last group is cut short */
    }
    if (pad > 0) {
        quad <<= 6 * pad; /* the last group's digits, left-aligned to 24 bits */
        out[o++] = (unsigned char)(quad >> 16);
        if (pad == 1) {
            out[o++] = (unsigned char)(quad >> 8);
        }
    }
    *outlen = o;
    return 0;
}

/* ---- $(VAR) expansion ---------------------------------------------------------------- */

/* The value of the last NAME=VALUE in env whose NAME is the n bytes at name, or NULL. */
static const char *lookup(const char *name, size_t n, char *const *env, size_t nenv)
{
    for (size_t i = nenv; i-- > 0;) {
        const char *eq = strchr(env[i], '=');
        if (eq != NULL && (size_t)(eq - env[i]) == n && memcmp(env[i], name, n) == 0) {
            return eq + 1;
        }
    }
    return NULL;
}

/* One pass of the kubelet's expansion: writes to out when it is not NULL and returns the
 * length of the result. */
static size_t expand(const char *s, char *const *env, size_t nenv, char *out)
{
    size_t o = 0;
    bool closed = true; /* some ')' may follow: once none does, none will */

#define EMIT(p, n)                                                                                 \
    do {                                                                                           \
        if (out != NULL) {                                                                         \
            memcpy(out + o, (p), (n));                                                             \
        }                                                                                          \
        o += (n);                                                                                  \
    } while (0)

    while (*s != '\0') {
        const char *dollar = strchr(s, '$');
        if (dollar == NULL || dollar[1] == '\0') {
            EMIT(s, strlen(s));
            break;
        }
        EMIT(s, (size_t)(dollar - s));
        s = dollar + 1;
        if (*s == '$') {
            EMIT("$", 1); /* $$ is an escaped $ */
            s++;
        } else if (*s == '(' && closed && (closed = strchr(s, ')') != NULL)) {
            const char *close = strchr(s, ')');
            const char *value = lookup(s + 1, (size_t)(close - s - 1), env, nenv);
            if (value != NULL) {
                EMIT(value, strlen(value));
            } else {
                EMIT(s - 1, (size_t)(close - s + 2)); /* undefined: kept as written */
            }
            s = close + 1;
        } else {
            EMIT("$", 1); /* a $ that starts no reference, or an unterminated "$(" */
        }
    }
#undef EMIT
    return o;
}

char *shim_expand(const char *s, char *const *env, size_t n)
{
    size_t len = expand(s, env, n, NULL);
    char *out = malloc(len + 1);

    if (out == NULL) {
        return NULL;
    }
    expand(s, env, n, out);
    out[len] = '\0';
    return out;
}
