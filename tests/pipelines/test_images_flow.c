/*
 * The Image Optimizer's flow against the sandbox: apply puts the new image
 * in the original's place and restore puts the original back, with the
 * product's media exactly as before; auto mode; and the failures that cost
 * nothing: a failed prediction, an expired output, a URL that is not an
 * image, an image over the size limit, and a short balance.
 */
#include "images_env.h"

#define BRACELET "Anchor Bracelet Mens" /* three images */
#define CLAY_POT "Clay Plant Pot"

/* Starts a job on the image at index of the product; returns the media
 * list before. */
static json_t *start_on(struct blog_env *env, const char *product, size_t index,
                        const char *settings, char job_id[STORE_UUID_SIZE])
{
    char product_id[128];
    char request[1024];
    json_t *media;

    products_env_id(env, product, product_id);
    media = images_env_media(env, product_id);
    snprintf(request, sizeof(request),
             "{\"product_ids\": [\"%s\"], \"media_ids\": [\"%s\"], %s}",
             product_id,
             json_string_value(json_object_get(
                 json_array_get(json_object_get(media, "media"), index), "id")),
             settings);
    images_env_create(env, request, job_id);
    return media;
}

static const char *media_id_at(const json_t *media, size_t index)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(media, "media"), index), "id"));
}

static void test_apply_then_restore(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    const char *product_id;
    const char *item_id;
    const char *new_id;
    struct store_credits credits;
    json_t *before;
    json_t *applied;
    json_t *restored;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    before = start_on(&env, BRACELET, 1,
                      "\"operation\": \"compress\", \"quality\": 60", job_id);
    product_id = json_string_value(json_object_get(before, "product_id"));
    images_env_settle(&env, job_id);
    item = images_env_item(&env, job_id);
    item_id = json_string_value(json_object_get(item, "id"));
    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_READY);
    assert_string_equal(json_string_value(json_object_get(item, "alt_source")),
                        "product_name");
    assert_string_equal(json_string_value(json_object_get(item, "alt_text")),
                        BRACELET);

    /* Apply: the new image takes the middle place. */
    images_env_act(&env, job_id, item_id, IMAGES_APPLY);
    images_env_settle(&env, job_id);
    json_decref(item);
    item = images_env_item(&env, job_id);
    item_id = json_string_value(json_object_get(item, "id"));
    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_APPLIED);
    new_id = json_string_value(json_object_get(item, "new_media_id"));
    assert_non_null(new_id);
    applied = images_env_media(&env, product_id);
    assert_int_equal(json_array_size(json_object_get(applied, "media")), 3);
    assert_string_equal(media_id_at(applied, 0), media_id_at(before, 0));
    assert_string_equal(media_id_at(applied, 1), new_id);
    assert_string_equal(media_id_at(applied, 2), media_id_at(before, 2));
    assert_int_equal(products_env_count(&env, "PUT", "/wixmp/upload/", 200), 1);
    credits = blog_env_credits(&env);
    assert_int_equal(credits.available,
                     BLOG_ENV_CREDITS - env.app->costs.image_item);
    assert_int_equal(credits.reserved, 0);

    /* Restore: the list is exactly as it was, and nothing is charged. */
    images_env_act(&env, job_id, item_id, IMAGES_RESTORE);
    images_env_settle(&env, job_id);
    restored = images_env_media(&env, product_id);
    assert_true(json_equal(json_object_get(restored, "media"),
                           json_object_get(before, "media")));
    credits = blog_env_credits(&env);
    assert_int_equal(credits.available,
                     BLOG_ENV_CREDITS - env.app->costs.image_item);

    /* Applying again reuses the upload and charges nothing more. */
    images_env_act(&env, job_id, item_id, IMAGES_APPLY);
    images_env_settle(&env, job_id);
    json_decref(applied);
    applied = images_env_media(&env, product_id);
    assert_string_equal(media_id_at(applied, 1), new_id);
    assert_int_equal(products_env_count(&env, "PUT", "/wixmp/upload/", 200), 1);
    credits = blog_env_credits(&env);
    assert_int_equal(credits.available,
                     BLOG_ENV_CREDITS - env.app->costs.image_item);

    json_decref(item);
    json_decref(before);
    json_decref(applied);
    json_decref(restored);
    blog_env_stop(&env);
}

static void test_auto_mode_applies(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    json_t *before;
    json_t *after;
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    before = start_on(&env, CLAY_POT, 0,
                      "\"operation\": \"remove_background\", \"mode\": "
                      "\"auto\", \"max_width\": 600",
                      job_id);
    images_env_settle(&env, job_id);
    item = images_env_item(&env, job_id);
    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_APPLIED);
    after = images_env_media(
        &env, json_string_value(json_object_get(before, "product_id")));
    assert_string_equal(
        media_id_at(after, 0),
        json_string_value(json_object_get(item, "new_media_id")));
    assert_string_equal(media_id_at(after, 1), media_id_at(before, 1));
    assert_int_equal(
        json_integer_value(json_object_get(item, "credits_charged")),
        env.app->costs.image_item);
    json_decref(item);
    json_decref(before);
    json_decref(after);
    blog_env_stop(&env);
}

static void test_all_images_in_order(void **state)
{
    struct blog_env env;
    char product_id[128];
    char request[512];
    char job_id[STORE_UUID_SIZE];
    json_t *before;
    json_t *after;
    json_t *items;

    products_env_start(&env, *(const enum store_backend *)*state);
    products_env_id(&env, BRACELET, product_id);
    before = images_env_media(&env, product_id);
    snprintf(request, sizeof(request),
             "{\"product_ids\": [\"%s\"], \"operation\": \"compress\", "
             "\"quality\": 50, \"mode\": \"auto\"}",
             product_id);
    images_env_create(&env, request, job_id);
    images_env_settle(&env, job_id);
    items = images_env_items(&env, job_id);
    after = images_env_media(&env, product_id);
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++) {
        const json_t *item = json_array_get(items, i);

        assert_string_equal(json_string_value(json_object_get(item, "state")),
                            IMAGES_APPLIED);
        assert_string_equal(
            json_string_value(json_object_get(item, "media_id")),
            media_id_at(before, i));
        assert_string_equal(
            media_id_at(after, i),
            json_string_value(json_object_get(item, "new_media_id")));
    }
    json_decref(items);
    json_decref(before);
    json_decref(after);
    blog_env_stop(&env);
}

static void test_product_lock_excludes(void **state)
{
    struct blog_env env;
    struct store *st;
    struct error err;

    products_env_start(&env, *(const enum store_backend *)*state);
    st = env.app->store;
    error_clear(&err);
    assert_int_equal(images_lock_product(st, "site", "p1", "item-a", &err), 0);
    assert_int_equal(images_lock_product(st, "site", "p1", "item-b", &err), -1);
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_int_equal(err.retry_after_ms, IMAGES_PRODUCT_LOCK_RETRY_MS);
    /* Another product, and the holder again, are fine. */
    assert_int_equal(images_lock_product(st, "site", "p2", "item-b", &err), 0);
    assert_int_equal(images_lock_product(st, "site", "p1", "item-a", &err), 0);
    images_unlock_product(st, "site", "p1", "item-a");
    assert_int_equal(images_lock_product(st, "site", "p1", "item-b", &err), 0);

    /* A dead holder's lock expires. */
    clock_fake_advance_ms(IMAGES_PRODUCT_LOCK_MS + 1);
    assert_int_equal(images_lock_product(st, "site", "p1", "item-a", &err), 0);
    blog_env_stop(&env);
}

/* Runs a one-image job that must fail; checks that it cost nothing and
 * returns the error message (owned by the item). */
static json_t *run_failing(struct blog_env *env, const char *settings,
                           char job_id[STORE_UUID_SIZE])
{
    struct store_credits credits;
    json_t *item;

    json_decref(start_on(env, CLAY_POT, 0, settings, job_id));
    images_env_settle(env, job_id);
    item = images_env_item(env, job_id);
    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_FAILED);
    assert_int_equal(
        json_integer_value(json_object_get(item, "credits_charged")), 0);
    credits = blog_env_credits(env);
    assert_int_equal(credits.available, BLOG_ENV_CREDITS);
    assert_int_equal(credits.reserved, 0);
    return item;
}

static const char *message_of(const json_t *item)
{
    return json_string_value(json_at(item, "error.message"));
}

static void test_replicate_failure_free(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    sandbox_proc_configure(&env.sandbox, "{\"replicate\": {\"fail_next\": 1}}");
    item = run_failing(&env, "\"operation\": \"upscale\"", job_id);
    assert_non_null(strstr(message_of(item), "flagged as sensitive"));
    json_decref(item);
    blog_env_stop(&env);
}

static void test_expired_output_free(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    /* The output is gone the moment the prediction ends. */
    sandbox_proc_configure(&env.sandbox,
                           "{\"replicate\": {\"output_ttl_s\": 0}}");
    item = run_failing(&env, "\"operation\": \"remove_background\"", job_id);
    assert_non_null(strstr(message_of(item), "expired"));
    json_decref(item);
    blog_env_stop(&env);
}

static void test_non_image_url_fails(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    json_decref(sandbox_proc_add_fault(
        &env.sandbox, "{\"endpoint\": \"GET /wixstatic/media/*\", \"mode\": "
                      "\"status\", \"status\": 200, \"body\": {\"html\": "
                      "\"<p>not an image</p>\"}, \"count\": 1}"));
    item = run_failing(&env, "\"operation\": \"compress\"", job_id);
    assert_non_null(strstr(message_of(item), "not an image"));
    assert_non_null(strstr(message_of(item), "application/json"));
    assert_int_equal(products_env_count(&env, "POST", "/replicate/", 0), 0);
    json_decref(item);
    blog_env_stop(&env);
}

static void test_huge_image_fails(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    json_t *item;

    products_env_start(&env, *(const enum store_backend *)*state);
    blog_env_set(&env, "SITESMITH_IMAGE_MAX_BYTES", "20000");
    item = run_failing(&env, "\"operation\": \"upscale\"", job_id);
    assert_non_null(strstr(message_of(item), "larger than the limit of 20000"));
    assert_int_equal(products_env_count(&env, "POST", "/replicate/", 0), 0);
    json_decref(item);

    /* A file under the byte limit with too many pixels fails as well. */
    blog_env_set(&env, "SITESMITH_IMAGE_MAX_BYTES", "26214400");
    blog_env_set(&env, "SITESMITH_IMAGE_MAX_PIXELS", "100000");
    item = run_failing(&env, "\"operation\": \"compress\"", job_id);
    assert_non_null(strstr(message_of(item), "925x1071 pixels"));
    json_decref(item);
    blog_env_stop(&env);
}

static void test_short_balance_rejected(void **state)
{
    struct blog_env env;
    char product_id[128];
    char request[512];
    char job_id[STORE_UUID_SIZE];
    int64_t cost = 0;
    struct error err;
    json_t *body;

    products_env_start(&env, *(const enum store_backend *)*state);
    products_env_id(&env, "Ceramic Vase Fifteen", product_id);
    snprintf(request, sizeof(request),
             "{\"product_ids\": [\"%s\"], \"operation\": \"compress\"}",
             product_id);
    body = json_loads(request, 0, NULL);

    /* 15 images at 3 credits each is 45; hold all but 40 elsewhere. */
    assert_int_equal(env.app->costs.image_item, 3);
    error_clear(&err);
    {
        struct store_tx *tx = store_begin(env.app->store, &err);
        char generation[STORE_UUID_SIZE];

        assert_non_null(tx);
        assert_int_equal(store_generation_create(tx, env.instance_id, "blog",
                                                 NULL, "x", NULL, generation,
                                                 &err),
                         0);
        assert_int_equal(store_credits_reserve(tx, env.instance_id, generation,
                                               BLOG_ENV_CREDITS - 40, &err),
                         1);
        assert_int_equal(store_commit(tx, &err), 0);
    }
    assert_int_equal(
        images_job_create(env.app, env.instance_id, body, job_id, &cost, &err),
        -1);
    assert_int_equal(err.kind, ERR_INSUFFICIENT_CREDITS);
    assert_int_equal(cost, 45);
    assert_int_equal(blog_env_credits(&env).available, 40);
    json_decref(body);
    blog_env_stop(&env);
}

static void test_request_checked(void **state)
{
    static const struct {
        const char *request;
        const char *field;
    } cases[] = {
        {"{\"operation\": \"compress\"}", "product_ids"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"blur\"}", "operation"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"edit\"}", "instruction"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"upscale\", \"scale\": 3}",
         "scale"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"compress\", \"scale\": "
         "2}",
         "scale"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"compress\", \"format\": "
         "\"gif\"}",
         "format"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"compress\", \"quality\": "
         "0}",
         "quality"},
        {"{\"product_ids\": [\"p\"], \"operation\": \"compress\", "
         "\"max_width\": 8}",
         "max_width"},
        {"{\"product_ids\": [\"p\", \"p\"], \"operation\": \"compress\"}",
         "product_ids"},
        {"{\"product_ids\": [\"no-such-product\"], \"operation\": "
         "\"compress\"}",
         "product_ids"},
    };
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    struct error err;

    products_env_start(&env, *(const enum store_backend *)*state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *body = json_loads(cases[i].request, 0, NULL);

        assert_non_null(body);
        error_clear(&err);
        assert_int_equal(images_job_create(env.app, env.instance_id, body,
                                           job_id, NULL, &err),
                         -1);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_string_equal(err.code, cases[i].field);
        json_decref(body);
    }
    blog_env_stop(&env);
}

#define BOTH(test)                                                             \
    cmocka_unit_test_prestate(test, (void *)&blog_env_sqlite),                 \
        cmocka_unit_test_prestate(test, (void *)&blog_env_postgres)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_apply_then_restore),     BOTH(test_all_images_in_order),
        BOTH(test_product_lock_excludes),  BOTH(test_auto_mode_applies),
        BOTH(test_replicate_failure_free), BOTH(test_expired_output_free),
        BOTH(test_non_image_url_fails),    BOTH(test_huge_image_fails),
        BOTH(test_short_balance_rejected), BOTH(test_request_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
