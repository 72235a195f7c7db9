/* sl_tail.h — following files: open, read into blocks, rotation, truncation, positions. */
#ifndef SL_TAIL_H
#define SL_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "sl_block.h"
#include "sl_conf.h"
#include "sl_db.h"
#include "sl_queue.h"
#include "sl_watch.h"

/*
 * Every followed file is known by its identity (sl_ident), not its path:
 *  - a path that now names another file (rename + create) leaves the old file open; it is
 *    read to its end and closed once it has not grown for --rotate-wait. The new file is
 *    read from its head.
 *  - a file renamed to another path the globs match is the same file: it goes on.
 *  - a file whose size drops below what was read (copytruncate, truncate in place), or
 *    whose first bytes changed, is read again from offset 0.
 *  - a deleted file still open is read to its end.
 * Reading stops while the queue has no room and goes on as blocks are acknowledged. A
 * file's position (sl_db) advances only by acknowledged blocks (sl_tail_released).
 */
struct sl_tail;

/* conf, q, db and w are borrowed and must outlive the tailer. w may be NULL (tests). */
struct sl_tail *sl_tail_new(struct event_base *base, const struct sl_conf *conf, struct sl_queue *q,
                            struct sl_db *db, struct sl_watch *w);

/* From now on the tailer tells w which files it follows (sl_watch_follow: symlinks'
 * targets); NULL: nobody. */
void sl_tail_watch(struct sl_tail *t, struct sl_watch *w);

/* Closes every file; blocks still queued keep their sources alive. */
void sl_tail_free(struct sl_tail *t);

/* The watcher's callback: path may have changed (appeared, grown, been replaced or
 * removed). */
void sl_tail_path(void *tail, const char *path);

/* The watcher's moved callback: a matched file was renamed to path. If it is not followed
 * yet (it was created and renamed before it was looked at), it is opened now and read to
 * its end as a rotated file. */
void sl_tail_moved(void *tail, const char *path);

/* The first full scan is over: from now on files found are new, read from the head. */
void sl_tail_started(struct sl_tail *t);

/* The queue's callback: b was acknowledged by every output. */
void sl_tail_released(void *tail, const struct sl_block *b);

/* Marks the positions of every file followed (sl_db_entry.seen), before sl_db_prune. */
void sl_tail_mark_seen(struct sl_tail *t);

/* SIGTERM: no more reading; whole records held are not pushed (their bytes stay unread in
 * the positions, so a restart reads them again). */
void sl_tail_stop(struct sl_tail *t);

/* Per file, for /metrics: called for each open (or draining) file. */
struct sl_tail_file_stats {
    const char *path;
    uint64_t lines, bytes;                  /* read */
    uint64_t truncated, dropped_bytes, bad; /* sl_lines_stats */
    uint64_t size, acked; /* its size at the last look, and the position acknowledged */
    bool rotated;
};
typedef void sl_tail_each_fn(void *arg, const struct sl_tail_file_stats *st);
void sl_tail_each(const struct sl_tail *t, sl_tail_each_fn *fn, void *arg);

struct sl_tail_stats {
    uint64_t files_open, rotations, truncations, reopened;
    uint64_t read_errors;
    bool waiting_room; /* reading paused: the queue is full */
};
void sl_tail_stats(const struct sl_tail *t, struct sl_tail_stats *st);

#endif
