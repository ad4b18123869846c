// Small DOM helpers shared by the tabs. Text from the API is always set
// as text (never as HTML), so nothing it contains can run in the page.

import { explain } from "./api.js";

// Creates an element: h("button", {class: "primary", onclick: fn}, "Go").
// Attributes named on* become listeners; false, null and undefined are
// left out; children may be strings, nodes, arrays or null.
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) {
      append(el, child);
    } else if (child instanceof Node) {
      el.appendChild(child);
    } else {
      el.appendChild(document.createTextNode(String(child)));
    }
  }
}

// Replaces the children of el.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

// Disables a button while work runs and shows a busy label.
export async function busy(button, label, work) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = before;
  }
}

// A progress bar with a visible label; value and max are numbers.
export function progressBar(value, max, label) {
  const percent = max > 0 ? Math.round((100 * value) / max) : 0;
  const bar = h("div", { class: "progress-fill" });
  bar.style.width = `${Math.min(100, Math.max(0, percent))}%`;
  return h(
    "div",
    {
      class: "progress",
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": percent,
      "aria-valuetext": label ? `${label}: ${percent}%` : `${percent}%`,
    },
    bar,
  );
}

// A coloured state label; tone is one of neutral, busy, good, warn, bad.
export function badge(text, tone = "neutral") {
  return h("span", { class: `badge badge-${tone}` }, text);
}

// Shows a short confirmation at the bottom of the page for a few seconds.
export function toast(message, tone = "good") {
  const region = $("#toasts");
  const item = h("div", { class: `toast toast-${tone}` }, message);
  region.appendChild(item);
  setTimeout(() => item.remove(), 5000);
}

// Formats an ISO time as the browser's local date and time.
export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

// Formats a byte count as "12.3 KB".
export function formatBytes(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MB`;
}

// Calls fn at most once per wait milliseconds, after the last call.
export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

// Splits "a, b ,c" into ["a", "b", "c"].
export function splitList(text) {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

// The text of an HTML fragment, with block ends kept as line breaks.
// DOMParser builds an inert document: no script runs, nothing loads.
export function htmlToText(html) {
  if (!html) return "";
  const doc = new DOMParser().parseFromString(String(html), "text/html");
  for (const block of doc.body.querySelectorAll("p, li, h1, h2, h3, h4, br, div")) {
    block.append("\n");
  }
  for (const item of doc.body.querySelectorAll("li")) {
    item.prepend("• ");
  }
  return doc.body.textContent.replace(/\n{3,}/g, "\n\n").trim();
}

// A notice for an API error: what happened, the server's words, and what
// to do. role="alert" makes screen readers announce it.
export function errorNotice(error) {
  const { title, detail, action } = explain(error);
  return h(
    "div",
    { class: "notice notice-error", role: "alert" },
    h("strong", {}, title),
    detail ? h("p", { class: "notice-detail" }, detail) : null,
    h("p", {}, action),
  );
}

// What to do about a failed generation or item, by its error kind.
const FAILURE_ACTIONS = {
  unauthorized:
    "sitesmith lost access to your site. Open the app again from your Wix dashboard; if it keeps failing, reinstall the app.",
  forbidden:
    "sitesmith is missing a permission on your site. Reinstall the app from the Wix App Market to grant it.",
  rate_limited: "A service was busy. Try again in a few minutes.",
  retryable: "A service didn't answer in time. Try again in a few minutes.",
  not_found: "Something it needed was removed from your site. Check the site and try again.",
  conflict:
    "It was changed on your site in the meantime, so nothing was overwritten. Regenerate it from the current text.",
  invalid: "The request was not accepted. Change the settings and try again.",
  insufficient_credits: "You ran out of credits. Add credits, then try again.",
  permanent: "Try again. If it fails the same way, contact support.",
};

// A failure notice for a generation's or item's {kind, message} error.
export function failureNotice(error, creditsReturned = true) {
  const action = FAILURE_ACTIONS[error.kind] || FAILURE_ACTIONS.permanent;
  return h(
    "div",
    { class: "notice notice-error" },
    h("strong", {}, "What went wrong: "),
    error.message || "an unknown error.",
    h("p", {}, action),
    // The server's message may say so already; say it once.
    creditsReturned && !/no credits were charged/i.test(error.message || "")
      ? h("p", { class: "muted" }, "No credits were charged for it.")
      : null,
  );
}
