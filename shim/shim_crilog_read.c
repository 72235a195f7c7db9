/* shim_crilog_read.c — `podshim logs`: a container instance's CRI log joined, tailed, followed. */
#include "shim_crilog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_BUF (64 * 1024)
#define READ_BUF (256 * 1024) /* a record longer than this is malformed */
#define IDLE_MS 100
#define LIST_TRIES 20

/* A line being joined from its P parts, one per stream. */
struct joiner {
    char *buf;
    size_t len, cap;
    char ts[PK_CRI_TS_MAX];
    size_t ts_len;
    bool active;
    uint64_t seq; /* when its first part came, to end both streams' lines in file order */
};

/* One file being read. */
struct src {
    int fd;
    dev_t dev;
    ino_t ino;
    /* Where the file stood among the rotated ones when it was opened: its own name's
     * (stamp, seq), or for the current file the newest rotated one's. The writer's names
     * only grow, so every file rotated after it sorts above this. */
    uint64_t stamp;
    unsigned seq;
    off_t off;   /* the file offset of rbuf[0]: everything before it is processed */
    off_t limit; /* read no further than this; -1: to the end */
};

struct cat {
    const struct shim_cat_opts *o;
    const char *path;
    unsigned streams;
    int out_fd;
    char *out;
    size_t out_len;
    bool gone;  /* the reader went away (EPIPE) */
    char *rbuf; /* bytes of the current file not processed yet */
    size_t rlen;
    bool skipping; /* discarding an over-long record up to its '\n' */
    struct joiner j[2];
    uint64_t seq;
    bool counting; /* the tail's first pass: count lines, print nothing */
    uint64_t count;
    uint64_t skip; /* lines still to leave out before printing (the tail) */
    struct shim_cat_stats st;
    char *err;
    size_t errsz;
};

/* ---- output ------------------------------------------------------------------------- */

static int out_flush(struct cat *c)
{
    size_t off = 0;

    while (off < c->out_len && !c->gone) {
        ssize_t w = write(c->out_fd, c->out + off, c->out_len - off);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = c->out_fd, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        if (w < 0 && errno == EPIPE) {
            c->gone = true;
            break;
        }
        if (w <= 0) {
            snprintf(c->err, c->errsz, "writing the log of %s: %s", c->path,
                     w < 0 ? strerror(errno) : "nothing written");
            return -1;
        }
        off += (size_t)w;
    }
    c->out_len = 0;
    return 0;
}

static int out_put(struct cat *c, const char *p, size_t n)
{
    while (n > 0 && !c->gone) {
        size_t k = OUT_BUF - c->out_len;

        if (k == 0) {
            if (out_flush(c) < 0) {
                return -1;
            }
            continue;
        }
        k = k < n ? k : n;
        memcpy(c->out + c->out_len, p, k);
        c->out_len += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* One whole line: counted, left out (tail), or printed. */
static int put_line(struct cat *c, const char *ts, size_t ts_len, const char *text, size_t len)
{
    c->count++;
    if (c->counting) {
        return 0;
    }
    if (c->skip > 0) {
        c->skip--;
        return 0;
    }
    c->st.lines++;
    if (c->o->timestamps && (out_put(c, ts, ts_len) < 0 || out_put(c, " ", 1) < 0)) {
        return -1;
    }
    if (out_put(c, text, len) < 0 || out_put(c, "\n", 1) < 0) {
        return -1;
    }
    return 0;
}

/* ---- joining records into lines ----------------------------------------------------- */

static int join_append(struct cat *c, struct joiner *j, const char *text, size_t len)
{
    if (j->cap - j->len < len) {
        size_t ncap = j->cap > 0 ? j->cap : 4096;
        char *p;

        while (ncap - j->len < len) {
            ncap *= 2;
        }
        if ((p = realloc(j->buf, ncap)) == NULL) {
            snprintf(c->err, c->errsz, "reading %s: out of memory", c->path);
            return -1;
        }
        j->buf = p;
        j->cap = ncap;
    }
    memcpy(j->buf + j->len, text, len);
    j->len += len;
    return 0;
}

static int on_record(struct cat *c, const struct pk_cri_line *r)
{
    struct joiner *j = &c->j[r->stream];

    if ((c->streams & (1u << r->stream)) == 0) {
        return 0;
    }
    if (!j->active && !r->partial) {
        return put_line(c, r->ts, r->ts_len, r->text, r->text_len); /* the common case */
    }
    if (j->active && j->len + r->text_len > SHIM_CAT_LINE_MAX) {
        /* Too long to hold: what we have becomes a line of its own. */
        c->st.split += !c->counting;
        j->active = false;
        if (put_line(c, j->ts, j->ts_len, j->buf, j->len) < 0) {
            return -1;
        }
    }
    if (!j->active) {
        j->active = true;
        j->len = 0;
        memcpy(j->ts, r->ts, r->ts_len);
        j->ts_len = r->ts_len;
        j->seq = c->seq++;
    }
    if (join_append(c, j, r->text, r->text_len) < 0) {
        return -1;
    }
    if (!r->partial) {
        j->active = false;
        return put_line(c, j->ts, j->ts_len, j->buf, j->len);
    }
    return 0;
}

/* The end of everything: lines still waiting for their F are printed as they are, in the
 * order they began. */
static int finish_joins(struct cat *c)
{
    for (;;) {
        struct joiner *first = NULL;

        for (int s = 0; s < 2; s++) {
            if (c->j[s].active && (first == NULL || c->j[s].seq < first->seq)) {
                first = &c->j[s];
            }
        }
        if (first == NULL) {
            return 0;
        }
        first->active = false;
        if (put_line(c, first->ts, first->ts_len, first->buf, first->len) < 0) {
            return -1;
        }
    }
}

/* ---- reading files ------------------------------------------------------------------ */

/* Handles the complete records in rbuf and keeps the rest. */
static int process(struct cat *c, struct src *f)
{
    size_t pos = 0;

    while (pos < c->rlen && !c->gone) {
        char *line = c->rbuf + pos;
        char *nl = memchr(line, '\n', c->rlen - pos);
        struct pk_cri_line r;

        if (nl == NULL) {
            break;
        }
        pos += (size_t)(nl - line) + 1;
        if (c->skipping) {
            c->skipping = false; /* the end of an over-long record */
        } else if (pk_cri_parse_line(line, (size_t)(nl - line), &r) < 0) {
            c->st.malformed += !c->counting;
        } else if (on_record(c, &r) < 0) {
            return -1;
        }
    }
    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= pos;
    f->off += (off_t)pos;
    if (c->rlen == READ_BUF) {
        c->st.malformed += !c->counting;
        c->skipping = true;
        f->off += (off_t)c->rlen;
        c->rlen = 0;
    }
    return 0;
}

/* Reads and handles what f holds now. Returns the bytes read (0: nothing new), or -1. */
static ssize_t read_some(struct cat *c, struct src *f)
{
    off_t at = f->off + (off_t)c->rlen;
    size_t room = READ_BUF - c->rlen;
    ssize_t n;

    if (f->limit >= 0) {
        if (at >= f->limit) {
            return 0;
        }
        if ((uint64_t)(f->limit - at) < room) {
            room = (size_t)(f->limit - at);
        }
    }
    do {
        n = pread(f->fd, c->rbuf + c->rlen, room, at);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(c->err, c->errsz, "reading the log of %s: %s", c->path, strerror(errno));
        return -1;
    }
    c->rlen += (size_t)n;
    if (n > 0 && process(c, f) < 0) {
        return -1;
    }
    return n;
}

/* Reads f up to its end (or limit). */
static int drain(struct cat *c, struct src *f)
{
    ssize_t n;

    while ((n = read_some(c, f)) > 0 && !c->gone) {
    }
    return n < 0 ? -1 : 0;
}

/* f is finished: no more records will come. A record it cut short is malformed. */
static void end_file(struct cat *c, struct src *f)
{
    if (c->rlen > 0 && !c->skipping) {
        c->st.malformed += !c->counting;
    }
    f->off += (off_t)c->rlen;
    c->rlen = 0;
    c->skipping = false;
}

static void src_close(struct src *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

/* ---- which files -------------------------------------------------------------------- */

static bool same_files(const struct shim_crilog_file *a, size_t na,
                       const struct shim_crilog_file *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (a[i].dev != b[i].dev || a[i].ino != b[i].ino || strcmp(a[i].name, b[i].name) != 0) {
            return false;
        }
    }
    return true;
}

/* Lists path's files until two listings in a row agree: no rotation happened in between,
 * so the listing is whole (a rotation half seen could hide a file). */
static int list_stable(struct cat *c, struct shim_crilog_file **files, size_t *n)
{
    struct shim_crilog_file *a, *b;
    size_t na, nb;

    if (shim_crilog_files(c->path, true, &a, &na, c->err, c->errsz) < 0) {
        return -1;
    }
    for (int tries = 0;; tries++) {
        if (shim_crilog_files(c->path, true, &b, &nb, c->err, c->errsz) < 0) {
            shim_crilog_files_free(a, na);
            return -1;
        }
        bool same = same_files(a, na, b, nb);
        shim_crilog_files_free(a, na);
        if (same || tries == LIST_TRIES) {
            *files = b;
            *n = nb;
            return 0;
        }
        a = b;
        na = nb;
    }
}

/* Opens files[i] as listed. Returns 0, 1 when it is gone or another file took its name
 * since the listing, or -1. */
static int src_open(struct cat *c, const struct shim_crilog_file *files, size_t i, struct src *f)
{
    struct stat st;
    bool current = files[i].stamp == 0;

    *f = (struct src){.fd = -1, .limit = -1};
    if ((f->fd = open(files[i].name, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT) {
            return 1;
        }
        snprintf(c->err, c->errsz, "opening %s: %s", files[i].name, strerror(errno));
        return -1;
    }
    if (fstat(f->fd, &st) < 0 || st.st_dev != files[i].dev || st.st_ino != files[i].ino) {
        src_close(f);
        return 1;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    if (!current) {
        f->stamp = files[i].stamp;
        f->seq = files[i].seq;
    } else if (i > 0) {
        f->stamp = files[i - 1].stamp;
        f->seq = files[i - 1].seq;
    }
    c->st.files++;
    return 0;
}

/* Opens every file of the log, rotated ones first. A file that vanished or changed name
 * since the listing means a rotation got in the way: list again (a few times, then make do). */
static int snapshot(struct cat *c, struct src **srcs, size_t *nsrcs)
{
    for (int tries = 0;; tries++) {
        struct shim_crilog_file *files;
        size_t n, k = 0;
        struct src *v;
        bool again = false;

        if (list_stable(c, &files, &n) < 0) {
            return -1;
        }
        if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
            shim_crilog_files_free(files, n);
            snprintf(c->err, c->errsz, "reading %s: out of memory", c->path);
            return -1;
        }
        for (size_t i = 0; i < n && !again; i++) {
            int r = src_open(c, files, i, &v[k]);
            if (r < 0) {
                shim_crilog_files_free(files, n);
                for (size_t m = 0; m < k; m++) {
                    src_close(&v[m]);
                }
                free(v);
                return -1;
            }
            k += r == 0;
            again = r > 0 && tries < LIST_TRIES;
        }
        shim_crilog_files_free(files, n);
        if (!again) {
            *srcs = v;
            *nsrcs = k;
            return 0;
        }
        for (size_t m = 0; m < k; m++) {
            src_close(&v[m]);
        }
        free(v);
    }
}

static bool after(uint64_t stamp, unsigned seq, const struct src *f)
{
    return stamp > f->stamp || (stamp == f->stamp && seq > f->seq);
}

/* The file that follows f once f was rotated: the next rotated one, or the current file.
 * Returns 1 with *next open, 0 when there is none (yet), or -1. */
static int successor(struct cat *c, const struct src *f, struct src *next)
{
    struct stat st;

    /* The cheap common case: path still names f. */
    if (stat(c->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino) {
        return 0;
    }
    for (int tries = 0; tries < LIST_TRIES; tries++) {
        struct shim_crilog_file *files;
        size_t n, k = 0;
        int r = 0;

        if (list_stable(c, &files, &n) < 0) {
            return -1;
        }
        while (k < n && (files[k].dev != f->dev || files[k].ino != f->ino)) {
            k++;
        }
        if (k < n) {
            k++; /* f is listed: the one after it */
        } else {
            /* f is gone (removed as the oldest): the first file rotated after it. */
            k = 0;
            while (k < n && files[k].stamp != 0 && !after(files[k].stamp, files[k].seq, f)) {
                k++;
            }
        }
        if (k < n) {
            r = src_open(c, files, k, next);
        }
        shim_crilog_files_free(files, n);
        if (k >= n) {
            return 0;
        }
        if (r <= 0) {
            return r == 0 ? 1 : -1;
        }
        /* gone or replaced since the listing: list again */
    }
    return 0;
}

/* Prints what is appended to f and to the files that follow it, until stop() says so. */
static int follow(struct cat *c, struct src *f)
{
    bool stopping = false;

    f->limit = -1;
    for (;;) {
        struct src next;
        ssize_t n = read_some(c, f);
        int r;

        if (n < 0) {
            return -1;
        }
        if (c->gone) {
            return 0;
        }
        if (n > 0) {
            continue;
        }
        if ((r = successor(c, f, &next)) < 0) {
            return -1;
        }
        if (r > 0) {
            /* f is complete (the writer rotates between records): read its end first. */
            if (drain(c, f) < 0) {
                return -1;
            }
            end_file(c, f);
            src_close(f);
            *f = next;
            continue;
        }
        if (out_flush(c) < 0) {
            return -1;
        }
        if (c->gone || stopping) {
            return 0;
        }
        if (c->o->stop != NULL && c->o->stop(c->o->arg)) {
            stopping = true; /* one more round reads what came before the stop */
            continue;
        }
        poll(NULL, 0, IDLE_MS);
    }
}

/* ---- cat ---------------------------------------------------------------------------- */

/* The tail's first pass: counts the lines of the snapshot and sets how many to leave out.
 * The current file is counted up to its last whole record, and the second pass stops there. */
static int count_lines(struct cat *c, struct src *srcs, size_t n)
{
    c->counting = true;
    for (size_t i = 0; i < n; i++) {
        if (drain(c, &srcs[i]) < 0) {
            return -1;
        }
        if (i + 1 < n) {
            end_file(c, &srcs[i]);
        } else {
            srcs[i].limit = srcs[i].off;
        }
    }
    if (!c->o->follow && finish_joins(c) < 0) {
        return -1;
    }
    c->skip = c->count > (uint64_t)c->o->tail ? c->count - (uint64_t)c->o->tail : 0;
    for (size_t i = 0; i < n; i++) {
        srcs[i].off = 0;
    }
    c->j[0].active = c->j[1].active = false;
    c->rlen = 0;
    c->skipping = false;
    c->counting = false;
    return 0;
}

int shim_crilog_cat(const char *path, int out_fd, const struct shim_cat_opts *o,
                    struct shim_cat_stats *st, char *err, size_t errsz)
{
    static const struct shim_cat_opts defaults = {.tail = -1};
    struct cat c = {
        .o = o != NULL ? o : &defaults, .path = path, .out_fd = out_fd, .err = err, .errsz = errsz};
    struct src *srcs = NULL;
    size_t n = 0;
    int rc = -1;

    c.streams = c.o->streams & (SHIM_CAT_STDOUT | SHIM_CAT_STDERR);
    if (c.streams == 0) {
        c.streams = SHIM_CAT_STDOUT | SHIM_CAT_STDERR;
    }
    if ((c.out = malloc(OUT_BUF)) == NULL || (c.rbuf = malloc(READ_BUF)) == NULL) {
        snprintf(err, errsz, "reading %s: out of memory", path);
        goto out;
    }
    if (snapshot(&c, &srcs, &n) < 0) {
        goto out;
    }
    if (n == 0) {
        snprintf(err, errsz, "reading %s: %s", path, strerror(ENOENT));
        goto out;
    }
    if (c.o->tail >= 0 && count_lines(&c, srcs, n) < 0) {
        goto out;
    }
    for (size_t i = 0; i < n && !c.gone; i++) {
        if (drain(&c, &srcs[i]) < 0) {
            goto out;
        }
        if (i + 1 < n) {
            end_file(&c, &srcs[i]);
            src_close(&srcs[i]);
        }
    }
    if (!c.gone && c.o->follow && follow(&c, &srcs[n - 1]) < 0) {
        goto out;
    }
    if (!c.gone && (finish_joins(&c) < 0 || out_flush(&c) < 0)) {
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        src_close(&srcs[i]);
    }
    free(srcs);
    free(c.j[0].buf);
    free(c.j[1].buf);
    free(c.out);
    free(c.rbuf);
    if (st != NULL) {
        *st = c.st;
    }
    return rc;
}
