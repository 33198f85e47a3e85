#define _GNU_SOURCE /* open_memstream */
/* Unit tests of flag parsing and durations: exact values and messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporter/flags.h"
#include "exporter/http.h"

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        uint64_t ms;
    } cases[] = {
        {"0", 0, 0},
        {"500ms", 0, 500},
        {"30s", 0, 30000},
        {"5m", 0, 300000},
        {"1h", 0, 3600000},
        {"7d", 0, 604800000},
        {"2w", 0, 1209600000},
        {"1y", 0, 31536000000},
        {"1h30m", 0, 5400000},
        {"1m30s500ms", 0, 90500},
        {"1d2h3m4s5ms", 0, 93784005},
        {"", -1, 0},
        {"5", -1, 0},
        {"m", -1, 0},
        {"-5s", -1, 0},
        {"5 s", -1, 0},
        {"1.5h", -1, 0},
        {"30m1h", -1, 0}, /* units in decreasing order only */
        {"1s1s", -1, 0},  /* each unit once */
        {"5S", -1, 0},
        {"5sec", -1, 0},
        {"99999999999999999999s", -1, 0},
        {"999999999999y", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ms = 0;
        int rc = flags_parse_duration(cases[i].in, &ms);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].in, rc, cases[i].rc);
        if (rc == 0)
            assert_int_equal(ms, cases[i].ms);
    }
}

static void test_format_duration(void **state)
{
    (void)state;
    static const struct {
        uint64_t ms;
        const char *out;
    } cases[] = {
        {0, "0s"},        {500, "500ms"},        {30000, "30s"},
        {300000, "5m"},   {5400000, "1h30m"},    {604800000, "1w"},
        {86400000, "1d"}, {90500, "1m30s500ms"}, {31536000000, "1y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        flags_format_duration(cases[i].ms, out, sizeof out);
        assert_string_equal(out, cases[i].out);
    }
}

static struct {
    const char *addr, *path;
    bool coll, other;
    uint64_t interval, n;
} v;

static struct flagset make_set(void)
{
    struct flagset fs = {0};
    struct flag f[] = {
        {"web.listen-address", FLAG_STRING, ":9813", "addr", &v.addr, 0, 0,
         http_check_listen_address},
        {"web.telemetry-path", FLAG_STRING, "/metrics", "path", &v.path, 0, 0, http_check_path},
        {"collector.organizations", FLAG_BOOL, "true", "orgs", &v.coll, 0, 0, NULL},
        {"collector.other", FLAG_BOOL, "false", "other", &v.other, 0, 0, NULL},
        {"collector.organizations.interval", FLAG_DURATION, "5m", "iv", &v.interval, 1000, 86400000,
         NULL},
        {"web.max-requests", FLAG_UINT, "40", "n", &v.n, 0, 1000, NULL},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        assert_int_equal(flagset_add(&fs, &f[i]), 0);
    return fs;
}

static int parse(struct flagset *fs, char *err, size_t errlen, ...)
{
    char *argv[16] = {"aws-org-exporter"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return flags_parse(fs, argc, argv, err, errlen);
}

static void test_defaults_and_forms(void **state)
{
    (void)state;
    struct flagset fs = make_set();
    char err[256];
    assert_int_equal(parse(&fs, err, sizeof err, NULL), FLAGS_OK);
    assert_string_equal(v.addr, ":9813");
    assert_string_equal(v.path, "/metrics");
    assert_true(v.coll);
    assert_false(v.other);
    assert_int_equal(v.interval, 300000);
    assert_int_equal(v.n, 40);

    assert_int_equal(parse(&fs, err, sizeof err, "--web.listen-address=127.0.0.1:9000",
                           "--web.telemetry-path", "/m", "--no-collector.organizations",
                           "--collector.other", "--collector.organizations.interval=90s",
                           "--web.max-requests", "7", NULL),
                     FLAGS_OK);
    assert_string_equal(v.addr, "127.0.0.1:9000");
    assert_string_equal(v.path, "/m");
    assert_false(v.coll);
    assert_true(v.other);
    assert_int_equal(v.interval, 90000);
    assert_int_equal(v.n, 7);

    assert_int_equal(parse(&fs, err, sizeof err, "--web.listen-address=[::1]:9813",
                           "--collector.organizations=false", "--collector.other=true", NULL),
                     FLAGS_OK);
    assert_string_equal(v.addr, "[::1]:9813");
    assert_false(v.coll);
    assert_true(v.other);
    assert_int_equal(parse(&fs, err, sizeof err, "--help", NULL), FLAGS_HELP);
    assert_int_equal(parse(&fs, err, sizeof err, "-h", NULL), FLAGS_HELP);
    assert_int_equal(parse(&fs, err, sizeof err, "--version", NULL), FLAGS_VERSION);
    flagset_free(&fs);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b, *msg;
    } cases[] = {
        {"--bogus", NULL, "unknown flag --bogus"},
        {"--bogus=1", NULL, "unknown flag --bogus"},
        {"--no-web.telemetry-path", NULL, "unknown flag --no-web.telemetry-path"},
        {"--no-collector.organizations=true", NULL, "unknown flag --no-collector.organizations"},
        {"web.max-requests", NULL, "unexpected argument \"web.max-requests\": flags start with --"},
        {"-x", NULL, "unexpected argument \"-x\": flags start with --"},
        {"--web.telemetry-path", NULL, "flag --web.telemetry-path needs a value"},
        {"--web.max-requests=abc", NULL,
         "invalid value \"abc\" for flag --web.max-requests: expected an integer"},
        {"--web.max-requests=-1", NULL,
         "invalid value \"-1\" for flag --web.max-requests: expected an integer"},
        {"--web.max-requests", "1001",
         "invalid value \"1001\" for flag --web.max-requests: expected an integer from 0 to 1000"},
        {"--collector.organizations.interval=5", NULL,
         "invalid value \"5\" for flag --collector.organizations.interval: expected a duration "
         "such as 500ms, 30s, 5m, 1h or 7d"},
        {"--collector.organizations.interval=500ms", NULL,
         "invalid value \"500ms\" for flag --collector.organizations.interval: expected a "
         "duration from 1s to 1d"},
        {"--collector.other=yes", NULL,
         "invalid value \"yes\" for flag --collector.other: expected true or false"},
        {"--web.listen-address=9813", NULL,
         "invalid value \"9813\" for flag --web.listen-address: expected [host]:port, such as "
         ":9813, 127.0.0.1:9813 or [::1]:9813"},
        {"--web.listen-address=::1:9813", NULL,
         "invalid value \"::1:9813\" for flag --web.listen-address: expected [host]:port, such "
         "as :9813, 127.0.0.1:9813 or [::1]:9813"},
        {"--web.telemetry-path=metrics", NULL,
         "invalid value \"metrics\" for flag --web.telemetry-path: expected a path starting "
         "with / without spaces, '?' or '#'"},
    };
    struct flagset fs = make_set();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        int rc = parse(&fs, err, sizeof err, cases[i].a, cases[i].b, NULL);
        if (rc != FLAGS_ERROR)
            fail_msg("%s: rc %d", cases[i].a, rc);
        assert_string_equal(err, cases[i].msg);
    }
    flagset_free(&fs);
}

static void test_usage_lists_every_flag(void **state)
{
    (void)state;
    struct flagset fs = make_set();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    flags_usage(&fs, f, "prog");
    fclose(f);
    assert_string_equal(text, "usage: prog [<flags>]\n\nFlags:\n"
                              "  -h, --help\n      Show this help and exit.\n"
                              "  --version\n      Show the version and exit.\n"
                              "  --web.listen-address=VALUE\n      addr (default: \":9813\")\n"
                              "  --web.telemetry-path=VALUE\n      path (default: \"/metrics\")\n"
                              "  --[no-]collector.organizations\n      orgs (default: enabled)\n"
                              "  --[no-]collector.other\n      other (default: disabled)\n"
                              "  --collector.organizations.interval=DURATION\n      iv (default: "
                              "\"5m\")\n"
                              "  --web.max-requests=N\n      n (default: \"40\")\n");
    free(text);
    flagset_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_duration),         cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_defaults_and_forms),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_usage_lists_every_flag),
    };
    return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
