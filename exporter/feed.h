/*
 * feed: the registry's side of struct collector_feed (collector.h): one per
 * provided product, created before the collectors start and destroyed after
 * they stopped.
 */
#ifndef EXPORTER_FEED_H
#define EXPORTER_FEED_H

#include "exporter/collector.h"

/* An empty feed of product p (borrowed, static). NULL on failure. */
struct collector_feed *collector_feed_create(const struct collector_product *p);

/* Drops the value held and frees. Accepts NULL. */
void collector_feed_destroy(struct collector_feed *f);

#endif
