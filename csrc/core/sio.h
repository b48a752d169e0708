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
/* Most ack id digits sio_decode reads, leading zeros included: python-socketio
 * 5.16.2's limit (Packet.decode refuses a 101st digit). */
#define SIO_MAX_ID_DIGITS 100
/* An id of at most this many significant digits (below 10^18) also comes as
 * a long long value. */
#define SIO_ID_VALUE_DIGITS 18
#define SIO_NO_ID (-1LL)
#define SIO_BIG_ID (-2LL)

typedef struct sio_packet {
    int type;                 /* 0..6 */
    int attachments;          /* count before '-' (binary types only), else 0 */
    const char *nsp;          /* view into the input; "/" when absent */
    size_t nsplen;            /* a "?query" suffix is not included */
    long long id;             /* ack id: SIO_NO_ID when absent; its value when
                                 it has at most SIO_ID_VALUE_DIGITS significant
                                 digits; else SIO_BIG_ID (id_digits has it) */
    const char *id_digits;    /* the id in decimal without leading zeros ("0"
                                 for zero): a view into the input, 1..
                                 SIO_MAX_ID_DIGITS bytes; NULL when absent */
    size_t id_len;
    const char *data;         /* JSON text view (may be length 0) */
    size_t datalen;
} sio_packet;

/* Decodes the text of a Socket.IO packet (an Engine.IO MESSAGE payload).
 * Views point into s. Returns 0, or -1 with *err set to a static message:
 * empty packet, type not 0..6, attachment count not followed by '-', count
 * above SIO_MAX_ATTACHMENTS, attachments on a non-binary type, id longer than
 * SIO_MAX_ID_DIGITS digits (the message names the limit), or namespace not
 * starting with '/'. */
int sio_decode(const char *s, size_t len, sio_packet *out, const char **err);

/* Appends "<type>[<n>-][<nsp>,][<id>]" as python-socketio writes it:
 * the count only for binary types, the namespace only when it is not "/",
 * the id only when not SIO_NO_ID. The caller appends the JSON body.
 * 0 ok, -1 oom, -2 invalid argument (type, count or id out of range; an id
 * must be SIO_NO_ID or >= 0). On an error out is left as it was. */
int sio_encode_header(fio_buf *out, int type, int attachments,
                      const char *nsp, size_t nsplen, long long id);

/* sio_encode_header with the id given as decimal text (any length, as
 * python-socketio writes str(id)): digits NULL with n 0 for no id, else n >= 1
 * ASCII digits without a leading zero (but "0" itself), e.g. a decoded
 * packet's id_digits/id_len. Same returns; -2 also for a malformed id. */
int sio_encode_header_digits(fio_buf *out, int type, int attachments,
                             const char *nsp, size_t nsplen, const char *digits, size_t n);

#endif
