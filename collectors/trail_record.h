/*
 * trail_record: the parser of one raw CloudTrail record (the JSON string in
 * LookupEvents' CloudTrailEvent), written by whoever controls an account,
 * possibly the attacker. Bounded: the input is capped, every field is copied
 * into a fixed-size buffer (longer values are cut at a UTF-8 boundary and
 * marked with "..."), absent, null or wrongly typed fields are left empty.
 * Knows nothing of AWS calls or metrics.
 */
#ifndef COLLECTORS_TRAIL_RECORD_H
#define COLLECTORS_TRAIL_RECORD_H

#include <stdbool.h>
#include <stddef.h>

/* CloudTrail records are at most 256 KB; anything larger is refused. */
#define TRAIL_RECORD_MAX (256 * 1024)

enum trail_outcome { TRAIL_SUCCESS, TRAIL_DENIED, TRAIL_FAILED };

struct trail_record {
    char event_id[128];
    char event_name[128];
    char event_source[128];
    double event_time; /* eventTime, unix seconds; 0 when absent or malformed */
    char aws_region[32];
    char error_code[128]; /* empty when the call succeeded */
    char error_message[512];
    char principal_arn[512];    /* userIdentity.arn; for AWSService, invokedBy */
    char principal_type[32];    /* userIdentity.type: Root, IAMUser, AssumedRole, AWSService... */
    char principal_account[16]; /* userIdentity.accountId */
    char recipient_account[16]; /* recipientAccountId */
    char source_ip[128];        /* sourceIPAddress (an IP, or a service name) */
    /*
     * The account the event is about: the member that left, was removed,
     * joined, was invited, created or closed, from requestParameters or
     * serviceEventDetails (or responseElements); else the recipient account.
     * Empty when the record does not name one (see unattributed).
     */
    char affected_account[16];
    /* A membership service event (AccountDepartedOrganization,
     * AccountJoinedOrganization) that names no member account other than the
     * recipient, or names several: the caller reports it rather than guess. */
    int unattributed;
    /* serviceEventDetails.departureMethod (once documented as
     * departedMethod), in lower case: "left", "removed", "cleaned" (AWS
     * spelled them LEFT or Left); empty when absent. */
    char departure_method[64];
    double departure_time;
    char policy_id[160];  /* requestParameters.policyId (p-...), the policy calls */
    char target_id[160];  /* requestParameters.targetId (root, OU or account) */
    char policy_type[64]; /* requestParameters.policyType / .type: Enable/DisablePolicyType,
                             CreatePolicy (SERVICE_CONTROL_POLICY, TAG_POLICY, ...) */
    /* responseElements.handshake.action of AcceptHandshake (INVITE,
     * APPROVE_ALL_FEATURES, ...); empty when the call failed. */
    char handshake_action[32];
    enum trail_outcome outcome; /* denied: AccessDenied, AccessDeniedException,
                                   UnauthorizedOperation, or a message saying not
                                   authorized / explicit deny; failed: other errors */
};

/*
 * Parses len bytes of one raw CloudTrail record into out. Returns 0, or -1
 * with a one-line reason in err (not JSON, not an object, over the cap, no
 * eventID, no eventName). Never reads past len; out is always initialised.
 */
int trail_record_parse(const char *json, size_t len, struct trail_record *out, char *err,
                       size_t errlen);

/* An SQS message holds at most 1 MiB; anything larger is refused. */
#define TRAIL_ENVELOPE_MAX (1024 * 1024)

enum trail_envelope {
    TRAIL_ENVELOPE_RECORD,   /* a CloudTrail event: out holds its record */
    TRAIL_ENVELOPE_OTHER,    /* JSON, but no CloudTrail event of Organizations': not ours */
    TRAIL_ENVELOPE_MALFORMED /* not JSON, over the cap, or an Organizations (or unknown
                                source's) CloudTrail event whose record is unusable */
};

/*
 * Parses len bytes of one EventBridge event (an SQS message's body) whose
 * detail-type is "AWS API Call via CloudTrail" or "AWS Service Event via
 * CloudTrail" and whose detail is the CloudTrail record, into out (always
 * initialised). Returns what it is, with a one-line reason in err unless a
 * record. Which source and name count is the caller's to check.
 */
enum trail_envelope trail_record_parse_envelope(const char *json, size_t len,
                                                struct trail_record *out, char *err, size_t errlen);

/*
 * Whether a record found in a member's own history is a leave: every
 * LeaveOrganization, and an AcceptHandshake that transfers the member to
 * another organization, which AWS authorizes as organizations:AcceptHandshake
 * and organizations:LeaveOrganization: a successful one that accepted an
 * invitation (not a member approving all features, the other handshake a
 * member accepts), and a denied or failed one whose message names
 * LeaveOrganization (the part of the transfer the guardrail stops).
 */
bool trail_record_member_leave(const struct trail_record *r);

/* "success", "denied", "failed". */
const char *trail_outcome_name(enum trail_outcome o);

#endif
