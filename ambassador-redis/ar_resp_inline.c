/* ar_resp_inline.c — inline commands: a line split into words with Redis' quoting rules. */
#include <stdbool.h>
#include <string.h>

#include "ar_resp.h"
#include "ar_resp_priv.h"

#define ERR_INLINE_BIG "Protocol error: too big inline request"
#define ERR_QUOTES "Protocol error: unbalanced quotes in request"

/* esc: where an escape stands inside quotes, plus a '\r' held back until the next byte
 * says whether it ends the line ("\r\n": dropped) or is part of it. */
enum {
    ESC_NONE = 0,
    ESC_BACKSLASH = 1, /* after '\' */
    ESC_HEX0 = 2,      /* after "\x" (double quotes) */
    ESC_HEX1 = 3,      /* after "\xH", H in hex */
    ESC_MASK = 3,
    ESC_CR = 4, /* a '\r' is held back */
};

/* isspace() in the C locale, as Redis uses it between words and after a closing quote. */
static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* One more byte of the current word: the name is lowercased, arguments kept as they are. */
static void put(struct ar_resp_parser *p, unsigned char c)
{
    struct ar_resp_msg *m = &p->msg;

    if (p->arg_index == 0) {
        if (m->name_len < AR_RESP_NAME_MAX - 1) {
            m->name[m->name_len] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
            m->name[m->name_len + 1] = '\0';
        }
        m->name_len++;
    } else if (p->arg_index <= AR_RESP_ARGS) {
        int64_t a = p->arg_index - 1;

        if (m->arg_len[a] < AR_RESP_ARG_MAX - 1) {
            m->arg[a][m->arg_len[a]] = (char)c;
            m->arg[a][m->arg_len[a] + 1] = '\0';
        }
        m->arg_len[a]++;
    }
}

static void end_word(struct ar_resp_parser *p)
{
    p->arg_index++;
}

static void close_quote(struct ar_resp_parser *p)
{
    p->quote = 0;
    end_word(p);
    p->phase = AR_PH_IN_CLOSED;
}

static unsigned char unescape(unsigned char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* Inside "double quotes": \n \r \t \b \a, \xHH (two hex digits, else just 'x'), and any
 * other escaped byte as itself. */
static void double_quoted(struct ar_resp_parser *p, unsigned char c)
{
    int hi;

    switch (p->esc & ESC_MASK) {
    case ESC_NONE:
        if (c == '\\') {
            p->esc |= ESC_BACKSLASH;
        } else if (c == '"') {
            close_quote(p);
        } else {
            put(p, c);
        }
        return;
    case ESC_BACKSLASH:
        p->esc &= ~ESC_MASK;
        if (c == 'x') {
            p->esc |= ESC_HEX0;
        } else {
            put(p, unescape(c));
        }
        return;
    case ESC_HEX0:
        p->esc &= ~ESC_MASK;
        if (hex_value(c) >= 0) {
            p->hex = c;
            p->esc |= ESC_HEX1;
        } else {
            put(p, 'x');
            double_quoted(p, c);
        }
        return;
    default: /* ESC_HEX1 */
        p->esc &= ~ESC_MASK;
        hi = hex_value(p->hex);
        if (hex_value(c) >= 0) {
            put(p, (unsigned char)(hi * 16 + hex_value(c)));
        } else {
            put(p, 'x');
            put(p, p->hex);
            double_quoted(p, c);
        }
        return;
    }
}

/* Inside 'single quotes': only \' is an escape; any other backslash is kept. */
static void single_quoted(struct ar_resp_parser *p, unsigned char c)
{
    if ((p->esc & ESC_MASK) == ESC_BACKSLASH) {
        p->esc &= ~ESC_MASK;
        if (c == '\'') {
            put(p, '\'');
            return;
        }
        put(p, '\\');
    }
    if (c == '\\') {
        p->esc |= ESC_BACKSLASH;
    } else if (c == '\'') {
        close_quote(p);
    } else {
        put(p, c);
    }
}

/* One byte of the line (never '\n' or NUL), after any "\r\n" has been taken off. */
static void split_byte(struct ar_resp_parser *p, unsigned char c)
{
    switch (p->phase) {
    case AR_PH_IN_BLANK:
        if (is_blank(c)) {
            return;
        }
        p->phase = AR_PH_IN_WORD;
        break;
    case AR_PH_IN_CLOSED:
        p->phase = is_blank(c) ? AR_PH_IN_BLANK : AR_PH_IN_BAD;
        return;
    case AR_PH_IN_BAD:
        return;
    default:
        break;
    }
    if (p->quote == '"') {
        double_quoted(p, c);
    } else if (p->quote == '\'') {
        single_quoted(p, c);
    } else if (c == ' ' || c == '\t' || c == '\r') {
        /* Unquoted, only these end a word: "\v" and "\f" are part of it. */
        end_word(p);
        p->phase = AR_PH_IN_BLANK;
    } else if (c == '"' || c == '\'') {
        p->quote = c;
    } else {
        put(p, c);
    }
}

/* The '\n' came: an open quote is an error, else the words are the command. */
static void line_end(struct ar_resp_parser *p)
{
    p->esc &= ~ESC_CR;
    if (p->phase == AR_PH_IN_BAD) {
        ar_resp_fail(p, ERR_QUOTES);
        return;
    }
    if (p->phase == AR_PH_IN_WORD) {
        if (p->quote != 0) {
            ar_resp_fail(p, ERR_QUOTES);
            return;
        }
        end_word(p);
    }
    p->msg.argc = p->arg_index;
    p->state = AR_RESP_DONE;
}

size_t ar_resp_inline_feed(struct ar_resp_parser *p, const unsigned char *s, size_t n)
{
    if (p->phase == AR_PH_IN_STUCK) {
        return ar_resp_stuck(p, n, ERR_INLINE_BIG);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];

        if (c == '\n') {
            line_end(p);
            return i + 1;
        }
        /* Redis refuses a line once more than max_inline_len bytes came without '\n'. */
        if (p->line_len >= p->lim.max_inline_len) {
            ar_resp_fail(p, ERR_INLINE_BIG);
            return i + 1;
        }
        p->line_len++;
        if (c == '\0') {
            p->phase = AR_PH_IN_STUCK;
            return i + 1;
        }
        if (c == '\r') {
            if (p->esc & ESC_CR) {
                split_byte(p, '\r');
            }
            p->esc |= ESC_CR;
            continue;
        }
        if (p->esc & ESC_CR) {
            p->esc &= ~ESC_CR;
            split_byte(p, '\r');
        }
        split_byte(p, c);
    }
    return n;
}
