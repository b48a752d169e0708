/* RFC 6455 client pieces for the load generator (contracts in ws.h). */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ buffers */

int buf_reserve(lg_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_append(lg_buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

void buf_free(lg_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------ framing */

void ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= key[(i + offset) & 3];
}

int ws_frame(lg_buf *out, int opcode, const void *payload, size_t len, uint32_t mask)
{
    uint8_t head[14];
    size_t n = 0;
    head[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        head[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        head[n++] = 0x80 | 126;
        head[n++] = (uint8_t)(len >> 8);
        head[n++] = (uint8_t)len;
    } else {
        head[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t *key = head + n;
    key[0] = (uint8_t)(mask >> 24);
    key[1] = (uint8_t)(mask >> 16);
    key[2] = (uint8_t)(mask >> 8);
    key[3] = (uint8_t)mask;
    n += 4;
    if (buf_reserve(out, n + len) < 0)
        return -1;
    memcpy(out->p + out->len, head, n);
    uint8_t *body = out->p + out->len + n;
    if (len)
        memcpy(body, payload, len);
    ws_mask(body, len, key, 0);
    out->len += n + len;
    return 0;
}

long ws_parse(ws_parser *p, uint8_t *data, size_t len, ws_on_message cb, void *ctx)
{
    size_t pos = 0;
    for (;;) {
        size_t avail = len - pos;
        if (avail < 2)
            return (long)pos;
        uint8_t *f = data + pos;
        int fin = f[0] & 0x80;
        int opcode = f[0] & 0x0f;
        int masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7f;
        size_t head = 2;
        if (f[0] & 0x70) {
            p->error = "RSV bit set without an extension";
            return -1;
        }
        if (plen == 126) {
            if (avail < 4)
                return (long)pos;
            plen = ((uint64_t)f[2] << 8) | f[3];
            head = 4;
        } else if (plen == 127) {
            if (avail < 10)
                return (long)pos;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | f[2 + i];
            head = 10;
            if (plen >> 63) {
                p->error = "64-bit length with the top bit set";
                return -1;
            }
        }
        if (plen > WS_MAX_MESSAGE) {
            p->error = "frame larger than the load generator's limit";
            return -1;
        }
        uint8_t *key = NULL;
        if (masked) {
            key = f + head;
            head += 4;
        }
        if (avail < head || avail - head < plen)
            return (long)pos;
        uint8_t *payload = f + head;
        if (key)
            ws_mask(payload, (size_t)plen, key, 0);
        pos += head + (size_t)plen;

        int stop = 0;
        if (opcode >= 0x8) {
            if (!fin || plen > 125) {
                p->error = "fragmented or oversized control frame";
                return -1;
            }
            if (opcode != WS_OP_CLOSE && opcode != WS_OP_PING && opcode != WS_OP_PONG) {
                p->error = "unknown control opcode";
                return -1;
            }
            stop = cb(ctx, opcode, payload, (size_t)plen);
        } else if (opcode == WS_OP_CONT) {
            if (!p->frag_opcode) {
                p->error = "continuation frame without a message to continue";
                return -1;
            }
            if (p->frag.len + plen > WS_MAX_MESSAGE) {
                p->error = "fragmented message larger than the load generator's limit";
                return -1;
            }
            if (buf_append(&p->frag, payload, (size_t)plen) < 0) {
                p->error = "out of memory joining fragments";
                return -1;
            }
            if (fin) {
                int op = p->frag_opcode;
                p->frag_opcode = 0;
                size_t n = p->frag.len;
                p->frag.len = 0;   /* the callback sees the bytes; the buffer is reused */
                stop = cb(ctx, op, p->frag.p, n);
            }
        } else if (opcode == WS_OP_TEXT || opcode == WS_OP_BINARY) {
            if (p->frag_opcode) {
                p->error = "new data frame inside a fragmented message";
                return -1;
            }
            if (fin) {
                stop = cb(ctx, opcode, payload, (size_t)plen);
            } else {
                p->frag.len = 0;
                if (buf_append(&p->frag, payload, (size_t)plen) < 0) {
                    p->error = "out of memory joining fragments";
                    return -1;
                }
                p->frag_opcode = opcode;
            }
        } else {
            p->error = "unknown data opcode";
            return -1;
        }
        if (stop)
            return (long)pos;
    }
}

void ws_parser_free(ws_parser *p)
{
    buf_free(&p->frag);
    p->frag_opcode = 0;
}

/* ------------------------------------------------------------ handshake */

uint64_t ws_rand(uint64_t *rng)
{
    uint64_t x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void ws_make_key(char out[25], uint64_t *rng)
{
    uint8_t raw[16];
    uint64_t a = ws_rand(rng), b = ws_rand(rng);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    base64_encode(raw, 16, out);
}

int ws_request(lg_buf *out, const char *host, int port, const char *path_query,
               const char *key)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path_query, host, port, key);
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    return buf_append(out, req, (size_t)n);
}

/* The value of header `name` in the head [p, end), trimmed, or NULL. */
static const char *header_value(const char *p, const char *end, const char *name,
                                size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *line = memchr(p, '\n', (size_t)(end - p));   /* skip the status line */
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol < end ? eol : NULL;
    }
    return NULL;
}

long ws_check_response(const uint8_t *data, size_t len, const char *key, const char **err)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const char *s = (const char *)data;
    const char *end = NULL;
    for (size_t i = 3; i < len; i++) {
        if (s[i] == '\n' && s[i - 1] == '\r' && s[i - 2] == '\n' && s[i - 3] == '\r') {
            end = s + i + 1;
            break;
        }
    }
    if (!end) {
        if (len > 16384) {
            *err = "HTTP answer head longer than 16 KiB";
            return -1;
        }
        return 0;
    }
    if (len < 12 || memcmp(s, "HTTP/1.1 101", 12) != 0) {
        *err = "upgrade refused (status is not 101)";
        return -1;
    }
    char joined[64];
    size_t klen = strlen(key);
    if (klen + sizeof guid > sizeof joined) {
        *err = "key too long";
        return -1;
    }
    memcpy(joined, key, klen);
    memcpy(joined + klen, guid, sizeof guid - 1);
    uint8_t digest[20];
    sha1(joined, klen + sizeof guid - 1, digest);
    char want[29];
    size_t wlen = base64_encode(digest, 20, want);
    size_t vlen = 0;
    const char *v = header_value(s, end, "sec-websocket-accept", &vlen);
    if (!v || vlen != wlen || memcmp(v, want, wlen) != 0) {
        *err = "missing or wrong Sec-WebSocket-Accept";
        return -1;
    }
    if (header_value(s, end, "sec-websocket-extensions", &vlen)) {
        *err = "server chose an extension none was offered";
        return -1;
    }
    return (long)(end - s);
}

/* ------------------------------------------------------------ SHA-1, base64 */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *b)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (bb & c) | (~bb & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = bb ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (bb & c) | (bb & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = bb ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(bb, 30);
        bb = a;
        a = t;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1(const void *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const uint8_t *p = data;
    size_t left = len;
    while (left >= 64) {
        sha1_block(h, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tlen = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tlen == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}
