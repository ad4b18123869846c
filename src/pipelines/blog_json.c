/*
 * The API's JSON view of blog generations (docs/openapi.yaml,
 * BlogGeneration) and the paged list of a site's generations.
 */
#include "pipelines/blog_internal.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_MAX 100
#define CURSOR_TEXT_MAX 96

enum error_kind blog_error_kind_from_name(const char *name)
{
    for (int kind = ERR_NONE; kind <= ERR_PERMANENT; kind++) {
        if (name && strcmp(error_kind_name((enum error_kind)kind), name) == 0)
            return (enum error_kind)kind;
    }
    return ERR_PERMANENT;
}

static json_t *parse_object(const char *text)
{
    json_t *value = text ? json_loads(text, 0, NULL) : NULL;

    if (json_is_object(value))
        return value;
    json_decref(value);
    return json_object();
}

static json_t *or_null(json_t *value)
{
    return value ? json_incref(value) : json_null();
}

/* The written post without the image prompt, which is internal. */
static json_t *post_view(const json_t *write)
{
    json_t *post = json_deep_copy(json_object_get(write, "post"));

    if (!post)
        return json_null();
    json_object_del(post, "image_prompt");
    return post;
}

/* The cover: the Media Manager file once published, else Replicate's. */
static json_t *image_view(const json_t *image, const json_t *publish)
{
    if (json_object_get(publish, "media_id"))
        return json_pack("{s:O, s:O, s:O, s:O}", "media_id",
                         json_object_get(publish, "media_id"), "url",
                         json_object_get(publish, "media_url"), "width",
                         json_object_get(publish, "width"), "height",
                         json_object_get(publish, "height"));
    if (json_object_get(image, "path"))
        return json_pack("{s:n, s:O, s:O, s:O}", "media_id", "url",
                         json_object_get(image, "output_url"), "width",
                         json_object_get(image, "width"), "height",
                         json_object_get(image, "height"));
    return json_null();
}

static json_t *error_view(const struct store_generation *gen)
{
    if (!gen->error_kind[0] && !gen->error_message)
        return json_null();
    return json_pack("{s:s, s:s}", "kind", gen->error_kind, "message",
                     gen->error_message ? gen->error_message : "");
}

/*
 * Adds what the generation's credits are doing: credits_reserved is what
 * it still holds (its cost until it ends), credits_charged what a done
 * generation cost, credits_released what a failed or cancelled one gave
 * back. Every path that ends a generation failed or cancelled releases its
 * reservation in the same transaction, so the state shows which applies.
 */
static int add_credits_view(json_t *view, const struct store_generation *gen)
{
    int ended = blog_state_ended(gen->state);
    int given_back = strcmp(gen->state, BLOG_FAILED) == 0 ||
                     strcmp(gen->state, BLOG_CANCELLED) == 0;

    return json_object_set_new(
               view, "credits_reserved",
               json_integer(ended ? 0 : (json_int_t)gen->credits_reserved)) ||
           json_object_set_new(
               view, "credits_charged",
               json_integer((json_int_t)gen->credits_charged)) ||
           json_object_set_new(
               view, "credits_released",
               json_integer(given_back ? (json_int_t)gen->credits_reserved
                                       : 0));
}

static json_t *time_view(int64_t ms)
{
    char text[32];

    clock_format_iso(ms, text);
    return json_string(text);
}

json_t *blog_view(const struct store_generation *gen, struct error *err)
{
    json_t *input = parse_object(gen->input);
    json_t *checkpoints = parse_object(gen->checkpoints);
    json_t *wix_ids = parse_object(gen->wix_ids);
    json_t *result = parse_object(gen->result);
    json_t *ideas =
        json_object_get(json_object_get(checkpoints, "ideas"), "ideas");
    json_t *selection = json_object_get(checkpoints, "selection");
    json_t *publish = json_object_get(checkpoints, "publish");
    json_t *draft_url = json_object_get(result, "draft_url");
    json_t *view;

    if (!draft_url || json_is_null(draft_url))
        draft_url = json_object_get(publish, "draft_url");
    view = json_pack(
        "{s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
        gen->id, "state", gen->state, "request", input, "ideas",
        ideas ? json_incref(ideas) : json_array(), "chosen_idea",
        or_null(json_object_get(selection, "index")), "post",
        post_view(json_object_get(checkpoints, "write")), "image",
        image_view(json_object_get(checkpoints, "image"), publish),
        "draft_post_id", or_null(json_object_get(wix_ids, "draftPostId")),
        "draft_url", or_null(draft_url), "error", error_view(gen), "created_at",
        time_view(gen->created_at_ms), "updated_at",
        time_view(gen->updated_at_ms));
    if (view && add_credits_view(view, gen) != 0) {
        json_decref(view);
        view = NULL;
    }
    json_decref(input);
    json_decref(checkpoints);
    json_decref(wix_ids);
    json_decref(result);
    if (!view)
        error_set(err, ERR_PERMANENT, "out of memory");
    return view;
}

json_t *blog_generation_json(struct app *app, const char *instance_id,
                             const char *id, struct error *err)
{
    struct store_tx *tx = store_begin_read(app->store, err);
    struct store_generation gen;
    json_t *view;

    if (!tx)
        return NULL;
    if (blog_generation_load(tx, instance_id, id, 0, &gen, err) != 0) {
        store_rollback(tx);
        return NULL;
    }
    store_rollback(tx);
    view = blog_view(&gen, err);
    store_generation_clear(&gen);
    return view;
}

/* ------------------------------------------------------------------ */
/* List                                                                */
/* ------------------------------------------------------------------ */

/* A cursor names the last generation of a page: its creation time and id,
 * base64url-encoded, so that new generations do not shift later pages. */
struct cursor {
    int64_t created_at_ms;
    char id[STORE_UUID_SIZE];
};

static void cursor_encode(const struct store_generation *gen, char *out,
                          size_t size)
{
    char text[CURSOR_TEXT_MAX];
    int len = snprintf(text, sizeof(text), "%" PRId64 ":%s", gen->created_at_ms,
                       gen->id);

    crypto_base64url_encode((const unsigned char *)text, (size_t)len, out,
                            size);
}

static int cursor_decode(const char *encoded, struct cursor *out,
                         struct error *err)
{
    char text[CURSOR_TEXT_MAX];
    long len = -1;
    char *colon;
    char *end;

    if (strlen(encoded) < crypto_base64url_size(sizeof(text) - 1))
        len = crypto_base64url_decode(encoded, strlen(encoded),
                                      (unsigned char *)text, sizeof(text) - 1);
    if (len > 0) {
        text[len] = '\0';
        colon = strchr(text, ':');
        if (colon && strlen(colon + 1) == STORE_UUID_SIZE - 1) {
            out->created_at_ms = strtoll(text, &end, 10);
            if (end == colon) {
                memcpy(out->id, colon + 1, STORE_UUID_SIZE);
                return 0;
            }
        }
    }
    error_set(err, ERR_INVALID,
              "cursor: \"%.40s\" is not a next_cursor of this list; start "
              "again without a cursor",
              encoded);
    snprintf(err->code, sizeof(err->code), "cursor");
    return -1;
}

static struct store_stmt *query_page(struct store_tx *tx,
                                     const char *instance_id, int limit,
                                     const struct cursor *after,
                                     struct error *err)
{
    if (!after)
        return store_query(
            tx,
            "SELECT id FROM generations WHERE instance_id = ? "
            "AND kind = 'blog' "
            "ORDER BY created_at DESC, id LIMIT ?",
            STORE_ARGS(STORE_TEXT(instance_id), STORE_INT(limit)), err);
    return store_query(tx,
                       "SELECT id FROM generations WHERE instance_id = ? "
                       "AND kind = 'blog' AND (created_at < ? OR "
                       "(created_at = ? AND id > ?)) "
                       "ORDER BY created_at DESC, id LIMIT ?",
                       STORE_ARGS(STORE_TEXT(instance_id),
                                  STORE_INT(after->created_at_ms),
                                  STORE_INT(after->created_at_ms),
                                  STORE_TEXT(after->id), STORE_INT(limit)),
                       err);
}

/* Reads up to limit ids after the cursor into a new array of strings. */
static json_t *page_ids(struct store_tx *tx, const char *instance_id, int limit,
                        const struct cursor *after, struct error *err)
{
    struct store_stmt *stmt = query_page(tx, instance_id, limit, after, err);
    json_t *ids = json_array();
    int rc;

    if (!stmt) {
        json_decref(ids);
        return NULL;
    }
    while ((rc = store_step(stmt, err)) == 1)
        json_array_append_new(ids, json_string(store_column_text(stmt, 0)));
    store_finalize(stmt);
    if (rc < 0) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

static int append_views(struct store_tx *tx, const char *instance_id,
                        const json_t *ids, size_t count, json_t *views,
                        char *next, size_t next_size, struct error *err)
{
    for (size_t i = 0; i < count; i++) {
        struct store_generation gen;
        json_t *view;

        if (blog_generation_load(tx, instance_id,
                                 json_string_value(json_array_get(ids, i)), 0,
                                 &gen, err) != 0)
            return -1;
        view = blog_view(&gen, err);
        if (i + 1 == count)
            cursor_encode(&gen, next, next_size);
        store_generation_clear(&gen);
        if (!view)
            return -1;
        json_array_append_new(views, view);
    }
    return 0;
}

json_t *blog_list_json(struct app *app, const char *instance_id, int limit,
                       const char *cursor, struct error *err)
{
    struct cursor after;
    struct store_tx *tx;
    json_t *ids;
    json_t *views = json_array();
    char next[CURSOR_TEXT_MAX * 2] = "";
    size_t count;
    int more;

    if (limit < 1 || limit > LIST_LIMIT_MAX) {
        json_decref(views);
        error_set(err, ERR_INVALID, "limit: %d is out of range (1 to %d)",
                  limit, LIST_LIMIT_MAX);
        snprintf(err->code, sizeof(err->code), "limit");
        return NULL;
    }
    if (cursor && cursor[0] && cursor_decode(cursor, &after, err) != 0) {
        json_decref(views);
        return NULL;
    }
    tx = store_begin_read(app->store, err);
    if (!tx) {
        json_decref(views);
        return NULL;
    }

    /* Reading one more than the page shows whether a next page exists. */
    ids = page_ids(tx, instance_id, limit + 1,
                   cursor && cursor[0] ? &after : NULL, err);
    more = ids && json_array_size(ids) > (size_t)limit;
    count = more ? (size_t)limit : json_array_size(ids);
    if (!ids || append_views(tx, instance_id, ids, count, views, next,
                             sizeof(next), err) != 0) {
        store_rollback(tx);
        json_decref(ids);
        json_decref(views);
        return NULL;
    }
    store_rollback(tx);
    json_decref(ids);
    return json_pack("{s:o, s:o}", "generations", views, "next_cursor",
                     more ? json_string(next) : json_null());
}
