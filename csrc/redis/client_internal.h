/* Private to the Redis client: client.c (API, command queue, lifetime),
 * client_io.c (the I/O thread: loop, replies, pub/sub) and client_conn.c
 * (connect, handshake, Sentinel discovery). Not for other modules. */
#ifndef FASTSIO_REDIS_CLIENT_INTERNAL_H
#define FASTSIO_REDIS_CLIENT_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "strmap.h"

#define FIO_RC_INVALIDATE_CHAN "__redis__:invalidate"

/* A queued command in wire form. FIO_RC_INTERNAL: issued by the I/O thread
 * itself (fn NULL, reply handled by the loop, never retried). */
enum { FIO_RC_INTERNAL = 1u << 30 };

typedef struct fio_rcmd {
    struct fio_rcmd *next;
    fio_reply_fn fn;
    void *ctx;
    unsigned flags;
    size_t len;
    char wire[];
} fio_rcmd;

typedef struct fio_rcmd_fifo {
    fio_rcmd *head, *tail;
} fio_rcmd_fifo;

/* One channel of the subscription set, the value of fio_redis.chans.
 * want: what the owner asked for; sent: what the current subscriber
 * connection was last told (0 after a reconnect). Guarded by fio_redis.mu. */
typedef struct fio_rchan {
    struct fio_rchan *dirty_next;   /* on fio_redis.dirty when in_dirty */
    int want, sent, in_dirty;
    size_t len;
    char name[];                    /* len bytes + NUL */
} fio_rchan;

/* One of the two connections. I/O thread only. */
typedef struct fio_rconn {
    redisContext *c;      /* NULL while down */
    int which;            /* FIO_REDIS_CMD / FIO_REDIS_SUB */
    int announced;        /* last state() reported: -1 none yet, 0 down, 1 up */
    int backoff_ms;       /* delay before the next attempt once this one fails */
    int64_t retry_at;     /* monotonic ms before which no attempt is made */
    char host[256];       /* address c is connected to ("" for unix_path) */
    int port;
} fio_rconn;

struct fio_redis {
    /* Immutable after fio_redis_new. */
    char *host, *unix_path, *master_name;
    char *sentinel_username, *sentinel_password, *username, *password;
    fio_redis_addr *sentinels;   /* hosts owned */
    size_t nsentinels;
    int port, db, connect_timeout_ms, socket_timeout_ms, max_backoff_ms, tracking;
    fio_redis_events ev;
    int wakefd;                  /* eventfd; any thread writes, the I/O thread reads */
    pthread_t thread;

    atomic_int closing;          /* set by fio_redis_free */
    atomic_int paused;           /* fio_redis_pause_messages */
    atomic_int cmd_up, sub_up;   /* handshake done on that connection */

    pthread_mutex_t mu;
    /* Guarded by mu. */
    int closed;                  /* no more commands accepted */
    fio_rcmd_fifo unsent;        /* queued, not yet handed to the command connection */
    fio_strmap chans;            /* channel -> fio_rchan* */
    fio_rchan *dirty;            /* channels whose want may differ from sent */
    size_t nwant;                /* channels with want == 1 */

    /* I/O thread only. */
    fio_rconn cmd, sub;
    fio_rcmd_fifo sent;          /* handed to the command connection, awaiting replies */
    long long sub_id;            /* CLIENT ID of the subscriber connection */
    int tracking_was_on;         /* tracking was enabled on an earlier connection */
    size_t next_sentinel;        /* sentinel to ask first */
    int woken;                   /* a wake-up was consumed during a handshake */
};

/* ---- client.c ---- */

/* The command in RESP wire form; NULL on argc < 1 or out of memory. Any thread. */
fio_rcmd *fio_rc_cmd_new(int argc, const char *const *argv, const size_t *argvlen,
                         unsigned flags, fio_reply_fn fn, void *ctx);
/* Runs the callback (no lock held) and frees the command / every command of q. */
void fio_rc_complete(fio_rcmd *c, redisReply *reply, const char *err);
void fio_rc_complete_all(fio_rcmd_fifo *q, const char *err);
/* 1 when the subscriber connection is wanted (channels or tracking). Takes r->mu. */
int fio_rc_sub_needed(fio_redis *r);

static inline void fio_rc_fifo_push(fio_rcmd_fifo *q, fio_rcmd *c)
{
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

static inline fio_rcmd *fio_rc_fifo_pop(fio_rcmd_fifo *q)
{
    fio_rcmd *c = q->head;
    if (c) {
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        c->next = NULL;
    }
    return c;
}

/* Moves every command of front before q's, keeping both orders. */
static inline void fio_rc_fifo_prepend(fio_rcmd_fifo *q, fio_rcmd_fifo *front)
{
    if (!front->head)
        return;
    front->tail->next = q->head;
    if (!q->tail)
        q->tail = front->tail;
    q->head = front->head;
    front->head = front->tail = NULL;
}

/* The first reconnect delay: 100 ms, or max_backoff_ms when smaller. */
static inline int fio_rc_backoff_min(const fio_redis *r)
{
    return r->max_backoff_ms < 100 ? r->max_backoff_ms : 100;
}

/* Queues ch for sub_reconcile. r->mu held. */
static inline void fio_rc_mark_dirty(fio_redis *r, fio_rchan *ch)
{
    if (!ch->in_dirty) {
        ch->in_dirty = 1;
        ch->dirty_next = r->dirty;
        r->dirty = ch;
    }
}

/* ---- client_io.c ---- */

/* The I/O thread: connects, moves commands, dispatches replies and messages
 * until r->closing, then fails what is left with "client closed". */
void *fio_rc_io_main(void *arg);

/* ---- client_conn.c; I/O thread only unless noted ---- */

/* Monotonic clock in ms. Any thread. */
int64_t fio_rc_now_ms(void);
/* Wakes the I/O thread (any thread) / consumes pending wake-ups (I/O thread). */
void fio_rc_wake(fio_redis *r);
void fio_rc_drain_wake(fio_redis *r);
/* "what: detail" in a thread-local buffer, valid until the next call on the
 * same thread; for state() reasons. */
const char *fio_rc_reason(const char *what, const char *detail);
/* Connects cn (found through Sentinel when configured) and runs its handshake
 * (AUTH, SELECT, CLIENT ID + SUBSCRIBE invalidation channel on the
 * subscriber, CLIENT TRACKING on the command connection), every step bounded
 * by connect_timeout_ms and abandoned when the client is closing. 0 with
 * cn->c, host, port set (and r->sub_id for the subscriber); -1 with *reason. */
int fio_rc_open(fio_redis *r, fio_rconn *cn, const char **reason);

#endif
