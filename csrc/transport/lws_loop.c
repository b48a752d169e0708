/* Foreign libuv / libev loops for the lws service thread. Contracts in
 * lws_loop.h.
 *
 * Ownership: a fio_lws_loop owns its dlopen handle and the loop; lws only
 * borrows the loop (it never closes a foreign loop). */
#include "lws_loop.h"

#include <dlfcn.h>
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct fio_lws_loop {
    fio_ws_loop kind;
    void *dl;
    struct {
        int (*loop_init)(uv_loop_t *);
        int (*loop_close)(uv_loop_t *);
        void (*stop)(uv_loop_t *);
        int (*timer_init)(uv_loop_t *, uv_timer_t *);
        int (*timer_start)(uv_timer_t *, uv_timer_cb, uint64_t, uint64_t);
        void (*close)(uv_handle_t *, uv_close_cb);
        uv_loop_t loop;
        uv_timer_t stage_timer;   /* drives the teardown from inside the loop */
        int inited;
    } uv;
    struct {
        struct ev_loop *(*loop_new)(unsigned int);
        void (*brk)(struct ev_loop *, int);
        void (*loop_destroy)(struct ev_loop *);
        void (*timer_start)(struct ev_loop *, ev_timer *);
        void (*timer_stop)(struct ev_loop *, ev_timer *);
        void (*prepare_start)(struct ev_loop *, ev_prepare *);
        void (*prepare_stop)(struct ev_loop *, ev_prepare *);
        ev_tstamp (*now)(struct ev_loop *);
        struct ev_loop *loop;
        ev_timer kick;       /* fio_lws_loop_due: wakes lws at the earliest deadline */
        ev_tstamp kick_at;   /* when kick fires (ev_now time), 0: not armed */
        ev_prepare pass;     /* fio_lws_loop_on_pass */
        void (*pass_fn)(void *);
        void *pass_arg;
    } ev;
    struct lws_context *ctx;          /* fio_lws_loop_set_context */
    struct lws_context *dying;        /* context being destroyed (libuv) */
    int stage;
};

/* dlsym into a function pointer without an object/function pointer cast. */
static int sym(void *dl, const char *name, void *fnptr, size_t size)
{
    void *p = dlsym(dl, name);
    if (!p)
        return -1;
    memcpy(fnptr, &p, size);
    return 0;
}

#define SYM(l, name, field) sym((l)->dl, name, &(field), sizeof(field))

int fio_lws_loop_new(fio_ws_loop kind, fio_lws_loop **out)
{
    *out = NULL;
    if (kind == FIO_WS_LOOP_POLL)
        return 0;
    if (kind != FIO_WS_LOOP_UV && kind != FIO_WS_LOOP_EV) {
        errno = EINVAL;
        return -1;
    }
    int err = ENOENT;
    fio_lws_loop *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return -1;
    }
    l->kind = kind;
    l->dl = dlopen(kind == FIO_WS_LOOP_UV ? "libuv.so.1" : "libev.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!l->dl)
        goto fail;
    if (kind == FIO_WS_LOOP_UV) {
        if (SYM(l, "uv_loop_init", l->uv.loop_init) < 0 ||
            SYM(l, "uv_loop_close", l->uv.loop_close) < 0 || SYM(l, "uv_stop", l->uv.stop) < 0 ||
            SYM(l, "uv_timer_init", l->uv.timer_init) < 0 ||
            SYM(l, "uv_timer_start", l->uv.timer_start) < 0 ||
            SYM(l, "uv_close", l->uv.close) < 0)
            goto fail;
        err = EIO;
        if (l->uv.loop_init(&l->uv.loop) != 0)
            goto fail;
        l->uv.inited = 1;
    } else {
        if (SYM(l, "ev_loop_new", l->ev.loop_new) < 0 || SYM(l, "ev_break", l->ev.brk) < 0 ||
            SYM(l, "ev_loop_destroy", l->ev.loop_destroy) < 0 ||
            SYM(l, "ev_timer_start", l->ev.timer_start) < 0 ||
            SYM(l, "ev_timer_stop", l->ev.timer_stop) < 0 || SYM(l, "ev_now", l->ev.now) < 0 ||
            SYM(l, "ev_prepare_start", l->ev.prepare_start) < 0 ||
            SYM(l, "ev_prepare_stop", l->ev.prepare_stop) < 0)
            goto fail;
        err = EIO;
        /* No signal handling of ours; the host keeps its signal mask. */
        l->ev.loop = l->ev.loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
        if (!l->ev.loop)
            goto fail;
    }
    *out = l;
    return 0;
fail:
    fio_lws_loop_free(l);
    errno = err;
    return -1;
}

/* The kick timer fired: a deadline lws may have armed too late is due (or
 * the floor period passed). Writing lws's event pipe makes it service the
 * pipe, then run its idle callback, which runs every due lws timer. */
static void ev_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    fio_lws_loop *l = w->data;
    l->ev.kick_at = 0;
    if (l->ctx)
        lws_cancel_service(l->ctx);
    fio_lws_loop_due(l, FIO_LWS_LOOP_FLOOR_US);
}

void fio_lws_loop_set_context(fio_lws_loop *l, struct lws_context *ctx)
{
    if (!l || l->kind != FIO_WS_LOOP_EV)
        return;
    l->ctx = ctx;
    ev_init(&l->ev.kick, ev_kick);
    l->ev.kick.data = l;
    fio_lws_loop_due(l, FIO_LWS_LOOP_FLOOR_US);
}

static void ev_pass(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    fio_lws_loop *l = w->data;
    l->ev.pass_fn(l->ev.pass_arg);
}

int fio_lws_loop_on_pass(fio_lws_loop *l, void (*fn)(void *), void *arg)
{
    if (!l || l->kind != FIO_WS_LOOP_EV || l->ev.pass_fn)
        return -1;
    l->ev.pass_fn = fn;
    l->ev.pass_arg = arg;
    ev_prepare_init(&l->ev.pass, ev_pass);
    l->ev.pass.data = l;
    l->ev.prepare_start(l->ev.loop, &l->ev.pass);
    return 0;
}

void fio_lws_loop_due(fio_lws_loop *l, long long us)
{
    if (!l || l->kind != FIO_WS_LOOP_EV || !l->ctx)
        return;
    if (us > FIO_LWS_LOOP_FLOOR_US)
        us = FIO_LWS_LOOP_FLOOR_US;
    if (us < 0)
        us = 0;
    ev_tstamp delay = (ev_tstamp)us / 1e6;
    ev_tstamp at = l->ev.now(l->ev.loop) + delay;
    if (l->ev.kick_at != 0 && l->ev.kick_at <= at)
        return;   /* armed sooner already */
    l->ev.timer_stop(l->ev.loop, &l->ev.kick);
    ev_timer_set(&l->ev.kick, delay, 0.);
    l->ev.timer_start(l->ev.loop, &l->ev.kick);
    l->ev.kick_at = at;
}

uint64_t fio_lws_loop_option(fio_ws_loop kind)
{
    switch (kind) {
    case FIO_WS_LOOP_UV: return LWS_SERVER_OPTION_LIBUV;
    case FIO_WS_LOOP_EV: return LWS_SERVER_OPTION_LIBEV;
    default: return 0;
    }
}

void *fio_lws_loop_native(fio_lws_loop *l)
{
    if (!l)
        return NULL;
    return l->kind == FIO_WS_LOOP_UV ? (void *)&l->uv.loop : (void *)l->ev.loop;
}

void fio_lws_loop_break(fio_lws_loop *l)
{
    if (!l)
        return;
    if (l->kind == FIO_WS_LOOP_UV)
        l->uv.stop(&l->uv.loop);
    else
        l->ev.brk(l->ev.loop, EVBREAK_ALL);
}

/* libuv teardown, one step per loop turn: lws_context_destroy starts every
 * wsi's uv_close (their frees and WSI_DESTROY come from the close callbacks
 * at the end of the turn); on the next turn the second call closes lws's own
 * timer and idle handles. Both run inside lws_service so that lws defers the
 * final free of the context (whose memory holds those handles) until the
 * loop has run their close callbacks and returned. */
static void uv_stage(uv_timer_t *t)
{
    fio_lws_loop *l = t->data;
    lws_context_destroy(l->dying);
    if (l->stage++ == 0) {
        /* 1 ms, not 0: a 0 ms timer restarted from its own callback runs
         * again in the same turn, before the wsi close callbacks. */
        if (l->uv.timer_start(t, uv_stage, 1, 0) == 0)
            return;
        lws_context_destroy(l->dying);
        l->stage++;
    }
    l->uv.close((uv_handle_t *)t, NULL);
}

int fio_lws_loop_destroy_context(fio_lws_loop *l, struct lws_context *ctx)
{
    if (!l || l->kind == FIO_WS_LOOP_EV) {
        lws_context_destroy(ctx);
        return 0;
    }
    l->dying = ctx;
    l->stage = 0;
    l->uv.stage_timer.data = l;
    if (l->uv.timer_init(&l->uv.loop, &l->uv.stage_timer) != 0 ||
        l->uv.timer_start(&l->uv.stage_timer, uv_stage, 0, 0) != 0) {
        lws_context_destroy(ctx);
        l->uv.inited = 0;   /* handles may be live: leak the loop, do not close it */
        return -1;
    }
    /* Runs until every handle is closed (lws's and the stage timer). */
    lws_service(ctx, 0);
    /* lws 4.1.6 leaves its "inside destroy" flag set after the second call
     * when the loop is foreign, so this last call returns at once and the
     * context itself is not freed: see docs/native-event-loop.md. */
    lws_context_destroy(ctx);
    return 0;
}

void fio_lws_loop_free(fio_lws_loop *l)
{
    if (!l)
        return;
    if (l->kind == FIO_WS_LOOP_UV && l->uv.inited && l->uv.loop_close(&l->uv.loop) != 0)
        return;   /* handles still open: freeing would leave them dangling */
    if (l->kind == FIO_WS_LOOP_EV && l->ev.loop) {
        if (l->ctx)
            l->ev.timer_stop(l->ev.loop, &l->ev.kick);
        if (l->ev.pass_fn)
            l->ev.prepare_stop(l->ev.loop, &l->ev.pass);
        l->ev.loop_destroy(l->ev.loop);
    }
    if (l->dl)
        dlclose(l->dl);
    free(l);
}
