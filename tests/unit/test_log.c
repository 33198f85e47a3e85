/* Unit tests of logging: exact logfmt and JSON lines, repetition limits. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"

static char path[] = "/tmp/aws-org-exporter-test-log-XXXXXX";
static int saved_stderr = -1;

static int capture(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
    return 0;
}

static int restore(void **state)
{
    (void)state;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    unlink(path);
    return 0;
}

/* Returns what was logged since the last call, with each "ts=..." / "ts":"..."
 * value replaced by T, for exact comparison. */
static char *take(void)
{
    static long offset;
    fflush(stderr);
    FILE *f = fopen(path, "r");
    fseek(f, offset, SEEK_SET);
    static char raw[8192], out[8192];
    size_t n = fread(raw, 1, sizeof raw - 1, f);
    raw[n] = '\0';
    offset += (long)n;
    fclose(f);
    char *o = out;
    for (const char *p = raw; *p;) {
        if (strncmp(p, "ts=", 3) == 0) {
            o += sprintf(o, "ts=T");
            p = strchr(p, ' ');
        } else if (strncmp(p, "\"ts\":\"", 6) == 0) {
            o += sprintf(o, "\"ts\":\"T\"");
            p = strchr(p + 6, '"') + 1;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

#define LOGGED_AT(var, call) (var = __LINE__, call)

/* Compares what was logged with want; shows both on the real stderr. */
static void expect_logged(const char *want)
{
    const char *got = take();
    if (strcmp(got, want) != 0)
        dprintf(saved_stderr, "logged:\n%swanted:\n%s", got, want);
    assert_string_equal(got, want);
}

static void test_logfmt(void **state)
{
    (void)state;
    log_setup(LOG_INFO, LOG_LOGFMT, 60);
    take();
    log_debug("test", "hidden");
    int line;
    /* __LINE__ of a call spanning lines differs between gcc and clang; the
     * same expansion gives the same line to both uses. */
    LOGGED_AT(line, log_info("test", "two words", "k", "v", "s", "a b", "q", "say \"hi\"", "n",
                             "a\nb", "e", "", "z", NULL));
    char want[512];
    snprintf(want, sizeof want,
             "ts=T level=info caller=test_log.c:%d module=test msg=\"two words\" k=v s=\"a b\" "
             "q=\"say \\\"hi\\\"\" n=\"a\\nb\" e=\"\" z=\"\"\n",
             line);
    expect_logged(want);
}

static void test_json(void **state)
{
    (void)state;
    log_setup(LOG_DEBUG, LOG_JSON, 60);
    take();
    log_debug("test", "msg \"q\"", "k", "v\n", "bad", "\xff");
    int line = __LINE__ - 1;
    char want[512];
    snprintf(want, sizeof want,
             "{\"ts\":\"T\",\"level\":\"debug\",\"caller\":\"test_log.c:%d\",\"module\":\"test\","
             "\"msg\":\"msg \\\"q\\\"\",\"k\":\"v\\n\",\"bad\":\"\xEF\xBF\xBD\"}\n",
             line);
    expect_logged(want);
}

static void test_repetitions_are_limited(void **state)
{
    (void)state;
    log_setup(LOG_INFO, LOG_LOGFMT, 2.0);
    take();
    /* A window far longer than the loop takes even on a stalled machine. */
    for (int i = 0; i < 5; i++)
        log_error("test", "same failure", "code", "Throttling");
    int line = __LINE__ - 1;
    log_error("test", "same failure", "code", "AccessDenied"); /* different: logged */
    char want[1024];
    snprintf(
        want, sizeof want,
        "ts=T level=error caller=test_log.c:%d module=test msg=\"same failure\" code=Throttling\n"
        "ts=T level=error caller=test_log.c:%d module=test msg=\"same failure\" "
        "code=AccessDenied\n",
        line, line + 2);
    expect_logged(want);
    nanosleep(&(struct timespec){2, 50000000L}, NULL);
    log_error("test", "same failure", "code", "Throttling");
    snprintf(want, sizeof want,
             "ts=T level=error caller=test_log.c:%d module=test msg=\"same failure\" "
             "code=Throttling repeated=4\n",
             __LINE__ - 4);
    expect_logged(want);
    /* Info lines are never suppressed. */
    log_info("test", "progress");
    log_info("test", "progress");
    snprintf(want, sizeof want,
             "ts=T level=info caller=test_log.c:%d module=test msg=progress\n"
             "ts=T level=info caller=test_log.c:%d module=test msg=progress\n",
             __LINE__ - 5, __LINE__ - 4);
    expect_logged(want);
}

/* Security events are never suppressed as repeats, and take no repeat slot:
 * an identical ordinary warning is filtered exactly as without them. */
static void test_security_lines_are_never_suppressed(void **state)
{
    (void)state;
    log_setup(LOG_INFO, LOG_LOGFMT, 60);
    take();
    for (int i = 0; i < 3; i++)
        log_security("test", "account departed", "account_id", "222222222222");
    int line = __LINE__ - 1;
    log_warn("test", "account departed", "account_id", "222222222222");
    log_warn("test", "account departed", "account_id", "222222222222"); /* a repeat */
    log_security("test", "account departed", "account_id", "222222222222");
    char want[1024];
#define DEPARTED                                                                                   \
    "ts=T level=warn caller=test_log.c:%d module=test msg=\"account departed\" "                   \
    "account_id=222222222222\n"
    snprintf(want, sizeof want, DEPARTED DEPARTED DEPARTED DEPARTED DEPARTED, line, line, line,
             line + 2, line + 4);
#undef DEPARTED
    expect_logged(want);
    /* In JSON too. */
    log_setup(LOG_INFO, LOG_JSON, 60);
    take();
    log_security("test", "left", "k", "v");
    log_security("test", "left", "k", "v");
    line = __LINE__ - 1;
    snprintf(want, sizeof want,
             "{\"ts\":\"T\",\"level\":\"warn\",\"caller\":\"test_log.c:%d\",\"module\":\"test\","
             "\"msg\":\"left\",\"k\":\"v\"}\n"
             "{\"ts\":\"T\",\"level\":\"warn\",\"caller\":\"test_log.c:%d\",\"module\":\"test\","
             "\"msg\":\"left\",\"k\":\"v\"}\n",
             line - 1, line);
    expect_logged(want);
}

static void test_parse(void **state)
{
    (void)state;
    enum log_level l;
    enum log_format f;
    assert_int_equal(log_parse_level("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_parse_level("WARN", &l), -1);
    assert_int_equal(log_parse_level("warning", &l), -1);
    assert_int_equal(log_parse_format("json", &f), 0);
    assert_int_equal(f, LOG_JSON);
    assert_int_equal(log_parse_format("text", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_repetitions_are_limited),
        cmocka_unit_test(test_security_lines_are_never_suppressed),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests_name("log", tests, capture, restore);
}
