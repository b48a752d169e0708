/* Server-side websocket frame headers (RFC 6455 5.2): unmasked, FIN set, one
 * frame per message. Used to pre-frame several Engine.IO packets into one
 * buffer that leaves in one write. Pure functions, no lws. */
#ifndef FASTSIO_WSFRAME_H
#define FASTSIO_WSFRAME_H
#include <stddef.h>

#include "buf.h"

#define FIO_WS_MAX_HEADER 10

/* Writes the header of a final text (binary == 0) or binary frame of len
 * payload bytes into hdr; returns its length (2, 4 or 10). */
size_t fio_ws_frame_header(unsigned char hdr[FIO_WS_MAX_HEADER], int binary, size_t len);
/* Appends header + payload to out. 0 ok, -1 oom (out unchanged). */
int fio_ws_frame_append(fio_buf *out, int binary, const void *payload, size_t len);

#endif
