/*
 * Unit tests of the SCP evaluator: one table of organizations (levels with
 * their policies) and the exact verdict for each, one table of malformed
 * documents and the exact parse error, one table of wildcard matches, and
 * the caps. Policy JSON in the tables uses ' for " to stay readable; the
 * helper swaps them back before parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "collectors/scp_eval.h"

#define LEAVE "organizations:LeaveOrganization"

/* ---- policies ----------------------------------------------------------- */

#define FULL_JSON                                                                                  \
    "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':'*','Resource':'*'}]}"
/* The technique's own example: an allow list with organizations:*, and the
 * deny of LeaveOrganization. */
#define TECHNIQUE_JSON                                                                             \
    "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':['ec2:*','cloudwatch:*',"     \
    "'organizations:*'],'Resource':'*'},{'Effect':'Deny','Action':"                                \
    "'organizations:LeaveOrganization','Resource':'*'}]}"
#define DENY_LEAVE_JSON                                                                            \
    "{'Version':'2012-10-17','Statement':[{'Sid':'DenyLeave','Effect':'Deny','Action':"            \
    "['organizations:LeaveOrganization'],'Resource':'*'}]}"
#define DENY_ONE(action)                                                                           \
    "{'Version':'2012-10-17','Statement':[{'Effect':'Deny','Action':'" action "','Resource':'*'}]" \
    "}"
#define DENY_NOT(list)                                                                             \
    "{'Version':'2012-10-17','Statement':[{'Effect':'Deny','NotAction':" list ",'Resource':'*'}]}"
#define DENY_RES(res)                                                                              \
    "{'Version':'2012-10-17','Statement':[{'Effect':'Deny','Action':"                              \
    "'organizations:LeaveOrganization'," res "}]}"
#define ALLOWLIST_JSON                                                                             \
    "{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':['ec2:*','s3:*',"             \
    "'cloudwatch:*'],'Resource':'*'}]}"
#define COND_DENY_JSON                                                                             \
    "{'Version':'2012-10-17','Statement':[{'Sid':'DenyLeaveExceptBreakGlass','Effect':'Deny',"     \
    "'Action':'organizations:LeaveOrganization','Resource':'*','Condition':{'ArnNotLike':"         \
    "{'aws:PrincipalArn':'arn:aws:iam::*:role/BreakGlass'}}}]}"

#define FULL                                                                                       \
    {                                                                                              \
        "p-FullAWSAccess", FULL_JSON                                                               \
    }
#define TECHNIQUE                                                                                  \
    {                                                                                              \
        "p-leaveguard1", TECHNIQUE_JSON                                                            \
    }
#define DENY_LEAVE                                                                                 \
    {                                                                                              \
        "p-denyleave1", DENY_LEAVE_JSON                                                            \
    }
#define ALLOWLIST                                                                                  \
    {                                                                                              \
        "p-allowlist1", ALLOWLIST_JSON                                                             \
    }
#define COND_DENY                                                                                  \
    {                                                                                              \
        "p-leaveexcept", COND_DENY_JSON                                                            \
    }
#define BROKEN                                                                                     \
    {                                                                                              \
        "p-broken1", "{'Statement':[{'Effect':'Deny','Action':'*'"                                 \
    }

/* ---- the evaluator table ------------------------------------------------ */

struct tpol {
    const char *id;
    const char *json; /* NULL: the content could not be read */
};

struct tlvl {
    enum scp_level_kind kind;
    const char *id; /* NULL ends the levels */
    struct tpol p[4];
    bool unreadable;
};

struct ecase {
    const char *name;
    struct tlvl lv[5];
    unsigned flags;
    const char *action; /* NULL: LEAVE */
    enum scp_status status;
    const char *reason;
    size_t level; /* (size_t)-1: none */
    const char *level_id;
    const char *policy_id;
    size_t statement; /* (size_t)-1: none */
    const char *detail;
};

#define R "r-ab12"
#define O1 "ou-ab12-11111111"
#define O2 "ou-ab12-22222222"
#define A "111122223333"
#define ROOT(...)                                                                                  \
    {                                                                                              \
        SCP_LEVEL_ROOT, R, {__VA_ARGS__}, false                                                    \
    }
#define OU1(...)                                                                                   \
    {                                                                                              \
        SCP_LEVEL_OU, O1, {__VA_ARGS__}, false                                                     \
    }
#define OU2(...)                                                                                   \
    {                                                                                              \
        SCP_LEVEL_OU, O2, {__VA_ARGS__}, false                                                     \
    }
#define ACCT(...)                                                                                  \
    {                                                                                              \
        SCP_LEVEL_ACCOUNT, A, {__VA_ARGS__}, false                                                 \
    }
#define NONE ((size_t)-1)
#define UNPROT_DETAIL "every level allows " LEAVE " and no deny applies"
#define UNPROTECTED SCP_UNPROTECTED, "no_deny", NONE, "", "", NONE, UNPROT_DETAIL
#define DENIED(lvl, lvlkind, lvlid, pol, stmt)                                                     \
    SCP_PROTECTED, "explicit_deny", lvl, lvlid, pol, stmt,                                         \
        "explicit deny of " LEAVE " in policy " pol " Statement[" #stmt "] at " lvlkind " " lvlid
#define NO_ALLOW(lvl, lvlkind, lvlid)                                                              \
    SCP_PROTECTED, "no_allow", lvl, lvlid, "", NONE,                                               \
        "no policy at " lvlkind " " lvlid " allows " LEAVE
#define MALFORMED(lvl, lvlkind, lvlid, pol)                                                        \
    SCP_UNKNOWN, "malformed_policy", lvl, lvlid, pol, NONE,                                        \
        "policy " pol " at " lvlkind " " lvlid " is unreadable or malformed"

static const struct ecase cases[] = {
    {"technique_example_at_root",
     {ROOT(TECHNIQUE), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-leaveguard1", 1)},
    {"technique_example_at_account",
     {ROOT(FULL), OU1(FULL), ACCT(FULL, TECHNIQUE)},
     0,
     NULL,
     DENIED(2, "account", A, "p-leaveguard1", 1)},
    {"full_aws_access_only", {ROOT(FULL), OU1(FULL), OU2(FULL), ACCT(FULL)}, 0, NULL, UNPROTECTED},
    {"full_aws_access_root_and_account", {ROOT(FULL), ACCT(FULL)}, 0, NULL, UNPROTECTED},
    {"deny_at_root",
     {ROOT(FULL, DENY_LEAVE), OU1(FULL), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-denyleave1", 0)},
    {"deny_at_ou",
     {ROOT(FULL), OU1(FULL, DENY_LEAVE), ACCT(FULL)},
     0,
     NULL,
     DENIED(1, "ou", O1, "p-denyleave1", 0)},
    {"deny_at_nested_ou",
     {ROOT(FULL), OU1(FULL), OU2(FULL, DENY_LEAVE), ACCT(FULL)},
     0,
     NULL,
     DENIED(2, "ou", O2, "p-denyleave1", 0)},
    {"deny_at_account",
     {ROOT(FULL), OU1(FULL), ACCT(FULL, DENY_LEAVE)},
     0,
     NULL,
     DENIED(2, "account", A, "p-denyleave1", 0)},
    {"deny_organizations_star",
     {ROOT(FULL, {"p-denyorgs", DENY_ONE("organizations:*")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-denyorgs", 0)},
    {"deny_leave_star",
     {ROOT(FULL), OU1(FULL, {"p-leavestar", DENY_ONE("organizations:Leave*")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(1, "ou", O1, "p-leavestar", 0)},
    {"deny_question_mark",
     {ROOT(FULL), ACCT(FULL, {"p-question", DENY_ONE("organizations:L?aveOrganization")})},
     0,
     NULL,
     DENIED(1, "account", A, "p-question", 0)},
    {"deny_everything",
     {ROOT(FULL, {"p-denyall", DENY_ONE("*")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-denyall", 0)},
    {"deny_star_organization",
     {ROOT(FULL, {"p-suffix", DENY_ONE("organizations:*Organization")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-suffix", 0)},
    {"deny_other_action_only",
     {ROOT(FULL, {"p-denyremove", DENY_ONE("organizations:RemoveAccountFromOrganization")}),
      ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"deny_prefix_without_wildcard",
     {ROOT(FULL, {"p-prefix", DENY_ONE("organizations:Leave")}), ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"deny_question_mark_wrong_length",
     {ROOT(FULL, {"p-q", DENY_ONE("organizations:L?veOrganization")}), ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"deny_other_service_star",
     {ROOT(FULL, {"p-denyec2", DENY_ONE("ec2:*")}), ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"notaction_excludes_the_action",
     {ROOT(FULL, {"p-notact", DENY_NOT("['iam:*','organizations:LeaveOrganization']")}),
      ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"notaction_excludes_by_wildcard",
     {ROOT(FULL, {"p-notorgs", DENY_NOT("'organizations:*'")}), ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"notaction_includes_the_action",
     {ROOT(FULL), OU1(FULL, {"p-notec2", DENY_NOT("['ec2:*','s3:*']")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(1, "ou", O1, "p-notec2", 0)},
    {"allowlist_ou_without_organizations",
     {ROOT(FULL), OU1(ALLOWLIST), ACCT(FULL)},
     0,
     NULL,
     NO_ALLOW(1, "ou", O1)},
    {"allowlist_account_without_organizations",
     {ROOT(FULL), OU1(FULL), ACCT(ALLOWLIST)},
     0,
     NULL,
     NO_ALLOW(2, "account", A)},
    {"allowlist_ou_with_leave",
     {ROOT(FULL),
      OU1({"p-allowleave", "{'Statement':{'Effect':'Allow','Action':['ec2:*',"
                           "'organizations:Leave*']}}"}),
      ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"allow_notaction_excludes_organizations",
     {ROOT(FULL),
      OU1({"p-allbutorgs", "{'Statement':{'Effect':'Allow','NotAction':"
                           "'organizations:*','Resource':'*'}}"}),
      ACCT(FULL)},
     0,
     NULL,
     NO_ALLOW(1, "ou", O1)},
    {"explicit_deny_reported_before_no_allow",
     {ROOT(FULL), OU1(ALLOWLIST), ACCT(FULL, DENY_LEAVE)},
     0,
     NULL,
     DENIED(2, "account", A, "p-denyleave1", 0)},
    {"conditional_deny_principal_exception",
     {ROOT(FULL, COND_DENY), OU1(FULL), ACCT(FULL)},
     0,
     NULL,
     SCP_CONDITIONAL,
     "conditional_deny",
     0,
     R,
     "p-leaveexcept",
     0,
     "conditional deny of " LEAVE " in policy p-leaveexcept Statement[0] at root " R},
    {"conditional_then_unconditional_deny",
     {ROOT(FULL, COND_DENY), ACCT(FULL, DENY_LEAVE)},
     0,
     NULL,
     DENIED(1, "account", A, "p-denyleave1", 0)},
    {"conditional_deny_and_no_allow",
     {ROOT(FULL, COND_DENY), OU1(ALLOWLIST), ACCT(FULL)},
     0,
     NULL,
     NO_ALLOW(1, "ou", O1)},
    {"empty_condition_is_unconditional",
     {ROOT(FULL, {"p-emptycond", "{'Statement':[{'Effect':'Deny','Action':"
                                 "'organizations:LeaveOrganization','Resource':'*',"
                                 "'Condition':{}}]}"}),
      ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-emptycond", 0)},
    {"conditional_allow_counts_as_allow",
     {ROOT(FULL),
      OU1({"p-condallow", "{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
                          "'Condition':{'StringEquals':{'aws:PrincipalTag/team':'ops'}}}]}"}),
      ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"scps_disabled",
     {ROOT(FULL, DENY_LEAVE), ACCT(FULL)},
     SCP_EVAL_SCPS_DISABLED,
     NULL,
     SCP_UNPROTECTED,
     "scp_disabled",
     NONE,
     "",
     "",
     NONE,
     "service control policies are not enabled on the root"},
    {"management_account",
     {ROOT(FULL), ACCT(FULL)},
     SCP_EVAL_MANAGEMENT_ACCOUNT | SCP_EVAL_SCPS_DISABLED,
     NULL,
     SCP_NOT_APPLICABLE,
     "management_account",
     NONE,
     "",
     "",
     NONE,
     "the management account is not subject to service control policies"},
    {"mixed_case_policy_action",
     {ROOT(FULL, {"p-shout", DENY_ONE("ORGANIZATIONS:leaveORGANIZATION")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-shout", 0)},
    {"mixed_case_wildcard",
     {ROOT(FULL, {"p-shoutstar", DENY_ONE("Organizations:LEAVE*")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-shoutstar", 0)},
    {"mixed_case_evaluated_action",
     {ROOT(FULL, DENY_LEAVE), ACCT(FULL)},
     0,
     "ORGANIZATIONS:leaveorganization",
     SCP_PROTECTED,
     "explicit_deny",
     0,
     R,
     "p-denyleave1",
     0,
     "explicit deny of ORGANIZATIONS:leaveorganization in policy p-denyleave1 Statement[0] at "
     "root " R},
    {"statement_is_an_object",
     {ROOT(FULL), ACCT(FULL, {"p-object", "{'Statement':{'Effect':'Deny','Action':"
                                          "'organizations:LeaveOrganization'}}"})},
     0,
     NULL,
     DENIED(1, "account", A, "p-object", 0)},
    {"action_array_second_element",
     {ROOT(FULL, {"p-array", "{'Statement':[{'Effect':'Deny','Action':['s3:DeleteBucket',"
                             "'organizations:LeaveOrganization'],'Resource':'*'}]}"}),
      ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-array", 0)},
    {"deny_in_third_statement",
     {ROOT({"p-three", "{'Statement':[{'Effect':'Allow','Action':'*'},{'Effect':'Deny',"
                       "'Action':'ec2:*'},{'Effect':'Deny','Action':'organizations:Leave*'}]}"}),
      ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-three", 2)},
    {"deny_in_second_policy",
     {ROOT(FULL, {"p-denyec2", DENY_ONE("ec2:*")}, DENY_LEAVE), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-denyleave1", 0)},
    {"deny_resource_not_star_ignored",
     {ROOT(FULL, {"p-res", DENY_RES("'Resource':'arn:aws:organizations::*:account/o-ab12/*'")}),
      ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"deny_resource_array_with_star",
     {ROOT(FULL, {"p-resstar", DENY_RES("'Resource':['arn:aws:s3:::x','*']")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-resstar", 0)},
    {"deny_notresource_arn_applies",
     {ROOT(FULL, {"p-notres", DENY_RES("'NotResource':'arn:aws:s3:::x'")}), ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-notres", 0)},
    {"deny_notresource_star_ignored",
     {ROOT(FULL, {"p-notresstar", DENY_RES("'NotResource':'*'")}), ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"allow_resource_scoped_counts_as_allow",
     {ROOT(FULL),
      OU1({"p-scoped", "{'Statement':{'Effect':'Allow','Action':'organizations:*','Resource':"
                       "'arn:aws:organizations::*:account/*'}}"}),
      ACCT(FULL)},
     0,
     NULL,
     UNPROTECTED},
    {"malformed_json_at_account",
     {ROOT(FULL), ACCT(FULL, BROKEN)},
     0,
     NULL,
     MALFORMED(1, "account", A, "p-broken1")},
    {"malformed_effect_at_ou",
     {ROOT(FULL), OU1(FULL, {"p-block", "{'Statement':{'Effect':'Block','Action':'*'}}"}),
      ACCT(FULL)},
     0,
     NULL,
     MALFORMED(1, "ou", O1, "p-block")},
    {"malformed_action_and_notaction",
     {ROOT(FULL, {"p-both", "{'Statement':{'Effect':'Deny','Action':'*','NotAction':'ec2:*'}}"}),
      ACCT(FULL)},
     0,
     NULL,
     MALFORMED(0, "root", R, "p-both")},
    {"malformed_action_wrong_type",
     {ROOT(FULL), ACCT(FULL, {"p-number", "{'Statement':{'Effect':'Deny','Action':42}}"})},
     0,
     NULL,
     MALFORMED(1, "account", A, "p-number")},
    {"malformed_beside_unconditional_deny",
     {ROOT(FULL, DENY_LEAVE), ACCT(FULL, BROKEN)},
     0,
     NULL,
     DENIED(0, "root", R, "p-denyleave1", 0)},
    {"malformed_beside_no_allow_level",
     {ROOT(FULL), OU1(ALLOWLIST), ACCT(FULL, BROKEN)},
     0,
     NULL,
     NO_ALLOW(1, "ou", O1)},
    {"malformed_in_allowlist_level_is_unknown",
     {ROOT(FULL), OU1(ALLOWLIST, BROKEN), ACCT(FULL)},
     0,
     NULL,
     MALFORMED(1, "ou", O1, "p-broken1")},
    {"malformed_only_policy_of_level",
     {ROOT(FULL), OU1(BROKEN), ACCT(FULL)},
     0,
     NULL,
     MALFORMED(1, "ou", O1, "p-broken1")},
    {"malformed_beside_conditional_deny",
     {ROOT(FULL, COND_DENY), ACCT(FULL, BROKEN)},
     0,
     NULL,
     MALFORMED(1, "account", A, "p-broken1")},
    {"content_unreadable",
     {ROOT(FULL, {"p-hidden", NULL}), ACCT(FULL)},
     0,
     NULL,
     MALFORMED(0, "root", R, "p-hidden")},
    {"unreadable_level",
     {ROOT(FULL), {SCP_LEVEL_OU, O1, {FULL}, true}, ACCT(FULL)},
     0,
     NULL,
     SCP_UNKNOWN,
     "unreadable_level",
     1,
     O1,
     "",
     NONE,
     "the policies attached to ou " O1 " could not be read"},
    {"unreadable_level_beside_deny",
     {ROOT(FULL, DENY_LEAVE), {SCP_LEVEL_OU, O1, {{NULL, NULL}}, true}, ACCT(FULL)},
     0,
     NULL,
     DENIED(0, "root", R, "p-denyleave1", 0)},
    {"level_without_policies",
     {ROOT(FULL), OU1(FULL), {SCP_LEVEL_ACCOUNT, A, {{NULL, NULL}}, false}},
     0,
     NULL,
     SCP_UNKNOWN,
     "no_policies",
     2,
     A,
     "",
     NONE,
     "no policy is attached to account " A},
    {"top_most_unknown_reported",
     {ROOT(FULL, {"p-first", "nope"}), {SCP_LEVEL_OU, O1, {FULL}, true}, ACCT(FULL, BROKEN)},
     0,
     NULL,
     MALFORMED(0, "root", R, "p-first")},
    {"other_action_evaluated",
     {ROOT(FULL, DENY_LEAVE, {"p-denyremove", DENY_ONE("organizations:Remove*")}), ACCT(FULL)},
     0,
     "organizations:RemoveAccountFromOrganization",
     SCP_PROTECTED,
     "explicit_deny",
     0,
     R,
     "p-denyremove",
     0,
     "explicit deny of organizations:RemoveAccountFromOrganization in policy p-denyremove "
     "Statement[0] at root " R},
    {"other_action_not_denied",
     {ROOT(FULL, DENY_LEAVE), ACCT(FULL)},
     0,
     "organizations:CreateAccount",
     SCP_UNPROTECTED,
     "no_deny",
     NONE,
     "",
     "",
     NONE,
     "every level allows organizations:CreateAccount and no deny applies"},
    {"no_levels",
     {{SCP_LEVEL_ROOT, NULL, {{NULL, NULL}}, false}},
     0,
     NULL,
     SCP_UNKNOWN,
     "invalid_input",
     NONE,
     "",
     "",
     NONE,
     "invalid input: no levels"},
    {"empty_action",
     {ROOT(FULL), ACCT(FULL)},
     0,
     "",
     SCP_UNKNOWN,
     "invalid_input",
     NONE,
     "",
     "",
     NONE,
     "invalid input: action missing, empty or too long"},
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* Parses a table policy (' for "); NULL for NULL or a malformed one, as the
 * collector would pass. */
static struct scp_doc *parse_quoted(const char *json)
{
    if (!json)
        return NULL;
    size_t len = strlen(json);
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    for (size_t i = 0; i <= len; i++)
        copy[i] = json[i] == '\'' ? '"' : json[i];
    char err[256];
    struct scp_doc *doc = scp_doc_parse(copy, len, err, sizeof err);
    free(copy);
    return doc;
}

static void run_case(void **state)
{
    const struct ecase *c = *state;
    struct scp_policy pols[5][4];
    struct scp_level levels[5];
    size_t n = 0;
    for (; n < 5 && c->lv[n].id; n++) {
        size_t np = 0;
        for (; np < 4 && c->lv[n].p[np].id; np++) {
            pols[n][np].id = c->lv[n].p[np].id;
            pols[n][np].doc = parse_quoted(c->lv[n].p[np].json);
        }
        levels[n] =
            (struct scp_level){c->lv[n].kind, c->lv[n].id, pols[n], np, c->lv[n].unreadable};
    }
    struct scp_result r;
    enum scp_status got =
        scp_evaluate(n ? levels : NULL, n, c->action ? c->action : LEAVE, c->flags, &r);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < levels[i].n_policies; j++)
            scp_doc_free((struct scp_doc *)pols[i][j].doc);

    if (got != c->status || strcmp(r.detail, c->detail) != 0)
        print_error("case %s: got %s \"%s\"\n", c->name, scp_status_name(got), r.detail);
    assert_int_equal(got, c->status);
    assert_int_equal(r.status, c->status);
    assert_string_equal(scp_status_name(r.status), scp_status_name(c->status));
    assert_string_equal(scp_reason_name(r.reason), c->reason);
    assert_int_equal(r.level, c->level);
    assert_string_equal(r.level_id, c->level_id);
    if (c->level != NONE)
        assert_int_equal(r.level_kind, c->lv[c->level].kind);
    assert_string_equal(r.policy_id, c->policy_id);
    assert_int_equal(r.statement, c->statement);
    assert_string_equal(r.detail, c->detail);
}

/* ---- malformed documents: exact errors ---------------------------------- */

struct pcase {
    const char *json; /* ' for " */
    const char *err;
};

static const struct pcase malformed[] = {
    {"", "invalid JSON at line 1 column 0"},
    {"not json", "invalid JSON at line 1 column 3"},
    {"{'Statement':[{'Effect':'Deny','Action':'*'}]} x", "invalid JSON at line 1 column 48"},
    {"{'Statement':[{'Effect':'Deny','Effect':'Allow','Action':'*'}]}",
     "invalid JSON at line 1 column 39"},
    {"{'Statement':[{'Effect':'Deny','Action':'a\\u0000b'}]}", "invalid JSON at line 1 column 50"},
    {"[]", "document is not a JSON object"},
    {"{}", "Statement is missing"},
    {"{'Version':'2012-10-17'}", "Statement is missing"},
    {"{'Statement':'Deny'}", "Statement must be an object or an array of objects"},
    {"{'Statement':null}", "Statement must be an object or an array of objects"},
    {"{'Statement':[]}", "Statement is empty"},
    {"{'Statement':[1]}", "Statement[0] is not an object"},
    {"{'Version':1,'Statement':{'Effect':'Deny','Action':'*'}}", "Version must be a string"},
    {"{'Id':[],'Statement':{'Effect':'Deny','Action':'*'}}", "Id must be a string"},
    {"{'Foo':1,'Statement':{'Effect':'Deny','Action':'*'}}", "unknown element \"Foo\""},
    {"{'Statement':{'Action':'*'}}", "Statement[0]: Effect is missing"},
    {"{'Statement':{'Effect':'allow','Action':'*'}}",
     "Statement[0]: Effect must be \"Allow\" or \"Deny\""},
    {"{'Statement':{'Effect':true,'Action':'*'}}",
     "Statement[0]: Effect must be \"Allow\" or \"Deny\""},
    {"{'Statement':[{'Effect':'Allow','Action':'*'},{'Effect':'Deny'}]}",
     "Statement[1]: neither Action nor NotAction"},
    {"{'Statement':{'Effect':'Deny','Action':'*','NotAction':'ec2:*'}}",
     "Statement[0]: both Action and NotAction"},
    {"{'Statement':{'Effect':'Deny','Action':42}}",
     "Statement[0]: Action must be a string or a non-empty array of strings"},
    {"{'Statement':{'Effect':'Deny','Action':[]}}",
     "Statement[0]: Action must be a string or a non-empty array of strings"},
    {"{'Statement':{'Effect':'Deny','NotAction':['ec2:*',7]}}",
     "Statement[0]: NotAction must be a string or a non-empty array of strings"},
    {"{'Statement':{'Effect':'Deny','Action':''}}",
     "Statement[0]: each Action value must be 1 to 256 bytes"},
    {"{'Statement':{'Effect':'Deny','Action':'*','Resource':'*','NotResource':'*'}}",
     "Statement[0]: both Resource and NotResource"},
    {"{'Statement':{'Effect':'Deny','Action':'*','Resource':{}}}",
     "Statement[0]: Resource must be a string or a non-empty array of strings"},
    {"{'Statement':{'Effect':'Deny','Action':'*','Condition':'x'}}",
     "Statement[0]: Condition must be an object of objects"},
    {"{'Statement':{'Effect':'Deny','Action':'*','Condition':{'StringEquals':'x'}}}",
     "Statement[0]: Condition must be an object of objects"},
    {"{'Statement':{'Effect':'Deny','Action':'*','Principal':'*'}}",
     "Statement[0]: unknown element \"Principal\""},
    {"{'Statement':{'Effect':'Deny','Action':'*','Sid':3}}", "Statement[0]: Sid must be a string"},
    {"{'Statement':{'Effect':'Deny','Action':'*','a\\\"b\\nc':1}}",
     "Statement[0]: unknown element \"a?b?c\""},
};

static char *unquote(const char *json)
{
    size_t len = strlen(json);
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    for (size_t i = 0; i <= len; i++)
        copy[i] = json[i] == '\'' ? '"' : json[i];
    return copy;
}

static void test_malformed_documents(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char *json = unquote(malformed[i].json);
        char err[256] = "unset";
        struct scp_doc *doc = scp_doc_parse(json, strlen(json), err, sizeof err);
        if (doc || strcmp(err, malformed[i].err) != 0)
            print_error("document %s: err \"%s\"\n", json, err);
        free(json);
        scp_doc_free(doc);
        assert_null(doc);
        assert_string_equal(err, malformed[i].err);
    }
}

static void test_parse_edge_cases(void **state)
{
    (void)state;
    char err[64] = "unset";
    assert_null(scp_doc_parse(NULL, 0, err, sizeof err));
    assert_string_equal(err, "no document");

    /* err NULL or zero-sized: still no crash, still NULL. */
    assert_null(scp_doc_parse("{}", 2, NULL, 0));
    assert_null(scp_doc_parse("{}", 2, err, 0));
    assert_string_equal(err, "no document");

    /* A small buffer gets a truncated, terminated message. */
    char small[8];
    assert_null(scp_doc_parse("{}", 2, small, sizeof small));
    assert_string_equal(small, "Stateme");

    /* Success clears err; len bounds the input (no terminator needed). */
    const char *good = "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"*\"}}garbage";
    struct scp_doc *doc = scp_doc_parse(good, strlen(good) - 7, err, sizeof err);
    assert_non_null(doc);
    assert_string_equal(err, "");
    scp_doc_free(doc);
    scp_doc_free(NULL);
}

/* ---- caps --------------------------------------------------------------- */

/* A document of exactly len bytes: one Deny statement then spaces. */
static char *padded_doc(size_t len)
{
    const char *head = "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"*\"}}";
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, ' ', len);
    memcpy(s, head, strlen(head));
    s[len] = '\0';
    return s;
}

/* {"Statement":[ n times stmt ]} */
static char *repeated_doc(size_t n, const char *stmt)
{
    size_t len = strlen(stmt);
    char *s = malloc(32 + n * (len + 1));
    assert_non_null(s);
    char *p = s + sprintf(s, "{\"Statement\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", stmt);
    strcpy(p, "]}");
    return s;
}

/* {"Statement":{"Effect":"Deny","Action":["a",... n times]<extra>}} */
static char *values_doc(size_t n, const char *extra)
{
    char *s = malloc(64 + 4 * n + strlen(extra));
    assert_non_null(s);
    char *p = s + sprintf(s, "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\"a\"", i ? "," : "");
    sprintf(p, "]%s}}", extra);
    return s;
}

static void test_caps(void **state)
{
    (void)state;
    char err[128];
    char *s = padded_doc(SCP_DOC_MAX_BYTES);
    struct scp_doc *doc = scp_doc_parse(s, SCP_DOC_MAX_BYTES, err, sizeof err);
    assert_non_null(doc);
    scp_doc_free(doc);
    free(s);

    s = padded_doc(SCP_DOC_MAX_BYTES + 1);
    assert_null(scp_doc_parse(s, SCP_DOC_MAX_BYTES + 1, err, sizeof err));
    assert_string_equal(err, "document is 65537 bytes, more than 65536");
    free(s);

    const char *stmt = "{\"Effect\":\"Deny\",\"Action\":\"a\"}";
    s = repeated_doc(SCP_MAX_STATEMENTS, stmt);
    doc = scp_doc_parse(s, strlen(s), err, sizeof err);
    assert_non_null(doc);
    scp_doc_free(doc);
    free(s);
    s = repeated_doc(SCP_MAX_STATEMENTS + 1, stmt);
    assert_null(scp_doc_parse(s, strlen(s), err, sizeof err));
    assert_string_equal(err, "more than 512 statements");
    free(s);

    /* 4096 values in all, Action and Resource together. */
    s = values_doc(SCP_MAX_PATTERNS, "");
    doc = scp_doc_parse(s, strlen(s), err, sizeof err);
    assert_non_null(doc);
    scp_doc_free(doc);
    free(s);
    s = values_doc(SCP_MAX_PATTERNS, ",\"Resource\":\"*\"");
    assert_null(scp_doc_parse(s, strlen(s), err, sizeof err));
    assert_string_equal(err, "more than 4096 Action and Resource values");
    free(s);

    char longest[SCP_PATTERN_MAX + 64];
    snprintf(longest, sizeof longest, "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"%0*d\"}}",
             SCP_PATTERN_MAX, 0);
    doc = scp_doc_parse(longest, strlen(longest), err, sizeof err);
    assert_non_null(doc);
    scp_doc_free(doc);
    snprintf(longest, sizeof longest, "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"%0*d\"}}",
             SCP_PATTERN_MAX + 1, 0);
    assert_null(scp_doc_parse(longest, strlen(longest), err, sizeof err));
    assert_string_equal(err, "Statement[0]: each Action value must be 1 to 256 bytes");
}

/* ---- wildcard matching -------------------------------------------------- */

struct mcase {
    const char *pattern, *action;
    bool match;
};

static const struct mcase matches[] = {
    {"*", LEAVE, true},
    {"*", "", true},
    {"", "", true},
    {"", "a", false},
    {"?", "", false},
    {"?", "a", true},
    {"organizations:*", LEAVE, true},
    {"organizations:Leave*", LEAVE, true},
    {"organizations:leave*", LEAVE, true},
    {"ORGANIZATIONS:LEAVEORGANIZATION", LEAVE, true},
    {"organizations:L?aveOrganization", LEAVE, true},
    {"organizations:L??veOrganization", LEAVE, true},
    {"organizations:L?veOrganization", LEAVE, false},
    {"organizations:LeaveOrganization?", LEAVE, false},
    {"organizations:LeaveOrganization*", LEAVE, true},
    {"organizations:Leave", LEAVE, false},
    {"*Organization", LEAVE, true},
    {"*:*", LEAVE, true},
    {"**", LEAVE, true},
    {"*Leave*Org*", LEAVE, true},
    {"organization:*", LEAVE, false},
    {"ec2:*", LEAVE, false},
    {"a*b*c", "abxbc", true},
    {"a*b", "abc", false},
    {"*a", "aaa", true},
    {"a*", "b", false},
    {"*?", "", false},
    {"\xc3\xa9*", "\xc3\x89x", false}, /* only ASCII folds */
};

static void test_matcher(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof matches / sizeof matches[0]; i++) {
        bool got = scp_action_matches(matches[i].pattern, matches[i].action);
        if (got != matches[i].match)
            print_error("pattern \"%s\" on \"%s\": got %d\n", matches[i].pattern, matches[i].action,
                        got);
        assert_int_equal(got, matches[i].match);
    }
    assert_false(scp_action_matches(NULL, LEAVE));
    assert_false(scp_action_matches("*", NULL));
}

/* Patterns that make a backtracking matcher exponential stay linear-ish:
 * 100000 bytes against 17 stars, well under a second even with sanitizers. */
static void test_matcher_pathological(void **state)
{
    (void)state;
    size_t n = 100000;
    char *s = malloc(n + 2);
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    clock_t t0 = clock();
    assert_false(scp_action_matches("a*a*a*a*a*a*a*a*b", s));
    assert_false(scp_action_matches("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
    assert_false(scp_action_matches("*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?b", s));
    s[n] = 'b';
    s[n + 1] = '\0';
    assert_true(scp_action_matches("a*a*a*a*a*a*a*a*b", s));
    assert_true(scp_action_matches("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    free(s);
    if (secs >= 1.0)
        print_error("pathological patterns took %.3f s\n", secs);
    assert_true(secs < 1.0);
}

/* ---- the rest of the interface ------------------------------------------ */

static void test_invalid_arguments(void **state)
{
    (void)state;
    struct scp_doc *full = parse_quoted(FULL_JSON);
    assert_non_null(full);
    struct scp_policy p = {"p-FullAWSAccess", full};
    struct scp_level l = {SCP_LEVEL_ROOT, R, &p, 1, false};
    struct scp_result r;

    assert_int_equal(scp_evaluate(&l, 1, LEAVE, 0, NULL), SCP_UNKNOWN);
    assert_int_equal(scp_evaluate(&l, 1, LEAVE, 0, &r), SCP_UNPROTECTED);

    assert_int_equal(scp_evaluate(&l, 1, LEAVE, 0x4u, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: unknown flags");
    assert_int_equal(scp_evaluate(&l, 1, NULL, 0, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: action missing, empty or too long");
    char action[SCP_ACTION_MAX + 1];
    memset(action, 'a', SCP_ACTION_MAX);
    action[SCP_ACTION_MAX] = '\0';
    assert_int_equal(scp_evaluate(&l, 1, action, 0, &r), SCP_UNKNOWN);
    action[SCP_ACTION_MAX - 1] = '\0'; /* the longest accepted */
    assert_int_equal(scp_evaluate(&l, 1, action, 0, &r), SCP_UNPROTECTED);

    struct scp_level many[SCP_MAX_LEVELS + 1];
    for (size_t i = 0; i < SCP_MAX_LEVELS + 1; i++)
        many[i] = l;
    assert_int_equal(scp_evaluate(many, SCP_MAX_LEVELS, LEAVE, 0, &r), SCP_UNPROTECTED);
    assert_int_equal(scp_evaluate(many, SCP_MAX_LEVELS + 1, LEAVE, 0, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: too many levels");

    char id[SCP_ID_MAX + 1];
    memset(id, 'x', SCP_ID_MAX);
    id[SCP_ID_MAX - 1] = '\0'; /* 159 bytes: accepted, copied whole */
    struct scp_policy deny_p = {id, NULL};
    struct scp_level bad = {SCP_LEVEL_ACCOUNT, id, &deny_p, 1, false};
    assert_int_equal(scp_evaluate(&bad, 1, LEAVE, 0, &r), SCP_UNKNOWN);
    assert_string_equal(scp_reason_name(r.reason), "malformed_policy");
    assert_string_equal(r.policy_id, id);
    assert_string_equal(r.level_id, id);
    id[SCP_ID_MAX - 1] = 'x';
    id[SCP_ID_MAX] = '\0'; /* 160 bytes: rejected */
    assert_int_equal(scp_evaluate(&bad, 1, LEAVE, 0, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: level id missing or too long");
    bad.id = A;
    assert_int_equal(scp_evaluate(&bad, 1, LEAVE, 0, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: policy id missing or too long");

    struct scp_level nopol = {SCP_LEVEL_ROOT, R, NULL, 2, false};
    assert_int_equal(scp_evaluate(&nopol, 1, LEAVE, 0, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: policies missing");
    struct scp_level kind = {(enum scp_level_kind)7, R, &p, 1, false};
    assert_int_equal(scp_evaluate(&kind, 1, LEAVE, 0, &r), SCP_UNKNOWN);
    assert_string_equal(r.detail, "invalid input: level kind out of range");

    /* Flags decide before any level is looked at. */
    assert_int_equal(scp_evaluate(NULL, 0, NULL, SCP_EVAL_MANAGEMENT_ACCOUNT, &r),
                     SCP_NOT_APPLICABLE);
    assert_int_equal(scp_evaluate(NULL, 0, NULL, SCP_EVAL_SCPS_DISABLED, &r), SCP_UNPROTECTED);
    scp_doc_free(full);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(scp_status_name(SCP_PROTECTED), "protected");
    assert_string_equal(scp_status_name(SCP_CONDITIONAL), "conditional");
    assert_string_equal(scp_status_name(SCP_UNPROTECTED), "unprotected");
    assert_string_equal(scp_status_name(SCP_UNKNOWN), "unknown");
    assert_string_equal(scp_status_name(SCP_NOT_APPLICABLE), "not_applicable");
    assert_string_equal(scp_status_name((enum scp_status)99), "invalid");
    assert_string_equal(scp_reason_name(SCP_REASON_UNREADABLE_LEVEL), "unreadable_level");
    assert_string_equal(scp_reason_name(SCP_REASON_NO_POLICIES), "no_policies");
    assert_string_equal(scp_reason_name((enum scp_reason)99), "invalid");
    assert_string_equal(scp_level_kind_name(SCP_LEVEL_OU), "ou");
    assert_string_equal(scp_level_kind_name((enum scp_level_kind)99), "invalid");
}

int main(void)
{
    static struct CMUnitTest tests[N_CASES + 7];
    size_t n = 0;
    for (size_t i = 0; i < N_CASES; i++)
        tests[n++] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_malformed_documents);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_parse_edge_cases);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_caps);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_matcher);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_matcher_pathological);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_invalid_arguments);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_names);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
