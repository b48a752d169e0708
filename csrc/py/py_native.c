/* fastsio._core.NativeServer: the native websocket transport (csrc/transport)
 * as seen from the asyncio loop.
 *
 * Threads: every method runs on the loop thread with the GIL held. The lws
 * service thread never touches Python: it posts opens, messages and closes to
 * an inbox (ws_inbox.h) whose eventfd the loop watches (fileno()); take()
 * turns everything posted so far into Python tuples. Calls into the transport
 * that may wait for its mutex (adopt, wake, close_conn) are short and keep
 * the GIL; stopping the thread (close, dealloc) releases it.
 *
 * Ownership: the object holds a reference to the Hub object whose fio_hub the
 * transport borrows, so the hub outlives the transport. close() stops the
 * transport (every connection closed with websocket status 1001, each
 * reported as a CLOSE item still waiting in the inbox); the inbox lives until
 * dealloc so those items can be taken after close(). */
#include "py_common.h"

#include <string.h>
#include <unistd.h>

#include "lws_server.h"
#include "sio.h"
#include "ws_inbox.h"

/* inbound messages waiting for the loop before every connection stops being
 * read (back-pressure, see ws_inbox.h) */
#define INBOUND_BOUND 8192

typedef struct NativeServerObject {
    PyObject_HEAD
    fio_ws_server *srv;           /* NULL once closed */
    fio_inbox *inbox;
    fio_ws_inbox_link link;       /* points at inbox and srv; its address is stable */
    PyObject *hub_obj;
    fio_ws_loop loop;             /* the loop it runs (or ran) on, for stats() */
    PyObject *nsp;                /* str of the last EVENT's namespace, NULL: none
                                     yet; reused while namespaces repeat */
} NativeServerObject;

/* take()'s kind for a MESSAGE whose Socket.IO header the service thread
 * decoded (a plain EVENT, ws_inbox.h); not an inbox item kind. */
#define NATIVE_EVENT_KIND (FIO_WS_ITEM_UPGRADED + 16)

static void native_stop(NativeServerObject *self)
{
    fio_ws_server *srv = self->srv;
    if (!srv)
        return;
    self->srv = NULL;
    Py_BEGIN_ALLOW_THREADS
    fio_ws_server_stop_and_free(srv);
    Py_END_ALLOW_THREADS
    self->link.srv = NULL;   /* after the join: no resume can reach the freed server */
}

static PyObject *NativeServer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"hub", "ping_interval_ms", "ping_timeout_ms", "max_payload",
                             "close_grace_ms", "max_header_bytes", "compress_threshold",
                             "event_loop", NULL};
    const char *loop_name = "default";
    PyObject *hub_obj;
    long long interval = 25000, timeout = 20000, grace = 1000;
    Py_ssize_t max_payload = 1000000, max_header = 16384, compress = 0;
    NativeServerObject *self = NULL;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|LLnLnns:NativeServer", kwlist, &hub_obj,
                                     &interval, &timeout, &max_payload, &grace, &max_header,
                                     &compress, &loop_name))
        return NULL;
    fio_ws_loop loop;
    if (fio_ws_loop_parse(loop_name, &loop) < 0) {
        PyErr_Format(PyExc_ValueError, "NativeServer: event_loop must be 'default', 'poll', "
                     "'ev' or 'uv', not '%s'", loop_name);
        return NULL;
    }
    fio_hub *hub = fastsio_hub_of(hub_obj);
    if (!hub)
        return NULL;
    if (interval <= 0 || timeout <= 0 || max_payload <= 0 || grace <= 0 || max_header <= 0 ||
        max_header > 65535 || compress < 0) {
        PyErr_SetString(PyExc_ValueError, "NativeServer: intervals, max_payload and "
                        "close_grace_ms must be > 0, max_header_bytes in 1..65535, "
                        "compress_threshold >= 0");
        return NULL;
    }
    self = (NativeServerObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->hub_obj = Py_NewRef(hub_obj);
    self->inbox = fio_inbox_new(INBOUND_BOUND, fio_ws_inbox_resume, &self->link);
    if (!self->inbox) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    self->link.q = self->inbox;
    fio_ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ping_interval_ms = interval;
    cfg.ping_timeout_ms = timeout;
    cfg.max_payload = (size_t)max_payload;
    cfg.close_grace_ms = grace;
    cfg.max_header_bytes = (size_t)max_header;
    cfg.compress_threshold = (size_t)compress;
    cfg.event_loop = loop;
    fio_ws_inbox_config(&cfg, &self->link);
    fio_ws_server *srv;
    Py_BEGIN_ALLOW_THREADS
    srv = fio_ws_server_new(hub, &cfg);
    Py_END_ALLOW_THREADS
    if (!srv) {
        PyErr_SetString(PyExc_OSError, "cannot create the libwebsockets context");
        goto done;
    }
    self->srv = srv;
    self->loop = fio_ws_server_loop(srv);
    self->link.srv = srv;
    if (fio_ws_server_start(srv) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    result = (PyObject *)self;
    self = NULL;
done:
    Py_XDECREF(self);
    return result;
}

static void NativeServer_dealloc(NativeServerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    native_stop(self);
    if (self->inbox)
        fio_inbox_free(self->inbox);
    Py_CLEAR(self->hub_obj);
    Py_CLEAR(self->nsp);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int NativeServer_traverse(NativeServerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->hub_obj);
    return 0;
}

static int NativeServer_clear(NativeServerObject *self)
{
    native_stop(self);
    Py_CLEAR(self->hub_obj);
    return 0;
}

static int check_open(NativeServerObject *self)
{
    if (self->srv)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "the native transport is closed");
    return -1;
}

/* adopt(fd, head, sid, conn, upgrade=False): hands the socket fd (ours from
 * the call on, closed on failure) and the request head already read from it
 * to the transport, for hub connection conn opened with sid, which stays the
 * caller's to close (after its CLOSE item). A new session's queued frames
 * (the OPEN packet) go out once the websocket handshake is done; with
 * upgrade, the polling transport keeps the queue until the UPGRADED item. */
static PyObject *NativeServer_adopt(NativeServerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "head", "sid", "conn", "upgrade", NULL};
    int fd, upgrade = 0;
    Py_buffer head;
    const char *sid;
    Py_ssize_t sidlen;
    PyObject *conn_obj;
    uint32_t conn;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*s#O|p:adopt", kwlist, &fd, &head, &sid,
                                     &sidlen, &conn_obj, &upgrade))
        return NULL;
    PyObject *result = NULL;
    int rc;
    if (fastsio_parse_conn(conn_obj, &conn) < 0 || check_open(self) < 0) {
        close(fd);
        goto done;
    }
    rc = fio_ws_adopt_conn(self->srv, fd, head.buf, (size_t)head.len, sid, (size_t)sidlen, conn,
                           upgrade);
    if (rc == FIO_ENOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (rc != FIO_OK) {
        PyErr_SetString(PyExc_ValueError, "the native transport refused the socket");
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&head);
    return result;
}

/* wake_many(ids): the hub queues of these connections have frames. Ignored
 * once closed (every connection is gone then), as are closed ids. */
static PyObject *NativeServer_wake_many(NativeServerObject *self, PyObject *ids)
{
    if (!self->srv)
        Py_RETURN_NONE;
    PyObject *seq = PySequence_Fast(ids, "wake_many expects a sequence of connection ids");
    if (!seq)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t conn;
        if (fastsio_parse_conn(PySequence_Fast_GET_ITEM(seq, i), &conn) < 0)
            goto done;
        if (fio_ws_wake(self->srv, conn) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(seq);
    return result;
}

/* close_conn(conn): websocket close (1000) once what is queued has been
 * written; the CLOSE item follows. Closed or unknown ids are ignored. */
static PyObject *NativeServer_close_conn(NativeServerObject *self, PyObject *conn_obj)
{
    uint32_t conn;
    if (fastsio_parse_conn(conn_obj, &conn) < 0)
        return NULL;
    if (!self->srv)
        Py_RETURN_NONE;   /* stopped: every connection is closed already */
    if (fio_ws_close(self->srv, conn) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *NativeServer_fileno(NativeServerObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(fio_inbox_fd(self->inbox));
}

/* New reference to the namespace str of a decoded EVENT, the cached one when
 * it is the same name. NULL with an exception set. */
static PyObject *event_namespace(NativeServerObject *self, const fio_ws_inmsg *m)
{
    const char *p = m->sio.nsp_len ? m->data + m->sio.nsp_off : "/";
    Py_ssize_t n = m->sio.nsp_len ? (Py_ssize_t)m->sio.nsp_len : 1;
    if (self->nsp) {
        Py_ssize_t cn;
        const char *c = PyUnicode_AsUTF8AndSize(self->nsp, &cn);
        if (!c)
            return NULL;
        if (cn == n && memcmp(c, p, (size_t)n) == 0)
            return Py_NewRef(self->nsp);
    }
    PyObject *o = PyUnicode_DecodeUTF8(p, n, "surrogatepass");
    if (!o)
        return NULL;
    Py_XSETREF(self->nsp, Py_NewRef(o));
    return o;
}

/* (NATIVE_EVENT, conn, text, namespace, ack id or None, body) for a decoded
 * EVENT; NULL with an exception set, or with none when its text is not
 * UTF-8 (the caller then gives the undecodable-text item). */
static PyObject *event_item(NativeServerObject *self, const fio_inbox_item *it,
                            const fio_ws_inmsg *m)
{
    PyObject *text = NULL, *nsp = NULL, *id = NULL, *body = NULL, *result = NULL;
    text = PyUnicode_DecodeUTF8(m->data, (Py_ssize_t)m->len, NULL);
    if (!text) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            PyErr_Clear();
        goto done;
    }
    nsp = event_namespace(self, m);
    if (!nsp)
        goto done;
    id = m->sio.id == SIO_NO_ID ? Py_NewRef(Py_None) : PyLong_FromLongLong(m->sio.id);
    if (!id)
        goto done;
    /* the header is valid UTF-8 (text is), so the body starts on a character */
    body = PyUnicode_DecodeUTF8(m->data + m->sio.body_off, (Py_ssize_t)(m->len - m->sio.body_off),
                                NULL);
    if (!body)
        goto done;
    result = Py_BuildValue("(ikOOOO)", NATIVE_EVENT_KIND, (unsigned long)it->token, text, nsp, id,
                           body);
done:
    Py_XDECREF(text);
    Py_XDECREF(nsp);
    Py_XDECREF(id);
    Py_XDECREF(body);
    return result;
}

static PyObject *item_object(NativeServerObject *self, const fio_inbox_item *it)
{
    switch (it->kind) {
    case FIO_WS_ITEM_OPEN:
    case FIO_WS_ITEM_PROBED:
    case FIO_WS_ITEM_UPGRADED:
        return Py_BuildValue("(ikO)", it->kind, (unsigned long)it->token, Py_None);
    case FIO_WS_ITEM_MESSAGE: {
        const fio_ws_inmsg *m = it->payload;
        PyObject *data;
        if (m->sio.event) {
            data = event_item(self, it, m);
            if (data || PyErr_Occurred())
                return data;
        }
        if (m->binary) {
            data = PyBytes_FromStringAndSize(m->data, (Py_ssize_t)m->len);
        } else {
            /* lws validated the UTF-8 of text frames; None tells the loop to
             * end the connection should that ever fail */
            data = PyUnicode_DecodeUTF8(m->data, (Py_ssize_t)m->len, NULL);
            if (!data && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                data = Py_NewRef(Py_None);
            }
        }
        if (!data)
            return NULL;
        return Py_BuildValue("(ikN)", it->kind, (unsigned long)it->token, data);
    }
    case FIO_WS_ITEM_CLOSE:
        return Py_BuildValue("(iks)", it->kind, (unsigned long)(uint32_t)it->token,
                             fio_ws_reason_name((fio_ws_reason)(it->token >> 32)));
    default:
        PyErr_Format(PyExc_ValueError, "unknown native inbox item kind %d", it->kind);
        return NULL;
    }
}

/* take() -> [(kind, conn, value)]: NATIVE_OPEN, _PROBED, _UPGRADED value None; NATIVE_MESSAGE value
 * str (Engine.IO MESSAGE text after its type digit), bytes (binary frame) or
 * None (undecodable text); NATIVE_CLOSE value the reason as python-engineio
 * names it. A connection's CLOSE is its last item. A plain Socket.IO EVENT
 * (ws_inbox.h) comes as (NATIVE_EVENT, conn, text, namespace, ack id or None,
 * JSON body text), text being what NATIVE_MESSAGE would give. */
static PyObject *NativeServer_take(NativeServerObject *self, PyObject *Py_UNUSED(ignored))
{
    fio_inbox_batch b;
    fio_inbox_take(self->inbox, &b);
    PyObject *items = PyList_New((Py_ssize_t)b.nitems);
    if (!items)
        goto done;
    for (size_t i = 0; i < b.nitems; i++) {
        PyObject *o = item_object(self, &b.items[i]);
        if (!o) {
            Py_CLEAR(items);
            goto done;
        }
        PyList_SET_ITEM(items, (Py_ssize_t)i, o);
    }
done:
    fio_inbox_batch_free(&b);
    return items;
}

static PyObject *NativeServer_stats(NativeServerObject *self, PyObject *Py_UNUSED(ignored))
{
    fio_ws_stats s;
    memset(&s, 0, sizeof s);
    if (self->srv)
        fio_ws_get_stats(self->srv, &s);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsOss}", "adopted", (unsigned long long)s.adopted,
                         "open", (unsigned long long)s.open, "closed",
                         (unsigned long long)s.closed, "writes", (unsigned long long)s.writes,
                         "frames_out", (unsigned long long)s.frames_out, "bytes_out",
                         (unsigned long long)s.bytes_out, "messages_in",
                         (unsigned long long)s.messages_in, "deflated",
                         (unsigned long long)s.deflated, "inflated",
                         (unsigned long long)s.inflated, "running",
                         self->srv ? Py_True : Py_False, "event_loop",
                         fio_ws_loop_name(self->loop));
}

static PyObject *NativeServer_close(NativeServerObject *self, PyObject *Py_UNUSED(ignored))
{
    native_stop(self);
    Py_RETURN_NONE;
}

static PyMethodDef NativeServer_methods[] = {
    {"adopt", (PyCFunction)(void (*)(void))NativeServer_adopt, METH_VARARGS | METH_KEYWORDS,
     "adopt(fd, head, sid, conn, upgrade=False): hand a socket to the transport thread"},
    {"wake_many", (PyCFunction)NativeServer_wake_many, METH_O, "wake_many(conn_ids)"},
    {"close_conn", (PyCFunction)NativeServer_close_conn, METH_O,
     "close_conn(conn): close once the queued frames are written"},
    {"fileno", (PyCFunction)NativeServer_fileno, METH_NOARGS, "fileno() -> inbox eventfd"},
    {"take", (PyCFunction)NativeServer_take, METH_NOARGS,
     "take() -> [(kind, conn, value)] posted so far"},
    {"stats", (PyCFunction)NativeServer_stats, METH_NOARGS, "stats() -> dict of counters"},
    {"close", (PyCFunction)NativeServer_close, METH_NOARGS,
     "close(): close every connection and stop the thread"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot NativeServer_slots[] = {
    {Py_tp_new, NativeServer_new},
    {Py_tp_dealloc, NativeServer_dealloc},
    {Py_tp_traverse, NativeServer_traverse},
    {Py_tp_clear, NativeServer_clear},
    {Py_tp_methods, NativeServer_methods},
    {Py_tp_doc, "NativeServer(hub, ping_interval_ms=25000, ping_timeout_ms=20000, "
                "max_payload=1000000, close_grace_ms=1000, max_header_bytes=16384, "
                "compress_threshold=0 (permessage-deflate off; N: offered, frames of "
                "N bytes and more compressed, once per broadcast)): "
                "the libwebsockets thread that owns adopted websockets"},
    {0, NULL},
};

static PyType_Spec NativeServer_spec = {
    .name = "fastsio._core.NativeServer",
    .basicsize = sizeof(NativeServerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = NativeServer_slots,
};

int fastsio_add_native_type(PyObject *module)
{
    PyTypeObject *t = (PyTypeObject *)PyType_FromModuleAndSpec(module, &NativeServer_spec, NULL);
    if (!t)
        return -1;
    int rc = PyModule_AddType(module, t);
    Py_DECREF(t);
    if (rc < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "NATIVE_OPEN", FIO_WS_ITEM_OPEN) < 0 ||
        PyModule_AddIntConstant(module, "NATIVE_MESSAGE", FIO_WS_ITEM_MESSAGE) < 0 ||
        PyModule_AddIntConstant(module, "NATIVE_EVENT", NATIVE_EVENT_KIND) < 0 ||
        PyModule_AddIntConstant(module, "NATIVE_CLOSE", FIO_WS_ITEM_CLOSE) < 0 ||
        PyModule_AddIntConstant(module, "NATIVE_PROBED", FIO_WS_ITEM_PROBED) < 0 ||
        PyModule_AddIntConstant(module, "NATIVE_UPGRADED", FIO_WS_ITEM_UPGRADED) < 0)
        return -1;
    return 0;
}
