/* pk_cri.c — the CRI log line parser: RFC 3339 times, streams, tags. */
#include "pk_cri.h"

#include <string.h>

#define DAYS_0000_TO_1970 719528

/* The n decimal digits at p as a number, or -1 if any is not a digit. */
static long digits(const char *p, size_t n)
{
    long v = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static bool leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 0000-01-01 to the first day of month m (1-12) of year y (0-9999). */
static int64_t days_to_month(long y, long m)
{
    static const int before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    /* Leap years among 0..y-1: multiples of 4, less those of 100, plus those of 400. */
    int64_t d = 365 * (int64_t)y + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;

    return d + before[m - 1] + (m > 2 && leap(y));
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|+HH:MM|-HH:MM), exactly n bytes. */
static int parse_time(const char *p, size_t n, int64_t *sec, long *nsec)
{
    static const char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long y, mo, d, h, mi, s, frac = 0, off = 0;
    size_t i = 19;

    if (n < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':') {
        return -1;
    }
    y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
    h = digits(p + 11, 2), mi = digits(p + 14, 2), s = digits(p + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap(y)) || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 ||
        s > 59) {
        return -1;
    }
    if (p[i] == '.') {
        size_t start = ++i;
        while (i < n && i - start < 10 && p[i] >= '0' && p[i] <= '9') {
            frac = frac * 10 + (p[i++] - '0');
        }
        if (i == start || i - start > 9) {
            return -1;
        }
        for (size_t k = i - start; k < 9; k++) {
            frac *= 10;
        }
    }
    if (i + 1 == n && p[i] == 'Z') {
        off = 0;
    } else if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        long oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return -1;
        }
        off = (oh * 60 + om) * 60 * (p[i] == '-' ? -1 : 1);
    } else {
        return -1;
    }
    *sec =
        (days_to_month(y, mo) + d - 1 - DAYS_0000_TO_1970) * 86400 + h * 3600 + mi * 60 + s - off;
    *nsec = frac;
    return 0;
}

static int refuse(struct pk_cri_line *out, const char *why)
{
    memset(out, 0, sizeof(*out));
    out->error = why;
    return -1;
}

int pk_cri_parse_line(const char *line, size_t len, struct pk_cri_line *out)
{
    const char *end = line + len;
    const char *sp = memchr(line, ' ', len);
    const char *field;
    struct pk_cri_line l = {0};

    if (sp == NULL) {
        return refuse(out, "missing space after the timestamp");
    }
    if ((size_t)(sp - line) > PK_CRI_TS_MAX ||
        parse_time(line, (size_t)(sp - line), &l.sec, &l.nsec) < 0) {
        return refuse(out, "bad timestamp");
    }
    l.ts = line;
    l.ts_len = (size_t)(sp - line);

    field = sp + 1;
    sp = memchr(field, ' ', (size_t)(end - field));
    if (sp == NULL) {
        return refuse(out, "missing space after the stream");
    }
    if (sp - field == 6 && memcmp(field, "stdout", 6) == 0) {
        l.stream = PK_CRI_STDOUT;
    } else if (sp - field == 6 && memcmp(field, "stderr", 6) == 0) {
        l.stream = PK_CRI_STDERR;
    } else {
        return refuse(out, "unknown stream");
    }

    field = sp + 1;
    sp = memchr(field, ' ', (size_t)(end - field));
    if (sp == NULL) {
        return refuse(out, "missing space after the tag");
    }
    if (sp == field || (field[0] != 'F' && field[0] != 'P') ||
        (sp - field > 1 && field[1] != ':')) {
        return refuse(out, "unknown tag");
    }
    l.partial = field[0] == 'P';
    l.text = sp + 1;
    l.text_len = (size_t)(end - l.text);
    *out = l;
    return 0;
}
