/* JSON helpers of the fuzz targets, written independently of jsonscan.c
 * (except where noted) so that they can check it: walking a text that is
 * already known to be valid, UTF-16 views of decoded strings, and string
 * encoders. */
#ifndef FASTSIO_FUZZ_JSON_H
#define FASTSIO_FUZZ_JSON_H
#include "fuzz_util.h"
#include "jsonscan.h"

static inline int fz_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline size_t fz_skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && fz_is_ws(p[i]))
        i++;
    return i;
}

/* End (past the closing quote) of the string token at p[i] == '"' of a valid text. */
static inline size_t fz_skip_string(const char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    FZ_CHECK(0 && "unterminated string in a text jsonscan accepted");
    return n;
}

/* End of the value at p[i] of a valid text. */
static inline size_t fz_skip_value(const char *p, size_t n, size_t i)
{
    if (p[i] == '"')
        return fz_skip_string(p, n, i);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = p[i];
            if (c == '"') {
                i = fz_skip_string(p, n, i);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']')
                if (--depth == 0)
                    return i + 1;
            i++;
        }
        FZ_CHECK(0 && "unbalanced container in a text jsonscan accepted");
    }
    while (i < n && !fz_is_ws(p[i]) && p[i] != ',' && p[i] != '}' && p[i] != ']')
        i++;
    return i;
}

/* UTF-16 code units of WTF-8 bytes (UTF-8 with encoded surrogates allowed,
 * as jsonscan's string decoding and Python's surrogatepass produce). Appends
 * units to out (as uint16_t). Returns 0, or -1 if the bytes are not WTF-8. */
static inline int fz_utf16(const unsigned char *s, size_t n, fio_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t len;
        if (c < 0x80) {
            cp = c;
            len = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F;
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F;
            len = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07;
            len = 4;
        } else {
            return -1;
        }
        if (n - i < len)
            return -1;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return -1;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return -1;   /* overlong or out of range */
        uint16_t u[2];
        size_t nu = 1;
        if (cp >= 0x10000) {
            u[0] = (uint16_t)(0xD800 | (cp - 0x10000) >> 10);
            u[1] = (uint16_t)(0xDC00 | ((cp - 0x10000) & 0x3FF));
            nu = 2;
        } else {
            u[0] = (uint16_t)cp;
        }
        FZ_OK(fio_buf_append(out, u, nu * sizeof u[0]));
        i += len;
    }
    return 0;
}

static inline unsigned fz_hex4(const char *p)
{
    unsigned u = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        u = u << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return u;
}

static inline void fz_put_wtf8(uint32_t cp, fio_buf *out)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    FZ_OK(fio_buf_append(out, b, n));
}

/* The reference for fio_json_string_decode, on a token known to be valid:
 * raw bytes copied, simple escapes, \uXXXX as UTF-8, a high surrogate
 * escape directly followed by a low one as one 4-byte character, any other
 * surrogate escape as its 3-byte form. Appends to out. */
static inline void fz_ref_string_decode(const char *p, size_t n, fio_buf *out)
{
    size_t i = 1, end = n - 1;
    while (i < end) {
        if (p[i] != '\\') {
            FZ_OK(fio_buf_putc(out, p[i++]));
            continue;
        }
        char e = p[i + 1];
        if (e != 'u') {
            char c = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r'
                   : e == 't' ? '\t' : e;
            FZ_OK(fio_buf_putc(out, c));
            i += 2;
            continue;
        }
        uint32_t u = fz_hex4(p + i + 2);
        i += 6;
        if (u >= 0xD800 && u <= 0xDBFF && end - i >= 6 && p[i] == '\\' && p[i + 1] == 'u') {
            uint32_t lo = fz_hex4(p + i + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
        }
        fz_put_wtf8(u, out);
    }
}

/* A string token for the bytes s: '"', '\\' and control characters escaped,
 * every other byte as is. Appends to out. */
static inline void fz_escape_raw(const unsigned char *s, size_t n, fio_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    FZ_OK(fio_buf_putc(out, '"'));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            FZ_OK(fio_buf_append(out, e, 2));
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            FZ_OK(fio_buf_append(out, e, 6));
        } else {
            FZ_OK(fio_buf_putc(out, (char)c));
        }
    }
    FZ_OK(fio_buf_putc(out, '"'));
}

/* A string token for UTF-16 units: every unit as \uXXXX (upper-case hex). */
static inline void fz_escape_units(const uint16_t *u, size_t n, fio_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    FZ_OK(fio_buf_putc(out, '"'));
    for (size_t i = 0; i < n; i++) {
        char e[6] = {'\\', 'u', hex[u[i] >> 12], hex[u[i] >> 8 & 15], hex[u[i] >> 4 & 15],
                     hex[u[i] & 15]};
        FZ_OK(fio_buf_append(out, e, 6));
    }
    FZ_OK(fio_buf_putc(out, '"'));
}

/* A valid JSON text with whitespace outside strings removed and every
 * string replaced by '"' + its UTF-16 units as 4 hex digits + '"' (decoded
 * with fio_json_string_decode), so that two texts compare equal when they
 * hold the same values written with other escapes. Appends to out; -1 if
 * a string does not decode to WTF-8. */
static inline int fz_normalize(const char *p, size_t n, fio_buf *out)
{
    fio_buf dec, units;
    fio_buf_init(&dec);
    fio_buf_init(&units);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        if (fz_is_ws(p[i])) {
            i++;
        } else if (p[i] == '"') {
            size_t e = fz_skip_string(p, n, i);
            dec.len = units.len = 0;
            FZ_OK(fio_json_string_decode(p + i, e - i, &dec));
            rc = fz_utf16((const unsigned char *)dec.data, dec.len, &units);
            if (rc == 0) {
                char tmp[5];
                FZ_OK(fio_buf_putc(out, '"'));
                for (size_t k = 0; k < units.len / 2; k++) {
                    uint16_t u;
                    memcpy(&u, units.data + 2 * k, 2);
                    snprintf(tmp, sizeof tmp, "%04x", u);
                    FZ_OK(fio_buf_append(out, tmp, 4));
                }
                FZ_OK(fio_buf_putc(out, '"'));
            }
            i = e;
        } else {
            FZ_OK(fio_buf_putc(out, p[i]));
            i++;
        }
    }
    fio_buf_free(&dec);
    fio_buf_free(&units);
    return rc;
}

#endif
