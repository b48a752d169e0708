/* The libwebsockets service thread. Contracts in lws_server.h.
 *
 * Ownership: a ws_conn is allocated by fio_ws_adopt and sits on srv->pending
 * (under srv->mu) until the service thread takes it; from then on it is on
 * srv->conns and in the id table (service thread only) and is bound to its
 * wsi through lws's opaque user data. It is freed by conn_finish, on
 * LWS_CALLBACK_WSI_DESTROY or when the adoption fails, which also closes the
 * hub connection and calls on_close. lws_adopt_socket_vhost_readbuf may run
 * the whole handshake (and even the close) inside the call, before it
 * returns the wsi: srv->adopting lets the callbacks made during the call find
 * their ws_conn by fd, and a ws_conn finished during the call is only marked
 * dead and freed when the call returns.
 *
 * Locking: srv->mu guards pending, reqs, stop, started, signalled and dying. A waker
 * calls lws_cancel_service with srv->mu held and only while !dying; the
 * service thread sets dying under srv->mu before it destroys the context, so
 * no waker can touch a destroyed context. Nothing else is shared. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* SCHED_BATCH */
#endif
#include "lws_server.h"

#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "buf.h"
#include "deflate.h"
#include "eio.h"
#include "frame.h"
#include "inflate.h"
#include "lws_loop.h"
#include "wsframe.h"

#define DRAIN_CHUNK 64
#define SID_MAX 64

typedef struct ws_conn {
    lws_sorted_usec_list_t sul;       /* ping timer; service thread */
    struct ws_conn *next, *prev;      /* srv->pending, then srv->conns */
    struct ws_conn *hnext;            /* id table chain */
    struct lws *wsi;                  /* NULL until bound, and after WSI_DESTROY */
    uint32_t id;
    int fd;
    char *readbuf;                    /* owned until adopted */
    size_t readlen;
    char sid[SID_MAX];
    size_t sidlen;
    int send_open;
    int owns_hub_conn;                /* 0: fio_ws_adopt_conn, the caller closes it */
    int upgrading;                    /* an upgrade from polling before the client's
                                         UPGRADE: the hub queue is the polling
                                         transport's, no pings yet */
    int probed;                       /* "2probe" answered */
    int established;
    int dead;                         /* finished while srv->adopting */
    int closing;                      /* close at the next writable callback */
    int close_status;
    int close_after_drain;            /* fio_ws_close: close once the queue is empty */
    int reason_set;
    fio_ws_reason reason;
    int awaiting_pong;
    int rx_in_msg, rx_binary;
    int rx_compressed;                /* the message being read has RSV1 (deflate) */
    int rx_close_status;              /* websocket status for an inbound error, 0: 1002 */
    int deflate;                      /* permessage-deflate answered: compress outbound */
    fio_buf ctl;                      /* pre-framed control frames, sent first */
    fio_buf rx;                       /* partial inbound message */
} ws_conn;

enum { REQ_WAKE, REQ_CLOSE, REQ_RESUME };
typedef struct ws_req { uint32_t id; int op; } ws_req;

struct fio_ws_server {
    fio_hub *hub;
    fio_ws_config cfg;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    fio_lws_loop *loop;               /* NULL: lws's poll loop (lws_loop.h) */
    pthread_t thread;
    int started;

    pthread_mutex_t mu;               /* guards the fields below and started */
    ws_conn *pending, *pending_tail;
    ws_req *reqs;
    size_t nreqs, capreqs;
    int stop, signalled, dying;

    /* service thread only */
    ws_conn *conns;
    size_t nconns;
    ws_conn **table;
    size_t tablecap;                  /* power of two */
    ws_conn *adopting;
    int stopping, exit;
    int paused;                       /* inbound reading paused on every connection */
    lws_sorted_usec_list_t grace_sul;
    fio_buf wbuf;                     /* LWS_PRE + batch being written */
    fio_deflater *defl;               /* NULL: permessage-deflate off */
    fio_inflater *infl;               /* with defl: inbound messages */
    fio_buf inflated;                 /* a message inflated for on_packet */
    ws_req *treqs;                    /* requests taken from reqs (swapped) */
    size_t capt;
    int pass_hooked;                  /* the loop ends each pass with pass_end */
    int in_pass;                      /* inside lws_service with pass_hooked */
    int pass_told;                    /* a cfg callback ran in this pass */

    _Atomic uint64_t st_adopted, st_open, st_closed, st_writes, st_frames, st_bytes, st_msgs;
    _Atomic uint64_t st_inflated;
};

#define BUMP(srv, f, n) atomic_fetch_add_explicit(&(srv)->f, (n), memory_order_relaxed)

const char *fio_ws_reason_name(fio_ws_reason r)
{
    switch (r) {
    case FIO_WS_CLIENT_DISCONNECT: return "client disconnect";
    case FIO_WS_TRANSPORT_CLOSE: return "transport close";
    case FIO_WS_TRANSPORT_ERROR: return "transport error";
    case FIO_WS_PING_TIMEOUT: return "ping timeout";
    case FIO_WS_SERVER_DISCONNECT: return "server disconnect";
    case FIO_WS_SERVER_SHUTDOWN: return "server shutdown";
    case FIO_WS_HANDSHAKE_FAILED: return "handshake failed";
    }
    return "unknown";
}

/* ------------------------------------------------------------ id table */

static size_t slot_of(const fio_ws_server *srv, uint32_t id)
{
    return (size_t)((id * 2654435761u) & (srv->tablecap - 1));
}

static int table_put(fio_ws_server *srv, ws_conn *c)
{
    if (srv->nconns + 1 > srv->tablecap) {
        size_t cap = srv->tablecap ? srv->tablecap * 2 : 64;
        ws_conn **t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        size_t old = srv->tablecap;
        ws_conn **ot = srv->table;
        srv->table = t;
        srv->tablecap = cap;
        for (size_t i = 0; i < old; i++) {
            for (ws_conn *e = ot[i], *n; e; e = n) {
                n = e->hnext;
                size_t s = slot_of(srv, e->id);
                e->hnext = t[s];
                t[s] = e;
            }
        }
        free(ot);
    }
    size_t s = slot_of(srv, c->id);
    c->hnext = srv->table[s];
    srv->table[s] = c;
    return 0;
}

static ws_conn *table_get(fio_ws_server *srv, uint32_t id)
{
    if (!srv->tablecap)
        return NULL;
    for (ws_conn *e = srv->table[slot_of(srv, id)]; e; e = e->hnext)
        if (e->id == id)
            return e;
    return NULL;
}

static void table_del(fio_ws_server *srv, ws_conn *c)
{
    for (ws_conn **p = &srv->table[slot_of(srv, c->id)]; *p; p = &(*p)->hnext)
        if (*p == c) {
            *p = c->hnext;
            return;
        }
}

/* Service thread: ends the service loop. lws computes its poll timeout
 * before it runs due timers, so an exit decided in a timer callback would
 * otherwise wait for the next event (up to a ping interval). */
static void request_exit(fio_ws_server *srv)
{
    if (srv->exit)
        return;   /* also while the context is being destroyed */
    srv->exit = 1;
    if (srv->loop)
        fio_lws_loop_break(srv->loop);   /* lws_service runs the loop until broken */
    else
        lws_cancel_service(srv->ctx);
}

/* ------------------------------------------------------------ lifecycle of a conn */

static void conn_free(ws_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->readbuf);
    fio_buf_free(&c->ctl);
    fio_buf_free(&c->rx);
    free(c);
}

static void set_reason(ws_conn *c, fio_ws_reason r)
{
    if (!c->reason_set) {
        c->reason = r;
        c->reason_set = 1;
    }
}

/* The end of a service pass: cfg.on_pass_end, if a callback ran in it. */
static void pass_end(void *arg)
{
    fio_ws_server *srv = arg;
    if (!srv->pass_told)
        return;
    srv->pass_told = 0;
    if (srv->cfg.on_pass_end)
        srv->cfg.on_pass_end(srv->cfg.ctx);
}

/* After each cfg callback (on_open, on_message, on_close, on_upgrade). */
static void told(fio_ws_server *srv)
{
    srv->pass_told = 1;
    if (!srv->in_pass)
        pass_end(srv);
}

/* Service thread (or the stopping thread once the service thread is gone):
 * closes the hub connection, reports on_close, unlinks and frees c. */
static void conn_finish(fio_ws_server *srv, ws_conn *c, fio_ws_reason fallback)
{
    set_reason(c, fallback);
    lws_sul_cancel(&c->sul);
    table_del(srv, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    srv->nconns--;
    if (c->owns_hub_conn)
        fio_hub_conn_close(srv->hub, c->id);
    BUMP(srv, st_closed, 1);
    if (srv->cfg.on_close) {
        srv->cfg.on_close(srv->cfg.ctx, c->id, c->reason);
        told(srv);
    }
    if (c->wsi)
        lws_set_opaque_user_data(c->wsi, NULL);
    c->wsi = NULL;
    if (c == srv->adopting)
        c->dead = 1;
    else
        conn_free(c);
    if (srv->stopping && srv->nconns == 0)
        request_exit(srv);
}

/* Ends c from outside its callbacks: the session ends now (conn_finish) and
 * lws closes the socket on its next service. */
static void conn_kill(fio_ws_server *srv, ws_conn *c, fio_ws_reason r)
{
    struct lws *wsi = c->wsi;
    conn_finish(srv, c, r);
    if (wsi)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The ws_conn of wsi, binding the one being adopted on its first callback. */
static ws_conn *conn_of(fio_ws_server *srv, struct lws *wsi)
{
    ws_conn *c = lws_get_opaque_user_data(wsi);
    if (!c && srv->adopting && !srv->adopting->wsi && !srv->adopting->dead &&
        lws_get_socket_fd(wsi) == srv->adopting->fd) {
        c = srv->adopting;
        c->wsi = wsi;
        lws_set_opaque_user_data(wsi, c);
    }
    return c;
}

/* ------------------------------------------------------------ Engine.IO timers */

/* lws_sul_schedule, and the loop's own wake-up at the same deadline (lws
 * 4.1.6 with libev would run the timer late otherwise: lws_loop.h). Service
 * thread (or the creating thread before it starts). */
static void schedule(fio_ws_server *srv, lws_sorted_usec_list_t *sul, sul_cb_t cb,
                     lws_usec_t us)
{
    lws_sul_schedule(srv->ctx, 0, sul, cb, us);
    fio_lws_loop_due(srv->loop, us);
}

static void ping_due(lws_sorted_usec_list_t *sul)
{
    ws_conn *c = (ws_conn *)sul;   /* sul is the first member */
    if (!c->wsi)
        return;
    fio_ws_server *srv = lws_context_user(lws_get_context(c->wsi));
    if (c->awaiting_pong) {
        conn_kill(srv, c, FIO_WS_PING_TIMEOUT);
        return;
    }
    if (fio_ws_frame_append(&c->ctl, 0, "2", 1) < 0) {
        conn_kill(srv, c, FIO_WS_TRANSPORT_ERROR);
        return;
    }
    c->awaiting_pong = 1;
    lws_callback_on_writable(c->wsi);
    schedule(srv, &c->sul, ping_due, srv->cfg.ping_timeout_ms * LWS_US_PER_MS);
}

static void grace_over(lws_sorted_usec_list_t *sul)
{
    fio_ws_server *srv = (fio_ws_server *)((char *)sul - offsetof(fio_ws_server, grace_sul));
    request_exit(srv);
}

/* ------------------------------------------------------------ requests from other threads */

static void begin_shutdown(fio_ws_server *srv)
{
    srv->stopping = 1;
    if (srv->nconns == 0) {
        request_exit(srv);
        return;
    }
    for (ws_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        set_reason(c, FIO_WS_SERVER_SHUTDOWN);
        if (c->established && c->wsi) {
            c->closing = 1;
            c->close_status = LWS_CLOSE_STATUS_GOINGAWAY;
            lws_callback_on_writable(c->wsi);
        } else {
            conn_kill(srv, c, FIO_WS_SERVER_SHUTDOWN);
        }
    }
    schedule(srv, &srv->grace_sul, grace_over,
                     srv->cfg.close_grace_ms * LWS_US_PER_MS);
}

static void adopt_now(fio_ws_server *srv, ws_conn *c)
{
    c->next = srv->conns;
    c->prev = NULL;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (table_put(srv, c) < 0) {
        conn_finish(srv, c, FIO_WS_TRANSPORT_ERROR);
        return;
    }
    BUMP(srv, st_adopted, 1);
    /* lws owns the fd from the call on, whatever it returns; c->fd is kept
     * during the call for conn_of's match only. */
    srv->adopting = c;
    struct lws *w = lws_adopt_socket_vhost_readbuf(srv->vh, c->fd, c->readbuf, c->readlen);
    srv->adopting = NULL;
    c->fd = -1;
    free(c->readbuf);
    c->readbuf = NULL;
    c->readlen = 0;
    if (c->dead) {
        conn_free(c);
        return;
    }
    if (!w) {
        c->wsi = NULL;
        conn_finish(srv, c, FIO_WS_HANDSHAKE_FAILED);
        return;
    }
    if (!c->wsi) {
        c->wsi = w;
        lws_set_opaque_user_data(w, c);
    }
}

/* Pauses (0 -> 1) or resumes reading on every connection. */
static void set_paused(fio_ws_server *srv, int paused)
{
    if (srv->paused == paused)
        return;
    srv->paused = paused;
    /* lws_rx_flow_control only changes poll events here (buffered input is
     * served later from the service loop): no callback runs during the walk. */
    for (ws_conn *c = srv->conns; c; c = c->next)
        if (c->wsi && c->established)
            lws_rx_flow_control(c->wsi, (paused ? 0 : 1) | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW);
}

static void write_now(fio_ws_server *srv, ws_conn *c);

/* LWS_CALLBACK_EVENT_WAIT_CANCELLED: takes adoptions and wake/close/resume
 * requests, in the order they were made. */
static void take_requests(fio_ws_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    ws_conn *pend = srv->pending;
    srv->pending = srv->pending_tail = NULL;
    ws_req *r = srv->reqs;
    size_t n = srv->nreqs, cap = srv->capreqs;
    srv->reqs = srv->treqs;
    srv->capreqs = srv->capt;
    srv->nreqs = 0;
    srv->treqs = r;
    srv->capt = cap;
    int stop = srv->stop;
    srv->signalled = 0;
    pthread_mutex_unlock(&srv->mu);

    while (pend) {
        ws_conn *next = pend->next;
        adopt_now(srv, pend);
        pend = next;
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].op == REQ_RESUME) {
            set_paused(srv, 0);
            continue;
        }
        ws_conn *c = table_get(srv, r[i].id);
        if (!c || !c->wsi)
            continue;
        if (r[i].op == REQ_CLOSE) {
            c->close_after_drain = 1;
            if (c->established)
                lws_callback_on_writable(c->wsi);
            continue;
        }
        int overflowed = 0;
        if (c->upgrading || fio_hub_drain(srv->hub, c->id, NULL, 0, &overflowed) < 0)
            continue;   /* an upgrading connection's queue is the polling side's */
        if (overflowed)
            conn_kill(srv, c, FIO_WS_TRANSPORT_ERROR);
        else if (c->established)
            write_now(srv, c);
    }
    if (stop && !srv->stopping)
        begin_shutdown(srv);
}

/* ------------------------------------------------------------ the websocket protocol */

/* Hands a message to on_message and applies its answer. 0, or -1: close. */
static int deliver(fio_ws_server *srv, ws_conn *c, int binary, const char *p, size_t n)
{
    BUMP(srv, st_msgs, 1);
    int rc = 0;
    if (srv->cfg.on_message) {
        rc = srv->cfg.on_message(srv->cfg.ctx, c->id, binary, p, n);
        told(srv);
    }
    if (rc < 0) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
    if (rc == 1)
        set_paused(srv, 1);
    return 0;
}

/* Engine.IO packet in one complete message. 0, or -1: close the connection
 * (reason set). */
/* The number of characters of s if it is well-formed UTF-8 (no overlong
 * forms, surrogates or code points past U+10FFFF, no truncated sequence),
 * else (size_t)-1. */
static size_t utf8_chars(const char *s, size_t n)
{
    if (n == 0)
        return 0;   /* s may be NULL then (an empty frame) */
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t chars = 0;
    while (p < end) {
        unsigned b = *p;
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;   /* bounds of the second byte */
        if (b < 0x80) {
            p++;
            chars++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF)
            len = 2;
        else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0)
                lo = 0xA0;
            else if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0)
                lo = 0x90;
            else if (b == 0xF4)
                hi = 0x8F;
        } else {
            return (size_t)-1;
        }
        if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
            return (size_t)-1;
        for (size_t k = 2; k < len; k++)
            if ((p[k] & 0xC0) != 0x80)
                return (size_t)-1;
        p += len;
        chars++;
    }
    return chars;
}

/* A message past max_payload: status 1009, "transport close" (the reason
 * python-engineio gives it). Returns -1 for the callback to close. */
static int too_large(ws_conn *c)
{
    set_reason(c, FIO_WS_TRANSPORT_CLOSE);
    c->rx_close_status = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
    return -1;
}

/* While upgrading, python-engineio's order: "2probe" (answered "3probe"; the
 * owner is told, so it can end the pending poll), then UPGRADE, from which on
 * the hub queue is drained here and pings start. Anything else ends the
 * attempt ("transport error"); the session itself goes on over polling. */
static int on_upgrade_packet(fio_ws_server *srv, ws_conn *c, int type, const char *data,
                             size_t dlen)
{
    if (!c->probed && type == EIO_PING && dlen == 5 && memcmp(data, "probe", 5) == 0) {
        if (fio_ws_frame_append(&c->ctl, 0, "3probe", 6) < 0) {
            set_reason(c, FIO_WS_TRANSPORT_ERROR);
            return -1;
        }
        c->probed = 1;
        lws_callback_on_writable(c->wsi);
        if (srv->cfg.on_upgrade) {
            srv->cfg.on_upgrade(srv->cfg.ctx, c->id, FIO_WS_PROBED);
            told(srv);
        }
        return 0;
    }
    if (c->probed && type == EIO_UPGRADE) {
        c->upgrading = 0;
        schedule(srv, &c->sul, ping_due,
                         srv->cfg.ping_interval_ms * LWS_US_PER_MS);
        if (srv->cfg.on_upgrade) {
            srv->cfg.on_upgrade(srv->cfg.ctx, c->id, FIO_WS_UPGRADED);
            told(srv);
        }
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    set_reason(c, FIO_WS_TRANSPORT_ERROR);
    return -1;
}

static int on_packet(fio_ws_server *srv, ws_conn *c, int binary, const char *p, size_t n)
{
    if (binary && c->upgrading) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
    if (binary)
        return deliver(srv, c, 1, p, n);
    /* a text frame is bounded in characters, type digit included, as
     * python-engineio bounds it; and it must be whole UTF-8 (the only check:
     * lws's is off, see fio_ws_server_new). Status 1007 and "transport
     * close", what the websocket layer under the ASGI path answers. */
    size_t chars = utf8_chars(p, n);
    if (chars == (size_t)-1) {
        set_reason(c, FIO_WS_TRANSPORT_CLOSE);
        c->rx_close_status = LWS_CLOSE_STATUS_INVALID_PAYLOAD;
        return -1;
    }
    if (chars > srv->cfg.max_payload)
        return too_large(c);
    int type;
    const char *data;
    size_t dlen;
    if (eio_decode_text(p, n, &type, &data, &dlen) < 0) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
    if (c->upgrading)
        return on_upgrade_packet(srv, c, type, data, dlen);
    switch (type) {
    case EIO_MESSAGE:
        return deliver(srv, c, 0, data, dlen);
    case EIO_PONG:
        if (c->awaiting_pong) {
            c->awaiting_pong = 0;
            schedule(srv, &c->sul, ping_due,
                             srv->cfg.ping_interval_ms * LWS_US_PER_MS);
        }
        return 0;
    case EIO_PING: {
        /* "2probe" during an upgrade: answer "3probe". */
        char *ans = malloc(dlen + 1);
        if (!ans) {
            set_reason(c, FIO_WS_TRANSPORT_ERROR);
            return -1;
        }
        ans[0] = '3';
        memcpy(ans + 1, data, dlen);
        int rc = fio_ws_frame_append(&c->ctl, 0, ans, dlen + 1);
        free(ans);
        if (rc < 0) {
            set_reason(c, FIO_WS_TRANSPORT_ERROR);
            return -1;
        }
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    case EIO_CLOSE:
        set_reason(c, FIO_WS_CLIENT_DISCONNECT);
        return -1;
    case EIO_UPGRADE:
    case EIO_NOOP:
        return 0;
    default:
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
}

/* A whole compressed message (RSV1 on its first frame; lws accepts that
 * only where permessage-deflate was negotiated): inflated here, within the
 * message bound, then handed to on_packet. */
static int on_compressed(fio_ws_server *srv, ws_conn *c, const char *p, size_t n, size_t bound)
{
    srv->inflated.len = 0;
    int rc = srv->infl ? fio_inflate_message(srv->infl, p, n, bound, &srv->inflated)
                       : FIO_INFLATE_BAD;
    if (rc == FIO_INFLATE_TOO_LARGE)
        return too_large(c);
    if (rc != FIO_INFLATE_OK) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);   /* 1002, or oom */
        return -1;
    }
    BUMP(srv, st_inflated, 1);
    rc = on_packet(srv, c, c->rx_binary, srv->inflated.data, srv->inflated.len);
    if (srv->inflated.cap > 65536)
        fio_buf_free(&srv->inflated);
    return rc;
}

static int on_receive(fio_ws_server *srv, ws_conn *c, const char *in, size_t len)
{
    if (!c->rx_in_msg) {
        c->rx_in_msg = 1;
        c->rx_binary = lws_frame_is_binary(c->wsi);
        c->rx_compressed = (lws_get_reserved_bits(c->wsi) & 0x40) != 0;
    }
    int final = lws_is_final_fragment(c->wsi);
    /* text is bounded in characters (on_packet): up to 4 bytes each here */
    size_t bound = c->rx_binary ? srv->cfg.max_payload : 4 * srv->cfg.max_payload;
    int rc = 0;
    if (len > bound || c->rx.len > bound - len) {
        rc = too_large(c);
        goto out;
    }
    if (final && c->rx.len == 0) {
        rc = c->rx_compressed ? on_compressed(srv, c, in, len, bound)
                              : on_packet(srv, c, c->rx_binary, in, len);
    } else {
        if (fio_buf_append(&c->rx, in, len) < 0) {
            set_reason(c, FIO_WS_TRANSPORT_ERROR);
            return -1;
        }
        if (!final)
            return 0;
        rc = c->rx_compressed ? on_compressed(srv, c, c->rx.data, c->rx.len, bound)
                              : on_packet(srv, c, c->rx_binary, c->rx.data, c->rx.len);
        c->rx.len = 0;
        if (c->rx.cap > 65536)
            fio_buf_free(&c->rx);
    }
    c->rx_in_msg = 0;
out:
    if (rc < 0 && c->wsi)
        lws_close_reason(c->wsi,
                         c->reason == FIO_WS_CLIENT_DISCONNECT ? LWS_CLOSE_STATUS_NORMAL
                         : c->rx_close_status ? (enum lws_close_status)c->rx_close_status
                                              : LWS_CLOSE_STATUS_PROTOCOL_ERR,
                         NULL, 0);
    return rc;
}

static int on_established(fio_ws_server *srv, ws_conn *c)
{
    c->established = 1;
    BUMP(srv, st_open, 1);
    if (c->send_open) {
        fio_buf open;
        fio_buf_init(&open);
        int rc = eio_open_packet(&open, c->sid, c->sidlen, 0, srv->cfg.ping_timeout_ms,
                                 srv->cfg.ping_interval_ms, (long long)srv->cfg.max_payload);
        if (rc == 0)
            rc = fio_ws_frame_append(&c->ctl, 0, open.data, open.len);
        fio_buf_free(&open);
        if (rc < 0) {
            set_reason(c, FIO_WS_TRANSPORT_ERROR);
            return -1;
        }
    }
    if (!c->upgrading)
        schedule(srv, &c->sul, ping_due,
                         srv->cfg.ping_interval_ms * LWS_US_PER_MS);
    if (srv->paused)
        lws_rx_flow_control(c->wsi, 0);
    if (srv->cfg.on_open) {
        srv->cfg.on_open(srv->cfg.ctx, c->id);
        told(srv);
    }
    if (srv->stopping) {
        c->closing = 1;
        c->close_status = LWS_CLOSE_STATUS_GOINGAWAY;
    }
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Starts a batch in srv->wbuf: LWS_PRE bytes of headroom. */
static int wbuf_reset(fio_ws_server *srv)
{
    srv->wbuf.len = 0;
    if (fio_buf_reserve(&srv->wbuf, LWS_PRE) < 0)
        return -1;
    srv->wbuf.len = LWS_PRE;
    return 0;
}

static int write_out(fio_ws_server *srv, ws_conn *c, enum lws_write_protocol wp, size_t frames)
{
    size_t len = srv->wbuf.len - LWS_PRE;
    if (!len)
        return 0;
    int n = lws_write(c->wsi, (unsigned char *)srv->wbuf.data + LWS_PRE, len, wp);
    if (n < 0) {
        set_reason(c, FIO_WS_TRANSPORT_CLOSE);
        return -1;
    }
    BUMP(srv, st_writes, 1);
    BUMP(srv, st_frames, frames);
    BUMP(srv, st_bytes, len);
    return 0;
}

/* Appends one drained frame to the batch, compressed where permessage-deflate
 * was answered on c. 0 / -1 oom. */
static int append_frame(fio_ws_server *srv, ws_conn *c, fio_frame *f)
{
    if (c->deflate)
        return fio_deflate_frame_append(srv->defl, &srv->wbuf, f, srv->cfg.compress_threshold,
                                        !srv->cfg.compress_per_connection);
    return fio_ws_frame_append(&srv->wbuf, f->binary, f->data, f->len);
}

/* permessage-deflate as lws sees it: an extension that takes part in the
 * negotiation (lws echoes the no_context_takeover parameters the client
 * offered; answer_extension completes the line) and otherwise does nothing:
 * with it active lws accepts RSV1 on a message's first frame and hands the
 * payload up as it came, and on_receive inflates whole messages itself
 * (inflate.h). lws 4.1.6's own extension inflated client frames unsafely
 * (docs/native-deflate.md). */
static const struct lws_ext_options pmd_options[] = {
    {"server_no_context_takeover", EXTARG_NONE},
    {"client_no_context_takeover", EXTARG_NONE},
    {"server_max_window_bits", EXTARG_OPT_DEC},
    {"client_max_window_bits", EXTARG_OPT_DEC},
    {NULL, EXTARG_NONE}};

/* lws 4.1.6's private enum pmd_return: "not ours, carry on as if processed"
 * (the payload goes to the RECEIVE callback unchanged). */
#define LWS_PMDR_NOTHING_WE_SHOULD_DO 5

static int pmd_callback(struct lws_context *ctx, const struct lws_extension *ext,
                        struct lws *wsi, enum lws_extension_callback_reasons reason, void *user,
                        void *in, size_t len)
{
    (void)ctx;
    (void)ext;
    (void)wsi;
    (void)user;
    (void)len;
    switch (reason) {
    case LWS_EXT_CB_CONSTRUCT:
        if (in)
            *(const struct lws_ext_options **)in = pmd_options;
        return 0;
    case LWS_EXT_CB_PAYLOAD_RX:
        return LWS_PMDR_NOTHING_WE_SHOULD_DO;
    default:
        return 0;   /* options accepted; nothing to do on TX (frames leave pre-built) */
    }
}

/* LWS_CALLBACK_CONFIRM_EXTENSION_OKAY: 0 lets lws accept the client's offer. */
static int confirm_extension(fio_ws_server *srv, struct lws *wsi, const char *name)
{
    char hdr[512];
    if (!srv->defl || !name || strcmp(name, "permessage-deflate") != 0)
        return 1;
    int n = lws_hdr_copy(wsi, hdr, (int)sizeof hdr, WSI_TOKEN_EXTENSIONS);
    return n > 0 && fio_pmd_offer_acceptable(hdr, (size_t)n) ? 0 : 1;
}

/* LWS_CALLBACK_ADD_HEADERS of the 101 answer, which lws 4.1 calls right after
 * writing its extension line (echoing only the parameters the client
 * offered): that line is completed with both no_context_takeover parameters
 * (the inflater keeps no context across messages, inflate.h). Outbound
 * compression is on for c only when that held and the extension is active
 * on the wsi (lws_set_extension_option reaches pmd_callback only then).
 * Should the line ever not be completable (no room), the client may keep
 * its context: its second compressed message then fails to inflate and the
 * connection closes (1002), nothing worse. */
static void answer_extension(fio_ws_server *srv, ws_conn *c, struct lws *wsi,
                             struct lws_process_html_args *a)
{
    if (!srv->defl || !c || a->max_len < 0)
        return;
    char *e = fio_pmd_complete_answer(a->p, (size_t)a->max_len);
    if (!e)
        return;
    a->max_len -= (int)(e - a->p);
    a->p = e;
    c->deflate = lws_set_extension_option(wsi, "permessage-deflate",
                                          "server_no_context_takeover", "1") == 0 &&
                 lws_set_extension_option(wsi, "permessage-deflate",
                                          "client_no_context_takeover", "1") == 0;
}

/* One frame per lws_write and per callback (cfg.frame_per_write). */
static int on_writable_single(fio_ws_server *srv, ws_conn *c)
{
    if (wbuf_reset(srv) < 0)
        return -1;
    if (c->ctl.len) {
        if (fio_buf_append(&srv->wbuf, c->ctl.data, c->ctl.len) < 0)
            return -1;
        c->ctl.len = 0;
        if (write_out(srv, c, LWS_WRITE_RAW, 1) < 0)
            return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    fio_frame *f = NULL;
    long got = fio_hub_drain(srv->hub, c->id, &f, 1, NULL);
    if (got <= 0)
        return 0;
    /* with permessage-deflate the frame is built (compressed where due)
     * here and written raw: the extension lws knows does not compress */
    int rc = c->deflate ? append_frame(srv, c, f) : fio_buf_append(&srv->wbuf, f->data, f->len);
    enum lws_write_protocol wp = c->deflate ? LWS_WRITE_RAW
                                 : f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
    fio_frame_unref(f);
    if (rc < 0 || write_out(srv, c, wp, 1) < 0)
        return -1;
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Before the client's UPGRADE only control frames (3probe) are written; a
 * close asked for meanwhile happens at once (nothing of the queue is ours). */
static int on_writable_upgrading(fio_ws_server *srv, ws_conn *c)
{
    if (c->ctl.len) {
        if (wbuf_reset(srv) < 0 || fio_buf_append(&srv->wbuf, c->ctl.data, c->ctl.len) < 0) {
            set_reason(c, FIO_WS_TRANSPORT_ERROR);
            return -1;
        }
        c->ctl.len = 0;
        if (write_out(srv, c, LWS_WRITE_RAW, 1) < 0)
            return -1;
    }
    if (c->close_after_drain) {
        set_reason(c, FIO_WS_SERVER_DISCONNECT);
        c->closing = 1;
        c->close_status = LWS_CLOSE_STATUS_NORMAL;
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

static int on_writable(fio_ws_server *srv, ws_conn *c)
{
    if (c->closing) {
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_status, NULL, 0);
        return -1;
    }
    if (c->upgrading)
        return on_writable_upgrading(srv, c);
    int overflowed = 0;
    if (fio_hub_drain(srv->hub, c->id, NULL, 0, &overflowed) >= 0 && overflowed) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
    if (srv->cfg.frame_per_write)
        return on_writable_single(srv, c);
    if (wbuf_reset(srv) < 0 || fio_buf_append(&srv->wbuf, c->ctl.data, c->ctl.len) < 0) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
    size_t frames = c->ctl.len ? 1 : 0;
    c->ctl.len = 0;
    int more = 0, err = 0;
    for (;;) {
        fio_frame *fr[DRAIN_CHUNK];
        long got = fio_hub_drain(srv->hub, c->id, fr, DRAIN_CHUNK, NULL);
        if (got <= 0)
            break;
        for (long i = 0; i < got; i++) {
            if (!err && append_frame(srv, c, fr[i]) < 0)
                err = 1;
            fio_frame_unref(fr[i]);
        }
        frames += (size_t)got;
        if (got < DRAIN_CHUNK)
            break;
        if (srv->wbuf.len - LWS_PRE >= srv->cfg.max_write_bytes) {
            more = 1;
            break;
        }
    }
    if (err) {
        set_reason(c, FIO_WS_TRANSPORT_ERROR);
        return -1;
    }
    if (write_out(srv, c, LWS_WRITE_RAW, frames) < 0)
        return -1;
    if (more) {
        lws_callback_on_writable(c->wsi);
    } else if (c->close_after_drain) {
        set_reason(c, FIO_WS_SERVER_DISCONNECT);
        c->closing = 1;
        c->close_status = LWS_CLOSE_STATUS_NORMAL;
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

/* A woken connection's queue, written at once from the wake-up callback
 * instead of at the next WRITEABLE callback: that round costs two epoll_ctl
 * (POLLOUT on, then off) and a loop turn per wake, most of a small write's
 * cost. Service thread only, on an established h1 websocket with nothing of
 * an earlier write still held by lws (lws_write would queue behind it, but
 * then the writable round is needed anyway). A close, the one-frame-per-write
 * mode and anything lws still holds take the writable callback as before; an
 * error ends the connection here (what returning -1 from that callback does). */
static void write_now(fio_ws_server *srv, ws_conn *c)
{
    if (c->closing || c->close_after_drain || srv->cfg.frame_per_write ||
        lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (on_writable(srv, c) < 0)
        conn_kill(srv, c, FIO_WS_TRANSPORT_ERROR);   /* keeps a reason already set */
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;
    fio_ws_server *srv = ctx ? lws_context_user(ctx) : NULL;
    if (!srv)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        take_requests(srv);
        return 0;
    }
    if (reason == LWS_CALLBACK_WSI_CREATE)
        return 0;
    ws_conn *c;
    int rc;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        c = conn_of(srv, wsi);
        rc = c ? on_established(srv, c) : -1;
        break;
    case LWS_CALLBACK_RECEIVE:
        c = conn_of(srv, wsi);
        rc = c ? on_receive(srv, c, in, len) : -1;
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        c = conn_of(srv, wsi);
        rc = c ? on_writable(srv, c) : -1;
        break;
    case LWS_CALLBACK_HTTP:
        /* A plain HTTP request on an adopted socket: not ours. */
        c = conn_of(srv, wsi);
        if (c)
            set_reason(c, FIO_WS_HANDSHAKE_FAILED);
        lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
        rc = -1;
        break;
    case LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
        return confirm_extension(srv, wsi, in);
    case LWS_CALLBACK_ADD_HEADERS:
        answer_extension(srv, conn_of(srv, wsi), wsi, in);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        c = conn_of(srv, wsi);
        if (c)
            conn_finish(srv, c, c->established ? FIO_WS_TRANSPORT_CLOSE
                                               : FIO_WS_HANDSHAKE_FAILED);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    /* The session ends when we decide to close, not when lws has finished
     * the closing handshake: the wsi lives on without its ws_conn. */
    if (rc < 0 && c)
        conn_finish(srv, c, FIO_WS_TRANSPORT_ERROR);
    /* lws 4.1 ignores a failed RECEIVE made while it drains inflated data
     * (permessage-deflate, ops-ws.c): the writable callback, which finds no
     * ws_conn and fails, closes the wsi then, with the status already set. */
    if (rc < 0 && reason == LWS_CALLBACK_RECEIVE)
        lws_callback_on_writable(wsi);
    return rc;
}

/* ------------------------------------------------------------ public API */

static fio_ws_server *server_new(fio_hub *hub, const fio_ws_config *cfg);

fio_ws_server *fio_ws_server_new(fio_hub *hub, const fio_ws_config *cfg)
{
    if (cfg->event_loop != FIO_WS_LOOP_DEFAULT)
        return server_new(hub, cfg);
    /* the default: libev where lws's libev plugin and libev load, else poll */
    fio_ws_config c = *cfg;
    c.event_loop = FIO_WS_LOOP_EV;
    fio_ws_server *srv = server_new(hub, &c);
    if (srv || errno != ENOENT)
        return srv;
    c.event_loop = FIO_WS_LOOP_POLL;
    return server_new(hub, &c);
}

fio_ws_loop fio_ws_server_loop(const fio_ws_server *srv)
{
    return srv->cfg.event_loop;
}

static fio_ws_server *server_new(fio_hub *hub, const fio_ws_config *cfg)
{
    fio_ws_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->hub = hub;
    srv->cfg = *cfg;
    if (srv->cfg.ping_interval_ms <= 0)
        srv->cfg.ping_interval_ms = 25000;
    if (srv->cfg.ping_timeout_ms <= 0)
        srv->cfg.ping_timeout_ms = 20000;
    if (!srv->cfg.max_payload)
        srv->cfg.max_payload = 1000000;
    if (srv->cfg.max_payload > SIZE_MAX / 8)
        srv->cfg.max_payload = SIZE_MAX / 8;   /* text bounds count 4 bytes a character */
    if (!srv->cfg.max_write_bytes)
        srv->cfg.max_write_bytes = 256 * 1024;
    if (srv->cfg.close_grace_ms <= 0)
        srv->cfg.close_grace_ms = 1000;
    if (!srv->cfg.max_header_bytes)
        srv->cfg.max_header_bytes = 16384;
    if (srv->cfg.max_header_bytes > 65535 || srv->cfg.event_loop < FIO_WS_LOOP_POLL ||
        srv->cfg.event_loop > FIO_WS_LOOP_EV) {
        free(srv);
        errno = EINVAL;
        return NULL;
    }
    fio_buf_init(&srv->wbuf);
    if (pthread_mutex_init(&srv->mu, NULL) != 0) {
        free(srv);
        return NULL;
    }
    srv->protocols[0].name = "fastsio-eio";
    srv->protocols[0].callback = ws_callback;
    /* lws keeps this buffer per connection: 64 KiB cost 3.4 KB of RSS per
     * idle connection (5.5 -> 2.1 KB at 1 KiB) and up to 64 KiB once a large
     * message had touched it; longer messages arrive in pieces that
     * on_receive joins anyway */
    srv->protocols[0].rx_buffer_size = 1024;

    /* lws logs every adoption at error level; keep it quiet. */
    lws_set_log_level(getenv("FASTSIO_LWS_LOG") ? LLL_ERR | LLL_WARN : 0, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = srv->protocols;
    info.user = srv;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    /* No LWS_SERVER_OPTION_VALIDATE_UTF8: on_packet checks every whole text
     * message itself. lws 4.1.6's check misses a message that ends inside a
     * character after an empty final fragment, and it applies the text
     * check to a PONG's payload that follows a text message, closing the
     * connection when that payload is not UTF-8 (found by fuzz_transport). */
    info.options = 0;
    int err = EIO;
    static const struct lws_extension pmd_extensions[] = {
        {"permessage-deflate", pmd_callback, "permessage-deflate"},
        {NULL, NULL, NULL}};
    if (srv->cfg.compress_threshold) {
        srv->defl = fio_deflater_new(FIO_DEFLATE_LEVEL);
        srv->infl = fio_inflater_new();
        if (!srv->defl || !srv->infl) {
            err = ENOMEM;
            goto fail;
        }
        info.extensions = pmd_extensions;
    }
    if (fio_lws_loop_new(srv->cfg.event_loop, &srv->loop) < 0) {
        err = errno;
        goto fail;
    }
    void *foreign[1] = {fio_lws_loop_native(srv->loop)};
    if (srv->loop) {
        info.options |= fio_lws_loop_option(srv->cfg.event_loop);
        info.foreign_loops = foreign;
    }
    /* lws's 4096-byte default refuses browsers with big cookies; the header
     * table is only held during the handshake. */
    info.max_http_header_data = (unsigned short)srv->cfg.max_header_bytes;
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        if (srv->loop)
            err = ENOENT;   /* lws 4.1 fails here when the evlib plugin is missing */
        goto fail;
    }
    srv->vh = lws_get_vhost_by_name(srv->ctx, "default");
    if (!srv->vh)
        goto fail;
    fio_lws_loop_set_context(srv->loop, srv->ctx);
    srv->pass_hooked = !srv->loop || fio_lws_loop_on_pass(srv->loop, pass_end, srv) == 0;
    return srv;
fail:
    if (srv->ctx)
        fio_lws_loop_destroy_context(srv->loop, srv->ctx);
    fio_lws_loop_free(srv->loop);
    fio_deflater_free(srv->defl);
    fio_inflater_free(srv->infl);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    errno = err;
    return NULL;
}

static void *service_main(void *arg)
{
    fio_ws_server *srv = arg;
    /* SCHED_BATCH: a wake from the loop thread (lws_cancel_service) does not
     * preempt it when both share a core; this thread runs once the loop
     * thread waits, and takes its whole batch of wakes. Same CPU share as
     * before; best effort (unchanged where refused). */
    struct sched_param sp = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    srv->in_pass = srv->pass_hooked;
    while (!srv->exit) {
        if (lws_service(srv->ctx, 0) < 0)
            break;
        if (!srv->loop)
            pass_end(srv);   /* poll: lws_service returns after each pass */
    }
    srv->in_pass = 0;
    pass_end(srv);
    srv->exit = 1;
    lws_sul_cancel(&srv->grace_sul);
    pthread_mutex_lock(&srv->mu);
    srv->dying = 1;
    pthread_mutex_unlock(&srv->mu);
    /* Closes what is left; WSI_DESTROY finishes each connection. */
    fio_lws_loop_destroy_context(srv->loop, srv->ctx);
    srv->ctx = NULL;
    return NULL;
}

/* With srv->mu held: wakes the service thread once per batch of requests. */
static void signal_locked(fio_ws_server *srv)
{
    if (!srv->signalled && !srv->dying && srv->started) {
        srv->signalled = 1;
        lws_cancel_service(srv->ctx);
    }
}

int fio_ws_server_start(fio_ws_server *srv)
{
    int rc = 0;
    pthread_mutex_lock(&srv->mu);
    if (srv->started || srv->stop) {
        rc = EINVAL;
    } else {
        rc = pthread_create(&srv->thread, NULL, service_main, srv);
        if (rc == 0) {
            srv->started = 1;
            /* adoptions queued before the start */
            if (srv->pending || srv->nreqs)
                signal_locked(srv);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

void fio_ws_server_stop_and_free(fio_ws_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stop = 1;
    srv->signalled = 0;   /* the stop must reach the thread even mid-batch */
    signal_locked(srv);
    pthread_mutex_unlock(&srv->mu);
    if (srv->started) {
        pthread_join(srv->thread, NULL);
    } else {
        srv->dying = 1;
        srv->exit = 1;
        fio_lws_loop_destroy_context(srv->loop, srv->ctx);
        srv->ctx = NULL;
    }
    fio_lws_loop_free(srv->loop);
    /* Adoptions the service thread never took. */
    for (ws_conn *c = srv->pending, *n; c; c = n) {
        n = c->next;
        fio_hub_conn_close(srv->hub, c->id);
        BUMP(srv, st_closed, 1);
        if (srv->cfg.on_close) {
            srv->cfg.on_close(srv->cfg.ctx, c->id, FIO_WS_SERVER_SHUTDOWN);
            told(srv);
        }
        conn_free(c);
    }
    free(srv->table);
    free(srv->reqs);
    free(srv->treqs);
    fio_buf_free(&srv->wbuf);
    fio_buf_free(&srv->inflated);
    fio_deflater_free(srv->defl);
    fio_inflater_free(srv->infl);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

/* 20 url-safe base64 characters from 15 random bytes, as python-engineio. */
static int make_sid(char *out, size_t *outlen)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[15];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    size_t k = 0;
    for (size_t i = 0; i < sizeof r; i += 3) {
        unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
        out[k++] = abc[(v >> 18) & 63];
        out[k++] = abc[(v >> 12) & 63];
        out[k++] = abc[(v >> 6) & 63];
        out[k++] = abc[v & 63];
    }
    *outlen = k;
    return 0;
}

/* fio_ws_adopt and fio_ws_adopt_conn: have_conn says whether conn is a hub
 * connection the caller opened and keeps, or one is opened (and owned) here. */
static int adopt(fio_ws_server *srv, int fd, const char *readbuf, size_t len, const char *sid,
                 size_t sidlen, int send_open, int have_conn, uint32_t conn, int upgrading,
                 uint32_t *out_conn)
{
    int opened = 0;
    int rc = FIO_ENOMEM;
    ws_conn *c = NULL;
    if (fd < 0 || (sid && (sidlen == 0 || sidlen >= SID_MAX))) {
        rc = FIO_EINVAL;
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->fd = fd;
    fio_buf_init(&c->ctl);
    fio_buf_init(&c->rx);
    c->send_open = send_open;
    c->upgrading = upgrading;
    if (sid) {
        memcpy(c->sid, sid, sidlen);
        c->sidlen = sidlen;
    } else if (make_sid(c->sid, &c->sidlen) < 0) {
        rc = FIO_EINVAL;
        goto fail;
    }
    if (len) {
        c->readbuf = malloc(len);
        if (!c->readbuf)
            goto fail;
        memcpy(c->readbuf, readbuf, len);
        c->readlen = len;
    }
    if (have_conn) {
        c->id = conn;
    } else {
        rc = fio_hub_conn_open(srv->hub, (fio_str){c->sid, c->sidlen}, &c->id);
        if (rc != FIO_OK)
            goto fail;
        opened = c->owns_hub_conn = 1;
    }
    pthread_mutex_lock(&srv->mu);
    if (srv->stop || srv->dying) {
        pthread_mutex_unlock(&srv->mu);
        if (opened)
            fio_hub_conn_close(srv->hub, c->id);
        rc = FIO_EINVAL;
        goto fail;
    }
    if (srv->pending_tail)
        srv->pending_tail->next = c;
    else
        srv->pending = c;
    srv->pending_tail = c;
    *out_conn = c->id;   /* c may be gone once the mutex is released */
    signal_locked(srv);
    pthread_mutex_unlock(&srv->mu);
    return FIO_OK;
fail:
    if (c)
        conn_free(c);   /* closes fd */
    else if (fd >= 0)
        close(fd);
    return rc;
}

int fio_ws_adopt(fio_ws_server *srv, int fd, const char *readbuf, size_t len, const char *sid,
                 size_t sidlen, int send_open, uint32_t *out_conn)
{
    return adopt(srv, fd, readbuf, len, sid, sidlen, send_open, 0, 0, 0, out_conn);
}

int fio_ws_adopt_conn(fio_ws_server *srv, int fd, const char *readbuf, size_t len,
                      const char *sid, size_t sidlen, uint32_t conn, int upgrade)
{
    uint32_t out;
    if (!sid)
        sid = "", sidlen = 0;   /* a given connection needs its sid: refused below */
    return adopt(srv, fd, readbuf, len, sid, sidlen, 0, 1, conn, upgrade != 0, &out);
}

static const char *const loop_names[] = {"default", "poll", "uv", "ev"};

int fio_ws_loop_parse(const char *name, fio_ws_loop *out)
{
    for (size_t i = 0; name && i < sizeof loop_names / sizeof *loop_names; i++)
        if (strcmp(name, loop_names[i]) == 0) {
            *out = (fio_ws_loop)i;
            return 0;
        }
    return -1;
}

const char *fio_ws_loop_name(fio_ws_loop loop)
{
    return (unsigned)loop < sizeof loop_names / sizeof *loop_names ? loop_names[loop] : "?";
}

static int post_req(fio_ws_server *srv, uint32_t id, int op)
{
    int rc = 0;
    pthread_mutex_lock(&srv->mu);
    if (srv->dying || srv->stop)
        goto out;
    if (srv->nreqs == srv->capreqs) {
        size_t cap = srv->capreqs ? srv->capreqs * 2 : 64;
        ws_req *r = realloc(srv->reqs, cap * sizeof *r);
        if (!r) {
            rc = -1;
            goto out;
        }
        srv->reqs = r;
        srv->capreqs = cap;
    }
    srv->reqs[srv->nreqs++] = (ws_req){id, op};
    signal_locked(srv);
out:
    pthread_mutex_unlock(&srv->mu);
    return rc;
}

int fio_ws_wake(fio_ws_server *srv, uint32_t conn) { return post_req(srv, conn, REQ_WAKE); }
int fio_ws_close(fio_ws_server *srv, uint32_t conn) { return post_req(srv, conn, REQ_CLOSE); }
int fio_ws_resume_reading(fio_ws_server *srv) { return post_req(srv, 0, REQ_RESUME); }

void fio_ws_get_stats(fio_ws_server *srv, fio_ws_stats *out)
{
    out->adopted = atomic_load_explicit(&srv->st_adopted, memory_order_relaxed);
    out->open = atomic_load_explicit(&srv->st_open, memory_order_relaxed);
    out->closed = atomic_load_explicit(&srv->st_closed, memory_order_relaxed);
    out->writes = atomic_load_explicit(&srv->st_writes, memory_order_relaxed);
    out->frames_out = atomic_load_explicit(&srv->st_frames, memory_order_relaxed);
    out->bytes_out = atomic_load_explicit(&srv->st_bytes, memory_order_relaxed);
    out->messages_in = atomic_load_explicit(&srv->st_msgs, memory_order_relaxed);
    out->deflated = srv->defl ? fio_deflater_count(srv->defl) : 0;
    out->inflated = atomic_load_explicit(&srv->st_inflated, memory_order_relaxed);
}
