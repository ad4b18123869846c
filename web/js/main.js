// Starts the dashboard: checks the signed instance, loads the site, wires
// the tabs, and starts live updates.

import { api, getInstance, onUnauthorized } from "./api.js";
import * as blog from "./blog.js";
import * as campaigns from "./campaigns.js";
import * as credits from "./credits.js";
import * as images from "./images.js";
import * as live from "./live.js";
import * as products from "./products.js";
import { $, errorNotice, fill, h } from "./ui.js";

const TABS = ["blog", "products", "images", "campaigns", "credits"];
const started = new Set();
const context = { me: null, live, refreshMe };

function showBanner(title, ...lines) {
  const banner = $("#banner");
  fill(banner, h("strong", {}, title), lines.map((line) => h("p", {}, line)));
  banner.hidden = false;
  $("#app").hidden = true;
}

function setHeader(me) {
  fill($("#site-name"), me.site_name || "");
  fill($("#balance"), String(me.credits));
  $("#balance-chip").hidden = false;
}

async function refreshMe() {
  try {
    context.me = await api("GET", "/api/me");
    setHeader(context.me);
    credits.renderBalance(context.me);
  } catch {
    // The next call that matters shows its own error.
  }
}

// Runs a tab's setup the first time it is shown.
function startTab(name) {
  if (started.has(name)) return;
  started.add(name);
  if (name === "blog") blog.init(context);
  if (name === "products") products.init(context);
  if (name === "images") images.init(context);
  if (name === "credits") credits.init(context);
  if (name === "campaigns") campaigns.init(context);
}

function selectTab(name, focus) {
  for (const tab of TABS) {
    const button = $(`#tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", selected ? "true" : "false");
    button.tabIndex = selected ? 0 : -1;
    $(`#panel-${tab}`).hidden = !selected;
  }
  if (focus) $(`#tab-${name}`).focus();
  startTab(name);
  if (name === "credits") credits.show();
  if (name === "campaigns") campaigns.show();
  if (window.location.hash !== `#${name}`) {
    history.replaceState(null, "", `${window.location.pathname}${window.location.search}#${name}`);
  }
}

// Arrow keys, Home and End move between tabs, as in the WAI-ARIA tabs
// pattern.
function onTabKey(event) {
  const index = TABS.indexOf(event.currentTarget.id.replace("tab-", ""));
  let next = null;
  if (event.key === "ArrowRight") next = (index + 1) % TABS.length;
  if (event.key === "ArrowLeft") next = (index + TABS.length - 1) % TABS.length;
  if (event.key === "Home") next = 0;
  if (event.key === "End") next = TABS.length - 1;
  if (next === null) return;
  event.preventDefault();
  selectTab(TABS[next], true);
}

function showMode(mode) {
  const text = {
    connecting: "Connecting…",
    stream: "Live",
    polling: "Updating every few seconds",
  }[mode];
  fill($("#live-status"), text || "");
  $("#live-status").dataset.mode = mode;
}

async function boot() {
  if (!getInstance()) {
    showBanner(
      "Open sitesmith from your Wix dashboard.",
      "This page needs the signed site identity that Wix adds to its address, and it has none.",
      "Go to your site's dashboard, open Apps, then sitesmith. A bookmark or a copied link to this page won't work.",
    );
    return;
  }
  onUnauthorized((error) =>
    showBanner(
      "Wix's sign-in for this page was not accepted.",
      error.message,
      "Reload sitesmith from your Wix dashboard (Apps › sitesmith). If this keeps happening, reinstall the app.",
    ),
  );
  try {
    context.me = await api("GET", "/api/me");
  } catch (error) {
    if (error.status !== 401) {
      const banner = $("#banner");
      fill(banner, errorNotice(error));
      banner.hidden = false;
      $("#app").hidden = true;
    }
    return;
  }
  setHeader(context.me);
  $("#app").hidden = false;
  for (const tab of TABS) {
    $(`#tab-${tab}`).addEventListener("click", () => selectTab(tab, false));
    $(`#tab-${tab}`).addEventListener("keydown", onTabKey);
  }
  live.on("mode", showMode);
  live.on("credits", (balance) => {
    if (!context.me) return;
    context.me = { ...context.me, credits: balance.credits, reserved: balance.reserved };
    setHeader(context.me);
    credits.renderBalance(context.me);
  });
  const wanted = window.location.hash.slice(1);
  selectTab(TABS.includes(wanted) ? wanted : "blog", false);
  live.start();
  document.body.dataset.ready = "true";
}

boot();

