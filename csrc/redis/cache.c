/* Near cache of Redis hashes: see cache.h for the contract.
 *
 * Locks. `mu` guards every hash, the name map and the counters; `cv` (on mu)
 * wakes readers waiting for a load and fio_cache_flush. `qmu` orders the
 * command queue: a write takes qmu, then mu to take the hash's next sequence
 * number and apply itself to the copy, releases mu and queues its command
 * before releasing qmu; a load takes the same two locks to record the
 * sequence number its HGETALL follows. So sequence order is queue order, and
 * a load's reply contains exactly the writes numbered <= its load_seq.
 * Order: qmu before mu. No callback (log_fn) and no fio_redis_* call is made
 * with mu held; log_fn is called with no lock at all.
 *
 * Per hash: `loading` = an HGETALL is in flight, or has been claimed by the
 * thread that is about to queue it (claiming under mu and queueing later
 * leaves no window in which a waiting reader could see "stale and nothing
 * coming"). State LOADING (never loaded), READY, STALE (loaded once, a reload
 * is needed or running). loading implies state != READY. A hash that is not
 * READY and not loading had a failed load: the next reader, invalidation or
 * write error starts one.
 *
 * Field map: field -> centry (value bytes, seq of the last local write to
 * it). Entries loaded from Redis carry seq 0.
 *
 * Installing a reply (load_seq = L): base = the reply, or nothing when a DEL
 * was queued after the HGETALL (clear_seq > L); then every local entry with
 * seq > L is set over it. A reply is discarded (and the load repeated) when
 * an invalidation arrived while it was in flight (`raced`).
 *
 * Local HDEL needs no tombstones: like a read it waits until the hash is
 * READY, and it checks that again under qmu, so it is only ever applied when
 * no load is in flight, and every later HGETALL is queued after it. A local
 * DEL may run during a load; clear_seq covers it. */
#include "cache.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strmap.h"

typedef struct centry {
    uint64_t seq;   /* last local write; 0 when it came from a load */
    size_t vlen;
    char v[];       /* vlen bytes + NUL */
} centry;

enum { ST_LOADING = 0, ST_READY = 1, ST_STALE = 2 };

struct fio_chash {
    fio_cache *c;
    fio_chash *next;      /* list of every hash; set before publication, immutable */
    char *name;
    size_t nlen;
    /* guarded by c->mu */
    fio_strmap fields;    /* field -> centry* */
    int state;
    int loading;
    int raced;
    uint64_t seq;         /* last write sequence number */
    uint64_t load_seq;    /* seq when the in-flight HGETALL was queued */
    uint64_t clear_seq;   /* seq of the last local DEL */
};

struct fio_cache {
    fio_redis *r;
    int wait_ms;
    void (*log_fn)(void *ctx, const char *msg);
    void *log_ctx;
    pthread_mutex_t mu;
    pthread_mutex_t qmu;
    pthread_cond_t cv;
    /* guarded by mu */
    fio_strmap names;     /* name -> fio_chash* */
    fio_chash *all;
    int closed;           /* the client reported "client closed": no more fio_redis_* calls */
    uint64_t nqueued, nanswered, nrefused;
};

#define CLOSED_ERR "client closed"

/* ---------------------------------------------------------------- helpers */

static void clog_(fio_cache *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void clog_(fio_cache *c, const char *fmt, ...)
{
    if (!c->log_fn)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log_fn(c->log_ctx, msg);
}

/* At most 200 bytes of a hash name in messages. */
static int name_len(const fio_chash *h)
{
    return h->nlen > 200 ? 200 : (int)h->nlen;
}

static centry *entry_new(const char *v, size_t n, uint64_t seq)
{
    if (n > SIZE_MAX - sizeof(centry) - 1)
        return NULL;
    centry *e = malloc(sizeof *e + n + 1);
    if (!e)
        return NULL;
    e->seq = seq;
    e->vlen = n;
    if (n)
        memcpy(e->v, v, n);
    e->v[n] = '\0';
    return e;
}

/* Frees every entry and the map itself (re-inits it). */
static void fields_free(fio_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            free(m->slots[i].value);
    fio_strmap_free(m);
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* ---------------------------------------------------------------- loads */

static void load_cb(void *ctx, redisReply *reply, const char *err);

/* Queues HGETALL for h, which the caller has claimed (h->loading == 1, set
 * under mu). On failure the claim is dropped and waiters are woken.
 * Called with no lock held. 0 / -1. */
static int launch(fio_chash *h)
{
    fio_cache *c = h->c;
    const char *argv[2] = {"HGETALL", h->name};
    size_t argvlen[2] = {7, h->nlen};
    int rc = -1;
    pthread_mutex_lock(&c->qmu);
    pthread_mutex_lock(&c->mu);
    int closed = c->closed;
    if (!closed) {
        h->load_seq = h->seq;
        h->raced = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (!closed)
        rc = fio_redis_command(c->r, 2, argv, argvlen, FIO_RCMD_RETRY, load_cb, h);
    pthread_mutex_unlock(&c->qmu);
    if (rc < 0) {
        pthread_mutex_lock(&c->mu);
        h->loading = 0;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        if (!closed)
            clog_(c, "fastsio cache: HGETALL %.*s could not be queued (out of memory or client closed)",
                  name_len(h), h->name);
    }
    return rc;
}

/* Under mu: the copy may differ from Redis (a write failed or was refused).
 * Returns 1 when the caller must launch() after unlocking. */
static int mark_stale_locked(fio_chash *h)
{
    if (h->c->closed)
        return 0;
    if (h->loading) {
        /* the load in flight may have been queued before the write that
         * failed: its reply plus the overlay would keep the bad state */
        h->raced = 1;
        return 0;
    }
    if (h->state == ST_READY)
        h->state = ST_STALE;
    h->loading = 1;
    return 1;
}

/* Builds field -> centry from an HGETALL array reply. 0 / -1 (oom or bad
 * shape; *bad set for the latter). */
static int parse_reply(const redisReply *reply, fio_strmap *out, int *bad)
{
    *bad = 0;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        *bad = 1;
        return -1;
    }
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (!k || !v || k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            *bad = 1;
            return -1;
        }
        centry *e = entry_new(v->str, (size_t)v->len, 0);
        if (!e)
            return -1;
        centry *prev = fio_strmap_get(out, k->str, (size_t)k->len);
        if (fio_strmap_put(out, k->str, (size_t)k->len, e) < 0) {
            free(e);
            return -1;
        }
        free(prev);
    }
    return 0;
}

/* Under mu: applies every local entry of h newer than load_seq over fresh
 * (copies; h->fields is not changed). 0 / -1 oom (fresh then partly done). */
static int overlay_locked(fio_chash *h, fio_strmap *fresh)
{
    const fio_strmap *old = &h->fields;
    for (size_t i = 0; i < old->cap; i++) {
        const fio_strmap_slot *s = &old->slots[i];
        if (!s->key)
            continue;
        const centry *e = s->value;
        if (e->seq <= h->load_seq)
            continue;
        centry *ne = entry_new(e->v, e->vlen, e->seq);
        if (!ne)
            return -1;
        centry *prev = fio_strmap_get(fresh, s->key, s->keylen);
        if (fio_strmap_put(fresh, s->key, s->keylen, ne) < 0) {
            free(ne);
            return -1;
        }
        free(prev);
    }
    return 0;
}

/* The HGETALL reply (I/O thread). */
static void load_cb(void *ctx, redisReply *reply, const char *err)
{
    fio_chash *h = ctx;
    fio_cache *c = h->c;
    fio_strmap fresh, trash, voided;
    fio_strmap_init(&fresh);
    fio_strmap_init(&trash);
    fio_strmap_init(&voided);
    int relaunch = 0, oom = 0, bad = 0;
    char errtext[256] = "";

    if (!reply) {
        int closing = err && strcmp(err, CLOSED_ERR) == 0;
        pthread_mutex_lock(&c->mu);
        if (closing || c->closed) {
            c->closed = 1;
            h->loading = 0;
            pthread_cond_broadcast(&c->cv);
        } else {
            relaunch = 1;   /* keep the claim: readers keep waiting */
        }
        pthread_mutex_unlock(&c->mu);
        if (relaunch) {
            clog_(c, "fastsio cache: HGETALL %.*s failed (%s); loading again", name_len(h), h->name,
                  err ? err : "no reply");
            launch(h);
        }
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errtext, sizeof errtext, "%.*s", (int)(reply->len > 200 ? 200 : reply->len),
                 reply->str ? reply->str : "");
        /* A key of another type: the hash is empty as far as this copy goes
         * (tracking reports the key when it changes). Other errors (LOADING,
         * MASTERDOWN, ...) leave the hash stale for the next reader or
         * invalidation to retry. */
        if (strncmp(errtext, "WRONGTYPE", 9) != 0)
            bad = 1;
    } else if (parse_reply(reply, &fresh, &bad) < 0) {
        if (!bad)
            oom = 1;
        else
            snprintf(errtext, sizeof errtext, "unexpected reply type %d", reply->type);
    }
    freeReplyObject(reply);
    /* reported before the outcome shows (no lock held) */
    if (errtext[0])
        clog_(c, "fastsio cache: HGETALL %.*s: %s", name_len(h), h->name, errtext);

    pthread_mutex_lock(&c->mu);
    if (h->raced) {
        relaunch = 1;   /* keep the claim */
        trash = fresh;
    } else if (bad || oom) {
        h->loading = 0;
        pthread_cond_broadcast(&c->cv);
        trash = fresh;
    } else {
        if (h->clear_seq > h->load_seq) {
            /* a DEL was queued after this HGETALL: the reply is void */
            voided = fresh;
            fio_strmap_init(&fresh);
        }
        if (overlay_locked(h, &fresh) < 0) {
            oom = 1;
            trash = fresh;
        } else {
            trash = h->fields;
            h->fields = fresh;
            h->state = ST_READY;
        }
        h->loading = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);

    fields_free(&trash);
    fields_free(&voided);
    if (oom)
        clog_(c, "fastsio cache: out of memory loading %.*s", name_len(h), h->name);
    if (relaunch)
        launch(h);
}

/* ---------------------------------------------------------------- write replies */

static void write_done(fio_chash *h, const char *cmd, redisReply *reply, const char *err)
{
    fio_cache *c = h->c;
    int failed = !reply || reply->type == REDIS_REPLY_ERROR;
    int closing = !reply && err && strcmp(err, CLOSED_ERR) == 0;
    int relaunch = 0;
    char errtext[256] = "";
    if (failed && !closing) {
        if (reply)
            snprintf(errtext, sizeof errtext, "%.*s", (int)(reply->len > 200 ? 200 : reply->len),
                     reply->str ? reply->str : "");
        else
            snprintf(errtext, sizeof errtext, "%s", err ? err : "no reply");
    }
    if (reply)
        freeReplyObject(reply);
    /* logged before it is counted: once fio_cache_flush returns, every
     * refusal it counts has been reported */
    if (errtext[0])
        clog_(c, "fastsio cache: %s %.*s failed: %s", cmd, name_len(h), h->name, errtext);
    pthread_mutex_lock(&c->mu);
    c->nanswered++;
    if (failed)
        c->nrefused++;
    if (closing) {
        c->closed = 1;
    } else if (failed && !h->loading) {
        /* A load in flight now was queued after this write (replies come in
         * order), so its reply already shows the write's failure. */
        if (h->state == ST_READY)
            h->state = ST_STALE;
        h->loading = 1;
        relaunch = 1;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (relaunch)
        launch(h);
}

static void hset_cb(void *ctx, redisReply *reply, const char *err)
{
    write_done(ctx, "HSET", reply, err);
}

static void hdel_cb(void *ctx, redisReply *reply, const char *err)
{
    write_done(ctx, "HDEL", reply, err);
}

static void del_cb(void *ctx, redisReply *reply, const char *err)
{
    write_done(ctx, "DEL", reply, err);
}

/* Called with qmu held, mu released, after the write was applied and counted
 * in nqueued: queues it. On failure the write counts as answered and refused
 * and the hash is reloaded. Returns 0, or -1 with *relaunch set as needed. */
static int queue_write(fio_chash *h, int argc, const char **argv, const size_t *argvlen,
                       fio_reply_fn fn, int *relaunch)
{
    fio_cache *c = h->c;
    if (fio_redis_command(c->r, argc, argv, argvlen, FIO_RCMD_RETRY, fn, h) == 0)
        return 0;
    pthread_mutex_lock(&c->mu);
    c->nanswered++;
    c->nrefused++;
    *relaunch = mark_stale_locked(h);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return -1;
}

/* ---------------------------------------------------------------- reads */

/* A reader's bound: wait_ms from its first wait. */
typedef struct waiter {
    int have_deadline;
    struct timespec deadline;
} waiter;

/* Locks mu and waits until h is READY (then returns 0 with mu held), or
 * returns < 0 with mu released. Starts a load when none is coming (once). */
static int wait_ready(fio_chash *h, waiter *w)
{
    fio_cache *c = h->c;
    int kicked = 0;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (h->state == ST_READY)
            return 0;
        if (c->closed) {
            pthread_mutex_unlock(&c->mu);
            return -FIO_CACHE_CLOSED;
        }
        if (!h->loading) {
            if (kicked) {   /* the load this call started failed */
                pthread_mutex_unlock(&c->mu);
                return -FIO_CACHE_TIMEOUT;
            }
            kicked = 1;
            h->loading = 1;
            pthread_mutex_unlock(&c->mu);
            int rc = launch(h);
            pthread_mutex_lock(&c->mu);
            if (rc < 0 && h->state != ST_READY) {
                int closed = c->closed;
                pthread_mutex_unlock(&c->mu);
                return closed ? -FIO_CACHE_CLOSED : -FIO_CACHE_NOMEM;
            }
            continue;
        }
        if (c->wait_ms == 0) {
            pthread_mutex_unlock(&c->mu);
            return -FIO_CACHE_TIMEOUT;
        }
        if (c->wait_ms < 0) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        if (!w->have_deadline) {
            deadline_after(&w->deadline, c->wait_ms);
            w->have_deadline = 1;
        }
        if (pthread_cond_timedwait(&c->cv, &c->mu, &w->deadline) == ETIMEDOUT &&
            h->state != ST_READY) {
            pthread_mutex_unlock(&c->mu);
            return -FIO_CACHE_TIMEOUT;
        }
    }
}

static const centry *lookup_locked(const fio_chash *h, fio_str field)
{
    return fio_strmap_get(&h->fields, field.p, field.n);
}

int fio_chash_get(fio_chash *h, fio_str field, fio_buf *out)
{
    waiter w = {0};
    int rc = wait_ready(h, &w);
    if (rc < 0)
        return rc;
    const centry *e = lookup_locked(h, field);
    rc = 0;
    if (e)
        rc = fio_buf_append(out, e->v, e->vlen) < 0 ? -FIO_CACHE_NOMEM : 1;
    pthread_mutex_unlock(&h->c->mu);
    return rc;
}

int fio_chash_has(fio_chash *h, fio_str field)
{
    waiter w = {0};
    int rc = wait_ready(h, &w);
    if (rc < 0)
        return rc;
    rc = lookup_locked(h, field) != NULL;
    pthread_mutex_unlock(&h->c->mu);
    return rc;
}

long fio_chash_len(fio_chash *h)
{
    waiter w = {0};
    int rc = wait_ready(h, &w);
    if (rc < 0)
        return rc;
    long n = (long)h->fields.count;
    pthread_mutex_unlock(&h->c->mu);
    return n;
}

int fio_chash_each(fio_chash *h, fio_chash_fn fn, void *ctx)
{
    /* Snapshot: one block of (field len, value len, field bytes, value bytes). */
    typedef struct { size_t fn, vn; } pair_hdr;
    char *snap = NULL;
    size_t count = 0;
    waiter w = {0};
    int rc = wait_ready(h, &w);
    if (rc < 0)
        return rc;
    size_t total = 0;
    int overflow = 0;
    for (size_t i = 0; i < h->fields.cap; i++) {
        const fio_strmap_slot *s = &h->fields.slots[i];
        if (!s->key)
            continue;
        size_t add = sizeof(pair_hdr) + s->keylen + ((const centry *)s->value)->vlen;
        add = (add + _Alignof(pair_hdr) - 1) / _Alignof(pair_hdr) * _Alignof(pair_hdr);
        if (add < s->keylen || total > SIZE_MAX - add)
            overflow = 1;
        else
            total += add;
        count++;
    }
    if (count && !overflow)
        snap = malloc(total);
    if (count && !snap) {
        pthread_mutex_unlock(&h->c->mu);
        rc = -FIO_CACHE_NOMEM;
        goto done;
    }
    char *p = snap;
    for (size_t i = 0; i < h->fields.cap; i++) {
        const fio_strmap_slot *s = &h->fields.slots[i];
        if (!s->key)
            continue;
        const centry *e = s->value;
        pair_hdr hd = {s->keylen, e->vlen};
        memcpy(p, &hd, sizeof hd);
        memcpy(p + sizeof hd, s->key, s->keylen);
        memcpy(p + sizeof hd + s->keylen, e->v, e->vlen);
        size_t add = sizeof hd + s->keylen + e->vlen;
        p += (add + _Alignof(pair_hdr) - 1) / _Alignof(pair_hdr) * _Alignof(pair_hdr);
    }
    pthread_mutex_unlock(&h->c->mu);
    p = snap;
    for (size_t i = 0; i < count; i++) {
        pair_hdr hd;
        memcpy(&hd, p, sizeof hd);
        fio_str f = {p + sizeof hd, hd.fn}, v = {p + sizeof hd + hd.fn, hd.vn};
        if (fn(ctx, f, v))
            break;
        size_t add = sizeof hd + hd.fn + hd.vn;
        p += (add + _Alignof(pair_hdr) - 1) / _Alignof(pair_hdr) * _Alignof(pair_hdr);
    }
    rc = 0;
done:
    free(snap);
    return rc;
}

/* ---------------------------------------------------------------- writes */

/* Every write is one EVAL of this script: ARGV[1] is HSET, HDEL or DEL, run on
 * KEYS[1] with ARGV[2..] (in chunks of 1000 arguments, an even number, which
 * stays under Lua's unpack limit), then EXISTS KEYS[1].
 *
 * Why not plain HSET/HDEL/DEL: when a tracking client writes a key it tracks,
 * Redis drops the key from its tracking table even under NOLOOP (which only
 * suppresses the message), so after a plain local write the copy would no
 * longer hear of other clients' writes. The read in the same script tracks
 * the key again with no gap in which another client's write could slip by
 * unreported. The script is idempotent like the command it wraps, so
 * FIO_RCMD_RETRY still holds. */
static const char WRITE_LUA[] =
    "local c=ARGV[1] local n=#ARGV "
    "if n==1 then redis.call(c,KEYS[1]) end "
    "local i=2 "
    "while i<=n do local j=math.min(i+999,n) redis.call(c,KEYS[1],unpack(ARGV,i,j)) i=j+1 end "
    "return redis.call('EXISTS',KEYS[1])";

enum { WARG = 5 };   /* EVAL script 1 name cmd, then the command's arguments */

/* argv for the script running `cmd name a1 a2 ...`: the caller fills
 * argv[WARG..WARG+nargs-1]. */
static int argv_new(fio_chash *h, const char *cmd, size_t nargs, const char ***argv, size_t **argvlen)
{
    *argv = NULL;
    *argvlen = NULL;
    if (nargs > (size_t)INT_MAX - WARG || nargs + WARG > SIZE_MAX / sizeof(size_t))
        return -1;
    *argv = malloc((nargs + WARG) * sizeof **argv);
    *argvlen = malloc((nargs + WARG) * sizeof **argvlen);
    if (!*argv || !*argvlen) {
        free(*argv);
        free(*argvlen);
        *argv = NULL;
        *argvlen = NULL;
        return -1;
    }
    const char *head[WARG] = {"EVAL", WRITE_LUA, "1", h->name, cmd};
    size_t headlen[WARG] = {4, sizeof WRITE_LUA - 1, 1, h->nlen, strlen(cmd)};
    memcpy(*argv, head, sizeof head);
    memcpy(*argvlen, headlen, sizeof headlen);
    return 0;
}

int fio_chash_set(fio_chash *h, const fio_str *fields, const fio_str *values, size_t n)
{
    fio_cache *c = h->c;
    const char **argv = NULL;
    size_t *argvlen = NULL;
    centry **ents = NULL;
    size_t applied = 0;
    int rc = -FIO_CACHE_NOMEM, relaunch = 0;
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / 2 / sizeof *ents || argv_new(h, "HSET", 2 * n, &argv, &argvlen) < 0)
        goto done;
    ents = calloc(n, sizeof *ents);
    if (!ents)
        goto done;
    for (size_t i = 0; i < n; i++) {
        argv[WARG + 2 * i] = fields[i].p ? fields[i].p : "";
        argvlen[WARG + 2 * i] = fields[i].n;
        argv[WARG + 1 + 2 * i] = values[i].p ? values[i].p : "";
        argvlen[WARG + 1 + 2 * i] = values[i].n;
        if (!(ents[i] = entry_new(values[i].p, values[i].n, 0)))
            goto done;
    }

    pthread_mutex_lock(&c->qmu);
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->qmu);
        rc = -FIO_CACHE_CLOSED;
        goto done;
    }
    uint64_t seq = ++h->seq;
    for (; applied < n; applied++) {
        centry *e = ents[applied];
        e->seq = seq;
        centry *prev = fio_strmap_get(&h->fields, fields[applied].p, fields[applied].n);
        if (fio_strmap_put(&h->fields, fields[applied].p, fields[applied].n, e) < 0)
            break;
        free(prev);
        ents[applied] = NULL;
    }
    if (applied < n) {
        /* part of the write is in the copy, none of it in Redis */
        relaunch = mark_stale_locked(h);
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->qmu);
        goto done;
    }
    c->nqueued++;
    pthread_mutex_unlock(&c->mu);
    rc = queue_write(h, (int)(2 * n + WARG), argv, argvlen, hset_cb, &relaunch) < 0 ? -FIO_CACHE_NOMEM : 0;
    pthread_mutex_unlock(&c->qmu);

done:
    if (ents)
        for (size_t i = 0; i < n; i++)
            free(ents[i]);
    free(ents);
    free(argv);
    free(argvlen);
    if (relaunch)
        launch(h);
    return rc;
}

long fio_chash_del(fio_chash *h, const fio_str *fields, size_t n)
{
    fio_cache *c = h->c;
    const char **argv = NULL;
    size_t *argvlen = NULL;
    waiter w = {0};
    long rc;
    int relaunch = 0;
    if (n == 0)
        return 0;
    if (argv_new(h, "HDEL", n, &argv, &argvlen) < 0) {
        rc = -FIO_CACHE_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        argv[WARG + i] = fields[i].p ? fields[i].p : "";
        argvlen[WARG + i] = fields[i].n;
    }
    /* The answer depends on the content: wait like a read, then make sure
     * no reload began before this write takes its place in the queue. */
    for (;;) {
        rc = wait_ready(h, &w);
        if (rc < 0)
            goto done;
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_lock(&c->qmu);
        pthread_mutex_lock(&c->mu);
        if (c->closed) {
            rc = -FIO_CACHE_CLOSED;
            goto unlock;
        }
        if (h->state == ST_READY)
            break;
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->qmu);
    }
    /* None present: nothing is changed or queued. A field repeated in the
     * call counts once, as in HDEL. */
    size_t first = 0;
    while (first < n && !lookup_locked(h, fields[first]))
        first++;
    rc = 0;
    if (first == n)
        goto unlock;
    h->seq++;
    for (size_t i = first; i < n; i++) {
        centry *e = fio_strmap_del(&h->fields, fields[i].p, fields[i].n);
        if (e)
            rc++;
        free(e);
    }
    c->nqueued++;
    pthread_mutex_unlock(&c->mu);
    if (queue_write(h, (int)(n + WARG), argv, argvlen, hdel_cb, &relaunch) < 0)
        rc = -FIO_CACHE_NOMEM;
    pthread_mutex_unlock(&c->qmu);
    goto done;
unlock:
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->qmu);
done:
    free(argv);
    free(argvlen);
    if (relaunch)
        launch(h);
    return rc;
}


int fio_chash_clear(fio_chash *h)
{
    fio_cache *c = h->c;
    const char *argv[WARG] = {"EVAL", WRITE_LUA, "1", h->name, "DEL"};
    size_t argvlen[WARG] = {4, sizeof WRITE_LUA - 1, 1, h->nlen, 3};
    fio_strmap trash;
    fio_strmap_init(&trash);
    int rc = 0, relaunch = 0;
    pthread_mutex_lock(&c->qmu);
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->qmu);
        return -FIO_CACHE_CLOSED;
    }
    h->clear_seq = ++h->seq;
    trash = h->fields;
    fio_strmap_init(&h->fields);
    c->nqueued++;
    pthread_mutex_unlock(&c->mu);
    if (queue_write(h, WARG, argv, argvlen, del_cb, &relaunch) < 0)
        rc = -FIO_CACHE_NOMEM;
    pthread_mutex_unlock(&c->qmu);
    fields_free(&trash);
    if (relaunch)
        launch(h);
    return rc;
}

long fio_cache_flush(fio_cache *c, int timeout_ms)
{
    struct timespec deadline;
    long rc;
    if (timeout_ms >= 0)
        deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&c->mu);
    uint64_t target = c->nqueued;
    for (;;) {
        if (c->nanswered >= target) {
            rc = (long)(c->nrefused > (uint64_t)LONG_MAX ? LONG_MAX : c->nrefused);
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&c->cv, &c->mu);
        } else if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT &&
                   c->nanswered < target) {
            rc = -FIO_CACHE_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---------------------------------------------------------------- cache, hashes */

fio_cache *fio_cache_new(fio_redis *r, int wait_ms, void (*log_fn)(void *ctx, const char *msg),
                         void *log_ctx)
{
    fio_cache *c = NULL;
    pthread_condattr_t ca;
    int have_ca = 0, have_mu = 0, have_qmu = 0;
    if (!r)
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->r = r;
    c->wait_ms = wait_ms;
    c->log_fn = log_fn;
    c->log_ctx = log_ctx;
    fio_strmap_init(&c->names);
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto fail;
    have_mu = 1;
    if (pthread_mutex_init(&c->qmu, NULL) != 0)
        goto fail;
    have_qmu = 1;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    have_ca = 1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&c->cv, &ca) != 0)
        goto fail;
    pthread_condattr_destroy(&ca);
    return c;
fail:
    if (have_ca)
        pthread_condattr_destroy(&ca);
    if (have_qmu)
        pthread_mutex_destroy(&c->qmu);
    if (have_mu)
        pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

void fio_cache_free(fio_cache *c)
{
    if (!c)
        return;
    for (fio_chash *h = c->all, *next; h; h = next) {
        next = h->next;
        fields_free(&h->fields);
        free(h->name);
        free(h);
    }
    fio_strmap_free(&c->names);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->qmu);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

fio_chash *fio_cache_hash(fio_cache *c, fio_str name)
{
    fio_chash *h;
    pthread_mutex_lock(&c->mu);
    h = fio_strmap_get(&c->names, name.p, name.n);
    if (h) {
        pthread_mutex_unlock(&c->mu);
        return h;
    }
    h = calloc(1, sizeof *h);
    if (!h || name.n == SIZE_MAX || !(h->name = malloc(name.n + 1)))
        goto fail;
    if (name.n)
        memcpy(h->name, name.p, name.n);
    h->name[name.n] = '\0';
    h->nlen = name.n;
    h->c = c;
    fio_strmap_init(&h->fields);
    h->state = ST_LOADING;
    h->loading = 1;   /* claimed: the first load starts below */
    if (fio_strmap_put(&c->names, name.p, name.n, h) < 0)
        goto fail;
    h->next = c->all;
    c->all = h;
    pthread_mutex_unlock(&c->mu);
    launch(h);
    return h;
fail:
    pthread_mutex_unlock(&c->mu);
    if (h)
        free(h->name);
    free(h);
    return NULL;
}

/* ---------------------------------------------------------------- invalidation */

static void invalidate_hash(fio_chash *h)
{
    fio_cache *c = h->c;
    int go = 0;
    pthread_mutex_lock(&c->mu);
    if (h->loading) {
        h->raced = 1;   /* its reply may predate the change: discard it, load again */
    } else if (!c->closed) {
        if (h->state == ST_READY)
            h->state = ST_STALE;
        h->loading = 1;
        go = 1;
    }
    pthread_mutex_unlock(&c->mu);
    if (go)
        launch(h);   /* eager: the copy is current again without waiting for a reader */
}

void fio_cache_invalidate(fio_cache *c, const char *key, size_t n)
{
    fio_chash *h;
    if (!key) {
        pthread_mutex_lock(&c->mu);
        h = c->all;
        pthread_mutex_unlock(&c->mu);
        /* next pointers never change once a hash is published */
        for (; h; h = h->next)
            invalidate_hash(h);
        return;
    }
    pthread_mutex_lock(&c->mu);
    h = fio_strmap_get(&c->names, key, n);
    pthread_mutex_unlock(&c->mu);
    if (h)
        invalidate_hash(h);
}
