/* fastsio._core.RedisClient: the Python face of csrc/redis/client.c, with the
 * pub/sub fan-out and the near cache attached.
 *
 * Threads:
 *   - Python methods run on any Python thread with the GIL; those that wait
 *     (call) release it.
 *   - The client's I/O thread runs the event callbacks below WITHOUT the GIL
 *     and never takes it: they touch only C state (the hub, the cache, the
 *     inbox). Everything Python must see goes through the inbox, which the
 *     asyncio loop drains (take()) after its eventfd (fileno()) turns
 *     readable.
 *
 * Fan-out: after set_fanout(hub, host_id), a published message that is a
 * plain emit (csrc/redis/envelope.h) is turned into one frame and queued on the
 * local members through the hub right on the I/O thread; only the ids of
 * connections whose queue was empty reach the loop. Other messages reach
 * Python as ("message", channel, data) items, bounded by the inbox (the
 * subscriber connection pauses when Python falls behind).
 *
 * Lifetime: the object owns the fio_redis, the inbox and the cache; close()
 * (or dealloc) stops the I/O thread first, so no callback runs after it. The
 * hub object is kept alive by a strong reference until then. */
#include "py_common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "client.h"
#include "eio.h"
#include "envelope.h"
#include "inbox.h"

#define MESSAGE_BOUND 65536   /* pub/sub messages waiting for Python */

enum { KIND_MESSAGE = 1, KIND_REPLY, KIND_SUBSCRIBED, KIND_STATE, KIND_LOG };

/* ---- inbox payloads (built on the I/O thread, converted on the loop) ---- */

typedef struct blob2 {      /* message: channel + data; subscribed: channel */
    size_t n1, n2;
    int flag;
    char data[];
} blob2;

static blob2 *blob2_new(const char *p1, size_t n1, const char *p2, size_t n2, int flag)
{
    blob2 *b = malloc(sizeof *b + n1 + n2 + 1);
    if (!b)
        return NULL;
    b->n1 = n1;
    b->n2 = n2;
    b->flag = flag;
    if (n1)
        memcpy(b->data, p1, n1);
    if (n2)
        memcpy(b->data + n1, p2, n2);
    b->data[n1 + n2] = '\0';
    return b;
}

typedef struct reply_box {
    redisReply *reply;      /* owned; NULL on failure */
    const char *err;        /* static, when reply is NULL */
} reply_box;

static void reply_box_free(void *p)
{
    reply_box *b = p;
    if (b && b->reply)
        freeReplyObject(b->reply);
    free(b);
}

typedef struct RedisClientObject {
    PyObject_HEAD
    fio_redis *r;
    fio_inbox *inbox;
    _Atomic(fio_cache *) cache;
    _Atomic(fio_hub *) hub;     /* fan-out target; borrowed from hub_obj */
    atomic_long in_python;      /* messages handed to Python, not yet done */
    atomic_ulong resumes;       /* inbox resume callbacks so far (see post_or_drop) */
    PyObject *hub_obj;
    char host_id[64];
    size_t host_len;
    /* I/O thread only */
    fio_env_emit env;
    uint32_t *woken, *over;
    size_t nwoken, nover, capwoken, capover;
    int closed;
} RedisClientObject;

/* I/O thread. When the post reaches the bound, the subscriber pauses; a take
 * and its resume may run between the post and the pause, so the resume count
 * is read before posting and the pause undone if a resume came meanwhile. */
static void post_or_drop(RedisClientObject *self, int kind, int bounded, uint64_t token,
                         void *payload, void (*free_fn)(void *))
{
    fio_inbox_item it = {kind, bounded, token, payload, free_fn};
    unsigned long resumes = atomic_load(&self->resumes);
    int rc = fio_inbox_post(self->inbox, &it);
    if (rc < 0) {
        /* out of memory: the item cannot reach Python; nothing else to do */
        if (free_fn)
            free_fn(payload);
        return;
    }
    if (rc == 1) {
        fio_redis_pause_messages(self->r, 1);
        if (atomic_load(&self->resumes) != resumes)
            fio_redis_pause_messages(self->r, 0);
    }
}

/* Loop thread, inside take(): the inbox fell to half its bound. */
static void on_resume(void *ctx)
{
    RedisClientObject *self = ctx;
    atomic_fetch_add(&self->resumes, 1);
    if (self->r)
        fio_redis_pause_messages(self->r, 0);
}

/* ---- I/O thread: fan-out of plain emits ---- */

static int push_id(uint32_t **arr, size_t *n, size_t *cap, uint32_t id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint32_t *a = realloc(*arr, c * sizeof *a);
        if (!a)
            return -1;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = id;
    return 0;
}

/* Runs under the hub mutex (fio_hub_broadcast's wake): plain C only. */
static void note_wake(void *ctx, uint32_t conn, int status)
{
    RedisClientObject *self = ctx;
    if (status == 2)
        push_id(&self->over, &self->nover, &self->capover, conn);
    else
        push_id(&self->woken, &self->nwoken, &self->capwoken, conn);
}

/* 0 delivered (or nothing to deliver), 1 hand the message to Python.
 * Order: while earlier messages are still with Python (in_python > 0), an
 * emit goes to Python too, so that e.g. a remote enter_room is applied before
 * an emit to that room that was published after it. */
static int fan_out(RedisClientObject *self, fio_hub *hub, const char *data, size_t len)
{
    int route = fio_env_read(data, len, self->host_id, self->host_len, &self->env);
    if (route == FIO_ENV_IGNORE)
        return 0;
    if (route != FIO_ENV_EMIT || atomic_load(&self->in_python) > 0)
        return 1;    /* FIO_ENV_PYTHON, oom, or ordering: Python can still do it */
    fio_env_emit *e = &self->env;
    fio_frame *f = fio_frame_text(EIO_MESSAGE, e->packet.data, e->packet.len);
    if (!f)
        return 1;
    self->nwoken = self->nover = 0;
    long n = fio_hub_broadcast(hub, e->ns, e->rooms, e->nrooms, e->skip, e->nskip, &f, 1,
                               note_wake, self);
    fio_frame_unref(f);
    if (n < 0)
        return 0;    /* the hub is out of memory; the emit is lost for local clients */
    if (self->nwoken)
        fio_inbox_post_conns(self->inbox, self->woken, self->nwoken, 0);
    if (self->nover)
        fio_inbox_post_conns(self->inbox, self->over, self->nover, 1);
    return 0;
}

static void ev_message(void *ctx, const char *channel, size_t clen, const char *data, size_t dlen)
{
    RedisClientObject *self = ctx;
    fio_hub *hub = atomic_load(&self->hub);
    if (hub && fan_out(self, hub, data, dlen) == 0)
        return;
    blob2 *b = blob2_new(channel, clen, data, dlen, 0);
    if (!b)
        return;
    atomic_fetch_add(&self->in_python, 1);
    post_or_drop(self, KIND_MESSAGE, 1, 0, b, free);
}

static void ev_subscribed(void *ctx, const char *channel, size_t clen, int subscribed)
{
    RedisClientObject *self = ctx;
    blob2 *b = blob2_new(channel, clen, NULL, 0, subscribed);
    if (b)
        post_or_drop(self, KIND_SUBSCRIBED, 0, 0, b, free);
}

static void ev_invalidate(void *ctx, const char *key, size_t klen)
{
    RedisClientObject *self = ctx;
    fio_cache *c = atomic_load(&self->cache);
    if (c)
        fio_cache_invalidate(c, key, klen);
}

static void ev_state(void *ctx, int which, int up, const char *reason)
{
    RedisClientObject *self = ctx;
    const char *why = reason ? reason : "";
    blob2 *b = blob2_new(why, strlen(why), NULL, 0, (which << 1) | (up ? 1 : 0));
    if (b)
        post_or_drop(self, KIND_STATE, 0, 0, b, free);
}

static void cache_log(void *ctx, const char *msg)
{
    RedisClientObject *self = ctx;
    blob2 *b = blob2_new(msg, strlen(msg), NULL, 0, 0);
    if (b)
        post_or_drop(self, KIND_LOG, 0, 0, b, free);
}

struct reply_target {
    RedisClientObject *self;
    uint64_t token;
};

/* I/O thread: a command issued with command() was answered. */
static void on_reply(void *ctx, redisReply *reply, const char *err)
{
    struct reply_target *t = ctx;
    reply_box *b = malloc(sizeof *b);
    if (!b) {
        if (reply)
            freeReplyObject(reply);
        free(t);
        return;
    }
    b->reply = reply;
    b->err = err;
    post_or_drop(t->self, KIND_REPLY, 0, t->token, b, reply_box_free);
    free(t);
}

/* ---- replies to Python ---- */

PyObject *fastsio_reply_object(PyObject *module, const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
        return PyBytes_FromStringAndSize(r->str, (Py_ssize_t)r->len);
    case REDIS_REPLY_STATUS:
        return PyUnicode_DecodeUTF8(r->str, (Py_ssize_t)r->len, "replace");
    case REDIS_REPLY_INTEGER:
        return PyLong_FromLongLong(r->integer);
    case REDIS_REPLY_NIL:
        Py_RETURN_NONE;
    case REDIS_REPLY_ERROR: {
        fastsio_state *st = PyModule_GetState(module);
        if (!st)
            return NULL;
        return PyObject_CallFunction(st->redis_error, "s#", r->str, (Py_ssize_t)r->len);
    }
    case REDIS_REPLY_ARRAY: {
        PyObject *list = PyList_New((Py_ssize_t)r->elements);
        if (!list)
            return NULL;
        for (size_t i = 0; i < r->elements; i++) {
            PyObject *o = fastsio_reply_object(module, r->element[i]);
            if (!o) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, o);
        }
        return list;
    }
    default:
        PyErr_Format(PyExc_ValueError, "unexpected Redis reply type %d", r->type);
        return NULL;
    }
}

/* ConnectionError("connection lost") / TimeoutError("timeout") instance for a
 * failed command. */
PyObject *fastsio_redis_failure(const char *err)
{
    PyObject *type = strcmp(err, "timeout") == 0 ? PyExc_TimeoutError : PyExc_ConnectionError;
    return PyObject_CallFunction(type, "s", err);
}

/* ---- argument conversion ---- */

struct argv_buf {
    int argc;
    const char **argv;
    size_t *lens;
};

static void argv_free(struct argv_buf *a)
{
    free(a->argv);
    free(a->lens);
}

/* args: a tuple/list of str, bytes or int; items are borrowed from `keep`,
 * a new list the caller releases after the command was queued (the client
 * copies argv). */
static int argv_from(PyObject *args, struct argv_buf *a, PyObject **keep)
{
    a->argv = NULL;
    a->lens = NULL;
    *keep = NULL;
    PyObject *seq = PySequence_Fast(args, "command arguments must be a sequence");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > 1000000) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "a command needs 1 to 1000000 arguments");
        return -1;
    }
    PyObject *hold = PyList_New(0);
    a->argv = malloc(sizeof *a->argv * (size_t)n);
    a->lens = malloc(sizeof *a->lens * (size_t)n);
    if (!hold || !a->argv || !a->lens) {
        if (hold)
            PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *conv = NULL;
        if (PyLong_Check(o) || PyFloat_Check(o))
            conv = PyObject_Str(o);
        else
            conv = Py_NewRef(o);
        if (!conv)
            goto fail;
        int rc = PyList_Append(hold, conv);
        Py_DECREF(conv);
        if (rc < 0)
            goto fail;
        fio_str s;
        if (fastsio_as_str(conv, &s) < 0)
            goto fail;
        a->argv[i] = s.p;
        a->lens[i] = s.n;
    }
    a->argc = (int)n;
    Py_DECREF(seq);
    *keep = hold;
    return 0;
fail:
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    Py_DECREF(seq);
    Py_XDECREF(hold);
    argv_free(a);
    return -1;
}

/* ---- type ---- */

static int closed_error(RedisClientObject *self)
{
    if (self->closed || !self->r) {
        PyErr_SetString(PyExc_ConnectionError, "Redis client is closed");
        return -1;
    }
    return 0;
}

static PyObject *RedisClient_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"host", "port", "unix_path", "sentinels", "master_name",
                             "username", "password", "sentinel_username",
                             "sentinel_password", "db", "connect_timeout_ms",
                             "socket_timeout_ms", "tracking", "wait_ms", NULL};
    const char *host = NULL, *unix_path = NULL, *master = NULL, *user = NULL, *pass = NULL;
    const char *suser = NULL, *spass = NULL;
    int port = 6379, db = 0, ctimeout = 0, stimeout = 0, tracking = 0, wait_ms = 5000;
    PyObject *sentinels = NULL, *seq = NULL;
    fio_redis_addr *addrs = NULL;
    size_t naddrs = 0;
    RedisClientObject *self = NULL;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|ziz" "Oz" "zz" "zz" "iii" "pi:RedisClient",
                                     kwlist, &host, &port, &unix_path, &sentinels, &master,
                                     &user, &pass, &suser, &spass, &db, &ctimeout, &stimeout,
                                     &tracking, &wait_ms))
        return NULL;
    if (sentinels && sentinels != Py_None) {
        /* host strings are borrowed from seq's tuples until fio_redis_new,
         * which copies them */
        seq = PySequence_Fast(sentinels, "sentinels must be a list of (host, port)");
        if (!seq)
            return NULL;
        naddrs = (size_t)PySequence_Fast_GET_SIZE(seq);
        addrs = calloc(naddrs ? naddrs : 1, sizeof *addrs);
        if (!addrs) {
            PyErr_NoMemory();
            goto done;
        }
        for (size_t i = 0; i < naddrs; i++) {
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i), "si",
                                  &addrs[i].host, &addrs[i].port))
                goto done;
        }
    }
    self = (RedisClientObject *)type->tp_alloc(type, 0);
    if (!self)
        goto done;
    fio_env_emit_init(&self->env);
    self->inbox = fio_inbox_new(MESSAGE_BOUND, on_resume, self);
    if (!self->inbox) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    fio_redis_cfg cfg = {
        .host = host, .port = port, .unix_path = unix_path, .sentinels = addrs,
        .nsentinels = naddrs, .master_name = master, .sentinel_username = suser,
        .sentinel_password = spass, .username = user, .password = pass, .db = db,
        .connect_timeout_ms = ctimeout, .socket_timeout_ms = stimeout, .tracking = tracking,
    };
    fio_redis_events ev = {self, ev_message, ev_subscribed, ev_invalidate, ev_state};
    const char *err = NULL;
    fio_redis *r;
    Py_BEGIN_ALLOW_THREADS
    r = fio_redis_new(&cfg, &ev, &err);
    Py_END_ALLOW_THREADS
    if (!r) {
        PyErr_Format(PyExc_ValueError, "cannot start the Redis client: %s",
                     err ? err : "out of memory");
        goto done;
    }
    self->r = r;
    if (tracking) {
        fio_cache *c = fio_cache_new(r, wait_ms, cache_log, self);
        if (!c) {
            PyErr_NoMemory();
            goto done;
        }
        atomic_store(&self->cache, c);
    }
    result = (PyObject *)self;
    self = NULL;
done:
    free(addrs);
    Py_XDECREF(seq);
    Py_XDECREF(self);
    return result;
}

/* Stops the I/O thread (no callback runs after), then frees the rest. */
static void client_shutdown(RedisClientObject *self)
{
    if (self->closed)
        return;
    self->closed = 1;
    if (self->r) {
        fio_redis *r = self->r;
        Py_BEGIN_ALLOW_THREADS
        fio_redis_free(r);
        Py_END_ALLOW_THREADS
        self->r = NULL;
    }
    fio_cache *c = atomic_exchange(&self->cache, NULL);
    if (c)
        fio_cache_free(c);
    atomic_store(&self->hub, NULL);
    Py_CLEAR(self->hub_obj);
}

static void RedisClient_dealloc(RedisClientObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    client_shutdown(self);
    if (self->inbox)
        fio_inbox_free(self->inbox);
    fio_env_emit_free(&self->env);
    free(self->woken);
    free(self->over);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int RedisClient_traverse(RedisClientObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->hub_obj);
    return 0;
}

static int RedisClient_clear(RedisClientObject *self)
{
    client_shutdown(self);
    return 0;
}

/* close(): stops the I/O thread; pending commands fail with "client closed". */
static PyObject *RedisClient_close(RedisClientObject *self, PyObject *Py_UNUSED(ignored))
{
    client_shutdown(self);
    Py_RETURN_NONE;
}

static PyObject *RedisClient_fileno(RedisClientObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(fio_inbox_fd(self->inbox));
}

/* command(token, args, retry=False): queues; the reply arrives through take()
 * as (KIND_REPLY, token, reply or exception). */
static PyObject *RedisClient_command(RedisClientObject *self, PyObject *args)
{
    unsigned long long token;
    PyObject *cmd, *keep;
    int retry = 0;
    struct argv_buf a;
    if (!PyArg_ParseTuple(args, "KO|p:command", &token, &cmd, &retry))
        return NULL;
    if (closed_error(self) < 0 || argv_from(cmd, &a, &keep) < 0)
        return NULL;
    struct reply_target *t = malloc(sizeof *t);
    int rc = -1;
    if (t) {
        t->self = self;
        t->token = token;
        rc = fio_redis_command(self->r, a.argc, a.argv, a.lens, retry ? FIO_RCMD_RETRY : 0,
                               on_reply, t);
        if (rc < 0)
            free(t);
    }
    argv_free(&a);
    Py_DECREF(keep);
    if (rc < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* call(args, retry=False) -> reply; waits with the GIL released. Raises the
 * Redis error, ConnectionError or TimeoutError. */
static PyObject *RedisClient_call(RedisClientObject *self, PyObject *args)
{
    PyObject *cmd, *keep, *result = NULL;
    int retry = 0;
    struct argv_buf a;
    if (!PyArg_ParseTuple(args, "O|p:call", &cmd, &retry))
        return NULL;
    if (closed_error(self) < 0 || argv_from(cmd, &a, &keep) < 0)
        return NULL;
    const char *err = NULL;
    redisReply *reply;
    fio_redis *r = self->r;
    Py_BEGIN_ALLOW_THREADS
    reply = fio_redis_call(r, a.argc, a.argv, a.lens, retry ? FIO_RCMD_RETRY : 0, &err);
    Py_END_ALLOW_THREADS
    argv_free(&a);
    Py_DECREF(keep);
    if (!reply) {
        PyObject *exc = fastsio_redis_failure(err ? err : "connection lost");
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    PyObject *module = PyType_GetModule(Py_TYPE(self));
    int is_error = reply->type == REDIS_REPLY_ERROR;
    if (module)
        result = fastsio_reply_object(module, reply);
    freeReplyObject(reply);
    if (result && is_error) {
        PyErr_SetObject((PyObject *)Py_TYPE(result), result);
        Py_CLEAR(result);
    }
    return result;
}

static PyObject *sub_op(RedisClientObject *self, PyObject *arg,
                        int (*op)(fio_redis *, const char *, size_t))
{
    fio_str ch;
    if (closed_error(self) < 0 || fastsio_as_str(arg, &ch) < 0)
        return NULL;
    if (op(self->r, ch.p, ch.n) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *RedisClient_subscribe(RedisClientObject *self, PyObject *arg)
{
    return sub_op(self, arg, fio_redis_subscribe);
}

static PyObject *RedisClient_unsubscribe(RedisClientObject *self, PyObject *arg)
{
    return sub_op(self, arg, fio_redis_unsubscribe);
}

/* set_fanout(hub, host_id): plain emits published by other hosts go straight
 * to the hub's local members on the I/O thread. Once only. */
static PyObject *RedisClient_set_fanout(RedisClientObject *self, PyObject *args)
{
    PyObject *hub_obj, *host;
    fio_str h;
    if (!PyArg_ParseTuple(args, "OU:set_fanout", &hub_obj, &host))
        return NULL;
    if (closed_error(self) < 0)
        return NULL;
    if (self->hub_obj) {
        PyErr_SetString(PyExc_RuntimeError, "fan-out is already set");
        return NULL;
    }
    fio_hub *hub = fastsio_hub_of(hub_obj);
    if (!hub || fastsio_as_str(host, &h) < 0)
        return NULL;
    if (h.n == 0 || h.n >= sizeof self->host_id) {
        PyErr_SetString(PyExc_ValueError, "host_id must be 1 to 63 bytes");
        return NULL;
    }
    memcpy(self->host_id, h.p, h.n);
    self->host_len = h.n;
    self->hub_obj = Py_NewRef(hub_obj);
    atomic_store(&self->hub, hub);
    Py_RETURN_NONE;
}

static PyObject *ids_list(const uint32_t *ids, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(ids[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
}

static PyObject *item_object(PyObject *module, const fio_inbox_item *it)
{
    const blob2 *b = it->payload;
    switch (it->kind) {
    case KIND_MESSAGE:
        return Py_BuildValue("(iKy#y#)", it->kind, (unsigned long long)it->token, b->data,
                             (Py_ssize_t)b->n1, b->data + b->n1, (Py_ssize_t)b->n2);
    case KIND_SUBSCRIBED:
        return Py_BuildValue("(iKy#O)", it->kind, (unsigned long long)it->token, b->data,
                             (Py_ssize_t)b->n1, b->flag ? Py_True : Py_False);
    case KIND_STATE:
        return Py_BuildValue("(iK(iOs#))", it->kind, (unsigned long long)it->token,
                             b->flag >> 1, (b->flag & 1) ? Py_True : Py_False, b->data,
                             (Py_ssize_t)b->n1);
    case KIND_LOG:
        return Py_BuildValue("(iKs#)", it->kind, (unsigned long long)it->token, b->data,
                             (Py_ssize_t)b->n1);
    case KIND_REPLY: {
        const reply_box *rb = it->payload;
        PyObject *v = rb->reply ? fastsio_reply_object(module, rb->reply)
                                : fastsio_redis_failure(rb->err ? rb->err : "connection lost");
        if (!v)
            return NULL;
        return Py_BuildValue("(iKN)", it->kind, (unsigned long long)it->token, v);
    }
    default:
        PyErr_Format(PyExc_ValueError, "unknown inbox item kind %d", it->kind);
        return NULL;
    }
}

/* take() -> (items, woken conn ids, overflowed conn ids). Items are tuples
 * (kind, token, ...) per KIND_*; a reply item's value is the reply or an
 * exception instance (RedisError, ConnectionError, TimeoutError). */
static PyObject *RedisClient_take(RedisClientObject *self, PyObject *Py_UNUSED(ignored))
{
    fio_inbox_batch b;
    PyObject *items = NULL, *woken = NULL, *over = NULL, *result = NULL;
    fio_inbox_take(self->inbox, &b);
    PyObject *module = PyType_GetModule(Py_TYPE(self));
    items = PyList_New(0);
    if (!module || !items)
        goto done;
    for (size_t i = 0; i < b.nitems; i++) {
        PyObject *o = item_object(module, &b.items[i]);
        if (!o || PyList_Append(items, o) < 0) {
            Py_XDECREF(o);
            goto done;
        }
        Py_DECREF(o);
    }
    woken = ids_list(b.woken, b.nwoken);
    over = woken ? ids_list(b.overflowed, b.noverflowed) : NULL;
    if (over)
        result = PyTuple_Pack(3, items, woken, over);
done:
    for (size_t i = 0; i < b.nitems; i++)
        if (b.items[i].free_fn)
            b.items[i].free_fn(b.items[i].payload);
    free(b.items);
    free(b.woken);
    free(b.overflowed);
    Py_XDECREF(items);
    Py_XDECREF(woken);
    Py_XDECREF(over);
    return result;
}

/* message_done(): Python finished one message taken as KIND_MESSAGE (in
 * order); see fan_out. */
static PyObject *RedisClient_message_done(RedisClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (atomic_fetch_sub(&self->in_python, 1) <= 0)
        atomic_store(&self->in_python, 0);
    Py_RETURN_NONE;
}

static PyObject *RedisClient_connected(RedisClientObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->r && !self->closed && fio_redis_connected(self->r));
}

fio_cache *fastsio_client_cache(PyObject *client)
{
    RedisClientObject *self = (RedisClientObject *)client;
    fio_cache *c = self->closed ? NULL : atomic_load(&self->cache);
    if (!c)
        PyErr_SetString(PyExc_ConnectionError,
                        "Redis client is closed or was made without tracking");
    return c;
}

static PyMethodDef RedisClient_methods[] = {
    {"close", (PyCFunction)RedisClient_close, METH_NOARGS, "close()"},
    {"fileno", (PyCFunction)RedisClient_fileno, METH_NOARGS, "fileno() -> inbox eventfd"},
    {"command", (PyCFunction)RedisClient_command, METH_VARARGS,
     "command(token, args, retry=False): reply comes through take()"},
    {"call", (PyCFunction)RedisClient_call, METH_VARARGS, "call(args, retry=False) -> reply"},
    {"subscribe", (PyCFunction)RedisClient_subscribe, METH_O, "subscribe(channel)"},
    {"unsubscribe", (PyCFunction)RedisClient_unsubscribe, METH_O, "unsubscribe(channel)"},
    {"set_fanout", (PyCFunction)RedisClient_set_fanout, METH_VARARGS,
     "set_fanout(hub, host_id)"},
    {"take", (PyCFunction)RedisClient_take, METH_NOARGS,
     "take() -> (items, woken conn ids, overflowed conn ids)"},
    {"message_done", (PyCFunction)RedisClient_message_done, METH_NOARGS,
     "message_done(): one message taken by take() was handled"},
    {"connected", (PyCFunction)RedisClient_connected, METH_NOARGS, "connected() -> bool"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot RedisClient_slots[] = {
    {Py_tp_new, RedisClient_new},
    {Py_tp_dealloc, RedisClient_dealloc},
    {Py_tp_traverse, RedisClient_traverse},
    {Py_tp_clear, RedisClient_clear},
    {Py_tp_methods, RedisClient_methods},
    {Py_tp_doc, "RedisClient(host=, port=, unix_path=, sentinels=, master_name=, username=, "
                "password=, sentinel_username=, sentinel_password=, db=, "
                "connect_timeout_ms=, socket_timeout_ms=, tracking=, wait_ms=)"},
    {0, NULL},
};

static PyType_Spec RedisClient_spec = {
    .name = "fastsio._core.RedisClient",
    .basicsize = sizeof(RedisClientObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = RedisClient_slots,
};

int fastsio_add_redis_types(PyObject *module, fastsio_state *st)
{
    st->redis_error = PyErr_NewException("fastsio._core.RedisError", NULL, NULL);
    if (!st->redis_error || PyModule_AddObjectRef(module, "RedisError", st->redis_error) < 0)
        return -1;
    st->redis_client_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &RedisClient_spec, NULL);
    if (!st->redis_client_type || PyModule_AddType(module, st->redis_client_type) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "KIND_MESSAGE", KIND_MESSAGE) < 0 ||
        PyModule_AddIntConstant(module, "KIND_REPLY", KIND_REPLY) < 0 ||
        PyModule_AddIntConstant(module, "KIND_SUBSCRIBED", KIND_SUBSCRIBED) < 0 ||
        PyModule_AddIntConstant(module, "KIND_STATE", KIND_STATE) < 0 ||
        PyModule_AddIntConstant(module, "KIND_LOG", KIND_LOG) < 0)
        return -1;
    return fastsio_add_cache_type(module, st);
}
