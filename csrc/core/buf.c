#include "buf.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

void fio_buf_init(fio_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void fio_buf_free(fio_buf *b)
{
    free(b->data);
    fio_buf_init(b);
}

int fio_buf_reserve(fio_buf *b, size_t extra)
{
    if (extra > (size_t)-1 - b->len - 1)
        return -1;
    size_t need = b->len + extra + 1;   /* room for the trailing NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fio_buf_append(fio_buf *b, const void *p, size_t n)
{
    if (fio_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int fio_buf_putc(fio_buf *b, char c)
{
    return fio_buf_append(b, &c, 1);
}

int fio_buf_put_u64(fio_buf *b, unsigned long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", v);
    return fio_buf_append(b, tmp, (size_t)n);
}
