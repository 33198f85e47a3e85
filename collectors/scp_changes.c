/*
 * scp_changes: a sorted array of (policy id, newest change time) under one
 * mutex, and the newest change of every policy. Policy ids are few (AWS
 * allows 1,000 SCPs), notes rare (an AttachPolicy or DetachPolicy).
 */
#define _POSIX_C_SOURCE 200809L
#include "collectors/scp_changes.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/search.h"

struct entry {
    char *id; /* owned */
    double newest;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries; /* sorted by id */
static size_t nentries, capentries;
static double every; /* the newest change of every policy, 0 when none */
static bool watched;

void scp_changes_watch(void)
{
    pthread_mutex_lock(&lock);
    watched = true;
    pthread_mutex_unlock(&lock);
}

bool scp_changes_watched(void)
{
    pthread_mutex_lock(&lock);
    bool w = watched;
    pthread_mutex_unlock(&lock);
    return w;
}

/* Under lock: id's change at t; out of room or memory, a change of every
 * policy (a long list read again costs time, never a missed change). */
static void put(const char *id, double t)
{
    bool found;
    size_t at =
        search_id(entries, nentries, sizeof *entries, offsetof(struct entry, id), id, &found);
    if (found) {
        entries[at].newest = fmax(entries[at].newest, t);
        return;
    }
    if (nentries == SCP_CHANGES_MAX) {
        every = fmax(every, t);
        return;
    }
    if (nentries == capentries) {
        size_t cap = capentries ? capentries * 2 : 16;
        struct entry *v = realloc(entries, cap * sizeof *v);
        if (v == NULL) {
            every = fmax(every, t);
            return;
        }
        entries = v;
        capentries = cap;
    }
    char *copy = strdup(id);
    if (copy == NULL) {
        every = fmax(every, t);
        return;
    }
    memmove(&entries[at + 1], &entries[at], (nentries - at) * sizeof *entries);
    entries[at] = (struct entry){copy, t};
    nentries++;
}

void scp_changes_note(const char *event_name, const char *policy_id, const char *policy_type,
                      double event_time)
{
    if (event_name == NULL ||
        (strcmp(event_name, "AttachPolicy") != 0 && strcmp(event_name, "DetachPolicy") != 0))
        return;
    /* Another policy type's (a tag policy's) targets guard nothing here; a
     * type that could not be told ("unknown") may be an SCP's. "not_found":
     * a policy AWS no longer knows and never listed as an SCP. */
    if (policy_type != NULL && *policy_type != '\0' &&
        strcmp(policy_type, "SERVICE_CONTROL_POLICY") != 0 && strcmp(policy_type, "unknown") != 0)
        return;
    double now = clock_wall();
    double t = event_time > 0 ? fmin(event_time, now) : now;
    pthread_mutex_lock(&lock);
    if (policy_id == NULL || *policy_id == '\0')
        every = fmax(every, t);
    else
        put(policy_id, t);
    pthread_mutex_unlock(&lock);
}

double scp_changes_newest(const char *policy_id)
{
    pthread_mutex_lock(&lock);
    double t = every;
    bool found;
    size_t at = search_id(entries, nentries, sizeof *entries, offsetof(struct entry, id), policy_id,
                          &found);
    if (found)
        t = fmax(t, entries[at].newest);
    pthread_mutex_unlock(&lock);
    return t;
}

void scp_changes_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nentries; i++)
        free(entries[i].id);
    free(entries);
    entries = NULL;
    nentries = capentries = 0;
    every = 0;
    watched = false;
    pthread_mutex_unlock(&lock);
}
