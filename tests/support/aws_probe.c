/*
 * aws-probe: drives the AWS client directly, for the integration tests of
 * what no collector exercises on its own (pacing of one operation from
 * several threads, retries under injected faults).
 *
 *   aws-probe [--aws.* flags] --probe.op=cloudtrail.LookupEvents
 *             --probe.body='{"MaxResults":5}' --probe.calls=10 --probe.threads=3
 *
 * Prints one line per call ("ok" or the error code), then the client's
 * counters: "requests SERVICE OPERATION CODE N", "retries SERVICE OPERATION N".
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/aws/stats.h"
#include "collectors/aws_session.h"
#include "lib/log.h"

static struct {
    const char *op, *body, *log_level;
    uint64_t calls, threads;
} opt;

static const struct flag probe_flags[] = {
    {"probe.op", FLAG_STRING, "organizations.DescribeOrganization", "service.Operation", &opt.op, 0,
     0, NULL},
    {"probe.body", FLAG_STRING, "{}", "JSON request", &opt.body, 0, 0, NULL},
    {"probe.calls", FLAG_UINT, "1", "calls per thread", &opt.calls, 1, 100000, NULL},
    {"probe.threads", FLAG_UINT, "1", "threads", &opt.threads, 1, 64, NULL},
    {"log.level", FLAG_STRING, "info", "log level", &opt.log_level, 0, 0, NULL},
};

static enum aws_service service;
static char operation[128];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    (void)arg;
    struct aws_client *c = aws_session_client();
    json_t *body = json_loads(opt.body, 0, NULL);
    for (uint64_t i = 0; i < opt.calls; i++) {
        json_t *resp = NULL;
        struct aws_error err;
        int rc = aws_json_call(c, service, operation, body, &resp, &err);
        pthread_mutex_lock(&out_lock);
        printf("%s\n", rc == 0 ? "ok" : err.code);
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
        json_decref(resp);
    }
    json_decref(body);
    aws_client_destroy(c);
    return NULL;
}

static void on_request(void *arg, const char *s, const char *o, const char *code, uint64_t n)
{
    (void)arg;
    printf("requests %s %s %s %llu\n", s, o, code, (unsigned long long)n);
}

static void on_retry(void *arg, const char *s, const char *o, uint64_t n)
{
    (void)arg;
    printf("retries %s %s %llu\n", s, o, (unsigned long long)n);
}

int main(int argc, char **argv)
{
    struct flagset fs = {0};
    aws_session_add_flags(&fs);
    for (size_t i = 0; i < sizeof probe_flags / sizeof probe_flags[0]; i++)
        flagset_add(&fs, &probe_flags[i]);
    char err[512];
    if (flags_parse(&fs, argc, argv, err, sizeof err) != FLAGS_OK) {
        fprintf(stderr, "aws-probe: %s\n", err);
        return 2;
    }
    enum log_level level = LOG_INFO;
    log_parse_level(opt.log_level, &level);
    log_setup(level, LOG_LOGFMT, 60);
    const char *dot = strchr(opt.op, '.');
    if (dot == NULL) {
        fprintf(stderr, "aws-probe: --probe.op is service.Operation\n");
        return 2;
    }
    service = strncmp(opt.op, "cloudtrail.", 11) == 0 ? AWS_CLOUDTRAIL : AWS_ORGANIZATIONS;
    snprintf(operation, sizeof operation, "%s", dot + 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (aws_session_setup(err, sizeof err) != 0) {
        fprintf(stderr, "aws-probe: %s\n", err);
        return 1;
    }
    pthread_t t[64];
    for (uint64_t i = 0; i < opt.threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (uint64_t i = 0; i < opt.threads; i++)
        pthread_join(t[i], NULL);
    aws_stats_walk(on_request, on_retry, NULL, NULL);
    flagset_free(&fs);
    curl_global_cleanup();
    return 0;
}
