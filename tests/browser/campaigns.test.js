// The Campaigns tab by clicks: a rejected form, a weekly campaign in
// Berlin time, its calendar of posts, a fixed topic, a skipped post, pause
// and delete. Another site gets 404 for the campaign.

import assert from "node:assert/strict";
import { test } from "node:test";
import { callApi, dashboardUrl, newSite, openBrowser, screenshot } from "./lib/env.js";

const WAIT = { timeout: 30_000 };

test("campaign flow by clicks", async () => {
  const site = await newSite({ credits: 50 });
  const other = await newSite({ credits: 0 });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site, "#campaigns"));
    const panel = page.locator("#panel-campaigns");
    await panel.getByText("No campaigns yet.").waitFor(WAIT);
    assert.equal(await page.getByRole("tab", { name: "Campaigns" }).getAttribute("aria-selected"), "true");

    // A campaign without a name is rejected, and the field is marked invalid.
    await panel.getByRole("button", { name: "Create campaign" }).click();
    await panel.locator(".notice-error").waitFor(WAIT);
    assert.match(await panel.locator(".notice-error").textContent(), /name/);
    assert.equal(await panel.getByLabel("Name").getAttribute("aria-invalid"), "true");

    await panel.getByLabel("Name").fill("Tea Tuesdays");
    await panel.getByLabel("Topic", { exact: true }).fill("Brewing tea at home");
    await panel.getByLabel("Keywords").fill("tea, brewing");
    await panel.getByLabel("Time zone").selectOption("Europe/Berlin");
    await panel.getByRole("checkbox", { name: "Fri" }).check();
    await panel.getByLabel("Publish it on my site").check();
    await panel.getByRole("button", { name: "Create campaign" }).click();

    const row = panel.locator(".campaign-row").first();
    await row.locator(".history-title", { hasText: "Tea Tuesdays" }).waitFor(WAIT);
    assert.match(await row.textContent(), /Every Tuesday and Friday at 09:00 \(Europe\/Berlin\)/);
    assert.match(await row.textContent(), /Next post: .*09:00/);

    // The calendar lists the planned posts by month, at 09:00 local time.
    const posts = page.locator("#campaign-posts .calendar-post");
    await posts.first().waitFor(WAIT);
    assert.ok((await posts.count()) >= 16, `expected 16 or more posts, got ${await posts.count()}`);
    assert.ok((await page.locator("#campaign-posts .calendar-month").count()) >= 2);
    for (const when of await page.locator("#campaign-posts .calendar-when time").allTextContents()) {
      assert.match(when, /09:00$/);
    }
    await screenshot(page, "campaigns-calendar");

    // Fix the first post's topic, then skip the second post.
    const first = posts.first();
    const firstId = await first.getAttribute("data-id");
    await first.getByText("Set a topic for this post").click();
    await first.getByLabel("Topic of this post").fill("Matcha for beginners");
    await first.getByRole("button", { name: "Save topic" }).click();
    await page.locator(`.calendar-post[data-id="${firstId}"] .history-title`).getByText('About "Matcha for beginners"').waitFor(WAIT);

    const secondId = await posts.nth(1).getAttribute("data-id");
    await posts.nth(1).getByRole("button", { name: "Skip" }).click();
    await page.locator(`.calendar-post[data-id="${secondId}"][data-state="cancelled"]`).getByText("Skipped").waitFor(WAIT);

    // Pausing shows on the row; the API agrees.
    await row.getByRole("button", { name: "Pause Tea Tuesdays" }).click();
    await row.getByText("Paused").waitFor(WAIT);
    const { body } = await callApi(site, "GET", "/api/campaigns");
    assert.equal(body.campaigns.length, 1);
    assert.equal(body.campaigns[0].paused, true);
    assert.equal(body.campaigns[0].on_ready, "publish");
    assert.equal(body.campaigns[0].theme.topic, "Brewing tea at home");

    // Another site gets 404 for it.
    const foreign = await callApi(other, "GET", `/api/campaigns/${body.campaigns[0].id}`);
    assert.equal(foreign.status, 404);

    page.once("dialog", (dialog) => dialog.accept());
    await panel.locator(".campaign-row").first().getByRole("button", { name: "Delete Tea Tuesdays" }).click();
    await panel.getByText("No campaigns yet.").waitFor(WAIT);
    // The posts panel hides once the list has re-rendered.
    await page.locator("#campaign-posts").waitFor({ ...WAIT, state: "hidden" });

    assert.deepEqual(browser.strayRequests(), []);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});
