/*
 * The per-site rate limiter: one request bucket per Wix site (app
 * instance), shared by every thread of the process, so that sitesmith stays
 * under Wix's limit of 200 requests a minute per instance. Each site's
 * bucket is an ai_limiter (see ai/limiter.h for the pacing).
 *
 * NOTE: the buckets are per process. Several processes working on one site
 * together can exceed the limit; the 429 handling in wix_call() then waits.
 */
#ifndef SITESMITH_WIX_LIMITER_H
#define SITESMITH_WIX_LIMITER_H

#include "core/error.h"

#include <stdint.h>

struct wix_limiter;

/*
 * Creates a limiter allowing requests_per_minute per site. With 0 only
 * the pauses after a 429 slow requests down.
 * Returns NULL when out of memory. Free with wix_limiter_free() once no
 * thread uses it.
 */
struct wix_limiter *wix_limiter_new(int64_t requests_per_minute);

void wix_limiter_free(struct wix_limiter *limiter);

/*
 * Waits until instance_id may send one more request. When the wait would
 * exceed max_wait_ms, fails with ERR_RATE_LIMITED and err->retry_after_ms
 * set, without waiting. Thread-safe.
 */
int wix_limiter_acquire(struct wix_limiter *limiter, const char *instance_id,
                        int64_t max_wait_ms, struct error *err);

/* Sends no request for instance_id during the next ms (after a 429). */
void wix_limiter_hold(struct wix_limiter *limiter, const char *instance_id,
                      int64_t ms);

#endif
