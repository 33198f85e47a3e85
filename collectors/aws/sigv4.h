/*
 * sigv4: AWS Signature Version 4 for requests signed in headers.
 *
 * Computes the canonical request, the string to sign and the signature the
 * way AWS documents them (and botocore implements them): header names
 * lower-cased, values trimmed with inner whitespace runs collapsed, repeated
 * headers joined with ','; the query re-encoded per RFC 3986 and sorted; the
 * path normalised (dot segments and repeated slashes removed) and encoded
 * unless normalize_path is false (S3 style). The signer adds X-Amz-Date,
 * X-Amz-Security-Token (with temporary credentials) and, when asked,
 * X-Amz-Content-Sha256 to the signed headers; the caller sends them.
 *
 * Nothing here logs: secrets stay in the inputs and in the HMAC chain.
 */
#ifndef AWS_SIGV4_H
#define AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_input {
    const char *method;
    const char *path;                   /* as sent, before normalisation; "" means "/" */
    const char *query;                  /* without '?'; NULL or "" when none */
    const struct sigv4_header *headers; /* every header to sign, Host included */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *access_key, *secret_key;
    const char *session_token; /* NULL for long-term keys */
    const char *region, *service;
    time_t when;
    bool normalize_path;
    bool sign_body; /* add X-Amz-Content-Sha256 */
};

struct sigv4_output {
    char amz_date[17];       /* YYYYMMDDTHHMMSSZ: send as X-Amz-Date */
    char content_sha256[65]; /* hex SHA-256 of the body */
    char signature[65];
    struct buf canonical_request; /* owned; freed by sigv4_output_free */
    struct buf string_to_sign;
    struct buf authorization; /* the Authorization header's value */
};

/* Signs. Returns 0, or -1 when an input is malformed or too big.
 * out must be freed with sigv4_output_free() either way. */
int sigv4_sign(const struct sigv4_input *in, struct sigv4_output *out);

/* Accepts NULL. */
void sigv4_output_free(struct sigv4_output *out);

#endif
