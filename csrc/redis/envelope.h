/* python-socketio's pub/sub message between server processes (the JSON that
 * AsyncPubSubManager publishes on its channel), read in C so that an emit for
 * local clients is delivered without Python:
 *
 *   {"method": "emit", "event": E, "data": [args...], "binary": false,
 *    "namespace": "/", "room": null | "r" | ["r1", ...],
 *    "skip_sid": null | "sid" | ["sid", ...], "callback": null | [sid, ns, id],
 *    "host_id": "<hex>"}
 * and the other methods ("disconnect", "enter_room", "leave_room",
 * "close_room", "callback"), which always go to Python.
 *
 * Keys may come in any order, with any whitespace, and unknown keys are
 * ignored, so messages of python-socketio, Open WebUI's room-channel manager,
 * fastsio and external write_only emitters are all read the same way.
 *
 * No Python, no allocation beyond the caller's buffers; thread-agnostic. */
#ifndef FASTSIO_REDIS_ENVELOPE_H
#define FASTSIO_REDIS_ENVELOPE_H
#include <stddef.h>

#include "buf.h"
#include "hub.h"

enum fio_env_route {
    FIO_ENV_IGNORE = 0,   /* not for this process: invalid JSON, no "method", or
                             a non-callback message published by host_id itself */
    FIO_ENV_PYTHON,       /* needs Python: any method but a plain emit, or an
                             emit with a callback, binary data, or room/skip/
                             namespace/event values that are not plain strings */
    FIO_ENV_EMIT          /* a plain emit, decoded into fio_env_emit */
};

#define FIO_ENV_MAX_NAMES 64   /* more rooms or skip sids than this: FIO_ENV_PYTHON */

/* A plain emit, ready for fio_hub_broadcast. Every fio_str points into the
 * fio_env_emit's own storage (names) or is empty; valid until the struct is
 * reused or freed with fio_env_emit_free. */
typedef struct fio_env_emit {
    fio_str ns;                           /* decoded namespace, never empty (a null
                                             or absent one goes to Python: the
                                             reference matches no namespace) */
    fio_str rooms[FIO_ENV_MAX_NAMES];     /* decoded room names */
    size_t nrooms;                        /* 0: whole namespace */
    fio_str skip[FIO_ENV_MAX_NAMES];      /* decoded sids to skip */
    size_t nskip;
    fio_buf packet;   /* Socket.IO EVENT packet text, no Engine.IO digit:
                         `2[/ns,]["event",arg1,...]`, spliced from the message's
                         "event" and "data" texts with whitespace removed, the
                         same text python-socketio's server would send for it */
    fio_buf names;    /* storage for the decoded strings above */
} fio_env_emit;

void fio_env_emit_init(fio_env_emit *e);
void fio_env_emit_free(fio_env_emit *e);

/* Reads one message. host_id: this process's id (ASCII). On FIO_ENV_EMIT, *e
 * is filled (previous contents replaced). Returns the route, or -2 on oom.
 * "data" follows python-socketio's receiving side: a list of the emit's
 * arguments, where [null] means no arguments (an emit of None). */
int fio_env_read(const char *msg, size_t len, const char *host_id, size_t host_len,
                 fio_env_emit *e);

#endif
