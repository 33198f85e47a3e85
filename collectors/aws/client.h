/*
 * client: calls to AWS the way the SDKs make them.
 *
 *   JSON 1.1 RPC (Organizations, CloudTrail), JSON 1.0 (SQS): POST / with
 *   X-Amz-Target.
 *   Query protocol (STS): POST / with a form-encoded body, XML answers.
 *
 * Every call is paced per (account, region, operation) by ratelimit, signed
 * with SigV4 from a credentials provider, sent on this thread's reusable curl
 * handle with connect and total timeouts and a response-size cap, and retried
 * in the SDKs' "standard" mode: exponential backoff with full jitter on
 * throttling, 5xx, timeouts and connection errors; never on validation or
 * access errors. An expired-token answer refreshes the credentials and
 * retries once; a "signature expired" answer corrects the clock skew from
 * the response's Date and retries once. Every attempt is counted in stats.
 *
 * Secrets never reach an error message or a log line from here.
 */
#ifndef AWS_CLIENT_H
#define AWS_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "collectors/aws/error.h"
#include "lib/buf.h"

struct aws_creds_provider;

enum aws_service { AWS_ORGANIZATIONS, AWS_CLOUDTRAIL, AWS_STS, AWS_SQS, AWS_SERVICE_COUNT };

struct aws_config {
    const char *region;          /* resolved: flag, AWS_REGION, AWS_DEFAULT_REGION, profile */
    const char *endpoint_url;    /* --aws.endpoint-url, or NULL */
    unsigned max_attempts;       /* attempts per call for errors other than throttling */
    double connect_timeout;      /* seconds */
    double timeout;              /* seconds, whole request */
    size_t max_body;             /* response bodies larger than this are errors */
    const char *ca_bundle;       /* AWS_CA_BUNDLE, or NULL */
    double backoff_base;         /* seconds; the SDKs use 1 */
    double process_timeout;      /* seconds a credential_process may run; the SDKs use 60 */
    const atomic_bool *stopping; /* may be NULL; when set, a transfer in progress is cut */
};

/* Fills cfg with the defaults and the environment (AWS_MAX_ATTEMPTS,
 * AWS_CA_BUNDLE). region stays NULL unless AWS_REGION/AWS_DEFAULT_REGION. */
void aws_config_defaults(struct aws_config *cfg);

/* Service names as in metrics and endpoint variables: "organizations", ... */
const char *aws_service_name(enum aws_service svc);

/*
 * The endpoint URL for svc: cfg->endpoint_url, else AWS_ENDPOINT_URL_<SVC>,
 * else AWS_ENDPOINT_URL, else the service's regional endpoint. Also the
 * region to sign for (Organizations is global: us-east-1 in the aws
 * partition). Returns 0, or -1 when the result does not fit.
 */
int aws_endpoint(const struct aws_config *cfg, enum aws_service svc, char *url, size_t urllen,
                 char *signing_region, size_t regionlen);

struct aws_client;

/*
 * A client signing with creds (borrowed; NULL for unsigned calls only).
 * account labels the rate-limit keys ("default" for the exporter's own
 * identity, an account id for member roles). cfg's strings are copied. A
 * service's endpoint (aws_endpoint) is resolved on the client's first call
 * to it and kept: the environment is read once per client and service; an
 * invalid one fails the calls with ConfigError.
 */
struct aws_client *aws_client_create(const struct aws_config *cfg, struct aws_creds_provider *creds,
                                     const char *account);

/* Accepts NULL. */
void aws_client_destroy(struct aws_client *c);

/*
 * One JSON 1.1 call. request is borrowed (NULL sends "{}"). On success
 * returns 0 and *response is a new reference the caller owns (an object).
 * On failure returns -1 with err filled; *response is NULL.
 */
int aws_json_call(struct aws_client *c, enum aws_service svc, const char *operation,
                  json_t *request, json_t **response, struct aws_error *err);

/*
 * One STS query-protocol call: params is key, value, ..., NULL (Action and
 * Version included by the caller), sent as a form body; signed unless sign
 * is false. On success returns 0 with the XML body in out (appended).
 */
int aws_query_call(struct aws_client *c, const char *action, const char *const *params, bool sign,
                   struct buf *out, struct aws_error *err);

/* Plain HTTP for the metadata endpoints (container credentials, IMDS):
 * method, url, extra headers ("Name: value", NULL-terminated); no signing,
 * no retries beyond connection errors. Returns the status (0 on a transport
 * error, with err filled) and appends the body to out. */
long aws_http_plain(const char *method, const char *url, const char *const *headers, double timeout,
                    size_t max_body, struct buf *out, struct aws_error *err);

/* Decodes an error answer: JSON (__type with everything up to '#' and after
 * ':' stripped, else the x-amzn-ErrorType header; message or Message) or STS
 * XML (Code, Message). Falls back to "HTTP<status>". body need not be
 * NUL-terminated. */
void aws_decode_error(long status, const char *body, size_t len, const char *error_type, bool xml,
                      struct aws_error *err);

/* The retry classes of an error code, for tests. */
bool aws_is_throttle(const char *code, long status);
bool aws_is_transient(const char *code, long status);
bool aws_is_expired_token(const char *code);

/* Extracts the text of the first <tag>...</tag> in xml, entities decoded.
 * Returns 0, or -1 when absent or too long for out. */
int aws_xml_text(const char *xml, const char *tag, char *out, size_t outlen);

/* Parses an ISO 8601 UTC time ("2026-11-27T23:30:00Z", fractions and
 * "+00:00" accepted) into unix seconds; returns 0 or -1. */
int aws_parse_time(const char *s, double *out);

#endif
