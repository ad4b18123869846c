#include "ai_faults.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void ai_faults_add(struct ai_sandbox *sandbox, const char *spec_json)
{
    json_t *rule = ai_sandbox_json(sandbox, "POST", "/__sandbox/faults", NULL,
                                   spec_json, 201);

    json_decref(rule);
}

void ai_faults_addf(struct ai_sandbox *sandbox, const char *fmt, ...)
{
    char spec[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(spec, sizeof(spec), fmt, ap);
    va_end(ap);
    ai_faults_add(sandbox, spec);
}

static int entry_matches(const json_t *entry, const char *method,
                         const char *path_prefix, int status)
{
    const char *entry_method =
        json_string_value(json_object_get(entry, "method"));
    const char *path = json_string_value(json_object_get(entry, "path"));
    const json_t *entry_status = json_object_get(entry, "status");

    if (!entry_method || !path || strcmp(entry_method, method) != 0 ||
        strncmp(path, path_prefix, strlen(path_prefix)) != 0)
        return 0;
    return status == -1 || (json_is_integer(entry_status) &&
                            json_integer_value(entry_status) == status);
}

/* Calls fn on each matching log entry; stops when it returns nonzero. */
static void each_entry(struct ai_sandbox *sandbox, const char *method,
                       const char *path_prefix, int status,
                       int (*fn)(const json_t *entry, void *arg), void *arg)
{
    json_t *log =
        ai_sandbox_json(sandbox, "GET", "/__sandbox/requests", NULL, NULL, 200);
    json_t *entries = json_object_get(log, "requests");
    json_t *entry;
    size_t i;

    assert_true(json_is_array(entries));
    json_array_foreach(entries, i, entry)
    {
        if (entry_matches(entry, method, path_prefix, status) && fn(entry, arg))
            break;
    }
    json_decref(log);
}

static int count_one(const json_t *entry, void *arg)
{
    (void)entry;
    (*(int *)arg)++;
    return 0;
}

int ai_faults_count(struct ai_sandbox *sandbox, const char *method,
                    const char *path_prefix, int status)
{
    int count = 0;

    each_entry(sandbox, method, path_prefix, status, count_one, &count);
    return count;
}

struct time_list {
    int64_t *times;
    size_t count;
    size_t max;
};

static int take_time(const json_t *entry, void *arg)
{
    struct time_list *list = arg;

    list->times[list->count++] =
        json_integer_value(json_object_get(entry, "time_ms"));
    return list->count == list->max;
}

size_t ai_faults_times(struct ai_sandbox *sandbox, const char *method,
                       const char *path_prefix, int64_t *times, size_t max)
{
    struct time_list list = {.times = times, .max = max};

    if (max > 0)
        each_entry(sandbox, method, path_prefix, -1, take_time, &list);
    return list.count;
}
