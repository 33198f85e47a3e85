/*
 * registry: runs the collectors and keeps what they found as immutable,
 * reference-counted snapshots; composes the /metrics body from them.
 *
 * Data model. Each collector owns a slot with its current snapshot (the
 * rendered text, compressed as it was written into a raw deflate segment,
 * with its length and CRC-32) and its run state (up, duration, last success,
 * completed once). A collector thread renders and compresses a new snapshot
 * off to the side and swaps the slot's pointer under the registry lock,
 * which is held for nothing longer.
 *
 * An exposition is the whole /metrics body: the snapshots' segments
 * concatenated, followed by the live part (build info, collector
 * self-metrics, process metrics and any other live writer) rendered and
 * compressed at composition time, framed as one gzip member. Gzip is
 * therefore computed once per snapshot, never per scrape; the plain body is
 * inflated from the segments when a client asks for plain. An exposition is
 * rebuilt only when a collector finished a run or the live part is older
 * than live_max_age.
 */
#ifndef EXPORTER_REGISTRY_H
#define EXPORTER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "exporter/collector.h"

struct registry;

/*
 * A composed body. It copies nothing large: it holds references to the
 * collectors' snapshots (their deflate segments) and owns only the live
 * part; exposition_flatten makes the gzip or plain body of it in one buffer.
 * Reference-counted; release with exposition_release().
 */
struct snapshot;
struct exposition {
    struct snapshot **snaps; /* references, NULLs skipped */
    size_t nsnaps;
    char *live; /* owned: the live families' text */
    size_t live_len;
    unsigned char *live_seg; /* owned: the live text deflated, final block */
    size_t live_seg_len;
    unsigned char header[10], trailer[8]; /* gzip framing */
    size_t plain_len, gz_len;
    uint64_t generation; /* which collector state it reflects */
    double built_at;     /* CLOCK_MONOTONIC seconds */
    atomic_int refs;
};

/* The body in one new buffer (NUL-terminated) the caller frees, *len set:
 * gzip, the segments copied; plain, the segments inflated (each checked
 * against its length and CRC-32) and the live text. NULL when out of memory
 * or a segment does not inflate to its text. */
char *exposition_flatten(const struct exposition *x, bool gzip, size_t *len);

/* Writes live families (called at composition, under no lock of ours). */
typedef int (*registry_live_fn)(void *arg, struct expo *out);

/* Creates an empty registry; live_max_age in seconds. NULL on failure. */
struct registry *registry_create(double live_max_age);

/* Stops (if running) and frees. Accepts NULL. */
void registry_destroy(struct registry *r);

/* Adds an enabled collector (def and state are borrowed; state may be NULL). */
int registry_add_collector(struct registry *r, const struct collector_def *def, void *state,
                           uint64_t interval_ms);

/* Adds a live writer, called in order of addition at each composition. */
int registry_add_live(struct registry *r, registry_live_fn fn, void *arg);

/*
 * Wires what the added collectors consume to the feeds of those that
 * provide it (collector.h). table (borrowed) is every collector of the
 * build, enabled or not, to name a disabled provider. Returns 0, or -1 with
 * the reason in err when a required product has no enabled provider (the
 * message names the flags that fix it) or memory runs out. Call once, after
 * the last registry_add_collector and before registry_start.
 */
int registry_wire(struct registry *r, const struct collector_def *const *table, size_t ntable,
                  char *err, size_t errlen);

/* Starts one thread per collector; the first runs begin at once. */
int registry_start(struct registry *r);

/* Asks the collectors to stop and waits up to timeout seconds for them. */
void registry_stop(struct registry *r, double timeout);

/*
 * True when every collector has completed a run (successful or not). When
 * pending is given, the names of those that have not are appended to it.
 */
bool registry_ready(struct registry *r, struct buf *pending);

/*
 * Returns the current exposition with a reference the caller owns (release
 * it), composing a new one first if the old is stale. NULL when composition
 * failed (the error is logged); callers then answer 500.
 */
struct exposition *registry_exposition(struct registry *r);

/* Takes another reference / drops one (frees at zero). Release accepts NULL. */
void exposition_ref(struct exposition *e);
void exposition_release(struct exposition *e);

#endif
