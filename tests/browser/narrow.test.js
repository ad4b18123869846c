// Every tab on a 360 px wide screen: nothing wider than the screen, the
// tabs reachable by keyboard, and a screenshot of each.

import assert from "node:assert/strict";
import { test } from "node:test";
import { dashboardUrl, newSite, openBrowser, screenshot } from "./lib/env.js";

const WAIT = { timeout: 60_000 };

test("narrow screen every tab", async () => {
  const site = await newSite({ credits: 30 });
  const browser = await openBrowser({ width: 360, height: 740 });
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site));
    await page.getByRole("tab", { name: "Blog" }).waitFor();
    await page.locator("#blog-history .muted, #blog-history .history").first().waitFor(WAIT);

    // Keyboard: arrow keys move along the tabs.
    await page.getByRole("tab", { name: "Blog" }).focus();
    await page.keyboard.press("ArrowRight");
    assert.equal(await page.getByRole("tab", { name: "Products" }).getAttribute("aria-selected"), "true");
    await page.keyboard.press("End");
    assert.equal(await page.getByRole("tab", { name: "Credits" }).getAttribute("aria-selected"), "true");
    await page.keyboard.press("Home");
    assert.equal(await page.getByRole("tab", { name: "Blog" }).getAttribute("aria-selected"), "true");

    const ready = {
      blog: "#blog-form",
      products: "#panel-products .product",
      images: "#panel-images .notice, #panel-images .product",
      credits: "#credits-chart svg",
    };
    for (const [tab, selector] of Object.entries(ready)) {
      await page.getByRole("tab", { name: tab[0].toUpperCase() + tab.slice(1) }).click();
      await page.locator(selector).first().waitFor(WAIT);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${tab}: the page is ${overflow} px wider than the screen`);
      await screenshot(page, `narrow-${tab}`);
    }
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});

test("credits tab shows usage", async () => {
  const site = await newSite({ credits: 30 });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    // One post costs 10: the chart shows 10 for today.
    await page.goto(dashboardUrl(site));
    await page.getByRole("button", { name: "Get ideas" }).click();
    await page.getByRole("button", { name: /^Write this post:/ }).first().click(WAIT);
    await page.getByRole("link", { name: /Open the draft in Wix/ }).waitFor(WAIT);

    await page.getByRole("tab", { name: "Credits" }).click();
    const panel = page.locator("#panel-credits");
    await panel.locator("#credits-chart svg").waitFor(WAIT);
    assert.equal(await panel.locator("#credits-balance").textContent(), "20");
    assert.equal(await panel.locator("#credits-plan").textContent(), "Free");
    assert.match(await panel.locator("#credits-costs").textContent(), /Blog post10 credits/);
    assert.equal(await panel.locator(".chart-bar.kind-blog").count(), 1);
    assert.match(await panel.locator("svg desc").textContent(), /^10 credits used in the last 30 days\./);
    await panel.getByText("Show the numbers").click();
    const rows = panel.locator("#credits-chart .data-table tbody tr");
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().textContent(), /10$/);
    await screenshot(page, "credits");
    assert.deepEqual(browser.strayRequests(), []);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});
