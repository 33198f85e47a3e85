/*
 * creds_json: the credentials document of the container endpoint, IMDS and
 * credential_process.
 */
#include <jansson.h>

#include "collectors/aws/client.h"
#include "collectors/aws/provider_impl.h"

int aws_creds_parse_json(const char *text, size_t len, const char *token_key,
                         struct aws_credentials *out, struct aws_error *err)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *akid = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(j, token_key));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    double expiration = 0;
    int rc = -1;
    if (akid != NULL && secret != NULL && (exp == NULL || aws_parse_time(exp, &expiration) == 0))
        rc = aws_credentials_make(out, akid, secret, token, expiration);
    json_decref(j);
    if (rc != 0)
        aws_error_set(err, 0, "MalformedResponse", "the credentials document is malformed");
    return rc;
}
