/* The native transport's link to the asyncio loop: what the service thread
 * hands up (opens, Engine.IO messages, closes) is posted to a fio_inbox
 * (csrc/core/inbox.h), which the loop drains in batches on one eventfd.
 *
 * Items (kind, token, payload):
 *   FIO_WS_ITEM_OPEN     token = conn id, no payload, not bounded;
 *   FIO_WS_ITEM_MESSAGE  token = conn id, payload a fio_ws_inmsg (release
 *                        with free(), as the item's free_fn does), bounded;
 *                        a plain Socket.IO EVENT comes with its header
 *                        decoded (fio_ws_inmsg.sio);
 *   FIO_WS_ITEM_CLOSE    token = conn id | (uint64_t)fio_ws_reason << 32, no
 *                        payload, not bounded. The hub connection is already
 *                        closed when it is posted (unless it was adopted with
 *                        fio_ws_adopt_conn: then its owner closes it); it is
 *                        the last item of its connection.
 *   FIO_WS_ITEM_PROBED, FIO_WS_ITEM_UPGRADED  token = conn id, no payload, not
 *                        bounded: the steps of an upgrade from polling
 *                        (fio_ws_upgrade_fn).
 * Wake-ups: the loop's eventfd is written once per service pass that posted
 * (on_pass_end flushes the deferred inbox), not at the first item.
 * Back-pressure: when the inbox reaches its bound, on_message answers 1 and
 * the server stops reading every connection; the inbox's resume callback
 * (fio_ws_inbox_resume, on the consumer thread) asks it to read again. The
 * ordering rule of inbox.h holds because the pause is applied on the service
 * thread before on_message returns and the resume is a request that thread
 * takes later.
 * Out of memory: a message that cannot be posted closes its connection
 * ("transport error"); an OPEN or CLOSE that cannot be posted is lost (the
 * loop then learns of the connection from its first message / never: the
 * owner must treat oom as fatal). No Python. */
#ifndef FASTSIO_WS_INBOX_H
#define FASTSIO_WS_INBOX_H
#include <stddef.h>

#include "inbox.h"
#include "lws_server.h"

enum {
    FIO_WS_ITEM_OPEN = 0x7701, FIO_WS_ITEM_MESSAGE, FIO_WS_ITEM_CLOSE,
    FIO_WS_ITEM_PROBED, FIO_WS_ITEM_UPGRADED
};

/* A text message whose Socket.IO header the service thread decoded
 * (sio_decode, csrc/core/sio.h): a plain EVENT (type 2, no attachments, an
 * ack id of at most SIO_ID_VALUE_DIGITS digits or none, a non-empty body).
 * Anything else, binary frames included, comes undecoded (event 0) and is
 * decoded on the loop as before. */
typedef struct fio_ws_sio_event {
    int event;         /* 1: the fields below hold */
    size_t nsp_off, nsp_len;   /* namespace, within data; nsp_len 0: "/" (none
                                  given; one given starts with '/', so is never
                                  empty) */
    long long id;      /* SIO_NO_ID or the ack id */
    size_t body_off;   /* JSON body: data[body_off..len) */
} fio_ws_sio_event;

typedef struct fio_ws_inmsg {
    int binary;        /* 1: binary frame; 0: MESSAGE text after the '4' */
    fio_ws_sio_event sio;
    size_t len;
    char data[];       /* len bytes followed by a NUL */
} fio_ws_inmsg;

/* Owned by the caller and alive as long as the server and the inbox. Set q
 * before fio_ws_inbox_config and srv before fio_ws_server_start (a resume
 * before that is ignored: nothing can be paused yet). */
typedef struct fio_ws_inbox_link {
    fio_inbox *q;
    fio_ws_server *srv;
} fio_ws_inbox_link;

/* Points cfg's on_open, on_message, on_close, on_upgrade, on_pass_end and
 * ctx at the link, and puts the inbox in deferred mode (inbox.h): the loop is
 * woken once per service pass, by on_pass_end. */
void fio_ws_inbox_config(fio_ws_config *cfg, fio_ws_inbox_link *link);
/* The inbox's resume callback; ctx is the link (fio_inbox_new(max,
 * fio_ws_inbox_resume, &link)). */
void fio_ws_inbox_resume(void *link);

#endif
