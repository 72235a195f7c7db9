/* test_log.c — the logger writes exactly one well-formed line per event. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pk_log.h"

struct capture {
    int fds[2];
    char buf[16384];
};

static int setup(void **state)
{
    struct capture *c = calloc(1, sizeof(*c));
    if (c == NULL || pipe2(c->fds, O_NONBLOCK) < 0) {
        return -1;
    }
    fcntl(c->fds[0], F_SETPIPE_SZ, 1 << 20);
    pk_log_init("/usr/bin/tlog");
    pk_log_set_fd(c->fds[1]);
    pk_log_set_level(PK_LOG_INFO);
    pk_log_set_format(PK_LOG_TEXT);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct capture *c = *state;
    pk_log_set_fd(2);
    close(c->fds[0]);
    close(c->fds[1]);
    free(c);
    return 0;
}

/* Everything written since the last call, as a string. */
static const char *drained(struct capture *c)
{
    ssize_t n = read(c->fds[0], c->buf, sizeof(c->buf) - 1);
    c->buf[n > 0 ? n : 0] = '\0';
    return c->buf;
}

static int calls;
static int side_effect(void)
{
    return ++calls;
}

static void test_text_line(void **state)
{
    struct capture *c = *state;
    char want[128];

    pk_log_info("listening on %s:%d", "127.0.0.1", 6379);
    snprintf(want, sizeof(want), "tlog[%ld] INFO listening on 127.0.0.1:6379\n", (long)getpid());
    assert_string_equal(drained(c), want);
    pk_log_error("x");
    snprintf(want, sizeof(want), "tlog[%ld] ERROR x\n", (long)getpid());
    assert_string_equal(drained(c), want);
}

static void test_level_checked_before_formatting(void **state)
{
    struct capture *c = *state;

    calls = 0;
    pk_log_debug("%d", side_effect());
    assert_int_equal(calls, 0);
    assert_string_equal(drained(c), "");
    pk_log_set_level(PK_LOG_DEBUG);
    pk_log_debug("%d", side_effect());
    assert_int_equal(calls, 1);
    assert_non_null(strstr(drained(c), " DEBUG 1\n"));
    pk_log_set_level(PK_LOG_ERROR);
    pk_log_warn("hidden");
    assert_string_equal(drained(c), "");
}

static void test_errno_preserved(void **state)
{
    struct capture *c = *state;

    errno = ECONNREFUSED;
    pk_log_info("connect failed: %s", strerror(errno));
    assert_int_equal(errno, ECONNREFUSED);
    assert_non_null(strstr(drained(c), "connect failed: Connection refused\n"));
}

static void test_one_line_per_event(void **state)
{
    struct capture *c = *state;
    const char *out;

    pk_log_info("a\nb\r\tc\x01");
    out = drained(c);
    assert_non_null(strstr(out, "INFO a\\nb\\r\\tc\\u0001\n"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void test_long_message_cut(void **state)
{
    struct capture *c = *state;
    char big[PK_LOG_LINE_MAX * 2];
    const char *out;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pk_log_info("%s", big);
    out = drained(c);
    assert_true(strlen(out) <= PK_LOG_LINE_MAX + 8);
    assert_non_null(strstr(out, "xxx...\n"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void test_json_line(void **state)
{
    struct capture *c = *state;
    char want[256];
    const char *out;

    pk_log_set_format(PK_LOG_JSON);
    pk_log_warn("say \"hi\" \\ \n caf\xc3\xa9 bad\xff end");
    out = drained(c);
    assert_memory_equal(out, "{\"time\":\"", 9);
    /* 2026-11-21T19:48:30.123Z */
    assert_int_equal(out[9 + 4], '-');
    assert_int_equal(out[9 + 10], 'T');
    assert_int_equal(out[9 + 23], 'Z');
    snprintf(want, sizeof(want),
             "\",\"level\":\"warn\",\"prog\":\"tlog\",\"pid\":%ld,\"msg\":\"say \\\"hi\\\" \\\\ "
             "\\n caf\xc3\xa9 bad\\ufffd end\"}\n",
             (long)getpid());
    assert_string_equal(out + 9 + 24, want);
}

static void test_level_names(void **state)
{
    enum pk_log_level l;
    (void)state;

    assert_int_equal(pk_log_level_parse("debug", &l), 0);
    assert_int_equal(l, PK_LOG_DEBUG);
    assert_int_equal(pk_log_level_parse("warning", &l), 0);
    assert_int_equal(l, PK_LOG_WARN);
    assert_int_equal(pk_log_level_parse("loud", &l), -1);
    assert_string_equal(pk_log_level_name(PK_LOG_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_checked_before_formatting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_line_per_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_line, setup, teardown),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
