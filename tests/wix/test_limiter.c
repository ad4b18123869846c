/*
 * The per-site limiter on its own, with the fake clock: bursts, pacing,
 * independent sites, and the pause after a 429.
 */
#include "core/clock.h"
#include "wix/limiter.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define SITE_A "site-a"
#define SITE_B "site-b"

static int setup(void **state)
{
    (void)state;
    clock_fake_set_ms(1800000000000LL);
    return 0;
}

/* Counts the requests that may go at once, without waiting. */
static int count_immediate(struct wix_limiter *limiter, const char *site,
                           int tries)
{
    struct error err;
    int granted = 0;

    for (int i = 0; i < tries; i++) {
        if (wix_limiter_acquire(limiter, site, 0, &err) == 0) {
            granted++;
            continue;
        }
        assert_int_equal(err.kind, ERR_RATE_LIMITED);
        assert_true(err.retry_after_ms > 0);
        assert_string_equal(err.code, "client_rate_limit");
    }
    return granted;
}

static void burst_is_limited(void **state)
{
    struct wix_limiter *limiter = wix_limiter_new(200);

    (void)state;
    /* A burst of 1/20 of the limit goes at once; the rest is paced. */
    assert_int_equal(count_immediate(limiter, SITE_A, 50), 10);

    /* 190 more per minute: 60 s later ten more may go at once (the
     * burst is full again), not 190. */
    clock_fake_advance_ms(60 * 1000);
    assert_int_equal(count_immediate(limiter, SITE_A, 50), 10);

    /* Pacing: one request per 60000 / 190 ms. */
    clock_fake_advance_ms(60000 / 190 + 1);
    assert_int_equal(count_immediate(limiter, SITE_A, 5), 1);
    wix_limiter_free(limiter);
}

static void sites_are_independent(void **state)
{
    struct wix_limiter *limiter = wix_limiter_new(200);

    (void)state;
    assert_int_equal(count_immediate(limiter, SITE_A, 20), 10);
    assert_int_equal(count_immediate(limiter, SITE_B, 20), 10);
    wix_limiter_free(limiter);
}

static void zero_limit_means_unlimited(void **state)
{
    struct wix_limiter *limiter = wix_limiter_new(0);

    (void)state;
    assert_int_equal(count_immediate(limiter, SITE_A, 1000), 1000);
    wix_limiter_free(limiter);
}

static void hold_pauses_one_site(void **state)
{
    struct wix_limiter *limiter = wix_limiter_new(0);
    struct error err;

    (void)state;
    wix_limiter_hold(limiter, SITE_A, 30 * 1000);
    assert_int_equal(wix_limiter_acquire(limiter, SITE_A, 1000, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_true(err.retry_after_ms > 29 * 1000);
    assert_true(err.retry_after_ms <= 30 * 1000);
    assert_int_equal(wix_limiter_acquire(limiter, SITE_B, 0, &err), 0);

    clock_fake_advance_ms(30 * 1000);
    assert_int_equal(wix_limiter_acquire(limiter, SITE_A, 0, &err), 0);
    wix_limiter_free(limiter);
}

struct waiter {
    struct wix_limiter *limiter;
    int rc;
    int done;
    pthread_mutex_t lock;
};

static void *wait_for_turn(void *arg)
{
    struct waiter *waiter = arg;
    struct error err;
    int rc = wix_limiter_acquire(waiter->limiter, SITE_A, 120 * 1000, &err);

    pthread_mutex_lock(&waiter->lock);
    waiter->rc = rc;
    waiter->done = 1;
    pthread_mutex_unlock(&waiter->lock);
    return NULL;
}

static int waiter_done(struct waiter *waiter)
{
    int done;

    pthread_mutex_lock(&waiter->lock);
    done = waiter->done;
    pthread_mutex_unlock(&waiter->lock);
    return done;
}

/* A long wait ends when the fake clock reaches it, not after real time. */
static void wait_ends_with_fake_clock(void **state)
{
    struct waiter waiter = {.limiter = wix_limiter_new(0), .rc = -1};
    pthread_t thread;

    (void)state;
    pthread_mutex_init(&waiter.lock, NULL);
    wix_limiter_hold(waiter.limiter, SITE_A, 90 * 1000);
    assert_int_equal(pthread_create(&thread, NULL, wait_for_turn, &waiter), 0);
    clock_sleep_ms(100);
    assert_false(waiter_done(&waiter));

    clock_fake_advance_ms(90 * 1000);
    for (int i = 0; i < 200 && !waiter_done(&waiter); i++)
        clock_sleep_ms(10);
    assert_true(waiter_done(&waiter));
    pthread_join(thread, NULL);
    assert_int_equal(waiter.rc, 0);
    pthread_mutex_destroy(&waiter.lock);
    wix_limiter_free(waiter.limiter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(burst_is_limited, setup),
        cmocka_unit_test_setup(sites_are_independent, setup),
        cmocka_unit_test_setup(zero_limit_means_unlimited, setup),
        cmocka_unit_test_setup(hold_pauses_one_site, setup),
        cmocka_unit_test_setup(wait_ends_with_fake_clock, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
