/* Outbound frame: one encoded Engine.IO packet, shared by every connection it
 * is queued for. Reference counted with atomics: any thread may ref/unref. */
#ifndef FASTSIO_FRAME_H
#define FASTSIO_FRAME_H
#include <stddef.h>
#include <stdatomic.h>

typedef struct fio_frame {
    atomic_int refs;
    int binary;         /* 1: raw bytes of a binary MESSAGE (no type prefix);
                           0: text packet including its Engine.IO type digit */
    size_t len;
    char data[];        /* len bytes followed by a NUL */
} fio_frame;

/* New frame holding a copy of data, refs = 1. NULL on oom. */
fio_frame *fio_frame_new(const void *data, size_t len, int binary);
/* New text frame "<eio_type><payload>", refs = 1. NULL on oom. */
fio_frame *fio_frame_text(int eio_type, const char *payload, size_t len);
void fio_frame_ref(fio_frame *f);
void fio_frame_unref(fio_frame *f);   /* frees at zero; NULL is ignored */

#endif
