/* sl_db.h — the positions file: each file's identity and how far it was acknowledged. */
#ifndef SL_DB_H
#define SL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_ident.h"

/*
 * A text file, one entry per line, written whole each time (temporary file in the same
 * directory, fsync, rename, fsync of the directory) so a crash leaves the old or the new
 * file, never a mix:
 *     # sidecar-log positions v1
 *     <dev> <ino> <fp_len> <fp_hash hex> <offset> <path, \-escaped>
 * Loading refuses a malformed line with "FILE:LINE: why"; nothing half-read is used.
 * Exactly six fields separated by single spaces; every line ends with '\n' (a last line
 * without one is a truncated file). Numbers are decimal (no sign, at most UINT64_MAX),
 * fp_len at most SL_FP_MAX, fp_hash 1 to 16 hex digits (written as 16) and the FNV basis
 * when fp_len is 0. In the path, '\' is written "\\" and every byte <= 0x20 or 0x7f
 * "\xHH"; no other escape exists, a raw control byte is an error, an empty path is an
 * empty last field. Duplicate (dev, ino) pairs and an empty file are errors.
 */
struct sl_db_entry {
    struct sl_ident id;
    uint64_t offset; /* every byte before it was acknowledged by every output */
    char *path;      /* where it was last seen (informational: matching is by id) */
    bool seen;       /* set by the caller's scan; sl_db_prune drops entries without it
                      * (sl_db_set sets it, loading clears it) */
};

/* v is sorted by (dev, ino); a pointer into it is valid until the next call that changes
 * db (sl_db_lookup, sl_db_set, sl_db_forget, sl_db_parse). */
struct sl_db {
    char *file;
    struct sl_db_entry *v;
    size_t n, cap;
    bool dirty; /* changed since the last save */
};

/* Opens file (NULL: a database that is never saved) and loads it; a missing file is an
 * empty database. Returns 0, or -1 with one line in err ("FILE:LINE: why" or "FILE: why").
 * Temporary files a crash left beside file ("FILE.tmp-XXXXXX") are removed. After a failure
 * db is empty and sl_db_close is harmless. */
int sl_db_open(struct sl_db *db, const char *file, char *err, size_t errsz);
/* Frees what db holds and leaves it zeroed: a zeroed db, or one closed already, is fine. */
void sl_db_close(struct sl_db *db);

/* The entry with dev and ino whose fingerprint the open file fd still matches
 * (sl_ident_same), or NULL. An entry with the same dev and ino that does not match is the
 * inode reused or the file rewritten: it is removed, and NULL returned. */
struct sl_db_entry *sl_db_lookup(struct sl_db *db, int fd);

/* Sets (adds or updates) the entry for id. The id replaces the stored one (a fingerprint
 * taken longer). path NULL keeps the stored path ("" for a new entry). The entry is marked
 * seen; db becomes dirty only if something changed. Returns the entry, or NULL when memory
 * runs out (db unchanged). */
struct sl_db_entry *sl_db_set(struct sl_db *db, const struct sl_ident *id, const char *path,
                              uint64_t offset);

/* The entry for dev and ino, fingerprint unchecked, or NULL. */
struct sl_db_entry *sl_db_find(struct sl_db *db, uint64_t dev, uint64_t ino);

/* Drops every entry whose seen flag is not set and clears the flag on the others: the
 * caller sets it (sl_db_find) on the entries of files it still follows or can still find,
 * so entries of rotated files long gone do not pile up. */
void sl_db_prune(struct sl_db *db);

/* Removes the entry for dev and ino, if any. */
void sl_db_forget(struct sl_db *db, uint64_t dev, uint64_t ino);

/* Writes the file if dirty (atomically, as above; the file is made 0600). Returns 0, or -1
 * with one line in err; the database stays dirty then, for the next try, and no temporary
 * file is left. A database without a file only stops being dirty. */
int sl_db_save(struct sl_db *db, char *err, size_t errsz);

/* Parses the text of a positions file into db (for the loader and the fuzz target).
 * name is used in errors. Returns 0, or -1 with "NAME:LINE: why" in err. On success the
 * entries replace those db held (db is clean); on failure db is unchanged. db must have
 * been opened (sl_db_open with NULL will do) or zeroed. */
int sl_db_parse(struct sl_db *db, const char *name, const char *text, size_t len, char *err,
                size_t errsz);

#endif
