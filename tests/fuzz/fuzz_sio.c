/* libFuzzer target: Socket.IO packet headers (csrc/core/sio.c).
 *
 * The input is decoded as a Socket.IO packet, and, when it is an Engine.IO
 * MESSAGE ("4..."), its payload too (from an exact-size copy). Checked:
 *  - a refusal sets a message; an accepted packet has type 0..6, an
 *    attachment count 0..SIO_MAX_ATTACHMENTS that only binary types have
 *    (and they always write one), a namespace that starts with '/' and
 *    holds no ',' or '?' (a view into the input, or the static "/"), no id
 *    (SIO_NO_ID, no digits) or an id of 1..SIO_MAX_ID_DIGITS digits without
 *    leading zeros (a view into the input; more digits written is a
 *    refusal) whose value is id when it has at most SIO_ID_VALUE_DIGITS
 *    digits, else id is SIO_BIG_ID, and data = the rest of the input;
 *  - round trip: sio_encode_header_digits(fields) + data decodes to the
 *    same fields and data, encoding those again gives the same text, and
 *    sio_encode_header with the id's value writes the same header. Not
 *    asserted where the protocol itself is ambiguous (python-socketio's
 *    encoder writes the same text): a packet that spells the default
 *    namespace ("/," or "/?q,") before data starting with '/', or before an
 *    id and data starting with '-' on a non-binary type: the encoder drops
 *    the namespace and the data is then read as a namespace or the id as an
 *    attachment count. Real Socket.IO data is a JSON array, object or
 *    string, so it never starts with '/' or '-'. */
#include "sio.h"

#include "eio.h"
#include "fuzz_util.h"

static int is_binary(int type)
{
    return type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
}

static void check_fields(const char *s, size_t n, const sio_packet *p)
{
    FZ_CHECK(p->type >= 0 && p->type <= 6 && p->type == s[0] - '0');
    FZ_CHECK(p->attachments >= 0 && p->attachments <= SIO_MAX_ATTACHMENTS);
    FZ_CHECK(is_binary(p->type) || p->attachments == 0);
    if (is_binary(p->type))
        FZ_CHECK(memchr(s, '-', n) != NULL);
    FZ_CHECK(p->nsplen >= 1 && p->nsp[0] == '/');
    FZ_CHECK(!memchr(p->nsp, ',', p->nsplen) && !memchr(p->nsp, '?', p->nsplen));
    int static_root = p->nsp < s || p->nsp >= s + n;
    if (static_root)
        FZ_CHECK(p->nsplen == 1);
    else
        FZ_CHECK(p->nsplen <= (size_t)(s + n - p->nsp));
    if (p->id_digits == NULL) {
        FZ_CHECK(p->id == SIO_NO_ID && p->id_len == 0);
    } else {
        FZ_CHECK(p->id_len >= 1 && p->id_len <= SIO_MAX_ID_DIGITS);
        FZ_CHECK(p->id_digits >= s && p->id_len <= (size_t)(s + n - p->id_digits));
        FZ_CHECK(p->id_len == 1 || p->id_digits[0] != '0');
        long long v = 0;
        for (size_t i = 0; i < p->id_len; i++) {
            FZ_CHECK(p->id_digits[i] >= '0' && p->id_digits[i] <= '9');
            if (p->id_len <= SIO_ID_VALUE_DIGITS)
                v = v * 10 + (p->id_digits[i] - '0');
        }
        FZ_CHECK(p->id == (p->id_len <= SIO_ID_VALUE_DIGITS ? v : SIO_BIG_ID));
        /* the data starts right after the digits */
        FZ_CHECK(p->id_digits + p->id_len == p->data);
    }
    FZ_CHECK(p->data >= s && p->data + p->datalen == s + n);
    /* data never starts with a digit: digits there are the id */
    FZ_CHECK(p->datalen == 0 || p->data[0] < '0' || p->data[0] > '9');
}

static int same(const sio_packet *a, const sio_packet *b)
{
    return a->type == b->type && a->attachments == b->attachments && a->id == b->id &&
           fz_eq(a->id_digits, a->id_len, b->id_digits, b->id_len) &&
           fz_eq(a->nsp, a->nsplen, b->nsp, b->nsplen) &&
           fz_eq(a->data, a->datalen, b->data, b->datalen);
}

static void encode(const sio_packet *p, fio_buf *out)
{
    out->len = 0;
    FZ_OK(sio_encode_header_digits(out, p->type, p->attachments, p->nsp, p->nsplen,
                                   p->id_digits, p->id_len));
    if (p->id != SIO_BIG_ID) {
        fio_buf v;
        fio_buf_init(&v);
        FZ_OK(sio_encode_header(&v, p->type, p->attachments, p->nsp, p->nsplen, p->id));
        FZ_CHECK(fz_eq(v.data, v.len, out->data, out->len));
        fio_buf_free(&v);
    }
    FZ_OK(fio_buf_append(out, p->data, p->datalen));
}

static void check_packet(const char *s, size_t n)
{
    sio_packet p;
    const char *err = NULL;
    int rc = sio_decode(s, n, &p, &err);
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FZ_CHECK(err != NULL && err[0] != '\0');
        return;
    }
    check_fields(s, n, &p);
    if (p.nsplen == 1 && p.datalen > 0 &&
        (p.data[0] == '/' || (p.data[0] == '-' && p.id != SIO_NO_ID && !is_binary(p.type))))
        return;   /* ambiguous in the protocol: see the top of this file */

    fio_buf enc, enc2;
    fio_buf_init(&enc);
    fio_buf_init(&enc2);
    encode(&p, &enc);
    /* the canonical header is never longer, but for the ',' that ends a
     * namespace written at the very end ("1/chat") */
    FZ_CHECK(enc.len <= n + 1);
    char *copy = fz_dup(enc.data, enc.len);
    sio_packet q;
    FZ_OK(sio_decode(copy, enc.len, &q, &err));
    check_fields(copy, enc.len, &q);
    FZ_CHECK(same(&p, &q));
    encode(&q, &enc2);
    FZ_CHECK(fz_eq(enc.data, enc.len, enc2.data, enc2.len));
    free(copy);
    fio_buf_free(&enc);
    fio_buf_free(&enc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_packet(s, size);
    int type;
    const char *d;
    size_t dn;
    if (eio_decode_text(s, size, &type, &d, &dn) == 0 && type == EIO_MESSAGE) {
        char *copy = fz_dup(d, dn);
        check_packet(copy, dn);
        free(copy);
    }
    return 0;
}
