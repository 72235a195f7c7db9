/* sl_block.c — records and blocks: growable arrays, nothing more. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_block.h"

struct sl_src *sl_src_new(const char *path, uint64_t dev, uint64_t ino, uint64_t fp_hash)
{
    struct sl_src *s = calloc(1, sizeof(*s));

    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return NULL;
    }
    s->refs = 1;
    s->dev = dev;
    s->ino = ino;
    snprintf(s->id, sizeof(s->id), "%" PRIx64 "-%" PRIx64 "-%016" PRIx64, dev, ino, fp_hash);
    return s;
}

struct sl_src *sl_src_ref(struct sl_src *s)
{
    s->refs++;
    return s;
}

void sl_src_unref(struct sl_src *s)
{
    if (s != NULL && --s->refs == 0) {
        free(s->path);
        free(s);
    }
}

struct sl_block *sl_block_new(struct sl_src *src, int64_t read_ns)
{
    struct sl_block *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    b->src = sl_src_ref(src);
    b->read_ns = read_ns;
    return b;
}

/* Grows *p (of *cap elements of size each) to hold at least need; 0 or -1. */
static int grow(void **p, size_t *cap, size_t need, size_t each, size_t first)
{
    size_t n = *cap > 0 ? *cap : first;
    void *q;

    if (need <= *cap) {
        return 0;
    }
    while (n < need) {
        n *= 2;
    }
    if ((q = realloc(*p, n * each)) == NULL) {
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

int sl_block_add(struct sl_block *b, const char *text, size_t len, uint64_t offset, int64_t time_ns,
                 uint32_t flags)
{
    struct sl_rec *r;

    if (len > UINT32_MAX - b->len) {
        return -1;
    }
    if (grow((void **)&b->data, &b->cap, b->len + len, 1, 4096) < 0 ||
        grow((void **)&b->rec, &b->rec_cap, b->nrec + 1, sizeof(*b->rec), 32) < 0) {
        return -1;
    }
    r = &b->rec[b->nrec++];
    r->start = (uint32_t)b->len;
    r->len = (uint32_t)len;
    r->offset = offset;
    r->time_ns = time_ns;
    r->flags = flags;
    if (len > 0) {
        memcpy(b->data + b->len, text, len);
    }
    b->len += len;
    return 0;
}

size_t sl_block_mem(const struct sl_block *b)
{
    return sizeof(*b) + b->cap + b->rec_cap * sizeof(*b->rec);
}

void sl_block_free(struct sl_block *b)
{
    if (b != NULL) {
        sl_src_unref(b->src);
        free(b->rec);
        free(b->data);
        free(b);
    }
}
