#include "eio.h"

#include <string.h>

#include "base64.h"

int eio_decode_text(const char *s, size_t len, int *type, const char **data, size_t *datalen)
{
    if (len == 0 || s[0] < '0' || s[0] > '6')
        return -1;
    *type = s[0] - '0';
    *data = s + 1;
    *datalen = len - 1;
    return 0;
}

int eio_is_b64(const char *s, size_t len)
{
    return len > 0 && s[0] == 'b';
}

int eio_decode_b64(const char *s, size_t len, fio_buf *out)
{
    if (!eio_is_b64(s, len))
        return -1;
    return fio_b64_decode(s + 1, len - 1, out);
}

int eio_payload_split(const char *s, size_t len, size_t max_packets, eio_elem_fn fn, void *ctx)
{
    if (len == 0)
        return -2;
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == EIO_RECORD_SEP && ++count > max_packets)
            return -1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == EIO_RECORD_SEP) {
            int rc = fn(ctx, s + start, i - start);
            if (rc != 0)
                return rc;
            start = i + 1;
        }
    }
    return 0;
}

int eio_payload_join(fio_frame *const *frames, size_t n, fio_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const fio_frame *f = frames[i];
        if (i > 0 && fio_buf_putc(out, EIO_RECORD_SEP) < 0)
            return -1;
        if (f->binary) {
            if (fio_buf_putc(out, 'b') < 0 ||
                fio_b64_encode((const unsigned char *)f->data, f->len, out) < 0)
                return -1;
        } else if (fio_buf_append(out, f->data, f->len) < 0) {
            return -1;
        }
    }
    return 0;
}

static int put_ll(fio_buf *b, long long v)
{
    if (v < 0) {
        if (fio_buf_putc(b, '-') < 0)
            return -1;
        return fio_buf_put_u64(b, (unsigned long long)(-(v + 1)) + 1);
    }
    return fio_buf_put_u64(b, (unsigned long long)v);
}

#define PUT(lit) fio_buf_append(out, lit, sizeof(lit) - 1)

int eio_open_packet(fio_buf *out, const char *sid, size_t sidlen, int upgrade_websocket,
                    long long ping_timeout_ms, long long ping_interval_ms, long long max_payload)
{
    if (PUT("0{\"sid\":\"") < 0 || fio_buf_append(out, sid, sidlen) < 0 ||
        PUT("\",\"upgrades\":") < 0 ||
        (upgrade_websocket ? PUT("[\"websocket\"]") : PUT("[]")) < 0 ||
        PUT(",\"pingTimeout\":") < 0 || put_ll(out, ping_timeout_ms) < 0 ||
        PUT(",\"pingInterval\":") < 0 || put_ll(out, ping_interval_ms) < 0 ||
        PUT(",\"maxPayload\":") < 0 || put_ll(out, max_payload) < 0 || PUT("}") < 0)
        return -1;
    return 0;
}
