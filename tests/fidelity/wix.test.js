// The official @wix/sdk client with the blog, stores, media and app
// instance modules against the sandbox's Wix emulation: the calls
// sitesmith makes, and the failure a cached client meets once its token
// has expired.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { AppStrategy, createClient } from "@wix/sdk";
import * as appInstances from "@wix/auto_sdk_app-management_app-instances";
import * as draftPosts from "@wix/auto_sdk_blog_draft-posts";
import * as files from "@wix/auto_sdk_media_files";
import * as products from "@wix/auto_sdk_stores_products";

import {
  APP_ID,
  APP_SECRET,
  advanceClock,
  call,
  redirectFetch,
  startSandbox,
} from "./lib/sandbox.js";

let sandbox;
let seen;
let site;

function wixClient(instanceId, appSecret = APP_SECRET) {
  return createClient({
    auth: AppStrategy({ appId: APP_ID, appSecret, instanceId }),
    modules: { appInstances, draftPosts, files, products },
  });
}

before(async () => {
  sandbox = await startSandbox();
  seen = redirectFetch(sandbox.baseUrl);
  const created = await call(sandbox.baseUrl, "POST", "/__sandbox/sites", {
    fixture: "store",
    catalog_version: 1,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  site = created.body;
});

after(async () => {
  await sandbox?.stop();
});

// An image URL on the sandbox, made by its Replicate emulation.
async function sandboxImageUrl() {
  const { status, body } = await call(
    sandbox.baseUrl,
    "POST",
    "/replicate/v1/models/black-forest-labs/flux-schnell/predictions",
    { input: { prompt: "a cover image", output_format: "png" } },
    { authorization: "Bearer r8_fidelity", prefer: "wait" },
  );
  assert.equal(status, 201, JSON.stringify(body));
  return body.output[0];
}

test("app instance names the site", async () => {
  const client = wixClient(site.instance_id);
  const result = await client.appInstances.getAppInstance();

  assert.equal(result.instance.instanceId, site.instance_id);
  assert.ok(seen.includes("https://www.wixapis.com/oauth2/token"));
});

test("products query and update", async () => {
  const client = wixClient(site.instance_id);
  const page = await client.products.queryProducts().limit(5).find();
  assert.equal(page.items.length, 5);

  const product = page.items[0];
  const updated = await client.products.updateProduct(product._id, {
    name: "Renamed by the fidelity test",
    description: "<p>A new description.</p>",
  });
  assert.equal(updated.product.name, "Renamed by the fidelity test");

  const fetched = await client.products.getProduct(product._id);
  assert.equal(fetched.product.name, "Renamed by the fidelity test");
  assert.equal(fetched.product.description, "<p>A new description.</p>");
});

test("media import from a sandbox URL becomes ready", async () => {
  const client = wixClient(site.instance_id);
  const url = await sandboxImageUrl();
  const imported = await client.files.importFile(url, {
    mediaType: "IMAGE",
    displayName: "cover.png",
  });
  assert.ok(imported.file._id);

  let file = imported.file;
  for (let i = 0; i < 50 && file.operationStatus !== "READY"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    file = await client.files.getFileDescriptor(imported.file._id);
  }
  assert.equal(file.operationStatus, "READY");
});

test("draft post is created and read back", async () => {
  const client = wixClient(site.instance_id);
  const memberId = site.members[0].id;
  const created = await client.draftPosts.createDraftPost({
    title: "Caring for succulents in winter",
    memberId,
    richContent: {
      nodes: [
        {
          type: "PARAGRAPH",
          id: "p1",
          nodes: [
            {
              type: "TEXT",
              id: "t1",
              nodes: [],
              textData: { text: "Water less in winter.", decorations: [] },
            },
          ],
        },
      ],
    },
  });
  const id = created.draftPost._id;
  assert.ok(id);

  const fetched = await client.draftPosts.getDraftPost(id);
  assert.equal(fetched.draftPost.title, "Caring for succulents in winter");
  assert.equal(fetched.draftPost.memberId, memberId);
});

test("cached client fails once its token expired", async () => {
  const client = wixClient(site.instance_id);
  await client.appInstances.getAppInstance();

  // The SDK keeps the token until expires_in by this process's clock,
  // which the sandbox clock has now passed.
  await advanceClock(sandbox.baseUrl, 4 * 3600 + 60);
  await assert.rejects(client.appInstances.getAppInstance(), (error) => {
    assert.equal(error.status, 401);
    assert.equal(error.details.applicationError.code, "UNAUTHENTICATED");
    return true;
  });

  // A client built for this unit of work gets a new token and succeeds.
  const fresh = wixClient(site.instance_id);
  const result = await fresh.appInstances.getAppInstance();
  assert.equal(result.instance.instanceId, site.instance_id);
});

test("wrong app secret fails the token call", async () => {
  const client = wixClient(site.instance_id, "not-the-secret");

  // @wix/sdk 1.21.16 wraps the token failure in a "System error" and
  // overwrites its message, so the sandbox's request log shows the cause.
  await assert.rejects(
    client.appInstances.getAppInstance(),
    /System error occurred/,
  );
  const { body } = await call(sandbox.baseUrl, "GET", "/__sandbox/requests");
  const last = body.requests.findLastIndex(
    (entry) => entry.method === "POST" && entry.path === "/wix/oauth2/token",
  );
  assert.ok(last >= 0);
  assert.ok(body.requests[last].status >= 400);
  assert.ok(body.requests[last].status < 500);

  // Without a token the SDK sent no API call.
  const later = body.requests.slice(last + 1);
  assert.ok(!later.some((entry) => entry.path === "/wix/apps/v1/instance"));
});
