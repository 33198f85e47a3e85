/*
 * creds_chain: the default chain (providers.h) and the profiles it resolves:
 * static keys, role_arn with source_profile or credential_source,
 * web_identity_token_file, credential_process.
 */
#define _DEFAULT_SOURCE /* strcasecmp */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collectors/aws/provider_impl.h"
#include "collectors/aws/providers.h"
#include "lib/err.h"

static struct aws_creds_provider *profile_provider(const char *name, const struct aws_config *cfg,
                                                   int depth, char *errbuf, size_t errlen);

/* credential_source: the base credentials of a role profile. */
static struct aws_creds_provider *credential_source(const char *src, char *errbuf, size_t errlen)
{
    if (strcmp(src, "Environment") == 0)
        return aws_creds_env();
    if (strcmp(src, "Ec2InstanceMetadata") == 0)
        return aws_creds_imds();
    if (strcmp(src, "EcsContainer") == 0)
        return aws_creds_container(errbuf, errlen);
    err_set(errbuf, errlen, "unknown credential_source \"%.64s\"", src);
    return NULL;
}

static struct aws_creds_provider *profile_provider(const char *name, const struct aws_config *cfg,
                                                   int depth, char *errbuf, size_t errlen)
{
    if (depth > 4) {
        err_set(errbuf, errlen, "profile \"%.64s\": source_profile chain too long or circular",
                name);
        return NULL;
    }
    struct aws_profile *p = aws_profile_load(name, NULL, NULL);
    if (p == NULL) {
        err_set(errbuf, errlen,
                "profile \"%.64s\" not found in the AWS config or credentials "
                "files",
                name);
        return NULL;
    }
    struct aws_creds_provider *r = NULL;
    const char *role = aws_profile_get(p, "role_arn");
    const char *source = aws_profile_get(p, "source_profile");
    const char *csrc = aws_profile_get(p, "credential_source");
    const char *wif = aws_profile_get(p, "web_identity_token_file");
    const char *proc = aws_profile_get(p, "credential_process");
    const char *akid = aws_profile_get(p, "aws_access_key_id");
    const char *session = aws_profile_get(p, "role_session_name");
    if (role != NULL && wif != NULL) {
        const struct aws_sts_role r_wif = {role, NULL, session, 0, wif};
        r = aws_creds_sts("profile", cfg, &r_wif, NULL, false);
    } else if (role != NULL && (source != NULL || csrc != NULL)) {
        struct aws_creds_provider *base;
        if (source != NULL && strcmp(source, name) == 0) /* its own static keys */
            base = aws_creds_static("profile", akid, aws_profile_get(p, "aws_secret_access_key"),
                                    aws_profile_get(p, "aws_session_token"));
        else if (source != NULL)
            base = profile_provider(source, cfg, depth + 1, errbuf, errlen);
        else
            base = credential_source(csrc, errbuf, errlen);
        if (base != NULL) {
            const char *d = aws_profile_get(p, "duration_seconds");
            const struct aws_sts_role r_role = {role, aws_profile_get(p, "external_id"), session,
                                                d ? (unsigned)strtoul(d, NULL, 10) : 0, NULL};
            r = aws_creds_sts("profile", cfg, &r_role, base, true);
        }
    } else if (role != NULL) {
        err_set(errbuf, errlen,
                "profile \"%.64s\" has role_arn without source_profile, "
                "credential_source or web_identity_token_file",
                name);
    } else if (proc != NULL) {
        r = aws_creds_process(name, proc, cfg->process_timeout);
    } else if (akid != NULL) {
        r = aws_creds_static("profile", akid, aws_profile_get(p, "aws_secret_access_key"),
                             aws_profile_get(p, "aws_session_token"));
        if (r == NULL)
            err_set(errbuf, errlen,
                    "profile \"%.64s\" has aws_access_key_id without "
                    "aws_secret_access_key",
                    name);
    } else {
        err_set(errbuf, errlen, "profile \"%.64s\" holds no credentials", name);
    }
    aws_profile_free(p);
    return r;
}

static bool set(const char *var)
{
    const char *v = getenv(var);
    return v != NULL && *v != '\0';
}

struct aws_creds_provider *aws_creds_default_chain(const struct aws_config *cfg, char *errbuf,
                                                   size_t errlen)
{
    errbuf[0] = '\0';
    if (set("AWS_ACCESS_KEY_ID") || set("AWS_SECRET_ACCESS_KEY")) {
        struct aws_creds_provider *p = aws_creds_env();
        if (p == NULL)
            err_set(errbuf, errlen, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
        return p;
    }
    if (set("AWS_ROLE_ARN") && set("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        const struct aws_sts_role role = {getenv("AWS_ROLE_ARN"), NULL,
                                          getenv("AWS_ROLE_SESSION_NAME"), 0,
                                          getenv("AWS_WEB_IDENTITY_TOKEN_FILE")};
        return aws_creds_sts("web_identity", cfg, &role, NULL, false);
    }
    const char *profile = set("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default";
    struct aws_profile *p = aws_profile_load(profile, NULL, NULL);
    if (p != NULL || set("AWS_PROFILE")) {
        aws_profile_free(p);
        return profile_provider(profile, cfg, 0, errbuf, errlen);
    }
    if (set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        return aws_creds_container(errbuf, errlen);
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    if (off != NULL && strcasecmp(off, "true") == 0) {
        err_set(errbuf, errlen,
                "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, web identity or container variables (IMDS is disabled)");
        return NULL;
    }
    return aws_creds_imds();
}
