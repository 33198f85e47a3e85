#define _POSIX_C_SOURCE 200809L
#include "lib/clock.h"

static double read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_mono(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

double clock_wall(void)
{
    return read_clock(CLOCK_REALTIME);
}

struct timespec clock_timespec(double t)
{
    time_t whole = (time_t)t;
    long ns = (long)((t - (double)whole) * 1e9);
    if (ns > 999999999L)
        ns = 999999999L;
    return (struct timespec){whole, ns};
}

int clock_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}
