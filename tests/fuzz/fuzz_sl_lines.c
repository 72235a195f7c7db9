/* fuzz_sl_lines.c — libFuzzer target: the line assembler under each parser, with and without
 * a multiline pattern, fed byte by byte, in fuzzer-chosen pieces, and with ticks. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl_block.h"
#include "sl_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPEAT_TO 80000 /* a repeated input passes the queues' bound (64 KiB + max_line) */

/* What one run saw, checked as it came. */
struct run {
    const struct sl_lines_conf *conf;
    struct sl_lines *l;
    uint64_t sum; /* a hash of every record, in order */
    size_t count; /* records */
    bool any;
    uint64_t last; /* the last record's offset */
    bool finishing;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

static void emit(void *arg, const char *text, size_t len, uint64_t offset, int64_t time_ns,
                 uint32_t flags)
{
    struct run *r = arg;
    const struct sl_lines_conf *c = r->conf;

    /* file order (between calls: before the resume offset, see between) */
    if (r->any && offset <= r->last) {
        abort();
    }
    if (len > c->max_line || (c->multiline == NULL && memchr(text, '\n', len) != NULL) ||
        ((flags & SL_REC_NO_NEWLINE) && !r->finishing) ||
        (c->parser != SL_PARSE_CRI && (flags & (SL_REC_CRI | SL_REC_STDERR))) ||
        (c->parser != SL_PARSE_JSON && (flags & SL_REC_JSON)) ||
        ((flags & SL_REC_STDERR) && !(flags & SL_REC_CRI)) ||
        (!(flags & SL_REC_CRI) && time_ns != 0) ||
        ((flags & SL_REC_TRUNCATED) && len != c->max_line) || (flags & ~(uint32_t)0x1f)) {
        abort();
    }
    r->any = true;
    r->last = offset;
    r->count++;
    r->sum = mix(r->sum, &len, sizeof(len));
    r->sum = mix(r->sum, text, len);
    r->sum = mix(r->sum, &offset, sizeof(offset));
    r->sum = mix(r->sum, &time_ns, sizeof(time_ns));
    r->sum = mix(r->sum, &flags, sizeof(flags));
}

/* Checks what must hold between calls: the offset is what was fed, the resume offset never
 * goes back nor passes it, and every record out is before it. */
static uint64_t between(struct run *r, uint64_t fed, uint64_t last_resume)
{
    uint64_t resume = sl_lines_resume_offset(r->l);

    if (sl_lines_offset(r->l) != fed || resume < last_resume || resume > fed ||
        (r->any && r->last >= resume)) {
        abort();
    }
    return resume;
}

static void finish(struct run *r, size_t n)
{
    struct sl_lines_stats st;

    r->finishing = true;
    sl_lines_finish(r->l, emit, r);
    sl_lines_stats(r->l, &st);
    if (sl_lines_resume_offset(r->l) != n || sl_lines_offset(r->l) != n || st.records != r->count ||
        st.truncated > st.records || st.bad > st.lines ||
        (r->conf->parser == SL_PARSE_RAW && st.bad != 0)) {
        abort();
    }
    sl_lines_free(r->l);
}

/* The input's first byte picks the conf; the second, with the input read backwards, the
 * pieces. */
static void run_conf(const struct sl_lines_conf *conf, const char *in, size_t n,
                     const uint8_t *steps, size_t nsteps, bool light)
{
    struct run ref = {conf, sl_lines_new(conf, 0), 14695981039346656037ULL, 0, false, 0, false};
    struct run pieces = ref, ticked = ref;
    uint64_t *resume = malloc((n + 1) * sizeof(*resume));
    size_t *count = malloc((n + 1) * sizeof(*count));
    uint64_t last;
    size_t pos, k = 0;
    int64_t now = 0;

    pieces.l = sl_lines_new(conf, 0);
    ticked.l = sl_lines_new(conf, 0);
    if (ref.l == NULL || pieces.l == NULL || ticked.l == NULL || resume == NULL || count == NULL) {
        abort();
    }

    /* Byte by byte: the resume offset and the records out after every byte. light (a long
     * input): at once, and only the records are compared. */
    resume[0] = last = between(&ref, 0, 0);
    count[0] = 0;
    for (size_t i = 0, one = light ? n : 1; i < n; i += one) {
        if (sl_lines_feed(ref.l, in + i, one, 0, emit, &ref) != 0) {
            abort();
        }
        resume[i + one] = last = between(&ref, i + one, last);
        count[i + one] = ref.count;
    }

    /* In pieces (empty ones too): at every boundary the same as byte by byte. */
    last = between(&pieces, 0, 0);
    for (pos = 0; pos < n;) {
        size_t piece = steps[k++ % nsteps] % 97;
        piece = piece < n - pos ? piece : n - pos;
        if (sl_lines_feed(pieces.l, in + pos, piece, 0, emit, &pieces) != 0) {
            abort();
        }
        pos += piece;
        last = between(&pieces, pos, last);
        if (!light && (last != resume[pos] || pieces.count != count[pos])) {
            abort();
        }
    }
    finish(&ref, n);
    finish(&pieces, n);
    if (ref.count != pieces.count || ref.sum != pieces.sum) {
        abort();
    }

    /* With time going on and ticks between pieces: only the invariants hold. */
    if (light) {
        sl_lines_free(ticked.l);
        free(resume);
        free(count);
        return;
    }
    last = between(&ticked, 0, 0);
    k = 0;
    for (pos = 0; pos < n;) {
        size_t piece = steps[k++ % nsteps] % 97;
        int64_t due;

        piece = piece < n - pos ? piece : n - pos;
        now += steps[k % nsteps];
        if (sl_lines_feed(ticked.l, in + pos, piece, now, emit, &ticked) != 0) {
            abort();
        }
        pos += piece;
        last = between(&ticked, pos, last);
        if (steps[k % nsteps] & 1) {
            now += steps[(k + 1) % nsteps];
            due = sl_lines_tick(ticked.l, now, emit, &ticked);
            if ((conf->multiline == NULL && due != 0) || (due != 0 && due <= now)) {
                abort();
            }
            last = between(&ticked, pos, last);
        }
    }
    finish(&ticked, n);
    free(resume);
    free(count);
}

static pcre2_code *pattern(const char *p)
{
    int err;
    PCRE2_SIZE at;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, 0, &err, &at, NULL);

    if (c == NULL) {
        abort();
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    return c;
}

/*
 * data[0]: bits 0-1 the max_line (1, 7, 64, 4096), bit 2 the second pattern, bits 3-6 all set:
 * the input repeated up to REPEAT_TO bytes, so that the queues pass their bound (cri only, the
 * one parser with queues; fed at once and in pieces). data[1..]: the file, and read backwards
 * the pieces. Every parser runs with and without a pattern.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = {1, 7, 64, 4096};
    static pcre2_code *start_any, *start_e;
    const uint8_t *file;
    uint8_t *steps, *rep = NULL;
    size_t n;

    if (size < 2) {
        return 0;
    }
    if (start_any == NULL) {
        start_any = pattern("^\\S");
        start_e = pattern("^(E|\\{)");
    }
    file = data + 1;
    n = size - 1;
    steps = malloc(n + 1);
    if (steps == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        steps[i] = data[size - 1 - i];
    }
    steps[n] = (uint8_t)(1 + data[0] % 89); /* never only empty pieces */
    if ((data[0] & 0x78) == 0x78 && n < REPEAT_TO) {
        size_t m = 0;
        if ((rep = malloc(REPEAT_TO)) == NULL) {
            abort();
        }
        while (m < REPEAT_TO) {
            size_t k = n < REPEAT_TO - m ? n : REPEAT_TO - m;
            memcpy(rep + m, file, k);
            m += k;
        }
        file = rep;
        n = REPEAT_TO;
    }
    for (int parser = rep ? SL_PARSE_CRI : SL_PARSE_RAW; parser <= SL_PARSE_CRI; parser++) {
        for (int ml = 0; ml < 2; ml++) {
            struct sl_lines_conf conf = {maxes[data[0] & 3], (enum sl_parser)parser, NULL, 1000};
            if (ml) {
                conf.multiline = (data[0] & 4) ? start_e : start_any;
            }
            run_conf(&conf, (const char *)file, n, steps, size, rep != NULL);
        }
    }
    free(rep);
    free(steps);
    return 0;
}
