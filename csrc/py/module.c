/* fastsio._core: module definition and the codec functions.
 * Every function here runs with the GIL held; the codecs are short pure-C
 * calls over the UTF-8 buffer of a str, so they do not release it. */
#include "py_common.h"

#include "base64.h"
#include "buf.h"
#include "eio.h"
#include "sio.h"

int fastsio_as_str(PyObject *o, fio_str *out)
{
    if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(o, &n);
        if (!p)
            return -1;
        out->p = p;
        out->n = (size_t)n;
        return 0;
    }
    if (PyBytes_Check(o)) {
        out->p = PyBytes_AS_STRING(o);
        out->n = (size_t)PyBytes_GET_SIZE(o);
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "expected str, got %.100s", Py_TYPE(o)->tp_name);
    return -1;
}

fio_frame *fastsio_message_frame(PyObject *item)
{
    fio_frame *f = NULL;
    if (PyUnicode_Check(item)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(item, &n);
        if (!p)
            return NULL;
        f = fio_frame_text(EIO_MESSAGE, p, (size_t)n);
    } else if (PyBytes_Check(item)) {
        f = fio_frame_new(PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item), 1);
    } else if (PyByteArray_Check(item)) {
        f = fio_frame_new(PyByteArray_AS_STRING(item), (size_t)PyByteArray_GET_SIZE(item), 1);
    } else {
        PyErr_Format(PyExc_TypeError, "message must be str or bytes, not %.100s",
                     Py_TYPE(item)->tp_name);
        return NULL;
    }
    if (!f)
        PyErr_NoMemory();
    return f;
}

PyObject *fastsio_frame_object(const fio_frame *f)
{
    if (f->binary)
        return PyBytes_FromStringAndSize(f->data, (Py_ssize_t)f->len);
    return PyUnicode_DecodeUTF8(f->data, (Py_ssize_t)f->len, "surrogatepass");
}

static PyObject *buf_to_str(fio_buf *b)
{
    PyObject *r = PyUnicode_DecodeUTF8(b->data ? b->data : "", (Py_ssize_t)b->len,
                                       "surrogatepass");
    fio_buf_free(b);
    return r;
}

/* eio_decode(packet: str) -> (type: int, data: str) */
static PyObject *py_eio_decode(PyObject *self, PyObject *arg)
{
    (void)self;
    fio_str s;
    int type;
    const char *data;
    size_t n;
    if (fastsio_as_str(arg, &s) < 0)
        return NULL;
    if (eio_decode_text(s.p, s.n, &type, &data, &n) < 0) {
        PyErr_SetString(PyExc_ValueError, "invalid Engine.IO packet");
        return NULL;
    }
    PyObject *text = PyUnicode_DecodeUTF8(data, (Py_ssize_t)n, "surrogatepass");
    if (!text)
        return NULL;
    return Py_BuildValue("(iN)", type, text);
}

struct split_ctx {
    PyObject *list;
};

static int split_elem(void *vctx, const char *elem, size_t len)
{
    struct split_ctx *ctx = vctx;
    PyObject *item = NULL;
    if (eio_is_b64(elem, len)) {
        fio_buf out;
        fio_buf_init(&out);
        int rc = eio_decode_b64(elem, len, &out);
        if (rc == 0)
            item = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
        else if (rc == -2)
            PyErr_NoMemory();
        else
            PyErr_SetString(PyExc_ValueError, "invalid base64 binary packet");
        fio_buf_free(&out);
    } else {
        item = PyUnicode_DecodeUTF8(elem, (Py_ssize_t)len, "surrogatepass");
    }
    if (!item)
        return -1;
    int rc = PyList_Append(ctx->list, item);
    Py_DECREF(item);
    return rc < 0 ? -1 : 0;
}

/* payload_split(body: str, max_packets: int) -> list of str (text packets)
 * and bytes (decoded "b<base64>" binary messages). ValueError when invalid. */
static PyObject *py_payload_split(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *body;
    Py_ssize_t max_packets;
    fio_str s;
    if (!PyArg_ParseTuple(args, "On:payload_split", &body, &max_packets))
        return NULL;
    if (max_packets < 1) {
        PyErr_SetString(PyExc_ValueError, "max_packets must be positive");
        return NULL;
    }
    if (fastsio_as_str(body, &s) < 0)
        return NULL;
    struct split_ctx ctx = {PyList_New(0)};
    if (!ctx.list)
        return NULL;
    int rc = eio_payload_split(s.p, s.n, (size_t)max_packets, split_elem, &ctx);
    if (rc == 0)
        return ctx.list;
    Py_DECREF(ctx.list);
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, rc == -1 ? "Too many packets in payload"
                                                   : "Empty payload");
    return NULL;
}

/* The ack id of a decoded packet: None, or an int of any size (ids beyond
 * a long long come from their digits). New reference or NULL. */
static PyObject *sio_id_object(const sio_packet *pkt)
{
    if (pkt->id_digits == NULL)
        return Py_NewRef(Py_None);
    if (pkt->id != SIO_BIG_ID)
        return PyLong_FromLongLong(pkt->id);
    char digits[SIO_MAX_ID_DIGITS + 1];
    if (pkt->id_len >= sizeof digits) {
        PyErr_SetString(PyExc_ValueError, "id field is too long");
        return NULL;
    }
    memcpy(digits, pkt->id_digits, pkt->id_len);
    digits[pkt->id_len] = '\0';
    return PyLong_FromString(digits, NULL, 10);
}

/* sio_decode(packet: str) -> (type, namespace, id or None, attachments, data: str)
 * The id is an int of up to SIO_MAX_ID_DIGITS digits; ValueError when invalid. */
static PyObject *py_sio_decode(PyObject *self, PyObject *arg)
{
    (void)self;
    fio_str s;
    sio_packet pkt;
    const char *err = NULL;
    if (fastsio_as_str(arg, &s) < 0)
        return NULL;
    if (sio_decode(s.p, s.n, &pkt, &err) < 0) {
        PyErr_SetString(PyExc_ValueError, err ? err : "invalid Socket.IO packet");
        return NULL;
    }
    PyObject *nsp = NULL, *id = NULL, *data = NULL, *result = NULL;
    nsp = PyUnicode_DecodeUTF8(pkt.nsp, (Py_ssize_t)pkt.nsplen, "surrogatepass");
    if (!nsp)
        goto done;
    id = sio_id_object(&pkt);
    if (!id)
        goto done;
    data = PyUnicode_DecodeUTF8(pkt.data, (Py_ssize_t)pkt.datalen, "surrogatepass");
    if (!data)
        goto done;
    result = Py_BuildValue("(iOOiO)", pkt.type, nsp, id, pkt.attachments, data);
done:
    Py_XDECREF(nsp);
    Py_XDECREF(id);
    Py_XDECREF(data);
    return result;
}

/* An ack id for sio_encode: None, or an int >= 0 of any size (anything with
 * __index__ but bool). Sets *value for ids that fit a long long; else *text
 * to a new reference to the decimal str. 0, or -1 with an exception set. */
static int sio_id_arg(PyObject *idobj, long long *value, PyObject **text)
{
    *value = SIO_NO_ID;
    *text = NULL;
    if (idobj == Py_None)
        return 0;
    PyObject *num;
    if (PyLong_CheckExact(idobj)) {
        num = Py_NewRef(idobj);
    } else if (PyBool_Check(idobj)) {
        PyErr_SetString(PyExc_TypeError, "ack id must be an int or None, not bool");
        return -1;
    } else if (!PyIndex_Check(idobj)) {
        PyErr_Format(PyExc_TypeError, "ack id must be an int or None, not %.100s",
                     Py_TYPE(idobj)->tp_name);
        return -1;
    } else if (!(num = PyNumber_Index(idobj))) {
        return -1;
    }
    int rc = -1, overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
    if (v == -1 && overflow == 0 && PyErr_Occurred())
        goto done;
    if (overflow < 0 || (overflow == 0 && v < 0)) {
        PyErr_SetString(PyExc_ValueError, "ack id must not be negative");
        goto done;
    }
    if (overflow == 0) {
        *value = v;
    } else {
        *text = PyNumber_ToBase(num, 10);
        if (!*text)
            goto done;
    }
    rc = 0;
done:
    Py_DECREF(num);
    return rc;
}

/* sio_encode(type, namespace, id or None, attachments, json: str or None) -> str
 * The Socket.IO packet text (no Engine.IO type digit). */
static PyObject *py_sio_encode(PyObject *self, PyObject *args)
{
    (void)self;
    int type, attachments;
    PyObject *nspobj, *idobj, *json, *idtext = NULL, *result = NULL;
    fio_str nsp, body = {NULL, 0}, digits = {NULL, 0};
    long long id;
    int rc;
    fio_buf b;
    fio_buf_init(&b);
    if (!PyArg_ParseTuple(args, "iOOiO:sio_encode", &type, &nspobj, &idobj, &attachments, &json))
        return NULL;
    if (nspobj == Py_None) {
        nsp.p = "/";
        nsp.n = 1;
    } else if (fastsio_as_str(nspobj, &nsp) < 0) {
        return NULL;
    }
    if (sio_id_arg(idobj, &id, &idtext) < 0)
        return NULL;
    if (idtext && fastsio_as_str(idtext, &digits) < 0)
        goto done;
    if (json != Py_None && fastsio_as_str(json, &body) < 0)
        goto done;
    rc = idtext ? sio_encode_header_digits(&b, type, attachments, nsp.p, nsp.n,
                                           digits.p, digits.n)
                : sio_encode_header(&b, type, attachments, nsp.p, nsp.n, id);
    if (rc == 0 && body.n)
        rc = fio_buf_append(&b, body.p, body.n);
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "invalid Socket.IO packet fields");
        goto done;
    }
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = buf_to_str(&b);   /* frees b */
done:
    if (!result)
        fio_buf_free(&b);
    Py_XDECREF(idtext);
    return result;
}

/* open_packet(sid, upgrade_websocket, ping_timeout_ms, ping_interval_ms, max_payload) -> str */
static PyObject *py_open_packet(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *sidobj;
    int upgrade;
    long long timeout_ms, interval_ms, max_payload;
    fio_str sid;
    if (!PyArg_ParseTuple(args, "OpLLL:open_packet", &sidobj, &upgrade, &timeout_ms,
                          &interval_ms, &max_payload))
        return NULL;
    if (fastsio_as_str(sidobj, &sid) < 0)
        return NULL;
    fio_buf b;
    fio_buf_init(&b);
    if (eio_open_packet(&b, sid.p, sid.n, upgrade, timeout_ms, interval_ms, max_payload) < 0) {
        fio_buf_free(&b);
        return PyErr_NoMemory();
    }
    return buf_to_str(&b);
}

/* 1 when o holds bytes or bytearray anywhere inside lists and dict values
 * (tuples, sets and dict keys are not looked into, as python-socketio's
 * check), 0 when not, -1 with an exception set (RecursionError on nesting
 * deeper than the interpreter allows). */
static int holds_binary(PyObject *o)
{
    if (PyBytes_Check(o) || PyByteArray_Check(o))
        return 1;
    int list = PyList_Check(o);
    if (!list && !PyDict_Check(o))
        return 0;
    if (Py_EnterRecursiveCall(" while looking for binary data"))
        return -1;
    int found = 0;
    if (list) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(o) && !found; i++) {
            PyObject *item = Py_NewRef(PyList_GET_ITEM(o, i));
            found = holds_binary(item);
            Py_DECREF(item);
        }
    } else {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (!found && PyDict_Next(o, &pos, &key, &value)) {
            Py_INCREF(value);
            found = holds_binary(value);
            Py_DECREF(value);
        }
    }
    Py_LeaveRecursiveCall();
    return found;
}

/* has_binary(obj) -> bool; see holds_binary. */
static PyObject *py_has_binary(PyObject *self, PyObject *arg)
{
    (void)self;
    int found = holds_binary(arg);
    if (found < 0)
        return NULL;
    return PyBool_FromLong(found);
}

static PyMethodDef module_methods[] = {
    {"has_binary", py_has_binary, METH_O,
     "has_binary(obj) -> True when bytes/bytearray sit anywhere in its lists and dict values"},
    {"eio_decode", py_eio_decode, METH_O, "eio_decode(packet) -> (type, data)"},
    {"payload_split", py_payload_split, METH_VARARGS,
     "payload_split(body, max_packets) -> list of str/bytes packets"},
    {"sio_decode", py_sio_decode, METH_O,
     "sio_decode(packet) -> (type, namespace, id, attachments, json_text)"},
    {"sio_encode", py_sio_encode, METH_VARARGS,
     "sio_encode(type, namespace, id, attachments, json_text) -> packet text"},
    {"open_packet", py_open_packet, METH_VARARGS,
     "open_packet(sid, upgrade_websocket, ping_timeout_ms, ping_interval_ms, max_payload)"},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *module)
{
    fastsio_state *st = PyModule_GetState(module);
    if (!st)
        return -1;
    if (fastsio_add_hub_type(module, st) < 0)
        return -1;
    if (fastsio_add_redis_types(module, st) < 0)
        return -1;
    if (fastsio_add_merge_type(module) < 0)
        return -1;
    if (fastsio_add_native_type(module) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "MAX_ATTACHMENTS", SIO_MAX_ATTACHMENTS) < 0)
        return -1;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    fastsio_state *st = PyModule_GetState(module);
    if (st) {
        Py_VISIT(st->hub_type);
        Py_VISIT(st->redis_client_type);
        Py_VISIT(st->cached_hash_type);
        Py_VISIT(st->redis_error);
    }
    return 0;
}

static int module_clear(PyObject *module)
{
    fastsio_state *st = PyModule_GetState(module);
    if (st) {
        Py_CLEAR(st->hub_type);
        Py_CLEAR(st->redis_client_type);
        Py_CLEAR(st->cached_hash_type);
        Py_CLEAR(st->redis_error);
    }
    return 0;
}

static void module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fastsio._core",
    .m_doc = "fastsio C core: Engine.IO/Socket.IO codecs, rooms, outbound queues and Redis.",
    .m_size = sizeof(fastsio_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&module_def);
}
