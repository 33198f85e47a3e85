/*
 * aws_session: what the AWS collectors share — the --aws.* flags, one
 * credentials chain (with --aws.role-arn on top), a client factory, and the
 * metrics of the AWS client (requests by code, retries, credentials expiry).
 */
#ifndef COLLECTORS_AWS_SESSION_H
#define COLLECTORS_AWS_SESSION_H

#include "exporter/collector.h"
#include "collectors/aws/client.h"
#include "collectors/aws/providers.h"

/* Adds the --aws.* flags. */
int aws_session_add_flags(struct flagset *fs);

/*
 * Sets the session up on first use (later calls return the same result):
 * resolves the region and the credentials chain. Returns 0, or -1 with a
 * reason in err. Thread-safe.
 */
int aws_session_setup(char *err, size_t errlen);

/* The resolved configuration (after setup). stopping is the exporter's. */
const struct aws_config *aws_session_config(void);

/* The exporter's own credentials (after setup). */
struct aws_creds_provider *aws_session_creds(void);

/* A new client with the session's credentials; the caller destroys it. */
struct aws_client *aws_session_client(void);

/* Registry live writer: aws_org_api_requests_total, aws_org_api_retries_total,
 * aws_org_credentials_expiry_timestamp_seconds. */
int aws_session_write_metrics(void *arg, struct expo *out);

#endif
