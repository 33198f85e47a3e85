/*
 * trail_ledger: the watched CloudTrail events, each counted exactly once
 * whichever path saw it first — the management account's event history
 * (LookupEvents), a member's (the fan-out), or the EventBridge queue — kept
 * across restarts in --state.file, and written as the aws_org_cloudtrail_*
 * event families by a live writer, so an event counted mid-run shows at the
 * next scrape.
 *
 * Data model. One ledger per process, made on first use and shared by the
 * cloudtrail and eventbridge collectors; every function is thread-safe (one
 * lock, held for memory work only: no AWS call and no file write under it).
 *   - per watched name and outcome: a count and the newest event time;
 *   - per watched name: the newest event time the polling path saw, and the
 *     start of its last good poll (the poll's marks, see trail_ledger_marks);
 *   - the seen event ids with their event times, sorted, at most 200,000;
 *     an id is forgotten once every path that could return it again has
 *     moved its horizon past its time (trail_ledger_prune);
 *   - the newest events (aws_org_cloudtrail_recent_event_info), ordered by
 *     the batch that first saw them, then by event time;
 *   - how late events were first seen, per source (a histogram).
 *
 * Knows nothing of AWS calls: a record's policy type is resolved by the
 * caller before it counts the record.
 */
#ifndef COLLECTORS_TRAIL_LEDGER_H
#define COLLECTORS_TRAIL_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exporter/collector.h"
#include "collectors/trail_record.h"

/* Where a record was first seen. */
enum trail_source {
    TRAIL_SOURCE_LOOKUP,      /* the exporter's own account's history */
    TRAIL_SOURCE_MEMBER,      /* a member's history, through the member role */
    TRAIL_SOURCE_EVENTBRIDGE, /* the EventBridge queue */
    TRAIL_NSOURCES
};

/* The paths that can return an event again, each with its own horizon. */
enum trail_path { TRAIL_PATH_POLL, TRAIL_PATH_QUEUE, TRAIL_NPATHS };

/* The only event source whose records count. */
#define TRAIL_ORGANIZATIONS_SOURCE "organizations.amazonaws.com"

struct trail_ledger;

/* The shared part (collectors/table.c): the flags --collector.cloudtrail.
 * region, .events, .recent-events and --state.file, and the live writer. */
extern const struct collector_shared trail_shared;

/*
 * A reference to the process's ledger, made on the first call (which
 * restores the state file when one is configured); later calls return the
 * same. NULL with a reason in err when the state file names no regular file
 * or memory runs out. Each reference is given back with trail_ledger_release.
 */
struct trail_ledger *trail_ledger_get(char *err, size_t errlen);

/* Gives a reference back; the last one frees the ledger. Accepts NULL. */
void trail_ledger_release(struct trail_ledger *l);

/* --collector.cloudtrail.region: the event history the poll reads. */
const char *trail_ledger_region(void);

/* The watched names, in flag order: how many, and the k-th. */
size_t trail_ledger_nwatched(const struct trail_ledger *l);
const char *trail_ledger_watched(const struct trail_ledger *l, size_t k);

/* The index of watched name, or -1 when it is not watched. */
int trail_ledger_find(const struct trail_ledger *l, const char *name);

/* Whether event id was counted already (a hint: trail_ledger_count decides). */
bool trail_ledger_seen(struct trail_ledger *l, const char *event_id);

/* Starts a batch (a poll, a queue batch): events first seen in it come
 * before every earlier one in the newest-events list. */
void trail_ledger_begin(struct trail_ledger *l);

/*
 * Counts r, an event of watched name k first seen from src, once:
 * returns 1 when counted, 0 when its id was seen already (or k is out of
 * range). member: r is a member account's own record (from its history, or
 * from the queue): its source label is "member", and its AcceptHandshake is
 * a transfer out, a leave. policy_type is the resolved type of r's policy
 * ("" for a record about none). Logs the leave attempts, departures and
 * unattributed membership events (outside the lock).
 */
int trail_ledger_count(struct trail_ledger *l, size_t k, enum trail_source src, bool member,
                       const struct trail_record *r, const char *policy_type);

/* The poll's marks: the start of its last good poll (0 before one), and
 * the newest event time it saw of name k (0 when none). */
void trail_ledger_marks(struct trail_ledger *l, size_t k, double *polled_at, double *newest);

/* A good poll that started at t ended. */
void trail_ledger_polled(struct trail_ledger *l, double t);

/* Path p can no longer return events older than horizon: ids older than
 * every path's horizon are forgotten. */
void trail_ledger_prune(struct trail_ledger *l, enum trail_path p, double horizon);

/*
 * Writes the state file, atomically (see state_save), when one is
 * configured. Returns 0 (also without a state file), or -1 with a reason
 * in err. Concurrent calls are serialised; the last one writes the newest
 * state.
 */
int trail_ledger_save(struct trail_ledger *l, char *err, size_t errlen);

/* Whether --state.file is set. */
bool trail_ledger_persistent(void);

/* Live writer: the aws_org_cloudtrail_* event families. arg is unused. */
int trail_ledger_write_metrics(void *arg, struct expo *e);

#endif
