/*
 * stats: what the AWS client did, for the collectors to report — requests by
 * (service, operation, code), retries by (service, operation), and the
 * expiry of the credentials in use. Counters only grow. Thread-safe.
 * This module knows nothing of metrics: readers walk the counters.
 */
#ifndef AWS_STATS_H
#define AWS_STATS_H

#include <stdint.h>

/* code is "OK", an AWS error code, or a transport class. Strings are copied. */
void aws_stats_request(const char *service, const char *operation, const char *code);
void aws_stats_retry(const char *service, const char *operation);

/* Records the expiry (unix seconds, 0 = none) of credentials from source. */
void aws_stats_credentials(const char *source, double expiry);

/* Walks every counter under the stats lock; callbacks must not call back in. */
typedef void (*aws_stats_request_fn)(void *arg, const char *service, const char *operation,
                                     const char *code, uint64_t count);
typedef void (*aws_stats_retry_fn)(void *arg, const char *service, const char *operation,
                                   uint64_t count);
typedef void (*aws_stats_creds_fn)(void *arg, const char *source, double expiry);
void aws_stats_walk(aws_stats_request_fn req, aws_stats_retry_fn retry, aws_stats_creds_fn creds,
                    void *arg);

/* Forgets everything (tests). */
void aws_stats_reset(void);

#endif
