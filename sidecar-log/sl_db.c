/* sl_db.c — the positions file: a strict parser, a sorted array of entries, atomic saves.
 *
 * Entries are kept sorted by (dev, ino): lookups (one per file opened, one per acknowledged
 * block through sl_db_set) are binary searches; adding or removing one moves the tail of
 * the array, which a few thousand entries make cheap. Saves write them in that order. */
#include "sl_db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pk_fs.h"

#define HEADER "# sidecar-log positions v1"
#define HEADER_STEM "# sidecar-log positions " /* followed by a version we may not know */
#define FIELDS 6
#define FILE_MAX (64u << 20) /* a larger positions file is refused, not read */
#define PATH_BYTES_MAX 4095  /* a longer path is no path the kernel would take */
#define TMP_SUFFIX ".tmp-"   /* then 6 characters from mkostemp */
#define WHY_MAX 160

/* ---- entries -------------------------------------------------------------------------- */

static int key_cmp(const struct sl_ident *id, uint64_t dev, uint64_t ino)
{
    if (id->dev != dev) {
        return id->dev < dev ? -1 : 1;
    }
    return (id->ino > ino) - (id->ino < ino);
}

/* The index of the entry for dev and ino (*found), or where it would go. */
static size_t find(const struct sl_db *db, uint64_t dev, uint64_t ino, bool *found)
{
    size_t lo = 0, hi = db->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(&db->v[mid].id, dev, ino);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

static void remove_at(struct sl_db *db, size_t i)
{
    free(db->v[i].path);
    memmove(&db->v[i], &db->v[i + 1], (db->n - i - 1) * sizeof(db->v[0]));
    db->n--;
    db->dirty = true;
}

static bool ident_eq(const struct sl_ident *a, const struct sl_ident *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->fp_len == b->fp_len &&
           a->fp_hash == b->fp_hash;
}

static void free_entries(struct sl_db_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].path);
    }
    free(v);
}

struct sl_db_entry *sl_db_lookup(struct sl_db *db, int fd)
{
    struct stat st;
    bool found;
    size_t i;

    if (fstat(fd, &st) < 0) {
        return NULL;
    }
    i = find(db, (uint64_t)st.st_dev, (uint64_t)st.st_ino, &found);
    if (!found) {
        return NULL;
    }
    switch (sl_ident_same(fd, &db->v[i].id)) {
    case 1:
        return &db->v[i];
    case 0:
        remove_at(db, i); /* the inode reused, or the file rewritten while we were away */
        return NULL;
    default:
        return NULL; /* cannot tell: kept, and the caller's sl_db_set replaces it */
    }
}

struct sl_db_entry *sl_db_set(struct sl_db *db, const struct sl_ident *id, const char *path,
                              uint64_t offset)
{
    struct sl_db_entry *e;
    bool found;
    size_t i = find(db, id->dev, id->ino, &found);

    if (found) {
        e = &db->v[i];
        if (path != NULL && strcmp(e->path, path) != 0) {
            char *p = strdup(path);
            if (p == NULL) {
                return NULL;
            }
            free(e->path);
            e->path = p;
            db->dirty = true;
        }
        if (!ident_eq(&e->id, id) || e->offset != offset) {
            e->id = *id;
            e->offset = offset;
            db->dirty = true;
        }
        e->seen = true;
        return e;
    }
    if (db->n == db->cap) {
        size_t cap = db->cap > 0 ? db->cap * 2 : 64;
        struct sl_db_entry *v = realloc(db->v, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        db->v = v;
        db->cap = cap;
    }
    char *p = strdup(path != NULL ? path : "");
    if (p == NULL) {
        return NULL;
    }
    memmove(&db->v[i + 1], &db->v[i], (db->n - i) * sizeof(db->v[0]));
    db->n++;
    db->dirty = true;
    e = &db->v[i];
    *e = (struct sl_db_entry){.id = *id, .offset = offset, .path = p, .seen = true};
    return e;
}

void sl_db_forget(struct sl_db *db, uint64_t dev, uint64_t ino)
{
    bool found;
    size_t i = find(db, dev, ino, &found);

    if (found) {
        remove_at(db, i);
    }
}

struct sl_db_entry *sl_db_find(struct sl_db *db, uint64_t dev, uint64_t ino)
{
    bool found;
    size_t i = find(db, dev, ino, &found);

    return found ? &db->v[i] : NULL;
}

void sl_db_prune(struct sl_db *db)
{
    size_t kept = 0;

    for (size_t i = 0; i < db->n; i++) {
        if (db->v[i].seen) {
            db->v[i].seen = false;
            db->v[kept++] = db->v[i];
        } else {
            free(db->v[i].path);
            db->dirty = true;
        }
    }
    db->n = kept;
}

void sl_db_close(struct sl_db *db)
{
    free_entries(db->v, db->n);
    free(db->file);
    memset(db, 0, sizeof(*db));
}

/* ---- the parser ----------------------------------------------------------------------- */

/* Decimal digits only, no sign: 0, -1 not a number, -2 above UINT64_MAX. */
static int parse_dec(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) {
            return -1;
        }
        if (v > (UINT64_MAX - d) / 10) {
            return -2;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* 1 to 16 hex digits. */
static int parse_hex(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 16) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int d = hex_digit((unsigned char)s[i]);
        if (d < 0) {
            return -1;
        }
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* The path field, \-escaped as save_text writes it: "\\" and "\xHH", nothing else. Returns
 * a new string, or NULL with why. */
static char *unescape(const char *s, size_t len, char *why)
{
    char *out = malloc(len + 1);
    size_t n = 0;

    if (out == NULL) {
        snprintf(why, WHY_MAX, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            int hi, lo;
            if (i + 1 < len && s[i + 1] == '\\') {
                i++;
            } else if (i + 3 < len && s[i + 1] == 'x' &&
                       (hi = hex_digit((unsigned char)s[i + 2])) >= 0 &&
                       (lo = hex_digit((unsigned char)s[i + 3])) >= 0) {
                c = (unsigned char)(hi << 4 | lo);
                i += 3;
                if (c == '\0') {
                    snprintf(why, WHY_MAX, "NUL byte in the path");
                    goto fail;
                }
            } else {
                snprintf(why, WHY_MAX, "bad escape in the path (\\\\ or \\xHH)");
                goto fail;
            }
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(why, WHY_MAX, "control byte 0x%02x in the path not escaped", c);
            goto fail;
        }
        if (n == PATH_BYTES_MAX) {
            snprintf(why, WHY_MAX, "path longer than %d bytes", PATH_BYTES_MAX);
            goto fail;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
fail:
    free(out);
    return NULL;
}

/* One entry line, without its '\n'. Returns 0, or -1 with why. */
static int parse_line(const char *s, size_t len, struct sl_db_entry *e, char *why)
{
    static const char *const names[] = {"device", "inode", "fingerprint length", "fingerprint hash",
                                        "offset"};
    uint64_t num[FIELDS - 1];
    const char *f[FIELDS];
    size_t fl[FIELDS], spaces = 0;
    const char *p = s;

    for (size_t i = 0; i < len; i++) {
        spaces += s[i] == ' ';
    }
    if (spaces != FIELDS - 1) {
        snprintf(why, WHY_MAX, "%s fields (%d wanted%s)",
                 spaces < FIELDS - 1 ? "too few" : "too many", FIELDS,
                 spaces < FIELDS - 1 ? "" : "; spaces in a path are written \\x20");
        return -1;
    }
    for (int i = 0; i < FIELDS; i++) {
        const char *sp = i < FIELDS - 1 ? memchr(p, ' ', len - (size_t)(p - s)) : s + len;
        f[i] = p;
        fl[i] = (size_t)(sp - p);
        p = sp + 1;
    }
    for (int i = 0; i < FIELDS - 1; i++) {
        int rc = i == 3 ? parse_hex(f[i], fl[i], &num[i]) : parse_dec(f[i], fl[i], &num[i]);
        if (rc == -2) {
            snprintf(why, WHY_MAX, "%s out of range", names[i]);
            return -1;
        }
        if (rc < 0) {
            snprintf(why, WHY_MAX, "bad %s%s", names[i], i == 3 ? " (1 to 16 hex digits)" : "");
            return -1;
        }
    }
    if (num[2] > SL_FP_MAX) {
        snprintf(why, WHY_MAX, "fingerprint length above %d", SL_FP_MAX);
        return -1;
    }
    if (num[2] == 0 && num[3] != SL_FNV_BASIS) {
        snprintf(why, WHY_MAX, "fingerprint hash of no bytes must be %016llx",
                 (unsigned long long)SL_FNV_BASIS);
        return -1;
    }
    if ((e->path = unescape(f[5], fl[5], why)) == NULL) {
        return -1;
    }
    e->id = (struct sl_ident){
        .dev = num[0], .ino = num[1], .fp_len = (uint32_t)num[2], .fp_hash = num[3]};
    e->offset = num[4];
    e->seen = false;
    return 0;
}

/* An entry and the line it came from, sorted to find duplicates. */
struct parsed {
    struct sl_db_entry e;
    size_t line;
};

static int parsed_cmp(const void *pa, const void *pb)
{
    const struct parsed *a = pa, *b = pb;
    int c = key_cmp(&a->e.id, b->e.id.dev, b->e.id.ino);

    return c != 0 ? c : (a->line > b->line) - (a->line < b->line);
}

static void fail_at(char *err, size_t errsz, const char *name, size_t line, const char *why)
{
    snprintf(err, errsz, "%s:%zu: %s", name, line, why);
}

int sl_db_parse(struct sl_db *db, const char *name, const char *text, size_t len, char *err,
                size_t errsz)
{
    const char *p = text, *end = text + len, *nl;
    struct sl_db_entry *v = NULL;
    struct parsed *pv = NULL;
    size_t n = 0, cap = 0, line = 1, dup = 0, first = 0;
    char why[WHY_MAX];
    int rc = -1;

    if (len == 0) {
        fail_at(err, errsz, name, line, "empty: no \"" HEADER "\" line");
        goto out;
    }
    nl = memchr(p, '\n', len);
    if ((size_t)((nl != NULL ? nl : end) - p) != strlen(HEADER) ||
        memcmp(p, HEADER, strlen(HEADER)) != 0) {
        fail_at(err, errsz, name, line,
                len >= strlen(HEADER_STEM) && memcmp(p, HEADER_STEM, strlen(HEADER_STEM)) == 0
                    ? "unknown version of the positions format (this build reads v1)"
                    : "not a positions file: no \"" HEADER "\" line");
        goto out;
    }
    for (; p < end; p = nl + 1, line++) {
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
            fail_at(err, errsz, name, line, "no newline at the end: truncated?");
            goto out;
        }
        if (line == 1) {
            continue;
        }
        if (n == cap) {
            size_t ncap = cap > 0 ? cap * 2 : 64;
            struct parsed *q = realloc(pv, ncap * sizeof(*q));
            if (q == NULL) {
                fail_at(err, errsz, name, line, "out of memory");
                goto out;
            }
            pv = q;
            cap = ncap;
        }
        if (parse_line(p, (size_t)(nl - p), &pv[n].e, why) < 0) {
            fail_at(err, errsz, name, line, why);
            goto out;
        }
        pv[n++].line = line;
    }

    /* Sorted by key then line, a duplicate follows its first; the error names the one met
     * first when reading from the top. */
    if (n > 1) {
        qsort(pv, n, sizeof(*pv), parsed_cmp);
    }
    for (size_t i = 1, start = 0; i < n; i++) {
        if (key_cmp(&pv[i].e.id, pv[i - 1].e.id.dev, pv[i - 1].e.id.ino) != 0) {
            start = i;
        } else if (dup == 0 || pv[i].line < pv[dup].line) {
            dup = i;
            first = start;
        }
    }
    if (dup != 0) {
        snprintf(why, sizeof(why),
                 "duplicate entry for device %" PRIu64 " inode %" PRIu64 " (first on line %zu)",
                 pv[dup].e.id.dev, pv[dup].e.id.ino, pv[first].line);
        fail_at(err, errsz, name, pv[dup].line, why);
        goto out;
    }
    if (n > 0 && (v = malloc(n * sizeof(*v))) == NULL) {
        fail_at(err, errsz, name, line, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = pv[i].e;
    }
    free_entries(db->v, db->n);
    db->v = v;
    db->n = db->cap = n;
    db->dirty = false;
    n = 0; /* the paths are db's now */
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(pv[i].e.path);
    }
    free(pv);
    return rc;
}

/* ---- loading and saving --------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap > 0 ? b->cap : 4096;
        char *q;
        while (cap - b->len < n) {
            cap *= 2;
        }
        if ((q = realloc(b->p, cap)) == NULL) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* The whole file's text: the header, then one line per entry, paths escaped so that any
 * byte comes back as it was and the path is one field ("\\", "\xHH" for controls, space
 * and DEL). */
static void save_text(const struct sl_db *db, struct buf *b)
{
    buf_add(b, HEADER "\n", strlen(HEADER) + 1);
    for (size_t i = 0; i < db->n; i++) {
        const struct sl_db_entry *e = &db->v[i];
        char num[128];
        int len = snprintf(num, sizeof(num),
                           "%" PRIu64 " %" PRIu64 " %" PRIu32 " %016" PRIx64 " %" PRIu64 " ",
                           e->id.dev, e->id.ino, e->id.fp_len, e->id.fp_hash, e->offset);
        buf_add(b, num, (size_t)len);
        for (const unsigned char *s = (const unsigned char *)e->path; *s != '\0'; s++) {
            if (*s == '\\') {
                buf_add(b, "\\\\", 2);
            } else if (*s <= 0x20 || *s == 0x7f) {
                char esc[5];
                snprintf(esc, sizeof(esc), "\\x%02x", *s);
                buf_add(b, esc, 4);
            } else {
                buf_add(b, s, 1);
            }
        }
        buf_add(b, "\n", 1);
    }
}

/* The directory holding file ("." for a bare name), in a new string. */
static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');

    if (slash == NULL) {
        return strdup(".");
    }
    return strndup(file, slash == file ? 1 : (size_t)(slash - file));
}

/* A save cut short by a crash leaves its temporary file: removed at the next open. */
static void remove_stale_temps(const char *file)
{
    const char *base = strrchr(file, '/');
    char *dir = dir_of(file);
    size_t blen;
    DIR *d;
    struct dirent *de;

    base = base != NULL ? base + 1 : file;
    blen = strlen(base);
    if (dir == NULL || (d = opendir(dir)) == NULL) {
        free(dir);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, base, blen) == 0 &&
            strncmp(de->d_name + blen, TMP_SUFFIX, strlen(TMP_SUFFIX)) == 0 &&
            strlen(de->d_name) == blen + strlen(TMP_SUFFIX) + 6) {
            unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
    free(dir);
}

int sl_db_save(struct sl_db *db, char *err, size_t errsz)
{
    struct buf b = {0};
    char *tmp = NULL, *dir = NULL;
    const char *what = "out of memory";
    int fd = -1, dfd = -1, rc = -1, saved = ENOMEM;
    bool created = false; /* tmp names a file of ours, to remove if the save fails */

    if (!db->dirty) {
        return 0;
    }
    if (db->file == NULL) {
        db->dirty = false;
        return 0;
    }
    save_text(db, &b);
    if (b.oom || (dir = dir_of(db->file)) == NULL) {
        goto out;
    }
    if (asprintf(&tmp, "%s" TMP_SUFFIX "XXXXXX", db->file) < 0) {
        tmp = NULL; /* undefined after a failure */
        goto out;
    }
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        what = "cannot create its temporary file";
        goto fail;
    }
    created = true;
    if (pk_write_all(fd, b.p, b.len) < 0 || fsync(fd) < 0) {
        what = "cannot write its temporary file";
        goto fail;
    }
    rc = close(fd);
    fd = -1;
    if (rc < 0) {
        what = "cannot write its temporary file";
        goto fail;
    }
    rc = -1;
    if (rename(tmp, db->file) < 0) {
        what = "rename";
        goto fail;
    }
    created = false; /* it is the positions file now */
    /* The rename is durable once the directory is. Some filesystems cannot fsync a
     * directory (EINVAL): the rename is then as durable as they make it. */
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        what = "cannot open its directory";
        goto fail;
    }
    if (fsync(dfd) < 0 && errno != EINVAL) {
        what = "fsync of its directory";
        goto fail;
    }
    db->dirty = false;
    rc = 0;
    goto out;
fail:
    saved = errno;
out:
    if (rc < 0) {
        snprintf(err, errsz, "%s: %s: %s", db->file, what, strerror(saved));
    }
    if (fd >= 0) {
        close(fd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    if (created) {
        unlink(tmp);
    }
    free(tmp);
    free(dir);
    free(b.p);
    return rc;
}

/* Reads all of path into *text (not NUL-terminated). Returns 0, or -1 with errno
 * (EFBIG past FILE_MAX, EINVAL for what is not a regular file). */
static int read_file(const char *path, char **text, size_t *len)
{
    struct buf b = {0};
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), saved;

    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            goto fail;
        }
        if (n == 0) {
            break;
        }
        if (b.len + (size_t)n > FILE_MAX) {
            errno = EFBIG;
            goto fail;
        }
        buf_add(&b, chunk, (size_t)n);
        if (b.oom) {
            errno = ENOMEM;
            goto fail;
        }
    }
    close(fd);
    *text = b.p;
    *len = b.len;
    return 0;
fail:
    saved = errno;
    close(fd);
    free(b.p);
    errno = saved;
    return -1;
}

int sl_db_open(struct sl_db *db, const char *file, char *err, size_t errsz)
{
    char *text = NULL;
    size_t len = 0;

    memset(db, 0, sizeof(*db));
    if (file == NULL) {
        return 0;
    }
    if ((db->file = strdup(file)) == NULL) {
        snprintf(err, errsz, "%s: out of memory", file);
        goto fail;
    }
    remove_stale_temps(file);
    if (read_file(file, &text, &len) < 0) {
        if (errno == ENOENT) {
            return 0; /* the first run */
        }
        snprintf(err, errsz, "%s: %s", file,
                 errno == EFBIG    ? "larger than 64 MiB: not a positions file?"
                 : errno == EINVAL ? "not a regular file"
                                   : strerror(errno));
        goto fail;
    }
    if (sl_db_parse(db, file, text, len, err, errsz) < 0) {
        goto fail;
    }
    free(text);
    return 0;
fail:
    free(text);
    sl_db_close(db);
    return -1;
}
