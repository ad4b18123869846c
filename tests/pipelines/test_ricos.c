/*
 * Markdown to Ricos. First a table of Markdown inputs and the tree each
 * must give, in a compact shape notation (see shape_of). Then the limits,
 * the image resolver, the exact JSON of each node kind, the validator's
 * rejections and plain-text extraction.
 */
#include "core/buf.h"
#include "pipelines/ricos.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- Shape notation ----
 * A TEXT node is its quoted text, followed by [B,I,S,L(url|TARGET|nf)]
 * when decorated. Any other node is its type (HEADING with its level, a
 * PARAGRAPH with its alignment in <>, an IMAGE with {id WxH "alt"}), then
 * its children in parentheses. Siblings are separated by one space. */

static void shape_node(const json_t *node, struct buf *out);

static void shape_decorations(const json_t *decorations, struct buf *out)
{
    const json_t *decoration;
    size_t i;

    if (json_array_size(decorations) == 0)
        return;
    buf_append_str(out, "[");
    json_array_foreach(decorations, i, decoration)
    {
        const char *type =
            json_string_value(json_object_get(decoration, "type"));
        const json_t *link =
            json_object_get(json_object_get(decoration, "linkData"), "link");

        if (i > 0)
            buf_append_str(out, ",");
        if (strcmp(type, "LINK") != 0) {
            buf_append(out, type, 1);
            continue;
        }
        buf_printf(out, "L(%s|%s%s)",
                   json_string_value(json_object_get(link, "url")),
                   json_string_value(json_object_get(link, "target")),
                   json_is_true(json_object_get(json_object_get(link, "rel"),
                                                "nofollow"))
                       ? "|nf"
                       : "");
    }
    buf_append_str(out, "]");
}

static void shape_children(const json_t *nodes, struct buf *out)
{
    const json_t *child;
    size_t i;

    json_array_foreach(nodes, i, child)
    {
        if (i > 0)
            buf_append_str(out, " ");
        shape_node(child, out);
    }
}

static void shape_node(const json_t *node, struct buf *out)
{
    const char *type = json_string_value(json_object_get(node, "type"));
    const json_t *nodes = json_object_get(node, "nodes");

    if (strcmp(type, "TEXT") == 0) {
        const json_t *data = json_object_get(node, "textData");

        buf_printf(out, "\"%s\"",
                   json_string_value(json_object_get(data, "text")));
        shape_decorations(json_object_get(data, "decorations"), out);
        return;
    }
    buf_append_str(out, type);
    if (strcmp(type, "HEADING") == 0) {
        buf_printf(out, "%d",
                   (int)json_integer_value(json_object_get(
                       json_object_get(node, "headingData"), "level")));
    } else if (strcmp(type, "PARAGRAPH") == 0) {
        const char *align = json_string_value(json_object_get(
            json_object_get(json_object_get(node, "paragraphData"),
                            "textStyle"),
            "textAlignment"));

        if (align)
            buf_printf(out, "<%s>", align);
    } else if (strcmp(type, "IMAGE") == 0) {
        const json_t *data = json_object_get(node, "imageData");
        const json_t *image = json_object_get(data, "image");

        buf_printf(out, "{%s %dx%d \"%s\"}",
                   json_string_value(
                       json_object_get(json_object_get(image, "src"), "id")),
                   (int)json_integer_value(json_object_get(image, "width")),
                   (int)json_integer_value(json_object_get(image, "height")),
                   json_string_value(json_object_get(data, "altText"))
                       ? json_string_value(json_object_get(data, "altText"))
                       : "");
    }
    if (json_array_size(nodes) > 0) {
        buf_append_str(out, "(");
        shape_children(nodes, out);
        buf_append_str(out, ")");
    }
}

/* The document's shape; the caller frees it. */
static char *shape_of(const json_t *doc)
{
    struct buf out;

    buf_init(&out, 16 * 1024 * 1024);
    buf_append_str(&out, "");
    shape_children(json_object_get(doc, "nodes"), &out);
    return buf_detach(&out, NULL);
}

/* ---- Test image resolver ----
 * https://img.test/NAME resolves to media id "media_NAME", 800x600;
 * .../broken fails with ERR_RETRYABLE, .../nosize resolves with no size.
 * Everything else is unresolved. */

struct resolver_log {
    int calls;
    char last_alt[128];
};

static enum ricos_image_status test_resolver(void *ctx, const char *url,
                                             const char *alt,
                                             struct ricos_image *out,
                                             struct error *err)
{
    static const char prefix[] = "https://img.test/";
    struct resolver_log *log = ctx;

    if (log) {
        log->calls++;
        snprintf(log->last_alt, sizeof(log->last_alt), "%s", alt);
    }
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return RICOS_IMAGE_UNRESOLVED;
    url += sizeof(prefix) - 1;
    if (strcmp(url, "broken") == 0) {
        error_set(err, ERR_RETRYABLE, "media import timed out");
        return RICOS_IMAGE_FAILED;
    }
    snprintf(out->media_id, sizeof(out->media_id), "media_%s", url);
    if (strcmp(url, "nosize") != 0) {
        out->width = 800;
        out->height = 600;
    }
    return RICOS_IMAGE_RESOLVED;
}

static const struct ricos_options shift_opts = {.heading_shift = 1};
static const struct ricos_options site_opts = {
    .site_url = "https://my.site/",
    .link_nofollow = 1,
};
static const struct ricos_options image_opts = {
    .resolve_image = test_resolver,
};
static const struct ricos_options drop_opts = {
    .resolve_image = test_resolver,
    .unresolved_images = RICOS_UNRESOLVED_DROP,
};

/* Converts markdown, checks it succeeded and validates; returns the doc. */
static json_t *convert_ok(const char *markdown, size_t len,
                          const struct ricos_options *opts)
{
    struct error err;
    json_t *doc;

    error_clear(&err);
    doc = ricos_from_markdown(markdown, len, opts, &err);
    if (!doc)
        fail_msg("conversion of \"%s\" failed: %s", markdown, err.message);
    if (ricos_validate(doc, &err) != 0)
        fail_msg("document of \"%s\" is invalid: %s", markdown, err.message);
    return doc;
}

static void assert_shape(const char *markdown, size_t len,
                         const struct ricos_options *opts, const char *expected)
{
    json_t *doc = convert_ok(markdown, len, opts);
    char *shape = shape_of(doc);

    if (strcmp(shape, expected) != 0)
        print_error("Markdown: %s\n", markdown);
    assert_string_equal(shape, expected);
    free(shape);
    json_decref(doc);
}

/* ---- The table ---- */

struct shape_case {
    const char *name;
    const char *markdown;
    const struct ricos_options *opts;
    const char *expected;
};

static const struct shape_case shape_cases[] = {
    /* Empty input */
    {"empty", "", NULL, ""},
    {"whitespace only", "  \n\t\n   \n", NULL, ""},
    {"empty html only", "<span></span>", NULL, ""},

    /* Headings */
    {"heading levels", "# One\n## Two\n###### Six", NULL,
     "HEADING1(\"One\") HEADING2(\"Two\") HEADING6(\"Six\")"},
    {"heading shift", "# One\n## Two\n###### Six", &shift_opts,
     "HEADING2(\"One\") HEADING3(\"Two\") HEADING6(\"Six\")"},
    {"setext heading", "Title\n=====\n\nSub\n---", NULL,
     "HEADING1(\"Title\") HEADING2(\"Sub\")"},
    {"emphasis in heading", "## A *b* **c** ***d*** ~~e~~", NULL,
     "HEADING2(\"A \" \"b\"[I] \" \" \"c\"[B] \" \" \"d\"[B,I] \" \" "
     "\"e\"[S])"},
    {"link in heading", "## See [docs](https://d.example/x)", NULL,
     "HEADING2(\"See \" \"docs\"[L(https://d.example/x|BLANK)])"},
    {"hard break in heading is space", "# a<br>b", NULL, "HEADING1(\"a b\")"},
    {"empty heading dropped", "#\n\ntext", NULL, "PARAGRAPH(\"text\")"},

    /* Paragraphs and inline text */
    {"soft break is space", "one\ntwo", NULL, "PARAGRAPH(\"one two\")"},
    {"hard breaks split paragraphs", "one  \ntwo\\\nthree", NULL,
     "PARAGRAPH(\"one\") PARAGRAPH(\"two\") PARAGRAPH(\"three\")"},
    {"bold italic combinations", "***both*** and **b *bi* b** _i_ __b__", NULL,
     "PARAGRAPH(\"both\"[B,I] \" and \" \"b \"[B] \"bi\"[B,I] \" b\"[B] "
     "\" \" \"i\"[I] \" \" \"b\"[B])"},
    {"strikethrough", "~~gone~~ kept ~one~", NULL,
     "PARAGRAPH(\"gone\"[S] \" kept \" \"one\"[S])"},
    {"inline code is plain text", "use `x = 1` or **`y`**", NULL,
     "PARAGRAPH(\"use x = 1 or \" \"y\"[B])"},
    {"backslash escapes", "\\*not em\\* \\# x", NULL,
     "PARAGRAPH(\"*not em* # x\")"},
    {"entities decoded", "&amp; &lt;b&gt; &copy; &#169; &#x1F600; &bogus;",
     NULL, "PARAGRAPH(\"& <b> \xC2\xA9 \xC2\xA9 \xF0\x9F\x98\x80 &bogus;\")"},
    {"nbsp entity kept", "a&nbsp;b", NULL,
     "PARAGRAPH(\"a\xC2\xA0"
     "b\")"},
    {"invalid utf-8 replaced",
     "a\xff\xfe"
     "b \xc3",
     NULL,
     "PARAGRAPH(\"a\xEF\xBF\xBD\xEF\xBF\xBD"
     "b \xEF\xBF\xBD\")"},
    {"overlong utf-8 replaced",
     "x\xc0\xaf"
     "y",
     NULL,
     "PARAGRAPH(\"x\xEF\xBF\xBD"
     "y\")"},

    /* Links */
    {"external link", "[site](https://example.org/a)", NULL,
     "PARAGRAPH(\"site\"[L(https://example.org/a|BLANK)])"},
    {"link title dropped",
     "[t](https://example.org \"Title here\") [u](<https://e.org/b c> 'T')",
     NULL,
     "PARAGRAPH(\"t\"[L(https://example.org|BLANK)] \" \" "
     "\"u\"[L(https://e.org/b%20c|BLANK)])"},
    {"reference link with title",
     "[ref][1]\n\n[1]: https://r.example/x \"Ref title\"", NULL,
     "PARAGRAPH(\"ref\"[L(https://r.example/x|BLANK)])"},
    {"site links and nofollow",
     "[in](https://my.site/about) [out](https://x.org) [rel](/blog/p) "
     "[mail](mailto:a@b.c) [tel](tel:+123)",
     &site_opts,
     "PARAGRAPH(\"in\"[L(https://my.site/about|SELF)] \" \" "
     "\"out\"[L(https://x.org|BLANK|nf)] \" \" "
     "\"rel\"[L(https://my.site/blog/p|SELF)] \" \" "
     "\"mail\"[L(mailto:a@b.c|SELF)] \" \" \"tel\"[L(tel:+123|SELF)])"},
    {"unsafe and relative links keep text",
     "[x](javascript:alert(1)) [y](java&#9;script:z) [z](/rel) [w](#top) "
     "[v](data:text/html,hi) [u](VBScript:x) [t](<javascript :x>)",
     NULL, "PARAGRAPH(\"x y z w v u t\")"},
    {"unsafe url bytes percent-encoded",
     "[a](<https://e.x/a b\"{|}^\\<>) [c](https://e.x/&#9;&#127;)", NULL,
     "PARAGRAPH(\"a\"[L(https://e.x/a%20b%22%7B%7C%7D%5E%3C|BLANK)] \" \" "
     "\"c\"[L(https://e.x/%09%7F|BLANK)])"},
    {"protocol-relative link", "[p](//cdn.example/x)", NULL,
     "PARAGRAPH(\"p\"[L(https://cdn.example/x|BLANK)])"},
    {"autolinks", "see www.example.com and <https://a.b/c>", NULL,
     "PARAGRAPH(\"see \" \"www.example.com\"[L(http://www.example.com|"
     "BLANK)] \" and \" \"https://a.b/c\"[L(https://a.b/c|BLANK)])"},
    {"decorated link text", "**[b](https://e.x)** [*i* j](https://e.y)", NULL,
     "PARAGRAPH(\"b\"[B,L(https://e.x|BLANK)] \" \" "
     "\"i\"[I,L(https://e.y|BLANK)] \" j\"[L(https://e.y|BLANK)])"},
    {"adjacent links stay apart", "[a](https://a.x)[b](https://b.x)", NULL,
     "PARAGRAPH(\"a\"[L(https://a.x|BLANK)] \"b\"[L(https://b.x|BLANK)])"},

    /* Lists */
    {"bulleted list", "- a\n- b", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"a\")) LIST_ITEM(PARAGRAPH(\"b\")))"},
    {"ordered list", "3. a\n4. *b*", NULL,
     "ORDERED_LIST(LIST_ITEM(PARAGRAPH(\"a\")) "
     "LIST_ITEM(PARAGRAPH(\"b\"[I])))"},
    {"nested lists three levels mixed",
     "- one\n  1. two\n     - three\n  2. four\n- five", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"one\") ORDERED_LIST("
     "LIST_ITEM(PARAGRAPH(\"two\") BULLETED_LIST(LIST_ITEM(PARAGRAPH("
     "\"three\")))) LIST_ITEM(PARAGRAPH(\"four\")))) "
     "LIST_ITEM(PARAGRAPH(\"five\")))"},
    {"item starting with a list", "- - a", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH BULLETED_LIST(LIST_ITEM(PARAGRAPH("
     "\"a\")))))"},
    {"empty item", "-\n- b", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH) LIST_ITEM(PARAGRAPH(\"b\")))"},
    {"loose item with two paragraphs", "- a\n\n  b\n- c", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"a\") PARAGRAPH(\"b\")) "
     "LIST_ITEM(PARAGRAPH(\"c\")))"},
    {"heading and code in items", "- # H\n- ```\n  x\n\n  y\n  ```", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"H\"[B])) LIST_ITEM(PARAGRAPH("
     "\"x\") PARAGRAPH PARAGRAPH(\"y\")))"},
    {"quote and rule in item", "- > q\n  ***\n  after", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"q\") PARAGRAPH(\"after\")))"},
    {"task list markers stay text", "- [ ] todo\n- [x] done", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"[ ] todo\")) "
     "LIST_ITEM(PARAGRAPH(\"[x] done\")))"},

    /* Block quotes */
    {"quote with two paragraphs", "> one\n>\n> two", NULL,
     "BLOCKQUOTE(PARAGRAPH(\"one\") PARAGRAPH(\"two\"))"},
    {"quote with lists and nested quote",
     "> - a\n> - b\n>\n> 3. c\n>\n> > inner *em*", NULL,
     "BLOCKQUOTE(PARAGRAPH(\"\xE2\x80\xA2 \" \"a\") "
     "PARAGRAPH(\"\xE2\x80\xA2 \" \"b\") PARAGRAPH(\"3. \" \"c\") "
     "PARAGRAPH(\"inner \" \"em\"[I]))"},
    {"quote with heading and code", "> ## H\n> ```\n> a\n>\n> b\n> ```", NULL,
     "BLOCKQUOTE(PARAGRAPH(\"H\"[B]) PARAGRAPH(\"a\") PARAGRAPH "
     "PARAGRAPH(\"b\"))"},
    {"empty quote dropped", ">\n\ntext", NULL, "PARAGRAPH(\"text\")"},

    /* Code blocks */
    {"fenced code with blank lines", "```js\nlet a;\n\n  b();\n\n```", NULL,
     "CODE_BLOCK(\"let a;\" \"\" \"  b();\" \"\")"},
    {"indented code", "    x\n    y", NULL, "CODE_BLOCK(\"x\" \"y\")"},
    {"code keeps markup as text", "```\n<b>*x*</b> &amp;\n```", NULL,
     "CODE_BLOCK(\"<b>*x*</b> &amp;\")"},
    {"empty code block dropped", "```\n```", NULL, ""},
    {"crlf code lines", "```\r\na\r\nb\r\n```\r\n", NULL,
     "CODE_BLOCK(\"a\" \"b\")"},

    /* Dividers */
    {"thematic breaks", "a\n\n---\n\n***\n\nb", NULL,
     "PARAGRAPH(\"a\") DIVIDER DIVIDER PARAGRAPH(\"b\")"},

    /* Tables */
    {"table with alignment and short row",
     "| Name | Price |\n|:-----|------:|\n| **Tea** | 3 |\n| Cake |", NULL,
     "TABLE(TABLE_ROW(TABLE_CELL(PARAGRAPH<LEFT>(\"Name\"[B])) "
     "TABLE_CELL(PARAGRAPH<RIGHT>(\"Price\"[B]))) "
     "TABLE_ROW(TABLE_CELL(PARAGRAPH<LEFT>(\"Tea\"[B])) "
     "TABLE_CELL(PARAGRAPH<RIGHT>(\"3\"))) "
     "TABLE_ROW(TABLE_CELL(PARAGRAPH<LEFT>(\"Cake\")) "
     "TABLE_CELL(PARAGRAPH<RIGHT>)))"},
    {"table cell with br and link", "| a |\n|:-:|\n| x<br>[y](https://y.x) |",
     NULL,
     "TABLE(TABLE_ROW(TABLE_CELL(PARAGRAPH<CENTER>(\"a\"[B]))) "
     "TABLE_ROW(TABLE_CELL(PARAGRAPH<CENTER>(\"x\") "
     "PARAGRAPH<CENTER>(\"y\"[L(https://y.x|BLANK)]))))"},
    {"table in list item", "- | a | b |\n  |---|---|\n  | 1 | 2 |", NULL,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"a | b\"[B]) "
     "PARAGRAPH(\"1 | 2\")))"},

    /* HTML */
    {"inline html tags stripped",
     "a <b>bold</b> <span class=\"x\">c</span> <!-- note --> d", NULL,
     "PARAGRAPH(\"a bold c d\")"},
    {"inline script dropped", "x <script>alert(1)</script> y", NULL,
     "PARAGRAPH(\"x y\")"},
    {"inline style and iframe dropped",
     "x <style>p{}</style><iframe src=\"e\">fallback</iframe> y", NULL,
     "PARAGRAPH(\"x y\")"},
    {"html block text kept",
     "<div>\n<script>steal()</script>\n<p>Hello &amp; <em>bye</em></p>\n"
     "<p>Second</p>\n</div>\n\nafter",
     NULL,
     "PARAGRAPH(\"Hello & bye\") PARAGRAPH(\"Second\") PARAGRAPH(\"after\")"},
    {"script block dropped", "<script>\nalert('x')\n</script>\n\ntext", NULL,
     "PARAGRAPH(\"text\")"},
    {"style block and comment dropped",
     "<style>\np { color: red }\n</style>\n\n<!--\nhidden\n-->\n\nvisible",
     NULL, "PARAGRAPH(\"visible\")"},
    {"escaped html stays text",
     "<p>&lt;script&gt;x&lt;/script&gt; &eacute;&#233;&#xE9;&bogus;</p>", NULL,
     "PARAGRAPH(\"<script>x</script> \xC3\xA9\xC3\xA9\xC3\xA9&bogus;\")"},
    {"html with quoted angle brackets", "<div title=\"a > b\">in</div>\n\nout",
     NULL, "PARAGRAPH(\"in\") PARAGRAPH(\"out\")"},
    {"html in quote", "> <p>quoted</p>", NULL,
     "BLOCKQUOTE(PARAGRAPH(\"quoted\"))"},

    /* Images */
    {"image resolved", "![Alt text](https://img.test/cat.png)", &image_opts,
     "IMAGE{media_cat.png 800x600 \"Alt text\"}"},
    {"image splits paragraph", "Before ![a *b*](https://img.test/x.png) after",
     &image_opts,
     "PARAGRAPH(\"Before\") IMAGE{media_x.png 800x600 \"a b\"} "
     "PARAGRAPH(\"after\")"},
    {"two images in a row",
     "![](https://img.test/1.png) ![](https://img.test/2.png)", &image_opts,
     "IMAGE{media_1.png 800x600 \"\"} IMAGE{media_2.png 800x600 \"\"}"},
    {"image unresolved as link", "![Alt](https://other.test/p.png)",
     &image_opts, "PARAGRAPH(\"Alt\"[L(https://other.test/p.png|BLANK)])"},
    {"image without resolver as link", "![Alt](https://img.test/p.png)", NULL,
     "PARAGRAPH(\"Alt\"[L(https://img.test/p.png|BLANK)])"},
    {"image without alt as url link", "![](https://other.test/p.png)",
     &image_opts,
     "PARAGRAPH(\"https://other.test/p.png\"[L(https://other.test/p.png|"
     "BLANK)])"},
    {"image unresolved dropped", "a ![Alt](https://other.test/p.png) b",
     &drop_opts, "PARAGRAPH(\"a b\")"},
    {"image in list item not resolved", "- ![A](https://img.test/x.png)",
     &image_opts,
     "BULLETED_LIST(LIST_ITEM(PARAGRAPH(\"A\"[L(https://img.test/x.png|"
     "BLANK)])))"},
    {"image with unsafe url", "![A](javascript:x)", &image_opts,
     "PARAGRAPH(\"A\")"},
    {"relative image not resolved", "![A](/local.png)", &image_opts,
     "PARAGRAPH(\"A\")"},
    {"image inside link", "[![A](https://other.test/p.png)](https://e.x)",
     &image_opts, "PARAGRAPH(\"A\"[L(https://e.x|BLANK)])"},
    {"image in heading", "# T ![i](https://img.test/x.png)", &image_opts,
     "HEADING1(\"T \" \"i\"[L(https://img.test/x.png|BLANK)])"},
};

/* Runs every case and reports each mismatch before failing. */
static void test_shape_cases(void **state)
{
    int failures = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(shape_cases) / sizeof(shape_cases[0]); i++) {
        const struct shape_case *tc = &shape_cases[i];
        json_t *doc = convert_ok(tc->markdown, strlen(tc->markdown), tc->opts);
        char *shape = shape_of(doc);

        if (strcmp(shape, tc->expected) != 0) {
            print_error("case \"%s\"\n  expected: %s\n  got:      %s\n",
                        tc->name, tc->expected, shape);
            failures++;
        }
        free(shape);
        json_decref(doc);
    }
    assert_int_equal(failures, 0);
}

/* ---- Exact JSON of each node kind ---- */

static void assert_json(const char *markdown, const struct ricos_options *opts,
                        const char *expected_json)
{
    json_error_t parse_error;
    json_t *expected = json_loads(expected_json, 0, &parse_error);
    json_t *doc = convert_ok(markdown, strlen(markdown), opts);

    if (!expected)
        fail_msg("bad expected JSON: %s", parse_error.text);
    if (!json_equal(doc, expected)) {
        char *got = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

        print_error("got: %s\n", got);
        free(got);
        fail_msg("JSON of \"%s\" differs", markdown);
    }
    json_decref(expected);
    json_decref(doc);
}

static void test_json_text_nodes(void **state)
{
    (void)state;
    assert_json(
        "## *Hi*\n\n**b** [l](https://x.y)", &site_opts,
        "{\"nodes\":["
        "{\"type\":\"HEADING\",\"id\":\"n1\",\"headingData\":{\"level\":2},"
        "\"nodes\":[{\"type\":\"TEXT\",\"id\":\"n2\",\"nodes\":[],"
        "\"textData\":{\"text\":\"Hi\",\"decorations\":["
        "{\"type\":\"ITALIC\",\"italicData\":true}]}}]},"
        "{\"type\":\"PARAGRAPH\",\"id\":\"n3\",\"paragraphData\":{},"
        "\"nodes\":["
        "{\"type\":\"TEXT\",\"id\":\"n4\",\"nodes\":[],\"textData\":{"
        "\"text\":\"b\",\"decorations\":[{\"type\":\"BOLD\","
        "\"fontWeightValue\":700}]}},"
        "{\"type\":\"TEXT\",\"id\":\"n5\",\"nodes\":[],\"textData\":{"
        "\"text\":\" \",\"decorations\":[]}},"
        "{\"type\":\"TEXT\",\"id\":\"n6\",\"nodes\":[],\"textData\":{"
        "\"text\":\"l\",\"decorations\":[{\"type\":\"LINK\",\"linkData\":{"
        "\"link\":{\"url\":\"https://x.y\",\"target\":\"BLANK\","
        "\"rel\":{\"nofollow\":true}}}}]}}]}]}");
}

static void test_json_block_nodes(void **state)
{
    (void)state;
    assert_json(
        "---\n\n```\nc\n```\n\n> q\n\n1. i\n\n~~s~~", NULL,
        "{\"nodes\":["
        "{\"type\":\"DIVIDER\",\"id\":\"n1\",\"nodes\":[],\"dividerData\":{"
        "\"lineStyle\":\"SINGLE\",\"width\":\"LARGE\","
        "\"alignment\":\"CENTER\"}},"
        "{\"type\":\"CODE_BLOCK\",\"id\":\"n2\",\"codeBlockData\":{"
        "\"textStyle\":{\"textAlignment\":\"AUTO\"}},\"nodes\":["
        "{\"type\":\"TEXT\",\"id\":\"n3\",\"nodes\":[],\"textData\":{"
        "\"text\":\"c\",\"decorations\":[]}}]},"
        "{\"type\":\"BLOCKQUOTE\",\"id\":\"n4\",\"blockquoteData\":{"
        "\"indentation\":0},\"nodes\":["
        "{\"type\":\"PARAGRAPH\",\"id\":\"n5\",\"paragraphData\":{},"
        "\"nodes\":[{\"type\":\"TEXT\",\"id\":\"n6\",\"nodes\":[],"
        "\"textData\":{\"text\":\"q\",\"decorations\":[]}}]}]},"
        "{\"type\":\"ORDERED_LIST\",\"id\":\"n7\",\"orderedListData\":{"
        "\"indentation\":0},\"nodes\":["
        "{\"type\":\"LIST_ITEM\",\"id\":\"n8\",\"nodes\":["
        "{\"type\":\"PARAGRAPH\",\"id\":\"n9\",\"paragraphData\":{},"
        "\"nodes\":[{\"type\":\"TEXT\",\"id\":\"n10\",\"nodes\":[],"
        "\"textData\":{\"text\":\"i\",\"decorations\":[]}}]}]}]},"
        "{\"type\":\"PARAGRAPH\",\"id\":\"n11\",\"paragraphData\":{},"
        "\"nodes\":[{\"type\":\"TEXT\",\"id\":\"n12\",\"nodes\":[],"
        "\"textData\":{\"text\":\"s\",\"decorations\":[{\"type\":"
        "\"STRIKETHROUGH\",\"strikethroughData\":true}]}}]}]}");
}

static void test_json_image_and_table(void **state)
{
    (void)state;
    assert_json(
        "![A cat](https://img.test/cat.png)\n\n| h |\n|---|\n| c |",
        &image_opts,
        "{\"nodes\":["
        "{\"type\":\"IMAGE\",\"id\":\"n1\",\"nodes\":[],\"imageData\":{"
        "\"containerData\":{\"width\":{\"size\":\"CONTENT\"},"
        "\"alignment\":\"CENTER\",\"textWrap\":true},"
        "\"image\":{\"src\":{\"id\":\"media_cat.png\"},\"width\":800,"
        "\"height\":600},\"altText\":\"A cat\"}},"
        "{\"type\":\"TABLE\",\"id\":\"n2\",\"tableData\":{\"dimensions\":{"
        "\"colsWidthRatio\":[1],\"colsMinWidth\":[120],"
        "\"rowsHeight\":[47,47]}},\"nodes\":["
        "{\"type\":\"TABLE_ROW\",\"id\":\"n3\",\"nodes\":["
        "{\"type\":\"TABLE_CELL\",\"id\":\"n4\",\"tableCellData\":{"
        "\"cellStyle\":{\"verticalAlignment\":\"TOP\"}},\"nodes\":["
        "{\"type\":\"PARAGRAPH\",\"id\":\"n5\",\"paragraphData\":{},"
        "\"nodes\":[{\"type\":\"TEXT\",\"id\":\"n6\",\"nodes\":[],"
        "\"textData\":{\"text\":\"h\",\"decorations\":[{\"type\":\"BOLD\","
        "\"fontWeightValue\":700}]}}]}]}]},"
        "{\"type\":\"TABLE_ROW\",\"id\":\"n7\",\"nodes\":["
        "{\"type\":\"TABLE_CELL\",\"id\":\"n8\",\"tableCellData\":{"
        "\"cellStyle\":{\"verticalAlignment\":\"TOP\"}},\"nodes\":["
        "{\"type\":\"PARAGRAPH\",\"id\":\"n9\",\"paragraphData\":{},"
        "\"nodes\":[{\"type\":\"TEXT\",\"id\":\"n10\",\"nodes\":[],"
        "\"textData\":{\"text\":\"c\",\"decorations\":[]}}]}]}]}]}]}");
}

static void test_empty_input_document(void **state)
{
    struct error err;
    json_t *doc;
    char *text;

    (void)state;
    doc = ricos_from_markdown(NULL, 0, NULL, &err);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(text, "{\"nodes\":[]}");
    free(text);
    assert_int_equal(ricos_validate(doc, &err), 0);
    json_decref(doc);

    assert_null(ricos_from_markdown(NULL, 5, NULL, &err));
    assert_int_equal(err.kind, ERR_INVALID);
}

static void test_nul_byte_replaced(void **state)
{
    static const char markdown[] = "a\0b";

    (void)state;
    assert_shape(markdown, sizeof(markdown) - 1, NULL,
                 "PARAGRAPH(\"a\xEF\xBF\xBD"
                 "b\")");
}

/* ---- Limits ---- */

static void test_input_over_limit(void **state)
{
    size_t len = RICOS_DEFAULT_MAX_BYTES + 1;
    char *markdown = malloc(len);
    struct error err;

    (void)state;
    assert_non_null(markdown);
    memset(markdown, 'a', len);
    error_clear(&err);
    assert_null(ricos_from_markdown(markdown, len, NULL, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "400001 bytes"));
    assert_non_null(strstr(err.message, "limit of 400000"));
    free(markdown);
}

static void test_input_at_limit_accepted(void **state)
{
    struct ricos_options opts = {.max_bytes = 256};
    char markdown[257];
    struct error err;
    json_t *doc;

    (void)state;
    /* A dropped HTML comment keeps the document under the limit too. */
    memset(markdown, 'x', sizeof(markdown));
    memcpy(markdown, "a\n\n<!--", 7);
    memcpy(markdown + 256 - 3, "-->", 3);
    doc = convert_ok(markdown, 256, &opts);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 1);
    json_decref(doc);

    error_clear(&err);
    assert_null(ricos_from_markdown(markdown, 257, &opts, &err));
    assert_non_null(strstr(err.message, "257 bytes"));
}

static void test_document_over_limit(void **state)
{
    struct ricos_options opts = {.max_bytes = 2000};
    struct buf markdown;
    struct error err;

    (void)state;
    buf_init(&markdown, 4096);
    for (int i = 0; i < 200; i++)
        buf_append_str(&markdown, "- a\n");
    error_clear(&err);
    assert_null(ricos_from_markdown(markdown.data, markdown.len, &opts, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "rich-content document is"));
    assert_non_null(strstr(err.message, "limit of 2000 bytes"));
    buf_free(&markdown);
}

static void test_long_document_under_limit(void **state)
{
    struct buf markdown;
    json_t *doc;
    char *text;

    (void)state;
    buf_init(&markdown, RICOS_DEFAULT_MAX_BYTES);
    for (int i = 0; i < 400; i++)
        buf_printf(&markdown,
                   "## Part %d\n\nSome *text* with a "
                   "[link](https://e.x/%d).\n\n",
                   i, i);
    doc = convert_ok(markdown.data, markdown.len, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 800);
    text = ricos_plain_text(doc);
    assert_non_null(strstr(text, "Part 399\nSome text with a link.\n"));
    free(text);
    json_decref(doc);
    buf_free(&markdown);
}

/* The size check is exact: a limit of the document's own size passes. */
static void test_limit_equal_to_size_accepted(void **state)
{
    static const char markdown[] =
        "# T\xC3\xA9st \"quoted\"\n\n- a\n  1. *b* [l](https://l.x)\n\n"
        "> q\n\n| h |\n|---|\n| c |\n\n```\nx\n\ny\n```\n\n---\n\n"
        "![i](https://img.test/i.png) tail\\\nend";
    struct ricos_options opts = {.resolve_image = test_resolver};
    json_t *doc = convert_ok(markdown, sizeof(markdown) - 1, &opts);
    size_t size = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    struct error err;

    (void)state;
    json_decref(doc);
    opts.max_bytes = size;
    json_decref(convert_ok(markdown, sizeof(markdown) - 1, &opts));

    opts.max_bytes = size - 1;
    error_clear(&err);
    assert_null(
        ricos_from_markdown(markdown, sizeof(markdown) - 1, &opts, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "over the limit"));
}

/* Blocks that give no nodes (an empty quote) do not count toward it. */
static void test_dropped_blocks_not_counted(void **state)
{
    struct ricos_options opts = {.max_bytes = 1000};
    struct buf markdown;
    json_t *doc;

    (void)state;
    buf_init(&markdown, 4096);
    for (int i = 0; i < 200; i++)
        buf_append_str(&markdown, ">\n\n");
    buf_append_str(&markdown, "text");
    doc = convert_ok(markdown.data, markdown.len, &opts);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 1);
    json_decref(doc);
    buf_free(&markdown);
}

static size_t count_type(const json_t *doc, const char *type)
{
    const json_t *node;
    size_t i;
    size_t count = 0;

    json_array_foreach(json_object_get(doc, "nodes"), i, node)
    {
        const char *node_type =
            json_string_value(json_object_get(node, "type"));

        count += strcmp(node_type, type) == 0;
    }
    return count;
}

/* Past 64 delimiter rows or 128 pipes in a line, tables stay text, since
 * cmark-gfm's table parsing turns quadratic there. */
static void test_table_limits(void **state)
{
    struct buf markdown;
    json_t *doc;

    (void)state;
    buf_init(&markdown, 64 * 1024);
    for (int i = 0; i < 64; i++)
        buf_printf(&markdown, "| t%d |\n|---|\n| c |\n\n", i);
    doc = convert_ok(markdown.data, markdown.len, NULL);
    assert_int_equal(count_type(doc, "TABLE"), 64);
    json_decref(doc);

    buf_append_str(&markdown, "| t64 |\n|---|\n| c |\n");
    doc = convert_ok(markdown.data, markdown.len, NULL);
    assert_int_equal(count_type(doc, "TABLE"), 0);
    assert_int_equal(count_type(doc, "PARAGRAPH"), 65);
    json_decref(doc);

    for (int columns = 127; columns <= 128; columns++) {
        buf_reset(&markdown);
        for (int i = 0; i < columns; i++)
            buf_append_str(&markdown, "| a ");
        buf_append_str(&markdown, "|\n");
        for (int i = 0; i < columns; i++)
            buf_append_str(&markdown, "|---");
        buf_append_str(&markdown, "|\n");
        doc = convert_ok(markdown.data, markdown.len, NULL);
        assert_int_equal(count_type(doc, "TABLE"), columns == 127 ? 1 : 0);
        json_decref(doc);
    }
    buf_free(&markdown);
}

static void test_nesting_limit(void **state)
{
    struct buf markdown;
    struct error err;
    json_t *doc;

    (void)state;
    buf_init(&markdown, 4096);
    for (int i = 0; i < RICOS_MAX_DEPTH; i++)
        buf_append_str(&markdown, "> ");
    buf_append_str(&markdown, "deep");
    doc = convert_ok(markdown.data, markdown.len, NULL);
    json_decref(doc);

    buf_reset(&markdown);
    for (int i = 0; i < RICOS_MAX_DEPTH + 1; i++)
        buf_append_str(&markdown, "> ");
    buf_append_str(&markdown, "too deep");
    error_clear(&err);
    assert_null(ricos_from_markdown(markdown.data, markdown.len, NULL, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "32 levels deep"));
    buf_free(&markdown);
}

static void test_deep_inline_nesting(void **state)
{
    struct buf markdown;
    json_t *doc;
    char *text;

    (void)state;
    buf_init(&markdown, 1024 * 1024);
    for (int i = 0; i < 20000; i++)
        buf_append_str(&markdown, i % 2 ? "_" : "*");
    buf_append_str(&markdown, "x");
    for (int i = 19999; i >= 0; i--)
        buf_append_str(&markdown, i % 2 ? "_" : "*");
    for (int i = 0; i < 20000; i++)
        buf_append_str(&markdown, "[");
    doc = convert_ok(markdown.data, markdown.len, NULL);
    text = ricos_plain_text(doc);
    assert_non_null(strchr(text, 'x'));
    free(text);
    json_decref(doc);
    buf_free(&markdown);
}

/* ---- Image resolver ---- */

static void test_resolver_called_for_top_level_images(void **state)
{
    static const char markdown[] =
        "![one *two*](https://img.test/a.png)\n\n"
        "- ![in list](https://img.test/b.png)\n\n"
        "x <script>![y](https://img.test/d.png)</script>\n\n"
        "![last](https://other.test/e.png)";
    struct resolver_log log = {0};
    struct ricos_options opts = {
        .resolve_image = test_resolver,
        .resolve_image_ctx = &log,
    };
    json_t *doc;

    (void)state;
    doc = convert_ok(markdown, sizeof(markdown) - 1, &opts);
    assert_int_equal(log.calls, 2);
    assert_string_equal(log.last_alt, "last");
    json_decref(doc);
}

static void test_resolver_failure_fails_conversion(void **state)
{
    static const char markdown[] = "text\n\n![x](https://img.test/broken)";
    struct error err;

    (void)state;
    error_clear(&err);
    assert_null(
        ricos_from_markdown(markdown, sizeof(markdown) - 1, &image_opts, &err));
    assert_int_equal(err.kind, ERR_RETRYABLE);
    assert_string_equal(err.message, "image \"https://img.test/broken\": "
                                     "media import timed out");
}

static void test_resolver_without_size_rejected(void **state)
{
    static const char markdown[] = "![x](https://img.test/nosize)";
    struct error err;

    (void)state;
    error_clear(&err);
    assert_null(
        ricos_from_markdown(markdown, sizeof(markdown) - 1, &image_opts, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.message, "positive width and height"));
}

/* ---- Determinism and threads ---- */

static const char sample_post[] =
    "# Brewing tea at home\n\n"
    "Good tea needs **three** things: *fresh* leaves, hot water and "
    "[patience](https://tea.example/patience \"Why wait\").\n\n"
    "## What you need\n\n"
    "1. A kettle\n2. A pot\n   - ceramic\n   - glass\n3. Leaves\n\n"
    "> Tea is liquid wisdom.\n>\n> Anonymous\n\n"
    "| Tea | Minutes |\n|---|--:|\n| Green | 2 |\n| Black | 4 |\n\n"
    "```\nheat(water, 80);\n\nsteep(leaves);\n```\n\n"
    "---\n\nThat's all &mdash; enjoy! <em>Really</em>.\n";

static void test_same_input_same_document(void **state)
{
    json_t *first = convert_ok(sample_post, sizeof(sample_post) - 1, NULL);
    json_t *second = convert_ok(sample_post, sizeof(sample_post) - 1, NULL);

    (void)state;
    assert_true(json_equal(first, second));
    json_decref(first);
    json_decref(second);
}

static void *convert_in_thread(void *arg)
{
    struct error err;
    json_t *doc;
    char *json = NULL;

    (void)arg;
    for (int i = 0; i < 50; i++) {
        free(json);
        doc = ricos_from_markdown(sample_post, sizeof(sample_post) - 1, NULL,
                                  &err);
        json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
    }
    return json;
}

static void test_threads_give_same_document(void **state)
{
    pthread_t threads[4];
    char *results[4];

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, convert_in_thread, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(threads[i], (void **)&results[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_non_null(results[i]);
        assert_string_equal(results[i], results[0]);
    }
    for (int i = 0; i < 4; i++)
        free(results[i]);
}

/* ---- Plain text ---- */

static void test_plain_text(void **state)
{
    json_t *doc = convert_ok(sample_post, sizeof(sample_post) - 1, NULL);
    char *text = ricos_plain_text(doc);

    (void)state;
    assert_string_equal(text, "Brewing tea at home\n"
                              "Good tea needs three things: fresh leaves, hot "
                              "water and patience.\n"
                              "What you need\n"
                              "A kettle\nA pot\nceramic\nglass\nLeaves\n"
                              "Tea is liquid wisdom.\nAnonymous\n"
                              "Tea\nMinutes\nGreen\n2\nBlack\n4\n"
                              "heat(water, 80);\n\nsteep(leaves);\n"
                              "That's all \xE2\x80\x94 enjoy! Really.\n");
    free(text);
    json_decref(doc);
    assert_null(ricos_plain_text(NULL));
}

/* ---- Validator ---- */

struct invalid_case {
    const char *json;
    const char *message; /* expected in err.message */
};

static const struct invalid_case invalid_cases[] = {
    {"[]", "object with a \"nodes\" array"},
    {"{\"nodes\":{}}", "object with a \"nodes\" array"},
    {"{\"nodes\":[{\"type\":\"TEXT\",\"textData\":{\"text\":\"x\"}}]}",
     "nodes[0]: Expected a paragraph node but found TEXT"},
    {"{\"nodes\":[{\"type\":\"BULLETED_LIST\",\"nodes\":[{\"type\":"
     "\"LIST_ITEM\",\"nodes\":[{\"type\":\"TEXT\",\"textData\":{\"text\":"
     "\"x\"}}]}]}]}",
     "nodes[0].nodes[0]: LIST_ITEM must start with a PARAGRAPH"},
    {"{\"nodes\":[{\"type\":\"BLOCKQUOTE\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"x\"}}]}]}",
     "nodes[0].nodes[0]: Expected a paragraph node but found TEXT"},
    {"{\"nodes\":[{\"type\":\"TABLE\",\"nodes\":[{\"type\":\"TABLE_ROW\","
     "\"nodes\":[{\"type\":\"TABLE_CELL\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"x\"}}]}]}]}]}",
     "nodes[0].nodes[0].nodes[0].nodes[0]: Expected a paragraph node but "
     "found TEXT"},
    {"{\"nodes\":[{\"type\":\"TABLE\",\"nodes\":[{\"type\":\"TABLE_CELL\","
     "\"nodes\":[{\"type\":\"PARAGRAPH\"}]}]}]}",
     "TABLE_CELL is not allowed in TABLE"},
    {"{\"nodes\":[{\"type\":\"LIST_ITEM\",\"nodes\":[{\"type\":"
     "\"PARAGRAPH\"}]}]}",
     "LIST_ITEM is not allowed in the document root"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"a\\nb\"}}]}]}",
     "nodes[0].nodes[0]: text contains a line break"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\"}]}]}",
     "TEXT without a textData.text string"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"a\"},\"nodes\":[{\"type\":\"TEXT\"}]}]}]}",
     "TEXT cannot contain nodes"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":"
     "\"PARAGRAPH\"}]}]}",
     "PARAGRAPH is not allowed in PARAGRAPH"},
    {"{\"nodes\":[{\"type\":\"HEADING\",\"headingData\":{\"level\":7}}]}",
     "headingData.level 1 to 6"},
    {"{\"nodes\":[{\"type\":\"HEADING\"}]}", "headingData.level 1 to 6"},
    {"{\"nodes\":[{\"type\":\"IMAGE\",\"imageData\":{\"image\":{\"src\":{"
     "\"id\":\"m\"},\"width\":10}}}]}",
     "positive integer imageData.image.width and height"},
    {"{\"nodes\":[{\"type\":\"IMAGE\",\"imageData\":{\"image\":{"
     "\"width\":10,\"height\":10}}}]}",
     "IMAGE without imageData.image.src id or url"},
    {"{\"nodes\":[{\"type\":\"FOO\"}]}", "unknown node type \"FOO\""},
    {"{\"nodes\":[{\"type\":\"TEXT PARAGRAPH\"}]}",
     "unknown node type \"TEXT PARAGRAPH\""},
    {"{\"nodes\":[{\"type\":{\"type\":\"PARAGRAPH\"}}]}",
     "node without a string \"type\""},
    {"{\"nodes\":[\"PARAGRAPH\"]}", "node without a string \"type\""},
    {"{\"nodes\":[{\"type\":\"BULLETED_LIST\",\"nodes\":[]}]}",
     "BULLETED_LIST has too few child nodes"},
    {"{\"nodes\":[{\"type\":\"CODE_BLOCK\"}]}",
     "CODE_BLOCK has too few child nodes"},
    {"{\"nodes\":[{\"type\":\"DIVIDER\",\"nodes\":[{\"type\":"
     "\"PARAGRAPH\"}]}]}",
     "DIVIDER cannot contain nodes"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":{}}]}",
     "\"nodes\" is not an array"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"id\":\"a\"},{\"type\":"
     "\"DIVIDER\",\"id\":\"a\"}]}",
     "nodes[1]: duplicate id \"a\""},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"id\":7}]}", "id is not a string"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"a\",\"decorations\":[{\"type\":\"LINK\","
     "\"linkData\":{\"link\":{}}}]}}]}]}",
     "LINK decoration without linkData.link.url"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"a\",\"decorations\":[{\"type\":\"LINK\","
     "\"linkData\":{\"link\":{\"url\":\"u\",\"target\":\"_blank\"}}}]}}]}]}",
     "LINK target \"_blank\" is not SELF, BLANK, PARENT or TOP"},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"a\",\"decorations\":[{\"type\":\"CODE\"}]}}"
     "]}]}",
     "unknown decoration type \"CODE\""},
    {"{\"nodes\":[{\"type\":\"PARAGRAPH\",\"nodes\":[{\"type\":\"TEXT\","
     "\"textData\":{\"text\":\"a\",\"decorations\":{}}}]}]}",
     "textData.decorations is not an array"},
};

static void test_validator_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
         i++) {
        const struct invalid_case *tc = &invalid_cases[i];
        json_t *doc = json_loads(tc->json, 0, NULL);
        struct error err;

        assert_non_null(doc);
        error_clear(&err);
        if (ricos_validate(doc, &err) != -1)
            fail_msg("accepted %s", tc->json);
        assert_int_equal(err.kind, ERR_INVALID);
        if (!strstr(err.message, tc->message))
            fail_msg("message \"%s\" for %s lacks \"%s\"", err.message,
                     tc->json, tc->message);
        json_decref(doc);
    }
}

static void test_validator_accepts_wix_sketch(void **state)
{
    /* The example document from Wix's rich-content documentation, with
     * a node id of "" as Wix's own example sends. */
    static const char sketch[] =
        "{\"nodes\":[{\"type\":\"HEADING\",\"id\":\"h1\",\"headingData\":"
        "{\"level\":2},\"nodes\":[{\"type\":\"TEXT\",\"id\":\"t1\","
        "\"textData\":{\"text\":\"Title\",\"decorations\":[]}}]},"
        "{\"type\":\"PARAGRAPH\",\"id\":\"\",\"paragraphData\":{},"
        "\"nodes\":[{\"type\":\"TEXT\",\"textData\":{\"text\":\"Bold\","
        "\"decorations\":[{\"type\":\"BOLD\",\"fontWeightValue\":700}]}}]},"
        "{\"type\":\"PARAGRAPH\",\"id\":\"\"},"
        "{\"type\":\"IMAGE\",\"imageData\":{\"image\":{\"src\":{\"url\":"
        "\"https://static.wixstatic.com/media/a.png\"},\"width\":1,"
        "\"height\":1}},\"nodes\":[{\"type\":\"CAPTION\",\"nodes\":[{"
        "\"type\":\"TEXT\",\"textData\":{\"text\":\"c\"}}]}]}]}";
    json_t *doc = json_loads(sketch, 0, NULL);
    struct error err;

    (void)state;
    assert_non_null(doc);
    error_clear(&err);
    if (ricos_validate(doc, &err) != 0)
        fail_msg("rejected: %s", err.message);
    json_decref(doc);
}

static void test_validator_depth_limit(void **state)
{
    json_t *doc = json_object();
    json_t *nodes = json_array();
    struct error err;

    (void)state;
    json_object_set_new(doc, "nodes", nodes);
    for (int i = 0; i < 200; i++) {
        json_t *list = json_pack("{s:s, s:[{s:s, s:[{s:s}]}]}", "type",
                                 "BULLETED_LIST", "nodes", "type", "LIST_ITEM",
                                 "nodes", "type", "PARAGRAPH");

        json_array_append_new(nodes, list);
        nodes = json_object_get(
            json_array_get(json_object_get(list, "nodes"), 0), "nodes");
    }
    error_clear(&err);
    assert_int_equal(ricos_validate(doc, &err), -1);
    assert_non_null(strstr(err.message, "nest more than 128 levels"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_cases),
        cmocka_unit_test(test_json_text_nodes),
        cmocka_unit_test(test_json_block_nodes),
        cmocka_unit_test(test_json_image_and_table),
        cmocka_unit_test(test_empty_input_document),
        cmocka_unit_test(test_nul_byte_replaced),
        cmocka_unit_test(test_input_over_limit),
        cmocka_unit_test(test_input_at_limit_accepted),
        cmocka_unit_test(test_document_over_limit),
        cmocka_unit_test(test_long_document_under_limit),
        cmocka_unit_test(test_limit_equal_to_size_accepted),
        cmocka_unit_test(test_dropped_blocks_not_counted),
        cmocka_unit_test(test_table_limits),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_deep_inline_nesting),
        cmocka_unit_test(test_resolver_called_for_top_level_images),
        cmocka_unit_test(test_resolver_failure_fails_conversion),
        cmocka_unit_test(test_resolver_without_size_rejected),
        cmocka_unit_test(test_same_input_same_document),
        cmocka_unit_test(test_threads_give_same_document),
        cmocka_unit_test(test_plain_text),
        cmocka_unit_test(test_validator_rejects),
        cmocka_unit_test(test_validator_accepts_wix_sketch),
        cmocka_unit_test(test_validator_depth_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
