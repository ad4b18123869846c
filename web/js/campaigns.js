// The Campaigns tab: blog posts planned ahead on a schedule. A form
// creates a campaign, and the list shows each campaign with its next post
// and latest problem. A calendar-like list shows one campaign's upcoming
// and past posts by month, with the actions each post allows.

import { api } from "./api.js";
import { $, badge, busy, debounce, errorNotice, fill, h, splitList, toast } from "./ui.js";

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const TONES = ["friendly", "professional", "playful", "informative", "inspiring"];
const LANGUAGES = [
  ["en", "English"],
  ["de", "Deutsch"],
  ["es", "Español"],
  ["fr", "Français"],
  ["it", "Italiano"],
  ["nl", "Nederlands"],
  ["pl", "Polski"],
  ["pt-BR", "Português (Brasil)"],
  ["ja", "日本語"],
];
// Each post state in plain words and its badge tone.
const STATES = {
  scheduled: ["Scheduled", "neutral"],
  running: ["Being written", "busy"],
  done: ["Done", "good"],
  failed: ["Failed", "bad"],
  missed: ["Missed", "warn"],
  skipped_no_credits: ["Skipped: too few credits", "warn"],
  cancelled: ["Skipped", "neutral"],
};
const UPCOMING = new Set(["scheduled", "running"]);

let context = null;
let openId = null;

export function init(ctx) {
  context = ctx;
  buildForm();
  const refreshOpen = debounce(() => {
    if (openId && !$("#panel-campaigns").hidden) loadPosts(openId);
  }, 500);
  ctx.live.on("generation", (change) => {
    if (change.kind === "blog") refreshOpen();
  });
  ctx.live.on("resync", refreshOpen);
}

// Called each time the tab is shown.
export function show() {
  loadList();
  if (openId) loadPosts(openId);
}

// ------------------------------------------------------------------
// The form

function field(id, label, control, help) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
  );
}

function timeZones() {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [own];
  return { own, zones: zones.includes(own) ? zones : [own, ...zones] };
}

function buildForm() {
  const { own, zones } = timeZones();
  const form = $("#campaign-form");
  fill(
    form,
    h("h2", {}, "New campaign"),
    field("campaign-name", "Name", h("input", { id: "campaign-name", name: "name", maxlength: 100, autocomplete: "off", placeholder: "e.g. Tea Tuesdays", required: true })),
    field(
      "campaign-topic",
      "Topic",
      h("input", { id: "campaign-topic", name: "theme", maxlength: 300, autocomplete: "off", placeholder: "e.g. Brewing tea at home", "aria-describedby": "campaign-topic-help" }),
      "Each post finds its own idea within it. Leave it empty to write about your site and products.",
    ),
    field("campaign-keywords", "Keywords", h("input", { id: "campaign-keywords", autocomplete: "off", placeholder: "tea, brewing" })),
    h(
      "div",
      { class: "field-row" },
      field("campaign-tone", "Tone", h("select", { id: "campaign-tone" }, TONES.map((tone) => h("option", { value: tone }, tone[0].toUpperCase() + tone.slice(1))))),
      field("campaign-language", "Language", h("select", { id: "campaign-language" }, LANGUAGES.map(([tag, name]) => h("option", { value: tag }, name)))),
    ),
    h(
      "fieldset",
      { id: "campaign-schedule", name: "schedule" },
      h("legend", {}, "When"),
      h(
        "div",
        { class: "field-row" },
        field(
          "campaign-frequency",
          "Repeat",
          h(
            "select",
            { id: "campaign-frequency", onchange: showFrequency },
            h("option", { value: "weekly" }, "Every week"),
            h("option", { value: "monthly" }, "Every month"),
            h("option", { value: "daily" }, "Every day"),
          ),
        ),
        field("campaign-time", "At", h("input", { id: "campaign-time", type: "time", value: "09:00", required: true })),
      ),
      h(
        "div",
        { class: "campaign-weekdays", id: "campaign-weekdays", role: "group", "aria-label": "Weekdays" },
        WEEKDAYS.map((day) =>
          h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "weekday", value: day, checked: day === "tuesday" }), ` ${day[0].toUpperCase()}${day.slice(1, 3)}`),
        ),
      ),
      field("campaign-day", "Day of the month", h("input", { id: "campaign-day", type: "number", min: 1, max: 31, value: 1, "aria-describedby": "campaign-day-help" }), "A month without this day uses its last day."),
      field(
        "campaign-zone",
        "Time zone",
        h("select", { id: "campaign-zone", name: "time_zone" }, zones.map((zone) => h("option", { value: zone, selected: zone === own }, zone))),
      ),
    ),
    h(
      "fieldset",
      { name: "on_ready" },
      h("legend", {}, "When a post is ready"),
      h("label", { class: "radio" }, h("input", { type: "radio", name: "campaign-ready", value: "draft", checked: true }), " Save it as a draft for me to review"),
      h("label", { class: "radio" }, h("input", { type: "radio", name: "campaign-ready", value: "publish" }), " Publish it on my site"),
    ),
    h("div", { id: "campaign-form-error" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "campaign-create" }, "Create campaign")),
    costLine(),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    create();
  });
  showFrequency();
}

function costLine() {
  const cost = context.me && context.me.costs ? context.me.costs.blog_post : null;
  if (typeof cost !== "number") return null;
  return h("p", { class: "muted small-text" }, `Each post costs ${cost} credits, reserved when it is due and charged only when it is done. A post that finds too few credits is skipped, and the campaign goes on.`);
}

function showFrequency() {
  const frequency = $("#campaign-frequency").value;
  $("#campaign-weekdays").hidden = frequency !== "weekly";
  $("#campaign-day").closest(".field").hidden = frequency !== "monthly";
}

function readForm() {
  const frequency = $("#campaign-frequency").value;
  const rule = { frequency, time: $("#campaign-time").value };
  if (frequency === "weekly") {
    rule.weekdays = Array.from(document.querySelectorAll("#campaign-weekdays input:checked")).map((box) => box.value);
  }
  if (frequency === "monthly") rule.day = Number($("#campaign-day").value);
  const theme = {
    keywords: splitList($("#campaign-keywords").value),
    tone: $("#campaign-tone").value,
    language: $("#campaign-language").value,
  };
  const topic = $("#campaign-topic").value.trim();
  if (topic) theme.topic = topic;
  return {
    name: $("#campaign-name").value.trim(),
    theme,
    time_zone: $("#campaign-zone").value,
    schedule: { rules: [rule] },
    on_ready: document.querySelector("input[name=campaign-ready]:checked").value,
  };
}

async function create() {
  for (const input of document.querySelectorAll("#campaign-form [aria-invalid]")) input.removeAttribute("aria-invalid");
  fill($("#campaign-form-error"));
  await busy($("#campaign-create"), "Creating…", async () => {
    try {
      const campaign = await api("POST", "/api/campaigns", readForm());
      toast(`Campaign "${campaign.name}" created.`);
      $("#campaign-name").value = "";
      await loadList();
      loadPosts(campaign.id);
    } catch (error) {
      fill($("#campaign-form-error"), errorNotice(error));
      const input = error.field && document.querySelector(`#campaign-form [name="${error.field}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        if (input.focus) input.focus();
      }
    }
  });
}

// ------------------------------------------------------------------
// The list of campaigns

function capitalized(text) {
  return text[0].toUpperCase() + text.slice(1);
}

// "Every Tuesday and Friday at 09:00", from a campaign's schedule.
function describeSchedule(schedule) {
  const parts = (schedule.rules || []).map((rule) => {
    if (rule.frequency === "daily") return `Every day at ${rule.time}`;
    if (rule.frequency === "monthly") return `Every month on day ${rule.day} at ${rule.time}`;
    const days = rule.weekdays.map(capitalized);
    const list = days.length > 1 ? `${days.slice(0, -1).join(", ")} and ${days[days.length - 1]}` : days[0];
    return `Every ${list} at ${rule.time}`;
  });
  const times = (schedule.times || []).length;
  if (times) parts.push(`${times} planned date${times === 1 ? "" : "s"}`);
  return parts.join("; ");
}

// "Tue 8 Dec 2026, 09:00" from a post's "2026-12-08T09:00" local time.
function localLabel(local, withYear = true) {
  const [date, time] = local.split("T");
  const [year, month, day] = date.split("-").map(Number);
  const text = new Date(Date.UTC(year, month - 1, day)).toLocaleDateString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: withYear ? "numeric" : undefined,
    timeZone: "UTC",
  });
  return `${text}, ${time}`;
}

async function loadList() {
  try {
    const { campaigns } = await api("GET", "/api/campaigns");
    fill(
      $("#campaigns-list"),
      campaigns.length
        ? h("ul", { class: "campaign-list" }, campaigns.map(campaignRow))
        : h("p", { class: "muted" }, "No campaigns yet. Create one with the form."),
    );
  } catch (error) {
    fill($("#campaigns-list"), errorNotice(error));
  }
}

function campaignRow(campaign) {
  const next = campaign.next_post;
  const problem = campaign.last_problem;
  return h(
    "li",
    { class: "campaign-row", dataset: { id: campaign.id } },
    h(
      "div",
      { class: "history-main" },
      h("span", { class: "history-title" }, campaign.name),
      h("span", { class: "muted" }, `${describeSchedule(campaign.schedule)} (${campaign.time_zone})`),
      h("span", { class: "muted" }, next ? `Next post: ${localLabel(next.local_time)}` : "No post planned."),
      problem && problem.error
        ? h("span", { class: "campaign-problem" }, `${STATES[problem.state] ? STATES[problem.state][0] : problem.state} on ${localLabel(problem.local_time)}: ${problem.error.message}`)
        : null,
    ),
    badge(campaign.paused ? "Paused" : "Active", campaign.paused ? "warn" : "good"),
    h(
      "div",
      { class: "item-actions" },
      h("button", { type: "button", class: "secondary small", onclick: () => loadPosts(campaign.id, true) }, "Show posts", h("span", { class: "visually-hidden" }, ` of ${campaign.name}`)),
      h(
        "button",
        { type: "button", class: "tertiary small", onclick: (event) => campaignAction(event.currentTarget, campaign, campaign.paused ? "resume" : "pause") },
        campaign.paused ? "Resume" : "Pause",
        h("span", { class: "visually-hidden" }, ` ${campaign.name}`),
      ),
      h("button", { type: "button", class: "tertiary small", onclick: (event) => remove(event.currentTarget, campaign) }, "Delete", h("span", { class: "visually-hidden" }, ` ${campaign.name}`)),
    ),
  );
}

async function campaignAction(button, campaign, action) {
  await busy(button, null, async () => {
    try {
      await api("POST", `/api/campaigns/${encodeURIComponent(campaign.id)}/${action}`);
      toast(`Campaign "${campaign.name}" ${action === "pause" ? "paused" : "resumed"}.`);
    } catch (error) {
      fill($("#campaigns-list"), errorNotice(error));
      return;
    }
    await loadList();
    if (openId === campaign.id) loadPosts(campaign.id);
  });
}

async function remove(button, campaign) {
  if (!window.confirm(`Delete the campaign "${campaign.name}" and its planned posts? Posts already written stay on your site.`)) return;
  await busy(button, "Deleting…", async () => {
    try {
      await api("DELETE", `/api/campaigns/${encodeURIComponent(campaign.id)}`);
      toast(`Campaign "${campaign.name}" deleted.`);
      if (openId === campaign.id) {
        openId = null;
        $("#campaign-posts").hidden = true;
      }
      await loadList();
    } catch (error) {
      fill($("#campaigns-list"), errorNotice(error));
    }
  });
}

// ------------------------------------------------------------------
// One campaign's posts, by month

async function loadPosts(id, focus = false) {
  openId = id;
  const section = $("#campaign-posts");
  try {
    const base = `/api/campaigns/${encodeURIComponent(id)}`;
    const [campaign, { posts }] = await Promise.all([api("GET", base), api("GET", `${base}/posts?limit=500`)]);
    if (openId !== id) return;
    fill($("#campaign-posts-title"), `Posts of "${campaign.name}"`);
    const upcoming = posts.filter((post) => UPCOMING.has(post.state));
    const past = posts.filter((post) => !UPCOMING.has(post.state)).reverse();
    fill(
      $("#campaign-posts-body"),
      h("p", { class: "muted" }, `Times are in ${campaign.time_zone}.`),
      h("div", { id: "campaign-post-error" }),
      h("h3", {}, "Upcoming"),
      upcoming.length ? calendar(id, upcoming) : h("p", { class: "muted" }, "Nothing is planned."),
      h("h3", {}, "Past"),
      past.length ? calendar(id, past) : h("p", { class: "muted" }, "No post has come due yet."),
    );
    section.hidden = false;
    if (focus) $("#campaign-posts-title").focus();
  } catch (error) {
    fill($("#campaign-posts-body"), errorNotice(error));
    section.hidden = false;
  }
}

// Posts grouped under a heading per month of their local time.
function calendar(campaignId, posts) {
  const months = new Map();
  for (const post of posts) {
    const key = post.local_time.slice(0, 7);
    if (!months.has(key)) months.set(key, []);
    months.get(key).push(post);
  }
  return Array.from(months, ([key, list]) => {
    const [year, month] = key.split("-").map(Number);
    const name = new Date(Date.UTC(year, month - 1, 1)).toLocaleDateString(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
    return h("section", { class: "calendar-month" }, h("h4", {}, name), h("ul", { class: "calendar-posts" }, list.map((post) => postRow(campaignId, post))));
  });
}

function postTitle(post) {
  if (post.title) return post.title;
  if (post.idea && post.idea.title) return post.idea.title;
  if (post.topic) return `About "${post.topic}"`;
  return "The best idea at the time";
}

function postRow(campaignId, post) {
  const [label, tone] = post.paused && post.state === "scheduled" ? ["Paused", "warn"] : STATES[post.state] || [post.state, "neutral"];
  const moved = post.requested_local_time !== post.local_time;
  return h(
    "li",
    { class: "calendar-post", dataset: { id: post.id, state: post.state } },
    h(
      "div",
      { class: "calendar-when" },
      h("time", { datetime: post.scheduled_at }, localLabel(post.local_time, false)),
      moved ? h("span", { class: "muted small-text" }, `planned ${post.requested_local_time.slice(11)}; the clocks changed`) : null,
    ),
    h(
      "div",
      { class: "history-main" },
      h("span", { class: "history-title" }, postTitle(post)),
      post.state === "done" && post.post && post.post.url
        ? h("a", { href: post.post.url, target: "_blank", rel: "noopener noreferrer" }, post.post.published ? "Open the post" : "Open the draft", h("span", { class: "visually-hidden" }, " (opens in a new tab)"))
        : null,
      post.error ? h("span", { class: "campaign-problem" }, post.error.message) : null,
      post.state === "scheduled" ? topicEditor(campaignId, post) : null,
    ),
    badge(label, tone),
    h("div", { class: "item-actions" }, postActions(campaignId, post)),
  );
}

function topicEditor(campaignId, post) {
  const id = `campaign-topic-${post.id}`;
  const input = h("input", { id, value: post.topic || "", maxlength: 300, placeholder: "The campaign's topic" });
  return h(
    "details",
    { class: "campaign-topic" },
    h("summary", {}, post.topic ? "Change the topic" : "Set a topic for this post"),
    h(
      "div",
      { class: "field-row" },
      h("div", { class: "field grow" }, h("label", { for: id }, "Topic of this post"), input),
      h(
        "button",
        {
          type: "button",
          class: "secondary small",
          onclick: (event) => postAction(event.currentTarget, campaignId, post, "PATCH", "", { topic: input.value.trim() || null }),
        },
        "Save topic",
      ),
    ),
  );
}

function postActions(campaignId, post) {
  const action = (text, method, path) =>
    h("button", { type: "button", class: "tertiary small", onclick: (event) => postAction(event.currentTarget, campaignId, post, method, path) }, text);
  if (post.state === "scheduled") {
    return [post.paused ? action("Resume", "POST", "/resume") : action("Pause", "POST", "/pause"), action("Skip", "DELETE", "")];
  }
  if (post.state === "running") return action("Cancel", "DELETE", "");
  return null;
}

async function postAction(button, campaignId, post, method, path, body) {
  await busy(button, null, async () => {
    try {
      await api(method, `/api/campaigns/${encodeURIComponent(campaignId)}/posts/${encodeURIComponent(post.id)}${path}`, body);
    } catch (error) {
      fill($("#campaign-post-error"), errorNotice(error));
      return;
    }
    await loadPosts(campaignId);
    loadList();
    if (context) context.refreshMe();
  });
}
