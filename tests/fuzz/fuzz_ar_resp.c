/* fuzz_ar_resp.c — libFuzzer target: the RESP parser, both modes, whole, bytewise, in pieces. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ar_cmd.h"
#include "ar_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSGS_MAX 8192

/* What one run saw: a fingerprint per message, then how it stopped. */
struct run {
    uint64_t sum[MSGS_MAX];
    size_t count;
    enum ar_resp_state state;
    char err[AR_RESP_ERR_MAX];
    size_t used;      /* bytes consumed in all */
    uint64_t lengths; /* the DONE messages' lengths, plus the last message's so far */
};

static struct run runs[3];

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

/* A message's fingerprint, after checking what must hold of any DONE message. */
static uint64_t check_msg(const struct ar_resp_parser *p)
{
    const struct ar_resp_msg *m = &p->msg;
    uint64_t h = 14695981039346656037ULL;

    if (m->len == 0) {
        abort();
    }
    h = mix(h, &m->len, sizeof(m->len));
    if (p->mode == AR_RESP_COMMAND) {
        size_t kept = m->name_len < AR_RESP_NAME_MAX ? m->name_len : AR_RESP_NAME_MAX - 1;

        if (m->argc < 0 || (m->argc == 0 && m->name_len != 0) || m->name[kept] != '\0' ||
            m->type != 0) {
            abort();
        }
        for (size_t i = 0; i < kept; i++) {
            if (m->name[i] >= 'A' && m->name[i] <= 'Z') {
                abort();
            }
        }
        h = mix(h, &m->argc, sizeof(m->argc));
        h = mix(h, &m->is_inline, sizeof(m->is_inline));
        h = mix(h, &m->name_len, sizeof(m->name_len));
        h = mix(h, m->name, kept);
        for (int a = 0; a < AR_RESP_ARGS; a++) {
            size_t k = m->arg_len[a] < AR_RESP_ARG_MAX ? m->arg_len[a] : AR_RESP_ARG_MAX - 1;

            if (m->arg[a][k] != '\0' || (a + 1 >= m->argc && m->arg_len[a] != 0)) {
                abort();
            }
            h = mix(h, &m->arg_len[a], sizeof(m->arg_len[a]));
            h = mix(h, m->arg[a], k);
        }
        if (m->argc > 0) {
            unsigned f = ar_cmd_flags(m);
            const char *metric = ar_cmd_metric_name(m);

            if (((f & AR_CMD_UNKNOWN) != 0) != (strcmp(metric, "unknown") == 0) ||
                ((f & AR_CMD_UNKNOWN) == 0 && strcmp(metric, m->name) != 0)) {
                abort();
            }
            h = mix(h, &f, sizeof(f));
        }
    } else {
        size_t w = strlen(m->word);

        if (w >= AR_RESP_WORD_MAX || m->type == 0 || m->type == '|' ||
            m->is_error != (m->type == '-' || m->type == '!') || m->is_push != (m->type == '>') ||
            m->argc != 0 || m->name[0] != '\0') {
            abort();
        }
        h = mix(h, &m->type, 1);
        h = mix(h, m->word, w);
    }
    return h;
}

/* Feeds in[0..n): whole (step NULL, ones false), bytewise (ones) or in pieces whose sizes
 * are read from step (cycling through step_len bytes). */
static void run_parser(struct run *r, enum ar_resp_mode mode, const struct ar_resp_limits *lim,
                       const char *in, size_t n, const uint8_t *step, size_t step_len, bool ones)
{
    struct ar_resp_parser p;
    size_t pos = 0, k = 0;

    memset(r, 0, sizeof(*r));
    ar_resp_init(&p, mode, lim);
    while (pos < n) {
        size_t piece = n - pos, used;

        if (ones) {
            piece = 1;
        } else if (step != NULL) {
            piece = step[k++ % step_len] % 23; /* 0 too: an empty feed changes nothing */
            piece = piece < n - pos ? piece : n - pos;
        }
        used = ar_resp_feed(&p, in + pos, piece);
        if (used > piece || (p.state == AR_RESP_MORE && used != piece)) {
            abort();
        }
        pos += used;
        if (p.state == AR_RESP_DONE) {
            if (r->count < MSGS_MAX) {
                r->sum[r->count++] = check_msg(&p);
            }
            r->lengths += p.msg.len;
            if (ar_resp_feed(&p, in + pos, n - pos) != 0) {
                abort();
            }
            ar_resp_next(&p);
        } else if (p.state == AR_RESP_ERROR) {
            if (p.err[0] == '\0' || ar_resp_feed(&p, in + pos, n - pos) != 0) {
                abort();
            }
            break;
        }
    }
    r->state = p.state;
    memcpy(r->err, p.err, sizeof(r->err));
    r->used = pos;
    r->lengths += p.msg.len;
    if (r->used > n || r->lengths != r->used) {
        abort();
    }
}

static void same(const struct run *a, const struct run *b)
{
    if (a->count != b->count || a->state != b->state || strcmp(a->err, b->err) != 0 ||
        a->used != b->used || memcmp(a->sum, b->sum, a->count * sizeof(a->sum[0])) != 0) {
        abort();
    }
}

/* The first byte picks the limits (bit 0: small ones); the rest is the stream, and read
 * backwards it gives the sizes of the pieces. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ar_resp_limits small = {
        .max_bulk_len = 16, .max_multibulk_len = 4, .max_inline_len = 16, .max_depth = 3};
    const struct ar_resp_limits *lim;
    const char *in;
    uint8_t *steps;
    size_t n;

    if (size < 1) {
        return 0;
    }
    lim = (data[0] & 1) ? &small : NULL;
    in = (const char *)data + 1;
    n = size - 1;
    steps = malloc(n + 1);
    if (steps == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        steps[i] = data[size - 1 - i];
    }
    steps[n] = (uint8_t)(1 + data[0] % 22); /* never only empty pieces */
    for (int mode = AR_RESP_COMMAND; mode <= AR_RESP_REPLY; mode++) {
        run_parser(&runs[0], (enum ar_resp_mode)mode, lim, in, n, NULL, 0, false);
        run_parser(&runs[1], (enum ar_resp_mode)mode, lim, in, n, NULL, 0, true);
        run_parser(&runs[2], (enum ar_resp_mode)mode, lim, in, n, steps, n + 1, false);
        same(&runs[0], &runs[1]);
        same(&runs[0], &runs[2]);
    }
    free(steps);
    return 0;
}
