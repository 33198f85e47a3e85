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

/*
 * What one collector's runs make for others (the organizations collector's
 * account listing, which the SCP and CloudTrail collectors read): an
 * immutable, reference-counted value handed over through a feed. A
 * collector declares what it provides and what it consumes in its row; the
 * registry wires each consumer to the enabled provider's feed, and a
 * required product whose provider is disabled is a start-up error naming
 * the flag (registry_wire).
 */
struct collector_product {
    const char *what;             /* for messages: "the account listing" */
    void (*retain)(void *value);  /* takes one more reference */
    void (*release)(void *value); /* drops one; accepts NULL */
};

/* Where a provider's runs publish a product and consumers take it; the lock
 * guards only the pointer. Opaque: created and wired by the registry. */
struct collector_feed;

/* Publishes value, handing the caller's reference to the feed; the previous
 * value's reference is dropped. Does nothing when f is NULL (a run outside
 * the registry): the caller keeps its reference. */
void collector_feed_publish(struct collector_feed *f, void *value);

/* The newest value with a reference the caller owns (release it with the
 * product's release), or NULL before the first or when f is NULL. */
void *collector_feed_take(struct collector_feed *f);

/* Like collector_feed_take, waiting up to timeout seconds for the first
 * value, or until *stopping (may be NULL). */
void *collector_feed_wait(struct collector_feed *f, double timeout, const atomic_bool *stopping);

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
    /*
     * Publishes what out holds now as the collector's snapshot, at once (the
     * next scrape shows it and the live writers' current values), and gives
     * the run an empty out for the rest: a long run (a queue consumer) shows
     * each batch without ending. A publish is a checkpoint of a healthy run:
     * the collector is up (and ready), with its last success now; its
     * duration changes when the run ends. Returns 0, or -1 when out
     * overflowed or memory ran out (nothing published; out is emptied).
     */
    int (*publish)(struct collector_run *run);
    /* Where this run publishes the collector's product (its row's
     * provides), else NULL. */
    struct collector_feed *feed;
    /* The product its row's consumes named, wired by the registry: NULL
     * when it named none, or an optional one whose provider is disabled. */
    struct collector_feed *input;
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
    /* Optional: false when the flags do not give the collector what it needs
     * (a queue URL): it is then off, enabled or not. */
    bool (*configured)(void);
    /* Optional: called once after flag parsing; returns the state run gets,
     * or NULL with a reason in err (start-up then fails). */
    void *(*create)(char *err, size_t errlen);
    /* One collection. Returns 0, or -1 with a reason in run->err. */
    int (*run)(void *state, struct collector_run *run);
    /* Optional: frees what create returned. Accepts NULL. */
    void (*destroy)(void *state);
    /* A consumer of a stream (a queue): run is started again as soon as it
     * returns, without waiting for the interval, which then bounds how long
     * one run consumes before it reports (up, duration). The run waits out
     * its own back-off after errors. */
    bool continuous;
    /* Optional: what this collector shares with others, NULL-terminated. */
    const struct collector_shared *const *shared;
    /* Optional: what its runs publish for other collectors (run->feed). */
    const struct collector_product *provides;
    /* Optional: what it consumes of another's (run->input), asked once after
     * create (state is create's): the product, or NULL for none. *needed_for
     * (static text) says what cannot work without it ("the evaluation of
     * every account"): then a disabled provider is a start-up error; NULL
     * (the default) when the collector makes do without. */
    const struct collector_product *(*consumes)(void *state, const char **needed_for);
};

/* Every shared part, each once, in the order their flags are offered. */
const struct collector_shared *const *collector_shared_table(size_t *n);

/* The table of every collector built into this binary (collectors/table.c). */
const struct collector_def *const *collector_table(size_t *n);

#endif
