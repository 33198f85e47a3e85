/*
 * process: the standard process_* metrics, read from /proc/self like the
 * Prometheus client libraries do.
 */
#ifndef EXPORTER_PROCESS_H
#define EXPORTER_PROCESS_H

#include "exporter/expo.h"

/* A registry live writer; arg is unused. Returns 0, or -1 when /proc fails
 * (the families it could read are still written). */
int process_metrics_write(void *arg, struct expo *out);

#endif
