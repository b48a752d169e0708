/* C tests for the near cache of Redis hashes (csrc/redis/cache.c) on the
 * Redis client (csrc/redis/client.c), against real redis-server processes
 * (tests/c/redis_proc.h): first load, reads, local writes and their landing
 * in Redis, eager reload on another client's write, an interleaving stress
 * of local and foreign writes to one hash, write errors, an outage with a
 * restart on the same port, and freeing with work pending (ASan checks the
 * leaks). Every wait is bounded. Prints "SKIP: no redis-server" and passes
 * when no server can be started. argv[1] (the corpus directory) is not used. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "buf.h"
#include "cache.h"
#include "client.h"

#include "check.h"
#include "redis_proc.h"

static redis_proc rp;

static fio_str S(const char *s)
{
    fio_str r = {s, strlen(s)};
    return r;
}

static fio_str SN(const char *s, size_t n)
{
    fio_str r = {s, n};
    return r;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0) {
    }
}

/* Never leave a redis-server behind, however this process ends (a
 * sanitizer report exits without atexit handlers): a reaper process waits
 * for the end of a pipe only this process holds, then kills the server whose
 * pid is in a shared page. A watchdog alarm bounds the whole run. */
static volatile pid_t *shared_pid;

static void reaper_start(void)
{
    int fds[2];
    shared_pid = mmap(NULL, sizeof *shared_pid, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (shared_pid == MAP_FAILED || pipe2(fds, O_CLOEXEC) < 0) {
        shared_pid = NULL;
        return;
    }
    *shared_pid = 0;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        char b;
        while (read(fds[0], &b, 1) != 0) {
        }
        if (*shared_pid > 0)
            kill(*shared_pid, SIGKILL);
        _exit(0);
    }
    close(fds[0]);   /* fds[1] stays open until this process ends */
}

static void rp_note(void)
{
    if (shared_pid)
        *shared_pid = rp.pid;
}

static int rp_start(int port)
{
    int rc = redis_proc_start(&rp, port);
    rp_note();
    return rc;
}

static void rp_stop(void)
{
    redis_proc_stop(&rp);
    rp_note();
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_redis_cache: watchdog: took too long\n";
    if (rp.pid > 0)
        kill(rp.pid, SIGKILL);
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
}

static void die(const char *what)
{
    fprintf(stderr, "fatal: %s\n", what);
    rp_stop();
    exit(2);
}

/* ---- a fio_redis + fio_cache pair, invalidations wired, log collected ---- */

typedef struct env {
    fio_redis *r;
    _Atomic(fio_cache *) c;
    pthread_mutex_t lmu;
    fio_buf log;      /* every message, one per line */
    int nlog;
} env;

static void on_invalidate(void *ctx, const char *key, size_t n)
{
    env *e = ctx;
    fio_cache *c = atomic_load(&e->c);
    if (c)
        fio_cache_invalidate(c, key, n);
}

static void on_log(void *ctx, const char *msg)
{
    env *e = ctx;
    pthread_mutex_lock(&e->lmu);
    if (fio_buf_append(&e->log, msg, strlen(msg)) < 0 || fio_buf_putc(&e->log, '\n') < 0)
        die("oom");
    e->nlog++;
    pthread_mutex_unlock(&e->lmu);
}

static int log_has(env *e, const char *a, const char *b)
{
    pthread_mutex_lock(&e->lmu);
    int found = 0;
    /* a line holding both a and b */
    const char *p = e->log.len ? e->log.data : "";
    while (*p && !found) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, p, m);
        line[m] = '\0';
        found = strstr(line, a) && (!b || strstr(line, b));
        p += n + (nl ? 1 : 0);
    }
    pthread_mutex_unlock(&e->lmu);
    return found;
}

/* user/pass: ACL credentials for the client, or NULL. */
static void env_open_auth(env *e, int port, int wait_ms, const char *user, const char *pass)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->lmu, NULL);
    fio_buf_init(&e->log);
    atomic_init(&e->c, NULL);
    fio_redis_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.tracking = 1;
    cfg.connect_timeout_ms = 1000;
    cfg.max_backoff_ms = 200;
    cfg.username = user;
    cfg.password = pass;
    fio_redis_events ev;
    memset(&ev, 0, sizeof ev);
    ev.ctx = e;
    ev.invalidate = on_invalidate;
    const char *err = NULL;
    e->r = fio_redis_new(&cfg, &ev, &err);
    if (!e->r)
        die(err ? err : "fio_redis_new");
    fio_cache *c = fio_cache_new(e->r, wait_ms, on_log, e);
    if (!c)
        die("fio_cache_new");
    atomic_store(&e->c, c);
}

static void env_open(env *e, int port, int wait_ms)
{
    env_open_auth(e, port, wait_ms, NULL, NULL);
}

static fio_cache *C(env *e)
{
    return atomic_load(&e->c);
}

static void env_close(env *e)
{
    if (e->r)
        fio_redis_free(e->r);
    e->r = NULL;
    fio_cache *c = atomic_exchange(&e->c, NULL);
    fio_cache_free(c);
    fio_buf_free(&e->log);
    pthread_mutex_destroy(&e->lmu);
}

/* ---- plain hiredis connections (the "other client") ---- */

static redisContext *pconnect(void)
{
    struct timeval tv = {2, 0};
    redisContext *p = redisConnectWithTimeout("127.0.0.1", rp.port, tv);
    if (!p || p->err)
        die("plain connect");
    redisSetTimeout(p, tv);
    return p;
}

static redisReply *pcmd(redisContext *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(p, fmt, ap);
    va_end(ap);
    if (!r)
        die("plain command");
    return r;
}

static void pdo(redisContext *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(p, fmt, ap);
    va_end(ap);
    if (!r)
        die("plain command");
    if (r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "plain command error: %s\n", r->str);
    freeReplyObject(r);
}

/* ---- hash snapshots: sorted (field, value) lists ---- */

typedef struct kv {
    char *f, *v;
    size_t fn, vn;
} kv;

typedef struct snap {
    kv *a;
    size_t n, cap;
    int err;   /* < 0: the read failed (cache error code) */
} snap;

static void snap_add(snap *s, const char *f, size_t fn, const char *v, size_t vn)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->a = realloc(s->a, s->cap * sizeof *s->a);
        if (!s->a)
            die("oom");
    }
    kv *k = &s->a[s->n++];
    k->f = malloc(fn + 1);
    k->v = malloc(vn + 1);
    if (!k->f || !k->v)
        die("oom");
    if (fn)
        memcpy(k->f, f, fn);
    if (vn)
        memcpy(k->v, v, vn);
    k->fn = fn;
    k->vn = vn;
}

static void snap_free(snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->a[i].f);
        free(s->a[i].v);
    }
    free(s->a);
    memset(s, 0, sizeof *s);
}

static int kv_cmp(const void *x, const void *y)
{
    const kv *a = x, *b = y;
    size_t m = a->fn < b->fn ? a->fn : b->fn;
    int c = memcmp(a->f, b->f, m);
    return c ? c : (a->fn > b->fn) - (a->fn < b->fn);
}

static int snap_each_fn(void *ctx, fio_str f, fio_str v)
{
    snap_add(ctx, f.p, f.n, v.p, v.n);
    return 0;
}

static void snap_cache(snap *s, fio_chash *h)
{
    memset(s, 0, sizeof *s);
    s->err = fio_chash_each(h, snap_each_fn, s);
    if (s->n)
        qsort(s->a, s->n, sizeof *s->a, kv_cmp);
}

static void snap_redis(snap *s, redisContext *p, const char *name)
{
    memset(s, 0, sizeof *s);
    redisReply *r = pcmd(p, "HGETALL %s", name);
    if (r->type != REDIS_REPLY_ARRAY) {
        s->err = -100;
    } else {
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            snap_add(s, r->element[i]->str, (size_t)r->element[i]->len, r->element[i + 1]->str,
                     (size_t)r->element[i + 1]->len);
    }
    freeReplyObject(r);
    if (s->n)
        qsort(s->a, s->n, sizeof *s->a, kv_cmp);
}

static int snap_eq(const snap *a, const snap *b)
{
    if (a->err || b->err || a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (kv_cmp(&a->a[i], &b->a[i]) || a->a[i].vn != b->a[i].vn ||
            memcmp(a->a[i].v, b->a[i].v, a->a[i].vn))
            return 0;
    return 1;
}

static void snap_print(const char *label, const snap *s)
{
    fprintf(stderr, "  %s (err %d, %zu):", label, s->err, s->n);
    for (size_t i = 0; i < s->n && i < 40; i++)
        fprintf(stderr, " %.*s=%.*s", (int)s->a[i].fn, s->a[i].f, (int)s->a[i].vn, s->a[i].v);
    fputc('\n', stderr);
}

/* 1 when the cache's copy equals HGETALL name. */
static int cache_matches(fio_chash *h, redisContext *p, const char *name, int verbose)
{
    snap a, b;
    snap_cache(&a, h);
    snap_redis(&b, p, name);
    int eq = snap_eq(&a, &b);
    if (!eq && verbose) {
        snap_print("cache", &a);
        snap_print("redis", &b);
    }
    snap_free(&a);
    snap_free(&b);
    return eq;
}

/* Polls until the cache equals HGETALL name, at most bound_ms. */
static int converges(fio_chash *h, redisContext *p, const char *name, int bound_ms)
{
    int64_t end = now_ms() + bound_ms;
    for (;;) {
        if (cache_matches(h, p, name, 0))
            return 1;
        if (now_ms() > end)
            return cache_matches(h, p, name, 1);
        sleep_us(5000);
    }
}

/* get as a C string ("" when absent); returns the get result. */
static int get_str(fio_chash *h, const char *field, char *out, size_t cap)
{
    fio_buf b;
    fio_buf_init(&b);
    int rc = fio_chash_get(h, S(field), &b);
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n)
        memcpy(out, b.data, n);
    out[n] = '\0';
    fio_buf_free(&b);
    return rc;
}

static int get_is(fio_chash *h, const char *field, const char *want)
{
    char v[256];
    int rc = get_str(h, field, v, sizeof v);
    return want ? rc == 1 && strcmp(v, want) == 0 : rc == 0;
}

static long long hgetall_calls(redisContext *p)
{
    redisReply *r = pcmd(p, "INFO commandstats");
    long long calls = 0;
    const char *s = r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_hgetall:calls=") : NULL;
    if (s)
        calls = atoll(s + strlen("cmdstat_hgetall:calls="));
    freeReplyObject(r);
    return calls;
}

static int each_count_fn(void *ctx, fio_str f, fio_str v)
{
    (void)f;
    (void)v;
    return ++*(int *)ctx >= 1;   /* stop after the first */
}

/* ---- tests ---- */

static void test_first_load_and_reads(env *e, redisContext *p)
{
    pdo(p, "DEL h1");
    pdo(p, "HSET h1 a 1 b 2 j %s bin %b empty %s %b e", "{\"x\":[1,2]}", "\0x\0", (size_t)3, "",
        "", (size_t)0);
    fio_chash *h = fio_cache_hash(C(e), S("h1"));
    CHECK(h != NULL, "hash");
    CHECK(fio_cache_hash(C(e), S("h1")) == h, "same hash for the same name");
    CHECK(get_is(h, "a", "1"), "get a");
    CHECK(get_is(h, "j", "{\"x\":[1,2]}"), "get j");
    CHECK(get_is(h, "nope", NULL), "get absent");
    fio_buf b;
    fio_buf_init(&b);
    CHECK(fio_chash_get(h, S("bin"), &b) == 1 && b.len == 3 && memcmp(b.data, "\0x\0", 3) == 0,
          "binary value");
    CHECK(fio_chash_get(h, S("empty"), &b) == 1 && b.len == 3, "empty value appends nothing");
    CHECK(fio_chash_get(h, SN("", 0), &b) == 1 && b.len == 4 && b.data[3] == 'e', "empty field name");
    fio_buf_free(&b);
    CHECK(fio_chash_has(h, S("b")) == 1, "has b");
    CHECK(fio_chash_has(h, S("zz")) == 0, "has absent");
    CHECK(fio_chash_len(h) == 6, "len %ld", fio_chash_len(h));
    CHECK(cache_matches(h, p, "h1", 1), "each == HGETALL");
    int calls = 0;
    CHECK(fio_chash_each(h, each_count_fn, &calls) == 0 && calls == 1, "each stops early (%d)", calls);

    fio_chash *none = fio_cache_hash(C(e), S("h1_missing"));
    CHECK(none && fio_chash_len(none) == 0, "missing key: empty hash");
    CHECK(none && get_is(none, "a", NULL), "missing key: get absent");
}

static void test_local_writes(env *e, redisContext *p)
{
    fio_chash *h = fio_cache_hash(C(e), S("h1"));
    long refused0 = fio_cache_flush(C(e), 5000);
    CHECK(refused0 == 0, "no refusals yet: %ld", refused0);

    fio_str f1[] = {S("d")}, v1[] = {S("4")};
    CHECK(fio_chash_set(h, f1, v1, 1) == 0, "set d");
    CHECK(get_is(h, "d", "4"), "set visible at once");
    fio_str f3[] = {S("e"), S("f"), S("e")}, v3[] = {S("5"), S("6"), S("7")};
    CHECK(fio_chash_set(h, f3, v3, 3) == 0, "multi set");
    CHECK(get_is(h, "e", "7") && get_is(h, "f", "6"), "later duplicate wins, as in HSET");
    fio_str fa[] = {S("a")};
    CHECK(fio_chash_del(h, fa, 1) == 1, "del a");
    CHECK(fio_chash_del(h, fa, 1) == 0, "del a again");
    fio_str fz[] = {S("zzz")};
    CHECK(fio_chash_del(h, fz, 1) == 0, "del absent");
    fio_str fm[] = {S("b"), S("zzz"), S("b"), S("f")};
    CHECK(fio_chash_del(h, fm, 4) == 2, "multi del counts present fields once");
    CHECK(fio_chash_has(h, S("a")) == 0 && fio_chash_has(h, S("b")) == 0, "deleted");
    CHECK(fio_chash_set(h, f1, v1, 0) == 0 && fio_chash_del(h, f1, 0) == 0, "empty calls");
    CHECK(fio_cache_flush(C(e), 5000) == 0, "flush");
    CHECK(cache_matches(h, p, "h1", 1), "writes landed");
    redisReply *r = pcmd(p, "HGET h1 e");
    CHECK(r->type == REDIS_REPLY_STRING && strcmp(r->str, "7") == 0, "HGET e in Redis");
    freeReplyObject(r);

    CHECK(fio_chash_clear(h) == 0, "clear");
    CHECK(fio_chash_len(h) == 0, "clear visible at once");
    fio_str fg[] = {S("g")}, vg[] = {S("8")};
    CHECK(fio_chash_set(h, fg, vg, 1) == 0, "set after clear");
    CHECK(fio_chash_len(h) == 1 && get_is(h, "g", "8"), "one field after clear");
    CHECK(fio_cache_flush(C(e), 5000) == 0, "flush");
    CHECK(cache_matches(h, p, "h1", 1), "clear + set landed");
    CHECK(fio_chash_clear(h) == 0, "clear");
    CHECK(fio_cache_flush(C(e), 5000) == 0, "flush");
    r = pcmd(p, "EXISTS h1");
    CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 0, "key gone");
    freeReplyObject(r);
    CHECK(fio_chash_len(h) == 0, "empty");

    /* harmless invalidations */
    fio_cache_invalidate(C(e), "not_cached", 10);
    fio_cache_invalidate(C(e), NULL, 0);
    CHECK(fio_chash_len(h) == 0, "still empty after invalidate(NULL)");
}

static void test_eager_reload(env *e, redisContext *p)
{
    pdo(p, "DEL h2");
    fio_chash *h = fio_cache_hash(C(e), S("h2"));
    CHECK(fio_chash_len(h) == 0, "h2 loaded");
    for (int round = 0; round < 5; round++) {
        long long calls0 = hgetall_calls(p);
        char v[32];
        snprintf(v, sizeof v, "v%d", round);
        pdo(p, "HSET h2 x %s", v);
        /* no cache read until Redis has run the reload */
        int64_t end = now_ms() + 2000;
        while (hgetall_calls(p) <= calls0 && now_ms() < end)
            sleep_us(2000);
        CHECK(hgetall_calls(p) > calls0, "reload started without a read (round %d)", round);
        CHECK(get_is(h, "x", v), "other client's write visible (round %d)", round);
    }
    /* and when only polled through the cache */
    pdo(p, "HDEL h2 x");
    int64_t end = now_ms() + 2000;
    while (fio_chash_has(h, S("x")) != 0 && now_ms() < end)
        sleep_us(2000);
    CHECK(fio_chash_has(h, S("x")) == 0, "other client's delete visible");
    pdo(p, "HSET h2 y 1");
    pdo(p, "DEL h2");
    pdo(p, "HSET h2 z 2");
    CHECK(converges(h, p, "h2", 2000), "converged after DEL + HSET");
}

/* The other client of the stress: random HSET/HDEL of fields o0..o15 of the
 * hash, in short bursts, until told to stop. */
typedef struct foreign {
    const char *name;
    atomic_int stop;
    unsigned seed;
    long ops;
} foreign;

static void *foreign_main(void *arg)
{
    foreign *f = arg;
    redisContext *p = pconnect();
    while (!atomic_load(&f->stop)) {
        int burst = 1 + (int)(rand_r(&f->seed) % 4);
        for (int i = 0; i < burst; i++) {
            int k = (int)(rand_r(&f->seed) % 16);
            if (rand_r(&f->seed) % 4 == 0)
                pdo(p, "HDEL %s o%d", f->name, k);
            else
                pdo(p, "HSET %s o%d %u", f->name, k, rand_r(&f->seed) % 1000);
            f->ops++;
        }
        sleep_us((long)(rand_r(&f->seed) % 1500));
    }
    redisFree(p);
    return NULL;
}

#define NC 12

static void test_stress(redisContext *p, int rounds, int ops)
{
    env e;
    env_open(&e, rp.port, 300);
    const char *name = "hs";
    pdo(p, "DEL %s", name);
    fio_chash *h = fio_cache_hash(C(&e), S(name));
    unsigned seed = 12345;
    char model[NC][40];
    int present[NC];
    memset(present, 0, sizeof present);
    long timeouts = 0, reads = 0, mismatches = 0, bad_del = 0, foreign_ops = 0;
    long long hg0 = hgetall_calls(p);
    int64_t t0 = now_ms();
    for (int round = 0; round < rounds; round++) {
        foreign f = {.name = name, .seed = 777u + (unsigned)round};
        atomic_init(&f.stop, 0);
        pthread_t th;
        if (pthread_create(&th, NULL, foreign_main, &f) != 0)
            die("pthread_create");
        for (int i = 0; i < ops; i++) {
            int op = (int)(rand_r(&seed) % 100);
            int k = (int)(rand_r(&seed) % NC);
            char fname[16];
            snprintf(fname, sizeof fname, "c%d", k);
            if (op < 50) {
                char val[32];
                snprintf(val, sizeof val, "%d.%d.%u", round, i, rand_r(&seed) % 100);
                if (op < 10) {   /* two fields in one HSET */
                    int k2 = (k + 1) % NC;
                    char f2[16], v2[40];
                    snprintf(f2, sizeof f2, "c%d", k2);
                    snprintf(v2, sizeof v2, "%s+", val);
                    fio_str fs[] = {S(fname), S(f2)}, vs[] = {S(val), S(v2)};
                    CHECK(fio_chash_set(h, fs, vs, 2) == 0, "set2");
                    strcpy(model[k2], v2);
                    present[k2] = 1;
                } else {
                    fio_str fs[] = {S(fname)}, vs[] = {S(val)};
                    CHECK(fio_chash_set(h, fs, vs, 1) == 0, "set");
                }
                strcpy(model[k], val);
                present[k] = 1;
            } else if (op < 75) {
                fio_str fs[] = {S(fname)};
                long n = fio_chash_del(h, fs, 1);
                if (n == -FIO_CACHE_TIMEOUT) {
                    timeouts++;
                } else {
                    if (n != present[k])
                        bad_del++;
                    present[k] = 0;
                }
            } else if (op < 98) {
                char v[64];
                int rc = get_str(h, fname, v, sizeof v);
                reads++;
                if (rc == -FIO_CACHE_TIMEOUT)
                    timeouts++;
                else if (rc != present[k] || (rc == 1 && strcmp(v, model[k]) != 0)) {
                    if (mismatches++ < 5)
                        fprintf(stderr, "  round %d op %d: get %s = %d '%s', model %d '%s'\n",
                                round, i, fname, rc, v, present[k], present[k] ? model[k] : "");
                }
            } else {
                CHECK(fio_chash_clear(h) == 0, "clear");
                memset(present, 0, sizeof present);
            }
            if (rand_r(&seed) % 8 == 0)
                sleep_us((long)(rand_r(&seed) % 300));
        }
        atomic_store(&f.stop, 1);
        pthread_join(th, NULL);
        foreign_ops += f.ops;
        CHECK(fio_cache_flush(C(&e), 5000) == 0, "flush (round %d)", round);
        CHECK(converges(h, p, name, 3000), "round %d: cache == HGETALL", round);
        /* Redis holds exactly the model for this process's fields */
        int model_ok = 1;
        for (int k = 0; k < NC; k++) {
            redisReply *r = pcmd(p, "HGET %s c%d", name, k);
            if (present[k] ? r->type != REDIS_REPLY_STRING || strcmp(r->str, model[k]) != 0
                           : r->type != REDIS_REPLY_NIL)
                model_ok = 0;
            freeReplyObject(r);
        }
        CHECK(model_ok, "round %d: local writes landed in order", round);
    }
    CHECK(mismatches == 0, "%ld reads disagreed with this process's own writes", mismatches);
    CHECK(bad_del == 0, "%ld dels answered wrongly", bad_del);
    CHECK(e.nlog == 0, "no log messages (%d)", e.nlog);
    printf("stress: %d rounds x %d ops, %ld foreign writes, %lld loads, %ld reads, %ld timeouts, %lld ms\n",
           rounds, ops, foreign_ops, hgetall_calls(p) - hg0, reads, timeouts, (long long)(now_ms() - t0));
    env_close(&e);
}

/* Several threads writing and reading their own fields of one hash. */
typedef struct tw {
    fio_chash *h;
    int id;
    int bad;
} tw;

static void *thread_writer(void *arg)
{
    tw *t = arg;
    for (int i = 0; i < 300; i++) {
        char f[32], v[32], got[64];
        snprintf(f, sizeof f, "t%d_%d", t->id, i % 17);
        snprintf(v, sizeof v, "%d", i);
        fio_str fs[] = {S(f)}, vs[] = {S(v)};
        if (fio_chash_set(t->h, fs, vs, 1) != 0)
            t->bad++;
        if (get_str(t->h, f, got, sizeof got) != 1 || strcmp(got, v) != 0)
            t->bad++;
        if (i % 5 == 4 && fio_chash_del(t->h, fs, 1) != 1)
            t->bad++;
    }
    return NULL;
}

static void test_threads(env *e, redisContext *p)
{
    pdo(p, "DEL ht");
    fio_chash *h = fio_cache_hash(C(e), S("ht"));
    tw t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (tw){h, i, 0};
        if (pthread_create(&th[i], NULL, thread_writer, &t[i]) != 0)
            die("pthread_create");
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += t[i].bad;
    }
    CHECK(bad == 0, "threads: %d read-your-write failures", bad);
    CHECK(fio_cache_flush(C(e), 5000) == 0, "flush");
    CHECK(cache_matches(h, p, "ht", 1), "threads: cache == HGETALL");
}

static void test_write_error(redisContext *p)
{
    env e;
    env_open(&e, rp.port, 1000);
    pdo(p, "DEL we");
    fio_chash *h = fio_cache_hash(C(&e), S("we"));
    fio_str fa[] = {S("a")}, va[] = {S("1")};
    CHECK(fio_chash_set(h, fa, va, 1) == 0, "set");
    CHECK(fio_cache_flush(C(&e), 5000) == 0, "flush");
    CHECK(get_is(h, "a", "1"), "a");

    /* another client turns the key into a string: the copy follows (empty) */
    pdo(p, "SET we str");
    int64_t end = now_ms() + 2000;
    while (fio_chash_len(h) != 0 && now_ms() < end)
        sleep_us(2000);
    CHECK(fio_chash_len(h) == 0, "string key: empty copy");
    CHECK(log_has(&e, "HGETALL we", "WRONGTYPE"), "load failure logged");

    /* a write Redis refuses: visible at once, reported, then undone */
    fio_str fb[] = {S("b")}, vb[] = {S("2")};
    CHECK(fio_chash_set(h, fb, vb, 1) == 0, "set queued");
    CHECK(get_is(h, "b", "2"), "visible before Redis answers");
    CHECK(fio_cache_flush(C(&e), 5000) == 1, "flush counts one refusal");
    CHECK(log_has(&e, "HSET we", "WRONGTYPE"), "write error logged");
    end = now_ms() + 2000;
    while (fio_chash_len(h) != 0 && now_ms() < end)
        sleep_us(2000);
    CHECK(fio_chash_len(h) == 0 && get_is(h, "b", NULL), "refused write undone");
    fio_str fc[] = {S("c")};
    CHECK(fio_chash_del(h, fc, 1) == 0, "del on empty copy");

    /* a DEL too (DEL of a string works) */
    CHECK(fio_chash_clear(h) == 0, "clear");
    CHECK(fio_cache_flush(C(&e), 5000) == 1, "DEL accepted");
    CHECK(fio_chash_set(h, fc, va, 1) == 0, "set after clear");
    CHECK(fio_cache_flush(C(&e), 5000) == 1, "HSET accepted");
    CHECK(cache_matches(h, p, "we", 1), "cache == HGETALL after the error");

    /* the other client fixes things up: followed */
    pdo(p, "DEL we");
    pdo(p, "HSET we z 9");
    CHECK(converges(h, p, "we", 2000), "cache follows Redis");
    CHECK(get_is(h, "z", "9"), "z");
    env_close(&e);
}

static void test_outage(redisContext **pp)
{
    env e;
    env_open(&e, rp.port, 300);
    redisContext *p = *pp;
    pdo(p, "DEL ho hn");
    fio_chash *ho = fio_cache_hash(C(&e), S("ho"));
    fio_str fk[] = {S("k")}, vk[] = {S("v")};
    CHECK(fio_chash_set(ho, fk, vk, 1) == 0, "set k");
    CHECK(fio_cache_flush(C(&e), 5000) == 0, "flush");
    CHECK(get_is(ho, "k", "v"), "ho loaded");

    rp_stop();
    redisFree(p);
    *pp = p = NULL;

    /* a hash that cannot load: reads time out */
    fio_chash *hn = fio_cache_hash(C(&e), S("hn"));
    int64_t t0 = now_ms();
    int rc = fio_chash_has(hn, S("x"));
    int64_t dt = now_ms() - t0;
    CHECK(rc == -FIO_CACHE_TIMEOUT, "read of an unloadable hash: %d", rc);
    CHECK(dt >= 250 && dt < 2000, "waited about wait_ms: %lld ms", (long long)dt);
    CHECK(fio_chash_len(hn) == -FIO_CACHE_TIMEOUT, "len times out too");
    fio_str fx[] = {S("x")};
    CHECK(fio_chash_del(hn, fx, 1) == -FIO_CACHE_TIMEOUT, "del waits like a read");
    /* the loaded one serves its copy until the reconnect marks it stale */
    rc = get_str(ho, "k", (char[8]){0}, 8);
    CHECK(rc == 1 || rc == -FIO_CACHE_TIMEOUT, "loaded hash while down: %d", rc);

    /* writes while down: applied now, landed later */
    fio_str f2[] = {S("k2")}, v2[] = {S("v2")};
    CHECK(fio_chash_set(ho, f2, v2, 1) == 0, "set while down");
    fio_str fn[] = {S("n1"), S("n2")}, vn[] = {S("1"), S("2")};
    CHECK(fio_chash_set(hn, fn, vn, 2) == 0, "set on a loading hash while down");
    CHECK(fio_cache_flush(C(&e), 200) == -FIO_CACHE_TIMEOUT, "flush times out while down");
    sleep_us(300000);

    if (rp_start(rp.port) < 0)
        die("redis restart");
    *pp = p = pconnect();
    CHECK(fio_cache_flush(C(&e), 10000) == 0, "writes landed after the restart");
    CHECK(converges(ho, p, "ho", 5000), "ho == HGETALL after the restart");
    CHECK(converges(hn, p, "hn", 5000), "hn == HGETALL after the restart");
    /* the restarted server is empty: only the writes made while down */
    CHECK(get_is(ho, "k", NULL) && get_is(ho, "k2", "v2"), "ho follows the new server");
    CHECK(get_is(hn, "n1", "1") && get_is(hn, "n2", "2"), "hn");
    /* and is tracked again */
    pdo(p, "HSET ho k3 v3");
    CHECK(converges(ho, p, "ho", 2000), "tracking after the restart");
    CHECK(get_is(ho, "k3", "v3"), "k3");

    /* freed with work pending: queued writes and a load that cannot finish */
    rp_stop();
    for (int i = 0; i < 200; i++)
        fio_chash_set(ho, fk, vk, 1);
    fio_chash_clear(ho);
    fio_cache_hash(C(&e), S("pending"));
    fio_redis_free(e.r);
    e.r = NULL;
    long n = fio_chash_len(hn);
    CHECK(n == 2, "a loaded hash still serves its copy once closed: %ld", n);
    CHECK(fio_chash_len(fio_cache_hash(C(&e), S("pending"))) == -FIO_CACHE_CLOSED, "an unloaded one: closed");
    fio_str fy[] = {S("y")};
    CHECK(fio_chash_set(ho, fy, fy, 1) == -FIO_CACHE_CLOSED, "writes refused once closed");
    CHECK(fio_cache_flush(C(&e), 1000) >= 0, "nothing left to wait for");
    env_close(&e);
    redisFree(p);
    if (rp_start(rp.port) < 0)
        die("redis restart");
    *pp = pconnect();
}

/* A load Redis refuses with an error other than WRONGTYPE (here NOPERM: the
 * client's user may not run HGETALL): reported, the hash stays unloaded,
 * a reader does not wait for a load that already failed, and the next reader
 * tries again (and succeeds once the user may read). */
static void test_load_error(redisContext *p)
{
    pdo(p, "ACL SETUSER cachelim on >pw ~* &* +@all -hgetall");
    pdo(p, "DEL hl");
    pdo(p, "HSET hl a 1");
    env e;
    env_open_auth(&e, rp.port, 2000, "cachelim", "pw");
    fio_chash *h = fio_cache_hash(C(&e), S("hl"));
    int64_t end = now_ms() + 2000;
    while (!log_has(&e, "HGETALL hl", "NOPERM") && now_ms() < end)
        sleep_us(2000);
    CHECK(log_has(&e, "HGETALL hl", "NOPERM"), "load error logged");
    int64_t t0 = now_ms();
    long n = fio_chash_len(h);
    int64_t dt = now_ms() - t0;
    CHECK(n == -FIO_CACHE_TIMEOUT, "unloadable hash: %ld", n);
    CHECK(dt < 1500, "a reader does not wait out a failed load: %lld ms", (long long)dt);
    pdo(p, "ACL SETUSER cachelim +hgetall");
    CHECK(get_is(h, "a", "1"), "the next reader loads it");
    fio_str fb[] = {S("b")}, vb[] = {S("2")};
    CHECK(fio_chash_set(h, fb, vb, 1) == 0, "set");
    CHECK(fio_cache_flush(C(&e), 5000) == 0, "failed loads are not refused writes");
    CHECK(cache_matches(h, p, "hl", 1), "cache == HGETALL");
    pdo(p, "HSET hl c 3");
    CHECK(converges(h, p, "hl", 2000), "tracked once loaded");
    env_close(&e);
    pdo(p, "ACL DELUSER cachelim");
}

/* A client that never connects: loads and writes wait; freeing both is clean. */
static void test_free_unconnected(void)
{
    int port = redis_proc_free_port();
    if (port <= 0)
        return;
    env e;
    env_open(&e, port, 50);
    fio_chash *h = fio_cache_hash(C(&e), S("u"));
    CHECK(h != NULL, "hash");
    CHECK(fio_chash_len(h) == -FIO_CACHE_TIMEOUT, "never loads");
    fio_str f[] = {S("a")}, v[] = {S("1")};
    CHECK(fio_chash_set(h, f, v, 1) == 0 && fio_chash_clear(h) == 0, "writes queue");
    CHECK(fio_cache_flush(C(&e), 50) == -FIO_CACHE_TIMEOUT, "flush times out");
    fio_redis_free(e.r);
    e.r = NULL;
    CHECK(fio_chash_len(h) == -FIO_CACHE_CLOSED, "closed");
    CHECK(fio_cache_flush(C(&e), 0) == 2, "the two lost writes count as failed");
    env_close(&e);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    reaper_start();
    if (rp_start(0) < 0) {
        printf("SKIP: no redis-server\n");
        return 0;
    }
    signal(SIGALRM, on_alarm);
    alarm(90);
    int64_t t0 = now_ms();
    redisContext *p = pconnect();
    env e;
    env_open(&e, rp.port, 1000);
    test_first_load_and_reads(&e, p);
    test_local_writes(&e, p);
    test_eager_reload(&e, p);
    test_threads(&e, p);
    CHECK(e.nlog == 0, "no log messages (%d)", e.nlog);
    env_close(&e);
    test_stress(p, 60, 400);
    test_write_error(p);
    test_load_error(p);
    test_outage(&p);
    test_free_unconnected();
    redisFree(p);
    rp_stop();
    printf("test_redis_cache: %lld ms\n", (long long)(now_ms() - t0));
    return check_summary();
}
