/*
 * The table of collectors built into the exporter. One row per collector,
 * one collector per file; the exporter derives --[no-]collector.<name> and
 * --collector.<name>.interval from each row.
 */
#include "exporter/collector.h"
#include "collectors/aws_session.h"
#include "collectors/trail_ledger.h"

extern const struct collector_def organizations_collector;
extern const struct collector_def cloudtrail_collector;
extern const struct collector_def scp_collector;
extern const struct collector_def eventbridge_collector;
#ifdef EXPORTER_TESTING
extern const struct collector_def testing_collector;
#endif

static const struct collector_def *const table[] = {
    &organizations_collector,
    &cloudtrail_collector,
    &scp_collector,
    &eventbridge_collector,
#ifdef EXPORTER_TESTING
    &testing_collector,
#endif
    NULL,
};

const struct collector_shared aws_shared = {
    .name = "aws",
    .add_flags = aws_session_add_flags,
    .write_live = aws_session_write_metrics,
};

static const struct collector_shared *const shared[] = {&aws_shared, &trail_shared, NULL};

const struct collector_def *const *collector_table(size_t *n)
{
    *n = sizeof table / sizeof table[0] - 1;
    return table;
}

const struct collector_shared *const *collector_shared_table(size_t *n)
{
    *n = sizeof shared / sizeof shared[0] - 1;
    return shared;
}
