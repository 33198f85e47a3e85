/*
 * libFuzzer target: the parsers of what a scraper or an operator sends —
 * Accept-Encoding values, listen addresses, durations, and the SigV4 query
 * canonicalisation (a query string is outside input to the signer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/aws/sigv4.h"
#include "exporter/flags.h"
#include "exporter/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)http_accepts_gzip(s);
    char host[256];
    unsigned port;
    (void)http_parse_listen_address(s, host, sizeof host, &port);
    uint64_t ms;
    if (flags_parse_duration(s, &ms) == 0) {
        char out[64];
        flags_format_duration(ms, out, sizeof out);
        uint64_t again;
        if (flags_parse_duration(out, &again) != 0 || again != ms)
            abort(); /* formatting must round-trip */
    }
    struct sigv4_header h = {"Host", "example.amazonaws.com"};
    struct sigv4_input in = {.method = "GET",
                             .path = s,
                             .query = s,
                             .headers = &h,
                             .nheaders = 1,
                             .access_key = "AKID",
                             .secret_key = "secret",
                             .region = "us-east-1",
                             .service = "service",
                             .when = 0,
                             .normalize_path = true};
    struct sigv4_output out;
    sigv4_sign(&in, &out);
    sigv4_output_free(&out);
    free(s);
    return 0;
}
