/*
 * creds_static: fixed credentials (a profile's keys, --aws.role-arn's tests)
 * and the environment's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
 */
#include <stdlib.h>

#include "collectors/aws/provider_impl.h"
#include "collectors/aws/providers.h"

/* impl: a struct aws_credentials, owned. */
static int static_fetch(void *impl, struct aws_credentials *out, struct aws_error *err)
{
    if (aws_credentials_copy(out, impl) != 0) {
        aws_error_set(err, 0, "CredentialsError", "out of memory");
        return -1;
    }
    return 0;
}

static void static_free(void *impl)
{
    aws_credentials_clear(impl);
    free(impl);
}

struct aws_creds_provider *aws_creds_static(const char *source, const char *akid,
                                            const char *secret, const char *token)
{
    struct aws_credentials *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (aws_credentials_make(c, akid, secret, token, 0) != 0) {
        free(c);
        return NULL;
    }
    return aws_creds_provider_new(source, 0, static_fetch, static_free, c);
}

struct aws_creds_provider *aws_creds_env(void)
{
    return aws_creds_static("environment", getenv("AWS_ACCESS_KEY_ID"),
                            getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN"));
}
