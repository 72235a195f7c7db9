/* fuzz_am_text.c — libFuzzer target: the key=value, JSON and Redis INFO parsers, with and without
 * strings, checking what every sample and reject must be. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "am_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum which { KV, JSON, INFO };

/* What one run saw. */
struct run {
    const char *in;
    size_t n, lines;
    enum which which;
    bool strings;
    size_t samples, rejects;
    uint64_t sum; /* a fingerprint of everything emitted */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

static bool in_input(const struct run *r, const char *p, size_t len)
{
    return p >= r->in && p <= r->in + r->n && len <= (size_t)(r->in + r->n - p);
}

/* Bytes a sample points at: inside the input, or else a NUL-terminated string of the parser's
 * (its scratch, jansson's strings, its static names), never straddling the input's end. Every
 * byte is read, so ASan sees any that is not there. */
static void check_bytes(struct run *r, const char *p, size_t len, bool must_be_input)
{
    if (p == NULL) {
        abort();
    }
    if (in_input(r, p, len)) {
        r->sum = mix(r->sum, p, len);
        return;
    }
    if (must_be_input || (p >= r->in && p < r->in + r->n) || p[len] != '\0') {
        abort();
    }
    r->sum = mix(r->sum, p, len);
}

static void on_sample(void *arg, const struct am_sample *s)
{
    struct run *r = arg;
    bool kv = r->which == KV;

    if (s->name_len == 0 || s->nlabels > AM_LABELS_MAX || (s->nlabels > 0 && s->labels == NULL) ||
        s->rate != 1 || s->relative || s->help != NULL ||
        s->counter_absolute != (s->kind == AM_KIND_COUNTER) ||
        (s->kind != AM_KIND_UNTYPED && s->kind != AM_KIND_GAUGE && s->kind != AM_KIND_COUNTER) ||
        (!r->strings && s->set_member != NULL) ||
        (s->set_member != NULL && (s->value != 0 || s->kind != AM_KIND_UNTYPED)) ||
        (r->which != INFO && (s->kind != AM_KIND_UNTYPED || s->nlabels != 0))) {
        abort();
    }
    check_bytes(r, s->name, s->name_len, kv);
    for (size_t i = 0; i < s->nlabels; i++) {
        if (s->labels[i].name_len == 0) {
            abort();
        }
        check_bytes(r, s->labels[i].name, s->labels[i].name_len, false);
        /* INFO's label values are always bytes of the input. */
        check_bytes(r, s->labels[i].value, s->labels[i].value_len, true);
    }
    if (s->set_member != NULL) {
        check_bytes(r, s->set_member, s->set_member_len, kv || r->which == INFO);
    }
    r->sum = mix(r->sum, &s->kind, sizeof(s->kind));
    if (s->value == s->value) { /* NaN has many bit patterns */
        r->sum = mix(r->sum, &s->value, sizeof(s->value));
    }
    r->samples++;
}

static void on_reject(void *arg, size_t line, const char *why)
{
    struct run *r = arg;

    /* JSON's line is jansson's, or 0 when the reject is not about one line. */
    if (why == NULL || why[0] == '\0' || line > r->lines || (r->which != JSON && line == 0)) {
        abort();
    }
    r->sum = mix(r->sum, &line, sizeof(line));
    r->sum = mix(r->sum, why, strlen(why));
    r->rejects++;
}

static void run_parser(struct run *r, enum which which, bool strings, const char *in, size_t n,
                       size_t lines)
{
    size_t count;

    memset(r, 0, sizeof(*r));
    r->in = in;
    r->n = n;
    r->lines = lines;
    r->which = which;
    r->strings = strings;
    switch (which) {
    case KV:
        count = am_kv_parse(in, n, strings, on_sample, on_reject, r);
        break;
    case JSON:
        count = am_json_parse(in, n, strings, on_sample, on_reject, r);
        break;
    default:
        count = am_info_parse(in, n, strings, on_sample, on_reject, r);
        break;
    }
    if (count != r->samples) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct run plain, str, again;
    size_t lines = 1;

    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n';
    }
    for (int w = KV; w <= INFO; w++) {
        run_parser(&plain, (enum which)w, false, in, size, lines);
        run_parser(&str, (enum which)w, true, in, size, lines);
        run_parser(&again, (enum which)w, false, in, size, lines);
        /* The same input says the same; strings only turn rejects into samples. */
        if (again.sum != plain.sum || again.samples != plain.samples ||
            again.rejects != plain.rejects || str.samples < plain.samples ||
            str.samples + str.rejects < plain.samples + plain.rejects ||
            (w == KV && str.samples + str.rejects != plain.samples + plain.rejects)) {
            abort();
        }
    }
    return 0;
}
