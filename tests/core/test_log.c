#include "core/clock.h"
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Runs fn with the log sent to memory and returns what it wrote. */
static char *capture(void (*fn)(void))
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    log_set_output(out);
    fn();
    log_set_output(NULL);
    fclose(out);
    return text;
}

static void write_info_line(void)
{
    log_info("queue", "job finished job=%d instance=%s", 12, "abc");
    log_debug("queue", "not shown at info");
}

static void line_has_time_level_component(void **state)
{
    char *text;

    (void)state;
    clock_fake_set_ms(1764861437123LL);
    log_set_level(LOG_INFO);
    text = capture(write_info_line);
    assert_string_equal(text, "2025-12-04T15:17:17.123Z INFO queue: job "
                              "finished job=12 instance=abc\n");
    free(text);
    clock_use_system();
}

static void write_secret_line(void)
{
    log_warn("auth",
             "token refresh failed token=wix-token-0123456789 "
             "body=\"{\\\"access_token\\\":\\\"wix-token-0123456789\\\"}\"");
    log_error("auth", "multi\nline message");
}

static void registered_secrets_redacted(void **state)
{
    char *text;

    (void)state;
    log_set_level(LOG_DEBUG);
    log_add_secret("wix-token-0123456789");
    log_add_secret("short"); /* too short to register */
    text = capture(write_secret_line);
    assert_null(strstr(text, "wix-token-0123456789"));
    assert_non_null(strstr(text, "token=[redacted]"));
    /* A newline in a message can't split an event over two lines. */
    assert_non_null(strstr(text, "multi line message\n"));
    free(text);
    log_clear_secrets();
}

static void redact_shows_only_length(void **state)
{
    char out[64];

    (void)state;
    assert_string_equal(log_redact("sk-abcdefghijklmnop", out, sizeof(out)),
                        "sk…(19 chars)");
    assert_string_equal(log_redact("abc", out, sizeof(out)), "[redacted]");
    assert_string_equal(log_redact(NULL, out, sizeof(out)), "[redacted]");
}

static void level_parsing(void **state)
{
    enum log_level level;

    (void)state;
    assert_int_equal(log_parse_level("WARN", &level), 0);
    assert_int_equal(level, LOG_WARN);
    assert_int_equal(log_parse_level("loud", &level), -1);
    setenv("SITESMITH_LOG_LEVEL", "verbose", 1);
    assert_int_equal(log_init_from_env(), -1);
    setenv("SITESMITH_LOG_LEVEL", "error", 1);
    assert_int_equal(log_init_from_env(), 0);
    assert_int_equal(log_get_level(), LOG_ERROR);
    unsetenv("SITESMITH_LOG_LEVEL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_has_time_level_component),
        cmocka_unit_test(registered_secrets_redacted),
        cmocka_unit_test(redact_shows_only_length),
        cmocka_unit_test(level_parsing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
