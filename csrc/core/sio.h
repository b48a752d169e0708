/* Socket.IO v5 packet header codec. The JSON body is left as text: the
 * binding layer parses it with the application's json module, so encoding
 * and decoding stay byte-compatible with python-socketio. Pure functions. */
#ifndef FASTSIO_SIO_H
#define FASTSIO_SIO_H
#include <stddef.h>
#include "buf.h"

enum { SIO_CONNECT = 0, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR,
       SIO_BINARY_EVENT, SIO_BINARY_ACK };

#define SIO_MAX_ATTACHMENTS 10
#define SIO_NO_ID (-1LL)

typedef struct sio_packet {
    int type;                 /* 0..6 */
    int attachments;          /* count before '-' (binary types only), else 0 */
    const char *nsp;          /* view into the input; "/" when absent */
    size_t nsplen;            /* a "?query" suffix is not included */
    long long id;             /* ack id, SIO_NO_ID when absent */
    const char *data;         /* JSON text view (may be length 0) */
    size_t datalen;
} sio_packet;

/* Decodes the text of a Socket.IO packet (an Engine.IO MESSAGE payload).
 * Views point into s. Returns 0, or -1 with *err set to a static message:
 * empty packet, type not 0..6, attachment count not followed by '-', count
 * above SIO_MAX_ATTACHMENTS, attachments on a non-binary type, id longer than
 * 18 digits, or namespace not starting with '/'. */
int sio_decode(const char *s, size_t len, sio_packet *out, const char **err);

/* Appends "<type>[<n>-][<nsp>,][<id>]" as python-socketio writes it:
 * the count only for binary types, the namespace only when it is not "/",
 * the id only when not SIO_NO_ID. The caller appends the JSON body.
 * 0 ok, -1 oom, -2 invalid argument (type, count or id out of range). */
int sio_encode_header(fio_buf *out, int type, int attachments,
                      const char *nsp, size_t nsplen, long long id);

#endif
