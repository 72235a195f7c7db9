/* test_ar_resp.c — table test of the RESP parser, both modes, fed whole, bytewise, in pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ar_resp.h"

static const struct ar_resp_limits small = {
    .max_bulk_len = 16,
    .max_multibulk_len = 4,
    .max_inline_len = 16,
    .max_depth = 2,
};

struct row {
    enum ar_resp_mode mode;
    const struct ar_resp_limits *lim; /* NULL: the defaults */
    const char *in;
    size_t n;
    enum ar_resp_state want;
    const char *err; /* ERROR: the exact text */
    uint64_t len;    /* DONE: the message's length; 0: all of in */
    /* COMMAND, DONE */
    bool inl;
    int64_t argc;
    const char *name;  /* NULL: "" */
    uint64_t name_len; /* 0: strlen(name) */
    const char *args[AR_RESP_ARGS];
    /* REPLY, DONE */
    char type;
    bool is_error, is_push;
    const char *word; /* NULL: "" */
};

#define IN(s) .in = (s), .n = sizeof(s) - 1
#define CMD .mode = AR_RESP_COMMAND
#define REP .mode = AR_RESP_REPLY
#define SMALL .lim = &small
#define W_DONE .want = AR_RESP_DONE
#define W_MORE .want = AR_RESP_MORE
#define W_ERR(e) .want = AR_RESP_ERROR, .err = (e)

#define E_MBULK_BIG "Protocol error: too big mbulk count string"
#define E_MBULK_LEN "Protocol error: invalid multibulk length"
#define E_BULK_BIG "Protocol error: too big bulk count string"
#define E_BULK_LEN "Protocol error: invalid bulk length"
#define E_INLINE_BIG "Protocol error: too big inline request"
#define E_QUOTES "Protocol error: unbalanced quotes in request"

static const struct row table[] = {
    /* ---- COMMAND, multibulk ---- */
    {CMD, IN("*1\r\n$4\r\nPING\r\n"), W_DONE, .argc = 1, .name = "ping"},
    {CMD, IN("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"), W_DONE, .argc = 3, .name = "set",
     .args = {"key", "value"}},
    {CMD, IN("*2\r\n$3\r\nGeT\r\n$0\r\n\r\n"), W_DONE, .argc = 2, .name = "get", .args = {""}},
    {CMD, IN("*6\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nB\r\n$1\r\n2\r\n$1\r\nc\r\n"), W_DONE,
     .argc = 6, .name = "mset", .args = {"a", "1", "B", "2"}},
    {CMD, IN("*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n"), W_DONE, .argc = 2, .name = "echo",
     .args = {"a\r\nb"}},
    {CMD, IN("*1\r\n$4\r\nPING\r\n*1\r\n"), W_DONE, .len = 14, .argc = 1, .name = "ping"},
    /* Redis skips the byte after a header's '\r' and the two after a payload unread. */
    {CMD, IN("*1\rX$4\rYPINGab"), W_DONE, .argc = 1, .name = "ping"},
    /* N <= 0 is an empty command that Redis does not answer. */
    {CMD, IN("*0\r\n"), W_DONE, .argc = 0},
    {CMD, IN("*-1\r\n"), W_DONE, .argc = 0},
    {CMD, IN("*-5\r\n*1\r\n"), W_DONE, .len = 5, .argc = 0},
    {CMD, IN("*1\r\n$4\r\nPING"), W_MORE},
    {CMD, IN("*1\r\n$4\r\nPING\r"), W_MORE},
    {CMD, IN("*1"), W_MORE},
    {CMD, IN("*1\r"), W_MORE},
    {CMD, IN("*1\r\n$536870912\r\nabc"), W_MORE},
    {CMD, IN("*1\r\n$536870913\r\n"), W_ERR(E_BULK_LEN)},
    {CMD, IN("*1048576\r\n"), W_MORE},
    {CMD, IN("*1048577\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*x\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*01\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*+1\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("* 1\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*1 \r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*-0\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*1\n$4\r\n"), W_ERR(E_MBULK_LEN)}, /* Redis looks for the '\r' */
    {CMD, IN("*9223372036854775808\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*-9223372036854775808\r\n"), W_DONE, .argc = 0},
    {CMD, IN("*123456789012345678901\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, IN("*1\r\nPING\r\n"), W_ERR("Protocol error: expected '$', got 'P'")},
    {CMD, IN("*2\r\n$3\r\nGET\r\n*1\r\n"), W_ERR("Protocol error: expected '$', got '*'")},
    {CMD, IN("*1\r\n\r\n"), W_ERR("Protocol error: expected '$', got ' '")},
    {CMD, IN("*1\r\n$-1\r\n"), W_ERR(E_BULK_LEN)},
    {CMD, IN("*1\r\n$\r\n"), W_ERR(E_BULK_LEN)},
    {CMD, IN("*1\r\n$04\r\nPING\r\n"), W_ERR(E_BULK_LEN)},
    {CMD, IN("*1\r\n$+4\r\nPING\r\n"), W_ERR(E_BULK_LEN)},
    {CMD, IN("*1\r\n$4x\r\nPING\r\n"), W_ERR(E_BULK_LEN)},
    /* A NUL hides the header's end from Redis: it waits, then refuses the line. */
    {CMD, IN("*1\0\r\n$4\r\nPING\r\n"), W_MORE},
    {CMD, SMALL, IN("*1\0\r\n$4\r\nPING\r\nPING\r\n"), W_ERR(E_MBULK_BIG)},
    {CMD, SMALL, IN("*1\r\n$4\0\r\nPING\r\nPING\r\nPING\r\n"), W_ERR(E_BULK_BIG)},
    /* Limits. */
    {CMD, SMALL, IN("*4\r\n"), W_MORE},
    {CMD, SMALL, IN("*5\r\n"), W_ERR(E_MBULK_LEN)},
    {CMD, SMALL, IN("*1\r\n$16\r\n"), W_MORE},
    {CMD, SMALL, IN("*1\r\n$17\r\n"), W_ERR(E_BULK_LEN)},
    {CMD, SMALL, IN("*111111111111111"), W_MORE},
    {CMD, SMALL, IN("*1111111111111111"), W_ERR(E_MBULK_BIG)},
    {CMD, SMALL, IN("*1\r\n$111111111111111"), W_MORE},
    {CMD, SMALL, IN("*1\r\n$1111111111111111"), W_ERR(E_BULK_BIG)},
    {CMD, SMALL, IN("*1\r\nxxxxxxxxxxxxxxxxx"), W_ERR(E_BULK_BIG)},

    /* ---- COMMAND, inline ---- */
    {CMD, IN("PING\r\n"), W_DONE, .inl = true, .argc = 1, .name = "ping"},
    {CMD, IN("PING\n"), W_DONE, .inl = true, .argc = 1, .name = "ping"},
    {CMD, IN("PING\r\nPING\r\n"), W_DONE, .len = 6, .inl = true, .argc = 1, .name = "ping"},
    {CMD, IN("  SeT\tk  v \r\n"), W_DONE, .inl = true, .argc = 3, .name = "set",
     .args = {"k", "v"}},
    {CMD, IN("\r\n"), W_DONE, .inl = true, .argc = 0},
    {CMD, IN("\n"), W_DONE, .inl = true, .argc = 0},
    {CMD, IN(" \t\v\f\r\n*1\r\n"), W_DONE, .len = 6, .inl = true, .argc = 0},
    {CMD, IN("\"a b\" 'c d'\r\n"), W_DONE, .inl = true, .argc = 2, .name = "a b", .args = {"c d"}},
    {CMD, IN("echo \"\\n\\r\\t\\b\\a\\\\\\\"\\q\\x41\\x4g\\xg\"\n"), W_DONE, .inl = true, .argc = 2,
     .name = "echo", .args = {"\n\r\t\b\a\\\"qAx4gxg"}},
    {CMD, IN("echo \"\\x7e\\xFF\\x0a\"\n"), W_DONE, .inl = true, .argc = 2, .name = "echo",
     .args = {"~\xff\n"}},
    {CMD, IN("echo 'it\\'s' 'a\\b' 'c\\\\'x'\n"), W_DONE, .inl = true, .argc = 4, .name = "echo",
     .args = {"it's", "a\\b", "c\\'x"}},
    {CMD, IN("echo \"\" ''\r\n"), W_DONE, .inl = true, .argc = 3, .name = "echo", .args = {"", ""}},
    {CMD, IN("Ec\"H o\" y\n"), W_DONE, .inl = true, .argc = 2, .name = "ech o", .args = {"y"}},
    {CMD, IN("Ec\"H o\"'X' y\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo \"a\"\vb\n"), W_DONE, .inl = true, .argc = 3, .name = "echo",
     .args = {"a", "b"}},
    {CMD, IN("echo a\vb\f\n"), W_DONE, .inl = true, .argc = 2, .name = "echo", .args = {"a\vb\f"}},
    {CMD, IN("echo a\rb\r\r\n"), W_DONE, .inl = true, .argc = 3, .name = "echo",
     .args = {"a", "b"}},
    {CMD, IN("echo \"a\rb\"\r\n"), W_DONE, .inl = true, .argc = 2, .name = "echo",
     .args = {"a\rb"}},
    {CMD, IN("echo \"a\r\"\r\n"), W_DONE, .inl = true, .argc = 2, .name = "echo", .args = {"a\r"}},
    {CMD, IN("a b c d e f g\n"), W_DONE, .inl = true, .argc = 7, .name = "a",
     .args = {"b", "c", "d", "e"}},
    {CMD, IN("echo \"abc\r\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo 'abc\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo \"a\"b\r\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo 'a'b c\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo \"a\\\"\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo \"a\\\r\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo 'a\\\\'\n"), W_ERR(E_QUOTES)},
    {CMD, IN("echo \"a\"b"), W_MORE}, /* refused only once the line is whole */
    {CMD, IN("PING"), W_MORE},
    {CMD, IN("PING\r"), W_MORE},
    {CMD, IN("PI\0NG\r\nPING\r\n"), W_MORE},
    {CMD, SMALL, IN("PI\0NG\r\nPING\r\nPING\r\n"), W_ERR(E_INLINE_BIG)},
    {CMD, SMALL, IN("aaaaaaaaaaaaaaaa\n"), W_DONE, .inl = true, .argc = 1,
     .name = "aaaaaaaaaaaaaaaa"},
    {CMD, SMALL, IN("aaaaaaaaaaaaaaaaa"), W_ERR(E_INLINE_BIG)},
    {CMD, SMALL, IN("aaaaaaaaaaaaaaaa\r\n"), W_ERR(E_INLINE_BIG)},
    {CMD, SMALL, IN("\"a\"b             "), W_ERR(E_INLINE_BIG)},

    /* ---- REPLY, RESP2 ---- */
    {REP, IN("+OK\r\n"), W_DONE, .type = '+'},
    {REP, IN("+OK\r\n:1\r\n"), W_DONE, .len = 5, .type = '+'},
    {REP, IN("-ERR unknown command 'x'\r\n"), W_DONE, .type = '-', .is_error = true, .word = "ERR"},
    {REP, IN("-MOVED 3999 127.0.0.1:6381\r\n"), W_DONE, .type = '-', .is_error = true,
     .word = "MOVED"},
    {REP, IN("-LOADING\r\n"), W_DONE, .type = '-', .is_error = true, .word = "LOADING"},
    {REP, IN("-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 x\r\n"), W_DONE, .type = '-', .is_error = true,
     .word = "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234"},
    {REP, IN(":1000\r\n"), W_DONE, .type = ':'},
    {REP, IN(":-1\r\n"), W_DONE, .type = ':'},
    {REP, IN(":+5\r\n"), W_DONE, .type = ':'},
    {REP, IN(":\r\n"), W_ERR("invalid integer")},
    {REP, IN(":-\r\n"), W_ERR("invalid integer")},
    {REP, IN(":1a\r\n"), W_ERR("invalid integer")},
    {REP, IN("$5\r\nhello\r\n"), W_DONE, .type = '$'},
    {REP, IN("$0\r\n\r\n"), W_DONE, .type = '$'},
    {REP, IN("$-1\r\n"), W_DONE, .type = '$'},
    {REP, IN("$-2\r\n"), W_ERR("invalid length")},
    {REP, IN("$x\r\n"), W_ERR("invalid length")},
    {REP, IN("$\r\n"), W_ERR("invalid length")},
    {REP, IN("$01\r\n"), W_ERR("invalid length")},
    {REP, IN("$1\n"), W_ERR("invalid length")},
    {REP, IN("$5\r\nhelloXY"), W_ERR("expected \"\\r\\n\" after a bulk string")},
    {REP, IN("+OK\rX"), W_ERR("expected '\\n' after '\\r'")},
    {REP, IN("$536870912\r\n"), W_MORE},
    {REP, IN("$536870913\r\n"), W_ERR("bulk length over the limit")},
    {REP, IN("*2\r\n$3\r\nfoo\r\n:1\r\n"), W_DONE, .type = '*', .word = "foo"},
    {REP, IN("*2\r\n+OK\r\n$-1\r\n"), W_DONE, .type = '*', .word = "OK"},
    {REP, IN("*2\r\n:1\r\n$3\r\nfoo\r\n"), W_DONE, .type = '*'},
    {REP, IN("*1\r\n*1\r\n+deep\r\n"), W_DONE, .type = '*'},
    {REP, IN("*1\r\n$40\r\nabcdefghijklmnopqrstuvwxyz0123456789ABCD\r\n"), W_DONE, .type = '*',
     .word = "abcdefghijklmnopqrstuvwxyz01234"},
    {REP, IN("*1\r\n$3\r\na\0b\r\n"), W_DONE, .type = '*', .word = "a"}, /* cut at a NUL */
    {REP, IN("*0\r\n"), W_DONE, .type = '*'},
    {REP, IN("*-1\r\n"), W_DONE, .type = '*'},
    {REP, IN("*3\r\n:1\r\n:2\r\n"), W_MORE},
    {REP, IN("*4611686018427387903\r\n"), W_MORE},
    {REP, IN("*4611686018427387904\r\n"), W_ERR("invalid length")},
    {REP, IN("x\r\n"), W_ERR("invalid reply type byte 'x'")},
    {REP, IN("\r\n"), W_ERR("invalid reply type byte '\\x0d'")},
    {REP, IN(""), W_MORE},

    /* ---- REPLY, RESP3 ---- */
    {REP, IN("_\r\n"), W_DONE, .type = '_'},
    {REP, IN("_x\r\n"), W_ERR("invalid null")},
    {REP, IN(",3.14\r\n"), W_DONE, .type = ','},
    {REP, IN(",-inf\r\n"), W_DONE, .type = ','},
    {REP, IN("#t\r\n"), W_DONE, .type = '#'},
    {REP, IN("#f\r\n"), W_DONE, .type = '#'},
    {REP, IN("#x\r\n"), W_ERR("invalid boolean")},
    {REP, IN("#tt\r\n"), W_ERR("invalid boolean")},
    {REP, IN("#\r\n"), W_ERR("invalid boolean")},
    {REP, IN("!21\r\nSYNTAX invalid syntax\r\n"), W_DONE, .type = '!', .is_error = true,
     .word = "SYNTAX"},
    {REP, IN("=15\r\ntxt:Some string\r\n"), W_DONE, .type = '='},
    {REP, IN("(3492890328409238509324850943850943825024385\r\n"), W_DONE, .type = '('},
    {REP, IN("%2\r\n+k1\r\n:1\r\n+k2\r\n*1\r\n:2\r\n"), W_DONE, .type = '%'},
    {REP, IN("%1\r\n+k1\r\n"), W_MORE},
    {REP, IN("%4611686018427387904\r\n"), W_ERR("invalid length")},
    {REP, IN("~2\r\n+a\r\n+b\r\n"), W_DONE, .type = '~', .word = "a"},
    {REP, IN(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"), W_DONE, .type = '>',
     .is_push = true, .word = "message"},
    {REP, IN(">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n"), W_DONE, .type = '>', .is_push = true,
     .word = "invalidate"},
    /* Attributes: part of the value that follows them. */
    {REP,
     IN("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
        "*2\r\n:2039123\r\n:9543892\r\n"),
     W_DONE, .type = '*'},
    {REP, IN("|1\r\n+a\r\n+b\r\n-ERR x\r\n"), W_DONE, .type = '-', .is_error = true, .word = "ERR"},
    {REP, IN("|1\r\n+a\r\n+b\r\n"), W_MORE},
    {REP, IN("|0\r\n:1\r\n"), W_DONE, .type = ':'},
    {REP, IN("*2\r\n|1\r\n+k\r\n+v\r\n+first\r\n+second\r\n"), W_DONE, .type = '*',
     .word = "first"},
    {REP, IN("*2\r\n:1\r\n|1\r\n+k\r\n+v\r\n+second\r\n"), W_DONE, .type = '*'},
    /* Streamed strings and aggregates. */
    {REP, IN("$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n"), W_DONE, .type = '$'},
    {REP, IN("*1\r\n$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n"), W_DONE, .type = '*', .word = "abc"},
    {REP, IN("$?\r\n;4\r\nHell\r\n"), W_MORE},
    {REP, IN("$?\r\nx"), W_ERR("expected ';' in a streamed string")},
    {REP, IN("$?\r\n;-1\r\n"), W_ERR("invalid length")},
    {REP, IN("$?\r\n;?\r\n"), W_ERR("invalid length")},
    {REP, IN("*?\r\n:1\r\n:2\r\n.\r\n"), W_DONE, .type = '*'},
    {REP, IN("%?\r\n+a\r\n:1\r\n.\r\n"), W_DONE, .type = '%'},
    {REP, IN("~?\r\n+x\r\n.\r\n"), W_DONE, .type = '~', .word = "x"},
    {REP, IN("*?\r\n*?\r\n.\r\n*0\r\n.\r\n"), W_DONE, .type = '*'},
    {REP, IN("*?\r\n:1\r\n"), W_MORE},
    {REP, IN("*?\r\n.x\r\n"), W_ERR("invalid end of aggregate")},
    {REP, IN(".\r\n"), W_ERR("invalid reply type byte '.'")},
    {REP, IN(";3\r\n"), W_ERR("invalid reply type byte ';'")},
    {REP, IN(">?\r\n"), W_ERR("invalid length")},
    {REP, IN("|?\r\n"), W_ERR("invalid length")},
    /* Limits. */
    {REP, SMALL, IN("*1\r\n*1\r\n:1\r\n"), W_DONE, .type = '*'},
    {REP, SMALL, IN("*1\r\n*1\r\n*1\r\n:1\r\n"), W_ERR("nesting deeper than 2")},
    {REP, SMALL, IN("*1\r\n*1\r\n|1\r\n"), W_ERR("nesting deeper than 2")},
    {REP, SMALL, IN("$16\r\n"), W_MORE},
    {REP, SMALL, IN("$17\r\n"), W_ERR("bulk length over the limit")},
    {REP, SMALL, IN("$?\r\n;17\r\n"), W_ERR("bulk length over the limit")},
    {REP, SMALL, IN("+0123456789abcdef\r\n"), W_DONE, .type = '+'},
    {REP, SMALL, IN("+0123456789abcdefg"), W_ERR("simple string too long")},
    {REP, SMALL, IN("-0123456789abcdefghij\r\n"), W_ERR("simple string too long")},
};

enum way { WHOLE, BYTES, PIECES };
static const char *const way_name[] = {"whole", "bytewise", "in pieces"};

static uint32_t rng;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Feeds in[0..n) the way asked until the message ends, the stream breaks or in runs out;
 * returns the bytes consumed. In pieces, some feeds are empty. */
static size_t feed(struct ar_resp_parser *p, const char *in, size_t n, enum way way)
{
    size_t pos = 0;

    while (pos < n && p->state == AR_RESP_MORE) {
        size_t piece = way == WHOLE ? n - pos : way == BYTES ? 1 : next_rand() % 9;
        size_t used;

        if (piece > n - pos) {
            piece = n - pos;
        }
        used = ar_resp_feed(p, in + pos, piece);
        assert_true(used <= piece);
        if (p->state == AR_RESP_MORE) {
            assert_int_equal(used, piece);
        }
        pos += used;
    }
    return pos;
}

static void check_row(size_t i, enum way way, size_t *error_used)
{
    const struct row *r = &table[i];
    const struct ar_resp_msg *m;
    struct ar_resp_parser p;
    const char *what = way_name[way];
    size_t used;

    ar_resp_init(&p, r->mode, r->lim);
    used = feed(&p, r->in, r->n, way);
    m = &p.msg;
    if (p.state != r->want) {
        fail_msg("table[%zu] %s: state %d, want %d (err '%s')", i, what, p.state, r->want, p.err);
    }
    if (r->want == AR_RESP_ERROR) {
        if (strcmp(p.err, r->err) != 0) {
            fail_msg("table[%zu] %s: err '%s', want '%s'", i, what, p.err, r->err);
        }
        /* Where the stream breaks does not depend on how it was fed. */
        if (way == WHOLE) {
            *error_used = used;
        } else if (used != *error_used) {
            fail_msg("table[%zu] %s: consumed %zu, whole %zu", i, what, used, *error_used);
        }
        return;
    }
    if (r->want == AR_RESP_MORE) {
        assert_int_equal(used, r->n);
        return;
    }
    if (used != (r->len ? r->len : r->n) || m->len != used) {
        fail_msg("table[%zu] %s: consumed %zu, msg.len %llu, want %llu", i, what, used,
                 (unsigned long long)m->len, (unsigned long long)(r->len ? r->len : r->n));
    }
    if (r->mode == AR_RESP_REPLY) {
        const char *word = r->word ? r->word : "";

        if (m->type != r->type || m->is_error != r->is_error || m->is_push != r->is_push ||
            strcmp(m->word, word) != 0) {
            fail_msg("table[%zu] %s: type '%c' error %d push %d word '%s', want '%c' %d %d '%s'", i,
                     what, m->type, m->is_error, m->is_push, m->word, r->type, r->is_error,
                     r->is_push, word);
        }
        return;
    }
    {
        const char *name = r->name ? r->name : "";
        uint64_t name_len = r->name_len ? r->name_len : strlen(name);

        if (m->argc != r->argc || m->is_inline != r->inl || strcmp(m->name, name) != 0 ||
            m->name_len != name_len) {
            fail_msg("table[%zu] %s: argc %lld inline %d name '%s' (%llu), want %lld %d '%s'", i,
                     what, (long long)m->argc, m->is_inline, m->name,
                     (unsigned long long)m->name_len, (long long)r->argc, r->inl, name);
        }
    }
    for (int a = 0; a < AR_RESP_ARGS; a++) {
        bool sent = a + 1 < r->argc;
        const char *want = sent ? r->args[a] : "";

        assert_non_null(want); /* the row lists every kept argument */
        if (m->arg_len[a] != strlen(want) || strcmp(m->arg[a], want) != 0) {
            fail_msg("table[%zu] %s: arg[%d] '%s' (%llu), want '%s'", i, what, a, m->arg[a],
                     (unsigned long long)m->arg_len[a], want);
        }
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        size_t error_used = 0;

        rng = 0x9e3779b9u + (uint32_t)i;
        check_row(i, WHOLE, &error_used);
        check_row(i, BYTES, &error_used);
        for (int round = 0; round < 8; round++) {
            check_row(i, PIECES, &error_used);
        }
    }
}

/* ---- several messages in one buffer ---------------------------------------------------- */

struct expect {
    size_t len;
    int64_t argc;     /* COMMAND */
    const char *name; /* COMMAND: the name; REPLY: the word */
    char type;        /* REPLY */
};

static void run_stream(enum ar_resp_mode mode, const char *in, size_t n, const struct expect *want,
                       size_t count, enum way way)
{
    struct ar_resp_parser p;
    size_t pos = 0;

    ar_resp_init(&p, mode, NULL);
    for (size_t k = 0; k < count; k++) {
        size_t used = feed(&p, in + pos, n - pos, way);

        if (p.state != AR_RESP_DONE || used != want[k].len || p.msg.len != want[k].len) {
            fail_msg("message %zu (%s): state %d, %zu bytes, want %zu", k, way_name[way], p.state,
                     used, want[k].len);
        }
        if (mode == AR_RESP_COMMAND) {
            assert_int_equal(p.msg.argc, want[k].argc);
            assert_string_equal(p.msg.name, want[k].name);
        } else {
            assert_int_equal(p.msg.type, want[k].type);
            assert_string_equal(p.msg.word, want[k].name);
        }
        /* Nothing more is taken until ar_resp_next. */
        assert_int_equal(ar_resp_feed(&p, in + pos + used, n - pos - used), 0);
        pos += used;
        ar_resp_next(&p);
        assert_int_equal(p.msg.len, 0);
        assert_string_equal(p.msg.name, "");
        assert_string_equal(p.msg.arg[0], "");
    }
    assert_int_equal(pos, n);
    assert_int_equal(p.state, AR_RESP_MORE);
}

static void test_back_to_back(void **state)
{
    static const char cmds[] = "*1\r\n$4\r\nPING\r\n\r\nGET a\r\n*0\r\n"
                               "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n\n*-1\r\nQUIT\r\n";
    static const struct expect cmd_want[] = {
        {14, 1, "ping", 0}, {2, 0, "", 0}, {7, 2, "get", 0}, {4, 0, "", 0},
        {28, 3, "set", 0},  {1, 0, "", 0}, {5, 0, "", 0},    {6, 1, "quit", 0},
    };
    static const char replies[] = "+PONG\r\n$3\r\nbar\r\n-ERR wrong\r\n"
                                  ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
                                  "|1\r\n+a\r\n:1\r\n*2\r\n$9\r\nsubscribe\r\n:1\r\n"
                                  "*?\r\n:1\r\n.\r\n_\r\n";
    static const struct expect reply_want[] = {
        {7, 0, "", '+'},           {9, 0, "", '$'},  {12, 0, "ERR", '-'}, {31, 0, "message", '>'},
        {35, 0, "subscribe", '*'}, {11, 0, "", '*'}, {3, 0, "", '_'},
    };

    (void)state;
    for (int way = WHOLE; way <= PIECES; way++) {
        rng = 12345;
        run_stream(AR_RESP_COMMAND, cmds, sizeof(cmds) - 1, cmd_want,
                   sizeof(cmd_want) / sizeof(cmd_want[0]), (enum way)way);
        run_stream(AR_RESP_REPLY, replies, sizeof(replies) - 1, reply_want,
                   sizeof(reply_want) / sizeof(reply_want[0]), (enum way)way);
    }
}

/* ---- what tables cannot hold well ------------------------------------------------------ */

/* Parses all of in (a malloc'd buffer, freed here) as one message in every way. */
static void parse_all(struct ar_resp_parser *out, enum ar_resp_mode mode,
                      const struct ar_resp_limits *lim, char *in, size_t n, enum ar_resp_state want)
{
    for (int way = WHOLE; way <= PIECES; way++) {
        struct ar_resp_parser p;
        size_t used;

        rng = 777;
        ar_resp_init(&p, mode, lim);
        used = feed(&p, in, n, (enum way)way);
        if (p.state != want) {
            fail_msg("%s: state %d, want %d (err '%s')", way_name[way], p.state, want, p.err);
        }
        if (want == AR_RESP_DONE) {
            assert_int_equal(used, n);
            assert_int_equal(p.msg.len, n);
        }
        if (way == WHOLE) {
            *out = p;
        } else {
            assert_string_equal(p.err, out->err);
            assert_string_equal(p.msg.name, out->msg.name);
            assert_int_equal(p.msg.name_len, out->msg.name_len);
            assert_memory_equal(p.msg.arg, out->msg.arg, sizeof(p.msg.arg));
        }
    }
    free(in);
}

static char *fill(const char *head, char ch, size_t n, const char *tail, size_t *len)
{
    size_t h = strlen(head), t = strlen(tail);
    char *p = malloc(h + n + t + 1);

    assert_non_null(p);
    memcpy(p, head, h);
    memset(p + h, ch, n);
    memcpy(p + h + n, tail, t + 1);
    *len = h + n + t;
    return p;
}

static void test_long_words(void **state)
{
    struct ar_resp_parser p;
    char *in, want[AR_RESP_ARG_MAX];
    size_t n;

    (void)state;
    /* A name cut at 31 bytes, lowercased; an argument cut at 511, kept as sent. */
    in = malloc(2048);
    assert_non_null(in);
    n = (size_t)sprintf(in, "*3\r\n$40\r\n%s\r\n$600\r\n",
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCD");
    memset(in + n, 'V', 600);
    n += 600;
    memcpy(in + n, "\r\n$3\r\na\0b\r\n", 11);
    n += 11;
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_DONE);
    assert_string_equal(p.msg.name, "abcdefghijklmnopqrstuvwxyz01234");
    assert_int_equal(p.msg.name_len, 40);
    memset(want, 'V', AR_RESP_ARG_MAX - 1);
    want[AR_RESP_ARG_MAX - 1] = '\0';
    assert_string_equal(p.msg.arg[0], want);
    assert_int_equal(p.msg.arg_len[0], 600);
    assert_int_equal(p.msg.arg_len[1], 3);
    assert_memory_equal(p.msg.arg[1], "a\0b", 4);

    /* The same inline. */
    in = fill("SET ", 'K', 40, " tail\r\n", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_DONE);
    assert_string_equal(p.msg.name, "set");
    assert_int_equal(p.msg.arg_len[0], 40);
    assert_int_equal(p.msg.arg_len[1], 4);
    in = fill("", 'Q', 600, " \"x\\x00y\"\n", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_DONE);
    assert_string_equal(p.msg.name, "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq");
    assert_int_equal(p.msg.name_len, 600);
    assert_int_equal(p.msg.arg_len[0], 3);
    assert_memory_equal(p.msg.arg[0], "x\0y", 4);
}

static void test_default_limits(void **state)
{
    struct ar_resp_parser p;
    struct ar_resp_limits l;
    char *in;
    size_t n;

    (void)state;
    ar_resp_limits_default(&l);
    assert_int_equal(l.max_bulk_len, 512 * 1024 * 1024);
    assert_int_equal(l.max_multibulk_len, 1024 * 1024);
    assert_int_equal(l.max_inline_len, 64 * 1024);
    assert_int_equal(l.max_depth, AR_RESP_DEPTH_MAX);

    in = fill("", 'a', 65536, "\n", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_DONE);
    assert_int_equal(p.msg.name_len, 65536);
    in = fill("", 'a', 65537, "\n", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_ERROR);
    assert_string_equal(p.err, E_INLINE_BIG);
    in = fill("*", '1', 65536, "", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_ERROR);
    assert_string_equal(p.err, E_MBULK_BIG);
    in = fill("*1\r\n$", '1', 65536, "", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_ERROR);
    assert_string_equal(p.err, E_BULK_BIG);

    /* A big payload is skipped by count, whatever the pieces. */
    in = fill("*2\r\n$3\r\nset\r\n$100000\r\n", 'z', 100000, "\r\n", &n);
    parse_all(&p, AR_RESP_COMMAND, NULL, in, n, AR_RESP_DONE);
    assert_int_equal(p.msg.arg_len[0], 100000);
    in = fill("$100000\r\n", 'z', 100000, "\r\n", &n);
    parse_all(&p, AR_RESP_REPLY, NULL, in, n, AR_RESP_DONE);
}

static void test_depth(void **state)
{
    struct ar_resp_parser p;
    struct ar_resp_limits l;
    char *in;
    size_t n;

    (void)state;
    /* 128 nested arrays (the default and the most) hold; 129 do not. */
    in = fill("", '\0', AR_RESP_DEPTH_MAX * 4, ":1\r\n", &n);
    for (int d = 0; d < AR_RESP_DEPTH_MAX; d++) {
        memcpy(in + d * 4, "*1\r\n", 4);
    }
    parse_all(&p, AR_RESP_REPLY, NULL, in, n, AR_RESP_DONE);
    assert_int_equal(p.msg.type, '*');
    in = fill("*1\r\n", '\0', AR_RESP_DEPTH_MAX * 4, ":1\r\n", &n);
    for (int d = 0; d < AR_RESP_DEPTH_MAX; d++) {
        memcpy(in + 4 + d * 4, "*1\r\n", 4);
    }
    parse_all(&p, AR_RESP_REPLY, NULL, in, n, AR_RESP_ERROR);
    assert_string_equal(p.err, "nesting deeper than 128");

    /* Asking for more than the parser has room for gets AR_RESP_DEPTH_MAX. */
    ar_resp_limits_default(&l);
    l.max_depth = 1000;
    ar_resp_init(&p, AR_RESP_REPLY, &l);
    assert_int_equal(p.lim.max_depth, AR_RESP_DEPTH_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),      cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_long_words), cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_depth),
    };

    return cmocka_run_group_tests_name("ar_resp", tests, NULL, NULL);
}
