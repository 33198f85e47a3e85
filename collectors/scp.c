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
 * not wall time. The number of calls grows with policies and OUs, not with
 * accounts: a policy read is shared by every account under it. The accounts
 * themselves come from the organizations collector's listing. Each member is
 * then evaluated by scp_eval over its levels (root, OUs top-down, account).
 * A structure that cannot be read whole fails the run (the last good
 * snapshot stays); a policy whose document does not parse makes the accounts
 * it could decide "unknown", never "protected".
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exporter/collector.h"
#include "lib/log.h"
#include "collectors/aws_session.h"
#include "collectors/organizations.h"
#include "collectors/policy_types.h"
#include "collectors/scp_eval.h"

extern const struct collector_shared aws_shared;

#define ACTION "organizations:LeaveOrganization"
#define MAX_POLICIES 10000
#define MAX_OUS 20000
#define MAX_ITEMS 500000 /* entries of any one listing */

static struct {
    uint64_t policy_refresh_ms; /* deprecated, ignored; 0 when not given */
    uint64_t listing_wait_ms;
} opt;

static const struct flag scp_flags[] = {
    /* Still taken, so that a deployment that passes it keeps starting. */
    {"collector.scp.policy-refresh", FLAG_DURATION, "0s",
     "Deprecated and ignored: every run reads every policy document.", &opt.policy_refresh_ms, 0, 0,
     NULL},
    {"collector.scp.listing-wait", FLAG_DURATION, "2m",
     "How long a run waits for the organizations collector's first listing.", &opt.listing_wait_ms,
     0, 3600000, NULL},
};

static const char *const statuses[] = {"protected", "conditional", "unprotected", "unknown",
                                       "not_applicable"};

/* A policy and its document, as read by one run. */
struct policy {
    char id[SCP_ID_MAX];
    struct scp_doc *doc; /* owned; NULL: not read yet, or malformed */
    char problem[512];   /* why the document does not parse; "" when it does */
};

/* The SCPs of one run, in ListPolicies order. */
struct policies {
    struct policy *v; /* owned */
    size_t n, cap;
};

/* An entity with policies attached (root, OU or account) and its parent. */
struct node {
    char *id;     /* owned; < SCP_ID_MAX bytes */
    char *parent; /* owned; NULL for the root and for nodes not placed (yet) */
    struct scp_policy *attached;
    size_t nattached;
};

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
    struct policies broken;    /* the policies that did not parse when last read
                                  (ids and problems, no docs): warned about once */
    struct previous *previous; /* the last run's statuses, sorted by account id */
    size_t nprevious;
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

/* Frees the policies' documents and array; leaves ps empty. Accepts NULL. */
static void policies_clear(struct policies *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = 0; i < ps->n; i++)
        scp_doc_free(ps->v[i].doc);
    free(ps->v);
    *ps = (struct policies){0};
}

static void destroy(void *p)
{
    struct scp_state *s = p;
    if (s == NULL)
        return;
    aws_client_destroy(s->client);
    policies_clear(&s->broken);
    free(s->previous);
    free(s);
}

/*
 * Calls a paginated operation and hands each item of array `key` to fn.
 * request is borrowed (NextToken is set on it). Returns 0, or -1 with err.
 */
static int each_page(struct aws_client *c, const char *op, json_t *request, const char *key,
                     int (*fn)(void *arg, json_t *item), void *arg, char *err, size_t errlen)
{
    size_t items = 0;
    char *prev = NULL;
    for (int page = 1;; page++) {
        json_t *resp = NULL;
        struct aws_error e;
        if (aws_json_call(c, AWS_ORGANIZATIONS, op, request, &resp, &e) != 0) {
            if (strcmp(e.code, "AccessDeniedException") == 0)
                snprintf(err, errlen,
                         "%s: access denied: the exporter's role needs "
                         "organizations:%s",
                         op, op);
            else
                snprintf(err, errlen, "%s: %s: %s", op, e.code, e.message);
            free(prev);
            return -1;
        }
        json_t *list = json_object_get(resp, key);
        json_t *next = json_object_get(resp, "NextToken");
        if (!json_is_array(list) || (next && !json_is_null(next) && !json_is_string(next))) {
            snprintf(err, errlen, "%s: malformed page %d", op, page);
            json_decref(resp);
            free(prev);
            return -1;
        }
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item)
        {
            err[0] = '\0';
            if (++items > MAX_ITEMS || fn(arg, item) != 0) {
                if (err[0] == '\0') /* else the item's handler said why */
                    snprintf(err, errlen, "%s: malformed or too many items on page %d", op, page);
                json_decref(resp);
                free(prev);
                return -1;
            }
        }
        const char *t = json_string_value(next);
        if (t == NULL || *t == '\0') {
            json_decref(resp);
            break;
        }
        if (prev != NULL && strcmp(prev, t) == 0) {
            snprintf(err, errlen, "%s: NextToken repeated on page %d", op, page);
            json_decref(resp);
            free(prev);
            return -1;
        }
        free(prev);
        prev = strdup(t);
        json_object_set_new(request, "NextToken", json_string(t));
        json_decref(resp);
    }
    free(prev);
    json_object_del(request, "NextToken");
    return 0;
}

/* --- the structure ------------------------------------------------------ */

struct tree {
    struct node *nodes;
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1 into nodes, 0 empty */
    size_t nslots; /* a power of two, at least twice n */
    char root[SCP_ID_MAX];
    bool scp_enabled;
};

static size_t hash_id(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 0x100000001b3ULL;
    return (size_t)h;
}

/* Re-indexes every node into a table of n slots (a power of two). */
static int tree_rehash(struct tree *t, size_t n)
{
    size_t *slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = hash_id(t->nodes[i].id) & (n - 1);
        while (slots[h] != 0)
            h = (h + 1) & (n - 1);
        slots[h] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

/* The node of a root, OU or account, created when asked; O(1) on average:
 * an organization has tens of thousands of them. The pointer is valid until
 * the next creation. */
static struct node *node_get(struct tree *t, const char *id, bool create_it)
{
    if (t->nslots > 0) {
        for (size_t h = hash_id(id) & (t->nslots - 1); t->slots[h] != 0;
             h = (h + 1) & (t->nslots - 1))
            if (strcmp(t->nodes[t->slots[h] - 1].id, id) == 0)
                return &t->nodes[t->slots[h] - 1];
    }
    if (!create_it || strlen(id) >= SCP_ID_MAX)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct node *v = realloc(t->nodes, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        t->nodes = v;
        t->cap = cap;
    }
    struct node *nd = &t->nodes[t->n++];
    memset(nd, 0, sizeof *nd);
    if ((nd->id = strdup(id)) == NULL) {
        t->n--;
        return NULL;
    }
    if (2 * t->n > t->nslots) {
        if (tree_rehash(t, t->nslots ? t->nslots * 2 : 128) != 0) {
            free(nd->id);
            t->n--;
            return NULL;
        }
    } else {
        size_t h = hash_id(id) & (t->nslots - 1);
        while (t->slots[h] != 0)
            h = (h + 1) & (t->nslots - 1);
        t->slots[h] = t->n;
    }
    return nd;
}

/* Sets a node's parent to a copy of id; -1 when out of memory. */
static int node_set_parent(struct node *nd, const char *id)
{
    if (nd->parent != NULL && strcmp(nd->parent, id) == 0)
        return 0;
    char *p = strdup(id);
    if (p == NULL)
        return -1;
    free(nd->parent);
    nd->parent = p;
    return 0;
}

static void tree_free(struct tree *t)
{
    free(t->slots);
    for (size_t i = 0; i < t->n; i++) {
        free(t->nodes[i].id);
        free(t->nodes[i].parent);
        free(t->nodes[i].attached);
    }
    free(t->nodes);
}

static int on_root(void *arg, json_t *item)
{
    struct tree *t = arg;
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
    return node_get(t, id, true) ? 0 : -1;
}

struct child_ctx {
    struct tree *t;
    const char *parent;
    char (*queue)[SCP_ID_MAX];
    size_t *nqueue;
};

static int on_child(void *arg, json_t *item)
{
    struct child_ctx *c = arg;
    const char *id = json_string_value(json_object_get(item, "Id"));
    if (id == NULL)
        return -1;
    struct node *nd = node_get(c->t, id, true);
    if (nd == NULL)
        return -1;
    if (node_set_parent(nd, c->parent) != 0)
        return -1;
    if (c->queue != NULL) {
        if (*c->nqueue == MAX_OUS)
            return -1;
        snprintf(c->queue[(*c->nqueue)++], SCP_ID_MAX, "%s", id);
    }
    return 0;
}

/* SCPs allow five levels of OUs; a path with more elements is not AWS's. */
#define MAX_PATH_ELEMENTS 10

/*
 * Splits an account's path, "o-x/r-y/ou-a/ou-b/123456789012/", into its
 * elements (pointers into buf, which the caller owns), or returns 0 when the
 * path is not one AWS would give for this account under this root: the
 * organization, the root, OUs, the account itself, each ending with '/'.
 */
static size_t split_path(const char *path, const char *root, const char *account, char *buf,
                         size_t buflen, char *el[MAX_PATH_ELEMENTS])
{
    size_t len = strlen(path);
    if (len >= buflen || len < 2 || path[len - 1] != '/')
        return 0;
    memcpy(buf, path, len + 1);
    size_t n = 0;
    for (char *p = buf; *p != '\0';) {
        char *slash = strchr(p, '/');
        if (slash == p || n == MAX_PATH_ELEMENTS || slash - p >= SCP_ID_MAX)
            return 0; /* an empty element, too deep, or an id too long */
        *slash = '\0';
        el[n++] = p;
        p = slash + 1;
    }
    if (n < 3 || strncmp(el[0], "o-", 2) != 0 || strcmp(el[1], root) != 0 ||
        strcmp(el[n - 1], account) != 0)
        return 0;
    for (size_t i = 2; i + 1 < n; i++)
        if (strncmp(el[i], "ou-", 3) != 0)
            return 0;
    return n;
}

/*
 * Places every account and OU from the accounts' paths (each element's parent
 * is the one before; the root has none). Returns 0, -1 (out of memory, err
 * set), or 1 when the paths disagree: an OU given two parents, or an element
 * twice in one path. Then some parents are set and the caller discards them.
 */
static int tree_from_paths(struct tree *t, const struct org_listing *l, char *err, size_t errlen)
{
    char buf[1024], *el[MAX_PATH_ELEMENTS];
    for (size_t i = 0; i < l->n; i++) {
        const struct org_account *a = &l->accounts[i];
        size_t n = split_path(a->path, t->root, a->id, buf, sizeof buf, el);
        for (size_t k = 2; k < n; k++) {
            for (size_t j = 1; j < k; j++)
                if (strcmp(el[j], el[k]) == 0)
                    goto disagree;
            struct node *nd = node_get(t, el[k], true);
            if (nd == NULL || (nd->parent == NULL && node_set_parent(nd, el[k - 1]) != 0)) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            if (strcmp(nd->parent, el[k - 1]) != 0)
                goto disagree;
        }
        continue;
    disagree:
        log_warn("scp", "the accounts' paths disagree: walking the OU tree instead", "account_id",
                 a->id);
        return 1;
    }
    return 0;
}

/* The parents of every OU and account: from Paths when every account has a
 * well-formed one (the API has given them since 2026-03-31), else by walking
 * the OU tree from the root. */
static int read_tree(struct aws_client *c, struct tree *t, const struct org_listing *l, char *err,
                     size_t errlen)
{
    bool paths = l->n > 0;
    char buf[1024], *el[MAX_PATH_ELEMENTS];
    for (size_t i = 0; i < l->n && paths; i++) {
        const struct org_account *a = &l->accounts[i];
        paths = a->path != NULL && split_path(a->path, t->root, a->id, buf, sizeof buf, el) > 0 &&
                (l->org_id == NULL || strcmp(el[0], l->org_id) == 0);
        if (a->path != NULL && !paths)
            log_warn("scp", "an account's path is not well formed: walking the OU tree instead",
                     "account_id", a->id);
    }
    if (paths) {
        int rc = tree_from_paths(t, l, err, errlen);
        if (rc <= 0)
            return rc;
        /* Paths that disagree (an OU moved while the listing was paged):
         * forget every parent they gave and read the structure itself. */
        for (size_t i = 0; i < t->n; i++) {
            free(t->nodes[i].parent);
            t->nodes[i].parent = NULL;
        }
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

/*
 * Reads a policy's document into p->doc (p's, NULL before). Returns 0 with
 * p->doc set, or with p->doc NULL when the document AWS holds does not parse
 * (p->problem says why: the accounts it could decide are unknown). Returns
 * -1 with err set when the call failed or its answer is malformed: the run
 * fails, and the last good snapshot stays.
 */
static int read_document(struct aws_client *c, struct policy *p, char *err, size_t errlen)
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

/* Adds a listed SCP (its id only; the document is read with its targets). */
static int on_policy(void *arg, json_t *item)
{
    struct policies *ps = arg;
    const char *id = json_string_value(json_object_get(item, "Id"));
    if (id == NULL || strlen(id) >= SCP_ID_MAX || ps->n == MAX_POLICIES)
        return -1;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        struct policy *v = realloc(ps->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        ps->v = v;
        ps->cap = cap;
    }
    struct policy *p = &ps->v[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    return 0;
}

/* Warns about a policy that does not parse, once while its problem stays
 * the same (`broken`: the ones that did not parse when last read). */
static void warn_unparsed(const struct policies *broken, const struct policy *p)
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

/* Keeps the policies of ps that do not parse (ids and problems), for the
 * next run's warnings; out of memory, they are warned about again. */
static void keep_broken(struct policies *broken, const struct policies *ps)
{
    policies_clear(broken);
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

struct target_ctx {
    struct tree *t;
    const struct policy *p;
};

static int on_target(void *arg, json_t *item)
{
    struct target_ctx *c = arg;
    const char *id = json_string_value(json_object_get(item, "TargetId"));
    if (id == NULL)
        return -1;
    struct node *nd = node_get(c->t, id, true);
    if (nd == NULL)
        return -1;
    struct scp_policy *v = realloc(nd->attached, (nd->nattached + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    nd->attached = v;
    nd->attached[nd->nattached++] = (struct scp_policy){c->p->id, c->p->doc};
    return 0;
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
static void evaluate(const struct scp_state *s, struct tree *t, const struct org_listing *l,
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
        for (struct node *nd = node_get(t, a->id, false); nd != NULL && n < SCP_MAX_LEVELS;
             nd = nd->parent ? node_get(t, nd->parent, false) : NULL) {
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
                "ou, account) and its id, and the policy that decides it. Always 1.");
    for (size_t i = 0; i < n; i++) {
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
    if (s->client == NULL) {
        if (aws_session_setup(r->err, r->errlen) != 0)
            return -1;
        struct aws_config cfg = *aws_session_config();
        cfg.stopping = r->stopping;
        s->client = aws_client_create(&cfg, aws_session_creds(), "default");
        if (s->client == NULL) {
            snprintf(r->err, r->errlen, "out of memory");
            return -1;
        }
    }
    struct org_listing *l = wait_listing(r);
    if (l == NULL) {
        snprintf(r->err, r->errlen,
                 "no account listing yet from the organizations collector "
                 "(has its first listing succeeded?)");
        return -1;
    }
    struct tree t = {0};
    struct policies ps = {0}; /* the tree's attachments point into it */
    struct verdict *v = NULL;
    int rc = -1;
    json_t *req = json_object();
    if (each_page(s->client, "ListRoots", req, "Roots", on_root, &t, r->err, r->errlen) != 0)
        goto out;
    if (t.root[0] == '\0') {
        snprintf(r->err, r->errlen, "ListRoots: no root");
        goto out;
    }
    if (t.scp_enabled) {
        json_t *lp = json_pack("{s:s}", "Filter", "SERVICE_CONTROL_POLICY");
        int lrc =
            each_page(s->client, "ListPolicies", lp, "Policies", on_policy, &ps, r->err, r->errlen);
        json_decref(lp);
        if (lrc != 0)
            goto out;
        /* The CloudTrail collector tells SCP events from other policy types'. */
        const char **ids = calloc(ps.n + 1, sizeof *ids);
        for (size_t i = 0; ids != NULL && i < ps.n; i++)
            ids[i] = ps.v[i].id;
        if (ids != NULL)
            policy_types_note_scps(ids, ps.n);
        free(ids);
        /* Each policy's document, then its targets: the two operations are
         * paced apart, so the document costs a call but no wait. */
        for (size_t i = 0; i < ps.n; i++) {
            if (read_document(s->client, &ps.v[i], r->err, r->errlen) != 0)
                goto out;
            if (ps.v[i].doc == NULL)
                warn_unparsed(&s->broken, &ps.v[i]);
            json_t *tq = json_pack("{s:s}", "PolicyId", ps.v[i].id);
            struct target_ctx tc = {&t, &ps.v[i]};
            int trc = each_page(s->client, "ListTargetsForPolicy", tq, "Targets", on_target, &tc,
                                r->err, r->errlen);
            json_decref(tq);
            if (trc != 0)
                goto out;
        }
        keep_broken(&s->broken, &ps);
        if (read_tree(s->client, &t, l, r->err, r->errlen) != 0)
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
    rc = 0;
out:
    json_decref(req);
    free(v);
    tree_free(&t);
    policies_clear(&ps);
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
    .shared = &aws_shared,
    .consumes = consumes,
};
