#include "core/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *parse(const char *text)
{
    struct error err;
    json_t *root = json_parse(text, strlen(text), 32, &err);

    assert_non_null(root);
    return root;
}

static void paths_reach_nested_values(void **state)
{
    json_t *root = parse("{\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                         "\"usage\":{\"total_tokens\":42},\"ok\":true}");
    const char *text = NULL;
    int64_t number = 0;
    int flag = 0;
    struct error err;

    (void)state;
    assert_int_equal(
        json_get_string(root, "choices[0].message.content", &text, &err), 0);
    assert_string_equal(text, "hi");
    assert_int_equal(json_get_int(root, "usage.total_tokens", &number, &err),
                     0);
    assert_int_equal(number, 42);
    assert_int_equal(json_get_bool(root, "ok", &flag, &err), 0);
    assert_true(flag);
    assert_null(json_at(root, "choices[1].message"));
    assert_null(json_at(root, "usage.total_tokens.deeper"));
    json_decref(root);
}

static void errors_name_the_path(void **state)
{
    json_t *root = parse("{\"draftPost\":{\"title\":null,\"id\":7}}");
    const char *text = NULL;
    json_t *array = NULL;
    struct error err;

    (void)state;
    assert_int_equal(json_get_string(root, "draftPost.title", &text, &err), -1);
    assert_string_equal(err.message,
                        "draftPost.title: expected a string, found null");
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(json_get_string(root, "draftPost.id", &text, &err), -1);
    assert_string_equal(err.message,
                        "draftPost.id: expected a string, found an integer");
    assert_int_equal(json_get_array(root, "draftPost.hashtags", &array, &err),
                     -1);
    assert_string_equal(err.message,
                        "draftPost.hashtags: missing, expected an array");
    json_decref(root);
}

static void optional_fields_take_fallback(void **state)
{
    json_t *root = parse("{\"a\":null,\"b\":\"x\",\"c\":3}");
    const char *text = NULL;
    int64_t number = 0;
    struct error err;

    (void)state;
    assert_int_equal(json_opt_string(root, "a", "dflt", &text, &err), 0);
    assert_string_equal(text, "dflt");
    assert_int_equal(json_opt_string(root, "missing", NULL, &text, &err), 0);
    assert_null(text);
    assert_int_equal(json_opt_string(root, "b", "dflt", &text, &err), 0);
    assert_string_equal(text, "x");
    assert_int_equal(json_opt_int(root, "b", 5, &number, &err), -1);
    assert_int_equal(json_opt_int(root, "c", 5, &number, &err), 0);
    assert_int_equal(number, 3);
    json_decref(root);
}

static void parse_rejects_depth_and_syntax(void **state)
{
    struct error err;
    char deep[200];

    (void)state;
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_null(json_parse(deep, sizeof(deep), 32, &err));
    assert_non_null(strstr(err.message, "deeper than 32"));
    assert_null(json_parse("{\"a\":1,}", 8, 32, &err));
    assert_non_null(strstr(err.message, "invalid JSON at line 1"));
    assert_null(json_parse("{\"a\":1,\"a\":2}", 13, 32, &err));
    /* Brackets inside strings don't count towards depth. */
    json_decref(parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paths_reach_nested_values),
        cmocka_unit_test(errors_name_the_path),
        cmocka_unit_test(optional_fields_take_fallback),
        cmocka_unit_test(parse_rejects_depth_and_syntax),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
