/* One client connection of the load generator: non-blocking TCP connect, the
 * websocket upgrade, reading and parsing frames (partial frames wait in the
 * connection's input buffer, fragmented messages are joined by the parser),
 * websocket pings answered here, Engine.IO text handed to modes.c, and
 * buffered writes that arm EPOLLOUT only while bytes are left over.
 * Called on the owning worker's thread only (see loadgen.h). */
#include "loadgen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Free room kept in front of every recv. */
#define READ_CHUNK 16384

static void set_events(struct conn *c, int want_out)
{
    if (c->st == C_CLOSED || want_out == c->out_armed)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl: %s", strerror(errno));
        return;
    }
    c->out_armed = want_out;
}

void conn_fail(struct conn *c, const char *fmt, ...)
{
    if (c->st == C_CLOSED)
        return;
    struct worker *w = c->w;
    int phase = phase_of(w->r);
    if (phase < P_DONE) {
        w->errors++;
        if (!w->err[0]) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(w->err, sizeof w->err, fmt, ap);
            va_end(ap);
        }
        if (c->st < C_READY) {
            w->connecting--;
            if (!c->trigger)
                atomic_fetch_add(&w->failed, 1);
        } else {
            w->lost++;
        }
    }
    if (c->trigger && w->r->o.mode == M_BROADCAST)
        w->r->trig_ready = 0;
    close(c->fd);       /* also removes it from the epoll set */
    c->fd = -1;
    c->st = C_CLOSED;
}

int conn_start(struct worker *w, struct conn *c)
{
    struct run *r = w->r;
    c->w = w;
    c->t_begin = now_s();
    c->st = C_TCP;
    w->connecting++;
    c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->fd = -1;   /* conn_fail closes it: make that harmless */
        conn_fail(c, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        conn_fail(c, "TCP_NODELAY: %s", strerror(errno));
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&r->addr, r->addr_len) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect: %s", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    c->out_armed = 1;
    ws_make_key(c->key, &w->rng);
    return 0;
}

static int flush(struct conn *c)
{
    while (c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_pos, c->out.len - c->out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, 1);
            return c->st == C_CLOSED ? -1 : 0;
        }
        conn_fail(c, "send: %s", n < 0 ? strerror(errno) : "wrote nothing");
        return -1;
    }
    c->out.len = c->out_pos = 0;
    set_events(c, 0);
    return c->st == C_CLOSED ? -1 : 0;
}

int conn_send(struct conn *c, int opcode, const void *data, size_t len)
{
    if (c->st == C_CLOSED)
        return -1;
    if (ws_frame(&c->out, opcode, data, len, (uint32_t)ws_rand(&c->w->rng)) < 0) {
        conn_fail(c, "out of memory framing a message");
        return -1;
    }
    if (c->out_armed && c->st != C_TCP)
        return 0;      /* EPOLLOUT is pending: that write takes these bytes too */
    if (c->st == C_TCP)
        return 0;
    return flush(c);
}

static void tcp_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        conn_fail(c, "connect: %s", strerror(err));
        return;
    }
    struct run *r = c->w->r;
    /* bytes framed before the upgrade was answered would go out before the
     * request; nothing is sent before C_SIO, so out is empty here */
    c->out.len = c->out_pos = 0;
    if (ws_request(&c->out, r->o.host, r->o.port, r->path_query, c->key) < 0) {
        conn_fail(c, "out of memory building the upgrade request");
        return;
    }
    c->st = C_HTTP;
    flush(c);
}

/* ws_parse callback: c is the connection. Non-zero stops the parser (the
 * connection was closed). */
static int on_ws(void *ctx, int opcode, uint8_t *data, size_t len)
{
    struct conn *c = ctx;
    switch (opcode) {
    case WS_OP_PING:
        conn_send(c, WS_OP_PONG, data, len);
        break;
    case WS_OP_PONG:
        break;
    case WS_OP_CLOSE: {
        int code = len >= 2 ? (data[0] << 8) | data[1] : 1005;
        conn_fail(c, "server sent a websocket close (code %d)", code);
        break;
    }
    case WS_OP_BINARY:
        c->w->binary_in++;
        break;
    case WS_OP_TEXT:
        c->w->msgs_in++;
        mode_on_text(c, (const char *)data, len);
        break;
    }
    return c->st == C_CLOSED;
}

static void conn_read(struct conn *c)
{
    struct worker *w = c->w;
    if (c->in_pos == c->in.len) {
        c->in_pos = c->in.len = 0;
    } else if (c->in_pos > 0 && c->in.cap - c->in.len < READ_CHUNK) {
        memmove(c->in.p, c->in.p + c->in_pos, c->in.len - c->in_pos);
        c->in.len -= c->in_pos;
        c->in_pos = 0;
    }
    if (buf_reserve(&c->in, READ_CHUNK) < 0) {
        conn_fail(c, "out of memory reading");
        return;
    }
    ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
    if (n == 0) {
        conn_fail(c, "server closed the TCP connection");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_fail(c, "recv: %s", strerror(errno));
        return;
    }
    c->in.len += (size_t)n;
    w->bytes_in += (uint64_t)n;
    if (c->st == C_HTTP) {
        const char *err = NULL;
        long head = ws_check_response(c->in.p + c->in_pos, c->in.len - c->in_pos, c->key, &err);
        if (head < 0) {
            conn_fail(c, "websocket upgrade: %s", err);
            return;
        }
        if (head == 0)
            return;
        c->in_pos += (size_t)head;
        c->st = C_EIO;
    }
    long used = ws_parse(&c->wp, c->in.p + c->in_pos, c->in.len - c->in_pos, on_ws, c);
    if (c->st == C_CLOSED)
        return;
    if (used < 0) {
        conn_fail(c, "websocket: %s", c->wp.error);
        return;
    }
    c->in_pos += (size_t)used;
}

void conn_event(struct conn *c, uint32_t events)
{
    if (c->st == C_CLOSED)
        return;
    if (c->st == C_TCP) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            tcp_connected(c);
        return;
    }
    if ((events & EPOLLOUT) && flush(c) < 0)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read(c);
}

void conn_close(struct conn *c)
{
    if (c->st == C_CLOSED || c->st == C_NEW)
        return;
    if (c->st >= C_EIO) {
        /* best effort, one send: the process is about to go away */
        static const uint8_t normal[2] = {0x03, 0xe8};
        c->out.len = c->out_pos = 0;
        if (ws_frame(&c->out, WS_OP_CLOSE, normal, 2, (uint32_t)ws_rand(&c->w->rng)) == 0) {
            ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)n;
        }
    }
    close(c->fd);
    c->fd = -1;
    c->st = C_CLOSED;
}

void conn_free(struct conn *c)
{
    buf_free(&c->in);
    buf_free(&c->out);
    ws_parser_free(&c->wp);
}
