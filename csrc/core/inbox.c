/* Inbox from C threads to the loop thread. See inbox.h for the contracts.
 *
 * One mutex guards everything. The eventfd is written (under the mutex) only
 * when the inbox goes from empty to non-empty and read (under the mutex) by
 * fio_inbox_take, which empties the inbox; so whenever the mutex is free,
 * the eventfd is readable exactly when something is pending (in deferred
 * mode: pending and flushed, `signalled` telling whether it is). The pending
 * arrays are handed to the consumer as they are; producers start new ones. */
#include "inbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define INBOX_MIN_CAP 16

typedef struct id_array {
    uint32_t *ids;
    size_t n, cap;
} id_array;

struct fio_inbox {
    pthread_mutex_t mu;
    int fd;                     /* eventfd, non-blocking */
    fio_inbox_item *items;      /* pending, oldest first */
    size_t nitems, capitems;
    id_array woken, overflowed;
    size_t nbounded;            /* pending items with bounded != 0 */
    size_t max_bounded;
    int paused;                 /* a post returned 1; resume not yet called */
    int deferred;               /* fio_inbox_defer_signals: items wait for a flush */
    int signalled;              /* the eventfd was written since the last take */
    void (*resume)(void *ctx);
    void *resume_ctx;
};

fio_inbox *fio_inbox_new(size_t max_bounded, void (*resume)(void *ctx), void *resume_ctx)
{
    fio_inbox *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    int err = pthread_mutex_init(&q->mu, NULL);
    if (err) {
        free(q);
        errno = err;
        return NULL;
    }
    q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->fd < 0) {
        err = errno;
        pthread_mutex_destroy(&q->mu);
        free(q);
        errno = err;
        return NULL;
    }
    q->max_bounded = max_bounded;
    q->resume = resume;
    q->resume_ctx = resume_ctx;
    return q;
}

/* Only once no producer or consumer uses q any more. */
void fio_inbox_free(fio_inbox *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nitems; i++)
        if (q->items[i].free_fn)
            q->items[i].free_fn(q->items[i].payload);
    free(q->items);
    free(q->woken.ids);
    free(q->overflowed.ids);
    close(q->fd);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

int fio_inbox_fd(const fio_inbox *q)
{
    return q->fd;
}

/* ------------------------------------------------------------ producers */

/* Room for extra more elements of size elem in *arr; 0 or -1 (oom). */
static int grow(void **arr, size_t *cap, size_t n, size_t extra, size_t elem)
{
    if (extra > (size_t)-1 / elem - n)
        return -1;
    size_t need = n + extra;
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : INBOX_MIN_CAP;
    while (c < need)
        c = c > (size_t)-1 / elem / 2 ? need : c * 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static int is_empty(const fio_inbox *q)
{
    return q->nitems == 0 && q->woken.n == 0 && q->overflowed.n == 0;
}

/* Under the mutex, when the inbox has just become non-empty. */
static int signal_consumer(fio_inbox *q)
{
    uint64_t one = 1;
    if (write(q->fd, &one, sizeof one) != (ssize_t)sizeof one)
        return -1;
    q->signalled = 1;
    return 0;
}

void fio_inbox_defer_signals(fio_inbox *q)
{
    pthread_mutex_lock(&q->mu);
    q->deferred = 1;
    pthread_mutex_unlock(&q->mu);
}

void fio_inbox_flush(fio_inbox *q)
{
    pthread_mutex_lock(&q->mu);
    if (!q->signalled && !is_empty(q))
        (void)signal_consumer(q);   /* cannot fail with a valid fd: the count stays tiny */
    pthread_mutex_unlock(&q->mu);
}

int fio_inbox_post(fio_inbox *q, const fio_inbox_item *item)
{
    int rc = -1;
    pthread_mutex_lock(&q->mu);
    if (grow((void **)&q->items, &q->capitems, q->nitems, 1, sizeof *q->items) < 0)
        goto out;
    if (!q->deferred && is_empty(q) && signal_consumer(q) < 0)
        goto out;   /* cannot happen with a valid fd: the count stays tiny */
    q->items[q->nitems++] = *item;
    rc = 0;
    if (item->bounded && ++q->nbounded >= q->max_bounded) {
        q->paused = 1;
        rc = 1;
    }
out:
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int fio_inbox_post_conns(fio_inbox *q, const uint32_t *ids, size_t n, int overflowed)
{
    if (n == 0)
        return 0;
    int rc = -1;
    id_array *a = overflowed ? &q->overflowed : &q->woken;
    pthread_mutex_lock(&q->mu);
    if (grow((void **)&a->ids, &a->cap, a->n, n, sizeof *a->ids) < 0)
        goto out;
    if (is_empty(q) && signal_consumer(q) < 0)
        goto out;
    memcpy(a->ids + a->n, ids, n * sizeof *ids);
    a->n += n;
    rc = 0;
out:
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* -------------------------------------------------------------- consumer */

/* Moves the pending ids of a to *ids / *n, leaving a empty. */
static void hand_over(id_array *a, uint32_t **ids, size_t *n)
{
    *ids = a->ids;
    *n = a->n;
    *a = (id_array){NULL, 0, 0};
}

size_t fio_inbox_take(fio_inbox *q, fio_inbox_batch *out)
{
    uint64_t count;
    pthread_mutex_lock(&q->mu);
    /* Zeroes the eventfd's counter. The read fails with EAGAIN when the
     * counter is already zero (nothing was pending); any other failure means
     * a broken fd, which at worst leaves a spurious wake-up. Nothing to do
     * either way. */
    ssize_t r = read(q->fd, &count, sizeof count);
    (void)r;
    q->signalled = 0;
    out->items = q->items;
    out->nitems = q->nitems;
    q->items = NULL;
    q->nitems = q->capitems = 0;
    hand_over(&q->woken, &out->woken, &out->nwoken);
    hand_over(&q->overflowed, &out->overflowed, &out->noverflowed);
    q->nbounded = 0;   /* everything was taken: at or below half the bound */
    int resume = q->paused;
    q->paused = 0;
    pthread_mutex_unlock(&q->mu);
    if (resume && q->resume)
        q->resume(q->resume_ctx);
    return out->nitems + out->nwoken + out->noverflowed;
}

void fio_inbox_batch_free(fio_inbox_batch *b)
{
    for (size_t i = 0; i < b->nitems; i++)
        if (b->items[i].free_fn)
            b->items[i].free_fn(b->items[i].payload);
    free(b->items);
    free(b->woken);
    free(b->overflowed);
}
