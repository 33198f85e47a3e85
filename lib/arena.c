#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
#include "lib/arena.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/*
 * The region is ARENA_REGION bytes of address space, aligned to ARENA_CHUNK,
 * reserved on the first scope; pages are backed only once a chunk is used.
 * A pointer is a block of a chunk exactly when it lies in the region, and
 * its chunk is the pointer rounded down to ARENA_CHUNK: blocks carry no
 * header. A chunk counts its live blocks plus one for the scope still
 * cutting from it; whoever brings the count to zero puts it on the free
 * list, where the next scope of any thread takes it.
 */
struct chunk {
    alignas(16) atomic_size_t live;
    struct chunk *next; /* on the free list */
};

static pthread_once_t region_once = PTHREAD_ONCE_INIT;
static _Atomic(char *) region; /* NULL: not reserved (or mmap failed: malloc only) */
static size_t region_carved;   /* bytes of the region handed out as chunks so far */
static struct chunk *free_list;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* region_carved, free_list */
static atomic_size_t live_chunks;

/* This thread's scope. */
static _Thread_local struct {
    bool on;
    struct chunk *cur; /* the chunk being cut, or NULL */
    size_t used;       /* bytes of cur used, its header included */
    size_t left;       /* bytes of chunks the scope may still take */
} scope;

static void region_reserve(void)
{
    size_t len = ARENA_REGION + ARENA_CHUNK;
    void *p =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return;
    uintptr_t a = ((uintptr_t)p + ARENA_CHUNK - 1) & ~(uintptr_t)(ARENA_CHUNK - 1);
    atomic_store_explicit(&region, (char *)a, memory_order_release);
}

/* Whether p is a block of a chunk. A thread can only be given a block once
 * the region exists, so a relaxed load of it is enough here. */
static bool in_region(const void *p)
{
    const char *r = atomic_load_explicit(&region, memory_order_relaxed);
    return r != NULL && (const char *)p >= r && (const char *)p < r + ARENA_REGION;
}

static void chunk_release(struct chunk *c)
{
    if (atomic_fetch_sub_explicit(&c->live, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&lock);
    c->next = free_list;
    free_list = c;
    pthread_mutex_unlock(&lock);
    atomic_fetch_sub_explicit(&live_chunks, 1, memory_order_relaxed);
}

/* A chunk from the free list or the region's untouched end; NULL when both
 * are exhausted. */
static struct chunk *chunk_take(void)
{
    pthread_once(&region_once, region_reserve);
    char *r = atomic_load_explicit(&region, memory_order_acquire);
    if (r == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    struct chunk *c = free_list;
    if (c != NULL) {
        free_list = c->next;
    } else if (region_carved + ARENA_CHUNK <= ARENA_REGION) {
        c = (struct chunk *)(r + region_carved);
        region_carved += ARENA_CHUNK;
    }
    pthread_mutex_unlock(&lock);
    if (c != NULL) {
        atomic_init(&c->live, 1);
        atomic_fetch_add_explicit(&live_chunks, 1, memory_order_relaxed);
    }
    return c;
}

/* Retires the scope's chunk and takes the next one, within the scope's cap.
 * Leaves scope.cur NULL when there is none. */
static void chunk_next(void)
{
    if (scope.cur != NULL)
        chunk_release(scope.cur);
    scope.cur = NULL;
    if (scope.left < ARENA_CHUNK)
        return;
    scope.cur = chunk_take();
    if (scope.cur == NULL) {
        scope.left = 0; /* the region is full: malloc for the rest of the scope */
        return;
    }
    scope.left -= ARENA_CHUNK;
    scope.used = sizeof(struct chunk);
}

void *arena_malloc(size_t n)
{
    if (scope.on && n <= ARENA_CHUNK / 4) {
        size_t size = (n + 15) & ~(size_t)15;
        if (size == 0)
            size = 16;
        if (scope.cur == NULL || ARENA_CHUNK - scope.used < size)
            chunk_next();
        if (scope.cur != NULL) {
            void *p = (char *)scope.cur + scope.used;
            scope.used += size;
            atomic_fetch_add_explicit(&scope.cur->live, 1, memory_order_relaxed);
            return p;
        }
    }
    return malloc(n);
}

void arena_free(void *p)
{
    if (p == NULL)
        return;
    if (in_region(p))
        chunk_release((struct chunk *)((uintptr_t)p & ~(uintptr_t)(ARENA_CHUNK - 1)));
    else
        free(p);
}

void arena_begin(size_t cap)
{
    if (scope.on)
        return;
    scope.on = true;
    scope.cur = NULL;
    scope.used = 0;
    scope.left = cap;
}

void arena_end(void)
{
    if (!scope.on)
        return;
    if (scope.cur != NULL)
        chunk_release(scope.cur);
    scope.cur = NULL;
    scope.on = false;
}

size_t arena_live_chunks(void)
{
    return atomic_load_explicit(&live_chunks, memory_order_relaxed);
}
