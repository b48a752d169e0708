#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/sds.h>

#include "client_internal.h"

/* The I/O thread (fio_rc_io_main): owns both hiredis contexts and r->sent;
 * takes r->mu only for short moves of queued commands and for the
 * subscription set, and never calls a callback with it held. */

#define OBUF_HIGH ((size_t)1 << 20)   /* stop filling hiredis's output buffer past this */

/* ---------------- I/O thread: connection state ---------------- */

static size_t obuf_len(const redisContext *c)
{
    return c->obuf ? sdslen(c->obuf) : 0;
}

static void announce(fio_redis *r, fio_rconn *cn, int up, const char *reason)
{
    atomic_store(cn->which == FIO_REDIS_CMD ? &r->cmd_up : &r->sub_up, up);
    if (cn->announced == up)
        return;
    cn->announced = up;
    if (r->ev.state)
        r->ev.state(r->ev.ctx, cn->which, up, up ? NULL : reason);
}

static void invalidate_all(fio_redis *r)
{
    if (r->ev.invalidate)
        r->ev.invalidate(r->ev.ctx, NULL, 0);
}

/* Next attempt after the current backoff, which then doubles up to the max. */
static void schedule_retry(fio_redis *r, fio_rconn *cn)
{
    cn->retry_at = fio_rc_now_ms() + cn->backoff_ms;
    int max = r->max_backoff_ms;
    cn->backoff_ms = cn->backoff_ms > max / 2 ? max : cn->backoff_ms * 2;
}

/* Closes cn. On the command connection, sent commands with FIO_RCMD_RETRY go
 * back to the front of r->unsent in order; the others fail. reason must not
 * point into cn->c (use fio_rc_reason). */
static void lost(fio_redis *r, fio_rconn *cn, const char *reason)
{
    redisFree(cn->c);
    cn->c = NULL;
    schedule_retry(r, cn);
    if (cn->which == FIO_REDIS_SUB) {
        announce(r, cn, 0, reason);
        return;
    }
    fio_rcmd_fifo retry = {NULL, NULL}, fail = {NULL, NULL};
    fio_rcmd *c;
    while ((c = fio_rc_fifo_pop(&r->sent))) {
        if (c->flags & FIO_RC_INTERNAL)
            free(c);
        else
            fio_rc_fifo_push(c->flags & FIO_RCMD_RETRY ? &retry : &fail, c);
    }
    if (retry.head) {
        pthread_mutex_lock(&r->mu);
        fio_rc_fifo_prepend(&r->unsent, &retry);
        pthread_mutex_unlock(&r->mu);
    }
    announce(r, cn, 0, reason);
    fio_rc_complete_all(&fail, "connection lost");
}

/* Points the command connection's tracking at the new subscriber connection
 * (Redis silently stops sending invalidations once the old one is gone). The
 * reply is handled by tracking_reply. */
static void retrack(fio_redis *r)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", r->sub_id);
    const char *argv[6] = {"CLIENT", "TRACKING", "on", "REDIRECT", id, "NOLOOP"};
    fio_rcmd *c = fio_rc_cmd_new(6, argv, NULL, FIO_RC_INTERNAL, NULL, NULL);
    if (!c || redisAppendFormattedCommand(r->cmd.c, c->wire, c->len) != REDIS_OK) {
        free(c);
        lost(r, &r->cmd, "out of memory");
        return;
    }
    fio_rc_fifo_push(&r->sent, c);
}

/* Every channel must be told again to the new subscriber connection. */
static void sub_opened(fio_redis *r)
{
    const fio_strmap_slot *slot;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; fio_strmap_next(&r->chans, &i, &slot);) {
        fio_rchan *ch = slot->value;
        ch->sent = 0;
        fio_rc_mark_dirty(r, ch);
    }
    pthread_mutex_unlock(&r->mu);
    if (r->tracking && r->cmd.c)
        retrack(r);
}

static void cmd_opened(fio_redis *r)
{
    if (!r->tracking)
        return;
    if (r->tracking_was_on)
        invalidate_all(r);
    r->tracking_was_on = 1;
}

static void try_open(fio_redis *r, fio_rconn *cn, int64_t now)
{
    if (cn->c || now < cn->retry_at)
        return;
    const char *reason = "connect failed";
    if (fio_rc_open(r, cn, &reason) < 0) {
        if (atomic_load(&r->closing))
            return;
        schedule_retry(r, cn);
        announce(r, cn, 0, reason);
        return;
    }
    cn->backoff_ms = fio_rc_backoff_min(r);
    fio_rconn *other = cn == &r->cmd ? &r->sub : &r->cmd;
    if (other->c && r->nsentinels && (other->port != cn->port || strcmp(other->host, cn->host)))
        lost(r, other, "master changed");
    announce(r, cn, 1, NULL);
    if (cn->which == FIO_REDIS_SUB)
        sub_opened(r);
    else
        cmd_opened(r);
}

/* ---------------- I/O thread: command connection ---------------- */

/* Moves queued commands into hiredis's output buffer (up to OBUF_HIGH) and
 * onto r->sent. -1 when the connection was lost. */
static int cmd_fill(fio_redis *r)
{
    redisContext *c = r->cmd.c;
    pthread_mutex_lock(&r->mu);
    fio_rcmd_fifo batch = r->unsent;
    r->unsent.head = r->unsent.tail = NULL;
    pthread_mutex_unlock(&r->mu);
    int rc = 0;
    while (batch.head && obuf_len(c) < OBUF_HIGH) {
        if (redisAppendFormattedCommand(c, batch.head->wire, batch.head->len) != REDIS_OK) {
            rc = -1;
            break;
        }
        fio_rc_fifo_push(&r->sent, fio_rc_fifo_pop(&batch));
    }
    if (batch.head) {
        pthread_mutex_lock(&r->mu);
        fio_rc_fifo_prepend(&r->unsent, &batch);
        pthread_mutex_unlock(&r->mu);
    }
    if (rc < 0)
        lost(r, &r->cmd, "out of memory");
    return rc;
}

/* Fills and writes until the socket would block or nothing is left. */
static void cmd_flush(fio_redis *r)
{
    for (;;) {
        redisContext *c = r->cmd.c;
        if (obuf_len(c) < OBUF_HIGH && cmd_fill(r) < 0)
            return;
        if (!obuf_len(c))
            return;
        int done = 0;
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            lost(r, &r->cmd, fio_rc_reason("write", c->errstr));
            return;
        }
        if (!done)
            return;
    }
}

/* The reply to retrack. -1 when the connection was dropped. */
static int tracking_reply(fio_redis *r, fio_rcmd *cmd, redisReply *reply)
{
    int ok = reply->type == REDIS_REPLY_STATUS;
    const char *why = ok ? NULL
                         : fio_rc_reason("CLIENT TRACKING", reply->type == REDIS_REPLY_ERROR
                                                                ? reply->str
                                                                : "unexpected reply");
    freeReplyObject(reply);
    free(cmd);
    if (!ok) {
        lost(r, &r->cmd, why);
        return -1;
    }
    invalidate_all(r);
    return 0;
}

static void cmd_read(fio_redis *r)
{
    redisContext *c = r->cmd.c;
    if (redisBufferRead(c) != REDIS_OK) {
        lost(r, &r->cmd, fio_rc_reason("read", c->errstr));
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            lost(r, &r->cmd, fio_rc_reason("read", c->errstr));
            return;
        }
        if (!reply)
            return;
        fio_rcmd *cmd = fio_rc_fifo_pop(&r->sent);
        if (!cmd) {
            freeReplyObject(reply);
            lost(r, &r->cmd, "unexpected reply");
            return;
        }
        if (!(cmd->flags & FIO_RC_INTERNAL))
            fio_rc_complete(cmd, reply, NULL);
        else if (tracking_reply(r, cmd, reply) < 0)
            return;
    }
}

/* ---------------- I/O thread: subscriber connection ---------------- */

/* Sends SUBSCRIBE / UNSUBSCRIBE for every channel whose want differs from
 * what the connection was told; forgets channels neither wanted nor sent. */
static void sub_reconcile(fio_redis *r)
{
    redisContext *c = r->sub.c;
    fio_rchan *ch;
    pthread_mutex_lock(&r->mu);
    while ((ch = r->dirty)) {
        if (ch->want != ch->sent) {
            const char *argv[2] = {ch->want ? "SUBSCRIBE" : "UNSUBSCRIBE", ch->name};
            size_t lens[2] = {strlen(argv[0]), ch->len};
            if (redisAppendCommandArgv(c, 2, argv, lens) != REDIS_OK)
                break;   /* c->err is set: the write below drops the connection */
            ch->sent = ch->want;
        }
        r->dirty = ch->dirty_next;
        ch->dirty_next = NULL;
        ch->in_dirty = 0;
        if (!ch->want && !ch->sent) {
            fio_strmap_del(&r->chans, ch->name, ch->len);
            free(ch);
        }
    }
    pthread_mutex_unlock(&r->mu);
}

static void sub_flush(fio_redis *r)
{
    sub_reconcile(r);
    redisContext *c = r->sub.c;
    int done = 0;
    if ((obuf_len(c) || c->err) && redisBufferWrite(c, &done) != REDIS_OK)
        lost(r, &r->sub, fio_rc_reason("write", c->errstr));
}

static void invalidated(fio_redis *r, const redisReply *data)
{
    if (!r->ev.invalidate)
        return;
    if (data->type == REDIS_REPLY_NIL) {
        invalidate_all(r);
        return;
    }
    if (data->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < data->elements; i++) {
        const redisReply *k = data->element[i];
        if (k->type == REDIS_REPLY_STRING)
            r->ev.invalidate(r->ev.ctx, k->str, k->len);
    }
}

static void sub_message(fio_redis *r, const redisReply *m)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = m->element[0]->str;
    const redisReply *ch = m->element[1], *data = m->element[2];
    int inval = ch->len == sizeof FIO_RC_INVALIDATE_CHAN - 1 &&
                memcmp(ch->str, FIO_RC_INVALIDATE_CHAN, ch->len) == 0;
    if (strcmp(kind, "message") == 0) {
        if (inval)
            invalidated(r, data);
        else if (r->ev.message && data->type == REDIS_REPLY_STRING)
            r->ev.message(r->ev.ctx, ch->str, ch->len, data->str, data->len);
    } else if (!inval && r->ev.subscribed &&
               (strcmp(kind, "subscribe") == 0 || strcmp(kind, "unsubscribe") == 0)) {
        r->ev.subscribed(r->ev.ctx, ch->str, ch->len, kind[0] == 's');
    }
}

/* Delivers the messages hiredis has already read, until paused. */
static void sub_dispatch(fio_redis *r)
{
    while (r->sub.c && !atomic_load(&r->paused)) {
        void *reply = NULL;
        if (redisGetReplyFromReader(r->sub.c, &reply) != REDIS_OK) {
            lost(r, &r->sub, fio_rc_reason("read", r->sub.c->errstr));
            return;
        }
        if (!reply)
            return;
        sub_message(r, reply);
        freeReplyObject(reply);
    }
}

static void sub_read(fio_redis *r)
{
    redisContext *c = r->sub.c;
    if (redisBufferRead(c) != REDIS_OK) {
        lost(r, &r->sub, fio_rc_reason("read", c->errstr));
        return;
    }
    sub_dispatch(r);
}

/* ---------------- I/O thread: loop ---------------- */

/* ms until the next connection attempt is due, -1 when none is. */
static int next_timeout(fio_redis *r, int need_sub, int64_t now)
{
    int64_t due = -1;
    if (!r->sub.c && need_sub)
        due = r->sub.retry_at;
    if (!r->cmd.c && (!r->tracking || r->sub.c) && (due < 0 || r->cmd.retry_at < due))
        due = r->cmd.retry_at;
    if (due < 0)
        return -1;
    if (due <= now)
        return 0;
    return due - now > 60000 ? 60000 : (int)(due - now);
}

static void io_poll(fio_redis *r, int need_sub)
{
    struct pollfd p[3];
    int n = 0, ic = -1, is = -1;
    p[n++] = (struct pollfd){.fd = r->wakefd, .events = POLLIN};
    if (r->cmd.c) {
        ic = n;
        p[n++] = (struct pollfd){.fd = r->cmd.c->fd,
                                 .events = POLLIN | (obuf_len(r->cmd.c) ? POLLOUT : 0)};
    }
    if (r->sub.c) {
        is = n;
        short ev = (atomic_load(&r->paused) ? 0 : POLLIN) | (obuf_len(r->sub.c) ? POLLOUT : 0);
        p[n++] = (struct pollfd){.fd = r->sub.c->fd, .events = ev};
    }
    int timeout = r->woken ? 0 : next_timeout(r, need_sub, fio_rc_now_ms());
    r->woken = 0;
    if (poll(p, (nfds_t)n, timeout) < 0) {
        if (errno != EINTR) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        return;
    }
    if (p[0].revents)
        fio_rc_drain_wake(r);
    short ready = POLLIN | POLLHUP | POLLERR | POLLNVAL;
    if (ic >= 0 && (p[ic].revents & POLLOUT) && r->cmd.c)
        cmd_flush(r);
    if (ic >= 0 && (p[ic].revents & ready) && r->cmd.c)
        cmd_read(r);
    if (is >= 0 && (p[is].revents & POLLOUT) && r->sub.c)
        sub_flush(r);
    if (is >= 0 && (p[is].revents & ready) && r->sub.c)
        sub_read(r);
}

/* Closes both connections and fails every command; r->closed is set, so no
 * command can be queued any more. */
static void io_shutdown(fio_redis *r)
{
    redisFree(r->cmd.c);
    redisFree(r->sub.c);
    r->cmd.c = r->sub.c = NULL;
    atomic_store(&r->cmd_up, 0);
    atomic_store(&r->sub_up, 0);
    fio_rc_complete_all(&r->sent, "client closed");
    pthread_mutex_lock(&r->mu);
    fio_rcmd_fifo q = r->unsent;
    r->unsent.head = r->unsent.tail = NULL;
    pthread_mutex_unlock(&r->mu);
    fio_rc_complete_all(&q, "client closed");
}

void *fio_rc_io_main(void *arg)
{
    fio_redis *r = arg;
    while (!atomic_load(&r->closing)) {
        int64_t now = fio_rc_now_ms();
        int need_sub = fio_rc_sub_needed(r);
        if (need_sub)
            try_open(r, &r->sub, now);
        if (!r->tracking || r->sub.c)
            try_open(r, &r->cmd, now);
        if (r->sub.c)
            sub_flush(r);
        if (r->cmd.c)
            cmd_flush(r);
        sub_dispatch(r);
        if (atomic_load(&r->closing))
            break;
        io_poll(r, need_sub);
    }
    io_shutdown(r);
    return NULL;
}

