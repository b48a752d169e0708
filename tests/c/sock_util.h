/* Blocking socket helpers shared by the C tests of the native transport
 * (test_transport.c, test_deflate.c): whole sends and receives, reading an
 * HTTP head, and sending one masked websocket frame. Test code only. */
#ifndef FASTSIO_TEST_SOCK_UTIL_H
#define FASTSIO_TEST_SOCK_UTIL_H
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int recv_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = recv(fd, c, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads up to and including "\r\n\r\n" one byte at a time, so that nothing
 * after the head is consumed. Returns its length, or -1. */
static inline int read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (recv_all(fd, buf + n, 1) < 0)
            return -1;
        n++;
        buf[n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return (int)n;
    }
    return -1;
}

/* Sends one masked client frame: fin and rsv1 flags, opcode op. 0 / -1. */
static inline int ws_send_frame(int fd, int fin, int rsv1, int op, const void *payload,
                                size_t len)
{
    unsigned char *m = malloc(len + 14);
    if (!m)
        return -1;
    size_t hl = 0;
    m[hl++] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
    if (len < 126) {
        m[hl++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        m[hl++] = 0x80 | 126;
        m[hl++] = (unsigned char)(len >> 8);
        m[hl++] = (unsigned char)len;
    } else {
        m[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            m[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    unsigned char mask[4] = {0x12, 0x34, (unsigned char)rand(), (unsigned char)rand()};
    memcpy(m + hl, mask, 4);
    hl += 4;
    for (size_t i = 0; i < len; i++)
        m[hl + i] = ((const unsigned char *)payload)[i] ^ mask[i & 3];
    int rc = send_all(fd, m, hl + len);
    free(m);
    return rc;
}

#endif
