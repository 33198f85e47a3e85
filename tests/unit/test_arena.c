/* Unit tests of lib/arena: blocks cut from chunks inside a scope, malloc
 * outside it, a chunk's return when its last block goes (on any thread, in
 * or out of a scope), the caps, and jansson running on top of it. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/arena.h"

/* The bytes a chunk keeps for its own count before its first block. */
#define CHUNK_HEADER 16

static int no_chunks(void **state)
{
    (void)state;
    return arena_live_chunks() == 0 ? 0 : -1;
}

static void test_outside_scope_is_malloc(void **state)
{
    (void)state;
    char *p = arena_malloc(10);
    char *q = arena_malloc(10);
    assert_non_null(p);
    assert_non_null(q);
    memcpy(p, "123456789", 10);
    assert_int_equal(arena_live_chunks(), 0);
    arena_free(p);
    free(q); /* a block from outside a scope is malloc's: free() takes it */
    arena_free(NULL);
    arena_end(); /* no scope: nothing happens */
    assert_int_equal(arena_live_chunks(), 0);
}

static void test_scope_cuts_one_chunk(void **state)
{
    (void)state;
    arena_begin(ARENA_CAP_DEFAULT);
    char *a = arena_malloc(1);
    char *b = arena_malloc(16);
    char *c = arena_malloc(17);
    char *d = arena_malloc(0);
    char *e = arena_malloc(5);
    assert_int_equal(arena_live_chunks(), 1);
    assert_int_equal((uintptr_t)a % ARENA_CHUNK, CHUNK_HEADER); /* the chunk's first block */
    assert_int_equal(b - a, 16);
    assert_int_equal(c - b, 16);
    assert_int_equal(d - c, 32);
    assert_int_equal(e - d, 16); /* even 0 bytes get a distinct block */
    arena_end();
    assert_int_equal(arena_live_chunks(), 1); /* its blocks are alive */
    arena_free(a);
    arena_free(b);
    arena_free(c);
    arena_free(d);
    assert_int_equal(arena_live_chunks(), 1);
    arena_free(e);
    assert_int_equal(arena_live_chunks(), 0);
}

static void test_chunk_back_when_scope_ends(void **state)
{
    (void)state;
    arena_begin(ARENA_CAP_DEFAULT);
    char *first = arena_malloc(100);
    arena_free(first);
    assert_int_equal(arena_live_chunks(), 1); /* still the scope's */
    arena_end();
    assert_int_equal(arena_live_chunks(), 0);
    /* the next scope reuses it: its first block is where the last one was */
    arena_begin(ARENA_CAP_DEFAULT);
    char *p = arena_malloc(100);
    arena_end();
    assert_ptr_equal(p, first);
    arena_free(p);
    assert_int_equal(arena_live_chunks(), 0);
}

static void test_foreign_pointer_freed_in_scope(void **state)
{
    (void)state;
    char *outside = arena_malloc(40); /* malloc's */
    char *plain = malloc(40);         /* never seen by the arena */
    arena_begin(ARENA_CAP_DEFAULT);
    char *inside = arena_malloc(40);
    arena_free(outside); /* free()d: ASan would see a leak or a bad free */
    arena_free(plain);
    arena_end();
    assert_int_equal(arena_live_chunks(), 1);
    arena_free(inside); /* cut inside, freed outside */
    assert_int_equal(arena_live_chunks(), 0);
}

static void test_cap_falls_back_to_malloc(void **state)
{
    (void)state;
    /* a cap of one chunk: the chunk holds (64 KiB - 16) / 16 blocks of 16 */
    size_t fit = (ARENA_CHUNK - CHUNK_HEADER) / 16;
    char **blocks = calloc(fit + 1, sizeof *blocks);
    assert_non_null(blocks);
    arena_begin(ARENA_CHUNK);
    for (size_t i = 0; i < fit; i++)
        blocks[i] = arena_malloc(16);
    assert_int_equal(blocks[fit - 1] - blocks[0], (fit - 1) * 16);
    assert_int_equal(arena_live_chunks(), 1);
    blocks[fit] = arena_malloc(16); /* over the cap: malloc's */
    char *chunk = blocks[0] - CHUNK_HEADER;
    assert_true(blocks[fit] < chunk || blocks[fit] >= chunk + ARENA_CHUNK);
    assert_int_equal(arena_live_chunks(), 1);
    /* a big block is never cut, whatever the cap */
    arena_end();
    arena_begin(ARENA_CAP_DEFAULT);
    char *big = arena_malloc(ARENA_CHUNK / 4 + 1);
    char *quarter = arena_malloc(ARENA_CHUNK / 4);
    arena_end();
    assert_int_equal(arena_live_chunks(), 2);
    assert_int_equal((uintptr_t)quarter % ARENA_CHUNK, CHUNK_HEADER);
    char *qchunk = quarter - CHUNK_HEADER;
    assert_true(big < qchunk || big >= qchunk + ARENA_CHUNK);
    arena_free(big);
    arena_free(quarter);
    for (size_t i = 0; i <= fit; i++)
        arena_free(blocks[i]);
    free(blocks);
    assert_int_equal(arena_live_chunks(), 0);
    /* a cap under one chunk: no chunk at all */
    arena_begin(ARENA_CHUNK - 1);
    char *p = arena_malloc(8);
    arena_end();
    assert_int_equal(arena_live_chunks(), 0);
    arena_free(p);
}

static void test_region_cap(void **state)
{
    (void)state;
    /* one live block per scope holds one chunk each, up to the region */
    size_t chunks = ARENA_REGION / ARENA_CHUNK;
    char **held = calloc(chunks + 1, sizeof *held);
    assert_non_null(held);
    for (size_t i = 0; i <= chunks; i++) {
        arena_begin(ARENA_CAP_DEFAULT);
        held[i] = arena_malloc(8);
        arena_end();
    }
    assert_int_equal(arena_live_chunks(), chunks); /* the last one is malloc's */
    for (size_t i = 0; i <= chunks; i++)
        arena_free(held[i]);
    free(held);
    assert_int_equal(arena_live_chunks(), 0);
}

static void *free_on_thread(void *arg)
{
    json_decref(arg);
    return NULL;
}

static void test_jansson_on_arena(void **state)
{
    (void)state;
    static const char doc[] = "{\"Accounts\": [{\"Id\": \"111111111111\", \"Name\": \"a\"}, "
                              "{\"Id\": \"222222222222\", \"Name\": \"b\"}], \"NextToken\": null}";
    arena_begin(ARENA_CAP_DEFAULT);
    json_t *j = json_loads(doc, 0, NULL);
    arena_end();
    assert_non_null(j);
    assert_int_equal(arena_live_chunks(), 1);
    /* a value added outside the scope is malloc's, in the same tree */
    assert_int_equal(json_object_set_new(j, "Extra", json_string("x")), 0);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"Accounts\":[{\"Id\":\"111111111111\",\"Name\":\"a\"},"
                              "{\"Id\":\"222222222222\",\"Name\":\"b\"}],\"Extra\":\"x\","
                              "\"NextToken\":null}");
    free(text); /* out of a scope, json_dumps' result is malloc's */
    /* a node kept past its tree keeps the chunk, and another thread frees it */
    json_t *kept = json_incref(json_array_get(json_object_get(j, "Accounts"), 1));
    json_decref(j);
    assert_int_equal(arena_live_chunks(), 1);
    assert_string_equal(json_string_value(json_object_get(kept, "Name")), "b");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_on_thread, kept), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(arena_live_chunks(), 0);
}

int main(void)
{
    /* as the daemon does, before jansson allocates anything */
    json_set_alloc_funcs(arena_malloc, arena_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_outside_scope_is_malloc, no_chunks),
        cmocka_unit_test_teardown(test_scope_cuts_one_chunk, no_chunks),
        cmocka_unit_test_teardown(test_chunk_back_when_scope_ends, no_chunks),
        cmocka_unit_test_teardown(test_foreign_pointer_freed_in_scope, no_chunks),
        cmocka_unit_test_teardown(test_cap_falls_back_to_malloc, no_chunks),
        cmocka_unit_test_teardown(test_region_cap, no_chunks),
        cmocka_unit_test_teardown(test_jansson_on_arena, no_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
