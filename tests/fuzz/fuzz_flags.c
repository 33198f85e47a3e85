/*
 * libFuzzer target: the flag parser, with the input split into arguments at
 * NUL bytes (an operator's command line, or a manifest's args list).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/flags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct {
        const char *s;
        bool b;
        uint64_t d, u;
    } v;
    struct flagset fs = {0};
    struct flag f[] = {
        {"web.listen-address", FLAG_STRING, ":9813", "", &v.s, 0, 0, NULL},
        {"collector.x", FLAG_BOOL, "true", "", &v.b, 0, 0, NULL},
        {"collector.x.interval", FLAG_DURATION, "5m", "", &v.d, 1000, 86400000, NULL},
        {"web.max-requests", FLAG_UINT, "40", "", &v.u, 0, 1000, NULL},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        flagset_add(&fs, &f[i]);
    char *copy = malloc(size + 1);
    char *argv[64] = {"fuzz"};
    int argc = 1;
    if (copy != NULL) {
        memcpy(copy, data, size);
        copy[size] = '\0';
        for (char *p = copy; p < copy + size + 1 && argc < 64; p += strlen(p) + 1)
            argv[argc++] = p;
        char err[256];
        int rc = flags_parse(&fs, argc, argv, err, sizeof err);
        if (rc != FLAGS_OK && rc != FLAGS_HELP && rc != FLAGS_VERSION && rc != FLAGS_ERROR)
            abort();
        if (rc == FLAGS_ERROR && err[0] == '\0')
            abort(); /* an error always names what is wrong */
    }
    free(copy);
    flagset_free(&fs);
    return 0;
}
