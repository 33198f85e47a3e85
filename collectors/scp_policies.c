#define _POSIX_C_SOURCE 200809L
#include "collectors/scp_policies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

void scp_policies_clear(struct scp_policies *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = 0; i < ps->n; i++)
        scp_doc_free(ps->v[i].doc);
    free(ps->v);
    *ps = (struct scp_policies){0};
}

int scp_policy_read_document(struct aws_client *c, struct scp_listed_policy *p, char *err,
                             size_t errlen)
{
    json_t *req = json_pack("{s:s}", "PolicyId", p->id), *resp = NULL;
    struct aws_error e;
    if (aws_json_call(c, AWS_ORGANIZATIONS, "DescribePolicy", req, &resp, &e) != 0) {
        snprintf(err, errlen, "DescribePolicy %s: %s: %s", p->id, e.code, e.message);
        json_decref(req);
        return -1;
    }
    json_decref(req);
    json_t *content = json_object_get(json_object_get(resp, "Policy"), "Content");
    if (!json_is_string(content)) {
        snprintf(err, errlen, "DescribePolicy %s: the answer has no Policy.Content string", p->id);
        json_decref(resp);
        return -1;
    }
    char why[256] = "";
    p->problem[0] = '\0';
    /* the length, not strlen: an escaped NUL stays in */
    p->doc =
        scp_doc_parse(json_string_value(content), json_string_length(content), why, sizeof why);
    if (p->doc == NULL)
        snprintf(p->problem, sizeof p->problem, "the policy document does not parse: %s", why);
    json_decref(resp);
    return 0;
}

int scp_policies_add(struct scp_policies *ps, const char *id)
{
    if (strlen(id) >= SCP_ID_MAX || ps->n == SCP_MAX_POLICIES)
        return -1;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        struct scp_listed_policy *v = realloc(ps->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        ps->v = v;
        ps->cap = cap;
    }
    struct scp_listed_policy *p = &ps->v[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    return 0;
}

void scp_policy_warn_unparsed(const struct scp_policies *broken, const struct scp_listed_policy *p)
{
    for (size_t i = 0; i < broken->n; i++)
        if (strcmp(broken->v[i].id, p->id) == 0 && strcmp(broken->v[i].problem, p->problem) == 0) {
            log_debug("scp", "a service control policy still cannot be evaluated", "policy_id",
                      p->id, "err", p->problem);
            return;
        }
    log_warn("scp",
             "a service control policy cannot be evaluated: the accounts it "
             "could decide are unknown",
             "policy_id", p->id, "err", p->problem);
}

void scp_policies_keep_broken(struct scp_policies *broken, const struct scp_policies *ps)
{
    scp_policies_clear(broken);
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++)
        n += ps->v[i].doc == NULL;
    if (n == 0 || (broken->v = calloc(n, sizeof *broken->v)) == NULL)
        return;
    broken->cap = n;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].doc == NULL) {
            broken->v[broken->n] = ps->v[i];
            broken->v[broken->n++].doc = NULL;
        }
}
