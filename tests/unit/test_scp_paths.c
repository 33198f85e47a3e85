/*
 * Unit tests of the SCP collector's structure: the accounts' Paths (split,
 * checked, placed) and the tree of nodes they fill. Exact values throughout.
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
#include <jansson.h>

#include "collectors/scp_paths.h"
#include "collectors/scp_tree.h"

static void test_split(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        size_t n;
        const char *joined; /* the elements, joined with '|' */
    } cases[] = {
        {"o-a/r-1/111111111111/", 3, "o-a|r-1|111111111111"},
        {"o-a/r-1/ou-1/ou-2/111111111111/", 5, "o-a|r-1|ou-1|ou-2|111111111111"},
        {"o-a/r-1/111111111111", 0, ""},      /* no final '/' */
        {"o-a//r-1/111111111111/", 0, ""},    /* an empty element */
        {"x-a/r-1/111111111111/", 0, ""},     /* not an organization */
        {"o-a/r-2/111111111111/", 0, ""},     /* another root */
        {"o-a/r-1/222222222222/", 0, ""},     /* another account */
        {"o-a/r-1/p-1/111111111111/", 0, ""}, /* not an OU */
        {"o-a/r-1/", 0, ""},                  /* no account */
        {"/", 0, ""},                         /* nothing */
        {"o-a/r-1/ou-1/ou-2/ou-3/ou-4/ou-5/ou-6/ou-7/ou-8/111111111111/", 0, ""}, /* too deep */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024], *el[SCP_PATH_MAX_ELEMENTS];
        size_t n = scp_path_split(cases[i].path, "r-1", "111111111111", buf, sizeof buf, el);
        assert_int_equal(n, cases[i].n);
        char joined[256] = "";
        for (size_t k = 0; k < n; k++) {
            if (k > 0)
                strcat(joined, "|");
            strcat(joined, el[k]);
        }
        assert_string_equal(joined, cases[i].joined);
    }
    /* A path longer than the caller's buffer is not split. */
    char buf[8], *el[SCP_PATH_MAX_ELEMENTS];
    assert_int_equal(
        scp_path_split("o-a/r-1/111111111111/", "r-1", "111111111111", buf, sizeof buf, el), 0);
}

/* A listing of accounts with these ids and paths (path NULL: none). */
static struct org_listing listing(struct org_account *a, size_t n)
{
    return (struct org_listing){.org_id = "o-a", .accounts = a, .n = n};
}

static const char *parent_of(struct scp_tree *t, const char *id)
{
    struct scp_node *nd = scp_tree_node(t, id, false);
    return nd == NULL ? "absent" : nd->parent ? nd->parent : "none";
}

static void test_place(void **state)
{
    (void)state;
    struct org_account a[] = {
        {.id = "111111111111", .path = "o-a/r-1/ou-1/ou-2/111111111111/"},
        {.id = "222222222222", .path = "o-a/r-1/ou-1/222222222222/"},
        {.id = "333333333333", .path = "o-a/r-1/333333333333/"},
    };
    struct org_listing l = listing(a, 3);
    struct scp_tree t = {0};
    snprintf(t.root, sizeof t.root, "r-1");
    assert_true(scp_paths_usable(&t, &l));
    char err[128] = "";
    assert_int_equal(scp_paths_place(&t, &l, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_string_equal(parent_of(&t, "111111111111"), "ou-2");
    assert_string_equal(parent_of(&t, "ou-2"), "ou-1");
    assert_string_equal(parent_of(&t, "ou-1"), "r-1");
    assert_string_equal(parent_of(&t, "222222222222"), "ou-1");
    assert_string_equal(parent_of(&t, "333333333333"), "r-1");
    assert_string_equal(parent_of(&t, "r-1"), "absent"); /* not placed: the root */
    assert_int_equal(t.n, 5);
    scp_tree_forget_parents(&t);
    assert_string_equal(parent_of(&t, "ou-2"), "none");
    assert_int_equal(t.n, 5);
    scp_tree_free(&t);
    scp_tree_free(NULL);
}

static void test_paths_that_disagree_or_are_missing(void **state)
{
    (void)state;
    /* ou-2 under ou-1, then under the root: the paths disagree. */
    struct org_account moved[] = {
        {.id = "111111111111", .path = "o-a/r-1/ou-1/ou-2/111111111111/"},
        {.id = "222222222222", .path = "o-a/r-1/ou-2/222222222222/"},
    };
    struct org_listing l = listing(moved, 2);
    struct scp_tree t = {0};
    snprintf(t.root, sizeof t.root, "r-1");
    assert_true(scp_paths_usable(&t, &l));
    char err[128] = "";
    assert_int_equal(scp_paths_place(&t, &l, err, sizeof err), 1);
    scp_tree_free(&t);
    /* One account without a path, one of another organization, none at all:
     * the tree is walked instead. */
    struct org_account without[] = {
        {.id = "111111111111", .path = "o-a/r-1/111111111111/"},
        {.id = "222222222222", .path = NULL},
    };
    struct org_account other[] = {{.id = "111111111111", .path = "o-b/r-1/111111111111/"}};
    t = (struct scp_tree){0};
    snprintf(t.root, sizeof t.root, "r-1");
    l = listing(without, 2);
    assert_false(scp_paths_usable(&t, &l));
    l = listing(other, 1);
    assert_false(scp_paths_usable(&t, &l));
    l = listing(other, 0);
    assert_false(scp_paths_usable(&t, &l));
}

/* Parses a ListAccounts entry with this id and path into a. */
static void parse(struct org_account *a, struct org_listing *owner, const char *id,
                  const char *path)
{
    json_t *j = json_pack("{s:s, s:s, s:[s]}", "Id", id, "Name", "n", "Paths", path);
    assert_non_null(j);
    char err[128] = "";
    assert_int_equal(org_account_parse(j, a, owner, err, sizeof err), 0);
    json_decref(j);
}

/* A path that ends with the account's own id is kept as its parent's, one
 * copy per listing; it comes back whole, and is placed as before. */
static void test_parent_paths_shared(void **state)
{
    (void)state;
    struct org_listing *l = calloc(1, sizeof *l);
    assert_non_null(l);
    atomic_init(&l->refs, 1);
    l->org_id = strdup("o-a");
    struct org_account a[4];
    parse(&a[0], l, "111111111111", "o-a/r-1/ou-1/111111111111/");
    parse(&a[1], l, "222222222222", "o-a/r-1/ou-1/222222222222/");
    parse(&a[2], l, "333333333333", "o-a/r-1/ou-1/444444444444/"); /* not its own */
    parse(&a[3], l, "555555555555", "o-a/r-1/555555555555/");
    assert_string_equal(a[0].parent_path, "o-a/r-1/ou-1/");
    assert_ptr_equal(a[0].parent_path, a[1].parent_path);
    assert_null(a[0].path);
    assert_null(a[2].parent_path);
    assert_string_equal(a[2].path, "o-a/r-1/ou-1/444444444444/");
    assert_string_equal(a[3].parent_path, "o-a/r-1/");
    char buf[64];
    assert_string_equal(org_account_path(&a[1], buf, sizeof buf), "o-a/r-1/ou-1/222222222222/");
    assert_string_equal(org_account_path(&a[2], buf, sizeof buf), "o-a/r-1/ou-1/444444444444/");
    assert_null(org_account_path(&a[1], buf, 20)); /* does not fit */
    struct org_account none = {.id = "666666666666"};
    assert_null(org_account_path(&none, buf, sizeof buf));
    /* Without an owner the whole path stays with the account. */
    struct org_account alone;
    parse(&alone, NULL, "111111111111", "o-a/r-1/ou-1/111111111111/");
    assert_null(alone.parent_path);
    assert_string_equal(alone.path, "o-a/r-1/ou-1/111111111111/");
    org_account_free(&alone);

    l->accounts = a;
    l->n = 2;
    struct scp_tree t = {0};
    snprintf(t.root, sizeof t.root, "r-1");
    assert_true(scp_paths_usable(&t, l));
    char err[128] = "";
    assert_int_equal(scp_paths_place(&t, l, err, sizeof err), 0);
    assert_string_equal(parent_of(&t, "222222222222"), "ou-1");
    assert_string_equal(parent_of(&t, "ou-1"), "r-1");
    scp_tree_free(&t);
    for (size_t i = 0; i < 4; i++)
        org_account_free(&a[i]);
    l->accounts = NULL;
    l->n = 0;
    org_listing_release(l); /* frees the shared parent paths */
}

static void test_tree(void **state)
{
    (void)state;
    struct scp_tree t = {0};
    assert_null(scp_tree_node(&t, "ou-1", false));
    /* Enough nodes to rehash several times; each found again. */
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "ou-%d", i);
        struct scp_node *nd = scp_tree_node(&t, id, true);
        assert_non_null(nd);
        assert_string_equal(nd->id, id);
        assert_int_equal(scp_node_set_parent(nd, i ? "ou-0" : "r-1"), 0);
    }
    assert_int_equal(t.n, 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "ou-%d", i);
        assert_ptr_equal(scp_tree_node(&t, id, false), &t.nodes[i]);
        assert_ptr_equal(scp_tree_node(&t, id, true), &t.nodes[i]);
    }
    assert_string_equal(parent_of(&t, "ou-999"), "ou-0");
    struct scp_node *nd = scp_tree_node(&t, "ou-7", false);
    assert_int_equal(scp_node_attach(nd, (struct scp_policy){"p-1", NULL}), 0);
    assert_int_equal(scp_node_attach(nd, (struct scp_policy){"p-2", NULL}), 0);
    assert_int_equal(nd->nattached, 2);
    assert_string_equal(nd->attached[1].id, "p-2");
    /* An id of SCP_ID_MAX bytes or more is never a node. */
    char longid[SCP_ID_MAX + 1];
    memset(longid, 'a', SCP_ID_MAX);
    longid[SCP_ID_MAX] = '\0';
    assert_null(scp_tree_node(&t, longid, true));
    assert_int_equal(t.n, 1000);
    scp_tree_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_place),
        cmocka_unit_test(test_paths_that_disagree_or_are_missing),
        cmocka_unit_test(test_parent_paths_shared),
        cmocka_unit_test(test_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
