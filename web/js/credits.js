// The Credits tab: balance, plan, what each tool costs, and a chart of
// the credits used per day over the last 30 days, drawn as inline SVG.

import { api } from "./api.js";
import { $, errorNotice, fill, h } from "./ui.js";

const DAYS = 30;
const KINDS = [
  { kind: "blog", label: "Blog posts" },
  { kind: "product", label: "Product text" },
  { kind: "image", label: "Images" },
  { kind: "other", label: "Other" },
];
// Chart geometry in SVG user units; the SVG scales to its box.
const WIDTH = 720;
const HEIGHT = 260;
const PAD = { top: 16, right: 12, bottom: 36, left: 44 };

let context = null;

export function init(ctx) {
  context = ctx;
  ctx.live.on("credits", () => {
    if (!$("#panel-credits").hidden) loadUsage();
  });
}

// Called each time the tab is shown.
export function show() {
  renderBalance(context.me);
  loadUsage();
}

export function renderBalance(me) {
  if (!me) return;
  fill($("#credits-balance"), String(me.credits));
  fill($("#credits-reserved"), me.reserved ? `${me.reserved} more are held by work in progress.` : "Nothing is held by work in progress.");
  fill($("#credits-plan"), me.plan && me.plan !== "free" ? me.plan : "Free");
  const costs = me.costs || {};
  fill(
    $("#credits-costs"),
    [
      ["Blog post", costs.blog_post, "per post, with its cover image"],
      ["Product text", costs.product_field, "per field of each product"],
      ["Product image", costs.image, "per image"],
    ].map(([tool, cost, unit]) =>
      h("tr", {}, h("th", { scope: "row" }, tool), h("td", {}, typeof cost === "number" ? `${cost} credit${cost === 1 ? "" : "s"}` : "—"), h("td", { class: "muted" }, unit)),
    ),
  );
}

function utcOffsetMinutes() {
  return Math.max(-720, Math.min(840, -new Date().getTimezoneOffset()));
}

async function loadUsage() {
  try {
    const usage = await api("GET", `/api/credits/usage?days=${DAYS}&utc_offset_minutes=${utcOffsetMinutes()}`);
    renderChart(usage);
  } catch (error) {
    fill($("#credits-chart"), errorNotice(error));
  }
}

function dayAmount(day, kind) {
  const byKind = day.by_kind || {};
  if (kind !== "other") return byKind[kind] || 0;
  return Object.entries(byKind)
    .filter(([name]) => !["blog", "product", "image"].includes(name))
    .reduce((sum, [, value]) => sum + value, 0);
}

// A round upper bound for the y axis: 1, 2 or 5 times a power of ten.
function niceMax(value) {
  if (value <= 5) return 5;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function shortDate(iso) {
  const [year, month, day] = iso.split("-").map(Number);
  return new Date(year, month - 1, day).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

function renderChart(usage) {
  const days = usage.days || [];
  const max = niceMax(Math.max(0, ...days.map((day) => day.total)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(2, slot * 0.7);
  const y = (value) => PAD.top + plotH - (plotH * value) / max;

  const grid = [0, max / 2, max].map((value) => [
    h("svg:line", { class: "chart-grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }),
    h("svg:text", { class: "chart-axis", x: PAD.left - 8, y: y(value) + 4, "text-anchor": "end" }, String(value)),
  ]);
  const bars = days.map((day, index) => {
    const x = PAD.left + index * slot + (slot - barW) / 2;
    let base = 0;
    const parts = KINDS.map(({ kind }) => {
      const amount = dayAmount(day, kind);
      if (!amount) return null;
      const top = y(base + amount);
      const rect = h("svg:rect", { class: `chart-bar kind-${kind}`, x, y: top, width: barW, height: y(base) - top });
      base += amount;
      return rect;
    });
    const label =
      index % 5 === (days.length - 1) % 5
        ? h("svg:text", { class: "chart-axis", x: x + barW / 2, y: HEIGHT - PAD.bottom + 18, "text-anchor": "middle" }, shortDate(day.date))
        : null;
    return h("svg:g", {}, h("svg:title", {}, `${shortDate(day.date)}: ${day.total} credits`), parts, label);
  });

  const busiest = days.reduce((best, day) => (day.total > (best ? best.total : 0) ? day : best), null);
  const description = usage.total
    ? `${usage.total} credits used in the last ${days.length} days. The busiest day was ${shortDate(busiest.date)} with ${busiest.total}.`
    : `No credits used in the last ${days.length} days.`;

  fill(
    $("#credits-chart"),
    h(
      "svg:svg",
      { class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "credits-chart-title credits-chart-desc" },
      h("svg:title", { id: "credits-chart-title" }, "Credits used per day"),
      h("svg:desc", { id: "credits-chart-desc" }, description),
      grid,
      h("svg:line", { class: "chart-baseline", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) }),
      bars,
    ),
    h(
      "ul",
      { class: "legend" },
      KINDS.filter(({ kind }) => kind !== "other" || days.some((day) => dayAmount(day, "other"))).map(({ kind, label }) =>
        h("li", {}, h("span", { class: `swatch kind-${kind}`, "aria-hidden": "true" }), label),
      ),
    ),
    h("p", { class: "muted" }, description),
    h(
      "details",
      {},
      h("summary", {}, "Show the numbers"),
      h(
        "table",
        { class: "data-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), KINDS.map(({ label }) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, "Total"))),
        h(
          "tbody",
          {},
          days.filter((day) => day.total > 0).map((day) =>
            h("tr", {}, h("th", { scope: "row" }, shortDate(day.date)), KINDS.map(({ kind }) => h("td", {}, String(dayAmount(day, kind)))), h("td", {}, String(day.total))),
          ),
        ),
      ),
    ),
  );
}
