/* shim_crilog_write.c — the CRI log writer: frames both streams into records, appends, rotates. */
#include "shim_crilog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OBUF_MIN (64 * 1024)
#define RENAME_TRIES 100
#define ERR_MAX 512

struct shim_crilog {
    char *path;
    int fd;
    uint64_t max_bytes;
    int max_files;
    size_t max_backlog;
    uint64_t file_size; /* bytes in the current file */
    /* The backlog: formatted records not yet in the file, obuf[ooff, olen). Its head record
     * may be torn: its first 'torn' bytes are already in the file, and the rest must follow
     * them into the same file before anything else (no rotation in between). */
    char *obuf;
    size_t ooff, olen, ocap;
    size_t torn;
    bool head_full;             /* the record being written is an F record */
    const struct timespec *now; /* the records' time, while feeding */
    uint64_t dropped_now;       /* records dropped in this call */
    struct shim_crilog_stats st;
    struct shim_cri_framer framer;
};

/* ---- the framer --------------------------------------------------------------------- */

void shim_cri_framer_init(struct shim_cri_framer *f, size_t part_max)
{
    f->part_max = part_max == 0 || part_max > SHIM_CRI_PART_MAX ? SHIM_CRI_PART_MAX : part_max;
    f->pending_len[SHIM_STDOUT] = 0;
    f->pending_len[SHIM_STDERR] = 0;
}

void shim_cri_framer_feed(struct shim_cri_framer *f, enum shim_stream s, const char *buf,
                          size_t len, shim_cri_emit_fn emit, void *arg)
{
    char *pend = f->pending[s];
    size_t *plen = &f->pending_len[s];
    size_t max = f->part_max;

    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t seg = nl != NULL ? (size_t)(nl - buf) : len; /* text before the '\n' or end */

        if (*plen > 0) {
            /* Continue the pending line. When it is full it becomes a P part, but only
             * once more text is known to follow: a '\n' next makes it one F record. */
            if (*plen == max && seg > 0) {
                emit(arg, s, true, pend, max);
                *plen = 0;
                continue;
            }
            size_t take = seg < max - *plen ? seg : max - *plen;
            memcpy(pend + *plen, buf, take);
            *plen += take;
            buf += take;
            len -= take;
            if (take == seg && nl != NULL) {
                emit(arg, s, false, pend, *plen);
                *plen = 0;
                buf++;
                len--;
            }
            continue;
        }
        /* Nothing pending: records come straight from buf, without a copy. */
        while (seg > max) {
            emit(arg, s, true, buf, max);
            buf += max;
            len -= max;
            seg -= max;
        }
        if (nl == NULL) {
            memcpy(pend, buf, seg);
            *plen = seg;
            return;
        }
        emit(arg, s, false, buf, seg);
        buf += seg + 1;
        len -= seg + 1;
    }
}

void shim_cri_framer_eof(struct shim_cri_framer *f, enum shim_stream s, shim_cri_emit_fn emit,
                         void *arg)
{
    if (f->pending_len[s] > 0) {
        emit(arg, s, false, f->pending[s], f->pending_len[s]);
        f->pending_len[s] = 0;
    }
}

/* ---- the backlog -------------------------------------------------------------------- */

/* Makes room for need more bytes; the caller checked that the backlog may hold them. */
static int reserve(struct shim_crilog *l, size_t need)
{
    size_t ncap;
    char *p;

    if (l->ocap - l->olen >= need) {
        return 0;
    }
    if (l->ooff > 0) {
        memmove(l->obuf, l->obuf + l->ooff, l->olen - l->ooff);
        l->olen -= l->ooff;
        l->ooff = 0;
        if (l->ocap - l->olen >= need) {
            return 0;
        }
    }
    ncap = l->ocap > OBUF_MIN ? l->ocap : OBUF_MIN;
    while (ncap - l->olen < need) {
        ncap *= 2;
    }
    if (ncap > l->max_backlog) {
        ncap = l->max_backlog;
    }
    if ((p = realloc(l->obuf, ncap)) == NULL) {
        return -1;
    }
    l->obuf = p;
    l->ocap = ncap;
    return 0;
}

/* The framer's sink: formats the record at the end of the backlog, or drops it whole. */
static void take_record(void *arg, enum shim_stream s, bool partial, const char *text, size_t len)
{
    struct shim_crilog *l = arg;
    size_t need = SHIM_CRI_HEAD_LEN + len + 1;

    if (l->olen - l->ooff + need > l->max_backlog || reserve(l, need) < 0) {
        l->st.dropped++;
        l->st.dropped_bytes += need;
        l->dropped_now++;
        return;
    }
    l->olen += shim_cri_format(l->obuf + l->olen, l->ocap - l->olen, l->now, s, partial, text, len);
}

/* The length of the record (or the rest of it) at p: up to and including its '\n'. */
static size_t record_len(const char *p, size_t avail)
{
    const char *nl = memchr(p, '\n', avail);

    return nl != NULL ? (size_t)(nl - p) + 1 : avail;
}

/* Counts the w bytes at p (the head of the backlog) as written. */
static void account(struct shim_crilog *l, const char *p, size_t w)
{
    const char *end = p + w;

    l->ooff += w;
    l->file_size += w;
    l->st.bytes += w;
    while (p < end) {
        const char *nl;

        if (l->torn == 0) {
            /* A record's start: the whole record is in the backlog, so its tag is too. */
            l->head_full = p[SHIM_CRI_TS_LEN + 8] == 'F';
        }
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
            l->torn += (size_t)(end - p);
            return;
        }
        l->torn = 0;
        l->st.records++;
        l->st.lines += l->head_full;
        p = nl + 1;
    }
}

/* ---- files -------------------------------------------------------------------------- */

/* flags: O_WRONLY, or O_RDWR to look at what is there */
static int open_log(const char *path, int flags)
{
    return open(path, flags | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* mkdir -p of the directories above path (0755). */
static int make_parents(const char *path, char *err, size_t errsz)
{
    char *dir = strdup(path);

    if (dir == NULL) {
        snprintf(err, errsz, "creating the directories of %s: out of memory", path);
        return -1;
    }
    for (char *p = strchr(dir + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errsz, "creating directory %s: %s", dir, strerror(errno));
            free(dir);
            return -1;
        }
        *p = '/';
    }
    free(dir);
    return 0;
}

/* rename(2) that never replaces an existing file (EEXIST instead), also on file systems
 * without RENAME_NOREPLACE, where it checks first (our rotations are the only writer). */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL) {
        return -1;
    }
    if (access(to, F_OK) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

/* Renames the current file to path.YYYYMMDD-HHMMSS[.N], opens a new one at path and removes
 * the oldest rotated files beyond max_files. Any failure before the new file is open leaves
 * logging in the current one. The name is never older than the newest rotated file, so that
 * names sort in rotation order even when the clock steps back. */
static int rotate(struct shim_crilog *l, const struct timespec *now, char *err, size_t errsz)
{
    struct shim_crilog_file *files;
    size_t n, keep = (size_t)l->max_files - 1;
    char *name = NULL;
    time_t t = now->tv_sec;
    struct tm tm = {0};
    uint64_t stamp;
    unsigned seq = 0;
    bool renamed = true;
    int fd, rc = -1;

    if (shim_crilog_files(l->path, false, &files, &n, err, errsz) < 0) {
        return -1;
    }
    gmtime_r(&t, &tm);
    stamp = (uint64_t)(tm.tm_year + 1900) * 10000000000ULL + (uint64_t)(tm.tm_mon + 1) * 100000000 +
            (uint64_t)tm.tm_mday * 1000000 + (uint64_t)tm.tm_hour * 10000 +
            (uint64_t)tm.tm_min * 100 + (uint64_t)tm.tm_sec;
    if (n > 0 && files[n - 1].stamp >= stamp) {
        stamp = files[n - 1].stamp;
        seq = files[n - 1].seq + 1;
    }
    for (int tries = 0;; tries++, seq++) {
        char dis[16] = "";

        if (seq > 0) {
            snprintf(dis, sizeof(dis), ".%u", seq);
        }
        free(name);
        if (asprintf(&name, "%s.%08llu-%06llu%s", l->path, (unsigned long long)(stamp / 1000000),
                     (unsigned long long)(stamp % 1000000), dis) < 0) {
            name = NULL;
            snprintf(err, errsz, "rotating %s: out of memory", l->path);
            goto out;
        }
        if (rename_noreplace(l->path, name) == 0) {
            break;
        }
        if (errno == EEXIST && tries < RENAME_TRIES) {
            continue;
        }
        if (errno == ENOENT) {
            renamed = false; /* someone removed it: just start a new file */
            break;
        }
        snprintf(err, errsz, "rotating %s: renaming it to %s: %s", l->path, name, strerror(errno));
        goto out;
    }
    if ((fd = open_log(l->path, O_WRONLY)) < 0) {
        int e = errno;
        if (renamed) {
            rename_noreplace(name, l->path); /* back where it was: logging goes on there */
        }
        snprintf(err, errsz, "rotating %s: opening the new file: %s", l->path, strerror(e));
        goto out;
    }
    close(l->fd);
    l->fd = fd;
    l->file_size = 0;
    l->st.rotations++;
    rc = 0;
    /* n + 1 rotated files now (the new one is the newest): remove the oldest beyond keep. */
    for (size_t i = 0; renamed && i < n && n + 1 - i > keep; i++) {
        if (unlink(files[i].name) < 0 && errno != ENOENT && rc == 0) {
            snprintf(err, errsz, "rotating %s: removing %s: %s", l->path, files[i].name,
                     strerror(errno));
            rc = -1;
        }
    }
out:
    free(name);
    shim_crilog_files_free(files, n);
    return rc;
}

/* Records a failure in err unless one is there already: the first is the one worth reading. */
static void note(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (errsz > 0 && err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
}

/* Writes the backlog, rotating at record boundaries. Returns -1 with a note in err when
 * something failed; the backlog then still holds what was not written. */
static int flush(struct shim_crilog *l, const struct timespec *now, char *err, size_t errsz)
{
    uint64_t limit = l->max_bytes;
    char why[ERR_MAX];
    int rc = 0;

    while (l->ooff < l->olen) {
        const char *p = l->obuf + l->ooff;
        size_t avail = l->olen - l->ooff;
        size_t chunk = record_len(p, avail);
        ssize_t w;

        if (l->torn == 0) {
            if (l->file_size > 0 && l->file_size + chunk > limit &&
                rotate(l, now, why, sizeof(why)) < 0) {
                note(err, errsz, "%s", why);
                rc = -1;
                if (l->file_size > 0) {
                    limit = UINT64_MAX; /* not rotated: write on, and try again next call */
                }
            }
            /* As many whole records as the file takes, in one write. */
            while (chunk < avail) {
                size_t next = record_len(p + chunk, avail - chunk);
                if (l->file_size + chunk + next > limit) {
                    break;
                }
                chunk += next;
            }
        }
        w = write(l->fd, p, chunk);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            note(err, errsz, "writing %s: %s", l->path,
                 w < 0 ? strerror(errno) : "nothing written");
            return -1;
        }
        account(l, p, (size_t)w);
    }
    l->ooff = l->olen = 0;
    return rc;
}

/* now, or the current time in *t when now is NULL. */
static const struct timespec *time_or_now(const struct timespec *now, struct timespec *t)
{
    if (now != NULL) {
        return now;
    }
    clock_gettime(CLOCK_REALTIME, t);
    return t;
}

/* Writes what is waiting, frames the new bytes (or the end of stream s), writes again, and
 * reports what failed, drops included. The backlog is written first so that a file that
 * takes bytes again makes room before new records could be dropped. */
static int run(struct shim_crilog *l, enum shim_stream s, const char *buf, size_t len, bool eof,
               const struct timespec *now, char *err, size_t errsz)
{
    struct timespec t;
    bool stuck = false;
    int rc = 0;

    if (errsz > 0) {
        err[0] = '\0';
    }
    if (s != SHIM_STDOUT && s != SHIM_STDERR) {
        note(err, errsz, "writing %s: unknown stream %d", l->path, (int)s);
        return -1;
    }
    now = time_or_now(now, &t);
    if (l->ooff < l->olen) {
        rc = flush(l, now, err, errsz);
        stuck = l->ooff < l->olen;
    }
    l->now = now;
    if (eof) {
        shim_cri_framer_eof(&l->framer, s, take_record, l);
    } else {
        shim_cri_framer_feed(&l->framer, s, buf, len, take_record, l);
    }
    if (!stuck && flush(l, now, err, errsz) < 0) {
        rc = -1;
    }
    if (l->dropped_now > 0) {
        size_t n = strnlen(err, errsz);
        snprintf(err + n, errsz - n, "%sthe backlog of %zu bytes was full: dropped %llu records",
                 n > 0 ? "; " : "", l->max_backlog, (unsigned long long)l->dropped_now);
        l->dropped_now = 0;
        rc = -1;
    }
    return rc;
}

/* ---- the writer --------------------------------------------------------------------- */

struct shim_crilog *shim_crilog_create(const char *path, const struct shim_crilog_config *cfg,
                                       char *err, size_t errsz)
{
    struct shim_crilog *l = calloc(1, sizeof(*l));
    struct stat st;
    char last;

    if (l == NULL) {
        snprintf(err, errsz, "opening %s: out of memory", path);
        return NULL;
    }
    l->fd = -1;
    shim_cri_framer_init(&l->framer, 0);
    l->max_bytes = cfg != NULL && cfg->max_bytes > 0 ? cfg->max_bytes : SHIM_CRILOG_MAX_BYTES;
    l->max_files = cfg != NULL && cfg->max_files != 0 ? cfg->max_files : SHIM_CRILOG_MAX_FILES;
    l->max_backlog =
        cfg != NULL && cfg->max_backlog > 0 ? cfg->max_backlog : SHIM_CRILOG_MAX_BACKLOG;
    if (l->max_backlog < SHIM_CRI_RECORD_MAX) {
        l->max_backlog = SHIM_CRI_RECORD_MAX;
    }
    if (l->max_files < 2) {
        snprintf(err, errsz, "%s: max_files must be at least 2, not %d", path, l->max_files);
        goto fail;
    }
    if (path[0] == '\0' || path[strlen(path) - 1] == '/') {
        snprintf(err, errsz, "'%s' is not a file path", path);
        goto fail;
    }
    if ((l->path = strdup(path)) == NULL) {
        snprintf(err, errsz, "opening %s: out of memory", path);
        goto fail;
    }
    if (make_parents(path, err, errsz) < 0) {
        goto fail;
    }
    if ((l->fd = open_log(path, O_RDWR)) < 0 || fstat(l->fd, &st) < 0) {
        snprintf(err, errsz, "opening %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "opening %s: not a regular file", path);
        goto fail;
    }
    l->file_size = (uint64_t)st.st_size;
    /* A line cut short by a crash would swallow our first record: close it. */
    if (st.st_size > 0 && pread(l->fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
        if (write(l->fd, "\n", 1) != 1) {
            snprintf(err, errsz, "writing %s: %s", path, strerror(errno));
            goto fail;
        }
        l->file_size++;
    }
    return l;
fail:
    shim_crilog_destroy(l);
    return NULL;
}

int shim_crilog_feed(struct shim_crilog *l, enum shim_stream s, const char *buf, size_t len,
                     const struct timespec *now, char *err, size_t errsz)
{
    return run(l, s, buf, len, false, now, err, errsz);
}

int shim_crilog_eof(struct shim_crilog *l, enum shim_stream s, const struct timespec *now,
                    char *err, size_t errsz)
{
    return run(l, s, NULL, 0, true, now, err, errsz);
}

int shim_crilog_flush(struct shim_crilog *l, const struct timespec *now, char *err, size_t errsz)
{
    struct timespec t;

    if (errsz > 0) {
        err[0] = '\0';
    }
    return flush(l, time_or_now(now, &t), err, errsz);
}

void shim_crilog_stats(const struct shim_crilog *l, struct shim_crilog_stats *out)
{
    *out = l->st;
    out->backlog = l->olen - l->ooff;
}

void shim_crilog_destroy(struct shim_crilog *l)
{
    if (l == NULL) {
        return;
    }
    if (l->fd >= 0) {
        close(l->fd);
    }
    free(l->obuf);
    free(l->path);
    free(l);
}
