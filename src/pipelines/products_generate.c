/*
 * The generation step of an item asks the model for the item's fields and
 * fits them to their limits. It keeps them as the item's "generated"
 * checkpoint in the transaction that makes the item ready (or, in auto
 * mode, applying) and finishes the queue job. A retried step that
 * finds the checkpoint does not ask the model again.
 */
#include "pipelines/products_internal.h"

#include "ai/openai.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "pipelines/products_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROMPT_MAX (64 * 1024)

/* The item, its input and its job's settings, for one run of the step. */
struct step {
    struct app *app;
    struct queue_job *job;
    struct store_generation item;
    json_t *input;
    json_t *checkpoints;
    json_t *settings; /* the job's */
    unsigned fields;
};

static void step_clear(struct step *s)
{
    store_generation_clear(&s->item);
    json_decref(s->input);
    json_decref(s->checkpoints);
    json_decref(s->settings);
}

/* Loads the item and its job's settings: 1 when the item still waits for
 * this step, 0 when it moved on or is gone. */
static int step_load(struct step *s, struct error *err)
{
    struct store_tx *tx = store_begin_read(s->app->store, err);
    struct store_generation job;
    json_t *job_input;
    int rc;

    if (!tx)
        return -1;
    rc = products_load(tx, s->job->instance_id, PRODUCTS_KIND_ITEM,
                       s->job->generation_id, NULL, 0, &s->item, err);
    if (rc == 1)
        rc = products_load(tx, s->job->instance_id, PRODUCTS_KIND_JOB,
                           s->item.parent_id, NULL, 0, &job, err);
    store_rollback(tx);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    s->input = json_loads(s->item.input, 0, NULL);
    s->checkpoints = json_loads(s->item.checkpoints, 0, NULL);
    job_input = json_loads(job.input, 0, NULL);
    s->settings = json_incref(json_object_get(job_input, "settings"));
    json_decref(job_input);
    store_generation_clear(&job);
    if (!json_is_object(s->input) || !json_is_object(s->checkpoints) ||
        !json_is_object(s->settings))
        return error_set(err, ERR_PERMANENT,
                         "item %s or its job has an unreadable input",
                         s->item.id);
    s->fields = products_fields_from_json(json_object_get(s->input, "fields"));
    return strcmp(s->item.state, PRODUCTS_PENDING) == 0 ||
           strcmp(s->item.state, PRODUCTS_RUNNING) == 0;
}

/* pending -> running, so that progress shows the item at work. 0 when the
 * item was cancelled meanwhile. */
static int mark_running(struct step *s, struct error *err)
{
    struct store_tx *tx;
    int rc;

    if (strcmp(s->item.state, PRODUCTS_PENDING) != 0)
        return 1;
    tx = store_begin(s->app->store, err);
    if (!tx)
        return -1;
    rc = store_generation_set_state(tx, s->item.id, PRODUCTS_PENDING,
                                    PRODUCTS_RUNNING, err);
    if (rc == 1 && store_notify(tx, PRODUCTS_CHANNEL, err) != 0)
        rc = -1;
    if (rc != 1) {
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx, err) == 0 ? 1 : -1;
}

/* ------------------------------------------------------------------ */
/* The original text                                                   */
/* ------------------------------------------------------------------ */

struct read_original {
    int catalog;
    const char *product_id;
    json_t *snapshot;
};

static int read_original_unit(struct wix_client *client, void *arg,
                              struct error *err)
{
    struct read_original *r = arg;

    json_decref(r->snapshot);
    r->snapshot = NULL;
    return products_read_product(client, r->catalog, r->product_id,
                                 &r->snapshot, err);
}

/*
 * The product's text before the rewrite: read with the selection when the
 * job started, or, for a regenerated item, read now and checkpointed so
 * that the check before the write compares against what the model saw.
 * Borrowed from s.
 */
static const json_t *original_text(struct step *s, struct error *err)
{
    struct read_original r = {.catalog = (int)json_integer_value(
                                  json_object_get(s->input, "catalog")),
                              .product_id = json_string_value(
                                  json_object_get(s->input, "product_id"))};
    const json_t *known = json_object_get(s->input, "original");
    struct store_tx *tx;

    if (json_is_object(known))
        return known;
    known = json_object_get(s->checkpoints, "original");
    if (json_is_object(known))
        return known;
    if (wix_run(s->app->wix, s->item.instance_id, read_original_unit, &r,
                err) != 0)
        return NULL;
    tx = store_begin(s->app->store, err);
    if (!tx ||
        products_checkpoint(tx, s->item.id, "original", r.snapshot, err) != 0 ||
        store_commit(tx, err) != 0) {
        if (tx && err->kind != ERR_NONE)
            store_rollback(tx);
        json_decref(r.snapshot);
        return NULL;
    }
    json_object_set_new(s->checkpoints, "original", r.snapshot);
    return r.snapshot;
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

/* The JSON Schema property of each field, by field bit order. */
static const char *const output_keys[PRODUCTS_FIELD_COUNT] = {
    "name", "description_html", "seo_title", "seo_description"};

static json_t *output_schema(const json_t *settings, unsigned fields)
{
    static const char *const purposes[PRODUCTS_FIELD_COUNT] = {
        "The product name shown on the store page",
        "The product description as HTML",
        "The page title shown in search results",
        "The meta description shown in search results",
    };
    json_t *properties = json_object();
    json_t *required = json_array();

    for (int i = 0; i < PRODUCTS_FIELD_COUNT; i++) {
        char text[160];

        if (!(fields & (1u << i)))
            continue;
        snprintf(text, sizeof(text), "%s, at most %zu characters.", purposes[i],
                 products_max_length(settings, 1u << i));
        json_object_set_new(
            properties, output_keys[i],
            json_pack("{s:s, s:s}", "type", "string", "description", text));
        json_array_append_new(required, json_string(output_keys[i]));
    }
    return json_pack("{s:s, s:b, s:o, s:o}", "type", "object",
                     "additionalProperties", 0, "required", required,
                     "properties", properties);
}

static void add_rules(struct buf *out, const json_t *settings, unsigned fields)
{
    if (fields & PRODUCTS_FIELD_NAME)
        buf_printf(out,
                   "- name: at most %zu characters; no quotation marks, "
                   "and no emoji unless the current name has them.\n",
                   products_max_length(settings, PRODUCTS_FIELD_NAME));
    if (fields & PRODUCTS_FIELD_DESCRIPTION)
        buf_printf(out,
                   "- description_html: at most %zu characters including "
                   "tags. Use only <p>, <strong>, <u>, <ul>, <ol>, <li> and "
                   "<a href=\"...\">: no headings, images, tables, styles or "
                   "scripts.\n",
                   products_max_length(settings, PRODUCTS_FIELD_DESCRIPTION));
    if (fields & PRODUCTS_FIELD_SEO_TITLE)
        buf_printf(out, "- seo_title: at most %zu characters.\n",
                   products_max_length(settings, PRODUCTS_FIELD_SEO_TITLE));
    if (fields & PRODUCTS_FIELD_SEO_DESCRIPTION)
        buf_printf(
            out,
            "- seo_description: at most %zu characters, one or two "
            "complete sentences.\n",
            products_max_length(settings, PRODUCTS_FIELD_SEO_DESCRIPTION));
}

static char *instructions_text(const json_t *settings, unsigned fields)
{
    const char *language =
        json_string_value(json_object_get(settings, "language"));
    const char *tone = json_string_value(json_object_get(settings, "tone"));
    const char *owner =
        json_string_value(json_object_get(settings, "instructions"));
    const json_t *keywords = json_object_get(settings, "keywords");
    struct buf out;
    size_t i;
    json_t *keyword;

    buf_init(&out, PROMPT_MAX);
    buf_append_str(&out,
                   "You are an e-commerce copywriter. Rewrite the product "
                   "text of an online store so that it sells and ranks in "
                   "search.\n");
    if (language)
        buf_printf(&out, "Write in %s.\n", language);
    else
        buf_append_str(&out, "Write in the language of the product's current "
                             "text.\n");
    if (tone)
        buf_printf(&out, "Tone: %s.\n", tone);
    if (json_array_size(keywords) > 0) {
        buf_append_str(&out, "Work in these keywords where they read "
                             "naturally:");
        json_array_foreach(keywords, i, keyword)
            buf_printf(&out, "%s %s", i ? "," : "", json_string_value(keyword));
        buf_append_str(&out, ".\n");
    }
    buf_append_str(&out,
                   "Rules:\n- Use only facts from the product data. Never "
                   "invent materials, sizes, ingredients, certifications, "
                   "prices, discounts or guarantees.\n");
    add_rules(&out, settings, fields);
    if (owner)
        buf_printf(&out,
                   "The store owner's instructions follow between the "
                   "markers. Follow them unless they break the rules above.\n"
                   "<<<\n%s\n>>>\n",
                   owner);
    return buf_detach(&out, NULL);
}

/* The product data the model reads: the current text of all four fields
 * and the facts. */
static char *input_text(const json_t *original)
{
    json_t *data = json_pack(
        "{s:O, s:O, s:O, s:O, s:O}", "name", json_object_get(original, "name"),
        "description_html", json_object_get(original, "description"),
        "seo_title", json_object_get(original, "seo_title"), "seo_description",
        json_object_get(original, "seo_description"), "facts",
        json_object_get(original, "facts"));
    char *json = data ? json_dumps(data, JSON_INDENT(1)) : NULL;
    struct buf out;

    json_decref(data);
    if (!json)
        return NULL;
    buf_init(&out, PROMPT_MAX * 2);
    buf_printf(&out, "Product data (JSON):\n%s\n", json);
    free(json);
    return buf_detach(&out, NULL);
}

/* Fits one field of the model's output to its limit. */
static int fit_field(const json_t *settings, unsigned field, const char *text,
                     json_t *generated, struct error *err)
{
    size_t max = products_max_length(settings, field);
    int shortened = 0;
    char *fitted = field == PRODUCTS_FIELD_DESCRIPTION
                       ? products_html_clean(text, max, &shortened, err)
                       : products_text_fit(text, max, &shortened, err);

    if (!fitted) {
        error_prefix(err, "the model's %s", products_field_name(field));
        return -1;
    }
    json_object_set_new(generated, products_field_name(field),
                        json_string(fitted));
    if (shortened)
        json_array_append_new(json_object_get(generated, "shortened"),
                              json_string(products_field_name(field)));
    free(fitted);
    return 0;
}

static json_t *generated_json(const struct step *s,
                              const struct openai_result *result,
                              struct error *err)
{
    json_t *generated = json_pack(
        "{s:[], s:s, s:s, s:{s:I, s:I, s:I}}", "shortened", "model",
        result->model, "request_id", result->request_id, "usage",
        "prompt_tokens", (json_int_t)result->usage.prompt_tokens,
        "completion_tokens", (json_int_t)result->usage.completion_tokens,
        "total_tokens", (json_int_t)result->usage.total_tokens);

    for (int i = 0; generated && i < PRODUCTS_FIELD_COUNT; i++) {
        const char *text =
            json_string_value(json_object_get(result->content, output_keys[i]));

        if (!(s->fields & (1u << i)))
            continue;
        if (fit_field(s->settings, 1u << i, text ? text : "", generated, err) !=
            0) {
            json_decref(generated);
            return NULL;
        }
    }
    return generated;
}

static void count_tokens(const struct openai_usage *usage)
{
    metrics_count("sitesmith_openai_tokens_total",
                  "step=\"products.generate\",type=\"prompt\"",
                  usage->prompt_tokens);
    metrics_count("sitesmith_openai_tokens_total",
                  "step=\"products.generate\",type=\"completion\"",
                  usage->completion_tokens);
}

/* Asks the model for the item's fields. Returns the new "generated"
 * checkpoint, or NULL with err set. */
static json_t *ask_model(struct step *s, const json_t *original,
                         struct error *err)
{
    json_t *schema = output_schema(s->settings, s->fields);
    struct openai_request request = {
        .instructions = NULL,
        .schema_name = "product_copy",
        .max_completion_tokens = 1000,
    };
    struct openai_result result;
    char *instructions = instructions_text(s->settings, s->fields);
    char *input = input_text(original);
    char *schema_json = schema ? json_dumps(schema, JSON_COMPACT) : NULL;
    json_t *generated = NULL;

    memset(&result, 0, sizeof(result));
    if (!instructions || !input || !schema_json) {
        error_set(err, ERR_RETRYABLE, "out of memory building the prompt");
        goto out;
    }
    request.instructions = instructions;
    request.input = input;
    request.schema_json = schema_json;
    if (s->fields & PRODUCTS_FIELD_DESCRIPTION)
        request.max_completion_tokens +=
            (int64_t)products_max_length(s->settings,
                                         PRODUCTS_FIELD_DESCRIPTION) /
            2;
    if (openai_chat_json(s->app->openai, &request, &result, err) == 0) {
        generated = generated_json(s, &result, err);
        log_info("products",
                 "model answered instance=%s item=%s model=%s request_id=%s "
                 "tokens=%" PRId64 " attempts=%d",
                 s->item.instance_id, s->item.id, result.model,
                 result.request_id, result.usage.total_tokens, result.attempts);
    }
    count_tokens(&result.usage);
out:
    openai_result_release(&result);
    free(instructions);
    free(input);
    free(schema_json);
    json_decref(schema);
    return generated;
}

/* ------------------------------------------------------------------ */
/* Running the step                                                    */
/* ------------------------------------------------------------------ */

/* Whether the item goes on to be applied: auto mode and a job that was
 * not cancelled, read under the job's row lock. */
static int applies_now(struct store_tx *tx, const struct step *s, int *apply,
                       struct error *err)
{
    struct store_generation job;

    if (products_load(tx, s->item.instance_id, PRODUCTS_KIND_JOB,
                      s->item.parent_id, NULL, 0, &job, err) != 1)
        return -1;
    *apply = strcmp(job.state, PRODUCTS_JOB_RUNNING) == 0 &&
             strcmp(json_string_value(json_object_get(s->settings, "mode")),
                    "auto") == 0;
    store_generation_clear(&job);
    return 0;
}

/* Keeps the text, moves the item on and finishes the job, in one
 * transaction. */
static int finish_step(struct step *s, const json_t *generated, int fresh,
                       struct error *err)
{
    struct store_tx *tx = store_begin(s->app->store, err);
    struct store_generation item;
    int apply = 0;

    if (!tx)
        return -1;
    if (products_load(tx, s->item.instance_id, PRODUCTS_KIND_ITEM, s->item.id,
                      NULL, 1, &item, err) != 1)
        goto fail;
    if (strcmp(item.state, PRODUCTS_RUNNING) != 0) {
        /* Cancelled or moved on by another run: nothing to record. */
        store_generation_clear(&item);
        if (queue_finish(tx, s->job, err) != 0)
            goto fail;
        return store_commit(tx, err);
    }
    store_generation_clear(&item);
    if ((fresh && products_checkpoint(tx, s->item.id, "generated", generated,
                                      err) != 0) ||
        applies_now(tx, s, &apply, err) != 0 ||
        products_set_state(tx, s->item.id, PRODUCTS_RUNNING,
                           apply ? PRODUCTS_APPLYING : PRODUCTS_READY,
                           err) != 0 ||
        (apply && products_enqueue_write(tx, s->item.instance_id, s->item.id, 0,
                                         1, err) != 0) ||
        (apply && products_set_round(tx, s->item.id, "apply", 1, err) != 0) ||
        queue_finish(tx, s->job, err) != 0)
        goto fail;
    return store_commit(tx, err);

fail:
    store_rollback(tx);
    return -1;
}

/* Reads the item's "generated" checkpoint as the store has it now into
 * *out (a new reference): 1 when there is one, 0 when not, -1 on error. */
static int stored_generation(const struct step *s, json_t **out,
                             struct error *err)
{
    struct store_tx *tx = store_begin_read(s->app->store, err);
    struct store_generation item;
    json_t *checkpoints;
    int rc;

    *out = NULL;
    if (!tx)
        return -1;
    rc = store_generation_get(tx, s->item.id, 0, &item, err);
    store_rollback(tx);
    if (rc != 1)
        return rc < 0 ? -1
                      : error_set(err, ERR_NOT_FOUND, "item %s is gone",
                                  s->item.id);
    checkpoints = json_loads(item.checkpoints, 0, NULL);
    store_generation_clear(&item);
    *out = json_incref(json_object_get(checkpoints, "generated"));
    json_decref(checkpoints);
    return *out ? 1 : 0;
}

/*
 * Keeps text that the model wrote for a run that lost its lease (the job
 * was rescued while the model answered), so that the run that took over
 * uses it instead of asking again when it has not asked yet.
 */
static void keep_orphaned(const struct step *s, const json_t *generated)
{
    struct store_tx *tx;
    struct error err;
    char *text = NULL;
    int found;

    error_clear(&err);
    tx = store_begin(s->app->store, &err);
    if (!tx)
        goto fail;
    found = store_generation_get_checkpoint(tx, s->item.id, "generated", &text,
                                            &err);
    free(text);
    if (found < 0 ||
        (found == 0 && products_checkpoint(tx, s->item.id, "generated",
                                           generated, &err) != 0)) {
        store_rollback(tx);
        goto fail;
    }
    if (store_commit(tx, &err) == 0)
        return;
fail:
    log_warn("products",
             "cannot keep the text of a run that lost its lease "
             "instance=%s item=%s error=\"%s\"",
             s->item.instance_id, s->item.id, err.message);
}

int products_generate_run(struct store *st, struct queue_job *job, void *arg,
                          struct error *err)
{
    struct step s = {.app = arg, .job = job};
    const json_t *original;
    json_t *generated;
    int fresh = 0;
    int rc;

    (void)st;
    rc = step_load(&s, err);
    if (rc == 1)
        rc = mark_running(&s, err);
    if (rc != 1)
        goto out;

    generated = json_incref(json_object_get(s.checkpoints, "generated"));
    original = generated ? NULL : original_text(&s, err);
    /* A run that lost its lease may have kept its text since the load. */
    if (original && stored_generation(&s, &generated, err) == 0) {
        generated = ask_model(&s, original, err);
        fresh = 1;
    }
    rc = generated ? finish_step(&s, generated, fresh, err) : -1;
    if (rc != 0 && fresh && generated && err->kind == ERR_CONFLICT)
        keep_orphaned(&s, generated);
    if (rc == 0)
        log_info("products", "item generated instance=%s item=%s product=%s",
                 s.item.instance_id, s.item.id,
                 json_string_value(json_object_get(s.input, "product_id")));
    json_decref(generated);
out:
    step_clear(&s);
    return rc < 0 ? -1 : 0;
}

int products_generate_failed(struct store_tx *tx, const struct queue_job *job,
                             const struct error *cause, void *arg,
                             struct error *err)
{
    struct store_generation item;
    int rc;

    (void)arg;
    rc = products_load(tx, job->instance_id, PRODUCTS_KIND_ITEM,
                       job->generation_id, NULL, 1, &item, err);
    if (rc != 1)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    rc = 0;
    if (strcmp(item.state, PRODUCTS_PENDING) == 0 ||
        strcmp(item.state, PRODUCTS_RUNNING) == 0) {
        rc = products_set_state(tx, item.id, item.state, PRODUCTS_FAILED,
                                err) != 0 ||
                     store_generation_set_error(tx, item.id, cause, err) != 0 ||
                     products_release_held(tx, item.id, err) != 0
                 ? -1
                 : 0;
        if (rc == 0)
            log_warn("products",
                     "item failed instance=%s item=%s kind=%s error=\"%s\"",
                     item.instance_id, item.id, error_kind_name(cause->kind),
                     cause->message);
    }
    store_generation_clear(&item);
    return rc;
}
