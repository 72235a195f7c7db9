/* sl_watch.c — which paths match the globs: directory walks, inotify on every directory a
 * glob can match in, a periodic rescan; or, in poll mode, a walk every interval.
 *
 * A glob is split at '/': the leading components without wildcards make a fixed prefix,
 * each later component is matched against the entries of one directory. A walk from the
 * prefix visits every directory a glob can match in and (in inotify mode) watches it, with
 * a record saying which glob and which component its entries are matched by; an event in
 * it is matched the same way, and a new directory there is walked in turn. Every path
 * found, by events or walks, goes on a pending list, sorted and deduplicated before fn is
 * called: several events for one path in one read make one call. */
#include "sl_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |            \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define NAME_EVENTS (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) /* names change */
#define SELF_EVENTS (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)
#define READ_BUF 65536

/* A glob: normalized ("//" made "/"), then split. */
struct glob {
    char *pat;    /* what sl_watch_matches compares with (FNM_PATHNAME) */
    char *prefix; /* the leading components without wildcards: "" (the working
                   * directory), "/", "/var/log" */
    char **comp;  /* the rest, one per directory level, at least one: the last names files */
    size_t ncomp;
};

/* A path the tailer follows. If it is a symlink, its target's directory is watched: a
 * record points here, and an event on the target's name reports path. Allocated one by
 * one so that records can point at it. */
struct fol {
    char *path;
    char *tname; /* the target's name in the watched directory; NULL when none is watched */
    int wd;      /* that directory's watch, or -1 */
    bool stale;  /* to resolve again: the link may point elsewhere now */
};

/* One reason to watch one directory. Several records may share a wd: one directory, several
 * globs, levels or spellings. Kept sorted by wd, to find an event's records by bisection. */
struct rec {
    int wd;
    char *dir;       /* as the walk spelled it; a fol's: its target's directory */
    struct fol *fol; /* NULL for a glob's directory */
    size_t glob;     /* a glob's: the entries of dir are matched by comp[level] */
    size_t level;
    unsigned gen; /* a glob's: the full scan that last passed here */
    dev_t dev;    /* of dir when it was watched: a moved directory is told from a new one */
    ino_t ino;
};

#define RECENT_MAX 256

/* A growable list of owned strings. */
struct list {
    char **v;
    size_t n, cap;
};

/* What events ask for once the whole read is handled (handling changes the records). */
struct job {
    bool gone;   /* dir (and what is under it) is gone; else: walk it */
    size_t glob; /* a walk: from dir, whose entries are matched by comp[level] */
    size_t level;
    char *dir;
};

struct sl_watch {
    struct event_base *base;
    sl_watch_fn *fn;
    void *arg;
    struct glob *globs;
    size_t nglobs;
    struct list excl;
    int ifd; /* -1 in poll mode */
    struct event *ino_ev, *tick_ev;
    struct rec *recs;
    size_t nrecs, caprecs;
    struct fol **fols;
    size_t nfols, capfols;
    struct job *jobs;
    size_t njobs, capjobs;
    struct list pending; /* paths for fn at the next flush */
    /* Rotation by rename: a matched file renamed (to any name) is reported to moved_fn
     * under its new name, so that a file created, written and renamed away before it was
     * looked at is still read. Renames of a name reported so are followed within a read. */
    sl_watch_fn *moved_fn;
    struct list moved;  /* new names for moved_fn at the next flush */
    struct list recent; /* the last RECENT_MAX names reported moved: a rename from one of
                         * them in a later read is followed too (app.log.1 -> .2) */
    uint32_t *cookies;  /* of this read's IN_MOVED_FROM of matched (or moved) files */
    size_t ncookies, capcookies;
    unsigned gen;
    bool resolve; /* some fol is stale */
    int depth;    /* calls of fn in progress */
    bool freed;   /* sl_watch_free from fn: done when the outermost call returns */
    char buf[READ_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
};

/* ---- small helpers ------------------------------------------------------------------- */

/* The array p (*cap elements of size each, n used) with room for one more: p itself, or
 * p moved (*cap updated), or NULL when memory runs out (p unchanged). */
static void *grow(void *p, size_t *cap, size_t n, size_t each)
{
    size_t c = *cap > 0 ? *cap * 2 : 16;
    void *q;

    if (n < *cap) {
        return p;
    }
    if ((q = realloc(p, c * each)) != NULL) {
        *cap = c;
    }
    return q;
}

static int list_push(struct list *l, const char *s)
{
    char **v = grow(l->v, &l->cap, l->n, sizeof(l->v[0]));

    if (v == NULL) {
        return -1;
    }
    l->v = v;
    if ((v[l->n] = strdup(s)) == NULL) {
        return -1;
    }
    l->n++;
    return 0;
}

/* Removes s from l; returns whether it was there. */
static bool list_take(struct list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0) {
            free(l->v[i]);
            l->v[i] = l->v[--l->n];
            return true;
        }
    }
    return false;
}

static bool list_has(const struct list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Remembers s among the last RECENT_MAX names (the oldest goes). */
static void recent_add(struct list *l, const char *s)
{
    if (list_has(l, s)) {
        return;
    }
    if (l->n == RECENT_MAX) {
        free(l->v[0]);
        memmove(&l->v[0], &l->v[1], (l->n - 1) * sizeof(l->v[0]));
        l->n--;
    }
    list_push(l, s);
}

static void list_clear(struct list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does s (n bytes) need fnmatch, or is it a name as it is? */
static bool has_wildcard(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\') {
            return true;
        }
    }
    return false;
}

/* What to hand the kernel for a directory spelled "" (the working directory). */
static const char *dir_arg(const char *dir)
{
    return dir[0] != '\0' ? dir : ".";
}

/* Appends "/name" to the len bytes of buf (PATH_MAX), or just name after "" or "/".
 * Returns the new length, or 0 when it would not fit. */
static size_t join(char *buf, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    size_t sep = len > 0 && buf[len - 1] != '/';

    if (len + sep + nlen >= PATH_MAX) {
        return 0;
    }
    if (sep) {
        buf[len] = '/';
    }
    memcpy(buf + len + sep, name, nlen + 1);
    return len + sep + nlen;
}

/* Is path dir itself or under it? */
static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (n == 0) {
        return path[0] != '/';
    }
    if (strncmp(path, dir, n) != 0) {
        return false;
    }
    return path[n] == '\0' || path[n] == '/' || dir[n - 1] == '/';
}

/* Is the entry at path (of readdir type type) a directory, symlinks followed? */
static bool is_dir(const char *path, unsigned char type)
{
    struct stat st;

    if (type != DT_UNKNOWN && type != DT_LNK) {
        return type == DT_DIR;
    }
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool excluded(const struct sl_watch *w, const char *path)
{
    const char *base = strrchr(path, '/');

    base = base != NULL ? base + 1 : path;
    for (size_t i = 0; i < w->excl.n; i++) {
        const char *ex = w->excl.v[i];
        if (strchr(ex, '/') != NULL ? fnmatch(ex, path, FNM_PATHNAME) == 0
                                    : fnmatch(ex, base, 0) == 0) {
            return true;
        }
    }
    return false;
}

bool sl_watch_matches(const struct sl_watch *w, const char *path)
{
    for (size_t i = 0; i < w->nglobs; i++) {
        if (fnmatch(w->globs[i].pat, path, FNM_PATHNAME) == 0) {
            return !excluded(w, path);
        }
    }
    return false;
}

/* ---- globs ----------------------------------------------------------------------------- */

static void glob_free(struct glob *g)
{
    for (size_t i = 0; i < g->ncomp; i++) {
        free(g->comp[i]);
    }
    free(g->comp);
    free(g->prefix);
    free(g->pat);
}

/* Splits text into g. Returns 0, or -1 with why (a static string); glob_free either way. */
static int glob_parse(struct glob *g, const char *text, const char **why)
{
    size_t len = strlen(text), n = 1, first, k;
    const char *rest, *c, *e;
    char *p;

    memset(g, 0, sizeof(*g));
    *why = "out of memory";
    if (len == 0 || len >= PATH_MAX) {
        *why = len == 0 ? "empty" : "longer than PATH_MAX";
        return -1;
    }
    if ((g->pat = malloc(len + 1)) == NULL) {
        return -1;
    }
    for (p = g->pat; *text != '\0'; text++) {
        if (*text != '/' || p == g->pat || p[-1] != '/') { /* "a//b" is "a/b" */
            *p++ = *text;
        }
    }
    *p = '\0';
    if (p[-1] == '/') {
        *why = "ends with '/': it must name files (\"dir/*.log\")";
        return -1;
    }
    rest = g->pat + (g->pat[0] == '/');
    for (c = rest; *c != '\0'; c++) {
        n += *c == '/';
    }
    /* The walk starts matching at the first component with a wildcard, or the last. */
    first = n - 1;
    for (c = rest, k = 0; k < n; k++, c = e + 1) {
        e = strchrnul(c, '/');
        if (has_wildcard(c, (size_t)(e - c))) {
            first = k;
            break;
        }
    }
    g->ncomp = n - first;
    if ((g->comp = calloc(g->ncomp, sizeof(g->comp[0]))) == NULL) {
        g->ncomp = 0;
        return -1;
    }
    for (c = rest, k = 0; k < n; k++, c = e + 1) {
        e = strchrnul(c, '/');
        if (k == first) {
            /* What precedes, less its last '/': "" for "x", "/" for "/x", "a/b" for "a/b/x" */
            size_t plen = (size_t)(c - g->pat);
            if ((g->prefix = strndup(g->pat, plen > 1 ? plen - 1 : plen)) == NULL) {
                return -1;
            }
        }
        if (k >= first && (g->comp[k - first] = strndup(c, (size_t)(e - c))) == NULL) {
            return -1;
        }
    }
    return 0;
}

/* ---- records ---------------------------------------------------------------------------- */

/* The records of wd: [*lo, *hi). */
static void rec_range(const struct sl_watch *w, int wd, size_t *lo, size_t *hi)
{
    size_t a = 0, b = w->nrecs;

    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (w->recs[mid].wd < wd) {
            a = mid + 1;
        } else {
            b = mid;
        }
    }
    *lo = a;
    for (b = a; b < w->nrecs && w->recs[b].wd == wd; b++) {
    }
    *hi = b;
}

/* Adds a record (dir is copied). Returns it, or NULL when memory runs out. */
static struct rec *rec_add(struct sl_watch *w, int wd, const char *dir, struct fol *fol,
                           size_t glob, size_t level)
{
    struct rec *v = grow(w->recs, &w->caprecs, w->nrecs, sizeof(w->recs[0]));
    struct stat st;
    size_t lo, hi;
    char *d;

    if (v == NULL) {
        return NULL;
    }
    w->recs = v;
    if ((d = strdup(dir)) == NULL) {
        return NULL;
    }
    rec_range(w, wd, &lo, &hi);
    memmove(&w->recs[hi + 1], &w->recs[hi], (w->nrecs - hi) * sizeof(w->recs[0]));
    w->nrecs++;
    w->recs[hi] =
        (struct rec){.wd = wd, .dir = d, .fol = fol, .glob = glob, .level = level, .gen = w->gen};
    if (stat(dir_arg(dir), &st) == 0) {
        w->recs[hi].dev = st.st_dev;
        w->recs[hi].ino = st.st_ino;
    }
    return &w->recs[hi];
}

/* Removes record i; a fol loses its watch. The caller releases the wd (release_wd). */
static void rec_drop(struct sl_watch *w, size_t i)
{
    struct fol *f = w->recs[i].fol;

    if (f != NULL) {
        free(f->tname);
        f->tname = NULL;
        f->wd = -1;
    }
    free(w->recs[i].dir);
    memmove(&w->recs[i], &w->recs[i + 1], (w->nrecs - i - 1) * sizeof(w->recs[0]));
    w->nrecs--;
}

/* The kernel's watch goes once no record needs it. */
static void release_wd(struct sl_watch *w, int wd)
{
    size_t lo, hi;

    rec_range(w, wd, &lo, &hi);
    if (lo == hi) {
        inotify_rm_watch(w->ifd, wd);
    }
}

/* Watches dir for glob g's component level, or marks the record as still needed. */
static void watch_dir(struct sl_watch *w, const char *dir, size_t g, size_t level)
{
    int wd = inotify_add_watch(w->ifd, dir_arg(dir), WATCH_MASK);
    size_t lo, hi;

    if (wd < 0) {
        return; /* not there (yet), or no watches left: the rescan finds what it holds */
    }
    rec_range(w, wd, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct rec *r = &w->recs[i];
        if (r->fol == NULL && r->glob == g && r->level == level && strcmp(r->dir, dir) == 0) {
            r->gen = w->gen;
            return;
        }
    }
    if (rec_add(w, wd, dir, NULL, g, level) == NULL && lo == hi) {
        inotify_rm_watch(w->ifd, wd);
    }
}

/* ---- walks ------------------------------------------------------------------------------ */

static void walk(struct sl_watch *w, size_t g, size_t level, char *buf, size_t len, bool collect);

/* buf (len bytes) is an entry matched by comp[level] of glob g, of readdir type type
 * (DT_UNKNOWN: it may not exist). */
static void visit(struct sl_watch *w, size_t g, size_t level, char *buf, size_t len,
                  unsigned char type, bool collect)
{
    struct stat st;

    if (level + 1 < w->globs[g].ncomp) {
        if (is_dir(buf, type)) {
            walk(w, g, level + 1, buf, len, collect);
        }
    } else if (collect && !is_dir(buf, type) && (type != DT_UNKNOWN || lstat(buf, &st) == 0) &&
               !excluded(w, buf)) {
        list_push(&w->pending, buf);
    }
}

/* Walks the directory buf (len bytes of a PATH_MAX buffer, restored on return) whose
 * entries comp[level] of glob g matches: watches it (inotify mode), adds the files found
 * to the pending list (collect), walks the directories matched. */
static void walk(struct sl_watch *w, size_t g, size_t level, char *buf, size_t len, bool collect)
{
    const char *comp = w->globs[g].comp[level];
    struct dirent *de;
    size_t n;
    DIR *d;

    if (w->ifd >= 0) {
        watch_dir(w, buf, g, level);
    }
    if (!has_wildcard(comp, strlen(comp))) {
        if ((n = join(buf, len, comp)) > 0) {
            visit(w, g, level, buf, n, DT_UNKNOWN, collect);
        }
        buf[len] = '\0';
        return;
    }
    if ((d = opendir(dir_arg(buf))) == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || fnmatch(comp, name, 0) != 0) {
            continue;
        }
        if ((n = join(buf, len, name)) > 0) {
            visit(w, g, level, buf, n, de->d_type, collect);
        }
        buf[len] = '\0';
    }
    closedir(d);
}

static void fol_resolve(struct sl_watch *w, struct fol *f);

/* Drops the glob records the current full scan did not pass by, and their watches. Between
 * full scans every glob record has the current gen: forget_dir marks what goes with
 * another. */
static void sweep(struct sl_watch *w)
{
    for (size_t i = 0; i < w->nrecs;) {
        if (w->recs[i].fol == NULL && w->recs[i].gen != w->gen) {
            int wd = w->recs[i].wd;
            rec_drop(w, i);
            release_wd(w, wd);
        } else {
            i++;
        }
    }
}

/* Every glob from its prefix; with collect, the followed paths too, found or not: a file
 * deleted or renamed away while its event was lost (poll mode, a queue overflow) is told
 * so. In inotify mode, the directories no walk passed are no longer watched, and every
 * followed symlink is resolved again. */
static void full_scan(struct sl_watch *w, bool collect)
{
    char buf[PATH_MAX];

    w->gen++;
    for (size_t g = 0; g < w->nglobs; g++) {
        size_t len = strlen(w->globs[g].prefix);
        memcpy(buf, w->globs[g].prefix, len + 1);
        walk(w, g, 0, buf, len, collect);
    }
    for (size_t i = 0; collect && i < w->nfols; i++) {
        list_push(&w->pending, w->fols[i]->path);
    }
    if (w->ifd < 0) {
        return;
    }
    sweep(w);
    for (size_t i = 0; i < w->nfols; i++) {
        fol_resolve(w, w->fols[i]);
    }
    w->resolve = false;
}

/* Calls fn once for each pending path. fn may call anything here, sl_watch_free too: the
 * list is taken first, and the watcher freed once the outermost call is over. */
static void flush(struct sl_watch *w)
{
    struct list l = w->pending;
    struct list m = w->moved;

    memset(&w->moved, 0, sizeof(w->moved));
    if (m.n > 1) {
        qsort(m.v, m.n, sizeof(m.v[0]), str_cmp);
    }
    w->depth++;
    for (size_t i = 0; i < m.n && !w->freed && w->moved_fn != NULL; i++) {
        if (i == 0 || strcmp(m.v[i], m.v[i - 1]) != 0) {
            recent_add(&w->recent, m.v[i]);
            w->moved_fn(w->arg, m.v[i]);
        }
    }
    w->depth--;
    list_clear(&m);
    if (w->freed) {
        list_clear(&l);
        memset(&w->pending, 0, sizeof(w->pending));
        if (w->depth == 0) {
            w->freed = false;
            sl_watch_free(w);
        }
        return;
    }
    l = w->pending;
    memset(&w->pending, 0, sizeof(w->pending));
    if (l.n > 1) {
        qsort(l.v, l.n, sizeof(l.v[0]), str_cmp);
    }
    w->depth++;
    for (size_t i = 0; i < l.n && !w->freed; i++) {
        if (i == 0 || strcmp(l.v[i], l.v[i - 1]) != 0) {
            w->fn(w->arg, l.v[i]);
        }
    }
    w->depth--;
    list_clear(&l);
    if (w->freed && w->depth == 0) {
        w->freed = false;
        sl_watch_free(w);
    }
}

/* ---- followed symlinks ----------------------------------------------------------------- */

/* Watches the directory of f's target, if f is a symlink to something that exists; drops
 * the watch of a target it no longer points to. The new watch is added before the old one
 * goes, so that a directory shared by both keeps its watch (and its queued events). */
static void fol_resolve(struct sl_watch *w, struct fol *f)
{
    char real[PATH_MAX], *slash, *tname = NULL;
    const char *tdir = NULL;
    int old = f->wd, wd;
    size_t lo, hi, i;
    struct stat st;

    f->stale = false;
    if (lstat(f->path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(f->path, real) != NULL &&
        (slash = strrchr(real, '/')) != NULL) {
        *slash = '\0';
        tdir = slash == real ? "/" : real;
        tname = slash + 1;
    }
    if (old >= 0) {
        rec_range(w, old, &lo, &hi);
        for (i = lo; i < hi && w->recs[i].fol != f; i++) {
        }
        if (i < hi && tdir != NULL && strcmp(w->recs[i].dir, tdir) == 0 &&
            strcmp(f->tname, tname) == 0) {
            return; /* it points where it did */
        }
        if (i < hi) {
            rec_drop(w, i);
        } else { /* never: a fol with a wd has its record */
            free(f->tname);
            f->tname = NULL;
            f->wd = -1;
        }
    }
    if (tdir != NULL && (wd = inotify_add_watch(w->ifd, tdir, WATCH_MASK)) >= 0) {
        if ((tname = strdup(tname)) != NULL && rec_add(w, wd, tdir, f, 0, 0) != NULL) {
            f->tname = tname;
            f->wd = wd;
        } else {
            free(tname);
            release_wd(w, wd);
        }
    }
    if (old >= 0 && old != f->wd) {
        release_wd(w, old);
    }
}

static struct fol *fol_find(const struct sl_watch *w, const char *path, size_t *at)
{
    for (size_t i = 0; i < w->nfols; i++) {
        if (strcmp(w->fols[i]->path, path) == 0) {
            *at = i;
            return w->fols[i];
        }
    }
    return NULL;
}

void sl_watch_follow(struct sl_watch *w, const char *path, bool on)
{
    struct fol *f;
    size_t at;

    if (w == NULL) {
        return;
    }
    f = fol_find(w, path, &at);
    if (on) {
        if (f == NULL) {
            struct fol **v = grow(w->fols, &w->capfols, w->nfols, sizeof(w->fols[0]));
            if (v == NULL) {
                return;
            }
            w->fols = v;
            if ((f = calloc(1, sizeof(*f))) == NULL) {
                return;
            }
            if ((f->path = strdup(path)) == NULL) {
                free(f);
                return;
            }
            f->wd = -1;
            w->fols[w->nfols++] = f;
        }
        if (w->ifd >= 0) {
            fol_resolve(w, f);
        }
        return;
    }
    if (f == NULL) {
        return;
    }
    if (f->wd >= 0) {
        size_t lo, hi;
        int wd = f->wd;
        rec_range(w, wd, &lo, &hi);
        for (size_t i = lo; i < hi; i++) {
            if (w->recs[i].fol == f) {
                rec_drop(w, i);
                break;
            }
        }
        release_wd(w, wd);
    }
    free(f->path);
    free(f);
    w->fols[at] = w->fols[--w->nfols];
}

/* ---- inotify ---------------------------------------------------------------------------- */

static void job_add(struct sl_watch *w, bool gone, size_t g, size_t level, const char *dir)
{
    struct job *v = grow(w->jobs, &w->capjobs, w->njobs, sizeof(w->jobs[0]));
    char *d;

    if (v == NULL) {
        return; /* the rescan does it */
    }
    w->jobs = v;
    if ((d = strdup(dir)) == NULL) {
        return;
    }
    w->jobs[w->njobs++] = (struct job){.gone = gone, .glob = g, .level = level, .dir = d};
}

/* Does r's path no longer name the directory it watches (deleted, moved away, replaced)? */
static bool rec_gone(const struct rec *r)
{
    struct stat st;

    return stat(dir_arg(r->dir), &st) < 0 || st.st_dev != r->dev || st.st_ino != r->ino;
}

/* A name changed in a directory a glob's files are in: a followed symlink there may point
 * elsewhere now. */
static void fol_name_changed(struct sl_watch *w, const char *path)
{
    size_t at;
    struct fol *f = fol_find(w, path, &at);

    if (f != NULL) {
        f->stale = true;
        w->resolve = true;
    }
}

static bool cookie_has(const struct sl_watch *w, uint32_t cookie)
{
    for (size_t i = 0; i < w->ncookies; i++) {
        if (w->cookies[i] == cookie) {
            return true;
        }
    }
    return false;
}

/* A rename in a directory of matched files: the half that leaves a matched name (or a name
 * already reported moved) keeps its cookie; the half that arrives with it is a new name
 * for moved_fn. */
static void track_move(struct sl_watch *w, const struct rec *r, const struct glob *g,
                       const char *name, const struct inotify_event *ev)
{
    char path[PATH_MAX];

    if (w->moved_fn == NULL) {
        return;
    }
    memcpy(path, r->dir, strlen(r->dir) + 1);
    if (join(path, strlen(path), name) == 0) {
        return;
    }
    if ((ev->mask & IN_MOVED_FROM) != 0) {
        bool matched = fnmatch(g->comp[r->level], name, 0) == 0 && !excluded(w, path);
        if ((list_take(&w->moved, path) || matched || list_has(&w->recent, path)) &&
            !cookie_has(w, ev->cookie)) {
            uint32_t *v = grow(w->cookies, &w->capcookies, w->ncookies, sizeof(*v));
            if (v != NULL) {
                w->cookies = v;
                v[w->ncookies++] = ev->cookie;
            }
        }
    } else if (cookie_has(w, ev->cookie)) {
        list_push(&w->moved, path);
    }
}

/* One event: paths to the pending list, walks and removals to the jobs. */
static void on_event(struct sl_watch *w, const struct inotify_event *ev)
{
    const char *name = ev->len > 0 ? ev->name : NULL;
    bool self = (ev->mask & SELF_EVENTS) != 0;
    char path[PATH_MAX];
    size_t lo, hi, n;

    rec_range(w, ev->wd, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        const struct rec *r = &w->recs[i];
        const struct glob *g;

        if (r->fol != NULL) {
            if (self || (name != NULL && strcmp(name, r->fol->tname) == 0)) {
                list_push(&w->pending, r->fol->path);
            }
            if (self) {
                r->fol->stale = true;
                w->resolve = true;
            }
            continue;
        }
        if (self) {
            if ((ev->mask & IN_MOVE_SELF) == 0 || rec_gone(r)) {
                job_add(w, true, 0, 0, r->dir);
            }
            continue;
        }
        g = &w->globs[r->glob];
        if (name != NULL && r->level + 1 == g->ncomp && (ev->mask & IN_ISDIR) == 0 &&
            (ev->mask & (IN_MOVED_FROM | IN_MOVED_TO)) != 0) {
            track_move(w, r, g, name, ev);
        }
        if (name == NULL || fnmatch(g->comp[r->level], name, 0) != 0) {
            continue;
        }
        memcpy(path, r->dir, strlen(r->dir) + 1);
        if ((n = join(path, strlen(path), name)) == 0) {
            continue;
        }
        if (r->level + 1 == g->ncomp) {
            if ((ev->mask & IN_ISDIR) == 0 && !excluded(w, path)) {
                list_push(&w->pending, path);
            }
            if ((ev->mask & NAME_EVENTS) != 0) {
                fol_name_changed(w, path);
            }
        } else if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) != 0 &&
                   is_dir(path, (ev->mask & IN_ISDIR) != 0 ? DT_DIR : DT_UNKNOWN)) {
            job_add(w, false, r->glob, r->level + 1, path);
        }
    }
    if ((ev->mask & IN_IGNORED) != 0) {
        while (lo < hi) { /* the kernel dropped the watch: so do we */
            rec_drop(w, lo);
            hi--;
        }
    }
}

/* dir is gone (deleted, or moved away): the records at or under it whose path names
 * another directory now, or none, go (a directory made since at the same path stays), and
 * the followed paths under it are reported (their files are elsewhere or nowhere now). */
static void forget_dir(struct sl_watch *w, const char *dir)
{
    for (size_t i = 0; i < w->nrecs; i++) {
        if (w->recs[i].fol == NULL && under(w->recs[i].dir, dir) && rec_gone(&w->recs[i])) {
            w->recs[i].gen = w->gen - 1;
        }
    }
    sweep(w);
    for (size_t i = 0; i < w->nfols; i++) {
        if (under(w->fols[i]->path, dir)) {
            list_push(&w->pending, w->fols[i]->path);
        }
    }
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct sl_watch *w = arg;
    ssize_t n = read(fd, w->buf, sizeof(w->buf));
    bool overflow = false;
    char path[PATH_MAX];
    (void)what;

    for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
        const struct inotify_event *ev = (const void *)(w->buf + off);
        off += (ssize_t)(sizeof(*ev) + ev->len);
        if ((ev->mask & IN_Q_OVERFLOW) != 0) {
            overflow = true; /* events were lost: only a full scan knows what changed */
        } else {
            on_event(w, ev);
        }
    }
    for (size_t i = 0; i < w->njobs; i++) {
        struct job *j = &w->jobs[i];
        if (j->gone) {
            forget_dir(w, j->dir);
        } else {
            size_t len = strlen(j->dir);
            memcpy(path, j->dir, len + 1);
            walk(w, j->glob, j->level, path, len, true);
        }
        free(j->dir);
    }
    w->njobs = 0;
    if (overflow) {
        full_scan(w, true);
    }
    for (size_t i = 0; w->resolve && i < w->nfols; i++) {
        if (w->fols[i]->stale) {
            fol_resolve(w, w->fols[i]);
        }
    }
    w->resolve = false;
    w->ncookies = 0; /* a rename's two halves come in one read */
    flush(w);
}

/* ---- the watcher ------------------------------------------------------------------------ */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sl_watch_scan(arg);
}

void sl_watch_on_moved(struct sl_watch *w, sl_watch_fn *fn)
{
    w->moved_fn = fn;
}

void sl_watch_scan(struct sl_watch *w)
{
    full_scan(w, true);
    flush(w);
}

struct sl_watch *sl_watch_new(struct event_base *base, const struct pk_strv *paths,
                              const struct pk_strv *excludes, enum sl_watch_mode mode,
                              int64_t interval_ms, sl_watch_fn *fn, void *arg, char *err,
                              size_t errsz)
{
    struct sl_watch *w = calloc(1, sizeof(*w));
    struct timeval tv = {(time_t)(interval_ms / 1000), (suseconds_t)(interval_ms % 1000) * 1000};
    const char *why;

    if (w == NULL || (w->globs = calloc(paths->n + 1, sizeof(w->globs[0]))) == NULL) {
        snprintf(err, errsz, "out of memory");
        goto fail;
    }
    w->ifd = -1;
    w->base = base;
    w->fn = fn;
    w->arg = arg;
    if (interval_ms <= 0) {
        snprintf(err, errsz, "the %s interval must be positive",
                 mode == SL_WATCH_POLL ? "poll" : "rescan");
        goto fail;
    }
    for (size_t i = 0; i < paths->n; i++, w->nglobs++) {
        if (glob_parse(&w->globs[i], paths->v[i], &why) < 0) {
            snprintf(err, errsz, "--path \"%s\": %s", paths->v[i], why);
            w->nglobs++; /* freed with the others */
            goto fail;
        }
    }
    for (size_t i = 0; excludes != NULL && i < excludes->n; i++) {
        if (excludes->v[i][0] == '\0') {
            snprintf(err, errsz, "--exclude: empty glob");
            goto fail;
        }
        if (list_push(&w->excl, excludes->v[i]) < 0) {
            snprintf(err, errsz, "out of memory");
            goto fail;
        }
    }
    if (mode == SL_WATCH_INOTIFY) {
        if ((w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
            snprintf(err, errsz, "inotify_init1: %s (use --watch poll)", strerror(errno));
            goto fail;
        }
        w->ino_ev = event_new(base, w->ifd, EV_READ | EV_PERSIST, on_inotify, w);
        if (w->ino_ev == NULL || event_add(w->ino_ev, NULL) < 0) {
            snprintf(err, errsz, "cannot watch the inotify descriptor");
            goto fail;
        }
        full_scan(w, false); /* the watches: files are for sl_watch_scan to report */
    }
    w->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, w);
    if (w->tick_ev == NULL || event_add(w->tick_ev, &tv) < 0) {
        snprintf(err, errsz, "out of memory");
        goto fail;
    }
    return w;
fail:
    sl_watch_free(w);
    return NULL;
}

void sl_watch_free(struct sl_watch *w)
{
    if (w == NULL) {
        return;
    }
    if (w->depth > 0) {
        w->freed = true; /* called from fn: flush finishes the job */
        return;
    }
    if (w->ino_ev != NULL) {
        event_free(w->ino_ev);
    }
    if (w->tick_ev != NULL) {
        event_free(w->tick_ev);
    }
    if (w->ifd >= 0) {
        close(w->ifd);
    }
    for (size_t i = 0; i < w->nrecs; i++) {
        free(w->recs[i].dir);
    }
    free(w->recs);
    for (size_t i = 0; i < w->nfols; i++) {
        free(w->fols[i]->tname);
        free(w->fols[i]->path);
        free(w->fols[i]);
    }
    free(w->fols);
    for (size_t i = 0; i < w->njobs; i++) {
        free(w->jobs[i].dir);
    }
    free(w->jobs);
    for (size_t i = 0; i < w->nglobs; i++) {
        glob_free(&w->globs[i]);
    }
    free(w->globs);
    list_clear(&w->excl);
    list_clear(&w->pending);
    list_clear(&w->moved);
    list_clear(&w->recent);
    free(w->cookies);
    free(w);
}
