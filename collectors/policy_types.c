/*
 * policy_types: a sorted array of (id, type) under one mutex. Lookups are
 * rare (a policy event in CloudTrail) and listings small (AWS allows 1,000
 * SCPs), so simplicity wins over a hash table.
 */
#define _POSIX_C_SOURCE 200809L
#include "collectors/policy_types.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/search.h"

struct entry {
    char *id, *type; /* owned */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries; /* sorted by id */
static size_t nentries, capentries;
static bool scps_complete;

/* Position of id, *found whether it is there; under lock. */
static size_t find(const char *id, bool *found)
{
    return search_id(entries, nentries, sizeof *entries, offsetof(struct entry, id), id, found);
}

/* Under lock. Out of room or memory: not remembered, which only costs a
 * DescribePolicy later. */
static void put(const char *id, const char *type)
{
    bool found;
    size_t at = find(id, &found);
    if (found) {
        if (strcmp(entries[at].type, type) != 0) {
            char *t = strdup(type);
            if (t != NULL) {
                free(entries[at].type);
                entries[at].type = t;
            }
        }
        return;
    }
    if (nentries == POLICY_TYPES_MAX)
        return;
    if (nentries == capentries) {
        size_t cap = capentries ? capentries * 2 : 64;
        struct entry *v = realloc(entries, cap * sizeof *v);
        if (v == NULL)
            return;
        entries = v;
        capentries = cap;
    }
    char *i = strdup(id), *t = strdup(type);
    if (i == NULL || t == NULL) {
        free(i);
        free(t);
        return;
    }
    memmove(&entries[at + 1], &entries[at], (nentries - at) * sizeof *entries);
    entries[at] = (struct entry){i, t};
    nentries++;
}

void policy_types_note(const char *id, const char *type)
{
    if (id == NULL || type == NULL || *id == '\0' || *type == '\0')
        return;
    pthread_mutex_lock(&lock);
    put(id, type);
    pthread_mutex_unlock(&lock);
}

void policy_types_note_scps(const char *const *ids, size_t n)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++)
        if (ids[i] != NULL && *ids[i] != '\0')
            put(ids[i], "SERVICE_CONTROL_POLICY");
    scps_complete = true;
    pthread_mutex_unlock(&lock);
}

bool policy_types_get(const char *id, char *type, size_t cap)
{
    if (id == NULL || *id == '\0')
        return false;
    pthread_mutex_lock(&lock);
    bool found;
    size_t at = find(id, &found);
    if (found)
        snprintf(type, cap, "%s", entries[at].type);
    pthread_mutex_unlock(&lock);
    return found;
}

bool policy_types_scps_complete(void)
{
    pthread_mutex_lock(&lock);
    bool c = scps_complete;
    pthread_mutex_unlock(&lock);
    return c;
}

void policy_types_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nentries; i++) {
        free(entries[i].id);
        free(entries[i].type);
    }
    free(entries);
    entries = NULL;
    nentries = capentries = 0;
    scps_complete = false;
    pthread_mutex_unlock(&lock);
}
