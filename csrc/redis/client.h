/* Redis client: one I/O thread that owns two hiredis connections to one Redis
 * server (found directly, by unix socket, or through Sentinel):
 *   - the command connection: commands from any thread, pipelined and answered
 *     in order; optionally with CLIENT TRACKING ... REDIRECT <sub id> NOLOOP so
 *     that keys it reads are reported when another client changes them;
 *   - the subscriber connection: SUBSCRIBE/UNSUBSCRIBE of pub/sub channels, and
 *     `__redis__:invalidate` when tracking is on.
 * No Python here; hiredis 0.14 (RESP2) is enough.
 *
 * Threads: every function may be called from any thread except where noted.
 * Callbacks (fio_redis_events, fio_reply_fn) run on the I/O thread, with no
 * lock of this module held; they may call fio_redis_command/subscribe/... (they
 * are queued) but must not block and must not call fio_redis_call or
 * fio_redis_free.
 *
 * Ordering: commands leave in the order their fio_redis_command calls returned
 * and are answered in that order. A command that waits for a (re)connection
 * keeps its place.
 *
 * Outages: when a connection drops the thread reconnects with backoff (100 ms
 * doubling up to max_backoff_ms), re-discovering the master through Sentinel
 * when configured, re-selecting db, re-authenticating, re-enabling tracking and
 * re-subscribing every channel of the subscription set. Commands queued while
 * down wait (nothing is dropped while the client lives). A command that was
 * sent but not answered when the connection dropped is sent again if it was
 * queued with FIO_RCMD_RETRY (idempotent commands: HSET, HDEL, DEL, SET, GET,
 * ...); otherwise its callback gets reply NULL and err "connection lost" (it
 * may or may not have run). state() reports each drop and each recovery once.
 *
 * Memory: the command queue is unbounded by design (callers bound what they
 * queue); the subscriber connection stops being read while the owner says it
 * is saturated (fio_redis_pause_messages), which is the back-pressure for
 * pub/sub: Redis then buffers, and past its client-output-buffer-limit drops
 * the subscriber, which reconnects. */
#ifndef FASTSIO_REDIS_CLIENT_H
#define FASTSIO_REDIS_CLIENT_H
#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct fio_redis fio_redis;

typedef struct fio_redis_addr {
    const char *host;   /* NULL when unix_path is set */
    int port;
} fio_redis_addr;

/* Where and how to connect. Strings are copied by fio_redis_new. */
typedef struct fio_redis_cfg {
    const char *host;            /* plain TCP server (when no sentinels, no unix_path) */
    int port;
    const char *unix_path;       /* unix socket instead of host/port */
    const fio_redis_addr *sentinels; /* Sentinel mode when nsentinels > 0 */
    size_t nsentinels;
    const char *master_name;     /* Sentinel service name */
    const char *sentinel_username, *sentinel_password;   /* may be NULL */
    const char *username, *password;                     /* may be NULL */
    int db;
    int connect_timeout_ms;      /* 0: 5000 */
    int socket_timeout_ms;       /* 0: none; bounds the wait of fio_redis_call */
    int max_backoff_ms;          /* 0: 5000 */
    int tracking;                /* 1: CLIENT TRACKING on the command connection */
} fio_redis_cfg;

enum { FIO_REDIS_CMD = 0, FIO_REDIS_SUB = 1 };   /* which connection, for state() */

typedef struct fio_redis_events {
    void *ctx;
    /* A message published on a subscribed channel (not the invalidation channel). */
    void (*message)(void *ctx, const char *channel, size_t clen, const char *data, size_t dlen);
    /* Subscription state of a channel: subscribed = 1 once Redis confirmed SUBSCRIBE
     * (also after a re-subscribe following a reconnect), 0 once UNSUBSCRIBE is confirmed. */
    void (*subscribed)(void *ctx, const char *channel, size_t clen, int subscribed);
    /* Tracking: key was changed by another client. key == NULL: forget every key
     * (tracking was (re)enabled after a reconnect, or Redis flushed). */
    void (*invalidate)(void *ctx, const char *key, size_t klen);
    /* Connection `which` went down (up = 0, reason set) or came (back) up (up = 1). */
    void (*state)(void *ctx, int which, int up, const char *reason);
} fio_redis_events;

/* Creates the client and starts its thread; connecting happens on the thread
 * (the first commands wait for it). NULL with *err (static string) on bad cfg
 * or out of memory. */
fio_redis *fio_redis_new(const fio_redis_cfg *cfg, const fio_redis_events *ev, const char **err);
/* Stops the thread, fails pending commands (reply NULL, err "client closed"),
 * closes both connections, frees. Not from a callback. */
void fio_redis_free(fio_redis *r);

/* reply is owned by the callback (freeReplyObject it); NULL on failure, with
 * err a static string. A Redis error reply is a reply of type REDIS_REPLY_ERROR. */
typedef void (*fio_reply_fn)(void *ctx, redisReply *reply, const char *err);

enum { FIO_RCMD_RETRY = 1 };   /* safe to send again after a lost connection */

/* Queues a command (argv copied; argvlen NULL: strlen of each). fn may be NULL
 * (the reply, error replies included, is discarded). 0 queued, -1 out of
 * memory, closed, or argc < 1. */
int fio_redis_command(fio_redis *r, int argc, const char *const *argv, const size_t *argvlen,
                      unsigned flags, fio_reply_fn fn, void *ctx);

/* Queues a command and waits for its reply: the caller must not be the I/O
 * thread. Returns the reply (caller frees) or NULL with *err set: "timeout"
 * when socket_timeout_ms passed (the command still runs later; its reply is
 * discarded), "connection lost", "client closed". */
redisReply *fio_redis_call(fio_redis *r, int argc, const char *const *argv,
                           const size_t *argvlen, unsigned flags, const char **err);

/* Adds/removes a channel in the subscription set and sends SUBSCRIBE /
 * UNSUBSCRIBE when connected; events.subscribed() reports the confirmation.
 * Idempotent per channel. 0 / -1 oom or closed. */
int fio_redis_subscribe(fio_redis *r, const char *channel, size_t len);
int fio_redis_unsubscribe(fio_redis *r, const char *channel, size_t len);

/* Owner's back-pressure switch for the subscriber connection (see above). */
void fio_redis_pause_messages(fio_redis *r, int paused);

/* 1 when both connections (the subscriber only if it has channels or tracking)
 * are up, else 0. */
int fio_redis_connected(fio_redis *r);

#endif
