#define _POSIX_C_SOURCE 200809L /* fmemopen */
/* Unit tests of the exposition writer: exact bytes, table-driven. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "exporter/expo.h"

static void test_label_value_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"plain", "plain"},
        {"say \"hi\"", "say \\\"hi\\\""},
        {"C:\\path\\", "C:\\\\path\\\\"},
        {"two\nlines", "two\\nlines"},
        {"tab\there", "tab\there"}, /* tabs are not escaped */
        {"cr\rhere", "cr\rhere"},   /* neither is CR */
        {"caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\x92", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\x92"},
        {"bad \xFF byte", "bad \xEF\xBF\xBD byte"},         /* invalid UTF-8 -> U+FFFD */
        {"cut \xC3", "cut \xEF\xBF\xBD"},                   /* truncated sequence */
        {"over \xC0\xAF", "over \xEF\xBF\xBD\xEF\xBF\xBD"}, /* overlong */
        {"surrogate \xED\xA0\x80", "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"} 1\nforged_metric{a=\"b", "} 1\\nforged_metric{a=\\\"b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        buf_init(&b, 1024);
        expo_escape_label_value(&b, cases[i].in);
        assert_string_equal(b.data ? b.data : "", cases[i].out);
        buf_free(&b);
    }
}

static void test_help_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"Quotes \"stay\".", "Quotes \"stay\"."},
        {"back\\slash", "back\\\\slash"},
        {"new\nline", "new\\nline"},
        {"tab\t", "tab\t"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        buf_init(&b, 1024);
        expo_escape_help(&b, cases[i].in);
        assert_string_equal(b.data ? b.data : "", cases[i].out);
        buf_free(&b);
    }
}

static void test_format_double(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *out;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {1.0, "1"},
        {-42.0, "-42"},
        {1e-9, "1e-09"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-1.7976931348623157e308, "-1.7976931348623157e+308"},
        {4.9406564584124654e-324, "5e-324"},
        {0.1, "0.1"},
        {0.5, "0.5"},
        {-0.25, "-0.25"},
        {0.001, "0.001"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {0.3, "0.3"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3.0, "0.3333333333333333"},
        {9007199254740993.0, "9007199254740992"}, /* 2^53+1 is not a double */
        {9007199254740992.0, "9007199254740992"},
        {1e15, "1000000000000000"},
        {1e21, "1e+21"},
        {1.5e300, "1.5e+300"},
        {1795820731.6, "1795820731.6"},
        {1795820731.123, "1795820731.123"},
        {1795820731.1234, "1795820731.1234"},
        {123.456, "123.456"},
        {3.14159, "3.14159"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[EXPO_DOUBLE_MAX];
        size_t n = expo_format_double(cases[i].v, out);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
    }
}

/* The general path, without fast paths: the reference for the fast ones. */
static void reference_format(double v, char *out)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, EXPO_DOUBLE_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void test_fast_paths_match_reference(void **state)
{
    (void)state;
    srand(12345);
    for (int i = 0; i < 200000; i++) {
        double v;
        switch (i % 4) {
        case 0: /* timestamps with milliseconds */
            v = 1.7e9 + (double)(rand() % 100000000) / 1000.0;
            break;
        case 1: /* small decimals */
            v = (double)(rand() % 1000000) / 1000.0;
            break;
        case 2: /* integers, some huge */
            v = (double)rand() * (double)rand() * (i % 8 == 2 ? 1000003.0 : 1.0);
            break;
        default: /* anything, near the fast paths' edges */
            v = ldexp((double)rand() / RAND_MAX, rand() % 90 - 45) * (rand() % 2 ? 1 : -1);
        }
        char got[EXPO_DOUBLE_MAX], want[EXPO_DOUBLE_MAX];
        expo_format_double(v, got);
        reference_format(v, want);
        /* Integers print in full where %g would use an exponent. */
        if (v == floor(v) && fabs(v) < 9.2e18)
            snprintf(want, sizeof want, "%.0f", v);
        if (strcmp(got, want) != 0)
            fail_msg("value %.17g: got %s, want %s", v, got, want);
    }
}

static void test_family_and_samples_exact(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    struct expo e;
    expo_init(&e, &b);
    e.help_suffix = " (cached; refreshed every 5m)";
    assert_int_equal(expo_family(&e, "aws_org_accounts", EXPO_GAUGE, "Accounts per state.\nx\\"),
                     0);
    struct expo_label l1[] = {{"state", "ACTIVE"}};
    assert_int_equal(expo_sample(&e, l1, 1, 12), 0);
    struct expo_label l2[] = {
        {"account_id", "1"}, {"name", "a\"b\\c\nd"}, {"empty", ""}, {"null", NULL}};
    assert_int_equal(expo_sample(&e, l2, 4, 0.5), 0);
    assert_int_equal(expo_family(&e, "aws_org_account_departures_total", EXPO_COUNTER, "Gone."), 0);
    assert_int_equal(expo_sample(&e, NULL, 0, 3), 0);
    assert_int_equal(expo_family(&e, "x", EXPO_UNTYPED, ""), 0);
    assert_int_equal(expo_sample(&e, NULL, 0, NAN), 0);
    assert_null(expo_error(&e));
    assert_string_equal(
        b.data,
        "# HELP aws_org_accounts Accounts per state.\\nx\\\\ (cached; refreshed every 5m)\n"
        "# TYPE aws_org_accounts gauge\n"
        "aws_org_accounts{state=\"ACTIVE\"} 12\n"
        "aws_org_accounts{account_id=\"1\",name=\"a\\\"b\\\\c\\nd\",empty=\"\",null=\"\"} 0.5\n"
        "# HELP aws_org_account_departures_total Gone. (cached; refreshed every 5m)\n"
        "# TYPE aws_org_account_departures_total counter\n"
        "aws_org_account_departures_total 3\n"
        "# HELP x  (cached; refreshed every 5m)\n"
        "# TYPE x untyped\n"
        "x NaN\n");
    expo_free(&e);
    buf_free(&b);
}

static void test_histogram_exact(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    struct expo e;
    expo_init(&e, &b);
    static const double bounds[] = {60, 300, 7200};
    /* Not cumulative: 2 at or under 60, 0 in (60, 300], 1 in (300, 7200], 4 above. */
    static const uint64_t lookup[] = {2, 0, 1, 4};
    static const uint64_t none[] = {0, 0, 0, 0};
    assert_int_equal(expo_family(&e, "d_seconds", EXPO_HISTOGRAM, "Delay."), 0);
    assert_int_equal(
        expo_histogram(&e, &(struct expo_label){"source", "lookup"}, 1, bounds, lookup, 3, 90061.5),
        0);
    assert_int_equal(
        expo_histogram(&e, &(struct expo_label){"source", "a\"b"}, 1, bounds, none, 3, 0), 0);
    assert_null(expo_error(&e));
    assert_string_equal(b.data, "# HELP d_seconds Delay.\n"
                                "# TYPE d_seconds histogram\n"
                                "d_seconds_bucket{source=\"lookup\",le=\"60\"} 2\n"
                                "d_seconds_bucket{source=\"lookup\",le=\"300\"} 2\n"
                                "d_seconds_bucket{source=\"lookup\",le=\"7200\"} 3\n"
                                "d_seconds_bucket{source=\"lookup\",le=\"+Inf\"} 7\n"
                                "d_seconds_sum{source=\"lookup\"} 90061.5\n"
                                "d_seconds_count{source=\"lookup\"} 7\n"
                                "d_seconds_bucket{source=\"a\\\"b\",le=\"60\"} 0\n"
                                "d_seconds_bucket{source=\"a\\\"b\",le=\"300\"} 0\n"
                                "d_seconds_bucket{source=\"a\\\"b\",le=\"7200\"} 0\n"
                                "d_seconds_bucket{source=\"a\\\"b\",le=\"+Inf\"} 0\n"
                                "d_seconds_sum{source=\"a\\\"b\"} 0\n"
                                "d_seconds_count{source=\"a\\\"b\"} 0\n");
    /* A plain sample in a histogram family, a histogram in a gauge family,
     * a caller's own le label: errors. */
    assert_int_equal(expo_sample(&e, NULL, 0, 1), -1);
    assert_string_equal(expo_error(&e), "plain sample in a histogram family: \"d_seconds\"");
    expo_free(&e);
    buf_free(&b);
    static const struct {
        enum expo_type type;
        const char *label, *error;
    } bad[] = {{EXPO_GAUGE, "source", "histogram in a family of another type: \"g\""},
               {EXPO_HISTOGRAM, "le", "a histogram's own label le given: \"g\""}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_init(&b, 1 << 16);
        expo_init(&e, &b);
        assert_int_equal(expo_family(&e, "g", bad[i].type, "h"), 0);
        assert_int_equal(
            expo_histogram(&e, &(struct expo_label){bad[i].label, "x"}, 1, bounds, none, 3, 0), -1);
        assert_string_equal(expo_error(&e), bad[i].error);
        expo_free(&e);
        buf_free(&b);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *family, *label, *error;
    } cases[] = {
        {"1bad", "ok", "invalid metric name: \"1bad\""},
        {"bad-name", "ok", "invalid metric name: \"bad-name\""},
        {"", "ok", "invalid metric name: \"\""},
        {"good", "__reserved", "invalid label name: \"__reserved\""},
        {"good", "has:colon", "invalid label name: \"has:colon\""},
        {"good", "9lives", "invalid label name: \"9lives\""},
        {"good", "", "invalid label name: \"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        buf_init(&b, 1 << 16);
        struct expo e;
        expo_init(&e, &b);
        if (expo_family(&e, cases[i].family, EXPO_GAUGE, "h") == 0)
            assert_int_equal(expo_sample(&e, &(struct expo_label){cases[i].label, "v"}, 1, 1), -1);
        assert_string_equal(expo_error(&e), cases[i].error);
        /* Every later call fails too. */
        assert_int_equal(expo_family(&e, "later", EXPO_GAUGE, "h"), -1);
        expo_free(&e);
        buf_free(&b);
    }
}

static void test_duplicate_family(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    struct expo e;
    expo_init(&e, &b);
    assert_int_equal(expo_family(&e, "a", EXPO_GAUGE, "h"), 0);
    assert_int_equal(expo_family(&e, "b", EXPO_GAUGE, "h"), 0);
    assert_int_equal(expo_family(&e, "a", EXPO_GAUGE, "h"), -1);
    assert_string_equal(expo_error(&e), "duplicate metric family: \"a\"");
    expo_free(&e);
    buf_free(&b);
}

static void test_sample_before_family(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    struct expo e;
    expo_init(&e, &b);
    assert_int_equal(expo_sample(&e, NULL, 0, 1), -1);
    assert_string_equal(expo_error(&e), "sample written before any family: \"\"");
    expo_free(&e);
    buf_free(&b);
}

static void test_buffer_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    struct expo e;
    expo_init(&e, &b);
    assert_int_equal(expo_family(&e, "m", EXPO_GAUGE, "h"), 0);
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = expo_sample(&e, NULL, 0, i);
    assert_int_equal(rc, -1);
    assert_string_equal(expo_error(&e), "exposition buffer full at family: \"m\"");
    assert_true(buf_failed(&b));
    assert_null(b.data);
    assert_null(buf_steal(&b, NULL));
    expo_free(&e);
    buf_free(&b);
}

/* The sink: what it is handed, concatenated, then what is left. */
struct sink_log {
    char text[4096];
    size_t len, calls;
    bool refuse; /* the next call fails */
};

static int log_sink(void *arg, const char *text, size_t len)
{
    struct sink_log *l = arg;
    if (l->refuse)
        return -1;
    assert_true(l->len + len < sizeof l->text);
    memcpy(l->text + l->len, text, len);
    l->len += len;
    l->calls++;
    return 0;
}

/* Whole lines are handed over once the buffer holds at least the threshold,
 * and the buffer is emptied: the sink's bytes then what is left are exactly
 * the text written without a sink. A failing sink fails the writer. */
static void test_sink(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    struct expo e;
    expo_init(&e, &b);
    struct sink_log l = {0};
    expo_set_sink(&e, log_sink, &l, 40);
    assert_int_equal(expo_family(&e, "m", EXPO_GAUGE, "h"), 0); /* 26 bytes: kept */
    assert_int_equal(l.calls, 0);
    assert_int_equal(expo_sample(&e, &(struct expo_label){"k", "v"}, 1, 1), 0); /* 37 */
    assert_int_equal(l.calls, 0);
    assert_int_equal(expo_sample(&e, NULL, 0, 2), 0); /* 41: handed over */
    assert_int_equal(l.calls, 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(expo_sample(&e, NULL, 0, 3), 0);
    static const char whole[] = "# HELP m h\n# TYPE m gauge\nm{k=\"v\"} 1\nm 2\nm 3\n";
    assert_int_equal(l.len + b.len, sizeof whole - 1);
    memcpy(l.text + l.len, b.data, b.len);
    assert_memory_equal(l.text, whole, sizeof whole - 1);
    assert_int_equal(l.len, 41);
    l.refuse = true;
    for (int i = 0; i < 10 && expo_error(&e) == NULL; i++)
        expo_sample(&e, NULL, 0, 4);
    assert_string_equal(expo_error(&e), "exposition sink failed at family: \"m\"");
    assert_int_equal(expo_sample(&e, NULL, 0, 5), -1); /* and every later call */
    expo_free(&e);
    buf_free(&b);
}

/* A stream is read whole under the cap; past it the buffer fails and the
 * stream is still read to its end (a pipe's writer is never left blocked). */
static void test_buf_read_stream(void **state)
{
    (void)state;
    char text[20000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    FILE *f = fmemopen(text, sizeof text, "r");
    struct buf b;
    buf_init(&b, sizeof text);
    assert_int_equal(buf_read_stream(&b, f), 0);
    assert_int_equal(b.len, sizeof text);
    assert_memory_equal(b.data, text, sizeof text);
    assert_int_equal(b.data[b.len], '\0');
    fclose(f);
    buf_free(&b);

    f = fmemopen(text, sizeof text, "r");
    buf_init(&b, sizeof text - 1);
    assert_int_equal(buf_read_stream(&b, f), -1);
    assert_true(buf_failed(&b));
    assert_null(b.data);
    assert_true(feof(f));
    fclose(f);
}

/* A regular file is read whole under the cap; past the cap reading stops
 * (a file need not be drained); what is not a regular file is refused without
 * reading or blocking. */
static void test_buf_read_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/aws-org-exporter-test-buf-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], fifo[128];
    snprintf(path, sizeof path, "%s/file", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("0123456789", f);
    fclose(f);

    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_read_file(&b, path), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    buf_free(&b);

    buf_init(&b, 9); /* larger than the cap: fstat says so, nothing is read */
    errno = 0;
    assert_int_equal(buf_read_file(&b, path), -1);
    assert_int_equal(errno, EFBIG);
    assert_true(buf_failed(&b));
    assert_null(b.data);

    /* A regular file whose size fstat does not know (0 in /proc) and that is
     * longer than the cap: reading stops past the cap. */
    buf_init(&b, 16);
    errno = 0;
    assert_int_equal(buf_read_file(&b, "/proc/self/maps"), -1);
    assert_int_equal(errno, EFBIG);
    assert_true(buf_failed(&b));

    static const char *const refused[] = {"/dev/zero", "/dev/null", "/tmp", NULL};
    assert_int_equal(mkfifo(fifo, 0600), 0); /* no writer: opening must not wait */
    for (const char *const *p = refused;; p++) {
        const char *name = *p ? *p : fifo;
        buf_init(&b, 1 << 20);
        errno = 0;
        assert_int_equal(buf_read_file(&b, name), -1);
        assert_int_equal(errno, EINVAL);
        assert_true(buf_failed(&b));
        if (*p == NULL)
            break;
    }

    buf_init(&b, 16);
    errno = 0;
    assert_int_equal(buf_read_file(&b, "/nonexistent/file"), -1);
    assert_int_equal(errno, ENOENT);
    unlink(fifo);
    unlink(path);
    rmdir(dir);
}

static void test_buf_steal_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    size_t len = 99;
    char *s = buf_steal(&b, &len);
    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_string_equal(s, ""); /* found by fuzz_webconfig: was not terminated */
    free(s);
    buf_init(&b, 4);
    assert_int_equal(buf_puts(&b, "abcd"), 0);
    assert_int_equal(buf_putc(&b, 'e'), -1); /* over the cap: fails and frees */
    assert_true(buf_failed(&b));
    assert_null(b.data);
    assert_int_equal(buf_puts(&b, "x"), -1); /* sticky */
    buf_free(&b);
    buf_free(NULL);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(expo_valid_metric_name("a:b_c9"));
    assert_true(expo_valid_metric_name(":a"));
    assert_false(expo_valid_metric_name("a b"));
    assert_false(expo_valid_metric_name(NULL));
    assert_true(expo_valid_label_name("_a9"));
    assert_false(expo_valid_label_name("a-b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_value_escaping),
        cmocka_unit_test(test_help_escaping),
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_fast_paths_match_reference),
        cmocka_unit_test(test_family_and_samples_exact),
        cmocka_unit_test(test_histogram_exact),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_duplicate_family),
        cmocka_unit_test(test_sample_before_family),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_sink),
        cmocka_unit_test(test_buf_read_stream),
        cmocka_unit_test(test_buf_read_file),
        cmocka_unit_test(test_buf_steal_empty),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
