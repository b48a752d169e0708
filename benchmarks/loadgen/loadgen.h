/* Shared state of the load generator (loadgen.c: options, workers, event
 * loop; conn.c: one client connection's socket, handshake and frames;
 * modes.c: what each mode sends, counts and reports).
 *
 * Threads: the run has -t workers, each with its own epoll instance and its
 * own slice of the connections; a connection is only ever touched by its
 * worker's thread. Worker 0 runs on the main thread and is the coordinator:
 * it alone moves the run's phase, drives the broadcast trigger connection
 * (which it owns), reads stdin and prints the progress lines. Other workers
 * see the phase through an atomic and publish the counters the coordinator
 * needs (ready, failed, joined, delivered, busy) as atomics; everything else
 * a worker counts is plain and read by the main thread after the workers
 * have stopped. */
#ifndef LOADGEN_H
#define LOADGEN_H
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "report.h"
#include "sio.h"
#include "ws.h"

enum mode { M_CONNECT, M_IDLE, M_BROADCAST, M_ECHO };

/* P_CONNECT: clients connect (and, broadcast, join the room);
 * P_RUN: the measured window; P_DRAIN: nothing new is sent, answers still
 * in flight are awaited; P_DONE / P_ABORT: the workers stop. */
enum phase { P_CONNECT, P_RUN, P_DRAIN, P_DONE, P_ABORT };

/* A connection's progress: TCP connect, HTTP upgrade, Engine.IO OPEN awaited,
 * Socket.IO CONNECT answer awaited, connected; CLOSED after an error or at the
 * end. */
enum cstate { C_NEW, C_TCP, C_HTTP, C_EIO, C_SIO, C_READY, C_CLOSED };

struct opts {
    enum mode mode;
    const char *host;
    int port;
    const char *path;        /* Engine.IO path, e.g. /socket.io/ */
    int clients;             /* room / echo / idle / connect clients */
    int concurrency;         /* connections being set up at once, whole run */
    int threads;
    double duration;         /* measured window (broadcast, echo), hold (idle) */
    double timeout;          /* hard limit for the whole run */
    double drain;            /* how long answers in flight are awaited after the window */
    int size;                /* bytes of payload text (broadcast tick, echo) */
    int count;               /* broadcasts per trigger request */
    const char *room;
    int hold_stdin;          /* idle: also stop at a line or EOF on stdin */
};

struct worker;

struct conn {
    int fd;
    enum cstate st;
    int trigger;             /* the broadcast trigger, not a room member */
    struct worker *w;
    lg_buf in;               /* bytes read, not yet parsed: [in_pos, in.len) */
    size_t in_pos;
    lg_buf out;              /* bytes to write: [out_pos, out.len) */
    size_t out_pos;
    int out_armed;           /* EPOLLOUT is registered */
    ws_parser wp;
    char key[25];
    double t_begin;          /* connect() called */
    double t_sent;           /* the awaited request was sent */
    uint64_t ack_id;         /* ack id awaited, 0 for none */
    uint64_t next_id;
    uint64_t ticks;          /* broadcast events received */
};

struct run;

struct worker {
    int id;
    int epfd;
    pthread_t thread;
    struct run *r;
    struct conn *c;          /* this worker's clients, then (worker 0) the trigger */
    int nc;
    int next;                /* next index of c to connect */
    int connecting;          /* connections in C_TCP .. C_SIO */
    int concurrency;
    int seen_phase;
    uint64_t rng;
    double now;              /* time after the last epoll_wait */
    lg_buf scratch;          /* outgoing Socket.IO text is built here */

    /* read by the coordinator while the run goes on */
    _Atomic int ready, failed, joined, busy;
    _Atomic uint64_t delivered;

    /* read by the main thread after the workers stopped */
    uint64_t errors, lost, pings, sent, acks, mismatches, bytes_in, msgs_in, binary_in,
        other_in;
    double t_last_ready, t_last_delivery, t_last_ack;
    lat_vec lat, conn_lat;
    char err[256];
};

struct run {
    struct opts o;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char path_query[512];
    char *pad;               /* o.size 'x' characters and a NUL */
    _Atomic int phase;
    struct worker *w;
    int nw;
    double t0, t_run, t_drain, t_end, deadline;
    struct rusage ru_run, ru_end;
    char abort_reason[256];

    /* coordinator only (worker 0's thread) */
    struct conn *trig;
    int trig_ready;
    int blast_out;           /* a trigger request awaits its ack */
    uint64_t issued;         /* broadcasts requested so far */
    uint64_t blast_acks, blast_bad;
    int released;            /* idle --hold-stdin: stdin said stop */
};

double now_s(void);
int phase_of(struct run *r);
void set_phase(struct run *r, int phase);
/* Ends the run with an error (first reason wins); coordinator thread only. */
void run_abort(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* conn.c */
int conn_start(struct worker *w, struct conn *c);
void conn_event(struct conn *c, uint32_t events);
/* Sends one websocket message (text for Engine.IO). 0, or -1 when the
 * connection failed (it is closed then). */
int conn_send(struct conn *c, int opcode, const void *data, size_t len);
/* Marks the connection failed, records the reason, closes the socket. */
void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends a websocket close (1000) if the websocket is open, closes the socket. */
void conn_close(struct conn *c);
void conn_free(struct conn *c);

/* modes.c: callbacks from conn.c, and the coordinator */
int mode_on_text(struct conn *c, const char *data, size_t len);
void mode_on_phase(struct worker *w, int phase);
void mode_coordinate(struct run *r);
/* Prints the final JSON line; returns the exit status (0 when all is well). */
int mode_report(struct run *r);

#endif
