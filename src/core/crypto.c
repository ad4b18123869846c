#include "core/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void crypto_random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];

    while (bytes > 0) {
        size_t chunk = bytes < sizeof(raw) ? bytes : sizeof(raw);

        randombytes_buf(raw, chunk);
        sodium_bin2hex(out, chunk * 2 + 1, raw, chunk);
        out += chunk * 2;
        bytes -= chunk;
    }
    *out = '\0';
}

void crypto_uuid(char out[37])
{
    unsigned char raw[16];

    randombytes_buf(raw, sizeof(raw));
    raw[6] = (unsigned char)((raw[6] & 0x0f) | 0x40);
    raw[8] = (unsigned char)((raw[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
             raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14],
             raw[15]);
}

uint32_t crypto_random_below(uint32_t upper)
{
    return upper ? randombytes_uniform(upper) : 0;
}

size_t crypto_base64url_size(size_t len)
{
    return sodium_base64_ENCODED_LEN(len,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void crypto_base64url_encode(const unsigned char *data, size_t len, char *out,
                             size_t size)
{
    sodium_bin2base64(out, size, data, len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long crypto_base64url_decode(const char *text, size_t text_len,
                             unsigned char *out, size_t size)
{
    char *normal = malloc(text_len + 1);
    size_t written = 0;
    size_t n = 0;
    int rc;

    if (!normal)
        return -1;
    /* Normalise standard base64 to the URL-safe alphabet, drop padding. */
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];

        if (c == '=')
            break;
        normal[n++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    rc = sodium_base642bin(out, size, normal, n, NULL, &written, NULL,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(normal);
    return rc == 0 ? (long)written : -1;
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                        size_t data_len, unsigned char out[32])
{
    unsigned int out_len = 32;

    HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out, &out_len);
}

void crypto_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[32];

    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(out, 65, digest, sizeof(digest));
}

int crypto_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

int crypto_parse_key(const char *text, unsigned char key[CRYPTO_KEY_BYTES],
                     struct error *err)
{
    size_t length = text ? strlen(text) : 0;
    size_t written = 0;

    if (length == 64 &&
        sodium_hex2bin(key, CRYPTO_KEY_BYTES, text, length, NULL, &written,
                       NULL) == 0 &&
        written == CRYPTO_KEY_BYTES)
        return 0;
    if (length > 0 &&
        crypto_base64url_decode(text, length, key, CRYPTO_KEY_BYTES) ==
            CRYPTO_KEY_BYTES)
        return 0;
    return error_set(err, ERR_INVALID,
                     "SITESMITH_SECRET_KEY: invalid key: expected 32 bytes "
                     "as 64 hex characters or base64 (make one with "
                     "`openssl rand -hex 32`)");
}

char *crypto_seal(const unsigned char key[CRYPTO_KEY_BYTES],
                  const char *plaintext)
{
    size_t length = strlen(plaintext);
    size_t box_length =
        crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + length;
    unsigned char *box = malloc(box_length);
    size_t text_size = crypto_base64url_size(box_length) + 3;
    char *text = malloc(text_size);

    if (!box || !text) {
        free(box);
        free(text);
        return NULL;
    }
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES,
                          (const unsigned char *)plaintext, length, box, key);
    memcpy(text, "v1.", 3);
    crypto_base64url_encode(box, box_length, text + 3, text_size - 3);
    sodium_memzero(box, box_length);
    free(box);
    return text;
}

char *crypto_open(const unsigned char key[CRYPTO_KEY_BYTES], const char *sealed,
                  struct error *err)
{
    size_t text_length = sealed ? strlen(sealed) : 0;
    unsigned char *box;
    char *plain;
    long box_length;

    if (text_length < 4 || strncmp(sealed, "v1.", 3) != 0) {
        error_set(err, ERR_PERMANENT, "stored secret has an unknown format");
        return NULL;
    }
    box = malloc(text_length);
    if (!box) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    box_length =
        crypto_base64url_decode(sealed + 3, text_length - 3, box, text_length);
    if (box_length <
        (long)(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)) {
        free(box);
        error_set(err, ERR_PERMANENT, "stored secret is damaged");
        return NULL;
    }
    plain = malloc((size_t)box_length);
    if (!plain ||
        crypto_secretbox_open_easy(
            (unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
            (size_t)box_length - crypto_secretbox_NONCEBYTES, box, key) != 0) {
        free(box);
        free(plain);
        error_set(err, ERR_PERMANENT,
                  "stored secret can't be decrypted: was SITESMITH_SECRET_KEY "
                  "changed?");
        return NULL;
    }
    plain[(size_t)box_length - crypto_secretbox_NONCEBYTES -
          crypto_secretbox_MACBYTES] = '\0';
    free(box);
    return plain;
}
