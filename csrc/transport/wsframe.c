/* Server-side websocket frame headers. See wsframe.h. */
#include "wsframe.h"

#include <stdint.h>

size_t fio_ws_frame_header(unsigned char hdr[FIO_WS_MAX_HEADER], int binary, size_t len)
{
    hdr[0] = (unsigned char)(0x80 | (binary ? 0x2 : 0x1));
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        return 4;
    }
    hdr[1] = 127;
    uint64_t v = (uint64_t)len;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (unsigned char)(v >> (56 - 8 * i));
    return 10;
}

int fio_ws_frame_append(fio_buf *out, int binary, const void *payload, size_t len)
{
    unsigned char hdr[FIO_WS_MAX_HEADER];
    size_t hl = fio_ws_frame_header(hdr, binary, len);
    if (fio_buf_reserve(out, hl + len) < 0)
        return -1;
    /* Cannot fail after the reserve. */
    fio_buf_append(out, hdr, hl);
    fio_buf_append(out, payload, len);
    return 0;
}
