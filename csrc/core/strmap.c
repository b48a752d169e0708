#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing with linear probing and backward-shift deletion: a probe
 * run never contains holes, so lookups stop at the first empty slot. */

static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* 8 bytes per step, multiply-xor mixing, full avalanche at the end; the
 * low bits (the ones the mask keeps) depend on every input byte. */
size_t fio_strmap_hash(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)len * 0x100000001b3ULL);
    size_t n = len;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ fmix64(w)) * 0x9fb21c651e98df25ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ fmix64(w ^ ((uint64_t)n << 56))) * 0x9fb21c651e98df25ULL;
    }
    return (size_t)fmix64(h);
}

void fio_strmap_init(fio_strmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void fio_strmap_free(fio_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    fio_strmap_init(m);
}

static int key_eq(const fio_strmap_slot *s, size_t h, const char *key, size_t len)
{
    return s->hash == h && s->keylen == len && (len == 0 || memcmp(s->key, key, len) == 0);
}

/* Slot holding key, or the empty slot ending its probe run. cap > 0 and the
 * map is never full (load <= 3/4), so the loop terminates. */
static size_t find(const fio_strmap *m, const char *key, size_t len, size_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const fio_strmap_slot *s = &m->slots[i];
        if (!s->key || key_eq(s, h, key, len))
            return i;
    }
}

void *fio_strmap_get(const fio_strmap *m, const char *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    const fio_strmap_slot *s = &m->slots[find(m, key, len, fio_strmap_hash(key, len))];
    return s->key ? s->value : NULL;
}

static int grow(fio_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 8;
    if (cap < m->cap || cap > SIZE_MAX / sizeof(fio_strmap_slot))
        return -1;
    fio_strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    fio_strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    size_t mask = cap - 1;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.slots[i].key)
            continue;
        size_t j = old.slots[i].hash & mask;
        while (slots[j].key)
            j = (j + 1) & mask;
        slots[j] = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int fio_strmap_put(fio_strmap *m, const char *key, size_t len, void *value)
{
    size_t h = fio_strmap_hash(key, len);
    if (m->count) {
        fio_strmap_slot *s = &m->slots[find(m, key, len, h)];
        if (s->key) {
            s->value = value;
            return 0;
        }
    }
    if (len == SIZE_MAX)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, key, len);
    copy[len] = '\0';
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0) {
        free(copy);
        return -1;
    }
    fio_strmap_slot *s = &m->slots[find(m, key, len, h)];
    s->key = copy;
    s->keylen = len;
    s->hash = h;
    s->value = value;
    m->count++;
    return 0;
}

void *fio_strmap_del(fio_strmap *m, const char *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, key, len, fio_strmap_hash(key, len));
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Backward shift: an entry at j may fill the hole at i unless its home
     * slot lies cyclically in (i, j]. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return value;
}

int fio_strmap_next(const fio_strmap *m, size_t *pos, const fio_strmap_slot **slot)
{
    while (*pos < m->cap) {
        const fio_strmap_slot *s = &m->slots[(*pos)++];
        if (s->key) {
            *slot = s;
            return 1;
        }
    }
    return 0;
}
