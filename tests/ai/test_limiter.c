#include "ai/limiter.h"
#include "core/clock.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int use_fake_clock(void **state)
{
    (void)state;
    clock_fake_set_ms(1764861437000LL);
    return 0;
}

static int use_system_clock(void **state)
{
    (void)state;
    clock_use_system();
    return 0;
}

/* Counts reservations that may go at once among n taken now. */
static int count_immediate(struct ai_limiter *limiter, int n, int64_t tokens)
{
    int immediate = 0;

    for (int i = 0; i < n; i++) {
        if (ai_limiter_reserve(limiter, tokens) == 0)
            immediate++;
    }
    return immediate;
}

static void burst_then_paced(void **state)
{
    /* 120 a minute: a burst of 6, then 114 a minute (one per 526 ms). */
    struct ai_limiter *limiter = ai_limiter_new("test", 120, 0);
    int64_t wait;

    (void)state;
    assert_int_equal(count_immediate(limiter, 6, 0), 6);
    wait = ai_limiter_reserve(limiter, 0);
    assert_in_range(wait, 500, 530);
    wait = ai_limiter_reserve(limiter, 0);
    assert_in_range(wait, 1030, 1060);

    /* A minute later the bucket is full again, but contains no more than
     * the burst. */
    clock_fake_advance_ms(60000);
    assert_int_equal(count_immediate(limiter, 20, 0), 6);
    ai_limiter_free(limiter);
}

static void no_window_exceeds_limit(void **state)
{
    enum { LIMIT = 100, SENDS = 450 };
    struct ai_limiter *limiter = ai_limiter_new("test", LIMIT, 0);
    int64_t sent_at[SENDS];
    int64_t start = clock_monotonic_ms();
    int most = 0;

    (void)state;
    /* A sender that sends each request as soon as it is allowed. */
    for (int i = 0; i < SENDS; i++) {
        clock_fake_advance_ms(ai_limiter_reserve(limiter, 0));
        sent_at[i] = clock_monotonic_ms() - start;
    }
    for (int i = 0; i < SENDS; i++) {
        int in_window = 0;

        for (int j = i; j < SENDS && sent_at[j] < sent_at[i] + 60000; j++)
            in_window++;
        if (in_window > most)
            most = in_window;
    }
    assert_true(most <= LIMIT);
    /* The pacing uses the limit, not much less: 95 a minute after the
     * burst of 5. */
    assert_true(most >= LIMIT - 2);
    ai_limiter_free(limiter);
}

static void tokens_paced_and_corrected(void **state)
{
    /* 1000 tokens a minute: a burst of 50, then 950 a minute. */
    struct ai_limiter *limiter = ai_limiter_new("test", 0, 1000);

    (void)state;
    assert_int_equal(ai_limiter_reserve(limiter, 50), 0);
    assert_in_range(ai_limiter_reserve(limiter, 50), 3100, 3170);

    /* Both reservations used only 10 tokens each: the 80 given back pay
     * off the debt and refill the burst. */
    ai_limiter_adjust_tokens(limiter, -40);
    ai_limiter_adjust_tokens(limiter, -40);
    assert_int_equal(ai_limiter_reserve(limiter, 20), 0);

    /* A request that used more than reserved pushes the next one back. */
    ai_limiter_adjust_tokens(limiter, 500);
    assert_true(ai_limiter_reserve(limiter, 10) > 30000);
    ai_limiter_free(limiter);
}

static void large_cost_goes_when_full(void **state)
{
    struct ai_limiter *limiter = ai_limiter_new("test", 0, 1000);

    (void)state;
    /* 500 tokens is ten bursts: it goes on an idle limiter, and the next
     * request waits for the whole debt. */
    assert_int_equal(ai_limiter_reserve(limiter, 500), 0);
    assert_in_range(ai_limiter_reserve(limiter, 1), 28400, 28500);
    ai_limiter_free(limiter);
}

static void zero_limits_never_wait(void **state)
{
    struct ai_limiter *limiter = ai_limiter_new("test", 0, 0);

    (void)state;
    assert_int_equal(count_immediate(limiter, 10000, 100000), 10000);
    ai_limiter_free(limiter);
}

static void acquire_fails_past_max_wait(void **state)
{
    struct ai_limiter *limiter = ai_limiter_new("openai", 60, 0);
    struct error err;

    (void)state;
    error_clear(&err);
    assert_int_equal(count_immediate(limiter, 3, 0), 3);
    assert_int_equal(ai_limiter_acquire(limiter, 0, 100, &err), -1);
    assert_int_equal(err.kind, ERR_RATE_LIMITED);
    assert_string_equal(err.code, "client_rate_limit");
    assert_in_range(err.retry_after_ms, 1000, 1060);
    assert_non_null(strstr(err.message, "openai"));

    /* The failed acquire gave its place back. */
    assert_in_range(ai_limiter_reserve(limiter, 0), 1000, 1060);
    ai_limiter_free(limiter);
}

static void hold_delays_everyone(void **state)
{
    struct ai_limiter *limiter = ai_limiter_new("test", 600, 0);

    (void)state;
    ai_limiter_hold(limiter, 5000);
    assert_in_range(ai_limiter_reserve(limiter, 0), 4950, 5110);

    /* After the hold, the burst is gone: requests come at the paced rate
     * (570 a minute, one per 105 ms). */
    clock_fake_advance_ms(5000);
    assert_in_range(ai_limiter_reserve(limiter, 0), 100, 215);
    ai_limiter_free(limiter);
}

static void new_limits_refill_bucket(void **state)
{
    struct ai_limiter *limiter = ai_limiter_new("test", 60, 0);

    (void)state;
    assert_int_equal(count_immediate(limiter, 10, 0), 3);
    ai_limiter_set_limits(limiter, 60, 0);
    assert_true(ai_limiter_reserve(limiter, 0) > 0);
    ai_limiter_set_limits(limiter, 1200, 0);
    assert_int_equal(count_immediate(limiter, 100, 0), 60);
    ai_limiter_free(limiter);
}

static void reset_ends_hold(void **state)
{
    struct ai_limiter *limiter = ai_limiter_new("test", 60, 0);

    (void)state;
    ai_limiter_hold(limiter, 30000);
    ai_limiter_reset(limiter);
    assert_int_equal(count_immediate(limiter, 10, 0), 3);
    ai_limiter_free(limiter);
}

static void shared_limiter_is_one_per_name(void **state)
{
    struct ai_limiter *a = ai_limiter_shared("test-shared", 60, 0);
    struct ai_limiter *b = ai_limiter_shared("test-shared", 60, 0);
    struct ai_limiter *c = ai_limiter_shared("test-other", 60, 0);

    (void)state;
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
}

struct worker {
    struct ai_limiter *limiter;
    int sends;
    int64_t first_ms;
    int64_t last_ms;
};

static void *send_paced(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < w->sends; i++) {
        assert_int_equal(ai_limiter_acquire(w->limiter, 0, 60000, NULL), 0);
        w->last_ms = clock_monotonic_ms();
    }
    return NULL;
}

static void threads_share_the_pace(void **state)
{
    /* 600 a minute: a burst of 30, then 570 a minute (9.5 a second). Four
     * threads send 60 in all, so the last 30 take at least 3.1 s. */
    struct ai_limiter *limiter = ai_limiter_new("test", 600, 0);
    struct worker workers[4];
    pthread_t threads[4];
    int64_t start = clock_monotonic_ms();
    int64_t end = start;

    (void)state;
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){.limiter = limiter, .sends = 15};
        assert_int_equal(
            pthread_create(&threads[i], NULL, send_paced, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].last_ms > end)
            end = workers[i].last_ms;
    }
    assert_true(end - start >= 3100);
    assert_true(end - start < 8000);
    ai_limiter_free(limiter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(burst_then_paced, use_fake_clock,
                                        use_system_clock),
        cmocka_unit_test_setup_teardown(no_window_exceeds_limit, use_fake_clock,
                                        use_system_clock),
        cmocka_unit_test_setup_teardown(tokens_paced_and_corrected,
                                        use_fake_clock, use_system_clock),
        cmocka_unit_test_setup_teardown(large_cost_goes_when_full,
                                        use_fake_clock, use_system_clock),
        cmocka_unit_test(zero_limits_never_wait),
        cmocka_unit_test_setup_teardown(acquire_fails_past_max_wait,
                                        use_fake_clock, use_system_clock),
        cmocka_unit_test_setup_teardown(hold_delays_everyone, use_fake_clock,
                                        use_system_clock),
        cmocka_unit_test_setup_teardown(new_limits_refill_bucket,
                                        use_fake_clock, use_system_clock),
        cmocka_unit_test_setup_teardown(reset_ends_hold, use_fake_clock,
                                        use_system_clock),
        cmocka_unit_test(shared_limiter_is_one_per_name),
        cmocka_unit_test(threads_share_the_pace),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
