/* Unit tests of lib/: the clock, the error writer, the sorted-id search and
 * the token-file reader (the buffer itself: test_expo.c). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/search.h"

static void test_clock(void **state)
{
    (void)state;
    double m0 = clock_mono();
    double w = clock_wall();
    double m1 = clock_mono();
    assert_true(m1 >= m0);
    assert_true(w > 1.7e9); /* after 2023-11 */
    struct timespec ts = clock_timespec(12.25);
    assert_int_equal(ts.tv_sec, 12);
    assert_int_equal(ts.tv_nsec, 250000000L);
    ts = clock_timespec(7);
    assert_int_equal(ts.tv_sec, 7);
    assert_int_equal(ts.tv_nsec, 0);
    ts = clock_timespec(1.9999999999);
    assert_int_equal(ts.tv_sec, 1);
    assert_true(ts.tv_nsec >= 999999999L - 1 && ts.tv_nsec <= 999999999L);
}

static void test_clock_cond(void **state)
{
    (void)state;
    pthread_cond_t c;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    assert_int_equal(clock_cond_init(&c), 0);
    double t0 = clock_mono();
    struct timespec until = clock_timespec(t0 + 0.05); /* a monotonic deadline */
    pthread_mutex_lock(&m);
    int rc;
    while ((rc = pthread_cond_timedwait(&c, &m, &until)) == 0)
        ; /* a spurious wake-up */
    pthread_mutex_unlock(&m);
    assert_int_equal(rc, ETIMEDOUT);
    double waited = clock_mono() - t0;
    assert_true(waited >= 0.05 && waited < 30);
    pthread_cond_destroy(&c);
}

static void test_err(void **state)
{
    (void)state;
    char err[16];
    err_set(err, sizeof err, "%s: %d", "code", 42);
    assert_string_equal(err, "code: 42");
    err_set(err, sizeof err, "%s", "a reason longer than the buffer");
    assert_string_equal(err, "a reason longer");
    err_set(NULL, 10, "%s", "no buffer: nothing written");
    memcpy(err, "untouched", 10);
    err_set(err, 0, "%s", "no room");
    assert_string_equal(err, "untouched");
    err_set_printable(err, sizeof err, "a\nb\x01\xc3\xa9%s", "\t!");
    assert_string_equal(err, "a?b\?\?\?\?!"); /* \? : no trigraph */
}

struct item {
    int n;
    const char *id;
};

static void test_search(void **state)
{
    (void)state;
    const struct item v[] = {{1, "a"}, {2, "c"}, {3, "e"}, {4, "g"}};
    static const struct {
        const char *id;
        size_t at;
        bool found;
    } cases[] = {{"", 0, false},  {"a", 0, true}, {"b", 1, false}, {"c", 1, true},
                 {"d", 2, false}, {"e", 2, true}, {"g", 3, true},  {"h", 4, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool found = !cases[i].found;
        assert_int_equal(
            search_id(v, 4, sizeof v[0], offsetof(struct item, id), cases[i].id, &found),
            cases[i].at);
        assert_int_equal(found, cases[i].found);
    }
    bool found = true;
    assert_int_equal(search_id(NULL, 0, sizeof v[0], offsetof(struct item, id), "a", &found), 0);
    assert_false(found);
}

static char dir[] = "/tmp/aws-org-exporter-test-lib-XXXXXX";

static void write_file(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static char *token(const char *name, size_t max, int *e)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    errno = 0;
    char *t = buf_read_token(path, max);
    *e = errno;
    return t;
}

static void test_read_token(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    write_file("plain", "eyJtoken", 8);
    write_file("lines", "eyJ.a.b\r\nsecond line\n", 21);
    write_file("empty", "", 0);
    write_file("blank", "\nnext", 5);
    write_file("big", "0123456789abcdef-", 17);
    int e;
    char *t = token("plain", 16, &e);
    assert_string_equal(t, "eyJtoken");
    free(t);
    t = token("lines", 64, &e);
    assert_string_equal(t, "eyJ.a.b");
    free(t);
    t = token("big", 17, &e); /* exactly the cap */
    assert_string_equal(t, "0123456789abcdef-");
    free(t);
    assert_null(token("big", 16, &e));
    assert_int_equal(e, EFBIG);
    assert_null(token("empty", 16, &e));
    assert_int_equal(e, ENODATA);
    assert_null(token("blank", 16, &e));
    assert_int_equal(e, ENODATA);
    assert_null(token("missing", 16, &e));
    assert_int_equal(e, ENOENT);
    assert_null(token(".", 16, &e)); /* the directory itself */
    assert_int_equal(e, EINVAL);
    const char *names[] = {"plain", "lines", "empty", "blank", "big"};
    char path[256];
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock),      cmocka_unit_test(test_clock_cond),
        cmocka_unit_test(test_err),        cmocka_unit_test(test_search),
        cmocka_unit_test(test_read_token),
    };
    return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
