/* sl_lines.h — one file's bytes to records: lines, partial last line, long lines, multiline
 * groups, and the raw/json/cri parsers. Pure: no I/O, no clock of its own. */
#ifndef SL_LINES_H
#define SL_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

enum sl_parser {
    SL_PARSE_RAW,  /* each line is a record's text as is */
    SL_PARSE_JSON, /* as raw; a line that is one valid JSON object gets SL_REC_JSON */
    SL_PARSE_CRI,  /* "<time> <stdout|stderr> <P|F> <text>": P parts are joined per stream
                    * into one record with the F that ends them; time (the first part's)
                    * and stream kept. A line that is not a CRI record (or whose head,
                    * the text aside, passes 256 bytes) is shipped as raw text, never
                    * joined or grouped, and counted bad */
};

struct sl_lines_conf {
    size_t max_line; /* a record's text is cut at this many bytes; the rest of the
                      * line is dropped and counted (SL_REC_TRUNCATED). >= 1 */
    enum sl_parser parser;
    const pcre2_code *multiline; /* NULL: off. Else a line (after the cri join) matching it
                                  * starts a record, and lines that do not are appended to the
                                  * record before them with '\n' between (stack traces); cri:
                                  * per stream. A line that would take the record past
                                  * max_line starts the next one instead (nothing is dropped
                                  * but what a single line has past max_line) */
    int64_t multiline_flush_ns;  /* a group waits at most this long for its next line */
};

struct sl_lines_stats {
    uint64_t lines;         /* lines seen (cri: records of the file, parts included) */
    uint64_t records;       /* records emitted */
    uint64_t truncated;     /* records cut at max_line */
    uint64_t dropped_bytes; /* bytes of text dropped by the cut */
    uint64_t bad;           /* cri: malformed lines (shipped as raw text); json: records that
                             * are not an object */
};

/* Receives each record, in file order of their first bytes (cri: a record done while a line
 * of the other stream that began before it still waits for its F or its group's end is held
 * back, copied, until that one goes; past 64 KiB + max_line held back, the waiting one goes
 * as it is). text lives only for the call.
 * offset: where the record's first line starts in the file. time_ns: cri's time, else 0.
 * flags: SL_REC_* of sl_block.h. */
typedef void sl_lines_emit_fn(void *arg, const char *text, size_t len, uint64_t offset,
                              int64_t time_ns, uint32_t flags);

struct sl_lines;

/* A new assembler for a file whose next byte is at offset. conf is borrowed (outlives it). */
struct sl_lines *sl_lines_new(const struct sl_lines_conf *conf, uint64_t offset);
void sl_lines_free(struct sl_lines *l);

/* Feeds the next len bytes of the file (contiguous with what came before), read at now_ns.
 * First ends the multiline groups whose time has passed by now_ns (as sl_lines_tick). Emits
 * every record these bytes complete; holds a line without its '\n' yet, a CRI P part and a
 * multiline group. Returns 0, or -1 when memory runs out (nothing was lost: feed the same
 * bytes again later; the records of the lines before the failure were emitted, the offset
 * stays where this call began, and the same bytes fed again skip those lines). */
int sl_lines_feed(struct sl_lines *l, const char *p, size_t len, int64_t now_ns,
                  sl_lines_emit_fn *emit, void *arg);

/* The file has ended for good (rotated away, deleted and read to its end): emits everything
 * held, a last line without '\n' with SL_REC_NO_NEWLINE. */
void sl_lines_finish(struct sl_lines *l, sl_lines_emit_fn *emit, void *arg);

/* Emits a multiline group that has waited multiline_flush_ns since its last line came. A
 * last line without '\n' is never emitted here: it waits for its '\n' or sl_lines_finish.
 * Returns when the next call is due (ns, the clock of now_ns), or 0 when nothing waits. */
int64_t sl_lines_tick(struct sl_lines *l, int64_t now_ns, sl_lines_emit_fn *emit, void *arg);

/* Where to restart reading so that nothing is lost and nothing emitted is read again: the
 * offset of the first byte not yet in an emitted record (a held line, part or group). It
 * never goes back (but for sl_lines_reset) and is at most sl_lines_offset, but after a feed
 * that failed. One case re-reads: P parts of one stream's line that lie after the start of
 * the other stream's line still open are read again from there, and their F alone, seen
 * without its first parts, becomes a record again. */
uint64_t sl_lines_resume_offset(const struct sl_lines *l);

/* The next byte to be fed (offset + everything fed). */
uint64_t sl_lines_offset(const struct sl_lines *l);

/* The file was truncated or replaced in place: drops everything held (counted nowhere: it
 * was never complete) and starts again at offset. */
void sl_lines_reset(struct sl_lines *l, uint64_t offset);

void sl_lines_stats(const struct sl_lines *l, struct sl_lines_stats *st);

#endif
