/* Tests of csrc/transport (the libwebsockets service thread) over real
 * loopback sockets. The test owns a listening socket, accepts, reads the HTTP
 * upgrade request on the accepted socket and hands fd + bytes to
 * fio_ws_adopt, as the uvicorn protocol class will; the client side is a
 * minimal websocket client written here (plain sockets, masked frames), so
 * nothing of lws is used to check lws.
 *
 * Covered: handshake answer and OPEN packet; messages in (text, binary,
 * fragmented) reaching on_message; Engine.IO ping/pong and ping timeout;
 * "2probe" and no OPEN for an upgrade; frames pushed into the hub arriving
 * whole and in order, in few writes (and one write per frame in
 * frame_per_write mode); client CLOSE packet; oversized message (1009);
 * invalid packets; a non-websocket request; a client gone mid-frame; a
 * client that stops reading until its hub queue overflows; fio_ws_close
 * after the queued frames; shutdown with clients connected, one of them
 * jammed; 200 connections in a room with two threads broadcasting; a 6 KB
 * request head; adoptions made before the thread starts; the inbox link
 * with back-pressure; frame headers at the length boundaries. Every case
 * checks that on_close came once with the right reason and the hub
 * connection is gone.
 *
 * Usage: test_transport [corpus-dir] (not used). TRANSPORT_LOOP=poll|uv|ev
 * picks the server's event loop (default: the server's). TRANSPORT_BENCH=N also
 * prints frames/s for N small frames queued at once to one connection,
 * batched and one per write; TRANSPORT_BCAST=N (TRANSPORT_BCAST_FRAMES=M,
 * 200; TRANSPORT_BCAST_LOCKSTEP=1: one broadcast at a time) deliveries/s
 * of M broadcasts to N connections in one room;
 * TRANSPORT_IDLE=N the server RSS per idle
 * connection and the idle CPU with N connections (figures only, nothing
 * asserted; build without sanitizers for meaningful figures). Runs under
 * ASan/UBSan from run.sh; a hang is turned into a failure by alarm(). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "hub.h"
#include "lws_server.h"
#include "ws_inbox.h"
#include "wsframe.h"

#include "check.h"
#include "sock_util.h"

/* ------------------------------------------------------------ what the server reported */

#define MAX_EV 4096

typedef struct msg_ev { uint32_t conn; int binary; char *data; size_t len; } msg_ev;
typedef struct close_ev { uint32_t conn; fio_ws_reason reason; } close_ev;

typedef struct events {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg_ev msgs[MAX_EV];
    size_t nmsgs;
    uint32_t opens[MAX_EV];
    size_t nopens;
    close_ev closes[MAX_EV];
    size_t ncloses;
    size_t passes;          /* on_pass_end calls */
    size_t msgs_at_pass;    /* nmsgs at the last of them */
} events;

static events ev = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int on_message(void *ctx, uint32_t conn, int binary, const char *data, size_t len)
{
    events *e = ctx;
    pthread_mutex_lock(&e->mu);
    if (e->nmsgs < MAX_EV) {
        char *p = malloc(len + 1);
        if (p) {
            memcpy(p, data, len);
            p[len] = '\0';
        }
        e->msgs[e->nmsgs++] = (msg_ev){conn, binary, p, len};
    }
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static void on_open(void *ctx, uint32_t conn)
{
    events *e = ctx;
    pthread_mutex_lock(&e->mu);
    if (e->nopens < MAX_EV)
        e->opens[e->nopens++] = conn;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void on_close(void *ctx, uint32_t conn, fio_ws_reason reason)
{
    events *e = ctx;
    pthread_mutex_lock(&e->mu);
    if (e->ncloses < MAX_EV)
        e->closes[e->ncloses++] = (close_ev){conn, reason};
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void on_pass_end(void *ctx)
{
    events *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->passes++;
    e->msgs_at_pass = e->nmsgs;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void events_reset(void)
{
    pthread_mutex_lock(&ev.mu);
    for (size_t i = 0; i < ev.nmsgs; i++)
        free(ev.msgs[i].data);
    ev.nmsgs = ev.nopens = ev.ncloses = ev.passes = ev.msgs_at_pass = 0;
    pthread_mutex_unlock(&ev.mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits until *count >= n (ev.mu taken inside). 1 reached, 0 timed out. */
static int wait_count(size_t *count, size_t n, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&ev.mu);
    int rc = 0;
    while (*count < n && rc == 0)
        rc = pthread_cond_timedwait(&ev.cv, &ev.mu, &ts);
    int ok = *count >= n;
    pthread_mutex_unlock(&ev.mu);
    return ok;
}

/* The reason on_close gave for conn, or -1 if none (yet) within ms. */
static int close_reason_of(uint32_t conn, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&ev.mu);
    int reason = -1, found = 0, rc = 0;
    for (;;) {
        found = 0;
        for (size_t i = 0; i < ev.ncloses; i++)
            if (ev.closes[i].conn == conn) {
                if (!found)
                    reason = (int)ev.closes[i].reason;
                found++;
            }
        if (found || rc != 0)
            break;
        rc = pthread_cond_timedwait(&ev.cv, &ev.mu, &ts);
    }
    pthread_mutex_unlock(&ev.mu);
    if (getenv("TRANSPORT_VERBOSE"))
        fprintf(stderr, "conn %u: %d on_close, first reason %d\n", conn, found, reason);
    return found == 1 ? reason : (found > 1 ? -2 : -1);
}

/* ------------------------------------------------------------ sockets */

static int listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) < 0) {
        perror("listener");
        exit(2);
    }
    *port = ntohs(a.sin_port);
    return s;
}

/* small_buffers: fixed 16 KiB socket buffers (no autotuning), so that a
 * client that stops reading jams the connection for good. */
static int small_buffers;

static void shrink(int s)
{
    int sz = 16384;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

static int connect_to(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && small_buffers)
        shrink(s);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(2);
    }
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}




static const char *upgrade_req =
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* ------------------------------------------------------------ minimal websocket client */

static int ws_send(int fd, int opcode, const void *payload, size_t len)
{
    return ws_send_frame(fd, 1, 0, opcode, payload, len);
}

static int ws_send_text(int fd, const char *s) { return ws_send(fd, 1, s, strlen(s)); }

/* Reads one frame (the server never masks). *payload is malloc'd, NUL-ended.
 * Returns the opcode (FIN required), or -1 on EOF/error/timeout. */
static int ws_recv(int fd, char **payload, size_t *len)
{
    unsigned char h[2];
    *payload = NULL;
    if (recv_all(fd, h, 2) < 0)
        return -1;
    if (!(h[0] & 0x80) || (h[1] & 0x80))
        return -1;
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        unsigned char e[2];
        if (recv_all(fd, e, 2) < 0)
            return -1;
        n = (uint64_t)e[0] << 8 | e[1];
    } else if (n == 127) {
        unsigned char e[8];
        if (recv_all(fd, e, 8) < 0)
            return -1;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | e[i];
    }
    char *p = malloc(n + 1);
    if (!p || recv_all(fd, p, n) < 0) {
        free(p);
        return -1;
    }
    p[n] = '\0';
    *payload = p;
    *len = n;
    return h[0] & 0x0f;
}

/* Reads frames until a text frame; answers nothing. Returns it (malloc'd) or NULL. */
static char *ws_recv_text(int fd)
{
    char *p;
    size_t n;
    int op = ws_recv(fd, &p, &n);
    if (op == 1)
        return p;
    free(p);
    return NULL;
}

/* 1 if the server closed: a close frame (status into *status; answered
 * with a close frame) or EOF. Other frames are skipped. */
static int ws_closed(int fd, int *status)
{
    *status = -1;
    for (;;) {
        char *p;
        size_t n;
        int op = ws_recv(fd, &p, &n);
        if (op == 8) {
            if (n >= 2)
                *status = (unsigned char)p[0] << 8 | (unsigned char)p[1];
            free(p);
            ws_send(fd, 8, "\x03\xe8", 2);   /* answer it, as clients do */
            return 1;
        }
        free(p);
        if (op < 0) {
            char c;
            ssize_t r = recv(fd, &c, 1, 0);
            return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        }
    }
}

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    fio_hub *hub;
    fio_ws_server *srv;
    int lfd, port;
} fixture;

static void fixture_up(fixture *f, fio_ws_config cfg, size_t max_queue)
{
    events_reset();
    f->hub = fio_hub_new_bounded(max_queue, 1 << 26);
    cfg.on_message = on_message;
    cfg.on_open = on_open;
    cfg.on_close = on_close;
    cfg.on_pass_end = on_pass_end;
    cfg.ctx = &ev;
    f->srv = f->hub ? fio_ws_server_new(f->hub, &cfg) : NULL;
    if (!f->srv || fio_ws_server_start(f->srv) < 0) {
        fprintf(stderr, "server setup failed\n");
        exit(2);
    }
    f->lfd = listener(&f->port);
}

static void fixture_down(fixture *f)
{
    fio_ws_server_stop_and_free(f->srv);
    CHECK(fio_hub_conn_count(f->hub) == 0, "hub connections left: %zu",
          fio_hub_conn_count(f->hub));
    fio_hub_free(f->hub);
    close(f->lfd);
}

/* Connects a client, accepts, reads the request head on the server side and
 * adopts it. Returns the client fd; *conn gets the hub id. request NULL:
 * the standard upgrade. */
static int adopt_client(fixture *f, const char *request, const char *sid, int send_open,
                        uint32_t *conn, int *adopt_rc)
{
    int c = connect_to(f->port);
    const char *req = request ? request : upgrade_req;
    CHECK(send_all(c, req, strlen(req)) == 0, "send request");
    int s = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(s >= 0, "accept");
    if (s >= 0 && small_buffers)
        shrink(s);
    static char head[16384];
    int hl = read_head(s, head, sizeof head);
    CHECK(hl > 0, "server read head");
    int rc = fio_ws_adopt(f->srv, s, head, hl > 0 ? (size_t)hl : 0, sid, sid ? strlen(sid) : 0,
                          send_open, conn);
    if (adopt_rc)
        *adopt_rc = rc;
    else
        CHECK(rc == FIO_OK, "adopt: %d", rc);
    return c;
}

/* Client side of the handshake: 101 head, then the OPEN packet (whose sid is
 * copied into sid_out when given). 0 ok. */
static int client_handshake(int c, int expect_open, char *sid_out, size_t sidcap)
{
    char head[4096];
    if (read_head(c, head, sizeof head) < 0)
        return -1;
    if (strncmp(head, "HTTP/1.1 101", 12) != 0 || !strstr(head, "Sec-WebSocket-Accept:") ||
        !strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        return -2;
    if (!expect_open)
        return 0;
    char *open = ws_recv_text(c);
    if (!open)
        return -3;
    int ok = open[0] == '0' && strstr(open, "\"sid\":\"") && strstr(open, "\"pingInterval\":");
    if (ok && sid_out) {
        const char *s = strstr(open, "\"sid\":\"") + 7;
        size_t n = strcspn(s, "\"");
        if (n >= sidcap)
            n = sidcap - 1;
        memcpy(sid_out, s, n);
        sid_out[n] = '\0';
    }
    free(open);
    return ok ? 0 : -4;
}

static void push_text(fixture *f, uint32_t conn, const char *const *texts, size_t n)
{
    fio_frame *fr[256] = {0};
    for (size_t i = 0; i < n; i++)
        fr[i] = fio_frame_new(texts[i], strlen(texts[i]), 0);
    int rc = fio_hub_push(f->hub, conn, fr, n);
    for (size_t i = 0; i < n; i++)
        fio_frame_unref(fr[i]);
    if (rc == 1 || rc == 2)
        CHECK(fio_ws_wake(f->srv, conn) == 0, "wake");
}

/* ------------------------------------------------------------ cases */

/* The event loop every fixture uses: TRANSPORT_LOOP=poll|uv|ev (run.sh runs
 * the test once per loop the server keeps), else the server's default. */
static fio_ws_loop test_loop;

static fio_ws_config base_cfg(void)
{
    fio_ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.event_loop = test_loop;
    cfg.ping_interval_ms = 25000;
    cfg.ping_timeout_ms = 20000;
    cfg.close_grace_ms = 300;
    return cfg;
}

static void test_open_and_messages(void)
{
    fixture f;
    fixture_up(&f, base_cfg(), 1000);
    uint32_t conn = 0;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    char sid[64] = "";
    CHECK(client_handshake(c, 1, sid, sizeof sid) == 0, "handshake");
    CHECK(strlen(sid) == 20, "generated sid '%s'", sid);
    CHECK(wait_count(&ev.nopens, 1, 3000) && ev.opens[0] == conn, "on_open");

    /* text, binary, then a message fragmented over three frames */
    CHECK(ws_send_text(c, "4hello") == 0, "send");
    CHECK(ws_send(c, 2, "\x00\x01\xff", 3) == 0, "send binary");
    unsigned char frag[] = {0x01, 0x82, 0, 0, 0, 0, '4', 'a',
                            0x00, 0x81, 0, 0, 0, 0, 'b',
                            0x80, 0x82, 0, 0, 0, 0, 'c', 'd'};
    CHECK(send_all(c, frag, sizeof frag) == 0, "send fragments");
    CHECK(wait_count(&ev.nmsgs, 3, 3000), "3 messages, got %zu", ev.nmsgs);
    pthread_mutex_lock(&ev.mu);
    CHECK(ev.nmsgs == 3 && ev.msgs[0].conn == conn && !ev.msgs[0].binary &&
              ev.msgs[0].len == 5 && memcmp(ev.msgs[0].data, "hello", 5) == 0,
          "text message");
    CHECK(ev.nmsgs == 3 && ev.msgs[1].binary && ev.msgs[1].len == 3 &&
              memcmp(ev.msgs[1].data, "\x00\x01\xff", 3) == 0,
          "binary message");
    CHECK(ev.nmsgs == 3 && !ev.msgs[2].binary && ev.msgs[2].len == 4 &&
              memcmp(ev.msgs[2].data, "abcd", 4) == 0,
          "fragmented message '%s'", ev.nmsgs == 3 ? ev.msgs[2].data : "");
    pthread_mutex_unlock(&ev.mu);
    CHECK(wait_count(&ev.msgs_at_pass, 3, 3000), "a pass end after the third message");

    /* messages read in one pass end it once (libev and poll end passes; libuv
     * has no hook and ends one per callback) */
    char burst[20 * 16];
    size_t blen = 0;
    for (int i = 0; i < 20; i++) {
        char text[10];
        int tl = snprintf(text, sizeof text, "4m%02d", i);
        unsigned char hdr[6] = {0x81, (unsigned char)(0x80 | tl), 0, 0, 0, 0};
        memcpy(burst + blen, hdr, 6);
        memcpy(burst + blen + 6, text, (size_t)tl);
        blen += 6 + (size_t)tl;
    }
    pthread_mutex_lock(&ev.mu);
    size_t passes0 = ev.passes;
    pthread_mutex_unlock(&ev.mu);
    CHECK(send_all(c, burst, blen) == 0, "send 20 messages in one write");
    CHECK(wait_count(&ev.msgs_at_pass, 23, 3000), "all 20, then a pass end");
    pthread_mutex_lock(&ev.mu);
    size_t burst_passes = ev.passes - passes0;
    pthread_mutex_unlock(&ev.mu);
    if (test_loop != FIO_WS_LOOP_UV)
        CHECK(burst_passes <= 3, "20 messages of one write ended %zu passes", burst_passes);

    /* frames pushed at once arrive whole and in order; one is > 64 KiB */
    const char *texts[100];
    char bufs[100][32];
    for (int i = 0; i < 100; i++) {
        snprintf(bufs[i], sizeof bufs[i], "4[\"n\",%d]", i);
        texts[i] = bufs[i];
    }
    fio_ws_stats before, after;
    fio_ws_get_stats(f.srv, &before);
    push_text(&f, conn, texts, 100);
    size_t biglen = 70000;
    char *big = malloc(biglen);
    memset(big, 'x', biglen);
    big[0] = '4';
    fio_frame *bf[2] = {fio_frame_new(big, biglen, 0), fio_frame_new("\x01\x02", 2, 1)};
    int prc = fio_hub_push(f.hub, conn, bf, 2);
    fio_frame_unref(bf[0]);
    fio_frame_unref(bf[1]);
    if (prc == 1)
        fio_ws_wake(f.srv, conn);
    int in_order = 1;
    for (int i = 0; i < 100; i++) {
        char *p = ws_recv_text(c);
        if (!p || strcmp(p, bufs[i]) != 0) {
            in_order = 0;
            fprintf(stderr, "frame %d: '%s'\n", i, p ? p : "(none)");
            free(p);
            break;
        }
        free(p);
    }
    CHECK(in_order, "100 pushed frames in order");
    char *p;
    size_t n;
    int op = ws_recv(c, &p, &n);
    CHECK(op == 1 && n == biglen && memcmp(p, big, biglen) == 0, "70000-byte frame");
    free(p);
    op = ws_recv(c, &p, &n);
    CHECK(op == 2 && n == 2 && memcmp(p, "\x01\x02", 2) == 0, "binary frame out");
    free(p);
    free(big);
    for (int i = 0; i < 300; i++) {
        fio_ws_get_stats(f.srv, &after);
        if (after.frames_out - before.frames_out >= 102)
            break;
        usleep(10000);
    }
    CHECK(after.frames_out - before.frames_out == 102, "frames counted %llu",
          (unsigned long long)(after.frames_out - before.frames_out));
    /* batching: 102 frames pushed in two pushes leave in at most a few writes */
    CHECK(after.writes - before.writes <= 4, "writes for 102 frames: %llu",
          (unsigned long long)(after.writes - before.writes));

    /* the client's Engine.IO CLOSE ends the session */
    CHECK(ws_send_text(c, "1") == 0, "send close");
    CHECK(close_reason_of(conn, 3000) == FIO_WS_CLIENT_DISCONNECT, "reason client disconnect");
    int st;
    CHECK(ws_closed(c, &st), "client sees the close");
    close(c);
    fixture_down(&f);
}

static void test_frame_per_write(void)
{
    fio_ws_config cfg = base_cfg();
    cfg.frame_per_write = 1;
    fixture f;
    fixture_up(&f, cfg, 1000);
    uint32_t conn;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    CHECK(client_handshake(c, 1, NULL, 0) == 0, "handshake");
    const char *texts[3] = {"4a", "4b", "4c"};
    fio_ws_stats before, after;
    /* the OPEN packet's write is counted after lws_write returns */
    for (int i = 0; i < 300; i++) {
        fio_ws_get_stats(f.srv, &before);
        if (before.writes >= 1)
            break;
        usleep(10000);
    }
    push_text(&f, conn, texts, 3);
    for (int i = 0; i < 3; i++) {
        char *p = ws_recv_text(c);
        CHECK(p && strcmp(p, texts[i]) == 0, "frame %d: %s", i, p ? p : "(none)");
        free(p);
    }
    /* the counter is bumped after lws_write returns: wait for it */
    for (int i = 0; i < 300; i++) {
        fio_ws_get_stats(f.srv, &after);
        if (after.writes - before.writes >= 3)
            break;
        usleep(10000);
    }
    usleep(20000);
    fio_ws_get_stats(f.srv, &after);
    CHECK(after.writes - before.writes == 3, "one write per frame: %llu",
          (unsigned long long)(after.writes - before.writes));
    close(c);
    CHECK(close_reason_of(conn, 3000) == FIO_WS_TRANSPORT_CLOSE, "reason transport close");
    fixture_down(&f);
}

static void test_ping(void)
{
    fio_ws_config cfg = base_cfg();
    cfg.ping_interval_ms = 100;
    cfg.ping_timeout_ms = 200;
    fixture f;
    fixture_up(&f, cfg, 1000);
    uint32_t conn;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    CHECK(client_handshake(c, 1, NULL, 0) == 0, "handshake");
    for (int i = 0; i < 3; i++) {
        char *p = ws_recv_text(c);
        CHECK(p && strcmp(p, "2") == 0, "ping %d: %s", i, p ? p : "(none)");
        free(p);
        CHECK(ws_send_text(c, "3") == 0, "pong");
    }
    CHECK(close_reason_of(conn, 0) == -1, "still open after answered pings");
    /* stop answering: closed by the server */
    char *p = ws_recv_text(c);
    CHECK(p && strcmp(p, "2") == 0, "last ping");
    free(p);
    CHECK(close_reason_of(conn, 3000) == FIO_WS_PING_TIMEOUT, "reason ping timeout");
    int st;
    CHECK(ws_closed(c, &st), "client sees the close");
    close(c);
    fixture_down(&f);
}

static void test_upgrade_probe(void)
{
    fixture f;
    fixture_up(&f, base_cfg(), 1000);
    uint32_t conn;
    int c = adopt_client(&f, NULL, "abcdefghijklmnopqrst", 0, &conn, NULL);
    CHECK(client_handshake(c, 0, NULL, 0) == 0, "handshake");
    CHECK(ws_send_text(c, "2probe") == 0, "probe");
    char *p = ws_recv_text(c);
    CHECK(p && strcmp(p, "3probe") == 0, "probe answer (and no OPEN before it): %s",
          p ? p : "(none)");
    free(p);
    CHECK(ws_send_text(c, "5") == 0 && ws_send_text(c, "6") == 0 && ws_send_text(c, "4x") == 0,
          "upgrade, noop, message");
    CHECK(wait_count(&ev.nmsgs, 1, 3000) && ev.msgs[0].len == 1, "message after upgrade");
    close(c);
    CHECK(close_reason_of(conn, 3000) == FIO_WS_TRANSPORT_CLOSE, "reason transport close");
    fixture_down(&f);
    CHECK(ev.ncloses == 1, "one on_close: %zu", ev.ncloses);
}

static void test_bad_clients(void)
{
    fio_ws_config cfg = base_cfg();
    cfg.max_payload = 1000;
    fixture f;
    fixture_up(&f, cfg, 1000);
    int st;

    /* not a websocket upgrade */
    uint32_t c1;
    int s1 = adopt_client(&f, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 1, &c1, NULL);
    CHECK(close_reason_of(c1, 3000) == FIO_WS_HANDSHAKE_FAILED, "reason handshake failed");
    char head[4096];
    CHECK(read_head(s1, head, sizeof head) > 0 && strstr(head, " 400"), "400 answer");
    close(s1);

    /* garbage instead of an HTTP request */
    uint32_t c2;
    int s2 = adopt_client(&f, "\x16\x03\x01garbage\r\n\r\n", NULL, 1, &c2, NULL);
    CHECK(close_reason_of(c2, 3000) == FIO_WS_HANDSHAKE_FAILED, "garbage: handshake failed");
    close(s2);

    /* oversized message: a frame of max_payload + 1 bytes, type digit included */
    uint32_t c3;
    int s3 = adopt_client(&f, NULL, NULL, 1, &c3, NULL);
    CHECK(client_handshake(s3, 1, NULL, 0) == 0, "handshake");
    char *big = malloc(1002);
    memset(big, 'y', 1002);
    big[0] = '4';
    CHECK(ws_send(s3, 1, big, 1000) == 0, "send max_payload");   /* '4' + 999: fits */
    CHECK(wait_count(&ev.nmsgs, 1, 3000) && ev.msgs[0].len == 999, "max_payload accepted");
    CHECK(ws_send(s3, 1, big, 1001) == 0, "send max_payload + 1");
    CHECK(close_reason_of(c3, 3000) == FIO_WS_TRANSPORT_CLOSE, "oversized: transport close");
    CHECK(ws_closed(s3, &st) && st == 1009, "status 1009: %d", st);
    free(big);
    close(s3);

    /* text is bounded in characters: '4' + 999 two-byte characters fit, + 1000 do not */
    uint32_t c3u;
    int s3u = adopt_client(&f, NULL, NULL, 1, &c3u, NULL);
    CHECK(client_handshake(s3u, 1, NULL, 0) == 0, "handshake");
    char *wide = malloc(1 + 2 * 1001);
    wide[0] = '4';
    for (int i = 0; i < 1001; i++)
        memcpy(wide + 1 + 2 * i, "\xc3\xa9", 2);
    size_t before = ev.nmsgs;
    CHECK(ws_send(s3u, 1, wide, 1 + 2 * 999) == 0, "send 1000 characters");
    CHECK(wait_count(&ev.nmsgs, before + 1, 3000) && ev.msgs[before].len == 1998,
          "999 two-byte characters accepted");
    CHECK(ws_send(s3u, 1, wide, 1 + 2 * 1000) == 0, "send 1001 characters");
    CHECK(close_reason_of(c3u, 3000) == FIO_WS_TRANSPORT_CLOSE, "1001 characters: closed");
    CHECK(ws_closed(s3u, &st) && st == 1009, "status 1009: %d", st);
    free(wide);
    close(s3u);

    /* invalid Engine.IO packet type */
    uint32_t c4;
    int s4 = adopt_client(&f, NULL, NULL, 1, &c4, NULL);
    CHECK(client_handshake(s4, 1, NULL, 0) == 0, "handshake");
    CHECK(ws_send_text(s4, "9junk") == 0, "send junk");
    CHECK(close_reason_of(c4, 3000) == FIO_WS_TRANSPORT_ERROR, "junk: transport error");
    close(s4);

    /* websocket garbage: a reserved opcode (lws 4.1 accepts unmasked client
     * frames, so that is not tested), then invalid UTF-8 in a text frame */
    uint32_t c5;
    int s5 = adopt_client(&f, NULL, NULL, 1, &c5, NULL);
    CHECK(client_handshake(s5, 1, NULL, 0) == 0, "handshake");
    CHECK(ws_send(s5, 3, "4x", 2) == 0, "send reserved opcode");
    CHECK(ws_closed(s5, &st), "reserved opcode: client sees the close");
    CHECK(close_reason_of(c5, 3000) == FIO_WS_TRANSPORT_CLOSE, "reserved opcode: closed");
    close(s5);
    uint32_t c8;
    int s8 = adopt_client(&f, NULL, NULL, 1, &c8, NULL);
    CHECK(client_handshake(s8, 1, NULL, 0) == 0, "handshake");
    CHECK(ws_send(s8, 1, "4\xff\xfe", 3) == 0, "send bad utf-8");
    CHECK(ws_closed(s8, &st) && st == 1007, "bad utf-8: close %d", st);
    CHECK(close_reason_of(c8, 3000) == FIO_WS_TRANSPORT_CLOSE, "bad utf-8: closed");
    close(s8);
    /* a fragmented text message ending inside a character, its final
     * fragment empty (lws does not check that case; on_packet does) */
    uint32_t c9;
    int s9 = adopt_client(&f, NULL, NULL, 1, &c9, NULL);
    CHECK(client_handshake(s9, 1, NULL, 0) == 0, "handshake");
    unsigned char cut[] = {0x01, 0x84, 0, 0, 0, 0, '4', 'a', 'b', 0xc3,
                           0x80, 0x80, 0, 0, 0, 0};
    CHECK(send_all(s9, cut, sizeof cut) == 0, "send a cut character");
    CHECK(ws_closed(s9, &st) && st == 1007, "cut character: close %d", st);
    CHECK(close_reason_of(c9, 3000) == FIO_WS_TRANSPORT_CLOSE, "cut character: closed");
    close(s9);
    /* bad UTF-8 in the second fragment, the first one whole characters */
    uint32_t c10;
    int s10 = adopt_client(&f, NULL, NULL, 1, &c10, NULL);
    CHECK(client_handshake(s10, 1, NULL, 0) == 0, "handshake");
    unsigned char split[] = {0x01, 0x82, 0, 0, 0, 0, '4', 'a',
                             0x80, 0x82, 0, 0, 0, 0, 'b', 0xff};
    CHECK(send_all(s10, split, sizeof split) == 0, "send bad utf-8 in a fragment");
    CHECK(ws_closed(s10, &st) && st == 1007, "bad fragment: close %d", st);
    CHECK(close_reason_of(c10, 3000) == FIO_WS_TRANSPORT_CLOSE, "bad fragment: closed");
    close(s10);
    CHECK(ev.nmsgs == 2, "no message from the bad frames: %zu", ev.nmsgs);

    /* a PONG's payload is binary: after a text message, one that is not
     * UTF-8 is ignored like any other (lws 4.1.6's own UTF-8 check closed
     * the connection there and lost the messages after it) */
    uint32_t c11;
    int s11 = adopt_client(&f, NULL, NULL, 1, &c11, NULL);
    CHECK(client_handshake(s11, 1, NULL, 0) == 0, "handshake");
    before = ev.nmsgs;
    CHECK(ws_send_text(s11, "4before") == 0, "send text");
    CHECK(ws_send(s11, 10, "\x8a\xff", 2) == 0, "send a binary pong");
    CHECK(ws_send(s11, 9, "\xd0", 1) == 0, "send a binary ping");
    CHECK(ws_send_text(s11, "4after") == 0, "send text");
    CHECK(wait_count(&ev.nmsgs, before + 2, 3000) && ev.msgs[before + 1].len == 5 &&
              memcmp(ev.msgs[before + 1].data, "after", 5) == 0,
          "the message after a binary pong arrived");
    CHECK(ws_send_text(s11, "1") == 0, "send CLOSE");
    CHECK(close_reason_of(c11, 3000) == FIO_WS_CLIENT_DISCONNECT, "pong: closed by the client");
    close(s11);

    /* gone mid-frame: a header announcing 500 bytes, 10 sent, then RST-free close */
    uint32_t c6;
    int s6 = adopt_client(&f, NULL, NULL, 1, &c6, NULL);
    CHECK(client_handshake(s6, 1, NULL, 0) == 0, "handshake");
    unsigned char part[18] = {0x81, 0x80 | 126, 0x01, 0xf4, 0, 0, 0, 0, '4'};
    CHECK(send_all(s6, part, sizeof part) == 0, "send part");
    close(s6);
    CHECK(close_reason_of(c6, 3000) == FIO_WS_TRANSPORT_CLOSE, "mid-frame: transport close");

    /* gone during the handshake: request head only half there */
    uint32_t c7;
    int s7 = adopt_client(&f, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                              "Upgrade: websocket\r\n\r\n", NULL, 1, &c7, NULL);
    close(s7);
    CHECK(close_reason_of(c7, 3000) == FIO_WS_HANDSHAKE_FAILED, "half request: handshake failed");

    CHECK(fio_hub_conn_count(f.hub) == 0, "every hub connection closed: %zu",
          fio_hub_conn_count(f.hub));
    fixture_down(&f);
}

static void test_overflow_and_close(void)
{
    fixture f;
    fixture_up(&f, base_cfg(), 8);
    int st;

    /* a client that never reads: pushes until the 8-frame queue overflows.
     * One 64 KiB frame per millisecond is drained at once until the socket
     * buffers are full, so the overflow comes when lws can no longer write:
     * it is the wake, not a writable callback, that must close it. */
    uint32_t c1;
    small_buffers = 1;
    int s1 = adopt_client(&f, NULL, NULL, 1, &c1, NULL);
    small_buffers = 0;
    CHECK(client_handshake(s1, 1, NULL, 0) == 0, "handshake");
    char *blob = malloc(65536);
    memset(blob, 'z', 65536);
    blob[0] = '4';
    int overflowed = 0;
    for (int i = 0; i < 2000 && !overflowed; i++) {
        fio_frame *fr = fio_frame_new(blob, 65536, 0);
        int rc = fio_hub_push(f.hub, c1, &fr, 1);
        fio_frame_unref(fr);
        if (rc == 1 || rc == 2)
            fio_ws_wake(f.srv, c1);
        if (rc == 2)
            overflowed = 1;
        else if (rc < 0)
            break;
        usleep(1000);   /* drained at once until the socket is jammed */
    }
    free(blob);
    CHECK(overflowed, "queue overflowed");
    CHECK(close_reason_of(c1, 3000) == FIO_WS_TRANSPORT_ERROR, "non-reader: transport error");
    close(s1);

    /* fio_ws_close: queued frames first, then a 1000 close */
    uint32_t c2;
    int s2 = adopt_client(&f, NULL, NULL, 1, &c2, NULL);
    CHECK(client_handshake(s2, 1, NULL, 0) == 0, "handshake");
    const char *texts[3] = {"4one", "4two", "4three"};
    push_text(&f, c2, texts, 3);
    CHECK(fio_ws_close(f.srv, c2) == 0, "close");
    for (int i = 0; i < 3; i++) {
        char *p = ws_recv_text(s2);
        CHECK(p && strcmp(p, texts[i]) == 0, "frame before close: %s", p ? p : "(none)");
        free(p);
    }
    CHECK(ws_closed(s2, &st) && st == 1000, "close 1000: %d", st);
    CHECK(close_reason_of(c2, 3000) == FIO_WS_SERVER_DISCONNECT, "reason server disconnect");
    close(s2);
    fixture_down(&f);
}

static void test_shutdown_with_clients(void)
{
    fixture f;
    fixture_up(&f, base_cfg(), 1000);
    int s[4];
    uint32_t conn[4];
    for (int i = 0; i < 3; i++) {
        s[i] = adopt_client(&f, NULL, NULL, 1, &conn[i], NULL);
        CHECK(client_handshake(s[i], 1, NULL, 0) == 0, "handshake %d", i);
    }
    /* one still in its handshake, one adopted and never serviced are possible
     * too: a client whose request is incomplete */
    s[3] = adopt_client(&f, "GET /socket.io/ HTTP/1.1\r\n\r\n", NULL, 1, &conn[3], NULL);
    /* and one that stopped reading with 6 MB queued: never writable again,
     * so it can only go when the grace period is over */
    small_buffers = 1;
    uint32_t jc;
    int js = adopt_client(&f, NULL, NULL, 1, &jc, NULL);
    small_buffers = 0;
    CHECK(client_handshake(js, 1, NULL, 0) == 0, "handshake");
    char *blob = calloc(1, 65536);
    blob[0] = '4';
    fio_frame *fr = fio_frame_new(blob, 65536, 0);
    free(blob);
    for (int i = 0; i < 100; i++) {
        int rc = fio_hub_push(f.hub, jc, &fr, 1);
        if (rc == 1)
            fio_ws_wake(f.srv, jc);
    }
    fio_frame_unref(fr);
    wait_count(&ev.nopens, 4, 3000);
    /* jammed: frames still queued and nothing written for 100 ms */
    int jammed = 0;
    uint64_t last = (uint64_t)-1;
    for (int i = 0; i < 100 && !jammed; i++) {
        fio_ws_stats st;
        fio_ws_get_stats(f.srv, &st);
        jammed = st.bytes_out == last && fio_hub_queued(f.hub, jc) > 0;
        last = st.bytes_out;
        usleep(100000);
    }
    CHECK(jammed, "the non-reading client is jammed");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fio_ws_server_stop_and_free(f.srv);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* A liveness bound, not a speed one: the grace period is 300 ms; without
     * it lws's own timeouts end the jammed connection after about 50 s. */
    CHECK(t1.tv_sec - t0.tv_sec < 20, "stop returned after the grace period: %lld s",
          (long long)(t1.tv_sec - t0.tv_sec));
    for (int i = 0; i < 3; i++) {
        int st;
        CHECK(ws_closed(s[i], &st) && st == 1001, "client %d: close 1001: %d", i, st);
        CHECK(close_reason_of(conn[i], 0) == FIO_WS_SERVER_SHUTDOWN, "reason shutdown %d", i);
        close(s[i]);
    }
    close(s[3]);
    CHECK(close_reason_of(jc, 0) == FIO_WS_SERVER_SHUTDOWN, "jammed client: reason shutdown");
    close(js);
    CHECK(ev.ncloses == 5, "every connection reported closed: %zu", ev.ncloses);
    CHECK(fio_hub_conn_count(f.hub) == 0, "hub connections left: %zu",
          fio_hub_conn_count(f.hub));
    fio_hub_free(f.hub);
    close(f.lfd);
}


/* Many connections in one room, two threads broadcasting at once (the hub's
 * wake callback collects ids; fio_ws_wake is called after), and a request
 * head far larger than lws's 2048-byte readbuf note. */
#define MANY 200
#define PER_THREAD 50

typedef struct bcast_arg { fixture *f; int tag; } bcast_arg;
typedef struct woken { uint32_t ids[MANY]; size_t n; } woken;

static void collect(void *ctx, uint32_t conn, int status)
{
    woken *w = ctx;
    (void)status;
    if (w->n < MANY)
        w->ids[w->n++] = conn;
}

static void *broadcaster(void *arg)
{
    bcast_arg *a = arg;
    fio_str ns = {"/", 1}, room = {"r", 1};
    for (int i = 0; i < PER_THREAD; i++) {
        char text[32];
        int n = snprintf(text, sizeof text, "42[\"t%d\",%d]", a->tag, i);
        fio_frame *fr = fio_frame_new(text, (size_t)n, 0);
        woken w = {.n = 0};
        long got = fio_hub_broadcast(a->f->hub, ns, &room, 1, NULL, 0, &fr, 1, collect, &w);
        fio_frame_unref(fr);
        if (got != MANY)
            return (void *)1;
        for (size_t k = 0; k < w.n; k++)
            if (fio_ws_wake(a->f->srv, w.ids[k]) != 0)
                return (void *)1;
    }
    return NULL;
}

static void test_many_connections(void)
{
    fixture f;
    fixture_up(&f, base_cfg(), 1000);
    static int s[MANY];
    static uint32_t conn[MANY];
    /* a browser with big cookies: a 6000-byte head */
    char *bigreq = malloc(8192);
    size_t cookie = 6000;
    int hl = snprintf(bigreq, 8192, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                                    "Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\nCookie: c=");
    memset(bigreq + hl, 'k', cookie);
    memcpy(bigreq + hl + cookie, "\r\n\r\n", 5);
    int handshakes = 0;
    for (int i = 0; i < MANY; i++) {
        s[i] = adopt_client(&f, i == 0 ? bigreq : NULL, NULL, 1, &conn[i], NULL);
        handshakes += client_handshake(s[i], 1, NULL, 0) == 0;
        char sid[8];
        int n = snprintf(sid, sizeof sid, "s%d", i);
        fio_hub_connect(f.hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)n}, conn[i]);
        fio_hub_enter(f.hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)n}, (fio_str){"r", 1});
    }
    free(bigreq);
    CHECK(handshakes == MANY, "handshakes %d/%d (the first with a 6 KB head)", handshakes, MANY);
    pthread_t th[2];
    bcast_arg args[2] = {{&f, 0}, {&f, 1}};
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, broadcaster, &args[t]);
    int thread_ok = 1;
    for (int t = 0; t < 2; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        thread_ok &= rv == NULL;
    }
    CHECK(thread_ok, "broadcasts reached every member");
    int all_ok = 1;
    for (int i = 0; i < MANY && all_ok; i++) {
        int next[2] = {0, 0};
        for (int k = 0; k < 2 * PER_THREAD; k++) {
            char *p = ws_recv_text(s[i]);
            int tag, seq;
            if (!p || sscanf(p, "42[\"t%d\",%d]", &tag, &seq) != 2 || tag < 0 || tag > 1 ||
                seq != next[tag]) {
                fprintf(stderr, "client %d frame %d: %s\n", i, k, p ? p : "(none)");
                all_ok = 0;
                free(p);
                break;
            }
            next[tag]++;
            free(p);
        }
    }
    CHECK(all_ok, "every client got both threads' frames, each thread's in order");
    for (int i = 0; i < MANY; i++)
        close(s[i]);
    for (int i = 0; i < MANY; i++)
        CHECK(close_reason_of(conn[i], 3000) == FIO_WS_TRANSPORT_CLOSE, "closed %d", i);
    fixture_down(&f);
}


/* Adoptions queued before fio_ws_server_start are served once it starts; a
 * server never started frees its queued adoptions (on_close each). */
static void test_adopt_before_start(void)
{
    events_reset();
    fio_hub *hub = fio_hub_new(100);
    fio_ws_config cfg = base_cfg();
    cfg.on_open = on_open;
    cfg.on_close = on_close;
    cfg.ctx = &ev;
    fixture f = {hub, fio_ws_server_new(hub, &cfg), -1, 0};
    f.lfd = listener(&f.port);
    uint32_t conn;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    CHECK(fio_ws_server_start(f.srv) == 0, "start");
    CHECK(fio_ws_server_start(f.srv) < 0, "second start refused");
    CHECK(client_handshake(c, 1, NULL, 0) == 0, "handshake of an adoption made before start");
    close(c);
    CHECK(close_reason_of(conn, 3000) == FIO_WS_TRANSPORT_CLOSE, "closed");
    fixture_down(&f);

    events_reset();
    hub = fio_hub_new(100);
    fixture g = {hub, fio_ws_server_new(hub, &cfg), -1, 0};
    g.lfd = listener(&g.port);
    int c2 = adopt_client(&g, NULL, NULL, 1, &conn, NULL);
    fixture_down(&g);
    CHECK(close_reason_of(conn, 0) == FIO_WS_SERVER_SHUTDOWN, "never started: shutdown");
    int st;
    CHECK(ws_closed(c2, &st), "never started: socket closed");
    close(c2);
}


/* The inbox link: OPEN, MESSAGE and CLOSE items, and back-pressure: with a
 * bound of 4 messages, 12 sent at once arrive in batches of at most 4 (the
 * server stops reading at the bound and resumes when the loop takes them). */
static void take_all(fio_inbox *q, fio_inbox_batch *b)
{
    struct pollfd p = {fio_inbox_fd(q), POLLIN, 0};
    memset(b, 0, sizeof *b);
    if (poll(&p, 1, 3000) == 1)
        fio_inbox_take(q, b);
}

static void test_inbox_link(void)
{
    fio_ws_inbox_link link = {NULL, NULL};
    fio_inbox *q = fio_inbox_new(4, fio_ws_inbox_resume, &link);
    link.q = q;
    fio_ws_config cfg = base_cfg();
    fio_ws_inbox_config(&cfg, &link);
    fio_hub *hub = fio_hub_new(100);
    fixture f = {hub, fio_ws_server_new(hub, &cfg), -1, 0};
    link.srv = f.srv;
    CHECK(q && f.srv && fio_ws_server_start(f.srv) == 0, "setup");
    f.lfd = listener(&f.port);
    uint32_t conn;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    CHECK(client_handshake(c, 1, NULL, 0) == 0, "handshake");
    fio_inbox_batch b;
    take_all(q, &b);
    CHECK(b.nitems == 1 && b.items[0].kind == FIO_WS_ITEM_OPEN && b.items[0].token == conn,
          "OPEN item");
    fio_inbox_batch_free(&b);

    /* 12 messages in one write */
    char wire[1024];
    size_t wl = 0;
    for (int i = 0; i < 12; i++) {
        char m[8];
        int n = snprintf(m, sizeof m, "4m%d", i);
        wire[wl++] = (char)0x81;
        wire[wl++] = (char)(0x80 | n);
        memset(wire + wl, 0, 4);   /* zero mask */
        wl += 4;
        memcpy(wire + wl, m, (size_t)n);
        wl += (size_t)n;
    }
    CHECK(send_all(c, wire, wl) == 0, "send 12");
    int next = 0, batches = 0, max_batch = 0, in_order = 1;
    while (next < 12 && batches < 50) {
        take_all(q, &b);
        batches++;
        if (b.nitems == 0)
            break;
        max_batch = (int)b.nitems > max_batch ? (int)b.nitems : max_batch;
        for (size_t i = 0; i < b.nitems; i++) {
            fio_ws_inmsg *m = b.items[i].payload;
            char want[16];
            snprintf(want, sizeof want, "m%d", next);
            if (b.items[i].kind != FIO_WS_ITEM_MESSAGE || b.items[i].token != conn ||
                !b.items[i].bounded || m->binary || strcmp(m->data, want) != 0)
                in_order = 0;
            next++;
        }
        fio_inbox_batch_free(&b);
    }
    CHECK(next == 12 && in_order, "12 messages in order (%d)", next);
    CHECK(max_batch <= 4, "at most 4 messages per batch: %d", max_batch);
    CHECK(batches >= 3, "paused and resumed: %d batches", batches);

    CHECK(ws_send_text(c, "1") == 0, "client close");
    take_all(q, &b);
    CHECK(b.nitems == 1 && b.items[0].kind == FIO_WS_ITEM_CLOSE &&
              (uint32_t)b.items[0].token == conn &&
              (b.items[0].token >> 32) == FIO_WS_CLIENT_DISCONNECT,
          "CLOSE item with its reason");
    fio_inbox_batch_free(&b);
    close(c);
    fixture_down(&f);
    fio_inbox_free(q);
}


/* Frame headers at the length boundaries of RFC 6455 5.2, and a 300-byte
 * frame (16-bit length) through the server. */
static void test_frame_headers(void)
{
    unsigned char h[FIO_WS_MAX_HEADER];
    CHECK(fio_ws_frame_header(h, 0, 125) == 2 && h[0] == 0x81 && h[1] == 125, "125");
    CHECK(fio_ws_frame_header(h, 1, 126) == 4 && h[0] == 0x82 && h[1] == 126 && h[2] == 0 &&
              h[3] == 126, "126");
    CHECK(fio_ws_frame_header(h, 0, 65535) == 4 && h[1] == 126 && h[2] == 0xff && h[3] == 0xff,
          "65535");
    CHECK(fio_ws_frame_header(h, 0, 65536) == 10 && h[1] == 127 && h[2] == 0 && h[7] == 1 &&
              h[8] == 0 && h[9] == 0, "65536");

    fixture f;
    fixture_up(&f, base_cfg(), 100);
    uint32_t conn;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    CHECK(client_handshake(c, 1, NULL, 0) == 0, "handshake");
    char text[301];
    text[0] = '4';
    for (int i = 1; i < 300; i++)
        text[i] = (char)('a' + i % 26);
    text[300] = '\0';
    const char *t = text;
    push_text(&f, conn, &t, 1);
    char *p = ws_recv_text(c);
    CHECK(p && strcmp(p, text) == 0, "300-byte frame");
    free(p);
    close(c);
    CHECK(close_reason_of(conn, 3000) == FIO_WS_TRANSPORT_CLOSE, "closed");
    fixture_down(&f);
}

/* ------------------------------------------------------------ measurement */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Frames/s for n small frames queued at once to one connection; the client
 * reads in large chunks and counts frame headers. */
static void bench(int frame_per_write, long n)
{
    fio_ws_config cfg = base_cfg();
    cfg.frame_per_write = frame_per_write;
    fixture f;
    fixture_up(&f, cfg, (size_t)n + 1);
    uint32_t conn;
    int c = adopt_client(&f, NULL, NULL, 1, &conn, NULL);
    CHECK(client_handshake(c, 1, NULL, 0) == 0, "handshake");
    wait_count(&ev.nopens, 1, 3000);
    static const char msg[] = "42[\"delta\",{\"content\":\"hello\"}]";   /* 31 bytes */
    fio_frame *fr = fio_frame_new(msg, sizeof msg - 1, 0);
    fio_frame **all = malloc((size_t)n * sizeof *all);
    for (long i = 0; i < n; i++)
        all[i] = fr;
    fio_ws_stats before, after;
    fio_ws_get_stats(f.srv, &before);
    double t0 = now_s();
    if (fio_hub_push(f.hub, conn, all, (size_t)n) == 1)
        fio_ws_wake(f.srv, conn);
    size_t want = (size_t)n * (2 + sizeof msg - 1), got = 0;
    char buf[65536];
    while (got < want) {
        ssize_t r = recv(c, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    double dt = now_s() - t0;
    fio_ws_get_stats(f.srv, &after);
    printf("bench %s: %ld frames in %.3f s = %.0f frames/s, %llu writes\n",
           frame_per_write ? "one frame per write" : "batched", n, dt, (double)n / dt,
           (unsigned long long)(after.writes - before.writes));
    CHECK(got == want, "bench bytes %zu/%zu", got, want);
    free(all);
    fio_frame_unref(fr);
    close(c);
    fixture_down(&f);
}


static long rss_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb;
}

static double thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Server memory per idle connection (process RSS growth over n adopted
 * connections: the test's client sockets cost no user memory) and the CPU
 * the process burns while they idle for TRANSPORT_IDLE_S seconds (2). The
 * clients do not answer pings: past ping interval + timeout (45 s) they go. */
static void bench_idle(int n)
{
    fixture f;
    fixture_up(&f, base_cfg(), 1000);
    int *s = malloc((size_t)n * sizeof *s);
    uint32_t *conn = malloc((size_t)n * sizeof *conn);
    /* warm up the allocator and lws's tables with one connection */
    uint32_t wc;
    int w = adopt_client(&f, NULL, NULL, 1, &wc, NULL);
    client_handshake(w, 1, NULL, 0);
    long before = rss_kb();
    int ok = 0;
    for (int i = 0; i < n; i++) {
        s[i] = adopt_client(&f, NULL, NULL, 1, &conn[i], NULL);
        ok += client_handshake(s[i], 1, NULL, 0) == 0;
    }
    long after = rss_kb();
    double c0 = cpu_s(), t0 = now_s();
    const char *secs = getenv("TRANSPORT_IDLE_S");
    int idle_s = secs && atoi(secs) > 0 ? atoi(secs) : 2;
    for (int i = 0; i < idle_s; i++)
        usleep(1000000);
    double cpu = cpu_s() - c0, wall = now_s() - t0;
    CHECK(ev.ncloses == 0, "idle connections all still open: %zu closed", ev.ncloses);
    printf("idle %d connections (%d open): %.0f bytes RSS per connection, %.2f%% CPU idle\n",
           n, ok, (double)(after - before) * 1024.0 / n, 100.0 * cpu / wall);
    for (int i = 0; i < n; i++)
        close(s[i]);
    close(w);
    free(s);
    free(conn);
    fixture_down(&f);
}

static const char bc_msg[] = "42[\"delta\",{\"content\":\"hello\"}]";   /* 31 bytes */

typedef struct bc_arg { fixture *f; long frames; uint32_t *ids; size_t nconn; } bc_arg;
typedef struct bc_woken { uint32_t *ids; size_t n, cap; } bc_woken;

static void bc_collect(void *ctx, uint32_t conn, int status)
{
    bc_woken *w = ctx;
    (void)status;
    if (w->n < w->cap)
        w->ids[w->n++] = conn;
}

static void *bc_thread(void *arg)
{
    bc_arg *a = arg;
    fio_str ns = {"/", 1}, room = {"r", 1};
    bc_woken w = {malloc(a->nconn * sizeof(uint32_t)), 0, a->nconn};
    for (long i = 0; i < a->frames; i++) {
        fio_frame *fr = fio_frame_new(bc_msg, sizeof bc_msg - 1, 0);
        w.n = 0;
        fio_hub_broadcast(a->f->hub, ns, &room, 1, NULL, 0, &fr, 1, bc_collect, &w);
        fio_frame_unref(fr);
        for (size_t k = 0; k < w.n; k++)
            fio_ws_wake(a->f->srv, w.ids[k]);
    }
    free(w.ids);
    return NULL;
}

/* Deliveries/s of `frames` broadcasts, one frame each, to n connections in
 * one room: a thread broadcasts through the hub as fast as it can and wakes
 * the service thread (frames pile up and leave in large batches), or, with
 * lockstep, the test thread sends the next broadcast only once the previous
 * one reached every client (one frame per write: the worst case). The test
 * thread reads every socket with epoll; client reading shares the machine,
 * so these are floors for the server side. */
static void bench_broadcast(int n, long frames, int lockstep)
{
    fixture f;
    fixture_up(&f, base_cfg(), (size_t)frames + 16);
    int *s = malloc((size_t)n * sizeof *s);
    uint32_t *conn = malloc((size_t)n * sizeof *conn);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < n; i++) {
        s[i] = adopt_client(&f, NULL, NULL, 1, &conn[i], NULL);
        client_handshake(s[i], 1, NULL, 0);
        char sid[16];
        int k = snprintf(sid, sizeof sid, "s%d", i);
        fio_hub_connect(f.hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)k}, conn[i]);
        fio_hub_enter(f.hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)k}, (fio_str){"r", 1});
        struct epoll_event e = {.events = EPOLLIN, .data.fd = s[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, s[i], &e);
    }
    fio_ws_stats before, after;
    fio_ws_get_stats(f.srv, &before);
    bc_arg a = {&f, frames, conn, (size_t)n};
    double t0 = now_s(), c0 = cpu_s(), tc0 = thread_cpu_s();
    pthread_t th;
    if (!lockstep)
        pthread_create(&th, NULL, bc_thread, &a);
    size_t per = (size_t)n * (2 + sizeof bc_msg - 1);
    size_t want = per * (size_t)frames, got = 0;
    static char buf[1 << 16];
    struct epoll_event evs[256];
    for (long step = 0; step < (lockstep ? frames : 1); step++) {
        size_t until = lockstep ? per * (size_t)(step + 1) : want;
        if (lockstep) {
            a.frames = 1;
            bc_thread(&a);
        }
        while (got < until) {
            int k = epoll_wait(ep, evs, 256, 5000);
            if (k <= 0)
                break;
            for (int i = 0; i < k; i++) {
                ssize_t r = recv(evs[i].data.fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r > 0)
                    got += (size_t)r;
            }
        }
    }
    double dt = now_s() - t0, cpu = cpu_s() - c0, tcpu = thread_cpu_s() - tc0;
    if (!lockstep)
        pthread_join(th, NULL);
    fio_ws_get_stats(f.srv, &after);
    printf("broadcast%s: %ld frames to %d connections: %.0f deliveries/s, %.2f frames per write, "
           "process CPU %.2f us per delivery (clients included), other threads than the "
           "reading one %.2f us\n",
           lockstep ? " (lockstep)" : "", frames, n, (double)n * (double)frames / dt,
           (double)(after.frames_out - before.frames_out) /
               (double)(after.writes - before.writes ? after.writes - before.writes : 1),
           cpu * 1e6 / ((double)n * (double)frames),
           (cpu - tcpu) * 1e6 / ((double)n * (double)frames));
    CHECK(got == want, "broadcast bytes %zu/%zu", got, want);
    if (got != want && getenv("TRANSPORT_VERBOSE")) {
        size_t stuck = 0, qtot = 0;
        for (int i = 0; i < n; i++) {
            long q = fio_hub_queued(f.hub, conn[i]);
            if (q > 0) { stuck++; qtot += (size_t)q; }
        }
        fprintf(stderr, "%zu connections with frames still queued (%zu frames)\n", stuck, qtot);
    }
    for (int i = 0; i < n; i++)
        close(s[i]);
    close(ep);
    free(s);
    free(conn);
    fixture_down(&f);
}

/* fio_ws_adopt_conn: a session opened (and given frames) before its socket is
 * handed over; those frames come first, no OPEN of the server's own. The hub
 * connection stays open and the caller's, after the end as after a refusal. */
static void test_adopt_existing_conn(void)
{
    events_reset();
    fixture f;
    fio_ws_config cfg = base_cfg();
    cfg.on_open = on_open;
    cfg.on_close = on_close;
    cfg.ctx = &ev;
    fixture_up(&f, cfg, 100);
    uint32_t conn;
    CHECK(fio_hub_conn_open(f.hub, (fio_str){"given-sid", 9}, &conn) == FIO_OK, "open");
    const char *early[] = {"0{\"sid\":\"given-sid\"}", "40"};
    push_text(&f, conn, early, 2);
    int c = connect_to(f.port);
    CHECK(send_all(c, upgrade_req, strlen(upgrade_req)) == 0, "send request");
    int s = accept4(f.lfd, NULL, NULL, SOCK_CLOEXEC);
    static char head[16384];
    int hl = read_head(s, head, sizeof head);
    CHECK(fio_ws_adopt_conn(f.srv, s, head, (size_t)hl, "given-sid", 9, conn, 0) == FIO_OK,
          "adopt_conn");
    CHECK(client_handshake(c, 0, NULL, 0) == 0, "handshake");
    char *m1 = ws_recv_text(c), *m2 = ws_recv_text(c);
    CHECK(m1 && strcmp(m1, "0{\"sid\":\"given-sid\"}") == 0, "queued OPEN first: %s",
          m1 ? m1 : "(none)");
    CHECK(m2 && strcmp(m2, "40") == 0, "then the queued packet: %s", m2 ? m2 : "(none)");
    free(m1);
    free(m2);
    const char *later[] = {"42[\"x\"]"};
    push_text(&f, conn, later, 1);
    char *m3 = ws_recv_text(c);
    CHECK(m3 && strcmp(m3, "42[\"x\"]") == 0, "pushed after adoption");
    free(m3);
    CHECK(fio_ws_close(f.srv, conn) == 0, "close");
    CHECK(close_reason_of(conn, 3000) == FIO_WS_SERVER_DISCONNECT, "closed by the server");
    CHECK(fio_hub_queued(f.hub, conn) == 0, "ended: the hub connection is still the caller's");
    CHECK(fio_hub_conn_close(f.hub, conn) == FIO_OK, "which closes it");
    close(c);

    uint32_t other;
    CHECK(fio_hub_conn_open(f.hub, (fio_str){"other", 5}, &other) == FIO_OK, "open other");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK(fio_ws_adopt_conn(f.srv, p[0], NULL, 0, NULL, 0, other, 0) == FIO_EINVAL,
          "no sid refused");
    CHECK(fio_hub_queued(f.hub, other) == 0, "refused: the connection is still open");
    CHECK(fio_hub_conn_close(f.hub, other) == FIO_OK, "and the caller's to close");
    close(p[1]);
    fixture_down(&f);
}

/* fio_ws_adopt_conn with upgrade=1: the polling side keeps the queue until the
 * client's UPGRADE ("2probe" answered first, each step reported); a packet
 * out of that order, or a close, ends the attempt and leaves the queue. */
static atomic_int probed_n, upgraded_n;

static int wait_count_atomic(atomic_int *count, int n, int ms)
{
    for (int waited = 0; atomic_load(count) < n && waited < ms; waited += 5)
        usleep(5000);
    return atomic_load(count) >= n;
}

static void on_upgrade_step(void *ctx, uint32_t conn, int stage)
{
    (void)ctx;
    (void)conn;
    atomic_fetch_add(stage == FIO_WS_UPGRADED ? &upgraded_n : &probed_n, 1);
}

static int adopt_upgrading(fixture *f, const char *sid, uint32_t *conn)
{
    CHECK(fio_hub_conn_open(f->hub, (fio_str){sid, strlen(sid)}, conn) == FIO_OK, "open");
    const char *polling_frame[] = {"4for the poll"};
    fio_frame *fr = fio_frame_new(polling_frame[0], strlen(polling_frame[0]), 0);
    CHECK(fio_hub_push(f->hub, *conn, &fr, 1) == 1, "queued for polling");
    fio_frame_unref(fr);
    int c = connect_to(f->port);
    CHECK(send_all(c, upgrade_req, strlen(upgrade_req)) == 0, "send request");
    int s = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    static char head[16384];
    int hl = read_head(s, head, sizeof head);
    CHECK(fio_ws_adopt_conn(f->srv, s, head, (size_t)hl, sid, strlen(sid), *conn, 1) == FIO_OK,
          "adopt for an upgrade");
    CHECK(client_handshake(c, 0, NULL, 0) == 0, "handshake");
    CHECK(fio_ws_wake(f->srv, *conn) == 0, "a wake while upgrading");
    usleep(100 * 1000);
    CHECK(fio_hub_queued(f->hub, *conn) == 1, "the queue stays the polling side's");
    return c;
}

static void test_adopt_upgrade(void)
{
    fixture f;
    fio_ws_config cfg = base_cfg();
    cfg.ping_interval_ms = 150;   /* no ping may come before UPGRADE */
    cfg.on_upgrade = on_upgrade_step;
    fixture_up(&f, cfg, 100);
    atomic_store(&probed_n, 0);
    atomic_store(&upgraded_n, 0);

    uint32_t conn;
    int c = adopt_upgrading(&f, "up-sid", &conn);
    CHECK(ws_send_text(c, "2probe") == 0, "probe");
    char *m = ws_recv_text(c);
    CHECK(m && strcmp(m, "3probe") == 0, "3probe: %s", m ? m : "(none)");
    free(m);
    CHECK(wait_count_atomic(&probed_n, 1, 3000), "PROBED reported");
    usleep(250 * 1000);
    CHECK(fio_hub_queued(f.hub, conn) == 1 && atomic_load(&upgraded_n) == 0,
          "probed, not upgraded: still the polling side's");
    CHECK(ws_send_text(c, "5") == 0, "upgrade");
    CHECK(wait_count_atomic(&upgraded_n, 1, 3000), "UPGRADED reported");
    m = ws_recv_text(c);
    CHECK(m && strcmp(m, "4for the poll") == 0, "then the queue is drained here: %s",
          m ? m : "(none)");
    free(m);
    m = ws_recv_text(c);
    CHECK(m && strcmp(m, "2") == 0, "and pings start: %s", m ? m : "(none)");
    free(m);
    CHECK(fio_ws_close(f.srv, conn) == 0, "close");
    CHECK(close_reason_of(conn, 3000) == FIO_WS_SERVER_DISCONNECT, "closed");
    CHECK(fio_hub_conn_close(f.hub, conn) == FIO_OK, "the caller closes the hub connection");
    close(c);

    /* a message before the probe ends the attempt; the queue is left alone */
    uint32_t conn2;
    int c2 = adopt_upgrading(&f, "up-sid-2", &conn2);
    CHECK(ws_send_text(c2, "4too early") == 0, "message before the probe");
    CHECK(close_reason_of(conn2, 3000) == FIO_WS_TRANSPORT_ERROR, "failed upgrade");
    CHECK(fio_hub_queued(f.hub, conn2) == 1, "failed: the queue is untouched");
    CHECK(fio_hub_conn_close(f.hub, conn2) == FIO_OK, "still the caller's");
    close(c2);

    /* a close while upgrading needs no drain */
    uint32_t conn3;
    int c3 = adopt_upgrading(&f, "up-sid-3", &conn3);
    CHECK(fio_ws_close(f.srv, conn3) == 0, "close while upgrading");
    CHECK(close_reason_of(conn3, 3000) == FIO_WS_SERVER_DISCONNECT, "closed at once");
    int st;
    CHECK(ws_closed(c3, &st) && st == 1000, "status 1000: %d", st);
    CHECK(fio_hub_queued(f.hub, conn3) == 1, "closed: the queue is untouched");
    CHECK(fio_hub_conn_close(f.hub, conn3) == FIO_OK, "still the caller's");
    close(c3);
    fixture_down(&f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *loop = getenv("TRANSPORT_LOOP");
    if (loop && fio_ws_loop_parse(loop, &test_loop) < 0) {
        fprintf(stderr, "TRANSPORT_LOOP=%s: not poll, uv, ev or default\n", loop);
        return 2;
    }
    printf("test_transport: event loop %s\n", fio_ws_loop_name(test_loop));
    alarm(120);
    test_open_and_messages();
    test_frame_per_write();
    test_ping();
    test_upgrade_probe();
    test_bad_clients();
    test_overflow_and_close();
    test_shutdown_with_clients();
    test_many_connections();
    test_adopt_before_start();
    test_adopt_existing_conn();
    test_adopt_upgrade();
    test_inbox_link();
    test_frame_headers();
    const char *b = getenv("TRANSPORT_BENCH");
    if (b && atol(b) > 0) {
        bench(0, atol(b));
        bench(1, atol(b));
    }
    const char *bc = getenv("TRANSPORT_BCAST");
    if (bc && atoi(bc) > 0)
        bench_broadcast(atoi(bc),
                        getenv("TRANSPORT_BCAST_FRAMES") ? atol(getenv("TRANSPORT_BCAST_FRAMES")) : 200,
                        getenv("TRANSPORT_BCAST_LOCKSTEP") != NULL);
    const char *idle_n = getenv("TRANSPORT_IDLE");
    if (idle_n && atoi(idle_n) > 0)
        bench_idle(atoi(idle_n));
    events_reset();
    return check_summary();
}
