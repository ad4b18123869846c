/*
 * Internals shared by the OpenAI emulation's files: openai_request.c
 * reads and checks a chat completions request and writes OpenAI's error
 * bodies; openai.c owns settings, limits and the response.
 */
#ifndef SITESMITH_SANDBOX_OPENAI_REQUEST_H
#define SITESMITH_SANDBOX_OPENAI_REQUEST_H

#include "sandbox.h"

#include <jansson.h>
#include <stdint.h>

/* The fields of a request, read once from its body. */
struct completion_request {
    json_t *body;
    const char *model;
    const char *schema_name; /* json_schema.name, or NULL */
    const json_t *schema;    /* json_schema.schema, or NULL */
    const char *format_type; /* "text", "json_object", "json_schema" */
    int64_t max_completion;  /* -1 when unset */
    int64_t choice_count;    /* n */
    int stream;
    int include_usage; /* stream_options.include_usage */
    char *prompt;      /* text of all messages */
    int64_t prompt_tokens;
};

/*
 * Sets {"error":{"message","type","param","code"}}: all four keys, with
 * param and code null when not given, as OpenAI sends them.
 */
void openai_error(struct http_response *resp, int status, const char *type,
                  const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A 400 invalid_request_error with a fixed message. */
void openai_invalid_request(struct http_response *resp, const char *code,
                            const char *param, const char *message);

/*
 * Parses and checks the call's body into request: model, messages (their
 * text and prompt token count), n, token caps, temperature and the
 * response format, with strict schemas checked as OpenAI checks them. On a
 * problem it fills call->resp with OpenAI's 400 body and returns -1. The
 * caller releases request with openai_release_request() either way.
 */
int openai_read_request(struct sandbox_call *call,
                        struct completion_request *request);

void openai_release_request(struct completion_request *request);

/* The dated snapshot OpenAI reports for a model alias, or model itself. */
const char *openai_resolve_model(const char *model);

#endif
