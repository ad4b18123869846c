// The Blog tab: ideas for a post, the owner's pick, the steps of writing
// it, the saved draft, and the history of past generations.

import { api } from "./api.js";
import {
  $, badge, busy, debounce, errorNotice, failureNotice, fill, formatTime, h,
  progressBar, splitList,
} from "./ui.js";

// Each state in plain words, its share of the whole job, and its tone.
const STATES = {
  generating_ideas: { text: "Finding ideas for your site…", step: 0, percent: 10, tone: "busy" },
  awaiting_selection: { text: "Ideas are ready. Pick the one to write.", step: 0, percent: 25, tone: "warn" },
  writing: { text: "Writing the post…", step: 1, percent: 45, tone: "busy" },
  generating_image: { text: "Making the cover image…", step: 2, percent: 70, tone: "busy" },
  publishing: { text: "Saving the draft to your blog…", step: 3, percent: 90, tone: "busy" },
  done: { text: "The draft is saved in your blog.", step: 4, percent: 100, tone: "good" },
  failed: { text: "This post could not be finished.", step: -1, percent: 100, tone: "bad" },
  cancelled: { text: "Cancelled.", step: -1, percent: 0, tone: "neutral" },
};
const STATE_LABELS = {
  generating_ideas: "Finding ideas",
  awaiting_selection: "Waiting for your pick",
  writing: "Writing",
  generating_image: "Making the cover",
  publishing: "Saving the draft",
  done: "Draft saved",
  failed: "Failed",
  cancelled: "Cancelled",
};
const STEPS = ["Ideas", "Writing", "Cover image", "Saving draft"];
const FINAL = new Set(["done", "failed", "cancelled"]);
const HISTORY_PAGE = 10;

let context = null;
let current = null;
let history = [];
let nextCursor = null;
let lastRequest = null;

export function init(ctx) {
  context = ctx;
  const cost = ctx.me && ctx.me.costs ? ctx.me.costs.blog_post : null;
  if (typeof cost === "number") {
    fill($("#blog-cost"), `A post costs ${cost} credits, charged only when its draft is saved.`);
  }
  $("#blog-form").addEventListener("submit", (event) => {
    event.preventDefault();
    start(readForm());
  });
  $("#blog-more").addEventListener("click", () => loadHistory(true));
  ctx.live.on("generation", (change) => {
    if (change.kind !== "blog") return;
    if (current && change.id === current.id) refreshCurrent();
    refreshHistory();
  });
  ctx.live.on("resync", (event) => {
    if (current && !FINAL.has(current.state)) refreshCurrent();
    if (event.reason !== "poll" || history.some((gen) => !FINAL.has(gen.state))) {
      refreshHistory();
    }
  });
  loadHistory(false);
}

function readForm() {
  const request = {
    keywords: splitList($("#blog-keywords").value),
    tone: $("#blog-tone").value,
    language: $("#blog-language").value,
  };
  const topic = $("#blog-topic").value.trim();
  if (topic) request.topic = topic;
  return request;
}

function clearFieldErrors() {
  for (const input of document.querySelectorAll("#blog-form [aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
  fill($("#blog-form-error"));
}

async function start(request) {
  clearFieldErrors();
  lastRequest = request;
  await busy($("#blog-start"), "Starting…", async () => {
    try {
      show(await api("POST", "/api/blog/generations", request));
      refreshHistory();
      context.refreshMe();
      $("#blog-current-title").focus();
    } catch (error) {
      fill($("#blog-form-error"), errorNotice(error));
      const input = error.field && document.querySelector(`#blog-form [name="${error.field}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }
    }
  });
}

async function refreshCurrent() {
  if (!current) return;
  const id = current.id;
  try {
    const gen = await api("GET", `/api/blog/generations/${encodeURIComponent(id)}`);
    if (current && current.id === id) show(gen);
  } catch (error) {
    showActionError(error);
  }
}

// Runs an action on the current generation and shows the result.
async function act(button, label, path, body) {
  const id = current.id;
  await busy(button, label, async () => {
    try {
      show(await api("POST", `/api/blog/generations/${encodeURIComponent(id)}/${path}`, body));
      refreshHistory();
    } catch (error) {
      showActionError(error);
      if (error.status === 409) refreshCurrent();
    }
  });
  context.refreshMe();
}

function showActionError(error) {
  const slot = $("#blog-action-error");
  if (slot) fill(slot, errorNotice(error));
}

function stepper(state) {
  const step = STATES[state] ? STATES[state].step : -1;
  return h(
    "ol",
    { class: "steps", "aria-label": "Steps" },
    STEPS.map((name, index) => {
      let status = "todo";
      if (step > index || state === "done") status = "done";
      else if (step === index && state !== "awaiting_selection") status = "active";
      else if (step === index) status = "waiting";
      const note = { done: "done", active: "in progress", waiting: "waiting for you", todo: "" }[status];
      return h(
        "li",
        { class: `step step-${status}`, "aria-current": status === "active" ? "step" : null },
        h("span", { class: "step-dot", "aria-hidden": "true" }, status === "done" ? "✓" : String(index + 1)),
        h("span", { class: "step-name" }, name),
        note ? h("span", { class: "visually-hidden" }, ` (${note})`) : null,
      );
    }),
  );
}

function ideaCards(gen) {
  const cards = gen.ideas.map((idea, index) =>
    h(
      "li",
      { class: "idea" },
      h("h4", { class: "idea-title" }, idea.title),
      idea.angle ? h("p", {}, idea.angle) : null,
      idea.keywords && idea.keywords.length
        ? h("ul", { class: "chips", "aria-label": "Keywords" }, idea.keywords.map((k) => h("li", { class: "chip" }, k)))
        : null,
      h(
        "button",
        {
          type: "button",
          class: "primary small",
          "aria-label": `Write this post: ${idea.title}`,
          onclick: (event) => act(event.currentTarget, "Starting…", "select", { index }),
        },
        "Write this post",
      ),
    ),
  );
  return [
    h("ul", { class: "ideas" }, cards),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: (event) => act(event.currentTarget, "Asking…", "regenerate-ideas"),
        },
        "New ideas",
      ),
      cancelButton(),
    ),
  ];
}

function cancelButton() {
  return h(
    "button",
    {
      type: "button",
      class: "tertiary",
      onclick: (event) => act(event.currentTarget, "Cancelling…", "cancel"),
    },
    "Cancel",
  );
}

function draftCard(gen) {
  const post = gen.post || {};
  const image = gen.image || {};
  return h(
    "article",
    { class: "draft" },
    image.url
      ? h("img", {
          class: "draft-cover",
          src: image.url,
          alt: `Cover image of "${post.title || "the post"}"`,
          width: image.width || null,
          height: image.height || null,
        })
      : null,
    h(
      "div",
      { class: "draft-body" },
      h("h4", { class: "draft-title" }, post.title || "Untitled draft"),
      post.excerpt ? h("p", { class: "draft-excerpt" }, post.excerpt) : null,
      h(
        "p",
        { class: "actions" },
        gen.draft_url
          ? h(
              "a",
              { class: "button primary", href: gen.draft_url, target: "_blank", rel: "noopener noreferrer" },
              "Open the draft in Wix",
              h("span", { class: "visually-hidden" }, " (opens in a new tab)"),
            )
          : null,
        h("button", { type: "button", class: "secondary", onclick: newPost }, "Write another post"),
      ),
      gen.credits_charged ? h("p", { class: "muted" }, `${gen.credits_charged} credits used.`) : null,
    ),
  );
}

function newPost() {
  current = null;
  fill($("#blog-current-heading"), "Your next post");
  fill($("#blog-status"));
  fill(
    $("#blog-current-body"),
    h("p", { class: "muted" }, "Ideas for your post will appear here. Fill in the form and choose Get ideas."),
  );
  $("#blog-topic").focus();
}

function retry() {
  const request = (current && current.request) || lastRequest || {};
  start(request);
}

function body(gen) {
  switch (gen.state) {
    case "awaiting_selection":
      return ideaCards(gen);
    case "done":
      return draftCard(gen);
    case "failed":
      return [
        failureNotice(gen.error || {}, !gen.credits_charged),
        h("p", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: retry }, "Try again")),
      ];
    case "cancelled":
      return [
        gen.error && gen.error.message ? h("p", {}, gen.error.message) : null,
        h("p", {}, "No credits were charged."),
        h("p", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: newPost }, "Start over")),
      ];
    case "publishing":
      // The server refuses a cancel once the draft is being saved.
      return h("p", { class: "muted" }, "The draft is being saved to your blog; it can no longer be cancelled.");
    default:
      return h("p", { class: "actions" }, cancelButton());
  }
}

function title(gen) {
  if (gen.post && gen.post.title) return gen.post.title;
  if (typeof gen.chosen_idea === "number" && gen.ideas[gen.chosen_idea]) {
    return gen.ideas[gen.chosen_idea].title;
  }
  if (gen.request && gen.request.topic) return `Ideas for "${gen.request.topic}"`;
  return "Ideas for your site";
}

// Shows gen in the current-post card. The status line is announced only
// when the state changes, so polling does not repeat it.
function show(gen) {
  const previous = current;
  current = gen;
  const info = STATES[gen.state] || { text: gen.state, percent: 0 };
  const ended = gen.state === "failed" || gen.state === "cancelled";
  fill(
    $("#blog-current-body"),
    ended ? null : stepper(gen.state),
    ended ? null : progressBar(info.percent, 100, "Post progress"),
    h("div", { id: "blog-action-error" }),
    body(gen),
  );
  fill($("#blog-current-heading"), title(gen));
  if (!previous || previous.id !== gen.id || previous.state !== gen.state) {
    fill($("#blog-status"), info.text);
  }
}

function historyRow(gen) {
  const info = STATES[gen.state] || { tone: "neutral" };
  return h(
    "li",
    { class: "history-row" },
    h(
      "div",
      { class: "history-main" },
      h("span", { class: "history-title" }, title(gen)),
      h("span", { class: "muted" }, formatTime(gen.created_at)),
    ),
    badge(STATE_LABELS[gen.state] || gen.state, info.tone),
    h(
      "button",
      {
        type: "button",
        class: "tertiary small",
        "aria-label": `Open: ${title(gen)}`,
        onclick: () => {
          show(gen);
          refreshCurrent();
          $("#blog-current-title").focus();
        },
      },
      "Open",
    ),
    gen.state === "failed" && gen.error
      ? h("p", { class: "history-error" }, gen.error.message || "Failed.")
      : null,
  );
}

function renderHistory() {
  const list = $("#blog-history");
  if (history.length === 0) {
    fill(list, h("p", { class: "muted" }, "No posts yet. Your generations will be listed here."));
  } else {
    fill(list, h("ul", { class: "history" }, history.map(historyRow)));
  }
  $("#blog-more").hidden = !nextCursor;
}

async function loadHistory(more) {
  const cursor = more && nextCursor ? `&cursor=${encodeURIComponent(nextCursor)}` : "";
  try {
    const page = await api("GET", `/api/blog/generations?limit=${HISTORY_PAGE}${cursor}`);
    history = more ? history.concat(page.generations) : page.generations;
    nextCursor = page.next_cursor;
    renderHistory();
  } catch (error) {
    fill($("#blog-history"), errorNotice(error));
  }
}

// Reloads the first page of the history (as many rows as are shown).
const refreshHistory = debounce(async () => {
  const limit = Math.min(100, Math.max(HISTORY_PAGE, history.length));
  try {
    const page = await api("GET", `/api/blog/generations?limit=${limit}`);
    history = page.generations;
    nextCursor = page.next_cursor;
    renderHistory();
  } catch (error) {
    fill($("#blog-history"), errorNotice(error));
  }
}, 300);
