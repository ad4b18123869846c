/*
 * The TZif reader against known daylight-saving changes and against the C
 * library's own conversion of the same files (localtime_r with TZ set,
 * which is safe here because this test has one thread).
 */
#include "pipelines/campaigns_tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static int64_t local_value(int year, int month, int day, int hour, int minute)
{
    return campaigns_days_from_civil(year, month, day) * 86400 + hour * 3600 +
           minute * 60;
}

static struct campaigns_tz *load(const char *name)
{
    struct error err;
    struct campaigns_tz *tz;

    error_clear(&err);
    tz = campaigns_tz_load(NULL, name, &err);
    if (!tz)
        fail_msg("loading %s: %s", name, err.message);
    return tz;
}

static void civil_dates_round_trip(void **state)
{
    int64_t year;
    int month;
    int day;

    (void)state;
    assert_int_equal(campaigns_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(campaigns_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(campaigns_weekday(0), 4); /* a Thursday */
    assert_int_equal(campaigns_weekday(campaigns_days_from_civil(2025, 3, 30)),
                     0);
    assert_int_equal(campaigns_days_in_month(2024, 2), 29);
    assert_int_equal(campaigns_days_in_month(2100, 2), 28);
    for (int64_t days = -800000; days < 800000; days += 997) {
        campaigns_civil_from_days(days, &year, &month, &day);
        assert_int_equal(campaigns_days_from_civil(year, month, day), days);
    }
}

static void berlin_spring_gap_moves_forward(void **state)
{
    struct campaigns_tz *tz = load("Europe/Berlin");
    int64_t utc;

    (void)state;
    /* 2025-03-30: 02:00 CET became 03:00 CEST, at 01:00 UTC. */
    utc = campaigns_tz_to_utc(tz, local_value(2025, 3, 30, 2, 30));
    assert_int_equal(utc, local_value(2025, 3, 30, 1, 0));
    assert_int_equal(campaigns_tz_to_local(tz, utc),
                     local_value(2025, 3, 30, 3, 0));
    utc = campaigns_tz_to_utc(tz, local_value(2025, 3, 30, 1, 59));
    assert_int_equal(utc, local_value(2025, 3, 30, 0, 59));
    utc = campaigns_tz_to_utc(tz, local_value(2025, 3, 30, 3, 0));
    assert_int_equal(utc, local_value(2025, 3, 30, 1, 0));
    utc = campaigns_tz_to_utc(tz, local_value(2025, 3, 30, 9, 0));
    assert_int_equal(utc, local_value(2025, 3, 30, 7, 0));
    campaigns_tz_free(tz);
}

static void berlin_autumn_repeat_takes_first(void **state)
{
    struct campaigns_tz *tz = load("Europe/Berlin");

    (void)state;
    /* 2025-10-26: 03:00 CEST became 02:00 CET, so 02:30 happened twice:
     * at 00:30 UTC and at 01:30 UTC. */
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2025, 10, 26, 2, 30)),
                     local_value(2025, 10, 26, 0, 30));
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2025, 10, 26, 3, 0)),
                     local_value(2025, 10, 26, 2, 0));
    assert_int_equal(campaigns_tz_offset(tz, local_value(2025, 10, 26, 0, 59)),
                     7200);
    assert_int_equal(campaigns_tz_offset(tz, local_value(2025, 10, 26, 1, 0)),
                     3600);
    campaigns_tz_free(tz);
}

static void new_york_changes_and_far_future(void **state)
{
    struct campaigns_tz *tz = load("America/New_York");

    (void)state;
    /* 2026-03-08 02:30 does not exist; 2026-11-01 01:30 exists twice. */
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2026, 3, 8, 2, 30)),
                     local_value(2026, 3, 8, 7, 0));
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2026, 11, 1, 1, 30)),
                     local_value(2026, 11, 1, 5, 30));
    /* Past the file's last transition the POSIX rule decides. */
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2061, 7, 4, 9, 0)),
                     local_value(2061, 7, 4, 13, 0));
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2061, 12, 4, 9, 0)),
                     local_value(2061, 12, 4, 14, 0));
    campaigns_tz_free(tz);
}

static void invalid_names_rejected(void **state)
{
    static const char *const names[] = {
        "",       "../etc/passwd", "/etc/localtime", "Europe/Nowhere",
        "Europe", "right/UTC",     "Europe Berlin",  "Europe/Berlin\n",
    };
    struct error err;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        error_clear(&err);
        assert_null(campaigns_tz_load(NULL, names[i], &err));
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.message, "time zone"));
    }
}

/* Writes a TZif version 2 file with no transitions, only a rule. */
static void write_rule_only_zone(const char *path, const char *rule)
{
    unsigned char header[44] = {'T', 'Z', 'i', 'f', '2'};
    unsigned char type[6] = {0, 0, 0, 0, 0, 0};
    FILE *file = fopen(path, "wb");

    assert_non_null(file);
    header[39] = 1; /* typecnt */
    header[43] = 4; /* charcnt */
    for (int copy = 0; copy < 2; copy++) {
        fwrite(header, 1, sizeof(header), file);
        fwrite(type, 1, sizeof(type), file);
        fwrite("LMT", 1, 4, file);
    }
    fprintf(file, "\n%s\n", rule);
    fclose(file);
}

static void rule_only_file_matches_rule(void **state)
{
    char dir[] = "/tmp/sitesmith-tz-XXXXXX";
    char path[128];
    struct campaigns_tz *tz;
    struct error err;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/Rule_Zone", dir);
    write_rule_only_zone(path, "CET-1CEST,M3.5.0,M10.5.0/3");
    error_clear(&err);
    tz = campaigns_tz_load(dir, "Rule_Zone", &err);
    assert_non_null(tz);
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2025, 3, 30, 2, 30)),
                     local_value(2025, 3, 30, 1, 0));
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2025, 10, 26, 2, 30)),
                     local_value(2025, 10, 26, 0, 30));
    assert_int_equal(campaigns_tz_to_utc(tz, local_value(2025, 1, 5, 9, 0)),
                     local_value(2025, 1, 5, 8, 0));
    campaigns_tz_free(tz);
    unlink(path);
    rmdir(dir);
}

/* Compares offsets with localtime_r every few hours from 1990 to 2060. */
static void offsets_match_c_library(void **state)
{
    static const char *const zones[] = {
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Pacific/Chatham",
        "America/St_Johns",
        "Europe/Dublin",
        "Asia/Kolkata",
        "America/Santiago",
        "Africa/Casablanca",
        "America/Sao_Paulo",
        "UTC",
        "Pacific/Apia",
        "Antarctica/Troll",
        "Asia/Tehran",
        "America/Godthab",
        "Australia/Lord_Howe",
    };
    const int64_t from = local_value(1990, 1, 1, 0, 0);
    const int64_t to = local_value(2060, 1, 1, 0, 0);

    (void)state;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        struct campaigns_tz *tz = load(zones[z]);

        setenv("TZ", zones[z], 1);
        tzset();
        for (int64_t t = from; t < to; t += 3 * 3600 + 17 * 60) {
            time_t when = (time_t)t;
            struct tm tm;

            assert_non_null(localtime_r(&when, &tm));
            if (tm.tm_gmtoff != campaigns_tz_offset(tz, t))
                fail_msg("%s at %lld: offset %ld from the C library, %d here",
                         zones[z], (long long)t, tm.tm_gmtoff,
                         campaigns_tz_offset(tz, t));
        }
        campaigns_tz_free(tz);
    }
    unsetenv("TZ");
}

/* Every local minute of a year maps to an instant whose local time is the
 * same minute, or the end of a gap, and never to an earlier minute. */
static void local_round_trips_in_year(void **state)
{
    struct campaigns_tz *tz = load("Australia/Lord_Howe");
    const int64_t from = local_value(2025, 1, 1, 0, 0);

    (void)state;
    for (int64_t local = from; local < from + 366 * 86400; local += 60) {
        int64_t utc = campaigns_tz_to_utc(tz, local);
        int64_t back = campaigns_tz_to_local(tz, utc);

        if (back != local && (back < local || back > local + 3600))
            fail_msg("local %lld became %lld", (long long)local,
                     (long long)back);
    }
    campaigns_tz_free(tz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(civil_dates_round_trip),
        cmocka_unit_test(berlin_spring_gap_moves_forward),
        cmocka_unit_test(berlin_autumn_repeat_takes_first),
        cmocka_unit_test(new_york_changes_and_far_future),
        cmocka_unit_test(invalid_names_rejected),
        cmocka_unit_test(rule_only_file_matches_rule),
        cmocka_unit_test(offsets_match_c_library),
        cmocka_unit_test(local_round_trips_in_year),
    };

    return cmocka_run_group_tests_name("campaigns time zones", tests, NULL,
                                       NULL);
}
