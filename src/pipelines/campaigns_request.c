/*
 * The owner's requests to create or change a campaign, checked field by
 * field. The theme is a blog request, checked by the blog pipeline.
 */
#include "pipelines/campaigns_internal.h"

#include "pipelines/blog_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int field_error(struct error *err, const char *field, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static int field_error(struct error *err, const char *field, const char *fmt,
                       ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list args;

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    error_set(err, ERR_INVALID, "%s: %s", field, message);
    snprintf(err->code, sizeof(err->code), "%s", field);
    return -1;
}

static int check_known_fields(const json_t *request, int creating,
                              struct error *err)
{
    static const char *const known[] = {"name",     "theme",    "time_zone",
                                        "schedule", "on_ready", "paused"};
    const char *key;
    json_t *value;

    if (!json_is_object(request))
        return field_error(err, "request", "expected a JSON object");
    json_object_foreach((json_t *)request, key, value)
    {
        size_t i = 0;

        (void)value;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]))
            i++;
        if (i == sizeof(known) / sizeof(known[0]))
            return field_error(err, "request",
                               "unknown field \"%.40s\": expected name, "
                               "theme, time_zone, schedule, on_ready or "
                               "paused",
                               key);
        if (!creating && strcmp(key, "paused") == 0)
            return field_error(err, "paused",
                               "use POST /api/campaigns/{id}/pause or "
                               "/resume to pause or resume a campaign");
    }
    return 0;
}

static int apply_name(struct campaign *c, const json_t *value,
                      struct error *err)
{
    const char *name = json_string_value(value);
    size_t start = 0;
    size_t end = name ? strlen(name) : 0;
    char *trimmed;

    while (start < end && name[start] == ' ')
        start++;
    while (end > start && name[end - 1] == ' ')
        end--;
    if (!name || end == start)
        return field_error(err, "name", "expected a name of 1 to %d characters",
                           CAMPAIGN_NAME_MAX);
    trimmed = strndup(name + start, end - start);
    if (!trimmed)
        return error_set(err, ERR_PERMANENT, "out of memory");
    for (const char *p = trimmed; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            free(trimmed);
            return field_error(err, "name",
                               "must not contain control characters");
        }
    }
    if (blog_utf8_length(trimmed) > CAMPAIGN_NAME_MAX) {
        free(trimmed);
        return field_error(err, "name", "must be at most %d characters long",
                           CAMPAIGN_NAME_MAX);
    }
    free(c->name);
    c->name = trimmed;
    return 0;
}

static int apply_theme(struct campaign *c, const json_t *value,
                       struct error *err)
{
    json_t *empty = value ? NULL : json_object();
    json_t *theme = blog_request_validate(value ? value : empty, err);

    json_decref(empty);
    if (!theme) {
        error_prefix(err, "theme");
        snprintf(err->code, sizeof(err->code), "theme");
        return -1;
    }
    free(c->theme);
    c->theme = json_dumps(theme, JSON_COMPACT);
    json_decref(theme);
    return c->theme ? 0 : error_set(err, ERR_PERMANENT, "out of memory");
}

static int apply_on_ready(struct campaign *c, const json_t *value,
                          struct error *err)
{
    const char *text = json_string_value(value);

    if (!text || (strcmp(text, CAMPAIGN_ON_READY_DRAFT) != 0 &&
                  strcmp(text, CAMPAIGN_ON_READY_PUBLISH) != 0))
        return field_error(err, "on_ready",
                           "expected \"draft\" (save the post as a draft) or "
                           "\"publish\" (publish it on the site)");
    snprintf(c->on_ready, sizeof(c->on_ready), "%s", text);
    return 0;
}

static int listed_before(const json_t *old_schedule, const char *slot)
{
    size_t index;
    json_t *value;

    json_array_foreach(json_object_get(old_schedule, "times"), index, value)
    {
        if (strcmp(json_string_value(value), slot) == 0)
            return 1;
    }
    return 0;
}

/* Rejects new listed times in the past or too far ahead in tz. */
static int check_times_ahead(const json_t *schedule, const json_t *old_schedule,
                             const struct campaigns_tz *tz, int64_t now_ms,
                             struct error *err)
{
    size_t index;
    json_t *value;

    json_array_foreach(json_object_get(schedule, "times"), index, value)
    {
        const char *slot = json_string_value(value);
        int64_t local = 0;
        int64_t run_at_ms;

        campaigns_slot_parse(slot, &local);
        run_at_ms = campaigns_tz_to_utc(tz, local) * 1000;
        if (run_at_ms < now_ms && !listed_before(old_schedule, slot))
            return field_error(err, "schedule",
                               "schedule.times: %s is in the past in %s", slot,
                               campaigns_tz_name(tz));
        if (run_at_ms > now_ms + CAMPAIGN_AHEAD_MAX_MS)
            return field_error(err, "schedule",
                               "schedule.times: %s is more than 5 years ahead",
                               slot);
    }
    return 0;
}

/* Applies time_zone and schedule, which are checked together. */
static int apply_schedule(struct campaign *c, const json_t *request,
                          const struct campaigns_settings *s, int64_t now_ms,
                          int *changed, struct error *err)
{
    const json_t *zone = json_object_get(request, "time_zone");
    const json_t *schedule = json_object_get(request, "schedule");
    json_t *old_schedule =
        json_loads(c->schedule ? c->schedule : "{}", 0, NULL);
    json_t *checked = NULL;
    struct campaigns_tz *tz = NULL;
    int rule_count = c->rule_count;
    int rc = -1;

    if (zone && !json_is_string(zone)) {
        field_error(err, "time_zone",
                    "expected an IANA time zone name such as "
                    "\"Europe/Berlin\"");
        goto out;
    }
    tz = campaigns_load_tz(s, zone ? json_string_value(zone) : c->time_zone,
                           err);
    if (!tz) {
        error_prefix(err, "time_zone");
        goto out;
    }
    checked = schedule ? campaigns_schedule_validate(schedule, &rule_count, err)
                       : json_loads(c->schedule, 0, NULL);
    if (!checked ||
        check_times_ahead(checked, old_schedule, tz, now_ms, err) != 0)
        goto out;

    *changed = zone || schedule;
    snprintf(c->time_zone, sizeof(c->time_zone), "%s", campaigns_tz_name(tz));
    free(c->schedule);
    c->schedule = json_dumps(checked, JSON_COMPACT);
    c->rule_count = rule_count;
    rc = c->schedule ? 0 : error_set(err, ERR_PERMANENT, "out of memory");

out:
    json_decref(checked);
    json_decref(old_schedule);
    campaigns_tz_free(tz);
    return rc;
}

int campaigns_apply_request(struct campaign *c, const json_t *request,
                            int creating, const struct campaigns_settings *s,
                            int64_t now_ms, int *schedule_changed,
                            struct error *err)
{
    const json_t *paused = json_object_get(request, "paused");

    *schedule_changed = 0;
    if (check_known_fields(request, creating, err) != 0)
        return -1;
    if (creating) {
        static const char *const required[] = {"name", "time_zone", "schedule"};

        for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
            if (!json_object_get(request, required[i]))
                return field_error(err, required[i], "missing");
        }
        snprintf(c->on_ready, sizeof(c->on_ready), CAMPAIGN_ON_READY_DRAFT);
    }
    if (paused && !json_is_boolean(paused))
        return field_error(err, "paused", "expected true or false");
    if (paused)
        c->paused = json_is_true(paused);

    if ((json_object_get(request, "name") &&
         apply_name(c, json_object_get(request, "name"), err) != 0) ||
        ((creating || json_object_get(request, "theme")) &&
         apply_theme(c, json_object_get(request, "theme"), err) != 0) ||
        (json_object_get(request, "on_ready") &&
         apply_on_ready(c, json_object_get(request, "on_ready"), err) != 0))
        return -1;
    if (json_object_get(request, "time_zone") ||
        json_object_get(request, "schedule"))
        return apply_schedule(c, request, s, now_ms, schedule_changed, err);
    return 0;
}
