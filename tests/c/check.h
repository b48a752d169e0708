/* The C tests' check counter: CHECK(cond, fmt, ...) counts a pass, or counts
 * a failure and prints where and why on stderr; check_summary() prints the
 * "N passed, N failed" line and returns the exit status. One per test binary. */
#ifndef FASTSIO_TEST_CHECK_H
#define FASTSIO_TEST_CHECK_H
#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            passed++;                                                       \
        } else {                                                            \
            failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
