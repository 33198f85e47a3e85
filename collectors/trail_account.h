/*
 * trail_account: whether the CloudTrail collector reads the event history of
 * the organization's management account.
 *
 * Why: LookupEvents reads the caller's own account, and the membership events
 * (RemoveAccountFromOrganization, AccountDepartedOrganization,
 * AccountJoinedOrganization, the management account's DetachPolicy...) are
 * recorded only in the management account. Credentials of a delegated
 * administrator read an account where none of them ever appears: without
 * this check the collector would stay up and see nothing.
 *
 * The caller's account is sts:GetCallerIdentity's answer for the
 * credentials the collector signs with (the role of
 * --collector.cloudtrail.role-arn, when given). The management account is
 * the organizations collector's listing's (the CloudTrail collector's
 * optional input), else DescribeOrganization's MasterAccountId (when that
 * collector is disabled or has no listing yet).
 * Both answers are kept for TRAIL_ACCOUNT_RECHECK seconds: an identity
 * changes only with its credentials and an organization's management account
 * never does, so a check costs no AWS call on most runs. When asking again
 * fails, the last answer stands (and is asked for again at the next run).
 *
 * Used by the CloudTrail collector's thread only: not thread-safe.
 */
#ifndef COLLECTORS_TRAIL_ACCOUNT_H
#define COLLECTORS_TRAIL_ACCOUNT_H

#include <stddef.h>

#include "exporter/collector.h"
#include "exporter/expo.h"
#include "collectors/aws/client.h"

/* Seconds an answer of GetCallerIdentity or DescribeOrganization is kept. */
#define TRAIL_ACCOUNT_RECHECK 3600.0

struct trail_account;

/* A new checker, or NULL when out of memory. role_arn ("" for none) is
 * copied; it is only named in the log. Destroy it with trail_account_destroy. */
struct trail_account *trail_account_create(const char *role_arn);

/* Accepts NULL. */
void trail_account_destroy(struct trail_account *t);

/*
 * Checks that client c (borrowed) reads the management account's event
 * history, asking AWS through c only for answers not kept (see above).
 * listing is the feed of the organizations collector's listing, or NULL.
 * Returns 0 when it does; -1 with a one-line reason in err when c reads
 * another account (logged at error level when first found) or when the
 * accounts cannot be told yet. Either way nothing should be looked up.
 */
int trail_account_check(struct trail_account *t, struct aws_client *c,
                        struct collector_feed *listing, char *err, size_t errlen);

/* Writes aws_org_cloudtrail_wrong_account_info: one sample while the last
 * check found another account than the management account, none otherwise.
 * t may be NULL (no sample). */
void trail_account_write_metrics(const struct trail_account *t, struct expo *e);

/* The flag checker of --collector.cloudtrail.role-arn: NULL for "" or an IAM
 * role ARN (arn:<partition>:iam::<12 digits>:role/<path and name>), else
 * what is expected. */
const char *trail_account_check_role_arn(const char *s);

#endif
