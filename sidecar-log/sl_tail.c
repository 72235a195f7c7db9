/* sl_tail.c — following files by identity: reading into blocks, rotation, truncation. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pk_log.h"
#include "sl_lines.h"
#include "sl_tail.h"

#define READ_CHUNK (256u * 1024)  /* one read(2) */
#define READS_PER_TURN 16         /* then other files and the outputs get their turn */
#define BLOCK_BYTES (512u * 1024) /* a block is pushed once it holds this much */
#define BLOCK_RECS 8192u
#define FP_RECHECK_NS 1000000000LL /* at EOF, the head is compared at most once a second */

struct file {
    struct file *next;
    struct sl_tail *t;
    char *path; /* the path it is followed by; NULL once another file took it */
    int fd;     /* -1 once closed */
    struct sl_ident id;
    struct sl_src *src; /* holds a reference; src->owner is this file */
    struct sl_lines *lines;
    struct sl_block *cur; /* being filled, not yet pushed */
    uint64_t pushed_end;  /* the end of the last block pushed */
    uint64_t acked;       /* the position acknowledged */
    uint64_t size;        /* at the last fstat */
    unsigned inflight;    /* blocks in the queue */
    bool scheduled;       /* on the ready list */
    struct file *ready_next;
    int64_t grew_ns; /* CLOCK_MONOTONIC of the last read that got bytes */
    int64_t fp_checked_ns;
    uint64_t lines_read, bytes_read;
};

struct sl_tail {
    struct event_base *base;
    const struct sl_conf *conf;
    struct sl_queue *q;
    struct sl_db *db;
    struct sl_watch *w;
    struct file *files;
    struct file *ready;  /* files to read, in order */
    struct event *turn;  /* reads the ready files: a zero timeout, re-armed while any */
    struct event *timer; /* multiline flushes and --rotate-wait, once a second or sooner */
    bool started;        /* the first scan is over */
    bool stopped;
    bool waiting_room;
    struct sl_tail_stats st;
    char buf[READ_CHUNK];
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void arm_turn(struct sl_tail *t)
{
    static const struct timeval now = {0, 0};

    if (!t->stopped && t->ready != NULL && !evtimer_pending(t->turn, NULL)) {
        evtimer_add(t->turn, &now);
    }
}

static void schedule(struct file *f)
{
    struct sl_tail *t = f->t;

    if (f->scheduled || f->fd < 0) {
        return;
    }
    f->scheduled = true;
    f->ready_next = NULL;
    if (t->ready == NULL) {
        t->ready = f;
    } else {
        struct file *last = t->ready;
        while (last->ready_next != NULL) {
            last = last->ready_next;
        }
        last->ready_next = f;
    }
    arm_turn(t);
}

static void unschedule(struct file *f)
{
    struct file **pp = &f->t->ready;

    while (*pp != NULL && *pp != f) {
        pp = &(*pp)->ready_next;
    }
    if (*pp == f) {
        *pp = f->ready_next;
    }
    f->scheduled = false;
}

/* Frees f once it is closed and nothing of it is in the queue. */
static void maybe_free(struct file *f)
{
    struct file **pp;

    if (f->fd >= 0 || f->inflight > 0 || f->cur != NULL) {
        return;
    }
    for (pp = &f->t->files; *pp != f; pp = &(*pp)->next) {
    }
    *pp = f->next;
    f->src->owner = NULL;
    sl_src_unref(f->src);
    sl_lines_free(f->lines);
    free(f->path);
    free(f);
}

/* Pushes f's current block, if it holds a record or moves the position on. */
static void push(struct file *f)
{
    struct sl_block *b = f->cur;
    uint64_t end = sl_lines_resume_offset(f->lines);

    if (b == NULL && end <= f->pushed_end) {
        return;
    }
    if (b == NULL && (b = sl_block_new(f->src, wall_ns())) == NULL) {
        return; /* only the position would have moved: the next block carries it */
    }
    f->cur = NULL;
    b->end = end;
    f->pushed_end = end;
    f->inflight++;
    sl_queue_push(f->t->q, b);
}

static void emit(void *arg, const char *text, size_t len, uint64_t offset, int64_t time_ns,
                 uint32_t flags)
{
    struct file *f = arg;

    for (int tries = 0; tries < 2; tries++) {
        if (f->cur == NULL && (f->cur = sl_block_new(f->src, wall_ns())) == NULL) {
            break;
        }
        if (sl_block_add(f->cur, text, len, offset, time_ns, flags) == 0) {
            f->lines_read++;
            return;
        }
        if (f->cur->nrec == 0) {
            break;
        }
        /* Full (4 GiB) or out of memory: what it holds goes, then one more try. The
         * block's end is where this record starts: it is not in it. */
        struct sl_block *b = f->cur;
        f->cur = NULL;
        b->end = offset;
        f->pushed_end = offset;
        f->inflight++;
        sl_queue_push(f->t->q, b);
    }
    pk_log_error("%s: out of memory: a record at offset %llu is lost", f->src->path,
                 (unsigned long long)offset);
}

/* Closes the file: it was rotated away and read to its end, or cannot be read. Whatever
 * the assembler holds is the file's last record. */
static void file_close(struct file *f, bool finish)
{
    if (f->fd < 0) {
        return;
    }
    if (finish) {
        sl_lines_finish(f->lines, emit, f);
        push(f);
    }
    if (f->path != NULL && f->t->w != NULL) {
        sl_watch_follow(f->t->w, f->path, false);
    }
    unschedule(f);
    close(f->fd);
    f->fd = -1;
    f->t->st.files_open--;
    maybe_free(f);
}

/* f's path names another file now, or none: f drains. */
static void lose_path(struct file *f)
{
    if (f->path == NULL) {
        return;
    }
    if (f->t->w != NULL) {
        sl_watch_follow(f->t->w, f->path, false);
    }
    free(f->path);
    f->path = NULL;
    f->t->st.rotations++;
    schedule(f);
}

/* Starts f again from offset 0: it was truncated or rewritten in place. */
static void restart(struct file *f, const char *why)
{
    pk_log_info("%s: %s: reading it again from the start", f->src->path, why);
    f->t->st.truncations++;
    if (f->cur != NULL) {
        push(f);
    }
    sl_lines_reset(f->lines, 0);
    f->pushed_end = 0;
    lseek(f->fd, 0, SEEK_SET);
    f->id.fp_len = 0; /* new content: its fingerprint is taken from its first bytes */
}

/* At EOF: was the file truncated or rewritten, or has a rotated file been quiet long
 * enough to close? Returns true when there is more to read now. */
static bool at_eof(struct file *f, int64_t now)
{
    struct stat st;
    uint64_t off = sl_lines_offset(f->lines);

    if (fstat(f->fd, &st) < 0) {
        return false;
    }
    f->size = (uint64_t)st.st_size;
    if ((uint64_t)st.st_size < off) {
        restart(f, "truncated");
        return true;
    }
    if (f->id.fp_len > 0 && now - f->fp_checked_ns >= FP_RECHECK_NS) {
        f->fp_checked_ns = now;
        if (sl_ident_same(f->fd, &f->id) == 0) {
            restart(f, "its first bytes changed");
            return true;
        }
    }
    if ((uint64_t)st.st_size > off) {
        return true; /* grew between the read and the fstat */
    }
    if (f->path == NULL || st.st_nlink == 0) {
        if (now - f->grew_ns >= f->t->conf->rotate_wait_ms * 1000000) {
            file_close(f, true);
        }
    }
    return false;
}

/* A file that was empty when first seen, or whose content was replaced, gets its
 * fingerprint with its first bytes, before any record of that content is cut, so that its
 * identity and its records' ids stay the same from then on. Blocks of the old content keep
 * the old source, which still leads to f for their acknowledgements. */
static void take_fingerprint(struct file *f)
{
    struct sl_ident id;
    struct sl_src *src;

    if (f->id.fp_len > 0 || f->cur != NULL || sl_ident_of_fd(f->fd, &id) < 0 || id.fp_len == 0) {
        return;
    }
    src = sl_src_new(f->src->path, id.dev, id.ino, id.fp_hash);
    if (src == NULL) {
        return;
    }
    src->owner = f;
    sl_src_unref(f->src);
    f->src = src;
    f->id = id;
    sl_db_set(f->t->db, &f->id, f->src->path, f->acked);
}

/* Reads f for one turn. Returns true when it has more to read at once. */
static bool file_read(struct file *f)
{
    struct sl_tail *t = f->t;
    int64_t now = mono_ns();

    for (int i = 0; i < READS_PER_TURN; i++) {
        ssize_t n;
        if (sl_queue_room(t->q) < 2 * READ_CHUNK) {
            t->waiting_room = true;
            push(f);
            return false; /* sl_tail_released schedules it again */
        }
        n = read(f->fd, t->buf, sizeof(t->buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            pk_log_error("%s: read: %s; the file is closed", f->src->path, strerror(errno));
            t->st.read_errors++;
            file_close(f, false);
            return false;
        }
        if (n == 0) {
            push(f);
            return f->fd >= 0 && at_eof(f, now);
        }
        if (f->id.fp_len == 0) {
            take_fingerprint(f);
        }
        f->grew_ns = now;
        f->bytes_read += (uint64_t)n;
        if (sl_lines_feed(f->lines, t->buf, (size_t)n, wall_ns(), emit, f) < 0) {
            /* Out of memory: the bytes are read again later. */
            lseek(f->fd, -(off_t)n, SEEK_CUR);
            push(f);
            return false;
        }
        if (f->cur != NULL && (f->cur->len >= BLOCK_BYTES || f->cur->nrec >= BLOCK_RECS)) {
            push(f);
        }
    }
    push(f);
    return true;
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    struct sl_tail *t = arg;
    struct file *mine;
    (void)fd;
    (void)what;

    /* The files ready now each get a turn; those with more go to the back. */
    mine = t->ready;
    t->ready = NULL;
    while (mine != NULL && !t->stopped) {
        struct file *f = mine;
        mine = f->ready_next;
        f->scheduled = false;
        if (f->fd >= 0 && file_read(f)) {
            schedule(f);
        }
    }
    while (mine != NULL) { /* stopped meanwhile */
        struct file *f = mine;
        mine = f->ready_next;
        f->scheduled = false;
    }
    arm_turn(t);
}

/* Once a second: multiline groups that waited long enough, and rotated files gone quiet. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sl_tail *t = arg;
    int64_t now = wall_ns();
    (void)fd;
    (void)what;

    for (struct file *f = t->files, *next; f != NULL; f = next) {
        next = f->next;
        if (f->fd < 0 || t->stopped) {
            continue;
        }
        if (sl_lines_tick(f->lines, now, emit, f) != 0 || f->cur != NULL) {
            push(f);
        }
        if (f->path == NULL) {
            schedule(f); /* a rotated file: its end, and --rotate-wait */
        }
    }
}

static struct file *find_path(struct sl_tail *t, const char *path)
{
    for (struct file *f = t->files; f != NULL; f = f->next) {
        if (f->fd >= 0 && f->path != NULL && strcmp(f->path, path) == 0) {
            return f;
        }
    }
    return NULL;
}

static struct file *find_inode(struct sl_tail *t, uint64_t dev, uint64_t ino)
{
    for (struct file *f = t->files; f != NULL; f = f->next) {
        if (f->fd >= 0 && f->id.dev == dev && f->id.ino == ino) {
            return f;
        }
    }
    return NULL;
}

/* Opens path and follows it from its position, or per --start-at. */
static void file_open(struct sl_tail *t, const char *path)
{
    struct file *f = calloc(1, sizeof(*f));
    struct sl_db_entry *e;
    struct stat st;
    uint64_t off = 0;

    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        pk_log_error("%s: out of memory; not followed", path);
        return;
    }
    f->t = t;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f->fd < 0 || fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        sl_ident_of_fd(f->fd, &f->id) < 0) {
        if (f->fd >= 0 && !S_ISREG(st.st_mode)) {
            errno = EINVAL;
        }
        if (errno != ENOENT) {
            pk_log_warn("%s: %s; not followed", path,
                        errno == EINVAL ? "not a regular file" : strerror(errno));
        }
        if (f->fd >= 0) {
            close(f->fd);
        }
        free(f->path);
        free(f);
        return;
    }
    f->size = (uint64_t)st.st_size;
    e = sl_db_lookup(t->db, f->fd);
    if (e != NULL) {
        f->id = e->id; /* the fingerprint it was first known by: ids stay the same */
        off = e->offset;
        if (off > f->size) {
            pk_log_info("%s: shorter than its saved position: read from the start", path);
            off = 0;
        }
    } else if (!t->started && t->conf->start_at == SL_START_TAIL) {
        off = f->size;
    }
    f->src = sl_src_new(path, f->id.dev, f->id.ino, f->id.fp_hash);
    f->lines = sl_lines_new(&t->conf->lines, off);
    if (f->src == NULL || f->lines == NULL || lseek(f->fd, (off_t)off, SEEK_SET) < 0) {
        pk_log_error("%s: cannot start following it: %s", path, strerror(errno ? errno : ENOMEM));
        close(f->fd);
        sl_src_unref(f->src);
        sl_lines_free(f->lines);
        free(f->path);
        free(f);
        return;
    }
    f->src->owner = f;
    f->acked = f->pushed_end = off;
    f->grew_ns = mono_ns();
    f->fp_checked_ns = f->grew_ns;
    sl_db_set(t->db, &f->id, path, off);
    f->next = t->files;
    t->files = f;
    t->st.files_open++;
    t->st.reopened += e != NULL;
    if (t->w != NULL) {
        sl_watch_follow(t->w, path, true);
    }
    pk_log_debug("%s: followed from offset %llu", path, (unsigned long long)off);
    schedule(f);
}

void sl_tail_path(void *tail, const char *path)
{
    struct sl_tail *t = tail;
    struct file *at, *same;
    struct stat st;

    if (t->stopped) {
        return;
    }
    at = find_path(t, path);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (at != NULL) {
            lose_path(at); /* removed or renamed away: read to its end */
        }
        return;
    }
    if (at != NULL && at->id.dev == (uint64_t)st.st_dev && at->id.ino == (uint64_t)st.st_ino) {
        /* Unchanged in size: nothing to read (a rescan of idle files costs a stat each). */
        if ((uint64_t)st.st_size != sl_lines_offset(at->lines)) {
            schedule(at);
        }
        return;
    }
    same = find_inode(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    if (at != NULL) {
        lose_path(at); /* another file is at its path: rotated */
    }
    if (same != NULL) {
        /* Renamed to a path the globs match too: the same file goes on under it. */
        char *p = strdup(path);
        if (p != NULL) {
            if (same->path != NULL && t->w != NULL) {
                sl_watch_follow(t->w, same->path, false);
            }
            free(same->path);
            same->path = p;
            if (t->w != NULL) {
                sl_watch_follow(t->w, p, true);
            }
        }
        schedule(same);
        return;
    }
    file_open(t, path);
}

void sl_tail_moved(void *tail, const char *path)
{
    struct sl_tail *t = tail;
    struct stat st;
    struct file *f;

    if (t->stopped || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
        find_inode(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino) != NULL) {
        return;
    }
    pk_log_debug("%s: a rotated file not read yet", path);
    file_open(t, path);
    if ((f = find_inode(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) != NULL) {
        lose_path(f); /* read to its end, then closed */
    }
}

void sl_tail_released(void *tail, const struct sl_block *b)
{
    struct sl_tail *t = tail;
    struct file *f = b->src->owner;

    if (f == NULL) {
        return;
    }
    f->inflight--;
    /* A block of content the file no longer has (truncated, rewritten) moves nothing. */
    if (b->src == f->src && b->end != f->acked) {
        f->acked = b->end;
        sl_db_set(t->db, &f->id, f->path != NULL ? f->path : f->src->path, f->acked);
    }
    if (t->waiting_room && sl_queue_room(t->q) >= 4 * READ_CHUNK) {
        t->waiting_room = false;
        for (struct file *g = t->files; g != NULL; g = g->next) {
            schedule(g);
        }
    }
    maybe_free(f);
}

struct sl_tail *sl_tail_new(struct event_base *base, const struct sl_conf *conf, struct sl_queue *q,
                            struct sl_db *db, struct sl_watch *w)
{
    struct sl_tail *t = calloc(1, sizeof(*t));
    struct timeval second = {1, 0};

    if (t == NULL) {
        return NULL;
    }
    t->base = base;
    t->conf = conf;
    t->q = q;
    t->db = db;
    t->w = w;
    t->turn = evtimer_new(base, on_turn, t);
    t->timer = event_new(base, -1, EV_PERSIST, on_timer, t);
    if (t->turn == NULL || t->timer == NULL || event_add(t->timer, &second) < 0) {
        sl_tail_free(t);
        return NULL;
    }
    return t;
}

void sl_tail_watch(struct sl_tail *t, struct sl_watch *w)
{
    t->w = w;
}

void sl_tail_started(struct sl_tail *t)
{
    t->started = true;
}

void sl_tail_mark_seen(struct sl_tail *t)
{
    for (struct file *f = t->files; f != NULL; f = f->next) {
        struct sl_db_entry *e = sl_db_find(t->db, f->id.dev, f->id.ino);
        if (e != NULL) {
            e->seen = true;
        }
    }
}

void sl_tail_stop(struct sl_tail *t)
{
    t->stopped = true;
    for (struct file *f = t->files; f != NULL; f = f->next) {
        if (f->cur != NULL) {
            push(f); /* whole records already cut: they go, the held rest does not */
        }
    }
}

void sl_tail_free(struct sl_tail *t)
{
    if (t == NULL) {
        return;
    }
    while (t->files != NULL) {
        struct file *f = t->files;
        t->files = f->next;
        if (f->fd >= 0) {
            close(f->fd);
        }
        sl_block_free(f->cur);
        f->src->owner = NULL;
        sl_src_unref(f->src);
        sl_lines_free(f->lines);
        free(f->path);
        free(f);
    }
    if (t->turn != NULL) {
        event_free(t->turn);
    }
    if (t->timer != NULL) {
        event_free(t->timer);
    }
    free(t);
}

void sl_tail_each(const struct sl_tail *t, sl_tail_each_fn *fn, void *arg)
{
    for (const struct file *f = t->files; f != NULL; f = f->next) {
        struct sl_lines_stats ls;
        sl_lines_stats(f->lines, &ls);
        struct sl_tail_file_stats st = {
            .path = f->path != NULL ? f->path : f->src->path,
            .lines = f->lines_read,
            .bytes = f->bytes_read,
            .truncated = ls.truncated,
            .dropped_bytes = ls.dropped_bytes,
            .bad = ls.bad,
            .size = f->size,
            .acked = f->acked,
            .rotated = f->path == NULL,
        };
        fn(arg, &st);
    }
}

void sl_tail_stats(const struct sl_tail *t, struct sl_tail_stats *st)
{
    *st = t->st;
    st->waiting_room = t->waiting_room;
}
