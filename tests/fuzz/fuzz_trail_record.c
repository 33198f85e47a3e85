/*
 * libFuzzer target of trail_record_parse: any bytes, any length. Beyond the
 * sanitizers' checks, asserts the contract: a return of 0 or -1, every field
 * terminated inside its buffer, a one-line printable reason on failure, the
 * required fields present on success.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -I. \
 *       collectors/trail_record.c tests/fuzz/fuzz_trail_record.c -ljansson -o /tmp/fuzz_trail
 *   /tmp/fuzz_trail -max_total_time=60 tests/data/cloudtrail
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
    int rc = trail_record_parse((const char *)data, size, &r, err, sizeof err);
    if (rc != 0 && rc != -1)
        abort();
    if (!TERMINATED(r.event_id) || !TERMINATED(r.event_name) || !TERMINATED(r.event_source) ||
        !TERMINATED(r.aws_region) || !TERMINATED(r.error_code) || !TERMINATED(r.error_message) ||
        !TERMINATED(r.principal_arn) || !TERMINATED(r.principal_type) ||
        !TERMINATED(r.principal_account) || !TERMINATED(r.recipient_account) ||
        !TERMINATED(r.source_ip) || !TERMINATED(r.affected_account) ||
        !TERMINATED(r.departure_method))
        abort();
    if (r.outcome != TRAIL_SUCCESS && r.outcome != TRAIL_DENIED && r.outcome != TRAIL_FAILED)
        abort();
    if (rc == -1) {
        if (!TERMINATED(err) || err[0] == '\0')
            abort();
        for (const char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                abort();
    } else if (r.event_id[0] == '\0' || r.event_name[0] == '\0' || err[0] != '\0') {
        abort();
    }
    if (r.outcome == TRAIL_SUCCESS && r.error_code[0] != '\0')
        abort();
    return 0;
}
