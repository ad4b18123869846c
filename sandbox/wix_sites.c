/*
 * Sites: the control calls that create a site with the app installed
 * (from a fixture or from products in the request), show everything Wix
 * "received" for it, change its install state and permissions, revoke its
 * tokens, and hand out legacy authorization codes and signed dashboard
 * instance strings.
 *
 * A site's state is one JSON object:
 *   instance_id, site_id, name, description, url, locale, currency,
 *   plan (null on the free plan), installed, missing_permissions[],
 *   catalog_version ("V1_CATALOG", "V3_CATALOG", "STORES_NOT_INSTALLED"),
 *   owner_user_id, owner_email, owner_member_id, created_ms,
 *   members[], drafts[], products[], collections[], media{id: entry},
 *   next_numeric_id.
 */
#include "wix.h"

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wix Stores V1 puts every product in this collection. */
#define ALL_PRODUCTS_ID "00000000-000000-000000-000000000001"
/* Dashboard instance strings expire this long after signing, as in Wix's
 * example. */
#define INSTANCE_TTL_MS (4LL * 60 * 60 * 1000)
#define SITES_MAX 10000
/* Product numericIds count up from here, a value of the size Wix uses. */
#define FIRST_NUMERIC_ID 1700000000000000LL

void wix_site_free(struct wix_site *site)
{
    if (!site)
        return;
    json_decref(site->state);
    free(site->recent);
    free(site);
}

struct wix_site *wix_site_add(struct sandbox_wix *wix, json_t *state)
{
    struct wix_site *site = calloc(1, sizeof(*site));

    if (site && wix->site_count == wix->site_cap) {
        size_t cap = wix->site_cap ? wix->site_cap * 2 : 16;
        struct wix_site **grown = realloc(wix->sites, cap * sizeof(*grown));

        if (grown) {
            wix->sites = grown;
            wix->site_cap = cap;
        } else {
            free(site);
            site = NULL;
        }
    }
    if (!site) {
        json_decref(state);
        return NULL;
    }
    site->state = state;
    wix->sites[wix->site_count++] = site;
    return site;
}

static const char *text_or(const char *text, const char *fallback)
{
    return text ? text : fallback;
}

char *wix_site_instance_string(struct sandbox *sb, const struct wix_site *site,
                               int anonymous)
{
    int64_t now = sandbox_now_ms(sb);
    char signed_at[32];
    char expires[32];
    char visitor[33];
    json_t *payload;
    char *data_json;
    char *data;
    char *out;
    unsigned char mac[32];
    char signature[64];
    size_t data_size;

    clock_format_iso(now, signed_at);
    clock_format_iso(now + INSTANCE_TTL_MS, expires);
    payload =
        json_pack("{ss ss ss ss sb ss ss sO ss}", "instanceId",
                  wix_site_string(site, "instance_id"), "appDefId",
                  sb->opts.app_id, "signDate", signed_at, "expirationDate",
                  expires, "demoMode", 0, "siteOwnerId",
                  wix_site_string(site, "owner_user_id"), "originInstanceId",
                  "", "vendorProductId", json_object_get(site->state, "plan"),
                  "permissions", anonymous ? "" : "OWNER");
    if (anonymous) {
        crypto_random_hex(visitor, 16);
        json_object_set_new(payload, "aid", json_string(visitor));
    } else {
        json_object_set_new(
            payload, "uid",
            json_string(wix_site_string(site, "owner_user_id")));
        json_object_set_new(
            payload, "loginAccountId",
            json_string(wix_site_string(site, "owner_user_id")));
        json_object_set_new(
            payload, "siteMemberId",
            json_string(wix_site_string(site, "owner_member_id")));
    }
    data_json = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    if (!data_json)
        return NULL;

    data_size = crypto_base64url_size(strlen(data_json));
    data = malloc(data_size);
    out = malloc(data_size + sizeof(signature) + 1);
    if (data && out) {
        crypto_base64url_encode((const unsigned char *)data_json,
                                strlen(data_json), data, data_size);
        crypto_hmac_sha256(sb->opts.app_secret, strlen(sb->opts.app_secret),
                           data, strlen(data), mac);
        crypto_base64url_encode(mac, sizeof(mac), signature, sizeof(signature));
        sprintf(out, "%s.%s", signature, data);
    }
    free(data_json);
    free(data);
    return out;
}

/* ---- building a site ---- */

static json_t *member_new(struct sandbox *sb, const char *email,
                          const char *first, const char *last, const char *role)
{
    char id[37];
    char contact_id[37];
    char when[32];
    char nickname[256];
    char slug[256];

    wix_new_guid(id);
    wix_new_guid(contact_id);
    wix_now_iso(sb, when);
    snprintf(nickname, sizeof(nickname), "%s %s", first, last);
    wix_slugify(nickname, slug, sizeof(slug));
    return json_pack("{ss ss ss ss ss ss ss ss ss sb ss ss}", "id", id,
                     "loginEmail", email, "contactId", contact_id, "firstName",
                     first, "lastName", last, "nickname", nickname, "slug",
                     slug, "status", "APPROVED", "role", role, "admin",
                     strcmp(role, "OWNER") == 0, "createdDate", when,
                     "updatedDate", when);
}

/* The owner (an admin) and one more member, or those in the request. */
static int add_members(struct sandbox *sb, json_t *state, const json_t *body,
                       struct error *err)
{
    const json_t *requested = json_object_get(body, "members");
    json_t *members = json_object_get(state, "members");
    const char *owner_email =
        json_string_value(json_object_get(state, "owner_email"));
    json_t *owner;
    size_t i;
    json_t *spec;

    if (json_is_false(requested))
        return 0; /* a site whose members area has no one yet */
    owner = member_new(sb, owner_email, "Alex", "Rivera", "OWNER");
    json_array_append_new(members, owner);
    json_object_set(state, "owner_member_id", json_object_get(owner, "id"));
    if (!requested || json_is_null(requested)) {
        json_array_append_new(members, member_new(sb, "jordan.lee@example.com",
                                                  "Jordan", "Lee", "MEMBER"));
        return 0;
    }
    if (!json_is_array(requested))
        return error_set(err, ERR_INVALID,
                         "members must be false or an array of "
                         "{loginEmail, firstName, lastName}");
    json_array_foreach(requested, i, spec)
    {
        const char *email;
        const char *first;
        const char *last;

        if (json_get_string(spec, "loginEmail", &email, err) != 0 ||
            json_opt_string(spec, "firstName", "Member", &first, err) != 0 ||
            json_opt_string(spec, "lastName", "", &last, err) != 0) {
            error_prefix(err, "members[%zu]", i);
            return -1;
        }
        json_array_append_new(members,
                              member_new(sb, email, first, last, "MEMBER"));
    }
    return 0;
}

static int fixture_name_valid(const char *name)
{
    if (!*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return 0;
    }
    return 1;
}

/* The parsed fixture file DIR/NAME.json, read once. Lock held. */
static const json_t *load_fixture(struct sandbox *sb, const char *name,
                                  struct error *err)
{
    struct sandbox_wix *wix = wix_of(sb);
    json_t *fixture = json_object_get(wix->fixtures, name);
    char path[4096];
    json_error_t parse_error;

    if (fixture)
        return fixture;
    if (!fixture_name_valid(name)) {
        error_set(err, ERR_INVALID, "fixture name \"%s\" is not valid", name);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s.json", sb->opts.fixtures_dir, name);
    fixture = json_load_file(path, 0, &parse_error);
    if (!fixture) {
        error_set(err, ERR_INVALID,
                  "fixture \"%s\" can't be read from %s: %s (set --fixtures)",
                  name, path, parse_error.text);
        return NULL;
    }
    json_object_set_new(wix->fixtures, name, fixture);
    return fixture;
}

static json_t *collection_new(const json_t *spec, struct error *err)
{
    const char *name;
    const char *id;
    const char *slug;
    const char *description;
    char guid[37];

    if (json_get_string(spec, "name", &name, err) != 0 ||
        json_opt_string(spec, "id", NULL, &id, err) != 0 ||
        json_opt_string(spec, "slug", NULL, &slug, err) != 0 ||
        json_opt_string(spec, "description", "", &description, err) != 0)
        return NULL;
    if (!id) {
        wix_new_guid(guid);
        id = guid;
    }
    return json_pack("{ss ss ss ss sb}", "id", id, "name", name, "slug",
                     slug ? slug : name, "description", description, "visible",
                     1);
}

static int add_catalog(struct sandbox *sb, struct wix_site *site,
                       const json_t *source, struct error *err)
{
    json_t *collections = json_object_get(site->state, "collections");
    json_t *products = json_object_get(site->state, "products");
    const json_t *specs = json_object_get(source, "collections");
    size_t i;
    json_t *spec;

    json_array_append_new(
        collections, json_pack("{ss ss ss ss sb}", "id", ALL_PRODUCTS_ID,
                               "name", "All Products", "slug", "all-products",
                               "description", "", "visible", 1));
    json_array_foreach(specs, i, spec)
    {
        json_t *collection = collection_new(spec, err);

        if (!collection) {
            error_prefix(err, "collections[%zu]", i);
            return -1;
        }
        json_array_append_new(collections, collection);
    }
    json_array_foreach(json_object_get(source, "products"), i, spec)
    {
        json_t *product = wix_product_build(sb, site, spec, collections, err);

        if (!product) {
            error_prefix(err, "products[%zu]", i);
            return -1;
        }
        json_array_append_new(products, product);
    }
    return 0;
}

/*
 * The catalog built from a fixture, once, as {collections, products,
 * media, next_numeric_id}. Sites made from the fixture share it until they
 * change it (wix_site_own), so a fixture site costs little memory. Lock
 * held.
 */
static const json_t *fixture_catalog(struct sandbox *sb, const char *name,
                                     const json_t *fixture, struct error *err)
{
    json_t *cache = wix_of(sb)->fixtures;
    struct wix_site builder = {0};
    json_t *catalog = NULL;
    char key[96];

    snprintf(key, sizeof(key), "%s#catalog", name);
    if ((catalog = json_object_get(cache, key)))
        return catalog;
    builder.state = json_pack("{ss ss s[] s[] s{} sI}", "site_id", "", "url",
                              "", "collections", "products", "media",
                              "next_numeric_id", (json_int_t)FIRST_NUMERIC_ID);
    if (add_catalog(sb, &builder, fixture, err) != 0) {
        json_decref(builder.state);
        return NULL;
    }
    json_object_set_new(cache, key, builder.state);
    return builder.state;
}

static void share_catalog(struct wix_site *site, const json_t *catalog)
{
    static const char *const shared[] = {"collections", "products", "media"};

    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
        json_object_set(site->state, shared[i],
                        json_object_get(catalog, shared[i]));
    json_object_set_new(site->state, "next_numeric_id",
                        json_integer(json_integer_value(
                            json_object_get(catalog, "next_numeric_id"))));
}

/* Fills the site's catalog from the fixture (shared) or the request. */
static int fill_catalog(struct sandbox *sb, struct wix_site *site,
                        const char *fixture_name, const json_t *fixture,
                        const json_t *body, struct error *err)
{
    const json_t *catalog = NULL;

    if (!fixture)
        return add_catalog(sb, site, body, err);
    if (!(catalog = fixture_catalog(sb, fixture_name, fixture, err)))
        return -1;
    share_catalog(site, catalog);
    return 0;
}

static int read_catalog_version(const json_t *body, int has_store,
                                const char **out, struct error *err)
{
    json_int_t version;

    if (!has_store) {
        *out = "STORES_NOT_INSTALLED";
        return 0;
    }
    version = json_integer_value(json_object_get(body, "catalog_version"));
    if (!json_object_get(body, "catalog_version") || version == 1)
        *out = "V1_CATALOG";
    else if (version == 3)
        *out = "V3_CATALOG";
    else
        return error_set(err, ERR_INVALID, "catalog_version must be 1 or 3");
    return 0;
}

/* The site's base state before members and catalog. */
static json_t *site_state_new(struct sandbox *sb, const json_t *body,
                              const json_t *fixture, const char *catalog,
                              struct error *err)
{
    const char *name;
    const char *description;
    const char *instance_id;
    char guid[37];
    char site_id[37];
    char owner[37];
    char url[160];
    char email[96];
    const json_t *plan = json_object_get(body, "plan");

    if (json_opt_string(
            body, "name",
            text_or(json_string_value(json_at(fixture, "site.name")),
                    "Sandbox Site"),
            &name, err) != 0 ||
        json_opt_string(
            body, "description",
            text_or(json_string_value(json_at(fixture, "site.description")),
                    ""),
            &description, err) != 0 ||
        json_opt_string(body, "instance_id", NULL, &instance_id, err) != 0)
        return NULL;
    if (plan && !json_is_null(plan) && !json_is_string(plan)) {
        error_set(err, ERR_INVALID, "plan must be a string or null");
        return NULL;
    }
    wix_new_guid(guid);
    wix_new_guid(site_id);
    wix_new_guid(owner);
    snprintf(url, sizeof(url), "https://sandbox-%.8s.wixsite.com/site",
             site_id);
    snprintf(email, sizeof(email), "owner-%.8s@example.com", site_id);
    return json_pack(
        "{ss ss ss ss ss ss ss sO sb s[] ss ss ss sI s[] s[] s[] s[] s{} sI}",
        "instance_id", instance_id ? instance_id : guid, "site_id", site_id,
        "name", name, "description", description, "url", url, "locale", "en-us",
        "currency", "USD", "plan", plan ? plan : json_null(), "installed", 1,
        "missing_permissions", "catalog_version", catalog, "owner_user_id",
        owner, "owner_email", email, "created_ms",
        (json_int_t)sandbox_now_ms(sb), "members", "drafts", "products",
        "collections", "media", "next_numeric_id",
        (json_int_t)FIRST_NUMERIC_ID);
}

/* Builds a site from a POST /__sandbox/sites body. Lock held. */
static struct wix_site *site_create(struct sandbox *sb, const json_t *body,
                                    struct error *err)
{
    const char *fixture_name =
        json_string_value(json_object_get(body, "fixture"));
    const json_t *fixture = NULL;
    int has_store;
    const char *catalog = NULL;
    json_t *state;
    struct wix_site *site;

    if (json_object_get(body, "fixture") && !fixture_name) {
        error_set(err, ERR_INVALID, "fixture must be a string");
        return NULL;
    }
    if (fixture_name && !(fixture = load_fixture(sb, fixture_name, err)))
        return NULL;
    has_store = fixture || json_object_get(body, "products") ||
                json_object_get(body, "catalog_version");
    if (read_catalog_version(body, has_store, &catalog, err) != 0 ||
        !(state = site_state_new(sb, body, fixture, catalog, err)))
        return NULL;
    if (wix_site_find(wix_of(sb), json_string_value(
                                      json_object_get(state, "instance_id")))) {
        error_set(err, ERR_CONFLICT, "a site with that instance_id exists");
        json_decref(state);
        return NULL;
    }
    site = wix_site_add(wix_of(sb), state);
    if (!site) {
        error_set(err, ERR_PERMANENT, "out of memory");
        return NULL;
    }
    if (add_members(sb, state, body, err) != 0 ||
        (has_store &&
         fill_catalog(sb, site, fixture_name, fixture, body, err) != 0)) {
        wix_of(sb)->site_count--;
        wix_site_free(site);
        return NULL;
    }
    return site;
}

static json_t *member_summary(const json_t *member)
{
    return json_pack("{sO sO sO sO sO}", "id", json_object_get(member, "id"),
                     "loginEmail", json_object_get(member, "loginEmail"),
                     "nickname", json_object_get(member, "nickname"), "role",
                     json_object_get(member, "role"), "admin",
                     json_object_get(member, "admin"));
}

static json_t *created_answer(struct sandbox *sb, struct wix_site *site)
{
    json_t *members = json_array();
    char code[65];
    char *instance = wix_site_instance_string(sb, site, 0);
    json_t *owner_member = json_object_get(site->state, "owner_member_id");
    size_t i;
    json_t *member;
    json_t *out;

    json_array_foreach(json_object_get(site->state, "members"), i, member)
        json_array_append_new(members, member_summary(member));
    wix_oauth_new_code(sb, wix_site_string(site, "instance_id"), code);
    out = json_pack(
        "{ss ss ss ss ss ss ss so so ss si}", "instance_id",
        wix_site_string(site, "instance_id"), "site_id",
        wix_site_string(site, "site_id"), "instance", instance ? instance : "",
        "auth_code", code, "app_id", sb->opts.app_id, "name",
        wix_site_string(site, "name"), "catalog_version",
        wix_site_string(site, "catalog_version"), "owner_member_id",
        owner_member ? json_incref(owner_member) : json_null(), "members",
        members, "owner_email", wix_site_string(site, "owner_email"),
        "product_count",
        (int)json_array_size(json_object_get(site->state, "products")));
    free(instance);
    return out;
}

static void reply_error(struct http_response *resp, const struct error *err)
{
    int status = err->kind == ERR_NOT_FOUND  ? 404
                 : err->kind == ERR_CONFLICT ? 409
                 : err->kind == ERR_INVALID  ? 400
                                             : 500;

    http_response_error(resp, status, error_kind_name(err->kind), "%s",
                        err->message);
}

/* POST /__sandbox/sites */
static void post_site(struct http_request *req, struct http_response *resp,
                      void *ctx)
{
    struct sandbox *sb = ctx;
    struct error err;
    json_t *body = sandbox_read_json(req, &err);
    struct wix_site *site;

    if (!body) {
        reply_error(resp, &err);
        return;
    }
    sandbox_lock(sb);
    site = NULL;
    if (wix_of(sb)->site_count >= SITES_MAX)
        error_set(&err, ERR_INVALID,
                  "the sandbox holds %d sites at most: reset it", SITES_MAX);
    else
        site = site_create(sb, body, &err);
    if (site)
        http_response_json(resp, 201, created_answer(sb, site));
    else
        reply_error(resp, &err);
    sandbox_unlock(sb);
    json_decref(body);
}

/* GET /__sandbox/sites */
static void list_sites(struct http_request *req, struct http_response *resp,
                       void *ctx)
{
    struct sandbox *sb = ctx;
    struct sandbox_wix *wix = wix_of(sb);
    json_t *sites = json_array();

    (void)req;
    sandbox_lock(sb);
    for (size_t i = 0; i < wix->site_count; i++) {
        const json_t *state = wix->sites[i]->state;

        json_array_append_new(
            sites,
            json_pack("{sO sO sO sO sO}", "instance_id",
                      json_object_get(state, "instance_id"), "site_id",
                      json_object_get(state, "site_id"), "name",
                      json_object_get(state, "name"), "installed",
                      json_object_get(state, "installed"), "catalog_version",
                      json_object_get(state, "catalog_version")));
    }
    sandbox_unlock(sb);
    http_response_json(resp, 200, json_pack("{so}", "sites", sites));
}

/* The site named by the {id} path parameter, with the lock held; NULL
 * with a 404 written and the lock released. */
static struct wix_site *site_param(struct sandbox *sb, struct http_request *req,
                                   struct http_response *resp)
{
    const char *id = http_request_param(req, "id");
    struct wix_site *site;

    sandbox_lock(sb);
    site = wix_site_find(wix_of(sb), id);
    if (!site) {
        sandbox_unlock(sb);
        http_response_error(resp, 404, "not_found", "no site with id %s", id);
    }
    return site;
}

static json_t *site_view(struct sandbox *sb, struct wix_site *site)
{
    json_t *view = json_deep_copy(site->state);
    json_t *products = json_array();
    json_t *media = json_array();
    size_t i;
    json_t *product;
    const char *id;
    json_t *entry;

    json_array_foreach(json_object_get(site->state, "products"), i, product)
    {
        json_t *rendered = wix_product_v1(sb, site, product, 1);

        json_object_set(rendered, "revision",
                        json_object_get(product, "revision"));
        json_object_set(rendered, "descriptionRicos",
                        json_object_get(product, "description_ricos"));
        json_array_append_new(products, rendered);
    }
    json_object_foreach(json_object_get(site->state, "media"), id, entry)
    {
        wix_media_lookup(sb, site, id, 0);
        json_array_append_new(media, wix_media_descriptor(sb, site, entry));
    }
    json_object_set_new(view, "products", products);
    json_object_set_new(view, "media", media);
    json_object_del(view, "next_numeric_id");
    return view;
}

/* GET /__sandbox/sites/{id}: everything Wix holds for the site. */
static void get_site(struct http_request *req, struct http_response *resp,
                     void *ctx)
{
    struct sandbox *sb = ctx;
    struct wix_site *site = site_param(sb, req, resp);

    if (!site)
        return;
    http_response_json(resp, 200, site_view(sb, site));
    sandbox_unlock(sb);
}

static int check_permissions(const json_t *value, struct error *err)
{
    static const char *const known[] = {"blog", "stores", "media", "members",
                                        "apps"};
    size_t i;
    json_t *name;

    if (!json_is_array(value))
        return error_set(err, ERR_INVALID,
                         "missing_permissions must be an array");
    json_array_foreach(value, i, name)
    {
        size_t k = 0;

        while (k < 5 && !(json_is_string(name) &&
                          strcmp(json_string_value(name), known[k]) == 0))
            k++;
        if (k == 5)
            return error_set(err, ERR_INVALID,
                             "missing_permissions[%zu] is not one of blog, "
                             "stores, media, members, apps",
                             i);
    }
    return 0;
}

/* Checks a PATCH body before anything changes. */
static int check_patch(const json_t *body, struct error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)body, key, value)
    {
        if (strcmp(key, "installed") == 0 && json_is_boolean(value))
            continue;
        if ((strcmp(key, "name") == 0 || strcmp(key, "description") == 0) &&
            json_is_string(value))
            continue;
        if (strcmp(key, "plan") == 0 &&
            (json_is_string(value) || json_is_null(value)))
            continue;
        if (strcmp(key, "catalog_version") == 0 && json_is_integer(value) &&
            (json_integer_value(value) == 1 || json_integer_value(value) == 3))
            continue;
        if (strcmp(key, "missing_permissions") == 0) {
            if (check_permissions(value, err) != 0)
                return -1;
            continue;
        }
        return error_set(err, ERR_INVALID,
                         "%s can't be set: use installed, name, description, "
                         "plan, catalog_version (1 or 3) or "
                         "missing_permissions",
                         key);
    }
    return 0;
}

/* PATCH /__sandbox/sites/{id}: uninstall the app, take permissions away,
 * move to another plan or catalog version. */
static void patch_site(struct http_request *req, struct http_response *resp,
                       void *ctx)
{
    struct sandbox *sb = ctx;
    struct error err;
    json_t *body = sandbox_read_json(req, &err);
    struct wix_site *site;
    json_t *version;

    if (!body || check_patch(body, &err) != 0) {
        reply_error(resp, &err);
        json_decref(body);
        return;
    }
    if (!(site = site_param(sb, req, resp))) {
        json_decref(body);
        return;
    }
    version = json_object_get(body, "catalog_version");
    if (version)
        json_object_set_new(body, "catalog_version",
                            json_string(json_integer_value(version) == 3
                                            ? "V3_CATALOG"
                                            : "V1_CATALOG"));
    json_object_update(site->state, body);
    http_response_json(resp, 200, site_view(sb, site));
    sandbox_unlock(sb);
    json_decref(body);
}

/* POST /__sandbox/sites/{id}/revoke-tokens */
static void revoke_tokens(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    struct sandbox *sb = ctx;
    struct wix_site *site = site_param(sb, req, resp);
    size_t count;

    if (!site)
        return;
    count = wix_oauth_revoke(sb, wix_site_string(site, "instance_id"));
    sandbox_unlock(sb);
    http_response_json(resp, 200,
                       json_pack("{sI}", "revoked", (json_int_t)count));
}

/* POST /__sandbox/sites/{id}/auth-code: a code for POST /oauth/access. */
static void new_auth_code(struct http_request *req, struct http_response *resp,
                          void *ctx)
{
    struct sandbox *sb = ctx;
    struct wix_site *site = site_param(sb, req, resp);
    char code[65];

    if (!site)
        return;
    wix_oauth_new_code(sb, wix_site_string(site, "instance_id"), code);
    sandbox_unlock(sb);
    http_response_json(resp, 200, json_pack("{ss}", "code", code));
}

/* POST /__sandbox/sites/{id}/instance {"anonymous": bool}: a freshly
 * signed dashboard instance string. */
static void new_instance(struct http_request *req, struct http_response *resp,
                         void *ctx)
{
    struct sandbox *sb = ctx;
    struct error err;
    json_t *body = sandbox_read_json(req, &err);
    struct wix_site *site;
    char *instance;

    if (!body) {
        reply_error(resp, &err);
        return;
    }
    if (!(site = site_param(sb, req, resp))) {
        json_decref(body);
        return;
    }
    instance = wix_site_instance_string(
        sb, site, json_is_true(json_object_get(body, "anonymous")));
    sandbox_unlock(sb);
    http_response_json(resp, 200,
                       json_pack("{ss}", "instance", instance ? instance : ""));
    free(instance);
    json_decref(body);
}

int wix_sites_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct {
        const char *method;
        const char *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"POST", "/__sandbox/sites", post_site},
        {"GET", "/__sandbox/sites", list_sites},
        {"GET", "/__sandbox/sites/{id}", get_site},
        {"PATCH", "/__sandbox/sites/{id}", patch_site},
        {"POST", "/__sandbox/sites/{id}/revoke-tokens", revoke_tokens},
        {"POST", "/__sandbox/sites/{id}/auth-code", new_auth_code},
        {"POST", "/__sandbox/sites/{id}/instance", new_instance},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (http_server_route(server, routes[i].method, routes[i].pattern,
                              routes[i].handler, sb) != 0)
            return -1;
    }
    return 0;
}
