/* C tests for the string map (csrc/strmap.c) and the hub (csrc/hub.c):
 * connections, queues bounded in frames and in bytes, frame references,
 * members and rooms, fan-out, a randomized check against a reference model
 * (both queue bounds included), and a threaded smoke test meant to run under
 * ASan/UBSan (tests/c/run.sh).
 * argv[1] (the corpus directory) is not used. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "hub.h"
#include "strmap.h"

#include "check.h"

static fio_str S(const char *s)
{
    fio_str r = {s, strlen(s)};
    return r;
}

static int refs(fio_frame *f)
{
    return atomic_load(&f->refs);
}

static fio_frame *frame(const char *text)
{
    fio_frame *f = fio_frame_text(4, text, strlen(text));
    if (!f) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return f;
}

/* ---- collectors ---- */

#define MAXC 64

typedef struct {
    int n;
    char v[MAXC][32];
} names_t;

static int collect_name(void *ctx, fio_str s)
{
    names_t *c = ctx;
    if (c->n < MAXC) {
        size_t l = s.n < 31 ? s.n : 31;
        memcpy(c->v[c->n], s.p, l);
        c->v[c->n][l] = '\0';
    }
    c->n++;
    return 0;
}

static int names_has(const names_t *c, const char *s)
{
    for (int i = 0; i < c->n && i < MAXC; i++)
        if (strcmp(c->v[i], s) == 0)
            return 1;
    return 0;
}

typedef struct {
    int n;
    char sid[MAXC][32];
    uint32_t conn[MAXC];
    char eio[MAXC][32];
} mems_t;

static void copy_str(char *dst, fio_str s)
{
    size_t l = s.n < 31 ? s.n : 31;
    memcpy(dst, s.p, l);
    dst[l] = '\0';
}

static int collect_member(void *ctx, fio_str sid, uint32_t conn, fio_str eio_sid)
{
    mems_t *c = ctx;
    if (c->n < MAXC) {
        copy_str(c->sid[c->n], sid);
        copy_str(c->eio[c->n], eio_sid);
        c->conn[c->n] = conn;
    }
    c->n++;
    return 0;
}

static int mems_has(const mems_t *c, const char *sid)
{
    for (int i = 0; i < c->n && i < MAXC; i++)
        if (strcmp(c->sid[i], sid) == 0)
            return 1;
    return 0;
}

static int stop_after_two(void *ctx, fio_str sid, uint32_t conn, fio_str eio_sid)
{
    (void)sid;
    (void)conn;
    (void)eio_sid;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

typedef struct {
    int n;
    uint32_t conn[MAXC];
    int status[MAXC];
} wakes_t;

static void collect_wake(void *ctx, uint32_t conn, int status)
{
    wakes_t *w = ctx;
    if (w->n < MAXC) {
        w->conn[w->n] = conn;
        w->status[w->n] = status;
    }
    w->n++;
}

static int wake_status(const wakes_t *w, uint32_t conn)
{
    for (int i = 0; i < w->n && i < MAXC; i++)
        if (w->conn[i] == conn)
            return w->status[i];
    return 0;
}

/* Drains up to 64 frames, checks them against want[0..nwant) when want is
 * not NULL, unrefs them. Returns the count or the hub's error. */
static long drain_expect(fio_hub *h, uint32_t id, fio_frame *const *want, long nwant,
                         int *overflowed)
{
    fio_frame *out[64];
    long n = fio_hub_drain(h, id, out, 64, overflowed);
    int same = n == nwant;
    for (long i = 0; i < n; i++) {
        if (want && (i >= nwant || out[i] != want[i]))
            same = 0;
        fio_frame_unref(out[i]);
    }
    if (want && !same)
        return -100;
    return n;
}

/* ---- strmap ---- */

static void test_strmap_basic(void)
{
    fio_strmap m;
    fio_strmap_init(&m);
    int a = 1, b = 2, c = 3, d = 4;
    CHECK(fio_strmap_get(&m, "x", 1) == NULL, "get on an empty map");
    CHECK(fio_strmap_del(&m, "x", 1) == NULL, "del on an empty map");
    CHECK(fio_strmap_put(&m, "alpha", 5, &a) == 0 && m.count == 1, "put");
    CHECK(fio_strmap_get(&m, "alpha", 5) == &a, "get");
    CHECK(fio_strmap_get(&m, "alph", 4) == NULL, "prefix is another key");
    CHECK(fio_strmap_put(&m, "alpha", 5, &b) == 0 && m.count == 1 &&
              fio_strmap_get(&m, "alpha", 5) == &b, "put replaces");
    CHECK(fio_strmap_put(&m, NULL, 0, &c) == 0 && fio_strmap_get(&m, "", 0) == &c,
          "empty key (NULL pointer, length 0)");
    CHECK(fio_strmap_put(&m, "a\0b", 3, &d) == 0 && fio_strmap_get(&m, "a\0b", 3) == &d &&
              fio_strmap_get(&m, "a\0c", 3) == NULL && fio_strmap_get(&m, "a", 1) == NULL,
          "keys with NUL bytes");
    CHECK(m.count == 3, "count %zu", m.count);
    CHECK(fio_strmap_del(&m, "alpha", 5) == &b && fio_strmap_get(&m, "alpha", 5) == NULL &&
              m.count == 2, "del");
    CHECK(fio_strmap_del(&m, "alpha", 5) == NULL, "del twice");
    CHECK(fio_strmap_del(&m, "", 0) == &c && m.count == 1, "del empty key");
    fio_strmap_free(&m);
    CHECK(m.count == 0 && m.cap == 0 && fio_strmap_get(&m, "a\0b", 3) == NULL, "free re-inits");
}

static void test_strmap_growth(void)
{
    enum { N = 20000 };
    static int vals[N];
    fio_strmap m;
    fio_strmap_init(&m);
    char key[32];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        vals[i] = i;
        int len = snprintf(key, sizeof key, "key-%d", i);
        if (fio_strmap_put(&m, key, (size_t)len, &vals[i]) != 0)
            bad++;
    }
    CHECK(bad == 0 && m.count == N, "20000 puts: %d failures, count %zu", bad, m.count);
    CHECK(m.count * 4 <= m.cap * 3 && (m.cap & (m.cap - 1)) == 0, "load and power-of-two cap");
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        if (fio_strmap_get(&m, key, (size_t)len) != &vals[i])
            bad++;
    }
    CHECK(bad == 0, "all found: %d missing", bad);
    for (int i = 0; i < N; i += 2) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        if (fio_strmap_del(&m, key, (size_t)len) != &vals[i])
            bad++;
    }
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        void *v = fio_strmap_get(&m, key, (size_t)len);
        if (v != (i % 2 ? &vals[i] : NULL))
            bad++;
    }
    CHECK(bad == 0 && m.count == N / 2, "half deleted: %d wrong, count %zu", bad, m.count);
    size_t seen = 0;
    const fio_strmap_slot *s;
    for (size_t i = 0; fio_strmap_next(&m, &i, &s);) {
        int v = *(int *)s->value;
        int len = snprintf(key, sizeof key, "key-%d", v);
        if (v % 2 == 0 || s->keylen != (size_t)len || memcmp(s->key, key, s->keylen) != 0 ||
            s->key[s->keylen] != '\0')
            bad++;
        seen++;
    }
    CHECK(bad == 0 && seen == N / 2, "iteration: %zu seen, %d wrong", seen, bad);
    fio_strmap_free(&m);

    /* the low bits of the hash of 4-byte ids (the hub's connection keys) spread */
    int buckets[1024] = {0}, worst = 0;
    for (uint32_t id = 1; id <= 16384; id++) {
        int b = (int)(fio_strmap_hash((const char *)&id, sizeof id) & 1023);
        if (++buckets[b] > worst)
            worst = buckets[b];
    }
    CHECK(worst < 48, "16384 ids over 1024 buckets: worst bucket %d", worst);
}

/* Random put/del/get against an array model over a small key space, so
 * deletions inside long probe runs are exercised. */
static void test_strmap_model(void)
{
    enum { K = 300 };
    static int vals[K];
    void *model[K] = {0};
    size_t count = 0;
    fio_strmap m;
    fio_strmap_init(&m);
    unsigned seed = 12345;
    int bad = 0;
    char key[32];
    for (int step = 0; step < 100000; step++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % K), op = (int)((seed >> 20) % 3);
        int len = snprintf(key, sizeof key, "%d/%d", k * 7919 % 1000, k);
        if (op == 0) {
            if (fio_strmap_put(&m, key, (size_t)len, &vals[k]) != 0)
                bad++;
            if (!model[k])
                count++;
            model[k] = &vals[k];
        } else if (op == 1) {
            if (fio_strmap_del(&m, key, (size_t)len) != model[k])
                bad++;
            if (model[k])
                count--;
            model[k] = NULL;
        } else if (fio_strmap_get(&m, key, (size_t)len) != model[k]) {
            bad++;
        }
        if (m.count != count)
            bad++;
    }
    for (int k = 0; k < K; k++) {
        int len = snprintf(key, sizeof key, "%d/%d", k * 7919 % 1000, k);
        if (fio_strmap_get(&m, key, (size_t)len) != model[k])
            bad++;
    }
    CHECK(bad == 0, "strmap model: %d differences", bad);
    fio_strmap_free(&m);
}

/* ---- connections and queues ---- */

static void test_conns(void)
{
    fio_hub *h = fio_hub_new(8);
    uint32_t a = 0, b = 0, c = 0;
    CHECK(h != NULL, "hub");
    CHECK(fio_hub_conn_count(h) == 0, "no connections");
    CHECK(fio_hub_conn_open(h, S("EA"), &a) == FIO_OK && fio_hub_conn_open(h, S("EB"), &b) == 0 &&
              fio_hub_conn_open(h, S(""), &c) == FIO_OK, "open three");
    CHECK(a != 0 && b != 0 && c != 0 && a != b && b != c && a != c, "ids %u %u %u", a, b, c);
    CHECK(fio_hub_conn_count(h) == 3, "count 3");
    CHECK(fio_hub_queued(h, a) == 0, "empty queue");
    CHECK(fio_hub_conn_close(h, b) == FIO_OK, "close b");
    CHECK(fio_hub_conn_close(h, b) == FIO_ENOCONN, "close b twice");
    CHECK(fio_hub_queued(h, b) == FIO_ENOCONN, "queued on closed");
    CHECK(fio_hub_drain(h, b, NULL, 0, NULL) == FIO_ENOCONN, "drain on closed");
    fio_frame *f = frame("x");
    CHECK(fio_hub_push(h, b, &f, 1) == FIO_ENOCONN && refs(f) == 1, "push to closed: no ref");
    CHECK(fio_hub_connect(h, S("/"), S("sb"), b) == FIO_ENOCONN, "connect on closed");
    CHECK(fio_hub_conn_close(h, 0) == FIO_ENOCONN && fio_hub_conn_close(h, 999999) == FIO_ENOCONN,
          "unknown ids");
    uint32_t d = 0;
    CHECK(fio_hub_conn_open(h, S("ED"), &d) == FIO_OK && d != a && d != b && d != c,
          "a closed id is not handed out again (%u)", d);
    CHECK(fio_hub_conn_count(h) == 3, "count after close + open");
    /* eio sid is reported through member look-ups */
    mems_t got = {0};
    CHECK(fio_hub_connect(h, S("/"), S("sd"), d) == FIO_OK, "connect d");
    CHECK(fio_hub_member(h, S("/"), S("sd"), collect_member, &got) == 1 && got.n == 1 &&
              got.conn[0] == d && strcmp(got.eio[0], "ED") == 0 && strcmp(got.sid[0], "sd") == 0,
          "member reports conn and eio sid");
    fio_frame_unref(f);
    fio_hub_free(h);
    fio_hub_free(NULL);
}

static void test_queue(void)
{
    fio_hub *h = fio_hub_new(5);
    uint32_t a;
    fio_hub_conn_open(h, S("EA"), &a);
    fio_frame *f1 = frame("one"), *f2 = frame("two"), *f3 = frame("three");
    fio_frame *out[8];
    int over = -1;

    CHECK(fio_hub_push(h, a, NULL, 0) == 0 && fio_hub_queued(h, a) == 0, "empty push");
    CHECK(fio_hub_push(h, a, &f1, 1) == 1, "first push wakes");
    fio_frame *two[2] = {f2, f3};
    CHECK(fio_hub_push(h, a, two, 2) == 0, "second push does not wake");
    CHECK(refs(f1) == 2 && refs(f2) == 2 && refs(f3) == 2, "one ref per queued entry");
    CHECK(fio_hub_queued(h, a) == 3, "three queued");
    CHECK(fio_hub_drain(h, a, out, 2, &over) == 2 && out[0] == f1 && out[1] == f2 && over == 0,
          "drain oldest first, bounded by max");
    CHECK(refs(f1) == 2 && refs(f2) == 2, "drain moves references to the caller");
    CHECK(fio_hub_drain(h, a, out + 2, 0, NULL) == 0, "drain max 0");
    fio_frame_unref(out[0]);
    fio_frame_unref(out[1]);
    CHECK(refs(f1) == 1 && refs(f2) == 1 && refs(f3) == 2, "caller released its frames");
    CHECK(fio_hub_drain(h, a, out, 8, NULL) == 1 && out[0] == f3, "last one");
    fio_frame_unref(out[0]);
    CHECK(fio_hub_drain(h, a, out, 8, &over) == 0 && over == 0, "empty drain");
    CHECK(fio_hub_push(h, a, &f1, 1) == 1, "empty again: wakes again");

    /* the same frame several times in one push */
    fio_frame *same[3] = {f2, f2, f2};
    CHECK(fio_hub_push(h, a, same, 3) == 0 && refs(f2) == 4, "repeated frame: %d", refs(f2));

    /* overflow: 4 queued, bound 5, push 3 -> first fits, the rest dropped */
    fio_frame *three[3] = {f3, f1, f2};
    CHECK(fio_hub_push(h, a, three, 3) == 2, "past the bound overflows");
    CHECK(fio_hub_queued(h, a) == 5, "queue full at the bound");
    CHECK(refs(f3) == 2 && refs(f1) == 2 && refs(f2) == 4, "dropped frames took no ref");
    CHECK(fio_hub_push(h, a, &f1, 1) == 2 && refs(f1) == 2, "overflowed stays overflowed");
    fio_frame *want[5] = {f1, f2, f2, f2, f3};
    CHECK(drain_expect(h, a, want, 5, &over) == 5 && over == 1, "queued frames in order, flag");
    CHECK(fio_hub_push(h, a, &f1, 1) == 2 && fio_hub_queued(h, a) == 0,
          "after draining, an overflowed conn still drops (it is to be closed)");
    CHECK(fio_hub_drain(h, a, out, 8, &over) == 0 && over == 1, "flag is sticky");
    CHECK(refs(f1) == 1 && refs(f2) == 1 && refs(f3) == 1, "all refs back");

    /* closing a conn releases its queue */
    uint32_t b;
    fio_hub_conn_open(h, S("EB"), &b);
    fio_frame *ab[2] = {f1, f2};
    CHECK(fio_hub_push(h, b, ab, 2) == 1 && refs(f1) == 2, "queued on b");
    CHECK(fio_hub_conn_close(h, b) == FIO_OK && refs(f1) == 1 && refs(f2) == 1,
          "close unrefs queued frames");
    /* freeing the hub releases queues too */
    uint32_t c;
    fio_hub_conn_open(h, S("EC"), &c);
    fio_hub_push(h, c, ab, 2);
    fio_hub_free(h);
    CHECK(refs(f1) == 1 && refs(f2) == 1, "hub free unrefs queued frames");
    fio_frame_unref(f1);
    fio_frame_unref(f2);
    fio_frame_unref(f3);
}

/* Wrap-around and growth of the ring against a FIFO model. */
static void test_queue_ring(void)
{
    enum { NF = 7, CAPM = 4096 };
    fio_hub *h = fio_hub_new(3000);
    uint32_t a;
    fio_hub_conn_open(h, S("E"), &a);
    fio_frame *fr[NF];
    for (int i = 0; i < NF; i++) {
        char t[16];
        snprintf(t, sizeof t, "%d", i);
        fr[i] = frame(t);
    }
    static int model[CAPM];
    size_t head = 0, len = 0;
    int bad = 0, k = 0;
    unsigned seed = 99;
    for (int step = 0; step < 6000; step++) {
        seed = seed * 1103515245u + 12345u;
        int burst = step % 500 < 20 ? 150 : 1;     /* occasional bursts force growth */
        int npush = 1 + (int)((seed >> 10) % 3) * burst, ndrain = (int)((seed >> 16) % 5);
        for (int i = 0; i < npush && len < 3000; i++) {
            fio_frame *f = fr[k % NF];
            int rc = fio_hub_push(h, a, &f, 1);
            if (rc != (len == 0 ? 1 : 0))
                bad++;
            model[(head + len++) % CAPM] = k % NF;
            k++;
        }
        fio_frame *out[8];
        long n = fio_hub_drain(h, a, out, (size_t)ndrain, NULL);
        for (long i = 0; i < n; i++) {
            if (len == 0 || out[i] != fr[model[head]])
                bad++;
            head = (head + 1) % CAPM;
            len--;
            fio_frame_unref(out[i]);
        }
        if (fio_hub_queued(h, a) != (long)len)
            bad++;
        if (step % 1000 == 999) {       /* drain everything: large rings are released */
            fio_frame *big[64];
            long m;
            while ((m = fio_hub_drain(h, a, big, 64, NULL)) > 0)
                for (long i = 0; i < m; i++) {
                    if (big[i] != fr[model[head]])
                        bad++;
                    head = (head + 1) % CAPM;
                    len--;
                    fio_frame_unref(big[i]);
                }
        }
    }
    CHECK(bad == 0, "ring order through growth and wrap: %d differences", bad);
    long total = 0;
    for (int i = 0; i < NF; i++)
        total += refs(fr[i]) - 1;
    CHECK(total == (long)len, "refs match queued entries: %ld vs %zu", total, len);
    fio_hub_free(h);
    for (int i = 0; i < NF; i++) {
        CHECK(refs(fr[i]) == 1, "frame %d refs %d", i, refs(fr[i]));
        fio_frame_unref(fr[i]);
    }
}

/* The byte bound (hub.h queue policy): frames count their len, a push stops at
 * the first frame past either bound, shared frames count in every queue. */
static size_t qbytes(fio_hub *h, uint32_t id)
{
    size_t n = (size_t)-1;
    return fio_hub_queued_bytes(h, id, &n) == FIO_OK ? n : (size_t)-1;
}

static void test_queue_bytes(void)
{
    fio_hub *h = fio_hub_new_bounded(100, 20);
    uint32_t a, b, c;
    fio_hub_conn_open(h, S("EA"), &a);
    fio_hub_conn_open(h, S("EB"), &b);
    fio_hub_conn_open(h, S("EC"), &c);
    fio_frame *f4 = frame("abc"), *f10 = frame("abcdefghi"), *bin = fio_frame_new("xy", 2, 1);
    fio_frame *big = frame("01234567890123456789");     /* 21 bytes: over the bound alone */
    int over = -1;
    CHECK(f4->len == 4 && f10->len == 10 && bin->len == 2 && big->len == 21, "frame sizes");

    CHECK(qbytes(h, a) == 0, "empty queue: 0 bytes");
    size_t untouched = 7;
    CHECK(fio_hub_queued_bytes(h, 999999, &untouched) == FIO_ENOCONN && untouched == 7,
          "unknown conn");
    fio_frame *p1[3] = {f4, f10, bin};
    CHECK(fio_hub_push(h, a, p1, 3) == 1 && qbytes(h, a) == 16, "16 bytes queued");
    CHECK(fio_hub_push(h, a, &f4, 1) == 0 && qbytes(h, a) == 20, "exactly at the bound fits");
    CHECK(drain_expect(h, a, NULL, 0, &over) == 4 && over == 0 && qbytes(h, a) == 0,
          "drain gives every byte back");
    CHECK(refs(f4) == 1 && refs(f10) == 1 && refs(bin) == 1, "drained refs released");

    /* 6 queued; push [10, 4, 10]: 16, then 20, then the third would be 30 */
    fio_frame *p2[3] = {f10, f4, f10};
    fio_hub_push(h, a, &f4, 1);
    fio_hub_push(h, a, &bin, 1);
    CHECK(fio_hub_push(h, a, p2, 3) == 2, "a push past the byte bound overflows");
    CHECK(fio_hub_queued(h, a) == 4 && qbytes(h, a) == 20, "frames before it stay: %ld, %zu",
          fio_hub_queued(h, a), qbytes(h, a));
    CHECK(refs(f10) == 2 && refs(f4) == 3, "the dropped frame took no ref: %d %d", refs(f10),
          refs(f4));
    CHECK(fio_hub_push(h, a, &bin, 1) == 2 && qbytes(h, a) == 20, "sticky, even when it would fit");
    fio_frame *want[4] = {f4, bin, f10, f4};
    CHECK(drain_expect(h, a, want, 4, &over) == 4 && over == 1 && qbytes(h, a) == 0,
          "queued in order, flag set, bytes back");
    CHECK(fio_hub_push(h, a, &bin, 1) == 2 && qbytes(h, a) == 0,
          "after draining an overflowed conn still drops");

    /* one frame over the bound on an empty queue */
    CHECK(fio_hub_push(h, b, &big, 1) == 2 && fio_hub_queued(h, b) == 0 && qbytes(h, b) == 0 &&
              refs(big) == 1, "a frame longer than the bound overflows at once");

    /* the frame bound still applies when the bytes are small */
    fio_hub *hf = fio_hub_new_bounded(2, 1000);
    uint32_t d;
    fio_hub_conn_open(hf, S("ED"), &d);
    fio_frame *p3[3] = {bin, bin, bin};
    CHECK(fio_hub_push(hf, d, p3, 3) == 2 && fio_hub_queued(hf, d) == 2 && qbytes(hf, d) == 4,
          "frame bound first: %ld frames", fio_hub_queued(hf, d));
    fio_hub_free(hf);

    /* broadcast: a shared frame counts in full in every queue */
    fio_hub_connect(h, S("/"), S("sb"), b);   /* b is overflowed already */
    fio_hub_connect(h, S("/"), S("sc"), c);
    uint32_t e;
    fio_hub_conn_open(h, S("EE"), &e);
    fio_hub_connect(h, S("/"), S("se"), e);
    fio_hub_push(h, e, &f10, 1);              /* e: 10 of 20 */
    wakes_t w = {0};
    fio_frame *p4[2] = {f4, bin};            /* 6 bytes */
    long n = fio_hub_broadcast(h, S("/"), NULL, 0, NULL, 0, p4, 2, collect_wake, &w);
    CHECK(n == 2 && qbytes(h, c) == 6 && qbytes(h, e) == 16, "each queue counts 6: %ld, %zu %zu",
          n, qbytes(h, c), qbytes(h, e));
    w.n = 0;
    n = fio_hub_broadcast(h, S("/"), NULL, 0, NULL, 0, p4, 2, collect_wake, &w);
    CHECK(n == 1 && wake_status(&w, e) == 2 && qbytes(h, c) == 12 && qbytes(h, e) == 20,
          "e overflows on bytes (its packet cut after 4), c does not: %ld, %zu %zu", n,
          qbytes(h, c), qbytes(h, e));
    CHECK(fio_hub_queued(h, e) == 4, "e: 10, then 4+2, then 4: %ld", fio_hub_queued(h, e));

    /* closing and freeing release the counted frames */
    CHECK(fio_hub_conn_close(h, e) == FIO_OK && fio_hub_queued_bytes(h, e, &untouched) ==
              FIO_ENOCONN, "closed conn has no byte count");
    fio_hub_free(h);
    CHECK(refs(f4) == 1 && refs(f10) == 1 && refs(bin) == 1 && refs(big) == 1,
          "every frame released");

    /* 0 is taken as 1; fio_hub_new has no byte bound */
    fio_hub *h1 = fio_hub_new_bounded(0, 0), *hn = fio_hub_new(4);
    uint32_t x, y;
    fio_hub_conn_open(h1, S("EX"), &x);
    fio_hub_conn_open(hn, S("EY"), &y);
    fio_frame *one = fio_frame_new("z", 1, 1);
    CHECK(fio_hub_push(h1, x, &one, 1) == 1 && fio_hub_push(h1, x, &one, 1) == 2,
          "bounds of 0 hold one frame of one byte");
    CHECK(fio_hub_push(hn, y, &big, 1) == 1 && qbytes(hn, y) == 21, "no byte bound");
    fio_hub_free(h1);
    fio_hub_free(hn);
    CHECK(refs(one) == 1 && refs(big) == 1, "released");
    fio_frame_unref(one);
    fio_frame_unref(f4);
    fio_frame_unref(f10);
    fio_frame_unref(bin);
    fio_frame_unref(big);
}

/* ---- members and rooms ---- */

static void test_connect(void)
{
    fio_hub *h = fio_hub_new(8);
    uint32_t a, b;
    fio_hub_conn_open(h, S("EA"), &a);
    fio_hub_conn_open(h, S("EB"), &b);
    CHECK(fio_hub_connect(h, S("/"), S(""), a) == FIO_EINVAL, "empty sid");
    CHECK(fio_hub_connect(h, S("/"), S("sa"), a) == FIO_OK, "connect");
    CHECK(fio_hub_connect(h, S("/"), S("sa2"), a) == FIO_EEXIST, "second member on the conn");
    CHECK(fio_hub_connect(h, S("/"), S("sa"), b) == FIO_EEXIST, "sid taken by another conn");
    CHECK(fio_hub_connect(h, S("/"), S("sa"), a) == FIO_EEXIST, "same member again");
    CHECK(fio_hub_connect(h, S("/chat"), S("sa"), b) == FIO_OK, "same sid in another namespace");
    CHECK(fio_hub_connect(h, S("/chat"), S("ca"), a) == FIO_OK, "a in /chat too");
    CHECK(fio_hub_connect(h, S("/"), S("sb"), b) == FIO_OK, "b in /");

    mems_t m = {0};
    CHECK(fio_hub_member(h, S("/"), S("sa"), collect_member, &m) == 1 && m.conn[0] == a, "/ sa");
    m.n = 0;
    CHECK(fio_hub_member(h, S("/chat"), S("sa"), collect_member, &m) == 1 && m.conn[0] == b &&
              strcmp(m.eio[0], "EB") == 0, "/chat sa is on b");
    m.n = 0;
    CHECK(fio_hub_member(h, S("/nope"), S("sa"), collect_member, &m) == 0 && m.n == 0,
          "unknown namespace");
    CHECK(fio_hub_member(h, S("/"), S("zz"), collect_member, &m) == 0 && m.n == 0, "unknown sid");
    CHECK(fio_hub_member_on_conn(h, S("/chat"), a, collect_member, &m) == 1 && m.n == 1 &&
              strcmp(m.sid[0], "ca") == 0, "member_on_conn");
    m.n = 0;
    CHECK(fio_hub_member_on_conn(h, S("/other"), a, collect_member, &m) == 0 && m.n == 0,
          "member_on_conn: no member in that namespace");
    CHECK(fio_hub_member_on_conn(h, S("/"), 12345, collect_member, &m) == 0 && m.n == 0,
          "member_on_conn: unknown conn");

    CHECK(fio_hub_disconnect(h, S("/"), S("sa")) == FIO_OK, "disconnect");
    CHECK(fio_hub_disconnect(h, S("/"), S("sa")) == FIO_ENOMEMBER, "disconnect twice");
    CHECK(fio_hub_member(h, S("/"), S("sa"), collect_member, &m) == 0, "gone");
    CHECK(fio_hub_connect(h, S("/"), S("sa3"), a) == FIO_OK, "a can reconnect with a new sid");
    CHECK(fio_hub_disconnect(h, S("/x"), S("sa3")) == FIO_ENOMEMBER, "wrong namespace");

    /* closing a conn removes its members from every namespace */
    CHECK(fio_hub_conn_close(h, a) == FIO_OK, "close a");
    m.n = 0;
    CHECK(fio_hub_member(h, S("/"), S("sa3"), collect_member, &m) == 0 &&
              fio_hub_member(h, S("/chat"), S("ca"), collect_member, &m) == 0, "a's members gone");
    m.n = 0;
    fio_hub_members(h, S("/chat"), NULL, 0, collect_member, &m);
    CHECK(m.n == 1 && strcmp(m.sid[0], "sa") == 0, "/chat keeps b's member");
    CHECK(fio_hub_connect(h, S("/"), S("sa3"), b) == FIO_EEXIST, "b already in /");
    fio_hub_free(h);
}

static void test_rooms(void)
{
    fio_hub *h = fio_hub_new(8);
    uint32_t a, b, c;
    fio_hub_conn_open(h, S("EA"), &a);
    fio_hub_conn_open(h, S("EB"), &b);
    fio_hub_conn_open(h, S("EC"), &c);
    fio_hub_connect(h, S("/"), S("sa"), a);
    fio_hub_connect(h, S("/"), S("sb"), b);
    fio_hub_connect(h, S("/"), S("sc"), c);

    names_t n = {0};
    fio_hub_rooms_of(h, S("/"), S("sa"), collect_name, &n);
    CHECK(n.n == 1 && strcmp(n.v[0], "sa") == 0, "a new member is in its own sid room");
    CHECK(fio_hub_enter(h, S("/"), S("sa"), S("red")) == FIO_OK, "enter");
    CHECK(fio_hub_enter(h, S("/"), S("sa"), S("red")) == FIO_OK, "enter is idempotent");
    CHECK(fio_hub_enter(h, S("/"), S("sa"), S("")) == FIO_EINVAL, "empty room name");
    CHECK(fio_hub_enter(h, S("/"), S("zz"), S("red")) == FIO_ENOMEMBER, "unknown member");
    CHECK(fio_hub_enter(h, S("/x"), S("sa"), S("red")) == FIO_ENOMEMBER, "unknown namespace");
    fio_hub_enter(h, S("/"), S("sa"), S("blue"));
    fio_hub_enter(h, S("/"), S("sb"), S("blue"));
    fio_hub_enter(h, S("/"), S("sc"), S("sa"));     /* c joins a's sid room */
    n.n = 0;
    fio_hub_rooms_of(h, S("/"), S("sa"), collect_name, &n);
    CHECK(n.n == 3 && strcmp(n.v[0], "sa") == 0 && strcmp(n.v[1], "red") == 0 &&
              strcmp(n.v[2], "blue") == 0, "rooms_of: own sid first, then join order (%d)", n.n);
    n.n = 0;
    fio_hub_rooms_of(h, S("/"), S("sc"), collect_name, &n);
    CHECK(n.n == 2 && names_has(&n, "sc") && names_has(&n, "sa"), "c is in room sa");
    n.n = 0;
    CHECK(fio_hub_rooms_of(h, S("/"), S("zz"), collect_name, &n) == 0 && n.n == 0,
          "rooms_of unknown member");
    n.n = 0;
    fio_hub_room_names(h, S("/"), collect_name, &n);
    CHECK(n.n == 5 && names_has(&n, "sa") && names_has(&n, "sb") && names_has(&n, "sc") &&
              names_has(&n, "red") && names_has(&n, "blue"), "room names: %d", n.n);

    mems_t m = {0};
    fio_str sa_room = S("sa");
    fio_hub_members(h, S("/"), &sa_room, 1, collect_member, &m);
    CHECK(m.n == 2 && mems_has(&m, "sa") && mems_has(&m, "sc"), "sid room shared");

    CHECK(fio_hub_leave(h, S("/"), S("sa"), S("nothere")) == FIO_OK, "leave absent room");
    CHECK(fio_hub_leave(h, S("/"), S("zz"), S("red")) == FIO_OK, "leave unknown member");
    CHECK(fio_hub_leave(h, S("/"), S("sb"), S("red")) == FIO_OK, "leave a room not joined");
    CHECK(fio_hub_leave(h, S("/"), S("sa"), S("red")) == FIO_OK, "leave red");
    n.n = 0;
    fio_hub_room_names(h, S("/"), collect_name, &n);
    CHECK(n.n == 4 && !names_has(&n, "red"), "an empty room disappears");
    n.n = 0;
    fio_hub_rooms_of(h, S("/"), S("sa"), collect_name, &n);
    CHECK(n.n == 2 && strcmp(n.v[0], "sa") == 0 && strcmp(n.v[1], "blue") == 0, "a: sa, blue");

    CHECK(fio_hub_close_room(h, S("/"), S("blue")) == FIO_OK, "close blue");
    CHECK(fio_hub_close_room(h, S("/"), S("blue")) == FIO_OK, "close absent room");
    CHECK(fio_hub_close_room(h, S("/none"), S("blue")) == FIO_OK, "close in unknown namespace");
    m.n = 0;
    fio_str blue = S("blue");
    fio_hub_members(h, S("/"), &blue, 1, collect_member, &m);
    CHECK(m.n == 0, "closed room has no members");
    n.n = 0;
    fio_hub_rooms_of(h, S("/"), S("sb"), collect_name, &n);
    CHECK(n.n == 1 && strcmp(n.v[0], "sb") == 0, "b only in its own room");
    m.n = 0;
    fio_hub_members(h, S("/"), NULL, 0, collect_member, &m);
    CHECK(m.n == 3, "close_room keeps members in the namespace");

    /* leaving one's own sid room (python-socketio allows it) */
    fio_hub_leave(h, S("/"), S("sb"), S("sb"));
    n.n = 0;
    fio_hub_rooms_of(h, S("/"), S("sb"), collect_name, &n);
    CHECK(n.n == 0, "b left its own room");
    m.n = 0;
    fio_hub_members(h, S("/"), NULL, 0, collect_member, &m);
    CHECK(m.n == 3 && mems_has(&m, "sb"), "still in the namespace");

    /* many rooms on one member, leave in mixed order */
    char room[16];
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(room, sizeof room, "r%d", i);
        bad += fio_hub_enter(h, S("/"), S("sa"), S(room)) != FIO_OK;
        bad += fio_hub_enter(h, S("/"), S("sc"), S(room)) != FIO_OK;
    }
    for (int i = 0; i < 200; i += 3) {
        snprintf(room, sizeof room, "r%d", i);
        fio_hub_leave(h, S("/"), S("sa"), S(room));
    }
    for (int i = 0; i < 200; i++) {
        snprintf(room, sizeof room, "r%d", i);
        fio_str r = S(room);
        mems_t mm = {0};
        fio_hub_members(h, S("/"), &r, 1, collect_member, &mm);
        bad += mm.n != (i % 3 ? 2 : 1) || !mems_has(&mm, "sc");
    }
    CHECK(bad == 0, "200 rooms with leaves: %d wrong", bad);

    /* namespaces disappear with their last member */
    fio_hub_connect(h, S("/chat"), S("x"), a);
    n.n = 0;
    fio_hub_namespaces(h, collect_name, &n);
    CHECK(n.n == 2 && names_has(&n, "/") && names_has(&n, "/chat"), "two namespaces");
    fio_hub_enter(h, S("/chat"), S("x"), S("red"));
    m.n = 0;
    fio_str red = S("red");
    fio_hub_members(h, S("/"), &red, 1, collect_member, &m);
    CHECK(m.n == 0, "namespaces are isolated: / has no red");
    fio_hub_disconnect(h, S("/chat"), S("x"));
    n.n = 0;
    fio_hub_namespaces(h, collect_name, &n);
    CHECK(n.n == 1 && strcmp(n.v[0], "/") == 0, "empty namespace is gone");
    n.n = 0;
    CHECK(fio_hub_room_names(h, S("/chat"), collect_name, &n) == 0 && n.n == 0,
          "no rooms in a gone namespace");
    fio_hub_conn_close(h, a);
    fio_hub_conn_close(h, b);
    fio_hub_conn_close(h, c);
    n.n = 0;
    fio_hub_namespaces(h, collect_name, &n);
    CHECK(n.n == 0, "no namespaces once every conn closed");
    fio_hub_free(h);
}

static void test_members_iteration(void)
{
    fio_hub *h = fio_hub_new(8);
    uint32_t id[4];
    const char *sids[4] = {"s0", "s1", "s2", "s3"};
    for (int i = 0; i < 4; i++) {
        fio_hub_conn_open(h, S(sids[i]), &id[i]);
        fio_hub_connect(h, S("/"), S(sids[i]), id[i]);
        fio_hub_enter(h, S("/"), S(sids[i]), S("all4"));
        if (i < 3)
            fio_hub_enter(h, S("/"), S(sids[i]), S("odd3"));
    }
    fio_str sel[4] = {S("all4"), S("odd3"), S("all4"), S("missing")};
    mems_t m = {0};
    CHECK(fio_hub_members(h, S("/"), sel, 4, collect_member, &m) == 0 && m.n == 4,
          "union with repeated and unknown rooms: %d", m.n);
    int stop = 0;
    CHECK(fio_hub_members(h, S("/"), sel, 2, stop_after_two, &stop) == 42 && stop == 2,
          "early stop returns the callback's value");
    stop = 0;
    CHECK(fio_hub_members(h, S("/"), NULL, 0, stop_after_two, &stop) == 42 && stop == 2,
          "early stop over the whole namespace");
    m.n = 0;
    CHECK(fio_hub_members(h, S("/nope"), NULL, 0, collect_member, &m) == 0 && m.n == 0,
          "unknown namespace");
    m.n = 0;
    fio_str missing = S("missing");
    CHECK(fio_hub_members(h, S("/"), &missing, 1, collect_member, &m) == 0 && m.n == 0,
          "unknown room");
    fio_hub_free(h);
}

/* ---- fan-out ---- */

static void test_broadcast(void)
{
    fio_hub *h = fio_hub_new(6);
    uint32_t id[6];
    const char *sids[6] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++)
        fio_hub_conn_open(h, S(sids[i]), &id[i]);
    for (int i = 0; i < 5; i++)     /* f is only in /chat */
        fio_hub_connect(h, S("/"), S(sids[i]), id[i]);
    fio_hub_connect(h, S("/chat"), S("ca"), id[0]);
    fio_hub_connect(h, S("/chat"), S("cf"), id[5]);
    fio_hub_enter(h, S("/"), S("a"), S("red"));
    fio_hub_enter(h, S("/"), S("b"), S("red"));
    fio_hub_enter(h, S("/"), S("b"), S("blue"));
    fio_hub_enter(h, S("/"), S("c"), S("blue"));
    fio_hub_enter(h, S("/"), S("d"), S("green"));
    fio_hub_enter(h, S("/chat"), S("ca"), S("red"));

    fio_frame *f = frame("2[\"x\"]");
    wakes_t w = {0};
    fio_str rb[2] = {S("red"), S("blue")};
    long n = fio_hub_broadcast(h, S("/"), rb, 2, NULL, 0, &f, 1, collect_wake, &w);
    CHECK(n == 3 && w.n == 3, "union red+blue: %ld recipients, %d wakes", n, w.n);
    CHECK(wake_status(&w, id[0]) == 1 && wake_status(&w, id[1]) == 1 &&
              wake_status(&w, id[2]) == 1, "woken with status 1");
    CHECK(refs(f) == 4, "one ref per recipient, b once: %d", refs(f));
    CHECK(fio_hub_queued(h, id[1]) == 1 && fio_hub_queued(h, id[3]) == 0, "b once, d none");

    w.n = 0;
    n = fio_hub_broadcast(h, S("/"), rb, 2, NULL, 0, &f, 1, collect_wake, &w);
    CHECK(n == 3 && w.n == 0, "non-empty queues are not woken again");

    fio_str skip[2] = {S("b"), S("nobody")};
    n = fio_hub_broadcast(h, S("/"), rb, 2, skip, 2, &f, 1, NULL, NULL);
    CHECK(n == 2 && fio_hub_queued(h, id[1]) == 2 && fio_hub_queued(h, id[0]) == 3,
          "skip b (wake NULL allowed): %ld", n);
    fio_str rr[3] = {S("red"), S("red"), S("nope")};
    n = fio_hub_broadcast(h, S("/"), rr, 3, NULL, 0, &f, 1, NULL, NULL);
    CHECK(n == 2, "repeated and unknown rooms: %ld", n);
    fio_str nope = S("nope");
    CHECK(fio_hub_broadcast(h, S("/"), &nope, 1, NULL, 0, &f, 1, NULL, NULL) == 0,
          "unknown room: nobody");
    CHECK(fio_hub_broadcast(h, S("/zzz"), NULL, 0, NULL, 0, &f, 1, NULL, NULL) == 0,
          "unknown namespace: nobody");
    CHECK(fio_hub_broadcast(h, S("/"), NULL, 0, NULL, 0, &f, 0, NULL, NULL) == 0,
          "no frames: nothing");
    CHECK(fio_hub_broadcast(h, S("/"), NULL, 1, NULL, 0, &f, 1, NULL, NULL) == FIO_EINVAL,
          "rooms NULL with nrooms 1");
    fio_str sa = S("a");
    n = fio_hub_broadcast(h, S("/"), &sa, 1, NULL, 0, &f, 1, NULL, NULL);
    CHECK(n == 1 && fio_hub_queued(h, id[0]) == 5, "to one sid room");

    /* drain everything and start over for whole-namespace fan-out */
    for (int i = 0; i < 6; i++)
        drain_expect(h, id[i], NULL, 0, NULL);
    CHECK(refs(f) == 1, "refs back to 1 after draining: %d", refs(f));

    fio_frame *g = frame("451-[\"bin\",{\"_placeholder\":true,\"num\":0}]");
    fio_frame *att = fio_frame_new("\x01\x02", 2, 1);
    fio_frame *pk[2] = {g, att};
    w.n = 0;
    fio_str sk = S("c");
    n = fio_hub_broadcast(h, S("/"), NULL, 0, &sk, 1, pk, 2, collect_wake, &w);
    CHECK(n == 4 && w.n == 4 && wake_status(&w, id[2]) == 0 && wake_status(&w, id[5]) == 0,
          "whole namespace minus c (f is not in /): %ld", n);
    CHECK(refs(g) == 5 && refs(att) == 5, "bulk refs: %d %d", refs(g), refs(att));
    n = fio_hub_broadcast(h, S("/chat"), NULL, 0, NULL, 0, &f, 1, NULL, NULL);
    CHECK(n == 2, "/chat: a and f: %ld", n);
    fio_frame *wa[3] = {g, att, f};
    CHECK(drain_expect(h, id[0], wa, 3, NULL) == 3, "a: packet and attachment contiguous, then /chat");
    fio_frame *wf[1] = {f};
    CHECK(drain_expect(h, id[5], wf, 1, NULL) == 1, "f only the /chat frame");

    /* overflow during fan-out: bound 6 */
    fio_frame *many[5] = {f, f, f, f, f};
    fio_hub_push(h, id[1], many, 5);    /* b: 2 + 5 = 7 > 6 -> overflowed by the push */
    fio_hub_push(h, id[3], many, 3);    /* d: 2 + 3 = 5 */
    w.n = 0;
    n = fio_hub_broadcast(h, S("/"), NULL, 0, NULL, 0, pk, 2, collect_wake, &w);
    CHECK(n == 3, "a, c and e got both frames; b and d did not: %ld", n);
    CHECK(w.n == 4 && wake_status(&w, id[1]) == 2 && wake_status(&w, id[3]) == 2 &&
              wake_status(&w, id[0]) == 1 && wake_status(&w, id[2]) == 1 &&
              wake_status(&w, id[4]) == 0, "wake statuses (%d wakes)", w.n);
    CHECK(fio_hub_queued(h, id[3]) == 6, "d filled to the bound (packet cut): %ld",
          fio_hub_queued(h, id[3]));
    int over = 0;
    drain_expect(h, id[3], NULL, 0, &over);
    CHECK(over == 1, "d overflowed");
    fio_hub_free(h);
    CHECK(refs(f) == 1 && refs(g) == 1 && refs(att) == 1, "hub free releases every frame");
    fio_frame_unref(f);
    fio_frame_unref(g);
    fio_frame_unref(att);
}

/* ---- randomized check against a reference model ---- */

/* MQ frames and MB bytes per queue; frame i is 3 + i bytes long, so either
 * bound can be the one a push hits. */
enum { MC = 10, MN = 3, MS = 10, MR = 4, MU = MR + MS, MQ = 6, MB = 28, MF = 5 };

static const char *mns[MN] = {"/", "/x", ""};

typedef struct {
    fio_hub *h;
    int open[MC];
    uint32_t id[MC], stale[MC];
    int gen[MC];
    char eio[MC][16];
    int q[MC][MQ], qn[MC], qb[MC], over[MC];
    int msid[MC][MN];               /* sid index or -1 */
    unsigned char in[MC][MN][MU];   /* room u: 0..MR-1 named rN, MR+x named sx */
    fio_frame *fr[MF];
    int bad, step;
    long stats[16];
} model_t;

#define MCHECK(md, cond, ...)                                             \
    do {                                                                  \
        if (!(cond)) {                                                    \
            if ((md)->bad++ < 10) {                                       \
                printf("model step %d: %s:%d: ", (md)->step, __FILE__,   \
                       __LINE__);                                         \
                printf(__VA_ARGS__);                                      \
                printf("\n");                                             \
            }                                                             \
        }                                                                 \
    } while (0)

static char sid_names[MS][16], room_names[MU][16];

static int u_of(const char *name)
{
    for (int u = 0; u < MU; u++)
        if (strcmp(room_names[u], name) == 0)
            return u;
    return -1;
}

static int slot_of_sid(const model_t *md, int ns, int x)
{
    for (int t = 0; t < MC; t++)
        if (md->open[t] && md->msid[t][ns] == x)
            return t;
    return -1;
}

static int slot_of_id(const model_t *md, uint32_t id)
{
    for (int t = 0; t < MC; t++)
        if (md->open[t] && md->id[t] == id)
            return t;
    return -1;
}

/* The model's push: the same policy as hub.h (bounded in frames and bytes,
 * sticky overflow). stats[6] and [7] count overflows by frames and by bytes. */
static int model_push(model_t *md, int t, const int *fi, int n)
{
    if (md->over[t])
        return 2;
    int was_empty = md->qn[t] == 0;
    for (int i = 0; i < n; i++) {
        int len = (int)md->fr[fi[i]]->len;
        if (md->qn[t] == MQ || md->qb[t] + len > MB) {
            md->stats[md->qn[t] == MQ ? 6 : 7]++;
            md->over[t] = 1;
            return 2;
        }
        md->q[t][md->qn[t]++] = fi[i];
        md->qb[t] += len;
    }
    return was_empty;
}

static void model_drop_member(model_t *md, int t, int ns)
{
    md->msid[t][ns] = -1;
    memset(md->in[t][ns], 0, MU);
}

static void model_check_state(model_t *md)
{
    fio_hub *h = md->h;
    int nopen = 0;
    for (int t = 0; t < MC; t++) {
        if (!md->open[t])
            continue;
        nopen++;
        long q = fio_hub_queued(h, md->id[t]);
        MCHECK(md, q == md->qn[t], "slot %d queued %ld, model %d", t, q, md->qn[t]);
        size_t qb = 0;
        MCHECK(md, fio_hub_queued_bytes(h, md->id[t], &qb) == FIO_OK && qb == (size_t)md->qb[t],
               "slot %d queued bytes %zu, model %d", t, qb, md->qb[t]);
    }
    MCHECK(md, fio_hub_conn_count(h) == (size_t)nopen, "conn count");
    long want_refs[MF] = {0};
    for (int t = 0; t < MC; t++)
        for (int i = 0; md->open[t] && i < md->qn[t]; i++)
            want_refs[md->q[t][i]]++;
    for (int i = 0; i < MF; i++)
        MCHECK(md, refs(md->fr[i]) == 1 + want_refs[i], "frame %d refs %d, model %ld", i,
               refs(md->fr[i]), 1 + want_refs[i]);

    names_t nss = {0};
    fio_hub_namespaces(h, collect_name, &nss);
    int want_nss = 0;
    for (int ns = 0; ns < MN; ns++) {
        int members = 0;
        for (int t = 0; t < MC; t++)
            members += md->open[t] && md->msid[t][ns] >= 0;
        if (members) {
            want_nss++;
            MCHECK(md, names_has(&nss, mns[ns]), "namespace '%s' missing", mns[ns]);
        }
        fio_str nsv = S(mns[ns]);

        /* room names: exactly the rooms with a member */
        names_t rn = {0};
        fio_hub_room_names(h, nsv, collect_name, &rn);
        int want_rooms = 0;
        for (int u = 0; u < MU; u++) {
            int occupied = 0;
            for (int t = 0; t < MC; t++)
                occupied |= md->open[t] && md->msid[t][ns] >= 0 && md->in[t][ns][u];
            want_rooms += occupied;
            MCHECK(md, occupied == names_has(&rn, room_names[u]), "ns %d room %s listed %d",
                   ns, room_names[u], !occupied);
        }
        MCHECK(md, rn.n == want_rooms, "ns %d: %d room names, model %d", ns, rn.n, want_rooms);

        /* per sid: member, rooms_of */
        for (int x = 0; x < MS; x++) {
            int t = slot_of_sid(md, ns, x);
            mems_t m = {0};
            int found = fio_hub_member(h, nsv, S(sid_names[x]), collect_member, &m);
            MCHECK(md, found == (t >= 0) && m.n == found, "ns %d sid %d found %d", ns, x, found);
            if (t >= 0 && found)
                MCHECK(md, m.conn[0] == md->id[t] && strcmp(m.eio[0], md->eio[t]) == 0,
                       "ns %d sid %d conn/eio", ns, x);
            names_t r = {0};
            fio_hub_rooms_of(h, nsv, S(sid_names[x]), collect_name, &r);
            int want = 0;
            for (int u = 0; t >= 0 && u < MU; u++) {
                want += md->in[t][ns][u];
                if (md->in[t][ns][u])
                    MCHECK(md, names_has(&r, room_names[u]), "ns %d sid %d lacks room %s", ns, x,
                           room_names[u]);
            }
            MCHECK(md, r.n == want, "ns %d sid %d: %d rooms, model %d", ns, x, r.n, want);
        }
        /* per conn: member_on_conn */
        for (int t = 0; t < MC; t++) {
            if (!md->open[t])
                continue;
            mems_t m = {0};
            int found = fio_hub_member_on_conn(h, nsv, md->id[t], collect_member, &m);
            MCHECK(md, found == (md->msid[t][ns] >= 0), "member_on_conn slot %d ns %d", t, ns);
            if (found && md->msid[t][ns] >= 0)
                MCHECK(md, strcmp(m.sid[0], sid_names[md->msid[t][ns]]) == 0, "member_on_conn sid");
        }
        /* members of each room, of pairs of rooms, of the namespace */
        for (int u = 0; u <= MU; u++) {
            fio_str sel[2] = {S(room_names[u % MU]), S(room_names[(u * 7 + 3) % MU])};
            size_t nsel = u == MU ? 0 : (u % 2 ? 2 : 1);
            mems_t m = {0};
            fio_hub_members(h, nsv, sel, nsel, collect_member, &m);
            unsigned seen = 0;
            int want = 0, dup = 0;
            for (int i = 0; i < m.n && i < MAXC; i++) {
                int x = u_of(m.sid[i]) - MR;
                if (x < 0 || (seen >> x) & 1)
                    dup = 1;
                else
                    seen |= 1u << x;
            }
            for (int t = 0; t < MC; t++) {
                int x = md->open[t] ? md->msid[t][ns] : -1;
                if (x < 0)
                    continue;
                int hit = nsel == 0 || md->in[t][ns][u % MU] ||
                          (nsel == 2 && md->in[t][ns][(u * 7 + 3) % MU]);
                want += hit;
                MCHECK(md, hit == (int)((seen >> x) & 1), "members ns %d sel %d sid %d", ns, u, x);
            }
            MCHECK(md, !dup && m.n == want, "members ns %d sel %d: %d, model %d%s", ns, u, m.n,
                   want, dup ? " (duplicate)" : "");
        }
    }
    MCHECK(md, nss.n == want_nss, "%d namespaces, model %d", nss.n, want_nss);
}

static void test_model(unsigned seed0, int steps)
{
    static model_t md;
    unsigned seed = seed0;
    memset(&md, 0, sizeof md);
    md.h = fio_hub_new_bounded(MQ, MB);
    for (int i = 0; i < MF; i++) {
        char t[32];
        snprintf(t, sizeof t, "f%d%.*s", i, i, "xxxxxxxx");
        md.fr[i] = frame(t);
    }
    for (int t = 0; t < MC; t++) {
        md.stale[t] = 0xfffffff0u + (uint32_t)t;   /* never issued in this test */
        for (int ns = 0; ns < MN; ns++)
            md.msid[t][ns] = -1;
    }
    for (int step = 0; step < steps; step++) {
        md.step = step;
        seed = seed * 1103515245u + 12345u;
        unsigned r1 = seed >> 4;
        seed = seed * 1103515245u + 12345u;
        unsigned r2 = seed >> 4;
        int op = (int)(r1 % 100), t = (int)((r1 >> 8) % MC), ns = (int)((r1 >> 12) % MN);
        int x = (int)((r1 >> 16) % MS), u = (int)((r2 >> 3) % MU);
        fio_str nsv = S(mns[ns]);
        uint32_t cid = md.open[t] ? md.id[t] : md.stale[t];
        if (op < 8) {                                   /* open */
            if (!md.open[t]) {
                md.gen[t]++;
                snprintf(md.eio[t], sizeof md.eio[t], "e%d_%d", t, md.gen[t]);
                uint32_t id = 0;
                int rc = fio_hub_conn_open(md.h, S(md.eio[t]), &id);
                MCHECK(&md, rc == FIO_OK && id != 0 && slot_of_id(&md, id) < 0, "open");
                md.open[t] = 1;
                md.id[t] = id;
                md.qn[t] = md.qb[t] = md.over[t] = 0;
            }
        } else if (op < 12) {                           /* close */
            int rc = fio_hub_conn_close(md.h, cid);
            MCHECK(&md, rc == (md.open[t] ? FIO_OK : FIO_ENOCONN), "close rc %d", rc);
            if (md.open[t]) {
                md.open[t] = 0;
                md.stale[t] = md.id[t];
                for (int k = 0; k < MN; k++)
                    model_drop_member(&md, t, k);
                md.stats[0]++;
            }
        } else if (op < 26) {                           /* connect */
            int want;
            if (!md.open[t])
                want = FIO_ENOCONN;
            else if (md.msid[t][ns] >= 0 || slot_of_sid(&md, ns, x) >= 0)
                want = FIO_EEXIST;
            else
                want = FIO_OK;
            int rc = fio_hub_connect(md.h, nsv, S(sid_names[x]), cid);
            MCHECK(&md, rc == want, "connect rc %d want %d", rc, want);
            if (want == FIO_OK) {
                md.msid[t][ns] = x;
                memset(md.in[t][ns], 0, MU);
                md.in[t][ns][MR + x] = 1;
            } else if (want == FIO_EEXIST) {
                md.stats[1]++;
            }
        } else if (op < 32) {                           /* disconnect */
            int s = slot_of_sid(&md, ns, x);
            int rc = fio_hub_disconnect(md.h, nsv, S(sid_names[x]));
            MCHECK(&md, rc == (s >= 0 ? FIO_OK : FIO_ENOMEMBER), "disconnect rc %d", rc);
            if (s >= 0)
                model_drop_member(&md, s, ns);
        } else if (op < 48) {                           /* enter */
            int s = slot_of_sid(&md, ns, x);
            int rc = fio_hub_enter(md.h, nsv, S(sid_names[x]), S(room_names[u]));
            MCHECK(&md, rc == (s >= 0 ? FIO_OK : FIO_ENOMEMBER), "enter rc %d", rc);
            if (s >= 0)
                md.in[s][ns][u] = 1;
        } else if (op < 56) {                           /* leave */
            int s = slot_of_sid(&md, ns, x);
            int rc = fio_hub_leave(md.h, nsv, S(sid_names[x]), S(room_names[u]));
            MCHECK(&md, rc == FIO_OK, "leave rc %d", rc);
            if (s >= 0)
                md.in[s][ns][u] = 0;
        } else if (op < 59) {                           /* close_room */
            int rc = fio_hub_close_room(md.h, nsv, S(room_names[u]));
            MCHECK(&md, rc == FIO_OK, "close_room rc %d", rc);
            for (int s = 0; s < MC; s++)
                md.in[s][ns][u] = 0;
        } else if (op < 69) {                           /* push */
            int nf = 1 + (int)((r2 >> 9) % 3), fi[3];
            fio_frame *fs[3];
            for (int i = 0; i < nf; i++) {
                fi[i] = (int)((r2 >> (12 + 3 * i)) % MF);
                fs[i] = md.fr[fi[i]];
            }
            int rc = fio_hub_push(md.h, cid, fs, (size_t)nf);
            int want = md.open[t] ? model_push(&md, t, fi, nf) : FIO_ENOCONN;
            MCHECK(&md, rc == want, "push rc %d want %d", rc, want);
            md.stats[2] += rc == 2;
        } else if (op < 83) {                           /* drain */
            size_t max = (r2 >> 9) % 5;
            fio_frame *out[4];
            int over = -1;
            long n = fio_hub_drain(md.h, cid, out, max, &over);
            if (!md.open[t]) {
                MCHECK(&md, n == FIO_ENOCONN, "drain closed %ld", n);
            } else {
                long want = md.qn[t] < (int)max ? md.qn[t] : (long)max;
                MCHECK(&md, n == want && over == md.over[t], "drain %ld want %ld", n, want);
                for (long i = 0; i < n && i < want; i++)
                    MCHECK(&md, out[i] == md.fr[md.q[t][i]], "drain order");
                if (n == want) {
                    for (long i = 0; i < n; i++)
                        md.qb[t] -= (int)md.fr[md.q[t][i]]->len;
                    memmove(md.q[t], md.q[t] + n, (size_t)(md.qn[t] - n) * sizeof md.q[t][0]);
                    md.qn[t] -= (int)n;
                }
            }
            for (long i = 0; i < n; i++)
                fio_frame_unref(out[i]);
        } else {                                        /* broadcast */
            int nsel = (int)((r2 >> 9) % 4), nskip = (int)((r2 >> 11) % 3);
            int nf = 1 + (int)((r2 >> 13) % 2), fi[2];
            fio_str sel[3], skip[2];
            int selu[3], skipx[2];
            fio_frame *fs[2];
            for (int i = 0; i < nsel; i++) {
                selu[i] = (int)((r2 >> (15 + 4 * i)) % MU);
                sel[i] = S(room_names[selu[i]]);
            }
            for (int i = 0; i < nskip; i++) {
                skipx[i] = (int)((r1 >> (20 + 4 * i)) % MS);
                skip[i] = S(sid_names[skipx[i]]);
            }
            for (int i = 0; i < nf; i++) {
                fi[i] = (int)((r1 >> (4 * i)) % MF);
                fs[i] = md.fr[fi[i]];
            }
            wakes_t w = {0};
            long n = fio_hub_broadcast(md.h, nsv, sel, (size_t)nsel, skip, (size_t)nskip, fs,
                                       (size_t)nf, collect_wake, &w);
            long want = 0;
            int want_wakes = 0;
            for (int s = 0; s < MC; s++) {
                int mx = md.open[s] ? md.msid[s][ns] : -1;
                if (mx < 0)
                    continue;
                int hit = nsel == 0, skipped = 0, rooms_hit = 0;
                for (int i = 0; i < nsel; i++)
                    rooms_hit += md.in[s][ns][selu[i]];
                hit |= rooms_hit > 0;
                for (int i = 0; i < nskip; i++)
                    skipped |= skipx[i] == mx;
                if (!hit || skipped)
                    continue;
                md.stats[3] += rooms_hit > 1;
                int st = model_push(&md, s, fi, nf);
                want += st != 2;
                md.stats[4] += st == 2;
                if (st) {
                    want_wakes++;
                    MCHECK(&md, wake_status(&w, md.id[s]) == st, "wake slot %d: %d want %d", s,
                           wake_status(&w, md.id[s]), st);
                }
            }
            MCHECK(&md, n == want && w.n == want_wakes, "broadcast %ld want %ld, wakes %d want %d",
                   n, want, w.n, want_wakes);
            md.stats[5] += want;
        }
        if (step % 3 == 0 || step == steps - 1)
            model_check_state(&md);
    }
    CHECK(md.bad == 0, "model (seed %u): %d differences over %d steps", seed0, md.bad, steps);
    CHECK(md.stats[0] > 100 && md.stats[1] > 100 && md.stats[2] > 100 && md.stats[3] > 100 &&
              md.stats[4] > 100 && md.stats[5] > 1000 && md.stats[6] > 50 && md.stats[7] > 50,
          "model coverage: closes %ld, eexist %ld, push overflows %ld, multi-room hits %ld, "
          "broadcast overflows %ld, deliveries %ld, overflows by frames %ld / by bytes %ld",
          md.stats[0], md.stats[1], md.stats[2], md.stats[3], md.stats[4], md.stats[5],
          md.stats[6], md.stats[7]);
    fio_hub_free(md.h);
    int ok = 1;
    for (int i = 0; i < MF; i++) {
        ok &= refs(md.fr[i]) == 1;
        fio_frame_unref(md.fr[i]);
    }
    CHECK(ok, "model: hub free released every frame");
}

/* ---- scale ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_scale(void)
{
    enum { N = 10000, ROUNDS = 50 };
    fio_hub *h = fio_hub_new(1000);
    static uint32_t id[N];
    char sid[16];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof sid, "m%d", i);
        bad += fio_hub_conn_open(h, S(sid), &id[i]) != FIO_OK;
        bad += fio_hub_connect(h, S("/"), S(sid), id[i]) != FIO_OK;
        bad += fio_hub_enter(h, S("/"), S(sid), S("big")) != FIO_OK;
        if (i % 2)
            bad += fio_hub_enter(h, S("/"), S(sid), S("half")) != FIO_OK;
    }
    CHECK(bad == 0, "10000 members set up");
    fio_frame *f = frame("2[\"tick\"]");
    fio_str sel[2] = {S("big"), S("half")};
    fio_str skip = S("m0");
    double t0 = now();
    long total = 0;
    for (int r = 0; r < ROUNDS; r++)
        total += fio_hub_broadcast(h, S("/"), sel, 2, &skip, 1, &f, 1, NULL, NULL);
    double t1 = now();
    CHECK(total == (long)ROUNDS * (N - 1), "every member once per round: %ld", total);
    CHECK(refs(f) == 1 + ROUNDS * (N - 1), "refs %d", refs(f));
    printf("scale: %d broadcasts to %d members in %.3f s (%.1f ns/recipient)\n",
            ROUNDS, N - 1, t1 - t0, (t1 - t0) * 1e9 / (double)total);
    for (int i = 0; i < N; i += 2)
        fio_hub_conn_close(h, id[i]);
    mems_t m = {0};
    fio_str big = S("big");
    int count = 0;
    fio_hub_members(h, S("/"), &big, 1, stop_after_two, &count);
    CHECK(count == 2, "iteration after mass close");
    long n = fio_hub_broadcast(h, S("/"), NULL, 0, NULL, 0, &f, 1, NULL, NULL);
    CHECK(n == N / 2, "half left: %ld", n);
    (void)m;
    fio_hub_free(h);
    CHECK(refs(f) == 1, "all released");
    fio_frame_unref(f);
}

/* ---- threads ---- */

enum { TC = 48, TF = 4 };

typedef struct {
    fio_hub *h;
    _Atomic uint32_t ids[TC];
    fio_frame *fr[TF];
    atomic_int stop;
    atomic_int errors;
    atomic_long delivered, drained;
} shared_t;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void note_wake(void *ctx, uint32_t conn, int status)
{
    (void)conn;
    long *counts = ctx;
    if (status == 1 || status == 2)
        counts[status]++;
    else
        counts[0]++;
}

static void *th_broadcast(void *arg)
{
    shared_t *sh = arg;
    unsigned s = 1;
    char rooms[3][16], skips[2][16];
    long counts[3] = {0};
    for (int i = 0; i < 4000; i++) {
        fio_str sel[3], skip[2];
        size_t nsel = rnd(&s) % 4, nskip = rnd(&s) % 3;
        for (size_t k = 0; k < nsel; k++) {
            snprintf(rooms[k], sizeof rooms[k], "g%u", rnd(&s) % 6);
            sel[k] = S(rooms[k]);
        }
        for (size_t k = 0; k < nskip; k++) {
            snprintf(skips[k], sizeof skips[k], "t%u", rnd(&s) % TC);
            skip[k] = S(skips[k]);
        }
        fio_frame *fs[2] = {sh->fr[rnd(&s) % TF], sh->fr[rnd(&s) % TF]};
        long n = fio_hub_broadcast(sh->h, S(i % 5 ? "/" : "/b"), sel, nsel, skip, nskip, fs,
                                   1 + rnd(&s) % 2, note_wake, counts);
        if (n < 0)
            atomic_fetch_add(&sh->errors, 1);
        else
            atomic_fetch_add(&sh->delivered, n);
    }
    if (counts[0])
        atomic_fetch_add(&sh->errors, 1);
    atomic_store(&sh->stop, 1);
    return NULL;
}

/* Drains every conn; closes and reopens overflowed ones (what the owner does). */
static void *th_drain(void *arg)
{
    shared_t *sh = arg;
    char sid[16];
    while (!atomic_load(&sh->stop)) {
        for (int i = 0; i < TC; i++) {
            uint32_t id = atomic_load(&sh->ids[i]);
            fio_frame *out[32];
            int over = 0;
            long n = fio_hub_drain(sh->h, id, out, 32, &over);
            if (n < 0 && n != FIO_ENOCONN)
                atomic_fetch_add(&sh->errors, 1);
            for (long k = 0; k < n; k++)
                fio_frame_unref(out[k]);
            if (n > 0)
                atomic_fetch_add(&sh->drained, n);
            if (n >= 0 && over) {
                uint32_t nid;
                fio_hub_conn_close(sh->h, id);
                if (fio_hub_conn_open(sh->h, S("eio"), &nid) != FIO_OK) {
                    atomic_fetch_add(&sh->errors, 1);
                    continue;
                }
                snprintf(sid, sizeof sid, "t%d", i);
                int rc = fio_hub_connect(sh->h, S("/"), S(sid), nid);
                if (rc != FIO_OK && rc != FIO_EEXIST)
                    atomic_fetch_add(&sh->errors, 1);
                atomic_store(&sh->ids[i], nid);
            }
        }
    }
    return NULL;
}

static void *th_churn(void *arg)
{
    shared_t *sh = arg;
    unsigned s = 2;
    char sid[16], room[16];
    while (!atomic_load(&sh->stop)) {
        int i = (int)(rnd(&s) % TC);
        uint32_t id = atomic_load(&sh->ids[i]);
        const char *ns = rnd(&s) % 4 ? "/" : "/b";
        snprintf(sid, sizeof sid, "t%d", i);
        snprintf(room, sizeof room, "g%u", rnd(&s) % 6);
        int rc = 0;
        switch (rnd(&s) % 6) {
        case 0:
            rc = fio_hub_enter(sh->h, S(ns), S(sid), S(room));
            rc = rc == FIO_ENOMEMBER ? 0 : rc;
            break;
        case 1:
            rc = fio_hub_leave(sh->h, S(ns), S(sid), S(room));
            break;
        case 2:
            rc = fio_hub_disconnect(sh->h, S(ns), S(sid));
            rc = rc == FIO_ENOMEMBER ? 0 : rc;
            break;
        case 3:
            rc = fio_hub_connect(sh->h, S(ns), S(sid), id);
            rc = rc == FIO_EEXIST || rc == FIO_ENOCONN ? 0 : rc;
            break;
        case 4: {
            fio_frame *fs[1] = {sh->fr[rnd(&s) % TF]};
            rc = fio_hub_push(sh->h, id, fs, 1);
            rc = rc >= 0 || rc == FIO_ENOCONN ? 0 : rc;
            break;
        }
        default:
            rc = fio_hub_close_room(sh->h, S(ns), S(room));
            break;
        }
        if (rc != 0)
            atomic_fetch_add(&sh->errors, 1);
    }
    return NULL;
}

static int count_cb(void *ctx, fio_str sid, uint32_t conn, fio_str eio_sid)
{
    (void)sid;
    (void)conn;
    (void)eio_sid;
    (*(long *)ctx)++;
    return 0;
}

static int count_name_cb(void *ctx, fio_str name)
{
    (void)name;
    (*(long *)ctx)++;
    return 0;
}

static void *th_query(void *arg)
{
    shared_t *sh = arg;
    unsigned s = 3;
    char sid[16];
    long sink = 0;
    while (!atomic_load(&sh->stop)) {
        int i = (int)(rnd(&s) % TC);
        snprintf(sid, sizeof sid, "t%d", i);
        fio_str g = S("g1");
        fio_hub_members(sh->h, S("/"), &g, 1, count_cb, &sink);
        fio_hub_members(sh->h, S("/"), NULL, 0, count_cb, &sink);
        fio_hub_rooms_of(sh->h, S("/"), S(sid), count_name_cb, &sink);
        fio_hub_room_names(sh->h, S("/b"), count_name_cb, &sink);
        fio_hub_namespaces(sh->h, count_name_cb, &sink);
        fio_hub_member(sh->h, S("/"), S(sid), count_cb, &sink);
        fio_hub_member_on_conn(sh->h, S("/"), atomic_load(&sh->ids[i]), count_cb, &sink);
        if (fio_hub_queued(sh->h, atomic_load(&sh->ids[i])) < FIO_ENOCONN)
            atomic_fetch_add(&sh->errors, 1);
        sink += (long)fio_hub_conn_count(sh->h);
    }
    return NULL;
}

static void test_threads(void)
{
    static shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.h = fio_hub_new(64);
    char sid[16], room[16];
    for (int i = 0; i < TF; i++) {
        snprintf(sid, sizeof sid, "tf%d", i);
        sh.fr[i] = frame(sid);
    }
    for (int i = 0; i < TC; i++) {
        uint32_t id;
        fio_hub_conn_open(sh.h, S("eio"), &id);
        atomic_store(&sh.ids[i], id);
        snprintf(sid, sizeof sid, "t%d", i);
        snprintf(room, sizeof room, "g%d", i % 6);
        fio_hub_connect(sh.h, S("/"), S(sid), id);
        fio_hub_enter(sh.h, S("/"), S(sid), S(room));
    }
    pthread_t th[4];
    void *(*fns[4])(void *) = {th_broadcast, th_drain, th_churn, th_query};
    int started = 0;
    for (int i = 0; i < 4; i++)
        started += pthread_create(&th[i], NULL, fns[i], &sh) == 0;
    CHECK(started == 4, "threads started");
    if (started < 4)
        atomic_store(&sh.stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&sh.errors) == 0, "threads: %d unexpected results", atomic_load(&sh.errors));
    CHECK(atomic_load(&sh.delivered) > 0 && atomic_load(&sh.drained) > 0,
          "threads did work: %ld delivered, %ld drained", atomic_load(&sh.delivered),
          atomic_load(&sh.drained));
    long queued = 0;
    for (int i = 0; i < TC; i++) {
        long q = fio_hub_queued(sh.h, atomic_load(&sh.ids[i]));
        queued += q > 0 ? q : 0;
    }
    long extra = 0;
    for (int i = 0; i < TF; i++)
        extra += refs(sh.fr[i]) - 1;
    CHECK(extra == queued, "refs held by queues: %ld, queued %ld", extra, queued);
    fio_hub_free(sh.h);
    int ok = 1;
    for (int i = 0; i < TF; i++) {
        ok &= refs(sh.fr[i]) == 1;
        fio_frame_unref(sh.fr[i]);
    }
    CHECK(ok, "threads: every frame released");
}

/* Holds: drain stops at the oldest hold; unhold puts frames in its place,
 * later holds shift behind them; bounds and references as for push. */
static void test_holds(void)
{
    fio_hub *h = fio_hub_new(6);
    uint32_t a;
    fio_hub_conn_open(h, S("EH"), &a);
    fio_frame *f[6];
    const char *names[6] = {"p0", "p1", "p2", "c1", "c2", "x"};
    for (int i = 0; i < 6; i++)
        f[i] = frame(names[i]);
    fio_frame *out[8];
    uint64_t t1, t2, t3;

    CHECK(fio_hub_hold(h, 999, &t1) == FIO_ENOCONN, "hold on unknown conn");
    CHECK(fio_hub_push(h, a, &f[0], 1) == 1, "p0 queued");
    CHECK(fio_hub_hold(h, a, &t1) == FIO_OK, "hold 1 behind p0");
    CHECK(fio_hub_push(h, a, &f[1], 1) == 0, "p1 behind hold 1");
    CHECK(fio_hub_hold(h, a, &t2) == FIO_OK && t2 != t1, "hold 2 behind p1");
    CHECK(fio_hub_hold(h, a, &t3) == FIO_OK && t3 != t2, "hold 3 at the same place");
    CHECK(fio_hub_push(h, a, &f[2], 1) == 0, "p2 behind hold 3");
    CHECK(fio_hub_drain(h, a, out, 8, NULL) == 1 && out[0] == f[0], "drain stops at hold 1");
    fio_frame_unref(out[0]);
    CHECK(fio_hub_drain(h, a, out, 8, NULL) == 0, "nothing drainable at hold 1");
    CHECK(fio_hub_unhold(h, a, 12345, NULL, 0) == FIO_EINVAL, "unknown token");
    /* the newest of two holds at one place is released first: its frame goes
     * after whatever the older one will hold */
    CHECK(fio_hub_unhold(h, a, t3, &f[4], 1) == 0 && refs(f[4]) == 2,
          "hold 3 released behind hold 1: nothing drainable yet");
    CHECK(fio_hub_unhold(h, a, t1, &f[3], 1) == 1, "hold 1 released: c1 drainable");
    CHECK(fio_hub_drain(h, a, out, 8, NULL) == 2 && out[0] == f[3] && out[1] == f[1],
          "c1, p1, then stop at hold 2");
    fio_frame_unref(out[0]);
    fio_frame_unref(out[1]);
    CHECK(fio_hub_unhold(h, a, t2, NULL, 0) == 1, "empty release of hold 2");
    CHECK(fio_hub_queued(h, a) == 2, "c2 and p2 left");
    fio_frame *want[2] = {f[4], f[2]};
    CHECK(drain_expect(h, a, want, 2, NULL) == 2, "hold 3's c2 before p2");
    CHECK(fio_hub_unhold(h, a, t2, NULL, 0) == FIO_EINVAL, "a token is used once");

    /* bounds: an insert past max_queue overflows */
    CHECK(fio_hub_hold(h, a, &t1) == FIO_OK, "hold at an empty queue");
    fio_frame *five[5] = {f[5], f[5], f[5], f[5], f[5]};
    CHECK(fio_hub_push(h, a, five, 5) == 1, "5 behind the hold");
    CHECK(fio_hub_drain(h, a, out, 8, NULL) == 0, "all held");
    fio_frame *two[2] = {f[3], f[4]};
    CHECK(fio_hub_unhold(h, a, t1, two, 2) == 2 && fio_hub_queued(h, a) == 6,
          "insert past the bound: overflowed, one taken");
    int over = 0;
    fio_frame *want2[6] = {f[3], f[5], f[5], f[5], f[5], f[5]};
    CHECK(drain_expect(h, a, want2, 6, &over) == 6 && over == 1, "taken part first, flag set");
    /* a conn closed with holds open frees them */
    uint32_t b;
    fio_hub_conn_open(h, S("EH2"), &b);
    CHECK(fio_hub_hold(h, b, &t1) == FIO_OK && fio_hub_push(h, b, &f[0], 1) == 1, "b held");
    CHECK(fio_hub_conn_close(h, b) == FIO_OK && refs(f[0]) == 1, "close frees held frames");
    fio_hub_free(h);
    for (int i = 0; i < 6; i++) {
        CHECK(refs(f[i]) == 1, "ref of %s back to 1", names[i]);
        fio_frame_unref(f[i]);
    }
}

/* Holds against a model: random pushes, holds, releases and drains; what
 * leaves the queue is what the model says, in order. */
static void test_holds_model(unsigned seed)
{
    enum { STEPS = 20000, MAXQ = 64 };
    fio_hub *h = fio_hub_new(1u << 20);
    uint32_t a;
    fio_hub_conn_open(h, S("EM"), &a);
    fio_frame *pool[16];
    for (int i = 0; i < 16; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        pool[i] = frame(name);
    }
    /* model: a list of entries, each a frame index or -(hold slot + 1) */
    int model[4096];
    size_t mlen = 0;
    uint64_t tokens[64];
    int slots = 0, bad = 0;
    for (int step = 0; step < STEPS && !bad; step++) {
        unsigned r = (unsigned)rand_r(&seed) % 100;
        if (r < 40 && mlen < 4000) {
            int k = rand_r(&seed) % 16;
            fio_hub_push(h, a, &pool[k], 1);
            model[mlen++] = k;
        } else if (r < 55 && slots < 64 && mlen < 4000) {
            if (fio_hub_hold(h, a, &tokens[slots]) != FIO_OK) {
                bad = 1;
                break;
            }
            model[mlen++] = -(slots + 1);
            slots++;
        } else if (r < 75 && slots > 0) {
            int s = rand_r(&seed) % slots;
            int k = rand_r(&seed) % 16, n = rand_r(&seed) % 3;
            fio_frame *ins[2] = {pool[k], pool[(k + 1) % 16]};
            if (fio_hub_unhold(h, a, tokens[s], ins, (size_t)n) < 0) {
                bad = 1;
                break;
            }
            size_t at = 0;
            while (model[at] != -(s + 1))
                at++;
            memmove(model + at + n, model + at + 1, (mlen - at - 1) * sizeof *model);
            for (int i = 0; i < n; i++)
                model[at + (size_t)i] = i == 0 ? k : (k + 1) % 16;
            mlen = mlen - 1 + (size_t)n;
            /* slot s now unused: move the last slot into it */
            tokens[s] = tokens[slots - 1];
            for (size_t i = 0; i < mlen; i++)
                if (model[i] == -slots)
                    model[i] = -(s + 1);
            slots--;
        } else {
            size_t want = 0;
            while (want < mlen && model[want] >= 0 && want < MAXQ)
                want++;
            fio_frame *out[MAXQ];
            long got = fio_hub_drain(h, a, out, MAXQ, NULL);
            if (got != (long)want)
                bad = 1;
            for (long i = 0; i < got; i++) {
                if (!bad && out[i] != pool[model[i]])
                    bad = 1;
                fio_frame_unref(out[i]);
            }
            memmove(model, model + want, (mlen - want) * sizeof *model);
            mlen -= want;
        }
        long held = 0;
        for (size_t i = 0; i < mlen; i++)
            held += model[i] >= 0;
        if (fio_hub_queued(h, a) != held)
            bad = 1;
    }
    CHECK(!bad, "holds model (seed %u)", seed);
    fio_hub_free(h);
    for (int i = 0; i < 16; i++)
        fio_frame_unref(pool[i]);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);   /* keep FAIL lines if a sanitizer aborts */
    for (int x = 0; x < MS; x++)
        snprintf(sid_names[x], sizeof sid_names[x], "s%d", x);
    for (int u = 0; u < MU; u++)
        snprintf(room_names[u], sizeof room_names[u], u < MR ? "r%d" : "s%d", u < MR ? u : u - MR);
    test_strmap_basic();
    test_strmap_growth();
    test_strmap_model();
    test_conns();
    test_queue();
    test_queue_ring();
    test_queue_bytes();
    test_holds();
    test_holds_model(1u);
    test_holds_model(20261123u);
    test_connect();
    test_rooms();
    test_members_iteration();
    test_broadcast();
    test_model(20261122u, 30000);
    test_model(7u, 30000);
    test_scale();
    test_threads();
    return check_summary();
}
