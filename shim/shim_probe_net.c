/* shim_probe_net.c — httpGet and tcpSocket attempts: a non-blocking connection made from
 * inside the pod's network namespace, a request, and the status line of the answer. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "pk_addr.h"
#include "shim_probe_int.h"

/* A TCP socket of family that lives in the network namespace netns_fd: a socket keeps the
 * namespace it was created in, so the thread steps in for socket() only (shim_portfwd does
 * the same); home_fd is the thread's own namespace to return to (-1: opened here). Returns
 * -1 with errno set. */
static int socket_in(int netns_fd, int home_fd, int family)
{
    int self = home_fd, fd, saved;

    /* thread-self, not self: setns moves only the calling thread. */
    if (home_fd < 0 && (self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) == -1) {
        return -1;
    }
    if (setns(netns_fd, CLONE_NEWNET) == -1) {
        saved = errno;
        if (self != home_fd) {
            close(self);
        }
        errno = saved;
        return -1;
    }
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    saved = errno;
    if (setns(self, CLONE_NEWNET) == -1) {
        /* Staying would put every later socket of the supervisor (listeners, other pods'
         * probes) in this pod, silently: there is no safe way to go on. */
        fprintf(stderr, "podshim: probe: cannot return to the host network namespace: %s\n",
                strerror(errno));
        abort();
    }
    if (self != home_fd) {
        close(self);
    }
    errno = saved;
    return fd;
}

static bool is_http(const struct shim_probe_run *r)
{
    return r->type == SHIM_HANDLER_HTTP;
}

/* A FAILURE worded as Go's client words it: 'Get "URL": dial tcp 127.0.0.1:80: connect:
 * connection refused' for HTTP, the part after 'Get "URL": ' for TCP. op is "dial",
 * "read" or "write"; from inside start (later), the outcome waits for the loop. */
static void fail_io(struct shim_probe_run *r, bool later, const char *op, int err)
{
    char why[128], what[PROBE_NOTE_MAX];

    shim_probe_strerror(err, why, sizeof(why));
    snprintf(what, sizeof(what), "%s tcp %s: %s: %s", op, r->hostport,
             strcmp(op, "dial") == 0 ? "connect" : op, why);
    if (later) {
        shim_probe_later(r, SHIM_PROBE_FAILURE, "%s%s%s%s", is_http(r) ? "Get \"" : "",
                         is_http(r) ? r->url : "", is_http(r) ? "\": " : "", what);
    } else {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE, "%s%s%s%s", is_http(r) ? "Get \"" : "",
                           is_http(r) ? r->url : "", is_http(r) ? "\": " : "", what);
    }
}

/* A header name is an RFC 9110 token. */
static bool valid_name(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL) {
            return false;
        }
    }
    return true;
}

/* A header value holds no control characters but tab (so no line breaks). */
static bool valid_value(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return false;
        }
    }
    return true;
}

/* The first value of header name among the user's, or NULL. */
static const char *user_header(const struct shim_handler *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        if (strcasecmp(h->headers[i].name, name) == 0) {
            return h->headers[i].value;
        }
    }
    return NULL;
}

/* path as it goes on the request line: with a leading '/', and bytes that cannot appear
 * there (spaces, controls, non-ASCII) percent-encoded, as Go's URL does. */
static void put_path(FILE *f, const char *path)
{
    if (path == NULL || path[0] != '/') {
        fputc('/', f);
    }
    for (const char *p = path != NULL ? path : ""; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f) {
            fprintf(f, "%%%02X", c);
        } else {
            fputc(c, f);
        }
    }
}

/* Builds r->url and r->req. Returns -1 when out of memory, else 0 (with shim_probe_later
 * called when a header cannot be sent). */
static int build_request(struct shim_probe_run *r, const struct shim_handler *h,
                         const char *hostport)
{
    const char *host = user_header(h, "Host"), *accept = user_header(h, "Accept");
    char *path = NULL;
    size_t len = 0;
    FILE *f;

    for (size_t i = 0; i < h->nheaders; i++) {
        const char *name = h->headers[i].name, *value = h->headers[i].value;
        if (name == NULL || value == NULL || !valid_name(name) || !valid_value(value)) {
            shim_probe_later(r, SHIM_PROBE_ERROR, "invalid HTTP header %s%.64s%s",
                             name != NULL ? "\"" : "", name != NULL ? name : "with no name",
                             name != NULL ? "\"" : "");
            return 0;
        }
    }
    f = open_memstream(&path, &len);
    if (f == NULL) {
        return -1;
    }
    put_path(f, h->path);
    if (fclose(f) != 0) {
        free(path);
        return -1;
    }
    if (asprintf(&r->url, "http://%s%s", hostport, path) < 0) {
        r->url = NULL;
        free(path);
        return -1;
    }
    f = open_memstream(&r->req, &r->req_len);
    if (f == NULL) {
        free(path);
        return -1;
    }
    fprintf(f, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host != NULL ? host : hostport);
    free(path);
    if (user_header(h, "User-Agent") == NULL) {
        fprintf(f, "User-Agent: " SHIM_PROBE_USER_AGENT "\r\n");
    }
    if (accept == NULL) {
        fprintf(f, "Accept: */*\r\n");
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct shim_http_header *hd = &h->headers[i];
        /* Host went above; an empty Accept asks for none; the connection is ours to close. */
        if (strcasecmp(hd->name, "Host") == 0 || strcasecmp(hd->name, "Connection") == 0 ||
            (strcasecmp(hd->name, "Accept") == 0 && accept[0] == '\0')) {
            continue;
        }
        fprintf(f, "%s: %s\r\n", hd->name, hd->value);
    }
    fprintf(f, "Connection: close\r\n\r\n");
    if (fclose(f) != 0) {
        return -1;
    }
    return 0;
}

/* Looks for the final status line in what was read. Returns the status (1xx interim
 * responses but 101 skipped), 0 when more must be read, -1 when it is not HTTP (*bad and
 * *badlen then say which line). */
static int parse_status(const char *buf, size_t len, const char **bad, size_t *badlen)
{
    size_t off = 0;

    for (;;) {
        const char *line = buf + off, *nl = memchr(line, '\n', len - off);
        size_t n;
        int code;

        if (nl == NULL) {
            return 0;
        }
        n = (size_t)(nl - line);
        if (n > 0 && line[n - 1] == '\r') {
            n--;
        }
        *bad = line;
        *badlen = n;
        if (n < 12 || memcmp(line, "HTTP/", 5) != 0 || line[5] < '0' || line[5] > '9' ||
            line[6] != '.' || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
            (n > 12 && line[12] != ' ')) {
            return -1;
        }
        code = 0;
        for (int i = 9; i < 12; i++) {
            if (line[i] < '0' || line[i] > '9') {
                return -1;
            }
            code = code * 10 + (line[i] - '0');
        }
        if (code < 100) {
            return -1;
        }
        if (code >= 200 || code == 101) {
            return code;
        }
        /* An interim response (100 Continue, 103 Early Hints): skip to its empty line. */
        const char *p = nl + 1;
        for (;;) {
            const char *end = memchr(p, '\n', len - (size_t)(p - buf));
            if (end == NULL) {
                return 0;
            }
            n = (size_t)(end - p);
            p = end + 1;
            if (n == 0 || (n == 1 && end[-1] == '\r')) {
                break;
            }
        }
        off = (size_t)(p - buf);
    }
}

static void report_status(struct shim_probe_run *r, int code)
{
    if (code >= 200 && code < 300) {
        shim_probe_finishf(r, SHIM_PROBE_SUCCESS, "HTTP probe succeeded with statuscode: %d", code);
    } else if (code >= 300 && code < 400) {
        shim_probe_finishf(r, SHIM_PROBE_SUCCESS,
                           "HTTP probe succeeded with statuscode: %d (redirect not followed)",
                           code);
    } else {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE, "HTTP probe failed with statuscode: %d", code);
    }
}

static void read_answer(struct shim_probe_run *r)
{
    const char *bad = NULL;
    size_t badlen = 0;
    ssize_t n;
    int code;

    n = recv(r->fd, r->resp + r->resp_len, SHIM_PROBE_HTTP_READ_MAX - r->resp_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        fail_io(r, false, "read", errno);
        return;
    }
    r->resp_len += (size_t)n;
    code = parse_status(r->resp, r->resp_len, &bad, &badlen);
    if (code > 0) {
        report_status(r, code);
    } else if (code < 0 || r->resp_len == SHIM_PROBE_HTTP_READ_MAX) {
        char shown[64];
        size_t k = 0;
        for (; k < badlen && k < sizeof(shown) - 1; k++) {
            shown[k] = bad[k] >= 0x20 && bad[k] < 0x7f ? bad[k] : '?';
        }
        shown[k] = '\0';
        shim_probe_finishf(r, SHIM_PROBE_FAILURE,
                           code < 0 ? "Get \"%s\": malformed HTTP response \"%s\""
                                    : "Get \"%s\": no HTTP status line in the first bytes: \"%s\"",
                           r->url, shown);
    } else if (n == 0) {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE, "Get \"%s\": EOF", r->url);
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg);

/* Sends what is left of the request; once it is all out, waits for the answer. */
static void send_request(struct shim_probe_run *r)
{
    while (r->req_off < r->req_len) {
        ssize_t n = send(r->fd, r->req + r->req_off, r->req_len - r->req_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n < 0) {
            fail_io(r, false, "write", errno);
            return;
        }
        r->req_off += (size_t)n;
    }
    r->resp = malloc(SHIM_PROBE_HTTP_READ_MAX);
    if (r->resp == NULL) {
        shim_probe_finish(r, SHIM_PROBE_ERROR, "out of memory");
        return;
    }
    r->sending = false;
    event_del(r->io);
    event_assign(r->io, r->base, r->fd, EV_READ | EV_PERSIST, on_io, r);
    event_add(r->io, NULL);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct shim_probe_run *r = arg;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)what;
    if (!r->sending) {
        read_answer(r);
        return;
    }
    if (r->req_off == 0) {
        /* The connect finished, one way or the other. */
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }
        if (err != 0) {
            fail_io(r, false, "dial", err);
            return;
        }
        if (!is_http(r)) {
            shim_probe_finish(r, SHIM_PROBE_SUCCESS, "");
            return;
        }
    }
    send_request(r);
}

int shim_probe_net_start(struct shim_probe_run *r, const struct shim_handler *h,
                         const struct shim_probe_target *t, int port)
{
    struct pk_addr a = {.kind = PK_ADDR_INET, .port = (uint16_t)port};
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *host = h->host;

    if (host == NULL || host[0] == '\0' || strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    if (strlen(host) <= PK_ADDR_HOST_MAX) {
        strcpy(a.host, host);
    }
    if (a.host[0] == '\0' || pk_addr_sockaddr(&a, &ss, &sslen) == -1) {
        shim_probe_later(r, SHIM_PROBE_ERROR,
                         "host \"%.64s\": not an IP address (names are not resolved here: give an "
                         "IPv4 or IPv6 address, or no host for the pod's own)",
                         host);
        return 0;
    }
    pk_addr_format(&a, r->hostport, sizeof(r->hostport));
    if (is_http(r)) {
        if (h->scheme != NULL && strcmp(h->scheme, "HTTPS") == 0) {
            shim_probe_later(r, SHIM_PROBE_ERROR, "HTTPS probes are not supported yet");
            return 0;
        }
        if (h->scheme != NULL && h->scheme[0] != '\0' && strcmp(h->scheme, "HTTP") != 0) {
            shim_probe_later(r, SHIM_PROBE_ERROR, "unsupported scheme \"%.32s\"", h->scheme);
            return 0;
        }
        if (build_request(r, h, r->hostport) < 0) {
            return -1;
        }
        if (r->decided) {
            return 0;
        }
    }
    r->fd = socket_in(t->netns_fd, t->home_net_fd, ss.ss_family);
    if (r->fd == -1) {
        shim_probe_later(r, SHIM_PROBE_ERROR, "socket in the pod's network namespace: %s",
                         strerror(errno));
        return 0;
    }
    if (connect(r->fd, (struct sockaddr *)&ss, sslen) == -1 && errno != EINPROGRESS) {
        /* Refused at once (loopback answers within connect): still reported from the loop. */
        fail_io(r, true, "dial", errno);
        return 0;
    }
    /* Connected or not yet, writability says when to look (SO_ERROR says how it went). */
    r->sending = true;
    r->io = event_new(r->base, r->fd, EV_WRITE | EV_PERSIST, on_io, r);
    if (r->io == NULL || event_add(r->io, NULL) == -1) {
        return -1;
    }
    return 0;
}

void shim_probe_net_timeout(struct shim_probe_run *r)
{
    if (is_http(r)) {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE,
                           "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while "
                           "awaiting headers)",
                           r->url);
    } else {
        shim_probe_finishf(r, SHIM_PROBE_FAILURE, "dial tcp %s: i/o timeout", r->hostport);
    }
}

void shim_probe_net_release(struct shim_probe_run *r)
{
    if (r->io != NULL) {
        event_free(r->io);
        r->io = NULL;
    }
    if (r->fd != -1) {
        close(r->fd);
        r->fd = -1;
    }
    free(r->url);
    r->url = NULL;
    free(r->req);
    r->req = NULL;
    free(r->resp);
    r->resp = NULL;
}
