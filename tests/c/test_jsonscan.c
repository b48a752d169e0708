/* Tests of csrc/core/jsonscan.c: the grammar (what is accepted and refused),
 * each function's contract, the nesting bound, and a randomized loop over
 * mutations of valid texts that checks the functions agree with each other.
 *
 * Usage: test_jsonscan [corpus-dir] (the directory is not used). Every input
 * is copied into a heap buffer of exactly its length so that ASan catches any
 * read past the end. Prints "<n> passed, <m> failed"; exit status 1 if m > 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonscan.h"

#include "check.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

static enum fio_json_kind kind_of(const char *s, size_t n)
{
    char *p = dup_exact(s, n);
    enum fio_json_kind k = fio_json_kind(p, n);
    free(p);
    return k;
}

static enum fio_json_kind kind_str(const char *s)
{
    return kind_of(s, strlen(s));
}

/* compact(s) as a NUL-terminated heap string, or NULL when refused. */
static char *compact_str(const char *s, size_t n, int *rc)
{
    char *p = dup_exact(s, n);
    fio_buf b;
    fio_buf_init(&b);
    *rc = fio_json_compact(p, n, &b);
    free(p);
    if (*rc != 0) {
        fio_buf_free(&b);
        return NULL;
    }
    char *r = dup_exact(b.data ? b.data : "", b.len + 1);
    r[b.len] = '\0';
    fio_buf_free(&b);
    return r;
}

/* ------------------------------------------------------------- grammar */

static void test_kinds(void)
{
    static const struct {
        const char *text;
        enum fio_json_kind kind;
    } cases[] = {
        {"null", FIO_JSON_NULL},
        {" \t\r\n true \n", FIO_JSON_TRUE},
        {"false", FIO_JSON_FALSE},
        {"0", FIO_JSON_NUMBER},
        {"-0", FIO_JSON_NUMBER},
        {"-0.0", FIO_JSON_NUMBER},
        {"12345678901234567890123456789", FIO_JSON_NUMBER},
        {"1.5e-07", FIO_JSON_NUMBER},
        {"1E+16", FIO_JSON_NUMBER},
        {"1e16", FIO_JSON_NUMBER},
        {"0.1", FIO_JSON_NUMBER},
        {"NaN", FIO_JSON_NUMBER},
        {"Infinity", FIO_JSON_NUMBER},
        {"-Infinity", FIO_JSON_NUMBER},
        {"\"\"", FIO_JSON_STRING},
        {"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"", FIO_JSON_STRING},
        {"\"\xc3\xa9\xff\x7f\"", FIO_JSON_STRING},   /* UTF-8 is not checked */
        {"[]", FIO_JSON_ARRAY},
        {"[ 1 , [ ] , { } ]", FIO_JSON_ARRAY},
        {"{}", FIO_JSON_OBJECT},
        {"{ \"a\" : 1 , \"b\" : [ null ] }", FIO_JSON_OBJECT},
        {"{\"a\":{\"a\":{\"a\":\"\"}}}", FIO_JSON_OBJECT},

        {"", FIO_JSON_INVALID},
        {" ", FIO_JSON_INVALID},
        {"nul", FIO_JSON_INVALID},
        {"nulll", FIO_JSON_INVALID},
        {"True", FIO_JSON_INVALID},
        {"nan", FIO_JSON_INVALID},
        {"-NaN", FIO_JSON_INVALID},
        {"infinity", FIO_JSON_INVALID},
        {"-", FIO_JSON_INVALID},
        {"-a", FIO_JSON_INVALID},
        {"+1", FIO_JSON_INVALID},
        {"01", FIO_JSON_INVALID},
        {"-01", FIO_JSON_INVALID},
        {"00", FIO_JSON_INVALID},
        {"1.", FIO_JSON_INVALID},
        {".5", FIO_JSON_INVALID},
        {"1.e5", FIO_JSON_INVALID},
        {"1e", FIO_JSON_INVALID},
        {"1e+", FIO_JSON_INVALID},
        {"0x10", FIO_JSON_INVALID},
        {"1 2", FIO_JSON_INVALID},
        {"\"abc", FIO_JSON_INVALID},
        {"\"abc\\\"", FIO_JSON_INVALID},
        {"\"\\", FIO_JSON_INVALID},
        {"\"a\tb\"", FIO_JSON_INVALID},
        {"\"a\nb\"", FIO_JSON_INVALID},
        {"\"\x1f\"", FIO_JSON_INVALID},
        {"\" \x7f\"", FIO_JSON_STRING},
        {"\"\\x41\"", FIO_JSON_INVALID},
        {"\"\\u12\"", FIO_JSON_INVALID},
        {"\"\\u12g4\"", FIO_JSON_INVALID},
        {"\"\\U0041\"", FIO_JSON_INVALID},
        {"\"\\'\"", FIO_JSON_INVALID},
        {"[", FIO_JSON_INVALID},
        {"[1", FIO_JSON_INVALID},
        {"[1,", FIO_JSON_INVALID},
        {"[1,]", FIO_JSON_INVALID},
        {"[,1]", FIO_JSON_INVALID},
        {"[1 2]", FIO_JSON_INVALID},
        {"]", FIO_JSON_INVALID},
        {"[]]", FIO_JSON_INVALID},
        {"{", FIO_JSON_INVALID},
        {"{\"a\"}", FIO_JSON_INVALID},
        {"{\"a\":}", FIO_JSON_INVALID},
        {"{\"a\":1,}", FIO_JSON_INVALID},
        {"{a:1}", FIO_JSON_INVALID},
        {"{1:1}", FIO_JSON_INVALID},
        {"{\"a\" 1}", FIO_JSON_INVALID},
        {"{\"a\":1 \"b\":2}", FIO_JSON_INVALID},
        {"{}}", FIO_JSON_INVALID},
        {"\xef\xbb\xbf{}", FIO_JSON_INVALID},
        {"\v1", FIO_JSON_INVALID},
        {"[1]x", FIO_JSON_INVALID},
        {"/* */1", FIO_JSON_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum fio_json_kind k = kind_str(cases[i].text);
        CHECK(k == cases[i].kind, "kind(%s) = %d, want %d", cases[i].text, k, cases[i].kind);
    }
    /* A NUL byte is a control character inside strings and garbage outside. */
    CHECK(kind_of("\"a\0b\"", 5) == FIO_JSON_INVALID, "NUL in a string");
    CHECK(kind_of("1\0", 2) == FIO_JSON_INVALID, "NUL after a value");
    CHECK(kind_of("\"a\"", 3) == FIO_JSON_STRING, "exact-size string");
    CHECK(fio_json_kind(NULL, 0) == FIO_JSON_INVALID, "NULL, 0");
}

/* Nesting: FIO_JSON_MAX_DEPTH containers are fine, one more is not, and a
 * very deep text is refused without exhausting the stack. */
static void test_depth(void)
{
    size_t big = 200000;
    char *s = malloc(2 * big + 8);
    if (!s)
        exit(2);
    /* {"k":[{"k":[ ... 0 ... ]}]} or [{"k":[ ... with d containers in all,
     * so that the innermost one is an object or an array either way. */
    for (int shape = 0; shape < 4; shape++) {
        int extra = shape & 1, first_array = shape >> 1;
        size_t d = FIO_JSON_MAX_DEPTH + (size_t)extra, n = 0;
        for (size_t i = 0; i < d; i++) {
            if ((i + (size_t)first_array) % 2 == 0) {
                memcpy(s + n, "{\"k\":", 5);
                n += 5;
            } else {
                s[n++] = '[';
            }
        }
        s[n++] = '0';
        for (size_t i = d; i-- > 0;)
            s[n++] = (i + (size_t)first_array) % 2 == 0 ? '}' : ']';
        enum fio_json_kind want = extra ? FIO_JSON_INVALID
                                : first_array ? FIO_JSON_ARRAY : FIO_JSON_OBJECT;
        CHECK(kind_of(s, n) == want, "depth %zu: kind %d", d, kind_of(s, n));
        int rc;
        char *c = compact_str(s, n, &rc);
        CHECK(rc == (extra ? -1 : 0), "compact at depth %zu: %d", d, rc);
        free(c);
    }
    memset(s, '[', big);
    CHECK(kind_of(s, big) == FIO_JSON_INVALID, "200000 '['");
    for (size_t i = 0; i < big; i++)
        s[big + i] = ']';
    CHECK(kind_of(s, 2 * big) == FIO_JSON_INVALID, "200000 nested arrays");
    free(s);
}

/* ----------------------------------------------------------- object_get */

static void test_object_get(void)
{
    const char *keys[] = {"method", "data", "absent", "\xc3\xa9", "a\"b", "emoji\xf0\x9f\x98\x80"};
    size_t nk = sizeof keys / sizeof keys[0];
    fio_str v[6];
    const char *text = " { \"data\" : [ 1 , 2 ] ,\"method\":\"first\", \"x\": {\"method\": 3},"
                       " \"method\" :\t\"last\" , \"\\u00e9\": true, \"a\\\"b\": null,"
                       " \"emoji\\ud83d\\ude00\": -1.5e3 } ";
    size_t n = strlen(text);
    char *p = dup_exact(text, n);
    CHECK(fio_json_object_get(p, n, keys, nk, v) == 0, "object_get");
    CHECK(mem_eq(v[0].p, v[0].n, "\"last\"", 6), "repeated key takes the last value: %.*s",
          (int)v[0].n, v[0].p);
    CHECK(mem_eq(v[1].p, v[1].n, "[ 1 , 2 ]", 9), "value trimmed: %.*s", (int)v[1].n, v[1].p);
    CHECK(v[2].p == NULL && v[2].n == 0, "absent key");
    CHECK(mem_eq(v[3].p, v[3].n, "true", 4), "escaped key matches decoded");
    CHECK(mem_eq(v[4].p, v[4].n, "null", 4), "key with an escaped quote");
    CHECK(mem_eq(v[5].p, v[5].n, "-1.5e3", 6), "surrogate-pair key");
    CHECK(v[0].p >= p && v[0].p + v[0].n <= p + n, "value points into the input");
    free(p);

    /* Prefix keys must not match, nor a key whose decoding is longer. */
    const char *k2[] = {"ab"};
    fio_str v2[1];
    static const char *const near[] = {"{\"a\":1}", "{\"abc\":1}", "{\"ab\\u0000\":1}",
                                       "{\"a\\u0062c\":1}", "{\"\":1}"};
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        p = dup_exact(near[i], strlen(near[i]));
        CHECK(fio_json_object_get(p, strlen(near[i]), k2, 1, v2) == 0 && v2[0].p == NULL,
              "%s must not match \"ab\"", near[i]);
        free(p);
    }
    p = dup_exact("{\"a\\u0062\":7}", 13);
    CHECK(fio_json_object_get(p, 13, k2, 1, v2) == 0 && mem_eq(v2[0].p, v2[0].n, "7", 1),
          "\\u0062 matches b");
    free(p);

    static const char *const bad[] = {"[]", "\"method\"", "{\"method\":1", "{\"method\":1}x",
                                      "{\"method\":01}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t bn = strlen(bad[i]);
        p = dup_exact(bad[i], bn);
        v[0] = (fio_str){"junk", 4};
        CHECK(fio_json_object_get(p, bn, keys, nk, v) == -1, "object_get(%s) refused", bad[i]);
        CHECK(v[0].p == NULL, "values cleared on failure");
        free(p);
    }
    p = dup_exact("{}", 2);
    CHECK(fio_json_object_get(p, 2, keys, nk, v) == 0 && v[0].p == NULL, "empty object");
    CHECK(fio_json_object_get(p, 2, NULL, 0, NULL) == 0, "no keys");
    free(p);
}

/* ----------------------------------------------------------- array_each */

typedef struct collect {
    fio_str items[16];
    size_t n;
    size_t stop_at;   /* return 7 at this index; (size_t)-1: never */
} collect;

static int collect_item(void *ctx, fio_str item)
{
    collect *c = ctx;
    if (c->n == c->stop_at)
        return 7;
    if (c->n < 16)
        c->items[c->n] = item;
    c->n++;
    return 0;
}

static void test_array_each(void)
{
    const char *text = " [ 1 , \"a,]\" ,{\"k\": [2, 3]}, [ ] ,null ] ";
    size_t n = strlen(text);
    char *p = dup_exact(text, n);
    collect c = {.stop_at = (size_t)-1};
    CHECK(fio_json_array_each(p, n, collect_item, &c) == 0, "array_each");
    CHECK(c.n == 5, "5 items, got %zu", c.n);
    static const char *const want[] = {"1", "\"a,]\"", "{\"k\": [2, 3]}", "[ ]", "null"};
    for (size_t i = 0; i < 5 && i < c.n; i++)
        CHECK(mem_eq(c.items[i].p, c.items[i].n, want[i], strlen(want[i])), "item %zu: %.*s",
              i, (int)c.items[i].n, c.items[i].p);
    c = (collect){.stop_at = 2};
    CHECK(fio_json_array_each(p, n, collect_item, &c) == 7, "fn's non-zero value returned");
    CHECK(c.n == 2, "stopped after 2 items");
    free(p);

    static const char *const bad[] = {"{}", "[1,]", "[1,2", "[1] [2]", "1", "[\"a\" \"b\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t bn = strlen(bad[i]);
        p = dup_exact(bad[i], bn);
        c = (collect){.stop_at = (size_t)-1};
        CHECK(fio_json_array_each(p, bn, collect_item, &c) == -1 && c.n == 0,
              "array_each(%s) refused before any call", bad[i]);
        free(p);
    }
    p = dup_exact("[]", 2);
    c = (collect){.stop_at = (size_t)-1};
    CHECK(fio_json_array_each(p, 2, collect_item, &c) == 0 && c.n == 0, "empty array");
    free(p);
}

/* -------------------------------------------------------------- compact */

static void test_compact(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {" [ 1 , 2 ] ", "[1,2]"},
        {"{ \"a b\" : \" x , y \" , \"c\" :\n[ true ,false, null ] }",
         "{\"a b\":\" x , y \",\"c\":[true,false,null]}"},
        {"\"\\\" \\\\ \"", "\"\\\" \\\\ \""},
        {"[ 1.5e-07 , -0.0 , 1e16 , NaN , -Infinity ]", "[1.5e-07,-0.0,1e16,NaN,-Infinity]"},
        {"\"\xc3\xa9 \\u00e9\"", "\"\xc3\xa9 \\u00e9\""},
        {"7", "7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        char *c = compact_str(cases[i].in, strlen(cases[i].in), &rc);
        CHECK(rc == 0 && c && strcmp(c, cases[i].out) == 0, "compact(%s) = %s", cases[i].in,
              c ? c : "(refused)");
        free(c);
    }
    fio_buf b;
    fio_buf_init(&b);
    CHECK(fio_buf_append(&b, "keep", 4) == 0, "append");
    char *p = dup_exact("[1,", 3);
    CHECK(fio_json_compact(p, 3, &b) == -1 && mem_eq(b.data, b.len, "keep", 4),
          "invalid: out unchanged");
    free(p);
    p = dup_exact(" [ 2 ] ", 7);
    CHECK(fio_json_compact(p, 7, &b) == 0 && mem_eq(b.data, b.len, "keep[2]", 7) &&
              b.data[b.len] == '\0', "appends, NUL-terminated");
    free(p);
    fio_buf_free(&b);
}

/* -------------------------------------------------------- string_decode */

static void test_string_decode(void)
{
    static const struct {
        const char *in;
        const char *out;
        size_t outlen;
    } cases[] = {
        {"\"\"", "", 0},
        {"\"abc\"", "abc", 3},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u00E9\\u20ac\"", "A\xc3\xa9\xc3\xa9\xe2\x82\xac", 8},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
        {"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4},
        {"\"\\ud83d\"", "\xed\xa0\xbd", 3},               /* lone high: WTF-8 */
        {"\"\\ude00\"", "\xed\xb8\x80", 3},               /* lone low */
        {"\"\\ud83dx\"", "\xed\xa0\xbdx", 4},
        {"\"\\ud83d\\ud83d\\ude00\"", "\xed\xa0\xbd\xf0\x9f\x98\x80", 7},
        {"\"\\ude00\\ud83d\"", "\xed\xb8\x80\xed\xa0\xbd", 6},
        {"\"\\ud83d\\u0041\"", "\xed\xa0\xbd" "A", 4},
        {"\"\\u0000\"", "\0", 1},
        {"\"\xc3\xa9\xf0\x9f\x98\x80\"", "\xc3\xa9\xf0\x9f\x98\x80", 6},
        {"\"\\uffff\"", "\xef\xbf\xbf", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].in);
        char *p = dup_exact(cases[i].in, n);
        fio_buf b;
        fio_buf_init(&b);
        int rc = fio_json_string_decode(p, n, &b);
        CHECK(rc == 0 && mem_eq(b.data, b.len, cases[i].out, cases[i].outlen),
              "decode(%s): rc %d, %zu bytes", cases[i].in, rc, b.len);
        fio_buf_free(&b);
        free(p);
    }
    static const char *const bad[] = {"", "\"", "abc", "\"a\" ", " \"a\"", "\"a\"\"b\"",
                                      "\"\\u12\"", "\"\\q\"", "\"a", "1", "[\"a\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        char *p = dup_exact(bad[i], n);
        fio_buf b;
        fio_buf_init(&b);
        CHECK(fio_buf_append(&b, "x", 1) == 0, "append");
        CHECK(fio_json_string_decode(p, n, &b) == -1 && mem_eq(b.data, b.len, "x", 1),
              "decode(%s) refused, out unchanged", bad[i]);
        fio_buf_free(&b);
        free(p);
    }
}

/* ---------------------------------------------------------- random inputs */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *const SEEDS[] = {
    "{\"method\": \"emit\", \"event\": \"x\", \"data\": [1, 2.5, \"s\"], \"binary\": false}",
    "[1, -0.0, 1e+16, 1.5e-07, NaN, Infinity, -Infinity, 12345678901234567890]",
    "{\"a\": {\"b\": [true, false, null, {\"c\": \"\\u00e9\\ud83d\\ude00\\n\\\"\"}]}}",
    "\"plain \\\\ string \\/ with \\t escapes\"",
    " [ [ [ ] ] , { } , \"\xc3\xa9\" ] ",
    "{\"room\": [\"r1\", \"r#2\"], \"skip_sid\": null, \"namespace\": \"/chat\"}",
    "-12.5e-3",
    "[\"\", {}, [], 0]",
};

/* Bytes that matter to the grammar, plus some that never do. */
static const char ALPHABET[] = "{}[],:\"\\ -+.eE0123456789tnrufalsNIy\t\n\r/u\x01\x7f\xc3\xa9x";

static size_t mutate(char *s, size_t n, size_t cap)
{
    int ops = 1 + (int)(rng() % 4);
    for (int k = 0; k < ops; k++) {
        size_t at = n ? (size_t)(rng() % n) : 0;
        char ch = ALPHABET[rng() % (sizeof ALPHABET - 1)];
        switch (rng() % 5) {
        case 0:   /* replace */
            if (n)
                s[at] = ch;
            break;
        case 1:   /* insert */
            if (n < cap) {
                memmove(s + at + 1, s + at, n - at);
                s[at] = ch;
                n++;
            }
            break;
        case 2:   /* delete */
            if (n) {
                memmove(s + at, s + at + 1, n - at - 1);
                n--;
            }
            break;
        case 3:   /* truncate */
            n = at;
            break;
        default: {   /* duplicate a slice */
            size_t len = (size_t)(rng() % 8);
            if (at + len <= n && n + len <= cap) {
                memmove(s + at + len, s + at, n - at);
                n += len;
            }
        }
        }
    }
    return n;
}

typedef struct rand_stats {
    int bad_compact, bad_object, bad_array, bad_string;
    int valid[FIO_JSON_OBJECT + 1];
} rand_stats;

/* For an array: "[" + join(",", compact(item)) + "]" == compact(whole). */
typedef struct rejoin {
    fio_buf joined;
    int bad;
} rejoin;

static int rejoin_item(void *ctx, fio_str item)
{
    rejoin *r = ctx;
    if (r->joined.len > 1 && fio_buf_putc(&r->joined, ',') < 0)
        r->bad = 1;
    if (item.n == 0 || fio_json_kind(item.p, item.n) == FIO_JSON_INVALID ||
        fio_json_compact(item.p, item.n, &r->joined) != 0)
        r->bad = 1;
    return 0;
}

static void check_random(const char *p, size_t n, rand_stats *st)
{
    enum fio_json_kind k = fio_json_kind(p, n);
    st->valid[k]++;

    /* compact: accepted iff valid; idempotent; same kind; never longer. */
    int rc;
    char *c = compact_str(p, n, &rc);
    if (rc != (k == FIO_JSON_INVALID ? -1 : 0))
        st->bad_compact++;
    if (c) {
        size_t cn = strlen(c);
        int rc2;
        char *cc = compact_str(c, cn, &rc2);
        if (rc2 != 0 || strcmp(cc, c) != 0 || kind_of(c, cn) != k || cn > n)
            st->bad_compact++;
        free(cc);
    }

    /* object_get: accepted iff an object; values are valid, trimmed, inside. */
    static const char *const keys[] = {"method", "a", "room", "", "b"};
    fio_str v[5];
    rc = fio_json_object_get(p, n, keys, 5, v);
    if (rc != (k == FIO_JSON_OBJECT ? 0 : -1))
        st->bad_object++;
    for (size_t i = 0; rc == 0 && i < 5; i++)
        if (v[i].p && (v[i].p < p || v[i].p + v[i].n > p + n ||
                       fio_json_kind(v[i].p, v[i].n) == FIO_JSON_INVALID || v[i].p[0] == ' ' ||
                       v[i].p[v[i].n - 1] == ' '))
            st->bad_object++;

    /* array_each: accepted iff an array; the items rebuild the compact text. */
    rejoin r = {{NULL, 0, 0}, 0};
    if (fio_buf_putc(&r.joined, '[') < 0)
        exit(2);
    rc = fio_json_array_each(p, n, rejoin_item, &r);
    if (rc != (k == FIO_JSON_ARRAY ? 0 : -1))
        st->bad_array++;
    if (rc == 0 && (fio_buf_putc(&r.joined, ']') < 0 || r.bad || !c ||
                    strcmp(r.joined.data, c) != 0))
        st->bad_array++;
    fio_buf_free(&r.joined);

    /* string_decode: accepted iff exactly a string token; never longer. */
    fio_buf d;
    fio_buf_init(&d);
    rc = fio_json_string_decode(p, n, &d);
    int exact = k == FIO_JSON_STRING && n >= 2 && p[0] == '"' && p[n - 1] == '"';
    if (rc != (exact ? 0 : -1) || (rc == 0 && d.len > n - 2) || (rc != 0 && d.len != 0))
        st->bad_string++;
    fio_buf_free(&d);
    free(c);
}

static void test_random(void)
{
    enum { ITERATIONS = 200000, CAP = 512 };
    rand_stats st;
    memset(&st, 0, sizeof st);
    char work[CAP];
    for (int it = 0; it < ITERATIONS; it++) {
        const char *seed = SEEDS[rng() % (sizeof SEEDS / sizeof SEEDS[0])];
        size_t n = strlen(seed);
        memcpy(work, seed, n);
        n = mutate(work, n, CAP);
        char *p = dup_exact(work, n);
        check_random(p, n, &st);
        free(p);
    }
    CHECK(st.bad_compact == 0, "%d compact inconsistencies", st.bad_compact);
    CHECK(st.bad_object == 0, "%d object_get inconsistencies", st.bad_object);
    CHECK(st.bad_array == 0, "%d array_each inconsistencies", st.bad_array);
    CHECK(st.bad_string == 0, "%d string_decode inconsistencies", st.bad_string);
    for (int k = FIO_JSON_NULL; k <= FIO_JSON_OBJECT; k++)
        if (k != FIO_JSON_NULL && k != FIO_JSON_TRUE && k != FIO_JSON_FALSE)
            CHECK(st.valid[k] > 500, "only %d valid texts of kind %d", st.valid[k], k);
    CHECK(st.valid[FIO_JSON_INVALID] > ITERATIONS / 4, "only %d invalid texts",
          st.valid[FIO_JSON_INVALID]);
    printf("random: %d invalid, %d number, %d string, %d array, %d object\n",
           st.valid[FIO_JSON_INVALID], st.valid[FIO_JSON_NUMBER], st.valid[FIO_JSON_STRING],
           st.valid[FIO_JSON_ARRAY], st.valid[FIO_JSON_OBJECT]);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_kinds();
    test_depth();
    test_object_get();
    test_array_each();
    test_compact();
    test_string_decode();
    test_random();
    return check_summary();
}
