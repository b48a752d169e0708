/* Engine.IO / Socket.IO header reading for the load generator (see sio.h). */
#include "sio.h"

void sio_classify(const char *d, size_t len, sio_msg *m)
{
    m->kind = K_BAD;
    m->has_id = 0;
    m->id = 0;
    m->body = d;
    m->body_len = 0;
    if (len == 0)
        return;
    switch (d[0]) {
    case '0': m->kind = K_EIO_OPEN; m->body = d + 1; m->body_len = len - 1; return;
    case '1': m->kind = K_EIO_CLOSE; return;
    case '2': m->kind = K_EIO_PING; m->body = d + 1; m->body_len = len - 1; return;
    case '3': m->kind = K_EIO_PONG; return;
    case '6': m->kind = K_EIO_NOOP; return;
    case '4': break;
    default: return;
    }
    if (len < 2)
        return;
    size_t pos = 2;
    switch (d[1]) {
    case '0': m->kind = K_SIO_CONNECT; break;
    case '1': m->kind = K_SIO_DISCONNECT; break;
    case '2': m->kind = K_SIO_EVENT; break;
    case '3': m->kind = K_SIO_ACK; break;
    case '4': m->kind = K_SIO_CONNECT_ERROR; break;
    case '5':
    case '6': m->kind = K_SIO_BINARY; return;
    default: return;
    }
    if (pos < len && d[pos] == '/') {
        m->kind = K_SIO_OTHER_NS;
        return;
    }
    while (pos < len && d[pos] >= '0' && d[pos] <= '9') {
        uint64_t digit = (uint64_t)(d[pos] - '0');
        if (m->id > UINT64_MAX / 10 || (m->id == UINT64_MAX / 10 && digit > UINT64_MAX % 10)) {
            m->kind = K_BAD;
            return;
        }
        m->id = m->id * 10 + digit;
        m->has_id = 1;
        pos++;
    }
    if (m->kind == K_SIO_ACK && !m->has_id) {
        m->kind = K_BAD;
        return;
    }
    m->body = d + pos;
    m->body_len = len - pos;
}
