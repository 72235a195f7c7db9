/* shim_cgroup.c — per-pod and per-container cgroups on v2, v1 or hybrid hierarchies. */
#include "shim_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HIER_MAX 8        /* cpu, cpuacct, memory, pids and cgroup2, with room to spare */
#define TREE_DEPTH_MAX 16 /* how deep kill and removal go below a cgroup */
#define PODKIT_DIR "podkit"

enum ctrl { CTRL_CPU, CTRL_CPUACCT, CTRL_MEMORY, CTRL_PIDS, CTRL_N };
static const char *const ctrl_name[CTRL_N] = {"cpu", "cpuacct", "memory", "pids"};
#define BIT(c) (1u << (c))
#define V2_CTRLS (BIT(CTRL_CPU) | BIT(CTRL_MEMORY) | BIT(CTRL_PIDS)) /* no cpuacct on v2 */

/* One hierarchy's directory of a cgroup. */
struct hier {
    bool v2;
    unsigned ctrls; /* BIT(CTRL_*) usable in this cgroup */
    char *dir;
    char *procs; /* dir/cgroup.procs, ready for shim_cgroup_enter */
};

struct shim_cgroup {
    size_t n;
    struct hier h[HIER_MAX];
    int missing[CTRL_N]; /* 0: usable; else why not: ENOENT not mounted, or the errno */
    long long oom_base;  /* oom_kill when made */
};

/* A cgroup hierarchy as /proc/self/mountinfo shows it. */
struct mount {
    bool v2;
    bool root; /* mounted at its hierarchy's root, not a sub-cgroup */
    unsigned ctrls;
    char path[PATH_MAX];
};

/* ---- small file helpers ---------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Writes val into dir/file in one write, as the cgroup files want. 0 or -1 with errno. */
static int write_file(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX];
    size_t len = strlen(val);
    ssize_t w;
    int fd, e;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    w = write(fd, val, len);
    e = errno;
    close(fd);
    if (w != (ssize_t)len) {
        errno = w < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

/* Reads dir/file (its first bufsz - 1 bytes) into buf, NUL-terminated. 0 or -1. */
static int read_file(const char *dir, const char *file, char *buf, size_t bufsz)
{
    char path[PATH_MAX];
    size_t len = 0;
    ssize_t r;
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    while (len + 1 < bufsz && (r = read(fd, buf + len, bufsz - 1 - len)) != 0) {
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            close(fd);
            return -1;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    return 0;
}

/* The number a file holds ("33554432\n"), or -1 when unreadable or not a number ("max"). */
static long long read_number(const char *dir, const char *file)
{
    char buf[64], *end;
    long long v;

    if (read_file(dir, file, buf, sizeof(buf)) < 0) {
        return -1;
    }
    errno = 0;
    v = strtoll(buf, &end, 10);
    return errno != 0 || end == buf || v < 0 ? -1 : v;
}

/* The value of a "key N" line of a flat-keyed file (memory.events, cpu.stat), or -1. */
static long long read_key(const char *dir, const char *file, const char *key)
{
    char buf[4096];
    size_t klen = strlen(key);

    if (read_file(dir, file, buf, sizeof(buf)) < 0) {
        return -1;
    }
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            return strtoll(line + klen + 1, NULL, 10);
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    return -1;
}

/* mkdir that accepts an existing directory. 0 or -1 with errno. */
static int make_dir(const char *path)
{
    struct stat st;

    if (mkdir(path, 0755) == 0) {
        return 0;
    }
    if (errno != EEXIST) {
        return -1;
    }
    if (stat(path, &st) < 0) {
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* The controllers of ours named in a space- or comma-separated list ("cpu io memory"). */
static unsigned parse_ctrls(const char *list)
{
    unsigned ctrls = 0;

    while (*list != '\0') {
        size_t n = strcspn(list, " ,\n");
        for (int c = 0; c < CTRL_N; c++) {
            if (strlen(ctrl_name[c]) == n && strncmp(list, ctrl_name[c], n) == 0) {
                ctrls |= BIT(c);
            }
        }
        list += n;
        list += strspn(list, " ,\n");
    }
    return ctrls;
}

/* ---- finding the hierarchies ------------------------------------------------------------- */

/* Undoes mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape(char *s)
{
    char *o = s;

    for (; *s != '\0'; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Adds a mount to m unless a better one of the same hierarchy is there: one mounted at
 * the hierarchy's root wins over a bind of a sub-cgroup, and for cgroup2 /sys/fs/cgroup
 * wins over any other place. */
static void add_mount(struct mount *m, size_t *n, const struct mount *add)
{
    for (size_t i = 0; i < *n; i++) {
        bool same = m[i].v2 ? add->v2 : (!add->v2 && (m[i].ctrls & add->ctrls) != 0);
        if (!same) {
            continue;
        }
        if ((add->root && !m[i].root) ||
            (add->v2 && add->root && strcmp(add->path, "/sys/fs/cgroup") == 0)) {
            m[i] = *add;
        }
        return;
    }
    if (*n < HIER_MAX) {
        m[(*n)++] = *add;
    }
}

/* Fills m with the cgroup hierarchies podkit can use, from /proc/self/mountinfo: every v1
 * hierarchy holding one of our controllers, and the cgroup2 one (first) with the
 * controllers its root offers. 0, or -1 with err. */
static int find_mounts(struct mount *m, size_t *n, char *err, size_t errsz)
{
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;

    *n = 0;
    if (fp == NULL) {
        snprintf(err, errsz, "open /proc/self/mountinfo: %s", strerror(errno));
        return -1;
    }
    /* id parent major:minor root mountpoint options [optional...] - fstype source super */
    while (getline(&line, &cap, fp) > 0) {
        char *f[64], *save = NULL;
        size_t nf = 0, dash;
        struct mount add = {0};

        for (char *t = strtok_r(line, " \n", &save); t != NULL && nf < 64;
             t = strtok_r(NULL, " \n", &save)) {
            f[nf++] = t;
        }
        for (dash = 6; dash < nf && strcmp(f[dash], "-") != 0; dash++) {
        }
        if (dash + 3 >= nf) {
            continue; /* not a line of the format above */
        }
        if (strcmp(f[dash + 1], "cgroup2") == 0) {
            add.v2 = true;
        } else if (strcmp(f[dash + 1], "cgroup") == 0) {
            add.ctrls = parse_ctrls(f[dash + 3]);
            if (add.ctrls == 0) {
                continue; /* name=systemd, devices, freezer ...: not ours */
            }
        } else {
            continue;
        }
        unescape(f[4]);
        if (strlen(f[4]) >= sizeof(add.path)) {
            continue;
        }
        strcpy(add.path, f[4]);
        add.root = strcmp(f[3], "/") == 0;
        add_mount(m, n, &add);
    }
    free(line);
    fclose(fp);
    for (size_t i = 0; i < *n; i++) {
        char buf[512];
        if (!m[i].v2) {
            continue;
        }
        if (read_file(m[i].path, "cgroup.controllers", buf, sizeof(buf)) == 0) {
            m[i].ctrls = parse_ctrls(buf) & V2_CTRLS;
        }
        if (i > 0) { /* cgroup2 first, so that cgroup.kill comes before the walks */
            struct mount v2 = m[i];
            memmove(&m[1], &m[0], i * sizeof(*m));
            m[0] = v2;
        }
    }
    return 0;
}

/* ---- making ------------------------------------------------------------------------------ */

static int add_hier(struct shim_cgroup *cg, bool v2, unsigned ctrls, const char *dir)
{
    struct hier *h = &cg->h[cg->n];

    h->v2 = v2;
    h->ctrls = ctrls;
    h->dir = strdup(dir);
    if (h->dir == NULL || asprintf(&h->procs, "%s/cgroup.procs", dir) < 0) {
        free(h->dir);
        h->dir = NULL;
        h->procs = NULL;
        errno = ENOMEM;
        return -1;
    }
    cg->n++;
    return 0;
}

/* Enables each controller of want that dir's subtree_control lacks, one by one (a write
 * naming several is all or nothing); the first errno of each failing one lands in why[]. */
static void enable(const char *dir, unsigned want, int *why)
{
    char buf[512];

    if (read_file(dir, "cgroup.subtree_control", buf, sizeof(buf)) == 0) {
        want &= ~parse_ctrls(buf);
    }
    for (int c = 0; c < CTRL_N; c++) {
        char val[16];
        if ((want & BIT(c)) == 0) {
            continue;
        }
        snprintf(val, sizeof(val), "+%s", ctrl_name[c]);
        if (write_file(dir, "cgroup.subtree_control", val) < 0 && why[c] == 0) {
            why[c] = errno;
        }
    }
}

/* Makes MOUNT/podkit/BASE in one hierarchy and adds it to cg (on v2, enabling our
 * controllers from the root down). -1 with errno and the failed path when not made. */
static int make_pod_dir(struct shim_cgroup *cg, const struct mount *m, const char *base, char *path,
                        size_t pathsz)
{
    char top[PATH_MAX];
    int why[CTRL_N] = {0};
    unsigned ctrls = m->ctrls;

    if ((size_t)snprintf(top, sizeof(top), "%s/" PODKIT_DIR, m->path) >= sizeof(top) ||
        (size_t)snprintf(path, pathsz, "%s/%s", top, base) >= pathsz) {
        snprintf(path, pathsz, "%s", m->path);
        errno = ENAMETOOLONG;
        return -1;
    }
    if (m->v2) {
        enable(m->path, ctrls, why);
    }
    if (make_dir(top) < 0) {
        int e = errno;
        snprintf(path, pathsz, "%s", top);
        errno = e;
        return -1;
    }
    if (m->v2) {
        enable(top, ctrls, why);
    }
    if (make_dir(path) < 0) {
        return -1;
    }
    if (m->v2) {
        char buf[512];
        enable(path, ctrls, why);
        ctrls &=
            read_file(path, "cgroup.subtree_control", buf, sizeof(buf)) == 0 ? parse_ctrls(buf) : 0;
        for (int c = 0; c < CTRL_N; c++) {
            if ((m->ctrls & ~ctrls & BIT(c)) != 0) {
                cg->missing[c] = why[c] != 0 ? why[c] : EOPNOTSUPP;
            }
        }
    }
    return add_hier(cg, m->v2, ctrls, path);
}

int shim_cgroup_sanitize(const char *name, char *out, size_t outsz)
{
    static const char *const reserved[] = {"tasks", "notify_on_release", "release_agent"};
    size_t n = strlen(name);
    bool prefix;

    if (n == 0 || n + 1 > outsz) {
        return -1;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = name[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                     ch == '-' || ch == '_' || ch == '\0')) {
            ch = '_';
        }
        out[i] = ch;
    }
    prefix = out[0] == '_' || strchr(out, '.') != NULL;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        prefix = prefix || strcmp(out, reserved[i]) == 0;
    }
    if (prefix) {
        if (n + 2 > outsz) {
            return -1;
        }
        memmove(out + 1, out, n + 1);
        out[0] = '_';
        n++;
    }
    return n > NAME_MAX ? -1 : 0;
}

/* The OOM killer's count for cg, or -1 where unknown. */
static long long oom_kills(const struct shim_cgroup *cg)
{
    for (size_t i = 0; cg != NULL && i < cg->n; i++) {
        const struct hier *h = &cg->h[i];
        if ((h->ctrls & BIT(CTRL_MEMORY)) != 0) {
            return read_key(h->dir, h->v2 ? "memory.events" : "memory.oom_control", "oom_kill");
        }
    }
    return -1;
}

struct shim_cgroup *shim_cgroup_pod_create(const char *name, char *err, size_t errsz)
{
    struct mount m[HIER_MAX];
    char base[NAME_MAX + 1], path[PATH_MAX], first[PATH_MAX + 64] = "";
    struct shim_cgroup *cg;
    size_t nm;

    if (shim_cgroup_sanitize(name, base, sizeof(base)) < 0) {
        snprintf(err, errsz, "pod cgroup name \"%s\": empty or too long", name);
        return NULL;
    }
    if (find_mounts(m, &nm, err, errsz) < 0) {
        return NULL;
    }
    cg = calloc(1, sizeof(*cg));
    if (cg == NULL) {
        snprintf(err, errsz, "calloc: %s", strerror(errno));
        return NULL;
    }
    for (int c = 0; c < CTRL_N; c++) {
        cg->missing[c] = ENOENT;
    }
    for (size_t i = 0; i < nm; i++) {
        if (make_pod_dir(cg, &m[i], base, path, sizeof(path)) == 0) {
            continue;
        }
        int e = errno;
        for (int c = 0; c < CTRL_N; c++) {
            if ((m[i].ctrls & BIT(c)) != 0) {
                cg->missing[c] = e;
            }
        }
        if (first[0] == '\0') {
            snprintf(first, sizeof(first), "mkdir %s: %s", path, strerror(e));
        }
    }
    if (cg->n == 0) {
        snprintf(err, errsz, "%s", nm == 0 ? "no cgroup hierarchy is mounted" : first);
        shim_cgroup_destroy(cg);
        return NULL;
    }
    for (size_t i = 0; i < cg->n; i++) {
        for (int c = 0; c < CTRL_N; c++) {
            if ((cg->h[i].ctrls & BIT(c)) != 0) {
                cg->missing[c] = 0;
            }
        }
    }
    cg->oom_base = oom_kills(cg);
    return cg;
}

/* One file of a container's cgroup and what goes into it. */
struct setting {
    const char *file;
    char val[48];
    bool optional; /* a file this kernel lacks is fine (no swap accounting, say) */
};

static void set(struct setting *s, size_t *n, const char *file, bool optional, const char *val)
{
    s[*n].file = file;
    s[*n].optional = optional;
    snprintf(s[*n].val, sizeof(s[*n].val), "%s", val);
    (*n)++;
}

/* v in decimal in buf, or none when v is 0 (not given). */
static const char *num(char *buf, size_t bufsz, unsigned long long v, const char *none)
{
    if (v == 0) {
        return none;
    }
    snprintf(buf, bufsz, "%llu", v);
    return buf;
}

/* Every setting a container's cgroup gets in one hierarchy, defaults included, so that a
 * reused directory loses the limits it had. 0, or -1 with err naming the file. */
static int apply(const struct hier *h, const struct shim_resources *r, long long pids_max,
                 char *err, size_t errsz)
{
    struct setting s[8];
    size_t n = 0;
    char b[48];
    unsigned long long lim = r->memory_limit, shares = 0, quota = 0, weight = 0;
    unsigned long long req = r->cpu_request_millis ? r->cpu_request_millis : r->cpu_limit_millis;
    bool mem = (h->ctrls & BIT(CTRL_MEMORY)) != 0, cpu = (h->ctrls & BIT(CTRL_CPU)) != 0;

    if (req != 0) {
        shares = req > ULLONG_MAX / 1024 ? 262144 : req * 1024 / 1000;
        shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
        weight = 1 + (shares - 2) * 9999 / 262142; /* the kubelet's mapping onto v2 */
    }
    if (r->cpu_limit_millis != 0) {
        quota = r->cpu_limit_millis > ULLONG_MAX / 100 ? ULLONG_MAX / 100 * 100
                                                       : r->cpu_limit_millis * 100;
        quota = quota < SHIM_CGROUP_CPU_QUOTA_MIN_US ? SHIM_CGROUP_CPU_QUOTA_MIN_US : quota;
    }
    if (mem && h->v2) {
        set(s, &n, "memory.max", false, num(b, sizeof(b), lim, "max"));
        set(s, &n, "memory.swap.max", true, lim ? "0" : "max");
        set(s, &n, "memory.oom.group", true, "1"); /* as the kubelet: a container dies whole */
    } else if (mem) {
        set(s, &n, "memory.limit_in_bytes", false, num(b, sizeof(b), lim, "-1"));
    }
    if (cpu && h->v2) {
        char q[24];
        snprintf(b, sizeof(b), "%s %d", num(q, sizeof(q), quota, "max"), SHIM_CGROUP_CPU_PERIOD_US);
        set(s, &n, "cpu.max", false, b);
        set(s, &n, "cpu.weight", false, num(b, sizeof(b), weight, "100"));
    } else if (cpu) {
        set(s, &n, "cpu.cfs_period_us", false, num(b, sizeof(b), SHIM_CGROUP_CPU_PERIOD_US, ""));
        set(s, &n, "cpu.cfs_quota_us", false, num(b, sizeof(b), quota, "-1"));
        set(s, &n, "cpu.shares", false, num(b, sizeof(b), shares, "1024"));
    }
    if ((h->ctrls & BIT(CTRL_PIDS)) != 0) {
        set(s, &n, "pids.max", false,
            num(b, sizeof(b), pids_max > 0 ? (unsigned long long)pids_max : 0, "max"));
    }
    for (size_t i = 0; i < n; i++) {
        if (write_file(h->dir, s[i].file, s[i].val) < 0 && !(s[i].optional && errno == ENOENT)) {
            snprintf(err, errsz, "write \"%s\" to %s/%s: %s", s[i].val, h->dir, s[i].file,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Fails a limit whose controller is missing, naming both. */
static int need(const struct shim_cgroup *pod, enum ctrl c, const char *what, char *err,
                size_t errsz)
{
    int e = pod->missing[c];

    if (e == 0) {
        return 0;
    }
    if (e == ENOENT) {
        snprintf(err, errsz, "%s needs the %s cgroup controller, which is not mounted", what,
                 ctrl_name[c]);
    } else {
        snprintf(err, errsz, "%s needs the %s cgroup controller, which cannot be used here: %s",
                 what, ctrl_name[c], strerror(e));
    }
    return -1;
}

struct shim_cgroup *shim_cgroup_child_create(const struct shim_cgroup *pod, const char *name,
                                             const struct shim_resources *r, long long pids_max,
                                             char *err, size_t errsz)
{
    static const struct shim_resources none;
    char base[NAME_MAX + 1], path[PATH_MAX];
    struct shim_cgroup *cg;

    if (r == NULL) {
        r = &none;
    }
    if (pod == NULL) {
        snprintf(err, errsz, "no pod cgroup");
        return NULL;
    }
    if (shim_cgroup_sanitize(name, base, sizeof(base)) < 0) {
        snprintf(err, errsz, "container cgroup name \"%s\": empty or too long", name);
        return NULL;
    }
    if (pids_max < 0) {
        snprintf(err, errsz, "pids limit %lld: negative", pids_max);
        return NULL;
    }
    if ((r->memory_limit != 0 && need(pod, CTRL_MEMORY, "resources.limits.memory", err, errsz)) ||
        (r->cpu_limit_millis != 0 && need(pod, CTRL_CPU, "resources.limits.cpu", err, errsz)) ||
        (pids_max > 0 && need(pod, CTRL_PIDS, "the pids limit", err, errsz))) {
        return NULL;
    }
    cg = calloc(1, sizeof(*cg));
    if (cg == NULL) {
        snprintf(err, errsz, "calloc: %s", strerror(errno));
        return NULL;
    }
    memcpy(cg->missing, pod->missing, sizeof(cg->missing));
    for (size_t i = 0; i < pod->n; i++) {
        const struct hier *ph = &pod->h[i];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", ph->dir, base) >= sizeof(path)) {
            errno = ENAMETOOLONG;
            goto fail;
        }
        if (make_dir(path) < 0) {
            goto fail;
        }
        if (add_hier(cg, ph->v2, ph->ctrls, path) < 0) {
            rmdir(path);
            goto fail;
        }
        if (apply(&cg->h[cg->n - 1], r, pids_max, err, errsz) < 0) {
            shim_cgroup_destroy(cg);
            return NULL;
        }
    }
    cg->oom_base = oom_kills(cg);
    return cg;

fail:
    snprintf(err, errsz, "mkdir %s: %s", path, strerror(errno));
    shim_cgroup_destroy(cg);
    return NULL;
}

int shim_cgroup_enter(const struct shim_cgroup *cg)
{
    for (size_t i = 0; cg != NULL && i < cg->n; i++) {
        int fd = open(cg->h[i].procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            return -1;
        }
        ssize_t w = write(fd, "0", 1);
        int e = errno;
        close(fd);
        if (w != 1) {
            errno = w < 0 ? e : EIO;
            return -1;
        }
    }
    return 0;
}

bool shim_cgroup_oom_killed(const struct shim_cgroup *cg)
{
    long long now = oom_kills(cg);

    return cg != NULL && now > (cg->oom_base > 0 ? cg->oom_base : 0);
}

/* ---- killing and removing ---------------------------------------------------------------- */

/* SIGKILLs every pid listed in dirfd's cgroup.procs and, depth-first, in the cgroups below.
 * Returns how many it found. */
static size_t kill_tree(int dirfd, int depth)
{
    char buf[4096];
    size_t found = 0, have = 0;
    ssize_t r;
    int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    DIR *d;

    /* pids, one a line; a line cut by the buffer's end waits for the next read */
    while (fd >= 0 && (r = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
        char *p = buf, *nl;
        have += (size_t)r;
        buf[have] = '\0';
        while ((nl = strchr(p, '\n')) != NULL) {
            long pid = strtol(p, NULL, 10);
            if (pid > 0 && pid != (long)getpid()) {
                kill((pid_t)pid, SIGKILL);
                found++;
            }
            p = nl + 1;
        }
        have -= (size_t)(p - buf);
        memmove(buf, p, have);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (depth >= TREE_DEPTH_MAX) {
        return found;
    }
    int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d == NULL) {
        if (dfd >= 0) {
            close(dfd);
        }
        return found;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue; /* cgroupfs gives every entry its type */
        }
        int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub >= 0) {
            found += kill_tree(sub, depth + 1);
            close(sub);
        }
    }
    closedir(d);
    return found;
}

int shim_cgroup_kill_all(const struct shim_cgroup *cg)
{
    long long deadline = now_ms() + SHIM_CGROUP_KILL_MS;
    long nap_ms = 1;

    if (cg == NULL) {
        return 0;
    }
    for (;;) {
        size_t found = 0;
        bool populated = false;

        for (size_t i = 0; i < cg->n; i++) {
            if (cg->h[i].v2) {
                write_file(cg->h[i].dir, "cgroup.kill", "1"); /* ENOENT before 5.14 */
            }
        }
        for (size_t i = 0; i < cg->n; i++) {
            int fd = open(cg->h[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                found += kill_tree(fd, 0);
                close(fd);
            }
            if (cg->h[i].v2) {
                populated = populated || read_key(cg->h[i].dir, "cgroup.events", "populated") > 0;
            }
        }
        if (found == 0 && !populated) {
            return 0;
        }
        if (now_ms() >= deadline) {
            errno = EBUSY;
            return -1;
        }
        sleep_ms(nap_ms);
        nap_ms = nap_ms < 16 ? nap_ms * 2 : nap_ms;
    }
}

/* rmdir of dirfd/name, again while the kernel still holds exiting tasks (EBUSY) until the
 * deadline. A cgroup already gone counts as removed. 0 or -1 with errno. */
static int remove_dir(int dirfd, const char *name, long long deadline)
{
    while (unlinkat(dirfd, name, AT_REMOVEDIR) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        if (errno != EBUSY || now_ms() >= deadline) {
            return -1;
        }
        sleep_ms(2);
    }
    return 0;
}

/* Removes every cgroup below dirfd, deepest first. 0, or -1 with the first errno. */
static int remove_below(int dirfd, int depth, long long deadline)
{
    int first = 0;
    int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

    if (d == NULL) {
        if (dfd >= 0) {
            close(dfd);
        }
        return errno == ENOENT ? 0 : -1;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub >= 0 && depth < TREE_DEPTH_MAX && remove_below(sub, depth + 1, deadline) < 0 &&
            first == 0) {
            first = errno;
        }
        if (sub >= 0) {
            close(sub);
        }
        if (remove_dir(dirfd, e->d_name, deadline) < 0 && first == 0) {
            first = errno;
        }
    }
    closedir(d);
    errno = first;
    return first != 0 ? -1 : 0;
}

int shim_cgroup_destroy(struct shim_cgroup *cg)
{
    long long deadline = now_ms() + SHIM_CGROUP_RMDIR_MS;
    int first = 0;

    if (cg == NULL) {
        return 0;
    }
    for (size_t i = 0; i < cg->n; i++) {
        struct hier *h = &cg->h[i];
        int fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            if (remove_below(fd, 0, deadline) < 0 && first == 0) {
                first = errno;
            }
            close(fd);
            if (remove_dir(AT_FDCWD, h->dir, deadline) < 0 && first == 0) {
                first = errno;
            }
        } else if (errno != ENOENT && first == 0) {
            first = errno;
        }
        free(h->dir);
        free(h->procs);
    }
    free(cg);
    if (first != 0) {
        errno = first;
        return -1;
    }
    return 0;
}

/* ---- looking ----------------------------------------------------------------------------- */

void shim_cgroup_usage(const struct shim_cgroup *cg, struct shim_cgroup_usage *u)
{
    long long v2_cpu = -1;

    u->memory_bytes = u->pids = u->cpu_usec = -1;
    for (size_t i = 0; cg != NULL && i < cg->n; i++) {
        const struct hier *h = &cg->h[i];
        if ((h->ctrls & BIT(CTRL_MEMORY)) != 0) {
            u->memory_bytes =
                read_number(h->dir, h->v2 ? "memory.current" : "memory.usage_in_bytes");
        }
        if ((h->ctrls & BIT(CTRL_PIDS)) != 0) {
            u->pids = read_number(h->dir, "pids.current");
        }
        if ((h->ctrls & BIT(CTRL_CPUACCT)) != 0) {
            long long ns = read_number(h->dir, "cpuacct.usage");
            u->cpu_usec = ns < 0 ? -1 : ns / 1000;
        }
        if (h->v2) { /* cpu.stat's usage is there even without the cpu controller */
            v2_cpu = read_key(h->dir, "cpu.stat", "usage_usec");
        }
    }
    if (u->cpu_usec < 0) {
        u->cpu_usec = v2_cpu;
    }
}

const char *shim_cgroup_dir(const struct shim_cgroup *cg, size_t i)
{
    return cg != NULL && i < cg->n ? cg->h[i].dir : NULL;
}
