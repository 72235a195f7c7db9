/* main.c — adapter-metrics: the metrics adapter. Turns an app's own numbers (stats files,
 * JSON pages, statsd, Redis INFO, Prometheus text) into one checked Prometheus/OpenMetrics
 * endpoint. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "am_app.h"
#include "am_conf.h"
#include "pk_cli.h"
#include "pk_log.h"

/* A configuration loaded by a reload, with the pk_conf that owns its values. */
struct loaded {
    struct am_conf conf;
    struct pk_conf pc;
};

struct main_state {
    struct event_base *base;
    struct pk_cli *cli;
    struct am_app app;
    struct loaded *running; /* the reloaded configuration in use, or NULL (cli's) */
};

static int check(void *base, char *err, size_t errsz)
{
    return am_conf_check(base, err, errsz);
}

static void version_extra(FILE *out)
{
    fprintf(out, "libevent %s\nhiredis %d.%d.%d\njansson %s\nPCRE2 %d.%d\nzlib %s\n",
            event_get_version(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, JANSSON_VERSION,
            PCRE2_MAJOR, PCRE2_MINOR, zlibVersion());
}

static void free_loaded(struct loaded *l)
{
    if (l != NULL) {
        am_conf_clear(&l->conf);
        pk_conf_release(&l->pc);
        free(l);
    }
}

/* Builds the configuration again from the same file and flags, checks it, and swaps it in;
 * a bad one leaves the running one alone. */
static int reload(void *arg, char *err, size_t errsz)
{
    struct main_state *m = arg;
    struct loaded *l = calloc(1, sizeof(*l));
    int rc = -1;

    if (l == NULL) {
        snprintf(err, errsz, "out of memory");
        goto out;
    }
    pk_conf_init(&l->pc);
    if (pk_cli_reload(m->cli, &l->pc, &l->conf) < 0) {
        snprintf(err, errsz, "%s", l->pc.err);
        goto out;
    }
    if (am_conf_check(&l->conf, err, errsz) < 0 || am_app_swap(&m->app, &l->conf, err, errsz) < 0) {
        goto out;
    }
    free_loaded(m->running);
    m->running = l;
    l = NULL;
    rc = 0;
out:
    am_app_reloaded(&m->app, rc == 0);
    if (rc == 0) {
        pk_log_info("reload: running on the new configuration");
    } else {
        pk_log_error("reload: %s; the running configuration stays", err);
    }
    free_loaded(l);
    return rc;
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    struct main_state *m = arg;
    (void)what;

    pk_log_info("signal %d: exiting", (int)sig);
    event_base_loopexit(m->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    char err[PK_CONF_ERR_MAX];
    (void)sig;
    (void)what;

    reload(arg, err, sizeof(err));
}

/* The Prometheus exporters' names for -c and -t: --config.file and --config.check. */
static char **alias_flags(int argc, char **argv)
{
    char **v = calloc((size_t)argc + 1, sizeof(*v));

    if (v == NULL) {
        return NULL;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (; i < argc; i++) {
                v[i] = argv[i];
            }
            break;
        }
        if (strcmp(a, "--config.file") == 0) {
            v[i] = "--config";
        } else if (strncmp(a, "--config.file=", 14) == 0) {
            /* "--config=" + the value: lives as long as argv does (freed at exit). */
            size_t n = strlen(a) - 5 + 1;
            char *s = malloc(n);
            if (s == NULL) {
                free(v);
                return NULL;
            }
            snprintf(s, n, "--config=%s", a + 14);
            v[i] = s;
        } else if (strcmp(a, "--config.check") == 0) {
            v[i] = "--test-config";
        } else {
            v[i] = argv[i];
        }
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct pk_cli_spec spec = {
        .prog = "adapter-metrics",
        .synopsis = "[OPTIONS]",
        .about = "Turns an app's own numbers (stats files, JSON pages, statsd, Redis INFO, "
                 "Prometheus text)\ninto one Prometheus/OpenMetrics endpoint. Every sample is "
                 "checked when it arrives;\n/metrics never fails because of one. SIGHUP or POST "
                 "/-/reload reloads the configuration\n(a bad one keeps the running one); "
                 "SIGTERM exits 0.",
        .keys = am_conf_keys,
        .epilog = "Aliases, as Prometheus exporters have them: --config.file FILE is -c FILE, "
                  "--config.check is -t.\nEndpoints: the telemetry path, /-/healthy, /-/ready, "
                  "POST /-/reload, and / (a landing page).",
        .version_extra = version_extra,
        .check = check,
    };
    struct am_conf conf;
    struct pk_cli cli;
    struct main_state m = {.cli = &cli};
    struct event *ev[3] = {NULL, NULL, NULL};
    char err[PK_CONF_ERR_MAX];
    char **args = alias_flags(argc, argv);
    int rc;

    if (args == NULL) {
        fprintf(stderr, "adapter-metrics: out of memory\n");
        return 1;
    }
    memset(&conf, 0, sizeof(conf));
    rc = pk_cli_start(&cli, &spec, &conf, argc, args);
    if (rc != PK_CLI_RUN) {
        goto out_cli;
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
    if (am_app_start(&m.app, m.base, &conf, err, sizeof(err)) < 0) {
        pk_log_error("%s", err);
        rc = 1;
        goto out;
    }
    m.app.reload = reload;
    m.app.reload_arg = &m;
    pk_log_info("serving %s on %s (%zu sources)", conf.telemetry_path, conf.listen.v[0], conf.nall);
    event_base_dispatch(m.base);
    rc = 0;
out:
    am_app_free(&m.app);
    for (size_t i = 0; i < 3; i++) {
        if (ev[i] != NULL) {
            event_free(ev[i]);
        }
    }
    if (m.base != NULL) {
        event_base_free(m.base);
    }
    free_loaded(m.running);
out_cli:
    am_conf_clear(&conf);
    pk_cli_release(&cli);
    for (int i = 0; i < argc; i++) {
        if (args[i] != argv[i] && strncmp(args[i], "--config=", 9) == 0) {
            free(args[i]);
        }
    }
    free(args);
    return rc;
}
