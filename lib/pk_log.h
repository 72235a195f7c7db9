/* pk_log.h — the process logger: one line per event on stderr, as text or JSON lines. */
#ifndef PK_LOG_H
#define PK_LOG_H

#include <stdbool.h>

enum pk_log_level {
    PK_LOG_ERROR = 0,
    PK_LOG_WARN,
    PK_LOG_INFO,
    PK_LOG_DEBUG,
};

enum pk_log_format {
    PK_LOG_TEXT = 0, /* prog[pid] LEVEL message */
    PK_LOG_JSON,     /* {"time":...,"level":...,"prog":...,"pid":...,"msg":...} */
};

/* The most verbose level that is written. Process-wide (with the rest of the logger's
 * settings, the only global state podkit keeps besides the loaded config); read by the
 * pk_log() macro so that a skipped event costs one comparison and no formatting. */
extern enum pk_log_level pk_log_max_level;

/* Names the program in every line. prog is borrowed: it must outlive the logger
 * (a string literal or argv[0]). Any leading directories are skipped. */
void pk_log_init(const char *prog);

void pk_log_set_level(enum pk_log_level level);
void pk_log_set_format(enum pk_log_format format);

/* Sends lines to fd instead of stderr (2). For tests; the fd is borrowed. */
void pk_log_set_fd(int fd);

/* "error", "warn", "info", "debug" (and "warning") to a level. Returns 0, or -1 for
 * an unknown name. */
int pk_log_level_parse(const char *name, enum pk_log_level *out);
const char *pk_log_level_name(enum pk_log_level level);

/* Writes one event as one line with a single write(2), so lines from several
 * processes sharing stderr never interleave. Newlines and control characters in the
 * message are escaped; a message longer than PK_LOG_LINE_MAX is cut and marked "...".
 * errno is the same after the call as before it, so callers may log and then use it. */
void pk_log_emit(enum pk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define PK_LOG_LINE_MAX 4096

/* The level is checked before the arguments are evaluated or formatted. */
#define pk_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= pk_log_max_level) {                                                         \
            pk_log_emit((level), __VA_ARGS__);                                                     \
        }                                                                                          \
    } while (0)

#define pk_log_error(...) pk_log(PK_LOG_ERROR, __VA_ARGS__)
#define pk_log_warn(...) pk_log(PK_LOG_WARN, __VA_ARGS__)
#define pk_log_info(...) pk_log(PK_LOG_INFO, __VA_ARGS__)
#define pk_log_debug(...) pk_log(PK_LOG_DEBUG, __VA_ARGS__)

#endif
