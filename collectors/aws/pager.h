/*
 * pager: every page of a paginated JSON 1.1 call (ListAccounts,
 * ListTargetsForPolicy, LookupEvents, ...), each item of each page handed to
 * the caller, with the same guards for every listing:
 *
 *   - a page cap: a listing that never ends is an error, not a hang;
 *   - an item cap, for the caller's memory;
 *   - repeated-token detection over every NextToken seen in this listing (a
 *     server that cycles A, B, A would otherwise loop until the page cap);
 *   - pacing: each page is one call through the client, so through its rate
 *     limiter (one key per account, region and operation); between pages the
 *     listing stops when *stopping becomes true;
 *   - the client's error classification, kept whole in the status (code,
 *     HTTP status), with one message format for every listing.
 *
 * A listing that fails part-way has handed the items of its earlier pages to
 * the caller: a partial listing is never a listing, and the caller discards
 * what it collected. Knows nothing of metrics.
 */
#ifndef AWS_PAGER_H
#define AWS_PAGER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "collectors/aws/client.h"

/* The page cap when a pager gives none: 10,000 pages of 20 (the
 * Organizations maximum) is 200,000 accounts, AWS's largest organizations. */
#define AWS_PAGER_MAX_PAGES 10100

/* How a listing ended. */
enum aws_pager_result {
    AWS_PAGER_OK,             /* every page taken, the last without a NextToken */
    AWS_PAGER_CALL_FAILED,    /* the call failed: status.error says how */
    AWS_PAGER_MALFORMED,      /* no items array, or a NextToken not a string */
    AWS_PAGER_ITEM_REJECTED,  /* on_item returned non-zero */
    AWS_PAGER_TOO_MANY_ITEMS, /* more than max_items */
    AWS_PAGER_TOO_MANY_PAGES, /* max_pages taken and still a NextToken */
    AWS_PAGER_REPEATED_TOKEN, /* a NextToken already seen in this listing */
    AWS_PAGER_STOPPED,        /* *stopping became true */
    AWS_PAGER_OUT_OF_MEMORY,
};

/* One call: aws_json_call's contract. */
typedef int (*aws_pager_call_fn)(struct aws_client *c, enum aws_service svc, const char *operation,
                                 json_t *request, json_t **response, struct aws_error *err);

/*
 * Takes one item (borrowed: valid until the call returns). Returns 0, or
 * non-zero to end the listing; it may then write the reason into err (an
 * empty buffer of the pager's; left empty, the pager says "malformed item on
 * page N").
 */
typedef int (*aws_pager_item_fn)(void *arg, json_t *item, char *err, size_t errlen);

/* What a listing calls; every pointer borrowed for the listing's time. */
struct aws_pager {
    struct aws_client *client;
    enum aws_service service;
    const char *operation;       /* "ListAccounts" */
    const char *items;           /* the array of each page: "Accounts" */
    const char *label;           /* names the listing in messages; NULL: operation */
    size_t max_pages;            /* 0: AWS_PAGER_MAX_PAGES */
    size_t max_items;            /* 0: no cap */
    const atomic_bool *stopping; /* may be NULL */
    aws_pager_call_fn call;      /* NULL: aws_json_call (tests give a fake) */
};

struct aws_pager_status {
    enum aws_pager_result result;
    size_t pages;           /* pages answered (a malformed one included) */
    size_t items;           /* items handed to on_item */
    struct aws_error error; /* AWS_PAGER_CALL_FAILED: the client's error */
};

/*
 * Words a failed call's error for a log line or a collector's reason:
 * "<label>: <code>: <message>", or for an access denied "<label>: access
 * denied: the exporter's role needs <service>:<operation> (AWS said: ...)".
 * The message from AWS is cut to fit out (of outlen bytes).
 */
void aws_pager_explain(const struct aws_error *e, enum aws_service svc, const char *operation,
                       const char *label, char *out, size_t outlen);

/*
 * Takes every page of p->operation with request (borrowed: NextToken is set
 * on it for each page after the first, and removed at the end), handing each
 * item of p->items to on_item. Returns 0, or -1 with a one-line reason in err
 * ("<label>: <code>: <message> (page N)", "<label>: NextToken repeated on
 * page N", ...). status (may be NULL) says how it ended.
 */
int aws_pager_run(const struct aws_pager *p, json_t *request, aws_pager_item_fn on_item, void *arg,
                  struct aws_pager_status *status, char *err, size_t errlen);

#endif
