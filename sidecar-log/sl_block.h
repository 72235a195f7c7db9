/* sl_block.h — records, and the blocks that carry them from one file to every output. */
#ifndef SL_BLOCK_H
#define SL_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A file being shipped, shared by every block read from it (reference counted).
 * Identity: device + inode + a fingerprint of the file's first bytes (sl_ident.h). id is
 * stable across restarts, rotations and hosts' reboots of the same file: Elasticsearch
 * _ids are made of it and a record's offset, so a record sent twice is indexed once.
 */
struct sl_src {
    unsigned refs;
    char *path;   /* the path it was found by (a symlink's own path, if it was one) */
    uint64_t dev; /* st_dev, st_ino of the file itself (a symlink followed) */
    uint64_t ino;
    char id[56]; /* "<dev hex>-<ino hex>-<fingerprint hash hex>", NUL-terminated */
    void *owner; /* the reader's, for its acknowledgements; NULL from sl_src_new */
};

/* Makes a source with one reference. Returns NULL when memory runs out. */
struct sl_src *sl_src_new(const char *path, uint64_t dev, uint64_t ino, uint64_t fp_hash);
struct sl_src *sl_src_ref(struct sl_src *s);
void sl_src_unref(struct sl_src *s); /* NULL is fine */

/* sl_rec.flags */
#define SL_REC_TRUNCATED 0x1u  /* longer than --max-line-bytes: the rest was dropped */
#define SL_REC_NO_NEWLINE 0x2u /* the file's last line, shipped without its '\n' (rotated away) */
#define SL_REC_JSON 0x4u       /* --parser json: text is one valid JSON object */
#define SL_REC_STDERR 0x8u     /* --parser cri: from stderr (else stdout) */
#define SL_REC_CRI 0x10u       /* --parser cri: time_ns is the line's own time, stream set */

/* One record: a line (or a multiline group, or a CRI line joined from its parts). */
struct sl_rec {
    uint32_t start; /* its text is blk->data[start .. start+len), no '\n' at the end */
    uint32_t len;
    uint64_t offset; /* where its first byte (its first CRI part's line) is in the file */
    int64_t time_ns; /* SL_REC_CRI: the time the line carries (ns since the epoch); else 0 */
    uint32_t flags;
};

/*
 * Records read from one file, in file order: what the queue holds, outputs send and
 * acknowledge, and positions advance by. Once every output acknowledged a block (and every
 * block before it), the file's position may be saved as blk->end.
 */
struct sl_block {
    struct sl_block *next; /* the queue's order */
    uint64_t seq;          /* the queue's number for it: 1, 2, 3... */
    struct sl_src *src;    /* holds one reference */
    uint64_t end;          /* every byte of the file before this offset is in this block's
                            * records or an earlier block's (or was dropped): the restart point */
    int64_t read_ns;       /* when it was read (CLOCK_REALTIME, ns) */
    unsigned pending;      /* outputs that have not acknowledged it yet (the queue's) */
    size_t nrec, rec_cap;
    struct sl_rec *rec;
    size_t len, cap;
    char *data;
};

/* A new empty block of src (takes a reference of its own) read at read_ns. NULL: no memory. */
struct sl_block *sl_block_new(struct sl_src *src, int64_t read_ns);

/* Appends a record: copies len bytes of text. Returns 0, or -1 when memory runs out or the
 * block would pass 4 GiB (the caller starts a new block). */
int sl_block_add(struct sl_block *b, const char *text, size_t len, uint64_t offset, int64_t time_ns,
                 uint32_t flags);

/* The memory the block holds (data, records, the struct): what --buffer-bytes counts. */
size_t sl_block_mem(const struct sl_block *b);

void sl_block_free(struct sl_block *b); /* NULL is fine; drops its src reference */

#endif
