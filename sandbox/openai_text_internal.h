/*
 * Internals of the OpenAI emulation's text writer, in three files:
 * openai_facts.c reads what a prompt is about (site and product facts,
 * the owner's topic, a chosen title) into subjects, openai_prose.c writes
 * titles, articles and product copy about a subject, and openai_text.c
 * walks a JSON Schema and fills each field with the fitting kind of text.
 *
 * All of it works on one response's own structures: any thread may call it.
 */
#ifndef SITESMITH_SANDBOX_OPENAI_TEXT_INTERNAL_H
#define SITESMITH_SANDBOX_OPENAI_TEXT_INTERNAL_H

#include "core/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PHRASE_MAX 96
#define URL_MAX 256
#define TITLE_MAX 256
#define PHRASES_MAX 32
#define SUBJECTS_MAX 48
#define PRODUCT_TEXT_MAX 2048
#define DECKS_MAX 32

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/*
 * A noun phrase a text can be about, in lower case except for words that
 * carry capitals inside them ("USB"). A countable phrase has both forms
 * and reads in the plural by default ("leather jackets"); a mass noun
 * ("linen", "coffee") has no plural and reads in the singular.
 */
struct subject {
    char one[PHRASE_MAX];  /* singular: "leather jacket", "linen" */
    char many[PHRASE_MAX]; /* plural, or "" for a mass noun */
    int score;             /* how strongly the prompt is about it */
};

struct phrase_list {
    char items[PHRASES_MAX][PHRASE_MAX];
    size_t count;
};

/* What a prompt says about the site, the product and the wanted text. */
struct prompt_facts {
    char site_name[PHRASE_MAX];
    char site_url[URL_MAX];              /* "" unless the prompt gives one */
    int has_site;                        /* the prompt describes a site */
    char title[TITLE_MAX];               /* a chosen title to keep, or "" */
    char topic[PHRASE_MAX];              /* the owner's topic, or "" */
    char product_name[PHRASE_MAX];       /* product copy: the current name */
    char product_brand[PHRASE_MAX];      /* or "" */
    char product_text[PRODUCT_TEXT_MAX]; /* its description, plain text */
    char name_insert[PHRASE_MAX]; /* a kind word the name lacks: "cotton" */
    char name_detail[PHRASE_MAX]; /* what it comes with: "fleece lining" */
    int name_has_kind;            /* the name says its kind: "Silk Blouse" */
    struct phrase_list product_options; /* "Size: S, M, L" */
    struct phrase_list keywords;        /* the owner's and the idea's */
    struct phrase_list products;        /* product names of the site */
    struct phrase_list avoid;           /* titles not to repeat */
    /* Highest score first: subjects[0] is what the whole response is
     * about (the chosen title's subject, the product, the topic). */
    struct subject subjects[SUBJECTS_MAX];
    size_t subject_count;       /* at least one */
    size_t order[SUBJECTS_MAX]; /* subject indexes, unlike ones first */
};

/*
 * Reads prompt (the text of all messages) into facts. Always leaves at
 * least one subject, from fallback words when the prompt has none.
 */
void facts_read(struct prompt_facts *facts, const char *prompt);

/*
 * Writes to indexes the products of facts whose names share words with
 * subject, those with the most shared words first. Returns how many.
 */
size_t facts_related_products(const struct prompt_facts *facts,
                              const struct subject *subject, size_t *indexes,
                              size_t max);

/* The subject's default form: its plural when it has one. */
const char *subject_text(const struct subject *subject);

/* True when word is a common English or instruction word. */
int facts_is_stop_word(const char *word);

enum text_register { REGISTER_BLOG, REGISTER_PRODUCT };

/* Which templates of a table one response has used already. */
struct deck {
    const void *table;
    uint64_t used;
};

/* The state of one response being written. */
struct generator {
    uint64_t state; /* splitmix64 */
    enum text_register text_register;
    const json_t *root; /* the whole schema, for $ref */
    const struct prompt_facts *facts;
    const struct subject *focus;        /* what the current object is about */
    const struct subject *second;       /* a related subject, never focus */
    size_t list_index;                  /* the item of the array being filled */
    int item_depth;                     /* objects inside arrays around here */
    int array_item;                     /* the value being made is an item */
    int idea_template;                  /* the current idea's title, or -1 */
    char product_label[2 * PHRASE_MAX]; /* the product's new name, once */
    char product_short[2 * PHRASE_MAX]; /* the same without its detail */
    struct deck decks[DECKS_MAX];
    int failed; /* an append ran out of room */
};

uint64_t prose_random(struct generator *g);

/* A number below count, or 0 when count is 0. */
size_t prose_pick(struct generator *g, size_t count);

void prose_append(struct generator *g, struct buf *out, const char *text);

/* Points the generator at subject, with the next unlike one as second. */
void prose_focus(struct generator *g, size_t subject_index);

/* Blog register. */
void prose_title(struct generator *g, struct buf *out);
void prose_heading(struct generator *g, struct buf *out);
void prose_sentence(struct generator *g, struct buf *out);
void prose_angle(struct generator *g, struct buf *out);
void prose_excerpt(struct generator *g, struct buf *out);
void prose_meta_description(struct generator *g, struct buf *out);
void prose_article(struct generator *g, struct buf *out);
void prose_image_prompt(struct generator *g, struct buf *out);
void prose_alt_text(struct generator *g, struct buf *out);

/* The index-th hashtag ("#linen") or keyword of the current subject. */
void prose_hashtag(struct generator *g, size_t index, struct buf *out);
void prose_keyword(struct generator *g, size_t index, struct buf *out);

/* Product register. */
void prose_product_name(struct generator *g, size_t max, struct buf *out);
void prose_product_html(struct generator *g, size_t max, struct buf *out);
void prose_product_text(struct generator *g, struct buf *out);
void prose_product_seo_title(struct generator *g, size_t max, struct buf *out);
void prose_product_meta(struct generator *g, size_t max, struct buf *out);

size_t prose_utf8_length(const char *text);

/* Appends whole sentences of text that fit in max characters. */
void prose_fit_sentences(struct generator *g, const char *text, size_t max,
                         struct buf *out);

#endif
