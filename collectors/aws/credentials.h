/*
 * credentials: the interface between what signs a request and where its
 * credentials come from, as the AWS SDKs split it (a "credentials provider"
 * and its "resolve"). The client depends on this file only; the providers
 * (providers.h: environment, profile files, credential_process, web identity,
 * container, IMDS, assume-role) implement it, and the assume-role provider
 * depends on the client in turn: the dependency runs one way.
 *
 * A provider owns a cache: usable credentials are handed out while they are
 * not near expiry, and refreshed ahead of it by one thread at a time. The
 * cache, its lock and the source's own state are private (opaque structs).
 *
 * Secrets live only in struct aws_credentials and are never logged.
 */
#ifndef AWS_CREDENTIALS_H
#define AWS_CREDENTIALS_H

#include <stdbool.h>

#include "collectors/aws/error.h"

struct aws_credentials {
    char *access_key_id;     /* owned */
    char *secret_access_key; /* owned; wiped on clear */
    char *session_token;     /* owned, NULL for long-term keys; wiped on clear */
    double expiration;       /* unix seconds; 0 = does not expire */
};

/* Frees and wipes. Accepts NULL and cleared values. */
void aws_credentials_clear(struct aws_credentials *c);

/* Deep copy; returns 0 or -1. */
int aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src);

/*
 * A source of credentials and its cache; opaque: its lock and cache are
 * credentials.c's alone. One provider is shared by every collector thread.
 */
struct aws_creds_provider;

/*
 * Copies usable credentials into out (the caller clears them): the cached
 * ones while they are not near expiry, else fresh ones. force_refresh fetches
 * even then (after AWS said the token expired). When a refresh fails but the
 * cached credentials have not expired yet, those are used.
 *
 * One thread fetches at a time, without holding the cache's lock: while it
 * does, other threads whose cached credentials are still valid get those at
 * once; threads with none valid, and forced ones, wait for that fetch's
 * outcome instead of starting another, at most the source's time limit (the
 * credential_process timeout for a process).
 * Returns 0, or -1 with err set (the fetch's own error, or a timeout).
 */
int aws_creds_get(struct aws_creds_provider *p, bool force_refresh, struct aws_credentials *out,
                  struct aws_error *err);

/* The source's name: "environment", "web_identity", "profile", "process",
 * "container", "imds", "assume_role"... Static storage. */
const char *aws_creds_source(const struct aws_creds_provider *p);

/* Destroys the source's state and the cache. Accepts NULL. */
void aws_creds_destroy(struct aws_creds_provider *p);

#endif
