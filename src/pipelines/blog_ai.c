/*
 * OpenAI calls of the blog steps, and the token usage that each generation
 * keeps in its "usage" checkpoint and the process counts in
 * sitesmith_openai_tokens_total.
 */
#include "pipelines/blog_internal.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *blog_usage_json(const struct openai_usage *usage)
{
    return json_pack("{s:I, s:I, s:I, s:i}", "prompt_tokens",
                     (json_int_t)usage->prompt_tokens, "completion_tokens",
                     (json_int_t)usage->completion_tokens, "total_tokens",
                     (json_int_t)usage->total_tokens, "calls", 1);
}

int blog_add_usage(struct store_tx *tx, const char *id, const json_t *usage,
                   struct error *err)
{
    static const char *const fields[] = {"prompt_tokens", "completion_tokens",
                                         "total_tokens", "calls"};
    char *text = NULL;
    json_t *total;
    int rc;

    if (store_generation_get_checkpoint(tx, id, "usage", &text, err) < 0)
        return -1;
    total = text ? json_loads(text, 0, NULL) : json_object();
    free(text);
    if (!json_is_object(total)) {
        json_decref(total);
        total = json_object();
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_int_t sum = json_integer_value(json_object_get(total, fields[i])) +
                         json_integer_value(json_object_get(usage, fields[i]));

        json_object_set_new(total, fields[i], json_integer(sum));
    }
    rc = blog_write_checkpoint(tx, id, "usage", total, err);
    json_decref(total);
    return rc;
}

static void count_tokens(const char *step, const struct openai_usage *usage)
{
    char labels[96];

    snprintf(labels, sizeof(labels), "step=\"%s\",type=\"prompt\"", step);
    metrics_count("sitesmith_openai_tokens_total", labels,
                  usage->prompt_tokens);
    snprintf(labels, sizeof(labels), "step=\"%s\",type=\"completion\"", step);
    metrics_count("sitesmith_openai_tokens_total", labels,
                  usage->completion_tokens);
}

/* Stores the usage of a failed call in a transaction of its own. */
static void keep_failed_usage(struct blog_job *bj,
                              const struct openai_usage *usage)
{
    json_t *json = blog_usage_json(usage);
    struct store_tx *tx = NULL;
    struct error err;

    error_clear(&err);
    if (!json) {
        error_set(&err, ERR_PERMANENT, "out of memory");
        goto fail;
    }
    tx = store_begin(bj->app->store, &err);
    if (!tx)
        goto fail;
    if (blog_add_usage(tx, bj->gen.id, json, &err) != 0) {
        store_rollback(tx);
        goto fail;
    }
    if (store_commit(tx, &err) != 0)
        goto fail;
    json_decref(json);
    return;

fail:
    log_warn("blog",
             "cannot record the tokens of a failed OpenAI call "
             "generation=%s tokens=%" PRId64 " error=\"%s\"",
             bj->gen.id, usage->total_tokens, err.message);
    json_decref(json);
}

int blog_ai_call(struct blog_job *bj, const char *step,
                 const struct openai_request *request,
                 struct openai_result *result, struct error *err)
{
    int rc;

    memset(result, 0, sizeof(*result));
    rc = openai_chat_json(bj->app->openai, request, result, err);
    count_tokens(step, &result->usage);
    if (rc == 0) {
        log_info("blog",
                 "openai answered generation=%s step=%s model=%s "
                 "request_id=%s tokens=%" PRId64 " attempts=%d",
                 bj->gen.id, step, result->model, result->request_id,
                 result->usage.total_tokens, result->attempts);
        return 0;
    }
    if (result->usage.total_tokens > 0)
        keep_failed_usage(bj, &result->usage);
    error_prefix(err, "%s step", step);
    blog_error_from(err, BLOG_SOURCE_OPENAI);
    return -1;
}

void blog_prompt_line(struct buf *out, const char *label, const json_t *value)
{
    const char *text = json_string_value(value);

    if (text && text[0])
        buf_printf(out, "%s: %s\n", label, text);
}

void blog_prompt_words(struct buf *out, const char *label, const json_t *values)
{
    size_t index;
    json_t *value;

    if (json_array_size(values) == 0)
        return;
    buf_printf(out, "%s: ", label);
    json_array_foreach(values, index, value)
        buf_printf(out, "%s%s", index ? ", " : "", json_string_value(value));
    buf_append_str(out, "\n");
}

void blog_prompt_wishes(struct buf *out, const json_t *input)
{
    buf_append_str(out, "\nThe owner's wishes\n");
    blog_prompt_line(out, "Topic", json_object_get(input, "topic"));
    blog_prompt_words(out, "Keywords", json_object_get(input, "keywords"));
    blog_prompt_line(out, "Tone", json_object_get(input, "tone"));
    blog_prompt_line(out, "Language", json_object_get(input, "language"));
}
