#define _POSIX_C_SOURCE 200809L
#include "exporter/expo.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void expo_init(struct expo *e, struct buf *out)
{
    e->out = out;
    e->help_suffix = NULL;
    e->family[0] = '\0';
    e->family_len = 0;
    buf_init(&e->seen, 1 << 20);
    e->error[0] = '\0';
    e->sink = NULL;
    e->sink_arg = NULL;
    e->sink_at = 0;
}

void expo_set_sink(struct expo *e, int (*sink)(void *arg, const char *text, size_t len), void *arg,
                   size_t at)
{
    e->sink = sink;
    e->sink_arg = arg;
    e->sink_at = at;
}

void expo_free(struct expo *e)
{
    if (e == NULL)
        return;
    buf_free(&e->seen);
}

bool expo_valid_metric_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* The length of a valid label name, or 0 when s is not one. */
static size_t label_name_len(const char *s)
{
    if (s == NULL || *s == '\0' || (s[0] == '_' && s[1] == '_'))
        return 0;
    const char *p = s;
    for (; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return (size_t)(p - s);
}

bool expo_valid_label_name(const char *s)
{
    return label_name_len(s) > 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Bytes the escaper has to look at: the end, backslash, newline, the quote,
 * and every non-ASCII byte (UTF-8 is checked). */
static bool special_byte(unsigned char c)
{
    return c == '\0' || c == '\\' || c == '\n' || c == '"' || c >= 0x80;
}

/* The one escaper: quotes (label values only), backslashes, newlines. */
static void escape(struct buf *b, const char *s, bool quote)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    if (s == NULL)
        return;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p; /* start of bytes copied verbatim */
    for (;;) {
        while (!special_byte(*p)) /* the common case: plain ASCII */
            p++;
        if (*p == '\0')
            break;
        const char *esc = NULL;
        size_t skip = 1;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p == '"' && quote)
            esc = "\\\"";
        else if (*p >= 0x80 && (skip = utf8_len(p)) == 0) {
            esc = replacement;
            skip = 1;
        }
        if (esc == NULL) {
            p += skip;
            continue;
        }
        buf_append(b, run, (size_t)(p - run));
        buf_puts(b, esc);
        p += skip;
        run = p;
    }
    buf_append(b, run, (size_t)(p - run));
}

void expo_escape_label_value(struct buf *b, const char *s)
{
    escape(b, s, true);
}

void expo_escape_help(struct buf *b, const char *s)
{
    escape(b, s, false);
}

static int fail(struct expo *e, const char *what, const char *name)
{
    if (e->error[0] == '\0')
        snprintf(e->error, sizeof e->error, "%s: \"%.100s\"", what, name ? name : "");
    return -1;
}

/* After a whole line: hands the text to the sink once there is enough. */
static int drain(struct expo *e)
{
    struct buf *b = e->out;
    if (e->sink == NULL || b->len < e->sink_at)
        return 0;
    if (e->sink(e->sink_arg, b->data, b->len) != 0)
        return fail(e, "exposition sink failed at family", e->family);
    buf_reset(b);
    return 0;
}

static bool family_seen(const struct expo *e, const char *name)
{
    for (size_t off = 0; off < e->seen.len; off += strlen(e->seen.data + off) + 1)
        if (strcmp(e->seen.data + off, name) == 0)
            return true;
    return false;
}

int expo_family(struct expo *e, const char *name, enum expo_type type, const char *help)
{
    static const char *const types[] = {"gauge", "counter", "untyped", "histogram"};
    if (e->error[0] != '\0')
        return -1;
    if (!expo_valid_metric_name(name) || strlen(name) >= sizeof e->family)
        return fail(e, "invalid metric name", name);
    if (family_seen(e, name))
        return fail(e, "duplicate metric family", name);
    if (buf_append(&e->seen, name, strlen(name) + 1) != 0)
        return fail(e, "too many metric families", name);
    strcpy(e->family, name);
    e->family_len = strlen(name);
    e->type = type;
    struct buf *b = e->out;
    buf_puts(b, "# HELP ");
    buf_puts(b, name);
    buf_putc(b, ' ');
    expo_escape_help(b, help);
    if (e->help_suffix != NULL)
        expo_escape_help(b, e->help_suffix);
    buf_puts(b, "\n# TYPE ");
    buf_puts(b, name);
    buf_putc(b, ' ');
    buf_puts(b, types[type]);
    buf_putc(b, '\n');
    return buf_failed(b) ? fail(e, "exposition buffer full at family", name) : drain(e);
}

/* Writes one line of the current family: its name and suffix ("" for a
 * plain sample, "_bucket", "_sum", "_count" for a histogram's), n labels and
 * an optional last label (extra; NULL for none), and the value. */
static int line(struct expo *e, const char *suffix, const struct expo_label *labels, size_t n,
                const struct expo_label *extra, double value)
{
    if (e->error[0] != '\0')
        return -1;
    if (e->family[0] == '\0')
        return fail(e, "sample written before any family", "");
    /* Names first: a rejected sample leaves nothing half-written. Their
     * lengths are kept for the copy (the first 16; samples have fewer). */
    size_t name_len[16];
    for (size_t i = 0; i < n; i++) {
        size_t len = label_name_len(labels[i].name);
        if (len == 0)
            return fail(e, "invalid label name", labels[i].name);
        if (i < 16)
            name_len[i] = len;
    }
    struct buf *b = e->out;
    buf_append(b, e->family, e->family_len);
    buf_puts(b, suffix);
    for (size_t i = 0; i < n + (extra != NULL); i++) {
        const struct expo_label *l = i < n ? &labels[i] : extra;
        buf_putc(b, i == 0 ? '{' : ',');
        buf_append(b, l->name, i < 16 && i < n ? name_len[i] : strlen(l->name));
        buf_append(b, "=\"", 2);
        expo_escape_label_value(b, l->value);
        buf_putc(b, '"');
    }
    if (n > 0 || extra != NULL)
        buf_putc(b, '}');
    char num[EXPO_DOUBLE_MAX];
    buf_putc(b, ' ');
    buf_append(b, num, expo_format_double(value, num));
    buf_putc(b, '\n');
    return buf_failed(b) ? fail(e, "exposition buffer full at family", e->family) : drain(e);
}

int expo_sample(struct expo *e, const struct expo_label *labels, size_t n, double value)
{
    if (e->error[0] == '\0' && e->type == EXPO_HISTOGRAM)
        return fail(e, "plain sample in a histogram family", e->family);
    return line(e, "", labels, n, NULL, value);
}

int expo_histogram(struct expo *e, const struct expo_label *labels, size_t n, const double *bounds,
                   const uint64_t *buckets, size_t nbounds, double sum)
{
    if (e->error[0] == '\0' && e->type != EXPO_HISTOGRAM)
        return fail(e, "histogram in a family of another type", e->family);
    for (size_t i = 0; i < n; i++)
        if (strcmp(labels[i].name, "le") == 0)
            return fail(e, "a histogram's own label le given", e->family);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= nbounds; i++) {
        cumulative += buckets[i];
        char le[EXPO_DOUBLE_MAX];
        expo_format_double(i < nbounds ? bounds[i] : INFINITY, le);
        struct expo_label extra = {"le", le};
        if (line(e, "_bucket", labels, n, &extra, (double)cumulative) != 0)
            return -1;
    }
    if (line(e, "_sum", labels, n, NULL, sum) != 0)
        return -1;
    return line(e, "_count", labels, n, NULL, (double)cumulative);
}

const char *expo_error(const struct expo *e)
{
    if (e->error[0] != '\0')
        return e->error;
    if (buf_failed(e->out))
        return "exposition buffer full";
    return NULL;
}

/* Writes the decimal digits of u; returns the length. */
static size_t format_u64(uint64_t u, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/*
 * Fast paths that give the same bytes as the general shortest round-trip
 * path: integers below 2^63 in magnitude, and values with at most three
 * decimals in [0.001, 2^42) — there a double's spacing is at most 2^-11, so a
 * decimal with three places that round-trips is the only one with so few
 * digits, and %g would print it in fixed notation too.
 */
static size_t format_fast(double v, char *out)
{
    size_t n = 0;
    double a = fabs(v);
    if (a < 9.2233720368547758e18 && v == (double)(int64_t)v) {
        if (signbit(v))
            out[n++] = '-';
        return n + format_u64((uint64_t)a, out + n);
    }
    if (a >= 0.001 && a < 4398046511104.0) {
        double scaled = a * 1000.0;
        uint64_t m = (uint64_t)llround(scaled);
        if ((double)m / 1000.0 != a)
            return 0;
        if (signbit(v))
            out[n++] = '-';
        n += format_u64(m / 1000, out + n);
        unsigned frac = (unsigned)(m % 1000);
        out[n++] = '.';
        out[n++] = (char)('0' + frac / 100);
        if (frac % 100 != 0)
            out[n++] = (char)('0' + frac / 10 % 10);
        if (frac % 10 != 0)
            out[n++] = (char)('0' + frac % 10);
        return n;
    }
    return 0;
}

size_t expo_format_double(double v, char out[EXPO_DOUBLE_MAX])
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    size_t n = format_fast(v, out);
    if (n > 0) {
        out[n] = '\0';
        return n;
    }
    /* The C locale, whatever the process locale is: '.' as the decimal point. */
    static locale_t c_locale;
    if (c_locale == (locale_t)0) {
        locale_t l = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (!__atomic_compare_exchange_n(&c_locale, &(locale_t){0}, l, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            freelocale(l);
    }
    locale_t old = uselocale(c_locale);
    int len = 0;
    /* Normal doubles carry more than 15 significant digits, so a shorter
     * round-tripping form is the %.15g one with its zeros stripped. Subnormals
     * carry fewer: search from one digit. */
    for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        len = snprintf(out, EXPO_DOUBLE_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    uselocale(old);
    return (size_t)len;
}
