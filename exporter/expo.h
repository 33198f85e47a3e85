/*
 * expo: the one module that writes the Prometheus text exposition format
 * (version 0.0.4). Nothing else in the project prints exposition text.
 *
 * Data model: a document is a sequence of families; each family is one
 * "# HELP" line, one "# TYPE" line and its samples, contiguous, and a family
 * name appears at most once per writer. Label values and HELP text pass
 * through the escapers below and nowhere else: label values escape only
 * backslash, double quote and newline; HELP escapes only backslash and
 * newline. Invalid UTF-8 (which would make Prometheus reject the whole scrape)
 * becomes U+FFFD, so hostile names cannot blind or forge series. Values are
 * locale-independent shortest round-trip floats, with NaN, +Inf and -Inf.
 * No timestamps are ever written.
 */
#ifndef EXPORTER_EXPO_H
#define EXPORTER_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum expo_type { EXPO_GAUGE, EXPO_COUNTER, EXPO_UNTYPED, EXPO_HISTOGRAM };

struct expo_label {
    const char *name;
    const char *value; /* NULL is written as the empty string */
};

/* Longest string expo_format_double() writes, with its NUL. */
#define EXPO_DOUBLE_MAX 32

struct expo {
    struct buf *out;         /* borrowed: where the text goes */
    const char *help_suffix; /* borrowed, optional: appended to every HELP */
    char family[128];        /* the family samples are written to now */
    size_t family_len;       /* strlen(family) */
    enum expo_type type;     /* the current family's */
    struct buf seen;         /* family names written so far, NUL-separated */
    char error[200];         /* first error, empty while fine */
    /* Optional (expo_set_sink): whole lines are handed to sink once out holds
     * sink_at bytes, and out is emptied, so a large document need never be
     * whole in memory. */
    int (*sink)(void *arg, const char *text, size_t len);
    void *sink_arg;
    size_t sink_at;
};

/* Starts a writer appending to out (borrowed; must outlive the writer). */
void expo_init(struct expo *e, struct buf *out);

/* Hands out's text to sink(arg, text, len) after each line once it holds at
 * least at bytes, then empties out; sink returns 0, or -1 to fail the writer.
 * What is left in out at the end is the caller's to take. */
void expo_set_sink(struct expo *e, int (*sink)(void *arg, const char *text, size_t len), void *arg,
                   size_t at);

/* Frees the writer's own memory (not out). Accepts NULL. */
void expo_free(struct expo *e);

/*
 * Starts a family: writes its HELP and TYPE lines. Returns 0, or -1 when the
 * name is invalid or was already written, or the buffer is full; the first
 * error is kept in e->error and every later call fails too.
 */
int expo_family(struct expo *e, const char *name, enum expo_type type, const char *help);

/*
 * Writes one sample of the current family with n labels (label names are
 * validated; values escaped). Returns 0 or -1 as above.
 */
int expo_sample(struct expo *e, const struct expo_label *labels, size_t n, double value);

/*
 * Writes one histogram of the current family (of type EXPO_HISTOGRAM) with
 * n labels: a _bucket line per bound (bounds ascending, nbounds of them) and
 * one for +Inf, each with its le label and the cumulative count, then _sum
 * and _count. buckets holds nbounds + 1 counts, NOT cumulative: buckets[i]
 * observations fell in (bounds[i-1], bounds[i]], the last above every bound.
 * Returns 0 or -1 as above (a plain sample in a histogram family, or a
 * histogram in another, is an error too).
 */
int expo_histogram(struct expo *e, const struct expo_label *labels, size_t n, const double *bounds,
                   const uint64_t *buckets, size_t nbounds, double sum);

/* The first error, or NULL while the writer is fine (buffer overflow included). */
const char *expo_error(const struct expo *e);

/* Writes v as Prometheus expects into out; returns the length. Thread-safe. */
size_t expo_format_double(double v, char out[EXPO_DOUBLE_MAX]);

/* Appends s escaped for a label value / for HELP text. */
void expo_escape_label_value(struct buf *b, const char *s);
void expo_escape_help(struct buf *b, const char *s);

bool expo_valid_metric_name(const char *s);
bool expo_valid_label_name(const char *s);

#endif
