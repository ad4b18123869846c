#include "core/config.h"
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char *write_temp(const char *text)
{
    static char path[64];
    FILE *file;

    snprintf(path, sizeof(path), "/tmp/sitesmith-config-XXXXXX");
    file = fdopen(mkstemp(path), "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    return path;
}

static void file_values_and_environment_override(void **state)
{
    const char *path = write_temp("# comment\n\nSITESMITH_A=one\n"
                                  "SITESMITH_B = \"two words\"\n");
    struct error err;
    struct config *cfg;

    (void)state;
    setenv("SITESMITH_B", "from-env", 1);
    cfg = config_load(path, &err);
    assert_non_null(cfg);
    assert_string_equal(config_get(cfg, "SITESMITH_A"), "one");
    assert_string_equal(config_get(cfg, "SITESMITH_B"), "from-env");
    assert_null(config_get(cfg, "SITESMITH_MISSING"));
    assert_string_equal(config_get_string(cfg, "SITESMITH_MISSING", "x"), "x");
    unsetenv("SITESMITH_B");
    config_free(cfg);
    unlink(path);
}

static void malformed_file_line_named(void **state)
{
    const char *path = write_temp("SITESMITH_A=1\nthis line has no equals\n");
    struct error err;

    (void)state;
    assert_null(config_load(path, &err));
    assert_non_null(strstr(err.message, ":2:"));
    assert_non_null(strstr(err.message, "expected KEY=VALUE"));
    unlink(path);
    assert_null(config_load("/nonexistent/sitesmith.conf", &err));
    assert_non_null(strstr(err.message, "/nonexistent/sitesmith.conf"));
}

static void int_errors_name_variable_value_range(void **state)
{
    struct config *cfg = config_new_empty();
    struct error err;
    int64_t value = 0;

    (void)state;
    assert_int_equal(config_get_int(cfg, "SITESMITH_N", 7, 1, 10, &value, &err),
                     0);
    assert_int_equal(value, 7);
    config_set(cfg, "SITESMITH_N", "12");
    assert_int_equal(config_get_int(cfg, "SITESMITH_N", 7, 1, 10, &value, &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "SITESMITH_N"));
    assert_non_null(strstr(err.message, "\"12\""));
    assert_non_null(strstr(err.message, "from 1 to 10"));
    config_set(cfg, "SITESMITH_N", "4x");
    assert_int_equal(config_get_int(cfg, "SITESMITH_N", 7, 1, 10, &value, &err),
                     -1);
    config_set(cfg, "SITESMITH_N", " 5 ");
    assert_int_equal(config_get_int(cfg, "SITESMITH_N", 7, 1, 10, &value, &err),
                     0);
    assert_int_equal(value, 5);
    config_free(cfg);
}

static void durations_bools_and_urls(void **state)
{
    struct config *cfg = config_new_empty();
    struct error err;
    char url[128];
    int64_t ms = 0;
    int flag = 0;

    (void)state;
    config_set(cfg, "SITESMITH_D", "5m");
    assert_int_equal(config_get_duration_ms(cfg, "SITESMITH_D", 0, &ms, &err),
                     0);
    assert_int_equal(ms, 300000);
    config_set(cfg, "SITESMITH_D", "250ms");
    assert_int_equal(config_get_duration_ms(cfg, "SITESMITH_D", 0, &ms, &err),
                     0);
    assert_int_equal(ms, 250);
    config_set(cfg, "SITESMITH_D", "soon");
    assert_int_equal(config_get_duration_ms(cfg, "SITESMITH_D", 0, &ms, &err),
                     -1);
    assert_non_null(strstr(err.message, "\"soon\""));

    config_set(cfg, "SITESMITH_F", "yes");
    assert_int_equal(config_get_bool(cfg, "SITESMITH_F", 0, &flag, &err), 0);
    assert_int_equal(flag, 1);
    config_set(cfg, "SITESMITH_F", "maybe");
    assert_int_equal(config_get_bool(cfg, "SITESMITH_F", 0, &flag, &err), -1);

    config_set(cfg, "SITESMITH_U", "http://127.0.0.1:9/wix/");
    assert_int_equal(
        config_get_url(cfg, "SITESMITH_U", NULL, url, sizeof(url), &err), 0);
    assert_string_equal(url, "http://127.0.0.1:9/wix");
    config_set(cfg, "SITESMITH_U", "ftp://example");
    assert_int_equal(
        config_get_url(cfg, "SITESMITH_U", NULL, url, sizeof(url), &err), -1);
    assert_non_null(strstr(err.message, "SITESMITH_U"));
    config_free(cfg);
}

static void secret_values_never_printed(void **state)
{
    struct config *cfg = config_new_empty();
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    struct error err;
    int64_t value;

    (void)state;
    config_set(cfg, "SITESMITH_WIX_APP_SECRET", "super-secret-value-123");
    config_set(cfg, "OPENAI_API_KEY", "sk-test-key-456789");
    config_describe(cfg, out);
    fclose(out);
    assert_null(strstr(text, "super-secret-value-123"));
    assert_null(strstr(text, "sk-test-key-456789"));
    assert_non_null(strstr(text, "SITESMITH_WIX_APP_SECRET="));
    free(text);

    /* An invalid secret is reported without its value. */
    assert_int_equal(
        config_get_int(cfg, "SITESMITH_WIX_APP_SECRET", 0, 0, 1, &value, &err),
        -1);
    assert_null(strstr(err.message, "super-secret-value-123"));
    assert_true(config_is_secret("REPLICATE_API_TOKEN"));
    assert_true(config_is_secret("SITESMITH_DATABASE_URL"));
    assert_false(config_is_secret("SITESMITH_LISTEN"));
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_values_and_environment_override),
        cmocka_unit_test(malformed_file_line_named),
        cmocka_unit_test(int_errors_name_variable_value_range),
        cmocka_unit_test(durations_bools_and_urls),
        cmocka_unit_test(secret_values_never_printed),
    };

    log_set_level(LOG_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
