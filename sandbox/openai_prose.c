/*
 * Sentences about a subject, from template tables. A template names the
 * subject and the words that agree with it by codes, so that one table
 * serves "leather jackets" (plural) and "linen" (a mass noun):
 *
 *   %s %S  the subject ("leather jackets"), or in title case
 *   %o %O  its singular ("leather jacket")
 *   %b %B  the related subject
 *   %p     the product in hand; %n the site's name; %u the site's URL
 *   %v     "s" after a singular: "matter%v" -> "matters" or "matter"
 *   %a %h  "is"/"are", "has"/"have"
 *   %i %I  "it"/"they"; %e "it"/"them"; %t "its"/"their"
 *
 * A template that starts with '!' needs a countable subject. Within one
 * response each table hands out every template once before any repeats.
 */
#include "openai_text_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define RELATED_MAX 4
#define FEATURES_MAX 4

/* ------------------------------------------------------------------ */
/* Template tables                                                     */
/* ------------------------------------------------------------------ */

/* Titles of ideas, each with the angle that goes with it. */
static const char *const title_templates[][2] = {
    {"How to Choose the Right %O",
     "What to look for when buying %s, explained in plain language for "
     "first-time buyers."},
    {"The Complete Guide to %S",
     "Everything readers need to know about %s, from choosing well to "
     "everyday care."},
    {"Why %S Matter%v More Than You Think",
     "Why %s deserve%v a closer look, and how readers can get more from %e "
     "every day."},
    {"%S 101: Everything You Need to Know",
     "A friendly introduction to %s for readers who want to buy once and "
     "buy well."},
    {"7 Simple Ways to Get More from Your %S",
     "Seven practical ideas that help readers use and enjoy %s more often."},
    {"A Beginner's Guide to %S",
     "A clear starting point for readers new to %s, with the basics "
     "explained step by step."},
    {"How to Care for Your %S",
     "Simple care habits that keep %s looking %t best for years."},
    {"Common %O Mistakes to Avoid",
     "The most common mistakes people make with %s, and simple ways to "
     "avoid them."},
    {"What We Love About %S Right Now",
     "A personal look at the %s we enjoy most this season, and why."},
    {"Our Favorite %S This Season",
     "A seasonal round-up of %s, with tips for the months ahead."},
};

static const char *const why_headings[] = {
    "Why %S Matter%v",
    "What Makes Great %S",
    "Why We Love %S",
};

static const char *const choose_headings[] = {
    "How to Choose the Right %O",
    "What to Look for in %S",
    "Finding %S That Suit%v You",
};

static const char *const care_headings[] = {
    "Caring for Your %S",
    "Making Your %S Last",
    "Everyday Tips for %S",
};

static const char *const mistake_headings[] = {
    "Common %O Mistakes to Avoid",
    "Mistakes to Avoid with %S",
};

static const char *const closing_headings[] = {
    "Final Thoughts",
    "The Bottom Line",
    "Wrapping Up",
};

static const char *const intro_sentences[] = {
    "%s %a one of those things that reward a little attention.",
    "Few things make as much difference day to day as well-chosen %s.",
    "!Whether you are buying your first %o or adding to a collection you "
    "love, a few simple ideas go a long way.",
    "At %n we spend a lot of time with %s, and we have learned what makes "
    "%e worth it.",
    "In this post we share what we know about %s: how to choose %e, how to "
    "look after %e and how to enjoy %e every day.",
};

static const char *const why_sentences[] = {
    "Good %s %a worth the investment, because %i last%v longer and look%v "
    "better with time.",
    "Quality shows in the details, and %s %a no exception.",
    "!The right %o fits easily into everyday life, which is why %s %a a "
    "favorite with our customers.",
    "%s that %a made well simply feel%v different from the first day.",
    "Once you know what to look for, choosing %s becomes much easier.",
};

static const char *const choose_sentences[] = {
    "Before you buy, think about how often you will use %e and where.",
    "Look closely at materials and finish, because they tell you more "
    "about %s than any label.",
    "Comparing a few options side by side is the quickest way to see "
    "which %s suit%v you.",
    "It pays to choose %s for the way you actually live, not for a single "
    "occasion.",
};

static const char *const care_sentences[] = {
    "A little regular care keeps %s looking %t best for years.",
    "Store %e away from direct sunlight and damp when %i %a not in use.",
    "Follow the care notes that come with %e, and deal with small marks "
    "early.",
    "!Rotating between a few favorites gives each %o time to rest.",
    "Simple habits, done often, do more for %s than an occasional deep "
    "clean.",
};

static const char *const mistake_sentences[] = {
    "The most common mistake is buying %s in a hurry.",
    "Another is skipping care until something goes wrong.",
    "Choosing on price alone often means replacing %s sooner than "
    "expected.",
    "Finally, don't forget to check the size and fit before you decide.",
};

static const char *const bold_sentences[] = {
    "In short: **a little know-how makes %s much easier to enjoy**.",
    "The good news: **getting %s right is easier than it looks**.",
};

static const char *const closing_sentences[] = {
    "%s %a easy to enjoy once you know what to look for.",
    "We hope these ideas help you choose and care for %s with confidence.",
    "Start with one idea from this post and build from there.",
};

/* Labels and sentences of the bulleted list in the first section. */
static const char *const aspects[][2] = {
    {"Quality", "Well-made %s last%v longer and age%v gracefully."},
    {"Versatility",
     "The best %s work%v in many settings, from everyday use to special "
     "occasions."},
    {"Comfort", "Choose %s that feel%v good from the first day."},
    {"Value", "Paying a little more for %s that last%v often costs less over "
              "time."},
    {"Style", "Simple, timeless designs keep %s looking current season "
              "after season."},
};

static const char *const steps[] = {
    "**Know what you need.** Think about where and how often you will use "
    "%e.",
    "**Check the materials.** Durable, honest materials are usually worth "
    "the extra cost.",
    "**Compare a few options.** Seeing %s side by side makes the "
    "differences clear.",
    "**Think about care.** Pick %s you can look after easily at home.",
    "**Buy for the long term.** A slightly higher price often means years "
    "of use.",
};

static const char *const product_notes[] = {
    "a dependable everyday choice.",
    "a favorite with our regular customers.",
    "made with an eye for detail.",
    "an easy place to start.",
    "a thoughtful gift, or a treat for yourself.",
};

static const char *const angle_reasons[] = {
    "Readers get clear advice they can use right away.",
    "It answers the questions our customers ask most often.",
    "It also touches on %b for readers who want more.",
};

static const char *const excerpt_more[] = {
    "Tips from the team at %n.",
    "A quick read before your next purchase.",
};

static const char *const excerpt_sentences[] = {
    "A practical guide to choosing, using and caring for %s.",
    "!Everything we have learned about %s, from choosing the right %o to "
    "making %e last.",
    "How to get the most from %s, with simple tips you can use today.",
};

static const char *const meta_sentences[] = {
    "Learn how to choose and care for %s, with practical tips and ideas "
    "from %n.",
    "Our guide to %s: what to look for, how to care for %e and how to "
    "enjoy %e every day.",
};

static const char *const scenes[] = {
    "arranged on a wooden table",
    "in a bright, airy room",
    "on a clean, neutral background",
    "in a cozy, lived-in setting",
};

static const char *const photo_styles[] = {
    "soft natural light, shallow depth of field",
    "bright studio lighting",
    "warm golden-hour light, editorial style",
    "flat lay from above, muted palette",
};

static const char *const product_openings[] = {
    "Meet the %p, an everyday favorite that is easy to love.",
    "The %p is simple, well made and ready for daily use.",
    "Add the %p to your collection and enjoy it from day one.",
};

static const char *const product_sentences[] = {
    "It pairs easily with the rest of your %s.",
    "Every detail is made to last, so it looks good season after season.",
    "It is a thoughtful gift, or a treat for yourself.",
    "It arrives ready to use, so you can enjoy it from day one.",
};

static const char *const product_closings[] = {
    "Order the %p today and enjoy it from day one.",
    "Add the %p to your cart today.",
    "A thoughtful gift, or a treat for yourself.",
};

/* ------------------------------------------------------------------ */
/* Drawing and expanding templates                                     */
/* ------------------------------------------------------------------ */

uint64_t prose_random(struct generator *g)
{
    uint64_t z = (g->state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

size_t prose_pick(struct generator *g, size_t count)
{
    return count ? (size_t)(prose_random(g) % count) : 0;
}

void prose_append(struct generator *g, struct buf *out, const char *text)
{
    if (buf_append_str(out, text) != 0)
        g->failed = 1;
}

static int countable(const struct subject *subject)
{
    return subject->many[0] != '\0';
}

static struct deck *deck_of(struct generator *g, const void *table)
{
    size_t i = 0;

    for (; i < DECKS_MAX && g->decks[i].table; i++)
        if (g->decks[i].table == table)
            return &g->decks[i];
    if (i == DECKS_MAX)
        i = 0;
    g->decks[i].table = table;
    g->decks[i].used = 0;
    return &g->decks[i];
}

/*
 * A template from table that this response has not used yet (all are
 * fresh again once each has been used) and that suits the subject.
 */
static size_t draw_index(struct generator *g, const void *table,
                         const char *const *templates, size_t count,
                         size_t stride)
{
    struct deck *deck = deck_of(g, table);
    size_t start = prose_pick(g, count);

    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < count; k++) {
            size_t i = (start + k) % count;
            uint64_t bit = 1ull << (i % 64);

            if (deck->used & bit)
                continue;
            if (templates && templates[i * stride][0] == '!' &&
                !countable(g->focus))
                continue;
            deck->used |= bit;
            return i;
        }
        deck->used = 0;
    }
    return start;
}

static const char *draw(struct generator *g, const char *const *table,
                        size_t count)
{
    return table[draw_index(g, table, table, count, 1)];
}

static int minor_word(const char *word, size_t length)
{
    static const char *const minor[] = {"a",   "an", "and", "at", "by",
                                        "for", "in", "of",  "on", "or",
                                        "the", "to", "with"};

    for (size_t i = 0; i < COUNT_OF(minor); i++)
        if (strlen(minor[i]) == length && strncmp(minor[i], word, length) == 0)
            return 1;
    return 0;
}

/* Appends text with each word capitalised except short joining words. */
static void append_title_case(struct generator *g, struct buf *out,
                              const char *text)
{
    size_t start = out->len;

    prose_append(g, out, text);
    for (size_t i = start; !g->failed && i < out->len; i++) {
        size_t length = strcspn(out->data + i, " -");

        if ((i == start || !minor_word(out->data + i, length)) &&
            islower((unsigned char)out->data[i]))
            out->data[i] = (char)toupper((unsigned char)out->data[i]);
        i += length;
    }
}

struct agreement {
    int plural;
};

static const char *product_label(struct generator *g, int short_name);

static void append_subject(struct generator *g, struct buf *out,
                           const char *text, int title, int plural,
                           struct agreement *agree)
{
    if (title)
        append_title_case(g, out, text);
    else
        prose_append(g, out, text);
    agree->plural = plural;
}

/* Appends the word a code stands for; returns 0 for an unknown code. */
static int expand_code(struct generator *g, struct buf *out, char code,
                       struct agreement *agree)
{
    const struct subject *s = g->focus;
    const struct subject *b = g->second ? g->second : g->focus;
    const char *site =
        g->facts->site_name[0] ? g->facts->site_name : "our shop";

    switch (code) {
    case 's':
    case 'S':
        append_subject(g, out, subject_text(s), code == 'S', countable(s),
                       agree);
        return 1;
    case 'o':
    case 'O':
        append_subject(g, out, s->one, code == 'O', 0, agree);
        return 1;
    case 'b':
    case 'B':
        append_subject(g, out, subject_text(b), code == 'B', countable(b),
                       agree);
        return 1;
    case 'p':
        prose_append(g, out, product_label(g, 1));
        return 1;
    case 'n':
        prose_append(g, out, site);
        return 1;
    case 'u':
        prose_append(g, out, g->facts->site_url);
        return 1;
    case 'v':
        prose_append(g, out, agree->plural ? "" : "s");
        return 1;
    case 'a':
        prose_append(g, out, agree->plural ? "are" : "is");
        return 1;
    case 'h':
        prose_append(g, out, agree->plural ? "have" : "has");
        return 1;
    case 'i':
        prose_append(g, out, agree->plural ? "they" : "it");
        return 1;
    case 'I':
        prose_append(g, out, agree->plural ? "They" : "It");
        return 1;
    case 'e':
        prose_append(g, out, agree->plural ? "them" : "it");
        return 1;
    case 't':
        prose_append(g, out, agree->plural ? "their" : "its");
        return 1;
    default:
        return 0;
    }
}

/* Appends pattern with its codes filled in. */
static void expand(struct generator *g, struct buf *out, const char *pattern)
{
    struct agreement agree = {.plural = countable(g->focus)};

    if (pattern[0] == '!')
        pattern++;
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '%' && p[1] && expand_code(g, out, p[1], &agree)) {
            p++;
            continue;
        }
        if (buf_append(out, p, 1) != 0)
            g->failed = 1;
    }
}

/* Appends pattern filled in, as a sentence that starts in upper case. */
static void expand_sentence(struct generator *g, struct buf *out,
                            const char *pattern)
{
    size_t start = out->len;

    expand(g, out, pattern);
    if (!g->failed && out->len > start &&
        islower((unsigned char)out->data[start]))
        out->data[start] = (char)toupper((unsigned char)out->data[start]);
}

static void sentences_from(struct generator *g, struct buf *out,
                           const char *const *table, size_t count, int how_many)
{
    for (int i = 0; i < how_many; i++) {
        if (i > 0)
            prose_append(g, out, " ");
        expand_sentence(g, out, draw(g, table, count));
    }
}

size_t prose_utf8_length(const char *text)
{
    size_t count = 0;

    for (; *text; text++)
        count += ((unsigned char)*text & 0xc0) != 0x80;
    return count;
}

static size_t utf8_count(const char *text, size_t bytes)
{
    size_t count = 0;

    for (size_t i = 0; i < bytes && text[i]; i++)
        count += ((unsigned char)text[i] & 0xc0) != 0x80;
    return count;
}

void prose_fit_sentences(struct generator *g, const char *text, size_t max,
                         struct buf *out)
{
    size_t used = 0;

    for (const char *p = text; *p;) {
        size_t length = strcspn(p, ".!?");
        size_t chars;

        length += p[length] ? 1 : 0;
        chars = utf8_count(p, length) + (used ? 1 : 0);
        if (used > 0 && used + chars > max)
            break;
        if (used > 0)
            prose_append(g, out, " ");
        if (buf_append(out, p, length) != 0)
            g->failed = 1;
        used += chars;
        p += length;
        while (*p == ' ')
            p++;
    }
}

void prose_focus(struct generator *g, size_t subject_index)
{
    const struct prompt_facts *facts = g->facts;

    g->focus = &facts->subjects[subject_index % facts->subject_count];
    g->second = NULL;
    for (size_t i = 0; i < facts->subject_count && !g->second; i++) {
        const struct subject *s = &facts->subjects[facts->order[i]];

        if (s != g->focus && !strstr(g->focus->one, s->one) &&
            !strstr(s->one, g->focus->one))
            g->second = s;
    }
}

/* ------------------------------------------------------------------ */
/* Blog                                                                */
/* ------------------------------------------------------------------ */

static int avoided(const struct prompt_facts *facts, const char *title)
{
    for (size_t i = 0; i < facts->avoid.count; i++)
        if (strcasecmp(facts->avoid.items[i], title) == 0)
            return 1;
    return 0;
}

/* Draws the title template of the current idea, once per idea. */
static size_t idea_template(struct generator *g)
{
    if (g->idea_template < 0)
        g->idea_template =
            (int)draw_index(g, title_templates, title_templates[0],
                            COUNT_OF(title_templates), 2);
    return (size_t)g->idea_template;
}

void prose_title(struct generator *g, struct buf *out)
{
    struct buf text;

    /* The post for a chosen idea keeps the idea's title. */
    if (g->facts->title[0] && g->item_depth == 0) {
        prose_append(g, out, g->facts->title);
        return;
    }
    buf_init(&text, 1024);
    for (size_t tries = 0; tries <= COUNT_OF(title_templates); tries++) {
        buf_reset(&text);
        expand(g, &text, title_templates[idea_template(g)][0]);
        if (text.data && !avoided(g->facts, text.data))
            break;
        g->idea_template = -1;
    }
    prose_append(g, out, text.data ? text.data : "");
    buf_free(&text);
}

void prose_heading(struct generator *g, struct buf *out)
{
    expand(g, out, draw(g, why_headings, COUNT_OF(why_headings)));
}

void prose_sentence(struct generator *g, struct buf *out)
{
    if (g->text_register == REGISTER_PRODUCT)
        sentences_from(g, out, product_sentences, COUNT_OF(product_sentences),
                       1);
    else
        sentences_from(g, out, why_sentences, COUNT_OF(why_sentences), 1);
}

void prose_angle(struct generator *g, struct buf *out)
{
    expand_sentence(g, out, title_templates[idea_template(g)][1]);
    prose_append(g, out, " ");
    sentences_from(g, out, angle_reasons, COUNT_OF(angle_reasons), 1);
}

void prose_excerpt(struct generator *g, struct buf *out)
{
    sentences_from(g, out, excerpt_sentences, COUNT_OF(excerpt_sentences), 1);
    prose_append(g, out, " ");
    sentences_from(g, out, excerpt_more, COUNT_OF(excerpt_more), 1);
}

void prose_meta_description(struct generator *g, struct buf *out)
{
    sentences_from(g, out, meta_sentences, COUNT_OF(meta_sentences), 1);
}

static void heading(struct generator *g, struct buf *out,
                    const char *const *table, size_t count)
{
    prose_append(g, out, "## ");
    expand(g, out, draw(g, table, count));
    prose_append(g, out, "\n\n");
}

static void paragraph(struct generator *g, struct buf *out,
                      const char *const *table, size_t count, int how_many)
{
    sentences_from(g, out, table, count, how_many);
    prose_append(g, out, "\n\n");
}

static void aspect_list(struct generator *g, struct buf *out)
{
    int count = 3 + (int)prose_pick(g, 2);

    for (int i = 0; i < count; i++) {
        size_t k = draw_index(g, aspects, NULL, COUNT_OF(aspects), 2);

        prose_append(g, out, "- **");
        prose_append(g, out, aspects[k][0]);
        prose_append(g, out, ":** ");
        expand_sentence(g, out, aspects[k][1]);
        prose_append(g, out, "\n");
    }
    prose_append(g, out, "\n");
}

static void step_list(struct generator *g, struct buf *out)
{
    int count = 3 + (int)prose_pick(g, 2);

    for (int i = 0; i < count; i++) {
        if (buf_printf(out, "%d. ", i + 1) != 0)
            g->failed = 1;
        expand_sentence(g, out, draw(g, steps, COUNT_OF(steps)));
        prose_append(g, out, "\n");
    }
    prose_append(g, out, "\n");
}

/* Markdown link text: the site's name without brackets. */
static void append_link_text(struct generator *g, struct buf *out,
                             const char *text)
{
    for (const char *p = text; *p; p++)
        if (*p != '[' && *p != ']' && buf_append(out, p, 1) != 0)
            g->failed = 1;
}

static void append_slug(struct generator *g, struct buf *out, const char *text)
{
    int dash = 1;

    for (const char *p = text; *p; p++) {
        char c = (char)tolower((unsigned char)*p);

        if (isalnum((unsigned char)c)) {
            if (buf_append(out, &c, 1) != 0)
                g->failed = 1;
            dash = 0;
        } else if (!dash) {
            prose_append(g, out, "-");
            dash = 1;
        }
    }
}

/*
 * A sentence with a link: to the site when the prompt gives its address,
 * to an example.com placeholder when the prompt names no site at all,
 * and none for a named site without an address, because any address
 * would be made up.
 */
static void link_sentence(struct generator *g, struct buf *out)
{
    const struct prompt_facts *facts = g->facts;

    if (facts->site_url[0]) {
        expand(g, out, " You can find our %s and more at [");
        append_link_text(g, out,
                         facts->site_name[0] ? facts->site_name : "our shop");
        expand(g, out, "](%u).");
    } else if (!facts->has_site) {
        expand(g, out,
               " For more ideas, read [our guide to %s]"
               "(https://www.example.com/blog/");
        append_slug(g, out, subject_text(g->focus));
        prose_append(g, out, "-guide).");
    }
}

/* A bulleted list of the site's products that fit the subject. */
static int product_list(struct generator *g, struct buf *out)
{
    size_t indexes[RELATED_MAX];
    size_t count =
        facts_related_products(g->facts, g->focus, indexes, RELATED_MAX);

    if (count < 2)
        return 0;
    prose_append(g, out, "## From Our Collection\n\n");
    expand_sentence(g, out,
                    "A few pieces from our range show what good %s "
                    "can be.");
    prose_append(g, out, "\n\n");
    for (size_t i = 0; i < count; i++) {
        prose_append(g, out, "- **");
        prose_append(g, out, g->facts->products.items[indexes[i]]);
        prose_append(g, out, ":** ");
        expand_sentence(g, out,
                        draw(g, product_notes, COUNT_OF(product_notes)));
        prose_append(g, out, "\n");
    }
    prose_append(g, out, "\n");
    return 1;
}

void prose_article(struct generator *g, struct buf *out)
{
    sentences_from(g, out, intro_sentences, COUNT_OF(intro_sentences), 2);
    prose_append(g, out, " ");
    paragraph(g, out, bold_sentences, COUNT_OF(bold_sentences), 1);

    heading(g, out, why_headings, COUNT_OF(why_headings));
    paragraph(g, out, why_sentences, COUNT_OF(why_sentences), 3);
    aspect_list(g, out);

    heading(g, out, choose_headings, COUNT_OF(choose_headings));
    paragraph(g, out, choose_sentences, COUNT_OF(choose_sentences), 2);
    step_list(g, out);

    heading(g, out, care_headings, COUNT_OF(care_headings));
    paragraph(g, out, care_sentences, COUNT_OF(care_sentences), 3);

    if (!product_list(g, out)) {
        heading(g, out, mistake_headings, COUNT_OF(mistake_headings));
        paragraph(g, out, mistake_sentences, COUNT_OF(mistake_sentences), 3);
    }

    heading(g, out, closing_headings, COUNT_OF(closing_headings));
    sentences_from(g, out, closing_sentences, COUNT_OF(closing_sentences), 2);
    link_sentence(g, out);
    prose_append(g, out, "\n");
}

void prose_image_prompt(struct generator *g, struct buf *out)
{
    expand(g, out, "A photorealistic image of %s ");
    prose_append(g, out, draw(g, scenes, COUNT_OF(scenes)));
    prose_append(g, out, ", ");
    prose_append(g, out, draw(g, photo_styles, COUNT_OF(photo_styles)));
    prose_append(g, out, ", high detail, no text or logos");
}

void prose_alt_text(struct generator *g, struct buf *out)
{
    expand(g, out, "Photo of %s ");
    prose_append(g, out, draw(g, scenes, COUNT_OF(scenes)));
}

/* Adds the words of text (lower case, letters and digits only) as tags. */
static void add_tag_words(char tags[][PHRASE_MAX], size_t *count, size_t max,
                          const char *text, int joined)
{
    char tag[PHRASE_MAX];
    size_t length = 0;

    for (const char *p = text;; p++) {
        if (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) {
            if (length + 1 < sizeof(tag))
                tag[length++] = (char)tolower((unsigned char)*p);
            continue;
        }
        if ((*p == ' ' || *p == '-') && joined && *p)
            continue;
        tag[length] = '\0';
        if (length >= 3 && !facts_is_stop_word(tag) && *count < max) {
            size_t k = 0;

            for (; k < *count && strcmp(tags[k], tag) != 0; k++)
                ;
            if (k == *count)
                snprintf(tags[(*count)++], PHRASE_MAX, "%s", tag);
        }
        length = 0;
        if (!*p)
            break;
    }
}

/*
 * Hashtags of the current subject: its words and the words joined, then
 * the words of the prompt's keywords, the types of related products, the
 * related subject and the other subjects.
 */
void prose_hashtag(struct generator *g, size_t index, struct buf *out)
{
    enum { TAGS_MAX = 16 };
    const struct prompt_facts *facts = g->facts;
    char tags[TAGS_MAX][PHRASE_MAX];
    size_t related[RELATED_MAX];
    size_t related_count =
        facts_related_products(facts, g->focus, related, RELATED_MAX);
    size_t count = 0;

    add_tag_words(tags, &count, TAGS_MAX, subject_text(g->focus), 0);
    if (strchr(g->focus->one, ' '))
        add_tag_words(tags, &count, TAGS_MAX, subject_text(g->focus), 1);
    for (size_t i = 0; i < facts->keywords.count; i++)
        add_tag_words(tags, &count, TAGS_MAX, facts->keywords.items[i], 0);
    for (size_t i = 0; i < related_count; i++) {
        const char *name = facts->products.items[related[i]];
        const char *space = strrchr(name, ' ');

        add_tag_words(tags, &count, TAGS_MAX, space ? space + 1 : name, 0);
    }
    if (g->second)
        add_tag_words(tags, &count, TAGS_MAX, subject_text(g->second), 0);
    for (size_t i = 0; i < facts->subject_count; i++)
        add_tag_words(tags, &count, TAGS_MAX,
                      subject_text(&facts->subjects[facts->order[i]]), 0);
    prose_append(g, out, "#");
    prose_append(g, out, count ? tags[index % count] : "tips");
}

void prose_keyword(struct generator *g, size_t index, struct buf *out)
{
    const char *const patterns[] = {"%s", "%o care", "best %s", "%b",
                                    "how to choose %s"};

    if (g->text_register == REGISTER_PRODUCT) {
        const char *const product_patterns[] = {"%s", "%o", "%b", "buy %s"};

        expand(g, out, product_patterns[index % COUNT_OF(product_patterns)]);
        return;
    }
    expand(g, out, patterns[index % COUNT_OF(patterns)]);
}

/* ------------------------------------------------------------------ */
/* Product copy                                                        */
/* ------------------------------------------------------------------ */

static void append_html_text(struct generator *g, struct buf *out,
                             const char *text, size_t length)
{
    for (size_t i = 0; i < length && text[i]; i++) {
        const char *entity = text[i] == '<'   ? "&lt;"
                             : text[i] == '>' ? "&gt;"
                             : text[i] == '&' ? "&amp;"
                                              : NULL;

        if (entity)
            prose_append(g, out, entity);
        else if (buf_append(out, &text[i], 1) != 0)
            g->failed = 1;
    }
}

/* One sentence of a product's description, as a list item. */
struct feature {
    char text[PHRASE_MAX * 2];
    int detail; /* the lead-in naming the product was cut off */
};

/*
 * The product's description split into features, one per sentence. A
 * lead-in that only names the product goes ("Blue cotton shirt with a
 * narrow collar" gives "A narrow collar").
 */
static size_t product_features(const struct generator *g,
                               struct feature *features, size_t max)
{
    const char *head = strrchr(g->facts->subjects[0].one, ' ');
    size_t count = 0;

    head = head ? head + 1 : g->facts->subjects[0].one;
    for (const char *p = g->facts->product_text; *p && count < max;) {
        size_t length = strcspn(p, ".!?");
        const char *with = strstr(p, " with ");
        struct feature *feature = &features[count];
        char lead[PHRASE_MAX * 2];

        feature->detail = 0;
        if (with && (size_t)(with - p) < length &&
            (size_t)(with - p) < sizeof(lead)) {
            snprintf(lead, sizeof(lead), "%.*s", (int)(with - p), p);
            if (strcasestr(lead, head)) {
                length -= (size_t)(with + 6 - p);
                p = with + 6;
                feature->detail = 1;
            }
        }
        while (length > 0 && strchr(" ,", p[length - 1]))
            length--;
        if (length >= 8 && length < sizeof(feature->text)) {
            snprintf(feature->text, sizeof(feature->text), "%.*s", (int)length,
                     p);
            feature->text[0] = (char)toupper((unsigned char)feature->text[0]);
            count++;
        }
        p += length;
        p += strspn(p, ".!?, ");
    }
    return count;
}

/*
 * Sets the product's names as the new copy shows them, in title case and
 * with words of its own description: a kind word before its type ("Ocean
 * Blue Cotton Shirt"), else the detail it comes with ("Soft Winter
 * Jacket with Fleece Lining"), else a word the description puts before
 * its type. Sentences use the short name, without the detail.
 */
static void name_product(struct generator *g)
{
    const struct prompt_facts *facts = g->facts;
    const char *name = facts->product_name;
    const char *last = strrchr(name, ' ');
    int insert = last && facts->name_insert[0] &&
                 (!facts->name_has_kind || !facts->name_detail[0]);
    struct buf raw;
    struct buf text;

    buf_init(&raw, sizeof(g->product_label));
    buf_init(&text, sizeof(g->product_label));
    if (!name[0]) {
        prose_append(g, &raw, facts->subjects[0].one);
    } else if (insert) {
        if (buf_append(&raw, name, (size_t)(last - name) + 1) != 0)
            g->failed = 1;
        prose_append(g, &raw, facts->name_insert);
        prose_append(g, &raw, last);
    } else {
        prose_append(g, &raw, name);
    }
    append_title_case(g, &text, raw.data ? raw.data : "");
    snprintf(g->product_short, sizeof(g->product_short), "%s",
             text.data ? text.data : "");
    if (name[0] && !insert && facts->name_detail[0]) {
        prose_append(g, &text, " with ");
        append_title_case(g, &text, facts->name_detail);
    }
    snprintf(g->product_label, sizeof(g->product_label), "%s",
             text.data ? text.data : "");
    buf_free(&raw);
    buf_free(&text);
}

/* The product's new name; short leaves out the detail. */
static const char *product_label(struct generator *g, int short_name)
{
    if (!g->product_label[0])
        name_product(g);
    return short_name ? g->product_short : g->product_label;
}

/* The new name when it fits in max characters (0: no limit), else the
 * current one. */
void prose_product_name(struct generator *g, size_t max, struct buf *out)
{
    const char *label = product_label(g, 0);

    if (max > 0 && prose_utf8_length(label) > max && g->facts->product_name[0])
        label = g->facts->product_name;
    prose_append(g, out, label);
}

/* Appends piece unless out would pass max characters; 0 when it did not
 * fit. max 0 means no limit. */
static int append_within(struct generator *g, struct buf *out,
                         const char *piece, size_t max)
{
    if (max > 0 && prose_utf8_length(out->data ? out->data : "") +
                           prose_utf8_length(piece) >
                       max)
        return 0;
    prose_append(g, out, piece);
    return 1;
}

/* "<p>sentence</p>" from a template, escaped for HTML, within max. */
static void html_paragraph(struct generator *g, struct buf *out,
                           const char *const *table, size_t count, size_t max)
{
    struct buf text;
    struct buf html;

    buf_init(&text, 4096);
    buf_init(&html, 8192);
    expand_sentence(g, &text, draw(g, table, count));
    prose_append(g, &html, "<p>");
    append_html_text(g, &html, text.data ? text.data : "", text.len);
    prose_append(g, &html, "</p>");
    append_within(g, out, html.data ? html.data : "", max);
    buf_free(&text);
    buf_free(&html);
}

/*
 * An opening paragraph, the description's features and the product's
 * options as a list, and a closing paragraph. List items go in only
 * while room for the closing paragraph is left under max (0: no limit).
 */
void prose_product_html(struct generator *g, size_t max, struct buf *out)
{
    enum { CLOSING_ROOM = 60 };
    struct feature features[FEATURES_MAX];
    size_t count = product_features(g, features, FEATURES_MAX);
    size_t total = count + g->facts->product_options.count;
    size_t list_max = max > CLOSING_ROOM ? max - CLOSING_ROOM : max;
    size_t before_list;
    struct buf item;

    html_paragraph(g, out, product_openings, COUNT_OF(product_openings), 0);
    before_list = out->len;
    prose_append(g, out, "<ul>");
    buf_init(&item, 4096);
    for (size_t i = 0; i < total; i++) {
        const char *text = i < count
                               ? features[i].text
                               : g->facts->product_options.items[i - count];

        buf_reset(&item);
        prose_append(g, &item, "<li>");
        append_html_text(g, &item, text, strlen(text));
        prose_append(g, &item, "</li>");
        if (!append_within(g, out, item.data, list_max - 5))
            break;
    }
    buf_free(&item);
    if (out->len == before_list + 4) {
        out->len = before_list; /* no item fitted: no empty list */
        out->data[out->len] = '\0';
    } else {
        prose_append(g, out, "</ul>");
    }
    html_paragraph(g, out, product_closings, COUNT_OF(product_closings), max);
}

void prose_product_text(struct generator *g, struct buf *out)
{
    struct feature features[FEATURES_MAX];
    size_t count = product_features(g, features, FEATURES_MAX);

    sentences_from(g, out, product_openings, COUNT_OF(product_openings), 1);
    for (size_t i = 0; i < count; i++) {
        prose_append(g, out, features[i].detail ? " It comes with " : " ");
        if (features[i].detail)
            features[i].text[0] =
                (char)tolower((unsigned char)features[i].text[0]);
        prose_append(g, out, features[i].text);
        prose_append(g, out, ".");
    }
    prose_append(g, out, " ");
    sentences_from(g, out, product_sentences, COUNT_OF(product_sentences), 1);
}

/* A brand worth showing: a name, not a slug such as "partners-demo". */
static int shows_brand(const char *brand)
{
    return brand[0] && !strchr(brand, '-') && !strchr(brand, '_') &&
           strlen(brand) < 30;
}

void prose_product_seo_title(struct generator *g, size_t max, struct buf *out)
{
    const char *const patterns[] = {"%N | Shop %S", "Buy the %N Online",
                                    "%N | %r"};
    const char *name = product_label(g, 0);
    struct buf text;
    size_t start = prose_pick(g, COUNT_OF(patterns));

    buf_init(&text, 1024);
    for (size_t k = 0; k < COUNT_OF(patterns); k++) {
        const char *pattern = patterns[(start + k) % COUNT_OF(patterns)];

        if (strstr(pattern, "%r") && !shows_brand(g->facts->product_brand))
            continue;
        buf_reset(&text);
        for (const char *p = pattern; *p; p++) {
            if (p[0] == '%' && p[1] == 'N')
                prose_append(g, &text, name);
            else if (p[0] == '%' && p[1] == 'r')
                prose_append(g, &text, g->facts->product_brand);
            else if (p[0] == '%')
                expand(g, &text, (char[]){p[0], p[1], '\0'});
            else if (buf_append(&text, p, 1) != 0)
                g->failed = 1;
            p += p[0] == '%';
        }
        if (text.data && prose_utf8_length(text.data) <= max)
            break;
        buf_reset(&text);
    }
    prose_append(g, out, text.len ? text.data : name);
    buf_free(&text);
}

void prose_product_meta(struct generator *g, size_t max, struct buf *out)
{
    struct feature features[FEATURES_MAX];
    size_t count = product_features(g, features, FEATURES_MAX);
    struct buf text;

    buf_init(&text, 4096);
    prose_append(g, &text, "Shop the ");
    prose_append(g, &text, product_label(g, 1));
    if (count > 0) {
        prose_append(g, &text, features[0].detail ? ", with " : ": ");
        features[0].text[0] = (char)tolower((unsigned char)features[0].text[0]);
        prose_append(g, &text, features[0].text);
    }
    prose_append(g, &text, ". ");
    sentences_from(g, &text, product_closings, COUNT_OF(product_closings), 1);
    prose_fit_sentences(g, text.data ? text.data : "", max, out);
    buf_free(&text);
}
