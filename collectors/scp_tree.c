#define _POSIX_C_SOURCE 200809L
#include "collectors/scp_tree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_id(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 0x100000001b3ULL;
    return (size_t)h;
}

/* Re-indexes every node into a table of n slots (a power of two). */
static int rehash(struct scp_tree *t, size_t n)
{
    size_t *slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = hash_id(t->nodes[i].id) & (n - 1);
        while (slots[h] != 0)
            h = (h + 1) & (n - 1);
        slots[h] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

struct scp_node *scp_tree_node(struct scp_tree *t, const char *id, bool create_it)
{
    if (t->nslots > 0) {
        for (size_t h = hash_id(id) & (t->nslots - 1); t->slots[h] != 0;
             h = (h + 1) & (t->nslots - 1))
            if (strcmp(t->nodes[t->slots[h] - 1].id, id) == 0)
                return &t->nodes[t->slots[h] - 1];
    }
    if (!create_it || strlen(id) >= SCP_ID_MAX)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct scp_node *v = realloc(t->nodes, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        t->nodes = v;
        t->cap = cap;
    }
    struct scp_node *nd = &t->nodes[t->n++];
    memset(nd, 0, sizeof *nd);
    if ((nd->id = strdup(id)) == NULL) {
        t->n--;
        return NULL;
    }
    if (2 * t->n > t->nslots) {
        if (rehash(t, t->nslots ? t->nslots * 2 : 128) != 0) {
            free(nd->id);
            t->n--;
            return NULL;
        }
    } else {
        size_t h = hash_id(id) & (t->nslots - 1);
        while (t->slots[h] != 0)
            h = (h + 1) & (t->nslots - 1);
        t->slots[h] = t->n;
    }
    return nd;
}

int scp_node_set_parent(struct scp_node *nd, const char *id)
{
    if (nd->parent != NULL && strcmp(nd->parent, id) == 0)
        return 0;
    char *p = strdup(id);
    if (p == NULL)
        return -1;
    free(nd->parent);
    nd->parent = p;
    return 0;
}

void scp_tree_free(struct scp_tree *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    for (size_t i = 0; i < t->n; i++) {
        free(t->nodes[i].id);
        free(t->nodes[i].parent);
        free(t->nodes[i].attached);
    }
    free(t->nodes);
}

int scp_node_attach(struct scp_node *nd, struct scp_policy p)
{
    struct scp_policy *v = realloc(nd->attached, (nd->nattached + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    nd->attached = v;
    nd->attached[nd->nattached++] = p;
    return 0;
}

void scp_node_detach_all(struct scp_node *nd)
{
    free(nd->attached);
    nd->attached = NULL;
    nd->nattached = 0;
}

void scp_tree_forget_parents(struct scp_tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->nodes[i].parent);
        t->nodes[i].parent = NULL;
    }
}
