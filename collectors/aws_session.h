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

/* The session's configuration (after setup) as one collector uses it: with
 * its own region (NULL or "": the session's) and its stopping flag (may be
 * NULL). The strings stay the session's or the caller's. */
struct aws_config aws_session_config_for(const char *region, const atomic_bool *stopping);

/*
 * The client of a collector's runs. Made at the first run, not at start
 * (without credentials the exporter still serves, with up 0 and the reason
 * in the log), and kept in *client (the caller's, destroyed by it) for the
 * next runs, which get it back at once. region: the collector's own (NULL or
 * "": the session's). role_arn: a role the collector reads through (NULL or
 * "": the session's credentials); its provider is made once, into *role (the
 * caller's, destroyed after the client; role may be NULL when role_arn is).
 * Returns *client, or NULL with r->err set.
 */
struct aws_client *aws_session_run_client(struct aws_client **client,
                                          struct aws_creds_provider **role, const char *region,
                                          const char *role_arn, const struct collector_run *r);

/* Registry live writer: aws_org_api_requests_total, aws_org_api_retries_total,
 * aws_org_credentials_expiry_timestamp_seconds. */
int aws_session_write_metrics(void *arg, struct expo *out);

#endif
