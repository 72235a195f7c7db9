/* shim_arena.h — a bump allocator: many small allocations, freed all at once, with a cap. */
#ifndef SHIM_ARENA_H
#define SHIM_ARENA_H

#include <stddef.h>

/* An arena hands out memory from chunks it mallocs and frees every chunk in
 * shim_arena_destroy: nothing it returns is freed on its own. Not thread-safe. */
struct shim_arena;

/* A new, empty arena that takes memory in chunks of chunk_size bytes (0: 64 KiB) and never
 * more than cap bytes in all, its own bookkeeping included (0: no cap). NULL when out of
 * memory. Free with shim_arena_destroy. */
struct shim_arena *shim_arena_create(size_t chunk_size, size_t cap);

/* size bytes (0 is taken as 1), zeroed, aligned for any type (max_align_t), valid until
 * the arena is destroyed. Returns NULL with errno ENOMEM when malloc fails, or E2BIG when
 * the arena would pass its cap; the arena stays usable for smaller requests. */
void *shim_arena_alloc(struct shim_arena *a, size_t size);

/* n elements of size bytes each, zeroed; NULL (errno E2BIG) also when n * size overflows. */
void *shim_arena_array(struct shim_arena *a, size_t n, size_t size);

/* A copy of the string s. NULL as shim_arena_alloc. */
char *shim_arena_strdup(struct shim_arena *a, const char *s);

/* A copy of at most n bytes of s, stopping at a NUL, always NUL-terminated (as strndup). */
char *shim_arena_strndup(struct shim_arena *a, const char *s, size_t n);

/* A copy of exactly n bytes of p (which may hold NULs), with a NUL added after them. */
char *shim_arena_memdup(struct shim_arena *a, const void *p, size_t n);

/* Bytes the arena has taken from malloc so far, bookkeeping included. */
size_t shim_arena_size(const struct shim_arena *a);

/* Frees every allocation of the arena and the arena. NULL is fine. */
void shim_arena_destroy(struct shim_arena *a);

#endif
