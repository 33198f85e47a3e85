/*
 * organizations: the membership collector. Besides its metrics it provides
 * the last complete account listing to the other collectors (SCP
 * evaluation, CloudTrail member fan-out), so that they never call
 * ListAccounts themselves: its row provides org_listing_product, theirs
 * consume it, and the registry wires them (exporter/collector.h).
 */
#ifndef COLLECTORS_ORGANIZATIONS_H
#define COLLECTORS_ORGANIZATIONS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "exporter/collector.h"

/* An account of the listing. Its strings share one allocation, which id
 * points to (one per account, not seven: a listing holds 10,000 of them). */
struct org_account {
    char *id, *name, *email; /* email "" unless --collector.organizations.account-email */
    char *state;             /* State, else the legacy Status, else "UNKNOWN" */
    char *joined_method;     /* INVITED, CREATED, or "" */
    /* Paths[0] ("o-x/r-y/ou-a/123456789012/") is kept in one of two ways;
     * read it with org_account_path. */
    const char *parent_path; /* the path less the account's own "<id>/": shared by
                                the accounts under one parent (the listing owns it) */
    char *path;              /* the whole path, when it is not kept as parent_path */
    double joined;           /* JoinedTimestamp, unix seconds; 0 when absent */
};

struct org_paths;

/* An immutable, complete listing. Reference-counted. */
struct org_listing {
    char *org_id, *org_arn, *feature_set, *management_account_id;
    struct org_account *accounts; /* sorted by id */
    size_t n;
    double taken_at;           /* unix seconds */
    struct org_paths *parents; /* owned: the accounts' parent_path strings, once each */
    atomic_int refs;
};

/* The product of the organizations collector: a struct org_listing, taken
 * from a run's feed with collector_feed_take / _wait (a reference the caller
 * releases with org_listing_release). Published after each complete
 * listing. */
extern const struct collector_product org_listing_product;

/* Drops a reference. Accepts NULL. */
void org_listing_release(struct org_listing *l);

/*
 * Reads one account object of a ListAccounts or DescribeAccount answer into
 * a (whose strings the caller frees with org_account_free, also on failure).
 * A path that ends with the account's own id is kept as its parent's path,
 * shared in owner (the listing a joins; NULL keeps the whole path in a).
 * Returns 0, or -1 with the reason in err when a field has the wrong type.
 */
int org_account_parse(json_t *j, struct org_account *a, struct org_listing *owner, char *err,
                      size_t errlen);
void org_account_free(struct org_account *a);

/* The account's path: a->path, or its parent path and id composed into buf
 * (len bytes, the caller's). NULL when it has none, or it does not fit. */
const char *org_account_path(const struct org_account *a, char *buf, size_t len);

/* The account with this id in l, or NULL (binary search). */
const struct org_account *org_listing_find(const struct org_listing *l, const char *id);

#endif
