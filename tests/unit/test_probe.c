/* test_probe.c — probe and hook attempts against a fake container: real pid, mount, net,
 * uts and ipc namespaces, real processes and servers, loopback only. */
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
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "shim_cgroup.h"
#include "shim_manifest.h"
#include "shim_probe.h"
#include "shim_security.h"

#define TEST_SECONDS 60 /* alarm() per test; native runs take well under a second each */
#define WAIT_MS 20000   /* the most any outcome may take to arrive (valgrind is slow) */
#define SHORT_MS 300    /* the timeout of attempts that must time out */
/* libevent's clock is CLOCK_MONOTONIC_COARSE: a timer may fire a tick before ours says */
#define SLACK_MS 10
#define QUIET_MS 400 /* how long a cancelled attempt is watched for a late callback */
#define HOSTNAME "probe-ctr"
#define CTR_VAR "PROBE_VAR=from-the-container"
#define NCONC 60

/* Inside the container's network namespace (a new one: any port is free there). */
enum { HTTP_PORT = 8080, TCP_PORT = 9090, HOLE_PORT = 9091, CLOSED_PORT = 9999 };

/* What the container's server process reports once everything listens. */
struct ready_msg {
    int err; /* 0, or the errno of step */
    char step[48];
    pid_t init; /* the container's init (sleep), as the test sees it */
    int ipv6;   /* [::1]:HTTP_PORT serves too */
};

struct outcome {
    int n; /* callbacks so far: must end at exactly 1 */
    enum shim_probe_result result;
    char msg[SHIM_PROBE_OUTPUT_MAX + 64];
    long at_ms;
    struct fx *fx;
    struct shim_probe_run *cancel; /* this attempt's callback cancels that one */
    struct shim_probe_run *self;   /* and then itself, which must do nothing */
};

struct fx {
    const char *skip_why;
    char why[200];
    pid_t srv;  /* the container's server process, leader of the container's process group */
    pid_t init; /* the container's init: PID 1 of its pid namespace, running sleep */
    int ipv6;
    int netns_fd;
    char dir[64]; /* a temporary directory: dir/cwd is the container's working directory, and
                   * dir/request holds the last /echo request the server received */
    struct event_base *base;
    struct event *tick; /* wakes the loop every 5 ms so that run_until never blocks long */
    int fds;            /* descriptors open when the test started */
    struct shim_port ports[2];
    struct shim_container spec;
    const struct shim_cgroup *cgroup;     /* the exec target's, when a test sets one */
    const struct shim_sec_plan *security; /* likewise */
    char *const *envp;                    /* likewise; NULL: the init's */
    bool home_fds;                        /* pass kept namespace descriptors */
    int home_net_fd, home_pid_fd;
};

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

/* ---- the container: its server process and its init --------------------------------- */

static int listen_on(int family, uint16_t port, int backlog)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_port = htons(port);
        len = sizeof(*in6);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_port = htons(port);
        len = sizeof(*in4);
    }
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static void say(int fd, const char *s)
{
    write_all(fd, s, strlen(s));
}

/* One HTTP request: the answer depends on the path. */
static void serve_http(int c, const char *dir)
{
    char req[8192], path[256] = "", file[128];
    struct timeval tv = {.tv_sec = 5};
    size_t len = 0;

    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < sizeof(req) - 1) {
        ssize_t n = read(c, req + len, sizeof(req) - 1 - len);
        if (n <= 0) {
            return;
        }
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL) {
            break;
        }
    }
    sscanf(req, "GET %255s ", path);
    if (strncmp(path, "/echo", 5) == 0) {
        snprintf(file, sizeof(file), "%s/request", dir);
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        write_all(fd, req, len);
        close(fd);
        say(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/ok") == 0) {
        say(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(path, "/redirect") == 0) {
        say(c, "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/fail") == 0) {
        say(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/slow") == 0) {
        sleep(3);
        say(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/continue") == 0) {
        say(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
               "HTTP/1.1 204 No Content\r\n\r\n");
    } else if (strcmp(path, "/garbage") == 0) {
        say(c, "SSH-2.0-OpenSSH_9.2\r\n");
    } else if (strcmp(path, "/close") == 0) {
        /* no answer at all */
    } else if (strcmp(path, "/split") == 0) {
        say(c, "HTT");
        usleep(50 * 1000);
        say(c, "P/1.0 201 Created\r\n\r\n");
    } else if (strcmp(path, "/big") == 0) {
        static char chunk[65536];
        memset(chunk, 'x', sizeof(chunk));
        say(c, "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n");
        for (int i = 0; i < 64 && write_all(c, chunk, sizeof(chunk)) == 0; i++) {
        }
    } else {
        say(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

static void __attribute__((noreturn)) ctr_fail(int ready, const char *step)
{
    struct ready_msg m = {.err = errno};

    snprintf(m.step, sizeof(m.step), "%s", step);
    write_all(ready, &m, sizeof(m));
    _exit(1);
}

/* The container's init: PID 1 of the new pid namespace, with a /proc of its own, its
 * working directory, and its environment given by exec (as /proc/PID/environ shows it). */
static void __attribute__((noreturn)) init_main(const char *dir, int execd)
{
    char cwd[128];
    char *argv[] = {"sleep", "1000", NULL};
    char *envp[] = {CTR_VAR, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(cwd, sizeof(cwd), "%s/cwd", dir);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
        chdir(cwd) < 0) {
        _exit(1);
    }
    execve("/bin/sleep", argv, envp);
    (void)execd; /* closed by the exec (close-on-exec): the server waits for that */
    _exit(1);
}

/* The server process: makes the namespaces, starts the init, serves HTTP and TCP inside
 * the new network namespace. Never returns. */
static void __attribute__((noreturn)) ctr_main(int ready, const char *dir, pid_t parent)
{
    struct ready_msg m = {0};
    struct ifreq ifr = {0};
    struct pollfd pfd[3];
    int s, hole, filler, execd[2];
    char c;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* should the test crash */
    if (getppid() != parent) {
        _exit(1);
    }
    alarm(TEST_SECONDS + 10);
    if (unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID) < 0) {
        ctr_fail(ready, "unshare");
    }
    if (sethostname(HOSTNAME, strlen(HOSTNAME)) < 0) {
        ctr_fail(ready, "sethostname");
    }
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) { /* (valgrind: no NULL) */
        ctr_fail(ready, "make / private");
    }
    /* A new network namespace has only lo, and down. */
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        ctr_fail(ready, "SIOCGIFFLAGS");
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        ctr_fail(ready, "SIOCSIFFLAGS");
    }
    close(s);
    pfd[0].fd = listen_on(AF_INET, HTTP_PORT, 128);
    pfd[1].fd = listen_on(AF_INET, TCP_PORT, 128);
    pfd[2].fd = listen_on(AF_INET6, HTTP_PORT, 128); /* -1 without IPv6: poll skips it */
    m.ipv6 = pfd[2].fd >= 0;
    /* A SYN black hole: a listener whose accept queue (of 1: backlog 0) is full drops
     * every SYN, so connecting to it neither succeeds nor is refused. */
    hole = listen_on(AF_INET, HOLE_PORT, 0);
    filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(HOLE_PORT)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (pfd[0].fd < 0 || pfd[1].fd < 0 || hole < 0 || filler < 0 ||
        connect(filler, (struct sockaddr *)&to, sizeof(to)) < 0) {
        ctr_fail(ready, "listen");
    }
    for (int i = 0; i < 3; i++) {
        pfd[i].events = POLLIN;
    }
    if (pipe2(execd, O_CLOEXEC) < 0) {
        ctr_fail(ready, "pipe2");
    }
    m.init = fork(); /* PID 1 of the new pid namespace */
    if (m.init < 0) {
        ctr_fail(ready, "fork the init");
    }
    if (m.init == 0) {
        close(execd[0]);
        init_main(dir, execd[1]);
    }
    close(execd[1]);
    if (read(execd[0], &c, 1) != 0) {
        ctr_fail(ready, "exec the init");
    }
    close(execd[0]);
    signal(SIGCHLD, SIG_IGN); /* the per-connection forks (and the init) reap themselves */
    signal(SIGPIPE, SIG_IGN);
    write_all(ready, &m, sizeof(m));
    close(ready);
    for (;;) {
        if (poll(pfd, 3, -1) < 0) {
            continue;
        }
        for (int i = 0; i < 3; i++) {
            int conn;
            if (!(pfd[i].revents & POLLIN) || (conn = accept(pfd[i].fd, NULL, NULL)) < 0) {
                continue;
            }
            if (i == 1) {
                close(conn); /* the TCP port: a connection is all a probe wants */
                continue;
            }
            if (fork() == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                serve_http(conn, dir);
                _exit(0);
            }
            close(conn);
        }
    }
}

/* ---- helpers of the tests ------------------------------------------------------------ */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    if (d != NULL) {
        closedir(d);
    }
    return n - 1; /* the directory's own */
}

/* The direct children of this process: n of them, the first max in out. */
static size_t children(pid_t *out, size_t max)
{
    char path[64], buf[4096];
    size_t n = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }
    buf[len > 0 ? len : 0] = '\0';
    for (char *p = buf, *end; *p != '\0'; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        if (n < max) {
            out[n] = (pid_t)v;
        }
        n++;
    }
    return n;
}

/* A sleep duration unique to this test process and k, so that the processes of a test can
 * be told from those of another test binary running at the same time: "7.<pid><k>". */
static const char *marker(int k)
{
    static char m[8][32];

    snprintf(m[k], sizeof(m[k]), "7.%d%d", (int)getpid(), k);
    return m[k];
}

/* How many live processes (on the whole host) have arg among their arguments. */
static int procs_with_arg(const char *arg)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300], buf[4096];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
        if (fd >= 0) {
            close(fd);
        }
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
            if (memchr(buf + i, '\0', (size_t)(n - i)) == NULL) {
                break;
            }
            found += strcmp(buf + i, arg) == 0;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

/* No process of the test runs with arg any more: SIGKILLed ones may take a moment to die
 * on a loaded machine (the module reaps its own child, not every one it killed). */
static void assert_gone(const char *arg)
{
    for (long deadline = now_ms() + 3000; procs_with_arg(arg) > 0 && now_ms() < deadline;) {
        usleep(2000);
    }
    assert_int_equal(procs_with_arg(arg), 0);
}

/* Nothing left behind: this process's only child is the container, once the orphans a
 * killed command may have left (they come to us, a subreaper, as to the supervisor) are
 * reaped the way shim_pod_reap does (waitpid(-1) without __WALL); no descriptor leaked. */
static void assert_clean(struct fx *fx)
{
    pid_t kids[16];
    size_t n = 0;

    for (long deadline = now_ms() + 3000; now_ms() < deadline; usleep(5000)) {
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
            assert_int_not_equal(pid, fx->srv);
        }
        n = children(kids, 16);
        if (n == 1 && kids[0] == fx->srv) {
            break;
        }
    }
    if (n != 1 || kids[0] != fx->srv) {
        fail_msg("%zu children left (the container is %d; first: %d)", n, (int)fx->srv,
                 n > 0 ? (int)kids[0] : 0);
    }
    assert_int_equal(count_fds(), fx->fds);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void on_outcome(void *arg, enum shim_probe_result result, const char *message)
{
    struct outcome *o = arg;

    o->n++;
    o->result = result;
    o->at_ms = now_ms();
    snprintf(o->msg, sizeof(o->msg), "%s", message);
    if (o->cancel != NULL) {
        shim_probe_cancel(o->cancel);
        o->cancel = NULL;
    }
    if (o->self != NULL) {
        shim_probe_cancel(o->self); /* its own: a no-op */
    }
}

/* Runs the loop until *count reaches want or ms have passed. */
static void run_until(struct fx *fx, const int *count, int want, long ms)
{
    for (long deadline = now_ms() + ms; *count < want && now_ms() < deadline;) {
        event_base_loop(fx->base, EVLOOP_ONCE);
    }
}

static struct shim_probe_run *start_target(struct fx *fx, const struct shim_handler *h, pid_t pid,
                                           int64_t timeout_ms, struct outcome *o)
{
    struct shim_probe_target t = {.netns_fd = fx->netns_fd,
                                  .container_pid = pid,
                                  .spec = &fx->spec,
                                  .cgroup = fx->cgroup,
                                  .security = fx->security,
                                  .envp = fx->envp,
                                  .home_net_fd = fx->home_fds ? fx->home_net_fd : -1,
                                  .home_pid_fd = fx->home_fds ? fx->home_pid_fd : -1,
                                  .ctr_pid_fd = -1};
    char err[256] = "";
    struct shim_probe_run *r;

    o->fx = fx;
    r = shim_probe_start(fx->base, h, &t, timeout_ms, on_outcome, o, err, sizeof(err));
    if (r == NULL) {
        fail_msg("shim_probe_start: %s", err);
    }
    assert_int_equal(o->n, 0); /* never from inside start */
    return r;
}

static struct shim_probe_run *start(struct fx *fx, const struct shim_handler *h, int64_t timeout_ms,
                                    struct outcome *o)
{
    return start_target(fx, h, fx->init, timeout_ms, o);
}

/* One attempt to its end; the outcome must come exactly once. */
static void run_one(struct fx *fx, const struct shim_handler *h, int64_t timeout_ms,
                    struct outcome *o)
{
    start(fx, h, timeout_ms, o);
    run_until(fx, &o->n, 1, WAIT_MS);
    assert_int_equal(o->n, 1);
    run_until(fx, &o->n, 2, 20); /* and only once */
    assert_int_equal(o->n, 1);
}

static void expect(const struct outcome *o, enum shim_probe_result result, const char *needle)
{
    if (o->result != result || strstr(o->msg, needle) == NULL) {
        fail_msg("got %s \"%s\"; expected %s with \"%s\"", shim_probe_result_name(o->result),
                 o->msg, shim_probe_result_name(result), needle);
    }
}

/* run_one, then expect: for attempts whose outcome is all that matters. */
static void check(struct fx *fx, const struct shim_handler *h, int64_t timeout_ms,
                  enum shim_probe_result result, const char *needle)
{
    struct outcome o = {0};

    run_one(fx, h, timeout_ms, &o);
    expect(&o, result, needle);
}

static struct shim_handler exec_h(char **argv)
{
    struct shim_handler h = {.type = SHIM_HANDLER_EXEC, .command = argv};

    while (argv[h.ncommand] != NULL) {
        h.ncommand++;
    }
    return h;
}

static struct shim_handler http_h(const char *path, int port)
{
    return (struct shim_handler){.type = SHIM_HANDLER_HTTP, .port = port, .path = (char *)path};
}

static struct shim_handler tcp_h(int port)
{
    return (struct shim_handler){.type = SHIM_HANDLER_TCP, .port = port};
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
    struct timeval five_ms = {.tv_usec = 5000};
    struct ready_msg m;
    char path[128];
    int ready[2];
    pid_t parent = getpid();

    assert_non_null(fx);
    *state = fx;
    fx->netns_fd = -1;
    if (geteuid() != 0) {
        fx->skip_why = "needs root (namespaces, setns)";
        return 0;
    }
    alarm(TEST_SECONDS);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_probe.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(path, sizeof(path), "%s/cwd", fx->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    fx->srv = fork();
    assert_true(fx->srv >= 0);
    if (fx->srv == 0) {
        close(ready[0]);
        ctr_main(ready[1], fx->dir, parent);
    }
    close(ready[1]);
    ssize_t n = read(ready[0], &m, sizeof(m));
    close(ready[0]);
    if (n != (ssize_t)sizeof(m) || m.err != 0) {
        snprintf(fx->why, sizeof(fx->why), "cannot make the container: %s: %s",
                 n == (ssize_t)sizeof(m) ? m.step : "no report",
                 n == (ssize_t)sizeof(m) ? strerror(m.err) : "");
        fx->skip_why = fx->why;
        return 0;
    }
    fx->init = m.init;
    fx->ipv6 = m.ipv6;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)fx->srv);
    fx->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fx->netns_fd >= 0);
    fx->ports[0] = (struct shim_port){.name = "web", .container_port = HTTP_PORT};
    fx->ports[1] = (struct shim_port){.name = "raw", .container_port = TCP_PORT};
    fx->spec = (struct shim_container){.name = "app", .ports = fx->ports, .nports = 2};
    fx->base = event_base_new();
    assert_non_null(fx->base);
    fx->tick = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
    assert_non_null(fx->tick);
    event_add(fx->tick, &five_ms);
    fx->fds = count_fds();
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    char path[128];

    if (fx->tick != NULL) {
        event_free(fx->tick);
    }
    if (fx->base != NULL) {
        event_base_free(fx->base);
    }
    if (fx->netns_fd >= 0) {
        close(fx->netns_fd);
    }
    if (fx->srv > 0) {
        /* The server, the init and every fork of theirs are one process group. */
        kill(-fx->srv, SIGKILL);
        waitpid(fx->srv, NULL, 0);
        /* The init and the server's forks were reparented to us: reap all of it. */
        while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {
        }
    }
    if (fx->dir[0] != '\0') {
        const char *files[] = {"request", "cwd/plain", "cwd/garbage"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
            unlink(path);
        }
        snprintf(path, sizeof(path), "%s/cwd", fx->dir);
        rmdir(path);
        rmdir(fx->dir);
    }
    alarm(0);
    free(fx);
    return 0;
}

/* ---- exec ---------------------------------------------------------------------------- */

static void test_exec_success(void **state)
{
    struct fx *fx = *state;
    char *argv[] = {"echo", "hello", NULL};
    struct shim_handler h;
    struct outcome o = {0};

    SKIP_UNLESS_READY(fx);
    h = exec_h(argv);
    run_one(fx, &h, 5000, &o);
    expect(&o, SHIM_PROBE_SUCCESS, "hello\n");
    assert_string_equal(o.msg, "hello\n");
    assert_clean(fx);
}

static void test_exec_failure(void **state)
{
    struct fx *fx = *state;
    char *loud[] = {"/bin/sh", "-c", "echo out; echo bad >&2; exit 3", NULL};
    char *silent[] = {"false", NULL};
    struct shim_handler h;

    SKIP_UNLESS_READY(fx);
    h = exec_h(loud);
    check(fx, &h, 5000, SHIM_PROBE_FAILURE, "out\nbad\n"); /* stdout and stderr, in order */
    h = exec_h(silent);
    check(fx, &h, 5000, SHIM_PROBE_FAILURE, "command \"false\" exited with code 1");
    assert_clean(fx);
}

/* The command runs in the container: its environment, working directory, host name, /proc
 * (its init is PID 1) and every one of its namespaces. */
static void test_exec_in_container(void **state)
{
    struct fx *fx = *state;
    char *argv[] = {"/bin/sh", "-c",
                    "echo \"$PROBE_VAR|$(pwd)|$(cat /proc/sys/kernel/hostname)|"
                    "$(cat /proc/1/comm)\"; "
                    "for n in ipc uts net pid mnt; do readlink /proc/self/ns/$n; done",
                    NULL};
    const char *nss[] = {"ipc", "uts", "net", "pid", "mnt"};
    char want[4096], link[256], path[64];
    struct shim_handler h;
    struct outcome o = {0};
    int len;

    SKIP_UNLESS_READY(fx);
    len = snprintf(want, sizeof(want), "from-the-container|%s/cwd|" HOSTNAME "|sleep\n", fx->dir);
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)fx->init, nss[i]);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        assert_true(n > 0);
        len += snprintf(want + len, sizeof(want) - (size_t)len, "%.*s\n", (int)n, link);
    }
    h = exec_h(argv);
    run_one(fx, &h, 5000, &o);
    expect(&o, SHIM_PROBE_SUCCESS, "");
    assert_string_equal(o.msg, want);
    assert_clean(fx);
}

static void test_exec_output_bounded(void **state)
{
    struct fx *fx = *state;
    /* 1 MB: far more than a pipe holds, so the output must be read while it runs. */
    char *big[] = {"/bin/sh", "-c", "yes 0123456789 | head -c 1000000; echo tail >&2", NULL};
    char *nul[] = {"head", "-c", "5", "/dev/zero", NULL};
    struct shim_handler h;
    struct outcome o = {0}, o2 = {0};

    SKIP_UNLESS_READY(fx);
    h = exec_h(big);
    run_one(fx, &h, 10000, &o);
    expect(&o, SHIM_PROBE_SUCCESS, "0123456789\n0123456789\n");
    assert_int_equal(strlen(o.msg), SHIM_PROBE_OUTPUT_MAX);
    h = exec_h(nul);
    run_one(fx, &h, 5000, &o2);
    assert_string_equal(o2.msg, "?????");
    assert_clean(fx);
}

static void test_exec_timeout(void **state)
{
    struct fx *fx = *state;
    char *one[] = {"sleep", (char *)marker(1), NULL}, sh[128], want[64];
    /* A shell with a background child: the whole process group goes. */
    char *group[] = {"/bin/sh", "-c", sh, NULL};
    struct shim_handler h;
    struct outcome o = {0}, o2 = {0};
    long t0;

    SKIP_UNLESS_READY(fx);
    h = exec_h(one);
    t0 = now_ms();
    run_one(fx, &h, SHORT_MS, &o);
    snprintf(want, sizeof(want), "command \"sleep %s\" timed out", marker(1));
    expect(&o, SHIM_PROBE_FAILURE, want);
    assert_true(o.at_ms - t0 >= SHORT_MS - SLACK_MS);
    assert_true(o.at_ms - t0 < SHORT_MS + 5000);
    assert_gone(marker(1));
    snprintf(sh, sizeof(sh), "sleep %s & sleep %s; wait", marker(2), marker(3));
    h = exec_h(group);
    start(fx, &h, SHORT_MS, &o2);
    run_until(fx, &o2.n, 1, WAIT_MS);
    expect(&o2, SHIM_PROBE_FAILURE, "timed out");
    assert_clean(fx);
    assert_gone(marker(2));
    assert_gone(marker(3));
}

static void make_file(const char *dir, const char *name, mode_t mode, char *path, size_t pathsz)
{
    int fd;

    snprintf(path, pathsz, "%s/cwd/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, "not a program\n", 14), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_exec_cannot_run(void **state)
{
    struct fx *fx = *state;
    char plain[128], garbage[128], want[200];
    char *missing[] = {"no-such-command-xyz", "arg", NULL};
    char *nofile[] = {"/no/such/file", NULL};
    char *noexec[] = {plain, NULL};
    char *badexec[] = {garbage, NULL}; /* no fallback to /bin/sh as execvp would do */
    struct shim_handler h;
    struct outcome o[4] = {{0}};

    SKIP_UNLESS_READY(fx);
    make_file(fx->dir, "plain", 0644, plain, sizeof(plain));
    make_file(fx->dir, "garbage", 0755, garbage, sizeof(garbage));
    h = exec_h(missing);
    check(fx, &h, 5000, SHIM_PROBE_FAILURE,
          "exec: \"no-such-command-xyz\": executable file not found in $PATH");
    h = exec_h(nofile);
    check(fx, &h, 5000, SHIM_PROBE_FAILURE, "exec: \"/no/such/file\": no such file or directory");
    h = exec_h(noexec);
    run_one(fx, &h, 5000, &o[2]);
    snprintf(want, sizeof(want), "exec: \"%s\": permission denied", plain);
    expect(&o[2], SHIM_PROBE_FAILURE, want);
    h = exec_h(badexec);
    run_one(fx, &h, 5000, &o[3]);
    snprintf(want, sizeof(want), "exec: \"%s\": exec format error", garbage);
    expect(&o[3], SHIM_PROBE_FAILURE, want);
    assert_clean(fx);
}

/* A container that cannot be entered is an ERROR, as is an exec handler with nothing to
 * run: the outcome still comes from the loop. */
static void test_exec_errors(void **state)
{
    struct fx *fx = *state;
    char *argv[] = {"true", NULL}, *none[] = {NULL};
    struct shim_handler h = exec_h(argv), empty = exec_h(none);
    struct outcome o[3] = {{0}};
    pid_t gone;

    SKIP_UNLESS_READY(fx);
    gone = fork();
    if (gone == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(gone, NULL, 0), gone); /* a pid that no longer exists */
    start_target(fx, &h, gone, 5000, &o[0]);
    run_until(fx, &o[0].n, 1, WAIT_MS);
    expect(&o[0], SHIM_PROBE_ERROR, "open /proc/");
    start_target(fx, &h, 0, 5000, &o[1]);
    run_until(fx, &o[1].n, 1, WAIT_MS);
    expect(&o[1], SHIM_PROBE_ERROR, "not running");
    check(fx, &empty, 5000, SHIM_PROBE_ERROR, "without a command");
    assert_clean(fx);
}

/* With the container's cgroup in the target, the command runs in it. */
static void test_exec_in_cgroup(void **state)
{
    struct fx *fx = *state;
    char *argv[] = {"cat", "/proc/self/cgroup", NULL};
    struct shim_cgroup *pod, *ctr;
    struct shim_handler h = exec_h(argv);
    struct outcome o = {0};
    char name[64], want[128], err[512];

    SKIP_UNLESS_READY(fx);
    snprintf(name, sizeof(name), "test-probe-%d", (int)getpid());
    pod = shim_cgroup_pod_create(name, err, sizeof(err));
    if (pod == NULL) {
        print_message("# skipped: no cgroup to try: %s\n", err);
        skip();
    }
    ctr = shim_cgroup_child_create(pod, "app", NULL, 0, err, sizeof(err));
    if (ctr == NULL) {
        shim_cgroup_destroy(pod);
        fail_msg("shim_cgroup_child_create: %s", err);
    }
    fx->cgroup = ctr;
    run_one(fx, &h, 5000, &o);
    fx->cgroup = NULL;
    shim_cgroup_kill_all(pod);
    assert_int_equal(shim_cgroup_destroy(ctr), 0); /* nothing left in it */
    assert_int_equal(shim_cgroup_destroy(pod), 0);
    snprintf(want, sizeof(want), "/podkit/%s/app\n", name);
    expect(&o, SHIM_PROBE_SUCCESS, want);
    assert_clean(fx);
}

/* With the container's security plan in the target, the command runs as the container's
 * user and groups, with no more than its capabilities: an exec probe is no way out. */
static void test_exec_as_container_user(void **state)
{
    struct fx *fx = *state;
    char *argv[] = {"/bin/sh", "-c",
                    "id -u; id -g; id -G; grep -E '^Cap(Eff|Bnd):' /proc/self/status", NULL};
    char *root_argv[] = {"/bin/sh", "-c", "id -u; grep -E '^Cap(Bnd|Eff):' /proc/self/status",
                         NULL};
    struct shim_sec_plan plan = {.set_uid = true,
                                 .uid = 65534,
                                 .set_gid = true,
                                 .gid = 65533,
                                 .groups = {4321},
                                 .ngroups = 1,
                                 .caps = 1ull << 13 /* NET_RAW */,
                                 .no_new_privs = true};
    struct shim_handler h = exec_h(argv);
    struct outcome o = {0};

    SKIP_UNLESS_READY(fx);
    fx->security = &plan;
    run_one(fx, &h, 5000, &o);
    expect(&o, SHIM_PROBE_SUCCESS, "65534\n65533\n65533 4321\n");
    expect(&o, SHIM_PROBE_SUCCESS, "CapEff:\t0000000000000000\nCapBnd:\t0000000000002000\n");
    /* Root with a reduced set keeps exactly that set, effective too. */
    plan.set_uid = plan.set_gid = false;
    plan.ngroups = 0;
    h = exec_h(root_argv);
    memset(&o, 0, sizeof(o));
    run_one(fx, &h, 5000, &o);
    fx->security = NULL;
    expect(&o, SHIM_PROBE_SUCCESS, "0\nCapEff:\t0000000000002000\nCapBnd:\t0000000000002000\n");
    assert_clean(fx);
}

/* With the descriptors and environment a supervisor keeps, attempts open no namespace of
 * their own and leave the kept descriptors open; the given environment is the command's
 * (the container's configuration, as for runc exec), not the init's. */
static void test_kept_descriptors(void **state)
{
    struct fx *fx = *state;
    char *env[] = {"GIVEN=yes", "PATH=/usr/bin:/bin", NULL};
    char *argv[] = {"/bin/sh", "-c", "echo \"$GIVEN|${PROBE_VAR:-unset}|$(cat /proc/1/comm)\"",
                    NULL};
    struct shim_handler h = exec_h(argv), http = http_h("/ok", HTTP_PORT), tcp = tcp_h(HTTP_PORT);

    SKIP_UNLESS_READY(fx);
    fx->home_net_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    fx->home_pid_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    assert_true(fx->home_net_fd >= 0 && fx->home_pid_fd >= 0);
    fx->home_fds = true;
    fx->envp = env;
    fx->fds = count_fds();
    for (int i = 0; i < 3; i++) {
        check(fx, &h, 5000, SHIM_PROBE_SUCCESS, "yes|unset|sleep\n");
        check(fx, &http, 5000, SHIM_PROBE_SUCCESS, "statuscode: 200");
        check(fx, &tcp, 5000, SHIM_PROBE_SUCCESS, "");
    }
    assert_clean(fx); /* the kept two are still open, and nothing else is */
    assert_int_equal(fcntl(fx->home_net_fd, F_GETFD), FD_CLOEXEC);
    assert_int_equal(fcntl(fx->home_pid_fd, F_GETFD), FD_CLOEXEC);
    close(fx->home_net_fd);
    close(fx->home_pid_fd);
    fx->home_fds = false;
    fx->envp = NULL;
}

struct reaper {
    int reaped; /* its own children reaped by the supervisor-like handler */
    int handed; /* probe commands it reaped and handed over */
    bool lost;  /* it reaped a pid nobody claimed */
    pid_t kids[5];
    struct shim_probe_run *runs[10];
};

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    struct reaper *rp = arg;
    int status;
    pid_t pid;

    (void)fd;
    (void)what;
    /* What shim_pod_reap does: its own, else hand it over. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        bool ours = false, handed = false;
        for (int i = 0; i < 5; i++) {
            ours = ours || pid == rp->kids[i];
        }
        for (int i = 0; i < 10 && !ours && !handed; i++) {
            handed = shim_probe_reaped(rp->runs[i], pid, status);
        }
        rp->reaped += ours;
        rp->handed += handed;
        rp->lost = rp->lost || (!ours && !handed);
    }
}

/* The supervisor's SIGCHLD handler reaps with waitpid(-1) while exec attempts run: it gets
 * its own children, and the attempts' commands it takes (here: all of them, since it runs
 * before the loop sees their pidfds) are handed over with their exit codes intact. */
static void test_exec_beside_waitpid_all(void **state)
{
    struct fx *fx = *state;
    char *ok[] = {"/bin/sh", "-c", "sleep 0.2; exit 0", NULL};
    char *bad[] = {"/bin/sh", "-c", "sleep 0.2; exit 4", NULL};
    struct shim_handler hok = exec_h(ok), hbad = exec_h(bad);
    struct outcome o[10] = {{0}};
    struct reaper rp = {0};
    struct event *sig;
    int done = 0;

    SKIP_UNLESS_READY(fx);
    sig = evsignal_new(fx->base, SIGCHLD, on_sigchld, &rp);
    assert_non_null(sig);
    assert_int_equal(evsignal_add(sig, NULL), 0);
    fx->fds = count_fds(); /* libevent's signal socketpair is new */
    for (int i = 0; i < 10; i++) {
        rp.runs[i] = start(fx, i % 2 ? &hbad : &hok, 10000, &o[i]);
    }
    for (int i = 0; i < 5; i++) {
        rp.kids[i] = fork();
        if (rp.kids[i] == 0) {
            _exit(7);
        }
    }
    /* Every command ends while the loop does not run: the reaper gets to them first. (A
     * SIGCHLD cuts a sleep short: sleep to a deadline.) */
    for (long until = now_ms() + 600; now_ms() < until;) {
        usleep(10 * 1000);
    }
    on_sigchld(-1, 0, &rp);
    assert_int_equal(rp.handed, 10);
    for (long deadline = now_ms() + WAIT_MS; (done < 10 || rp.reaped < 5) && now_ms() < deadline;) {
        event_base_loop(fx->base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < 10; i++) {
            done += o[i].n;
        }
    }
    assert_int_equal(done, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(o[i].result, i % 2 ? SHIM_PROBE_FAILURE : SHIM_PROBE_SUCCESS);
    }
    expect(&o[1], SHIM_PROBE_FAILURE, "exited with code 4");
    assert_int_equal(rp.reaped, 5);
    assert_false(rp.lost);
    event_free(sig);
    assert_clean(fx);
}

/* ---- httpGet ------------------------------------------------------------------------- */

static void test_http_status(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *path;
        enum shim_probe_result result;
        const char *msg;
    } cases[] = {
        {"/ok", SHIM_PROBE_SUCCESS, "HTTP probe succeeded with statuscode: 200"},
        {"/redirect", SHIM_PROBE_SUCCESS, "statuscode: 302"},
        {"/fail", SHIM_PROBE_FAILURE, "HTTP probe failed with statuscode: 500"},
        {"/nothing-here", SHIM_PROBE_FAILURE, "HTTP probe failed with statuscode: 404"},
        {"/continue", SHIM_PROBE_SUCCESS, "statuscode: 204"}, /* 100 and 103 skipped */
        {"/split", SHIM_PROBE_SUCCESS, "statuscode: 201"},    /* in two reads, HTTP/1.0 */
        {"/big", SHIM_PROBE_SUCCESS, "statuscode: 200"},      /* a body not read */
        {"/garbage", SHIM_PROBE_FAILURE, "malformed HTTP response \"SSH-2.0-OpenSSH_9.2\""},
        {"/close", SHIM_PROBE_FAILURE, "Get \"http://127.0.0.1:8080/close\": EOF"},
        {"ok", SHIM_PROBE_SUCCESS, "statuscode: 200"}, /* the leading slash is added */
    };

    SKIP_UNLESS_READY(fx);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct shim_handler h = http_h(cases[i].path, HTTP_PORT);
        check(fx, &h, 5000, cases[i].result, cases[i].msg);
    }
    assert_clean(fx);
}

static void test_http_refused_and_timeout(void **state)
{
    struct fx *fx = *state;
    struct shim_handler refused = http_h("/ok", CLOSED_PORT), slow = http_h("/slow", HTTP_PORT);
    struct outcome o2 = {0};
    long t0;

    SKIP_UNLESS_READY(fx);
    check(fx, &refused, 5000, SHIM_PROBE_FAILURE,
          "Get \"http://127.0.0.1:9999/ok\": dial tcp 127.0.0.1:9999: connect: connection "
          "refused");
    t0 = now_ms();
    run_one(fx, &slow, SHORT_MS, &o2);
    expect(&o2, SHIM_PROBE_FAILURE,
           "Get \"http://127.0.0.1:8080/slow\": context deadline exceeded");
    assert_true(o2.at_ms - t0 >= SHORT_MS - SLACK_MS && o2.at_ms - t0 < 2500);
    assert_clean(fx);
}

/* The last request the server got on /echo... */
static void last_request(const struct fx *fx, char *buf, size_t size)
{
    char path[128];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/request", fx->dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = read(fd, buf, size - 1);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
}

/* The request as the kubelet sends it, and the user's headers (a Host of theirs wins). */
static void test_http_request(void **state)
{
    struct fx *fx = *state;
    struct shim_http_header mine[] = {
        {"X-Probe", "yes"}, {"Host", "app.example"}, {"Accept", "application/json"}};
    struct shim_handler h = http_h("/echo?q=a b", HTTP_PORT);
    char buf[4096];

    SKIP_UNLESS_READY(fx);
    check(fx, &h, 5000, SHIM_PROBE_SUCCESS, "200");
    last_request(fx, buf, sizeof(buf));
    assert_string_equal(buf, "GET /echo?q=a%20b HTTP/1.1\r\n"
                             "Host: 127.0.0.1:8080\r\n"
                             "User-Agent: kube-probe/1.31\r\n"
                             "Accept: */*\r\n"
                             "Connection: close\r\n\r\n");

    h.headers = mine;
    h.nheaders = 3;
    h.path = "/echo";
    check(fx, &h, 5000, SHIM_PROBE_SUCCESS, "200");
    last_request(fx, buf, sizeof(buf));
    assert_string_equal(buf, "GET /echo HTTP/1.1\r\n"
                             "Host: app.example\r\n"
                             "User-Agent: kube-probe/1.31\r\n"
                             "X-Probe: yes\r\n"
                             "Accept: application/json\r\n"
                             "Connection: close\r\n\r\n");
    assert_clean(fx);
}

static void test_http_hosts_and_ports(void **state)
{
    struct fx *fx = *state;
    struct shim_handler named = http_h("/ok", 0), local = http_h("/ok", HTTP_PORT);
    struct shim_handler v6 = http_h("/ok", HTTP_PORT);

    SKIP_UNLESS_READY(fx);
    named.port_name = "web";
    check(fx, &named, 5000, SHIM_PROBE_SUCCESS, "200");
    local.host = "localhost";
    check(fx, &local, 5000, SHIM_PROBE_SUCCESS, "200");
    if (fx->ipv6) {
        v6.host = "::1";
        check(fx, &v6, 5000, SHIM_PROBE_SUCCESS, "200");
    } else {
        print_message("# no IPv6 in the namespace: [::1] not tried\n");
    }
    assert_clean(fx);
}

/* What cannot even be tried is an ERROR, reported from the loop all the same. */
static void test_http_errors(void **state)
{
    struct fx *fx = *state;
    struct shim_http_header crlf[] = {{"X-Bad", "a\r\nInjected: 1"}};
    struct shim_http_header badname[] = {{"Bad Name", "x"}};
    struct shim_handler h[6];
    const char *want[6] = {"HTTPS probes are not supported yet",
                           "host \"example.com\": not an IP address",
                           "couldn't find port: nosuch in container app",
                           "invalid HTTP header \"X-Bad\"",
                           "invalid HTTP header \"Bad Name\"",
                           "invalid port 70000"};
    struct outcome o[6] = {{0}};

    SKIP_UNLESS_READY(fx);
    for (int i = 0; i < 6; i++) {
        h[i] = http_h("/ok", HTTP_PORT);
    }
    h[0].scheme = "HTTPS";
    h[1].host = "example.com";
    h[2].port = 0;
    h[2].port_name = "nosuch";
    h[3].headers = crlf;
    h[3].nheaders = 1;
    h[4].headers = badname;
    h[4].nheaders = 1;
    h[5].port = 70000;
    for (int i = 0; i < 6; i++) {
        run_one(fx, &h[i], 5000, &o[i]);
        expect(&o[i], SHIM_PROBE_ERROR, want[i]);
    }
    assert_clean(fx);
}

/* ---- tcpSocket and sleep ------------------------------------------------------------- */

static void test_tcp(void **state)
{
    struct fx *fx = *state;
    struct shim_handler listening = tcp_h(TCP_PORT), named = tcp_h(0), closed = tcp_h(CLOSED_PORT);

    SKIP_UNLESS_READY(fx);
    check(fx, &listening, 5000, SHIM_PROBE_SUCCESS, "");
    named.port_name = "raw";
    check(fx, &named, 5000, SHIM_PROBE_SUCCESS, "");
    check(fx, &closed, 5000, SHIM_PROBE_FAILURE,
          "dial tcp 127.0.0.1:9999: connect: connection refused");
    assert_clean(fx);
}

static void test_tcp_timeout(void **state)
{
    struct fx *fx = *state;
    struct shim_handler hole = tcp_h(HOLE_PORT);
    struct outcome o = {0};
    long t0 = now_ms();

    SKIP_UNLESS_READY(fx);
    run_one(fx, &hole, SHORT_MS, &o);
    expect(&o, SHIM_PROBE_FAILURE, "dial tcp 127.0.0.1:9091: i/o timeout");
    if (o.at_ms - t0 < SHORT_MS - SLACK_MS || o.at_ms - t0 >= 2500) {
        fail_msg("timed out after %ld ms", o.at_ms - t0);
    }
    assert_clean(fx);
}

static void test_sleep(void **state)
{
    struct fx *fx = *state;
    struct shim_handler one = {.type = SHIM_HANDLER_SLEEP, .sleep_seconds = 1};
    struct shim_handler zero = {.type = SHIM_HANDLER_SLEEP, .sleep_seconds = 0};
    struct shim_handler neg = {.type = SHIM_HANDLER_SLEEP, .sleep_seconds = -1};
    struct shim_handler none = {.type = SHIM_HANDLER_NONE};
    struct outcome o[5] = {{0}};
    long t0 = now_ms();

    SKIP_UNLESS_READY(fx);
    run_one(fx, &one, 0, &o[0]);
    expect(&o[0], SHIM_PROBE_SUCCESS, "");
    assert_true(o[0].at_ms - t0 >= 1000 - SLACK_MS && o[0].at_ms - t0 < 3000);
    check(fx, &zero, 0, SHIM_PROBE_SUCCESS, "");
    t0 = now_ms();
    run_one(fx, &one, SHORT_MS, &o[2]); /* a timeout shorter than the sleep */
    expect(&o[2], SHIM_PROBE_FAILURE, "timed out");
    assert_true(o[2].at_ms - t0 < 1000);
    check(fx, &neg, 0, SHIM_PROBE_ERROR, "invalid sleep");
    check(fx, &none, 0, SHIM_PROBE_ERROR, "no handler");
    assert_clean(fx);
}

/* ---- cancel -------------------------------------------------------------------------- */

/* Each kind cancelled in flight: no callback ever, no process, no descriptor left. */
static void test_cancel_in_flight(void **state)
{
    struct fx *fx = *state;
    char sh[128], *argv[] = {"/bin/sh", "-c", sh, NULL};
    struct shim_handler h[6] = {exec_h(argv),
                                http_h("/slow", HTTP_PORT),
                                tcp_h(HOLE_PORT),
                                {.type = SHIM_HANDLER_SLEEP, .sleep_seconds = 5},
                                http_h("/ok", HTTP_PORT)};
    struct outcome o[6] = {{0}};
    struct shim_probe_run *r[6];
    int calls = 0;

    SKIP_UNLESS_READY(fx);
    snprintf(sh, sizeof(sh), "sleep %s & sleep %s", marker(4), marker(5));
    h[4].scheme = "HTTPS"; /* decided inside start, cancelled before the loop reports it */
    h[5] = (struct shim_handler){.type = SHIM_HANDLER_EXEC, .command = argv, .ncommand = 3};
    for (int i = 0; i < 6; i++) {
        r[i] = start(fx, &h[i], 10000, &o[i]);
        if (i == 4 || i == 5) {
            shim_probe_cancel(r[i]); /* at once: the exec child may not have run yet */
        }
    }
    /* Under way: connected, sent, sleeping, and the command running. */
    for (long deadline = now_ms() + WAIT_MS;
         procs_with_arg(marker(5)) == 0 && now_ms() < deadline;) {
        run_until(fx, &calls, 1, 10);
    }
    assert_int_equal(procs_with_arg(marker(5)), 1);
    run_until(fx, &calls, 1, 50);
    for (int i = 0; i < 4; i++) {
        shim_probe_cancel(r[i]);
    }
    shim_probe_cancel(NULL);
    run_until(fx, &calls, 1, QUIET_MS);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(o[i].n, 0);
    }
    assert_clean(fx);
    assert_gone(marker(4));
    assert_gone(marker(5));
}

/* A callback cancels another attempt, and tries to cancel its own (a no-op). */
static void test_cancel_from_callback(void **state)
{
    struct fx *fx = *state;
    char *argv[] = {"sleep", (char *)marker(6), NULL};
    struct shim_handler quick = tcp_h(TCP_PORT), slow = exec_h(argv);
    struct outcome a = {0}, b = {0};

    SKIP_UNLESS_READY(fx);
    a.self = start(fx, &quick, 5000, &a);
    a.cancel = start(fx, &slow, 10000, &b);
    run_until(fx, &a.n, 1, WAIT_MS);
    run_until(fx, &b.n, 1, QUIET_MS);
    assert_int_equal(a.n, 1);
    expect(&a, SHIM_PROBE_SUCCESS, "");
    assert_int_equal(b.n, 0);
    assert_clean(fx);
    assert_gone(marker(6));
}

/* ---- many at once -------------------------------------------------------------------- */

static void test_many_concurrent(void **state)
{
    struct fx *fx = *state;
    char *yes[] = {"true", NULL}, *no[] = {"false", NULL};
    const struct {
        struct shim_handler h;
        enum shim_probe_result want;
    } kinds[] = {
        {exec_h(yes), SHIM_PROBE_SUCCESS},
        {exec_h(no), SHIM_PROBE_FAILURE},
        {http_h("/ok", HTTP_PORT), SHIM_PROBE_SUCCESS},
        {http_h("/fail", HTTP_PORT), SHIM_PROBE_FAILURE},
        {tcp_h(TCP_PORT), SHIM_PROBE_SUCCESS},
        {tcp_h(CLOSED_PORT), SHIM_PROBE_FAILURE},
        {{.type = SHIM_HANDLER_SLEEP, .sleep_seconds = 0}, SHIM_PROBE_SUCCESS},
    };
    const size_t nkinds = sizeof(kinds) / sizeof(kinds[0]);
    static struct outcome o[NCONC];
    int done = 0;

    SKIP_UNLESS_READY(fx);
    memset(o, 0, sizeof(o));
    for (size_t i = 0; i < NCONC; i++) {
        start(fx, &kinds[i % nkinds].h, 15000, &o[i]);
    }
    for (long deadline = now_ms() + WAIT_MS; done < NCONC && now_ms() < deadline;) {
        event_base_loop(fx->base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < NCONC; i++) {
            done += o[i].n;
        }
    }
    assert_int_equal(done, NCONC);
    for (size_t i = 0; i < NCONC; i++) {
        assert_int_equal(o[i].n, 1);
        if (o[i].result != kinds[i % nkinds].want) {
            fail_msg("attempt %zu: %s \"%s\"", i, shim_probe_result_name(o[i].result), o[i].msg);
        }
    }
    assert_clean(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_in_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_output_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_cannot_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_in_cgroup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_as_container_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_beside_waitpid_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_refused_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_hosts_and_ports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN); /* as the supervisor does */
    /* Commands killed on timeout may outlive their parent for an instant: like the
     * supervisor, the test is a subreaper, so they come to it rather than to init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
