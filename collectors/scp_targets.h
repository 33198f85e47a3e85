/*
 * scp_targets: what the SCP collector keeps from run to run so that it need
 * not read every policy's targets every run (see scp.c for when it reads
 * them): each SCP's target list as last read, with the time that read
 * started, and the entities (root, OUs, accounts) that a successful run
 * placed, with each account's JoinedTimestamp, to tell the ones that are
 * new (or joined again) since. Knows nothing of AWS calls or metrics.
 */
#ifndef COLLECTORS_SCP_TARGETS_H
#define COLLECTORS_SCP_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

/* One SCP's targets (root, OU and account ids), sorted. */
struct scp_target_list {
    char *policy; /* owned */
    char **ids;   /* owned, each owned; sorted by strcmp */
    size_t n, cap;
    double read_at; /* wall time the read started (unix seconds) */
    bool fresh;     /* read by the current run (not kept from an earlier one) */
};

/* Target lists by policy id. Zero-initialised is empty. */
struct scp_targets {
    struct scp_target_list *v; /* owned, sorted by policy */
    size_t n, cap;
};

/* Frees every list; leaves ts empty. Accepts NULL. */
void scp_targets_clear(struct scp_targets *ts);

/* The list of policy in ts, or NULL. */
struct scp_target_list *scp_targets_find(struct scp_targets *ts, const char *policy);

/* A new, empty list of policy in ts (which has none), read_at and fresh as
 * given; NULL out of memory. The pointer is valid until the next add. */
struct scp_target_list *scp_targets_add(struct scp_targets *ts, const char *policy, double read_at,
                                        bool fresh);

/* Moves policy's list from `from` into `to` (which has none), as not fresh;
 * returns it, or NULL when from has none or memory is short. */
struct scp_target_list *scp_targets_move(struct scp_targets *from, struct scp_targets *to,
                                         const char *policy);

/* Puts back every list of from into to, replacing to's of the same policy
 * (a newer read), and empties from: what a failed run read is kept. */
void scp_targets_merge(struct scp_targets *to, struct scp_targets *from);

/* Frees what l owns (a list outside any scp_targets); leaves it empty. */
void scp_target_list_free(struct scp_target_list *l);

/* Whether id is in l. */
bool scp_target_list_has(const struct scp_target_list *l, const char *id);

/* Adds id (copied) to l unless it is there: 0, or -1 out of memory. */
int scp_target_list_insert(struct scp_target_list *l, const char *id);

/* Removes id from l when it is there. */
void scp_target_list_remove(struct scp_target_list *l, const char *id);

/* Sorts l after ids were appended unsorted (as a listing reads them),
 * dropping duplicates. */
void scp_target_list_sort(struct scp_target_list *l);

/* Appends id (copied) unsorted: 0, or -1 out of memory. */
int scp_target_list_append(struct scp_target_list *l, const char *id);

/* The entities a successful run placed: ids with JoinedTimestamp (0 for the
 * root and OUs), sorted. */
struct scp_known {
    struct scp_known_entity {
        char *id; /* owned */
        double joined;
    } * v;
    size_t n, cap;
};

/* Frees; leaves k empty. Accepts NULL. */
void scp_known_clear(struct scp_known *k);

/* Appends (id, joined), unsorted: 0, or -1 out of memory. */
int scp_known_append(struct scp_known *k, const char *id, double joined);

/* Sorts after the appends. */
void scp_known_sort(struct scp_known *k);

/* Whether k holds id with this joined time. */
bool scp_known_has(const struct scp_known *k, const char *id, double joined);

#endif
