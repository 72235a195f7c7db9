/* sl_conf.h — sidecar-log's settings: one table of keys (flags and YAML), then the checks
 * and what is derived from them (the compiled multiline pattern, the admin address). */
#ifndef SL_CONF_H
#define SL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pk_addr.h"
#include "pk_conf.h"
#include "sl_lines.h"
#include "sl_out.h"

enum sl_start_at { SL_START_HEAD, SL_START_TAIL };
enum sl_conf_format { SL_CONF_FORMAT_AUTO, SL_CONF_FORMAT_RAW, SL_CONF_FORMAT_JSON };

struct sl_conf {
    /* As the table sets them (owned by the pk_conf that loaded them). */
    struct pk_strv path, exclude, label, output;
    int watch;    /* enum sl_watch_mode */
    int start_at; /* enum sl_start_at */
    int parser;   /* enum sl_parser */
    int format;   /* enum sl_conf_format */
    char *db, *multiline_start, *dead_letter, *admin_listen;
    int64_t rescan_ms, multiline_flush_ms, flush_interval_ms, backoff_ms, backoff_max_ms;
    int64_t timeout_ms, rotate_wait_ms, shutdown_timeout_ms, save_interval_ms;
    uint64_t max_line_bytes, buffer_bytes, batch_bytes;
    long long batch_records, retry_max;

    /* Derived by sl_conf_check (owned here; freed by sl_conf_clear). */
    pcre2_code *multiline;      /* compiled (JIT when available), or NULL */
    struct sl_lines_conf lines; /* points at multiline */
    struct sl_out_conf out;     /* points at dead_letter */
    struct pk_addr admin_addr;
    bool has_admin;
};

extern const struct pk_conf_key sl_conf_keys[];

/* Checks what one key cannot check alone and fills the derived fields. Returns 0, or -1
 * with one line in err naming the key. Call sl_conf_clear before checking again. */
int sl_conf_check(struct sl_conf *c, char *err, size_t errsz);
void sl_conf_clear(struct sl_conf *c);

#endif
