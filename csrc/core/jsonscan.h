/* JSON scanning without a tree: validate a text, find the raw text of the
 * values of an object's keys, walk an array's items, copy a value without its
 * insignificant whitespace, decode a string token. Used where a JSON text
 * from outside (a Redis pub/sub message) is routed and spliced into frames
 * without being re-serialized, so numbers and escapes stay byte for byte what
 * their producer wrote.
 *
 * Grammar: RFC 8259, plus what Python's json module writes and reads by
 * default (NaN, Infinity, -Infinity). Nesting is limited to FIO_JSON_MAX_DEPTH;
 * deeper input is invalid. Strings may hold any bytes >= 0x20 (UTF-8 is not
 * validated here: the text came from a JSON encoder or is refused downstream).
 * No allocation except into caller buffers; no Python; thread-agnostic. */
#ifndef FASTSIO_JSONSCAN_H
#define FASTSIO_JSONSCAN_H
#include <stddef.h>

#include "buf.h"
#include "hub.h"   /* fio_str */

#define FIO_JSON_MAX_DEPTH 128

enum fio_json_kind {
    FIO_JSON_INVALID = 0,
    FIO_JSON_NULL,
    FIO_JSON_FALSE,
    FIO_JSON_TRUE,
    FIO_JSON_NUMBER,     /* includes NaN, Infinity, -Infinity */
    FIO_JSON_STRING,
    FIO_JSON_ARRAY,
    FIO_JSON_OBJECT
};

/* Kind of the single value that p[0..n) holds, surrounding whitespace allowed;
 * FIO_JSON_INVALID unless the whole text is exactly one valid value. */
enum fio_json_kind fio_json_kind(const char *p, size_t n);

/* For a text holding one object: for each keys[i], values[i] gets the raw
 * span of its value (whitespace trimmed), or {NULL, 0} when absent. A key
 * that repeats takes its last value (as Python's json does). Keys are
 * compared after decoding escapes. Returns 0, or -1 if the text is not one
 * valid JSON object. */
int fio_json_object_get(const char *p, size_t n, const char *const *keys, size_t nkeys,
                        fio_str *values);

/* Calls fn for each item of the array in p[0..n) with the item's raw span
 * (trimmed), in order; stops when fn returns non-zero and returns that value.
 * Returns 0 after the last item, -1 if the text is not one valid array. */
typedef int (*fio_json_item_fn)(void *ctx, fio_str item);
int fio_json_array_each(const char *p, size_t n, fio_json_item_fn fn, void *ctx);

/* Appends the value in p[0..n) to out without whitespace outside strings
 * (what Python's json.dumps(..., separators=(",", ":")) would write for the
 * same value, given the same string escapes and number texts). 0 ok, -1
 * invalid (out unchanged), -2 oom (out unchanged). */
int fio_json_compact(const char *p, size_t n, fio_buf *out);

/* Appends the decoded bytes of the string token in p[0..n) (quotes included
 * in the span) to out as UTF-8; \u escapes, surrogate pairs included, become
 * UTF-8; a lone surrogate becomes its 3-byte (WTF-8) form, as Python's
 * surrogatepass would. 0 ok, -1 invalid (out unchanged), -2 oom. */
int fio_json_string_decode(const char *p, size_t n, fio_buf *out);

/* Value of one hex digit (0-9, a-f, A-F), or -1. */
int fio_json_hex_value(char c);

#endif
