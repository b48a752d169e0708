/* fio_redis (csrc/redis/client.c) against real redis-server processes started
 * here (redis_proc.h): ordering, concurrent calls, AUTH/SELECT, pub/sub and
 * the desired-set race, pause, tracking and NOLOOP, an outage with retries
 * and re-subscription, call timeout, Sentinel failover, and freeing with
 * pending work. argv[1] (the corpus dir) is ignored. Every wait is bounded. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "check.h"
#include "client.h"
#include "redis_proc.h"

/* ---------------- helpers ---------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define MAXEV 4096

/* Everything the events and reply callbacks saw; guarded by mu. */
static struct {
    pthread_mutex_t mu;
    int up[2], down[2];
    char reason[2][160];
    int inval_all, ninval;
    char inval[MAXEV][48];
    int nmsg;
    char msg_ch[MAXEV][48], msg_data[MAXEV][48];
    int bad_channel;
    int nsub;
    char sub_ch[MAXEV][48];
    int sub_state[MAXEV];
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void rec_reset(void)
{
    pthread_mutex_lock(&R.mu);
    memset(R.up, 0, sizeof R.up);
    memset(R.down, 0, sizeof R.down);
    R.inval_all = R.ninval = R.nmsg = R.bad_channel = R.nsub = 0;
    pthread_mutex_unlock(&R.mu);
}

static void copy_n(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void ev_message(void *ctx, const char *ch, size_t clen, const char *data, size_t dlen)
{
    (void)ctx;
    pthread_mutex_lock(&R.mu);
    if (clen >= 9 && memcmp(ch, "__redis__", 9) == 0)
        R.bad_channel++;
    if (R.nmsg < MAXEV) {
        copy_n(R.msg_ch[R.nmsg], 48, ch, clen);
        copy_n(R.msg_data[R.nmsg], 48, data, dlen);
        R.nmsg++;
    }
    pthread_mutex_unlock(&R.mu);
}

static void ev_subscribed(void *ctx, const char *ch, size_t clen, int subscribed)
{
    (void)ctx;
    pthread_mutex_lock(&R.mu);
    if (clen >= 9 && memcmp(ch, "__redis__", 9) == 0)
        R.bad_channel++;
    if (R.nsub < MAXEV) {
        copy_n(R.sub_ch[R.nsub], 48, ch, clen);
        R.sub_state[R.nsub] = subscribed;
        R.nsub++;
    }
    pthread_mutex_unlock(&R.mu);
}

static void ev_invalidate(void *ctx, const char *key, size_t klen)
{
    (void)ctx;
    pthread_mutex_lock(&R.mu);
    if (!key)
        R.inval_all++;
    else if (R.ninval < MAXEV)
        copy_n(R.inval[R.ninval++], 48, key, klen);
    pthread_mutex_unlock(&R.mu);
}

static void ev_state(void *ctx, int which, int up, const char *reason)
{
    (void)ctx;
    pthread_mutex_lock(&R.mu);
    if (up) {
        R.up[which]++;
    } else {
        R.down[which]++;
        snprintf(R.reason[which], sizeof R.reason[which], "%s", reason ? reason : "(null)");
    }
    pthread_mutex_unlock(&R.mu);
}

static const fio_redis_events EVENTS = {NULL, ev_message, ev_subscribed, ev_invalidate, ev_state};

/* R.mu held. */
static int count_inval(const char *key)
{
    int n = 0;
    for (int i = 0; i < R.ninval; i++)
        n += strcmp(R.inval[i], key) == 0;
    return n;
}

static int count_msg(const char *ch, const char *data)
{
    int n = 0;
    for (int i = 0; i < R.nmsg; i++)
        n += strcmp(R.msg_ch[i], ch) == 0 && (!data || strcmp(R.msg_data[i], data) == 0);
    return n;
}

static int count_sub(const char *ch, int state)
{
    int n = 0;
    for (int i = 0; i < R.nsub; i++)
        n += strcmp(R.sub_ch[i], ch) == 0 && R.sub_state[i] == state;
    return n;
}

static int last_sub(const char *ch)
{
    for (int i = R.nsub - 1; i >= 0; i--)
        if (strcmp(R.sub_ch[i], ch) == 0)
            return R.sub_state[i];
    return -1;
}

/* Evaluates cond under R.mu every 5 ms until it holds or ms passed. */
#define WAIT_UNTIL(ok, cond, ms)                          \
    do {                                                  \
        int64_t end_ = now_ms() + (ms);                   \
        for (;;) {                                        \
            pthread_mutex_lock(&R.mu);                    \
            ok = (cond);                                  \
            pthread_mutex_unlock(&R.mu);                  \
            if (ok || now_ms() > end_)                    \
                break;                                    \
            redis_proc_sleep_ms(5);                       \
        }                                                 \
    } while (0)

/* A reply delivered to a callback; guarded by R.mu. */
typedef struct result {
    int done;
    redisReply *reply;
    const char *err;
} result;

static void on_result(void *ctx, redisReply *reply, const char *err)
{
    result *res = ctx;
    pthread_mutex_lock(&R.mu);
    res->done++;
    res->reply = reply;
    res->err = err;
    pthread_mutex_unlock(&R.mu);
}

static void result_free(result *res)
{
    if (res->reply)
        freeReplyObject(res->reply);
    res->reply = NULL;
}

/* Queues argv (NULL-terminated strings). */
static int cmd(fio_redis *r, unsigned flags, result *res, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, res);
    for (const char *a; argc < 16 && (a = va_arg(ap, const char *));)
        argv[argc++] = a;
    va_end(ap);
    return fio_redis_command(r, argc, argv, NULL, flags, res ? on_result : NULL, res);
}

static redisReply *call(fio_redis *r, unsigned flags, const char **err, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    for (const char *a; argc < 16 && (a = va_arg(ap, const char *));)
        argv[argc++] = a;
    va_end(ap);
    return fio_redis_call(r, argc, argv, NULL, flags, err);
}

/* Reply is a bulk string equal to want (want NULL: nil). Frees it. */
static int reply_is(redisReply *rep, const char *want)
{
    int ok;
    if (!rep)
        return 0;
    if (!want)
        ok = rep->type == REDIS_REPLY_NIL;
    else
        ok = (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS) &&
             strcmp(rep->str, want) == 0;
    freeReplyObject(rep);
    return ok;
}

static long long reply_int(redisReply *rep)
{
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -999999;
    if (rep)
        freeReplyObject(rep);
    return v;
}

static fio_redis *client(int port, int tracking, int socket_timeout_ms)
{
    fio_redis_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.tracking = tracking;
    cfg.socket_timeout_ms = socket_timeout_ms;
    cfg.connect_timeout_ms = 1000;
    cfg.max_backoff_ms = 200;
    const char *err = NULL;
    fio_redis *r = fio_redis_new(&cfg, &EVENTS, &err);
    CHECK(r != NULL, "fio_redis_new: %s", err ? err : "?");
    return r;
}

static int wait_connected(fio_redis *r, int ms)
{
    int64_t end = now_ms() + ms;
    while (!fio_redis_connected(r) && now_ms() < end)
        redis_proc_sleep_ms(5);
    return fio_redis_connected(r);
}

static redisContext *plain(int port)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        c = NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

static void plain_cmd(redisContext *c, const char *fmt, const char *a, const char *b)
{
    redisReply *rep = c ? redisCommand(c, fmt, a, b) : NULL;
    CHECK(rep != NULL && rep->type != REDIS_REPLY_ERROR, "plain %s: %s", fmt,
          rep ? rep->str : c ? c->errstr : "no connection");
    if (rep)
        freeReplyObject(rep);
}

/* ---------------- ordering and concurrency ---------------- */

#define NPIPE 10000

typedef struct seq {
    fio_redis *r;
    const char *key;
    long long next;   /* I/O thread only, read after done */
    int bad, queued_bad;
} seq;

static int seq_done;   /* R.mu */

static void seq_cb(void *ctx, redisReply *reply, const char *err)
{
    seq *s = ctx;
    (void)err;
    s->next++;
    if (!reply || reply->type != REDIS_REPLY_INTEGER || reply->integer != s->next)
        s->bad++;
    if (reply)
        freeReplyObject(reply);
    pthread_mutex_lock(&R.mu);
    seq_done++;
    pthread_mutex_unlock(&R.mu);
}

static void *seq_thread(void *arg)
{
    seq *s = arg;
    const char *argv[2] = {"INCR", s->key};
    for (int i = 0; i < NPIPE; i++)
        if (fio_redis_command(s->r, 2, argv, NULL, 0, seq_cb, s) != 0)
            s->queued_bad++;
    return NULL;
}

typedef struct caller {
    fio_redis *r;
    int ok;
} caller;

static void *call_thread(void *arg)
{
    caller *c = arg;
    for (int i = 0; i < 200; i++) {
        const char *err = NULL;
        redisReply *rep = call(c->r, 0, &err, "INCR", "shared", NULL);
        if (rep && rep->type == REDIS_REPLY_INTEGER)
            c->ok++;
        if (rep)
            freeReplyObject(rep);
    }
    return NULL;
}

static void test_order_and_calls(int port)
{
    rec_reset();
    fio_redis *r = client(port, 0, 5000);
    if (!r)
        return;
    const char *err = NULL;
    CHECK(reply_is(call(r, 0, &err, "FLUSHALL", NULL), "OK"), "FLUSHALL: %s", err ? err : "");
    CHECK(wait_connected(r, 2000), "connected");
    const char *noargv[1] = {"PING"};
    CHECK(fio_redis_command(r, 0, noargv, NULL, 0, NULL, NULL) == -1, "argc 0 refused");

    seq s[2] = {{r, "seq:a", 0, 0, 0}, {r, "seq:b", 0, 0, 0}};
    pthread_t th[8];
    int64_t t0 = now_ms();
    seq_done = 0;
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, seq_thread, &s[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int ok;
    WAIT_UNTIL(ok, seq_done == 2 * NPIPE, 20000);
    CHECK(ok, "all %d pipelined replies arrived (%d)", 2 * NPIPE, seq_done);
    for (int i = 0; i < 2; i++) {
        CHECK(s[i].bad == 0 && s[i].queued_bad == 0 && s[i].next == NPIPE,
              "%s replies in order: bad %d, last %lld", s[i].key, s[i].bad, s[i].next);
    }
    printf("  pipelined %d INCR from 2 threads: %lld ms\n", 2 * NPIPE, (long long)(now_ms() - t0));

    /* More than the 1 MiB the client moves into hiredis's buffer at a time. */
    char big[256];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    seq bs = {r, "biglist", 0, 0, 0};
    const char *bargv[3] = {"RPUSH", "biglist", big};
    seq_done = 0;
    t0 = now_ms();
    for (int i = 0; i < 4 * NPIPE; i++)
        if (fio_redis_command(r, 3, bargv, NULL, 0, seq_cb, &bs) != 0)
            bs.queued_bad++;
    WAIT_UNTIL(ok, seq_done == 4 * NPIPE, 20000);
    CHECK(ok && bs.bad == 0 && bs.queued_bad == 0 && bs.next == 4 * NPIPE,
          "%d pipelined RPUSH of 255 bytes in order: bad %d", 4 * NPIPE, bs.bad);
    printf("  pipelined %d RPUSH (%d MB): %lld ms\n", 4 * NPIPE, 4 * NPIPE * 280 / 1000000,
           (long long)(now_ms() - t0));

    caller cs[8];
    for (int i = 0; i < 8; i++) {
        cs[i] = (caller){r, 0};
        pthread_create(&th[i], NULL, call_thread, &cs[i]);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += cs[i].ok;
    }
    CHECK(total == 1600, "8 threads x 200 calls answered: %d", total);
    CHECK(reply_is(call(r, 0, &err, "GET", "shared", NULL), "1600"), "shared counter is 1600");

    redisReply *rep = call(r, 0, &err, "LPUSH", "alist", "x", NULL);
    CHECK(reply_int(rep) == 1, "LPUSH");
    rep = call(r, 0, &err, "INCR", "alist", NULL);
    CHECK(rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "WRONGTYPE"),
          "error reply: %s", rep ? rep->str : err);
    if (rep)
        freeReplyObject(rep);
    rep = call(r, 0, &err, "NOSUCHCOMMAND", NULL);
    CHECK(rep && rep->type == REDIS_REPLY_ERROR, "unknown command is an error reply");
    if (rep)
        freeReplyObject(rep);
    CHECK(reply_is(call(r, 0, &err, "PING", NULL), "PONG"), "connection fine after errors");
    size_t lens[3] = {3, 5, 3};
    const char *bin[3] = {"SET", "b\0i\r\n", "v\0w"};
    rep = fio_redis_call(r, 3, bin, lens, 0, &err);
    CHECK(reply_is(rep, "OK"), "binary-safe SET");
    rep = fio_redis_call(r, 2, (const char *[]){"GET", "b\0i\r\n"}, (size_t[]){3, 5}, 0, &err);
    CHECK(rep && rep->type == REDIS_REPLY_STRING && rep->len == 3 &&
              memcmp(rep->str, "v\0w", 3) == 0,
          "binary-safe GET");
    if (rep)
        freeReplyObject(rep);
    pthread_mutex_lock(&R.mu);
    CHECK(R.up[FIO_REDIS_CMD] == 1 && R.down[FIO_REDIS_CMD] == 0, "state: cmd up once");
    CHECK(R.up[FIO_REDIS_SUB] == 0, "no subscriber connection without channels or tracking");
    pthread_mutex_unlock(&R.mu);
    fio_redis_free(r);
}

/* ---------------- AUTH, SELECT, unix socket ---------------- */

static void test_auth_db(const char *dir)
{
    redis_proc rp;
    char sock[256];
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    const char *extra[] = {"--requirepass", "s3cret", "--unixsocket", sock, "--unixsocketperm",
                           "700", NULL};
    if (redis_proc_start_args(&rp, 0, extra) < 0) {
        CHECK(0, "redis-server with --requirepass started");
        return;
    }
    rec_reset();
    const char *err = NULL;
    fio_redis_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = rp.port;
    cfg.password = "s3cret";
    cfg.db = 3;
    cfg.socket_timeout_ms = 3000;
    fio_redis *r = fio_redis_new(&cfg, &EVENTS, &err);
    CHECK(r != NULL, "new with password");
    if (r) {
        CHECK(reply_is(call(r, 0, &err, "SET", "authkey", "v3", NULL), "OK"), "SET after AUTH");
        fio_redis_free(r);
    }
    cfg.username = "default";   /* AUTH user pass */
    cfg.host = NULL;
    cfg.port = 0;
    cfg.unix_path = sock;
    cfg.db = 0;
    r = fio_redis_new(&cfg, &EVENTS, &err);
    CHECK(r != NULL, "new on unix socket with username");
    if (r) {
        CHECK(reply_is(call(r, 0, &err, "GET", "authkey", NULL), NULL), "db 0 has no authkey");
        CHECK(reply_is(call(r, 0, &err, "SELECT", "3", NULL), "OK"), "SELECT 3");
        CHECK(reply_is(call(r, 0, &err, "GET", "authkey", NULL), "v3"), "db 3 has authkey");
        fio_redis_free(r);
    }
    cfg.password = "wrong";
    cfg.socket_timeout_ms = 300;
    rec_reset();
    r = fio_redis_new(&cfg, &EVENTS, &err);
    if (r) {
        redisReply *rep = call(r, 0, &err, "PING", NULL);
        CHECK(!rep && err && strcmp(err, "timeout") == 0, "wrong password: call times out");
        if (rep)
            freeReplyObject(rep);
        pthread_mutex_lock(&R.mu);
        CHECK(R.down[FIO_REDIS_CMD] == 1 && R.up[FIO_REDIS_CMD] == 0 &&
                  strstr(R.reason[FIO_REDIS_CMD], "AUTH"),
              "wrong password reported once: %d '%s'", R.down[FIO_REDIS_CMD],
              R.reason[FIO_REDIS_CMD]);
        pthread_mutex_unlock(&R.mu);
        fio_redis_free(r);
    }
    const char *bad = NULL;
    fio_redis_cfg none;
    memset(&none, 0, sizeof none);
    CHECK(fio_redis_new(&none, &EVENTS, &bad) == NULL && bad, "no address: bad cfg");
    redis_proc_stop(&rp);
    unlink(sock);
}

/* ---------------- pub/sub ---------------- */

static long long publish(fio_redis *r, const char *ch, const char *data)
{
    const char *err;
    return reply_int(call(r, 0, &err, "PUBLISH", ch, data, NULL));
}

static long long numsub(fio_redis *r, const char *ch)
{
    const char *err;
    redisReply *rep = call(r, 0, &err, "PUBSUB", "NUMSUB", ch, NULL);
    long long n = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                          rep->element[1]->type == REDIS_REPLY_INTEGER
                      ? rep->element[1]->integer
                      : -1;
    if (rep)
        freeReplyObject(rep);
    return n;
}

/* A subscribe racing with the first connect (a wake-up consumed by the
 * handshake must not be lost). */
static void test_subscribe_at_start(int port)
{
    int confirmed = 0;
    for (int i = 0; i < 30; i++) {
        rec_reset();
        fio_redis *r = client(port, 0, 0);
        if (!r)
            return;
        if (i % 3)
            redis_proc_sleep_ms(i % 3 - 1);
        fio_redis_subscribe(r, "early", 5);
        int ok;
        WAIT_UNTIL(ok, count_sub("early", 1) == 1, 2000);
        confirmed += ok;
        fio_redis_free(r);
    }
    CHECK(confirmed == 30, "subscribe right after new: %d/30 confirmed", confirmed);
}

static void test_pubsub(int port)
{
    rec_reset();
    fio_redis *r = client(port, 0, 3000);
    if (!r)
        return;
    int ok;
    CHECK(fio_redis_subscribe(r, "ch1", 3) == 0, "subscribe");
    CHECK(fio_redis_subscribe(r, "ch1", 3) == 0, "subscribe again (idempotent)");
    WAIT_UNTIL(ok, count_sub("ch1", 1) == 1, 3000);
    CHECK(ok, "subscribe confirmed");
    CHECK(wait_connected(r, 2000), "both connections up");
    CHECK(publish(r, "ch1", "hello") == 1, "one receiver");
    CHECK(publish(r, "ch1", "world") == 1, "one receiver");
    WAIT_UNTIL(ok, count_msg("ch1", NULL) == 2, 3000);
    CHECK(ok, "messages received");
    pthread_mutex_lock(&R.mu);
    CHECK(R.nmsg == 2 && strcmp(R.msg_data[0], "hello") == 0 && strcmp(R.msg_data[1], "world") == 0,
          "messages in order");
    CHECK(count_sub("ch1", 1) == 1, "one confirmation for two subscribe calls");
    pthread_mutex_unlock(&R.mu);

    CHECK(fio_redis_unsubscribe(r, "ch1", 3) == 0, "unsubscribe");
    WAIT_UNTIL(ok, count_sub("ch1", 0) == 1, 3000);
    CHECK(ok, "unsubscribe confirmed");
    CHECK(publish(r, "ch1", "nobody") == 0, "no receiver after unsubscribe");
    CHECK(fio_redis_unsubscribe(r, "never", 5) == 0, "unsubscribe unknown channel");

    for (int i = 0; i < 200; i++) {
        fio_redis_subscribe(r, "race", 4);
        fio_redis_unsubscribe(r, "race", 4);
        fio_redis_subscribe(r, "race", 4);
        fio_redis_subscribe(r, "race2", 5);
        fio_redis_unsubscribe(r, "race2", 5);
        if (i % 50 == 0)
            redis_proc_sleep_ms(1);
    }
    WAIT_UNTIL(ok, last_sub("race") == 1, 3000);
    redis_proc_sleep_ms(100);
    pthread_mutex_lock(&R.mu);
    CHECK(last_sub("race") == 1, "race: last event subscribed");
    CHECK(last_sub("race2") != 1, "race2: not left subscribed");
    pthread_mutex_unlock(&R.mu);
    CHECK(numsub(r, "race") == 1, "race: subscribed on the server");
    CHECK(numsub(r, "race2") == 0, "race2: not subscribed on the server");
    CHECK(publish(r, "race", "r1") == 1, "race: published to us");
    WAIT_UNTIL(ok, count_msg("race", "r1") == 1, 3000);
    CHECK(ok, "race: message arrives");

    fio_redis_pause_messages(r, 1);
    redis_proc_sleep_ms(50);
    int before;
    pthread_mutex_lock(&R.mu);
    before = R.nmsg;
    pthread_mutex_unlock(&R.mu);
    char data[16];
    for (int i = 0; i < 5; i++) {
        snprintf(data, sizeof data, "p%d", i);
        publish(r, "race", data);
    }
    const char *err;
    CHECK(reply_is(call(r, 0, &err, "PING", NULL), "PONG"), "commands work while paused");
    redis_proc_sleep_ms(200);
    pthread_mutex_lock(&R.mu);
    CHECK(R.nmsg == before, "paused: nothing delivered (%d new)", R.nmsg - before);
    pthread_mutex_unlock(&R.mu);
    fio_redis_pause_messages(r, 0);
    WAIT_UNTIL(ok, R.nmsg == before + 5, 3000);
    CHECK(ok, "resumed: 5 delivered");
    pthread_mutex_lock(&R.mu);
    int inorder = 1;
    for (int i = 0; i < 5 && R.nmsg == before + 5; i++) {
        snprintf(data, sizeof data, "p%d", i);
        inorder &= strcmp(R.msg_data[before + i], data) == 0;
    }
    CHECK(inorder, "resumed: in order");
    pthread_mutex_unlock(&R.mu);
    fio_redis_free(r);
}

/* ---------------- tracking ---------------- */

static void test_tracking(int port)
{
    rec_reset();
    fio_redis *r = client(port, 1, 3000);
    redisContext *p = plain(port);
    CHECK(p != NULL, "plain connection");
    if (!r || !p)
        goto done;
    const char *err;
    int ok;
    CHECK(reply_is(call(r, 0, &err, "SET", "tk", "1", NULL), "OK"), "SET tk");
    CHECK(wait_connected(r, 2000), "connected with tracking");
    CHECK(reply_is(call(r, 0, &err, "GET", "tk", NULL), "1"), "GET tk (tracked)");
    plain_cmd(p, "SET %s %s", "tk", "2");
    WAIT_UNTIL(ok, count_inval("tk") == 1, 3000);
    CHECK(ok, "invalidate(tk) after another client's SET");

    CHECK(reply_is(call(r, 0, &err, "GET", "own", NULL), NULL), "GET own (tracked)");
    CHECK(reply_is(call(r, 0, &err, "GET", "other", NULL), NULL), "GET other (tracked)");
    CHECK(reply_is(call(r, 0, &err, "SET", "own", "x", NULL), "OK"), "own SET");
    plain_cmd(p, "SET %s %s", "other", "y");
    WAIT_UNTIL(ok, count_inval("other") == 1, 3000);
    CHECK(ok, "invalidate(other)");
    pthread_mutex_lock(&R.mu);
    CHECK(count_inval("own") == 0, "NOLOOP: own write not reported");
    int all_before = R.inval_all;
    pthread_mutex_unlock(&R.mu);
    plain_cmd(p, "FLUSHALL", NULL, NULL);
    WAIT_UNTIL(ok, R.inval_all == all_before + 1, 3000);
    CHECK(ok, "FLUSHALL: invalidate(NULL)");
    pthread_mutex_lock(&R.mu);
    CHECK(R.bad_channel == 0 && R.nmsg == 0, "__redis__:invalidate never a message");
    CHECK(R.up[0] == 1 && R.up[1] == 1 && R.down[0] == 0 && R.down[1] == 0, "state: up once each");
    all_before = R.inval_all;
    pthread_mutex_unlock(&R.mu);

    /* The subscriber alone drops: tracking is redirected to the new one. */
    plain_cmd(p, "CLIENT KILL TYPE %s", "pubsub", NULL);
    WAIT_UNTIL(ok, R.down[1] == 1 && R.up[1] == 2 && R.inval_all == all_before + 1, 3000);
    CHECK(ok, "subscriber reconnected, invalidate(NULL) once (%d)", R.inval_all - all_before);
    CHECK(reply_is(call(r, 0, &err, "GET", "k2", NULL), NULL), "GET k2 (tracked)");
    plain_cmd(p, "SET %s %s", "k2", "1");
    WAIT_UNTIL(ok, count_inval("k2") == 1, 3000);
    CHECK(ok, "tracking follows the new subscriber connection");

    /* The command connection alone drops. */
    long long id = reply_int(call(r, 0, &err, "CLIENT", "ID", NULL));
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", id);
    pthread_mutex_lock(&R.mu);
    all_before = R.inval_all;
    pthread_mutex_unlock(&R.mu);
    plain_cmd(p, "CLIENT KILL ID %s", ids, NULL);
    WAIT_UNTIL(ok, R.down[0] == 1 && R.up[0] == 2 && R.inval_all == all_before + 1, 3000);
    CHECK(ok, "command connection reconnected, invalidate(NULL) once");
    CHECK(reply_is(call(r, 0, &err, "GET", "k3", NULL), NULL), "GET k3 (tracked)");
    plain_cmd(p, "SET %s %s", "k3", "1");
    WAIT_UNTIL(ok, count_inval("k3") == 1, 3000);
    CHECK(ok, "tracking re-enabled on the new command connection");
    pthread_mutex_lock(&R.mu);
    CHECK(R.down[0] == 1 && R.down[1] == 1 && R.up[0] == 2 && R.up[1] == 2,
          "state: one drop and recovery each");
    pthread_mutex_unlock(&R.mu);
done:
    if (p)
        redisFree(p);
    fio_redis_free(r);
}

/* ---------------- outage ---------------- */

static void test_outage(void)
{
    redis_proc rp;
    if (redis_proc_start(&rp, 0) < 0) {
        CHECK(0, "redis-server started");
        return;
    }
    rec_reset();
    fio_redis *r = client(rp.port, 1, 5000);
    if (!r) {
        redis_proc_stop(&rp);
        return;
    }
    const char *err;
    int ok;
    fio_redis_subscribe(r, "chx", 3);
    WAIT_UNTIL(ok, count_sub("chx", 1) == 1, 3000);
    CHECK(ok && wait_connected(r, 2000), "subscribed and connected");
    CHECK(reply_is(call(r, 0, &err, "GET", "tk", NULL), NULL), "GET tk (tracked)");

    result blpop = {0}, inflight_retry = {0}, inflight_plain = {0}, down_retry = {0},
           down_plain = {0};
    cmd(r, 0, &blpop, "BLPOP", "nolist", "10", NULL);
    cmd(r, FIO_RCMD_RETRY, &inflight_retry, "INCR", "rk", NULL);
    cmd(r, 0, &inflight_plain, "SET", "nk", "1", NULL);
    redis_proc_sleep_ms(200);   /* sent; blocked behind BLPOP */
    redis_proc_stop(&rp);
    WAIT_UNTIL(ok, R.down[0] == 1 && R.down[1] == 1, 3000);
    CHECK(ok, "both drops reported");
    CHECK(!fio_redis_connected(r), "not connected while down");
    cmd(r, FIO_RCMD_RETRY, &down_retry, "INCR", "rk", NULL);
    cmd(r, 0, &down_plain, "SET", "qk", "v", NULL);
    redis_proc_sleep_ms(600);   /* a few failed attempts */
    WAIT_UNTIL(ok, blpop.done && inflight_plain.done, 1000);
    CHECK(ok, "in-flight non-retry commands failed while down");
    if (redis_proc_start(&rp, rp.port) < 0) {
        CHECK(0, "redis-server restarted on port %d", rp.port);
        fio_redis_free(r);
        return;
    }
    WAIT_UNTIL(ok, inflight_retry.done && down_retry.done && down_plain.done, 5000);
    CHECK(ok, "queued and retried commands answered after restart");
    pthread_mutex_lock(&R.mu);
    CHECK(blpop.done == 1 && !blpop.reply && blpop.err && !strcmp(blpop.err, "connection lost"),
          "BLPOP: connection lost (%s)", blpop.err ? blpop.err : "reply");
    CHECK(inflight_plain.done == 1 && !inflight_plain.reply && inflight_plain.err &&
              !strcmp(inflight_plain.err, "connection lost"),
          "in-flight SET: connection lost");
    CHECK(inflight_retry.reply && inflight_retry.reply->type == REDIS_REPLY_INTEGER &&
              inflight_retry.reply->integer == 1,
          "in-flight retry INCR ran first after restart");
    CHECK(down_retry.reply && down_retry.reply->type == REDIS_REPLY_INTEGER &&
              down_retry.reply->integer == 2,
          "queued INCR ran second");
    CHECK(down_plain.reply && down_plain.reply->type == REDIS_REPLY_STATUS,
          "command queued while down ran");
    pthread_mutex_unlock(&R.mu);
    CHECK(reply_is(call(r, 0, &err, "GET", "rk", NULL), "2"), "GET rk == 2");
    CHECK(reply_is(call(r, 0, &err, "GET", "qk", NULL), "v"), "GET qk == v");
    CHECK(reply_is(call(r, 0, &err, "GET", "nk", NULL), NULL), "lost SET did not run");

    WAIT_UNTIL(ok, count_sub("chx", 1) == 2, 3000);
    CHECK(ok, "re-subscribed after restart");
    CHECK(wait_connected(r, 2000), "connected again");
    CHECK(publish(r, "chx", "after") == 1, "one receiver after restart");
    WAIT_UNTIL(ok, count_msg("chx", "after") == 1, 3000);
    CHECK(ok, "message after restart arrives");
    WAIT_UNTIL(ok, R.inval_all >= 1, 3000);
    CHECK(ok, "invalidate(NULL) after tracking re-enabled");
    CHECK(reply_is(call(r, 0, &err, "GET", "tk", NULL), NULL), "GET tk (tracked again)");
    redisContext *p = plain(rp.port);
    plain_cmd(p, "SET %s %s", "tk", "z");
    WAIT_UNTIL(ok, count_inval("tk") == 1, 3000);
    CHECK(ok, "tracking works after restart");
    if (p)
        redisFree(p);
    pthread_mutex_lock(&R.mu);
    CHECK(R.down[0] == 1 && R.up[0] == 2 && R.down[1] == 1 && R.up[1] == 2,
          "state: one drop and one recovery per connection (cmd %d/%d, sub %d/%d)", R.down[0],
          R.up[0], R.down[1], R.up[1]);
    pthread_mutex_unlock(&R.mu);
    result_free(&inflight_retry);
    result_free(&down_retry);
    result_free(&down_plain);
    fio_redis_free(r);
    redis_proc_stop(&rp);
}

/* ---------------- call timeout, free with pending work ---------------- */

static void test_timeout(void)
{
    redis_proc rp;
    if (redis_proc_start(&rp, 0) < 0) {
        CHECK(0, "redis-server started");
        return;
    }
    rec_reset();
    fio_redis *r = client(rp.port, 0, 200);
    const char *err;
    CHECK(r && reply_is(call(r, 0, &err, "PING", NULL), "PONG"), "PING");
    redis_proc_stop(&rp);
    int ok;
    WAIT_UNTIL(ok, R.down[0] == 1, 3000);
    int64_t t0 = now_ms();
    redisReply *rep = call(r, FIO_RCMD_RETRY, &err, "SET", "late", "1", NULL);
    int64_t took = now_ms() - t0;
    CHECK(!rep && err && !strcmp(err, "timeout"), "call while down: timeout (%s)",
          err ? err : "reply");
    CHECK(took >= 150 && took < 2000, "timeout took %lld ms", (long long)took);
    if (rep)
        freeReplyObject(rep);
    CHECK(redis_proc_start(&rp, rp.port) == 0, "restart");
    CHECK(wait_connected(r, 3000), "reconnected");
    rep = NULL;
    for (int i = 0; i < 100 && !rep; i++) {
        rep = call(r, 0, &err, "GET", "late", NULL);
        if (rep && rep->type == REDIS_REPLY_NIL) {
            freeReplyObject(rep);
            rep = NULL;
            redis_proc_sleep_ms(10);
        }
    }
    CHECK(reply_is(rep, "1"), "the timed-out command ran later");
    fio_redis_free(r);
    redis_proc_stop(&rp);
}

static void *blocked_call(void *arg)
{
    const char *err = NULL;
    redisReply *rep = call(arg, 0, &err, "PING", NULL);
    if (rep)
        freeReplyObject(rep);
    return (void *)(rep == NULL && err && strcmp(err, "client closed") == 0 ? (intptr_t)1 : 0);
}

static void test_free_pending(int port)
{
    int dead = redis_proc_free_port();
    rec_reset();
    fio_redis *r = client(dead, 1, 0);
    if (!r)
        return;
    static result res[100];
    memset(res, 0, sizeof res);
    for (int i = 0; i < 100; i++)
        cmd(r, i % 2 ? FIO_RCMD_RETRY : 0, &res[i], "PING", NULL);
    fio_redis_subscribe(r, "x", 1);
    pthread_t th;
    pthread_create(&th, NULL, blocked_call, r);
    redis_proc_sleep_ms(300);
    fio_redis_free(r);
    void *got = NULL;
    pthread_join(th, &got);
    CHECK(got == (void *)(intptr_t)1, "blocked fio_redis_call: client closed");
    int closed = 0;
    for (int i = 0; i < 100; i++)
        closed += res[i].done == 1 && res[i].err && !strcmp(res[i].err, "client closed");
    CHECK(closed == 100, "server down: every pending command got client closed (%d)", closed);
    pthread_mutex_lock(&R.mu);
    CHECK(R.down[FIO_REDIS_SUB] == 1 && R.up[0] == 0 && R.up[1] == 0,
          "server down: one drop reported, no recovery");
    pthread_mutex_unlock(&R.mu);

    r = client(port, 0, 0);
    if (!r)
        return;
    static result many[5000];
    memset(many, 0, sizeof many);
    for (int i = 0; i < 5000; i++)
        cmd(r, 0, &many[i], "INCR", "freecount", NULL);
    fio_redis_free(r);
    int once = 0, answered = 0;
    for (int i = 0; i < 5000; i++) {
        once += many[i].done == 1 && (many[i].reply || !strcmp(many[i].err, "client closed"));
        answered += many[i].reply != NULL;
        result_free(&many[i]);
    }
    CHECK(once == 5000, "server up: every callback ran once (%d, %d answered)", once, answered);
}

/* ---------------- Sentinel ---------------- */

static int sentinel_sees_replica(int sport)
{
    redisContext *c = plain(sport);
    int ok = 0;
    redisReply *rep = c ? redisCommand(c, "AUTH sentpw") : NULL;
    if (rep)
        freeReplyObject(rep);
    rep = c ? redisCommand(c, "SENTINEL replicas mymaster") : NULL;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1) {
        redisReply *kv = rep->element[0];
        for (size_t i = 0; kv->type == REDIS_REPLY_ARRAY && i + 1 < kv->elements; i += 2)
            if (!strcmp(kv->element[i]->str, "master-link-status") &&
                !strcmp(kv->element[i + 1]->str, "ok"))
                ok = 1;
    }
    if (rep)
        freeReplyObject(rep);
    if (c)
        redisFree(c);
    return ok;
}

/* A listening socket that never accepts nor answers; its port, or -1. */
static int silent_listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return s;
}

/* The first sentinel never answers: the client gives up on it after
 * connect_timeout_ms and asks the next one. A subscribe made meanwhile (its
 * wake-up consumed by that wait) is still acted on. */
static void test_silent_sentinel(int sport)
{
    int port = 0, fd = silent_listener(&port);
    CHECK(fd >= 0, "silent listener");
    if (fd < 0)
        return;
    rec_reset();
    fio_redis_addr sentinels[2] = {{"127.0.0.1", port}, {"127.0.0.1", sport}};
    fio_redis_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sentinels = sentinels;
    cfg.nsentinels = 2;
    cfg.master_name = "mymaster";
    cfg.sentinel_password = "sentpw";
    cfg.connect_timeout_ms = 300;
    const char *err = NULL;
    int64_t t0 = now_ms();
    fio_redis *r = fio_redis_new(&cfg, &EVENTS, &err);
    CHECK(r != NULL, "new with a silent sentinel");
    if (r) {
        redis_proc_sleep_ms(100);
        fio_redis_subscribe(r, "late", 4);
        int ok;
        WAIT_UNTIL(ok, count_sub("late", 1) == 1, 3000);
        CHECK(ok, "subscribed past a silent sentinel");
        int64_t took = now_ms() - t0;
        CHECK(took >= 250 && took < 3000, "silent sentinel skipped after the timeout (%lld ms)",
              (long long)took);
        fio_redis_free(r);
    }
    close(fd);
}

static void test_sentinel(const char *dir)
{
    redis_proc m, rep_, s;
    char conf[256], port[16];
    const char *margs[] = {"--dir", dir, NULL};   /* replicas write dump.rdb */
    if (redis_proc_start_args(&m, 0, margs) < 0) {
        CHECK(0, "master started");
        return;
    }
    snprintf(port, sizeof port, "%d", m.port);
    const char *rargs[] = {"--replicaof", "127.0.0.1", port, "--dir", dir, NULL};
    if (redis_proc_start_args(&rep_, 0, rargs) < 0) {
        CHECK(0, "replica started");
        redis_proc_stop(&m);
        return;
    }
    snprintf(conf, sizeof conf, "%s/sentinel.conf", dir);
    FILE *f = fopen(conf, "w");
    int sport = redis_proc_free_port();
    if (f) {
        fprintf(f, "port %d\nsentinel monitor mymaster 127.0.0.1 %d 1\n"
                   "requirepass sentpw\n"
                   "sentinel down-after-milliseconds mymaster 1000\n"
                   "sentinel failover-timeout mymaster 2000\n",
                sport, m.port);
        fclose(f);
    }
    const char *sargs[] = {"--sentinel", NULL};
    if (!f || redis_proc_start_conf(&s, sport, conf, sargs) < 0) {
        CHECK(0, "sentinel started");
        redis_proc_stop(&rep_);
        redis_proc_stop(&m);
        return;
    }
    int64_t end = now_ms() + 15000;
    while (!sentinel_sees_replica(s.port) && now_ms() < end)
        redis_proc_sleep_ms(100);
    CHECK(sentinel_sees_replica(s.port), "sentinel knows the replica");
    test_silent_sentinel(s.port);

    rec_reset();
    fio_redis_addr sentinels[2] = {{"127.0.0.1", redis_proc_free_port()}, {"127.0.0.1", s.port}};
    fio_redis_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sentinels = sentinels;   /* the first one is not running */
    cfg.nsentinels = 2;
    cfg.master_name = "mymaster";
    cfg.sentinel_password = "sentpw";
    cfg.connect_timeout_ms = 1000;
    cfg.max_backoff_ms = 200;
    cfg.socket_timeout_ms = 3000;
    const char *err = NULL;
    fio_redis *r = fio_redis_new(&cfg, &EVENTS, &err);
    CHECK(r != NULL, "new with sentinels");
    if (r) {
        CHECK(reply_is(call(r, 0, &err, "SET", "before", "1", NULL), "OK"), "write via sentinel");
        redis_proc_stop(&m);
        int64_t t0 = now_ms();
        result res = {0};
        cmd(r, FIO_RCMD_RETRY, &res, "SET", "after", "2", NULL);
        int ok;
        WAIT_UNTIL(ok, res.done, 25000);
        CHECK(ok && res.reply && res.reply->type == REDIS_REPLY_STATUS,
              "write after failover: %s", res.err ? res.err : ok ? "reply" : "no answer");
        printf("  sentinel failover followed in %lld ms\n", (long long)(now_ms() - t0));
        result_free(&res);
        redisContext *p = plain(rep_.port);
        redisReply *role = p ? redisCommand(p, "ROLE") : NULL;
        CHECK(role && role->type == REDIS_REPLY_ARRAY && role->elements > 0 &&
                  !strcmp(role->element[0]->str, "master"),
              "the replica was promoted");
        if (role)
            freeReplyObject(role);
        redisReply *g = p ? redisCommand(p, "GET after") : NULL;
        CHECK(reply_is(g, "2"), "write landed on the new master");
        if (p)
            redisFree(p);
        CHECK(reply_int(call(r, 0, &err, "INCR", "n", NULL)) >= 1, "writes continue");
        fio_redis_free(r);
    }
    redis_proc_stop(&s);
    redis_proc_stop(&rep_);
    redis_proc_stop(&m);
    unlink(conf);
    char rdb[300];
    snprintf(rdb, sizeof rdb, "%s/dump.rdb", dir);
    unlink(rdb);
}

#define TIMED(call)                                                              \
    do {                                                                         \
        int64_t t_ = now_ms();                                                   \
        call;                                                                    \
        printf("  %-32s %5lld ms\n", #call, (long long)(now_ms() - t_));           \
    } while (0)

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int64_t t0 = now_ms();
    redis_proc rp;
    if (redis_proc_start(&rp, 0) < 0) {
        printf("SKIP: no redis-server\n");
        return 0;
    }
    char dir[] = "/tmp/fastsio_redis_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        redis_proc_stop(&rp);
        return 1;
    }
    TIMED(test_order_and_calls(rp.port));
    TIMED(test_subscribe_at_start(rp.port));
    TIMED(test_pubsub(rp.port));
    TIMED(test_tracking(rp.port));
    TIMED(test_free_pending(rp.port));
    redis_proc_stop(&rp);
    TIMED(test_auth_db(dir));
    TIMED(test_outage());
    TIMED(test_timeout());
    TIMED(test_sentinel(dir));
    if (rmdir(dir) != 0)
        perror(dir);
    printf("test_redis_client: %lld ms\n", (long long)(now_ms() - t0));
    return check_summary();
}
