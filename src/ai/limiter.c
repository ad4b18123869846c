#include "ai/limiter.h"

#include "core/clock.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A token bucket. level may go below zero: that is the queue of waiters. */
struct bucket {
    int64_t limit; /* per minute; 0 turns the bucket off */
    double burst;
    double refill_per_ms;
    double level;
};

struct ai_limiter {
    pthread_mutex_t lock;
    char name[32];
    struct bucket requests;
    struct bucket tokens;
    int64_t updated_ms; /* monotonic time the levels were computed at */
    int64_t hold_until_ms;
};

static void bucket_set_limit(struct bucket *b, int64_t limit)
{
    double burst;
    double per_minute;

    if (limit < 0)
        limit = 0;
    if (limit == b->limit && b->burst > 0)
        return;

    /* A burst of 1/20 of the limit, and a refill of the rest, keep any
     * 60-second window at or under the limit. With a limit of 1 the burst
     * is the whole limit, so the refill stays the limit itself. */
    burst = floor((double)limit / 20);
    if (burst < 1)
        burst = 1;
    per_minute = (double)limit - burst;
    if (per_minute < 1)
        per_minute = (double)limit;

    b->limit = limit;
    b->burst = burst;
    b->refill_per_ms = per_minute / 60000.0;
    b->level = burst;
}

static void bucket_refill(struct bucket *b, int64_t elapsed_ms)
{
    if (b->limit == 0)
        return;
    b->level += b->refill_per_ms * (double)elapsed_ms;
    if (b->level > b->burst)
        b->level = b->burst;
}

/*
 * Takes cost from the bucket and returns the wait until the level reaches
 * the cost (before taking it). A cost above the burst waits for a full
 * bucket only, so one large request on an idle limiter goes at once.
 */
static int64_t bucket_take(struct bucket *b, double cost)
{
    double needed = cost < b->burst ? cost : b->burst;
    double wait_ms = 0;

    if (b->limit == 0)
        return 0;
    if (b->level < needed)
        wait_ms = (needed - b->level) / b->refill_per_ms;
    b->level -= cost;
    return (int64_t)ceil(wait_ms);
}

static void bucket_give(struct bucket *b, double amount)
{
    if (b->limit == 0)
        return;
    b->level += amount;
    if (b->level > b->burst)
        b->level = b->burst;
}

/* Lowers the level so that it is back at zero only ms from now: what
 * refills during a hold is not spent in a burst after it. */
static void bucket_drain(struct bucket *b, int64_t ms)
{
    double drained = -b->refill_per_ms * (double)ms;

    if (b->limit != 0 && b->level > drained)
        b->level = drained;
}

struct ai_limiter *ai_limiter_new(const char *name, int64_t requests_per_minute,
                                  int64_t tokens_per_minute)
{
    struct ai_limiter *limiter = calloc(1, sizeof(*limiter));

    if (!limiter)
        return NULL;
    pthread_mutex_init(&limiter->lock, NULL);
    snprintf(limiter->name, sizeof(limiter->name), "%s", name);
    limiter->updated_ms = clock_monotonic_ms();
    bucket_set_limit(&limiter->requests, requests_per_minute);
    bucket_set_limit(&limiter->tokens, tokens_per_minute);
    return limiter;
}

void ai_limiter_free(struct ai_limiter *limiter)
{
    if (!limiter)
        return;
    pthread_mutex_destroy(&limiter->lock);
    free(limiter);
}

/* Caller holds the lock. */
static void limiter_refill(struct ai_limiter *limiter, int64_t now)
{
    int64_t elapsed = now - limiter->updated_ms;

    if (elapsed <= 0)
        return;
    bucket_refill(&limiter->requests, elapsed);
    bucket_refill(&limiter->tokens, elapsed);
    limiter->updated_ms = now;
}

#define SHARED_LIMITERS_MAX 8

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ai_limiter *shared_limiters[SHARED_LIMITERS_MAX];

struct ai_limiter *ai_limiter_shared(const char *name,
                                     int64_t requests_per_minute,
                                     int64_t tokens_per_minute)
{
    struct ai_limiter *found = NULL;
    int i;

    pthread_mutex_lock(&shared_lock);
    for (i = 0; i < SHARED_LIMITERS_MAX && shared_limiters[i]; i++) {
        if (strcmp(shared_limiters[i]->name, name) == 0) {
            found = shared_limiters[i];
            break;
        }
    }
    if (!found && i < SHARED_LIMITERS_MAX) {
        found = ai_limiter_new(name, requests_per_minute, tokens_per_minute);
        shared_limiters[i] = found;
    }
    pthread_mutex_unlock(&shared_lock);

    if (found)
        ai_limiter_set_limits(found, requests_per_minute, tokens_per_minute);
    return found;
}

void ai_limiter_set_limits(struct ai_limiter *limiter,
                           int64_t requests_per_minute,
                           int64_t tokens_per_minute)
{
    pthread_mutex_lock(&limiter->lock);
    limiter_refill(limiter, clock_monotonic_ms());
    bucket_set_limit(&limiter->requests, requests_per_minute);
    bucket_set_limit(&limiter->tokens, tokens_per_minute);
    pthread_mutex_unlock(&limiter->lock);
}

void ai_limiter_reset(struct ai_limiter *limiter)
{
    pthread_mutex_lock(&limiter->lock);
    limiter->updated_ms = clock_monotonic_ms();
    limiter->hold_until_ms = 0;
    limiter->requests.level = limiter->requests.burst;
    limiter->tokens.level = limiter->tokens.burst;
    pthread_mutex_unlock(&limiter->lock);
}

int64_t ai_limiter_reserve(struct ai_limiter *limiter, int64_t tokens)
{
    int64_t now = clock_monotonic_ms();
    int64_t wait;
    int64_t token_wait;

    pthread_mutex_lock(&limiter->lock);
    limiter_refill(limiter, now);
    wait = bucket_take(&limiter->requests, 1);
    token_wait = bucket_take(&limiter->tokens, (double)tokens);
    if (token_wait > wait)
        wait = token_wait;
    if (limiter->hold_until_ms - now > wait)
        wait = limiter->hold_until_ms - now;
    pthread_mutex_unlock(&limiter->lock);
    return wait;
}

void ai_limiter_cancel(struct ai_limiter *limiter, int64_t tokens)
{
    pthread_mutex_lock(&limiter->lock);
    limiter_refill(limiter, clock_monotonic_ms());
    bucket_give(&limiter->requests, 1);
    bucket_give(&limiter->tokens, (double)tokens);
    pthread_mutex_unlock(&limiter->lock);
}

void ai_limiter_adjust_tokens(struct ai_limiter *limiter, int64_t delta)
{
    pthread_mutex_lock(&limiter->lock);
    limiter_refill(limiter, clock_monotonic_ms());
    bucket_give(&limiter->tokens, -(double)delta);
    pthread_mutex_unlock(&limiter->lock);
}

void ai_limiter_hold(struct ai_limiter *limiter, int64_t ms)
{
    int64_t now = clock_monotonic_ms();

    pthread_mutex_lock(&limiter->lock);
    limiter_refill(limiter, now);
    if (now + ms > limiter->hold_until_ms)
        limiter->hold_until_ms = now + ms;
    bucket_drain(&limiter->requests, ms);
    bucket_drain(&limiter->tokens, ms);
    pthread_mutex_unlock(&limiter->lock);
}

int ai_limiter_acquire(struct ai_limiter *limiter, int64_t tokens,
                       int64_t max_wait_ms, struct error *err)
{
    int64_t wait = ai_limiter_reserve(limiter, tokens);

    if (wait > max_wait_ms) {
        ai_limiter_cancel(limiter, tokens);
        error_set(err, ERR_RATE_LIMITED,
                  "%s client-side rate limit reached: the next request may "
                  "go in %lld ms, more than the %lld ms a call may wait; "
                  "try later or raise the limit",
                  limiter->name, (long long)wait, (long long)max_wait_ms);
        if (err) {
            err->retry_after_ms = wait;
            snprintf(err->code, sizeof(err->code), "client_rate_limit");
        }
        return -1;
    }
    clock_sleep_ms(wait);
    return 0;
}
