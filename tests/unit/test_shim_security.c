/* test_shim_security.c — merging pod and container securityContext into a plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shim_security.h"

static void unset(struct shim_security_context *s)
{
    memset(s, 0, sizeof(*s));
    s->run_as_user = s->run_as_group = -1;
    s->run_as_non_root = s->read_only_root_fs = s->allow_privilege_escalation = -1;
    s->privileged = -1;
}

#define CAP(name) (1ull << shim_security_cap_number(name))

static void test_defaults(void **state)
{
    struct shim_pod pod = {.name = "p"};
    struct shim_container c = {.name = "c"};
    struct shim_sec_plan plan;
    char err[256];
    (void)state;

    unset(&pod.security);
    unset(&c.security);
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), 0);
    assert_false(plan.set_uid);
    assert_false(plan.set_gid);
    assert_int_equal(plan.ngroups, 0);
    assert_true(plan.caps == shim_security_default_caps());
    assert_int_equal(__builtin_popcountll(plan.caps), 14);
    assert_true(plan.caps & CAP("NET_BIND_SERVICE"));
    assert_false(plan.caps & CAP("SYS_ADMIN"));
    assert_false(plan.no_new_privs); /* Kubernetes allows privilege escalation by default */
    assert_false(plan.read_only_root);
}

static void test_merge_and_caps(void **state)
{
    struct shim_pod pod = {.name = "p"};
    struct shim_container c = {.name = "c"};
    struct shim_sec_plan plan;
    char err[256];
    long long groups[] = {2000, 3000};
    char *drop_all[] = {"ALL", NULL};
    char *add[] = {"NET_ADMIN", "CAP_SYS_TIME", NULL};
    char *bad[] = {"FLY", NULL};
    (void)state;

    unset(&pod.security);
    unset(&c.security);
    pod.security.run_as_user = 1000;
    pod.security.run_as_group = 100;
    pod.security.supplemental_groups = groups;
    pod.security.nsupplemental_groups = 2;
    c.security.run_as_user = 1001; /* the container wins */
    c.security.cap_drop = drop_all;
    c.security.ncap_drop = 1;
    c.security.cap_add = add;
    c.security.ncap_add = 2;
    c.security.allow_privilege_escalation = 0;
    c.security.read_only_root_fs = 1;
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), 0);
    assert_true(plan.set_uid);
    assert_int_equal(plan.uid, 1001);
    assert_int_equal(plan.gid, 100);
    assert_int_equal(plan.ngroups, 2);
    assert_int_equal(plan.groups[1], 3000);
    assert_true(plan.caps == (CAP("NET_ADMIN") | CAP("SYS_TIME")));
    assert_true(plan.no_new_privs);
    assert_true(plan.read_only_root);

    c.security.privileged = 1; /* every capability, and escalation allowed */
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), 0);
    assert_int_equal(__builtin_popcountll(plan.caps), 41);
    assert_false(plan.no_new_privs);

    c.security.privileged = -1;
    c.security.cap_add = bad;
    c.security.ncap_add = 1;
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown capability FLY");
}

static void test_run_as_non_root(void **state)
{
    struct shim_pod pod = {.name = "web"};
    struct shim_container c = {.name = "app"};
    struct shim_sec_plan plan;
    char err[256];
    (void)state;

    unset(&pod.security);
    unset(&c.security);
    pod.security.run_as_non_root = 1;
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), -1);
    assert_string_equal(err, "container has runAsNonRoot and image will run as root (pod: web, "
                             "container: app)");
    c.security.run_as_user = 0;
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), -1);
    c.security.run_as_user = 65534;
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), 0);
    c.security.run_as_non_root = 0; /* the container's false wins over the pod's true */
    c.security.run_as_user = -1;
    assert_int_equal(shim_security_plan(&pod, &c, &plan, err, sizeof(err)), 0);
}

static void test_cap_names(void **state)
{
    (void)state;
    assert_int_equal(shim_security_cap_number("CHOWN"), 0);
    assert_int_equal(shim_security_cap_number("CAP_SYS_ADMIN"), 21);
    assert_int_equal(shim_security_cap_number("CHECKPOINT_RESTORE"), 40);
    assert_int_equal(shim_security_cap_number("chown"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_merge_and_caps),
        cmocka_unit_test(test_run_as_non_root),
        cmocka_unit_test(test_cap_names),
    };
    return cmocka_run_group_tests_name("shim_security", tests, NULL, NULL);
}
