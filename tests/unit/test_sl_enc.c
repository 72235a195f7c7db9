/* test_sl_enc.c — table tests of record encoding (JSON escapes, UTF-8, times, fields) and ids. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "sl_block.h"
#include "sl_enc.h"

#define READ_NS 1700000000123456789LL /* 2023-11-14T22:13:20.123456789Z */
#define HEAD                                                                                       \
    "{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"file\":\"/logs/app.log\",\"offset\":42,"
#define S(lit) lit, sizeof(lit) - 1 /* text and length: texts may hold NUL bytes */
/* What rows with meta get from POD_NAME=web-0, NODE_NAME=node-1 and --label team=core
 * --label q="x": after every field of the record's own. */
#define META ",\"pod\":\"web-0\",\"node\":\"node-1\",\"team\":\"core\",\"q\":\"\\\"x\\\"\""

struct row {
    const char *what;
    const char *text;
    size_t len;
    uint32_t flags;
    int64_t time_ns; /* SL_REC_CRI */
    uint64_t offset;
    const char *want; /* the whole line */
};

static const struct row table[] = {
    {"plain ASCII", S("hello world"), 0, 0, 42, HEAD "\"message\":\"hello world\"}\n"},
    {"empty", S(""), 0, 0, 42, HEAD "\"message\":\"\"}\n"},
    {"quote and backslash", S("say \"hi\" \\ bye"), 0, 0, 42,
     HEAD "\"message\":\"say \\\"hi\\\" \\\\ bye\"}\n"},
    {"short escapes", S("\b\f\n\r\t"), 0, 0, 42, HEAD "\"message\":\"\\b\\f\\n\\r\\t\"}\n"},
    {"other controls and NUL", S("\x01\x1f\x00z"), 0, 0, 42,
     HEAD "\"message\":\"\\u0001\\u001f\\u0000z\"}\n"},
    {"DEL and slash kept", S("\x7f/"), 0, 0, 42, HEAD "\"message\":\"\x7f/\"}\n"},
    {"valid UTF-8 passed through", S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 0, 0, 42,
     HEAD "\"message\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}\n"},
    {"UTF-8 edges", S("\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\xc2\x80"), 0, 0, 42,
     HEAD "\"message\":\"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\xc2\x80\"}\n"},
    {"lone continuation", S("a\x80z"), 0, 0, 42, HEAD "\"message\":\"a\\u0080z\"}\n"},
    {"never-valid bytes", S("\xff\xfe\xf5"), 0, 0, 42,
     HEAD "\"message\":\"\\u00ff\\u00fe\\u00f5\"}\n"},
    {"overlong 2 bytes", S("\xc0\xaf\xc1\xbf"), 0, 0, 42,
     HEAD "\"message\":\"\\u00c0\\u00af\\u00c1\\u00bf\"}\n"},
    {"overlong 3 bytes", S("\xe0\x80\xaf"), 0, 0, 42,
     HEAD "\"message\":\"\\u00e0\\u0080\\u00af\"}\n"},
    {"overlong 4 bytes", S("\xf0\x8f\xbf\xbf"), 0, 0, 42,
     HEAD "\"message\":\"\\u00f0\\u008f\\u00bf\\u00bf\"}\n"},
    {"surrogate", S("\xed\xa0\x80"), 0, 0, 42, HEAD "\"message\":\"\\u00ed\\u00a0\\u0080\"}\n"},
    {"past U+10FFFF", S("\xf4\x90\x80\x80"), 0, 0, 42,
     HEAD "\"message\":\"\\u00f4\\u0090\\u0080\\u0080\"}\n"},
    {"cut at the end", S("a\xe2\x82"), 0, 0, 42, HEAD "\"message\":\"a\\u00e2\\u0082\"}\n"},
    {"cut by ASCII", S("\xe2\x82\x62") /* \x62: b */, 0, 0, 42,
     HEAD "\"message\":\"\\u00e2\\u0082b\"}\n"},
    {"cut by a new lead", S("\xe2\xe2\x82\xac"), 0, 0, 42,
     HEAD "\"message\":\"\\u00e2\xe2\x82\xac\"}\n"},
    {"CRI stdout, its own time", S("from cri"), SL_REC_CRI, 0, 42,
     "{\"time\":\"1970-01-01T00:00:00.000000000Z\",\"file\":\"/logs/app.log\",\"offset\":42,"
     "\"message\":\"from cri\",\"stream\":\"stdout\"}\n"},
    {"CRI stderr, leap day", S("oops"), SL_REC_CRI | SL_REC_STDERR, 1709251199999999999LL, 42,
     "{\"time\":\"2024-02-29T23:59:59.999999999Z\",\"file\":\"/logs/app.log\",\"offset\":42,"
     "\"message\":\"oops\",\"stream\":\"stderr\"}\n"},
    {"stderr without cri: no stream", S("x"), SL_REC_STDERR, 0, 42, HEAD "\"message\":\"x\"}\n"},
    {"truncated", S("long"), SL_REC_TRUNCATED, 0, 42,
     HEAD "\"message\":\"long\",\"truncated\":true}\n"},
    {"last line without newline: same JSON", S("end"), SL_REC_NO_NEWLINE, 0, 42,
     HEAD "\"message\":\"end\"}\n"},
    {"json record verbatim", S("{\"level\":\"info\",\"n\":[1,2]}"), SL_REC_JSON, 0, 42,
     HEAD "\"json\":{\"level\":\"info\",\"n\":[1,2]}}\n"},
    {"json record from cri", S("{}"), SL_REC_JSON | SL_REC_CRI, 1000000001LL, 42,
     "{\"time\":\"1970-01-01T00:00:01.000000001Z\",\"file\":\"/logs/app.log\",\"offset\":42,"
     "\"json\":{},\"stream\":\"stdout\"}\n"},
    {"largest offset a file has (jansson reads int64)", S("o"), 0, 0, INT64_MAX,
     "{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"file\":\"/logs/app.log\","
     "\"offset\":9223372036854775807,\"message\":\"o\"}\n"},
    {"offset 0", S("o"), 0, 0, 0,
     "{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"file\":\"/logs/app.log\","
     "\"offset\":0,\"message\":\"o\"}\n"},
};

/* The same, encoded with labels and Downward-API metadata. */
static const struct row meta_table[] = {
    {"labels and metadata", S("hi"), 0, 0, 42, HEAD "\"message\":\"hi\"" META "}\n"},
    {"labels after stream and truncated", S("e\xff"), SL_REC_CRI | SL_REC_STDERR | SL_REC_TRUNCATED,
     0, 42,
     "{\"time\":\"1970-01-01T00:00:00.000000000Z\",\"file\":\"/logs/app.log\",\"offset\":42,"
     "\"message\":\"e\\u00ff\",\"stream\":\"stderr\",\"truncated\":true" META "}\n"},
    {"labels after json", S("{\"a\":1}"), SL_REC_JSON, 0, 42, HEAD "\"json\":{\"a\":1}" META "}\n"},
};

struct fx {
    struct sl_src *src;
    struct sl_block *b;
    struct sl_enc enc;  /* no labels, no metadata */
    struct sl_enc meta; /* the table's META */
    struct evbuffer *out;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[128];

    assert_non_null(f);
    unsetenv("POD_NAME");
    unsetenv("POD_NAMESPACE");
    unsetenv("NODE_NAME");
    unsetenv("CONTAINER_NAME");
    f->src = sl_src_new("/logs/app.log", 0x803, 0x1234, 0xabcdef);
    f->b = sl_block_new(f->src, READ_NS);
    f->out = evbuffer_new();
    assert_non_null(f->b);
    assert_non_null(f->out);
    assert_int_equal(sl_enc_init(&f->enc, NULL, err, sizeof(err)), 0);
    assert_string_equal(f->enc.extra, "");
    const char *labels[] = {"team=core", "q=\"x\""};
    struct pk_strv sv = {(char **)labels, 2};
    setenv("POD_NAME", "web-0", 1);
    setenv("NODE_NAME", "node-1", 1);
    assert_int_equal(sl_enc_init(&f->meta, &sv, err, sizeof(err)), 0);
    unsetenv("POD_NAME");
    unsetenv("NODE_NAME");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    sl_enc_free(&f->enc);
    sl_enc_free(&f->meta);
    evbuffer_free(f->out);
    sl_block_free(f->b);
    sl_src_unref(f->src);
    free(f);
    return 0;
}

/* Takes everything out of buf as a NUL-terminated string (the caller frees); *len its size. */
static char *take(struct evbuffer *buf, size_t *len)
{
    size_t n = evbuffer_get_length(buf);
    char *s = malloc(n + 1);

    assert_non_null(s);
    evbuffer_remove(buf, s, n);
    s[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return s;
}

/* Encodes one record of text as JSON with e; returns the line (the caller frees). */
static char *encode_one(struct fx *f, const struct sl_enc *e, const char *text, size_t len,
                        uint32_t flags, int64_t time_ns, uint64_t offset)
{
    f->b->nrec = 0;
    f->b->len = 0;
    assert_int_equal(sl_block_add(f->b, text, len, offset, time_ns, flags), 0);
    assert_int_equal(sl_enc_record(e, SL_FMT_JSON, f->out, f->b, &f->b->rec[0]), 0);
    return take(f->out, NULL);
}

static void check_rows(struct fx *f, const struct sl_enc *e, const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *got = encode_one(f, e, rows[i].text, rows[i].len, rows[i].flags, rows[i].time_ns,
                               rows[i].offset);
        json_error_t jerr;
        json_t *j = json_loads(got, JSON_ALLOW_NUL, &jerr);

        if (strcmp(got, rows[i].want) != 0) {
            fail_msg("row %zu, %s:\n got  %s want %s", i, rows[i].what, got, rows[i].want);
        }
        if (j == NULL || !json_is_object(j)) {
            fail_msg("row %zu, %s: not a JSON object: %s", i, rows[i].what, jerr.text);
        }
        json_decref(j);
        free(got);
    }
}

static void test_json_table(void **state)
{
    struct fx *f = *state;

    check_rows(f, &f->enc, table, sizeof(table) / sizeof(table[0]));
    check_rows(f, &f->meta, meta_table, sizeof(meta_table) / sizeof(meta_table[0]));
}

/* Raw is byte-exact: the text as read, whatever it holds, then '\n'. */
static void test_raw(void **state)
{
    struct fx *f = *state;
    static const char want[] = "a\n\n\xff\x00\x62\\\"\n{\"k\":1}\nend\n";
    size_t n;

    assert_int_equal(sl_block_add(f->b, S("a"), 0, 0, 0), 0);
    assert_int_equal(sl_block_add(f->b, S(""), 2, 0, 0), 0);
    assert_int_equal(sl_block_add(f->b, S("\xff\x00\x62\\\""), 3, 0, SL_REC_TRUNCATED), 0);
    assert_int_equal(sl_block_add(f->b, S("{\"k\":1}"), 9, 0, SL_REC_JSON), 0);
    assert_int_equal(sl_block_add(f->b, S("end"), 17, 0, SL_REC_NO_NEWLINE), 0);
    for (size_t i = 0; i < f->b->nrec; i++) {
        assert_int_equal(sl_enc_record(&f->enc, SL_FMT_RAW, f->out, f->b, &f->b->rec[i]), 0);
    }
    char *got = take(f->out, &n);
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(got, want, n);
    free(got);
}

/* A block whose only record is empty has no data buffer at all. */
static void test_empty_only(void **state)
{
    struct fx *f = *state;
    struct sl_block *b = sl_block_new(f->src, READ_NS);

    assert_int_equal(sl_block_add(b, "", 0, 42, 0, 0), 0);
    assert_null(b->data);
    assert_int_equal(sl_enc_record(&f->enc, SL_FMT_RAW, f->out, b, &b->rec[0]), 0);
    assert_int_equal(sl_enc_record(&f->enc, SL_FMT_JSON, f->out, b, &b->rec[0]), 0);
    char *got = take(f->out, NULL);
    assert_string_equal(got, "\n" HEAD "\"message\":\"\"}\n");
    free(got);
    sl_block_free(b);
}

/* The file name is a JSON string like any other. */
static void test_path_escaped(void **state)
{
    struct fx *f = *state;
    struct sl_src *src = sl_src_new("/logs/a \"b\"\\\x01\xff.log", 1, 2, 3);
    struct sl_block *b = sl_block_new(src, 0);

    assert_int_equal(sl_block_add(b, S("x"), 7, 0, 0), 0);
    assert_int_equal(sl_enc_record(&f->enc, SL_FMT_JSON, f->out, b, &b->rec[0]), 0);
    char *got = take(f->out, NULL);
    assert_string_equal(got, "{\"time\":\"1970-01-01T00:00:00.000000000Z\","
                             "\"file\":\"/logs/a \\\"b\\\"\\\\\\u0001\\u00ff.log\","
                             "\"offset\":7,\"message\":\"x\"}\n");
    free(got);
    sl_block_free(b);
    sl_src_unref(src);
}

/* Labels and the Downward API, rendered once and appended to every record. */
static void test_labels_and_metadata(void **state)
{
    struct fx *f = *state;
    const char *labels[] = {"team=core", "app=a\"b", "empty=", "k=v=w", "\xc3\xa9t\xc3\xa9=\x01"};
    struct pk_strv sv = {(char **)labels, sizeof(labels) / sizeof(labels[0])};
    struct sl_enc e;
    char err[256] = "";

    setenv("POD_NAME", "web-0", 1);
    setenv("POD_NAMESPACE", "default", 1);
    setenv("NODE_NAME", "", 1); /* empty: left out */
    setenv("CONTAINER_NAME", "app\n", 1);
    assert_int_equal(sl_enc_init(&e, &sv, err, sizeof(err)), 0);
    static const char extra[] = ",\"pod\":\"web-0\",\"namespace\":\"default\","
                                "\"container\":\"app\\n\",\"team\":\"core\",\"app\":\"a\\\"b\","
                                "\"empty\":\"\",\"k\":\"v=w\",\"\xc3\xa9t\xc3\xa9\":\"\\u0001\"";
    assert_string_equal(e.extra, extra);
    assert_int_equal(e.extra_len, sizeof(extra) - 1);

    char *got = encode_one(f, &e, S("hi"), SL_REC_TRUNCATED, 0, 42);
    char want[512];
    snprintf(want, sizeof(want), HEAD "\"message\":\"hi\",\"truncated\":true%s}\n", extra);
    assert_string_equal(got, want);
    json_t *j = json_loads(got, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "pod")), "web-0");
    assert_string_equal(json_string_value(json_object_get(j, "app")), "a\"b");
    assert_null(json_object_get(j, "node"));
    json_decref(j);
    free(got);
    sl_enc_free(&e);
    sl_enc_free(&e); /* twice is harmless */

    unsetenv("POD_NAME");
    unsetenv("POD_NAMESPACE");
    unsetenv("NODE_NAME");
    unsetenv("CONTAINER_NAME");
}

static void test_bad_labels(void **state)
{
    static const struct {
        const char *labels[3];
        const char *err;
    } bad[] = {
        {{"=v"}, "--label '=v': expected KEY=VALUE"},
        {{"novalue"}, "--label 'novalue': expected KEY=VALUE"},
        {{""}, "--label '': expected KEY=VALUE"},
        {{"time=1"}, "--label 'time=1': \"time\" is a field of every record"},
        {{"ok=1", "message=x"}, "--label 'message=x': \"message\" is a field of every record"},
        {{"pod=x"}, "--label 'pod=x': \"pod\" is a field of every record"},
        {{"json=x"}, "--label 'json=x': \"json\" is a field of every record"},
        {{"a=1", "b=2", "a=3"}, "--label 'a=3': \"a\" is given twice"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pk_strv sv = {(char **)bad[i].labels, 0};
        struct sl_enc e = {0};
        char err[256] = "";
        while (sv.n < 3 && bad[i].labels[sv.n] != NULL) {
            sv.n++;
        }
        if (sl_enc_init(&e, &sv, err, sizeof(err)) != -1 || strcmp(err, bad[i].err) != 0) {
            fail_msg("bad[%zu]: err '%s', want '%s'", i, err, bad[i].err);
        }
        sl_enc_free(&e);
    }
}

/* Times against gmtime_r, over the whole range an int64 of nanoseconds holds. */
static void test_times(void **state)
{
    struct fx *f = *state;
    int64_t edges[] = {0,
                       -1,
                       1,
                       INT64_MIN,
                       INT64_MAX,
                       -1000000000LL,
                       951782400LL * 1000000000LL,
                       4102444800LL * 1000000000LL - 1,
                       -2208988800LL * 1000000000LL};
    uint64_t x = 88172645463325252ULL;

    for (int i = 0; i < 5000; i++) {
        int64_t ns;
        if ((size_t)i < sizeof(edges) / sizeof(edges[0])) {
            ns = edges[i];
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            ns = (int64_t)x;
        }
        char *got = encode_one(f, &f->enc, S("t"), SL_REC_CRI, ns, 0);
        int64_t secs = ns / 1000000000, frac = ns % 1000000000;
        if (frac < 0) {
            frac += 1000000000;
            secs--;
        }
        time_t t = (time_t)secs;
        struct tm tm;
        char want[64];
        assert_non_null(gmtime_r(&t, &tm));
        snprintf(want, sizeof(want), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 frac);
        if (strncmp(got, want, strlen(want)) != 0) {
            fail_msg("%" PRId64 " ns: got %.40s, want %s", ns, got, want);
        }
        free(got);
    }
}

/*
 * Random strings made of pieces whose decoding is known: whatever the mix, the output is
 * JSON that jansson reads back to the text with each invalid byte X as U+00XX. Pieces that
 * start a sequence and are cut end in ASCII, so no two pieces join into a valid sequence.
 */
static void test_json_string_roundtrip(void **state)
{
    static const struct {
        const char *in;
        size_t in_len;
        const char *out;
        size_t out_len;
    } pieces[] = {
        {S("a"), S("a")},
        {S("hello world, "), S("hello world, ")},
        {S("\""), S("\"")},
        {S("\\"), S("\\")},
        {S("\n"), S("\n")},
        {S("\x00"), S("\x00")},
        {S("\x1b[0m"), S("\x1b[0m")},
        {S("\x7f"), S("\x7f")},
        {S("\xc3\xa9"), S("\xc3\xa9")},
        {S("\xe2\x82\xac"), S("\xe2\x82\xac")},
        {S("\xf0\x9f\x98\x80"), S("\xf0\x9f\x98\x80")},
        {S("\x80"), S("\xc2\x80")},
        {S("\xbf"), S("\xc2\xbf")},
        {S("\xff"), S("\xc3\xbf")},
        {S("\xc0"), S("\xc3\x80")},
        {S("\xe2\x82!"), S("\xc3\xa2\xc2\x82!")},
        {S("\xf0\x9f\x98."), S("\xc3\xb0\xc2\x9f\xc2\x98.")},
        {S("\xed\xa0\x80"), S("\xc3\xad\xc2\xa0\xc2\x80")},
    };
    size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    struct fx *f = *state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char in[1024], want[2048];

    for (int round = 0; round < 3000; round++) {
        size_t in_len = 0, want_len = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % 40);
        for (size_t k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t p = (size_t)(x % npieces);
            memcpy(in + in_len, pieces[p].in, pieces[p].in_len);
            in_len += pieces[p].in_len;
            memcpy(want + want_len, pieces[p].out, pieces[p].out_len);
            want_len += pieces[p].out_len;
        }
        assert_int_equal(sl_enc_json_string(f->out, in, in_len), 0);
        size_t got_len;
        char *got = take(f->out, &got_len);
        json_error_t jerr;
        json_t *j = json_loadb(got, got_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (j == NULL || !json_is_string(j)) {
            fail_msg("round %d: not a JSON string (%s): %s", round, jerr.text, got);
        }
        if (json_string_length(j) != want_len ||
            memcmp(json_string_value(j), want, want_len) != 0) {
            fail_msg("round %d: decoded differently: %s", round, got);
        }
        /* Nothing to escape: copied as is. */
        if (memchr(got, '\\', got_len) == NULL && want_len == in_len) {
            assert_int_equal(got_len, in_len + 2);
        }
        json_decref(j);
        free(got);
    }
}

static void test_ids(void **state)
{
    struct fx *f = *state;
    static const struct {
        uint64_t offset;
        const char *want;
    } ids[] = {
        {0, "803-1234-0000000000abcdef-0"},
        {0xabc, "803-1234-0000000000abcdef-abc"},
        {UINT64_MAX, "803-1234-0000000000abcdef-ffffffffffffffff"},
    };
    char out[SL_ENC_ID_MAX];

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct sl_rec r = {.offset = ids[i].offset};
        size_t n = sl_enc_id(f->b, &r, out);
        assert_string_equal(out, ids[i].want);
        assert_int_equal(n, strlen(ids[i].want));
    }

    /* The longest source id there is still fits, with the longest offset. */
    struct sl_src *big = sl_src_new("/x", UINT64_MAX, UINT64_MAX, UINT64_MAX);
    struct sl_block *b = sl_block_new(big, 0);
    struct sl_rec r = {.offset = UINT64_MAX};
    size_t n = sl_enc_id(b, &r, out);
    assert_true(n < SL_ENC_ID_MAX);
    assert_int_equal(n, strlen(big->id) + 1 + 16);
    assert_memory_equal(out, big->id, strlen(big->id));
    sl_block_free(b);
    sl_src_unref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_and_metadata, setup, teardown),
        cmocka_unit_test(test_bad_labels),
        cmocka_unit_test_setup_teardown(test_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_string_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
