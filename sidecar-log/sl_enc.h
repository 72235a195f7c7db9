/* sl_enc.h — a record as the outputs write it: the raw line, or one JSON object. */
#ifndef SL_ENC_H
#define SL_ENC_H

#include <stddef.h>

#include <event2/buffer.h>

#include "pk_conf.h"
#include "sl_block.h"

enum sl_format {
    SL_FMT_RAW,  /* the record's text as read, then '\n': byte-exact */
    SL_FMT_JSON, /* one JSON object, then '\n' (NDJSON) */
};

/*
 * What every JSON record carries besides its own fields, rendered once:
 *   {"time":"2026-11-22T01:02:03.123456789Z","file":"/logs/app.log","offset":1234,
 *    "message":"the text"[,"stream":"stderr"][,"truncated":true]
 *    [,"pod":..,"namespace":..,"node":..,"container":..][,"label":"value"...]}
 * time: the CRI line's own time for SL_REC_CRI records, else when it was read (UTC, 9
 * fraction digits). pod/namespace/node/container: from POD_NAME, POD_NAMESPACE, NODE_NAME
 * and CONTAINER_NAME in the environment (the Downward API), each only when set and not
 * empty. Labels: --label k=v in their order. With SL_REC_JSON the line's object is put
 * verbatim under "json" instead of "message" (as Filebeat's keys_under_root: false), so no
 * key of the app's can clash with ours. Text that is not valid UTF-8 is escaped bytewise
 * (\u00XX for each byte of an invalid sequence), so the output is always valid JSON.
 */
struct sl_enc {
    char *extra; /* ,"pod":"..",...,"k":"v" — rendered once; "" when none */
    size_t extra_len;
};

/* labels: "k=v" strings (k non-empty; k must not be one of our own field names). Reads the
 * environment now. Returns 0, or -1 with one line in err naming the bad label. */
int sl_enc_init(struct sl_enc *e, const struct pk_strv *labels, char *err, size_t errsz);
void sl_enc_free(struct sl_enc *e);

/* Appends record r of block b and a '\n' to out in format f. Returns 0, or -1 when memory
 * runs out. */
int sl_enc_record(const struct sl_enc *e, enum sl_format f, struct evbuffer *out,
                  const struct sl_block *b, const struct sl_rec *r);

/* Appends len bytes of s as a JSON string, quotes included. Returns 0 or -1 (memory). */
int sl_enc_json_string(struct evbuffer *out, const char *s, size_t len);

/* A record's id, stable across restarts and re-sends: "<src->id>-<offset hex>". Writes it
 * and a NUL into out; returns its length. */
#define SL_ENC_ID_MAX 80
size_t sl_enc_id(const struct sl_block *b, const struct sl_rec *r, char out[SL_ENC_ID_MAX]);

#endif
