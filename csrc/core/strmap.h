/* Hash map from byte strings to void*. Keys are copied (any bytes, any
 * length including 0; a NULL key pointer is allowed when the length is 0);
 * values are borrowed. Open addressing, linear probing, backward-shift
 * deletion (no tombstones), load factor <= 3/4, capacity a power of two.
 * Not thread-safe: the owner (the hub) serialises access. */
#ifndef FASTSIO_STRMAP_H
#define FASTSIO_STRMAP_H
#include <stddef.h>

typedef struct fio_strmap_slot {
    char *key;          /* NULL: empty slot; else keylen bytes + NUL, owned */
    size_t keylen;
    size_t hash;
    void *value;
} fio_strmap_slot;

typedef struct fio_strmap {
    fio_strmap_slot *slots;
    size_t cap;         /* power of two, or 0 */
    size_t count;
} fio_strmap;

void fio_strmap_init(fio_strmap *m);
void fio_strmap_free(fio_strmap *m);        /* frees keys and slots, not values; re-inits */
/* Expected O(1). NULL when absent (so NULL values are indistinguishable). */
void *fio_strmap_get(const fio_strmap *m, const char *key, size_t len);
/* Inserts or replaces. 0 ok, -1 oom (map contents unchanged). */
int fio_strmap_put(fio_strmap *m, const char *key, size_t len, void *value);
/* Removes; returns the old value or NULL. Never allocates. */
void *fio_strmap_del(fio_strmap *m, const char *key, size_t len);
/* Iteration: for (size_t i = 0; fio_strmap_next(m, &i, &slot);) ...
 * The map must not change during iteration. */
int fio_strmap_next(const fio_strmap *m, size_t *pos, const fio_strmap_slot **slot);
/* The hash the map uses (exposed for tests and for callers that shard). */
size_t fio_strmap_hash(const char *key, size_t len);

#endif
