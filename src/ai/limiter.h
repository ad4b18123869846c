/*
 * Client-side rate limiters for the paid AI providers, so that a bulk run
 * slows down instead of hitting 429 over and over.
 *
 * A limiter is a token bucket for requests per minute and, optionally, one
 * for tokens per minute. Each bucket holds a burst of 1/20 of its limit and
 * refills at the limit minus that burst per minute, so that no 60-second
 * window admits more requests than the limit. A reservation takes its share
 * at once and may take a bucket below zero; later callers then wait their
 * turn in order. A token cost above the burst waits for a full bucket and
 * then goes, so one large request is never stuck.
 *
 * Time comes from clock_monotonic_ms(), so a test that advances the fake
 * clock also refills the buckets. All functions are thread-safe.
 */
#ifndef SITESMITH_AI_LIMITER_H
#define SITESMITH_AI_LIMITER_H

#include "core/error.h"

#include <stdint.h>

struct ai_limiter;

/*
 * Creates a limiter. A limit of 0 turns that bucket off. name appears in
 * error messages (e.g. "openai"). The caller frees it with
 * ai_limiter_free(). Returns NULL when out of memory.
 */
struct ai_limiter *ai_limiter_new(const char *name, int64_t requests_per_minute,
                                  int64_t tokens_per_minute);

void ai_limiter_free(struct ai_limiter *limiter);

/*
 * Returns the process-wide limiter for a provider name ("openai",
 * "replicate"), created on the first call and never freed, and applies the
 * given limits to it. Every client of that provider in the process shares
 * it, whichever thread created the client.
 */
struct ai_limiter *ai_limiter_shared(const char *name,
                                     int64_t requests_per_minute,
                                     int64_t tokens_per_minute);

/*
 * Changes the limits. When a limit changes, its bucket starts full again;
 * an unchanged limit keeps its bucket as it is.
 */
void ai_limiter_set_limits(struct ai_limiter *limiter,
                           int64_t requests_per_minute,
                           int64_t tokens_per_minute);

/* Fills the buckets and ends any hold, as if the limiter were new (tests). */
void ai_limiter_reset(struct ai_limiter *limiter);

/*
 * Reserves one request and tokens (0 when the limiter counts no tokens)
 * and returns how many milliseconds the caller must wait before sending
 * it: 0 when it may go now.
 */
int64_t ai_limiter_reserve(struct ai_limiter *limiter, int64_t tokens);

/* Gives back a reservation whose request was not sent. */
void ai_limiter_cancel(struct ai_limiter *limiter, int64_t tokens);

/*
 * Corrects the token count of a sent request once its real usage is
 * known: delta = actual - reserved (negative gives tokens back).
 */
void ai_limiter_adjust_tokens(struct ai_limiter *limiter, int64_t delta);

/*
 * Pauses the limiter for ms after the provider answered 429: no
 * reservation is granted a time before now + ms, and what the buckets
 * refill meanwhile is used up, so that threads resume at the paced rate
 * instead of in a burst.
 */
void ai_limiter_hold(struct ai_limiter *limiter, int64_t ms);

/*
 * Reserves a request and tokens and sleeps until they may be sent. When the
 * wait would exceed max_wait_ms, gives the reservation back and fails with
 * ERR_RATE_LIMITED, err->retry_after_ms set to the wait, and err->code
 * "client_rate_limit", so that a queue can schedule the step later instead
 * of holding a worker thread.
 */
int ai_limiter_acquire(struct ai_limiter *limiter, int64_t tokens,
                       int64_t max_wait_ms, struct error *err);

#endif
