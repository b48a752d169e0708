/* Measurements and their output for the load generator: a growable vector of
 * latency samples (microseconds) with nearest-rank percentiles, and a
 * one-line JSON object writer (keys are literals, strings are escaped).
 * Not thread-safe: each worker fills its own vector; they are merged after
 * the workers have stopped. */
#ifndef LOADGEN_REPORT_H
#define LOADGEN_REPORT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* At most this many samples are kept per vector (later ones are counted in
 * `dropped`, not stored), so a long run stays bounded in memory. */
#define LAT_MAX_SAMPLES (16u << 20)

typedef struct lat_vec {
    uint32_t *v;
    size_t n, cap;
    uint64_t dropped;
} lat_vec;

void lat_add(lat_vec *l, double seconds);
/* Appends every sample of src to dst (src is left as it was). 0, or -1 out of memory. */
int lat_merge(lat_vec *dst, const lat_vec *src);
/* Sorts the samples; then lat_pct(l, 0.99) is the nearest-rank percentile in
 * milliseconds (0 when there is no sample). */
void lat_sort(lat_vec *l);
double lat_pct_ms(const lat_vec *l, double q);
void lat_free(lat_vec *l);

/* One JSON object on one line. Writes stop silently at the buffer's size
 * (4 KiB), which the callers' few fields never reach. */
typedef struct jline {
    char b[4096];
    size_t n;
} jline;

void jl_begin(jline *j, const char *event);
void jl_int(jline *j, const char *key, long long v);
void jl_num(jline *j, const char *key, double v);
void jl_bool(jline *j, const char *key, int v);
void jl_str(jline *j, const char *key, const char *v);
/* Closes the object, writes it with a newline to f and flushes f. */
void jl_end(jline *j, FILE *f);

#endif
