#include "core/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { METRIC_COUNTER, METRIC_HISTOGRAM, METRIC_GAUGE };

/* Histogram bucket bounds in milliseconds, the last one being +Inf. */
static const double bucket_bounds_ms[] = {5,     10,    25,    50,    100,
                                          250,   500,   1000,  2500,  5000,
                                          10000, 30000, 60000, 120000};
#define BUCKET_COUNT (sizeof(bucket_bounds_ms) / sizeof(bucket_bounds_ms[0]))

struct series {
    char *name;
    char *labels;
    enum metric_type type;
    int64_t count; /* counter value, or histogram observation count */
    double sum;    /* histogram sum, or gauge value */
    int64_t buckets[BUCKET_COUNT];
    struct series *next;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *all_series;

/* Finds or creates a series; caller holds the lock. NULL when out of memory. */
static struct series *find_series(const char *name, const char *labels,
                                  enum metric_type type)
{
    struct series *s;

    labels = labels ? labels : "";
    for (s = all_series; s; s = s->next) {
        if (s->type == type && strcmp(s->name, name) == 0 &&
            strcmp(s->labels, labels) == 0)
            return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (!s->name || !s->labels) {
        free(s->name);
        free(s->labels);
        free(s);
        return NULL;
    }
    s->type = type;
    s->next = all_series;
    all_series = s;
    return s;
}

void metrics_count(const char *name, const char *labels, int64_t delta)
{
    struct series *s;

    pthread_mutex_lock(&metrics_lock);
    s = find_series(name, labels, METRIC_COUNTER);
    if (s)
        s->count += delta;
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_observe_ms(const char *name, const char *labels, double ms)
{
    struct series *s;

    pthread_mutex_lock(&metrics_lock);
    s = find_series(name, labels, METRIC_HISTOGRAM);
    if (s) {
        s->count++;
        s->sum += ms;
        for (size_t i = 0; i < BUCKET_COUNT; i++) {
            if (ms <= bucket_bounds_ms[i])
                s->buckets[i]++;
        }
    }
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_set(const char *name, const char *labels, double value)
{
    struct series *s;

    pthread_mutex_lock(&metrics_lock);
    s = find_series(name, labels, METRIC_GAUGE);
    if (s)
        s->sum = value;
    pthread_mutex_unlock(&metrics_lock);
}

int64_t metrics_counter_value(const char *name, const char *labels)
{
    int64_t value = 0;

    pthread_mutex_lock(&metrics_lock);
    for (struct series *s = all_series; s; s = s->next) {
        if (s->type == METRIC_COUNTER && strcmp(s->name, name) == 0 &&
            strcmp(s->labels, labels ? labels : "") == 0)
            value = s->count;
    }
    pthread_mutex_unlock(&metrics_lock);
    return value;
}

/* Writes "{labels,extra}" or "{extra}" or "" into out. */
static int append_labels(struct buf *out, const char *labels, const char *extra)
{
    int has_labels = labels && *labels;
    int has_extra = extra && *extra;

    if (!has_labels && !has_extra)
        return 0;
    return buf_printf(out, "{%s%s%s}", has_labels ? labels : "",
                      has_labels && has_extra ? "," : "",
                      has_extra ? extra : "");
}

static int render_series(struct buf *out, const struct series *s)
{
    int rc = 0;

    if (s->type == METRIC_COUNTER || s->type == METRIC_GAUGE) {
        rc |= buf_printf(out, "%s", s->name);
        rc |= append_labels(out, s->labels, NULL);
        if (s->type == METRIC_COUNTER)
            return rc | buf_printf(out, " %lld\n", (long long)s->count);
        return rc | buf_printf(out, " %g\n", s->sum);
    }
    for (size_t i = 0; i < BUCKET_COUNT; i++) {
        char bound[48];

        snprintf(bound, sizeof(bound), "le=\"%g\"", bucket_bounds_ms[i]);
        rc |= buf_printf(out, "%s_bucket", s->name);
        rc |= append_labels(out, s->labels, bound);
        rc |= buf_printf(out, " %lld\n", (long long)s->buckets[i]);
    }
    rc |= buf_printf(out, "%s_bucket", s->name);
    rc |= append_labels(out, s->labels, "le=\"+Inf\"");
    rc |= buf_printf(out, " %lld\n%s_sum", (long long)s->count, s->name);
    rc |= append_labels(out, s->labels, NULL);
    rc |= buf_printf(out, " %g\n%s_count", s->sum, s->name);
    rc |= append_labels(out, s->labels, NULL);
    return rc | buf_printf(out, " %lld\n", (long long)s->count);
}

int metrics_render(struct buf *out)
{
    static const char *const type_names[] = {"counter", "histogram", "gauge"};
    int rc = 0;

    pthread_mutex_lock(&metrics_lock);
    for (struct series *s = all_series; s; s = s->next) {
        int seen = 0;

        /* A name's series are written together, after one TYPE line. */
        for (struct series *t = all_series; t != s && !seen; t = t->next)
            seen = strcmp(t->name, s->name) == 0;
        if (seen)
            continue;
        rc |= buf_printf(out, "# TYPE %s %s\n", s->name, type_names[s->type]);
        for (struct series *t = s; t; t = t->next) {
            if (strcmp(t->name, s->name) == 0)
                rc |= render_series(out, t);
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    return rc ? -1 : 0;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    while (all_series) {
        struct series *next = all_series->next;

        free(all_series->name);
        free(all_series->labels);
        free(all_series);
        all_series = next;
    }
    pthread_mutex_unlock(&metrics_lock);
}
