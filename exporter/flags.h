/*
 * flags: command-line parsing in the Prometheus exporters' convention.
 *
 *   --name=value  --name value   --bool  --no-bool  --bool=true|false
 *   durations: 500ms 30s 5m 1h 7d 2w 1y and combinations such as 1h30m
 *   -h/--help, --version
 *
 * A flag set is a table built at start-up (core flags, then two per
 * collector, then the collectors' own). Defaults are parsed like arguments,
 * so --help always shows a default that parses. Values of string flags point
 * into argv or into the table's default strings: nothing is allocated.
 */
#ifndef EXPORTER_FLAGS_H
#define EXPORTER_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum flag_type { FLAG_STRING, FLAG_BOOL, FLAG_DURATION, FLAG_UINT };

struct flag {
    const char *name; /* without the leading "--" */
    enum flag_type type;
    const char *def; /* default as text; NULL means "" */
    const char *help;
    void *dst;         /* const char ** | bool * | uint64_t * (milliseconds) | uint64_t * */
    uint64_t min, max; /* inclusive range for FLAG_UINT and FLAG_DURATION (ms); 0,0 = any */
    /* Optional check of a string value; returns NULL or what was expected. */
    const char *(*check)(const char *value);
};

struct flagset {
    struct flag *v; /* owned */
    size_t n, cap;
};

enum { FLAGS_OK = 0, FLAGS_HELP = 1, FLAGS_VERSION = 3, FLAGS_ERROR = 2 };

/* Accepts NULL. */
void flagset_free(struct flagset *fs);

/* Copies f into the set. Returns 0 or -1 on allocation failure. */
int flagset_add(struct flagset *fs, const struct flag *f);

/* Copies n flags into the set. Returns 0 or -1 on allocation failure. */
int flagset_add_all(struct flagset *fs, const struct flag *f, size_t n);

/*
 * Applies the defaults, then parses argv[1..argc-1]. Returns FLAGS_OK,
 * FLAGS_HELP or FLAGS_VERSION (asked for; nothing printed), or FLAGS_ERROR
 * with a one-line message naming the flag in err.
 */
int flags_parse(const struct flagset *fs, int argc, char **argv, char *err, size_t errlen);

/* Prints every flag with its help and default. */
void flags_usage(const struct flagset *fs, FILE *out, const char *prog);

/* Parses a Prometheus duration into milliseconds; returns 0 or -1. */
int flags_parse_duration(const char *s, uint64_t *ms);

/* Formats milliseconds the way Prometheus does ("1h30m", "500ms", "0s"). */
void flags_format_duration(uint64_t ms, char *out, size_t n);

#endif
