/*
 * Wall and monotonic time behind one switch, so that a test can set and
 * advance time and "four hours later" runs in milliseconds. Every expiry
 * decision in sitesmith reads clock_now_ms().
 */
#ifndef SITESMITH_CORE_CLOCK_H
#define SITESMITH_CORE_CLOCK_H

#include <stdint.h>

/* Wall time in milliseconds since the Unix epoch (UTC). Thread-safe. */
int64_t clock_now_ms(void);

/* Wall time in whole seconds since the Unix epoch. */
int64_t clock_now_s(void);

/*
 * Monotonic milliseconds for timeouts and durations. Advances with the fake
 * clock too, so a test that advances time also ends waits.
 */
int64_t clock_monotonic_ms(void);

/*
 * Switches the process to a fake clock that starts at now_ms and only moves
 * when a test calls clock_fake_advance_ms(). Thread-safe.
 */
void clock_fake_set_ms(int64_t now_ms);
void clock_fake_advance_ms(int64_t delta_ms);

/* Returns to the system clock. */
void clock_use_system(void);

/* Sleeps for ms of real time (fake or not), at most until the deadline. */
void clock_sleep_ms(int64_t ms);

/* Formats ms since the epoch as "2026-12-04T15:17:17.123Z" into out[32]. */
void clock_format_iso(int64_t ms, char out[32]);

/* Parses an ISO 8601 UTC time ("...Z" or "+00:00"); -1 when invalid. */
int64_t clock_parse_iso(const char *text);

#endif
