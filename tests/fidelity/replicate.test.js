// The official replicate npm client against the sandbox's predictions:
// create by model and by version, wait, get, cancel, failures and output
// expiry, with output images whose size follows the input.

import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import Replicate from "replicate";

import {
  advanceClock,
  configure,
  pngInfo,
  redirectFetch,
  reset,
  startSandbox,
} from "./lib/sandbox.js";

const ESRGAN =
  "nightmareai/real-esrgan:f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa";
const REMOVE_BG =
  "lucataco/remove-bg:95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1";

let sandbox;
let replicate;

before(async () => {
  sandbox = await startSandbox();
  redirectFetch(sandbox.baseUrl);
  replicate = new Replicate({
    auth: "r8_fidelity_token",
    baseUrl: `${sandbox.baseUrl}/replicate/v1`,
  });
});

after(async () => {
  await sandbox?.stop();
});

beforeEach(async () => {
  await reset(sandbox.baseUrl);
});

async function download(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url}`);
  return {
    type: response.headers.get("content-type"),
    bytes: new Uint8Array(await response.arrayBuffer()),
  };
}

async function makeImage() {
  const [url] = await replicate.run("black-forest-labs/flux-schnell", {
    input: { prompt: "a ceramic mug", aspect_ratio: "4:3", output_format: "png" },
  });
  return url;
}

test("flux-schnell run returns a list of image URLs", async () => {
  const output = await replicate.run("black-forest-labs/flux-schnell", {
    input: {
      prompt: "a ceramic mug on a wooden table",
      aspect_ratio: "16:9",
      num_outputs: 2,
      output_format: "png",
    },
  });

  assert.ok(Array.isArray(output));
  assert.equal(output.length, 2);
  const image = await download(output[0]);
  assert.equal(image.type, "image/png");
  assert.deepEqual(pngInfo(image.bytes), { width: 1344, height: 768, colorType: 2 });
});

test("create, wait and get a prediction by model", async () => {
  // A long start, so that a busy machine still sees "starting".
  await configure(sandbox.baseUrl, {
    replicate: { starting_ms: 1500, processing_ms: 300 },
  });
  let prediction = await replicate.predictions.create({
    model: "black-forest-labs/flux-schnell",
    input: { prompt: "a lighthouse at dusk", megapixels: "0.25" },
  });
  assert.equal(prediction.status, "starting");
  assert.equal(prediction.version, "hidden");
  assert.ok(prediction.urls.get.endsWith(`/predictions/${prediction.id}`));

  prediction = await replicate.wait(prediction, { interval: 100 });
  assert.equal(prediction.status, "succeeded");
  assert.ok(prediction.metrics.predict_time > 0);

  const fetched = await replicate.predictions.get(prediction.id);
  assert.deepEqual(fetched.output, prediction.output);
  const image = await download(fetched.output[0]);
  assert.equal(image.type, "image/webp");
});

test("real-esrgan by version upscales its input", async () => {
  const source = await makeImage();
  const output = await replicate.run(ESRGAN, {
    input: { image: source, scale: 2 },
  });

  assert.equal(typeof output, "string");
  const image = await download(output);
  assert.deepEqual(pngInfo(image.bytes), { width: 2304, height: 1792, colorType: 2 });
});

test("background remover returns one PNG with alpha", async () => {
  const source = await makeImage();
  const output = await replicate.run(REMOVE_BG, { input: { image: source } });

  assert.equal(typeof output, "string");
  const info = pngInfo((await download(output)).bytes);
  assert.equal(info.width, 1152);
  assert.equal(info.height, 896);
  assert.equal(info.colorType, 6);
});

test("cancel stops a running prediction", async () => {
  await configure(sandbox.baseUrl, { replicate: { processing_ms: 60000 } });
  const created = await replicate.predictions.create({
    model: "black-forest-labs/flux-schnell",
    input: { prompt: "a slow teapot" },
  });

  const canceled = await replicate.predictions.cancel(created.id);
  assert.equal(canceled.status, "canceled");
  assert.equal(canceled.output, null);
  const fetched = await replicate.predictions.get(created.id);
  assert.equal(fetched.status, "canceled");
});

test("failed prediction makes run throw", async () => {
  await assert.rejects(
    replicate.run("black-forest-labs/flux-schnell", {
      input: { prompt: "a mug [sandbox:fail]" },
    }),
    /Prediction failed: .*\(E005\)/,
  );
});

test("input from another host fails the prediction", async () => {
  await assert.rejects(
    replicate.run(ESRGAN, { input: { image: "https://example.com/a.png" } }),
    /Prediction failed: .*only loopback URLs/,
  );
});

test("invalid input is a 422 ApiError", async () => {
  await assert.rejects(
    replicate.predictions.create({
      model: "black-forest-labs/flux-schnell",
      input: { prompt: "a mug", aspect_ratio: "7:5" },
    }),
    (error) => {
      assert.equal(error.response.status, 422);
      assert.match(error.message, /aspect_ratio must be one of/);
      return true;
    },
  );
});

test("outputs expire after an hour", async () => {
  const prediction = await replicate.run("black-forest-labs/flux-schnell", {
    input: { prompt: "a teapot" },
    wait: { mode: "poll", interval: 100 },
  });
  const url = prediction[0];
  assert.equal((await fetch(url)).status, 200);

  const [, id] = /\/files\/([^/]+)\//.exec(url);
  await advanceClock(sandbox.baseUrl, 3601);
  const removed = await replicate.predictions.get(id);
  assert.equal(removed.data_removed, true);
  assert.equal(removed.output, null);
  assert.equal((await fetch(url)).status, 404);
});

test("listing shows the newest prediction first", async () => {
  const first = await replicate.predictions.create({
    model: "black-forest-labs/flux-schnell",
    input: { prompt: "first" },
  });
  const second = await replicate.predictions.create({
    model: "black-forest-labs/flux-schnell",
    input: { prompt: "second" },
  });
  const page = await replicate.predictions.list();

  assert.deepEqual(
    page.results.map((p) => p.id),
    [second.id, first.id],
  );
});
