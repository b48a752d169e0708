/* Near cache of Redis hashes (what RedisDict reads from): a per-process copy
 * of each hash, loaded with HGETALL on the command connection of a fio_redis
 * whose tracking is on, and kept coherent by its invalidations.
 *
 * Coherence: Redis reports a tracked key (the whole hash: tracking is per key,
 * not per field) when another client changes it; the hash is then stale and
 * reloaded at once on the I/O thread (one HGETALL in flight per hash; more
 * invalidations meanwhile cause exactly one more). A reply that raced with an
 * invalidation is discarded and the load repeated. When tracking is re-enabled
 * after a reconnect (invalidate(NULL)) every hash is stale.
 *
 * This process's writes: applied to the copy at once (a read right after a
 * write sees it) and queued on the command connection in call order (HSET,
 * HDEL, DEL; FIO_RCMD_RETRY, so they survive an outage and land after it).
 * Tracking runs with NOLOOP, so they do not invalidate the copy. A reload's
 * reply was produced after every write queued before the HGETALL, so writes
 * queued after it are re-applied over the reply (sequence numbers per hash).
 * A write that Redis answers with an error is reported through log_fn and
 * makes the hash stale (the copy then follows Redis again).
 *
 * Reads: from the copy; while the hash is not loaded yet or stale, the reader
 * waits for the (re)load, at most wait_ms (then -FIO_CACHE_TIMEOUT). Readers
 * call with the GIL released (the binding does).
 *
 * Threads: reads and writes from any thread; fio_cache_invalidate and the
 * reply handlers on the I/O thread. One mutex per cache guards every hash; no
 * callback is called with it held. No Python. */
#ifndef FASTSIO_REDIS_CACHE_H
#define FASTSIO_REDIS_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "client.h"
#include "hub.h"   /* fio_str */

typedef struct fio_cache fio_cache;
typedef struct fio_chash fio_chash;   /* owned by its cache; lives as long as it */

enum { FIO_CACHE_TIMEOUT = 1, FIO_CACHE_CLOSED = 2, FIO_CACHE_NOMEM = 3 };

/* log_fn(ctx, message) reports write errors and load failures; it runs on the
 * I/O thread without cache locks held. May be NULL. */
fio_cache *fio_cache_new(fio_redis *r, int wait_ms, void (*log_fn)(void *ctx, const char *msg),
                         void *log_ctx);
/* Frees every hash. The fio_redis must be freed first (no callback may be in
 * flight), or the caller must otherwise know none is. */
void fio_cache_free(fio_cache *c);

/* Wire to fio_redis_events.invalidate. key NULL: every hash is stale. */
void fio_cache_invalidate(fio_cache *c, const char *key, size_t n);

/* The hash named `name` (a Redis key), created on first use; its first load
 * starts at once. NULL on oom. */
fio_chash *fio_cache_hash(fio_cache *c, fio_str name);

/* ---- reads: 1 / 0 or a count; < 0 is -FIO_CACHE_* ---- */
/* Appends the field's value to out; 1 found, 0 absent. */
int fio_chash_get(fio_chash *h, fio_str field, fio_buf *out);
int fio_chash_has(fio_chash *h, fio_str field);
long fio_chash_len(fio_chash *h);
/* Calls fn(ctx, field, value) for a consistent snapshot of the hash (copied
 * under the lock, called without it). Stops early when fn returns non-zero. */
typedef int (*fio_chash_fn)(void *ctx, fio_str field, fio_str value);
int fio_chash_each(fio_chash *h, fio_chash_fn fn, void *ctx);

/* ---- writes: applied to the copy now, queued to Redis in order ---- */
/* HSET name f1 v1 f2 v2 ... (one command). 0 / -FIO_CACHE_NOMEM. */
int fio_chash_set(fio_chash *h, const fio_str *fields, const fio_str *values, size_t n);
/* HDEL name f1 ...; returns how many of the fields were present in the copy
 * (the caller raises KeyError on 0 for a single field), or < 0. Waits for the
 * load like a read, since the answer depends on the content. */
long fio_chash_del(fio_chash *h, const fio_str *fields, size_t n);
/* DEL name. 0 / < 0. */
int fio_chash_clear(fio_chash *h);

/* Waits until every write queued on this cache so far has been answered by
 * Redis (or timeout_ms passed: -FIO_CACHE_TIMEOUT; < 0 timeout waits forever).
 * Returns the number of writes Redis refused since the cache was created, >= 0. */
long fio_cache_flush(fio_cache *c, int timeout_ms);

#endif
