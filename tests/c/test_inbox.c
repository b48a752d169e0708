/* Tests of csrc/core/inbox.c: the eventfd signal, batches, the bound with
 * pause/resume, freeing untaken payloads, and several producer threads
 * against one consumer thread polling the eventfd.
 *
 * Usage: test_inbox [corpus-dir] (not used). Run under ASan with
 * ASAN_OPTIONS=detect_leaks=1 to check that fio_inbox_free and the caller's
 * frees release everything. A hang is turned into a failure by alarm(). */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inbox.h"

#include "check.h"

/* 1 if the inbox's eventfd is readable right now. */
static int readable(fio_inbox *q)
{
    struct pollfd p = {fio_inbox_fd(q), POLLIN, 0};
    int n = poll(&p, 1, 0);
    return n == 1 && (p.revents & POLLIN);
}

static fio_inbox_item item(int kind, int bounded, uint64_t token)
{
    return (fio_inbox_item){kind, bounded, token, NULL, NULL};
}

/* ------------------------------------------------------ single thread */

typedef struct resume_probe {
    fio_inbox *q;
    int calls;
    int post_from_resume;   /* post a conn id from inside resume */
} resume_probe;

static void on_resume(void *ctx)
{
    resume_probe *r = ctx;
    r->calls++;
    if (r->post_from_resume) {
        /* Would deadlock if take held the inbox lock while calling us. */
        uint32_t id = 999;
        CHECK(fio_inbox_post_conns(r->q, &id, 1, 0) == 0, "post from resume");
    }
}

static void test_signal_and_batches(void)
{
    fio_inbox *q = fio_inbox_new(100, NULL, NULL);
    CHECK(q != NULL, "new");
    if (!q)
        return;
    CHECK(fio_inbox_fd(q) >= 0, "fd");
    CHECK(!readable(q), "new inbox: not readable");

    fio_inbox_batch b;
    CHECK(fio_inbox_take(q, &b) == 0 && b.nitems == 0 && b.nwoken == 0 &&
              b.noverflowed == 0, "empty take");
    fio_inbox_batch_free(&b);
    CHECK(!readable(q), "still not readable");

    fio_inbox_item it = item(1, 0, 11);
    CHECK(fio_inbox_post(q, &it) == 0, "post");
    CHECK(readable(q), "readable after a post");
    it = item(2, 0, 22);
    CHECK(fio_inbox_post(q, &it) == 0, "second post");
    uint32_t w[3] = {7, 8, 9}, o[1] = {5};
    CHECK(fio_inbox_post_conns(q, w, 3, 0) == 0, "woken ids");
    CHECK(fio_inbox_post_conns(q, o, 1, 1) == 0, "overflowed id");
    CHECK(fio_inbox_post_conns(q, w, 0, 0) == 0, "no ids");
    CHECK(readable(q), "readable");

    CHECK(fio_inbox_take(q, &b) == 6, "take 2 items + 4 ids");
    CHECK(b.nitems == 2 && b.items[0].kind == 1 && b.items[0].token == 11 &&
              b.items[1].kind == 2 && b.items[1].token == 22, "items in order");
    CHECK(b.nwoken == 3 && b.woken[0] == 7 && b.woken[1] == 8 && b.woken[2] == 9, "woken");
    CHECK(b.noverflowed == 1 && b.overflowed[0] == 5, "overflowed");
    fio_inbox_batch_free(&b);
    CHECK(!readable(q), "not readable after take");

    /* ids alone wake the consumer too */
    CHECK(fio_inbox_post_conns(q, o, 1, 1) == 0, "overflowed id");
    CHECK(readable(q), "readable after ids");
    CHECK(fio_inbox_take(q, &b) == 1 && b.noverflowed == 1, "take id");
    fio_inbox_batch_free(&b);
    CHECK(!readable(q), "not readable");

    /* many items in one batch (the arrays grow) */
    for (uint64_t i = 0; i < 1000; i++) {
        it = item(3, 0, i);
        CHECK(fio_inbox_post(q, &it) == 0, "post %llu", (unsigned long long)i);
    }
    /* The burst was signalled once: the eventfd's counter is 1. Reading it
     * here clears it, which the take below must tolerate. */
    uint64_t count = 0;
    CHECK(read(fio_inbox_fd(q), &count, sizeof count) == (ssize_t)sizeof count && count == 1,
          "one wake-up for a burst, counter %llu", (unsigned long long)count);
    CHECK(fio_inbox_take(q, &b) == 1000, "1000 items");
    int order = 1;
    for (size_t i = 0; i < b.nitems; i++)
        order &= b.items[i].token == i;
    CHECK(order, "1000 items in order");
    fio_inbox_batch_free(&b);
    fio_inbox_free(q);
}

static void test_bound(void)
{
    resume_probe r = {NULL, 0, 0};
    fio_inbox *q = fio_inbox_new(4, on_resume, &r);
    CHECK(q != NULL, "new");
    if (!q)
        return;
    r.q = q;
    fio_inbox_item b1 = item(1, 1, 0), u = item(2, 0, 0);
    CHECK(fio_inbox_post(q, &b1) == 0, "bounded 1");
    CHECK(fio_inbox_post(q, &b1) == 0, "bounded 2");
    CHECK(fio_inbox_post(q, &u) == 0, "unbounded items do not count");
    CHECK(fio_inbox_post(q, &b1) == 0, "bounded 3");
    CHECK(fio_inbox_post(q, &b1) == 1, "bounded 4 reaches the bound");
    CHECK(fio_inbox_post(q, &b1) == 1, "bounded 5: still at the bound");
    CHECK(fio_inbox_post(q, &u) == 0, "unbounded past the bound");
    uint32_t id = 1;
    CHECK(fio_inbox_post_conns(q, &id, 1, 0) == 0, "ids past the bound");
    CHECK(r.calls == 0, "no resume before a take");

    fio_inbox_batch b;
    CHECK(fio_inbox_take(q, &b) == 8, "take all");
    fio_inbox_batch_free(&b);
    CHECK(r.calls == 1, "resume once, got %d", r.calls);
    CHECK(fio_inbox_take(q, &b) == 0, "empty take");
    fio_inbox_batch_free(&b);
    CHECK(r.calls == 1, "no resume without a pause");

    /* Below the bound a take does not resume. */
    CHECK(fio_inbox_post(q, &b1) == 0 && fio_inbox_post(q, &b1) == 0, "2 bounded");
    CHECK(fio_inbox_take(q, &b) == 2 && r.calls == 1, "take without resume");
    fio_inbox_batch_free(&b);

    /* Resume runs without the lock: it may post. */
    r.post_from_resume = 1;
    for (int i = 0; i < 3; i++)
        CHECK(fio_inbox_post(q, &b1) == 0, "bounded");
    CHECK(fio_inbox_post(q, &b1) == 1, "bound again");
    CHECK(fio_inbox_take(q, &b) == 4 && r.calls == 2, "resume after the second pause");
    fio_inbox_batch_free(&b);
    CHECK(readable(q), "resume's post is pending and signalled");
    CHECK(fio_inbox_take(q, &b) == 1 && b.nwoken == 1 && b.woken[0] == 999, "resume's id");
    fio_inbox_batch_free(&b);
    CHECK(!readable(q), "drained");
    fio_inbox_free(q);

    /* A bound of 1: every bounded post pauses. */
    r = (resume_probe){NULL, 0, 0};
    q = fio_inbox_new(1, on_resume, &r);
    CHECK(q != NULL, "new");
    if (!q)
        return;
    CHECK(fio_inbox_post(q, &b1) == 1 && fio_inbox_post(q, &b1) == 1, "bound 1");
    CHECK(fio_inbox_take(q, &b) == 2 && r.calls == 1, "resume");
    fio_inbox_batch_free(&b);
    fio_inbox_free(q);
}

static int counted_frees;

static void counted_free(void *p)
{
    counted_frees++;
    free(p);
}

static void test_free_untaken(void)
{
    fio_inbox *q = fio_inbox_new(10, NULL, NULL);
    CHECK(q != NULL, "new");
    if (!q)
        return;
    static int not_owned;
    for (int i = 0; i < 5; i++) {
        void *p = malloc(32);
        CHECK(p != NULL, "malloc");
        fio_inbox_item it = {1, i % 2, (uint64_t)i, p, counted_free};
        CHECK(fio_inbox_post(q, &it) >= 0, "post %d", i);
    }
    fio_inbox_item plain = {2, 0, 0, &not_owned, NULL};
    CHECK(fio_inbox_post(q, &plain) == 0, "post with no free_fn");
    uint32_t ids[2] = {1, 2};
    CHECK(fio_inbox_post_conns(q, ids, 2, 0) == 0 && fio_inbox_post_conns(q, ids, 2, 1) == 0,
          "ids");
    counted_frees = 0;
    fio_inbox_free(q);
    CHECK(counted_frees == 5, "fio_inbox_free freed %d of 5 payloads", counted_frees);
    fio_inbox_free(NULL);
}

/* ---------------------------------------------------------------- threads */

enum { NPROD = 4, PER_PROD = 60000, BOUND = 64 };

typedef struct shared {
    fio_inbox *q;
    atomic_ulong resumes;
    atomic_int producers_done;
    atomic_int post_failures;
} shared;

typedef struct producer_arg {
    shared *s;
    uint32_t id;
} producer_arg;

/* Every fifth step posts a connection id (woken, or overflowed on every
 * tenth), the others an item whose payload records (producer, seq). */
static int is_id_step(uint32_t seq)
{
    return seq % 5 == 4;
}

static void on_resume_count(void *ctx)
{
    shared *s = ctx;
    atomic_fetch_add(&s->resumes, 1);
}

static void *producer(void *arg)
{
    producer_arg *a = arg;
    shared *s = a->s;
    for (uint32_t seq = 0; seq < PER_PROD; seq++) {
        if (is_id_step(seq)) {
            uint32_t id = a->id << 24 | seq;
            if (fio_inbox_post_conns(s->q, &id, 1, seq % 10 == 9) != 0)
                atomic_fetch_add(&s->post_failures, 1);
            continue;
        }
        uint64_t *p = malloc(sizeof *p);
        if (!p) {
            atomic_fetch_add(&s->post_failures, 1);
            continue;
        }
        *p = (uint64_t)a->id << 32 | seq;
        fio_inbox_item it = {(int)a->id, (int)(seq % 2), seq, p, free};
        /* The pause protocol that tolerates a take (and its resume) between
         * the post and the pause: wait only for a resume later than the
         * post, counted from before it. */
        unsigned long before = atomic_load(&s->resumes);
        int rc = fio_inbox_post(s->q, &it);
        if (rc < 0) {
            free(p);
            atomic_fetch_add(&s->post_failures, 1);
        }
        while (rc == 1 && atomic_load(&s->resumes) == before)
            sched_yield();
    }
    atomic_fetch_add(&s->producers_done, 1);
    return NULL;
}

typedef struct consumer_state {
    shared *s;
    uint32_t next_item[NPROD], next_woken[NPROD], next_over[NPROD];
    long taken_items, taken_ids, batches;
    int order_errors, payload_errors, signal_errors;
    size_t max_bounded;
    int expect_nonempty;
} consumer_state;

static uint32_t next_step(uint32_t seq, int (*want)(uint32_t))
{
    do
        seq++;
    while (seq < PER_PROD && !want(seq));
    return seq;
}

static int step_item(uint32_t s) { return !is_id_step(s); }
static int step_woken(uint32_t s) { return s % 10 == 4; }
static int step_over(uint32_t s) { return s % 10 == 9; }

static void check_ids(consumer_state *c, const uint32_t *ids, size_t n, uint32_t *next,
                      int (*want)(uint32_t))
{
    for (size_t i = 0; i < n; i++) {
        uint32_t prod = ids[i] >> 24, seq = ids[i] & 0xFFFFFF;
        if (prod >= NPROD || seq != next[prod]) {
            c->order_errors++;
            continue;
        }
        next[prod] = next_step(seq, want);
    }
    c->taken_ids += (long)n;
}

static void consume_batch(consumer_state *c, fio_inbox_batch *b, size_t n)
{
    size_t bounded = 0;
    if (c->expect_nonempty && n == 0)
        c->signal_errors++;
    for (size_t i = 0; i < b->nitems; i++) {
        fio_inbox_item *it = &b->items[i];
        uint32_t prod = (uint32_t)it->kind, seq = (uint32_t)it->token;
        const uint64_t *p = it->payload;
        if (prod >= NPROD || seq != c->next_item[prod]) {
            c->order_errors++;
        } else {
            c->next_item[prod] = next_step(seq, step_item);
        }
        if (*p != ((uint64_t)prod << 32 | seq) || it->bounded != (int)(seq % 2))
            c->payload_errors++;
        bounded += it->bounded != 0;
    }
    check_ids(c, b->woken, b->nwoken, c->next_woken, step_woken);
    check_ids(c, b->overflowed, b->noverflowed, c->next_over, step_over);
    c->taken_items += (long)b->nitems;
    if (bounded > c->max_bounded)
        c->max_bounded = bounded;
    if (n != b->nitems + b->nwoken + b->noverflowed)
        c->signal_errors++;
    fio_inbox_batch_free(b);
    c->batches++;
    /* Readable now means something was posted since: the next take gets it. */
    c->expect_nonempty = readable(c->s->q);
}

static void *consumer(void *arg)
{
    consumer_state *c = arg;
    for (;;) {
        int done = atomic_load(&c->s->producers_done) == NPROD;
        struct pollfd p = {fio_inbox_fd(c->s->q), POLLIN, 0};
        int n = poll(&p, 1, done ? 0 : 100);
        if (n < 0)
            c->signal_errors++;
        if (n == 0 && done)
            break;
        if (n == 0)
            continue;
        fio_inbox_batch b;
        size_t got = fio_inbox_take(c->s->q, &b);
        consume_batch(c, &b, got);
    }
    return NULL;
}

static void init_next(uint32_t *next, int (*want)(uint32_t))
{
    uint32_t first = want(0) ? 0 : next_step(0, want);
    for (int i = 0; i < NPROD; i++)
        next[i] = first;
}

static void test_threads(void)
{
    shared s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.resumes, 0);
    atomic_init(&s.producers_done, 0);
    atomic_init(&s.post_failures, 0);
    s.q = fio_inbox_new(BOUND, on_resume_count, &s);
    CHECK(s.q != NULL, "new");
    if (!s.q)
        return;
    consumer_state c;
    memset(&c, 0, sizeof c);
    c.s = &s;
    init_next(c.next_item, step_item);
    init_next(c.next_woken, step_woken);
    init_next(c.next_over, step_over);

    pthread_t cons, prods[NPROD];
    producer_arg args[NPROD];
    int ok = pthread_create(&cons, NULL, consumer, &c) == 0;
    CHECK(ok, "consumer thread");
    for (uint32_t i = 0; i < NPROD && ok; i++) {
        args[i] = (producer_arg){&s, i};
        CHECK(pthread_create(&prods[i], NULL, producer, &args[i]) == 0, "producer %u", i);
    }
    if (!ok)
        return;
    for (int i = 0; i < NPROD; i++)
        pthread_join(prods[i], NULL);
    pthread_join(cons, NULL);

    /* Quiescent: nothing pending, nothing signalled. */
    CHECK(!readable(s.q), "not readable at the end");
    fio_inbox_batch b;
    CHECK(fio_inbox_take(s.q, &b) == 0, "nothing left");
    fio_inbox_batch_free(&b);

    long items = NPROD * (long)(PER_PROD - PER_PROD / 5), ids = NPROD * (long)(PER_PROD / 5);
    CHECK(atomic_load(&s.post_failures) == 0, "%d posts failed", atomic_load(&s.post_failures));
    CHECK(c.taken_items == items, "took %ld items of %ld", c.taken_items, items);
    CHECK(c.taken_ids == ids, "took %ld ids of %ld", c.taken_ids, ids);
    CHECK(c.order_errors == 0, "%d out of order", c.order_errors);
    CHECK(c.payload_errors == 0, "%d bad payloads", c.payload_errors);
    CHECK(c.signal_errors == 0, "%d eventfd inconsistencies", c.signal_errors);
    for (int i = 0; i < NPROD; i++)
        CHECK(c.next_item[i] == PER_PROD && c.next_woken[i] == PER_PROD &&
                  c.next_over[i] == PER_PROD, "producer %d fully seen", i);
    /* Past the bound, each producer posts at most twice more before a take:
     * once while the previous take's resume is still on its way (its count
     * read before that resume), and once more after it. */
    CHECK(c.max_bounded <= BOUND + 2 * NPROD, "a batch held %zu bounded items (bound %d)",
          c.max_bounded, BOUND);
    printf("threads: %ld batches, %lu resumes, max %zu bounded per batch\n", c.batches,
           atomic_load(&s.resumes), c.max_bounded);
    fio_inbox_free(s.q);
}

/* Deferred mode: items wait for a flush; ids still signal at once. */
static void test_deferred(void)
{
    fio_inbox *q = fio_inbox_new(100, NULL, NULL);
    CHECK(q != NULL, "new");
    if (!q)
        return;
    fio_inbox_defer_signals(q);
    fio_inbox_flush(q);
    CHECK(!readable(q), "flush of an empty inbox: not readable");
    fio_inbox_item it = item(1, 0, 1);
    CHECK(fio_inbox_post(q, &it) == 0, "post");
    it = item(1, 0, 2);
    CHECK(fio_inbox_post(q, &it) == 0, "second post");
    CHECK(!readable(q), "deferred: not readable before the flush");
    fio_inbox_flush(q);
    CHECK(readable(q), "readable after the flush");
    fio_inbox_flush(q);
    uint64_t count = 0;
    CHECK(read(fio_inbox_fd(q), &count, sizeof count) == (ssize_t)sizeof count && count == 1,
          "two flushes, one wake-up: counter %llu", (unsigned long long)count);
    fio_inbox_batch b;
    CHECK(fio_inbox_take(q, &b) == 2 && b.items[0].token == 1 && b.items[1].token == 2,
          "take both in order");
    fio_inbox_batch_free(&b);

    /* after a take, the next pass signals again */
    it = item(1, 0, 3);
    CHECK(fio_inbox_post(q, &it) == 0, "post after take");
    CHECK(!readable(q), "not readable before its flush");
    fio_inbox_flush(q);
    CHECK(readable(q), "readable after its flush");
    /* a take between a post and its flush: the flush finds nothing */
    CHECK(fio_inbox_take(q, &b) == 1, "take");
    fio_inbox_batch_free(&b);
    fio_inbox_flush(q);
    CHECK(!readable(q), "flush after the take: not readable");

    uint32_t id = 4;
    CHECK(fio_inbox_post_conns(q, &id, 1, 0) == 0, "woken id");
    CHECK(readable(q), "ids signal at once in deferred mode");
    CHECK(fio_inbox_take(q, &b) == 1 && b.nwoken == 1, "take the id");
    fio_inbox_batch_free(&b);
    fio_inbox_free(q);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    alarm(120);
    test_signal_and_batches();
    test_deferred();
    test_bound();
    test_free_untaken();
    test_threads();
    return check_summary();
}
