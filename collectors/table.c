/*
 * The table of collectors built into the exporter. One row per collector,
 * one collector per file; the exporter derives --[no-]collector.<name> and
 * --collector.<name>.interval from each row.
 */
#include "../exporter/collector.h"

#ifdef EXPORTER_TESTING
extern const struct collector_def testing_collector;
#endif

static const struct collector_def *const table[] = {
#ifdef EXPORTER_TESTING
    &testing_collector,
#endif
    NULL,
};

const struct collector_def *const *collector_table(size_t *n)
{
    *n = sizeof table / sizeof table[0] - 1;
    return table;
}
