/* Unit tests of the HTTP module's parsers of outside input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "exporter/http.h"

static void test_listen_address(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        const char *host;
        unsigned port;
    } cases[] = {
        {":9813", 0, "", 9813},
        {"127.0.0.1:9813", 0, "127.0.0.1", 9813},
        {"[::1]:9813", 0, "::1", 9813},
        {"[::]:0", 0, "::", 0},
        {"localhost:65535", 0, "localhost", 65535},
        {"0.0.0.0:1", 0, "0.0.0.0", 1},
        {"9813", -1, NULL, 0},
        {"", -1, NULL, 0},
        {":", -1, NULL, 0},
        {":65536", -1, NULL, 0},
        {":99999999999", -1, NULL, 0},
        {":-1", -1, NULL, 0},
        {":80a", -1, NULL, 0},
        {"::1:9813", -1, NULL, 0},
        {"[::1]9813", -1, NULL, 0},
        {"[::1", -1, NULL, 0},
        {"[]:80", -1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char host[64] = "unchanged";
        unsigned port = 7;
        int rc = http_parse_listen_address(cases[i].in, host, sizeof host, &port);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].in, rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(host, cases[i].host);
            assert_int_equal(port, cases[i].port);
        }
    }
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool gzip;
    } cases[] = {
        {NULL, false},
        {"", false},
        {"gzip", true},
        {"GZIP", true},
        {"identity", false},
        {"deflate, gzip", true},
        {"gzip;q=1.0, identity; q=0.5, *;q=0", true},
        {"gzip;q=0", false},
        {"gzip; q=0.000", false},
        {"gzip;q=0.001", true},
        {"gzip;q=0.0, *", false},
        {"*", true},
        {"*;q=0", false},
        {"x-gzip", true},
        {"gzipx", false},
        {"br, zstd", false},
        {" , ,gzip", true},
        {"gzip;level=1;q=0", false},
        {"gzip;q=", true},
        {";;;,,,", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (http_accepts_gzip(cases[i].in) != cases[i].gzip)
            fail_msg("\"%s\": want %d", cases[i].in ? cases[i].in : "(null)", cases[i].gzip);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_address),
        cmocka_unit_test(test_accepts_gzip),
    };
    return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
