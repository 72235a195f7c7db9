/* pk_fs.h — small filesystem helpers the daemons share. */
#ifndef PK_FS_H
#define PK_FS_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: makes path and its missing parents with mode; existing directories are fine.
 * Returns 0, or -1 with errno (ENAMETOOLONG past 4095 bytes). */
int pk_mkdir_p(const char *path, mode_t mode);

/* Writes all len bytes to fd, finishing short writes and retrying EINTR. Returns 0, or
 * -1 with errno. */
int pk_write_all(int fd, const void *buf, size_t len);

/* Creates or truncates path (never through a symlink), writes data and sets mode exactly
 * (whatever the umask). Returns 0, or -1 with errno; a failed write may leave the file
 * partly written. */
int pk_write_file(const char *path, const void *data, size_t len, mode_t mode);

#endif
