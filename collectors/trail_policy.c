/* trail_policy: see trail_policy.h. */
#define _POSIX_C_SOURCE 200809L
#include "collectors/trail_policy.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "collectors/policy_types.h"

/*
 * The policy type of a record that is about a policy, into type (cap bytes):
 * the record's own (Enable/DisablePolicyType, CreatePolicy), else what is
 * known of its policy id (the SCP collector's listings, earlier answers),
 * else DescribePolicy's answer. When AWS no longer knows the policy and the
 * SCP collector has listed the SCPs without it, it was not an SCP:
 * "not_found". When nothing can tell: "unknown" (the alerts page on it).
 * "" for a record about no policy.
 */
void trail_policy_type(struct aws_client *c, const struct trail_record *r, char *type, size_t cap)
{
    type[0] = '\0';
    if (r->policy_type[0] != '\0') {
        snprintf(type, cap, "%s", r->policy_type);
        return;
    }
    if (r->policy_id[0] == '\0')
        return;
    if (policy_types_get(r->policy_id, type, cap))
        return;
    snprintf(type, cap, "unknown");
    if (c == NULL)
        return;
    json_t *req = json_pack("{s:s}", "PolicyId", r->policy_id);
    json_t *resp = NULL;
    struct aws_error e;
    int rc = req ? aws_json_call(c, AWS_ORGANIZATIONS, "DescribePolicy", req, &resp, &e) : -1;
    json_decref(req);
    if (rc == 0) {
        const char *t = json_string_value(json_object_get(
            json_object_get(json_object_get(resp, "Policy"), "PolicySummary"), "Type"));
        if (t != NULL && *t != '\0' && strlen(t) < cap) {
            snprintf(type, cap, "%s", t);
            policy_types_note(r->policy_id, t);
        }
    } else if (strcmp(e.code, "PolicyNotFoundException") == 0 && policy_types_scps_complete()) {
        snprintf(type, cap, "not_found");
    } else {
        log_warn("cloudtrail",
                 "cannot tell the type of a policy named by an event; it counts as "
                 "a guardrail",
                 "policy_id", r->policy_id, "event_id", r->event_id, "code", e.code, "err",
                 e.message);
    }
    json_decref(resp);
}
