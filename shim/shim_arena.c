/* shim_arena.c — the manifest's bump allocator: chunks from malloc, all freed at once. */
#include "shim_arena.h"

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHUNK (64u * 1024)
#define ALIGN alignof(max_align_t)

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes in data */
    size_t used;
    max_align_t data[]; /* the allocations, each aligned like data */
};

struct shim_arena {
    struct chunk *head; /* small allocations are cut from this one */
    size_t chunk_size;
    size_t cap;   /* 0: none */
    size_t total; /* bytes taken from malloc */
};

struct shim_arena *shim_arena_create(size_t chunk_size, size_t cap)
{
    struct shim_arena *a = malloc(sizeof(*a));

    if (a == NULL) {
        return NULL;
    }
    if (chunk_size == 0) {
        chunk_size = DEFAULT_CHUNK;
    }
    if (chunk_size > SIZE_MAX / 2) {
        chunk_size = SIZE_MAX / 2;
    }
    a->head = NULL;
    a->chunk_size = (chunk_size + ALIGN - 1) & ~(ALIGN - 1);
    a->cap = cap;
    a->total = sizeof(*a);
    return a;
}

/* A chunk with size usable bytes, counted against the cap. */
static struct chunk *new_chunk(struct shim_arena *a, size_t size)
{
    struct chunk *ch;
    size_t bytes;

    if (__builtin_add_overflow(size, sizeof(*ch), &bytes) ||
        (a->cap != 0 && (bytes > a->cap || a->total > a->cap - bytes))) {
        errno = E2BIG;
        return NULL;
    }
    ch = malloc(bytes);
    if (ch == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    ch->next = NULL;
    ch->size = size;
    ch->used = 0;
    a->total += bytes;
    return ch;
}

void *shim_arena_alloc(struct shim_arena *a, size_t size)
{
    struct chunk *ch = a->head;
    void *p;

    if (size == 0) {
        size = 1;
    }
    if (size > SIZE_MAX - ALIGN) {
        errno = E2BIG;
        return NULL;
    }
    size = (size + ALIGN - 1) & ~(ALIGN - 1);
    if (ch == NULL || ch->size - ch->used < size) {
        /* A large request gets a chunk of its own, linked behind the current one, so
         * that the room left in the current chunk is not thrown away. */
        bool own = size > a->chunk_size / 4;

        ch = new_chunk(a, own ? size : a->chunk_size);
        if (ch == NULL) {
            return NULL;
        }
        if (own && a->head != NULL) {
            ch->next = a->head->next;
            a->head->next = ch;
        } else {
            ch->next = a->head;
            a->head = ch;
        }
    }
    p = (unsigned char *)ch->data + ch->used;
    ch->used += size;
    memset(p, 0, size);
    return p;
}

void *shim_arena_array(struct shim_arena *a, size_t n, size_t size)
{
    size_t bytes;

    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = E2BIG;
        return NULL;
    }
    return shim_arena_alloc(a, bytes);
}

char *shim_arena_memdup(struct shim_arena *a, const void *p, size_t n)
{
    char *s;

    if (n == SIZE_MAX) {
        errno = E2BIG;
        return NULL;
    }
    s = shim_arena_alloc(a, n + 1);
    if (s != NULL && n > 0) {
        memcpy(s, p, n); /* the byte after is zero already */
    }
    return s;
}

char *shim_arena_strndup(struct shim_arena *a, const char *s, size_t n)
{
    return shim_arena_memdup(a, s, strnlen(s, n));
}

char *shim_arena_strdup(struct shim_arena *a, const char *s)
{
    return shim_arena_memdup(a, s, strlen(s));
}

size_t shim_arena_size(const struct shim_arena *a)
{
    return a->total;
}

void shim_arena_destroy(struct shim_arena *a)
{
    if (a == NULL) {
        return;
    }
    for (struct chunk *ch = a->head, *next; ch != NULL; ch = next) {
        next = ch->next;
        free(ch);
    }
    free(a);
}
