/* sl_lines.c — one file's bytes to records: lines, the held last line, the cut at max_line,
 * CRI joins, multiline groups, and the file order records leave in. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pk_cri.h"
#include "sl_block.h"
#include "sl_lines.h"

/*
 * A line's way:
 *
 *   bytes --split at '\n'--> a line (the last one, while its '\n' has not come, is held)
 *         --cri: parsed, P parts joined with their F--> a line of a stream
 *         --multiline: grouped--> a record of a stream
 *         --in file order--> emit
 *
 * raw and json have one stream. cri has three: stdout, stderr, and the lines that are not
 * CRI records, which are shipped as raw text and never joined or grouped.
 *
 * Records leave in the file order of their first bytes, so that resume_offset is exact: a
 * record done while an earlier one of another stream still waits (a P part without its F, a
 * group) is copied into its stream's queue until that one leaves. When the queues pass
 * queue_max, the record in the way leaves as it is (a join with the parts it has so far, a
 * group with the lines it has): memory stays bounded whatever a stream does.
 *
 * Only what waits is copied: the held line, joins, groups, queues. Every buffer of text is
 * at most max_line bytes (the held line max_line + CRI_HEAD, so that a cut CRI line still
 * has its head): the rest of a longer line is counted, never kept.
 *
 * Out of memory: a line's allocations all happen before anything about it changes, so a line
 * that fails is as if it had not come. The lines before it in the same feed are taken
 * (l->taken passes l->fed); the caller feeds the same bytes again and those are skipped.
 */

#define STREAMS 3
#define S_RAW 2         /* cri: lines that are not CRI records */
#define CRI_HEAD 256    /* a cri line's head (time, stream, tags) is at most this long */
#define QUEUE_MAX 65536 /* bytes held back for file order before the blocker is let go */
#define BUF_FIRST 256   /* a buffer's first size */
#define NS 1000000000LL

/* A record in the making: a cri join (P parts so far) or a multiline group. */
struct pend {
    char *buf;
    size_t len, cap;  /* len <= max_line */
    uint64_t dropped; /* text bytes cut away so far */
    uint64_t offset;  /* where its first line starts */
    int64_t time_ns;  /* its first line's cri time, else 0 */
    int64_t last_ns;  /* group: the now_ns its last line came at */
    uint32_t flags;
    bool active;
};

/* A record on its way out. text lives as long as what it points into (the caller's buffer,
 * the held line, a join, a group). */
struct rec {
    const char *text;
    size_t len; /* <= max_line */
    uint64_t offset;
    uint64_t dropped;
    int64_t time_ns;
    uint32_t flags; /* SL_REC_TRUNCATED is set on the way out, from dropped */
    bool queue;     /* record_prepare: it waits behind another stream's */
};

/* A stream's records that are done but wait for an earlier one of another stream. Their text
 * is one run of bytes, in order, from text[tfirst]. */
struct qrec {
    size_t at, len;
    uint64_t offset, dropped;
    int64_t time_ns;
    uint32_t flags;
};

struct queue {
    struct qrec *rec;
    size_t first, n, cap;
    char *text;
    size_t tfirst, tlen, tcap;
};

struct sl_lines {
    const struct sl_lines_conf *conf;
    pcre2_match_data *md; /* multiline: made once, used by every match */
    size_t max;           /* conf->max_line, at least 1 */
    size_t line_max;      /* bytes of a line kept while it is held */
    size_t queue_max;
    int nstreams;
    bool fast;      /* raw, no multiline: lines go straight from the caller's bytes */
    uint64_t fed;   /* sl_lines_offset */
    uint64_t taken; /* every byte before it is in a line handled or in the held line */

    /* The last line, without its '\n' yet: its first held_len bytes of held_total. */
    char *held;
    size_t held_len, held_cap;
    uint64_t held_total, held_off;

    struct pend join[STREAMS], group[STREAMS];
    struct queue q[STREAMS];
    size_t queued;       /* records in the queues */
    size_t queued_bytes; /* their text and bookkeeping */

    struct sl_lines_stats st;

    /* The call being served. */
    int64_t now;
    sl_lines_emit_fn *emit;
    void *arg;
};

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Makes *p (of *cap elements of size each) hold at least need (and 1) elements, growing by
 * doubling but never past max unless need asks for more. 0, or -1 with *p untouched. */
static int grow(void **p, size_t *cap, size_t need, size_t each, size_t max)
{
    size_t n = *cap > 0 ? *cap : BUF_FIRST;
    void *q;

    need = need > 0 ? need : 1;
    if (need <= *cap) {
        return 0;
    }
    while (n < need) {
        n = n <= SIZE_MAX / 2 ? n * 2 : need;
    }
    n = n > max && max >= need ? max : n;
    if (n > SIZE_MAX / each || (q = realloc(*p, n * each)) == NULL) {
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

static int grow_text(char **p, size_t *cap, size_t need, size_t max)
{
    void *v = *p;
    int rc = grow(&v, cap, need, 1, max);

    *p = v;
    return rc;
}

/* A record of the first len bytes of a text of total bytes. */
static struct rec make_rec(const char *text, size_t len, uint64_t total, uint64_t offset,
                           int64_t time_ns, uint32_t flags)
{
    return (struct rec){text, len, offset, total - len, time_ns, flags, false};
}

/* The cri time in ns since the epoch; times past what int64 holds (before 1677, after 2262)
 * stay at its ends. */
static int64_t cri_ns(const struct pk_cri_line *c)
{
    if (c->sec >= INT64_MAX / NS - 1) {
        return INT64_MAX;
    }
    if (c->sec <= INT64_MIN / NS + 1) {
        return INT64_MIN;
    }
    return c->sec * NS + c->nsec;
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1 when text is one JSON object with nothing around it but whitespace, 0 when it is not, -1
 * when memory ran out deciding. The first and last bytes that are not whitespace must be '{'
 * and '}': most other lines are told apart without jansson building anything. */
static int is_json_object(const char *text, size_t len)
{
    size_t a = 0, b = len;
    json_error_t e;
    json_t *j;
    int yes;

    while (a < b && json_space(text[a])) {
        a++;
    }
    while (b > a && json_space(text[b - 1])) {
        b--;
    }
    if (b - a < 2 || text[a] != '{' || text[b - 1] != '}') {
        return 0;
    }
    j = json_loadb(text + a, b - a, 0, &e);
    if (j == NULL) {
        return json_error_code(&e) == json_error_out_of_memory ? -1 : 0;
    }
    yes = json_is_object(j);
    json_decref(j);
    return yes;
}

/* ---- the way out: emission in file order -------------------------------------------- */

static void emit_rec(struct sl_lines *l, const struct rec *r)
{
    uint32_t flags = r->flags;

    if (r->dropped > 0) {
        flags |= SL_REC_TRUNCATED;
        l->st.truncated++;
        l->st.dropped_bytes += r->dropped;
    }
    if (l->conf->parser == SL_PARSE_JSON && (flags & SL_REC_JSON) == 0) {
        l->st.bad++;
    }
    l->st.records++;
    l->emit(l->arg, r->text, r->len, r->offset, r->time_ns, flags);
}

/* Where stream s's first record not yet emitted starts; UINT64_MAX when it has none. */
static uint64_t head(const struct sl_lines *l, int s)
{
    const struct queue *q = &l->q[s];

    if (q->n > 0) {
        return q->rec[q->first].offset;
    }
    if (l->group[s].active) {
        return l->group[s].offset; /* before the join: a group's lines came before it */
    }
    if (l->join[s].active) {
        return l->join[s].offset;
    }
    return UINT64_MAX;
}

/* Whether a record of stream s starting at offset must wait for something earlier. */
static bool blocked(const struct sl_lines *l, int s, uint64_t offset)
{
    if (l->q[s].n > 0) {
        return true;
    }
    for (int t = 0; t < l->nstreams; t++) {
        if (t != s && head(l, t) < offset) {
            return true;
        }
    }
    return false;
}

/* Room in q for one more record of len bytes; the records move to the front first. */
static int queue_reserve(struct queue *q, size_t len)
{
    void *v = q->rec;
    int rc;

    if (q->first > 0 && q->first + q->n == q->cap) {
        memmove(q->rec, q->rec + q->first, q->n * sizeof(*q->rec));
        q->first = 0;
    }
    rc = grow(&v, &q->cap, q->first + q->n + 1, sizeof(*q->rec), SIZE_MAX);
    q->rec = v;
    if (rc < 0) {
        return -1;
    }
    if (q->tfirst > 0 && q->tcap - q->tfirst - q->tlen < len) {
        memmove(q->text, q->text + q->tfirst, q->tlen);
        for (size_t i = q->first; i < q->first + q->n; i++) {
            q->rec[i].at -= q->tfirst;
        }
        q->tfirst = 0;
    }
    return grow_text(&q->text, &q->tcap, q->tfirst + q->tlen + len, SIZE_MAX);
}

static void queue_push(struct sl_lines *l, int s, const struct rec *r)
{
    struct queue *q = &l->q[s];
    struct qrec *e = &q->rec[q->first + q->n++];

    *e = (struct qrec){q->tfirst + q->tlen, r->len, r->offset, r->dropped, r->time_ns, r->flags};
    memcpy(q->text + e->at, r->text, r->len);
    q->tlen += r->len;
    l->queued++;
    l->queued_bytes += r->len + sizeof(*e);
}

static void queue_pop(struct sl_lines *l, int s)
{
    struct queue *q = &l->q[s];
    const struct qrec *e = &q->rec[q->first];
    struct rec r = {q->text + e->at, e->len, e->offset, e->dropped, e->time_ns, e->flags, false};

    q->first++;
    q->n--;
    q->tfirst += e->len;
    q->tlen -= e->len;
    l->queued--;
    l->queued_bytes -= e->len + sizeof(*e);
    emit_rec(l, &r); /* the text stays where it is until the next push */
    if (q->n == 0) {
        q->first = q->tfirst = q->tlen = 0;
    }
}

/* Everything r needs to leave, allocated: its json check, its place in the queue. Changes
 * nothing that counts. */
static int record_prepare(struct sl_lines *l, int s, struct rec *r)
{
    if (l->conf->parser == SL_PARSE_JSON) {
        int obj = is_json_object(r->text, r->len);
        if (obj < 0) {
            return -1;
        }
        r->flags |= obj ? SL_REC_JSON : 0;
    }
    r->queue = blocked(l, s, r->offset);
    return r->queue ? queue_reserve(&l->q[s], r->len) : 0;
}

static void record_commit(struct sl_lines *l, int s, const struct rec *r)
{
    if (r->queue) {
        queue_push(l, s, r);
    } else {
        emit_rec(l, r);
    }
}

static struct rec pend_rec(const struct pend *p)
{
    return (struct rec){p->buf, p->len, p->offset, p->dropped, p->time_ns, p->flags, false};
}

static void pend_clear(struct pend *p)
{
    p->active = false;
    p->len = 0;
    p->dropped = 0;
}

/* Lets p go now, whatever waits: it is the first record not emitted (or the file ended). */
static void let_go(struct sl_lines *l, struct pend *p)
{
    struct rec r = pend_rec(p);

    /* No failing here: a check out of memory ships the record without the flag. */
    if (l->conf->parser == SL_PARSE_JSON && is_json_object(r.text, r.len) > 0) {
        r.flags |= SL_REC_JSON;
    }
    emit_rec(l, &r);
    pend_clear(p);
}

/* Emits the queued records that nothing earlier waits for. With all (the file ended), or
 * while the queues hold more than queue_max, the join or group in their way goes first. */
static void settle(struct sl_lines *l, bool all)
{
    for (;;) {
        uint64_t first = UINT64_MAX;
        int s = -1;

        for (int t = 0; t < l->nstreams; t++) {
            uint64_t h = head(l, t);
            if (h < first) {
                first = h;
                s = t;
            }
        }
        if (s < 0) {
            return;
        }
        if (l->q[s].n > 0) {
            queue_pop(l, s);
        } else if (!all && l->queued_bytes <= l->queue_max) {
            return;
        } else {
            /* A join never joins a group here: it is cut off from its F for good. */
            let_go(l, l->group[s].active ? &l->group[s] : &l->join[s]);
        }
    }
}

/* ---- multiline ---------------------------------------------------------------------- */

static int64_t deadline(const struct sl_lines *l, const struct pend *g)
{
    int64_t wait = l->conf->multiline_flush_ns > 0 ? l->conf->multiline_flush_ns : 0;

    return g->last_ns > INT64_MAX - wait ? INT64_MAX : g->last_ns + wait;
}

/* 1 when the line starts a group, 0 when it does not (or the match fails: too deep, invalid
 * UTF-8 for a UTF pattern), -1 when memory ran out. */
static int starts_group(struct sl_lines *l, const char *text, size_t len)
{
    int rc = pcre2_match(l->conf->multiline, (PCRE2_SPTR)text, len, 0, 0, l->md, NULL);

    if (rc >= 0) {
        return 1;
    }
    return rc == PCRE2_ERROR_NOMEMORY ? -1 : 0;
}

/* A line of stream s, joined if cri and cut at max_line, goes to its group or out. */
static int stream_line(struct sl_lines *l, int s, const struct rec *line)
{
    struct pend *g = &l->group[s];
    struct rec r = *line;
    int start;

    if (l->conf->multiline == NULL) {
        if (record_prepare(l, s, &r) < 0) {
            return -1;
        }
        record_commit(l, s, &r);
        return 0;
    }
    if ((start = starts_group(l, line->text, line->len)) < 0) {
        return -1;
    }
    if (g->active && !start && line->len < l->max - g->len) {
        if (grow_text(&g->buf, &g->cap, g->len + 1 + line->len, l->max) < 0) {
            return -1;
        }
        g->buf[g->len] = '\n';
        memcpy(g->buf + g->len + 1, line->text, line->len);
        g->len += 1 + line->len;
        g->dropped += line->dropped;
        g->flags |= line->flags & SL_REC_NO_NEWLINE;
        g->last_ns = l->now;
        return 0;
    }
    /* A new group: the line starts one, or none is open, or the line does not fit in the open
     * one (which then ends, rather than drop the line: a pattern that never matches must not
     * lose everything after the first max_line bytes). */
    if (grow_text(&g->buf, &g->cap, line->len, l->max) < 0) {
        return -1;
    }
    if (g->active) {
        r = pend_rec(g);
        if (record_prepare(l, s, &r) < 0) {
            return -1;
        }
        record_commit(l, s, &r);
    }
    memcpy(g->buf, line->text, line->len);
    g->len = line->len;
    g->dropped = line->dropped;
    g->offset = line->offset;
    g->time_ns = line->time_ns;
    g->flags = line->flags;
    g->last_ns = l->now;
    g->active = true;
    return 0;
}

/* Ends the groups that waited their time by now. -1: one found no memory to wait in a queue
 * (it stays open, for the next call). */
static int expire(struct sl_lines *l, int64_t now)
{
    int rc = 0;

    if (l->conf->multiline == NULL) {
        return 0;
    }
    for (int s = 0; s < l->nstreams; s++) {
        struct pend *g = &l->group[s];
        struct rec r;

        if (!g->active || now < deadline(l, g)) {
            continue;
        }
        r = pend_rec(g);
        if (record_prepare(l, s, &r) < 0) {
            rc = -1;
            continue;
        }
        record_commit(l, s, &r);
        pend_clear(g);
    }
    if (l->queued > 0) {
        settle(l, false);
    }
    return rc;
}

/* ---- lines -------------------------------------------------------------------------- */

/* Parses a cri line of which kept bytes are there. A head (time, stream, tags) longer than
 * CRI_HEAD makes it not a CRI record: whether a held line was cut inside its head or not,
 * the answer is the same, and the text kept is the first max_line bytes. */
static bool cri_parse(const char *s, size_t kept, struct pk_cri_line *c)
{
    return pk_cri_parse_line(s, kept, c) == 0 && (size_t)(c->text - s) <= CRI_HEAD;
}

/* A CRI record. Its time is its first part's: when the line began, as `podshim logs
 * --timestamps` shows it. */
static int cri_line(struct sl_lines *l, const char *s, size_t kept, uint64_t total, uint64_t offset,
                    uint32_t nonl)
{
    struct pk_cri_line c;
    struct pend *j;
    struct rec r;
    uint64_t text_total;
    size_t add;
    uint32_t flags;
    int stream;

    if (!cri_parse(s, kept, &c)) {
        r = make_rec(s, min_size(kept, l->max), total, offset, 0, nonl);
        if (record_prepare(l, S_RAW, &r) < 0) {
            return -1;
        }
        record_commit(l, S_RAW, &r);
        l->st.bad++;
        return 0;
    }
    stream = c.stream == PK_CRI_STDERR;
    j = &l->join[stream];
    text_total = total - (uint64_t)(c.text - s);
    add = min_size(c.text_len, l->max - j->len);
    flags = SL_REC_CRI | (stream ? SL_REC_STDERR : 0);
    if (!j->active && !c.partial) { /* a whole line in one record, the common case */
        r = make_rec(c.text, add, text_total, offset, cri_ns(&c), flags | nonl);
        return stream_line(l, stream, &r);
    }
    if (grow_text(&j->buf, &j->cap, j->len + add, l->max) < 0) {
        return -1;
    }
    if (!j->active) {
        j->active = true;
        j->offset = offset;
        j->time_ns = cri_ns(&c);
        j->flags = flags;
    }
    memcpy(j->buf + j->len, c.text, add);
    if (c.partial) {
        j->len += add;
        j->dropped += text_total - add;
        j->flags |= nonl;
        return 0;
    }
    /* The F: the join is taken only once its line went on (its bytes past len are not part
     * of it yet, so a failure leaves it as it was). */
    r = pend_rec(j);
    r.len += add;
    r.dropped += text_total - add;
    r.flags |= nonl;
    if (stream_line(l, stream, &r) < 0) {
        return -1;
    }
    pend_clear(j);
    return 0;
}

/* A line without its '\n': its first kept bytes (kept >= min(total, line_max)) of total, at
 * offset. nonl: SL_REC_NO_NEWLINE for the file's unfinished last line. */
static int line(struct sl_lines *l, const char *s, size_t kept, uint64_t total, uint64_t offset,
                uint32_t nonl)
{
    int rc;

    if (l->conf->parser == SL_PARSE_CRI) {
        rc = cri_line(l, s, kept, total, offset, nonl);
    } else {
        struct rec r = make_rec(s, min_size(kept, l->max), total, offset, 0, nonl);
        rc = stream_line(l, 0, &r);
    }
    if (rc == 0) {
        l->st.lines++;
    }
    return rc;
}

/* The bytes at the end of a feed, with no '\n' after them, join the held line. */
static int hold(struct sl_lines *l, const char *p, size_t n)
{
    size_t keep = min_size(n, l->line_max - l->held_len);

    if (grow_text(&l->held, &l->held_cap, l->held_len + keep, l->line_max) < 0) {
        return -1;
    }
    if (l->held_total == 0) {
        l->held_off = l->taken;
    }
    memcpy(l->held + l->held_len, p, keep);
    l->held_len += keep;
    l->held_total += n;
    l->taken += n;
    return 0;
}

/* The held line's last n bytes came, then its '\n'. */
static int complete_held(struct sl_lines *l, const char *p, size_t n)
{
    size_t keep = min_size(n, l->line_max - l->held_len);

    if (grow_text(&l->held, &l->held_cap, l->held_len + keep, l->line_max) < 0) {
        return -1;
    }
    memcpy(l->held + l->held_len, p, keep); /* held_len moves only once the line is taken */
    if (line(l, l->held, l->held_len + keep, l->held_total + n, l->held_off, 0) < 0) {
        return -1;
    }
    l->held_len = 0;
    l->held_total = 0;
    return 0;
}

/* Takes n bytes that follow l->taken. */
static int take(struct sl_lines *l, const char *p, size_t n)
{
    const char *end = p + n;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t k;

        if (nl == NULL) {
            return hold(l, p, (size_t)(end - p));
        }
        k = (size_t)(nl - p);
        if (l->held_total > 0) {
            if (complete_held(l, p, k) < 0) {
                return -1;
            }
        } else if (l->fast) {
            struct rec r = make_rec(p, min_size(k, l->max), k, l->taken, 0, 0);
            l->st.lines++;
            emit_rec(l, &r);
        } else if (line(l, p, min_size(k, l->line_max), k, l->taken, 0) < 0) {
            return -1;
        }
        l->taken += k + 1;
        p = nl + 1;
        if (l->queued > 0) {
            settle(l, false);
        }
    }
    return 0;
}

/* sl_lines_finish out of memory: everything else is out already, the last line goes alone,
 * straight from where it is held. */
static void last_line_alone(struct sl_lines *l)
{
    struct rec r = make_rec(l->held, min_size(l->held_len, l->max), l->held_total, l->held_off, 0,
                            SL_REC_NO_NEWLINE);
    struct pk_cri_line c;

    if (l->conf->parser == SL_PARSE_CRI && cri_parse(l->held, l->held_len, &c)) {
        r = make_rec(c.text, min_size(c.text_len, l->max),
                     l->held_total - (uint64_t)(c.text - l->held), l->held_off, cri_ns(&c),
                     SL_REC_NO_NEWLINE | SL_REC_CRI |
                         (c.stream == PK_CRI_STDERR ? SL_REC_STDERR : 0));
    } else if (l->conf->parser == SL_PARSE_CRI) {
        l->st.bad++;
    } else if (l->conf->parser == SL_PARSE_JSON && is_json_object(r.text, r.len) > 0) {
        r.flags |= SL_REC_JSON;
    }
    l->st.lines++;
    emit_rec(l, &r);
}

/* ---- the interface ------------------------------------------------------------------ */

struct sl_lines *sl_lines_new(const struct sl_lines_conf *conf, uint64_t offset)
{
    struct sl_lines *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    l->conf = conf;
    l->max = conf->max_line > 0 ? conf->max_line : 1;
    l->line_max = l->max;
    l->nstreams = 1;
    if (conf->parser == SL_PARSE_CRI) {
        l->line_max = l->max <= SIZE_MAX - CRI_HEAD ? l->max + CRI_HEAD : SIZE_MAX;
        l->nstreams = STREAMS;
    }
    l->queue_max = l->max <= SIZE_MAX - QUEUE_MAX ? l->max + QUEUE_MAX : SIZE_MAX;
    l->fast = conf->parser == SL_PARSE_RAW && conf->multiline == NULL;
    l->fed = l->taken = offset;
    if (conf->multiline != NULL &&
        (l->md = pcre2_match_data_create_from_pattern(conf->multiline, NULL)) == NULL) {
        sl_lines_free(l);
        return NULL;
    }
    return l;
}

void sl_lines_free(struct sl_lines *l)
{
    if (l == NULL) {
        return;
    }
    for (int s = 0; s < STREAMS; s++) {
        free(l->join[s].buf);
        free(l->group[s].buf);
        free(l->q[s].rec);
        free(l->q[s].text);
    }
    free(l->held);
    pcre2_match_data_free(l->md);
    free(l);
}

int sl_lines_feed(struct sl_lines *l, const char *p, size_t len, int64_t now_ns,
                  sl_lines_emit_fn *emit, void *arg)
{
    uint64_t skip = l->taken - l->fed; /* taken by an earlier call that failed */

    l->now = now_ns;
    l->emit = emit;
    l->arg = arg;
    /* A group whose time ran out ends before lines read now could join it. */
    if (expire(l, now_ns) < 0) {
        return -1;
    }
    if (skip < len && take(l, p + skip, len - (size_t)skip) < 0) {
        return -1;
    }
    l->fed += len;
    return 0;
}

void sl_lines_finish(struct sl_lines *l, sl_lines_emit_fn *emit, void *arg)
{
    l->emit = emit;
    l->arg = arg;
    if (l->held_total > 0) {
        if (line(l, l->held, l->held_len, l->held_total, l->held_off, SL_REC_NO_NEWLINE) < 0) {
            settle(l, true);
            last_line_alone(l);
        }
        l->held_len = 0;
        l->held_total = 0;
    }
    settle(l, true);
}

int64_t sl_lines_tick(struct sl_lines *l, int64_t now_ns, sl_lines_emit_fn *emit, void *arg)
{
    int64_t due = 0;
    bool waits = false;

    l->now = now_ns;
    l->emit = emit;
    l->arg = arg;
    expire(l, now_ns); /* a group that found no memory stays open: tried again in a second */
    for (int s = 0; s < l->nstreams && l->conf->multiline != NULL; s++) {
        int64_t d;

        if (!l->group[s].active) {
            continue;
        }
        d = deadline(l, &l->group[s]);
        if (d <= now_ns) {
            d = now_ns > INT64_MAX - NS ? INT64_MAX : now_ns + NS;
        }
        due = !waits || d < due ? d : due;
        waits = true;
    }
    return !waits ? 0 : due != 0 ? due : 1;
}

uint64_t sl_lines_resume_offset(const struct sl_lines *l)
{
    uint64_t r = l->held_total > 0 ? l->held_off : l->taken;

    for (int s = 0; s < l->nstreams; s++) {
        uint64_t h = head(l, s);
        r = h < r ? h : r;
    }
    return r;
}

uint64_t sl_lines_offset(const struct sl_lines *l)
{
    return l->fed;
}

void sl_lines_reset(struct sl_lines *l, uint64_t offset)
{
    for (int s = 0; s < STREAMS; s++) {
        struct queue *q = &l->q[s];

        pend_clear(&l->join[s]);
        pend_clear(&l->group[s]);
        q->first = q->n = q->tfirst = q->tlen = 0;
    }
    l->queued = l->queued_bytes = 0;
    l->held_len = 0;
    l->held_total = 0;
    l->fed = l->taken = offset;
}

void sl_lines_stats(const struct sl_lines *l, struct sl_lines_stats *st)
{
    *st = l->st;
}
