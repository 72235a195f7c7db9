/* test_conf.c — table tests of the config loader: good documents, bad documents, values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pk_conf.h"

/* A custom value: a list of {name, url} mappings, like a binary's "sources:". */
struct source {
    char *name;
    char *url;
};
struct sources {
    struct source *v;
    size_t n;
};

struct tconf {
    bool verbose;
    long long port;
    uint64_t buffer;
    int64_t timeout_ms;
    char *name;
    struct pk_strv listen;
    int mode;
    char *web_listen;
    long long web_port;
    struct sources sources;
    char *secret;
};

static void sources_clear(void *dst)
{
    struct sources *s = dst;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].url);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int sources_push(struct pk_conf *c, struct sources *s, const char *name, const char *url)
{
    struct source *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (v == NULL) {
        return pk_conf_fail(c, NULL, NULL, "out of memory");
    }
    s->v = v;
    v[s->n].name = strdup(name);
    v[s->n].url = strdup(url);
    s->n++;
    return 0;
}

/* Flag form: NAME=URL. */
static int sources_from_text(struct pk_conf *c, void *dst, const char *text, bool append)
{
    const char *eq = strchr(text, '=');
    char name[64];

    if (!append) {
        sources_clear(dst);
    }
    if (eq == NULL || eq == text || (size_t)(eq - text) >= sizeof(name)) {
        return pk_conf_fail(c, NULL, NULL, "expected NAME=URL");
    }
    memcpy(name, text, (size_t)(eq - text));
    name[eq - text] = '\0';
    return sources_push(c, dst, name, eq + 1);
}

/* File form: a list of mappings with name and url. */
static int sources_from_yaml(struct pk_conf *c, void *dst, yaml_node_t *node, const char *path)
{
    sources_clear(dst);
    if (node->type != YAML_SEQUENCE_NODE) {
        return pk_conf_fail(c, node, path, "expected a list of sources");
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = pk_conf_node(c, *it);
        const char *name = NULL, *url = NULL;
        if (item == NULL || item->type != YAML_MAPPING_NODE) {
            return pk_conf_fail(c, item, path, "expected a mapping with name and url");
        }
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = pk_conf_node(c, p->key), *v = pk_conf_node(c, p->value);
            if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
                return pk_conf_fail(c, k, path, "expected scalars");
            }
            if (strcmp((char *)k->data.scalar.value, "name") == 0) {
                name = (char *)v->data.scalar.value;
            } else if (strcmp((char *)k->data.scalar.value, "url") == 0) {
                url = (char *)v->data.scalar.value;
            } else {
                return pk_conf_fail(c, k, path, "unknown key '%s'", (char *)k->data.scalar.value);
            }
        }
        if (name == NULL || url == NULL) {
            return pk_conf_fail(c, item, path, "needs name and url");
        }
        if (sources_push(c, dst, name, url) < 0) {
            return -1;
        }
    }
    return 0;
}

static const struct pk_conf_custom sources_type = {sources_from_text, sources_from_yaml,
                                                   sources_clear};
static const char *const modes[] = {"pinned", "multiplex", NULL};

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
     .help = "port"},
    {.name = "buffer",
     .type = PK_CONF_SIZE,
     .offset = offsetof(struct tconf, buffer),
     .def = "8MiB",
     .help = "buffer"},
    {.name = "timeout",
     .type = PK_CONF_DURATION,
     .offset = offsetof(struct tconf, timeout_ms),
     .def = "1.5s",
     .help = "timeout"},
    {.name = "name",
     .type = PK_CONF_STRING,
     .offset = offsetof(struct tconf, name),
     .help = "name"},
    {.name = "listen",
     .short_flag = 'l',
     .type = PK_CONF_LIST,
     .offset = offsetof(struct tconf, listen),
     .def = "127.0.0.1:6379",
     .help = "listen"},
    {.name = "mode",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct tconf, mode),
     .def = "pinned",
     .choices = modes,
     .help = "mode"},
    {.name = "web.listen-address",
     .type = PK_CONF_STRING,
     .offset = offsetof(struct tconf, web_listen),
     .def = ":9100",
     .help = "web"},
    {.name = "web.port",
     .type = PK_CONF_INT,
     .offset = offsetof(struct tconf, web_port),
     .def = "0",
     .help = "web port"},
    {.name = "sources",
     .type = PK_CONF_CUSTOM,
     .offset = offsetof(struct tconf, sources),
     .custom = &sources_type,
     .flags = PK_CONF_FILE_ONLY,
     .help = "sources"},
    {.name = "secret",
     .type = PK_CONF_STRING,
     .offset = offsetof(struct tconf, secret),
     .flags = PK_CONF_FLAG_ONLY,
     .help = "secret"},
    {.name = NULL},
};

/* Renders a key's value as text, so that tables can say what they expect. */
static void render(const struct tconf *t, const char *key, char *out, size_t outsz)
{
    if (strcmp(key, "verbose") == 0) {
        snprintf(out, outsz, "%s", t->verbose ? "true" : "false");
    } else if (strcmp(key, "port") == 0) {
        snprintf(out, outsz, "%lld", t->port);
    } else if (strcmp(key, "buffer") == 0) {
        snprintf(out, outsz, "%llu", (unsigned long long)t->buffer);
    } else if (strcmp(key, "timeout") == 0) {
        snprintf(out, outsz, "%lld", (long long)t->timeout_ms);
    } else if (strcmp(key, "name") == 0) {
        snprintf(out, outsz, "%s", t->name != NULL ? t->name : "(null)");
    } else if (strcmp(key, "listen") == 0) {
        size_t n = (size_t)snprintf(out, outsz, "[");
        for (size_t i = 0; i < t->listen.n; i++) {
            n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? "," : "", t->listen.v[i]);
        }
        snprintf(out + n, outsz - n, "]");
    } else if (strcmp(key, "mode") == 0) {
        snprintf(out, outsz, "%s", modes[t->mode]);
    } else if (strcmp(key, "web.listen-address") == 0) {
        snprintf(out, outsz, "%s", t->web_listen);
    } else if (strcmp(key, "web.port") == 0) {
        snprintf(out, outsz, "%lld", t->web_port);
    } else if (strcmp(key, "sources") == 0) {
        size_t n = 0;
        out[0] = '\0';
        for (size_t i = 0; i < t->sources.n; i++) {
            n += (size_t)snprintf(out + n, outsz - n, "%s%s=%s", i ? "," : "", t->sources.v[i].name,
                                  t->sources.v[i].url);
        }
    } else {
        fail_msg("no renderer for %s", key);
    }
}

static void test_defaults(void **state)
{
    struct pk_conf c;
    struct tconf t = {0};
    (void)state;

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, keys, &t), 0);
    assert_false(t.verbose);
    assert_int_equal(t.port, 6379);
    assert_int_equal(t.buffer, 8u << 20);
    assert_int_equal(t.timeout_ms, 1500);
    assert_null(t.name);
    assert_int_equal(t.listen.n, 1);
    assert_string_equal(t.listen.v[0], "127.0.0.1:6379");
    assert_int_equal(t.mode, 0);
    assert_string_equal(t.web_listen, ":9100");
    pk_conf_release(&c);
}

static const struct {
    const char *yaml;
    const char *key;
    const char *want;
} good[] = {
    {"", "port", "6379"},
    {"# only a comment\n", "port", "6379"},
    {"---\nport: 80\n...\n", "port", "80"},
    {"port: 65535", "port", "65535"},
    {"port: 1", "port", "1"},
    {"verbose: true", "verbose", "true"},
    {"verbose: yes", "verbose", "true"},
    {"verbose: off", "verbose", "false"},
    {"verbose: 'True'", "verbose", "true"},
    {"buffer: 512", "buffer", "512"},
    {"buffer: 64KiB", "buffer", "65536"},
    {"buffer: 64Ki", "buffer", "65536"},
    {"buffer: 8MB", "buffer", "8000000"},
    {"buffer: 1G", "buffer", "1000000000"},
    {"buffer: 2TiB", "buffer", "2199023255552"},
    {"buffer: 0", "buffer", "0"},
    {"timeout: 250ms", "timeout", "250"},
    {"timeout: 5", "timeout", "5000"},
    {"timeout: 0.1", "timeout", "100"},
    {"timeout: 1m30s", "timeout", "90000"},
    {"timeout: 2h", "timeout", "7200000"},
    {"timeout: 1.5s", "timeout", "1500"},
    {"timeout: 1h1m1s1ms", "timeout", "3661001"},
    {"name: hello world", "name", "hello world"},
    {"name: \"\"", "name", ""},
    {"name: 'x: y'", "name", "x: y"},
    {"name: \"caf\\u00e9\"", "name", "caf\xc3\xa9"},
    {"name: |\n  two\n  lines\n", "name", "two\nlines\n"},
    {"name: \"\\xff\"", "name", "\xc3\xbf"},
    {"name: null", "name", "(null)"},
    {"name: 12", "name", "12"},
    {"listen: [a, b]", "listen", "[a,b]"},
    {"listen:\n  - a\n  - b\n  - c\n", "listen", "[a,b,c]"},
    {"listen: one", "listen", "[one]"},
    {"listen: []", "listen", "[]"},
    {"listen:", "listen", "[]"},
    {"mode: multiplex", "mode", "multiplex"},
    {"web:\n  listen-address: 127.0.0.1:9\n", "web.listen-address", "127.0.0.1:9"},
    {"web: {port: 8080}", "web.port", "8080"},
    {"web: {port: 8080}", "web.listen-address", ":9100"},
    {"sources:\n  - {name: a, url: 'file:/x'}\n  - name: b\n    url: http://h/\n", "sources",
     "a=file:/x,b=http://h/"},
    {"base: &b 7\nport: *b\n", NULL, NULL}, /* an unknown key, checked in bad[] */
    {"port: &p 99\nweb: {port: *p}\n", "web.port", "99"},
};

static void test_good_documents(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct pk_conf c;
        struct tconf t = {0};
        char got[256];

        if (good[i].key == NULL) {
            continue;
        }
        pk_conf_init(&c);
        assert_int_equal(pk_conf_add(&c, keys, &t), 0);
        if (pk_conf_load_buffer(&c, "t.yaml", good[i].yaml, strlen(good[i].yaml)) != 0) {
            fail_msg("good[%zu] %s: rejected: %s", i, good[i].yaml, c.err);
        }
        render(&t, good[i].key, got, sizeof(got));
        if (strcmp(got, good[i].want) != 0) {
            fail_msg("good[%zu] %s: %s is '%s', want '%s'", i, good[i].yaml, good[i].key, got,
                     good[i].want);
        }
        pk_conf_release(&c);
    }
}

static const struct {
    const char *yaml;
    const char *err;
} bad[] = {
    {"port: 0", "t.yaml:1:7: port: invalid value '0': expected a whole number from 1 to 65535"},
    {"port: 65536",
     "t.yaml:1:7: port: invalid value '65536': expected a whole number from 1 to 65535"},
    {"port: x", "t.yaml:1:7: port: invalid value 'x': expected a whole number from 1 to 65535"},
    {"port: 12abc",
     "t.yaml:1:7: port: invalid value '12abc': expected a whole number from 1 to 65535"},
    {"port: 99999999999999999999",
     "t.yaml:1:7: port: invalid value '99999999999999999999': expected a whole number from 1 "
     "to 65535"},
    {"port:", "t.yaml:1:6: port: expected a whole number, got nothing"},
    {"port: [1]", "t.yaml:1:7: port: expected a whole number, got a list"},
    {"port: {a: 1}", "t.yaml:1:7: port: expected a whole number, got a mapping"},
    {"verbose: maybe", "t.yaml:1:10: verbose: invalid value 'maybe': expected true or false"},
    {"buffer: 8 MiB",
     "t.yaml:1:9: buffer: invalid value '8 MiB': expected a size such as 512, 64KiB, 8MiB or 1GB"},
    {"buffer: -1",
     "t.yaml:1:9: buffer: invalid value '-1': expected a size such as 512, 64KiB, 8MiB or 1GB"},
    {"buffer: 99999999999TiB",
     "t.yaml:1:9: buffer: invalid value '99999999999TiB': size too large"},
    {"timeout: 5x", "t.yaml:1:10: timeout: invalid value '5x': expected a duration such as 250ms, "
                    "5s, 1m30s or 2h"},
    {"timeout: s",
     "t.yaml:1:10: timeout: invalid value 's': expected a duration such as 250ms, 5s, 1m30s or 2h"},
    {"timeout: 1s5", "t.yaml:1:10: timeout: invalid value '1s5': expected a duration such as "
                     "250ms, 5s, 1m30s or 2h"},
    {"timeout: 99999999h", "t.yaml:1:10: timeout: invalid value '99999999h': duration too long"},
    {"mode: fast", "t.yaml:1:7: mode: invalid value 'fast': expected one of pinned, multiplex"},
    {"listen: {a: b}", "t.yaml:1:9: listen: expected a list, got a mapping"},
    {"listen: [a, [b]]", "t.yaml:1:13: listen[1]: expected a string, got a list"},
    {"listen: [a, ~]", "t.yaml:1:13: listen[1]: expected a string, got nothing"},
    {"prot: 1", "t.yaml:1:1: prot: unknown key (did you mean 'port'?)"},
    {"\n\n  zzz: 1", "t.yaml:3:3: zzz: unknown key"},
    {"\"a\\nb\": 1", "t.yaml:1:1: a?b: unknown key"},
    {"base: &b 7\nport: *b\n", "t.yaml:1:1: base: unknown key"},
    {"web:\n  listen: x\n", "t.yaml:2:3: web.listen: unknown key"},
    {"web: 5", "t.yaml:1:6: web: expected a mapping, got a scalar"},
    {"port: 1\nport: 2\n", "t.yaml:2:1: port: duplicate key"},
    {"web: {port: 1}\nweb: {port: 2}\n", "t.yaml:2:7: web.port: duplicate key"},
    {"secret: x", "t.yaml:1:1: secret: only accepted on the command line (--secret)"},
    {"[1, 2]", "t.yaml:1:1: expected a mapping of keys, got a list"},
    {"just text", "t.yaml:1:1: expected a mapping of keys, got a scalar"},
    {"? [a]\n: 1\n", "t.yaml:1:3: a key must be a plain name, not a list"},
    {"port: 1\n---\nport: 2\n", "t.yaml:3:1: only one YAML document is allowed"},
    {"port: [1\n", "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' while parsing "
                   "a flow sequence"},
    {"port: 1\n bad: 2\n",
     "t.yaml:2:5: YAML syntax error: mapping values are not allowed in this context"},
    {"a: *nope", "t.yaml:1:4: YAML syntax error: found undefined alias"},
    {"\tport: 1", "t.yaml:1:1: YAML syntax error: found character that cannot start any token "
                  "while scanning for the next token"},
    {"sources: [{name: a}]", "t.yaml:1:11: sources: needs name and url"},
    {"sources: 3", "t.yaml:1:10: sources: expected a list of sources"},
    {"name: \"\\xff\"", NULL}, /* a YAML escape for U+00FF: fine, see good[] */
    {"name: \xff\n", "t.yaml:1:7: YAML syntax error: invalid leading UTF-8 octet"},
};

static void test_bad_documents(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pk_conf c;
        struct tconf t = {0};

        if (bad[i].err == NULL) {
            continue;
        }
        pk_conf_init(&c);
        assert_int_equal(pk_conf_add(&c, keys, &t), 0);
        if (pk_conf_load_buffer(&c, "t.yaml", bad[i].yaml, strlen(bad[i].yaml)) != -1) {
            fail_msg("bad[%zu] %s: accepted", i, bad[i].yaml);
        }
        if (strcmp(c.err, bad[i].err) != 0) {
            fail_msg("bad[%zu] %s:\n got: %s\nwant: %s", i, bad[i].yaml, c.err, bad[i].err);
        }
        pk_conf_release(&c); /* also frees what was set before the error */
    }
}

static void test_flags_replace_and_append(void **state)
{
    struct pk_conf c;
    struct tconf t = {0};
    size_t s;
    const char *doc = "listen: [x, y]\nport: 10\n";
    (void)state;

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, keys, &t), 0);
    assert_int_equal(pk_conf_load_buffer(&c, "t.yaml", doc, strlen(doc)), 0);
    const struct pk_conf_key *k = pk_conf_find(&c, "listen", &s);
    assert_non_null(k);
    assert_ptr_equal(pk_conf_find_short(&c, 'l', NULL), k);
    assert_int_equal(pk_conf_set(&c, s, k, "a", false), 0);
    assert_int_equal(pk_conf_set(&c, s, k, "b", true), 0);
    assert_int_equal(t.listen.n, 2);
    assert_string_equal(t.listen.v[0], "a");
    assert_string_equal(t.listen.v[1], "b");

    k = pk_conf_find(&c, "port", &s);
    assert_int_equal(pk_conf_set(&c, s, k, "11", false), 0);
    assert_int_equal(t.port, 11);
    assert_int_equal(pk_conf_set(&c, s, k, "0", false), -1);
    assert_string_equal(c.err,
                        "--port: invalid value '0': expected a whole number from 1 to 65535");
    assert_int_equal(t.port, 11); /* a rejected value leaves the old one */
    pk_conf_release(&c);
}

static void test_custom_flag_errors(void **state)
{
    struct pk_conf c;
    struct tconf t = {0};
    size_t s;
    (void)state;

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, keys, &t), 0);
    const struct pk_conf_key *k = pk_conf_find(&c, "sources", &s);
    assert_int_equal(pk_conf_set(&c, s, k, "a=b", false), 0);
    assert_int_equal(pk_conf_set(&c, s, k, "noequals", true), -1);
    assert_string_equal(c.err, "--sources: invalid value 'noequals': expected NAME=URL");
    pk_conf_release(&c);
}

static void test_required(void **state)
{
    static const struct pk_conf_key req[] = {
        {.name = "upstream",
         .type = PK_CONF_STRING,
         .offset = 0,
         .flags = PK_CONF_REQUIRED,
         .help = "where"},
        {.name = NULL},
    };
    struct pk_conf c;
    char *upstream = NULL;
    (void)state;

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, req, &upstream), 0);
    assert_int_equal(pk_conf_check_required(&c), -1);
    assert_string_equal(c.err,
                        "missing required option --upstream ('upstream:' in the config file)");
    pk_conf_release(&c);

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, req, &upstream), 0);
    assert_int_equal(pk_conf_load_buffer(&c, "t.yaml", "upstream: h:1", 13), 0);
    assert_int_equal(pk_conf_check_required(&c), 0);
    assert_string_equal(upstream, "h:1");
    pk_conf_release(&c);
    assert_null(upstream);
}

static void test_bad_default_is_reported(void **state)
{
    static const struct pk_conf_key broken[] = {
        {.name = "n", .type = PK_CONF_INT, .offset = 0, .def = "ten", .help = "n"},
        {.name = NULL},
    };
    struct pk_conf c;
    long long n = 0;
    (void)state;

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, broken, &n), -1);
    assert_string_equal(c.err, "n: bad default 'ten': expected a whole number");
    pk_conf_release(&c);
}

static void test_load_file(void **state)
{
    struct pk_conf c;
    struct tconf t = {0};
    char path[] = "/tmp/test_conf_XXXXXX";
    int fd = mkstemp(path);
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "port: 7\nname: x\n", 16), 16);
    close(fd);
    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, keys, &t), 0);
    assert_int_equal(pk_conf_load_file(&c, path), 0);
    assert_int_equal(t.port, 7);
    assert_string_equal(t.name, "x");
    pk_conf_release(&c);

    /* Too big: refused before parsing. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < PK_CONF_FILE_MAX / 16 + 1; i++) {
        fputs("# padding......\n", f);
    }
    fclose(f);
    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, keys, &t), 0);
    assert_int_equal(pk_conf_load_file(&c, path), -1);
    assert_non_null(strstr(c.err, "larger than 1048576 bytes"));
    pk_conf_release(&c);
    unlink(path);

    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, keys, &t), 0);
    assert_int_equal(pk_conf_load_file(&c, "/nonexistent/podkit.yaml"), -1);
    assert_string_equal(c.err, "/nonexistent/podkit.yaml: cannot open: No such file or directory");
    assert_int_equal(pk_conf_load_file(&c, "/"), -1);
    pk_conf_release(&c);
}

static void test_value_parsers(void **state)
{
    char err[128];
    uint64_t sz;
    int64_t ms;
    long long ll;
    bool b;
    (void)state;

    assert_int_equal(pk_conf_parse_size("18446744073709551615", &sz, err, sizeof(err)), 0);
    assert_true(sz == UINT64_MAX);
    assert_int_equal(pk_conf_parse_size("18446744073709551616", &sz, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_size("16EiB", &sz, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_size("", &sz, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_duration("", &ms, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_duration(".", &ms, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_duration(".5s", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(pk_conf_parse_duration("0", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(pk_conf_parse_duration("10ms5", &ms, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_duration("-1s", &ms, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_int("-5", 0, 0, &ll, err, sizeof(err)), 0);
    assert_int_equal(ll, -5);
    assert_int_equal(pk_conf_parse_int(" 5", 0, 0, &ll, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_int("", 0, 0, &ll, err, sizeof(err)), -1);
    assert_int_equal(pk_conf_parse_bool("1", &b, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_documents),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_flags_replace_and_append),
        cmocka_unit_test(test_custom_flag_errors),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_bad_default_is_reported),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_value_parsers),
    };
    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
