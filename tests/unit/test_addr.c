/* test_addr.c — table test of address parsing, formatting and socket addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "pk_addr.h"

static const struct {
    const char *text;
    uint16_t default_port;
    const char *want; /* formatted back, or NULL when it must be rejected */
    const char *err;  /* the message when rejected */
} table[] = {
    {"127.0.0.1:6379", 0, "127.0.0.1:6379", NULL},
    {"localhost:80", 0, "localhost:80", NULL},
    {"redis-0.redis.default.svc.cluster.local.:6379", 0,
     "redis-0.redis.default.svc.cluster.local.:6379", NULL},
    {"[::1]:6379", 0, "[::1]:6379", NULL},
    {"[fe80::1%eth0]:1", 0, NULL, "invalid IPv6 address in brackets"},
    {"[::ffff:127.0.0.1]:9", 0, "[::ffff:127.0.0.1]:9", NULL},
    {":9121", 0, ":9121", NULL},
    {"127.0.0.1:0", 0, "127.0.0.1:0", NULL},
    {"127.0.0.1:65535", 0, "127.0.0.1:65535", NULL},
    {"unix:/run/podkit/a.sock", 0, "unix:/run/podkit/a.sock", NULL},
    {"unix:@podkit", 0, "unix:@podkit", NULL},
    {"unix:sock", 0, "unix:sock", NULL},
    {"unix:6379", 0, "unix:6379", NULL}, /* the host called unix */
    {"unix", 6379, "unix:6379", NULL},
    {"redis", 6379, "redis:6379", NULL},
    {"[::1]", 6379, "[::1]:6379", NULL},
    {"::1", 6379, "[::1]:6379", NULL},
    {"10.0.0.1", 26379, "10.0.0.1:26379", NULL},
    {"redis", 0, NULL, "expected HOST:PORT"},
    {"::1", 0, NULL, "an IPv6 address with a port needs brackets: [ADDR]:PORT"},
    {"::1:6379", 0, NULL, "an IPv6 address with a port needs brackets: [ADDR]:PORT"},
    {"a:b:c", 1, NULL, "an IPv6 address with a port needs brackets: [ADDR]:PORT"},
    {"", 1, NULL, "empty address"},
    {":", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"h:", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"h:65536", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"h:-1", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"h:0x10", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"h:1234567", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"h: 1", 0, NULL, "invalid port (expected 0 to 65535)"},
    {"-h:1", 0, NULL, "invalid host name"},
    {"h-:1", 0, NULL, "invalid host name"},
    {"a..b:1", 0, NULL, "invalid host name"},
    {"a b:1", 0, NULL, "invalid host name"},
    {"h_x:1", 0, NULL, "invalid host name"},
    {"999.1.1.1:1", 0, NULL, "invalid IPv4 address"},
    {"1.2.3:1", 0, NULL, "invalid IPv4 address"},
    {"[::1:1", 0, NULL, "missing ']' after the IPv6 address"},
    {"[::1]x", 0, NULL, "expected ':PORT' after ']'"},
    {"[]:1", 0, NULL, "invalid IPv6 address in brackets"},
    {"[nope]:1", 0, NULL, "invalid IPv6 address in brackets"},
    {"unix:", 0, NULL, "unix: needs a socket path"},
    {"unix:@", 0, NULL, "unix: needs a socket path"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        struct pk_addr a;
        char err[128] = "", buf[300];
        int rc = pk_addr_parse(table[i].text, table[i].default_port, &a, err, sizeof(err));

        if (table[i].want == NULL) {
            if (rc != -1 || strcmp(err, table[i].err) != 0) {
                fail_msg("table[%zu] '%s': rc %d err '%s', want '%s'", i, table[i].text, rc, err,
                         table[i].err);
            }
            continue;
        }
        if (rc != 0) {
            fail_msg("table[%zu] '%s': rejected: %s", i, table[i].text, err);
        }
        assert_true(pk_addr_format(&a, buf, sizeof(buf)) > 0);
        if (strcmp(buf, table[i].want) != 0) {
            fail_msg("table[%zu] '%s': formatted '%s', want '%s'", i, table[i].text, buf,
                     table[i].want);
        }
    }
}

static void test_long_inputs(void **state)
{
    char text[400], err[128];
    struct pk_addr a;
    (void)state;

    memset(text, 'a', sizeof(text));
    memcpy(text, "unix:/", 6);
    text[5 + 107] = '\0';
    assert_int_equal(pk_addr_parse(text, 0, &a, err, sizeof(err)), 0);
    text[5 + 107] = 'a';
    text[5 + 108] = '\0';
    assert_int_equal(pk_addr_parse(text, 0, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "unix socket path longer than 107 bytes");

    /* A 64-byte label, and a 254-byte name. */
    memset(text, 'a', 64);
    strcpy(text + 64, ":1");
    assert_int_equal(pk_addr_parse(text, 0, &a, err, sizeof(err)), -1);
    for (int i = 0; i < 254; i++) {
        text[i] = i % 2 ? '.' : 'a';
    }
    strcpy(text + 254, ":1");
    assert_int_equal(pk_addr_parse(text, 0, &a, err, sizeof(err)), -1);
    text[253] = ':';
    strcpy(text + 253, ":1");
    assert_int_equal(pk_addr_parse(text + 1, 0, &a, err, sizeof(err)), -1); /* starts with '.' */
}

static void test_sockaddr(void **state)
{
    struct pk_addr a;
    struct sockaddr_storage ss;
    socklen_t len;
    char err[128];
    (void)state;

    assert_int_equal(pk_addr_parse("127.0.0.2:80", 0, &a, err, sizeof(err)), 0);
    assert_int_equal(pk_addr_sockaddr(&a, &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
    assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), 0x7f000002);

    assert_int_equal(pk_addr_parse(":81", 0, &a, err, sizeof(err)), 0);
    assert_int_equal(pk_addr_sockaddr(&a, &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_memory_equal(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_any, 16);

    assert_int_equal(pk_addr_parse("unix:@x", 0, &a, err, sizeof(err)), 0);
    assert_int_equal(pk_addr_sockaddr(&a, &ss, &len), 0);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 2);
    assert_memory_equal(((struct sockaddr_un *)&ss)->sun_path, "\0x", 2);

    assert_int_equal(pk_addr_parse("unix:/a", 0, &a, err, sizeof(err)), 0);
    assert_int_equal(pk_addr_sockaddr(&a, &ss, &len), 0);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 3);

    assert_int_equal(pk_addr_parse("unix:6379", 0, &a, err, sizeof(err)), 0);
    assert_int_equal(a.kind, PK_ADDR_INET);
    assert_string_equal(a.host, "unix");
    assert_int_equal(pk_addr_parse("example.org:1", 0, &a, err, sizeof(err)), 0);
    assert_int_equal(pk_addr_sockaddr(&a, &ss, &len), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_sockaddr),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
