/* fuzz_manifest.c — libFuzzer target: any bytes as a Pod manifest; what parses must hold
 * together (references looked up, every command and argument expanded, probes, hooks,
 * resources and securityContext within the API server's rules). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim_manifest.h"

#define EXPAND_BUDGET (1u << 20) /* bytes of expansions per input: aliases can repeat much */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static const struct shim_kv *find(const struct shim_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        check(kv[i].key != NULL && kv[i].value != NULL && kv[i].value[kv[i].value_len] == '\0');
        if (strcmp(kv[i].key, key) == 0) {
            return &kv[i];
        }
    }
    return NULL;
}

/* The data of the ConfigMap or Secret called name, if the manifest has it. */
static const struct shim_kv *lookup(const struct shim_manifest *m, bool secret, const char *name,
                                    const char *key)
{
    check(name != NULL);
    if (secret) {
        const struct shim_secret *s = shim_manifest_secret(m, name);
        return s != NULL && key != NULL ? find(s->data, s->ndata, key) : NULL;
    }
    const struct shim_configmap *cm = shim_manifest_configmap(m, name);
    return cm != NULL && key != NULL ? find(cm->data, cm->ndata, key) : NULL;
}

static void expand_all(char *const *v, size_t n, char **env, size_t nenv, size_t *budget)
{
    for (size_t i = 0; i<n && * budget> 0; i++) {
        char *out = shim_expand(v[i], env, nenv);
        size_t len;
        check(out != NULL);
        len = strlen(out);
        *budget = len < *budget ? *budget - len : 0;
        free(out);
    }
    check(n == 0 || v[n] == NULL);
}

static bool has_port(const struct shim_container *c, const char *name)
{
    for (size_t i = 0; i < c->nports; i++) {
        if (c->ports[i].name != NULL && strcmp(c->ports[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static void handler(const struct shim_manifest *m, const struct shim_container *c,
                    const struct shim_handler *h)
{
    check(h->type >= SHIM_HANDLER_NONE && h->type <= SHIM_HANDLER_SLEEP);
    if (h->type == SHIM_HANDLER_EXEC) {
        check(h->ncommand > 0 && h->command != NULL && h->command[h->ncommand] == NULL);
    }
    if (h->type == SHIM_HANDLER_HTTP) {
        check(h->path != NULL && h->path[0] != '\0' && h->scheme != NULL &&
              (strcmp(h->scheme, "HTTP") == 0 || strcmp(h->scheme, "HTTPS") == 0));
        for (size_t i = 0; i < h->nheaders; i++) {
            check(h->headers[i].name[0] != '\0' && h->headers[i].value != NULL);
        }
    }
    if (h->type == SHIM_HANDLER_HTTP || h->type == SHIM_HANDLER_TCP) {
        check(h->host == NULL || h->host[0] != '\0');
        check(h->port_name != NULL ? h->port == 0 && has_port(c, h->port_name)
                                   : h->port >= 1 && h->port <= 65535);
    }
    if (h->type == SHIM_HANDLER_SLEEP) {
        check(h->sleep_seconds >= 1 && h->sleep_seconds <= m->pod->termination_grace_period);
    }
}

static void probe(const struct shim_manifest *m, const struct shim_container *c,
                  const struct shim_probe *p, bool readiness)
{
    check(p->period_seconds >= 1 && p->timeout_seconds >= 1 && p->success_threshold >= 1 &&
          p->failure_threshold >= 1 && p->initial_delay_seconds >= 0);
    check(p->termination_grace_period == -1 || p->termination_grace_period > 0);
    check(p->set == (p->handler.type != SHIM_HANDLER_NONE));
    check(p->handler.type != SHIM_HANDLER_SLEEP);
    check(readiness ? p->termination_grace_period == -1 : p->success_threshold == 1);
    handler(m, c, &p->handler);
}

static void tristates(const int *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        check(v[i] >= -1 && v[i] <= 1);
    }
}

static void security(const struct shim_security_context *sc)
{
    int t[] = {sc->run_as_non_root, sc->read_only_root_fs, sc->allow_privilege_escalation,
               sc->privileged};
    char **caps[] = {sc->cap_add, sc->cap_drop};
    size_t ncaps[] = {sc->ncap_add, sc->ncap_drop};

    check(sc->run_as_user >= -1 && sc->run_as_user <= 2147483647);
    check(sc->run_as_group >= -1 && sc->run_as_group <= 2147483647);
    tristates(t, 4);
    check(!(sc->allow_privilege_escalation == 0 && sc->privileged == 1));
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < ncaps[k]; i++) {
            check(caps[k][i][0] != '\0' && strncmp(caps[k][i], "CAP_", 4) != 0);
        }
    }
    for (size_t i = 0; i < sc->nsupplemental_groups; i++) {
        check(sc->supplemental_groups[i] >= 0 && sc->supplemental_groups[i] <= 2147483647);
    }
    if (!sc->set) {
        check(sc->run_as_user == -1 && sc->privileged == -1 && sc->ncap_add == 0);
    }
}

static void resources(const struct shim_resources *r)
{
    /* A request may be 0 (given so) under a limit; a request with no limit has no bound. */
    check(r->cpu_limit_millis == 0 || r->cpu_request_millis <= r->cpu_limit_millis);
    check(r->memory_limit == 0 || r->memory_request <= r->memory_limit);
    if (!r->set) {
        check(r->cpu_request_millis + r->cpu_limit_millis + r->memory_request + r->memory_limit ==
              0);
    }
}

static void container(const struct shim_manifest *m, const struct shim_container *c, size_t *budget)
{
    char **env = calloc(c->nenv + 1, sizeof(*env));
    size_t nenv = 0;

    check(env != NULL && c->name != NULL && c->image != NULL);
    for (size_t i = 0; i < c->nenv; i++) {
        const struct shim_env_var *e = &c->env[i];
        check(e->name != NULL && e->value != NULL);
        if (e->source == SHIM_ENV_VALUE && *budget > 0) {
            size_t len = strlen(e->name) + strlen(e->value) + 2;
            env[nenv] = malloc(len);
            check(env[nenv] != NULL);
            snprintf(env[nenv++], len, "%s=%s", e->name, e->value);
        } else if (e->source == SHIM_ENV_FIELD) {
            check(e->field_path != NULL);
        } else if (e->source != SHIM_ENV_VALUE) {
            lookup(m, e->source == SHIM_ENV_SECRET, e->ref_name, e->ref_key);
        }
    }
    for (size_t i = 0; i < c->nenv_from; i++) {
        check(c->env_from[i].prefix != NULL);
        lookup(m, c->env_from[i].secret, c->env_from[i].name, NULL);
    }
    for (size_t i = 0; i < c->nports; i++) {
        const struct shim_port *p = &c->ports[i];
        check(p->container_port >= 1 && p->container_port <= 65535 && p->host_port >= 0 &&
              p->host_port <= 65535 && p->protocol != NULL);
    }
    for (size_t i = 0; i < c->nmounts; i++) {
        const struct shim_mount *mt = &c->mounts[i];
        bool found = false;
        check(mt->mount_path != NULL && mt->mount_path[0] == '/' && mt->sub_path != NULL);
        for (size_t v = 0; v < m->pod->nvolumes; v++) {
            found = found || strcmp(m->pod->volumes[v].name, mt->name) == 0;
        }
        check(found);
    }
    probe(m, c, &c->liveness, false);
    probe(m, c, &c->readiness, true);
    probe(m, c, &c->startup, false);
    handler(m, c, &c->post_start);
    handler(m, c, &c->pre_stop);
    resources(&c->resources);
    security(&c->security);
    expand_all(c->command, c->ncommand, env, nenv, budget);
    expand_all(c->args, c->nargs, env, nenv, budget);
    for (size_t i = 0; i < nenv; i++) {
        free(env[i]);
    }
    free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX] = "";
    size_t budget = EXPAND_BUDGET;

    if (shim_manifest_parse("fuzz.yaml", (const char *)data, size, &m, err, sizeof(err)) < 0) {
        check(m == NULL && err[0] != '\0' && strchr(err, '\n') == NULL); /* one line, says why */
        return 0;
    }
    check(m != NULL && m->pod != NULL && m->pod->ncontainers > 0 && m->pod->namespace != NULL &&
          m->pod->uid != NULL);
    for (size_t i = 0; i < m->nnotes; i++) {
        check(strchr(m->notes[i], '\n') == NULL);
    }
    for (size_t i = 0; i < m->pod->ninit_containers; i++) {
        const struct shim_container *c = &m->pod->init_containers[i];
        container(m, c, &budget);
        /* Only sidecars may have probes and hooks among init containers. */
        check(c->sidecar ||
              (!c->liveness.set && !c->readiness.set && !c->startup.set &&
               c->post_start.type == SHIM_HANDLER_NONE && c->pre_stop.type == SHIM_HANDLER_NONE));
    }
    for (size_t i = 0; i < m->pod->ncontainers; i++) {
        container(m, &m->pod->containers[i], &budget);
        check(!m->pod->containers[i].sidecar);
    }
    security(&m->pod->security);
    check(m->pod->security.privileged == -1 && m->pod->security.ncap_add == 0);
    for (size_t i = 0; i < m->pod->nvolumes; i++) {
        const struct shim_volume *v = &m->pod->volumes[i];
        check(v->default_mode >= 0 && v->default_mode <= 0777 && v->host_type != NULL);
        if (v->type == SHIM_VOL_CONFIGMAP || v->type == SHIM_VOL_SECRET) {
            for (size_t k = 0; k < v->nitems; k++) {
                check(v->items[k].mode >= -1 && v->items[k].mode <= 0777);
                lookup(m, v->type == SHIM_VOL_SECRET, v->source_name, v->items[k].key);
            }
        }
    }
    shim_manifest_free(m);
    return 0;
}
