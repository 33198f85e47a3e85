/*
 * credentials: struct aws_credentials and the provider's cache (see
 * credentials.h for the contract, provider_impl.h for the sources' side).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "collectors/aws/credentials.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/aws/provider_impl.h"
#include "collectors/aws/stats.h"
#include "lib/clock.h"
#include "lib/log.h"

void aws_secret_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void aws_credentials_clear(struct aws_credentials *c)
{
    if (c == NULL)
        return;
    free(c->access_key_id);
    aws_secret_free(c->secret_access_key);
    aws_secret_free(c->session_token);
    memset(c, 0, sizeof *c);
}

int aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src)
{
    memset(dst, 0, sizeof *dst);
    dst->access_key_id = src->access_key_id ? strdup(src->access_key_id) : NULL;
    dst->secret_access_key = src->secret_access_key ? strdup(src->secret_access_key) : NULL;
    dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
    dst->expiration = src->expiration;
    if ((src->access_key_id && !dst->access_key_id) ||
        (src->secret_access_key && !dst->secret_access_key) ||
        (src->session_token && !dst->session_token)) {
        aws_credentials_clear(dst);
        return -1;
    }
    return 0;
}

int aws_credentials_make(struct aws_credentials *out, const char *akid, const char *secret,
                         const char *token, double expiration)
{
    memset(out, 0, sizeof *out);
    if (akid == NULL || *akid == '\0' || secret == NULL || *secret == '\0')
        return -1;
    struct aws_credentials tmp = {(char *)akid, (char *)secret,
                                  token && *token ? (char *)token : NULL, expiration};
    return aws_credentials_copy(out, &tmp);
}

/* --- the cache ---------------------------------------------------------- */

/*
 * A source (impl, its fetch and free) and its cache. The cache and the
 * refresh state are guarded by lock; the fetch itself runs without it, so a
 * slow source (a credential_process, STS) never blocks a thread that still
 * holds valid credentials.
 */
struct aws_creds_provider {
    const char *source; /* "environment", "web_identity", "profile", "container", ... */
    aws_creds_fetch_fn *fetch;
    aws_creds_free_fn *free_impl;
    void *impl;        /* the source's own state, owned */
    double wait_limit; /* seconds a thread waits for another's fetch */

    pthread_mutex_t lock;
    pthread_cond_t done;   /* broadcast when a fetch ends (CLOCK_MONOTONIC) */
    bool refreshing;       /* a thread is fetching */
    unsigned long fetches; /* fetches ended, for waiters to see theirs end */
    bool last_failed;      /* how the last fetch ended */
    struct aws_error last; /* and why, when it failed (never a secret) */
    struct aws_credentials cached;
    double fetched_at;
    bool have;
};

/* Waiters give up after this when a source names no limit of its own. */
#define DEFAULT_WAIT_LIMIT 60.0

struct aws_creds_provider *aws_creds_provider_new(const char *source, double wait_limit,
                                                  aws_creds_fetch_fn *fetch,
                                                  aws_creds_free_fn *free_impl, void *impl)
{
    struct aws_creds_provider *p = calloc(1, sizeof *p);
    if (p == NULL) {
        free_impl(impl);
        return NULL;
    }
    p->source = source;
    p->fetch = fetch;
    p->free_impl = free_impl;
    p->impl = impl;
    p->wait_limit = wait_limit > 0 ? wait_limit : DEFAULT_WAIT_LIMIT;
    pthread_mutex_init(&p->lock, NULL);
    clock_cond_init(&p->done);
    return p;
}

double aws_creds_wait_limit(const struct aws_creds_provider *p)
{
    return p->wait_limit;
}

/* Refresh ahead of expiry: five minutes, or half the lifetime when shorter. */
static bool needs_refresh(const struct aws_creds_provider *p, double now)
{
    if (!p->have)
        return true;
    if (p->cached.expiration == 0)
        return false;
    double life = p->cached.expiration - p->fetched_at;
    double margin = life / 2 < 300 ? life / 2 : 300;
    return now >= p->cached.expiration - margin;
}

/* Whether the cached credentials may still sign a request. */
static bool usable(const struct aws_creds_provider *p, double now)
{
    return p->have && (p->cached.expiration == 0 || now < p->cached.expiration);
}

/*
 * Waits (p->lock held) until the fetch under way ends, at most
 * p->wait_limit. Returns 0 when it ended, -1 with err set on timeout.
 */
static int wait_fetch(struct aws_creds_provider *p, struct aws_error *err)
{
    unsigned long mine = p->fetches;
    double until = clock_mono() + p->wait_limit;
    struct timespec ts = clock_timespec(until);
    while (p->refreshing && p->fetches == mine)
        if (pthread_cond_timedwait(&p->done, &p->lock, &ts) == ETIMEDOUT)
            break;
    if (p->fetches != mine)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "timed out after %gs waiting for %s credentials being fetched",
             p->wait_limit, p->source);
    aws_error_set(err, 0, "CredentialsError", msg);
    return -1;
}

int aws_creds_get(struct aws_creds_provider *p, bool force_refresh, struct aws_credentials *out,
                  struct aws_error *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->lock);
    double now = clock_wall();
    if ((force_refresh || needs_refresh(p, now)) && p->refreshing) {
        /* Another thread is fetching: valid credentials serve meanwhile;
         * without any, that fetch's outcome is ours too. */
        if (force_refresh || !usable(p, now)) {
            if (wait_fetch(p, err) != 0) {
                pthread_mutex_unlock(&p->lock);
                return -1;
            }
            if (p->last_failed && !usable(p, clock_wall())) {
                *err = p->last;
                pthread_mutex_unlock(&p->lock);
                return -1;
            }
        }
    } else if (force_refresh || needs_refresh(p, now)) {
        p->refreshing = true;
        pthread_mutex_unlock(&p->lock);
        struct aws_credentials fresh;
        memset(&fresh, 0, sizeof fresh);
        struct aws_error e = {0};
        int rc = p->fetch(p->impl, &fresh, &e);
        pthread_mutex_lock(&p->lock);
        p->refreshing = false;
        p->fetches++;
        p->last_failed = rc != 0;
        p->last = e;
        pthread_cond_broadcast(&p->done);
        now = clock_wall();
        if (rc == 0) {
            aws_credentials_clear(&p->cached);
            p->cached = fresh;
            p->fetched_at = now;
            p->have = true;
            aws_stats_credentials(p->source, fresh.expiration);
            char exp[32];
            snprintf(exp, sizeof exp, "%.0f", fresh.expiration);
            log_debug("aws", "credentials refreshed", "source", p->source, "expiration", exp);
        } else if (usable(p, now)) {
            log_warn("aws",
                     "refreshing credentials failed; using the current ones until they "
                     "expire",
                     "source", p->source, "code", e.code, "err", e.message);
        } else {
            *err = e;
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
    }
    int rc = aws_credentials_copy(out, &p->cached);
    pthread_mutex_unlock(&p->lock);
    if (rc != 0)
        aws_error_set(err, 0, "CredentialsError", "out of memory");
    return rc;
}

const char *aws_creds_source(const struct aws_creds_provider *p)
{
    return p->source;
}

void aws_creds_destroy(struct aws_creds_provider *p)
{
    if (p == NULL)
        return;
    aws_credentials_clear(&p->cached);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    p->free_impl(p->impl);
    free(p);
}
