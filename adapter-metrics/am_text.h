/* am_text.h — the text formats an app's numbers come in: key=value files, JSON documents and
 * Redis INFO. Pure: no I/O. Each emits am_samples with the source's own names (INFO:
 * redis_exporter's, lint-clean). */
#ifndef AM_TEXT_H
#define AM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "am_sample.h"

/*
 * key=value or "key: value" lines (also "key value" is refused: one of the two separators
 * is needed; the first '=' or ':' is the separator); '#' and ';' start comment lines (after
 * blanks; not after a value: "k=1 # one" is refused); blank lines skipped; '\n' or "\r\n" line
 * ends; keys and values trimmed; one pair of matching quotes around a value is dropped
 * (k="42" is 42). Values are numbers (decimal, exponent, hex "0x..", "+Inf"/"-Inf"/"NaN" in
 * any case; up to 127 bytes; past the range of a double: +-Inf), or true/false/yes/no/on/off
 * in any case (1/0). Values that are not numbers are refused with a reason — or, when strings
 * is set, emitted with kind AM_KIND_UNTYPED, value 0 and the text in set_member (for value
 * maps and enum/_info mapping). An empty value is refused either way. Each sample is
 * AM_KIND_UNTYPED. Names and members point into buf.
 * For all three parsers: emit and reject may be NULL; the return value is the number of
 * samples, emitted or not.
 */
size_t am_kv_parse(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                   am_reject_fn *reject, void *arg);

/*
 * A JSON document (jansson): every number and boolean becomes a sample named by its path,
 * object keys joined with '_' ("server.conns" under "stats" -> "stats_server.conns"), array
 * elements by their index ("workers_0_busy"), in the document's order (a repeated key: the
 * last one). Strings like kv's (strings flag; "12" is the number 12). null is skipped.
 * Depth is bounded (64 objects/arrays): deeper parts are refused with a reason. Names are
 * built in a 256-byte scratch buffer: a name past 255 bytes is refused ("name longer than
 * 255 bytes") and so is a value with no name (a top-level number, {"": 1}). Integers past
 * 2^63 are read as doubles. A document that does not parse is one reject: the reason is "not
 * valid JSON" and line is the line jansson reports. That includes what jansson itself
 * refuses: a real past the range of a double (1e400), nesting past 2048, a NUL in a key.
 * Rejects inside a parsed document carry line 0: jansson keeps no positions.
 * Names and members point into the scratch space and jansson's tree, not into buf.
 */
size_t am_json_parse(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                     am_reject_fn *reject, void *arg);

/*
 * Redis INFO (INFO ALL) text: "# Section" headers, "field:value" lines ('\n' or "\r\n").
 * Scalars Redis documents become samples under redis_exporter's names, kind GAUGE or COUNTER
 * as Redis documents them ("used_memory" -> memory_used_bytes; counters such as
 * total_connections_received -> connections_received_total, keyspace_hits/misses, expired/
 * evicted keys have counter_absolute set), except where its name would draw a promtool lint
 * warning or has a non-base unit: then a lint-clean name, and ms/usec become seconds, kbps
 * bytes per second. am_text.c opens with the table of those choices. Fields in no table keep
 * their own name as AM_KIND_UNTYPED. "ok"/"err" values (rdb_last_bgsave_status ...) are 1/0;
 * master_link_status becomes master_link_up (1 for "up"). String fields (redis_version, role,
 * run_id, ...) are emitted like kv's strings when strings is set, else skipped; a field of a
 * table that is not a number is refused. Composite fields are split into labelled samples
 * named as redis_exporter names them, so its dashboards keep working:
 *   db0:keys=1,expires=0,avg_ttl=0      -> db_keys{db="db0"}, db_keys_expiring{db="db0"},
 *                                         db_avg_ttl_seconds{db="db0"} (ms -> s)
 *                                         (also db_keys_cached, db_keys_with_expiring_items)
 *   cmdstat_get:calls=5,usec=12,...      -> commands_total{cmd="get"} (counter),
 *                                         commands_duration_seconds_total{cmd="get"},
 *                                         commands_rejected_calls_total{cmd="get"},
 *                                         commands_failed_calls_total{cmd="get"}
 *   errorstat_ERR:count=3                -> errors_total{err="ERR"}
 *   latency_percentiles_usec_get:p50=1.003,p99=2.007,p99.9=3.001
 *                                        -> latency_percentiles_seconds{cmd="get",
 *                                           percentile="50"} (gauge, usec -> s). Not
 *                                           redis_exporter's latency_percentiles_usec
 *                                           {quantile="0.5"}: that is a summary, which an
 *                                           am_sample cannot be, and on a gauge promtool
 *                                           refuses both the unit and a "quantile" label.
 *   slave0:ip=..,port=..,state=online,offset=..,lag=0
 *                                        -> connected_slave_offset_bytes{slave_ip,slave_port,
 *                                           slave_state}, connected_slave_lag_seconds{...}
 *   master_link_status, master_last_io_seconds_ago, master_sync_in_progress,
 *   slave_repl_offset                    -> {master_host,master_port} once both were seen
 * (names without the "redis_" namespace: the mapping's prefix adds it). With strings, after
 * the rest: instance_info, a string sample whose text is redis_version and whose labels are
 * redis_exporter's redis_instance_info ones (redis_build_id, redis_mode, os,
 * maxmemory_policy, tcp_port, run_id, process_id, role; "" when absent). Lines that do not
 * parse are refused with a reason, and a composite line emits all its samples or none.
 * Names and label names are the field's bytes or static strings; label values and members
 * point into buf.
 */
size_t am_info_parse(const char *buf, size_t len, bool strings, am_sample_fn *emit,
                     am_reject_fn *reject, void *arg);

#endif
