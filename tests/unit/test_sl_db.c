/* test_sl_db.c — identities (FNV-1a, fingerprints) and the positions file: the parser table,
 * hostile paths saved and loaded, atomic saves, inode reuse, fingerprints that grow. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sl_db.h"
#include "sl_ident.h"

#define BASIS "cbf29ce484222325"

static char tmpdir[64];

/* ---- helpers ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sl_db_XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *buf, size_t sz, const char *name)
{
    int n = snprintf(buf, sz, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < sz);
}

/* Creates (truncates) path with len bytes of text; returns an fd open for reading and
 * writing. */
static int make_file(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    return fd;
}

/* How many entries of dir start with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    }
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *p;

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    p = malloc((size_t)st.st_size + 1);
    assert_non_null(p);
    assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
    close(fd);
    p[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return p;
}

static void assert_same_entries(const struct sl_db *a, const struct sl_db *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct sl_db_entry *x = &a->v[i], *y = &b->v[i];
        assert_true(x->id.dev == y->id.dev && x->id.ino == y->id.ino);
        assert_int_equal(x->id.fp_len, y->id.fp_len);
        assert_true(x->id.fp_hash == y->id.fp_hash);
        assert_true(x->offset == y->offset);
        assert_string_equal(x->path, y->path);
    }
}

/* ---- identities --------------------------------------------------------------------- */

static void test_fnv1a(void **state)
{
    (void)state;
    /* The published FNV-1a 64 test vectors. */
    assert_true(sl_fnv1a(SL_FNV_BASIS, "", 0) == 0xcbf29ce484222325ull);
    assert_true(sl_fnv1a(SL_FNV_BASIS, "a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(sl_fnv1a(SL_FNV_BASIS, "foobar", 6) == 0x85944171f73967e8ull);
    /* Continuing from a hash is hashing the whole. */
    assert_true(sl_fnv1a(sl_fnv1a(SL_FNV_BASIS, "foo", 3), "bar", 3) ==
                sl_fnv1a(SL_FNV_BASIS, "foobar", 6));
}

static void test_ident(void **state)
{
    char path[128], other[128], big[1000];
    struct sl_ident id, id2;
    struct stat st;
    int fd, fd2;
    (void)state;

    path_in(path, sizeof(path), "ident");
    fd = make_file(path, "", 0);
    assert_int_equal(sl_ident_of_fd(fd, &id), 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(id.dev == (uint64_t)st.st_dev && id.ino == (uint64_t)st.st_ino);
    assert_int_equal(id.fp_len, 0);
    assert_true(id.fp_hash == SL_FNV_BASIS);
    assert_int_equal(sl_ident_same(fd, &id), 1); /* no bytes: any content matches */

    assert_int_equal(write(fd, "hello", 5), 5);
    assert_int_equal(sl_ident_same(fd, &id), 1);
    assert_int_equal(sl_ident_of_fd(fd, &id), 0);
    assert_int_equal(id.fp_len, 5);
    assert_true(id.fp_hash == sl_fnv1a(SL_FNV_BASIS, "hello", 5));

    memset(big, 'x', sizeof(big));
    assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
    assert_int_equal(sl_ident_same(fd, &id), 1); /* grown: its head is the same */
    assert_int_equal(sl_ident_of_fd(fd, &id2), 0);
    assert_int_equal(id2.fp_len, SL_FP_MAX);
    assert_true(id2.fp_hash == sl_fnv1a(sl_fnv1a(SL_FNV_BASIS, "hello", 5), big, SL_FP_MAX - 5));

    assert_int_equal(pwrite(fd, "J", 1, 0), 1); /* rewritten in place */
    assert_int_equal(sl_ident_same(fd, &id), 0);
    assert_int_equal(pwrite(fd, "h", 1, 0), 1);
    assert_int_equal(sl_ident_same(fd, &id2), 1);
    assert_int_equal(ftruncate(fd, 100), 0); /* shorter than the fingerprint */
    assert_int_equal(sl_ident_same(fd, &id2), 0);
    assert_int_equal(sl_ident_same(fd, &id), 1);

    path_in(other, sizeof(other), "ident2"); /* the same bytes, another inode */
    fd2 = make_file(other, "hello", 5);
    assert_int_equal(sl_ident_same(fd2, &id), 0);
    close(fd2);

    id2.fp_len = SL_FP_MAX + 1;
    errno = 0;
    assert_int_equal(sl_ident_same(fd, &id2), -1);
    assert_int_equal(errno, EINVAL);
    close(fd);

    assert_int_equal(sl_ident_of_fd(-1, &id), -1);
    assert_int_equal(errno, EBADF);
}

/* ---- the parser table ------------------------------------------------------------------ */

#define H "# sidecar-log positions v1\n"

struct want_entry {
    uint64_t dev, ino;
    uint32_t fp_len;
    uint64_t fp_hash, offset;
    const char *path;
};

/* Texts that parse, and what into (in (dev, ino) order). */
static const struct {
    const char *text;
    size_t n;
    struct want_entry want[3];
} good[] = {
    {H, 0, {{0}}},
    {H "1 2 3 00000000000000ab 10 /var/log/a.log\n", 1, {{1, 2, 3, 0xab, 10, "/var/log/a.log"}}},
    {H "1 2 3 AB 10 /a\n", 1, {{1, 2, 3, 0xab, 10, "/a"}}},
    {H "007 2 3 ab 0010 /a\n", 1, {{7, 2, 3, 0xab, 10, "/a"}}},
    {H "18446744073709551615 18446744073709551615 256 ffffffffffffffff 18446744073709551615 /a\n",
     1,
     {{UINT64_MAX, UINT64_MAX, 256, UINT64_MAX, UINT64_MAX, "/a"}}},
    {H "1 2 0 " BASIS " 0 \n", 1, {{1, 2, 0, SL_FNV_BASIS, 0, ""}}},
    {H "1 2 3 ab 10 /a\\x20b\\\\c\\x0ad\\x0Ae\\x7f\n",
     1,
     {{1, 2, 3, 0xab, 10, "/a b\\c\nd\ne\x7f"}}},
    {H "1 2 3 ab 10 /\xc3\xa9t\xc3\xa9.log\n", 1, {{1, 2, 3, 0xab, 10, "/\xc3\xa9t\xc3\xa9.log"}}},
    {H "1 2 3 ab 10 #not-a-comment\n", 1, {{1, 2, 3, 0xab, 10, "#not-a-comment"}}},
    {H "5 1 1 1 1 /c\n1 9 1 2 2 /b\n1 3 1 3 3 /a\n",
     3,
     {{1, 3, 1, 3, 3, "/a"}, {1, 9, 1, 2, 2, "/b"}, {5, 1, 1, 1, 1, "/c"}}},
    {H "1 2 3 ab 10 /a\n2 1 3 ab 10 /a\n1 3 3 ab 10 /a\n", /* one path, three files */
     3,
     {{1, 2, 3, 0xab, 10, "/a"}, {1, 3, 3, 0xab, 10, "/a"}, {2, 1, 3, 0xab, 10, "/a"}}},
};

#define UNKNOWN_VERSION "t:1: unknown version of the positions format (this build reads v1)"
#define NOT_POSITIONS "t:1: not a positions file: no \"# sidecar-log positions v1\" line"
#define TOO_MANY "t:2: too many fields (6 wanted; spaces in a path are written \\x20)"
#define BAD_HASH "t:2: bad fingerprint hash (1 to 16 hex digits)"
#define BAD_ESCAPE "t:2: bad escape in the path (\\\\ or \\xHH)"

/* Texts that do not, and the exact error. */
static const struct {
    const char *text, *err;
} bad[] = {
    /* the header */
    {"", "t:1: empty: no \"# sidecar-log positions v1\" line"},
    {"hello\n", NOT_POSITIONS},
    {"\n" H, NOT_POSITIONS},
    {"# sidecar-log positions v2\n", UNKNOWN_VERSION},
    {"# sidecar-log positions v1 \n", UNKNOWN_VERSION},
    {"# sidecar-log positions v1\r\n", UNKNOWN_VERSION},
    {"# sidecar-log positions v1", "t:1: no newline at the end: truncated?"},

    /* lines and fields */
    {H "1 2 3 ab 10 /a", "t:2: no newline at the end: truncated?"},
    {H "1 2 3 ab 10 /a\n1 2", "t:3: no newline at the end: truncated?"},
    {H "\n", "t:2: too few fields (6 wanted)"},
    {H "# a comment\n", "t:2: too few fields (6 wanted)"},
    {H "1 2 3 ab 10\n", "t:2: too few fields (6 wanted)"},
    {H "1 2 3 ab 10 /a b\n", TOO_MANY},
    {H "1 2 3 ab 10 /a \n", TOO_MANY},
    {H "1 2 3 ab 10 /a\n" H, "t:3: too few fields (6 wanted)"},

    /* numbers */
    {H "x 2 3 ab 10 /a\n", "t:2: bad device"},
    {H "-1 2 3 ab 10 /a\n", "t:2: bad device"},
    {H "+1 2 3 ab 10 /a\n", "t:2: bad device"},
    {H "1  3 ab 10 /a\n", "t:2: bad inode"},
    {H "1 0x2 3 ab 10 /a\n", "t:2: bad inode"},
    {H "18446744073709551616 2 3 ab 10 /a\n", "t:2: device out of range"},
    {H "1 99999999999999999999 3 ab 10 /a\n", "t:2: inode out of range"},
    {H "1 2 257 ab 10 /a\n", "t:2: fingerprint length above 256"},
    {H "1 2 4294967296 ab 10 /a\n", "t:2: fingerprint length above 256"},
    {H "1 2 3a ab 10 /a\n", "t:2: bad fingerprint length"},
    {H "1 2 3 xyz 10 /a\n", BAD_HASH},
    {H "1 2 3 00000000000000abc 10 /a\n", BAD_HASH},
    {H "1 2 0 ab 0 /a\n", "t:2: fingerprint hash of no bytes must be " BASIS},
    {H "1 2 3 ab 18446744073709551616 /a\n", "t:2: offset out of range"},
    {H "1 2 3 ab 1e3 /a\n", "t:2: bad offset"},

    /* paths */
    {H "1 2 3 ab 10 /a\\q\n", BAD_ESCAPE},
    {H "1 2 3 ab 10 /a\\\n", BAD_ESCAPE},
    {H "1 2 3 ab 10 /a\\x2\n", BAD_ESCAPE},
    {H "1 2 3 ab 10 /a\\xg0\n", BAD_ESCAPE},
    {H "1 2 3 ab 10 /a\\x00\n", "t:2: NUL byte in the path"},
    {H "1 2 3 ab 10 /a\tb\n", "t:2: control byte 0x09 in the path not escaped"},
    {H "1 2 3 ab 10 /a\r\n", "t:2: control byte 0x0d in the path not escaped"},
    {H "1 2 3 ab 10 /a\x7f\n", "t:2: control byte 0x7f in the path not escaped"},

    /* duplicates: the error is on the first line that repeats an entry */
    {H "1 2 3 ab 10 /a\n1 2 4 cd 20 /b\n",
     "t:3: duplicate entry for device 1 inode 2 (first on line 2)"},
    {H "1 2 3 ab 10 /a\n5 5 1 1 1 /x\n1 2 3 ab 10 /a\n5 5 1 1 1 /x\n",
     "t:4: duplicate entry for device 1 inode 2 (first on line 2)"},
    {H "9 9 1 1 1 /x\n5 5 1 1 1 /y\n5 5 1 1 1 /z\n9 9 1 1 1 /w\n",
     "t:4: duplicate entry for device 5 inode 5 (first on line 3)"},
    /* a syntax error comes first, wherever the duplicate is */
    {H "1 2 3 ab 10 /a\n1 2 3 ab 10 /a\nbad\n", "t:4: too few fields (6 wanted)"},
};

static void test_parse_table(void **state)
{
    char err[256];
    struct sl_db db;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(sl_db_open(&db, NULL, err, sizeof(err)), 0);
        if (sl_db_parse(&db, "t", good[i].text, strlen(good[i].text), err, sizeof(err)) != 0) {
            fail_msg("good case %zu: %s", i, err);
        }
        assert_int_equal(db.n, good[i].n);
        assert_false(db.dirty);
        for (size_t k = 0; k < db.n; k++) {
            const struct want_entry *w = &good[i].want[k];
            const struct sl_db_entry *e = &db.v[k];
            if (e->id.dev != w->dev || e->id.ino != w->ino || e->id.fp_len != w->fp_len ||
                e->id.fp_hash != w->fp_hash || e->offset != w->offset ||
                strcmp(e->path, w->path) != 0 || e->seen) {
                fail_msg("good case %zu entry %zu: %llu %llu %u %llx %llu \"%s\"", i, k,
                         (unsigned long long)e->id.dev, (unsigned long long)e->id.ino, e->id.fp_len,
                         (unsigned long long)e->id.fp_hash, (unsigned long long)e->offset, e->path);
            }
        }
        sl_db_close(&db);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc;
        assert_int_equal(sl_db_open(&db, NULL, err, sizeof(err)), 0);
        err[0] = '\0';
        rc = sl_db_parse(&db, "t", bad[i].text, strlen(bad[i].text), err, sizeof(err));
        if (rc != -1 || strcmp(err, bad[i].err) != 0) {
            fail_msg("bad case %zu: rc %d, err \"%s\"; want \"%s\"", i, rc, err, bad[i].err);
        }
        assert_int_equal(db.n, 0);
        sl_db_close(&db);
    }
}

/* Bytes the table cannot hold: a NUL in the text, a path at the length limit. */
static void test_parse_limits(void **state)
{
    static const char nul[] = H "1 2 3 ab 10 /a\0b\n";
    char err[256], *text;
    struct sl_db db;
    size_t hl = strlen(H), pre = strlen("1 2 3 ab 10 "), len;
    (void)state;

    assert_int_equal(sl_db_open(&db, NULL, err, sizeof(err)), 0);
    assert_int_equal(sl_db_parse(&db, "t", nul, sizeof(nul) - 1, err, sizeof(err)), -1);
    assert_string_equal(err, "t:2: control byte 0x00 in the path not escaped");

    len = hl + pre + 4096 + 1;
    text = malloc(len);
    assert_non_null(text);
    memcpy(text, H, hl);
    memcpy(text + hl, "1 2 3 ab 10 ", pre);
    memset(text + hl + pre, 'p', 4095);
    text[len - 2] = '\n';
    assert_int_equal(sl_db_parse(&db, "t", text, len - 1, err, sizeof(err)), 0);
    assert_int_equal(db.n, 1);
    assert_int_equal(strlen(db.v[0].path), 4095);
    text[len - 2] = 'p';
    text[len - 1] = '\n';
    assert_int_equal(sl_db_parse(&db, "t", text, len, err, sizeof(err)), -1);
    assert_string_equal(err, "t:2: path longer than 4095 bytes");
    assert_int_equal(db.n, 1); /* a failed parse leaves db as it was */
    assert_int_equal(strlen(db.v[0].path), 4095);

    /* A parse that works replaces what db held. */
    assert_int_equal(sl_db_parse(&db, "t", H "7 7 1 1 1 /b\n", strlen(H) + 13, err, sizeof(err)),
                     0);
    assert_int_equal(db.n, 1);
    assert_string_equal(db.v[0].path, "/b");
    free(text);
    sl_db_close(&db);
}

/* ---- files ------------------------------------------------------------------------------ */

static void test_roundtrip_hostile_paths(void **state)
{
    static const char *const paths[] = {
        "/var/log/plain.log",
        "a b",
        " leading",
        "trailing ",
        "new\nline",
        "\n",
        "back\\slash",
        "\\x20 written as is",
        "\\\\",
        "tab\there",
        "cr\r",
        "del\x7f",
        "\xc3\xa9t\xc3\xa9",
        "#hash",
        "",
        "\x01\x02\x1f",
    };
    char file[128], err[256], all[256], *text;
    struct sl_db db, back;
    size_t n = sizeof(paths) / sizeof(paths[0]), len, lines = 0;
    (void)state;

    path_in(file, sizeof(file), "pos-roundtrip");
    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), 0);
    assert_int_equal(db.n, 0);
    for (size_t i = 0; i < n; i++) {
        struct sl_ident id = {.dev = 3,
                              .ino = 1000 - i,
                              .fp_len = (uint32_t)i,
                              .fp_hash = i == 0 ? SL_FNV_BASIS : 0x1234567890abcdefull + i};
        assert_non_null(sl_db_set(&db, &id, paths[i], i * 1000));
    }
    for (int i = 1; i < 256; i++) { /* every byte but NUL */
        all[i - 1] = (char)i;
    }
    all[255] = '\0';
    struct sl_ident big = {
        .dev = UINT64_MAX, .ino = UINT64_MAX, .fp_len = SL_FP_MAX, .fp_hash = UINT64_MAX};
    assert_non_null(sl_db_set(&db, &big, all, UINT64_MAX));
    assert_true(db.dirty);
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    assert_false(db.dirty);

    text = slurp(file, &len);
    for (size_t i = 0; i < len; i++) {
        lines += text[i] == '\n';
    }
    assert_int_equal(lines, n + 2); /* the header, one line per entry: no newline leaked */
    assert_int_equal(strncmp(text, H, strlen(H)), 0);
    free(text);

    assert_int_equal(sl_db_open(&back, file, err, sizeof(err)), 0);
    assert_same_entries(&db, &back);
    assert_false(back.dirty);
    for (size_t i = 0; i < back.n; i++) {
        assert_false(back.v[i].seen);
    }
    sl_db_close(&back);
    sl_db_close(&db);
}

static void test_set_forget(void **state)
{
    char file[128], err[256];
    struct sl_ident a = {.dev = 1, .ino = 2, .fp_len = 4, .fp_hash = 9};
    struct sl_ident a2 = a;
    struct sl_db db;
    struct sl_db_entry *e;
    struct stat st;
    (void)state;

    path_in(file, sizeof(file), "pos-set");
    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), 0);
    assert_false(db.dirty);
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0); /* clean: nothing written */
    assert_int_equal(stat(file, &st), -1);

    e = sl_db_set(&db, &a, "/a", 10);
    assert_non_null(e);
    assert_true(e->seen);
    assert_true(db.dirty);
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    assert_false(db.dirty);
    assert_non_null(sl_db_set(&db, &a, "/a", 10)); /* the same: still clean */
    assert_false(db.dirty);
    e = sl_db_set(&db, &a, NULL, 11); /* NULL: the path stays */
    assert_true(db.dirty);
    assert_string_equal(e->path, "/a");
    assert_true(e->offset == 11);
    a2.fp_len = 8;
    a2.fp_hash = 10;
    e = sl_db_set(&db, &a2, "/renamed", 12);
    assert_int_equal(db.n, 1);
    assert_int_equal(e->id.fp_len, 8);
    assert_string_equal(e->path, "/renamed");

    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    sl_db_forget(&db, 1, 3); /* no such entry */
    assert_false(db.dirty);
    sl_db_forget(&db, 1, 2);
    assert_true(db.dirty);
    assert_int_equal(db.n, 0);
    e = sl_db_set(&db, &a, NULL, 0); /* a new entry without a path has "" */
    assert_non_null(e);
    assert_string_equal(e->path, "");
    sl_db_close(&db);

    /* A database without a file is never saved, and never dirty after a save. */
    assert_int_equal(sl_db_open(&db, NULL, err, sizeof(err)), 0);
    assert_non_null(sl_db_set(&db, &a, "/a", 1));
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    assert_false(db.dirty);
    sl_db_close(&db);
    sl_db_close(&db); /* closing twice is fine, as is closing what failed to open */
}

static void test_open_errors(void **state)
{
    char file[128], err[256], want[256];
    struct sl_db db;
    int fd;
    (void)state;

    path_in(file, sizeof(file), "pos-missing");
    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), 0); /* the first run */
    assert_int_equal(db.n, 0);
    sl_db_close(&db);

    path_in(file, sizeof(file), "pos-bad");
    fd = make_file(file, H "1 2 3 ab 10 /a\n1 2 3 zz 10 /b\n", strlen(H) + 30);
    close(fd);
    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3: bad fingerprint hash (1 to 16 hex digits)", file);
    assert_string_equal(err, want);
    assert_null(db.v);
    assert_null(db.file);
    sl_db_close(&db);

    assert_int_equal(sl_db_open(&db, tmpdir, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
    assert_string_equal(err, want);
    sl_db_close(&db);
}

static void test_atomic_save(void **state)
{
    char dir[96], file[128], err[256], stale[192], sub[192], old[192];
    struct sl_ident a = {.dev = 1, .ino = 2, .fp_len = 4, .fp_hash = 9};
    struct sl_db db, back;
    int fd;
    (void)state;

    path_in(dir, sizeof(dir), "atomic");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, sizeof(file), "%s/pos", dir);

    /* A temporary file a crash left behind goes at the next open. */
    snprintf(stale, sizeof(stale), "%s.tmp-AbC123", file);
    close(make_file(stale, "x", 1));
    snprintf(sub, sizeof(sub), "%s.tmp-keep", file); /* not one of ours */
    close(make_file(sub, "x", 1));
    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), 0);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(sub, F_OK), 0);
    assert_int_equal(unlink(sub), 0);

    assert_non_null(sl_db_set(&db, &a, "/a", 10));
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    assert_int_equal(count_prefixed(dir, "pos"), 1); /* the file, no temporary left */

    /* The rename fails (a non-empty directory is in the way): the old file stays, no
     * temporary is left, and the database stays dirty for the next try. */
    snprintf(old, sizeof(old), "%s/old", dir);
    assert_int_equal(rename(file, old), 0);
    assert_int_equal(mkdir(file, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/x", file);
    close(make_file(sub, "x", 1));
    assert_non_null(sl_db_set(&db, &a, "/a", 20));
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ": rename: "));
    assert_int_equal(strncmp(err, file, strlen(file)), 0);
    assert_null(strchr(err, '\n'));
    assert_true(db.dirty);
    assert_int_equal(count_prefixed(dir, "pos.tmp-"), 0);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(rmdir(file), 0);
    assert_int_equal(rename(old, file), 0);

    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0); /* the next try works */
    assert_false(db.dirty);
    assert_int_equal(count_prefixed(dir, "pos"), 1);
    assert_int_equal(sl_db_open(&back, file, err, sizeof(err)), 0);
    assert_int_equal(back.n, 1);
    assert_true(back.v[0].offset == 20);
    sl_db_close(&back);

    /* The directory is gone: no temporary file can be made. */
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_non_null(sl_db_set(&db, &a, "/a", 30));
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot create its temporary file: No such file or directory"));
    assert_true(db.dirty);
    sl_db_close(&db);

    /* A file in the working directory: its directory is ".". */
    fd = open(".", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(chdir(tmpdir), 0);
    assert_int_equal(sl_db_open(&db, "pos-here", err, sizeof(err)), 0);
    assert_non_null(sl_db_set(&db, &a, "/a", 1));
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    assert_int_equal(access("pos-here", F_OK), 0);
    assert_int_equal(fchdir(fd), 0);
    close(fd);
    sl_db_close(&db);
}

/* ---- lookups ---------------------------------------------------------------------------- */

/* An entry whose dev and ino are those of a file that is not the one it describes is
 * removed at the lookup, whether the inode was reused or the file rewritten. */
static void test_lookup_inode_reuse(void **state)
{
    char path[128], other[128], err[256];
    struct sl_ident id, id2;
    struct sl_db db;
    struct sl_db_entry *e;
    int fd, fd2 = -1;
    bool reused = false;
    (void)state;

    assert_int_equal(sl_db_open(&db, NULL, err, sizeof(err)), 0);
    path_in(path, sizeof(path), "reuse-a");
    fd = make_file(path, "first file\n", 11);
    assert_int_equal(sl_ident_of_fd(fd, &id), 0);
    assert_non_null(sl_db_set(&db, &id, path, 11));
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);

    e = sl_db_lookup(&db, fd); /* the same file */
    assert_non_null(e);
    assert_true(e->offset == 11);
    assert_false(db.dirty);

    path_in(other, sizeof(other), "reuse-other"); /* a file the db does not know */
    fd2 = make_file(other, "first file\n", 11);
    assert_null(sl_db_lookup(&db, fd2));
    assert_int_equal(db.n, 1);
    assert_false(db.dirty);
    close(fd2);
    unlink(other);

    /* Deleted, then files made until one gets its inode back (ext4 and tmpfs reuse freed
     * inodes at once; a filesystem that does not is covered by the rewrite below). */
    close(fd);
    assert_int_equal(unlink(path), 0);
    for (int i = 0; i < 64 && !reused; i++) {
        fd2 = make_file(path, "second one\n", 11);
        assert_int_equal(sl_ident_of_fd(fd2, &id2), 0);
        reused = id2.dev == id.dev && id2.ino == id.ino;
        if (!reused) {
            close(fd2);
            snprintf(other, sizeof(other), "%s/filler-%d", tmpdir, i); /* keep that inode */
            assert_int_equal(rename(path, other), 0);
        }
    }
    if (reused) {
        assert_null(sl_db_lookup(&db, fd2));
        assert_int_equal(db.n, 0);
        assert_true(db.dirty);
        close(fd2);
    } else {
        print_message("inode not reused in 64 files: only the rewrite is tested\n");
    }

    /* Rewritten in place while we were away: the same inode, other first bytes. */
    path_in(path, sizeof(path), "reuse-b");
    fd = make_file(path, "0123456789", 10);
    assert_int_equal(sl_ident_of_fd(fd, &id), 0);
    assert_non_null(sl_db_set(&db, &id, path, 10));
    assert_int_equal(pwrite(fd, "X", 1, 3), 1);
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    assert_null(sl_db_lookup(&db, fd));
    assert_true(db.dirty);
    for (size_t i = 0; i < db.n; i++) {
        assert_false(db.v[i].id.ino == id.ino && db.v[i].id.dev == id.dev);
    }
    assert_null(sl_db_lookup(&db, fd)); /* and stays gone */
    close(fd);
    assert_null(sl_db_lookup(&db, -1)); /* fstat fails: nothing */
    sl_db_close(&db);
}

/* A file first seen short gets a longer fingerprint as it grows; the longer one is saved
 * and still matches after a restart; a copytruncate shorter than it does not. */
static void test_fingerprint_growth(void **state)
{
    char path[128], file[128], err[256], tail[600];
    struct sl_ident id;
    struct sl_db db;
    struct sl_db_entry *e;
    int fd;
    (void)state;

    path_in(file, sizeof(file), "pos-growth");
    path_in(path, sizeof(path), "growth.log");
    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), 0);
    fd = make_file(path, "abc", 3);
    assert_int_equal(sl_ident_of_fd(fd, &id), 0);
    assert_int_equal(id.fp_len, 3);
    assert_non_null(sl_db_set(&db, &id, path, 3));

    memset(tail, 'z', sizeof(tail));
    assert_int_equal(write(fd, tail, sizeof(tail)), (ssize_t)sizeof(tail));
    e = sl_db_lookup(&db, fd); /* its first 3 bytes are the same */
    assert_non_null(e);
    assert_int_equal(e->id.fp_len, 3);
    assert_int_equal(sl_ident_of_fd(fd, &id), 0);
    assert_int_equal(id.fp_len, SL_FP_MAX);
    e = sl_db_set(&db, &id, path, 603);
    assert_int_equal(e->id.fp_len, SL_FP_MAX);
    assert_int_equal(db.n, 1);
    assert_int_equal(sl_db_save(&db, err, sizeof(err)), 0);
    sl_db_close(&db);

    assert_int_equal(sl_db_open(&db, file, err, sizeof(err)), 0); /* a restart */
    e = sl_db_lookup(&db, fd);
    assert_non_null(e);
    assert_int_equal(e->id.fp_len, SL_FP_MAX);
    assert_true(e->id.fp_hash == id.fp_hash);
    assert_true(e->offset == 603);

    assert_int_equal(ftruncate(fd, 100), 0); /* shorter than the fingerprint now */
    assert_null(sl_db_lookup(&db, fd));
    assert_int_equal(db.n, 0);
    close(fd);
    sl_db_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a),
        cmocka_unit_test(test_ident),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_roundtrip_hostile_paths),
        cmocka_unit_test(test_set_forget),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_atomic_save),
        cmocka_unit_test(test_lookup_inode_reuse),
        cmocka_unit_test(test_fingerprint_growth),
    };
    return cmocka_run_group_tests_name("sl_db", tests, setup, teardown);
}
