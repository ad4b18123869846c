/* sitesmith blog generate: the blog pipeline from the command line. */
#include "cli/cli.h"
#include "core/json.h"
#include "pipelines/app.h"
#include "pipelines/blog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: sitesmith blog generate --instance-id ID [--topic TEXT]\n"
    "           [--keywords A,B,...] [--tone TONE] [--language TAG]\n"
    "           [--pick N]\n"
    "\n"
    "Runs a blog generation for a site in this process, with the same\n"
    "pipeline, credits and crash safety as the HTTP API: ideas, then the\n"
    "idea at index N is picked, the post is written, the cover image made\n"
    "and the draft saved in the site's Wix Blog. Progress is printed as it\n"
    "goes; the exit status is 0 when the draft was saved.\n"
    "\n"
    "  --instance-id ID   the site (see sitesmith instances add)\n"
    "  --topic TEXT       what the post should be about (optional)\n"
    "  --keywords A,B     comma-separated keywords to work in (optional)\n"
    "  --tone TONE        e.g. friendly, professional (optional)\n"
    "  --language TAG     BCP-47 language tag, default en\n"
    "  --pick N           index of the idea to write, default 0\n";

/* Builds the request object from the options; the API validates it. */
static json_t *request_from_options(struct cli_context *ctx)
{
    const char *topic = cli_option(ctx->argc, ctx->argv, "--topic");
    const char *keywords = cli_option(ctx->argc, ctx->argv, "--keywords");
    const char *tone = cli_option(ctx->argc, ctx->argv, "--tone");
    const char *language = cli_option(ctx->argc, ctx->argv, "--language");
    json_t *request = json_object();

    if (topic)
        json_object_set_new(request, "topic", json_string(topic));
    if (tone)
        json_object_set_new(request, "tone", json_string(tone));
    if (language)
        json_object_set_new(request, "language", json_string(language));
    if (keywords) {
        json_t *list = json_array();
        char *copy = strdup(keywords);
        char *save = NULL;

        for (char *word = strtok_r(copy, ",", &save); word;
             word = strtok_r(NULL, ",", &save)) {
            while (*word == ' ')
                word++;
            if (*word)
                json_array_append_new(list, json_string(word));
        }
        free(copy);
        json_object_set_new(request, "keywords", list);
    }
    return request;
}

static void print_progress(const char *state, void *arg)
{
    (void)arg;
    printf("  %s\n", state);
    fflush(stdout);
}

/* Prints the finished generation: the draft and what it cost. */
static void print_result(struct app *app, const char *instance_id,
                         const char *id)
{
    struct error err;
    json_t *gen = blog_generation_json(app, instance_id, id, &err);

    if (!gen)
        return;
    printf("\ndraft %s saved in the site's Wix Blog\n",
           json_string_value(json_object_get(gen, "draft_post_id")));
    printf("  title:   %s\n", json_string_value(json_at(gen, "post.title")));
    printf("  excerpt: %s\n", json_string_value(json_at(gen, "post.excerpt")));
    printf(
        "  credits: %lld charged\n",
        (long long)json_integer_value(json_object_get(gen, "credits_charged")));
    json_decref(gen);
}

static int run_generate(struct cli_context *ctx)
{
    static const char *const known[] = {
        "--instance-id", "--topic", "--keywords", "--tone",
        "--language",    "--pick",  NULL};
    const char *instance_id;
    const char *pick_text;
    char id[STORE_UUID_SIZE];
    struct error err;
    struct app *app;
    json_t *request;
    long pick = 0;
    char *end;
    int rc;

    if (cli_check_args("blog generate", ctx->argc, ctx->argv, known) != 0)
        return CLI_USAGE;
    instance_id = cli_option(ctx->argc, ctx->argv, "--instance-id");
    if (!instance_id || !*instance_id) {
        fprintf(stderr, "sitesmith blog generate: --instance-id is missing; "
                        "see sitesmith blog generate --help\n");
        return CLI_USAGE;
    }
    pick_text = cli_option(ctx->argc, ctx->argv, "--pick");
    if (pick_text) {
        errno = 0;
        pick = strtol(pick_text, &end, 10);
        if (errno || end == pick_text || *end || pick < 0 || pick > 20) {
            fprintf(stderr,
                    "sitesmith blog generate: --pick: invalid value \"%s\": "
                    "expected an idea index from 0 to 20\n",
                    pick_text);
            return CLI_USAGE;
        }
    }

    error_clear(&err);
    app = app_open(ctx->cfg, &err);
    if (!app) {
        fprintf(stderr, "sitesmith blog generate: %s\n", err.message);
        return CLI_FAILED;
    }
    request = request_from_options(ctx);
    rc = blog_start(app, instance_id, request, id, &err);
    json_decref(request);
    if (rc == 0) {
        printf("generation %s\n", id);
        rc = blog_run_until_done(app, instance_id, id, (int)pick,
                                 print_progress, NULL, &err);
    }
    if (rc == 0)
        print_result(app, instance_id, id);
    else
        fprintf(stderr, "sitesmith blog generate: %s\n", err.message);
    app_close(app);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

const struct cli_command cmd_blog_generate = {
    .name = "blog generate",
    .summary = "generate a blog post for a site from the command line",
    .usage = usage,
    .run = run_generate,
};
