/* Standard base64 (RFC 4648, '+' '/', '=' padding), as Engine.IO uses for
 * binary packets on the polling transport ("b<base64>"). Pure functions. */
#ifndef FASTSIO_BASE64_H
#define FASTSIO_BASE64_H
#include <stddef.h>
#include "buf.h"

/* Appends the encoding of src to out. 0 ok, -1 oom. */
int fio_b64_encode(const unsigned char *src, size_t n, fio_buf *out);
/* Appends the decoded bytes to out. 0 ok, -1 invalid input (bad char,
 * bad length or padding in the middle), -2 oom. Accepts missing padding
 * like Python's base64.b64decode does NOT: input length must be a multiple of 4. */
int fio_b64_decode(const char *src, size_t n, fio_buf *out);

#endif
