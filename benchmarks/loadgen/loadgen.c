/* loadgen: a Socket.IO load generator in C (epoll, raw Engine.IO v4 /
 * Socket.IO v5 over websocket), to measure servers without the client being
 * the bottleneck. Loopback only, bounded in clients and time.
 *
 *   loadgen MODE --port P [options]        MODE: connect | idle | broadcast | echo
 *   loadgen selftest                       checks its own codecs, no network
 *
 * Options (defaults in brackets):
 *   --host H          127.0.0.1; must be a loopback address (127.0.0.0/8, ::1)
 *   --port P          required
 *   --path P          Engine.IO path [/socket.io/]
 *   -n, --clients N   clients [100]; broadcast adds one trigger connection
 *   -c, --concurrency C  connections being set up at once [100]
 *   -t, --threads T   worker threads, each with its own epoll [1]
 *   -d, --duration S  measured window / idle hold, seconds [5]
 *   --timeout S       hard limit for the whole run [60 + 2 x duration]
 *   --drain S         wait for answers in flight after the window [10]
 *   --size B          payload text bytes (broadcast tick, echo) [100]
 *   --count K         broadcasts per trigger request [20]
 *   --room R          broadcast room [bench]
 *   --hold-stdin      idle: also stop at a line or EOF on stdin
 *
 * Server side it needs the events of benchmarks/bench_app.py: join(room) ->
 * ack, blast({room, count, size}) -> `count` "tick" emits to room, ack count;
 * echo(data) -> ack data. What each mode does: modes.c.
 *
 * Output: JSON lines on stdout. "start" (connect, broadcast, echo) or "ready"
 * (idle) when the measured window begins, then one "result" line with the
 * figures and "ok". Exit 0 when ok, 1 when the run failed or a check did not
 * hold (errors, lost connections, wrong acks, missing deliveries), 2 on bad
 * usage. Diagnostics on stderr. */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int selftest_main(void);

#define MAX_CLIENTS 100000
#define MAX_THREADS 64
#define MAX_SIZE (1 << 20)
#define MAX_EVENTS 512

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int phase_of(struct run *r) { return atomic_load_explicit(&r->phase, memory_order_acquire); }

void set_phase(struct run *r, int phase)
{
    atomic_store_explicit(&r->phase, phase, memory_order_release);
}

void run_abort(struct run *r, const char *fmt, ...)
{
    if (phase_of(r) >= P_DONE)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->abort_reason, sizeof r->abort_reason, fmt, ap);
    va_end(ap);
    set_phase(r, P_ABORT);
}

static void usage(const char *why)
{
    fprintf(stderr, "loadgen: %s\nusage: loadgen connect|idle|broadcast|echo --port P "
            "[-n clients] [-c concurrency] [-t threads] [-d seconds] [--size B] [--count K] "
            "[--room R] [--path P] [--host 127.0.0.1] [--timeout S] [--drain S] "
            "[--hold-stdin]\n       loadgen selftest\n", why);
    exit(2);
}

static double num_arg(const char *s, const char *name, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a number in [%g, %g]", name, lo, hi);
        usage(msg);
    }
    return v;
}

/* Resolves --host to a loopback socket address; anything else is refused. */
static void loopback_addr(struct run *r)
{
    const char *h = r->o.host;
    if (strcmp(h, "localhost") == 0)
        h = "127.0.0.1";
    memset(&r->addr, 0, sizeof r->addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&r->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->addr;
    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            usage("--host must be a loopback address (127.0.0.0/8 or ::1)");
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)r->o.port);
        r->addr_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            usage("--host must be a loopback address (127.0.0.0/8 or ::1)");
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)r->o.port);
        r->addr_len = sizeof *a6;
        r->o.host = "[::1]";   /* as the Host header writes it */
    } else {
        usage("--host must be a numeric loopback address or localhost");
    }
}

static void parse_args(struct run *r, int argc, char **argv)
{
    struct opts *o = &r->o;
    *o = (struct opts){.host = "127.0.0.1", .path = "/socket.io/", .clients = 100,
                       .concurrency = 100, .threads = 1, .duration = 5, .timeout = -1,
                       .drain = 10, .size = 100, .count = 20, .room = "bench"};
    const char *m = argv[1];
    if (strcmp(m, "connect") == 0)
        o->mode = M_CONNECT;
    else if (strcmp(m, "idle") == 0)
        o->mode = M_IDLE;
    else if (strcmp(m, "broadcast") == 0)
        o->mode = M_BROADCAST;
    else if (strcmp(m, "echo") == 0)
        o->mode = M_ECHO;
    else
        usage("unknown mode");
    enum { O_HOST = 256, O_PORT, O_PATH, O_TIMEOUT, O_DRAIN, O_SIZE, O_COUNT, O_ROOM, O_HOLD };
    static const struct option longs[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"path", required_argument, 0, O_PATH},
        {"clients", required_argument, 0, 'n'},
        {"concurrency", required_argument, 0, 'c'},
        {"threads", required_argument, 0, 't'},
        {"duration", required_argument, 0, 'd'},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"drain", required_argument, 0, O_DRAIN},
        {"size", required_argument, 0, O_SIZE},
        {"count", required_argument, 0, O_COUNT},
        {"room", required_argument, 0, O_ROOM},
        {"hold-stdin", no_argument, 0, O_HOLD},
        {0, 0, 0, 0}};
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:c:t:d:", longs, NULL)) != -1) {
        switch (ch) {
        case O_HOST: o->host = optarg; break;
        case O_PORT: o->port = (int)num_arg(optarg, "--port", 1, 65535); break;
        case O_PATH: o->path = optarg; break;
        case 'n': o->clients = (int)num_arg(optarg, "--clients", 1, MAX_CLIENTS); break;
        case 'c': o->concurrency = (int)num_arg(optarg, "--concurrency", 1, MAX_CLIENTS); break;
        case 't': o->threads = (int)num_arg(optarg, "--threads", 1, MAX_THREADS); break;
        case 'd': o->duration = num_arg(optarg, "--duration", 0, 3600); break;
        case O_TIMEOUT: o->timeout = num_arg(optarg, "--timeout", 0.1, 7200); break;
        case O_DRAIN: o->drain = num_arg(optarg, "--drain", 0, 600); break;
        case O_SIZE: o->size = (int)num_arg(optarg, "--size", 0, MAX_SIZE); break;
        case O_COUNT: o->count = (int)num_arg(optarg, "--count", 1, 100000); break;
        case O_ROOM: o->room = optarg; break;
        case O_HOLD: o->hold_stdin = 1; break;
        default: usage("bad option");
        }
    }
    if (optind != argc)
        usage("unexpected argument");
    if (!o->port)
        usage("--port is required");
    if (o->timeout < 0)
        o->timeout = 60 + 2 * o->duration;
    if (o->threads > o->clients)
        o->threads = o->clients;
    for (const char *p = o->room; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            usage("--room must not need JSON escaping");
    if (!o->room[0])
        usage("--room must not be empty");
    int n = snprintf(r->path_query, sizeof r->path_query, "%s?EIO=4&transport=websocket",
                     o->path);
    if (o->path[0] != '/' || n < 0 || (size_t)n >= sizeof r->path_query ||
        strpbrk(o->path, " \r\n?"))
        usage("--path must start with / and hold no spaces or query");
    loopback_addr(r);
}

/* Raises the open-files limit to what the clients need (soft up to hard). */
static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        perror("loadgen: getrlimit");
        exit(2);
    }
    if (rl.rlim_cur >= (rlim_t)need)
        return;
    if (rl.rlim_max < (rlim_t)need) {
        fprintf(stderr, "loadgen: %d clients need %d open files; the hard limit is %llu\n",
                need - 64, need, (unsigned long long)rl.rlim_max);
        exit(2);
    }
    rl.rlim_cur = (rlim_t)need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        perror("loadgen: setrlimit");
        exit(2);
    }
}

/* Marker for stdin in worker 0's epoll set (never a struct conn). */
static char stdin_tag;

static void read_stdin(struct worker *w)
{
    char b[256];
    ssize_t n = read(0, b, sizeof b);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || memchr(b, '\n', (size_t)n)) {
        w->r->released = 1;
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, 0, NULL);
    }
}

static void *worker_loop(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    struct epoll_event ev[MAX_EVENTS];
    for (;;) {
        int phase = phase_of(r);
        if (phase >= P_DONE)
            break;
        if (phase != w->seen_phase) {
            w->seen_phase = phase;
            mode_on_phase(w, phase);
        }
        while (phase == P_CONNECT && w->next < w->nc && w->connecting < w->concurrency)
            conn_start(w, &w->c[w->next++]);
        int n = epoll_wait(w->epfd, ev, MAX_EVENTS, 2);
        if (n < 0 && errno != EINTR) {
            if (w->id == 0)
                run_abort(r, "epoll_wait: %s", strerror(errno));
            break;
        }
        w->now = now_s();
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &stdin_tag)
                read_stdin(w);
            else
                conn_event(ev[i].data.ptr, ev[i].events);
        }
        if (w->id == 0)
            mode_coordinate(r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "selftest") == 0)
        return selftest_main();
    if (argc < 2)
        usage("a mode is required");
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    static struct run run;
    struct run *r = &run;
    parse_args(r, argc, argv);
    struct opts *o = &r->o;
    raise_nofile(o->clients + 64 + 8 * o->threads);

    r->pad = malloc((size_t)o->size + 1);
    r->nw = o->threads;
    r->w = calloc((size_t)r->nw, sizeof *r->w);
    if (!r->pad || !r->w) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 2;
    }
    memset(r->pad, 'x', (size_t)o->size);
    r->pad[o->size] = '\0';

    uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(now_s() * 1e9);
    int status = 2;
    for (int i = 0; i < r->nw; i++)
        r->w[i].epfd = -1;
    for (int i = 0; i < r->nw; i++) {
        struct worker *w = &r->w[i];
        w->id = i;
        w->r = r;
        w->rng = seed + (uint64_t)i * 0x632BE59BD9B4E019ULL + 1;
        w->concurrency = (o->concurrency + r->nw - 1) / r->nw;
        int lo = (int)((long long)o->clients * i / r->nw);
        int hi = (int)((long long)o->clients * (i + 1) / r->nw);
        int extra = (i == 0 && o->mode == M_BROADCAST);
        w->nc = hi - lo + extra;
        w->c = calloc((size_t)w->nc, sizeof *w->c);
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (!w->c || w->epfd < 0) {
            fprintf(stderr, "loadgen: worker setup: %s\n", strerror(errno));
            goto cleanup;
        }
        for (int k = 0; k < w->nc; k++) {
            w->c[k].fd = -1;
            w->c[k].w = w;
        }
        if (extra) {
            /* the trigger connects first, so it is up before the room is full */
            struct conn tmp = w->c[0];
            w->c[0] = w->c[w->nc - 1];
            w->c[w->nc - 1] = tmp;
            w->c[0].trigger = 1;
            r->trig = &w->c[0];
        }
    }
    if (o->mode == M_IDLE && o->hold_stdin) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_tag};
        if (epoll_ctl(r->w[0].epfd, EPOLL_CTL_ADD, 0, &ev) < 0) {
            fprintf(stderr, "loadgen: --hold-stdin needs a pipe or terminal on stdin: %s\n",
                    strerror(errno));
            goto cleanup;
        }
    }

    r->t0 = now_s();
    r->t_run = r->t0;
    r->deadline = r->t0 + o->timeout;
    getrusage(RUSAGE_SELF, &r->ru_run);
    set_phase(r, P_CONNECT);
    if (o->mode == M_CONNECT) {
        jline j;
        jl_begin(&j, "start");
        jl_int(&j, "clients", o->clients);
        jl_end(&j, stdout);
    }
    int started = 1;
    for (int i = 1; i < r->nw; i++) {
        int rc = pthread_create(&r->w[i].thread, NULL, worker_loop, &r->w[i]);
        if (rc) {
            run_abort(r, "pthread_create: %s", strerror(rc));
            break;
        }
        started++;
    }
    worker_loop(&r->w[0]);
    for (int i = 1; i < started; i++)
        pthread_join(r->w[i].thread, NULL);
    status = mode_report(r);

cleanup:
    for (int i = 0; i < r->nw; i++) {
        struct worker *w = &r->w[i];
        for (int k = 0; w->c && k < w->nc; k++) {
            conn_close(&w->c[k]);
            conn_free(&w->c[k]);
        }
        free(w->c);
        buf_free(&w->scratch);
        lat_free(&w->lat);
        lat_free(&w->conn_lat);
        if (w->epfd >= 0)
            close(w->epfd);
    }
    free(r->w);
    free(r->pad);
    return status;
}
