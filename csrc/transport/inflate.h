/* permessage-deflate, inbound side: inflation of whole client messages
 * (RFC 7692 7.2.2), done by the transport itself instead of lws 4.1.6,
 * whose inflater aborts or spins on some inputs (docs/native-deflate.md).
 *
 * Every message is inflated on its own: the transport answers
 * client_no_context_takeover, so a client keeps no window across messages
 * and neither does the inflater (reset before each message; one per server,
 * about 40 KiB of zlib state, whatever the number of connections). The
 * output is bounded: inflation stops as soon as it would pass max_out bytes,
 * so a small message cannot expand into a large allocation.
 *
 * Threads: one thread at a time per fio_inflater (the service thread). No
 * lws, no Python. */
#ifndef FASTSIO_INFLATE_H
#define FASTSIO_INFLATE_H
#include <stddef.h>

#include "buf.h"

typedef struct fio_inflater fio_inflater;

fio_inflater *fio_inflater_new(void);      /* NULL on oom */
void fio_inflater_free(fio_inflater *z);   /* NULL is ignored */

enum {
    FIO_INFLATE_OK = 0,
    FIO_INFLATE_OOM = -1,
    FIO_INFLATE_BAD = -2,       /* not a valid deflate stream for one message,
                                   or data after its final block */
    FIO_INFLATE_TOO_LARGE = -3  /* inflates to more than max_out bytes */
};

/* Inflates the payload of one compressed message (its 00 00 ff ff tail
 * removed by the sender, as RFC 7692 has it) and appends the result to out.
 * On any error out keeps its old length. */
int fio_inflate_message(fio_inflater *z, const void *in, size_t len, size_t max_out,
                        fio_buf *out);

#endif
