/* fastsio._core.CachedHash: one Redis hash served from the near cache of a
 * RedisClient made with tracking (csrc/redis/cache.h), for fastsio.RedisDict.
 *
 * Fields and values cross as str (values are the JSON texts RedisDict
 * stores). Every method releases the GIL around the cache call: a read may
 * wait for a (re)load, a write takes the cache mutex. The object keeps its
 * RedisClient alive; the fio_chash lives as long as the client's cache. */
#include "py_common.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cache.h"

typedef struct {
    PyObject_HEAD
    PyObject *client;
    fio_chash *h;
} CachedHashObject;

static int cache_status(long rc)
{
    if (rc >= 0)
        return 0;
    switch (-rc) {
    case FIO_CACHE_TIMEOUT:
        PyErr_SetString(PyExc_TimeoutError, "Redis did not answer in time");
        break;
    case FIO_CACHE_NOMEM:
        PyErr_NoMemory();
        break;
    default:
        PyErr_SetString(PyExc_ConnectionError, "Redis client is closed");
        break;
    }
    return -1;
}

static PyObject *text_object(const char *p, size_t n)
{
    return PyUnicode_DecodeUTF8(p ? p : "", (Py_ssize_t)n, "surrogatepass");
}

/* CachedHash(client, name) */
static PyObject *CachedHash_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"client", "name", NULL};
    PyObject *client, *nameo;
    fio_str name;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OU:CachedHash", kwlist, &client, &nameo))
        return NULL;
    PyObject *module = PyType_GetModule(type);
    fastsio_state *st = module ? PyModule_GetState(module) : NULL;
    if (!st)
        return NULL;
    if (!PyObject_TypeCheck(client, st->redis_client_type)) {
        PyErr_SetString(PyExc_TypeError, "client must be a fastsio._core.RedisClient");
        return NULL;
    }
    fio_cache *c = fastsio_client_cache(client);
    if (!c || fastsio_as_str(nameo, &name) < 0)
        return NULL;
    fio_chash *h = fio_cache_hash(c, name);
    if (!h)
        return PyErr_NoMemory();
    CachedHashObject *self = (CachedHashObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->client = Py_NewRef(client);
    self->h = h;
    return (PyObject *)self;
}

static void CachedHash_dealloc(CachedHashObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->client);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int CachedHash_traverse(CachedHashObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->client);
    return 0;
}

static int CachedHash_clear(CachedHashObject *self)
{
    Py_CLEAR(self->client);
    return 0;
}

/* The cache outlives the object only while the client is open. */
static int usable(CachedHashObject *self)
{
    return self->client && fastsio_client_cache(self->client) ? 0 : -1;
}

/* get(field) -> str or None */
static PyObject *CachedHash_get(CachedHashObject *self, PyObject *arg)
{
    fio_str field;
    if (usable(self) < 0 || fastsio_as_str(arg, &field) < 0)
        return NULL;
    fio_buf out;
    fio_buf_init(&out);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fio_chash_get(self->h, field, &out);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (cache_status(rc) == 0)
        result = rc == 1 ? text_object(out.data, out.len) : Py_NewRef(Py_None);
    fio_buf_free(&out);
    return result;
}

/* has(field) -> bool */
static PyObject *CachedHash_has(CachedHashObject *self, PyObject *arg)
{
    fio_str field;
    if (usable(self) < 0 || fastsio_as_str(arg, &field) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fio_chash_has(self->h, field);
    Py_END_ALLOW_THREADS
    if (cache_status(rc) < 0)
        return NULL;
    return PyBool_FromLong(rc);
}

/* size() -> number of fields */
static PyObject *CachedHash_size(CachedHashObject *self, PyObject *Py_UNUSED(ignored))
{
    if (usable(self) < 0)
        return NULL;
    long n;
    Py_BEGIN_ALLOW_THREADS
    n = fio_chash_len(self->h);
    Py_END_ALLOW_THREADS
    if (cache_status(n) < 0)
        return NULL;
    return PyLong_FromLong(n);
}

/* Snapshot records: [u64 field len][field][u64 value len][value] ... */
static int snap_pair(void *ctx, fio_str field, fio_str value)
{
    fio_buf *b = ctx;
    uint64_t fl = field.n, vl = value.n;
    if (fio_buf_append(b, &fl, sizeof fl) < 0 || fio_buf_append(b, field.p, field.n) < 0 ||
        fio_buf_append(b, &vl, sizeof vl) < 0 || fio_buf_append(b, value.p, value.n) < 0)
        return -FIO_CACHE_NOMEM;
    return 0;
}

enum { WANT_KEYS = 1, WANT_VALUES = 2 };

static PyObject *snapshot(CachedHashObject *self, int want)
{
    if (usable(self) < 0)
        return NULL;
    fio_buf b;
    fio_buf_init(&b);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fio_chash_each(self->h, snap_pair, &b);
    Py_END_ALLOW_THREADS
    PyObject *list = NULL;
    if (cache_status(rc) < 0)
        goto done;
    list = PyList_New(0);
    if (!list)
        goto done;
    for (size_t off = 0; off < b.len;) {
        uint64_t fl, vl;
        memcpy(&fl, b.data + off, sizeof fl);
        const char *f = b.data + off + sizeof fl;
        memcpy(&vl, f + fl, sizeof vl);
        const char *v = f + fl + sizeof vl;
        off += 2 * sizeof(uint64_t) + fl + vl;
        PyObject *item;
        if (want == WANT_KEYS)
            item = text_object(f, fl);
        else if (want == WANT_VALUES)
            item = text_object(v, vl);
        else
            item = Py_BuildValue("(NN)", text_object(f, fl), text_object(v, vl));
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            goto done;
        }
        Py_DECREF(item);
    }
done:
    fio_buf_free(&b);
    return list;
}

static PyObject *CachedHash_items(CachedHashObject *self, PyObject *Py_UNUSED(ignored))
{
    return snapshot(self, WANT_KEYS | WANT_VALUES);
}

static PyObject *CachedHash_keys(CachedHashObject *self, PyObject *Py_UNUSED(ignored))
{
    return snapshot(self, WANT_KEYS);
}

static PyObject *CachedHash_values(CachedHashObject *self, PyObject *Py_UNUSED(ignored))
{
    return snapshot(self, WANT_VALUES);
}

/* Views of a list of str (fields) or of (field, value) pairs; borrowed from
 * `seq`, which the caller keeps alive. */
static int str_views(PyObject *seq, fio_str **fields, fio_str **values, Py_ssize_t *n)
{
    *n = PySequence_Fast_GET_SIZE(seq);
    *fields = calloc((size_t)(*n ? *n : 1), sizeof **fields);
    if (values)
        *values = calloc((size_t)(*n ? *n : 1), sizeof **values);
    if (!*fields || (values && !*values)) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
        if (!values) {
            if (fastsio_as_str(o, &(*fields)[i]) < 0)
                return -1;
            continue;
        }
        if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 2) {
            PyErr_SetString(PyExc_TypeError, "expected (field, value) pairs");
            return -1;
        }
        if (fastsio_as_str(PyTuple_GET_ITEM(o, 0), &(*fields)[i]) < 0 ||
            fastsio_as_str(PyTuple_GET_ITEM(o, 1), &(*values)[i]) < 0)
            return -1;
    }
    return 0;
}

/* set(pairs): HSET of (field, value) pairs, one command */
static PyObject *CachedHash_set(CachedHashObject *self, PyObject *arg)
{
    fio_str *fields = NULL, *values = NULL;
    Py_ssize_t n = 0;
    PyObject *result = NULL;
    if (usable(self) < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "set() takes a list of (field, value) pairs");
    if (!seq)
        return NULL;
    if (str_views(seq, &fields, &values, &n) < 0)
        goto done;
    if (n > 0) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = fio_chash_set(self->h, fields, values, (size_t)n);
        Py_END_ALLOW_THREADS
        if (cache_status(rc) < 0)
            goto done;
    }
    result = Py_NewRef(Py_None);
done:
    free(fields);
    free(values);
    Py_DECREF(seq);
    return result;
}

/* delete(fields) -> how many were present */
static PyObject *CachedHash_delete(CachedHashObject *self, PyObject *arg)
{
    fio_str *fields = NULL;
    Py_ssize_t n = 0;
    PyObject *result = NULL;
    if (usable(self) < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "delete() takes a list of fields");
    if (!seq)
        return NULL;
    if (str_views(seq, &fields, NULL, &n) < 0)
        goto done;
    long count = 0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        count = fio_chash_del(self->h, fields, (size_t)n);
        Py_END_ALLOW_THREADS
        if (cache_status(count) < 0)
            goto done;
    }
    result = PyLong_FromLong(count);
done:
    free(fields);
    Py_DECREF(seq);
    return result;
}

/* clear(): DEL of the hash */
static PyObject *CachedHash_clear_hash(CachedHashObject *self, PyObject *Py_UNUSED(ignored))
{
    if (usable(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fio_chash_clear(self->h);
    Py_END_ALLOW_THREADS
    if (cache_status(rc) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* flush(timeout_ms=-1) -> writes Redis refused so far (of the whole cache) */
static PyObject *CachedHash_flush(CachedHashObject *self, PyObject *args)
{
    int timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "|i:flush", &timeout_ms))
        return NULL;
    if (usable(self) < 0)
        return NULL;
    fio_cache *c = fastsio_client_cache(self->client);
    long rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fio_cache_flush(c, timeout_ms);
    Py_END_ALLOW_THREADS
    if (cache_status(rc) < 0)
        return NULL;
    return PyLong_FromLong(rc);
}

static PyMethodDef CachedHash_methods[] = {
    {"get", (PyCFunction)CachedHash_get, METH_O, "get(field) -> str or None"},
    {"has", (PyCFunction)CachedHash_has, METH_O, "has(field) -> bool"},
    {"size", (PyCFunction)CachedHash_size, METH_NOARGS, "size() -> int"},
    {"items", (PyCFunction)CachedHash_items, METH_NOARGS, "items() -> [(field, value)]"},
    {"keys", (PyCFunction)CachedHash_keys, METH_NOARGS, "keys() -> [field]"},
    {"values", (PyCFunction)CachedHash_values, METH_NOARGS, "values() -> [value]"},
    {"set", (PyCFunction)CachedHash_set, METH_O, "set([(field, value), ...])"},
    {"delete", (PyCFunction)CachedHash_delete, METH_O, "delete([field, ...]) -> int"},
    {"clear", (PyCFunction)CachedHash_clear_hash, METH_NOARGS, "clear()"},
    {"flush", (PyCFunction)CachedHash_flush, METH_VARARGS, "flush(timeout_ms=-1) -> int"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot CachedHash_slots[] = {
    {Py_tp_new, CachedHash_new},
    {Py_tp_dealloc, CachedHash_dealloc},
    {Py_tp_traverse, CachedHash_traverse},
    {Py_tp_clear, CachedHash_clear},
    {Py_tp_methods, CachedHash_methods},
    {Py_tp_doc, "CachedHash(client, name): a Redis hash read from the near cache."},
    {0, NULL},
};

static PyType_Spec CachedHash_spec = {
    .name = "fastsio._core.CachedHash",
    .basicsize = sizeof(CachedHashObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = CachedHash_slots,
};

int fastsio_add_cache_type(PyObject *module, fastsio_state *st)
{
    st->cached_hash_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &CachedHash_spec, NULL);
    if (!st->cached_hash_type)
        return -1;
    return PyModule_AddType(module, st->cached_hash_type);
}
