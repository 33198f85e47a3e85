/*
 * Unit tests of collectors/trail_ledger.c: each event counted once whichever
 * path saw it first, the source labels, the poll's marks, pruning by the
 * paths' horizons, and the state file across a "restart" (the last reference
 * given back, the ledger made again from the file), older files included.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "collectors/trail_ledger.h"
#include "lib/buf.h"
#include "exporter/expo.h"

static char state_path[64];

/* Parses the ledger's flags: the state file, 3 recent events, 2 names. */
static void configure(const char *state)
{
    struct flagset fs = {0};
    assert_int_equal(trail_shared.add_flags(&fs), 0);
    static char file[128]; /* string flags point into argv */
    snprintf(file, sizeof file, "--state.file=%s", state);
    char *argv[] = {"x", file, "--collector.cloudtrail.recent-events=3",
                    "--collector.cloudtrail.events=LeaveOrganization,AcceptHandshake", NULL};
    char err[256];
    assert_int_equal(flags_parse(&fs, 4, argv, err, sizeof err), FLAGS_OK);
    flagset_free(&fs);
}

static struct trail_record rec(const char *id, const char *name, enum trail_outcome o, double t,
                               const char *account)
{
    struct trail_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.event_id, sizeof r.event_id, "%s", id);
    snprintf(r.event_name, sizeof r.event_name, "%s", name);
    snprintf(r.affected_account, sizeof r.affected_account, "%s", account);
    snprintf(r.error_code, sizeof r.error_code, "%s", o == TRAIL_DENIED ? "AccessDenied" : "");
    r.outcome = o;
    r.event_time = t;
    return r;
}

/* The ledger's families as text; the caller frees it. */
static char *families(void)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    struct expo e;
    expo_init(&e, &b);
    assert_int_equal(trail_ledger_write_metrics(NULL, &e), 0);
    assert_null(expo_error(&e));
    expo_free(&e);
    size_t len;
    char *text = buf_steal(&b, &len);
    buf_free(&b);
    return text;
}

static const char *line(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return p;
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(state_path, sizeof state_path, "/tmp/test-ledger-%ld.json", (long)getpid());
    unlink(state_path);
    configure(state_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(state_path);
    return 0;
}

static void test_once_across_paths(void **state)
{
    (void)state;
    char err[256];
    struct trail_ledger *l = trail_ledger_get(err, sizeof err);
    assert_non_null(l);
    assert_ptr_equal(trail_ledger_get(err, sizeof err), l); /* one per process */
    assert_int_equal(trail_ledger_nwatched(l), 2);
    assert_int_equal(trail_ledger_find(l, "AcceptHandshake"), 1);
    assert_int_equal(trail_ledger_find(l, "DeletePolicy"), -1);
    double now = (double)time(NULL);
    struct trail_record leave = rec("e1", "LeaveOrganization", TRAIL_DENIED, now - 10, "2");
    trail_ledger_begin(l);
    assert_false(trail_ledger_seen(l, "e1"));
    assert_int_equal(trail_ledger_count(l, 0, TRAIL_SOURCE_EVENTBRIDGE, true, &leave, ""), 1);
    assert_true(trail_ledger_seen(l, "e1"));
    /* The poll and the fan-out return it later: counted already. */
    assert_int_equal(trail_ledger_count(l, 0, TRAIL_SOURCE_LOOKUP, false, &leave, ""), 0);
    assert_int_equal(trail_ledger_count(l, 0, TRAIL_SOURCE_MEMBER, true, &leave, ""), 0);
    struct trail_record mgmt = rec("e2", "AcceptHandshake", TRAIL_SUCCESS, now - 5, "1");
    assert_int_equal(trail_ledger_count(l, 1, TRAIL_SOURCE_EVENTBRIDGE, false, &mgmt, ""), 1);
    assert_int_equal(trail_ledger_count(l, 2, TRAIL_SOURCE_LOOKUP, false, &mgmt, ""), 0);
    /* The queue never moves the poll's marks. */
    double polled, newest;
    trail_ledger_marks(l, 0, &polled, &newest);
    assert_true(polled == 0 && newest == 0);
    struct trail_record late = rec("e3", "LeaveOrganization", TRAIL_SUCCESS, now - 100, "3");
    assert_int_equal(trail_ledger_count(l, 0, TRAIL_SOURCE_LOOKUP, false, &late, ""), 1);
    trail_ledger_polled(l, now);
    trail_ledger_marks(l, 0, &polled, &newest);
    assert_true(polled == now && newest == now - 100);

    char *text = families();
    assert_non_null(line(text, "aws_org_cloudtrail_events_total{event_name=\"LeaveOrganization\","
                               "outcome=\"denied\"} 1\n"));
    assert_non_null(line(text, "aws_org_cloudtrail_events_total{event_name=\"LeaveOrganization\","
                               "outcome=\"success\"} 1\n"));
    assert_non_null(line(text, "aws_org_cloudtrail_events_total{event_name=\"AcceptHandshake\","
                               "outcome=\"success\"} 1\n"));
    assert_non_null(
        line(text, "aws_org_cloudtrail_event_delay_seconds_count{source=\"eventbridge\"} 2\n"));
    assert_non_null(
        line(text, "aws_org_cloudtrail_event_delay_seconds_count{source=\"lookup\"} 1\n"));
    assert_non_null(
        line(text, "aws_org_cloudtrail_event_delay_seconds_count{source=\"member\"} 0\n"));
    /* Whose record: a member's from the queue says member; the management
     * account's from the queue says eventbridge. Newest first in a batch. */
    const char *e1 = line(text, "aws_org_cloudtrail_recent_event_info{event_id=\"e1\"");
    const char *e2 = line(text, "aws_org_cloudtrail_recent_event_info{event_id=\"e2\"");
    assert_non_null(e1);
    assert_non_null(e2);
    assert_true(strstr(e1, "source=\"member\"} ") < strchr(e1, '\n'));
    assert_true(strstr(e2, "source=\"eventbridge\"} ") < strchr(e2, '\n'));
    assert_true(e2 < e1);
    free(text);

    /* Saved, given back, made again: nothing recounted, the labels kept. */
    assert_int_equal(trail_ledger_save(l, err, sizeof err), 0);
    trail_ledger_release(l);
    trail_ledger_release(l);
    l = trail_ledger_get(err, sizeof err);
    assert_non_null(l);
    assert_int_equal(trail_ledger_count(l, 0, TRAIL_SOURCE_LOOKUP, false, &leave, ""), 0);
    text = families();
    assert_non_null(
        line(text, "aws_org_cloudtrail_event_delay_seconds_count{source=\"eventbridge\"} 2\n"));
    e1 = line(text, "aws_org_cloudtrail_recent_event_info{event_id=\"e1\"");
    assert_non_null(e1);
    assert_true(strstr(e1, "source=\"member\"} ") < strchr(e1, '\n'));
    free(text);

    /* Forgotten only behind every path's horizon. */
    trail_ledger_prune(l, TRAIL_PATH_POLL, now - 1000);
    trail_ledger_prune(l, TRAIL_PATH_QUEUE, now - 50);
    assert_true(trail_ledger_seen(l, "e3")); /* the poll may still return it */
    trail_ledger_prune(l, TRAIL_PATH_POLL, now);
    assert_false(trail_ledger_seen(l, "e3"));
    assert_true(trail_ledger_seen(l, "e1"));
    trail_ledger_release(l);
}

/* A state file of 0.2 (12 delay buckets, no eventbridge source) loads: its
 * buckets go above the new 1 s and 5 s bounds. */
static void test_older_state_file(void **state)
{
    (void)state;
    double now = (double)time(NULL);
    FILE *f = fopen(state_path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"kind\":\"aws-org-exporter/cloudtrail\",\"version\":1,\"region\":\"us-east-1\","
            "\"polled_at\":%.0f,\"events\":{\"LeaveOrganization\":{\"counts\":[0,2,0],"
            "\"last\":[0,%.0f,0],\"newest\":%.0f}},\"seen\":[[\"a\",%.0f],[\"b\",%.0f]],"
            "\"recent\":[],\"delay\":{\"lookup\":{\"buckets\":[0,1,0,0,0,0,0,1,0,0,0,0],"
            "\"sum\":1500}}}",
            now - 60, now - 120, now - 120, now - 120, now - 300);
    fclose(f);
    char err[256];
    struct trail_ledger *l = trail_ledger_get(err, sizeof err);
    assert_non_null(l);
    assert_true(trail_ledger_seen(l, "a"));
    char *text = families();
    assert_non_null(line(text, "aws_org_cloudtrail_events_total{event_name=\"LeaveOrganization\","
                               "outcome=\"denied\"} 2\n"));
    assert_non_null(line(
        text, "aws_org_cloudtrail_event_delay_seconds_bucket{source=\"lookup\",le=\"5\"} 0\n"));
    assert_non_null(line(
        text, "aws_org_cloudtrail_event_delay_seconds_bucket{source=\"lookup\",le=\"60\"} 1\n"));
    assert_non_null(line(
        text, "aws_org_cloudtrail_event_delay_seconds_bucket{source=\"lookup\",le=\"3600\"} 2\n"));
    assert_non_null(
        line(text, "aws_org_cloudtrail_event_delay_seconds_sum{source=\"lookup\"} 1500\n"));
    free(text);
    trail_ledger_release(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_once_across_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_state_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
