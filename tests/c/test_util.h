/* Small helpers shared by the C test binaries: exact heap copies, byte
 * comparison, and reading TAB-separated corpus files. Header-only; a test that needs them includes it once. Out of
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

/* Corpus files: one case per line, fields separated by TABs; empty lines
 * and lines starting with '#' are skipped. */
#define CORPUS_MAX_FIELDS 32

typedef void (*corpus_line_fn)(void *ctx, char **f, int nf, int lineno);

/* Calls fn(ctx, fields, count, line number) for each case line of dir/name,
 * split in place (at most CORPUS_MAX_FIELDS fields; the fields are valid
 * until fn returns). Returns the number of cases, or -1 when the file
 * cannot be opened. */
static inline int corpus_each_line(const char *dir, const char *name, corpus_line_fn fn,
                                   void *ctx)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    static char line[1 << 16];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *f[CORPUS_MAX_FIELDS];
        int nf = 0;
        f[nf++] = line;
        for (char *p = line; *p && nf < CORPUS_MAX_FIELDS; p++)
            if (*p == '\t') {
                *p = '\0';
                f[nf++] = p + 1;
            }
        fn(ctx, f, nf, lineno);
        cases++;
    }
    fclose(fp);
    return cases;
}

#endif
