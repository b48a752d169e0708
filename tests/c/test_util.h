/* Small helpers shared by the C test binaries: exact heap copies and byte
 * comparison. Header-only; a test that needs them includes it once. Out of
 * memory ends the test binary (exit 2). Hex digits: fio_json_hex_value
 * (csrc/core/jsonscan.h), which every test binary links. */
#ifndef FASTSIO_TEST_UTIL_H
#define FASTSIO_TEST_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A heap copy of exactly n bytes (at least 1 allocated). */
static inline char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (!p) {
        fputs("out of memory\n", stderr);
        exit(2);
    }
    if (n)
        memcpy(p, s, n);
    return p;
}

static inline int mem_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

#endif
