/* Shared declarations of the binding layer: module.c and py_*.c are the only
 * C files that include Python.h.
 * Lock order: the GIL may be held while the hub mutex is taken, never the
 * reverse. Hub callbacks run under the hub mutex; those that build Python
 * objects run on a thread that already holds the GIL and never release it. */
#ifndef FASTSIO_PY_COMMON_H
#define FASTSIO_PY_COMMON_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "frame.h"
#include "hub.h"

typedef struct {
    PyTypeObject *hub_type;
    PyTypeObject *redis_client_type;
    PyTypeObject *cached_hash_type;
    PyObject *redis_error;          /* fastsio._core.RedisError */
} fastsio_state;

/* Adds the Hub type to the module and stores it in the module state. 0 / -1. */
int fastsio_add_hub_type(PyObject *module, fastsio_state *st);
/* Adds RedisClient, CachedHash, RedisError and the KIND_* constants. 0 / -1. */
int fastsio_add_redis_types(PyObject *module, fastsio_state *st);
int fastsio_add_cache_type(PyObject *module, fastsio_state *st);
/* Adds Merger, merge_kind and MERGE_* constants (csrc/py/py_merge.c). 0 / -1. */
int fastsio_add_merge_type(PyObject *module);
/* Adds NativeServer and NATIVE_* constants (csrc/py/py_native.c). 0 / -1. */
int fastsio_add_native_type(PyObject *module);

/* The fio_hub of a fastsio._core.Hub object (borrowed: valid while the object
 * lives); NULL with TypeError for anything else. */
fio_hub *fastsio_hub_of(PyObject *hub_obj);

/* Redis replies (csrc/py/py_redis.c): a reply as a Python object (bulk ->
 * bytes, status -> str, integer -> int, nil -> None, array -> list, error ->
 * a RedisError instance, not raised). New ref or NULL with an exception. */
struct redisReply;
PyObject *fastsio_reply_object(PyObject *module, const struct redisReply *r);
/* ConnectionError / TimeoutError instance for a client failure string. */
PyObject *fastsio_redis_failure(const char *err);
/* The near cache of a RedisClient made with tracking; NULL with
 * ConnectionError when closed or made without tracking. */
struct fio_cache;
struct fio_cache *fastsio_client_cache(PyObject *client);

/* A connection id argument (int within uint32); 0 / -1 with an exception. */
int fastsio_parse_conn(PyObject *o, uint32_t *out);

/* A str as UTF-8 (borrowed from the str's cache) or bytes as is; TypeError
 * otherwise. 0 / -1 with an exception set. */
int fastsio_as_str(PyObject *o, fio_str *out);

/* Converts one outbound message item to a new frame: str -> text MESSAGE
 * ("4" + utf-8), bytes-like -> binary MESSAGE. NULL with an exception set. */
fio_frame *fastsio_message_frame(PyObject *item);

/* Python object for a queued frame: text -> str, binary -> bytes. New ref. */
PyObject *fastsio_frame_object(const fio_frame *f);

#endif
