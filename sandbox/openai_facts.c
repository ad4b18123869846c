/*
 * Reads what a prompt is about. sitesmith's prompts carry labelled facts
 * ("Site name: ...", "Products sold on the site: a, b", "Title: ...",
 * "Topic: ...", "Product data (JSON): {...}"); these become subjects
 * first. Product names give product types ("jackets") and kinds
 * ("leather jackets"), and a modifier that several names share gives a
 * material ("leather"). Only when the facts give too few subjects do the
 * prompt's most frequent content words fill in, so that instruction words
 * ("language", "facts", "complete") never lead.
 */
#include "openai_text_internal.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_MAX 96
#define WORDS_IN_SUBJECT_MAX 4

/*
 * Common English words, labels and the vocabulary of instructions, each
 * between spaces so that a lookup is one strstr().
 */
static const char stop_words[] =
    " about above after again against also always among amp and angle answer "
    "any are around article assistant based bcp-47 because been before being "
    "below between blank blog body both break built bulleted business but can "
    "cannot certification certifications characters chars chosen class color "
    "complete content copywriter could cover current data describe "
    "description did different discounts div does doing down during each "
    "emoji every excerpt expert facts few field fields follow following for "
    "format from front further give given goods guarantees had has have having "
    "heading headings helpful her here him his how href html http https idea "
    "ideas image images include including independent ingredients "
    "instructions into introduction invent items its itself json just keep "
    "keywords language least less letters like list logos make makers "
    "markdown markers marks materials matter may message meta more most must "
    "name naturally nbsp need needs new not now numbered off once one only "
    "organise "
    "other our out over own owner paragraph paragraphs photograph picture "
    "piece pieces please post posts price prices product products "
    "professional prompt provide quot quotation ranks read readers repeat "
    "respond response return rewrite rules same schema scripts search section "
    "sections selling sells sentence sentences seo she shop short should site "
    "sizes small sold some span start store strategist string strong styles "
    "such suggest suit table tables tag tags target tell text than that the "
    "their "
    "them then there these they thing things this those through title titles "
    "tone too topic under unless until use user using very wants was website "
    "were what when where which while who whom why will wishes with within "
    "without wix words work would write writer www you your yours ";

/*
 * Words that describe a look rather than a kind of product: "Navy Sports
 * Jacket" is a sports jacket, "Ocean Blue Shirt" only a shirt.
 */
static const char *const look_words[] = {
    "beige",  "black",  "blue",    "bright", "brown", "classic", "dark",
    "deluxe", "floral", "gold",    "golden", "gray",  "green",   "grey",
    "large",  "light",  "little",  "long",   "navy",  "ocean",   "orange",
    "pink",   "plain",  "premium", "purple", "red",   "silver",  "simple",
    "sleek",  "soft",   "striped", "ultra",  "white", "yellow",
};

/* Nouns with no singular in everyday use. */
static const char *const plural_only[] = {
    "clothes", "glasses",  "goods",  "jeans",    "leggings",
    "pants",   "scissors", "shorts", "trousers",
};

static const char *const fallback_words[] = {
    "garden", "coffee", "travel", "design", "kitchen", "home",
};

/* A word or phrase with how often it occurs and where it first did. */
struct word_stat {
    char word[PHRASE_MAX];
    int count;
    size_t first;
};

/* How often product names use each type, kind and modifier. */
struct product_stats {
    struct word_stat heads[STATS_MAX]; /* singular last words: "jacket" */
    struct word_stat mods[STATS_MAX];  /* the word before: "leather" */
    struct word_stat kinds[STATS_MAX]; /* both: "leather jacket" */
    size_t head_count;
    size_t mod_count;
    size_t kind_count;
};

enum countable { COUNTABLE_GUESS, COUNTABLE_YES, COUNTABLE_NO };

static int in_list(const char *const *list, size_t count, const char *word)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i], word) == 0)
            return 1;
    return 0;
}

int facts_is_stop_word(const char *word)
{
    char key[PHRASE_MAX + 2];

    if (!word[0] || strchr(word, ' ') ||
        snprintf(key, sizeof(key), " %s ", word) >= (int)sizeof(key))
        return 0;
    return strstr(stop_words, key) != NULL;
}

const char *subject_text(const struct subject *subject)
{
    return subject->many[0] ? subject->many : subject->one;
}

static int is_word_byte(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '\'' || c >= 0x80;
}

static int ends_with(const char *word, const char *suffix)
{
    size_t length = strlen(word);
    size_t suffix_length = strlen(suffix);

    return length >= suffix_length &&
           strcmp(word + length - suffix_length, suffix) == 0;
}

static int word_is_plural(const char *word)
{
    if (in_list(plural_only, COUNT_OF(plural_only), word))
        return 1;
    return strlen(word) > 3 && ends_with(word, "s") && !ends_with(word, "ss") &&
           !ends_with(word, "us") && !ends_with(word, "is");
}

static void singular_of(const char *word, char *out, size_t size)
{
    size_t length = strlen(word);

    if (!word_is_plural(word) ||
        in_list(plural_only, COUNT_OF(plural_only), word))
        snprintf(out, size, "%s", word);
    else if (ends_with(word, "ies") && length > 4)
        snprintf(out, size, "%.*sy", (int)(length - 3), word);
    else if (ends_with(word, "sses") || ends_with(word, "ches") ||
             ends_with(word, "shes") || ends_with(word, "xes") ||
             ends_with(word, "zes"))
        snprintf(out, size, "%.*s", (int)(length - 2), word);
    else
        snprintf(out, size, "%.*s", (int)(length - 1), word);
}

static void plural_of(const char *word, char *out, size_t size)
{
    size_t length = strlen(word);

    if (in_list(plural_only, COUNT_OF(plural_only), word))
        snprintf(out, size, "%s", word);
    else if (length > 1 && word[length - 1] == 'y' &&
             !strchr("aeiou", word[length - 2]))
        snprintf(out, size, "%.*sies", (int)(length - 1), word);
    else if (ends_with(word, "s") || ends_with(word, "x") ||
             ends_with(word, "z") || ends_with(word, "ch") ||
             ends_with(word, "sh"))
        snprintf(out, size, "%ses", word);
    else
        snprintf(out, size, "%ss", word);
}

/* The last word of phrase (a pointer into it). */
static const char *last_word(const char *phrase)
{
    const char *space = strrchr(phrase, ' ');

    return space ? space + 1 : phrase;
}

/*
 * Copies a phrase with spaces collapsed, punctuation around words dropped
 * and words in lower case unless they carry a capital past their first
 * letter ("USB", "iPhone").
 */
static void normalize(const char *text, size_t length, char *out, size_t size)
{
    size_t used = 0;
    size_t i = 0;

    while (i < length) {
        size_t start;
        int inner_capital = 0;

        while (i < length && !is_word_byte((unsigned char)text[i]))
            i++;
        start = i;
        while (i < length && is_word_byte((unsigned char)text[i])) {
            inner_capital |= i > start && isupper((unsigned char)text[i]);
            i++;
        }
        while (i > start && (text[i - 1] == '\'' || text[i - 1] == '-'))
            i--;
        if (i == start) {
            i++;
            continue;
        }
        if (used > 0 && used + 1 < size)
            out[used++] = ' ';
        for (size_t k = start; k < i && used + 1 < size; k++)
            out[used++] =
                inner_capital ? text[k] : (char)tolower((unsigned char)text[k]);
    }
    out[used] = '\0';
}

static size_t count_words(const char *phrase)
{
    size_t count = phrase[0] ? 1 : 0;

    for (; *phrase; phrase++)
        count += *phrase == ' ';
    return count;
}

/* True when the phrase can be a subject: short, starting and ending with
 * content words, and not a number. */
static int good_phrase(const char *phrase)
{
    char first[PHRASE_MAX];
    const char *last = last_word(phrase);
    size_t count = count_words(phrase);

    snprintf(first, sizeof(first), "%.*s", (int)strcspn(phrase, " "), phrase);
    if (count == 0 || count > WORDS_IN_SUBJECT_MAX || strlen(last) < 3 ||
        strlen(first) < 2)
        return 0;
    if (facts_is_stop_word(first) || facts_is_stop_word(last))
        return 0;
    for (const char *p = last; *p; p++)
        if (isalpha((unsigned char)*p) || (unsigned char)*p >= 0x80)
            return 1;
    return 0;
}

static void copy_trimmed(char *out, size_t size, const char *text,
                         size_t length)
{
    while (length > 0 && isspace((unsigned char)*text)) {
        text++;
        length--;
    }
    while (length > 0 && (isspace((unsigned char)text[length - 1]) ||
                          text[length - 1] == '.'))
        length--;
    if (length >= size)
        length = size - 1;
    memcpy(out, text, length);
    out[length] = '\0';
}

/* True when text (lower case) contains phrase as whole words. */
static int has_phrase(const char *text, const char *phrase)
{
    size_t length = strlen(phrase);

    for (const char *p = text; length && (p = strstr(p, phrase)); p++) {
        if ((p == text || !is_word_byte((unsigned char)p[-1])) &&
            !is_word_byte((unsigned char)p[length]))
            return 1;
    }
    return 0;
}

/* Splits text into its normalized words; returns how many fit. */
static size_t split_words(const char *text, char words[][PHRASE_MAX],
                          size_t max)
{
    char phrase[PRODUCT_TEXT_MAX];
    size_t count = 0;
    char *save;

    normalize(text, strlen(text), phrase, sizeof(phrase));
    for (char *word = strtok_r(phrase, " ", &save); word && count < max;
         word = strtok_r(NULL, " ", &save))
        snprintf(words[count++], PHRASE_MAX, "%s", word);
    return count;
}

static int stat_count(const struct word_stat *stats, size_t count,
                      const char *word)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(stats[i].word, word) == 0)
            return stats[i].count;
    return 0;
}

/* Counts one more of word in stats, which holds at most max words. */
static void stat_add(struct word_stat *stats, size_t *count, size_t max,
                     const char *word, size_t position)
{
    for (size_t i = 0; i < *count; i++) {
        if (strcmp(stats[i].word, word) == 0) {
            stats[i].count++;
            return;
        }
    }
    if (*count == max)
        return;
    snprintf(stats[*count].word, PHRASE_MAX, "%s", word);
    stats[*count].count = 1;
    stats[(*count)++].first = position;
}

/* ------------------------------------------------------------------ */
/* Subjects                                                            */
/* ------------------------------------------------------------------ */

static int find_subject(const struct prompt_facts *facts, const char *one)
{
    for (size_t i = 0; i < facts->subject_count; i++)
        if (strcmp(facts->subjects[i].one, one) == 0)
            return (int)i;
    return -1;
}

/*
 * Adds a subject from text (or raises the score of the same subject) and
 * returns its index, or -1 when the text cannot be one. A guessed phrase
 * is countable when it ends in a plural or in a product type.
 */
static int add_subject(struct prompt_facts *facts,
                       const struct product_stats *stats, const char *text,
                       enum countable countable, int score)
{
    char phrase[PHRASE_MAX];
    char word[PHRASE_MAX];
    struct subject subject = {.score = score};
    const char *last;
    size_t stem;
    int index;

    normalize(text, strlen(text), phrase, sizeof(phrase));
    if (!good_phrase(phrase))
        return -1;
    last = last_word(phrase);
    stem = (size_t)(last - phrase);
    singular_of(last, word, sizeof(word));
    if (countable == COUNTABLE_GUESS)
        countable = word_is_plural(last) ||
                            (stats && stat_count(stats->heads,
                                                 stats->head_count, word) > 0)
                        ? COUNTABLE_YES
                        : COUNTABLE_NO;
    if (countable == COUNTABLE_YES) {
        char plural[PHRASE_MAX + 2];

        plural_of(word, plural, sizeof(plural));
        if (snprintf(subject.one, PHRASE_MAX, "%.*s%s", (int)stem, phrase,
                     word) >= PHRASE_MAX ||
            snprintf(subject.many, PHRASE_MAX, "%.*s%s", (int)stem, phrase,
                     plural) >= PHRASE_MAX)
            return -1;
    } else {
        snprintf(subject.one, PHRASE_MAX, "%s", phrase);
    }

    index = find_subject(facts, subject.one);
    if (index >= 0) {
        if (facts->subjects[index].score < score)
            facts->subjects[index].score = score;
        return index;
    }
    if (facts->subject_count == SUBJECTS_MAX)
        return -1;
    facts->subjects[facts->subject_count] = subject;
    return (int)facts->subject_count++;
}

/* True for a word that names a kind of product ("leather", "winter"). */
static int kind_word(const char *word)
{
    size_t length = strlen(word);

    if (length < 3 || facts_is_stop_word(word) ||
        in_list(look_words, COUNT_OF(look_words), word))
        return 0;
    for (size_t i = 0; i < length; i++)
        if (!isalpha((unsigned char)word[i]) && (unsigned char)word[i] < 0x80)
            return 0;
    return 1;
}

/* Splits a product name into its type ("jacket") and the word before. */
static void split_name(const char *name, char head[PHRASE_MAX],
                       char mod[PHRASE_MAX])
{
    char phrase[PHRASE_MAX];
    const char *last;

    normalize(name, strlen(name), phrase, sizeof(phrase));
    last = last_word(phrase);
    singular_of(last, head, PHRASE_MAX);
    mod[0] = '\0';
    if (last > phrase) {
        const char *end = last - 1;
        const char *start = end;

        while (start > phrase && start[-1] != ' ')
            start--;
        snprintf(mod, PHRASE_MAX, "%.*s", (int)(end - start), start);
        if (!kind_word(mod))
            mod[0] = '\0';
    }
    if (!kind_word(head))
        head[0] = '\0';
}

static void count_products(const struct phrase_list *names,
                           struct product_stats *stats)
{
    for (size_t i = 0; i < names->count; i++) {
        char head[PHRASE_MAX];
        char mod[PHRASE_MAX];
        char kind[2 * PHRASE_MAX];

        split_name(names->items[i], head, mod);
        if (!head[0])
            continue;
        stat_add(stats->heads, &stats->head_count, STATS_MAX, head, i);
        if (!mod[0])
            continue;
        stat_add(stats->mods, &stats->mod_count, STATS_MAX, mod, i);
        snprintf(kind, sizeof(kind), "%s %s", mod, head);
        if (strlen(kind) < PHRASE_MAX)
            stat_add(stats->kinds, &stats->kind_count, STATS_MAX, kind, i);
    }
}

/*
 * Product kinds, types and shared materials as subjects. A kind scores
 * by how many names share its type and its modifier, so that "leather
 * jackets" leads a catalog with three jackets and two leather goods.
 */
static void add_product_subjects(struct prompt_facts *facts,
                                 const struct product_stats *stats)
{
    for (size_t i = 0; i < stats->kind_count; i++) {
        const char *kind = stats->kinds[i].word;
        const char *head = last_word(kind);
        char mod[PHRASE_MAX];

        snprintf(mod, sizeof(mod), "%.*s", (int)(head - kind - 1), kind);
        add_subject(facts, stats, kind, COUNTABLE_YES,
                    20 + 4 * stats->kinds[i].count +
                        3 * stat_count(stats->heads, stats->head_count, head) +
                        3 * stat_count(stats->mods, stats->mod_count, mod));
    }
    for (size_t i = 0; i < stats->head_count; i++)
        add_subject(facts, stats, stats->heads[i].word, COUNTABLE_YES,
                    8 + 4 * stats->heads[i].count);
    for (size_t i = 0; i < stats->mod_count; i++) {
        if (stats->mods[i].count >= 2 &&
            stat_count(stats->heads, stats->head_count, stats->mods[i].word) ==
                0)
            add_subject(facts, stats, stats->mods[i].word, COUNTABLE_NO,
                        10 + 4 * stats->mods[i].count);
    }
}

/*
 * Short items of the lists in a site description ("clothing, jewelry,
 * and goods for the home") as weak subjects.
 */
static void add_description_subjects(struct prompt_facts *facts,
                                     const struct product_stats *stats,
                                     const char *description)
{
    static const char *const joints[] = {
        " and ",     " with ", " for ", " from ", " about ", " of ",
        " selling ", " in ",   " the ", " a ",    " an "};
    char text[1024];
    char *save;

    snprintf(text, sizeof(text), " %s ", description);
    for (char *p = text; *p; p++)
        if (strchr(",.;:!?()", *p))
            *p = '|';
    for (size_t j = 0; j < COUNT_OF(joints); j++) {
        size_t length = strlen(joints[j]);

        for (char *p = text; (p = strstr(p, joints[j]));) {
            memset(p, '|', length - 1);
            p += length - 1;
        }
    }
    for (char *item = strtok_r(text, "|", &save); item;
         item = strtok_r(NULL, "|", &save)) {
        char phrase[PHRASE_MAX];

        normalize(item, strlen(item), phrase, sizeof(phrase));
        if (count_words(phrase) <= 2)
            add_subject(facts, stats, phrase, COUNTABLE_GUESS, 6);
    }
}

/* True when the product's name has word (case-insensitive). */
static int name_has_word(const struct prompt_facts *facts, const char *word)
{
    char name[PHRASE_MAX];

    normalize(facts->product_name, strlen(facts->product_name), name,
              sizeof(name));
    return has_phrase(name, word);
}

/*
 * The short phrase after "with" in the product's description, less an
 * article and the name's own words: "with soft fleece lining" gives
 * "fleece lining" for the Soft Winter Jacket.
 */
static void read_name_detail(struct prompt_facts *facts)
{
    const char *with = strcasestr(facts->product_text, " with ");
    char words[8][PHRASE_MAX];
    size_t count;
    size_t used = 0;
    char text[PHRASE_MAX];

    if (!with)
        return;
    with += strlen(" with ");
    copy_trimmed(text, sizeof(text), with, strcspn(with, ".,;:!?()"));
    if (strstr(text, " and "))
        *strstr(text, " and ") = '\0';
    count = split_words(text, words, 8);
    for (size_t i = 0; i < count && count <= 5; i++) {
        if ((i == 0 &&
             in_list((const char *const[]){"a", "an", "the"}, 3, words[i])) ||
            name_has_word(facts, words[i]))
            continue;
        used += (size_t)snprintf(facts->name_detail + used, PHRASE_MAX - used,
                                 "%s%s", used ? " " : "", words[i]);
        if (used >= PHRASE_MAX)
            break;
    }
    if (count_words(facts->name_detail) > 3 || !good_phrase(facts->name_detail))
        facts->name_detail[0] = '\0';
}

/*
 * The product of a product-copy prompt leads: its kind from the
 * description when the name gives only a look ("cotton shirt" for "Ocean
 * Blue Shirt"), else its kind or type from the name. Also finds the
 * words a new name can add: a word the description puts before the type
 * and a detail after "with".
 */
static void add_product_copy_subjects(struct prompt_facts *facts,
                                      const struct product_stats *stats)
{
    char(*words)[PHRASE_MAX] = calloc(256, PHRASE_MAX);
    char head[PHRASE_MAX];
    char mod[PHRASE_MAX];
    char kind[2 * PHRASE_MAX] = "";
    size_t count;

    split_name(facts->product_name, head, mod);
    if (!head[0] || !words) {
        free(words);
        return;
    }
    count = split_words(facts->product_text, words, 256);
    for (size_t i = 1; i < count && !facts->name_insert[0]; i++) {
        char word[PHRASE_MAX];

        singular_of(words[i], word, sizeof(word));
        if (strcmp(word, head) == 0 && kind_word(words[i - 1]) &&
            !name_has_word(facts, words[i - 1]))
            snprintf(facts->name_insert, PHRASE_MAX, "%s", words[i - 1]);
    }
    free(words);
    read_name_detail(facts);
    facts->name_has_kind = mod[0] != '\0';

    if (!mod[0] && facts->name_insert[0])
        snprintf(mod, sizeof(mod), "%s", facts->name_insert);
    if (mod[0])
        snprintf(kind, sizeof(kind), "%s %s", mod, head);
    if (!kind[0] || add_subject(facts, stats, kind, COUNTABLE_YES, 900) < 0)
        add_subject(facts, stats, head, COUNTABLE_YES, 900);
    add_subject(facts, stats, head, COUNTABLE_YES, 800);
}

/* ------------------------------------------------------------------ */
/* Frequent words, for prompts without labelled facts                  */
/* ------------------------------------------------------------------ */

static int compare_frequent(const void *a, const void *b)
{
    const struct word_stat *x = a;
    const struct word_stat *y = b;

    if (x->count != y->count)
        return y->count - x->count;
    return x->first < y->first ? -1 : 1;
}

/*
 * Reads the next content word at *p (lower case) and moves *p past it.
 * Returns its start, or NULL at the end. *joined is set when it follows
 * the previous content word with only a space between.
 */
static const char *next_content_word(const char **p, char text[PHRASE_MAX],
                                     int *joined)
{
    *joined = 1;
    while (**p) {
        const char *start;
        size_t length;

        while (**p && !is_word_byte((unsigned char)**p)) {
            *joined &= **p == ' ';
            (*p)++;
        }
        start = *p;
        while (**p && is_word_byte((unsigned char)**p))
            (*p)++;
        length = (size_t)(*p - start);
        normalize(start, length, text, PHRASE_MAX);
        if (length >= 3 && length < PHRASE_MAX / 2 && good_phrase(text))
            return start;
        if (length > 0)
            *joined = 0;
    }
    return NULL;
}

/*
 * Adds the prompt's most frequent content words and two-word phrases as
 * weak subjects. A phrase seen twice ranks above its words because it
 * reads better in a title ("ceramic pots").
 */
static void add_frequent_subjects(struct prompt_facts *facts,
                                  const struct product_stats *stats,
                                  const char *prompt)
{
    enum { DISTINCT_MAX = 1024, ADDED_MAX = 8 };
    struct word_stat *counts = calloc(DISTINCT_MAX, sizeof(*counts));
    size_t distinct = 0;
    size_t added = 0;
    const char *p = prompt;
    char previous[PHRASE_MAX] = "";
    char text[PHRASE_MAX];
    const char *start;
    int joined;

    while (counts && (start = next_content_word(&p, text, &joined))) {
        char phrase[2 * PHRASE_MAX];

        stat_add(counts, &distinct, DISTINCT_MAX, text,
                 (size_t)(start - prompt));
        snprintf(phrase, sizeof(phrase), "%s %s", previous, text);
        if (previous[0] && joined && strlen(phrase) < PHRASE_MAX)
            stat_add(counts, &distinct, DISTINCT_MAX, phrase,
                     (size_t)(start - prompt));
        snprintf(previous, sizeof(previous), "%s", text);
    }
    for (size_t i = 0; i < distinct; i++)
        if (strchr(counts[i].word, ' '))
            counts[i].count =
                counts[i].count >= 2 ? 2 * counts[i].count + 1 : 0;
    if (counts)
        qsort(counts, distinct, sizeof(*counts), compare_frequent);
    for (size_t i = 0; i < distinct && added < ADDED_MAX; i++) {
        if (counts[i].count == 0)
            break;
        if (add_subject(facts, stats, counts[i].word, COUNTABLE_GUESS,
                        counts[i].count < 5 ? counts[i].count : 5) >= 0)
            added++;
    }
    free(counts);
}

/* ------------------------------------------------------------------ */
/* Labelled facts                                                      */
/* ------------------------------------------------------------------ */

static void add_phrase(struct phrase_list *list, const char *text,
                       size_t length)
{
    if (list->count == PHRASES_MAX)
        return;
    copy_trimmed(list->items[list->count], PHRASE_MAX, text, length);
    if (list->items[list->count][0])
        list->count++;
}

/* Adds the comma-separated items of text to list. */
static void add_list(struct phrase_list *list, const char *text, size_t length)
{
    while (length > 0) {
        const char *comma = memchr(text, ',', length);
        size_t item = comma ? (size_t)(comma - text) : length;

        add_phrase(list, text, item);
        if (!comma)
            break;
        length -= item + 1;
        text = comma + 1;
    }
}

/*
 * Splits "Label: value" at its colon. A label is up to 64 letters and
 * spaces at the start of the line; a bullet ("- name: at most ...") is
 * an instruction, not a label.
 */
static int split_label(const char *line, size_t length, char label[72],
                       const char **value, size_t *value_length)
{
    size_t i = 0;

    for (; i < length && i < 64 && line[i] != ':'; i++)
        if (!isalpha((unsigned char)line[i]) && !strchr(" '()", line[i]))
            return 0;
    if (i == 0 || i == length || line[i] != ':')
        return 0;
    for (size_t k = 0; k < i; k++)
        label[k] = (char)tolower((unsigned char)line[k]);
    label[i] = '\0';
    *value = line + i + 1;
    *value_length = length - i - 1;
    return 1;
}

static void read_labelled(struct prompt_facts *facts, const char *label,
                          const char *value, size_t length, char *description,
                          size_t description_size)
{
    if (strcmp(label, "site name") == 0) {
        copy_trimmed(facts->site_name, PHRASE_MAX, value, length);
        facts->has_site = 1;
    } else if (strcmp(label, "site description") == 0) {
        copy_trimmed(description, description_size, value, length);
        facts->has_site = 1;
    } else if (strstr(label, "address") || strstr(label, "url") ||
               strcmp(label, "website") == 0) {
        char url[URL_MAX];

        copy_trimmed(url, sizeof(url), value, length);
        if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
            snprintf(facts->site_url, URL_MAX, "%s", url);
    } else if (strstr(label, "products")) {
        add_list(&facts->products, value, length);
    } else if (strcmp(label, "title") == 0) {
        copy_trimmed(facts->title, TITLE_MAX, value, length);
    } else if (strcmp(label, "topic") == 0) {
        copy_trimmed(facts->topic, PHRASE_MAX, value, length);
    } else if (strstr(label, "keywords")) {
        add_list(&facts->keywords, value, length);
    } else if (strcmp(label, "product name") == 0 ||
               strcmp(label, "name") == 0) {
        /* "Product name: Mug. Description: ..." on one line. */
        const char *stop = strstr(value, ". ");

        if (stop && (size_t)(stop - value) < length)
            length = (size_t)(stop - value);
        copy_trimmed(facts->product_name, PHRASE_MAX, value, length);
    }
}

/* Reads each line's label, and the titles listed after "Do not repeat". */
static void read_lines(struct prompt_facts *facts, const char *prompt,
                       char *description, size_t description_size)
{
    int in_avoid = 0;

    for (const char *line = prompt; *line;) {
        size_t length = strcspn(line, "\n");
        const char *value;
        size_t value_length;
        char label[72];

        if (length == 0)
            in_avoid = 0;
        else if (in_avoid && strncmp(line, "- ", 2) == 0)
            add_phrase(&facts->avoid, line + 2, length - 2);
        else if (strncasecmp(line, "do not repeat", 13) == 0 ||
                 (memmem(line, length, "not repeat", 10) &&
                  memmem(line, length, "ideas", 5)))
            in_avoid = 1;
        else if (split_label(line, length, label, &value, &value_length))
            read_labelled(facts, label, value, value_length, description,
                          description_size);
        line += length;
        if (*line == '\n')
            line++;
    }
}

/* Copies HTML as plain text: tags become spaces, entities characters. */
static void html_to_text(const char *html, char *out, size_t size)
{
    static const char *const entities[][2] = {
        {"&amp;", "&"}, {"&lt;", "<"},   {"&gt;", ">"},   {"&quot;", "\""},
        {"&#39;", "'"}, {"&apos;", "'"}, {"&nbsp;", " "},
    };
    size_t used = 0;

    for (const char *p = html; *p && used + 1 < size;) {
        size_t k = 0;

        if (*p == '<') {
            p += strcspn(p, ">");
            p += *p == '>';
            if (used > 0 && out[used - 1] != ' ')
                out[used++] = ' ';
            continue;
        }
        for (; k < COUNT_OF(entities); k++)
            if (strncmp(p, entities[k][0], strlen(entities[k][0])) == 0)
                break;
        if (k < COUNT_OF(entities)) {
            out[used++] = entities[k][1][0];
            p += strlen(entities[k][0]);
        } else if (isspace((unsigned char)*p)) {
            if (used > 0 && out[used - 1] != ' ')
                out[used++] = ' ';
            p++;
        } else {
            out[used++] = *p++;
        }
    }
    while (used > 0 && out[used - 1] == ' ')
        used--;
    out[used] = '\0';
}

/* Reads "Product data (JSON): {...}", the product-copy prompt's data. */
static void read_product_json(struct prompt_facts *facts, const char *prompt)
{
    const char *marker = strstr(prompt, "Product data (JSON):");
    const char *start = marker ? strchr(marker, '{') : NULL;
    json_t *data =
        start ? json_loads(start, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    const char *text;
    size_t index;
    json_t *option;

    if (!data)
        return;
    text = json_string_value(json_object_get(data, "name"));
    snprintf(facts->product_name, PHRASE_MAX, "%s", text ? text : "");
    text = json_string_value(json_object_get(data, "description_html"));
    html_to_text(text ? text : "", facts->product_text, PRODUCT_TEXT_MAX);
    text = json_string_value(
        json_object_get(json_object_get(data, "facts"), "brand"));
    snprintf(facts->product_brand, PHRASE_MAX, "%s", text ? text : "");
    json_array_foreach(
        json_object_get(json_object_get(data, "facts"), "options"), index,
        option)
    {
        char line[PHRASE_MAX * 2];
        size_t k;
        json_t *choice;
        int used =
            snprintf(line, sizeof(line), "%s:",
                     json_string_value(json_object_get(option, "name"))
                         ? json_string_value(json_object_get(option, "name"))
                         : "Options");

        json_array_foreach(json_object_get(option, "choices"), k,
                           choice) if (json_is_string(choice) && used > 0 &&
                                       (size_t)used < sizeof(line)) used +=
            snprintf(line + used, sizeof(line) - (size_t)used, "%s %s",
                     k ? "," : "", json_string_value(choice));
        if (json_array_size(json_object_get(option, "choices")) > 0)
            add_phrase(&facts->product_options, line, strlen(line));
    }
    json_decref(data);
}

/*
 * The noun phrase an owner's topic or keyword is about: "caring for
 * leather" is about leather, "styling linen shirts" about linen shirts,
 * "coffee brewing tips" about coffee brewing.
 */
static void core_phrase(const char *text, char *out, size_t size)
{
    static const char *const joining[] = {"a",   "about", "an", "and",  "for",
                                          "how", "in",    "my", "of",   "on",
                                          "our", "the",   "to", "with", "your"};
    static const char *const generic[] = {"advice", "basics", "guide",
                                          "tips",   "trends", "ways"};
    char words[16][PHRASE_MAX];
    size_t count = split_words(text, words, 16);
    size_t end = count;

    normalize(text, strlen(text), out, size);
    while (end > 0) {
        size_t start = end;
        size_t last = end;

        while (start > 0 &&
               !in_list(joining, COUNT_OF(joining), words[start - 1]))
            start--;
        while (last > start + 1 &&
               in_list(generic, COUNT_OF(generic), words[last - 1]))
            last--;
        while (start + 1 < last && ends_with(words[start], "ing"))
            start++;
        if (start < last) {
            size_t used = 0;

            for (size_t i = start; i < last && used + 1 < size; i++)
                used += (size_t)snprintf(out + used, size - used, "%s%s",
                                         i > start ? " " : "", words[i]);
            if (good_phrase(out))
                return;
        }
        end = start > 0 ? start - 1 : 0;
    }
    normalize(text, strlen(text), out, size);
}

/* ------------------------------------------------------------------ */
/* Ranking                                                             */
/* ------------------------------------------------------------------ */

/*
 * Makes the chosen title's subject lead: the longest known subject in
 * the title, else the idea's first keyword, else the title's longest run
 * of content words.
 */
static void lead_with_title(struct prompt_facts *facts,
                            const struct product_stats *stats)
{
    char title[TITLE_MAX];
    int best = -1;
    size_t best_length = 0;

    normalize(facts->title, strlen(facts->title), title, sizeof(title));
    for (size_t i = 0; i < facts->subject_count; i++) {
        const struct subject *s = &facts->subjects[i];
        size_t length = strlen(s->one);

        if (s->many[0] && has_phrase(title, s->many))
            length = strlen(s->many);
        else if (!has_phrase(title, s->one))
            continue;
        if (length > best_length) {
            best = (int)i;
            best_length = length;
        }
    }
    for (size_t i = 0; best < 0 && i < facts->keywords.count; i++)
        best = add_subject(facts, stats, facts->keywords.items[i],
                           COUNTABLE_GUESS, 0);
    if (best < 0) {
        char run[PHRASE_MAX] = "";
        char *save;

        for (char *word = strtok_r(title, " ", &save); word;
             word = strtok_r(NULL, " ", &save)) {
            if (facts_is_stop_word(word) || strlen(word) < 3)
                continue;
            snprintf(run, sizeof(run), "%s", word);
        }
        best = add_subject(facts, stats, run, COUNTABLE_GUESS, 0);
    }
    if (best >= 0)
        facts->subjects[best].score = 1000;
}

static void sort_subjects(struct prompt_facts *facts)
{
    /* Insertion sort: stable, so equal scores keep the prompt's order. */
    for (size_t i = 1; i < facts->subject_count; i++) {
        struct subject moving = facts->subjects[i];
        size_t k = i;

        for (; k > 0 && facts->subjects[k - 1].score < moving.score; k--)
            facts->subjects[k] = facts->subjects[k - 1];
        facts->subjects[k] = moving;
    }
}

/* True when a and b share a word ("leather jackets", "leather"). */
static int share_word(const struct subject *a, const struct subject *b)
{
    char words[WORDS_IN_SUBJECT_MAX + 1][PHRASE_MAX];
    size_t count = split_words(a->one, words, WORDS_IN_SUBJECT_MAX + 1);

    for (size_t i = 0; i < count; i++)
        if (has_phrase(b->one, words[i]))
            return 1;
    return 0;
}

/* Orders the subjects for a list of ideas: by score, but each first
 * after the ones it shares no word with. */
static void order_subjects(struct prompt_facts *facts)
{
    int taken[SUBJECTS_MAX] = {0};
    size_t count = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < facts->subject_count; i++) {
            int unlike = 1;

            for (size_t k = 0; pass == 0 && k < count; k++)
                unlike &= !share_word(&facts->subjects[i],
                                      &facts->subjects[facts->order[k]]);
            if (taken[i] || !unlike)
                continue;
            taken[i] = 1;
            facts->order[count++] = i;
        }
    }
}

size_t facts_related_products(const struct prompt_facts *facts,
                              const struct subject *subject, size_t *indexes,
                              size_t max)
{
    char words[WORDS_IN_SUBJECT_MAX + 1][PHRASE_MAX];
    size_t word_count = split_words(subject->one, words, COUNT_OF(words));
    size_t count = 0;

    /* Names with every word of the subject first, then with any. */
    for (size_t need = word_count; need > 0 && count < max; need--) {
        for (size_t i = 0; i < facts->products.count && count < max; i++) {
            char name[PHRASE_MAX];
            char head[PHRASE_MAX];
            char mod[PHRASE_MAX];
            size_t found = 0;
            size_t k = 0;

            normalize(facts->products.items[i],
                      strlen(facts->products.items[i]), name, sizeof(name));
            split_name(name, head, mod);
            for (size_t w = 0; w < word_count; w++)
                found +=
                    has_phrase(name, words[w]) || strcmp(head, words[w]) == 0;
            for (; k < count && indexes[k] != i; k++)
                ;
            if (found == need && k == count)
                indexes[count++] = i;
        }
    }
    return count;
}

/* "Description: ..." on a product prompt's own line or after its name. */
static void read_inline_description(struct prompt_facts *facts,
                                    const char *prompt)
{
    const char *p = strcasestr(prompt, "description:");
    char html[PRODUCT_TEXT_MAX];

    if (!p || facts->product_text[0] || !facts->product_name[0])
        return;
    p += strlen("description:");
    copy_trimmed(html, sizeof(html), p, strcspn(p, "\n"));
    html_to_text(html, facts->product_text, PRODUCT_TEXT_MAX);
}

/* Without a "Site address:" line, the first URL of the prompt. */
static void read_any_url(struct prompt_facts *facts, const char *prompt)
{
    const char *url = strstr(prompt, "https://");

    if (facts->site_url[0])
        return;
    url = url ? url : strstr(prompt, "http://");
    if (url)
        copy_trimmed(facts->site_url, URL_MAX, url,
                     strcspn(url, " \n\t\"'<>()[]"));
}

void facts_read(struct prompt_facts *facts, const char *prompt)
{
    struct product_stats *stats = calloc(1, sizeof(*stats));
    char description[1024] = "";
    char phrase[PHRASE_MAX];

    memset(facts, 0, sizeof(*facts));
    prompt = prompt ? prompt : "";
    read_lines(facts, prompt, description, sizeof(description));
    read_product_json(facts, prompt);
    read_inline_description(facts, prompt);
    read_any_url(facts, prompt);
    if (stats) {
        count_products(&facts->products, stats);
        add_product_subjects(facts, stats);
        if (facts->product_name[0])
            add_product_copy_subjects(facts, stats);
    }

    if (facts->topic[0]) {
        core_phrase(facts->topic, phrase, sizeof(phrase));
        add_subject(facts, stats, phrase, COUNTABLE_GUESS, 700);
    }
    for (size_t i = 0; i < facts->keywords.count; i++) {
        core_phrase(facts->keywords.items[i], phrase, sizeof(phrase));
        add_subject(facts, stats, phrase, COUNTABLE_GUESS, 600 - (int)i);
    }
    if (description[0])
        add_description_subjects(facts, stats, description);
    if (facts->subject_count < 3)
        add_frequent_subjects(facts, stats, prompt);
    for (size_t i = 0; facts->subject_count < 2 && i < COUNT_OF(fallback_words);
         i++)
        add_subject(facts, stats, fallback_words[i], COUNTABLE_NO, 0);
    if (facts->title[0])
        lead_with_title(facts, stats);
    free(stats);

    sort_subjects(facts);
    order_subjects(facts);
}
