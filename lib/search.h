/*
 * search: the insertion-point binary search over an array sorted by a string
 * id, as the sorted id stores use (policy types, seen CloudTrail events).
 */
#ifndef LIB_SEARCH_H
#define LIB_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * base holds n elements of size bytes each, sorted by strcmp of the
 * `const char *` (or `char *`) member at byte offset id_offset of each element
 * (offsetof(struct x, id)). Returns the index of id, *found true, or the index
 * where id would be inserted to keep the order, *found false. base is
 * borrowed and may be NULL when n is 0.
 */
size_t search_id(const void *base, size_t n, size_t size, size_t id_offset, const char *id,
                 bool *found);

#endif
