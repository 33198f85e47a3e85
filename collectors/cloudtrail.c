/*
 * cloudtrail: the calls around the technique — who tried to leave, who left,
 * who joined, who touched the guardrails — counted exactly once.
 *
 * Query plan. LookupEvents takes one lookup attribute per call, and only
 * records whose eventSource is organizations.amazonaws.com count: IAM,
 * Auto Scaling, IoT, FMS and others have their own DeletePolicy,
 * UpdatePolicy or DetachPolicy, WorkMail a DeleteOrganization, Chime a
 * CreateAccount, and IAM's are recorded in us-east-1 too. Two plans fit:
 *   - one EventSource=organizations.amazonaws.com query, names filtered
 *     here: it also returns every read-only Organizations call, this
 *     exporter's own ListAccounts and SCP reads among them (over a thousand
 *     per 5 minutes at 10,000 accounts), and every poll reads its whole
 *     overlap window again, so it costs one page per 50 of those calls in
 *     the window, growing with the organization;
 *   - one EventName query per watched name, records of other sources
 *     dropped here: one page per name on a quiet day, whatever the
 *     organization's size, plus a page per 50 same-named events of other
 *     services (IAM's DeletePolicy in a busy account).
 * The second costs the fewest calls, and the least variable: that is the
 * plan, paced at 2 calls per second.
 *
 * Exactly once. CloudTrail delivers events minutes late, so each poll reaches
 * back --collector.cloudtrail.overlap behind the newest event already seen
 * (the first poll reads --collector.cloudtrail.lookback). Events are counted
 * in the process's trail_ledger, by eventID, with those of the EventBridge
 * queue; an id is forgotten once no poll reaches back to its time.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collectors/aws/pager.h"
#include "collectors/aws_session.h"
#include "collectors/organizations.h"
#include "collectors/trail_account.h"
#include "collectors/trail_ledger.h"
#include "collectors/trail_policy.h"
#include "collectors/trail_record.h"
#include "exporter/collector.h"
#include "lib/clock.h"
#include "lib/log.h"

extern const struct collector_shared aws_shared;
static const struct collector_shared *const cloudtrail_shared[] = {&aws_shared, &trail_shared,
                                                                   NULL};

#define MAX_PAGES_PER_QUERY 2000
static struct {
    uint64_t lookback_ms, overlap_ms, member_grace_ms;
    const char *member_role;
    uint64_t member_concurrency;
    const char *role_arn;
} opt;

static const struct flag trail_flags[] = {
    {"collector.cloudtrail.lookback", FLAG_DURATION, "24h",
     "How far back the first poll after start reads (at most 90d).", &opt.lookback_ms, 60000,
     90ULL * 86400000, NULL},
    {"collector.cloudtrail.overlap", FLAG_DURATION, "2h",
     "How far behind the newest event seen each poll reaches back, for late deliveries.",
     &opt.overlap_ms, 0, 86400000, NULL},
    {"collector.cloudtrail.member-role", FLAG_STRING, "",
     "Also look up LeaveOrganization and AcceptHandshake (a transfer to another organization) "
     "in every ACTIVE or PENDING_CLOSURE member account, through this role name "
     "(arn:aws:iam::<account>:role/<name>): a member's own calls are recorded only there.",
     &opt.member_role, 0, 0, NULL},
    {"collector.cloudtrail.member-grace", FLAG_DURATION, "6h",
     "Keep reading a member account's history this long after it left the organization: its "
     "own LeaveOrganization record, the only one naming who left and from where, becomes "
     "readable minutes after the listing has lost the account.",
     &opt.member_grace_ms, 0, 7ULL * 86400000, NULL},
    {"collector.cloudtrail.member-concurrency", FLAG_UINT, "4",
     "Member accounts looked up at once (each paced on its own).", &opt.member_concurrency, 1, 32,
     NULL},
    {"collector.cloudtrail.role-arn", FLAG_STRING, "",
     "Read CloudTrail through this role (STS AssumeRole on top of the resolved credentials): a "
     "role in the management account, the only one that records the membership events, for "
     "credentials of another account such as a delegated administrator's. Without it, such "
     "credentials put the collector down.",
     &opt.role_arn, 0, 0, trail_account_check_role_arn},
};

/* A member account of the fan-out: its role, its client, its last lookup. */
struct member {
    char id[16];
    struct aws_creds_provider *creds; /* AssumeRole into the member */
    struct aws_client *client;
    double polled_at; /* start of its last good lookup; 0 before */
    double left_at;   /* when the listing lost it (read on for the grace); 0 while listed */
    bool up;
    /* This poll's results, filled by a worker thread. */
    struct trail_record *found;
    size_t nfound, capfound;
    bool truncated;
    int rc;
    char err[256];
};

struct trail_state {
    struct trail_ledger *ledger; /* the process's, shared with the eventbridge collector */
    struct aws_client *client;
    struct aws_creds_provider *role; /* --collector.cloudtrail.role-arn's; client's signer */
    struct trail_account *account;   /* is client reading the management account? */
    struct collector_feed *listing;  /* the organizations listing (run->input), or NULL */
    struct member *members;          /* sorted by id */
    size_t nmembers;
};

static void destroy(void *p);

static int add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, trail_flags, sizeof trail_flags / sizeof trail_flags[0]);
}

static void *create(char *err, size_t errlen)
{
    struct trail_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->account = trail_account_create(opt.role_arn);
    if (s->account == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->ledger = trail_ledger_get(err, errlen);
    if (s->ledger == NULL) {
        destroy(s);
        return NULL;
    }
    return s;
}

static void destroy(void *p)
{
    struct trail_state *s = p;
    if (s == NULL)
        return;
    aws_client_destroy(s->client);
    aws_creds_destroy(s->role); /* after the client that signs with it */
    trail_account_destroy(s->account);
    for (size_t i = 0; i < s->nmembers; i++) {
        aws_client_destroy(s->members[i].client);
        aws_creds_destroy(s->members[i].creds);
        free(s->members[i].found);
    }
    free(s->members);
    trail_ledger_release(s->ledger);
    free(s);
}

/* Counts one record of watched event k, first seen from src, once. Its
 * policy type is resolved (maybe with one AWS call) only when it is new. */
static void count(struct trail_state *s, size_t k, enum trail_source src,
                  const struct trail_record *r)
{
    if (trail_ledger_seen(s->ledger, r->event_id))
        return;
    char policy_type[64];
    trail_policy_type(s->client, r, policy_type, sizeof policy_type);
    trail_ledger_count(s->ledger, k, src, src == TRAIL_SOURCE_MEMBER, r, policy_type);
}

struct count_sink {
    struct trail_state *s;
    size_t k;
};

static void count_into(void *arg, const struct trail_record *r)
{
    struct count_sink *c = arg;
    count(c->s, c->k, TRAIL_SOURCE_LOOKUP, r);
}

/* Where lookup() hands each record of the watched name it queried. */
typedef void (*record_sink)(void *arg, const struct trail_record *r);

/* Where lookup()'s pages go: the name queried, and the sink of its records. */
struct lookup_ctx {
    const char *name;
    record_sink sink;
    void *arg;
};

/* Hands one event of a LookupEvents page to the sink, if it is a readable
 * record of the name queried, from Organizations (aws_pager_item_fn). */
static int on_event(void *arg, json_t *ev, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct lookup_ctx *c = arg;
    const char *raw = json_string_value(json_object_get(ev, "CloudTrailEvent"));
    struct trail_record r;
    char why[256];
    if (raw == NULL || trail_record_parse(raw, strlen(raw), &r, why, sizeof why) != 0) {
        const char *id = json_string_value(json_object_get(ev, "EventId"));
        log_warn("cloudtrail", "skipping an unreadable CloudTrail record", "event_id", id ? id : "",
                 "err", raw ? why : "no CloudTrailEvent");
        return 0;
    }
    if (strcmp(r.event_name, c->name) != 0)
        return 0; /* the lookup attribute is the contract; a stray record is not */
    if (strcmp(r.event_source, TRAIL_ORGANIZATIONS_SOURCE) != 0)
        return 0; /* the same name in another service (IAM's DeletePolicy...) */
    c->sink(c->arg, &r);
    return 0;
}

/* All pages of LookupEvents for one event name since `since`, on client c. */
static int lookup(struct aws_client *c, const char *name, double since, double until,
                  const atomic_bool *stopping, record_sink sink, void *arg, char *err,
                  size_t errlen)
{
    /* A start after the end is an error to AWS, and a double out of the range
     * of json_int_t is undefined behaviour to convert: since is at most until,
     * and until is now (the caller's), finite. */
    if (!(since <= until))
        since = until;
    char label[160];
    if (snprintf(label, sizeof label, "LookupEvents %s", name) < 0)
        label[0] = '\0';
    const struct aws_pager pager = {
        .client = c,
        .service = AWS_CLOUDTRAIL,
        .operation = "LookupEvents",
        .items = "Events",
        .label = label,
        .max_pages = MAX_PAGES_PER_QUERY,
        .stopping = stopping,
    };
    json_t *req = json_pack("{s:[{s:s,s:s}],s:I,s:I,s:i}", "LookupAttributes", "AttributeKey",
                            "EventName", "AttributeValue", name, "StartTime", (json_int_t)since,
                            "EndTime", (json_int_t)ceil(until), "MaxResults", 50);
    if (req == NULL) {
        snprintf(err, errlen, "%s: out of memory", label);
        return -1;
    }
    struct lookup_ctx ctx = {name, sink, arg};
    int rc = aws_pager_run(&pager, req, on_event, &ctx, NULL, err, errlen);
    json_decref(req);
    return rc;
}

/* --- member fan-out -------------------------------------------------------- */

static void member_free(struct member *m)
{
    aws_client_destroy(m->client);
    aws_creds_destroy(m->creds);
    free(m->found);
    memset(m, 0, sizeof *m);
}

/* Whether the fan-out reads account a of the listing: a member (not the
 * management account) that can still act. PENDING_CLOSURE accounts still
 * work (AWS's own words), so they can still try to leave. */
static bool member_readable(const struct org_listing *l, const struct org_account *a)
{
    return (strcmp(a->state, "ACTIVE") == 0 || strcmp(a->state, "PENDING_CLOSURE") == 0) &&
           strcmp(a->id, l->management_account_id) != 0;
}

/* A new member entry for account id: the role to assume into it and a
 * client. Returns 0, or -1 (m freed) when they cannot be made. */
static int member_init(struct member *m, const char *id, const char *partition,
                       const atomic_bool *stopping)
{
    snprintf(m->id, sizeof m->id, "%s", id);
    char arn[512];
    snprintf(arn, sizeof arn, "arn:%s:iam::%s:role/%s", partition, id, opt.member_role);
    struct aws_config cfg = aws_session_config_for(trail_ledger_region(), stopping);
    /* The shortest session STS grants: deleting the role ends nothing already
     * issued, so the session's length bounds how long a deleted role goes
     * unnoticed (a refresh every ~10 minutes per member). */
    m->creds = aws_creds_assume_role(aws_session_creds(), &cfg, arn, NULL, "aws-org-exporter", 900);
    m->client = m->creds ? aws_client_create(&cfg, m->creds, id) : NULL;
    if (m->client == NULL) {
        member_free(m);
        return -1;
    }
    return 0;
}

/*
 * Makes s->members the readable members of the listing (see
 * member_readable), keeping the roles and clients of those already there,
 * plus the members the listing lost less than --collector.cloudtrail.member-
 * grace ago: a member that just left records its own LeaveOrganization (the
 * only record naming who and from where) minutes after the listing lost it.
 * An account still listed but no longer readable (suspended, closed) is
 * dropped at once. Both lists are sorted by id.
 */
static int members_sync(struct trail_state *s, const struct org_listing *l, double now,
                        const atomic_bool *stopping)
{
    size_t n = s->nmembers;
    for (size_t i = 0; i < l->n; i++)
        n += member_readable(l, &l->accounts[i]);
    struct member *v = calloc(n + 1, sizeof *v);
    if (v == NULL)
        return -1;
    /* arn:<partition>: from the organization's ARN */
    char partition[32] = "aws";
    if (strncmp(l->org_arn, "arn:", 4) == 0)
        snprintf(partition, sizeof partition, "%.*s", (int)strcspn(l->org_arn + 4, ":"),
                 l->org_arn + 4);
    double grace = (double)opt.member_grace_ms / 1000.0;
    size_t w = 0, old = 0, i = 0;
    while (i < l->n || old < s->nmembers) {
        int c = i == l->n            ? 1
                : old == s->nmembers ? -1
                                     : strcmp(l->accounts[i].id, s->members[old].id);
        if (c < 0) { /* listed, not yet a member */
            const struct org_account *a = &l->accounts[i++];
            if (member_readable(l, a) && member_init(&v[w], a->id, partition, stopping) == 0)
                w++;
            continue;
        }
        struct member *m = &s->members[old++];
        if (c == 0) { /* listed, and a member already */
            const struct org_account *a = &l->accounts[i++];
            if (!member_readable(l, a)) {
                member_free(m);
                continue;
            }
            m->left_at = 0;
        } else { /* a member the listing lost */
            if (m->left_at == 0) {
                m->left_at = now;
                if (grace > 0)
                    log_info("cloudtrail",
                             "a member left the organization: its history is read on for the "
                             "grace period, for its own record of the leave",
                             "account_id", m->id);
            }
            if (now - m->left_at >= grace) {
                member_free(m);
                continue;
            }
        }
        v[w++] = *m;
        memset(m, 0, sizeof *m);
    }
    free(s->members);
    s->members = v;
    s->nmembers = w;
    return 0;
}

static void keep_found(void *arg, const struct trail_record *r)
{
    struct member *m = arg;
    if (m->nfound == m->capfound) {
        size_t cap = m->capfound ? m->capfound * 2 : 4;
        struct trail_record *v = cap > 10000 ? NULL : realloc(m->found, cap * sizeof *v);
        if (v == NULL) {
            /* Far more than any window holds, or no memory: this lookup
             * fails, so its window is read again next poll. */
            m->truncated = true;
            return;
        }
        m->found = v;
        m->capfound = cap;
    }
    m->found[m->nfound++] = *r;
}

struct fanout {
    struct trail_state *s;
    pthread_mutex_t lock;
    size_t next;
    double oldest, now;
    const atomic_bool *stopping;
    const char *names[2]; /* what is looked up in each member */
    size_t nnames;
};

static void *fanout_worker(void *arg)
{
    struct fanout *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        size_t i = f->next++;
        pthread_mutex_unlock(&f->lock);
        if (i >= f->s->nmembers)
            return NULL;
        struct member *m = &f->s->members[i];
        double since =
            m->polled_at > 0
                ? fmax(f->oldest, fmin(m->polled_at, f->now) - (double)opt.overlap_ms / 1000.0)
                : f->oldest;
        m->nfound = 0;
        m->truncated = false;
        m->err[0] = '\0';
        m->rc = 0;
        for (size_t q = 0; q < f->nnames && m->rc == 0; q++)
            m->rc = lookup(m->client, f->names[q], floor(since), f->now, f->stopping, keep_found, m,
                           m->err, sizeof m->err);
        if (m->rc == 0 && m->truncated) {
            snprintf(m->err, sizeof m->err, "more records than can be held");
            m->rc = -1;
        }
    }
}

/* Looks up LeaveOrganization and AcceptHandshake (those of them watched) in
 * every member account being read, a few at a time, then counts what was
 * found (on this thread: counting is not shared). */
static void fanout(struct trail_state *s, double oldest, double now, const atomic_bool *stopping)
{
    struct fanout f = {.s = s, .next = 0, .oldest = oldest, .now = now, .stopping = stopping};
    size_t kof[2];
    static const char *const wanted[] = {"LeaveOrganization", "AcceptHandshake"};
    for (size_t w = 0; w < 2; w++) {
        int k = trail_ledger_find(s->ledger, wanted[w]);
        if (k >= 0) {
            kof[f.nnames] = (size_t)k;
            f.names[f.nnames++] = wanted[w];
        }
    }
    if (f.nnames == 0)
        return;
    struct org_listing *l = collector_feed_take(s->listing);
    if (l == NULL) {
        log_info("cloudtrail", "member fan-out waits for the first organizations listing");
        return;
    }
    int rc = members_sync(s, l, now, stopping);
    org_listing_release(l);
    if (rc != 0 || s->nmembers == 0)
        return;
    pthread_mutex_init(&f.lock, NULL);
    size_t nthreads = opt.member_concurrency < s->nmembers ? opt.member_concurrency : s->nmembers;
    pthread_t threads[32];
    size_t started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&threads[started], NULL, fanout_worker, &f) != 0)
            break;
    if (started == 0)
        fanout_worker(&f);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&f.lock);
    for (size_t i = 0; i < s->nmembers; i++) {
        struct member *m = &s->members[i];
        for (size_t j = 0; j < m->nfound; j++) {
            const struct trail_record *r = &m->found[j];
            size_t q = strcmp(r->event_name, f.names[0]) == 0 ? 0 : 1;
            if (trail_record_member_leave(r))
                count(s, kof[q], TRAIL_SOURCE_MEMBER, r);
        }
        bool was_up = m->up || m->polled_at == 0;
        m->up = m->rc == 0;
        if (m->up)
            m->polled_at = now;
        else if (was_up)
            log_security("cloudtrail",
                         "cannot read a member account's history: a leave attempt there would "
                         "go unseen",
                         "account_id", m->id, "role", opt.member_role, "err", m->err);
    }
}

/* The collector's own families: the account check, the members' state. */
static void write_metrics(const struct trail_state *s, struct expo *e)
{
    trail_account_write_metrics(s->account, e);
    if (opt.member_role[0] == '\0')
        return;
    expo_family(e, "aws_org_cloudtrail_member_up", EXPO_GAUGE,
                "1 when the last lookup in the member account's history worked, 0 when its role "
                "could not be assumed or the lookup failed. Members that left are read on for "
                "--collector.cloudtrail.member-grace.");
    for (size_t i = 0; i < s->nmembers; i++)
        expo_sample(e, &(struct expo_label){"account_id", s->members[i].id}, 1, s->members[i].up);
}

static int run(void *p, struct collector_run *r)
{
    struct trail_state *s = p;
    r->publish_on_error = true;
    s->listing = r->input;
    if (aws_session_run_client(&s->client, &s->role, trail_ledger_region(), opt.role_arn, r) ==
        NULL) {
        write_metrics(s, r->out); /* the zeros, from the start */
        return -1;
    }
    /* LookupEvents reads the caller's own account: anything but the
     * management account's history misses the membership events. */
    if (trail_account_check(s->account, s->client, s->listing, r->err, r->errlen) != 0) {
        write_metrics(s, r->out); /* the counters as they were */
        return -1;
    }
    trail_ledger_begin(s->ledger);
    double now = clock_wall();
    double overlap = (double)opt.overlap_ms / 1000.0;
    double oldest = now - (double)opt.lookback_ms / 1000.0;
    int rc = 0;
    for (size_t k = 0; k < trail_ledger_nwatched(s->ledger) && rc == 0; k++) {
        double since = oldest, polled_at, newest;
        trail_ledger_marks(s->ledger, k, &polled_at, &newest);
        if (polled_at > 0) {
            /* Never after now: the clock may have been stepped back since
             * the last poll, and a query must not start after it ends. */
            double mark = newest > 0 ? fmin(newest, polled_at) : polled_at;
            since = fmax(oldest, fmin(mark, now) - overlap);
        }
        struct count_sink sink = {s, k};
        rc = lookup(s->client, trail_ledger_watched(s->ledger, k), floor(since), now, r->stopping,
                    count_into, &sink, r->err, r->errlen);
    }
    if (rc == 0 && opt.member_role[0] != '\0')
        fanout(s, oldest, now, r->stopping);
    if (rc == 0) {
        trail_ledger_polled(s->ledger, now);
        /* A quiet name's query reaches back behind its own newest event,
         * and a member's behind its last good lookup, but none behind the
         * lookback window. */
        trail_ledger_prune(s->ledger, TRAIL_PATH_POLL, oldest - 60);
    }
    char err[512];
    if (trail_ledger_save(s->ledger, err, sizeof err) != 0)
        log_error("cloudtrail", "cannot save the state", "err", err);
    /* Events counted before a failure stay counted (each once): the ledger
     * publishes them whatever the poll's outcome. */
    write_metrics(s, r->out);
    return rc;
}

/* What the collector consumes: the organizations listing, required by the
 * member fan-out (--collector.cloudtrail.member-role), else used when there
 * to name the management account (trail_account.h). */
static const struct collector_product *consumes(void *state, const char **needed_for)
{
    (void)state;
    if (opt.member_role[0] != '\0')
        *needed_for = "the member fan-out of --collector.cloudtrail.member-role";
    return &org_listing_product;
}

const struct collector_def cloudtrail_collector = {
    .name = "cloudtrail",
    .help = "watched CloudTrail events: leave attempts, departures, arrivals, guardrail "
            "tampering.",
    .default_enabled = true,
    .default_interval = "1m",
    .add_flags = add_flags,
    .create = create,
    .run = run,
    .destroy = destroy,
    .shared = cloudtrail_shared,
    .consumes = consumes,
};
