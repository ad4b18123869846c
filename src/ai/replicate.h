/*
 * Replicate predictions: create one, wait for it, download its output.
 *
 * Creating a prediction is not idempotent (Replicate has no idempotency
 * key), so create and wait are separate calls: a pipeline step creates,
 * records the prediction id in its checkpoint, then waits. A retried step
 * that finds an id in its checkpoint only waits again on that id.
 *
 * Outputs are deleted about an hour after the prediction, so download them
 * as soon as the prediction has succeeded.
 */
#ifndef SITESMITH_AI_REPLICATE_H
#define SITESMITH_AI_REPLICATE_H

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Codes set in err->code, besides the upstream ones. */
/* The create request may have reached Replicate, but no response arrived,
 * so a prediction may exist and be billed (ERR_RETRYABLE). */
#define REPLICATE_ERR_CREATE_UNKNOWN "create_state_unknown"
#define REPLICATE_ERR_FAILED "prediction_failed"     /* ERR_PERMANENT */
#define REPLICATE_ERR_CANCELED "prediction_canceled" /* ERR_PERMANENT */
#define REPLICATE_ERR_ABORTED "prediction_aborted"   /* ERR_PERMANENT */
/* Not finished in time, and cancelled (ERR_RETRYABLE: a new prediction
 * may do better, but this id will only ever be canceled). */
#define REPLICATE_ERR_TIMEOUT "prediction_timeout"
/* The output was deleted, or its URL returns 403, 404 or 410
 * (ERR_PERMANENT, because only a new prediction gives a new output). */
#define REPLICATE_ERR_OUTPUT_EXPIRED "output_expired"
/* The output is not of an allowed type or its bytes are not that type
 * (ERR_PERMANENT). */
#define REPLICATE_ERR_OUTPUT_TYPE "output_type"

struct replicate_client;

/*
 * Creates a client from the configuration:
 *   REPLICATE_API_TOKEN          required; sent as "Authorization: Bearer"
 *   SITESMITH_REPLICATE_API_URL  default https://api.replicate.com/v1
 *   SITESMITH_REPLICATE_REQUEST_TIMEOUT  one HTTP request, not counting a
 *                                Prefer: wait hold, default 30 s
 *   SITESMITH_REPLICATE_CONNECT_TIMEOUT  default 10 s
 *   SITESMITH_REPLICATE_WAIT_TIMEOUT  how long replicate_wait() polls
 *                                before it cancels, default 600 s
 *   SITESMITH_REPLICATE_RPM      creates a minute, default 600 (0: none)
 *   SITESMITH_AI_LIMIT_MAX_WAIT  longest wait for the client-side limiter,
 *                                default 60 s
 * The create limit applies to the process-wide "replicate" limiter shared
 * by every client. Returns NULL with err set (naming the variable) on a
 * missing or invalid value. Free with replicate_client_free(). The client
 * is read-only after creation, so any thread may use it at the same time.
 */
struct replicate_client *replicate_client_new(const struct config *cfg,
                                              struct error *err);

void replicate_client_free(struct replicate_client *client);

enum replicate_status {
    REPLICATE_STARTING,
    REPLICATE_PROCESSING,
    REPLICATE_SUCCEEDED,
    REPLICATE_FAILED,
    REPLICATE_CANCELED,
    REPLICATE_ABORTED,
};

/* "starting", "processing", ... as Replicate spells them. */
const char *replicate_status_name(enum replicate_status status);

#define REPLICATE_ID_MAX 64
#define REPLICATE_MAX_OUTPUTS 16

struct replicate_prediction {
    char id[REPLICATE_ID_MAX];
    enum replicate_status status;
    /* Output file URLs in order, whether Replicate returned one URL or a
     * list; owned by the prediction. */
    char *outputs[REPLICATE_MAX_OUTPUTS];
    size_t output_count;
    char *error;         /* the model's error message, or NULL */
    int data_removed;    /* Replicate has deleted the outputs */
    double predict_time; /* compute seconds, 0 when not reported */
};

void replicate_prediction_release(struct replicate_prediction *prediction);

struct replicate_create_request {
    /* Exactly one of the two: an official model as "owner/name", created
     * with POST /models/{owner}/{name}/predictions, or a version as
     * "owner/name:<64 hex>" or the bare 64-hex id, created with
     * POST /predictions. */
    const char *model;
    const char *version;
    const json_t *input; /* the model's input object */
    /* Prefer: wait=N, 1 to 60 seconds; 0 sends no Prefer header. */
    int wait_s;
    /* Cancel-After in seconds, at least 5; 0 sends none. */
    int cancel_after_s;
};

/*
 * Creates a prediction and fills prediction (the caller releases it with
 * replicate_prediction_release(), also after a failure). With wait_s the
 * prediction may already be final. Either way the caller records
 * prediction->id before anything else and then calls replicate_wait().
 *
 * The request is sent again only when it cannot have reached Replicate:
 * after a 429 (after the wait it names, when that is at most the
 * limiter's max wait) or when the connection was refused. A timeout, a
 * dropped connection or a 5xx after sending fails with
 * REPLICATE_ERR_CREATE_UNKNOWN: a prediction may exist, and the caller
 * decides whether to look for it or accept a second one.
 * Other failures: 401 ERR_UNAUTHORIZED, 402 ERR_PERMANENT (credit),
 * 404 ERR_NOT_FOUND, 422 ERR_INVALID. Any thread may call this.
 */
int replicate_create(struct replicate_client *client,
                     const struct replicate_create_request *request,
                     struct replicate_prediction *prediction,
                     struct error *err);

/*
 * Polls GET /predictions/{id} (every 0.5 s at first, growing to 5 s) until
 * the prediction is final, retrying polls that fail on a connection error,
 * 429 or 5xx. Returns 0 when it succeeded, with its outputs in prediction
 * (release it either way). A failed, canceled or aborted prediction, or one
 * whose outputs were deleted, is an error with its REPLICATE_ERR_ code.
 * When the wait timeout passes, cancels the prediction and fails with
 * REPLICATE_ERR_TIMEOUT. Safe to call again with the same id, e.g. from a
 * retried step. Any thread may call this.
 */
int replicate_wait(struct replicate_client *client, const char *id,
                   struct replicate_prediction *prediction, struct error *err);

/* Cancels a prediction (POST /predictions/{id}/cancel). */
int replicate_cancel(struct replicate_client *client, const char *id,
                     struct error *err);

/*
 * Downloads an output URL (http, https or data:) into out (a buffer the
 * caller initialised with buf_init(); any maximum), at most max_bytes,
 * and writes its media type (e.g. "image/png") into content_type. The type
 * must be one of allowed_types (a NULL-terminated list); image types are
 * also checked against the file's first bytes, and an answer labelled
 * application/octet-stream takes the type its bytes show. No
 * Authorization header is sent. 404 and 410 fail with
 * REPLICATE_ERR_OUTPUT_EXPIRED; a larger file fails with ERR_PERMANENT code
 * "too_large". Any thread may call this.
 */
int replicate_download(struct replicate_client *client, const char *url,
                       size_t max_bytes, const char *const *allowed_types,
                       struct buf *out, char content_type[128],
                       struct error *err);

/*
 * The media type that data starts with: "image/png", "image/jpeg",
 * "image/webp", "image/gif", or NULL when none of these.
 */
const char *replicate_sniff_image_type(const void *data, size_t len);

#endif
