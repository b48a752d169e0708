#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

/* Threads and locks (see client_internal.h for which field is guarded how):
 *  - API functions run on any thread and touch only r->mu-guarded fields,
 *    the atomics and the wake fd; fio_redis_call waits on its own waiter, so
 *    after queueing it no longer touches r.
 *  - The I/O thread (client_io.c) owns the connections and r->sent.
 * A command is in exactly one place: r->unsent, r->sent, or being completed
 * (its callback then runs exactly once, and the command is freed). */

/* ---------------- commands and queues ---------------- */

static size_t ndigits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static char *put_len(char *p, char tag, size_t n)
{
    size_t d = ndigits(n);
    *p++ = tag;
    for (size_t i = d; i > 0; i--) {
        p[i - 1] = (char)('0' + n % 10);
        n /= 10;
    }
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

fio_rcmd *fio_rc_cmd_new(int argc, const char *const *argv, const size_t *argvlen,
                          unsigned flags, fio_reply_fn fn, void *ctx)
{
    if (argc < 1 || !argv)
        return NULL;
    size_t total = 3 + ndigits((size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        size_t add = 5 + ndigits(n) + n;
        if (n > SIZE_MAX / 2 || total > SIZE_MAX / 2 - add)
            return NULL;
        total += add;
    }
    fio_rcmd *c = malloc(sizeof *c + total);
    if (!c)
        return NULL;
    c->next = NULL;
    c->fn = fn;
    c->ctx = ctx;
    c->flags = flags;
    c->len = total;
    char *p = put_len(c->wire, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        p = put_len(p, '$', n);
        if (n)
            memcpy(p, argv[i], n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    return c;
}

void fio_rc_complete(fio_rcmd *c, redisReply *reply, const char *err)
{
    if (c->fn)
        c->fn(c->ctx, reply, err);
    else if (reply)
        freeReplyObject(reply);
    free(c);
}

void fio_rc_complete_all(fio_rcmd_fifo *q, const char *err)
{
    fio_rcmd *c;
    while ((c = fio_rc_fifo_pop(q)))
        fio_rc_complete(c, NULL, err);
}

/* 0 queued, -2 closed (c freed). Any thread. */
static int enqueue(fio_redis *r, fio_rcmd *c)
{
    pthread_mutex_lock(&r->mu);
    if (r->closed) {
        pthread_mutex_unlock(&r->mu);
        free(c);
        return -2;
    }
    int was_empty = !r->unsent.head;
    fio_rc_fifo_push(&r->unsent, c);
    pthread_mutex_unlock(&r->mu);
    if (was_empty)
        fio_rc_wake(r);
    return 0;
}

int fio_redis_command(fio_redis *r, int argc, const char *const *argv, const size_t *argvlen,
                      unsigned flags, fio_reply_fn fn, void *ctx)
{
    fio_rcmd *c = fio_rc_cmd_new(argc, argv, argvlen, flags & FIO_RCMD_RETRY, fn, ctx);
    if (!c)
        return -1;
    return enqueue(r, c) == 0 ? 0 : -1;
}

/* ---------------- fio_redis_call ---------------- */

/* Shared by the caller and the command's callback; refs counts which of the
 * two still hold it (2, then 1; the last one frees). Guarded by w->mu. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done;
    redisReply *reply;
    const char *err;
} waiter;

static waiter *waiter_new(void)
{
    waiter *w = calloc(1, sizeof *w);
    pthread_condattr_t attr;
    int attr_ok = 0;
    if (!w)
        return NULL;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail;
    attr_ok = pthread_condattr_init(&attr) == 0;
    if (!attr_ok || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&w->cv, &attr) != 0) {
        pthread_mutex_destroy(&w->mu);
        goto fail;
    }
    pthread_condattr_destroy(&attr);
    w->refs = 2;
    return w;
fail:
    if (attr_ok)
        pthread_condattr_destroy(&attr);
    free(w);
    return NULL;
}

static void waiter_destroy(waiter *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Drops one reference; called with w->mu held, returns with it released. */
static void waiter_release(waiter *w)
{
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last)
        waiter_destroy(w);
}

/* fio_reply_fn of a fio_redis_call command; I/O thread. */
static void waiter_done(void *ctx, redisReply *reply, const char *err)
{
    waiter *w = ctx;
    redisReply *drop = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->refs == 2) {
        w->reply = reply;
        w->err = err;
        w->done = 1;
        pthread_cond_signal(&w->cv);
    } else {
        drop = reply;   /* the caller timed out and left */
    }
    waiter_release(w);
    if (drop)
        freeReplyObject(drop);
}

static struct timespec deadline_in(int ms)
{
    struct timespec ts = {0, 0};
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return ts;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

redisReply *fio_redis_call(fio_redis *r, int argc, const char *const *argv,
                           const size_t *argvlen, unsigned flags, const char **err)
{
    const char *unused;
    if (!err)
        err = &unused;
    if (pthread_equal(pthread_self(), r->thread)) {
        *err = "called from the I/O thread";
        return NULL;
    }
    if (argc < 1 || !argv) {
        *err = "bad command";
        return NULL;
    }
    int timeout_ms = r->socket_timeout_ms;
    struct timespec dl = deadline_in(timeout_ms);
    waiter *w = waiter_new();
    unsigned f = flags & FIO_RCMD_RETRY;
    fio_rcmd *c = w ? fio_rc_cmd_new(argc, argv, argvlen, f, waiter_done, w) : NULL;
    if (!c) {
        if (w)
            waiter_destroy(w);
        *err = "out of memory";
        return NULL;
    }
    if (enqueue(r, c) < 0) {
        waiter_destroy(w);
        *err = "client closed";
        return NULL;
    }
    pthread_mutex_lock(&w->mu);
    int timed_out = 0;
    while (!w->done && !timed_out) {
        if (timeout_ms > 0)
            timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &dl) != 0;
        else
            pthread_cond_wait(&w->cv, &w->mu);
    }
    redisReply *reply = w->done ? w->reply : NULL;
    *err = w->done ? w->err : "timeout";
    waiter_release(w);
    return reply;
}

/* ---------------- subscription set ---------------- */

static int set_want(fio_redis *r, const char *name, size_t len, int want)
{
    fio_rchan *fresh = NULL;
    int rc = 0, wake = 0;
    if (!name && len)
        return -1;
    if (want) {
        fresh = calloc(1, sizeof *fresh + len + 1);
        if (!fresh)
            return -1;
        fresh->len = len;
        if (len)
            memcpy(fresh->name, name, len);
    }
    pthread_mutex_lock(&r->mu);
    fio_rchan *ch = r->closed ? NULL : fio_strmap_get(&r->chans, name, len);
    if (r->closed) {
        rc = -1;
    } else if (!ch && want) {
        if (fio_strmap_put(&r->chans, name, len, fresh) == 0) {
            ch = fresh;
            fresh = NULL;
        } else {
            rc = -1;
        }
    }
    if (ch && ch->want != want) {
        ch->want = want;
        if (want)
            r->nwant++;
        else
            r->nwant--;
        fio_rc_mark_dirty(r, ch);
        wake = 1;
    }
    pthread_mutex_unlock(&r->mu);
    free(fresh);
    if (wake)
        fio_rc_wake(r);
    return rc;
}

int fio_redis_subscribe(fio_redis *r, const char *channel, size_t len)
{
    return set_want(r, channel, len, 1);
}

int fio_redis_unsubscribe(fio_redis *r, const char *channel, size_t len)
{
    return set_want(r, channel, len, 0);
}

void fio_redis_pause_messages(fio_redis *r, int paused)
{
    atomic_store(&r->paused, paused ? 1 : 0);
    fio_rc_wake(r);
}

int fio_rc_sub_needed(fio_redis *r)
{
    if (r->tracking)
        return 1;
    pthread_mutex_lock(&r->mu);
    int n = r->nwant > 0;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int fio_redis_connected(fio_redis *r)
{
    if (!atomic_load(&r->cmd_up))
        return 0;
    return fio_rc_sub_needed(r) ? atomic_load(&r->sub_up) : 1;
}

/* ---------------- lifetime ---------------- */

static int valid_port(int port)
{
    return port > 0 && port < 65536;
}

static int cfg_valid(const fio_redis_cfg *cfg)
{
    if (!cfg || cfg->db < 0 || cfg->connect_timeout_ms < 0 || cfg->socket_timeout_ms < 0 ||
        cfg->max_backoff_ms < 0)
        return 0;
    if (cfg->nsentinels) {
        if (!cfg->sentinels || !cfg->master_name)
            return 0;
        for (size_t i = 0; i < cfg->nsentinels; i++)
            if (!cfg->sentinels[i].host || !valid_port(cfg->sentinels[i].port))
                return 0;
        return 1;
    }
    return cfg->unix_path || (cfg->host && valid_port(cfg->port));
}

/* *dst = copy of src (NULL stays NULL). 0 / -1 oom. */
static int dup_str(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

static int copy_cfg(fio_redis *r, const fio_redis_cfg *cfg)
{
    r->port = cfg->port;
    r->db = cfg->db;
    r->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
    r->socket_timeout_ms = cfg->socket_timeout_ms;
    r->max_backoff_ms = cfg->max_backoff_ms ? cfg->max_backoff_ms : 5000;
    r->tracking = cfg->tracking ? 1 : 0;
    if (dup_str(&r->host, cfg->host) || dup_str(&r->unix_path, cfg->unix_path) ||
        dup_str(&r->master_name, cfg->master_name) ||
        dup_str(&r->sentinel_username, cfg->sentinel_username) ||
        dup_str(&r->sentinel_password, cfg->sentinel_password) ||
        dup_str(&r->username, cfg->username) || dup_str(&r->password, cfg->password))
        return -1;
    if (!cfg->nsentinels)
        return 0;
    r->sentinels = calloc(cfg->nsentinels, sizeof *r->sentinels);
    if (!r->sentinels)
        return -1;
    r->nsentinels = cfg->nsentinels;
    for (size_t i = 0; i < cfg->nsentinels; i++) {
        char *h;
        if (dup_str(&h, cfg->sentinels[i].host))
            return -1;
        r->sentinels[i].host = h;
        r->sentinels[i].port = cfg->sentinels[i].port;
    }
    return 0;
}

/* Frees what fio_redis_new built; the thread is not running. */
static void destroy(fio_redis *r)
{
    const fio_strmap_slot *slot;
    for (size_t i = 0; fio_strmap_next(&r->chans, &i, &slot);)
        free(slot->value);
    fio_strmap_free(&r->chans);
    for (size_t i = 0; i < r->nsentinels; i++)
        free((char *)r->sentinels[i].host);
    free(r->sentinels);
    free(r->host);
    free(r->unix_path);
    free(r->master_name);
    free(r->sentinel_username);
    free(r->sentinel_password);
    free(r->username);
    free(r->password);
    if (r->wakefd >= 0)
        close(r->wakefd);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Starts fio_rc_io_main with every signal blocked (SIGPIPE from hiredis's write()
 * then stays pending on that thread instead of killing the process, and
 * asynchronous signals go to the other threads). */
static int start_thread(fio_redis *r)
{
    sigset_t all, old;
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
        return -1;
    int rc = pthread_create(&r->thread, NULL, fio_rc_io_main, r);
    if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0 && rc == 0)
        abort();   /* cannot leave the caller's thread with every signal blocked */
    return rc == 0 ? 0 : -1;
}

fio_redis *fio_redis_new(const fio_redis_cfg *cfg, const fio_redis_events *ev, const char **err)
{
    const char *unused;
    if (!err)
        err = &unused;
    if (!cfg_valid(cfg)) {
        *err = "bad redis configuration";
        return NULL;
    }
    fio_redis *r = calloc(1, sizeof *r);
    if (!r || pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        *err = "out of memory";
        return NULL;
    }
    r->wakefd = -1;
    fio_strmap_init(&r->chans);
    if (ev)
        r->ev = *ev;
    *err = "out of memory";
    if (copy_cfg(r, cfg) < 0)
        goto fail;
    int b = fio_rc_backoff_min(r);
    r->cmd = (fio_rconn){.which = FIO_REDIS_CMD, .announced = -1, .backoff_ms = b};
    r->sub = (fio_rconn){.which = FIO_REDIS_SUB, .announced = -1, .backoff_ms = b};
    r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    *err = "cannot create eventfd";
    if (r->wakefd < 0)
        goto fail;
    *err = "cannot start the redis thread";
    if (start_thread(r) < 0)
        goto fail;
    *err = NULL;
    return r;
fail:
    destroy(r);
    return NULL;
}

void fio_redis_free(fio_redis *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->closed = 1;
    pthread_mutex_unlock(&r->mu);
    atomic_store(&r->closing, 1);
    fio_rc_wake(r);
    pthread_join(r->thread, NULL);
    destroy(r);
}
