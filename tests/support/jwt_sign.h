/*
 * JWTs for tests: RSA key pairs and compact JWS strings signed with
 * RS256, HS256 or "none", so that tests can make both Wix's webhooks and
 * forgeries of them.
 */
#ifndef SITESMITH_TEST_JWT_SIGN_H
#define SITESMITH_TEST_JWT_SIGN_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>

/* A new RSA key pair of bits bits. Fails the test on error. */
EVP_PKEY *jwt_sign_keygen(int bits);

/* The public half as PEM: SubjectPublicKeyInfo, or PKCS#1 ("RSA PUBLIC
 * KEY") when pkcs1 is set. The caller frees the string. */
char *jwt_sign_public_pem(EVP_PKEY *key, int pkcs1);

/*
 * Makes "<header>.<claims>.<signature>" for claims (JSON text) with the
 * header {"alg": alg, "typ": "JWT", "kid": "test"}: alg "RS256" signs with
 * key, "HS256" signs with hmac_secret, anything else leaves the signature
 * empty. The caller frees the string.
 */
char *jwt_sign_make(EVP_PKEY *key, const char *alg, const char *hmac_secret,
                    const char *claims);

/*
 * The claims of a Wix webhook: {"data": envelope, "iat", "exp"} where the
 * envelope is {"eventType", "instanceId", "data": payload} serialised as a
 * string and payload (JSON text) is serialised inside it. The caller frees
 * the string.
 */
char *jwt_sign_wix_claims(const char *event_type, const char *instance_id,
                          const char *payload, int64_t iat_s, int64_t exp_s);

#endif
