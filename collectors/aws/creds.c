#define _GNU_SOURCE /* strndup, explicit_bzero, pipe2, posix_spawn_file_actions_addclosefrom_np */
#include "collectors/aws/creds.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "collectors/aws/stats.h"
#include "lib/clock.h"

#define TOKEN_FILE_MAX (64 * 1024)
#define METADATA_MAX (64 * 1024)

static void wipe_free(char *s)
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
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
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

/* Takes the three strings (may be NULL); returns 0, or -1 when a key is missing. */
static int make_creds(struct aws_credentials *out, const char *akid, const char *secret,
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
 * Every source embeds this as its first member. The cache and the refresh
 * state are guarded by lock; the fetch itself runs without it, so a slow
 * source (a credential_process, STS) never blocks a thread that still holds
 * valid credentials.
 */
struct aws_creds_provider {
    const char *source; /* "environment", "web_identity", "profile", "container", ... */
    /* Fetches fresh credentials into out (owned by the caller). Called by
     * one thread at a time, without lock. */
    int (*fetch)(struct aws_creds_provider *self, struct aws_credentials *out,
                 struct aws_error *err);
    void (*destroy)(struct aws_creds_provider *self); /* frees the source's own state and self */
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

static void provider_init(struct aws_creds_provider *p, const char *source)
{
    p->source = source;
    p->wait_limit = DEFAULT_WAIT_LIMIT;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&p->done, &a);
    pthread_condattr_destroy(&a);
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
        int rc = p->fetch(p, &fresh, &e);
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
    p->destroy(p); /* frees p itself */
}

/* --- a copy of the client configuration -------------------------------- */

struct cfg_copy {
    struct aws_config cfg;
    char *region, *endpoint_url, *ca_bundle;
};

static int cfg_copy(struct cfg_copy *d, const struct aws_config *s)
{
    d->cfg = *s;
    d->region = s->region ? strdup(s->region) : NULL;
    d->endpoint_url = s->endpoint_url ? strdup(s->endpoint_url) : NULL;
    d->ca_bundle = s->ca_bundle ? strdup(s->ca_bundle) : NULL;
    d->cfg.region = d->region;
    d->cfg.endpoint_url = d->endpoint_url;
    d->cfg.ca_bundle = d->ca_bundle;
    return (s->region && !d->region) || (s->endpoint_url && !d->endpoint_url) ||
                   (s->ca_bundle && !d->ca_bundle)
               ? -1
               : 0;
}

static void cfg_free(struct cfg_copy *d)
{
    free(d->region);
    free(d->endpoint_url);
    free(d->ca_bundle);
}

/* --- static ------------------------------------------------------------- */

struct static_provider {
    struct aws_creds_provider base;
    struct aws_credentials creds;
};

static int static_fetch(struct aws_creds_provider *self, struct aws_credentials *out,
                        struct aws_error *err)
{
    struct static_provider *s = (struct static_provider *)self;
    if (aws_credentials_copy(out, &s->creds) != 0) {
        aws_error_set(err, 0, "CredentialsError", "out of memory");
        return -1;
    }
    return 0;
}

static void static_destroy(struct aws_creds_provider *self)
{
    struct static_provider *s = (struct static_provider *)self;
    aws_credentials_clear(&s->creds);
    free(s);
}

struct aws_creds_provider *aws_creds_static(const char *source, const char *akid,
                                            const char *secret, const char *token)
{
    struct static_provider *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (make_creds(&s->creds, akid, secret, token, 0) != 0) {
        free(s);
        return NULL;
    }
    provider_init(&s->base, source);
    s->base.fetch = static_fetch;
    s->base.destroy = static_destroy;
    return &s->base;
}

/* --- STS: AssumeRole and AssumeRoleWithWebIdentity ------------------------ */

/* Reads the credentials out of an STS answer. */
static int parse_sts(const char *xml, struct aws_credentials *out, struct aws_error *err)
{
    char akid[256], secret[256], exp[64];
    char *token = malloc(8192);
    double expiration = 0;
    int rc = -1;
    if (token != NULL && aws_xml_text(xml, "AccessKeyId", akid, sizeof akid) == 0 &&
        aws_xml_text(xml, "SecretAccessKey", secret, sizeof secret) == 0 &&
        aws_xml_text(xml, "SessionToken", token, 8192) == 0 &&
        aws_xml_text(xml, "Expiration", exp, sizeof exp) == 0 &&
        aws_parse_time(exp, &expiration) == 0)
        rc = make_creds(out, akid, secret, token, expiration);
    explicit_bzero(secret, sizeof secret);
    wipe_free(token);
    if (rc != 0)
        aws_error_set(err, 0, "MalformedResponse", "STS answered without usable credentials");
    return rc;
}

struct assume_provider {
    struct aws_creds_provider base;
    struct cfg_copy cfg;
    struct aws_creds_provider *signer; /* borrowed (AssumeRole) */
    char *role_arn, *external_id, *session_name;
    unsigned duration;
    char *token_file;                        /* web identity */
    struct aws_creds_provider *owned_signer; /* profile chains own their source */
};

static int assume_fetch(struct aws_creds_provider *self, struct aws_credentials *out,
                        struct aws_error *err)
{
    struct assume_provider *a = (struct assume_provider *)self;
    char duration[16];
    snprintf(duration, sizeof duration, "%u", a->duration);
    char *token = NULL;
    if (a->token_file != NULL) {
        token = buf_read_token(a->token_file, TOKEN_FILE_MAX);
        if (token == NULL) {
            aws_error_set(err, 0, "CredentialsError",
                          errno == ENODATA || errno == EFBIG
                              ? "the web identity token file is empty or too large"
                              : "cannot read the web identity token file");
            return -1;
        }
    }
    const char *params[16];
    size_t n = 0;
    params[n++] = "Action";
    params[n++] = token ? "AssumeRoleWithWebIdentity" : "AssumeRole";
    params[n++] = "Version";
    params[n++] = "2011-06-15";
    params[n++] = "RoleArn";
    params[n++] = a->role_arn;
    params[n++] = "RoleSessionName";
    params[n++] = a->session_name;
    if (token != NULL) {
        params[n++] = "WebIdentityToken";
        params[n++] = token;
    }
    if (a->external_id != NULL && token == NULL) {
        params[n++] = "ExternalId";
        params[n++] = a->external_id;
    }
    if (a->duration > 0) {
        params[n++] = "DurationSeconds";
        params[n++] = duration;
    }
    params[n] = NULL;
    struct aws_client *c = aws_client_create(&a->cfg.cfg, a->signer, "default");
    struct buf xml;
    buf_init(&xml, 1 << 20);
    int rc = c ? aws_query_call(c, params[1], params, token == NULL, &xml, err) : -1;
    if (c == NULL)
        aws_error_set(err, 0, "CredentialsError", "out of memory");
    aws_client_destroy(c);
    wipe_free(token);
    if (rc == 0)
        rc = parse_sts(xml.data ? xml.data : "", out, err);
    buf_free(&xml);
    if (rc != 0)
        log_warn("aws", "assuming a role failed", "role_arn", a->role_arn, "code", err->code, "err",
                 err->message);
    return rc;
}

static void assume_destroy(struct aws_creds_provider *self)
{
    struct assume_provider *a = (struct assume_provider *)self;
    cfg_free(&a->cfg);
    free(a->role_arn);
    free(a->external_id);
    free(a->session_name);
    free(a->token_file);
    aws_creds_destroy(a->owned_signer);
    free(a);
}

/* Waiters on an STS fetch give up when every attempt of the call (with the
 * SDKs' longest backoff, 20 s) and the signer's own fetch would have. */
static void assume_set_signer(struct assume_provider *a, struct aws_creds_provider *signer)
{
    a->signer = signer;
    unsigned attempts = a->cfg.cfg.max_attempts ? a->cfg.cfg.max_attempts : 3;
    a->base.wait_limit = (signer ? signer->wait_limit : 0) + attempts * (a->cfg.cfg.timeout + 20.0);
}

static struct assume_provider *assume_new(const char *source, const struct aws_config *cfg,
                                          const char *role_arn, const char *external_id,
                                          const char *session_name)
{
    struct assume_provider *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    provider_init(&a->base, source);
    a->base.fetch = assume_fetch;
    a->base.destroy = assume_destroy;
    char session[64];
    snprintf(session, sizeof session, "aws-org-exporter-%ld", (long)time(NULL));
    a->role_arn = strdup(role_arn);
    a->external_id = external_id && *external_id ? strdup(external_id) : NULL;
    a->session_name = strdup(session_name && *session_name ? session_name : session);
    if (cfg_copy(&a->cfg, cfg) != 0 || a->role_arn == NULL || a->session_name == NULL ||
        (external_id && *external_id && a->external_id == NULL)) {
        assume_destroy(&a->base);
        return NULL;
    }
    return a;
}

struct aws_creds_provider *aws_creds_assume_role(struct aws_creds_provider *base,
                                                 const struct aws_config *cfg, const char *role_arn,
                                                 const char *external_id, const char *session_name,
                                                 unsigned duration)
{
    struct assume_provider *a = assume_new("assume_role", cfg, role_arn, external_id, session_name);
    if (a == NULL)
        return NULL;
    assume_set_signer(a, base);
    a->duration = duration;
    return &a->base;
}

static struct aws_creds_provider *web_identity_new(const char *source, const struct aws_config *cfg,
                                                   const char *role_arn, const char *token_file,
                                                   const char *session_name)
{
    struct assume_provider *a = assume_new(source, cfg, role_arn, NULL, session_name);
    if (a == NULL)
        return NULL;
    assume_set_signer(a, NULL);
    a->token_file = strdup(token_file);
    if (a->token_file == NULL) {
        assume_destroy(&a->base);
        return NULL;
    }
    return &a->base;
}

/* --- JSON credentials (container endpoint, IMDS, credential_process) ------ */

static int parse_json_creds(const char *text, size_t len, const char *token_key,
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
        rc = make_creds(out, akid, secret, token, expiration);
    json_decref(j);
    if (rc != 0)
        aws_error_set(err, 0, "MalformedResponse", "the credentials document is malformed");
    return rc;
}

struct container_provider {
    struct aws_creds_provider base;
    char *url, *token, *token_file;
};

static int container_fetch(struct aws_creds_provider *self, struct aws_credentials *out,
                           struct aws_error *err)
{
    struct container_provider *c = (struct container_provider *)self;
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
    wipe_free(auth);
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
        rc = parse_json_creds(body.data ? body.data : "", body.len, "Token", out, err);
    else if (status != 0)
        aws_error_set(err, 0, "CredentialsError",
                      "the container credentials endpoint refused the request");
    buf_free(&body);
    return rc;
}

static void container_destroy(struct aws_creds_provider *self)
{
    struct container_provider *c = (struct container_provider *)self;
    free(c->url);
    wipe_free(c->token);
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

static struct aws_creds_provider *container_new(char *errbuf, size_t errlen)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char url[2048];
    if (rel != NULL && *rel != '\0') {
        snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
    } else {
        if (!container_host_allowed(full)) {
            snprintf(errbuf, errlen,
                     "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to loopback, "
                     "169.254.170.2, 169.254.170.23 or fd00:ec2::23");
            return NULL;
        }
        snprintf(url, sizeof url, "%s", full);
    }
    struct container_provider *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    provider_init(&c->base, "container");
    c->base.fetch = container_fetch;
    c->base.destroy = container_destroy;
    c->url = strdup(url);
    const char *tf = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *t = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (tf != NULL && *tf != '\0')
        c->token_file = strdup(tf);
    else if (t != NULL && *t != '\0')
        c->token = strdup(t);
    return &c->base;
}

struct imds_provider {
    struct aws_creds_provider base;
    char *endpoint; /* without a trailing slash */
};

static int imds_fetch(struct aws_creds_provider *self, struct aws_credentials *out,
                      struct aws_error *err)
{
    struct imds_provider *m = (struct imds_provider *)self;
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
            rc = parse_json_creds(body.data ? body.data : "", body.len, "Token", out, err);
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

static void imds_destroy(struct aws_creds_provider *self)
{
    struct imds_provider *m = (struct imds_provider *)self;
    free(m->endpoint);
    free(m);
}

static struct aws_creds_provider *imds_new(void)
{
    struct imds_provider *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    provider_init(&m->base, "imds");
    m->base.fetch = imds_fetch;
    m->base.destroy = imds_destroy;
    const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    m->endpoint = strdup(e && *e ? e : "http://169.254.169.254");
    if (m->endpoint == NULL) {
        free(m);
        return NULL;
    }
    size_t l = strlen(m->endpoint);
    if (l > 0 && m->endpoint[l - 1] == '/')
        m->endpoint[l - 1] = '\0';
    return &m->base;
}

/* --- credential_process ------------------------------------------------- */

struct process_provider {
    struct aws_creds_provider base;
    char *command; /* owned; may hold secrets: never logged */
    char *profile; /* owned; the profile that names it, for the log */
    double timeout;
};

enum helper_outcome { HELPER_EXITED, HELPER_TIMEOUT, HELPER_TOO_MUCH, HELPER_FAILED };

/* What a helper run produced: its status when it exited, how many bytes it
 * wrote to stderr (read and thrown away: a helper may print secrets there). */
struct helper_result {
    enum helper_outcome outcome;
    int status; /* waitpid status, when HELPER_EXITED */
    size_t stderr_bytes;
};

/* Kills the helper's whole process group and reaps the helper. */
static void helper_kill(pid_t pid)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/*
 * Starts /bin/sh -c command in a process group of its own: stdin on
 * /dev/null, stdout on *out_fd, stderr on *err_fd (both read ends are the
 * caller's, close-on-exec), every other descriptor closed, signal mask and
 * dispositions reset (this process blocks and ignores some). Returns the
 * pid, or -1.
 */
static pid_t helper_spawn(const char *command, int *out_fd, int *err_fd)
{
    extern char **environ;
    int o[2] = {-1, -1}, e[2] = {-1, -1};
    if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
        for (int i = 0; i < 2; i++)
            if (o[i] >= 0)
                close(o[i]);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    pid_t pid = -1;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    if (posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, o[1], STDOUT_FILENO) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, e[1], STDERR_FILENO) == 0 &&
        posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1) == 0 &&
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                          POSIX_SPAWN_SETSIGDEF) == 0 &&
        posix_spawnattr_setpgroup(&at, 0) == 0 && posix_spawnattr_setsigmask(&at, &none) == 0 &&
        posix_spawnattr_setsigdefault(&at, &all) == 0 &&
        posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(o[1]);
    close(e[1]);
    if (pid < 0) {
        close(o[0]);
        close(e[0]);
        return -1;
    }
    *out_fd = o[0];
    *err_fd = e[0];
    return pid;
}

/*
 * Runs command for at most timeout seconds: its stdout goes into out (capped
 * by out's max), its stderr is counted and thrown away. On timeout, or once
 * stdout passes the cap, the helper's process group is killed at once. The
 * helper is always reaped before this returns.
 */
static struct helper_result helper_run(const char *command, double timeout, struct buf *out)
{
    struct helper_result r = {HELPER_FAILED, 0, 0};
    int fds[2];
    pid_t pid = helper_spawn(command, &fds[0], &fds[1]);
    if (pid < 0)
        return r;
    double deadline = clock_mono() + timeout;
    struct pollfd pf[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    int open = 2;
    r.outcome = HELPER_EXITED;
    while (open > 0 && r.outcome == HELPER_EXITED) {
        double left = deadline - clock_mono();
        if (left <= 0) {
            r.outcome = HELPER_TIMEOUT;
            break;
        }
        int n = poll(pf, 2, (int)ceil(left * 1000));
        if (n < 0 && errno != EINTR)
            r.outcome = HELPER_FAILED;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (pf[i].fd < 0 || pf[i].revents == 0)
                continue;
            char chunk[4096];
            ssize_t got = read(pf[i].fd, chunk, sizeof chunk);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) { /* end of file, or an error: nothing more comes */
                close(pf[i].fd);
                pf[i].fd = -1;
                open--;
            } else if (i == 1) {
                r.stderr_bytes += (size_t)got;
            } else if (buf_append(out, chunk, (size_t)got) != 0) {
                r.outcome = HELPER_TOO_MUCH;
            }
            explicit_bzero(chunk, sizeof chunk);
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    if (r.outcome != HELPER_EXITED) {
        helper_kill(pid);
        return r;
    }
    /* Both pipes are closed; the helper may still be running. */
    for (;;) {
        pid_t w = waitpid(pid, &r.status, WNOHANG);
        if (w == pid)
            return r;
        if (w < 0 && errno != EINTR) {
            r.outcome = HELPER_FAILED;
            return r;
        }
        if (clock_mono() >= deadline) {
            r.outcome = HELPER_TIMEOUT;
            helper_kill(pid);
            return r;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

static int process_fetch(struct aws_creds_provider *self, struct aws_credentials *out,
                         struct aws_error *err)
{
    struct process_provider *p = (struct process_provider *)self;
    struct buf b;
    buf_init(&b, METADATA_MAX);
    struct helper_result h = helper_run(p->command, p->timeout, &b);
    char msg[200];
    int rc = -1;
    switch (h.outcome) {
    case HELPER_TIMEOUT:
        snprintf(msg, sizeof msg, "credential_process timed out after %gs and was killed",
                 p->timeout);
        break;
    case HELPER_TOO_MUCH:
        snprintf(msg, sizeof msg, "credential_process wrote more than %d bytes and was killed",
                 METADATA_MAX);
        break;
    case HELPER_FAILED:
        snprintf(msg, sizeof msg, "cannot run credential_process");
        break;
    case HELPER_EXITED:
        if (WIFEXITED(h.status) && WEXITSTATUS(h.status) == 0)
            msg[0] = '\0';
        else if (WIFEXITED(h.status))
            snprintf(msg, sizeof msg, "credential_process exited with status %d",
                     WEXITSTATUS(h.status));
        else
            snprintf(msg, sizeof msg, "credential_process was killed by signal %d",
                     WIFSIGNALED(h.status) ? WTERMSIG(h.status) : 0);
        break;
    }
    if (msg[0] == '\0') {
        json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        if (json_integer_value(json_object_get(j, "Version")) != 1)
            snprintf(msg, sizeof msg, "credential_process output is not Version 1");
        else if (parse_json_creds(b.data, b.len, "SessionToken", out, err) == 0)
            rc = 0;
        else
            snprintf(msg, sizeof msg, "credential_process output is malformed");
        json_decref(j);
    }
    if (b.data != NULL)
        explicit_bzero(b.data, b.len);
    buf_free(&b);
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%zu", h.stderr_bytes);
    if (rc != 0) {
        aws_error_set(err, 0, "CredentialsError", msg);
        log_warn("aws", msg, "profile", p->profile, "stderr_bytes", bytes);
    } else if (h.stderr_bytes > 0) {
        log_debug("aws", "credential_process wrote to stderr (not logged: it may hold secrets)",
                  "profile", p->profile, "stderr_bytes", bytes);
    }
    return rc;
}

static void process_destroy(struct aws_creds_provider *self)
{
    struct process_provider *p = (struct process_provider *)self;
    wipe_free(p->command);
    free(p->profile);
    free(p);
}

static struct aws_creds_provider *process_new(const char *profile, const char *command,
                                              double timeout)
{
    struct process_provider *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    provider_init(&p->base, "process");
    p->base.fetch = process_fetch;
    p->base.destroy = process_destroy;
    p->timeout = timeout > 0 ? timeout : 60;
    /* Waiters give up when the fetch itself would. */
    p->base.wait_limit = p->timeout;
    p->command = strdup(command);
    p->profile = strdup(profile);
    if (p->command == NULL || p->profile == NULL) {
        aws_creds_destroy(&p->base);
        return NULL;
    }
    return &p->base;
}

/* --- shared config files -------------------------------------------------- */

struct kv {
    char *key, *value;
};

struct aws_profile {
    struct kv *v;
    size_t n;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\n'))
        s[--l] = '\0';
    return s;
}

/* Adds the keys of section `want` of an INI file; earlier keys win. */
static void load_section(struct aws_profile *p, const char *path, const char *want,
                         const char *want_alt)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[4096];
    bool in = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == ' ' || line[0] == '\t') /* nested sub-keys: not ours */
            continue;
        char *s = trim(line);
        if (*s == '#' || *s == ';' || *s == '\0')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end == NULL)
                continue;
            *end = '\0';
            char *name = trim(s + 1);
            in = strcmp(name, want) == 0 || (want_alt && strcmp(name, want_alt) == 0);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || eq == NULL)
            continue;
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        if (aws_profile_get(p, k) != NULL)
            continue;
        struct kv *nv = realloc(p->v, (p->n + 1) * sizeof *nv);
        if (nv == NULL)
            break;
        p->v = nv;
        p->v[p->n].key = strdup(k);
        p->v[p->n].value = strdup(v);
        if (p->v[p->n].key && p->v[p->n].value)
            p->n++;
        else {
            free(p->v[p->n].key);
            free(p->v[p->n].value);
        }
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
}

static void default_path(char *out, size_t n, const char *env, const char *file)
{
    const char *e = getenv(env);
    if (e != NULL && *e != '\0') {
        snprintf(out, n, "%s", e);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, n, "%s/.aws/%s", home ? home : "", file);
}

struct aws_profile *aws_profile_load(const char *name, const char *config_path,
                                     const char *credentials_path)
{
    char cfg[1024], cred[1024];
    if (config_path == NULL)
        default_path(cfg, sizeof cfg, "AWS_CONFIG_FILE", "config");
    else
        snprintf(cfg, sizeof cfg, "%s", config_path);
    if (credentials_path == NULL)
        default_path(cred, sizeof cred, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    else
        snprintf(cred, sizeof cred, "%s", credentials_path);
    struct aws_profile *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    char section[300];
    snprintf(section, sizeof section, "profile %s", name);
    load_section(p, cred, name, NULL); /* the credentials file wins */
    load_section(p, cfg, section, strcmp(name, "default") == 0 ? "default" : NULL);
    if (p->n == 0) {
        aws_profile_free(p);
        return NULL;
    }
    return p;
}

const char *aws_profile_get(const struct aws_profile *p, const char *key)
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (strcmp(p->v[i].key, key) == 0)
            return p->v[i].value;
    return NULL;
}

void aws_profile_free(struct aws_profile *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        wipe_free(p->v[i].value);
    }
    free(p->v);
    free(p);
}

static struct aws_creds_provider *env_provider(void)
{
    return aws_creds_static("environment", getenv("AWS_ACCESS_KEY_ID"),
                            getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN"));
}

static struct aws_creds_provider *profile_provider(const char *name, const struct aws_config *cfg,
                                                   int depth, char *errbuf, size_t errlen);

/* credential_source: the base credentials of a role profile. */
static struct aws_creds_provider *credential_source(const char *src, char *errbuf, size_t errlen)
{
    if (strcmp(src, "Environment") == 0)
        return env_provider();
    if (strcmp(src, "Ec2InstanceMetadata") == 0)
        return imds_new();
    if (strcmp(src, "EcsContainer") == 0)
        return container_new(errbuf, errlen);
    snprintf(errbuf, errlen, "unknown credential_source \"%.64s\"", src);
    return NULL;
}

static struct aws_creds_provider *profile_provider(const char *name, const struct aws_config *cfg,
                                                   int depth, char *errbuf, size_t errlen)
{
    if (depth > 4) {
        snprintf(errbuf, errlen, "profile \"%.64s\": source_profile chain too long or circular",
                 name);
        return NULL;
    }
    struct aws_profile *p = aws_profile_load(name, NULL, NULL);
    if (p == NULL) {
        snprintf(errbuf, errlen,
                 "profile \"%.64s\" not found in the AWS config or credentials "
                 "files",
                 name);
        return NULL;
    }
    struct aws_creds_provider *r = NULL;
    const char *role = aws_profile_get(p, "role_arn");
    const char *source = aws_profile_get(p, "source_profile");
    const char *csrc = aws_profile_get(p, "credential_source");
    const char *wif = aws_profile_get(p, "web_identity_token_file");
    const char *proc = aws_profile_get(p, "credential_process");
    const char *akid = aws_profile_get(p, "aws_access_key_id");
    const char *session = aws_profile_get(p, "role_session_name");
    if (role != NULL && wif != NULL) {
        r = web_identity_new("profile", cfg, role, wif, session);
    } else if (role != NULL && (source != NULL || csrc != NULL)) {
        struct aws_creds_provider *base;
        if (source != NULL && strcmp(source, name) == 0) /* its own static keys */
            base = aws_creds_static("profile", akid, aws_profile_get(p, "aws_secret_access_key"),
                                    aws_profile_get(p, "aws_session_token"));
        else if (source != NULL)
            base = profile_provider(source, cfg, depth + 1, errbuf, errlen);
        else
            base = credential_source(csrc, errbuf, errlen);
        if (base != NULL) {
            const char *d = aws_profile_get(p, "duration_seconds");
            struct assume_provider *a =
                assume_new("profile", cfg, role, aws_profile_get(p, "external_id"), session);
            if (a != NULL) {
                a->owned_signer = base;
                assume_set_signer(a, base);
                a->duration = d ? (unsigned)strtoul(d, NULL, 10) : 0;
                r = &a->base;
            } else {
                aws_creds_destroy(base);
            }
        }
    } else if (role != NULL) {
        snprintf(errbuf, errlen,
                 "profile \"%.64s\" has role_arn without source_profile, "
                 "credential_source or web_identity_token_file",
                 name);
    } else if (proc != NULL) {
        r = process_new(name, proc, cfg->process_timeout);
    } else if (akid != NULL) {
        r = aws_creds_static("profile", akid, aws_profile_get(p, "aws_secret_access_key"),
                             aws_profile_get(p, "aws_session_token"));
        if (r == NULL)
            snprintf(errbuf, errlen,
                     "profile \"%.64s\" has aws_access_key_id without "
                     "aws_secret_access_key",
                     name);
    } else {
        snprintf(errbuf, errlen, "profile \"%.64s\" holds no credentials", name);
    }
    aws_profile_free(p);
    return r;
}

static bool set(const char *var)
{
    const char *v = getenv(var);
    return v != NULL && *v != '\0';
}

struct aws_creds_provider *aws_creds_default_chain(const struct aws_config *cfg, char *errbuf,
                                                   size_t errlen)
{
    errbuf[0] = '\0';
    if (set("AWS_ACCESS_KEY_ID") || set("AWS_SECRET_ACCESS_KEY")) {
        struct aws_creds_provider *p = env_provider();
        if (p == NULL)
            snprintf(errbuf, errlen,
                     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
        return p;
    }
    if (set("AWS_ROLE_ARN") && set("AWS_WEB_IDENTITY_TOKEN_FILE"))
        return web_identity_new("web_identity", cfg, getenv("AWS_ROLE_ARN"),
                                getenv("AWS_WEB_IDENTITY_TOKEN_FILE"),
                                getenv("AWS_ROLE_SESSION_NAME"));
    const char *profile = set("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default";
    struct aws_profile *p = aws_profile_load(profile, NULL, NULL);
    if (p != NULL || set("AWS_PROFILE")) {
        aws_profile_free(p);
        return profile_provider(profile, cfg, 0, errbuf, errlen);
    }
    if (set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        return container_new(errbuf, errlen);
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    if (off != NULL && strcasecmp(off, "true") == 0) {
        snprintf(errbuf, errlen,
                 "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                 "AWS_PROFILE, web identity or container variables (IMDS is disabled)");
        return NULL;
    }
    return imds_new();
}
