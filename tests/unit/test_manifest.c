/* test_manifest.c — table tests of the Pod manifest parser: good manifests and what they
 * parse to, bad ones with their exact error lines, notes, files, and $(VAR) expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim_arena.h"
#include "shim_manifest.h"

/* The first lines of most test pods: container fields start at line 9, column 5. */
#define POD "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
#define CTR POD "  containers:\n  - name: web\n    image: busybox\n"

static struct shim_manifest *parse_ok(const char *yaml)
{
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX] = "";

    if (shim_manifest_parse("pod.yaml", yaml, strlen(yaml), &m, err, sizeof(err)) != 0) {
        fail_msg("unexpected error: %s\n--- in:\n%s", err, yaml);
    }
    assert_non_null(m);
    assert_non_null(m->pod);
    return m;
}

/* Parses yaml, which must fail with the error want; false (and the difference printed)
 * when it does not. */
static bool bad_is(const char *yaml, const char *want)
{
    struct shim_manifest *m = (struct shim_manifest *)1;
    char err[SHIM_ERR_MAX] = "";

    if (shim_manifest_parse("pod.yaml", yaml, strlen(yaml), &m, err, sizeof(err)) == 0) {
        shim_manifest_free(m);
        print_error("parsed, but wanted: %s\n--- in:\n%s", want, yaml);
        return false;
    }
    if (m != NULL || strcmp(err, want) != 0) {
        print_error("\n got: %s\nwant: %s\n--- in:\n%s", err, want, yaml);
        return false;
    }
    return true;
}

static void parse_bad(const char *yaml, const char *want)
{
    assert_true(bad_is(yaml, want));
}

/* The repository's top directory: PODKIT_TOP, or the current one. */
static const char *top(void)
{
    const char *t = getenv("PODKIT_TOP");
    return t != NULL && t[0] != '\0' ? t : ".";
}

/* ---- good manifests -------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct shim_manifest *m = parse_ok(CTR);
    const struct shim_pod *p = m->pod;
    const struct shim_container *c = &p->containers[0];

    (void)state;
    assert_string_equal(p->name, "web");
    assert_string_equal(p->namespace, "default");
    assert_int_equal(strlen(p->uid), 36);
    assert_int_equal(p->uid[14], '4'); /* a version 4 UUID */
    assert_true(strchr("89ab", p->uid[19]) != NULL);
    assert_int_equal(p->restart_policy, SHIM_RESTART_ALWAYS);
    assert_int_equal(p->termination_grace_period, 30);
    assert_null(p->hostname);
    assert_null(p->subdomain);
    assert_false(p->share_process_namespace);
    assert_int_equal(p->nlabels + p->nannotations + p->nvolumes + p->ninit_containers, 0);
    assert_int_equal(p->ncontainers, 1);
    assert_string_equal(c->name, "web");
    assert_string_equal(c->image, "busybox");
    assert_null(c->command);
    assert_null(c->args);
    assert_null(c->working_dir);
    assert_int_equal(c->nenv + c->nenv_from + c->nports + c->nmounts, 0);
    assert_false(c->tty);
    assert_false(c->stdin_open);
    /* Part 2's fields: nothing given, Kubernetes' defaults in place. */
    assert_false(c->sidecar);
    assert_false(c->liveness.set || c->readiness.set || c->startup.set);
    assert_int_equal(c->liveness.handler.type, SHIM_HANDLER_NONE);
    assert_int_equal(c->readiness.period_seconds, 10);
    assert_int_equal(c->readiness.timeout_seconds, 1);
    assert_int_equal(c->readiness.success_threshold, 1);
    assert_int_equal(c->readiness.failure_threshold, 3);
    assert_int_equal(c->readiness.initial_delay_seconds, 0);
    assert_int_equal(c->startup.termination_grace_period, -1);
    assert_int_equal(c->post_start.type, SHIM_HANDLER_NONE);
    assert_int_equal(c->pre_stop.type, SHIM_HANDLER_NONE);
    assert_false(c->resources.set);
    assert_int_equal(c->resources.cpu_limit_millis + c->resources.memory_limit, 0);
    assert_false(c->security.set);
    assert_int_equal(c->security.run_as_user, -1);
    assert_int_equal(c->security.run_as_group, -1);
    assert_int_equal(c->security.run_as_non_root, -1);
    assert_int_equal(c->security.read_only_root_fs, -1);
    assert_int_equal(c->security.allow_privilege_escalation, -1);
    assert_int_equal(c->security.privileged, -1);
    assert_null(c->security.cap_add);
    assert_null(c->security.cap_drop);
    assert_false(p->security.set);
    assert_int_equal(p->security.run_as_user, -1);
    assert_int_equal(p->security.run_as_group, -1);
    assert_int_equal(p->security.run_as_non_root, -1);
    assert_int_equal(p->security.nsupplemental_groups, 0);
    assert_int_equal(c->mark.line, 7);
    assert_int_equal(c->mark.column, 5);
    assert_string_equal(c->mark.file, "pod.yaml");
    assert_int_equal(p->mark.line, 4); /* metadata.name */
    assert_int_equal(m->nnotes + m->nconfigmaps + m->nsecrets, 0);
    shim_manifest_free(m);

    /* Two parses make two uids. */
    struct shim_manifest *m2 = parse_ok(CTR);
    struct shim_manifest *m3 = parse_ok(CTR);
    assert_string_not_equal(m2->pod->uid, m3->pod->uid);
    shim_manifest_free(m2);
    shim_manifest_free(m3);
    shim_manifest_free(NULL);
}

static void test_kubectl_notes(void **state)
{
    /* kubectl run web --image=nginx --port=80 --dry-run=client -o yaml */
    static const char yaml[] = "apiVersion: v1\n"
                               "kind: Pod\n"
                               "metadata:\n"
                               "  creationTimestamp: null\n"
                               "  labels:\n"
                               "    run: web\n"
                               "  name: web\n"
                               "spec:\n"
                               "  containers:\n"
                               "  - image: nginx\n"
                               "    name: web\n"
                               "    ports:\n"
                               "    - containerPort: 80\n"
                               "    resources: {}\n"
                               "  dnsPolicy: ClusterFirst\n"
                               "  restartPolicy: Always\n"
                               "status: {}\n";
    static const char *const notes[] = {
        "pod.yaml:14:5: spec.containers[0].resources: accepted, no effect: empty",
        "pod.yaml:15:3: spec.dnsPolicy: accepted, no effect: containers use the host's DNS "
        "resolver",
        "pod.yaml:17:1: status: accepted, no effect: the status is podshim's to report",
    };
    struct shim_manifest *m = parse_ok(yaml);

    (void)state;
    assert_int_equal(m->nnotes, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(m->notes[i], notes[i]);
    }
    assert_int_equal(m->pod->nlabels, 1);
    assert_string_equal(m->pod->labels[0].key, "run");
    assert_string_equal(m->pod->labels[0].value, "web");
    assert_int_equal(m->pod->containers[0].ports[0].container_port, 80);
    assert_int_equal(m->pod->containers[0].ports[0].host_port, 0);
    assert_null(m->pod->containers[0].ports[0].name);
    assert_null(m->pod->containers[0].ports[0].host_ip);
    assert_string_equal(m->pod->containers[0].ports[0].protocol, "TCP");
    shim_manifest_free(m);
}

static void test_more_notes(void **state)
{
    static const char yaml[] = CTR "    imagePullPolicy: Always\n"
                                   "    terminationMessagePath: /dev/termination-log\n"
                                   "    terminationMessagePolicy: File\n"
                                   "    tty: true\n"
                                   "    stdin: yes\n"
                                   "    stdinOnce: false\n"
                                   "    securityContext: {}\n"
                                   "  schedulerName: default-scheduler\n"
                                   "  enableServiceLinks: true\n"
                                   "  automountServiceAccountToken: false\n"
                                   "  hostNetwork: false\n"
                                   "  tolerations: []\n"
                                   "  securityContext: {}\n";
    static const char *const notes[] = {
        "pod.yaml:9:5: spec.containers[0].imagePullPolicy: accepted, no effect: podshim pulls no "
        "images: the command runs from the host",
        "pod.yaml:10:5: spec.containers[0].terminationMessagePath: accepted, no effect: no "
        "termination message is read",
        "pod.yaml:11:5: spec.containers[0].terminationMessagePolicy: accepted, no effect: no "
        "termination message is read",
        "pod.yaml:12:5: spec.containers[0].tty: accepted, no effect: no tty is given",
        "pod.yaml:13:5: spec.containers[0].stdin: accepted, no effect: no stdin is given",
        "pod.yaml:15:5: spec.containers[0].securityContext: accepted, no effect: empty",
        "pod.yaml:16:3: spec.schedulerName: accepted, no effect: no scheduler: the pod runs on "
        "this host",
        "pod.yaml:17:3: spec.enableServiceLinks: accepted, no effect: there are no Services to "
        "link",
        "pod.yaml:18:3: spec.automountServiceAccountToken: accepted, no effect: there is no "
        "service account token to mount",
        "pod.yaml:19:3: spec.hostNetwork: accepted, no effect: false is the default",
        "pod.yaml:20:3: spec.tolerations: accepted, no effect: empty",
        "pod.yaml:21:3: spec.securityContext: accepted, no effect: empty",
    };
    struct shim_manifest *m = parse_ok(yaml);

    (void)state;
    assert_int_equal(m->nnotes, sizeof(notes) / sizeof(notes[0]));
    for (size_t i = 0; i < m->nnotes; i++) {
        assert_string_equal(m->notes[i], notes[i]);
    }
    assert_true(m->pod->containers[0].tty);
    assert_true(m->pod->containers[0].stdin_open);
    shim_manifest_free(m);
}

static void test_pod_fields(void **state)
{
    static const char yaml[] = "apiVersion: v1\n"
                               "kind: Pod\n"
                               "metadata:\n"
                               "  name: web.example\n"
                               "  namespace: shop\n"
                               "  uid: 7d6c4b2a-0000-4000-8000-000000000001\n"
                               "  annotations: {a.io/b: \"x y\", c: ''}\n"
                               "spec:\n"
                               "  restartPolicy: Never\n"
                               "  terminationGracePeriodSeconds: 0\n"
                               "  hostname: front\n"
                               "  subdomain: web\n"
                               "  shareProcessNamespace: on\n"
                               "  hostAliases:\n"
                               "  - ip: 10.0.0.1\n"
                               "    hostnames: [a.local, b]\n"
                               "  - ip: 2001:db8::1\n"
                               "  containers: [{name: a, image: i, command: [sh, -c, 'echo $(X)'],"
                               " args: [], workingDir: /tmp}]\n"
                               "  initContainers:\n"
                               "  - {name: init, image: i, args: [\"1\", 2, 3.0, true]}\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_pod *p = m->pod;
    const struct shim_container *c = &p->containers[0];
    const struct shim_container *ic = &p->init_containers[0];

    (void)state;
    assert_string_equal(p->name, "web.example");
    assert_string_equal(p->namespace, "shop");
    assert_string_equal(p->uid, "7d6c4b2a-0000-4000-8000-000000000001");
    assert_int_equal(p->nannotations, 2);
    assert_string_equal(p->annotations[0].key, "a.io/b");
    assert_string_equal(p->annotations[0].value, "x y");
    assert_string_equal(p->annotations[1].value, "");
    assert_int_equal(p->restart_policy, SHIM_RESTART_NEVER);
    assert_int_equal(p->termination_grace_period, 0);
    assert_string_equal(p->hostname, "front");
    assert_string_equal(p->subdomain, "web");
    assert_true(p->share_process_namespace);
    assert_int_equal(p->nhost_aliases, 2);
    assert_string_equal(p->host_aliases[0].ip, "10.0.0.1");
    assert_int_equal(p->host_aliases[0].nhostnames, 2);
    assert_string_equal(p->host_aliases[0].hostnames[0], "a.local");
    assert_string_equal(p->host_aliases[0].hostnames[1], "b");
    assert_null(p->host_aliases[0].hostnames[2]);
    assert_string_equal(p->host_aliases[1].ip, "2001:db8::1");
    assert_int_equal(p->host_aliases[1].nhostnames, 0);
    assert_null(p->host_aliases[1].hostnames[0]);
    assert_int_equal(c->ncommand, 3);
    assert_string_equal(c->command[2], "echo $(X)");
    assert_null(c->command[3]);
    assert_non_null(c->args); /* given, empty */
    assert_int_equal(c->nargs, 0);
    assert_null(c->args[0]);
    assert_string_equal(c->working_dir, "/tmp");
    assert_string_equal(ic->name, "init");
    /* Scalars of any style are strings where strings are expected. */
    assert_int_equal(ic->nargs, 4);
    assert_string_equal(ic->args[1], "2");
    assert_string_equal(ic->args[2], "3.0");
    assert_string_equal(ic->args[3], "true");
    shim_manifest_free(m);

    /* OnFailure; booleans as YAML 1.1 reads them. */
    m = parse_ok(POD "  restartPolicy: OnFailure\n  shareProcessNamespace: No\n"
                     "  containers: [{name: a, image: i, tty: off, stdin: False}]\n");
    assert_int_equal(m->pod->restart_policy, SHIM_RESTART_ON_FAILURE);
    assert_false(m->pod->share_process_namespace);
    assert_int_equal(m->nnotes, 0);
    shim_manifest_free(m);
}

static void test_env(void **state)
{
    static const char yaml[] = CTR "    env:\n"
                                   "    - name: A\n"
                                   "      value: one\n"
                                   "    - name: B\n"
                                   "      value: 80\n"
                                   "    - name: C\n"
                                   "    - name: D\n"
                                   "      valueFrom:\n"
                                   "        fieldRef: {fieldPath: status.podIP, apiVersion: v1}\n"
                                   "    - name: E\n"
                                   "      value: ''\n"
                                   "      valueFrom:\n"
                                   "        configMapKeyRef: {name: cm, key: k.1}\n"
                                   "    - name: F\n"
                                   "      valueFrom:\n"
                                   "        secretKeyRef: {name: s, key: pw, optional: true}\n"
                                   "    - name: my.var-1\n"
                                   "      value: $(A)\n"
                                   "    envFrom:\n"
                                   "    - configMapRef: {name: cm}\n"
                                   "    - secretRef: {name: s, optional: true}\n"
                                   "      prefix: S_\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_container *c = &m->pod->containers[0];

    (void)state;
    assert_int_equal(c->nenv, 7);
    assert_string_equal(c->env[0].name, "A");
    assert_int_equal(c->env[0].source, SHIM_ENV_VALUE);
    assert_string_equal(c->env[0].value, "one");
    assert_string_equal(c->env[1].value, "80");
    assert_int_equal(c->env[2].source, SHIM_ENV_VALUE);
    assert_string_equal(c->env[2].value, "");
    assert_int_equal(c->env[3].source, SHIM_ENV_FIELD);
    assert_string_equal(c->env[3].field_path, "status.podIP");
    assert_int_equal(c->env[4].source, SHIM_ENV_CONFIGMAP);
    assert_string_equal(c->env[4].ref_name, "cm");
    assert_string_equal(c->env[4].ref_key, "k.1");
    assert_false(c->env[4].optional);
    assert_int_equal(c->env[5].source, SHIM_ENV_SECRET);
    assert_string_equal(c->env[5].ref_name, "s");
    assert_string_equal(c->env[5].ref_key, "pw");
    assert_true(c->env[5].optional);
    assert_string_equal(c->env[6].name, "my.var-1");
    assert_string_equal(c->env[6].value, "$(A)");
    assert_int_equal(c->env[3].mark.line, 15);
    assert_int_equal(c->env[3].mark.column, 7);
    assert_int_equal(c->nenv_from, 2);
    assert_false(c->env_from[0].secret);
    assert_string_equal(c->env_from[0].name, "cm");
    assert_string_equal(c->env_from[0].prefix, "");
    assert_false(c->env_from[0].optional);
    assert_true(c->env_from[1].secret);
    assert_string_equal(c->env_from[1].prefix, "S_");
    assert_true(c->env_from[1].optional);
    shim_manifest_free(m);

    /* Every supported field path. */
    static const char *const paths[] = {"metadata.name", "metadata.namespace", "metadata.uid",
                                        "status.podIP",  "status.hostIP",      "spec.nodeName"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char buf[512];
        snprintf(buf, sizeof(buf),
                 CTR "    env: [{name: X, valueFrom: {fieldRef: {fieldPath: %s}}}]\n", paths[i]);
        m = parse_ok(buf);
        assert_string_equal(m->pod->containers[0].env[0].field_path, paths[i]);
        shim_manifest_free(m);
    }
}

static void test_ports_and_mounts(void **state)
{
    static const char yaml[] =
        POD "  volumes:\n"
            "  - {name: data, emptyDir: {}}\n"
            "  containers:\n"
            "  - name: a\n"
            "    image: i\n"
            "    ports:\n"
            "    - {name: http, containerPort: 8080, hostPort: 18080}\n"
            "    - {containerPort: 53, protocol: UDP, hostIP: '::1'}\n"
            "    - {containerPort: 9, protocol: SCTP, hostPort: 0}\n"
            "    volumeMounts:\n"
            "    - {name: data, mountPath: /data}\n"
            "    - {name: data, mountPath: /sub, subPath: a/b, readOnly: "
            "true}\n"
            "  - name: b\n"
            "    image: i\n"
            "    ports: [{name: http, containerPort: 8080, hostPort: 18081}]\n"
            "    volumeMounts: [{name: data, mountPath: /data}]\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_container *a = &m->pod->containers[0];

    (void)state;
    assert_int_equal(a->nports, 3);
    assert_string_equal(a->ports[0].name, "http");
    assert_int_equal(a->ports[0].container_port, 8080);
    assert_int_equal(a->ports[0].host_port, 18080);
    assert_string_equal(a->ports[0].protocol, "TCP");
    assert_string_equal(a->ports[1].protocol, "UDP");
    assert_string_equal(a->ports[1].host_ip, "::1");
    assert_string_equal(a->ports[2].protocol, "SCTP");
    assert_int_equal(a->nmounts, 2);
    assert_string_equal(a->mounts[0].name, "data");
    assert_string_equal(a->mounts[0].mount_path, "/data");
    assert_false(a->mounts[0].read_only);
    assert_string_equal(a->mounts[0].sub_path, "");
    assert_true(a->mounts[1].read_only);
    assert_string_equal(a->mounts[1].sub_path, "a/b");
    assert_int_equal(m->nnotes, 2);
    assert_string_equal(m->notes[0], "pod.yaml:13:27: spec.containers[0].ports[1].protocol: "
                                     "accepted, no effect: only TCP hostPorts are forwarded");
    assert_string_equal(m->notes[1], "pod.yaml:14:26: spec.containers[0].ports[2].protocol: "
                                     "accepted, no effect: only TCP hostPorts are forwarded");
    shim_manifest_free(m);
}

static void test_volumes(void **state)
{
    static const char yaml[] = CTR "  volumes:\n"
                                   "  - name: a\n"
                                   "    emptyDir: {medium: Memory, sizeLimit: 1.5Gi}\n"
                                   "  - name: b\n"
                                   "    emptyDir: {medium: '', sizeLimit: \"500M\"}\n"
                                   "  - name: c\n"
                                   "    hostPath: {path: /var/lib/x}\n"
                                   "  - name: d\n"
                                   "    hostPath: {path: /dev/null, type: CharDevice}\n"
                                   "  - name: e\n"
                                   "    configMap:\n"
                                   "      name: cm\n"
                                   "      items:\n"
                                   "      - {key: a, path: x/a, mode: 0400}\n"
                                   "      - {key: b, path: b, mode: 420}\n"
                                   "      - {key: c, path: c}\n"
                                   "  - name: f\n"
                                   "    configMap: {name: cm, defaultMode: 0o755, optional: true}\n"
                                   "  - name: g\n"
                                   "    secret: {secretName: s, defaultMode: 256}\n"
                                   "  - name: h\n"
                                   "    secret: {secretName: s, defaultMode: 0x1ff}\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_volume *v = m->pod->volumes;

    (void)state;
    assert_int_equal(m->pod->nvolumes, 8);
    assert_int_equal(v[0].type, SHIM_VOL_EMPTYDIR);
    assert_true(v[0].memory);
    assert_int_equal(v[0].size_limit, 1610612736ull);
    assert_false(v[1].memory);
    assert_int_equal(v[1].size_limit, 500000000ull);
    assert_int_equal(v[2].type, SHIM_VOL_HOSTPATH);
    assert_string_equal(v[2].path, "/var/lib/x");
    assert_string_equal(v[2].host_type, "");
    assert_string_equal(v[3].host_type, "CharDevice");
    assert_int_equal(v[4].type, SHIM_VOL_CONFIGMAP);
    assert_string_equal(v[4].source_name, "cm");
    assert_int_equal(v[4].default_mode, 0644);
    assert_false(v[4].optional);
    assert_int_equal(v[4].nitems, 3);
    assert_string_equal(v[4].items[0].key, "a");
    assert_string_equal(v[4].items[0].path, "x/a");
    assert_int_equal(v[4].items[0].mode, 0400);
    assert_int_equal(v[4].items[1].mode, 0644); /* 420 is decimal */
    assert_int_equal(v[4].items[2].mode, -1);
    assert_int_equal(v[5].default_mode, 0755);
    assert_true(v[5].optional);
    assert_int_equal(v[6].type, SHIM_VOL_SECRET);
    assert_string_equal(v[6].source_name, "s");
    assert_int_equal(v[6].default_mode, 0400);
    assert_int_equal(v[7].default_mode, 0777);
    assert_int_equal(v[0].mark.line, 10);
    assert_int_equal(v[0].mark.column, 5);
    shim_manifest_free(m);
}

static void test_quantities(void **state)
{
    static const struct {
        const char *q;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"+1Ki", 1024},
        {"64Mi", 64ull << 20},
        {"1.5Gi", 3ull << 29},
        {".5Ki", 512},
        {"2.", 2},
        {"1k", 1000},
        {"1M", 1000000},
        {"1G", 1000000000ull},
        {"1T", 1000000000000ull},
        {"1P", 1000000000000000ull},
        {"1E", 1000000000000000000ull},
        {"1Ti", 1ull << 40},
        {"1Pi", 1ull << 50},
        {"15Ei", 15ull << 60},
        {"1000m", 1},
        {"3000000000n", 3},
        {"1e3", 1000},
        {"1E6", 1000000},
        {"100e-2", 1},
        {"0.5e1", 5},
        {"007", 7},
    };
    static const char *const bad[] = {
        "2500m", "12e-1", "0.000001Mi", "",     "-1",   "1K",   "1Kb",  "Mi",
        ".",     "1..2",  "1e",         "16Ei", "1 Gi", "0x10", "100m", "1e99",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), CTR "  volumes: [{name: v, emptyDir: {sizeLimit: '%s'}}]\n",
                 good[i].q);
        struct shim_manifest *m = parse_ok(yaml);
        if (m->pod->volumes[0].size_limit != good[i].bytes) {
            fail_msg("%s: got %llu, want %llu", good[i].q,
                     (unsigned long long)m->pod->volumes[0].size_limit,
                     (unsigned long long)good[i].bytes);
        }
        shim_manifest_free(m);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[512];
        struct shim_manifest *m = NULL;
        char err[SHIM_ERR_MAX];
        snprintf(yaml, sizeof(yaml), CTR "  volumes: [{name: v, emptyDir: {sizeLimit: '%s'}}]\n",
                 bad[i]);
        if (shim_manifest_parse("pod.yaml", yaml, strlen(yaml), &m, err, sizeof(err)) == 0) {
            fail_msg("%s: parsed as %llu", bad[i],
                     (unsigned long long)m->pod->volumes[0].size_limit);
        }
        if (strstr(err, "pod.yaml:9:45: spec.volumes[0].emptyDir.sizeLimit: invalid value") !=
            err) {
            fail_msg("%s: %s", bad[i], err);
        }
    }
}

static void test_configmaps_and_secrets(void **state)
{
    static const char yaml[] = "apiVersion: v1\n"
                               "kind: ConfigMap\n"
                               "metadata: {name: cm, labels: {a: b}}\n"
                               "immutable: true\n"
                               "data:\n"
                               "  a: one\n"
                               "  b.txt: |\n"
                               "    line\n"
                               "  empty:\n"
                               "binaryData:\n"
                               "  bin: AAEC/w==\n"
                               "---\n"
                               "apiVersion: v1\n"
                               "kind: Secret\n"
                               "metadata: {name: s}\n"
                               "data:\n"
                               "  pw: czNjcjN0\n"
                               "  both: b2xk\n"
                               "  nul: AGE=\n"
                               "  wrapped: |\n"
                               "    czNj\n"
                               "    cjN0\n"
                               "stringData:\n"
                               "  both: new\n"
                               "  plain: \"x\\0y\"\n"
                               "---\n"
                               "apiVersion: v1\n"
                               "kind: Secret\n"
                               "metadata: {name: tls, namespace: default}\n"
                               "type: kubernetes.io/tls\n"
                               "stringData: {tls.crt: C, tls.key: K}\n"
                               "---\n"
                               "apiVersion: v1\n"
                               "kind: ConfigMap\n"
                               "metadata: {name: elsewhere, namespace: other}\n"
                               "---\n" CTR;
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_configmap *cm = shim_manifest_configmap(m, "cm");
    const struct shim_secret *s = shim_manifest_secret(m, "s");

    (void)state;
    assert_int_equal(m->nconfigmaps, 2);
    assert_int_equal(m->nsecrets, 2);
    assert_non_null(cm);
    assert_string_equal(cm->name, "cm");
    assert_string_equal(cm->namespace, "default");
    assert_int_equal(cm->mark.line, 3);
    assert_int_equal(cm->ndata, 4);
    assert_string_equal(cm->data[0].key, "a");
    assert_string_equal(cm->data[0].value, "one");
    assert_int_equal(cm->data[0].value_len, 3);
    assert_string_equal(cm->data[1].value, "line\n");
    assert_string_equal(cm->data[2].key, "empty");
    assert_string_equal(cm->data[2].value, "");
    assert_string_equal(cm->data[3].key, "bin");
    assert_int_equal(cm->data[3].value_len, 4);
    assert_memory_equal(cm->data[3].value, "\x00\x01\x02\xff", 5);

    assert_non_null(s);
    assert_string_equal(s->type, "Opaque");
    assert_string_equal(s->namespace, "default");
    assert_int_equal(s->ndata, 5);
    assert_string_equal(s->data[0].key, "pw");
    assert_string_equal(s->data[0].value, "s3cr3t");
    assert_int_equal(s->data[0].value_len, 6);
    assert_string_equal(s->data[1].key, "nul");
    assert_int_equal(s->data[1].value_len, 2);
    assert_memory_equal(s->data[1].value, "\0a", 3);
    assert_string_equal(s->data[2].key, "wrapped");
    assert_string_equal(s->data[2].value, "s3cr3t");
    assert_string_equal(s->data[3].key, "both"); /* stringData wins */
    assert_string_equal(s->data[3].value, "new");
    assert_string_equal(s->data[4].key, "plain");
    assert_int_equal(s->data[4].value_len, 3);
    assert_memory_equal(s->data[4].value, "x\0y", 4);

    s = shim_manifest_secret(m, "tls");
    assert_non_null(s);
    assert_string_equal(s->type, "kubernetes.io/tls");
    assert_int_equal(s->ndata, 2);
    assert_null(shim_manifest_secret(m, "cm"));
    assert_null(shim_manifest_configmap(m, "s"));
    assert_null(shim_manifest_configmap(m, "elsewhere")); /* not in the pod's namespace */
    assert_null(shim_manifest_configmap(m, NULL));
    assert_null(shim_manifest_configmap(NULL, "cm"));
    assert_int_equal(m->nnotes, 1);
    assert_string_equal(m->notes[0], "pod.yaml:35:18: metadata.namespace: accepted, no effect: "
                                     "the ConfigMap is in namespace \"other\", the Pod in "
                                     "\"default\"");
    shim_manifest_free(m);

    /* An object without a namespace is in the Pod's; Secrets and ConfigMaps have their
     * own names. */
    m = parse_ok("kind: Secret\napiVersion: v1\nmetadata: {name: x}\n---\n"
                 "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n---\n"
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\n"
                 "spec: {containers: [{name: a, image: b}]}\n");
    assert_string_equal(m->secrets[0].namespace, "ns");
    assert_string_equal(m->configmaps[0].namespace, "ns");
    assert_non_null(shim_manifest_secret(m, "x"));
    assert_non_null(shim_manifest_configmap(m, "x"));
    assert_int_equal(m->secrets[0].ndata + m->configmaps[0].ndata, 0);
    shim_manifest_free(m);
}

static void test_json(void **state)
{
    /* kubectl run web --image=nginx --dry-run=client -o json, and the same on one line */
    static const char json[] = "{\n"
                               "    \"kind\": \"Pod\",\n"
                               "    \"apiVersion\": \"v1\",\n"
                               "    \"metadata\": {\n"
                               "        \"name\": \"web\",\n"
                               "        \"creationTimestamp\": null,\n"
                               "        \"labels\": {\n"
                               "            \"run\": \"web\"\n"
                               "        }\n"
                               "    },\n"
                               "    \"spec\": {\n"
                               "        \"containers\": [\n"
                               "            {\n"
                               "                \"name\": \"web\",\n"
                               "                \"image\": \"nginx\",\n"
                               "                \"ports\": [{\"containerPort\": 80}],\n"
                               "                \"resources\": {},\n"
                               "                \"stdin\": false\n"
                               "            }\n"
                               "        ],\n"
                               "        \"restartPolicy\": \"Never\",\n"
                               "        \"dnsPolicy\": \"ClusterFirst\"\n"
                               "    },\n"
                               "    \"status\": {}\n"
                               "}\n";
    struct shim_manifest *m = parse_ok(json);

    (void)state;
    assert_string_equal(m->pod->name, "web");
    assert_int_equal(m->pod->restart_policy, SHIM_RESTART_NEVER);
    assert_int_equal(m->pod->containers[0].ports[0].container_port, 80);
    assert_int_equal(m->nnotes, 3);
    assert_string_equal(m->notes[0],
                        "pod.yaml:17:17: spec.containers[0].resources: accepted, no effect: empty");
    shim_manifest_free(m);

    m = parse_ok("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\"},"
                 "\"spec\":{\"terminationGracePeriodSeconds\":3,\"containers\":[{\"name\":\"a\","
                 "\"image\":\"b\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]}]}}");
    assert_int_equal(m->pod->termination_grace_period, 3);
    assert_string_equal(m->pod->containers[0].env[0].value, "1");
    shim_manifest_free(m);
}

static void test_documents(void **state)
{
    /* Empty documents are skipped; "..." ends a document; comments are nothing. */
    struct shim_manifest *m = parse_ok("# a comment\n---\n---\n" CTR "...\n---\n# only a "
                                       "comment\n---\nkind: ConfigMap\napiVersion: v1\n"
                                       "metadata: {name: c}\n---\n");

    (void)state;
    assert_int_equal(m->nconfigmaps, 1);
    assert_int_equal(m->pod->mark.line, 7);
    shim_manifest_free(m);

    /* Null values are "not given", for fields and for whole sections. */
    m = parse_ok(CTR "    command: null\n    args: ~\n    env:\n    workingDir:\n"
                     "    resources:\n  volumes:\n  restartPolicy: null\n"
                     "  hostAliases: [{ip: 1.2.3.4, hostnames: null}]\nstatus:\n");
    assert_null(m->pod->containers[0].command);
    assert_null(m->pod->containers[0].working_dir);
    assert_int_equal(m->pod->restart_policy, SHIM_RESTART_ALWAYS);
    assert_int_equal(m->pod->host_aliases[0].nhostnames, 0);
    assert_int_equal(m->nnotes, 0);
    shim_manifest_free(m);

    /* Anchors and aliases are fine where they make sense. */
    m = parse_ok(POD "  containers:\n  - name: a\n    image: i\n    env: &env\n"
                     "    - {name: X, value: &v shared}\n    - {name: Y, value: *v}\n"
                     "  - name: b\n    image: i\n    env: *env\n");
    assert_string_equal(m->pod->containers[1].env[1].value, "shared");
    assert_ptr_equal(m->pod->containers[0].env[0].value, m->pod->containers[1].env[1].value);
    shim_manifest_free(m);
}

/* ---- probes, lifecycle hooks, sidecars, resources, securityContext ---------------------- */

static void test_probes(void **state)
{
    static const char yaml[] = POD "  containers:\n"
                                   "  - name: web\n"
                                   "    image: i\n"
                                   "    livenessProbe:\n"
                                   "      httpGet:\n"
                                   "        port: http\n"
                                   "        httpHeaders: [{name: X-A, value: b}, {name: Y}]\n"
                                   "      initialDelaySeconds: 3\n"
                                   "      periodSeconds: 0\n"
                                   "      timeoutSeconds: 0\n"
                                   "      successThreshold: 1\n"
                                   "      failureThreshold: 0\n"
                                   "      terminationGracePeriodSeconds: 7\n"
                                   "    readinessProbe:\n"
                                   "      tcpSocket: {port: 8080, host: ''}\n"
                                   "      periodSeconds: 2\n"
                                   "      timeoutSeconds: 3\n"
                                   "      successThreshold: 4\n"
                                   "      failureThreshold: 5\n"
                                   "    startupProbe:\n"
                                   "      httpGet: {host: 10.0.0.1, port: 81, path: '', "
                                   "scheme: HTTPS}\n"
                                   "    ports: [{name: http, containerPort: 8080}]\n"
                                   "  - name: plain\n"
                                   "    image: i\n"
                                   "    startupProbe: {exec: {command: [test, -f, /ready]}}\n"
                                   "    readinessProbe: {tcpSocket: {port: metrics}}\n"
                                   "    ports: [{name: metrics, containerPort: 9100}]\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_container *c = &m->pod->containers[0];
    const struct shim_probe *p = &c->liveness;

    (void)state;
    assert_true(p->set);
    assert_int_equal(p->handler.type, SHIM_HANDLER_HTTP);
    assert_null(p->handler.host);
    assert_int_equal(p->handler.port, 0);
    assert_string_equal(p->handler.port_name, "http");
    assert_string_equal(p->handler.path, "/");
    assert_string_equal(p->handler.scheme, "HTTP");
    assert_int_equal(p->handler.nheaders, 2);
    assert_string_equal(p->handler.headers[0].name, "X-A");
    assert_string_equal(p->handler.headers[0].value, "b");
    assert_string_equal(p->handler.headers[1].name, "Y");
    assert_string_equal(p->handler.headers[1].value, "");
    assert_int_equal(p->handler.mark.line, 10); /* where the probe's mapping starts */
    assert_int_equal(p->handler.mark.column, 7);
    /* A 0 written out is Kubernetes' default. */
    assert_int_equal(p->initial_delay_seconds, 3);
    assert_int_equal(p->period_seconds, 10);
    assert_int_equal(p->timeout_seconds, 1);
    assert_int_equal(p->success_threshold, 1);
    assert_int_equal(p->failure_threshold, 3);
    assert_int_equal(p->termination_grace_period, 7);

    p = &c->readiness;
    assert_true(p->set);
    assert_int_equal(p->handler.type, SHIM_HANDLER_TCP);
    assert_null(p->handler.host); /* "" is the pod's address */
    assert_int_equal(p->handler.port, 8080);
    assert_null(p->handler.port_name);
    assert_null(p->handler.path);
    assert_int_equal(p->period_seconds, 2);
    assert_int_equal(p->timeout_seconds, 3);
    assert_int_equal(p->success_threshold, 4);
    assert_int_equal(p->failure_threshold, 5);
    assert_int_equal(p->termination_grace_period, -1);

    p = &c->startup;
    assert_string_equal(p->handler.host, "10.0.0.1");
    assert_int_equal(p->handler.port, 81);
    assert_string_equal(p->handler.path, "/");
    assert_string_equal(p->handler.scheme, "HTTPS");
    assert_int_equal(p->handler.nheaders, 0);

    c = &m->pod->containers[1];
    assert_false(c->liveness.set);
    assert_int_equal(c->liveness.handler.type, SHIM_HANDLER_NONE);
    assert_int_equal(c->startup.handler.type, SHIM_HANDLER_EXEC);
    assert_int_equal(c->startup.handler.ncommand, 3);
    assert_string_equal(c->startup.handler.command[2], "/ready");
    assert_null(c->startup.handler.command[3]);
    assert_int_equal(c->startup.period_seconds, 10);
    assert_int_equal(c->startup.timeout_seconds, 1);
    assert_int_equal(c->startup.success_threshold, 1);
    assert_int_equal(c->startup.failure_threshold, 3);
    assert_int_equal(c->startup.initial_delay_seconds, 0);
    assert_int_equal(c->startup.termination_grace_period, -1);
    assert_string_equal(c->readiness.handler.port_name, "metrics");
    assert_int_equal(m->nnotes, 0);
    shim_manifest_free(m);
}

static void test_lifecycle(void **state)
{
    static const char yaml[] = CTR "    ports: [{name: admin, containerPort: 9000}]\n"
                                   "    lifecycle:\n"
                                   "      postStart:\n"
                                   "        exec: {command: [/bin/sh, -c, 'echo $(X)']}\n"
                                   "      preStop:\n"
                                   "        sleep: {seconds: 45}\n"
                                   "  - name: b\n"
                                   "    image: i\n"
                                   "    ports: [{name: admin, containerPort: 9000}]\n"
                                   "    lifecycle:\n"
                                   "      postStart: {tcpSocket: {port: admin}}\n"
                                   "      preStop: {httpGet: {port: 9000, path: /quit}}\n"
                                   "  - name: c\n"
                                   "    image: i\n"
                                   "    lifecycle: {}\n"
                                   "  terminationGracePeriodSeconds: 45\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_container *c = &m->pod->containers[0];

    (void)state;
    assert_int_equal(c->post_start.type, SHIM_HANDLER_EXEC);
    assert_int_equal(c->post_start.ncommand, 3);
    assert_string_equal(c->post_start.command[2], "echo $(X)"); /* not expanded */
    assert_int_equal(c->post_start.mark.line, 12);
    assert_int_equal(c->post_start.mark.column, 9);
    assert_int_equal(c->pre_stop.type, SHIM_HANDLER_SLEEP);
    assert_int_equal(c->pre_stop.sleep_seconds, 45); /* up to the grace period, given later */
    c = &m->pod->containers[1];
    assert_int_equal(c->post_start.type, SHIM_HANDLER_TCP);
    assert_string_equal(c->post_start.port_name, "admin");
    assert_int_equal(c->pre_stop.type, SHIM_HANDLER_HTTP);
    assert_int_equal(c->pre_stop.port, 9000);
    assert_string_equal(c->pre_stop.path, "/quit");
    assert_string_equal(c->pre_stop.scheme, "HTTP");
    assert_null(c->pre_stop.host);
    c = &m->pod->containers[2];
    assert_int_equal(c->post_start.type, SHIM_HANDLER_NONE);
    assert_int_equal(c->pre_stop.type, SHIM_HANDLER_NONE);
    assert_int_equal(m->nnotes, 1);
    assert_string_equal(m->notes[0],
                        "pod.yaml:23:5: spec.containers[2].lifecycle: accepted, no effect: empty");
    shim_manifest_free(m);
}

static void test_sidecars(void **state)
{
    static const char yaml[] = POD "  containers: [{name: app, image: i}]\n"
                                   "  initContainers:\n"
                                   "  - name: setup\n"
                                   "    image: i\n"
                                   "  - name: proxy\n"
                                   "    image: i\n"
                                   "    startupProbe: {tcpSocket: {port: proxy}}\n"
                                   "    readinessProbe: {tcpSocket: {port: 6379}}\n"
                                   "    livenessProbe: {exec: {command: [x]}}\n"
                                   "    lifecycle: {preStop: {sleep: {seconds: 1}}}\n"
                                   "    ports: [{name: proxy, containerPort: 6379}]\n"
                                   "    restartPolicy: Always\n"
                                   "  - {name: log, image: i, restartPolicy: \"Always\"}\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_pod *p = m->pod;

    (void)state;
    assert_int_equal(p->ninit_containers, 3);
    assert_false(p->init_containers[0].sidecar);
    assert_true(p->init_containers[1].sidecar);
    assert_true(p->init_containers[1].startup.set);
    assert_true(p->init_containers[1].readiness.set);
    assert_true(p->init_containers[1].liveness.set);
    assert_int_equal(p->init_containers[1].pre_stop.type, SHIM_HANDLER_SLEEP);
    assert_true(p->init_containers[2].sidecar);
    assert_false(p->containers[0].sidecar);
    shim_manifest_free(m);
}

static void test_resources(void **state)
{
    static const struct {
        const char *q;
        uint64_t millis;
    } cpu[] = {
        {"500m", 500},    {"1", 1000},         {"1.5", 1500}, {"2k", 2000000}, {"0.25", 250},
        {"0", 0},         {"0.1m", 1},         {"100u", 1},   {"1e-3", 1},     {"1.0001", 1001},
        {"1Ki", 1024000}, {"250000000n", 250}, {"+2", 2000},
    };
    static const char yaml[] = CTR "    resources:\n"
                                   "      limits: {cpu: 1, memory: 128Mi}\n"
                                   "  - name: b\n"
                                   "    image: i\n"
                                   "    resources:\n"
                                   "      requests: {cpu: 250m, memory: 64Mi}\n"
                                   "      limits: {cpu: 0.5, memory: 64Mi}\n"
                                   "  - name: c\n"
                                   "    image: i\n"
                                   "    resources:\n"
                                   "      requests: {memory: 1G}\n"
                                   "      limits: {cpu: 2}\n"
                                   "  - name: d\n"
                                   "    image: i\n"
                                   "    resources: {limits: {}, claims: []}\n";
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_resources *r = &m->pod->containers[0].resources;

    (void)state;
    /* Limits alone are also the requests. */
    assert_true(r->set);
    assert_int_equal(r->cpu_limit_millis, 1000);
    assert_int_equal(r->cpu_request_millis, 1000);
    assert_int_equal(r->memory_limit, 128ull << 20);
    assert_int_equal(r->memory_request, 128ull << 20);
    r = &m->pod->containers[1].resources;
    assert_int_equal(r->cpu_request_millis, 250);
    assert_int_equal(r->cpu_limit_millis, 500);
    assert_int_equal(r->memory_request, 64ull << 20);
    assert_int_equal(r->memory_limit, 64ull << 20);
    r = &m->pod->containers[2].resources;
    assert_int_equal(r->memory_request, 1000000000ull);
    assert_int_equal(r->memory_limit, 0);
    assert_int_equal(r->cpu_request_millis, 2000);
    assert_int_equal(r->cpu_limit_millis, 2000);
    r = &m->pod->containers[3].resources;
    assert_false(r->set);
    assert_int_equal(
        r->cpu_request_millis + r->cpu_limit_millis + r->memory_request + r->memory_limit, 0);
    assert_int_equal(m->nnotes, 2);
    assert_string_equal(m->notes[0], "pod.yaml:23:17: spec.containers[3].resources.limits: "
                                     "accepted, no effect: empty");
    assert_string_equal(m->notes[1], "pod.yaml:23:29: spec.containers[3].resources.claims: "
                                     "accepted, no effect: empty");
    shim_manifest_free(m);

    for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
        char buf[512];
        snprintf(buf, sizeof(buf), CTR "    resources: {requests: {cpu: '%s'}}\n", cpu[i].q);
        m = parse_ok(buf);
        r = &m->pod->containers[0].resources;
        if (r->cpu_request_millis != cpu[i].millis || r->cpu_limit_millis != 0 || !r->set) {
            fail_msg("cpu %s: got %llu, want %llu", cpu[i].q,
                     (unsigned long long)r->cpu_request_millis, (unsigned long long)cpu[i].millis);
        }
        shim_manifest_free(m);
    }
}

static void test_security(void **state)
{
    static const char yaml[] = POD "  securityContext:\n"
                                   "    runAsUser: 1000\n"
                                   "    runAsGroup: 0\n"
                                   "    runAsNonRoot: false\n"
                                   "    supplementalGroups: [4, 2147483647]\n"
                                   "    seccompProfile: {type: RuntimeDefault}\n"
                                   "  containers:\n"
                                   "  - name: a\n"
                                   "    image: i\n"
                                   "    securityContext:\n"
                                   "      runAsUser: 0\n"
                                   "      runAsNonRoot: true\n"
                                   "      readOnlyRootFilesystem: true\n"
                                   "      allowPrivilegeEscalation: false\n"
                                   "      privileged: false\n"
                                   "      capabilities:\n"
                                   "        add: [CAP_NET_ADMIN, SYS_TIME, CAP_CHOWN]\n"
                                   "        drop: [ALL]\n"
                                   "      appArmorProfile: {type: Unconfined}\n"
                                   "      procMount: Default\n"
                                   "  - name: b\n"
                                   "    image: i\n"
                                   "    securityContext: {privileged: true, runAsGroup: 5, "
                                   "capabilities: {}}\n"
                                   "  - name: c\n"
                                   "    image: i\n"
                                   "    securityContext: {seccompProfile: {type: Unconfined}}\n";
    static const char *const notes[] = {
        "pod.yaml:11:5: spec.securityContext.seccompProfile: accepted, no effect: podshim applies "
        "no seccomp/AppArmor profile",
        "pod.yaml:24:7: spec.containers[0].securityContext.appArmorProfile: accepted, no effect: "
        "podshim applies no seccomp/AppArmor profile",
        "pod.yaml:25:7: spec.containers[0].securityContext.procMount: accepted, no effect: Default "
        "is the default",
        "pod.yaml:28:56: spec.containers[1].securityContext.capabilities: accepted, no effect: "
        "empty",
        "pod.yaml:31:23: spec.containers[2].securityContext.seccompProfile: accepted, no effect: "
        "podshim applies no seccomp/AppArmor profile",
    };
    struct shim_manifest *m = parse_ok(yaml);
    const struct shim_security_context *sc = &m->pod->security;

    (void)state;
    assert_true(sc->set);
    assert_int_equal(sc->run_as_user, 1000);
    assert_int_equal(sc->run_as_group, 0);
    assert_int_equal(sc->run_as_non_root, 0);
    assert_int_equal(sc->nsupplemental_groups, 2);
    assert_int_equal(sc->supplemental_groups[0], 4);
    assert_int_equal(sc->supplemental_groups[1], 2147483647);
    assert_int_equal(sc->read_only_root_fs + sc->allow_privilege_escalation + sc->privileged, -3);
    assert_null(sc->cap_add);

    /* runAsNonRoot with runAsUser 0 is for the runtime to refuse, as the kubelet does. */
    sc = &m->pod->containers[0].security;
    assert_true(sc->set);
    assert_int_equal(sc->run_as_user, 0);
    assert_int_equal(sc->run_as_group, -1);
    assert_int_equal(sc->run_as_non_root, 1);
    assert_int_equal(sc->read_only_root_fs, 1);
    assert_int_equal(sc->allow_privilege_escalation, 0);
    assert_int_equal(sc->privileged, 0);
    assert_int_equal(sc->ncap_add, 3);
    assert_string_equal(sc->cap_add[0], "NET_ADMIN"); /* "CAP_" is dropped */
    assert_string_equal(sc->cap_add[1], "SYS_TIME");
    assert_string_equal(sc->cap_add[2], "CHOWN");
    assert_null(sc->cap_add[3]);
    assert_int_equal(sc->ncap_drop, 1);
    assert_string_equal(sc->cap_drop[0], "ALL");
    assert_int_equal(sc->nsupplemental_groups, 0);

    sc = &m->pod->containers[1].security;
    assert_true(sc->set);
    assert_int_equal(sc->privileged, 1);
    assert_int_equal(sc->run_as_group, 5);
    assert_int_equal(sc->run_as_user, -1);
    assert_int_equal(sc->allow_privilege_escalation, -1);
    assert_int_equal(sc->ncap_add + sc->ncap_drop, 0);

    /* Only a note: nothing with an effect was given. */
    sc = &m->pod->containers[2].security;
    assert_false(sc->set);
    assert_int_equal(sc->run_as_user, -1);
    assert_int_equal(sc->run_as_non_root, -1);

    assert_int_equal(m->nnotes, sizeof(notes) / sizeof(notes[0]));
    for (size_t i = 0; i < m->nnotes; i++) {
        assert_string_equal(m->notes[i], notes[i]);
    }
    shim_manifest_free(m);

    /* Empty contexts are notes and leave everything unset. */
    m = parse_ok(CTR "    securityContext: {}\n  securityContext: {}\n");
    assert_false(m->pod->security.set);
    assert_false(m->pod->containers[0].security.set);
    assert_int_equal(m->pod->security.run_as_user, -1);
    assert_int_equal(m->pod->containers[0].security.privileged, -1);
    assert_int_equal(m->nnotes, 2);
    shim_manifest_free(m);
}

/* ---- bad manifests: one exact error line each ------------------------------------------ */

#define CM "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n" /* data at line 5 */
#define SECRET "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
#define NEXT "---\n" CTR
#define INIT CTR "  initContainers:\n  - name: init\n    image: i\n" /* its fields: line 12 */
#define PROBE CTR "    livenessProbe:\n      exec: {command: [x]}\n" /* more: line 11 */

static const struct {
    const char *yaml;
    const char *err;
} bad[] = {
    /* YAML itself */
    {POD "  containers: [\n", "pod.yaml:7:1: YAML syntax error: did not find expected node content "
                              "while parsing a flow node"},
    {"kind: Pod\n name: x\n", "pod.yaml:2:6: YAML syntax error: mapping values are not allowed in "
                              "this context"},
    {"kind: \"\xc3\x28\"\n", "pod.yaml:1:9: YAML syntax error: invalid trailing UTF-8 octet"},
    {"kind: *nope\n", "pod.yaml:1:7: YAML syntax error: found undefined alias"},
    {"- a\n- b\n", "pod.yaml:1:1: expected a mapping, got a list"},
    {"hello\n", "pod.yaml:1:1: expected a mapping, got \"hello\""},
    {POD "  <<: {containers: []}\n", "pod.yaml:6:3: spec.<<: YAML merge keys are not supported"},
    {POD "  ? [a]\n  : b\n", "pod.yaml:6:5: spec: a field name must be a string, not a list"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
     "pod.yaml:5:3: metadata.name: duplicate key"},
    {CTR "    image: other\n", "pod.yaml:9:5: spec.containers[0].image: duplicate key"},
    {CTR "  containers: []\n", "pod.yaml:9:3: spec.containers: duplicate key"},
    /* documents and kinds */
    {"", "pod.yaml: no Pod: a manifest must hold one document of kind Pod"},
    {"---\n...\n", "pod.yaml: no Pod: a manifest must hold one document of kind Pod"},
    {CM, "pod.yaml: no Pod: a manifest must hold one document of kind Pod"},
    {"apiVersion: v1\nmetadata: {name: x}\n", "pod.yaml:1:1: kind: required value"},
    {"apiVersion: apps/v1\nkind: Deployment\n",
     "pod.yaml:2:7: kind: unsupported kind \"Deployment\": a manifest holds one Pod and the "
     "ConfigMaps and Secrets it uses"},
    {"kind: [Pod]\n", "pod.yaml:1:7: kind: expected a string, got a list"},
    {"kind: Pod\nmetadata: {name: x}\n", "pod.yaml:1:1: apiVersion: required value"},
    {"apiVersion: v2\nkind: Pod\n",
     "pod.yaml:1:13: apiVersion: unsupported value \"v2\": a Pod is in apiVersion \"v1\""},
    {"apiVersion: apps/v1\nkind: ConfigMap\n",
     "pod.yaml:1:13: apiVersion: unsupported value \"apps/v1\": a ConfigMap is in apiVersion "
     "\"v1\""},
    {CTR NEXT, "pod.yaml:11:7: kind: a second Pod: a manifest holds one Pod (the first is \"web\" "
               "at line 4)"},
    {"apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n",
     "pod.yaml:1:1: metadata.name: required value"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\n",
     "pod.yaml:4:3: metadata.name: required value"},
    {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "pod.yaml:1:1: spec: required value"},
    {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: []\n",
     "pod.yaml:4:7: spec: expected a mapping, got a list"},
    {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspc: {}\n",
     "pod.yaml:4:1: spc: unknown field \"spc\" (did you mean \"spec\"?)"},
    /* metadata */
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: Web_1\n",
     "pod.yaml:4:9: metadata.name: invalid value \"Web_1\": a lowercase RFC 1123 subdomain must "
     "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
     "alphanumeric character"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"\"\n",
     "pod.yaml:4:9: metadata.name: required value"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web.\n",
     "pod.yaml:4:9: metadata.name: invalid value \"web.\": a lowercase RFC 1123 subdomain must "
     "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
     "alphanumeric character"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: web-\n",
     "pod.yaml:4:3: metadata.generateName: not supported yet"},
    {POD "  containers: []\n  nodeName: x\n", "pod.yaml:7:3: spec.nodeName: not supported yet"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  namespace: My-NS\n",
     "pod.yaml:5:14: metadata.namespace: invalid value \"My-NS\": a lowercase RFC 1123 label "
     "must consist of lower case alphanumeric characters or '-', and must start and end with an "
     "alphanumeric character"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  namespace: "
     "a234567890123456789012345678901234567890123456789012345678901234\n",
     "pod.yaml:5:14: metadata.namespace: invalid value "
     "\"a23456789012345678901234567890123456789012345678901234567890...\": must be no more than "
     "63 "
     "characters"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  uid: ../etc\n",
     "pod.yaml:5:8: metadata.uid: invalid value \"../etc\": must be at most 128 alphanumeric "
     "characters and '-' (such as a UUID)"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  labels:\n    -bad: x\n",
     "pod.yaml:6:5: metadata.labels: invalid key \"-bad\": name part must consist of "
     "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
     "character"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  labels:\n    app: x y\n",
     "pod.yaml:6:10: metadata.labels[app]: invalid value \"x y\": a valid label must be an empty "
     "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
     "an alphanumeric character"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  labels:\n    a: b\n    a: c\n",
     "pod.yaml:7:5: metadata.labels[a]: duplicate key"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  annotations: {a: {b: c}}\n",
     "pod.yaml:5:20: metadata.annotations[a]: expected a string, got a mapping"},
    {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  ownerReferences: [{}]\n",
     "pod.yaml:5:3: metadata.ownerReferences: not supported yet"},
    /* spec */
    {POD "  volumes: []\n", "pod.yaml:6:3: spec.containers: required value"},
    {POD "  containers: {}\n", "pod.yaml:6:15: spec.containers: expected a list, got a mapping"},
    {CTR "  restartPolicy: Sometimes\n",
     "pod.yaml:9:18: spec.restartPolicy: unsupported value \"Sometimes\": supported values: "
     "\"Always\", \"OnFailure\", \"Never\""},
    {CTR "  terminationGracePeriodSeconds: -1\n",
     "pod.yaml:9:34: spec.terminationGracePeriodSeconds: invalid value -1: must be greater than "
     "or equal to 0"},
    {CTR "  terminationGracePeriodSeconds: \"30\"\n",
     "pod.yaml:9:34: spec.terminationGracePeriodSeconds: expected an integer, got the string "
     "\"30\""},
    {CTR "  terminationGracePeriodSeconds: 1.5\n",
     "pod.yaml:9:34: spec.terminationGracePeriodSeconds: expected an integer, got \"1.5\""},
    {CTR "  hostname: my_host\n",
     "pod.yaml:9:13: spec.hostname: invalid value \"my_host\": a lowercase RFC 1123 label must "
     "consist of lower case alphanumeric characters or '-', and must start and end with an "
     "alphanumeric character"},
    {CTR "  shareProcessNamespace: \"true\"\n",
     "pod.yaml:9:26: spec.shareProcessNamespace: expected true or false, got the string \"true\""},
    {CTR "  dnsPolicy: None\n",
     "pod.yaml:9:14: spec.dnsPolicy: \"None\" (with dnsConfig) is not supported yet"},
    {CTR "  dnsPolicy: Cluster\n",
     "pod.yaml:9:14: spec.dnsPolicy: unsupported value \"Cluster\": supported values: "
     "\"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\""},
    {CTR "  nodeSelector: {disk: ssd}\n", "pod.yaml:9:3: spec.nodeSelector: not supported yet"},
    {CTR "  hostNetwork: true\n", "pod.yaml:9:3: spec.hostNetwork: not supported yet"},
    {CTR "  serviceAccountName: default\n",
     "pod.yaml:9:3: spec.serviceAccountName: not supported yet"},
    {CTR "  affinity:\n    nodeAffinity: {}\n", "pod.yaml:9:3: spec.affinity: not supported yet"},
    {CTR "  ephemeralContainers: [{name: x}]\n",
     "pod.yaml:9:3: spec.ephemeralContainers: not supported yet"},
    {CTR "  containerz: []\n",
     "pod.yaml:9:3: spec.containerz: unknown field \"containerz\" (did you mean \"containers\"?)"},
    {CTR "  foo: 1\n", "pod.yaml:9:3: spec.foo: unknown field \"foo\""},
    {CTR "  hostAliases: [{ip: 1.2.3.256, hostnames: [a]}]\n",
     "pod.yaml:9:22: spec.hostAliases[0].ip: invalid value \"1.2.3.256\": must be a valid IP "
     "address (e.g. 10.9.8.7 or 2001:db8::ffff)"},
    {CTR "  hostAliases: [{hostnames: [a]}]\n",
     "pod.yaml:9:17: spec.hostAliases[0].ip: required value"},
    {CTR "  hostAliases: [{ip: 1.2.3.4, hostnames: [ok, '']}]\n",
     "pod.yaml:9:47: spec.hostAliases[0].hostnames[1]: required value"},
    {CTR "  hostAliases: [{ip: 1.2.3.4, hostnames: [Bad.Name]}]\n",
     "pod.yaml:9:43: spec.hostAliases[0].hostnames[0]: invalid value \"Bad.Name\": a lowercase "
     "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
     "must start and end with an alphanumeric character"},
    /* containers */
    {POD "  containers:\n  - image: busybox\n",
     "pod.yaml:7:5: spec.containers[0].name: required value"},
    {POD "  containers:\n  - name: Web\n    image: busybox\n",
     "pod.yaml:7:11: spec.containers[0].name: invalid value \"Web\": a lowercase RFC 1123 label "
     "must consist of lower case alphanumeric characters or '-', and must start and end with an "
     "alphanumeric character"},
    {CTR "  - name: web\n    image: busybox\n",
     "pod.yaml:9:11: spec.containers[1].name: duplicate value \"web\""},
    {CTR "  initContainers:\n  - name: web\n    image: busybox\n",
     "pod.yaml:10:11: spec.initContainers[0].name: duplicate value \"web\""},
    {POD "  containers:\n  - name: web\n",
     "pod.yaml:7:5: spec.containers[0].image: required value"},
    {POD "  containers:\n  - name: web\n    image: null\n",
     "pod.yaml:7:5: spec.containers[0].image: required value"},
    {POD "  containers:\n  - name: web\n    image: ''\n",
     "pod.yaml:8:12: spec.containers[0].image: required value"},
    {POD "  containers:\n  - name: web\n    image: ' busybox'\n",
     "pod.yaml:8:12: spec.containers[0].image: invalid value \" busybox\": must not have leading "
     "or trailing whitespace"},
    {CTR "    foo: bar\n", "pod.yaml:9:5: spec.containers[0].foo: unknown field \"foo\""},
    {CTR "    comand: [x]\n",
     "pod.yaml:9:5: spec.containers[0].comand: unknown field \"comand\" (did you mean "
     "\"command\"?)"},
    {CTR "    command: echo hi\n",
     "pod.yaml:9:14: spec.containers[0].command: expected a list, got \"echo hi\""},
    {CTR "    args: [a, {b: c}]\n",
     "pod.yaml:9:15: spec.containers[0].args[1]: expected a string, got a mapping"},
    {CTR "    args: [a, ]\n", NULL},
    {CTR "    args:\n    - a\n    -\n",
     "pod.yaml:11:6: spec.containers[0].args[1]: expected a string, got null"},
    {CTR "    workingDir: [a]\n",
     "pod.yaml:9:17: spec.containers[0].workingDir: expected a string, got a list"},
    {CTR "    args: [\"a\\0b\"]\n",
     "pod.yaml:9:12: spec.containers[0].args[0]: invalid value: contains a NUL character"},
    {CTR "    tty: maybe\n", "pod.yaml:9:10: spec.containers[0].tty: expected true or false, got "
                             "\"maybe\""},
    {CTR "    imagePullPolicy: Sometimes\n",
     "pod.yaml:9:22: spec.containers[0].imagePullPolicy: unsupported value \"Sometimes\": "
     "supported values: \"Always\", \"IfNotPresent\", \"Never\""},
    /* env */
    {CTR "    env: {A: b}\n", "pod.yaml:9:10: spec.containers[0].env: expected a list, got a "
                              "mapping"},
    {CTR "    env: [{value: x}]\n", "pod.yaml:9:11: spec.containers[0].env[0].name: required "
                                    "value"},
    {CTR "    env: [{name: A=B}]\n",
     "pod.yaml:9:18: spec.containers[0].env[0].name: invalid value \"A=B\": a valid environment "
     "variable name must consist only of printable ASCII characters other than '='"},
    {CTR "    env:\n    - name: A\n      value: x\n      valueFrom:\n"
         "        fieldRef: {fieldPath: metadata.name}\n",
     "pod.yaml:13:9: spec.containers[0].env[0].valueFrom: may not be specified when value is not "
     "empty"},
    {CTR "    env: [{name: A, valueFrom: {}}]\n",
     "pod.yaml:9:32: spec.containers[0].env[0].valueFrom: must specify one of: fieldRef, "
     "configMapKeyRef or secretKeyRef"},
    {CTR "    env:\n    - name: A\n      valueFrom:\n        fieldRef: {fieldPath: metadata.name}\n"
         "        secretKeyRef: {name: s, key: k}\n",
     "pod.yaml:13:9: spec.containers[0].env[0].valueFrom.secretKeyRef: may not have more than one "
     "field specified at a time"},
    {CTR "    env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}]\n",
     "pod.yaml:9:55: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: unsupported value "
     "\"spec.hostname\": supported values: \"metadata.name\", \"metadata.namespace\", "
     "\"metadata.uid\", \"status.podIP\", \"status.hostIP\", \"spec.nodeName\""},
    {CTR "    env: [{name: A, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}]\n",
     "pod.yaml:9:55: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: "
     "\"metadata.labels\" is not supported yet"},
    {CTR "    env: [{name: A, valueFrom: {fieldRef: {}}}]\n",
     "pod.yaml:9:43: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: required value"},
    {CTR
     "    env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name, apiVersion: v2}}}]\n",
     "pod.yaml:9:82: spec.containers[0].env[0].valueFrom.fieldRef.apiVersion: unsupported value "
     "\"v2\": supported values: \"v1\""},
    {CTR "    env: [{name: A, valueFrom: {configMapKeyRef: {name: cm}}}]\n",
     "pod.yaml:9:50: spec.containers[0].env[0].valueFrom.configMapKeyRef.key: required value"},
    {CTR "    env: [{name: A, valueFrom: {secretKeyRef: {name: S, key: k}}}]\n",
     "pod.yaml:9:54: spec.containers[0].env[0].valueFrom.secretKeyRef.name: invalid value \"S\": "
     "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
     "'.', and must start and end with an alphanumeric character"},
    {CTR "    env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: 'a b'}}}]\n",
     "pod.yaml:9:62: spec.containers[0].env[0].valueFrom.secretKeyRef.key: invalid value \"a b\": "
     "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"},
    {CTR "    env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}]\n",
     "pod.yaml:9:33: spec.containers[0].env[0].valueFrom.resourceFieldRef: not supported yet"},
    {CTR "    envFrom: [{prefix: X_}]\n",
     "pod.yaml:9:15: spec.containers[0].envFrom[0]: must specify one of: configMapRef or "
     "secretRef"},
    {CTR "    envFrom: [{configMapRef: {name: a}, secretRef: {name: b}}]\n",
     "pod.yaml:9:41: spec.containers[0].envFrom[0].secretRef: may not have more than one field "
     "specified at a time"},
    {CTR "    envFrom: [{configMapRef: {optional: true}}]\n",
     "pod.yaml:9:30: spec.containers[0].envFrom[0].configMapRef.name: required value"},
    {CTR "    envFrom: [{configMapRef: {name: a}, prefix: 'A='}]\n",
     "pod.yaml:9:49: spec.containers[0].envFrom[0].prefix: invalid value \"A=\": a valid "
     "environment variable name must consist only of printable ASCII characters other than '='"},
    /* ports */
    {CTR "    ports: [{name: http}]\n",
     "pod.yaml:9:13: spec.containers[0].ports[0].containerPort: required value"},
    {CTR "    ports: [{containerPort: 0}]\n",
     "pod.yaml:9:29: spec.containers[0].ports[0].containerPort: invalid value 0: must be between "
     "1 and 65535, inclusive"},
    {CTR "    ports: [{containerPort: 70000}]\n",
     "pod.yaml:9:29: spec.containers[0].ports[0].containerPort: invalid value 70000: must be "
     "between 1 and 65535, inclusive"},
    {CTR "    ports: [{containerPort: \"80\"}]\n",
     "pod.yaml:9:29: spec.containers[0].ports[0].containerPort: expected an integer, got the "
     "string \"80\""},
    {CTR "    ports: [{containerPort: 80, hostPort: -1}]\n",
     "pod.yaml:9:43: spec.containers[0].ports[0].hostPort: invalid value -1: must be between 0 "
     "and 65535, inclusive"},
    {CTR "    ports: [{containerPort: 80, protocol: tcp}]\n",
     "pod.yaml:9:43: spec.containers[0].ports[0].protocol: unsupported value \"tcp\": supported "
     "values: \"TCP\", \"UDP\", \"SCTP\""},
    {CTR "    ports: [{containerPort: 80, name: HTTP}]\n",
     "pod.yaml:9:39: spec.containers[0].ports[0].name: invalid value \"HTTP\": must contain only "
     "alpha-numeric characters (a-z, 0-9), and hyphens (-)"},
    {CTR "    ports: [{containerPort: 80, name: \"8080\"}]\n",
     "pod.yaml:9:39: spec.containers[0].ports[0].name: invalid value \"8080\": must contain at "
     "least one letter (a-z)"},
    {CTR "    ports: [{containerPort: 80, name: a--b}]\n",
     "pod.yaml:9:39: spec.containers[0].ports[0].name: invalid value \"a--b\": must not contain "
     "consecutive hyphens"},
    {CTR "    ports: [{containerPort: 80, name: http-metrics-port}]\n",
     "pod.yaml:9:39: spec.containers[0].ports[0].name: invalid value \"http-metrics-port\": must "
     "be no more than 15 characters"},
    {CTR "    ports: [{containerPort: 80, name: web}, {containerPort: 81, name: web}]\n",
     "pod.yaml:9:71: spec.containers[0].ports[1].name: duplicate value \"web\""},
    {CTR "    ports: [{containerPort: 80, hostPort: 8080}]\n  - name: two\n    image: b\n"
         "    ports: [{containerPort: 81, hostPort: 8080}]\n",
     "pod.yaml:12:43: spec.containers[1].ports[0].hostPort: duplicate value \"8080/TCP\""},
    {CTR "    ports: [{containerPort: 80, hostIP: localhost}]\n",
     "pod.yaml:9:41: spec.containers[0].ports[0].hostIP: invalid value \"localhost\": must be a "
     "valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff)"},
    /* volumeMounts */
    {CTR "    volumeMounts:\n    - name: data\n      mountPath: /data\n",
     "pod.yaml:10:13: spec.containers[0].volumeMounts[0].name: not found: no volume \"data\""},
    {CTR "    volumeMounts: [{mountPath: /data}]\n",
     "pod.yaml:9:20: spec.containers[0].volumeMounts[0].name: required value"},
    {CTR "    volumeMounts: [{name: v}]\n  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:20: spec.containers[0].volumeMounts[0].mountPath: required value"},
    {CTR "    volumeMounts: [{name: v, mountPath: data}]\n  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:41: spec.containers[0].volumeMounts[0].mountPath: invalid value \"data\": must "
     "be an absolute path"},
    {CTR "    volumeMounts: [{name: v, mountPath: '/a:b'}]\n  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:41: spec.containers[0].volumeMounts[0].mountPath: invalid value \"/a:b\": must "
     "not contain ':'"},
    {CTR "    volumeMounts: [{name: v, mountPath: /a}, {name: v, mountPath: /a}]\n"
         "  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:67: spec.containers[0].volumeMounts[1].mountPath: duplicate value \"/a\""},
    {CTR "    volumeMounts: [{name: v, mountPath: /a, subPath: ../x}]\n"
         "  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:54: spec.containers[0].volumeMounts[0].subPath: invalid value \"../x\": must not "
     "contain '..'"},
    {CTR "    volumeMounts: [{name: v, mountPath: /a, subPath: /x}]\n"
         "  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:54: spec.containers[0].volumeMounts[0].subPath: invalid value \"/x\": must be a "
     "relative path"},
    {CTR "    volumeMounts: [{name: v, mountPath: /a, mountPropagation: Bidirectional}]\n"
         "  volumes: [{name: v, emptyDir: {}}]\n",
     "pod.yaml:9:45: spec.containers[0].volumeMounts[0].mountPropagation: not supported yet"},
    /* volumes */
    {CTR "  volumes: [{emptyDir: {}}]\n", "pod.yaml:9:13: spec.volumes[0].name: required value"},
    {CTR "  volumes: [{name: v}]\n", "pod.yaml:9:13: spec.volumes[0]: must specify a volume type"},
    {CTR "  volumes: [{name: v, emptyDir: }]\n",
     "pod.yaml:9:13: spec.volumes[0]: must specify a volume type"},
    {CTR "  volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]\n",
     "pod.yaml:9:45: spec.volumes[1].name: duplicate value \"v\""},
    {CTR "  volumes: [{name: v, emptyDir: {}, hostPath: {path: /x}}]\n",
     "pod.yaml:9:37: spec.volumes[0].hostPath: may not specify more than 1 volume type"},
    {CTR "  volumes:\n  - name: v\n    persistentVolumeClaim: {claimName: c}\n",
     "pod.yaml:11:5: spec.volumes[0].persistentVolumeClaim: not supported yet"},
    {CTR "  volumes:\n  - name: v\n    projected: {sources: []}\n",
     "pod.yaml:11:5: spec.volumes[0].projected: not supported yet"},
    {CTR "  volumes:\n  - name: v\n    emptyDir: {medium: Disk}\n",
     "pod.yaml:11:24: spec.volumes[0].emptyDir.medium: unsupported value \"Disk\": supported "
     "values: \"\", \"Memory\""},
    {CTR "  volumes:\n  - name: v\n    emptyDir: {sizeLimit: 1x}\n",
     "pod.yaml:11:27: spec.volumes[0].emptyDir.sizeLimit: invalid value \"1x\": quantities must "
     "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. 64Mi, "
     "1G, 500M)"},
    {CTR "  volumes:\n  - name: v\n    emptyDir: {sizeLimit: 1500m}\n",
     "pod.yaml:11:27: spec.volumes[0].emptyDir.sizeLimit: invalid value \"1500m\": must be a "
     "whole number of bytes"},
    {CTR "  volumes:\n  - name: v\n    hostPath: {path: var/x}\n",
     "pod.yaml:11:22: spec.volumes[0].hostPath.path: invalid value \"var/x\": must be an "
     "absolute path"},
    {CTR "  volumes:\n  - name: v\n    hostPath: {path: /var/../etc}\n",
     "pod.yaml:11:22: spec.volumes[0].hostPath.path: invalid value \"/var/../etc\": must not "
     "contain '..'"},
    {CTR "  volumes:\n  - name: v\n    hostPath: {type: Directory}\n",
     "pod.yaml:11:15: spec.volumes[0].hostPath.path: required value"},
    {CTR "  volumes:\n  - name: v\n    hostPath: {path: /x, type: Dir}\n",
     "pod.yaml:11:32: spec.volumes[0].hostPath.type: unsupported value \"Dir\": supported values: "
     "\"\", \"DirectoryOrCreate\", \"Directory\", \"FileOrCreate\", \"File\", \"Socket\", "
     "\"CharDevice\", \"BlockDevice\""},
    {CTR "  volumes:\n  - name: v\n    configMap: {items: []}\n",
     "pod.yaml:11:16: spec.volumes[0].configMap.name: required value"},
    {CTR "  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: 01000}\n",
     "pod.yaml:11:39: spec.volumes[0].configMap.defaultMode: invalid value 01000: must be a "
     "number between 00 and 0777 (octal), both inclusive"},
    {CTR "  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: 0999}\n",
     "pod.yaml:11:39: spec.volumes[0].configMap.defaultMode: expected an integer, got \"0999\""},
    {CTR "  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: \"0644\"}\n",
     "pod.yaml:11:39: spec.volumes[0].configMap.defaultMode: expected an integer, got the string "
     "\"0644\""},
    {CTR "  volumes:\n  - name: v\n    configMap:\n      name: c\n      items:\n"
         "      - path: a\n",
     "pod.yaml:14:9: spec.volumes[0].configMap.items[0].key: required value"},
    {CTR "  volumes:\n  - name: v\n    configMap:\n      name: c\n      items:\n"
         "      - {key: a, path: ../a}\n",
     "pod.yaml:14:24: spec.volumes[0].configMap.items[0].path: invalid value \"../a\": must not "
     "contain '..'"},
    {CTR "  volumes:\n  - name: v\n    configMap:\n      name: c\n      items:\n"
         "      - {key: a, path: ..a}\n",
     "pod.yaml:14:24: spec.volumes[0].configMap.items[0].path: invalid value \"..a\": must not "
     "start with '..'"},
    {CTR "  volumes:\n  - name: v\n    secret:\n      secretName: s\n      items:\n"
         "      - {key: a, path: a, mode: 512}\n",
     "pod.yaml:14:33: spec.volumes[0].secret.items[0].mode: invalid value 512: must be a number "
     "between 00 and 0777 (octal), both inclusive"},
    {CTR "  volumes:\n  - name: v\n    secret: {name: s}\n",
     "pod.yaml:11:14: spec.volumes[0].secret.name: unknown field \"name\""},
    {CTR "  volumes:\n  - name: v\n    secret: {optional: true}\n",
     "pod.yaml:11:13: spec.volumes[0].secret.secretName: required value"},
    /* native sidecars: an init container with restartPolicy Always */
    {POD "  containers: [{name: a, image: b}]\n  initContainers:\n  - name: side\n"
         "    image: b\n    restartPolicy: Never\n",
     "pod.yaml:10:20: spec.initContainers[0].restartPolicy: unsupported value \"Never\": "
     "supported values: \"Always\""},
    {INIT "    restartPolicy: always\n",
     "pod.yaml:12:20: spec.initContainers[0].restartPolicy: unsupported value \"always\": "
     "supported values: \"Always\""},
    {CTR "    restartPolicy: Always\n",
     "pod.yaml:9:5: spec.containers[0].restartPolicy: not supported yet"},
    {CTR "    restartPolicyRules: [{action: Restart}]\n",
     "pod.yaml:9:5: spec.containers[0].restartPolicyRules: not supported yet"},
    {INIT "    livenessProbe: {exec: {command: [x]}}\n",
     "pod.yaml:12:5: spec.initContainers[0].livenessProbe: may not be set for init containers "
     "without restartPolicy=Always"},
    {INIT "    readinessProbe: {exec: {command: [x]}}\n    restartPolicy: OnFailure\n",
     "pod.yaml:12:5: spec.initContainers[0].readinessProbe: may not be set for init containers "
     "without restartPolicy=Always"},
    {INIT "    startupProbe: {tcpSocket: {port: 80}}\n",
     "pod.yaml:12:5: spec.initContainers[0].startupProbe: may not be set for init containers "
     "without restartPolicy=Always"},
    {INIT "    lifecycle: {}\n",
     "pod.yaml:12:5: spec.initContainers[0].lifecycle: may not be set for init containers "
     "without restartPolicy=Always"},
    /* probes */
    {CTR "    livenessProbe: {}\n",
     "pod.yaml:9:20: spec.containers[0].livenessProbe: must specify a handler type"},
    {CTR "    livenessProbe: []\n",
     "pod.yaml:9:20: spec.containers[0].livenessProbe: expected a mapping, got a list"},
    {CTR "    livenessProbe: {exec: {command: [x]}, tcpSocket: {port: 80}}\n",
     "pod.yaml:9:43: spec.containers[0].livenessProbe.tcpSocket: may not specify more than 1 "
     "handler type"},
    {CTR "    readinessProbe: {grpc: {port: 9090}}\n",
     "pod.yaml:9:22: spec.containers[0].readinessProbe.grpc: not supported yet"},
    {CTR "    livenessProbe: {sleep: {seconds: 1}}\n",
     "pod.yaml:9:21: spec.containers[0].livenessProbe.sleep: unknown field \"sleep\""},
    {CTR "    livenessProbe: {exec: {}}\n",
     "pod.yaml:9:27: spec.containers[0].livenessProbe.exec.command: required value"},
    {CTR "    livenessProbe:\n      exec: {command: []}\n",
     "pod.yaml:10:23: spec.containers[0].livenessProbe.exec.command: required value"},
    {CTR "    livenessProbe: {httpGet: {path: /}}\n",
     "pod.yaml:9:30: spec.containers[0].livenessProbe.httpGet.port: required value"},
    {CTR "    livenessProbe: {httpGet: {port: 0}}\n",
     "pod.yaml:9:37: spec.containers[0].livenessProbe.httpGet.port: invalid value 0: must be "
     "between 1 and 65535, inclusive"},
    {CTR "    livenessProbe: {tcpSocket: {port: 65536}}\n",
     "pod.yaml:9:39: spec.containers[0].livenessProbe.tcpSocket.port: invalid value 65536: must "
     "be between 1 and 65535, inclusive"},
    {CTR "    livenessProbe: {httpGet: {port: HTTP}}\n",
     "pod.yaml:9:37: spec.containers[0].livenessProbe.httpGet.port: invalid value \"HTTP\": must "
     "contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"},
    {CTR "    livenessProbe: {httpGet: {port: '8080'}}\n",
     "pod.yaml:9:37: spec.containers[0].livenessProbe.httpGet.port: invalid value \"8080\": must "
     "contain at least one letter (a-z)"},
    {CTR "    livenessProbe: {httpGet: {port: web}}\n    ports: [{containerPort: 80}]\n",
     "pod.yaml:9:37: spec.containers[0].livenessProbe.httpGet.port: not found: the container has "
     "no port named \"web\""},
    {CTR "    ports: [{name: web, containerPort: 80}]\n  - name: b\n    image: i\n"
         "    readinessProbe: {tcpSocket: {port: web}}\n",
     "pod.yaml:12:40: spec.containers[1].readinessProbe.tcpSocket.port: not found: the container "
     "has no port named \"web\""},
    {CTR "    livenessProbe: {httpGet: {port: 80, scheme: ftp}}\n",
     "pod.yaml:9:49: spec.containers[0].livenessProbe.httpGet.scheme: unsupported value \"ftp\": "
     "supported values: \"HTTP\", \"HTTPS\""},
    {CTR "    livenessProbe:\n      httpGet:\n        port: 80\n"
         "        httpHeaders: [{name: X Probe, value: a}]\n",
     "pod.yaml:12:30: spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name: invalid value "
     "\"X Probe\": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. "
     "'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')"},
    {CTR "    livenessProbe:\n      httpGet:\n        port: 80\n"
         "        httpHeaders: [{value: a}]\n",
     "pod.yaml:12:23: spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name: required "
     "value"},
    {PROBE "      periodSeconds: -1\n",
     "pod.yaml:11:22: spec.containers[0].livenessProbe.periodSeconds: invalid value -1: must be "
     "greater than or equal to 0"},
    {PROBE "      timeoutSeconds: 3000000000\n",
     "pod.yaml:11:23: spec.containers[0].livenessProbe.timeoutSeconds: invalid value 3000000000: "
     "must be less than or equal to 2147483647"},
    {PROBE "      failureThreshold: \"3\"\n",
     "pod.yaml:11:25: spec.containers[0].livenessProbe.failureThreshold: expected an integer, got "
     "the string \"3\""},
    {PROBE "      initialDelaySeconds: 1.5\n",
     "pod.yaml:11:28: spec.containers[0].livenessProbe.initialDelaySeconds: expected an integer, "
     "got \"1.5\""},
    {PROBE "      successThreshold: 2\n",
     "pod.yaml:11:25: spec.containers[0].livenessProbe.successThreshold: invalid value 2: must be "
     "1"},
    {CTR "    startupProbe:\n      exec: {command: [x]}\n      successThreshold: 3\n",
     "pod.yaml:11:25: spec.containers[0].startupProbe.successThreshold: invalid value 3: must be "
     "1"},
    {PROBE "      terminationGracePeriodSeconds: 0\n",
     "pod.yaml:11:38: spec.containers[0].livenessProbe.terminationGracePeriodSeconds: invalid "
     "value 0: must be greater than 0"},
    {PROBE "      terminationGracePeriodSeconds: 99999999999999999999\n",
     "pod.yaml:11:38: spec.containers[0].livenessProbe.terminationGracePeriodSeconds: invalid "
     "value 99999999999999999999: out of range for a 64-bit integer"},
    {CTR
     "    readinessProbe:\n      exec: {command: [x]}\n      terminationGracePeriodSeconds: 5\n",
     "pod.yaml:11:38: spec.containers[0].readinessProbe.terminationGracePeriodSeconds: invalid "
     "value 5: must not be set for readinessProbes"},
    {PROBE "      periodSecond: 5\n",
     "pod.yaml:11:7: spec.containers[0].livenessProbe.periodSecond: unknown field "
     "\"periodSecond\" (did you mean \"periodSeconds\"?)"},
    /* lifecycle hooks */
    {CTR "    lifecycle: x\n",
     "pod.yaml:9:16: spec.containers[0].lifecycle: expected a mapping, got \"x\""},
    {CTR "    lifecycle:\n      postStart: {}\n",
     "pod.yaml:10:18: spec.containers[0].lifecycle.postStart: must specify a handler type"},
    {CTR "    lifecycle:\n      preStop: {sleep: {seconds: 0}}\n",
     "pod.yaml:10:34: spec.containers[0].lifecycle.preStop.sleep.seconds: invalid value 0: must "
     "be greater than 0 and less than terminationGracePeriodSeconds (30)"},
    {CTR "    lifecycle:\n      preStop: {sleep: {seconds: 31}}\n",
     "pod.yaml:10:34: spec.containers[0].lifecycle.preStop.sleep.seconds: invalid value 31: must "
     "be greater than 0 and less than terminationGracePeriodSeconds (30)"},
    {CTR "    lifecycle:\n      preStop: {sleep: {seconds: 10}}\n"
         "  terminationGracePeriodSeconds: 5\n",
     "pod.yaml:10:34: spec.containers[0].lifecycle.preStop.sleep.seconds: invalid value 10: must "
     "be greater than 0 and less than terminationGracePeriodSeconds (5)"},
    {CTR "    lifecycle:\n      preStop: {sleep: {}}\n",
     "pod.yaml:10:24: spec.containers[0].lifecycle.preStop.sleep.seconds: required value"},
    {CTR "    lifecycle:\n      preStop: {exec: {command: [x]}, sleep: {seconds: 1}}\n",
     "pod.yaml:10:39: spec.containers[0].lifecycle.preStop.sleep: may not specify more than 1 "
     "handler type"},
    {CTR "    lifecycle:\n      preStop: {httpGet: {port: admin}}\n",
     "pod.yaml:10:33: spec.containers[0].lifecycle.preStop.httpGet.port: not found: the "
     "container has no port named \"admin\""},
    {CTR "    lifecycle:\n      postStart: {grpc: {port: 1}}\n",
     "pod.yaml:10:19: spec.containers[0].lifecycle.postStart.grpc: unknown field \"grpc\""},
    {CTR "    lifecycle: {postStrat: {exec: {command: [x]}}}\n",
     "pod.yaml:9:17: spec.containers[0].lifecycle.postStrat: unknown field \"postStrat\" (did you "
     "mean \"postStart\"?)"},
    {CTR "    lifecycle: {stopSignal: SIGUSR1}\n",
     "pod.yaml:9:17: spec.containers[0].lifecycle.stopSignal: not supported yet"},
    /* resources */
    {CTR "    resources:\n      limits: {memory: 64Mi, ephemeral-storage: 1Gi}\n",
     "pod.yaml:10:30: spec.containers[0].resources.limits[ephemeral-storage]: not supported yet"},
    {CTR "    resources:\n      requests: {hugepages-2Mi: 1Gi}\n",
     "pod.yaml:10:18: spec.containers[0].resources.requests[hugepages-2Mi]: not supported yet"},
    {CTR "    resources:\n      limits: {nvidia.com/gpu: 1}\n",
     "pod.yaml:10:16: spec.containers[0].resources.limits[nvidia.com/gpu]: unknown resource "
     "\"nvidia.com/gpu\": supported resources: \"cpu\", \"memory\""},
    {CTR "    resources:\n      requests: {memory: 2Gi}\n      limits: {memory: 1Gi}\n",
     "pod.yaml:10:26: spec.containers[0].resources.requests[memory]: invalid value \"2Gi\": must "
     "be less than or equal to memory limit of 1Gi"},
    {CTR "    resources:\n      limits: {cpu: 500m}\n      requests: {cpu: 1}\n",
     "pod.yaml:11:23: spec.containers[0].resources.requests[cpu]: invalid value \"1\": must be "
     "less than or equal to cpu limit of 500m"},
    {CTR "    resources:\n      limits: {cpu: -1}\n",
     "pod.yaml:10:21: spec.containers[0].resources.limits[cpu]: invalid value \"-1\": must be "
     "greater than or equal to 0"},
    {CTR "    resources:\n      limits: {cpu: 20E}\n",
     "pod.yaml:10:21: spec.containers[0].resources.limits[cpu]: invalid value \"20E\": too large"},
    {CTR "    resources:\n      limits: {cpu: one}\n",
     "pod.yaml:10:21: spec.containers[0].resources.limits[cpu]: invalid value \"one\": quantities "
     "must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. "
     "64Mi, 1G, 500M)"},
    {CTR "    resources:\n      requests: {memory: 1x}\n",
     "pod.yaml:10:26: spec.containers[0].resources.requests[memory]: invalid value \"1x\": "
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' "
     "(e.g. 64Mi, 1G, 500M)"},
    {CTR "    resources:\n      limits: {memory: 1500m}\n",
     "pod.yaml:10:24: spec.containers[0].resources.limits[memory]: invalid value \"1500m\": must "
     "be "
     "a whole number of bytes"},
    {CTR "    resources:\n      limits: {memory: [1]}\n",
     "pod.yaml:10:24: spec.containers[0].resources.limits[memory]: expected a string, got a list"},
    {CTR "    resources:\n      limits: {cpu: 1, cpu: 2}\n",
     "pod.yaml:10:24: spec.containers[0].resources.limits[cpu]: duplicate key"},
    {CTR "    resources:\n      limits: [cpu]\n",
     "pod.yaml:10:15: spec.containers[0].resources.limits: expected a mapping, got a list"},
    {CTR "    resources:\n      claims: [{name: gpu}]\n",
     "pod.yaml:10:7: spec.containers[0].resources.claims: not supported yet"},
    {CTR "    resources: {limitz: {}}\n",
     "pod.yaml:9:17: spec.containers[0].resources.limitz: unknown field \"limitz\" (did you mean "
     "\"limits\"?)"},
    /* securityContext of the pod */
    {CTR "  securityContext: {runAsUser: -1}\n",
     "pod.yaml:9:32: spec.securityContext.runAsUser: invalid value -1: must be between 0 and "
     "2147483647, inclusive"},
    {CTR "  securityContext: {supplementalGroups: [1, -2]}\n",
     "pod.yaml:9:45: spec.securityContext.supplementalGroups[1]: invalid value -2: must be "
     "between 0 and 2147483647, inclusive"},
    {CTR "  securityContext: {fsGroup: 1000}\n",
     "pod.yaml:9:21: spec.securityContext.fsGroup: not supported yet"},
    {CTR "  securityContext: {sysctls: [{name: a, value: b}]}\n",
     "pod.yaml:9:21: spec.securityContext.sysctls: not supported yet"},
    {CTR "  securityContext: {privileged: true}\n",
     "pod.yaml:9:21: spec.securityContext.privileged: unknown field \"privileged\""},
    {CTR "  securityContext:\n    seccompProfile: {type: Localhost, localhostProfile: p.json}\n",
     "pod.yaml:10:28: spec.securityContext.seccompProfile.type: \"Localhost\" is not supported "
     "yet"},
    {CTR "  securityContext:\n    seccompProfile: {type: Bogus}\n",
     "pod.yaml:10:28: spec.securityContext.seccompProfile.type: unsupported value \"Bogus\": "
     "supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""},
    {CTR "  securityContext:\n    seccompProfile: {}\n",
     "pod.yaml:10:21: spec.securityContext.seccompProfile.type: required value"},
    {CTR "  securityContext:\n    seccompProfile: {type: RuntimeDefault, localhostProfile: x}\n",
     "pod.yaml:10:62: spec.securityContext.seccompProfile.localhostProfile: invalid value \"x\": "
     "can only be set when seccomp type is Localhost"},
    /* securityContext of a container */
    {CTR "    securityContext: []\n",
     "pod.yaml:9:22: spec.containers[0].securityContext: expected a mapping, got a list"},
    {CTR "    securityContext:\n      appArmorProfile: {type: Unconfined, localhostProfile: x}\n",
     "pod.yaml:10:61: spec.containers[0].securityContext.appArmorProfile.localhostProfile: "
     "invalid value \"x\": can only be set when AppArmor type is Localhost"},
    {CTR "    securityContext:\n      privileged: true\n      allowPrivilegeEscalation: false\n",
     "pod.yaml:11:33: spec.containers[0].securityContext.allowPrivilegeEscalation: cannot set "
     "`allowPrivilegeEscalation` to false and `privileged` to true"},
    {CTR "    securityContext:\n      allowPrivilegeEscalation: false\n"
         "      capabilities: {add: [CAP_SYS_ADMIN]}\n",
     "pod.yaml:10:33: spec.containers[0].securityContext.allowPrivilegeEscalation: cannot set "
     "`allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"},
    {CTR "    securityContext:\n      capabilities: {add: [net_admin]}\n",
     "pod.yaml:10:28: spec.containers[0].securityContext.capabilities.add[0]: invalid value "
     "\"net_admin\": a capability must consist of upper case letters, digits and '_' (such as "
     "NET_ADMIN or CAP_NET_ADMIN), or be ALL"},
    {CTR "    securityContext:\n      capabilities: {drop: [KILL, CAP_NET_FOO]}\n",
     "pod.yaml:10:35: spec.containers[0].securityContext.capabilities.drop[1]: invalid value "
     "\"CAP_NET_FOO\": unknown capability \"NET_FOO\""},
    {CTR "    securityContext:\n      capabilities: {add: [CAP_CAP_CHOWN]}\n",
     "pod.yaml:10:28: spec.containers[0].securityContext.capabilities.add[0]: invalid value "
     "\"CAP_CAP_CHOWN\": unknown capability \"CAP_CHOWN\""},
    {CTR "    securityContext:\n      capabilities: {drop: [CAP_ALL]}\n",
     "pod.yaml:10:29: spec.containers[0].securityContext.capabilities.drop[0]: invalid value "
     "\"CAP_ALL\": ALL is written without \"CAP_\""},
    {CTR "    securityContext:\n      capabilities: {add: ['']}\n",
     "pod.yaml:10:28: spec.containers[0].securityContext.capabilities.add[0]: required value"},
    {CTR "    securityContext:\n      capabilities: {add: NET_ADMIN}\n",
     "pod.yaml:10:27: spec.containers[0].securityContext.capabilities.add: expected a list, got "
     "\"NET_ADMIN\""},
    {CTR "    securityContext: {runAsNonRoot: \"true\"}\n",
     "pod.yaml:9:37: spec.containers[0].securityContext.runAsNonRoot: expected true or false, got "
     "the string \"true\""},
    {CTR "    securityContext: {runAsGroup: 2147483648}\n",
     "pod.yaml:9:35: spec.containers[0].securityContext.runAsGroup: invalid value 2147483648: "
     "must be between 0 and 2147483647, inclusive"},
    {CTR "    securityContext: {supplementalGroups: [1]}\n",
     "pod.yaml:9:23: spec.containers[0].securityContext.supplementalGroups: unknown field "
     "\"supplementalGroups\""},
    {CTR "    securityContext: {seLinuxOptions: {level: s0}}\n",
     "pod.yaml:9:23: spec.containers[0].securityContext.seLinuxOptions: not supported yet"},
    {CTR "    securityContext: {windowsOptions: {runAsUserName: x}}\n",
     "pod.yaml:9:23: spec.containers[0].securityContext.windowsOptions: not supported yet"},
    {CTR "    securityContext: {procMount: Unmasked}\n",
     "pod.yaml:9:34: spec.containers[0].securityContext.procMount: \"Unmasked\" is not supported "
     "yet"},
    {CTR "    securityContext: {procMount: Bogus}\n",
     "pod.yaml:9:34: spec.containers[0].securityContext.procMount: unsupported value \"Bogus\": "
     "supported values: \"Default\", \"Unmasked\""},
    /* ConfigMaps and Secrets */
    {CM "data:\n  a b: c\n" NEXT, "pod.yaml:6:3: data: invalid key \"a b\": a valid config key "
                                  "must consist of alphanumeric characters, '-', '_' or '.'"},
    {CM "data:\n  a: [b]\n" NEXT, "pod.yaml:6:6: data[a]: expected a string, got a list"},
    {CM "data:\n  a: b\n  a: c\n" NEXT, "pod.yaml:7:3: data[a]: duplicate key"},
    {CM "data:\n  a: b\nbinaryData:\n  a: YQ==\n" NEXT,
     "pod.yaml:8:3: binaryData[a]: duplicate of key present in data"},
    {CM "binaryData:\n  a: YQ=\n" NEXT,
     "pod.yaml:6:6: binaryData[a]: invalid value: illegal base64 data at input byte 3"},
    {CM "datta: {}\n" NEXT, "pod.yaml:5:1: datta: unknown field \"datta\" (did you mean "
                            "\"data\"?)"},
    {CM "immutable: 1\n" NEXT, "pod.yaml:5:12: immutable: expected true or false, got \"1\""},
    {"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Cm\n" NEXT,
     "pod.yaml:4:9: metadata.name: invalid value \"Cm\": a lowercase RFC 1123 subdomain must "
     "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
     "alphanumeric character"},
    {"apiVersion: v1\nkind: ConfigMap\ndata: {}\n" NEXT,
     "pod.yaml:1:1: metadata.name: required value"},
    {CM "---\n" CM NEXT,
     "pod.yaml:9:9: metadata.name: duplicate value \"cm\": another ConfigMap of this name is in "
     "the manifest"},
    {SECRET "data:\n  password: s3cr3t!\n" NEXT,
     "pod.yaml:6:13: data[password]: invalid value: illegal base64 data at input byte 6"},
    {SECRET "data:\n  password: czNjcjN\n" NEXT,
     "pod.yaml:6:13: data[password]: invalid value: illegal base64 data at input byte 7"},
    {SECRET "data:\n  password: czNjcj=0\n" NEXT,
     "pod.yaml:6:13: data[password]: invalid value: illegal base64 data at input byte 7"},
    {SECRET "strinData: {}\n" NEXT, "pod.yaml:5:1: strinData: unknown field \"strinData\" (did "
                                    "you mean \"stringData\"?)"},
    {SECRET "type: kubernetes.io/tls\nstringData: {tls.crt: x}\n" NEXT,
     "pod.yaml:1:1: data[tls.key]: required value (for type kubernetes.io/tls)"},
    {SECRET "stringData:\n  .a: x\n  ..b: y\n" NEXT,
     "pod.yaml:7:3: stringData: invalid key \"..b\": must not start with '..'"},
    {SECRET "---\n" SECRET NEXT, "pod.yaml:9:9: metadata.name: duplicate value \"s\": another "
                                 "Secret of this name is in the manifest"},
    {SECRET "metadata: {}\n" NEXT, "pod.yaml:5:1: metadata: duplicate key"},
};

static void test_bad(void **state)
{
    size_t failed = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bad[i].err == NULL) {
            shim_manifest_free(parse_ok(bad[i].yaml)); /* a trailing comma is fine */
            continue;
        }
        failed += !bad_is(bad[i].yaml, bad[i].err);
    }
    assert_int_equal(failed, 0);
}

/* ---- limits and hostile input ---------------------------------------------------------- */

static void test_limits(void **state)
{
    size_t cap = 64 * 1024;
    char *yaml = malloc(cap);
    size_t n;

    (void)state;
    assert_non_null(yaml);
    n = (size_t)snprintf(yaml, cap, POD "  containers:\n");
    for (int i = 0; i < 1001; i++) {
        n += (size_t)snprintf(yaml + n, cap - n, "  - {name: c%d, image: i}\n", i);
    }
    parse_bad(yaml, "pod.yaml:7:3: spec.containers: too many items (1001): at most 1000");
    free(yaml);

    /* 10001 env entries; a ConfigMap of more than 1 MiB. */
    cap = 2 << 20;
    yaml = malloc(cap);
    assert_non_null(yaml);
    n = (size_t)snprintf(yaml, cap, CTR "    env:\n");
    for (int i = 0; i < 10001; i++) {
        n += (size_t)snprintf(yaml + n, cap - n, "    - {name: A}\n");
    }
    parse_bad(yaml, "pod.yaml:10:5: spec.containers[0].env: too many items (10001): at most 10000");
    n = (size_t)snprintf(yaml, cap, CM "data:\n  a: ");
    memset(yaml + n, 'x', 1024 * 1024);
    snprintf(yaml + n + 1024 * 1024, cap - n - 1024 * 1024, "\n" NEXT);
    parse_bad(yaml, "pod.yaml:6:6: data[a]: too long: must have at most 1048576 bytes");
    free(yaml);

    /* A file one byte too large is refused before it is parsed. */
    char *big = calloc(SHIM_MANIFEST_FILE_MAX + 1, 1);
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX];
    assert_non_null(big);
    memset(big, '#', SHIM_MANIFEST_FILE_MAX + 1);
    assert_int_equal(
        shim_manifest_parse("pod.yaml", big, SHIM_MANIFEST_FILE_MAX + 1, &m, err, sizeof(err)), -1);
    assert_string_equal(err, "pod.yaml: larger than 4194304 bytes");
    free(big);

    /* A small error buffer gets the start of the line. */
    char small[16];
    assert_int_equal(shim_manifest_parse("pod.yaml", "kind: Job\n", 10, &m, small, sizeof(small)),
                     -1);
    assert_string_equal(small, "pod.yaml:1:7: k");
    assert_int_equal(shim_manifest_parse("pod.yaml", "kind: Job\n", 10, &m, NULL, 0), -1);
    assert_null(m);
}

static void test_aliases(void **state)
{
    (void)state;
    /* Aliases of ancestors make libyaml's graph cyclic; the walk follows the schema, so
     * it ends with an error where the shape is wrong. */
    parse_bad(CTR "    env: &e [{name: A, valueFrom: *e}]\n",
              "pod.yaml:9:10: spec.containers[0].env[0].valueFrom: expected a mapping, got a "
              "list");
    parse_bad("&r {apiVersion: v1, kind: Pod, metadata: *r, spec: *r}\n",
              "pod.yaml:1:5: metadata.apiVersion: unknown field \"apiVersion\"");
    parse_bad(POD "  containers: &c\n  - name: a\n    image: i\n    command: *c\n",
              "pod.yaml:7:5: spec.containers[0].command[0]: expected a string, got a mapping");
    parse_bad(POD "  containers:\n  - name: a\n    image: i\n    args: &s [x, y]\n"
                  "  - name: b\n    image: i\n    args: [*s, *s]\n",
              "pod.yaml:9:11: spec.containers[1].args[0]: expected a string, got a list");

    /* Sharing whole lists multiplies the walk: it is bounded by the input's size. Here
     * 1000 containers share one env list of 10000 entries (10 million to walk). */
    size_t cap = 1 << 20;
    char *big = malloc(cap);
    size_t n;
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX];

    assert_non_null(big);
    n = (size_t)snprintf(big, cap, POD "  containers:\n  - name: c0\n    image: i\n    env: &e\n");
    for (int i = 0; i < 10000; i++) {
        n += (size_t)snprintf(big + n, cap - n, "    - {name: V, value: y}\n");
    }
    for (int i = 1; i < 1000; i++) {
        n += (size_t)snprintf(big + n, cap - n, "  - {name: c%d, image: i, env: *e}\n", i);
    }
    assert_int_equal(shim_manifest_parse("pod.yaml", big, n, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ": too many nodes: the manifest grows too large once its "
                                "aliases are expanded"));
    free(big);
}

/* ---- files ----------------------------------------------------------------------------- */

static struct shim_manifest *load_ok(const char *rel)
{
    char path[4096];
    char err[SHIM_ERR_MAX] = "";
    struct shim_manifest *m = NULL;

    snprintf(path, sizeof(path), "%s/%s", top(), rel);
    if (shim_manifest_load(path, &m, err, sizeof(err)) != 0) {
        fail_msg("%s: %s", rel, err);
    }
    return m;
}

static void test_sample_files(void **state)
{
    struct shim_manifest *m = load_ok("tests/manifests/kubectl-run.yaml");
    char path[4096];

    (void)state;
    assert_int_equal(m->nnotes, 3);
    snprintf(path, sizeof(path),
             "%s/tests/manifests/kubectl-run.yaml:14:5: "
             "spec.containers[0].resources: accepted, no effect: empty",
             top());
    assert_string_equal(m->notes[0], path);
    *strstr(path, ":14:5:") = '\0';
    assert_string_equal(m->pod->containers[0].mark.file, path);
    shim_manifest_free(m);

    m = load_ok("tests/manifests/init-web.yaml");
    const struct shim_pod *p = m->pod;
    assert_string_equal(p->name, "init-web");
    assert_string_equal(p->namespace, "demo");
    assert_int_equal(p->restart_policy, SHIM_RESTART_ON_FAILURE);
    assert_int_equal(p->termination_grace_period, 5);
    assert_int_equal(p->ninit_containers, 1);
    assert_int_equal(p->ncontainers, 2);
    assert_int_equal(p->nvolumes, 5);
    assert_int_equal(p->volumes[3].default_mode, 0640);
    assert_int_equal(p->volumes[3].items[0].mode, 0600);
    assert_int_equal(p->volumes[4].default_mode, 0400);
    assert_int_equal(p->containers[0].nenv, 5);
    assert_int_equal(p->containers[0].nports, 2);
    assert_int_equal(p->containers[0].nmounts, 5);
    assert_int_equal(p->nhost_aliases, 2);
    const struct shim_configmap *cm = shim_manifest_configmap(m, "web-config");
    const struct shim_secret *s = shim_manifest_secret(m, "web-secret");
    assert_non_null(cm);
    assert_non_null(s);
    assert_int_equal(cm->ndata, 3);
    assert_int_equal(cm->data[2].value_len, 8); /* the PNG signature */
    assert_memory_equal(cm->data[2].value, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal(s->ndata, 2);
    assert_string_equal(s->data[1].key, "token");
    assert_string_equal(s->data[1].value, "new");
    assert_int_equal(m->nnotes, 2);
    shim_manifest_free(m);

    /* Part 2: a sidecar, probes, hooks, resources and securityContext. */
    m = load_ok("tests/manifests/sidecar-web.yaml");
    p = m->pod;
    const struct shim_container *side = &p->init_containers[1];
    const struct shim_container *web = &p->containers[0];
    assert_int_equal(p->termination_grace_period, 20);
    assert_int_equal(p->security.run_as_user, 1000);
    assert_int_equal(p->security.run_as_non_root, 1);
    assert_int_equal(p->security.nsupplemental_groups, 2);
    assert_int_equal(p->security.supplemental_groups[1], 27);
    assert_false(p->init_containers[0].sidecar);
    assert_true(side->sidecar);
    assert_int_equal(side->startup.handler.type, SHIM_HANDLER_EXEC);
    assert_int_equal(side->startup.period_seconds, 1);
    assert_int_equal(side->startup.failure_threshold, 30);
    assert_int_equal(side->liveness.handler.type, SHIM_HANDLER_TCP);
    assert_string_equal(side->liveness.handler.host, "127.0.0.1");
    assert_int_equal(side->liveness.handler.port, 24224);
    assert_int_equal(side->liveness.termination_grace_period, 5);
    assert_int_equal(side->post_start.type, SHIM_HANDLER_EXEC);
    assert_int_equal(side->pre_stop.sleep_seconds, 2);
    assert_int_equal(side->resources.cpu_request_millis, 50);
    assert_int_equal(side->resources.cpu_limit_millis, 100);
    assert_int_equal(side->resources.memory_request, 32ull << 20);
    assert_int_equal(side->resources.memory_limit, 64ull << 20);
    assert_string_equal(web->readiness.handler.port_name, "http");
    assert_string_equal(web->readiness.handler.path, "/healthz");
    assert_int_equal(web->readiness.handler.nheaders, 2);
    assert_string_equal(web->readiness.handler.headers[1].value, "text/plain");
    assert_int_equal(web->readiness.success_threshold, 2);
    assert_int_equal(web->liveness.handler.port, 8080);
    assert_int_equal(web->post_start.type, SHIM_HANDLER_TCP);
    assert_string_equal(web->post_start.port_name, "admin");
    assert_string_equal(web->pre_stop.host, "localhost");
    assert_string_equal(web->pre_stop.scheme, "HTTPS");
    assert_int_equal(web->resources.cpu_request_millis, 1500); /* the limit's */
    assert_int_equal(web->resources.memory_request, 128ull << 20);
    assert_int_equal(web->security.read_only_root_fs, 1);
    assert_int_equal(web->security.allow_privilege_escalation, 0);
    assert_int_equal(web->security.privileged, 0);
    assert_string_equal(web->security.cap_add[0], "NET_BIND_SERVICE");
    assert_string_equal(web->security.cap_add[1], "NET_RAW");
    assert_string_equal(web->security.cap_drop[0], "ALL");
    assert_int_equal(m->nnotes, 4); /* seccomp and AppArmor twice, procMount Default */
    shim_manifest_free(m);
}

static void test_bad_files(void **state)
{
    static const struct {
        const char *file;
        const char *err;
    } files[] = {
        {"bad-resources.yaml",
         "12:19: spec.containers[0].resources.requests[memory]: invalid value \"128Mi\": must be "
         "less than or equal to memory limit of 64Mi"},
        {"bad-second-pod.yaml",
         "11:7: kind: a second Pod: a manifest holds one Pod (the first is \"one\" at line 4)"},
        {"bad-secret-base64.yaml",
         "6:13: data[password]: invalid value: illegal base64 data at input byte 6"},
        {"bad-missing-volume.yaml",
         "10:17: spec.containers[0].volumeMounts[0].name: not found: no volume \"data\""},
        {"bad-kind.yaml", "2:7: kind: unsupported kind \"Deployment\": a manifest holds one Pod "
                          "and the ConfigMaps and Secrets it uses"},
        {"bad-syntax.yaml",
         "5:2: YAML syntax error: did not find expected key while parsing a block mapping"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[2048], want[4096];
        char err[SHIM_ERR_MAX];
        struct shim_manifest *m = NULL;
        snprintf(path, sizeof(path), "%s/tests/manifests/%s", top(), files[i].file);
        snprintf(want, sizeof(want), "%s:%s", path, files[i].err);
        assert_int_equal(shim_manifest_load(path, &m, err, sizeof(err)), -1);
        assert_null(m);
        assert_string_equal(err, want);
    }
}

/* s with every from replaced by to, malloc'd. */
static char *replaced(const char *s, const char *from, const char *to)
{
    size_t n = 0, fl = strlen(from), tl = strlen(to);
    char *out, *o;

    for (const char *p = s; (p = strstr(p, from)) != NULL; p += fl) {
        n++;
    }
    out = malloc(strlen(s) + n * tl + 1);
    assert_non_null(out);
    o = out;
    for (const char *p = s, *hit; *p != '\0'; p = hit + fl) {
        hit = strstr(p, from);
        if (hit == NULL) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tl);
        o += tl;
    }
    *o = '\0';
    return out;
}

/* Every pod the end-to-end tests run parses, with the words their tests replace (HOSTPORT,
 * HOSTDIR) replaced as they do. */
static void test_e2e_pods(void **state)
{
    char pattern[4096];
    glob_t g;

    (void)state;
    snprintf(pattern, sizeof(pattern), "%s/tests/e2e/pods/*.yaml", top());
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 5);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        char *text = calloc(1, SHIM_MANIFEST_FILE_MAX);
        char err[SHIM_ERR_MAX];
        struct shim_manifest *m = NULL;
        assert_non_null(f);
        assert_non_null(text);
        assert_true(fread(text, 1, SHIM_MANIFEST_FILE_MAX - 1, f) > 0);
        fclose(f);
        char *port = replaced(text, "HOSTPORT", "18080");
        char *dir = replaced(port, "HOSTDIR", "/tmp/podkit-test");
        if (shim_manifest_parse(g.gl_pathv[i], dir, strlen(dir), &m, err, sizeof(err)) != 0) {
            fail_msg("%s", err);
        }
        assert_true(m->pod->ncontainers > 0);
        shim_manifest_free(m);
        free(dir);
        free(port);
        free(text);
    }
    globfree(&g);
}

static void test_load_errors(void **state)
{
    char err[SHIM_ERR_MAX];
    struct shim_manifest *m = (struct shim_manifest *)1;
    char tmp[] = "/tmp/test_manifest.XXXXXX";
    int fd, saved;

    (void)state;
    assert_int_equal(shim_manifest_load("/nonexistent.yaml", &m, err, sizeof(err)), -1);
    assert_null(m);
    assert_string_equal(err, "/nonexistent.yaml: cannot open: No such file or directory");
    assert_int_equal(shim_manifest_load("/", &m, err, sizeof(err)), -1);
    assert_string_equal(err, "/: not a regular file");

    /* "-" is stdin, named <stdin> in messages. */
    fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, CTR "    bad: 1\n", strlen(CTR) + 11), (ssize_t)strlen(CTR) + 11);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    saved = dup(0);
    assert_int_equal(dup2(fd, 0), 0);
    assert_int_equal(shim_manifest_load("-", &m, err, sizeof(err)), -1);
    assert_string_equal(err, "<stdin>:9:5: spec.containers[0].bad: unknown field \"bad\"");
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(write(fd, CTR, strlen(CTR)), (ssize_t)strlen(CTR));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(shim_manifest_load("-", &m, err, sizeof(err)), 0);
    assert_string_equal(m->pod->containers[0].mark.file, "<stdin>");
    shim_manifest_free(m);
    dup2(saved, 0);
    close(saved);
    close(fd);
    unlink(tmp);
}

/* ---- $(VAR) expansion ------------------------------------------------------------------ */

static void test_expand(void **state)
{
    static char *const env[] = {"A=one", "B=", "C=x=y", "A=last", "DOLLAR=$(A)"};
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"", ""},
        {"plain", "plain"},
        {"$(A)", "last"}, /* the last definition wins */
        {"<$(A)>", "<last>"},
        {"$(A)$(A)", "lastlast"},
        {"$(B)", ""},
        {"$(C)", "x=y"},
        {"$(A=one)", "$(A=one)"},
        {"$(DOLLAR)", "$(A)"}, /* values are not expanded again */
        {"$(UNDEFINED)", "$(UNDEFINED)"},
        {"$$", "$"},
        {"$$(A)", "$(A)"},
        {"$$$(A)", "$last"},
        {"$$$$", "$$"},
        {"$", "$"},
        {"a$", "a$"},
        {"$x", "$x"},
        {"$(", "$("},
        {"$(A", "$(A"},
        {"x$(A y", "x$(A y"},
        {"$()", "$()"},
        {"$($(A))", "$($(A))"},
        {"$(A)$(", "last$("},
        {"100$", "100$"},
        {"$$(A", "$(A"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = shim_expand(cases[i].in, env, sizeof(env) / sizeof(env[0]));
        assert_non_null(got);
        if (strcmp(got, cases[i].out) != 0) {
            fail_msg("expand(\"%s\") = \"%s\", want \"%s\"", cases[i].in, got, cases[i].out);
        }
        free(got);
    }
    char *got = shim_expand("$(A)", NULL, 0);
    assert_string_equal(got, "$(A)");
    free(got);
}

/* ---- the arena ------------------------------------------------------------------------- */

static void test_arena(void **state)
{
    struct shim_arena *a = shim_arena_create(1024, 64 * 1024);
    char *s, *big;
    int *v;

    (void)state;
    assert_non_null(a);
    for (int i = 0; i < 100; i++) {
        char *p = shim_arena_alloc(a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        for (int j = 0; j < i; j++) {
            assert_int_equal(p[j], 0); /* zeroed */
        }
        memset(p, 0xff, (size_t)i);
    }
    s = shim_arena_strndup(a, "hello", 3);
    assert_string_equal(s, "hel");
    s = shim_arena_memdup(a, "a\0b", 3);
    assert_memory_equal(s, "a\0b\0", 4);
    assert_string_equal(shim_arena_strdup(a, ""), "");
    big = shim_arena_alloc(a, 10000); /* a chunk of its own */
    assert_non_null(big);
    big[9999] = 1;
    v = shim_arena_array(a, 10, sizeof(*v));
    assert_non_null(v);
    assert_int_equal(v[9], 0);
    assert_null(shim_arena_array(a, SIZE_MAX / 2, 4)); /* overflow */
    assert_int_equal(errno, E2BIG);
    assert_null(shim_arena_alloc(a, 64 * 1024)); /* over the cap */
    assert_int_equal(errno, E2BIG);
    assert_non_null(shim_arena_alloc(a, 16)); /* still usable */
    assert_true(shim_arena_size(a) <= 64 * 1024);
    shim_arena_destroy(a);
    shim_arena_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_kubectl_notes),
        cmocka_unit_test(test_more_notes),
        cmocka_unit_test(test_pod_fields),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_ports_and_mounts),
        cmocka_unit_test(test_volumes),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_configmaps_and_secrets),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_sidecars),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_sample_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_e2e_pods),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_arena),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
