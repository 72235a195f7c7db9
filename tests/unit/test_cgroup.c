/* test_cgroup.c — pod and container cgroups on this machine's real hierarchies: limits read
 * back, attach, OOM kill, pids limit, cpu quota, kill of escaped processes, removal. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim_cgroup.h"

#define TEST_SECONDS 30 /* each test, children included, is killed by SIGALRM after this */
#define WAIT_MS 10000   /* any one wait for a child: then the test fails and tears down */
#define MIB (1024ULL * 1024)
#define MAX_DIRS 64
#define MAX_KIDS 8
#define MAX_NAMES 8

struct fx {
    const char *skip_why;
    char why[SHIM_ERR_MAX];
    char pod_name[64];
    struct shim_cgroup *pod;
    struct shim_cgroup *ctr;
    char *dirs[MAX_DIRS]; /* every cgroup directory made: all must be gone at teardown */
    size_t ndirs;
    pid_t kids[MAX_KIDS]; /* killed at teardown, whatever happened */
    size_t nkids;
    char names[MAX_NAMES][80]; /* every pod made: emptied and removed at teardown */
    size_t nnames;
};

#define SKIP_UNLESS_READY(fx)                                                                      \
    do {                                                                                           \
        if ((fx)->skip_why != NULL) {                                                              \
            print_message("# skipped: %s\n", (fx)->skip_why);                                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *add_name(struct fx *fx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Names a pod the test makes (formatted), so that teardown removes it whatever happens. */
static const char *add_name(struct fx *fx, const char *fmt, ...)
{
    va_list ap;

    assert_true(fx->nnames < MAX_NAMES);
    va_start(ap, fmt);
    vsnprintf(fx->names[fx->nnames], sizeof(fx->names[0]), fmt, ap);
    va_end(ap);
    return fx->names[fx->nnames++];
}

static void remember(struct fx *fx, const struct shim_cgroup *cg)
{
    const char *d;

    for (size_t i = 0; (d = shim_cgroup_dir(cg, i)) != NULL; i++) {
        assert_true(fx->ndirs < MAX_DIRS);
        fx->dirs[fx->ndirs] = strdup(d);
        assert_non_null(fx->dirs[fx->ndirs]);
        fx->ndirs++;
    }
}

static struct shim_cgroup *child(struct fx *fx, const char *name, const struct shim_resources *r,
                                 long long pids_max)
{
    char err[SHIM_ERR_MAX];
    struct shim_cgroup *cg = shim_cgroup_child_create(fx->pod, name, r, pids_max, err, sizeof(err));

    if (cg == NULL) {
        fail_msg("shim_cgroup_child_create(%s): %s", name, err);
    }
    remember(fx, cg);
    return cg;
}

/* The content of file in the first of cg's hierarchies that has it, without its newline. */
static bool read_in(const struct shim_cgroup *cg, const char *file, char *buf, size_t n)
{
    const char *d;

    for (size_t i = 0; (d = shim_cgroup_dir(cg, i)) != NULL; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", d, file);
        FILE *fp = fopen(path, "re");
        if (fp == NULL) {
            continue;
        }
        size_t r = fread(buf, 1, n - 1, fp);
        fclose(fp);
        buf[r] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return true;
    }
    return false;
}

/* false when no hierarchy of cg has file; else asserts that it holds want. */
static bool holds(const struct shim_cgroup *cg, const char *file, const char *want)
{
    char buf[256];

    if (!read_in(cg, file, buf, sizeof(buf))) {
        return false;
    }
    if (strcmp(buf, want) != 0) {
        fail_msg("%s holds \"%s\", not \"%s\"", file, buf, want);
    }
    return true;
}

static bool has_file(const struct shim_cgroup *cg, const char *file)
{
    char buf[8];
    return read_in(cg, file, buf, sizeof(buf));
}

/* Reads n bytes a child sends, waiting WAIT_MS at most for each part. */
static void read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, WAIT_MS) == 0) {
            fail_msg("the child did not report within %d ms", WAIT_MS);
        }
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            fail_msg("the child went away before it reported (%zd)", r);
        }
        got += (size_t)r;
    }
}

/* Reads what a child wrote before it exits, as a string, waiting WAIT_MS at most. */
static ssize_t read_msg(int fd, char *buf, size_t n)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t r = poll(&pfd, 1, WAIT_MS) == 1 ? read(fd, buf, n - 1) : -1;

    buf[r > 0 ? r : 0] = '\0';
    return r;
}

static void tell(int fd, int v)
{
    if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        _exit(99);
    }
}

typedef void (*body_fn)(int fd, void *arg);

/* Forks a child that enters cg, reports it, then runs body (which may report more on fd)
 * and exits 0. Returns its pid once it is in cg; *fd_out (if not NULL) is the read end. */
static pid_t spawn_in(struct fx *fx, const struct shim_cgroup *cg, body_fn body, void *arg,
                      int *fd_out)
{
    int p[2], status;
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
        alarm(TEST_SECONDS);
        tell(p[1], shim_cgroup_enter(cg) == 0 ? 0 : errno);
        if (body != NULL) {
            body(p[1], arg);
        }
        _exit(0);
    }
    close(p[1]);
    assert_true(fx->nkids < MAX_KIDS);
    fx->kids[fx->nkids++] = pid;
    read_full(p[0], &status, sizeof(status));
    if (status != 0) {
        fail_msg("shim_cgroup_enter: %s", strerror(status));
    }
    if (fd_out != NULL) {
        *fd_out = p[0];
    } else {
        close(p[0]);
    }
    return pid;
}

static void body_pause(int fd, void *arg)
{
    (void)fd;
    (void)arg;
    for (;;) {
        pause();
    }
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Waits up to ms for the child pid to end; its status, or -1 when it has not. */
static int wait_for(pid_t pid, int ms)
{
    struct timespec t0;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed(&t0) * 1000 < ms) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0) {
            return -1;
        }
        usleep(1000);
    }
    return -1;
}

/* Reaps the child pid, which must end within WAIT_MS; its status. */
static int reap(pid_t pid)
{
    int status = wait_for(pid, WAIT_MS);

    if (status == -1) {
        fail_msg("pid %d did not end within %d ms", (int)pid, WAIT_MS);
    }
    return status;
}

/* Reaps every child left (ours and orphans given to us as subreaper), for up to 2 s. */
static void reap_all(void)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p < 0 || (p == 0 && elapsed(&t0) > 2.0)) {
            return;
        }
        if (p == 0) {
            usleep(1000);
        }
    }
}

/* ---- fixture ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    static int serial;
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    *state = fx;
    if (geteuid() != 0) {
        fx->skip_why = "needs root (cgroup directories)";
        return 0;
    }
    alarm(TEST_SECONDS);
    snprintf(fx->pod_name, sizeof(fx->pod_name), "test-cgroup-%d-%d", (int)getpid(), serial++);
    add_name(fx, "%s", fx->pod_name);
    fx->pod = shim_cgroup_pod_create(fx->pod_name, fx->why, sizeof(fx->why));
    if (fx->pod == NULL) {
        if (strstr(fx->why, "Read-only") != NULL || strstr(fx->why, "denied") != NULL ||
            strstr(fx->why, "not permitted") != NULL || strstr(fx->why, "no cgroup") != NULL) {
            fx->skip_why = fx->why; /* cgroups not writable here */
            return 0;
        }
        fail_msg("shim_cgroup_pod_create: %s", fx->why);
    }
    remember(fx, fx->pod);
    return 0;
}

/* Whatever a failed test left of the pod called name: made again (the same directories),
 * emptied and removed. */
static void clean_pod(const char *name)
{
    char err[SHIM_ERR_MAX];
    struct shim_cgroup *cg = shim_cgroup_pod_create(name, err, sizeof(err));

    shim_cgroup_kill_all(cg);
    shim_cgroup_destroy(cg);
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    int rc = 0;

    for (size_t i = 0; i < fx->nkids; i++) {
        kill(fx->kids[i], SIGKILL);
    }
    if (fx->pod != NULL && shim_cgroup_kill_all(fx->pod) < 0) {
        print_message("# kill_all: %s\n", strerror(errno));
        rc = -1;
    }
    reap_all();
    if (shim_cgroup_destroy(fx->ctr) < 0) {
        print_message("# destroy of the container's cgroup: %s\n", strerror(errno));
        rc = -1;
    }
    if (shim_cgroup_destroy(fx->pod) < 0) {
        print_message("# destroy of the pod's cgroup: %s\n", strerror(errno));
        rc = -1;
    }
    for (size_t i = 0; i < fx->ndirs; i++) {
        struct stat st;
        if (stat(fx->dirs[i], &st) == 0 || errno != ENOENT) {
            print_message("# left behind: %s\n", fx->dirs[i]);
            rc = -1;
        }
        free(fx->dirs[i]);
    }
    for (size_t i = 0; i < fx->nnames; i++) {
        clean_pod(fx->names[i]);
    }
    reap_all();
    alarm(0);
    free(fx);
    return rc;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Names become directory names that can never be a control file. */
static void test_sanitize(void **state)
{
    static const struct {
        const char *in, *out; /* out NULL: refused */
    } cases[] = {
        {"web", "web"},
        {"Web-1", "web-1"},
        {"my pod/x", "my_pod_x"},
        {"a.b", "_a.b"},
        {"memory.max", "_memory.max"},
        {"cgroup.procs", "_cgroup.procs"},
        {"tasks", "_tasks"},
        {"release_agent", "_release_agent"},
        {"notify_on_release", "_notify_on_release"},
        {"_x", "__x"},
        {"..", "_.."},
        {".", "_."},
        {"\xc3\xbc", "___"}, /* "ü": two bytes, both replaced, then the '_' prefix */
        {"ns_pod", "ns_pod"},
        {"", NULL},
    };
    char out[NAME_MAX + 1], big[300];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = shim_cgroup_sanitize(cases[i].in, out, sizeof(out));
        if (cases[i].out == NULL) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(out, cases[i].out);
    }
    memset(big, 'a', NAME_MAX);
    big[NAME_MAX] = '\0';
    assert_int_equal(shim_cgroup_sanitize(big, out, sizeof(out)), 0);
    big[NAME_MAX - 1] = '.'; /* the prefix would make it NAME_MAX + 1 */
    assert_int_equal(shim_cgroup_sanitize(big, out, sizeof(out)), -1);
    assert_int_equal(shim_cgroup_sanitize("abc", out, 3), -1);
    assert_int_equal(shim_cgroup_sanitize("abc", out, 4), 0);
    assert_int_equal(shim_cgroup_sanitize("a.c", out, 4), -1);
}

/* A NULL cgroup is "no cgroup": every call is a harmless no-op. */
static void test_null_is_no_cgroup(void **state)
{
    struct shim_cgroup_usage u;

    (void)state;
    assert_int_equal(shim_cgroup_enter(NULL), 0);
    assert_false(shim_cgroup_oom_killed(NULL));
    assert_int_equal(shim_cgroup_kill_all(NULL), 0);
    assert_int_equal(shim_cgroup_destroy(NULL), 0);
    assert_null(shim_cgroup_dir(NULL, 0));
    shim_cgroup_usage(NULL, &u);
    assert_true(u.memory_bytes == -1 && u.pids == -1 && u.cpu_usec == -1);
}

/* memory 32Mi, cpu 500m (request 250m), pids 20: the files say exactly that; a limit
 * without a request gives the request; a tiny cpu limit gets the kubelet's minimum. */
static void test_limits_read_back(void **state)
{
    struct fx *fx = *state;
    struct shim_resources r = {
        .memory_limit = 32 * MIB, .cpu_limit_millis = 500, .cpu_request_millis = 250, .set = true};
    struct shim_cgroup *only_limit, *tiny;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "app", &r, 20);
    assert_true(holds(fx->ctr, "memory.limit_in_bytes", "33554432") ||
                holds(fx->ctr, "memory.max", "33554432"));
    if (has_file(fx->ctr, "memory.max")) {
        assert_true(!has_file(fx->ctr, "memory.swap.max") ||
                    holds(fx->ctr, "memory.swap.max", "0"));
        assert_true(holds(fx->ctr, "memory.oom.group", "1"));
    }
    if (has_file(fx->ctr, "cpu.max")) {
        assert_true(holds(fx->ctr, "cpu.max", "50000 100000"));
        assert_true(holds(fx->ctr, "cpu.weight", "10")); /* shares 256 */
    } else {
        assert_true(holds(fx->ctr, "cpu.cfs_period_us", "100000"));
        assert_true(holds(fx->ctr, "cpu.cfs_quota_us", "50000"));
        assert_true(holds(fx->ctr, "cpu.shares", "256"));
    }
    assert_true(holds(fx->ctr, "pids.max", "20"));

    only_limit =
        child(fx, "only-limit", &(struct shim_resources){.cpu_limit_millis = 1500, .set = true}, 0);
    if (has_file(only_limit, "cpu.max")) {
        assert_true(holds(only_limit, "cpu.max", "150000 100000"));
        assert_true(holds(only_limit, "cpu.weight", "59")); /* shares 1536 */
    } else {
        assert_true(holds(only_limit, "cpu.cfs_quota_us", "150000"));
        assert_true(holds(only_limit, "cpu.shares", "1536"));
    }
    assert_true(holds(only_limit, "pids.max", "max"));
    tiny = child(fx, "tiny", &(struct shim_resources){.cpu_limit_millis = 5, .set = true}, 0);
    assert_true(holds(tiny, "cpu.max", "1000 100000") ||
                (holds(tiny, "cpu.cfs_quota_us", "1000") && holds(tiny, "cpu.shares", "5")));
    assert_int_equal(shim_cgroup_destroy(only_limit), 0);
    assert_int_equal(shim_cgroup_destroy(tiny), 0);
}

/* A forked child that enters the container's cgroup is in it in every hierarchy. */
static void test_enter(void **state)
{
    struct fx *fx = *state;
    struct shim_cgroup_usage u;
    char path[64], suffix[128], line[512];
    size_t ndirs = 0, nlines = 0;
    FILE *fp;
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "app", NULL, 0);
    while (shim_cgroup_dir(fx->ctr, ndirs) != NULL) {
        print_message("# %s\n", shim_cgroup_dir(fx->ctr, ndirs));
        ndirs++;
    }
    pid = spawn_in(fx, fx->ctr, body_pause, NULL, NULL);
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    snprintf(suffix, sizeof(suffix), ":/podkit/%s/app\n", fx->pod_name);
    fp = fopen(path, "re");
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t n = strlen(line), s = strlen(suffix);
        nlines += n >= s && strcmp(line + n - s, suffix) == 0;
    }
    fclose(fp);
    assert_int_equal(nlines, ndirs); /* one line per hierarchy podkit uses */
    shim_cgroup_usage(fx->ctr, &u);
    if (u.pids >= 0) {
        assert_int_equal(u.pids, 1);
    }
    if (u.memory_bytes >= 0) {
        assert_true(u.memory_bytes < 64 * (long long)MIB);
    }
    assert_int_equal(shim_cgroup_kill_all(fx->ctr), 0);
    reap(pid);
}

static void body_hog(int fd, void *arg)
{
    size_t size = 64 * MIB;
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    (void)fd;
    (void)arg;
    if (p == MAP_FAILED) {
        _exit(98);
    }
    for (size_t i = 0; i < size; i += (size_t)page) {
        p[i] = 1;
    }
    _exit(0); /* not reached with a 32 MiB limit */
}

/* A child touching 64 MiB under a 32 MiB limit is OOM-killed, and the cgroup says so. */
static void test_oom_kill(void **state)
{
    struct fx *fx = *state;
    struct shim_resources r = {.memory_limit = 32 * MIB, .set = true};
    int status;
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "hog", &r, 0);
    assert_false(shim_cgroup_oom_killed(fx->ctr));
    pid = spawn_in(fx, fx->ctr, body_hog, NULL, NULL);
    status = reap(pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(shim_cgroup_oom_killed(fx->ctr));
}

static void body_fork_bomb(int fd, void *arg)
{
    int forked = 0, err = 0;

    (void)arg;
    for (int i = 0; i < 200; i++) {
        pid_t p = fork();
        if (p == 0) {
            close(fd);
            alarm(TEST_SECONDS); /* alarms are not inherited */
            for (;;) {
                pause(); /* until kill_all */
            }
        }
        if (p < 0) {
            err = errno;
            break;
        }
        forked++;
    }
    tell(fd, forked);
    tell(fd, err);
    body_pause(fd, arg);
}

/* pids.max 20: the 20th task cannot fork (EAGAIN); kill_all ends all of them. */
static void test_fork_bomb(void **state)
{
    struct fx *fx = *state;
    struct shim_cgroup_usage u;
    int fd, forked, err, status;
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "bomb", NULL, 20);
    pid = spawn_in(fx, fx->ctr, body_fork_bomb, NULL, &fd);
    read_full(fd, &forked, sizeof(forked));
    read_full(fd, &err, sizeof(err));
    close(fd);
    assert_int_equal(forked, 19); /* itself and 19 children */
    assert_int_equal(err, EAGAIN);
    shim_cgroup_usage(fx->ctr, &u);
    assert_int_equal(u.pids, 20);
    assert_int_equal(shim_cgroup_kill_all(fx->ctr), 0);
    status = reap(pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    reap_all(); /* the orphans came to us; pids counts a task until it is reaped */
    shim_cgroup_usage(fx->ctr, &u);
    assert_int_equal(u.pids, 0);
}

static void body_busy(int fd, void *arg)
{
    struct timespec t0;
    volatile unsigned long spin = 0;

    (void)fd;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed(&t0) < 1.0) {
        for (int i = 0; i < 10000; i++) {
            spin++;
        }
    }
}

/* cpu 500m: a busy loop of 1 s uses about 0.5 s of CPU. The ceiling is the quota's and
 * holds whatever the machine does. For the floor the child must get half a core: a request
 * of 64 cores (cpu.shares 65536 against 1024 per busy task elsewhere) gives it that on a
 * loaded machine too. */
static void test_cpu_limit(void **state)
{
    struct fx *fx = *state;
    struct shim_resources r = {.cpu_limit_millis = 500, .cpu_request_millis = 64000, .set = true};
    struct shim_cgroup_usage u;
    int status;
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "busy", &r, 0);
    pid = spawn_in(fx, fx->ctr, body_busy, NULL, NULL);
    status = reap(pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    shim_cgroup_usage(fx->ctr, &u);
    print_message("# cpu used in 1 s under a 500m limit: %.3f s\n", (double)u.cpu_usec / 1e6);
    assert_true(u.cpu_usec >= 0);
    assert_true(u.cpu_usec <= 650000);
    assert_true(u.cpu_usec >= 350000);
}

static void on_alarm(int sig)
{
    (void)sig;
    _exit(3);
}

/* The grandchild double-forks out of its parent, into a pid namespace of its own. */
static void body_escape(int fd, void *arg)
{
    pid_t b;

    (void)arg;
    b = fork();
    if (b == 0) {
        pid_t c;
        if (unshare(CLONE_NEWPID) < 0) {
            tell(fd, -errno);
            _exit(1);
        }
        c = fork(); /* pid 1 of a new pid namespace; its host pid is c */
        if (c == 0) {
            /* A namespace's init ignores the kernel's SIGALRM unless it has a handler. */
            signal(SIGALRM, on_alarm);
            close(fd);
            setsid();
            alarm(TEST_SECONDS);
            for (;;) {
                pause();
            }
        }
        tell(fd, c);
        _exit(0);
    }
    waitpid(b, NULL, 0);
    tell(fd, 0); /* the grandchild's parent is gone */
    body_pause(fd, arg);
}

/* kill_all of the pod reaches a process that left its parent and its pid namespace. */
static void test_kill_all_escaped(void **state)
{
    struct fx *fx = *state;
    int fd, c, done, status;
    pid_t a;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "app", NULL, 0);
    a = spawn_in(fx, fx->ctr, body_escape, NULL, &fd);
    read_full(fd, &c, sizeof(c));
    if (c < 0) {
        fail_msg("unshare(CLONE_NEWPID): %s", strerror(-c));
    }
    read_full(fd, &done, sizeof(done));
    close(fd);
    /* Its parent gone, it came to us (the subreaper), and it lives. */
    assert_int_equal(waitpid(c, &status, WNOHANG), 0);
    assert_int_equal(shim_cgroup_kill_all(fx->pod), 0);
    status = wait_for(c, 2000);
    assert_true(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    status = reap(a);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(shim_cgroup_kill_all(fx->pod), 0); /* empty: at once */
}

/* destroy removes the directories, children first, in either order; a reused pod name
 * gives the same directories; a cgroup still holding a process is left, with EBUSY. */
static void test_destroy(void **state)
{
    struct fx *fx = *state;
    char err[SHIM_ERR_MAX];
    const char *name;
    struct shim_cgroup *pod, *again, *a, *b, *busy;
    struct timespec t0;
    struct stat st;
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    assert_int_equal(shim_cgroup_destroy(NULL), 0);
    name = add_name(fx, "%s-d", fx->pod_name);
    pod = shim_cgroup_pod_create(name, err, sizeof(err));
    assert_non_null(pod);
    remember(fx, pod);
    again = shim_cgroup_pod_create(name, err, sizeof(err));
    assert_non_null(again);
    assert_string_equal(shim_cgroup_dir(again, 0), shim_cgroup_dir(pod, 0));
    a = shim_cgroup_child_create(pod, "a", NULL, 0, err, sizeof(err));
    assert_non_null(a);
    b = shim_cgroup_child_create(pod, "b", NULL, 5, err, sizeof(err));
    assert_non_null(b);
    remember(fx, a);
    remember(fx, b);
    assert_int_equal(shim_cgroup_destroy(a), 0);   /* a child first */
    assert_int_equal(shim_cgroup_destroy(pod), 0); /* the pod before its child b */
    for (size_t i = 0; shim_cgroup_dir(b, i) != NULL; i++) {
        assert_int_equal(stat(shim_cgroup_dir(b, i), &st), -1);
        assert_int_equal(stat(shim_cgroup_dir(again, i), &st), -1);
    }
    assert_int_equal(shim_cgroup_destroy(b), 0);     /* already gone */
    assert_int_equal(shim_cgroup_destroy(again), 0); /* likewise */

    fx->ctr = child(fx, "app", NULL, 0);
    busy = child(fx, "app", NULL, 0); /* the same directories */
    pid = spawn_in(fx, fx->ctr, body_pause, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(shim_cgroup_destroy(busy), -1);
    assert_int_equal(errno, EBUSY);
    assert_true(elapsed(&t0) < SHIM_CGROUP_RMDIR_MS / 1000.0 + 0.5);
    assert_int_equal(shim_cgroup_kill_all(fx->ctr), 0);
    reap(pid);
}

/* Without limits every file says "unlimited", and the cgroup still attaches and kills. */
static void test_no_limits(void **state)
{
    struct fx *fx = *state;
    char buf[64];
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    fx->ctr = child(fx, "plain", NULL, 0);
    if (read_in(fx->ctr, "memory.limit_in_bytes", buf, sizeof(buf))) {
        assert_true(strtoull(buf, NULL, 10) >= (1ULL << 62)); /* v1's "no limit" */
    } else {
        assert_true(!has_file(fx->ctr, "memory.max") || holds(fx->ctr, "memory.max", "max"));
    }
    assert_true(holds(fx->ctr, "cpu.cfs_quota_us", "-1") ||
                holds(fx->ctr, "cpu.max", "max 100000") || !has_file(fx->ctr, "cpu.stat"));
    assert_true(holds(fx->ctr, "cpu.shares", "1024") || holds(fx->ctr, "cpu.weight", "100") ||
                !has_file(fx->ctr, "cpu.stat"));
    assert_true(holds(fx->ctr, "pids.max", "max") || !has_file(fx->ctr, "pids.current"));
    assert_false(shim_cgroup_oom_killed(fx->ctr));
    pid = spawn_in(fx, fx->ctr, body_pause, NULL, NULL);
    assert_int_equal(shim_cgroup_kill_all(fx->pod), 0);
    reap(pid);
    assert_int_equal(shim_cgroup_kill_all(fx->ctr), 0);
}

/* Odd names become safe directory names below podkit/. */
static void test_odd_names(void **state)
{
    struct fx *fx = *state;
    char err[SHIM_ERR_MAX], want[96];
    const char *name;
    struct shim_cgroup *pod, *ctr;

    SKIP_UNLESS_READY(fx);
    name = add_name(fx, "%s Odd/../Name", fx->pod_name);
    pod = shim_cgroup_pod_create(name, err, sizeof(err));
    assert_non_null(pod);
    remember(fx, pod);
    snprintf(want, sizeof(want), "/podkit/_%s_odd_.._name", fx->pod_name);
    for (size_t i = 0; shim_cgroup_dir(pod, i) != NULL; i++) {
        const char *d = shim_cgroup_dir(pod, i);
        assert_true(strlen(d) > strlen(want));
        assert_string_equal(d + strlen(d) - strlen(want), want);
    }
    ctr = shim_cgroup_child_create(pod, "memory.max", NULL, 0, err, sizeof(err));
    assert_non_null(ctr);
    remember(fx, ctr);
    for (size_t i = 0; shim_cgroup_dir(ctr, i) != NULL; i++) {
        const char *d = shim_cgroup_dir(ctr, i);
        assert_string_equal(strrchr(d, '/'), "/_memory.max");
    }
    assert_null(shim_cgroup_child_create(pod, "", NULL, 0, err, sizeof(err)));
    assert_null(shim_cgroup_child_create(pod, "x", NULL, -1, err, sizeof(err)));
    assert_non_null(strstr(err, "negative"));
    assert_int_equal(shim_cgroup_destroy(ctr), 0);
    assert_int_equal(shim_cgroup_destroy(pod), 0);
}

/* Where memory is a v1 hierarchy, its mount point, found the way the module finds it. */
static bool memory_v1_mount(char *out, size_t n)
{
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    char line[1024];
    bool found = false;

    while (fp != NULL && !found && fgets(line, sizeof(line), fp) != NULL) {
        char mnt[512], *dash = strstr(line, " - cgroup ");
        if (dash != NULL && strstr(dash, ",memory") != NULL &&
            sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
            snprintf(out, n, "%s", mnt);
            found = true;
        }
    }
    if (fp != NULL) {
        fclose(fp);
    }
    return found;
}

/* In a mount namespace where the memory hierarchy is unmounted: a memory limit is an error
 * naming the controller; a container without one, or with a cpu limit, works. */
static void test_missing_controller(void **state)
{
    struct fx *fx = *state;
    char mnt[512], msg[SHIM_ERR_MAX + 64] = "";
    const char *name;
    int p[2], status;
    pid_t pid;

    SKIP_UNLESS_READY(fx);
    if (!memory_v1_mount(mnt, sizeof(mnt))) {
        print_message("# skipped: memory is not a v1 hierarchy here; on v2 it cannot be hidden "
                      "without touching the root's subtree_control\n");
        skip();
    }
    name = add_name(fx, "%s-m", fx->pod_name);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[SHIM_ERR_MAX], out[sizeof(msg)];
        struct shim_cgroup *pod, *with_mem, *plain, *cpu;
        struct stat st;
        bool gone = true;

        close(p[0]);
        alarm(TEST_SECONDS);
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
            umount2(mnt, MNT_DETACH) < 0) {
            dprintf(p[1], "namespace: %s", strerror(errno));
            _exit(1);
        }
        pod = shim_cgroup_pod_create(name, err, sizeof(err));
        if (pod == NULL) {
            dprintf(p[1], "pod_create: %s", err);
            _exit(1);
        }
        with_mem = shim_cgroup_child_create(
            pod, "mem", &(struct shim_resources){.memory_limit = 32 * MIB, .set = true}, 0, err,
            sizeof(err));
        snprintf(out, sizeof(out), "%s", with_mem == NULL ? err : "made anyway");
        plain = shim_cgroup_child_create(pod, "plain", NULL, 0, err, sizeof(err));
        cpu = shim_cgroup_child_create(
            pod, "cpu", &(struct shim_resources){.cpu_limit_millis = 100, .set = true}, 0, err,
            sizeof(err));
        if (plain == NULL || cpu == NULL) {
            snprintf(out, sizeof(out), "plain or cpu: %s", err);
        }
        for (size_t i = 0; shim_cgroup_dir(pod, i) != NULL; i++) {
            gone = gone && strstr(shim_cgroup_dir(pod, i), mnt) != shim_cgroup_dir(pod, i);
        }
        char first[PATH_MAX];
        snprintf(first, sizeof(first), "%s", shim_cgroup_dir(pod, 0));
        shim_cgroup_destroy(with_mem);
        shim_cgroup_destroy(plain);
        shim_cgroup_destroy(cpu);
        if (shim_cgroup_destroy(pod) < 0 || stat(first, &st) == 0 || !gone) {
            snprintf(out, sizeof(out), "destroy left %.300s, or the memory hierarchy was used",
                     first);
        }
        dprintf(p[1], "%s", out);
        _exit(0);
    }
    close(p[1]);
    read_msg(p[0], msg, sizeof(msg));
    close(p[0]);
    status = reap(pid);
    print_message("# %s\n", msg);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(msg, "resources.limits.memory needs the memory cgroup controller, "
                             "which is not mounted");
}

/* Unmounts every v1 hierarchy (v2) or the cgroup2 one (!v2) in the caller's (new,
 * private) mount namespace, mounting a cgroup2 one (v2) when there was none; whether a
 * hierarchy of the kind wanted is left. */
static bool leave_only(bool v2)
{
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    char line[1024], mnt[64][512];
    size_t n = 0;
    bool left = false;

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        bool is_v2 = strstr(line, " - cgroup2 ") != NULL;
        left = left || (is_v2 == v2 && (is_v2 || strstr(line, " - cgroup ") != NULL));
        if (is_v2 != v2 && (is_v2 || strstr(line, " - cgroup ") != NULL) && n < 64 &&
            sscanf(line, "%*s %*s %*s %*s %511s", mnt[n]) == 1) {
            n++;
        }
    }
    if (fp != NULL) {
        fclose(fp);
    }
    for (size_t i = 0; i < n; i++) {
        umount2(mnt[i], MNT_DETACH);
    }
    if (v2 && !left) {
        /* A v1-only host (this project's CI machines): mount the cgroup2 hierarchy here,
         * over a private tmpfs. The controllers stay with their v1 hierarchies, so it tracks
         * and kills (cgroup.procs, cgroup.kill) but sets no limit: what this test checks. */
        left = mount("none", "/sys/fs/cgroup", "tmpfs", 0, "mode=755") == 0 &&
               mkdir("/sys/fs/cgroup/unified", 0755) == 0 &&
               mount("none", "/sys/fs/cgroup/unified", "cgroup2", 0, NULL) == 0;
    }
    return left;
}

/* What the child of test_cgroup2_alone and test_v1_alone checks; NULL when all is well. */
static const char *alone(bool v2, const char *name, char *err, size_t errsz)
{
    struct shim_cgroup *pod, *ctr;
    int p[2], status, entered = -1;
    pid_t g;

    if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
        return "unshare(CLONE_NEWNS)";
    }
    if (!leave_only(v2)) {
        return "skip";
    }
    pod = shim_cgroup_pod_create(name, err, errsz);
    if (pod == NULL) {
        return err;
    }
    if (v2 && shim_cgroup_dir(pod, 1) != NULL) {
        return "more than the cgroup2 hierarchy used";
    }
    ctr = shim_cgroup_child_create(pod, "app", NULL, 0, err, errsz);
    if (ctr == NULL || pipe(p) < 0) {
        return err;
    }
    g = fork();
    if (g == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
        alarm(TEST_SECONDS);
        tell(p[1], shim_cgroup_enter(ctr));
        closefrom(0); /* holds no pipe open: the test never waits for it */
        for (;;) {
            pause();
        }
    }
    close(p[1]);
    if (g < 0 || read(p[0], &entered, sizeof(entered)) != sizeof(entered) || entered != 0) {
        return "fork or shim_cgroup_enter";
    }
    if (shim_cgroup_kill_all(pod) < 0) {
        return "shim_cgroup_kill_all";
    }
    status = wait_for(g, 3000);
    if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        return "the process in the cgroup was not killed";
    }
    snprintf(err, errsz, "%s", shim_cgroup_dir(pod, 0));
    if (shim_cgroup_destroy(ctr) < 0 || shim_cgroup_destroy(pod) < 0 || access(err, F_OK) == 0) {
        return "destroy";
    }
    return NULL;
}

/* Runs alone(v2) in a child with a mount namespace of its own. */
static void run_alone(struct fx *fx, bool v2)
{
    char msg[SHIM_ERR_MAX] = "";
    const char *name;
    int p[2], status;
    pid_t pid;

    name = add_name(fx, "%s-%s", fx->pod_name, v2 ? "v2" : "v1");
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[SHIM_ERR_MAX];
        const char *why;

        close(p[0]);
        alarm(TEST_SECONDS);
        why = alone(v2, name, err, sizeof(err));
        dprintf(p[1], "%s", why != NULL ? why : "ok");
        _exit(0);
    }
    close(p[1]);
    read_msg(p[0], msg, sizeof(msg));
    close(p[0]);
    status = reap(pid);
    if (strcmp(msg, "skip") == 0) {
        print_message("# skipped: no %s hierarchy is mounted\n", v2 ? "cgroup2" : "v1");
        skip();
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(msg, "ok");
}

/* With every v1 hierarchy unmounted (in a mount namespace of its own), the cgroup2
 * hierarchy alone tracks and kills (cgroup.kill): pod, container, enter, kill_all, destroy. */
static void test_cgroup2_alone(void **state)
{
    SKIP_UNLESS_READY((struct fx *)*state);
    run_alone(*state, true);
}

/* With the cgroup2 hierarchy unmounted, v1's alone do: kill_all by walking cgroup.procs. */
static void test_v1_alone(void **state)
{
    SKIP_UNLESS_READY((struct fx *)*state);
    run_alone(*state, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_null_is_no_cgroup),
        cmocka_unit_test_setup_teardown(test_limits_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpu_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_all_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_controller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup2_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_alone, setup, teardown),
    };

    /* Orphans of the tests' children come to us to be reaped, not to the host's init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
