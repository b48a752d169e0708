/* Engine.IO v4 / Socket.IO v5 as the load generator reads them: one Engine.IO
 * packet per websocket text message, namespace "/" only. sio_classify names
 * what a server message is and, for Socket.IO packets, where its ack id and
 * JSON body are; the client's own packets are written with snprintf in
 * loadgen.c. Pure functions, no state. */
#ifndef LOADGEN_SIO_H
#define LOADGEN_SIO_H
#include <stddef.h>
#include <stdint.h>

enum sio_kind {
    K_BAD = 0,          /* empty, or not a packet this client knows */
    K_EIO_OPEN,         /* 0{...}  handshake */
    K_EIO_CLOSE,        /* 1 */
    K_EIO_PING,         /* 2[probe] — answer 3 + the same suffix */
    K_EIO_PONG,         /* 3 */
    K_EIO_NOOP,         /* 6 */
    K_SIO_CONNECT,      /* 40{"sid":...} */
    K_SIO_DISCONNECT,   /* 41 */
    K_SIO_EVENT,        /* 42[id][...] */
    K_SIO_ACK,          /* 43<id>[...] */
    K_SIO_CONNECT_ERROR,/* 44{...} */
    K_SIO_BINARY,       /* 45 / 46: attachments follow as binary messages */
    K_SIO_OTHER_NS      /* a packet for a namespace other than "/" */
};

typedef struct sio_msg {
    enum sio_kind kind;
    int has_id;
    uint64_t id;          /* ack id, when has_id */
    const char *body;     /* JSON text after the header (may be empty) */
    size_t body_len;
} sio_msg;

/* Classifies one text message (not NUL-terminated). */
void sio_classify(const char *data, size_t len, sio_msg *out);

#endif
