/* test_portfwd.c — hostPort forwarding into a real network namespace, over loopback only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "shim_portfwd.h"

#define TEST_SECONDS 100 /* alarm() per test: generous for valgrind; native runs take ~1 s */
#define CLIENT_WAIT_MS 60000
#define PERIOD 251 /* the payload is (offset + phase) % PERIOD: a prime, so shifts show */
#define CHUNK 65536
#define BIG_SIZE ((size_t)64 << 20)
#define UPLOAD_SIZE ((size_t)32 << 20)
#define NSEQ 200
#define NCONC 50
#define STALL_MS 300
/* What the forwarder may hold for one direction: the high watermark plus one read of
 * libevent's (16 KiB), with room to spare; the test proves the bound, not the exact figure. */
#define BOUND (SHIM_PORTFWD_HIGH_WATER + 64 * 1024)

/* The servers inside the pod, one port each; CLOSED has no server. */
enum { P_ECHO, P_COUNT, P_BIG, P_CLOSED, NPORTS };

static unsigned char pattern[CHUNK + PERIOD];
/* The process group clients join (the pod's, set by setup), so teardown can kill any a
 * failed test left waiting; 0 when there is none. */
static pid_t client_group;

struct fx {
    const char *skip_why; /* set when the test cannot run here */
    char why[160];
    pid_t ns_pid;              /* the process holding the pod's namespace and servers */
    int netns_fd;              /* /proc/ns_pid/ns/net */
    int hold[NPORTS];          /* host sockets bound, not listening, to the pod's ports */
    uint16_t port[NPORTS];     /* the same numbers serve in the pod, refuse on the host */
    struct event_base *base;   /* the forwarder's loop, driven by pump() */
    struct event *tick;        /* wakes the loop every 2 ms so pump() never blocks long */
    struct shim_portfwd *fwd;  /* the forwarder under test */
    struct shim_portfwd *fwd2; /* a second one, when a test needs two */
    char log[512];             /* its last log line */
    unsigned nlog;             /* and how many it wrote */
    bool destroy_on_log;       /* the log callback destroys the forwarder */
    uint64_t max_buffered;     /* the most seen in stats.buffered while pumping */
};

/* ---- helpers shared by the pod's servers and the clients (child processes) ---- */

static const unsigned char *expect_at(size_t phase, size_t off)
{
    return pattern + (phase + off) % PERIOD;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns the bytes read (len unless EOF came first), or -1. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int cfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cfail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "# client %d: ", (int)getpid());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

/* A blocking TCP connection to loopback:port (127.0.0.1 or ::1), with I/O timeouts so a
 * stuck relay fails the test instead of hanging it. */
static int dial(int family, uint16_t port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct timeval tv = {.tv_sec = 30};
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_port = htons(port);
        len = sizeof(*in6);
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_port = htons(port);
        len = sizeof(*in4);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* ---- the pod: a child in its own network namespace with three servers ---- */

static void serve_echo(int fd)
{
    char buf[CHUNK];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (write_all(fd, buf, (size_t)n) < 0) {
            return;
        }
    }
}

/* Reads to EOF (slowly, and after a stall when the first byte is 'S'), then replies with
 * the count: the reply can only come after the client's FIN went through. */
static void serve_count(int fd)
{
    char buf[CHUNK];
    unsigned long long total = 0;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (total == 0 && buf[0] == 'S') {
            usleep(STALL_MS * 1000);
        }
        total += (unsigned long long)n;
        usleep(200);
    }
    if (n == 0) {
        dprintf(fd, "%llu\n", total);
    }
}

static void serve_big(int fd)
{
    for (size_t off = 0; off < BIG_SIZE; off += CHUNK) {
        if (write_all(fd, expect_at(0, off), CHUNK) < 0) {
            return;
        }
    }
}

static int listen_local(uint16_t port)
{
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&in4, sizeof(in4)) < 0 || listen(fd, 128) < 0) {
        return -1;
    }
    return fd;
}

/* Never returns. Reports on fd 3: 'R' when serving, or 'E' and errno when the namespace
 * could not be made. Each connection is served by a fork of its own. */
static void ns_main(int ready, const uint16_t *port, pid_t parent)
{
    struct pollfd pfd[3];
    struct ifreq ifr = {0};
    unsigned char msg[2] = {'E', 0};
    int s;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* should the test crash */
    if (getppid() != parent) {
        _exit(1);
    }
    dup2(ready, 3);
    close_range(4, ~0U, 0);
    alarm(TEST_SECONDS + 10);
    if (unshare(CLONE_NEWNET) < 0) {
        msg[1] = (unsigned char)errno;
        write_all(3, msg, 2);
        _exit(1);
    }
    /* A new namespace has only lo, and down. */
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        _exit(1);
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        _exit(1);
    }
    close(s);
    for (int i = 0; i < 3; i++) {
        pfd[i].fd = listen_local(port[i]);
        pfd[i].events = POLLIN;
        if (pfd[i].fd < 0) {
            _exit(1);
        }
    }
    signal(SIGCHLD, SIG_IGN); /* the per-connection forks reap themselves */
    signal(SIGPIPE, SIG_IGN);
    msg[0] = 'R';
    write_all(3, msg, 1);
    close(3);
    for (;;) {
        if (poll(pfd, 3, -1) < 0) {
            continue;
        }
        for (int i = 0; i < 3; i++) {
            int c;
            if (!(pfd[i].revents & POLLIN) || (c = accept(pfd[i].fd, NULL, NULL)) < 0) {
                continue;
            }
            if (fork() == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (int j = 0; j < 3; j++) {
                    close(pfd[j].fd);
                }
                if (i == P_ECHO) {
                    serve_echo(c);
                } else if (i == P_COUNT) {
                    serve_count(c);
                } else {
                    serve_big(c);
                }
                _exit(0);
            }
            close(c);
        }
    }
}

/* ---- clients: each runs in a child process doing blocking I/O; exit 0 means success ---- */

struct client {
    int family;    /* AF_INET (default when 0) or AF_INET6 */
    uint16_t port; /* the forwarder's host port */
    size_t id;     /* selects this client's payload */
    size_t size;
    size_t nconn; /* echo: sequential connections */
    int go;       /* -1, or a pipe: echo the first chunk, then wait for one byte here;
                   * big: read nothing until a byte comes here */
    int stall_ms; /* big: read nothing for this long first */
    bool cut;     /* big: the stream must end early (the forwarder was destroyed) */
};

typedef int client_fn(struct client *cl);

static int echo_client(struct client *cl)
{
    static unsigned char buf[CHUNK];

    for (size_t k = 0; k < cl->nconn; k++) {
        size_t size = cl->size + k * 97, phase = (cl->id * 37 + k) % PERIOD;
        int fd = dial(cl->family, cl->port);
        if (fd < 0) {
            return cfail("echo %zu: connect: %s", k, strerror(errno));
        }
        for (size_t off = 0; off < size;) {
            size_t n = size - off < 16384 ? size - off : 16384;
            char go;
            if (write_all(fd, expect_at(phase, off), n) < 0) {
                return cfail("echo %zu: write: %s", k, strerror(errno));
            }
            if (read_full(fd, buf, n) != (ssize_t)n) {
                return cfail("echo %zu: short read at %zu", k, off);
            }
            if (memcmp(buf, expect_at(phase, off), n) != 0) {
                return cfail("echo %zu: wrong data at %zu (another connection's?)", k, off);
            }
            if (off == 0 && cl->go >= 0 && read(cl->go, &go, 1) != 1) {
                return cfail("go pipe closed");
            }
            off += n;
        }
        shutdown(fd, SHUT_WR);
        if (read(fd, buf, 1) != 0) {
            return cfail("echo %zu: no EOF after the echo", k);
        }
        close(fd);
    }
    return 0;
}

static int big_client(struct client *cl)
{
    static unsigned char buf[CHUNK];
    size_t total = 0, since_nap = 0;
    int fd = dial(AF_INET, cl->port);

    if (fd < 0) {
        return cfail("big: connect: %s", strerror(errno));
    }
    usleep((useconds_t)cl->stall_ms * 1000);
    if (cl->go >= 0 && read(cl->go, buf, 1) != 1) {
        return cfail("go pipe closed");
    }
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (cl->cut) {
                return total < BIG_SIZE ? 0 : cfail("big: got all of it after destroy");
            }
            if (n < 0 || total != BIG_SIZE) {
                return cfail("big: ended at %zu of %zu: %s", total, BIG_SIZE,
                             n < 0 ? strerror(errno) : "EOF");
            }
            return 0;
        }
        if (memcmp(buf, expect_at(0, total), (size_t)n) != 0) {
            return cfail("big: wrong data at %zu", total);
        }
        total += (size_t)n;
        since_nap += (size_t)n;
        if (since_nap >= 128 * 1024) { /* a slow reader: at most ~128 MB/s */
            since_nap = 0;
            usleep(1000);
        }
    }
}

/* Sends a header byte ('S' asks the server to stall) and size bytes, half-closes, and
 * expects the server's count of what it read, then EOF. */
static int count_client(struct client *cl)
{
    char hdr = cl->stall_ms > 0 ? 'S' : 'N', reply[64];
    unsigned long long got;
    ssize_t n;
    int fd = dial(AF_INET, cl->port);

    if (fd < 0) {
        return cfail("count: connect: %s", strerror(errno));
    }
    if (write_all(fd, &hdr, 1) < 0) {
        return cfail("count: write: %s", strerror(errno));
    }
    for (size_t off = 0; off < cl->size; off += CHUNK) {
        size_t len = cl->size - off < CHUNK ? cl->size - off : CHUNK;
        if (write_all(fd, expect_at(cl->id, off), len) < 0) {
            return cfail("count: write at %zu: %s", off, strerror(errno));
        }
    }
    if (shutdown(fd, SHUT_WR) < 0) {
        return cfail("count: shutdown: %s", strerror(errno));
    }
    n = read_full(fd, reply, sizeof(reply) - 1);
    if (n <= 0) {
        return cfail("count: no reply after the half-close");
    }
    reply[n] = '\0';
    if (sscanf(reply, "%llu", &got) != 1 || got != cl->size + 1) {
        return cfail("count: server read '%s', sent %zu", reply, cl->size + 1);
    }
    close(fd);
    return 0;
}

/* Expects the forwarder to close the connection (EOF or RST) within 2 s; with go, after
 * one echo and a byte on the go pipe. */
static int closed_client(struct client *cl)
{
    char buf[16], go;
    struct timeval tv = {.tv_sec = 3};
    long t0;
    ssize_t n;
    int fd = dial(AF_INET, cl->port);

    if (fd < 0) {
        return cfail("closed: connect: %s", strerror(errno));
    }
    if (cl->go >= 0) {
        if (write_all(fd, "hi", 2) < 0 || read_full(fd, buf, 2) != 2) {
            return cfail("closed: no echo before the close");
        }
        if (read(cl->go, &go, 1) != 1) {
            return cfail("go pipe closed");
        }
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    t0 = now_ms();
    n = read(fd, buf, sizeof(buf));
    if (n > 0 || (n < 0 && errno != ECONNRESET)) {
        return cfail("closed: read returned %zd (%s), want EOF or reset", n,
                     n < 0 ? strerror(errno) : "data");
    }
    if (now_ms() - t0 > 2000) {
        return cfail("closed: took %ld ms", now_ms() - t0);
    }
    close(fd);
    return 0;
}

/* Forks a client. It keeps no inherited descriptor but its go pipe (as fd 3): a copy of
 * one of the forwarder's sockets would keep it open after the forwarder closes it. */
static pid_t spawn(client_fn *fn, const struct client *cl)
{
    pid_t parent = getpid(), pid = fork();

    if (pid == 0) {
        struct client mine = *cl;
        if (client_group > 0) {
            setpgid(0, client_group);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        if (mine.family == 0) {
            mine.family = AF_INET;
        }
        if (mine.go >= 0) {
            dup2(mine.go, 3);
            mine.go = 3;
            close_range(4, ~0U, 0);
        } else {
            close_range(3, ~0U, 0);
        }
        alarm(TEST_SECONDS);
        _exit(fn(&mine));
    }
    if (pid > 0 && client_group > 0) {
        setpgid(pid, client_group); /* as the child does: no race on who is first */
    }
    return pid;
}

/* ---- the test side: drives the forwarder's loop while clients run ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* One turn of the loop: EVLOOP_ONCE wakes on the 2 ms tick at the latest. */
static void pump(struct fx *fx)
{
    struct shim_portfwd_stats st;
    struct timeval most = {0, 20 * 1000};

    /* Bounded: once the forwarders are gone the base may have nothing that fires, and the
     * callers' deadlines must still be checked. */
    event_base_loopexit(fx->base, &most);
    event_base_loop(fx->base, EVLOOP_ONCE);
    if (fx->fwd != NULL) {
        shim_portfwd_stats(fx->fwd, &st);
        if (st.buffered > fx->max_buffered) {
            fx->max_buffered = st.buffered;
        }
    }
}

static void pump_ms(struct fx *fx, long ms)
{
    long end = now_ms() + ms;

    while (now_ms() < end) {
        pump(fx);
    }
}

/* Pumps until every client has exited, and fails unless each exited 0. */
static void wait_clients(struct fx *fx, pid_t *pids, size_t n)
{
    long deadline = now_ms() + CLIENT_WAIT_MS;
    size_t left = n, bad = n;
    int status, bad_status = 0;

    while (left > 0 && now_ms() < deadline) {
        pump(fx);
        for (size_t i = 0; i < n; i++) {
            if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                pids[i] = 0;
                left--;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    bad = i;
                    bad_status = status;
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    }
    if (left > 0) {
        fail_msg("%zu of %zu clients still running after %d ms", left, n, CLIENT_WAIT_MS);
    }
    if (bad < n) {
        fail_msg("client %zu failed: %s %d", bad,
                 WIFEXITED(bad_status) ? "exit status" : "killed by signal",
                 WIFEXITED(bad_status) ? WEXITSTATUS(bad_status) : WTERMSIG(bad_status));
    }
}

static void run_client(struct fx *fx, client_fn *fn, const struct client *cl)
{
    pid_t pid = spawn(fn, cl);

    assert_true(pid > 0);
    wait_clients(fx, &pid, 1);
}

static struct shim_portfwd_stats stats(struct fx *fx)
{
    struct shim_portfwd_stats st;

    shim_portfwd_stats(fx->fwd, &st);
    return st;
}

/* Pumps until the forwarder has want connections open (they close a moment after the
 * client sees the end). */
static void wait_active(struct fx *fx, uint64_t want)
{
    long deadline = now_ms() + CLIENT_WAIT_MS;

    while (stats(fx).active != want && now_ms() < deadline) {
        pump(fx);
    }
    assert_int_equal(stats(fx).active, want);
}

static void on_log(void *arg, const char *msg)
{
    struct fx *fx = arg;

    snprintf(fx->log, sizeof(fx->log), "%s", msg);
    fx->nlog++;
    if (fx->destroy_on_log) {
        shim_portfwd_destroy(fx->fwd);
        fx->fwd = NULL;
    }
}

/* A forwarder from 127.0.0.1 (or host_ip) on a port the kernel picks to the pod's port. */
static void start(struct fx *fx, const char *host_ip, int pod_port)
{
    char err[256] = "";

    fx->fwd = shim_portfwd_create(fx->base, host_ip, 0, fx->netns_fd, pod_port, err, sizeof(err));
    if (fx->fwd == NULL) {
        fail_msg("shim_portfwd_create: %s", err);
    }
    shim_portfwd_set_log(fx->fwd, on_log, fx);
    assert_true(shim_portfwd_port(fx->fwd) > 0);
}

#define SKIP_UNLESS_READY(fx)                                                                      \
    do {                                                                                           \
        if ((fx)->skip_why != NULL) {                                                              \
            print_message("# skipped: %s\n", (fx)->skip_why);                                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct timeval two_ms = {.tv_usec = 2000};
    char path[64];
    unsigned char msg[2];
    int ready[2];
    pid_t parent;

    assert_non_null(fx);
    *state = fx;
    fx->netns_fd = -1;
    for (int i = 0; i < NPORTS; i++) {
        fx->hold[i] = -1;
    }
    if (geteuid() != 0) {
        fx->skip_why = "needs root (unshare and setns of network namespaces)";
        return 0;
    }
    alarm(TEST_SECONDS);
    /* Ports free on the host, kept bound (not listening) so that nothing on the host can
     * serve them while the pod serves them: connecting to them on the host is refused. */
    for (int i = 0; i < NPORTS; i++) {
        struct sockaddr_in in4 = {.sin_family = AF_INET};
        socklen_t len = sizeof(in4);
        in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fx->hold[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fx->hold[i] >= 0);
        assert_int_equal(bind(fx->hold[i], (struct sockaddr *)&in4, sizeof(in4)), 0);
        assert_int_equal(getsockname(fx->hold[i], (struct sockaddr *)&in4, &len), 0);
        fx->port[i] = ntohs(in4.sin_port);
    }
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    parent = getpid();
    fx->ns_pid = fork();
    assert_true(fx->ns_pid >= 0);
    if (fx->ns_pid == 0) {
        ns_main(ready[1], fx->port, parent);
    }
    setpgid(fx->ns_pid, fx->ns_pid); /* as the child does: no race on who is first */
    client_group = fx->ns_pid;
    close(ready[1]);
    if (read_full(ready[0], msg, 2) < 1) {
        close(ready[0]);
        fail_msg("the namespace child died before it was ready");
    }
    close(ready[0]);
    if (msg[0] == 'E') {
        snprintf(fx->why, sizeof(fx->why), "unshare(CLONE_NEWNET): %s", strerror(msg[1]));
        fx->skip_why = fx->why;
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)fx->ns_pid);
    fx->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fx->netns_fd >= 0);
    fx->base = event_base_new();
    assert_non_null(fx->base);
    fx->tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    assert_non_null(fx->tick);
    event_add(fx->tick, &two_ms);
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    shim_portfwd_destroy(fx->fwd);
    shim_portfwd_destroy(fx->fwd2);
    if (fx->base != NULL) {
        /* Let libevent run the finalizers of the bufferevents just freed. */
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
        event_free(fx->tick);
        event_base_free(fx->base);
    }
    if (fx->ns_pid > 0) {
        kill(-fx->ns_pid, SIGKILL); /* the pod's servers, and any client still running */
        waitpid(fx->ns_pid, NULL, 0);
    }
    client_group = 0;
    /* The servers' forks, handed to us as the subreaper when their parent died. */
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
    }
    if (fx->netns_fd >= 0) {
        close(fx->netns_fd);
    }
    for (int i = 0; i < NPORTS; i++) {
        if (fx->hold[i] >= 0) {
            close(fx->hold[i]);
        }
    }
    free(fx);
    alarm(0);
    return 0;
}

/* ---- the tests ---- */

/* The pod's servers are out of the host's reach, and the forwarder reaches them; the
 * caller's namespace fd may be closed once the forwarder is made. */
static void test_namespace_is_real(void **state)
{
    struct fx *fx = *state;
    char err[256] = "";
    int fd, ns;

    SKIP_UNLESS_READY(fx);
    fd = dial(AF_INET, fx->port[P_ECHO]);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, ECONNREFUSED);

    ns = dup(fx->netns_fd);
    fx->fwd = shim_portfwd_create(fx->base, NULL, 0, ns, fx->port[P_ECHO], err, sizeof(err));
    close(ns);
    if (fx->fwd == NULL) {
        fail_msg("shim_portfwd_create: %s", err);
    }
    run_client(
        fx, echo_client,
        &(struct client){.port = shim_portfwd_port(fx->fwd), .size = 5, .nconn = 1, .go = -1});
    wait_active(fx, 0);
    assert_int_equal(stats(fx).accepted, 1);
    assert_int_equal(stats(fx).bytes_to_pod, 5);
    assert_int_equal(stats(fx).bytes_from_pod, 5);
}

/* The supervisor forks containers: none of the forwarder's sockets may leak into them.
 * The test's own sockets are all made with SOCK_CLOEXEC too. */
static void assert_all_sockets_cloexec(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    unsigned sockets = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
            continue;
        }
        sockets++;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
            closedir(d);
            fail_msg("socket fd %d is not close-on-exec", fd);
        }
    }
    closedir(d);
    assert_true(sockets >= 2 * NCONC + 1);
}

/* Many connections one after another, each with its own payload and size; the counters
 * add up and every connection is closed at the end. */
static void test_echo_sequential(void **state)
{
    struct fx *fx = *state;
    struct shim_portfwd_stats st;
    uint64_t want = 0;

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_ECHO]);
    run_client(
        fx, echo_client,
        &(struct client){
            .port = shim_portfwd_port(fx->fwd), .id = 1, .size = 1, .nconn = NSEQ, .go = -1});
    wait_active(fx, 0);
    for (size_t k = 0; k < NSEQ; k++) {
        want += 1 + k * 97;
    }
    st = stats(fx);
    assert_int_equal(st.accepted, NSEQ);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.bytes_to_pod, want);
    assert_int_equal(st.bytes_from_pod, want);
    assert_int_equal(st.buffered, 0);
    assert_int_equal(fx->nlog, 0);
}

/* 50 connections open at the same time (held open until all are), each checking that it
 * gets back only its own bytes. */
static void test_echo_concurrent(void **state)
{
    struct fx *fx = *state;
    pid_t pids[NCONC];
    char go[NCONC];
    int gp[2];

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_ECHO]);
    assert_int_equal(pipe2(gp, O_CLOEXEC), 0);
    for (size_t i = 0; i < NCONC; i++) {
        pids[i] = spawn(echo_client, &(struct client){.port = shim_portfwd_port(fx->fwd),
                                                      .id = i,
                                                      .size = 100000 + i,
                                                      .nconn = 1,
                                                      .go = gp[0]});
        assert_true(pids[i] > 0);
    }
    close(gp[0]);
    wait_active(fx, NCONC);
    assert_all_sockets_cloexec();
    memset(go, 'g', sizeof(go));
    assert_int_equal(write(gp[1], go, sizeof(go)), NCONC);
    close(gp[1]);
    wait_clients(fx, pids, NCONC);
    wait_active(fx, 0);
    assert_int_equal(stats(fx).accepted, NCONC);
    assert_int_equal(stats(fx).failed, 0);
}

/* The reader was slower than the relay, so the forwarder's buffer filled to the high
 * watermark, and no further, neither for one socket nor in all (as sampled by pump). */
static void assert_backpressure(const struct fx *fx, const struct shim_portfwd_stats *st)
{
    print_message("# buffered: peak %llu for one socket, at most %llu in all (bound %d)\n",
                  (unsigned long long)st->buffered_peak, (unsigned long long)fx->max_buffered,
                  BOUND);
    assert_true(st->buffered_peak >= SHIM_PORTFWD_HIGH_WATER);
    if (st->buffered_peak > BOUND || fx->max_buffered > BOUND) {
        fail_msg("buffered up to %llu (sampled %llu), bound %d",
                 (unsigned long long)st->buffered_peak, (unsigned long long)fx->max_buffered,
                 BOUND);
    }
}

/* 64 MiB from the pod to a reader that stalls, then reads slowly: all of it arrives in
 * order, and the forwarder's buffers stay at the watermark instead of growing. */
static void test_large_slow_reader(void **state)
{
    struct fx *fx = *state;
    struct shim_portfwd_stats st;

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_BIG]);
    run_client(
        fx, big_client,
        &(struct client){.port = shim_portfwd_port(fx->fwd), .go = -1, .stall_ms = STALL_MS});
    wait_active(fx, 0);
    st = stats(fx);
    assert_int_equal(st.bytes_from_pod, BIG_SIZE);
    assert_backpressure(fx, &st);
}

/* The other direction: 32 MiB to a server that stalls, then reads slowly. */
static void test_large_upload_slow_server(void **state)
{
    struct fx *fx = *state;
    struct shim_portfwd_stats st;

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_COUNT]);
    run_client(fx, count_client,
               &(struct client){.port = shim_portfwd_port(fx->fwd),
                                .id = 3,
                                .size = UPLOAD_SIZE,
                                .go = -1,
                                .stall_ms = STALL_MS});
    wait_active(fx, 0);
    st = stats(fx);
    assert_int_equal(st.bytes_to_pod, UPLOAD_SIZE + 1);
    assert_backpressure(fx, &st);
}

/* The client half-closes: the server sees EOF, replies after it, the reply reaches the
 * client, then the server's EOF does, and the forwarder closes the pair. */
static void test_half_close(void **state)
{
    struct fx *fx = *state;

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_COUNT]);
    run_client(
        fx, count_client,
        &(struct client){.port = shim_portfwd_port(fx->fwd), .id = 5, .size = 4000, .go = -1});
    wait_active(fx, 0);
    assert_int_equal(stats(fx).bytes_to_pod, 4001);
    assert_int_equal(stats(fx).failed, 0);
}

/* Nothing listens on the pod's port: the client's connection is closed at once, the
 * failure counted and reported through the log callback. */
static void test_upstream_refused(void **state)
{
    struct fx *fx = *state;
    char want[64];

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_CLOSED]);
    run_client(fx, closed_client, &(struct client){.port = shim_portfwd_port(fx->fwd), .go = -1});
    wait_active(fx, 0);
    assert_int_equal(stats(fx).accepted, 1);
    assert_int_equal(stats(fx).failed, 1);
    assert_int_equal(fx->nlog, 1);
    snprintf(want, sizeof(want),
             "127.0.0.1:%u -> pod port %u: connect: ", shim_portfwd_port(fx->fwd),
             fx->port[P_CLOSED]);
    if (strncmp(fx->log, want, strlen(want)) != 0 || strstr(fx->log, "refused") == NULL) {
        fail_msg("log line '%s'", fx->log);
    }
}

/* A port already in use on the host: create fails, naming the address. */
static void test_bind_conflict(void **state)
{
    struct fx *fx = *state;
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    socklen_t len = sizeof(in4);
    char err[256] = "", want[128];
    int fd;

    SKIP_UNLESS_READY(fx);
    in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&in4, sizeof(in4)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&in4, &len), 0);
    fx->fwd = shim_portfwd_create(fx->base, "127.0.0.1", ntohs(in4.sin_port), fx->netns_fd,
                                  fx->port[P_ECHO], err, sizeof(err));
    close(fd);
    assert_null(fx->fwd);
    snprintf(want, sizeof(want), "bind 127.0.0.1:%u: Address already in use", ntohs(in4.sin_port));
    assert_string_equal(err, want);
}

/* Arguments create must refuse, with the message it gives. */
static void test_bad_arguments(void **state)
{
    struct fx *fx = *state;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char devnull_err[128];
    const struct {
        const char *host_ip;
        int host_port, netns_fd, container_port;
        const char *err;
    } table[] = {
        {"localhost", 0, fx->netns_fd, 80,
         "invalid host IP 'localhost' (expected an IPv4 or IPv6 address)"},
        {"1.2.3.4.5", 0, fx->netns_fd, 80,
         "invalid host IP '1.2.3.4.5' (expected an IPv4 or IPv6 address)"},
        {"[::1]", 0, fx->netns_fd, 80,
         "invalid host IP '[::1]' (expected an IPv4 or IPv6 address)"},
        {"127.0.0.1", -1, fx->netns_fd, 80, "invalid host port -1 (expected 0 to 65535)"},
        {"127.0.0.1", 65536, fx->netns_fd, 80, "invalid host port 65536 (expected 0 to 65535)"},
        {"127.0.0.1", 0, fx->netns_fd, 0, "invalid container port 0 (expected 1 to 65535)"},
        {"127.0.0.1", 0, fx->netns_fd, 65536, "invalid container port 65536 (expected 1 to 65535)"},
        {"127.0.0.1", 0, -1, 80, "the pod's network namespace fd -1: Bad file descriptor"},
        {"127.0.0.1", 0, devnull, 80, devnull_err},
    };

    SKIP_UNLESS_READY(fx);
    assert_true(devnull >= 0);
    snprintf(devnull_err, sizeof(devnull_err),
             "socket in the pod's network namespace (fd %d): Invalid argument", devnull);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        char err[256] = "";
        struct shim_portfwd *f =
            shim_portfwd_create(fx->base, table[i].host_ip, table[i].host_port, table[i].netns_fd,
                                table[i].container_port, err, sizeof(err));
        if (f != NULL || strcmp(err, table[i].err) != 0) {
            shim_portfwd_destroy(f);
            close(devnull);
            fail_msg("table[%zu]: err '%s', want '%s'", i, err, table[i].err);
        }
    }
    close(devnull);
}

/* With max_conns 2, a third connection is reset at once and counted; once one of the two
 * ends, connections are served again. */
static void test_connection_limit(void **state)
{
    struct fx *fx = *state;
    pid_t pids[2];
    int gp[2];

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_ECHO]);
    shim_portfwd_set_max_conns(fx->fwd, 2);
    assert_int_equal(pipe2(gp, O_CLOEXEC), 0);
    for (size_t i = 0; i < 2; i++) {
        pids[i] = spawn(echo_client, &(struct client){.port = shim_portfwd_port(fx->fwd),
                                                      .id = i,
                                                      .size = 1000,
                                                      .nconn = 1,
                                                      .go = gp[0]});
        assert_true(pids[i] > 0);
    }
    close(gp[0]);
    wait_active(fx, 2);
    run_client(fx, closed_client, &(struct client){.port = shim_portfwd_port(fx->fwd), .go = -1});
    assert_int_equal(stats(fx).rejected, 1);
    assert_int_equal(stats(fx).accepted, 3);
    assert_int_equal(write(gp[1], "gg", 2), 2);
    close(gp[1]);
    wait_clients(fx, pids, 2);
    wait_active(fx, 0);
    run_client(
        fx, echo_client,
        &(struct client){
            .port = shim_portfwd_port(fx->fwd), .id = 9, .size = 3000, .nconn = 1, .go = -1});
    assert_int_equal(stats(fx).rejected, 1);
    assert_int_equal(stats(fx).accepted, 4);
}

/* Destroy with connections open: three whose buffers toward stalled readers are full (two
 * forwarders' worth) and two idle ones: every client sees its connection end, and nothing
 * leaks (ASan, valgrind). */
static void test_destroy_with_live_connections(void **state)
{
    struct fx *fx = *state;
    struct shim_portfwd_stats st, st2;
    char err[256] = "";
    pid_t pids[5];
    long deadline;
    int gp[2];

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_BIG]);
    fx->fwd2 = shim_portfwd_create(fx->base, "127.0.0.1", 0, fx->netns_fd, fx->port[P_ECHO], err,
                                   sizeof(err));
    if (fx->fwd2 == NULL) {
        fail_msg("shim_portfwd_create: %s", err);
    }
    assert_int_equal(pipe2(gp, O_CLOEXEC), 0);
    for (size_t i = 0; i < 3; i++) {
        pids[i] =
            spawn(big_client,
                  &(struct client){.port = shim_portfwd_port(fx->fwd), .go = gp[0], .cut = true});
        assert_true(pids[i] > 0);
    }
    for (size_t i = 3; i < 5; i++) {
        pids[i] = spawn(closed_client,
                        &(struct client){.port = shim_portfwd_port(fx->fwd2), .go = gp[0]});
        assert_true(pids[i] > 0);
    }
    close(gp[0]);
    /* Wait until the big streams are held back: nothing more comes from the pod for 100 ms
     * while each connection holds data. A held-back connection has more than LOW_WATER
     * waiting (below it, it would be read again); how much more depends on how much the
     * kernel's socket buffers took, so HIGH_WATER is not a condition one can wait for. */
    deadline = now_ms() + CLIENT_WAIT_MS;
    for (long still_since = now_ms(), last = -1;; pump(fx)) {
        shim_portfwd_stats(fx->fwd, &st);
        shim_portfwd_stats(fx->fwd2, &st2);
        if ((long)st.bytes_from_pod != last) {
            last = (long)st.bytes_from_pod;
            still_since = now_ms();
        }
        if ((st.active == 3 && st.buffered > 3 * SHIM_PORTFWD_LOW_WATER &&
             now_ms() - still_since >= 100 && st2.active == 2 && st2.bytes_from_pod >= 4) ||
            now_ms() >= deadline) {
            break;
        }
    }
    assert_int_equal(st.active, 3);
    assert_int_equal(st2.active, 2);
    assert_true(st.buffered > 3 * SHIM_PORTFWD_LOW_WATER);

    shim_portfwd_destroy(fx->fwd);
    fx->fwd = NULL;
    shim_portfwd_destroy(fx->fwd2);
    fx->fwd2 = NULL;
    assert_int_equal(write(gp[1], "ggggg", 5), 5); /* one byte for each client */
    close(gp[1]);
    wait_clients(fx, pids, 5);
}

/* The log callback destroys the forwarder: it is freed when the callback returns, the
 * listener is gone at once, and nothing is touched after the free (ASan). */
static void test_destroy_from_log_callback(void **state)
{
    struct fx *fx = *state;
    uint16_t port;
    int fd;

    SKIP_UNLESS_READY(fx);
    start(fx, "127.0.0.1", fx->port[P_CLOSED]);
    port = shim_portfwd_port(fx->fwd);
    fx->destroy_on_log = true;
    run_client(fx, closed_client, &(struct client){.port = port, .go = -1});
    assert_null(fx->fwd);
    assert_int_equal(fx->nlog, 1);
    pump_ms(fx, 20);
    fd = dial(AF_INET, port);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, ECONNREFUSED);
}

/* accept() failing with EMFILE (file descriptors run out) is reported, the listener rests
 * instead of spinning, and accepts again once descriptors are back. */
static void test_accept_error_pauses(void **state)
{
    struct fx *fx = *state;
    struct rlimit old, low;
    const char *preload;
    pid_t pid;
    int lowest;

    SKIP_UNLESS_READY(fx);
    preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "vgpreload") != NULL) {
        /* valgrind enforces the limit itself: it closes what accept() returned over it,
         * where the kernel would have left the connection queued. */
        print_message("# skipped: valgrind emulates RLIMIT_NOFILE differently\n");
        skip();
    }
    start(fx, "127.0.0.1", fx->port[P_ECHO]);
    pid = spawn(
        echo_client,
        &(struct client){.port = shim_portfwd_port(fx->fwd), .size = 10, .nconn = 1, .go = -1});
    assert_true(pid > 0);
    /* No descriptor left for this process: the lowest free one is at the limit. */
    lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(lowest >= 0);
    close(lowest);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)lowest;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    if ((lowest = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
        close(lowest);
        setrlimit(RLIMIT_NOFILE, &old);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        print_message("# skipped: RLIMIT_NOFILE is not enforced here\n");
        skip();
    }
    for (long deadline = now_ms() + CLIENT_WAIT_MS; fx->nlog == 0 && now_ms() < deadline;) {
        pump(fx);
    }
    /* One report, not one per turn of the loop, while descriptors stay short. */
    pump_ms(fx, 50);
    setrlimit(RLIMIT_NOFILE, &old);
    if (fx->nlog != 1 || strstr(fx->log, ": accept: Too many open files; pausing 100 ms") == NULL) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("%u log lines, the last '%s'", fx->nlog, fx->log);
    }
    wait_clients(fx, &pid, 1);
    assert_int_equal(stats(fx).accepted, 1);
}

/* An IPv6 loopback listener (skipped where the host has no ::1). */
static void test_ipv6_listener(void **state)
{
    struct fx *fx = *state;
    char err[256] = "";

    SKIP_UNLESS_READY(fx);
    fx->fwd =
        shim_portfwd_create(fx->base, "::1", 0, fx->netns_fd, fx->port[P_ECHO], err, sizeof(err));
    if (fx->fwd == NULL && (strstr(err, "Cannot assign") || strstr(err, "not supported"))) {
        print_message("# skipped: no IPv6 loopback here: %s\n", err);
        skip();
    }
    if (fx->fwd == NULL) {
        fail_msg("shim_portfwd_create: %s", err);
    }
    run_client(fx, echo_client,
               &(struct client){.family = AF_INET6,
                                .port = shim_portfwd_port(fx->fwd),
                                .id = 7,
                                .size = 50000,
                                .nconn = 3,
                                .go = -1});
    wait_active(fx, 0);
    assert_int_equal(stats(fx).accepted, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_namespace_is_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_sequential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_slow_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_upload_slow_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_live_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_from_log_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_error_pauses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_listener, setup, teardown),
    };

    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (unsigned char)(i % PERIOD);
    }
    signal(SIGPIPE, SIG_IGN); /* as the forwarder's contract asks of the supervisor */
    /* Servers' forks outlive their parent when it is killed: they come to us to be reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
