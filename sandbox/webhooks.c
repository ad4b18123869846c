/*
 * Wix webhooks sent by the sandbox: on a test's request the sandbox posts
 * an event, as Wix does, to a loopback URL the test gives, as a
 * JWT signed with RS256 by the sandbox's own key pair.
 *
 *   POST /__sandbox/webhooks           send an event (see send_webhook)
 *   GET  /__sandbox/webhooks           the deliveries made so far
 *   GET  /__sandbox/webhooks/public-key  the public key as PEM, which the
 *                                      app under test verifies with
 *   POST /__sandbox/webhooks/key       {"private_key": PEM}: sign with this
 *                                      RSA key from now on
 *
 * The key pair is made at start. For forgeries a request may sign with a
 * second key pair, with "alg" none or HS256 (keyed with the public PEM, as
 * the classic algorithm-confusion attack does), or flip a bit of the
 * signature.
 */
#include "wix.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_BITS 2048
#define DELIVERY_TIMEOUT_MS 10000
#define DELAY_MAX_MS (10LL * 60 * 1000)
#define DELIVERY_LOG_MAX 10000
/* Plans last a month in the events the sandbox makes up. */
#define PLAN_PERIOD_MS (30LL * 24 * 60 * 60 * 1000)

/* The sandbox's webhook state; one sandbox per process. Guarded by
 * sb->lock, except the counter and condition of running deliveries. */
static struct {
    EVP_PKEY *key;       /* signs events */
    EVP_PKEY *other_key; /* signs forgeries */
    json_t *deliveries;  /* [{event, instance_id, url, status, ...}] */
    pthread_mutex_t running_lock;
    pthread_cond_t running_done;
    int running;  /* delayed deliveries not yet made */
    int stopping; /* set by sandbox_webhooks_free: drop the waiting ones */
} hooks = {
    .running_lock = PTHREAD_MUTEX_INITIALIZER,
    .running_done = PTHREAD_COND_INITIALIZER,
};

/* One delivery: where, what, and how often. */
struct delivery {
    struct sandbox *sb;
    char url[512];
    char event[64];
    char instance_id[128];
    char *jwt;
    int copies; /* 2 when the request asked for a duplicate */
    int64_t delay_ms;
};

static void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    free(d->jwt);
    free(d);
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

static char *public_pem(EVP_PKEY *key)
{
    OSSL_ENCODER_CTX *encoder = OSSL_ENCODER_CTX_new_for_pkey(
        key, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", NULL);
    unsigned char *data = NULL;
    size_t length = 0;
    char *pem = NULL;

    if (encoder && OSSL_ENCODER_to_data(encoder, &data, &length) == 1) {
        pem = malloc(length + 1);
        if (pem) {
            memcpy(pem, data, length);
            pem[length] = '\0';
        }
    }
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(encoder);
    return pem;
}

/* Reads an RSA private key from PEM text; NULL when it is not one. */
static EVP_PKEY *private_key_from_pem(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    if (key && (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
                EVP_PKEY_get_bits(key) < KEY_BITS)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

/* ------------------------------------------------------------------ */
/* Making the JWT                                                      */
/* ------------------------------------------------------------------ */

static char *base64url(const void *data, size_t length)
{
    size_t size = crypto_base64url_size(length);
    char *out = malloc(size);

    if (out)
        crypto_base64url_encode(data, length, out, size);
    return out;
}

/* The signature part for input, or NULL on failure ("" for alg none). */
static char *signature_of(EVP_PKEY *key, const char *alg, const char *input,
                          int tamper)
{
    unsigned char signature[1024];
    size_t length = sizeof(signature);
    EVP_MD_CTX *md;
    char *pem;
    int ok;

    if (strcmp(alg, "none") == 0)
        return strdup("");
    if (strcmp(alg, "HS256") == 0) {
        pem = public_pem(key);
        if (!pem)
            return NULL;
        crypto_hmac_sha256(pem, strlen(pem), input, strlen(input), signature);
        free(pem);
        length = 32;
    } else {
        md = EVP_MD_CTX_new();
        ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, signature, &length,
                            (const unsigned char *)input, strlen(input)) == 1;
        EVP_MD_CTX_free(md);
        if (!ok)
            return NULL;
    }
    if (tamper)
        signature[length / 2] ^= 0x01;
    return base64url(signature, length);
}

static char *make_jwt(EVP_PKEY *key, const char *alg, const char *claims,
                      int tamper)
{
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "JWT",
                               "kid", "sandbox");
    char *header_text = json_dumps(header, JSON_COMPACT);
    char *header_part =
        header_text ? base64url(header_text, strlen(header_text)) : NULL;
    char *claims_part = base64url(claims, strlen(claims));
    char *input = NULL;
    char *signature = NULL;
    char *jwt = NULL;

    json_decref(header);
    if (header_part && claims_part &&
        asprintf(&input, "%s.%s", header_part, claims_part) > 0)
        signature = signature_of(key, alg, input, tamper);
    if (signature && asprintf(&jwt, "%s.%s", input, signature) < 0)
        jwt = NULL;
    free(header_text);
    free(header_part);
    free(claims_part);
    free(input);
    free(signature);
    return jwt;
}

/* ------------------------------------------------------------------ */
/* The event                                                           */
/* ------------------------------------------------------------------ */

/* The site's plan as a JSON value (null when free or unknown). Lock held. */
static json_t *site_plan(struct sandbox *sb, const char *instance_id)
{
    struct wix_site *site = wix_site_find(wix_of(sb), instance_id);
    json_t *plan = site ? json_object_get(site->state, "plan") : NULL;

    return plan ? json_incref(plan) : json_null();
}

/* The fields Wix sends for each event type, before the test's "data". */
static json_t *default_payload(struct sandbox *sb, const char *event,
                               const char *instance_id)
{
    int64_t now = sandbox_now_ms(sb);
    char when[32];
    char expires[32];
    char invoice[17];
    json_t *plan;

    clock_format_iso(now, when);
    clock_format_iso(now + PLAN_PERIOD_MS, expires);
    crypto_random_hex(invoice, 8);
    if (strcmp(event, "AppInstalled") == 0)
        return json_pack("{s:s, s:s}", "appId", sb->opts.app_id,
                         "originInstanceId", "");
    if (strcmp(event, "AppRemoved") == 0)
        return json_pack("{s:s}", "appId", sb->opts.app_id);
    if (strncmp(event, "PaidPlan", 8) != 0 && strncmp(event, "Plan", 4) != 0)
        return json_object();

    sandbox_lock(sb);
    plan = site_plan(sb, instance_id);
    sandbox_unlock(sb);
    if (strcmp(event, "PaidPlanAutoRenewalCancelled") == 0)
        return json_pack(
            "{s:s, s:o, s:s, s:s, s:s, s:s, s:b}", "operationTimeStamp", when,
            "vendorProductId", plan, "cycle", "MONTHLY", "cancelReason",
            "USER_CANCEL", "userReason", "", "subscriptionCancellationType",
            "AT_END_OF_BILLING_CYCLE", "cancelledDuringFreeTrial", 0);
    return json_pack("{s:s, s:o, s:s, s:s, s:n, s:s}", "operationTimeStamp",
                     when, "vendorProductId", plan, "cycle", "MONTHLY",
                     "expiresOn", expires, "couponName", "invoiceId", invoice);
}

/* The claims {"data": envelope text, "iat", "exp"} of an event. */
static char *make_claims(const char *event, const char *instance_id,
                         const json_t *payload, int64_t iat_s, int64_t exp_s)
{
    char *payload_text = json_dumps(payload, JSON_COMPACT);
    json_t *envelope =
        json_pack("{s:s, s:s, s:s}", "eventType", event, "instanceId",
                  instance_id, "data", payload_text ? payload_text : "{}");
    char *envelope_text = json_dumps(envelope, JSON_COMPACT);
    json_t *claims = json_pack("{s:s, s:I, s:I}", "data",
                               envelope_text ? envelope_text : "{}", "iat",
                               (json_int_t)iat_s, "exp", (json_int_t)exp_s);
    char *text = json_dumps(claims, JSON_COMPACT);

    free(payload_text);
    free(envelope_text);
    json_decref(envelope);
    json_decref(claims);
    return text;
}

/* ------------------------------------------------------------------ */
/* Delivering                                                          */
/* ------------------------------------------------------------------ */

/* Only http:// URLs on 127.0.0.1, localhost or [::1] are accepted. */
static int loopback_url(const char *url)
{
    static const char *const hosts[] = {"127.0.0.1", "localhost", "[::1]"};
    const char *host;

    if (strncmp(url, "http://", 7) != 0)
        return 0;
    host = url + 7;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        size_t length = strlen(hosts[i]);

        if (strncasecmp(host, hosts[i], length) == 0 &&
            (host[length] == ':' || host[length] == '/' || !host[length]))
            return 1;
    }
    return 0;
}

/* Posts the JWT once; returns what happened as JSON (new reference). */
static json_t *post_once(const struct delivery *d)
{
    struct http_client_request req = {
        .method = "POST",
        .url = d->url,
        .headers = {"Content-Type: text/plain; charset=utf-8"},
        .body = d->jwt,
        .body_len = strlen(d->jwt),
        .timeout_ms = DELIVERY_TIMEOUT_MS,
        .fresh_connection = 1,
    };
    struct http_client_response resp = {0};
    struct error err;
    json_t *result;
    json_t *body;

    error_clear(&err);
    if (http_client_send(&req, &resp, &err) != 0) {
        http_client_response_release(&resp);
        return json_pack("{s:i, s:s}", "status", 0, "error", err.message);
    }
    body = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);
    result = json_pack(
        "{s:I, s:I, s:o}", "status", (json_int_t)resp.status, "elapsed_ms",
        (json_int_t)resp.elapsed_ms, "body",
        body ? body : json_string(resp.body.data ? resp.body.data : ""));
    http_client_response_release(&resp);
    return result;
}

/* Posts every copy and logs each attempt; returns the attempts. */
static json_t *deliver(struct delivery *d)
{
    json_t *attempts = json_array();
    char when[32];

    for (int i = 0; i < d->copies; i++) {
        json_t *result = post_once(d);

        wix_now_iso(d->sb, when);
        json_object_set_new(result, "time", json_string(when));
        json_array_append(attempts, result);

        sandbox_lock(d->sb);
        if (json_array_size(hooks.deliveries) >= DELIVERY_LOG_MAX)
            json_array_remove(hooks.deliveries, 0);
        json_array_append_new(hooks.deliveries,
                              json_pack("{s:s, s:s, s:s, s:o}", "event",
                                        d->event, "instance_id", d->instance_id,
                                        "url", d->url, "result", result));
        sandbox_unlock(d->sb);
        if (!d->sb->opts.quiet)
            log_info("sandbox", "webhook sent event=%s instance=%s status=%lld",
                     d->event, d->instance_id,
                     (long long)json_integer_value(
                         json_object_get(result, "status")));
    }
    return attempts;
}

static int stopping(void)
{
    int value;

    pthread_mutex_lock(&hooks.running_lock);
    value = hooks.stopping;
    pthread_mutex_unlock(&hooks.running_lock);
    return value;
}

/* Waits in slices, so that shutdown does not wait for a long delay. */
static void *deliver_later(void *arg)
{
    struct delivery *d = arg;
    int64_t until = clock_monotonic_ms() + d->delay_ms;
    int64_t left;

    while ((left = until - clock_monotonic_ms()) > 0 && !stopping())
        clock_sleep_ms(left < 50 ? left : 50);
    if (!stopping())
        json_decref(deliver(d));
    delivery_free(d);
    pthread_mutex_lock(&hooks.running_lock);
    hooks.running--;
    pthread_cond_broadcast(&hooks.running_done);
    pthread_mutex_unlock(&hooks.running_lock);
    return NULL;
}

static int schedule(struct delivery *d)
{
    pthread_attr_t attr;
    pthread_t thread;
    int rc;

    pthread_mutex_lock(&hooks.running_lock);
    hooks.running++;
    pthread_mutex_unlock(&hooks.running_lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&thread, &attr, deliver_later, d);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&hooks.running_lock);
        hooks.running--;
        pthread_mutex_unlock(&hooks.running_lock);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Control routes                                                      */
/* ------------------------------------------------------------------ */

/* Reads where and what to deliver into d; ERR_INVALID names a bad field. */
static int read_request(struct sandbox *sb, const json_t *body,
                        struct delivery *d, struct error *err)
{
    const char *url = json_string_value(json_object_get(body, "url"));
    const char *event = json_string_value(json_object_get(body, "event"));
    const char *instance_id =
        json_string_value(json_object_get(body, "instance_id"));
    json_int_t delay = 0;

    if (!url || strlen(url) >= sizeof(d->url) || !loopback_url(url))
        return error_set(err, ERR_INVALID,
                         "url must be an http:// URL on 127.0.0.1, "
                         "localhost or [::1]");
    if (!event || !*event || strlen(event) >= sizeof(d->event))
        return error_set(err, ERR_INVALID,
                         "event is required, e.g. \"AppInstalled\"");
    if (!instance_id || !*instance_id ||
        strlen(instance_id) >= sizeof(d->instance_id))
        return error_set(err, ERR_INVALID, "instance_id is required");
    if (json_unpack_ex((json_t *)body, NULL, 0, "{s?I}", "delay_ms", &delay) !=
            0 ||
        delay < 0 || delay > DELAY_MAX_MS)
        return error_set(err, ERR_INVALID,
                         "delay_ms must be 0 to %lld milliseconds",
                         DELAY_MAX_MS);
    snprintf(d->url, sizeof(d->url), "%s", url);
    snprintf(d->event, sizeof(d->event), "%s", event);
    snprintf(d->instance_id, sizeof(d->instance_id), "%s", instance_id);
    d->sb = sb;
    d->delay_ms = delay;
    d->copies = json_is_true(json_object_get(body, "duplicate")) ? 2 : 1;
    return 0;
}

/* The key that signs this request (a new reference), or NULL. */
static EVP_PKEY *signing_key(struct sandbox *sb, const json_t *body)
{
    const char *which = json_string_value(json_object_get(body, "key"));
    EVP_PKEY *key;

    sandbox_lock(sb);
    if (which && strcmp(which, "other") == 0 && !hooks.other_key)
        hooks.other_key = EVP_RSA_gen(KEY_BITS);
    key = which && strcmp(which, "other") == 0 ? hooks.other_key : hooks.key;
    if (key)
        EVP_PKEY_up_ref(key);
    sandbox_unlock(sb);
    return key;
}

/* Builds the JWT from the request's event, data and JWT options. */
static char *jwt_for(struct sandbox *sb, const json_t *body,
                     const struct delivery *d, struct error *err)
{
    const char *alg = json_string_value(json_object_get(body, "alg"));
    json_t *payload = default_payload(sb, d->event, d->instance_id);
    const json_t *data = json_object_get(body, "data");
    int64_t iat = sandbox_now_ms(sb) / 1000;
    int64_t exp_in = 3600;
    EVP_PKEY *key = signing_key(sb, body);
    char *claims;
    char *jwt = NULL;

    if (json_is_integer(json_object_get(body, "iat")))
        iat = json_integer_value(json_object_get(body, "iat"));
    if (json_is_integer(json_object_get(body, "exp_in_s")))
        exp_in = json_integer_value(json_object_get(body, "exp_in_s"));
    if (json_is_object(data))
        json_object_update(payload, (json_t *)data);
    claims = make_claims(d->event, d->instance_id, payload, iat, iat + exp_in);
    if (key && claims)
        jwt = make_jwt(key, alg ? alg : "RS256", claims,
                       json_is_true(json_object_get(body, "tamper")));
    if (!jwt)
        error_set(err, ERR_PERMANENT, "signing the webhook failed");
    EVP_PKEY_free(key);
    json_decref(payload);
    free(claims);
    return jwt;
}

/*
 * POST /__sandbox/webhooks {"url", "event", "instance_id", "data"?,
 * "duplicate"?, "delay_ms"?, "iat"?, "exp_in_s"?, "alg"?, "key"?,
 * "tamper"?}: 200 with the JWT and each delivery's status, or 202 when
 * delay_ms schedules it.
 */
static void send_webhook(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    struct sandbox *sb = ctx;
    struct delivery *d = calloc(1, sizeof(*d));
    struct error err;
    json_t *body;
    json_t *jwt;

    error_clear(&err);
    body = sandbox_read_json(req, &err);
    if (!d || !body || read_request(sb, body, d, &err) != 0 ||
        !(d->jwt = jwt_for(sb, body, d, &err))) {
        http_response_error(resp, err.kind == ERR_INVALID ? 400 : 500,
                            err.kind == ERR_INVALID ? "invalid" : "internal",
                            "%s", d ? err.message : "out of memory");
        json_decref(body);
        delivery_free(d);
        return;
    }
    json_decref(body);
    jwt = json_string(d->jwt);
    if (d->delay_ms > 0) {
        if (schedule(d) != 0) {
            delivery_free(d);
            json_decref(jwt);
            http_response_error(resp, 500, "internal",
                                "could not start the delivery thread");
            return;
        }
        http_response_json(resp, 202,
                           json_pack("{s:o, s:b}", "jwt", jwt, "scheduled", 1));
        return;
    }
    http_response_json(
        resp, 200,
        json_pack("{s:o, s:o}", "jwt", jwt, "deliveries", deliver(d)));
    delivery_free(d);
}

static void list_webhooks(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    struct sandbox *sb = ctx;
    json_t *copy;

    (void)req;
    sandbox_lock(sb);
    copy = json_deep_copy(hooks.deliveries);
    sandbox_unlock(sb);
    http_response_json(resp, 200, json_pack("{s:o}", "deliveries", copy));
}

static void get_public_key(struct http_request *req, struct http_response *resp,
                           void *ctx)
{
    struct sandbox *sb = ctx;
    char *pem;

    (void)req;
    sandbox_lock(sb);
    pem = public_pem(hooks.key);
    sandbox_unlock(sb);
    if (!pem) {
        http_response_error(resp, 500, "internal", "no webhook key");
        return;
    }
    http_response_bytes(resp, 200, "application/x-pem-file", pem, strlen(pem));
    free(pem);
}

static void set_key(struct http_request *req, struct http_response *resp,
                    void *ctx)
{
    struct sandbox *sb = ctx;
    struct error err;
    json_t *body = sandbox_read_json(req, &err);
    const char *pem =
        body ? json_string_value(json_object_get(body, "private_key")) : NULL;
    EVP_PKEY *key = pem ? private_key_from_pem(pem) : NULL;

    json_decref(body);
    if (!key) {
        http_response_error(resp, 400, "invalid",
                            "private_key must be a PEM RSA private key of at "
                            "least %d bits",
                            KEY_BITS);
        return;
    }
    sandbox_lock(sb);
    EVP_PKEY_free(hooks.key);
    hooks.key = key;
    sandbox_unlock(sb);
    http_response_json(resp, 200, json_object());
}

int sandbox_webhooks_init(struct sandbox *sb, struct http_server *server,
                          struct error *err)
{
    static const struct {
        const char *method;
        const char *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"POST", "/__sandbox/webhooks", send_webhook},
        {"GET", "/__sandbox/webhooks", list_webhooks},
        {"GET", "/__sandbox/webhooks/public-key", get_public_key},
        {"POST", "/__sandbox/webhooks/key", set_key},
    };

    hooks.key = EVP_RSA_gen(KEY_BITS);
    hooks.deliveries = json_array();
    if (!hooks.key || !hooks.deliveries)
        return error_set(err, ERR_PERMANENT,
                         "could not make the webhook key pair");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (http_server_route(server, routes[i].method, routes[i].pattern,
                              routes[i].handler, sb) != 0)
            return error_set(err, ERR_PERMANENT, "cannot add route %s %s",
                             routes[i].method, routes[i].pattern);
    }
    return 0;
}

void sandbox_webhooks_free(struct sandbox *sb)
{
    (void)sb;
    pthread_mutex_lock(&hooks.running_lock);
    hooks.stopping = 1;
    while (hooks.running > 0)
        pthread_cond_wait(&hooks.running_done, &hooks.running_lock);
    pthread_mutex_unlock(&hooks.running_lock);
    EVP_PKEY_free(hooks.key);
    EVP_PKEY_free(hooks.other_key);
    json_decref(hooks.deliveries);
    hooks.key = hooks.other_key = NULL;
    hooks.deliveries = NULL;
}
