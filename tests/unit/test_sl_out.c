/* test_sl_out.c — the queue and the local outputs: release order, room, stdout, file: and
 * tcp: against a listener on loopback that is absent, then accepts, then dies mid-stream. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "pk_log.h"
#include "sl_block.h"
#include "sl_enc.h"
#include "sl_out.h"
#include "sl_queue.h"

#define WAIT_MS 20000  /* the deadline of every wait: generous for sanitizers */
#define LINE_LEN 116   /* a line's text; with its '\n' 117 bytes, as in the goal */
#define MAX_BLOCKS 256 /* released blocks remembered */
#define READ_NS 1700000000123456789LL

struct fx {
    char dir[64];
    struct event_base *base;
    struct event *tick; /* wakes the loop every 2 ms: EVLOOP_ONCE never blocks for long */
    struct sl_queue *q;
    struct sl_src *src;
    struct sl_enc enc;
    struct sl_out_conf conf;
    char logpath[96];
    int logfd;
    uint32_t next_line; /* the number of the next line made */
    uint64_t next_off;
    uint64_t released[MAX_BLOCKS]; /* seq of each block released, in order */
    uint64_t released_end[MAX_BLOCKS];
    size_t nreleased;
};

/* ---- helpers ------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void on_released(void *arg, const struct sl_block *b)
{
    struct fx *f = arg;

    assert_true(f->nreleased < MAX_BLOCKS);
    f->released[f->nreleased] = b->seq;
    f->released_end[f->nreleased] = b->end;
    f->nreleased++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[128];
    struct timeval two_ms = {0, 2000};

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_sl_out.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->logpath, sizeof(f->logpath), "%s/log", f->dir);
    f->logfd = open(f->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(f->logfd >= 0);
    pk_log_set_fd(f->logfd);
    pk_log_set_level(PK_LOG_INFO);
    assert_non_null(f->base = event_base_new());
    assert_non_null(f->tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL));
    event_add(f->tick, &two_ms);
    assert_non_null(f->q = sl_queue_new(64u << 20, on_released, f));
    assert_non_null(f->src = sl_src_new("/logs/app.log", 0x803, 0x1234, 0xabcdef));
    assert_int_equal(sl_enc_init(&f->enc, NULL, err, sizeof(err)), 0);
    f->conf = (struct sl_out_conf){
        .batch_records = 500,
        .batch_bytes = 1u << 20,
        .flush_interval_ms = 1000,
        .retry_max = 0,
        .backoff_min_ms = 10,
        .backoff_max_ms = 80,
        .timeout_ms = 5000,
        .format = -1,
    };
    signal(SIGPIPE, SIG_IGN); /* as sidecar-log's main does */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    sl_queue_free(f->q);
    sl_src_unref(f->src);
    sl_enc_free(&f->enc);
    event_free(f->tick);
    event_base_free(f->base);
    pk_log_set_fd(2);
    close(f->logfd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "# could not remove %s\n", f->dir);
    }
    free(f);
    return 0;
}

/* Writes line number n as it is shipped: "L00000042 " and filler up to LINE_LEN bytes. */
static void make_line(char *buf, uint32_t n)
{
    int k = snprintf(buf, LINE_LEN + 1, "L%08" PRIu32 " ", n);

    for (int i = k; i < LINE_LEN; i++) {
        buf[i] = (char)('a' + (n + (uint32_t)i) % 26);
    }
    buf[LINE_LEN] = '\0';
}

/* A block of the next n lines of the test's file. */
static struct sl_block *make_block(struct fx *f, uint32_t n)
{
    struct sl_block *b = sl_block_new(f->src, READ_NS);
    char line[LINE_LEN + 1];

    assert_non_null(b);
    for (uint32_t i = 0; i < n; i++) {
        make_line(line, f->next_line++);
        assert_int_equal(sl_block_add(b, line, LINE_LEN, f->next_off, 0, 0), 0);
        f->next_off += LINE_LEN + 1;
    }
    b->end = f->next_off;
    return b;
}

/* The raw output of lines [from, to). */
static char *raw_lines(uint32_t from, uint32_t to, size_t *len)
{
    char *s = malloc((size_t)(to - from) * (LINE_LEN + 1) + 1);
    size_t n = 0;

    assert_non_null(s);
    for (uint32_t i = from; i < to; i++) {
        make_line(s + n, i);
        n += LINE_LEN;
        s[n++] = '\n';
    }
    s[n] = '\0';
    *len = n;
    return s;
}

typedef bool pred_fn(struct fx *f, void *arg);

/* Runs the loop until pred holds or ms pass; returns whether it held. */
static bool run_until(struct fx *f, pred_fn *pred, void *arg, int ms)
{
    int64_t end = now_ms() + ms;

    while (!pred(f, arg)) {
        if (now_ms() > end) {
            return false;
        }
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    return true;
}

static bool never(struct fx *f, void *arg)
{
    (void)f;
    (void)arg;
    return false;
}

static void run_for(struct fx *f, int ms)
{
    run_until(f, never, NULL, ms);
}

static struct sl_out_stats stats_of(const struct sl_out *o)
{
    struct sl_out_stats st;

    sl_out_stats(o, &st);
    return st;
}

/* For has_records: holds once o acknowledged at least records records. */
struct want_records {
    struct sl_out *o;
    uint64_t records;
};

static bool has_records(struct fx *f, void *arg)
{
    struct want_records *w = arg;
    (void)f;
    return stats_of(w->o).records >= w->records;
}

static bool queue_empty(struct fx *f, void *arg)
{
    (void)arg;
    return sl_queue_empty(f->q);
}

static struct sl_out *new_out(struct fx *f, const char *spec)
{
    char err[256] = "";
    struct sl_out *o = sl_out_new(f->base, f->q, spec, &f->conf, &f->enc, err, sizeof(err));

    if (o == NULL) {
        fail_msg("sl_out_new '%s': %s", spec, err);
    }
    return o;
}

/* The whole of a file (NUL-terminated; the caller frees), or NULL when it does not exist. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *s;
    long n;

    if (fp == NULL) {
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
    s[n] = '\0';
    fclose(fp);
    if (len != NULL) {
        *len = (size_t)n;
    }
    return s;
}

/* How many lines of the log hold needle. */
static unsigned log_count(struct fx *f, const char *needle)
{
    char *log = slurp(f->logpath, NULL);
    unsigned n = 0;

    assert_non_null(log);
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        n += strstr(line, needle) != NULL;
    }
    free(log);
    return n;
}

static void assert_file_equal(const char *path, const char *want, size_t want_len)
{
    size_t len = 0;
    char *got = slurp(path, &len);

    if (got == NULL) {
        fail_msg("%s does not exist", path);
    }
    if (len != want_len || memcmp(got, want, len) != 0) {
        fail_msg("%s: %zu bytes, want %zu", path, len, want_len);
    }
    free(got);
}

/*
 * Runs the loop for ms while o cannot deliver and checks the outage: o is down, delivered
 * nothing, tried again at least min_retries times and, the back-off doubling, at most
 * max_retries (about ms / backoff_min_ms without it); it logged the first failure, then at
 * most one line per back-off cap. A loop that overran ms under load is allowed for.
 */
static void check_outage(struct fx *f, struct sl_out *o, int ms, uint64_t min_retries,
                         uint64_t max_retries)
{
    int64_t t0 = now_ms();
    run_for(f, ms);
    int64_t over = now_ms() - t0 - ms;
    int64_t cap = f->conf.backoff_max_ms;
    struct sl_out_stats st = stats_of(o);
    unsigned logged = log_count(f, sl_out_spec(o));

    assert_true(st.down);
    assert_int_equal(st.records, 0);
    assert_true(st.retries >= min_retries);
    assert_true(st.retries <= max_retries + (uint64_t)(over / (cap * 3 / 4)));
    assert_true(logged >= 1);
    assert_true(logged <= 1 + (ms + over) / cap);
}

/* The file holds exactly lines [from, to), raw. */
static void assert_file_lines(const char *path, uint32_t from, uint32_t to)
{
    size_t len;
    char *want = raw_lines(from, to, &len);

    assert_file_equal(path, want, len);
    free(want);
}

/* ---- the queue ------------------------------------------------------------------------ */

/* Without an output a block leaves at once: nobody has to acknowledge it. */
static void test_queue_without_outputs(void **state)
{
    struct fx *f = *state;

    assert_true(sl_queue_empty(f->q));
    assert_null(sl_queue_after(f->q, 0));
    for (int i = 0; i < 3; i++) {
        sl_queue_push(f->q, make_block(f, 2));
    }
    assert_int_equal(f->nreleased, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(f->released[i], i + 1);
        assert_int_equal(f->released_end[i], (i + 1) * 2 * (LINE_LEN + 1));
    }
    assert_true(sl_queue_empty(f->q));
    assert_int_equal(sl_queue_bytes(f->q), 0);
    assert_int_equal(sl_queue_room(f->q), 64u << 20);
}

/* Replaces fd 1 with the write end of a small non-blocking pipe; returns its read end. */
static int stdout_to_pipe(int *saved)
{
    int p[2];

    fflush(stdout);
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    (void)fcntl(p[1], F_SETPIPE_SZ, 4096); /* the smallest; 64 KiB if refused */
    assert_true((*saved = dup(1)) >= 0);
    assert_int_equal(dup2(p[1], 1), 1);
    close(p[1]);
    return p[0];
}

static void stdout_back(int saved)
{
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
}

/* Reads what the pipe holds now onto buf (at *len, room for cap). */
static void drain(int fd, char *buf, size_t *len, size_t cap)
{
    ssize_t n;

    while (*len < cap && (n = read(fd, buf + *len, cap - *len)) > 0) {
        *len += (size_t)n;
    }
}

/*
 * Two outputs acknowledge at different times: a file at once, stdout (a full pipe) only as
 * the test reads it. Blocks leave in order, only once both acknowledged them, and the room
 * follows what is held.
 */
static void test_queue_two_outputs(void **state)
{
    struct fx *f = *state;
    char path[128];
    int saved, rd = stdout_to_pipe(&saved);
    size_t want_len, got_len = 0;
    char *want = raw_lines(0, 2010, &want_len);
    char *got = malloc(want_len + 1);
    struct sl_block *b[3];
    size_t mem = 0;

    assert_non_null(got);
    f->conf.batch_records = 2000; /* the last two blocks make one batch */
    b[0] = make_block(f, 1000);   /* 117 KB: more than the pipe holds */
    b[1] = make_block(f, 1000);
    b[2] = make_block(f, 10);
    for (int i = 0; i < 3; i++) {
        mem += sl_block_mem(b[i]);
    }
    sl_queue_free(f->q); /* for one that all three fill */
    assert_non_null(f->q = sl_queue_new(mem - 1, on_released, f));
    snprintf(path, sizeof(path), "file:%s/a.log", f->dir);
    struct sl_out *fast = new_out(f, path);
    struct sl_out *slow = new_out(f, "stdout");

    uint64_t end0 = b[0]->end, end1 = b[1]->end, end2 = b[2]->end;
    size_t mem12 = sl_block_mem(b[1]) + sl_block_mem(b[2]);
    for (int i = 0; i < 3; i++) {
        sl_queue_push(f->q, b[i]);
    }
    run_for(f, 50);
    assert_int_equal(stats_of(fast).records, 2010); /* the file took everything */
    assert_int_equal(stats_of(slow).records, 0);    /* stdout is stuck in the first block */
    assert_int_equal(f->nreleased, 0);
    assert_int_equal(sl_queue_bytes(f->q), mem);
    assert_int_equal(sl_queue_room(f->q), 0);

    /* Read until stdout acknowledged the first block: it is stuck in the second one. */
    int64_t end = now_ms() + WAIT_MS;
    while (stats_of(slow).records < 1000 && now_ms() < end) {
        drain(rd, got, &got_len, want_len);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    assert_int_equal(stats_of(slow).records, 1000);
    assert_int_equal(f->nreleased, 1);
    assert_int_equal(f->released[0], 1);
    assert_int_equal(f->released_end[0], end0);
    assert_int_equal(sl_queue_bytes(f->q), mem12);
    assert_int_equal(sl_queue_room(f->q), mem - 1 - mem12);

    while ((f->nreleased < 3 || got_len < want_len) && now_ms() < end) {
        drain(rd, got, &got_len, want_len);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    stdout_back(saved);
    close(rd);
    assert_int_equal(f->nreleased, 3);
    assert_int_equal(f->released[1], 2);
    assert_int_equal(f->released[2], 3);
    assert_int_equal(f->released_end[1], end1);
    assert_int_equal(f->released_end[2], end2);
    assert_true(sl_queue_empty(f->q));
    assert_int_equal(sl_queue_room(f->q), mem - 1);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    assert_file_equal(path + 5, want, want_len);
    struct sl_out_stats st = stats_of(slow);
    assert_int_equal(st.records, 2010);
    assert_int_equal(st.bytes, 2010 * LINE_LEN);
    assert_int_equal(st.batches, 2); /* the first block alone (the others came later) */
    assert_int_equal(st.retries, 0);
    assert_int_equal(stats_of(fast).batches, 3);
    assert_false(st.down);
    assert_true(st.last_ok_ns > 0);
    sl_out_free(fast);
    sl_out_free(slow);
    free(want);
    free(got);
}

/* An output sees only the blocks pushed after it was made; a block without records only
 * carries a position and never reaches the driver. */
static void test_queue_late_output_and_empty_block(void **state)
{
    struct fx *f = *state;
    char spec[160], path[128];
    int saved, rd = stdout_to_pipe(&saved);
    size_t want_len;
    char *want = raw_lines(1000, 1010, &want_len);

    struct sl_out *stuck = new_out(f, "stdout");
    sl_queue_push(f->q, make_block(f, 1000)); /* stdout holds it: it stays queued */
    snprintf(path, sizeof(path), "%s/late.log", f->dir);
    snprintf(spec, sizeof(spec), "file:%s", path);
    struct sl_out *late = new_out(f, spec);
    struct sl_block *empty = sl_block_new(f->src, READ_NS);
    empty->end = 123456;
    sl_queue_push(f->q, empty);
    run_for(f, 20);
    assert_int_equal(stats_of(late).records, 0);
    assert_null(slurp(path, NULL)); /* not even opened */
    sl_queue_push(f->q, make_block(f, 10));
    run_for(f, 20);
    assert_int_equal(stats_of(late).records, 10);
    assert_int_equal(stats_of(late).batches, 1);
    assert_file_equal(path, want, want_len);
    assert_int_equal(f->nreleased, 0); /* stdout still owes the first block */

    sl_out_free(stuck); /* what it owed stays queued: never released on its behalf */
    stdout_back(saved);
    close(rd);
    run_for(f, 20);
    assert_int_equal(f->nreleased, 0);
    assert_false(sl_queue_empty(f->q));
    sl_out_free(late);
    free(want);
}

/* ---- file: ---------------------------------------------------------------------------- */

/* Raw is byte-exact whatever the text holds; json lines are objects jansson reads. */
static void test_file_raw_and_json(void **state)
{
#define S(lit) lit, sizeof(lit) - 1 /* texts may hold NUL bytes */
    static const struct {
        const char *text;
        size_t len;
        uint32_t flags;
        int64_t time_ns;
    } recs[] = {
        {S("plain"), 0, 0},
        {S(""), 0, 0},
        {S("tab\there \"quoted\" back\\slash"), 0, 0},
        {S("bad \xff\xfe utf-8 and NUL \x00 inside"), SL_REC_TRUNCATED, 0},
        {S("caf\xc3\xa9"), SL_REC_CRI | SL_REC_STDERR, 1709251199999999999LL},
        {S("{\"level\":\"warn\",\"n\":1}"), SL_REC_JSON, 0},
        {S("last"), SL_REC_NO_NEWLINE, 0},
    };
#undef S
    size_t nrecs = sizeof(recs) / sizeof(recs[0]);
    struct fx *f = *state;
    char raw_path[128], json_path[128], spec[160];
    char want[1024];
    size_t want_len = 0;

    snprintf(raw_path, sizeof(raw_path), "%s/raw.log", f->dir);
    snprintf(json_path, sizeof(json_path), "%s/out.json", f->dir);
    snprintf(spec, sizeof(spec), "file:%s", raw_path);
    struct sl_out *raw = new_out(f, spec);
    snprintf(spec, sizeof(spec), "file:%s?format=json", json_path);
    struct sl_out *json = new_out(f, spec);
    assert_int_equal(sl_out_format(raw), SL_FMT_RAW);
    assert_int_equal(sl_out_format(json), SL_FMT_JSON);
    assert_string_equal(sl_out_spec(json), spec);

    /* Two blocks: an immediate output sends each as it comes. */
    struct sl_block *b1 = sl_block_new(f->src, READ_NS);
    struct sl_block *b2 = sl_block_new(f->src, READ_NS);
    for (size_t i = 0; i < nrecs; i++) {
        assert_int_equal(sl_block_add(i < 3 ? b1 : b2, recs[i].text, recs[i].len, i * 100,
                                      recs[i].time_ns, recs[i].flags),
                         0);
        memcpy(want + want_len, recs[i].text, recs[i].len);
        want_len += recs[i].len;
        want[want_len++] = '\n';
    }
    b1->end = 300;
    b2->end = 700;
    sl_queue_push(f->q, b1);
    sl_queue_push(f->q, b2);
    assert_true(run_until(f, queue_empty, NULL, WAIT_MS));
    assert_file_equal(raw_path, want, want_len);

    char *text = slurp(json_path, NULL);
    assert_non_null(text);
    size_t i = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"), i++) {
        json_error_t jerr;
        json_t *j = json_loads(line, JSON_ALLOW_NUL, &jerr);
        if (j == NULL) {
            fail_msg("line %zu is not JSON (%s): %s", i, jerr.text, line);
        }
        assert_true(i < nrecs);
        assert_string_equal(json_string_value(json_object_get(j, "file")), "/logs/app.log");
        assert_int_equal(json_integer_value(json_object_get(j, "offset")), i * 100);
        const char *want_time = (recs[i].flags & SL_REC_CRI) != 0
                                    ? "2024-02-29T23:59:59.999999999Z"
                                    : "2023-11-14T22:13:20.123456789Z";
        assert_string_equal(json_string_value(json_object_get(j, "time")), want_time);
        if (recs[i].flags & SL_REC_JSON) {
            assert_null(json_object_get(j, "message"));
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "json"), "level")), "warn");
        } else if (i != 3) { /* (3 holds invalid UTF-8: its escapes are test_sl_enc's) */
            json_t *m = json_object_get(j, "message");
            assert_int_equal(json_string_length(m), recs[i].len);
            assert_memory_equal(json_string_value(m), recs[i].text, recs[i].len);
        }
        assert_int_equal(json_is_true(json_object_get(j, "truncated")),
                         (recs[i].flags & SL_REC_TRUNCATED) != 0);
        if (recs[i].flags & SL_REC_CRI) {
            assert_string_equal(json_string_value(json_object_get(j, "stream")), "stderr");
        } else {
            assert_null(json_object_get(j, "stream"));
        }
        json_decref(j);
    }
    assert_int_equal(i, nrecs);
    free(text);
    assert_int_equal(stats_of(json).batches, 2);
    assert_int_equal(stats_of(json).records, nrecs);
    assert_int_equal(f->nreleased, 2);
    sl_out_free(raw);
    sl_out_free(json);
}

/* logrotate renames or removes our own output file: the next batch (after the once-a-second
 * check) goes to a new file of the same name. */
static void test_file_reopen(void **state)
{
    struct fx *f = *state;
    char path[128], moved[140], spec[160];

    snprintf(path, sizeof(path), "%s/r.log", f->dir);
    snprintf(moved, sizeof(moved), "%s.1", path);
    snprintf(spec, sizeof(spec), "file:%s", path);
    struct sl_out *o = new_out(f, spec);

    sl_queue_push(f->q, make_block(f, 3));
    assert_true(run_until(f, queue_empty, NULL, WAIT_MS));
    assert_int_equal(rename(path, moved), 0);
    run_for(f, 1100);
    sl_queue_push(f->q, make_block(f, 4));
    assert_true(run_until(f, queue_empty, NULL, WAIT_MS));
    assert_file_lines(moved, 0, 3);
    assert_file_lines(path, 3, 7);

    assert_int_equal(unlink(path), 0);
    run_for(f, 1100);
    sl_queue_push(f->q, make_block(f, 2));
    assert_true(run_until(f, queue_empty, NULL, WAIT_MS));
    assert_file_lines(path, 7, 9);
    assert_int_equal(log_count(f, "was rotated or removed"), 2);
    sl_out_free(o);
}

/* A file that cannot be opened is retried with back-off, logged once per back-off cap at
 * most, and everything arrives exactly once when it can. */
static void test_file_retry_and_recover(void **state)
{
    struct fx *f = *state;
    char sub[128], path[160], spec[170];

    f->conf.backoff_min_ms = 5;
    f->conf.backoff_max_ms = 100;
    snprintf(sub, sizeof(sub), "%s/sub", f->dir);
    snprintf(path, sizeof(path), "%s/x.log", sub);
    snprintf(spec, sizeof(spec), "file:%s", path);
    struct sl_out *o = new_out(f, spec);
    sl_queue_push(f->q, make_block(f, 5));
    sl_queue_push(f->q, make_block(f, 5));
    check_outage(f, o, 450, 4, 12);
    assert_int_equal(log_count(f, "No such file or directory; retrying in"), 1);

    assert_int_equal(mkdir(sub, 0700), 0);
    struct want_records w = {o, 10};
    assert_true(run_until(f, has_records, &w, WAIT_MS));
    assert_true(run_until(f, queue_empty, NULL, WAIT_MS));
    struct sl_out_stats st = stats_of(o);
    assert_false(st.down);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.batches, 2); /* the first batch was the first block only */
    assert_int_equal(log_count(f, "recovered after"), 1);
    assert_file_lines(path, 0, 10);
    sl_out_free(o);
}

/* ---- tcp: ---------------------------------------------------------------------------- */

/* A socket bound to a free port of host (127.0.0.1 or ::1), not listening yet: connections
 * to it are refused until listen(). -1 when the family is not there. */
static int bound_socket(int family, uint16_t *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET) {
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* The receiving end: complete lines are parsed into their numbers; a partial line at the
 * end of a connection is dropped (the peer died in the middle of it). */
struct peer {
    int fd; /* the accepted connection, -1: none */
    char part[4096];
    size_t part_len;
    uint32_t *seen; /* line numbers in the order they arrived */
    unsigned *conn; /* ... and the connection each came on (1, 2, ...) */
    size_t nseen, cap;
    unsigned nconn;
};

static void peer_line(struct peer *p, const char *line, size_t len)
{
    const char *m = memmem(line, len, "\"message\":\"L", 12);
    const char *num = m != NULL ? m + 12 : (len > 0 && line[0] == 'L' ? line + 1 : NULL);

    if (num == NULL) {
        fail_msg("unexpected line: %.*s", (int)len, line);
    }
    assert_true(p->nseen < p->cap);
    p->seen[p->nseen] = (uint32_t)strtoul(num, NULL, 10);
    p->conn[p->nseen] = p->nconn;
    p->nseen++;
}

/* Accepts a connection if none is open, then reads all that is there. */
static void peer_pump(struct peer *p, int lfd)
{
    char buf[65536];
    ssize_t n;

    if (p->fd < 0) {
        p->fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (p->fd < 0) {
            return;
        }
        p->nconn++;
        p->part_len = 0;
    }
    while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
        size_t at = 0;
        for (size_t i = 0; i < (size_t)n; i++) {
            if (buf[i] != '\n') {
                continue;
            }
            if (p->part_len > 0) {
                assert_true(p->part_len + i - at <= sizeof(p->part));
                memcpy(p->part + p->part_len, buf + at, i - at);
                peer_line(p, p->part, p->part_len + i - at);
                p->part_len = 0;
            } else {
                peer_line(p, buf + at, i - at);
            }
            at = i + 1;
        }
        assert_true(p->part_len + (size_t)n - at <= sizeof(p->part));
        memcpy(p->part + p->part_len, buf + at, (size_t)n - at);
        p->part_len += (size_t)n - at;
    }
    if (n == 0) { /* the output closed it */
        close(p->fd);
        p->fd = -1;
    }
}

/* Closes the connection with a RST, as a peer that crashed. */
static void peer_kill(struct peer *p)
{
    struct linger lg = {1, 0};

    setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(p->fd);
    p->fd = -1;
    p->part_len = 0;
}

static void peer_init(struct peer *p, size_t cap)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    p->cap = cap;
    p->seen = calloc(cap, sizeof(*p->seen));
    p->conn = calloc(cap, sizeof(*p->conn));
    assert_non_null(p->seen);
    assert_non_null(p->conn);
}

static void peer_free(struct peer *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    free(p->seen);
    free(p->conn);
}

/*
 * The listener is first absent (retries with back-off, logged sparingly), then accepts, then
 * dies with a batch in flight. TCP has no acknowledgement, so the test kills the connection
 * only when it has read every line the output counts as delivered and part of the batch in
 * flight: then nothing may be lost, and only that batch may come twice. Order is kept on
 * each connection, and the second one starts with the batch that was cut.
 */
static void test_tcp(void **state)
{
    enum { NBLOCKS = 12, PER_BLOCK = 500, TOTAL = NBLOCKS * PER_BLOCK };
    struct fx *f = *state;
    uint16_t port;
    int lfd = bound_socket(AF_INET, &port);
    char spec[64];
    struct peer p;

    assert_true(lfd >= 0);
    peer_init(&p, 2 * TOTAL);
    snprintf(spec, sizeof(spec), "tcp://127.0.0.1:%u", port);
    struct sl_out *o = new_out(f, spec);
    assert_int_equal(sl_out_format(o), SL_FMT_JSON);
    for (int i = 0; i < NBLOCKS; i++) {
        sl_queue_push(f->q, make_block(f, PER_BLOCK));
    }

    /* Absent: refused, tried again after 10, 20, 40, 80, 80... ms, logged sparingly. */
    check_outage(f, o, 400, 3, 12);
    assert_int_equal(log_count(f, "retrying in"), log_count(f, spec));
    struct sl_out_stats st;

    /* Accepts, then dies in the middle of a batch. */
    assert_int_equal(listen(lfd, 16), 0);
    bool killed = false;
    uint64_t kill_acked = 0;
    size_t seen_before_kill = 0;
    int64_t end = now_ms() + WAIT_MS;
    while (now_ms() < end) {
        event_base_loop(f->base, EVLOOP_ONCE);
        peer_pump(&p, lfd);
        st = stats_of(o);
        if (!killed && p.fd >= 0 && st.batches >= 2 && p.nseen > st.records) {
            kill_acked = st.records;
            seen_before_kill = p.nseen;
            peer_kill(&p);
            killed = true;
        }
        if (killed && st.records == TOTAL && sl_queue_empty(f->q) && p.fd >= 0) {
            /* Everything was written: read the rest. */
            int64_t drain_end = now_ms() + 2000;
            while (p.nseen < TOTAL + (seen_before_kill - kill_acked) && now_ms() < drain_end) {
                peer_pump(&p, lfd);
                event_base_loop(f->base, EVLOOP_ONCE);
            }
            break;
        }
    }
    assert_true(killed);
    assert_int_equal(p.nconn, 2);
    st = stats_of(o);
    assert_int_equal(st.records, TOTAL);
    assert_int_equal(st.dropped, 0);
    assert_false(st.down);
    assert_true(sl_queue_empty(f->q));
    assert_int_equal(f->nreleased, NBLOCKS);

    /* Nothing lost; duplicates only of the batch in flight when the peer died. */
    unsigned *count = calloc(TOTAL, sizeof(*count));
    assert_non_null(count);
    for (size_t i = 0; i < p.nseen; i++) {
        assert_true(p.seen[i] < TOTAL);
        count[p.seen[i]]++;
    }
    for (uint32_t n = 0; n < TOTAL; n++) {
        bool in_flight = n >= kill_acked && n < kill_acked + PER_BLOCK;
        if (count[n] == 0 || count[n] > (in_flight ? 2u : 1u)) {
            fail_msg("line %" PRIu32 " seen %u times (the batch in flight: from %" PRIu64 ")", n,
                     count[n], kill_acked);
        }
    }
    assert_true(seen_before_kill > kill_acked);
    assert_int_equal(p.nseen, TOTAL + (seen_before_kill - kill_acked));
    /* In order on each connection; the second starts with the batch that was cut. */
    bool first_of_second = true;
    for (size_t i = 0; i < p.nseen; i++) {
        if (p.conn[i] == 2 && first_of_second) {
            assert_int_equal(p.seen[i], kill_acked);
            first_of_second = false;
        } else if (i > 0) {
            assert_int_equal(p.seen[i], p.seen[i - 1] + 1);
        }
    }
    assert_int_equal(log_count(f, "recovered after"), 2);
    free(count);
    peer_free(&p);
    close(lfd);
    sl_out_free(o);
}

/* With retry_max, a batch that failed that many times is dropped, counted and logged, and
 * acknowledged so that the pipeline moves on. */
static void test_tcp_retry_max(void **state)
{
    struct fx *f = *state;
    uint16_t port;
    int lfd = bound_socket(AF_INET, &port); /* never listens */
    char spec[64];

    assert_true(lfd >= 0);
    f->conf.retry_max = 2;
    f->conf.backoff_min_ms = 5;
    f->conf.backoff_max_ms = 10;
    f->conf.batch_records = 10;
    snprintf(spec, sizeof(spec), "tcp://127.0.0.1:%u?format=raw", port);
    struct sl_out *o = new_out(f, spec);
    assert_int_equal(sl_out_format(o), SL_FMT_RAW);
    for (int i = 0; i < 3; i++) {
        sl_queue_push(f->q, make_block(f, 10));
    }
    assert_true(run_until(f, queue_empty, NULL, WAIT_MS));
    struct sl_out_stats st = stats_of(o);
    assert_int_equal(st.dropped, 30);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.retries, 3); /* one retry of each batch */
    assert_true(st.down);
    assert_int_equal(f->nreleased, 3);
    assert_true(log_count(f, "gave up on 10 records after 2 tries") >= 1);
    sl_out_free(o);
    close(lfd);
}

/* An output freed while it waits to retry, or with a batch in flight, leaves its blocks
 * queued and nothing behind (the sanitizers' part). */
static void test_tcp_free_midway(void **state)
{
    struct fx *f = *state;
    uint16_t port1, port2;
    int refused = bound_socket(AF_INET, &port1);
    int silent = bound_socket(AF_INET, &port2); /* listens, never accepts nor reads */
    char spec[64];

    assert_true(refused >= 0 && silent >= 0);
    assert_int_equal(listen(silent, 4), 0);
    snprintf(spec, sizeof(spec), "tcp://127.0.0.1:%u", port1);
    struct sl_out *backing_off = new_out(f, spec);
    snprintf(spec, sizeof(spec), "tcp://127.0.0.1:%u", port2);
    struct sl_out *in_flight = new_out(f, spec);
    for (int i = 0; i < 20; i++) {
        sl_queue_push(f->q, make_block(f, 500));
    }
    run_for(f, 100);
    assert_true(stats_of(backing_off).down);
    sl_out_free(backing_off);
    sl_out_free(in_flight);
    run_for(f, 20);
    assert_false(sl_queue_empty(f->q));
    close(refused);
    close(silent);
}

/* IPv6 loopback, and a host name (localhost, from /etc/hosts). */
static void test_tcp_ipv6_and_name(void **state)
{
    struct fx *f = *state;
    const struct {
        int family;
        const char *host;
    } cases[] = {{AF_INET6, "[::1]"}, {AF_INET, "localhost"}};

    for (size_t c = 0; c < 2; c++) {
        uint16_t port;
        int lfd = bound_socket(cases[c].family, &port);
        char spec[64];
        struct peer p;

        if (lfd < 0) {
            fprintf(stderr, "# %s: no loopback of that family here, skipped\n", cases[c].host);
            continue;
        }
        assert_int_equal(listen(lfd, 4), 0);
        peer_init(&p, 100);
        snprintf(spec, sizeof(spec), "tcp://%s:%u", cases[c].host, port);
        struct sl_out *o = new_out(f, spec);
        uint32_t first = f->next_line;
        sl_queue_push(f->q, make_block(f, 20));
        int64_t end = now_ms() + WAIT_MS;
        while (p.nseen < 20 && now_ms() < end) {
            event_base_loop(f->base, EVLOOP_ONCE);
            peer_pump(&p, lfd);
        }
        if (p.nseen < 20) {
            fail_msg("%s: %zu lines of 20 arrived", spec, p.nseen);
        }
        for (uint32_t i = 0; i < 20; i++) {
            assert_int_equal(p.seen[i], first + i);
        }
        sl_out_free(o);
        peer_free(&p);
        close(lfd);
    }
}

/* ---- specs ----------------------------------------------------------------------------- */

static void test_specs(void **state)
{
    static const struct {
        const char *spec;
        int conf_format; /* sl_out_conf.format */
        int want;        /* the format, or -1: refused with err */
        const char *err;
    } specs[] = {
        {"stdout", -1, SL_FMT_RAW, NULL},
        {"stdout?format=json", -1, SL_FMT_JSON, NULL},
        {"stdout", SL_FMT_JSON, SL_FMT_JSON, NULL},
        {"stdout?format=raw", SL_FMT_JSON, SL_FMT_RAW, NULL},
        {"stdout?format=xml", -1, -1,
         "--output 'stdout?format=xml': format must be raw or json, "
         "not 'xml'"},
        {"stdout?format=", -1, -1, "--output 'stdout?format=': format must be raw or json, not ''"},
        {"stdout:x", -1, -1, "--output 'stdout:x': stdout takes no parameters but format"},
        {"stdout?x=1", -1, -1, "--output 'stdout?x=1': stdout takes no parameters but format"},
        {"file:/nonexistent/x.log", -1, SL_FMT_RAW, NULL},
        {"file:/nonexistent/x.log?format=json", -1, SL_FMT_JSON, NULL},
        {"file:", -1, -1, "--output 'file:': expected file:PATH"},
        {"file:?format=json", -1, -1, "--output 'file:?format=json': expected file:PATH"},
        {"tcp://127.0.0.1:5170", -1, SL_FMT_JSON, NULL},
        {"tcp://127.0.0.1:5170?format=raw", -1, SL_FMT_RAW, NULL},
        {"tcp://[::1]:5170", -1, SL_FMT_JSON, NULL},
        {"tcp://logs.example.com:5170", SL_FMT_RAW, SL_FMT_RAW, NULL},
        {"tcp://x", -1, -1, "--output 'tcp://x': no port"},
        {"tcp://[::1]", -1, -1, "--output 'tcp://[::1]': no port"},
        {"tcp://:5170", -1, -1, "--output 'tcp://:5170': no host"},
        {"tcp://127.0.0.1:0", -1, -1, "--output 'tcp://127.0.0.1:0': port 0"},
        {"tcp://127.0.0.1:70000", -1, -1,
         "--output 'tcp://127.0.0.1:70000': invalid port (expected 0 to 65535)"},
        {"tcp://unix:/run/x.sock", -1, -1,
         "--output 'tcp://unix:/run/x.sock': expected tcp://HOST:PORT"},
        {"tcp:127.0.0.1:5170", -1, -1, "--output 'tcp:127.0.0.1:5170': expected tcp://HOST:PORT"},
        {"tcp://a:1/path", -1, -1, "--output 'tcp://a:1/path': invalid port (expected 0 to 65535)"},
        {"udp://x:1", -1, -1,
         "--output 'udp://x:1': unknown output (expected stdout, file:PATH, "
         "tcp://HOST:PORT, http://HOST:PORT/PATH, es://HOST:PORT/INDEX or "
         "redis://HOST:PORT/KEY)"},
        {"", -1, -1,
         "--output '': unknown output (expected stdout, file:PATH, tcp://HOST:PORT, "
         "http://HOST:PORT/PATH, es://HOST:PORT/INDEX or redis://HOST:PORT/KEY)"},
        {"STDOUT", -1, -1, NULL}, /* refused: any message */
    };
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        char err[512] = "";
        f->conf.format = specs[i].conf_format;
        struct sl_out *o =
            sl_out_new(f->base, f->q, specs[i].spec, &f->conf, &f->enc, err, sizeof(err));
        if (specs[i].want < 0) {
            if (o != NULL || (specs[i].err != NULL && strcmp(err, specs[i].err) != 0)) {
                fail_msg("specs[%zu] '%s': err '%s', want '%s'", i, specs[i].spec, err,
                         specs[i].err != NULL ? specs[i].err : "(refused)");
            }
            continue;
        }
        if (o == NULL) {
            fail_msg("specs[%zu] '%s': refused: %s", i, specs[i].spec, err);
        }
        if ((int)sl_out_format(o) != specs[i].want) {
            fail_msg("specs[%zu] '%s': format %d, want %d", i, specs[i].spec, sl_out_format(o),
                     specs[i].want);
        }
        assert_string_equal(sl_out_spec(o), specs[i].spec);
        assert_ptr_equal(sl_out_base(o), f->base);
        assert_ptr_equal(sl_out_enc(o), &f->enc);
        assert_ptr_equal(sl_out_conf(o), &f->conf);
        sl_out_free(o);
    }
    sl_out_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_without_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_two_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_late_output_and_empty_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_raw_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_retry_and_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_retry_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_free_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_ipv6_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_specs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
