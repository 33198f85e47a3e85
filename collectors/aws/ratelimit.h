/*
 * ratelimit: client-side request pacing per key, e.g.
 * "cloudtrail.LookupEvents/123456789012/us-east-1". Requests on one key are
 * spaced at least 1/rate seconds apart (a token bucket of depth one), so no
 * one-second window ever holds more than rate requests — LookupEvents allows
 * 2 per second per account and region, and never more. Thread-safe.
 */
#ifndef AWS_RATELIMIT_H
#define AWS_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>

/*
 * Waits until a request on key may go, then claims the slot. Returns 0, or
 * -1 when *stopping became true while waiting (stopping may be NULL).
 */
int ratelimit_wait(const char *key, double rate, const atomic_bool *stopping);

/* How long a request on key would wait now, in seconds (0 when it may go). */
double ratelimit_delay(const char *key, double rate);

/* Forgets every key (tests). */
void ratelimit_reset(void);

#endif
