#define _POSIX_C_SOURCE 200809L
#include "exporter/feed.h"

#include <pthread.h>
#include <stdlib.h>

#include "lib/clock.h"

struct collector_feed {
    const struct collector_product *product;
    pthread_mutex_t lock; /* guards value, the pointer only */
    pthread_cond_t published;
    void *value; /* one reference, owned; NULL before the first */
};

struct collector_feed *collector_feed_create(const struct collector_product *p)
{
    struct collector_feed *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->product = p;
    pthread_mutex_init(&f->lock, NULL);
    clock_cond_init(&f->published);
    return f;
}

void collector_feed_destroy(struct collector_feed *f)
{
    if (f == NULL)
        return;
    f->product->release(f->value);
    pthread_cond_destroy(&f->published);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void collector_feed_publish(struct collector_feed *f, void *value)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    void *old = f->value;
    f->value = value;
    pthread_cond_broadcast(&f->published);
    pthread_mutex_unlock(&f->lock);
    f->product->release(old);
}

/* Under the lock. */
static void *take_locked(struct collector_feed *f)
{
    if (f->value != NULL)
        f->product->retain(f->value);
    return f->value;
}

void *collector_feed_take(struct collector_feed *f)
{
    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&f->lock);
    void *v = take_locked(f);
    pthread_mutex_unlock(&f->lock);
    return v;
}

void *collector_feed_wait(struct collector_feed *f, double timeout, const atomic_bool *stopping)
{
    if (f == NULL)
        return NULL;
    double until = clock_mono() + timeout;
    pthread_mutex_lock(&f->lock);
    /* Woken by a publication, else every 100 ms to see stopping. */
    while (f->value == NULL && !(stopping && atomic_load(stopping))) {
        double now = clock_mono();
        if (now >= until)
            break;
        struct timespec ts = clock_timespec(now + 0.1 < until ? now + 0.1 : until);
        pthread_cond_timedwait(&f->published, &f->lock, &ts);
    }
    void *v = take_locked(f);
    pthread_mutex_unlock(&f->lock);
    return v;
}
