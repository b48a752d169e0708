/* What each mode of the load generator sends and counts, the coordinator that
 * moves the run through its phases, and the final report.
 *
 * connect    open --clients connections (at most --concurrency being set up
 *            at once) through Socket.IO CONNECT; rate = connections / time
 *            from the first connect() to the last CONNECT answer.
 * idle       the same, then hold them for --duration (or until a line or EOF
 *            on stdin with --hold-stdin), answering pings; prints a "ready"
 *            line once all are connected, so a driver can read server memory.
 * broadcast  --clients clients each emit join(room) and wait for its ack; one
 *            more connection, the trigger, then emits
 *            blast({room, count, size}) -> ack, which makes the server emit
 *            `count` "tick" events of `size` bytes to the room. A new blast is
 *            sent once the previous one was acked and the clients have
 *            received all but the last `count` broadcasts (so the server's
 *            queues stay bounded). After --duration no new blast is sent and
 *            the rest is awaited. deliveries/s = ticks received by all clients
 *            / time from the first blast to the last tick.
 * echo       --clients clients each keep one echo({n, s}) -> ack in flight for
 *            --duration; latency from send to ack, acks checked to be the
 *            data sent; round trips/s = acks / time to the last ack.
 *
 * Thread: mode_on_text and mode_on_phase run on the connection's worker;
 * mode_coordinate on worker 0; mode_report on the main thread after all
 * workers stopped. */
#include "loadgen.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int total_clients(struct run *r) { return r->o.clients; }

#define SUM(r, field)                                                                  \
    ({                                                                                 \
        uint64_t s_ = 0;                                                               \
        for (int i_ = 0; i_ < (r)->nw; i_++)                                           \
            s_ += (uint64_t)atomic_load_explicit(&(r)->w[i_].field, memory_order_relaxed); \
        s_;                                                                            \
    })

/* Builds text in the worker's scratch buffer and sends it. */
static int send_text(struct conn *c, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int send_text(struct conn *c, const char *prefix, const char *fmt, ...)
{
    struct worker *w = c->w;
    size_t need = strlen(prefix) + strlen(fmt) + (size_t)w->r->o.size + 256;
    w->scratch.len = 0;
    if (buf_reserve(&w->scratch, need) < 0) {
        conn_fail(c, "out of memory");
        return -1;
    }
    size_t n = strlen(prefix);
    memcpy(w->scratch.p, prefix, n);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf((char *)w->scratch.p + n, w->scratch.cap - n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= w->scratch.cap - n) {
        conn_fail(c, "outgoing packet too long");
        return -1;
    }
    return conn_send(c, WS_OP_TEXT, w->scratch.p, n + (size_t)k);
}

static void echo_send(struct conn *c)
{
    struct worker *w = c->w;
    uint64_t id = ++c->next_id;
    c->ack_id = id;
    atomic_fetch_add_explicit(&w->busy, 1, memory_order_relaxed);
    w->sent++;
    c->t_sent = now_s();
    send_text(c, "42", "%" PRIu64 "[\"echo\",{\"n\":%" PRIu64 ",\"s\":\"%s\"}]", id, id,
              w->r->pad);
}

static void blast_send(struct run *r)
{
    struct conn *c = r->trig;
    c->ack_id = ++c->next_id;
    r->blast_out = 1;
    r->issued += (uint64_t)r->o.count;
    send_text(c, "42", "%" PRIu64 "[\"blast\",{\"room\":\"%s\",\"count\":%d,\"size\":%d}]",
              c->ack_id, r->o.room, r->o.count, r->o.size);
}

static void on_ready(struct conn *c)
{
    struct worker *w = c->w;
    struct run *r = w->r;
    w->connecting--;
    if (c->trigger) {
        r->trig_ready = 1;
        return;
    }
    double t = now_s();
    lat_add(&w->conn_lat, t - c->t_begin);
    w->t_last_ready = t;
    atomic_fetch_add_explicit(&w->ready, 1, memory_order_relaxed);
    if (r->o.mode == M_BROADCAST) {
        c->ack_id = ++c->next_id;
        send_text(c, "42", "%" PRIu64 "[\"join\",\"%s\"]", c->ack_id, r->o.room);
    } else if (r->o.mode == M_ECHO && phase_of(r) == P_RUN) {
        echo_send(c);
    }
}

/* The ack body an echo of request `id` must carry: [{"n":id,"s":"<pad>"}]. */
static int echo_ack_ok(struct run *r, uint64_t id, const char *body, size_t len)
{
    char head[64];
    int n = snprintf(head, sizeof head, "[{\"n\":%" PRIu64 ",\"s\":\"", id);
    size_t pad = (size_t)r->o.size;
    return n > 0 && len == (size_t)n + pad + 3 && memcmp(body, head, (size_t)n) == 0 &&
           memcmp(body + n, r->pad, pad) == 0 && memcmp(body + n + pad, "\"}]", 3) == 0;
}

static void on_ack(struct conn *c, uint64_t id, const char *body, size_t len)
{
    struct worker *w = c->w;
    struct run *r = w->r;
    if (!c->ack_id || id != c->ack_id) {
        w->mismatches++;
        return;
    }
    c->ack_id = 0;
    if (c->trigger) {
        char want[32];
        int n = snprintf(want, sizeof want, "[%d]", r->o.count);
        if (len != (size_t)n || memcmp(body, want, (size_t)n) != 0)
            r->blast_bad++;
        r->blast_acks++;
        r->blast_out = 0;
        return;
    }
    if (r->o.mode == M_BROADCAST) {
        atomic_fetch_add_explicit(&w->joined, 1, memory_order_relaxed);
        return;
    }
    if (r->o.mode != M_ECHO) {
        w->mismatches++;
        return;
    }
    double t = now_s();
    lat_add(&w->lat, t - c->t_sent);
    w->acks++;
    w->t_last_ack = t;
    if (!echo_ack_ok(r, id, body, len))
        w->mismatches++;
    atomic_fetch_sub_explicit(&w->busy, 1, memory_order_relaxed);
    if (phase_of(r) == P_RUN)
        echo_send(c);
}

int mode_on_text(struct conn *c, const char *d, size_t len)
{
    struct worker *w = c->w;
    sio_msg m;
    sio_classify(d, len, &m);
    switch (m.kind) {
    case K_EIO_OPEN:
        if (c->st != C_EIO) {
            conn_fail(c, "Engine.IO OPEN twice");
            break;
        }
        c->st = C_SIO;
        conn_send(c, WS_OP_TEXT, "40", 2);
        break;
    case K_EIO_PING: {
        char pong[64] = "3";
        size_t n = m.body_len < sizeof pong - 1 ? m.body_len : sizeof pong - 1;
        memcpy(pong + 1, m.body, n);
        w->pings++;
        conn_send(c, WS_OP_TEXT, pong, n + 1);
        break;
    }
    case K_EIO_PONG:
    case K_EIO_NOOP:
        break;
    case K_EIO_CLOSE:
        conn_fail(c, "server sent an Engine.IO CLOSE");
        break;
    case K_SIO_CONNECT:
        if (c->st != C_SIO) {
            conn_fail(c, "Socket.IO CONNECT answer out of turn");
            break;
        }
        c->st = C_READY;
        on_ready(c);
        break;
    case K_SIO_CONNECT_ERROR:
        conn_fail(c, "Socket.IO CONNECT refused: %.*s", (int)(m.body_len < 200 ? m.body_len : 200),
                  m.body);
        break;
    case K_SIO_DISCONNECT:
        conn_fail(c, "server disconnected the Socket.IO session");
        break;
    case K_SIO_EVENT:
        if (!c->trigger && m.body_len >= 8 && memcmp(m.body, "[\"tick\",", 8) == 0) {
            c->ticks++;
            atomic_fetch_add_explicit(&w->delivered, 1, memory_order_relaxed);
            w->t_last_delivery = w->now;
        } else {
            w->other_in++;
        }
        break;
    case K_SIO_ACK:
        on_ack(c, m.id, m.body, m.body_len);
        break;
    case K_SIO_BINARY:
    case K_SIO_OTHER_NS:
        w->other_in++;
        break;
    case K_BAD:
        conn_fail(c, "not an Engine.IO packet: %.*s", (int)(len < 60 ? len : 60), d);
        break;
    }
    return c->st == C_CLOSED ? -1 : 0;
}

void mode_on_phase(struct worker *w, int phase)
{
    if (phase != P_RUN || w->r->o.mode != M_ECHO)
        return;
    for (int i = 0; i < w->nc; i++)
        if (w->c[i].st == C_READY && !w->c[i].trigger)
            echo_send(&w->c[i]);
}

static void start_window(struct run *r, const char *event)
{
    r->t_run = now_s();
    getrusage(RUSAGE_SELF, &r->ru_run);
    set_phase(r, P_RUN);
    jline j;
    jl_begin(&j, event);
    jl_int(&j, "clients", total_clients(r));
    jl_num(&j, "connect_seconds", r->t_run - r->t0);
    jl_end(&j, stdout);
}

/* Ends the window at `now`; mode_report moves the end back to the last
 * answer counted (read from the workers once they have stopped). */
static void finish(struct run *r, double now)
{
    r->t_end = now;
    getrusage(RUSAGE_SELF, &r->ru_end);
    set_phase(r, P_DONE);
}

void mode_coordinate(struct run *r)
{
    int phase = phase_of(r);
    if (phase >= P_DONE)
        return;
    double now = now_s();
    if (now > r->deadline) {
        run_abort(r, "run exceeded --timeout %.1f s in phase %d", r->o.timeout, phase);
        return;
    }
    int n = total_clients(r);
    uint64_t ready = SUM(r, ready), failed = SUM(r, failed);
    switch (r->o.mode) {
    case M_CONNECT:
        if (ready + failed == (uint64_t)n)
            finish(r, now);
        break;
    case M_IDLE:
        if (phase == P_CONNECT && ready + failed == (uint64_t)n) {
            start_window(r, "ready");
        } else if (phase == P_RUN && (now - r->t_run >= r->o.duration || r->released)) {
            finish(r, now);
        }
        break;
    case M_BROADCAST: {
        if (failed || (r->trig && r->trig->st == C_CLOSED)) {
            run_abort(r, "a connection failed (%" PRIu64 " clients, trigger %s)", failed,
                      r->trig->st == C_CLOSED ? "closed" : "up");
            return;
        }
        uint64_t delivered = SUM(r, delivered);
        if (phase == P_CONNECT) {
            if (SUM(r, joined) == (uint64_t)n && r->trig_ready) {
                start_window(r, "start");
                blast_send(r);
            }
        } else if (phase == P_RUN) {
            if (now - r->t_run >= r->o.duration) {
                r->t_drain = now;
                set_phase(r, P_DRAIN);
            } else if (!r->blast_out &&
                       delivered + (uint64_t)r->o.count * (uint64_t)n >= r->issued * (uint64_t)n) {
                blast_send(r);
            }
        } else if (phase == P_DRAIN) {
            if (!r->blast_out && delivered >= r->issued * (uint64_t)n)
                finish(r, now);
            else if (now - r->t_drain > r->o.drain) {
                run_abort(r, "broadcasts still undelivered %.1f s after the window "
                          "(%" PRIu64 " of %" PRIu64 ")", r->o.drain, delivered,
                          r->issued * (uint64_t)n);
            }
        }
        break;
    }
    case M_ECHO:
        if (failed) {
            run_abort(r, "%" PRIu64 " clients failed to connect", failed);
            return;
        }
        if (phase == P_CONNECT && ready == (uint64_t)n) {
            start_window(r, "start");
        } else if (phase == P_RUN && now - r->t_run >= r->o.duration) {
            r->t_drain = now;
            set_phase(r, P_DRAIN);
        } else if (phase == P_DRAIN) {
            if (SUM(r, busy) == 0)
                finish(r, now);
            else if (now - r->t_drain > r->o.drain) {
                run_abort(r, "%" PRIu64 " echo acks still missing %.1f s after the window",
                          SUM(r, busy), r->o.drain);
            }
        }
        break;
    }
}

static double cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

static const char *mode_name(enum mode m)
{
    return m == M_CONNECT ? "connect" : m == M_IDLE ? "idle" : m == M_BROADCAST ? "broadcast"
                                                                                  : "echo";
}

int mode_report(struct run *r)
{
    struct worker agg = {0};
    const char *first_err = "";
    uint64_t min_ticks = UINT64_MAX, max_ticks = 0;
    for (int i = 0; i < r->nw; i++) {
        struct worker *w = &r->w[i];
        agg.errors += w->errors;
        agg.lost += w->lost;
        agg.pings += w->pings;
        agg.sent += w->sent;
        agg.acks += w->acks;
        agg.mismatches += w->mismatches;
        agg.bytes_in += w->bytes_in;
        agg.msgs_in += w->msgs_in;
        agg.binary_in += w->binary_in;
        agg.other_in += w->other_in;
        if (!first_err[0] && w->err[0])
            first_err = w->err;
        if (lat_merge(&agg.lat, &w->lat) < 0 || lat_merge(&agg.conn_lat, &w->conn_lat) < 0)
            first_err = "out of memory merging latencies";
        for (int k = 0; k < w->nc; k++) {
            if (w->c[k].trigger)
                continue;
            if (w->c[k].ticks < min_ticks)
                min_ticks = w->c[k].ticks;
            if (w->c[k].ticks > max_ticks)
                max_ticks = w->c[k].ticks;
        }
    }
    if (min_ticks == UINT64_MAX)
        min_ticks = 0;
    lat_sort(&agg.lat);
    lat_sort(&agg.conn_lat);
    int n = total_clients(r);
    uint64_t ready = SUM(r, ready), failed = SUM(r, failed), delivered = SUM(r, delivered);
    int aborted = phase_of(r) == P_ABORT;
    /* the window ends at the last answer counted, not when the coordinator saw it */
    double last = 0;
    for (int i = 0; i < r->nw; i++) {
        struct worker *w = &r->w[i];
        double t = r->o.mode == M_CONNECT ? w->t_last_ready
                 : r->o.mode == M_BROADCAST ? w->t_last_delivery
                 : r->o.mode == M_ECHO ? w->t_last_ack : 0;
        if (t > last)
            last = t;
    }
    if (last > r->t_run && last < r->t_end)
        r->t_end = last;
    double window = r->t_end - r->t_run;
    int ok = !aborted && agg.errors == 0 && agg.mismatches == 0 && ready == (uint64_t)n;

    jline j;
    jl_begin(&j, "result");
    jl_str(&j, "mode", mode_name(r->o.mode));
    jl_int(&j, "clients", n);
    jl_int(&j, "threads", r->nw);
    jl_int(&j, "connected", (long long)ready);
    jl_int(&j, "failed", (long long)failed);
    jl_int(&j, "errors", (long long)agg.errors);
    jl_int(&j, "lost", (long long)agg.lost);
    jl_int(&j, "pings", (long long)agg.pings);
    jl_int(&j, "mismatches", (long long)agg.mismatches);
    jl_int(&j, "bytes_in", (long long)agg.bytes_in);
    jl_int(&j, "messages_in", (long long)agg.msgs_in);
    jl_int(&j, "binary_in", (long long)agg.binary_in);
    jl_int(&j, "other_in", (long long)agg.other_in);
    if (!aborted) {
        jl_num(&j, "seconds", window);
        jl_num(&j, "cpu_seconds", cpu_of(&r->ru_end) - cpu_of(&r->ru_run));
    }
    if (r->o.mode == M_CONNECT || r->o.mode == M_IDLE) {
        double last_ready = 0;
        for (int i = 0; i < r->nw; i++)
            if (r->w[i].t_last_ready > last_ready)
                last_ready = r->w[i].t_last_ready;
        double ramp = last_ready - r->t0;
        jl_num(&j, "connects_per_s", ramp > 0 ? (double)ready / ramp : 0);
        jl_num(&j, "connect_p50_ms", lat_pct_ms(&agg.conn_lat, 0.50));
        jl_num(&j, "connect_p99_ms", lat_pct_ms(&agg.conn_lat, 0.99));
        jl_num(&j, "connect_max_ms", lat_pct_ms(&agg.conn_lat, 1.0));
    }
    if (r->o.mode == M_BROADCAST) {
        uint64_t expected = r->issued * (uint64_t)n;
        ok = ok && delivered == expected && min_ticks == r->issued && max_ticks == r->issued &&
             r->blast_bad == 0 && r->blast_acks * (uint64_t)r->o.count == r->issued;
        jl_int(&j, "broadcasts", (long long)r->issued);
        jl_int(&j, "blasts", (long long)r->blast_acks);
        jl_int(&j, "bad_blast_acks", (long long)r->blast_bad);
        jl_int(&j, "deliveries", (long long)delivered);
        jl_int(&j, "expected", (long long)expected);
        jl_int(&j, "min_per_client", (long long)min_ticks);
        jl_int(&j, "max_per_client", (long long)max_ticks);
        jl_int(&j, "size", r->o.size);
        if (!aborted)
            jl_num(&j, "deliveries_per_s", window > 0 ? (double)delivered / window : 0);
    }
    if (r->o.mode == M_ECHO) {
        ok = ok && agg.acks == agg.sent;
        jl_int(&j, "sent", (long long)agg.sent);
        jl_int(&j, "acked", (long long)agg.acks);
        jl_int(&j, "size", r->o.size);
        if (!aborted)
            jl_num(&j, "round_trips_per_s", window > 0 ? (double)agg.acks / window : 0);
        jl_num(&j, "p50_ms", lat_pct_ms(&agg.lat, 0.50));
        jl_num(&j, "p90_ms", lat_pct_ms(&agg.lat, 0.90));
        jl_num(&j, "p99_ms", lat_pct_ms(&agg.lat, 0.99));
        jl_num(&j, "max_ms", lat_pct_ms(&agg.lat, 1.0));
        jl_int(&j, "samples_dropped", (long long)agg.lat.dropped);
    }
    jl_bool(&j, "ok", ok);
    if (aborted)
        jl_str(&j, "error", r->abort_reason);
    else if (first_err[0])
        jl_str(&j, "error", first_err);
    jl_end(&j, stdout);
    lat_free(&agg.lat);
    lat_free(&agg.conn_lat);
    return ok ? 0 : 1;
}
