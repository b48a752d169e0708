/* Inbound permessage-deflate. See inflate.h. */
#include "inflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#define WINDOW_BITS 15   /* inflates any client window (8..15) */
#define CHUNK 16384

struct fio_inflater {
    z_stream zs;   /* raw inflate; reset before every message */
};

fio_inflater *fio_inflater_new(void)
{
    fio_inflater *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    if (inflateInit2(&z->zs, -WINDOW_BITS) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void fio_inflater_free(fio_inflater *z)
{
    if (!z)
        return;
    inflateEnd(&z->zs);
    free(z);
}

/* One inflate call into out: a chunk of room past what it holds, at most one
 * byte past max_out bytes since start (inflating into that byte means too
 * large). *zr: zlib's answer, *got: bytes it wrote. FIO_INFLATE_OK, _OOM or
 * _TOO_LARGE. */
static int step(z_stream *zs, size_t start, size_t max_out, fio_buf *out, int *zr, size_t *got)
{
    size_t room = max_out - (out->len - start) + 1;
    size_t chunk = room < CHUNK ? room : CHUNK;
    if (fio_buf_reserve(out, chunk) < 0)
        return FIO_INFLATE_OOM;
    zs->next_out = (Bytef *)out->data + out->len;
    zs->avail_out = (uInt)chunk;
    *zr = inflate(zs, Z_SYNC_FLUSH);
    *got = chunk - zs->avail_out;
    out->len += *got;
    return out->len - start > max_out ? FIO_INFLATE_TOO_LARGE : FIO_INFLATE_OK;
}

/* Feeds in/len to the stream, appending to out past start, at most max_out
 * bytes in all. FIO_INFLATE_OK with *ended when the final block ended (the
 * rest of the input is then left unread in *left). */
static int feed(fio_inflater *z, const unsigned char *in, size_t len, size_t start,
                size_t max_out, fio_buf *out, int *ended, size_t *left)
{
    z_stream *zs = &z->zs;
    zs->next_in = (Bytef *)(uintptr_t)in;
    zs->avail_in = 0;   /* what an earlier call left unread is not ours */
    size_t rest = len;
    *ended = 0;
    /* every turn reads input or writes output (zlib gives no Z_BUF_ERROR
     * while it has both), so the loop ends: once all input is read, when
     * zlib has nothing more to write */
    for (;;) {
        if (zs->avail_in == 0 && rest > 0) {
            uInt take = rest > UINT32_MAX ? UINT32_MAX : (uInt)rest;
            zs->avail_in = take;
            rest -= take;
        }
        int reading = zs->avail_in > 0, zr;
        size_t got;
        int rc = step(zs, start, max_out, out, &zr, &got);
        if (rc != FIO_INFLATE_OK)
            return rc;
        if (zr == Z_STREAM_END) {
            *ended = 1;
            *left = rest + zs->avail_in;
            return FIO_INFLATE_OK;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return FIO_INFLATE_BAD;
        if (!reading && got == 0)
            return FIO_INFLATE_OK;
    }
}

int fio_inflate_message(fio_inflater *z, const void *in, size_t len, size_t max_out,
                        fio_buf *out)
{
    static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
    size_t start = out->len;
    int ended = 0;
    size_t left = 0;
    int rc = inflateReset(&z->zs) == Z_OK ? FIO_INFLATE_OK : FIO_INFLATE_BAD;
    if (rc == FIO_INFLATE_OK)
        rc = feed(z, in, len, start, max_out, out, &ended, &left);
    if (rc == FIO_INFLATE_OK && ended && left > 0)
        rc = FIO_INFLATE_BAD;   /* bytes after the final block */
    if (rc == FIO_INFLATE_OK && !ended)   /* what is left of the tail is ours: ignored */
        rc = feed(z, tail, sizeof tail, start, max_out, out, &ended, &left);
    if (rc != FIO_INFLATE_OK)
        out->len = start;
    return rc;
}
