/* fuzz_crilog.c — libFuzzer target: the CRI line parser (pk_cri), and framing round trips
 * through it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim_crilog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEC_MIN (-62167219200LL)
#define SEC_MAX 253402300799LL

struct buf {
    char *p;
    size_t len, cap;
};

static void add(struct buf *b, const char *p, size_t n)
{
    if (b->cap - b->len < n) {
        b->cap = (b->len + n) * 2 + 64;
        if ((b->p = realloc(b->p, b->cap)) == NULL) {
            abort();
        }
    }
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
}

/* Parses exactly len bytes (in an exact-size copy, so ASan sees any read past len) and
 * checks that what comes back points inside them and is consistent. */
static int parse_checked(const char *line, size_t len, struct pk_cri_line *r)
{
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    if (copy == NULL) {
        abort();
    }
    memcpy(copy, line, len);
    rc = pk_cri_parse_line(copy, len, r);
    if (rc < 0) {
        if (rc != -1 || r->error == NULL) {
            abort();
        }
    } else if (r->error != NULL || r->ts != copy || r->ts_len < 20 || r->ts_len > PK_CRI_TS_MAX ||
               r->text < copy + r->ts_len || r->text + r->text_len != copy + len || r->nsec < 0 ||
               r->nsec > 999999999 || (r->stream != PK_CRI_STDOUT && r->stream != PK_CRI_STDERR)) {
        abort();
    } else if (r->sec >= SEC_MIN && r->sec <= SEC_MAX) {
        /* What parses formats back to a record that parses to the same thing. */
        struct timespec ts = {(time_t)r->sec, r->nsec};
        struct pk_cri_line again;
        size_t need = SHIM_CRI_HEAD_LEN + r->text_len + 1;
        char *rec = malloc(need);

        if (rec == NULL ||
            shim_cri_format(rec, need, &ts, (enum shim_stream)r->stream, r->partial, r->text,
                            r->text_len) != need ||
            pk_cri_parse_line(rec, need - 1, &again) != 0 || again.sec != r->sec ||
            again.nsec != r->nsec || again.stream != r->stream || again.partial != r->partial ||
            again.text_len != r->text_len || memcmp(again.text, r->text, r->text_len) != 0) {
            abort();
        }
        free(rec);
    }
    /* Pointers are kept only while the copy lives: compare offsets, then free it. */
    if (rc == 0) {
        r->text = line + (r->text - copy);
        r->ts = line;
    }
    free(copy);
    return rc;
}

struct sink {
    struct buf records;
    struct timespec now;
    size_t part_max;
};

static void emit(void *arg, enum shim_stream s, bool partial, const char *text, size_t len)
{
    struct sink *k = arg;
    char rec[SHIM_CRI_RECORD_MAX];
    size_t n;

    if (len > k->part_max || (partial && len != k->part_max) || memchr(text, '\n', len) != NULL) {
        abort();
    }
    n = shim_cri_format(rec, sizeof(rec), &k->now, s, partial, text, len);
    if (n != SHIM_CRI_HEAD_LEN + len + 1) {
        abort();
    }
    add(&k->records, rec, n);
}

static struct shim_cri_framer framer;

/* The input as commands: a header byte (bit 0: the stream; bits 1-2 both set: end of that
 * stream; bits 3-7: how many bytes follow to feed). The first byte sets the part size. Every
 * record made must parse, and joining them must give back each stream's bytes exactly. */
static void round_trip(const uint8_t *data, size_t size)
{
    struct sink k = {.now = {1795290510, 0}};
    struct buf want[2] = {{0}}, got[2] = {{0}};
    bool line_open[2] = {false, false};
    size_t i = 1;

    if (size < 1) {
        return;
    }
    k.part_max = data[0] == 0xff ? SHIM_CRI_PART_MAX : 1 + data[0] % 32;
    shim_cri_framer_init(&framer, k.part_max);
    while (i < size) {
        uint8_t h = data[i++];
        enum shim_stream s = (enum shim_stream)(h & 1);
        size_t n = h >> 3;

        k.now.tv_nsec = (k.now.tv_nsec + 7919 * h) % 1000000000;
        k.now.tv_sec += h & 1;
        if ((h & 6) == 6) {
            shim_cri_framer_eof(&framer, s, emit, &k);
            if (line_open[s]) {
                add(&want[s], "\n", 1);
                line_open[s] = false;
            }
            continue;
        }
        n = n < size - i ? n : size - i;
        shim_cri_framer_feed(&framer, s, (const char *)data + i, n, emit, &k);
        add(&want[s], (const char *)data + i, n);
        if (n > 0) {
            line_open[s] = data[i + n - 1] != '\n';
        }
        i += n;
    }
    for (int s = 0; s < 2; s++) {
        shim_cri_framer_eof(&framer, (enum shim_stream)s, emit, &k);
        if (line_open[s]) {
            add(&want[s], "\n", 1);
        }
    }

    /* Parse every record back: P parts joined up to their F, per stream. */
    for (size_t pos = 0; pos < k.records.len;) {
        const char *line = k.records.p + pos;
        const char *nl = memchr(line, '\n', k.records.len - pos);
        struct pk_cri_line r;

        if (nl == NULL || parse_checked(line, (size_t)(nl - line), &r) != 0) {
            abort();
        }
        add(&got[r.stream], r.text, r.text_len);
        if (!r.partial) {
            add(&got[r.stream], "\n", 1);
        }
        pos = (size_t)(nl - k.records.p) + 1;
    }
    for (int s = 0; s < 2; s++) {
        if (got[s].len != want[s].len ||
            (want[s].len > 0 && memcmp(got[s].p, want[s].p, want[s].len) != 0)) {
            abort();
        }
        free(got[s].p);
        free(want[s].p);
    }
    free(k.records.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pk_cri_line r;
    const char *text = (const char *)data;

    /* The input as one line, then as lines. */
    parse_checked(text, size, &r);
    for (size_t pos = 0; pos < size;) {
        const char *nl = memchr(text + pos, '\n', size - pos);
        size_t len = nl != NULL ? (size_t)(nl - (text + pos)) : size - pos;

        parse_checked(text + pos, len, &r);
        pos += len + 1;
    }
    round_trip(data, size);
    return 0;
}
