#include "auth/webhook.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"

#include <openssl/decoder.h>
#include <openssl/evp.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 16
#define KEY_FILE_MAX (64 * 1024)
/* iat and exp beyond the year 10000 are nonsense. */
#define CLAIM_SECONDS_MAX 253402300799.0

struct auth_webhook_key {
    EVP_PKEY *pkey;
};

/* ------------------------------------------------------------------ */
/* Loading the key                                                     */
/* ------------------------------------------------------------------ */

/* A copy of pem with each two-character "\n" turned into a line break. */
static char *unescape_newlines(const char *pem)
{
    char *out = malloc(strlen(pem) + 1);
    char *end = out;

    if (!out)
        return NULL;
    for (const char *c = pem; *c; c++) {
        if (c[0] == '\\' && c[1] == 'n') {
            *end++ = '\n';
            c++;
        } else {
            *end++ = *c;
        }
    }
    *end = '\0';
    return out;
}

static char *read_key_file(const char *path, struct error *err)
{
    FILE *file = fopen(path, "rb");
    char *text;
    size_t length;

    if (!file) {
        error_set(err, ERR_INVALID,
                  "webhook public key: \"%.200s\" is neither PEM text nor a "
                  "readable file",
                  path);
        return NULL;
    }
    text = malloc(KEY_FILE_MAX + 1);
    length = text ? fread(text, 1, KEY_FILE_MAX + 1, file) : 0;
    fclose(file);
    if (!text || length == 0 || length > KEY_FILE_MAX) {
        free(text);
        error_set(err, ERR_INVALID,
                  "webhook public key file \"%.200s\" is empty or larger "
                  "than %d bytes",
                  path, KEY_FILE_MAX);
        return NULL;
    }
    text[length] = '\0';
    return text;
}

/* Decodes PEM holding a SubjectPublicKeyInfo or PKCS#1 RSA public key. */
static EVP_PKEY *decode_rsa_public(const char *pem, struct error *err)
{
    EVP_PKEY *pkey = NULL;
    const unsigned char *data = (const unsigned char *)pem;
    size_t length = strlen(pem);
    OSSL_DECODER_CTX *decoder = OSSL_DECODER_CTX_new_for_pkey(
        &pkey, "PEM", NULL, "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);

    if (!decoder || OSSL_DECODER_from_data(decoder, &data, &length) != 1 ||
        !pkey) {
        OSSL_DECODER_CTX_free(decoder);
        EVP_PKEY_free(pkey);
        error_set(err, ERR_INVALID,
                  "webhook public key is not a PEM RSA public key: copy it "
                  "from the Webhooks page of the Wix app dashboard");
        return NULL;
    }
    OSSL_DECODER_CTX_free(decoder);
    if (EVP_PKEY_get_bits(pkey) < AUTH_WEBHOOK_MIN_KEY_BITS) {
        error_set(err, ERR_INVALID,
                  "webhook public key has %d bits: at least %d are required",
                  EVP_PKEY_get_bits(pkey), AUTH_WEBHOOK_MIN_KEY_BITS);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

struct auth_webhook_key *auth_webhook_key_load(const char *text,
                                               struct error *err)
{
    struct auth_webhook_key *key;
    const char *start = text;
    char *pem;

    if (!text || !*text) {
        error_set(err, ERR_INVALID, "webhook public key is empty");
        return NULL;
    }
    while (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t')
        start++;
    if (strncmp(start, "-----BEGIN", 10) == 0)
        pem = unescape_newlines(start);
    else
        pem = read_key_file(text, err);
    if (!pem) {
        if (err && err->kind == ERR_NONE)
            error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }

    key = calloc(1, sizeof(*key));
    if (key)
        key->pkey = decode_rsa_public(pem, err);
    free(pem);
    if (!key || !key->pkey) {
        if (!key)
            error_set(err, ERR_PERMANENT, "out of memory");
        free(key);
        return NULL;
    }
    return key;
}

void auth_webhook_key_free(struct auth_webhook_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

/* ------------------------------------------------------------------ */
/* The JWT                                                             */
/* ------------------------------------------------------------------ */

/* The three dot-separated parts of a compact JWS. */
struct jws_parts {
    const char *header;
    size_t header_len;
    const char *claims;
    size_t claims_len;
    const char *signature;
    size_t signature_len;
};

static int is_base64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int split_jws(const char *jwt, size_t length, struct jws_parts *parts,
                     struct error *err)
{
    const char *dots[2];
    int count = 0;

    if (length == 0)
        return error_set(err, ERR_UNAUTHORIZED, "webhook body is empty");
    if (length > AUTH_WEBHOOK_MAX_LEN)
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook body is longer than %d bytes",
                         AUTH_WEBHOOK_MAX_LEN);
    for (size_t i = 0; i < length; i++) {
        if (jwt[i] == '.') {
            if (count == 2)
                return error_set(err, ERR_UNAUTHORIZED,
                                 "webhook body is not a JWT: more than "
                                 "three parts");
            dots[count++] = jwt + i;
        } else if (!is_base64url_char(jwt[i])) {
            return error_set(err, ERR_UNAUTHORIZED,
                             "webhook body is not a JWT: byte %zu is not "
                             "base64url",
                             i);
        }
    }
    if (count != 2)
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook body is not a JWT: expected "
                         "\"<header>.<claims>.<signature>\"");
    *parts = (struct jws_parts){
        .header = jwt,
        .header_len = (size_t)(dots[0] - jwt),
        .claims = dots[0] + 1,
        .claims_len = (size_t)(dots[1] - dots[0] - 1),
        .signature = dots[1] + 1,
        .signature_len = (size_t)(jwt + length - dots[1] - 1),
    };
    if (parts->header_len == 0 || parts->claims_len == 0)
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook JWT has an empty header or claims part");
    return 0;
}

/* Decodes one base64url part as a JSON object. */
static json_t *decode_part(const char *text, size_t length, const char *what,
                           struct error *err)
{
    unsigned char *bytes = malloc(length + 1);
    long decoded;
    json_t *value = NULL;

    if (!bytes) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    decoded = crypto_base64url_decode(text, length, bytes, length);
    if (decoded < 0) {
        error_set(err, ERR_UNAUTHORIZED, "webhook JWT %s is not base64url",
                  what);
        goto out;
    }
    value =
        json_parse((const char *)bytes, (size_t)decoded, JSON_MAX_DEPTH, err);
    if (!value) {
        error_prefix(err, "webhook JWT %s is not JSON", what);
        err->kind = ERR_UNAUTHORIZED;
        goto out;
    }
    if (!json_is_object(value)) {
        json_decref(value);
        value = NULL;
        error_set(err, ERR_UNAUTHORIZED, "webhook JWT %s is not a JSON object",
                  what);
    }
out:
    free(bytes);
    return value;
}

/* Accepts only {"alg": "RS256"} with no critical extensions. */
static int check_header(const struct jws_parts *parts, struct error *err)
{
    json_t *header =
        decode_part(parts->header, parts->header_len, "header", err);
    const char *alg;
    int rc = 0;

    if (!header)
        return -1;
    alg = json_string_value(json_object_get(header, "alg"));
    if (!alg)
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "webhook JWT header has no alg: only RS256 is "
                       "accepted");
    else if (strcmp(alg, "RS256") != 0)
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "webhook JWT algorithm \"%.20s\" is rejected: only "
                       "RS256 is accepted",
                       alg);
    else if (json_object_get(header, "crit"))
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "webhook JWT header lists critical extensions, which "
                       "are not supported");
    json_decref(header);
    return rc;
}

/* RSASSA-PKCS1-v1_5 with SHA-256 over "<header>.<claims>". */
static int check_signature(const struct auth_webhook_key *key,
                           const struct jws_parts *parts, struct error *err)
{
    size_t expected = (size_t)EVP_PKEY_get_size(key->pkey);
    unsigned char *signature = malloc(parts->signature_len + 1);
    size_t signed_len = parts->header_len + 1 + parts->claims_len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    long decoded;
    int ok = 0;

    if (!signature || !md) {
        free(signature);
        EVP_MD_CTX_free(md);
        return error_set(err, ERR_PERMANENT, "out of memory");
    }
    decoded = crypto_base64url_decode(parts->signature, parts->signature_len,
                                      signature, parts->signature_len);
    /* The signed text is the header, the dot and the claims, contiguous in
     * the body. */
    if (decoded >= 0 && (size_t)decoded == expected &&
        EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1)
        ok = EVP_DigestVerify(md, signature, expected,
                              (const unsigned char *)parts->header,
                              signed_len) == 1;
    EVP_MD_CTX_free(md);
    free(signature);
    if (!ok)
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook JWT signature is invalid: it was not made "
                         "with the key in SITESMITH_WIX_PUBLIC_KEY");
    return 0;
}

/* Reads an optional NumericDate claim as milliseconds (0 when absent). */
static int read_time_claim(const json_t *claims, const char *name,
                           int64_t *out_ms, struct error *err)
{
    const json_t *value = json_object_get(claims, name);
    double seconds;

    *out_ms = 0;
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_number(value))
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook JWT claim %s is not a number", name);
    seconds = json_number_value(value);
    if (!isfinite(seconds) || seconds <= 0 || seconds > CLAIM_SECONDS_MAX)
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook JWT claim %s is out of range", name);
    *out_ms = (int64_t)(seconds * 1000.0);
    return 0;
}

static int check_times(const struct auth_webhook_options *opts,
                       struct auth_webhook *out, struct error *err)
{
    int64_t leeway =
        opts->leeway_ms > 0 ? opts->leeway_ms : AUTH_WEBHOOK_DEFAULT_LEEWAY_MS;
    int64_t now = clock_now_ms();
    char when[32];

    if (out->expires_ms && !opts->ignore_expiration &&
        now > out->expires_ms + leeway) {
        clock_format_iso(out->expires_ms, when);
        return error_set(err, ERR_UNAUTHORIZED, "webhook JWT expired at %s",
                         when);
    }
    if (out->issued_ms && out->issued_ms > now + leeway) {
        clock_format_iso(out->issued_ms, when);
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook JWT is issued in the future (%s): check "
                         "the server's clock",
                         when);
    }
    return 0;
}

/* Parses a layer that Wix sends as a JSON string (an object is accepted
 * too). Returns a new object, {} when absent. */
static json_t *inner_object(const json_t *parent, const char *name,
                            const char *what, struct error *err)
{
    const json_t *value = json_object_get(parent, name);
    const char *text;
    json_t *inner;

    if (!value || json_is_null(value))
        return json_object();
    if (json_is_object(value))
        return json_deep_copy(value);
    if (!json_is_string(value)) {
        error_set(err, ERR_INVALID, "webhook %s is %s, not a JSON string", what,
                  json_type_phrase(value));
        return NULL;
    }
    text = json_string_value(value);
    inner = json_parse(text, json_string_length(value), JSON_MAX_DEPTH, err);
    if (!inner) {
        error_prefix(err, "webhook %s is not JSON", what);
        return NULL;
    }
    if (!json_is_object(inner)) {
        json_decref(inner);
        error_set(err, ERR_INVALID, "webhook %s is not a JSON object", what);
        return NULL;
    }
    return inner;
}

static int copy_text(const json_t *object, const char *name, int required,
                     char *out, size_t size, struct error *err)
{
    const json_t *value = json_object_get(object, name);

    out[0] = '\0';
    if (!value || json_is_null(value)) {
        if (required)
            return error_set(err, ERR_INVALID, "webhook envelope has no %s",
                             name);
        return 0;
    }
    if (!json_is_string(value) || json_string_length(value) >= size ||
        json_string_length(value) != strlen(json_string_value(value)))
        return error_set(err, ERR_INVALID,
                         "webhook envelope field %s is not a short string",
                         name);
    memcpy(out, json_string_value(value), json_string_length(value) + 1);
    return 0;
}

/* The event key: SHA-256 of "<iat in ms>.<envelope text>". */
static int make_event_key(const json_t *data, int64_t issued_ms, char out[65],
                          struct error *err)
{
    size_t length = json_string_length(data);
    char *text = malloc(length + 32);
    int prefix;

    if (!text)
        return error_set(err, ERR_PERMANENT, "out of memory");
    prefix = snprintf(text, 32, "%lld.", (long long)issued_ms);
    memcpy(text + prefix, json_string_value(data), length);
    crypto_sha256_hex(text, (size_t)prefix + length, out);
    free(text);
    return 0;
}

/* Reads the envelope and payload out of the verified claims. */
static int read_event(const json_t *claims,
                      const struct auth_webhook_options *opts,
                      struct auth_webhook *out, struct error *err)
{
    const json_t *data = json_object_get(claims, "data");
    const char *app_id;
    json_t *envelope;
    int rc = -1;

    if (!json_is_string(data))
        return error_set(err, ERR_UNAUTHORIZED,
                         "webhook JWT has no \"data\" claim string");
    envelope = inner_object(claims, "data", "envelope", err);
    if (!envelope)
        return -1;
    if (copy_text(envelope, "eventType", 1, out->event_type,
                  sizeof(out->event_type), err) != 0 ||
        copy_text(envelope, "instanceId", 0, out->instance_id,
                  sizeof(out->instance_id), err) != 0)
        goto out;
    out->payload = inner_object(envelope, "data", "payload", err);
    if (!out->payload)
        goto out;

    app_id = json_string_value(json_object_get(out->payload, "appId"));
    if (opts->app_id && *opts->app_id && app_id &&
        strcmp(app_id, opts->app_id) != 0) {
        error_set(err, ERR_UNAUTHORIZED,
                  "webhook is for app \"%.64s\", not this app (%.64s)", app_id,
                  opts->app_id);
        goto out;
    }
    rc = make_event_key(data, out->issued_ms, out->event_key, err);
out:
    json_decref(envelope);
    return rc;
}

int auth_webhook_verify(const struct auth_webhook_key *key,
                        const struct auth_webhook_options *opts,
                        const char *jwt, size_t length,
                        struct auth_webhook *out, struct error *err)
{
    struct jws_parts parts = {0};
    json_t *claims = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (split_jws(jwt, length, &parts, err) != 0 ||
        check_header(&parts, err) != 0 ||
        check_signature(key, &parts, err) != 0)
        return -1;

    claims = decode_part(parts.claims, parts.claims_len, "claims", err);
    if (!claims || read_time_claim(claims, "iat", &out->issued_ms, err) ||
        read_time_claim(claims, "exp", &out->expires_ms, err) ||
        check_times(opts, out, err) != 0 ||
        read_event(claims, opts, out, err) != 0)
        goto out;
    rc = 0;
out:
    json_decref(claims);
    return rc;
}

void auth_webhook_clear(struct auth_webhook *event)
{
    if (!event)
        return;
    json_decref(event->payload);
    event->payload = NULL;
}
