#define _GNU_SOURCE /* timegm, strcasestr */
#include "collectors/aws/client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/log.h"
#include "collectors/aws/credentials.h"
#include "collectors/aws/ratelimit.h"
#include "collectors/aws/sigv4.h"
#include "collectors/aws/stats.h"

static const struct {
    const char *name;   /* metrics, endpoint host prefix */
    const char *env;    /* AWS_ENDPOINT_URL_<env> */
    const char *target; /* X-Amz-Target prefix (JSON services) */
    const char *content_type;
    double rate; /* client-side requests per second per account and region */
} services[AWS_SERVICE_COUNT] = {
    [AWS_ORGANIZATIONS] = {"organizations", "ORGANIZATIONS", "AWSOrganizationsV20161128",
                           "application/x-amz-json-1.1", 5},
    [AWS_CLOUDTRAIL] = {"cloudtrail", "CLOUDTRAIL",
                        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
                        "application/x-amz-json-1.1", 2},
    [AWS_STS] = {"sts", "STS", NULL, "application/x-www-form-urlencoded; charset=utf-8", 10},
    /* SQS's JSON protocol (JSON 1.0); a long poll is one call per 20 s at most. */
    [AWS_SQS] = {"sqs", "SQS", "AmazonSQS", "application/x-amz-json-1.0", 50},
};

/* Seconds to add to the local clock when signing, learned from AWS's Date. */
static _Atomic double clock_skew;

/* Where one service's calls go, resolved on a client's first call to it
 * (endpoint_get): the environment and the URL do not change under a running
 * client, and parsing them cost every call a URL parse. Allocated in one
 * block, strings included: a member fan-out has a client per account, and
 * each uses one or two services. */
struct endpoint {
    const char *error; /* NULL, or why this service cannot be called (static) */
    const char *url, *region, *host_header, *path; /* into text */
    char text[];
};

struct aws_client {
    struct aws_config cfg;
    char *region, *endpoint_url, *ca_bundle, *account;       /* owned copies */
    struct aws_creds_provider *creds;                        /* borrowed */
    _Atomic(struct endpoint *) endpoints[AWS_SERVICE_COUNT]; /* owned; NULL until used */
};

void aws_config_defaults(struct aws_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *r = getenv("AWS_REGION");
    if (r == NULL || *r == '\0')
        r = getenv("AWS_DEFAULT_REGION");
    cfg->region = r && *r ? r : NULL;
    cfg->max_attempts = 3;
    const char *m = getenv("AWS_MAX_ATTEMPTS");
    if (m != NULL && atoi(m) >= 1 && atoi(m) <= 20)
        cfg->max_attempts = (unsigned)atoi(m);
    cfg->connect_timeout = 5;
    cfg->timeout = 30;
    cfg->max_body = 16u << 20;
    const char *ca = getenv("AWS_CA_BUNDLE");
    cfg->ca_bundle = ca && *ca ? ca : NULL;
    cfg->backoff_base = 1.0;
    cfg->process_timeout = 60;
}

const char *aws_service_name(enum aws_service svc)
{
    return services[svc].name;
}

int aws_endpoint(const struct aws_config *cfg, enum aws_service svc, char *url, size_t urllen,
                 char *signing_region, size_t regionlen)
{
    const char *region = cfg->region ? cfg->region : "us-east-1";
    const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    const char *sign = region;
    if (svc == AWS_ORGANIZATIONS) /* a global service, homed per partition */
        sign = strncmp(region, "cn-", 3) == 0       ? "cn-northwest-1"
               : strncmp(region, "us-gov-", 7) == 0 ? "us-gov-west-1"
                                                    : "us-east-1";
    if ((size_t)snprintf(signing_region, regionlen, "%s", sign) >= regionlen)
        return -1;
    char var[64];
    snprintf(var, sizeof var, "AWS_ENDPOINT_URL_%s", services[svc].env);
    const char *e = cfg->endpoint_url;
    if (e == NULL || *e == '\0')
        e = getenv(var);
    if (e == NULL || *e == '\0')
        e = getenv("AWS_ENDPOINT_URL");
    int n;
    if (e != NULL && *e != '\0')
        n = snprintf(url, urllen, "%s", e);
    else
        n = snprintf(url, urllen, "https://%s.%s.%s", services[svc].name, sign, suffix);
    return n < 0 || (size_t)n >= urllen ? -1 : 0;
}

/* A new endpoint for svc from cfg and the environment (the URL, the region
 * to sign for, the Host header and the path, or why there is none), which
 * the caller owns and frees with free(); NULL when out of memory. */
static struct endpoint *endpoint_resolve(const struct aws_config *cfg, enum aws_service svc)
{
    char url[1024], region[64], host_header[512], path[512];
    const char *error = NULL;
    url[0] = region[0] = host_header[0] = path[0] = '\0';
    CURLU *u = NULL;
    char *host = NULL, *port = NULL, *p = NULL;
    if (aws_endpoint(cfg, svc, url, sizeof url, region, sizeof region) != 0) {
        error = "endpoint URL too long";
    } else if ((u = curl_url()) == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        error = "invalid endpoint URL";
    } else {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &p, 0);
        snprintf(host_header, sizeof host_header, "%s%s%s", host, port ? ":" : "",
                 port ? port : "");
        snprintf(path, sizeof path, "%s", p && *p ? p : "/");
    }
    curl_free(host);
    curl_free(port);
    curl_free(p);
    curl_url_cleanup(u);
    const char *parts[] = {url, region, host_header, path};
    size_t lens[4], total = 0;
    for (size_t i = 0; i < 4; i++)
        total += (lens[i] = strlen(parts[i])) + 1;
    struct endpoint *ep = malloc(sizeof *ep + total);
    if (ep == NULL)
        return NULL;
    ep->error = error;
    const char **fields[] = {&ep->url, &ep->region, &ep->host_header, &ep->path};
    char *t = ep->text;
    for (size_t i = 0; i < 4; i++) {
        memcpy(t, parts[i], lens[i] + 1);
        *fields[i] = t;
        t += lens[i] + 1;
    }
    return ep;
}

/* c's endpoint for svc (borrowed from c), resolved on first use; NULL when
 * out of memory. Threads may race to resolve it: one result is kept. */
static const struct endpoint *endpoint_get(struct aws_client *c, enum aws_service svc)
{
    struct endpoint *ep = atomic_load_explicit(&c->endpoints[svc], memory_order_acquire);
    if (ep != NULL)
        return ep;
    struct endpoint *mine = endpoint_resolve(&c->cfg, svc);
    if (mine == NULL)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(&c->endpoints[svc], &ep, mine, memory_order_acq_rel,
                                                memory_order_acquire))
        return mine;
    free(mine); /* another thread's is in place: ep */
    return ep;
}

struct aws_client *aws_client_create(const struct aws_config *cfg, struct aws_creds_provider *creds,
                                     const char *account)
{
    struct aws_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->cfg = *cfg;
    c->region = cfg->region ? strdup(cfg->region) : NULL;
    c->endpoint_url = cfg->endpoint_url ? strdup(cfg->endpoint_url) : NULL;
    c->ca_bundle = cfg->ca_bundle ? strdup(cfg->ca_bundle) : NULL;
    c->account = strdup(account ? account : "default");
    c->cfg.region = c->region;
    c->cfg.endpoint_url = c->endpoint_url;
    c->cfg.ca_bundle = c->ca_bundle;
    c->creds = creds;
    if (c->account == NULL || (cfg->region && !c->region) ||
        (cfg->endpoint_url && !c->endpoint_url) || (cfg->ca_bundle && !c->ca_bundle)) {
        aws_client_destroy(c);
        return NULL;
    }
    return c;
}

void aws_client_destroy(struct aws_client *c)
{
    if (c == NULL)
        return;
    free(c->region);
    free(c->endpoint_url);
    free(c->ca_bundle);
    free(c->account);
    for (size_t i = 0; i < AWS_SERVICE_COUNT; i++)
        free(atomic_load_explicit(&c->endpoints[i], memory_order_relaxed));
    free(c);
}

/* --- transport --------------------------------------------------------- */

/* One curl handle per thread: connections are kept alive between calls.
 * What every call sets the same way is set once, when the handle is made
 * (see handle_setup); a call sets only what is its own. The handle is
 * cleaned up when its thread exits. */
struct thread_curl {
    CURL *h;
    char *ca_bundle; /* the CURLOPT_CAINFO the handle was set up with, or NULL */
};

static pthread_key_t curl_key;
static pthread_once_t curl_key_once = PTHREAD_ONCE_INIT;

static void curl_key_destroy(void *arg)
{
    struct thread_curl *t = arg;
    curl_easy_cleanup(t->h);
    free(t->ca_bundle);
    free(t);
}

static void curl_key_create(void)
{
    pthread_key_create(&curl_key, curl_key_destroy);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg);
static size_t on_header(char *p, size_t size, size_t n, void *arg);
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow);

/* The options common to every call. TCP keep-alive probes keep an idle
 * connection (a collector between runs) from being dropped silently by a
 * NAT or a load balancer, so the next run does not pay a new handshake. */
static void handle_setup(CURL *h, const char *ca_bundle)
{
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "aws-org-exporter/" VERSION);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 60L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 30L);
    if (ca_bundle != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundle);
}

/*
 * This thread's handle, set up for ca_bundle (NULL: curl's default). A
 * different CA bundle than the last call's (rare: one per configuration)
 * resets the handle, which keeps its connections. Returns NULL when out of
 * memory.
 */
static CURL *thread_handle(const char *ca_bundle)
{
    pthread_once(&curl_key_once, curl_key_create);
    struct thread_curl *t = pthread_getspecific(curl_key);
    if (t == NULL) {
        if ((t = calloc(1, sizeof *t)) == NULL)
            return NULL;
        if ((t->h = curl_easy_init()) == NULL) {
            free(t);
            return NULL;
        }
        handle_setup(t->h, NULL);
        pthread_setspecific(curl_key, t);
    }
    bool same = ca_bundle == NULL ? t->ca_bundle == NULL
                                  : t->ca_bundle != NULL && strcmp(t->ca_bundle, ca_bundle) == 0;
    if (!same) {
        char *copy = ca_bundle ? strdup(ca_bundle) : NULL;
        if (ca_bundle != NULL && copy == NULL)
            return NULL;
        free(t->ca_bundle);
        t->ca_bundle = copy;
        curl_easy_reset(t->h);
        handle_setup(t->h, t->ca_bundle);
    }
    return t->h;
}

struct response {
    struct buf *body;
    const atomic_bool *stopping; /* may be NULL: the transfer is cut when it is set */
    bool too_big;
    char date[64];       /* the Date header, for clock skew */
    char error_type[64]; /* x-amzn-ErrorType */
};

/* Cuts a transfer (a long poll) when the exporter is stopping. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const struct response *r = arg;
    return atomic_load(r->stopping) ? 1 : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    if (buf_append(r->body, p, size * n) != 0) {
        r->too_big = true;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off, cap;
    } wanted[] = {{"date:", offsetof(struct response, date), 64},
                  {"x-amzn-errortype:", offsetof(struct response, error_type), 64}};
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t nl = strlen(wanted[i].name);
        if (len > nl && strncasecmp(p, wanted[i].name, nl) == 0) {
            const char *v = p + nl;
            size_t vl = len - nl;
            while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            if (vl >= wanted[i].cap)
                vl = wanted[i].cap - 1;
            char *dst = (char *)r + wanted[i].off;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
        }
    }
    return len;
}

/*
 * Sends one request. Returns the HTTP status, or 0 on a transport error with
 * err set to a transport class. The body is appended to r->body.
 */
static long transport(const char *method, const char *url, struct curl_slist *headers,
                      const char *body, size_t body_len, double connect_timeout, double timeout,
                      const char *ca_bundle, struct response *r, struct aws_error *err)
{
    CURL *h = thread_handle(ca_bundle);
    if (h == NULL) {
        aws_error_set(err, 0, "ClientError", "cannot create a curl handle");
        return 0;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    /* on_progress is called about once a second while idle */
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, r->stopping != NULL ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    /* Nothing of this call's (on its caller's stack) stays in the handle. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
    if (rc != CURLE_OK) {
        const char *cls = "ConnectionError";
        if (r->too_big)
            cls = "ResponseTooLarge";
        else if (rc == CURLE_ABORTED_BY_CALLBACK)
            cls = "Cancelled";
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            cls = "Timeout";
        else if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
                 rc == CURLE_SSL_CACERT_BADFILE)
            cls = "TLSError";
        else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
            cls = "ConnectionReset";
        aws_error_set(err, 0, cls, curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

long aws_http_plain(const char *method, const char *url, const char *const *headers, double timeout,
                    size_t max_body, struct buf *out, struct aws_error *err)
{
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    list = curl_slist_append(list, "Expect:");
    struct buf body;
    buf_init(&body, max_body);
    struct response r = {.body = &body};
    long status = transport(method, url, list, "", 0, timeout, timeout, NULL, &r, err);
    curl_slist_free_all(list);
    if (status != 0 && body.len > 0)
        buf_append(out, body.data, body.len);
    buf_free(&body);
    return status;
}

/* --- errors and retry classes ------------------------------------------ */

bool aws_is_throttle(const char *code, long status)
{
    static const char *const codes[] = {"Throttling",
                                        "ThrottlingException",
                                        "ThrottledException",
                                        "RequestThrottledException",
                                        "TooManyRequestsException",
                                        "ProvisionedThroughputExceededException",
                                        "TransactionInProgressException",
                                        "RequestLimitExceeded",
                                        "BandwidthLimitExceeded",
                                        "LimitExceededException",
                                        "RequestThrottled",
                                        "SlowDown",
                                        "PriorRequestNotComplete",
                                        "EC2ThrottledException"};
    if (status == 429)
        return true;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

bool aws_is_transient(const char *code, long status)
{
    static const char *const codes[] = {
        "RequestTimeout",   "RequestTimeoutException", "InternalFailure",
        "InternalError",    "ServiceUnavailable",      "ServiceUnavailableException",
        "ConnectionError",  "ConnectionReset",         "Timeout",
        "MalformedResponse"};
    if (status >= 500 && status <= 599)
        return true;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

bool aws_is_expired_token(const char *code)
{
    return strcmp(code, "ExpiredTokenException") == 0 || strcmp(code, "ExpiredToken") == 0 ||
           strcmp(code, "RequestExpired") == 0 || strcmp(code, "InvalidClientTokenId") == 0 ||
           strcmp(code, "UnrecognizedClientException") == 0;
}

static bool is_skew(const struct aws_error *err)
{
    return strcmp(err->code, "RequestTimeTooSkewed") == 0 ||
           strcmp(err->code, "RequestInTheFuture") == 0 ||
           (strcmp(err->code, "InvalidSignatureException") == 0 &&
            strcasestr(err->message, "Signature expired") != NULL) ||
           (strcmp(err->code, "SignatureDoesNotMatch") == 0 &&
            strcasestr(err->message, "Signature expired") != NULL);
}

int aws_xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
    char open[80], close[80];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(xml, open);
    if (a == NULL)
        return -1;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (b == NULL)
        return -1;
    size_t o = 0;
    for (const char *p = a; p < b; p++) {
        char c = *p;
        if (c == '&') {
            static const struct {
                const char *ent;
                char c;
            } ents[] = {
                {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
            size_t i;
            for (i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                size_t l = strlen(ents[i].ent);
                if ((size_t)(b - p) >= l && strncmp(p, ents[i].ent, l) == 0) {
                    c = ents[i].c;
                    p += l - 1;
                    break;
                }
            }
            if (i == sizeof ents / sizeof ents[0] && p[1] == '#') {
                char *end;
                long v = p[2] == 'x' ? strtol(p + 3, &end, 16) : strtol(p + 2, &end, 10);
                if (end < b && *end == ';' && v > 0 && v < 128) {
                    c = (char)v;
                    p = end;
                }
            }
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int aws_parse_time(const char *s, double *out)
{
    struct tm tm = {0};
    int used = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return -1;
    const char *p = s + used;
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
    }
    if (!(strcmp(p, "Z") == 0 || strcmp(p, "+00:00") == 0 || strcmp(p, "UTC") == 0 || *p == '\0'))
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (double)timegm(&tm) + frac;
    return 0;
}

void aws_decode_error(long status, const char *body, size_t len, const char *error_type, bool xml,
                      struct aws_error *err)
{
    char code[64] = "";
    char msg[256] = "";
    if (xml) {
        /* aws_xml_text wants a NUL-terminated document. */
        char *doc = malloc(len + 1);
        if (doc != NULL) {
            memcpy(doc, body ? body : "", len);
            doc[len] = '\0';
            if (aws_xml_text(doc, "Code", code, sizeof code) != 0)
                code[0] = '\0';
            if (aws_xml_text(doc, "Message", msg, sizeof msg) != 0)
                msg[0] = '\0';
            free(doc);
        }
    } else {
        json_t *j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
        const char *type = j ? json_string_value(json_object_get(j, "__type")) : NULL;
        if (type == NULL || *type == '\0')
            type = error_type && *error_type ? error_type : NULL;
        if (type != NULL) {
            const char *hash = strrchr(type, '#');
            snprintf(code, sizeof code, "%s", hash ? hash + 1 : type);
            code[strcspn(code, ":")] = '\0';
        }
        const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
        if (m == NULL && j != NULL)
            m = json_string_value(json_object_get(j, "Message"));
        if (m != NULL)
            snprintf(msg, sizeof msg, "%s", m);
        json_decref(j);
    }
    if (code[0] == '\0')
        snprintf(code, sizeof code, "HTTP%ld", status);
    aws_error_set(err, status, code, msg);
}

/* Sleeps up to d seconds; returns -1 early when stopping. */
static int pause_for(double d, const atomic_bool *stopping)
{
    while (d > 0) {
        if (stopping != NULL && atomic_load(stopping))
            return -1;
        double s = d > 0.05 ? 0.05 : d;
        nanosleep(&(struct timespec){0, (long)(s * 1e9)}, NULL);
        d -= s;
    }
    return 0;
}

static double unit_random(void)
{
    static _Thread_local unsigned seed;
    if (seed == 0)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

/* Learns the clock skew from a Date header ("Fri, 27 Nov 2026 23:05:32 GMT"). */
static void learn_skew(const char *date)
{
    struct tm tm = {0};
    if (strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
        return;
    double server = (double)timegm(&tm);
    atomic_store(&clock_skew, server - (double)time(NULL));
}

/* One call's request: where it goes and what it carries. */
struct request {
    enum aws_service svc;
    const char *svc_name, *operation;
    const char *body; /* borrowed */
    size_t body_len;
    bool sign, xml_errors;
    const struct endpoint *ep; /* the client's, for rq->svc */
    char target[256];          /* X-Amz-Target, empty for the query protocol */
    char key[192];             /* the rate-limit key */
};

/* Fills rq's target and rate-limit key, and points it at its service's
 * endpoint. Returns 0, or -1 with err set. */
static int request_resolve(struct aws_client *c, struct request *rq, struct aws_error *err)
{
    rq->ep = endpoint_get(c, rq->svc);
    if (rq->ep == NULL) {
        aws_error_set(err, 0, "ClientError", "out of memory");
        return -1;
    }
    if (rq->ep->error != NULL) {
        aws_error_set(err, 0, "ConfigError", rq->ep->error);
        return -1;
    }
    rq->target[0] = '\0';
    if (services[rq->svc].target != NULL)
        snprintf(rq->target, sizeof rq->target, "%s.%s", services[rq->svc].target, rq->operation);
    snprintf(rq->key, sizeof rq->key, "%s.%s/%s/%s", rq->svc_name, rq->operation, c->account,
             rq->ep->region);
    return 0;
}

/* Appends "prefix value" to list through a capped buffer (a session token
 * may be long). */
static struct curl_slist *append_header(struct curl_slist *list, const char *prefix,
                                        const char *value, size_t len)
{
    struct buf h;
    buf_init(&h, 1 << 16);
    buf_puts(&h, prefix);
    buf_append(&h, value, len);
    if (!buf_failed(&h))
        list = curl_slist_append(list, h.data);
    buf_free(&h);
    return list;
}

/*
 * The request's headers (a new list the caller frees with
 * curl_slist_free_all), signed with cr when rq->sign. Returns NULL with err
 * set when signing fails.
 */
static struct curl_slist *request_headers(const struct request *rq,
                                          const struct aws_credentials *cr, struct aws_error *err)
{
    struct sigv4_header hs[3];
    size_t nh = 0;
    hs[nh++] = (struct sigv4_header){"Host", rq->ep->host_header};
    hs[nh++] = (struct sigv4_header){"Content-Type", services[rq->svc].content_type};
    if (rq->target[0])
        hs[nh++] = (struct sigv4_header){"X-Amz-Target", rq->target};
    struct curl_slist *list = NULL;
    char line[4096];
    for (size_t i = 0; i < nh; i++) {
        snprintf(line, sizeof line, "%s: %s", hs[i].name, hs[i].value);
        list = curl_slist_append(list, line);
    }
    list = curl_slist_append(list, "Expect:");
    list = curl_slist_append(list, "Accept:");
    if (!rq->sign)
        return list;
    struct sigv4_input in = {
        .method = "POST",
        .path = rq->ep->path,
        .headers = hs,
        .nheaders = nh,
        .body = rq->body,
        .body_len = rq->body_len,
        .access_key = cr->access_key_id,
        .secret_key = cr->secret_access_key,
        .session_token = cr->session_token,
        .region = rq->ep->region,
        .service = rq->svc_name,
        .when = time(NULL) + (time_t)atomic_load(&clock_skew),
        .normalize_path = true,
    };
    struct sigv4_output so;
    memset(&so, 0, sizeof so);
    if (sigv4_sign(&in, &so) != 0) {
        sigv4_output_free(&so);
        curl_slist_free_all(list);
        aws_error_set(err, 0, "ClientError", "cannot sign the request");
        return NULL;
    }
    snprintf(line, sizeof line, "X-Amz-Date: %s", so.amz_date);
    list = curl_slist_append(list, line);
    if (cr->session_token != NULL && cr->session_token[0] != '\0')
        list = append_header(list, "X-Amz-Security-Token: ", cr->session_token,
                             strlen(cr->session_token));
    list = append_header(list, "Authorization: ", so.authorization.data, so.authorization.len);
    sigv4_output_free(&so);
    return list;
}

/* Where a call's retries stand. */
struct retries {
    unsigned attempts, throttles;
    unsigned max_attempts, max_throttles; /* throttles get a larger budget */
    bool refreshed, skew_fixed;           /* each done once per call */
};

/*
 * Whether the failed attempt (HTTP status, err, the response's Date) is
 * retried, and after how long (*delay, seconds): an expired token once after
 * a refresh, a clock skew once after correcting it, throttling and transient
 * errors with full-jitter exponential backoff within their budgets.
 */
static bool should_retry(const struct aws_client *c, const struct request *rq, struct retries *t,
                         long status, const struct aws_error *err, const char *date, double *delay)
{
    *delay = 0;
    if (aws_is_expired_token(err->code) && rq->sign && !t->refreshed) {
        t->refreshed = true;
        t->attempts = 0; /* the retry after a refresh is a fresh start */
        log_info("aws", "credentials expired or were rejected: refreshing them and retrying",
                 "service", rq->svc_name, "operation", rq->operation, "code", err->code);
        return true;
    }
    if (is_skew(err) && !t->skew_fixed && date[0]) {
        t->skew_fixed = true;
        learn_skew(date);
        log_warn("aws", "clock skew: correcting the signing time from the server's Date", "service",
                 rq->svc_name, "date", date);
        return true;
    }
    if (aws_is_throttle(err->code, status)) {
        t->throttles++;
        *delay = unit_random() * fmin(20.0, c->cfg.backoff_base * pow(2, t->throttles - 1));
        return t->throttles < t->max_throttles;
    }
    if (aws_is_transient(err->code, status)) {
        *delay = unit_random() * fmin(20.0, c->cfg.backoff_base * pow(2, t->attempts - 1));
        return t->attempts < t->max_attempts;
    }
    return false;
}

/* The credentials of one attempt into cr (cleared by the caller), fetched
 * afresh when force. Returns 0, or -1 with err set and counted. */
static int attempt_credentials(const struct aws_client *c, const struct request *rq, bool force,
                               struct aws_credentials *cr, struct aws_error *err)
{
    if (!rq->sign)
        return 0;
    if (c->creds != NULL && aws_creds_get(c->creds, force, cr, err) == 0)
        return 0;
    if (c->creds == NULL)
        aws_error_set(err, 0, "CredentialsError", "no credentials");
    aws_stats_request(rq->svc_name, rq->operation, "CredentialsError");
    return -1;
}

/*
 * One attempt: signs, sends, and on a 2xx answer appends the body to out.
 * Returns the HTTP status (0: no answer; -1: not sent, err set), with the
 * response's Date in r->date.
 */
static long attempt(const struct aws_client *c, const struct request *rq, bool force_refresh,
                    struct response *r, struct buf *out, struct aws_error *err)
{
    struct aws_credentials cr = {0};
    if (attempt_credentials(c, rq, force_refresh, &cr, err) != 0)
        return -1;
    struct curl_slist *list = request_headers(rq, &cr, err);
    aws_credentials_clear(&cr);
    if (list == NULL)
        return -1;
    struct buf resp;
    buf_init(&resp, c->cfg.max_body);
    r->body = &resp;
    long status = transport("POST", rq->ep->url, list, rq->body, rq->body_len,
                            c->cfg.connect_timeout, c->cfg.timeout, c->cfg.ca_bundle, r, err);
    curl_slist_free_all(list);
    if (status >= 200 && status < 300) {
        if (resp.len > 0)
            buf_append(out, resp.data, resp.len);
    } else if (status != 0) {
        aws_decode_error(status, resp.data, resp.len, r->error_type, rq->xml_errors, err);
    }
    buf_free(&resp);
    r->body = NULL;
    return status;
}

/*
 * The shared request loop of both protocols: paces, signs, sends and retries
 * rq (see client.h). On success the body is in out; every failed attempt is
 * counted, a success is counted by the caller once it knows the body is
 * usable.
 */
static int call(struct aws_client *c, struct request *rq, struct buf *out, struct aws_error *err)
{
    rq->svc_name = services[rq->svc].name;
    if (request_resolve(c, rq, err) != 0)
        return -1;
    struct retries t = {0};
    t.max_attempts = c->cfg.max_attempts ? c->cfg.max_attempts : 3;
    t.max_throttles = t.max_attempts * 3;
    for (;;) {
        if (ratelimit_wait(rq->key, services[rq->svc].rate, c->cfg.stopping) != 0) {
            aws_error_set(err, 0, "Cancelled", "the exporter is stopping");
            return -1;
        }
        struct response r = {.stopping = c->cfg.stopping};
        long status = attempt(c, rq, t.refreshed && t.attempts == 0, &r, out, err);
        if (status < 0)
            return -1;
        t.attempts++;
        if (status >= 200 && status < 300) {
            if (!buf_failed(out))
                return 0;
            aws_error_set(err, status, "ResponseTooLarge", "response over the size cap");
            aws_stats_request(rq->svc_name, rq->operation, "ResponseTooLarge");
            return -1;
        }
        aws_stats_request(rq->svc_name, rq->operation, err->code);
        double delay;
        if (!should_retry(c, rq, &t, status, err, r.date, &delay))
            return -1;
        aws_stats_retry(rq->svc_name, rq->operation);
        log_debug("aws", "retrying", "service", rq->svc_name, "operation", rq->operation, "code",
                  err->code);
        if (pause_for(delay, c->cfg.stopping) != 0) {
            aws_error_set(err, 0, "Cancelled", "the exporter is stopping");
            return -1;
        }
    }
}

int aws_json_call(struct aws_client *c, enum aws_service svc, const char *operation,
                  json_t *request, json_t **response, struct aws_error *err)
{
    *response = NULL;
    char *body = request ? json_dumps(request, JSON_COMPACT) : strdup("{}");
    if (body == NULL) {
        aws_error_set(err, 0, "ClientError", "cannot encode the request");
        return -1;
    }
    struct buf out;
    buf_init(&out, c->cfg.max_body);
    struct request rq = {.svc = svc,
                         .operation = operation,
                         .body = body,
                         .body_len = strlen(body),
                         .sign = true,
                         .xml_errors = false};
    int rc = call(c, &rq, &out, err);
    free(body);
    if (rc == 0) {
        json_error_t jerr;
        /* The tree's thousands of small blocks come from one or two chunks
         * when the process allocates jansson's memory through lib/arena. */
        json_malloc_t jm;
        json_free_t jf;
        json_get_alloc_funcs(&jm, &jf);
        bool arena = jm == arena_malloc;
        if (arena)
            arena_begin(ARENA_CAP_DEFAULT);
        json_t *j = json_loadb(out.data ? out.data : "", out.len, 0, &jerr);
        if (arena)
            arena_end();
        if (j == NULL || !json_is_object(j)) {
            json_decref(j);
            aws_error_set(err, 200, "MalformedResponse", "the response is not a JSON object");
            aws_stats_request(services[svc].name, operation, "MalformedResponse");
            rc = -1;
        } else {
            aws_stats_request(services[svc].name, operation, "OK");
            *response = j;
        }
    }
    buf_free(&out);
    return rc;
}

int aws_query_call(struct aws_client *c, const char *action, const char *const *params, bool sign,
                   struct buf *out, struct aws_error *err)
{
    struct buf body;
    buf_init(&body, 1 << 20);
    CURL *esc = curl_easy_init();
    for (size_t i = 0; params[i] != NULL && params[i + 1] != NULL; i += 2) {
        char *k = curl_easy_escape(esc, params[i], 0);
        char *v = curl_easy_escape(esc, params[i + 1], 0);
        if (i > 0)
            buf_putc(&body, '&');
        buf_printf(&body, "%s=%s", k ? k : "", v ? v : "");
        curl_free(k);
        curl_free(v);
    }
    curl_easy_cleanup(esc);
    if (buf_failed(&body)) {
        aws_error_set(err, 0, "ClientError", "request too large");
        return -1;
    }
    struct request rq = {.svc = AWS_STS,
                         .operation = action,
                         .body = body.data,
                         .body_len = body.len,
                         .sign = sign,
                         .xml_errors = true};
    int rc = call(c, &rq, out, err);
    buf_free(&body);
    if (rc == 0)
        aws_stats_request(services[AWS_STS].name, action, "OK");
    return rc;
}
