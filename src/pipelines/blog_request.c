/*
 * What the owner asks for: starting a generation, choosing an idea, asking
 * for new ideas and cancelling. Each is one transaction, and each reads the
 * generation through blog_generation_load(), scoped to the caller's site.
 */
#include "pipelines/blog_internal.h"

#include "core/json.h"
#include "core/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/* Sets ERR_INVALID with "field: message" and err->code = code. */
static int field_error(struct error *err, const char *code, const char *field,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int field_error(struct error *err, const char *code, const char *field,
                       const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list args;

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    error_set(err, ERR_INVALID, "%s: %s", field, message);
    snprintf(err->code, sizeof(err->code), "%s", code);
    return -1;
}

static int has_control_characters(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    }
    return 0;
}

/*
 * Checks an optional text value: a string of at most max characters
 * without control characters, trimmed of spaces. *out is a new string, or
 * NULL when value is absent, null or blank.
 */
static int check_text(const json_t *value, const char *code, const char *field,
                      size_t max, json_t **out, struct error *err)
{
    const char *text;
    size_t start = 0;
    size_t end;

    *out = NULL;
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return field_error(err, code, field, "expected a string, found %s",
                           json_type_phrase(value));
    text = json_string_value(value);
    if (has_control_characters(text))
        return field_error(err, code, field,
                           "must not contain control characters such as "
                           "line breaks");
    end = strlen(text);
    while (text[start] == ' ')
        start++;
    while (end > start && text[end - 1] == ' ')
        end--;
    if (end == start)
        return 0;
    *out = json_stringn(text + start, end - start);
    if (!*out)
        return error_set(err, ERR_PERMANENT, "out of memory");
    if (blog_utf8_length(json_string_value(*out)) > max) {
        json_decref(*out);
        *out = NULL;
        return field_error(err, code, field,
                           "must be at most %zu characters long", max);
    }
    return 0;
}

static int check_keywords(const json_t *value, json_t *keywords,
                          struct error *err)
{
    size_t index;
    json_t *item;

    if (!value || json_is_null(value))
        return 0;
    if (!json_is_array(value))
        return field_error(err, "keywords", "keywords",
                           "expected an array of strings, found %s",
                           json_type_phrase(value));
    if (json_array_size(value) > BLOG_KEYWORDS_MAX)
        return field_error(err, "keywords", "keywords",
                           "must hold at most %d keywords, found %zu",
                           BLOG_KEYWORDS_MAX, json_array_size(value));
    json_array_foreach(value, index, item)
    {
        char field[32];
        json_t *keyword;

        snprintf(field, sizeof(field), "keywords[%zu]", index);
        if (!json_is_string(item))
            return field_error(err, "keywords", field,
                               "expected a string, found %s",
                               json_type_phrase(item));
        if (check_text(item, "keywords", field, BLOG_KEYWORD_MAX, &keyword,
                       err) != 0)
            return -1;
        if (keyword)
            json_array_append_new(keywords, keyword);
    }
    return 0;
}

/*
 * A BCP-47 language tag as the API accepts it: a primary language of 2 or
 * 3 letters, then subtags of 1 to 8 letters or digits joined by '-'
 * ("en", "de", "pt-BR", "zh-Hant-TW").
 */
static int valid_language(const char *tag)
{
    size_t run = 0;
    int first = 1;

    for (const char *p = tag;; p++) {
        if (*p == '-' || *p == '\0') {
            if (run == 0 || run > 8 || (first && (run < 2 || run > 3)))
                return 0;
            if (*p == '\0')
                return 1;
            first = 0;
            run = 0;
        } else if (isalpha((unsigned char)*p) ||
                   (!first && isdigit((unsigned char)*p))) {
            run++;
        } else {
            return 0;
        }
    }
}

static int check_fields_known(const json_t *request, struct error *err)
{
    static const char *const known[] = {"topic", "keywords", "tone",
                                        "language"};
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)request, key, value)
    {
        size_t i = 0;

        (void)value;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]))
            i++;
        if (i == sizeof(known) / sizeof(known[0]))
            return field_error(err, "request", "request",
                               "unknown field \"%.40s\": expected topic, "
                               "keywords, tone or language",
                               key);
    }
    return 0;
}

json_t *blog_request_validate(const json_t *request, struct error *err)
{
    json_t *out = json_object();
    json_t *keywords = json_array();
    json_t *topic = NULL;
    json_t *tone = NULL;
    json_t *language = NULL;

    if (!out || !keywords) {
        error_set(err, ERR_PERMANENT, "out of memory");
        goto fail;
    }
    if (!json_is_object(request)) {
        field_error(err, "request", "request",
                    "expected a JSON object, found %s",
                    json_type_phrase(request));
        goto fail;
    }
    if (check_fields_known(request, err) != 0 ||
        check_text(json_object_get(request, "topic"), "topic", "topic",
                   BLOG_TOPIC_MAX, &topic, err) != 0 ||
        check_keywords(json_object_get(request, "keywords"), keywords, err) !=
            0 ||
        check_text(json_object_get(request, "tone"), "tone", "tone",
                   BLOG_TONE_MAX, &tone, err) != 0 ||
        check_text(json_object_get(request, "language"), "language", "language",
                   BLOG_LANGUAGE_MAX, &language, err) != 0)
        goto fail;
    if (language && !valid_language(json_string_value(language))) {
        field_error(err, "language", "language",
                    "\"%s\" is not a BCP-47 language tag such as \"en\", "
                    "\"de\" or \"pt-BR\"",
                    json_string_value(language));
        goto fail;
    }

    json_object_set_new(out, "topic", topic ? topic : json_null());
    json_object_set_new(out, "keywords", keywords);
    json_object_set_new(out, "tone", tone ? tone : json_null());
    json_object_set_new(out, "language",
                        language ? language : json_string("en"));
    return out;

fail:
    json_decref(topic);
    json_decref(tone);
    json_decref(language);
    json_decref(keywords);
    json_decref(out);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Loading a generation of one site                                    */
/* ------------------------------------------------------------------ */

int blog_state_ended(const char *state)
{
    return strcmp(state, BLOG_DONE) == 0 || strcmp(state, BLOG_FAILED) == 0 ||
           strcmp(state, BLOG_CANCELLED) == 0;
}

int blog_generation_load(struct store_tx *tx, const char *instance_id,
                         const char *id, int for_update,
                         struct store_generation *out, struct error *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!id || !id[0] || strlen(id) >= STORE_UUID_SIZE)
        goto not_found;
    rc = store_generation_get(tx, id, for_update, out, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && strcmp(out->instance_id, instance_id) == 0 &&
        strcmp(out->kind, "blog") == 0)
        return 0;
    store_generation_clear(out);

not_found:
    error_set(err, ERR_NOT_FOUND,
              "blog generation \"%.64s\" not found on this site", id ? id : "");
    snprintf(err->code, sizeof(err->code), "not_found");
    return -1;
}

/* Begins a transaction and loads the generation locked; NULL on error. */
static struct store_tx *begin_locked(struct app *app, const char *instance_id,
                                     const char *id,
                                     struct store_generation *gen,
                                     struct error *err)
{
    struct store_tx *tx = store_begin(app->store, err);

    memset(gen, 0, sizeof(*gen));
    if (!tx)
        return NULL;
    if (blog_generation_load(tx, instance_id, id, 1, gen, err) != 0) {
        store_rollback(tx);
        return NULL;
    }
    return tx;
}

static int not_awaiting(const struct store_generation *gen, const char *what,
                        struct error *err)
{
    error_set(err, ERR_CONFLICT,
              "cannot %s: generation %s is %s, and only a generation in "
              "awaiting_selection can do that",
              what, gen->id, gen->state);
    snprintf(err->code, sizeof(err->code), "conflict");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Start, select, regenerate, cancel                                   */
/* ------------------------------------------------------------------ */

int64_t blog_generation_cost(const struct app *app)
{
    return app->costs.blog_ideas + app->costs.blog_write +
           app->costs.blog_image + app->costs.blog_publish;
}

static int check_instance(struct store_tx *tx, const char *instance_id,
                          struct error *err)
{
    struct store_instance instance;
    int rc;

    memset(&instance, 0, sizeof(instance));
    rc = store_instance_get(tx, instance_id, &instance, err);
    if (rc < 0)
        return -1;
    if (rc == 1 && strcmp(instance.state, "installed") == 0) {
        store_instance_clear(&instance);
        return 0;
    }
    error_set(err, ERR_NOT_FOUND,
              "site instance \"%.64s\" %s: install the app on the site first",
              instance_id, rc == 1 ? "has removed the app" : "is not known");
    store_instance_clear(&instance);
    return -1;
}

/* The validated request with the options, as JSON text; NULL on error. */
static char *start_input(const json_t *request,
                         const struct blog_start_options *options,
                         struct error *err)
{
    json_t *input = blog_request_validate(request, err);
    char *text;

    if (!input)
        return NULL;
    if (options && blog_options_add(input, options, err) != 0) {
        json_decref(input);
        return NULL;
    }
    text = json_to_string(input);
    json_decref(input);
    if (!text)
        error_set(err, ERR_PERMANENT, "out of memory");
    return text;
}

/*
 * Rewrites an insufficient-credits error to say what the owner can do.
 * Every generation holds its whole cost until it ends, so the credits that
 * unfinished generations hold are named. Keeps err when the balance can't
 * be read. Returns -1.
 */
static int explain_insufficient(struct store_tx *tx, const char *instance_id,
                                int64_t cost, struct error *err)
{
    struct store_credits credits;
    struct error read_err;

    error_clear(&read_err);
    if (err->kind != ERR_INSUFFICIENT_CREDITS ||
        store_credits_get(tx, instance_id, &credits, &read_err) != 0)
        return -1;
    if (credits.reserved > 0)
        error_set(err, ERR_INSUFFICIENT_CREDITS,
                  "insufficient credits: balance %" PRId64 ", cost %" PRId64
                  ", and %" PRId64 " more are held by generations that have "
                  "not finished; finish or cancel your open generations, or "
                  "upgrade your plan",
                  credits.available, cost, credits.reserved);
    else
        error_set(err, ERR_INSUFFICIENT_CREDITS,
                  "insufficient credits: balance %" PRId64 ", cost %" PRId64
                  "; upgrade your plan for more credits",
                  credits.available, cost);
    snprintf(err->code, sizeof(err->code), "insufficient_credits");
    return -1;
}

/* Creates the generation, reserves its cost and queues the ideas job. */
static int start_in(struct store_tx *tx, struct app *app,
                    const char *instance_id, const char *input_text,
                    char id[STORE_UUID_SIZE], struct error *err)
{
    int64_t cost = blog_generation_cost(app);

    if (check_instance(tx, instance_id, err) != 0 ||
        store_generation_create(tx, instance_id, "blog", NULL,
                                BLOG_GENERATING_IDEAS, input_text, id,
                                err) != 0)
        return -1;
    if (store_credits_reserve(tx, instance_id, id, cost, err) < 0)
        return explain_insufficient(tx, instance_id, cost, err);
    return blog_enqueue(tx, instance_id, id, BLOG_JOB_IDEAS, 1, err);
}

int blog_start_in(struct store_tx *tx, struct app *app, const char *instance_id,
                  const json_t *request,
                  const struct blog_start_options *options,
                  char id_out[STORE_UUID_SIZE], struct error *err)
{
    char *input_text = start_input(request, options, err);
    int rc;

    if (!input_text)
        return -1;
    rc = start_in(tx, app, instance_id, input_text, id_out, err);
    free(input_text);
    return rc;
}

int blog_start(struct app *app, const char *instance_id, const json_t *request,
               char id_out[STORE_UUID_SIZE], struct error *err)
{
    char *input_text = start_input(request, NULL, err);
    struct store_tx *tx = NULL;
    char id[STORE_UUID_SIZE];

    if (!input_text)
        return -1;
    tx = store_begin(app->store, err);
    if (!tx || start_in(tx, app, instance_id, input_text, id, err) != 0)
        goto fail;
    free(input_text);
    if (store_commit(tx, err) != 0)
        return -1;

    memcpy(id_out, id, STORE_UUID_SIZE);
    log_info("blog",
             "generation started instance=%s generation=%s reserved=%" PRId64,
             instance_id, id, blog_generation_cost(app));
    return 0;

fail:
    free(input_text);
    store_rollback(tx);
    return -1;
}

/* The ideas of the latest round, borrowed from checkpoints, or NULL. */
static const json_t *current_ideas(const json_t *checkpoints)
{
    const json_t *ideas =
        json_object_get(json_object_get(checkpoints, "ideas"), "ideas");

    return json_is_array(ideas) ? ideas : NULL;
}

static int write_selection(struct store_tx *tx,
                           const struct store_generation *gen, int64_t index,
                           struct error *err)
{
    json_t *checkpoints = json_loads(gen->checkpoints, 0, NULL);
    const json_t *ideas = current_ideas(checkpoints);
    size_t count = ideas ? json_array_size(ideas) : 0;
    json_t *selection;
    int rc;

    if (index < 0 || (size_t)index >= count) {
        json_decref(checkpoints);
        if (count == 0)
            return field_error(err, "index", "index",
                               "generation %s has no ideas to choose from",
                               gen->id);
        return field_error(err, "index", "index",
                           "%" PRId64 " is out of range: choose an idea from "
                           "0 to %zu",
                           index, count - 1);
    }
    selection = json_pack("{s:I, s:O}", "index", (json_int_t)index, "idea",
                          json_array_get(ideas, (size_t)index));
    json_decref(checkpoints);
    if (!selection)
        return error_set(err, ERR_PERMANENT, "out of memory");
    rc = blog_write_checkpoint(tx, gen->id, "selection", selection, err);
    json_decref(selection);
    return rc;
}

int blog_select(struct app *app, const char *instance_id, const char *id,
                int64_t index, struct error *err)
{
    struct store_generation gen;
    struct store_tx *tx = begin_locked(app, instance_id, id, &gen, err);

    if (!tx)
        return -1;
    if (strcmp(gen.state, BLOG_AWAITING_SELECTION) != 0) {
        not_awaiting(&gen, "select an idea", err);
        goto fail;
    }
    /* The only job queued while awaiting a choice is the ideas' expiry. */
    if (write_selection(tx, &gen, index, err) != 0 ||
        blog_set_state(tx, id, BLOG_AWAITING_SELECTION, BLOG_WRITING, err) !=
            0 ||
        queue_cancel_generation(tx, id, NULL, err) != 0 ||
        blog_enqueue(tx, instance_id, id, BLOG_JOB_WRITE, 0, err) != 0)
        goto fail;
    store_generation_clear(&gen);
    if (store_commit(tx, err) != 0)
        return -1;
    log_info("blog", "idea selected instance=%s generation=%s index=%" PRId64,
             instance_id, id, index);
    return 0;

fail:
    store_generation_clear(&gen);
    store_rollback(tx);
    return -1;
}

/* Each round of ideas is a paid OpenAI call that the generation's
 * reservation does not cover, so their number is capped. */
static int check_rounds(const struct store_generation *gen, json_int_t round,
                        int64_t max_rounds, struct error *err)
{
    if (round < max_rounds)
        return 0;
    error_set(err, ERR_CONFLICT,
              "cannot ask for new ideas: generation %s already had %" PRId64
              " rounds of ideas, the most one generation may have; choose "
              "one of these ideas, or cancel and start a new generation",
              gen->id, max_rounds);
    snprintf(err->code, sizeof(err->code), "conflict");
    return -1;
}

int blog_regenerate_ideas(struct app *app, const char *instance_id,
                          const char *id, struct error *err)
{
    struct blog_settings settings;
    struct store_generation gen;
    struct store_tx *tx;
    json_t *checkpoints;
    json_int_t round;

    if (blog_settings_read(app->cfg, &settings, err) != 0)
        return -1;
    tx = begin_locked(app, instance_id, id, &gen, err);
    if (!tx)
        return -1;
    if (strcmp(gen.state, BLOG_AWAITING_SELECTION) != 0) {
        not_awaiting(&gen, "ask for new ideas", err);
        goto fail;
    }
    checkpoints = json_loads(gen.checkpoints, 0, NULL);
    round = json_integer_value(
        json_object_get(json_object_get(checkpoints, "ideas"), "round"));
    json_decref(checkpoints);
    if (check_rounds(&gen, round, settings.max_idea_rounds, err) != 0 ||
        blog_set_state(tx, id, BLOG_AWAITING_SELECTION, BLOG_GENERATING_IDEAS,
                       err) != 0 ||
        queue_cancel_generation(tx, id, NULL, err) != 0 ||
        blog_enqueue(tx, instance_id, id, BLOG_JOB_IDEAS, (int)round + 1,
                     err) != 0)
        goto fail;
    store_generation_clear(&gen);
    if (store_commit(tx, err) != 0)
        return -1;
    log_info("blog", "new ideas requested instance=%s generation=%s round=%d",
             instance_id, id, (int)round + 1);
    return 0;

fail:
    store_generation_clear(&gen);
    store_rollback(tx);
    return -1;
}

/* 1 when the site has removed the app, 0 when not, -1 on error. */
static int site_removed(struct store_tx *tx, const char *instance_id,
                        struct error *err)
{
    struct store_instance instance;
    int rc;

    memset(&instance, 0, sizeof(instance));
    rc = store_instance_get(tx, instance_id, &instance, err);
    if (rc == 1)
        rc = strcmp(instance.state, "removed") == 0;
    store_instance_clear(&instance);
    return rc;
}

/*
 * Checks that gen may be cancelled. Once publishing, the draft (or post)
 * may already exist on the site, so only the removal of the app may stop
 * it: nothing more may be written to a site that removed the app.
 */
static int check_cancellable(struct store_tx *tx,
                             const struct store_generation *gen,
                             struct error *err)
{
    json_t *input;
    int removed;
    int publish;

    if (blog_state_ended(gen->state)) {
        error_set(err, ERR_CONFLICT,
                  "cannot cancel: generation %s has already ended (%s)",
                  gen->id, gen->state);
        snprintf(err->code, sizeof(err->code), "conflict");
        return -1;
    }
    if (strcmp(gen->state, BLOG_PUBLISHING) != 0)
        return 0;
    removed = site_removed(tx, gen->instance_id, err);
    if (removed != 0)
        return removed < 0 ? -1 : 0;

    input = json_loads(gen->input, 0, NULL);
    publish = blog_options_publish(input);
    json_decref(input);
    error_set(err, ERR_CONFLICT,
              "cannot cancel: the %s is being %s your Wix Blog and can't be "
              "cancelled now; delete the %s in Wix if you don't want it",
              publish ? "post" : "draft", publish ? "published on" : "saved to",
              publish ? "post" : "draft");
    snprintf(err->code, sizeof(err->code), "conflict");
    return -1;
}

int blog_cancel(struct app *app, const char *instance_id, const char *id,
                struct error *err)
{
    struct store_generation gen;
    struct store_tx *tx = begin_locked(app, instance_id, id, &gen, err);
    int64_t cancelled = 0;

    if (!tx)
        return -1;
    if (check_cancellable(tx, &gen, err) != 0)
        goto fail;
    if (blog_set_state(tx, id, gen.state, BLOG_CANCELLED, err) != 0 ||
        queue_cancel_generation(tx, id, &cancelled, err) != 0 ||
        store_credits_release(tx, id, err) < 0)
        goto fail;
    store_generation_clear(&gen);
    if (store_commit(tx, err) != 0)
        return -1;
    log_info("blog",
             "generation cancelled instance=%s generation=%s "
             "jobs_cancelled=%" PRId64,
             instance_id, id, cancelled);
    return 0;

fail:
    store_generation_clear(&gen);
    store_rollback(tx);
    return -1;
}
