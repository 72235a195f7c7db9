/* ar_resp_priv.h — what the RESP parser's files share: its phases and small helpers. */
#ifndef AR_RESP_PRIV_H
#define AR_RESP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ar_resp.h"

/* Where the parser is inside the current message (struct ar_resp_parser.phase). */
enum ar_resp_phase {
    AR_PH_START = 0, /* before a message's first byte */
    /* COMMAND, multibulk */
    AR_PH_MB_HDR,     /* "*N": up to its '\r' */
    AR_PH_MB_LF,      /* the byte after that '\r' (Redis skips it unread) */
    AR_PH_MB_STUCK,   /* a NUL in "*N": Redis never finds its '\r' */
    AR_PH_BULK_HDR,   /* "$N": up to its '\r' */
    AR_PH_BULK_LF,    /* the byte after that '\r' */
    AR_PH_BULK_STUCK, /* a NUL in "$N" */
    AR_PH_BULK_DATA,  /* the payload */
    AR_PH_BULK_END,   /* the two bytes after it (Redis skips them unread) */
    /* COMMAND, inline */
    AR_PH_IN_BLANK,  /* between words */
    AR_PH_IN_WORD,   /* in a word, maybe inside quotes (quote) */
    AR_PH_IN_CLOSED, /* just after a closing quote: a blank or the end must follow */
    AR_PH_IN_STUCK,  /* a NUL in the line: Redis never finds its '\n' */
    AR_PH_IN_BAD,    /* unbalanced quotes, refused once the line is whole (as Redis does) */
    /* REPLY */
    AR_PH_R_TYPE,    /* a value's type byte */
    AR_PH_R_LINE,    /* a simple line (+ - : _ , # ( .) up to its '\r' */
    AR_PH_R_LINE_LF, /* its '\n' */
    AR_PH_R_LEN,     /* a length line ($ = ! * % ~ > | ;) up to its '\r' */
    AR_PH_R_LEN_LF,  /* its '\n' */
    AR_PH_R_BULK,    /* a payload */
    AR_PH_R_BULK_CR, /* the "\r\n" after it */
    AR_PH_R_BULK_LF,
    AR_PH_R_CHUNK, /* a streamed string: the ';' of the next chunk */
};

/* Puts the parser in state ERROR with err set from fmt. */
void ar_resp_fail(struct ar_resp_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like Redis' string2ll: the whole of s[0..n) must be a canonical integer (an optional '-',
 * no '+', no leading zero, no space, at most 20 characters) within int64_t. */
bool ar_resp_parse_ll(const char *s, size_t n, int64_t *out);

/* A line that can never end (a NUL hides its end from Redis): counts n more of its bytes
 * and fails with err once there are more than max_inline_len. Returns the bytes used. */
size_t ar_resp_stuck(struct ar_resp_parser *p, size_t n, const char *err);

/* COMMAND mode, inline phases: consumes what it can of s[0..n). */
size_t ar_resp_inline_feed(struct ar_resp_parser *p, const unsigned char *s, size_t n);

/* REPLY mode: consumes what it can of s[0..n). */
size_t ar_resp_reply_feed(struct ar_resp_parser *p, const unsigned char *s, size_t n);

#endif
