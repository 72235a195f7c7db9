/* sl_queue.c — the bounded queue of blocks between the files and the outputs, in read order. */
#include "sl_queue.h"

#include <stdlib.h>
#include <string.h>

#include "pk_log.h"
#include "sl_out.h"

/* An attached output: what it still owes the queue. */
struct reader {
    struct sl_out *o;
    struct sl_block *unacked; /* the oldest block it has not acknowledged; NULL: none. Never
                               * freed under it: a block leaves only once every reader acked */
};

struct sl_queue {
    size_t cap;
    uint64_t bytes;    /* sl_block_mem of every block held */
    uint64_t last_seq; /* the seq of the last block pushed (0: none yet) */
    struct sl_block *head, *tail;
    struct reader *rd;
    size_t nrd, rd_cap;
    sl_queue_released_fn *released;
    void *arg;
    bool releasing; /* release() is running: a nested call (a push from the released
                     * callback) leaves its work to the running loop */
};

struct sl_queue *sl_queue_new(size_t cap, sl_queue_released_fn *released, void *arg)
{
    struct sl_queue *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        return NULL;
    }
    q->cap = cap;
    q->released = released;
    q->arg = arg;
    return q;
}

void sl_queue_free(struct sl_queue *q)
{
    struct sl_block *b, *next;

    if (q == NULL) {
        return;
    }
    for (b = q->head; b != NULL; b = next) {
        next = b->next;
        sl_block_free(b);
    }
    free(q->rd);
    free(q);
}

size_t sl_queue_room(const struct sl_queue *q)
{
    return q->bytes >= q->cap ? 0 : (size_t)(q->cap - q->bytes);
}

bool sl_queue_empty(const struct sl_queue *q)
{
    return q->head == NULL;
}

uint64_t sl_queue_bytes(const struct sl_queue *q)
{
    return q->bytes;
}

/* Lets go of the blocks at the head that nobody owes anything for, oldest first. */
static void release(struct sl_queue *q)
{
    if (q->releasing) {
        return;
    }
    q->releasing = true;
    while (q->head != NULL && q->head->pending == 0) {
        struct sl_block *b = q->head;
        q->head = b->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        b->next = NULL;
        q->bytes -= sl_block_mem(b); /* before the callback: room has grown in it too */
        if (q->released != NULL) {
            q->released(q->arg, b);
        }
        sl_block_free(b);
    }
    q->releasing = false;
}

void sl_queue_push(struct sl_queue *q, struct sl_block *b)
{
    b->next = NULL;
    b->seq = ++q->last_seq;
    b->pending = (unsigned)q->nrd;
    if (q->tail != NULL) {
        q->tail->next = b;
    } else {
        q->head = b;
    }
    q->tail = b;
    q->bytes += sl_block_mem(b);
    for (size_t i = 0; i < q->nrd; i++) {
        if (q->rd[i].unacked == NULL) {
            q->rd[i].unacked = b;
        }
    }
    if (q->nrd == 0) {
        release(q);
        return;
    }
    /* An output may send and be acknowledged at once (a file), and so release blocks. */
    for (size_t i = 0; i < q->nrd; i++) {
        sl_out_wake(q->rd[i].o);
    }
}

static struct reader *find_reader(struct sl_queue *q, const struct sl_out *o)
{
    for (size_t i = 0; i < q->nrd; i++) {
        if (q->rd[i].o == o) {
            return &q->rd[i];
        }
    }
    return NULL;
}

/* The signature leaves no way to fail: outputs are attached while starting up, when running
 * out of memory is fatal anyway. */
void sl_queue_attach(struct sl_queue *q, struct sl_out *o)
{
    if (q->nrd == q->rd_cap) {
        size_t cap = q->rd_cap > 0 ? q->rd_cap * 2 : 4;
        struct reader *rd = realloc(q->rd, cap * sizeof(*rd));
        if (rd == NULL) {
            pk_log_error("attaching an output to the queue: out of memory");
            abort();
        }
        q->rd = rd;
        q->rd_cap = cap;
    }
    q->rd[q->nrd].o = o;
    q->rd[q->nrd].unacked = NULL; /* it sees the blocks pushed from now on */
    q->nrd++;
}

/* The blocks o had not acknowledged keep counting it as pending, so they never leave the
 * queue (until sl_queue_free): releasing them would let the caller save positions past
 * lines that o never delivered, and those would be lost to it after a restart. */
void sl_queue_detach(struct sl_queue *q, struct sl_out *o)
{
    struct reader *r = find_reader(q, o);

    if (r == NULL) {
        return;
    }
    size_t i = (size_t)(r - q->rd);
    memmove(&q->rd[i], &q->rd[i + 1], (q->nrd - i - 1) * sizeof(*r));
    q->nrd--;
}

void sl_queue_ack(struct sl_queue *q, struct sl_out *o, uint64_t seq)
{
    struct reader *r = find_reader(q, o);

    if (r == NULL) {
        return;
    }
    while (r->unacked != NULL && r->unacked->seq <= seq) {
        r->unacked->pending--;
        r->unacked = r->unacked->next;
    }
    release(q);
}

/* The blocks held carry consecutive numbers from head->seq to tail->seq, so the common
 * cases (the first block, the newest) take no walk at all. */
struct sl_block *sl_queue_after(struct sl_queue *q, uint64_t seq)
{
    struct sl_block *b = q->head;

    if (b == NULL || seq >= q->tail->seq) {
        return NULL;
    }
    if (seq + 1 == q->tail->seq) {
        return q->tail;
    }
    while (b->seq <= seq) {
        b = b->next;
    }
    return b;
}
