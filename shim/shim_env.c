/* shim_env.c — environment variables (value, fieldRef, configMap/secret refs, envFrom) and argv. */
#include "shim_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENVIRON_MAX (4 * 1024 * 1024) /* more than execve lets a process start with */

/* A growable NAME=VALUE list where a later NAME replaces the earlier one in place. */
struct envv {
    char **v;
    size_t n;
};

void shim_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        free(v[i]);
    }
    free(v);
}

static int env_set(struct envv *e, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *s = malloc(nl + strlen(value) + 2);

    if (s == NULL) {
        return -1;
    }
    sprintf(s, "%s=%s", name, value);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=') {
            free(e->v[i]);
            e->v[i] = s;
            return 0;
        }
    }
    char **v = realloc(e->v, (e->n + 2) * sizeof(*v));
    if (v == NULL) {
        free(s);
        return -1;
    }
    v[e->n++] = s;
    v[e->n] = NULL;
    e->v = v;
    return 0;
}

/* The value of a fieldRef, or NULL for a path podshim does not know. */
static const char *field_value(const struct shim_manifest *m, const struct shim_env_pod *pod,
                               const char *path)
{
    if (strcmp(path, "metadata.name") == 0) {
        return m->pod->name;
    } else if (strcmp(path, "metadata.namespace") == 0) {
        return m->pod->namespace;
    } else if (strcmp(path, "metadata.uid") == 0) {
        return m->pod->uid;
    } else if (strcmp(path, "status.podIP") == 0 || strcmp(path, "status.hostIP") == 0) {
        return pod->pod_ip;
    } else if (strcmp(path, "spec.nodeName") == 0) {
        return pod->hostname;
    }
    return NULL;
}

static const struct shim_kv *find_kv(const struct shim_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0) {
            return &kv[i];
        }
    }
    return NULL;
}

/* Names envFrom accepts: Kubernetes skips keys that are not valid variable names. */
static bool valid_env_name(const char *s)
{
    if (*s == '\0' || (*s >= '0' && *s <= '9')) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s == '=' || (unsigned char)*s < 0x21) {
            return false;
        }
    }
    return true;
}

char **shim_env_build(const struct shim_manifest *m, const struct shim_container *c,
                      const struct shim_env_pod *pod, char *err, size_t errsz)
{
    struct envv e = {NULL, 0};

    if (env_set(&e, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") < 0 ||
        env_set(&e, "HOSTNAME", pod->hostname) < 0 || env_set(&e, "HOME", "/root") < 0) {
        goto oom;
    }
    for (size_t i = 0; i < c->nenv_from; i++) {
        const struct shim_env_from *f = &c->env_from[i];
        const struct shim_kv *data = NULL;
        size_t ndata = 0;
        if (f->secret) {
            const struct shim_secret *s = shim_manifest_secret(m, f->name);
            if (s != NULL) {
                data = s->data, ndata = s->ndata;
            }
        } else {
            const struct shim_configmap *cm = shim_manifest_configmap(m, f->name);
            if (cm != NULL) {
                data = cm->data, ndata = cm->ndata;
            }
        }
        if (data == NULL && !f->optional) {
            snprintf(err, errsz, "envFrom: %s \"%s\" not found", f->secret ? "secret" : "configmap",
                     f->name);
            goto fail;
        }
        for (size_t k = 0; k < ndata; k++) {
            char name[1024];
            snprintf(name, sizeof(name), "%s%s", f->prefix, data[k].key);
            if (valid_env_name(name) && env_set(&e, name, data[k].value) < 0) {
                goto oom;
            }
        }
    }
    for (size_t i = 0; i < c->nenv; i++) {
        const struct shim_env_var *v = &c->env[i];
        const char *value = NULL;
        char *expanded = NULL;

        switch (v->source) {
        case SHIM_ENV_VALUE:
            expanded = shim_expand(v->value, e.v, e.n);
            if (expanded == NULL) {
                goto oom;
            }
            value = expanded;
            break;
        case SHIM_ENV_FIELD:
            value = field_value(m, pod, v->field_path);
            if (value == NULL) {
                snprintf(err, errsz, "env %s: fieldRef %s is not supported", v->name,
                         v->field_path);
                goto fail;
            }
            break;
        case SHIM_ENV_CONFIGMAP:
        case SHIM_ENV_SECRET: {
            bool secret = v->source == SHIM_ENV_SECRET;
            const struct shim_kv *kv = NULL;
            bool found;
            if (secret) {
                const struct shim_secret *s = shim_manifest_secret(m, v->ref_name);
                found = s != NULL;
                kv = found ? find_kv(s->data, s->ndata, v->ref_key) : NULL;
            } else {
                const struct shim_configmap *cm = shim_manifest_configmap(m, v->ref_name);
                found = cm != NULL;
                kv = found ? find_kv(cm->data, cm->ndata, v->ref_key) : NULL;
            }
            if (kv == NULL) {
                if (v->optional) {
                    continue; /* an optional missing reference leaves the variable unset */
                }
                snprintf(err, errsz, "env %s: %s \"%s\" %s%s%s", v->name,
                         secret ? "secret" : "configmap", v->ref_name,
                         found ? "has no key \"" : "not found", found ? v->ref_key : "",
                         found ? "\"" : "");
                goto fail;
            }
            value = kv->value;
            break;
        }
        }
        int rc = env_set(&e, v->name, value);
        free(expanded);
        if (rc < 0) {
            goto oom;
        }
    }
    return e.v;
oom:
    snprintf(err, errsz, "out of memory");
fail:
    shim_strv_free(e.v);
    return NULL;
}

char **shim_argv_build(const struct shim_container *c, char *const *env, char *err, size_t errsz)
{
    size_t nenv = 0;
    size_t n = c->ncommand + c->nargs;
    char **argv;

    if (n == 0) {
        snprintf(err, errsz,
                 "no command: podshim runs host commands, so command or args is "
                 "required (there is no image entrypoint)");
        return NULL;
    }
    while (env[nenv] != NULL) {
        nenv++;
    }
    argv = calloc(n + 1, sizeof(*argv));
    if (argv == NULL) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = i < c->ncommand ? c->command[i] : c->args[i - c->ncommand];
        argv[i] = shim_expand(s, env, nenv);
        if (argv[i] == NULL) {
            shim_strv_free(argv);
            snprintf(err, errsz, "out of memory");
            return NULL;
        }
    }
    return argv;
}

char **shim_env_read(pid_t pid, char **blockp)
{
    char path[64], *block = NULL, **env;
    size_t len = 0, cap = 0, n = 0, k = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            char *b = cap < ENVIRON_MAX ? realloc(block, (cap ? cap * 2 : 16384) + 1) : NULL;
            if (b == NULL) {
                break;
            }
            block = b;
            cap = cap ? cap * 2 : 16384;
        }
        ssize_t got = read(fd, block + len, cap - len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        len += (size_t)got;
    }
    close(fd);
    *blockp = block;
    if (block == NULL) {
        return NULL;
    }
    block[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        n += block[i] == '\0';
    }
    env = calloc(n + 2, sizeof(*env));
    for (size_t i = 0; env != NULL && i < len; i += strlen(block + i) + 1) {
        env[k++] = block + i;
    }
    return env;
}
