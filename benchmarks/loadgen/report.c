/* Latency samples and JSON lines for the load generator (see report.h). */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void lat_add(lat_vec *l, double seconds)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        if (cap > LAT_MAX_SAMPLES)
            cap = LAT_MAX_SAMPLES;
        uint32_t *v = cap > l->cap ? realloc(l->v, cap * sizeof *v) : NULL;
        if (!v) {
            l->dropped++;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    double us = seconds * 1e6;
    l->v[l->n++] = us <= 0 ? 0 : us >= 4e9 ? 4000000000u : (uint32_t)(us + 0.5);
}

int lat_merge(lat_vec *dst, const lat_vec *src)
{
    dst->dropped += src->dropped;
    if (!src->n)
        return 0;
    size_t need = dst->n + src->n;
    if (need > dst->cap) {
        uint32_t *v = realloc(dst->v, need * sizeof *v);
        if (!v)
            return -1;
        dst->v = v;
        dst->cap = need;
    }
    memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n = need;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void lat_sort(lat_vec *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_u32);
}

double lat_pct_ms(const lat_vec *l, double q)
{
    if (!l->n)
        return 0.0;
    size_t rank = (size_t)ceil(q * (double)l->n);
    if (rank < 1)
        rank = 1;
    if (rank > l->n)
        rank = l->n;
    return l->v[rank - 1] / 1000.0;
}

void lat_free(lat_vec *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void jl_printf(jline *j, const char *fmt, ...)
{
    if (j->n >= sizeof j->b)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(j->b + j->n, sizeof j->b - j->n, fmt, ap);
    va_end(ap);
    if (w > 0)
        j->n = j->n + (size_t)w < sizeof j->b ? j->n + (size_t)w : sizeof j->b;
}

void jl_begin(jline *j, const char *event)
{
    j->n = 0;
    jl_printf(j, "{\"event\":\"%s\"", event);
}

void jl_int(jline *j, const char *key, long long v) { jl_printf(j, ",\"%s\":%lld", key, v); }

void jl_num(jline *j, const char *key, double v)
{
    if (isfinite(v))
        jl_printf(j, ",\"%s\":%.9g", key, v);
    else
        jl_printf(j, ",\"%s\":null", key);
}

void jl_bool(jline *j, const char *key, int v)
{
    jl_printf(j, ",\"%s\":%s", key, v ? "true" : "false");
}

void jl_str(jline *j, const char *key, const char *v)
{
    jl_printf(j, ",\"%s\":\"", key);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            jl_printf(j, "\\%c", *p);
        else if (*p < 0x20)
            jl_printf(j, "\\u%04x", *p);
        else
            jl_printf(j, "%c", *p);
    }
    jl_printf(j, "\"");
}

void jl_end(jline *j, FILE *f)
{
    jl_printf(j, "}");
    fwrite(j->b, 1, j->n, f);
    fputc('\n', f);
    fflush(f);
}
