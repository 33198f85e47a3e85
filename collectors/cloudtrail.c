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
 * (the first poll reads --collector.cloudtrail.lookback). Events are
 * deduplicated by eventID; ids older than the overlap window behind the
 * newest event are forgotten, which bounds the memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "exporter/collector.h"
#include "lib/log.h"
#include "collectors/aws_session.h"
#include "collectors/organizations.h"
#include "collectors/policy_types.h"
#include "collectors/trail_account.h"
#include "collectors/trail_record.h"
#include "lib/clock.h"
#include "lib/search.h"

extern const struct collector_shared aws_shared;

#define MAX_WATCHED 64
#define MAX_PAGES_PER_QUERY 2000
#define MAX_SEEN 200000

static const char default_events[] =
    "LeaveOrganization,AccountDepartedOrganization,AccountJoinedOrganization,"
    "RemoveAccountFromOrganization,InviteAccountToOrganization,AcceptHandshake,CreateAccount,"
    "CreateAccountResult,CloseAccount,CloseAccountResult,MoveAccount,DetachPolicy,DeletePolicy,"
    "UpdatePolicy,AttachPolicy,DisablePolicyType,EnablePolicyType,DeleteOrganization";

/* The only source whose records count (see the query plan). */
#define ORGANIZATIONS_SOURCE "organizations.amazonaws.com"

static struct {
    const char *region;
    const char *events;
    uint64_t lookback_ms, overlap_ms, recent, member_grace_ms;
    const char *state_file;
    const char *member_role;
    uint64_t member_concurrency;
    const char *role_arn;
} opt;

static const char *check_events(const char *s)
{
    size_t n = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 64)
            return "a comma-separated list of CloudTrail event names";
        for (size_t i = 0; i < len; i++)
            if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
                  (p[i] >= '0' && p[i] <= '9')))
                return "a comma-separated list of CloudTrail event names";
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    return n == 0 || n > MAX_WATCHED ? "a comma-separated list of 1 to 64 event names" : NULL;
}

static const char *check_region(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
        return "an AWS region such as us-east-1";
    return NULL;
}

static const struct flag trail_flags[] = {
    {"collector.cloudtrail.region", FLAG_STRING, "us-east-1",
     "Region whose CloudTrail event history is read (Organizations events are recorded in "
     "us-east-1).",
     &opt.region, 0, 0, check_region},
    {"collector.cloudtrail.events", FLAG_STRING, default_events, "Watched event names.",
     &opt.events, 0, 0, check_events},
    {"collector.cloudtrail.lookback", FLAG_DURATION, "24h",
     "How far back the first poll after start reads (at most 90d).", &opt.lookback_ms, 60000,
     90ULL * 86400000, NULL},
    {"collector.cloudtrail.overlap", FLAG_DURATION, "2h",
     "How far behind the newest event seen each poll reaches back, for late deliveries.",
     &opt.overlap_ms, 0, 86400000, NULL},
    {"state.file", FLAG_STRING, "",
     "Keep the CloudTrail counters, high-water marks and recent event ids in this file, so "
     "that a restart neither loses nor recounts events. Written atomically after each poll.",
     &opt.state_file, 0, 0, NULL},
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
    {"collector.cloudtrail.recent-events", FLAG_UINT, "50",
     "How many of the newest events aws_org_cloudtrail_recent_event_info shows.", &opt.recent, 0,
     1000, NULL},
};

static const char *const outcomes[] = {"success", "denied", "failed"};

/* Where a record was first seen: the management account's own history, or a
 * member's (the fan-out). */
enum source { SOURCE_LOOKUP, SOURCE_MEMBER, NSOURCES };
static const char *const sources[] = {"lookup", "member"};

/* aws_org_cloudtrail_event_delay_seconds's bounds: CloudTrail's event history
 * is typically minutes behind, and events arrive up to the overlap late. */
#define NDELAY_BOUNDS 11
static const double delay_bounds[NDELAY_BOUNDS] = {30,   60,   120,  300,   600,  900,
                                                   1800, 3600, 7200, 21600, 86400};

struct recent {
    char event_id[128], event_name[128], account[16], principal[512], source_ip[128],
        error_code[128], departure_method[64], policy_id[160], target_id[160], policy_type[64];
    enum trail_outcome outcome;
    enum source source; /* where it was first seen */
    double time;
    uint64_t poll; /* the poll that first saw it (restored entries keep their order) */
};

struct seen {
    char *id;
    double time;
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
    struct aws_client *client;
    struct aws_creds_provider *role; /* --collector.cloudtrail.role-arn's; client's signer */
    struct trail_account *account;   /* is client reading the management account? */
    struct collector_feed *listing;  /* the organizations listing (run->input), or NULL */
    struct member *members;          /* sorted by id */
    size_t nmembers;
    size_t nwatched;
    char watched[MAX_WATCHED][65];
    uint64_t counts[MAX_WATCHED][3];
    double last[MAX_WATCHED][3];
    double newest[MAX_WATCHED]; /* newest event time seen per name */
    double polled_at;           /* start of the last successful poll, 0 before */
    struct seen *seen;          /* sorted by id */
    size_t nseen, capseen;
    struct recent *recent; /* the last seen first, at most opt.recent */
    size_t nrecent;
    uint64_t poll; /* the current poll's number, from 1 */
    /* Membership events that named no member account, by watched name. */
    uint64_t unattributed[MAX_WATCHED];
    /* How late events were first seen, per source: bucket counts (not
     * cumulative; the last is above every bound) and the sum of seconds. */
    uint64_t delay_buckets[NSOURCES][NDELAY_BOUNDS + 1];
    double delay_sum[NSOURCES];
};

static int state_restore(struct trail_state *s, char *err, size_t errlen);
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
    for (const char *p = opt.events; *p && s->nwatched < MAX_WATCHED;) {
        size_t len = strcspn(p, ",");
        snprintf(s->watched[s->nwatched++], sizeof s->watched[0], "%.*s", (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    s->recent = calloc(opt.recent + 1, sizeof *s->recent);
    s->account = trail_account_create(opt.role_arn);
    if (s->recent == NULL || s->account == NULL) {
        free(s->recent);
        trail_account_destroy(s->account);
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (opt.state_file[0] != '\0' && state_restore(s, err, errlen) != 0) {
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
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i].id);
    free(s->seen);
    free(s->recent);
    free(s);
}

/* Position of id in the sorted seen list; *found says whether it is there. */
static size_t seen_find(const struct trail_state *s, const char *id, bool *found)
{
    return search_id(s->seen, s->nseen, sizeof *s->seen, offsetof(struct seen, id), id, found);
}

/* Records id; returns 1 when new, 0 when already seen, -1 when out of room. */
static int seen_add(struct trail_state *s, const char *id, double t)
{
    bool found;
    size_t at = seen_find(s, id, &found);
    if (found)
        return 0;
    if (s->nseen == MAX_SEEN)
        return -1;
    if (s->nseen == s->capseen) {
        size_t cap = s->capseen ? s->capseen * 2 : 256;
        struct seen *v = realloc(s->seen, cap * sizeof *v);
        if (v == NULL)
            return -1;
        s->seen = v;
        s->capseen = cap;
    }
    char *copy = strdup(id);
    if (copy == NULL)
        return -1;
    memmove(&s->seen[at + 1], &s->seen[at], (s->nseen - at) * sizeof *s->seen);
    s->seen[at] = (struct seen){copy, t};
    s->nseen++;
    return 1;
}

/* Forgets ids that no later query can return again. A quiet name's query
 * reaches back behind its own newest event, and a member's behind its last
 * good lookup, but none reaches behind the lookback window: that is the
 * horizon (MAX_SEEN bounds the memory whatever the volume). */
static void seen_prune(struct trail_state *s)
{
    double horizon = s->polled_at - (double)opt.lookback_ms / 1000.0 - 60;
    size_t w = 0;
    for (size_t r = 0; r < s->nseen; r++) {
        if (s->seen[r].time < horizon) {
            free(s->seen[r].id);
            continue;
        }
        s->seen[w++] = s->seen[r];
    }
    s->nseen = w;
}

/*
 * Puts r into the newest-events list, dropping the entry seen longest ago
 * when the list is full. Ordered by the poll that first saw each event, then
 * (within one poll) by event time, newest first: CloudTrail delivers late and
 * out of order, and a late event must show (and alert) like any other, while
 * the first poll after a start without a state file, which reads the whole
 * lookback window, keeps the newest events, as a restart should. policy_type
 * is the resolved type of r's policy ("" when r is about none).
 */
static void remember_recent(struct trail_state *s, const struct trail_record *r, enum source src,
                            const char *policy_type)
{
    if (opt.recent == 0)
        return;
    size_t at = 0;
    while (at < s->nrecent &&
           (s->recent[at].poll > s->poll ||
            (s->recent[at].poll == s->poll && s->recent[at].time >= r->event_time)))
        at++;
    if (at >= opt.recent)
        return;
    size_t move = s->nrecent - at - (s->nrecent == opt.recent ? 1 : 0);
    memmove(&s->recent[at + 1], &s->recent[at], move * sizeof *s->recent);
    if (s->nrecent < opt.recent)
        s->nrecent++;
    struct recent *e = &s->recent[at];
    memset(e, 0, sizeof *e);
    snprintf(e->event_id, sizeof e->event_id, "%s", r->event_id);
    snprintf(e->event_name, sizeof e->event_name, "%s", r->event_name);
    snprintf(e->account, sizeof e->account, "%s", r->affected_account);
    snprintf(e->principal, sizeof e->principal, "%s", r->principal_arn);
    snprintf(e->source_ip, sizeof e->source_ip, "%s", r->source_ip);
    snprintf(e->error_code, sizeof e->error_code, "%s", r->error_code);
    snprintf(e->departure_method, sizeof e->departure_method, "%s", r->departure_method);
    snprintf(e->policy_id, sizeof e->policy_id, "%s", r->policy_id);
    snprintf(e->target_id, sizeof e->target_id, "%s", r->target_id);
    snprintf(e->policy_type, sizeof e->policy_type, "%s", policy_type);
    e->outcome = r->outcome;
    e->source = src;
    e->time = r->event_time;
    e->poll = s->poll;
}

/*
 * The policy type of a record that is about a policy, into type (cap bytes):
 * the record's own (Enable/DisablePolicyType, CreatePolicy), else what is
 * known of its policy id (the SCP collector's listings, earlier answers),
 * else DescribePolicy's answer. When AWS no longer knows the policy and the
 * SCP collector has listed the SCPs without it, it was not an SCP:
 * "not_found". When nothing can tell: "unknown" (the alerts page on it).
 * "" for a record about no policy.
 */
static void policy_type_of(struct trail_state *s, const struct trail_record *r, char *type,
                           size_t cap)
{
    type[0] = '\0';
    if (r->policy_type[0] != '\0') {
        snprintf(type, cap, "%s", r->policy_type);
        return;
    }
    if (r->policy_id[0] == '\0')
        return;
    if (policy_types_get(r->policy_id, type, cap))
        return;
    snprintf(type, cap, "unknown");
    if (s->client == NULL)
        return;
    json_t *req = json_pack("{s:s}", "PolicyId", r->policy_id);
    json_t *resp = NULL;
    struct aws_error e;
    int rc =
        req ? aws_json_call(s->client, AWS_ORGANIZATIONS, "DescribePolicy", req, &resp, &e) : -1;
    json_decref(req);
    if (rc == 0) {
        const char *t = json_string_value(json_object_get(
            json_object_get(json_object_get(resp, "Policy"), "PolicySummary"), "Type"));
        if (t != NULL && *t != '\0' && strlen(t) < cap) {
            snprintf(type, cap, "%s", t);
            policy_types_note(r->policy_id, t);
        }
    } else if (strcmp(e.code, "PolicyNotFoundException") == 0 && policy_types_scps_complete()) {
        snprintf(type, cap, "not_found");
    } else {
        log_warn("cloudtrail",
                 "cannot tell the type of a policy named by an event; it counts as "
                 "a guardrail",
                 "policy_id", r->policy_id, "event_id", r->event_id, "code", e.code, "err",
                 e.message);
    }
    json_decref(resp);
}

/* Records how late r was first seen from src (never less than 0: the
 * event's clock may be ahead of ours). */
static void observe_delay(struct trail_state *s, enum source src, const struct trail_record *r)
{
    double delay = r->event_time > 0 ? fmax(0, clock_wall() - r->event_time) : 0;
    size_t b = 0;
    while (b < NDELAY_BOUNDS && delay > delay_bounds[b])
        b++;
    s->delay_buckets[src][b]++;
    s->delay_sum[src] += delay;
}

/* Counts one record of watched event k, first seen from src, once. */
static void count(struct trail_state *s, size_t k, enum source src, const struct trail_record *r)
{
    int fresh = seen_add(s, r->event_id, r->event_time);
    if (fresh == 0)
        return;
    if (fresh < 0)
        log_warn("cloudtrail",
                 "too many recent event ids to remember; an event may be counted "
                 "twice",
                 "event_id", r->event_id);
    s->counts[k][r->outcome]++;
    observe_delay(s, src, r);
    s->last[k][r->outcome] = fmax(s->last[k][r->outcome], r->event_time);
    s->newest[k] = fmax(s->newest[k], r->event_time);
    char policy_type[64];
    policy_type_of(s, r, policy_type, sizeof policy_type);
    remember_recent(s, r, src, policy_type);
    if (r->unattributed) {
        s->unattributed[k]++;
        char when[32];
        snprintf(when, sizeof when, "%.0f", r->event_time);
        log_security("cloudtrail",
                     "a membership event names no member account: it is counted, but no "
                     "account is attributed (please report the record's shape)",
                     "event", r->event_name, "event_id", r->event_id, "event_time", when,
                     "recipient_account_id", r->recipient_account);
    }
    /* Failed attempts too (a constraint such as a missing payment method):
     * someone still tried. A member's AcceptHandshake here is a transfer. */
    bool leave = strcmp(r->event_name, "LeaveOrganization") == 0 ||
                 (src == SOURCE_MEMBER && strcmp(r->event_name, "AcceptHandshake") == 0);
    if (leave || strcmp(r->event_name, "AccountDepartedOrganization") == 0) {
        char when[32];
        snprintf(when, sizeof when, "%.0f", r->event_time);
        log_security("cloudtrail",
                     !leave || r->outcome == TRAIL_SUCCESS ? "an account left the organization"
                     : r->outcome == TRAIL_DENIED ? "a LeaveOrganization attempt was denied"
                                                  : "a LeaveOrganization attempt failed",
                     "event", r->event_name, "outcome", trail_outcome_name(r->outcome),
                     "account_id", r->affected_account, "principal_arn", r->principal_arn,
                     "principal_type", r->principal_type, "source_ip", r->source_ip, "error_code",
                     r->error_code, "event_id", r->event_id, "event_time", when);
    }
}

struct count_sink {
    struct trail_state *s;
    size_t k;
};

static void count_into(void *arg, const struct trail_record *r)
{
    struct count_sink *c = arg;
    count(c->s, c->k, SOURCE_LOOKUP, r);
}

/* Where lookup() hands each record of the watched name it queried. */
typedef void (*record_sink)(void *arg, const struct trail_record *r);

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
    char *token = NULL;
    int rc = 0;
    for (int page = 0;; page++) {
        if (page == MAX_PAGES_PER_QUERY || (stopping != NULL && atomic_load(stopping))) {
            snprintf(err, errlen, "LookupEvents %s: too many pages, or stopping", name);
            rc = -1;
            break;
        }
        json_t *req = json_pack("{s:[{s:s,s:s}],s:I,s:I,s:i}", "LookupAttributes", "AttributeKey",
                                "EventName", "AttributeValue", name, "StartTime", (json_int_t)since,
                                "EndTime", (json_int_t)ceil(until), "MaxResults", 50);
        if (token != NULL)
            json_object_set_new(req, "NextToken", json_string(token));
        json_t *resp = NULL;
        struct aws_error e;
        int call = aws_json_call(c, AWS_CLOUDTRAIL, "LookupEvents", req, &resp, &e);
        json_decref(req);
        if (call != 0) {
            /* Cut to the caller's buffer on purpose: the message is AWS's. */
            if (snprintf(err, errlen, "LookupEvents %s: %s: %s", name, e.code, e.message) < 0)
                err[0] = '\0';
            rc = -1;
            break;
        }
        json_t *events = json_object_get(resp, "Events");
        json_t *next = json_object_get(resp, "NextToken");
        if (!json_is_array(events) ||
            (next != NULL && !json_is_null(next) && !json_is_string(next))) {
            snprintf(err, errlen, "LookupEvents %s: malformed page %d", name, page + 1);
            json_decref(resp);
            rc = -1;
            break;
        }
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            const char *raw = json_string_value(json_object_get(ev, "CloudTrailEvent"));
            struct trail_record r;
            char why[256];
            if (raw == NULL || trail_record_parse(raw, strlen(raw), &r, why, sizeof why) != 0) {
                const char *id = json_string_value(json_object_get(ev, "EventId"));
                log_warn("cloudtrail", "skipping an unreadable CloudTrail record", "event_id",
                         id ? id : "", "err", raw ? why : "no CloudTrailEvent");
                continue;
            }
            if (strcmp(r.event_name, name) != 0)
                continue; /* the lookup attribute is the contract; a stray record is not */
            if (strcmp(r.event_source, ORGANIZATIONS_SOURCE) != 0)
                continue; /* the same name in another service (IAM's DeletePolicy...) */
            sink(arg, &r);
        }
        const char *t = json_string_value(next);
        char *again = t && *t ? strdup(t) : NULL;
        bool repeated = again && token && strcmp(again, token) == 0;
        free(token);
        token = again;
        json_decref(resp);
        if (repeated) {
            snprintf(err, errlen, "LookupEvents %s: NextToken repeated", name);
            rc = -1;
            break;
        }
        if (token == NULL)
            break;
    }
    free(token);
    return rc;
}

/* --- the state file ------------------------------------------------------ */

#define STATE_KIND "aws-org-exporter/cloudtrail"
#define STATE_MAX (64u << 20)

/* Writes the state atomically: a new temporary file in the state file's
 * directory, fsync, rename over the state file, fsync of the directory. The
 * temporary file's name is new each time (mkstemp: created exclusively, mode
 * 0600), so nothing planted in the directory is followed or overwritten, and
 * it is removed on any failure. Returns 0, or -1 with a reason in err. */
static int state_save(const struct trail_state *s, char *err, size_t errlen)
{
    json_t *events = json_object();
    for (size_t k = 0; k < s->nwatched; k++)
        json_object_set_new(events, s->watched[k],
                            json_pack("{s:[I,I,I],s:[f,f,f],s:f,s:I}", "counts",
                                      (json_int_t)s->counts[k][0], (json_int_t)s->counts[k][1],
                                      (json_int_t)s->counts[k][2], "last", s->last[k][0],
                                      s->last[k][1], s->last[k][2], "newest", s->newest[k],
                                      "unattributed", (json_int_t)s->unattributed[k]));
    json_t *seen = json_array();
    for (size_t i = 0; i < s->nseen; i++)
        json_array_append_new(seen, json_pack("[s,f]", s->seen[i].id, s->seen[i].time));
    json_t *recent = json_array();
    for (size_t i = 0; i < s->nrecent; i++) {
        const struct recent *r = &s->recent[i];
        json_array_append_new(
            recent, json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f}", "id",
                              r->event_id, "name", r->event_name, "outcome", (int)r->outcome,
                              "source", sources[r->source], "account", r->account, "principal",
                              r->principal, "ip", r->source_ip, "error", r->error_code, "departure",
                              r->departure_method, "policy", r->policy_id, "target", r->target_id,
                              "policy_type", r->policy_type, "time", r->time));
    }
    json_t *delay = json_object();
    for (int src = 0; src < NSOURCES; src++) {
        json_t *b = json_array();
        for (size_t i = 0; i <= NDELAY_BOUNDS; i++)
            json_array_append_new(b, json_integer((json_int_t)s->delay_buckets[src][i]));
        json_object_set_new(delay, sources[src],
                            json_pack("{s:o,s:f}", "buckets", b, "sum", s->delay_sum[src]));
    }
    json_t *doc = json_pack("{s:s,s:i,s:s,s:f,s:o,s:o,s:o,s:o}", "kind", STATE_KIND, "version", 1,
                            "region", opt.region, "polled_at", s->polled_at, "events", events,
                            "seen", seen, "recent", recent, "delay", delay);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        snprintf(err, errlen, "cannot encode the state");
        return -1;
    }
    char dir[4096], base[4096], tmp[4096];
    snprintf(dir, sizeof dir, "%s", opt.state_file);
    snprintf(base, sizeof base, "%s", opt.state_file);
    const char *folder = dirname(dir); /* may be dir, or a static "." */
    int n = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", folder, basename(base));
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "cannot write %s: the path is too long", opt.state_file);
        free(text);
        return -1;
    }
    int fd = mkstemp(tmp);
    int rc = fd < 0 ? -1 : 0, saved = errno;
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    size_t len = strlen(text), off = 0;
    while (rc == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -1;
            saved = w < 0 ? errno : EIO;
        } else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = -1;
        saved = errno;
    }
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, opt.state_file) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", opt.state_file, strerror(saved));
        if (fd >= 0)
            unlink(tmp);
    } else {
        int dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(text);
    return rc;
}

/* A time read from the state file, against the clock now. The file may have
 * been written under a clock since stepped back, or forged: a time after now
 * + STATE_AHEAD is absent (0) and counted in *bad, a time a little ahead is
 * clamped to now, so no query starts after it ends. With too_old, a time
 * before now - STATE_BEHIND (no query reaches that far) is absent too. 0, the
 * file's word for "none", stays 0. */
#define STATE_AHEAD 300.0
#define STATE_BEHIND (90.0 * 86400)
static double loaded_time(json_t *v, double now, bool too_old, size_t *bad)
{
    double t = json_number_value(v);
    if (t == 0)
        return 0;
    if (!(t > 0) || t > now + STATE_AHEAD || (too_old && t < now - STATE_BEHIND)) {
        (*bad)++;
        return 0;
    }
    return fmin(t, now);
}

static int cmp_seen(const void *a, const void *b)
{
    return strcmp(((const struct seen *)a)->id, ((const struct seen *)b)->id);
}

/* Loads the seen ids of the state file: all of them (at most MAX_SEEN), then
 * one sort and one pass that drops duplicates (keeping the newest time), so a
 * file in any order loads in O(n log n). Returns 0, or -1 out of memory. */
static int seen_load(struct trail_state *s, json_t *seen, double now)
{
    size_t n = json_array_size(seen);
    if (n > MAX_SEEN)
        n = MAX_SEEN;
    if (n == 0)
        return 0;
    s->seen = malloc(n * sizeof *s->seen);
    if (s->seen == NULL)
        return -1;
    s->capseen = n;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(seen, i);
        const char *id = json_string_value(json_array_get(v, 0));
        json_t *t = json_array_get(v, 1);
        if (id == NULL || !json_is_number(t))
            continue;
        char *copy = strdup(id);
        if (copy == NULL)
            return -1;
        /* An event time, ahead of this clock at most by the clock's error. */
        s->seen[s->nseen++] = (struct seen){copy, fmin(json_number_value(t), now)};
    }
    qsort(s->seen, s->nseen, sizeof *s->seen, cmp_seen);
    size_t w = 0;
    for (size_t r = 0; r < s->nseen; r++) {
        if (w > 0 && strcmp(s->seen[w - 1].id, s->seen[r].id) == 0) {
            s->seen[w - 1].time = fmax(s->seen[w - 1].time, s->seen[r].time);
            free(s->seen[r].id);
            continue;
        }
        s->seen[w++] = s->seen[r];
    }
    s->nseen = w;
    return 0;
}

/* Loads the state file into s (which is fresh). Returns 1 when loaded, 0 when
 * there is none, -1 when it is unusable (reason in err; the caller sets it
 * aside), -2 when it is not a regular file (reason in err; left alone). */
static int state_load(struct trail_state *s, char *err, size_t errlen)
{
    struct buf text; /* read under the cap before parsing: never a huge file in memory */
    buf_init(&text, STATE_MAX);
    if (buf_read_file(&text, opt.state_file) != 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == EINVAL) {
            snprintf(err, errlen,
                     "--state.file=%s is not a regular file (a device, FIFO or directory)",
                     opt.state_file);
            return -2;
        }
        snprintf(err, errlen, "not a state file: %s",
                 errno == EFBIG ? "larger than 64 MiB" : strerror(errno));
        return -1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &jerr);
    buf_free(&text);
    if (doc == NULL) {
        snprintf(err, errlen, "not a state file: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const char *region = json_string_value(json_object_get(doc, "region"));
    json_t *events = json_object_get(doc, "events");
    json_t *seen = json_object_get(doc, "seen");
    json_t *recent = json_object_get(doc, "recent");
    if (kind == NULL || strcmp(kind, STATE_KIND) != 0 ||
        json_integer_value(json_object_get(doc, "version")) != 1) {
        snprintf(err, errlen, "not this exporter's CloudTrail state");
        json_decref(doc);
        return -1;
    }
    if (region == NULL || strcmp(region, opt.region) != 0 || !json_is_object(events) ||
        !json_is_array(seen) || !json_is_array(recent) ||
        !json_is_number(json_object_get(doc, "polled_at"))) {
        snprintf(err, errlen, "written for another region, or malformed");
        json_decref(doc);
        return -1;
    }
    double now = clock_wall();
    size_t bad = 0;
    s->polled_at = loaded_time(json_object_get(doc, "polled_at"), now, true, &bad);
    for (size_t k = 0; k < s->nwatched; k++) {
        json_t *ev = json_object_get(events, s->watched[k]);
        json_t *c = json_object_get(ev, "counts"), *l = json_object_get(ev, "last");
        for (int o = 0; o < 3; o++) {
            json_t *n = json_array_get(c, (size_t)o);
            if (json_is_integer(n) && json_integer_value(n) >= 0)
                s->counts[k][o] = (uint64_t)json_integer_value(n);
            s->last[k][o] = loaded_time(json_array_get(l, (size_t)o), now, false, &bad);
        }
        /* An old newest is kept: a quiet name's query reaches back behind it. */
        s->newest[k] = loaded_time(json_object_get(ev, "newest"), now, false, &bad);
        json_t *u = json_object_get(ev, "unattributed"); /* absent in older files */
        if (json_is_integer(u) && json_integer_value(u) >= 0)
            s->unattributed[k] = (uint64_t)json_integer_value(u);
    }
    if (bad > 0) {
        char nbad[32];
        snprintf(nbad, sizeof nbad, "%zu", bad);
        log_warn("cloudtrail",
                 "the state file holds times out of range (after now + 5m, or a last poll "
                 "before now - 90d): a clock step? They are ignored, and their windows are "
                 "read again",
                 "file", opt.state_file, "times", nbad);
    }
    /* The delay histogram (absent in older files: it starts at zero, and its
     * count then trails the counters by what they had). Bucket bounds are
     * fixed: a file with another number of buckets is ignored. */
    json_t *delay = json_object_get(doc, "delay");
    for (int src = 0; src < NSOURCES; src++) {
        json_t *d = json_object_get(delay, sources[src]);
        json_t *b = json_object_get(d, "buckets");
        double sum = json_number_value(json_object_get(d, "sum"));
        if (json_array_size(b) != NDELAY_BOUNDS + 1 || !(sum >= 0))
            continue;
        for (size_t i = 0; i <= NDELAY_BOUNDS; i++) {
            json_t *c = json_array_get(b, i);
            s->delay_buckets[src][i] = json_is_integer(c) && json_integer_value(c) >= 0
                                           ? (uint64_t)json_integer_value(c)
                                           : 0;
        }
        s->delay_sum[src] = sum;
    }
    if (seen_load(s, seen, now) != 0) {
        snprintf(err, errlen, "out of memory");
        json_decref(doc);
        return -1;
    }
    /* Saved last-seen first: put back oldest first, each as if seen by a
     * poll of its own, so the order holds; polls from now on come later. */
    s->poll = 0;
    for (size_t i = json_array_size(recent); i-- > 0;) {
        s->poll++;
        json_t *v = json_array_get(recent, i);
        struct trail_record r;
        char policy_type[64];
        memset(&r, 0, sizeof r);
        const struct {
            const char *key;
            char *dst;
            size_t size;
        } fields[] = {{"id", r.event_id, sizeof r.event_id},
                      {"name", r.event_name, sizeof r.event_name},
                      {"account", r.affected_account, sizeof r.affected_account},
                      {"principal", r.principal_arn, sizeof r.principal_arn},
                      {"ip", r.source_ip, sizeof r.source_ip},
                      {"error", r.error_code, sizeof r.error_code},
                      {"departure", r.departure_method, sizeof r.departure_method},
                      {"policy", r.policy_id, sizeof r.policy_id},
                      {"target", r.target_id, sizeof r.target_id},
                      {"policy_type", policy_type, sizeof policy_type}};
        for (size_t j = 0; j < sizeof fields / sizeof fields[0]; j++) {
            const char *val = json_string_value(json_object_get(v, fields[j].key));
            snprintf(fields[j].dst, fields[j].size, "%s", val ? val : "");
        }
        json_int_t o = json_integer_value(json_object_get(v, "outcome"));
        r.outcome = o >= 0 && o <= 2 ? (enum trail_outcome)o : TRAIL_FAILED;
        r.event_time = fmin(json_number_value(json_object_get(v, "time")), now);
        const char *src = json_string_value(json_object_get(v, "source"));
        remember_recent(s, &r,
                        src != NULL && strcmp(src, sources[SOURCE_MEMBER]) == 0 ? SOURCE_MEMBER
                                                                                : SOURCE_LOOKUP,
                        policy_type);
    }
    json_decref(doc);
    return 1;
}

/* At start: load the state, or set a bad file aside and start afresh.
 * Returns 0, or -1 (reason in err) when the path names no regular file: it
 * is neither read nor moved, and the exporter does not start. */
static int state_restore(struct trail_state *s, char *errout, size_t errlen)
{
    char err[512];
    int rc = state_load(s, err, sizeof err);
    if (rc > 0) {
        char n[32];
        snprintf(n, sizeof n, "%zu", s->nseen);
        log_info("cloudtrail", "state restored: counting continues where it stopped", "file",
                 opt.state_file, "event_ids", n);
        return 0;
    }
    if (rc == 0)
        return 0;
    if (rc == -2) {
        snprintf(errout, errlen, "%s", err);
        return -1;
    }
    char aside[4096];
    snprintf(aside, sizeof aside, "%s.bad-%ld", opt.state_file, (long)time(NULL));
    bool moved = rename(opt.state_file, aside) == 0;
    log_error("cloudtrail",
              "the state file is unusable: starting afresh (the lookback window "
              "is counted again)",
              "file", opt.state_file, "err", err, "set_aside_as",
              moved ? aside : "(could not move it)");
    /* Nothing of a half-read file is kept. */
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i].id);
    s->nseen = 0;
    s->nrecent = 0;
    s->polled_at = 0;
    memset(s->counts, 0, sizeof s->counts);
    memset(s->last, 0, sizeof s->last);
    memset(s->newest, 0, sizeof s->newest);
    memset(s->unattributed, 0, sizeof s->unattributed);
    memset(s->delay_buckets, 0, sizeof s->delay_buckets);
    memset(s->delay_sum, 0, sizeof s->delay_sum);
    return 0;
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
    struct aws_config cfg = *aws_session_config();
    cfg.region = opt.region;
    cfg.stopping = stopping;
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

/*
 * Whether a record found in a member's own history is a leave: every
 * LeaveOrganization, and an AcceptHandshake that transfers the member to
 * another organization, which AWS authorizes as organizations:AcceptHandshake
 * and organizations:LeaveOrganization: a successful one that accepted an
 * invitation (not a member approving all features, the other handshake a
 * member accepts), and a denied or failed one whose message names
 * LeaveOrganization (the part of the transfer the guardrail stops).
 */
static bool member_leave_path(const struct trail_record *r)
{
    if (strcmp(r->event_name, "AcceptHandshake") != 0)
        return true;
    if (r->outcome == TRAIL_SUCCESS)
        return r->handshake_action[0] == '\0' || strcasecmp(r->handshake_action, "INVITE") == 0;
    return strstr(r->error_message, "LeaveOrganization") != NULL;
}

/* Looks up LeaveOrganization and AcceptHandshake (those of them watched) in
 * every member account being read, a few at a time, then counts what was
 * found (on this thread: counting is not shared). */
static void fanout(struct trail_state *s, double oldest, double now, const atomic_bool *stopping)
{
    struct fanout f = {.s = s, .next = 0, .oldest = oldest, .now = now, .stopping = stopping};
    size_t kof[2];
    static const char *const wanted[] = {"LeaveOrganization", "AcceptHandshake"};
    for (size_t w = 0; w < 2; w++)
        for (size_t k = 0; k < s->nwatched; k++)
            if (strcmp(s->watched[k], wanted[w]) == 0) {
                kof[f.nnames] = k;
                f.names[f.nnames++] = wanted[w];
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
            if (member_leave_path(r))
                count(s, kof[q], SOURCE_MEMBER, r);
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

static void write_metrics(const struct trail_state *s, struct expo *e)
{
    trail_account_write_metrics(s->account, e);
    expo_family(e, "aws_org_cloudtrail_events_total", EXPO_COUNTER,
                opt.state_file[0] != '\0'
                    ? "Watched CloudTrail events by name and outcome (success, denied, failed), "
                      "each counted once by event ID; kept across restarts in the state file."
                    : "Watched CloudTrail events by name and outcome (success, denied, failed), "
                      "each counted once by event ID. Without --state.file a restart counts "
                      "the lookback window again.");
    for (size_t k = 0; k < s->nwatched; k++)
        for (int o = 0; o < 3; o++) {
            struct expo_label l[] = {{"event_name", s->watched[k]}, {"outcome", outcomes[o]}};
            expo_sample(e, l, 2, (double)s->counts[k][o]);
        }
    expo_family(e, "aws_org_cloudtrail_event_delay_seconds", EXPO_HISTOGRAM,
                "How late each counted event was first seen by the exporter, after its "
                "eventTime, by where it was read: lookup (the exporter's own account), member "
                "(the member fan-out). Its count is the sum of aws_org_cloudtrail_events_total.");
    for (int src = 0; src < NSOURCES; src++)
        expo_histogram(e, &(struct expo_label){"source", sources[src]}, 1, delay_bounds,
                       s->delay_buckets[src], NDELAY_BOUNDS, s->delay_sum[src]);
    expo_family(e, "aws_org_cloudtrail_event_last_timestamp_seconds", EXPO_GAUGE,
                "Time of the newest watched event seen, by name and outcome (unix time).");
    for (size_t k = 0; k < s->nwatched; k++)
        for (int o = 0; o < 3; o++) {
            if (s->last[k][o] <= 0)
                continue;
            struct expo_label l[] = {{"event_name", s->watched[k]}, {"outcome", outcomes[o]}};
            expo_sample(e, l, 2, s->last[k][o]);
        }
    expo_family(e, "aws_org_cloudtrail_recent_event_info", EXPO_GAUGE,
                "The watched events seen last, late ones included; the value is the event time "
                "(unix time). departure_method: left, removed, cleaned; policy_type: the policy's "
                "type (SERVICE_CONTROL_POLICY, TAG_POLICY, ...), unknown when it could not be "
                "resolved, not_found when AWS no longer knows a policy that was no SCP; source: "
                "lookup (the exporter's own account's history) or member (a member's, read "
                "through the member role).");
    for (size_t i = 0; i < s->nrecent; i++) {
        const struct recent *r = &s->recent[i];
        struct expo_label l[] = {
            {"event_id", r->event_id},         {"event_name", r->event_name},
            {"outcome", outcomes[r->outcome]}, {"account_id", r->account},
            {"principal_arn", r->principal},   {"source_ip", r->source_ip},
            {"error_code", r->error_code},     {"departure_method", r->departure_method},
            {"policy_id", r->policy_id},       {"target_id", r->target_id},
            {"policy_type", r->policy_type},   {"source", sources[r->source]}};
        expo_sample(e, l, sizeof l / sizeof l[0], r->time);
    }
    expo_family(e, "aws_org_cloudtrail_unattributed_events_total", EXPO_COUNTER,
                "Membership events (AccountDepartedOrganization, AccountJoinedOrganization) that "
                "named no member account: counted, but attributed to none. The log has each "
                "record's id.");
    for (size_t k = 0; k < s->nwatched; k++)
        if (strcmp(s->watched[k], "AccountDepartedOrganization") == 0 ||
            strcmp(s->watched[k], "AccountJoinedOrganization") == 0)
            expo_sample(e, &(struct expo_label){"event_name", s->watched[k]}, 1,
                        (double)s->unattributed[k]);
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
    if (s->client == NULL) {
        if (aws_session_setup(r->err, r->errlen) != 0) {
            write_metrics(s, r->out); /* the zeros, from the start */
            return -1;
        }
        struct aws_config cfg = *aws_session_config();
        cfg.stopping = r->stopping;
        cfg.region = opt.region;
        if (opt.role_arn[0] != '\0' && s->role == NULL)
            s->role = aws_creds_assume_role(aws_session_creds(), &cfg, opt.role_arn, NULL,
                                            "aws-org-exporter", 0);
        struct aws_creds_provider *creds = opt.role_arn[0] != '\0' ? s->role : aws_session_creds();
        s->client = creds ? aws_client_create(&cfg, creds, "default") : NULL;
        if (s->client == NULL) {
            snprintf(r->err, r->errlen, "out of memory");
            return -1;
        }
    }
    /* LookupEvents reads the caller's own account: anything but the
     * management account's history misses the membership events. */
    if (trail_account_check(s->account, s->client, s->listing, r->err, r->errlen) != 0) {
        write_metrics(s, r->out); /* the counters as they were */
        return -1;
    }
    s->poll++;
    double now = clock_wall();
    double overlap = (double)opt.overlap_ms / 1000.0;
    double oldest = now - (double)opt.lookback_ms / 1000.0;
    int rc = 0;
    for (size_t k = 0; k < s->nwatched && rc == 0; k++) {
        double since = oldest;
        if (s->polled_at > 0) {
            /* Never after now: the clock may have been stepped back since
             * the last poll, and a query must not start after it ends. */
            double mark = s->newest[k] > 0 ? fmin(s->newest[k], s->polled_at) : s->polled_at;
            since = fmax(oldest, fmin(mark, now) - overlap);
        }
        struct count_sink sink = {s, k};
        rc = lookup(s->client, s->watched[k], floor(since), now, r->stopping, count_into, &sink,
                    r->err, r->errlen);
    }
    if (rc == 0 && opt.member_role[0] != '\0')
        fanout(s, oldest, now, r->stopping);
    if (rc == 0) {
        s->polled_at = now;
        seen_prune(s);
    }
    if (opt.state_file[0] != '\0') {
        char err[512];
        if (state_save(s, err, sizeof err) != 0)
            log_error("cloudtrail", "cannot save the state", "err", err);
    }
    /* Events counted before a failure stay counted (each once), and the
     * counters are whole either way: they are published even when the poll
     * failed, so every watched name and outcome exists from the start. */
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
    .shared = &aws_shared,
    .consumes = consumes,
};
