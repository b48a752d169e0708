#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

/* Everything here runs on the I/O thread without r->mu held, except
 * fio_rc_now_ms and fio_rc_wake (any thread). The handshake is blocking with
 * a deadline: each wait polls the connection and the wake fd, and gives up at
 * the deadline or when the client is closing. */

static _Thread_local char reason_buf[160];

int64_t fio_rc_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fio_rc_wake(fio_redis *r)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is saturated, so a wake-up is pending anyway. */
    while (write(r->wakefd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

void fio_rc_drain_wake(fio_redis *r)
{
    uint64_t n;
    while (read(r->wakefd, &n, sizeof n) < 0 && errno == EINTR) {
    }
}

const char *fio_rc_reason(const char *what, const char *detail)
{
    snprintf(reason_buf, sizeof reason_buf, "%s: %s", what, detail && *detail ? detail : "error");
    return reason_buf;
}

static const char *errno_reason(const char *what, int err)
{
    char tmp[96];
    return fio_rc_reason(what, strerror_r(err, tmp, sizeof tmp));
}

/* Waits until fd reports one of events. 0 ready, -1 with *reason. */
static int wait_fd(fio_redis *r, int fd, short events, int64_t deadline, const char **reason)
{
    for (;;) {
        if (atomic_load(&r->closing)) {
            *reason = "client closed";
            return -1;
        }
        int64_t left = deadline - fio_rc_now_ms();
        if (left <= 0) {
            *reason = "timeout";
            return -1;
        }
        struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = r->wakefd, .events = POLLIN}};
        int n = poll(p, 2, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR) {
            *reason = errno_reason("poll", errno);
            return -1;
        }
        if (n <= 0)
            continue;
        if (p[1].revents) {
            fio_rc_drain_wake(r);
            r->woken = 1;   /* the loop must still look at what it was woken for */
        }
        if (p[0].revents)
            return 0;
    }
}

static redisContext *connect_to(fio_redis *r, const char *host, int port, const char *path,
                                int64_t deadline, const char **reason)
{
    redisContext *c = path ? redisConnectUnixNonBlock(path) : redisConnectNonBlock(host, port);
    if (!c) {
        *reason = "out of memory";
        return NULL;
    }
    if (c->err) {
        *reason = fio_rc_reason("connect", c->errstr);
        goto fail;
    }
    if (wait_fd(r, c->fd, POLLOUT, deadline, reason) < 0)
        goto fail;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        *reason = errno_reason("connect", soerr);
        goto fail;
    }
    if (!path && redisEnableKeepAlive(c) != REDIS_OK) {
        *reason = fio_rc_reason("keepalive", c->errstr);
        goto fail;
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* Sends one command (C strings) and waits for its reply. */
static redisReply *roundtrip(fio_redis *r, redisContext *c, int argc, const char **argv,
                             int64_t deadline, const char **reason)
{
    if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK) {
        *reason = "out of memory";
        return NULL;
    }
    for (;;) {
        int done = 0;
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            *reason = fio_rc_reason(argv[0], c->errstr);
            return NULL;
        }
        if (done)
            break;
        if (wait_fd(r, c->fd, POLLOUT, deadline, reason) < 0)
            return NULL;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            *reason = fio_rc_reason(argv[0], c->errstr);
            return NULL;
        }
        if (reply)
            return reply;
        if (wait_fd(r, c->fd, POLLIN, deadline, reason) < 0)
            return NULL;
        if (redisBufferRead(c) != REDIS_OK) {
            *reason = fio_rc_reason(argv[0], c->errstr);
            return NULL;
        }
    }
}

/* roundtrip expecting a reply of type `type` (error replies are failures).
 * Returns the reply (caller frees) or NULL with *reason. */
static redisReply *expect(fio_redis *r, redisContext *c, int argc, const char **argv, int type,
                          int64_t deadline, const char **reason)
{
    redisReply *rep = roundtrip(r, c, argc, argv, deadline, reason);
    if (!rep)
        return NULL;
    if (rep->type == type)
        return rep;
    const char *what = rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply";
    *reason = fio_rc_reason(argv[0], what);
    freeReplyObject(rep);
    return NULL;
}

static int expect_ok(fio_redis *r, redisContext *c, int argc, const char **argv, int64_t deadline,
                     const char **reason)
{
    redisReply *rep = expect(r, c, argc, argv, REDIS_REPLY_STATUS, deadline, reason);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static int auth(fio_redis *r, redisContext *c, const char *user, const char *pass,
                int64_t deadline, const char **reason)
{
    if (!pass)
        return 0;
    const char *argv[3] = {"AUTH", user ? user : pass, pass};
    return expect_ok(r, c, user ? 3 : 2, argv, deadline, reason);
}

/* Asks sentinel i for the master's address. 0 / -1 with *reason. */
static int ask_sentinel(fio_redis *r, size_t i, fio_rconn *cn, const char **reason)
{
    int64_t deadline = fio_rc_now_ms() + r->connect_timeout_ms;
    const fio_redis_addr *a = &r->sentinels[i];
    redisContext *c = connect_to(r, a->host, a->port, NULL, deadline, reason);
    int rc = -1;
    redisReply *rep = NULL;
    if (!c)
        return -1;
    if (auth(r, c, r->sentinel_username, r->sentinel_password, deadline, reason) < 0)
        goto done;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", r->master_name};
    rep = expect(r, c, 3, argv, REDIS_REPLY_ARRAY, deadline, reason);
    if (!rep)
        goto done;
    if (rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[0]->len >= sizeof cn->host) {
        *reason = "sentinel: bad master address";
        goto done;
    }
    memcpy(cn->host, rep->element[0]->str, rep->element[0]->len + 1);
    cn->port = atoi(rep->element[1]->str);
    rc = 0;
done:
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return rc;
}

/* 0 when the server says ROLE master. */
static int check_master(fio_redis *r, redisContext *c, int64_t deadline, const char **reason)
{
    const char *argv[1] = {"ROLE"};
    redisReply *rep = expect(r, c, 1, argv, REDIS_REPLY_ARRAY, deadline, reason);
    if (!rep)
        return -1;
    int ok = rep->elements > 0 && rep->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(rep->element[0]->str, "master") == 0;
    freeReplyObject(rep);
    if (!ok)
        *reason = "sentinel: server is not a master";
    return ok ? 0 : -1;
}

/* Connects to the master (direct or through Sentinel) and authenticates. */
static redisContext *connect_master(fio_redis *r, fio_rconn *cn, int64_t *deadline,
                                    const char **reason)
{
    if (!r->nsentinels) {
        *deadline = fio_rc_now_ms() + r->connect_timeout_ms;
        snprintf(cn->host, sizeof cn->host, "%s", r->host ? r->host : "");
        cn->port = r->unix_path ? 0 : r->port;
        redisContext *c = connect_to(r, r->host, r->port, r->unix_path, *deadline, reason);
        if (c && auth(r, c, r->username, r->password, *deadline, reason) < 0) {
            redisFree(c);
            c = NULL;
        }
        return c;
    }
    for (size_t k = 0; k < r->nsentinels && !atomic_load(&r->closing); k++) {
        size_t i = (r->next_sentinel + k) % r->nsentinels;
        if (ask_sentinel(r, i, cn, reason) < 0)
            continue;
        *deadline = fio_rc_now_ms() + r->connect_timeout_ms;
        redisContext *c = connect_to(r, cn->host, cn->port, NULL, *deadline, reason);
        if (!c)
            continue;
        if (auth(r, c, r->username, r->password, *deadline, reason) == 0 &&
            check_master(r, c, *deadline, reason) == 0) {
            r->next_sentinel = i;
            return c;
        }
        redisFree(c);
    }
    return NULL;
}

static int handshake_sub(fio_redis *r, redisContext *c, int64_t deadline, const char **reason)
{
    if (!r->tracking)
        return 0;
    const char *id_argv[2] = {"CLIENT", "ID"};
    redisReply *rep = expect(r, c, 2, id_argv, REDIS_REPLY_INTEGER, deadline, reason);
    if (!rep)
        return -1;
    r->sub_id = rep->integer;
    freeReplyObject(rep);
    const char *sub_argv[2] = {"SUBSCRIBE", FIO_RC_INVALIDATE_CHAN};
    rep = expect(r, c, 2, sub_argv, REDIS_REPLY_ARRAY, deadline, reason);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static int handshake_cmd(fio_redis *r, redisContext *c, int64_t deadline, const char **reason)
{
    if (r->db) {
        char db[24];
        snprintf(db, sizeof db, "%d", r->db);
        const char *argv[2] = {"SELECT", db};
        if (expect_ok(r, c, 2, argv, deadline, reason) < 0)
            return -1;
    }
    if (!r->tracking)
        return 0;
    char id[24];
    snprintf(id, sizeof id, "%lld", r->sub_id);
    const char *argv[6] = {"CLIENT", "TRACKING", "on", "REDIRECT", id, "NOLOOP"};
    return expect_ok(r, c, 6, argv, deadline, reason);
}

int fio_rc_open(fio_redis *r, fio_rconn *cn, const char **reason)
{
    int64_t deadline = 0;
    redisContext *c = connect_master(r, cn, &deadline, reason);
    if (!c)
        return -1;
    int rc = cn->which == FIO_REDIS_SUB ? handshake_sub(r, c, deadline, reason)
                                        : handshake_cmd(r, c, deadline, reason);
    if (rc < 0) {
        redisFree(c);
        return -1;
    }
    cn->c = c;
    return 0;
}
