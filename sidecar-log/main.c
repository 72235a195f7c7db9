/* main.c — sidecar-log: the log-shipping sidecar. Tails files on a shared volume, survives
 * rotation, ships every line to its outputs, and keeps positions only once they are
 * acknowledged. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "pk_cli.h"
#include "pk_log.h"
#include "sl_app.h"
#include "sl_conf.h"

/* A configuration loaded by a reload, with the pk_conf that owns its values. */
struct loaded {
    struct sl_conf conf;
    struct pk_conf pc;
};

struct main_state {
    struct event_base *base;
    struct pk_cli *cli;
    struct sl_app app;
    struct loaded *running; /* the reloaded configuration in use, or NULL (cli's) */
    struct loaded *next;    /* a reload waiting for the running app to drain */
    bool exiting;
    int rc;
};

static int check(void *base, char *err, size_t errsz)
{
    return sl_conf_check(base, err, errsz);
}

static void version_extra(FILE *out)
{
    fprintf(out, "libevent %s\njansson %s\nPCRE2 %d.%d\n", event_get_version(), JANSSON_VERSION,
            PCRE2_MAJOR, PCRE2_MINOR);
}

static void free_loaded(struct loaded *l)
{
    if (l != NULL) {
        sl_conf_clear(&l->conf);
        pk_conf_release(&l->pc);
        free(l);
    }
}

static void stopped(void *arg, bool drained)
{
    struct main_state *m = arg;
    char err[PK_CONF_ERR_MAX];

    if (m->exiting || m->next == NULL) {
        pk_log_info("stopped%s", drained ? "" : " (not everything was acknowledged)");
        event_base_loopexit(m->base, NULL);
        return;
    }
    /* A reload: everything queued was acknowledged and saved; start again on the new
     * configuration from the saved positions. */
    sl_app_free(&m->app);
    free_loaded(m->running);
    m->running = m->next;
    m->next = NULL;
    if (sl_app_start(&m->app, m->base, &m->running->conf, err, sizeof(err)) < 0) {
        pk_log_error("reload: %s; exiting", err);
        m->rc = 1;
        event_base_loopexit(m->base, NULL);
        return;
    }
    pk_log_info("reload: running on the new configuration");
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    struct main_state *m = arg;
    (void)what;

    if (m->exiting) {
        pk_log_warn("signal %d again: exiting now", (int)sig);
        event_base_loopexit(m->base, NULL);
        return;
    }
    m->exiting = true;
    pk_log_info("signal %d: no more reading; flushing what is queued", (int)sig);
    sl_app_stop(&m->app, stopped, m);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct main_state *m = arg;
    struct loaded *l;
    char err[PK_CONF_ERR_MAX];
    (void)sig;
    (void)what;

    if (m->exiting || m->next != NULL) {
        return;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        pk_log_error("reload: out of memory; the running configuration stays");
        return;
    }
    pk_conf_init(&l->pc);
    if (pk_cli_reload(m->cli, &l->pc, &l->conf) < 0) {
        pk_log_error("reload: %s; the running configuration stays", l->pc.err);
    } else if (sl_conf_check(&l->conf, err, sizeof(err)) < 0) {
        pk_log_error("reload: %s; the running configuration stays", err);
    } else {
        m->next = l;
        pk_log_info("reload: flushing what is queued, then starting on the new configuration");
        sl_app_stop(&m->app, stopped, m);
        return;
    }
    free_loaded(l);
}

int main(int argc, char **argv)
{
    static const struct pk_cli_spec spec = {
        .prog = "sidecar-log",
        .synopsis = "[OPTIONS]",
        .about = "Tails log files (on a volume shared with the app), follows rotation, "
                 "truncation and\nrenames, and ships every line to its outputs. A file's "
                 "position is saved only once\nevery output acknowledged its lines, so a "
                 "restart loses nothing and, after a clean\nstop, repeats nothing. SIGHUP "
                 "reloads the configuration; SIGTERM flushes and exits 0.",
        .keys = sl_conf_keys,
        .version_extra = version_extra,
        .check = check,
    };
    struct sl_conf conf;
    struct pk_cli cli;
    struct main_state m = {.cli = &cli};
    struct event *ev[3] = {NULL, NULL, NULL};
    char err[PK_CONF_ERR_MAX];
    int rc;

    memset(&conf, 0, sizeof(conf));
    rc = pk_cli_start(&cli, &spec, &conf, argc, argv);
    if (rc != PK_CLI_RUN) {
        sl_conf_clear(&conf);
        pk_cli_release(&cli);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    m.base = event_base_new();
    if (m.base == NULL) {
        pk_log_error("event_base_new failed");
        rc = 1;
        goto out;
    }
    ev[0] = evsignal_new(m.base, SIGTERM, on_term, &m);
    ev[1] = evsignal_new(m.base, SIGINT, on_term, &m);
    ev[2] = evsignal_new(m.base, SIGHUP, on_hup, &m);
    for (size_t i = 0; i < 3; i++) {
        if (ev[i] == NULL || evsignal_add(ev[i], NULL) < 0) {
            pk_log_error("cannot watch signals");
            rc = 1;
            goto out;
        }
    }
    if (sl_app_start(&m.app, m.base, &conf, err, sizeof(err)) < 0) {
        pk_log_error("%s", err);
        rc = 1;
        goto out;
    }
    event_base_dispatch(m.base);
    rc = m.rc;
out:
    sl_app_free(&m.app);
    for (size_t i = 0; i < 3; i++) {
        if (ev[i] != NULL) {
            event_free(ev[i]);
        }
    }
    if (m.base != NULL) {
        event_base_free(m.base);
    }
    free_loaded(m.running);
    free_loaded(m.next);
    sl_conf_clear(&conf);
    pk_cli_release(&cli);
    return rc;
}
