#include "wix/limiter.h"

#include "ai/limiter.h"
#include "core/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_BUCKETS 256
#define INSTANCE_ID_MAX 128
/* Waits sleep in slices, so that a test moving the fake clock ends them. */
#define SLEEP_SLICE_MS 10

struct site {
    struct site *next;
    char instance_id[INSTANCE_ID_MAX];
    struct ai_limiter *bucket;
};

struct wix_limiter {
    pthread_mutex_t lock; /* guards the site table, not the buckets */
    int64_t requests_per_minute;
    struct site *sites[SITE_BUCKETS];
};

struct wix_limiter *wix_limiter_new(int64_t requests_per_minute)
{
    struct wix_limiter *limiter = calloc(1, sizeof(*limiter));

    if (!limiter)
        return NULL;
    pthread_mutex_init(&limiter->lock, NULL);
    limiter->requests_per_minute = requests_per_minute;
    return limiter;
}

void wix_limiter_free(struct wix_limiter *limiter)
{
    if (!limiter)
        return;
    for (size_t i = 0; i < SITE_BUCKETS; i++) {
        struct site *site = limiter->sites[i];

        while (site) {
            struct site *next = site->next;

            ai_limiter_free(site->bucket);
            free(site);
            site = next;
        }
    }
    pthread_mutex_destroy(&limiter->lock);
    free(limiter);
}

/* The site's bucket, created on first use; NULL when out of memory. */
static struct ai_limiter *site_bucket(struct wix_limiter *limiter,
                                      const char *instance_id)
{
    size_t index = 5381;
    struct site *site;

    for (const char *c = instance_id; *c; c++)
        index = index * 33 + (unsigned char)*c;
    index %= SITE_BUCKETS;

    pthread_mutex_lock(&limiter->lock);
    for (site = limiter->sites[index]; site; site = site->next)
        if (strncmp(site->instance_id, instance_id, INSTANCE_ID_MAX) == 0)
            break;
    if (!site) {
        site = calloc(1, sizeof(*site));
        if (site)
            site->bucket =
                ai_limiter_new("wix", limiter->requests_per_minute, 0);
        if (site && !site->bucket) {
            free(site);
            site = NULL;
        }
        if (site) {
            snprintf(site->instance_id, sizeof(site->instance_id), "%s",
                     instance_id);
            site->next = limiter->sites[index];
            limiter->sites[index] = site;
        }
    }
    pthread_mutex_unlock(&limiter->lock);
    return site ? site->bucket : NULL;
}

int wix_limiter_acquire(struct wix_limiter *limiter, const char *instance_id,
                        int64_t max_wait_ms, struct error *err)
{
    struct ai_limiter *bucket;
    int64_t wait;
    int64_t until;

    bucket = site_bucket(limiter, instance_id);
    if (!bucket)
        return error_set(err, ERR_RETRYABLE, "out of memory");
    wait = ai_limiter_reserve(bucket, 0);
    if (wait > max_wait_ms) {
        ai_limiter_cancel(bucket, 0);
        error_set(err, ERR_RATE_LIMITED,
                  "site %s may send its next Wix request in %lld ms, longer "
                  "than a call may wait (%lld ms): try again later",
                  instance_id, (long long)wait, (long long)max_wait_ms);
        if (err) {
            err->retry_after_ms = wait;
            snprintf(err->code, sizeof(err->code), "client_rate_limit");
        }
        return -1;
    }

    until = clock_monotonic_ms() + wait;
    while ((wait = until - clock_monotonic_ms()) > 0)
        clock_sleep_ms(wait < SLEEP_SLICE_MS ? wait : SLEEP_SLICE_MS);
    return 0;
}

void wix_limiter_hold(struct wix_limiter *limiter, const char *instance_id,
                      int64_t ms)
{
    struct ai_limiter *bucket;

    bucket = site_bucket(limiter, instance_id);
    if (bucket)
        ai_limiter_hold(bucket, ms);
}
