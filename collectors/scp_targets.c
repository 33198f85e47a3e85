#define _POSIX_C_SOURCE 200809L
#include "collectors/scp_targets.h"

#include <stdlib.h>
#include <string.h>

#include "lib/search.h"

static void list_free(struct scp_target_list *l)
{
    free(l->policy);
    for (size_t i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
}

void scp_targets_clear(struct scp_targets *ts)
{
    if (ts == NULL)
        return;
    for (size_t i = 0; i < ts->n; i++)
        list_free(&ts->v[i]);
    free(ts->v);
    *ts = (struct scp_targets){0};
}

static size_t find(const struct scp_targets *ts, const char *policy, bool *found)
{
    return search_id(ts->v, ts->n, sizeof *ts->v, offsetof(struct scp_target_list, policy), policy,
                     found);
}

struct scp_target_list *scp_targets_find(struct scp_targets *ts, const char *policy)
{
    bool found;
    size_t at = find(ts, policy, &found);
    return found ? &ts->v[at] : NULL;
}

/* Inserts l (taken whole) at its place in ts; NULL out of memory (l is
 * then still the caller's). */
static struct scp_target_list *insert(struct scp_targets *ts, struct scp_target_list l)
{
    bool found;
    size_t at = find(ts, l.policy, &found);
    if (found)
        return NULL;
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 16;
        struct scp_target_list *v = realloc(ts->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        ts->v = v;
        ts->cap = cap;
    }
    memmove(&ts->v[at + 1], &ts->v[at], (ts->n - at) * sizeof *ts->v);
    ts->v[at] = l;
    ts->n++;
    return &ts->v[at];
}

struct scp_target_list *scp_targets_add(struct scp_targets *ts, const char *policy, double read_at,
                                        bool fresh)
{
    struct scp_target_list l = {.policy = strdup(policy), .read_at = read_at, .fresh = fresh};
    if (l.policy == NULL)
        return NULL;
    struct scp_target_list *p = insert(ts, l);
    if (p == NULL)
        free(l.policy);
    return p;
}

struct scp_target_list *scp_targets_move(struct scp_targets *from, struct scp_targets *to,
                                         const char *policy)
{
    bool found;
    size_t at = find(from, policy, &found);
    if (!found)
        return NULL;
    struct scp_target_list l = from->v[at];
    l.fresh = false;
    struct scp_target_list *p = insert(to, l);
    if (p == NULL)
        return NULL;
    memmove(&from->v[at], &from->v[at + 1], (from->n - at - 1) * sizeof *from->v);
    from->n--;
    return p;
}

void scp_targets_merge(struct scp_targets *to, struct scp_targets *from)
{
    for (size_t i = 0; i < from->n; i++) {
        bool found;
        size_t at = find(to, from->v[i].policy, &found);
        if (found) {
            list_free(&to->v[at]);
            to->v[at] = from->v[i];
        } else if (insert(to, from->v[i]) == NULL) {
            list_free(&from->v[i]); /* out of memory: that policy is read again */
        }
    }
    free(from->v);
    *from = (struct scp_targets){0};
}

void scp_target_list_free(struct scp_target_list *l)
{
    list_free(l);
    *l = (struct scp_target_list){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool scp_target_list_has(const struct scp_target_list *l, const char *id)
{
    bool found;
    search_id(l->ids, l->n, sizeof *l->ids, 0, id, &found);
    return found;
}

static int reserve(struct scp_target_list *l)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **v = realloc(l->ids, cap * sizeof *v);
    if (v == NULL)
        return -1;
    l->ids = v;
    l->cap = cap;
    return 0;
}

int scp_target_list_append(struct scp_target_list *l, const char *id)
{
    char *copy = strdup(id);
    if (copy == NULL || reserve(l) != 0) {
        free(copy);
        return -1;
    }
    l->ids[l->n++] = copy;
    return 0;
}

int scp_target_list_insert(struct scp_target_list *l, const char *id)
{
    bool found;
    size_t at = search_id(l->ids, l->n, sizeof *l->ids, 0, id, &found);
    if (found)
        return 0;
    char *copy = strdup(id);
    if (copy == NULL || reserve(l) != 0) {
        free(copy);
        return -1;
    }
    memmove(&l->ids[at + 1], &l->ids[at], (l->n - at) * sizeof *l->ids);
    l->ids[at] = copy;
    l->n++;
    return 0;
}

void scp_target_list_remove(struct scp_target_list *l, const char *id)
{
    bool found;
    size_t at = search_id(l->ids, l->n, sizeof *l->ids, 0, id, &found);
    if (!found)
        return;
    free(l->ids[at]);
    memmove(&l->ids[at], &l->ids[at + 1], (l->n - at - 1) * sizeof *l->ids);
    l->n--;
}

void scp_target_list_sort(struct scp_target_list *l)
{
    if (l->n == 0)
        return;
    qsort(l->ids, l->n, sizeof *l->ids, cmp_str);
    size_t w = 1;
    for (size_t r = 1; r < l->n; r++) {
        if (strcmp(l->ids[w - 1], l->ids[r]) == 0) {
            free(l->ids[r]);
            continue;
        }
        l->ids[w++] = l->ids[r];
    }
    l->n = w;
}

void scp_known_clear(struct scp_known *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i].id);
    free(k->v);
    *k = (struct scp_known){0};
}

int scp_known_append(struct scp_known *k, const char *id, double joined)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        struct scp_known_entity *v = realloc(k->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        k->v = v;
        k->cap = cap;
    }
    char *copy = strdup(id);
    if (copy == NULL)
        return -1;
    k->v[k->n++] = (struct scp_known_entity){copy, joined};
    return 0;
}

static int cmp_known(const void *a, const void *b)
{
    return strcmp(((const struct scp_known_entity *)a)->id,
                  ((const struct scp_known_entity *)b)->id);
}

void scp_known_sort(struct scp_known *k)
{
    if (k->n > 0)
        qsort(k->v, k->n, sizeof *k->v, cmp_known);
}

bool scp_known_has(const struct scp_known *k, const char *id, double joined)
{
    bool found;
    size_t at =
        search_id(k->v, k->n, sizeof *k->v, offsetof(struct scp_known_entity, id), id, &found);
    return found && k->v[at].joined == joined;
}
