/*
 * creds_imds: EC2 instance metadata, IMDSv2 (a session token first), at
 * AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/aws/client.h"
#include "collectors/aws/provider_impl.h"
#include "lib/buf.h"

struct imds_source {
    char *endpoint; /* without a trailing slash */
};

static int imds_fetch(void *impl, struct aws_credentials *out, struct aws_error *err)
{
    struct imds_source *m = impl;
    char url[1024];
    struct buf token, role, body;
    buf_init(&token, 4096);
    buf_init(&role, 4096);
    buf_init(&body, METADATA_MAX);
    int rc = -1;
    snprintf(url, sizeof url, "%s/latest/api/token", m->endpoint);
    const char *ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    long st = aws_http_plain("PUT", url, ttl, 1, 4096, &token, err);
    if (st != 200 || token.len == 0) {
        if (st != 0)
            aws_error_set(err, 0, "CredentialsError", "IMDS refused a session token");
        goto out;
    }
    struct buf h;
    buf_init(&h, 8192);
    buf_printf(&h, "X-aws-ec2-metadata-token: %s", token.data);
    const char *hdrs[] = {h.data, NULL};
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", m->endpoint);
    st = aws_http_plain("GET", url, hdrs, 1, 4096, &role, err);
    if (st == 200 && role.len > 0) {
        role.data[strcspn(role.data, "\r\n")] = '\0';
        snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", m->endpoint,
                 role.data);
        st = aws_http_plain("GET", url, hdrs, 1, METADATA_MAX, &body, err);
        if (st == 200)
            rc = aws_creds_parse_json(body.data ? body.data : "", body.len, "Token", out, err);
    }
    if (rc != 0 && st != 0 && st != 200)
        aws_error_set(err, 0, "CredentialsError", "IMDS has no role credentials for this instance");
    buf_free(&h);
out:
    if (token.data != NULL)
        explicit_bzero(token.data, token.len);
    buf_free(&token);
    buf_free(&role);
    buf_free(&body);
    return rc;
}

static void imds_free(void *impl)
{
    struct imds_source *m = impl;
    free(m->endpoint);
    free(m);
}

struct aws_creds_provider *aws_creds_imds(void)
{
    struct imds_source *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    m->endpoint = strdup(e && *e ? e : "http://169.254.169.254");
    if (m->endpoint == NULL) {
        free(m);
        return NULL;
    }
    size_t l = strlen(m->endpoint);
    if (l > 0 && m->endpoint[l - 1] == '/')
        m->endpoint[l - 1] = '\0';
    return aws_creds_provider_new("imds", 0, imds_fetch, imds_free, m);
}
