/* libFuzzer target: csrc/core/jsonscan.c.
 *
 * The input is one JSON text. Checked, on it and recursively on the items
 * and member values it holds (a few levels deep):
 *  - fio_json_kind, fio_json_compact, fio_json_array_each,
 *    fio_json_object_get and fio_json_string_decode agree on validity (each
 *    accepts exactly the texts of its kind) and leave out unchanged on a
 *    refusal;
 *  - compact: not longer than the input, same kind, idempotent;
 *  - array_each: every item is a trimmed valid value, "[" + the compacted
 *    items joined by "," + "]" is the compacted array, a callback's
 *    non-zero value stops the walk and is returned;
 *  - object_get: for a set of keys (plain, empty, non-ASCII, a lone
 *    surrogate, ones spelt with escapes) the value is the last member with
 *    that key as an independent walk over the members finds it (keys
 *    compared after decoding), and the same after compacting;
 *  - string_decode equals an independent decoder (fuzz_json.h), and round
 *    trips: the decoded bytes, written back as a token
 *    (raw bytes, only '"', '\\' and controls escaped), decode to the same
 *    bytes; when they are WTF-8, the token with every UTF-16 unit escaped
 *    decodes to the same units (a pair of surrogate escapes joins into one
 *    4-byte character); decoding never lengthens. */
#include "fuzz_json.h"

#define MAX_RECURSE 4

static const char *const KEYS[] = {
    "a", "data", "type", "", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\"", "\\",
    "__proto__", "toString",
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static void check_value(const char *p, size_t n, int level);

static void check_string(const char *t, size_t n)
{
    static const char prefix[] = "pre";
    fio_buf dec, ref, tok, again, u1, u2;
    fio_buf_init(&dec);
    fio_buf_init(&ref);
    fio_buf_init(&tok);
    fio_buf_init(&again);
    fio_buf_init(&u1);
    fio_buf_init(&u2);
    fz_buf_set(&dec, prefix, 3);
    FZ_OK(fio_json_string_decode(t, n, &dec));
    FZ_CHECK(memcmp(dec.data, prefix, 3) == 0 && dec.len - 3 <= n - 2);
    const unsigned char *d = (const unsigned char *)dec.data + 3;
    size_t dn = dec.len - 3;
    if (!memchr(t, '\\', n))
        FZ_CHECK(fz_eq(d, dn, t + 1, n - 2));
    fz_ref_string_decode(t, n, &ref);
    FZ_CHECK(fz_eq(d, dn, ref.data, ref.len));

    fz_escape_raw(d, dn, &tok);
    FZ_CHECK(fio_json_kind(tok.data, tok.len) == FIO_JSON_STRING);
    FZ_OK(fio_json_string_decode(tok.data, tok.len, &again));
    FZ_CHECK(fz_eq(again.data, again.len, d, dn));

    if (fz_utf16(d, dn, &u1) == 0) {
        tok.len = again.len = 0;
        fz_escape_units((const uint16_t *)(const void *)u1.data, u1.len / 2, &tok);
        FZ_OK(fio_json_string_decode(tok.data, tok.len, &again));
        FZ_OK(fz_utf16((const unsigned char *)again.data, again.len, &u2));
        FZ_CHECK(fz_eq(u1.data, u1.len, u2.data, u2.len));
    }
    fio_buf_free(&dec);
    fio_buf_free(&ref);
    fio_buf_free(&tok);
    fio_buf_free(&again);
    fio_buf_free(&u1);
    fio_buf_free(&u2);
}

/* ---------------------------------------------------------------- arrays */

typedef struct items {
    const char *base;
    size_t n;
    fio_buf joined;   /* "[" + compacted items joined by "," */
    size_t count;
    int level;
} items;

static int on_item(void *ctx, fio_str item)
{
    items *it = ctx;
    FZ_CHECK(item.n > 0 && item.p > it->base && item.p + item.n < it->base + it->n);
    FZ_CHECK(!fz_is_ws(item.p[0]) && !fz_is_ws(item.p[item.n - 1]));
    char *copy = fz_dup(item.p, item.n);
    FZ_CHECK(fio_json_kind(copy, item.n) != FIO_JSON_INVALID);
    if (it->count++ > 0)
        FZ_OK(fio_buf_putc(&it->joined, ','));
    FZ_OK(fio_json_compact(copy, item.n, &it->joined));
    if (it->level < MAX_RECURSE)
        check_value(copy, item.n, it->level + 1);
    free(copy);
    return 0;
}

static int stop_first(void *ctx, fio_str item)
{
    (void)item;
    ++*(int *)ctx;
    return 5;
}

static void check_array(const char *p, size_t n, enum fio_json_kind kind, const fio_buf *compact,
                        int level)
{
    items it = {p, n, {0}, 0, level};
    fio_buf_init(&it.joined);
    FZ_OK(fio_buf_putc(&it.joined, '['));
    int rc = fio_json_array_each(p, n, on_item, &it);
    FZ_CHECK(rc == (kind == FIO_JSON_ARRAY ? 0 : -1));
    if (rc == 0) {
        FZ_OK(fio_buf_putc(&it.joined, ']'));
        FZ_CHECK(fz_eq(it.joined.data, it.joined.len, compact->data, compact->len));
        int calls = 0;
        rc = fio_json_array_each(p, n, stop_first, &calls);
        FZ_CHECK(it.count == 0 ? rc == 0 && calls == 0 : rc == 5 && calls == 1);
    } else {
        FZ_CHECK(it.count == 0);
    }
    fio_buf_free(&it.joined);
}

/* --------------------------------------------------------------- objects */

/* The independent walk: for each key, the last member's value. */
static void walk_members(const char *p, size_t n, fio_str *want)
{
    fio_buf key;
    fio_buf_init(&key);
    for (size_t j = 0; j < NKEYS; j++)
        want[j] = (fio_str){NULL, 0};
    size_t i = fz_skip_ws(p, n, 0);
    FZ_CHECK(p[i] == '{');
    i = fz_skip_ws(p, n, i + 1);
    while (p[i] != '}') {
        size_t ke = fz_skip_string(p, n, i);
        key.len = 0;
        FZ_OK(fio_json_string_decode(p + i, ke - i, &key));
        i = fz_skip_ws(p, n, ke);
        FZ_CHECK(p[i] == ':');
        i = fz_skip_ws(p, n, i + 1);
        size_t ve = fz_skip_value(p, n, i);
        for (size_t j = 0; j < NKEYS; j++)
            if (fz_eq(key.data, key.len, KEYS[j], strlen(KEYS[j])))
                want[j] = (fio_str){p + i, ve - i};
        i = fz_skip_ws(p, n, ve);
        if (p[i] == ',')
            i = fz_skip_ws(p, n, i + 1);
    }
    fio_buf_free(&key);
}

static void check_object(const char *p, size_t n, enum fio_json_kind kind, const fio_buf *compact,
                         int level)
{
    fio_str v[NKEYS], want[NKEYS], cv[NKEYS];
    memset(v, 0xA5, sizeof v);
    int rc = fio_json_object_get(p, n, KEYS, NKEYS, v);
    FZ_CHECK(rc == (kind == FIO_JSON_OBJECT ? 0 : -1));
    if (rc != 0) {
        for (size_t j = 0; j < NKEYS; j++)
            FZ_CHECK(v[j].p == NULL && v[j].n == 0);
        return;
    }
    walk_members(p, n, want);
    FZ_OK(fio_json_object_get(compact->data, compact->len, KEYS, NKEYS, cv));
    fio_buf a, b;
    fio_buf_init(&a);
    fio_buf_init(&b);
    for (size_t j = 0; j < NKEYS; j++) {
        FZ_CHECK(v[j].p == want[j].p && v[j].n == want[j].n);
        FZ_CHECK((v[j].p == NULL) == (cv[j].p == NULL));
        if (!v[j].p)
            continue;
        char *copy = fz_dup(v[j].p, v[j].n);
        a.len = b.len = 0;
        FZ_OK(fio_json_compact(copy, v[j].n, &a));
        FZ_OK(fio_json_compact(cv[j].p, cv[j].n, &b));
        FZ_CHECK(fz_eq(a.data, a.len, b.data, b.len));
        if (level < MAX_RECURSE)
            check_value(copy, v[j].n, level + 1);
        free(copy);
    }
    fio_buf_free(&a);
    fio_buf_free(&b);
}

/* ------------------------------------------------------------------ all */

static void check_value(const char *p, size_t n, int level)
{
    static const char prefix[] = "pre";
    enum fio_json_kind kind = fio_json_kind(p, n);
    FZ_CHECK(kind >= FIO_JSON_INVALID && kind <= FIO_JSON_OBJECT);

    fio_buf out, again;
    fio_buf_init(&out);
    fio_buf_init(&again);
    fz_buf_set(&out, prefix, 3);
    int rc = fio_json_compact(p, n, &out);
    FZ_CHECK(rc == (kind == FIO_JSON_INVALID ? -1 : 0));
    FZ_CHECK(memcmp(out.data, prefix, 3) == 0);
    fio_buf c;   /* the compacted text alone */
    fio_buf_init(&c);
    if (rc != 0) {
        FZ_CHECK(out.len == 3);
    } else {
        fz_buf_set(&c, out.data + 3, out.len - 3);
        FZ_CHECK(c.len <= n && c.len > 0);
        FZ_CHECK(fio_json_kind(c.data, c.len) == kind);
        FZ_OK(fio_json_compact(c.data, c.len, &again));
        FZ_CHECK(fz_eq(again.data, again.len, c.data, c.len));
    }

    /* string_decode takes exactly one token, no surrounding whitespace */
    fio_buf dec;
    fio_buf_init(&dec);
    rc = fio_json_string_decode(p, n, &dec);
    int token = kind == FIO_JSON_STRING && p[0] == '"' && p[n - 1] == '"';
    FZ_CHECK(rc == (token ? 0 : -1));
    if (rc != 0)
        FZ_CHECK(dec.len == 0);
    fio_buf_free(&dec);
    if (kind == FIO_JSON_STRING)
        check_string(c.data, c.len);

    check_array(p, n, kind, &c, level);
    check_object(p, n, kind, &c, level);
    fio_buf_free(&out);
    fio_buf_free(&again);
    fio_buf_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_value((const char *)data, size, 0);
    return 0;
}
