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
    while (rest > 0 || zs->avail_in > 0) {
        if (zs->avail_in == 0) {
            uInt take = rest > UINT32_MAX ? UINT32_MAX : (uInt)rest;
            zs->avail_in = take;
            rest -= take;
        }
        size_t produced = out->len - start;
        /* one byte past the bound: inflating into it means too large */
        size_t room = max_out - produced + 1;
        size_t chunk = room < CHUNK ? room : CHUNK;
        if (fio_buf_reserve(out, chunk) < 0)
            return FIO_INFLATE_OOM;
        zs->next_out = (Bytef *)out->data + out->len;
        zs->avail_out = (uInt)chunk;
        int rc = inflate(zs, Z_SYNC_FLUSH);
        out->len += chunk - zs->avail_out;
        if (out->len - start > max_out)
            return FIO_INFLATE_TOO_LARGE;
        if (rc == Z_STREAM_END) {
            *ended = 1;
            *left = rest + zs->avail_in;
            return FIO_INFLATE_OK;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return FIO_INFLATE_BAD;
    }
    /* zlib may hold output it could not place: drain it */
    for (;;) {
        size_t produced = out->len - start;
        size_t room = max_out - produced + 1;
        size_t chunk = room < CHUNK ? room : CHUNK;
        if (fio_buf_reserve(out, chunk) < 0)
            return FIO_INFLATE_OOM;
        zs->next_out = (Bytef *)out->data + out->len;
        zs->avail_out = (uInt)chunk;
        int rc = inflate(zs, Z_SYNC_FLUSH);
        size_t got = chunk - zs->avail_out;
        out->len += got;
        if (out->len - start > max_out)
            return FIO_INFLATE_TOO_LARGE;
        if (rc == Z_STREAM_END) {
            *ended = 1;
            *left = 0;
            return FIO_INFLATE_OK;
        }
        if (got == 0 || (rc != Z_OK && rc != Z_BUF_ERROR))
            return rc == Z_OK || rc == Z_BUF_ERROR ? FIO_INFLATE_OK : FIO_INFLATE_BAD;
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
