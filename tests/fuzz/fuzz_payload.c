/* libFuzzer target: polling payloads (eio_payload_split, eio_payload_join).
 *
 * The input is a polling POST body. Checked:
 *  - an empty body is -2; otherwise the element count is the number of
 *    \x1e plus one, a max_packets below it is -1 with nothing delivered,
 *    and at or above it every element is delivered in order: contiguous
 *    views into the body, separated by exactly one \x1e, none holding one;
 *  - a callback's non-zero value stops the split and is returned;
 *  - join round trip: the elements as frames (a "b<base64>" element that
 *    decodes as a binary frame of its bytes, any other as a text frame)
 *    joined with eio_payload_join and split again give the same elements
 *    (text identical, binary decoding to the same bytes); with no binary
 *    element the joined body is the input itself;
 *  - every element goes through eio_decode_text / eio_decode_b64 from an
 *    exact-size copy (ASan sees reads past its end).
 * scripts/fuzz.sh also replays a generated 1 MB body of 500k packets. */
#include "eio.h"

#include "frame.h"
#include "fuzz_util.h"

typedef struct span {
    size_t off, len;
} span;

typedef struct collect {
    const char *base;
    size_t base_len;
    span *v;
    size_t n, cap;
    size_t stop_at;   /* return 7 on this element (index); (size_t)-1: never */
} collect;

static int on_elem(void *ctx, const char *elem, size_t len)
{
    collect *c = ctx;
    FZ_CHECK(elem >= c->base && len <= c->base_len && (size_t)(elem - c->base) <= c->base_len - len);
    size_t off = (size_t)(elem - c->base);
    size_t expect = c->n == 0 ? 0 : c->v[c->n - 1].off + c->v[c->n - 1].len + 1;
    FZ_CHECK(off == expect);
    if (c->n > 0)
        FZ_CHECK(c->base[off - 1] == EIO_RECORD_SEP);
    FZ_CHECK(memchr(elem, EIO_RECORD_SEP, len) == NULL);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        FZ_CHECK(c->v != NULL);
    }
    c->v[c->n++] = (span){off, len};
    return c->n - 1 == c->stop_at ? 7 : 0;
}

static size_t count_seps(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == EIO_RECORD_SEP;
    return k;
}

static int split(const char *s, size_t n, size_t max, size_t stop_at, collect *c)
{
    c->base = s;
    c->base_len = n;
    c->n = 0;
    c->stop_at = stop_at;
    return eio_payload_split(s, n, max, on_elem, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    collect c = {0};
    if (size == 0) {
        FZ_CHECK(split(s, 0, 16, (size_t)-1, &c) == -2 && c.n == 0);
        return 0;
    }
    size_t count = count_seps(s, size) + 1;
    FZ_CHECK(split(s, size, count - 1, (size_t)-1, &c) == -1 && c.n == 0);
    FZ_CHECK(split(s, size, count, count / 2, &c) == 7 && c.n == count / 2 + 1);
    FZ_CHECK(split(s, size, (size_t)-1, (size_t)-1, &c) == 0 && c.n == count);
    size_t last = c.v[count - 1].off + c.v[count - 1].len;
    FZ_CHECK(last == size);

    /* Elements as frames; decode each from an exact-size copy. */
    fio_frame **frames = malloc(count * sizeof *frames);
    FZ_CHECK(frames != NULL);
    size_t nbinary = 0;
    fio_buf bin;
    fio_buf_init(&bin);
    for (size_t i = 0; i < count; i++) {
        char *e = fz_dup(s + c.v[i].off, c.v[i].len);
        size_t n = c.v[i].len;
        int type;
        const char *d;
        size_t dn;
        if (eio_decode_text(e, n, &type, &d, &dn) == 0)
            FZ_CHECK(d == e + 1 && dn == n - 1);
        bin.len = 0;
        if (eio_is_b64(e, n) && eio_decode_b64(e, n, &bin) == 0) {
            frames[i] = fio_frame_new(bin.data, bin.len, 1);
            nbinary++;
        } else {
            frames[i] = fio_frame_new(e, n, 0);
        }
        FZ_CHECK(frames[i] != NULL);
        free(e);
    }

    fio_buf body;
    fio_buf_init(&body);
    FZ_OK(eio_payload_join(frames, count, &body));
    if (nbinary == 0)
        FZ_CHECK(fz_eq(body.data, body.len, s, size));
    char *copy = fz_dup(body.data, body.len);
    collect c2 = {0};
    FZ_CHECK(split(copy, body.len, count, (size_t)-1, &c2) == 0 && c2.n == count);
    for (size_t i = 0; i < count; i++) {
        const char *e = copy + c2.v[i].off;
        size_t n = c2.v[i].len;
        if (frames[i]->binary) {
            bin.len = 0;
            FZ_OK(eio_decode_b64(e, n, &bin));
            FZ_CHECK(fz_eq(bin.data, bin.len, frames[i]->data, frames[i]->len));
        } else {
            FZ_CHECK(fz_eq(e, n, frames[i]->data, frames[i]->len));
        }
        fio_frame_unref(frames[i]);
    }
    free(copy);
    free(frames);
    free(c.v);
    free(c2.v);
    fio_buf_free(&bin);
    fio_buf_free(&body);
    return 0;
}
