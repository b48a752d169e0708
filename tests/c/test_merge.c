/* Tests of csrc/merge/merge.c: one case per rule of merge.h (exact output
 * texts), then a property test: random streams (fixed seed) of deltas of
 * several keys, snapshots, replaces and other events, with unicode written
 * both ways (json.dumps ensure_ascii escapes and raw UTF-8), random bounds
 * and random flush points. A reference model applies events the way the
 * Open WebUI client does (Chat.svelte chatEventHandler and
 * structuredOutput.ts applyResponseStreamEvent: deltas concatenate per key,
 * a snapshot sets output/content, a replace sets content, text is UTF-16);
 * the model of what the merger emitted must equal the model of the input at
 * every flush point and at the end.
 *
 * Usage: test_merge [corpus-dir] (not used); FASTSIO_MERGE_SEED=<n> runs
 * the property test from another seed. Every pushed text is a heap
 * copy of exactly its length so that ASan catches reads past its end.
 * Prints "<n> passed, <m> failed"; exit status 1 if m > 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonscan.h"
#include "merge.h"

#include "check.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("out of memory\n", stderr);
        exit(2);
    }
    return p;
}

static char *dup_cstr(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void xappend(fio_buf *b, const void *p, size_t n)
{
    if (fio_buf_append(b, p, n) < 0) {
        fputs("out of memory\n", stderr);
        exit(2);
    }
}

static void xputs(fio_buf *b, const char *s)
{
    xappend(b, s, strlen(s));
}

/* Outputs of one call, copied (NUL-terminated); same[i]: the output was the
 * pushed text itself (same pointer and length). */
typedef struct res {
    size_t n;
    char *t[2];
    int same[2];
} res;

static void res_free(res *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->t[i]);
    r->n = 0;
}

static res copy_out(const fio_merge_out *o, const char *in, size_t n)
{
    res r = {0};
    r.n = o->n;
    for (size_t i = 0; i < o->n; i++) {
        r.t[i] = dup_cstr(o->text[i].p, o->text[i].n);
        r.same[i] = o->text[i].p == in && o->text[i].n == n;
    }
    return r;
}

static res push_s(fio_merge *m, const char *s, int64_t now)
{
    size_t n = strlen(s);
    char *p = dup_exact(s, n);
    fio_merge_out o;
    size_t k = fio_merge_push(m, (fio_str){p, n}, now, &o);
    CHECK(k == o.n, "push returned %zu, out.n %zu", k, o.n);
    res r = copy_out(&o, p, n);
    free(p);
    return r;
}

static res flush_s(fio_merge *m)
{
    fio_merge_out o;
    size_t k = fio_merge_flush(m, &o);
    CHECK(k == o.n, "flush returned %zu, out.n %zu", k, o.n);
    return copy_out(&o, NULL, 0);
}

/* Checks r holds exactly the expected texts (NULL-terminated list). */
static void expect(res *r, int line, const char *const *want)
{
    size_t k = 0;
    while (want[k])
        k++;
    if (r->n != k) {
        CHECK(r->n == k, "line %d: %zu outputs, want %zu (first: %s)", line, r->n, k,
              r->n ? r->t[0] : "-");
    } else {
        for (size_t i = 0; i < k; i++)
            CHECK(strcmp(r->t[i], want[i]) == 0, "line %d: output %zu\n got  %s\n want %s", line, i,
                  r->t[i], want[i]);
    }
    res_free(r);
}

#define EXPECT(r, ...)                                           \
    do {                                                         \
        res r_ = (r);                                            \
        expect(&r_, __LINE__, (const char *const[]){__VA_ARGS__, NULL}); \
    } while (0)
#define EXPECT_NONE(r)                                          \
    do {                                                        \
        res r_ = (r);                                           \
        expect(&r_, __LINE__, (const char *const[]){NULL});     \
    } while (0)

static enum fio_merge_kind kind_of(const char *s)
{
    size_t n = strlen(s);
    char *p = dup_exact(s, n);
    enum fio_merge_kind k = fio_merge_classify((fio_str){p, n});
    free(p);
    return k;
}

/* Event texts as json.dumps writes them. */
#define ENV(e) "{\"chat_id\": \"c\", \"message_id\": \"m\", \"data\": " e "}"
#define ENV2(e) "{\"chat_id\": \"c\", \"message_id\": \"m2\", \"data\": " e "}"
#define EV(type, d) ENV("{\"type\": \"" type "\", \"data\": " d "}")
#define RDK(type, key, delta) \
    EV("response:completion", "{\"type\": \"response." type ".delta\"" key ", \"delta\": \"" delta "\"}")
#define KEY0 ", \"item_id\": \"msg_1\", \"output_index\": 0, \"content_index\": 0"
#define KEY1 ", \"item_id\": \"msg_1\", \"output_index\": 0, \"content_index\": 1"
#define RD(delta) RDK("output_text", KEY0, delta)
#define MSG(c) EV("message", "{\"content\": \"" c "\"}")
#define SNAPC(c) EV("chat:completion", "{\"content\": \"" c "\"}")
#define SNAPO(t) \
    EV("chat:completion", "{\"done\": false, \"output\": [{\"type\": \"message\", \"content\": [{\"type\": \"output_text\", \"text\": \"" t "\"}]}]}")
#define REPL(c) EV("replace", "{\"content\": \"" c "\"}")
#define STATUS(d) EV("status", "{\"description\": \"" d "\"}")

/* ------------------------------------------------------------- unit cases */

static void test_classify(void)
{
    CHECK(kind_of(RD("a")) == FIO_MERGE_DELTA, "response delta");
    CHECK(kind_of(RDK("reasoning_summary_text", ", \"summary_index\": 0", "a")) == FIO_MERGE_DELTA,
          "summary delta");
    CHECK(kind_of(MSG("a")) == FIO_MERGE_DELTA, "message");
    CHECK(kind_of(EV("chat:message:delta", "{\"content\": \"a\"}")) == FIO_MERGE_DELTA, "alias");
    CHECK(kind_of(SNAPC("a")) == FIO_MERGE_SNAPSHOT, "content snapshot");
    CHECK(kind_of(SNAPO("a")) == FIO_MERGE_SNAPSHOT, "output snapshot");
    CHECK(kind_of(EV("chat:completion", "{\"output\": null, \"content\": \"a\", \"done\": null}")) ==
              FIO_MERGE_SNAPSHOT,
          "null output and done");
    CHECK(kind_of(EV("chat:completion", "{\"output\": [], \"type\": \"response.output_text.delta\"}")) ==
              FIO_MERGE_SNAPSHOT,
          "continue-mode snapshot");
    CHECK(kind_of(REPL("a")) == FIO_MERGE_REPLACE, "replace");
    CHECK(kind_of(EV("chat:message", "{\"content\": \"a\"}")) == FIO_MERGE_REPLACE, "replace alias");

    static const char *const others[] = {
        STATUS("x"),
        EV("chat:completion", "{\"content\": \"a\", \"done\": true}"),
        EV("chat:completion", "{\"content\": \"a\", \"usage\": {\"t\": 1}}"),
        EV("chat:completion", "{\"output\": [], \"error\": {\"m\": 1}}"),
        EV("chat:completion", "{\"output\": [], \"sources\": []}"),
        EV("chat:completion", "{\"content\": \"a\", \"selected_model_id\": \"x\"}"),
        EV("chat:completion", "{\"choices\": [{\"delta\": {\"content\": \"a\"}}]}"),
        EV("chat:completion", "{\"content\": \"\"}"),
        EV("chat:completion", "{\"content\": 5}"),
        EV("chat:completion", "{\"output\": \"x\", \"content\": \"a\"}"),
        EV("chat:completion", "{\"done\": false}"),
        EV("chat:completion", "null"),
        EV("response:completion", "{\"type\": \"response.output_text.done\", \"text\": \"a\"}"),
        EV("response:completion", "{\"type\": \"response.output_text.delta\", \"delta\": null}"),
        EV("response:completion", "{\"type\": \"response.output_text.delta\", \"delta\": {\"a\": 1}}"),
        EV("response:completion", "{\"type\": \"response.output_text.delta\"}"),
        EV("response:completion", "{\"type\": \"output_text.delta\", \"delta\": \"a\"}"),
        EV("response:completion", "{\"type\": \"response.output_text.del\\u0074a\", \"delta\": \"a\"}"),
        EV("resp\\u006fnse:completion", "{\"type\": \"response.output_text.delta\", \"delta\": \"a\"}"),
        EV("message", "{\"content\": null}"),
        EV("message", "\"a\""),
        EV("replace", "null"),
        "{\"chat_id\": \"c\", \"message_id\": \"m\", \"data\": \"x\"}",
        "{\"chat_id\": \"c\", \"message_id\": \"m\"}",
        "{\"chat_id\": \"c\", \"message_id\": \"m\", \"data\": {\"data\": {\"content\": \"a\"}}}",
        "[1, 2]",
        "{\"chat_id\": \"c\", \"data\": {\"type\": \"message\", \"data\": {\"content\": \"a\"}}",
        "",
        "not json",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        CHECK(kind_of(others[i]) == FIO_MERGE_OTHER, "other #%zu: %s", i, others[i]);
    CHECK(fio_merge_classify((fio_str){NULL, 0}) == FIO_MERGE_OTHER, "NULL text");
}

static void test_deltas(void)
{
    fio_merge *m = fio_merge_new(FIO_MERGE_MAX_BYTES);
    CHECK(m != NULL, "new");
    int64_t since = -1;
    CHECK(!fio_merge_pending(m, &since) && fio_merge_pending_bytes(m) == 0, "starts empty");
    EXPECT_NONE(flush_s(m));

    /* same key: concatenated, last event's text around it */
    EXPECT_NONE(push_s(m, RD("Hel"), 10));
    CHECK(fio_merge_pending(m, &since) && since == 10, "since %lld", (long long)since);
    EXPECT_NONE(push_s(m, RD("lo"), 20));
    EXPECT_NONE(push_s(m, RD(" w"), 30));
    CHECK(fio_merge_pending(m, &since) && since == 10, "since kept by merges: %lld", (long long)since);
    CHECK(fio_merge_pending_bytes(m) == strlen(RD("Hello w")), "pending bytes %zu",
          fio_merge_pending_bytes(m));
    EXPECT(flush_s(m), RD("Hello w"));
    CHECK(!fio_merge_pending(m, NULL), "flushed");
    EXPECT_NONE(flush_s(m));

    /* members outside the key come from the last event, wherever they are */
    EXPECT_NONE(push_s(m, RDK("output_text", ", \"sequence_number\": 9" KEY0, "a"), 1));
    EXPECT_NONE(push_s(m, RDK("output_text", ", \"sequence_number\": 10" KEY0, "b"), 2));
    EXPECT_NONE(push_s(m,
                       EV("response:completion",
                          "{\"type\": \"response.output_text.delta\"" KEY0
                          ", \"delta\": \"c\", \"logprobs\": [], \"sequence_number\": 11}"),
                       3));
    EXPECT(flush_s(m), EV("response:completion",
                          "{\"type\": \"response.output_text.delta\"" KEY0
                          ", \"delta\": \"abc\", \"logprobs\": [], \"sequence_number\": 11}"));

    /* another key: what is pending goes first */
    EXPECT_NONE(push_s(m, RD("a"), 1));
    EXPECT(push_s(m, RDK("output_text", KEY1, "b"), 2), RD("a"));
    CHECK(fio_merge_pending(m, &since) && since == 2, "new pending since %lld", (long long)since);
    EXPECT(push_s(m, RDK("reasoning_text", KEY1, "c"), 3), RDK("output_text", KEY1, "b"));
    EXPECT(push_s(m, RDK("reasoning_text", ", \"item_id\": \"msg_2\", \"output_index\": 0, \"content_index\": 1", "d"), 4),
           RDK("reasoning_text", KEY1, "c"));
    EXPECT(push_s(m, RDK("reasoning_text", ", \"item_id\": \"msg_2\", \"output_index\": 1, \"content_index\": 1", "e"), 5),
           RDK("reasoning_text", ", \"item_id\": \"msg_2\", \"output_index\": 0, \"content_index\": 1", "d"));
    EXPECT(flush_s(m), RDK("reasoning_text", ", \"item_id\": \"msg_2\", \"output_index\": 1, \"content_index\": 1", "e"));

    /* summary_index is part of the key; absent differs from present */
    EXPECT_NONE(push_s(m, RDK("reasoning_summary_text", KEY0 ", \"summary_index\": 0", "a"), 1));
    EXPECT_NONE(push_s(m, RDK("reasoning_summary_text", KEY0 ", \"summary_index\": 0", "b"), 1));
    EXPECT(push_s(m, RDK("reasoning_summary_text", KEY0 ", \"summary_index\": 1", "c"), 1),
           RDK("reasoning_summary_text", KEY0 ", \"summary_index\": 0", "ab"));
    EXPECT(push_s(m, RDK("reasoning_summary_text", KEY0, "d"), 1),
           RDK("reasoning_summary_text", KEY0 ", \"summary_index\": 1", "c"));
    EXPECT(flush_s(m), RDK("reasoning_summary_text", KEY0, "d"));

    /* another envelope (message id, shared flag): not merged */
    EXPECT_NONE(push_s(m, RD("a"), 1));
    const char *other_env =
        ENV2("{\"type\": \"response:completion\", \"data\": {\"type\": \"response.output_text.delta\"" KEY0 ", \"delta\": \"b\"}}");
    EXPECT(push_s(m, other_env, 2), RD("a"));
    const char *shared =
        "{\"chat_id\": \"c\", \"message_id\": \"m2\", \"user_id\": \"u\", \"shared\": true, \"data\": {\"type\": \"response:completion\", \"data\": {\"type\": \"response.output_text.delta\"" KEY0 ", \"delta\": \"c\"}}}";
    EXPECT(push_s(m, shared, 3), other_env);
    EXPECT(flush_s(m), shared);

    /* another spelling of the same key (whitespace) is another key */
    EXPECT_NONE(push_s(m, RD("a"), 1));
    const char *compact =
        "{\"chat_id\":\"c\",\"message_id\":\"m\",\"data\":{\"type\":\"response:completion\",\"data\":{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"b\"}}}";
    EXPECT(push_s(m, compact, 2), RD("a"));
    EXPECT(flush_s(m), compact);

    /* message deltas; the alias is another key */
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    EXPECT_NONE(push_s(m, MSG("b"), 1));
    EXPECT(push_s(m, EV("chat:message:delta", "{\"content\": \"c\"}"), 1), MSG("ab"));
    EXPECT_NONE(push_s(m, EV("chat:message:delta", "{\"content\": \"d\", \"x\": 1}"), 1));
    EXPECT(push_s(m, RD("e"), 1), EV("chat:message:delta", "{\"content\": \"cd\", \"x\": 1}"));
    EXPECT(push_s(m, MSG("f"), 1), RD("e"));
    EXPECT(flush_s(m), MSG("f"));

    /* escapes and raw UTF-8 are concatenated as written */
    EXPECT_NONE(push_s(m, RD("\\u00e9\\ud83d"), 1));
    EXPECT_NONE(push_s(m, RD("\\ude00\xc3\xa9\\\"\\\\\\n"), 1));
    EXPECT_NONE(push_s(m, RD("\xf0\x9f\x98\x80"), 1));
    EXPECT(flush_s(m), RD("\\u00e9\\ud83d\\ude00\xc3\xa9\\\"\\\\\\n\xf0\x9f\x98\x80"));

    /* empty deltas merge */
    EXPECT_NONE(push_s(m, RD(""), 1));
    EXPECT_NONE(push_s(m, RD(""), 1));
    EXPECT(flush_s(m), RD(""));
    fio_merge_free(m);
}

static void test_newline_guard(void)
{
    fio_merge *m = fio_merge_new(FIO_MERGE_MAX_BYTES);
    /* a pending output_text "\n" takes nothing more */
    EXPECT_NONE(push_s(m, RD("\\n"), 1));
    EXPECT(push_s(m, RD("x"), 2), RD("\\n"));
    EXPECT(flush_s(m), RD("x"));
    EXPECT_NONE(push_s(m, RD("\\u000a"), 1));
    EXPECT(push_s(m, RD("y"), 2), RD("\\u000a"));
    EXPECT_NONE(push_s(m, RD("\\u000A"), 3));   /* "y" pending: "\n" merges onto it */
    EXPECT(flush_s(m), RD("y\\u000A"));
    EXPECT_NONE(push_s(m, RD("\\u000A"), 1));
    EXPECT(push_s(m, RD("\\n"), 2), RD("\\u000A"));
    EXPECT(flush_s(m), RD("\\n"));
    /* "" then "\n" merge (still "\n": then guarded) */
    EXPECT_NONE(push_s(m, RD(""), 1));
    EXPECT_NONE(push_s(m, RD("\\n"), 1));
    EXPECT(push_s(m, RD("z"), 1), RD("\\n"));
    EXPECT(flush_s(m), RD("z"));
    /* longer texts and other types are not guarded */
    EXPECT_NONE(push_s(m, RD("\\n\\n"), 1));
    EXPECT_NONE(push_s(m, RD("a"), 1));
    EXPECT(flush_s(m), RD("\\n\\na"));
    EXPECT_NONE(push_s(m, RDK("reasoning_text", KEY0, "\\n"), 1));
    EXPECT_NONE(push_s(m, RDK("reasoning_text", KEY0, "a"), 1));
    EXPECT(flush_s(m), RDK("reasoning_text", KEY0, "\\na"));
    EXPECT_NONE(push_s(m, MSG("\\n"), 1));
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    EXPECT(flush_s(m), MSG("\\na"));
    fio_merge_free(m);
}

static void test_snapshots(void)
{
    fio_merge *m = fio_merge_new(FIO_MERGE_MAX_BYTES);
    int64_t since = 0;
    EXPECT_NONE(push_s(m, SNAPC("a"), 5));
    EXPECT_NONE(push_s(m, SNAPC("ab"), 6));
    CHECK(fio_merge_pending(m, &since) && since == 5, "snapshot since %lld", (long long)since);
    EXPECT_NONE(push_s(m, SNAPO("abc"), 7));   /* output covers content */
    EXPECT_NONE(push_s(m, SNAPO("abcd"), 8));
    CHECK(fio_merge_pending(m, &since) && since == 5, "snapshot since kept %lld", (long long)since);
    EXPECT(push_s(m, SNAPC("x"), 9), SNAPO("abcd"));   /* content does not cover output */
    CHECK(fio_merge_pending(m, &since) && since == 9, "since %lld", (long long)since);
    EXPECT(push_s(m, RD("a"), 10), SNAPC("x"));
    EXPECT(push_s(m, SNAPC("y"), 11), RD("a"));
    const char *done = EV("chat:completion", "{\"content\": \"yz\", \"done\": true}");
    EXPECT(push_s(m, done, 12), SNAPC("y"), done);
    EXPECT_NONE(flush_s(m));
    /* another envelope: not replaced */
    EXPECT_NONE(push_s(m, SNAPC("a"), 1));
    const char *s2 = ENV2("{\"type\": \"chat:completion\", \"data\": {\"content\": \"b\"}}");
    EXPECT(push_s(m, s2, 2), SNAPC("a"));
    EXPECT(flush_s(m), s2);
    fio_merge_free(m);
}

static void test_replace(void)
{
    fio_merge *m = fio_merge_new(FIO_MERGE_MAX_BYTES);
    /* drops pending message deltas and content snapshots */
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    EXPECT_NONE(push_s(m, MSG("b"), 1));
    EXPECT(push_s(m, REPL("new"), 2), REPL("new"));
    CHECK(!fio_merge_pending(m, NULL), "nothing pending after replace");
    EXPECT_NONE(push_s(m, EV("chat:message:delta", "{\"content\": \"a\"}"), 1));
    EXPECT(push_s(m, EV("chat:message", "{\"content\": \"x\"}"), 2), EV("chat:message", "{\"content\": \"x\"}"));
    EXPECT_NONE(push_s(m, SNAPC("a"), 1));
    EXPECT(push_s(m, REPL("new"), 2), REPL("new"));
    /* keeps what the replace does not overwrite: response deltas, output snapshots */
    EXPECT_NONE(push_s(m, RD("a"), 1));
    EXPECT(push_s(m, REPL("new"), 2), RD("a"), REPL("new"));
    EXPECT_NONE(push_s(m, SNAPO("a"), 1));
    EXPECT(push_s(m, REPL("new"), 2), SNAPO("a"), REPL("new"));
    /* another envelope: kept */
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    const char *r2 = ENV2("{\"type\": \"replace\", \"data\": {\"content\": \"b\"}}");
    EXPECT(push_s(m, r2, 2), MSG("a"), r2);
    /* E's other members are not the envelope: still dropped */
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    const char *r3 = ENV("{\"type\": \"replace\", \"data\": {}, \"x\": 1}");
    EXPECT(push_s(m, r3, 2), r3);
    /* not an object: other */
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    EXPECT(push_s(m, EV("replace", "null"), 2), MSG("a"), EV("replace", "null"));
    CHECK(!fio_merge_pending(m, NULL), "nothing pending");
    fio_merge_free(m);
}

static void test_other(void)
{
    fio_merge *m = fio_merge_new(FIO_MERGE_MAX_BYTES);
    /* pass-through texts are the pushed text itself */
    res r = push_s(m, STATUS("s"), 1);
    CHECK(r.n == 1 && r.same[0], "other alone: %zu", r.n);
    res_free(&r);
    EXPECT_NONE(push_s(m, RD("a"), 1));
    r = push_s(m, STATUS("s"), 2);
    CHECK(r.n == 2 && !r.same[0] && r.same[1], "flush then other");
    CHECK(r.n == 2 && strcmp(r.t[0], RD("a")) == 0, "pending first");
    res_free(&r);
    static const char *const bad[] = {"not json", "{\"a\": 1", "[1]", "", "{} {}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_NONE(push_s(m, MSG("a"), 1));
        EXPECT(push_s(m, bad[i], 2), MSG("a"), bad[i]);
    }
    EXPECT_NONE(push_s(m, RD("a"), 1));
    const char *nonstr = EV("response:completion", "{\"type\": \"response.output_text.delta\"" KEY0 ", \"delta\": 5}");
    EXPECT(push_s(m, nonstr, 2), RD("a"), nonstr);
    EXPECT_NONE(push_s(m, RD("b"), 3));
    EXPECT_NONE(push_s(m, RD("c"), 4));
    EXPECT(flush_s(m), RD("bc"));
    fio_merge_free(m);
}

static void test_bound(void)
{
    size_t base = strlen(RD(""));
    fio_merge *m = fio_merge_new(base + 4);
    EXPECT_NONE(push_s(m, RD("ab"), 1));
    EXPECT_NONE(push_s(m, RD("cd"), 2));
    CHECK(fio_merge_pending_bytes(m) == base + 4, "at the bound: pending");
    EXPECT(push_s(m, RD("e"), 3), RD("abcde"));
    CHECK(!fio_merge_pending(m, NULL), "emitted at once");
    /* a delta over the bound that merges: the merged text goes out */
    EXPECT_NONE(push_s(m, RD("a"), 1));
    EXPECT(push_s(m, RD("abcdef"), 2), RD("aabcdef"));
    /* one that would begin the pending state goes out as is, after it */
    EXPECT_NONE(push_s(m, MSG("a"), 1));
    res r = push_s(m, RD("abcdef"), 2);
    CHECK(r.n == 2 && !r.same[0] && r.same[1], "flush, then as is");
    CHECK(r.n == 2 && strcmp(r.t[0], MSG("a")) == 0, "pending first");
    res_free(&r);
    r = push_s(m, RD("abcdef"), 2);
    CHECK(r.n == 1 && r.same[0], "as is");
    res_free(&r);
    CHECK(!fio_merge_pending(m, NULL), "nothing pending");
    /* a covering snapshot over the bound: the pending one is dropped */
    EXPECT_NONE(push_s(m, SNAPC("a"), 1));
    const char *big = SNAPC("a long enough snapshot text to pass the bound for sure, "
                            "a long enough snapshot text to pass the bound for sure, "
                            "a long enough snapshot text to pass the bound for sure");
    CHECK(strlen(big) > base + 4, "big is over the bound");
    r = push_s(m, big, 2);
    CHECK(r.n == 1 && r.same[0], "big snapshot as is");
    res_free(&r);
    fio_merge_free(m);

    m = fio_merge_new(0);   /* bound 0: nothing merges */
    r = push_s(m, RD("a"), 1);
    CHECK(r.n == 1 && r.same[0], "bound 0");
    res_free(&r);
    CHECK(!fio_merge_pending(m, NULL), "bound 0: nothing pending");
    fio_merge_free(m);
    fio_merge_free(NULL);
}

/* ------------------------------------------------------ reference model */

typedef struct u16vec {
    uint16_t *a;
    size_t n, cap;
} u16vec;

static void u16_push(u16vec *v, uint16_t u)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        uint16_t *a = realloc(v->a, cap * sizeof *a);
        if (!a) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
        v->a = a;
        v->cap = cap;
    }
    v->a[v->n++] = u;
}

static void u16_cat(u16vec *v, const u16vec *w)
{
    for (size_t i = 0; i < w->n; i++)
        u16_push(v, w->a[i]);
}

static int hexv(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The UTF-16 code units of a valid JSON string token (as JS decodes it);
 * raw bytes are valid UTF-8 (the generator writes only that). */
static void u16_from_token(fio_str t, u16vec *out)
{
    out->n = 0;
    const unsigned char *p = (const unsigned char *)t.p;
    size_t i = 1, end = t.n - 1;
    while (i < end) {
        if (p[i] == '\\') {
            char e = (char)p[i + 1];
            if (e == 'u') {
                unsigned u = 0;
                for (int h = 2; h < 6; h++)
                    u = u << 4 | (unsigned)hexv((char)p[i + h]);
                u16_push(out, (uint16_t)u);
                i += 6;
                continue;
            }
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            u16_push(out, (uint16_t)(unsigned char)to[strchr(from, e) - from]);
            i += 2;
            continue;
        }
        uint32_t cp;
        size_t len;
        if (p[i] < 0x80) {
            cp = p[i];
            len = 1;
        } else if (p[i] < 0xE0) {
            cp = (uint32_t)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
            len = 2;
        } else if (p[i] < 0xF0) {
            cp = (uint32_t)(p[i] & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
            len = 3;
        } else {
            cp = (uint32_t)(p[i] & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3F) << 12 |
                 (uint32_t)(p[i + 2] & 0x3F) << 6 | (p[i + 3] & 0x3F);
            len = 4;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u16_push(out, (uint16_t)(0xD800 + (cp >> 10)));
            u16_push(out, (uint16_t)(0xDC00 + (cp & 0x3FF)));
        } else {
            u16_push(out, (uint16_t)cp);
        }
        i += len;
    }
}

static void u16_from_bytes(const char *s, size_t n, u16vec *out)
{
    for (size_t i = 0; i < n; i++)
        u16_push(out, (uint16_t)(unsigned char)s[i]);
}

/* One run of output text: consecutive deltas of one key (a reordering of
 * keys shows as other runs). */
typedef struct run {
    fio_buf key;
    u16vec text;
} run;

/* The client's state of one message. */
typedef struct msg {
    u16vec content;
    run *runs;
    size_t nruns, cap;
} msg;

#define N_MSGS 3   /* message_id "m1", "m2", anything else */

typedef struct model {
    msg m[N_MSGS];
    fio_buf others;   /* "other" events with the state they saw */
} model;

static void model_init(model *md)
{
    memset(md, 0, sizeof *md);
    fio_buf_init(&md->others);
}

static void msg_clear_runs(msg *ms)
{
    for (size_t i = 0; i < ms->nruns; i++) {
        fio_buf_free(&ms->runs[i].key);
        free(ms->runs[i].text.a);
    }
    ms->nruns = 0;
}

static void model_free(model *md)
{
    for (int i = 0; i < N_MSGS; i++) {
        msg_clear_runs(&md->m[i]);
        free(md->m[i].runs);
        free(md->m[i].content.a);
    }
    fio_buf_free(&md->others);
}

static run *msg_run(msg *ms, const char *key, size_t keylen)
{
    if (ms->nruns && ms->runs[ms->nruns - 1].key.len == keylen &&
        memcmp(ms->runs[ms->nruns - 1].key.data, key, keylen) == 0)
        return &ms->runs[ms->nruns - 1];
    if (ms->nruns == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 8;
        run *r = realloc(ms->runs, cap * sizeof *r);
        if (!r) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
        ms->runs = r;
        ms->cap = cap;
    }
    run *r = &ms->runs[ms->nruns++];
    fio_buf_init(&r->key);
    xappend(&r->key, key, keylen);
    r->text = (u16vec){0};
    return r;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

static uint64_t model_digest(const model *md)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int k = 0; k < N_MSGS; k++) {
        const msg *ms = &md->m[k];
        h = fnv(h, "#", 1);
        h = fnv(h, ms->content.a, ms->content.n * 2);
        for (size_t i = 0; i < ms->nruns; i++) {
            h = fnv(h, "|", 1);
            h = fnv(h, ms->runs[i].key.data, ms->runs[i].key.len);
            h = fnv(h, "=", 1);
            h = fnv(h, ms->runs[i].text.a, ms->runs[i].text.n * 2);
        }
    }
    return h;
}

static void model_other(model *md, const char *p, size_t n)
{
    char tag[40];
    snprintf(tag, sizeof tag, "\n#%016llx\n", (unsigned long long)model_digest(md));
    xappend(&md->others, p, n);
    xputs(&md->others, tag);
}

/* JS truthiness of a JSON value (absent: false). */
static int js_truthy(fio_str v)
{
    if (!v.p)
        return 0;
    if (v.p[0] == 'n' || v.p[0] == 'f' || v.p[0] == 'N')
        return 0;
    if (v.p[0] == '"')
        return v.n > 2;
    if (v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9') || v.p[0] == 'I') {
        char tmp[64];
        size_t k = v.n < sizeof tmp - 1 ? v.n : sizeof tmp - 1;
        memcpy(tmp, v.p, k);
        tmp[k] = '\0';
        return strtod(tmp, NULL) != 0.0;
    }
    return 1;
}

static void compact_into(fio_buf *b, fio_str v)
{
    if (!v.p) {
        xputs(b, "\x1e");
        return;
    }
    if (fio_json_compact(v.p, v.n, b) != 0) {
        fputs("compact failed\n", stderr);
        exit(2);
    }
}

/* A decoded string value equals lit. */
static int str_is(fio_str v, const char *lit)
{
    if (!v.p || v.p[0] != '"')
        return 0;
    fio_buf b;
    fio_buf_init(&b);
    int ok = fio_json_string_decode(v.p, v.n, &b) == 0 && b.len == strlen(lit) &&
             memcmp(b.len ? b.data : "", lit, b.len) == 0;
    fio_buf_free(&b);
    return ok;
}

static int str_affix(fio_str v, const char *prefix, const char *suffix)
{
    if (!v.p || v.p[0] != '"')
        return 0;
    fio_buf b;
    fio_buf_init(&b);
    size_t pl = strlen(prefix), sl = strlen(suffix);
    int ok = fio_json_string_decode(v.p, v.n, &b) == 0 && b.len >= pl && b.len >= sl &&
             memcmp(b.data, prefix, pl) == 0 && memcmp(b.data + b.len - sl, suffix, sl) == 0;
    fio_buf_free(&b);
    return ok;
}

/* Applies one event as the client does, to the message it names. */
static void model_apply(model *md, const char *p, size_t n)
{
    static const char *const top[] = {"data", "message_id"};
    static const char *const ek[] = {"type", "data"};
    static const char *const rk[] = {"type", "item_id", "output_index", "content_index",
                                     "summary_index", "delta"};
    static const char *const ck[] = {"content", "output", "done", "error", "usage", "sources",
                                     "selected_model_id", "choices"};
    static const char *const mk[] = {"content"};
    fio_str v[8], E, T, D;
    u16vec val = {0};
    if (fio_json_object_get(p, n, top, 2, v) < 0 || !v[0].p || v[0].p[0] != '{')
        goto other;
    msg *ms = &md->m[str_is(v[1], "m1") ? 0 : str_is(v[1], "m2") ? 1 : 2];
    E = v[0];
    fio_json_object_get(E.p, E.n, ek, 2, v);
    T = v[0];
    D = v[1];
    if (!D.p || D.p[0] != '{')
        goto other;
    if (str_is(T, "response:completion")) {
        fio_json_object_get(D.p, D.n, rk, 6, v);
        if (!str_affix(v[0], "response.", ".delta") || !v[5].p || v[5].p[0] != '"')
            goto other;
        fio_buf key;
        fio_buf_init(&key);
        for (int i = 0; i < 5; i++) {
            compact_into(&key, v[i]);
            xputs(&key, "\x1f");
        }
        u16_from_token(v[5], &val);
        run *r = msg_run(ms, key.data, key.len);
        u16_cat(&r->text, &val);
        fio_buf_free(&key);
        /* Chat.svelte: a lone "\n" on an empty message is dropped */
        if (str_is(v[0], "response.output_text.delta") &&
            !(ms->content.n == 0 && val.n == 1 && val.a[0] == '\n'))
            u16_cat(&ms->content, &val);
    } else if (str_is(T, "message") || str_is(T, "chat:message:delta")) {
        fio_json_object_get(D.p, D.n, mk, 1, v);
        if (!v[0].p || v[0].p[0] != '"')
            goto other;
        u16_from_token(v[0], &val);
        u16_cat(&ms->content, &val);
    } else if (str_is(T, "chat:completion")) {
        fio_json_object_get(D.p, D.n, ck, 8, v);
        if (js_truthy(v[1])) {   /* output: sets output, and content from it */
            fio_buf o;
            fio_buf_init(&o);
            compact_into(&o, v[1]);
            msg_clear_runs(ms);
            run *r = msg_run(ms, "SNAPSHOT", 8);
            u16_from_bytes(o.data, o.len, &r->text);
            ms->content.n = 0;
            u16_from_bytes("F:", 2, &ms->content);
            u16_from_bytes(o.data, o.len, &ms->content);
            fio_buf_free(&o);
        } else if (js_truthy(v[0])) {
            ms->content.n = 0;
            if (v[0].p[0] == '"')
                u16_from_token(v[0], &ms->content);
            else
                u16_from_bytes(v[0].p, v[0].n, &ms->content);
        }
        int flags = 0;
        for (int i = 2; i < 8; i++)
            flags |= js_truthy(v[i]);
        if (flags)   /* done, error, usage, ...: effects the model records in order */
            goto other;
    } else if (str_is(T, "replace") || str_is(T, "chat:message")) {
        fio_json_object_get(D.p, D.n, mk, 1, v);
        ms->content.n = 0;
        if (v[0].p && v[0].p[0] == '"')
            u16_from_token(v[0], &ms->content);
        else if (v[0].p)
            u16_from_bytes(v[0].p, v[0].n, &ms->content);
    } else {
        goto other;
    }
    free(val.a);
    return;
other:
    free(val.a);
    model_other(md, p, n);
}

static int msg_eq(const msg *a, const msg *b)
{
    if (a->content.n != b->content.n ||
        (a->content.n && memcmp(a->content.a, b->content.a, a->content.n * 2) != 0))
        return 0;
    if (a->nruns != b->nruns)
        return 0;
    for (size_t i = 0; i < a->nruns; i++) {
        const run *x = &a->runs[i], *y = &b->runs[i];
        if (x->key.len != y->key.len || memcmp(x->key.data, y->key.data, x->key.len) != 0 ||
            x->text.n != y->text.n ||
            (x->text.n && memcmp(x->text.a, y->text.a, x->text.n * 2) != 0))
            return 0;
    }
    return 1;
}

static int model_eq(const model *a, const model *b)
{
    for (int i = 0; i < N_MSGS; i++)
        if (!msg_eq(&a->m[i], &b->m[i]))
            return 0;
    return a->others.len == b->others.len &&
           (a->others.len == 0 || memcmp(a->others.data, b->others.data, a->others.len) == 0);
}

/* ------------------------------------------------------------ generator */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned rn(unsigned k)
{
    return (unsigned)(rng() % k);
}

static void put_utf8(fio_buf *b, uint32_t cp)
{
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | cp >> 18);
        o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    xappend(b, o, n);
}

/* One code point as json.dumps writes it (ensure_ascii or not). */
static void put_char(fio_buf *b, uint32_t cp, int ascii)
{
    char tmp[16];
    switch (cp) {
    case '"': xputs(b, "\\\""); return;
    case '\\': xputs(b, "\\\\"); return;
    case '\n': xputs(b, "\\n"); return;
    case '\r': xputs(b, "\\r"); return;
    case '\t': xputs(b, "\\t"); return;
    case '\b': xputs(b, "\\b"); return;
    case '\f': xputs(b, "\\f"); return;
    default: break;
    }
    if (cp < 0x20 || (ascii && cp >= 0x7F)) {
        if (cp >= 0x10000) {
            uint32_t c = cp - 0x10000;
            snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
        } else {
            snprintf(tmp, sizeof tmp, "\\u%04x", cp);
        }
        xputs(b, tmp);
        return;
    }
    put_utf8(b, cp);
}

/* A random string token; ascii: ensure_ascii (may then hold lone
 * surrogates, as a pair split over two deltas would). */
static void put_rand_string(fio_buf *b, int ascii)
{
    static const uint32_t chars[] = {'a', 'b', 'Z', ' ', '.', '\n', '\t', '"', '\\', '/', 0x01, 0x7F,
                                     0xE9, 0x4E2D, 0x2028, 0x1F600, 0x1F44D};
    xputs(b, "\"");
    unsigned r = rn(10);
    if (r == 0) {          /* "" */
    } else if (r <= 2) {   /* a lone "\n", as models stream it */
        xputs(b, rn(4) ? "\\n" : "\\u000a");
    } else if (r == 3 && ascii) {
        xputs(b, rn(2) ? "\\ud83d" : "\\ude00");
    } else {
        unsigned len = 1 + rn(5);
        for (unsigned i = 0; i < len; i++)
            put_char(b, chars[rn(sizeof chars / sizeof chars[0])], ascii);
        if (rn(20) == 0)
            xputs(b, "\\/");   /* valid JSON, not json.dumps */
    }
    xputs(b, "\"");
}

typedef struct gen {
    int compact;            /* separators (",", ":") for this stream */
    unsigned deltas;        /* percent of events that are deltas */
    unsigned rtype, rkey;   /* current response delta key */
    unsigned seq;
} gen;

static void put_sep(fio_buf *b, const gen *g, const char *s)
{
    /* s is "," or ":" */
    xputs(b, s);
    if (!g->compact)
        xputs(b, " ");
}

static void put_env(fio_buf *b, const gen *g)
{
    unsigned r = rn(10);
    xputs(b, "{\"chat_id\"");
    put_sep(b, g, ":");
    xputs(b, "\"c1\"");
    put_sep(b, g, ",");
    xputs(b, "\"message_id\"");
    put_sep(b, g, ":");
    xputs(b, r == 0 ? "\"m2\"" : "\"m1\"");
    put_sep(b, g, ",");
    if (r == 1) {
        xputs(b, "\"internal\"");
        put_sep(b, g, ":");
        xputs(b, "true");
        put_sep(b, g, ",");
    }
    xputs(b, "\"data\"");
    put_sep(b, g, ":");
}

static void put_member(fio_buf *b, const gen *g, const char *name, const char *raw, int first)
{
    if (!first)
        put_sep(b, g, ",");
    xputs(b, "\"");
    xputs(b, name);
    xputs(b, "\"");
    put_sep(b, g, ":");
    if (raw)
        xputs(b, raw);
}

/* E = {"type": type, "data": <caller writes D>} opening. */
static void put_e_open(fio_buf *b, const gen *g, const char *type)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "\"%s\"", type);
    xputs(b, "{");
    put_member(b, g, "type", tmp, 1);
    put_member(b, g, "data", NULL, 0);
}

static void gen_event(gen *g, fio_buf *b)
{
    static const char *const rtypes[] = {"response.output_text.delta", "response.reasoning_text.delta",
                                         "response.function_call_arguments.delta",
                                         "response.reasoning_summary_text.delta"};
    char tmp[64];
    int ascii = rn(2);
    b->len = 0;
    /* what: [0, 3) not an event, [3, 50) response delta, [50, 68) message
     * delta, [68, 80) chat:completion, [80, 86) replace, [86, 100) other */
    unsigned what = rn(100);
    if (rn(100) < g->deltas)
        what = rn(4) ? 3 + rn(47) : 50 + rn(18);
    if (what < 3) {   /* not an event object */
        static const char *const bad[] = {"{\"chat_id\": \"c1\", \"data\": {", "[1, 2]", "null",
                                          "{\"chat_id\": \"c1\"}"};
        xputs(b, bad[rn(4)]);
        return;
    }
    put_env(b, g);
    if (what < 50) {   /* response delta; the key sticks for a while */
        if (rn(8) == 0)
            g->rtype = rn(4);
        if (rn(8) == 0)
            g->rkey = rn(8);
        put_e_open(b, g, "response:completion");
        xputs(b, "{");
        snprintf(tmp, sizeof tmp, "\"%s\"", rtypes[g->rtype]);
        put_member(b, g, "type", tmp, 1);
        if (rn(3) == 0) {
            snprintf(tmp, sizeof tmp, "%u", g->seq++);
            put_member(b, g, "sequence_number", tmp, 0);
        }
        if (g->rkey & 1)
            put_member(b, g, "item_id", (g->rkey & 4) ? "\"msg_2\"" : "\"msg_1\"", 0);
        put_member(b, g, "output_index", (g->rkey & 2) ? "1" : "0", 0);
        put_member(b, g, "content_index", "0", 0);
        if (g->rtype == 3)
            put_member(b, g, "summary_index", (g->rkey & 4) ? "1" : "0", 0);
        put_member(b, g, "delta", NULL, 0);
        unsigned d = rn(60);
        if (d == 0)
            xputs(b, "null");
        else if (d == 1)
            xputs(b, "{\"x\": 1}");
        else
            put_rand_string(b, ascii);
        if (rn(3) == 0) {
            snprintf(tmp, sizeof tmp, "%u", g->seq++);
            put_member(b, g, "sequence_number", tmp, 0);
        }
        if (rn(4) == 0)
            put_member(b, g, "logprobs", "[]", 0);
        xputs(b, "}}}");
    } else if (what < 68) {   /* message delta */
        put_e_open(b, g, rn(8) ? "message" : "chat:message:delta");
        xputs(b, "{");
        put_member(b, g, "content", NULL, 1);
        if (rn(40) == 0)
            xputs(b, "7");
        else
            put_rand_string(b, ascii);
        xputs(b, "}}}");
    } else if (what < 80) {   /* chat:completion: snapshots, sometimes more */
        put_e_open(b, g, "chat:completion");
        xputs(b, "{");
        int first = 1;
        unsigned s = rn(12);
        if (s == 0) {
            put_member(b, g, "done", "true", first);
            first = 0;
        } else if (s == 1) {
            put_member(b, g, "done", "false", first);
            first = 0;
        } else if (s == 2) {
            put_member(b, g, "usage", "{\"t\": 3}", first);
            first = 0;
        } else if (s == 3) {
            put_member(b, g, "output", "null", first);
            first = 0;
        }
        if (rn(2)) {
            put_member(b, g, "output", NULL, first);
            first = 0;
            xputs(b, "[{\"type\": \"message\", \"content\": [{\"type\": \"output_text\", \"text\": ");
            put_rand_string(b, ascii);
            xputs(b, "}]}]");
        }
        if (rn(2) || first) {
            put_member(b, g, "content", NULL, first);
            put_rand_string(b, ascii);
        }
        xputs(b, "}}}");
    } else if (what < 86) {   /* replace */
        put_e_open(b, g, rn(4) ? "replace" : "chat:message");
        if (rn(20) == 0) {
            xputs(b, "null}}");
        } else {
            xputs(b, "{");
            put_member(b, g, "content", NULL, 1);
            put_rand_string(b, ascii);
            xputs(b, "}}}");
        }
    } else {   /* other events */
        unsigned o = rn(3);
        if (o == 0) {
            put_e_open(b, g, "status");
            xputs(b, "{");
            put_member(b, g, "description", NULL, 1);
            put_rand_string(b, ascii);
            xputs(b, "}}}");
        } else if (o == 1) {
            put_e_open(b, g, "response:completion");
            xputs(b, "{");
            put_member(b, g, "type", "\"response.output_text.done\"", 1);
            put_member(b, g, "text", NULL, 0);
            put_rand_string(b, ascii);
            xputs(b, "}}}");
        } else {
            put_e_open(b, g, "chat:completion");
            xputs(b, "{\"choices\": [{\"delta\": {\"content\": ");
            put_rand_string(b, ascii);
            xputs(b, "}}]}}}");
        }
    }
}

/* ------------------------------------------------------- property test */

typedef struct pass_list {   /* texts that must pass through unchanged */
    fio_buf all;
    size_t n;
} pass_list;

static void pass_add(pass_list *l, const char *p, size_t n)
{
    char len[32];
    snprintf(len, sizeof len, "%zu:", n);
    xputs(&l->all, len);
    xappend(&l->all, p, n);
    l->n++;
}

typedef struct stream_state {
    model in, out;
    pass_list pin, pout;
    size_t emitted;
    int bad_json, bad_kind;
} stream_state;

static void take(stream_state *st, const fio_merge_out *o, const char *in, size_t n)
{
    for (size_t i = 0; i < o->n; i++) {
        fio_str t = o->text[i];
        enum fio_merge_kind k = fio_merge_classify(t);
        if (k == FIO_MERGE_OTHER || k == FIO_MERGE_REPLACE)
            pass_add(&st->pout, t.p, t.n);
        if (!(t.p == in && t.n == n)) {
            /* built by the merger: a valid delta or snapshot */
            if (fio_json_kind(t.p, t.n) != FIO_JSON_OBJECT)
                st->bad_json++;
            if (k != FIO_MERGE_DELTA && k != FIO_MERGE_SNAPSHOT)
                st->bad_kind++;
        }
        model_apply(&st->out, t.p, t.n);
        st->emitted++;
    }
}

static void test_property(void)
{
    static const size_t bounds[] = {0, 150, 220, 400, 1000, FIO_MERGE_MAX_BYTES};
    const int streams = 4000;
    size_t total_in = 0, total_out = 0, flush_points = 0, merged_streams = 0;
    int mismatches = 0, order_bad = 0, count_bad = 0, bound_bad = 0, since_bad = 0;
    int json_bad = 0, kind_bad = 0;
    fio_buf ev;
    fio_buf_init(&ev);
    for (int s = 0; s < streams; s++) {
        size_t max = bounds[rn(sizeof bounds / sizeof bounds[0])];
        fio_merge *m = fio_merge_new(max);
        if (!m) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
        static const unsigned mixes[] = {0, 50, 80, 95};
        gen g = {.compact = rn(8) == 0, .deltas = mixes[rn(4)], .rtype = rn(4), .rkey = rn(8)};
        stream_state st;
        memset(&st, 0, sizeof st);
        model_init(&st.in);
        model_init(&st.out);
        fio_buf_init(&st.pin.all);
        fio_buf_init(&st.pout.all);
        unsigned nev = 1 + rn(80);
        int64_t now = 0, since_expect = -1;
        for (unsigned i = 0; i < nev; i++) {
            gen_event(&g, &ev);
            char *p = dup_exact(ev.data, ev.len);
            size_t n = ev.len;
            enum fio_merge_kind k = fio_merge_classify((fio_str){p, n});
            if (k == FIO_MERGE_OTHER || k == FIO_MERGE_REPLACE)
                pass_add(&st.pin, p, n);
            model_apply(&st.in, p, n);
            now += 1 + rn(20);
            int was_pending = fio_merge_pending(m, NULL);
            fio_merge_out o;
            fio_merge_push(m, (fio_str){p, n}, now, &o);
            /* since: the push that began the pending state */
            int64_t since;
            if (fio_merge_pending(m, &since)) {
                if (!was_pending || o.n > 0)
                    since_expect = now;
                if (since != since_expect)
                    since_bad++;
            }
            if (fio_merge_pending_bytes(m) > max)
                bound_bad++;
            take(&st, &o, p, n);
            free(p);
            if (rn(12) == 0 || i + 1 == nev) {
                fio_merge_flush(m, &o);
                take(&st, &o, NULL, 0);
                flush_points++;
                if (fio_merge_pending(m, NULL))
                    mismatches++;
                if (!model_eq(&st.in, &st.out)) {
                    if (mismatches < 5)
                        fprintf(stderr, "stream %d: state differs after event %u\n", s, i);
                    mismatches++;
                }
            }
        }
        if (st.emitted > nev)
            count_bad++;
        if (st.emitted < nev)
            merged_streams++;
        if (st.pin.n != st.pout.n || st.pin.all.len != st.pout.all.len ||
            (st.pin.all.len && memcmp(st.pin.all.data, st.pout.all.data, st.pin.all.len) != 0))
            order_bad++;
        json_bad += st.bad_json;
        kind_bad += st.bad_kind;
        total_in += nev;
        total_out += st.emitted;
        model_free(&st.in);
        model_free(&st.out);
        fio_buf_free(&st.pin.all);
        fio_buf_free(&st.pout.all);
        fio_merge_free(m);
    }
    fio_buf_free(&ev);
    CHECK(mismatches == 0, "%d flush points where the client states differ", mismatches);
    CHECK(order_bad == 0, "%d streams where pass-through events changed or moved", order_bad);
    CHECK(count_bad == 0, "%d streams emitted more than they got", count_bad);
    CHECK(bound_bad == 0, "%d pushes left more than max_bytes pending", bound_bad);
    CHECK(since_bad == 0, "%d pushes with a wrong pending-since", since_bad);
    CHECK(json_bad == 0, "%d merged texts are not JSON objects", json_bad);
    CHECK(kind_bad == 0, "%d merged texts are not deltas or snapshots", kind_bad);
    CHECK(merged_streams > (size_t)streams / 2, "merging happened in %zu streams", merged_streams);
    printf("property: %d streams, %zu events in, %zu out, %zu flush points\n", streams, total_in,
           total_out, flush_points);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *seed = getenv("FASTSIO_MERGE_SEED");   /* default: the fixed seed */
    if (seed && strtoull(seed, NULL, 0))
        rng_state = strtoull(seed, NULL, 0);
    test_classify();
    test_deltas();
    test_newline_guard();
    test_snapshots();
    test_replace();
    test_other();
    test_bound();
    test_property();
    return check_summary();
}
