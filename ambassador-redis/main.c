/* main.c — ambassador-redis: a local Redis endpoint for an app, in front of a master that
 * may move (Sentinel), as the Kubernetes ambassador pattern has it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "ar_conf.h"
#include "ar_proxy.h"
#include "pk_cli.h"
#include "pk_log.h"

/* A configuration loaded by a reload, with the pk_conf that owns its values. */
struct loaded {
    struct ar_conf conf;
    struct pk_conf pc;
};

struct app {
    struct event_base *base;
    struct pk_cli *cli;
    struct ar_proxy *px;
    struct ar_conf *conf; /* the one in use */
    struct loaded *loaded; /* when it came from a reload, else NULL (cli owns it) */
    bool stopping;
};

static int check(void *base, char *err, size_t errsz)
{
    return ar_conf_check(base, err, errsz);
}

static void version_extra(FILE *out)
{
    fprintf(out, "libevent %s\nhiredis %d.%d.%d\nOpenSSL: loaded for --upstream-tls only\n",
            event_get_version(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
}

static void stopped(void *arg)
{
    struct app *app = arg;
    pk_log_info("stopped");
    event_base_loopexit(app->base, NULL);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    (void)what;

    if (app->stopping) {
        pk_log_warn("signal %d again: exiting now", (int)sig);
        event_base_loopexit(app->base, NULL);
        return;
    }
    app->stopping = true;
    pk_log_info("signal %d: no new clients; finishing the replies in flight", (int)sig);
    ar_proxy_shutdown(app->px, stopped, app);
}

static void free_loaded(struct loaded *l)
{
    if (l != NULL) {
        ar_conf_clear(&l->conf);
        pk_conf_release(&l->pc);
        free(l);
    }
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    struct loaded *l = calloc(1, sizeof(*l));
    char err[PK_CONF_ERR_MAX];
    (void)sig;
    (void)what;

    if (l == NULL) {
        pk_log_error("reload: out of memory; the running configuration stays");
        return;
    }
    pk_conf_init(&l->pc);
    if (pk_cli_reload(app->cli, &l->pc, &l->conf) < 0) {
        pk_log_error("reload: %s; the running configuration stays", l->pc.err);
    } else if (ar_conf_check(&l->conf, err, sizeof(err)) < 0 ||
               ar_proxy_reload(app->px, &l->conf, err, sizeof(err)) < 0) {
        pk_log_error("reload: %s; the running configuration stays", err);
    } else {
        free_loaded(app->loaded);
        app->loaded = l;
        app->conf = &l->conf;
        pk_log_info("reload: the new configuration applies to new connections");
        return;
    }
    free_loaded(l);
}

int main(int argc, char **argv)
{
    static const struct pk_cli_spec spec = {
        .prog = "ambassador-redis",
        .synopsis = "[OPTIONS]",
        .about = "A local Redis endpoint (default 127.0.0.1:6379) for the app in a pod. It "
                 "finds the real\nmaster, fixed or through Sentinel, follows failovers, and "
                 "passes every command\nthrough: transactions, blocking commands, pub/sub, "
                 "RESP3. SIGHUP reloads the\nconfiguration; SIGTERM finishes the replies in "
                 "flight and exits 0.",
        .keys = ar_conf_keys,
        .version_extra = version_extra,
        .check = check,
    };
    struct ar_conf conf;
    struct pk_cli cli;
    struct app app = {.cli = &cli, .conf = &conf};
    struct event *ev[3] = {NULL, NULL, NULL};
    char err[512];
    int rc;

    memset(&conf, 0, sizeof(conf));
    rc = pk_cli_start(&cli, &spec, &conf, argc, argv);
    if (rc != PK_CLI_RUN) {
        ar_conf_clear(&conf);
        pk_cli_release(&cli);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    /* With the changelist, the EV_WRITE interest a bufferevent adds when a reply is queued
     * and drops once it is written costs no epoll_ctl when the two meet before the next
     * epoll_wait: the common case when clients keep the connection busy. */
    struct event_config *cfg = event_config_new();
    if (cfg != NULL) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        app.base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (app.base == NULL) {
        pk_log_error("event_base_new failed");
        rc = 1;
        goto out;
    }
    app.px = ar_proxy_new(app.base, &conf, err, sizeof(err));
    if (app.px == NULL) {
        pk_log_error("%s", err);
        rc = 1;
        goto out;
    }
    ev[0] = evsignal_new(app.base, SIGTERM, on_term, &app);
    ev[1] = evsignal_new(app.base, SIGINT, on_term, &app);
    ev[2] = evsignal_new(app.base, SIGHUP, on_hup, &app);
    for (size_t i = 0; i < 3; i++) {
        if (ev[i] == NULL || evsignal_add(ev[i], NULL) < 0) {
            pk_log_error("cannot watch signals");
            rc = 1;
            goto out;
        }
    }
    event_base_dispatch(app.base);
    rc = 0;
out:
    for (size_t i = 0; i < 3; i++) {
        if (ev[i] != NULL) {
            event_free(ev[i]);
        }
    }
    ar_proxy_free(app.px);
    if (app.base != NULL) {
        event_base_free(app.base);
    }
    free_loaded(app.loaded);
    ar_conf_clear(&conf);
    pk_cli_release(&cli);
    return rc;
}
