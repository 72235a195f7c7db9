/* test_shim_env.c — container environments and argv, /etc/hosts, ages and -o yaml. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shim_env.h"
#include "shim_manifest.h"
#include "shim_sandbox.h"
#include "shim_status.h"

static const char doc[] =
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata: {name: cm}\n"
    "data: {A: from-cm, B: cm-b, 1BAD: skipped}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Secret\n"
    "metadata: {name: sec}\n"
    "stringData: {pw: hunter2}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata: {name: p, namespace: ns1, uid: u-1}\n"
    "spec:\n"
    "  containers:\n"
    "  - name: c\n"
    "    image: x\n"
    "    command: [echo, '$(A)', '$$(A)', '$(UNDEFINED)', '$(PW)$$']\n"
    "    args: ['$(NAME)']\n"
    "    envFrom:\n"
    "    - configMapRef: {name: cm}\n"
    "      prefix: CM_\n"
    "    - configMapRef: {name: cm}\n"
    "    env:\n"
    "    - {name: B, value: 'b=$(B)'}\n"
    "    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
    "    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}\n"
    "    - {name: PW, valueFrom: {secretKeyRef: {name: sec, key: pw}}}\n"
    "    - {name: OPT, valueFrom: {secretKeyRef: {name: gone, key: k, "
    "optional: true}}}\n"
    "    - {name: LATE, value: '$(EARLY)'}\n"
    "    - {name: EARLY, value: e}\n"
    "    - {name: HOME, value: /home/x}\n"
    "  - name: bad\n"
    "    image: x\n"
    "    command: ['true']\n"
    "    env:\n"
    "    - {name: X, valueFrom: {configMapKeyRef: {name: cm, key: nope}}}\n"
    "  - name: noargs\n"
    "    image: x\n";

static struct shim_manifest *parse(void)
{
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX];

    if (shim_manifest_parse("t.yaml", doc, strlen(doc), &m, err, sizeof(err)) < 0) {
        fail_msg("parse: %s", err);
    }
    return m;
}

static void test_env_order_and_sources(void **state)
{
    struct shim_manifest *m = parse();
    struct shim_env_pod ep = {"p", "127.0.0.1"};
    char err[256];
    static const char *const want[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=p",
        "HOME=/home/x", /* a later definition replaces the default in place */
        "CM_A=from-cm",
        "CM_B=cm-b",
        "CM_1BAD=skipped", /* with the prefix the name is valid */
        "A=from-cm",       /* without it, 1BAD is not, and is skipped */
        "B=b=cm-b",        /* $(B) refers to the envFrom value defined before it */
        "NAME=p",
        "NS=ns1",
        "PW=hunter2",
        "LATE=$(EARLY)", /* only earlier variables expand */
        "EARLY=e",
        NULL,
    };
    (void)state;

    char **env = shim_env_build(m, &m->pod->containers[0], &ep, err, sizeof(err));
    assert_non_null(env);
    for (size_t i = 0; want[i] != NULL || env[i] != NULL; i++) {
        if (want[i] == NULL || env[i] == NULL || strcmp(want[i], env[i]) != 0) {
            fail_msg("env[%zu] is '%s', want '%s'", i, env[i] ? env[i] : "(end)",
                     want[i] ? want[i] : "(end)");
        }
    }
    char **argv = shim_argv_build(&m->pod->containers[0], env, err, sizeof(err));
    assert_non_null(argv);
    assert_string_equal(argv[0], "echo");
    assert_string_equal(argv[1], "from-cm");
    assert_string_equal(argv[2], "$(A)");
    assert_string_equal(argv[3], "$(UNDEFINED)");
    assert_string_equal(argv[4], "hunter2$");
    assert_string_equal(argv[5], "p");
    assert_null(argv[6]);
    shim_strv_free(argv);
    shim_strv_free(env);

    assert_null(shim_env_build(m, &m->pod->containers[1], &ep, err, sizeof(err)));
    assert_string_equal(err, "env X: configmap \"cm\" has no key \"nope\"");
    env = shim_env_build(m, &m->pod->containers[2], &ep, err, sizeof(err));
    assert_non_null(env);
    assert_null(shim_argv_build(&m->pod->containers[2], env, err, sizeof(err)));
    assert_non_null(strstr(err, "no command"));
    shim_strv_free(env);
    shim_manifest_free(m);
}

static void test_hosts_file(void **state)
{
    char *ips[] = {"127.0.0.2", "::1"};
    char *names[] = {"db.local\tcache", "six"};
    (void)state;

    char *h = shim_hosts_file("web", "127.0.0.1", ips, names, 2);
    assert_non_null(h);
    assert_non_null(strstr(h, "127.0.0.1\tlocalhost\n"));
    assert_non_null(strstr(h, "127.0.0.1\tweb\n"));
    assert_non_null(
        strstr(h, "\n# Entries added by HostAliases.\n127.0.0.2\tdb.local\tcache\n::1\tsix\n"));
    free(h);
    h = shim_hosts_file("web", "127.0.0.1", NULL, NULL, 0);
    assert_null(strstr(h, "HostAliases"));
    free(h);
}

static void test_age(void **state)
{
    static const struct {
        long long s;
        const char *want;
    } t[] = {{-3, "0s"},    {0, "0s"},       {59, "59s"},   {119, "119s"},
             {125, "2m5s"}, {599, "9m59s"},  {600, "10m"},  {10799, "179m"},
             {10800, "3h"}, {172799, "47h"}, {172800, "2d"}};
    char buf[16];
    (void)state;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        shim_age(t[i].s, buf, sizeof(buf));
        if (strcmp(buf, t[i].want) != 0) {
            fail_msg("age(%lld) = %s, want %s", t[i].s, buf, t[i].want);
        }
    }
}

static void test_json_to_yaml(void **state)
{
    const char *json = "{\"a\":\"x\",\"n\":1,\"t\":\"true\",\"num\":\"80\",\"e\":\"\","
                       "\"l\":[{\"k\":\"v w\"},2],\"o\":{}}";
    char *out = NULL;
    size_t len = 0;
    char err[128];
    FILE *f = open_memstream(&out, &len);
    (void)state;

    assert_int_equal(shim_json_to_yaml(json, f, err, sizeof(err)), 0);
    fclose(f);
    /* "n" stays quoted: YAML 1.1 reads a bare n as false. */
    assert_string_equal(
        out, "a: x\n\"n\": 1\nt: \"true\"\nnum: \"80\"\ne: \"\"\nl:\n- k: v w\n- 2\no: {}\n");
    free(out);

    f = open_memstream(&out, &len);
    assert_int_equal(shim_json_to_yaml("{\"a\":", f, err, sizeof(err)), -1);
    fclose(f);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_order_and_sources),
        cmocka_unit_test(test_hosts_file),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_json_to_yaml),
    };
    return cmocka_run_group_tests_name("shim_env", tests, NULL, NULL);
}
