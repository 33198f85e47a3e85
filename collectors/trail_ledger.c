/*
 * trail_ledger: see trail_ledger.h. The state file's format (version 1):
 *   {"kind": "aws-org-exporter/cloudtrail", "version": 1, "region": ...,
 *    "polled_at": t, "events": {name: {"counts": [s, d, f], "last": [s, d, f],
 *    "newest": t, "unattributed": n}}, "seen": [[id, t], ...],
 *    "recent": [{...}, ...] (last seen first), "delay": {source: {"buckets":
 *    [...], "sum": s}}}
 * Older files lack "unattributed", "delay" or a source: those start at zero.
 */
#define _POSIX_C_SOURCE 200809L
#include "collectors/trail_ledger.h"

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
#include <time.h>
#include <unistd.h>

#include "collectors/scp_changes.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/search.h"

#define MAX_WATCHED 64
#define MAX_SEEN 200000

static const char default_events[] =
    "LeaveOrganization,AccountDepartedOrganization,AccountJoinedOrganization,"
    "RemoveAccountFromOrganization,InviteAccountToOrganization,AcceptHandshake,CreateAccount,"
    "CreateAccountResult,CloseAccount,CloseAccountResult,MoveAccount,DetachPolicy,DeletePolicy,"
    "UpdatePolicy,AttachPolicy,DisablePolicyType,EnablePolicyType,DeleteOrganization";

static struct {
    const char *region;
    const char *events;
    uint64_t recent;
    const char *state_file;
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

static const struct flag ledger_flags[] = {
    {"collector.cloudtrail.region", FLAG_STRING, "us-east-1",
     "Region whose CloudTrail event history is read (Organizations events are recorded in "
     "us-east-1).",
     &opt.region, 0, 0, check_region},
    {"collector.cloudtrail.events", FLAG_STRING, default_events, "Watched event names.",
     &opt.events, 0, 0, check_events},
    {"state.file", FLAG_STRING, "",
     "Keep the CloudTrail counters, high-water marks and recent event ids in this file, so "
     "that a restart neither loses nor recounts events. Written atomically after each poll "
     "and each EventBridge batch.",
     &opt.state_file, 0, 0, NULL},
    {"collector.cloudtrail.recent-events", FLAG_UINT, "50",
     "How many of the newest events aws_org_cloudtrail_recent_event_info shows.", &opt.recent, 0,
     1000, NULL},
};

static int add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, ledger_flags, sizeof ledger_flags / sizeof ledger_flags[0]);
}

const struct collector_shared trail_shared = {
    .name = "cloudtrail_events",
    .add_flags = add_flags,
    .write_live = trail_ledger_write_metrics,
};

static const char *const outcomes[] = {"success", "denied", "failed"};
static const char *const sources[] = {"lookup", "member", "eventbridge"};

/* aws_org_cloudtrail_event_delay_seconds's bounds: CloudTrail's event history
 * is typically minutes behind, and events arrive up to the overlap late;
 * EventBridge delivers within seconds. */
#define NDELAY_BOUNDS 13
#define OLD_NBUCKETS 12 /* state files of 0.2: no 1 s and 5 s bounds */
static const double delay_bounds[NDELAY_BOUNDS] = {1,   5,    30,   60,   120,   300,  600,
                                                   900, 1800, 3600, 7200, 21600, 86400};

struct recent {
    char event_id[128], event_name[128], account[16], principal[512], source_ip[128],
        error_code[128], departure_method[64], policy_id[160], target_id[160], policy_type[64];
    enum trail_outcome outcome;
    enum trail_source source; /* where it was first seen */
    double time;
    uint64_t poll; /* the batch that first saw it (restored entries keep their order) */
};

struct seen {
    char *id;
    double time;
};

struct trail_ledger {
    unsigned refs;             /* under ledger_lock */
    pthread_mutex_t lock;      /* everything below */
    pthread_mutex_t save_lock; /* one state file write at a time; taken before lock */
    size_t nwatched;
    char watched[MAX_WATCHED][65];
    uint64_t counts[MAX_WATCHED][3];
    double last[MAX_WATCHED][3];
    double newest[MAX_WATCHED]; /* newest event time the poll saw, per name */
    double polled_at;           /* start of the last good poll, 0 before */
    double horizon[TRAIL_NPATHS];
    struct seen *seen; /* sorted by id */
    size_t nseen, capseen;
    struct recent *recent; /* the last seen first, at most opt.recent */
    size_t nrecent;
    uint64_t poll; /* the current batch's number, from 1 */
    /* Membership events that named no member account, by watched name. */
    uint64_t unattributed[MAX_WATCHED];
    /* How late events were first seen, per source: bucket counts (not
     * cumulative; the last is above every bound) and the sum of seconds. */
    uint64_t delay_buckets[TRAIL_NSOURCES][NDELAY_BOUNDS + 1];
    double delay_sum[TRAIL_NSOURCES];
};

static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER; /* guards ledger's creation */
static struct trail_ledger *ledger;

/* Position of id in the sorted seen list; *found says whether it is there. */
static size_t seen_find(const struct trail_ledger *s, const char *id, bool *found)
{
    return search_id(s->seen, s->nseen, sizeof *s->seen, offsetof(struct seen, id), id, found);
}

/* Records id; returns 1 when new, 0 when already seen, -1 when out of room. */
static int seen_add(struct trail_ledger *s, const char *id, double t)
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

/* Forgets the ids older than every path's horizon (MAX_SEEN bounds the
 * memory whatever the volume). A path that never set one keeps nothing. */
static void seen_prune(struct trail_ledger *s)
{
    double horizon = INFINITY;
    for (int p = 0; p < TRAIL_NPATHS; p++)
        if (s->horizon[p] > 0)
            horizon = fmin(horizon, s->horizon[p]);
    if (horizon == INFINITY)
        return;
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
static void remember_recent(struct trail_ledger *s, const struct trail_record *r,
                            enum trail_source src, const char *policy_type)
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

/* Records how late r was first seen from src (never less than 0: the
 * event's clock may be ahead of ours). */
static void observe_delay(struct trail_ledger *s, enum trail_source src,
                          const struct trail_record *r)
{
    double delay = r->event_time > 0 ? fmax(0, clock_wall() - r->event_time) : 0;
    size_t b = 0;
    while (b < NDELAY_BOUNDS && delay > delay_bounds[b])
        b++;
    s->delay_buckets[src][b]++;
    s->delay_sum[src] += delay;
}

int trail_ledger_count(struct trail_ledger *s, size_t k, enum trail_source src, bool member,
                       const struct trail_record *r, const char *policy_type)
{
    if (k >= s->nwatched)
        return 0;
    pthread_mutex_lock(&s->lock);
    int fresh = seen_add(s, r->event_id, r->event_time);
    if (fresh == 0) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->counts[k][r->outcome]++;
    observe_delay(s, src, r);
    s->last[k][r->outcome] = fmax(s->last[k][r->outcome], r->event_time);
    if (src != TRAIL_SOURCE_EVENTBRIDGE) /* the poll's own mark */
        s->newest[k] = fmax(s->newest[k], r->event_time);
    remember_recent(s, r, member ? TRAIL_SOURCE_MEMBER : src, policy_type);
    if (r->unattributed)
        s->unattributed[k]++;
    pthread_mutex_unlock(&s->lock);
    /* Outside the lock too: the SCP collector reads a policy's long target
     * list again when it may have changed. */
    scp_changes_note(r->event_name, r->policy_id, policy_type, r->event_time);
    /* Logged outside the lock: a slow log sink never holds a scrape. */
    if (fresh < 0)
        log_warn("cloudtrail",
                 "too many recent event ids to remember; an event may be counted "
                 "twice",
                 "event_id", r->event_id);
    if (r->unattributed) {
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
                 (member && strcmp(r->event_name, "AcceptHandshake") == 0);
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
    return 1;
}

/* --- the state file ------------------------------------------------------ */

#define STATE_KIND "aws-org-exporter/cloudtrail"
#define STATE_MAX (64u << 20)

/* The state as the file's text (new, the caller frees it), or NULL out of
 * memory. Called under the lock. */
static char *state_encode(const struct trail_ledger *s)
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
    for (int src = 0; src < TRAIL_NSOURCES; src++) {
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
    return text;
}

/* Writes text (borrowed) as the state file, atomically: a new temporary file
 * in the state file's directory, fsync, rename over the state file, fsync of
 * the directory. The temporary file's name is new each time (mkstemp:
 * created exclusively, mode 0600), so nothing planted in the directory is
 * followed or overwritten, and it is removed on any failure. Returns 0, or
 * -1 with a reason in err. */
static int state_write(const char *text, char *err, size_t errlen)
{
    char dir[4096], base[4096], tmp[4096];
    snprintf(dir, sizeof dir, "%s", opt.state_file);
    snprintf(base, sizeof base, "%s", opt.state_file);
    const char *folder = dirname(dir); /* may be dir, or a static "." */
    int n = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", folder, basename(base));
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "cannot write %s: the path is too long", opt.state_file);
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
static int seen_load(struct trail_ledger *s, json_t *seen, double now)
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
/* The last poll's time and the per-name counters and marks of a state file
 * (doc), checked against the clock now (see loaded_time). */
static void load_counters(struct trail_ledger *s, json_t *doc, double now)
{
    size_t bad = 0;
    json_t *events = json_object_get(doc, "events");
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
}

/* The delay histogram of a state file's "delay" object. */
static void load_delay(struct trail_ledger *s, json_t *delay)
{
    /* The delay histogram (absent in older files: it starts at zero, and its
     * count then trails the counters by what they had). Bucket bounds are
     * fixed; files of 0.2 have no 1 s and 5 s buckets (OLD_NBUCKETS), which
     * stay empty: the polling paths never see an event that early. Another
     * number of buckets is ignored. */
    for (int src = 0; src < TRAIL_NSOURCES; src++) {
        json_t *d = json_object_get(delay, sources[src]);
        json_t *b = json_object_get(d, "buckets");
        double sum = json_number_value(json_object_get(d, "sum"));
        size_t nb = json_array_size(b);
        if ((nb != NDELAY_BOUNDS + 1 && nb != OLD_NBUCKETS) || !(sum >= 0))
            continue;
        size_t skip = NDELAY_BOUNDS + 1 - nb;
        for (size_t i = skip; i <= NDELAY_BOUNDS; i++) {
            json_t *c = json_array_get(b, i - skip);
            s->delay_buckets[src][i] = json_is_integer(c) && json_integer_value(c) >= 0
                                           ? (uint64_t)json_integer_value(c)
                                           : 0;
        }
        s->delay_sum[src] = sum;
    }
}

/* The newest-events list of a state file's "recent" array. */
static void load_recent(struct trail_ledger *s, json_t *recent, double now)
{
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
        enum trail_source from = TRAIL_SOURCE_LOOKUP;
        for (int k = 0; k < TRAIL_NSOURCES; k++)
            if (src != NULL && strcmp(src, sources[k]) == 0)
                from = (enum trail_source)k;
        remember_recent(s, &r, from, policy_type);
    }
}

static int state_load(struct trail_ledger *s, char *err, size_t errlen)
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
    load_counters(s, doc, now);
    load_delay(s, json_object_get(doc, "delay"));
    if (seen_load(s, seen, now) != 0) {
        snprintf(err, errlen, "out of memory");
        json_decref(doc);
        return -1;
    }
    load_recent(s, recent, now);
    json_decref(doc);
    return 1;
}

/* At start: load the state, or set a bad file aside and start afresh.
 * Returns 0, or -1 (reason in err) when the path names no regular file: it
 * is neither read nor moved, and the exporter does not start. */
static int state_restore(struct trail_ledger *s, char *errout, size_t errlen)
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

/* The event families, from s (under its lock). */
static void write_families(const struct trail_ledger *s, struct expo *e)
{
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
                "(the member fan-out), eventbridge (the EventBridge queue). Its count is the sum "
                "of aws_org_cloudtrail_events_total.");
    for (int src = 0; src < TRAIL_NSOURCES; src++)
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
                "lookup (the exporter's own account's history), member (a member's record, from "
                "its history or the queue) or eventbridge (the management account's record, "
                "from the queue).");
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
}

/* --- the interface ---------------------------------------------------------- */

static void ledger_free(struct trail_ledger *s);

struct trail_ledger *trail_ledger_get(char *err, size_t errlen)
{
    pthread_mutex_lock(&ledger_lock);
    struct trail_ledger *s = ledger;
    if (s != NULL) {
        s->refs++;
        pthread_mutex_unlock(&ledger_lock);
        return s;
    }
    s = calloc(1, sizeof *s);
    if (s != NULL)
        s->recent = calloc(opt.recent + 1, sizeof *s->recent);
    if (s == NULL || s->recent == NULL) {
        free(s);
        pthread_mutex_unlock(&ledger_lock);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->save_lock, NULL);
    for (const char *p = opt.events; *p && s->nwatched < MAX_WATCHED;) {
        size_t len = strcspn(p, ",");
        snprintf(s->watched[s->nwatched++], sizeof s->watched[0], "%.*s", (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    s->refs = 1;
    /* An event source now counts the events that change an SCP's targets. */
    if (trail_ledger_find(s, "AttachPolicy") >= 0 && trail_ledger_find(s, "DetachPolicy") >= 0)
        scp_changes_watch();
    if (opt.state_file[0] != '\0' && state_restore(s, err, errlen) != 0) {
        pthread_mutex_unlock(&ledger_lock);
        ledger_free(s);
        return NULL;
    }
    ledger = s;
    pthread_mutex_unlock(&ledger_lock);
    return s;
}

void trail_ledger_release(struct trail_ledger *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&ledger_lock);
    bool last = --l->refs == 0;
    if (last)
        ledger = NULL;
    pthread_mutex_unlock(&ledger_lock);
    if (last)
        ledger_free(l);
}

static void ledger_free(struct trail_ledger *s)
{
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i].id);
    free(s->seen);
    free(s->recent);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->save_lock);
    free(s);
}

const char *trail_ledger_region(void)
{
    return opt.region;
}

bool trail_ledger_persistent(void)
{
    return opt.state_file[0] != '\0';
}

size_t trail_ledger_nwatched(const struct trail_ledger *l)
{
    return l->nwatched; /* set at creation, never changed */
}

const char *trail_ledger_watched(const struct trail_ledger *l, size_t k)
{
    return k < l->nwatched ? l->watched[k] : NULL;
}

int trail_ledger_find(const struct trail_ledger *l, const char *name)
{
    for (size_t k = 0; k < l->nwatched; k++)
        if (strcmp(l->watched[k], name) == 0)
            return (int)k;
    return -1;
}

bool trail_ledger_seen(struct trail_ledger *l, const char *event_id)
{
    pthread_mutex_lock(&l->lock);
    bool found;
    seen_find(l, event_id, &found);
    pthread_mutex_unlock(&l->lock);
    return found;
}

void trail_ledger_begin(struct trail_ledger *l)
{
    pthread_mutex_lock(&l->lock);
    l->poll++;
    pthread_mutex_unlock(&l->lock);
}

void trail_ledger_marks(struct trail_ledger *l, size_t k, double *polled_at, double *newest)
{
    pthread_mutex_lock(&l->lock);
    *polled_at = l->polled_at;
    *newest = k < l->nwatched ? l->newest[k] : 0;
    pthread_mutex_unlock(&l->lock);
}

void trail_ledger_polled(struct trail_ledger *l, double t)
{
    pthread_mutex_lock(&l->lock);
    l->polled_at = t;
    pthread_mutex_unlock(&l->lock);
}

void trail_ledger_prune(struct trail_ledger *l, enum trail_path p, double horizon)
{
    pthread_mutex_lock(&l->lock);
    l->horizon[p] = horizon;
    seen_prune(l);
    pthread_mutex_unlock(&l->lock);
}

int trail_ledger_save(struct trail_ledger *l, char *err, size_t errlen)
{
    if (opt.state_file[0] == '\0')
        return 0;
    pthread_mutex_lock(&l->save_lock);
    pthread_mutex_lock(&l->lock);
    char *text = state_encode(l);
    pthread_mutex_unlock(&l->lock);
    int rc = -1;
    if (text == NULL)
        snprintf(err, errlen, "cannot encode the state: out of memory");
    else
        rc = state_write(text, err, errlen);
    pthread_mutex_unlock(&l->save_lock);
    free(text);
    return rc;
}

int trail_ledger_write_metrics(void *arg, struct expo *e)
{
    (void)arg;
    pthread_mutex_lock(&ledger_lock);
    struct trail_ledger *s = ledger;
    if (s != NULL) {
        pthread_mutex_lock(&s->lock);
        write_families(s, e);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&ledger_lock);
    return 0;
}
