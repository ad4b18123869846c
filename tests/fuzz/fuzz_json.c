/*
 * libFuzzer target for the API's JSON request parsing: the parser with
 * the API's nesting limit, then the request checks of the blog and
 * product routes on what it accepts. Each check must return a result or
 * an invalid-input error that names the field; anything else aborts.
 */
#include "api/api.h"
#include "core/json.h"
#include "pipelines/blog_internal.h"
#include "pipelines/products_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A rejected request must be ERR_INVALID with a message. */
static void check_rejection(const json_t *result, const struct error *err)
{
    if (result)
        return;
    if (err->kind != ERR_INVALID || !err->message[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error err;
    json_t *request;
    json_t *result;

    error_clear(&err);
    request = json_parse((const char *)data, size, API_MAX_JSON_DEPTH, &err);
    if (!request) {
        if (err.kind != ERR_INVALID || !err.message[0])
            abort();
        return 0;
    }
    if (!json_is_object(request)) {
        json_decref(request);
        return 0;
    }

    error_clear(&err);
    result = blog_request_validate(request, &err);
    check_rejection(result, &err);
    json_decref(result);
    for (int catalog = 1; catalog <= 3; catalog += 2) {
        error_clear(&err);
        result = products_settings_from_request(request, catalog, &err);
        check_rejection(result, &err);
        json_decref(result);
    }
    json_decref(request);
    return 0;
}
