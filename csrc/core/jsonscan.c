/* JSON scanning without a tree. See jsonscan.h for the contracts.
 *
 * One recursive-descent scanner (scan_value) validates a value and reports
 * where it ends; every public function validates its whole input with it
 * before producing any output, so a caller never sees part of an invalid
 * text. Recursion depth is bounded by FIO_JSON_MAX_DEPTH. Every index is
 * checked against the length before use: any byte sequence is a valid input. */
#include "jsonscan.h"

#include <stdint.h>
#include <string.h>

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int fio_json_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && is_ws(p[i]))
        i++;
    return i;
}

/* 1 if p[i..] starts with lit. */
static int has_literal(const char *p, size_t n, size_t i, const char *lit)
{
    size_t len = strlen(lit);
    return n - i >= len && memcmp(p + i, lit, len) == 0;
}

/* ------------------------------------------------------------- scanning */

/* String token at p[*i] == '"'. On success *i is past the closing quote. */
static int scan_string(const char *p, size_t n, size_t *i)
{
    size_t k = *i + 1;
    while (k < n) {
        unsigned char c = (unsigned char)p[k];
        if (c == '"') {
            *i = k + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            k++;
            continue;
        }
        if (k + 1 >= n)
            return -1;
        char e = p[k + 1];
        if (e == 'u') {
            if (n - k < 6)
                return -1;
            for (size_t h = 2; h < 6; h++)
                if (fio_json_hex_value(p[k + h]) < 0)
                    return -1;
            k += 6;
        } else if (e != '\0' && strchr("\"\\/bfnrt", e)) {
            k += 2;
        } else {
            return -1;
        }
    }
    return -1;
}

/* Digits at p[*i..]: at least one. */
static int scan_digits(const char *p, size_t n, size_t *i)
{
    size_t k = *i;
    while (k < n && is_digit(p[k]))
        k++;
    if (k == *i)
        return -1;
    *i = k;
    return 0;
}

/* Number at p[*i] ('-' or a digit), or -Infinity. */
static int scan_number(const char *p, size_t n, size_t *i)
{
    size_t k = *i;
    if (p[k] == '-') {
        k++;
        if (has_literal(p, n, k, "Infinity")) {
            *i = k + 8;
            return 0;
        }
    }
    if (k >= n)
        return -1;
    if (p[k] == '0')
        k++;
    else if (scan_digits(p, n, &k) < 0)
        return -1;
    if (k < n && p[k] == '.') {
        k++;
        if (scan_digits(p, n, &k) < 0)
            return -1;
    }
    if (k < n && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < n && (p[k] == '+' || p[k] == '-'))
            k++;
        if (scan_digits(p, n, &k) < 0)
            return -1;
    }
    *i = k;
    return 0;
}

static enum fio_json_kind scan_value(const char *p, size_t n, size_t *i, int depth);

/* Array at p[*i] == '['; depth counts the containers around it. */
static int scan_array(const char *p, size_t n, size_t *i, int depth)
{
    size_t k = skip_ws(p, n, *i + 1);
    if (k < n && p[k] == ']') {
        *i = k + 1;
        return 0;
    }
    for (;;) {
        if (scan_value(p, n, &k, depth + 1) == FIO_JSON_INVALID)
            return -1;
        k = skip_ws(p, n, k);
        if (k >= n)
            return -1;
        if (p[k] == ']') {
            *i = k + 1;
            return 0;
        }
        if (p[k] != ',')
            return -1;
        k = skip_ws(p, n, k + 1);
    }
}

/* Object at p[*i] == '{'. */
static int scan_object(const char *p, size_t n, size_t *i, int depth)
{
    size_t k = skip_ws(p, n, *i + 1);
    if (k < n && p[k] == '}') {
        *i = k + 1;
        return 0;
    }
    for (;;) {
        if (k >= n || p[k] != '"' || scan_string(p, n, &k) < 0)
            return -1;
        k = skip_ws(p, n, k);
        if (k >= n || p[k] != ':')
            return -1;
        k = skip_ws(p, n, k + 1);
        if (scan_value(p, n, &k, depth + 1) == FIO_JSON_INVALID)
            return -1;
        k = skip_ws(p, n, k);
        if (k >= n)
            return -1;
        if (p[k] == '}') {
            *i = k + 1;
            return 0;
        }
        if (p[k] != ',')
            return -1;
        k = skip_ws(p, n, k + 1);
    }
}

/* Literal lit at p[*i]: kind, or INVALID. */
static enum fio_json_kind scan_literal(const char *p, size_t n, size_t *i, const char *lit,
                                       enum fio_json_kind kind)
{
    if (!has_literal(p, n, *i, lit))
        return FIO_JSON_INVALID;
    *i += strlen(lit);
    return kind;
}

/* The value starting exactly at p[*i] (no leading whitespace). On success
 * returns its kind and moves *i past it; depth is the number of containers
 * enclosing it. */
static enum fio_json_kind scan_value(const char *p, size_t n, size_t *i, int depth)
{
    if (*i >= n)
        return FIO_JSON_INVALID;
    switch (p[*i]) {
    case '{':
        if (depth >= FIO_JSON_MAX_DEPTH || scan_object(p, n, i, depth) < 0)
            return FIO_JSON_INVALID;
        return FIO_JSON_OBJECT;
    case '[':
        if (depth >= FIO_JSON_MAX_DEPTH || scan_array(p, n, i, depth) < 0)
            return FIO_JSON_INVALID;
        return FIO_JSON_ARRAY;
    case '"':
        return scan_string(p, n, i) < 0 ? FIO_JSON_INVALID : FIO_JSON_STRING;
    case 'n':
        return scan_literal(p, n, i, "null", FIO_JSON_NULL);
    case 't':
        return scan_literal(p, n, i, "true", FIO_JSON_TRUE);
    case 'f':
        return scan_literal(p, n, i, "false", FIO_JSON_FALSE);
    case 'N':
        return scan_literal(p, n, i, "NaN", FIO_JSON_NUMBER);
    case 'I':
        return scan_literal(p, n, i, "Infinity", FIO_JSON_NUMBER);
    default:
        if (p[*i] != '-' && !is_digit(p[*i]))
            return FIO_JSON_INVALID;
        return scan_number(p, n, i) < 0 ? FIO_JSON_INVALID : FIO_JSON_NUMBER;
    }
}

/* Kind of the one value in p[0..n); *start and *end (may be NULL) receive
 * its trimmed span. */
static enum fio_json_kind whole_value(const char *p, size_t n, size_t *start, size_t *end)
{
    if (n > 0 && p == NULL)
        return FIO_JSON_INVALID;
    size_t i = skip_ws(p, n, 0), s = i;
    enum fio_json_kind kind = scan_value(p, n, &i, 0);
    if (kind == FIO_JSON_INVALID)
        return kind;
    size_t e = i;
    if (skip_ws(p, n, i) != n)
        return FIO_JSON_INVALID;
    if (start)
        *start = s;
    if (end)
        *end = e;
    return kind;
}

enum fio_json_kind fio_json_kind(const char *p, size_t n)
{
    return whole_value(p, n, NULL, NULL);
}

/* ------------------------------------------------------ string decoding */

/* Code unit of the \uXXXX escape at p[k] == '\\' (validated). */
static unsigned unit_at(const char *p, size_t k)
{
    unsigned u = 0;
    for (size_t h = 2; h < 6; h++)
        u = u << 4 | (unsigned)fio_json_hex_value(p[k + h]);
    return u;
}

static size_t put_utf8(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the next character of a validated string body p[*k..end) (end is
 * the index of the closing quote) into out; returns its byte count and moves
 * *k past it. A surrogate pair of escapes becomes one 4-byte character; any
 * other surrogate escape its 3-byte form. */
static size_t next_char(const char *p, size_t end, size_t *k, unsigned char out[4])
{
    size_t i = *k;
    if (p[i] != '\\') {
        out[0] = (unsigned char)p[i];
        *k = i + 1;
        return 1;
    }
    char e = p[i + 1];
    if (e != 'u') {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        out[0] = (unsigned char)to[strchr(from, e) - from];
        *k = i + 2;
        return 1;
    }
    uint32_t u = unit_at(p, i);
    *k = i + 6;
    if (u >= 0xD800 && u < 0xDC00 && end - *k >= 6 && p[*k] == '\\' && p[*k + 1] == 'u') {
        uint32_t lo = unit_at(p, *k);
        if (lo >= 0xDC00 && lo < 0xE000) {
            *k += 6;
            return put_utf8(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00), out);
        }
    }
    return put_utf8(u, out);
}

/* 1 if the validated string token p[s..e) decodes to exactly key. */
static int token_equals(const char *p, size_t s, size_t e, const char *key, size_t keylen)
{
    size_t body = s + 1, end = e - 1;
    if (!memchr(p + body, '\\', end - body))
        return end - body == keylen && memcmp(p + body, key, keylen) == 0;
    size_t k = body, matched = 0;
    unsigned char ch[4];
    while (k < end) {
        size_t len = next_char(p, end, &k, ch);
        if (keylen - matched < len || memcmp(key + matched, ch, len) != 0)
            return 0;
        matched += len;
    }
    return matched == keylen;
}

int fio_json_string_decode(const char *p, size_t n, fio_buf *out)
{
    size_t i = 0;
    if (n < 2 || p == NULL || p[0] != '"' || scan_string(p, n, &i) < 0 || i != n)
        return -1;
    /* Decoding never lengthens: an escape of 2, 6 or 12 bytes gives 1, <= 3 or
     * 4 bytes; so one reservation covers the output. */
    if (fio_buf_reserve(out, n - 2) < 0)
        return -2;
    size_t k = 1, end = n - 1;
    while (k < end) {
        unsigned char ch[4];
        size_t len = next_char(p, end, &k, ch);
        memcpy(out->data + out->len, ch, len);
        out->len += len;
    }
    out->data[out->len] = '\0';
    return 0;
}

/* ----------------------------------------------------- objects, arrays */

int fio_json_object_get(const char *p, size_t n, const char *const *keys, size_t nkeys,
                        fio_str *values)
{
    for (size_t j = 0; j < nkeys; j++)
        values[j] = (fio_str){NULL, 0};
    size_t start;
    if (whole_value(p, n, &start, NULL) != FIO_JSON_OBJECT)
        return -1;
    /* Valid: walk the members again without further checks. */
    size_t k = skip_ws(p, n, start + 1);
    while (p[k] != '}') {
        size_t ks = k;
        scan_string(p, n, &k);
        size_t ke = k;
        k = skip_ws(p, n, skip_ws(p, n, k) + 1);   /* past ':' */
        size_t vs = k;
        scan_value(p, n, &k, 1);
        for (size_t j = 0; j < nkeys; j++)
            if (token_equals(p, ks, ke, keys[j], strlen(keys[j])))
                values[j] = (fio_str){p + vs, k - vs};
        k = skip_ws(p, n, k);
        if (p[k] == ',')
            k = skip_ws(p, n, k + 1);
    }
    return 0;
}

int fio_json_array_each(const char *p, size_t n, fio_json_item_fn fn, void *ctx)
{
    size_t start;
    if (whole_value(p, n, &start, NULL) != FIO_JSON_ARRAY)
        return -1;
    size_t k = skip_ws(p, n, start + 1);
    while (p[k] != ']') {
        size_t s = k;
        scan_value(p, n, &k, 1);
        int rc = fn(ctx, (fio_str){p + s, k - s});
        if (rc != 0)
            return rc;
        k = skip_ws(p, n, k);
        if (p[k] == ',')
            k = skip_ws(p, n, k + 1);
    }
    return 0;
}

/* -------------------------------------------------------------- compact */

int fio_json_compact(const char *p, size_t n, fio_buf *out)
{
    size_t s, e;
    if (whole_value(p, n, &s, &e) == FIO_JSON_INVALID)
        return -1;
    if (fio_buf_reserve(out, e - s) < 0)
        return -2;
    char *w = out->data + out->len;
    int in_string = 0;
    for (size_t i = s; i < e; i++) {
        char c = p[i];
        if (in_string) {
            *w++ = c;
            if (c == '\\')
                *w++ = p[++i];   /* the escaped byte: never ends the string */
            else if (c == '"')
                in_string = 0;
        } else if (!is_ws(c)) {
            *w++ = c;
            in_string = c == '"';
        }
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return 0;
}
