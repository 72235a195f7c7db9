/* ar_resp.h — finds where RESP messages end in a byte stream, as a pure push parser.
 *
 * The parser is fed bytes in pieces of any size (an evbuffer's segments, seen through
 * evbuffer_peek: nothing is copied) and says when one message ends. Payloads are never
 * copied: bulk strings are skipped by count. Only what the ambassador needs to route a
 * message is kept: for a command its name and its first arguments, for a reply its type and
 * the first word of an error. The caller then moves the message's bytes with
 * evbuffer_remove_buffer.
 *
 * Two modes:
 *   AR_RESP_COMMAND  what a client sends: multibulk commands (*N, then N bulk strings) and
 *                    inline commands (a line of words, with Redis' quoting rules), checked
 *                    against Redis' limits, with Redis' own error texts;
 *   AR_RESP_REPLY    what a server sends: every RESP2 and RESP3 type (+ - : $ * _ , # ! =
 *                    ( % ~ | >, streamed strings and aggregates), nested to max_depth, an
 *                    attribute (|) counting as part of the value that follows it.
 *
 * Not thread-safe; no allocation; no global state. */
#ifndef AR_RESP_H
#define AR_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AR_RESP_NAME_MAX 32   /* a command name kept up to 31 bytes, lowercased */
#define AR_RESP_ARGS 4        /* arguments kept after the name */
#define AR_RESP_ARG_MAX 512   /* each kept up to 511 bytes, as sent */
#define AR_RESP_WORD_MAX 32   /* an error reply's first word, kept up to 31 bytes */
#define AR_RESP_DEPTH_MAX 128 /* the deepest nesting any limits may ask for */
#define AR_RESP_ERR_MAX 128

/* Redis' limits, with its defaults. */
struct ar_resp_limits {
    int64_t max_bulk_len;      /* proto-max-bulk-len: 512 MB */
    int64_t max_multibulk_len; /* arguments of one command: 1024 * 1024 (Redis' INT_MAX
                                * for authenticated clients is not followed: a count
                                * above this is refused) */
    size_t max_inline_len;     /* PROTO_INLINE_MAX_SIZE: 64 KiB, without the newline */
    int max_depth;             /* replies: nesting of aggregates, at most AR_RESP_DEPTH_MAX */
};

/* Fills l with Redis' defaults. */
void ar_resp_limits_default(struct ar_resp_limits *l);

enum ar_resp_mode { AR_RESP_COMMAND, AR_RESP_REPLY };

enum ar_resp_state {
    AR_RESP_MORE,  /* the message is not complete: feed more */
    AR_RESP_DONE,  /* a message ended: see msg; ar_resp_next before feeding again */
    AR_RESP_ERROR, /* the stream is broken: see err; nothing more can be parsed from it */
};

/* What was learned of one message. Valid from AR_RESP_DONE until ar_resp_next. */
struct ar_resp_msg {
    uint64_t len; /* bytes of the whole message, from its first byte to its last */
    /* COMMAND mode */
    int64_t argc;                  /* with the name; 0: an empty inline line, which Redis
                                    * ignores (no reply comes for it) */
    bool is_inline;                /* sent as an inline command */
    char name[AR_RESP_NAME_MAX];   /* the first argument, lowercased, NUL-terminated */
    uint64_t name_len;             /* its full length (>= AR_RESP_NAME_MAX: cut) */
    char arg[AR_RESP_ARGS][AR_RESP_ARG_MAX]; /* the next arguments as sent, NUL-terminated
                                              * (binary-safe up to arg_len) */
    uint64_t arg_len[AR_RESP_ARGS]; /* their full lengths (>= AR_RESP_ARG_MAX: cut) */
    /* REPLY mode */
    char type;          /* the top-level type byte ('+', '-', ':', '$', '*', '>', ...), that
                         * of the value after an attribute */
    bool is_error;      /* '-' or '!' at the top level */
    bool is_push;       /* '>' at the top level: out of band, not an answer to a command */
    char word[AR_RESP_WORD_MAX]; /* an error's first word ("ERR", "READONLY", "LOADING",
                                  * "MOVED"...), or an aggregate's first element when it is a
                                  * simple or bulk string ("message", "subscribe"...): as
                                  * sent, cut, NUL-terminated; "" otherwise */
};

/* The parser's state. Plain data: it may be copied, and lives in the caller's memory. */
struct ar_resp_parser {
    enum ar_resp_mode mode;
    struct ar_resp_limits lim;
    enum ar_resp_state state;
    struct ar_resp_msg msg;
    char err[AR_RESP_ERR_MAX]; /* AR_RESP_ERROR: Redis' text without "-ERR " ("Protocol
                                * error: invalid multibulk length"), or for replies what was
                                * wrong ("invalid reply type byte 'x'") */
    /* Private: where the parser is inside the current message. */
    int phase;
    uint64_t line_len;            /* bytes of the header or inline line read so far */
    char line[32];                /* a header line's digits so far */
    int64_t bulk_left;            /* payload bytes still to skip (or keep) */
    int64_t args_left;            /* arguments still to come (COMMAND) */
    int64_t arg_index;            /* the argument being read (COMMAND) */
    int depth;                    /* open aggregates (REPLY) */
    int64_t left[AR_RESP_DEPTH_MAX]; /* elements still to come in each (-1: streamed) */
    bool attr_pending;            /* an attribute was read: the next value is the message */
    int quote;                    /* inline: 0, '"' or '\'' */
    int esc;                      /* inline: escape state */
    unsigned char hex;            /* inline: \xHH so far */
};

/* Starts a parser in mode with limits lim (NULL: the defaults). */
void ar_resp_init(struct ar_resp_parser *p, enum ar_resp_mode mode,
                  const struct ar_resp_limits *lim);

/* Feeds up to len bytes of buf. Returns how many it consumed: all of them while the
 * message is not complete (state MORE), fewer when it ends inside buf (state DONE: the
 * rest belongs to the next message) or when the stream breaks (state ERROR: err says why;
 * the bytes are not usable). Must not be called in state DONE or ERROR. */
size_t ar_resp_feed(struct ar_resp_parser *p, const char *buf, size_t len);

/* After DONE: clears the message and gets ready for the next one (limits and mode stay). */
void ar_resp_next(struct ar_resp_parser *p);

#endif
