/* libFuzzer target: the native transport's inbound path (csrc/transport:
 * on_receive, on_packet, on_upgrade_packet, the text character bound,
 * permessage-deflate inflation bounds), driven through a real lws service
 * thread over a socketpair.
 *
 * One server (hub + fio_ws_server, max_payload FZ_MAX, compression on so a
 * client may negotiate permessage-deflate, pings far away) lives for the
 * whole process. Per input, one connection:
 *   byte 0: mode; bit 0: adopted with fio_ws_adopt_conn(upgrade=1) on a hub
 *     connection opened here (else fio_ws_adopt, a new session); bit 1:
 *     permessage-deflate offered; bit 2: the payload of a frame with RSV1 set
 *     is compressed here first (else sent as the fuzzer wrote it).
 *   then frames, each: header byte (FIN 0x80, RSV 0x70, opcode 0x0f), two
 *     length bytes (little endian), that many payload bytes (fewer at the
 *     end of the input). Every frame is masked, its length encoded minimally.
 * The client reads the 101, writes the frames while draining what the
 * server writes, half-closes, and waits (bounded) for on_close.
 *
 * Properties (abort on violation):
 *  - every delivered text message is valid UTF-8 of at most FZ_MAX - 1
 *    characters (the type digit counts), a binary one at most FZ_MAX bytes;
 *  - the delivered messages are, in order, those a reference model of
 *    RFC 6455 + Engine.IO v4 (+ RFC 7692) computes from the frames, up to
 *    the first input the model refuses; when it refuses nothing, all of them;
 *  - exactly one on_close per connection, within FZ_WAIT_MS of the
 *    half-close, and no callback for it after that;
 *  - the hub's connection count is back to its baseline after each input.
 * Compressed messages are inflated by the transport itself
 * (csrc/transport/inflate.c): lws 4.1.6's own inflater aborted (an
 * assertion) or spun on some inputs this target found, which it used to
 * skip. lws's UTF-8 check is
 * off (it missed a message ending inside a character after an empty final
 * fragment, and it closed a connection on a non-UTF-8 PONG payload after a
 * text message, seed pong-after-text); on_packet checks each text message.
 * FZ_TRANSPORT_TRACE=1 prints one line per connection.
 * Threads: the callbacks run on the service thread and only record events
 * under ev.mu; the checks run on the fuzzer's thread. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "frame.h"
#include "fuzz_util.h"
#include "hub.h"
#include "lws_server.h"

#define FZ_MAX 4096
#define FZ_WAIT_MS 5000
#define FZ_MAX_EVENTS 4096

enum { EV_OPEN, EV_MSG, EV_CLOSE, EV_UPGRADE };

typedef struct fz_event {
    int kind;
    uint32_t conn;
    int binary;      /* EV_MSG */
    char *data;      /* EV_MSG, owned by the event list */
    size_t len;
} fz_event;

/* Guarded by mu; written by the service thread, read and emptied here. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fz_event list[FZ_MAX_EVENTS];
    size_t n;
    int overflow;
} ev = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static fio_hub *hub;
static fio_ws_server *srv;
static size_t baseline;
static unsigned long long serial;

static void record(int kind, uint32_t conn, int binary, const char *data, size_t len)
{
    char *copy = NULL;
    if (kind == EV_MSG) {
        copy = malloc(len + 1);
        FZ_CHECK(copy != NULL);
        if (len)
            memcpy(copy, data, len);
        copy[len] = '\0';
    }
    pthread_mutex_lock(&ev.mu);
    if (ev.n < FZ_MAX_EVENTS) {
        ev.list[ev.n++] = (fz_event){kind, conn, binary, copy, len};
    } else {
        ev.overflow = 1;
        free(copy);
    }
    pthread_cond_broadcast(&ev.cv);
    pthread_mutex_unlock(&ev.mu);
}

static int cb_message(void *ctx, uint32_t conn, int binary, const char *data, size_t len)
{
    (void)ctx;
    record(EV_MSG, conn, binary, data, len);
    return 0;
}

static void cb_open(void *ctx, uint32_t conn)
{
    (void)ctx;
    record(EV_OPEN, conn, 0, NULL, 0);
}

static void cb_close(void *ctx, uint32_t conn, fio_ws_reason reason)
{
    (void)ctx;
    record(EV_CLOSE, conn, (int)reason, NULL, 0);
}

static void cb_upgrade(void *ctx, uint32_t conn, int stage)
{
    (void)ctx;
    record(EV_UPGRADE, conn, stage, NULL, 0);
}

static void events_clear_locked(void)
{
    for (size_t i = 0; i < ev.n; i++)
        free(ev.list[i].data);
    ev.n = 0;
    ev.overflow = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    hub = fio_hub_new_bounded(64, 1 << 20);
    FZ_CHECK(hub != NULL);
    fio_ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ping_interval_ms = 3600 * 1000;   /* no ping during a run: deterministic */
    cfg.ping_timeout_ms = 3600 * 1000;
    cfg.max_payload = FZ_MAX;
    cfg.close_grace_ms = 100;
    cfg.compress_threshold = 64;
    cfg.event_loop = FIO_WS_LOOP_POLL;
    cfg.on_message = cb_message;
    cfg.on_open = cb_open;
    cfg.on_close = cb_close;
    cfg.on_upgrade = cb_upgrade;
    srv = fio_ws_server_new(hub, &cfg);
    FZ_CHECK(srv != NULL);
    FZ_OK(fio_ws_server_start(srv));
    baseline = fio_hub_conn_count(hub);
    /* The server and its thread live until exit (libFuzzer never returns). */
    return 0;
}

/* ------------------------------------------------------------ reference model */

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, min = 0x80, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, min = 0x800, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static size_t utf8_chars(const unsigned char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += (s[i] & 0xC0) != 0x80;
    return chars;
}

/* Raw inflate of a permessage-deflate message (RFC 7692 7.2.2: the 00 00 ff
 * ff tail appended). 0 ok (out set), 1 more than cap bytes, -1 bad data or
 * bytes of the message after the end of a final deflate block (RFC 7692
 * leaves that case to the implementation; the transport fails it). A final
 * block that ends the message, or that the tail completes, is a message. */
static int inflate_msg(const unsigned char *in, size_t n, size_t cap, fio_buf *out)
{
    static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
    z_stream z;
    memset(&z, 0, sizeof z);
    FZ_CHECK(inflateInit2(&z, -15) == Z_OK);
    out->len = 0;
    FZ_OK(fio_buf_reserve(out, cap + 1));
    int rc = 0;
    for (int part = 0; part < 2 && rc == 0; part++) {
        z.next_in = (unsigned char *)(part ? tail : in);
        z.avail_in = (uInt)(part ? sizeof tail : n);
        while (z.avail_in) {
            z.next_out = (unsigned char *)out->data + out->len;
            z.avail_out = (uInt)(cap + 1 - out->len);
            int zr = inflate(&z, Z_SYNC_FLUSH);
            out->len = (size_t)((char *)z.next_out - out->data);
            if (out->len > cap) {
                rc = 1;
                break;
            }
            if (zr == Z_STREAM_END) {
                if (part == 0 && z.avail_in > 0)
                    rc = -1;   /* the message goes on after its final block */
                part = 2;      /* ended: the tail is not needed */
                break;
            }
            if (zr != Z_OK) {
                rc = zr == Z_BUF_ERROR && z.avail_in == 0 ? 0 : -1;
                break;
            }
        }
    }
    inflateEnd(&z);
    return rc;
}

typedef struct fz_msg {
    int binary;
    size_t off, len;   /* into the model's text buffer */
} fz_msg;

typedef struct fz_model {
    int upgrading, probed;
    int deflate;
    int refused;       /* the model stops at the first input it refuses */
    fio_buf data;      /* payloads of expected messages, back to back */
    fz_msg *msgs;
    size_t nmsgs, capmsgs;
    /* message being assembled */
    int in_msg, binary, compressed;
    fio_buf cur, tmp;
} fz_model;

static void model_expect(fz_model *m, int binary, const char *p, size_t n)
{
    if (m->nmsgs == m->capmsgs) {
        m->capmsgs = m->capmsgs ? m->capmsgs * 2 : 16;
        m->msgs = realloc(m->msgs, m->capmsgs * sizeof *m->msgs);
        FZ_CHECK(m->msgs != NULL);
    }
    m->msgs[m->nmsgs++] = (fz_msg){binary, m->data.len, n};
    FZ_OK(fio_buf_append(&m->data, p, n));
}

/* A complete websocket message (after inflation) as the transport sees it. */
static void model_message(fz_model *m, int binary, const unsigned char *p, size_t n)
{
    if (binary) {
        if (m->upgrading || n > FZ_MAX) {
            m->refused = 1;
            return;
        }
        model_expect(m, 1, (const char *)p, n);
        return;
    }
    if (!utf8_valid(p, n) || utf8_chars(p, n) > FZ_MAX || n == 0 || p[0] < '0' ||
        p[0] > '6') {
        m->refused = 1;
        return;
    }
    int type = p[0] - '0';
    if (m->upgrading) {
        if (!m->probed && type == 2 && n == 6 && memcmp(p + 1, "probe", 5) == 0)
            m->probed = 1;
        else if (m->probed && type == 5)
            m->upgrading = 0;
        else
            m->refused = 1;
        return;
    }
    switch (type) {
    case 4:
        model_expect(m, 0, (const char *)p + 1, n - 1);
        return;
    case 2: case 3: case 5: case 6:
        return;
    default:
        m->refused = 1;   /* OPEN, CLOSE */
    }
}

static void model_frame(fz_model *m, int hdr, const unsigned char *p, size_t n)
{
    int fin = hdr & 0x80, rsv = hdr & 0x70, op = hdr & 0x0f;
    if (m->refused)
        return;
    if (op >= 8) {
        /* ping and pong are answered / ignored by lws; close and the rest end it */
        if ((op != 9 && op != 10) || !fin || rsv || n > 125)
            m->refused = 1;
        return;
    }
    if (op == 0 ? !m->in_msg : (op > 2 || m->in_msg)) {
        m->refused = 1;
        return;
    }
    if (op != 0) {
        if (rsv & ~(m->deflate ? 0x40 : 0)) {
            m->refused = 1;
            return;
        }
        m->in_msg = 1;
        m->binary = op == 2;
        m->compressed = (rsv & 0x40) != 0;
        m->cur.len = 0;
    } else if (rsv) {
        m->refused = 1;
        return;
    }
    FZ_OK(fio_buf_append(&m->cur, p, n));
    if (!fin)
        return;
    m->in_msg = 0;
    const unsigned char *msg = (const unsigned char *)m->cur.data;
    size_t len = m->cur.len;
    if (m->compressed) {
        int rc = inflate_msg(msg, len, 4 * FZ_MAX + 8, &m->tmp);
        if (rc != 0) {
            m->refused = 1;
            return;
        }
        msg = (const unsigned char *)m->tmp.data;
        len = m->tmp.len;
    }
    model_message(m, m->binary, msg ? msg : (const unsigned char *)"", len);
}

/* ------------------------------------------------------------ client */

static void add_frame(fio_buf *out, int hdr, const unsigned char *p, size_t n)
{
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = (unsigned char)hdr;
    if (n < 126) {
        h[hl++] = (unsigned char)(0x80 | n);
    } else if (n <= 0xffff) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    static const unsigned char mask[4] = {0x5a, 0x13, 0xc7, 0x80};
    memcpy(h + hl, mask, 4);
    hl += 4;
    FZ_OK(fio_buf_append(out, h, hl));
    FZ_OK(fio_buf_reserve(out, n));
    for (size_t i = 0; i < n; i++)
        out->data[out->len + i] = (char)(p[i] ^ mask[i & 3]);
    out->len += n;
}

/* Raw deflate with a sync flush, its 00 00 ff ff tail removed (RFC 7692). */
static void deflate_payload(const unsigned char *in, size_t n, fio_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    FZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    out->len = 0;
    FZ_OK(fio_buf_reserve(out, deflateBound(&z, n) + 16));
    z.next_in = (unsigned char *)(n ? in : (const unsigned char *)"");
    z.avail_in = (uInt)n;
    z.next_out = (unsigned char *)out->data;
    z.avail_out = (uInt)(out->cap);
    FZ_CHECK(deflate(&z, Z_SYNC_FLUSH) == Z_OK && z.avail_in == 0);
    out->len = out->cap - z.avail_out;
    deflateEnd(&z);
    FZ_CHECK(out->len >= 4 && memcmp(out->data + out->len - 4, "\0\0\xff\xff", 4) == 0);
    out->len -= 4;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The 101 head, read byte by byte (nothing after it is consumed). Signals
 * (libFuzzer's -timeout alarm) interrupt poll and recv: retried. */
static int read_head(int fd, char *buf, size_t cap, long long deadline)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = '\0';
            return (int)n;
        }
    }
    return -1;
}

static int closed_for(uint32_t conn)
{
    pthread_mutex_lock(&ev.mu);
    int found = 0;
    for (size_t i = 0; i < ev.n; i++)
        found |= ev.list[i].kind == EV_CLOSE && ev.list[i].conn == conn;
    pthread_mutex_unlock(&ev.mu);
    return found;
}

/* Writes wire to the client socket while discarding what the server sends,
 * then half-closes and waits for conn's on_close (draining all the while). */
static void run_client(int fd, const fio_buf *wire, uint32_t conn)
{
    size_t sent = 0;
    int shut = 0, eof = 0;
    long long deadline = now_ms() + FZ_WAIT_MS;
    char sink[16384];
    while (!closed_for(conn)) {
        if (!shut && sent == wire->len) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        struct pollfd pfd = {fd, (short)((eof ? 0 : POLLIN) | (shut ? 0 : POLLOUT)), 0};
        int pr = poll(&pfd, eof && shut ? 0 : 1, 5);   /* nothing left to do: sleep */
        FZ_CHECK(pr >= 0 || errno == EINTR);
        if (pr > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !eof) {
            ssize_t r = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                eof = 1;
        }
        if (!shut && pr > 0 && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = send(fd, wire->data + sent, wire->len - sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                sent = wire->len;   /* the server is gone: nothing more to send */
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "fuzz_transport: no on_close for conn %u within %d ms "
                    "(sent %zu of %zu bytes)\n", conn, FZ_WAIT_MS, sent, wire->len);
            abort();
        }
    }
}

/* ------------------------------------------------------------ input */

/* The next frame of the input at *i (a header byte, two little-endian length
 * bytes, the payload, each cut short by the input's end), its payload
 * compressed into z when the target compresses (compress_here) and RSV1 is
 * set. 0 at the end of the input. */
static int next_frame(const uint8_t *in, size_t n, size_t *i, int compress_here, fio_buf *z,
                      int *hdr, const unsigned char **p, size_t *len)
{
    if (*i >= n)
        return 0;
    *hdr = in[(*i)++];
    *len = 0;
    if (*i < n)
        *len = in[(*i)++];
    if (*i < n)
        *len |= (size_t)in[(*i)++] << 8;
    if (*len > n - *i)
        *len = n - *i;
    *p = in + *i;
    *i += *len;
    if (compress_here && (*hdr & 0x40)) {
        deflate_payload(*p, *len, z);
        *p = (const unsigned char *)z->data;
        *len = z->len;
    }
    return 1;
}

/* ------------------------------------------------------------ one input */

static void check_events(uint32_t conn, const fz_model *m, int upgrade)
{
    pthread_mutex_lock(&ev.mu);
    FZ_CHECK(!ev.overflow);
    size_t closes = 0, k = 0;
    int opens = 0;
    for (size_t i = 0; i < ev.n; i++) {
        const fz_event *e = &ev.list[i];
        if (e->conn != conn) {
            fprintf(stderr, "event %d for conn %u during conn %u\n", e->kind, e->conn, conn);
            abort();
        }
        FZ_CHECK(closes == 0);   /* nothing after on_close */
        switch (e->kind) {
        case EV_CLOSE:
            closes++;
            break;
        case EV_OPEN:
            opens++;
            break;
        case EV_UPGRADE:
            FZ_CHECK(upgrade);
            break;
        case EV_MSG:
            if (e->binary) {
                FZ_CHECK(e->len <= FZ_MAX);
            } else {
                const unsigned char *u = (const unsigned char *)e->data;
                FZ_CHECK(utf8_valid(u, e->len));
                FZ_CHECK(utf8_chars((const unsigned char *)e->data, e->len) + 1 <= FZ_MAX);
            }
            if (k < m->nmsgs) {
                const fz_msg *x = &m->msgs[k];
                if (x->binary != e->binary ||
                    !fz_eq(m->data.data + x->off, x->len, e->data, e->len)) {
                    fprintf(stderr, "message %zu: delivered %s of %zu bytes, expected %s of "
                            "%zu bytes\n", k, e->binary ? "binary" : "text", e->len,
                            x->binary ? "binary" : "text", x->len);
                    abort();
                }
            } else {
                FZ_CHECK(m->refused);   /* a message the model never saw */
            }
            k++;
            break;
        }
    }
    if (getenv("FZ_TRANSPORT_TRACE")) {
        int reason = -1;
        for (size_t i = 0; i < ev.n; i++)
            if (ev.list[i].kind == EV_CLOSE)
                reason = ev.list[i].binary;
        fprintf(stderr, "conn %u: %zu delivered, model %zu%s, %d opens, close %s\n", conn, k,
                m->nmsgs, m->refused ? " (refused)" : "", opens,
                reason >= 0 ? fio_ws_reason_name((fio_ws_reason)reason) : "none");
    }
    FZ_CHECK(closes == 1);
    FZ_CHECK(opens <= 1);
    if (!m->refused && k != m->nmsgs) {
        fprintf(stderr, "delivered %zu messages of %zu, the input was all valid\n", k,
                m->nmsgs);
        abort();
    }
    events_clear_locked();
    pthread_mutex_unlock(&ev.mu);
}

static const char req_head[] =
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";
static const char req_pmd[] =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
    if (n == 0)
        return 0;
    int mode = in[0];
    int upgrade = mode & 1, offer = (mode >> 1) & 1, compress_here = (mode >> 2) & 1;
    in++, n--;

    /* whatever came in after the previous connection's on_close */
    pthread_mutex_lock(&ev.mu);
    if (ev.n) {
        fprintf(stderr, "%zu events after the previous connection closed\n", ev.n);
        abort();
    }
    pthread_mutex_unlock(&ev.mu);
    FZ_CHECK(fio_hub_conn_count(hub) == baseline);

    int sp[2];
    FZ_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
    char req[512];
    int rl = snprintf(req, sizeof req, "%s%s\r\n", req_head, offer ? req_pmd : "");
    FZ_CHECK(rl > 0 && (size_t)rl < sizeof req);

    uint32_t conn = 0;
    char sid[32];
    snprintf(sid, sizeof sid, "fz%llu", serial++);
    if (upgrade) {
        FZ_OK(fio_hub_conn_open(hub, (fio_str){sid, strlen(sid)}, &conn));
        fio_frame *f = fio_frame_new("4queued for polling", 19, 0);
        FZ_CHECK(f != NULL);
        FZ_CHECK(fio_hub_push(hub, conn, &f, 1) == 1);
        fio_frame_unref(f);
        FZ_CHECK(fio_ws_adopt_conn(srv, sp[0], req, (size_t)rl, sid, strlen(sid), conn, 1) ==
                 FIO_OK);
    } else {
        FZ_CHECK(fio_ws_adopt(srv, sp[0], req, (size_t)rl, NULL, 0, 1, &conn) == FIO_OK);
    }
    int c = sp[1];
    char head[2048];
    FZ_CHECK(read_head(c, head, sizeof head, now_ms() + FZ_WAIT_MS) > 0);
    FZ_CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    int deflate = strstr(head, "permessage-deflate") != NULL;
    FZ_CHECK(deflate == offer);

    fz_model m;
    memset(&m, 0, sizeof m);
    m.upgrading = upgrade;
    m.deflate = deflate;
    fio_buf_init(&m.data);
    fio_buf_init(&m.cur);
    fio_buf_init(&m.tmp);
    fio_buf wire, z;
    fio_buf_init(&wire);
    fio_buf_init(&z);
    size_t i = 0;
    int hdr;
    const unsigned char *p;
    size_t len;
    while (next_frame(in, n, &i, compress_here, &z, &hdr, &p, &len)) {
        model_frame(&m, hdr, p, len);
        add_frame(&wire, hdr, p, len);
    }

    run_client(c, &wire, conn);
    close(c);
    check_events(conn, &m, upgrade);
    if (upgrade)
        FZ_OK(fio_hub_conn_close(hub, conn));
    FZ_CHECK(fio_hub_conn_count(hub) == baseline);

    fio_buf_free(&wire);
    fio_buf_free(&z);
    fio_buf_free(&m.data);
    fio_buf_free(&m.cur);
    fio_buf_free(&m.tmp);
    free(m.msgs);
    return 0;
}
