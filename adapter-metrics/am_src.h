/* am_src.h — where an app's numbers come from: source URLs, files, HTTP and Redis fetched
 * at scrape time, and statsd listeners (UDP and unixgram read in batches on their own
 * thread, TCP on the loop). Bytes only: parsing is the caller's. */
#ifndef AM_SRC_H
#define AM_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

enum am_src_kind {
    AM_SRC_FILE,       /* file:PATH[?format=kv|json|prom] */
    AM_SRC_HTTP,       /* http://HOST[:PORT][/PATH][?QUERY] (format json by default;
                        * ?format=kv|json|prom is taken out of the query) */
    AM_SRC_REDIS,      /* redis://[[USER]:PASSWORD@]HOST[:PORT] (port 6379); INFO ALL */
    AM_SRC_STATSD_UDP, /* statsd+udp://HOST:PORT */
    AM_SRC_STATSD_TCP, /* statsd+tcp://HOST:PORT */
    AM_SRC_STATSD_UNIX /* statsd+unix:PATH (a unixgram socket, created; an old socket file
                        * there is replaced) */
};

enum am_src_format {
    AM_SRC_FORMAT_KV,
    AM_SRC_FORMAT_JSON,
    AM_SRC_FORMAT_PROM,
    AM_SRC_FORMAT_INFO,
    AM_SRC_FORMAT_STATSD
};

/* A parsed source URL. Strings are owned (am_src_url_clear frees them). */
struct am_src_url {
    enum am_src_kind kind;
    enum am_src_format format; /* file: kv unless ?format=; http: json unless ?format=;
                                * redis: info; statsd: statsd */
    char *path;                /* file and unix: the path; http: path and query ("/" if none) */
    char *host;                /* http, redis, udp, tcp: host or IPv4/IPv6 literal ("[::1]"
                                * written with brackets, stored without); udp, tcp: "" (as in
                                * statsd+udp://:8125) is every address */
    uint16_t port;             /* http: 80 by default; redis: 6379; udp/tcp: required */
    char *user, *password;     /* redis: from the userinfo, %XX-decoded; NULL when absent */
};

/* Parses url. Returns 0, or -1 with one line in err naming what is wrong ("unknown scheme
 * 'ftp'", "statsd+udp needs a port", "format must be kv, json or prom"). Only 'format' is
 * recognised in a file: query; an unknown key is an error. On -1, out is left empty. */
int am_src_url_parse(const char *url, struct am_src_url *out, char *err, size_t errsz);
void am_src_url_clear(struct am_src_url *u);

/* ---- pull sources: file, http, redis ---- */

/* The result of one fetch: data (len bytes, NUL-terminated past len) on success, or
 * err (one line: "GET /stats: connect: Connection refused", "timed out after 2000 ms",
 * "GET /stats: HTTP 500", "open /run/app/stats: No such file or directory", "AUTH: WRONGPASS
 * ...", "larger than 4194304 bytes") with data NULL.
 * Everything lives only for the call. Called from the loop, never from inside
 * am_pull_start. */
typedef void am_pull_fn(void *arg, const char *data, size_t len, const char *err);

struct am_pull;

/* A fetcher for url (a file, http or redis URL), over base. The redis one keeps one
 * connection (hiredis async), made on first use and again after any error, and sends AUTH
 * (with user when given) before INFO ALL; the http one keeps its connection alive.
 * timeout_ms bounds each whole fetch (connect included; 0 or less: no bound; a file read is
 * not bounded); max_bytes (1 to 2^31-1) the reply. NULL with err
 * when url is not a pull source or out of memory. */
struct am_pull *am_pull_create(struct event_base *base, const struct am_src_url *url,
                               int64_t timeout_ms, size_t max_bytes, char *err, size_t errsz);

/* Starts a fetch; cb is called exactly once (unless am_pull_destroy comes first).
 * Returns 0, or -1 when a fetch is already running (cb will not be called for this one). */
int am_pull_start(struct am_pull *p, am_pull_fn *cb, void *arg);

/* True while a fetch runs. */
bool am_pull_busy(const struct am_pull *p);

/* Cancels a running fetch without calling its cb, closes connections, frees. NULL is fine.
 * Safe to call from inside the cb. */
void am_pull_destroy(struct am_pull *p);

/* ---- push sources: statsd ---- */

/* Receives one datagram, or a run of whole lines from a TCP stream (without a final
 * partial line; at EOF a last line without '\n' comes too), on the loop's thread. buf lives
 * only for the call. */
typedef void am_statsd_fn(void *arg, const char *buf, size_t len);

struct am_statsd_in_stats {
    uint64_t packets; /* datagrams, or TCP chunks, handed to the callback */
    uint64_t bytes;
    uint64_t kernel_drops; /* datagrams the kernel dropped (SO_RXQ_OVFL) */
    uint64_t queue_drops;  /* datagrams dropped because the hand-over queue was full */
    uint64_t truncated;    /* datagrams larger than AM_STATSD_DGRAM_MAX, dropped */
    uint64_t tcp_conns;    /* accepted so far */
    uint64_t long_lines;   /* TCP lines over AM_STATSD_LINE_MAX, dropped with their end */
};

#define AM_STATSD_DGRAM_MAX 65535
#define AM_STATSD_LINE_MAX 65536
#define AM_STATSD_QUEUE_BYTES (8u << 20) /* datagrams waiting for the loop, at most */

struct am_statsd_in;

/*
 * Listens on url (a statsd URL). UDP and unixgram: a reader thread takes datagrams with
 * recvmmsg in batches into a bounded queue (AM_STATSD_QUEUE_BYTES) and wakes the loop
 * through an eventfd, so a busy loop (a large scrape) does not make the kernel drop
 * packets; the receive buffer is raised to 8 MiB where allowed (SO_RCVBUFFORCE, else
 * SO_RCVBUF). TCP: accepted on the loop, lines split across reads joined, lines over
 * AM_STATSD_LINE_MAX dropped. NULL with err ("statsd+udp://127.0.0.1:9125: bind: Address
 * already in use") on failure.
 */
struct am_statsd_in *am_statsd_in_create(struct event_base *base, const struct am_src_url *url,
                                         am_statsd_fn *cb, void *arg, char *err, size_t errsz);

/* Stops the thread (joins it), closes sockets (and unlinks the unixgram path), frees.
 * Datagrams still queued are delivered first when drain is true. NULL is fine. Not from
 * inside its own cb. */
void am_statsd_in_destroy(struct am_statsd_in *in, bool drain);

/* Counters so far; reading them is safe from the loop's thread. */
void am_statsd_in_stats(const struct am_statsd_in *in, struct am_statsd_in_stats *out);

/* The port it listens on (udp/tcp; useful after binding port 0), or 0. */
uint16_t am_statsd_in_port(const struct am_statsd_in *in);

#endif
