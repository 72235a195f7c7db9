/* sl_watch.h — which files match the globs, found by inotify and a periodic rescan, or by
 * polling. It says "look at this path"; what changed there is the tailer's business. */
#ifndef SL_WATCH_H
#define SL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "pk_conf.h"

enum sl_watch_mode {
    SL_WATCH_INOTIFY, /* inotify on each directory the globs can match in, plus the rescan */
    SL_WATCH_POLL,    /* no inotify (network filesystems): every poll interval, every file */
};

/* Called with a path that matches a --path glob and no --exclude glob, whenever it may have
 * appeared, grown, been truncated, replaced, renamed away or deleted; and with every such
 * path on each rescan/poll tick (so a missed event only delays). Several calls for one path
 * in a row are normal; the events of one read of the inotify queue make at most one call
 * per path, in strcmp order. The path lives only for the call. fn may call any sl_watch_*
 * function, sl_watch_free included (no call follows it then). */
typedef void sl_watch_fn(void *arg, const char *path);

struct sl_watch;

/*
 * Globs are fnmatch(3) patterns with FNM_PATHNAME over absolute or relative paths; a glob's
 * directory part may hold wildcards too ("/var/log/pods/ * / * / *.log" without spaces),
 * matched by walking the directories. Symlinks are followed (Kubernetes'
 * /var/log/containers). Directories that appear later (a pod started after us) are found
 * by inotify on their parent or by the next rescan. interval_ms: the rescan (inotify mode)
 * or poll interval, > 0.
 * Paths are reported as the glob spells them ("//" read as "/"; a relative glob gives
 * relative paths); directories are never reported; wildcards match names starting with '.'
 * (no FNM_PERIOD) but never "." or "..". An --exclude glob with a '/' is matched against
 * the whole path (FNM_PATHNAME), one without against the file's name ("*.gz").
 * Returns NULL with one line in err (a bad glob, inotify unavailable in inotify mode: the
 * error says to use --watch poll). fn is not called before sl_watch_scan or the loop runs.
 */
struct sl_watch *sl_watch_new(struct event_base *base, const struct pk_strv *paths,
                              const struct pk_strv *excludes, enum sl_watch_mode mode,
                              int64_t interval_ms, sl_watch_fn *fn, void *arg, char *err,
                              size_t errsz);
void sl_watch_free(struct sl_watch *w); /* NULL is fine */

/* Also calls fn (with the arg of sl_watch_new) with the new name of a matched file that was
 * renamed, whatever that name is (app.log -> app.log.1), and of such a file renamed again
 * within the same read of events; before the matched paths of that read. NULL: not. Only
 * in inotify mode. */
void sl_watch_on_moved(struct sl_watch *w, sl_watch_fn *fn);

/* Calls fn for every path that matches now (a full scan), at once; and for every followed
 * path, found or not. */
void sl_watch_scan(struct sl_watch *w);

/* Tells the watcher that path (one it reported) is open and being followed, or no longer:
 * in inotify mode an open file gets IN_MODIFY events of its own (a watch on its directory
 * gives them too; this is for files whose directory cannot be watched). May be a no-op.
 * Here: a followed symlink's target directory is watched too (resolved again when the link
 * changes and on each rescan), so appends to the target report path; and every followed
 * path is reported on each rescan/poll tick and after an inotify queue overflow, so that
 * its deletion or rename is learnt even when its event was lost (poll mode has none).
 * Following a path twice is following it once. */
void sl_watch_follow(struct sl_watch *w, const char *path, bool on);

bool sl_watch_matches(const struct sl_watch *w, const char *path);

#endif
