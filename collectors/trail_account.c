/*
 * trail_account: two answers kept with the time they were taken, and the
 * verdict of their last comparison (which the metric shows).
 */
#define _POSIX_C_SOURCE 200809L
#include "collectors/trail_account.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "collectors/organizations.h"
#include "lib/clock.h"

/* The GetCallerIdentity answer: an ARN of at most 2048 bytes and two ids. */
#define IDENTITY_MAX (16u << 10)

enum verdict { VERDICT_UNKNOWN, VERDICT_MANAGEMENT, VERDICT_WRONG };

/* An answer of AWS and when it came. */
struct kept {
    char account[16]; /* 12 digits; "" before the first answer */
    double at;        /* CLOCK_MONOTONIC seconds of that answer */
};

struct trail_account {
    char *role_arn;     /* owned; "" for none */
    struct kept caller; /* GetCallerIdentity's Account */
    struct kept master; /* DescribeOrganization's MasterAccountId (when asked) */
    enum verdict verdict;
    char seen_caller[16], seen_management[16]; /* what the verdict compared */
};

static bool is_account_id(const char *s)
{
    return strlen(s) == 12 && strspn(s, "0123456789") == 12;
}

struct trail_account *trail_account_create(const char *role_arn)
{
    struct trail_account *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->role_arn = strdup(role_arn ? role_arn : "");
    if (t->role_arn == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void trail_account_destroy(struct trail_account *t)
{
    if (t == NULL)
        return;
    free(t->role_arn);
    free(t);
}

/* The account of c's credentials into out (16 bytes). Returns 0, or -1 with
 * the reason in err. */
static int ask_caller(struct aws_client *c, char *out, char *err, size_t errlen)
{
    const char *params[] = {"Action", "GetCallerIdentity", "Version", "2011-06-15", NULL};
    struct buf xml;
    buf_init(&xml, IDENTITY_MAX);
    struct aws_error e;
    int rc = aws_query_call(c, "GetCallerIdentity", params, true, &xml, &e);
    if (rc != 0) {
        snprintf(err, errlen, "GetCallerIdentity: %s: %s", e.code, e.message);
    } else if (aws_xml_text(xml.data ? xml.data : "", "Account", out, 16) != 0 ||
               !is_account_id(out)) {
        snprintf(err, errlen, "GetCallerIdentity: no account id in the answer");
        rc = -1;
    }
    buf_free(&xml);
    return rc;
}

/* The organization's management account, asked through c, into out (16
 * bytes). Returns 0, or -1 with the reason in err. */
static int ask_master(struct aws_client *c, char *out, char *err, size_t errlen)
{
    json_t *resp = NULL;
    struct aws_error e;
    if (aws_json_call(c, AWS_ORGANIZATIONS, "DescribeOrganization", NULL, &resp, &e) != 0) {
        snprintf(err, errlen, "DescribeOrganization: %s: %s", e.code, e.message);
        return -1;
    }
    const char *id = json_string_value(
        json_object_get(json_object_get(resp, "Organization"), "MasterAccountId"));
    int rc = 0;
    if (id != NULL && is_account_id(id)) {
        snprintf(out, 16, "%s", id);
    } else {
        snprintf(err, errlen, "DescribeOrganization: no MasterAccountId in the answer");
        rc = -1;
    }
    json_decref(resp);
    return rc;
}

/*
 * Brings k up to date with ask when it has no answer or an answer older than
 * TRAIL_ACCOUNT_RECHECK. Returns 0 with an answer in k (a new one, or the
 * last one when asking again failed: logged, asked again next time), or -1
 * with the reason in err when there is none.
 */
static int refresh(struct kept *k, int (*ask)(struct aws_client *, char *, char *, size_t),
                   struct aws_client *c, char *err, size_t errlen)
{
    double now = clock_mono();
    if (k->account[0] != '\0' && now - k->at < TRAIL_ACCOUNT_RECHECK)
        return 0;
    char account[16], why[512];
    if (ask(c, account, why, sizeof why) == 0) {
        snprintf(k->account, sizeof k->account, "%s", account);
        k->at = now;
        return 0;
    }
    if (k->account[0] == '\0') {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    log_warn("cloudtrail",
             "cannot check again which account CloudTrail is read in; the last "
             "answer stands",
             "err", why);
    return 0;
}

int trail_account_check(struct trail_account *t, struct aws_client *c,
                        struct collector_feed *listing, char *err, size_t errlen)
{
    if (refresh(&t->caller, ask_caller, c, err, errlen) != 0)
        return -1;
    char management[16] = "";
    struct org_listing *l = collector_feed_take(listing);
    if (l != NULL && is_account_id(l->management_account_id))
        snprintf(management, sizeof management, "%s", l->management_account_id);
    org_listing_release(l);
    if (management[0] == '\0') {
        if (refresh(&t->master, ask_master, c, err, errlen) != 0)
            return -1;
        snprintf(management, sizeof management, "%s", t->master.account);
    }

    enum verdict v =
        strcmp(t->caller.account, management) == 0 ? VERDICT_MANAGEMENT : VERDICT_WRONG;
    bool changed = v != t->verdict || strcmp(t->seen_caller, t->caller.account) != 0 ||
                   strcmp(t->seen_management, management) != 0;
    t->verdict = v;
    snprintf(t->seen_caller, sizeof t->seen_caller, "%s", t->caller.account);
    snprintf(t->seen_management, sizeof t->seen_management, "%s", management);
    if (v == VERDICT_MANAGEMENT) {
        if (changed)
            log_info("cloudtrail", "CloudTrail is read in the management account", "account_id",
                     management, "role_arn", t->role_arn);
        return 0;
    }
    if (changed)
        log_error("cloudtrail",
                  "CloudTrail is read in an account that is not the management account: the "
                  "membership events are recorded only there, so the collector reports itself "
                  "down",
                  "caller_account_id", t->caller.account, "management_account_id", management,
                  "role_arn", t->role_arn, "fix",
                  "use credentials of the management account, or "
                  "--collector.cloudtrail.role-arn naming a role in it");
    snprintf(err, errlen, "CloudTrail is read in account %s, not in the management account %s",
             t->caller.account, management);
    return -1;
}

void trail_account_write_metrics(const struct trail_account *t, struct expo *e)
{
    expo_family(e, "aws_org_cloudtrail_wrong_account_info", EXPO_GAUGE,
                "1 while the CloudTrail collector reads the event history of an account "
                "(caller_account_id: its credentials', or the role's of "
                "--collector.cloudtrail.role-arn) that is not the organization's management "
                "account: membership events are recorded only there, so the collector is down. "
                "No sample otherwise.");
    if (t == NULL || t->verdict != VERDICT_WRONG)
        return;
    struct expo_label l[] = {{"caller_account_id", t->seen_caller},
                             {"management_account_id", t->seen_management}};
    expo_sample(e, l, 2, 1);
}

const char *trail_account_check_role_arn(const char *s)
{
    static const char expected[] = "an IAM role ARN such as arn:aws:iam::111111111111:role/name";
    if (*s == '\0')
        return NULL;
    if (strlen(s) > 2048 || strncmp(s, "arn:", 4) != 0)
        return expected;
    const char *p = s + 4;
    size_t partition = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
    if (partition == 0 || strncmp(p + partition, ":iam::", 6) != 0)
        return expected;
    p += partition + 6;
    if (strspn(p, "0123456789") != 12 || strncmp(p + 12, ":role/", 6) != 0)
        return expected;
    p += 18;
    /* IAM's path and name characters; the name after the last '/' */
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                         "+=,.@_-/");
    if (n == 0 || p[n] != '\0' || p[n - 1] == '/')
        return expected;
    return NULL;
}
