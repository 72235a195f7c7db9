/* test_ar_topo.c — the topology module against real peers on 127.0.0.1: redis-server (a
 * master and its replica) and three redis-sentinel, started per test in a temporary dir. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "ar_topo.h"

#define TEST_SECONDS 40 /* alarm() per test: a backstop, every wait below has its own bound */
#define CONNECT_MS 300  /* connect_timeout_ms of the topologies under test */
#define SLACK_MS 250    /* what a loaded machine may add to a timer */
#define NSENT 3
#define MAXEV 32
#define LOCAL "127.0.0.1"

struct seen {
    enum ar_topo_event ev;
    bool has_old, has_now;
    struct ar_topo_addr old, now;
    long at_ms;
};

/* One topology under test and what its callback saw. */
struct watch {
    struct ar_topo *t;
    struct seen ev[MAXEV];
    int n;
    int mismatch;    /* ar_topo_master disagreed with the event */
    bool free_in_cb; /* the next callback frees t */
};

struct fx {
    const char *skip_why;
    char dir[64];
    pid_t pids[8];
    int npids;
    pid_t mpid, rpid;
    int mport, rport, sport[NSENT];
    struct event_base *base;
    struct event *tick;
    struct watch w[2];
    int hole[4]; /* a listener whose backlog is full: connects to it hang; then its fillers */
};

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void on_alarm(int sig)
{
    (void)sig;
    fail_msg("the test ran longer than %d s", TEST_SECONDS); /* teardown still runs */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* ---- peers --------------------------------------------------------------------------- */

/* A free port on 127.0.0.1 (the kernel's choice, released at once). */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static pid_t spawn(struct fx *fx, const char *log, char *const argv[])
{
    char path[128];
    pid_t parent = getpid(), pid;

    snprintf(path, sizeof(path), "%s/%s", fx->dir, log);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Dies with the test, whatever kills it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (getppid() != parent || fd < 0) {
            _exit(126);
        }
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    fx->pids[fx->npids++] = pid;
    return pid;
}

static void stop(struct fx *fx, pid_t pid)
{
    for (int i = 0; i < fx->npids; i++) {
        if (fx->pids[i] == pid) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fx->pids[i] = fx->pids[--fx->npids];
            return;
        }
    }
}

/* One command on a fresh connection; NULL when the peer does not answer. */
static redisReply *cmd(int port, const char *fmt, ...)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout(LOCAL, port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        va_start(ap, fmt);
        r = redisvCommand(c, fmt, ap);
        va_end(ap);
    }
    redisFree(c);
    return r;
}

/* Polls until pred(port) holds, for at most ms. */
static bool poll_peer(bool (*pred)(int), int port, long ms)
{
    for (long end = now_ms() + ms; now_ms() < end; sleep_ms(20)) {
        if (pred(port)) {
            return true;
        }
    }
    return false;
}

/* Up: it answers, if only to say it wants AUTH first. */
static bool answers_ping(int port)
{
    redisReply *r = cmd(port, "PING");
    bool ok = r != NULL && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
    freeReplyObject(r);
    return ok;
}

static bool replica_linked(int port)
{
    redisReply *r = cmd(port, "ROLE");
    bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 4 &&
              strcmp(r->element[3]->str, "connected") == 0;
    freeReplyObject(r);
    return ok;
}

/* The Sentinel lists a replica it would promote. */
static bool sentinel_sees_replica(int port)
{
    redisReply *r = cmd(port, "SENTINEL replicas mymaster");
    bool ok = false;

    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        bool slave = false, link = false;
        for (size_t k = 0; k + 1 < e->elements; k += 2) {
            slave |= strcmp(e->element[k]->str, "flags") == 0 &&
                     strcmp(e->element[k + 1]->str, "slave") == 0;
            link |= strcmp(e->element[k]->str, "master-link-status") == 0 &&
                    strcmp(e->element[k + 1]->str, "ok") == 0;
        }
        ok |= slave && link;
    }
    freeReplyObject(r);
    return ok;
}

/* How many times the peer ran a command, from INFO commandstats. */
static long calls(int port, const char *name)
{
    redisReply *r = cmd(port, "INFO commandstats");
    char key[96];
    long n = -1;

    assert_non_null(r);
    snprintf(key, sizeof(key), "cmdstat_%s:calls=", name);
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, key) : NULL;
    n = p != NULL ? atol(p + strlen(key)) : 0;
    freeReplyObject(r);
    return n;
}

/* A redis-server on port, a replica of master_port unless 0, with extra arguments. */
static pid_t start_redis(struct fx *fx, const char *name, int port, int master_port,
                         char *const *extra)
{
    char sport[16], mport[16], db[32];
    /* clang-format off */
    char *argv[32] = {"redis-server", "--port", sport, "--bind", LOCAL, "--save", "",
                      "--appendonly", "no", "--dir", fx->dir, "--dbfilename", db,
                      "--repl-diskless-sync-delay", "0"};
    /* clang-format on */
    int n = 15;

    snprintf(sport, sizeof(sport), "%d", port);
    snprintf(mport, sizeof(mport), "%d", master_port);
    snprintf(db, sizeof(db), "%s.rdb", name);
    if (master_port != 0) {
        argv[n++] = "--replicaof";
        argv[n++] = LOCAL;
        argv[n++] = mport;
    }
    for (; extra != NULL && *extra != NULL && n < 31; extra++) {
        argv[n++] = *extra;
    }
    pid_t pid = spawn(fx, name, argv);
    assert_true(poll_peer(answers_ping, port, 5000));
    return pid;
}

static void start_sentinel(struct fx *fx, int i)
{
    char conf[128], log[16];
    FILE *f;

    snprintf(conf, sizeof(conf), "%s/sentinel%d.conf", fx->dir, i);
    snprintf(log, sizeof(log), "sentinel%d", i);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "port %d\nbind %s\ndir %s\n"
            "sentinel monitor mymaster %s %d 2\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 5000\n",
            fx->sport[i], LOCAL, fx->dir, LOCAL, fx->mport);
    fclose(f);
    char *argv[] = {"redis-sentinel", conf, NULL};
    spawn(fx, log, argv);
    assert_true(poll_peer(answers_ping, fx->sport[i], 5000));
}

/* A port that takes no connection: a listener with a full backlog drops the handshake. */
static int blackhole(struct fx *fx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    fx->hole[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fx->hole[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fx->hole[0], 0), 0);
    assert_int_equal(getsockname(fx->hole[0], (struct sockaddr *)&sa, &len), 0);
    for (int i = 1; i < 4; i++) {
        fx->hole[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        connect(fx->hole[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    sleep_ms(50);
    return ntohs(sa.sin_port);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static int setup_bare(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct timeval five_ms = {.tv_usec = 5000};
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_NODEFER};

    assert_non_null(fx);
    *state = fx;
    for (int i = 0; i < 4; i++) {
        fx->hole[i] = -1;
    }
    fx->base = event_base_new();
    assert_non_null(fx->base);
    fx->tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    assert_non_null(fx->tick);
    event_add(fx->tick, &five_ms);
    sigaction(SIGALRM, &sa, NULL);
    alarm(TEST_SECONDS);
    if (geteuid() != 0) {
        fx->skip_why = "needs root";
    } else if (system("command -v redis-server >/dev/null && "
                      "command -v redis-sentinel >/dev/null") != 0) {
        fx->skip_why = "needs redis-server and redis-sentinel";
    } else {
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_ar_topo.XXXXXX");
        assert_non_null(mkdtemp(fx->dir));
    }
    return 0;
}

/* A master and its replica, linked. */
static int setup_pair(void **state)
{
    setup_bare(state);
    struct fx *fx = *state;
    if (fx->skip_why == NULL) {
        fx->mport = free_port();
        fx->rport = free_port();
        fx->mpid = start_redis(fx, "master", fx->mport, 0, NULL);
        fx->rpid = start_redis(fx, "replica", fx->rport, fx->mport, NULL);
        assert_true(poll_peer(replica_linked, fx->rport, 10000));
    }
    return 0;
}

/* The pair and three Sentinels that see the replica as one they could promote. */
static int setup_cluster(void **state)
{
    setup_pair(state);
    struct fx *fx = *state;
    if (fx->skip_why == NULL) {
        for (int i = 0; i < NSENT; i++) {
            fx->sport[i] = free_port();
            start_sentinel(fx, i);
        }
        assert_true(poll_peer(sentinel_sees_replica, fx->sport[0], 15000));
    }
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    /* The peers and the directory first: nothing below may keep them. */
    while (fx->npids > 0) {
        stop(fx, fx->pids[0]);
    }
    if (fx->dir[0] != '\0') {
        nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    for (int i = 0; i < 4; i++) {
        if (fx->hole[i] >= 0) {
            close(fx->hole[i]);
        }
    }
    for (int i = 0; i < 2; i++) {
        ar_topo_free(fx->w[i].t);
    }
    event_free(fx->tick);
    event_base_free(fx->base);
    alarm(0);
    free(fx);
    return 0;
}

#define NEED_PEERS(fx)                                                                             \
    do {                                                                                           \
        if ((fx)->skip_why != NULL) {                                                              \
            print_message("# skipped: %s\n", (fx)->skip_why);                                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- the topology under test --------------------------------------------------------- */

static void on_topo(void *arg, enum ar_topo_event ev, const struct ar_topo_addr *old,
                    const struct ar_topo_addr *now)
{
    struct watch *w = arg;
    const struct ar_topo_addr *m = ar_topo_master(w->t);

    if (w->n < MAXEV) {
        struct seen *s = &w->ev[w->n++];
        *s = (struct seen){
            .ev = ev, .has_old = old != NULL, .has_now = now != NULL, .at_ms = now_ms()};
        if (old != NULL) {
            s->old = *old;
        }
        if (now != NULL) {
            s->now = *now;
        }
    }
    if ((m == NULL) != (now == NULL) ||
        (m != NULL && (m->port != now->port || strcmp(m->host, now->host) != 0))) {
        w->mismatch++;
    }
    if (w->free_in_cb) {
        w->free_in_cb = false;
        ar_topo_free(w->t);
        ar_topo_free(NULL);
        w->t = NULL;
    }
}

static struct ar_topo *start_topo(struct fx *fx, struct watch *w, struct ar_topo_config *cfg)
{
    char err[256] = "";

    if (cfg->connect_timeout_ms == 0) {
        cfg->connect_timeout_ms = CONNECT_MS;
    }
    w->t = ar_topo_new(fx->base, cfg, on_topo, w, err, sizeof(err));
    if (w->t == NULL) {
        fail_msg("ar_topo_new: %s", err);
    }
    assert_int_equal(w->n, 0); /* never from inside the call */
    return w->t;
}

/* Runs the loop until w has seen n events, for at most ms. */
static bool run_until(struct fx *fx, struct watch *w, int n, long ms)
{
    for (long end = now_ms() + ms; w->n < n && now_ms() < end;) {
        event_base_loop(fx->base, EVLOOP_ONCE);
    }
    return w->n >= n;
}

static void run_for(struct fx *fx, long ms)
{
    for (long end = now_ms() + ms; now_ms() < end;) {
        event_base_loop(fx->base, EVLOOP_ONCE);
    }
}

static char *addr(char *buf, int port)
{
    snprintf(buf, 32, "%s:%d", LOCAL, port);
    return buf;
}

static void assert_event(const struct watch *w, int i, enum ar_topo_event ev, int old_port,
                         int now_port)
{
    const struct seen *s = &w->ev[i];

    assert_true(i < w->n);
    assert_int_equal(s->ev, ev);
    assert_int_equal(s->has_old, old_port != 0);
    assert_int_equal(s->has_now, now_port != 0);
    if (old_port != 0) {
        assert_string_equal(s->old.host, LOCAL);
        assert_int_equal(s->old.port, old_port);
    }
    if (now_port != 0) {
        assert_string_equal(s->now.host, LOCAL);
        assert_int_equal(s->now.port, now_port);
    }
    assert_int_equal(w->mismatch, 0);
}

/* ---- configuration ------------------------------------------------------------------- */

static void test_bad_configs(void **state)
{
    struct fx *fx = *state;
    const char *s_ok[] = {"127.0.0.1:26379", "[::1]:26380"}, *s_bad[] = {"127.0.0.1:1", "[::1"};
    const char *r_bad[] = {"a_b:1"};
    struct {
        struct ar_topo_config cfg;
        const char *want;
    } cases[] = {
        {{.upstream = NULL}, "neither an upstream nor Sentinels"},
        {{.sentinels = s_ok, .nsentinels = 2}, "master_name"},
        {{.sentinels = s_ok, .nsentinels = 2, .master_name = ""}, "master_name"},
        {{.sentinels = s_bad, .nsentinels = 2, .master_name = "m"}, "sentinel 2 '[::1'"},
        {{.nsentinels = 1, .master_name = "m"}, "none given"},
        {{.upstream = "127.0.0.1"}, "upstream '127.0.0.1': expected HOST:PORT"},
        {{.upstream = "127.0.0.1:0"}, "port other than 0"},
        {{.upstream = "unix:/tmp/redis.sock"}, "unix socket"},
        {{.upstream = "127.0.0.1:6379", .replicas = r_bad, .nreplicas = 1}, "replica 1 'a_b:1'"},
        {{.upstream = "127.0.0.1:6379", .upstream_user = "u"}, "upstream_password"},
        {{.sentinels = s_ok, .nsentinels = 2, .master_name = "m", .sentinel_user = "u"},
         "sentinel_password"},
    };
    char err[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        strcpy(err, "untouched");
        assert_null(ar_topo_new(fx->base, &cases[i].cfg, on_topo, NULL, err, sizeof(err)));
        if (strstr(err, cases[i].want) == NULL) {
            fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].want);
        }
    }
    assert_null(ar_topo_new(NULL, &cases[0].cfg, on_topo, NULL, err, sizeof(err)));
    /* Good ones, IPv6 included, freed before they ever run. */
    struct ar_topo_config good = {.sentinels = s_ok, .nsentinels = 2, .master_name = "m"};
    ar_topo_free(start_topo(fx, &fx->w[0], &good));
    struct ar_topo_config fixed = {.upstream = "[::1]:6379", .replicas = s_ok, .nreplicas = 2};
    ar_topo_free(start_topo(fx, &fx->w[1], &fixed));
    fx->w[0].t = fx->w[1].t = NULL;
    run_for(fx, 50);
    assert_int_equal(fx->w[0].n + fx->w[1].n, 0);
}

/* ---- a fixed upstream ---------------------------------------------------------------- */

static void test_fixed_found(void **state)
{
    struct fx *fx = *state;
    char up[32], r1[32], r2[32];
    const char *reps[2];
    struct ar_topo_stats st;

    NEED_PEERS(fx);
    reps[0] = addr(r1, fx->rport);
    reps[1] = addr(r2, free_port()); /* nobody there */
    struct ar_topo_config cfg = {
        .upstream = addr(up, fx->mport), .replicas = reps, .nreplicas = 2, .recheck_ms = 100};
    struct watch *w = &fx->w[0];
    start_topo(fx, w, &cfg);
    assert_true(run_until(fx, w, 2, 3000));
    assert_event(w, 0, AR_TOPO_MASTER_FOUND, 0, fx->mport);
    assert_event(w, 1, AR_TOPO_REPLICAS, 0, fx->mport);
    const struct ar_topo_addr *rs;
    assert_int_equal(ar_topo_replicas(w->t, &rs), 1);
    assert_int_equal(rs[0].port, fx->rport);
    /* Several re-checks later, nothing new to say. */
    run_for(fx, 600);
    assert_int_equal(w->n, 2);
    ar_topo_stats(w->t, &st);
    assert_false(st.sentinel_mode);
    assert_int_equal(st.failovers, 0);
    assert_non_null(strstr(st.last_error, r2)); /* the missing replica */
}

static void test_fixed_down_then_up(void **state)
{
    struct fx *fx = *state;
    char up[32];
    struct ar_topo_stats st;
    int port;

    NEED_PEERS(fx);
    port = free_port();
    struct ar_topo_config cfg = {.upstream = addr(up, port), .recheck_ms = 100};
    struct watch *w = &fx->w[0];
    start_topo(fx, w, &cfg);
    run_for(fx, 500);
    assert_int_equal(w->n, 0);
    assert_null(ar_topo_master(w->t));
    ar_topo_stats(w->t, &st);
    assert_non_null(strstr(st.last_error, up));
    pid_t pid = start_redis(fx, "late", port, 0, NULL);
    assert_true(run_until(fx, w, 1, 3000));
    assert_event(w, 0, AR_TOPO_MASTER_FOUND, 0, port);
    stop(fx, pid);
    assert_true(run_until(fx, w, 2, 3000));
    assert_event(w, 1, AR_TOPO_MASTER_LOST, port, 0);
    pid = start_redis(fx, "late", port, 0, NULL);
    assert_true(run_until(fx, w, 3, 3000));
    assert_event(w, 2, AR_TOPO_MASTER_FOUND, 0, port); /* the same address: not a failover */
    ar_topo_stats(w->t, &st);
    assert_int_equal(st.failovers, 0);
}

/* ROLE checks authenticate: with a password alone, or with a user and its password; wrong
 * credentials fail. Without any, a NOAUTH answer still proves the master reachable (the
 * clients authenticate themselves), so it is found. */
static void test_auth(void **state)
{
    struct fx *fx = *state;
    char *extra[] = {"--requirepass", "secret", "--user", "alice", "on",
                     ">pw",           "~*",     "+@all",  NULL};
    char up[32];
    struct ar_topo_stats st;
    struct {
        const char *user, *password, *error; /* error: NULL when it must work */
    } cases[] = {
        {NULL, NULL, NULL},     {NULL, "wrong", "WRONGPASS"}, {"alice", "secret", "WRONGPASS"},
        {NULL, "secret", NULL}, {"alice", "pw", NULL},
    };

    NEED_PEERS(fx);
    int port = free_port();
    start_redis(fx, "auth", port, 0, extra);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ar_topo_config cfg = {.upstream = addr(up, port),
                                     .recheck_ms = 100,
                                     .upstream_user = cases[i].user,
                                     .upstream_password = cases[i].password};
        struct watch *w = &fx->w[0];
        *w = (struct watch){0};
        start_topo(fx, w, &cfg);
        if (cases[i].error == NULL) {
            assert_true(run_until(fx, w, 1, 3000));
            assert_event(w, 0, AR_TOPO_MASTER_FOUND, 0, port);
        } else {
            run_for(fx, 300);
            assert_int_equal(w->n, 0);
            ar_topo_stats(w->t, &st);
            if (strstr(st.last_error, cases[i].error) == NULL) {
                fail_msg("case %zu: '%s' does not say %s", i, st.last_error, cases[i].error);
            }
        }
        ar_topo_free(w->t);
        w->t = NULL;
    }
}

/* A fixed master that says it is a replica is no master. */
static void test_fixed_role(void **state)
{
    struct fx *fx = *state;
    char up[32];
    struct ar_topo_stats st;
    redisReply *r;

    NEED_PEERS(fx);
    struct ar_topo_config cfg = {.upstream = addr(up, fx->rport), .recheck_ms = 100};
    struct watch *w = &fx->w[0];
    start_topo(fx, w, &cfg);
    run_for(fx, 400);
    assert_int_equal(w->n, 0);
    ar_topo_stats(w->t, &st);
    assert_non_null(strstr(st.last_error, "ROLE says slave"));
    r = cmd(fx->rport, "REPLICAOF NO ONE");
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(run_until(fx, w, 1, 3000));
    assert_event(w, 0, AR_TOPO_MASTER_FOUND, 0, fx->rport);
    r = cmd(fx->rport, "REPLICAOF %s %d", LOCAL, fx->mport);
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(run_until(fx, w, 2, 3000));
    assert_event(w, 1, AR_TOPO_MASTER_LOST, fx->rport, 0);
}

/* Suspects coalesce into one check, which runs at once. */
static void test_suspect(void **state)
{
    struct fx *fx = *state;
    char up[32];

    NEED_PEERS(fx);
    struct ar_topo_config cfg = {.upstream = addr(up, fx->mport), .recheck_ms = 60000};
    struct watch *w = &fx->w[0];
    start_topo(fx, w, &cfg);
    assert_true(run_until(fx, w, 1, 3000));
    long before = calls(fx->mport, "role");
    assert_true(before >= 1);
    for (int i = 0; i < 5; i++) {
        ar_topo_suspect(w->t, "-READONLY");
    }
    run_for(fx, 400);
    assert_int_equal(calls(fx->mport, "role"), before + 1);
    stop(fx, fx->mpid);
    long t0 = now_ms();
    ar_topo_suspect(w->t, "connection refused");
    assert_true(run_until(fx, w, 2, 1000)); /* long before recheck_ms */
    assert_event(w, 1, AR_TOPO_MASTER_LOST, fx->mport, 0);
    assert_true(now_ms() - t0 < 500);
}

/* ---- Sentinel ------------------------------------------------------------------------ */

/* The Sentinels, after one that is not there. */
static void sentinel_list(struct fx *fx, char bufs[][32], const char **list, int dead_port)
{
    list[0] = addr(bufs[0], dead_port);
    for (int i = 0; i < NSENT; i++) {
        list[i + 1] = addr(bufs[i + 1], fx->sport[i]);
    }
}

static void test_sentinel_discovery(void **state)
{
    struct fx *fx = *state;
    char bufs[2][NSENT + 1][32];
    const char *list[2][NSENT + 1];
    struct ar_topo_stats st;

    NEED_PEERS(fx);
    /* A closed port first: refused at once. */
    sentinel_list(fx, bufs[0], list[0], free_port());
    struct ar_topo_config cfg = {.sentinels = list[0],
                                 .nsentinels = NSENT + 1,
                                 .master_name = "mymaster",
                                 .recheck_ms = 60000};
    long t0 = now_ms();
    start_topo(fx, &fx->w[0], &cfg);
    assert_true(run_until(fx, &fx->w[0], 1, 3000));
    assert_true(now_ms() - t0 < CONNECT_MS);
    assert_event(&fx->w[0], 0, AR_TOPO_MASTER_FOUND, 0, fx->mport);
    ar_topo_stats(fx->w[0].t, &st);
    assert_true(st.sentinel_mode);
    assert_true(st.sentinel_errors >= 1);
    ar_topo_free(fx->w[0].t);
    fx->w[0].t = NULL;

    /* A port that never completes the handshake first: given up after the timeout. */
    sentinel_list(fx, bufs[1], list[1], blackhole(fx));
    cfg.sentinels = list[1];
    cfg.discover_replicas = true;
    t0 = now_ms();
    start_topo(fx, &fx->w[1], &cfg);
    assert_true(run_until(fx, &fx->w[1], 2, 3000));
    long took = fx->w[1].ev[0].at_ms - t0;
    assert_in_range(took, CONNECT_MS - 20, CONNECT_MS + SLACK_MS);
    assert_event(&fx->w[1], 0, AR_TOPO_MASTER_FOUND, 0, fx->mport);
    assert_event(&fx->w[1], 1, AR_TOPO_REPLICAS, 0, fx->mport);
    /* The Sentinel that answered is asked first now: a re-check does not wait for the dead
     * one again. It shows when the replica dies: the re-check a suspect asks for drops it. */
    stop(fx, fx->rpid);
    t0 = now_ms();
    ar_topo_suspect(fx->w[1].t, "test");
    assert_true(run_until(fx, &fx->w[1], 3, 3000));
    assert_event(&fx->w[1], 2, AR_TOPO_REPLICAS, 0, fx->mport);
    assert_true(fx->w[1].ev[2].at_ms - t0 < CONNECT_MS - 50);
}

/* A topology that follows the three Sentinels, asking them for replicas, once it has
 * announced the master and the replica. */
static struct watch *follow(struct fx *fx, int recheck_ms)
{
    char bufs[NSENT][32];
    const char *list[NSENT];
    const struct ar_topo_addr *rs;
    struct watch *w = &fx->w[0];

    for (int i = 0; i < NSENT; i++) {
        list[i] = addr(bufs[i], fx->sport[i]);
    }
    struct ar_topo_config cfg = {.sentinels = list,
                                 .nsentinels = NSENT,
                                 .master_name = "mymaster",
                                 .discover_replicas = true,
                                 .recheck_ms = recheck_ms};
    start_topo(fx, w, &cfg);
    assert_true(run_until(fx, w, 2, 3000));
    assert_event(w, 0, AR_TOPO_MASTER_FOUND, 0, fx->mport);
    assert_event(w, 1, AR_TOPO_REPLICAS, 0, fx->mport);
    assert_int_equal(ar_topo_replicas(w->t, &rs), 1);
    assert_string_equal(rs[0].host, LOCAL);
    assert_int_equal(rs[0].port, fx->rport);
    return w;
}

static void test_sentinel_replicas(void **state)
{
    struct fx *fx = *state;
    const struct ar_topo_addr *rs;

    NEED_PEERS(fx);
    struct watch *w = follow(fx, 100);
    /* The replica dies: ROLE no longer confirms it, long before Sentinel notices. */
    stop(fx, fx->rpid);
    assert_true(run_until(fx, w, 3, 2000));
    assert_event(w, 2, AR_TOPO_REPLICAS, 0, fx->mport);
    assert_int_equal(ar_topo_replicas(w->t, &rs), 0);
}

static void test_sentinel_failover(void **state)
{
    struct fx *fx = *state;
    struct ar_topo_stats st;

    NEED_PEERS(fx);
    /* Re-checks far apart: only +switch-master can make the change quick. */
    struct watch *w = follow(fx, 30000);
    run_for(fx, 200); /* the subscriptions settle */
    redisReply *r = cmd(fx->sport[0], "SENTINEL FAILOVER mymaster");
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR) {
        fail_msg("SENTINEL FAILOVER: %s", r->str);
    }
    freeReplyObject(r);
    long t0 = now_ms();
    int changed = -1;
    for (int seen = 2; changed < 0 && run_until(fx, w, seen + 1, 15000 - (now_ms() - t0));) {
        for (; seen < w->n; seen++) {
            changed = changed < 0 && w->ev[seen].ev == AR_TOPO_MASTER_CHANGED ? seen : changed;
        }
    }
    assert_true(changed >= 2);
    assert_event(w, changed, AR_TOPO_MASTER_CHANGED, fx->mport, fx->rport);
    long took = w->ev[changed].at_ms - t0;
    ar_topo_stats(w->t, &st);
    assert_int_equal(st.failovers, 1);
    assert_true(st.last_failover_seconds > 0 && st.last_failover_seconds <= took / 1000.0);
    print_message("# failover seen after %ld ms, measured %.4f s\n", took,
                  st.last_failover_seconds);
}

/* Freed from inside its callback, with connections in flight; freed before ever running. */
static void test_free_anywhere(void **state)
{
    struct fx *fx = *state;
    char bufs[NSENT + 1][32];
    const char *list[NSENT + 1];

    NEED_PEERS(fx);
    sentinel_list(fx, bufs, list, blackhole(fx));
    struct ar_topo_config cfg = {.sentinels = list,
                                 .nsentinels = NSENT + 1,
                                 .master_name = "mymaster",
                                 .discover_replicas = true,
                                 .recheck_ms = 50};
    struct watch *w = &fx->w[0];
    start_topo(fx, w, &cfg);
    w->free_in_cb = true;
    assert_true(run_until(fx, w, 1, 3000));
    assert_null(w->t);
    run_for(fx, 200);
    assert_int_equal(w->n, 1);
    /* Mid-connect: the blackhole's handshake and the subscriptions are pending. */
    for (int i = 0; i < 3; i++) {
        start_topo(fx, &fx->w[1], &cfg);
        run_for(fx, i * 20);
        ar_topo_free(fx->w[1].t);
        fx->w[1].t = NULL;
    }
    run_for(fx, 100);
    assert_int_equal(fx->w[1].n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_configs, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_found, setup_pair, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_down_then_up, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_role, setup_pair, teardown),
        cmocka_unit_test_setup_teardown(test_suspect, setup_pair, teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_discovery, setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_replicas, setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_failover, setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_free_anywhere, setup_cluster, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
