/* am_web.c — adapter-metrics' HTTP endpoints: the metrics, /-/healthy, /-/ready,
 * POST /-/reload and a small landing page, on every --web.listen-address. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/util.h>

#include "am_app.h"
#include "pk_conf.h"
#include "pk_log.h"
#include "pk_version.h"

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add_printf(b, "%s\n", text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

/* Escapes &, <, >, " for the landing page. */
static void html(struct evbuffer *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            evbuffer_add(b, "&amp;", 5);
            break;
        case '<':
            evbuffer_add(b, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(b, "&gt;", 4);
            break;
        case '"':
            evbuffer_add(b, "&quot;", 6);
            break;
        default:
            evbuffer_add(b, s, 1);
        }
    }
}

static void landing(struct am_app *app, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add_printf(b,
                        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                        "<title>adapter-metrics</title></head><body>\n"
                        "<h1>adapter-metrics</h1>\n<p>podkit %s (git %s)</p>\n<p><a href=\"",
                        pk_version(), pk_git_rev());
    html(b, app->conf->telemetry_path);
    evbuffer_add_printf(b, "\">Metrics</a> (Prometheus text 0.0.4, or OpenMetrics 1.0.0 when "
                           "asked)</p>\n<h2>Sources</h2>\n<table>\n"
                           "<tr><th>name</th><th>url</th><th>up</th></tr>\n");
    for (size_t i = 0; i < app->nsrc; i++) {
        const struct am_source *s = app->src[i];
        const struct am_src_url *u = &s->conf->url;
        evbuffer_add(b, "<tr><td>", 8);
        html(b, s->conf->name);
        evbuffer_add(b, "</td><td>", 9);
        /* Never show a password. */
        if (u->kind == AM_SRC_REDIS && u->password != NULL) {
            evbuffer_add_printf(b, "redis://***@");
            html(b, u->host);
            evbuffer_add_printf(b, ":%u", (unsigned)u->port);
        } else {
            html(b, s->conf->url_text);
        }
        evbuffer_add_printf(b, "</td><td>%s</td></tr>\n", s->up ? "yes" : "no");
    }
    evbuffer_add_printf(b, "</table>\n<p><a href=\"/-/healthy\">/-/healthy</a> "
                           "<a href=\"/-/ready\">/-/ready</a> (POST /-/reload reloads the "
                           "configuration)</p>\n</body></html>\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/html; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

/* A scrape's reply goes out in one write, without waiting for Nagle: libevent would cut it
 * into 16 KiB writes, one loop turn each. */
static void fast_replies(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    int one = 1;

    if (bev == NULL) {
        return;
    }
    bufferevent_set_max_single_write(bev, 4 << 20);
    /* Fails harmlessly on a unix socket. */
    (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct am_app *app = arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char path[1024];
    size_t n = strcspn(uri, "?#");

    if (n >= sizeof(path)) {
        evhttp_send_error(req, 414, "URI Too Long");
        return;
    }
    memcpy(path, uri, n);
    path[n] = '\0';
    if (strcmp(path, app->conf->telemetry_path) == 0) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            reply_text(req, 405, "Method Not Allowed", "GET only");
            return;
        }
        fast_replies(req);
        am_app_scrape(app, req);
        return;
    }
    if (strcmp(path, "/-/healthy") == 0) {
        reply_text(req, HTTP_OK, "OK", "adapter-metrics is Healthy.");
        return;
    }
    if (strcmp(path, "/-/ready") == 0) {
        reply_text(req, HTTP_OK, "OK", "adapter-metrics is Ready.");
        return;
    }
    if (strcmp(path, "/-/reload") == 0) {
        char err[PK_CONF_ERR_MAX];
        if (cmd != EVHTTP_REQ_POST && cmd != EVHTTP_REQ_PUT) {
            reply_text(req, 405, "Method Not Allowed", "POST or PUT only");
            return;
        }
        if (app->reload == NULL) {
            reply_text(req, HTTP_INTERNAL, "Internal Server Error", "reload is not available");
            return;
        }
        if (app->reload(app->reload_arg, err, sizeof(err)) < 0) {
            reply_text(req, HTTP_INTERNAL, "Internal Server Error", err);
            return;
        }
        reply_text(req, HTTP_OK, "OK", "reloaded");
        return;
    }
    if (strcmp(path, "/") == 0 && (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
        landing(app, req);
        return;
    }
    reply_text(req, HTTP_NOTFOUND, "Not Found", "404 page not found");
}

/* Binds one address: TCP through evhttp, unix: through our own socket. */
static int bind_one(struct am_app *app, const struct pk_addr *a, char *err, size_t errsz)
{
    char shown[PK_ADDR_PATH_MAX + PK_ADDR_HOST_MAX + 16];

    pk_addr_format(a, shown, sizeof(shown));
    if (a->kind == PK_ADDR_UNIX) {
        struct sockaddr_storage ss;
        socklen_t len;
        evutil_socket_t fd;
        struct stat st;

        if (a->path[0] != '@' && lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(a->path); /* a previous run's */
        }
        if (pk_addr_sockaddr(a, &ss, &len) < 0 ||
            (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
            snprintf(err, errsz, "web.listen-address %s: socket: %s", shown, strerror(errno));
            return -1;
        }
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
            snprintf(err, errsz, "web.listen-address %s: bind: %s", shown, strerror(errno));
            close(fd);
            return -1;
        }
        if (evhttp_accept_socket(app->http, fd) < 0) {
            snprintf(err, errsz, "web.listen-address %s: cannot accept", shown);
            close(fd);
            return -1;
        }
        return 0;
    }
    if (evhttp_bind_socket(app->http, a->host[0] != '\0' ? a->host : "::", a->port) < 0) {
        snprintf(err, errsz, "web.listen-address %s: bind: %s", shown, strerror(errno));
        return -1;
    }
    return 0;
}

int am_web_start(struct am_app *app, char *err, size_t errsz)
{
    if ((app->http = evhttp_new(app->base)) == NULL) {
        snprintf(err, errsz, "evhttp_new failed");
        return -1;
    }
    evhttp_set_allowed_methods(app->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_max_headers_size(app->http, 16384);
    evhttp_set_max_body_size(app->http, 65536);
    evhttp_set_timeout(app->http, 60);
    evhttp_set_gencb(app->http, on_request, app);
    for (size_t i = 0; i < app->conf->naddrs; i++) {
        if (bind_one(app, &app->conf->addrs[i], err, errsz) < 0) {
            return -1;
        }
    }
    return 0;
}
