/* test_sl_lines.c — the line assembler: a table of inputs under every chunking, random
 * chunkings against a byte-by-byte run, long lines, CRI joins, multiline, ticks, memory. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sl_block.h"
#include "sl_lines.h"

#define T0 1795290510LL /* 2026-11-21T19:48:30Z */
#define TS0 "2026-11-21T19:48:30.123456789Z"
#define TS1 "2026-11-21T19:48:31Z"
#define TS2 "2026-11-21T19:48:32.5+00:00"
#define NS0 (T0 * 1000000000LL + 123456789)
#define NS1 ((T0 + 1) * 1000000000LL)
#define NS2 ((T0 + 2) * 1000000000LL + 500000000)

#define T50 "tttttttttttttttttttttttttttttttttttttttttttttttttt"

#define CRI SL_REC_CRI
#define ERR (SL_REC_CRI | SL_REC_STDERR)
#define TR SL_REC_TRUNCATED
#define NONL SL_REC_NO_NEWLINE
#define JSON SL_REC_JSON

/* ---- helpers ------------------------------------------------------------------------ */

struct rec {
    char *text;
    size_t len;
    uint64_t offset;
    int64_t time_ns;
    uint32_t flags;
};

/* What the emit callback saw, checked as it came: offsets only grow. */
struct got {
    struct rec *v;
    size_t n, cap;
};

static void collect(void *arg, const char *text, size_t len, uint64_t offset, int64_t time_ns,
                    uint32_t flags)
{
    struct got *g = arg;

    if (g->n > 0 && offset <= g->v[g->n - 1].offset) {
        fail_msg("record at %llu after one at %llu", (unsigned long long)offset,
                 (unsigned long long)g->v[g->n - 1].offset);
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->v = realloc(g->v, g->cap * sizeof(*g->v));
        assert_non_null(g->v);
    }
    g->v[g->n].text = malloc(len + 1);
    assert_non_null(g->v[g->n].text);
    memcpy(g->v[g->n].text, text, len);
    g->v[g->n].text[len] = '\0';
    g->v[g->n].len = len;
    g->v[g->n].offset = offset;
    g->v[g->n].time_ns = time_ns;
    g->v[g->n].flags = flags;
    g->n++;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].text);
    }
    free(g->v);
    memset(g, 0, sizeof(*g));
}

static void same_records(const struct got *a, const struct got *b, const char *what)
{
    if (a->n != b->n) {
        fail_msg("%s: %zu records, want %zu", what, b->n, a->n);
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct rec *x = &a->v[i], *y = &b->v[i];
        if (x->len != y->len || memcmp(x->text, y->text, x->len) != 0 || x->offset != y->offset ||
            x->time_ns != y->time_ns || x->flags != y->flags) {
            fail_msg("%s: record %zu differs: '%s' at %llu flags %#x, want '%s' at %llu "
                     "flags %#x",
                     what, i, y->text, (unsigned long long)y->offset, y->flags, x->text,
                     (unsigned long long)x->offset, x->flags);
        }
    }
}

static pcre2_code *compile(const char *pattern)
{
    int err;
    PCRE2_SIZE at;
    pcre2_code *c;

    if (pattern == NULL) {
        return NULL;
    }
    c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &at, NULL);
    assert_non_null(c);
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* where there is no JIT, the interpreter */
    return c;
}

/* Feeds in[0..n) in pieces of step bytes (0: at once) at now, checking after each piece that
 * the offsets are right and the resume offset never goes back nor passes the offset. */
static void feed_steps(struct sl_lines *l, const char *in, size_t n, size_t step, int64_t now,
                       struct got *g)
{
    uint64_t start = sl_lines_offset(l), last = sl_lines_resume_offset(l);

    for (size_t pos = 0; pos < n || n == 0;) {
        size_t k = step == 0 || step > n - pos ? n - pos : step;
        uint64_t r;

        assert_int_equal(sl_lines_feed(l, in + pos, k, now, collect, g), 0);
        pos += k;
        assert_int_equal(sl_lines_offset(l), start + pos);
        r = sl_lines_resume_offset(l);
        assert_true(r >= last);
        assert_true(r <= start + pos);
        assert_true(g->n == 0 || g->v[g->n - 1].offset < r);
        last = r;
        if (n == 0) {
            break;
        }
    }
}

/* ---- the table ---------------------------------------------------------------------- */

struct want {
    const char *text; /* NULL ends the list */
    int line;         /* the input line the record starts on (0-based) */
    uint32_t flags;
    int64_t time_ns;
};

struct row {
    const char *name;
    enum sl_parser parser;
    size_t max_line;       /* 0: 1024 */
    const char *multiline; /* a pattern, or NULL */
    const char *in;
    bool finish;     /* sl_lines_finish after the input */
    int resume_line; /* before finish: the line the resume offset is at; -1: the input's end */
    uint64_t bad, dropped;
    struct want want[10];
};

#define RAW .parser = SL_PARSE_RAW
#define JSN .parser = SL_PARSE_JSON
#define CRIP .parser = SL_PARSE_CRI
#define ML(p) .multiline = (p)
#define FIN .finish = true
#define AT(n) .resume_line = (n)
#define END .resume_line = -1

/* Interleaved parts of both streams: stdout "ab"+"cd"+"ef", stderr "x"+"y". */
#define JOINS TS0 " stdout P ab\n" TS1 " stderr P x\n" TS1 " stdout P cd\n" TS2 " stderr F y\n"
#define ML_CRI                                                                                     \
    TS0 " stdout F E1\n" TS0 " stderr F E2\n" TS1 " stdout F  a\n" TS1 " stderr F  b\n" TS2        \
        " stdout F E3\n"

static const struct row table[] = {
    /* ---- raw ---- */
    {"lines", RAW, .in = "a\nbb\n\nccc", AT(3), .want = {{"a", 0}, {"bb", 1}, {"", 2}}},
    {"finish", RAW, .in = "a\nbb\n\nccc", FIN, AT(3),
     .want = {{"a", 0}, {"bb", 1}, {"", 2}, {"ccc", 3, NONL}}},
    {"cr kept", RAW, .in = "a\r\nb\r\n\r", FIN, AT(2),
     .want = {{"a\r", 0}, {"b\r", 1}, {"\r", 2, NONL}}},
    {"nothing", RAW, .in = "", FIN, END},
    {"max_line", RAW, .max_line = 3, .in = "abcdef\nabc\nab\nabcd", FIN, AT(3), .dropped = 4,
     .want = {{"abc", 0, TR}, {"abc", 1}, {"ab", 2}, {"abc", 3, TR | NONL}}},
    {"max_line 1", RAW, .max_line = 1, .in = "\nab\n", END, .dropped = 1,
     .want = {{"", 0}, {"a", 1, TR}}},
    /* ---- json ---- */
    {"json", JSN,
     .in = "{\"a\":1}\n[1]\n{\"a\":\n {} \n{\"a\":1}{\"b\":2}\n{\"a\":1}\r\nx{}\n\"{}\"\n{b}\n",
     END, .bad = 6,
     .want = {{"{\"a\":1}", 0, JSON},
              {"[1]", 1},
              {"{\"a\":", 2},
              {" {} ", 3, JSON},
              {"{\"a\":1}{\"b\":2}", 4},
              {"{\"a\":1}\r", 5, JSON},
              {"x{}", 6},
              {"\"{}\"", 7},
              {"{b}", 8}}},
    {"json last line", JSN, .in = "{\"a\":[1,{}]}", FIN, AT(0),
     .want = {{"{\"a\":[1,{}]}", 0, JSON | NONL}}},
    {"json cut", JSN, .max_line = 5, .in = "{\"a\":1}\n", END, .bad = 1, .dropped = 2,
     .want = {{"{\"a\":", 0, TR}}},
    /* ---- cri ---- */
    {"cri", CRIP, .in = TS0 " stdout F hello\n" TS1 " stderr F:x:y oops \r\n", END,
     .want = {{"hello", 0, CRI, NS0}, {"oops \r", 1, ERR, NS1}}},
    {"cri joins", CRIP, .in = JOINS TS2 " stdout F ef\n", END,
     .want = {{"abcdef", 0, CRI, NS0}, {"xy", 1, ERR, NS1}}},
    /* stderr's line is whole but waits for stdout's, which began before it */
    {"cri held back", CRIP, .in = JOINS, AT(0)},
    {"cri held back, finish", CRIP, .in = JOINS, FIN, AT(0),
     .want = {{"abcd", 0, CRI, NS0}, {"xy", 1, ERR, NS1}}},
    {"cri malformed", CRIP, .in = "garbage\n" TS0 " stdout F ok\n" TS0 " stdin F no\n", END,
     .bad = 2, .want = {{"garbage", 0}, {"ok", 1, CRI, NS0}, {TS0 " stdin F no", 2}}},
    {"cri malformed among parts", CRIP,
     .in = TS0 " stdout P a\n"
               "junk\n" TS1 " stdout F b\n",
     END, .bad = 1, .want = {{"ab", 0, CRI, NS0}, {"junk", 1}}},
    {"cri max_line join", CRIP, .max_line = 4,
     .in = TS0 " stdout P abc\n" TS0 " stdout P def\n" TS1 " stdout F gh\n", END, .dropped = 4,
     .want = {{"abcd", 0, CRI | TR, NS0}}},
    {"cri max_line", CRIP, .max_line = 4, .in = TS0 " stderr F abcdefg\n", END, .dropped = 3,
     .want = {{"abcd", 0, ERR | TR, NS0}}},
    {"cri last line", CRIP, .in = TS0 " stdout P a\n" TS1 " stdout F b", AT(0)},
    {"cri last line, finish", CRIP, .in = TS0 " stdout P a\n" TS1 " stdout F b", FIN, AT(0),
     .want = {{"ab", 0, CRI | NONL, NS0}}},
    {"cri P at the end", CRIP, .in = TS0 " stdout P a\n", FIN, AT(0), .want = {{"a", 0, CRI, NS0}}},
    /* a head of 256 bytes is a CRI record, one of 257 is not */
    {"cri long tags", CRIP, .max_line = 4,
     .in = TS0 " stdout F:" T50 T50 T50 T50 "ttttttttttttttt x\n" TS0 " stdout F:" T50 T50 T50 T50
               "tttttttttttttttt x\n",
     END, .bad = 1, .dropped = 254, .want = {{"x", 0, CRI, NS0}, {"2026", 1, TR}}},
    {"cri junk at the end", CRIP, .in = "junk", FIN, AT(0), .bad = 1, .want = {{"junk", 0, NONL}}},
    /* ---- multiline ---- */
    {"multiline", RAW, ML("^\\S"), .in = "E1\n  at a\n  at b\nE2\n  at c\n", AT(3),
     .want = {{"E1\n  at a\n  at b", 0}}},
    {"multiline, finish", RAW, ML("^\\S"), .in = "E1\n  at a\n  at b\nE2\n  at c\n", FIN, AT(3),
     .want = {{"E1\n  at a\n  at b", 0}, {"E2\n  at c", 3}}},
    {"multiline, no start yet", RAW, ML("^\\S"), .in = "  x\n  y\nE\n", FIN, AT(2),
     .want = {{"  x\n  y", 0}, {"E", 2}}},
    /* a line that does not fit the group ends it and begins the next */
    {"multiline max_line", RAW, .max_line = 8, ML("^\\S"), .in = "E\n a\n b\n  ccccc\nE\n", FIN,
     AT(4), .want = {{"E\n a\n b", 0}, {"  ccccc", 3}, {"E", 4}}},
    {"multiline long start", RAW, .max_line = 4, ML("^\\S"), .in = "Eabcdef\n x\n", FIN, AT(1),
     .dropped = 3, .want = {{"Eabc", 0, TR}, {" x", 1}}},
    {"multiline last line", RAW, ML("^\\S"), .in = "E\n x", FIN, AT(0),
     .want = {{"E\n x", 0, NONL}}},
    {"multiline cri", CRIP, ML("^\\S"), .in = ML_CRI, AT(1), .want = {{"E1\n a", 0, CRI, NS0}}},
    {"multiline cri, finish", CRIP, ML("^\\S"), .in = ML_CRI, FIN, AT(1),
     .want = {{"E1\n a", 0, CRI, NS0}, {"E2\n b", 1, ERR, NS0}, {"E3", 4, CRI, NS2}}},
    {"multiline cri joins", CRIP, ML("^\\S"),
     .in = TS0 " stdout P E\n" TS1 " stdout F 1\n" TS1 " stdout P  x\n" TS2 " stdout F y\n", FIN,
     AT(0), .want = {{"E1\n xy", 0, CRI, NS0}}},
    {"multiline json", JSN, ML("^\\{"), .in = "{\"a\":\n 1}\n{\"b\":2}\n", FIN, AT(2),
     .want = {{"{\"a\":\n 1}", 0, JSON}, {"{\"b\":2}", 2, JSON}}},
};

/* The offset of line k of in (k past the last line: the end). */
static uint64_t line_offset(const char *in, int k)
{
    const char *p = in;

    for (int i = 0; i < k; i++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        p = nl + 1;
    }
    return (uint64_t)(p - in);
}

static void run_row(const struct row *r, size_t step)
{
    struct sl_lines_conf conf = {
        .max_line = r->max_line ? r->max_line : 1024,
        .parser = r->parser,
        .multiline = compile(r->multiline),
        .multiline_flush_ns = 1000000000,
    };
    size_t n = strlen(r->in), nwant = 0;
    uint64_t truncated = 0, resume;
    struct sl_lines *l = sl_lines_new(&conf, 0);
    struct sl_lines_stats st;
    struct got g = {0};

    assert_non_null(l);
    feed_steps(l, r->in, n, step, 1000, &g);
    resume = r->resume_line < 0 ? n : line_offset(r->in, r->resume_line);
    if (sl_lines_resume_offset(l) != resume) {
        fail_msg("%s, step %zu: resume offset %llu, want %llu", r->name, step,
                 (unsigned long long)sl_lines_resume_offset(l), (unsigned long long)resume);
    }
    if (r->finish) {
        sl_lines_finish(l, collect, &g);
        assert_int_equal(sl_lines_resume_offset(l), n);
    }
    while (nwant < 10 && r->want[nwant].text != NULL) {
        nwant++;
    }
    if (g.n != nwant) {
        fail_msg("%s, step %zu: %zu records, want %zu (first: '%s')", r->name, step, g.n, nwant,
                 g.n > 0 ? g.v[0].text : "");
    }
    for (size_t i = 0; i < nwant; i++) {
        const struct want *w = &r->want[i];
        const struct rec *x = &g.v[i];
        if (x->len != strlen(w->text) || memcmp(x->text, w->text, x->len) != 0 ||
            x->offset != line_offset(r->in, w->line) || x->flags != w->flags ||
            x->time_ns != w->time_ns) {
            fail_msg("%s, step %zu, record %zu: '%s' at %llu flags %#x time %lld; want '%s' at "
                     "%llu flags %#x time %lld",
                     r->name, step, i, x->text, (unsigned long long)x->offset, x->flags,
                     (long long)x->time_ns, w->text,
                     (unsigned long long)line_offset(r->in, w->line), w->flags,
                     (long long)w->time_ns);
        }
        truncated += (w->flags & TR) != 0;
    }
    sl_lines_stats(l, &st);
    assert_int_equal(st.records, nwant);
    assert_int_equal(st.truncated, truncated);
    if (st.bad != r->bad || st.dropped_bytes != r->dropped) {
        fail_msg("%s, step %zu: bad %llu dropped %llu, want %llu %llu", r->name, step,
                 (unsigned long long)st.bad, (unsigned long long)st.dropped_bytes,
                 (unsigned long long)r->bad, (unsigned long long)r->dropped);
    }
    got_free(&g);
    sl_lines_free(l);
    pcre2_code_free((pcre2_code *)conf.multiline);
}

/* Every row, fed at once and in pieces of every small size. */
static void test_table(void **state)
{
    static const size_t steps[] = {0, 1, 2, 3, 4, 5, 7, 11, 16, 64};
    (void)state;

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            run_row(&table[i], steps[k]);
        }
    }
}

/* ---- random chunkings --------------------------------------------------------------- */

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rnd_state >> 33) % n;
}

struct buf {
    char *p;
    size_t len, cap;
};

static void add(struct buf *b, const char *p, size_t n)
{
    if (b->cap - b->len < n + 1) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void add_text(struct buf *b, size_t n)
{
    static const char alphabet[] = "abc xyz{}\":,\r\t";
    for (size_t i = 0; i < n; i++) {
        add(b, &alphabet[rnd(sizeof(alphabet) - 1)], 1);
    }
}

/* A file of every kind of line: cri parts and lines of both streams, junk, json, group starts
 * and continuations, long lines, empty ones; ends without a '\n'. */
static void make_mix(struct buf *b, int lines)
{
    static const char *const heads[] = {TS0 " stdout F ", TS1 " stderr F ", TS0 " stdout P ",
                                        TS2 " stderr P ", TS1 " stdout F:x "};
    for (int i = 0; i < lines; i++) {
        const char *h = heads[rnd(5)];

        switch (rnd(8)) {
        case 0:
        case 1:
        case 2:
        case 3:
            add(b, h, strlen(h));
            break;
        case 4:
            add(b, h, rnd((uint32_t)strlen(h))); /* a head cut short: not a CRI record */
            break;
        case 5:
            add(b, "{\"k\":\"v\"}", rnd(2) ? 9 : 1);
            break;
        default:
            break;
        }
        add(b, rnd(3) ? "E" : "  ", rnd(2) + 1);
        add_text(b, rnd(10) == 0 ? 300 + rnd(300) : rnd(40));
        if (i + 1 < lines) {
            add(b, "\n", 1);
        }
    }
}

/*
 * The same input under many confs, fed in random pieces, gives the same records as fed byte
 * by byte; and after every piece the resume offset and the records out so far are what the
 * byte-by-byte run had at that byte: they depend on the bytes, never on how they came.
 */
static void test_random_chunks(void **state)
{
    static const char *const patterns[] = {NULL, "^E", "^\\S"};
    static const size_t maxes[] = {1, 7, 64, 4096};
    struct buf in = {0};
    size_t n;
    uint64_t *resume;
    size_t *count;
    (void)state;

    rnd_state = 42;
    make_mix(&in, 1500);
    n = in.len;
    resume = malloc((n + 1) * sizeof(*resume));
    count = malloc((n + 1) * sizeof(*count));
    assert_non_null(resume);
    assert_non_null(count);
    for (int parser = SL_PARSE_RAW; parser <= SL_PARSE_CRI; parser++) {
        for (size_t pi = 0; pi < 3; pi++) {
            for (size_t mi = 0; mi < 4; mi++) {
                struct sl_lines_conf conf = {maxes[mi], (enum sl_parser)parser,
                                             compile(patterns[pi]), 1000000000};
                struct sl_lines *ref = sl_lines_new(&conf, 0);
                struct got want = {0};

                assert_non_null(ref);
                resume[0] = sl_lines_resume_offset(ref);
                count[0] = 0;
                for (size_t i = 0; i < n; i++) {
                    assert_int_equal(sl_lines_feed(ref, in.p + i, 1, 5, collect, &want), 0);
                    resume[i + 1] = sl_lines_resume_offset(ref);
                    count[i + 1] = want.n;
                    assert_true(resume[i + 1] >= resume[i] && resume[i + 1] <= i + 1);
                }
                sl_lines_finish(ref, collect, &want);
                assert_int_equal(sl_lines_resume_offset(ref), n);

                for (int round = 0; round < 6; round++) {
                    struct sl_lines *l = sl_lines_new(&conf, 0);
                    struct got g = {0};
                    size_t pos = 0;

                    assert_non_null(l);
                    while (pos < n) {
                        size_t k = rnd(4) == 0 ? rnd(3) : 1 + rnd(round < 3 ? 200 : 5000);
                        k = k < n - pos ? k : n - pos;
                        assert_int_equal(sl_lines_feed(l, in.p + pos, k, 5, collect, &g), 0);
                        pos += k;
                        assert_int_equal(sl_lines_offset(l), pos);
                        if (sl_lines_resume_offset(l) != resume[pos] || g.n != count[pos]) {
                            fail_msg("parser %d pattern %zu max %zu: at %zu resume %llu with %zu "
                                     "records, byte by byte %llu with %zu",
                                     parser, pi, maxes[mi], pos,
                                     (unsigned long long)sl_lines_resume_offset(l), g.n,
                                     (unsigned long long)resume[pos], count[pos]);
                        }
                    }
                    sl_lines_finish(l, collect, &g);
                    same_records(&want, &g, "random chunks");
                    got_free(&g);
                    sl_lines_free(l);
                }
                got_free(&want);
                sl_lines_free(ref);
                pcre2_code_free((pcre2_code *)conf.multiline);
            }
        }
    }
    free(resume);
    free(count);
    free(in.p);
}

/* ---- long lines --------------------------------------------------------------------- */

static size_t heap_used(void)
{
    return mallinfo2().uordblks;
}

/* A 16 MiB line, fed in 64 KiB pieces, costs no more than about max_line while it comes. */
static void test_long_line(void **state)
{
    static const char *const heads[] = {"", TS0 " stdout P ", TS0 " stdout F "};
    const size_t big = 16 << 20, piece = 64 << 10;
    char *chunk = malloc(piece);
    (void)state;

    assert_non_null(chunk);
    memset(chunk, 'x', piece);
    for (int parser = SL_PARSE_RAW; parser <= SL_PARSE_CRI; parser++) {
        struct sl_lines_conf conf = {100, (enum sl_parser)parser, NULL, 0};
        const char *head = heads[parser == SL_PARSE_CRI ? 1 : 0];
        struct sl_lines *l = sl_lines_new(&conf, 0);
        struct sl_lines_stats st;
        struct got g = {0};
        size_t before = heap_used(), peak = 0;

        assert_non_null(l);
        assert_int_equal(sl_lines_feed(l, head, strlen(head), 0, collect, &g), 0);
        for (size_t done = 0; done < big; done += piece) {
            size_t used;
            assert_int_equal(sl_lines_feed(l, chunk, piece, 0, collect, &g), 0);
            used = heap_used();
            peak = used > peak ? used : peak;
            assert_int_equal(sl_lines_resume_offset(l), 0);
        }
        assert_int_equal(sl_lines_feed(l, "\n", 1, 0, collect, &g), 0);
        if (parser == SL_PARSE_CRI) {
            /* the P's F: the join's text is cut, the rest of both counted */
            const char *f = TS1 " stdout F end\n";
            assert_int_equal(g.n, 0);
            assert_int_equal(sl_lines_feed(l, f, strlen(f), 0, collect, &g), 0);
        }
        assert_int_equal(g.n, 1);
        assert_int_equal(g.v[0].len, 100);
        assert_int_equal(g.v[0].offset, 0);
        assert_true(g.v[0].flags & TR);
        sl_lines_stats(l, &st);
        assert_int_equal(st.dropped_bytes, big - 100 + (parser == SL_PARSE_CRI ? 3 : 0));
        assert_int_equal(st.truncated, 1);
        assert_int_equal(sl_lines_resume_offset(l), sl_lines_offset(l));
        /* 0 under ASan, which keeps the heap to itself */
        assert_true(peak < before + 64 * 1024);
        got_free(&g);
        sl_lines_free(l);
    }
    free(chunk);
}

/* ---- cri ---------------------------------------------------------------------------- */

/* Parts of both streams interleaved, each fed in its own call, stats counting parts. */
static void test_cri_interleaved(void **state)
{
    struct sl_lines_conf conf = {1024, SL_PARSE_CRI, NULL, 0};
    static const char *const in[] = {
        TS0 " stdout P 1", TS0 " stderr P a", TS0 " stdout P 2", TS1 " stderr P b",
        TS1 " stderr F c", TS1 " stdout F 3", TS2 " stderr F d", TS2 " stdout P 4",
        TS2 " stderr F e", TS2 " stdout F 5",
    };
    static const struct {
        const char *text;
        int line;
        uint32_t flags;
        int64_t time_ns;
        int after; /* emitted once this many lines were fed */
    } want[] = {
        {"123", 0, CRI, NS0, 6}, {"abc", 1, ERR, NS0, 6}, {"d", 6, ERR, NS2, 7},
        {"45", 7, CRI, NS2, 10}, {"e", 8, ERR, NS2, 10},
    };
    struct sl_lines *l = sl_lines_new(&conf, 1000);
    struct sl_lines_stats st;
    struct got g = {0};
    uint64_t off[11];
    size_t w = 0;
    (void)state;

    assert_non_null(l);
    off[0] = 1000;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sl_lines_feed(l, in[i], strlen(in[i]), 0, collect, &g), 0);
        assert_int_equal(sl_lines_feed(l, "\n", 1, 0, collect, &g), 0);
        off[i + 1] = off[i] + strlen(in[i]) + 1;
        while (w < 5 && want[w].after <= i + 1) {
            w++;
        }
        assert_int_equal(g.n, w);
    }
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(g.v[i].text, want[i].text);
        assert_int_equal(g.v[i].offset, off[want[i].line]);
        assert_int_equal(g.v[i].flags, want[i].flags);
        assert_int_equal(g.v[i].time_ns, want[i].time_ns);
    }
    sl_lines_stats(l, &st);
    assert_int_equal(st.lines, 10);
    assert_int_equal(st.records, 5);
    assert_int_equal(st.bad, 0);
    assert_int_equal(sl_lines_resume_offset(l), off[10]);
    got_free(&g);
    sl_lines_free(l);
}

/* A stdout P that never gets its F holds stderr's records back only so far: past the queue's
 * bound the join leaves with the parts it has, and everything behind it follows. */
static void test_cri_hold_back_bound(void **state)
{
    static const char *const patterns[] = {NULL, "^\\S"};
    const char *p = TS0 " stdout P a\n";
    char line[200];
    (void)state;

    for (int pi = 0; pi < 2; pi++) {
        struct sl_lines_conf conf = {1024, SL_PARSE_CRI, compile(patterns[pi]), 1000000000};
        struct sl_lines *l = sl_lines_new(&conf, 0);
        struct got g = {0};
        uint64_t off = strlen(p);
        size_t most_held = 0;
        int lines = 5000;

        assert_non_null(l);
        assert_int_equal(sl_lines_feed(l, p, strlen(p), 0, collect, &g), 0);
        for (int i = 0; i < lines; i++) {
            int n = snprintf(line, sizeof(line), TS1 " stderr F %s%0100d\n", pi ? "E" : "", i);
            assert_int_equal(sl_lines_feed(l, line, (size_t)n, 0, collect, &g), 0);
            off += (uint64_t)n;
            if ((size_t)(i + 1) - (g.n > 0 ? g.n - 1 : 0) > most_held) {
                most_held = (size_t)(i + 1) - (g.n > 0 ? g.n - 1 : 0);
            }
        }
        /* about 64 KiB of 100-byte records waited, never all of them */
        assert_true(most_held > 300 && most_held < 1000);
        assert_string_equal(g.v[0].text, "a");
        assert_int_equal(g.v[0].offset, 0);
        assert_int_equal(g.v[0].flags, CRI);
        /* multiline: the last stderr group is still open */
        assert_int_equal(g.n, (size_t)lines + 1 - (size_t)pi);
        assert_int_equal(sl_lines_feed(l, TS2 " stdout F b\n", strlen(TS2) + 12, 0, collect, &g),
                         0);
        sl_lines_finish(l, collect, &g);
        assert_int_equal(g.n, (size_t)lines + 2);
        assert_string_equal(g.v[g.n - 1].text, "b");
        assert_int_equal(g.v[g.n - 1].offset, off);
        got_free(&g);
        sl_lines_free(l);
        pcre2_code_free((pcre2_code *)conf.multiline);
    }
}

/* ---- multiline and time ------------------------------------------------------------- */

static void test_multiline_tick(void **state)
{
    struct sl_lines_conf conf = {1024, SL_PARSE_RAW, compile("^\\S"), 1000};
    struct sl_lines *l = sl_lines_new(&conf, 0);
    struct got g = {0};
    (void)state;

    assert_non_null(l);
    assert_int_equal(sl_lines_tick(l, 50, collect, &g), 0); /* nothing waits */
    assert_int_equal(sl_lines_feed(l, "E\n x\n y", 7, 100, collect, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(sl_lines_tick(l, 1099, collect, &g), 1100);
    assert_int_equal(g.n, 0);
    assert_int_equal(sl_lines_feed(l, "\n", 1, 600, collect, &g), 0); /* " y" at 600 */
    assert_int_equal(sl_lines_tick(l, 1100, collect, &g), 1600);
    assert_int_equal(g.n, 0);
    assert_int_equal(sl_lines_tick(l, 1600, collect, &g), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].text, "E\n x\n y");
    assert_int_equal(sl_lines_resume_offset(l), 8);

    /* A held last line is never let out by a tick, and it holds the resume offset. */
    assert_int_equal(sl_lines_feed(l, "E2\n z\n tail", 11, 2000, collect, &g), 0);
    assert_int_equal(sl_lines_tick(l, 5000, collect, &g), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.v[1].text, "E2\n z");
    assert_int_equal(sl_lines_resume_offset(l), 14);

    /* A feed after the group's time ends it before its lines are grouped. */
    assert_int_equal(sl_lines_feed(l, "\nE3\n", 4, 6000, collect, &g), 0);
    assert_int_equal(sl_lines_feed(l, " w\n", 3, 7000, collect, &g), 0);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.v[2].text, " tail");
    assert_string_equal(g.v[3].text, "E3");
    assert_int_equal(sl_lines_tick(l, 7001, collect, &g), 8000);
    sl_lines_finish(l, collect, &g);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.v[4].text, " w");
    assert_int_equal(g.v[4].offset, 23);
    got_free(&g);
    sl_lines_free(l);
    pcre2_code_free((pcre2_code *)conf.multiline);
}

/* cri + multiline: a tick ends a stream's group even when it must wait for the other's. */
static void test_multiline_cri_tick(void **state)
{
    struct sl_lines_conf conf = {1024, SL_PARSE_CRI, compile("^\\S"), 1000};
    const char *in = TS0 " stdout F E1\n" TS0 " stderr F E2\n" TS1 " stderr F  b\n";
    struct sl_lines *l = sl_lines_new(&conf, 0);
    struct got g = {0};
    (void)state;

    assert_non_null(l);
    assert_int_equal(sl_lines_feed(l, in, strlen(in), 0, collect, &g), 0);
    assert_int_equal(sl_lines_feed(l, TS1 " stdout F  a\n", strlen(TS1) + 13, 500, collect, &g), 0);
    /* stderr's group is due at 1000, stdout's (before it) at 1500 */
    assert_int_equal(sl_lines_tick(l, 1000, collect, &g), 1500);
    assert_int_equal(g.n, 0);
    assert_int_equal(sl_lines_resume_offset(l), 0);
    assert_int_equal(sl_lines_tick(l, 1500, collect, &g), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.v[0].text, "E1\n a");
    assert_string_equal(g.v[1].text, "E2\n b");
    assert_int_equal(g.v[1].flags, ERR);
    assert_int_equal(sl_lines_resume_offset(l), sl_lines_offset(l));
    got_free(&g);
    sl_lines_free(l);
    pcre2_code_free((pcre2_code *)conf.multiline);
}

/* ---- the rest of the interface ------------------------------------------------------ */

static void test_reset_and_start(void **state)
{
    struct sl_lines_conf conf = {1024, SL_PARSE_CRI, NULL, 0};
    struct sl_lines *l = sl_lines_new(&conf, 500);
    const char *in = TS0 " stdout F b\n" TS0 " stdout P a\nhalf";
    struct sl_lines_stats st;
    struct got g = {0};
    (void)state;

    assert_non_null(l);
    assert_int_equal(sl_lines_offset(l), 500);
    assert_int_equal(sl_lines_resume_offset(l), 500);
    assert_int_equal(sl_lines_feed(l, in, strlen(in), 0, collect, &g), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].text, "b");
    assert_int_equal(g.v[0].offset, 500);
    assert_int_equal(sl_lines_resume_offset(l), 500 + strlen(TS0) + 12); /* the P */
    sl_lines_reset(l, 0);
    assert_int_equal(sl_lines_offset(l), 0);
    assert_int_equal(sl_lines_resume_offset(l), 0);
    got_free(&g); /* offsets start again */
    assert_int_equal(sl_lines_feed(l, TS1 " stdout F c\n", strlen(TS1) + 12, 0, collect, &g), 0);
    sl_lines_finish(l, collect, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].text, "c");
    assert_int_equal(g.v[0].offset, 0);
    sl_lines_stats(l, &st);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bad, 0);
    got_free(&g);
    sl_lines_free(l);
}

/* Out of memory in the middle of a feed: what was emitted stays emitted, and the same bytes
 * fed again go on from where it stopped. Address-space limits do not mix with ASan. */
static void test_out_of_memory(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)state;
    skip();
#else
    pid_t pid;
    int status;
    (void)state;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sl_lines_conf conf = {256 << 20, SL_PARSE_RAW, NULL, 0};
        size_t n = 24 << 20;
        char *in = malloc(n);
        struct sl_lines *l = sl_lines_new(&conf, 0);
        struct got g = {0};
        struct rlimit old, low;
        unsigned long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");

        if (in == NULL || l == NULL || f == NULL || fscanf(f, "%lu", &pages) != 1) {
            _exit(2);
        }
        fclose(f);
        memset(in, 'x', n);
        memcpy(in, "one\ntwo\n", 8);
        getrlimit(RLIMIT_AS, &old);
        low = old;
        low.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + (4 << 20);
        if (setrlimit(RLIMIT_AS, &low) < 0) {
            _exit(3);
        }
        if (sl_lines_feed(l, in, n, 0, collect, &g) != -1 || g.n != 2 || sl_lines_offset(l) != 0 ||
            sl_lines_resume_offset(l) != 8) {
            _exit(4);
        }
        setrlimit(RLIMIT_AS, &old);
        if (sl_lines_feed(l, in, n, 0, collect, &g) != 0 || g.n != 2 || sl_lines_offset(l) != n ||
            sl_lines_resume_offset(l) != 8) {
            _exit(5);
        }
        if (sl_lines_feed(l, "\n", 1, 0, collect, &g) != 0 || g.n != 3 || g.v[2].len != n - 8 ||
            g.v[2].offset != 8 || sl_lines_resume_offset(l) != n + 1) {
            _exit(6);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("child: status %#x", status);
    }
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_random_chunks),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_cri_interleaved),
        cmocka_unit_test(test_cri_hold_back_bound),
        cmocka_unit_test(test_multiline_tick),
        cmocka_unit_test(test_multiline_cri_tick),
        cmocka_unit_test(test_reset_and_start),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests_name("sl_lines", tests, NULL, NULL);
}
