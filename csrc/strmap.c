#include "strmap.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* Open addressing with linear probing and backward-shift deletion. */

static size_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    return (size_t)h;
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

static size_t find(const fio_strmap *m, const char *key, size_t len, size_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const fio_strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->keylen == len && memcmp(s->key, key, len) == 0))
            return i;
    }
}

void *fio_strmap_get(const fio_strmap *m, const char *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    const fio_strmap_slot *s = &m->slots[find(m, key, len, hash_bytes(key, len))];
    return s->key ? s->value : NULL;
}

static int grow(fio_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 8;
    fio_strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    fio_strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            m->slots[find(m, old.slots[i].key, old.slots[i].keylen, old.slots[i].hash)] =
                old.slots[i];
    free(old.slots);
    return 0;
}

int fio_strmap_put(fio_strmap *m, const char *key, size_t len, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    size_t h = hash_bytes(key, len);
    fio_strmap_slot *s = &m->slots[find(m, key, len, h)];
    if (s->key) {
        s->value = value;
        return 0;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, key, len);
    copy[len] = '\0';
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
    size_t i = find(m, key, len, hash_bytes(key, len));
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* shift back the following entries of the probe run */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
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
