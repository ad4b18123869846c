// What every dashboard test needs: the serve and sandbox started by
// tests/browser/run, new sites with credits, a Chromium page that may
// only reach 127.0.0.1, and screenshots kept as artifacts.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/browser/run`);
  }
  return value;
}

export const serveUrl = required("SITESMITH_SERVE_URL");
export const sandboxUrl = required("SITESMITH_SANDBOX_URL");
const buildDir = required("SITESMITH_BUILD_DIR");
const artifacts = required("SITESMITH_BROWSER_ARTIFACTS");

// Sends a JSON request to the sandbox's control API; returns the body.
export async function sandbox(method, pathname, body) {
  const response = await fetch(sandboxUrl + pathname, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`sandbox ${method} ${pathname}: ${response.status} ${text}`);
  }
  return text ? JSON.parse(text) : {};
}

// Creates a sandbox site with the store fixture, records it with
// `sitesmith instances add` and grants it credits. Returns the sandbox's
// site summary ({instance_id, instance, ...}).
export async function newSite({ credits = 500, name } = {}) {
  const site = await sandbox("POST", "/__sandbox/sites", {
    fixture: "store",
    catalog_version: 1,
    ...(name ? { name } : {}),
  });
  const cli = path.join(buildDir, "sitesmith");
  await run(cli, ["instances", "add", "--instance-id", site.instance_id, "--site-name", site.name]);
  if (credits > 0) {
    await run(cli, [
      "credits", "grant", "--instance-id", site.instance_id, "--amount", String(credits),
      "--reference", `browser-test-${site.instance_id}`,
    ]);
  }
  return site;
}

// Calls serve's API as the page does.
export async function callApi(site, method, pathname, body) {
  const response = await fetch(serveUrl + pathname, {
    method,
    headers: {
      "X-Wix-Instance": site.instance,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

// Launches Chromium headless with a fresh profile and returns {page,
// requests(), problems, close()}. Any request that would leave 127.0.0.1
// is aborted and listed in problems, as are page errors. requests()
// lists what went anywhere but serve, except images from the sandbox's
// stand-in for Wix's media host.
export async function openBrowser({ width = 1280, height = 900, withoutEventSource = false } = {}) {
  const profile = await mkdtemp(path.join(os.tmpdir(), "sitesmith-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width, height },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-default-apps",
      "--disable-extensions",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const seen = [];
  const problems = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (LOOPBACK.has(url.hostname)) return route.continue();
    problems.push(`blocked request to ${url.href}`);
    return route.abort();
  });
  page.on("request", (request) => seen.push(request.url()));
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  if (withoutEventSource) {
    await page.addInitScript(() => {
      delete window.EventSource;
    });
  }
  const media = `${sandboxUrl}/wixstatic/`;
  return {
    page,
    problems,
    strayRequests: () =>
      seen.filter((url) => !url.startsWith(`${serveUrl}/`) && !url.startsWith(media) && !/^(blob|data):/.test(url)),
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

// The dashboard's address for a site, as the Wix dashboard builds it.
export function dashboardUrl(site, hash = "") {
  const query = site ? `?instance=${encodeURIComponent(site.instance)}` : "";
  return `${serveUrl}/dashboard${query}${hash}`;
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}
