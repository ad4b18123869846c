/*
 * libFuzzer target for the Markdown to Ricos converter. The first input
 * byte picks the options, the rest is the Markdown. Every document the
 * converter returns must pass ricos_validate() and yield plain text; any
 * other outcome aborts.
 *
 * Build with clang (CC=clang cmake -DSITESMITH_FUZZ=ON), copy the seeds
 * to a scratch corpus folder and run, for example:
 *   mkdir /tmp/corpus && cp -r tests/fuzz/corpus/ricos/. /tmp/corpus
 *   ./fuzz_ricos -dict=tests/fuzz/ricos.dict -max_len=16384 /tmp/corpus
 */
#include "pipelines/ricos.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Resolves URLs that end in ".png"; fails those that end in ".fail". */
static enum ricos_image_status fuzz_resolver(void *ctx, const char *url,
                                             const char *alt,
                                             struct ricos_image *out,
                                             struct error *err)
{
    size_t len = strlen(url);

    (void)ctx;
    (void)alt;
    if (len >= 5 && strcmp(url + len - 5, ".fail") == 0) {
        error_set(err, ERR_RETRYABLE, "fuzz resolver failure");
        return RICOS_IMAGE_FAILED;
    }
    if (len < 4 || strcmp(url + len - 4, ".png") != 0)
        return RICOS_IMAGE_UNRESOLVED;
    snprintf(out->media_id, sizeof(out->media_id), "media_%zu", len);
    out->width = 640;
    out->height = 480;
    return RICOS_IMAGE_RESOLVED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ricos_options opts = {0};
    struct error err;
    json_t *doc;
    char *text;

    if (size == 0)
        return 0;
    opts.heading_shift = data[0] & 1;
    opts.link_nofollow = (data[0] >> 1) & 1;
    opts.site_url = (data[0] & 4) ? "https://site.example/" : NULL;
    opts.resolve_image = (data[0] & 8) ? fuzz_resolver : NULL;
    opts.unresolved_images =
        (data[0] & 16) ? RICOS_UNRESOLVED_DROP : RICOS_UNRESOLVED_AS_LINK;
    if (data[0] & 32)
        opts.max_bytes = 4096;

    error_clear(&err);
    doc = ricos_from_markdown((const char *)data + 1, size - 1, &opts, &err);
    if (!doc) {
        if (err.kind == ERR_NONE || !err.message[0])
            abort(); /* a failure must say why */
        return 0;
    }
    if (ricos_validate(doc, &err) != 0) {
        fprintf(stderr, "invalid document: %s\n", err.message);
        abort();
    }
    text = ricos_plain_text(doc);
    if (!text)
        abort();
    free(text);
    json_decref(doc);
    return 0;
}
