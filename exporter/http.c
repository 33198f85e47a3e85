#define _GNU_SOURCE /* asprintf */
#include "exporter/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/clock.h"

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define ALLOWED_METHODS "GET, HEAD"

struct http_server {
    struct MHD_Daemon *daemon;
    struct registry *reg;
    struct http_config cfg;
    char telemetry_path[256];
    atomic_uint scrapes;  /* scrapes being answered now */
    atomic_uint inflight; /* requests of any kind being answered now */
    /* Responses shared by every request. */
    struct MHD_Response *landing, *healthy, *not_found, *not_allowed, *busy, *failed, *unauthorized,
        *forbidden, *auth_busy;
    /* The web configuration: users swap on reload, under web_lock. */
    pthread_mutex_t web_lock;
    struct web_config *web;
    bool require_client_cert; /* fixed at start, like the rest of TLS */
    /* The MHD responses of an exposition, each made on the first request
     * that needs it (gz_of, plain_of: the exposition each was made from, a
     * reference held); guarded by cache_lock. */
    pthread_mutex_t cache_lock;
    struct exposition *gz_of, *plain_of;
    struct MHD_Response *plain, *gz;
    /* Password checks that need bcrypt run on this thread, not on MHD's
     * event threads: a wrong password (tens of milliseconds to a second of
     * CPU) would stall every other connection of that event thread. */
    pthread_mutex_t auth_lock;
    pthread_cond_t auth_cond;
    struct request *auth_head, *auth_tail; /* queued checks, guarded by auth_lock */
    unsigned auth_queued;
    bool auth_stopping, auth_started;
    pthread_t auth_thread;
};

/*
 * *req_cls: one per request, from the first call of the handler to
 * completed(). A scrape is counted against --web.max-requests only once it
 * is authorized (scrape), so unauthenticated clients cannot take the slots.
 * A request whose password needs bcrypt is suspended while the auth thread
 * checks it (auth goes from AUTH_PENDING to AUTH_OK or AUTH_DENIED, written
 * by that thread before it resumes the connection, read by the handler after).
 */
enum auth_state { AUTH_UNCHECKED, AUTH_PENDING, AUTH_OK, AUTH_DENIED };
struct request {
    bool scrape; /* counted in s->scrapes */
    enum auth_state auth;
    /* While queued: what the auth thread needs; it frees them. */
    struct MHD_Connection *conn;
    struct web_config *web; /* a reference */
    char *user, *password;
    struct request *next;
};

/* How many password checks may wait for the auth thread; past that a
 * request gets 503 at once (only clients without a remembered password get
 * there: an authorized scraper's password is remembered after its first
 * check). */
#define AUTH_QUEUE_MAX 32

int http_parse_listen_address(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *colon;
    size_t hl;
    const char *h = s;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
        if (hl == 0)
            return -1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return -1; /* a bare IPv6 address needs brackets */
        hl = (size_t)(colon - s);
    }
    if (hl >= hostlen)
        return -1;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -1;
    unsigned v = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = v;
    return 0;
}

const char *http_check_listen_address(const char *s)
{
    char host[256];
    unsigned port;
    if (http_parse_listen_address(s, host, sizeof host, &port) != 0)
        return "[host]:port, such as :9813, 127.0.0.1:9813 or [::1]:9813";
    return NULL;
}

const char *http_check_path(const char *s)
{
    if (s[0] != '/' || strlen(s) >= 256 || strpbrk(s, " ?#\t\r\n") != NULL)
        return "a path starting with / without spaces, '?' or '#'";
    return NULL;
}

bool http_accepts_gzip(const char *ae)
{
    /* Codings are comma-separated, each with optional ";q=" weight; q=0
     * refuses. "*" accepts gzip unless gzip was refused by name. */
    if (ae == NULL)
        return false;
    int gzip = -1, star = -1; /* -1 unseen, 0 refused, 1 accepted */
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tl = (size_t)(p - tok);
        int accepted = 1;
        while (*p && *p != ',') {
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                /* q=0, q=0.0, q=0.000 refuse; anything else accepts */
                const char *q = p + 2;
                bool zero = *q == '0';
                if (zero) {
                    q++;
                    if (*q == '.')
                        for (q++; *q == '0'; q++)
                            ;
                    zero = *q == '\0' || *q == ',' || *q == ';' || *q == ' ' || *q == '\t';
                }
                accepted = zero ? 0 : 1;
                p = q;
            }
            while (*p && *p != ',' && *p != ';')
                p++;
        }
        if (tl == 4 && strncasecmp(tok, "gzip", 4) == 0)
            gzip = accepted;
        else if (tl == 6 && strncasecmp(tok, "x-gzip", 6) == 0 && gzip < 0)
            gzip = accepted;
        else if (tl == 1 && tok[0] == '*')
            star = accepted;
    }
    return gzip == 1 || (gzip == -1 && star == 1);
}

static struct MHD_Response *static_response(const char *body, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (r != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return r;
}

/* The configured extra headers (http_server_config.headers) on a response.
 * Under web_lock: a SIGHUP may swap (and free) the configuration. */
static void add_web_headers(struct http_server *s, struct MHD_Response *r)
{
    pthread_mutex_lock(&s->web_lock);
    for (size_t i = 0; r != NULL && s->web != NULL && i < s->web->nheaders; i++)
        MHD_add_response_header(r, s->web->headers[i].name, s->web->headers[i].value);
    pthread_mutex_unlock(&s->web_lock);
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned code, struct MHD_Response *r)
{
    return r == NULL ? MHD_NO : MHD_queue_response(c, code, r);
}

/*
 * x's gzip or plain body as one buffer (owned by the response, freed with
 * it). Why one buffer: libmicrohttpd 0.9.75 sends a buffer response's headers
 * and body in one system call and an iovec response's in two, which costs
 * about a quarter of the throughput at these sizes (tests/bench: the minimal
 * server serving the same body both ways). The gzip body is a copy of the
 * segments (some hundreds of KB), made for each new exposition; the plain
 * body is inflated (megabytes), made only when a client asks for plain.
 */
static struct MHD_Response *body_response(const struct exposition *x, bool gzip)
{
    size_t len;
    char *body = exposition_flatten(x, gzip, &len);
    if (body == NULL)
        return NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback_cls(len, body, free, body);
    if (r == NULL) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_METRICS);
    if (gzip)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    return r;
}

/* Replaces *slot with r (MHD frees the old one once no one sends it). */
static void swap_response(struct MHD_Response **slot, struct MHD_Response *r)
{
    if (*slot != NULL)
        MHD_destroy_response(*slot);
    *slot = r;
}

/*
 * The response for x: *slot when it was made from x (*of), else made now and
 * kept in *slot for the requests that follow (*of takes a reference, so its
 * address is not reused while compared). The body is made outside
 * cache_lock: a plain one inflates megabytes. Should another thread have
 * cached a newer exposition meanwhile, this one is answered with a response
 * of its own (*one_off: the caller destroys it after queuing). NULL when out
 * of memory. Called and returns with cache_lock held.
 */
static struct MHD_Response *response_for(struct http_server *s, struct exposition *x, bool gzip,
                                         struct MHD_Response **slot, struct exposition **of,
                                         bool *one_off)
{
    *one_off = false;
    if (*of == x)
        return *slot;
    pthread_mutex_unlock(&s->cache_lock);
    struct MHD_Response *r = body_response(x, gzip);
    if (r != NULL)
        add_web_headers(s, r);
    pthread_mutex_lock(&s->cache_lock);
    if (r == NULL)
        return NULL;
    if (*of == x) { /* made by another thread meanwhile */
        MHD_destroy_response(r);
        return *slot;
    }
    if (*of != NULL && (*of)->built_at > x->built_at) {
        *one_off = true;
        return r;
    }
    swap_response(slot, r);
    exposition_ref(x);
    exposition_release(*of);
    *of = x;
    return r;
}

static enum MHD_Result serve_metrics(struct http_server *s, struct MHD_Connection *c)
{
    const char *ae =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    bool gzip = http_accepts_gzip(ae);
    struct exposition *x = registry_exposition(s->reg);
    if (x == NULL)
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s->failed);
    pthread_mutex_lock(&s->cache_lock);
    bool one_off;
    struct MHD_Response *r = response_for(s, x, gzip, gzip ? &s->gz : &s->plain,
                                          gzip ? &s->gz_of : &s->plain_of, &one_off);
    enum MHD_Result rc = r != NULL ? MHD_queue_response(c, MHD_HTTP_OK, r)
                                   : queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s->failed);
    pthread_mutex_unlock(&s->cache_lock);
    if (one_off)
        MHD_destroy_response(r); /* MHD keeps it until sent */
    exposition_release(x);
    return rc;
}

static enum MHD_Result serve_ready(struct http_server *s, struct MHD_Connection *c)
{
    struct buf pending;
    buf_init(&pending, 64 * 1024);
    bool ready = registry_ready(s->reg, &pending);
    char *body;
    int n = ready ? asprintf(&body, "ready\n")
                  : asprintf(&body, "not ready: waiting for the first run of %s\n",
                             pending.data ? pending.data : "");
    buf_free(&pending);
    if (n < 0)
        return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s->failed);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    enum MHD_Result rc =
        MHD_queue_response(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return rc;
}

/* Whether the TLS client presented a certificate that client_ca_file
 * verifies (RequireAndVerifyClientCert). */
static bool client_cert_verified(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return false;
    gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
    unsigned status = 0, n = 0;
    if (gnutls_certificate_get_peers(tls, &n) == NULL || n == 0)
        return false;
    /* The chain, the times and the purpose: a certificate whose extended key
     * usage does not include clientAuth (a server's, from the same CA) is not
     * a client credential, as in Go's RequireAndVerifyClientCert. */
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    return gnutls_certificate_verify_peers(tls, &purpose, 1, &status) == GNUTLS_E_SUCCESS &&
           status == 0;
}

/* Frees what a queued check held; the password is wiped first. */
static void request_drop_credentials(struct request *rq)
{
    if (rq->password != NULL) {
        memset(rq->password, 0, strlen(rq->password));
        MHD_free(rq->password);
    }
    MHD_free(rq->user);
    web_config_release(rq->web);
    rq->password = rq->user = NULL;
    rq->web = NULL;
}

/* The auth thread: runs queued bcrypt checks one at a time and resumes each
 * request's connection with the answer. When the server stops, what is still
 * queued is refused without a check, so no connection stays suspended. */
static void *auth_main(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->auth_lock);
    for (;;) {
        while (s->auth_head == NULL && !s->auth_stopping)
            pthread_cond_wait(&s->auth_cond, &s->auth_lock);
        struct request *rq = s->auth_head;
        if (rq == NULL)
            break; /* stopping, and nothing left */
        s->auth_head = rq->next;
        if (s->auth_head == NULL)
            s->auth_tail = NULL;
        s->auth_queued--;
        bool stopping = s->auth_stopping;
        pthread_mutex_unlock(&s->auth_lock);
        bool ok = !stopping && web_config_check_user(rq->web, rq->user, rq->password);
        struct MHD_Connection *c = rq->conn;
        request_drop_credentials(rq);
        rq->auth = ok ? AUTH_OK : AUTH_DENIED;
        /* rq belongs to the connection again from here on. */
        MHD_resume_connection(c);
        pthread_mutex_lock(&s->auth_lock);
    }
    pthread_mutex_unlock(&s->auth_lock);
    return NULL;
}

/*
 * Basic auth against the configured users. Returns AUTH_OK when none are
 * configured or the password is remembered, AUTH_DENIED without credentials,
 * AUTH_PENDING when the connection was suspended for the auth thread (the
 * handler is called again once it has answered), or -1 when that thread's
 * queue is full.
 */
static int authorize(struct http_server *s, struct MHD_Connection *c, struct request *rq)
{
    if (rq->auth != AUTH_UNCHECKED)
        return (int)rq->auth; /* answered (or, never seen, still suspended) */
    pthread_mutex_lock(&s->web_lock);
    struct web_config *web = s->web;
    if (web != NULL)
        web_config_ref(web);
    pthread_mutex_unlock(&s->web_lock);
    if (!web_config_has_users(web)) {
        web_config_release(web);
        return rq->auth = AUTH_OK;
    }
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &password);
    rq->user = user;
    rq->password = password;
    rq->web = web;
    if (user == NULL || password == NULL) {
        request_drop_credentials(rq);
        return rq->auth = AUTH_DENIED;
    }
    if (web_config_check_remembered(web, user, password)) {
        request_drop_credentials(rq);
        return rq->auth = AUTH_OK;
    }
    pthread_mutex_lock(&s->auth_lock);
    bool full = s->auth_stopping || s->auth_queued >= AUTH_QUEUE_MAX;
    if (!full) {
        /* Suspended before the auth thread can see it, so its resume always
         * follows the suspension. */
        rq->auth = AUTH_PENDING;
        rq->conn = c;
        rq->next = NULL;
        MHD_suspend_connection(c);
        if (s->auth_tail != NULL)
            s->auth_tail->next = rq;
        else
            s->auth_head = rq;
        s->auth_tail = rq;
        s->auth_queued++;
        pthread_cond_signal(&s->auth_cond);
    }
    pthread_mutex_unlock(&s->auth_lock);
    if (full) {
        request_drop_credentials(rq);
        return -1;
    }
    return AUTH_PENDING;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **req_cls)
{
    struct http_server *s = cls;
    (void)version;
    (void)upload_data;
    struct request *rq = *req_cls;
    if (rq == NULL) {
        /* First call: headers only. Queuing now would make MHD close the
         * connection after the response, so answer on the next call. */
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        *req_cls = rq;
        atomic_fetch_add(&s->inflight, 1);
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0; /* a body is not expected on any path: drop it */
        return MHD_YES;
    }
    bool is_metrics = strcmp(url, s->telemetry_path) == 0;
    bool probe = strcmp(url, "/-/healthy") == 0 || strcmp(url, "/-/ready") == 0;
    if (s->require_client_cert && !client_cert_verified(c))
        return queue(c, MHD_HTTP_FORBIDDEN, s->forbidden);
    if (!(probe && s->cfg.unauthenticated_probes)) {
        int a = authorize(s, c, rq);
        if (a == AUTH_PENDING)
            return MHD_YES; /* suspended: called again with the answer */
        if (a < 0)
            return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE, s->auth_busy);
        if (a == AUTH_DENIED)
            return queue(c, MHD_HTTP_UNAUTHORIZED, s->unauthorized);
    }
    bool known = is_metrics || strcmp(url, "/") == 0 || probe;
    if (!known)
        return queue(c, MHD_HTTP_NOT_FOUND, s->not_found);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, s->not_allowed);
    if (is_metrics) {
        unsigned n = atomic_fetch_add(&s->scrapes, 1) + 1;
        rq->scrape = true;
        if (s->cfg.max_requests > 0 && n > s->cfg.max_requests)
            return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE, s->busy);
        return serve_metrics(s, c);
    }
    if (strcmp(url, "/-/ready") == 0)
        return serve_ready(s, c);
    if (strcmp(url, "/-/healthy") == 0)
        return queue(c, MHD_HTTP_OK, s->healthy);
    return queue(c, MHD_HTTP_OK, s->landing);
}

bool http_reload_web_config(struct http_server *s, struct web_config *web)
{
    web_config_ref(web);
    pthread_mutex_lock(&s->web_lock);
    struct web_config *old = s->web;
    /* TLS cannot change under a running daemon: keep the old TLS material
     * in force and say whether the file asked for something else. */
    bool same =
        old != NULL && (old->cert_pem == NULL) == (web->cert_pem == NULL) &&
        (old->cert_pem == NULL ||
         (strcmp(old->cert_pem, web->cert_pem) == 0 && strcmp(old->key_pem, web->key_pem) == 0)) &&
        strcmp(old->priorities, web->priorities) == 0 &&
        old->require_client_cert == web->require_client_cert && old->nheaders == web->nheaders;
    /* Requests keep using the daemon's TLS material (held by MHD); the new
     * configuration's users and probes apply from now on. */
    s->web = web;
    pthread_mutex_unlock(&s->web_lock);
    /* The old configuration's PEM buffers were copied by MHD at start, so
     * it can go once no request holds it. */
    web_config_release(old);
    return same;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    (void)c;
    (void)toe;
    struct request *rq = *req_cls;
    if (rq == NULL)
        return;
    /* Never called while the request is suspended (MHD does not process a
     * suspended connection), so the auth thread is done with rq. */
    if (rq->scrape)
        atomic_fetch_sub(&s->scrapes, 1);
    atomic_fetch_sub(&s->inflight, 1);
    request_drop_credentials(rq);
    free(rq);
    *req_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("http", "libmicrohttpd", "detail", msg);
}

static char *landing_page(const char *path)
{
    char *body;
    if (asprintf(&body,
                 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>AWS Organization "
                 "Exporter</title></head>\n<body><h1>AWS Organization Exporter</h1>\n"
                 "<p>Watches an AWS Organization for accounts leaving it (MITRE ATT&amp;CK "
                 "T1666).</p>\n<ul>\n<li><a href=\"%s\">Metrics</a></li>\n"
                 "<li><a href=\"/-/healthy\">Health</a></li>\n"
                 "<li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n</body></html>\n",
                 path) < 0)
        return NULL;
    return body;
}

/* The responses every request shares, with the web configuration's headers
 * (s->web set). Returns 0, or -1 when out of memory (http_stop frees what
 * was made). */
static int make_shared_responses(struct http_server *s)
{
    char *landing = landing_page(s->telemetry_path);
    if (landing != NULL) {
        s->landing =
            MHD_create_response_from_buffer(strlen(landing), landing, MHD_RESPMEM_MUST_FREE);
        if (s->landing == NULL)
            free(landing);
        else
            MHD_add_response_header(s->landing, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "text/html; charset=utf-8");
    }
    s->healthy = static_response("healthy\n", "text/plain; charset=utf-8");
    s->not_found = static_response("404 page not found\n", "text/plain; charset=utf-8");
    s->not_allowed = static_response("405 method not allowed\n", "text/plain; charset=utf-8");
    s->busy = static_response("503 too many concurrent scrapes; raise --web.max-requests\n",
                              "text/plain; charset=utf-8");
    s->failed = static_response("500 the metrics could not be composed; see the exporter's log\n",
                                "text/plain; charset=utf-8");
    if (s->landing == NULL || s->healthy == NULL || s->not_found == NULL ||
        s->not_allowed == NULL || s->busy == NULL || s->failed == NULL)
        return -1;
    s->unauthorized = static_response("401 unauthorized\n", "text/plain; charset=utf-8");
    s->forbidden = static_response("403 a client certificate for client authentication, signed "
                                   "by the configured CA, is required\n",
                                   "text/plain; charset=utf-8");
    s->auth_busy =
        static_response("503 too many password checks in progress\n", "text/plain; charset=utf-8");
    if (s->unauthorized == NULL || s->forbidden == NULL || s->auth_busy == NULL)
        return -1;
    /* Shared responses are never changed once serving starts (MHD's queue
     * calls that add headers, such as MHD_queue_basic_auth_fail_response,
     * would add one per request, from several threads). */
    MHD_add_response_header(s->unauthorized, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Basic realm=\"aws-org-exporter\"");
    MHD_add_response_header(s->not_allowed, MHD_HTTP_HEADER_ALLOW, ALLOWED_METHODS);
    MHD_add_response_header(s->busy, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    MHD_add_response_header(s->auth_busy, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    struct MHD_Response *shared[] = {s->landing,      s->healthy,   s->not_found,
                                     s->not_allowed,  s->busy,      s->failed,
                                     s->unauthorized, s->forbidden, s->auth_busy};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
        add_web_headers(s, shared[i]);
    return 0;
}

/*
 * The address to listen on: host and port resolved into *ss, or, when host
 * is "" (":port"), none (*have_addr false: every address). Adds
 * MHD_USE_IPv6 to *flags for an IPv6 address. Returns 0, or -1 with err set.
 */
static int resolve_listen_address(const struct http_config *cfg, const char *host, unsigned port,
                                  struct sockaddr_storage *ss, bool *have_addr, unsigned *flags,
                                  char *err, size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    *have_addr = false;
    if (host[0] != '\0') {
        struct addrinfo hints = {0}, *ai = NULL;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        char ps[8];
        snprintf(ps, sizeof ps, "%u", port);
        int gai = getaddrinfo(host, ps, &hints, &ai);
        if (gai != 0 || ai == NULL) {
            snprintf(err, errlen, "cannot resolve listen address \"%s\": %s", cfg->listen_address,
                     gai_strerror(gai));
            return -1;
        }
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        *have_addr = true;
        if (ss->ss_family == AF_INET6)
            *flags |= MHD_USE_IPv6;
    }
    return 0;
}

/* Starts MHD's daemon into s->daemon (NULL when it cannot listen) with the
 * configuration's limits and, when tls, the web configuration's TLS. */
static void start_daemon(struct http_server *s, const struct http_config *cfg, unsigned port,
                         unsigned flags, bool have_addr, struct sockaddr_storage *ss, bool tls)
{
    unsigned threads = cfg->threads ? cfg->threads : 1;
    for (int attempt = 0; attempt < 2 && s->daemon == NULL; attempt++) {
        unsigned f = flags;
        if (!have_addr && attempt == 0)
            f |= MHD_USE_DUAL_STACK; /* ":port": every IPv6 and IPv4 address */
        struct MHD_OptionItem opts[] = {
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, s},
            {MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL},
            {cfg->max_connections_per_ip ? MHD_OPTION_PER_IP_CONNECTION_LIMIT : MHD_OPTION_END,
             cfg->max_connections_per_ip, NULL},
            {MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, NULL},
            {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
            {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
            {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
            {have_addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, 0, ss},
            {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, tls ? s->web->key_pem : NULL},
            {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls ? s->web->cert_pem : NULL},
            {tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
             tls ? s->web->priorities : NULL},
            {tls && s->web->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
             tls ? s->web->client_ca_pem : NULL},
            {MHD_OPTION_END, 0, NULL},
        };
        /* MHD_OPTION_END in the middle ends the list early: move it last. */
        size_t n = 0;
        struct MHD_OptionItem list[sizeof opts / sizeof opts[0]];
        for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
            if (opts[i].option != MHD_OPTION_END)
                list[n++] = opts[i];
        list[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        s->daemon = MHD_start_daemon(f, (uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_ARRAY,
                                     list, MHD_OPTION_END);
        if (have_addr)
            break;
    }
}

struct http_server *http_start(const struct http_config *cfg, struct registry *reg, char *err,
                               size_t errlen)
{
    char host[256];
    unsigned port;
    if (http_parse_listen_address(cfg->listen_address, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "invalid listen address \"%s\"", cfg->listen_address);
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->reg = reg;
    s->cfg = *cfg;
    snprintf(s->telemetry_path, sizeof s->telemetry_path, "%s", cfg->telemetry_path);
    pthread_mutex_init(&s->cache_lock, NULL);
    pthread_mutex_init(&s->web_lock, NULL);
    pthread_mutex_init(&s->auth_lock, NULL);
    pthread_cond_init(&s->auth_cond, NULL);
    if (cfg->web != NULL) {
        web_config_ref(cfg->web);
        s->web = cfg->web;
    }
    if (make_shared_responses(s) != 0) {
        snprintf(err, errlen, "out of memory");
        http_stop(s);
        return NULL;
    }
    bool tls = s->web != NULL && s->web->cert_pem != NULL;
    s->require_client_cert = tls && s->web->require_client_cert;

    if (pthread_create(&s->auth_thread, NULL, auth_main, s) != 0) {
        snprintf(err, errlen, "cannot start the password-check thread");
        http_stop(s);
        return NULL;
    }
    s->auth_started = true;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (tls)
        flags |= MHD_USE_TLS;
    struct sockaddr_storage ss;
    bool have_addr;
    if (resolve_listen_address(cfg, host, port, &ss, &have_addr, &flags, err, errlen) != 0) {
        http_stop(s);
        return NULL;
    }
    start_daemon(s, cfg, port, flags, have_addr, &ss, tls);
    if (s->daemon == NULL) {
        snprintf(err, errlen,
                 "cannot listen on \"%s\" (address in use, or not an address of this host)",
                 cfg->listen_address);
        http_stop(s);
        return NULL;
    }
    return s;
}

unsigned http_port(const struct http_server *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void http_quiesce(struct http_server *s)
{
    if (s == NULL || s->daemon == NULL)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

bool http_wait_idle(struct http_server *s, double timeout)
{
    double end = clock_mono() + timeout;
    while (atomic_load(&s->inflight) > 0) {
        if (clock_mono() >= end)
            return false;
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    return true;
}

void http_stop(struct http_server *s)
{
    if (s == NULL)
        return;
    /* MHD must not be stopped with a connection suspended: the auth thread
     * first answers (refuses) every queued check and resumes its connection. */
    if (s->auth_started) {
        pthread_mutex_lock(&s->auth_lock);
        s->auth_stopping = true;
        pthread_cond_signal(&s->auth_cond);
        pthread_mutex_unlock(&s->auth_lock);
        pthread_join(s->auth_thread, NULL);
    }
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    struct MHD_Response *all[] = {s->landing,      s->healthy,   s->not_found, s->not_allowed,
                                  s->busy,         s->failed,    s->plain,     s->gz,
                                  s->unauthorized, s->forbidden, s->auth_busy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] != NULL)
            MHD_destroy_response(all[i]);
    exposition_release(s->gz_of);
    exposition_release(s->plain_of);
    pthread_mutex_destroy(&s->cache_lock);
    pthread_mutex_destroy(&s->web_lock);
    pthread_mutex_destroy(&s->auth_lock);
    pthread_cond_destroy(&s->auth_cond);
    web_config_release(s->web);
    free(s);
}
