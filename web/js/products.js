// The Products tab: find and select products, choose the fields and
// settings, start a job, then review, apply, discard or revert its items.

import { api } from "./api.js";
import { wordDiff } from "./diff.js";
import { createJobView, jobList } from "./jobs.js";
import { createProductPicker } from "./picker.js";
import { $, $$, busy, debounce, errorNotice, fill, h, htmlToText, splitList } from "./ui.js";

const FIELDS = {
  name: "Name",
  description: "Description",
  seo_title: "SEO title",
  seo_description: "Meta description",
};
const ITEM_STATES = {
  pending: "Waiting",
  running: "Writing",
  ready: "Ready for review",
  applying: "Applying",
  applied: "Applied",
  reverting: "Reverting",
  reverted: "Reverted",
  failed: "Failed",
  conflict: "Changed in the store",
  discarded: "Discarded",
  cancelled: "Cancelled",
};

let context = null;
let picker = null;
let jobView = null;

export function init(ctx) {
  context = ctx;
  jobView = createJobView($("#products-job"), {
    basePath: "/api/product-jobs",
    noun: "product",
    states: ITEM_STATES,
    working: ["pending", "running", "applying", "reverting"],
    statusRegion: "#products-status",
    itemName: (item) => item.product_name || item.product_id,
    renderDetail,
    actions: [
      { path: "items/apply", label: "Apply", busyLabel: "Applying…", done: "Applied", states: ["ready", "reverted"], primary: true },
      { path: "items/discard", label: "Discard", busyLabel: "Discarding…", done: "Discarded", states: ["ready"] },
      { path: "items/revert", label: "Revert", busyLabel: "Reverting…", done: "Reverted", states: ["applied"] },
      { path: "items/regenerate", label: "Regenerate", busyLabel: "Starting…", done: "Regenerating", states: ["conflict", "failed", "discarded", "reverted"] },
    ],
    bulk: [
      { label: "Apply all ready", busyLabel: "Applying…", done: "Applied", path: "apply-ready", body: {}, count: (job) => job.counts.ready || 0, primary: true },
      { label: "Discard all ready", busyLabel: "Discarding…", done: "Discarded", path: "items/discard", body: { all_ready: true }, count: (job) => job.counts.ready || 0 },
      { label: "Revert all applied", busyLabel: "Reverting…", done: "Reverted", path: "items/revert", collect: "applied", count: (job) => job.counts.applied || 0 },
    ],
    onChange: () => {
      context.refreshMe();
      loadJobs();
    },
  });
  picker = createProductPicker($("#products-picker"), { prefix: "products", allMatching: true, onChange: updateCost });

  for (const input of $$("#products-settings input, #products-settings select")) {
    input.addEventListener("change", updateCost);
  }
  $("#products-settings").addEventListener("submit", (event) => {
    event.preventDefault();
    startJob();
  });

  ctx.live.on("generation", (change) => {
    if (change.kind === "product_job" || change.kind === "product") {
      jobView.change(change);
      loadJobsSoon();
    }
  });
  ctx.live.on("resync", (event) => jobView.resync(event.reason));
  loadJobs();
}

function selectedFields() {
  return $$('#products-settings input[name="fields"]:checked').map((input) => input.value);
}

function updateCost() {
  const { count } = picker.selection();
  const fields = selectedFields().length;
  const perField = context.me && context.me.costs ? context.me.costs.product_field : null;
  if (count === 0) {
    fill($("#products-cost"), "Select products to see what the job costs.");
  } else if (count === null || typeof perField !== "number") {
    fill($("#products-cost"), "Each field of each product costs credits, charged only when it is applied.");
  } else {
    fill(
      $("#products-cost"),
      `Up to ${count * fields * perField} credits (${count} product${count === 1 ? "" : "s"} × ${fields} field${fields === 1 ? "" : "s"} × ${perField}), charged only for items you apply.`,
    );
  }
}

function readSettings() {
  const request = {
    fields: selectedFields(),
    mode: $('#products-settings input[name="mode"]:checked').value,
    tone: $("#products-tone").value,
    language: $("#products-language").value,
    keywords: splitList($("#products-keywords").value),
    only_fill_empty: $("#products-only-empty").checked,
    max_lengths: {},
  };
  if (!request.tone) delete request.tone;
  if (!request.language) delete request.language;
  const instructions = $("#products-instructions").value.trim();
  if (instructions) request.instructions = instructions;
  for (const field of Object.keys(FIELDS)) {
    const value = $(`#products-max-${field}`).value;
    if (value) request.max_lengths[field] = Number(value);
  }
  const selection = picker.selection();
  if (selection.all) {
    request.all = true;
    if (selection.search) request.search = selection.search;
    if (selection.collection_id) request.collection_id = selection.collection_id;
  } else {
    request.product_ids = selection.ids;
  }
  return request;
}

async function startJob() {
  const slot = $("#products-start-error");
  fill(slot);
  const request = readSettings();
  if (!request.all && request.product_ids.length === 0) {
    fill(slot, h("div", { class: "notice notice-error", role: "alert" }, h("strong", {}, "No products selected."), h("p", {}, "Tick at least one product in the list, or choose all products matching the search.")));
    return;
  }
  if (request.fields.length === 0) {
    fill(slot, h("div", { class: "notice notice-error", role: "alert" }, h("strong", {}, "No fields chosen."), h("p", {}, "Tick at least one field to rewrite.")));
    return;
  }
  await busy($("#products-start"), "Starting…", async () => {
    try {
      const job = await api("POST", "/api/product-jobs", request);
      picker.clear();
      await jobView.open(job);
      context.refreshMe();
      loadJobs();
    } catch (error) {
      fill(slot, errorNotice(error));
    }
  });
}

// The before and after of each field, changed words marked.
function renderDetail(item) {
  const fields = item.fields || Object.keys(item.after || {});
  return h(
    "dl",
    { class: "compare" },
    fields.map((field) => {
      const before = item.before ? item.before[field] : null;
      const after = item.after ? item.after[field] : null;
      const isHtml = field === "description";
      const oldText = isHtml ? htmlToText(before) : before || "";
      const newText = isHtml ? htmlToText(after) : after || "";
      const diff = wordDiff(oldText, newText);
      const shortened = Array.isArray(item.shortened) && item.shortened.includes(field);
      return [
        h("dt", {}, FIELDS[field] || field, shortened ? h("span", { class: "muted" }, " (shortened to fit)") : null),
        h(
          "dd",
          { class: "compare-row" },
          h("div", { class: "compare-side" }, h("span", { class: "compare-label" }, "Before"), h("p", { class: "compare-text" }, oldText ? diff.before : h("em", { class: "muted" }, "(empty)"))),
          h(
            "div",
            { class: "compare-side" },
            h("span", { class: "compare-label" }, "After"),
            after === null || after === undefined
              ? h("p", { class: "muted" }, item.state === "pending" || item.state === "running" ? "Being written…" : "No new text.")
              : h("p", { class: "compare-text" }, newText ? diff.after : h("em", { class: "muted" }, "(empty)")),
          ),
        ),
      ];
    }),
  );
}

// A job's listed state follows its items, so any item change reloads it.
const loadJobsSoon = debounce(() => loadJobs(), 1000);

async function loadJobs() {
  try {
    const { jobs } = await api("GET", "/api/product-jobs?limit=10");
    if (jobs.length === 0) {
      fill($("#products-jobs"), h("p", { class: "muted" }, "No jobs yet."));
      return;
    }
    fill(
      $("#products-jobs"),
      jobList(
        jobs,
        (job) => `${job.total} product${job.total === 1 ? "" : "s"}: ${(job.fields || []).map((f) => FIELDS[f] || f).join(", ")}`,
        (id) => jobView.open(id),
      ),
    );
  } catch (error) {
    fill($("#products-jobs"), errorNotice(error));
  }
}

