/*
 * collector: the interface between the exporter and its collectors.
 *
 * A collector is one row in the table returned by collector_table()
 * (collectors/table.c). The exporter generates --[no-]collector.<name> and
 * --collector.<name>.interval from the row, runs each enabled collector on a
 * thread of its own at its interval, and keeps the families a successful run
 * wrote as that collector's immutable snapshot. A failed run (run returns -1,
 * or the writer overflowed) is discarded whole: the previous snapshot stays.
 */
#ifndef EXPORTER_COLLECTOR_H
#define EXPORTER_COLLECTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exporter/expo.h"
#include "exporter/flags.h"

/* What a run gets. Everything is borrowed for the duration of the call. */
struct collector_run {
    struct expo *out; /* families go here; HELP gets the cache note */
    char *err;        /* on failure, a one-line reason */
    size_t errlen;
    const atomic_bool *stopping; /* set at shutdown: long runs should give up */
    uint64_t interval_ms;
    /* Set by a run that fails but whose output is still whole and true (the
     * CloudTrail counters): it is published, with up 0. Otherwise a failed
     * run's output is discarded and the last good snapshot stays. */
    bool publish_on_error;
};

/*
 * Something several collectors share (the AWS session): its flags are always
 * offered, its live metrics are written when an enabled collector uses it.
 */
struct collector_shared {
    const char *name;
    int (*add_flags)(struct flagset *fs);           /* optional */
    int (*write_live)(void *arg, struct expo *out); /* optional */
};

struct collector_def {
    const char *name; /* [a-z_]+, used in flags and in the collector label */
    const char *help; /* one line, for --help */
    bool default_enabled;
    const char *default_interval; /* a duration, e.g. "5m" */
    /* Optional: adds the collector's own flags (storage is the collector's). */
    int (*add_flags)(struct flagset *fs);
    /* Optional: called once after flag parsing; returns the state run gets,
     * or NULL with a reason in err (start-up then fails). */
    void *(*create)(char *err, size_t errlen);
    /* One collection. Returns 0, or -1 with a reason in run->err. */
    int (*run)(void *state, struct collector_run *run);
    /* Optional: frees what create returned. Accepts NULL. */
    void (*destroy)(void *state);
    /* Optional: what this collector shares with others. */
    const struct collector_shared *shared;
};

/* Every shared part, each once, in the order their flags are offered. */
const struct collector_shared *const *collector_shared_table(size_t *n);

/* The table of every collector built into this binary (collectors/table.c). */
const struct collector_def *const *collector_table(size_t *n);

#endif
