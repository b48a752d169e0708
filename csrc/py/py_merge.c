/* fastsio._core.Merger: the delta merger of one stream (csrc/merge/merge.h)
 * for fastsio.stream.Stream.
 *
 * Texts cross as the app's json module wrote them: str (stdlib json) or
 * bytes (orjson). An output that is the pushed text itself comes back as
 * the very object pushed (`out is text`), so the caller can send its own
 * object without decoding; a merged output is a new object of the type of
 * the push (or, for flush, of the last push).
 *
 * Thread: the loop thread only, GIL held throughout (merging a token is a
 * few hundred nanoseconds; releasing the GIL would cost more). The object
 * is not thread-safe; Python callers never share one across threads. */
#include "py_common.h"

#include "merge.h"

typedef struct {
    PyObject_HEAD
    fio_merge *m;
    int bytes_out;      /* type of the last pushed text: 1 bytes, 0 str */
} MergerObject;

static PyObject *text_like(const fio_str *t, int as_bytes)
{
    if (as_bytes)
        return PyBytes_FromStringAndSize(t->p, (Py_ssize_t)t->n);
    return PyUnicode_DecodeUTF8(t->p, (Py_ssize_t)t->n, "surrogatepass");
}

/* Merger(max_bytes=16384) */
static PyObject *Merger_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_bytes", NULL};
    Py_ssize_t max_bytes = FIO_MERGE_MAX_BYTES;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n:Merger", kwlist, &max_bytes))
        return NULL;
    if (max_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "max_bytes must be at least 1");
        return NULL;
    }
    MergerObject *self = (MergerObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->m = fio_merge_new((size_t)max_bytes);
    if (!self->m) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void Merger_dealloc(MergerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    fio_merge_free(self->m);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* The outputs as a tuple: text[i] equal to the pushed text (same pointer)
 * becomes the pushed object itself. */
static PyObject *outputs(const fio_merge_out *out, PyObject *pushed, fio_str in, int as_bytes)
{
    PyObject *tuple = PyTuple_New((Py_ssize_t)out->n);
    if (!tuple)
        return NULL;
    for (size_t i = 0; i < out->n; i++) {
        PyObject *item;
        if (pushed && out->text[i].p == in.p && out->text[i].n == in.n)
            item = Py_NewRef(pushed);
        else
            item = text_like(&out->text[i], as_bytes);
        if (!item) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, item);
    }
    return tuple;
}

/* push(text, now) -> tuple of 0-2 texts to emit now, in order */
static PyObject *Merger_push(MergerObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "push(text, now) takes exactly 2 arguments");
        return NULL;
    }
    fio_str text;
    if (fastsio_as_str(args[0], &text) < 0)
        return NULL;
    long long now = PyLong_AsLongLong(args[1]);
    if (now == -1 && PyErr_Occurred())
        return NULL;
    int as_bytes = PyBytes_Check(args[0]);
    fio_merge_out out;
    fio_merge_push(self->m, text, (int64_t)now, &out);
    self->bytes_out = as_bytes;
    return outputs(&out, args[0], text, as_bytes);
}

/* flush() -> the pending text, or None */
static PyObject *Merger_flush(MergerObject *self, PyObject *Py_UNUSED(ignored))
{
    fio_merge_out out;
    if (fio_merge_flush(self->m, &out) == 0)
        Py_RETURN_NONE;
    return text_like(&out.text[0], self->bytes_out);
}

/* pending_since() -> the `now` of the push that began the pending text, or None */
static PyObject *Merger_pending_since(MergerObject *self, PyObject *Py_UNUSED(ignored))
{
    int64_t since;
    if (!fio_merge_pending(self->m, &since))
        Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)since);
}

static PyObject *Merger_pending_bytes(MergerObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(fio_merge_pending_bytes(self->m));
}

/* merge_kind(text) -> 0 other, 1 delta, 2 snapshot, 3 replace */
static PyObject *py_merge_kind(PyObject *Py_UNUSED(module), PyObject *arg)
{
    fio_str text;
    if (fastsio_as_str(arg, &text) < 0)
        return NULL;
    return PyLong_FromLong((long)fio_merge_classify(text));
}

static PyMethodDef Merger_methods[] = {
    {"push", (PyCFunction)(void (*)(void))Merger_push, METH_FASTCALL,
     "push(text, now) -> tuple of the texts to emit now, in order"},
    {"flush", (PyCFunction)Merger_flush, METH_NOARGS, "flush() -> pending text or None"},
    {"pending_since", (PyCFunction)Merger_pending_since, METH_NOARGS,
     "pending_since() -> timestamp of the push that began the pending text, or None"},
    {"pending_bytes", (PyCFunction)Merger_pending_bytes, METH_NOARGS,
     "pending_bytes() -> length of the pending text"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Merger_slots[] = {
    {Py_tp_new, Merger_new},
    {Py_tp_dealloc, Merger_dealloc},
    {Py_tp_methods, Merger_methods},
    {Py_tp_doc, "Merger(max_bytes=16384): delta merger of one event stream"},
    {0, NULL},
};

static PyType_Spec Merger_spec = {
    .name = "fastsio._core.Merger",
    .basicsize = sizeof(MergerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Merger_slots,
};

static PyMethodDef merge_functions[] = {
    {"merge_kind", py_merge_kind, METH_O,
     "merge_kind(text) -> 0 other, 1 delta, 2 snapshot, 3 replace"},
    {NULL, NULL, 0, NULL},
};

int fastsio_add_merge_type(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &Merger_spec, NULL);
    if (!type)
        return -1;
    int rc = PyModule_AddObjectRef(module, "Merger", type);
    Py_DECREF(type);
    if (rc < 0 || PyModule_AddFunctions(module, merge_functions) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "MERGE_WINDOW_MS", FIO_MERGE_WINDOW_MS) < 0 ||
        PyModule_AddIntConstant(module, "MERGE_MAX_BYTES", FIO_MERGE_MAX_BYTES) < 0)
        return -1;
    return 0;
}
