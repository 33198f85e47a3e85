/*
 * policy_types: which Organizations policy type a policy id is (SCP, tag
 * policy, backup policy, ...), remembered for the whole process.
 *
 * Why: DetachPolicy, UpdatePolicy and DeletePolicy records name a policy by
 * id only, and the same calls serve thirteen policy types; only SCPs guard
 * against leaving. The SCP collector notes every SCP it lists (so an SCP
 * that is deleted later is still known as one); the CloudTrail collector
 * asks here first and notes what DescribePolicy tells it. A policy's type
 * never changes, so nothing here expires. Bounded: past POLICY_TYPES_MAX ids
 * nothing new is remembered (the caller asks AWS again). Thread-safe.
 * Knows nothing of AWS calls or metrics.
 */
#ifndef COLLECTORS_POLICY_TYPES_H
#define COLLECTORS_POLICY_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#define POLICY_TYPES_MAX 20000

/* Remembers that id is of type (an AWS PolicyType such as
 * "SERVICE_CONTROL_POLICY"); both strings are copied. */
void policy_types_note(const char *id, const char *type);

/* Notes a complete SCP listing: every id in ids is an SCP, and from now on
 * an id never listed as an SCP, which AWS no longer knows, was none. */
void policy_types_note_scps(const char *const *ids, size_t n);

/* Copies id's type into type (cap bytes) and returns true when known. */
bool policy_types_get(const char *id, char *type, size_t cap);

/* True once the SCP collector has noted a complete listing. */
bool policy_types_scps_complete(void);

/* Forgets everything (tests). */
void policy_types_reset(void);

#endif
