/* test_am_map.c — table tests of the mapping language: rules read from YAML (good and bad),
 * which rule a name meets, and what lands in the store. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "am_map.h"
#include "am_statsd.h"
#include "am_store.h"

/* ---- helpers ------------------------------------------------------------------------- */

struct text {
    char out[16384];
    size_t len;
};

static void put(struct text *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(w->out + w->len, sizeof(w->out) - w->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(w->out) - w->len);
    w->len += (size_t)n;
}

/* Whole numbers as such, others as the shortest %g that reads back. */
static void put_num(struct text *w, double v)
{
    char tmp[64];

    if (v == floor(v) && fabs(v) < 1e17) {
        put(w, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v || isnan(v)) {
            break;
        }
    }
    put(w, "%s", tmp);
}

/* Writes yaml to a temporary file and loads it as a statsd_exporter mapping file. On failure
 * err gets the message without the file name ("LINE:COL: path: what"). */
static int load(const char *yaml, struct am_defaults *d, struct am_rules **r, char *err,
                size_t errsz)
{
    char path[] = "/tmp/test_am_map_XXXXXX";
    char msg[1024];
    int fd = mkstemp(path);
    size_t len = strlen(yaml);
    int rc;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, len), (ssize_t)len);
    close(fd);
    am_defaults_init(d);
    rc = am_rules_load_file(path, d, r, msg, sizeof(msg));
    unlink(path);
    if (rc < 0) {
        size_t plen = strlen(path);
        assert_memory_equal(msg, path, plen);
        assert_int_equal(msg[plen], ':');
        snprintf(err, errsz, "%s", msg + plen + 1);
    }
    return rc;
}

/* ---- rule files that load ------------------------------------------------------------ */

static const struct {
    const char *yaml;
    size_t nrules;
} good[] = {
    {"", 0},
    {"mappings:\n", 0},
    {"mappings: []\n", 0},
    {"defaults:\n  observer_type: histogram\n", 0},
    /* statsd_exporter's README examples. */
    {"mappings:\n"
     "- match: test.dispatcher.*.*.*\n"
     "  name: \"dispatcher_events_total\"\n"
     "  labels:\n"
     "    processor: \"$1\"\n"
     "    action: \"$2\"\n"
     "    outcome: \"$3\"\n"
     "    job: \"test_dispatcher\"\n"
     "- match: \"*.signup.*.*\"\n"
     "  name: \"signup_events_total\"\n"
     "  labels:\n"
     "    provider: \"$2\"\n"
     "    outcome: \"$3\"\n"
     "    job: \"${1}_server\"\n",
     2},
    {"mappings:\n"
     "- match: \"(.*)\\\\.(.*)--(.*)\\\\.status\\\\.(.*)\\\\.count\"\n"
     "  match_type: regex\n"
     "  name: \"request_total\"\n"
     "  labels:\n"
     "    hostname: \"$1\"\n"
     "    exec: \"$2\"\n"
     "    protocol: \"$3\"\n"
     "    code: \"$4\"\n",
     1},
    {"mappings:\n"
     "- match: \"test.timing.*.*.*\"\n"
     "  timer_type: histogram\n"
     "  histogram_options:\n"
     "    buckets: [ 0.01, 0.025, 0.05, 0.1 ]\n"
     "  name: \"my_timer\"\n"
     "  labels:\n"
     "    provider: \"$2\"\n"
     "    outcome: \"$3\"\n"
     "    job: \"${1}_server\"\n",
     1},
    {"mappings:\n"
     "- match: \"test.timing.*.*.*\"\n"
     "  observer_type: summary\n"
     "  name: \"my_timer\"\n"
     "  summary_options:\n"
     "    quantiles:\n"
     "      - quantile: 0.99\n"
     "        error: 0.001\n"
     "      - quantile: 0.5\n"
     "        error: 0.005\n"
     "    max_age: 30s\n"
     "    age_buckets: 3\n"
     "    buf_cap: 1000\n",
     1},
    {"defaults:\n"
     "  timer_type: histogram\n"
     "  buckets: [.005, .01, .025, .05, .1, .25, .5, 1, 2.5 ]\n"
     "  match_type: glob\n"
     "  glob_disable_ordering: false\n"
     "  ttl: 0\n"
     "mappings:\n"
     "- match: \"test.timing.*.*.*\"\n"
     "  name: \"my_timer\"\n"
     "- match: \".\"\n"
     "  match_type: regex\n"
     "  action: drop\n"
     "  name: \"dropped\"\n"
     "- match: \"test.foo.*\"\n"
     "  name: \"test_foo\"\n"
     "  match_metric_type: counter\n"
     "  ttl: 1m20s\n"
     "  help: \"Total number of foos\"\n",
     3},
    {"defaults:\n"
     "  observer_type: summary\n"
     "  histogram_options: {buckets: [1, 2, .inf], native_histogram_bucket_factor: 1.1}\n"
     "  summary_options: {quantiles: [{quantile: 0.5}], max_age: 5m, age_buckets: 2}\n"
     "  set_window: 2m\n",
     0},
    /* Ours: partial globs, value maps, statesets, _info, scale, drop without a name. */
    {"mappings:\n"
     "- match: client_*_x.*\n"
     "  name: client_$1\n"
     "- match: a.b\n"
     "  action: drop\n"
     "- match: up\n"
     "  name: up\n"
     "  type: gauge\n"
     "  value_map: {ok: 1, down: 0, \"1\": 1}\n"
     "- match: mode\n"
     "  name: mode\n"
     "  type: stateset\n"
     "  states: [a, b, c]\n"
     "- match: version\n"
     "  name: app_info\n"
     "  type: info\n"
     "  info_label: release\n"
     "- match: t.*\n"
     "  name: t_seconds\n"
     "  scale: 0.001\n"
     "  set_window: 10s\n"
     "- match: \"(?P<host>[a-z]+)\\\\.up\"\n"
     "  match_type: regex\n"
     "  name: host_up\n"
     "  labels: {host: \"${host}\", all: \"$0\", dollar: \"$$1\"}\n",
     7},
};

static void test_good_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct am_defaults d;
        struct am_rules *r = NULL;
        char err[1024] = "";

        if (load(good[i].yaml, &d, &r, err, sizeof(err)) < 0) {
            fail_msg("row %zu: %s", i, err);
        }
        assert_int_equal(am_rules_count(r), good[i].nrules);
        am_rules_free(r);
        am_defaults_clear(&d);
    }
}

/* What the defaults became. */
static void test_defaults_values(void **state)
{
    struct am_defaults d;
    struct am_rules *r = NULL;
    char err[1024];
    (void)state;

    assert_int_equal(load("defaults:\n"
                          "  timer_type: histogram\n"
                          "  buckets: [1, 2]\n"
                          "  histogram_options: {buckets: [3, 4, 5]}\n"
                          "  quantiles: [{quantile: 0.25, error: 0.1}]\n"
                          "  summary_options: {max_age: 1m, age_buckets: 4}\n"
                          "  ttl: 90s\n"
                          "  match_type: regex\n"
                          "  set_window: 5s\n",
                          &d, &r, err, sizeof(err)),
                     0);
    assert_null(r);
    assert_int_equal(d.observer_type, AM_TYPE_HISTOGRAM);
    assert_int_equal(d.nbuckets, 3); /* histogram_options over the old top-level list */
    assert_true(d.buckets[0] == 3 && d.buckets[2] == 5);
    assert_int_equal(d.nquantiles, 1); /* the old list, since summary_options has none */
    assert_true(d.quantiles[0].q == 0.25 && d.quantiles[0].err == 0.1);
    assert_int_equal(d.max_age_ms, 60000);
    assert_int_equal(d.age_buckets, 4);
    assert_int_equal(d.ttl_ms, 90000);
    assert_true(d.match_regex);
    assert_int_equal(d.set_window_ms, 5000);
    am_defaults_clear(&d);
    assert_null(d.buckets);
    assert_int_equal(d.observer_type, AM_TYPE_SUMMARY);
    assert_int_equal(d.set_window_ms, 60000);

    /* observer_type wins over timer_type, as in statsd_exporter. */
    assert_int_equal(load("defaults: {timer_type: histogram, observer_type: summary}\n", &d, &r,
                          err, sizeof(err)),
                     0);
    assert_int_equal(d.observer_type, AM_TYPE_SUMMARY);
    am_defaults_clear(&d);
}

/* ---- rule files that do not load: the exact message and position ---------------------- */

static const struct {
    const char *yaml;
    const char *err; /* after "FILE:" */
} bad[] = {
    {"mapping: []\n", "1:1: mapping: unknown key (did you mean 'mappings'?)"},
    {"mappings: {}\n", "1:11: mappings: expected a list of rules, got a mapping"},
    {"mappings:\n- x\n", "2:3: mappings[0]: expected a mapping (match, name, labels, ...), got "
                         "a scalar"},
    {"mappings:\n- name: x\n", "2:3: mappings[0]: a rule needs 'match'"},
    {"mappings:\n- match: a.b\n", "2:3: mappings[0]: a rule needs 'name' (unless its action is "
                                  "drop)"},
    {"mappings:\n- match: a.b\n  name: x\n  labls: {}\n",
     "4:3: mappings[0].labls: unknown key (did you mean 'labels'?)"},
    {"mappings:\n- match: a.b\n  name: x\n  name: y\n", "4:3: mappings[0].name: duplicate key"},
    {"mappings:\n- match: a.b\n  name: x\n- match: a..b\n  name: y\n",
     "4:10: mappings[1].match: bad glob: empty component"},
    {"mappings:\n- match: a.\n  name: x\n", "2:10: mappings[0].match: bad glob: empty component"},
    {"mappings:\n- match: \"(.*)\\\\.foo\"\n  name: x\n",
     "2:10: mappings[0].match: bad glob: '(' is regular expression syntax (for a regex, set "
     "match_type: regex)"},
    {"mappings:\n- match: a.**\n  name: x\n",
     "2:10: mappings[0].match: bad glob: '**' (one '*' already matches any text in a "
     "component)"},
    {"mappings:\n- match: \"a b\"\n  name: x\n",
     "2:10: mappings[0].match: bad glob: blanks and control characters are not allowed"},
    {"mappings:\n- match: \"a(b\"\n  match_type: regex\n  name: x\n",
     "2:10: mappings[0].match: bad regex at offset 3: missing closing parenthesis"},
    {"mappings:\n- match: a.*.*\n  name: x_$3\n",
     "3:9: mappings[0].name: unknown capture '$3' (the glob has 2 '*')"},
    {"mappings:\n- match: a.*\n  name: $1_total\n",
     "3:9: mappings[0].name: unknown capture '$1_total' (to follow $1 with text, write "
     "${1}_total)"},
    {"mappings:\n- match: a.*\n  name: x\n  labels: {h: \"${host}\"}\n",
     "4:15: mappings[0].labels.h: unknown capture '${host}' (a glob's captures are $1, $2, "
     "...)"},
    {"mappings:\n- match: \"a\\\\.(x)\"\n  match_type: regex\n  name: x\n  labels: {h: "
     "\"${host}\"}\n",
     "5:15: mappings[0].labels.h: unknown capture '${host}' (the regex has no group named "
     "'host')"},
    {"mappings:\n- match: \"a\\\\.(x)\"\n  match_type: regex\n  name: x_$2\n",
     "4:9: mappings[0].name: unknown capture '$2' (the regex has 1 group)"},
    {"mappings:\n- match: a.*\n  name: foo-$1\n",
     "3:9: mappings[0].name: 'foo-$1' is not a valid metric name (letters, digits, '_' and ':' "
     "around the captures, not a digit first)"},
    {"mappings:\n- match: a.*\n  name: 1x\n",
     "3:9: mappings[0].name: '1x' is not a valid metric name (letters, digits, '_' and ':' "
     "around the captures, not a digit first)"},
    {"mappings:\n- match: a.*\n  name: \"\"\n",
     "3:9: mappings[0].name: '' is not a valid metric name (letters, digits, '_' and ':' around "
     "the captures, not a digit first)"},
    {"mappings:\n- match: a.*\n  name: x\n  labels: {0bad: v}\n",
     "4:12: mappings[0].labels.0bad: not a valid label name"},
    {"mappings:\n- match: a.*\n  name: x\n  labels: {job: [1]}\n",
     "4:17: mappings[0].labels.job: expected a string, got a list"},
    {"mappings:\n- match: a.*\n  name: x\n  match_type: glb\n",
     "4:15: mappings[0].match_type: expected glob or regex"},
    {"mappings:\n- match: a.*\n  name: x\n  match_metric_type: timers\n",
     "4:22: mappings[0].match_metric_type: expected counter, gauge, observer, set or untyped"},
    {"mappings:\n- match: a.*\n  name: x\n  action: keep\n",
     "4:11: mappings[0].action: expected map or drop"},
    {"mappings:\n- match: a.*\n  name: x\n  observer_type: histo\n",
     "4:18: mappings[0].observer_type: expected histogram or summary"},
    {"mappings:\n- match: a.*\n  name: x\n  buckets: [1, 0.5]\n",
     "4:16: mappings[0].buckets[1]: bucket bounds must be in increasing order"},
    {"mappings:\n- match: a.*\n  name: x\n  buckets: [1, .inf, 3]\n",
     "4:16: mappings[0].buckets[1]: a bucket bound must be finite (+Inf is implied)"},
    {"mappings:\n- match: a.*\n  name: x\n  buckets: [1, x]\n",
     "4:16: mappings[0].buckets[1]: expected a number"},
    {"mappings:\n- match: a.*\n  name: x\n  buckets: [1]\n  histogram_options: {buckets: [2]}\n",
     "4:3: mappings[0].buckets: buckets are also in histogram_options: give them once"},
    {"mappings:\n- match: a.*\n  name: x\n  observer_type: histogram\n  summary_options: {}\n",
     "5:3: mappings[0].summary_options: summary_options with observer_type histogram"},
    {"mappings:\n- match: a.*\n  name: x\n  timer_type: summary\n  histogram_options: {}\n",
     "5:3: mappings[0].histogram_options: histogram_options with observer_type summary"},
    {"mappings:\n- match: a.*\n  name: x\n  summary_options: {quantiles: [{quantile: 2}]}\n",
     "4:44: mappings[0].summary_options.quantiles[0].quantile: a quantile must be from 0 to 1"},
    {"mappings:\n- match: a.*\n  name: x\n  summary_options: {quantiles: [{error: 0.1}]}\n",
     "4:33: mappings[0].summary_options.quantiles[0]: needs a quantile"},
    {"mappings:\n- match: a.*\n  name: x\n  summary_options: {max_agee: 5m}\n",
     "4:21: mappings[0].summary_options.max_agee: unknown key (did you mean 'max_age'?)"},
    {"mappings:\n- match: a.*\n  name: x\n  ttl: soon\n",
     "4:8: mappings[0].ttl: expected a duration such as 250ms, 5s, 1m30s or 2h"},
    {"mappings:\n- match: a.*\n  name: x\n  scale: .nan\n", "4:10: mappings[0].scale: must be "
                                                            "finite"},
    {"mappings:\n- match: a.*\n  name: x\n  type: enum\n",
     "4:9: mappings[0].type: expected untyped, gauge, counter, stateset or info"},
    {"mappings:\n- match: a.*\n  name: x\n  type: stateset\n  value_map: {a: 1}\n",
     "5:3: mappings[0].value_map: value_map makes numbers: not with type stateset"},
    {"mappings:\n- match: a.*\n  name: x\n  value_map: {a: one}\n",
     "4:18: mappings[0].value_map.a: expected a number"},
    {"mappings:\n- match: a.*\n  name: x\n  states: [a]\n",
     "4:3: mappings[0].states: only with type stateset"},
    {"mappings:\n- match: a.*\n  name: x\n  type: stateset\n  states: [a, b, a]\n",
     "5:18: mappings[0].states[2]: state 'a' is listed twice"},
    {"mappings:\n- match: a.*\n  name: x\n  type: info\n  info_label: 9v\n",
     "5:15: mappings[0].info_label: not a valid label name"},
    {"defaults:\n  ttl: 1m\n  observer_typ: histogram\n",
     "3:3: defaults.observer_typ: unknown key (did you mean 'observer_type'?)"},
    {"defaults:\n  observer: histogram\n", "2:3: defaults.observer: unknown key"},
    {"defaults:\n  glob_disable_ordering: maybe\n",
     "2:26: defaults.glob_disable_ordering: expected true or false"},
    {"defaults:\n  set_window: 0s\n", "2:15: defaults.set_window: must be longer than 0"},
    {"defaults: [1]\n", "1:11: defaults: expected a mapping, got a list"},
    {"mappings:\n- match: a\n  name: x\n- match: b\n  name: x\n  labels: {a: x, a: y}\n",
     "6:18: mappings[1].labels.a: duplicate key"},
};

static void test_bad_files(void **state)
{
    int failed = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct am_defaults d;
        struct am_rules *r = NULL;
        char err[1024] = "";

        if (load(bad[i].yaml, &d, &r, err, sizeof(err)) == 0) {
            fail_msg("row %zu loaded", i);
        }
        if (strcmp(err, bad[i].err) != 0) {
            print_error("row %zu:\n got: %s\nwant: %s\n", i, err, bad[i].err);
            failed++;
        }
        assert_null(r);
        am_defaults_clear(&d);
    }
    assert_int_equal(failed, 0);
}

static void test_missing_file(void **state)
{
    struct am_defaults d;
    struct am_rules *r = (struct am_rules *)&d; /* overwritten with NULL */
    char err[256];
    (void)state;

    am_defaults_init(&d);
    assert_int_equal(am_rules_load_file("/nonexistent/m.yml", &d, &r, err, sizeof(err)), -1);
    assert_null(r);
    assert_string_equal(err, "/nonexistent/m.yml: cannot open: No such file or directory");
}

/* The customs inside another table: a flag's text is refused, a second load replaces. */
struct host_conf {
    struct am_defaults defaults;
    struct am_rules *rules;
};

static const struct pk_conf_key host_keys[] = {
    {.name = "defaults",
     .type = PK_CONF_CUSTOM,
     .offset = offsetof(struct host_conf, defaults),
     .custom = &am_defaults_conf,
     .help = "d"},
    {.name = "mappings",
     .type = PK_CONF_CUSTOM,
     .offset = offsetof(struct host_conf, rules),
     .custom = &am_rules_conf,
     .help = "m"},
    {.name = NULL},
};

static void test_customs_in_a_table(void **state)
{
    struct pk_conf c;
    struct host_conf h;
    size_t sect;
    const struct pk_conf_key *k;
    (void)state;

    am_defaults_init(&h.defaults);
    h.rules = NULL;
    pk_conf_init(&c);
    assert_int_equal(pk_conf_add(&c, host_keys, &h), 0);
    k = pk_conf_find(&c, "mappings", &sect);
    assert_int_equal(pk_conf_set(&c, sect, k, "a.b", false), -1);
    assert_string_equal(c.err, "--mappings: invalid value 'a.b': mappings: only in the config "
                               "file");
    c.err[0] = '\0';
    const char *y1 = "mappings:\n- {match: a, name: a}\n- {match: b, name: b}\n";
    assert_int_equal(pk_conf_load_buffer(&c, "c.yml", y1, strlen(y1)), 0);
    assert_int_equal(am_rules_count(h.rules), 2);
    pk_conf_release(&c);
    assert_null(h.rules);

    /* A "defaults: {match_type: regex}" beside the list makes its rules regexes. */
    pk_conf_init(&c);
    am_defaults_init(&h.defaults);
    assert_int_equal(pk_conf_add(&c, host_keys, &h), 0);
    const char *y2 =
        "mappings:\n- {match: \"^a(b)$\", name: x_$1}\ndefaults: {match_type: regex}\n";
    assert_int_equal(pk_conf_load_buffer(&c, "c.yml", y2, strlen(y2)), 0);
    assert_int_equal(am_rules_count(h.rules), 1);
    assert_true(h.defaults.match_regex);
    pk_conf_release(&c);
}

/* ---- matching and applying: from input lines to the store ---------------------------- */

struct run {
    struct am_map *map;
    struct am_store *st;
    struct text log; /* non-zero am_map_apply results */
    int64_t now;
};

static void on_sample(void *arg, const struct am_sample *s)
{
    struct run *r = arg;
    const char *why = NULL;
    int rc = am_map_apply(r->map, r->st, s, 1, r->now, &why);

    if (rc == 1) {
        put(&r->log, "drop %.*s\n", (int)s->name_len, s->name);
    } else if (rc < 0) {
        assert_non_null(why);
        put(&r->log, "refused %.*s: %s\n", (int)s->name_len, s->name, why);
    } else {
        assert_int_equal(rc, 0);
    }
}

/* "name=value" lines as untyped samples: a value strtod reads whole is a number, any other a
 * string (as am_text's parsers give them with strings on). */
static void kv_lines(const char *in, struct run *r)
{
    char line[256];

    for (const char *p = in; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char *eq, *end;
        struct am_sample s = {.kind = AM_KIND_UNTYPED, .rate = 1};

        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (nl != NULL);
        eq = strchr(line, '=');
        assert_non_null(eq);
        s.name = line;
        s.name_len = (size_t)(eq - line);
        s.value = strtod(eq + 1, &end);
        if (*end != '\0' || end == eq + 1) {
            s.value = 0;
            s.set_member = eq + 1;
            s.set_member_len = strlen(eq + 1);
        }
        on_sample(r, &s);
    }
}

static void on_reject(void *arg, size_t line, const char *why)
{
    (void)arg;
    fail_msg("input line %zu refused: %s", line, why);
}

/* The store as text: "TYPE NAME{k=v,...} VALUE" per series, families oldest first. */
static void dump_store(struct am_store *st, int64_t now, struct text *w)
{
    am_store_expire(st, now);
    for (const struct am_family *f = am_store_families(st); f != NULL; f = f->next) {
        for (const struct am_series *s = f->series; s != NULL; s = s->next) {
            put(w, "%s %s", am_type_name(f->type), f->name);
            for (size_t i = 0; i < f->nlabels; i++) {
                put(w, "%s%s=%s", i == 0 ? "{" : ",", f->label_names[i], s->vals[i]);
            }
            put(w, "%s ", f->nlabels > 0 ? "}" : "");
            switch (f->type) {
            case AM_TYPE_HISTOGRAM:
                put(w, "count=%llu sum=", (unsigned long long)s->u.hist.count);
                put_num(w, s->u.hist.sum);
                put(w, " buckets=");
                for (size_t b = 0; b <= f->nbuckets; b++) {
                    put(w, "%s", b > 0 ? "," : "");
                    if (b < f->nbuckets) {
                        put_num(w, f->buckets[b]);
                    } else {
                        put(w, "+Inf");
                    }
                    put(w, ":%llu", (unsigned long long)s->u.hist.counts[b]);
                }
                break;
            case AM_TYPE_SUMMARY:
                put(w, "count=");
                put_num(w, s->u.sum.count);
                put(w, " sum=");
                put_num(w, s->u.sum.sum);
                put(w, " q=");
                for (size_t q = 0; q < f->nquantiles; q++) {
                    put(w, "%s", q > 0 ? "," : "");
                    put_num(w, f->quantiles[q].q);
                }
                break;
            case AM_TYPE_STATESET:
                put(w, "%s", f->states[s->u.state]);
                break;
            case AM_TYPE_INFO:
                put(w, "%s=%s", f->info_label, s->u.info.str);
                break;
            default:
                if (s->is_set) {
                    put(w, "set:%zu", s->u.set.n);
                } else {
                    put_num(w, s->u.value);
                }
                break;
            }
            put(w, "\n");
        }
    }
}

struct mrow {
    const char *rules; /* a mapping file */
    char fmt;          /* 's' statsd lines, 'k' key=value lines (strings allowed) */
    const char *in;
    const char *want; /* refusals and drops, then the store */
};

static const char *const R_DISPATCH =
    "mappings:\n"
    "- match: test.dispatcher.*.*.*\n"
    "  name: dispatcher_events_total\n"
    "  labels:\n"
    "    processor: $1\n"
    "    action: $2\n"
    "    outcome: $3\n"
    "    job: test_dispatcher\n"
    "- match: \"*.signup.*.*\"\n"
    "  name: signup_events_total\n"
    "  labels: {provider: $2, outcome: $3, job: \"${1}_server\"}\n";

static const struct mrow mrows[] = {
    /* statsd_exporter's README example: captures into labels, _total dropped from counters. */
    {R_DISPATCH, 's',
     "test.dispatcher.FooProcessor.send.success:1|c\n"
     "foo_product.signup.facebook.failure:1|c\n"
     "test.web-server.foo.bar:1|g\n",
     "counter dispatcher_events{action=send,job=test_dispatcher,outcome=success,"
     "processor=FooProcessor} 1\n"
     "counter signup_events{job=foo_product_server,outcome=failure,provider=facebook} 1\n"
     "gauge test_web_server_foo_bar 1\n"},
    /* Component counts must match: no rule for 4 or 6 components. */
    {R_DISPATCH, 's', "test.dispatcher.a.b:1|c\ntest.dispatcher.a.b.c.d:2|c\n",
     "counter test_dispatcher_a_b 1\ncounter test_dispatcher_a_b_c_d 2\n"},
    /* The first glob in file order wins, even over a literal later. */
    {"mappings:\n- {match: a.*, name: first}\n- {match: a.b, name: second}\n", 's', "a.b:1|g\n",
     "gauge first 1\n"},
    {"mappings:\n- {match: a.b, name: first}\n- {match: a.*, name: second}\n", 's',
     "a.b:1|g\na.c:2|g\n", "gauge first 1\ngauge second 2\n"},
    /* Backtracking: the literal path fails further on, the star path matches. */
    {"mappings:\n- {match: a.b.x, name: r0}\n- {match: a.*.c, name: r1_$1}\n"
     "- {match: a.b.*, name: r2_$1}\n",
     's', "a.b.c:1|g\na.b.d:2|g\na.z.c:3|g\na.b.x:4|g\n",
     "gauge r1_b 1\ngauge r2_d 2\ngauge r1_z 3\ngauge r0 4\n"},
    /* Globs before regexes, whatever the file order. */
    {"mappings:\n- {match: \"^a\\\\.(.*)\", match_type: regex, name: re_$1}\n"
     "- {match: a.*, name: glob_$1}\n",
     's', "a.x:1|g\na.x.y:2|g\n", "gauge glob_x 1\ngauge re_x_y 2\n"},
    /* '*' inside a component: greedy from the left, as ([^.]*) in a regex. */
    {"mappings:\n- {match: client_*_x.*, name: \"c_${1}_$2\"}\n- {match: a*b*c, name: "
     "\"m_${1}_$2\"}\n",
     's', "client_web_x.get:1|g\nclient__x.get:2|g\naxbybc:3|g\nabc:4|g\nclient_x.get:5|g\n",
     "gauge c_web_get 1\ngauge c__get 2\ngauge m_xby_ 3\ngauge m__ 4\ngauge client_x_get 5\n"},
    /* A lone '*' matches an empty component too. */
    {"mappings:\n- {match: a.*.c, name: \"x_${1}_y\"}\n", 's', "a..c:1|g\n", "gauge x__y 1\n"},
    /* Captures are sanitized in the name, kept as they are in label values. */
    {"mappings:\n- {match: \"*.*\", name: \"${1}_$2\", labels: {raw: \"$1/$2\"}}\n", 's',
     "web-1.5xx:1|g\n", "gauge web_1_5xx{raw=web-1/5xx} 1\n"},
    {"mappings:\n- {match: \"*.x\", name: $1}\n", 's', "5xx.x:1|g\n", "gauge _5xx 1\n"},
    /* match_metric_type: a counter-only rule lets a gauge through to the next one. */
    {"mappings:\n- {match: a.*, name: c_$1, match_metric_type: counter}\n"
     "- {match: a.*, name: g_$1}\n"
     "- {match: t.*, name: t_$1, match_metric_type: observer, observer_type: histogram}\n"
     "- {match: t.*, name: other_$1}\n",
     's', "a.x:1|c\na.x:2|g\nt.x:1000|ms\nt.y:3|c\n",
     "counter c_x 1\ngauge g_x 2\nhistogram t_x count=1 sum=1 "
     "buckets=0.005:0,0.01:0,0.025:0,0.05:0,0.1:0,0.25:0,0.5:0,1:1,2.5:0,5:0,10:0,+Inf:0\n"
     "counter other_y 3\n"},
    /* Same name, two kinds, two cache entries. */
    {"mappings:\n- {match: a, name: c, match_metric_type: counter}\n- {match: a, name: g, "
     "match_metric_type: gauge}\n",
     's', "a:1|c\na:2|g\na:3|c\na:4|g\n", "counter c 4\ngauge g 4\n"},
    /* Drop: counted, nothing stored; a drop rule needs no name. */
    {"mappings:\n- {match: secret.*, action: drop}\n- {match: \".\", match_type: regex, action: "
     "drop, name: dropped}\n",
     's', "secret.x:1|c\nother:1|g\n", "drop secret.x\ndrop other\n"},
    /* Regexes: unanchored, $n and ${name}, $0, literal $$; the first regex in order wins. */
    {"mappings:\n- match: \"b\\\\.(\\\\w+)\"\n  match_type: regex\n  name: re_$1\n"
     "- match: \"(?P<host>[a-z]+)\\\\.up\"\n  match_type: regex\n  name: host_up\n"
     "  labels: {host: \"${host}\", all: \"$0\", money: \"$$1\"}\n",
     's', "a.b.c:1|g\nsrv.up:1|g\nx.b.up:2|g\n",
     "gauge re_c 1\ngauge host_up{all=srv.up,host=srv,money=$1} 1\ngauge re_up 2\n"},
    /* An optional group that did not take part expands to nothing. */
    {"mappings:\n- {match: \"^(a)?(b)\", match_type: regex, name: \"x_${1}_${2}\"}\n", 's',
     "b:1|g\n", "gauge x__b 1\n"},
    /* Kinds to ops: counters with rates, relative gauges, timers in seconds with weights,
     * histograms and distributions as they come, sets. */
    {"defaults: {observer_type: histogram, histogram_options: {buckets: [1, 10]}}\n", 's',
     "c:1|c|@0.1\ng:5|g\ng:+2|g\ng:-10|g\nt:500|ms|@0.5\nh:5|h\nd:50|d\ns:a|s\ns:b|s\ns:a|s\n",
     "counter c 10\ngauge g -3\nhistogram t count=2 sum=1 buckets=1:2,10:0,+Inf:0\n"
     "histogram h count=1 sum=5 buckets=1:0,10:1,+Inf:0\n"
     "histogram d count=1 sum=50 buckets=1:0,10:0,+Inf:1\ngauge s set:2\n"},
    /* The default observer is a summary, with the store's quantiles or the rule's. */
    {"mappings:\n- {match: q, name: q, summary_options: {quantiles: [{quantile: 0.9}]}}\n", 's',
     "t:20|ms\nq:3|h\n",
     "summary t count=1 sum=0.02 q=0.5,0.9,0.99\nsummary q count=1 sum=3 "
     "q=0.9\n"},
    /* scale after ms -> s; a counter's name loses _total, a gauge's does not (refused). */
    {"mappings:\n- {match: t, name: t_seconds, scale: 0.5, observer_type: histogram, buckets: "
     "[1]}\n- {match: c, name: c_total, scale: 2}\n- {match: g, name: g_total}\n",
     's', "t:1000|ms\nc:3|c\ng:1|g\n",
     "refused g: name ends in a reserved suffix\n"
     "histogram t_seconds count=1 sum=0.5 buckets=1:1,+Inf:0\ncounter c 6\n"},
    /* Labels: the rule's first, then the tags (names sanitized), then none twice. */
    {"mappings:\n- {match: a, name: a, labels: {env: prod}}\n", 's',
     "a:1|g|#env:dev,my-tag:x,1st:y,my_tag:z\n", "gauge a{_1st=y,env=prod,my_tag=x} 1\n"},
    /* Unmapped names: sanitized, then counters lose _total; a gauge may not end in _info. */
    {"", 's', "api.requests-total:1|c\napi.requests_total:1|c\nx.y_info:1|g\n",
     "refused x.y_info: name ends in a reserved suffix\ncounter api_requests 2\n"},
    /* Strings: value maps, statesets, _info; numbers through a numeric value map. */
    {"mappings:\n"
     "- {match: up, name: up, type: gauge, value_map: {ok: 1, down: 0, \"2\": 1}}\n"
     "- {match: mode, name: mode, type: stateset, states: [a, b, c]}\n"
     "- {match: learned, name: learned, type: stateset}\n"
     "- {match: version, name: app_info, type: info}\n"
     "- {match: rel, name: rel, type: info, info_label: release}\n"
     "- {match: total, name: total_total, type: counter}\n",
     'k',
     "up=ok\nup=down\nup=2\nup=7\nup=maybe\nmode=b\nlearned=x\nlearned=y\nversion=1.2.3\n"
     "rel=r7\ntotal=42\nother=text\n",
     "refused up: string value not in value_map\n"
     "refused other: string value without value_map\n"
     "gauge up 7\nstateset mode b\nstateset learned y\ninfo app version=1.2.3\n"
     "info rel release=r7\ncounter total 42\n"},
};

static void run_row(const struct mrow *row, size_t i, const struct am_map_conf *extra)
{
    struct am_defaults d;
    struct am_rules *rules = NULL;
    struct am_map_conf mc = {0};
    struct run r = {0};
    struct text out = {0};
    char err[1024];

    if (load(row->rules, &d, &rules, err, sizeof(err)) < 0) {
        fail_msg("row %zu: %s", i, err);
    }
    if (extra != NULL) {
        mc = *extra;
    }
    mc.defaults = &d;
    mc.global = rules;
    r.map = am_map_create(&mc, err, sizeof(err));
    if (r.map == NULL) {
        fail_msg("row %zu: %s", i, err);
    }
    r.st = am_store_create(NULL);
    assert_non_null(r.st);
    r.now = 1000;
    for (int pass = 0; pass < 2; pass++) {
        /* The second pass meets the cache: the same store must come out of both. */
        struct am_store *st2 = r.st;
        if (pass == 1) {
            r.st = am_store_create(NULL);
            r.log.len = 0;
        }
        if (row->fmt == 's') {
            am_statsd_parse(row->in, strlen(row->in), on_sample, on_reject, &r);
        } else {
            kv_lines(row->in, &r);
        }
        out.len = 0;
        put(&out, "%s", r.log.out);
        dump_store(r.st, r.now, &out);
        if (strcmp(out.out, row->want) != 0) {
            fail_msg("row %zu pass %d:\n--- got\n%s--- want\n%s", i, pass, out.out, row->want);
        }
        if (pass == 1) {
            am_store_destroy(st2);
        }
    }
    am_store_destroy(r.st);
    am_map_destroy(r.map);
    am_rules_free(rules);
    am_defaults_clear(&d);
}

static void test_apply(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(mrows) / sizeof(mrows[0]); i++) {
        run_row(&mrows[i], i, NULL);
    }
}

/* Constant labels come last and lose to the rule's and the sample's; the prefix is for
 * unmapped names only. A tiny cache gives the same answers. */
static void test_prefix_constant_labels_small_cache(void **state)
{
    static const struct am_label consts[] = {
        {"source", 6, "redis1", 6},
        {"env", 3, "const", 5},
    };
    static const struct mrow rows[] = {
        {"mappings:\n- {match: m.*, name: m_$1, labels: {source: rule}}\n", 's',
         "m.a:1|g\nu.a:2|g|#env:tag\nm.b:3|g\nu.b:4|g\nm.a:5|g\n",
         "gauge m_a{env=const,source=rule} 5\ngauge redis_u_a{env=tag,source=redis1} 2\n"
         "gauge m_b{env=const,source=rule} 3\ngauge redis_u_b{env=const,source=redis1} 4\n"},
    };
    struct am_map_conf mc = {
        .prefix = "redis_", .labels = consts, .nlabels = 2, .cache_size = 1, .source = 3};
    (void)state;

    run_row(&rows[0], 0, &mc);
}

/* Help texts: the rule's, else the sample's, else one naming the match or the name. */
static void test_help(void **state)
{
    struct am_defaults d;
    struct am_rules *rules = NULL;
    struct am_map_conf mc = {0};
    struct am_store *st = am_store_create(NULL);
    struct am_map *m;
    char err[256];
    const char *why;
    struct am_sample s = {
        .name = "a.x", .name_len = 3, .kind = AM_KIND_COUNTER, .value = 1, .rate = 1};
    (void)state;

    assert_int_equal(load("mappings:\n- {match: a.*, name: a_$1, help: \"As help.\"}\n"
                          "- {match: b.*, name: b}\n",
                          &d, &rules, err, sizeof(err)),
                     0);
    mc.defaults = &d;
    mc.own = rules;
    m = am_map_create(&mc, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    s.name = "b.x";
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    s.name = "c.x";
    s.kind = AM_KIND_GAUGE;
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    s.name = "d.x";
    s.help = "From the source.";
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    const struct am_family *f = am_store_families(st);
    assert_string_equal(f->help, "As help.");
    assert_string_equal(f->next->help, "Counter matching b.*, mapped by adapter-metrics.");
    assert_string_equal(f->next->next->help, "Gauge c.x, adapted by adapter-metrics.");
    assert_string_equal(f->next->next->next->help, "From the source.");

    const struct am_map_stats *ms = am_map_stats(m);
    assert_int_equal(ms->mapped, 2);
    assert_int_equal(ms->unmapped, 2);
    assert_int_equal(ms->dropped, 0);
    assert_int_equal(ms->refused, 0);
    am_map_destroy(m);
    am_store_destroy(st);
    am_rules_free(rules);
    am_defaults_clear(&d);
}

/* Rules of a source first, then the global ones; a rule read as a glob when the defaults
 * beside it said nothing is refused by a map whose defaults say regex. */
static void test_own_then_global(void **state)
{
    struct am_defaults d, d2;
    struct am_rules *own = NULL, *global = NULL;
    struct am_map_conf mc = {0};
    char err[256];
    (void)state;

    assert_int_equal(load("mappings:\n- {match: a.*, name: own_$1}\n", &d, &own, err, sizeof(err)),
                     0);
    assert_int_equal(load("mappings:\n- {match: a.b, name: global}\n- {match: \"a(.*)\", name: "
                          "\"g_$1\", match_type: regex}\n",
                          &d2, &global, err, sizeof(err)),
                     0);
    mc.defaults = &d;
    mc.own = own;
    mc.global = global;
    struct am_map *m = am_map_create(&mc, err, sizeof(err));
    struct am_store *st = am_store_create(NULL);
    struct am_sample s = {.name = "a.b", .name_len = 3, .kind = AM_KIND_GAUGE, .rate = 1};
    const char *why;
    assert_non_null(m);
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    s.name = "ab";
    s.name_len = 2;
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    assert_string_equal(am_store_families(st)->name, "own_b");
    assert_string_equal(am_store_families(st)->next->name, "g_b");
    am_map_destroy(m);
    am_store_destroy(st);

    d.match_regex = true;
    assert_null(am_map_create(&mc, err, sizeof(err)));
    assert_string_equal(err, "rule at line 2: was read as a glob, but defaults.match_type is "
                             "regex; set match_type on the rule");
    am_rules_free(own);
    am_rules_free(global);
    am_defaults_clear(&d);
    am_defaults_clear(&d2);
}

/* Many rules and names: every name meets the rule a linear scan in file order would pick. */
static void test_many_rules_against_scan(void **state)
{
    static const char *const comp[] = {"a", "b", "c", "*", "x*", "*y", "a*b", "*a*"};
    enum { NR = 300, NC = 8 };
    size_t matched = 0;
    char *yaml = malloc(NR * 96 + 64);
    size_t len = 0;
    char pats[NR][32];
    struct am_defaults d;
    struct am_rules *rules = NULL;
    struct am_map_conf mc = {0};
    char err[256];
    unsigned seed = 12345;
    (void)state;

    assert_non_null(yaml);
    len += (size_t)sprintf(yaml + len, "mappings:\n");
    for (int i = 0; i < NR; i++) {
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
        size_t pl = 0;
        for (int k = 0; k < n; k++) {
            const char *cp = comp[((seed = seed * 1103515245u + 12345u) >> 16) % NC];
            pl += (size_t)sprintf(pats[i] + pl, "%s%s", k > 0 ? "." : "", cp);
        }
        len += (size_t)sprintf(yaml + len, "- {match: \"%s\", name: r%d}\n", pats[i], i);
    }
    assert_int_equal(load(yaml, &d, &rules, err, sizeof(err)), 0);
    free(yaml);
    mc.defaults = &d;
    mc.global = rules;
    mc.cache_size = 16;
    struct am_map *m = am_map_create(&mc, err, sizeof(err));
    assert_non_null(m);

    static const char *const ncomp[] = {"a", "b", "c", "xy", "ab", "axb", "y", "x", "q", ""};
    for (int t = 0; t < 3000; t++) {
        char name[64];
        size_t nl = 0;
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
        for (int k = 0; k < n; k++) {
            nl += (size_t)sprintf(name + nl, "%s%s", k > 0 ? "." : "",
                                  ncomp[((seed = seed * 1103515245u + 12345u) >> 16) % 10]);
        }
        /* The oracle: fnmatch-like per component, first rule in order. */
        int want = -1;
        for (int i = 0; i < NR && want < 0; i++) {
            const char *p = pats[i], *s = name;
            bool ok = true;
            while (ok) {
                const char *pe = strchr(p, '.'), *se = strchr(s, '.');
                size_t pl = pe ? (size_t)(pe - p) : strlen(p),
                       sl = se ? (size_t)(se - s) : strlen(s);
                char pc[32], sc[32];
                snprintf(pc, sizeof(pc), "%.*s", (int)pl, p);
                snprintf(sc, sizeof(sc), "%.*s", (int)sl, s);
                /* '*' matches any run; the components here have at most two stars. */
                const char *st1 = strchr(pc, '*');
                if (st1 == NULL) {
                    ok = strcmp(pc, sc) == 0;
                } else {
                    size_t pre = (size_t)(st1 - pc);
                    const char *st2 = strchr(st1 + 1, '*');
                    const char *suf = st2 ? st2 + 1 : st1 + 1;
                    size_t mid = st2 ? (size_t)(st2 - st1 - 1) : 0;
                    size_t sufl = strlen(suf);
                    ok = strlen(sc) >= pre + sufl + mid && strncmp(sc, pc, pre) == 0 &&
                         strcmp(sc + strlen(sc) - sufl, suf) == 0;
                    if (ok && st2 != NULL) {
                        ok = false;
                        for (size_t q = pre; q + mid + sufl <= strlen(sc) && !ok; q++) {
                            ok = strncmp(sc + q, st1 + 1, mid) == 0;
                        }
                    }
                }
                if (!ok || (pe == NULL) != (se == NULL)) {
                    ok = ok && (pe == NULL) == (se == NULL);
                    break;
                }
                if (pe == NULL) {
                    break;
                }
                p = pe + 1;
                s = se + 1;
            }
            if (ok) {
                want = i;
            }
        }
        struct am_store *st = am_store_create(NULL);
        struct am_sample smp = {.name = name, .name_len = nl, .kind = AM_KIND_GAUGE, .rate = 1};
        const char *why = NULL;
        int rc = am_map_apply(m, st, &smp, 1, 0, &why);
        char got[32] = "unmapped";
        if (rc == 0 && am_map_stats(m)->mapped > 0 && want >= 0) {
            snprintf(got, sizeof(got), "%s", am_store_families(st)->name);
        }
        char wantn[32] = "unmapped";
        if (want >= 0) {
            snprintf(wantn, sizeof(wantn), "r%d", want);
        }
        matched += want >= 0;
        if (want >= 0 && strcmp(got, wantn) != 0) {
            fail_msg("name '%s': got %s, want %s (%s)", name, got, wantn, pats[want]);
        }
        if (want < 0 && rc == 0 && strncmp(am_store_families(st)->name, "r", 1) == 0 &&
            strchr("0123456789", am_store_families(st)->name[1]) != NULL) {
            fail_msg("name '%s': got %s, want no rule", name, am_store_families(st)->name);
        }
        am_store_destroy(st);
    }
    assert_true(matched > 1000 && matched < 2900); /* both outcomes are tried */
    am_map_destroy(m);
    am_rules_free(rules);
    am_defaults_clear(&d);
}

/* A refused sample: too many labels, hostile label names, a bad mapped name. */
static void test_refusals(void **state)
{
    struct am_defaults d;
    struct am_rules *rules = NULL;
    struct am_map_conf mc = {0};
    char err[256];
    struct am_label many[AM_LABELS_MAX];
    char names[AM_LABELS_MAX][16];
    (void)state;

    assert_int_equal(
        load("mappings:\n- {match: \"*\", name: \"$1\"}\n", &d, &rules, err, sizeof(err)), 0);
    mc.defaults = &d;
    mc.global = rules;
    struct am_map *m = am_map_create(&mc, err, sizeof(err));
    struct am_store *st = am_store_create(NULL);
    const char *why = NULL;
    struct am_sample s = {.name = "", .name_len = 0, .kind = AM_KIND_GAUGE, .rate = 1};

    /* An empty capture makes an empty name: the store refuses it. */
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), -1);
    assert_non_null(why);
    for (int i = 0; i < AM_LABELS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "l-%d", i);
        many[i] = (struct am_label){names[i], strlen(names[i]), "v", 1};
    }
    s.name = "x";
    s.name_len = 1;
    s.labels = many;
    s.nlabels = AM_LABELS_MAX;
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), 0);
    assert_int_equal(am_store_families(st)->nlabels, AM_LABELS_MAX);
    assert_string_equal(am_store_families(st)->label_names[0], "l_0");
    /* A label name that sanitizes to "__..." is the store's to refuse. */
    struct am_label reserved = {"__x", 3, "v", 1};
    s.labels = &reserved;
    s.nlabels = 1;
    s.name = "y";
    assert_int_equal(am_map_apply(m, st, &s, 1, 0, &why), -1);
    assert_int_equal(am_map_stats(m)->refused, 2);
    am_map_destroy(m);
    am_store_destroy(st);
    am_rules_free(rules);
    am_defaults_clear(&d);
}

/* ---- a measurement, not a test: ns per am_map_apply on a cache hit -------------------- */

static void bench_apply(void)
{
    struct am_defaults d;
    struct am_rules *rules = NULL;
    struct am_map_conf mc = {0};
    char err[256];
    static const struct am_label tags[] = {{"env", 3, "prod", 4}, {"region", 6, "eu-west", 7}};
    enum { NAMES = 64, N = 4000000 };
    struct am_sample s[NAMES];
    char names[NAMES][48];
    struct timespec t0, t1;

    assert_int_equal(load("mappings:\n- match: app.*.requests.*\n  name: app_requests_total\n"
                          "  labels: {handler: $1, code: $2}\n",
                          &d, &rules, err, sizeof(err)),
                     0);
    mc.defaults = &d;
    mc.global = rules;
    struct am_map *m = am_map_create(&mc, err, sizeof(err));
    struct am_store *st = am_store_create(NULL);
    for (int i = 0; i < NAMES; i++) {
        snprintf(names[i], sizeof(names[i]), "app.h%d.requests.%d", i % 16, 200 + i / 16);
        s[i] = (struct am_sample){.name = names[i],
                                  .name_len = strlen(names[i]),
                                  .kind = AM_KIND_COUNTER,
                                  .value = 1,
                                  .rate = 1,
                                  .labels = tags,
                                  .nlabels = 2};
    }
    for (int i = 0; i < NAMES; i++) {
        assert_int_equal(am_map_apply(m, st, &s[i], 1, 0, NULL), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        am_map_apply(m, st, &s[i % NAMES], 1, 0, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
    printf("am_map_apply, cache hit, glob-mapped counter, 2 tags, store included: %.1f ns\n", ns);
    am_map_destroy(m);
    am_store_destroy(st);
    am_rules_free(rules);
    am_defaults_clear(&d);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_defaults_values),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_customs_in_a_table),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_prefix_constant_labels_small_cache),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_own_then_global),
        cmocka_unit_test(test_many_rules_against_scan),
        cmocka_unit_test(test_refusals),
    };

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench_apply();
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
