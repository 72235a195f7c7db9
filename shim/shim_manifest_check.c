/* shim_manifest_check.c — the API server's checks of a manifest's strings: DNS-1123 names,
 * IANA service names, label keys and values, config keys, env names, paths and IPs. */
#include "shim_manifest_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Checks return 0 when s is fine, -1 with why filled when it is not, and -2 when s is empty
 * and may not be (the caller reports "required value"). */

#define LABEL_WHY                                                                                  \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "       \
    "and must start and end with an alphanumeric character"
#define SUBDOMAIN_WHY                                                                              \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "      \
    "or '.', and must start and end with an alphanumeric character"
#define NAME_PART_WHY                                                                              \
    "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "         \
    "alphanumeric character"

int shim_mf_why(char *why, size_t whysz, const char *text)
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
        return shim_mf_why(why, whysz, "must be no more than 63 characters");
    }
    return is_label(s, n) ? 0 : shim_mf_why(why, whysz, LABEL_WHY);
}

int shim_mf_check_subdomain(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n == 0) {
        return -2;
    }
    if (n > 253) {
        return shim_mf_why(why, whysz, "must be no more than 253 characters");
    }
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!is_label(p, len)) {
            return shim_mf_why(why, whysz, SUBDOMAIN_WHY);
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
        return shim_mf_why(why, whysz, "must be no more than 15 characters");
    }
    for (size_t i = 0; i < n; i++) {
        if (!lower_alnum(s[i]) && s[i] != '-') {
            return shim_mf_why(
                why, whysz,
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
        }
        letter = letter || (s[i] >= 'a' && s[i] <= 'z');
    }
    if (strstr(s, "--") != NULL) {
        return shim_mf_why(why, whysz, "must not contain consecutive hyphens");
    }
    if (!letter) {
        return shim_mf_why(why, whysz, "must contain at least one letter (a-z)");
    }
    if (s[0] == '-' || s[n - 1] == '-') {
        return shim_mf_why(why, whysz, "must not begin or end with a hyphen");
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
    return shim_mf_why(why, whysz, "must be a valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff)");
}

int shim_mf_check_env_name(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    for (; *s != '\0'; s++) {
        if (*s == '=' || (unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return shim_mf_why(why, whysz,
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
        return shim_mf_why(why, whysz, "must be no more than 253 characters");
    }
    for (size_t i = 0; i < n; i++) {
        if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') {
            return shim_mf_why(
                why, whysz,
                "a valid config key must consist of alphanumeric characters, '-', '_' "
                "or '.'");
        }
    }
    if (strcmp(s, ".") == 0) {
        return shim_mf_why(why, whysz, "must not be '.'");
    }
    if (strncmp(s, "..", 2) == 0) {
        return shim_mf_why(why, whysz, "must not start with '..'");
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
        return shim_mf_why(why, whysz, "name part must be non-empty");
    }
    if (slash != NULL) {
        char prefix[256];
        size_t plen = (size_t)(slash - s);
        if (plen == 0 || plen > 253) {
            return shim_mf_why(why, whysz,
                               "prefix part must be a non-empty RFC 1123 subdomain of at "
                               "most 253 characters");
        }
        memcpy(prefix, s, plen);
        prefix[plen] = '\0';
        if (shim_mf_check_subdomain(prefix, why, whysz) != 0) {
            return shim_mf_why(why, whysz, "prefix part " SUBDOMAIN_WHY);
        }
    }
    if (n == 0) {
        return shim_mf_why(why, whysz, "name part must be non-empty");
    }
    if (n > 63) {
        return shim_mf_why(why, whysz, "name part must be no more than 63 characters");
    }
    if (!is_name_part(name, n)) {
        return shim_mf_why(why, whysz, "name part must " NAME_PART_WHY);
    }
    return 0;
}

int shim_mf_check_label_value(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s);

    if (n > 63) {
        return shim_mf_why(why, whysz, "must be no more than 63 characters");
    }
    if (!is_name_part(s, n)) {
        return shim_mf_why(why, whysz, "a valid label must be an empty string or " NAME_PART_WHY);
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
        return shim_mf_why(why, whysz, "must be an absolute path");
    }
    if (strchr(s, ':') != NULL) {
        return shim_mf_why(why, whysz, "must not contain ':'");
    }
    return 0;
}

int shim_mf_check_relative_path(const char *s, char *why, size_t whysz)
{
    if (s[0] == '/') {
        return shim_mf_why(why, whysz, "must be a relative path");
    }
    if (has_dotdot(s)) {
        return shim_mf_why(why, whysz, "must not contain '..'");
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
        return shim_mf_why(why, whysz, "must not start with '..'");
    }
    return 0;
}

int shim_mf_check_host_path(const char *s, char *why, size_t whysz)
{
    if (s[0] == '\0') {
        return -2;
    }
    if (s[0] != '/') {
        return shim_mf_why(why, whysz, "must be an absolute path");
    }
    if (has_dotdot(s)) {
        return shim_mf_why(why, whysz, "must not contain '..'");
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
        return shim_mf_why(why, whysz,
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
        return shim_mf_why(why, whysz, "must not have leading or trailing whitespace");
    }
    return 0;
}
