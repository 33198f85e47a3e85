/*
 * render_bench: how long the exporter's exposition writer (exporter/expo.c,
 * lib/buf.c, linked as they are) takes to render a snapshot, and zlib
 * to compress it.
 *
 *     render_bench METRICS_FILE [--scale K] [--repeats R]
 *
 * METRICS_FILE is a /metrics body taken from the exporter. It is parsed once
 * into families and samples (label values and HELP unescaped), then rendered
 * again R times with expo_family/expo_sample into a fresh struct buf, as a
 * collector run does; the first render must give back METRICS_FILE's exact
 * bytes (checked). With --scale K every sample that has an account_id label
 * is repeated K times with other 12-digit ids, to estimate an organization K
 * times larger from the same shapes. The rendered text is then compressed R
 * times as the registry does (raw deflate, level 1, Z_SYNC_FLUSH) and at
 * level 6 for comparison.
 *
 * Prints one JSON line: bytes, lines, identical, render_ms and gzip6_ms and
 * gzip1_ms (medians), gzip6_bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "lib/buf.h"
#include "exporter/expo.h"
#include "lib/clock.h"

struct sample {
    struct expo_label *labels; /* names and values owned */
    size_t n;
    double value;
};

struct family {
    char *name, *help;
    enum expo_type type;
    struct sample *samples;
    size_t n, cap;
    /* A histogram family (a few lines: the CloudTrail delay) is copied as it
     * was fetched, HELP to last sample: its lines are not plain samples. The
     * text is the fetched body, alive for the whole run. */
    const char *raw;
    size_t raw_len;
};

static struct family *fams;
static size_t nfams;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xrealloc(NULL, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Unescapes \\, \" (label values only) and \n in s[0..n). */
static char *unescape(const char *s, size_t n)
{
    char *out = xrealloc(NULL, n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            *w++ = s[i] == 'n' ? '\n' : s[i];
        } else {
            *w++ = s[i];
        }
    }
    *w = '\0';
    return out;
}

static struct family *family_named(const char *name, size_t len)
{
    for (size_t i = nfams; i-- > 0;)
        if (strlen(fams[i].name) == len && memcmp(fams[i].name, name, len) == 0)
            return &fams[i];
    fams = xrealloc(fams, (nfams + 1) * sizeof *fams);
    memset(&fams[nfams], 0, sizeof *fams);
    fams[nfams].name = xstrndup(name, len);
    fams[nfams].type = EXPO_UNTYPED;
    return &fams[nfams++];
}

static void add_sample(struct family *f, struct sample s)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->samples = xrealloc(f->samples, f->cap * sizeof *f->samples);
    }
    f->samples[f->n++] = s;
}

/* Parses one sample line "name{a="x",b="y"} value". Returns 0 or -1. */
static int parse_sample(const char *line, size_t len)
{
    const char *p = line, *end = line + len;
    while (p < end && *p != '{' && *p != ' ')
        p++;
    struct family *f = family_named(line, (size_t)(p - line));
    struct sample s = {NULL, 0, 0};
    if (p < end && *p == '{') {
        p++;
        while (p < end && *p != '}') {
            const char *nm = p;
            while (p < end && *p != '=')
                p++;
            if (p + 1 >= end || p[1] != '"')
                return -1;
            size_t nl = (size_t)(p - nm);
            p += 2;
            const char *v = p;
            while (p < end && *p != '"') {
                if (*p == '\\')
                    p++;
                p++;
            }
            if (p >= end)
                return -1;
            s.labels = xrealloc(s.labels, (s.n + 1) * sizeof *s.labels);
            s.labels[s.n].name = xstrndup(nm, nl);
            s.labels[s.n].value = unescape(v, (size_t)(p - v));
            s.n++;
            p++; /* the quote */
            if (p < end && *p == ',')
                p++;
        }
        p++; /* } */
    }
    if (p >= end || *p != ' ')
        return -1;
    char num[64];
    size_t vl = (size_t)(end - p - 1);
    if (vl >= sizeof num)
        return -1;
    memcpy(num, p + 1, vl);
    num[vl] = '\0';
    s.value = strtod(num, NULL);
    add_sample(f, s);
    return 0;
}

static int parse(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    const char *help_line = NULL; /* where the current family's HELP began */
    struct family *raw = NULL;    /* the histogram family being copied */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return -1;
        size_t ll = (size_t)(nl - p);
        if (ll > 7 && memcmp(p, "# HELP ", 7) == 0) {
            raw = NULL;
            help_line = p;
            const char *nm = p + 7, *sp = memchr(nm, ' ', (size_t)(nl - nm));
            if (sp == NULL)
                return -1;
            struct family *f = family_named(nm, (size_t)(sp - nm));
            f->help = unescape(sp + 1, (size_t)(nl - sp - 1));
        } else if (ll > 7 && memcmp(p, "# TYPE ", 7) == 0) {
            const char *nm = p + 7, *sp = memchr(nm, ' ', (size_t)(nl - nm));
            if (sp == NULL)
                return -1;
            struct family *f = family_named(nm, (size_t)(sp - nm));
            f->type = strncmp(sp + 1, "gauge", 5) == 0       ? EXPO_GAUGE
                      : strncmp(sp + 1, "counter", 7) == 0   ? EXPO_COUNTER
                      : strncmp(sp + 1, "histogram", 9) == 0 ? EXPO_HISTOGRAM
                                                             : EXPO_UNTYPED;
            if (f->type == EXPO_HISTOGRAM && help_line != NULL) {
                raw = f;
                f->raw = help_line;
                f->raw_len = (size_t)(nl + 1 - help_line);
            }
        } else if (raw != NULL) {
            raw->raw_len = (size_t)(nl + 1 - raw->raw);
        } else if (ll > 0 && p[0] != '#') {
            if (parse_sample(p, ll) != 0)
                return -1;
        }
        p = nl + 1;
    }
    return 0;
}

/* Repeats every sample with an account_id label k times with other ids. */
static void scale(unsigned k)
{
    for (size_t i = 0; i < nfams; i++) {
        struct family *f = &fams[i];
        size_t n0 = f->n;
        for (unsigned copy = 1; copy < k; copy++) {
            for (size_t j = 0; j < n0; j++) {
                struct sample s = f->samples[j];
                ssize_t acc = -1;
                for (size_t l = 0; l < s.n; l++)
                    if (strcmp(s.labels[l].name, "account_id") == 0)
                        acc = (ssize_t)l;
                if (acc < 0)
                    continue;
                struct expo_label *lab = xrealloc(NULL, s.n * sizeof *lab);
                memcpy(lab, s.labels, s.n * sizeof *lab);
                unsigned long long id = strtoull(s.labels[acc].value, NULL, 10);
                char *v = xrealloc(NULL, 16);
                snprintf(v, 16, "%012llu", (id + 7919ULL * copy * 1000003ULL) % 1000000000000ULL);
                lab[acc].value = v;
                s.labels = lab;
                add_sample(f, s);
            }
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Renders every family into a fresh buffer, as a collector run does: sized
 * from the previous render, as the registry sizes a run's buffer from the
 * collector's previous snapshot. */
static int render(struct buf *b)
{
    static size_t last_len;
    buf_init(b, 256u << 20);
    if (last_len > 0)
        buf_reserve(b, last_len + last_len / 8);
    struct expo e;
    expo_init(&e, b);
    for (size_t i = 0; i < nfams; i++) {
        if (fams[i].raw != NULL) {
            buf_append(b, fams[i].raw, fams[i].raw_len);
            continue;
        }
        expo_family(&e, fams[i].name, fams[i].type, fams[i].help ? fams[i].help : "");
        for (size_t j = 0; j < fams[i].n; j++)
            expo_sample(&e, fams[i].samples[j].labels, fams[i].samples[j].n,
                        fams[i].samples[j].value);
    }
    int rc = expo_error(&e) != NULL ? -1 : 0;
    if (rc != 0)
        fprintf(stderr, "render: %s\n", expo_error(&e));
    last_len = b->len;
    expo_free(&e);
    return rc;
}

/* Raw deflate of text at level, Z_SYNC_FLUSH, as registry.c does. Returns the size. */
static size_t deflate_like_registry(const char *text, size_t len, int level)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    uLong bound = deflateBound(&z, (uLong)len) + 16;
    unsigned char *p = malloc(bound);
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = p;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_SYNC_FLUSH);
    size_t out = rc == Z_OK && z.avail_in == 0 ? bound - z.avail_out : 0;
    deflateEnd(&z);
    free(p);
    return out;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    unsigned k = 1, repeats = 21;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            k = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = (unsigned)atoi(argv[++i]);
        else
            file = argv[i];
    }
    if (file == NULL || k < 1 || repeats < 1) {
        fprintf(stderr, "usage: render_bench METRICS_FILE [--scale K] [--repeats R]\n");
        return 2;
    }
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        perror(file);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long flen = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = xrealloc(NULL, (size_t)flen + 1);
    if (fread(text, 1, (size_t)flen, f) != (size_t)flen) {
        fprintf(stderr, "short read\n");
        return 1;
    }
    fclose(f);
    text[flen] = '\0';
    if (parse(text, (size_t)flen) != 0) {
        fprintf(stderr, "%s: not an exposition this parser reads\n", file);
        return 1;
    }
    struct buf b;
    if (render(&b) != 0)
        return 1;
    bool identical = b.len == (size_t)flen && memcmp(b.data, text, b.len) == 0;
    buf_free(&b);
    if (k > 1)
        scale(k);

    double *t = xrealloc(NULL, repeats * sizeof *t);
    size_t bytes = 0, lines = 0;
    for (unsigned r = 0; r < repeats; r++) {
        double t0 = clock_mono();
        if (render(&b) != 0)
            return 1;
        t[r] = clock_mono() - t0;
        bytes = b.len;
        if (r + 1 < repeats)
            buf_free(&b);
    }
    double render_ms = median(t, repeats) * 1e3;
    for (size_t i = 0; i < b.len; i++)
        lines += b.data[i] == '\n';
    size_t gz6 = 0, gz1 = 0;
    for (unsigned r = 0; r < repeats; r++) {
        double t0 = clock_mono();
        gz6 = deflate_like_registry(b.data, b.len, 6);
        t[r] = clock_mono() - t0;
    }
    double gzip6_ms = median(t, repeats) * 1e3;
    for (unsigned r = 0; r < repeats; r++) {
        double t0 = clock_mono();
        gz1 = deflate_like_registry(b.data, b.len, 1);
        t[r] = clock_mono() - t0;
    }
    double gzip1_ms = median(t, repeats) * 1e3;
    printf("{\"scale\":%u,\"bytes\":%zu,\"lines\":%zu,\"identical\":%s,\"render_ms\":%.3f,"
           "\"gzip6_ms\":%.3f,\"gzip6_bytes\":%zu,\"gzip1_ms\":%.3f,\"gzip1_bytes\":%zu,"
           "\"repeats\":%u}\n",
           k, bytes, lines, identical ? "true" : "false", render_ms, gzip6_ms, gz6, gzip1_ms, gz1,
           repeats);
    buf_free(&b);
    return identical ? 0 : 3;
}
