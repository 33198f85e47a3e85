/*
 * Unit tests of the registry: snapshots, failed runs keeping the last good
 * snapshot, readiness, the gzip body composed from deflate segments
 * decoding to exactly the plain body, and the wiring of what one collector
 * provides to those that consume it.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <cmocka.h>

#include "exporter/registry.h"
#include "lib/clock.h"

static atomic_int runs_a;
static atomic_bool fail_a;
static atomic_bool block_b; /* holds b's first run until cleared */

static int run_a(void *state, struct collector_run *run)
{
    (void)state;
    int n = atomic_fetch_add(&runs_a, 1) + 1;
    if (atomic_load(&fail_a)) {
        snprintf(run->err, run->errlen, "injected");
        return -1;
    }
    expo_family(run->out, "a_value", EXPO_GAUGE, "A's value.");
    expo_sample(run->out, &(struct expo_label){"run", n == 1 ? "first" : "later"}, 1, n);
    return 0;
}

static int run_b(void *state, struct collector_run *run)
{
    (void)state;
    while (atomic_load(&block_b) && !atomic_load(run->stopping))
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    /* A big, repetitive body: compression must work across many blocks. */
    expo_family(run->out, "b_series", EXPO_GAUGE, "B's series.");
    char name[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        expo_sample(run->out, &(struct expo_label){"name", name}, 1, i);
    }
    return 0;
}

static int run_overflow(void *state, struct collector_run *run)
{
    (void)state;
    /* Writes a family twice: the writer refuses, the run is discarded. */
    expo_family(run->out, "dup", EXPO_GAUGE, "x");
    expo_family(run->out, "dup", EXPO_GAUGE, "x");
    return 0;
}

static int run_partial(void *state, struct collector_run *run)
{
    (void)state;
    expo_family(run->out, "partial_total", EXPO_COUNTER, "Whole even when the run failed.");
    expo_sample(run->out, NULL, 0, 7);
    run->publish_on_error = true;
    snprintf(run->err, run->errlen, "the source failed");
    return -1;
}

static int live(void *arg, struct expo *e)
{
    (void)arg;
    expo_family(e, "live_value", EXPO_GAUGE, "Live.");
    return expo_sample(e, NULL, 0, 42);
}

static const struct collector_def def_a = {.name = "a", .help = "a", .run = run_a};
static const struct collector_def def_b = {.name = "b", .help = "b", .run = run_b};
static const struct collector_def def_dup = {.name = "dup", .help = "d", .run = run_overflow};
static const struct collector_def def_partial = {
    .name = "partial", .help = "p", .run = run_partial};

/* A continuous collector (a queue consumer): publishes batch 1, waits for
 * stream_step 1, publishes batch 2, waits for stream_step 2, returns. */
static atomic_int stream_step, stream_runs;

static void stream_wait(const struct collector_run *run, int step)
{
    while (atomic_load(&stream_step) < step && !atomic_load(run->stopping))
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
}

static int run_stream(void *state, struct collector_run *run)
{
    (void)state;
    atomic_fetch_add(&stream_runs, 1);
    for (int batch = 1; batch <= 2; batch++) {
        expo_family(run->out, "stream_total", EXPO_COUNTER, "Batches.");
        expo_sample(run->out, NULL, 0, batch);
        if (run->publish(run) != 0)
            return -1;
        stream_wait(run, batch);
    }
    expo_family(run->out, "stream_total", EXPO_COUNTER, "Batches.");
    expo_sample(run->out, NULL, 0, 3);
    return 0;
}

static const struct collector_def def_stream = {
    .name = "stream", .help = "s", .run = run_stream, .continuous = true};

static char *gunzip(const unsigned char *gz, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
    size_t cap = 1 << 24;
    char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)gz;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    /* Z_STREAM_END also checks the CRC-32 and length in the trailer. */
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.avail_in, 0);
    *out_len = cap - z.avail_out;
    inflateEnd(&z);
    return out;
}

/* Waits for cond, up to 60 s of wall time (shared machines are slow, and a
 * sanitized build slower): the bound is for a hang, not a timing claim. */
static void wait_for(bool (*cond)(void *), void *arg)
{
    double t0 = clock_mono();
    do {
        if (cond(arg))
            return;
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    } while (clock_mono() - t0 < 60);
    assert_true(cond(arg));
}

static bool is_ready(void *arg)
{
    return registry_ready(arg, NULL);
}

/* True when exactly collector b has not completed a run: a's first run is
 * published (the registry marks a run complete under the same lock that
 * swaps its snapshot in), b's is not. */
static bool only_b_pending(void *arg)
{
    struct buf pending;
    buf_init(&pending, 1024);
    bool ready = registry_ready(arg, &pending);
    bool only_b = !ready && pending.data != NULL && strcmp(pending.data, "b") == 0;
    buf_free(&pending);
    return only_b;
}

/* The line that starts with prefix, or NULL. */
static const char *find_line(const char *text, const char *prefix);

/* True when the served body says a's last run failed: what the test asserts,
 * not a proxy for it (a run counter moves when a run starts). */
static bool a_reported_down(void *arg)
{
    struct exposition *x = registry_exposition(arg);
    if (x == NULL)
        return false;
    size_t len;
    char *body = exposition_flatten(x, false, &len);
    bool down = body != NULL && find_line(body, "aws_org_collector_up{collector=\"a\"} 0\n");
    free(body);
    exposition_release(x);
    return down;
}

/* The line that starts with prefix, or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return p;
    return NULL;
}

static void test_compose_and_readiness(void **state)
{
    (void)state;
    atomic_store(&runs_a, 0);
    atomic_store(&fail_a, false);
    atomic_store(&block_b, true);
    struct registry *r = registry_create(0.0);
    assert_non_null(r);
    assert_int_equal(registry_add_collector(r, &def_a, NULL, 3600000), 0);
    assert_int_equal(registry_add_collector(r, &def_b, NULL, 3600000), 0);
    assert_int_equal(registry_add_live(r, live, NULL), 0);
    assert_int_equal(registry_start(r), 0);

    /* b is held: not ready, and the reason names it once a's run is in. */
    wait_for(only_b_pending, r);

    atomic_store(&block_b, false);
    wait_for(is_ready, r);

    struct exposition *x = registry_exposition(r);
    assert_non_null(x);
    size_t plain_len, gz_len;
    char *plain_body = exposition_flatten(x, false, &plain_len);
    char *gz_body = exposition_flatten(x, true, &gz_len);
    assert_int_equal(plain_len, x->plain_len);
    assert_int_equal(gz_len, x->gz_len);
    /* a's snapshot, exactly, with the HELP note of its interval. */
    static const char a_text[] = "# HELP a_value A's value. (cached; refreshed every 1h)\n"
                                 "# TYPE a_value gauge\n"
                                 "a_value{run=\"first\"} 1\n";
    assert_memory_equal(plain_body, a_text, sizeof a_text - 1);
    /* b's 20,000 lines (about 0.5 MB, compressed as they were written, in
     * chunks) come back whole and in order. */
    struct buf want;
    buf_init(&want, 1 << 20);
    buf_puts(&want, "# HELP b_series B's series. (cached; refreshed every 1h)\n"
                    "# TYPE b_series gauge\n");
    for (int i = 0; i < 20000; i++)
        buf_printf(&want, "b_series{name=\"n%d\"} %d\n", i, i);
    assert_non_null(find_line(plain_body, want.data));
    buf_free(&want);
    assert_non_null(find_line(plain_body, "aws_org_collector_up{collector=\"a\"} 1\n"));
    assert_non_null(find_line(plain_body, "aws_org_collector_up{collector=\"b\"} 1\n"));
    const char *tail = "# HELP live_value Live.\n# TYPE live_value gauge\nlive_value 42\n";
    assert_string_equal(plain_body + plain_len - strlen(tail), tail);
    assert_int_equal(strlen(plain_body), plain_len);

    size_t n;
    char *plain = gunzip((unsigned char *)gz_body, gz_len, &n);
    assert_int_equal(n, plain_len);
    assert_memory_equal(plain, plain_body, n);
    free(plain);
    assert_true(gz_len < plain_len / 4);
    free(plain_body);
    free(gz_body);
    exposition_release(x);
    registry_destroy(r);
}

static void test_failed_run_keeps_snapshot(void **state)
{
    (void)state;
    atomic_store(&runs_a, 0);
    atomic_store(&fail_a, false);
    struct registry *r = registry_create(0.0);
    assert_int_equal(registry_add_collector(r, &def_a, NULL, 1000), 0);
    assert_int_equal(registry_add_collector(r, &def_dup, NULL, 3600000), 0);
    assert_int_equal(registry_start(r), 0);
    wait_for(is_ready, r);
    atomic_store(&fail_a, true);
    wait_for(a_reported_down, r);
    struct exposition *x = registry_exposition(r);
    size_t plain_len, gz_len;
    char *body = exposition_flatten(x, false, &plain_len);
    char *gz = exposition_flatten(x, true, &gz_len);
    /* The first run's snapshot is still served; up says the last run failed. */
    assert_non_null(find_line(body, "a_value{run=\"first\"} 1\n"));
    assert_null(find_line(body, "a_value{run=\"later\"}"));
    assert_non_null(find_line(body, "aws_org_collector_up{collector=\"a\"} 0\n"));
    /* The collector whose output was invalid never had a snapshot. */
    assert_non_null(find_line(body, "aws_org_collector_up{collector=\"dup\"} 0\n"));
    assert_non_null(
        find_line(body, "aws_org_collector_last_success_timestamp_seconds{collector=\"dup\"} 0\n"));
    assert_null(find_line(body, "# HELP dup "));
    size_t n;
    char *plain = gunzip((unsigned char *)gz, gz_len, &n);
    assert_int_equal(n, plain_len);
    assert_memory_equal(plain, body, n);
    free(plain);
    free(body);
    free(gz);
    exposition_release(x);
    registry_destroy(r);
}

static void test_publish_on_error(void **state)
{
    (void)state;
    struct registry *r = registry_create(0.0);
    assert_int_equal(registry_add_collector(r, &def_partial, NULL, 3600000), 0);
    assert_int_equal(registry_start(r), 0);
    wait_for(is_ready, r);
    struct exposition *x = registry_exposition(r);
    size_t len;
    char *body = exposition_flatten(x, false, &len);
    assert_non_null(find_line(body, "partial_total 7\n"));
    assert_non_null(find_line(body, "aws_org_collector_up{collector=\"partial\"} 0\n"));
    assert_non_null(find_line(
        body, "aws_org_collector_last_success_timestamp_seconds{collector=\"partial\"} 0\n"));
    free(body);
    exposition_release(x);
    registry_destroy(r);
}

/* The body (plain) of r now; the caller frees it. */
static char *body_now(struct registry *r)
{
    struct exposition *x = registry_exposition(r);
    assert_non_null(x);
    size_t len;
    char *body = exposition_flatten(x, false, &len);
    exposition_release(x);
    return body;
}

static bool has_batch(struct registry *r, const char *line)
{
    char *body = body_now(r);
    bool found = body != NULL && find_line(body, line) != NULL;
    free(body);
    return found;
}

static bool batch1_up(void *arg)
{
    return has_batch(arg, "stream_total 1\n") &&
           has_batch(arg, "aws_org_collector_up{collector=\"stream\"} 1\n");
}

static bool batch2(void *arg)
{
    return has_batch(arg, "stream_total 2\n");
}

static bool ran_again(void *arg)
{
    (void)arg;
    return atomic_load(&stream_runs) >= 3;
}

static void test_continuous_collector_publishes_each_batch(void **state)
{
    (void)state;
    atomic_store(&stream_step, 0);
    atomic_store(&stream_runs, 0);
    struct registry *r = registry_create(0.0);
    assert_int_equal(registry_add_collector(r, &def_stream, NULL, 3600000), 0);
    assert_int_equal(registry_start(r), 0);
    /* Mid-run: the first batch is served, the collector up and ready. */
    wait_for(batch1_up, r);
    assert_true(registry_ready(r, NULL));
    char *body = body_now(r);
    assert_non_null(find_line(body, "# HELP stream_total Batches.\n")); /* no "cached" note */
    free(body);
    atomic_store(&stream_step, 1);
    wait_for(batch2, r);
    /* The run returns; the next starts at once, though the interval is 1h. */
    atomic_store(&stream_step, 2);
    wait_for(ran_again, NULL);
    registry_destroy(r);
}

static void test_exposition_is_reused(void **state)
{
    (void)state;
    struct registry *r = registry_create(3600.0);
    assert_int_equal(registry_add_live(r, live, NULL), 0);
    assert_int_equal(registry_start(r), 0);
    struct exposition *x1 = registry_exposition(r);
    struct exposition *x2 = registry_exposition(r);
    assert_ptr_equal(x1, x2); /* nothing changed: composed once */
    size_t len;
    char *body = exposition_flatten(x1, false, &len);
    assert_string_equal(body, "# HELP live_value Live.\n# TYPE live_value gauge\nlive_value 42\n");
    assert_int_equal(len, x1->plain_len);
    free(body);
    exposition_release(x1);
    exposition_release(x2);
    registry_destroy(r);
}

/* --- wiring: a provider's product handed to its consumer ---------------- */

/* The product: a counted value. */
struct value {
    atomic_int refs;
    int n;
};
static atomic_int values_alive;

static void value_retain(void *v)
{
    atomic_fetch_add(&((struct value *)v)->refs, 1);
}

static void value_release(void *v)
{
    if (v != NULL && atomic_fetch_sub(&((struct value *)v)->refs, 1) == 1) {
        atomic_fetch_sub(&values_alive, 1);
        free(v);
    }
}

static const struct collector_product product = {"the value", value_retain, value_release};
static atomic_int provided_runs, consumed; /* the last value a consumer saw, -1: none */

static int run_provider(void *state, struct collector_run *run)
{
    (void)state;
    struct value *v = malloc(sizeof *v);
    atomic_init(&v->refs, 1);
    v->n = 41 + atomic_fetch_add(&provided_runs, 1) + 1; /* 42, 43, ... */
    atomic_fetch_add(&values_alive, 1);
    collector_feed_publish(run->feed, v);
    return 0;
}

static int run_consumer(void *state, struct collector_run *run)
{
    (void)state;
    struct value *v = collector_feed_wait(run->input, 30, run->stopping);
    atomic_store(&consumed, v ? v->n : -1);
    value_release(v);
    return 0;
}

static const struct collector_product *needs_value(void *state, const char **needed_for)
{
    (void)state;
    *needed_for = "its sums";
    return &product;
}

static const struct collector_product *wants_value(void *state, const char **needed_for)
{
    (void)state;
    (void)needed_for; /* makes do without */
    return &product;
}

static const struct collector_def def_provider = {
    .name = "provider", .help = "p", .run = run_provider, .provides = &product};
static const struct collector_def def_consumer = {
    .name = "consumer", .help = "c", .run = run_consumer, .consumes = needs_value};
static const struct collector_def def_optional = {
    .name = "optional", .help = "o", .run = run_consumer, .consumes = wants_value};

static bool consumed_42(void *arg)
{
    (void)arg;
    return atomic_load(&consumed) == 42;
}

static bool consumed_none(void *arg)
{
    (void)arg;
    return atomic_load(&consumed) == -1;
}

static void test_wiring_hands_the_product_over(void **state)
{
    (void)state;
    atomic_store(&provided_runs, 0);
    atomic_store(&consumed, 0);
    const struct collector_def *table[] = {&def_provider, &def_consumer};
    struct registry *r = registry_create(0.0);
    /* The consumer first: the order of the rows does not matter. */
    assert_int_equal(registry_add_collector(r, &def_consumer, NULL, 3600000), 0);
    assert_int_equal(registry_add_collector(r, &def_provider, NULL, 3600000), 0);
    char err[256] = "";
    assert_int_equal(registry_wire(r, table, 2, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(registry_start(r), 0);
    wait_for(consumed_42, NULL); /* waited for the provider's first value */
    registry_destroy(r);
    assert_int_equal(atomic_load(&values_alive), 0); /* the feed's reference dropped */
}

static void test_wiring_refuses_a_missing_provider(void **state)
{
    (void)state;
    static const struct collector_def *const both[] = {&def_provider, &def_consumer};
    static const struct collector_def *const alone[] = {&def_consumer};
    static const struct {
        const struct collector_def *const *table;
        size_t ntable;
        const char *err;
    } cases[] = {
        {both, 2,
         "collector consumer needs the value (for its sums), which the provider collector "
         "provides, and it is disabled: enable it with --collector.provider, or disable consumer "
         "with --no-collector.consumer"},
        {alone, 1,
         "collector consumer needs the value (for its sums), which no collector of this build "
         "provides: disable it with --no-collector.consumer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct registry *r = registry_create(0.0);
        assert_int_equal(registry_add_collector(r, &def_consumer, NULL, 3600000), 0);
        char err[512] = "";
        assert_int_equal(registry_wire(r, cases[i].table, cases[i].ntable, err, sizeof err), -1);
        assert_string_equal(err, cases[i].err);
        registry_destroy(r);
    }
}

static void test_wiring_lets_an_optional_consumer_run_without(void **state)
{
    (void)state;
    atomic_store(&consumed, 0);
    const struct collector_def *table[] = {&def_provider, &def_optional};
    struct registry *r = registry_create(0.0);
    assert_int_equal(registry_add_collector(r, &def_optional, NULL, 3600000), 0);
    char err[256] = "";
    assert_int_equal(registry_wire(r, table, 2, err, sizeof err), 0);
    assert_int_equal(registry_start(r), 0);
    wait_for(consumed_none, NULL); /* no input: NULL at once, not after 30 s */
    registry_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_and_readiness),
        cmocka_unit_test(test_failed_run_keeps_snapshot),
        cmocka_unit_test(test_publish_on_error),
        cmocka_unit_test(test_exposition_is_reused),
        cmocka_unit_test(test_continuous_collector_publishes_each_batch),
        cmocka_unit_test(test_wiring_hands_the_product_over),
        cmocka_unit_test(test_wiring_refuses_a_missing_provider),
        cmocka_unit_test(test_wiring_lets_an_optional_consumer_run_without),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
