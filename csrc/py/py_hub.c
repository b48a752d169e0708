/* fastsio._core.Hub: the Python face of csrc/hub.c.
 *
 * Strings cross as str (UTF-8). Outbound message items are str (a Socket.IO
 * packet; the Engine.IO MESSAGE digit is added here) or bytes (a binary
 * attachment). Methods run with the GIL held; emit() builds its frames with
 * the GIL, then releases it for the fan-out under the hub mutex. */
#include "py_common.h"

#include <stdlib.h>

#include "buf.h"
#include "eio.h"

#define DRAIN_BATCH 256

typedef struct {
    PyObject_HEAD
    fio_hub *hub;
} HubObject;

static int hub_status(int rc)
{
    switch (rc) {
    case FIO_ENOMEM:
        PyErr_NoMemory();
        return -1;
    case FIO_EINVAL:
        PyErr_SetString(PyExc_ValueError, "invalid argument");
        return -1;
    default:
        return 0;
    }
}

int fastsio_parse_conn(PyObject *o, uint32_t *out)
{
    unsigned long v = PyLong_AsUnsignedLong(o);
    if (v == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (v > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "connection id out of range");
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Room selectors: None -> whole namespace (n = 0), str -> one room, list or
 * tuple of str -> union. *items is malloc'd (NULL when n == 0); the views
 * borrow from `o`, which the caller keeps alive. */
static int parse_names(PyObject *o, fio_str **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    if (o == Py_None)
        return 0;
    if (PyUnicode_Check(o)) {
        fio_str *one = malloc(sizeof *one);
        if (!one) {
            PyErr_NoMemory();
            return -1;
        }
        if (fastsio_as_str(o, one) < 0) {
            free(one);
            return -1;
        }
        *items = one;
        *n = 1;
        return 0;
    }
    if (!PyList_Check(o) && !PyTuple_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "rooms must be None, a str or a list of str");
        return -1;
    }
    Py_ssize_t len = PySequence_Fast_GET_SIZE(o);
    if (len == 0)
        return 0;
    fio_str *arr = malloc(sizeof *arr * (size_t)len);
    if (!arr) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject **elems = PySequence_Fast_ITEMS(o);
    for (Py_ssize_t i = 0; i < len; i++) {
        if (!PyUnicode_Check(elems[i])) {
            PyErr_SetString(PyExc_TypeError, "room names must be str");
            free(arr);
            return -1;
        }
        if (fastsio_as_str(elems[i], &arr[i]) < 0) {
            free(arr);
            return -1;
        }
    }
    *items = arr;
    *n = (size_t)len;
    return 0;
}

static PyObject *str_object(fio_str s)
{
    return PyUnicode_DecodeUTF8(s.p, (Py_ssize_t)s.n, "surrogatepass");
}

/* ---- collectors: hub callbacks run under the hub mutex with the GIL held ---- */

struct collect {
    PyObject *list;
    int failed;
};

static int collect_name(void *vctx, fio_str name)
{
    struct collect *c = vctx;
    PyObject *s = str_object(name);
    if (!s || PyList_Append(c->list, s) < 0) {
        Py_XDECREF(s);
        c->failed = 1;
        return 1;
    }
    Py_DECREF(s);
    return 0;
}

static int collect_member(void *vctx, fio_str sid, uint32_t conn, fio_str eio_sid)
{
    (void)conn;
    struct collect *c = vctx;
    PyObject *t = Py_BuildValue("(NN)", str_object(sid), str_object(eio_sid));
    if (!t || PyList_Append(c->list, t) < 0) {
        Py_XDECREF(t);
        c->failed = 1;
        return 1;
    }
    Py_DECREF(t);
    return 0;
}

struct one_member {
    PyObject *result;
    int failed;
};

static int take_member(void *vctx, fio_str sid, uint32_t conn, fio_str eio_sid)
{
    struct one_member *m = vctx;
    m->result = Py_BuildValue("(NkN)", str_object(sid), (unsigned long)conn,
                              str_object(eio_sid));
    if (!m->result)
        m->failed = 1;
    return 1;
}

/* ---- type ---- */

/* Hub(max_queue=10000, max_queue_bytes=DEFAULT_MAX_QUEUE_BYTES): both bound
 * every connection's queue (hub.h); max_queue_bytes=None removes the byte
 * bound. */
#define DEFAULT_MAX_QUEUE_BYTES ((Py_ssize_t)64 * 1024 * 1024)

static PyObject *Hub_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_queue", "max_queue_bytes", NULL};
    Py_ssize_t max_queue = 10000;
    PyObject *bytes_obj = NULL;
    size_t max_bytes = (size_t)DEFAULT_MAX_QUEUE_BYTES;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|nO:Hub", kwlist, &max_queue, &bytes_obj))
        return NULL;
    if (max_queue < 1) {
        PyErr_SetString(PyExc_ValueError, "max_queue must be positive");
        return NULL;
    }
    if (bytes_obj == Py_None) {
        max_bytes = SIZE_MAX;
    } else if (bytes_obj) {
        if (!PyLong_Check(bytes_obj) || PyBool_Check(bytes_obj)) {
            PyErr_SetString(PyExc_TypeError, "max_queue_bytes must be an int or None");
            return NULL;
        }
        Py_ssize_t v = PyLong_AsSsize_t(bytes_obj);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        if (v < 1) {
            PyErr_SetString(PyExc_ValueError, "max_queue_bytes must be positive");
            return NULL;
        }
        max_bytes = (size_t)v;
    }
    HubObject *self = (HubObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->hub = fio_hub_new_bounded((size_t)max_queue, max_bytes);
    if (!self->hub) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void Hub_dealloc(HubObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->hub)
        fio_hub_free(self->hub);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* open(eio_sid) -> conn id */
static PyObject *Hub_open(HubObject *self, PyObject *arg)
{
    fio_str sid;
    uint32_t id;
    if (fastsio_as_str(arg, &sid) < 0)
        return NULL;
    if (hub_status(fio_hub_conn_open(self->hub, sid, &id)) < 0)
        return NULL;
    return PyLong_FromUnsignedLong(id);
}

/* close(conn) -> bool (False if it was not open) */
static PyObject *Hub_close(HubObject *self, PyObject *arg)
{
    uint32_t id;
    if (fastsio_parse_conn(arg, &id) < 0)
        return NULL;
    int rc = fio_hub_conn_close(self->hub, id);
    if (hub_status(rc) < 0)
        return NULL;
    return PyBool_FromLong(rc == FIO_OK);
}

static int push_frames(HubObject *self, uint32_t id, fio_frame **frames, size_t n)
{
    int rc = fio_hub_push(self->hub, id, frames, n);
    for (size_t i = 0; i < n; i++)
        fio_frame_unref(frames[i]);
    return rc;
}

/* The message frames of items (a list of str Socket.IO packets / bytes
 * attachments) in a new array of new references, or NULL with an exception.
 * An empty list gives a 1-slot array and *n = 0. */
static fio_frame **item_frames(PyObject *items, size_t *n)
{
    *n = (size_t)PyList_GET_SIZE(items);
    fio_frame **frames = calloc(*n ? *n : 1, sizeof *frames);
    if (!frames) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        frames[i] = fastsio_message_frame(PyList_GET_ITEM(items, (Py_ssize_t)i));
        if (!frames[i]) {
            for (size_t j = 0; j < i; j++)
                fio_frame_unref(frames[j]);
            free(frames);
            return NULL;
        }
    }
    return frames;
}

/* push(conn, items) -> 1 woken, 0 queued, 2 overflowed, -2 unknown conn.
 * items: list of str (Socket.IO packets) / bytes (attachments), kept together. */
static PyObject *Hub_push(HubObject *self, PyObject *args)
{
    PyObject *connobj, *items;
    uint32_t id;
    size_t n;
    if (!PyArg_ParseTuple(args, "OO!:push", &connobj, &PyList_Type, &items))
        return NULL;
    if (fastsio_parse_conn(connobj, &id) < 0)
        return NULL;
    if (PyList_GET_SIZE(items) == 0)
        return PyLong_FromLong(0);
    fio_frame **frames = item_frames(items, &n);
    if (!frames)
        return NULL;
    int rc = push_frames(self, id, frames, n);
    free(frames);
    if (hub_status(rc) < 0)
        return NULL;
    return PyLong_FromLong(rc);
}

/* hold(conn) -> token: a place at the queue's tail for frames given later to
 * unhold; the writer drains nothing past it meanwhile. -2 unknown conn. */
static PyObject *Hub_hold(HubObject *self, PyObject *arg)
{
    uint32_t id;
    uint64_t token = 0;
    if (fastsio_parse_conn(arg, &id) < 0)
        return NULL;
    int rc = fio_hub_hold(self->hub, id, &token);
    if (rc == FIO_ENOMEM)
        return PyErr_NoMemory();
    if (rc != FIO_OK)
        return PyLong_FromLong(rc);
    return PyLong_FromUnsignedLongLong(token);
}

/* unhold(conn, token, items) -> as push(): the items take the hold's place. */
static PyObject *Hub_unhold(HubObject *self, PyObject *args)
{
    PyObject *connobj, *items;
    unsigned long long token;
    uint32_t id;
    size_t n;
    if (!PyArg_ParseTuple(args, "OKO!:unhold", &connobj, &token, &PyList_Type, &items))
        return NULL;
    if (fastsio_parse_conn(connobj, &id) < 0)
        return NULL;
    fio_frame **frames = item_frames(items, &n);
    if (!frames)
        return NULL;
    int rc = fio_hub_unhold(self->hub, id, (uint64_t)token, frames, n);
    for (size_t i = 0; i < n; i++)
        fio_frame_unref(frames[i]);
    free(frames);
    if (rc == FIO_EINVAL) {
        PyErr_SetString(PyExc_ValueError, "unknown hold token");
        return NULL;
    }
    if (hub_status(rc) < 0)
        return NULL;
    return PyLong_FromLong(rc);
}

/* push_control(conn, eio_type, data="") -> as push(); for OPEN, PING, CLOSE, NOOP... */
static PyObject *Hub_push_control(HubObject *self, PyObject *args)
{
    PyObject *connobj, *dataobj = NULL;
    int type;
    uint32_t id;
    fio_str data = {"", 0};
    if (!PyArg_ParseTuple(args, "Oi|O:push_control", &connobj, &type, &dataobj))
        return NULL;
    if (fastsio_parse_conn(connobj, &id) < 0)
        return NULL;
    if (dataobj && fastsio_as_str(dataobj, &data) < 0)
        return NULL;
    fio_frame *f = fio_frame_text(type, data.p, data.n);
    if (!f) {
        if (type < EIO_OPEN || type > EIO_NOOP) {
            PyErr_SetString(PyExc_ValueError, "invalid Engine.IO packet type");
            return NULL;
        }
        return PyErr_NoMemory();
    }
    int rc = push_frames(self, id, &f, 1);
    if (hub_status(rc) < 0)
        return NULL;
    return PyLong_FromLong(rc);
}

/* drain(conn, max=256) -> (list of at most max str/bytes frames, overflowed)
 * or None if unknown. Text frames come back whole, Engine.IO type digit
 * included. A writer takes bounded batches so that the hub queue, not a
 * Python list, is what fills up behind a slow client. */
static PyObject *Hub_drain(HubObject *self, PyObject *args)
{
    PyObject *connobj;
    Py_ssize_t max = DRAIN_BATCH;
    uint32_t id;
    fio_frame *batch[DRAIN_BATCH];
    int overflowed = 0;
    if (!PyArg_ParseTuple(args, "O|n:drain", &connobj, &max))
        return NULL;
    if (fastsio_parse_conn(connobj, &id) < 0)
        return NULL;
    if (max < 1 || max > DRAIN_BATCH) {
        PyErr_SetString(PyExc_ValueError, "max must be between 1 and 256");
        return NULL;
    }
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    {
        long n = fio_hub_drain(self->hub, id, batch, (size_t)max, &overflowed);
        if (n == FIO_ENOCONN) {
            Py_DECREF(list);
            Py_RETURN_NONE;
        }
        int failed = 0;
        for (long i = 0; i < n; i++) {
            if (!failed) {
                PyObject *o = fastsio_frame_object(batch[i]);
                if (!o || PyList_Append(list, o) < 0)
                    failed = 1;
                Py_XDECREF(o);
            }
            fio_frame_unref(batch[i]);
        }
        if (failed) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return Py_BuildValue("(NO)", list, overflowed ? Py_True : Py_False);
}

/* drain_payload(conn, max_packets=0) -> (polling body str or None when nothing
 * is queued, overflowed: bool), or None if unknown. With max_packets > 0 the
 * body holds at most that many Engine.IO packets (python-engineio's client
 * refuses a payload of more than 16); the rest stays queued, in order, for the
 * next poll. */
static PyObject *Hub_drain_payload(HubObject *self, PyObject *args)
{
    uint32_t id;
    fio_frame *batch[DRAIN_BATCH];
    int overflowed = 0;
    fio_buf body;
    PyObject *result = NULL, *conn;
    Py_ssize_t max_packets = 0;
    if (!PyArg_ParseTuple(args, "O|n:drain_payload", &conn, &max_packets))
        return NULL;
    if (fastsio_parse_conn(conn, &id) < 0)
        return NULL;
    if (max_packets < 0) {
        PyErr_SetString(PyExc_ValueError, "max_packets must be >= 0");
        return NULL;
    }
    fio_buf_init(&body);
    size_t total = 0;
    for (;;) {
        size_t want = DRAIN_BATCH;
        if (max_packets > 0 && (size_t)max_packets - total < want)
            want = (size_t)max_packets - total;
        long n = fio_hub_drain(self->hub, id, batch, want, &overflowed);
        if (n == FIO_ENOCONN) {
            if (total == 0) {
                fio_buf_free(&body);
                Py_RETURN_NONE;
            }
            break;
        }
        int rc = 0;
        if (n > 0 && total > 0)
            rc = fio_buf_putc(&body, EIO_RECORD_SEP);
        if (rc == 0 && n > 0)
            rc = eio_payload_join(batch, (size_t)n, &body);
        for (long i = 0; i < n; i++)
            fio_frame_unref(batch[i]);
        if (rc < 0) {
            PyErr_NoMemory();
            goto done;
        }
        total += (size_t)n;
        if ((size_t)n < want || (max_packets > 0 && total >= (size_t)max_packets))
            break;
    }
    if (total == 0) {
        result = Py_BuildValue("(OO)", Py_None, overflowed ? Py_True : Py_False);
        goto done;
    }
    PyObject *text = PyUnicode_DecodeUTF8(body.data, (Py_ssize_t)body.len, "surrogatepass");
    if (text)
        result = Py_BuildValue("(NO)", text, overflowed ? Py_True : Py_False);
done:
    fio_buf_free(&body);
    return result;
}

/* queued(conn) -> number of frames waiting, or -2 if unknown */
static PyObject *Hub_queued(HubObject *self, PyObject *arg)
{
    uint32_t id;
    if (fastsio_parse_conn(arg, &id) < 0)
        return NULL;
    return PyLong_FromLong(fio_hub_queued(self->hub, id));
}

/* queued_bytes(conn) -> bytes waiting (as counted against max_queue_bytes),
 * or -2 if unknown */
static PyObject *Hub_queued_bytes(HubObject *self, PyObject *arg)
{
    uint32_t id;
    size_t bytes = 0;
    if (fastsio_parse_conn(arg, &id) < 0)
        return NULL;
    if (fio_hub_queued_bytes(self->hub, id, &bytes) != FIO_OK)
        return PyLong_FromLong(FIO_ENOCONN);
    return PyLong_FromSize_t(bytes);
}

/* connect(ns, sid, conn) -> bool (False when the conn already has a member in
 * ns or the sid is taken) */
static PyObject *Hub_connect(HubObject *self, PyObject *args)
{
    PyObject *nso, *sido, *conno;
    fio_str ns, sid;
    uint32_t id;
    if (!PyArg_ParseTuple(args, "UUO:connect", &nso, &sido, &conno))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_as_str(sido, &sid) < 0 ||
        fastsio_parse_conn(conno, &id) < 0)
        return NULL;
    int rc = fio_hub_connect(self->hub, ns, sid, id);
    if (hub_status(rc) < 0)
        return NULL;
    return PyBool_FromLong(rc == FIO_OK);
}

/* disconnect(ns, sid) -> bool (False when not connected) */
static PyObject *Hub_disconnect(HubObject *self, PyObject *args)
{
    PyObject *nso, *sido;
    fio_str ns, sid;
    if (!PyArg_ParseTuple(args, "UU:disconnect", &nso, &sido))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_as_str(sido, &sid) < 0)
        return NULL;
    int rc = fio_hub_disconnect(self->hub, ns, sid);
    if (hub_status(rc) < 0)
        return NULL;
    return PyBool_FromLong(rc == FIO_OK);
}

typedef int (*room_op)(fio_hub *, fio_str, fio_str, fio_str);

static PyObject *member_room_op(HubObject *self, PyObject *args, room_op op, const char *fmt)
{
    PyObject *nso, *sido, *roomo;
    fio_str ns, sid, room;
    if (!PyArg_ParseTuple(args, fmt, &nso, &sido, &roomo))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_as_str(sido, &sid) < 0 ||
        fastsio_as_str(roomo, &room) < 0)
        return NULL;
    int rc = op(self->hub, ns, sid, room);
    if (hub_status(rc) < 0)
        return NULL;
    return PyBool_FromLong(rc == FIO_OK);
}

/* enter(ns, sid, room) -> bool (False when the member is not connected) */
static PyObject *Hub_enter(HubObject *self, PyObject *args)
{
    return member_room_op(self, args, fio_hub_enter, "UUU:enter");
}

/* leave(ns, sid, room) -> bool */
static PyObject *Hub_leave(HubObject *self, PyObject *args)
{
    return member_room_op(self, args, fio_hub_leave, "UUU:leave");
}

/* close_room(ns, room) */
static PyObject *Hub_close_room(HubObject *self, PyObject *args)
{
    PyObject *nso, *roomo;
    fio_str ns, room;
    if (!PyArg_ParseTuple(args, "UU:close_room", &nso, &roomo))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_as_str(roomo, &room) < 0)
        return NULL;
    if (hub_status(fio_hub_close_room(self->hub, ns, room)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* member(ns, sid) -> (sid, conn, eio_sid) or None */
static PyObject *Hub_member(HubObject *self, PyObject *args)
{
    PyObject *nso, *sido;
    fio_str ns, sid;
    struct one_member m = {NULL, 0};
    if (!PyArg_ParseTuple(args, "UO:member", &nso, &sido))
        return NULL;
    if (!PyUnicode_Check(sido))
        Py_RETURN_NONE;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_as_str(sido, &sid) < 0)
        return NULL;
    fio_hub_member(self->hub, ns, sid, take_member, &m);
    if (m.failed)
        return NULL;
    if (!m.result)
        Py_RETURN_NONE;
    return m.result;
}

/* member_on_conn(ns, conn) -> (sid, conn, eio_sid) or None */
static PyObject *Hub_member_on_conn(HubObject *self, PyObject *args)
{
    PyObject *nso, *conno;
    fio_str ns;
    uint32_t id;
    struct one_member m = {NULL, 0};
    if (!PyArg_ParseTuple(args, "UO:member_on_conn", &nso, &conno))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_parse_conn(conno, &id) < 0)
        return NULL;
    fio_hub_member_on_conn(self->hub, ns, id, take_member, &m);
    if (m.failed)
        return NULL;
    if (!m.result)
        Py_RETURN_NONE;
    return m.result;
}

/* members(ns, rooms) -> list of (sid, eio_sid); rooms: None | str | list of str */
static PyObject *Hub_members(HubObject *self, PyObject *args)
{
    PyObject *nso, *roomso;
    fio_str ns, *rooms = NULL;
    size_t nrooms;
    if (!PyArg_ParseTuple(args, "UO:members", &nso, &roomso))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || parse_names(roomso, &rooms, &nrooms) < 0)
        return NULL;
    struct collect c = {PyList_New(0), 0};
    if (c.list)
        fio_hub_members(self->hub, ns, rooms, nrooms, collect_member, &c);
    free(rooms);
    if (c.list && c.failed)
        Py_CLEAR(c.list);
    return c.list;
}

static PyObject *collect_names(HubObject *self, PyObject *nso, PyObject *sido,
                               int (*by_ns)(fio_hub *, fio_str, fio_name_fn, void *),
                               int (*by_member)(fio_hub *, fio_str, fio_str, fio_name_fn, void *))
{
    fio_str ns, sid;
    if (fastsio_as_str(nso, &ns) < 0 || (sido && fastsio_as_str(sido, &sid) < 0))
        return NULL;
    struct collect c = {PyList_New(0), 0};
    if (!c.list)
        return NULL;
    if (sido)
        by_member(self->hub, ns, sid, collect_name, &c);
    else
        by_ns(self->hub, ns, collect_name, &c);
    if (c.failed)
        Py_CLEAR(c.list);
    return c.list;
}

/* rooms_of(ns, sid) -> list of room names (own sid room included) */
static PyObject *Hub_rooms_of(HubObject *self, PyObject *args)
{
    PyObject *nso, *sido;
    if (!PyArg_ParseTuple(args, "UU:rooms_of", &nso, &sido))
        return NULL;
    return collect_names(self, nso, sido, NULL, fio_hub_rooms_of);
}

/* room_names(ns) -> list of non-empty room names */
static PyObject *Hub_room_names(HubObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "namespace must be str");
        return NULL;
    }
    return collect_names(self, arg, NULL, fio_hub_room_names, NULL);
}

/* room_size(ns, room) -> number of members (0 when the room does not exist) */
static PyObject *Hub_room_size(HubObject *self, PyObject *args)
{
    PyObject *nso, *roomo;
    fio_str ns, room;
    if (!PyArg_ParseTuple(args, "UU:room_size", &nso, &roomo))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || fastsio_as_str(roomo, &room) < 0)
        return NULL;
    return PyLong_FromSize_t(fio_hub_room_size(self->hub, ns, room));
}

/* namespaces() -> list of namespaces with members */
static PyObject *Hub_namespaces(HubObject *self, PyObject *Py_UNUSED(ignored))
{
    struct collect c = {PyList_New(0), 0};
    if (!c.list)
        return NULL;
    fio_hub_namespaces(self->hub, collect_name, &c);
    if (c.failed)
        Py_CLEAR(c.list);
    return c.list;
}

/* ---- fan-out ---- */

struct woken {
    uint64_t *tagged;       /* conn id, | OVERFLOW_BIT when it overflowed */
    size_t n, cap;
    int oom;
};

#define OVERFLOW_BIT ((uint64_t)1 << 32)

/* Runs under the hub mutex without the GIL: plain C only. */
static void note_woken(void *vctx, uint32_t conn, int status)
{
    struct woken *w = vctx;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        uint64_t *tagged = realloc(w->tagged, cap * sizeof *tagged);
        if (!tagged) {
            w->oom = 1;
            return;
        }
        w->tagged = tagged;
        w->cap = cap;
    }
    w->tagged[w->n++] = conn | (status == 2 ? OVERFLOW_BIT : 0);
}

/* (woken ids, overflowed ids) lists from the collected wake-ups. */
static PyObject *woken_lists(const struct woken *w)
{
    PyObject *woken = PyList_New(0), *over = PyList_New(0), *result = NULL;
    if (!woken || !over)
        goto done;
    for (size_t i = 0; i < w->n; i++) {
        PyObject *v = PyLong_FromUnsignedLong((unsigned long)(w->tagged[i] & 0xffffffffu));
        if (!v)
            goto done;
        int rc = PyList_Append(w->tagged[i] & OVERFLOW_BIT ? over : woken, v);
        Py_DECREF(v);
        if (rc < 0)
            goto done;
    }
    result = PyTuple_Pack(2, woken, over);
done:
    Py_XDECREF(woken);
    Py_XDECREF(over);
    return result;
}

/* emit(ns, rooms, skip, items) -> (recipients, woken conn ids, overflowed conn ids)
 * rooms: None (whole namespace) | str | list of str; skip: None | str | list.
 * items as in push(): encoded once, queued for every recipient. */
static PyObject *Hub_emit(HubObject *self, PyObject *args)
{
    PyObject *nso, *roomso, *skipo, *items, *result = NULL, *lists = NULL;
    fio_str ns, *rooms = NULL, *skip = NULL;
    size_t nrooms = 0, nskip = 0, nframes = 0;
    fio_frame **frames = NULL;
    struct woken w = {NULL, 0, 0, 0};
    long count;

    if (!PyArg_ParseTuple(args, "UOOO!:emit", &nso, &roomso, &skipo, &PyList_Type, &items))
        return NULL;
    if (fastsio_as_str(nso, &ns) < 0 || parse_names(roomso, &rooms, &nrooms) < 0)
        goto done;
    if (parse_names(skipo, &skip, &nskip) < 0)
        goto done;
    nframes = (size_t)PyList_GET_SIZE(items);
    if (nframes == 0) {
        result = Py_BuildValue("(iNN)", 0, PyList_New(0), PyList_New(0));
        goto done;
    }
    frames = calloc(nframes, sizeof *frames);
    if (!frames) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; i < nframes; i++) {
        frames[i] = fastsio_message_frame(PyList_GET_ITEM(items, (Py_ssize_t)i));
        if (!frames[i])
            goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    count = fio_hub_broadcast(self->hub, ns, rooms, nrooms, skip, nskip, frames, nframes,
                              note_woken, &w);
    Py_END_ALLOW_THREADS
    if (count < 0) {
        hub_status((int)count);
        goto done;
    }
    if (w.oom) {
        /* Frames are queued but some wake-ups were lost: report every
         * connection as woken is not possible, so fail loudly. */
        PyErr_NoMemory();
        goto done;
    }
    lists = woken_lists(&w);
    if (lists)
        result = Py_BuildValue("(lOO)", count, PyTuple_GET_ITEM(lists, 0),
                               PyTuple_GET_ITEM(lists, 1));
done:
    Py_XDECREF(lists);
    if (frames) {
        for (size_t i = 0; i < nframes; i++)
            fio_frame_unref(frames[i]);
        free(frames);
    }
    free(w.tagged);
    free(rooms);
    free(skip);
    return result;
}

static PyObject *Hub_conn_count(HubObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(fio_hub_conn_count(self->hub));
}

static PyMethodDef Hub_methods[] = {
    {"open", (PyCFunction)Hub_open, METH_O, "open(eio_sid) -> conn id"},
    {"close", (PyCFunction)Hub_close, METH_O, "close(conn) -> bool"},
    {"push", (PyCFunction)Hub_push, METH_VARARGS, "push(conn, items) -> status"},
    {"push_control", (PyCFunction)Hub_push_control, METH_VARARGS,
     "push_control(conn, eio_type, data='') -> status"},
    {"drain", (PyCFunction)Hub_drain, METH_VARARGS,
     "drain(conn, max=256) -> (frames, overflowed) or None"},
    {"drain_payload", (PyCFunction)Hub_drain_payload, METH_VARARGS,
     "drain_payload(conn, max_packets=0) -> (body or None, overflowed) or None; "
     "max_packets > 0 takes at most that many frames, the rest stays queued"},
    {"queued", (PyCFunction)Hub_queued, METH_O, "queued(conn) -> int"},
    {"hold", (PyCFunction)Hub_hold, METH_O, "hold(conn) -> token"},
    {"unhold", (PyCFunction)Hub_unhold, METH_VARARGS,
     "unhold(conn, token, items) -> status, as push()"},
    {"queued_bytes", (PyCFunction)Hub_queued_bytes, METH_O, "queued_bytes(conn) -> int"},
    {"connect", (PyCFunction)Hub_connect, METH_VARARGS, "connect(ns, sid, conn) -> bool"},
    {"disconnect", (PyCFunction)Hub_disconnect, METH_VARARGS, "disconnect(ns, sid) -> bool"},
    {"enter", (PyCFunction)Hub_enter, METH_VARARGS, "enter(ns, sid, room) -> bool"},
    {"leave", (PyCFunction)Hub_leave, METH_VARARGS, "leave(ns, sid, room) -> bool"},
    {"close_room", (PyCFunction)Hub_close_room, METH_VARARGS, "close_room(ns, room)"},
    {"member", (PyCFunction)Hub_member, METH_VARARGS, "member(ns, sid) -> (sid, conn, eio_sid)"},
    {"member_on_conn", (PyCFunction)Hub_member_on_conn, METH_VARARGS,
     "member_on_conn(ns, conn) -> (sid, conn, eio_sid)"},
    {"members", (PyCFunction)Hub_members, METH_VARARGS, "members(ns, rooms) -> [(sid, eio_sid)]"},
    {"rooms_of", (PyCFunction)Hub_rooms_of, METH_VARARGS, "rooms_of(ns, sid) -> [room]"},
    {"room_names", (PyCFunction)Hub_room_names, METH_O, "room_names(ns) -> [room]"},
    {"room_size", (PyCFunction)Hub_room_size, METH_VARARGS, "room_size(ns, room) -> int"},
    {"namespaces", (PyCFunction)Hub_namespaces, METH_NOARGS, "namespaces() -> [ns]"},
    {"emit", (PyCFunction)Hub_emit, METH_VARARGS,
     "emit(ns, rooms, skip, items) -> (recipients, woken ids, overflowed ids)"},
    {"conn_count", (PyCFunction)Hub_conn_count, METH_NOARGS, "open connections"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Hub_slots[] = {
    {Py_tp_new, Hub_new},
    {Py_tp_dealloc, Hub_dealloc},
    {Py_tp_methods, Hub_methods},
    {Py_tp_doc, "Hub(max_queue=10000, max_queue_bytes=64 MiB): connections, outbound "
                "queues (bounded in frames and in bytes; None: no byte bound) and rooms."},
    {0, NULL},
};

static PyType_Spec Hub_spec = {
    .name = "fastsio._core.Hub",
    .basicsize = sizeof(HubObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Hub_slots,
};

fio_hub *fastsio_hub_of(PyObject *hub_obj)
{
    /* Hub cannot be subclassed, so its heap type identifies it */
    PyTypeObject *tp = Py_TYPE(hub_obj);
    PyObject *module = PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) ? PyType_GetModule(tp) : NULL;
    fastsio_state *st = module ? PyModule_GetState(module) : NULL;
    if (!st || tp != st->hub_type) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "expected a fastsio._core.Hub");
        return NULL;
    }
    return ((HubObject *)hub_obj)->hub;
}

int fastsio_add_hub_type(PyObject *module, fastsio_state *st)
{
    st->hub_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Hub_spec, NULL);
    if (!st->hub_type)
        return -1;
    return PyModule_AddType(module, st->hub_type);
}
