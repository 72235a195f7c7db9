/* am_text.c — key=value files, JSON documents and Redis INFO text, turned into am_samples.
 *
 * Redis INFO names. Composite fields and the scalars in info_fields[] take redis_exporter's
 * names, so its dashboards keep working, except where its name would draw a `promtool check
 * metrics` warning (a counter without "_total", a gauge with it, "_count"/"_sum" on a plain
 * metric, a "quantile" label outside a summary) or carries a unit that is not a base unit
 * (ms, usec, "_sec", kbps). There the lint-clean name wins, and the value is converted:
 *
 *   INFO field                       redis_exporter                  here
 *   db0: expires=                    db_keys_expiring                db_keys_expiring (kept)
 *   latency_percentiles_usec_<cmd>:  latency_percentiles_usec        latency_percentiles_seconds
 *     p50=..,p99.9=..  (usec)          {cmd,quantile="0.5"} summary    {cmd,percentile="50"}
 *                                                                      gauge, usec -> s
 *   rdb_last_bgsave_time_sec         rdb_last_bgsave_duration_sec    ..._duration_seconds
 *   rdb_current_bgsave_time_sec      rdb_current_bgsave_duration_sec ..._duration_seconds
 *   aof_last_rewrite_time_sec        aof_last_rewrite_duration_sec   ..._duration_seconds
 *   aof_current_rewrite_time_sec     aof_current_rewrite_duration_sec ..._duration_seconds
 *   latest_fork_usec                 latest_fork_usec                latest_fork_seconds
 *   migrate_cached_sockets (gauge)   migrate_cached_sockets_total    migrate_cached_sockets
 *   expired_time_cap_reached_count   ..._total as a gauge            the same name, a counter
 *   active_defrag_{hits,misses,      defrag_hits ... (gauges)        defrag_hits_total ...
 *     key_hits,key_misses}                                             (counters)
 *   sync_full                        replica_resyncs_full (gauge)    ..._full_total (counter)
 *   sync_partial_ok / _err           replica_partial_resync_accepted ..._accepted_total,
 *                                      / _denied (gauges)              ..._denied_total
 *   cluster_stats_messages_sent/     cluster_messages_sent_total     the same, as counters
 *     _received                        (gauges)
 *   total_error_replies              total_error_replies (counter)   error_replies_total
 *   unexpected_error_replies         unexpected_error_replies        ..._replies_total
 *   total_reads/writes_processed     total_reads_processed ...       reads_processed_total ...
 *   io_threaded_reads/writes_proc..  io_threaded_reads_processed ... ..._processed_total
 *   dump_payload_sanitizations       dump_payload_sanitizations      ..._sanitizations_total
 *   expire_cycle_cpu_milliseconds    expire_cycle_cpu_time_ms_total  ..._cpu_time_seconds_total
 *   total_eviction_exceeded_time     eviction_exceeded_time_ms_total ..._time_seconds_total
 *   current_eviction_exceeded_time   current_eviction_exceeded_      ..._time_seconds
 *                                      time_ms
 *   instantaneous_ops_per_sec        instantaneous_ops_per_sec       ..._ops_per_second
 *   arch_bits                        arch_bits                       arch_word_size_bytes (/8)
 *   current_save_keys_total (gauge)  (none)                          current_save_keys
 * Fields redis_exporter does not name, named here the same way: total_forks -> forks_total,
 * total_net_repl_{input,output}_bytes -> net_repl_..._bytes_total, lazyfreed_objects,
 * evicted_clients, evicted_scripts, expired_subkeys, rdb_saves, reply_buffer_{shrinks,expands},
 * client_{query,output}_buffer_limit_disconnections, acl_access_denied_*, eventloop_cycles
 * -> <name>_total; eventloop_duration_sum / _cmd_sum (usec) -> eventloop_duration_seconds_total
 * / eventloop_duration_cmd_seconds_total; instantaneous_eventloop_duration_usec, server_time_usec
 * -> ..._seconds; total_active_defrag_time (ms) -> active_defrag_time_seconds_total,
 * current_active_defrag_time (ms) -> current_active_defrag_time_seconds;
 * instantaneous_{input,output}[_repl]_kbps (KiB/s) -> ..._bytes_per_second (x 1024);
 * uptime_in_days is dropped (days is not a base unit; uptime_in_seconds says the same).
 * Fields in no table keep their own name as AM_KIND_UNTYPED.
 *
 * No global state and no allocation but jansson's: the parsers may run in several threads at
 * once. Decimal numbers are read with strtod, so the process must keep the C locale's '.'. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am_text.h"

#define NUM_MAX 128       /* a number's text is read up to 127 bytes */
#define JSON_DEPTH_MAX 64 /* nested objects and arrays */
#define JSON_NAME_MAX 256 /* a JSON path name, up to 255 bytes and its NUL */

#define WHY_NOT_NUMBER "not a number"
#define WHY_JSON_DEPTH "nesting deeper than 64"
#define WHY_JSON_LONG "name longer than 255 bytes"
#define WHY_NO_NAME "a value with no name"

/* Bytes of the input (or of a static string): not NUL-terminated. */
struct span {
    const char *s;
    size_t n;
};

/* Where samples and rejects go, and how many samples went. */
struct out {
    am_sample_fn *emit;
    am_reject_fn *reject;
    void *arg;
    size_t count;
};

/* ---- shared helpers ------------------------------------------------------------------ */

static struct span span_of(const char *s, size_t n)
{
    struct span sp = {s, n};

    return sp;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static struct span trim(struct span sp)
{
    while (sp.n > 0 && is_space(sp.s[0])) {
        sp.s++;
        sp.n--;
    }
    while (sp.n > 0 && is_space(sp.s[sp.n - 1])) {
        sp.n--;
    }
    return sp;
}

/* Stops at the first byte that differs: the INFO table is looked up once per line. */
static bool span_eq(struct span sp, const char *lit)
{
    for (size_t i = 0; i < sp.n; i++) {
        if (lit[i] == '\0' || lit[i] != sp.s[i]) {
            return false;
        }
    }
    return lit[sp.n] == '\0';
}

/* ASCII case-insensitive equality with a lowercase literal. */
static bool span_ieq(struct span sp, const char *lit)
{
    size_t n = strlen(lit);

    if (sp.n != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = sp.s[i];

        if ((c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c) != lit[i]) {
            return false;
        }
    }
    return true;
}

/* True when sp starts with prefix and has at least one byte after it, which goes in rest. */
static bool span_after(struct span sp, const char *prefix, struct span *rest)
{
    size_t n = strlen(prefix);

    if (sp.n <= n || memcmp(sp.s, prefix, n) != 0) {
        return false;
    }
    *rest = span_of(sp.s + n, sp.n - n);
    return true;
}

/* The next line from *pos, without its '\n' (a '\r' before it is left for trim). */
static bool next_line(const char *buf, size_t len, size_t *pos, struct span *line)
{
    const char *nl;

    if (*pos >= len) {
        return false;
    }
    line->s = buf + *pos;
    nl = memchr(line->s, '\n', len - *pos);
    line->n = nl != NULL ? (size_t)(nl - line->s) : len - *pos;
    *pos += line->n + (nl != NULL ? 1 : 0);
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * A number, the whole of sp: an optional sign, then decimal digits with an optional fraction
 * and exponent ("5", "-2.5e-3", ".5", "5."), "0x" and hex digits, "Inf"/"Infinity" or "NaN"
 * (any case). strtod alone would take more than that ("0x1p3", "nan(1)", leading blanks), so
 * the text is checked first. A decimal past 127 bytes is not read. Overflow gives +-Inf.
 */
static bool parse_number(struct span sp, double *v)
{
    char tmp[NUM_MAX];
    struct span r = sp;
    bool neg = false;
    size_t i = 0, digits = 0;

    if (r.n > 0 && (r.s[0] == '+' || r.s[0] == '-')) {
        neg = r.s[0] == '-';
        r.s++;
        r.n--;
    }
    if (span_ieq(r, "inf") || span_ieq(r, "infinity")) {
        *v = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (span_ieq(r, "nan")) {
        *v = NAN;
        return true;
    }
    if (r.n > 2 && r.s[0] == '0' && (r.s[1] == 'x' || r.s[1] == 'X')) {
        double h = 0;

        for (i = 2; i < r.n; i++) {
            int d = hex_digit(r.s[i]);

            if (d < 0) {
                return false;
            }
            h = h * 16 + d;
        }
        *v = neg ? -h : h;
        return true;
    }
    for (; i < r.n && is_digit(r.s[i]); i++) {
        digits++;
    }
    if (i < r.n && r.s[i] == '.') {
        for (i++; i < r.n && is_digit(r.s[i]); i++) {
            digits++;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (i < r.n && (r.s[i] == 'e' || r.s[i] == 'E')) {
        size_t first;

        i++;
        if (i < r.n && (r.s[i] == '+' || r.s[i] == '-')) {
            i++;
        }
        for (first = i; i < r.n && is_digit(r.s[i]); i++) {
        }
        if (i == first) {
            return false;
        }
    }
    if (i != r.n || sp.n >= sizeof(tmp)) {
        return false;
    }
    if (digits <= 15 && memchr(r.s, 'e', r.n) == NULL && memchr(r.s, 'E', r.n) == NULL) {
        /* Most values: up to 15 digits, no exponent. m and 10^k are exact doubles, so
         * m / 10^k is rounded once, correctly: the very double strtod gives, at a tenth of
         * its cost. */
        static const double pow10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                         1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        uint64_t m = 0;
        size_t frac = 0;
        bool point = false;

        for (size_t j = 0; j < r.n; j++) {
            if (r.s[j] == '.') {
                point = true;
                continue;
            }
            m = m * 10 + (uint64_t)(r.s[j] - '0');
            frac += point;
        }
        *v = (double)m / pow10[frac];
        *v = neg ? -*v : *v;
        return true;
    }
    memcpy(tmp, sp.s, sp.n);
    tmp[sp.n] = '\0';
    *v = strtod(tmp, NULL);
    return true;
}

/* A number or one of the boolean words. */
static bool parse_value(struct span sp, double *v)
{
    static const struct {
        const char *word;
        double v;
    } words[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1}, {"off", 0}};

    if (parse_number(sp, v)) {
        return true;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (span_ieq(sp, words[i].word)) {
            *v = words[i].v;
            return true;
        }
    }
    return false;
}

static void sample_init(struct am_sample *s, struct span name, enum am_kind kind, double v)
{
    memset(s, 0, sizeof(*s));
    s->name = name.s;
    s->name_len = name.n;
    s->kind = kind;
    s->value = v;
    s->rate = 1;
    s->counter_absolute = kind == AM_KIND_COUNTER;
}

/* A string as a sample: value 0, the text in set_member. */
static void sample_init_text(struct am_sample *s, struct span name, struct span text)
{
    sample_init(s, name, AM_KIND_UNTYPED, 0);
    s->set_member = text.s;
    s->set_member_len = text.n;
}

static void out_emit(struct out *o, const struct am_sample *s)
{
    if (o->emit != NULL) {
        o->emit(o->arg, s);
    }
    o->count++;
}

static void out_reject(struct out *o, size_t line, const char *why)
{
    if (o->reject != NULL) {
        o->reject(o->arg, line, why);
    }
}

/* name = text as kv files give it: a number or a boolean; else, with strings, the text itself
 * in set_member; else a reject. */
static void emit_text(struct out *o, size_t line, struct span name, struct span text, bool strings)
{
    struct am_sample s;
    double v;

    if (parse_value(text, &v)) {
        sample_init(&s, name, AM_KIND_UNTYPED, v);
    } else if (strings) {
        sample_init_text(&s, name, text);
    } else {
        out_reject(o, line, WHY_NOT_NUMBER);
        return;
    }
    out_emit(o, &s);
}

/* ---- key=value ----------------------------------------------------------------------- */

static void kv_line(struct out *o, size_t no, struct span l, bool strings)
{
    struct span key, val;
    size_t sep;

    l = trim(l);
    if (l.n == 0 || l.s[0] == '#' || l.s[0] == ';') {
        return;
    }
    for (sep = 0; sep < l.n && l.s[sep] != '=' && l.s[sep] != ':'; sep++) {
    }
    if (sep == l.n) {
        out_reject(o, no, "no '=' or ':'");
        return;
    }
    key = trim(span_of(l.s, sep));
    val = trim(span_of(l.s + sep + 1, l.n - sep - 1));
    if (key.n == 0) {
        out_reject(o, no, "empty key");
        return;
    }
    if (val.n >= 2 && (val.s[0] == '"' || val.s[0] == '\'') && val.s[val.n - 1] == val.s[0]) {
        val = span_of(val.s + 1, val.n - 2);
    } else if (val.n == 0) {
        out_reject(o, no, "empty value");
        return;
    }
    emit_text(o, no, key, val, strings);
}

size_t am_kv_parse(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                   am_reject_fn *reject, void *arg)
{
    struct out o = {emit, reject, arg, 0};
    struct span line;
    size_t pos = 0, no = 0;

    while (next_line(buf, len, &pos, &line)) {
        kv_line(&o, ++no, line, strings);
    }
    return o.count;
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* A walk over a parsed document: the path so far lives in name, NUL-terminated. */
struct json_walk {
    struct out *o;
    bool strings;
    char name[JSON_NAME_MAX];
};

/* Appends a component to the path of length n (with '_' unless the component is a top-level
 * one); false when the result would not fit. *m gets the new length. */
static bool name_push(struct json_walk *w, size_t n, int depth, const char *c, size_t clen,
                      size_t *m)
{
    size_t sep = depth > 1 ? 1 : 0;

    if (clen >= sizeof(w->name) - n - sep) {
        return false;
    }
    if (sep) {
        w->name[n] = '_';
    }
    memcpy(w->name + n + sep, c, clen);
    *m = n + sep + clen;
    w->name[*m] = '\0';
    return true;
}

static void json_walk_value(struct json_walk *w, size_t n, int depth, json_t *v);

/* A child of a container at depth, named c. */
static void json_walk_child(struct json_walk *w, size_t n, int depth, const char *c, size_t clen,
                            json_t *v)
{
    size_t m;

    if (!name_push(w, n, depth, c, clen, &m)) {
        out_reject(w->o, 0, WHY_JSON_LONG);
        return;
    }
    json_walk_value(w, m, depth, v);
    w->name[n] = '\0';
}

/* v, named by the first n bytes of w->name, inside depth containers. */
static void json_walk_value(struct json_walk *w, size_t n, int depth, json_t *v)
{
    struct span name = span_of(w->name, n);
    struct am_sample s;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth >= JSON_DEPTH_MAX) {
            out_reject(w->o, 0, WHY_JSON_DEPTH);
            return;
        }
        if (json_is_object(v)) {
            for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
                const char *key = json_object_iter_key(it);

                json_walk_child(w, n, depth + 1, key, strlen(key), json_object_iter_value(it));
            }
        } else {
            for (size_t i = 0; i < json_array_size(v); i++) {
                char idx[24];
                int k = snprintf(idx, sizeof(idx), "%zu", i);

                json_walk_child(w, n, depth + 1, idx, (size_t)k, json_array_get(v, i));
            }
        }
        return;
    case JSON_NULL:
        return;
    default:
        break;
    }
    if (n == 0) {
        out_reject(w->o, 0, WHY_NO_NAME);
        return;
    }
    if (json_is_string(v)) {
        emit_text(w->o, 0, name, span_of(json_string_value(v), json_string_length(v)), w->strings);
        return;
    }
    if (json_is_number(v)) {
        sample_init(&s, name, AM_KIND_UNTYPED, json_number_value(v));
    } else {
        sample_init(&s, name, AM_KIND_UNTYPED, json_is_true(v) ? 1 : 0);
    }
    out_emit(w->o, &s);
}

size_t am_json_parse(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                     am_reject_fn *reject, void *arg)
{
    struct out o = {emit, reject, arg, 0};
    struct json_walk w;
    json_error_t err;
    json_t *root;

    /* Integers as reals: a number past 2^63 is still a number here, not a parse error. */
    root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
    if (root == NULL) {
        out_reject(&o, err.line > 0 ? (size_t)err.line : 0, "not valid JSON");
        return 0;
    }
    w.o = &o;
    w.strings = strings;
    w.name[0] = '\0';
    json_walk_value(&w, 0, 0, root);
    json_decref(root);
    return o.count;
}

/* ---- Redis INFO ---------------------------------------------------------------------- */

#define F_LINK 1u   /* "up" is 1, anything else 0 */
#define F_MASTER 2u /* labelled with master_host and master_port, as redis_exporter does */
#define F_TEXT 4u   /* always a string, even when it looks like a number (hex ids) */

#define G AM_KIND_GAUGE
#define C AM_KIND_COUNTER
#define MS 1e-3
#define US 1e-6
#define KIB 1024.0

/* The INFO scalars with a known meaning: field, name (NULL: dropped), kind, scale, flags. */
static const struct info_field {
    const char *field;
    const char *name;
    enum am_kind kind;
    double scale;
    unsigned flags;
} info_fields[] = {
    /* Server */
    {"redis_version", "redis_version", AM_KIND_UNTYPED, 1, F_TEXT},
    {"redis_git_sha1", "redis_git_sha1", AM_KIND_UNTYPED, 1, F_TEXT},
    {"redis_build_id", "redis_build_id", AM_KIND_UNTYPED, 1, F_TEXT},
    {"run_id", "run_id", AM_KIND_UNTYPED, 1, F_TEXT},
    {"gcc_version", "gcc_version", AM_KIND_UNTYPED, 1, F_TEXT},
    {"master_replid", "master_replid", AM_KIND_UNTYPED, 1, F_TEXT},
    {"master_replid2", "master_replid2", AM_KIND_UNTYPED, 1, F_TEXT},
    {"arch_bits", "arch_word_size_bytes", G, 0.125, 0},
    {"uptime_in_seconds", "uptime_in_seconds", G, 1, 0},
    {"uptime_in_days", NULL, G, 1, 0},
    {"process_id", "process_id", G, 1, 0},
    {"server_time_usec", "server_time_seconds", G, US, 0},
    {"configured_hz", "configured_hz", G, 1, 0},
    {"hz", "hz", G, 1, 0},
    /* Clients */
    {"connected_clients", "connected_clients", G, 1, 0},
    {"cluster_connections", "cluster_connections", G, 1, 0},
    {"maxclients", "max_clients", G, 1, 0},
    {"blocked_clients", "blocked_clients", G, 1, 0},
    {"tracking_clients", "tracking_clients", G, 1, 0},
    {"pubsub_clients", "pubsub_clients", G, 1, 0},
    {"watching_clients", "watching_clients", G, 1, 0},
    {"clients_in_timeout_table", "clients_in_timeout_table", G, 1, 0},
    {"total_watched_keys", "total_watched_keys", G, 1, 0},
    {"total_blocking_keys", "total_blocking_keys", G, 1, 0},
    {"total_blocking_keys_on_nokey", "total_blocking_keys_on_nokey", G, 1, 0},
    {"client_longest_output_list", "client_longest_output_list", G, 1, 0},
    {"client_biggest_input_buf", "client_biggest_input_buf", G, 1, 0},
    {"client_recent_max_output_buffer", "client_recent_max_output_buffer_bytes", G, 1, 0},
    {"client_recent_max_input_buffer", "client_recent_max_input_buffer_bytes", G, 1, 0},
    /* Memory */
    {"used_memory", "memory_used_bytes", G, 1, 0},
    {"used_memory_rss", "memory_used_rss_bytes", G, 1, 0},
    {"used_memory_peak", "memory_used_peak_bytes", G, 1, 0},
    {"used_memory_lua", "memory_used_lua_bytes", G, 1, 0},
    {"used_memory_vm_eval", "memory_used_vm_eval_bytes", G, 1, 0},
    {"used_memory_scripts_eval", "memory_used_scripts_eval_bytes", G, 1, 0},
    {"used_memory_overhead", "memory_used_overhead_bytes", G, 1, 0},
    {"used_memory_startup", "memory_used_startup_bytes", G, 1, 0},
    {"used_memory_dataset", "memory_used_dataset_bytes", G, 1, 0},
    {"used_memory_scripts", "memory_used_scripts_bytes", G, 1, 0},
    {"used_memory_vm_functions", "memory_used_vm_functions_bytes", G, 1, 0},
    {"used_memory_functions", "memory_used_functions_bytes", G, 1, 0},
    {"used_memory_vm_total", "memory_used_vm_total_bytes", G, 1, 0},
    {"maxmemory", "memory_max_bytes", G, 1, 0},
    {"total_system_memory", "total_system_memory_bytes", G, 1, 0},
    {"allocator_active", "allocator_active_bytes", G, 1, 0},
    {"allocator_allocated", "allocator_allocated_bytes", G, 1, 0},
    {"allocator_resident", "allocator_resident_bytes", G, 1, 0},
    {"allocator_frag_ratio", "allocator_frag_ratio", G, 1, 0},
    {"allocator_frag_bytes", "allocator_frag_bytes", G, 1, 0},
    {"allocator_rss_ratio", "allocator_rss_ratio", G, 1, 0},
    {"allocator_rss_bytes", "allocator_rss_bytes", G, 1, 0},
    {"mem_fragmentation_ratio", "mem_fragmentation_ratio", G, 1, 0},
    {"mem_fragmentation_bytes", "mem_fragmentation_bytes", G, 1, 0},
    {"mem_clients_slaves", "mem_clients_slaves", G, 1, 0},
    {"mem_clients_normal", "mem_clients_normal", G, 1, 0},
    {"mem_not_counted_for_evict", "mem_not_counted_for_eviction_bytes", G, 1, 0},
    {"expired_stale_perc", "expired_stale_percentage", G, 1, 0},
    {"lazyfree_pending_objects", "lazyfree_pending_objects", G, 1, 0},
    {"lazyfreed_objects", "lazyfreed_objects_total", C, 1, 0},
    {"active_defrag_running", "active_defrag_running", G, 1, 0},
    {"migrate_cached_sockets", "migrate_cached_sockets", G, 1, 0},
    {"active_defrag_hits", "defrag_hits_total", C, 1, 0},
    {"active_defrag_misses", "defrag_misses_total", C, 1, 0},
    {"active_defrag_key_hits", "defrag_key_hits_total", C, 1, 0},
    {"active_defrag_key_misses", "defrag_key_misses_total", C, 1, 0},
    {"total_active_defrag_time", "active_defrag_time_seconds_total", C, MS, 0},
    {"current_active_defrag_time", "current_active_defrag_time_seconds", G, MS, 0},
    /* Persistence */
    {"loading", "loading_dump_file", G, 1, 0},
    {"rdb_changes_since_last_save", "rdb_changes_since_last_save", G, 1, 0},
    {"current_save_keys_total", "current_save_keys", G, 1, 0},
    {"rdb_bgsave_in_progress", "rdb_bgsave_in_progress", G, 1, 0},
    {"rdb_last_save_time", "rdb_last_save_timestamp_seconds", G, 1, 0},
    {"rdb_last_bgsave_status", "rdb_last_bgsave_status", G, 1, 0},
    {"rdb_last_bgsave_time_sec", "rdb_last_bgsave_duration_seconds", G, 1, 0},
    {"rdb_current_bgsave_time_sec", "rdb_current_bgsave_duration_seconds", G, 1, 0},
    {"rdb_last_cow_size", "rdb_last_cow_size_bytes", G, 1, 0},
    {"rdb_saves", "rdb_saves_total", C, 1, 0},
    {"aof_enabled", "aof_enabled", G, 1, 0},
    {"aof_rewrite_in_progress", "aof_rewrite_in_progress", G, 1, 0},
    {"aof_rewrite_scheduled", "aof_rewrite_scheduled", G, 1, 0},
    {"aof_last_rewrite_time_sec", "aof_last_rewrite_duration_seconds", G, 1, 0},
    {"aof_current_rewrite_time_sec", "aof_current_rewrite_duration_seconds", G, 1, 0},
    {"aof_last_cow_size", "aof_last_cow_size_bytes", G, 1, 0},
    {"aof_current_size", "aof_current_size_bytes", G, 1, 0},
    {"aof_base_size", "aof_base_size_bytes", G, 1, 0},
    {"aof_pending_rewrite", "aof_pending_rewrite", G, 1, 0},
    {"aof_buffer_length", "aof_buffer_length", G, 1, 0},
    {"aof_rewrite_buffer_length", "aof_rewrite_buffer_length", G, 1, 0},
    {"aof_pending_bio_fsync", "aof_pending_bio_fsync", G, 1, 0},
    {"aof_delayed_fsync", "aof_delayed_fsync", G, 1, 0},
    {"aof_last_bgrewrite_status", "aof_last_bgrewrite_status", G, 1, 0},
    {"aof_last_write_status", "aof_last_write_status", G, 1, 0},
    {"module_fork_in_progress", "module_fork_in_progress", G, 1, 0},
    {"module_fork_last_cow_size", "module_fork_last_cow_size", G, 1, 0},
    /* Stats */
    {"total_connections_received", "connections_received_total", C, 1, 0},
    {"total_commands_processed", "commands_processed_total", C, 1, 0},
    {"instantaneous_ops_per_sec", "instantaneous_ops_per_second", G, 1, 0},
    {"total_net_input_bytes", "net_input_bytes_total", C, 1, 0},
    {"total_net_output_bytes", "net_output_bytes_total", C, 1, 0},
    {"total_net_repl_input_bytes", "net_repl_input_bytes_total", C, 1, 0},
    {"total_net_repl_output_bytes", "net_repl_output_bytes_total", C, 1, 0},
    {"instantaneous_input_kbps", "instantaneous_input_bytes_per_second", G, KIB, 0},
    {"instantaneous_output_kbps", "instantaneous_output_bytes_per_second", G, KIB, 0},
    {"instantaneous_input_repl_kbps", "instantaneous_input_repl_bytes_per_second", G, KIB, 0},
    {"instantaneous_output_repl_kbps", "instantaneous_output_repl_bytes_per_second", G, KIB, 0},
    {"rejected_connections", "rejected_connections_total", C, 1, 0},
    {"sync_full", "replica_resyncs_full_total", C, 1, 0},
    {"sync_partial_ok", "replica_partial_resync_accepted_total", C, 1, 0},
    {"sync_partial_err", "replica_partial_resync_denied_total", C, 1, 0},
    {"expired_keys", "expired_keys_total", C, 1, 0},
    {"expired_subkeys", "expired_subkeys_total", C, 1, 0},
    {"expired_time_cap_reached_count", "expired_time_cap_reached_total", C, 1, 0},
    {"expire_cycle_cpu_milliseconds", "expire_cycle_cpu_time_seconds_total", C, MS, 0},
    {"evicted_keys", "evicted_keys_total", C, 1, 0},
    {"evicted_clients", "evicted_clients_total", C, 1, 0},
    {"evicted_scripts", "evicted_scripts_total", C, 1, 0},
    {"total_eviction_exceeded_time", "eviction_exceeded_time_seconds_total", C, MS, 0},
    {"current_eviction_exceeded_time", "current_eviction_exceeded_time_seconds", G, MS, 0},
    {"keyspace_hits", "keyspace_hits_total", C, 1, 0},
    {"keyspace_misses", "keyspace_misses_total", C, 1, 0},
    {"pubsub_channels", "pubsub_channels", G, 1, 0},
    {"pubsub_patterns", "pubsub_patterns", G, 1, 0},
    {"pubsubshard_channels", "pubsubshard_channels", G, 1, 0},
    {"latest_fork_usec", "latest_fork_seconds", G, US, 0},
    {"total_forks", "forks_total", C, 1, 0},
    {"slave_expires_tracked_keys", "slave_expires_tracked_keys", G, 1, 0},
    {"tracking_total_keys", "tracking_total_keys", G, 1, 0},
    {"tracking_total_items", "tracking_total_items", G, 1, 0},
    {"tracking_total_prefixes", "tracking_total_prefixes", G, 1, 0},
    {"unexpected_error_replies", "unexpected_error_replies_total", C, 1, 0},
    {"total_error_replies", "error_replies_total", C, 1, 0},
    {"dump_payload_sanitizations", "dump_payload_sanitizations_total", C, 1, 0},
    {"total_reads_processed", "reads_processed_total", C, 1, 0},
    {"total_writes_processed", "writes_processed_total", C, 1, 0},
    {"io_threaded_reads_processed", "io_threaded_reads_processed_total", C, 1, 0},
    {"io_threaded_writes_processed", "io_threaded_writes_processed_total", C, 1, 0},
    {"client_query_buffer_limit_disconnections", "client_query_buffer_limit_disconnections_total",
     C, 1, 0},
    {"client_output_buffer_limit_disconnections", "client_output_buffer_limit_disconnections_total",
     C, 1, 0},
    {"reply_buffer_shrinks", "reply_buffer_shrinks_total", C, 1, 0},
    {"reply_buffer_expands", "reply_buffer_expands_total", C, 1, 0},
    {"eventloop_cycles", "eventloop_cycles_total", C, 1, 0},
    {"eventloop_duration_sum", "eventloop_duration_seconds_total", C, US, 0},
    {"eventloop_duration_cmd_sum", "eventloop_duration_cmd_seconds_total", C, US, 0},
    {"instantaneous_eventloop_duration_usec", "instantaneous_eventloop_duration_seconds", G, US, 0},
    {"acl_access_denied_auth", "acl_access_denied_auth_total", C, 1, 0},
    {"acl_access_denied_cmd", "acl_access_denied_cmd_total", C, 1, 0},
    {"acl_access_denied_key", "acl_access_denied_key_total", C, 1, 0},
    {"acl_access_denied_channel", "acl_access_denied_channel_total", C, 1, 0},
    /* Replication */
    {"connected_slaves", "connected_slaves", G, 1, 0},
    {"master_link_status", "master_link_up", G, 1, F_LINK | F_MASTER},
    {"master_last_io_seconds_ago", "master_last_io_seconds_ago", G, 1, F_MASTER},
    {"master_sync_in_progress", "master_sync_in_progress", G, 1, F_MASTER},
    {"slave_repl_offset", "slave_repl_offset", G, 1, F_MASTER},
    {"master_repl_offset", "master_repl_offset", G, 1, 0},
    {"second_repl_offset", "second_repl_offset", G, 1, 0},
    {"slave_priority", "slave_priority", G, 1, 0},
    {"repl_backlog_active", "repl_backlog_is_active", G, 1, 0},
    {"repl_backlog_size", "replication_backlog_bytes", G, 1, 0},
    {"repl_backlog_first_byte_offset", "repl_backlog_first_byte_offset", G, 1, 0},
    {"repl_backlog_histlen", "repl_backlog_history_bytes", G, 1, 0},
    /* CPU */
    {"used_cpu_sys", "cpu_sys_seconds_total", C, 1, 0},
    {"used_cpu_user", "cpu_user_seconds_total", C, 1, 0},
    {"used_cpu_sys_children", "cpu_sys_children_seconds_total", C, 1, 0},
    {"used_cpu_user_children", "cpu_user_children_seconds_total", C, 1, 0},
    {"used_cpu_sys_main_thread", "cpu_sys_main_thread_seconds_total", C, 1, 0},
    {"used_cpu_user_main_thread", "cpu_user_main_thread_seconds_total", C, 1, 0},
    /* Cluster */
    {"cluster_enabled", "cluster_enabled", G, 1, 0},
    {"cluster_stats_messages_sent", "cluster_messages_sent_total", C, 1, 0},
    {"cluster_stats_messages_received", "cluster_messages_received_total", C, 1, 0},
};

#undef G
#undef C

/* The keyspace line's fields: db0:keys=1,expires=0,avg_ttl=0[,subexpiry=0] (Valkey:
 * keys_with_volatile_items; KeyDB: cached_keys). keys and expires must be there. */
static const struct info_part {
    const char *key;
    const char *name;
    double scale;
    bool required;
} db_parts[] = {
    {"keys", "db_keys", 1, true},
    {"expires", "db_keys_expiring", 1, true},
    {"avg_ttl", "db_avg_ttl_seconds", MS, false},
    {"cached_keys", "db_keys_cached", 1, false},
    {"subexpiry", "db_keys_with_expiring_items", 1, false},
    {"keys_with_volatile_items", "db_keys_with_expiring_items", 1, false},
};

/* cmdstat_<cmd>:calls=5,usec=12,usec_per_call=2.40[,rejected_calls=0,failed_calls=0]. */
static const struct info_part cmd_parts[] = {
    {"calls", "commands_total", 1, true},
    {"usec", "commands_duration_seconds_total", US, true},
    {"rejected_calls", "commands_rejected_calls_total", 1, false},
    {"failed_calls", "commands_failed_calls_total", 1, false},
};

#define PARTS_MAX 8 /* the longest of the tables above */
_Static_assert(sizeof(db_parts) / sizeof(db_parts[0]) <= PARTS_MAX, "db_parts");
_Static_assert(sizeof(cmd_parts) / sizeof(cmd_parts[0]) <= PARTS_MAX, "cmd_parts");

#define WHY_COMPOSITE "composite field without '='"
#define WHY_COMPOSITE_NUM "composite field without a needed number"

/* What one INFO text has said so far that later lines need. */
#define INFO_INDEX 1024 /* a power of two, over twice the rows of info_fields[] */
_Static_assert(sizeof(info_fields) / sizeof(info_fields[0]) * 2 <= INFO_INDEX, "info index");

struct info_ctx {
    struct out *o;
    bool strings;
    size_t line;
    struct span master_host, master_port; /* n == 0: not seen */
    uint16_t index[INFO_INDEX]; /* info_fields by hash of the field name, 1-based; 0: free */
    struct span instance[9];    /* the instance_info fields (instance_fields[]) as seen */
};

/* redis_exporter's redis_instance_info labels; the first is the info value itself. */
static const char *const instance_fields[9] = {
    "redis_version", "redis_build_id", "redis_mode", "os",   "maxmemory_policy",
    "tcp_port",      "run_id",         "process_id", "role",
};

/* The next piece of a "k=v,k=v" value from *pos, split at its first '='. -1: the end, 0: a
 * piece without '=', 1: one. */
static int piece_next(struct span v, size_t *pos, struct span *key, struct span *val)
{
    const char *comma, *eq;
    struct span p;

    if (*pos >= v.n) {
        return -1;
    }
    p.s = v.s + *pos;
    comma = memchr(p.s, ',', v.n - *pos);
    p.n = comma != NULL ? (size_t)(comma - p.s) : v.n - *pos;
    *pos += p.n + 1;
    eq = memchr(p.s, '=', p.n);
    if (eq == NULL) {
        return 0;
    }
    *key = span_of(p.s, (size_t)(eq - p.s));
    *val = span_of(eq + 1, p.n - (size_t)(eq - p.s) - 1);
    return 1;
}

/* True when every piece of v has an '='. */
static bool pieces_ok(struct span v)
{
    struct span k, x;
    size_t pos = 0;
    int r;

    while ((r = piece_next(v, &pos, &k, &x)) == 1) {
    }
    return r == -1;
}

/* The text of key in v (the first piece with that key): false when it is absent. */
static bool piece_find(struct span v, const char *key, struct span *out)
{
    struct span k, x;
    size_t pos = 0;
    int r;

    while ((r = piece_next(v, &pos, &k, &x)) >= 0) {
        if (r == 1 && span_eq(k, key)) {
            *out = x;
            return true;
        }
    }
    return false;
}

/* The value of key in v: 1 a number in *out, 0 absent, -1 there but not a number. */
static int piece_number(struct span v, const char *key, double *out)
{
    struct span x;

    if (!piece_find(v, key, &x)) {
        return 0;
    }
    return parse_number(x, out) ? 1 : -1;
}

/* The text of key in v, or an empty span (pointing into v) when it is absent. */
static struct span piece_text(struct span v, const char *key)
{
    struct span x;

    return piece_find(v, key, &x) ? x : span_of(v.s, 0);
}

static void info_emit(struct info_ctx *c, const char *name, enum am_kind kind, double v,
                      const struct am_label *labels, size_t nlabels)
{
    struct am_sample s;

    sample_init(&s, span_of(name, strlen(name)), kind, v);
    s.labels = nlabels > 0 ? labels : NULL;
    s.nlabels = nlabels;
    out_emit(c->o, &s);
}

static struct am_label label(const char *name, struct span value)
{
    struct am_label l = {name, strlen(name), value.s, value.n};

    return l;
}

/* A composite value whose known numbers become samples with the same labels: all of them
 * are checked before any is emitted, so a bad line emits nothing. */
static void info_parts(struct info_ctx *c, struct span val, const struct info_part *parts,
                       size_t nparts, enum am_kind kind, const struct am_label *labels,
                       size_t nlabels)
{
    double v[PARTS_MAX];
    int found[PARTS_MAX];

    if (!pieces_ok(val)) {
        out_reject(c->o, c->line, WHY_COMPOSITE);
        return;
    }
    for (size_t i = 0; i < nparts; i++) {
        found[i] = piece_number(val, parts[i].key, &v[i]);
        if (found[i] < 0 || (found[i] == 0 && parts[i].required)) {
            out_reject(c->o, c->line,
                       found[i] < 0 ? "bad number in composite field" : WHY_COMPOSITE_NUM);
            return;
        }
    }
    for (size_t i = 0; i < nparts; i++) {
        if (found[i] == 1) {
            info_emit(c, parts[i].name, kind, v[i] * parts[i].scale, labels, nlabels);
        }
    }
}

/* latency_percentiles_usec_<cmd>:p50=1.003,p99=2.007,p99.9=3.001, in microseconds. */
static void info_latency(struct info_ctx *c, struct span cmd, struct span val)
{
    struct am_label labels[2] = {label("cmd", cmd)};
    struct span k, x;
    size_t pos = 0;
    double v;
    int r;

    /* Checked whole first, so that a bad line emits nothing. */
    while ((r = piece_next(val, &pos, &k, &x)) == 1) {
        if (k.n < 2 || k.s[0] != 'p' || !is_digit(k.s[1]) ||
            !parse_number(span_of(k.s + 1, k.n - 1), &v) || !parse_number(x, &v)) {
            out_reject(c->o, c->line, "bad latency percentile");
            return;
        }
    }
    if (r == 0 || val.n == 0) {
        out_reject(c->o, c->line, r == 0 ? WHY_COMPOSITE : WHY_COMPOSITE_NUM);
        return;
    }
    pos = 0;
    while (piece_next(val, &pos, &k, &x) == 1) {
        parse_number(x, &v);
        labels[1] = label("percentile", span_of(k.s + 1, k.n - 1));
        info_emit(c, "latency_percentiles_seconds", AM_KIND_GAUGE, v * US, labels, 2);
    }
}

/* slave0:ip=10.0.0.2,port=6379,state=online,offset=1751844676,lag=0 */
static void info_slave(struct info_ctx *c, struct span val)
{
    static const struct info_part parts[] = {
        {"offset", "connected_slave_offset_bytes", 1, true},
        {"lag", "connected_slave_lag_seconds", 1, false},
    };
    struct am_label labels[3] = {
        label("slave_ip", piece_text(val, "ip")),
        label("slave_port", piece_text(val, "port")),
        label("slave_state", piece_text(val, "state")),
    };

    info_parts(c, val, parts, 2, AM_KIND_GAUGE, labels, 3);
}

static size_t info_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h & (INFO_INDEX - 1);
}

/* Fills c->index: one pass over the table per INFO parsed (a few microseconds), so a field
 * is found with one hash, whether the table has it or not; no state outlives the call. */
static void info_index_build(struct info_ctx *c)
{
    for (size_t i = 0; i < sizeof(info_fields) / sizeof(info_fields[0]); i++) {
        size_t h = info_hash(info_fields[i].field, strlen(info_fields[i].field));
        while (c->index[h] != 0) {
            h = (h + 1) & (INFO_INDEX - 1);
        }
        c->index[h] = (uint16_t)(i + 1);
    }
}

static const struct info_field *info_field_find(const struct info_ctx *c, struct span field)
{
    for (size_t h = info_hash(field.s, field.n); c->index[h] != 0; h = (h + 1) & (INFO_INDEX - 1)) {
        const struct info_field *f = &info_fields[c->index[h] - 1];
        if (span_eq(field, f->field)) {
            return f;
        }
    }
    return NULL;
}

/* A string field: a sample only with strings. */
static void info_string(struct info_ctx *c, struct span field, struct span val)
{
    struct am_sample s;

    if (c->strings) {
        sample_init_text(&s, field, val);
        out_emit(c->o, &s);
    }
}

/* A plain field: a number, a status word, or a string. */
static void info_scalar(struct info_ctx *c, struct span field, struct span val)
{
    const struct info_field *f = info_field_find(c, field);
    struct am_label labels[2];
    size_t nlabels = 0;
    double v;

    for (size_t i = 0; i < sizeof(instance_fields) / sizeof(instance_fields[0]); i++) {
        if (span_eq(field, instance_fields[i])) {
            c->instance[i] = val;
        }
    }

    if (f != NULL && f->name == NULL) {
        return;
    }
    if (f != NULL && (f->flags & F_TEXT)) {
        info_string(c, field, val);
        return;
    }
    if (f != NULL && (f->flags & F_LINK)) {
        v = span_eq(val, "up") ? 1 : 0;
    } else if (span_eq(val, "ok")) {
        v = 1; /* rdb_last_bgsave_status and the like: ok is 1, err 0 */
    } else if (span_eq(val, "err")) {
        v = 0;
    } else if (!parse_number(val, &v)) {
        if (f != NULL) {
            out_reject(c->o, c->line, WHY_NOT_NUMBER);
        } else {
            info_string(c, field, val);
        }
        return;
    }
    if (f == NULL) {
        struct am_sample s;

        sample_init(&s, field, AM_KIND_UNTYPED, v);
        out_emit(c->o, &s);
        return;
    }
    if ((f->flags & F_MASTER) && c->master_host.n > 0 && c->master_port.n > 0) {
        labels[nlabels++] = label("master_host", c->master_host);
        labels[nlabels++] = label("master_port", c->master_port);
    }
    info_emit(c, f->name, f->kind, v * f->scale, labels, nlabels);
}

/* "db" or "slave" and digits only. */
static bool numbered(struct span field, const char *prefix)
{
    struct span rest;

    if (!span_after(field, prefix, &rest)) {
        return false;
    }
    for (size_t i = 0; i < rest.n; i++) {
        if (!is_digit(rest.s[i])) {
            return false;
        }
    }
    return true;
}

static void info_line(struct info_ctx *c, struct span l)
{
    struct span field, val, rest;
    const char *colon;

    l = trim(l);
    if (l.n == 0 || l.s[0] == '#') {
        return; /* "# Section" */
    }
    colon = memchr(l.s, ':', l.n);
    if (colon == NULL) {
        out_reject(c->o, c->line, "no ':'");
        return;
    }
    field = span_of(l.s, (size_t)(colon - l.s));
    val = span_of(colon + 1, l.n - field.n - 1);
    if (field.n == 0) {
        out_reject(c->o, c->line, "empty field name");
        return;
    }
    if (span_after(field, "cmdstat_", &rest)) {
        struct am_label lb = label("cmd", rest);

        info_parts(c, val, cmd_parts, sizeof(cmd_parts) / sizeof(cmd_parts[0]), AM_KIND_COUNTER,
                   &lb, 1);
    } else if (span_after(field, "errorstat_", &rest)) {
        static const struct info_part err_parts[] = {{"count", "errors_total", 1, true}};
        struct am_label lb = label("err", rest);

        info_parts(c, val, err_parts, 1, AM_KIND_COUNTER, &lb, 1);
    } else if (span_after(field, "latency_percentiles_usec_", &rest)) {
        info_latency(c, rest, val);
    } else if (numbered(field, "db")) {
        struct am_label lb = label("db", field);

        info_parts(c, val, db_parts, sizeof(db_parts) / sizeof(db_parts[0]), AM_KIND_GAUGE, &lb, 1);
    } else if (numbered(field, "slave")) {
        info_slave(c, val);
    } else {
        if (span_eq(field, "master_host")) {
            c->master_host = val;
        } else if (span_eq(field, "master_port")) {
            c->master_port = val;
        }
        info_scalar(c, field, val);
    }
}

size_t am_info_parse(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                     am_reject_fn *reject, void *arg)
{
    struct out o = {emit, reject, arg, 0};
    struct info_ctx c = {.o = &o, .strings = strings};
    struct span line;
    size_t pos = 0;

    info_index_build(&c);
    while (next_line(buf, len, &pos, &line)) {
        c.line++;
        info_line(&c, line);
    }
    if (strings && c.instance[0].n > 0) {
        /* redis_exporter's redis_instance_info, as a string sample: the version is its
         * value, the other fields its labels (empty when this Redis has no such field). */
        struct am_label labels[8];
        struct am_sample smp;

        for (size_t i = 1; i < 9; i++) {
            /* An absent field is "", still a span of buf: label values point into it. */
            struct span v = c.instance[i].s != NULL ? c.instance[i] : (struct span){buf, 0};
            labels[i - 1] = label(instance_fields[i], v);
        }
        sample_init_text(&smp, (struct span){"instance_info", 13}, c.instance[0]);
        smp.labels = labels;
        smp.nlabels = 8;
        c.line = 0;
        out_emit(&o, &smp);
    }
    return o.count;
}
