/* permessage-deflate, outbound side and negotiation text. See deflate.h. */
#include "deflate.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "wsframe.h"

#define WINDOW_BITS 15
#define MEM_LEVEL 8

struct fio_deflater {
    z_stream zs;          /* raw deflate; reset before every message */
    int level;
    _Atomic uint64_t count;
};

fio_deflater *fio_deflater_new(int level)
{
    if (level < 1 || level > 9)
        return NULL;
    fio_deflater *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->level = level;
    atomic_init(&d->count, 0);
    if (deflateInit2(&d->zs, level, Z_DEFLATED, -WINDOW_BITS, MEM_LEVEL, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void fio_deflater_free(fio_deflater *d)
{
    if (!d)
        return;
    deflateEnd(&d->zs);
    free(d);
}

uint64_t fio_deflater_count(const fio_deflater *d)
{
    return atomic_load_explicit(&((fio_deflater *)d)->count, memory_order_relaxed);
}

int fio_deflate_message(fio_deflater *d, const void *in, size_t len, fio_buf *out)
{
    size_t start = out->len;
    if (deflateReset(&d->zs) != Z_OK)
        return -1;
    /* A sync flush adds at most a few bytes to deflateBound's figure; the
     * loop below grows the buffer if zlib ever wants more. */
    size_t want = (size_t)deflateBound(&d->zs, (uLong)len) + 16;
    d->zs.next_in = (Bytef *)(uintptr_t)in;
    size_t left = len;
    int rc;
    do {
        if (fio_buf_reserve(out, want) < 0)
            goto fail;
        /* zlib counts in uInt: feed and drain at most 1 GiB per round */
        uInt in_now = left > (1u << 30) ? (1u << 30) : (uInt)left;
        uInt room = out->cap - out->len - 1 > (1u << 30) ? (1u << 30)
                                                          : (uInt)(out->cap - out->len - 1);
        d->zs.avail_in = in_now;
        d->zs.next_out = (Bytef *)out->data + out->len;
        d->zs.avail_out = room;
        rc = deflate(&d->zs, left > in_now ? Z_NO_FLUSH : Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            goto fail;
        left -= in_now - d->zs.avail_in;
        out->len += room - d->zs.avail_out;
        want = 4096;
        /* done when every input byte is in and zlib left output room over */
    } while (left || d->zs.avail_out == 0);
    /* RFC 7692 7.2.1: the flush ends with 00 00 ff ff, which is removed. */
    if (out->len - start < 4 || memcmp(out->data + out->len - 4, "\0\0\xff\xff", 4) != 0)
        goto fail;
    out->len -= 4;
    out->data[out->len] = '\0';
    atomic_fetch_add_explicit(&d->count, 1, memory_order_relaxed);
    return 0;
fail:
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -1;
}

/* A compressed form of f's data (malloc'd), or NULL on oom. */
static fio_frame_z *compress_frame(fio_deflater *d, const fio_frame *f)
{
    fio_buf tmp;
    fio_buf_init(&tmp);
    fio_frame_z *z = NULL;
    if (fio_deflate_message(d, f->data, f->len, &tmp) < 0)
        goto out;
    int plain = tmp.len >= f->len;
    size_t n = plain ? 0 : tmp.len;
    z = malloc(sizeof *z + n);
    if (!z)
        goto out;
    z->plain = plain;
    z->len = n;
    if (n)
        memcpy(z->data, tmp.data, n);
out:
    fio_buf_free(&tmp);
    return z;
}

/* Header (RSV1 set) + payload. 0 / -1 oom, out unchanged. */
static int append_compressed(fio_buf *out, int binary, const unsigned char *p, size_t n)
{
    unsigned char hdr[FIO_WS_MAX_HEADER];
    size_t hl = fio_ws_frame_header(hdr, binary, n);
    hdr[0] |= 0x40;
    if (fio_buf_reserve(out, hl + n) < 0)
        return -1;
    fio_buf_append(out, hdr, hl);   /* cannot fail after the reserve */
    fio_buf_append(out, p, n);
    return 0;
}

int fio_deflate_frame_append(fio_deflater *d, fio_buf *out, fio_frame *f, size_t threshold,
                             int cache)
{
    if (f->len < threshold || f->len == 0)
        return fio_ws_frame_append(out, f->binary, f->data, f->len);
    const fio_frame_z *z = cache ? fio_frame_z_get(f) : NULL;
    fio_frame_z *mine = NULL;
    if (!z) {
        mine = compress_frame(d, f);
        if (!mine)
            return -1;
        z = mine;
        if (cache) {
            z = fio_frame_z_publish(f, mine);   /* f owns it now */
            mine = NULL;
        }
    }
    int rc = z->plain ? fio_ws_frame_append(out, f->binary, f->data, f->len)
                      : append_compressed(out, f->binary, z->data, z->len);
    free(mine);
    return rc;
}

/* ------------------------------------------------------------ negotiation text */

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* [p, e) trimmed of spaces and tabs on both ends. */
static void trim(const char **p, const char **e)
{
    while (*p < *e && is_ows(**p))
        (*p)++;
    while (*e > *p && is_ows((*e)[-1]))
        (*e)--;
}

static int token_is(const char *p, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - p) == n && strncmp(p, word, n) == 0;
}

/* Calls back for each ';'-separated element of [p, e), trimmed; the first
 * is the extension name. Returns the first nonzero answer of fn, or 0. */
typedef int (*elem_fn)(void *ctx, int index, const char *p, const char *e);

static int each_elem(const char *p, const char *e, elem_fn fn, void *ctx)
{
    for (int i = 0; p <= e; i++) {
        const char *s = memchr(p, ';', (size_t)(e - p));
        const char *end = s ? s : e;
        const char *a = p, *b = end;
        trim(&a, &b);
        int rc = fn(ctx, i, a, b);
        if (rc)
            return rc;
        if (!s)
            break;
        p = s + 1;
    }
    return 0;
}

/* An element's name: up to '=' (parameters may carry values). */
static const char *name_end(const char *p, const char *e)
{
    const char *q = memchr(p, '=', (size_t)(e - p));
    if (!q)
        return e;
    while (q > p && is_ows(q[-1]))
        q--;
    return q;
}

static int offer_elem(void *ctx, int index, const char *p, const char *e)
{
    (void)ctx;
    if (index == 0)
        return token_is(p, e, "permessage-deflate") ? 0 : 2;   /* 2: another extension */
    return token_is(p, name_end(p, e), "server_max_window_bits") ? 1 : 0;
}

int fio_pmd_offer_acceptable(const char *hdr, size_t len)
{
    const char *p = hdr, *e = hdr + len;
    while (p < e) {
        const char *comma = memchr(p, ',', (size_t)(e - p));
        const char *end = comma ? comma : e;
        int rc = each_elem(p, end, offer_elem, NULL);
        if (rc != 2)
            return rc == 0;   /* the first permessage-deflate offer decides */
        p = comma ? comma + 1 : e;
    }
    return 0;
}

typedef struct answer_seen { int name_ok, server, client; } answer_seen;

static int answer_elem(void *ctx, int index, const char *p, const char *e)
{
    answer_seen *s = ctx;
    if (index == 0) {
        s->name_ok = token_is(p, e, "permessage-deflate");
        return s->name_ok ? 0 : 1;
    }
    e = name_end(p, e);
    if (token_is(p, e, "server_no_context_takeover"))
        s->server = 1;
    else if (token_is(p, e, "client_no_context_takeover"))
        s->client = 1;
    return 0;
}

static const char ext_field[] = "Sec-WebSocket-Extensions:";

char *fio_pmd_complete_answer(char *end, size_t room)
{
    /* the line: after the previous '\n' up to the CRLF that ends at end */
    char *crlf = end - 2;
    if (crlf[0] != '\r' || crlf[1] != '\n')
        return NULL;
    char *line = crlf;
    size_t back = 0;
    while (back < FIO_PMD_LINE_MAX && line[-1] != '\n') {
        line--;
        back++;
    }
    if (line[-1] != '\n')
        return NULL;
    size_t fl = sizeof ext_field - 1;
    if ((size_t)(crlf - line) < fl || strncasecmp(line, ext_field, fl) != 0)
        return NULL;
    const char *v = line + fl;
    if (memchr(v, ',', (size_t)(crlf - v)))
        return NULL;   /* more than one extension: not the answer we know */
    answer_seen s = {0, 0, 0};
    if (each_elem(v, crlf, answer_elem, &s) || !s.name_ok)
        return NULL;
    static const char sp[] = "; server_no_context_takeover", cp[] = "; client_no_context_takeover";
    size_t add = (s.server ? 0 : sizeof sp - 1) + (s.client ? 0 : sizeof cp - 1);
    if (room < add)   /* the CRLF is rewritten in place: two bytes of it are ours */
        return NULL;
    char *w = crlf;
    if (!s.server) {
        memcpy(w, sp, sizeof sp - 1);
        w += sizeof sp - 1;
    }
    if (!s.client) {
        memcpy(w, cp, sizeof cp - 1);
        w += sizeof cp - 1;
    }
    memcpy(w, "\r\n", 2);
    return w + 2;
}
