/*
 * IANA time zones read from the system's tz database (the TZif files of
 * the tzdata package under /usr/share/zoneinfo), for turning a campaign's
 * local date-times into UTC instants and back.
 *
 * Why not mktime() with TZ set: TZ is process-wide, so switching it for one
 * computation races with every other thread that reads the environment or
 * converts a local time, and a lock only helps if every caller takes it.
 * Parsing the TZif file (RFC 8536) into a private table needs no global
 * state at all: a loaded zone is immutable, and any number of threads may
 * use one at once.
 *
 * Times here are whole seconds. A "local" value counts the seconds of the
 * wall-clock date and time as if it were UTC, so that 2025-03-30T02:30 in
 * any zone is the local value 1743301800.
 */
#ifndef SITESMITH_PIPELINES_CAMPAIGNS_TZ_H
#define SITESMITH_PIPELINES_CAMPAIGNS_TZ_H

#include "core/error.h"

#include <stdint.h>

/* The folder of the zones that Debian's tzdata package installs. */
#define CAMPAIGNS_TZ_DIR "/usr/share/zoneinfo"

/* Maximum length of a zone name, e.g. "America/Argentina/ComodRivadavia". */
#define CAMPAIGNS_TZ_NAME_MAX 64

struct campaigns_tz;

/*
 * Loads the zone name ("Europe/Berlin", "UTC") from the folder dir (NULL:
 * CAMPAIGNS_TZ_DIR). Rejects names that are not IANA zone names (empty,
 * "..", a leading '/', characters other than letters, digits, '/', '_',
 * '-' and '+') and zones with leap seconds ("right/..."). Returns NULL
 * with err set: ERR_INVALID naming the zone when it is unknown or its file
 * is not TZif. The caller frees it with campaigns_tz_free(). Thread-safe.
 */
struct campaigns_tz *campaigns_tz_load(const char *dir, const char *name,
                                       struct error *err);

/* Accepts NULL. */
void campaigns_tz_free(struct campaigns_tz *tz);

/* The zone's name as loaded; borrowed. */
const char *campaigns_tz_name(const struct campaigns_tz *tz);

/* The offset east of UTC in seconds in effect at the UTC instant utc. */
int32_t campaigns_tz_offset(const struct campaigns_tz *tz, int64_t utc);

/* The local value of the UTC instant utc. */
int64_t campaigns_tz_to_local(const struct campaigns_tz *tz, int64_t utc);

/*
 * The UTC instant of the local value local. A local time that happens
 * twice (when clocks go back) gives the first instant. A local time that
 * does not happen (when clocks go forward) gives the first whole minute
 * after the gap, which is the instant the clocks changed: in Europe/Berlin
 * 2025-03-30T02:30 becomes 03:00 local time, 01:00 UTC.
 * NOTE: assumes at most one offset change within a day either side of
 * local, which holds for every zone in current use.
 */
int64_t campaigns_tz_to_utc(const struct campaigns_tz *tz, int64_t local);

/* ------------------------------------------------------------------ */
/* Civil dates (proleptic Gregorian, no time zone)                     */
/* ------------------------------------------------------------------ */

/* Days since 1970-01-01 of year-month-day (month 1 to 12). */
int64_t campaigns_days_from_civil(int64_t year, int month, int day);

/* The date of days since 1970-01-01. */
void campaigns_civil_from_days(int64_t days, int64_t *year, int *month,
                               int *day);

/* Day of the week of days since 1970-01-01: 0 Sunday to 6 Saturday. */
int campaigns_weekday(int64_t days);

/* Days in month (1 to 12) of year. */
int campaigns_days_in_month(int64_t year, int month);

#endif
