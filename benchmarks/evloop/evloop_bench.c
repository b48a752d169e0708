/* Event-loop measurement of the native transport (csrc/transport) under
 * lws's poll loop, libuv and libev (docs/native-event-loop.md).
 *
 * One process: the server (fio_ws_server, its service thread) and in-process
 * clients on loopback. The harness accepts each connection on its own
 * listening socket, reads the upgrade head and hands fd + bytes to
 * fio_ws_adopt, as the uvicorn protocol class does. Clients are read by one
 * forked process with one epoll loop (no lws on the client side; each
 * process then needs N fds, not 2N). CPU: the service thread's
 * (pthread_getcpuclockid; found from on_open, which runs on it) is "server",
 * the client process's (clock_getcpuclockid) "client", the main thread that
 * pushes frames "pusher" (in lockstep it also spins waiting).
 *
 * Usage: evloop_bench MODE N [SECONDS|FRAMES]; the loop comes from
 * FASTSIO_LWS_LOOP=poll|uv|ev (default: the server's default).
 *   idle N S       N connections idle for S s: server CPU, RSS per connection
 *   lockstep N F   F broadcasts of one 31-byte frame to all N, the next one
 *                  only once every client got the previous one
 *   free N F       the same, broadcast as fast as the hub takes them
 *   trickle N S    every 10 ms the next 1% of the connections (at least one)
 *                  each get one frame, for S s
 * Output: one line "result mode=... loop=... key=value ...". The service
 * thread's id is printed first ("service_tid=") for per-thread strace. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "hub.h"
#include "lws_server.h"

static const char msg[] = "42[\"delta\",{\"content\":\"hello\"}]";   /* 31 bytes */
#define FRAME_BYTES (2 + sizeof msg - 1)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static size_t opens;
static clockid_t service_clock;
static pid_t service_tid;

static void on_open(void *ctx, uint32_t conn)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&mu);
    if (!service_tid) {
        service_tid = (pid_t)syscall(SYS_gettid);
        if (pthread_getcpuclockid(pthread_self(), &service_clock) != 0)
            service_clock = CLOCK_THREAD_CPUTIME_ID;
    }
    opens++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double clock_s(clockid_t c)
{
    struct timespec t;
    if (clock_gettime(c, &t) != 0)
        return 0;
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double proc_cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static long rss_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb;
}

/* ------------------------------------------------------------ sockets */

static int lfd, lport;

static void listen_up(void)
{
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) < 0)
        die("listen");
    lport = ntohs(a.sin_port);
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until "\r\n\r\n"; returns the head length, -1 on error. */
static int read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r <= 0)
            return -1;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return (int)n;
    }
    return -1;
}

static const char upgrade[] =
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* Client process: connects and sends the upgrade request. */
static int client_connect(void)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    int one = 1;
    if (setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("nodelay");
    if (send_all(c, upgrade, sizeof upgrade - 1) < 0)
        die("send");
    return c;
}

/* Server process: accepts one connection, reads its head, adopts it. */
static void server_accept(fio_ws_server *srv, uint32_t *conn)
{
    int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    char head[2048];
    int hl = s >= 0 ? read_head(s, head, sizeof head) : -1;
    if (hl < 0)
        die("accept/read head");
    if (fio_ws_adopt(srv, s, head, (size_t)hl, NULL, 0, 1, conn) != FIO_OK)
        die("adopt");
}

/* Client process: the 101 head and the OPEN frame. */
static void client_handshake(int c)
{
    char head[2048];
    if (read_head(c, head, sizeof head) < 0 || strncmp(head, "HTTP/1.1 101", 12) != 0)
        die("handshake");
    unsigned char h[2];
    if (recv(c, h, 2, MSG_WAITALL) != 2)
        die("open frame");
    char open[128];   /* a 7-bit length: at most 125 */
    if ((h[1] & 0x7f) > 125 || recv(c, open, h[1] & 0x7f, MSG_WAITALL) != (h[1] & 0x7f))
        die("open payload");
}

/* ------------------------------------------------------------ the reading thread */

/* Shared (MAP_SHARED) between the server process and the client process,
 * which runs every client socket (so each process needs N fds, not 2N). */
typedef struct reader {
    int ep;
    _Atomic size_t bytes;
    _Atomic int stop, ready;
} reader;

static void read_loop(reader *r)
{
    static char buf[1 << 16];
    struct epoll_event evs[512];
    while (!atomic_load(&r->stop)) {
        int k = epoll_wait(r->ep, evs, 512, 50);
        for (int i = 0; i < k; i++) {
            ssize_t n;
            while ((n = recv(evs[i].data.fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                atomic_fetch_add(&r->bytes, (size_t)n);
        }
    }
}

/* The client process: N connections, handshakes, then reads until told. */
static void client_main(reader *r, int n)
{
    int *cl = malloc((size_t)n * sizeof *cl);
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < n; i++)
        cl[i] = client_connect();
    for (int i = 0; i < n; i++) {
        client_handshake(cl[i]);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = cl[i]};
        if (epoll_ctl(r->ep, EPOLL_CTL_ADD, cl[i], &e) < 0)
            die("epoll_ctl");
    }
    atomic_store(&r->ready, 1);
    read_loop(r);
    _exit(0);
}

/* ------------------------------------------------------------ pushing */

typedef struct woken { fio_ws_server *srv; } woken;

static void wake_cb(void *ctx, uint32_t conn, int status)
{
    (void)status;
    fio_ws_wake(((woken *)ctx)->srv, conn);
}

static void broadcast_one(fio_hub *hub, fio_ws_server *srv)
{
    fio_str ns = {"/", 1}, room = {"r", 1};
    fio_frame *fr = fio_frame_new(msg, sizeof msg - 1, 0);
    woken w = {srv};
    fio_hub_broadcast(hub, ns, &room, 1, NULL, 0, &fr, 1, wake_cb, &w);
    fio_frame_unref(fr);
}

static void wait_bytes(reader *r, size_t want, double timeout_s)
{
    double t0 = now_s();
    while (atomic_load(&r->bytes) < want && now_s() - t0 < timeout_s)
        sched_yield();
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: evloop_bench idle|lockstep|free|trickle N [S|F]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    long arg = argc > 3 ? atol(argv[3]) : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    rl.rlim_cur = (rlim_t)n + 1024;
    if (rl.rlim_max < rl.rlim_cur)
        rl.rlim_max = rl.rlim_cur;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("setrlimit (run as root or raise the hard limit)");
    fio_ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *ln = getenv("FASTSIO_LWS_LOOP");
    if (ln && fio_ws_loop_parse(ln, &cfg.event_loop) < 0) {
        fprintf(stderr, "FASTSIO_LWS_LOOP=%s: not poll, uv, ev or default\n", ln);
        return 2;
    }
    cfg.ping_interval_ms = 3600 * 1000;   /* no pings during a run */
    cfg.ping_timeout_ms = 3600 * 1000;
    cfg.on_open = on_open;
    long frames_bound = strcmp(mode, "free") == 0 ? arg + 16 : 1000;
    fio_hub *hub = fio_hub_new_bounded((size_t)frames_bound, (size_t)1 << 30);
    fio_ws_server *srv = hub ? fio_ws_server_new(hub, &cfg) : NULL;
    if (!srv || fio_ws_server_start(srv) < 0)
        die("server");
    listen_up();

    long rss0 = rss_kb();
    uint32_t *conn = malloc((size_t)n * sizeof *conn);
    reader *rp = mmap(NULL, sizeof *rp, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rp == MAP_FAILED)
        die("mmap");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0)
        client_main(rp, n);
    clockid_t client_clock;
    if (clock_getcpuclockid(child, &client_clock) != 0)
        die("clock_getcpuclockid");
    for (int i = 0; i < n; i++) {
        server_accept(srv, &conn[i]);
        char sid[16];
        int k = snprintf(sid, sizeof sid, "s%d", i);
        fio_hub_connect(hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)k}, conn[i]);
        fio_hub_enter(hub, (fio_str){"/", 1}, (fio_str){sid, (size_t)k}, (fio_str){"r", 1});
    }
    while (!atomic_load(&rp->ready))
        usleep(1000);
    long rss1 = rss_kb();
    printf("service_tid=%d\n", (int)service_tid);
    fflush(stdout);
    usleep(200000);   /* settle: the reader drained nothing yet, the service thread idles */
    const char *loop_name = fio_ws_loop_name(cfg.event_loop);

    double t0 = now_s(), s0 = clock_s(service_clock), p0 = proc_cpu_s(), m0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    double r0 = clock_s(client_clock);
    size_t deliveries = 0;
    if (strcmp(mode, "idle") == 0) {
        sleep((unsigned)(arg > 0 ? arg : 20));
    } else if (strcmp(mode, "lockstep") == 0 || strcmp(mode, "free") == 0) {
        long frames = arg > 0 ? arg : 100;
        int lock = strcmp(mode, "lockstep") == 0;
        for (long f = 0; f < frames; f++) {
            broadcast_one(hub, srv);
            if (lock)
                wait_bytes(rp, (size_t)n * FRAME_BYTES * (size_t)(f + 1), 30);
        }
        wait_bytes(rp, (size_t)n * FRAME_BYTES * (size_t)frames, 60);
        deliveries = (size_t)n * (size_t)frames;
    } else if (strcmp(mode, "trickle") == 0) {
        double secs = arg > 0 ? (double)arg : 10;
        int per = n / 100 > 0 ? n / 100 : 1;
        int next = 0;
        double tick = t0;
        fio_frame *fr = fio_frame_new(msg, sizeof msg - 1, 0);
        while (now_s() - t0 < secs) {
            for (int i = 0; i < per; i++) {
                uint32_t id = conn[next];
                next = (next + 1) % n;
                if (fio_hub_push(hub, id, &fr, 1) == 1)
                    fio_ws_wake(srv, id);
                deliveries++;
            }
            tick += 0.010;
            double d = tick - now_s();
            if (d > 0)
                usleep((useconds_t)(d * 1e6));
        }
        fio_frame_unref(fr);
        wait_bytes(rp, deliveries * FRAME_BYTES, 30);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    double wall = now_s() - t0, scpu = clock_s(service_clock) - s0,
           pcpu = proc_cpu_s() - p0, mcpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - m0,
           rcpu = clock_s(client_clock) - r0;
    size_t got = atomic_load(&rp->bytes);
    atomic_store(&rp->stop, 1);
    waitpid(child, NULL, 0);
    fio_ws_stats st;
    fio_ws_get_stats(srv, &st);
    printf("result mode=%s loop=%s n=%d wall_s=%.3f server_cpu_pct=%.2f client_cpu_pct=%.2f "
           "pusher_cpu_pct=%.2f process_cpu_pct=%.2f rss_per_conn_b=%.0f deliveries=%zu "
           "complete=%d deliveries_per_s=%.0f server_us_per_delivery=%.3f "
           "client_us_per_delivery=%.3f frames_per_write=%.2f\n",
           mode, loop_name, n, wall, 100 * scpu / wall, 100 * rcpu / wall, 100 * mcpu / wall,
           100 * pcpu / wall, (double)(rss1 - rss0) * 1024.0 / n, deliveries,
           got >= deliveries * FRAME_BYTES, deliveries ? (double)deliveries / wall : 0,
           deliveries ? scpu * 1e6 / (double)deliveries : 0,
           deliveries ? rcpu * 1e6 / (double)deliveries : 0,
           st.writes ? (double)st.frames_out / (double)st.writes : 0);
    fflush(stdout);
    fio_ws_server_stop_and_free(srv);
    fio_hub_free(hub);
    close(lfd);
    free(conn);
    return 0;
}
