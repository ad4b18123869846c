/*
 * Campaign schedules: checking and normalizing requests, and expanding
 * rules into UTC instants across daylight-saving changes.
 */
#include "core/json.h"
#include "pipelines/campaigns_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int64_t utc_ms(int year, int month, int day, int hour, int minute)
{
    return (campaigns_days_from_civil(year, month, day) * 86400 + hour * 3600 +
            minute * 60) *
           1000;
}

static json_t *validate(const char *text, int *rules)
{
    json_t *schedule = json_loads(text, 0, NULL);
    struct error err;
    json_t *out;

    assert_non_null(schedule);
    error_clear(&err);
    out = campaigns_schedule_validate(schedule, rules, &err);
    if (!out)
        fail_msg("%s: %s", text, err.message);
    json_decref(schedule);
    return out;
}

static struct campaigns_tz *zone(const char *name)
{
    struct error err;
    struct campaigns_tz *tz;

    error_clear(&err);
    tz = campaigns_tz_load(NULL, name, &err);
    if (!tz)
        fail_msg("%s: %s", name, err.message);
    return tz;
}

static void schedule_is_normalized(void **state)
{
    int rules = 0;
    json_t *out = validate(
        "{\"times\": [\"2026-05-04T09:00\", \"2026-04-01T10:30\","
        " \"2026-05-04T09:00\"], \"rules\": [{\"frequency\": \"weekly\","
        " \"weekdays\": [\"Fri\", \"tuesday\", \"fri\"], \"time\": \"09:00\"},"
        " {\"frequency\": \"monthly\", \"day\": 31, \"time\": \"18:15\"}]}",
        &rules);
    json_t *weekly = json_at(out, "rules[0]");

    (void)state;
    assert_int_equal(rules, 2);
    assert_int_equal(json_array_size(json_object_get(out, "times")), 2);
    assert_string_equal(json_string_value(json_at(out, "times[0]")),
                        "2026-04-01T10:30");
    assert_int_equal(json_array_size(json_object_get(weekly, "weekdays")), 2);
    assert_string_equal(json_string_value(json_at(weekly, "weekdays[0]")),
                        "tuesday");
    assert_string_equal(json_string_value(json_at(weekly, "weekdays[1]")),
                        "friday");
    assert_int_equal(json_integer_value(json_at(out, "rules[1].day")), 31);
    json_decref(out);
}

static void invalid_schedules_rejected(void **state)
{
    static const char *const cases[][2] = {
        {"[]", "schedule: expected an object"},
        {"{}", "at least one time or one rule"},
        {"{\"times\": [\"2026-02-30T09:00\"]}", "schedule.times[0]"},
        {"{\"times\": [\"2026-05-04 09:00\"]}", "schedule.times[0]"},
        {"{\"times\": [\"2026-05-04T24:00\"]}", "schedule.times[0]"},
        {"{\"rules\": [{\"frequency\": \"yearly\", \"time\": \"09:00\"}]}",
         "frequency"},
        {"{\"rules\": [{\"frequency\": \"weekly\", \"time\": \"09:00\"}]}",
         "weekdays"},
        {"{\"rules\": [{\"frequency\": \"weekly\", \"weekdays\": [\"funday\"],"
         " \"time\": \"09:00\"}]}",
         "weekdays[0]"},
        {"{\"rules\": [{\"frequency\": \"monthly\", \"day\": 32,"
         " \"time\": \"09:00\"}]}",
         ".day"},
        {"{\"rules\": [{\"frequency\": \"daily\", \"time\": \"9:00\"}]}",
         ".time"},
        {"{\"rules\": [{\"frequency\": \"daily\", \"day\": 3,"
         " \"time\": \"09:00\"}]}",
         "unknown field \"day\""},
        {"{\"when\": []}", "unknown field \"when\""},
    };
    struct error err;
    int rules;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *schedule = json_loads(cases[i][0], 0, NULL);

        assert_non_null(schedule);
        error_clear(&err);
        assert_null(campaigns_schedule_validate(schedule, &rules, &err));
        assert_int_equal(err.kind, ERR_INVALID);
        assert_string_equal(err.code, "schedule");
        if (!strstr(err.message, cases[i][1]))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i][0],
                     err.message, cases[i][1]);
        json_decref(schedule);
    }
}

static void slots_parse_and_format(void **state)
{
    char text[CAMPAIGN_SLOT_SIZE];
    int64_t local = 0;

    (void)state;
    assert_int_equal(campaigns_slot_parse("2026-03-29T02:30", &local), 0);
    assert_int_equal(local, utc_ms(2026, 3, 29, 2, 30) / 1000);
    campaigns_slot_format(local, text);
    assert_string_equal(text, "2026-03-29T02:30");
    assert_int_equal(campaigns_slot_parse("2024-02-29T00:00", &local), 0);
    assert_int_equal(campaigns_slot_parse("2025-02-29T00:00", &local), -1);
    assert_int_equal(campaigns_slot_parse("2026-03-29T02:30Z", &local), -1);
    assert_int_equal(campaigns_slot_parse("", &local), -1);
    assert_int_equal(campaigns_slot_parse(NULL, &local), -1);
}

/* Each Sunday of March to November 2026 in Berlin, at 02:30 and 09:00:
 * one occurrence per rule and day, at the right UTC instant. */
static void weekly_rule_across_berlin_changes(void **state)
{
    int rules = 0;
    json_t *schedule =
        validate("{\"rules\": [{\"frequency\": \"weekly\", \"weekdays\": "
                 "[\"sunday\"], \"time\": \"02:30\"}, {\"frequency\": "
                 "\"weekly\", \"weekdays\": [\"sun\"], \"time\": \"09:00\"}]}",
                 &rules);
    struct campaigns_tz *tz = zone("Europe/Berlin");
    struct campaign_occurrence *list = NULL;
    size_t count = 0;
    struct error err;
    int64_t sunday = campaigns_days_from_civil(2026, 3, 1);

    (void)state;
    error_clear(&err);
    assert_int_equal(campaigns_schedule_expand(
                         schedule, tz, utc_ms(2026, 3, 1, 0, 0),
                         utc_ms(2026, 11, 29, 23, 0), &list, &count, &err),
                     0);
    assert_int_equal(count, 2 * 40);
    for (size_t i = 0; i < count; i += 2, sunday += 7) {
        int summer = sunday >= campaigns_days_from_civil(2026, 3, 29) &&
                     sunday < campaigns_days_from_civil(2026, 10, 25);
        int64_t midnight_ms = sunday * 86400 * 1000;
        int64_t night_ms = midnight_ms + (summer ? 30 : 90) * 60 * 1000;
        int64_t morning_ms = midnight_ms + (summer ? 7 : 8) * 3600 * 1000;

        /* Clocks go forward at 02:00 on 29 March, so 02:30 becomes 03:00
         * (01:00 UTC). On 25 October 02:30 happens twice: the first. */
        if (sunday == campaigns_days_from_civil(2026, 3, 29))
            night_ms = midnight_ms + 3600 * 1000;
        if (sunday == campaigns_days_from_civil(2026, 10, 25))
            night_ms = midnight_ms + 30 * 60 * 1000;
        assert_int_equal(list[i].run_at_ms, night_ms);
        assert_int_equal(list[i + 1].run_at_ms, morning_ms);
        assert_string_equal(list[i].slot + 10, "T02:30");
        assert_string_equal(list[i + 1].slot + 10, "T09:00");
    }
    free(list);
    campaigns_tz_free(tz);
    json_decref(schedule);
}

static void monthly_rule_takes_last_day(void **state)
{
    int rules = 0;
    json_t *schedule = validate("{\"rules\": [{\"frequency\": \"monthly\","
                                " \"day\": 31, \"time\": \"09:00\"}]}",
                                &rules);
    struct campaigns_tz *tz = zone("America/New_York");
    struct campaign_occurrence *list = NULL;
    size_t count = 0;
    struct error err;
    static const char *const slots[] = {
        "2026-01-31T09:00", "2026-02-28T09:00", "2026-03-31T09:00",
        "2026-04-30T09:00", "2026-05-31T09:00",
    };

    (void)state;
    error_clear(&err);
    assert_int_equal(campaigns_schedule_expand(
                         schedule, tz, utc_ms(2026, 1, 1, 0, 0),
                         utc_ms(2026, 6, 1, 0, 0), &list, &count, &err),
                     0);
    assert_int_equal(count, 5);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(list[i].slot, slots[i]);
    assert_int_equal(list[1].run_at_ms, utc_ms(2026, 2, 28, 14, 0));
    assert_int_equal(list[2].run_at_ms, utc_ms(2026, 3, 31, 13, 0));
    free(list);
    campaigns_tz_free(tz);
    json_decref(schedule);
}

/* Listed times count from from_ms with no end; a rule's slot that is also
 * listed occurs once. */
static void listed_times_merge_with_rules(void **state)
{
    int rules = 0;
    json_t *schedule = validate(
        "{\"times\": [\"2026-03-08T02:15\", \"2026-03-10T07:00\","
        " \"2027-01-01T00:00\", \"2026-03-01T12:00\"],"
        " \"rules\": [{\"frequency\": \"daily\", \"time\": \"07:00\"}]}",
        &rules);
    struct campaigns_tz *tz = zone("America/New_York");
    struct campaign_occurrence *list = NULL;
    size_t count = 0;
    struct error err;

    (void)state;
    error_clear(&err);
    assert_int_equal(campaigns_schedule_expand(
                         schedule, tz, utc_ms(2026, 3, 8, 0, 0),
                         utc_ms(2026, 3, 11, 0, 0), &list, &count, &err),
                     0);
    /* 02:15 on 8 March does not exist in New York: 03:00 EDT. */
    assert_int_equal(count, 5);
    assert_string_equal(list[0].slot, "2026-03-08T02:15");
    assert_int_equal(list[0].run_at_ms, utc_ms(2026, 3, 8, 7, 0));
    assert_string_equal(list[1].slot, "2026-03-08T07:00");
    assert_int_equal(list[1].run_at_ms, utc_ms(2026, 3, 8, 11, 0));
    assert_string_equal(list[2].slot, "2026-03-09T07:00");
    assert_string_equal(list[3].slot, "2026-03-10T07:00");
    assert_string_equal(list[4].slot, "2027-01-01T00:00");
    free(list);
    campaigns_tz_free(tz);
    json_decref(schedule);
}

static void next_rule_beyond_window(void **state)
{
    int rules = 0;
    json_t *schedule = validate("{\"rules\": [{\"frequency\": \"monthly\","
                                " \"day\": 15, \"time\": \"10:00\"}]}",
                                &rules);
    struct campaigns_tz *tz = zone("UTC");
    struct campaign_occurrence next;

    (void)state;
    assert_int_equal(campaigns_schedule_next_rule(
                         schedule, tz, utc_ms(2026, 6, 15, 10, 1), &next),
                     1);
    assert_string_equal(next.slot, "2026-07-15T10:00");
    assert_int_equal(next.run_at_ms, utc_ms(2026, 7, 15, 10, 0));
    campaigns_tz_free(tz);
    json_decref(schedule);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedule_is_normalized),
        cmocka_unit_test(invalid_schedules_rejected),
        cmocka_unit_test(slots_parse_and_format),
        cmocka_unit_test(weekly_rule_across_berlin_changes),
        cmocka_unit_test(monthly_rule_takes_last_day),
        cmocka_unit_test(listed_times_merge_with_rules),
        cmocka_unit_test(next_rule_beyond_window),
    };

    return cmocka_run_group_tests_name("campaign schedules", tests, NULL, NULL);
}
