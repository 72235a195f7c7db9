/* ar_resp.c — the RESP push parser: setup, the feed loop and Redis' multibulk commands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ar_resp.h"
#include "ar_resp_priv.h"

#define ERR_MBULK_BIG "Protocol error: too big mbulk count string"
#define ERR_MBULK_LEN "Protocol error: invalid multibulk length"
#define ERR_BULK_BIG "Protocol error: too big bulk count string"
#define ERR_BULK_LEN "Protocol error: invalid bulk length"

void ar_resp_limits_default(struct ar_resp_limits *l)
{
    l->max_bulk_len = 512LL * 1024 * 1024;
    l->max_multibulk_len = 1024 * 1024;
    l->max_inline_len = 64 * 1024;
    l->max_depth = AR_RESP_DEPTH_MAX;
}

void ar_resp_init(struct ar_resp_parser *p, enum ar_resp_mode mode,
                  const struct ar_resp_limits *lim)
{
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    if (lim != NULL) {
        p->lim = *lim;
    } else {
        ar_resp_limits_default(&p->lim);
    }
    /* The stack of open aggregates has room for AR_RESP_DEPTH_MAX. */
    if (p->lim.max_depth > AR_RESP_DEPTH_MAX) {
        p->lim.max_depth = AR_RESP_DEPTH_MAX;
    } else if (p->lim.max_depth < 0) {
        p->lim.max_depth = 0;
    }
    p->state = AR_RESP_MORE;
    p->phase = AR_PH_START;
}

void ar_resp_next(struct ar_resp_parser *p)
{
    struct ar_resp_msg *m = &p->msg;

    /* Only what a message sets is cleared: the kept buffers are large and this runs once
     * per message. Every kept string is written up to its terminator before DONE. */
    m->len = 0;
    m->argc = 0;
    m->is_inline = false;
    m->name[0] = '\0';
    m->name_len = 0;
    for (int i = 0; i < AR_RESP_ARGS; i++) {
        m->arg[i][0] = '\0';
        m->arg_len[i] = 0;
    }
    m->type = 0;
    m->is_error = false;
    m->is_push = false;
    m->word[0] = '\0';
    p->err[0] = '\0';
    p->state = AR_RESP_MORE;
    p->phase = AR_PH_START;
    p->line_len = 0;
    p->bulk_left = 0;
    p->args_left = 0;
    p->arg_index = 0;
    p->depth = 0;
    p->attr_pending = false;
    p->quote = 0;
    p->esc = 0;
    p->hex = 0;
}

void ar_resp_fail(struct ar_resp_parser *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    p->state = AR_RESP_ERROR;
}

bool ar_resp_parse_ll(const char *s, size_t n, int64_t *out)
{
    uint64_t v = 0, limit = INT64_MAX;
    bool neg = false;
    size_t i = 0;

    if (n == 0 || n > 20) {
        return false;
    }
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (s[0] == '-') {
        neg = true;
        limit = (uint64_t)INT64_MAX + 1;
        i = 1;
    }
    /* The first digit is 1-9: "-", "01", "-0" and "" are not numbers. */
    if (i == n || s[i] < '1' || s[i] > '9') {
        return false;
    }
    for (; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (neg) {
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        *out = (int64_t)v;
    }
    return true;
}

size_t ar_resp_stuck(struct ar_resp_parser *p, size_t n, const char *err)
{
    uint64_t room = p->line_len < p->lim.max_inline_len ? p->lim.max_inline_len - p->line_len : 0;

    if (n <= room) {
        p->line_len += n;
        return n;
    }
    ar_resp_fail(p, "%s", err);
    return (size_t)room + 1;
}

/* Reads a header line ("*N" or "$N") up to its '\r', keeping its first bytes in line.
 * Like Redis, a line that has gone past max_inline_len without a '\r' is refused, and one
 * with a NUL in it can never end (Redis looks for the '\r' with strchr). */
static size_t header_feed(struct ar_resp_parser *p, const unsigned char *s, size_t n, int lf_phase,
                          int stuck_phase, const char *err_big)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];

        if (c == '\r') {
            p->phase = lf_phase;
            return i + 1;
        }
        if (p->line_len < sizeof(p->line)) {
            p->line[p->line_len] = (char)c;
        }
        p->line_len++;
        if (p->line_len > p->lim.max_inline_len) {
            ar_resp_fail(p, "%s", err_big);
            return i + 1;
        }
        if (c == '\0') {
            p->phase = stuck_phase;
            return i + 1;
        }
    }
    return n;
}

/* The digits of a header line after its first byte, as Redis reads them. */
static bool header_number(const struct ar_resp_parser *p, int64_t *v)
{
    if (p->line_len < 1 || p->line_len > sizeof(p->line)) {
        return false;
    }
    return ar_resp_parse_ll(p->line + 1, (size_t)p->line_len - 1, v);
}

/* "*N" ended: Redis takes N <= 0 as an empty command, which gets no reply. */
static void multibulk_header(struct ar_resp_parser *p)
{
    int64_t n;

    if (!header_number(p, &n) || n > p->lim.max_multibulk_len) {
        ar_resp_fail(p, ERR_MBULK_LEN);
        return;
    }
    if (n <= 0) {
        p->msg.argc = 0;
        p->state = AR_RESP_DONE;
        return;
    }
    p->msg.argc = n;
    p->args_left = n;
    p->arg_index = 0;
    p->line_len = 0;
    p->phase = AR_PH_BULK_HDR;
}

/* "$N" ended: checks it and says how much of the argument is kept, and where. */
static void bulk_header(struct ar_resp_parser *p)
{
    /* An empty line's first byte was its '\r', which is not kept. */
    char first = p->line_len > 0 ? p->line[0] : '\r';
    int64_t n;

    if (first != '$') {
        /* Redis' error replies carry no line breaks: it turns them into spaces. */
        ar_resp_fail(p, "Protocol error: expected '$', got '%c'",
                     first == '\r' || first == '\n' ? ' ' : first);
        return;
    }
    if (!header_number(p, &n) || n < 0 || n > p->lim.max_bulk_len) {
        ar_resp_fail(p, ERR_BULK_LEN);
        return;
    }
    if (p->arg_index == 0) {
        p->msg.name_len = (uint64_t)n;
        p->msg.name[n < AR_RESP_NAME_MAX ? n : AR_RESP_NAME_MAX - 1] = '\0';
    } else if (p->arg_index <= AR_RESP_ARGS) {
        int64_t a = p->arg_index - 1;

        p->msg.arg_len[a] = (uint64_t)n;
        p->msg.arg[a][n < AR_RESP_ARG_MAX ? n : AR_RESP_ARG_MAX - 1] = '\0';
    }
    p->bulk_left = n;
    p->phase = n > 0 ? AR_PH_BULK_DATA : AR_PH_BULK_END;
    if (n == 0) {
        p->bulk_left = 2;
    }
}

/* Keeps the bytes of s that fall inside the kept part of the current argument. */
static void bulk_keep(struct ar_resp_parser *p, const unsigned char *s, size_t n)
{
    if (p->arg_index == 0) {
        uint64_t off = p->msg.name_len - (uint64_t)p->bulk_left;

        for (size_t i = 0; i < n && off + i < AR_RESP_NAME_MAX - 1; i++) {
            unsigned char c = s[i];

            p->msg.name[off + i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
    } else if (p->arg_index <= AR_RESP_ARGS) {
        int64_t a = p->arg_index - 1;
        uint64_t off = p->msg.arg_len[a] - (uint64_t)p->bulk_left;

        if (off < AR_RESP_ARG_MAX - 1) {
            uint64_t room = AR_RESP_ARG_MAX - 1 - off;

            memcpy(p->msg.arg[a] + off, s, n < room ? n : (size_t)room);
        }
    }
}

static size_t command_feed(struct ar_resp_parser *p, const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len && p->state == AR_RESP_MORE) {
        size_t n = len - i, take;

        switch (p->phase) {
        case AR_PH_START:
            /* Redis' own test: a request that starts with '*' is a multibulk. */
            if (s[i] == '*') {
                p->line[0] = '*';
                p->line_len = 1;
                p->phase = AR_PH_MB_HDR;
                i++;
            } else {
                p->msg.is_inline = true;
                p->phase = AR_PH_IN_BLANK;
            }
            break;
        case AR_PH_MB_HDR:
            i += header_feed(p, s + i, n, AR_PH_MB_LF, AR_PH_MB_STUCK, ERR_MBULK_BIG);
            break;
        case AR_PH_MB_LF:
            i++;
            multibulk_header(p);
            break;
        case AR_PH_MB_STUCK:
            i += ar_resp_stuck(p, n, ERR_MBULK_BIG);
            break;
        case AR_PH_BULK_HDR:
            i += header_feed(p, s + i, n, AR_PH_BULK_LF, AR_PH_BULK_STUCK, ERR_BULK_BIG);
            break;
        case AR_PH_BULK_LF:
            i++;
            bulk_header(p);
            break;
        case AR_PH_BULK_STUCK:
            i += ar_resp_stuck(p, n, ERR_BULK_BIG);
            break;
        case AR_PH_BULK_DATA:
            take = (uint64_t)p->bulk_left < n ? (size_t)p->bulk_left : n;
            if (p->arg_index <= AR_RESP_ARGS) {
                bulk_keep(p, s + i, take);
            }
            p->bulk_left -= (int64_t)take;
            i += take;
            if (p->bulk_left == 0) {
                p->bulk_left = 2;
                p->phase = AR_PH_BULK_END;
            }
            break;
        case AR_PH_BULK_END:
            take = (uint64_t)p->bulk_left < n ? (size_t)p->bulk_left : n;
            p->bulk_left -= (int64_t)take;
            i += take;
            if (p->bulk_left == 0) {
                p->arg_index++;
                if (--p->args_left == 0) {
                    p->state = AR_RESP_DONE;
                } else {
                    p->line_len = 0;
                    p->phase = AR_PH_BULK_HDR;
                }
            }
            break;
        default:
            i += ar_resp_inline_feed(p, s + i, n);
            break;
        }
    }
    return i;
}

size_t ar_resp_feed(struct ar_resp_parser *p, const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t used;

    if (p->state != AR_RESP_MORE || len == 0) {
        return 0;
    }
    if (p->mode == AR_RESP_REPLY) {
        used = ar_resp_reply_feed(p, s, len);
    } else {
        used = command_feed(p, s, len);
    }
    p->msg.len += used;
    return used;
}
