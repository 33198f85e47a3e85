/*
 * arena: a thread-scoped bump allocator for short-lived trees of small
 * blocks (a parsed AWS response: thousands of jansson nodes and strings).
 *
 * arena_malloc and arena_free are a malloc/free pair meant to be installed
 * process-wide (json_set_alloc_funcs). Outside a scope, arena_malloc is
 * malloc. Between arena_begin and arena_end on a thread, that thread's
 * blocks are cut from 64 KiB chunks of one reserved region instead;
 * arena_free of such a block only counts it, and a chunk goes back to the
 * region's free list when its last block is freed, whichever thread frees it
 * and whenever (a node kept past the response keeps its chunk). arena_free
 * of any other pointer is free(). So a block may be allocated inside a scope
 * and freed outside it, or the reverse, or on another thread, and memory
 * that jansson allocated before the functions were installed is still freed
 * right. The one rule: a block from a scope must never reach free() itself
 * (jansson's json_dumps inside a scope would hand out such a block).
 *
 * Caps: a scope takes at most its cap in chunks, the region holds
 * ARENA_REGION bytes of them, and blocks over a quarter chunk are never cut;
 * past any of these, allocations fall back to malloc (never to failure).
 */
#ifndef LIB_ARENA_H
#define LIB_ARENA_H

#include <stddef.h>

/* The chunk size, the region's size (address space, reserved once, touched
 * as used) and the default cap of one scope. */
#define ARENA_CHUNK (64u << 10)
#define ARENA_REGION (32u << 20)
#define ARENA_CAP_DEFAULT (4u << 20)

/* A block of n bytes, aligned to 16, that the caller owns until it passes it
 * to arena_free; NULL when out of memory. Thread-safe. */
void *arena_malloc(size_t n);

/* Gives back a block from arena_malloc, or frees a pointer from malloc.
 * Accepts NULL. Thread-safe. */
void arena_free(void *p);

/* Starts this thread's scope: blocks come from chunks until arena_end, up to
 * cap bytes of chunks. Scopes do not nest: a second begin is ignored. */
void arena_begin(size_t cap);

/* Ends this thread's scope; the chunks live on until their blocks are freed.
 * Accepts a thread with no scope. */
void arena_end(void);

/* For tests: chunks in use (handed to a scope and not yet back on the free
 * list), process-wide. */
size_t arena_live_chunks(void);

#endif
