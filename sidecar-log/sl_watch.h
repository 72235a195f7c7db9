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
 * in a row are normal. The path lives only for the call. */
typedef void sl_watch_fn(void *arg, const char *path);

struct sl_watch;

/*
 * Globs are fnmatch(3) patterns with FNM_PATHNAME over absolute or relative paths; a glob's
 * directory part may hold wildcards too ("/var/log/pods/ * / * / *.log" without spaces),
 * matched by walking the directories. Symlinks are followed (Kubernetes'
 * /var/log/containers). Directories that appear later (a pod started after us) are found
 * by inotify on their parent or by the next rescan. interval_ms: the rescan (inotify mode)
 * or poll interval.
 * Returns NULL with one line in err (a bad glob, inotify unavailable in inotify mode: the
 * error says to use --watch poll).
 */
struct sl_watch *sl_watch_new(struct event_base *base, const struct pk_strv *paths,
                              const struct pk_strv *excludes, enum sl_watch_mode mode,
                              int64_t interval_ms, sl_watch_fn *fn, void *arg, char *err,
                              size_t errsz);
void sl_watch_free(struct sl_watch *w);

/* Calls fn for every path that matches now (a full scan), at once. */
void sl_watch_scan(struct sl_watch *w);

/* Tells the watcher that path (one it reported) is open and being followed, or no longer:
 * in inotify mode an open file gets IN_MODIFY events of its own (a watch on its directory
 * gives them too; this is for files whose directory cannot be watched). May be a no-op. */
void sl_watch_follow(struct sl_watch *w, const char *path, bool on);

bool sl_watch_matches(const struct sl_watch *w, const char *path);

#endif
