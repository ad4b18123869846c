/*
 * Request reading shared by the routes of the batch jobs (image jobs and
 * product jobs): query parameters of item lists and the item ids an action
 * names. Each function responds 400 itself when the request is invalid.
 * Any handler thread may call them.
 */
#ifndef SITESMITH_API_API_BATCH_H
#define SITESMITH_API_API_BATCH_H

#include "api/api.h"

#include <jansson.h>
#include <stddef.h>

/*
 * Responds 400 naming the field name, with "NAME: invalid value \"VALUE\":
 * message" (value cut to 40 bytes). Returns -1.
 */
int api_batch_invalid_query(struct api_call *call, const char *name,
                            const char *message, const char *value);

/*
 * Reads ?limit= (1 to 100) into *limit, or fallback when it is absent.
 * Responds 400 and returns -1 when it is anything else.
 */
int api_batch_query_limit(struct api_call *call, int fallback, int *limit);

/* True when state is one of the count states. */
int api_batch_known_state(const char *state, const char *const *states,
                          size_t count);

/*
 * Reads {"item_ids": [...]} (1 to max_ids strings) or {"all_ready": true}
 * from body. Sets *ids to an array the caller frees, of count strings
 * borrowed from body (NULL for all_ready). Responds 400 and returns -1
 * when the body is anything else.
 */
int api_batch_read_targets(struct api_call *call, const json_t *body,
                           size_t max_ids, const char ***ids, size_t *count,
                           int *all_ready);

#endif
