// The Images tab: pick product images, choose an operation and output
// settings, follow the job, compare before and after, apply or restore.
//
// It uses /api/image-jobs. On a server without the Image Optimizer that
// route answers 404, and the tab says so instead of failing on each call.

import { api, apiBlob } from "./api.js";
import { createJobView, jobList } from "./jobs.js";
import { createProductPicker } from "./picker.js";
import { $, $$, busy, debounce, errorNotice, fill, formatBytes, h } from "./ui.js";

const BASE = "/api/image-jobs";
const ITEM_STATES = {
  pending: "Waiting",
  processing: "Processing",
  ready: "Ready for review",
  skipped_larger: "Not smaller than the original",
  applying: "Applying",
  applied: "Applied",
  restoring: "Restoring",
  restored: "Restored",
  failed: "Failed",
  discarded: "Discarded",
  cancelled: "Cancelled",
};
const OPERATIONS = {
  edit: "AI edit",
  remove_background: "Remove background",
  upscale: "Upscale",
  compress: "Compress only",
};

let context = null;
let picker = null;
let jobView = null;
// Object URLs of fetched images, by "item id/side/updated_at".
const imageUrls = new Map();

export async function init(ctx) {
  context = ctx;
  let jobs;
  try {
    jobs = (await api("GET", `${BASE}?limit=10`)).jobs || [];
  } catch (error) {
    if (error.status === 404) {
      showUnavailable();
      return;
    }
    fill($("#images-jobs"), errorNotice(error));
    jobs = [];
  }
  $("#images-available").hidden = false;
  jobView = createJobView($("#images-job"), {
    basePath: BASE,
    noun: "image",
    states: ITEM_STATES,
    working: ["pending", "processing", "applying", "restoring"],
    statusRegion: "#images-status",
    itemName: (item) => item.product_name || item.product_id || item.id,
    renderDetail,
    actions: [
      { path: "items/apply", label: "Apply", busyLabel: "Applying…", done: "Applied", states: ["ready", "restored"], primary: true },
      { path: "items/discard", label: "Discard", busyLabel: "Discarding…", done: "Discarded", states: ["ready"] },
      { path: "items/restore", label: "Restore original", busyLabel: "Restoring…", done: "Restored", states: ["applied"] },
    ],
    bulk: [
      { label: "Apply all ready", busyLabel: "Applying…", done: "Applied", path: "apply-ready", body: {}, count: (job) => (job.counts || {}).ready || 0, primary: true },
      { label: "Discard all ready", busyLabel: "Discarding…", done: "Discarded", path: "items/discard", body: { all_ready: true }, count: (job) => (job.counts || {}).ready || 0 },
      { label: "Restore all applied", busyLabel: "Restoring…", done: "Restored", path: "items/restore", collect: "applied", count: (job) => (job.counts || {}).applied || 0 },
    ],
    onChange: () => {
      context.refreshMe();
      loadJobs();
    },
  });
  picker = createProductPicker($("#images-picker"), { prefix: "images", allMatching: false, onChange: updateCost });
  for (const input of $$("#images-settings input, #images-settings select")) {
    input.addEventListener("change", () => {
      showOperationFields();
      updateCost();
    });
  }
  $("#images-settings").addEventListener("submit", (event) => {
    event.preventDefault();
    startJob();
  });
  showOperationFields();
  ctx.live.on("generation", (change) => {
    if (change.kind === "image_job" || change.kind === "image") {
      jobView.change(change);
      loadJobsSoon();
    }
  });
  ctx.live.on("resync", (event) => jobView.resync(event.reason));
  renderJobs(jobs);
}

function showUnavailable() {
  $("#images-available").hidden = true;
  fill(
    $("#images-unavailable"),
    h(
      "div",
      { class: "notice notice-info", role: "status" },
      h("strong", {}, "The Image Optimizer isn't available yet."),
      h("p", {}, "This sitesmith server doesn't offer image jobs. The Blog and Products tools work as usual; image jobs will appear here once the server is updated."),
    ),
  );
}

function operation() {
  return $('#images-settings input[name="operation"]:checked').value;
}

function showOperationFields() {
  $("#images-instruction-field").hidden = operation() !== "edit";
  $("#images-scale-field").hidden = operation() !== "upscale";
}

function updateCost() {
  const { count } = picker.selection();
  const perImage = context.me && context.me.costs ? context.me.costs.image : null;
  const which = $('#images-settings input[name="images"]:checked').value;
  if (count === 0) {
    fill($("#images-cost"), "Select products to see what the job costs.");
    return;
  }
  if (typeof perImage !== "number") {
    fill($("#images-cost"), "Each image costs credits, charged only when it succeeds.");
    return;
  }
  fill(
    $("#images-cost"),
    which === "main"
      ? `Up to ${count * perImage} credits (${count} image${count === 1 ? "" : "s"} × ${perImage}), charged only for images that succeed.`
      : `${perImage} credits per image, charged only for images that succeed.`,
  );
}

function readSettings() {
  const request = {
    product_ids: picker.selection().ids,
    operation: operation(),
    mode: $('#images-settings input[name="images-mode"]:checked').value,
    format: $("#images-format").value,
    quality: Number($("#images-quality").value),
  };
  for (const [name, id] of [["max_width", "#images-max-width"], ["max_height", "#images-max-height"]]) {
    const value = $(id).value;
    if (value) request[name] = Number(value);
  }
  if (request.operation === "edit") request.instruction = $("#images-instruction").value.trim();
  if (request.operation === "upscale") request.scale = Number($("#images-scale").value);
  return request;
}

// The first image of each product, from its media list.
async function mainImageIds(productIds) {
  const lists = await Promise.all(
    productIds.map((id) => api("GET", `/api/products/${encodeURIComponent(id)}/media`)),
  );
  return lists
    .map((list) => (list.media || []).find((media) => !media.media_type || media.media_type === "image"))
    .filter(Boolean)
    .map((media) => media.id);
}

async function startJob() {
  const slot = $("#images-start-error");
  fill(slot);
  const request = readSettings();
  if (request.product_ids.length === 0) {
    fill(slot, h("div", { class: "notice notice-error", role: "alert" }, h("strong", {}, "No products selected."), h("p", {}, "Tick the products whose images you want to improve.")));
    return;
  }
  if (request.operation === "edit" && !request.instruction) {
    fill(slot, h("div", { class: "notice notice-error", role: "alert" }, h("strong", {}, "The AI edit needs an instruction."), h("p", {}, 'Describe the change, for example "white studio background, soft shadow".')));
    $("#images-instruction").focus();
    return;
  }
  await busy($("#images-start"), "Starting…", async () => {
    try {
      if ($('#images-settings input[name="images"]:checked').value === "main") {
        request.media_ids = await mainImageIds(request.product_ids);
      }
      const job = await api("POST", BASE, request);
      picker.clear();
      await jobView.open(job);
      context.refreshMe();
      loadJobs();
    } catch (error) {
      fill(slot, errorNotice(error));
    }
  });
}

// An <img> whose bytes come from the API (which needs the instance
// header, so a plain src can't load them).
function apiImage(item, side, alt) {
  const key = `${item.id}/${side}/${item.updated_at}`;
  const img = h("img", { class: "compare-image", alt });
  const cached = imageUrls.get(key);
  if (cached) {
    img.src = cached;
    return img;
  }
  apiBlob(`${BASE}/${encodeURIComponent(item.job_id)}/items/${encodeURIComponent(item.id)}/${side}`)
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      imageUrls.set(key, url);
      img.src = url;
    })
    .catch((error) => img.replaceWith(errorNotice(error)));
  return img;
}

function sizeLine(info) {
  if (!info) return "";
  const parts = [];
  if (info.width && info.height) parts.push(`${info.width} × ${info.height}`);
  if (typeof info.bytes === "number") parts.push(formatBytes(info.bytes));
  const type = info.content_type || info.format;
  if (type) parts.push(String(type).replace("image/", "").toUpperCase());
  return parts.join(" · ");
}

function renderDetail(item) {
  const name = item.product_name || "the product";
  const before = item.before || null;
  const after = item.after || null;
  let saving = null;
  if (before && after && typeof before.bytes === "number" && typeof after.bytes === "number" && before.bytes > 0) {
    const change = Math.round((100 * (after.bytes - before.bytes)) / before.bytes);
    saving = change <= 0 ? `${-change}% smaller` : `${change}% larger`;
  }
  return h(
    "div",
    { class: "compare-images" },
    h(
      "figure",
      {},
      apiImage(item, "before", `Original image of ${name}`),
      h("figcaption", {}, h("strong", {}, "Before"), " ", sizeLine(before)),
    ),
    h(
      "figure",
      {},
      after ? apiImage(item, "after", `New image of ${name}`) : h("div", { class: "compare-placeholder" }, item.state === "failed" ? "No result." : "Being processed…"),
      h("figcaption", {}, h("strong", {}, "After"), " ", sizeLine(after), saving ? h("span", { class: "muted" }, ` (${saving})`) : null),
    ),
  );
}

function renderJobs(jobs) {
  if (jobs.length === 0) {
    fill($("#images-jobs"), h("p", { class: "muted" }, "No image jobs yet."));
    return;
  }
  fill(
    $("#images-jobs"),
    jobList(
      jobs,
      (job) => `${job.total} image${job.total === 1 ? "" : "s"}: ${OPERATIONS[job.operation] || job.operation || ""}`,
      (id) => jobView.open(id),
    ),
  );
}

// A job's listed state follows its items, so any item change reloads it.
const loadJobsSoon = debounce(() => loadJobs(), 1000);

async function loadJobs() {
  try {
    renderJobs((await api("GET", `${BASE}?limit=10`)).jobs || []);
  } catch (error) {
    fill($("#images-jobs"), errorNotice(error));
  }
}
