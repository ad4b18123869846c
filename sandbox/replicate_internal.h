/*
 * Internals shared by the Replicate emulation's files: replicate.c owns
 * predictions, settings, state and the read, cancel, list and file
 * endpoints; replicate_create.c reads create requests, fetches input
 * images and stores new predictions.
 *
 * Every function that takes struct sandbox_replicate or a prediction must
 * be called with the sandbox lock held.
 */
#ifndef SITESMITH_SANDBOX_REPLICATE_INTERNAL_H
#define SITESMITH_SANDBOX_REPLICATE_INTERNAL_H

#include "replicate_models.h"
#include "sandbox.h"

#include <jansson.h>
#include <stdint.h>

#define MINUTE_MS 60000

struct prediction {
    char id[32];
    const struct replicate_model *model;
    char version[80]; /* "hidden" for official models */
    json_t *input;
    char seed[80];       /* text that seeds the output pixels */
    int64_t seed_number; /* the seed the "model" logs */
    int64_t created_ms;
    int64_t started_ms;    /* processing starts */
    int64_t done_ms;       /* the run ends unless cancelled first */
    int64_t canceled_ms;   /* 0 unless cancelled */
    int64_t deadline_ms;   /* from Cancel-After; 0 when none */
    char *error;           /* the run fails with this message, or NULL */
    unsigned char *source; /* the input image, for image-in models */
    size_t source_len;
    struct replicate_output_plan plan;
    struct buf files[REPLICATE_OUTPUTS_MAX]; /* made on first download */
};

struct sandbox_replicate {
    char *api_token; /* NULL: any non-empty token */
    int64_t starting_ms;
    int64_t processing_ms;
    int64_t output_ttl_s;
    int64_t create_rpm;
    int64_t fail_next;
    char *fail_error;
    int insufficient_credit;
    json_t *versions; /* object: version id -> "owner/name" */

    struct prediction **predictions; /* oldest first */
    size_t count;
    size_t capacity;
    int64_t window_minute;
    int64_t window_creates;
};

/* The state of a prediction at one moment of sandbox time. */
struct prediction_view {
    const char *status;
    int64_t started_ms;   /* 0 when it has not started */
    int64_t completed_ms; /* 0 while it runs */
    int removed;          /* outputs deleted after output_ttl_s */
};

void replicate_prediction_free(struct prediction *p);

/* The prediction with this id, or NULL. */
struct prediction *replicate_find(struct sandbox_replicate *state,
                                  const char *id);

/* Appends p (taking it); -1 when out of memory, p then still the caller's. */
int replicate_add(struct sandbox_replicate *state, struct prediction *p);

/* Computes the status of p at sandbox time now into view. */
void replicate_view(const struct sandbox_replicate *state,
                    const struct prediction *p, int64_t now,
                    struct prediction_view *view);

/* True for succeeded, failed, canceled and aborted. */
int replicate_is_terminal(const char *status);

/* The prediction object as Replicate returns it at sandbox time now. */
json_t *replicate_prediction_json(struct sandbox *sb,
                                  const struct prediction *p, int64_t now);

/* Sends body (taken) with metrics rounded, as Replicate prints them. */
void replicate_respond_json(struct http_response *resp, int status,
                            json_t *body);

/* Replicate's problem body: {"title"?, "detail", "status"}. */
void replicate_problem(struct http_response *resp, int status,
                       const char *title, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 404 "The requested resource could not be found." */
void replicate_not_found(struct http_response *resp);

/* 422 "Input validation failed" listing problems (taken). */
void replicate_invalid_input(struct http_response *resp, json_t *problems);

/* Checks the Bearer or Token header; fills call->resp with the 401. */
int replicate_check_token(struct sandbox_call *call);

/* POST /replicate/v1/predictions */
void replicate_create_by_version(struct sandbox_call *call);

/* POST /replicate/v1/models/{owner}/{name}/predictions */
void replicate_create_by_model(struct sandbox_call *call);

#endif
