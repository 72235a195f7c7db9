/* shim_manifest_check.c — the API server's value checks (names, paths, IPs), integers,
 * quantities, base64, "did you mean" distances, and Kubernetes $(VAR) expansion. */
#include "shim_manifest_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks return 0 when s is fine, -1 with why filled when it is not, and -2 when s is empty
 * and may not be (the caller reports "required value"). */

#define LABEL_WHY                                                                                \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "   \
    "and must start and end with an alphanumeric character"
#define SUBDOMAIN_WHY                                                                            \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "  \
    "or '.', and must start and end with an alphanumeric character"
#define NAME_PART_WHY                                                                            \
    "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "      \
    "alphanumeric character"

static int why_is(char *why, size_t whysz, const char *text)
{
    snprintf(why, whysz, "%s", text);
    return -1;
}

static bool lower_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool alnum(char ch)
{
    return lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* The n bytes at s are a DNS-1123 label, ignoring the length limit. */
static bool is_label(const char *s, size_t n)
{
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!lower_alnum(s[i]) && s[i] != '-') {
            return false;
        }
    }
    return true;
}

int shim_mf_check_label(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n == 0) {
        return -2;
    }
    if (n > 63) {
        return why_is(why, whysz, "must be no more than 63 characters");
    }
    return is_label(s, n) ? 0 : why_is(why, whysz, LABEL_WHY);
}

int shim_mf_check_subdomain(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n == 0) {
        return -2;
    }
    if (n > 253) {
        return why_is(why, whysz, "must be no more than 253 characters");
    }
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!is_label(p, len)) {
            return why_is(why, whysz, SUBDOMAIN_WHY);
        }
        if (dot == NULL) {
            return 0;
        }
        p = dot + 1;
    }
}

int shim_mf_check_port_name(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);
    bool letter = false;

    if (n == 0) {
        return -2;
    }
    if (n > 15) {
        return why_is(why, whysz, "must be no more than 15 characters");
    }
    for (size_t i = 0; i < n; i++) {
        if (!lower_alnum(s[i]) && s[i] != '-') {
            return why_is(why, whysz,
                          "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
        }
        letter = letter || (s[i] >= 'a' && s[i] <= 'z');
    }
    if (strstr(s, "--") != NULL) {
        return why_is(why, whysz, "must not contain consecutive hyphens");
    }
    if (!letter) {
        return why_is(why, whysz, "must contain at least one letter (a-z)");
    }
    if (s[0] == '-' || s[n - 1] == '-') {
        return why_is(why, whysz, "must not begin or end with a hyphen");
    }
    return 0;
}

int shim_mf_check_ip(const char *s, char *why, size_t whysz)
{
    unsigned char addr[16];

    if (s[0] == '\0') {
        return -2;
    }
    if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1) {
        return 0;
    }
    return why_is(why, whysz, "must be a valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff)");
}

int shim_mf_check_env_name(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    for (; *s != '\0'; s++) {
        if (*s == '=' || (unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return why_is(why, whysz,
                          "a valid environment variable name must consist only of printable "
                          "ASCII characters other than '='");
        }
    }
    return 0;
}

int shim_mf_check_config_key(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n == 0) {
        return -2;
    }
    if (n > 253) {
        return why_is(why, whysz, "must be no more than 253 characters");
    }
    for (size_t i = 0; i < n; i++) {
        if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') {
            return why_is(why, whysz,
                          "a valid config key must consist of alphanumeric characters, '-', '_' "
                          "or '.'");
        }
    }
    if (strcmp(s, ".") == 0) {
        return why_is(why, whysz, "must not be '.'");
    }
    if (strncmp(s, "..", 2) == 0) {
        return why_is(why, whysz, "must not start with '..'");
    }
    return 0;
}

/* The n bytes at s are a label value or the name part of a qualified name. */
static bool is_name_part(const char *s, size_t n)
{
    if (n == 0) {
        return true;
    }
    if (!alnum(s[0]) || !alnum(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') {
            return false;
        }
    }
    return true;
}

int shim_mf_check_qualified_name(const char *s, char *why, size_t whysz)
{
    const char *slash = strchr(s, '/');
    const char *name = slash != NULL ? slash + 1 : s;
    size_t n = strlen(name);

    if (s[0] == '\0') {
        return why_is(why, whysz, "name part must be non-empty");
    }
    if (slash != NULL) {
        char prefix[256];
        size_t plen = (size_t)(slash - s);
        if (plen == 0 || plen > 253) {
            return why_is(why, whysz, "prefix part must be a non-empty RFC 1123 subdomain of at "
                                      "most 253 characters");
        }
        memcpy(prefix, s, plen);
        prefix[plen] = '\0';
        if (shim_mf_check_subdomain(prefix, why, whysz) != 0) {
            return why_is(why, whysz, "prefix part " SUBDOMAIN_WHY);
        }
    }
    if (n == 0) {
        return why_is(why, whysz, "name part must be non-empty");
    }
    if (n > 63) {
        return why_is(why, whysz, "name part must be no more than 63 characters");
    }
    if (!is_name_part(name, n)) {
        return why_is(why, whysz, "name part must " NAME_PART_WHY);
    }
    return 0;
}

int shim_mf_check_label_value(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n > 63) {
        return why_is(why, whysz, "must be no more than 63 characters");
    }
    if (!is_name_part(s, n)) {
        return why_is(why, whysz, "a valid label must be an empty string or " NAME_PART_WHY);
    }
    return 0;
}

/* s has a path element "..". */
static bool has_dotdot(const char *s)
{
    for (const char *p = s; (p = strstr(p, "..")) != NULL; p += 2) {
        if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) {
            return true;
        }
    }
    return false;
}

int shim_mf_check_mount_path(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    if (s[0] != '/') {
        return why_is(why, whysz, "must be an absolute path");
    }
    if (strchr(s, ':') != NULL) {
        return why_is(why, whysz, "must not contain ':'");
    }
    return 0;
}

int shim_mf_check_relative_path(const char *s, char *why, size_t whysz)
{
    if (s[0] == '/') {
        return why_is(why, whysz, "must be a relative path");
    }
    if (has_dotdot(s)) {
        return why_is(why, whysz, "must not contain '..'");
    }
    return 0;
}

int shim_mf_check_item_path(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    if (shim_mf_check_relative_path(s, why, whysz) < 0) {
        return -1;
    }
    if (strncmp(s, "..", 2) == 0) {
        return why_is(why, whysz, "must not start with '..'");
    }
    return 0;
}

int shim_mf_check_host_path(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    if (s[0] != '/') {
        return why_is(why, whysz, "must be an absolute path");
    }
    if (has_dotdot(s)) {
        return why_is(why, whysz, "must not contain '..'");
    }
    return 0;
}

int shim_mf_check_uid(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n == 0) {
        return -2;
    }
    for (size_t i = 0; i < n; i++) {
        if (!alnum(s[i]) && s[i] != '-') {
            n = 0;
        }
    }
    if (n == 0 || n > 128) {
        return why_is(why, whysz,
                      "must be at most 128 alphanumeric characters and '-' (such as a UUID)");
    }
    return 0;
}

int shim_mf_check_image(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n == 0) {
        return -2;
    }
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])) {
        return why_is(why, whysz, "must not have leading or trailing whitespace");
    }
    return 0;
}

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

int shim_mf_quantity(const char *s, uint64_t *out, char *why, size_t whysz)
{
    /* A Kubernetes quantity: [+-]DIGITS[.DIGITS] with a binary (Ki..Ei), decimal (n u m k
     * M G T P E) or exponent (e3) suffix, exactly, in whole bytes. Computed as
     * digits * mult / 10^scale in 128 bits. */
    static const struct {
        const char *suffix;
        int pow10;
        int pow2;
    } units[] = {{"", 0, 0},    {"n", -9, 0},   {"u", -6, 0},   {"m", -3, 0},   {"k", 3, 0},
                 {"M", 6, 0},   {"G", 9, 0},    {"T", 12, 0},   {"P", 15, 0},   {"E", 18, 0},
                 {"Ki", 0, 10}, {"Mi", 0, 20},  {"Gi", 0, 30},  {"Ti", 0, 40},  {"Pi", 0, 50},
                 {"Ei", 0, 60}};
    unsigned __int128 n = 0, div = 1;
    const char *p = s;
    int digits = 0, frac = 0, pow10 = 0, pow2 = 0;
    bool found = false, any = false;

    if (*p == '+' || *p == '-') {
        if (*p == '-') {
            return why_is(why, whysz, "must be greater than or equal to 0");
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
            return why_is(why, whysz, "too many digits");
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
    pow10 -= frac;
    for (; pow10 > 0; pow10--) {
        if (n > ((unsigned __int128)1 << 124)) {
            goto large;
        }
        n *= 10;
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
    if (n % div != 0) {
        return why_is(why, whysz, "must be a whole number of bytes");
    }
    n /= div;
    if (n > UINT64_MAX) {
        goto large;
    }
    *out = (uint64_t)n;
    return 0;
large:
    return why_is(why, whysz, "too large");
bad:
    return why_is(why, whysz,
                  "quantities must match the regular expression "
                  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. 64Mi, 1G, 500M)");
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

size_t shim_mf_distance(const char *a, const char *b, size_t limit)
{
    /* Edit distance, case-insensitive, counting a swap of neighbours as one edit. */
    size_t la = strlen(a), lb = strlen(b);
    size_t rows[3][65];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) >= limit) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            char ca = (char)tolower((unsigned char)a[i - 1]);
            char cb = (char)tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < best) {
                best = prev[j] + 1;
            }
            if (cur[j - 1] + 1 < best) {
                best = cur[j - 1] + 1;
            }
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best) {
                best = prev2[j - 2] + 1;
            }
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
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

#define EMIT(p, n)                                                                               \
    do {                                                                                         \
        if (out != NULL) {                                                                       \
            memcpy(out + o, (p), (n));                                                           \
        }                                                                                        \
        o += (n);                                                                                \
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
        } else if (*s == '(' && strchr(s, ')') != NULL) {
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
