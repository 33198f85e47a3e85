/*
 * libFuzzer target: the web configuration parser (libyaml, strict keys). The
 * input is written to a file, as an operator's file would be; it must load
 * or be refused with a reason, never crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "exporter/webconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == '\0')
        snprintf(path, sizeof path, "/tmp/fuzz-webconfig-%ld.yml", (long)getpid());
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char err[512];
    struct web_config *w = web_config_load(path, err, sizeof err);
    if (w == NULL && err[0] == '\0')
        abort(); /* a refusal always says why */
    if (w != NULL)
        (void)web_config_check_user(w, "alice", "password");
    web_config_release(w);
    return 0;
}
