/*
 * Mapping of Wix error responses to error kinds, on bodies in the shapes
 * that Wix and its SDK produce (string and numeric codes, empty bodies,
 * validation errors, 403s that blame the token).
 */
#include "core/buf.h"
#include "wix/wix.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define SITE "site-1"
#define PERMISSION "Manage Products (SCOPE.DC-STORES.MANAGE-PRODUCTS)"

static struct error map(long status, const char *body, const char *name,
                        const char *value)
{
    struct http_client_header headers[2] = {
        {.name = "x-wix-request-id", .value = "req-123"},
        {.name = (char *)name, .value = (char *)value},
    };
    struct http_client_response resp;
    struct error err;

    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    buf_init(&resp.body, 1 << 16);
    if (body)
        assert_int_equal(buf_append_str(&resp.body, body), 0);
    resp.headers = headers;
    resp.header_count = name ? 2 : 1;
    error_clear(&err);
    assert_int_equal(wix_error_from_response(&resp, SITE, "get product p1",
                                             PERMISSION, 60000, &err),
                     -1);
    buf_free(&resp.body);
    return err;
}

static void unauthenticated_maps_to_unauthorized(void **state)
{
    struct error err =
        map(401,
            "{\"message\":\"Not authenticated: UNKNOWN\",\"details\":"
            "{\"applicationError\":{\"code\":\"UNAUTHENTICATED\","
            "\"description\":\"Not authenticated: UNKNOWN\",\"data\":{}}}}",
            NULL, NULL);

    (void)state;
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_int_equal(err.http_status, 401);
    assert_string_equal(err.code, "UNAUTHENTICATED");
    assert_string_equal(err.request_id, "req-123");
    assert_non_null(strstr(err.message, "get product p1 on site site-1"));
    assert_non_null(strstr(err.message, "Not authenticated"));
}

static void token_403_maps_to_unauthorized(void **state)
{
    struct error expired =
        map(403,
            "{\"message\":\"Not authenticated: UNKNOWN\",\"details\":"
            "{\"applicationError\":{\"code\":\"UNAUTHENTICATED\"}}}",
            NULL, NULL);
    struct error worded =
        map(403, "{\"message\":\"Token has expired\"}", NULL, NULL);
    struct error legacy =
        map(400, "{\"errorDescription\":\"Wix: invalid_token\"}", NULL, NULL);

    (void)state;
    assert_int_equal(expired.kind, ERR_UNAUTHORIZED);
    assert_int_equal(worded.kind, ERR_UNAUTHORIZED);
    assert_int_equal(legacy.kind, ERR_UNAUTHORIZED);
}

static void permission_403_names_permission(void **state)
{
    struct error denied =
        map(403,
            "{\"message\":\"Permission denied\",\"details\":"
            "{\"applicationError\":{\"code\":\"PERMISSION_DENIED\"}}}",
            NULL, NULL);
    /* The SDK's wrapped form: an empty message and a numeric code. */
    struct error wrapped =
        map(403,
            "{\"message\":\"\",\"details\":{\"applicationError\":"
            "{\"description\":\"\",\"code\":403}}}",
            NULL, NULL);

    (void)state;
    assert_int_equal(denied.kind, ERR_FORBIDDEN);
    assert_string_equal(denied.code, "PERMISSION_DENIED");
    assert_non_null(strstr(denied.message, PERMISSION));
    assert_non_null(strstr(denied.message, "app dashboard"));
    assert_int_equal(wrapped.kind, ERR_FORBIDDEN);
    assert_string_equal(wrapped.code, "403");
    assert_non_null(strstr(wrapped.message, PERMISSION));
}

static void client_errors_keep_their_kind(void **state)
{
    struct error not_found =
        map(404,
            "{\"message\":\"Entity not found\",\"details\":"
            "{\"applicationError\":{\"code\":\"NOT_FOUND\"}}}",
            NULL, NULL);
    struct error conflict =
        map(409,
            "{\"message\":\"Already exists\",\"details\":"
            "{\"applicationError\":{\"code\":\"ALREADY_EXISTS\"}}}",
            NULL, NULL);
    struct error invalid =
        map(400,
            "{\"message\":\"invalid product\",\"details\":{\"validationError\":"
            "{\"fieldViolations\":[{\"field\":\"product.name\",\"description\":"
            "\"must be at most 80 characters\"}]}}}",
            NULL, NULL);
    struct error catalog =
        map(428,
            "{\"message\":\"Endpoint belongs to the wrong catalog version.\","
            "\"details\":{\"applicationError\":{\"code\":"
            "\"CATALOG_V3_SITE_CALLING_CATALOG_V1_API\"}}}",
            NULL, NULL);

    (void)state;
    assert_int_equal(not_found.kind, ERR_NOT_FOUND);
    assert_string_equal(not_found.code, "NOT_FOUND");
    assert_int_equal(conflict.kind, ERR_CONFLICT);
    assert_int_equal(invalid.kind, ERR_INVALID);
    assert_non_null(strstr(invalid.message, "product.name"));
    assert_non_null(strstr(invalid.message, "at most 80"));
    assert_int_equal(catalog.kind, ERR_PERMANENT);
    assert_string_equal(catalog.code, "CATALOG_V3_SITE_CALLING_CATALOG_V1_API");
    assert_non_null(strstr(catalog.message, "catalog version"));
}

static void rate_limit_carries_wait(void **state)
{
    struct error with_header =
        map(429, "{\"message\":\"Resource exhausted\"}", "retry-after", "7");
    struct error without = map(429, "", NULL, NULL);

    (void)state;
    assert_int_equal(with_header.kind, ERR_RATE_LIMITED);
    assert_int_equal(with_header.retry_after_ms, 7000);
    assert_int_equal(without.kind, ERR_RATE_LIMITED);
    assert_int_equal(without.retry_after_ms, 60000);
}

static void server_errors_are_retryable(void **state)
{
    static const long statuses[] = {500, 502, 503, 504, 408};

    (void)state;
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        struct error empty = map(statuses[i], "", NULL, NULL);
        struct error garbage = map(statuses[i], "<html>oops", NULL, NULL);

        assert_int_equal(empty.kind, ERR_RETRYABLE);
        assert_int_equal(empty.http_status, statuses[i]);
        assert_non_null(strstr(empty.message, "no message"));
        assert_int_equal(garbage.kind, ERR_RETRYABLE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unauthenticated_maps_to_unauthorized),
        cmocka_unit_test(token_403_maps_to_unauthorized),
        cmocka_unit_test(permission_403_names_permission),
        cmocka_unit_test(client_errors_keep_their_kind),
        cmocka_unit_test(rate_limit_carries_wait),
        cmocka_unit_test(server_errors_are_retryable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
