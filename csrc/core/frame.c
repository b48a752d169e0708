#include "frame.h"

#include <stdlib.h>
#include <string.h>

fio_frame *fio_frame_new(const void *data, size_t len, int binary)
{
    if (len > (size_t)-1 - sizeof(fio_frame) - 1)
        return NULL;
    fio_frame *f = malloc(sizeof(fio_frame) + len + 1);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    atomic_init(&f->z, NULL);
    f->binary = binary ? 1 : 0;
    f->len = len;
    if (len)
        memcpy(f->data, data, len);
    f->data[len] = '\0';
    return f;
}

fio_frame *fio_frame_text(int eio_type, const char *payload, size_t len)
{
    if (eio_type < 0 || eio_type > 6 || len > (size_t)-1 - sizeof(fio_frame) - 2)
        return NULL;
    fio_frame *f = malloc(sizeof(fio_frame) + len + 2);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    atomic_init(&f->z, NULL);
    f->binary = 0;
    f->len = len + 1;
    f->data[0] = (char)('0' + eio_type);
    if (len)
        memcpy(f->data + 1, payload, len);
    f->data[len + 1] = '\0';
    return f;
}

void fio_frame_ref(fio_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void fio_frame_unref(fio_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        free(atomic_load_explicit(&f->z, memory_order_acquire));
        free(f);
    }
}

const fio_frame_z *fio_frame_z_get(fio_frame *f)
{
    return atomic_load_explicit(&f->z, memory_order_acquire);
}

const fio_frame_z *fio_frame_z_publish(fio_frame *f, fio_frame_z *z)
{
    fio_frame_z *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&f->z, &expected, z, memory_order_acq_rel,
                                                memory_order_acquire))
        return z;
    free(z);
    return expected;
}
