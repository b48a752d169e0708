/* Native websocket transport: one libwebsockets (4.1) service thread that owns
 * adopted websocket connections and speaks Engine.IO v4 on them in C.
 *
 * Threads: the service thread, started by fio_ws_server_start and joined by
 * fio_ws_server_stop_and_free, is the only thread that calls lws APIs, except
 * lws_cancel_service, which fio_ws_adopt, fio_ws_wake and fio_ws_close call
 * from any thread to wake it. Those three only take the server's mutex and
 * append to a list; the service thread takes the lists when woken. The
 * callbacks of fio_ws_config run on the service thread (on_close also on the
 * thread of fio_ws_server_stop_and_free for adoptions that never reached the
 * service thread); they must not block and must not call
 * fio_ws_server_stop_and_free. They may call fio_ws_wake / fio_ws_close and
 * the hub.
 *
 * Ownership: the server borrows the hub, which must outlive it. Every
 * connection the server accepts (fio_ws_adopt returned FIO_OK) is a hub
 * connection opened by fio_ws_adopt and closed by the server (except with
 * fio_ws_adopt_conn, below): on_close is called exactly once for it, after
 * fio_hub_conn_close, with the reason,
 * whatever happens (handshake refused, client gone, server stopped), as soon
 * as the server decides that the connection ends (a closing handshake may
 * still be in flight; nothing more is read or written for it). The fd
 * given to fio_ws_adopt belongs to the server from the call on, even when it
 * fails (then it is closed before the call returns).
 *
 * Engine.IO in C: once the websocket handshake is done the server sends the
 * OPEN packet (unless the adoption says the session already exists), sends
 * PING every ping_interval_ms and closes the connection ("ping timeout") when
 * no PONG came within ping_timeout_ms, answers "2probe" with "3probe",
 * ignores UPGRADE and NOOP, closes on a client CLOSE ("client disconnect"),
 * and hands complete MESSAGE payloads (text without the type digit, binary
 * frames as they are) to on_message. A message longer than max_payload (bytes
 * for binary, characters with the type digit for text) closes the connection
 * (websocket status 1009, "transport close", the reason python-engineio gives
 * it); a text message that is not whole UTF-8 closes it with status 1007
 * and "transport close" (checked here per message, not by lws); any other
 * packet type closes it with "transport error".
 *
 * Outbound and the queue policy: frames come only from the connection's hub
 * queue, bounded by the hub (frames and bytes). Whoever pushes to it calls
 * fio_ws_wake when fio_hub_push / fio_hub_unhold / a broadcast reports 1
 * (woken) or 2 (overflowed). On a wake the service thread closes an
 * overflowed connection at once ("transport error"; it does not wait for the
 * socket to become writable, so a client that stopped reading goes too), and
 * otherwise asks lws for a writable callback, in which it drains the queue and
 * writes the frames pre-framed as websocket frames in ONE buffer with one
 * lws_write(LWS_WRITE_RAW), up to max_write_bytes per callback (at least one
 * whole batch of drained frames; it asks for another callback while frames
 * remain). lws keeps whatever the kernel did not take and calls back only
 * once it is flushed, so the memory held per connection outside the hub is
 * one batch at most.
 *
 * Shutdown: fio_ws_server_stop_and_free closes every connection with status
 * 1001 ("server shutdown") where the socket is writable within
 * close_grace_ms, kills the rest, frees everything and joins the thread.
 *
 * permessage-deflate (compress_threshold > 0; docs/native-deflate.md): an
 * offer is accepted unless it limits server_max_window_bits, and always
 * answered "permessage-deflate; server_no_context_takeover;
 * client_no_context_takeover". lws inflates what comes in. Outbound frames
 * of at least compress_threshold bytes leave compressed (RSV1) where
 * compression makes them smaller, each compressed once whatever the number
 * of connections it is queued for (csrc/transport/deflate.h); smaller ones,
 * and control frames, leave as they are. With frame_per_write, lws
 * compresses every frame itself instead (no threshold).
 *
 * Known lws 4.1 laxness, left as is: unmasked client frames are accepted
 * (RFC 6455 says close). No Python here. */
#ifndef FASTSIO_LWS_SERVER_H
#define FASTSIO_LWS_SERVER_H
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

typedef struct fio_ws_server fio_ws_server;

/* Why a connection ended, as python-engineio names it (fio_ws_reason_name). */
typedef enum fio_ws_reason {
    FIO_WS_CLIENT_DISCONNECT = 0,  /* Engine.IO CLOSE packet from the client */
    FIO_WS_TRANSPORT_CLOSE,        /* socket closed / websocket close by the client */
    FIO_WS_TRANSPORT_ERROR,        /* protocol error, oversized message, queue overflow */
    FIO_WS_PING_TIMEOUT,
    FIO_WS_SERVER_DISCONNECT,      /* fio_ws_close */
    FIO_WS_SERVER_SHUTDOWN,        /* fio_ws_server_stop_and_free */
    FIO_WS_HANDSHAKE_FAILED        /* not a websocket upgrade, or lws refused it */
} fio_ws_reason;

const char *fio_ws_reason_name(fio_ws_reason r);

/* binary: 1 for a binary frame (data as received), 0 for an Engine.IO
 * MESSAGE text packet (data after the '4'). data is valid during the call.
 * Returns 0, 1 to pause reading on every connection until
 * fio_ws_resume_reading (inbound back-pressure: the consumer is full; what
 * lws already read is kept, not dropped), or -1 to close this connection
 * ("transport error", e.g. the message could not be queued). */
typedef int (*fio_ws_message_fn)(void *ctx, uint32_t conn, int binary, const char *data,
                                 size_t len);
/* The connection is open at Engine.IO level (OPEN packet queued). */
typedef void (*fio_ws_open_fn)(void *ctx, uint32_t conn);
typedef void (*fio_ws_close_fn)(void *ctx, uint32_t conn, fio_ws_reason reason);
/* An upgrade from polling (fio_ws_adopt_conn with upgrade=1) went a step on:
 * FIO_WS_PROBED ("3probe" queued: the owner ends the pending poll with NOOP)
 * or FIO_WS_UPGRADED (the client's UPGRADE: the queue is drained here from
 * now on, pings start). A connection that ends before UPGRADED was a failed
 * upgrade: on_close tells it as for any other. */
enum { FIO_WS_PROBED = 0, FIO_WS_UPGRADED = 1 };
typedef void (*fio_ws_upgrade_fn)(void *ctx, uint32_t conn, int stage);

/* Event loop of the service thread (docs/native-event-loop.md has the
 * measurements behind the default). POLL: lws's own poll() loop, O(number of
 * connections) per wake-up. EV: libev (epoll) through lws 4.1's evlib plugin
 * (libwebsockets-evlib_ev.so), as a loop the server creates and runs on the
 * service thread (so lws installs no signal handlers); lws 4.1.6 arms its
 * libev timer late when a sooner one is scheduled, which lws_loop.c makes up
 * for with a timer of its own (our timers on time, lws's internal timeouts
 * at most 0.2 s late). UV: libuv, for measurements only; with lws 4.1.6 the
 * context is not freed at stop (about 40 KB each time) and closing
 * handshakes (1000, 1001) are not sent. */
typedef enum fio_ws_loop {
    FIO_WS_LOOP_DEFAULT = 0,   /* the measured choice: FIO_WS_LOOP_EV where it loads
                                  (lws's libev plugin and libev.so.4), else POLL */
    FIO_WS_LOOP_POLL,
    FIO_WS_LOOP_UV,
    FIO_WS_LOOP_EV
} fio_ws_loop;

/* "poll", "uv", "ev" or "default" (the FASTSIO_LWS_LOOP values, which the
 * benchmark harness and the binding read; the server reads no environment)
 * -> *out. 0, or -1 for any other name or NULL. */
int fio_ws_loop_parse(const char *name, fio_ws_loop *out);
const char *fio_ws_loop_name(fio_ws_loop loop);

typedef struct fio_ws_config {
    long long ping_interval_ms;   /* <= 0: 25000 */
    long long ping_timeout_ms;    /* <= 0: 20000 */
    size_t max_payload;           /* inbound message bound, also sent in OPEN; 0: 1000000 */
    size_t max_write_bytes;       /* per writable callback; 0: 256 KiB */
    long long close_grace_ms;     /* shutdown wait for clean closes; <= 0: 1000 */
    size_t max_header_bytes;      /* upgrade request head (lws header table); 0: 16384,
                                     at most 65535 */
    int frame_per_write;          /* 1: one lws_write(TEXT/BINARY) per frame and per
                                     writable callback (the lws-canonical way; for
                                     measurements), 0: batches */
    size_t compress_threshold;    /* permessage-deflate: 0 off (never negotiated);
                                     else frames of at least this many bytes are
                                     compressed (FIO_DEFLATE_THRESHOLD_DEFAULT, 1024,
                                     is python-engineio's compression_threshold) */
    int compress_per_connection;  /* 1: compress a broadcast frame again for each
                                     connection (for measurements), 0: once */
    fio_ws_loop event_loop;       /* see Event loop above; 0: FIO_WS_LOOP_DEFAULT */
    fio_ws_message_fn on_message; /* may be NULL */
    fio_ws_open_fn on_open;       /* may be NULL */
    fio_ws_close_fn on_close;     /* may be NULL */
    fio_ws_upgrade_fn on_upgrade; /* may be NULL */
    /* may be NULL: called once after a service pass (the loop about to wait
     * again) in which any of the four above ran, on the same thread, so a
     * consumer of what they post can be woken once per pass. Where the loop
     * has no pass hook (libuv), and outside the service loop (shutdown),
     * right after each of them. */
    void (*on_pass_end)(void *ctx);
    void *ctx;
} fio_ws_config;

/* Creates the lws context (no listening socket) and its vhost, on the loop
 * cfg->event_loop names. The thread is not started. NULL on failure (errno
 * set where known: ENOENT when the loop's library or lws plugin is missing,
 * EINVAL for a bad config). */
fio_ws_server *fio_ws_server_new(fio_hub *hub, const fio_ws_config *cfg);
/* Starts the service thread. 0, or -1 (errno set). At most once. */
int fio_ws_server_start(fio_ws_server *srv);
/* Closes every connection (see Shutdown above), joins the thread if it was
 * started and frees the server. Call from a thread that is not the service
 * thread, once. NULL is ignored. */
void fio_ws_server_stop_and_free(fio_ws_server *srv);

/* Hands an accepted plain-TCP socket and the bytes already read from it (the
 * HTTP upgrade request, len may be 0) to the service thread, which makes lws
 * complete the websocket handshake on it. sid/sidlen: the Engine.IO sid to
 * register (url-safe characters only, no JSON escaping), or NULL to generate
 * one (20 url-safe base64 characters). send_open: 0 when the session already
 * exists (an upgrade from polling) and the OPEN packet must not be sent.
 * *out_conn receives the hub connection id. Returns FIO_OK, FIO_ENOMEM, or
 * FIO_EINVAL (server stopping, bad fd or sid); on failure the fd is already
 * closed and there is no on_close. The hub does not check that sids are
 * unique: the caller owns that. */
int fio_ws_adopt(fio_ws_server *srv, int fd, const char *readbuf, size_t len, const char *sid,
                 size_t sidlen, int send_open, uint32_t *out_conn);

/* As fio_ws_adopt, for a hub connection conn that the caller opened with sid
 * and keeps: the server drains and wakes it like its own but never closes it
 * (the caller does, after on_close or after a failed adoption), so the
 * caller can still read its rooms when told the connection ended. For an
 * Engine.IO session created before its socket is handed over (the
 * application accepted it first). Frames already queued on conn are written
 * once the websocket handshake is done. On failure the fd is closed and
 * there is no on_close.
 * upgrade=1: the websocket upgrades a polling session, whose transport keeps
 * draining conn until the upgrade is done (on_upgrade): before that only the
 * probe is answered, no pings are sent, wakes are ignored, a close needs no
 * drain, and any packet other than "2probe" then UPGRADE ends the attempt. */
int fio_ws_adopt_conn(fio_ws_server *srv, int fd, const char *readbuf, size_t len,
                      const char *sid, size_t sidlen, uint32_t conn, int upgrade);

/* The hub queue of conn went from empty to non-empty, or overflowed. Any
 * thread. Unknown or already closed ids are ignored. 0, or -1 oom. */
int fio_ws_wake(fio_ws_server *srv, uint32_t conn);
/* Closes conn (websocket status 1000, reason "server disconnect") once the
 * frames queued before the call have been written. Any thread. 0 / -1 oom. */
int fio_ws_close(fio_ws_server *srv, uint32_t conn);

/* Ends a pause asked for by on_message returning 1. Any thread; a resume
 * always takes effect after the pause it answers, since the pause is applied
 * on the service thread before on_message returns to it and the resume is
 * taken from the request list later. 0 / -1 oom. */
int fio_ws_resume_reading(fio_ws_server *srv);

/* Counters for tests and measurements; any thread (relaxed reads). */
typedef struct fio_ws_stats {
    uint64_t adopted, open, closed, writes, frames_out, bytes_out, messages_in;
    uint64_t deflated;   /* messages compressed (a frame served from its cache: not counted) */
    uint64_t inflated;   /* compressed client messages inflated */
} fio_ws_stats;
void fio_ws_get_stats(fio_ws_server *srv, fio_ws_stats *out);
/* The loop the server runs on (FIO_WS_LOOP_DEFAULT resolved). Any thread. */
fio_ws_loop fio_ws_server_loop(const fio_ws_server *srv);

#endif
