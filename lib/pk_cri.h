/* pk_cri.h — one line of a Kubernetes CRI container log, parsed: podshim reads its own logs
 * back with it, sidecar-log ships other runtimes' logs with it. */
#ifndef PK_CRI_H
#define PK_CRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A CRI log file holds one record per line:
 *
 *     2026-11-21T19:48:30.123456789Z stdout F hello
 *
 * the time (RFC 3339), the stream, the tag (F: the last or only part of a line, P: a part
 * that the next record of the same stream continues), one space and the text, which never
 * holds a '\n'.
 */

enum pk_cri_stream {
    PK_CRI_STDOUT = 0,
    PK_CRI_STDERR = 1,
};

#define PK_CRI_TS_MAX 35 /* the longest timestamp the parser accepts (an offset, no 'Z') */

/* One parsed record. Every pointer points into the parsed input and lives as long as it. */
struct pk_cri_line {
    const char *ts; /* the timestamp as written, not NUL-terminated */
    size_t ts_len;
    int64_t sec; /* the time in UTC: seconds since the epoch and nanoseconds */
    long nsec;
    enum pk_cri_stream stream;
    bool partial; /* tag P */
    const char *text;
    size_t text_len;
    const char *error; /* on -1: why the line was refused (a static string) */
};

/* Parses one record: the line without its '\n', exactly len bytes (line need not be
 * NUL-terminated and is never read past len). Accepts what kubelet accepts: any RFC 3339
 * time with 0 to 9 fraction digits and 'Z' or a +HH:MM/-HH:MM offset (converted to UTC),
 * years 0000 to 9999, "stdout" or "stderr", the tag F or P optionally followed by
 * ":more-tags" (the CRI's way of adding tags later), a space, then the text (may be empty,
 * is taken as is: a '\r' at its end stays). Returns 0 and fills *out, or -1 with only
 * out->error set for a malformed line. */
int pk_cri_parse_line(const char *line, size_t len, struct pk_cri_line *out);

#endif
