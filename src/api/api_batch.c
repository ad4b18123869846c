#include "api/api_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int api_batch_invalid_query(struct api_call *call, const char *name,
                            const char *message, const char *value)
{
    struct error err;

    error_set(&err, ERR_INVALID, "%s: invalid value \"%.40s\": %s", name, value,
              message);
    snprintf(err.code, sizeof(err.code), "%s", name);
    api_fail(call, &err);
    return -1;
}

int api_batch_query_limit(struct api_call *call, int fallback, int *limit)
{
    const char *text = http_request_query(call->req, "limit");
    char *end;
    long value;

    *limit = fallback;
    if (!text)
        return 0;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > 100)
        return api_batch_invalid_query(
            call, "limit", "expected an integer from 1 to 100", text);
    *limit = (int)value;
    return 0;
}

int api_batch_known_state(const char *state, const char *const *states,
                          size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(states[i], state) == 0)
            return 1;
    return 0;
}

/* Checks the shape of the targets; 0, or -1 with err and its field. */
static int check_targets(const json_t *list, const json_t *all, int all_ready,
                         size_t max_ids, struct error *err)
{
    if (all && !json_is_boolean(all)) {
        error_set(err, ERR_INVALID, "all_ready: expected true or false");
        snprintf(err->code, sizeof(err->code), "all_ready");
        return -1;
    }
    if ((list != NULL) == all_ready)
        error_set(err, ERR_INVALID,
                  "item_ids: send either item_ids or \"all_ready\": true");
    else if (list && (!json_is_array(list) || json_array_size(list) == 0 ||
                      json_array_size(list) > max_ids))
        error_set(err, ERR_INVALID,
                  "item_ids: expected an array of 1 to %zu item ids", max_ids);
    else
        return 0;
    snprintf(err->code, sizeof(err->code), "item_ids");
    return -1;
}

int api_batch_read_targets(struct api_call *call, const json_t *body,
                           size_t max_ids, const char ***ids, size_t *count,
                           int *all_ready)
{
    const json_t *list = json_object_get(body, "item_ids");
    const json_t *all = json_object_get(body, "all_ready");
    struct error err;
    size_t i;
    json_t *id;

    *ids = NULL;
    *count = 0;
    *all_ready = json_is_true(all);
    error_clear(&err);
    if (check_targets(list, all, *all_ready, max_ids, &err) != 0) {
        api_fail(call, &err);
        return -1;
    }
    if (!list)
        return 0;

    *ids = calloc(json_array_size(list), sizeof(**ids));
    if (!*ids) {
        error_set(&err, ERR_PERMANENT, "out of memory");
        api_fail(call, &err);
        return -1;
    }
    json_array_foreach(list, i, id)
    {
        if (!json_is_string(id)) {
            error_set(&err, ERR_INVALID, "item_ids[%zu]: expected an item id",
                      i);
            snprintf(err.code, sizeof(err.code), "item_ids");
            free(*ids);
            *ids = NULL;
            *count = 0;
            api_fail(call, &err);
            return -1;
        }
        (*ids)[(*count)++] = json_string_value(id);
    }
    return 0;
}
