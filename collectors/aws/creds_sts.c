/*
 * creds_sts: credentials from STS, AssumeRole (signed by another provider:
 * --aws.role-arn, member roles, a profile's role_arn) and
 * AssumeRoleWithWebIdentity (unsigned, with a token file read again at every
 * refresh). The one provider that calls AWS through the client.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/aws/client.h"
#include "collectors/aws/provider_impl.h"
#include "collectors/aws/providers.h"
#include "lib/buf.h"
#include "lib/log.h"

/* The source's state: the role asked for, and a copy of the configuration
 * whose strings it owns. */
struct sts_source {
    struct aws_config cfg;
    char *region, *endpoint_url, *ca_bundle; /* cfg's strings, owned */
    struct aws_creds_provider *signer;       /* AssumeRole: borrowed unless owned_signer */
    bool owned_signer;                       /* profile chains own their source */
    char *role_arn, *external_id, *session_name;
    unsigned duration;
    char *token_file; /* web identity */
};

/* Reads the credentials out of an STS answer. */
static int parse_sts(const char *xml, struct aws_credentials *out, struct aws_error *err)
{
    char akid[256], secret[256], exp[64];
    char *token = malloc(8192);
    double expiration = 0;
    int rc = -1;
    if (token != NULL && aws_xml_text(xml, "AccessKeyId", akid, sizeof akid) == 0 &&
        aws_xml_text(xml, "SecretAccessKey", secret, sizeof secret) == 0 &&
        aws_xml_text(xml, "SessionToken", token, 8192) == 0 &&
        aws_xml_text(xml, "Expiration", exp, sizeof exp) == 0 &&
        aws_parse_time(exp, &expiration) == 0)
        rc = aws_credentials_make(out, akid, secret, token, expiration);
    explicit_bzero(secret, sizeof secret);
    aws_secret_free(token);
    if (rc != 0)
        aws_error_set(err, 0, "MalformedResponse", "STS answered without usable credentials");
    return rc;
}

/* The query parameters of the call (params holds at least 15); the token is
 * borrowed, duration is the caller's buffer. */
static void sts_params(const struct sts_source *a, const char *token, const char *duration,
                       const char **params)
{
    size_t n = 0;
    params[n++] = "Action";
    params[n++] = token ? "AssumeRoleWithWebIdentity" : "AssumeRole";
    params[n++] = "Version";
    params[n++] = "2011-06-15";
    params[n++] = "RoleArn";
    params[n++] = a->role_arn;
    params[n++] = "RoleSessionName";
    params[n++] = a->session_name;
    if (token != NULL) {
        params[n++] = "WebIdentityToken";
        params[n++] = token;
    }
    if (a->external_id != NULL && token == NULL) {
        params[n++] = "ExternalId";
        params[n++] = a->external_id;
    }
    if (a->duration > 0) {
        params[n++] = "DurationSeconds";
        params[n++] = duration;
    }
    params[n] = NULL;
}

static int sts_fetch(void *impl, struct aws_credentials *out, struct aws_error *err)
{
    struct sts_source *a = impl;
    char duration[16];
    snprintf(duration, sizeof duration, "%u", a->duration);
    char *token = NULL;
    if (a->token_file != NULL) {
        token = buf_read_token(a->token_file, TOKEN_FILE_MAX);
        if (token == NULL) {
            aws_error_set(err, 0, "CredentialsError",
                          errno == ENODATA || errno == EFBIG
                              ? "the web identity token file is empty or too large"
                              : "cannot read the web identity token file");
            return -1;
        }
    }
    const char *params[16];
    sts_params(a, token, duration, params);
    struct aws_client *c = aws_client_create(&a->cfg, a->signer, "default");
    struct buf xml;
    buf_init(&xml, 1 << 20);
    int rc = c ? aws_query_call(c, params[1], params, token == NULL, &xml, err) : -1;
    if (c == NULL)
        aws_error_set(err, 0, "CredentialsError", "out of memory");
    aws_client_destroy(c);
    aws_secret_free(token);
    if (rc == 0)
        rc = parse_sts(xml.data ? xml.data : "", out, err);
    buf_free(&xml);
    if (rc != 0)
        log_warn("aws", "assuming a role failed", "role_arn", a->role_arn, "code", err->code, "err",
                 err->message);
    return rc;
}

static void sts_free(void *impl)
{
    struct sts_source *a = impl;
    if (a == NULL)
        return;
    free(a->region);
    free(a->endpoint_url);
    free(a->ca_bundle);
    free(a->role_arn);
    free(a->external_id);
    free(a->session_name);
    free(a->token_file);
    if (a->owned_signer)
        aws_creds_destroy(a->signer);
    free(a);
}

/* Copies what may be NULL; false when out of memory. */
static bool dup_opt(char **out, const char *s)
{
    *out = s ? strdup(s) : NULL;
    return s == NULL || *out != NULL;
}

/* Copies cfg and role into a new source; NULL when out of memory. */
static struct sts_source *sts_source_new(const struct aws_config *cfg,
                                         const struct aws_sts_role *role)
{
    struct sts_source *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    char session[64];
    snprintf(session, sizeof session, "aws-org-exporter-%ld", (long)time(NULL));
    const char *ext = role->external_id && *role->external_id ? role->external_id : NULL;
    a->cfg = *cfg;
    a->duration = role->duration;
    bool ok = dup_opt(&a->region, cfg->region) && dup_opt(&a->endpoint_url, cfg->endpoint_url) &&
              dup_opt(&a->ca_bundle, cfg->ca_bundle) && dup_opt(&a->role_arn, role->role_arn) &&
              dup_opt(&a->external_id, ext) &&
              dup_opt(&a->session_name,
                      role->session_name && *role->session_name ? role->session_name : session) &&
              dup_opt(&a->token_file, role->token_file);
    a->cfg.region = a->region;
    a->cfg.endpoint_url = a->endpoint_url;
    a->cfg.ca_bundle = a->ca_bundle;
    if (!ok || a->role_arn == NULL) {
        sts_free(a);
        return NULL;
    }
    return a;
}

struct aws_creds_provider *aws_creds_sts(const char *source, const struct aws_config *cfg,
                                         const struct aws_sts_role *role,
                                         struct aws_creds_provider *signer, bool own_signer)
{
    struct sts_source *a = sts_source_new(cfg, role);
    if (a == NULL) {
        if (own_signer)
            aws_creds_destroy(signer);
        return NULL;
    }
    a->signer = signer;
    a->owned_signer = own_signer;
    /* Waiters on an STS fetch give up when every attempt of the call (with
     * the SDKs' longest backoff, 20 s) and the signer's own fetch would have. */
    unsigned attempts = a->cfg.max_attempts ? a->cfg.max_attempts : 3;
    double wait = (signer ? aws_creds_wait_limit(signer) : 0) + attempts * (a->cfg.timeout + 20.0);
    return aws_creds_provider_new(source, wait, sts_fetch, sts_free, a);
}

struct aws_creds_provider *aws_creds_assume_role(struct aws_creds_provider *base,
                                                 const struct aws_config *cfg, const char *role_arn,
                                                 const char *external_id, const char *session_name,
                                                 unsigned duration)
{
    const struct aws_sts_role role = {role_arn, external_id, session_name, duration, NULL};
    return aws_creds_sts("assume_role", cfg, &role, base, false);
}
