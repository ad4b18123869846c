#include "core/buf.h"
#include "core/crypto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void buf_stops_at_maximum(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_append_str(&b, "hello"), 0);
    assert_int_equal(buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(buf_append_str(&b, "xy"), -1);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(buf_append_str(&b, "z"), 0);
    assert_int_equal(b.len, 10);
    buf_free(&b);
}

static void base64url_round_trip(void **state)
{
    const unsigned char data[] = {0xfb, 0xff, 0x00, 0x41, 0x42};
    unsigned char back[16];
    char text[16];

    (void)state;
    crypto_base64url_encode(data, sizeof(data), text, sizeof(text));
    assert_string_equal(text, "-_8AQUI");
    assert_int_equal(
        crypto_base64url_decode(text, strlen(text), back, sizeof(back)), 5);
    assert_memory_equal(back, data, 5);
    /* Standard alphabet and padding are accepted too. */
    assert_int_equal(crypto_base64url_decode("+/8AQUI=", 8, back, sizeof(back)),
                     5);
    assert_int_equal(crypto_base64url_decode("%%%", 3, back, sizeof(back)), -1);
}

static void hmac_matches_known_vector(void **state)
{
    unsigned char mac[32];
    char hex[65];
    static const char expected[] =
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    (void)state;
    /* RFC 4231 test case 2. */
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    assert_string_equal(hex, expected);
}

static void sealed_secret_round_trip(void **state)
{
    unsigned char key[CRYPTO_KEY_BYTES];
    unsigned char other[CRYPTO_KEY_BYTES];
    struct error err;
    char *sealed;
    char *opened;

    (void)state;
    assert_int_equal(crypto_parse_key("000102030405060708090a0b0c0d0e0f"
                                      "101112131415161718191a1b1c1d1e1f",
                                      key, &err),
                     0);
    assert_int_equal(crypto_parse_key("too-short", other, &err), -1);
    assert_non_null(strstr(err.message, "SITESMITH_SECRET_KEY"));
    sealed = crypto_seal(key, "refresh-token-value");
    assert_non_null(sealed);
    assert_null(strstr(sealed, "refresh-token-value"));
    opened = crypto_open(key, sealed, &err);
    assert_string_equal(opened, "refresh-token-value");
    free(opened);

    memset(other, 7, sizeof(other));
    assert_null(crypto_open(other, sealed, &err));
    assert_non_null(strstr(err.message, "SITESMITH_SECRET_KEY"));
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
    assert_null(crypto_open(key, sealed, &err));
    free(sealed);
}

static void uuids_are_unique_v4(void **state)
{
    char a[37];
    char b[37];

    (void)state;
    crypto_uuid(a);
    crypto_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_stops_at_maximum),
        cmocka_unit_test(base64url_round_trip),
        cmocka_unit_test(hmac_matches_known_vector),
        cmocka_unit_test(sealed_secret_round_trip),
        cmocka_unit_test(uuids_are_unique_v4),
    };

    assert_int_equal(crypto_init(), 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
