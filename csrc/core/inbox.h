/* Inbox: work handed from C threads (the Redis I/O thread today, the native
 * transport thread later) to the asyncio loop thread.
 *
 * Threads: producers are any threads; the one consumer is the loop thread,
 * woken through an eventfd that it registers with loop.add_reader. Posting
 * writes the eventfd only when the inbox goes from empty to non-empty, so a
 * burst costs one wake-up, and the consumer takes everything in one swap.
 *
 * What travels:
 *   - woken connection ids: a fan-out done off the loop queued frames on a
 *     connection whose queue was empty; the loop must wake its writer.
 *     Overflowed ids likewise (the loop closes those sessions).
 *   - items: (kind, token, payload) records whose payload the binding layer
 *     converts by kind (a pub/sub message for Python, a command reply, a state
 *     change). The inbox owns a payload until it is taken; free_fn releases
 *     payloads that are never taken (fio_inbox_free).
 *
 * Bound: items of kind class FIO_INBOX_BOUNDED (pub/sub messages) count
 * against max_bounded; fio_inbox_post returns 1 once that count reaches the
 * bound (the producer should stop reading its source: back-pressure) and the
 * producer is told to resume through the resume callback, called on the
 * consumer thread by fio_inbox_take when the count falls to half the bound.
 * Ordering: the producer acts on a 1 after fio_inbox_post has returned, so a
 * take and its resume may run in between; a pause applied after that resume
 * must not stick (with a last-writer-wins pause switch it would: paused with
 * nothing pending, no resume to come). E.g. resume bumps a counter before
 * unpausing; the producer reads it before posting and, after pausing on a 1,
 * unpauses if it has changed.
 * Other items (replies to commands the loop itself issued, state changes) and
 * connection ids are not bounded here: their number is bounded by what the
 * loop asked for and by the connection table. No Python. */
#ifndef FASTSIO_INBOX_H
#define FASTSIO_INBOX_H
#include <stddef.h>
#include <stdint.h>

typedef struct fio_inbox fio_inbox;

typedef struct fio_inbox_item {
    int kind;           /* meaning defined by the producer/binding pair */
    int bounded;        /* 1: counts against max_bounded */
    uint64_t token;     /* e.g. the id of the Python future a reply completes */
    void *payload;      /* owned by the inbox until taken */
    void (*free_fn)(void *payload);   /* may be NULL */
} fio_inbox_item;

/* resume(ctx) runs on the consumer thread, inside fio_inbox_take, without the
 * inbox lock held. NULL when not wanted. Returns NULL on failure (errno set). */
fio_inbox *fio_inbox_new(size_t max_bounded, void (*resume)(void *ctx), void *resume_ctx);
void fio_inbox_free(fio_inbox *q);   /* frees untaken payloads with their free_fn */
int fio_inbox_fd(const fio_inbox *q);

/* 0 posted, 1 posted and the bound is reached (pause the source), -1 oom
 * (the item was not posted; the caller still owns the payload). */
int fio_inbox_post(fio_inbox *q, const fio_inbox_item *item);
/* Appends connection ids (woken, or overflowed when overflowed != 0).
 * 0 / -1 oom. */
int fio_inbox_post_conns(fio_inbox *q, const uint32_t *ids, size_t n, int overflowed);

/* Deferred mode, for a producer that posts in passes (the native transport's
 * service thread): fio_inbox_post no longer writes the eventfd; the producer
 * calls fio_inbox_flush at the end of each pass in which it posted, which
 * writes it when something is pending and it was not written since the last
 * take. The consumer then wakes once per pass instead of at the pass's first
 * item (waking it there lets it preempt the producer on a shared core, item
 * after item). Connection ids (fio_inbox_post_conns) still signal at once.
 * Set before the first post. */
void fio_inbox_defer_signals(fio_inbox *q);
void fio_inbox_flush(fio_inbox *q);

/* Consumer side: moves everything posted so far into *out (caller frees the
 * arrays with free() and the payloads with their free_fn) and clears the
 * eventfd. Returns the number of items + ids taken. */
typedef struct fio_inbox_batch {
    fio_inbox_item *items;
    size_t nitems;
    uint32_t *woken;
    size_t nwoken;
    uint32_t *overflowed;
    size_t noverflowed;
} fio_inbox_batch;
size_t fio_inbox_take(fio_inbox *q, fio_inbox_batch *out);
/* Frees a taken batch whole: every payload with its free_fn, then the arrays.
 * For a consumer that keeps nothing of it. */
void fio_inbox_batch_free(fio_inbox_batch *b);

#endif
