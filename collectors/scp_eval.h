/*
 * scp_eval: do the Service Control Policies in force deny one action (in
 * practice organizations:LeaveOrganization, MITRE ATT&CK T1666.A002) to one
 * member account?
 *
 * Pure: no AWS, no metrics, no logging, no globals. A compiled document is
 * immutable once parsed, so one may be shared by any number of evaluations
 * and threads; scp_evaluate() is reentrant.
 *
 * Model (AWS's SCP semantics). The levels are the root, each OU on the
 * account's path top-down, and the account. The action can succeed only if
 * at EVERY level some attached policy allows it and no applicable Deny at any
 * level matches it. So the account is protected by an explicit Deny anywhere,
 * or implicitly by a level whose policies allow other things but not this
 * action.
 *
 * Documents. Policy documents are written by whoever administers policies,
 * possibly hostile, so parsing is strict and capped: at most
 * SCP_DOC_MAX_BYTES, SCP_MAX_STATEMENTS statements, SCP_MAX_PATTERNS values
 * of Action/NotAction/Resource/NotResource in all, SCP_PATTERN_MAX bytes per
 * value; duplicate keys, unknown elements (including Principal and
 * NotPrincipal, which SCPs do not have) and wrong types make the document
 * malformed. "Statement" may be one object or a non-empty array of objects;
 * "Version" and "Id" are optional strings. Effect is exactly "Allow" or
 * "Deny". Exactly one of Action / NotAction, a string or a non-empty array of
 * strings. At most one of Resource / NotResource (absent means "*"). Condition
 * is an object of objects.
 *
 * Matching. Action patterns match case-insensitively (ASCII), `*` is any run
 * of characters, `?` one character, whole string; see scp_action_matches().
 *
 * Decisions where AWS leaves room, all made so that the evaluator never
 * claims protection it cannot prove:
 *  - Resource. LeaveOrganization has no resource type: the request's resource
 *    is "*". A statement applies to it when Resource has a pattern matching the
 *    literal "*" (case-sensitive), or NotResource has none. A Deny whose
 *    resources do not apply is ignored (no protection claimed); an Allow counts
 *    as allowing whatever its resources say (no implicit-deny protection
 *    claimed from a resource-scoped allow list).
 *  - Condition. A non-empty Condition on an applicable Deny may leave some
 *    principals out: CONDITIONAL, never PROTECTED. An empty Condition object
 *    is no condition. A Condition on an Allow (accepted by AWS since SCPs
 *    took the full IAM language; rejected before) is accepted and the Allow
 *    counts as an allow: some principal may meet it.
 *  - A level with no policy attached cannot exist while SCPs are enabled
 *    (AWS refuses to detach the last one), so it means the caller's data is
 *    incomplete: UNKNOWN, not "implicitly denied".
 *
 * Precedence, the certain outcome first:
 *  1. SCP_EVAL_MANAGEMENT_ACCOUNT -> NOT_APPLICABLE (SCPs never apply to it).
 *  2. SCP_EVAL_SCPS_DISABLED -> UNPROTECTED, levels ignored.
 *  3. Invalid arguments -> UNKNOWN (invalid_input).
 *  4. An unconditional applicable Deny in a readable document at any level ->
 *     PROTECTED (explicit_deny; the top-most one, in level then policy then
 *     statement order). An unreadable document cannot undo a Deny.
 *  5. A level whose documents are all readable and none allows the action ->
 *     PROTECTED (no_allow; the top-most such level). An unreadable document
 *     elsewhere cannot add an allow to that level.
 *  6. Any unreadable/malformed document (doc == NULL), level whose
 *     attachments could not be listed (unreadable), or level with no policy
 *     -> UNKNOWN, naming the top-most one: it might hold a Deny, or be a
 *     level's only allow, so no weaker verdict is certain.
 *  7. An applicable Deny with a Condition -> CONDITIONAL (top-most one).
 *  8. Otherwise UNPROTECTED (no_deny).
 * So a malformed document yields UNKNOWN exactly when it could change the
 * outcome, and is never the reason for PROTECTED.
 */
#ifndef COLLECTORS_SCP_EVAL_H
#define COLLECTORS_SCP_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#define SCP_DOC_MAX_BYTES 65536 /* AWS's own limit is 5120 characters */
#define SCP_MAX_STATEMENTS 512
#define SCP_MAX_PATTERNS 4096 /* per document, all statements together */
#define SCP_PATTERN_MAX 256   /* bytes of one Action/Resource value */
#define SCP_ACTION_MAX 128    /* bytes of the evaluated action */
#define SCP_MAX_LEVELS 16     /* AWS: root, at most 5 OUs, account */
#define SCP_ID_MAX 160        /* buffer size: ids of at most 159 bytes */
#define SCP_DETAIL_MAX 640

enum scp_status {
    SCP_PROTECTED,
    SCP_CONDITIONAL,
    SCP_UNPROTECTED,
    SCP_UNKNOWN,
    SCP_NOT_APPLICABLE,
};

/* Why; a bounded set, suitable as a label value. */
enum scp_reason {
    SCP_REASON_EXPLICIT_DENY,      /* PROTECTED: policy_id, statement, level */
    SCP_REASON_NO_ALLOW,           /* PROTECTED: level */
    SCP_REASON_CONDITIONAL_DENY,   /* CONDITIONAL: policy_id, statement, level */
    SCP_REASON_NO_DENY,            /* UNPROTECTED */
    SCP_REASON_SCP_DISABLED,       /* UNPROTECTED */
    SCP_REASON_MALFORMED_POLICY,   /* UNKNOWN: policy_id, level */
    SCP_REASON_UNREADABLE_LEVEL,   /* UNKNOWN: level */
    SCP_REASON_NO_POLICIES,        /* UNKNOWN: level */
    SCP_REASON_INVALID_INPUT,      /* UNKNOWN */
    SCP_REASON_MANAGEMENT_ACCOUNT, /* NOT_APPLICABLE */
};

enum scp_level_kind {
    SCP_LEVEL_ROOT,
    SCP_LEVEL_OU,
    SCP_LEVEL_ACCOUNT,
};

/* A compiled policy document. Opaque, immutable. */
struct scp_doc;

/* Parses and validates one policy document: len bytes at json (need not be
 * NUL-terminated). Returns a document the caller owns (scp_doc_free), or NULL
 * when the document is malformed, too large or memory runs out; then err
 * (when errlen > 0) holds a one-line reason, always NUL-terminated, e.g.
 * "Statement[1]: Effect must be \"Allow\" or \"Deny\"". */
struct scp_doc *scp_doc_parse(const char *json, size_t len, char *err, size_t errlen);

/* Frees a document. Accepts NULL. */
void scp_doc_free(struct scp_doc *doc);

/* Whether an action pattern matches an action: ASCII case-insensitive, `*`
 * any run (also empty), `?` exactly one byte, anchored at both ends. Time is
 * O(len(pattern) * len(action)) at worst, never exponential. Both NUL-terminated. */
bool scp_action_matches(const char *pattern, const char *action);

/* One policy attached to a level. Borrowed: scp_evaluate reads, never frees. */
struct scp_policy {
    const char *id;            /* e.g. "p-FullAWSAccess"; < SCP_ID_MAX bytes */
    const struct scp_doc *doc; /* NULL: content unreadable or malformed */
};

/* One level, with the policies attached directly to it. Borrowed. */
struct scp_level {
    enum scp_level_kind kind;
    const char *id; /* root, OU or account id; < SCP_ID_MAX bytes */
    const struct scp_policy *policies;
    size_t n_policies;
    bool unreadable; /* the attachments could not be (completely) listed */
};

/* Flags of scp_evaluate. */
#define SCP_EVAL_MANAGEMENT_ACCOUNT 0x1u /* the account is the management account */
#define SCP_EVAL_SCPS_DISABLED 0x2u      /* SERVICE_CONTROL_POLICY not enabled on the root */

/* The verdict and why. Self-contained (copies, no pointers into the input),
 * bounded: the collector may keep it after the documents are freed. */
struct scp_result {
    enum scp_status status;
    enum scp_reason reason;
    size_t level;                   /* index into levels, or (size_t)-1 */
    enum scp_level_kind level_kind; /* meaningful when level != (size_t)-1 */
    char level_id[SCP_ID_MAX];      /* "" when no level */
    char policy_id[SCP_ID_MAX];     /* "" when no policy */
    size_t statement;               /* index in the policy's Statement, or (size_t)-1 */
    char detail[SCP_DETAIL_MAX];    /* one line for logs and humans */
};

/* Evaluates action (e.g. "organizations:LeaveOrganization"; 1 to
 * SCP_ACTION_MAX - 1 bytes, taken literally) for one account over n_levels
 * levels, root first, account last (1 to SCP_MAX_LEVELS; may be NULL/0 when
 * a flag decides). Fills *out completely and returns out->status; when out is
 * NULL returns SCP_UNKNOWN. Invalid arguments (unknown flag bits, NULL or
 * over-long ids or action, NULL policies with n_policies > 0, bad level kind)
 * give UNKNOWN with reason invalid_input. Precedence: see the top of this
 * header. */
enum scp_status scp_evaluate(const struct scp_level *levels, size_t n_levels, const char *action,
                             unsigned flags, struct scp_result *out);

/* "protected", "conditional", "unprotected", "unknown", "not_applicable"
 * (the metric contract's status label values); "invalid" out of range. */
const char *scp_status_name(enum scp_status status);

/* "explicit_deny", "no_allow", "conditional_deny", "no_deny",
 * "scp_disabled", "malformed_policy", "unreadable_level", "no_policies",
 * "invalid_input", "management_account"; "invalid" out of range. */
const char *scp_reason_name(enum scp_reason reason);

/* "root", "ou", "account"; "invalid" out of range. */
const char *scp_level_kind_name(enum scp_level_kind kind);

#endif
