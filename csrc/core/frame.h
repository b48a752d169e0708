/* Outbound frame: one encoded Engine.IO packet, shared by every connection it
 * is queued for. Reference counted with atomics: any thread may ref/unref.
 *
 * Compressed-form cache (permessage-deflate, csrc/transport/deflate.h): a
 * frame may carry one compressed form of its data, so that a broadcast frame
 * is compressed once for all its recipients. The rule: the slot is written at
 * most once. Any thread may compute a form and offer it with
 * fio_frame_z_publish; the first offer wins (compare-and-swap), a later one is
 * freed and the winner returned, so every reader sees the same bytes. A
 * published form is immutable and lives until the frame is freed (the last
 * unref frees it). Today only the native transport's service thread fills it;
 * the ASGI writers, which drain other queues of the same frame on the loop
 * thread, never read it. */
#ifndef FASTSIO_FRAME_H
#define FASTSIO_FRAME_H
#include <stddef.h>
#include <stdatomic.h>

/* A compressed form of a frame's data (for permessage-deflate: a raw deflate
 * stream, any level, 2^15 window at most, sync-flushed, tail removed).
 * plain: compression did not make the data smaller; send the frame as it is
 * (len 0). */
typedef struct fio_frame_z {
    int plain;
    size_t len;
    unsigned char data[];
} fio_frame_z;

typedef struct fio_frame {
    atomic_int refs;
    int binary;         /* 1: raw bytes of a binary MESSAGE (no type prefix);
                           0: text packet including its Engine.IO type digit */
    _Atomic(fio_frame_z *) z;   /* compressed-form cache, NULL until published */
    size_t len;
    char data[];        /* len bytes followed by a NUL */
} fio_frame;

/* New frame holding a copy of data, refs = 1. NULL on oom. */
fio_frame *fio_frame_new(const void *data, size_t len, int binary);
/* New text frame "<eio_type><payload>", refs = 1. NULL on oom. */
fio_frame *fio_frame_text(int eio_type, const char *payload, size_t len);
void fio_frame_ref(fio_frame *f);
void fio_frame_unref(fio_frame *f);   /* frees at zero; NULL is ignored */

/* The published compressed form of f, or NULL. Any thread. */
const fio_frame_z *fio_frame_z_get(fio_frame *f);
/* Offers z (malloc'd; the frame owns it from the call on) as f's compressed
 * form; returns the form f keeps: z, or the one published first (then z is
 * freed). Any thread. */
const fio_frame_z *fio_frame_z_publish(fio_frame *f, fio_frame_z *z);

#endif
