/* permessage-deflate (RFC 7692) for the native transport: the outbound
 * compression, and the negotiation text the transport adds to lws's. No lws,
 * no Python.
 *
 * What is negotiated: every offer the transport accepts is answered
 * "permessage-deflate; server_no_context_takeover; client_no_context_takeover".
 * Outbound, each message is compressed on its own (a fresh raw deflate stream
 * with a 2^15 window, ended by a sync flush whose 00 00 ff ff tail is removed,
 * RFC 7692 7.2.1), so no compressor state lives per connection and one
 * compressed form serves every recipient of a broadcast frame (cached on the
 * frame, frame.h). Inbound, the transport inflates whole messages itself
 * (inflate.h; lws 4.1's inflater is not used); with the client keeping no
 * context either, the inflater is reset before every message and holds no
 * window per idle connection.
 *
 * Threads: a fio_deflater is used by one thread at a time (the transport's
 * service thread); fio_deflater_count may be read from any thread. */
#ifndef FASTSIO_DEFLATE_H
#define FASTSIO_DEFLATE_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"

/* zlib level the transport compresses with (docs/native-deflate.md). */
#define FIO_DEFLATE_LEVEL 1
/* The threshold callers use when they want python-engineio's default
 * (compression_threshold = 1024 bytes). */
#define FIO_DEFLATE_THRESHOLD_DEFAULT 1024

typedef struct fio_deflater fio_deflater;

/* A compressor at zlib level 1..9. NULL on oom or a bad level. */
fio_deflater *fio_deflater_new(int level);
void fio_deflater_free(fio_deflater *d);   /* NULL is ignored */
/* Messages compressed so far (cache misses included, cache hits not). Any
 * thread (relaxed). */
uint64_t fio_deflater_count(const fio_deflater *d);

/* Compresses len bytes as one message (no context kept) and appends the
 * compressed payload, tail removed, to out. 0, or -1 (oom, zlib error; out
 * keeps its old length). */
int fio_deflate_message(fio_deflater *d, const void *in, size_t len, fio_buf *out);

/* Appends f to out as one server websocket frame: compressed (RSV1 set) when
 * f->len >= threshold and compression makes it smaller, as it is otherwise.
 * cache 1: the compressed form is read from / published to f (frame.h), so a
 * frame is compressed once whatever the number of its recipients; cache 0:
 * compressed for this call only (measurements of per-connection
 * compression). 0, or -1 oom (out unchanged). */
int fio_deflate_frame_append(fio_deflater *d, fio_buf *out, fio_frame *f, size_t threshold,
                             int cache);

/* Negotiation. hdr/len: the Sec-WebSocket-Extensions value of the upgrade
 * request. 1 if lws may accept its permessage-deflate offer: lws 4.1 takes
 * the first offer, and we refuse one that asks for server_max_window_bits
 * (the client's inflater would be smaller than the 2^15 window every
 * recipient shares), 0 otherwise. */
int fio_pmd_offer_acceptable(const char *hdr, size_t len);

/* The longest answer line lws 4.1 writes (its budget, 192 bytes) and more. */
#define FIO_PMD_LINE_MAX 256

/* Completes lws 4.1's answer. end points just past the CRLF of the last
 * header line lws wrote into the 101 response; room bytes are writable from
 * end on. The bytes before end are read back to the start of that line (the
 * '\n' before it), at most FIO_PMD_LINE_MAX + 3 of them: the caller
 * guarantees they are readable. If the line is "Sec-WebSocket-Extensions:
 * permessage-deflate[; params]", appends the no_context_takeover params it
 * lacks and returns the new end (past a CRLF); otherwise (no such line, or
 * no room) writes nothing and returns NULL. */
char *fio_pmd_complete_answer(char *end, size_t room);

#endif
