/* Client side of RFC 6455 for the load generator: the HTTP upgrade request and
 * the check of its answer (101 + Sec-WebSocket-Accept, so SHA-1 and base64),
 * masked client frames, and an incremental parser of server frames that joins
 * fragmented messages and hands over control frames (ping, pong, close) as
 * they come, also between the fragments of a message.
 *
 * No I/O and no globals: the caller owns sockets and buffers, so every
 * function can be fed byte strings by the self test (selftest.c). No
 * extension is ever offered, so an RSV bit on a server frame is an error.
 * Not thread-safe per object; different objects may be used by different
 * threads. */
#ifndef LOADGEN_WS_H
#define LOADGEN_WS_H
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/* Largest message (all fragments joined) the parser accepts. */
#define WS_MAX_MESSAGE ((size_t)64 << 20)

/* A growable byte buffer. Zero-initialised is empty; buf_free releases it. */
typedef struct lg_buf {
    uint8_t *p;
    size_t len, cap;
} lg_buf;

/* Makes room for `extra` more bytes after len. 0, or -1 out of memory (the
 * buffer is unchanged then). */
int buf_reserve(lg_buf *b, size_t extra);
int buf_append(lg_buf *b, const void *data, size_t n);
void buf_free(lg_buf *b);

/* State of one connection's inbound frame stream. Zero-initialised is ready. */
typedef struct ws_parser {
    lg_buf frag;          /* payload so far of an unfinished fragmented message */
    int frag_opcode;      /* its opcode (text/binary), 0 when none is open */
    const char *error;    /* static text, set when ws_parse returns -1 */
} ws_parser;

/* One complete message (fragments joined; opcode TEXT or BINARY) or one
 * control frame. `data` is writable and valid only during the call. Return 0
 * to go on, non-zero to stop parsing (ws_parse then returns what it consumed,
 * this frame included). */
typedef int (*ws_on_message)(void *ctx, int opcode, uint8_t *data, size_t len);

/* Parses the complete frames at the start of data[0..len), calling cb for
 * each finished message or control frame. Returns the bytes consumed: the
 * rest is the start of an unfinished frame, to be handed again with more bytes
 * behind it. Returns -1 on a protocol error (p->error says which); the
 * connection is then unusable. Masked payloads are unmasked in place. */
long ws_parse(ws_parser *p, uint8_t *data, size_t len, ws_on_message cb, void *ctx);

void ws_parser_free(ws_parser *p);

/* Appends one client frame with FIN set, payload masked with `mask`. 0, or -1
 * out of memory. */
int ws_frame(lg_buf *out, int opcode, const void *payload, size_t len, uint32_t mask);

/* XORs data with the 4-byte mask key (network order of `key`), starting at
 * key byte `offset`. Used both ways: masking and unmasking. */
void ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t offset);

/* A Sec-WebSocket-Key: base64 of 16 bytes drawn from *rng (xorshift64*
 * state, non-zero). out gets 24 characters and a NUL. */
void ws_make_key(char out[25], uint64_t *rng);
uint64_t ws_rand(uint64_t *rng);

/* Appends the GET upgrade request for `path_query` (e.g.
 * "/socket.io/?EIO=4&transport=websocket") to out. 0, or -1 out of memory. */
int ws_request(lg_buf *out, const char *host, int port, const char *path_query,
               const char *key);

/* Checks the server's answer to the upgrade. Returns the length of the HTTP
 * head (status line to the blank line, inclusive) when it is complete, a 101
 * and carries the right Sec-WebSocket-Accept for `key`; 0 when more bytes
 * are needed; -1 otherwise, with *err a static description. Bytes after the
 * head are already frames. */
long ws_check_response(const uint8_t *data, size_t len, const char *key, const char **err);

void sha1(const void *data, size_t len, uint8_t out[20]);
/* Writes the base64 of in[0..n) and a NUL to out (room for 4*((n+2)/3)+1);
 * returns the length without the NUL. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);

#endif
