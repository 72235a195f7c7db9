/* sl_conf.c — the table of sidecar-log's keys and the checks across them. */
#include <stdio.h>
#include <string.h>

#include "sl_conf.h"
#include "sl_watch.h"

static const char *const watch_modes[] = {"inotify", "poll", NULL};
static const char *const start_ats[] = {"head", "tail", NULL};
static const char *const parsers[] = {"raw", "json", "cri", NULL};
static const char *const formats[] = {"auto", "raw", "json", NULL};

#define KEY(n, t, f, d, m, h)                                                                      \
    {                                                                                              \
        .name = n, .type = t, .offset = offsetof(struct sl_conf, f), .def = d, .metavar = m,       \
        .help = h                                                                                  \
    }
#define ENUM(n, f, d, ch, h)                                                                       \
    {                                                                                              \
        .name = n, .type = PK_CONF_ENUM, .offset = offsetof(struct sl_conf, f), .def = d,          \
        .choices = ch, .help = h                                                                   \
    }
#define INT(n, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        .name = n, .type = PK_CONF_INT, .offset = offsetof(struct sl_conf, f), .def = d,           \
        .min = lo, .max = hi, .metavar = "N", .help = h                                            \
    }

const struct pk_conf_key sl_conf_keys[] = {
    KEY("path", PK_CONF_LIST, path, NULL, "GLOB",
        "files to ship; wildcards also in directories (/var/log/pods/*/*/*.log)"),
    KEY("exclude", PK_CONF_LIST, exclude, NULL, "GLOB", "files not to ship (*.gz)"),
    ENUM("watch", watch, "inotify", watch_modes,
         "how changes are found: inotify (and a rescan), or poll for filesystems without it"),
    KEY("rescan-interval", PK_CONF_DURATION, rescan_ms, "5s", NULL,
        "full rescan (inotify) or poll interval"),
    ENUM("start-at", start_at, "head", start_ats,
         "files present at the first start (no position yet): read from the head or the tail"),
    KEY("db", PK_CONF_STRING, db, NULL, "FILE",
        "positions file: a restart goes on where the outputs' acknowledgements left off"),
    KEY("max-line-bytes", PK_CONF_SIZE, max_line_bytes, "64KiB", NULL,
        "longer lines are cut; the rest is dropped and counted"),
    KEY("multiline-start", PK_CONF_STRING, multiline_start, NULL, "REGEX",
        "a line matching this (PCRE2) starts a record; other lines continue it"),
    KEY("multiline-flush", PK_CONF_DURATION, multiline_flush_ms, "1s", NULL,
        "a multiline record waits this long for its next line"),
    ENUM("parser", parser, "raw", parsers,
         "raw; json (a JSON object per line, nested under \"json\"); cri (containerd logs, "
         "partial lines joined)"),
    KEY("label", PK_CONF_LIST, label, NULL, "K=V", "a field added to every JSON record"),
    KEY("output", PK_CONF_LIST, output, "stdout", "SPEC",
        "stdout, file:PATH, tcp://H:P, http://H:P/PATH, es://H:P/INDEX, "
        "redis://H:P/KEY?type=list|stream"),
    ENUM("format", format, "auto", formats,
         "raw lines or JSON records (auto: raw for stdout and file:, JSON for the rest)"),
    INT("batch-records", batch_records, "2048", 1, 1000000, "records in one batch, at most"),
    KEY("batch-bytes", PK_CONF_SIZE, batch_bytes, "1MiB", NULL, "text in one batch, about"),
    KEY("flush-interval", PK_CONF_DURATION, flush_interval_ms, "200ms", NULL,
        "a batch waits this long to fill (http, es, redis)"),
    INT("retry-max", retry_max, "0", 0, 1000000000,
        "tries of one batch before it is dropped (0: retry forever)"),
    KEY("retry-backoff", PK_CONF_DURATION, backoff_ms, "250ms", NULL,
        "the first retry's wait, doubled each time (with jitter)"),
    KEY("retry-backoff-max", PK_CONF_DURATION, backoff_max_ms, "30s", NULL,
        "the longest wait between retries"),
    KEY("timeout", PK_CONF_DURATION, timeout_ms, "10s", NULL,
        "connect and request timeout of network outputs"),
    KEY("buffer-bytes", PK_CONF_SIZE, buffer_bytes, "3MiB", NULL,
        "memory for records not yet acknowledged; when full, reading waits"),
    KEY("dead-letter", PK_CONF_STRING, dead_letter, NULL, "FILE",
        "es: records refused for good (mapping errors) are appended here"),
    KEY("rotate-wait", PK_CONF_DURATION, rotate_wait_ms, "5s", NULL,
        "a rotated file read to its end is closed once it has not grown for this long"),
    KEY("save-interval", PK_CONF_DURATION, save_interval_ms, "200ms", NULL,
        "how often acknowledged positions are saved (atomically, fsynced)"),
    KEY("shutdown-timeout", PK_CONF_DURATION, shutdown_timeout_ms, "10s", NULL,
        "SIGTERM: longest wait for the outputs to acknowledge what is queued"),
    KEY("admin-listen", PK_CONF_STRING, admin_listen, NULL, "ADDR",
        "serve /metrics and /healthz over HTTP here"),
    {.name = NULL},
};

int sl_conf_check(struct sl_conf *c, char *err, size_t errsz)
{
    char why[256];

    if (c->path.n == 0) {
        snprintf(err, errsz, "path: at least one glob is needed (--path)");
        return -1;
    }
    if (c->output.n == 0) {
        snprintf(err, errsz, "output: at least one is needed");
        return -1;
    }
    if (c->max_line_bytes == 0 || c->max_line_bytes > (64u << 20)) {
        snprintf(err, errsz, "max-line-bytes: from 1 to 64MiB");
        return -1;
    }
    if (c->buffer_bytes < (64u << 10)) {
        snprintf(err, errsz, "buffer-bytes: at least 64KiB");
        return -1;
    }
    if (c->rescan_ms <= 0 || c->timeout_ms <= 0 || c->backoff_ms <= 0 ||
        c->backoff_max_ms < c->backoff_ms || c->save_interval_ms <= 0) {
        snprintf(err, errsz, "%s",
                 c->rescan_ms <= 0          ? "rescan-interval: must be more than 0"
                 : c->timeout_ms <= 0       ? "timeout: must be more than 0"
                 : c->backoff_ms <= 0       ? "retry-backoff: must be more than 0"
                 : c->save_interval_ms <= 0 ? "save-interval: must be more than 0"
                                            : "retry-backoff-max: less than retry-backoff");
        return -1;
    }
    if (c->multiline_start != NULL) {
        int code;
        PCRE2_SIZE at;
        c->multiline = pcre2_compile((PCRE2_SPTR)c->multiline_start, PCRE2_ZERO_TERMINATED, 0,
                                     &code, &at, NULL);
        if (c->multiline == NULL) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof(msg));
            snprintf(err, errsz, "multiline-start: \"%s\": at %zu: %s", c->multiline_start,
                     (size_t)at, (const char *)msg);
            return -1;
        }
        (void)pcre2_jit_compile(c->multiline, PCRE2_JIT_COMPLETE); /* falls back silently */
    }
    if (c->admin_listen != NULL) {
        if (pk_addr_parse(c->admin_listen, 0, &c->admin_addr, why, sizeof(why)) < 0 ||
            c->admin_addr.kind != PK_ADDR_INET) {
            snprintf(err, errsz, "admin-listen: \"%s\": %s", c->admin_listen,
                     c->admin_addr.kind != PK_ADDR_INET ? "a HOST:PORT is needed" : why);
            return -1;
        }
        c->has_admin = true;
    }
    c->lines = (struct sl_lines_conf){
        .max_line = (size_t)c->max_line_bytes,
        .parser = (enum sl_parser)c->parser,
        .multiline = c->multiline,
        .multiline_flush_ns = c->multiline_flush_ms * 1000000,
    };
    c->out = (struct sl_out_conf){
        .batch_records = (size_t)c->batch_records,
        .batch_bytes = (size_t)c->batch_bytes,
        .flush_interval_ms = c->flush_interval_ms,
        .retry_max = (long)c->retry_max,
        .backoff_min_ms = c->backoff_ms,
        .backoff_max_ms = c->backoff_max_ms,
        .timeout_ms = c->timeout_ms,
        .format = c->format == SL_CONF_FORMAT_AUTO  ? -1
                  : c->format == SL_CONF_FORMAT_RAW ? SL_FMT_RAW
                                                    : SL_FMT_JSON,
        .dead_letter = c->dead_letter,
    };
    return 0;
}

void sl_conf_clear(struct sl_conf *c)
{
    if (c->multiline != NULL) {
        pcre2_code_free(c->multiline);
        c->multiline = NULL;
    }
    c->has_admin = false;
}
