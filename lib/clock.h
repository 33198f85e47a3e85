/*
 * clock: the one place the project reads a clock.
 *
 * Two clocks, never mixed: the monotonic clock measures intervals (durations,
 * rate limits, cache ages, deadlines of waits), the wall clock stamps what a
 * person or Prometheus reads (timestamps in metrics and logs). Both in seconds
 * as a double: microsecond resolution for the next few centuries.
 */
#ifndef LIB_CLOCK_H
#define LIB_CLOCK_H

#include <pthread.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for intervals only, meaningless as a date. */
double clock_mono(void);

/* Seconds since the Unix epoch (CLOCK_REALTIME). */
double clock_wall(void);

/* A time in seconds of either clock (not negative) as the struct timespec
 * that pthread_cond_timedwait and pthread_timedjoin_np take for a deadline:
 * clock_timespec(clock_mono() + 5) with a condition variable on
 * CLOCK_MONOTONIC. */
struct timespec clock_timespec(double t);

/* Initialises c to time its waits on CLOCK_MONOTONIC (deadlines from
 * clock_timespec(clock_mono() + seconds)): a wall clock stepped back or
 * forward neither stretches nor cuts a wait. Returns pthread_cond_init's
 * result. */
int clock_cond_init(pthread_cond_t *c);

#endif
