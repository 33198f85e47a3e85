/*
 * organizations: who is in the organization, in what state, who just left
 * and who just joined.
 *
 * Data model. Each run takes a complete listing (DescribeOrganization, then
 * ListAccounts through every page). A listing that fails or stops part-way is
 * discarded whole: nothing is compared, nothing counted, the previous
 * snapshot stays. A complete listing is compared with the previous complete
 * one: ids gone are departures (kept in the departed list for the retention
 * period), ids new are arrivals (not counted on the first listing). Account
 * names come from account owners, possibly the attacker: they reach the
 * exposition only through the writer's escaping.
 */
#define _POSIX_C_SOURCE 200809L
#include "collectors/organizations.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/aws/pager.h"
#include "collectors/aws_session.h"
#include "exporter/collector.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/search.h"

#define MAX_ACCOUNTS 200000
#define MAX_PAGES (MAX_ACCOUNTS / 20 + 100) /* pages of 20, and some empty ones */

extern const struct collector_shared aws_shared;
static const struct collector_shared *const aws_shared_only[] = {&aws_shared, NULL};

static struct {
    uint64_t retention_ms;
    bool email;
} opt;

static const struct flag org_flags[] = {
    {"collector.organizations.departed-retention", FLAG_DURATION, "7d",
     "How long a departed account stays in aws_org_departed_account_info.", &opt.retention_ms, 0, 0,
     NULL},
    {"collector.organizations.account-email", FLAG_BOOL, "false",
     "Export each account's e-mail address (personal data) as a label of "
     "aws_org_account_info.",
     &opt.email, 0, 0, NULL},
};

static const char *const states[] = {"PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE",
                                     "CLOSED"};

struct departed {
    char *id, *name;  /* owned */
    char *last_state; /* owned: the state it was last listed in */
    double when;
};

/* Departures by the state the account was last listed in: every state of
 * the API from the start, others (a state AWS adds later) as they come, up
 * to DEPARTURE_STATES in all; past that, "OTHER". */
#define DEPARTURE_STATES 16
struct departure_count {
    char state[32];
    uint64_t n;
};

struct org_state {
    struct aws_client *client;
    struct org_listing *prev; /* the last complete listing, owned reference */
    struct departure_count departures[DEPARTURE_STATES];
    size_t ndeparture_states;
    uint64_t arrivals;
    struct departed *gone; /* sorted by id, one entry per account */
    size_t ngone, capgone;
};

/*
 * The distinct parent paths of a listing's accounts: 10,000 accounts sit
 * under some hundreds of OUs, and a path is most of an entry's bytes. A
 * sorted array of malloc'd strings (lib/search).
 */
struct org_paths {
    char **v;
    size_t n, cap;
};

static void paths_free(struct org_paths *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    free(p);
}

/* Puts s (len bytes) into p once; returns the kept copy (p's), or NULL when
 * out of memory. */
static const char *paths_intern(struct org_paths *p, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    if (copy == NULL)
        return NULL;
    bool found;
    size_t at = search_id(p->v, p->n, sizeof *p->v, 0, copy, &found);
    if (found) {
        free(copy);
        return p->v[at];
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        char **v = realloc(p->v, cap * sizeof *v);
        if (v == NULL) {
            free(copy);
            return NULL;
        }
        p->v = v;
        p->cap = cap;
    }
    memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof *p->v);
    p->v[at] = copy;
    p->n++;
    return copy;
}

const char *org_account_path(const struct org_account *a, char *buf, size_t len)
{
    if (a->path != NULL || a->parent_path == NULL)
        return a->path;
    int n = snprintf(buf, len, "%s%s/", a->parent_path, a->id);
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

void org_account_free(struct org_account *a)
{
    free(a->id); /* the block of every string */
    memset(a, 0, sizeof *a);
}

void org_listing_release(struct org_listing *l)
{
    if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        org_account_free(&l->accounts[i]);
    free(l->accounts);
    free(l->org_id);
    free(l->org_arn);
    free(l->feature_set);
    free(l->management_account_id);
    paths_free(l->parents);
    free(l);
}

static void listing_retain(void *l)
{
    atomic_fetch_add(&((struct org_listing *)l)->refs, 1);
}

static void listing_release(void *l)
{
    org_listing_release(l);
}

const struct collector_product org_listing_product = {
    .what = "the account listing",
    .retain = listing_retain,
    .release = listing_release,
};

static int cmp_account(const void *a, const void *b)
{
    return strcmp(((const struct org_account *)a)->id, ((const struct org_account *)b)->id);
}

const struct org_account *org_listing_find(const struct org_listing *l, const char *id)
{
    struct org_account key = {.id = (char *)id};
    return l ? bsearch(&key, l->accounts, l->n, sizeof key, cmp_account) : NULL;
}

static int add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, org_flags, sizeof org_flags / sizeof org_flags[0]);
}

static void *create(char *err, size_t errlen)
{
    struct org_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        snprintf(s->departures[s->ndeparture_states++].state, sizeof s->departures[0].state, "%s",
                 states[i]);
    return s;
}

static void destroy(void *p)
{
    struct org_state *s = p;
    if (s == NULL)
        return;
    aws_client_destroy(s->client);
    org_listing_release(s->prev);
    for (size_t i = 0; i < s->ngone; i++) {
        free(s->gone[i].id);
        free(s->gone[i].name);
        free(s->gone[i].last_state);
    }
    free(s->gone);
    free(s);
}

/* A string member, or NULL when absent; wrong types are reported. */
static int get_string(json_t *o, const char *key, bool required, const char **out, char *err,
                      size_t errlen, const char *what)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(err, errlen, "%s: %s is missing", what, key);
        return -1;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: %s is not a string", what, key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* Reads one account object into a (which the caller frees). */
int org_account_parse(json_t *j, struct org_account *a, struct org_listing *owner, char *err,
                      size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "ListAccounts: an account is not an object");
        return -1;
    }
    const char *id, *name, *email, *arn, *state, *status, *method;
    if (get_string(j, "Id", true, &id, err, errlen, "ListAccounts") ||
        get_string(j, "Name", false, &name, err, errlen, "ListAccounts") ||
        get_string(j, "Email", false, &email, err, errlen, "ListAccounts") ||
        /* Arn: checked for its type, not kept (no metric uses it) */
        get_string(j, "Arn", false, &arn, err, errlen, "ListAccounts") ||
        get_string(j, "State", false, &state, err, errlen, "ListAccounts") ||
        get_string(j, "Status", false, &status, err, errlen, "ListAccounts") ||
        get_string(j, "JoinedMethod", false, &method, err, errlen, "ListAccounts"))
        return -1;
    if (strlen(id) == 0 || strlen(id) > 64) {
        snprintf(err, errlen, "ListAccounts: an account Id is empty or too long");
        return -1;
    }
    json_t *joined = json_object_get(j, "JoinedTimestamp");
    if (joined != NULL && !json_is_null(joined) && !json_is_number(joined)) {
        snprintf(err, errlen, "ListAccounts: JoinedTimestamp is not a number");
        return -1;
    }
    /* State replaced Status (retired 2026-09-09): Status only as a fallback. */
    const char *st = state ? state : status ? status : "UNKNOWN";
    json_t *paths = json_object_get(j, "Paths");
    const char *path = NULL;
    if (json_is_string(paths))
        path = json_string_value(paths);
    else if (json_is_array(paths) && json_is_string(json_array_get(paths, 0)))
        path = json_string_value(json_array_get(paths, 0));
    /* A path that ends with "/<id>/" is kept as its parent's, shared. */
    size_t idlen = strlen(id), plen = path ? strlen(path) : 0;
    if (owner != NULL && plen > idlen + 1 && path[plen - 1] == '/' &&
        path[plen - idlen - 2] == '/' && memcmp(path + plen - idlen - 1, id, idlen) == 0) {
        if (owner->parents == NULL && (owner->parents = calloc(1, sizeof *owner->parents)) == NULL)
            goto oom;
        if ((a->parent_path = paths_intern(owner->parents, path, plen - idlen - 1)) == NULL)
            goto oom;
        path = NULL;
    }
    /* One block: id, name, email, state, joined method, path, each NUL-ended.
     * The e-mail address (personal data) is kept only when it is exported. */
    const char *parts[] = {id, name ? name : "",     email && opt.email ? email : "",
                           st, method ? method : "", path ? path : ""};
    size_t size = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        size += strlen(parts[i]) + 1;
    char *block = malloc(size), *p = block;
    if (block == NULL)
        goto oom;
    char **fields[] = {&a->id, &a->name, &a->email, &a->state, &a->joined_method, &a->path};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = strlen(parts[i]) + 1;
        memcpy(p, parts[i], n);
        *fields[i] = p;
        p += n;
    }
    if (path == NULL)
        a->path = NULL;
    a->joined = joined ? json_number_value(joined) : 0;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Explains the errors a person has to act on. */
static void explain(const struct aws_error *e, const char *op, char *err, size_t errlen)
{
    if (strcmp(e->code, "AWSOrganizationsNotInUseException") == 0)
        snprintf(err, errlen,
                 "%s: this account is not a member of an organization: run the exporter with "
                 "credentials of the management account or a delegated administrator",
                 op);
    else
        aws_pager_explain(e, AWS_ORGANIZATIONS, op, op, err, errlen);
}

/* The organization (DescribeOrganization) into a new listing of no account
 * yet (the caller's, one reference), or NULL with err set. */
static struct org_listing *describe_organization(struct aws_client *c, char *err, size_t errlen)
{
    struct aws_error e;
    json_t *resp = NULL;
    if (aws_json_call(c, AWS_ORGANIZATIONS, "DescribeOrganization", NULL, &resp, &e) != 0) {
        explain(&e, "DescribeOrganization", err, errlen);
        return NULL;
    }
    struct org_listing *l = calloc(1, sizeof *l);
    json_t *org = json_object_get(resp, "Organization");
    const char *id, *arn, *fs, *mgmt;
    if (l == NULL || !json_is_object(org) ||
        get_string(org, "Id", true, &id, err, errlen, "DescribeOrganization") ||
        get_string(org, "Arn", false, &arn, err, errlen, "DescribeOrganization") ||
        get_string(org, "FeatureSet", false, &fs, err, errlen, "DescribeOrganization") ||
        get_string(org, "MasterAccountId", false, &mgmt, err, errlen, "DescribeOrganization")) {
        if (l != NULL && !json_is_object(org))
            snprintf(err, errlen, "DescribeOrganization: no Organization object");
        json_decref(resp);
        free(l);
        return NULL;
    }
    atomic_init(&l->refs, 1);
    l->org_id = strdup(id);
    l->org_arn = dup_or_empty(arn);
    l->feature_set = dup_or_empty(fs);
    l->management_account_id = dup_or_empty(mgmt);
    json_decref(resp);
    if (!l->org_id || !l->org_arn || !l->feature_set || !l->management_account_id) {
        snprintf(err, errlen, "out of memory");
        org_listing_release(l);
        return NULL;
    }
    return l;
}

/* The listing being filled by ListAccounts' pages. */
struct accounts_ctx {
    struct org_listing *l;
    size_t cap;
};

/* Adds one account of a ListAccounts page (aws_pager_item_fn). */
static int on_account(void *arg, json_t *item, char *err, size_t errlen)
{
    struct accounts_ctx *ctx = arg;
    struct org_listing *l = ctx->l;
    if (l->n == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 64;
        struct org_account *v = realloc(l->accounts, cap * sizeof *v);
        if (v == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        l->accounts = v;
        ctx->cap = cap;
    }
    if (org_account_parse(item, &l->accounts[l->n], l, err, errlen) != 0) {
        org_account_free(&l->accounts[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

/* Sorts the accounts by id; an account listed twice (the listing moved
 * while it was paged) is kept once. */
static void sort_unique(struct org_listing *l)
{
    qsort(l->accounts, l->n, sizeof *l->accounts, cmp_account);
    size_t w = 0;
    for (size_t r = 0; r < l->n; r++) {
        if (w > 0 && strcmp(l->accounts[w - 1].id, l->accounts[r].id) == 0) {
            org_account_free(&l->accounts[r]);
            continue;
        }
        l->accounts[w++] = l->accounts[r];
    }
    l->n = w;
}

/* Takes a complete listing, or returns NULL with err set. */
static struct org_listing *take_listing(struct aws_client *c, const atomic_bool *stopping,
                                        char *err, size_t errlen)
{
    struct org_listing *l = describe_organization(c, err, errlen);
    if (l == NULL)
        return NULL;
    const struct aws_pager pager = {
        .client = c,
        .service = AWS_ORGANIZATIONS,
        .operation = "ListAccounts",
        .items = "Accounts",
        .max_pages = MAX_PAGES,
        .max_items = MAX_ACCOUNTS,
        .stopping = stopping,
    };
    struct accounts_ctx ctx = {l, 0};
    json_t *req = json_pack("{s:i}", "MaxResults", 20);
    int rc = req ? aws_pager_run(&pager, req, on_account, &ctx, NULL, err, errlen) : -1;
    if (req == NULL)
        snprintf(err, errlen, "out of memory");
    json_decref(req);
    if (rc != 0) {
        org_listing_release(l);
        return NULL;
    }
    sort_unique(l);
    l->taken_at = clock_wall();
    return l;
}

/*
 * An account missing from a complete listing may still be in the
 * organization: pages are taken at different moments, and an account removed
 * or moved between two pages shifts the others, so one can be skipped. Each
 * such account is asked about directly (DescribeAccount). Still there: it is
 * put back into the listing (no departure). AccountNotFoundException: it
 * departed. Anything else: the listing cannot be trusted this time; returns
 * -1 with err set, and nothing is counted.
 */
static int confirm_missing(struct aws_client *c, const struct org_listing *prev,
                           struct org_listing *now, char *err, size_t errlen)
{
    if (prev == NULL)
        return 0;
    size_t nmissing = 0;
    for (size_t i = 0; i < prev->n; i++) {
        if (org_listing_find(now, prev->accounts[i].id) != NULL)
            continue;
        if (++nmissing > 100) /* a mass departure needs no proof per account */
            break;
        json_t *req = json_pack("{s:s}", "AccountId", prev->accounts[i].id), *resp = NULL;
        struct aws_error e;
        int rc = aws_json_call(c, AWS_ORGANIZATIONS, "DescribeAccount", req, &resp, &e);
        json_decref(req);
        if (rc != 0) {
            if (strcmp(e.code, "AccountNotFoundException") == 0)
                continue; /* departed indeed */
            snprintf(err, errlen, "DescribeAccount %s (to confirm a departure): %s: %s",
                     prev->accounts[i].id, e.code, e.message);
            return -1;
        }
        struct org_account a;
        char why[256];
        json_t *acc = json_object_get(resp, "Account");
        int prc = org_account_parse(acc, &a, now, why, sizeof why);
        json_decref(resp);
        if (prc != 0 || strcmp(a.id, prev->accounts[i].id) != 0) {
            org_account_free(&a);
            snprintf(err, errlen, "DescribeAccount %s: malformed answer", prev->accounts[i].id);
            return -1;
        }
        struct org_account *v = realloc(now->accounts, (now->n + 1) * sizeof *v);
        if (v == NULL) {
            org_account_free(&a);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        now->accounts = v;
        now->accounts[now->n++] = a;
        qsort(now->accounts, now->n, sizeof *now->accounts, cmp_account);
        log_info("organizations",
                 "an account missing from the listing is still in the "
                 "organization (the listing changed while it was paged)",
                 "account_id", a.id, "name", a.name);
    }
    return 0;
}

static int cmp_departed(const void *a, const void *b)
{
    return strcmp(((const struct departed *)a)->id, ((const struct departed *)b)->id);
}

/* The entry of account id among the first n of the departed list (sorted by
 * id), or NULL. */
static struct departed *departed_find(struct org_state *s, size_t n, const char *id)
{
    struct departed key = {.id = (char *)id};
    return n > 0 ? bsearch(&key, s->gone, n, sizeof key, cmp_departed) : NULL;
}

/* Appends account a, departed at `when`, at the end of the departed list
 * (compare sorts once afterwards). On allocation failure the departure is
 * still counted and logged, only not listed. */
static void departed_append(struct org_state *s, const struct org_account *a, double when)
{
    if (s->ngone == s->capgone) {
        size_t cap = s->capgone ? s->capgone * 2 : 16;
        struct departed *g = realloc(s->gone, cap * sizeof *g);
        if (g == NULL)
            return;
        s->gone = g;
        s->capgone = cap;
    }
    struct departed *d = &s->gone[s->ngone];
    d->id = strdup(a->id);
    d->name = strdup(a->name);
    d->last_state = strdup(a->state);
    d->when = when;
    if (d->id && d->name && d->last_state)
        s->ngone++;
    else {
        free(d->id);
        free(d->name);
        free(d->last_state);
    }
}

/* Counts a departure under the account's last listed state. */
static void count_departure(struct org_state *s, const char *state)
{
    size_t i = 0;
    while (i < s->ndeparture_states && strcmp(s->departures[i].state, state) != 0)
        i++;
    if (i == s->ndeparture_states) {
        if (s->ndeparture_states < DEPARTURE_STATES &&
            strlen(state) < sizeof s->departures[0].state)
            snprintf(s->departures[s->ndeparture_states++].state, sizeof s->departures[0].state,
                     "%s", state);
        else
            for (i = 0; i < s->ndeparture_states && strcmp(s->departures[i].state, "OTHER") != 0;)
                i++;
        if (i == s->ndeparture_states) { /* full: the last slot becomes OTHER */
            i = s->ndeparture_states - 1;
            snprintf(s->departures[i].state, sizeof s->departures[i].state, "OTHER");
        }
    }
    s->departures[i].n++;
}

/* Compares with the previous listing: counts and logs arrivals and
 * departures. The departed list keeps one entry per account id (one series
 * each): a departure adds or updates the account's entry, a return removes
 * it. Entries are looked up among those there before this listing (an id
 * departs or arrives at most once per listing), appended, then sorted once. */
static void compare(struct org_state *s, const struct org_listing *now)
{
    const struct org_listing *prev = s->prev;
    if (prev == NULL)
        return; /* the first listing: no arrivals */
    size_t before = s->ngone;
    bool removed = false;
    size_t i = 0, j = 0;
    while (i < prev->n || j < now->n) {
        int c = i == prev->n  ? 1
                : j == now->n ? -1
                              : strcmp(prev->accounts[i].id, now->accounts[j].id);
        if (c < 0) {
            const struct org_account *a = &prev->accounts[i++];
            count_departure(s, a->state);
            /* Never suppressed as a repeat: a second departure is news. */
            log_security("organizations", "account departed the organization", "account_id", a->id,
                         "name", a->name, "last_state", a->state);
            struct departed *d = departed_find(s, before, a->id);
            if (d == NULL) {
                departed_append(s, a, now->taken_at);
                continue;
            }
            char *name = strdup(a->name), *last = strdup(a->state);
            if (name != NULL && last != NULL) {
                free(d->name);
                free(d->last_state);
                d->name = name;
                d->last_state = last;
            } else {
                free(name);
                free(last);
            }
            d->when = now->taken_at;
        } else if (c > 0) {
            const struct org_account *a = &now->accounts[j++];
            s->arrivals++;
            log_info("organizations", "account joined the organization", "account_id", a->id,
                     "name", a->name, "state", a->state, "joined_method", a->joined_method);
            struct departed *d = departed_find(s, before, a->id);
            if (d != NULL) { /* back: no longer departed; dropped below */
                free(d->name);
                free(d->last_state);
                d->name = d->last_state = NULL;
                removed = true;
            }
        } else {
            i++;
            j++;
        }
    }
    if (removed) {
        size_t w = 0;
        for (size_t r = 0; r < s->ngone; r++) {
            if (s->gone[r].name == NULL) {
                free(s->gone[r].id);
                continue;
            }
            s->gone[w++] = s->gone[r];
        }
        s->ngone = w;
    }
    if (s->ngone > before || removed)
        qsort(s->gone, s->ngone, sizeof *s->gone, cmp_departed);
}

static void prune_departed(struct org_state *s, double now)
{
    size_t w = 0;
    for (size_t r = 0; r < s->ngone; r++) {
        if (now - s->gone[r].when > (double)opt.retention_ms / 1000.0) {
            free(s->gone[r].id);
            free(s->gone[r].name);
            free(s->gone[r].last_state);
            continue;
        }
        s->gone[w++] = s->gone[r];
    }
    s->ngone = w;
}

static void write_metrics(const struct org_state *s, const struct org_listing *l, struct expo *e)
{
    expo_family(e, "aws_org_info", EXPO_GAUGE,
                "The organization: its id, management account and feature set; always 1.");
    struct expo_label info[] = {{"organization_id", l->org_id},
                                {"management_account_id", l->management_account_id},
                                {"feature_set", l->feature_set}};
    expo_sample(e, info, 3, 1);

    expo_family(e, "aws_org_accounts", EXPO_GAUGE, "Accounts in the organization per state.");
    size_t nstates = sizeof states / sizeof states[0];
    for (size_t k = 0; k < nstates; k++) {
        size_t count = 0;
        for (size_t i = 0; i < l->n; i++)
            count += strcmp(l->accounts[i].state, states[k]) == 0;
        expo_sample(e, &(struct expo_label){"state", states[k]}, 1, (double)count);
    }
    /* States the API may add later are shown too, once each. */
    for (size_t i = 0; i < l->n; i++) {
        const char *st = l->accounts[i].state;
        bool known = false;
        for (size_t k = 0; k < nstates && !known; k++)
            known = strcmp(st, states[k]) == 0;
        for (size_t p = 0; p < i && !known; p++)
            known = strcmp(st, l->accounts[p].state) == 0;
        if (known)
            continue;
        size_t count = 0;
        for (size_t q = i; q < l->n; q++)
            count += strcmp(l->accounts[q].state, st) == 0;
        expo_sample(e, &(struct expo_label){"state", st}, 1, (double)count);
    }

    expo_family(e, "aws_org_account_info", EXPO_GAUGE,
                "One series per listed account with its name, state and how it joined; "
                "always 1.");
    for (size_t i = 0; i < l->n; i++) {
        const struct org_account *a = &l->accounts[i];
        struct expo_label lab[] = {{"account_id", a->id},
                                   {"name", a->name},
                                   {"state", a->state},
                                   {"joined_method", a->joined_method},
                                   {"email", a->email}};
        expo_sample(e, lab, opt.email ? 5 : 4, 1);
    }
    expo_family(e, "aws_org_account_joined_timestamp_seconds", EXPO_GAUGE,
                "When the account joined the organization (unix time).");
    for (size_t i = 0; i < l->n; i++)
        if (l->accounts[i].joined > 0)
            expo_sample(e, &(struct expo_label){"account_id", l->accounts[i].id}, 1,
                        l->accounts[i].joined);
    expo_family(e, "aws_org_account_departures_total", EXPO_COUNTER,
                "Accounts that were in a complete listing and are not in the next one, by the "
                "state they were last listed in (CLOSED, PENDING_CLOSURE, SUSPENDED: AWS "
                "removing a closed account, not a leave).");
    for (size_t i = 0; i < s->ndeparture_states; i++)
        expo_sample(e, &(struct expo_label){"last_state", s->departures[i].state}, 1,
                    (double)s->departures[i].n);
    expo_family(e, "aws_org_account_arrivals_total", EXPO_COUNTER,
                "Accounts that are in a complete listing and were not in the previous one "
                "(the first listing counts none).");
    expo_sample(e, NULL, 0, (double)s->arrivals);
    expo_family(e, "aws_org_departed_account_info", EXPO_GAUGE,
                "Accounts that departed recently; the value is when the departure was seen "
                "(unix time).");
    for (size_t i = 0; i < s->ngone; i++) {
        struct expo_label lab[] = {{"account_id", s->gone[i].id},
                                   {"name", s->gone[i].name},
                                   {"last_state", s->gone[i].last_state}};
        expo_sample(e, lab, 3, s->gone[i].when);
    }
}

static int run(void *p, struct collector_run *r)
{
    struct org_state *s = p;
    if (aws_session_run_client(&s->client, NULL, NULL, NULL, r) == NULL)
        return -1;
    struct org_listing *l = take_listing(s->client, r->stopping, r->err, r->errlen);
    if (l == NULL)
        return -1; /* the previous snapshot stays; nothing is counted */
    if (confirm_missing(s->client, s->prev, l, r->err, r->errlen) != 0) {
        org_listing_release(l);
        return -1;
    }
    compare(s, l);
    prune_departed(s, l->taken_at);
    write_metrics(s, l, r->out);
    org_listing_release(s->prev);
    s->prev = l;
    if (r->feed != NULL) { /* the other collectors' copy (their run->input) */
        atomic_fetch_add(&l->refs, 1);
        collector_feed_publish(r->feed, l);
    }
    return 0;
}

const struct collector_def organizations_collector = {
    .name = "organizations",
    .help = "accounts of the organization, their states, departures and arrivals.",
    .default_enabled = true,
    .default_interval = "5m",
    .add_flags = add_flags,
    .create = create,
    .run = run,
    .destroy = destroy,
    .shared = aws_shared_only,
    .provides = &org_listing_product,
};
