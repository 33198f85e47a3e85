/*
 * scp_changes: when an SCP's targets last changed, as the CloudTrail events
 * say, for the SCP collector, which reads a long target list again only
 * when it may have changed (see scp.c).
 *
 * The trail ledger notes every AttachPolicy and DetachPolicy it counts, from
 * whichever path saw it first (the polling path or the EventBridge queue);
 * the SCP collector asks, at each run, how recent the newest change of each
 * policy is. Nothing is taken or cleared: a run that fails asks again.
 * Process-wide and thread-safe (one mutex, held for memory work only).
 * Bounded: past SCP_CHANGES_MAX policy ids, a new id counts as a change of
 * every policy. Knows nothing of AWS calls or metrics.
 */
#ifndef COLLECTORS_SCP_CHANGES_H
#define COLLECTORS_SCP_CHANGES_H

#include <stdbool.h>

#define SCP_CHANGES_MAX 10000

/* An event source (the cloudtrail or eventbridge collector) counts both
 * AttachPolicy and DetachPolicy: the notes below can be relied upon. */
void scp_changes_watch(void);

/* Whether scp_changes_watch was called. */
bool scp_changes_watched(void);

/*
 * Notes a counted CloudTrail record: its event name, its policy id ("" when
 * it names none), its resolved policy type ("" when unknown) and its event
 * time (unix seconds; 0 when absent). Only AttachPolicy and DetachPolicy of
 * a policy that may be an SCP are kept; one that names no policy is a change
 * of every policy. A time ahead of the clock is taken as now.
 */
void scp_changes_note(const char *event_name, const char *policy_id, const char *policy_type,
                      double event_time);

/* The newest time a noted event changed policy_id's targets (or every
 * policy's), 0 when none was noted. */
double scp_changes_newest(const char *policy_id);

/* Forgets everything, watching included (tests). */
void scp_changes_reset(void);

#endif
