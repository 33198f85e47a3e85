/*
 * Unit tests of what the SCP collector keeps between runs: the target lists
 * (sorted sets of ids, moved, merged back after a failed run), the entities
 * known, and the policy changes the trail ledger notes. Exact values.
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

#include "collectors/scp_changes.h"
#include "collectors/scp_targets.h"
#include "lib/clock.h"

/* The ids of l joined with '|'. */
static const char *joined(const struct scp_target_list *l)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0)
            strcat(buf, "|");
        strcat(buf, l->ids[i]);
    }
    return buf;
}

static void test_list(void **state)
{
    (void)state;
    struct scp_targets ts = {0};
    struct scp_target_list *l = scp_targets_add(&ts, "p-b", 100, true);
    assert_non_null(l);
    /* As a listing reads them: unsorted, a duplicate across pages. */
    for (const char *const *id = (const char *const[]){"ou-2", "222", "111", "ou-2", NULL}; *id;
         id++)
        assert_int_equal(scp_target_list_append(l, *id), 0);
    scp_target_list_sort(l);
    assert_string_equal(joined(l), "111|222|ou-2");
    assert_true(scp_target_list_has(l, "222"));
    assert_false(scp_target_list_has(l, "333"));
    assert_int_equal(scp_target_list_insert(l, "1500"), 0);
    assert_int_equal(scp_target_list_insert(l, "1500"), 0);
    scp_target_list_remove(l, "222");
    scp_target_list_remove(l, "999");
    assert_string_equal(joined(l), "111|1500|ou-2");
    /* Sorted by policy id whatever the order of adds. */
    assert_non_null(scp_targets_add(&ts, "p-a", 50, true));
    assert_null(scp_targets_add(&ts, "p-a", 60, true));
    assert_int_equal(ts.n, 2);
    assert_string_equal(ts.v[0].policy, "p-a");
    assert_string_equal(joined(scp_targets_find(&ts, "p-b")), "111|1500|ou-2");
    assert_null(scp_targets_find(&ts, "p-c"));
    scp_targets_clear(&ts);
    assert_int_equal(ts.n, 0);
    scp_targets_clear(NULL);
}

static void test_move_and_merge(void **state)
{
    (void)state;
    struct scp_targets kept = {0}, next = {0};
    struct scp_target_list *a = scp_targets_add(&kept, "p-a", 10, true);
    assert_int_equal(scp_target_list_append(a, "111"), 0);
    struct scp_target_list *b = scp_targets_add(&kept, "p-b", 10, true);
    assert_int_equal(scp_target_list_append(b, "222"), 0);
    /* A run keeps p-a, reads p-b again, then fails. */
    struct scp_target_list *m = scp_targets_move(&kept, &next, "p-a");
    assert_non_null(m);
    assert_false(m->fresh);
    assert_int_equal(m->read_at, 10);
    assert_null(scp_targets_move(&kept, &next, "p-z"));
    struct scp_target_list *r = scp_targets_add(&next, "p-b", 20, true);
    assert_int_equal(scp_target_list_append(r, "333"), 0);
    assert_int_equal(kept.n, 1);
    scp_targets_merge(&kept, &next);
    assert_int_equal(next.n, 0);
    assert_int_equal(kept.n, 2);
    assert_string_equal(joined(scp_targets_find(&kept, "p-a")), "111");
    assert_string_equal(joined(scp_targets_find(&kept, "p-b")), "333");
    assert_int_equal(scp_targets_find(&kept, "p-b")->read_at, 20);
    scp_targets_clear(&kept);
}

static void test_known(void **state)
{
    (void)state;
    struct scp_known k = {0};
    assert_int_equal(scp_known_append(&k, "ou-1", 0), 0);
    assert_int_equal(scp_known_append(&k, "222", 1700000000), 0);
    assert_int_equal(scp_known_append(&k, "111", 1600000000), 0);
    scp_known_sort(&k);
    assert_true(scp_known_has(&k, "111", 1600000000));
    assert_false(scp_known_has(&k, "111", 1800000000)); /* joined again */
    assert_true(scp_known_has(&k, "ou-1", 0));
    assert_false(scp_known_has(&k, "333", 0));
    scp_known_clear(&k);
    scp_known_clear(NULL);
}

static void test_changes(void **state)
{
    (void)state;
    scp_changes_reset();
    assert_false(scp_changes_watched());
    scp_changes_watch();
    assert_true(scp_changes_watched());
    double now = clock_wall();
    scp_changes_note("DetachPolicy", "p-a", "SERVICE_CONTROL_POLICY", 1000);
    scp_changes_note("AttachPolicy", "p-a", "unknown", 2000);
    scp_changes_note("AttachPolicy", "p-a", "", 1500);           /* older: the newest stays */
    scp_changes_note("DetachPolicy", "p-b", "TAG_POLICY", 3000); /* not an SCP */
    scp_changes_note("DetachPolicy", "p-b", "not_found", 3000);  /* AWS no longer knows it */
    scp_changes_note("UpdatePolicy", "p-c", "SERVICE_CONTROL_POLICY", 3000);        /* a document */
    scp_changes_note("AttachPolicy", "p-d", "SERVICE_CONTROL_POLICY", now + 86400); /* ahead */
    assert_int_equal(scp_changes_newest("p-a"), 2000);
    assert_int_equal(scp_changes_newest("p-b"), 0);
    assert_int_equal(scp_changes_newest("p-c"), 0);
    assert_true(scp_changes_newest("p-d") >= now && scp_changes_newest("p-d") < now + 60);
    /* A record that names no policy: a change of every policy. */
    scp_changes_note("DetachPolicy", "", "", 5000);
    assert_int_equal(scp_changes_newest("p-a"), 5000);
    assert_int_equal(scp_changes_newest("p-b"), 5000);
    scp_changes_reset();
    assert_int_equal(scp_changes_newest("p-a"), 0);
    assert_false(scp_changes_watched());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_move_and_merge),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
