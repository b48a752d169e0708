/* Engine.IO v4 codec. Pure functions over caller-owned memory; no globals. */
#ifndef FASTSIO_EIO_H
#define FASTSIO_EIO_H
#include <stddef.h>
#include "buf.h"
#include "frame.h"

enum { EIO_OPEN = 0, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP };

#define EIO_RECORD_SEP '\x1e'

/* Decodes one text packet (websocket text frame, or one element of a polling
 * payload). On success *type is 0..6 and *data and *datalen view the payload after
 * the type digit (inside s). A polling element "b<base64>" is NOT handled here:
 * see eio_decode_b64. Returns 0, or -1 if s is empty or s[0] is not '0'..'6'. */
int eio_decode_text(const char *s, size_t len, int *type, const char **data, size_t *datalen);

/* True when a polling payload element is a base64 binary message ("b..."). */
int eio_is_b64(const char *s, size_t len);
/* Decodes "b<base64>" into out (appends). 0 ok, -1 invalid, -2 oom. */
int eio_decode_b64(const char *s, size_t len, fio_buf *out);

/* Splits a polling POST body on \x1e. Calls fn(ctx, elem, elemlen) for each
 * element in order; stops and returns fn's value if it is non-zero.
 * Returns 0 on success, -1 if there are more than max_packets elements
 * (nothing is delivered then), -2 if the body is empty.
 * An empty element between separators is delivered as length 0. */
typedef int (*eio_elem_fn)(void *ctx, const char *elem, size_t len);
int eio_payload_split(const char *s, size_t len, size_t max_packets, eio_elem_fn fn, void *ctx);

/* Joins frames into a polling GET body: text frames as they are, binary
 * frames as "b<base64>", separated by \x1e. Appends to out. 0 ok, -1 oom. */
int eio_payload_join(fio_frame *const *frames, size_t n, fio_buf *out);

/* The OPEN packet exactly as python-engineio writes it, e.g.
 * 0{"sid":"abc","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}
 * sid is copied as is (caller guarantees it needs no JSON escaping: the
 * url-safe base64 alphabet). Appends to out. 0 ok, -1 oom. */
int eio_open_packet(fio_buf *out, const char *sid, size_t sidlen, int upgrade_websocket,
                    long long ping_timeout_ms, long long ping_interval_ms, long long max_payload);

#endif
