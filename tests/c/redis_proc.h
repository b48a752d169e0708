/* Real redis-server processes for the C tests: started on a free loopback
 * port with no persistence, stopped (SIGKILL, as an outage) and restarted on
 * the same port. Header-only; include once per test binary.
 *
 *   redis_proc rp;
 *   if (redis_proc_start(&rp, 0) < 0) { skip }   // 0: pick a free port
 *   ... connect to 127.0.0.1:rp.port ...
 *   redis_proc_stop(&rp);                         // kill -9, wait
 *   redis_proc_start(&rp, rp.port);               // same port again
 *   redis_proc_stop(&rp);
 *
 * redis_proc_start_args passes extra arguments (e.g. "--replicaof", ...);
 * redis_proc_start_conf also passes a config file first (as redis-server
 * wants it), e.g. a writable Sentinel config with extra = {"--sentinel", NULL}.
 * The binary is $FASTSIO_REDIS_SERVER or "redis-server" on PATH. */
#ifndef FASTSIO_TEST_REDIS_PROC_H
#define FASTSIO_TEST_REDIS_PROC_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct redis_proc {
    pid_t pid;
    int port;
} redis_proc;

static int redis_proc_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

static void redis_proc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int redis_proc_accepts(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* conf: config file path or NULL; extra: NULL-terminated list of additional
 * redis-server arguments, or NULL. Returns 0 once the server accepts
 * connections, -1 otherwise. */
static int redis_proc_start_conf(redis_proc *rp, int port, const char *conf,
                                 const char *const *extra)
{
    if (port <= 0)
        port = redis_proc_free_port();
    if (port <= 0)
        return -1;
    const char *bin = getenv("FASTSIO_REDIS_SERVER");
    if (!bin || !*bin)
        bin = "redis-server";
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    const char *argv[64] = {bin, "--port", portbuf, "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                            "--logfile", "/dev/null"};
    size_t n = 15;
    if (conf) {
        memmove(&argv[2], &argv[1], 14 * sizeof argv[0]);
        argv[1] = conf;
        n++;
    }
    for (size_t i = 0; extra && extra[i] && n < 63; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(bin, (char *const *)argv);
        _exit(127);
    }
    rp->pid = pid;
    rp->port = port;
    for (int i = 0; i < 500; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rp->pid = 0;
            return -1;
        }
        if (redis_proc_accepts(port))
            return 0;
        redis_proc_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rp->pid = 0;
    return -1;
}

static int redis_proc_start_args(redis_proc *rp, int port, const char *const *extra)
{
    return redis_proc_start_conf(rp, port, NULL, extra);
}

static int redis_proc_start(redis_proc *rp, int port)
{
    return redis_proc_start_args(rp, port, NULL);
}

static void redis_proc_stop(redis_proc *rp)
{
    if (rp->pid > 0) {
        kill(rp->pid, SIGKILL);
        waitpid(rp->pid, NULL, 0);
        rp->pid = 0;
    }
}

#endif
