/* sl_queue.h — the bounded in-memory queue between the files and the outputs. */
#ifndef SL_QUEUE_H
#define SL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_block.h"

struct sl_out;

/*
 * Blocks in the order they were read. Every output reads the queue from its own cursor; a
 * block leaves the queue once every output acknowledged it and every block before it. It
 * holds at most cap bytes (sl_block_mem): when it is full the readers stop, and the log
 * files themselves are the buffer, so an output that is down never grows memory.
 */
struct sl_queue;

/* Called for each block leaving the queue, oldest first, before it is freed: the caller
 * advances the file's position to b->end. Room has grown when it returns. */
typedef void sl_queue_released_fn(void *arg, const struct sl_block *b);

struct sl_queue *sl_queue_new(size_t cap, sl_queue_released_fn *released, void *arg);

/* Frees the queue and every block still in it (released is not called). Outputs must be
 * freed first. */
void sl_queue_free(struct sl_queue *q);

/* Bytes that may still be pushed before the queue is full: cap minus what it holds, or 0. */
size_t sl_queue_room(const struct sl_queue *q);

/* Appends b (ownership passes to the queue; an empty block is fine: it only carries a
 * position) and tells every output. With no output attached the block is released at once.
 * Never fails: the caller checks room before reading. */
void sl_queue_push(struct sl_queue *q, struct sl_block *b);

/* True when nothing is queued: everything pushed was acknowledged by every output. */
bool sl_queue_empty(const struct sl_queue *q);

uint64_t sl_queue_bytes(const struct sl_queue *q); /* sl_block_mem of what it holds */

/* ---- for sl_out.c only -------------------------------------------------------------- */

/* Attaches o: it sees blocks pushed from now on. */
void sl_queue_attach(struct sl_queue *q, struct sl_out *o);
void sl_queue_detach(struct sl_queue *q, struct sl_out *o);
/* o acknowledged every block up to and including seq. */
void sl_queue_ack(struct sl_queue *q, struct sl_out *o, uint64_t seq);
/* The oldest block o has not been given yet (after seq), or NULL. */
struct sl_block *sl_queue_after(struct sl_queue *q, uint64_t seq);

#endif
