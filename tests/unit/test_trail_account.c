/*
 * Unit tests of trail_account's parts that need no AWS: the check of
 * --collector.cloudtrail.role-arn, and the metric before any verdict (the
 * verdicts themselves are tested against the fake AWS in
 * tests/integration/test_cloudtrail.py). Exact values throughout.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "collectors/trail_account.h"

static const char expected[] = "an IAM role ARN such as arn:aws:iam::111111111111:role/name";

static void test_role_arn(void **state)
{
    (void)state;
    static const struct {
        const char *arn;
        bool ok;
    } cases[] = {
        {"", true}, /* no role */
        {"arn:aws:iam::111111111111:role/aws-org-exporter", true},
        {"arn:aws-us-gov:iam::111111111111:role/ops/aws-org-exporter", true},
        {"arn:aws-cn:iam::111111111111:role/a+b=c,d.e@f_g-h", true},
        {"aws-org-exporter", false},                           /* a name, not an ARN */
        {"arn:aws:iam::111111111111:role/", false},            /* no name */
        {"arn:aws:iam::111111111111:role/path/", false},       /* a path, no name */
        {"arn:aws:iam::11111111111:role/x", false},            /* 11 digits */
        {"arn:aws:iam::1111111111111:role/x", false},          /* 13 digits */
        {"arn:aws:iam::111111111111:user/x", false},           /* a user */
        {"arn:aws:sts::111111111111:assumed-role/x/s", false}, /* a session */
        {"arn::iam::111111111111:role/x", false},              /* no partition */
        {"arn:aws:iam::111111111111:role/x y", false},         /* a space */
        {"arn:aws:iam::111111111111:role/x\n", false},         /* a newline */
        {"ARN:aws:iam::111111111111:role/x", false},           /* case matters */
        {"arn:aws:iam:us-east-1:111111111111:role/x", false},  /* IAM has no region */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = trail_account_check_role_arn(cases[i].arn);
        if (cases[i].ok)
            assert_null(got);
        else
            assert_string_equal(got, expected);
    }
    char long_arn[2100];
    int n = snprintf(long_arn, sizeof long_arn, "arn:aws:iam::111111111111:role/");
    memset(long_arn + n, 'a', sizeof long_arn - (size_t)n - 1);
    long_arn[sizeof long_arn - 1] = '\0';
    assert_string_equal(trail_account_check_role_arn(long_arn), expected);
}

/* Before any check, and without a checker, the family is there, empty. */
static void test_metric_without_verdict(void **state)
{
    (void)state;
    struct trail_account *t = trail_account_create("");
    assert_non_null(t);
    for (int pass = 0; pass < 2; pass++) {
        struct buf b;
        buf_init(&b, 1 << 16);
        struct expo e;
        expo_init(&e, &b);
        trail_account_write_metrics(pass == 0 ? t : NULL, &e);
        assert_null(expo_error(&e));
        assert_string_equal(
            b.data,
            "# HELP aws_org_cloudtrail_wrong_account_info 1 while the CloudTrail collector reads "
            "the event history of an account (caller_account_id: its credentials', or the "
            "role's of --collector.cloudtrail.role-arn) that is not the organization's "
            "management account: membership events are recorded only there, so the collector "
            "is down. No sample otherwise.\n"
            "# TYPE aws_org_cloudtrail_wrong_account_info gauge\n");
        expo_free(&e);
        buf_free(&b);
    }
    trail_account_destroy(t);
    trail_account_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_arn),
        cmocka_unit_test(test_metric_without_verdict),
    };
    return cmocka_run_group_tests_name("trail_account", tests, NULL, NULL);
}
