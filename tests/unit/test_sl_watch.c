/* test_sl_watch.c — the watcher in a temporary directory: files made, grown, renamed and
 * deleted; directories that appear, move and go; excludes; a followed symlink re-pointed;
 * a queue overflow; poll mode. Every wait has a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sl_watch.h"

#define WAIT_MS 3000     /* the longest any event may take to be reported */
#define QUIET_MS 150     /* how long "not reported" is waited for */
#define NO_RESCAN 600000 /* a rescan interval that never fires during a test */

struct fx {
    char dir[64];
    struct event_base *base;
    struct sl_watch *w;
    char **seen; /* every path fn was called with since the last reset, in order */
    size_t nseen;
    bool follow;   /* fn follows every path it is told of, as the tailer does */
    bool free_now; /* fn frees the watcher */
    char **paths;  /* made by at(), freed at the end */
    size_t npaths;
};

/* ---- helpers ------------------------------------------------------------------------ */

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_sl_watch_XXXXXX");
    if (mkdtemp(fx->dir) == NULL || (fx->base = event_base_new()) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static void reset(struct fx *fx)
{
    for (size_t i = 0; i < fx->nseen; i++) {
        free(fx->seen[i]);
    }
    free(fx->seen);
    fx->seen = NULL;
    fx->nseen = 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    int rc;

    sl_watch_free(fx->w);
    reset(fx);
    for (size_t i = 0; i < fx->npaths; i++) {
        free(fx->paths[i]);
    }
    free(fx->paths);
    event_base_free(fx->base);
    rc = nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return rc;
}

static void on_path(void *arg, const char *path)
{
    struct fx *fx = arg;
    char **v = realloc(fx->seen, (fx->nseen + 1) * sizeof(*v));

    assert_non_null(v);
    fx->seen = v;
    assert_non_null(fx->seen[fx->nseen++] = strdup(path));
    if (fx->follow) {
        sl_watch_follow(fx->w, path, true);
    }
    if (fx->free_now) {
        sl_watch_free(fx->w);
        fx->w = NULL;
        fx->free_now = false;
    }
}

/* fx->dir/rel, valid until the test ends. */
static const char *at(struct fx *fx, const char *rel)
{
    char **v = realloc(fx->paths, (fx->npaths + 1) * sizeof(*v));

    assert_non_null(v);
    fx->paths = v;
    assert_true(asprintf(&fx->paths[fx->npaths], "%s/%s", fx->dir, rel) > 0);
    return fx->paths[fx->npaths++];
}

static size_t count(const struct fx *fx, const char *path)
{
    size_t n = 0;

    for (size_t i = 0; i < fx->nseen; i++) {
        n += strcmp(fx->seen[i], path) == 0;
    }
    return n;
}

/* One turn of the loop, 20 ms at most. */
static void pump(struct fx *fx)
{
    struct timeval most = {0, 20 * 1000};

    event_base_loopexit(fx->base, &most);
    event_base_loop(fx->base, EVLOOP_ONCE);
}

static void wait_for(struct fx *fx, const char *path)
{
    for (long end = now_ms() + WAIT_MS; count(fx, path) == 0;) {
        if (now_ms() > end) {
            fail_msg("%s: not reported in %d ms", path, WAIT_MS);
        }
        pump(fx);
    }
}

static void quiet(struct fx *fx, long ms)
{
    for (long end = now_ms() + ms; now_ms() < end;) {
        pump(fx);
    }
}

static void assert_not_seen(const struct fx *fx, const char *path)
{
    if (count(fx, path) != 0) {
        fail_msg("%s: reported, and should not be", path);
    }
}

static void mkdir_at(struct fx *fx, const char *rel)
{
    assert_int_equal(mkdir(at(fx, rel), 0755), 0);
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* A watcher of fx for the globs (NULL-terminated lists). */
static struct sl_watch *watch(struct fx *fx, const char *const *globs, const char *const *excl,
                              enum sl_watch_mode mode, int64_t interval_ms)
{
    struct pk_strv p = {0}, x = {0};
    char err[256] = "";

    for (; globs != NULL && *globs != NULL; globs++) {
        assert_int_equal(pk_strv_push(&p, *globs), 0);
    }
    for (; excl != NULL && *excl != NULL; excl++) {
        assert_int_equal(pk_strv_push(&x, *excl), 0);
    }
    fx->w = sl_watch_new(fx->base, &p, &x, mode, interval_ms, on_path, fx, err, sizeof(err));
    if (fx->w == NULL) {
        fail_msg("sl_watch_new: %s", err);
    }
    pk_strv_clear(&p);
    pk_strv_clear(&x);
    return fx->w;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_files(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "logs/*.log"), NULL};

    mkdir_at(fx, "logs");
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 0);

    append(at(fx, "logs/a.txt"), "x\n"); /* first: its event comes before b.log's */
    append(at(fx, "logs/a.log"), "one\n");
    wait_for(fx, at(fx, "logs/a.log"));
    assert_not_seen(fx, at(fx, "logs/a.txt"));
    assert_true(sl_watch_matches(fx->w, at(fx, "logs/a.log")));
    assert_false(sl_watch_matches(fx->w, at(fx, "logs/a.txt")));
    assert_false(sl_watch_matches(fx->w, at(fx, "logs/sub/a.log"))); /* '*' stops at '/' */

    reset(fx); /* grown */
    append(at(fx, "logs/a.log"), "two\n");
    wait_for(fx, at(fx, "logs/a.log"));

    reset(fx); /* truncated */
    assert_int_equal(truncate(at(fx, "logs/a.log"), 0), 0);
    wait_for(fx, at(fx, "logs/a.log"));

    reset(fx); /* renamed: the old path and the new one */
    assert_int_equal(rename(at(fx, "logs/a.log"), at(fx, "logs/c.log")), 0);
    wait_for(fx, at(fx, "logs/a.log"));
    wait_for(fx, at(fx, "logs/c.log"));

    reset(fx); /* renamed to a path no glob matches: the old path */
    assert_int_equal(rename(at(fx, "logs/c.log"), at(fx, "logs/c.log.1")), 0);
    wait_for(fx, at(fx, "logs/c.log"));
    assert_not_seen(fx, at(fx, "logs/c.log.1"));

    reset(fx); /* moved in from elsewhere */
    append(at(fx, "outside.log"), "x\n");
    assert_int_equal(rename(at(fx, "outside.log"), at(fx, "logs/in.log")), 0);
    wait_for(fx, at(fx, "logs/in.log"));

    reset(fx); /* deleted */
    assert_int_equal(unlink(at(fx, "logs/in.log")), 0);
    wait_for(fx, at(fx, "logs/in.log"));

    reset(fx); /* a directory is no file */
    mkdir_at(fx, "logs/dir.log");
    append(at(fx, "logs/d.log"), "x\n");
    wait_for(fx, at(fx, "logs/d.log"));
    assert_not_seen(fx, at(fx, "logs/dir.log"));

    reset(fx); /* a full scan: every matching file, once */
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 1);
    assert_string_equal(fx->seen[0], at(fx, "logs/d.log"));
}

/* Events for one path in one read make one call. */
static void test_coalescing(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "co/*.log"), NULL};
    const char *a = at(fx, "co/a.log"), *b = at(fx, "co/b.log");
    int fa, fb;

    mkdir_at(fx, "co");
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    fa = open(a, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    fb = open(b, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fa >= 0 && fb >= 0);
    for (int i = 0; i < 200; i++) { /* interleaved: the kernel merges none of them */
        assert_int_equal(write(fa, "a\n", 2), 2);
        assert_int_equal(write(fb, "b\n", 2), 2);
    }
    close(fa);
    close(fb);
    wait_for(fx, a);
    wait_for(fx, b);
    quiet(fx, 50);
    assert_int_equal(count(fx, a), 1);
    assert_int_equal(count(fx, b), 1);
}

static void test_new_directories(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "pods/*/x.log"), at(fx, "deep/*/*/x.log"), at(fx, "later/*.log"),
                          NULL};

    mkdir_at(fx, "pods");
    mkdir_at(fx, "deep");
    mkdir_at(fx, "stage");
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 0);

    mkdir_at(fx, "pods/p1"); /* a pod started after us */
    append(at(fx, "pods/p1/y.log"), "no\n");
    append(at(fx, "pods/p1/x.log"), "yes\n");
    wait_for(fx, at(fx, "pods/p1/x.log"));
    assert_not_seen(fx, at(fx, "pods/p1/y.log"));

    /* A directory that arrives with its file already in it: found by the walk. */
    mkdir_at(fx, "stage/p2");
    append(at(fx, "stage/p2/x.log"), "yes\n");
    assert_int_equal(rename(at(fx, "stage/p2"), at(fx, "pods/p2")), 0);
    wait_for(fx, at(fx, "pods/p2/x.log"));

    /* Two levels made at once. */
    mkdir_at(fx, "deep/a");
    mkdir_at(fx, "deep/a/b");
    append(at(fx, "deep/a/b/x.log"), "yes\n");
    wait_for(fx, at(fx, "deep/a/b/x.log"));

    /* The pod goes: its file is reported (deleted), and a new one at the same path is
     * watched afresh. */
    reset(fx);
    assert_int_equal(unlink(at(fx, "pods/p1/x.log")), 0);
    assert_int_equal(unlink(at(fx, "pods/p1/y.log")), 0);
    assert_int_equal(rmdir(at(fx, "pods/p1")), 0);
    wait_for(fx, at(fx, "pods/p1/x.log"));
    quiet(fx, 50);
    mkdir_at(fx, "pods/p1");
    append(at(fx, "pods/p1/x.log"), "again\n");
    reset(fx);
    wait_for(fx, at(fx, "pods/p1/x.log"));

    /* A directory moved away is no longer watched: its file's events are not reported
     * under its old path, and a new directory made there is. */
    fx->follow = true; /* so the file moved away is reported, being followed */
    sl_watch_scan(fx->w);
    fx->follow = false;
    reset(fx);
    assert_int_equal(rename(at(fx, "pods/p2"), at(fx, "stage/p2")), 0);
    wait_for(fx, at(fx, "pods/p2/x.log"));
    quiet(fx, 50);
    reset(fx);
    append(at(fx, "stage/p2/x.log"), "elsewhere\n");
    quiet(fx, QUIET_MS);
    assert_not_seen(fx, at(fx, "pods/p2/x.log"));
    mkdir_at(fx, "pods/p2");
    append(at(fx, "pods/p2/x.log"), "new\n");
    wait_for(fx, at(fx, "pods/p2/x.log"));
    sl_watch_follow(fx->w, at(fx, "pods/p2/x.log"), false);

    /* The glob's fixed prefix did not exist: a rescan finds it and watches it. */
    reset(fx);
    mkdir_at(fx, "later");
    append(at(fx, "later/a.log"), "x\n");
    sl_watch_scan(fx->w);
    assert_int_equal(count(fx, at(fx, "later/a.log")), 1);
    reset(fx);
    append(at(fx, "later/b.log"), "x\n");
    wait_for(fx, at(fx, "later/b.log"));
}

static void test_excludes(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "ex/*.log"), at(fx, "ex/*/*.log"), NULL};
    const char *excl[] = {"skip-*.log", at(fx, "ex/secret.log"), at(fx, "ex/private/*"), NULL};

    mkdir_at(fx, "ex");
    mkdir_at(fx, "ex/sub");
    mkdir_at(fx, "ex/private");
    watch(fx, glob, excl, SL_WATCH_INOTIFY, NO_RESCAN);
    append(at(fx, "ex/skip-1.log"), "x\n");
    append(at(fx, "ex/sub/skip-2.log"), "x\n");
    append(at(fx, "ex/secret.log"), "x\n");
    append(at(fx, "ex/private/p.log"), "x\n");
    append(at(fx, "ex/sub/secret.log"), "x\n"); /* a path glob: only that path */
    append(at(fx, "ex/keep.log"), "x\n");
    wait_for(fx, at(fx, "ex/keep.log"));
    wait_for(fx, at(fx, "ex/sub/secret.log"));
    assert_int_equal(fx->nseen, 2);

    assert_true(sl_watch_matches(fx->w, at(fx, "ex/keep.log")));
    assert_false(sl_watch_matches(fx->w, at(fx, "ex/skip-1.log")));
    assert_false(sl_watch_matches(fx->w, at(fx, "ex/sub/skip-2.log")));
    assert_false(sl_watch_matches(fx->w, at(fx, "ex/secret.log")));
    assert_false(sl_watch_matches(fx->w, at(fx, "ex/private/p.log")));

    reset(fx);
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 2);
    assert_string_equal(fx->seen[0], at(fx, "ex/keep.log"));
    assert_string_equal(fx->seen[1], at(fx, "ex/sub/secret.log"));
}

/* Kubernetes' /var/log/containers: symlinks into the pods' directories. */
static void test_symlink_follow(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "containers/*.log"), NULL};
    const char *app = at(fx, "containers/app.log"), *app2 = at(fx, "containers/app2.log");
    const char *t1 = at(fx, "pods/t1/0.log"), *t2 = at(fx, "pods/t2/0.log");

    mkdir_at(fx, "containers");
    mkdir_at(fx, "pods");
    mkdir_at(fx, "pods/t1");
    mkdir_at(fx, "pods/t2");
    append(t1, "1\n");
    append(t2, "2\n");
    assert_int_equal(symlink("../pods/t1/0.log", app), 0);
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    fx->follow = true; /* as the tailer does for every file it opens */
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 1);
    assert_string_equal(fx->seen[0], app);

    /* From here on, the watcher alone sees the link change. An append to the target is an
     * event on the link. */
    fx->follow = false;
    reset(fx);
    append(t1, "more\n");
    wait_for(fx, app);

    /* Re-pointed, atomically (a new link renamed over it). */
    reset(fx);
    assert_int_equal(symlink(t2, at(fx, "containers/.new")), 0);
    assert_int_equal(rename(at(fx, "containers/.new"), app), 0);
    wait_for(fx, app);
    quiet(fx, 50);
    reset(fx);
    append(t1, "old target\n"); /* no longer its target: silence */
    quiet(fx, QUIET_MS);
    assert_not_seen(fx, app);
    append(t2, "new target\n");
    wait_for(fx, app);

    /* Two links to one target: off for one keeps the watch the other needs. */
    assert_int_equal(symlink(t2, app2), 0);
    wait_for(fx, app2);
    sl_watch_follow(fx->w, app2, true);
    sl_watch_follow(fx->w, app, false);
    reset(fx);
    append(t2, "both\n");
    wait_for(fx, app2);
    assert_not_seen(fx, app);
    sl_watch_follow(fx->w, app2, false);
    sl_watch_follow(fx->w, app2, false); /* twice: nothing */
    reset(fx);
    append(t2, "none\n");
    quiet(fx, QUIET_MS);
    assert_int_equal(fx->nseen, 0);

    /* The target deleted: the link is reported. */
    sl_watch_follow(fx->w, app, true);
    reset(fx);
    assert_int_equal(unlink(t2), 0);
    wait_for(fx, app);
}

/* A full queue loses events: a file made then is found by the scan the overflow starts,
 * not by the rescan (which never fires here). */
static void test_overflow(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "ov/*.log"), NULL};
    const char *a = at(fx, "ov/a.log"), *b = at(fx, "ov/b.log");
    long max = 0;
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    int fa, fb;

    if (f == NULL || fscanf(f, "%ld", &max) != 1 || max > 200000) {
        if (f != NULL) {
            fclose(f);
        }
        skip();
    }
    fclose(f);
    mkdir_at(fx, "ov");
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    fa = open(a, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    fb = open(b, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fa >= 0 && fb >= 0);
    sl_watch_follow(fx->w, at(fx, "ov/gone.log"), true); /* deleted while events are lost */
    for (long i = 0; i < max / 2 + 100; i++) {
        assert_int_equal(write(fa, "a", 1), 1);
        assert_int_equal(write(fb, "b", 1), 1);
    }
    close(fa);
    close(fb);
    append(at(fx, "ov/late.log"), "lost event\n");
    wait_for(fx, at(fx, "ov/late.log"));
    wait_for(fx, at(fx, "ov/gone.log"));
    assert_true(count(fx, a) >= 1);
}

static void test_poll(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "poll/*.log"), NULL};
    const char *a = at(fx, "poll/a.log"), *b = at(fx, "poll/b.log");

    mkdir_at(fx, "poll");
    watch(fx, glob, NULL, SL_WATCH_POLL, 30);
    append(a, "x\n");
    wait_for(fx, a);
    reset(fx); /* every tick, every file */
    wait_for(fx, a);

    /* A followed file that goes is reported; one nobody follows is not any more. */
    sl_watch_follow(fx->w, a, true);
    append(b, "x\n");
    wait_for(fx, b);
    assert_int_equal(unlink(a), 0);
    assert_int_equal(unlink(b), 0);
    quiet(fx, 50);
    reset(fx);
    quiet(fx, QUIET_MS);
    assert_true(count(fx, a) >= 1);
    assert_not_seen(fx, b);
    sl_watch_follow(fx->w, a, false);
    reset(fx);
    quiet(fx, QUIET_MS);
    assert_int_equal(fx->nseen, 0);
}

/* Globs as written: relative, with "//", literal, overlapping; no "." or ".." entries. */
static void test_glob_forms(void **state)
{
    struct fx *fx = *state;
    char cwd[PATH_MAX], dbl[PATH_MAX];
    const char *glob[4] = {NULL};
    int fd;

    mkdir_at(fx, "s");
    mkdir_at(fx, "s/sub");
    append(at(fx, "s/a.log"), "x\n");
    append(at(fx, "s/sub/x.log"), "x\n");
    append(at(fx, "x.log"), "x\n");
    append(at(fx, "s/x.log"), "x\n");
    snprintf(dbl, sizeof(dbl), "%s//s//*/x.log", fx->dir);
    glob[0] = dbl;
    glob[1] = at(fx, "s/a.*");
    glob[2] = at(fx, "s/*.log");
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 3); /* not s/../x.log nor s/./x.log; a.log once */
    assert_string_equal(fx->seen[0], at(fx, "s/a.log"));
    assert_string_equal(fx->seen[1], at(fx, "s/sub/x.log"));
    assert_string_equal(fx->seen[2], at(fx, "s/x.log"));
    sl_watch_free(fx->w);
    fx->w = NULL;
    reset(fx);

    /* Relative to the working directory, and a glob without wildcards. */
    fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(fx->dir), 0);
    glob[0] = "s/*.log";
    glob[1] = "s/sub/x.log";
    glob[2] = "s/none.log";
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    sl_watch_scan(fx->w);
    assert_int_equal(fx->nseen, 3);
    assert_string_equal(fx->seen[0], "s/a.log");
    assert_string_equal(fx->seen[1], "s/sub/x.log");
    assert_string_equal(fx->seen[2], "s/x.log");
    reset(fx);
    append("s/none.log", "x\n");
    wait_for(fx, "s/none.log");
    assert_true(sl_watch_matches(fx->w, "s/b.log"));
    assert_false(sl_watch_matches(fx->w, "./s/b.log"));
    assert_int_equal(fchdir(fd), 0);
    close(fd);
}

static void test_bad_args(void **state)
{
    static const struct {
        const char *glob, *excl;
        int64_t interval;
        const char *err;
    } t[] = {
        {"", NULL, 1000, "--path \"\": empty"},
        {"/var/log/", NULL, 1000, "--path \"/var/log/\": ends with '/'"},
        {"/", NULL, 1000, "--path \"/\": ends with '/'"},
        {"/var/log/*.log", "", 1000, "--exclude: empty glob"},
        {"/var/log/*.log", NULL, 0, "the rescan interval must be positive"},
    };
    struct fx *fx = *state;
    char err[256];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct pk_strv p = {0}, x = {0};
        assert_int_equal(pk_strv_push(&p, t[i].glob), 0);
        if (t[i].excl != NULL) {
            assert_int_equal(pk_strv_push(&x, t[i].excl), 0);
        }
        err[0] = '\0';
        assert_null(sl_watch_new(fx->base, &p, &x, SL_WATCH_INOTIFY, t[i].interval, on_path, fx,
                                 err, sizeof(err)));
        if (strncmp(err, t[i].err, strlen(t[i].err)) != 0) {
            fail_msg("case %zu: \"%s\", want \"%s...\"", i, err, t[i].err);
        }
        pk_strv_clear(&p);
        pk_strv_clear(&x);
    }
    sl_watch_free(NULL);
    sl_watch_follow(NULL, "/x", true);
}

/* fn may free the watcher: no call after, nothing touched after. */
static void test_free_in_callback(void **state)
{
    struct fx *fx = *state;
    const char *glob[] = {at(fx, "fr/*.log"), NULL};

    mkdir_at(fx, "fr");
    append(at(fx, "fr/a.log"), "x\n");
    append(at(fx, "fr/b.log"), "x\n");
    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    fx->free_now = true;
    sl_watch_scan(fx->w); /* two paths; the first call frees */
    assert_null(fx->w);
    assert_int_equal(fx->nseen, 1);

    watch(fx, glob, NULL, SL_WATCH_INOTIFY, NO_RESCAN);
    reset(fx);
    fx->free_now = true;
    append(at(fx, "fr/a.log"), "x\n");
    append(at(fx, "fr/b.log"), "x\n");
    wait_for(fx, at(fx, "fr/a.log"));
    assert_null(fx->w);
    assert_int_equal(fx->nseen, 1);
    append(at(fx, "fr/a.log"), "x\n");
    quiet(fx, QUIET_MS);
    assert_int_equal(fx->nseen, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_excludes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_follow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_glob_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
    };
    return cmocka_run_group_tests_name("sl_watch", tests, NULL, NULL);
}
