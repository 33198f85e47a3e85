/*
 * startup_probe: time from fork to the first 200 on /-/healthy.
 *
 *     startup_probe REPEATS PROGRAM ARG... ("{PORT}" in an ARG becomes the port)
 *
 * For each repeat: picks a free loopback port, takes the monotonic time,
 * forks and execs PROGRAM (stdout and stderr to /dev/null, so logging to a
 * terminal is not measured), then connects to 127.0.0.1:PORT in a tight loop
 * (a refused connect is retried at once, after sched_yield) and sends
 * "GET /-/healthy"; the time is taken when a status line "HTTP/1.x 200"
 * arrives. The child is then sent SIGTERM and reaped. Gives up on a start
 * after 10 s. Prints one JSON line: {"samples_ms":[...],"median_ms":M,"failed":F}.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &l) != 0)
        return 0;
    close(fd);
    return ntohs(sa.sin_port);
}

/* One attempt: 1 on a 200, 0 when not yet listening or not 200, -1 on error. */
static int try_healthy(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return 0;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static const char req[] =
        "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return 0;
    }
    char buf[64];
    size_t n = 0;
    while (n < 12) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return n >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: startup_probe REPEATS PROGRAM ARG...\n");
        return 2;
    }
    int repeats = atoi(argv[1]);
    if (repeats < 1)
        return 2;
    double *ms = calloc((size_t)repeats, sizeof *ms);
    int ok = 0, failed = 0;
    for (int r = 0; r < repeats; r++) {
        unsigned port = free_port();
        char ps[16];
        snprintf(ps, sizeof ps, "%u", port);
        char **args = calloc((size_t)argc, sizeof *args);
        for (int i = 2; i < argc; i++) {
            const char *ph = strstr(argv[i], "{PORT}");
            if (ph == NULL) {
                args[i - 2] = argv[i];
                continue;
            }
            size_t len = strlen(argv[i]) + sizeof ps;
            args[i - 2] = malloc(len);
            snprintf(args[i - 2], len, "%.*s%s%s", (int)(ph - argv[i]), argv[i], ps, ph + 6);
        }
        double t0 = clock_mono();
        pid_t pid = fork();
        if (pid == 0) {
            int dn = open("/dev/null", O_WRONLY);
            dup2(dn, 1);
            dup2(dn, 2);
            execv(args[0], args);
            _exit(127);
        }
        double got = -1;
        while (clock_mono() - t0 < 10) {
            int rc = try_healthy(port);
            if (rc == 1) {
                got = clock_mono() - t0;
                break;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                pid = -1;
                break;
            }
            sched_yield();
        }
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
        }
        if (got >= 0)
            ms[ok++] = got * 1e3;
        else
            failed++;
        for (int i = 2; i < argc; i++)
            if (args[i - 2] != argv[i])
                free(args[i - 2]);
        free(args);
    }
    printf("{\"samples_ms\":[");
    for (int i = 0; i < ok; i++)
        printf("%s%.3f", i ? "," : "", ms[i]);
    qsort(ms, (size_t)ok, sizeof *ms, cmp_double);
    double med = ok == 0 ? -1 : ok % 2 ? ms[ok / 2] : (ms[ok / 2 - 1] + ms[ok / 2]) / 2;
    printf("],\"median_ms\":%.3f,\"failed\":%d}\n", med, failed);
    return failed ? 1 : 0;
}
