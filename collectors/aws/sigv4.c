#define _DEFAULT_SOURCE /* explicit_bzero */
#include "collectors/aws/sigv4.h"

#include <ctype.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIGV4_MAX (1u << 20) /* canonical request and friends */

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

#define SHA256_LEN 32

/*
 * SHA-256 and HMAC-SHA256 from GnuTLS (nettle underneath): the TLS library
 * libmicrohttpd and libcurl already load, so the process maps no second
 * crypto library (OpenSSL's libcrypto alone was 3 MiB of resident pages).
 * The one-shot calls look nothing up: a request's few hundred bytes cost
 * the hashing only.
 */
static int sha256(const void *p, size_t n, unsigned char md[SHA256_LEN])
{
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, md) == 0 ? 0 : -1;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[SHA256_LEN] = {0};
    sha256(p, n, md);
    hex(md, sizeof md, out);
}

/* HMAC-SHA256 of msg into out; 0, or -1 when GnuTLS could not compute it. */
static int hmac(const unsigned char *key, size_t keylen, const char *msg, size_t n,
                unsigned char out[32])
{
    return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, msg, n, out) == 0 ? 0 : -1;
}

/*
 * The signing key changes only with the secret, the date, the region and the
 * service: each thread keeps its last one. The cache holds a digest of the
 * secret, never the secret, and is wiped when replaced.
 */
struct key_cache {
    unsigned char secret_digest[SHA256_LEN];
    char date[9], region[64], service[32];
    unsigned char key[32];
    bool valid;
};
static _Thread_local struct key_cache key_cache;

static int signing_key(const char *secret, const char *date, const char *region,
                       const char *service, unsigned char k[32])
{
    size_t sl = strlen(secret);
    unsigned char sd[SHA256_LEN];
    if (sha256(secret, sl, sd) != 0)
        return -1;
    struct key_cache *kc = &key_cache;
    if (kc->valid && gnutls_memcmp(kc->secret_digest, sd, sizeof sd) == 0 &&
        strcmp(kc->date, date) == 0 && strcmp(kc->region, region) == 0 &&
        strcmp(kc->service, service) == 0) {
        memcpy(k, kc->key, 32);
        return 0;
    }
    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
    unsigned char *k0 = malloc(sl + 4);
    if (k0 == NULL)
        return -1;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl);
    int rc = hmac(k0, sl + 4, date, 8, k);
    explicit_bzero(k0, sl + 4);
    free(k0);
    if (rc != 0 || hmac(k, 32, region, strlen(region), k) != 0 ||
        hmac(k, 32, service, strlen(service), k) != 0 || hmac(k, 32, "aws4_request", 12, k) != 0) {
        explicit_bzero(k, 32);
        explicit_bzero(sd, sizeof sd);
        return -1; /* nothing cached: the next request tries again */
    }
    explicit_bzero(kc, sizeof *kc);
    if (strlen(region) < sizeof kc->region && strlen(service) < sizeof kc->service &&
        strlen(date) < sizeof kc->date) {
        memcpy(kc->secret_digest, sd, sizeof sd);
        strcpy(kc->date, date);
        strcpy(kc->region, region);
        strcpy(kc->service, service);
        memcpy(kc->key, k, 32);
        kc->valid = true;
    }
    explicit_bzero(sd, sizeof sd);
    return 0;
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 3986 encoding of n bytes; '/' kept when keep_slash. */
static void uri_encode(struct buf *b, const char *s, size_t n, bool keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/'))
            buf_putc(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes n bytes into b (malformed escapes are kept as they are). */
static void uri_decode(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            buf_putc(b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            buf_putc(b, s[i]);
        }
    }
}

/* RFC 3986 5.2.4 dot-segment removal, plus collapsing repeated slashes. */
static void normalize_path(struct buf *out, const char *path)
{
    /* Segments are kept as offsets into out; ".." pops the last one. */
    size_t starts[256];
    size_t depth = 0;
    bool trailing = false;
    buf_putc(out, '/');
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        trailing = *p == '/' || len == 0 || (len == 1 && seg[0] == '.') ||
                   (len == 2 && seg[0] == '.' && seg[1] == '.');
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (depth > 0)
                out->len = starts[--depth];
            if (out->data != NULL)
                out->data[out->len] = '\0';
            continue;
        }
        if (depth == sizeof starts / sizeof starts[0]) {
            out->failed = true;
            return;
        }
        starts[depth++] = out->len;
        if (out->len > 1)
            buf_putc(out, '/');
        buf_append(out, seg, len);
    }
    if (trailing && out->len > 1)
        buf_putc(out, '/');
}

struct param {
    char *key, *value; /* encoded, owned by the params buffer */
};

static int cmp_param(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Writes the canonical query: each key and value decoded, re-encoded, sorted. */
static int canonical_query(struct buf *b, const char *q)
{
    if (q == NULL || *q == '\0')
        return 0;
    size_t n = 1;
    for (const char *p = q; *p; p++)
        n += *p == '&';
    struct param *v = calloc(n, sizeof *v);
    struct buf store;
    buf_init(&store, SIGV4_MAX);
    size_t count = 0;
    /* First pass: encode into store with NULs; record offsets. */
    size_t *offs = calloc(2 * n, sizeof *offs);
    if (v == NULL || offs == NULL) {
        free(v);
        free(offs);
        return -1;
    }
    for (const char *p = q; *p;) {
        const char *end = strchr(p, '&');
        if (end == NULL)
            end = p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *kend = eq ? eq : end;
            struct buf tmp;
            buf_init(&tmp, SIGV4_MAX);
            uri_decode(&tmp, p, (size_t)(kend - p));
            offs[2 * count] = store.len;
            uri_encode(&store, tmp.data ? tmp.data : "", tmp.len, false);
            buf_putc(&store, '\0');
            buf_reset(&tmp);
            if (eq != NULL)
                uri_decode(&tmp, eq + 1, (size_t)(end - eq - 1));
            offs[2 * count + 1] = store.len;
            uri_encode(&store, tmp.data ? tmp.data : "", tmp.len, false);
            buf_putc(&store, '\0');
            buf_free(&tmp);
            count++;
        }
        p = *end ? end + 1 : end;
    }
    int rc = buf_failed(&store) ? -1 : 0;
    if (rc == 0) {
        for (size_t i = 0; i < count; i++)
            v[i] = (struct param){store.data + offs[2 * i], store.data + offs[2 * i + 1]};
        qsort(v, count, sizeof *v, cmp_param);
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                buf_putc(b, '&');
            buf_puts(b, v[i].key);
            buf_putc(b, '=');
            buf_puts(b, v[i].value);
        }
    }
    free(v);
    free(offs);
    buf_free(&store);
    return rc;
}

struct hdr {
    char *name; /* lower-cased, owned */
    struct buf value;
    size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* Appends v trimmed, with runs of whitespace collapsed to one space. */
static void put_trimmed(struct buf *b, const char *v)
{
    bool space = false, any = false;
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            space = true;
            continue;
        }
        if (space && any)
            buf_putc(b, ' ');
        buf_putc(b, *p);
        space = false;
        any = true;
    }
}

/*
 * Merges the caller's headers and the signer's (X-Amz-Date, the session
 * token, the body's hash when asked) into h (room for in->nheaders + 3):
 * names lower-cased (owned), repeated names joined with ',', sorted by name.
 * Sets *nh. Returns 0, or -1 out of memory (what was merged stays in h).
 */
static int merge_headers(const struct sigv4_input *in, const struct sigv4_output *out,
                         struct hdr *h, size_t *nh)
{
    struct sigv4_header extra[3];
    size_t nextra = 0;
    extra[nextra++] = (struct sigv4_header){"x-amz-date", out->amz_date};
    if (in->session_token != NULL && in->session_token[0] != '\0')
        extra[nextra++] = (struct sigv4_header){"x-amz-security-token", in->session_token};
    if (in->sign_body)
        extra[nextra++] = (struct sigv4_header){"x-amz-content-sha256", out->content_sha256};
    int rc = 0;
    *nh = 0;
    for (size_t i = 0; i < in->nheaders + nextra; i++) {
        const struct sigv4_header *src =
            i < in->nheaders ? &in->headers[i] : &extra[i - in->nheaders];
        char *name = strdup(src->name);
        if (name == NULL) {
            rc = -1;
            break;
        }
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        size_t j;
        for (j = 0; j < *nh && strcmp(h[j].name, name) != 0; j++)
            ;
        if (j < *nh) { /* a repeated header: values joined with ',' */
            free(name);
            buf_putc(&h[j].value, ',');
        } else {
            h[j].name = name;
            h[j].order = j;
            buf_init(&h[j].value, SIGV4_MAX);
            (*nh)++;
        }
        put_trimmed(&h[j].value, src->value ? src->value : "");
    }
    qsort(h, *nh, sizeof *h, cmp_hdr);
    return rc;
}

/* Appends the canonical URI: the path, normalised unless asked not to, and
 * encoded. Returns 0, or -1 past the cap. */
static int canonical_uri(struct buf *c, const struct sigv4_input *in)
{
    const char *path = in->path && *in->path ? in->path : "/";
    if (!in->normalize_path) {
        uri_encode(c, path, strlen(path), true);
        return 0;
    }
    struct buf norm;
    buf_init(&norm, SIGV4_MAX);
    normalize_path(&norm, path);
    int rc = buf_failed(&norm) ? -1 : 0;
    if (rc == 0)
        uri_encode(c, norm.data, norm.len, true);
    buf_free(&norm);
    return rc;
}

/*
 * Writes the canonical request into out->canonical_request and the signed
 * header list into signed_headers, from the merged headers h. Returns 0, or
 * -1 when an input is malformed or too big.
 */
static int canonical_request(const struct sigv4_input *in, struct sigv4_output *out,
                             const struct hdr *h, size_t nh, struct buf *signed_headers)
{
    struct buf *c = &out->canonical_request;
    int rc = 0;
    buf_puts(c, in->method);
    buf_putc(c, '\n');
    if (canonical_uri(c, in) != 0)
        rc = -1;
    buf_putc(c, '\n');
    if (canonical_query(c, in->query) != 0)
        rc = -1;
    buf_putc(c, '\n');
    for (size_t i = 0; i < nh; i++) {
        buf_puts(c, h[i].name);
        buf_putc(c, ':');
        if (h[i].value.data != NULL)
            buf_append(c, h[i].value.data, h[i].value.len);
        buf_putc(c, '\n');
        if (i > 0)
            buf_putc(signed_headers, ';');
        buf_puts(signed_headers, h[i].name);
        if (buf_failed(&h[i].value))
            rc = -1;
    }
    buf_putc(c, '\n');
    buf_append(c, signed_headers->data, signed_headers->len);
    buf_putc(c, '\n');
    buf_puts(c, out->content_sha256);
    return rc;
}

/*
 * From the canonical request: the string to sign, the signature (with the
 * day's signing key) and the Authorization value. date is YYYYMMDD. Returns
 * 0, or -1 when a step fails.
 */
static int sign_request(const struct sigv4_input *in, struct sigv4_output *out, const char *date,
                        const struct buf *signed_headers)
{
    const struct buf *c = &out->canonical_request;
    char creq_hash[65];
    if (!buf_failed(c))
        sha256_hex(c->data, c->len, creq_hash);
    struct buf *s = &out->string_to_sign;
    buf_printf(s, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", out->amz_date, date,
               in->region, in->service, buf_failed(c) ? "" : creq_hash);
    unsigned char k[32];
    if (signing_key(in->secret_key, date, in->region, in->service, k) != 0)
        return -1;
    int rc = 0;
    unsigned char sig[32] = {0};
    if (!buf_failed(s) && hmac(k, 32, s->data, s->len, sig) != 0)
        rc = -1;
    explicit_bzero(k, sizeof k);
    hex(sig, sizeof sig, out->signature);
    buf_printf(&out->authorization,
               "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=",
               in->access_key, date, in->region, in->service);
    buf_append(&out->authorization, signed_headers->data, signed_headers->len);
    buf_printf(&out->authorization, ", Signature=%s", out->signature);
    if (buf_failed(s) || buf_failed(&out->authorization))
        rc = -1;
    return rc;
}

int sigv4_sign(const struct sigv4_input *in, struct sigv4_output *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->canonical_request, SIGV4_MAX);
    buf_init(&out->string_to_sign, SIGV4_MAX);
    buf_init(&out->authorization, SIGV4_MAX);

    struct tm tm;
    gmtime_r(&in->when, &tm);
    strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm);
    char date[9];
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    sha256_hex(in->body ? in->body : "", in->body_len, out->content_sha256);

    /* Headers: the caller's plus the signer's, merged and sorted. */
    struct hdr *h = calloc(in->nheaders + 3, sizeof *h);
    if (h == NULL)
        return -1;
    size_t nh;
    int rc = merge_headers(in, out, h, &nh);
    struct buf signed_headers;
    buf_init(&signed_headers, SIGV4_MAX);
    if (canonical_request(in, out, h, nh, &signed_headers) != 0)
        rc = -1;
    for (size_t i = 0; i < nh; i++) {
        free(h[i].name);
        buf_free(&h[i].value);
    }
    free(h);
    if (sign_request(in, out, date, &signed_headers) != 0)
        rc = -1;
    buf_free(&signed_headers);
    if (buf_failed(&out->canonical_request))
        rc = -1;
    return rc;
}

void sigv4_output_free(struct sigv4_output *out)
{
    if (out == NULL)
        return;
    buf_free(&out->canonical_request);
    buf_free(&out->string_to_sign);
    buf_free(&out->authorization);
}
