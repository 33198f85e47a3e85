#define _GNU_SOURCE /* crypt_r */
#include "exporter/webconfig.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"

#define FILE_MAX (1u << 20) /* PEM files and the config itself */
#define SHA256_LEN 32

struct ctx {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    err_vset(msg, sizeof msg, 0, fmt, ap);
    va_end(ap);
    err_set(c->err, c->errlen, "%s:%lu: %s", c->path,
            n ? (unsigned long)n->start_mark.line + 1 : 1UL, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Reads a whole regular file (at most FILE_MAX bytes) into a new string the
 * caller frees; NULL with the reason in why. A device or FIFO (which may
 * never end) is refused rather than read. */
static char *read_file(const char *path, char *why, size_t whylen)
{
    struct buf b;
    buf_init(&b, FILE_MAX);
    if (buf_read_file(&b, path) != 0) {
        int e = errno;
        buf_free(&b);
        if (e == EFBIG)
            snprintf(why, whylen, "%s is larger than 1 MiB", path);
        else if (e == EINVAL)
            snprintf(why, whylen, "cannot read %s: not a regular file", path);
        else
            snprintf(why, whylen, "cannot read %s: %s", path, strerror(e));
        return NULL;
    }
    size_t len;
    char *s = buf_steal(&b, &len);
    if (s == NULL)
        snprintf(why, whylen, "cannot read %s: out of memory", path);
    return s;
}

/* A file named by a key, relative paths from the config file's folder. */
static int load_named_file(struct ctx *c, const yaml_node_t *v, const char *key, char **out)
{
    const char *name = scalar(v);
    if (name == NULL || *name == '\0')
        return fail(c, v, "%s must be a file name", key);
    char full[4096];
    const char *slash = strrchr(c->path, '/');
    if (name[0] != '/' && slash != NULL)
        snprintf(full, sizeof full, "%.*s/%s", (int)(slash - c->path), c->path, name);
    else
        snprintf(full, sizeof full, "%s", name);
    char why[300];
    *out = read_file(full, why, sizeof why);
    if (*out == NULL)
        return fail(c, v, "%s", why);
    return 0;
}

static int parse_bool(struct ctx *c, const yaml_node_t *v, const char *key, bool *out)
{
    const char *s = scalar(v);
    if (s != NULL && strcmp(s, "true") == 0)
        *out = true;
    else if (s != NULL && strcmp(s, "false") == 0)
        *out = false;
    else
        return fail(c, v, "%s must be true or false", key);
    return 0;
}

static int tls_version(struct ctx *c, const yaml_node_t *v, const char *key, int *out)
{
    static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
    const char *s = scalar(v);
    for (int i = 0; s != NULL && i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return fail(c, v, "%s must be TLS10, TLS11, TLS12 or TLS13", key);
}

static int parse_tls(struct ctx *c, const yaml_node_t *m, struct web_config *w)
{
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "%s must be a mapping", "tls_server_config");
    int min = 2, max = 3; /* TLS 1.2 and 1.3 unless told otherwise */
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k);
        int rc;
        if (key == NULL)
            return fail(c, k, "%s", "keys must be strings");
        if (strcmp(key, "cert_file") == 0)
            rc = load_named_file(c, v, key, &w->cert_pem);
        else if (strcmp(key, "key_file") == 0)
            rc = load_named_file(c, v, key, &w->key_pem);
        else if (strcmp(key, "client_ca_file") == 0)
            rc = load_named_file(c, v, key, &w->client_ca_pem);
        else if (strcmp(key, "client_auth_type") == 0) {
            const char *t = scalar(v);
            rc = 0;
            if (t != NULL && strcmp(t, "RequireAndVerifyClientCert") == 0)
                w->require_client_cert = true;
            else if (t == NULL || strcmp(t, "NoClientCert") != 0)
                rc = fail(c, v,
                          "client_auth_type %s is not supported: use NoClientCert or "
                          "RequireAndVerifyClientCert",
                          t ? t : "(not a string)");
        } else if (strcmp(key, "min_version") == 0)
            rc = tls_version(c, v, key, &min);
        else if (strcmp(key, "max_version") == 0)
            rc = tls_version(c, v, key, &max);
        else if (strcmp(key, "prefer_server_cipher_suites") == 0) {
            bool b;
            rc = parse_bool(c, v, key, &b);
        } else if (strcmp(key, "cipher_suites") == 0 || strcmp(key, "curve_preferences") == 0)
            rc = fail(c, k, "%s is not supported by this exporter (GnuTLS): set min_version", key);
        else
            rc = fail(c, k, "unknown key tls_server_config.%s", key);
        if (rc != 0)
            return -1;
    }
    if ((w->cert_pem == NULL) != (w->key_pem == NULL))
        return fail(c, m, "%s", "tls_server_config needs both cert_file and key_file");
    if (w->require_client_cert && w->client_ca_pem == NULL)
        return fail(c, m, "%s", "RequireAndVerifyClientCert needs client_ca_file");
    if (min > max)
        return fail(c, m, "%s", "min_version is above max_version");
    static const char *const vers[] = {"+VERS-TLS1.0", "+VERS-TLS1.1", "+VERS-TLS1.2",
                                       "+VERS-TLS1.3"};
    size_t n = (size_t)snprintf(w->priorities, sizeof w->priorities, "NORMAL:-VERS-ALL");
    for (int i = min; i <= max; i++)
        n += (size_t)snprintf(w->priorities + n, sizeof w->priorities - n, ":%s", vers[i]);
    return 0;
}

static int parse_http(struct ctx *c, const yaml_node_t *m, struct web_config *w)
{
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "%s must be a mapping", "http_server_config");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k);
        if (key != NULL && strcmp(key, "http2") == 0) {
            bool b = false;
            if (parse_bool(c, v, key, &b) != 0)
                return -1;
            if (b)
                return fail(c, v, "%s", "http2: true is not supported (HTTP/1.1 only)");
        } else if (key != NULL && strcmp(key, "headers") == 0) {
            if (v->type != YAML_MAPPING_NODE)
                return fail(c, v, "%s must be a mapping of header names to values", key);
            for (yaml_node_pair_t *h = v->data.mapping.pairs.start; h < v->data.mapping.pairs.top;
                 h++) {
                const char *hn = scalar(yaml_document_get_node(c->doc, h->key));
                const char *hv = scalar(yaml_document_get_node(c->doc, h->value));
                if (hn == NULL || hv == NULL || strpbrk(hn, ": \r\n") || strpbrk(hv, "\r\n") ||
                    *hn == '\0')
                    return fail(c, v, "%s: names and values must be one-line strings", key);
                struct web_header *nh = realloc(w->headers, (w->nheaders + 1) * sizeof *nh);
                if (nh == NULL)
                    return fail(c, v, "%s", "out of memory");
                w->headers = nh;
                w->headers[w->nheaders].name = strdup(hn);
                w->headers[w->nheaders].value = strdup(hv);
                w->nheaders++;
            }
        } else {
            return fail(c, k, "unknown key http_server_config.%s", key ? key : "(not a string)");
        }
    }
    return 0;
}

/*
 * Every wrong password costs one full bcrypt run (only successes are cached),
 * so the cost factor bounds what an unauthenticated client can burn: cost 14
 * is about 1 s of CPU per attempt on this machine kind, 10 (the htpasswd and
 * Go default) about 80 ms.
 */
#define BCRYPT_MAX_COST 14

/* The cost of a well-formed bcrypt hash ("$2y$NN$" + 53 characters of bcrypt's
 * base64 alphabet), or -1 when it is not one. */
static int bcrypt_cost(const char *h)
{
    if (h == NULL || strlen(h) != 60 ||
        !(strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2y$", 4) == 0))
        return -1;
    if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
        return -1;
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return -1;
    for (const char *p = h + 7; *p != '\0'; p++)
        if (!(*p == '.' || *p == '/' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9')))
            return -1;
    return cost;
}

static int parse_users(struct ctx *c, const yaml_node_t *m, struct web_config *w)
{
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "%s must be a mapping of user names to bcrypt hashes",
                    "basic_auth_users");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *user = scalar(k), *hash = scalar(v);
        if (user == NULL || *user == '\0' || strchr(user, ':') != NULL)
            return fail(c, k, "%s", "basic_auth_users: a user name must be a string without ':'");
        int cost = bcrypt_cost(hash);
        if (cost < 0)
            return fail(c, v, "basic_auth_users.%s must be a bcrypt hash ($2y$...)", user);
        if (cost > BCRYPT_MAX_COST)
            return fail(c, v,
                        "basic_auth_users.%s: bcrypt cost %d is above %d; every wrong password "
                        "would cost seconds of CPU (use htpasswd -B -C 10)",
                        user, cost, BCRYPT_MAX_COST);
        struct web_user *nu = realloc(w->users, (w->nusers + 1) * sizeof *nu);
        if (nu == NULL)
            return fail(c, v, "%s", "out of memory");
        w->users = nu;
        w->users[w->nusers].name = strdup(user);
        w->users[w->nusers].hash = strdup(hash);
        w->nusers++;
        /* The salt and digest are all zero bits: canonical, so bcrypt runs
         * in full, and no password hashes to it. */
        int have = w->dummy_hash[0] ? bcrypt_cost(w->dummy_hash) : 0;
        if (cost > have)
            snprintf(w->dummy_hash, sizeof w->dummy_hash, "$2b$%02d$%.53s", cost,
                     "....................................................."
                     "....................................................");
    }
    return 0;
}

struct web_config *web_config_load(const char *path, char *err, size_t errlen)
{
    struct ctx c = {path, NULL, err, errlen};
    char why[300];
    char *text = read_file(path, why, sizeof why);
    if (text == NULL) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    struct web_config *w = calloc(1, sizeof *w);
    bool loaded = false;
    int rc = -1;
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
    } else if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: not YAML: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "parse error");
    } else {
        loaded = true;
        c.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        rc = 0;
        if (root != NULL && root->type != YAML_MAPPING_NODE)
            rc = fail(&c, root, "%s", "the file must be a mapping");
        for (yaml_node_pair_t *p = root && rc == 0 ? root->data.mapping.pairs.start : NULL;
             p != NULL && p < root->data.mapping.pairs.top && rc == 0; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            yaml_node_t *v = yaml_document_get_node(&doc, p->value);
            const char *key = scalar(k);
            if (key != NULL && strcmp(key, "tls_server_config") == 0)
                rc = parse_tls(&c, v, w);
            else if (key != NULL && strcmp(key, "http_server_config") == 0)
                rc = parse_http(&c, v, w);
            else if (key != NULL && strcmp(key, "basic_auth_users") == 0)
                rc = parse_users(&c, v, w);
            else
                rc = fail(&c, k, "unknown key %s", key ? key : "(not a string)");
        }
    }
    if (loaded)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(text);
    if (w != NULL && rc != 0) {
        atomic_init(&w->refs, 1);
        web_config_release(w);
        return NULL;
    }
    if (w != NULL)
        atomic_init(&w->refs, 1);
    return w;
}

void web_config_ref(struct web_config *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void web_config_release(struct web_config *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free(c->cert_pem);
    if (c->key_pem != NULL) {
        explicit_bzero(c->key_pem, strlen(c->key_pem));
        free(c->key_pem);
    }
    free(c->client_ca_pem);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->headers[i].name);
        free(c->headers[i].value);
    }
    free(c->headers);
    for (size_t i = 0; i < c->nusers; i++) {
        free(c->users[i].name);
        free(c->users[i].hash);
    }
    free(c->users);
    free(c);
}

/* Remembered successful checks: SHA-256(hash \0 user \0 password) -> until. */
#define AUTH_CACHE 64
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char key[SHA256_LEN];
    double until;
} cache[AUTH_CACHE];
static unsigned cache_next;

/* The configured user of that name, or NULL. */
static const struct web_user *find_user(const struct web_config *c, const char *user)
{
    const struct web_user *u = NULL;
    for (size_t i = 0; i < c->nusers; i++)
        if (strcmp(c->users[i].name, user) == 0)
            u = &c->users[i];
    return u;
}

/* The cache key of a check: SHA-256(hash \0 user \0 password). The hash is
 * part of it, so a changed hash invalidates what was remembered. */
static bool cache_key(const struct web_user *u, const char *password, unsigned char key[SHA256_LEN])
{
    struct buf kb;
    buf_init(&kb, 64 * 1024);
    buf_append(&kb, u->hash, strlen(u->hash) + 1);
    buf_append(&kb, u->name, strlen(u->name) + 1);
    buf_puts(&kb, password);
    bool ok = !buf_failed(&kb);
    if (ok)
        ok = gnutls_hash_fast(GNUTLS_DIG_SHA256, kb.data, kb.len, key) == 0;
    if (kb.data != NULL)
        explicit_bzero(kb.data, kb.len);
    buf_free(&kb);
    return ok;
}

bool web_config_check_remembered(const struct web_config *c, const char *user, const char *password)
{
    if (c == NULL || user == NULL || password == NULL)
        return false;
    const struct web_user *u = find_user(c, user);
    unsigned char key[SHA256_LEN];
    if (u == NULL || !cache_key(u, password, key))
        return false;
    double now = clock_mono();
    bool hit = false;
    pthread_mutex_lock(&cache_lock);
    for (unsigned i = 0; i < AUTH_CACHE && !hit; i++) {
        if (cache[i].until > now && gnutls_memcmp(cache[i].key, key, sizeof key) == 0) {
            cache[i].until = now + 60;
            hit = true;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    explicit_bzero(key, sizeof key);
    return hit;
}

bool web_config_check_user(const struct web_config *c, const char *user, const char *password)
{
    if (c == NULL || user == NULL || password == NULL || c->nusers == 0)
        return false;
    if (web_config_check_remembered(c, user, password))
        return true;
    const struct web_user *u = find_user(c, user);
    const char *hash = u != NULL ? u->hash : c->dummy_hash;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (cd == NULL)
        return false;
    const char *out = crypt_r(password, hash, cd);
    bool ok = u != NULL && out != NULL && strlen(out) == strlen(hash) &&
              gnutls_memcmp(out, hash, strlen(hash)) == 0;
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    unsigned char key[SHA256_LEN];
    if (ok && cache_key(u, password, key)) {
        pthread_mutex_lock(&cache_lock);
        memcpy(cache[cache_next % AUTH_CACHE].key, key, sizeof key);
        cache[cache_next % AUTH_CACHE].until = clock_mono() + 60;
        cache_next++;
        pthread_mutex_unlock(&cache_lock);
        explicit_bzero(key, sizeof key);
    }
    return ok;
}
