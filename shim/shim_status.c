/* shim_status.c — Pod status JSON, the kubectl table row, and JSON-to-YAML for -o yaml. */
#include "shim_status.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yaml.h>

/* ---- a small JSON writer: commas and escaping handled, nothing else ------------------- */

struct jw {
    FILE *f;
    int depth;
    bool need_comma[32];
};

static void jw_sep(struct jw *w)
{
    if (w->need_comma[w->depth]) {
        fputc(',', w->f);
    }
    w->need_comma[w->depth] = true;
}

static void jw_str_raw(struct jw *w, const char *s)
{
    fputc('"', w->f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(w->f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(w->f, "\\u%04x", *p);
        } else {
            fputc(*p, w->f);
        }
    }
    fputc('"', w->f);
}

static void jw_key(struct jw *w, const char *key)
{
    jw_sep(w);
    jw_str_raw(w, key);
    fputc(':', w->f);
    w->need_comma[w->depth] = true;
}

static void jw_open(struct jw *w, const char *key, char ch)
{
    if (key != NULL) {
        jw_key(w, key);
    } else {
        jw_sep(w);
    }
    fputc(ch, w->f);
    w->need_comma[++w->depth] = false;
}

static void jw_close(struct jw *w, char ch)
{
    w->depth--;
    fputc(ch, w->f);
}

static void jw_str(struct jw *w, const char *key, const char *v)
{
    if (key != NULL) {
        jw_key(w, key);
    } else {
        jw_sep(w);
    }
    jw_str_raw(w, v);
}

static void jw_int(struct jw *w, const char *key, long long v)
{
    jw_key(w, key);
    fprintf(w->f, "%lld", v);
}

static void jw_bool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    fputs(v ? "true" : "false", w->f);
}

static void rfc3339(const struct timespec *ts, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void jw_time(struct jw *w, const char *key, const struct timespec *ts)
{
    char buf[32];
    rfc3339(ts, buf, sizeof(buf));
    jw_str(w, key, buf);
}

/* ---- the Pod object ------------------------------------------------------------------------ */

static void write_exit(struct jw *w, const char *key, const struct shim_exit *e)
{
    jw_open(w, key, '{');
    jw_int(w, "exitCode", e->exit_code);
    if (e->signal != 0) {
        jw_int(w, "signal", e->signal);
    }
    jw_str(w, "reason", e->reason);
    if (e->message[0] != '\0') {
        jw_str(w, "message", e->message);
    }
    jw_time(w, "startedAt", &e->started);
    jw_time(w, "finishedAt", &e->finished);
    jw_close(w, '}');
}

static void write_container_status(struct jw *w, const struct shim_ctr *c)
{
    char id[32];

    jw_open(w, NULL, '{');
    jw_str(w, "name", c->spec->name);
    jw_open(w, "state", '{');
    if (c->state == SHIM_CRUNNING) {
        jw_open(w, "running", '{');
        jw_time(w, "startedAt", &c->started);
        jw_close(w, '}');
    } else if (c->state == SHIM_TERMINATED) {
        write_exit(w, "terminated", &c->term);
    } else {
        jw_open(w, "waiting", '{');
        jw_str(w, "reason", c->reason);
        if (c->message[0] != '\0') {
            jw_str(w, "message", c->message);
        }
        jw_close(w, '}');
    }
    jw_close(w, '}');
    jw_open(w, "lastState", '{');
    if (c->last.set) {
        write_exit(w, "terminated", &c->last);
    }
    jw_close(w, '}');
    jw_bool(w, "ready", c->state == SHIM_CRUNNING && c->ready);
    jw_int(w, "restartCount", c->restarts);
    jw_bool(w, "started", c->state == SHIM_CRUNNING && c->started_ok);
    jw_str(w, "image", c->spec->image);
    jw_str(w, "imageID", "");
    snprintf(id, sizeof(id), "podshim://%d", (int)c->pid);
    if (c->pid > 0) {
        jw_str(w, "containerID", id);
    }
    jw_close(w, '}');
}

/* resources as Kubernetes shows them: cpu in millicores ("250m"), memory in bytes. */
static void write_resources(struct jw *w, const struct shim_resources *r)
{
    const char *names[2] = {"requests", "limits"};
    uint64_t cpu[2] = {r->cpu_request_millis, r->cpu_limit_millis};
    uint64_t mem[2] = {r->memory_request, r->memory_limit};
    char buf[32];

    if (!r->set) {
        return;
    }
    jw_open(w, "resources", '{');
    for (int i = 0; i < 2; i++) {
        if (cpu[i] == 0 && mem[i] == 0) {
            continue;
        }
        jw_open(w, names[i], '{');
        if (cpu[i] != 0) {
            snprintf(buf, sizeof(buf), "%llum", (unsigned long long)cpu[i]);
            jw_str(w, "cpu", buf);
        }
        if (mem[i] != 0) {
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)mem[i]);
            jw_str(w, "memory", buf);
        }
        jw_close(w, '}');
    }
    jw_close(w, '}');
}

static void write_condition(struct jw *w, const char *type, bool ok, const struct timespec *t)
{
    jw_open(w, NULL, '{');
    jw_str(w, "type", type);
    jw_str(w, "status", ok ? "True" : "False");
    jw_time(w, "lastTransitionTime", t);
    jw_close(w, '}');
}

char *shim_status_json(const struct shim_podrt *p)
{
    const struct shim_pod *pod = p->m->pod;
    char *buf = NULL;
    size_t len = 0;
    struct jw w = {open_memstream(&buf, &len), 0, {false}};

    if (w.f == NULL) {
        return NULL;
    }
    jw_open(&w, NULL, '{');
    jw_str(&w, "apiVersion", "v1");
    jw_str(&w, "kind", "Pod");
    jw_open(&w, "metadata", '{');
    jw_str(&w, "name", pod->name);
    jw_str(&w, "namespace", pod->namespace);
    jw_str(&w, "uid", pod->uid);
    jw_time(&w, "creationTimestamp", &p->created);
    if (pod->nlabels > 0) {
        jw_open(&w, "labels", '{');
        for (size_t i = 0; i < pod->nlabels; i++) {
            jw_str(&w, pod->labels[i].key, pod->labels[i].value);
        }
        jw_close(&w, '}');
    }
    if (pod->nannotations > 0) {
        jw_open(&w, "annotations", '{');
        for (size_t i = 0; i < pod->nannotations; i++) {
            jw_str(&w, pod->annotations[i].key, pod->annotations[i].value);
        }
        jw_close(&w, '}');
    }
    jw_close(&w, '}');
    jw_open(&w, "spec", '{');
    for (int init = 1; init >= 0; init--) {
        size_t from = init ? 0 : p->ninit, to = init ? p->ninit : p->nctrs;
        if (from == to) {
            continue;
        }
        jw_open(&w, init ? "initContainers" : "containers", '[');
        for (size_t i = from; i < to; i++) {
            jw_open(&w, NULL, '{');
            jw_str(&w, "name", p->ctrs[i].spec->name);
            jw_str(&w, "image", p->ctrs[i].spec->image);
            write_resources(&w, &p->ctrs[i].spec->resources);
            jw_close(&w, '}');
        }
        jw_close(&w, ']');
    }
    static const char *const policies[] = {"Always", "OnFailure", "Never"};
    jw_str(&w, "restartPolicy", policies[pod->restart_policy]);
    jw_int(&w, "terminationGracePeriodSeconds", pod->termination_grace_period);
    jw_str(&w, "hostname", p->hostname);
    jw_bool(&w, "shareProcessNamespace", pod->share_process_namespace);
    jw_close(&w, '}');

    jw_open(&w, "status", '{');
    jw_str(&w, "phase", shim_phase_name(p->phase));
    jw_open(&w, "conditions", '[');
    write_condition(&w, "Initialized", p->initialized, &p->created);
    write_condition(&w, "Ready", shim_pod_ready(p), &p->created);
    write_condition(&w, "ContainersReady", shim_pod_ready(p), &p->created);
    write_condition(&w, "PodScheduled", true, &p->created);
    jw_close(&w, ']');
    jw_str(&w, "hostIP", "127.0.0.1");
    jw_str(&w, "podIP", "127.0.0.1");
    jw_open(&w, "podIPs", '[');
    jw_open(&w, NULL, '{');
    jw_str(&w, "ip", "127.0.0.1");
    jw_close(&w, '}');
    jw_close(&w, ']');
    jw_time(&w, "startTime", &p->created);
    for (int init = 1; init >= 0; init--) {
        size_t from = init ? 0 : p->ninit, to = init ? p->ninit : p->nctrs;
        if (from == to) {
            continue;
        }
        jw_open(&w, init ? "initContainerStatuses" : "containerStatuses", '[');
        for (size_t i = from; i < to; i++) {
            write_container_status(&w, &p->ctrs[i]);
        }
        jw_close(&w, ']');
    }
    jw_close(&w, '}');
    jw_close(&w, '}');
    fputc('\n', w.f);
    if (fclose(w.f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- the table row ----------------------------------------------------------------------- */

void shim_age(long long s, char *buf, size_t n)
{
    if (s < 0) {
        s = 0;
    }
    if (s < 120) {
        snprintf(buf, n, "%llds", s);
    } else if (s < 600) {
        snprintf(buf, n, "%lldm%llds", s / 60, s % 60);
    } else if (s < 3 * 3600) {
        snprintf(buf, n, "%lldm", s / 60);
    } else if (s < 48 * 3600) {
        snprintf(buf, n, "%lldh", s / 3600);
    } else {
        snprintf(buf, n, "%lldd", s / 86400);
    }
}

void shim_status_row(const struct shim_podrt *p, char *buf, size_t n)
{
    char status[64], age[16], node[64] = "localhost";
    int ready = 0, restarts = 0;
    struct timespec now;

    snprintf(status, sizeof(status), "%s", shim_phase_name(p->phase));
    /* Init containers first, as kubectl: the first that is not done decides. */
    for (size_t i = 0; i < p->ninit && !p->initialized; i++) {
        const struct shim_ctr *c = &p->ctrs[i];
        if (c->state == SHIM_TERMINATED && c->term.exit_code == 0) {
            continue;
        }
        if (c->state == SHIM_TERMINATED) {
            snprintf(status, sizeof(status), "Init:%s", c->term.reason);
        } else if (c->state == SHIM_WAITING && c->reason[0] != '\0' &&
                   strcmp(c->reason, "PodInitializing") != 0) {
            snprintf(status, sizeof(status), "Init:%s", c->reason);
        } else {
            snprintf(status, sizeof(status), "Init:%zu/%zu", i, p->ninit);
        }
        break;
    }
    if (p->initialized) {
        bool running = false;
        for (size_t i = p->nctrs; i-- > p->ninit;) {
            const struct shim_ctr *c = &p->ctrs[i];
            if (c->state == SHIM_WAITING && c->reason[0] != '\0') {
                snprintf(status, sizeof(status), "%s", c->reason);
            } else if (c->state == SHIM_TERMINATED) {
                snprintf(status, sizeof(status), "%s", c->term.reason);
            } else if (c->state == SHIM_CRUNNING) {
                running = true;
            }
        }
        if (running && p->phase == SHIM_RUNNING && strcmp(status, "Completed") == 0) {
            snprintf(status, sizeof(status), "Running"); /* kubectl's NotReady rule, simplified */
        }
    } else if (p->ninit > 0 && p->next_init == p->ninit) {
        snprintf(status, sizeof(status), "PodInitializing");
    }
    if (p->terminating && p->phase < SHIM_SUCCEEDED) {
        snprintf(status, sizeof(status), "Terminating");
    }
    size_t total = p->nctrs - p->ninit;
    for (size_t i = 0; i < p->nctrs; i++) {
        bool counts = i >= p->ninit || p->ctrs[i].spec->sidecar; /* kubectl counts sidecars */
        if (counts) {
            ready += p->ctrs[i].state == SHIM_CRUNNING && p->ctrs[i].ready;
            restarts += p->ctrs[i].restarts;
            total += i < p->ninit;
        }
    }
    clock_gettime(CLOCK_REALTIME, &now);
    shim_age(now.tv_sec - p->created.tv_sec, age, sizeof(age));
    gethostname(node, sizeof(node) - 1);
    snprintf(buf, n, "%s\t%d/%zu\t%s\t%d\t%s\t127.0.0.1\t%s", p->m->pod->name, ready, total, status,
             restarts, age, node);
}

/* ---- JSON to YAML ----------------------------------------------------------------------- */

/* Whether a string written plain would read back as something else (a number, a bool,
 * null) or break YAML: then it stays quoted. */
static bool needs_quotes(const char *s)
{
    static const char *const words[] = {"true",  "false", "yes",  "no",    "on",  "off",
                                        "null",  "~",     "True", "False", "Yes", "No",
                                        "On",    "Off",   "Null", "y",     "n",   "TRUE",
                                        "FALSE", "NULL",  "YES",  "NO",    "ON",  "OFF"};
    if (s[0] == '\0') {
        return true;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i]) == 0) {
            return true;
        }
    }
    char *end;
    (void)strtod(s, &end);
    if (*end == '\0') {
        return true; /* a number (hex, inf and nan too) */
    }
    /* YAML 1.1's other numbers: 1_000, 1:30 (base 60), 0b101, 0o17. */
    if (strchr("0123456789+-.", s[0]) != NULL &&
        (strspn(s, "0123456789_:.+-") == strlen(s) || strncmp(s, "0b", 2) == 0 ||
         strncmp(s, "0o", 2) == 0)) {
        return true;
    }
    return false;
}

int shim_json_to_yaml(const char *json, FILE *out, char *err, size_t errsz)
{
    yaml_parser_t parser;
    yaml_emitter_t emitter;
    yaml_event_t ev;
    int rc = -1;
    bool done = false;

    yaml_parser_initialize(&parser);
    yaml_emitter_initialize(&emitter);
    yaml_parser_set_input_string(&parser, (const unsigned char *)json, strlen(json));
    yaml_emitter_set_output_file(&emitter, out);
    yaml_emitter_set_unicode(&emitter, 1);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            snprintf(err, errsz, "JSON: %s", parser.problem ? parser.problem : "syntax error");
            goto out;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_MAPPING_START_EVENT) {
            ev.data.mapping_start.style = YAML_BLOCK_MAPPING_STYLE;
        } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
            ev.data.sequence_start.style = YAML_BLOCK_SEQUENCE_STYLE;
        } else if (ev.type == YAML_DOCUMENT_START_EVENT) {
            ev.data.document_start.implicit = 1;
        } else if (ev.type == YAML_SCALAR_EVENT &&
                   ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE &&
                   !needs_quotes((const char *)ev.data.scalar.value)) {
            ev.data.scalar.style = YAML_ANY_SCALAR_STYLE;
            ev.data.scalar.plain_implicit = 1;
        }
        if (!yaml_emitter_emit(&emitter, &ev)) {
            snprintf(err, errsz, "YAML: %s", emitter.problem ? emitter.problem : "emit error");
            goto out;
        }
    }
    rc = 0;
out:
    yaml_emitter_delete(&emitter);
    yaml_parser_delete(&parser);
    return rc;
}
