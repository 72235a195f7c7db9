/* shim_crilog.c — CRI log records: formatting and rotated file names (parsing: lib/pk_cri.c). */
#include "shim_crilog.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEC_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define SEC_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

static const char *const stream_name[] = {"stdout", "stderr"};

/* Writes v as exactly width decimal digits (v < 10^width). */
static void put_digits(char *p, unsigned long v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10) {
        p[i] = (char)('0' + v % 10);
    }
}

size_t shim_cri_format_time(char out[SHIM_CRI_TS_LEN + 1], const struct timespec *ts)
{
    time_t sec = ts->tv_sec;
    long nsec = ts->tv_nsec;
    struct tm tm;

    if (ts->tv_sec < SEC_MIN) {
        sec = (time_t)SEC_MIN, nsec = 0;
    } else if (ts->tv_sec > SEC_MAX) {
        sec = (time_t)SEC_MAX, nsec = 999999999;
    }
    nsec = nsec < 0 ? 0 : nsec > 999999999 ? 999999999 : nsec;
    gmtime_r(&sec, &tm);
    memcpy(out, "0000-00-00T00:00:00.000000000Z", SHIM_CRI_TS_LEN + 1);
    put_digits(out, (unsigned long)(tm.tm_year + 1900), 4);
    put_digits(out + 5, (unsigned long)tm.tm_mon + 1, 2);
    put_digits(out + 8, (unsigned long)tm.tm_mday, 2);
    put_digits(out + 11, (unsigned long)tm.tm_hour, 2);
    put_digits(out + 14, (unsigned long)tm.tm_min, 2);
    put_digits(out + 17, (unsigned long)tm.tm_sec, 2);
    put_digits(out + 20, (unsigned long)nsec, 9);
    return SHIM_CRI_TS_LEN;
}

size_t shim_cri_format(char *out, size_t outsz, const struct timespec *ts, enum shim_stream s,
                       bool partial, const char *text, size_t len)
{
    char head[SHIM_CRI_TS_LEN + 1];
    size_t total = SHIM_CRI_HEAD_LEN + len + 1;

    if (outsz < total || len > outsz) {
        return 0;
    }
    shim_cri_format_time(head, ts);
    memcpy(out, head, SHIM_CRI_TS_LEN);
    out[SHIM_CRI_TS_LEN] = ' ';
    memcpy(out + SHIM_CRI_TS_LEN + 1, stream_name[s == SHIM_STDERR], 6);
    out[SHIM_CRI_TS_LEN + 7] = ' ';
    out[SHIM_CRI_TS_LEN + 8] = partial ? 'P' : 'F';
    out[SHIM_CRI_TS_LEN + 9] = ' ';
    if (len > 0) {
        memcpy(out + SHIM_CRI_HEAD_LEN, text, len);
    }
    out[total - 1] = '\n';
    return total;
}

/* ---- rotated files ------------------------------------------------------------------ */

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

/* Matches "YYYYMMDD-HHMMSS" or "YYYYMMDD-HHMMSS.N" (N >= 1, no leading zero). */
static int parse_suffix(const char *s, uint64_t *stamp, unsigned *seq)
{
    long date = digits(s, 8), tod = -1;
    size_t n = strlen(s);

    if (n < 15 || date < 0 || s[8] != '-' || (tod = digits(s + 9, 6)) < 0) {
        return -1;
    }
    *stamp = (uint64_t)date * 1000000 + (uint64_t)tod;
    *seq = 0;
    if (n == 15) {
        return 0;
    }
    if (s[15] != '.' || n < 17 || n > 25 || s[16] == '0') {
        return -1;
    }
    long v = digits(s + 16, n - 16);
    if (v < 0) {
        return -1;
    }
    *seq = (unsigned)v;
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    const struct shim_crilog_file *x = a, *y = b;

    if (x->stamp != y->stamp) {
        return x->stamp < y->stamp ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void shim_crilog_files_free(struct shim_crilog_file *files, size_t n)
{
    for (size_t i = 0; i < n && files != NULL; i++) {
        free(files[i].name);
    }
    free(files);
}

/* Appends name with its identity; a file that vanished in the meantime is left out. */
static int add_file(struct shim_crilog_file **files, size_t *n, size_t *cap, char *name,
                    uint64_t stamp, unsigned seq)
{
    struct stat st;

    if (stat(name, &st) < 0 || !S_ISREG(st.st_mode)) {
        free(name);
        return 0;
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct shim_crilog_file *v = realloc(*files, ncap * sizeof(*v));
        if (v == NULL) {
            free(name);
            return -1;
        }
        *files = v;
        *cap = ncap;
    }
    (*files)[(*n)++] = (struct shim_crilog_file){name, stamp, seq, st.st_dev, st.st_ino};
    return 0;
}

int shim_crilog_files(const char *path, bool with_current, struct shim_crilog_file **files,
                      size_t *n, char *err, size_t errsz)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t dirlen = (size_t)(base - path), baselen = strlen(base);
    char *dir = slash == path   ? strdup("/")
                : slash != NULL ? strndup(path, dirlen - 1)
                                : strdup(".");
    struct shim_crilog_file *v = NULL;
    size_t nv = 0, cap = 0;
    DIR *d = NULL;
    struct dirent *e;
    int rc = -1;

    *files = NULL;
    *n = 0;
    if (dir == NULL) {
        snprintf(err, errsz, "listing the files of %s: out of memory", path);
        return -1;
    }
    if ((d = opendir(dir)) == NULL && errno != ENOENT) {
        snprintf(err, errsz, "listing %s: %s", dir, strerror(errno));
        goto out;
    }
    while (d != NULL && (errno = 0, e = readdir(d)) != NULL) {
        uint64_t stamp;
        unsigned seq;
        char *name;

        if (strncmp(e->d_name, base, baselen) != 0 || e->d_name[baselen] != '.' ||
            parse_suffix(e->d_name + baselen + 1, &stamp, &seq) < 0) {
            continue;
        }
        if (asprintf(&name, "%.*s%s", (int)dirlen, path, e->d_name) < 0 ||
            add_file(&v, &nv, &cap, name, stamp, seq) < 0) {
            snprintf(err, errsz, "listing %s: out of memory", dir);
            goto out;
        }
    }
    if (d != NULL && errno != 0) {
        snprintf(err, errsz, "listing %s: %s", dir, strerror(errno));
        goto out;
    }
    if (nv > 1) {
        qsort(v, nv, sizeof(*v), file_cmp);
    }
    if (with_current) {
        char *name = strdup(path);
        if (name == NULL || add_file(&v, &nv, &cap, name, 0, 0) < 0) {
            snprintf(err, errsz, "listing %s: out of memory", dir);
            goto out;
        }
    }
    *files = v;
    *n = nv;
    v = NULL;
    rc = 0;
out:
    if (d != NULL) {
        closedir(d);
    }
    shim_crilog_files_free(v, nv);
    free(dir);
    return rc;
}
