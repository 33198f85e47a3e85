/*
 * provider_impl: what the credentials providers are made of, for the
 * providers of collectors/aws/ only (the SDKs' provider SPI). Users of
 * credentials include credentials.h (get) and providers.h (constructors).
 *
 * A provider is a source (impl: its private state and a fetch) wrapped by
 * aws_creds_provider_new in the cache of credentials.c.
 */
#ifndef AWS_PROVIDER_IMPL_H
#define AWS_PROVIDER_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "collectors/aws/credentials.h"

struct aws_config; /* client.h: the sources that call AWS include it */

/* Caps on what a source reads: token files, metadata answers, process output. */
#define TOKEN_FILE_MAX (64 * 1024)
#define METADATA_MAX (64 * 1024)

/* Fetches fresh credentials into out (owned by the caller) or fills err.
 * Called by one thread at a time, without the cache's lock. */
typedef int aws_creds_fetch_fn(void *impl, struct aws_credentials *out, struct aws_error *err);
/* Frees the source's state (impl itself included). */
typedef void aws_creds_free_fn(void *impl);

/*
 * Wraps a source in a cache. source is static storage; wait_limit is how
 * long a thread waits for another's fetch (seconds; 0: 60). Takes impl: on
 * failure (NULL) it has been freed with free_impl.
 */
struct aws_creds_provider *aws_creds_provider_new(const char *source, double wait_limit,
                                                  aws_creds_fetch_fn *fetch,
                                                  aws_creds_free_fn *free_impl, void *impl);

/* The provider's wait limit, for a provider that waits on another's fetch. */
double aws_creds_wait_limit(const struct aws_creds_provider *p);

/* Fills out with copies of the three strings (may be NULL); returns 0, or -1
 * when the key id or the secret is missing or empty. */
int aws_credentials_make(struct aws_credentials *out, const char *akid, const char *secret,
                         const char *token, double expiration);

/* Wipes a secret string and frees it. Accepts NULL. */
void aws_secret_free(char *s);

/* Credentials from a JSON document (container endpoint, IMDS,
 * credential_process): AccessKeyId, SecretAccessKey, the token under
 * token_key, Expiration. Returns 0, or -1 with err set. */
int aws_creds_parse_json(const char *text, size_t len, const char *token_key,
                         struct aws_credentials *out, struct aws_error *err);

/* --- the sources, for the default chain (creds_chain.c) ----------------- */

/* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [, AWS_SESSION_TOKEN]; NULL
 * when a key is missing (creds_static.c). */
struct aws_creds_provider *aws_creds_env(void);

/* What an STS provider asks for (creds_sts.c). */
struct aws_sts_role {
    const char *role_arn;
    const char *external_id;  /* or NULL; AssumeRole only */
    const char *session_name; /* or NULL: aws-org-exporter-<time> */
    unsigned duration;        /* seconds; 0: STS's default */
    const char *token_file;   /* web identity: AssumeRoleWithWebIdentity, unsigned */
};

/*
 * STS AssumeRole signed by signer, or AssumeRoleWithWebIdentity when
 * role->token_file is set (signer NULL). role's strings are copied. With
 * own_signer the result owns signer (and on failure it is destroyed);
 * otherwise signer is borrowed and must outlive the result. NULL on
 * allocation failure.
 */
struct aws_creds_provider *aws_creds_sts(const char *source, const struct aws_config *cfg,
                                         const struct aws_sts_role *role,
                                         struct aws_creds_provider *signer, bool own_signer);

/* The container endpoint from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 * _FULL_URI (creds_container.c); NULL with the reason in errbuf. */
struct aws_creds_provider *aws_creds_container(char *errbuf, size_t errlen);

/* EC2 IMDSv2 (creds_imds.c); NULL on allocation failure. */
struct aws_creds_provider *aws_creds_imds(void);

/* credential_process of profile (creds_process.c): command (copied) run by
 * /bin/sh, killed after timeout seconds. NULL on allocation failure. */
struct aws_creds_provider *aws_creds_process(const char *profile, const char *command,
                                             double timeout);

#endif
