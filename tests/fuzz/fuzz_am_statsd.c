/* fuzz_am_statsd.c — libFuzzer target: the statsd parser, whole and line by line, and its
 * numbers against strtod. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am_statsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one parse saw: a running fingerprint of every sample and refusal. */
struct run {
    const char *in; /* the bytes parsed, to tell pointers into them from scratch */
    size_t in_len;
    size_t line_base; /* added to the line numbers of refusals (line-by-line runs) */
    uint64_t sum;
    size_t samples, rejects, last_line;
    bool bracket; /* the input has a '[': only then may text live in scratch */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

/* Text is in the input, or (SignalFX names only) wholly outside it, in the parser's scratch:
 * reading it all lets ASan check that it is live. */
static uint64_t mix_text(struct run *r, uint64_t h, const char *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)r->in, hi = lo + r->in_len;

    if (n == 0) {
        return mix(h, &n, sizeof(n));
    }
    if (a >= lo && a <= hi) {
        if (n > hi - a) {
            abort();
        }
    } else if (!r->bracket || (a < hi && a + n > lo)) {
        abort();
    }
    h = mix(h, &n, sizeof(n));
    return mix(h, p, n);
}

static void on_sample(void *arg, const struct am_sample *s)
{
    struct run *r = arg;
    uint64_t h = r->sum;
    double v = s->value;

    if (s->name == NULL || s->name_len == 0 || s->nlabels > AM_LABELS_MAX ||
        (s->nlabels > 0 && s->labels == NULL) || !(s->rate > 0 && s->rate <= 1) ||
        s->counter_absolute || s->help != NULL || (s->relative && s->kind != AM_KIND_GAUGE)) {
        abort();
    }
    switch (s->kind) {
    case AM_KIND_COUNTER:
        if (!isfinite(v) || v < 0) {
            abort();
        }
        break;
    case AM_KIND_GAUGE:
        if (s->relative && !isfinite(v)) {
            abort();
        }
        break;
    case AM_KIND_TIMER:
    case AM_KIND_HISTOGRAM:
    case AM_KIND_DISTRIBUTION:
        if (!isfinite(v)) {
            abort();
        }
        break;
    case AM_KIND_SET:
        if (v != 0 || s->set_member == NULL || s->set_member_len == 0) {
            abort();
        }
        break;
    default:
        abort();
    }
    if (s->kind != AM_KIND_SET && s->set_member != NULL) {
        abort();
    }
    h = mix_text(r, h, s->name, s->name_len);
    h = mix(h, &s->kind, sizeof(s->kind));
    if (!isnan(v)) {
        h = mix(h, &v, sizeof(v));
    }
    h = mix(h, &s->relative, sizeof(s->relative));
    h = mix(h, &s->rate, sizeof(s->rate));
    if (s->kind == AM_KIND_SET) {
        h = mix_text(r, h, s->set_member, s->set_member_len);
    }
    for (size_t i = 0; i < s->nlabels; i++) {
        h = mix_text(r, h, s->labels[i].name, s->labels[i].name_len);
        h = mix_text(r, h, s->labels[i].value, s->labels[i].value_len);
    }
    r->sum = h;
    r->samples++;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    struct run *r = arg;

    line += r->line_base;
    if (why == NULL || why[0] == '\0' || line == 0 || line <= r->last_line) {
        abort();
    }
    r->last_line = line;
    r->sum = mix(r->sum, &line, sizeof(line));
    r->sum = mix(r->sum, why, strlen(why));
    r->rejects++;
}

static void run_start(struct run *r, const char *in, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->sum = 14695981039346656037ULL;
    r->in = in;
    r->in_len = n;
    r->bracket = memchr(in, '[', n) != NULL;
}

/* Receives the one sample of a parse of "n:<input>|g". */
static void on_value(void *arg, const struct am_sample *s)
{
    *(double *)arg = s->value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct run whole, lines;
    size_t pos = 0, line = 0;

    /* Whole, then line by line: the same samples and refusals in the same order. */
    run_start(&whole, in, size);
    if (am_statsd_parse(in, size, on_sample, on_reject, &whole) != whole.samples) {
        abort();
    }
    run_start(&lines, in, size);
    while (pos < size) {
        const char *nl = memchr(in + pos, '\n', size - pos);
        size_t n = nl != NULL ? (size_t)(nl - in - pos) : size - pos;

        lines.line_base = line;
        lines.last_line = line;
        am_statsd_parse(in + pos, n, on_sample, on_reject, &lines);
        pos += n + 1;
        line++;
    }
    if (whole.sum != lines.sum || whole.samples != lines.samples ||
        whole.rejects != lines.rejects) {
        abort();
    }
    am_statsd_parse(in, size, on_sample, NULL, &whole);

    /* The input as one gauge value: when taken, it is strtod's, bit for bit (NaN's sign
     * aside), and strtod reads all of it. */
    if (size < 64 && memchr(data, '\0', size) == NULL && memchr(data, '|', size) == NULL &&
        memchr(data, ':', size) == NULL && memchr(data, '\n', size) == NULL) {
        char text[64], buf[72];
        double got, want;

        memcpy(text, data, size);
        text[size] = '\0';
        memcpy(buf, "n:", 2);
        memcpy(buf + 2, data, size);
        memcpy(buf + 2 + size, "|g", 2);
        if (am_statsd_parse(buf, size + 4, on_value, NULL, &got) == 1) {
            char *end;

            want = strtod(text, &end);
            if (*end != '\0' || (memcmp(&got, &want, sizeof(got)) != 0 &&
                                 !(isnan(got) && isnan(want)))) {
                abort();
            }
        }
    }
    return 0;
}
