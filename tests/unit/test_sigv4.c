/*
 * The AWS SigV4 test suite (../shared/fixtures/sigv4, Apache-2.0; see its
 * SOURCE.txt): every case of aws-signing-test-suite/v4 is one test comparing
 * our canonical request, string to sign and signature with the expected
 * bytes, and our Authorization value with the one in the expected signed
 * request. The suite's query-*.txt files (presigned URLs) are not used: the
 * exporter never presigns.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "collectors/aws/sigv4.h"

static const char *suite_dir(void)
{
    const char *d = getenv("SIGV4_SUITE");
    return d ? d : "../shared/fixtures/sigv4/aws-signing-test-suite/v4";
}

static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", suite_dir(), dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *data = malloc(1 << 16);
    size_t n = fread(data, 1, (1 << 16) - 1, f);
    fclose(f);
    data[n] = '\0';
    return data;
}

static void test_vector(void **state)
{
    const char *name = *state;
    char *req = slurp(name, "request.txt");
    char *ctx_text = slurp(name, "context.json");
    json_error_t jerr;
    json_t *ctx = json_loads(ctx_text, 0, &jerr);
    assert_non_null(ctx);

    /* "METHOD URI HTTP/1.1" (the URI may hold spaces), headers with
     * continuation lines, a blank line, the body. */
    char *line_end = strchr(req, '\n');
    *line_end = '\0';
    char *method = req;
    char *uri = strchr(req, ' ');
    *uri++ = '\0';
    char *proto = strstr(uri, " HTTP/");
    *proto = '\0';
    char *query = strchr(uri, '?');
    if (query != NULL)
        *query++ = '\0';

    struct sigv4_header headers[32];
    char *values[32];
    size_t nh = 0;
    char *p = line_end + 1;
    const char *body = "";
    while (*p) {
        char *end = strchr(p, '\n');
        if (end != NULL)
            *end = '\0';
        if (*p == '\0') {
            body = end ? end + 1 : "";
            break;
        }
        if ((*p == ' ' || *p == '\t') && nh > 0) {
            /* a continuation line: appended to the previous value */
            char *v = malloc(strlen(values[nh - 1]) + strlen(p) + 2);
            sprintf(v, "%s %s", values[nh - 1], p);
            free(values[nh - 1]);
            values[nh - 1] = v;
            headers[nh - 1].value = v;
        } else {
            char *colon = strchr(p, ':');
            *colon = '\0';
            values[nh] = strdup(colon + 1);
            headers[nh] = (struct sigv4_header){p, values[nh]};
            nh++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }

    json_t *creds = json_object_get(ctx, "credentials");
    struct tm tm = {0};
    const char *ts = json_string_value(json_object_get(ctx, "timestamp"));
    sscanf(ts, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
           &tm.tm_sec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    struct sigv4_input in = {
        .method = method,
        .path = uri,
        .query = query,
        .headers = headers,
        .nheaders = nh,
        .body = body,
        .body_len = strlen(body),
        .access_key = json_string_value(json_object_get(creds, "access_key_id")),
        .secret_key = json_string_value(json_object_get(creds, "secret_access_key")),
        /* omit_session_token: the token is sent but not signed (a few
         * services want that; Organizations, CloudTrail and STS do not). */
        .session_token = json_is_true(json_object_get(ctx, "omit_session_token"))
                             ? NULL
                             : json_string_value(json_object_get(creds, "token")),
        .region = json_string_value(json_object_get(ctx, "region")),
        .service = json_string_value(json_object_get(ctx, "service")),
        .when = timegm(&tm),
        .normalize_path = json_is_true(json_object_get(ctx, "normalize")),
        .sign_body = json_is_true(json_object_get(ctx, "sign_body")),
    };
    struct sigv4_output out;
    assert_int_equal(sigv4_sign(&in, &out), 0);

    char *want_creq = slurp(name, "header-canonical-request.txt");
    char *want_sts = slurp(name, "header-string-to-sign.txt");
    char *want_sig = slurp(name, "header-signature.txt");
    assert_string_equal(out.canonical_request.data, want_creq);
    assert_string_equal(out.string_to_sign.data, want_sts);
    assert_string_equal(out.signature, want_sig);
    /* The Authorization value as it appears in the expected signed request. */
    char *signed_req = slurp(name, "header-signed-request.txt");
    char *auth = strstr(signed_req, "Authorization:");
    assert_non_null(auth);
    auth += strlen("Authorization:");
    auth[strcspn(auth, "\n")] = '\0';
    assert_string_equal(out.authorization.data, auth);

    sigv4_output_free(&out);
    for (size_t i = 0; i < nh; i++)
        free(values[i]);
    free(signed_req);
    free(want_creq);
    free(want_sts);
    free(want_sig);
    json_decref(ctx);
    free(ctx_text);
    free(req);
}

/* The signature recomputed from the output's string to sign with OpenSSL's
 * one-shot HMAC(), independently of the signer's key cache. */
static void expected_signature(const char *secret, const char *date, const char *region,
                               const char *service, const char *sts, char out[65])
{
    unsigned char k[32];
    unsigned int len = 32;
    char k0[256];
    snprintf(k0, sizeof k0, "AWS4%s", secret);
    HMAC(EVP_sha256(), k0, (int)strlen(k0), (const unsigned char *)date, 8, k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)region, strlen(region), k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)service, strlen(service), k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, k, &len);
    unsigned char sig[32];
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)sts, strlen(sts), sig, &len);
    for (size_t i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", sig[i]);
}

/* The signing key is cached per thread: a change of secret, date, region or
 * service must each give the key of its own, and going back the old one. */
static void test_signing_key_cache(void **state)
{
    (void)state;
    static const struct {
        const char *secret, *region, *service;
        time_t when;
    } cases[] = {
        {"secret-one", "us-east-1", "organizations", 1795830000},
        {"secret-one", "us-east-1", "organizations", 1795830000}, /* a hit */
        {"secret-two", "us-east-1", "organizations", 1795830000},
        {"secret-one", "us-east-1", "organizations", 1795830000},
        {"secret-one", "eu-west-1", "organizations", 1795830000},
        {"secret-one", "eu-west-1", "cloudtrail", 1795830000},
        {"secret-one", "eu-west-1", "cloudtrail", 1795830000 + 86400}, /* the next day */
        {"secret-one", "us-east-1", "organizations", 1795830000},
    };
    char first[65] = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sigv4_header h[] = {{"Host", "organizations.us-east-1.amazonaws.com"}};
        struct sigv4_input in = {
            .method = "POST",
            .path = "/",
            .headers = h,
            .nheaders = 1,
            .body = "{}",
            .body_len = 2,
            .access_key = "AKIDEXAMPLE",
            .secret_key = cases[i].secret,
            .region = cases[i].region,
            .service = cases[i].service,
            .when = cases[i].when,
        };
        struct sigv4_output out;
        assert_int_equal(sigv4_sign(&in, &out), 0);
        char date[9], want[65];
        memcpy(date, out.amz_date, 8);
        date[8] = '\0';
        expected_signature(cases[i].secret, date, cases[i].region, cases[i].service,
                           out.string_to_sign.data, want);
        assert_string_equal(out.signature, want);
        if (i == 0)
            memcpy(first, out.signature, sizeof first);
        else if (i == 1 || i == 3 || i == 7)
            assert_string_equal(out.signature, first);
        else
            assert_string_not_equal(out.signature, first);
        sigv4_output_free(&out);
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    DIR *d = opendir(suite_dir());
    if (d == NULL) {
        fprintf(stderr, "test_sigv4: the SigV4 suite is not at %s\n", suite_dir());
        return 1;
    }
    char *names[128];
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL && n < 128;)
        if (de->d_name[0] != '.')
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_name);
    struct CMUnitTest tests[129];
    for (size_t i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){names[i], test_vector, NULL, NULL, names[i]};
    /* The suite has 38 cases; fewer means the fixture went missing. */
    if (n != 38) {
        fprintf(stderr, "test_sigv4: expected 38 cases, found %zu\n", n);
        return 1;
    }
    tests[n] = (struct CMUnitTest){"signing_key_cache", test_signing_key_cache, NULL, NULL, NULL};
    int rc = _cmocka_run_group_tests("sigv4", tests, n + 1, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return rc;
}
