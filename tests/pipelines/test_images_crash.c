/*
 * A worker killed while applying an image: the run stops right after the
 * upload is recorded and before the product changes, keeps its lease as a
 * dead process would, and another worker takes the job once the lease
 * expires. The image must be uploaded once and added to the product once.
 * Also a run that died after the upload was sent but before it was
 * recorded: the retry finds the file by its name instead of uploading it
 * again.
 */
#include "images_env.h"

#define BRACELET "Anchor Bracelet Mens"

/* Starts a compress job on the bracelet's last image and runs it to
 * ready; returns the media before. */
static json_t *prepare_item(struct blog_env *env, char job_id[STORE_UUID_SIZE],
                            char item_id[STORE_UUID_SIZE])
{
    char product_id[128];
    char request[1024];
    json_t *media;
    json_t *item;

    products_env_id(env, BRACELET, product_id);
    media = images_env_media(env, product_id);
    snprintf(request, sizeof(request),
             "{\"product_ids\": [\"%s\"], \"media_ids\": [\"%s\"], "
             "\"operation\": \"compress\", \"quality\": 50}",
             product_id, json_string_value(json_at(media, "media[2].id")));
    images_env_create(env, request, job_id);
    images_env_settle(env, job_id);
    item = images_env_item(env, job_id);
    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_READY);
    snprintf(item_id, STORE_UUID_SIZE, "%s",
             json_string_value(json_object_get(item, "id")));
    json_decref(item);
    return media;
}

/* Checks one upload, one add and one removal, the new image last. */
static void check_applied_once(struct blog_env *env, const char *job_id,
                               const json_t *before)
{
    const char *product_id =
        json_string_value(json_object_get(before, "product_id"));
    char add_path[256];
    char delete_path[300];
    json_t *after = images_env_media(env, product_id);
    json_t *item = images_env_item(env, job_id);
    struct store_credits credits;
    int adds;

    assert_string_equal(json_string_value(json_object_get(item, "state")),
                        IMAGES_APPLIED);
    assert_int_equal(products_env_count(env, "PUT", "/wixmp/upload/", 0), 1);
    snprintf(add_path, sizeof(add_path), "/wix/stores/v1/products/%s/media",
             product_id);
    snprintf(delete_path, sizeof(delete_path), "%s/delete", add_path);
    /* The add path is a prefix of the delete path. */
    adds = products_env_count(env, "POST", add_path, 200) -
           products_env_count(env, "POST", delete_path, 200);
    assert_int_equal(adds, 1);
    assert_int_equal(products_env_count(env, "POST", delete_path, 200), 1);
    assert_int_equal(json_array_size(json_object_get(after, "media")), 3);
    assert_true(
        json_equal(json_at(after, "media[0]"), json_at(before, "media[0]")));
    assert_true(
        json_equal(json_at(after, "media[1]"), json_at(before, "media[1]")));
    assert_string_equal(
        json_string_value(json_at(after, "media[2].id")),
        json_string_value(json_object_get(item, "new_media_id")));
    credits = blog_env_credits(env);
    assert_int_equal(credits.available,
                     BLOG_ENV_CREDITS - env->app->costs.image_item);
    assert_int_equal(credits.reserved, 0);
    json_decref(after);
    json_decref(item);
}

/* Lets the dead run's lease expire and has the job rescued. */
static void expire_lease(struct blog_env *env)
{
    int64_t rescued = 0;
    struct error err;

    error_clear(&err);
    assert_int_equal(images_env_run_one(env), 0); /* still leased */
    clock_fake_advance_ms(QUEUE_DEFAULT_LEASE_MS + 1000);
    assert_int_equal(queue_rescue_expired(env->app->store, &rescued, &err), 0);
    assert_int_equal(rescued, 1);
}

static void test_killed_after_upload(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    char item_id[STORE_UUID_SIZE];
    json_t *before;

    products_env_start(&env, *(const enum store_backend *)*state);
    before = prepare_item(&env, job_id, item_id);
    images_env_act(&env, job_id, item_id, IMAGES_APPLY);

    images_set_crash_point("after-upload");
    assert_int_equal(images_env_run_one(&env), 1);
    images_set_crash_point(NULL);
    assert_int_equal(products_env_count(&env, "PUT", "/wixmp/upload/", 200), 1);
    assert_int_equal(
        products_env_count(&env, "POST", "/wix/stores/v1/products/", 0), 0);

    expire_lease(&env);
    images_env_settle(&env, job_id);
    check_applied_once(&env, job_id, before);
    json_decref(before);
    blog_env_stop(&env);
}

static void test_lost_upload_answer(void **state)
{
    struct blog_env env;
    char job_id[STORE_UUID_SIZE];
    char item_id[STORE_UUID_SIZE];
    json_t *before;

    products_env_start(&env, *(const enum store_backend *)*state);
    before = prepare_item(&env, job_id, item_id);
    images_env_act(&env, job_id, item_id, IMAGES_APPLY);

    /* The sandbox stores the upload and drops the answer: the run fails
     * with the effect begun and no file id recorded. */
    json_decref(sandbox_proc_add_fault(
        &env.sandbox, "{\"endpoint\": \"PUT /wixmp/upload/*\", \"mode\": "
                      "\"drop\", \"count\": 1}"));
    images_env_settle(&env, job_id);
    check_applied_once(&env, job_id, before);
    json_decref(before);
    blog_env_stop(&env);
}

#define BOTH(test)                                                             \
    cmocka_unit_test_prestate(test, (void *)&blog_env_sqlite),                 \
        cmocka_unit_test_prestate(test, (void *)&blog_env_postgres)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_killed_after_upload),
        BOTH(test_lost_upload_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
