/* Standard base64 (RFC 4648 section 4). See base64.h for the contract.
 * Decoding is stricter than Python's base64.b64decode: characters outside
 * the alphabet are errors rather than skipped. Like Python, the unused low
 * bits of the last group are not required to be zero. */
#include "base64.h"

static const char B64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fio_b64_encode(const unsigned char *src, size_t n, fio_buf *out)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > ((size_t)-1) / 4 || fio_buf_reserve(out, groups * 4) < 0)
        return -1;
    char *p = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)src[i] << 16 | (unsigned long)src[i + 1] << 8 | src[i + 2];
        *p++ = B64_ALPHABET[v >> 18];
        *p++ = B64_ALPHABET[(v >> 12) & 63];
        *p++ = B64_ALPHABET[(v >> 6) & 63];
        *p++ = B64_ALPHABET[v & 63];
    }
    if (i < n) {
        int two = i + 1 < n;
        unsigned long v = (unsigned long)src[i] << 16 | (two ? (unsigned long)src[i + 1] << 8 : 0);
        *p++ = B64_ALPHABET[v >> 18];
        *p++ = B64_ALPHABET[(v >> 12) & 63];
        *p++ = two ? B64_ALPHABET[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* The 6-bit value of an alphabet character, -1 for anything else ('=' too). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* On error nothing is appended (out->len is unchanged). Padding ('=' or
 * "==") is accepted only at the end of the last group. */
int fio_b64_decode(const char *src, size_t n, fio_buf *out)
{
    if (n % 4 != 0)
        return -1;
    if (fio_buf_reserve(out, n / 4 * 3) < 0)
        return -2;
    unsigned char *start = (unsigned char *)out->data + out->len;
    unsigned char *p = start;
    for (size_t i = 0; i < n; i += 4) {
        const unsigned char *g = (const unsigned char *)src + i;
        int pad = 0;
        if (i + 4 == n && g[3] == '=')
            pad = g[2] == '=' ? 2 : 1;
        unsigned long w = 0;
        for (int k = 0; k < 4; k++) {
            int v = k < 4 - pad ? b64_value(g[k]) : 0;
            if (v < 0)
                goto invalid;
            w = w << 6 | (unsigned long)v;
        }
        *p++ = (unsigned char)(w >> 16);
        if (pad < 2)
            *p++ = (unsigned char)(w >> 8);
        if (pad < 1)
            *p++ = (unsigned char)w;
    }
    out->len += (size_t)(p - start);
    out->data[out->len] = '\0';
    return 0;

invalid:
    out->data[out->len] = '\0';   /* drop the partial output */
    return -1;
}
