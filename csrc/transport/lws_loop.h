/* The event loop under the lws service thread (lws_server.c only).
 *
 * poll: lws's built-in poll() loop; no object here (fio_lws_loop_new gives
 * NULL). libuv / libev: a loop created here and handed to lws as a foreign
 * loop (info.foreign_loops), run by lws_service on the service thread. A
 * foreign loop, not one lws creates itself, because lws 4.1 installs process
 * signal handlers on its own loops (libuv: SIGINT, SIGTERM, SIGSEGV, SIGFPE,
 * SIGHUP; libev: SIGINT), which would take them from the host process, and
 * because nothing exported by lws 4.1 stops its own loop short of destroying
 * the context from inside it.
 *
 * libuv and libev are opened at run time (dlopen of libuv.so.1 / libev.so.4,
 * the libraries lws's evlib plugins load anyway), so the extension links
 * neither; their headers come with libwebsockets-dev.
 *
 * Threads: fio_lws_loop_break and fio_lws_loop_destroy_context run on the
 * thread that runs the loop (the service thread, or the stopping thread when
 * the service thread never started); new and free on any one thread. No
 * Python here. */
#ifndef FASTSIO_LWS_LOOP_H
#define FASTSIO_LWS_LOOP_H

#include <libwebsockets.h>

#include "lws_server.h"

typedef struct fio_lws_loop fio_lws_loop;

/* kind must be resolved (not FIO_WS_LOOP_DEFAULT). *out: NULL for poll, else
 * a loop owned by the caller. 0, or -1 with errno: ENOENT when the library
 * cannot be opened, ENOMEM, EIO when its loop cannot be created. */
int fio_lws_loop_new(fio_ws_loop kind, fio_lws_loop **out);

/* The lws_context_creation_info options bit that selects the library, and
 * the loop pointer for info.foreign_loops[0] (both 0/NULL for poll). */
uint64_t fio_lws_loop_option(fio_ws_loop kind);
void *fio_lws_loop_native(fio_lws_loop *l);

/* libev: lws 4.1.6 re-arms its one libev timer while it is still active, a
 * no-op in libev, so an lws timer due sooner than the one armed fires late
 * (docs/native-event-loop.md). The loop keeps a timer of its own for that:
 * fio_lws_loop_due(l, us), called after every lws_sul_schedule with the
 * same delay, arms it at that deadline when it is sooner than the one it
 * holds; when it fires it wakes lws (lws_cancel_service), whose idle pass
 * runs every due lws timer. It also fires at least every
 * FIO_LWS_LOOP_FLOOR_US, so lws's internal timeouts (lws_set_timeout) are
 * at most that late (0.2 s). set_context starts it once the context exists. Both
 * on the thread that runs the loop; no-ops for poll and libuv. */
#define FIO_LWS_LOOP_FLOOR_US 200000LL
void fio_lws_loop_set_context(fio_lws_loop *l, struct lws_context *ctx);
void fio_lws_loop_due(fio_lws_loop *l, long long us);

/* A pass hook: fn(arg) runs on the loop's thread each time the loop is about
 * to wait for events (libev: an ev_prepare watcher), after the callbacks of
 * the pass before. 0, or -1 when the loop has none (poll: lws_service
 * returns after each pass, its caller runs fn; libuv: not provided). Once,
 * after set_context, before the loop runs. */
int fio_lws_loop_on_pass(fio_lws_loop *l, void (*fn)(void *), void *arg);

/* Makes the lws_service call running the loop return (uv_stop / ev_break).
 * Call from inside it (a callback); NULL (poll) does nothing. */
void fio_lws_loop_break(fio_lws_loop *l);

/* Destroys ctx entirely, with the loop not running: lws_context_destroy for
 * poll and libev (synchronous); for libuv, the two lws_context_destroy calls
 * from inside a loop turn (the handle closes lws starts are asynchronous and
 * must complete before the context is freed), the loop run until they are
 * done, then the final call. Every wsi's WSI_DESTROY callback has run when it
 * returns. 0, or -1 when the loop could not be driven (then ctx is
 * destroyed as far as lws lets it; the loop memory is leaked rather than
 * freed under live handles). */
int fio_lws_loop_destroy_context(fio_lws_loop *l, struct lws_context *ctx);

/* Closes and frees the loop (after fio_lws_loop_destroy_context). NULL is
 * ignored. */
void fio_lws_loop_free(fio_lws_loop *l);

#endif
