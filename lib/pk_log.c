/* pk_log.c — the process logger: formats one event into one buffer and writes it once. */
#include "pk_log.h"

#include "pk_fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum pk_log_level pk_log_max_level = PK_LOG_INFO;

static struct {
    const char *prog;
    enum pk_log_format format;
    int fd;
} logger = {"podkit", PK_LOG_TEXT, 2};

static const char *const level_upper[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const level_lower[] = {"error", "warn", "info", "debug"};

void pk_log_init(const char *prog)
{
    const char *slash = strrchr(prog, '/');

    logger.prog = slash != NULL ? slash + 1 : prog;
}

void pk_log_set_level(enum pk_log_level level)
{
    pk_log_max_level = level;
}

void pk_log_set_format(enum pk_log_format format)
{
    logger.format = format;
}

void pk_log_set_fd(int fd)
{
    logger.fd = fd;
}

int pk_log_level_parse(const char *name, enum pk_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_lower) / sizeof(level_lower[0]); i++) {
        if (strcmp(name, level_lower[i]) == 0) {
            *out = (enum pk_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = PK_LOG_WARN;
        return 0;
    }
    return -1;
}

const char *pk_log_level_name(enum pk_log_level level)
{
    return level_lower[level];
}

/* A bounded output buffer: an append that does not fit is dropped whole (never half an
 * escape or half a UTF-8 sequence) and 'full' remembers the cut. */
struct line {
    char buf[PK_LOG_LINE_MAX + 8];
    size_t len;
    size_t cap; /* room for text, leaving space for the "...\n" or "...\"}\n" tail */
    int full;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->full || l->len + n > l->cap) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;
    unsigned min;
    unsigned cp;

    if (p[0] < 0x80) {
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        n = 2, cp = p[0] & 0x1fu, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3, cp = p[0] & 0x0fu, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4, cp = p[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) { /* also stops at the terminating NUL */
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

/* Copies msg, escaping what would break a line (text) or a JSON string (json); in JSON,
 * bytes that are not UTF-8 become U+FFFD so that every line stays parseable. */
static void put_escaped(struct line *l, const char *msg, int json)
{
    static const char hex[] = "0123456789abcdef";

    for (const unsigned char *p = (const unsigned char *)msg; *p != '\0' && !l->full; p++) {
        char esc[7];
        size_t n = 0;

        if (*p == '\n') {
            n = 2, esc[0] = '\\', esc[1] = 'n';
        } else if (*p == '\r') {
            n = 2, esc[0] = '\\', esc[1] = 'r';
        } else if (*p == '\t') {
            n = 2, esc[0] = '\\', esc[1] = 't';
        } else if (json && (*p == '"' || *p == '\\')) {
            n = 2, esc[0] = '\\', esc[1] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            /* \u00XX is valid JSON and unambiguous in text too. */
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        }
        if (n > 0) {
            put(l, esc, n);
        } else if (*p < 0x80 || !json) {
            put(l, (const char *)p, 1);
        } else if ((n = utf8_len(p)) > 0) {
            put(l, (const char *)p, n);
            p += n - 1;
        } else {
            put(l, "\\ufffd", 6);
        }
    }
}

void pk_log_emit(enum pk_log_level level, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[PK_LOG_LINE_MAX];
    char head[96];
    struct line l;
    va_list ap;
    int json = logger.format == PK_LOG_JSON;

    if ((unsigned)level > PK_LOG_DEBUG) {
        level = PK_LOG_DEBUG;
    }
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(msg, sizeof(msg), "(unformattable log message \"%s\")", fmt);
    }

    l.len = 0;
    l.full = 0;
    l.cap = PK_LOG_LINE_MAX - 8;
    if (json) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(head, sizeof(head),
                 "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"prog\":\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_lower[level]);
        puts_(&l, head);
        put_escaped(&l, logger.prog, 1);
        snprintf(head, sizeof(head), "\",\"pid\":%ld,\"msg\":\"", (long)getpid());
        puts_(&l, head);
    } else {
        put_escaped(&l, logger.prog, 0);
        snprintf(head, sizeof(head), "[%ld] %s ", (long)getpid(), level_upper[level]);
        puts_(&l, head);
    }
    put_escaped(&l, msg, json);
    if (l.full || n >= (int)sizeof(msg)) {
        memcpy(l.buf + l.len, "...", 3);
        l.len += 3;
    }
    if (json) {
        memcpy(l.buf + l.len, "\"}", 2);
        l.len += 2;
    }
    l.buf[l.len++] = '\n';

    /* One write; a short write to a pipe or tty is finished, not dropped. */
    (void)pk_write_all(logger.fd, l.buf, l.len);
    errno = saved_errno;
}
