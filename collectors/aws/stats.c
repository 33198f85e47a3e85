#include "collectors/aws/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Distinct keys are few (services x operations x codes): a capped list. */
#define STATS_MAX 1024

struct entry {
    char service[32], operation[64], code[64];
    uint64_t requests, retries;
    int kind; /* 0 request, 1 retry, 2 credentials */
    double expiry;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry entries[STATS_MAX];
static size_t n;

static void copy(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l >= cap)
        l = cap - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* The entry for a key, created when missing; NULL when the list is full
 * (codes beyond the cap are folded into "Other"). Called under the lock. */
static struct entry *find(int kind, const char *service, const char *operation, const char *code)
{
    for (size_t i = 0; i < n; i++) {
        struct entry *e = &entries[i];
        if (e->kind == kind && strncmp(e->service, service, sizeof e->service - 1) == 0 &&
            strncmp(e->operation, operation, sizeof e->operation - 1) == 0 &&
            strncmp(e->code, code, sizeof e->code - 1) == 0)
            return e;
    }
    if (n == STATS_MAX)
        return NULL;
    struct entry *e = &entries[n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    copy(e->service, sizeof e->service, service);
    copy(e->operation, sizeof e->operation, operation);
    copy(e->code, sizeof e->code, code);
    return e;
}

void aws_stats_request(const char *service, const char *operation, const char *code)
{
    pthread_mutex_lock(&lock);
    struct entry *e = find(0, service, operation, code);
    if (e == NULL)
        e = find(0, service, operation, "Other");
    if (e != NULL)
        e->requests++;
    pthread_mutex_unlock(&lock);
}

void aws_stats_retry(const char *service, const char *operation)
{
    pthread_mutex_lock(&lock);
    struct entry *e = find(1, service, operation, "");
    if (e != NULL)
        e->retries++;
    pthread_mutex_unlock(&lock);
}

void aws_stats_credentials(const char *source, double expiry)
{
    pthread_mutex_lock(&lock);
    struct entry *e = find(2, source, "", "");
    if (e != NULL)
        e->expiry = expiry;
    pthread_mutex_unlock(&lock);
}

void aws_stats_walk(aws_stats_request_fn req, aws_stats_retry_fn retry, aws_stats_creds_fn creds,
                    void *arg)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &entries[i];
        if (e->kind == 0 && req != NULL)
            req(arg, e->service, e->operation, e->code, e->requests);
        else if (e->kind == 1 && retry != NULL)
            retry(arg, e->service, e->operation, e->retries);
        else if (e->kind == 2 && creds != NULL)
            creds(arg, e->service, e->expiry);
    }
    pthread_mutex_unlock(&lock);
}

void aws_stats_reset(void)
{
    pthread_mutex_lock(&lock);
    n = 0;
    pthread_mutex_unlock(&lock);
}
