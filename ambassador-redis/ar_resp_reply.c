/* ar_resp_reply.c — server replies: where a RESP2/RESP3 value ends, and what routing needs. */
#include <stdbool.h>
#include <string.h>

#include "ar_resp.h"
#include "ar_resp_priv.h"

/* left[] holds, per open aggregate, the elements still to come; -1: streamed (ends with
 * "."); ATTR marks an attribute, which is no value of its own: the value after it is. */
#define STREAMED (-1)
#define ATTR ((int64_t)1 << 62)
#define COUNT_MAX (ATTR - 1)

/* esc, in REPLY mode: whether the bytes of the current item go into msg.word. */
enum { CAP_NONE = 0, CAP_ALL, CAP_WORD };

/* Appends to msg.word: up to its size, up to a NUL (which a C string cannot hold), and for an
 * error's first word up to a space. Stops for good at the first of these. */
static void capture(struct ar_resp_parser *p, const unsigned char *s, size_t n)
{
    char *w = p->msg.word;
    size_t have = strlen(w);

    for (size_t i = 0; i < n; i++) {
        if (have >= AR_RESP_WORD_MAX - 1 || s[i] == '\0' || (p->esc == CAP_WORD && s[i] == ' ')) {
            p->esc = CAP_NONE;
            break;
        }
        w[have++] = (char)s[i];
    }
    w[have] = '\0';
}

/* A value ended: count it in the aggregate around it, closing every aggregate it fills. */
static void value_done(struct ar_resp_parser *p)
{
    p->phase = AR_PH_R_TYPE;
    for (;;) {
        int64_t *left;
        bool attr;

        if (p->depth == 0) {
            p->state = AR_RESP_DONE;
            return;
        }
        left = &p->left[p->depth - 1];
        if (p->depth == 1) {
            p->arg_index++; /* elements of the top-level aggregate done */
        }
        if (*left == STREAMED) {
            return;
        }
        (*left)--;
        if ((*left & ~ATTR) != 0) {
            return;
        }
        attr = (*left & ATTR) != 0;
        p->depth--;
        if (attr) {
            /* The attribute is complete: the value it describes comes next. */
            p->attr_pending = p->depth == 0;
            return;
        }
    }
}

static void push(struct ar_resp_parser *p, int64_t left)
{
    if (p->depth >= p->lim.max_depth) {
        ar_resp_fail(p, "nesting deeper than %d", p->lim.max_depth);
        return;
    }
    p->left[p->depth++] = left;
    p->phase = AR_PH_R_TYPE;
}

static bool is_line_type(unsigned char c)
{
    return c == '+' || c == '-' || c == ':' || c == '_' || c == ',' || c == '#' || c == '(';
}

static bool is_length_type(unsigned char c)
{
    return c == '$' || c == '=' || c == '!' || c == '*' || c == '%' || c == '~' || c == '>' ||
           c == '|';
}

/* The first byte of a value. */
static void type_byte(struct ar_resp_parser *p, unsigned char c)
{
    bool streamed_open = p->depth > 0 && p->left[p->depth - 1] == STREAMED;
    char t = p->msg.type;

    if (is_line_type(c) || (c == '.' && streamed_open)) {
        p->phase = AR_PH_R_LINE;
    } else if (is_length_type(c)) {
        p->phase = AR_PH_R_LEN;
    } else if (c > ' ' && c < 0x7f) {
        ar_resp_fail(p, "invalid reply type byte '%c'", c);
        return;
    } else {
        ar_resp_fail(p, "invalid reply type byte '\\x%02x'", c);
        return;
    }
    p->line[0] = (char)c;
    p->line_len = 1;
    p->esc = CAP_NONE;
    if (p->depth == 0 && c != '|') {
        /* The message's own value (after any attributes). */
        p->msg.type = (char)c;
        p->msg.is_error = c == '-' || c == '!';
        p->msg.is_push = c == '>';
        p->arg_index = 0;
        p->attr_pending = false;
        if (p->msg.is_error) {
            p->esc = CAP_WORD;
        }
    } else if (p->depth == 1 && p->arg_index == 0 && (t == '*' || t == '>' || t == '~') &&
               (c == '+' || c == '$')) {
        /* The first element of the message's array, set or push. */
        p->esc = CAP_ALL;
    }
}

/* A byte of a line of type ':', '#', '_' or '.': checked as it comes. */
static bool line_byte_ok(const struct ar_resp_parser *p, unsigned char c)
{
    size_t pos = (size_t)p->line_len; /* 1 for the first byte after the type */

    switch (p->line[0]) {
    case ':':
        return pos <= 21 && ((c >= '0' && c <= '9') || (pos == 1 && (c == '-' || c == '+')));
    case '#':
        return pos == 1 && (c == 't' || c == 'f');
    default: /* '_' and '.' are empty */
        return false;
    }
}

/* A simple line is complete: check what must be there, then end the value. */
static void line_end(struct ar_resp_parser *p)
{
    char t = p->line[0];

    if (t == ':' &&
        (p->line_len < 2 || (p->line_len == 2 && (p->line[1] == '-' || p->line[1] == '+')))) {
        ar_resp_fail(p, "invalid integer");
        return;
    }
    if (t == '#' && p->line_len != 2) {
        ar_resp_fail(p, "invalid boolean");
        return;
    }
    if (t == '.') {
        p->depth--; /* the streamed aggregate is complete */
    }
    value_done(p);
}

static size_t line_feed(struct ar_resp_parser *p, const unsigned char *s, size_t n)
{
    char t = p->line[0];
    const unsigned char *cr;
    size_t span;

    if (t == '+' || t == '-' || t == ',' || t == '(') {
        /* Free text: skipped to its '\r' at memchr's speed. */
        uint64_t limit = p->lim.max_bulk_len > 0 ? (uint64_t)p->lim.max_bulk_len : 0;
        uint64_t room = limit - (p->line_len - 1); /* line_len - 1 <= limit always */

        cr = memchr(s, '\r', n);
        span = cr != NULL ? (size_t)(cr - s) : n;
        if (span > room) {
            /* Refused at the first byte too many, however the bytes came. */
            ar_resp_fail(p, "simple string too long");
            return (size_t)room + 1;
        }
        if (p->esc != CAP_NONE) {
            capture(p, s, span);
        }
        p->line_len += span;
        if (cr == NULL) {
            return n;
        }
        p->phase = AR_PH_R_LINE_LF;
        return span + 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];

        if (c == '\r') {
            p->phase = AR_PH_R_LINE_LF;
            return i + 1;
        }
        if (!line_byte_ok(p, c)) {
            ar_resp_fail(p, t == ':'   ? "invalid integer"
                            : t == '#' ? "invalid boolean"
                            : t == '_' ? "invalid null"
                                       : "invalid end of aggregate");
            return i + 1;
        }
        p->line[p->line_len++] = (char)c;
    }
    return n;
}

static size_t length_feed(struct ar_resp_parser *p, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        size_t pos = (size_t)p->line_len;

        if (c == '\r') {
            p->phase = AR_PH_R_LEN_LF;
            return i + 1;
        }
        if (pos > 20 || !((c >= '0' && c <= '9') || (pos == 1 && (c == '-' || c == '?')))) {
            ar_resp_fail(p, "invalid length");
            return i + 1;
        }
        p->line[p->line_len++] = (char)c;
    }
    return n;
}

/* A length line is complete: start what it announces. */
static void length_end(struct ar_resp_parser *p)
{
    char t = p->line[0];
    int64_t n;

    if (p->line_len == 2 && p->line[1] == '?') {
        if (t == '$') {
            p->phase = AR_PH_R_CHUNK;
        } else if (t == '*' || t == '%' || t == '~') {
            push(p, STREAMED);
        } else {
            ar_resp_fail(p, "invalid length");
        }
        return;
    }
    if (!ar_resp_parse_ll(p->line + 1, (size_t)p->line_len - 1, &n) ||
        (n < 0 && !(n == -1 && (t == '$' || t == '*')))) {
        ar_resp_fail(p, "invalid length");
        return;
    }
    if (n == -1) {
        value_done(p); /* RESP2's null bulk string and null array */
        return;
    }
    if (t == '$' || t == '=' || t == '!' || t == ';') {
        if (n > p->lim.max_bulk_len) {
            ar_resp_fail(p, "bulk length over the limit");
        } else if (t == ';' && n == 0) {
            value_done(p); /* ";0": the streamed string is complete */
        } else {
            p->bulk_left = n;
            p->phase = n > 0 ? AR_PH_R_BULK : AR_PH_R_BULK_CR;
        }
        return;
    }
    if (t == '%' || t == '|') {
        if (n > COUNT_MAX / 2) {
            ar_resp_fail(p, "invalid length");
            return;
        }
        n *= 2;
    } else if (n > COUNT_MAX) {
        ar_resp_fail(p, "invalid length");
        return;
    }
    if (n > 0) {
        push(p, t == '|' ? n | ATTR : n);
    } else if (t == '|') {
        p->phase = AR_PH_R_TYPE; /* an empty attribute: the value follows */
    } else {
        value_done(p);
    }
}

size_t ar_resp_reply_feed(struct ar_resp_parser *p, const unsigned char *s, size_t len)
{
    size_t i = 0;

    if (p->phase == AR_PH_START) {
        p->phase = AR_PH_R_TYPE;
    }
    while (i < len && p->state == AR_RESP_MORE) {
        size_t n = len - i, take;
        unsigned char c = s[i];

        switch (p->phase) {
        case AR_PH_R_TYPE:
            i++;
            type_byte(p, c);
            break;
        case AR_PH_R_LINE:
            i += line_feed(p, s + i, n);
            break;
        case AR_PH_R_LEN:
            i += length_feed(p, s + i, n);
            break;
        case AR_PH_R_LINE_LF:
        case AR_PH_R_LEN_LF:
            i++;
            if (c != '\n') {
                ar_resp_fail(p, "expected '\\n' after '\\r'");
            } else if (p->phase == AR_PH_R_LINE_LF) {
                line_end(p);
            } else {
                length_end(p);
            }
            break;
        case AR_PH_R_BULK:
            take = (uint64_t)p->bulk_left < n ? (size_t)p->bulk_left : n;
            if (p->esc != CAP_NONE) {
                capture(p, s + i, take);
            }
            p->bulk_left -= (int64_t)take;
            i += take;
            if (p->bulk_left == 0) {
                p->phase = AR_PH_R_BULK_CR;
            }
            break;
        case AR_PH_R_BULK_CR:
        case AR_PH_R_BULK_LF:
            i++;
            if (c != (p->phase == AR_PH_R_BULK_CR ? '\r' : '\n')) {
                ar_resp_fail(p, "expected \"\\r\\n\" after a bulk string");
            } else if (p->phase == AR_PH_R_BULK_CR) {
                p->phase = AR_PH_R_BULK_LF;
            } else if (p->line[0] == ';') {
                p->phase = AR_PH_R_CHUNK; /* the next chunk of a streamed string */
            } else {
                value_done(p);
            }
            break;
        default: /* AR_PH_R_CHUNK */
            i++;
            if (c != ';') {
                ar_resp_fail(p, "expected ';' in a streamed string");
            } else {
                p->line[0] = ';';
                p->line_len = 1;
                p->phase = AR_PH_R_LEN;
            }
            break;
        }
    }
    return i;
}
