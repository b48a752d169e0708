/* Tests of csrc/redis/envelope.c.
 *
 * Usage: test_envelope <corpus-dir>. Runs corpus/envelope.txt (messages fed
 * to python-socketio 5.16.2 by the generator embedded in that file: the
 * route, the decoded names and the packet byte for byte), unit checks of the
 * struct's storage, and a randomized loop over mutated corpus messages that
 * checks what any EMIT result must satisfy. Every message is copied into a
 * heap buffer of exactly its length so that ASan catches any read past the
 * end. Prints "<n> passed, <m> failed"; exit status 1 if m > 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "jsonscan.h"

#include "check.h"
#include "test_util.h"

#define HOST "0123456789abcdef0123456789abcdef"

/* ---------------------------------------------------------------- helpers */

/* Corpus unescaping in place: "\\" is a backslash, "\xHH" a byte. Returns
 * the length, or -1 on any other backslash. */
static long unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '\\') {
            s[o++] = s[i];
        } else if (s[i + 1] == '\\') {
            s[o++] = '\\';
            i++;
        } else if (s[i + 1] == 'x' && fio_json_hex_value(s[i + 2]) >= 0 && fio_json_hex_value(s[i + 3]) >= 0) {
            s[o++] = (char)(fio_json_hex_value(s[i + 2]) << 4 | fio_json_hex_value(s[i + 3]));
            i += 3;
        } else {
            return -1;
        }
    }
    s[o] = '\0';
    return (long)o;
}

static int read_msg(const char *msg, size_t n, fio_env_emit *e)
{
    char *p = dup_exact(msg, n);
    int route = fio_env_read(p, n, HOST, strlen(HOST), e);
    free(p);
    return route;
}

static int str_inside(fio_str s, const fio_buf *b)
{
    return s.n == 0 || (b->data && s.p >= b->data && s.p + s.n <= b->data + b->len);
}

/* --------------------------------------------------------------- corpus */

typedef struct corpus_stats {
    int cases, emit, python, ignore, bad_lines;
} corpus_stats;

/* Compares a "count|name|name" field with the decoded names. */
static int names_match(char *field, const fio_str *names, size_t n)
{
    char *p;
    if (strtoul(field, &p, 10) != n || *p != (n ? '|' : '\0'))
        return 0;
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        char *item = p + 1, *end = strchr(item, '|');
        if (end)
            *end = '\0';
        long len = unescape(item);
        if (len < 0 || !mem_eq(names[i].p, names[i].n, item, (size_t)len))
            return 0;
        if (!end)
            return i + 1 == n;
        p = end;
    }
    return 0;
}

static void corpus_line(char **f, int nf, int lineno, fio_env_emit *e, corpus_stats *st)
{
    long n = unescape(f[1]);
    if (n < 0) {
        st->bad_lines++;
        return;
    }
    int want = strcmp(f[0], "emit") == 0     ? FIO_ENV_EMIT
               : strcmp(f[0], "python") == 0 ? FIO_ENV_PYTHON
               : strcmp(f[0], "ignore") == 0 ? FIO_ENV_IGNORE
                                             : -1;
    if (want < 0 || nf != (want == FIO_ENV_EMIT ? 6 : 2)) {
        st->bad_lines++;
        return;
    }
    st->cases++;
    st->emit += want == FIO_ENV_EMIT;
    st->python += want == FIO_ENV_PYTHON;
    st->ignore += want == FIO_ENV_IGNORE;
    int route = read_msg(f[1], (size_t)n, e);
    CHECK(route == want, "line %d: route %d, want %d (%s)", lineno, route, want, f[0]);
    if (route != FIO_ENV_EMIT || want != FIO_ENV_EMIT)
        return;
    long nslen = unescape(f[2]), plen = unescape(f[5]);
    CHECK(nslen >= 0 && mem_eq(e->ns.p, e->ns.n, f[2], (size_t)nslen), "line %d: ns %.*s",
          lineno, (int)e->ns.n, e->ns.p);
    CHECK(names_match(f[3], e->rooms, e->nrooms), "line %d: rooms (%zu)", lineno, e->nrooms);
    CHECK(names_match(f[4], e->skip, e->nskip), "line %d: skips (%zu)", lineno, e->nskip);
    CHECK(plen >= 0 && mem_eq(e->packet.data, e->packet.len, f[5], (size_t)plen),
          "line %d: packet\n  got  %.*s\n  want %s", lineno, (int)e->packet.len,
          e->packet.data ? e->packet.data : "", f[5]);
}

typedef struct corpus_run {
    fio_env_emit e;       /* one struct for all lines: reuse is part of the test */
    corpus_stats st;
    fio_buf *msgs;
} corpus_run;

static void corpus_case(void *ctx, char **f, int nf, int lineno)
{
    corpus_run *run = ctx;
    if (nf >= 2) {
        /* the message, still escaped: keep a decoded copy for the loop */
        char *copy = dup_exact(f[1], strlen(f[1]) + 1);
        long n = unescape(copy);
        uint32_t len = n < 0 ? 0 : (uint32_t)n;
        if (fio_buf_append(run->msgs, &len, sizeof len) < 0 ||
            fio_buf_append(run->msgs, copy, len) < 0)
            exit(2);
        free(copy);
    }
    corpus_line(f, nf, lineno, &run->e, &run->st);
}

/* Runs dir/envelope.txt; appends every message to *msgs (for the random
 * loop) as length-prefixed records. */
static void test_corpus(const char *dir, fio_buf *msgs)
{
    corpus_run run = {.st = {0, 0, 0, 0, 0}, .msgs = msgs};
    fio_env_emit_init(&run.e);
    int cases = corpus_each_line(dir, "envelope.txt", corpus_case, &run);
    fio_env_emit_free(&run.e);
    CHECK(cases >= 0, "cannot open %s/envelope.txt", dir);
    if (cases < 0)
        return;
    corpus_stats st = run.st;
    CHECK(st.bad_lines == 0, "%d malformed corpus lines", st.bad_lines);
    CHECK(st.emit >= 40 && st.python >= 40 && st.ignore >= 20,
          "corpus: %d emit, %d python, %d ignore", st.emit, st.python, st.ignore);
    printf("corpus: %d cases (%d emit, %d python, %d ignore)\n", st.cases, st.emit, st.python,
           st.ignore);
}

/* ------------------------------------------------------------- unit tests */

static void test_storage(void)
{
    fio_env_emit e;
    fio_env_emit_init(&e);
    const char *m = "{\"method\":\"emit\",\"event\":\"ev\",\"data\":[1],\"namespace\":\"/n\","
                    "\"room\":[\"a\",\"b\"],\"skip_sid\":[\"s\",\"\"]}";
    CHECK(read_msg(m, strlen(m), &e) == FIO_ENV_EMIT, "emit");
    CHECK(str_inside(e.ns, &e.names) && e.nrooms == 2 && e.nskip == 2, "names");
    for (size_t i = 0; i < e.nrooms; i++)
        CHECK(str_inside(e.rooms[i], &e.names), "room %zu inside names", i);
    for (size_t i = 0; i < e.nskip; i++)
        CHECK(str_inside(e.skip[i], &e.names) && e.skip[i].p != NULL, "skip %zu inside", i);
    CHECK(e.skip[1].n == 0, "empty skip sid");
    CHECK(mem_eq(e.packet.data, e.packet.len, "2/n,[\"ev\",1]", 12), "packet");

    /* A message of another route leaves no names behind. */
    const char *p = "{\"method\":\"disconnect\",\"sid\":\"s\",\"namespace\":\"/\"}";
    CHECK(read_msg(p, strlen(p), &e) == FIO_ENV_PYTHON, "python");
    CHECK(e.nrooms == 0 && e.nskip == 0 && e.ns.n == 0, "reset on a non-emit");

    /* Growth: a long message after a short one. */
    fio_buf big;
    fio_buf_init(&big);
    const char *head = "{\"method\":\"emit\",\"event\":\"ev\",\"namespace\":\"/\",\"room\":[";
    CHECK(fio_buf_append(&big, head, strlen(head)) == 0, "append");
    for (int i = 0; i < 64; i++) {
        char room[160];
        int len = snprintf(room, sizeof room, "%s\"%0100d\"", i ? "," : "", i);
        CHECK(fio_buf_append(&big, room, (size_t)len) == 0, "append");
    }
    const char *tail = "],\"data\":[\"\\u00e9\"]}";
    CHECK(fio_buf_append(&big, tail, strlen(tail)) == 0, "append");
    CHECK(read_msg(big.data, big.len, &e) == FIO_ENV_EMIT, "64 long rooms");
    int inside = e.nrooms == 64;
    for (size_t i = 0; i < e.nrooms; i++)
        inside &= str_inside(e.rooms[i], &e.names) && e.rooms[i].n == 100;
    CHECK(inside, "64 rooms of 100 bytes inside names");
    CHECK(mem_eq(e.packet.data, e.packet.len, "2[\"ev\",\"\\u00e9\"]", 16), "packet %s",
          e.packet.data);
    fio_buf_free(&big);

    fio_env_emit_free(&e);
    CHECK(e.packet.data == NULL && e.names.data == NULL, "free releases");
    CHECK(read_msg(m, strlen(m), &e) == FIO_ENV_EMIT, "usable after free");
    fio_env_emit_free(&e);

    fio_env_emit_init(&e);
    CHECK(fio_env_read(NULL, 0, HOST, strlen(HOST), &e) == FIO_ENV_IGNORE, "empty message");
    /* The host id is compared whole: a prefix is another host. */
    const char *own = "{\"method\":\"emit\",\"event\":\"e\",\"data\":[],\"namespace\":\"/\","
                      "\"host_id\":\"0123\"}";
    char *q = dup_exact(own, strlen(own));
    CHECK(fio_env_read(q, strlen(own), "0123", 4, &e) == FIO_ENV_IGNORE, "own host");
    CHECK(fio_env_read(q, strlen(own), "012", 3, &e) == FIO_ENV_EMIT, "prefix host");
    CHECK(fio_env_read(q, strlen(own), "01234", 5, &e) == FIO_ENV_EMIT, "longer host");
    free(q);
    fio_env_emit_free(&e);
}

/* Number texts: copied when Python writes them so, else the message goes to
 * Python (the corpus checks the accepted forms against the reference). */
static void test_numbers(void)
{
    static const struct {
        const char *text;
        int emit;
    } cases[] = {
        {"0", 1}, {"-1", 1}, {"100", 1}, {"-0", 0},
        {"0.0", 1}, {"-0.0", 1}, {"0.00", 0},
        {"1.0", 1}, {"1.50", 0}, {"100.0", 1}, {"1e2", 0},
        {"0.1", 1}, {"0.0001", 1}, {"1e-04", 0},
        {"1e-05", 1}, {"0.00001", 0}, {"1e-5", 0}, {"1.5e-07", 1}, {"1.5e-7", 0},
        {"1234567890123456.0", 1}, {"1.234567890123456e+15", 0},
        {"1e+16", 1}, {"1e16", 0}, {"1E+16", 0}, {"1.0e+16", 0}, {"1e+016", 0},
        {"10000000000000000.0", 0}, {"1.2345678901234567e+16", 1},
        {"0.30000000000000004", 1}, {"0.300000000000000044", 0},
        {"12.345678901234567", 1}, {"12.3456789012345678", 0},
        {"1e+100", 1}, {"1e+307", 1}, {"1e+308", 0}, {"1e-307", 1}, {"1e-308", 0},
        {"5e-324", 0}, {"1e+400", 0}, {"1e+99999", 0},
        {"NaN", 1}, {"Infinity", 1}, {"-Infinity", 1},
    };
    fio_env_emit e;
    fio_env_emit_init(&e);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char m[256];
        int n = snprintf(m, sizeof m,
                         "{\"method\":\"emit\",\"event\":\"e\",\"data\":[1,%s],\"namespace\":\"/\"}",
                         cases[i].text);
        int want = cases[i].emit ? FIO_ENV_EMIT : FIO_ENV_PYTHON;
        int route = read_msg(m, (size_t)n, &e);
        CHECK(route == want, "number %s: route %d, want %d", cases[i].text, route, want);
        if (route == FIO_ENV_EMIT) {
            char p[128];
            int pn = snprintf(p, sizeof p, "2[\"e\",1,%s]", cases[i].text);
            CHECK(mem_eq(e.packet.data, e.packet.len, p, (size_t)pn), "number %s copied",
                  cases[i].text);
        }
    }
    /* Outside "event" and "data" numbers are not rewritten, so any form goes. */
    const char *m = "{\"method\":\"emit\",\"event\":\"e\",\"data\":[],\"namespace\":\"/\","
                    "\"x\":[1e16,-0,1.50]}";
    CHECK(read_msg(m, strlen(m), &e) == FIO_ENV_EMIT, "numbers in other keys");
    fio_env_emit_free(&e);
}

/* ---------------------------------------------------------- random inputs */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char ALPHABET[] = "{}[],:\"\\ -+.eE0123456789ntfuNI/|#\t\n\x01\x7f\xc3\xa9\xed\xa0\xff";

static size_t mutate(char *s, size_t n, size_t cap)
{
    int ops = 1 + (int)(rng() % 3);
    for (int k = 0; k < ops; k++) {
        size_t at = n ? (size_t)(rng() % n) : 0;
        char ch = ALPHABET[rng() % (sizeof ALPHABET - 1)];
        switch (rng() % 4) {
        case 0:
            if (n)
                s[at] = ch;
            break;
        case 1:
            if (n < cap) {
                memmove(s + at + 1, s + at, n - at);
                s[at] = ch;
                n++;
            }
            break;
        case 2:
            if (n) {
                memmove(s + at, s + at + 1, n - at - 1);
                n--;
            }
            break;
        default:
            n = at + (n - at) / 2;   /* cut the tail short */
        }
    }
    return n;
}

/* The packet's array split at its first item: `"event"` and the rest. */
typedef struct split {
    size_t count;
    fio_str first, second, last;
} split;

static int split_item(void *ctx, fio_str item)
{
    split *s = ctx;
    if (s->count == 0)
        s->first = item;
    if (s->count == 1)
        s->second = item;
    s->last = item;
    s->count++;
    return 0;
}

/* What an EMIT result must satisfy, and that the packet is a fixed point:
 * a message made of its event and arguments gives the same packet back. */
static int check_emit(fio_env_emit *e)
{
    const fio_buf *pk = &e->packet;
    if (e->ns.n == 0 || !str_inside(e->ns, &e->names) || e->nrooms > FIO_ENV_MAX_NAMES ||
        e->nskip > FIO_ENV_MAX_NAMES || pk->len < 2 || pk->data[0] != '2')
        return 0;
    for (size_t i = 0; i < e->nrooms; i++)
        if (e->rooms[i].n == 0 || !str_inside(e->rooms[i], &e->names))
            return 0;
    for (size_t i = 0; i < e->nskip; i++)
        if (!str_inside(e->skip[i], &e->names))
            return 0;
    size_t body = 1;
    if (!(e->ns.n == 1 && e->ns.p[0] == '/'))
        body += e->ns.n + 1;
    if (body >= pk->len)
        return 0;
    const char *js = pk->data + body;
    size_t jn = pk->len - body;
    for (size_t i = 0; i < jn; i++)
        if ((unsigned char)js[i] > 0x7e || (unsigned char)js[i] < 0x20)
            return 0;   /* ensure_ascii, and no raw whitespace but spaces in strings */
    split s = {0, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    if (fio_json_array_each(js, jn, split_item, &s) != 0 || s.count == 0 || s.first.p[0] != '"')
        return 0;

    fio_buf m;
    fio_buf_init(&m);
    int ok = fio_buf_append(&m, "{\"method\":\"emit\",\"namespace\":\"/\",\"event\":", 41) == 0 &&
             fio_buf_append(&m, s.first.p, s.first.n) == 0 &&
             fio_buf_append(&m, ",\"data\":[", 9) == 0 &&
             (s.count == 1 ||
              fio_buf_append(&m, s.second.p, (size_t)(s.last.p + s.last.n - s.second.p)) == 0) &&
             fio_buf_append(&m, "]}", 2) == 0;
    fio_env_emit again;
    fio_env_emit_init(&again);
    if (ok) {
        char *p = dup_exact(m.data, m.len);
        ok = fio_env_read(p, m.len, HOST, strlen(HOST), &again) == FIO_ENV_EMIT &&
             again.packet.len >= 1 && mem_eq(again.packet.data + 1, again.packet.len - 1, js, jn);
        free(p);
    }
    fio_env_emit_free(&again);
    fio_buf_free(&m);
    return ok;
}

static void test_random(const fio_buf *msgs)
{
    enum { ITERATIONS = 100000, CAP = 1 << 14 };
    size_t nmsgs = 0;
    size_t offs[512];
    for (size_t o = 0; o + 4 <= msgs->len && nmsgs < 512;) {
        uint32_t len;
        memcpy(&len, msgs->data + o, 4);
        offs[nmsgs++] = o;
        o += 4 + len;
    }
    CHECK(nmsgs > 50, "only %zu corpus messages", nmsgs);
    if (nmsgs == 0)
        return;
    static char work[CAP];
    int counts[3] = {0, 0, 0}, bad_route = 0, bad_emit = 0, unstable = 0;
    fio_env_emit e, e2;
    fio_env_emit_init(&e);
    fio_env_emit_init(&e2);
    for (int it = 0; it < ITERATIONS; it++) {
        size_t o = offs[rng() % nmsgs];
        uint32_t len;
        memcpy(&len, msgs->data + o, 4);
        if (len > CAP)
            continue;
        memcpy(work, msgs->data + o + 4, len);
        size_t n = mutate(work, len, CAP);
        int route = read_msg(work, n, &e);
        if (route < 0 || route > FIO_ENV_EMIT) {
            bad_route++;
            continue;
        }
        counts[route]++;
        if (route == FIO_ENV_EMIT && !check_emit(&e))
            bad_emit++;
        /* The same message read into another struct: the same outcome. */
        if (it % 8 == 0 &&
            (read_msg(work, n, &e2) != route ||
             (route == FIO_ENV_EMIT && !mem_eq(e.packet.data, e.packet.len, e2.packet.data,
                                               e2.packet.len))))
            unstable++;
    }
    fio_env_emit_free(&e);
    fio_env_emit_free(&e2);
    CHECK(bad_route == 0, "%d invalid routes", bad_route);
    CHECK(bad_emit == 0, "%d EMIT results broke invariants", bad_emit);
    CHECK(unstable == 0, "%d results differed on a second read", unstable);
    CHECK(counts[FIO_ENV_EMIT] > 5000 && counts[FIO_ENV_PYTHON] > 5000 &&
              counts[FIO_ENV_IGNORE] > 5000,
          "routes: %d ignore, %d python, %d emit", counts[0], counts[1], counts[2]);
    printf("random: %d ignore, %d python, %d emit\n", counts[0], counts[1], counts[2]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    fio_buf msgs;
    fio_buf_init(&msgs);
    test_corpus(argv[1], &msgs);
    test_storage();
    test_numbers();
    test_random(&msgs);
    fio_buf_free(&msgs);
    return check_summary();
}
