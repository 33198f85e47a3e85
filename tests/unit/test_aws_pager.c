/*
 * Unit tests of the pager: every guard of every paginated listing, against
 * a scripted call in place of AWS. Exact values throughout.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collectors/aws/pager.h"

/* One scripted answer: a page of `items` numbered items and a NextToken
 * (NULL: none), or an error (code set), or a raw JSON answer. */
struct answer {
    int items;
    const char *next;
    const char *code, *message;
    const char *raw;
};

/* The script, and what the pager sent. */
static struct {
    const struct answer *answers;
    size_t nanswers, calls;
    int numbered;            /* the next item's number */
    char tokens[16][64];     /* the NextToken of each request, "" when none */
    char operations[16][64]; /* the operation of each request */
    json_int_t max_results[16];
} fake;

static void script(const struct answer *a, size_t n)
{
    memset(&fake, 0, sizeof fake);
    fake.answers = a;
    fake.nanswers = n;
}

/* aws_json_call's contract, answering from the script; the last answer
 * repeats (with a new token each time when it has one). */
static int fake_call(struct aws_client *c, enum aws_service svc, const char *operation,
                     json_t *request, json_t **response, struct aws_error *err)
{
    (void)c;
    assert_int_equal(svc, AWS_ORGANIZATIONS);
    size_t k = fake.calls++;
    if (k < 16) {
        const char *t = json_string_value(json_object_get(request, "NextToken"));
        snprintf(fake.tokens[k], sizeof fake.tokens[k], "%s", t ? t : "");
        snprintf(fake.operations[k], sizeof fake.operations[k], "%s", operation);
        fake.max_results[k] = json_integer_value(json_object_get(request, "MaxResults"));
    }
    const struct answer *a = &fake.answers[k < fake.nanswers ? k : fake.nanswers - 1];
    *response = NULL;
    if (a->code != NULL) {
        memset(err, 0, sizeof *err);
        err->http_status = 400;
        snprintf(err->code, sizeof err->code, "%s", a->code);
        snprintf(err->message, sizeof err->message, "%s", a->message);
        return -1;
    }
    if (a->raw != NULL) {
        *response = json_loads(a->raw, 0, NULL);
        assert_non_null(*response);
        return 0;
    }
    json_t *items = json_array();
    for (int i = 0; i < a->items; i++)
        json_array_append_new(items, json_pack("{s:i}", "N", fake.numbered++));
    *response = json_pack("{s:o}", "Accounts", items);
    if (a->next != NULL) {
        char token[64];
        if (k >= fake.nanswers) /* the endless tail: a new token each page */
            snprintf(token, sizeof token, "%s-%zu", a->next, k);
        else
            snprintf(token, sizeof token, "%s", a->next);
        json_object_set_new(*response, "NextToken", json_string(token));
    }
    return 0;
}

/* What the handler was given, and when it refuses. */
struct taken {
    int n[64];
    size_t count;
    int refuse;   /* refuse the item of this number (-1: none) */
    bool say_why; /* and write a reason */
};

static int take(void *arg, json_t *item, char *err, size_t errlen)
{
    struct taken *t = arg;
    int n = (int)json_integer_value(json_object_get(item, "N"));
    if (n == t->refuse) {
        if (t->say_why)
            snprintf(err, errlen, "ListAccounts: account %d is unreadable", n);
        return -1;
    }
    assert_true(t->count < 64);
    t->n[t->count++] = n;
    return 0;
}

static int count(void *arg, json_t *item, char *err, size_t errlen)
{
    (void)item;
    (void)err;
    (void)errlen;
    ++*(size_t *)arg;
    return 0;
}

static struct aws_pager pager(void)
{
    return (struct aws_pager){.service = AWS_ORGANIZATIONS,
                              .operation = "ListAccounts",
                              .items = "Accounts",
                              .call = fake_call};
}

/* Runs the pager on a {"MaxResults": 20} request; checks that the request
 * comes back as it went in (no NextToken left on it). */
static int run(const struct aws_pager *p, struct taken *t, struct aws_pager_status *st, char *err,
               size_t errlen)
{
    json_t *req = json_pack("{s:i}", "MaxResults", 20);
    int rc = aws_pager_run(p, req, take, t, st, err, errlen);
    char *after = json_dumps(req, JSON_COMPACT);
    assert_string_equal(after, "{\"MaxResults\":20}");
    free(after);
    json_decref(req);
    return rc;
}

/* How each listing ends: the script, the pager's limits, what comes out. */
static void test_endings(void **state)
{
    (void)state;
    static const struct answer
        endless[] = {{1, "more", 0, 0, 0}}, /* a new token each page */
        three[] = {{2, "t1", 0, 0, 0}, {0, "t2", 0, 0, 0}, {3, NULL, 0, 0, 0}},
        empty_token[] = {{1, "", 0, 0, 0}},
        null_token[] = {{0, NULL, 0, 0, "{\"Accounts\": [{\"N\": 0}], \"NextToken\": null}"}},
        aba[] = {{1, "A", 0, 0, 0}, {1, "B", 0, 0, 0}, {1, "A", 0, 0, 0}},
        aa[] = {{1, "A", 0, 0, 0}, {1, "A", 0, 0, 0}},
        throttled[] = {{2, "t1", 0, 0, 0}, {0, NULL, "ThrottlingException", "Rate exceeded", 0}},
        denied[] = {{0, NULL, "AccessDeniedException", "not authorized", 0}},
        no_items[] = {{1, "t1", 0, 0, 0}, {0, NULL, 0, 0, "{}"}},
        not_array[] = {{1, "t1", 0, 0, 0}, {0, NULL, 0, 0, "{\"Accounts\": {}}"}},
        int_token[] = {{1, "t1", 0, 0, 0}, {0, NULL, 0, 0, "{\"Accounts\": [], \"NextToken\": 7}"}},
        two_pages[] = {{2, "t1", 0, 0, 0}, {2, NULL, 0, 0, 0}};
#define SCRIPT(a) a, sizeof a / sizeof a[0]
    static const struct {
        const struct answer *answers;
        size_t nanswers;
        size_t max_pages, max_items;
        int refuse;
        bool say_why, stopping;
        enum aws_pager_result result;
        const char *err; /* NULL: untouched */
        size_t pages, items, calls;
    } cases[] = {
        {SCRIPT(three), 0, 0, -1, false, false, AWS_PAGER_OK, NULL, 3, 5, 3},
        /* An empty NextToken ends a listing as an absent or null one does. */
        {SCRIPT(empty_token), 0, 0, -1, false, false, AWS_PAGER_OK, NULL, 1, 1, 1},
        {SCRIPT(null_token), 0, 0, -1, false, false, AWS_PAGER_OK, NULL, 1, 1, 1},
        {SCRIPT(endless), 4, 0, -1, false, false, AWS_PAGER_TOO_MANY_PAGES,
         "ListAccounts: more than 4 pages", 4, 4, 4},
        /* A, B, A: not the previous token, one seen two pages before. */
        {SCRIPT(aba), 0, 0, -1, false, false, AWS_PAGER_REPEATED_TOKEN,
         "ListAccounts: NextToken repeated on page 3", 3, 3, 3},
        {SCRIPT(aa), 0, 0, -1, false, false, AWS_PAGER_REPEATED_TOKEN,
         "ListAccounts: NextToken repeated on page 2", 2, 2, 2},
        /* An error on page 2: page 1's items were handed over (the caller
         * discards them), the client's error is kept whole. */
        {SCRIPT(throttled), 0, 0, -1, false, false, AWS_PAGER_CALL_FAILED,
         "ListAccounts: ThrottlingException: Rate exceeded (page 2)", 1, 2, 2},
        {SCRIPT(denied), 0, 0, -1, false, false, AWS_PAGER_CALL_FAILED,
         "ListAccounts: access denied: the exporter's role needs organizations:ListAccounts "
         "(AWS said: not authorized) (page 1)",
         0, 0, 1},
        {SCRIPT(no_items), 0, 0, -1, false, false, AWS_PAGER_MALFORMED,
         "ListAccounts: malformed page 2", 2, 1, 2},
        {SCRIPT(not_array), 0, 0, -1, false, false, AWS_PAGER_MALFORMED,
         "ListAccounts: malformed page 2", 2, 1, 2},
        {SCRIPT(int_token), 0, 0, -1, false, false, AWS_PAGER_MALFORMED,
         "ListAccounts: malformed page 2", 2, 1, 2},
        /* Refused without a reason, the pager names the page; with one, the
         * handler's stays. */
        {SCRIPT(two_pages), 0, 0, 2, false, false, AWS_PAGER_ITEM_REJECTED,
         "ListAccounts: malformed item on page 2", 2, 2, 2},
        {SCRIPT(two_pages), 0, 0, 3, true, false, AWS_PAGER_ITEM_REJECTED,
         "ListAccounts: account 3 is unreadable", 2, 3, 2},
        {SCRIPT(two_pages), 0, 3, -1, false, false, AWS_PAGER_TOO_MANY_ITEMS,
         "ListAccounts: more than 3 items", 2, 3, 2},
        {SCRIPT(two_pages), 0, 4, -1, false, false, AWS_PAGER_OK, NULL, 2, 4, 2},
        {SCRIPT(endless), 0, 0, -1, false, true, AWS_PAGER_STOPPED, "ListAccounts: stopping", 0, 0,
         0},
    };
#undef SCRIPT
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        script(cases[i].answers, cases[i].nanswers);
        atomic_bool stopping = cases[i].stopping;
        struct aws_pager p = pager();
        p.max_pages = cases[i].max_pages;
        p.max_items = cases[i].max_items;
        p.stopping = &stopping;
        struct taken t = {.refuse = cases[i].refuse, .say_why = cases[i].say_why};
        struct aws_pager_status st;
        char err[256] = "untouched";
        int rc = run(&p, &t, &st, err, sizeof err);
        assert_int_equal(rc, cases[i].result == AWS_PAGER_OK ? 0 : -1);
        assert_int_equal(st.result, cases[i].result);
        assert_string_equal(err, cases[i].err ? cases[i].err : "untouched");
        assert_int_equal(st.pages, cases[i].pages);
        assert_int_equal(st.items, cases[i].items);
        assert_int_equal(t.count, cases[i].items);
        assert_int_equal(fake.calls, cases[i].calls);
        for (size_t k = 0; k < t.count; k++)
            assert_int_equal(t.n[k], k); /* in order, each once */
        if (cases[i].result == AWS_PAGER_CALL_FAILED)
            assert_int_equal(st.error.http_status, 400);
    }
}

/* Each page's request: the caller's members, and the token of the page before. */
static void test_token_passing(void **state)
{
    (void)state;
    static const struct answer a[] = {{1, "A", 0, 0, 0}, {1, "B", 0, 0, 0}, {1, "A", 0, 0, 0}};
    script(a, 3);
    struct aws_pager p = pager();
    struct taken t = {.refuse = -1};
    char err[256];
    assert_int_equal(run(&p, &t, NULL, err, sizeof err), -1);
    assert_int_equal(fake.calls, 3);
    static const char *const sent[] = {"", "A", "B"};
    for (size_t k = 0; k < 3; k++) {
        assert_string_equal(fake.tokens[k], sent[k]);
        assert_string_equal(fake.operations[k], "ListAccounts");
        assert_int_equal(fake.max_results[k], 20);
    }
    /* The endless script's tokens: "more", then new ones. */
    static const struct answer endless[] = {{1, "more", 0, 0, 0}};
    script(endless, 1);
    p.max_pages = 4;
    assert_int_equal(run(&p, &t, NULL, err, sizeof err), -1);
    assert_string_equal(fake.tokens[1], "more");
    assert_string_equal(fake.tokens[2], "more-1");
    assert_string_equal(fake.tokens[3], "more-2");
}

/* No cap given: the default one, AWS_PAGER_MAX_PAGES. */
static void test_default_page_cap(void **state)
{
    (void)state;
    static const struct answer a[] = {{1, "more", 0, 0, 0}};
    script(a, 1);
    struct aws_pager p = pager();
    size_t n = 0;
    char err[256];
    json_t *req = json_object();
    assert_int_equal(aws_pager_run(&p, req, count, &n, NULL, err, sizeof err), -1);
    json_decref(req);
    assert_string_equal(err, "ListAccounts: more than 10100 pages");
    assert_int_equal(fake.calls, AWS_PAGER_MAX_PAGES);
    assert_int_equal(n, AWS_PAGER_MAX_PAGES);
}

/* A message too long for err is cut; the page stays at the end. The label
 * replaces the operation's name. */
static void test_long_message_cut(void **state)
{
    (void)state;
    static const struct answer a[] = {
        {0, NULL, "InternalFailure", "0123456789012345678901234567890123456789", 0}};
    script(a, 1);
    struct aws_pager p = pager();
    p.label = "ListAccounts o-1";
    struct taken t = {.refuse = -1};
    char small[48];
    assert_int_equal(run(&p, &t, NULL, small, sizeof small), -1);
    assert_string_equal(small, "ListAccounts o-1: InternalFailure: 012 (page 1)");
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* The wording of a failed call outside a listing too. */
static void test_explain(void **state)
{
    (void)state;
    struct aws_error e = {403, "AccessDeniedException", "no"};
    char out[160];
    aws_pager_explain(&e, AWS_CLOUDTRAIL, "LookupEvents", "LookupEvents LeaveOrganization", out,
                      sizeof out);
    assert_string_equal(out, "LookupEvents LeaveOrganization: access denied: the exporter's role "
                             "needs cloudtrail:LookupEvents (AWS said: no)");
    e = (struct aws_error){0, "Timeout", "timed out after 30s"};
    aws_pager_explain(&e, AWS_ORGANIZATIONS, "DescribeOrganization", "DescribeOrganization", out,
                      sizeof out);
    assert_string_equal(out, "DescribeOrganization: Timeout: timed out after 30s");
    char small[12];
    aws_pager_explain(&e, AWS_ORGANIZATIONS, "DescribeOrganization", "DescribeOrganization", small,
                      sizeof small);
    assert_string_equal(small, "DescribeOrg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endings),          cmocka_unit_test(test_token_passing),
        cmocka_unit_test(test_default_page_cap), cmocka_unit_test(test_long_message_cut),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
