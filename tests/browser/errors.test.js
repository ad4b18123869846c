// API errors reach the owner in plain words with what to do: a failing
// Wix call (a sandbox fault), too few credits, and a post whose writing
// step fails for good.

import assert from "node:assert/strict";
import { test } from "node:test";
import { dashboardUrl, newSite, openBrowser, sandbox, screenshot } from "./lib/env.js";

const WAIT = { timeout: 90_000 };

test("wix failure shown on products", async () => {
  const site = await newSite({ credits: 10 });
  await sandbox("POST", "/__sandbox/faults", {
    endpoint: "POST /wix/stores/v1/products/query",
    mode: "status",
    status: 500,
    count: 1000,
  });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site, "#products"));
    const notice = page.locator("#panel-products .notice-error").first();
    await notice.waitFor(WAIT);
    const text = await notice.textContent();
    assert.match(text, /A service sitesmith depends on is busy or unavailable\./);
    assert.match(text, /HTTP 500/);
    assert.match(text, /Try again in a minute\./);
    assert.match(text, /mention request [0-9a-f-]{36}/);
    await page.getByText("The products could not be loaded.").waitFor();
    await screenshot(page, "error-wix-failure");

    // Once Wix answers again, "Try again" brings the products.
    await sandbox("DELETE", "/__sandbox/faults");
    await page.locator("#panel-products").getByRole("button", { name: "Try again" }).click();
    await page.locator("#panel-products .product").first().waitFor(WAIT);
    assert.equal(await page.locator("#panel-products .notice-error").count(), 0);
  } finally {
    await sandbox("DELETE", "/__sandbox/faults");
    await browser.close();
  }
});

test("too few credits explained", async () => {
  const site = await newSite({ credits: 0 });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site));
    await page.getByRole("button", { name: "Get ideas" }).click();
    const notice = page.locator("#blog-form-error [role=alert]");
    await notice.waitFor(WAIT);
    const text = await notice.textContent();
    assert.match(text, /You don't have enough credits\./);
    assert.match(text, /This needs 10 credits and you have 0\./);
    await screenshot(page, "error-no-credits");
  } finally {
    await browser.close();
  }
});

test("failed post explained in history", async () => {
  const site = await newSite({ credits: 50 });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site));
    await page.getByRole("button", { name: "Get ideas" }).click();
    await page.locator(".idea").first().waitFor(WAIT);

    // The model rejects every request from now on: the post fails for good.
    await sandbox("POST", "/__sandbox/faults", {
      endpoint: "POST /openai/v1/chat/completions",
      mode: "status",
      status: 400,
      count: 1000,
    });
    await page.getByRole("button", { name: /^Write this post:/ }).first().click();
    await page.getByText("This post could not be finished.").waitFor(WAIT);
    const notice = page.locator("#blog-current .notice-error");
    assert.match(await notice.textContent(), /What went wrong: /);
    assert.match(await notice.textContent(), /No credits were charged/);
    await page.locator(".history-row").first().getByText("Failed").waitFor(WAIT);
    assert.match(await page.locator(".history-error").first().textContent(), /\S/);
    await screenshot(page, "error-post-failed");

    await page.waitForFunction(() => document.querySelector("#balance").textContent === "50", null, WAIT);
  } finally {
    await sandbox("DELETE", "/__sandbox/faults");
    await browser.close();
  }
});
