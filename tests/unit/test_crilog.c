/* test_crilog.c — CRI log records byte for byte, rotation, the parser table, cat and follow. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim_crilog.h"

#define T0 1795290510 /* 2026-11-21T19:48:30Z */
#define TS0 "2026-11-21T19:48:30.123456789Z"
#define TS1 "2026-11-21T19:48:31.000000000Z"
#define TS2 "2026-11-21T19:48:32.000000000Z"

static const struct timespec t0 = {T0, 123456789};
static const struct timespec t1 = {T0 + 1, 0};
static const struct timespec t2 = {T0 + 2, 0};

static char tmpdir[64];
static int serial;

/* ---- helpers ------------------------------------------------------------------------ */

struct str {
    char *p;
    size_t len, cap;
};

static void str_add(struct str *s, const char *p, size_t n)
{
    if (s->cap - s->len < n + 1) {
        s->cap = (s->len + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void str_addf(struct str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void str_addf(struct str *s, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(buf));
    str_add(s, buf, (size_t)n);
}

/* One expected record. */
static void rec(struct str *s, const char *ts, const char *stream, char tag, const char *text,
                size_t len)
{
    str_addf(s, "%s %s %c ", ts, stream, tag);
    str_add(s, text, len);
    str_add(s, "\n", 1);
}

/* n copies of ch, in a buffer the caller frees. */
static char *filled(char ch, size_t n)
{
    char *p = malloc(n + 1);

    assert_non_null(p);
    memset(p, ch, n);
    p[n] = '\0';
    return p;
}

/* A fresh log path: <tmpdir>/<n>/default_web_1234/app/0.log. */
static void fresh_path(char *buf, size_t sz)
{
    snprintf(buf, sz, "%s/%d/default_web_1234/app/0.log", tmpdir, ++serial);
}

static char *slurp(const char *path, size_t *len)
{
    struct str s = {0};
    char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        fail_msg("open %s: %s", path, strerror(errno));
    }
    str_add(&s, "", 0);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        str_add(&s, buf, (size_t)n);
    }
    close(fd);
    *len = s.len;
    return s.p;
}

static void assert_file(const char *path, const struct str *want)
{
    size_t len;
    char *got = slurp(path, &len);

    if (len != want->len || memcmp(got, want->p, len) != 0) {
        fail_msg("%s: got %zu bytes, want %zu:\n%.2000s\n--- want:\n%.2000s", path, len, want->len,
                 got, want->p);
    }
    free(got);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* cat into a temporary file; returns what it printed. */
static char *cat_to_string(const char *path, const struct shim_cat_opts *o,
                           struct shim_cat_stats *st, int want_rc)
{
    char out[256], err[256] = "";
    size_t len;
    int fd, rc;

    snprintf(out, sizeof(out), "%s/cat.out", tmpdir);
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    rc = shim_crilog_cat(path, fd, o, st, err, sizeof(err));
    close(fd);
    if (rc != want_rc) {
        fail_msg("cat %s: rc %d (%s), want %d", path, rc, err, want_rc);
    }
    return slurp(out, &len);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_crilog.XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- formatting --------------------------------------------------------------------- */

static void test_format_time(void **state)
{
    static const struct {
        struct timespec ts;
        const char *want;
    } table[] = {
        {{0, 0}, "1970-01-01T00:00:00.000000000Z"},
        {{T0, 123456789}, TS0},
        {{T0, 5}, "2026-11-21T19:48:30.000000005Z"},
        {{-1, 999999999}, "1969-12-31T23:59:59.999999999Z"},
        {{951782400, 0}, "2000-02-29T00:00:00.000000000Z"},
        {{T0, -1}, "2026-11-21T19:48:30.000000000Z"},
        {{T0, 1000000000}, "2026-11-21T19:48:30.999999999Z"},
        {{-62167219201LL, 5}, "0000-01-01T00:00:00.000000000Z"},
        {{253402300800LL, 0}, "9999-12-31T23:59:59.999999999Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        char out[SHIM_CRI_TS_LEN + 1];
        assert_int_equal(shim_cri_format_time(out, &table[i].ts), SHIM_CRI_TS_LEN);
        assert_string_equal(out, table[i].want);
    }
}

static void test_format_record(void **state)
{
    char out[64];
    const char *want = TS0 " stderr P hi\n";
    (void)state;

    assert_int_equal(shim_cri_format(out, sizeof(out), &t0, SHIM_STDERR, true, "hi", 2),
                     strlen(want));
    assert_memory_equal(out, want, strlen(want));
    assert_int_equal(shim_cri_format(out, sizeof(out), &t0, SHIM_STDOUT, false, "", 0), 41);
    assert_memory_equal(out, TS0 " stdout F \n", 41);
    assert_int_equal(shim_cri_format(out, 42, &t0, SHIM_STDOUT, false, "ab", 2), 0);
    assert_int_equal(shim_cri_format(out, 43, &t0, SHIM_STDOUT, false, "ab", 2), 43);
}

static void sink(void *arg, enum shim_stream s, bool partial, const char *text, size_t len)
{
    struct str *out = arg;
    char rec[SHIM_CRI_RECORD_MAX];
    size_t n = shim_cri_format(rec, sizeof(rec), &t0, s, partial, text, len);

    assert_true(n > 0);
    str_add(out, rec, n);
}

/* The framer with a tiny part size: the split points are easy to see. */
static void test_framer_small_parts(void **state)
{
    struct shim_cri_framer *f = malloc(sizeof(*f));
    struct str got = {0}, want = {0};
    (void)state;

    assert_non_null(f);
    shim_cri_framer_init(f, 4);
    str_add(&got, "", 0);
    str_add(&want, "", 0);
    shim_cri_framer_feed(f, SHIM_STDOUT, "abcdefghij\nabcd", 15, sink, &got);
    rec(&want, TS0, "stdout", 'P', "abcd", 4);
    rec(&want, TS0, "stdout", 'P', "efgh", 4);
    rec(&want, TS0, "stdout", 'F', "ij", 2);
    assert_string_equal(got.p, want.p);
    shim_cri_framer_feed(f, SHIM_STDERR, "xy", 2, sink, &got);
    shim_cri_framer_feed(f, SHIM_STDOUT, "\n", 1, sink, &got); /* exactly 4: one F */
    rec(&want, TS0, "stdout", 'F', "abcd", 4);
    shim_cri_framer_feed(f, SHIM_STDERR, "zw", 2, sink, &got);
    shim_cri_framer_feed(f, SHIM_STDERR, "v", 1, sink, &got);
    rec(&want, TS0, "stderr", 'P', "xyzw", 4);
    shim_cri_framer_eof(f, SHIM_STDERR, sink, &got);
    rec(&want, TS0, "stderr", 'F', "v", 1);
    shim_cri_framer_feed(f, SHIM_STDOUT, "a", 1, sink, &got);
    shim_cri_framer_feed(f, SHIM_STDOUT, "bcdefgh", 7, sink, &got);
    rec(&want, TS0, "stdout", 'P', "abcd", 4);
    shim_cri_framer_feed(f, SHIM_STDOUT, "i\n", 2, sink, &got);
    rec(&want, TS0, "stdout", 'P', "efgh", 4);
    rec(&want, TS0, "stdout", 'F', "i", 1);
    assert_string_equal(got.p, want.p);
    free(got.p);
    free(want.p);
    free(f);
}

static void test_write_lines(void **state)
{
    char path[256], err[256];
    struct shim_crilog *l;
    struct shim_crilog_stats st;
    struct str want = {0};
    const char in[] = "hello\n\nworld\r\n";
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, NULL, err, sizeof(err));
    assert_non_null(l);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, in, sizeof(in) - 1, &t0, err, sizeof(err)),
                     0);
    rec(&want, TS0, "stdout", 'F', "hello", 5);
    rec(&want, TS0, "stdout", 'F', "", 0);
    rec(&want, TS0, "stdout", 'F', "world\r", 6);
    assert_file(path, &want);
    shim_crilog_stats(l, &st);
    assert_int_equal(st.bytes, want.len);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.lines, 3);
    assert_int_equal(st.backlog, 0);
    assert_int_equal(st.dropped, 0);
    shim_crilog_destroy(l);

    struct stat sb;
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640 & ~mask);
    free(want.p);
}

static void test_write_partial_interleaved(void **state)
{
    char path[256], err[256];
    struct shim_crilog *l;
    struct shim_crilog_stats st;
    struct str want = {0};
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, NULL, err, sizeof(err));
    assert_non_null(l);
    str_add(&want, "", 0);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "par", 3, &t0, err, sizeof(err)), 0);
    assert_file(path, &want); /* nothing yet: the line is not finished */
    assert_int_equal(shim_crilog_feed(l, SHIM_STDERR, "err1\nerr", 8, &t1, err, sizeof(err)), 0);
    rec(&want, TS1, "stderr", 'F', "err1", 4);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "tial\nnext", 9, &t2, err, sizeof(err)), 0);
    rec(&want, TS2, "stdout", 'F', "partial", 7);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDERR, "2\r\n", 3, &t2, err, sizeof(err)), 0);
    rec(&want, TS2, "stderr", 'F', "err2\r", 5);
    assert_file(path, &want);
    assert_int_equal(shim_crilog_eof(l, SHIM_STDOUT, &t0, err, sizeof(err)), 0);
    rec(&want, TS0, "stdout", 'F', "next", 4);
    assert_int_equal(shim_crilog_eof(l, SHIM_STDERR, &t0, err, sizeof(err)), 0);
    assert_int_equal(shim_crilog_eof(l, SHIM_STDOUT, &t0, err, sizeof(err)), 0);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "", 0, &t0, err, sizeof(err)), 0);
    assert_file(path, &want);
    assert_int_equal(shim_crilog_feed(l, (enum shim_stream)2, "x\n", 2, &t0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown stream 2"));
    shim_crilog_stats(l, &st);
    assert_int_equal(st.lines, 4);
    shim_crilog_destroy(l);
    free(want.p);
}

static void test_write_long_lines(void **state)
{
    char path[256], err[256];
    struct shim_crilog *l;
    struct shim_crilog_stats st;
    struct str want = {0};
    char *a = filled('a', 40001), *b = filled('b', 16385);
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, NULL, err, sizeof(err));
    assert_non_null(l);

    /* 16384 bytes: one F record. */
    a[16384] = '\n';
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, a, 16385, &t0, err, sizeof(err)), 0);
    rec(&want, TS0, "stdout", 'F', a, 16384);
    /* 16385 bytes: P then F. */
    a[16384] = 'a';
    a[16385] = '\n';
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, a, 16386, &t0, err, sizeof(err)), 0);
    rec(&want, TS0, "stdout", 'P', a, 16384);
    rec(&want, TS0, "stdout", 'F', "a", 1);
    /* 40000 bytes: P P F. */
    a[16385] = 'a';
    a[40000] = '\n';
    assert_int_equal(shim_crilog_feed(l, SHIM_STDERR, a, 40001, &t0, err, sizeof(err)), 0);
    rec(&want, TS0, "stderr", 'P', a, 16384);
    rec(&want, TS0, "stderr", 'P', a, 16384);
    rec(&want, TS0, "stderr", 'F', a, 40000 - 2 * 16384);
    assert_file(path, &want);

    /* 16384 bytes fed in pieces, then the newline: one F, written when it is known. */
    for (size_t off = 0; off < 16384; off += 1000) {
        size_t n = 16384 - off < 1000 ? 16384 - off : 1000;
        assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, b, n, &t0, err, sizeof(err)), 0);
    }
    assert_file(path, &want);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "\n", 1, &t1, err, sizeof(err)), 0);
    rec(&want, TS1, "stdout", 'F', b, 16384);
    /* A full pending line and one more byte: the P part carries the time it is written. */
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, b, 16384, &t0, err, sizeof(err)), 0);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "c", 1, &t1, err, sizeof(err)), 0);
    rec(&want, TS1, "stdout", 'P', b, 16384);
    assert_file(path, &want);
    /* EOF flushes the rest as F. */
    assert_int_equal(shim_crilog_eof(l, SHIM_STDOUT, &t2, err, sizeof(err)), 0);
    rec(&want, TS2, "stdout", 'F', "c", 1);
    assert_file(path, &want);

    shim_crilog_stats(l, &st);
    assert_int_equal(st.records, 9);
    assert_int_equal(st.lines, 5);
    assert_int_equal(st.bytes, want.len);
    shim_crilog_destroy(l);
    free(want.p);
    free(a);
    free(b);
}

static void test_create_errors(void **state)
{
    char path[256], err[256], file[300];
    struct shim_crilog_config cfg = {.max_files = 1};
    struct shim_crilog *l;
    struct str want = {0};
    (void)state;

    fresh_path(path, sizeof(path));
    assert_null(shim_crilog_create(path, &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "max_files must be at least 2, not 1"));
    assert_null(shim_crilog_create("", NULL, err, sizeof(err)));
    assert_string_equal(err, "'' is not a file path");

    snprintf(file, sizeof(file), "%s/plain", tmpdir);
    write_file(file, "x");
    snprintf(path, sizeof(path), "%s/plain/c/0.log", tmpdir);
    assert_null(shim_crilog_create(path, NULL, err, sizeof(err)));
    if (strstr(err, "plain/c: Not a directory") == NULL) {
        fail_msg("err '%s'", err);
    }

    /* A file whose last line was cut short is closed before we append. */
    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, NULL, err, sizeof(err));
    assert_non_null(l);
    shim_crilog_destroy(l);
    write_file(path, TS0 " stdout F cut sh");
    l = shim_crilog_create(path, NULL, err, sizeof(err));
    assert_non_null(l);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "next\n", 5, &t0, err, sizeof(err)), 0);
    shim_crilog_destroy(l);
    str_addf(&want, "%s", TS0 " stdout F cut sh\n");
    rec(&want, TS0, "stdout", 'F', "next", 4);
    assert_file(path, &want);
    free(want.p);
}

/* ---- rotation ----------------------------------------------------------------------- */

/* Writes lines from..to-1 ("line NNNN", 50-byte records), each at when + i * 100 ms. */
static void write_numbered(struct shim_crilog *l, int from, int to, time_t when, bool step)
{
    char err[256];

    for (int i = from; i < to; i++) {
        char text[32];
        struct timespec ts = {when + (step ? i / 10 : 0), step ? (i % 10) * 100000000L : 0};
        int n = snprintf(text, sizeof(text), "line %04d\n", i);
        if (shim_crilog_feed(l, SHIM_STDOUT, text, (size_t)n, &ts, err, sizeof(err)) != 0) {
            fail_msg("feed line %d: %s", i, err);
        }
    }
}

static void expect_lines(struct str *s, int from, int to)
{
    for (int i = from; i < to; i++) {
        str_addf(s, "line %04d\n", i);
    }
}

/* Checks the files of path: names (suffixes after path), each whole records of one line
 * range, none larger than max. */
static void assert_files(const char *path, const char *const *suffixes, const int *first, size_t n,
                         uint64_t max)
{
    struct shim_crilog_file *files;
    size_t nf;
    char err[256];

    assert_int_equal(shim_crilog_files(path, true, &files, &nf, err, sizeof(err)), 0);
    if (nf != n) {
        fail_msg("%zu files, want %zu", nf, n);
    }
    for (size_t i = 0; i < n; i++) {
        char name[300];
        size_t len;
        char *text;
        struct str want = {0};

        snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
        assert_string_equal(files[i].name, name);
        text = slurp(name, &len);
        assert_true(len <= max);
        for (int k = 0; k < (int)(len / 50); k++) {
            struct pk_cri_line r;
            char line[16];
            assert_int_equal(pk_cri_parse_line(text + k * 50, 49, &r), 0);
            snprintf(line, sizeof(line), "line %04d", first[i] + k);
            assert_int_equal(r.text_len, 9);
            assert_memory_equal(r.text, line, 9);
            str_add(&want, text + k * 50, 50);
        }
        assert_int_equal(len, want.len); /* only whole records */
        free(text);
        free(want.p);
    }
    shim_crilog_files_free(files, nf);
}

static void test_rotation(void **state)
{
    char path[256], err[256];
    struct shim_crilog_config cfg = {.max_bytes = 1024, .max_files = 3};
    struct shim_crilog *l;
    struct shim_crilog_stats st;
    struct str want = {0};
    char *got;
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, &cfg, err, sizeof(err));
    assert_non_null(l);

    /* 20 records of 50 bytes fill 1000 of 1024 bytes: the 21st starts a new file. Line i
     * is written at T0 + i/10 s, so rotation k (at line 20k) is at 19:48:30 + 2k s. */
    write_numbered(l, 0, 200, T0, true);
    static const char *const names1[] = {".20261121-194846", ".20261121-194848", ""};
    static const int first1[] = {140, 160, 180};
    assert_files(path, names1, first1, 3, 1024);

    /* Two rotations in the same second: .1 tells them apart. */
    write_numbered(l, 200, 240, T0 + 100, false);
    static const char *const names2[] = {".20261121-195010", ".20261121-195010.1", ""};
    static const int first2[] = {180, 200, 220};
    assert_files(path, names2, first2, 3, 1024);

    /* The clock stepped back: names still sort in rotation order. */
    write_numbered(l, 240, 260, T0, false);
    static const char *const names3[] = {".20261121-195010.1", ".20261121-195010.2", ""};
    static const int first3[] = {200, 220, 240};
    assert_files(path, names3, first3, 3, 1024);

    shim_crilog_stats(l, &st);
    assert_int_equal(st.rotations, 12);
    assert_int_equal(st.records, 260);
    assert_int_equal(st.bytes, 260 * 50);

    /* cat prints what is left, oldest first. */
    expect_lines(&want, 200, 260);
    got = cat_to_string(path, NULL, NULL, 0);
    assert_string_equal(got, want.p);
    free(got);
    free(want.p);
    shim_crilog_destroy(l);
}

/* A record larger than max_bytes gets a file of its own. */
static void test_rotation_big_record(void **state)
{
    char path[256], err[256];
    struct shim_crilog_config cfg = {.max_bytes = 100, .max_files = 10};
    struct shim_crilog *l;
    struct shim_crilog_file *files;
    size_t n;
    char *big = filled('x', 300);
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, &cfg, err, sizeof(err));
    assert_non_null(l);
    big[299] = '\n';
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "a\n", 2, &t0, err, sizeof(err)), 0);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, big, 300, &t0, err, sizeof(err)), 0);
    assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, "b\n", 2, &t0, err, sizeof(err)), 0);
    assert_int_equal(shim_crilog_files(path, true, &files, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    struct stat sb;
    assert_int_equal(stat(files[0].name, &sb), 0);
    assert_int_equal(sb.st_size, 42);
    assert_int_equal(stat(files[1].name, &sb), 0);
    assert_int_equal(sb.st_size, 340);
    assert_int_equal(stat(files[2].name, &sb), 0);
    assert_int_equal(sb.st_size, 42);
    shim_crilog_files_free(files, n);
    shim_crilog_destroy(l);
    free(big);
}

static void test_files_listing(void **state)
{
    static const char *const present[] = {
        ".20261121-194830",
        ".20261121-194830.2",
        ".20261121-194830.10",
        ".20261121-194829",
        ".20261121-194830.gz",
        ".2026112-194830",
        ".20261121-194830.0",
        ".20261121-194830.01",
        ".x",
        ".20261121-1948300",
        "",
    };
    static const char *const want[] = {".20261121-194829", ".20261121-194830", ".20261121-194830.2",
                                       ".20261121-194830.10", ""};
    char path[256], name[300], err[256];
    struct shim_crilog_file *files;
    size_t n;
    struct shim_crilog *l;
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, NULL, err, sizeof(err)); /* makes the directories */
    assert_non_null(l);
    shim_crilog_destroy(l);
    for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++) {
        snprintf(name, sizeof(name), "%s%s", path, present[i]);
        write_file(name, "");
    }
    assert_int_equal(shim_crilog_files(path, true, &files, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s%s", path, want[i]);
        assert_string_equal(files[i].name, name);
    }
    assert_int_equal(files[3].stamp, 20261121194830ULL);
    assert_int_equal(files[3].seq, 10);
    shim_crilog_files_free(files, n);
    assert_int_equal(shim_crilog_files(path, false, &files, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 4);
    shim_crilog_files_free(files, n);
    snprintf(name, sizeof(name), "%s/nowhere/0.log", tmpdir);
    assert_int_equal(shim_crilog_files(name, true, &files, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    shim_crilog_files_free(files, n);
}

/* ---- the parser (pk_cri_parse_line, lib/pk_cri.c) ---------------------------------- */

static const struct {
    const char *line;
    int64_t sec;
    long nsec;
    int stream; /* -1: refused, error holds the reason */
    bool partial;
    const char *text;
    const char *error;
    size_t len; /* 0: strlen(line) */
} parse_table[] = {
    {TS0 " stdout F hello", T0, 123456789, SHIM_STDOUT, false, "hello", NULL, 0},
    {TS0 " stderr P part", T0, 123456789, SHIM_STDERR, true, "part", NULL, 0},
    {TS0 " stdout F ", T0, 123456789, SHIM_STDOUT, false, "", NULL, 0},
    {TS0 " stdout F crlf\r", T0, 123456789, SHIM_STDOUT, false, "crlf\r", NULL, 0},
    {TS0 " stdout F  two  spaces ", T0, 123456789, 0, false, " two  spaces ", NULL, 0},
    {TS0 " stdout F a\rb\tc\r", T0, 123456789, 0, false, "a\rb\tc\r", NULL, 0},
    {"2026-11-21T19:48:30Z stdout F x", T0, 0, 0, false, "x", NULL, 0},
    {"2026-11-21T19:48:30.5Z stdout F x", T0, 500000000, 0, false, "x", NULL, 0},
    {"2026-11-21T19:48:30.000000001Z stdout F x", T0, 1, 0, false, "x", NULL, 0},
    {"2026-11-21T20:48:30+01:00 stdout F x", T0, 0, 0, false, "x", NULL, 0},
    {"2026-11-21T19:48:30+01:30 stdout F x", 1795285110, 0, 0, false, "x", NULL, 0},
    {"2026-11-21T19:48:30.25-04:11 stdout F x", 1795305570, 250000000, 0, false, "x", NULL, 0},
    {"1970-01-01T00:00:00Z stdout F x", 0, 0, 0, false, "x", NULL, 0},
    {"1969-12-31T23:59:59.999999999Z stdout F x", -1, 999999999, 0, false, "x", NULL, 0},
    {"2024-02-29T00:00:00Z stdout F x", 1709164800, 0, 0, false, "x", NULL, 0},
    {"2000-02-29T00:00:00Z stdout F x", 951782400, 0, 0, false, "x", NULL, 0},
    {"0000-01-01T00:00:00Z stdout F x", -62167219200LL, 0, 0, false, "x", NULL, 0},
    {"9999-12-31T23:59:59.999999999Z stdout F x", 253402300799LL, 999999999, 0, false, "x", NULL,
     0},
    {TS0 " stdout F:future x", T0, 123456789, 0, false, "x", NULL, 0},
    {TS0 " stderr P:a:b y z", T0, 123456789, SHIM_STDERR, true, "y z", NULL, 0},
    {TS0 " stdout F hello", T0, 123456789, 0, false, "hel", NULL, 43},
    {"", 0, 0, -1, false, NULL, "missing space after the timestamp", 0},
    {TS0, 0, 0, -1, false, NULL, "missing space after the timestamp", 0},
    {TS0 " stdout F x", 0, 0, -1, false, NULL, "missing space after the timestamp", 30},
    {TS0 " stdout", 0, 0, -1, false, NULL, "missing space after the stream", 0},
    {TS0 " stdout F", 0, 0, -1, false, NULL, "missing space after the tag", 0},
    {TS0 " stdout F x", 0, 0, -1, false, NULL, "missing space after the tag", 39},
    {TS0 " stdin F x", 0, 0, -1, false, NULL, "unknown stream", 0},
    {TS0 " STDOUT F x", 0, 0, -1, false, NULL, "unknown stream", 0},
    {TS0 "  stdout F x", 0, 0, -1, false, NULL, "unknown stream", 0},
    {TS0 " stdout X x", 0, 0, -1, false, NULL, "unknown tag", 0},
    {TS0 " stdout FP x", 0, 0, -1, false, NULL, "unknown tag", 0},
    {TS0 " stdout f x", 0, 0, -1, false, NULL, "unknown tag", 0},
    {TS0 " stdout  x", 0, 0, -1, false, NULL, "unknown tag", 0},
    {" stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-13-21T19:48:30Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-31T19:48:30Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2023-02-29T00:00:00Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"1900-02-29T00:00:00Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21 19:48:30Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21t19:48:30Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T24:00:00Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:60Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30.Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30.1234567890Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30 stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30ZZ stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30+0100 stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30+24:00 stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"+026-11-21T19:48:30Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-1-21T19:48:30Z stdout F x", 0, 0, -1, false, NULL, "bad timestamp", 0},
    {"2026-11-21T19:48:30.123456789+01:00:00 stdout F x", 0, 0, -1, false, NULL, "bad timestamp",
     0},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_table) / sizeof(parse_table[0]); i++) {
        size_t len = parse_table[i].len ? parse_table[i].len : strlen(parse_table[i].line);
        /* An exact-size copy, so that a read past len is caught by the sanitizers. */
        char *copy = malloc(len + 1);
        struct pk_cri_line r;
        int rc;

        assert_non_null(copy);
        memcpy(copy, parse_table[i].line, len);
        rc = pk_cri_parse_line(copy, len, &r);
        if (parse_table[i].stream < 0) {
            if (rc != -1 || r.error == NULL || strcmp(r.error, parse_table[i].error) != 0) {
                fail_msg("table[%zu] '%s': rc %d error '%s', want '%s'", i, parse_table[i].line, rc,
                         r.error ? r.error : "(null)", parse_table[i].error);
            }
        } else {
            if (rc != 0) {
                fail_msg("table[%zu] '%s': refused: %s", i, parse_table[i].line, r.error);
            }
            assert_int_equal(r.sec, parse_table[i].sec);
            assert_int_equal(r.nsec, parse_table[i].nsec);
            assert_int_equal(r.stream, parse_table[i].stream);
            assert_int_equal(r.partial, parse_table[i].partial);
            assert_int_equal(r.text_len, strlen(parse_table[i].text));
            assert_memory_equal(r.text, parse_table[i].text, r.text_len);
            assert_ptr_equal(r.ts, copy);
            assert_ptr_equal(r.text, copy + len - r.text_len);
            assert_null(r.error);
        }
        free(copy);
    }
}

/* Every record the writer makes parses back to what was written. */
static void test_parse_round_trip(void **state)
{
    char buf[SHIM_CRI_RECORD_MAX];
    struct pk_cri_line r;
    struct timespec ts = {-62167219200LL, 0};
    (void)state;

    for (int i = 0; i < 2000; i++) {
        size_t n = shim_cri_format(buf, sizeof(buf), &ts, (enum shim_stream)(i & 1), i & 2, "t", 1);
        assert_int_equal(pk_cri_parse_line(buf, n - 1, &r), 0);
        assert_int_equal(r.sec, ts.tv_sec);
        assert_int_equal(r.nsec, ts.tv_nsec);
        assert_int_equal(r.stream, i & 1);
        assert_int_equal(r.partial, (i & 2) != 0);
        ts.tv_sec += 157784759; /* five years less a second: every kind of year and month */
        ts.tv_nsec = (ts.tv_nsec + 123456791) % 1000000000;
    }
}

/* ---- cat ---------------------------------------------------------------------------- */

#define TSA "2026-11-21T19:48:30.1Z"
#define TSB "2026-11-21T19:48:31Z"
#define TSC "2026-11-21T19:48:32.000000001Z"
#define TSD "2026-11-21T20:48:33+01:00"

/* A rotated file and a current one, written by hand: lines in parts, both streams, junk. */
static void make_cat_files(char *path, size_t sz)
{
    char rotated[300], err[256];
    struct shim_crilog *l;

    fresh_path(path, sz);
    l = shim_crilog_create(path, NULL, err, sizeof(err)); /* the directories */
    assert_non_null(l);
    shim_crilog_destroy(l);
    snprintf(rotated, sizeof(rotated), "%s.20261121-194830", path);
    write_file(rotated, TSA " stdout F one\n" TSA " stderr P er\n"
                            "garbage line\n" TSB " stdout F two\n"
                            "2026-11-21T19:48:31Z stdout F torn");
    write_file(path, TSB " stderr P r-o\n" TSC " stderr F r!\n" TSC " stdout P thr\n" TSC
                         " stdout P e\n" TSD " stdout F e\n"
                         "2026-13-01T00:00:00Z stdout F bad month\n" TSD " stderr F last\n" TS0
                         " stdout P unfinished\n" TS0 " stderr F not yet writ");
}

static void test_cat(void **state)
{
    char path[256];
    struct shim_cat_opts o = {.tail = -1};
    struct shim_cat_stats st;
    char *got;
    (void)state;

    make_cat_files(path, sizeof(path));
    got = cat_to_string(path, NULL, &st, 0);
    assert_string_equal(got, "one\ntwo\nerr-or!\nthree\nlast\nunfinished\n");
    assert_int_equal(st.lines, 6);
    assert_int_equal(st.malformed, 3); /* garbage, the torn end of the rotated file, month 13 */
    assert_int_equal(st.files, 2);
    free(got);

    o.timestamps = true;
    got = cat_to_string(path, &o, NULL, 0);
    assert_string_equal(got, TSA " one\n" TSB " two\n" TSA " err-or!\n" TSC " three\n" TSD
                                 " last\n" TS0 " unfinished\n");
    free(got);

    o.timestamps = false;
    o.streams = SHIM_CAT_STDERR;
    got = cat_to_string(path, &o, NULL, 0);
    assert_string_equal(got, "err-or!\nlast\n");
    free(got);
    o.streams = SHIM_CAT_STDOUT;
    got = cat_to_string(path, &o, NULL, 0);
    assert_string_equal(got, "one\ntwo\nthree\nunfinished\n");
    free(got);

    o.tail = 3;
    got = cat_to_string(path, &o, &st, 0);
    assert_string_equal(got, "two\nthree\nunfinished\n");
    assert_int_equal(st.lines, 3);
    assert_int_equal(st.malformed, 3);
    free(got);
    o.streams = 0;
    o.tail = 2;
    got = cat_to_string(path, &o, NULL, 0);
    assert_string_equal(got, "last\nunfinished\n");
    free(got);
    o.tail = 0;
    got = cat_to_string(path, &o, NULL, 0);
    assert_string_equal(got, "");
    free(got);
    o.tail = 100;
    o.timestamps = true;
    got = cat_to_string(path, &o, NULL, 0);
    assert_string_equal(got, TSA " one\n" TSB " two\n" TSA " err-or!\n" TSC " three\n" TSD
                                 " last\n" TS0 " unfinished\n");
    free(got);
}

static void test_cat_errors(void **state)
{
    char path[256], err[256];
    int fds[2];
    struct shim_cat_opts o = {.tail = -1};
    (void)state;

    snprintf(path, sizeof(path), "%s/nowhere/0.log", tmpdir);
    assert_int_equal(shim_crilog_cat(path, 1, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file or directory"));

    /* The reader went away: a quiet end. */
    make_cat_files(path, sizeof(path));
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    o.follow = true; /* would never end without the EPIPE */
    assert_int_equal(shim_crilog_cat(path, fds[1], &o, NULL, err, sizeof(err)), 0);
    close(fds[1]);
    signal(SIGPIPE, SIG_DFL);

    assert_int_equal(shim_crilog_cat(path, -1, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "Bad file descriptor"));
}

/* ---- follow across rotations, with a writer in another process ---------------------- */

#define FOLLOW_LINES 600
#define FOLLOW_FIRST 10 /* written before cat starts */

static void follow_text(int i, char *buf, size_t sz, size_t *len)
{
    /* Every 50th line is long: P parts that cat joins again. */
    int n = snprintf(buf, sz, "line %04d%s", i, i % 50 == 25 ? " " : "");
    *len = (size_t)n;
    if (i % 50 == 25) {
        memset(buf + n, 'a' + i % 26, 20000);
        *len += 20000;
    }
}

static void follow_writer(const char *path, int go_fd)
{
    struct shim_crilog_config cfg = {.max_bytes = 4096, .max_files = 1000};
    struct shim_crilog *l;
    char err[256], go, *text = malloc(20100);
    size_t len;

    if (text == NULL || read(go_fd, &go, 1) != 1 ||
        (l = shim_crilog_create(path, &cfg, err, sizeof(err))) == NULL) {
        _exit(2);
    }
    for (int i = FOLLOW_FIRST; i < FOLLOW_LINES; i++) {
        follow_text(i, text, 20100, &len);
        text[len++] = '\n';
        /* In two pieces, on both streams alternately. */
        enum shim_stream s = (enum shim_stream)(i % 2);
        if (shim_crilog_feed(l, s, text, len / 2, NULL, err, sizeof(err)) < 0 ||
            shim_crilog_feed(l, s, text + len / 2, len - len / 2, NULL, err, sizeof(err)) < 0) {
            _exit(3);
        }
        if (i % 10 == 0) {
            usleep(3000); /* slow enough that cat reads while files rotate under it */
        }
    }
    shim_crilog_destroy(l);
    free(text);
    _exit(0);
}

struct follow_ctx {
    pid_t pid;
    int go_fd;
    int status;
    bool done;
    int calls;
};

/* The first call lets the writer start (cat has printed the tail by then); later calls
 * end the follow once the writer has exited. */
static bool follow_stop(void *arg)
{
    struct follow_ctx *f = arg;

    if (f->calls++ == 0) {
        assert_int_equal(write(f->go_fd, "g", 1), 1);
        return false;
    }
    if (!f->done && waitpid(f->pid, &f->status, WNOHANG) == f->pid) {
        f->done = true;
    }
    return f->done;
}

static void test_follow(void **state)
{
    char path[256], err[256], text[20100];
    int fds[2];
    struct shim_crilog_config cfg = {.max_bytes = 4096, .max_files = 1000};
    struct shim_crilog *l;
    struct follow_ctx f = {0};
    struct shim_cat_opts o = {.tail = 3, .follow = true, .stop = follow_stop, .arg = &f};
    struct shim_cat_stats st;
    struct str want = {0};
    struct shim_crilog_file *files;
    size_t len, n;
    char *got;
    (void)state;

    fresh_path(path, sizeof(path));
    l = shim_crilog_create(path, &cfg, err, sizeof(err));
    assert_non_null(l);
    for (int i = 0; i < FOLLOW_FIRST; i++) {
        follow_text(i, text, sizeof(text), &len);
        text[len++] = '\n';
        assert_int_equal(shim_crilog_feed(l, SHIM_STDOUT, text, len, NULL, err, sizeof(err)), 0);
    }
    shim_crilog_destroy(l);

    assert_int_equal(pipe(fds), 0);
    f.pid = fork();
    assert_true(f.pid >= 0);
    if (f.pid == 0) {
        close(fds[1]);
        follow_writer(path, fds[0]);
    }
    close(fds[0]);
    f.go_fd = fds[1];
    got = cat_to_string(path, &o, &st, 0);
    close(fds[1]);
    assert_true(f.done);
    assert_true(WIFEXITED(f.status));
    assert_int_equal(WEXITSTATUS(f.status), 0);

    for (int i = FOLLOW_FIRST - 3; i < FOLLOW_LINES; i++) {
        follow_text(i, text, sizeof(text), &len);
        str_add(&want, text, len);
        str_add(&want, "\n", 1);
    }
    assert_int_equal(strlen(got), want.len);
    assert_true(strcmp(got, want.p) == 0);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(st.lines, FOLLOW_LINES - FOLLOW_FIRST + 3);
    assert_int_equal(shim_crilog_files(path, true, &files, &n, err, sizeof(err)), 0);
    assert_true(n > 20);                  /* it really rotated, many times */
    assert_true(st.files >= (uint64_t)n); /* and cat read every file */
    shim_crilog_files_free(files, n);
    free(got);
    free(want.p);
}

/* ---- a full disk -------------------------------------------------------------------- */

/* Runs in a child with its own mount namespace: a 64 KiB tmpfs, filled up, then freed
 * page by page. Returns 0, 77 when namespaces or mounts are not allowed, or the failed step. */
static int full_disk(const char *dir)
{
    char path[300], filler[300], err[256], text[128];
    struct shim_crilog *l;
    struct shim_crilog_stats st;
    struct str want = {0};
    struct shim_crilog_config cfg = {.max_backlog = 32 * 1024};
    int fd;
    size_t len;
    char *got;

    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mkdir(dir, 0755) < 0 || mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0) {
        return 77;
    }
    snprintf(path, sizeof(path), "%s/ns_pod_uid/app/0.log", dir);
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    if ((l = shim_crilog_create(path, &cfg, err, sizeof(err))) == NULL) {
        return 10;
    }
    fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    memset(text, 'f', sizeof(text));
    while (write(fd, text, sizeof(text)) > 0) {
    }
    /* 100 records of 141 bytes: none fits. */
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "%04d %095d\n", i, 0);
        if (shim_crilog_feed(l, SHIM_STDOUT, text, 101, &t0, err, sizeof(err)) != -1 ||
            strstr(err, "No space left on device") == NULL) {
            return 11;
        }
        rec(&want, TS0, "stdout", 'F', text, 100);
    }
    shim_crilog_stats(l, &st);
    if (st.records != 0 || st.backlog != want.len || st.dropped != 0) {
        return 12;
    }
    /* One page free: a short write leaves a record torn, in the file and in our count. */
    struct stat sb;
    if (fstat(fd, &sb) < 0 || ftruncate(fd, sb.st_size - 4096) < 0) {
        return 13;
    }
    if (shim_crilog_flush(l, &t0, err, sizeof(err)) != -1) {
        return 14;
    }
    shim_crilog_stats(l, &st);
    if (st.bytes != 4096 || st.records != 4096 / 141 || st.backlog != want.len - 4096) {
        return 15;
    }
    /* A full backlog drops whole records (48 bytes each), and says so: 474 fit in the
     * 32768 - 10004 bytes left. */
    for (int i = 0; i < 600; i++) {
        shim_crilog_feed(l, SHIM_STDERR, "dropped\n", 8, &t0, err, sizeof(err));
    }
    shim_crilog_stats(l, &st);
    if (st.dropped != 126 || st.dropped_bytes != 126 * 48 || st.backlog != 10004 + 474 * 48 ||
        strstr(err, "No space left on device; the backlog of 32768 bytes was full: dropped 1 "
                    "records") == NULL) {
        return 16;
    }
    for (int i = 0; i < 474; i++) {
        rec(&want, TS0, "stderr", 'F', "dropped", 7);
    }
    /* Room again: everything kept is written, in order, with the torn record completed. */
    close(fd);
    unlink(filler);
    if (shim_crilog_feed(l, SHIM_STDOUT, "after\n", 6, &t0, err, sizeof(err)) != 0) {
        fprintf(stderr, "# %s\n", err);
        return 17;
    }
    rec(&want, TS0, "stdout", 'F', "after", 5);
    got = slurp(path, &len);
    if (len != want.len || memcmp(got, want.p, len) != 0) {
        return 18;
    }
    shim_crilog_stats(l, &st);
    if (st.backlog != 0 || st.bytes != want.len) {
        return 19;
    }
    shim_crilog_destroy(l);
    free(got);
    free(want.p);
    umount(dir);
    return 0;
}

static void test_full_disk(void **state)
{
    char dir[128];
    pid_t pid;
    int status;
    (void)state;

    if (geteuid() != 0) {
        skip();
    }
    snprintf(dir, sizeof(dir), "%s/tiny", tmpdir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(full_disk(dir));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_format_record),
        cmocka_unit_test(test_framer_small_parts),
        cmocka_unit_test(test_write_lines),
        cmocka_unit_test(test_write_partial_interleaved),
        cmocka_unit_test(test_write_long_lines),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_rotation_big_record),
        cmocka_unit_test(test_files_listing),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_cat),
        cmocka_unit_test(test_cat_errors),
        cmocka_unit_test(test_follow),
        cmocka_unit_test(test_full_disk),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
