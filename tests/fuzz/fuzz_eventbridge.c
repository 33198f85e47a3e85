/*
 * libFuzzer target of trail_record_parse_envelope (an SQS message body from
 * the EventBridge queue): any bytes, any length. Beyond the sanitizers'
 * checks, asserts the contract: one of the three kinds, every field
 * terminated, a one-line printable reason unless a record, the required
 * fields present for a record.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/trail_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trail_record r;
    char err[256];
    enum trail_envelope kind =
        trail_record_parse_envelope((const char *)data, size, &r, err, sizeof err);
    if (kind != TRAIL_ENVELOPE_RECORD && kind != TRAIL_ENVELOPE_OTHER &&
        kind != TRAIL_ENVELOPE_MALFORMED)
        abort();
    if (!TERMINATED(r.event_id) || !TERMINATED(r.event_name) || !TERMINATED(r.event_source) ||
        !TERMINATED(r.principal_arn) || !TERMINATED(r.source_ip) ||
        !TERMINATED(r.affected_account) || !TERMINATED(r.recipient_account) || !TERMINATED(err))
        abort();
    if (kind == TRAIL_ENVELOPE_RECORD) {
        if (r.event_id[0] == '\0' || r.event_name[0] == '\0' || err[0] != '\0')
            abort();
        return 0;
    }
    if (err[0] == '\0')
        abort();
    for (const char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            abort();
    return 0;
}
