#include "collectors/aws_session.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "collectors/aws/stats.h"

static struct {
    const char *region;
    const char *role_arn;
    const char *external_id;
    const char *endpoint_url;
    uint64_t max_attempts;
    uint64_t timeout_ms;
    uint64_t process_timeout_ms;
} opt;

static const struct flag aws_flags[] = {
    {"aws.region", FLAG_STRING, "",
     "AWS region for regional endpoints and STS; default from AWS_REGION, AWS_DEFAULT_REGION, "
     "the profile, else us-east-1.",
     &opt.region, 0, 0, NULL},
    {"aws.role-arn", FLAG_STRING, "",
     "Role to assume (STS AssumeRole) on top of the resolved "
     "credentials, e.g. a read-only role in the management account.",
     &opt.role_arn, 0, 0, NULL},
    {"aws.external-id", FLAG_STRING, "", "External ID for --aws.role-arn.", &opt.external_id, 0, 0,
     NULL},
    {"aws.endpoint-url", FLAG_STRING, "",
     "Send every AWS call to this URL (tests, proxies); "
     "AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> otherwise.",
     &opt.endpoint_url, 0, 0, NULL},
    {"aws.max-attempts", FLAG_UINT, "0",
     "Attempts per AWS call on errors worth retrying "
     "(throttles get three times as many); 0 means AWS_MAX_ATTEMPTS, else 3.",
     &opt.max_attempts, 0, 20, NULL},
    {"aws.timeout", FLAG_DURATION, "30s", "Timeout of one AWS request.", &opt.timeout_ms, 1000,
     600000, NULL},
    {"aws.credential-process-timeout", FLAG_DURATION, "60s",
     "How long a profile's credential_process may run before it is killed (with its process "
     "group) and the credentials count as unavailable.",
     &opt.process_timeout_ms, 1000, 3600000, NULL},
};

int aws_session_add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, aws_flags, sizeof aws_flags / sizeof aws_flags[0]);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int state; /* 0 not set up, 1 ready, -1 failed */
static char failure[512];
static struct aws_config cfg;
static char region[64];
static struct aws_creds_provider *base, *creds;

int aws_session_setup(char *err, size_t errlen)
{
    pthread_mutex_lock(&lock);
    if (state == 0) {
        aws_config_defaults(&cfg);
        if (opt.region[0] != '\0') {
            cfg.region = opt.region;
        } else if (cfg.region == NULL) {
            const char *name = getenv("AWS_PROFILE");
            struct aws_profile *p = aws_profile_load(name && *name ? name : "default", NULL, NULL);
            const char *r = aws_profile_get(p, "region");
            snprintf(region, sizeof region, "%s", r ? r : "us-east-1");
            aws_profile_free(p);
            cfg.region = region;
        }
        if (opt.endpoint_url[0] != '\0')
            cfg.endpoint_url = opt.endpoint_url;
        if (opt.max_attempts > 0)
            cfg.max_attempts = (unsigned)opt.max_attempts;
        cfg.timeout = (double)opt.timeout_ms / 1000.0;
        cfg.process_timeout = (double)opt.process_timeout_ms / 1000.0;
        base = aws_creds_default_chain(&cfg, failure, sizeof failure);
        if (base != NULL && opt.role_arn[0] != '\0')
            creds = aws_creds_assume_role(base, &cfg, opt.role_arn, opt.external_id, NULL, 0);
        else
            creds = base;
        if (creds == NULL) {
            state = -1;
            if (failure[0] == '\0')
                snprintf(failure, sizeof failure, "cannot set up AWS credentials");
        } else {
            state = 1;
            log_info("aws", "AWS session ready", "region", cfg.region, "credentials",
                     aws_creds_source(base), "role_arn", opt.role_arn[0] ? opt.role_arn : NULL);
        }
    }
    int rc = state == 1 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "%s", failure);
    pthread_mutex_unlock(&lock);
    return rc;
}

const struct aws_config *aws_session_config(void)
{
    return &cfg;
}

struct aws_creds_provider *aws_session_creds(void)
{
    return creds;
}

struct aws_client *aws_session_client(void)
{
    return aws_client_create(&cfg, creds, "default");
}

struct aws_config aws_session_config_for(const char *region_, const atomic_bool *stopping)
{
    struct aws_config c = cfg;
    if (region_ != NULL && region_[0] != '\0')
        c.region = region_;
    c.stopping = stopping;
    return c;
}

struct aws_client *aws_session_run_client(struct aws_client **client,
                                          struct aws_creds_provider **role, const char *region_,
                                          const char *role_arn, const struct collector_run *r)
{
    if (*client != NULL)
        return *client;
    if (aws_session_setup(r->err, r->errlen) != 0)
        return NULL;
    struct aws_config c = aws_session_config_for(region_, r->stopping);
    struct aws_creds_provider *signer = creds;
    if (role_arn != NULL && role_arn[0] != '\0') {
        if (*role == NULL)
            *role = aws_creds_assume_role(creds, &c, role_arn, NULL, "aws-org-exporter", 0);
        signer = *role;
    }
    *client = signer ? aws_client_create(&c, signer, "default") : NULL;
    if (*client == NULL)
        snprintf(r->err, r->errlen, "out of memory");
    return *client;
}

struct walk {
    struct expo *e;
    int pass;
};

static void on_request(void *arg, const char *service, const char *operation, const char *code,
                       uint64_t count)
{
    struct walk *w = arg;
    struct expo_label l[] = {{"service", service}, {"operation", operation}, {"code", code}};
    expo_sample(w->e, l, 3, (double)count);
}

static void on_retry(void *arg, const char *service, const char *operation, uint64_t count)
{
    struct walk *w = arg;
    struct expo_label l[] = {{"service", service}, {"operation", operation}};
    expo_sample(w->e, l, 2, (double)count);
}

static void on_creds(void *arg, const char *source, double expiry)
{
    struct walk *w = arg;
    if (expiry > 0)
        expo_sample(w->e, &(struct expo_label){"source", source}, 1, expiry);
}

int aws_session_write_metrics(void *arg, struct expo *e)
{
    (void)arg;
    struct walk w = {e, 0};
    expo_family(e, "aws_org_api_requests_total", EXPO_COUNTER,
                "AWS API requests by service, operation and result code (OK, the AWS error "
                "code, or a transport class such as Timeout).");
    aws_stats_walk(on_request, NULL, NULL, &w);
    expo_family(e, "aws_org_api_retries_total", EXPO_COUNTER,
                "AWS API requests retried after throttling, a 5xx, a timeout or a connection "
                "error.");
    aws_stats_walk(NULL, on_retry, NULL, &w);
    expo_family(e, "aws_org_credentials_expiry_timestamp_seconds", EXPO_GAUGE,
                "When the temporary AWS credentials in use expire (unix time), by source; "
                "absent for long-term keys. They are refreshed ahead of it.");
    aws_stats_walk(NULL, NULL, on_creds, &w);
    return 0;
}
