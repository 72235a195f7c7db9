/* test_cli.c — the shared command line: flags, -c file, precedence, -h -V -t, reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pk_cli.h"
#include "pk_log.h"

struct tconf {
    bool verbose;
    long long port;
    struct pk_strv listen;
    char *secret;
    char *upstream;
    int64_t timeout_ms;
};

static const struct pk_conf_key keys[] = {
    {.name = "verbose",
     .short_flag = 'v',
     .type = PK_CONF_BOOL,
     .offset = offsetof(struct tconf, verbose),
     .def = "false",
     .help = "say more"},
    {.name = "port",
     .short_flag = 'p',
     .type = PK_CONF_INT,
     .offset = offsetof(struct tconf, port),
     .def = "6379",
     .min = 1,
     .max = 65535,
     .help = "port to listen on"},
    {.name = "listen",
     .short_flag = 'l',
     .type = PK_CONF_LIST,
     .offset = offsetof(struct tconf, listen),
     .def = "127.0.0.1",
     .metavar = "ADDR",
     .help = "listen address"},
    {.name = "secret",
     .type = PK_CONF_STRING,
     .offset = offsetof(struct tconf, secret),
     .flags = PK_CONF_FLAG_ONLY,
     .help = "a secret"},
    {.name = "upstream.address",
     .type = PK_CONF_STRING,
     .offset = offsetof(struct tconf, upstream),
     .flags = PK_CONF_FILE_ONLY,
     .help = "upstream"},
    {.name = "timeout",
     .type = PK_CONF_DURATION,
     .offset = offsetof(struct tconf, timeout_ms),
     .def = "5s",
     .help = "timeout"},
    {.name = NULL},
};

static const struct pk_cli_spec spec = {
    .prog = "tprog",
    .synopsis = "[OPTIONS]",
    .about = "A program for tests.",
    .keys = keys,
};

/* The result of one start: exit status, what it printed, and the config. */
struct run {
    int rc;
    char out[8192];
    char err[2048];
    struct tconf t;
    struct pk_cli cli;
};

static void slurp(FILE *f, char *buf, size_t sz)
{
    size_t n;
    fflush(f);
    rewind(f);
    n = fread(buf, 1, sz - 1, f);
    buf[n] = '\0';
}

/* Runs pk_cli_start on a NULL-terminated argv with stdout and stderr captured. */
static void start(struct run *r, const struct pk_cli_spec *s, char **argv)
{
    int argc = 0;
    FILE *out = tmpfile(), *err = tmpfile();
    int saved_out = dup(1), saved_err = dup(2);

    while (argv[argc] != NULL) {
        argc++;
    }
    memset(r, 0, sizeof(*r));
    fflush(stdout);
    fflush(stderr);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    r->rc = pk_cli_start(&r->cli, s, &r->t, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
    fclose(out);
    fclose(err);
}

static char *write_file(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/test_cli_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

#define ARGV(...) ((char *[]){"tprog", __VA_ARGS__, NULL})

static void test_defaults_run(void **state)
{
    struct run *r = malloc(sizeof(*r));
    (void)state;

    start(r, &spec, (char *[]){"tprog", NULL});
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_int_equal(r->t.port, 6379);
    assert_int_equal(r->t.listen.n, 1);
    assert_string_equal(r->t.listen.v[0], "127.0.0.1");
    assert_int_equal(r->t.timeout_ms, 5000);
    assert_int_equal(pk_log_max_level, PK_LOG_INFO);
    assert_string_equal(r->out, "");
    assert_string_equal(r->err, "");
    pk_cli_release(&r->cli);
    free(r);
}

static void test_flag_forms(void **state)
{
    static char *forms[][4] = {
        {"tprog", "-p", "80", NULL},  {"tprog", "-p80", NULL},      {"tprog", "--port", "80", NULL},
        {"tprog", "--port=80", NULL}, {"tprog", "-vp", "80", NULL},
    };
    struct run *r = malloc(sizeof(*r));
    (void)state;

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        start(r, &spec, forms[i]);
        assert_int_equal(r->rc, PK_CLI_RUN);
        assert_int_equal(r->t.port, 80);
        assert_int_equal(r->t.verbose, i == 4);
        pk_cli_release(&r->cli);
    }
    start(r, &spec, ARGV("--verbose", "--no-verbose"));
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_false(r->t.verbose);
    pk_cli_release(&r->cli);
    start(r, &spec, ARGV("--verbose=yes", "--secret", "s3", "--timeout", "250ms"));
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_true(r->t.verbose);
    assert_string_equal(r->t.secret, "s3");
    assert_int_equal(r->t.timeout_ms, 250);
    pk_cli_release(&r->cli);
    free(r);
}

static struct {
    char *argv[5];
    int rc;
    const char *err;
} usage[] = {
    {{"tprog", "--bogus", NULL}, 2, "tprog: unknown option --bogus (see 'tprog --help')\n"},
    {{"tprog", "-x", NULL}, 2, "tprog: unknown option -x (see 'tprog --help')\n"},
    {{"tprog", "-p", NULL}, 2, "tprog: option -p needs a value (see 'tprog --help')\n"},
    {{"tprog", "--port", NULL}, 2, "tprog: option --port needs a value (see 'tprog --help')\n"},
    {{"tprog", "-c", NULL}, 2, "tprog: option --config needs a value (see 'tprog --help')\n"},
    {{"tprog", "--no-port", NULL}, 2, "tprog: unknown option --no-port (see 'tprog --help')\n"},
    {{"tprog", "--help=1", NULL},
     2,
     "tprog: option takes no value: --help=1 (see 'tprog --help')\n"},
    {{"tprog", "stray", NULL}, 2, "tprog: unexpected argument stray (see 'tprog --help')\n"},
    {{"tprog", "--", "stray", NULL}, 2, "tprog: unexpected argument stray (see 'tprog --help')\n"},
    {{"tprog", "--upstream.address", "x", NULL},
     2,
     "tprog: unknown option --upstream.address (see 'tprog --help')\n"},
    {{"tprog", "--port", "0", NULL},
     1,
     "tprog: --port: invalid value '0': expected a whole number from 1 to 65535\n"},
    {{"tprog", "--log-level", "loud", NULL},
     1,
     "tprog: --log-level: invalid value 'loud': expected one of error, warn, info, debug\n"},
    {{"tprog", "-c", "/nonexistent.yaml", NULL},
     1,
     "tprog: /nonexistent.yaml: cannot open: No such file or directory\n"},
};

static void test_usage_errors(void **state)
{
    struct run *r = malloc(sizeof(*r));
    (void)state;

    for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
        start(r, &spec, usage[i].argv);
        if (r->rc != usage[i].rc || strcmp(r->err, usage[i].err) != 0) {
            fail_msg("usage[%zu]: rc %d, stderr '%s'; want %d '%s'", i, r->rc, r->err, usage[i].rc,
                     usage[i].err);
        }
        assert_string_equal(r->out, "");
        pk_cli_release(&r->cli);
    }
    free(r);
}

static void test_help_and_version(void **state)
{
    struct run *r = malloc(sizeof(*r));
    (void)state;

    start(r, &spec, ARGV("--port", "80", "-h", "--bogus"));
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->err, "");
    assert_memory_equal(r->out, "Usage: tprog [OPTIONS]\n\nA program for tests.\n", 44);
    assert_non_null(
        strstr(r->out, "  -p, --port N                port to listen on [default: 6379]\n"));
    assert_non_null(strstr(r->out, "  -l, --listen ADDR           listen address (repeatable) "
                                   "[default: 127.0.0.1]\n"));
    assert_non_null(strstr(r->out, "      --log-level LEVEL"));
    assert_non_null(strstr(r->out, "  -c, --config FILE"));
    assert_non_null(strstr(r->out, "\nOnly in the config file:\n  upstream.address"));
    assert_null(strstr(r->out, "--upstream.address"));
    pk_cli_release(&r->cli);

    start(r, &spec, ARGV("-V"));
    assert_int_equal(r->rc, 0);
    assert_memory_equal(r->out, "tprog 0.1.0 (git ", 17);
    assert_non_null(strstr(r->out, "\nlibyaml 0."));
    pk_cli_release(&r->cli);
    free(r);
}

static void test_file_then_flags(void **state)
{
    struct run *r = malloc(sizeof(*r));
    char *path = write_file("port: 10\nlisten: [x, y]\nlog-level: debug\n"
                            "upstream:\n  address: up:1\n");
    (void)state;

    start(r, &spec, ARGV("-c", path));
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_int_equal(r->t.port, 10);
    assert_int_equal(r->t.listen.n, 2);
    assert_string_equal(r->t.upstream, "up:1");
    assert_int_equal(pk_log_max_level, PK_LOG_DEBUG);
    pk_cli_release(&r->cli);

    /* Flags win wherever they stand; a repeated list flag replaces the file's list. */
    start(r, &spec, ARGV("--port=20", "-l", "a", "--config", path, "-l", "b", "--log-level=warn"));
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_int_equal(r->t.port, 20);
    assert_int_equal(r->t.listen.n, 2);
    assert_string_equal(r->t.listen.v[0], "a");
    assert_string_equal(r->t.listen.v[1], "b");
    assert_int_equal(pk_log_max_level, PK_LOG_WARN);
    pk_cli_release(&r->cli);
    unlink(path);
    free(r);
}

static void test_test_config(void **state)
{
    struct run *r = malloc(sizeof(*r));
    char *path = write_file("port: 10\n");
    char want[256];
    (void)state;

    start(r, &spec, ARGV("-t", "-c", path));
    assert_int_equal(r->rc, 0);
    snprintf(want, sizeof(want), "tprog: configuration file %s is valid\n", path);
    assert_string_equal(r->out, want);
    pk_cli_release(&r->cli);
    unlink(path);

    path = write_file("port: 10\nprot: 1\n");
    start(r, &spec, ARGV("--test-config", "--config", path));
    assert_int_equal(r->rc, 1);
    snprintf(want, sizeof(want), "tprog: %s:2:1: prot: unknown key (did you mean 'port'?)\n", path);
    assert_string_equal(r->err, want);
    assert_string_equal(r->out, "");
    pk_cli_release(&r->cli);
    unlink(path);
    free(r);
}

static void test_positional(void **state)
{
    static const struct pk_cli_spec pos = {.prog = "tprog",
                                           .synopsis = "[OPTIONS] CMD...",
                                           .about = "x",
                                           .keys = keys,
                                           .positional = true};
    struct run *r = malloc(sizeof(*r));
    char *argv[] = {"tprog", "-v", "run", "-p", "1", NULL};
    (void)state;

    start(r, &pos, argv);
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_true(r->t.verbose);
    assert_int_equal(r->t.port, 6379); /* -p after the first argument belongs to it */
    assert_int_equal(r->cli.first_arg, 2);
    pk_cli_release(&r->cli);
    free(r);
}

static void test_interleaved(void **state)
{
    static const struct pk_cli_spec il = {
        .prog = "tprog", .synopsis = "CMD [ARGS]", .about = "x", .keys = keys, .interleaved = true};
    struct run *r = malloc(sizeof(*r));
    char *argv[] = {"tprog", "get", "-v", "pod", "-p", "1", "--", "sh", "-c", "x", NULL};
    (void)state;

    start(r, &il, argv);
    assert_int_equal(r->rc, PK_CLI_RUN);
    assert_true(r->t.verbose);
    assert_int_equal(r->t.port, 1); /* options after arguments still count */
    assert_int_equal(r->cli.nargs, 5);
    assert_int_equal(r->cli.args_dashdash, 2);
    assert_string_equal(r->cli.args[0], "get");
    assert_string_equal(r->cli.args[1], "pod");
    assert_string_equal(r->cli.args[2], "sh");
    assert_string_equal(r->cli.args[3], "-c");
    assert_string_equal(r->cli.args[4], "x");
    pk_cli_release(&r->cli);
    free(r);
}

static void test_reload(void **state)
{
    struct run *r = malloc(sizeof(*r));
    char *path = write_file("port: 10\nlisten: [x]\n");
    struct pk_conf fresh;
    struct tconf t2 = {0};
    FILE *f;
    (void)state;

    start(r, &spec, ARGV("-c", path, "--listen", "flag"));
    assert_int_equal(r->rc, PK_CLI_RUN);

    f = fopen(path, "w");
    fputs("port: 11\nlisten: [y]\nlog-level: error\n", f);
    fclose(f);
    assert_int_equal(pk_cli_reload(&r->cli, &fresh, &t2), 0);
    assert_int_equal(t2.port, 11);
    assert_string_equal(t2.listen.v[0], "flag");
    assert_int_equal(pk_log_max_level, PK_LOG_ERROR);
    assert_int_equal(r->t.port, 10); /* the running config is untouched */
    pk_conf_release(&fresh);

    f = fopen(path, "w");
    fputs("port: nope\n", f);
    fclose(f);
    memset(&t2, 0, sizeof(t2));
    assert_int_equal(pk_cli_reload(&r->cli, &fresh, &t2), -1);
    assert_non_null(strstr(fresh.err, ":1:7: port: invalid value 'nope'"));
    pk_conf_release(&fresh);
    pk_cli_release(&r->cli);
    unlink(path);
    free(r);
}

static void test_reserved_short_flag(void **state)
{
    static const struct pk_conf_key clash[] = {
        {.name = "count", .short_flag = 'c', .type = PK_CONF_INT, .offset = 0, .help = "n"},
        {.name = NULL},
    };
    static const struct pk_cli_spec s = {
        .prog = "tprog", .synopsis = "", .about = "", .keys = clash};
    struct run *r = malloc(sizeof(*r));
    (void)state;

    start(r, &s, (char *[]){"tprog", NULL});
    assert_int_equal(r->rc, 1);
    assert_string_equal(r->err, "tprog: key count: short flag -c is reserved\n");
    pk_cli_release(&r->cli);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_run),    cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_usage_errors),    cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_file_then_flags), cmocka_unit_test(test_test_config),
        cmocka_unit_test(test_positional),      cmocka_unit_test(test_interleaved),
        cmocka_unit_test(test_reload),          cmocka_unit_test(test_reserved_short_flag),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
