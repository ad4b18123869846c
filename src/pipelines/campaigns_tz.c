/*
 * A reader of TZif files (RFC 8536, versions 1 to 4) and of the POSIX TZ
 * rule at their end, which gives the offsets after the last transition
 * that the file lists ("CET-1CEST,M3.5.0,M10.5.0/3").
 */
#include "pipelines/campaigns_tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (256 * 1024)
#define HEADER_SIZE 44
#define TYPES_MAX 256
#define DAY 86400
/* A rule's time of day may run from -167 to 167 hours (TZif version 3). */
#define RULE_HOURS_MAX 167

struct tz_type {
    int32_t utoff; /* seconds east of UTC */
    int isdst;
};

/* When a POSIX rule switches: Jn, n or Mm.w.d, at time seconds of local
 * time (standard time for the start, daylight time for the end). */
struct tz_rule_date {
    char form; /* 'J' (1-365, no Feb 29), 'D' (0-365), 'M' */
    int day;   /* J and D forms */
    int month, week, weekday;
    int32_t time;
};

struct campaigns_tz {
    char name[CAMPAIGNS_TZ_NAME_MAX + 1];
    size_t count; /* transitions */
    int64_t *transitions;
    unsigned char *transition_types;
    size_t type_count;
    struct tz_type types[TYPES_MAX];
    int has_footer;  /* a POSIX rule follows the transitions */
    int footer_dst;  /* ... and it has daylight-saving time */
    int32_t std_off; /* footer's offsets east of UTC */
    int32_t dst_off;
    struct tz_rule_date start, end;
};

/* ------------------------------------------------------------------ */
/* Civil dates                                                         */
/* ------------------------------------------------------------------ */

/* The algorithms of "chrono-Compatible Low-Level Date Algorithms"
 * (H. Hinnant): days since 1970-01-01 in the proleptic Gregorian calendar,
 * with eras of 400 years. */
int64_t campaigns_days_from_civil(int64_t year, int month, int day)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    year -= month <= 2;
    era = (year >= 0 ? year : year - 399) / 400;
    yoe = year - era * 400;
    doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void campaigns_civil_from_days(int64_t days, int64_t *year, int *month,
                               int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);

    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = m;
    *year = yoe + era * 400 + (m <= 2);
}

int campaigns_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;

    return (int)(w < 0 ? w + 7 : w);
}

static int leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int campaigns_days_in_month(int64_t year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return month == 2 && leap_year(year) ? 29 : days[month - 1];
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* ------------------------------------------------------------------ */
/* POSIX TZ rules                                                      */
/* ------------------------------------------------------------------ */

/* A zone abbreviation: 3 or more letters, or "<...>" ("<+03>"). */
static int parse_abbreviation(const char **p)
{
    const char *s = *p;
    size_t length = 0;

    if (*s == '<') {
        s++;
        while (*s && *s != '>') {
            s++;
            length++;
        }
        if (*s != '>' || length < 3)
            return -1;
        *p = s + 1;
        return 0;
    }
    while (isalpha((unsigned char)*s)) {
        s++;
        length++;
    }
    if (length < 3)
        return -1;
    *p = s;
    return 0;
}

static int parse_number(const char **p, int max, int *out)
{
    int value = 0;
    int digits = 0;

    while (isdigit((unsigned char)**p) && digits < 4) {
        value = value * 10 + (**p - '0');
        (*p)++;
        digits++;
    }
    if (digits == 0 || value > max)
        return -1;
    *out = value;
    return 0;
}

/* [+-]hh[:mm[:ss]] as seconds; hours up to max_hours. */
static int parse_clock(const char **p, int max_hours, int32_t *out)
{
    int sign = 1;
    int hours;
    int minutes = 0;
    int seconds = 0;

    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (parse_number(p, max_hours, &hours) != 0)
        return -1;
    if (**p == ':') {
        (*p)++;
        if (parse_number(p, 59, &minutes) != 0)
            return -1;
        if (**p == ':') {
            (*p)++;
            if (parse_number(p, 59, &seconds) != 0)
                return -1;
        }
    }
    *out = sign * (hours * 3600 + minutes * 60 + seconds);
    return 0;
}

static int parse_rule_date(const char **p, struct tz_rule_date *out)
{
    memset(out, 0, sizeof(*out));
    out->time = 2 * 3600;
    if (**p == 'M') {
        (*p)++;
        out->form = 'M';
        if (parse_number(p, 12, &out->month) != 0 || out->month < 1 ||
            *(*p)++ != '.' || parse_number(p, 5, &out->week) != 0 ||
            out->week < 1 || *(*p)++ != '.' ||
            parse_number(p, 6, &out->weekday) != 0)
            return -1;
    } else if (**p == 'J') {
        (*p)++;
        out->form = 'J';
        if (parse_number(p, 365, &out->day) != 0 || out->day < 1)
            return -1;
    } else {
        out->form = 'D';
        if (parse_number(p, 365, &out->day) != 0)
            return -1;
    }
    if (**p == '/') {
        (*p)++;
        return parse_clock(p, RULE_HOURS_MAX, &out->time);
    }
    return 0;
}

/*
 * Parses the footer, e.g. "EST5EDT,M3.2.0,M11.1.0". POSIX offsets count
 * west of UTC, so "CET-1" is one hour east. POSIX leaves the rule of
 * daylight time without one to the implementation: here it is the US rule.
 */
static int parse_footer(struct campaigns_tz *tz, const char *text)
{
    const char *p = text;
    int32_t std_west;
    int32_t dst_west;

    if (parse_abbreviation(&p) != 0 || parse_clock(&p, 24, &std_west) != 0)
        return -1;
    tz->has_footer = 1;
    tz->std_off = -std_west;
    if (*p == '\0')
        return 0;
    if (parse_abbreviation(&p) != 0)
        return -1;
    dst_west = std_west - 3600;
    if (*p && *p != ',' && parse_clock(&p, 24, &dst_west) != 0)
        return -1;
    tz->footer_dst = 1;
    tz->dst_off = -dst_west;
    if (*p == '\0') {
        const char *us = ",M3.2.0,M11.1.0";

        p = us;
    }
    if (*p++ != ',' || parse_rule_date(&p, &tz->start) != 0 || *p++ != ',' ||
        parse_rule_date(&p, &tz->end) != 0 || *p != '\0')
        return -1;
    return 0;
}

/* Days since 1970-01-01 of the rule's date in year. */
static int64_t rule_day(const struct tz_rule_date *date, int64_t year)
{
    int64_t first = campaigns_days_from_civil(year, 1, 1);
    int64_t day;
    int mday;

    if (date->form == 'J')
        return first + date->day - 1 + (leap_year(year) && date->day >= 60);
    if (date->form == 'D')
        return first + date->day;
    day = campaigns_days_from_civil(year, date->month, 1);
    mday = 1 + (date->weekday - campaigns_weekday(day) + 7) % 7 +
           (date->week - 1) * 7;
    while (mday > campaigns_days_in_month(year, date->month))
        mday -= 7;
    return day + mday - 1;
}

static int32_t footer_offset(const struct campaigns_tz *tz, int64_t utc)
{
    int64_t year;
    int month;
    int day;
    int64_t start;
    int64_t end;
    int dst;

    if (!tz->footer_dst)
        return tz->std_off;
    campaigns_civil_from_days(floor_div(utc + tz->std_off, DAY), &year, &month,
                              &day);
    start = rule_day(&tz->start, year) * DAY + tz->start.time - tz->std_off;
    end = rule_day(&tz->end, year) * DAY + tz->end.time - tz->dst_off;
    if (start < end)
        dst = utc >= start && utc < end;
    else
        dst = !(utc >= end && utc < start); /* southern hemisphere */
    return dst ? tz->dst_off : tz->std_off;
}

/* ------------------------------------------------------------------ */
/* TZif                                                                */
/* ------------------------------------------------------------------ */

static uint32_t read_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t read_be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)read_be32(p) << 32 | read_be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static void read_counts(const unsigned char *header, struct tzif_counts *c)
{
    c->isut = read_be32(header + 20);
    c->isstd = read_be32(header + 24);
    c->leap = read_be32(header + 28);
    c->time = read_be32(header + 32);
    c->type = read_be32(header + 36);
    c->chars = read_be32(header + 40);
}

/* Size of a data block whose times take time_size bytes. */
static size_t block_size(const struct tzif_counts *c, size_t time_size)
{
    return c->time * time_size + c->time + c->type * 6 + c->chars +
           c->leap * (time_size + 4) + c->isstd + c->isut;
}

/* Reads one data block's transitions and types into tz. */
static int read_block(struct campaigns_tz *tz, const unsigned char *p,
                      const struct tzif_counts *c, size_t time_size)
{
    const unsigned char *indices = p + c->time * time_size;
    const unsigned char *types = indices + c->time;

    if (c->type == 0 || c->type > TYPES_MAX || c->leap > 0 || c->time > 100000)
        return -1;
    tz->count = c->time;
    tz->type_count = c->type;
    tz->transitions = calloc(c->time + 1, sizeof(*tz->transitions));
    tz->transition_types = calloc(c->time + 1, 1);
    if (!tz->transitions || !tz->transition_types)
        return -1;
    for (size_t i = 0; i < c->time; i++) {
        tz->transitions[i] = time_size == 8 ? read_be64(p + i * 8)
                                            : (int32_t)read_be32(p + i * 4);
        tz->transition_types[i] = indices[i];
        if (indices[i] >= c->type ||
            (i > 0 && tz->transitions[i] <= tz->transitions[i - 1]))
            return -1;
    }
    for (size_t i = 0; i < c->type; i++) {
        tz->types[i].utoff = (int32_t)read_be32(types + i * 6);
        tz->types[i].isdst = types[i * 6 + 4];
    }
    return 0;
}

/* Parses a whole TZif file of size bytes. */
static int parse_tzif(struct campaigns_tz *tz, const unsigned char *data,
                      size_t size)
{
    struct tzif_counts c;
    const unsigned char *end = data + size;
    const unsigned char *p;
    char footer[128];
    size_t length;

    if (size < HEADER_SIZE || memcmp(data, "TZif", 4) != 0)
        return -1;
    read_counts(data, &c);
    p = data + HEADER_SIZE + block_size(&c, 4);
    if (p > end)
        return -1;
    if (data[4] == '\0')
        return read_block(tz, data + HEADER_SIZE, &c, 4);

    /* Version 2 and later repeat everything with 64-bit times. */
    if ((size_t)(end - p) < HEADER_SIZE || memcmp(p, "TZif", 4) != 0)
        return -1;
    read_counts(p, &c);
    p += HEADER_SIZE;
    if ((size_t)(end - p) < block_size(&c, 8) || read_block(tz, p, &c, 8) != 0)
        return -1;
    p += block_size(&c, 8);
    if (p >= end || *p != '\n')
        return -1;
    length = 0;
    for (p++; p + length < end && p[length] != '\n'; length++)
        ;
    if (p + length >= end || length >= sizeof(footer))
        return -1;
    memcpy(footer, p, length);
    footer[length] = '\0';
    return length == 0 ? 0 : parse_footer(tz, footer);
}

static int valid_name(const char *name)
{
    size_t length = strlen(name);

    if (length == 0 || length > CAMPAIGNS_TZ_NAME_MAX || name[0] == '/' ||
        strstr(name, "..") || strncmp(name, "right/", 6) == 0)
        return 0;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("/_-+", *p))
            return 0;
    }
    return 1;
}

/* Reads the whole file into *data (malloc'd); -1 with errno set. */
static int read_file(const char *path, unsigned char **data, size_t *size)
{
    FILE *file = fopen(path, "rb");
    unsigned char *buffer = malloc(FILE_MAX + 1);
    size_t read_bytes = 0;

    if (!file || !buffer) {
        free(buffer);
        if (file)
            fclose(file);
        return -1;
    }
    read_bytes = fread(buffer, 1, FILE_MAX + 1, file);
    if (ferror(file) || read_bytes > FILE_MAX) {
        errno = ferror(file) ? EIO : EFBIG;
        fclose(file);
        free(buffer);
        return -1;
    }
    fclose(file);
    *data = buffer;
    *size = read_bytes;
    return 0;
}

struct campaigns_tz *campaigns_tz_load(const char *dir, const char *name,
                                       struct error *err)
{
    struct campaigns_tz *tz;
    unsigned char *data = NULL;
    char path[1024];
    size_t size = 0;

    if (!name || !valid_name(name)) {
        error_set(err, ERR_INVALID,
                  "time zone \"%.64s\" is not an IANA time zone name such as "
                  "\"Europe/Berlin\" or \"America/New_York\"",
                  name ? name : "");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : CAMPAIGNS_TZ_DIR, name);
    if (read_file(path, &data, &size) != 0) {
        error_set(err, ERR_INVALID,
                  "time zone \"%s\" is not known to the tz database in %s "
                  "(%s): use a name such as \"Europe/Berlin\"",
                  name, dir ? dir : CAMPAIGNS_TZ_DIR, strerror(errno));
        return NULL;
    }
    tz = calloc(1, sizeof(*tz));
    if (!tz || parse_tzif(tz, data, size) != 0) {
        error_set(err, ERR_INVALID,
                  "time zone \"%s\": %s is not a TZif file sitesmith can "
                  "read",
                  name, path);
        campaigns_tz_free(tz);
        free(data);
        return NULL;
    }
    free(data);
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    return tz;
}

void campaigns_tz_free(struct campaigns_tz *tz)
{
    if (!tz)
        return;
    free(tz->transitions);
    free(tz->transition_types);
    free(tz);
}

const char *campaigns_tz_name(const struct campaigns_tz *tz)
{
    return tz->name;
}

/* ------------------------------------------------------------------ */
/* Conversions                                                         */
/* ------------------------------------------------------------------ */

int32_t campaigns_tz_offset(const struct campaigns_tz *tz, int64_t utc)
{
    size_t low = 0;
    size_t high = tz->count;

    if (tz->count == 0)
        return tz->has_footer ? footer_offset(tz, utc) : tz->types[0].utoff;
    if (utc < tz->transitions[0])
        return tz->types[0].utoff;

    /* The last transition at or before utc. */
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;

        if (tz->transitions[middle] <= utc)
            low = middle;
        else
            high = middle;
    }
    if (low == tz->count - 1 && tz->has_footer)
        return footer_offset(tz, utc);
    return tz->types[tz->transition_types[low]].utoff;
}

int64_t campaigns_tz_to_local(const struct campaigns_tz *tz, int64_t utc)
{
    return utc + campaigns_tz_offset(tz, utc);
}

int64_t campaigns_tz_to_utc(const struct campaigns_tz *tz, int64_t local)
{
    int32_t before = campaigns_tz_offset(tz, local - DAY);
    int32_t after = campaigns_tz_offset(tz, local + DAY);
    int64_t low;
    int64_t high;
    int found = 0;
    int64_t best = 0;

    /* Each offset around local gives a candidate instant; a candidate is
     * real when the zone has that offset at that instant. */
    if (campaigns_tz_offset(tz, local - before) == before) {
        best = local - before;
        found = 1;
    }
    if (campaigns_tz_offset(tz, local - after) == after &&
        (!found || local - after < best)) {
        best = local - after;
        found = 1;
    }
    if (found)
        return best;

    /* A gap: the clocks changed between these two instants. */
    low = local - after;
    high = local - before;
    while (high - low > 1) {
        int64_t middle = low + (high - low) / 2;

        if (campaigns_tz_offset(tz, middle) == before)
            low = middle;
        else
            high = middle;
    }
    return floor_div(high + 59, 60) * 60;
}
