/*
 * eventbridge: the fast path. EventBridge rules in the management account
 * (and, forwarded, in every member) put the watched Organizations records on
 * one SQS queue within seconds of the call; this collector long-polls the
 * queue and counts each record into the process's trail_ledger, where the
 * CloudTrail poll counts the same events later (or earlier): each counts
 * once, whichever path saw it first.
 *
 * Delivery. A message is deleted only after its event is committed: counted
 * in the ledger and, with --state.file, written there. A crash between the
 * two leaves the message on the queue; it comes back after its visibility
 * timeout and is then a duplicate (its id is in the state file), deleted.
 * What cannot be read as an Organizations record is left on the queue, so
 * that its redrive policy moves it to the dead-letter queue; what is no
 * concern of ours (another detail-type, another service) is deleted.
 *
 * A run consumes for one interval (--collector.eventbridge.interval), one
 * long poll after another, and publishes after each batch; the registry
 * starts the next run at once (a continuous collector). After an error the
 * next run first waits a back-off (1 s, doubling to 60 s), so a denied or
 * missing queue shows as aws_org_collector_up 0 without a storm of calls.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exporter/collector.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "collectors/aws_session.h"
#include "collectors/trail_ledger.h"
#include "collectors/trail_policy.h"
#include "collectors/trail_record.h"

extern const struct collector_shared aws_shared;
static const struct collector_shared *const eventbridge_shared[] = {&aws_shared, &trail_shared,
                                                                    NULL};

#define WAIT_SECONDS 20 /* SQS's longest long poll */
#define BATCH 10        /* SQS's most messages per receive */
#define BACKOFF_MAX 60.0

static struct {
    const char *queue_url;
} opt;

/* What became of a received message (aws_org_eventbridge_messages_total). */
enum result { COUNTED, DUPLICATE, IGNORED, MALFORMED, NRESULTS };
static const char *const results[] = {"counted", "duplicate", "ignored", "malformed"};

/*
 * The region a queue URL names: https://sqs.<region>.amazonaws.com[.cn]/...
 * or the legacy https://<region>.queue.amazonaws.com/... (queue.amazonaws.com
 * alone is us-east-1). Writes it into region (cap bytes) and returns true, or
 * false when the host is no AWS queue host (an endpoint of the caller's).
 */
static bool queue_region(const char *url, char *region, size_t cap)
{
    const char *h = strstr(url, "://");
    if (h == NULL)
        return false;
    h += 3;
    size_t hl = strcspn(h, "/:");
    char host[256];
    if (hl == 0 || hl >= sizeof host)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcmp(host, "queue.amazonaws.com") == 0) {
        snprintf(region, cap, "us-east-1");
        return true;
    }
    const char *r = NULL;
    size_t rl = 0;
    if (strncmp(host, "sqs.", 4) == 0) {
        r = host + 4;
        rl = strcspn(r, ".");
        if (strncmp(r + rl, ".amazonaws.com", 14) != 0)
            return false;
    } else {
        const char *q = strstr(host, ".queue.amazonaws.com");
        if (q == NULL)
            return false;
        r = host;
        rl = (size_t)(q - host);
    }
    if (rl == 0 || rl >= cap || strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") < rl)
        return false;
    snprintf(region, cap, "%.*s", (int)rl, r);
    return true;
}

/* The flag's check: an http(s) URL whose path is /<account id>/<queue name>. */
static const char *check_queue_url(const char *s)
{
    if (*s == '\0')
        return NULL; /* the collector is off */
    const char *p = strncmp(s, "https://", 8) == 0  ? s + 8
                    : strncmp(s, "http://", 7) == 0 ? s + 7
                                                    : NULL;
    if (p == NULL || strlen(s) > 1024)
        return "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/111111111111/name";
    const char *path = strchr(p, '/');
    if (path == NULL || path == p || strspn(path + 1, "0123456789") != 12 || path[13] != '/' ||
        path[14] == '\0' ||
        strspn(path + 14, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            strlen(path + 14))
        return "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/111111111111/name";
    return NULL;
}

static const struct flag eb_flags[] = {
    {"collector.eventbridge.queue-url", FLAG_STRING, "",
     "The SQS queue that EventBridge rules fill with the watched Organizations records "
     "(deploy/eventbridge/): read within seconds of each call. Empty: the eventbridge "
     "collector is off.",
     &opt.queue_url, 0, 0, check_queue_url},
};

struct eb_state {
    struct trail_ledger *ledger;
    struct aws_client *client;
    char mgmt[16];    /* the management account's id: other accounts' records are members' */
    bool checked;     /* the queue's attributes were read */
    double retention; /* the queue's MessageRetentionPeriod, seconds */
    double backoff;   /* seconds the next run waits first; 0 after a good run */
    uint64_t messages[NRESULTS];
};

static int add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, eb_flags, sizeof eb_flags / sizeof eb_flags[0]);
}

static bool configured(void)
{
    return opt.queue_url[0] != '\0';
}

static void destroy(void *p);

static void *create(char *err, size_t errlen)
{
    struct eb_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->retention = 4 * 86400.0; /* SQS's default, until the queue says */
    s->ledger = trail_ledger_get(err, errlen);
    if (s->ledger == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

static void destroy(void *p)
{
    struct eb_state *s = p;
    if (s == NULL)
        return;
    aws_client_destroy(s->client);
    trail_ledger_release(s->ledger);
    free(s);
}

/* Sleeps d seconds, in steps short enough to notice stopping within 0.1 s. */
static void pause_for(double d, const atomic_bool *stopping)
{
    struct timespec step = {0, 100 * 1000 * 1000};
    for (double t = 0; t < d && !atomic_load(stopping); t += 0.1)
        nanosleep(&step, NULL);
}

/* One SQS call; on failure the reason in err (AWS's code and message). */
static int sqs(struct eb_state *s, const char *op, json_t *req, json_t **resp, char *err,
               size_t errlen)
{
    struct aws_error e;
    int rc = req ? aws_json_call(s->client, AWS_SQS, op, req, resp, &e) : -1;
    json_decref(req);
    if (rc != 0 && snprintf(err, errlen, "%s: %s: %s", op, req ? e.code : "OutOfMemory",
                            req ? e.message : "cannot build the request") < 0)
        err[0] = '\0';
    return rc;
}

/* The client, the management account's id and the queue's attributes, once
 * each. Returns 0, or -1 with a reason in err. */
static int setup(struct eb_state *s, struct collector_run *r)
{
    if (s->client == NULL) {
        if (aws_session_setup(r->err, r->errlen) != 0)
            return -1;
        char region[32];
        struct aws_config cfg = aws_session_config_for(
            queue_region(opt.queue_url, region, sizeof region) ? region : NULL, r->stopping);
        if (cfg.timeout < WAIT_SECONDS + 10)
            cfg.timeout = WAIT_SECONDS + 10; /* a long poll is an answer 20 s late */
        s->client = aws_client_create(&cfg, aws_session_creds(), "default");
        if (s->client == NULL) {
            snprintf(r->err, r->errlen, "out of memory");
            return -1;
        }
    }
    if (s->mgmt[0] == '\0') {
        json_t *resp = NULL;
        struct aws_error e;
        if (aws_json_call(s->client, AWS_ORGANIZATIONS, "DescribeOrganization", NULL, &resp, &e) !=
            0) {
            if (snprintf(r->err, r->errlen, "DescribeOrganization: %s: %s", e.code, e.message) < 0)
                r->err[0] = '\0';
            return -1;
        }
        const char *id = json_string_value(
            json_object_get(json_object_get(resp, "Organization"), "MasterAccountId"));
        if (id == NULL || strlen(id) != 12 || strspn(id, "0123456789") != 12) {
            snprintf(r->err, r->errlen, "DescribeOrganization: no MasterAccountId in the answer");
            json_decref(resp);
            return -1;
        }
        snprintf(s->mgmt, sizeof s->mgmt, "%s", id);
        json_decref(resp);
    }
    if (!s->checked) {
        json_t *resp = NULL;
        if (sqs(s, "GetQueueAttributes",
                json_pack("{s:s,s:[s,s,s]}", "QueueUrl", opt.queue_url, "AttributeNames",
                          "VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy"),
                &resp, r->err, r->errlen) != 0)
            return -1;
        json_t *a = json_object_get(resp, "Attributes");
        const char *keep = json_string_value(json_object_get(a, "MessageRetentionPeriod"));
        if (keep != NULL && atof(keep) >= 60)
            s->retention = atof(keep);
        if (json_object_get(a, "RedrivePolicy") == NULL)
            log_warn("eventbridge",
                     "the queue has no redrive policy: a message that cannot be read comes back "
                     "every visibility timeout until it expires; give it a dead-letter queue "
                     "(deploy/eventbridge/management.yaml does)",
                     "queue_url", opt.queue_url);
        json_decref(resp);
        s->checked = true;
        log_info("eventbridge", "consuming the queue", "queue_url", opt.queue_url,
                 "management_account_id", s->mgmt);
    }
    return 0;
}

/* What message m is, counting its record when it is a new watched one. */
static enum result take(struct eb_state *s, json_t *m)
{
    const char *body = json_string_value(json_object_get(m, "Body"));
    const char *id = json_string_value(json_object_get(m, "MessageId"));
    struct trail_record rec;
    char why[256];
    enum trail_envelope kind =
        body ? trail_record_parse_envelope(body, strlen(body), &rec, why, sizeof why)
             : TRAIL_ENVELOPE_MALFORMED;
    if (kind == TRAIL_ENVELOPE_MALFORMED) {
        const char *n = json_string_value(
            json_object_get(json_object_get(m, "Attributes"), "ApproximateReceiveCount"));
        log_warn("eventbridge",
                 "a message on the queue cannot be read as an Organizations record: it is left "
                 "for the dead-letter queue",
                 "message_id", id ? id : "", "receive_count", n ? n : "", "err",
                 body ? why : "no Body");
        return MALFORMED;
    }
    if (kind == TRAIL_ENVELOPE_OTHER || strcmp(rec.event_source, TRAIL_ORGANIZATIONS_SOURCE) != 0)
        return IGNORED;
    int k = trail_ledger_find(s->ledger, rec.event_name);
    if (k < 0)
        return IGNORED;
    /* A member's own record, forwarded from its bus: its AcceptHandshake is
     * a leave only when it is a transfer (as in the member fan-out). */
    bool member = rec.recipient_account[0] != '\0' && strcmp(rec.recipient_account, s->mgmt) != 0;
    if (member && !trail_record_member_leave(&rec))
        return IGNORED;
    if (trail_ledger_seen(s->ledger, rec.event_id))
        return DUPLICATE;
    char policy_type[64];
    trail_policy_type(s->client, &rec, policy_type, sizeof policy_type);
    return trail_ledger_count(s->ledger, (size_t)k, TRAIL_SOURCE_EVENTBRIDGE, member, &rec,
                              policy_type) == 1
               ? COUNTED
               : DUPLICATE;
}

/* Deletes the messages whose receipt handles are in handles (n of them).
 * A failed delete is logged: the message comes back, a duplicate. */
static void delete_batch(struct eb_state *s, const char *const *handles, size_t n)
{
    if (n == 0)
        return;
    json_t *entries = json_array();
    for (size_t i = 0; i < n; i++) {
        char eid[24];
        snprintf(eid, sizeof eid, "m%zu", i);
        json_array_append_new(entries,
                              json_pack("{s:s,s:s}", "Id", eid, "ReceiptHandle", handles[i]));
    }
    json_t *resp = NULL;
    char err[512];
    if (sqs(s, "DeleteMessageBatch",
            json_pack("{s:s,s:o}", "QueueUrl", opt.queue_url, "Entries", entries), &resp, err,
            sizeof err) != 0) {
        log_warn("eventbridge", "cannot delete counted messages: they will come back, counted once",
                 "err", err);
        return;
    }
    size_t nfailed = json_array_size(json_object_get(resp, "Failed"));
    if (nfailed > 0) {
        const char *code = json_string_value(
            json_object_get(json_array_get(json_object_get(resp, "Failed"), 0), "Code"));
        char nf[32];
        snprintf(nf, sizeof nf, "%zu", nfailed);
        log_warn("eventbridge", "some counted messages were not deleted: they will come back",
                 "failed", nf, "code", code ? code : "");
    }
    json_decref(resp);
}

/*
 * One receive: up to BATCH messages, waiting up to wait seconds. Counts
 * them, commits (the state file), deletes what is done with. Returns how
 * many messages came, or -1 with a reason in err.
 */
static int batch(struct eb_state *s, int wait, char *err, size_t errlen)
{
    json_t *resp = NULL;
    if (sqs(s, "ReceiveMessage",
            /* "All" message attributes (ApproximateReceiveCount is the one
             * logged): the one value both SQS models accept in AttributeNames. */
            json_pack("{s:s,s:i,s:i,s:[s]}", "QueueUrl", opt.queue_url, "MaxNumberOfMessages",
                      BATCH, "WaitTimeSeconds", wait, "AttributeNames", "All"),
            &resp, err, errlen) != 0)
        return -1;
    json_t *msgs = json_object_get(resp, "Messages");
    if (msgs != NULL && !json_is_array(msgs)) {
        snprintf(err, errlen, "ReceiveMessage: Messages is not a list");
        json_decref(resp);
        return -1;
    }
    size_t n = json_array_size(msgs);
    if (n == 0) {
        json_decref(resp);
        return 0;
    }
    trail_ledger_begin(s->ledger);
    const char *done[BATCH];
    size_t ndone = 0, ncounted = 0;
    for (size_t i = 0; i < n && i < BATCH; i++) {
        json_t *m = json_array_get(msgs, i);
        enum result res = take(s, m);
        s->messages[res]++;
        ncounted += res == COUNTED;
        const char *handle = json_string_value(json_object_get(m, "ReceiptHandle"));
        if (res != MALFORMED && handle != NULL)
            done[ndone++] = handle;
    }
    /* Committed before deleted: a crash in between redelivers, once. */
    if (ncounted > 0 && trail_ledger_save(s->ledger, err, errlen) != 0) {
        log_error("eventbridge",
                  "cannot save the state: the messages stay on the queue, and are read again",
                  "err", err);
        ndone = 0;
    }
    delete_batch(s, done, ndone);
    json_decref(resp);
    return (int)n;
}

static void write_metrics(const struct eb_state *s, struct expo *e)
{
    expo_family(e, "aws_org_eventbridge_messages_total", EXPO_COUNTER,
                "Messages received from the EventBridge queue, by what became of them: counted "
                "(a new watched event), duplicate (already counted, by either path), ignored (no "
                "watched Organizations record; deleted), malformed (unreadable; left for the "
                "dead-letter queue, counted at each receipt).");
    for (int i = 0; i < NRESULTS; i++)
        expo_sample(e, &(struct expo_label){"result", results[i]}, 1, (double)s->messages[i]);
}

static int run(void *p, struct collector_run *r)
{
    struct eb_state *s = p;
    r->publish_on_error = true; /* the counters are whole either way */
    if (s->backoff > 0)
        pause_for(s->backoff, r->stopping);
    int rc = setup(s, r);
    if (rc == 0) { /* reachable: up (and ready) before the first long poll ends */
        write_metrics(s, r->out);
        r->publish(r);
    }
    double end = clock_wall() + (double)r->interval_ms / 1000.0;
    while (rc == 0 && !atomic_load(r->stopping)) {
        double left = end - clock_wall();
        if (left < 1)
            break;
        int got = batch(s, left < WAIT_SECONDS ? (int)left : WAIT_SECONDS, r->err, r->errlen);
        if (got < 0) {
            rc = atomic_load(r->stopping) ? 0 : -1; /* a long poll cut at shutdown */
            break;
        }
        if (got > 0) {
            write_metrics(s, r->out);
            r->publish(r);
        }
        trail_ledger_prune(s->ledger, TRAIL_PATH_QUEUE, clock_wall() - s->retention - 60);
    }
    s->backoff = rc == 0 ? 0 : fmin(BACKOFF_MAX, s->backoff > 0 ? s->backoff * 2 : 1);
    write_metrics(s, r->out);
    return rc;
}

const struct collector_def eventbridge_collector = {
    .name = "eventbridge",
    .help = "the watched Organizations events from an EventBridge-fed SQS queue, within seconds "
            "(needs --collector.eventbridge.queue-url).",
    .default_enabled = true,
    .default_interval = "1m",
    .add_flags = add_flags,
    .configured = configured,
    .create = create,
    .run = run,
    .destroy = destroy,
    .continuous = true,
    .shared = eventbridge_shared,
};
