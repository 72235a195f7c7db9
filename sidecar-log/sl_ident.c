/* sl_ident.c — a file's identity: device, inode and an FNV-1a hash of its first bytes. */
#include "sl_ident.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define FNV_PRIME 0x100000001b3ull

uint64_t sl_fnv1a(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ s[i]) * FNV_PRIME;
    }
    return h;
}

/* Reads up to want bytes from offset 0, finishing short reads; a file shorter than want
 * (it shrank since the fstat) gives fewer. Returns the count, or -1 with errno. */
static ssize_t read_head(int fd, unsigned char *buf, size_t want)
{
    size_t got = 0;

    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int sl_ident_of_fd(int fd, struct sl_ident *id)
{
    unsigned char head[SL_FP_MAX];
    struct stat st;
    size_t want;
    ssize_t n;

    if (fstat(fd, &st) < 0) {
        return -1;
    }
    want = SL_FP_MAX;
    if (st.st_size < SL_FP_MAX) {
        want = st.st_size > 0 ? (size_t)st.st_size : 0;
    }
    if ((n = read_head(fd, head, want)) < 0) {
        return -1;
    }
    id->dev = (uint64_t)st.st_dev;
    id->ino = (uint64_t)st.st_ino;
    id->fp_len = (uint32_t)n;
    id->fp_hash = sl_fnv1a(SL_FNV_BASIS, head, (size_t)n);
    return 0;
}

int sl_ident_same(int fd, const struct sl_ident *id)
{
    unsigned char head[SL_FP_MAX];
    struct stat st;
    ssize_t n;

    if (id->fp_len > SL_FP_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        return -1;
    }
    if ((uint64_t)st.st_dev != id->dev || (uint64_t)st.st_ino != id->ino ||
        st.st_size < (off_t)id->fp_len) {
        return 0;
    }
    if ((n = read_head(fd, head, id->fp_len)) < 0) {
        return -1;
    }
    return (size_t)n == id->fp_len && sl_fnv1a(SL_FNV_BASIS, head, (size_t)n) == id->fp_hash;
}
