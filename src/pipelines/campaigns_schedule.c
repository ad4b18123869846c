/*
 * Campaign schedules: local date-times listed one by one, and rules
 * (daily, weekly on given weekdays, monthly on a given day, each at
 * HH:MM), checked and expanded into UTC instants in the site's zone.
 */
#include "pipelines/campaigns_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAY_S 86400
/* The maximum span of one expansion, in days. */
#define EXPAND_MAX_DAYS 1000
#define NEXT_RULE_DAYS 400

/* Weekday names in week order, with their campaigns_weekday() numbers. */
static const struct {
    const char *name;
    int number;
} weekdays[] = {
    {"monday", 1}, {"tuesday", 2},  {"wednesday", 3}, {"thursday", 4},
    {"friday", 5}, {"saturday", 6}, {"sunday", 0},
};

#define WEEKDAY_COUNT (sizeof(weekdays) / sizeof(weekdays[0]))

static int schedule_error(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int schedule_error(struct error *err, const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list args;

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    error_set(err, ERR_INVALID, "%s", message);
    snprintf(err->code, sizeof(err->code), "schedule");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Local date-times                                                    */
/* ------------------------------------------------------------------ */

/* Reads count digits at text into *out; -1 when one is not a digit. */
static int read_digits(const char *text, int count, int *out)
{
    *out = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)text[i]))
            return -1;
        *out = *out * 10 + (text[i] - '0');
    }
    return 0;
}

/* Parses "HH:MM" into seconds after midnight. */
static int parse_clock_time(const char *text, int *seconds)
{
    int hour;
    int minute;

    if (strlen(text) != 5 || text[2] != ':' ||
        read_digits(text, 2, &hour) != 0 ||
        read_digits(text + 3, 2, &minute) != 0 || hour > 23 || minute > 59)
        return -1;
    *seconds = hour * 3600 + minute * 60;
    return 0;
}

int campaigns_slot_parse(const char *text, int64_t *local)
{
    int year;
    int month;
    int day;
    int seconds;

    if (!text || strlen(text) != 16 || text[4] != '-' || text[7] != '-' ||
        text[10] != 'T' || read_digits(text, 4, &year) != 0 ||
        read_digits(text + 5, 2, &month) != 0 ||
        read_digits(text + 8, 2, &day) != 0 ||
        parse_clock_time(text + 11, &seconds) != 0)
        return -1;
    if (year < 1970 || month < 1 || month > 12 || day < 1 ||
        day > campaigns_days_in_month(year, month))
        return -1;
    *local = campaigns_days_from_civil(year, month, day) * DAY_S + seconds;
    return 0;
}

void campaigns_slot_format(int64_t local, char out[CAMPAIGN_SLOT_SIZE])
{
    int64_t days = local >= 0 ? local / DAY_S : -((-local + DAY_S - 1) / DAY_S);
    int64_t seconds = local - days * DAY_S;
    int64_t year;
    int month;
    int day;

    campaigns_civil_from_days(days, &year, &month, &day);
    snprintf(out, CAMPAIGN_SLOT_SIZE, "%04u-%02u-%02uT%02u:%02u",
             (unsigned)(year % 10000) % 10000u, (unsigned)month % 100u,
             (unsigned)day % 100u, (unsigned)(seconds / 3600) % 24u,
             (unsigned)(seconds % 3600 / 60) % 60u);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a),
                  json_string_value(*(json_t *const *)b));
}

/* The listed times, checked, sorted and without repeats (new array). */
static json_t *check_times(const json_t *times, struct error *err)
{
    json_t *items[CAMPAIGN_TIMES_MAX];
    json_t *out = json_array();
    size_t count = json_array_size(times);
    int64_t local;

    if (!json_is_array(times) || count > CAMPAIGN_TIMES_MAX) {
        json_decref(out);
        schedule_error(err,
                       "schedule.times: expected an array of at most %d local "
                       "date-times such as \"2026-05-04T09:00\"",
                       CAMPAIGN_TIMES_MAX);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        items[i] = json_array_get(times, i);
        if (campaigns_slot_parse(json_string_value(items[i]), &local) != 0) {
            json_decref(out);
            schedule_error(err,
                           "schedule.times[%zu]: expected a local date-time "
                           "\"YYYY-MM-DDTHH:MM\" such as \"2026-05-04T09:00\"",
                           i);
            return NULL;
        }
    }
    qsort(items, count, sizeof(items[0]), compare_strings);
    for (size_t i = 0; i < count; i++) {
        if (i == 0 || compare_strings(&items[i - 1], &items[i]) != 0)
            json_array_append(out, items[i]);
    }
    return out;
}

static int weekday_index(const char *name)
{
    for (size_t i = 0; name && i < WEEKDAY_COUNT; i++) {
        if (strcasecmp(name, weekdays[i].name) == 0 ||
            (strlen(name) == 3 && strncasecmp(name, weekdays[i].name, 3) == 0))
            return (int)i;
    }
    return -1;
}

/* The weekdays of a weekly rule in week order (new array). */
static json_t *check_weekdays(const json_t *names, size_t rule,
                              struct error *err)
{
    int chosen[WEEKDAY_COUNT] = {0};
    json_t *out;
    size_t index;
    json_t *name;

    if (!json_is_array(names) || json_array_size(names) == 0 ||
        json_array_size(names) > WEEKDAY_COUNT) {
        schedule_error(err,
                       "schedule.rules[%zu].weekdays: expected 1 to 7 "
                       "weekdays such as [\"tuesday\", \"friday\"]",
                       rule);
        return NULL;
    }
    json_array_foreach(names, index, name)
    {
        int day = weekday_index(json_string_value(name));

        if (day < 0) {
            schedule_error(err,
                           "schedule.rules[%zu].weekdays[%zu]: expected an "
                           "English weekday such as \"monday\" or \"mon\"",
                           rule, index);
            return NULL;
        }
        chosen[day] = 1;
    }
    out = json_array();
    for (size_t i = 0; i < WEEKDAY_COUNT; i++) {
        if (chosen[i])
            json_array_append_new(out, json_string(weekdays[i].name));
    }
    return out;
}

static int check_rule_fields(const json_t *rule, size_t index,
                             const char *frequency, struct error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)rule, key, value)
    {
        (void)value;
        if (strcmp(key, "frequency") == 0 || strcmp(key, "time") == 0 ||
            (strcmp(key, "weekdays") == 0 &&
             strcmp(frequency, "weekly") == 0) ||
            (strcmp(key, "day") == 0 && strcmp(frequency, "monthly") == 0))
            continue;
        return schedule_error(err,
                              "schedule.rules[%zu]: unknown field \"%.40s\" "
                              "for a %s rule",
                              index, key, frequency);
    }
    return 0;
}

/* One rule, checked and normalized (new object). */
static json_t *check_rule(const json_t *rule, size_t index, struct error *err)
{
    const char *frequency =
        json_string_value(json_object_get(rule, "frequency"));
    const char *time = json_string_value(json_object_get(rule, "time"));
    const json_t *day = json_object_get(rule, "day");
    json_t *days = NULL;
    int seconds;

    if (!json_is_object(rule) || !frequency ||
        (strcmp(frequency, "daily") && strcmp(frequency, "weekly") &&
         strcmp(frequency, "monthly"))) {
        schedule_error(err,
                       "schedule.rules[%zu].frequency: expected \"daily\", "
                       "\"weekly\" or \"monthly\"",
                       index);
        return NULL;
    }
    if (check_rule_fields(rule, index, frequency, err) != 0)
        return NULL;
    if (!time || parse_clock_time(time, &seconds) != 0) {
        schedule_error(err,
                       "schedule.rules[%zu].time: expected a local time "
                       "\"HH:MM\" such as \"09:00\"",
                       index);
        return NULL;
    }
    if (strcmp(frequency, "weekly") == 0) {
        days = check_weekdays(json_object_get(rule, "weekdays"), index, err);
        if (!days)
            return NULL;
        return json_pack("{s:s, s:o, s:s}", "frequency", frequency, "weekdays",
                         days, "time", time);
    }
    if (strcmp(frequency, "monthly") == 0) {
        if (!json_is_integer(day) || json_integer_value(day) < 1 ||
            json_integer_value(day) > 31) {
            schedule_error(err,
                           "schedule.rules[%zu].day: expected a day of the "
                           "month from 1 to 31 (a month without it uses its "
                           "last day)",
                           index);
            return NULL;
        }
        return json_pack("{s:s, s:O, s:s}", "frequency", frequency, "day", day,
                         "time", time);
    }
    return json_pack("{s:s, s:s}", "frequency", frequency, "time", time);
}

static json_t *check_rules(const json_t *rules, struct error *err)
{
    json_t *out;
    size_t index;
    json_t *rule;

    if (!json_is_array(rules) || json_array_size(rules) > CAMPAIGN_RULES_MAX) {
        schedule_error(err,
                       "schedule.rules: expected an array of at most %d "
                       "rules",
                       CAMPAIGN_RULES_MAX);
        return NULL;
    }
    out = json_array();
    json_array_foreach(rules, index, rule)
    {
        json_t *checked = check_rule(rule, index, err);

        if (!checked) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, checked);
    }
    return out;
}

json_t *campaigns_schedule_validate(const json_t *schedule, int *rule_count,
                                    struct error *err)
{
    const json_t *times = json_object_get(schedule, "times");
    const json_t *rules = json_object_get(schedule, "rules");
    json_t *times_out;
    json_t *rules_out;
    const char *key;
    json_t *value;

    if (!json_is_object(schedule)) {
        schedule_error(err, "schedule: expected an object {times?, rules?}");
        return NULL;
    }
    json_object_foreach((json_t *)schedule, key, value)
    {
        (void)value;
        if (strcmp(key, "times") != 0 && strcmp(key, "rules") != 0) {
            schedule_error(err,
                           "schedule: unknown field \"%.40s\": expected times "
                           "or rules",
                           key);
            return NULL;
        }
    }
    times_out =
        times && !json_is_null(times) ? check_times(times, err) : json_array();
    rules_out = times_out && rules && !json_is_null(rules)
                    ? check_rules(rules, err)
                    : json_array();
    if (!times_out || !rules_out) {
        json_decref(times_out);
        json_decref(rules_out);
        return NULL;
    }
    if (json_array_size(times_out) + json_array_size(rules_out) == 0) {
        json_decref(times_out);
        json_decref(rules_out);
        schedule_error(err, "schedule: list at least one time or one rule");
        return NULL;
    }
    *rule_count = (int)json_array_size(rules_out);
    return json_pack("{s:o, s:o}", "times", times_out, "rules", rules_out);
}

/* ------------------------------------------------------------------ */
/* Expansion                                                           */
/* ------------------------------------------------------------------ */

struct occurrences {
    struct campaign_occurrence *items;
    size_t count;
    size_t capacity;
};

static int add_occurrence(struct occurrences *list, int64_t local,
                          int64_t run_at_ms)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 32;
        struct campaign_occurrence *items =
            realloc(list->items, capacity * sizeof(*items));

        if (!items)
            return -1;
        list->items = items;
        list->capacity = capacity;
    }
    campaigns_slot_format(local, list->items[list->count].slot);
    list->items[list->count++].run_at_ms = run_at_ms;
    return 0;
}

static int rule_matches(const json_t *rule, int64_t days)
{
    const char *frequency =
        json_string_value(json_object_get(rule, "frequency"));
    int64_t year;
    int month;
    int day;

    if (strcmp(frequency, "daily") == 0)
        return 1;
    if (strcmp(frequency, "weekly") == 0) {
        size_t index;
        json_t *name;

        json_array_foreach(json_object_get(rule, "weekdays"), index, name)
        {
            int i = weekday_index(json_string_value(name));

            if (i >= 0 && weekdays[i].number == campaigns_weekday(days))
                return 1;
        }
        return 0;
    }
    campaigns_civil_from_days(days, &year, &month, &day);
    return day == (int)json_integer_value(json_object_get(rule, "day")) ||
           (day == campaigns_days_in_month(year, month) &&
            day < json_integer_value(json_object_get(rule, "day")));
}

/* Adds the rule's occurrences in [from_ms, to_ms). */
static int expand_rule(const json_t *rule, const struct campaigns_tz *tz,
                       int64_t from_ms, int64_t to_ms, struct occurrences *list)
{
    int seconds = 0;
    int64_t first_day = campaigns_tz_to_local(tz, from_ms / 1000) / DAY_S - 1;
    int64_t last_day = campaigns_tz_to_local(tz, to_ms / 1000) / DAY_S + 1;

    parse_clock_time(json_string_value(json_object_get(rule, "time")),
                     &seconds);
    for (int64_t days = first_day; days <= last_day; days++) {
        int64_t local = days * DAY_S + seconds;
        int64_t run_at_ms = campaigns_tz_to_utc(tz, local) * 1000;

        if (rule_matches(rule, days) && run_at_ms >= from_ms &&
            run_at_ms < to_ms && add_occurrence(list, local, run_at_ms) != 0)
            return -1;
    }
    return 0;
}

static int compare_occurrences(const void *a, const void *b)
{
    const struct campaign_occurrence *x = a;
    const struct campaign_occurrence *y = b;

    if (x->run_at_ms != y->run_at_ms)
        return x->run_at_ms < y->run_at_ms ? -1 : 1;
    return strcmp(x->slot, y->slot);
}

/* Sorts the list and drops repeated slots, which sort next to each other
 * because one slot always has one instant. */
static void sort_unique(struct occurrences *list)
{
    size_t kept = 0;

    if (list->count == 0)
        return;
    qsort(list->items, list->count, sizeof(list->items[0]),
          compare_occurrences);
    for (size_t i = 1; i < list->count; i++) {
        if (strcmp(list->items[i].slot, list->items[kept].slot) != 0)
            list->items[++kept] = list->items[i];
    }
    list->count = kept + 1;
}

static int expand(const json_t *schedule, const struct campaigns_tz *tz,
                  int64_t from_ms, int64_t to_ms, int with_times,
                  struct occurrences *list, struct error *err)
{
    size_t index;
    json_t *value;

    if (to_ms - from_ms > (int64_t)EXPAND_MAX_DAYS * DAY_S * 1000)
        return error_set(err, ERR_INVALID,
                         "cannot plan more than %d days at once",
                         EXPAND_MAX_DAYS);
    json_array_foreach(with_times ? json_object_get(schedule, "times") : NULL,
                       index, value)
    {
        int64_t local;
        int64_t run_at_ms;

        if (campaigns_slot_parse(json_string_value(value), &local) != 0)
            continue;
        run_at_ms = campaigns_tz_to_utc(tz, local) * 1000;
        if (run_at_ms >= from_ms && add_occurrence(list, local, run_at_ms))
            return error_set(err, ERR_PERMANENT, "out of memory");
    }
    json_array_foreach(json_object_get(schedule, "rules"), index, value)
    {
        if (to_ms > from_ms &&
            expand_rule(value, tz, from_ms, to_ms, list) != 0)
            return error_set(err, ERR_PERMANENT, "out of memory");
    }
    sort_unique(list);
    return 0;
}

int campaigns_schedule_expand(const json_t *schedule,
                              const struct campaigns_tz *tz, int64_t from_ms,
                              int64_t to_ms, struct campaign_occurrence **out,
                              size_t *count, struct error *err)
{
    struct occurrences list = {0};

    if (expand(schedule, tz, from_ms, to_ms, 1, &list, err) != 0) {
        free(list.items);
        return -1;
    }
    *out = list.items;
    *count = list.count;
    return 0;
}

int campaigns_schedule_next_rule(const json_t *schedule,
                                 const struct campaigns_tz *tz, int64_t from_ms,
                                 struct campaign_occurrence *out)
{
    struct occurrences list = {0};
    struct error err;
    int found;

    error_clear(&err);
    found = expand(schedule, tz, from_ms,
                   from_ms + (int64_t)NEXT_RULE_DAYS * DAY_S * 1000, 0, &list,
                   &err) == 0 &&
            list.count > 0;
    if (found)
        *out = list.items[0];
    free(list.items);
    return found;
}
