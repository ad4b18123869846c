/*
 * Process-wide counters and latency histograms, rendered in the Prometheus
 * text format by GET /metrics. A series is a metric name plus up to four
 * label pairs given as one string, e.g. "service=\"wix\",status=\"200\"".
 * Thread-safe; series are created on first use and live until exit.
 */
#ifndef SITESMITH_CORE_METRICS_H
#define SITESMITH_CORE_METRICS_H

#include "core/buf.h"

#include <stdint.h>

/* Adds delta to a counter. name must be a literal-like [a-z_]+ string. */
void metrics_count(const char *name, const char *labels, int64_t delta);

/* Records one observation (milliseconds) in a latency histogram. */
void metrics_observe_ms(const char *name, const char *labels, double ms);

/* Sets a gauge. */
void metrics_set(const char *name, const char *labels, double value);

/* Reads a counter's current value (tests). 0 when it does not exist. */
int64_t metrics_counter_value(const char *name, const char *labels);

/* Appends every series in the Prometheus text format 0.0.4. */
int metrics_render(struct buf *out);

/* Forgets every series (tests). */
void metrics_reset(void);

#endif
