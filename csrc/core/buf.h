/* Growable byte buffer used by the codecs. Not thread-safe; owned by its user. */
#ifndef FASTSIO_BUF_H
#define FASTSIO_BUF_H
#include <stddef.h>

typedef struct fio_buf {
    char *data;     /* NUL-terminated when len > 0 or after fio_buf_cstr(); owned */
    size_t len;
    size_t cap;
} fio_buf;

void fio_buf_init(fio_buf *b);
void fio_buf_free(fio_buf *b);            /* releases data; b may be reused after init */
int fio_buf_reserve(fio_buf *b, size_t extra); /* 0 ok, -1 out of memory */
int fio_buf_append(fio_buf *b, const void *p, size_t n); /* 0 ok, -1 oom */
int fio_buf_putc(fio_buf *b, char c);     /* 0 ok, -1 oom */
int fio_buf_put_u64(fio_buf *b, unsigned long long v); /* decimal; 0 ok, -1 oom */

#endif
