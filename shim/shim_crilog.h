/* shim_crilog.h — container logs in the Kubernetes CRI format: written with rotation, read back. */
#ifndef SHIM_CRILOG_H
#define SHIM_CRILOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "pk_cri.h"

/*
 * A CRI log file holds one record per line:
 *
 *     2026-11-21T19:48:30.123456789Z stdout F hello
 *
 * the time (RFC 3339, UTC, always 9 fraction digits when we write it), the stream, the tag
 * (F: the last or only part of a line, P: a part that the next record of the same stream
 * continues), one space and the text, which never holds a '\n'. A line of text longer than
 * SHIM_CRI_PART_MAX bytes becomes P records of exactly that size and a final F record.
 */

/* The streams as pk_cri.h numbers them, so a parsed record's stream indexes the same. */
enum shim_stream {
    SHIM_STDOUT = PK_CRI_STDOUT,
    SHIM_STDERR = PK_CRI_STDERR,
};

#define SHIM_CRI_PART_MAX 16384 /* text bytes in one record, as containerd and kubelet */
#define SHIM_CRI_TS_LEN 30      /* "2026-11-21T19:48:30.123456789Z" */
#define SHIM_CRI_HEAD_LEN 40    /* the timestamp, " stdout F " */
#define SHIM_CRI_RECORD_MAX (SHIM_CRI_HEAD_LEN + SHIM_CRI_PART_MAX + 1)

/* ---- one record: pure formatting (pk_cri_parse_line of pk_cri.h parses it) ---------- */

/* Writes ts as "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ" (UTC, 9 fraction digits, as containerd) and a
 * NUL into out. Times outside years 0000-9999 and nanoseconds outside 0-999999999 are clamped
 * to the nearest valid value, so this never fails. Returns SHIM_CRI_TS_LEN. */
size_t shim_cri_format_time(char out[SHIM_CRI_TS_LEN + 1], const struct timespec *ts);

/* Writes one record ("<time> <stream> <F|P> <text>\n") into out. text must not hold '\n'
 * (the framer below guarantees it). Returns the record's length, SHIM_CRI_HEAD_LEN + len + 1,
 * or 0 when outsz is smaller than that (nothing is written then). No NUL is added. */
size_t shim_cri_format(char *out, size_t outsz, const struct timespec *ts, enum shim_stream s,
                       bool partial, const char *text, size_t len);

/* ---- the framer: stream bytes to records, without files ----------------------------- */

/* Receives each record's text: for the caller to format (shim_cri_format) and store. text
 * lives only for the call. */
typedef void (*shim_cri_emit_fn)(void *arg, enum shim_stream s, bool partial, const char *text,
                                 size_t len);

/* Cuts the bytes of both streams into records; each stream keeps its own pending partial
 * line, so interleaved writes never mix. Plain memory, no allocation: embed it anywhere. */
struct shim_cri_framer {
    size_t part_max; /* text bytes per record, 1..SHIM_CRI_PART_MAX */
    size_t pending_len[2];
    char pending[2][SHIM_CRI_PART_MAX];
};

/* part_max 0 means SHIM_CRI_PART_MAX; larger values are cut to it. */
void shim_cri_framer_init(struct shim_cri_framer *f, size_t part_max);

/* Consumes all len bytes of stream s: emits an F record for each complete line (the '\n'
 * is not part of the text; a '\r' before it is), P records of part_max bytes for a line that
 * is known to be longer, and keeps the rest of an unfinished line pending. Never fails;
 * s must be SHIM_STDOUT or SHIM_STDERR. */
void shim_cri_framer_feed(struct shim_cri_framer *f, enum shim_stream s, const char *buf,
                          size_t len, shim_cri_emit_fn emit, void *arg);

/* Stream s ended: emits its pending partial line, if any, as an F record. */
void shim_cri_framer_eof(struct shim_cri_framer *f, enum shim_stream s, shim_cri_emit_fn emit,
                         void *arg);

/* ---- the writer: one container instance's log file, rotated ------------------------- */

#define SHIM_CRILOG_MAX_BYTES (10 * 1024 * 1024) /* kubelet's containerLogMaxSize */
#define SHIM_CRILOG_MAX_FILES 5                  /* kubelet's containerLogMaxFiles */
#define SHIM_CRILOG_MAX_BACKLOG (1024 * 1024)

struct shim_crilog_config {
    uint64_t max_bytes; /* rotate before a record would make the file larger; 0: default */
    int max_files;      /* current + rotated files kept, >= 2; 0: default */
    size_t max_backlog; /* formatted bytes held while the file refuses them; 0: default;
                         * at least SHIM_CRI_RECORD_MAX */
};

struct shim_crilog_stats {
    uint64_t bytes;         /* bytes written to the files */
    uint64_t records;       /* records written (P and F) */
    uint64_t lines;         /* F records written: lines of text */
    uint64_t dropped;       /* records dropped because the backlog was full */
    uint64_t dropped_bytes; /* their formatted size */
    uint64_t rotations;
    size_t backlog; /* formatted bytes not yet in the file */
};

struct shim_crilog;

/* Opens (creating it and its missing parent directories, 0755) the log file path for
 * appending (0640, O_APPEND|O_CLOEXEC) and remembers path (copied). cfg may be NULL for
 * the defaults. An existing file is continued; if its last line was cut short (a crash), a
 * '\n' closes it so our first record stays readable. Returns NULL with err filled on failure. */
struct shim_crilog *shim_crilog_create(const char *path, const struct shim_crilog_config *cfg,
                                       char *err, size_t errsz);

/* Feeds len bytes read from stream s at time now (NULL: the current time) and writes every
 * record they complete. Never blocks beyond write(2) on a regular file and never keeps
 * more than max_backlog bytes.
 *
 * Returns 0 when everything formatted so far is in the file. Returns -1 with err filled
 * when something failed: a write (ENOSPC, EIO: the records not written stay in the backlog,
 * in order, and the next feed, eof or flush writes them first; a record half written is
 * completed before anything else, and no record is ever split across files), a rotation
 * (logging continues in the current file), or records that found the backlog full (they
 * are dropped whole and counted). The object stays usable after any failure. */
int shim_crilog_feed(struct shim_crilog *l, enum shim_stream s, const char *buf, size_t len,
                     const struct timespec *now, char *err, size_t errsz);

/* Stream s ended (the container exited): writes its pending partial line as an F record.
 * Returns as shim_crilog_feed. */
int shim_crilog_eof(struct shim_crilog *l, enum shim_stream s, const struct timespec *now,
                    char *err, size_t errsz);

/* Retries writing the backlog (after a failure, e.g. from a timer). Returns as feed. */
int shim_crilog_flush(struct shim_crilog *l, const struct timespec *now, char *err, size_t errsz);

void shim_crilog_stats(const struct shim_crilog *l, struct shim_crilog_stats *out);

/* Closes the file and frees l (NULL is fine). Pending partial lines and the backlog are
 * discarded: call shim_crilog_eof for both streams first. */
void shim_crilog_destroy(struct shim_crilog *l);

/* ---- rotated files ------------------------------------------------------------------ */

/* A file of a container instance's log: a rotated one (path.YYYYMMDD-HHMMSS[.N], the time
 * in UTC) or the current one (stamp 0, seq 0). */
struct shim_crilog_file {
    char *name;     /* the full path; owned by the array */
    uint64_t stamp; /* YYYYMMDDHHMMSS as a number */
    unsigned seq;   /* the .N disambiguator, 0 when none */
    dev_t dev;
    ino_t ino;
};

/* Lists the rotated files of path, oldest first, into a new array (*files, *n; free with
 * shim_crilog_files_free), and the current file path last when with_current and it exists.
 * Names that do not match the pattern exactly (e.g. kubelet's .gz) are ignored, and so are
 * files that vanish while listing. Returns 0, or -1 with err filled. */
int shim_crilog_files(const char *path, bool with_current, struct shim_crilog_file **files,
                      size_t *n, char *err, size_t errsz);

void shim_crilog_files_free(struct shim_crilog_file *files, size_t n);

/* ---- the reader: `podshim logs` ----------------------------------------------------- */

#define SHIM_CAT_STDOUT (1u << SHIM_STDOUT)
#define SHIM_CAT_STDERR (1u << SHIM_STDERR)
#define SHIM_CAT_LINE_MAX (8 * 1024 * 1024) /* a longer joined line is printed in pieces */

struct shim_cat_opts {
    bool timestamps;  /* prefix each line with its first part's timestamp, as written, and ' ' */
    unsigned streams; /* SHIM_CAT_STDOUT | SHIM_CAT_STDERR; 0 means both */
    long long tail;   /* only the last tail lines; negative: all (0: none, so set -1) */
    bool follow;      /* keep printing what is appended, across rotations */
    /* Called when following and no new data arrived for ~100 ms: true ends the follow
     * after what is in the files by then has been printed. NULL: follow until EPIPE. */
    bool (*stop)(void *arg);
    void *arg;
};

struct shim_cat_stats {
    uint64_t lines;     /* lines printed */
    uint64_t malformed; /* records skipped: unparsable, or cut short in a finished file */
    uint64_t split;     /* joined lines longer than SHIM_CAT_LINE_MAX, printed in pieces */
    uint64_t files;     /* files opened */
};

/* Prints the log of the container instance whose current file is path to out_fd: its
 * rotated files oldest first, then path. The parts of a line (P records, F) are joined
 * into one output line ending in '\n'; with o->streams only the chosen streams count.
 * o NULL means both streams, all lines, no timestamps, no follow. st (may be NULL) receives
 * counts. Malformed records are skipped. Writes handle short writes and EINTR; a reader
 * that went away (EPIPE) ends the call quietly with 0: the caller must ignore SIGPIPE.
 * A line not yet finished (P records without their F) is printed at the end, unless
 * following, where it waits for its F. Returns 0, or -1 with err filled when no file exists
 * or reading or writing fails. */
int shim_crilog_cat(const char *path, int out_fd, const struct shim_cat_opts *o,
                    struct shim_cat_stats *st, char *err, size_t errsz);

#endif
