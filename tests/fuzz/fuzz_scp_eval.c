/*
 * Fuzz target of the SCP evaluator: the input is one policy document,
 * attached beside FullAWSAccess at the account level under a root that has
 * only FullAWSAccess, then evaluated for LeaveOrganization and for a second
 * action. Checks the contract, not only the absence of crashes: a document
 * that does not parse has an error message and makes the account unknown;
 * one that parses never yields unknown; every result is terminated and names
 * a real status and reason. The input is also split into a pattern and an
 * action for the wildcard matcher.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -I. \
 *       collectors/scp_eval.c tests/fuzz/fuzz_scp_eval.c -ljansson -o /tmp/fuzz_scp
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/scp_eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char full_json[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","
    "\"Resource\":\"*\"}]}";

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_result(const struct scp_result *r, enum scp_status got, bool parsed)
{
    check(got == r->status);
    check(strcmp(scp_status_name(r->status), "invalid") != 0);
    check(strcmp(scp_reason_name(r->reason), "invalid") != 0);
    check(memchr(r->detail, '\0', sizeof r->detail) != NULL);
    check(r->detail[0] != '\0');
    check(memchr(r->policy_id, '\0', sizeof r->policy_id) != NULL);
    check(memchr(r->level_id, '\0', sizeof r->level_id) != NULL);
    if (!parsed) {
        /* Root and account both allow everything and deny nothing else:
         * the unreadable document decides, so the verdict is unknown. */
        check(r->status == SCP_UNKNOWN && r->reason == SCP_REASON_MALFORMED_POLICY);
        check(strcmp(r->policy_id, "p-fuzzed") == 0);
    } else {
        check(r->status != SCP_UNKNOWN && r->status != SCP_NOT_APPLICABLE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct scp_doc *full;
    if (!full) {
        full = scp_doc_parse(full_json, sizeof full_json - 1, NULL, 0);
        check(full != NULL);
    }

    char err[128];
    struct scp_doc *doc = scp_doc_parse((const char *)data, size, err, sizeof err);
    check(doc != NULL || err[0] != '\0');
    check(memchr(err, '\0', sizeof err) != NULL);

    struct scp_policy root_p[] = {{"p-FullAWSAccess", full}};
    struct scp_policy acct_p[] = {{"p-FullAWSAccess", full}, {"p-fuzzed", doc}};
    struct scp_level levels[] = {
        {SCP_LEVEL_ROOT, "r-ab12", root_p, 1, false},
        {SCP_LEVEL_ACCOUNT, "111122223333", acct_p, 2, false},
    };
    struct scp_result r;
    enum scp_status got = scp_evaluate(levels, 2, "organizations:LeaveOrganization", 0, &r);
    check_result(&r, got, doc != NULL);
    got = scp_evaluate(levels, 2, "ec2:RunInstances", 0, &r);
    check_result(&r, got, doc != NULL);
    scp_doc_free(doc);

    /* The matcher on its own: up to the first NUL or newline is the
     * pattern, the rest (to the next NUL) the action; bounded sizes, as the
     * parser caps patterns at SCP_PATTERN_MAX. */
    if (size > 0 && size <= 2 * SCP_PATTERN_MAX) {
        char buf[2 * SCP_PATTERN_MAX + 1];
        memcpy(buf, data, size);
        buf[size] = '\0';
        char *nl = memchr(buf, '\n', size);
        const char *action = "";
        if (nl) {
            *nl = '\0';
            action = nl + 1;
        }
        bool m = scp_action_matches(buf, action);
        /* "*" matches anything; a pattern without wildcards only itself
         * (ignoring ASCII case). */
        if (strcmp(buf, "*") == 0)
            check(m);
        if (!strpbrk(buf, "*?") && strlen(buf) != strlen(action))
            check(!m);
    }
    return 0;
}
