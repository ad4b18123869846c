#include "wix/site.h"

#include "wix/call.h"

#include <stdio.h>

int wix_members_list(struct wix_client *client, int limit, json_t **out,
                     struct error *err)
{
    char path[128];
    json_t *response;
    json_t *members;

    *out = NULL;
    if (limit < 1 || limit > 100)
        return error_set(err, ERR_INVALID,
                         "list members: limit %d is out of range (1 to 100)",
                         limit);
    snprintf(path, sizeof(path),
             "/members/v1/members?fieldsets=PUBLIC&paging.limit=%d", limit);
    if (wix_call(client, "GET", path, NULL, WIX_PERMISSION_MEMBERS, &response,
                 err) < 0)
        return -1;
    members = json_object_get(response, "members");
    *out = json_is_array(members) ? json_incref(members) : json_array();
    json_decref(response);
    return *out ? 0 : error_set(err, ERR_RETRYABLE, "out of memory");
}

int wix_app_get_instance(struct wix_client *client, json_t **out,
                         struct error *err)
{
    *out = NULL;
    return wix_call(client, "GET", "/apps/v1/instance", NULL,
                    WIX_PERMISSION_APP, out, err);
}
