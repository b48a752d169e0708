/* Engine.IO v4 codec. See eio.h for the contracts; differences from
 * python-engineio 4.15.1 (all deliberate):
 *  - a type digit '7'..'9' is an error here (python-engineio decodes it and
 *    the server then ignores the packet);
 *  - "b<base64>" must be strict base64 (python skips foreign characters);
 *  - a JSONP body ("d=...") is not unwrapped: fastsio does not serve JSONP;
 *  - an empty polling body is an error (-2) rather than zero packets. */
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
    /* Count first so that a refused body delivers nothing. */
    size_t count = 1;
    for (const char *p = s, *end = s + len; (p = memchr(p, EIO_RECORD_SEP, (size_t)(end - p)));
         p++)
        count++;
    if (count > max_packets)
        return -1;
    const char *elem = s, *end = s + len;
    for (;;) {
        const char *sep = memchr(elem, EIO_RECORD_SEP, (size_t)(end - elem));
        const char *stop = sep ? sep : end;
        int rc = fn(ctx, elem, (size_t)(stop - elem));
        if (rc != 0)
            return rc;
        if (!sep)
            return 0;
        elem = sep + 1;
    }
}

/* Undoes a partial append, so a failed call leaves out as it was. */
static void truncate_to(fio_buf *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

int eio_payload_join(fio_frame *const *frames, size_t n, fio_buf *out)
{
    size_t mark = out->len;
    for (size_t i = 0; i < n; i++) {
        const fio_frame *f = frames[i];
        if (i > 0 && fio_buf_putc(out, EIO_RECORD_SEP) < 0)
            goto oom;
        if (f->binary) {
            if (fio_buf_putc(out, 'b') < 0 ||
                fio_b64_encode((const unsigned char *)f->data, f->len, out) < 0)
                goto oom;
        } else if (fio_buf_append(out, f->data, f->len) < 0) {
            goto oom;
        }
    }
    return 0;

oom:
    truncate_to(out, mark);
    return -1;
}

/* Decimal like Python's str(int), including a leading '-' for negatives. */
static int put_ll(fio_buf *b, long long v)
{
    if (v >= 0)
        return fio_buf_put_u64(b, (unsigned long long)v);
    if (fio_buf_putc(b, '-') < 0)
        return -1;
    return fio_buf_put_u64(b, 0ULL - (unsigned long long)v);
}

#define PUT_LIT(b, lit) fio_buf_append((b), (lit), sizeof(lit) - 1)

/* Key order and separators follow python-engineio: the dict built in
 * AsyncServer._handle_connect, serialized with json.dumps(separators=(',', ':')). */
int eio_open_packet(fio_buf *out, const char *sid, size_t sidlen, int upgrade_websocket,
                    long long ping_timeout_ms, long long ping_interval_ms, long long max_payload)
{
    size_t mark = out->len;
    if (PUT_LIT(out, "0{\"sid\":\"") < 0 || fio_buf_append(out, sid, sidlen) < 0 ||
        PUT_LIT(out, "\",\"upgrades\":") < 0 ||
        (upgrade_websocket ? PUT_LIT(out, "[\"websocket\"]") : PUT_LIT(out, "[]")) < 0 ||
        PUT_LIT(out, ",\"pingTimeout\":") < 0 || put_ll(out, ping_timeout_ms) < 0 ||
        PUT_LIT(out, ",\"pingInterval\":") < 0 || put_ll(out, ping_interval_ms) < 0 ||
        PUT_LIT(out, ",\"maxPayload\":") < 0 || put_ll(out, max_payload) < 0 ||
        PUT_LIT(out, "}") < 0) {
        truncate_to(out, mark);
        return -1;
    }
    return 0;
}
