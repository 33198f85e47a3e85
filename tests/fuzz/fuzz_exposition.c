/*
 * libFuzzer target: the exposition writer with hostile label values and
 * HELP text (account names, policy names, CloudTrail fields reach it). The
 * output must stay one sample line: every newline is escaped.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct buf b;
    buf_init(&b, 1 << 20);
    struct expo e;
    expo_init(&e, &b);
    expo_family(&e, "fuzz_metric", EXPO_GAUGE, s);
    size_t before = b.len;
    struct expo_label l[] = {{"name", s}, {s, "value"}};
    double v;
    memcpy(&v, size >= sizeof v ? data : (const uint8_t *)"\0\0\0\0\0\0\0\0", sizeof v);
    size_t want = 2; /* HELP and TYPE */
    want += expo_sample(&e, l, 1, v) == 0;
    /* s as a label name: a valid one gives one more line, an invalid one
     * fails without writing anything. */
    want += expo_sample(&e, l, 2, v) == 0;
    if (!buf_failed(&b) && b.data != NULL) {
        size_t lines = 0;
        for (size_t i = 0; i < b.len; i++)
            lines += b.data[i] == '\n';
        if (lines != want || b.data[b.len - 1] != '\n' || before >= b.len)
            abort();
    }
    expo_free(&e);
    buf_free(&b);
    free(s);
    return 0;
}
