/* libFuzzer target: csrc/core/base64.c.
 *
 * The input is used twice:
 *  - as base64 text: fio_b64_decode must accept exactly what an independent
 *    checker of the contract (base64.h) accepts; what it accepts has the
 *    expected length, encodes back to the input except for the unused low
 *    bits of the last group (decoding does not require them to be zero), and
 *    decoding that encoding gives the same bytes; a refusal appends nothing.
 *  - as bytes: decode(encode(x)) == x, and the encoding is canonical. */
#include "base64.h"
#include "fuzz_util.h"

static int in_alphabet(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* base64.h: length a multiple of 4, alphabet characters only, except "="
 * or "==" at the very end. Returns the padding count, or -1. */
static int reference_check(const unsigned char *s, size_t n)
{
    if (n % 4 != 0)
        return -1;
    int pad = 0;
    if (n >= 4 && s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n - (size_t)pad; i++)
        if (!in_alphabet(s[i]))
            return -1;
    return pad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char prefix[] = "pre";
    fio_buf out, enc, again;
    fio_buf_init(&out);
    fio_buf_init(&enc);
    fio_buf_init(&again);

    /* --- the input as base64 text */
    fz_buf_set(&out, prefix, 3);
    int rc = fio_b64_decode((const char *)data, size, &out);
    int pad = reference_check(data, size);
    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK((rc == 0) == (pad >= 0));
    FZ_CHECK(memcmp(out.data, prefix, 3) == 0);
    if (rc < 0) {
        FZ_CHECK(out.len == 3);
    } else {
        size_t dlen = out.len - 3;
        FZ_CHECK(dlen == size / 4 * 3 - (size_t)pad);
        FZ_OK(fio_b64_encode((const unsigned char *)out.data + 3, dlen, &enc));
        FZ_CHECK(enc.len == size);
        /* Only the last alphabet character before the padding may differ
         * (its low 2 or 4 bits are not part of the bytes). */
        size_t loose = pad ? size - (size_t)pad - 1 : size;
        for (size_t i = 0; i < size; i++)
            FZ_CHECK(i == loose || enc.data[i] == (char)data[i]);
        FZ_OK(fio_b64_decode(enc.data, enc.len, &again));
        FZ_CHECK(fz_eq(again.data, again.len, out.data + 3, dlen));
    }

    /* --- the input as bytes */
    enc.len = 0;
    again.len = 0;
    FZ_OK(fio_b64_encode(data, size, &enc));
    FZ_CHECK(enc.len == (size + 2) / 3 * 4);
    FZ_CHECK(reference_check((const unsigned char *)enc.data, enc.len) == (int)((3 - size % 3) % 3));
    char *copy = fz_dup(enc.data, enc.len);
    FZ_OK(fio_b64_decode(copy, enc.len, &again));
    free(copy);
    FZ_CHECK(fz_eq(again.data, again.len, data, size));

    fio_buf_free(&out);
    fio_buf_free(&enc);
    fio_buf_free(&again);
    return 0;
}
