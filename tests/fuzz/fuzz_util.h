/* Shared helpers of the libFuzzer targets in tests/fuzz (built and run by
 * scripts/fuzz.sh). A violated property aborts, so libFuzzer reports it as
 * a crash and saves the input. */
#ifndef FASTSIO_FUZZ_UTIL_H
#define FASTSIO_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define FZ_CHECK(cond)                                                                  \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz property violated at %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                             \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* Allocation failures are not what these targets look for. */
#define FZ_OK(expr) FZ_CHECK((expr) == 0)

/* A heap copy of exactly n bytes (one byte when n == 0, never read), so
 * that ASan reports any read past the end of a slice given to a decoder. */
static inline char *fz_dup(const void *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    FZ_CHECK(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

static inline int fz_eq(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static inline void fz_buf_set(fio_buf *b, const void *p, size_t n)
{
    b->len = 0;
    FZ_OK(fio_buf_append(b, p, n));
}

#endif
