#include "core/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int fake_enabled;
static _Atomic int64_t fake_now_ms;
/* Fake time added to the monotonic clock, so waits end when tests advance. */
static _Atomic int64_t fake_monotonic_offset_ms;

static int64_t read_clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_now_ms(void)
{
    if (atomic_load(&fake_enabled))
        return atomic_load(&fake_now_ms);
    return read_clock_ms(CLOCK_REALTIME);
}

int64_t clock_now_s(void)
{
    return clock_now_ms() / 1000;
}

int64_t clock_monotonic_ms(void)
{
    return read_clock_ms(CLOCK_MONOTONIC) +
           atomic_load(&fake_monotonic_offset_ms);
}

void clock_fake_set_ms(int64_t now_ms)
{
    atomic_store(&fake_now_ms, now_ms);
    atomic_store(&fake_enabled, 1);
}

void clock_fake_advance_ms(int64_t delta_ms)
{
    atomic_fetch_add(&fake_now_ms, delta_ms);
    atomic_fetch_add(&fake_monotonic_offset_ms, delta_ms);
}

void clock_use_system(void)
{
    atomic_store(&fake_enabled, 0);
}

void clock_sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void clock_format_iso(int64_t ms, char out[32])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;

    size_t length;

    gmtime_r(&seconds, &tm);
    length = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + length, 32 - length, ".%03dZ", (int)(ms % 1000));
}

int64_t clock_parse_iso(const char *text)
{
    struct tm tm;
    int millis = 0;
    const char *rest;
    char *end;

    if (!text)
        return -1;
    memset(&tm, 0, sizeof(tm));
    rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.') {
        long fraction = strtol(rest + 1, &end, 10);
        int digits = (int)(end - rest - 1);

        if (digits < 1)
            return -1;
        while (digits > 3) {
            fraction /= 10;
            digits--;
        }
        while (digits < 3) {
            fraction *= 10;
            digits++;
        }
        millis = (int)fraction;
        rest = end;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return -1;
    return (int64_t)timegm(&tm) * 1000 + millis;
}
