#include "core/clock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void fake_clock_set_and_advance(void **state)
{
    int64_t monotonic_before = clock_monotonic_ms();

    (void)state;
    clock_fake_set_ms(1000000);
    assert_int_equal(clock_now_ms(), 1000000);
    assert_int_equal(clock_now_s(), 1000);
    clock_fake_advance_ms(4 * 3600 * 1000LL);
    assert_int_equal(clock_now_ms(), 1000000 + 4 * 3600 * 1000LL);
    /* Waits measured on the monotonic clock end when a test advances. */
    assert_true(clock_monotonic_ms() - monotonic_before >= 4 * 3600 * 1000LL);
    clock_use_system();
    assert_true(clock_now_ms() > 1700000000000LL);
}

static void iso_format_and_parse(void **state)
{
    char text[32];

    (void)state;
    clock_format_iso(1764861437123LL, text);
    assert_string_equal(text, "2025-12-04T15:17:17.123Z");
    assert_int_equal(clock_parse_iso(text), 1764861437123LL);
    assert_int_equal(clock_parse_iso("2025-12-04T15:17:17Z"), 1764861437000LL);
    assert_int_equal(clock_parse_iso("2025-12-04T15:17:17.5+00:00"),
                     1764861437500LL);
    assert_int_equal(clock_parse_iso("2025-12-04T15:17:17.123456Z"),
                     1764861437123LL);
    assert_int_equal(clock_parse_iso("2025-12-04"), -1);
    assert_int_equal(clock_parse_iso("2025-12-04T15:17:17+02:00"), -1);
    assert_int_equal(clock_parse_iso(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fake_clock_set_and_advance),
        cmocka_unit_test(iso_format_and_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
