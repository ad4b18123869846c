/*
 * Site-level Wix calls on one client: the site's members (a blog post needs
 * one as its owner) and the app instance (plan and site information).
 * Results are new JSON references the caller releases with json_decref().
 */
#ifndef SITESMITH_WIX_SITE_H
#define SITESMITH_WIX_SITE_H

#include "wix/wix.h"

/*
 * Lists up to limit (1 to 100) site members with their public fields
 * (GET /members/v1/members) into *out, a JSON array (empty when the site
 * has no members).
 */
int wix_members_list(struct wix_client *client, int limit, json_t **out,
                     struct error *err);

/*
 * Reads the app instance (GET /apps/v1/instance, permission "Manage Your
 * App") into *out: {"instance": {...}, "site": {...}}.
 */
int wix_app_get_instance(struct wix_client *client, json_t **out,
                         struct error *err);

#endif
