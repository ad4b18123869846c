/*
 * Wix Members (list, query, get, create: the blog needs a member id as a
 * post's owner) and the app instance (GET /apps/v1/instance, with the
 * plan and the site's details).
 */
#include "wix.h"

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 100
#define APP_NAME "sitesmith (sandbox)"

/* The member as Wix returns it: PUBLIC (the default) leaves out the login
 * email and contact details, FULL has them. */
static json_t *render_member(const json_t *member, int full)
{
    json_t *out = json_pack(
        "{sO sO sO ss ss s{sO sO} sO sO}", "id", json_object_get(member, "id"),
        "contactId", json_object_get(member, "contactId"), "status",
        json_object_get(member, "status"), "privacyStatus", "PUBLIC",
        "activityStatus", "ACTIVE", "profile", "nickname",
        json_object_get(member, "nickname"), "slug",
        json_object_get(member, "slug"), "createdDate",
        json_object_get(member, "createdDate"), "updatedDate",
        json_object_get(member, "updatedDate"));

    if (full) {
        json_object_set(out, "loginEmail",
                        json_object_get(member, "loginEmail"));
        json_object_set_new(out, "loginEmailVerified", json_true());
        json_object_set_new(out, "contact",
                            json_pack("{sO sO s[] s[] s[]}", "firstName",
                                      json_object_get(member, "firstName"),
                                      "lastName",
                                      json_object_get(member, "lastName"),
                                      "phones", "emails", "addresses"));
    }
    return out;
}

static int full_fieldset(const json_t *fieldsets,
                         const struct http_request *req)
{
    size_t i;
    json_t *value;

    if (req && wix_query_has(req, "fieldsets", "FULL"))
        return 1;
    json_array_foreach(fieldsets, i, value)
    {
        if (json_is_string(value) &&
            strcmp(json_string_value(value), "FULL") == 0)
            return 1;
    }
    return 0;
}

static const char *member_field(const char *field)
{
    static const struct {
        const char *field;
        const char *path;
    } fields[] = {
        {"id", "id"},
        {"_id", "id"},
        {"loginEmail", "loginEmail"},
        {"contactId", "contactId"},
        {"status", "status"},
        {"profile.nickname", "nickname"},
        {"profile.slug", "slug"},
        {"createdDate", "createdDate"},
        {"_createdDate", "createdDate"},
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].field, field) == 0)
            return fields[i].path;
    }
    return NULL;
}

static int read_number(struct sandbox_call *call, const char *text,
                       const char *field, int64_t fallback, int64_t max,
                       int64_t *out)
{
    char *end;

    if (!text) {
        *out = fallback;
        return 0;
    }
    *out = strtoll(text, &end, 10);
    if (*end || *out < 0 || *out > max) {
        wix_field_error(call, field, "RANGE", "must be between 0 and %lld",
                        (long long)max);
        return -1;
    }
    return 0;
}

static json_t *member_page(const json_t *members, int64_t offset, int64_t limit,
                           int full)
{
    json_t *page = json_array();

    for (size_t i = (size_t)offset;
         i < json_array_size(members) && i < (size_t)(offset + limit); i++)
        json_array_append_new(page,
                              render_member(json_array_get(members, i), full));
    return page;
}

static json_t *page_answer(json_t *page, int64_t offset, size_t total)
{
    return json_pack("{so s{si sI si sb}}", "members", page, "metadata",
                     "count", (int)json_array_size(page), "offset",
                     (json_int_t)offset, "total", (int)total, "tooManyToCount",
                     0);
}

/* GET /members/v1/members?fieldsets=&paging.limit=&paging.offset= */
static void list_members(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEMBERS);
    const json_t *members;
    int64_t limit;
    int64_t offset;

    if (!site)
        return;
    members = json_object_get(site->state, "members");
    if (read_number(call, http_request_query(call->req, "paging.limit"),
                    "paging.limit", PAGE_DEFAULT, PAGE_MAX, &limit) == 0 &&
        read_number(call, http_request_query(call->req, "paging.offset"),
                    "paging.offset", 0, INT32_MAX, &offset) == 0)
        wix_reply(call, page_answer(member_page(members, offset, limit,
                                                full_fieldset(NULL, call->req)),
                                    offset, json_array_size(members)));
    sandbox_unlock(call->sb);
}

/* POST /members/v1/members/query {query: {filter, sort, paging},
 * fieldsets} */
static void query_members(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEMBERS);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *query = json_object_get(body, "query");
    json_t *matched = NULL;
    struct error err;
    int64_t limit = PAGE_DEFAULT;
    int64_t offset;

    if (!body)
        goto out;
    matched = wix_filter(json_object_get(site->state, "members"),
                         json_object_get(query, "filter"), member_field, &err);
    if (!matched || wix_sort(matched, json_object_get(query, "sort"),
                             member_field, &err) != 0) {
        wix_error(call, 400, "INVALID_ARGUMENT", "%s", err.message);
        goto out;
    }
    if (json_is_integer(json_at(query, "paging.limit")))
        limit = json_integer_value(json_at(query, "paging.limit"));
    offset = json_integer_value(json_at(query, "paging.offset"));
    if (limit < 0 || limit > PAGE_MAX || offset < 0) {
        wix_field_error(call, "query.paging", "RANGE",
                        "limit must be between 0 and %d and offset not "
                        "negative",
                        PAGE_MAX);
        goto out;
    }
    wix_reply(
        call,
        page_answer(member_page(matched, offset, limit,
                                full_fieldset(
                                    json_object_get(body, "fieldsets"), NULL)),
                    offset, json_array_size(matched)));
out:
    json_decref(matched);
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static json_t *find_member(struct wix_site *site, const char *key,
                           const char *value)
{
    return wix_find_by(json_object_get(site->state, "members"), key, value);
}

/* GET /members/v1/members/{id} */
static void get_member(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEMBERS);
    const char *id = http_request_param(call->req, "id");
    json_t *member;

    if (!site)
        return;
    member = find_member(site, "id", id);
    if (member)
        wix_reply(call, json_pack("{so}", "member",
                                  render_member(
                                      member, full_fieldset(NULL, call->req))));
    else
        wix_not_found(call, "member", id);
    sandbox_unlock(call->sb);
}

static json_t *new_member(struct sandbox *sb, const char *email,
                          const json_t *sent)
{
    const char *first = json_string_value(json_at(sent, "contact.firstName"));
    const char *last = json_string_value(json_at(sent, "contact.lastName"));
    const char *nickname = json_string_value(json_at(sent, "profile.nickname"));
    char id[37];
    char contact[37];
    char when[32];
    char name[256];

    wix_new_guid(id);
    wix_new_guid(contact);
    wix_now_iso(sb, when);
    snprintf(name, sizeof(name), "%s%s%s", first ? first : "",
             first && last ? " " : "", last ? last : "");
    if (!nickname)
        nickname = *name ? name : email;
    return json_pack("{ss ss ss ss ss ss ss ss ss sb ss ss}", "id", id,
                     "loginEmail", email, "contactId", contact, "firstName",
                     first ? first : "", "lastName", last ? last : "",
                     "nickname", nickname, "slug", id, "status", "APPROVED",
                     "role", "MEMBER", "admin", 0, "createdDate", when,
                     "updatedDate", when);
}

/* POST /members/v1/members {member: {loginEmail, contact, profile}} */
static void create_member(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_MEMBERS);
    json_t *body = site ? wix_read_body(call) : NULL;
    json_t *sent = json_object_get(body, "member");
    const char *email = json_string_value(json_object_get(sent, "loginEmail"));
    json_t *member;

    if (!body)
        goto out;
    if (!email || !strchr(email, '@')) {
        wix_field_error(call, "member.loginEmail", "FORMAT",
                        "must be an email address");
        goto out;
    }
    if (find_member(site, "loginEmail", email)) {
        wix_error(call, 409, "ALREADY_EXISTS",
                  "a member with login email %s already exists", email);
        goto out;
    }
    member = new_member(call->sb, email, sent);
    json_array_append_new(json_object_get(site->state, "members"), member);
    wix_reply(call, json_pack("{so}", "member", render_member(member, 1)));
out:
    json_decref(body);
    if (site)
        sandbox_unlock(call->sb);
}

static json_t *instance_part(struct sandbox *sb, const struct wix_site *site)
{
    const json_t *plan = json_object_get(site->state, "plan");
    int free_plan = !json_is_string(plan);
    char expires[32];
    json_t *out;

    out = json_pack(
        "{ss ss ss sb s[ssssss] s[{ss ss}] ss sb sb}", "instanceId",
        wix_site_string(site, "instance_id"), "appName", APP_NAME, "appVersion",
        SITESMITH_VERSION, "isFree", free_plan, "permissions",
        "SCOPE.DC-BLOG.MANAGE-BLOG", "SCOPE.DC-STORES.MANAGE-PRODUCTS",
        "SCOPE.DC-MEDIA.MANAGE-MEDIA", "SCOPE.DC-MEMBERS.MANAGE-MEMBERS",
        "SCOPE.DC-APPS.MANAGE-APP", "SCOPE.STORES.CATALOG_READ_LIMITED",
        "availablePlans", "packageName", "pro", "source", "WIX",
        "originInstanceId", "", "copiedFromTemplate", 0, "freeTrialAvailable",
        free_plan);
    if (!free_plan) {
        wix_now_iso(sb, expires);
        json_object_set_new(out, "billing",
                            json_pack("{sO ss ss ss sb sn ss}", "packageName",
                                      plan, "billingCycle", "MONTHLY",
                                      "timeStamp", expires, "expirationDate",
                                      expires, "autoRenewing", 1, "invoiceId",
                                      "source", "WIX"));
    }
    return out;
}

static json_t *site_part(const struct wix_site *site)
{
    const json_t *state = site->state;
    json_t *apps = json_pack("[s]", "blog");

    if (strcmp(wix_site_string(site, "catalog_version"),
               "STORES_NOT_INSTALLED") != 0)
        json_array_append_new(apps, json_string("stores"));
    return json_pack(
        "{sO sO sO sO s{sb s[]} sO sO so sO s{sO ss}}", "siteDisplayName",
        json_object_get(state, "name"), "locale",
        json_object_get(state, "locale"), "paymentCurrency",
        json_object_get(state, "currency"), "url",
        json_object_get(state, "url"), "multilingual", "isMultiLingual", 0,
        "supportedLanguages", "description",
        json_object_get(state, "description"), "ownerEmail",
        json_object_get(state, "owner_email"), "installedWixApps", apps,
        "siteId", json_object_get(state, "site_id"), "ownerInfo", "email",
        json_object_get(state, "owner_email"), "emailStatus", "VERIFIED");
}

/* GET /apps/v1/instance */
static void get_instance(struct sandbox_call *call)
{
    struct wix_site *site = wix_begin(call, WIX_SCOPE_APPS);

    if (!site)
        return;
    wix_reply(call,
              json_pack("{so so}", "instance", instance_part(call->sb, site),
                        "site", site_part(site)));
    sandbox_unlock(call->sb);
}

int wix_members_routes(struct sandbox *sb, struct http_server *server)
{
    static const struct wix_route routes[] = {
        {"GET", "/wix/members/v1/members", list_members},
        {"POST", "/wix/members/v1/members", create_member},
        {"POST", "/wix/members/v1/members/query", query_members},
        {"GET", "/wix/members/v1/members/{id}", get_member},
        {"GET", "/wix/apps/v1/instance", get_instance},
    };

    return wix_add_routes(sb, server, routes,
                          sizeof(routes) / sizeof(routes[0]));
}
