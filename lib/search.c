#include "lib/search.h"

#include <string.h>

size_t search_id(const void *base, size_t n, size_t size, size_t id_offset, const char *id,
                 bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *elem_id;
        memcpy(&elem_id, (const char *)base + mid * size + id_offset, sizeof elem_id);
        int c = strcmp(elem_id, id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}
