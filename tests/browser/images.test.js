// The Images tab: an image job with review, apply and restore, checked
// against the product's media as the sandbox stores it. On a server
// without /api/image-jobs the tab must say that the tool is not available.

import assert from "node:assert/strict";
import { test } from "node:test";
import { callApi, dashboardUrl, newSite, openBrowser, sandbox, screenshot } from "./lib/env.js";

const WAIT = { timeout: 90_000 };

async function productOnSite(site, id) {
  const saved = await sandbox("GET", `/__sandbox/sites/${site.instance_id}`);
  const products = Array.isArray(saved.products) ? saved.products : Object.values(saved.products);
  return products.find((product) => product.id === id);
}

// The product's media, as comparable text.
function mediaOf(product) {
  return JSON.stringify(product.media);
}

test("image job apply restore", async (t) => {
  const site = await newSite({ credits: 100 });
  const probe = await callApi(site, "GET", "/api/image-jobs?limit=1");
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site, "#images"));
    const panel = page.locator("#panel-images");
    if (probe.status === 404) {
      await panel.getByText("The Image Optimizer isn't available yet.").waitFor(WAIT);
      assert.equal(await panel.locator("#images-available").isHidden(), true);
      await screenshot(page, "images-unavailable");
      assert.deepEqual(browser.problems, []);
      t.skip("serve has no /api/image-jobs yet: checked the page's not-available notice only");
      return;
    }
    assert.equal(probe.status, 200, `GET /api/image-jobs: ${probe.status} ${JSON.stringify(probe.body)}`);

    await panel.locator(".product").first().waitFor(WAIT);
    await panel.getByLabel("Search products").fill("Ocean Blue Shirt");
    await page.waitForFunction(() => {
      const names = Array.from(document.querySelectorAll("#panel-images .product-name"));
      return names.length > 0 && names.every((el) => /ocean blue shirt/i.test(el.textContent));
    }, null, WAIT);
    const checkbox = panel.locator(".product input[type=checkbox]").first();
    const productId = (await checkbox.getAttribute("id")).replace("images-product-", "");
    await checkbox.check();
    const before = mediaOf(await productOnSite(site, productId));

    await panel.getByLabel("Compress only").check();
    await panel.getByRole("button", { name: "Start job" }).click();
    const job = panel.locator("#images-job");
    const item = job.locator(".item").first();
    await item.locator(".badge", { hasText: "Ready for review" }).waitFor(WAIT);
    await item.getByRole("button", { name: "Show changes" }).click();
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll("#images-job .compare-image")).filter((img) => img.naturalWidth > 0).length === 2,
      null,
      WAIT,
    );
    assert.match(await item.locator("figcaption").first().textContent(), /KB|MB| B/);
    await screenshot(page, "images-review");

    await item.getByRole("button", { name: /^Apply:/ }).click();
    await item.locator(".badge", { hasText: /^Applied$/ }).waitFor(WAIT);
    assert.notEqual(mediaOf(await productOnSite(site, productId)), before);
    await screenshot(page, "images-applied");

    await item.getByRole("button", { name: /^Restore original:/ }).click();
    await item.locator(".badge", { hasText: "Restored" }).waitFor(WAIT);
    assert.equal(mediaOf(await productOnSite(site, productId)), before);
    await screenshot(page, "images-restored");

    assert.deepEqual(browser.strayRequests(), []);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});
