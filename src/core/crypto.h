/*
 * Small wrappers over libsodium and OpenSSL: random ids, base64url, HMAC,
 * and authenticated encryption of secrets at rest.
 */
#ifndef SITESMITH_CORE_CRYPTO_H
#define SITESMITH_CORE_CRYPTO_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

/* Initialises libsodium; safe to call more than once. Returns -1 on failure. */
int crypto_init(void);

/* Fills out with 2*bytes lowercase hex characters of randomness and a NUL. */
void crypto_random_hex(char *out, size_t bytes);

/* A random version-4 UUID in its 36-character text form, into out[37]. */
void crypto_uuid(char out[37]);

/* A uniformly random number in [0, upper). */
uint32_t crypto_random_below(uint32_t upper);

/*
 * base64url without padding. Encode writes a NUL-terminated string into out
 * (size must be at least crypto_base64url_size(len)). Decode accepts
 * base64url or standard base64, with or without padding, and returns the
 * decoded length or -1.
 */
size_t crypto_base64url_size(size_t len);
void crypto_base64url_encode(const unsigned char *data, size_t len, char *out,
                             size_t size);
long crypto_base64url_decode(const char *text, size_t text_len,
                             unsigned char *out, size_t size);

/* HMAC-SHA256 of data with key into out[32]. */
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
                        size_t data_len, unsigned char out[32]);

/* SHA-256 of data as 64 hex characters and a NUL into out[65]. */
void crypto_sha256_hex(const void *data, size_t len, char out[65]);

/* Compares n bytes in time that does not depend on the contents. */
int crypto_equal(const void *a, const void *b, size_t n);

/*
 * Secrets at rest: XChaCha20-Poly1305 (libsodium secretbox) under a 32-byte
 * key, given as 64 hex characters or base64 (SITESMITH_SECRET_KEY).
 */
#define CRYPTO_KEY_BYTES 32
int crypto_parse_key(const char *text, unsigned char key[CRYPTO_KEY_BYTES],
                     struct error *err);

/*
 * Encrypts plaintext into a printable string "v1.<base64url(nonce|box)>".
 * The caller frees the result. NULL on failure.
 */
char *crypto_seal(const unsigned char key[CRYPTO_KEY_BYTES],
                  const char *plaintext);

/*
 * Decrypts a string made by crypto_seal(). Returns a new NUL-terminated
 * string, or NULL with err set when the key is wrong or the text altered.
 */
char *crypto_open(const unsigned char key[CRYPTO_KEY_BYTES], const char *sealed,
                  struct error *err);

#endif
