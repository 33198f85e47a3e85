#define _POSIX_C_SOURCE 200809L
#include "collectors/aws/ratelimit.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"

/* Keys are few (operations x accounts x regions); beyond the cap the oldest
 * slot is reused, which can only make pacing stricter for no key. */
#define KEYS_MAX 4096
#define KEY_LEN 128

/* A little more than 1/rate, so that a request exactly at a window's edge
 * does not make rate + 1 in a closed one-second window. */
#define SPACING_MARGIN 1.02

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char key[KEY_LEN];
    double next; /* CLOCK_MONOTONIC seconds when the next request may go */
} slots[KEYS_MAX];
static size_t nslots, victim;

/* Under the lock. */
static size_t slot_for(const char *key)
{
    for (size_t i = 0; i < nslots; i++)
        if (strncmp(slots[i].key, key, KEY_LEN - 1) == 0)
            return i;
    size_t i = nslots < KEYS_MAX ? nslots++ : victim++ % KEYS_MAX;
    strncpy(slots[i].key, key, KEY_LEN - 1);
    slots[i].key[KEY_LEN - 1] = '\0';
    slots[i].next = 0;
    return i;
}

double ratelimit_delay(const char *key, double rate)
{
    if (rate <= 0)
        return 0;
    pthread_mutex_lock(&lock);
    double d = slots[slot_for(key)].next - clock_mono();
    pthread_mutex_unlock(&lock);
    return d > 0 ? d : 0;
}

int ratelimit_wait(const char *key, double rate, const atomic_bool *stopping)
{
    if (rate <= 0)
        return 0;
    pthread_mutex_lock(&lock);
    size_t i = slot_for(key);
    double t = clock_mono();
    double go = slots[i].next > t ? slots[i].next : t;
    slots[i].next = go + SPACING_MARGIN / rate; /* the slot is ours */
    pthread_mutex_unlock(&lock);
    while ((t = clock_mono()) < go) {
        if (stopping != NULL && atomic_load(stopping))
            return -1;
        /* One sleep per request at AWS's rates (200 ms for Organizations),
         * in slices short enough for a prompt stop. Every wake-up costs a
         * collector CPU: the caches have gone cold in between. */
        double d = go - t;
        if (d > 0.25)
            d = 0.25;
        struct timespec ts = {0, (long)(d * 1e9)};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void ratelimit_reset(void)
{
    pthread_mutex_lock(&lock);
    nslots = 0;
    pthread_mutex_unlock(&lock);
}
