#include "base64.h"

static const char B64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fio_b64_encode(const unsigned char *src, size_t n, fio_buf *out)
{
    if (fio_buf_reserve(out, (n + 2) / 3 * 4) < 0)
        return -1;
    char *p = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8 | src[i + 2];
        *p++ = B64_ALPHABET[v >> 18];
        *p++ = B64_ALPHABET[(v >> 12) & 63];
        *p++ = B64_ALPHABET[(v >> 6) & 63];
        *p++ = B64_ALPHABET[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)src[i] << 16 | (i + 1 < n ? (unsigned)src[i + 1] << 8 : 0);
        *p++ = B64_ALPHABET[v >> 18];
        *p++ = B64_ALPHABET[(v >> 12) & 63];
        *p++ = i + 1 < n ? B64_ALPHABET[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}

static int b64_value(char c)
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

int fio_b64_decode(const char *src, size_t n, fio_buf *out)
{
    if (n % 4 != 0)
        return -1;
    if (fio_buf_reserve(out, n / 4 * 3) < 0)
        return -2;
    unsigned char *p = (unsigned char *)out->data + out->len;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = 0;
        if (last && src[i + 3] == '=')
            pad = src[i + 2] == '=' ? 2 : 1;
        int v[4];
        for (int k = 0; k < 4 - pad; k++) {
            v[k] = b64_value(src[i + (size_t)k]);
            if (v[k] < 0)
                return -1;
        }
        for (int k = 4 - pad; k < 4; k++)
            v[k] = 0;
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        *p++ = (unsigned char)(w >> 16);
        if (pad < 2)
            *p++ = (unsigned char)(w >> 8);
        if (pad < 1)
            *p++ = (unsigned char)w;
    }
    out->len = (size_t)((char *)p - out->data);
    out->data[out->len] = '\0';
    return 0;
}
