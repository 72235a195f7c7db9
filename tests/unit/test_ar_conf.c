/* test_ar_conf.c — ambassador-redis' configuration: the table's defaults, and the checks
 * that span keys, as a table of YAML documents and the error each must give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ar_conf.h"

/* Loads yaml over the defaults and checks it; returns the check's result, err filled. */
static int load(const char *yaml, struct ar_conf *c, struct pk_conf *pc, char *err, size_t errsz)
{
    memset(c, 0, sizeof(*c));
    pk_conf_init(pc);
    assert_int_equal(pk_conf_add(pc, ar_conf_keys, c), 0);
    if (pk_conf_load_buffer(pc, "test.yaml", yaml, strlen(yaml)) < 0) {
        snprintf(err, errsz, "%s", pc->err);
        return -1;
    }
    return ar_conf_check(c, err, errsz);
}

static void release(struct ar_conf *c, struct pk_conf *pc)
{
    ar_conf_clear(c);
    pk_conf_release(pc);
}

static void test_defaults(void **state)
{
    struct ar_conf c;
    struct pk_conf pc;
    char err[512] = "";
    (void)state;

    assert_int_equal(load("upstream: 127.0.0.1:7000\n", &c, &pc, err, sizeof(err)), 0);
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen_addrs[0].host, "127.0.0.1");
    assert_int_equal(c.listen_addrs[0].port, 6379);
    assert_int_equal(c.mode, AR_MODE_PINNED);
    assert_int_equal(c.upstream_conns, 2);
    assert_int_equal(c.read_from, AR_READ_MASTER);
    assert_int_equal(c.connect_timeout_ms, 500);
    assert_int_equal(c.idle_timeout_ms, 0);
    assert_true(c.proto_max_bulk_len == 512ull * 1024 * 1024);
    assert_true(c.client_query_buffer_limit == 1024ull * 1024 * 1024);
    assert_int_equal(c.max_multibulk_len, 1048576);
    assert_false(c.has_admin);
    assert_null(c.upstream_secret);
    assert_null(c.client_secret);
    release(&c, &pc);
}

static void test_sentinels_split(void **state)
{
    struct ar_conf c;
    struct pk_conf pc;
    char err[512] = "";
    (void)state;

    assert_int_equal(load("sentinel: ['127.0.0.1:26379,127.0.0.1:26380', '[::1]:26381']\n"
                          "master-name: mymaster\nmode: multiplex\nlisten: [unix:/tmp/a.sock, "
                          "'[::1]:6380']\nadmin-listen: 127.0.0.1:9121\n",
                          &c, &pc, err, sizeof(err)),
                     0);
    assert_int_equal(c.nsentinels, 3);
    assert_string_equal(c.sentinels[0], "127.0.0.1:26379");
    assert_string_equal(c.sentinels[1], "127.0.0.1:26380");
    assert_string_equal(c.sentinels[2], "[::1]:26381");
    assert_int_equal(c.mode, AR_MODE_MULTIPLEX);
    assert_int_equal(c.nlisten, 2);
    assert_int_equal(c.listen_addrs[0].kind, PK_ADDR_UNIX);
    assert_string_equal(c.listen_addrs[1].host, "::1");
    assert_true(c.has_admin);
    assert_int_equal(c.admin_addr.port, 9121);
    release(&c, &pc);
}

static void test_secrets_from_files(void **state)
{
    char dir[] = "/tmp/test_ar_conf.XXXXXX", path[128], yaml[512], err[512] = "";
    struct ar_conf c;
    struct pk_conf pc;
    FILE *fp;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/pass", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("s3cret\n", fp); /* a Kubernetes secret written with a newline */
    fclose(fp);
    snprintf(yaml, sizeof(yaml),
             "upstream: 127.0.0.1:7000\nupstream-user: app\nupstream-password-file: %s\n"
             "requirepass-file: %s\n",
             path, path);
    assert_int_equal(load(yaml, &c, &pc, err, sizeof(err)), 0);
    assert_string_equal(c.upstream_secret, "s3cret");
    assert_string_equal(c.client_secret, "s3cret");
    release(&c, &pc);
    unlink(path);
    rmdir(dir);
}

/* Each document must be refused with an error containing its needle. */
static void test_refused(void **state)
{
    static const struct {
        const char *yaml, *needle;
    } rows[] = {
        {"listen: []\nupstream: 127.0.0.1:1\n", "listen: at least one address"},
        {"{}\n", "no master to proxy to: give --upstream or --sentinel"},
        {"upstream: 127.0.0.1:1\nsentinel: [127.0.0.1:2]\nmaster-name: m\n",
         "upstream and sentinel: give only one"},
        {"sentinel: [127.0.0.1:2]\n", "sentinel: --master-name is needed too"},
        {"sentinel: ['127.0.0.1:2,nope']\nmaster-name: m\n", "sentinel: \"nope\""},
        {"upstream: unix:/tmp/x\n", "upstream: \"unix:/tmp/x\": a HOST:PORT is needed"},
        {"upstream: 127.0.0.1\n", "upstream: \"127.0.0.1\""},
        {"upstream: 127.0.0.1:1\nreplica: [':0']\n", "replica: \":0\""},
        {"upstream: 127.0.0.1:1\nlisten: ['300.1.1.1.1:x']\n", "listen: \"300.1.1.1.1:x\""},
        {"upstream: 127.0.0.1:1\nupstream-password: a\nupstream-password-file: /etc/hostname\n",
         "upstream-password and upstream-password-file: give only one"},
        {"upstream: 127.0.0.1:1\nrequirepass-file: /no/such/file\n",
         "requirepass-file: /no/such/file: No such file or directory"},
        {"upstream: 127.0.0.1:1\nupstream-user: app\n", "upstream-user: a password is needed"},
        {"upstream: 127.0.0.1:1\ntls-ca-file: /etc/hostname\n",
         "tls-ca-file: only with --upstream-tls"},
        {"upstream: 127.0.0.1:1\nupstream-tls: true\ntls-cert-file: /etc/hostname\n",
         "tls-cert-file and tls-key-file: give both or neither"},
        {"upstream: 127.0.0.1:1\nconnect-timeout: 0\n", "connect-timeout: must be more than 0"},
        {"upstream: 127.0.0.1:1\nadmin-listen: unix:/tmp/x\n", "admin-listen: \"unix:/tmp/x\""},
        {"upstream: 127.0.0.1:1\nmode: fast\n", "test.yaml:2:7: mode"},
        {"upstream: 127.0.0.1:1\nupstream-conns: 0\n", "test.yaml:2:17: upstream-conns"},
        {"upstream: 127.0.0.1:1\nlisen: 127.0.0.1:1\n", "test.yaml:2:1: lisen"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ar_conf c;
        struct pk_conf pc;
        char err[512] = "";
        int rc = load(rows[i].yaml, &c, &pc, err, sizeof(err));
        if (rc == 0 || strstr(err, rows[i].needle) == NULL) {
            fail_msg("row %zu: got %d \"%s\"; expected an error with \"%s\"", i, rc, err,
                     rows[i].needle);
        }
        release(&c, &pc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_sentinels_split),
        cmocka_unit_test(test_secrets_from_files),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
