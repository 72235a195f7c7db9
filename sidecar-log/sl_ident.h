/* sl_ident.h — which file is this: device, inode and a fingerprint of its first bytes. */
#ifndef SL_IDENT_H
#define SL_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_FP_MAX 256 /* bytes of a file's head the fingerprint covers, at most */

/*
 * Device and inode alone are not enough: a deleted file's inode is reused by the next file
 * created, and a copytruncate done while we were down leaves the inode with new content.
 * The fingerprint is a 64-bit hash (FNV-1a) of the first fp_len bytes, fp_len =
 * min(size, SL_FP_MAX) when taken; a file shorter than SL_FP_MAX still has one, and it is
 * taken again (longer) as the file grows.
 */
struct sl_ident {
    uint64_t dev;
    uint64_t ino;
    uint32_t fp_len;  /* 0: the file was empty */
    uint64_t fp_hash; /* of the first fp_len bytes; FNV-1a offset basis when fp_len is 0 */
};

/* Fills id from the open file fd (fstat, pread of the head). fp_len is what was read: less
 * than min(size, SL_FP_MAX) if the file shrank meanwhile, 0 for what fstat gives no size
 * (a pipe). Returns 0, or -1 with errno. */
int sl_ident_of_fd(int fd, struct sl_ident *id);

/* Is fd still the file id names? Same dev and ino, at least id->fp_len bytes long, and its
 * first id->fp_len bytes hash to id->fp_hash. Returns 1 yes, 0 no, -1 error (errno;
 * EINVAL when id->fp_len > SL_FP_MAX). */
int sl_ident_same(int fd, const struct sl_ident *id);

/* The 64-bit FNV-1a of len bytes, continuing from h (start with SL_FNV_BASIS). */
#define SL_FNV_BASIS 0xcbf29ce484222325ull
uint64_t sl_fnv1a(uint64_t h, const void *p, size_t len);

#endif
