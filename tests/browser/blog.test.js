// The Blog tab by clicks: ideas, new ideas, a pick, the steps, the saved
// draft and the history; and the same with polling instead of the stream.

import assert from "node:assert/strict";
import { test } from "node:test";
import { callApi, dashboardUrl, newSite, openBrowser, sandbox, screenshot } from "./lib/env.js";

const WAIT = { timeout: 60_000 };

test("blog flow by clicks", async () => {
  const site = await newSite({ credits: 50 });
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site));
    await page.getByRole("tab", { name: "Blog" }).waitFor();
    await assert.doesNotReject(page.getByText("Live").waitFor({ timeout: 10_000 }));
    assert.equal(await page.locator("#balance").textContent(), "50");

    const panel = page.locator("#panel-blog");
    await panel.getByLabel("Topic").fill("Caring for leather goods");
    await panel.getByLabel("Keywords").fill("leather, care");
    await panel.getByLabel("Tone").selectOption("professional");
    await page.getByRole("button", { name: "Get ideas" }).click();

    const ideas = page.locator(".idea");
    await ideas.first().waitFor(WAIT);
    const firstIdeas = await page.locator(".idea-title").allTextContents();
    assert.ok(firstIdeas.length >= 3, `expected at least 3 ideas, got ${firstIdeas.length}`);
    await assert.doesNotReject(page.getByText("Ideas are ready. Pick the one to write.").waitFor());
    await screenshot(page, "blog-ideas");

    await page.getByRole("button", { name: "New ideas" }).click();
    await page.waitForFunction(
      (before) => {
        const titles = Array.from(document.querySelectorAll(".idea-title")).map((el) => el.textContent);
        return titles.length > 0 && titles.join("|") !== before;
      },
      firstIdeas.join("|"),
      WAIT,
    );

    const chosen = await page.locator(".idea-title").first().textContent();
    await page.getByRole("button", { name: `Write this post: ${chosen}` }).click();
    const progress = page.locator("#blog-current [role=progressbar]");
    await page.waitForFunction(() => {
      const bar = document.querySelector("#blog-current [role=progressbar]");
      return bar && Number(bar.getAttribute("aria-valuenow")) > 25;
    }, null, WAIT);

    const open = page.getByRole("link", { name: /Open the draft in Wix/ });
    await open.waitFor(WAIT);
    assert.equal(await progress.getAttribute("aria-valuenow"), "100");
    assert.match(await open.getAttribute("href"), /^https:\/\//);
    assert.equal(await open.getAttribute("target"), "_blank");
    assert.match(await page.locator(".draft-title").textContent(), /\S/);
    assert.match(await page.locator(".draft-excerpt").textContent(), /\S/);
    const cover = page.locator(".draft-cover");
    await page.waitForFunction(() => document.querySelector(".draft-cover")?.naturalWidth > 0, null, WAIT);
    assert.match(await cover.getAttribute("src"), /\/wixstatic\/media\//);
    await assert.doesNotReject(page.getByText("The draft is saved in your blog.").waitFor());

    // The history shows the post, and the balance went down by its cost.
    const row = page.locator(".history-row").first();
    await row.getByText("Draft saved").waitFor(WAIT);
    const title = await page.locator(".draft-title").textContent();
    assert.equal(await row.locator(".history-title").textContent(), title);
    await page.waitForFunction(() => document.querySelector("#balance").textContent === "40", null, WAIT);
    await screenshot(page, "blog-done");

    // The draft exists on the site with that title.
    const saved = await sandbox("GET", `/__sandbox/sites/${site.instance_id}`);
    const drafts = Array.isArray(saved.drafts) ? saved.drafts : Object.values(saved.drafts || {});
    assert.ok(drafts.some((draft) => draft.title === title), `no draft titled "${title}" on the site`);

    assert.deepEqual(browser.strayRequests(), []);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});

test("blog updates by polling", async () => {
  const site = await newSite({ credits: 50 });
  const browser = await openBrowser({ withoutEventSource: true });
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(site));
    await page.getByText("Updating every few seconds").waitFor();
    await page.getByRole("button", { name: "Get ideas" }).click();
    await page.locator(".idea").first().waitFor(WAIT);
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByText("No credits were charged.").waitFor(WAIT);
    const { body } = await callApi(site, "GET", "/api/me");
    assert.equal(body.credits, 50);
    assert.equal(body.reserved, 0);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});
