/* `loadgen selftest`: checks the load generator's own codecs without a
 * network: SHA-1 / base64 / Sec-WebSocket-Accept against published vectors,
 * the upgrade answer check, client frames (masked) read back, and the frame
 * parser on one server byte stream (every length encoding, a fragmented
 * message with ping and pong between its fragments, binary, close) fed in
 * chunks of every size from 1 byte up, the way conn.c feeds it, plus the
 * protocol errors it must refuse; Engine.IO / Socket.IO classification; and
 * the percentile rule. Prints one JSON line; exit 0 when every check holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "sio.h"
#include "ws.h"

static int checks, failures;

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        checks++;                                                                      \
        if (!(cond)) {                                                                 \
            failures++;                                                                \
            fprintf(stderr, "selftest %s:%d: ", __FILE__, __LINE__);                   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
        }                                                                              \
    } while (0)

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_base64(void)
{
    static const struct { const char *in, *hex; } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t d[20];
        char h[41];
        sha1(v[i].in, strlen(v[i].in), d);
        hex(d, 20, h);
        CHECK(strcmp(h, v[i].hex) == 0, "sha1(%s) = %s", v[i].in, h);
    }
    char *million = malloc(1000000);
    if (million) {
        memset(million, 'a', 1000000);
        uint8_t d[20];
        char h[41];
        sha1(million, 1000000, d);
        hex(d, 20, h);
        CHECK(strcmp(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0, "sha1(a*1e6) = %s", h);
        free(million);
    }
    static const struct { const char *in, *out; } b[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        char out[16];
        size_t n = base64_encode((const uint8_t *)b[i].in, strlen(b[i].in), out);
        CHECK(n == strlen(b[i].out) && strcmp(out, b[i].out) == 0, "base64(%s) = %s", b[i].in,
              out);
    }
}

static void test_handshake(void)
{
    /* RFC 6455 section 1.3's example key and accept */
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                     "\r\n\x81\x01" "0";
    size_t head = strlen(ok) - 3;
    const char *err = NULL;
    for (size_t n = 0; n < head; n++)
        CHECK(ws_check_response((const uint8_t *)ok, n, key, &err) == 0,
              "head incomplete at %zu bytes", n);
    CHECK(ws_check_response((const uint8_t *)ok, strlen(ok), key, &err) == (long)head,
          "complete head length");
    const char *lower = "HTTP/1.1 101 OK\r\nsec-websocket-accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \r\n\r\n";
    CHECK(ws_check_response((const uint8_t *)lower, strlen(lower), key, &err) ==
              (long)strlen(lower), "header name case and spaces");
    const char *wrong = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOx=\r\n\r\n";
    CHECK(ws_check_response((const uint8_t *)wrong, strlen(wrong), key, &err) == -1,
          "wrong accept refused");
    const char *missing = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n";
    CHECK(ws_check_response((const uint8_t *)missing, strlen(missing), key, &err) == -1,
          "missing accept refused");
    const char *bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    CHECK(ws_check_response((const uint8_t *)bad, strlen(bad), key, &err) == -1,
          "status 400 refused");
    const char *ext = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    CHECK(ws_check_response((const uint8_t *)ext, strlen(ext), key, &err) == -1,
          "unoffered extension refused");
    uint64_t rng = 42;
    char k1[25], k2[25];
    ws_make_key(k1, &rng);
    ws_make_key(k2, &rng);
    CHECK(strlen(k1) == 24 && strcmp(k1, k2) != 0 && k1[22] == '=' && k1[23] == '=',
          "keys: %s %s", k1, k2);
}

/* ---- the parser on a byte stream ---- */

struct seen {
    int n;
    int op[32];
    size_t len[32];
    uint32_t sum[32];
    char text[32][16];
};

static int collect(void *ctx, int opcode, uint8_t *data, size_t len)
{
    struct seen *s = ctx;
    if (s->n < 32) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < len; i++)
            h = (h ^ data[i]) * 16777619u;
        s->op[s->n] = opcode;
        s->len[s->n] = len;
        s->sum[s->n] = h;
        size_t t = len < 15 ? len : 15;
        memcpy(s->text[s->n], data, t);
        s->text[s->n][t] = '\0';
    }
    s->n++;
    return 0;
}

/* Appends one server frame (unmasked unless mask != 0). */
static void server_frame(lg_buf *b, int fin, int opcode, const uint8_t *p, size_t n,
                         uint32_t mask)
{
    uint8_t h[14];
    size_t k = 0;
    h[k++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (n < 126) {
        h[k++] = (uint8_t)(m | n);
    } else if (n <= 0xffff) {
        h[k++] = m | 126;
        h[k++] = (uint8_t)(n >> 8);
        h[k++] = (uint8_t)n;
    } else {
        h[k++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[k++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint8_t key[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
                      (uint8_t)mask};
    if (mask) {
        memcpy(h + k, key, 4);
        k += 4;
    }
    if (buf_append(b, h, k) < 0 || buf_append(b, p, n) < 0) {
        fprintf(stderr, "selftest: out of memory\n");
        exit(1);
    }
    if (mask)
        ws_mask(b->p + b->len - n, n, key, 0);
}

static uint32_t fnv(const uint8_t *d, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 16777619u;
    return h;
}

/* Feeds `stream` to a fresh parser in chunks of `chunk` bytes, keeping the
 * unparsed tail like conn.c does. Returns -1 on a parse error. */
static int feed(const lg_buf *stream, size_t chunk, struct seen *s, const char **err)
{
    ws_parser p = {0};
    lg_buf in = {0};
    size_t pos = 0, off = 0;
    int rc = 0;
    memset(s, 0, sizeof *s);
    while (off < stream->len) {
        size_t n = stream->len - off < chunk ? stream->len - off : chunk;
        if (buf_append(&in, stream->p + off, n) < 0) {
            rc = -1;
            break;
        }
        off += n;
        long used = ws_parse(&p, in.p + pos, in.len - pos, collect, s);
        if (used < 0) {
            *err = p.error;
            rc = -1;
            break;
        }
        pos += (size_t)used;
    }
    if (rc == 0 && pos != in.len)
        rc = -2;   /* bytes left over: a frame was never finished */
    buf_free(&in);
    ws_parser_free(&p);
    return rc;
}

static void test_parser(void)
{
    size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    uint8_t *big = malloc(70001);
    if (!big) {
        CHECK(0, "out of memory");
        return;
    }
    for (size_t i = 0; i < 70001; i++)
        big[i] = (uint8_t)('a' + i % 26);
    lg_buf st = {0};
    for (size_t i = 0; i < nsizes; i++)
        server_frame(&st, 1, WS_OP_TEXT, big, sizes[i], 0);
    server_frame(&st, 1, WS_OP_BINARY, (const uint8_t *)"\x00\x01\x02", 3, 0);
    server_frame(&st, 0, WS_OP_TEXT, (const uint8_t *)"42[\"fr", 6, 0);
    server_frame(&st, 1, WS_OP_PING, (const uint8_t *)"pi", 2, 0);
    server_frame(&st, 0, WS_OP_CONT, (const uint8_t *)"ag\",", 4, 0);
    server_frame(&st, 1, WS_OP_PONG, NULL, 0, 0);
    server_frame(&st, 0, WS_OP_CONT, big, 300, 0);
    server_frame(&st, 1, WS_OP_CONT, (const uint8_t *)"]", 1, 0);
    server_frame(&st, 1, WS_OP_TEXT, (const uint8_t *)"masked", 6, 0xa1b2c3d4u);
    server_frame(&st, 1, WS_OP_CLOSE, (const uint8_t *)"\x03\xe8", 2, 0);

    lg_buf frag = {0};
    if (buf_append(&frag, "42[\"frag\",", 10) < 0 || buf_append(&frag, big, 300) < 0 ||
        buf_append(&frag, "]", 1) < 0) {
        CHECK(0, "out of memory");
        return;
    }
    int want_n = (int)nsizes + 6;
    size_t chunks[] = {1, 2, 3, 5, 13, 125, 127, 1000, 4096, 16384, 65537, st.len};
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        struct seen s;
        const char *err = "";
        int rc = feed(&st, chunks[ci], &s, &err);
        CHECK(rc == 0, "chunk %zu: parse rc %d (%s)", chunks[ci], rc, err);
        CHECK(s.n == want_n, "chunk %zu: %d messages, want %d", chunks[ci], s.n, want_n);
        if (s.n != want_n)
            continue;
        int k = 0, good = 1;
        for (size_t i = 0; i < nsizes; i++, k++)
            good &= s.op[k] == WS_OP_TEXT && s.len[k] == sizes[i] && s.sum[k] == fnv(big, sizes[i]);
        good &= s.op[k] == WS_OP_BINARY && s.len[k] == 3;
        k++;
        good &= s.op[k] == WS_OP_PING && s.len[k] == 2 && memcmp(s.text[k], "pi", 2) == 0;
        k++;
        good &= s.op[k] == WS_OP_PONG && s.len[k] == 0;
        k++;
        good &= s.op[k] == WS_OP_TEXT && s.len[k] == frag.len && s.sum[k] == fnv(frag.p, frag.len);
        k++;
        good &= s.op[k] == WS_OP_TEXT && strcmp(s.text[k], "masked") == 0;
        k++;
        good &= s.op[k] == WS_OP_CLOSE && s.len[k] == 2;
        CHECK(good, "chunk %zu: messages differ from what was framed", chunks[ci]);
    }

    /* protocol errors */
    struct { const char *what; int fin, op; uint8_t rsv; int prefix_frag; } bad[] = {
        {"continuation without a message", 1, WS_OP_CONT, 0, 0},
        {"RSV1 without an extension", 1, WS_OP_TEXT, 0x40, 0},
        {"fragmented ping", 0, WS_OP_PING, 0, 0},
        {"text inside a fragmented message", 1, WS_OP_TEXT, 0, 1},
        {"reserved opcode 3", 1, 3, 0, 0},
        {"reserved control opcode 0xB", 1, 0xB, 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lg_buf b = {0};
        if (bad[i].prefix_frag)
            server_frame(&b, 0, WS_OP_TEXT, (const uint8_t *)"a", 1, 0);
        server_frame(&b, bad[i].fin, bad[i].op, (const uint8_t *)"x", 1, 0);
        b.p[b.len - 3] |= bad[i].rsv;
        struct seen s;
        const char *err = NULL;
        CHECK(feed(&b, b.len, &s, &err) == -1 && err, "%s accepted", bad[i].what);
        buf_free(&b);
    }
    {
        lg_buf b = {0};
        uint8_t ping[126] = {0};
        server_frame(&b, 1, WS_OP_PING, ping, sizeof ping, 0);
        struct seen s;
        const char *err = NULL;
        CHECK(feed(&b, b.len, &s, &err) == -1, "126-byte ping accepted");
        buf_free(&b);
    }
    {
        /* the 64-bit length's top bit: refused before any payload arrives */
        uint8_t b[10] = {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
        ws_parser p = {0};
        struct seen s = {0};
        CHECK(ws_parse(&p, b, sizeof b, collect, &s) == -1, "length with top bit accepted");
    }
    buf_free(&frag);
    buf_free(&st);
    free(big);
}

static void test_client_frames(void)
{
    uint8_t *big = malloc(70000);
    if (!big) {
        CHECK(0, "out of memory");
        return;
    }
    for (size_t i = 0; i < 70000; i++)
        big[i] = (uint8_t)i;
    size_t sizes[] = {0, 2, 125, 126, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        lg_buf b = {0};
        CHECK(ws_frame(&b, WS_OP_TEXT, big, sizes[i], 0x01020304u) == 0, "ws_frame");
        size_t head = sizes[i] < 126 ? 6 : sizes[i] <= 0xffff ? 8 : 14;
        CHECK(b.len == head + sizes[i], "frame of %zu is %zu bytes", sizes[i], b.len);
        CHECK(b.p[0] == 0x81 && (b.p[1] & 0x80), "FIN, text, mask bit");
        CHECK(sizes[i] < 4 || memcmp(b.p + head, big, 4) != 0, "payload is masked");
        struct seen s;
        const char *err = "";
        CHECK(feed(&b, 7, &s, &err) == 0 && s.n == 1 && s.len[0] == sizes[i] &&
                  s.sum[0] == fnv(big, sizes[i]),
              "client frame of %zu reads back", sizes[i]);
        buf_free(&b);
    }
    free(big);
}

static void test_sio(void)
{
    static const struct { const char *in; enum sio_kind kind; int has_id; uint64_t id;
                          const char *body; } v[] = {
        {"0{\"sid\":\"a\"}", K_EIO_OPEN, 0, 0, "{\"sid\":\"a\"}"},
        {"1", K_EIO_CLOSE, 0, 0, ""},
        {"2", K_EIO_PING, 0, 0, ""},
        {"2probe", K_EIO_PING, 0, 0, "probe"},
        {"3", K_EIO_PONG, 0, 0, ""},
        {"6", K_EIO_NOOP, 0, 0, ""},
        {"40{\"sid\":\"x\"}", K_SIO_CONNECT, 0, 0, "{\"sid\":\"x\"}"},
        {"41", K_SIO_DISCONNECT, 0, 0, ""},
        {"42[\"tick\",{}]", K_SIO_EVENT, 0, 0, "[\"tick\",{}]"},
        {"427[\"q\"]", K_SIO_EVENT, 1, 7, "[\"q\"]"},
        {"4312[true]", K_SIO_ACK, 1, 12, "[true]"},
        {"4318446744073709551615[]", K_SIO_ACK, 1, 18446744073709551615ULL, "[]"},
        {"4318446744073709551616[]", K_BAD, 0, 0, ""},
        {"43[1]", K_BAD, 0, 0, ""},
        {"44{\"message\":\"no\"}", K_SIO_CONNECT_ERROR, 0, 0, "{\"message\":\"no\"}"},
        {"451-[\"b\",{\"_placeholder\":true,\"num\":0}]", K_SIO_BINARY, 0, 0, ""},
        {"42/chat,[\"x\"]", K_SIO_OTHER_NS, 0, 0, ""},
        {"", K_BAD, 0, 0, ""},
        {"4", K_BAD, 0, 0, ""},
        {"49", K_BAD, 0, 0, ""},
        {"x", K_BAD, 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sio_msg m;
        sio_classify(v[i].in, strlen(v[i].in), &m);
        CHECK(m.kind == v[i].kind, "%s: kind %d, want %d", v[i].in, m.kind, v[i].kind);
        if (m.kind != v[i].kind || m.kind == K_BAD || m.kind == K_SIO_BINARY ||
            m.kind == K_SIO_OTHER_NS)
            continue;
        CHECK(m.has_id == v[i].has_id && m.id == v[i].id, "%s: id", v[i].in);
        CHECK(m.body_len == strlen(v[i].body) && memcmp(m.body, v[i].body, m.body_len) == 0,
              "%s: body %.*s", v[i].in, (int)m.body_len, m.body);
    }
}

static void test_percentiles(void)
{
    lat_vec l = {0};
    for (int i = 100; i >= 1; i--)
        lat_add(&l, i / 1000.0);
    lat_sort(&l);
    CHECK(lat_pct_ms(&l, 0.50) == 50.0, "p50 %g", lat_pct_ms(&l, 0.50));
    CHECK(lat_pct_ms(&l, 0.99) == 99.0, "p99 %g", lat_pct_ms(&l, 0.99));
    CHECK(lat_pct_ms(&l, 1.0) == 100.0, "max %g", lat_pct_ms(&l, 1.0));
    lat_vec m = {0};
    CHECK(lat_merge(&m, &l) == 0 && lat_merge(&m, &l) == 0 && m.n == 200, "merge");
    lat_sort(&m);
    CHECK(lat_pct_ms(&m, 0.5) == 50.0, "merged p50 %g", lat_pct_ms(&m, 0.5));
    lat_free(&l);
    lat_free(&m);
    lat_vec e = {0};
    CHECK(lat_pct_ms(&e, 0.5) == 0.0, "empty");
}

int selftest_main(void)
{
    test_sha1_base64();
    test_handshake();
    test_client_frames();
    test_parser();
    test_sio();
    test_percentiles();
    jline j;
    jl_begin(&j, "selftest");
    jl_int(&j, "checks", checks);
    jl_int(&j, "failed", failures);
    jl_bool(&j, "ok", failures == 0);
    jl_end(&j, stdout);
    return failures ? 1 : 0;
}
