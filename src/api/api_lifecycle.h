/*
 * Route groups of the app's lifecycle, which api_lifecycle_routes() (see
 * api.h) adds together.
 */
#ifndef SITESMITH_API_API_LIFECYCLE_H
#define SITESMITH_API_API_LIFECYCLE_H

#include "api/api.h"

/* GET /oauth/install and GET /oauth/callback (api_oauth.c). */
int api_oauth_routes(struct http_server *server, struct app *app,
                     struct error *err);

/* GET /api/billing and GET /api/billing/upgrade-url (api_billing.c). */
int api_billing_routes(struct http_server *server, struct app *app,
                       struct error *err);

#endif
