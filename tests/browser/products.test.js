// The Products tab: a job in review mode, its before and after, apply,
// then revert, checked against the product as the sandbox stores it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { callApi, dashboardUrl, newSite, openBrowser, sandbox, screenshot } from "./lib/env.js";

const WAIT = { timeout: 60_000 };

async function productOnSite(site, id) {
  const saved = await sandbox("GET", `/__sandbox/sites/${site.instance_id}`);
  const products = Array.isArray(saved.products) ? saved.products : Object.values(saved.products);
  return products.find((product) => product.id === id);
}

test("product job review apply revert", async () => {
  const site = await newSite({ credits: 100 });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site, "#products"));
    const panel = page.locator("#panel-products");
    await panel.locator(".product").first().waitFor(WAIT);
    await screenshot(page, "products-list");

    // Search narrows the list; pick the one product found.
    await panel.getByLabel("Search products").fill("Ocean Blue Shirt");
    await page.waitForFunction(() => {
      const names = Array.from(document.querySelectorAll("#panel-products .product-name"));
      return names.length > 0 && names.every((el) => /ocean blue shirt/i.test(el.textContent));
    }, null, WAIT);
    const label = panel.locator(".product label").first();
    const productName = (await label.locator(".product-name").textContent()).trim();
    await panel.getByRole("checkbox", { name: new RegExp(productName) }).check();
    await panel.getByText("1 selected").waitFor();
    const productId = (await panel.locator(".product input[type=checkbox]").first().getAttribute("id")).replace("products-product-", "");
    const original = await productOnSite(site, productId);
    assert.equal(original.name, productName);

    // Fields: name and description (the defaults), review mode.
    await panel.getByText(/Up to 2 credits/).waitFor();
    await panel.getByRole("button", { name: "Start job" }).click();

    const job = panel.locator("#products-job");
    await job.getByText("Job of 1 product").waitFor(WAIT);
    const item = job.locator(".item").first();
    await item.locator(".badge", { hasText: "Ready for review" }).waitFor(WAIT);
    await page.waitForFunction(
      () => document.querySelector("#products-job [role=progressbar]")?.getAttribute("aria-valuenow") === "100",
      null,
      WAIT,
    );

    // Before and after, field by field, with the changed words marked.
    await item.getByRole("button", { name: "Show changes" }).click();
    const compare = item.locator(".compare");
    await compare.waitFor();
    assert.deepEqual(await compare.locator("dt").allTextContents(), ["Name", "Description"]);
    assert.ok((await compare.locator("ins").count()) > 0, "no added words are marked");
    assert.ok((await compare.locator("del").count()) > 0, "no removed words are marked");
    const before = await compare.locator(".compare-side").nth(0).locator(".compare-text").textContent();
    assert.equal(before, original.name);
    const newName = await compare.locator(".compare-side").nth(1).locator(".compare-text").textContent();
    assert.notEqual(newName, original.name);
    await screenshot(page, "products-review");

    // Apply: the store gets the new name.
    await item.getByRole("button", { name: `Apply: ${productName}` }).click();
    await item.locator(".badge", { hasText: /^Applied$/ }).waitFor(WAIT);
    assert.equal((await productOnSite(site, productId)).name, newName);
    const me = await callApi(site, "GET", "/api/me");
    assert.equal(me.body.credits, 98);
    assert.equal(me.body.reserved, 0);
    await screenshot(page, "products-applied");

    // Revert all applied: the store has exactly the original text again.
    await job.getByRole("button", { name: "Revert all applied (1)" }).click();
    await item.locator(".badge", { hasText: "Reverted" }).waitFor(WAIT);
    const reverted = await productOnSite(site, productId);
    assert.equal(reverted.name, original.name);
    assert.equal(reverted.description, original.description);
    await screenshot(page, "products-reverted");

    // The job is listed among the recent jobs.
    await panel.locator("#products-jobs .history-row").first().getByText("1 product: Name, Description").waitFor(WAIT);

    assert.deepEqual(browser.strayRequests(), []);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});
