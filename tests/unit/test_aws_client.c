/* Unit tests of the AWS client's pieces that need no network. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "collectors/aws/client.h"
#include "collectors/aws/providers.h"
#include "collectors/aws/ratelimit.h"
#include "lib/clock.h"

static void clear_endpoint_env(void)
{
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_ORGANIZATIONS");
    unsetenv("AWS_ENDPOINT_URL_CLOUDTRAIL");
    unsetenv("AWS_ENDPOINT_URL_STS");
}

static void test_endpoints(void **state)
{
    (void)state;
    clear_endpoint_env();
    static const struct {
        const char *region;
        enum aws_service svc;
        const char *url, *signing;
    } cases[] = {
        {"eu-west-1", AWS_ORGANIZATIONS, "https://organizations.us-east-1.amazonaws.com",
         "us-east-1"},
        {"eu-west-1", AWS_CLOUDTRAIL, "https://cloudtrail.eu-west-1.amazonaws.com", "eu-west-1"},
        {"eu-west-1", AWS_STS, "https://sts.eu-west-1.amazonaws.com", "eu-west-1"},
        {"cn-north-1", AWS_ORGANIZATIONS, "https://organizations.cn-northwest-1.amazonaws.com.cn",
         "cn-northwest-1"},
        {"cn-north-1", AWS_CLOUDTRAIL, "https://cloudtrail.cn-north-1.amazonaws.com.cn",
         "cn-north-1"},
        {"us-gov-east-1", AWS_ORGANIZATIONS, "https://organizations.us-gov-west-1.amazonaws.com",
         "us-gov-west-1"},
        {NULL, AWS_CLOUDTRAIL, "https://cloudtrail.us-east-1.amazonaws.com", "us-east-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct aws_config cfg = {.region = cases[i].region};
        char url[256], region[64];
        assert_int_equal(aws_endpoint(&cfg, cases[i].svc, url, sizeof url, region, sizeof region),
                         0);
        assert_string_equal(url, cases[i].url);
        assert_string_equal(region, cases[i].signing);
    }
}

static void test_endpoint_overrides(void **state)
{
    (void)state;
    clear_endpoint_env();
    struct aws_config cfg = {.region = "eu-west-1"};
    char url[256], region[64];
    setenv("AWS_ENDPOINT_URL", "http://global:1", 1);
    setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://trail:2", 1);
    aws_endpoint(&cfg, AWS_CLOUDTRAIL, url, sizeof url, region, sizeof region);
    assert_string_equal(url, "http://trail:2");
    aws_endpoint(&cfg, AWS_ORGANIZATIONS, url, sizeof url, region, sizeof region);
    assert_string_equal(url, "http://global:1");
    assert_string_equal(region, "us-east-1");
    cfg.endpoint_url = "http://flag:3"; /* the flag wins */
    aws_endpoint(&cfg, AWS_CLOUDTRAIL, url, sizeof url, region, sizeof region);
    assert_string_equal(url, "http://flag:3");
    clear_endpoint_env();
}

static void test_retry_classes(void **state)
{
    (void)state;
    assert_true(aws_is_throttle("ThrottlingException", 400));
    assert_true(aws_is_throttle("TooManyRequestsException", 400));
    assert_true(aws_is_throttle("Throttling", 400));
    assert_true(aws_is_throttle("RequestLimitExceeded", 400));
    assert_true(aws_is_throttle("HTTP429", 429));
    assert_false(aws_is_throttle("AccessDeniedException", 400));
    assert_true(aws_is_transient("InternalFailure", 500));
    assert_true(aws_is_transient("HTTP503", 503));
    assert_true(aws_is_transient("Timeout", 0));
    assert_true(aws_is_transient("ConnectionReset", 0));
    assert_false(aws_is_transient("ValidationException", 400));
    assert_false(aws_is_transient("AccessDeniedException", 400));
    assert_true(aws_is_expired_token("ExpiredTokenException"));
    assert_true(aws_is_expired_token("ExpiredToken"));
    assert_false(aws_is_expired_token("AccessDeniedException"));
}

static void test_xml_text(void **state)
{
    (void)state;
    const char *xml = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId>"
                      "<SessionToken>a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x42;</SessionToken>"
                      "<Empty></Empty></Credentials></R>";
    char out[64];
    assert_int_equal(aws_xml_text(xml, "AccessKeyId", out, sizeof out), 0);
    assert_string_equal(out, "ASIA1");
    assert_int_equal(aws_xml_text(xml, "SessionToken", out, sizeof out), 0);
    assert_string_equal(out, "a&b<c>\"'AB");
    assert_int_equal(aws_xml_text(xml, "Empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(aws_xml_text(xml, "Missing", out, sizeof out), -1);
    assert_int_equal(aws_xml_text("<A>unterminated", "A", out, sizeof out), -1);
    char tiny[4];
    assert_int_equal(aws_xml_text(xml, "AccessKeyId", tiny, sizeof tiny), -1);
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        double v;
    } cases[] = {
        {"2026-11-27T23:30:00Z", 0, 1795822200},
        {"2026-11-27T23:30:00.250Z", 0, 1795822200.25},
        {"2026-11-27T23:30:00+00:00", 0, 1795822200},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2026-13-27T23:30:00Z", -1, 0},
        {"2026-11-27 23:30:00Z", -1, 0},
        {"2026-11-27T23:30:00+02:00", -1, 0},
        {"yesterday", -1, 0},
        {"", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -1;
        int rc = aws_parse_time(cases[i].in, &v);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d", cases[i].in, rc);
        if (rc == 0 && v != cases[i].v)
            fail_msg("%s: %f, want %f", cases[i].in, v, cases[i].v);
    }
}

static void test_profiles(void **state)
{
    (void)state;
    char dir[] = "/tmp/aws-org-exporter-profile-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], cred[128];
    snprintf(cfg, sizeof cfg, "%s/config", dir);
    snprintf(cred, sizeof cred, "%s/credentials", dir);
    FILE *f = fopen(cfg, "w");
    fputs("# comment\n[default]\nregion = eu-central-1\n\n[profile ops]\nregion=us-west-2\n"
          "role_arn = arn:aws:iam::1:role/r\nsource_profile = default\ns3 =\n"
          "  max_concurrent_requests = 10\n; another comment\n[profile other]\nregion = x\n",
          f);
    fclose(f);
    f = fopen(cred, "w");
    fputs("[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\n"
          "[ops]\nregion = from-credentials-file\n",
          f);
    fclose(f);
    struct aws_profile *p = aws_profile_load("default", cfg, cred);
    assert_non_null(p);
    assert_string_equal(aws_profile_get(p, "region"), "eu-central-1");
    assert_string_equal(aws_profile_get(p, "aws_access_key_id"), "AKIA1");
    assert_null(aws_profile_get(p, "role_arn"));
    aws_profile_free(p);
    p = aws_profile_load("ops", cfg, cred);
    assert_string_equal(aws_profile_get(p, "region"), "from-credentials-file");
    assert_string_equal(aws_profile_get(p, "role_arn"), "arn:aws:iam::1:role/r");
    assert_string_equal(aws_profile_get(p, "s3"), "");
    assert_null(aws_profile_get(p, "max_concurrent_requests"));
    aws_profile_free(p);
    assert_null(aws_profile_load("missing", cfg, cred));
    unlink(cfg);
    unlink(cred);
    rmdir(dir);
}

static void test_static_credentials(void **state)
{
    (void)state;
    struct aws_creds_provider *p = aws_creds_static("test", "AKIA1", "secret", NULL);
    struct aws_credentials c;
    struct aws_error err;
    assert_int_equal(aws_creds_get(p, false, &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIA1");
    assert_string_equal(c.secret_access_key, "secret");
    assert_null(c.session_token);
    assert_true(c.expiration == 0);
    aws_credentials_clear(&c);
    aws_creds_destroy(p);
    assert_null(aws_creds_static("test", "AKIA1", "", NULL));
    aws_creds_destroy(NULL);
}

/* --- credential_process ------------------------------------------------- */

static void sleep_until_wall(double t)
{
    double d = t - clock_wall();
    if (d > 0)
        nanosleep(&(struct timespec){(time_t)d, (long)((d - (double)(time_t)d) * 1e9)}, NULL);
}

/* The chain for a config file holding only [profile name], credential_process
 * = command, with a 1 s deadline. */
static struct aws_creds_provider *process_chain(const char *dir, const char *name,
                                                const char *command)
{
    char cfg[256], text[1024], errbuf[256];
    snprintf(cfg, sizeof cfg, "%s/config", dir);
    snprintf(text, sizeof text, "[profile %s]\ncredential_process = %s\n", name, command);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ROLE_ARN",
                                       "AWS_WEB_IDENTITY_TOKEN_FILE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv("AWS_PROFILE", name, 1);
    setenv("AWS_CONFIG_FILE", cfg, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials", 1);
    struct aws_config c;
    aws_config_defaults(&c);
    c.process_timeout = 1;
    struct aws_creds_provider *p = aws_creds_default_chain(&c, errbuf, sizeof errbuf);
    assert_non_null(p);
    assert_string_equal(aws_creds_source(p), "process");
    return p;
}

/* Each way a helper fails is an error that says which, within the deadline. */
static void test_credential_process_failures(void **state)
{
    (void)state;
    char dir[] = "/tmp/aws-org-exporter-process-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const struct {
        const char *command, *message;
        double min_s, max_s; /* how long the fetch took */
    } cases[] = {
        {"sleep 30", "credential_process timed out after 1s and was killed", 1.0, 2.0},
        /* closes stdout and stays: still bounded by the deadline */
        {"exec >&-; sleep 30", "credential_process timed out after 1s and was killed", 1.0, 2.0},
        /* a grandchild keeps stdout open: the whole group goes */
        {"(sleep 30 &); echo '{}'", "credential_process timed out after 1s and was killed", 1.0,
         2.0},
        {"yes", "credential_process wrote more than 65536 bytes and was killed", 0, 0.9},
        {"echo secret-on-stderr >&2; exit 3", "credential_process exited with status 3", 0, 0.9},
        {"kill -9 $$", "credential_process was killed by signal 9", 0, 0.9},
        {"echo '{\"Version\": 2}'", "credential_process output is not Version 1", 0, 0.9},
        {"echo '{\"Version\": 1}'", "credential_process output is malformed", 0, 0.9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct aws_creds_provider *p = process_chain(dir, "failing", cases[i].command);
        struct aws_credentials c;
        struct aws_error err;
        double t0 = clock_mono();
        assert_int_equal(aws_creds_get(p, false, &c, &err), -1);
        double took = clock_mono() - t0;
        assert_string_equal(err.code, "CredentialsError");
        assert_string_equal(err.message, cases[i].message);
        if (took < cases[i].min_s || took > cases[i].max_s)
            fail_msg("case %zu took %.3f s", i, took);
        assert_null(c.access_key_id);
        aws_creds_destroy(p);
    }
    struct aws_creds_provider *p = process_chain(
        dir, "working",
        "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"s3\", "
        "\"SessionToken\": \"tok\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'");
    struct aws_credentials c;
    struct aws_error err;
    assert_int_equal(aws_creds_get(p, false, &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDPROC");
    assert_string_equal(c.secret_access_key, "s3");
    assert_string_equal(c.session_token, "tok");
    assert_true(c.expiration == 4070908800.0);
    aws_credentials_clear(&c);
    aws_creds_destroy(p);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/config", dir);
    unlink(cfg);
    rmdir(dir);
}

struct getter {
    struct aws_creds_provider *p;
    bool force;
    int rc;
    struct aws_error err;
    char akid[32];
    double took;
};

static void *getter_run(void *arg)
{
    struct getter *g = arg;
    struct aws_credentials c;
    double t0 = clock_mono();
    g->rc = aws_creds_get(g->p, g->force, &c, &g->err);
    g->took = clock_mono() - t0;
    snprintf(g->akid, sizeof g->akid, "%s", c.access_key_id ? c.access_key_id : "");
    aws_credentials_clear(&c);
    return NULL;
}

static void start_getter(pthread_t *t, struct getter *g, struct aws_creds_provider *p, bool force)
{
    memset(g, 0, sizeof *g);
    g->p = p;
    g->force = force;
    assert_int_equal(pthread_create(t, NULL, getter_run, g), 0);
}

/*
 * The first call hands out credentials for about 6 s; later calls hang. A
 * thread refreshing them blocks no one who holds valid ones; a forced
 * refresh waits for the refresh under way instead of starting another;
 * after expiry, a thread waits for the fetch under way and shares its error.
 */
static void test_credential_process_refresh_blocks_no_one(void **state)
{
    (void)state;
    char dir[] = "/tmp/aws-org-exporter-refresh-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char command[512], flag[256], cfg[256];
    snprintf(flag, sizeof flag, "%s/first", dir);
    snprintf(command, sizeof command,
             "if mkdir %s 2>/dev/null; then printf '{\"Version\": 1, \"AccessKeyId\": "
             "\"AKIDFIRST\", \"SecretAccessKey\": \"s3\", \"Expiration\": \"%%s\"}' "
             "\"$(date -u -d @$(($(date +%%s) + 6)) +%%Y-%%m-%%dT%%H:%%M:%%SZ)\"; "
             "else exec sleep 30; fi",
             flag);
    struct aws_creds_provider *p = process_chain(dir, "refresh", command);
    struct getter first, a, b, mine, c, d;
    pthread_t ta, tb, tc, td;
    first.p = p;
    first.force = false;
    getter_run(&first);
    assert_int_equal(first.rc, 0);
    assert_string_equal(first.akid, "AKIDFIRST");
    struct aws_credentials cur;
    struct aws_error err;
    assert_int_equal(aws_creds_get(p, false, &cur, &err), 0); /* cached: no new call */
    double exp = cur.expiration;
    aws_credentials_clear(&cur);
    assert_true(exp - clock_wall() > 4.5 && exp - clock_wall() <= 6.0);

    /* 2 s before expiry (inside the refresh margin): a refreshes, and hangs
     * until its deadline; b (forced) waits for a's outcome; a plain caller
     * gets the valid credentials at once. */
    sleep_until_wall(exp - 2.0);
    start_getter(&ta, &a, p, false);
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    start_getter(&tb, &b, p, true);
    mine.p = p;
    mine.force = false;
    getter_run(&mine);
    assert_int_equal(mine.rc, 0);
    assert_string_equal(mine.akid, "AKIDFIRST");
    assert_true(mine.took < 0.2);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    /* the refresh timed out; the credentials were still valid, so both got them */
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.akid, "AKIDFIRST");
    assert_true(a.took >= 1.0 && a.took < 1.8);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.akid, "AKIDFIRST");
    assert_true(b.took >= 0.6 && b.took < 1.6);

    /* After expiry: c fetches (and times out); d, with nothing valid, waits
     * for c's fetch and gets its error. */
    sleep_until_wall(exp + 0.1);
    start_getter(&tc, &c, p, false);
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    start_getter(&td, &d, p, false);
    pthread_join(tc, NULL);
    pthread_join(td, NULL);
    assert_int_equal(c.rc, -1);
    assert_string_equal(c.err.message, "credential_process timed out after 1s and was killed");
    assert_int_equal(d.rc, -1);
    assert_string_equal(d.err.message, "credential_process timed out after 1s and was killed");
    assert_true(d.took >= 0.6 && d.took < 1.6);
    aws_creds_destroy(p);
    snprintf(cfg, sizeof cfg, "%s/config", dir);
    unlink(cfg);
    rmdir(flag);
    rmdir(dir);
}

static void test_ratelimit_spacing(void **state)
{
    (void)state;
    ratelimit_reset();
    assert_true(ratelimit_delay("k", 2) == 0);
    assert_int_equal(ratelimit_wait("k", 2, NULL), 0);
    double d = ratelimit_delay("k", 2);
    assert_true(d > 0.45 && d <= 0.51);            /* 1/rate with a 2% margin */
    assert_true(ratelimit_delay("other", 2) == 0); /* keys are independent */
    atomic_bool stop = true;
    assert_int_equal(ratelimit_wait("k", 2, &stop), -1); /* gives up when stopping */
    assert_true(ratelimit_delay("k", 0) == 0);           /* rate 0: no limit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_endpoint_overrides),
        cmocka_unit_test(test_retry_classes),
        cmocka_unit_test(test_xml_text),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_static_credentials),
        cmocka_unit_test(test_ratelimit_spacing),
        cmocka_unit_test(test_credential_process_failures),
        cmocka_unit_test(test_credential_process_refresh_blocks_no_one),
    };
    return cmocka_run_group_tests_name("aws_client", tests, NULL, NULL);
}
