/*
 * scp: leave protection, account by account — do the Service Control
 * Policies in force deny organizations:LeaveOrganization to each member?
 *
 * Data model. Each run reads the organization's policy structure: the root
 * (are SCPs enabled?), every SCP (ListPolicies), each one's document
 * (DescribePolicy) and its targets (ListTargetsForPolicy, every page), and
 * the tree of OUs with the accounts' parents (from the accounts' Paths when
 * the listing has them, else ListOrganizationalUnitsForParent and
 * ListAccountsForParent). Documents are read on every run, never cached:
 * UpdatePolicy can change a document alone, effective at once, and nothing
 * in ListPolicies (name, description, AwsManaged) shows it. SCPs are few (AWS
 * allows 1,000), and a policy's DescribePolicy and ListTargetsForPolicy are
 * paced separately, so reading the document beside the targets adds calls,
 * not wall time. The accounts themselves come from the organizations
 * collector's listing.
 *
 * Target lists are kept from run to run (scp_targets), because one of them
 * grows with accounts: AWS attaches FullAWSAccess to every account, 20
 * targets a page (2,500 pages, 500 s at our pace, at 50,000 accounts). A
 * run reads a list again when it is one page (one call, as its document
 * costs), when the trail ledger counted an AttachPolicy or DetachPolicy of
 * its policy since (or shortly before) its last read (scp_changes), and
 * every list every --collector.scp.resync, or every run when no event
 * source counts those events. The changes that come without an event are
 * caught otherwise: an entity that is new since the last good run (an OU,
 * an account, an account that joined again: AWS attaches FullAWSAccess to
 * them itself) has its own policies read (ListPoliciesForTarget), and the
 * kept lists are corrected to match; a moved account or OU changes its
 * parent, which is read every run, not its attachments. Each member is
 * then evaluated by scp_eval over its levels (root, OUs top-down, account).
 * A structure that cannot be read whole fails the run (the last good
 * snapshot stays); a policy whose document does not parse makes the accounts
 * it could decide "unknown", never "protected".
 *
 * This file reads the structure (every listing through aws/pager), evaluates
 * and writes the metrics; scp_tree holds the structure by id, scp_paths
 * places accounts from their Paths, scp_policies holds the SCPs and their
 * documents.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/aws/pager.h"
#include "collectors/aws_session.h"
#include "collectors/organizations.h"
#include "collectors/policy_types.h"
#include "collectors/scp_changes.h"
#include "collectors/scp_eval.h"
#include "collectors/scp_paths.h"
#include "collectors/scp_policies.h"
#include "collectors/scp_targets.h"
#include "collectors/scp_tree.h"
#include "exporter/collector.h"
#include "lib/clock.h"
#include "lib/log.h"

extern const struct collector_shared aws_shared;
static const struct collector_shared *const aws_shared_only[] = {&aws_shared, NULL};

#define ACTION "organizations:LeaveOrganization"
#define MAX_OUS 20000
#define MAX_ITEMS 500000                 /* entries of any one listing */
#define MAX_PAGES (MAX_ITEMS / 20 + 100) /* pages of 20, and some empty ones */
#define TARGETS_PAGE 20                  /* ListTargetsForPolicy's largest page */
/* How long before a target list's read an AttachPolicy or DetachPolicy
 * still makes it stale: Organizations is eventually consistent, and the
 * event's clock is AWS's, not ours. */
#define CHANGE_MARGIN 300.0

static struct {
    uint64_t policy_refresh_ms; /* deprecated, ignored; 0 when not given */
    uint64_t listing_wait_ms;
    bool protected_details; /* aws_org_account_leave_protection_info for protected accounts too */
    uint64_t resync_ms;
} opt;

static const struct flag scp_flags[] = {
    /* Still taken, so that a deployment that passes it keeps starting. */
    {"collector.scp.policy-refresh", FLAG_DURATION, "0s",
     "Deprecated and ignored: every run reads every policy document.", &opt.policy_refresh_ms, 0, 0,
     NULL},
    {"collector.scp.listing-wait", FLAG_DURATION, "2m",
     "How long a run waits for the organizations collector's first listing.", &opt.listing_wait_ms,
     0, 3600000, NULL},
    {"collector.scp.protected-details", FLAG_BOOL, "false",
     "Export aws_org_account_leave_protection_info for protected accounts too (one more series "
     "per account); by default only the accounts that are not protected have it.",
     &opt.protected_details, 0, 0, NULL},
    {"collector.scp.resync", FLAG_DURATION, "6h",
     "How often every SCP's target list is read again in full. In between, a list longer than "
     "one page (20 targets, such as FullAWSAccess's) is read again only after an AttachPolicy "
     "or DetachPolicy of its policy, as counted by the cloudtrail or eventbridge collector, and "
     "new OUs and accounts have their policies read; without such a collector (or with those "
     "events not in --collector.cloudtrail.events), every list is read every run. 0s: every "
     "run.",
     &opt.resync_ms, 0, 30ULL * 86400000, NULL},
};

static const char *const statuses[] = {"protected", "conditional", "unprotected", "unknown",
                                       "not_applicable"};

/* What the metrics need of one account's verdict. The strings point into the
 * listing, the tree, the policies or static names: all outlive the run's
 * write_metrics. Compact on purpose: there is one per account. */
struct verdict {
    const char *account;
    const char *level;     /* "root", "ou", "account" or "" */
    const char *level_id;  /* "" when no level */
    const char *policy_id; /* "" when no policy */
    enum scp_status status;
    enum scp_reason reason;
};

/* The last run's status of an account, for logging changes. AWS account ids
 * have 12 digits; a longer id is not tracked. */
struct previous {
    char account[24];
    enum scp_status status;
};

struct scp_state {
    struct aws_client *client;
    struct scp_policies broken; /* the policies that did not parse when last read
                               (ids and problems, no docs): warned about once */
    struct previous *previous;  /* the last run's statuses, sorted by account id */
    size_t nprevious;
    struct scp_targets targets; /* each SCP's targets as last read (see run) */
    struct scp_known known;     /* the entities the last good run placed */
    double last_full;           /* clock_mono() when the last good complete read of every
                                   target list started; 0 before one */
};

static int add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, scp_flags, sizeof scp_flags / sizeof scp_flags[0]);
}

static void *create(char *err, size_t errlen)
{
    struct scp_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        snprintf(err, errlen, "out of memory");
    if (s != NULL && opt.policy_refresh_ms != 0) {
        char value[32];
        flags_format_duration(opt.policy_refresh_ms, value, sizeof value);
        log_warn("scp",
                 "--collector.scp.policy-refresh is deprecated and ignored: every run reads "
                 "every policy document",
                 "value", value);
    }
    return s;
}

static void destroy(void *p)
{
    struct scp_state *s = p;
    if (s == NULL)
        return;
    aws_client_destroy(s->client);
    scp_policies_clear(&s->broken);
    free(s->previous);
    scp_targets_clear(&s->targets);
    scp_known_clear(&s->known);
    free(s);
}

/* Every page of op (an Organizations listing) with request (borrowed), each
 * item of array `key` handed to fn; base gives the client, the caps and the
 * stopping flag. Returns 0, or -1 with err. */
static int each_page(const struct aws_pager *base, const char *op, json_t *request, const char *key,
                     aws_pager_item_fn fn, void *arg, char *err, size_t errlen)
{
    struct aws_pager p = *base;
    p.operation = op;
    p.items = key;
    return aws_pager_run(&p, request, fn, arg, NULL, err, errlen);
}

/* --- the structure ------------------------------------------------------ */

static int on_root(void *arg, json_t *item, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct scp_tree *t = arg;
    const char *id = json_string_value(json_object_get(item, "Id"));
    json_t *types = json_object_get(item, "PolicyTypes");
    if (id == NULL || (types != NULL && !json_is_array(types)))
        return -1;
    if (t->root[0] != '\0')
        return 0; /* an organization has one root */
    snprintf(t->root, sizeof t->root, "%s", id);
    size_t i;
    json_t *pt;
    json_array_foreach(types, i, pt)
    {
        const char *type = json_string_value(json_object_get(pt, "Type"));
        const char *status = json_string_value(json_object_get(pt, "Status"));
        /* An entry that cannot be read fails the run: taken as "disabled",
         * it would call every account unprotected. */
        if (type == NULL || status == NULL)
            return -1;
        if (strcmp(type, "SERVICE_CONTROL_POLICY") == 0 && strcmp(status, "ENABLED") == 0)
            t->scp_enabled = true;
    }
    return scp_tree_node(t, id, true) ? 0 : -1;
}

struct child_ctx {
    struct scp_tree *t;
    const char *parent;
    char (*queue)[SCP_ID_MAX];
    size_t *nqueue;
};

static int on_child(void *arg, json_t *item, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct child_ctx *c = arg;
    const char *id = json_string_value(json_object_get(item, "Id"));
    if (id == NULL)
        return -1;
    struct scp_node *nd = scp_tree_node(c->t, id, true);
    if (nd == NULL)
        return -1;
    if (scp_node_set_parent(nd, c->parent) != 0)
        return -1;
    if (c->queue != NULL) {
        if (*c->nqueue == MAX_OUS)
            return -1;
        snprintf(c->queue[(*c->nqueue)++], SCP_ID_MAX, "%s", id);
    }
    return 0;
}

/* The parents of every OU and account: from Paths when every account has a
 * well-formed one (the API has given them since 2026-03-31), else by walking
 * the OU tree from the root. */
static int read_tree(const struct aws_pager *c, struct scp_tree *t, const struct org_listing *l,
                     char *err, size_t errlen)
{
    if (scp_paths_usable(t, l)) {
        int rc = scp_paths_place(t, l, err, errlen);
        if (rc <= 0)
            return rc;
        /* Paths that disagree (an OU moved while the listing was paged):
         * forget every parent they gave and read the structure itself. */
        scp_tree_forget_parents(t);
    }
    char(*queue)[SCP_ID_MAX] = calloc(MAX_OUS + 1, SCP_ID_MAX);
    if (queue == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t nqueue = 0;
    snprintf(queue[nqueue++], SCP_ID_MAX, "%s", t->root);
    int rc = 0;
    for (size_t q = 0; q < nqueue && rc == 0; q++) {
        char parent[SCP_ID_MAX];
        snprintf(parent, sizeof parent, "%s", queue[q]);
        json_t *req = json_pack("{s:s}", "ParentId", parent);
        struct child_ctx ous = {t, parent, queue, &nqueue};
        struct child_ctx accounts = {t, parent, NULL, NULL};
        rc = each_page(c, "ListOrganizationalUnitsForParent", req, "OrganizationalUnits", on_child,
                       &ous, err, errlen);
        if (rc == 0)
            rc = each_page(c, "ListAccountsForParent", req, "Accounts", on_child, &accounts, err,
                           errlen);
        json_decref(req);
    }
    free(queue);
    return rc;
}

/* --- the policies -------------------------------------------------------- */

/* Adds a listed SCP (its id only; the document is read with its targets). */
static int on_policy(void *arg, json_t *item, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const char *id = json_string_value(json_object_get(item, "Id"));
    return id ? scp_policies_add(arg, id) : -1;
}

/* Appends item's id (the string member key) to the list l. */
static int append_id(struct scp_target_list *l, json_t *item, const char *key)
{
    const char *id = json_string_value(json_object_get(item, key));
    if (id == NULL || strlen(id) >= SCP_ID_MAX)
        return -1;
    return scp_target_list_append(l, id);
}

/* Appends a target's id to the list being read (arg). */
static int on_target(void *arg, json_t *item, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return append_id(arg, item, "TargetId");
}

/* Attaches p to every target of l in t. Returns 0, or -1 out of memory. */
static int attach_list(struct scp_tree *t, const struct scp_listed_policy *p,
                       const struct scp_target_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct scp_node *nd = scp_tree_node(t, l->ids[i], true);
        if (nd == NULL || scp_node_attach(nd, (struct scp_policy){p->id, p->doc}) != 0)
            return -1;
    }
    return 0;
}

/* What a run reads of the targets: every list (full), or only those that
 * may have changed, and the policies of the entities that are new. */
struct targets_plan {
    bool full;
    const char **fresh;          /* the new entities' ids (borrowed from the tree) */
    struct scp_target_list *got; /* the policy ids attached to each (nfresh lists) */
    size_t nfresh;
    size_t read, kept; /* lists read and kept, for the log */
};

/* Whether policy id's list (old: as last read, or NULL) is read again. */
static bool reread(const struct targets_plan *plan, const struct scp_target_list *old,
                   const char *id)
{
    /* A list of one page costs one call, as its document does: always read.
     * A longer one is read when an event says it may have changed since. */
    return plan->full || old == NULL || old->n <= TARGETS_PAGE ||
           scp_changes_newest(id) >= old->read_at - CHANGE_MARGIN;
}

/*
 * Reads every SCP into ps (the caller's, empty before), each one's document
 * and targets, attaching it to its targets in t (whose attachments then
 * point into ps). Returns 0, or -1 with err set.
 */
static int read_policies(struct scp_state *s, const struct aws_pager *pager, struct scp_tree *t,
                         struct scp_policies *ps, struct targets_plan *plan,
                         struct scp_targets *next, char *err, size_t errlen)
{
    json_t *lp = json_pack("{s:s}", "Filter", "SERVICE_CONTROL_POLICY");
    int rc = each_page(pager, "ListPolicies", lp, "Policies", on_policy, ps, err, errlen);
    json_decref(lp);
    if (rc != 0)
        return -1;
    /* The CloudTrail collector tells SCP events from other policy types'. */
    const char **ids = calloc(ps->n + 1, sizeof *ids);
    for (size_t i = 0; ids != NULL && i < ps->n; i++)
        ids[i] = ps->v[i].id;
    if (ids != NULL)
        policy_types_note_scps(ids, ps->n);
    free(ids);
    /* Each policy's document, then its targets: the two operations are
     * paced apart, so the document costs a call but no wait. */
    for (size_t i = 0; i < ps->n; i++) {
        if (scp_policy_read_document(s->client, &ps->v[i], err, errlen) != 0)
            return -1;
        if (ps->v[i].doc == NULL)
            scp_policy_warn_unparsed(&s->broken, &ps->v[i]);
        const char *id = ps->v[i].id;
        struct scp_target_list *l = NULL;
        if (reread(plan, scp_targets_find(&s->targets, id), id)) {
            l = scp_targets_add(next, id, clock_wall(), true);
            if (l == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            json_t *tq = json_pack("{s:s}", "PolicyId", id);
            rc = each_page(pager, "ListTargetsForPolicy", tq, "Targets", on_target, l, err, errlen);
            json_decref(tq);
            if (rc != 0)
                return -1;
            scp_target_list_sort(l);
            plan->read++;
        } else if ((l = scp_targets_move(&s->targets, next, id)) != NULL) {
            plan->kept++;
        } else {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (attach_list(t, &ps->v[i], l) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    scp_policies_keep_broken(&s->broken, ps);
    return 0;
}

/* --- what changed since the last run -------------------------------------- */

/* The JoinedTimestamp of an entity: an account's from the listing, 0 for
 * the root and OUs. */
static double joined_of(const struct org_listing *l, const char *id)
{
    const struct org_account *a = org_listing_find(l, id);
    return a ? a->joined : 0;
}

/* Whether this run's structure placed nd (the root, or a node with a
 * parent): the entities that are evaluated. */
static bool placed(const struct scp_tree *t, const struct scp_node *nd)
{
    return nd->parent != NULL || strcmp(nd->id, t->root) == 0;
}

/* Whether this run reads every target list: when no earlier read is kept,
 * when no event source says what changed, or when the resync is due. */
static bool full_due(const struct scp_state *s)
{
    return s->last_full == 0 || !scp_changes_watched() || opt.resync_ms == 0 ||
           clock_mono() - s->last_full >= (double)opt.resync_ms / 1000.0;
}

/*
 * Plans a run's target reads when not every list is due (t holds the
 * structure, not yet the policies): the entities
 * placed now but not by the last good run (new OUs, new accounts, accounts
 * that joined again: AWS attaches FullAWSAccess to them without an
 * AttachPolicy event) have their policies read one by one, unless that
 * costs more calls than reading every long list. Returns 0, or -1 out of
 * memory.
 */
static int plan_targets(const struct scp_state *s, const struct scp_tree *t,
                        const struct org_listing *l, struct targets_plan *plan)
{
    plan->fresh = calloc(t->n + 1, sizeof *plan->fresh);
    if (plan->fresh == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const struct scp_node *nd = &t->nodes[i];
        if (placed(t, nd) && !scp_known_has(&s->known, nd->id, joined_of(l, nd->id)))
            plan->fresh[plan->nfresh++] = nd->id;
    }
    size_t pages = 0; /* what reading every long list again costs */
    for (size_t i = 0; i < s->targets.n; i++)
        if (s->targets.v[i].n > TARGETS_PAGE)
            pages += (s->targets.v[i].n + TARGETS_PAGE - 1) / TARGETS_PAGE;
    if (plan->nfresh > pages) {
        plan->full = true;
        plan->nfresh = 0;
    }
    return 0;
}

/* Adds a policy's id (a ListPoliciesForTarget item) to the list arg. */
static int on_attached(void *arg, json_t *item, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return append_id(arg, item, "Id");
}

/* Frees what plan holds. */
static void plan_free(struct targets_plan *plan)
{
    for (size_t i = 0; plan->got != NULL && i < plan->nfresh; i++)
        scp_target_list_free(&plan->got[i]);
    free(plan->got);
    free(plan->fresh);
    plan->got = NULL;
    plan->fresh = NULL;
    plan->nfresh = 0;
}

/*
 * Reads the policies attached to each new entity of plan
 * (ListPoliciesForTarget) into plan->got, before any list is read. When a
 * call fails (a role without organizations:ListPoliciesForTarget, as
 * granted before this call was made), the run reads every list instead:
 * slower, never wrong. Returns 0, or -1 out of memory.
 */
static int read_new_policies(const struct aws_pager *pager, struct targets_plan *plan)
{
    if (plan->nfresh == 0)
        return 0;
    plan->got = calloc(plan->nfresh, sizeof *plan->got);
    if (plan->got == NULL)
        return -1;
    for (size_t i = 0; i < plan->nfresh; i++) {
        char err[512] = "";
        json_t *req =
            json_pack("{s:s,s:s}", "TargetId", plan->fresh[i], "Filter", "SERVICE_CONTROL_POLICY");
        int rc = each_page(pager, "ListPoliciesForTarget", req, "Policies", on_attached,
                           &plan->got[i], err, sizeof err);
        json_decref(req);
        if (rc != 0) {
            log_warn("scp",
                     "cannot read the policies of a new OU or account: reading every target "
                     "list instead (does the exporter's role allow "
                     "organizations:ListPoliciesForTarget?)",
                     "target_id", plan->fresh[i], "err", err);
            plan_free(plan);
            plan->full = true;
            return 0;
        }
        scp_target_list_sort(&plan->got[i]);
    }
    return 0;
}

/*
 * Gives each new entity of plan the policies read for it: they replace, in
 * t, whatever the lists said of it, and every list of next is corrected to
 * match, so that the next run may keep them. Returns 0, or -1 with err.
 */
static int apply_new_policies(struct scp_tree *t, const struct scp_policies *ps,
                              const struct targets_plan *plan, struct scp_targets *next, char *err,
                              size_t errlen)
{
    for (size_t i = 0; i < plan->nfresh; i++) {
        const char *id = plan->fresh[i];
        const struct scp_target_list *got = &plan->got[i];
        struct scp_node *nd = scp_tree_node(t, id, false);
        if (nd == NULL)
            continue;
        scp_node_detach_all(nd);
        for (size_t k = 0; k < got->n; k++) {
            const struct scp_listed_policy *p = NULL;
            for (size_t j = 0; p == NULL && j < ps->n; j++)
                if (strcmp(ps->v[j].id, got->ids[k]) == 0)
                    p = &ps->v[j];
            if (p == NULL) {
                /* Created between the two listings: the next run lists it. */
                snprintf(err, errlen,
                         "ListPoliciesForTarget %s: policy %s is not among the listed SCPs", id,
                         got->ids[k]);
                return -1;
            }
            if (scp_node_attach(nd, (struct scp_policy){p->id, p->doc}) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        for (size_t k = 0; k < next->n; k++) {
            struct scp_target_list *l = &next->v[k];
            if (!scp_target_list_has(got, l->policy))
                scp_target_list_remove(l, id);
            else if (scp_target_list_insert(l, id) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

/*
 * Remembers the entities this run placed and whose policies it knows, for
 * the next run's plan; out of memory, the next run reads every list. Not
 * remembered, so that the next run reads their policies one by one: an
 * entity with none attached (AWS requires one), and after a full read that
 * started at full_wall (0: not a full read), an account that joined since
 * shortly before it began (the lists read then may miss it).
 */
static void remember_known(struct scp_state *s, const struct scp_tree *t,
                           const struct org_listing *l, double full_wall)
{
    scp_known_clear(&s->known);
    for (size_t i = 0; i < t->n; i++) {
        const struct scp_node *nd = &t->nodes[i];
        double joined = joined_of(l, nd->id);
        if (!placed(t, nd) || nd->nattached == 0 ||
            (full_wall > 0 && joined >= full_wall - CHANGE_MARGIN))
            continue;
        if (scp_known_append(&s->known, nd->id, joined) != 0) {
            scp_known_clear(&s->known);
            s->last_full = 0;
            return;
        }
    }
    scp_known_sort(&s->known);
}

/* --- evaluation and metrics ------------------------------------------------ */

static int cmp_verdict(const void *a, const void *b)
{
    return strcmp(((const struct verdict *)a)->account, ((const struct verdict *)b)->account);
}

static int cmp_previous(const void *a, const void *b)
{
    return strcmp(((const struct previous *)a)->account, ((const struct previous *)b)->account);
}

/* Logs an account whose protection changed since the last run. */
static void log_change(const struct scp_state *s, const char *account, const struct scp_result *r)
{
    struct previous key;
    if (s->previous == NULL || strlen(account) >= sizeof key.account)
        return;
    snprintf(key.account, sizeof key.account, "%s", account);
    const struct previous *old =
        bsearch(&key, s->previous, s->nprevious, sizeof *s->previous, cmp_previous);
    if (old == NULL || old->status == r->status)
        return;
    bool weaker = (old->status == SCP_PROTECTED && r->status != SCP_NOT_APPLICABLE) ||
                  (old->status == SCP_CONDITIONAL && r->status == SCP_UNPROTECTED);
    if (weaker)
        log_security("scp", "an account lost its leave protection", "account_id", account, "was",
                     scp_status_name(old->status), "now", scp_status_name(r->status), "detail",
                     r->detail);
    else
        log_info("scp", "an account's leave protection changed", "account_id", account, "was",
                 scp_status_name(old->status), "now", scp_status_name(r->status));
}

/* The verdict the metrics need, with its strings taken from the levels (the
 * tree and the policies) rather than copied: r's arrays die with the loop. */
static void compact(const struct org_account *a, const struct scp_level *levels, size_t n,
                    const struct scp_result *r, struct verdict *v)
{
    *v = (struct verdict){a->id, "", "", "", r->status, r->reason};
    if (r->level >= n)
        return;
    const struct scp_level *lv = &levels[r->level];
    v->level = scp_level_kind_name(r->level_kind);
    v->level_id = lv->id;
    if (r->policy_id[0] == '\0')
        return;
    for (size_t x = 0; x < n; x++) { /* the deciding level's policies first */
        const struct scp_level *l = &levels[(r->level + x) % n];
        for (size_t k = 0; k < l->n_policies; k++)
            if (strcmp(l->policies[k].id, r->policy_id) == 0) {
                v->policy_id = l->policies[k].id;
                return;
            }
    }
}

/* Evaluates every listed account into v (l->n entries), logging changes. */
static void evaluate(const struct scp_state *s, struct scp_tree *t, const struct org_listing *l,
                     struct verdict *v)
{
    struct scp_result r; /* about 1 KB: one at a time, not one per account */
    for (size_t i = 0; i < l->n; i++) {
        const struct org_account *a = &l->accounts[i];
        unsigned flags = 0;
        if (strcmp(a->id, l->management_account_id) == 0)
            flags |= SCP_EVAL_MANAGEMENT_ACCOUNT;
        if (!t->scp_enabled)
            flags |= SCP_EVAL_SCPS_DISABLED;
        /* The chain of levels, account first, then reversed to root first. */
        struct scp_level levels[SCP_MAX_LEVELS];
        size_t n = 0;
        bool complete = false;
        for (struct scp_node *nd = scp_tree_node(t, a->id, false); nd != NULL && n < SCP_MAX_LEVELS;
             nd = nd->parent ? scp_tree_node(t, nd->parent, false) : NULL) {
            enum scp_level_kind kind = strcmp(nd->id, a->id) == 0     ? SCP_LEVEL_ACCOUNT
                                       : strcmp(nd->id, t->root) == 0 ? SCP_LEVEL_ROOT
                                                                      : SCP_LEVEL_OU;
            levels[n++] = (struct scp_level){kind, nd->id, nd->attached, nd->nattached, false};
            if (kind == SCP_LEVEL_ROOT) {
                complete = true;
                break;
            }
        }
        for (size_t x = 0; x < n / 2; x++) {
            struct scp_level tmp = levels[x];
            levels[x] = levels[n - 1 - x];
            levels[n - 1 - x] = tmp;
        }
        if (!complete && !(flags & (SCP_EVAL_MANAGEMENT_ACCOUNT | SCP_EVAL_SCPS_DISABLED))) {
            /* An account the structure does not place (it moved or joined
             * since): nothing can be claimed for it. */
            memset(&r, 0, sizeof r);
            r.status = SCP_UNKNOWN;
            r.reason = SCP_REASON_UNREADABLE_LEVEL;
            r.level = (size_t)-1;
            snprintf(r.detail, sizeof r.detail,
                     "the account is not placed in the organization's tree");
            n = 0;
        } else {
            scp_evaluate(levels, n, ACTION, flags, &r);
        }
        compact(a, levels, n, &r, &v[i]);
        log_change(s, a->id, &r);
    }
}

/*
 * The metrics of a run. aws_org_account_leave_protection_info explains a
 * status; by default it is written only for the accounts that are not
 * protected (the ones an alert or a dashboard asks "why?" about), so that an
 * organization of mostly protected accounts pays one series per account for
 * leave protection, not two (see the README's "Cardinality").
 */
static void write_metrics(bool enabled, const struct verdict *v, size_t n, struct expo *e)
{
    expo_family(e, "aws_org_scp_enabled", EXPO_GAUGE,
                "1 when service control policies are enabled on the organization's root.");
    expo_sample(e, NULL, 0, enabled);
    expo_family(e, "aws_org_account_leave_protection", EXPO_GAUGE,
                "Whether the SCPs in force deny organizations:LeaveOrganization to the account: "
                "protected, conditional (the deny has conditions), unprotected, unknown (a "
                "policy could not be read or evaluated), not_applicable (management account). "
                "Always 1.");
    for (size_t i = 0; i < n; i++) {
        struct expo_label l[] = {{"account_id", v[i].account},
                                 {"status", scp_status_name(v[i].status)}};
        expo_sample(e, l, 2, 1);
    }
    expo_family(e, "aws_org_accounts_leave_protection", EXPO_GAUGE,
                "Accounts per leave-protection status.");
    for (size_t s = 0; s < sizeof statuses / sizeof statuses[0]; s++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            count += strcmp(scp_status_name(v[i].status), statuses[s]) == 0;
        expo_sample(e, &(struct expo_label){"status", statuses[s]}, 1, (double)count);
    }
    expo_family(e, "aws_org_account_leave_protection_info", EXPO_GAUGE,
                "Why the account has its leave-protection status: the reason, the level (root, "
                "ou, account) and its id, and the policy that decides it. Only for the accounts "
                "that are not protected, unless --collector.scp.protected-details. Always 1.");
    for (size_t i = 0; i < n; i++) {
        if (v[i].status == SCP_PROTECTED && !opt.protected_details)
            continue;
        struct expo_label l[] = {{"account_id", v[i].account},
                                 {"reason", scp_reason_name(v[i].reason)},
                                 {"level", v[i].level},
                                 {"level_id", v[i].level_id},
                                 {"policy_id", v[i].policy_id}};
        expo_sample(e, l, 5, 1);
    }
}

/* This run's statuses, kept for the next run's change log; NULL when out of
 * memory (changes then go unlogged once). The caller owns the array. */
static struct previous *remember(const struct verdict *v, size_t n, size_t *kept)
{
    struct previous *p = calloc(n + 1, sizeof *p);
    size_t k = 0;
    for (size_t i = 0; p != NULL && i < n; i++) {
        if (strlen(v[i].account) >= sizeof p[k].account)
            continue;
        snprintf(p[k].account, sizeof p[k].account, "%s", v[i].account);
        p[k++].status = v[i].status;
    }
    qsort(p, k, sizeof *p, cmp_previous);
    *kept = k;
    return p;
}

/* The organizations collector's listing: the run's input (wired by the
 * registry, which refuses to start without its provider), waiting a while
 * for the first. */
static struct org_listing *wait_listing(const struct collector_run *r)
{
    return collector_feed_wait(r->input, (double)opt.listing_wait_ms / 1000.0, r->stopping);
}

/* What the collector consumes: the listing, without which it cannot run. */
static const struct collector_product *consumes(void *state, const char **needed_for)
{
    (void)state;
    *needed_for = "the leave protection of every account";
    return &org_listing_product;
}

static int run(void *p, struct collector_run *r)
{
    struct scp_state *s = p;
    if (aws_session_run_client(&s->client, NULL, NULL, NULL, r) == NULL)
        return -1;
    const struct aws_pager pager = {
        .client = s->client,
        .service = AWS_ORGANIZATIONS,
        .max_pages = MAX_PAGES,
        .max_items = MAX_ITEMS,
        .stopping = r->stopping,
    };
    struct scp_tree t = {0};
    struct scp_policies ps = {0};  /* the tree's attachments point into it */
    struct scp_targets next = {0}; /* this run's target lists, read or kept */
    struct targets_plan plan = {.full = full_due(s)};
    double started = clock_mono(), started_wall = clock_wall();
    struct verdict *v = NULL;
    int rc = -1;
    /* A full read needs no structure first: it reads the lists while the
     * organizations collector's first listing is still being paged (each
     * grows with accounts, and they are paced apart), which halves the
     * first collection of a large organization. */
    struct org_listing *l = plan.full ? NULL : wait_listing(r);
    json_t *req = json_object();
    if (!plan.full && l == NULL)
        goto no_listing;
    if (each_page(&pager, "ListRoots", req, "Roots", on_root, &t, r->err, r->errlen) != 0)
        goto out;
    if (t.root[0] == '\0') {
        snprintf(r->err, r->errlen, "ListRoots: no root");
        goto out;
    }
    if (t.scp_enabled && plan.full &&
        read_policies(s, &pager, &t, &ps, &plan, &next, r->err, r->errlen) != 0)
        goto out;
    if (l == NULL && (l = wait_listing(r)) == NULL)
        goto no_listing;
    if (t.scp_enabled && read_tree(&pager, &t, l, r->err, r->errlen) != 0)
        goto out;
    /* Otherwise the structure first: it says which entities are new. */
    if (t.scp_enabled && !plan.full) {
        if (plan_targets(s, &t, l, &plan) != 0 || read_new_policies(&pager, &plan) != 0) {
            snprintf(r->err, r->errlen, "out of memory");
            goto out;
        }
        started = clock_mono();
        started_wall = clock_wall();
        if (read_policies(s, &pager, &t, &ps, &plan, &next, r->err, r->errlen) != 0 ||
            apply_new_policies(&t, &ps, &plan, &next, r->err, r->errlen) != 0)
            goto out;
    }
    v = calloc(l->n + 1, sizeof *v);
    if (v == NULL) {
        snprintf(r->err, r->errlen, "out of memory");
        goto out;
    }
    evaluate(s, &t, l, v);
    qsort(v, l->n, sizeof *v, cmp_verdict);
    write_metrics(t.scp_enabled, v, l->n, r->out);
    free(s->previous);
    s->previous = remember(v, l->n, &s->nprevious);
    /* What this run read or kept is what the next run starts from. */
    scp_targets_clear(&s->targets);
    s->targets = next;
    next = (struct scp_targets){0};
    if (t.scp_enabled) {
        remember_known(s, &t, l, plan.full ? started_wall : 0);
        if (plan.full)
            s->last_full = started;
    } else {
        scp_known_clear(&s->known);
        s->last_full = 0;
    }
    char nread[24], nkept[24], nfresh[24];
    snprintf(nread, sizeof nread, "%zu", plan.read);
    snprintf(nkept, sizeof nkept, "%zu", plan.kept);
    snprintf(nfresh, sizeof nfresh, "%zu", plan.nfresh);
    log_debug("scp", "target lists", "full", plan.full ? "true" : "false", "read", nread, "kept",
              nkept, "new_entities", nfresh);
    rc = 0;
    goto out;
no_listing:
    snprintf(r->err, r->errlen,
             "no account listing yet from the organizations collector "
             "(has its first listing succeeded?)");
out:
    /* A failed run keeps what it read (each list with its own read time). */
    scp_targets_merge(&s->targets, &next);
    plan_free(&plan);
    json_decref(req);
    free(v);
    scp_tree_free(&t);
    scp_policies_clear(&ps);
    org_listing_release(l);
    return rc;
}

const struct collector_def scp_collector = {
    .name = "scp",
    .help = "leave protection per account: do the SCPs in force deny "
            "organizations:LeaveOrganization?",
    .default_enabled = true,
    .default_interval = "5m",
    .add_flags = add_flags,
    .create = create,
    .run = run,
    .destroy = destroy,
    .shared = aws_shared_only,
    .consumes = consumes,
};
