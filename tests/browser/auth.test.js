// The signed instance: a page opened without one, and with a forged one,
// tells the owner what happened and what to do, and calls no other API.

import assert from "node:assert/strict";
import { test } from "node:test";
import { dashboardUrl, newSite, openBrowser, screenshot, serveUrl } from "./lib/env.js";

test("missing instance shows how to open", async () => {
  const browser = await openBrowser();
  const { page } = browser;
  const apiCalls = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.startsWith("/api/")) apiCalls.push(request.url());
  });
  try {
    await page.goto(`${serveUrl}/dashboard`);
    const banner = page.getByRole("alert");
    await banner.getByText("Open sitesmith from your Wix dashboard.").waitFor();
    assert.match(await banner.textContent(), /Apps, then sitesmith/);
    assert.equal(await page.locator("#app").isHidden(), true);
    assert.deepEqual(apiCalls, []);
    await screenshot(page, "auth-missing-instance");
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
  }
});

test("forged instance is rejected", async () => {
  const site = await newSite({ credits: 0 });
  // Flip one character of the signature, keeping it valid base64url.
  const first = site.instance[0] === "A" ? "B" : "A";
  const forged = { ...site, instance: first + site.instance.slice(1) };
  const browser = await openBrowser();
  const { page } = browser;
  try {
    await page.goto(dashboardUrl(forged));
    const banner = page.getByRole("alert");
    await banner.getByText("Wix's sign-in for this page was not accepted.").waitFor();
    assert.match(await banner.textContent(), /signature/i);
    assert.match(await banner.textContent(), /Reload sitesmith from your Wix dashboard/);
    assert.equal(await page.locator("#app").isHidden(), true);
    await screenshot(page, "auth-forged-instance");
  } finally {
    await browser.close();
  }
});

test("headers for the Wix iframe", async () => {
  const response = await fetch(`${serveUrl}/dashboard`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^text\/html/);
  const csp = response.headers.get("content-security-policy");
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors https:\/\/\*\.wix\.com https:\/\/\*\.wixapps\.net https:\/\/manage\.wix\.com/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("x-frame-options"), null);

  const script = await fetch(`${serveUrl}/dashboard/js/main.js`);
  assert.match(script.headers.get("content-type"), /^text\/javascript/);
  const etag = script.headers.get("etag");
  const again = await fetch(`${serveUrl}/dashboard/js/main.js`, { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);

  for (const path of ["/dashboard/.hidden", "/dashboard/..%2f..%2fCMakeLists.txt", "/dashboard/js%2f..%2f..%2fCMakeLists.txt", "/dashboard/nothing.html", "/dashboard/README"]) {
    const miss = await fetch(`${serveUrl}${path}`);
    assert.equal(miss.status, 404, path);
    await miss.arrayBuffer();
  }
});
