/* permessage-deflate on the native transport: csrc/transport/deflate.c alone
 * (compression against zlib's inflate, the frame cache and its thread rule,
 * the negotiation text), then through the libwebsockets service thread over
 * real loopback sockets with a client written here (zlib on the client side,
 * nothing of lws):
 *
 * - a client offering permessage-deflate gets it, answered with both
 *   no_context_takeover parameters; frames of at least the threshold arrive
 *   compressed (RSV1) and inflate, each with a fresh inflater, to the exact
 *   payload; smaller ones, incompressible ones and control frames arrive
 *   plain; a client that did not offer it gets plain frames from the same
 *   server; an offer limiting server_max_window_bits is refused;
 * - a broadcast to N connections compresses each frame once (counted), or N
 *   times with compress_per_connection;
 * - compressed client frames (one frame, fragmented, binary, large, mixed
 *   with plain ones) reach on_message exactly; an inflated message past
 *   max_payload closes with 1009;
 * - threshold 0: the extension is never answered and a compressed client
 *   frame is a protocol error;
 * - frame_per_write: one frame per write, compressed as in batches.
 *
 * DEFLATE_BCAST=N (at most 1024; DEFLATE_BCAST_FRAMES=M, 400) also prints
 * broadcast deliveries/s and CPU per delivery to N connections for a 60-byte
 * and a 2 KB frame, deflate off / threshold 1024 / threshold 1, each
 * compressed once per broadcast or per connection;
 * figures only, build without sanitizers for meaningful ones
 * (docs/native-deflate.md). Runs under ASan/UBSan from run.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "deflate.h"
#include "inflate.h"
#include "frame.h"
#include "hub.h"
#include "lws_server.h"
#include "wsframe.h"

#include "check.h"
#include "sock_util.h"

/* ------------------------------------------------------------ zlib, client side */

/* Inflates one permessage-deflate payload with a fresh inflater (what a
 * client may do once the server answered server_no_context_takeover).
 * *out malloc'd. 0, or -1 if it is not a valid stream. */
static int inflate_msg(const void *in, size_t len, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -15) != Z_OK)
        return -1;
    unsigned char *src = malloc(len + 4);
    size_t cap = len * 4 + 1024, n = 0;
    char *dst = malloc(cap);
    int rc = -1;
    if (!src || !dst)
        goto out;
    memcpy(src, in, len);
    memcpy(src + len, "\0\0\xff\xff", 4);
    zs.next_in = src;
    zs.avail_in = (uInt)(len + 4);
    for (;;) {
        if (n == cap) {
            char *d2 = realloc(dst, cap * 2);
            if (!d2)
                goto out;
            dst = d2;
            cap *= 2;
        }
        zs.next_out = (Bytef *)dst + n;
        zs.avail_out = (uInt)(cap - n);
        int z = inflate(&zs, Z_SYNC_FLUSH);
        n = cap - zs.avail_out;
        if (z != Z_OK && z != Z_BUF_ERROR)
            goto out;
        if (zs.avail_in == 0 && zs.avail_out > 0)
            break;
    }
    *out = dst;
    *outlen = n;
    dst = NULL;
    rc = 0;
out:
    inflateEnd(&zs);
    free(src);
    free(dst);
    return rc;
}

/* A client's compression of one message (fresh stream, tail removed), made
 * with zlib directly. *out malloc'd. */
static void client_deflate(const void *in, size_t len, unsigned char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *o = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = o;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_SYNC_FLUSH);
    *outlen = cap - zs.avail_out - 4;
    *out = o;
    deflateEnd(&zs);
}

/* Deterministic chat-like text: words from a small list. */
static void chat_text(char *out, size_t n, unsigned seed)
{
    static const char *words[] = {"the", "model", "answer", "streams", "token", "delta",
                                  "content", "message", "and", "a", "chat", "of", "reply",
                                  "quick", "brown", "fox", "json", "socket", "server", "to"};
    size_t k = 0;
    while (k < n) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % 20];
        for (size_t i = 0; w[i] && k < n; i++)
            out[k++] = w[i];
        if (k < n)
            out[k++] = ' ';
    }
}

/* "42[\"chat\",{...}]"-shaped JSON text of exactly n bytes (n >= 40). */
static char *json_frame(size_t n, unsigned seed)
{
    char *p = malloc(n + 1);
    static const char head[] = "42[\"chat:message:delta\",{\"content\":\"";
    size_t hl = sizeof head - 1;
    memcpy(p, head, hl);
    chat_text(p + hl, n - hl - 3, seed);
    memcpy(p + n - 3, "\"}]", 3);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------ deflate.c alone */

static void test_roundtrip(void)
{
    fio_deflater *d = fio_deflater_new(FIO_DEFLATE_LEVEL);
    CHECK(d != NULL, "deflater");
    CHECK(fio_deflater_new(0) == NULL && fio_deflater_new(10) == NULL, "bad levels refused");
    size_t sizes[] = {0, 1, 60, 1024, 2048, 70000, 1 << 20};
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int random = 0; random < 2; random++) {
            size_t n = sizes[i];
            char *in = malloc(n + 1);
            if (random) {
                for (size_t k = 0; k < n; k++) {
                    seed = seed * 1103515245u + 12345u;
                    in[k] = (char)(seed >> 16);
                }
            } else {
                chat_text(in, n, (unsigned)i);
            }
            fio_buf out;
            fio_buf_init(&out);
            fio_buf_append(&out, "pre", 3);   /* appends after what is there */
            int rc = fio_deflate_message(d, in, n, &out);
            char *back = NULL;
            size_t bl = 0;
            int ok = rc == 0 && memcmp(out.data, "pre", 3) == 0 &&
                     inflate_msg(out.data + 3, out.len - 3, &back, &bl) == 0 &&
                     bl == n && (n == 0 || memcmp(back, in, n) == 0);
            CHECK(ok, "roundtrip of %zu %s bytes (compressed %zu)", n, random ? "random" : "text",
                  out.len - 3);
            if (!random && n >= 1024)
                CHECK(out.len - 3 < n / 2, "text compresses: %zu -> %zu", n, out.len - 3);
            free(back);
            free(in);
            fio_buf_free(&out);
        }
    }
    /* Independent messages: the second inflates alone, and also after the
     * first in one inflater that keeps its window (a client that ignores
     * server_no_context_takeover). */
    char a[3000], b[3000];
    chat_text(a, sizeof a, 1);
    memcpy(b, a, sizeof b);   /* same text: context takeover would refer back */
    fio_buf ca, cb;
    fio_buf_init(&ca);
    fio_buf_init(&cb);
    fio_deflate_message(d, a, sizeof a, &ca);
    fio_deflate_message(d, b, sizeof b, &cb);
    CHECK(ca.len == cb.len && memcmp(ca.data, cb.data, ca.len) == 0,
          "same message, same bytes: no context kept");
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    inflateInit2(&zs, -15);
    static unsigned char both[8000], outb[8000];
    size_t k = 0;
    memcpy(both + k, ca.data, ca.len), k += ca.len;
    memcpy(both + k, "\0\0\xff\xff", 4), k += 4;
    memcpy(both + k, cb.data, cb.len), k += cb.len;
    memcpy(both + k, "\0\0\xff\xff", 4), k += 4;
    zs.next_in = both;
    zs.avail_in = (uInt)k;
    zs.next_out = outb;
    zs.avail_out = sizeof outb;
    int z = inflate(&zs, Z_SYNC_FLUSH);
    CHECK(z == Z_OK && sizeof outb - zs.avail_out == 6000 && memcmp(outb, a, 3000) == 0 &&
              memcmp(outb + 3000, b, 3000) == 0,
          "two messages through one inflater that keeps context");
    inflateEnd(&zs);
    CHECK(fio_deflater_count(d) == 2 * 7 + 2, "count %llu",
          (unsigned long long)fio_deflater_count(d));
    fio_buf_free(&ca);
    fio_buf_free(&cb);
    fio_deflater_free(d);
    fio_deflater_free(NULL);
}

/* Parses one server frame from p: header fields and payload span. */
static int parse_frame(const unsigned char *p, size_t n, int *rsv1, int *op, size_t *plen,
                       size_t *hlen)
{
    if (n < 2)
        return -1;
    *rsv1 = (p[0] & 0x40) != 0;
    *op = p[0] & 0x0f;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        h = 10;
    }
    if (!(p[0] & 0x80) || h + len > n)
        return -1;
    *plen = (size_t)len;
    *hlen = h;
    return 0;
}

static void test_frame_append(void)
{
    fio_deflater *d = fio_deflater_new(FIO_DEFLATE_LEVEL);
    char *big = json_frame(2048, 3);
    char noise[2048];
    unsigned seed = 99;
    for (size_t i = 0; i < sizeof noise; i++) {
        seed = seed * 1103515245u + 12345u;
        noise[i] = (char)(seed >> 16);
    }
    fio_frame *small = fio_frame_new(big, 60, 0);
    fio_frame *text = fio_frame_new(big, 2048, 0);
    fio_frame *bin = fio_frame_new(big, 2048, 1);
    fio_frame *rnd = fio_frame_new(noise, sizeof noise, 1);
    fio_frame *at = fio_frame_new(big, 1024, 0), *below = fio_frame_new(big, 1023, 0);
    struct { fio_frame *f; int rsv1, op; } want[] = {
        {small, 0, 1}, {text, 1, 1}, {bin, 1, 2}, {rnd, 0, 2}, {at, 1, 1}, {below, 0, 1}};
    fio_buf out;
    fio_buf_init(&out);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            out.len = 0;
            fio_frame *f = want[i].f;
            CHECK(fio_deflate_frame_append(d, &out, f, 1024, 1) == 0, "append");
            int rsv1, op;
            size_t pl, hl;
            char *back = NULL;
            size_t bl = 0;
            int ok = parse_frame((unsigned char *)out.data, out.len, &rsv1, &op, &pl, &hl) == 0 &&
                     hl + pl == out.len && rsv1 == want[i].rsv1 && op == want[i].op;
            if (ok && rsv1)
                ok = inflate_msg(out.data + hl, pl, &back, &bl) == 0 && bl == f->len &&
                     memcmp(back, f->data, bl) == 0;
            else if (ok)
                ok = pl == f->len && memcmp(out.data + hl, f->data, pl) == 0;
            CHECK(ok, "frame %zu (%zu bytes) round %d: rsv1 %d op %d", i, f->len, round,
                  want[i].rsv1, want[i].op);
            free(back);
        }
    }
    /* round 2 came from the cache: text, bin, rnd (tried), at = 4 compressions */
    CHECK(fio_deflater_count(d) == 4, "compressions with the cache: %llu",
          (unsigned long long)fio_deflater_count(d));
    const fio_frame_z *z = fio_frame_z_get(rnd);
    CHECK(z && z->plain && z->len == 0, "incompressible frame cached as plain");
    CHECK(fio_frame_z_get(small) == NULL, "a frame below the threshold is not compressed");
    out.len = 0;
    fio_deflate_frame_append(d, &out, text, 1024, 0);
    fio_deflate_frame_append(d, &out, text, 1024, 0);
    CHECK(fio_deflater_count(d) == 6, "cache 0: compressed at each call");
    CHECK(fio_deflate_frame_append(d, &out, text, 0, 1) == 0, "threshold 0: every frame");
    fio_frame *empty = fio_frame_new("", 0, 0);
    out.len = 0;
    CHECK(fio_deflate_frame_append(d, &out, empty, 0, 1) == 0 && out.len == 2 &&
              (unsigned char)out.data[0] == 0x81,
          "empty frame: plain");
    fio_frame_unref(empty);
    fio_frame *all[] = {small, text, bin, rnd, at, below};
    for (size_t i = 0; i < 6; i++)
        fio_frame_unref(all[i]);   /* ASan: the cached forms go with them */
    fio_buf_free(&out);
    free(big);
    fio_deflater_free(d);
}

/* The cache's rule: threads compressing the same frame at once all write the
 * same bytes, and exactly one form stays on the frame. */
typedef struct race_arg { fio_frame *f; fio_buf out; pthread_barrier_t *bar; } race_arg;

static void *race_thread(void *p)
{
    race_arg *a = p;
    fio_deflater *d = fio_deflater_new(FIO_DEFLATE_LEVEL);
    pthread_barrier_wait(a->bar);
    int rc = fio_deflate_frame_append(d, &a->out, a->f, 100, 1);
    fio_deflater_free(d);
    return rc == 0 ? NULL : (void *)1;
}

static void test_cache_race(void)
{
    enum { T = 4, ROUNDS = 50 };
    int same = 1, ok = 1;
    for (int r = 0; r < ROUNDS; r++) {
        char *j = json_frame(4096, (unsigned)r);
        fio_frame *f = fio_frame_new(j, 4096, 0);
        free(j);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, T);
        race_arg a[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            a[i].f = f;
            a[i].bar = &bar;
            fio_buf_init(&a[i].out);
            pthread_create(&th[i], NULL, race_thread, &a[i]);
        }
        for (int i = 0; i < T; i++) {
            void *rv;
            pthread_join(th[i], &rv);
            ok &= rv == NULL;
        }
        for (int i = 1; i < T; i++)
            same &= a[i].out.len == a[0].out.len &&
                    memcmp(a[i].out.data, a[0].out.data, a[0].out.len) == 0;
        const fio_frame_z *z = fio_frame_z_get(f);
        same &= z && !z->plain && a[0].out.len == 4 + z->len &&
                memcmp(a[0].out.data + 4, z->data, z->len) == 0;
        for (int i = 0; i < T; i++)
            fio_buf_free(&a[i].out);
        pthread_barrier_destroy(&bar);
        fio_frame_unref(f);
    }
    CHECK(ok && same, "%d threads on one frame, %d rounds: one form, same bytes", T, ROUNDS);
}

static void test_negotiation_text(void)
{
    struct { const char *hdr; int ok; } offers[] = {
        {"permessage-deflate", 1},
        {"permessage-deflate; client_max_window_bits", 1},
        {"permessage-deflate;client_no_context_takeover;server_no_context_takeover", 1},
        {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", 1},
        {"permessage-deflate; server_max_window_bits=10", 0},
        {"permessage-deflate; server_max_window_bits = 15", 0},
        {"permessage-deflate; server_max_window_bits=10, permessage-deflate", 0},
        {"x-webkit-deflate-frame", 0},
        {"permessage-deflatex", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof offers / sizeof *offers; i++)
        CHECK(fio_pmd_offer_acceptable(offers[i].hdr, strlen(offers[i].hdr)) == offers[i].ok,
              "offer '%s' -> %d", offers[i].hdr, offers[i].ok);

    static const char full[] = "Sec-WebSocket-Extensions: permessage-deflate; "
                               "server_no_context_takeover; client_no_context_takeover\r\n";
    struct { const char *line; const char *want; } answers[] = {
        {"Sec-WebSocket-Extensions: permessage-deflate\r\n", full},
        {"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
         "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; "
         "server_no_context_takeover\r\n"},
        {full, full},
        {"Sec-WebSocket-Protocol: x\r\n", NULL},
        {"Sec-WebSocket-Extensions: x-other\r\n", NULL},
        {"Sec-WebSocket-Extensions: permessage-deflate,x-other\r\n", NULL},
        {"Sec-WebSocket-Extensions: permessage-deflate", NULL},   /* no CRLF */
    };
    for (size_t i = 0; i < sizeof answers / sizeof *answers; i++) {
        char buf[512];
        int n = snprintf(buf, sizeof buf, "HTTP/1.1 101 Switching Protocols\r\nA: b\r\n%s",
                         answers[i].line);
        size_t room = sizeof buf - (size_t)n - 1;
        char *e = fio_pmd_complete_answer(buf + n, room);
        int ok;
        if (!answers[i].want) {
            ok = e == NULL && strstr(buf, answers[i].line) != NULL;
        } else {
            ok = e != NULL;
            if (ok) {
                *e = '\0';
                const char *line = strstr(buf, "\r\nA: b\r\n") + 8;
                ok = strcmp(line, answers[i].want) == 0;
            }
        }
        CHECK(ok, "answer line %zu: '%s'", i, buf);
    }
    /* no room: nothing written */
    char buf[256];
    int n = snprintf(buf, sizeof buf, "X\r\nSec-WebSocket-Extensions: permessage-deflate\r\n");
    CHECK(fio_pmd_complete_answer(buf + n, 20) == NULL &&
              strcmp(buf + n - 20, "permessage-deflate\r\n") == 0,
          "answer without room left as it is");
}

/* ------------------------------------------------------------ the server */

#define MAX_EV 256

typedef struct msg_ev { uint32_t conn; int binary; char *data; size_t len; } msg_ev;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg_ev msgs[MAX_EV];
    size_t nmsgs;
    uint32_t closed[MAX_EV];
    fio_ws_reason reasons[MAX_EV];
    size_t ncloses;
} ev = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* 1: on_message asks for a pause after each message (back-pressure test) */
static atomic_int pause_each;

static int on_message(void *ctx, uint32_t conn, int binary, const char *data, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&ev.mu);
    if (ev.nmsgs < MAX_EV) {
        char *p = malloc(len + 1);
        memcpy(p, data, len);
        p[len] = '\0';
        ev.msgs[ev.nmsgs++] = (msg_ev){conn, binary, p, len};
    }
    pthread_cond_broadcast(&ev.cv);
    pthread_mutex_unlock(&ev.mu);
    return atomic_load(&pause_each) ? 1 : 0;
}

static void on_close(void *ctx, uint32_t conn, fio_ws_reason reason)
{
    (void)ctx;
    pthread_mutex_lock(&ev.mu);
    if (ev.ncloses < MAX_EV) {
        ev.closed[ev.ncloses] = conn;
        ev.reasons[ev.ncloses++] = reason;
    }
    pthread_cond_broadcast(&ev.cv);
    pthread_mutex_unlock(&ev.mu);
}

static void events_reset(void)
{
    pthread_mutex_lock(&ev.mu);
    for (size_t i = 0; i < ev.nmsgs; i++)
        free(ev.msgs[i].data);
    ev.nmsgs = ev.ncloses = 0;
    pthread_mutex_unlock(&ev.mu);
}

static int wait_msgs(size_t n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000 + 1;
    pthread_mutex_lock(&ev.mu);
    int rc = 0;
    while (ev.nmsgs < n && rc == 0)
        rc = pthread_cond_timedwait(&ev.cv, &ev.mu, &ts);
    int ok = ev.nmsgs >= n;
    pthread_mutex_unlock(&ev.mu);
    return ok;
}

/* The close reason of conn within ms, or -1. */
static int close_reason(uint32_t conn, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000 + 1;
    pthread_mutex_lock(&ev.mu);
    int r = -1, rc = 0;
    while (r < 0 && rc == 0) {
        for (size_t i = 0; i < ev.ncloses; i++)
            if (ev.closed[i] == conn)
                r = (int)ev.reasons[i];
        if (r < 0)
            rc = pthread_cond_timedwait(&ev.cv, &ev.mu, &ts);
    }
    pthread_mutex_unlock(&ev.mu);
    return r;
}




typedef struct fixture { fio_hub *hub; fio_ws_server *srv; int lfd, port; } fixture;

static void fixture_up(fixture *f, fio_ws_config cfg)
{
    events_reset();
    cfg.ping_interval_ms = 25000;
    cfg.ping_timeout_ms = 20000;
    cfg.close_grace_ms = 300;
    cfg.on_message = on_message;
    cfg.on_close = on_close;
    f->hub = fio_hub_new_bounded(100000, 1 << 28);
    f->srv = f->hub ? fio_ws_server_new(f->hub, &cfg) : NULL;
    if (!f->srv || fio_ws_server_start(f->srv) < 0) {
        fprintf(stderr, "server setup failed\n");
        exit(2);
    }
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->lfd, 256) < 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al) < 0) {
        perror("listener");
        exit(2);
    }
    f->port = ntohs(a.sin_port);
}

static void fixture_down(fixture *f)
{
    fio_ws_server_stop_and_free(f->srv);
    CHECK(fio_hub_conn_count(f->hub) == 0, "hub connections left");
    fio_hub_free(f->hub);
    close(f->lfd);
}

static const char pmd_offer[] = "permessage-deflate; client_max_window_bits";

/* Connects, sends an upgrade offering ext (NULL: no extension header), has
 * the server adopt it, reads the 101 head into head and skips the OPEN
 * frame. Returns the client fd (-1 when the handshake failed). */
static int client_open(fixture *f, const char *ext, uint32_t *conn, char *head, size_t cap)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(2);
    }
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     ext ? "Sec-WebSocket-Extensions: " : "", ext ? ext : "", ext ? "\r\n" : "");
    send_all(c, req, (size_t)n);
    int s = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    char sreq[2048];
    int hl = s >= 0 ? read_head(s, sreq, sizeof sreq) : -1;
    if (hl < 0 || fio_ws_adopt(f->srv, s, sreq, (size_t)hl, NULL, 0, 1, conn) != FIO_OK) {
        close(c);
        return -1;
    }
    if (read_head(c, head, cap) < 0 || strncmp(head, "HTTP/1.1 101", 12) != 0) {
        close(c);
        return -1;
    }
    unsigned char h[2];
    char open[512];
    if (recv_all(c, h, 2) < 0 || h[0] != 0x81 || (h[1] & 0x7f) > 125 ||
        recv_all(c, open, h[1] & 0x7f) < 0 || open[0] != '0') {
        close(c);
        return -1;
    }
    return c;
}

/* One whole message from the server (fragments joined): opcode of the first
 * frame, RSV1 of the first frame. *p malloc'd. 0, or -1. */
static int recv_msg(int fd, int *op, int *rsv1, char **p, size_t *len)
{
    *p = NULL;
    *len = 0;
    for (int first = 1;; first = 0) {
        unsigned char h[10];
        if (recv_all(fd, h, 2) < 0 || (h[1] & 0x80))
            return -1;
        uint64_t n = h[1] & 0x7f;
        if (n == 126) {
            if (recv_all(fd, h + 2, 2) < 0)
                return -1;
            n = (uint64_t)h[2] << 8 | h[3];
        } else if (n == 127) {
            if (recv_all(fd, h + 2, 8) < 0)
                return -1;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | h[2 + i];
        }
        if (first) {
            *op = h[0] & 0x0f;
            *rsv1 = (h[0] & 0x40) != 0;
        } else if ((h[0] & 0x0f) != 0 || (h[0] & 0x40)) {
            return -1;   /* continuation expected, RSV1 only on the first */
        }
        char *q = realloc(*p, *len + n + 1);
        if (!q || recv_all(fd, q + *len, n) < 0) {
            free(q ? q : *p);
            *p = NULL;
            return -1;
        }
        *p = q;
        *len += n;
        (*p)[*len] = '\0';
        if (h[0] & 0x80)
            return 0;
    }
}

/* Receives one message and checks it is want (compressed as said). */
static int expect_msg(int fd, int op, int compressed, const char *want, size_t wl)
{
    int o, r;
    char *p;
    size_t n;
    if (recv_msg(fd, &o, &r, &p, &n) < 0)
        return 0;
    int ok = o == op && r == compressed;
    if (ok && r) {
        char *back = NULL;
        size_t bl = 0;
        ok = inflate_msg(p, n, &back, &bl) == 0 && bl == wl && memcmp(back, want, wl) == 0;
        free(back);
    } else if (ok) {
        ok = n == wl && memcmp(p, want, wl) == 0;
    }
    if (!ok)
        fprintf(stderr, "message: op %d rsv1 %d len %zu, wanted op %d rsv1 %d len %zu\n", o, r,
                n, op, compressed, wl);
    free(p);
    return ok;
}

/* Reads until the server's close frame, answers it; its status, or -1. */
static int close_status(int fd)
{
    int op, rsv1, status = -1;
    char *p = NULL;
    size_t n;
    while (recv_msg(fd, &op, &rsv1, &p, &n) == 0) {
        if (op == 8) {
            if (n >= 2)
                status = (unsigned char)p[0] << 8 | (unsigned char)p[1];
            ws_send_frame(fd, 1, 0, 8, "\x03\xe8", 2);
            free(p);
            break;
        }
        free(p);
        p = NULL;
    }
    return status;
}

static void push(fixture *f, uint32_t conn, const char *data, size_t len, int binary)
{
    fio_frame *fr = fio_frame_new(data, len, binary);
    if (fio_hub_push(f->hub, conn, &fr, 1) == 1)
        fio_ws_wake(f->srv, conn);
    fio_frame_unref(fr);
}

static fio_ws_config deflate_cfg(size_t threshold)
{
    fio_ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.compress_threshold = threshold;
    return cfg;
}

static const char full_answer[] = "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                  "server_no_context_takeover; client_no_context_takeover\r\n";

static void test_negotiated_outbound(void)
{
    fixture f;
    fixture_up(&f, deflate_cfg(FIO_DEFLATE_THRESHOLD_DEFAULT));
    char head[4096];
    uint32_t conn, plain_conn, dup_conn, limited_conn;
    int c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0 && strstr(head, full_answer) && !strstr(head, "client_max_window_bits"),
          "offer answered with both no_context_takeover parameters: %s", head);
    int p = client_open(&f, NULL, &plain_conn, head, sizeof head);
    CHECK(p >= 0 && !strstr(head, "Sec-WebSocket-Extensions"), "no offer, no answer");
    int d = client_open(&f, "permessage-deflate; client_no_context_takeover; "
                            "server_no_context_takeover", &dup_conn, head, sizeof head);
    CHECK(d >= 0 && strstr(head, "Sec-WebSocket-Extensions: permessage-deflate; "
                                 "client_no_context_takeover; server_no_context_takeover\r\n"),
          "offered parameters answered once each: %s", head);
    int l = client_open(&f, "permessage-deflate; server_max_window_bits=10", &limited_conn, head,
                        sizeof head);
    CHECK(l >= 0 && !strstr(head, "Sec-WebSocket-Extensions"),
          "server_max_window_bits offer refused: %s", head);

    char *j2k = json_frame(2048, 11), *j60 = json_frame(60, 12), *j1024 = json_frame(1024, 13);
    char *jbig = json_frame(200000, 14);
    char noise[3000];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (char)rand();
    struct { const char *data; size_t len; int binary, compressed; } frames[] = {
        {j60, 60, 0, 0},     {j2k, 2048, 0, 1},  {j2k, 2048, 1, 1},        {noise, 3000, 1, 0},
        {j1024, 1023, 0, 0}, {j1024, 1024, 0, 1}, {jbig, 200000, 0, 1},
    };
    size_t nf = sizeof frames / sizeof *frames;
    fio_ws_stats before, after;
    fio_ws_get_stats(f.srv, &before);
    uint32_t conns[4] = {conn, plain_conn, dup_conn, limited_conn};
    int fds[4] = {c, p, d, l};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < nf; i++)
            push(&f, conns[k], frames[i].data, frames[i].len, frames[i].binary);
    for (int k = 0; k < 4; k++) {
        int deflating = k == 0 || k == 2, ok = fds[k] >= 0;
        for (size_t i = 0; i < nf && ok; i++)
            ok = expect_msg(fds[k], frames[i].binary ? 2 : 1, deflating && frames[i].compressed,
                            frames[i].data, frames[i].len);
        CHECK(ok, "client %d (%s): every frame as expected", k,
              deflating ? "deflate" : "plain");
    }
    fio_ws_get_stats(f.srv, &after);
    /* 2 deflate clients x 5 frames at or above the threshold, each pushed
     * (own frame objects): 10 compressions; plain clients none */
    CHECK(after.deflated - before.deflated == 10, "compressions %llu",
          (unsigned long long)(after.deflated - before.deflated));

    /* control frames stay plain: the Engine.IO close from the client answered */
    ws_send_frame(c, 1, 0, 1, "1", 1);
    CHECK(close_reason(conn, 3000) == FIO_WS_CLIENT_DISCONNECT, "client disconnect");
    for (int k = 0; k < 4; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    free(j2k);
    free(j60);
    free(j1024);
    free(jbig);
    fixture_down(&f);
}

#define MAX_CONNS 1024

typedef struct woken { uint32_t ids[MAX_CONNS]; size_t n; } woken;

static void collect(void *ctx, uint32_t conn, int status)
{
    woken *w = ctx;
    (void)status;
    if (w->n < MAX_CONNS)
        w->ids[w->n++] = conn;
}

static void broadcast(fixture *f, const char *data, size_t len)
{
    fio_str ns = {"/", 1}, room = {"r", 1};
    fio_frame *fr = fio_frame_new(data, len, 0);
    static _Thread_local woken w;
    w.n = 0;
    fio_hub_broadcast(f->hub, ns, &room, 1, NULL, 0, &fr, 1, collect, &w);
    fio_frame_unref(fr);
    for (size_t k = 0; k < w.n; k++)
        fio_ws_wake(f->srv, w.ids[k]);
}

static void join_room(fixture *f, uint32_t conn, int i)
{
    char sid[16];
    int k = snprintf(sid, sizeof sid, "s%d", i);
    fio_hub_connect(f->hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)k}, conn);
    fio_hub_enter(f->hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)k}, (fio_str){"r", 1});
}

/* N deflate clients and 2 plain ones in a room: each broadcast frame is
 * compressed once (or once per deflate client with compress_per_connection),
 * and every client gets it right. */
static void test_broadcast_once(int per_connection)
{
    enum { N = 16, PLAIN = 2, FRAMES = 5 };
    fio_ws_config cfg = deflate_cfg(1024);
    cfg.compress_per_connection = per_connection;
    fixture f;
    fixture_up(&f, cfg);
    int fd[N + PLAIN];
    uint32_t conn[N + PLAIN];
    char head[4096];
    int opened = 0;
    for (int i = 0; i < N + PLAIN; i++) {
        fd[i] = client_open(&f, i < N ? pmd_offer : NULL, &conn[i], head, sizeof head);
        opened += fd[i] >= 0;
        join_room(&f, conn[i], i);
    }
    CHECK(opened == N + PLAIN, "clients %d", opened);
    char *msgs[FRAMES + 1];
    for (int k = 0; k < FRAMES; k++)
        msgs[k] = json_frame(2048 + (size_t)k * 100, 100u + (unsigned)k);
    msgs[FRAMES] = json_frame(60, 7);
    fio_ws_stats before, after;
    fio_ws_get_stats(f.srv, &before);
    for (int k = 0; k <= FRAMES; k++)
        broadcast(&f, msgs[k], strlen(msgs[k]));
    int ok = 1;
    for (int i = 0; i < N + PLAIN && ok; i++)
        for (int k = 0; k <= FRAMES && ok; k++)
            ok = fd[i] >= 0 && expect_msg(fd[i], 1, i < N && k < FRAMES, msgs[k],
                                          strlen(msgs[k]));
    CHECK(ok, "every client got every broadcast frame (%s)",
          per_connection ? "per connection" : "once");
    fio_ws_get_stats(f.srv, &after);
    uint64_t want = per_connection ? (uint64_t)N * FRAMES : FRAMES;
    CHECK(after.deflated - before.deflated == want,
          "%d frames to %d deflate clients: %llu compressions, want %llu", FRAMES, N,
          (unsigned long long)(after.deflated - before.deflated), (unsigned long long)want);
    for (int i = 0; i < N + PLAIN; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    for (int k = 0; k <= FRAMES; k++)
        free(msgs[k]);
    fixture_down(&f);
}

static int msg_is(size_t i, uint32_t conn, int binary, const char *data, size_t len)
{
    pthread_mutex_lock(&ev.mu);
    int ok = i < ev.nmsgs && ev.msgs[i].conn == conn && ev.msgs[i].binary == binary &&
             ev.msgs[i].len == len && memcmp(ev.msgs[i].data, data, len) == 0;
    pthread_mutex_unlock(&ev.mu);
    return ok;
}

static void test_inbound(void)
{
    fio_ws_config cfg = deflate_cfg(1024);
    cfg.max_payload = 300000;
    fixture f;
    fixture_up(&f, cfg);
    char head[4096];
    uint32_t conn;
    int c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0, "open");
    unsigned char *z;
    size_t zl;
    /* 1: a small compressed text message */
    client_deflate("4hello", 6, &z, &zl);
    ws_send_frame(c, 1, 1, 1, z, zl);
    free(z);
    /* 2: a large one (inflated by lws in chunks) */
    char *big = json_frame(250000, 5);
    big[0] = '4';
    client_deflate(big, 250000, &z, &zl);
    ws_send_frame(c, 1, 1, 1, z, zl);
    /* 3: the same, fragmented over three frames, RSV1 on the first only */
    size_t a = zl / 3, b = 2 * zl / 3;
    ws_send_frame(c, 0, 1, 1, z, a);
    ws_send_frame(c, 0, 0, 0, z + a, b - a);
    ws_send_frame(c, 1, 0, 0, z + b, zl - b);
    free(z);
    /* 4: plain between compressed ones */
    ws_send_frame(c, 1, 0, 1, "4plain", 6);
    /* 5: compressed binary */
    unsigned char bin[5000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i % 7);
    client_deflate(bin, sizeof bin, &z, &zl);
    ws_send_frame(c, 1, 1, 2, z, zl);
    free(z);
    CHECK(wait_msgs(5, 5000), "5 messages, got %zu", ev.nmsgs);
    CHECK(msg_is(0, conn, 0, "hello", 5), "small compressed message");
    CHECK(msg_is(1, conn, 0, big + 1, 249999), "250 KB compressed message");
    CHECK(msg_is(2, conn, 0, big + 1, 249999), "fragmented compressed message");
    CHECK(msg_is(3, conn, 0, "plain", 5), "plain message among compressed ones");
    CHECK(msg_is(4, conn, 1, (char *)bin, sizeof bin), "compressed binary message");
    /* a message past max_payload once inflated (a few hundred bytes on the wire) */
    char *bomb = malloc(400000);
    memset(bomb, 'a', 400000);
    bomb[0] = '4';
    client_deflate(bomb, 400000, &z, &zl);
    CHECK(zl < 2000, "bomb on the wire: %zu bytes", zl);
    ws_send_frame(c, 1, 1, 1, z, zl);
    free(z);
    free(bomb);
    CHECK(close_reason(conn, 3000) == FIO_WS_TRANSPORT_CLOSE, "inflated past max_payload closes");
    int status = close_status(c);
    CHECK(status == 1009, "status 1009, got %d", status);
    close(c);
    free(big);
    fixture_down(&f);
}

/* fio_inflate_message alone: messages of a client (sync flush, tail removed)
 * and ones ended by a final block, one inflater for all of them; the bound;
 * bad data; bytes after a final block. */
static void test_inflater(void)
{
    fio_inflater *z = fio_inflater_new();
    CHECK(z != NULL, "inflater");
    if (!z)
        return;
    fio_buf out;
    fio_buf_init(&out);
    unsigned char *c;
    size_t cl;
    char *text = malloc(100000);
    chat_text(text, 100000, 7);
    client_deflate(text, 100000, &c, &cl);
    CHECK(fio_inflate_message(z, c, cl, 100000, &out) == FIO_INFLATE_OK && out.len == 100000 &&
              memcmp(out.data, text, 100000) == 0, "100 KB message");
    out.len = 0;
    CHECK(fio_inflate_message(z, c, cl, 99999, &out) == FIO_INFLATE_TOO_LARGE && out.len == 0,
          "one byte past the bound");
    free(c);
    /* a final block with the tail's bytes left over, then a message that
     * must not see them (found by fuzz_transport) */
    CHECK(fio_inflate_message(z, "\x73", 1, 100, &out) == FIO_INFLATE_OK && out.len == 1 &&
              out.data[0] == '@', "final-block message");
    out.len = 0;
    CHECK(fio_inflate_message(z, "\x32\xa9", 2, 100, &out) == FIO_INFLATE_OK && out.len == 2 &&
              memcmp(out.data, "4x", 2) == 0, "the next message alone: %zu bytes", out.len);
    out.len = 3;   /* appends after what out holds */
    memcpy(out.data, "abc", 3);
    CHECK(fio_inflate_message(z, "\xff\xff", 2, 100, &out) == FIO_INFLATE_BAD && out.len == 3,
          "bad data: out unchanged");
    /* "4hello" ended by a final block (zlib's Z_FINISH), then two more bytes */
    static const char fin[] = "\x33\xc9\x48\xcd\xc9\xc9\x07\x00";
    CHECK(fio_inflate_message(z, fin, 8, 100, &out) == FIO_INFLATE_OK && out.len == 9 &&
              memcmp(out.data + 3, "4hello", 6) == 0, "a message ended by a final block");
    out.len = 3;
    static const char after[] = "\x33\xc9\x48\xcd\xc9\xc9\x07\x00\x00\x00";
    CHECK(fio_inflate_message(z, after, 10, 100, &out) == FIO_INFLATE_BAD && out.len == 3,
          "bytes after a final block");
    CHECK(fio_inflate_message(z, "", 0, 100, &out) == FIO_INFLATE_OK && out.len == 3,
          "an empty message");
    free(text);
    fio_buf_free(&out);
    fio_inflater_free(z);
}

/* What lws 4.1.6's own inflater aborted or spun on (docs/native-deflate.md),
 * now inflated by the transport; a message ended by a final block (Z_FINISH,
 * RFC 7692 7.2.3.4) inflates too; corrupt data and bytes after a final block
 * close the connection with 1002, at once. */
static void test_inbound_hard_inputs(void)
{
    fio_ws_config cfg = deflate_cfg(1024);
    fixture f;
    fixture_up(&f, cfg);
    char head[4096];
    uint32_t conn;
    int c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0, "open");
    unsigned char *z;
    size_t zl;
    /* 1: "4" + 3079 x "a" (lws: assert(avail_out) on its last piece) */
    char *as = malloc(3080);
    memset(as, 'a', 3080);
    as[0] = '4';
    client_deflate(as, 3080, &z, &zl);
    ws_send_frame(c, 1, 1, 1, z, zl);
    free(z);
    /* 2: one message compressed with a final block */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    unsigned char fin[256];
    zs.next_in = (Bytef *)"4final block";
    zs.avail_in = 12;
    zs.next_out = fin;
    zs.avail_out = sizeof fin;
    CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END, "final block");
    ws_send_frame(c, 1, 1, 1, fin, sizeof fin - zs.avail_out);
    deflateEnd(&zs);
    CHECK(wait_msgs(2, 5000), "2 messages, got %zu", ev.nmsgs);
    CHECK(msg_is(0, conn, 0, as + 1, 3079), "the 3080-byte message");
    CHECK(msg_is(1, conn, 0, "final block", 11), "the final-block message");
    free(as);
    /* 3: a final block followed by 1030 zero bytes (lws: spun forever) */
    unsigned char spin[4 + 1030];
    memset(spin, 0, sizeof spin);
    memcpy(spin, "\x33\xa9\x00\x00", 4);
    ws_send_frame(c, 1, 1, 1, spin, sizeof spin);
    CHECK(close_reason(conn, 3000) == FIO_WS_TRANSPORT_ERROR, "data after the final block closes");
    int status = close_status(c);
    CHECK(status == 1002, "status 1002, got %d", status);
    CHECK(ev.nmsgs == 2, "nothing more delivered: %zu", ev.nmsgs);
    close(c);

    /* 4: corrupt data (an invalid block type) */
    events_reset();
    c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0, "open");
    ws_send_frame(c, 1, 1, 1, "\xff\xff\xff\xff", 4);
    CHECK(close_reason(conn, 3000) == FIO_WS_TRANSPORT_ERROR, "corrupt data closes");
    status = close_status(c);
    CHECK(status == 1002, "status 1002, got %d", status);
    close(c);
    fixture_down(&f);
}

/* Inbound back-pressure with compressed messages: on_message pauses reading
 * after each one; six compressed messages sent in one write come one per
 * resume, in order, and the paused server does not spin (lws 4.1 polls
 * without waiting while it has inflated data to drain). */
static void test_inbound_paused(void)
{
    fixture f;
    fixture_up(&f, deflate_cfg(1024));
    char head[4096];
    uint32_t conn;
    int c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0, "open");
    enum { K = 6 };
    char *texts[K];
    fio_buf wire;
    fio_buf_init(&wire);
    for (int i = 0; i < K; i++) {
        size_t n = i % 2 ? 40000 : 300;   /* big ones take many inflate chunks */
        texts[i] = json_frame(n, 50u + (unsigned)i);
        texts[i][0] = '4';
        unsigned char *z;
        size_t zl;
        client_deflate(texts[i], n, &z, &zl);
        /* frame it by hand into one buffer: one write for all six */
        unsigned char mask[4] = {1, 2, 3, 4};
        unsigned char h[14] = {0xc1};
        size_t hl = 1;
        if (zl < 126) {
            h[hl++] = (unsigned char)(0x80 | zl);
        } else {
            h[hl++] = 0x80 | 126;
            h[hl++] = (unsigned char)(zl >> 8);
            h[hl++] = (unsigned char)zl;
        }
        memcpy(h + hl, mask, 4);
        hl += 4;
        for (size_t k = 0; k < zl; k++)
            z[k] ^= mask[k & 3];
        fio_buf_append(&wire, h, hl);
        fio_buf_append(&wire, z, zl);
        free(z);
    }
    atomic_store(&pause_each, 1);
    CHECK(send_all(c, wire.data, wire.len) == 0, "send six messages at once");
    fio_buf_free(&wire);
    int stepwise = 1;
    double spin = 0;
    for (int i = 0; i < K; i++) {
        if (!wait_msgs((size_t)i + 1, 3000)) {
            stepwise = 0;
            break;
        }
        struct timespec a, b;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
        usleep(100000);   /* paused: nothing more may come */
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
        double used = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        if (used > spin)
            spin = used;
        pthread_mutex_lock(&ev.mu);
        stepwise &= ev.nmsgs == (size_t)i + 1;
        pthread_mutex_unlock(&ev.mu);
        if (i == K - 1)
            atomic_store(&pause_each, 0);
        fio_ws_resume_reading(f.srv);
    }
    CHECK(stepwise, "one message per resume: %zu", ev.nmsgs);
    int ordered = 1;
    for (int i = 0; i < K; i++)
        ordered &= msg_is((size_t)i, conn, 0, texts[i] + 1, strlen(texts[i]) - 1);
    CHECK(ordered, "six compressed messages, in order, exact");
    CHECK(spin < 0.05, "CPU while paused: %.3f s in 0.1 s", spin);
    for (int i = 0; i < K; i++)
        free(texts[i]);
    close(c);
    fixture_down(&f);
}

/* Threshold 0: never negotiated; a compressed frame is a protocol error. */
static void test_off(void)
{
    fixture f;
    fixture_up(&f, deflate_cfg(0));
    char head[4096];
    uint32_t conn;
    int c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0 && !strstr(head, "Sec-WebSocket-Extensions"), "threshold 0: no answer: %s",
          head);
    char *j = json_frame(4096, 1);
    push(&f, conn, j, 4096, 0);
    CHECK(c >= 0 && expect_msg(c, 1, 0, j, 4096), "plain 4 KB frame");
    free(j);
    fio_ws_stats st;
    fio_ws_get_stats(f.srv, &st);
    CHECK(st.deflated == 0, "no compression");
    unsigned char *z;
    size_t zl;
    client_deflate("4hello", 6, &z, &zl);
    ws_send_frame(c, 1, 1, 1, z, zl);
    free(z);
    CHECK(close_status(c) == 1002, "RSV1 without the extension: protocol error");
    /* lws then waits up to 5 s for the client's closing frame, which this
     * client never sends */
    int r = close_reason(conn, 8000);
    CHECK(r == FIO_WS_TRANSPORT_CLOSE, "then closed: %d", r);
    CHECK(ev.nmsgs == 0, "nothing delivered");
    close(c);
    fixture_down(&f);
}

/* frame_per_write: one frame per write, compressed as in batches (the
 * transport builds it; the extension lws knows does not compress). */
static void test_frame_per_write(void)
{
    fio_ws_config cfg = deflate_cfg(1024);
    cfg.frame_per_write = 1;
    fixture f;
    fixture_up(&f, cfg);
    char head[4096];
    uint32_t conn;
    int c = client_open(&f, pmd_offer, &conn, head, sizeof head);
    CHECK(c >= 0 && strstr(head, full_answer), "answered");
    char *j = json_frame(5000, 2);
    push(&f, conn, j, 5000, 0);
    push(&f, conn, j, 60, 0);
    push(&f, conn, j, 5000, 0);
    int ok = c >= 0 && expect_msg(c, 1, 1, j, 5000) && expect_msg(c, 1, 0, j, 60) &&
             expect_msg(c, 1, 1, j, 5000);
    CHECK(ok, "frames of the threshold and more compressed, each alone; smaller ones plain");
    free(j);
    close(c);
    fixture_down(&f);
}

/* ------------------------------------------------------------ measurement */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct bench_arg { fixture *f; const char *msg; size_t len; long frames; } bench_arg;

static void *bench_broadcaster(void *p)
{
    bench_arg *a = p;
    for (long i = 0; i < a->frames; i++)
        broadcast(a->f, a->msg, a->len);
    return NULL;
}

/* threshold 0: deflate off (the clients still offer it); per_conn: each
 * frame compressed again for each connection. */
static void bench_broadcast(int n, long frames, size_t size, size_t threshold, int per_conn)
{
    fio_ws_config cfg = deflate_cfg(threshold);
    cfg.compress_per_connection = per_conn;
    fixture f;
    fixture_up(&f, cfg);
    int *s = malloc((size_t)n * sizeof *s);
    uint32_t *conn = malloc((size_t)n * sizeof *conn);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    char head[4096];
    for (int i = 0; i < n; i++) {
        s[i] = client_open(&f, pmd_offer, &conn[i], head, sizeof head);
        join_room(&f, conn[i], i);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = s[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, s[i], &e);
    }
    char *msg = json_frame(size, 42);
    /* bytes per delivery on the wire: what the server's compressor makes of it */
    size_t wire = size;
    if (threshold && size >= threshold) {
        fio_deflater *d = fio_deflater_new(FIO_DEFLATE_LEVEL);
        fio_buf z;
        fio_buf_init(&z);
        fio_deflate_message(d, msg, size, &z);
        if (z.len < size)
            wire = z.len;
        fio_buf_free(&z);
        fio_deflater_free(d);
    }
    unsigned char hdr[FIO_WS_MAX_HEADER];
    size_t per = fio_ws_frame_header(hdr, 0, wire) + wire;
    size_t want = per * (size_t)n * (size_t)frames, got = 0;
    fio_ws_stats before, after;
    fio_ws_get_stats(f.srv, &before);
    bench_arg a = {&f, msg, size, frames};
    double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID),
           tc0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    pthread_t th;
    pthread_create(&th, NULL, bench_broadcaster, &a);
    static char buf[1 << 16];
    struct epoll_event evs[256];
    while (got < want) {
        int k = epoll_wait(ep, evs, 256, 5000);
        if (k <= 0)
            break;
        for (int i = 0; i < k; i++) {
            ssize_t r = recv(evs[i].data.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0)
                got += (size_t)r;
        }
    }
    double dt = now_s() - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
           tcpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - tc0;
    pthread_join(th, NULL);
    fio_ws_get_stats(f.srv, &after);
    double deliveries = (double)n * (double)frames;
    char name[64];
    if (threshold)
        snprintf(name, sizeof name, "threshold %zu, %s", threshold,
                 per_conn ? "per connection" : "once");
    else
        snprintf(name, sizeof name, "off");
    printf("deflate %-31s %5zu-byte frame (%5zu on the wire) to %d connections: %8.0f "
           "deliveries/s, server side %.3f us CPU per delivery, %llu compressions\n",
           name, size, wire, n, deliveries / dt, (cpu - tcpu) * 1e6 / deliveries,
           (unsigned long long)(after.deflated - before.deflated));
    CHECK(got == want, "bench bytes %zu/%zu", got, want);
    for (int i = 0; i < n; i++)
        close(s[i]);
    close(ep);
    free(s);
    free(conn);
    free(msg);
    fixture_down(&f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(120);
    test_roundtrip();
    test_frame_append();
    test_cache_race();
    test_negotiation_text();
    test_negotiated_outbound();
    test_broadcast_once(0);
    test_broadcast_once(1);
    test_inbound();
    test_inflater();
    test_inbound_hard_inputs();
    test_inbound_paused();
    test_off();
    test_frame_per_write();
    const char *bc = getenv("DEFLATE_BCAST");
    if (bc && atoi(bc) > 0 && atoi(bc) <= MAX_CONNS) {
        long frames = getenv("DEFLATE_BCAST_FRAMES") ? atol(getenv("DEFLATE_BCAST_FRAMES")) : 400;
        /* 60 bytes: below the default threshold, and what compressing every
         * frame (threshold 1) would cost */
        size_t sizes[] = {60, 2048}, thresholds[] = {0, 1024, 1};
        for (int si = 0; si < 2; si++)
            for (int ti = 0; ti < (sizes[si] < 1024 ? 3 : 2); ti++)
                for (int per_conn = 0; per_conn < (thresholds[ti] ? 2 : 1); per_conn++)
                    bench_broadcast(atoi(bc), frames, sizes[si], thresholds[ti], per_conn);
    }
    events_reset();
    return check_summary();
}
