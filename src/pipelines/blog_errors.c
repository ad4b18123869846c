/*
 * The words the site owner reads when a blog generation fails. A step's
 * error is written for the operator: it names settings, vendor accounts,
 * HTTP statuses and ids, and OpenAI's 401 message even repeats the end of
 * the API key. The generation keeps an owner's version instead: what
 * happened, that no credits were charged, and what to do. The technical
 * error goes to the log line that blog_job_failed() writes.
 *
 * Each step marks the errors of the services it calls with
 * blog_error_from(), because the same kind means different things for
 * different services. A 401 from OpenAI is a bad key on the operator's
 * side, while a 401 from Wix means the site withdrew the app's access.
 */
#include "pipelines/blog_internal.h"

#include "ai/openai.h"
#include "ai/replicate.h"

#include <stdio.h>
#include <string.h>

#define NO_CHARGE "No credits were charged."
#define OPERATOR_ALERTED "the app's operator has been alerted."

void blog_error_from(struct error *err, const char *source)
{
    size_t len = strlen(source);
    size_t room = sizeof(err->code) - len - 1;

    if (strchr(err->code, '/') || len + 1 >= sizeof(err->code))
        return;

    /* The code moves right behind "<source>/", cut to the room left. */
    memmove(err->code + len + 1, err->code, room);
    memcpy(err->code, source, len);
    err->code[len] = '/';
    err->code[sizeof(err->code) - 1] = '\0';
}

const char *blog_error_code(const struct error *err)
{
    const char *slash = strchr(err->code, '/');

    return slash ? slash + 1 : err->code;
}

/* True when err was marked as coming from source. */
static int from(const struct error *err, const char *source)
{
    size_t len = strlen(source);

    return strncmp(err->code, source, len) == 0 && err->code[len] == '/';
}

static int code_is(const struct error *err, const char *code)
{
    return strcmp(blog_error_code(err), code) == 0;
}

static int busy(const struct error *err)
{
    return err->kind == ERR_RETRYABLE || err->kind == ERR_RATE_LIMITED;
}

/* The step's work as a phrase, e.g. "writing your post". */
static const char *doing(const char *job_kind)
{
    if (strcmp(job_kind, BLOG_JOB_IDEAS) == 0)
        return "suggesting ideas for your post";
    if (strcmp(job_kind, BLOG_JOB_WRITE) == 0)
        return "writing your post";
    if (strcmp(job_kind, BLOG_JOB_IMAGE) == 0)
        return "making the cover image";
    return "saving the draft to your Wix Blog";
}

static void say(struct error *owner, enum error_kind kind, const char *message)
{
    error_set(owner, kind, "%s", message);
}

/* OpenAI, which writes the ideas and the post. */
static int openai_words(const struct error *cause, struct error *owner)
{
    if (busy(cause)) {
        say(owner, cause->kind,
            "The writing service is busy or not responding, and several "
            "attempts failed. " NO_CHARGE
            " Please try again in a few minutes.");
        return 0;
    }
    if (code_is(cause, OPENAI_ERR_REFUSAL) ||
        code_is(cause, OPENAI_ERR_CONTENT_FILTER)) {
        say(owner, ERR_INVALID,
            "The writing service declined to write about this idea. " NO_CHARGE
            " Choose another idea or change the topic, then try again.");
        return 0;
    }
    if (code_is(cause, OPENAI_ERR_LENGTH) ||
        code_is(cause, OPENAI_ERR_SCHEMA) ||
        code_is(cause, OPENAI_ERR_INVALID_JSON)) {
        say(owner, ERR_PERMANENT,
            "The writing service returned text that could not be "
            "used. " NO_CHARGE
            " Please try again; if it happens again, choose another idea.");
        return 0;
    }

    /* A rejected key, an exhausted quota, an unknown model. */
    say(owner, ERR_PERMANENT,
        "The writing service is not configured correctly; " OPERATOR_ALERTED
        " " NO_CHARGE " Please try again later.");
    return 1;
}

static int sensitive(const struct error *cause)
{
    return strcasestr(cause->message, "(E005)") ||
           strcasestr(cause->message, "sensitive") ||
           strcasestr(cause->message, "NSFW");
}

/* Replicate, which makes the cover image. */
static int replicate_words(const struct error *cause, struct error *owner)
{
    if (busy(cause)) {
        say(owner, cause->kind,
            "The image service failed several times while making the cover "
            "image. " NO_CHARGE " Please try again in a few minutes.");
        return 0;
    }
    if (code_is(cause, REPLICATE_ERR_FAILED) && sensitive(cause)) {
        say(owner, ERR_INVALID,
            "The image service rejected the cover image for this post as "
            "sensitive content. " NO_CHARGE
            " Choose another idea or change the topic, then try again.");
        return 0;
    }
    if (code_is(cause, REPLICATE_ERR_FAILED) ||
        code_is(cause, REPLICATE_ERR_CANCELED) ||
        code_is(cause, REPLICATE_ERR_ABORTED) ||
        code_is(cause, REPLICATE_ERR_OUTPUT_EXPIRED) ||
        code_is(cause, REPLICATE_ERR_OUTPUT_TYPE)) {
        say(owner, ERR_PERMANENT,
            "The image service could not make a usable cover image for this "
            "post. " NO_CHARGE
            " Please try again; if it happens again, choose another idea.");
        return 0;
    }

    /* A rejected token, no credit on the account, an unknown model. */
    say(owner, ERR_PERMANENT,
        "The image service is not configured correctly; " OPERATOR_ALERTED
        " " NO_CHARGE " Please try again later.");
    return 1;
}

/* Wix, which has the site's facts, its Media Manager and its Blog. */
static int wix_words(const struct error *cause, struct error *owner)
{
    switch (cause->kind) {
    case ERR_RETRYABLE:
    case ERR_RATE_LIMITED:
        say(owner, cause->kind,
            "Wix did not respond in time, and several attempts "
            "failed. " NO_CHARGE " Please try again in a few minutes.");
        return 0;
    case ERR_UNAUTHORIZED:
        say(owner, ERR_UNAUTHORIZED,
            "The app can no longer reach your site because Wix did not "
            "accept its authorization. " NO_CHARGE
            " Open the app again from your Wix dashboard; if this keeps "
            "happening, reinstall it.");
        return 0;
    case ERR_FORBIDDEN:
        say(owner, ERR_FORBIDDEN,
            "The app is missing a permission it needs on your site. " NO_CHARGE
            " Reinstall the app from the Wix App Market to grant it.");
        return 0;
    case ERR_NOT_FOUND:
        say(owner, ERR_NOT_FOUND,
            "Something the post needs was not found on your site. " NO_CHARGE
            " Make sure the Wix Blog app is installed on your site, then "
            "try again.");
        return 0;
    default:
        say(owner, ERR_PERMANENT,
            "Wix rejected the request to save the post; " OPERATOR_ALERTED
            " " NO_CHARGE " Please try again later.");
        return 1;
    }
}

int blog_owner_error(const char *job_kind, const struct error *cause,
                     struct error *owner)
{
    char message[ERROR_MESSAGE_MAX];

    if (code_is(cause, BLOG_ERR_NO_MEMBERS)) {
        say(owner, ERR_NOT_FOUND,
            "Your site has no members, and a blog post needs a member as its "
            "writer. " NO_CHARGE
            " Add a member to your site (logging in to the site once as its "
            "owner does that), then try again.");
        return 0;
    }
    if (code_is(cause, BLOG_ERR_COVER_LOST)) {
        say(owner, ERR_PERMANENT,
            "The cover image made for this post was lost before it could be "
            "saved to your site; " OPERATOR_ALERTED " " NO_CHARGE
            " Please start a new generation.");
        return 1;
    }
    if (from(cause, BLOG_SOURCE_OPENAI))
        return openai_words(cause, owner);
    if (from(cause, BLOG_SOURCE_REPLICATE))
        return replicate_words(cause, owner);
    if (from(cause, BLOG_SOURCE_WIX))
        return wix_words(cause, owner);

    /* The app's own failure: its database, its disk, a bug. */
    snprintf(message, sizeof(message),
             "Something went wrong in the app while %s; " OPERATOR_ALERTED
             " " NO_CHARGE " Please try again later.",
             doing(job_kind));
    say(owner, ERR_PERMANENT, message);
    return 1;
}
