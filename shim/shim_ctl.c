/* shim_ctl.c — control socket server (libevent bufferevents) and a blocking client. */
#include "shim_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "shim_status.h"

#define LINE_MAX_BYTES 1024
#define MAX_WAITING 64 /* delete requests waiting for the teardown */

struct shim_ctl {
    struct shim_podrt *pod; /* borrowed */
    struct evconnlistener *listener;
    struct bufferevent *waiting[MAX_WAITING]; /* deletes to answer at the end */
    size_t nwaiting;
    char path[1100];
};

static void close_when_flushed(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        bufferevent_free(bev);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct shim_ctl *ctl = arg;
    (void)what;
    for (size_t i = 0; i < ctl->nwaiting; i++) {
        if (ctl->waiting[i] == bev) {
            ctl->waiting[i] = ctl->waiting[--ctl->nwaiting];
            break;
        }
    }
    bufferevent_free(bev); /* EOF or error: the client went away */
}

static void free_on_error(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    bufferevent_free(bev);
}

/* Answers and closes once the answer is written (or the client is gone). */
static void answer(struct bufferevent *bev, const char *text)
{
    bufferevent_write(bev, text, strlen(text));
    bufferevent_setcb(bev, NULL, close_when_flushed, free_on_error, NULL);
    bufferevent_disable(bev, EV_READ);
}

/* The container a request names: "-" is the only app container, as kubectl's default. */
static struct shim_ctr *pick_ctr(struct shim_podrt *p, const char *name, char *buf, size_t n)
{
    struct shim_ctr *c = NULL;

    if (strcmp(name, "-") != 0) {
        for (size_t i = 0; i < p->nctrs && c == NULL; i++) {
            if (strcmp(p->ctrs[i].spec->name, name) == 0) {
                c = &p->ctrs[i];
            }
        }
        if (c == NULL) {
            snprintf(buf, n, "error: container %s is not valid for pod %s\n", name,
                     p->m->pod->name);
        }
        return c;
    }
    if (p->nctrs - p->ninit == 1) {
        return &p->ctrs[p->ninit];
    }
    size_t len = (size_t)snprintf(buf, n,
                                  "error: a container name must be specified for pod %s, choose "
                                  "one of: [",
                                  p->m->pod->name);
    for (size_t i = p->ninit; i < p->nctrs && len < n; i++) {
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i > p->ninit ? " " : "",
                                p->ctrs[i].spec->name);
    }
    if (len < n) {
        snprintf(buf + len, n - len, "]\n");
    }
    return NULL;
}

static void handle(struct shim_ctl *ctl, struct bufferevent *bev, char *line)
{
    struct shim_podrt *p = ctl->pod;
    char buf[2200], name[256];
    long long n;

    if (strcmp(line, "status") == 0) {
        char *json = shim_status_json(p);
        answer(bev, json != NULL ? json : "error: out of memory\n");
        free(json);
    } else if (strcmp(line, "row") == 0) {
        shim_status_row(p, buf, sizeof(buf) - 1);
        strcat(buf, "\n");
        answer(bev, buf);
    } else if (strcmp(line, "ready") == 0) {
        answer(bev, p->phase == SHIM_FAILED      ? "failed\n"
                    : p->phase == SHIM_SUCCEEDED ? "ended\n"
                    : shim_pod_ready(p)          ? "true\n"
                                                 : "false\n");
    } else if (strcmp(line, "sandbox") == 0) {
        if (p->sandbox.pause_pid > 0) {
            snprintf(buf, sizeof(buf), "%d\n", (int)p->sandbox.pause_pid);
        } else {
            snprintf(buf, sizeof(buf), "error: pod %s has no sandbox (it ended)\n",
                     p->m->pod->name);
        }
        answer(bev, buf);
    } else if (sscanf(line, "pid %255s", name) == 1) {
        struct shim_ctr *c = pick_ctr(p, name, buf, sizeof(buf));
        if (c != NULL && c->pid <= 0) {
            snprintf(buf, sizeof(buf), "error: container %s is not running\n", c->spec->name);
        } else if (c != NULL) {
            snprintf(buf, sizeof(buf), "%d\n", (int)c->pid);
        }
        answer(bev, buf);
    } else if (sscanf(line, "log %255s %lld", name, &n) == 2) {
        struct shim_ctr *c = pick_ctr(p, name, buf, sizeof(buf));
        long long inst = n == -1 ? c != NULL ? c->restarts : 0 : n == -2 && c ? c->restarts - 1 : n;
        if (c != NULL && (inst < 0 || inst > c->restarts)) {
            snprintf(buf, sizeof(buf),
                     "error: previous terminated container \"%s\" in pod \"%s\" not found\n",
                     c->spec->name, p->m->pod->name);
        } else if (c != NULL) {
            snprintf(buf, sizeof(buf), "%s/%s/%lld.log\n%s\n", p->log_dir, c->spec->name, inst,
                     inst == c->restarts && c->state != SHIM_TERMINATED && !c->done ? "running"
                                                                                    : "exited");
        }
        answer(bev, buf);
    } else if (sscanf(line, "delete %lld", &n) == 1) {
        if (ctl->nwaiting == MAX_WAITING) {
            answer(bev, "error: too many deletes waiting\n");
            return;
        }
        ctl->waiting[ctl->nwaiting++] = bev;
        bufferevent_disable(bev, EV_READ);
        bufferevent_enable(bev, EV_WRITE);
        shim_pod_terminate(p, n); /* may finish at once and answer */
    } else {
        answer(bev, "error: unknown request\n");
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

    if (line == NULL) {
        if (evbuffer_get_length(in) > LINE_MAX_BYTES) {
            bufferevent_free(bev);
        }
        return;
    }
    handle(arg, bev, line);
    free(line);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct shim_ctl *ctl = arg;
    struct bufferevent *bev =
        bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    (void)sa;
    (void)len;

    if (bev == NULL) {
        close(fd);
        return;
    }
    bufferevent_setcb(bev, on_read, NULL, on_event, ctl);
    bufferevent_setwatermark(bev, EV_READ, 0, LINE_MAX_BYTES + 1);
    bufferevent_enable(bev, EV_READ);
}

struct shim_ctl *shim_ctl_create(struct shim_podrt *p, char *err, size_t errsz)
{
    struct shim_ctl *ctl = calloc(1, sizeof(*ctl));
    struct sockaddr_un sun;

    if (ctl == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    ctl->pod = p;
    snprintf(ctl->path, sizeof(ctl->path), "%s/control.sock", p->dir);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(ctl->path) >= sizeof(sun.sun_path)) {
        snprintf(err, errsz, "control socket path too long: %s", ctl->path);
        free(ctl);
        return NULL;
    }
    strcpy(sun.sun_path, ctl->path);
    unlink(ctl->path);
    mode_t old = umask(0077);
    ctl->listener = evconnlistener_new_bind(p->base, on_accept, ctl,
                                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                            (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (ctl->listener == NULL) {
        snprintf(err, errsz, "listen on %s: %s", ctl->path, strerror(errno));
        free(ctl);
        return NULL;
    }
    return ctl;
}

void shim_ctl_pod_finished(struct shim_ctl *ctl)
{
    /* Answered but left open: the connection closes when the supervisor is done
     * (shim_ctl_destroy), so a delete returns when the pod is really gone. */
    for (size_t i = 0; i < ctl->nwaiting; i++) {
        bufferevent_write(ctl->waiting[i], "deleted\n", 8);
    }
}

void shim_ctl_destroy(struct shim_ctl *ctl)
{
    if (ctl == NULL) {
        return;
    }
    for (size_t i = 0; i < ctl->nwaiting; i++) {
        bufferevent_free(ctl->waiting[i]);
    }
    if (ctl->listener != NULL) {
        evconnlistener_free(ctl->listener);
    }
    free(ctl);
}

int shim_ctl_call(const char *dir, const char *req, char **out, char *err, size_t errsz)
{
    struct sockaddr_un sun;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    *out = NULL;
    if (fd < 0) {
        snprintf(err, errsz, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock", dir);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        snprintf(err, errsz, "%s: %s", sun.sun_path,
                 errno == ENOENT || errno == ECONNREFUSED ? "no supervisor answers"
                                                          : strerror(errno));
        close(fd);
        return -1;
    }
    size_t rlen = strlen(req);
    if (write(fd, req, rlen) != (ssize_t)rlen || write(fd, "\n", 1) != 1) {
        snprintf(err, errsz, "write to the supervisor: %s", strerror(errno));
        close(fd);
        return -1;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                close(fd);
                snprintf(err, errsz, "out of memory");
                return -1;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    if (buf == NULL) {
        buf = calloc(1, 1);
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}
