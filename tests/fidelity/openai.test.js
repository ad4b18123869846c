// The official openai npm client against the sandbox's chat completions:
// the Structured Outputs calls sitesmith makes, and the errors it must
// tell apart.

import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import OpenAI from "openai";

import {
  advanceClock,
  configure,
  redirectFetch,
  reset,
  startSandbox,
} from "./lib/sandbox.js";

const KEY = "sk-fidelity-0123456789abcdef";

const productSchema = {
  type: "json_schema",
  json_schema: {
    name: "product_copy",
    strict: true,
    schema: {
      type: "object",
      additionalProperties: false,
      required: ["name", "description_html", "seo_title", "seo_description"],
      properties: {
        name: { type: "string", maxLength: 80 },
        description_html: { type: "string" },
        seo_title: { type: "string", maxLength: 60 },
        seo_description: { type: ["string", "null"], maxLength: 155 },
      },
    },
  },
};

const blogSchema = {
  type: "json_schema",
  json_schema: {
    name: "blog_post",
    strict: true,
    schema: {
      type: "object",
      additionalProperties: false,
      required: ["title", "excerpt", "body_markdown", "hashtags", "image_prompt"],
      properties: {
        title: { type: "string" },
        excerpt: { type: "string", maxLength: 140 },
        body_markdown: { type: "string" },
        hashtags: {
          type: "array",
          items: { type: "string" },
          minItems: 3,
          maxItems: 5,
        },
        image_prompt: { type: "string" },
      },
    },
  },
};

function productRequest(extra = {}) {
  return {
    model: "gpt-4o-mini",
    messages: [
      { role: "developer", content: "You rewrite product copy for a store." },
      {
        role: "user",
        content:
          "Product name: Handmade Ceramic Mug. Description: <p>A handmade " +
          "ceramic mug glazed in ocean blue. Each ceramic mug holds 350 ml." +
          "</p>",
      },
    ],
    response_format: productSchema,
    max_completion_tokens: 2000,
    ...extra,
  };
}

let sandbox;
let client;

before(async () => {
  sandbox = await startSandbox();
  redirectFetch(sandbox.baseUrl);
  client = new OpenAI({
    apiKey: KEY,
    baseURL: `${sandbox.baseUrl}/openai/v1`,
    maxRetries: 0,
  });
});

after(async () => {
  await sandbox?.stop();
});

beforeEach(async () => {
  await reset(sandbox.baseUrl);
});

test("structured output parses into the schema", async () => {
  const completion = await client.chat.completions.parse(productRequest());
  const message = completion.choices[0].message;

  assert.equal(completion.object, "chat.completion");
  assert.match(completion.id, /^chatcmpl-/);
  assert.equal(completion.model, "gpt-4o-mini-2024-07-18");
  assert.equal(completion.choices[0].finish_reason, "stop");
  assert.equal(message.refusal, null);
  assert.ok(message.parsed.name.length > 0);
  assert.ok(message.parsed.name.length <= 80);
  assert.match(message.parsed.description_html, /^<p>.*<\/p>$/s);
  assert.ok(message.parsed.seo_title.length <= 60);
  assert.ok(completion.usage.prompt_tokens > 0);
  assert.equal(
    completion.usage.total_tokens,
    completion.usage.prompt_tokens + completion.usage.completion_tokens,
  );
});

test("blog post has Markdown headings and hashtags", async () => {
  const completion = await client.chat.completions.parse({
    model: "gpt-4o",
    messages: [
      { role: "system", content: "You write blog posts for small shops." },
      {
        role: "user",
        content:
          "Write a post about caring for succulents in winter. Succulents " +
          "need less water in winter, and ceramic pots need drainage.",
      },
    ],
    response_format: blogSchema,
  });
  const post = completion.choices[0].message.parsed;

  assert.match(post.body_markdown, /^## /m);
  assert.match(post.body_markdown, /\*\*[^*]+\*\*/);
  assert.match(post.body_markdown, /\[[^\]]+\]\(https:\/\/[^)]+\)/);
  assert.ok(post.excerpt.length <= 140);
  assert.ok(post.hashtags.length >= 3 && post.hashtags.length <= 5);
  for (const tag of post.hashtags) {
    assert.match(tag, /^#\S+$/);
  }
  assert.match(post.title + post.body_markdown, /succulent|winter|ceramic/i);
});

test("same request gets the same content", async () => {
  const first = await client.chat.completions.create(productRequest());
  const second = await client.chat.completions.create(productRequest());

  assert.equal(
    first.choices[0].message.content,
    second.choices[0].message.content,
  );
  assert.notEqual(first.id, second.id);
});

test("request id and rate-limit headers", async () => {
  const { data, response, request_id } = await client.chat.completions
    .create(productRequest())
    .withResponse();

  assert.equal(data.object, "chat.completion");
  assert.match(request_id, /^req_[0-9a-f]{32}$/);
  assert.ok(Number(response.headers.get("x-ratelimit-limit-requests")) > 0);
  assert.ok(response.headers.get("x-ratelimit-reset-tokens"));
});

test("wrong key is an AuthenticationError", async () => {
  await configure(sandbox.baseUrl, { openai: { api_key: KEY } });
  const stranger = new OpenAI({
    apiKey: "sk-wrong-0123456789abcdef",
    baseURL: `${sandbox.baseUrl}/openai/v1`,
    maxRetries: 0,
  });

  await assert.rejects(stranger.chat.completions.create(productRequest()), (error) => {
    assert.ok(error instanceof OpenAI.AuthenticationError);
    assert.equal(error.status, 401);
    assert.equal(error.code, "invalid_api_key");
    assert.doesNotMatch(error.message, /0123456789abcdef/);
    return true;
  });
  await client.chat.completions.create(productRequest());
});

test("requests per minute give RateLimitError", async () => {
  await configure(sandbox.baseUrl, { openai: { rpm: 2 } });
  await client.chat.completions.create(productRequest());
  await client.chat.completions.create(productRequest());

  await assert.rejects(client.chat.completions.create(productRequest()), (error) => {
    assert.ok(error instanceof OpenAI.RateLimitError);
    assert.equal(error.code, "rate_limit_exceeded");
    assert.equal(error.type, "requests");
    assert.ok(Number(error.headers.get("retry-after")) >= 1);
    return true;
  });

  // A new sandbox minute empties the window.
  await advanceClock(sandbox.baseUrl, 60);
  await client.chat.completions.create(productRequest());
});

test("quota error is not a rate limit", async () => {
  await configure(sandbox.baseUrl, { openai: { mode: "insufficient_quota" } });

  await assert.rejects(client.chat.completions.create(productRequest()), (error) => {
    assert.ok(error instanceof OpenAI.RateLimitError);
    assert.equal(error.code, "insufficient_quota");
    assert.equal(error.type, "insufficient_quota");
    assert.equal(error.headers.get("retry-after"), null);
    return true;
  });
});

test("small token cap raises LengthFinishReasonError", async () => {
  await assert.rejects(
    client.chat.completions.parse(productRequest({ max_completion_tokens: 8 })),
    OpenAI.LengthFinishReasonError,
  );
  const raw = await client.chat.completions.create(
    productRequest({ max_completion_tokens: 8 }),
  );
  assert.equal(raw.choices[0].finish_reason, "length");
  assert.equal(raw.usage.completion_tokens, 8);
  assert.throws(() => JSON.parse(raw.choices[0].message.content));
});

test("refusal sets message.refusal", async () => {
  const request = productRequest();
  request.messages[1].content += " [sandbox:refusal]";
  const completion = await client.chat.completions.parse(request);
  const message = completion.choices[0].message;

  assert.equal(message.content, null);
  assert.equal(message.parsed, null);
  assert.match(message.refusal, /can't help/);
});

test("content filter raises ContentFilterFinishReasonError", async () => {
  await configure(sandbox.baseUrl, { openai: { mode: "content_filter" } });

  await assert.rejects(
    client.chat.completions.parse(productRequest()),
    OpenAI.ContentFilterFinishReasonError,
  );
});

test("non-strict schema is rejected in strict mode", async () => {
  const request = productRequest();
  request.response_format = structuredClone(productSchema);
  request.response_format.json_schema.schema.required = ["name"];

  await assert.rejects(client.chat.completions.create(request), (error) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.param, "response_format");
    assert.match(error.message, /Missing 'description_html'/);
    return true;
  });
});

test("streamed completion reassembles the content", async () => {
  const stream = await client.chat.completions.create({
    ...productRequest(),
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = "";
  let usage = null;
  for await (const chunk of stream) {
    content += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  const whole = await client.chat.completions.create(productRequest());

  assert.equal(content, whole.choices[0].message.content);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});
