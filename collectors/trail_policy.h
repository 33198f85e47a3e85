/*
 * trail_policy: the policy type of a CloudTrail record that is about a
 * policy (DetachPolicy, UpdatePolicy, DeletePolicy, AttachPolicy...), for the
 * policy_type label: the guardrail alerts page on SCPs only.
 */
#ifndef COLLECTORS_TRAIL_POLICY_H
#define COLLECTORS_TRAIL_POLICY_H

#include <stddef.h>

#include "collectors/aws/client.h"
#include "collectors/trail_record.h"

/*
 * Writes r's policy type into type (cap bytes): the record's own
 * (Enable/DisablePolicyType, CreatePolicy), else what policy_types knows of
 * its policy id, else DescribePolicy's answer on client c (borrowed; NULL:
 * no call). "not_found" when AWS no longer knows a policy the SCP collector
 * never listed as an SCP; "unknown" when nothing can tell (the alerts page on
 * it); "" for a record about no policy. May block on one AWS call.
 */
void trail_policy_type(struct aws_client *c, const struct trail_record *r, char *type, size_t cap);

#endif
