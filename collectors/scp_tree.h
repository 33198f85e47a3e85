/*
 * scp_tree: the organization's structure as the SCP collector reads it: the
 * root, the OUs and the accounts, each with its parent and the policies
 * attached to it, found by id in O(1) on average (open addressing: an
 * organization has tens of thousands of them). Knows nothing of AWS calls.
 */
#ifndef COLLECTORS_SCP_TREE_H
#define COLLECTORS_SCP_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "collectors/scp_eval.h"

/* An entity with policies attached (root, OU or account) and its parent. */
struct scp_node {
    char *id;                    /* owned; < SCP_ID_MAX bytes */
    char *parent;                /* owned; NULL for the root and for nodes not placed (yet) */
    struct scp_policy *attached; /* owned array; the ids and documents borrowed */
    size_t nattached;
};

/* Zero-initialised is empty. */
struct scp_tree {
    struct scp_node *nodes;
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1 into nodes, 0 empty */
    size_t nslots; /* a power of two, at least twice n */
    char root[SCP_ID_MAX];
    bool scp_enabled;
};

/* The node of id, created (with no parent, nothing attached) when create_it
 * and absent; NULL when absent, out of memory or id is SCP_ID_MAX bytes or
 * longer. The pointer is the tree's, valid until the next creation. */
struct scp_node *scp_tree_node(struct scp_tree *t, const char *id, bool create_it);

/* Sets a node's parent to a copy of id; -1 when out of memory. */
int scp_node_set_parent(struct scp_node *nd, const char *id);

/* Attaches p (its id and document borrowed: they must outlive the tree's
 * use); -1 when out of memory. */
int scp_node_attach(struct scp_node *nd, struct scp_policy p);

/* Detaches every policy from nd. */
void scp_node_detach_all(struct scp_node *nd);

/* Forgets every node's parent (the nodes and attachments stay). */
void scp_tree_forget_parents(struct scp_tree *t);

/* Frees what the tree owns; it is empty again after scp_tree_free and a
 * zero-initialisation. Accepts NULL. */
void scp_tree_free(struct scp_tree *t);

#endif
