/*
 * testing: a collector built only into the test binary
 * (build/aws-org-exporter-testing), so that the HTTP tests can drive what the
 * real collectors will do: a slow first run (readiness), failures that keep
 * the last good snapshot, large bodies (scrape limits), and hostile label
 * values (escaping end to end).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "exporter/collector.h"

static struct {
    uint64_t series;
    uint64_t first_delay_ms;
    const char *fail_file;
    uint64_t runs;
} opt;

static const struct flag testing_flags[] = {
    {"collector.testing.series", FLAG_UINT, "3", "Series the testing collector writes.",
     &opt.series, 0, 10000000, NULL},
    {"collector.testing.first-delay", FLAG_DURATION, "0", "How long its first run takes.",
     &opt.first_delay_ms, 0, 0, NULL},
    {"collector.testing.fail-file", FLAG_STRING, "", "While this file exists, runs fail.",
     &opt.fail_file, 0, 0, NULL},
};

static int testing_add_flags(struct flagset *fs)
{
    return flagset_add_all(fs, testing_flags, sizeof testing_flags / sizeof testing_flags[0]);
}

static int testing_run(void *state, struct collector_run *run)
{
    (void)state;
    opt.runs++;
    if (opt.runs == 1) {
        for (uint64_t waited = 0; waited < opt.first_delay_ms && !atomic_load(run->stopping);
             waited += 10)
            nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    if (opt.fail_file[0] != '\0' && access(opt.fail_file, F_OK) == 0) {
        snprintf(run->err, run->errlen, "failing because %s exists", opt.fail_file);
        return -1;
    }
    struct expo *e = run->out;
    expo_family(e, "testing_runs_total", EXPO_COUNTER, "Runs of the testing collector.");
    expo_sample(e, NULL, 0, (double)opt.runs);
    expo_family(e, "testing_series", EXPO_GAUGE, "Synthetic series.");
    expo_sample(e, &(struct expo_label){"name", "quote \" backslash \\ newline \n tab \t utf8 é"},
                1, -0.5);
    char name[32];
    for (uint64_t i = 0; i < opt.series; i++) {
        snprintf(name, sizeof name, "series-%llu", (unsigned long long)i);
        struct expo_label l[] = {{"name", name}, {"account_id", "123456789012"}};
        expo_sample(e, l, 2, (double)i + 0.25);
    }
    return 0;
}

const struct collector_def testing_collector = {
    .name = "testing",
    .help = "synthetic series for the exporter's own tests.",
    .default_enabled = true,
    .default_interval = "1s",
    .add_flags = testing_add_flags,
    .run = testing_run,
};
