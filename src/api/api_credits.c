/* GET /api/credits/usage: credits charged per day, for the usage chart. */
#include "api/api.h"

#include "core/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
#define DAYS_DEFAULT 30
#define DAYS_MAX 90
/* Time zones lie between UTC-12:00 and UTC+14:00. */
#define OFFSET_MIN_MINUTES (-12 * 60)
#define OFFSET_MAX_MINUTES (14 * 60)

/*
 * Reads the integer query parameter name into *out (fallback when absent).
 * Sends 400 naming the range and returns -1 when it is anything else.
 */
static int query_int(struct api_call *call, const char *name, long min,
                     long max, long fallback, long *out)
{
    const char *text = http_request_query(call->req, name);
    struct error err;
    char *end;

    *out = fallback;
    if (!text)
        return 0;
    errno = 0;
    *out = strtol(text, &end, 10);
    if (!errno && end != text && !*end && *out >= min && *out <= max)
        return 0;
    error_set(&err, ERR_INVALID,
              "%s: invalid value \"%.20s\": expected an integer from %ld to "
              "%ld",
              name, text, min, max);
    snprintf(err.code, sizeof(err.code), "%s", name);
    api_fail(call, &err);
    return -1;
}

/* [{date, total, by_kind}] for each of the days up to today, oldest first. */
static json_t *days_json(int64_t first_day, long days,
                         const struct store_credit_day *rows, size_t count,
                         json_int_t *total)
{
    json_t *list = json_array();
    size_t r = 0;

    *total = 0;
    for (long i = 0; i < days; i++) {
        int64_t day = first_day + i;
        json_t *by_kind = json_object();
        json_int_t day_total = 0;
        char date[32];

        for (; r < count && rows[r].day == day; r++) {
            json_object_set_new(by_kind,
                                rows[r].kind[0] ? rows[r].kind : "other",
                                json_integer(rows[r].amount));
            day_total += rows[r].amount;
        }
        clock_format_iso(day * DAY_MS, date);
        date[10] = '\0';
        json_array_append_new(list, json_pack("{s:s, s:I, s:o}", "date", date,
                                              "total", day_total, "by_kind",
                                              by_kind));
        *total += day_total;
    }
    return list;
}

static void handle_usage(struct api_call *call)
{
    struct store_credit_day *rows = NULL;
    size_t count = 0;
    long days;
    long offset_minutes;
    int64_t offset_ms;
    int64_t first_day;
    json_int_t total;
    struct store_tx *tx;
    struct error err;
    json_t *list;

    if (query_int(call, "days", 1, DAYS_MAX, DAYS_DEFAULT, &days) != 0 ||
        query_int(call, "utc_offset_minutes", OFFSET_MIN_MINUTES,
                  OFFSET_MAX_MINUTES, 0, &offset_minutes) != 0)
        return;
    offset_ms = (int64_t)offset_minutes * 60 * 1000;
    first_day = (clock_now_ms() + offset_ms) / DAY_MS - (days - 1);

    error_clear(&err);
    tx = store_begin_read(call->app->store, &err);
    if (!tx || store_credits_usage(tx, call->instance_id,
                                   first_day * DAY_MS - offset_ms, offset_ms,
                                   &rows, &count, &err) != 0) {
        store_rollback(tx);
        api_fail(call, &err);
        return;
    }
    store_rollback(tx);

    /* Rows come ordered by day; any before first_day can't occur. */
    list = days_json(first_day, days, rows, count, &total);
    free(rows);
    http_response_json(call->resp, 200,
                       json_pack("{s:o, s:I, s:i}", "days", list, "total",
                                 total, "utc_offset_minutes",
                                 (int)offset_minutes));
}

int api_credits_routes(struct http_server *server, struct app *app,
                       struct error *err)
{
    if (api_route(server, app, "GET", "/api/credits/usage", handle_usage))
        return error_set(err, ERR_PERMANENT, "failed to add credits routes");
    return 0;
}
