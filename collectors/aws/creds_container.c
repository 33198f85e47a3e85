/*
 * creds_container: the container credentials endpoint (ECS, EKS Pod
 * Identity): AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every refresh) or _TOKEN.
 */
#define _DEFAULT_SOURCE /* explicit_bzero, strcasecmp */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collectors/aws/client.h"
#include "collectors/aws/provider_impl.h"
#include "lib/buf.h"
#include "lib/err.h"

struct container_source {
    char *url, *token, *token_file;
};

static int container_fetch(void *impl, struct aws_credentials *out, struct aws_error *err)
{
    struct container_source *c = impl;
    char *auth = NULL;
    if (c->token_file != NULL) { /* read at every refresh: it rotates */
        auth = buf_read_token(c->token_file, TOKEN_FILE_MAX);
        if (auth == NULL) {
            aws_error_set(err, 0, "CredentialsError",
                          "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
            return -1;
        }
    } else if (c->token != NULL) {
        auth = strdup(c->token);
    }
    struct buf hdr;
    buf_init(&hdr, 16384);
    if (auth != NULL)
        buf_printf(&hdr, "Authorization: %s", auth);
    aws_secret_free(auth);
    const char *headers[] = {hdr.data, NULL};
    struct buf body;
    buf_init(&body, METADATA_MAX);
    long status =
        aws_http_plain("GET", c->url, hdr.data ? headers : NULL, 5, METADATA_MAX, &body, err);
    if (hdr.data != NULL)
        explicit_bzero(hdr.data, hdr.len);
    buf_free(&hdr);
    int rc = -1;
    if (status == 200)
        rc = aws_creds_parse_json(body.data ? body.data : "", body.len, "Token", out, err);
    else if (status != 0)
        aws_error_set(err, 0, "CredentialsError",
                      "the container credentials endpoint refused the request");
    buf_free(&body);
    return rc;
}

static void container_free(void *impl)
{
    struct container_source *c = impl;
    free(c->url);
    aws_secret_free(c->token);
    free(c->token_file);
    free(c);
}

/* Whether the SDKs accept this full URI: https anywhere, http only to the
 * container hosts and loopback. */
static bool container_host_allowed(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (strcmp(scheme, "https") == 0) {
            ok = true;
        } else if (strcmp(scheme, "http") == 0) {
            const char *h = host;
            char v6[64];
            if (h[0] == '[') { /* curl returns IPv6 hosts in brackets */
                snprintf(v6, sizeof v6, "%.*s", (int)strcspn(h + 1, "]"), h + 1);
                h = v6;
            }
            struct in_addr a4;
            struct in6_addr a6, lo6;
            inet_pton(AF_INET6, "::1", &lo6);
            if (inet_pton(AF_INET, h, &a4) == 1) {
                uint32_t ip = ntohl(a4.s_addr);
                ok = (ip >> 24) == 127 || ip == 0xA9FEAA02 /* 169.254.170.2 */ ||
                     ip == 0xA9FEAA17 /* 169.254.170.23 */;
            } else if (inet_pton(AF_INET6, h, &a6) == 1) {
                struct in6_addr eks;
                inet_pton(AF_INET6, "fd00:ec2::23", &eks);
                ok = memcmp(&a6, &lo6, sizeof a6) == 0 || memcmp(&a6, &eks, sizeof a6) == 0;
            } else {
                ok = strcasecmp(h, "localhost") == 0;
            }
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

struct aws_creds_provider *aws_creds_container(char *errbuf, size_t errlen)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char url[2048];
    if (rel != NULL && *rel != '\0') {
        snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
    } else {
        if (!container_host_allowed(full)) {
            err_set(errbuf, errlen, "%s",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to loopback, "
                    "169.254.170.2, 169.254.170.23 or fd00:ec2::23");
            return NULL;
        }
        snprintf(url, sizeof url, "%s", full);
    }
    struct container_source *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->url = strdup(url);
    const char *tf = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *t = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (tf != NULL && *tf != '\0')
        c->token_file = strdup(tf);
    else if (t != NULL && *t != '\0')
        c->token = strdup(t);
    if (c->url == NULL || (tf != NULL && *tf != '\0' && c->token_file == NULL) ||
        (t != NULL && *t != '\0' && c->token_file == NULL && c->token == NULL)) {
        container_free(c);
        return NULL;
    }
    return aws_creds_provider_new("container", 0, container_fetch, container_free, c);
}
