// The view of one product or image job: progress, per-item states, the
// before and after of each item, and the actions on one, some or all
// items. The Products and Images tabs configure it.

import { api } from "./api.js";
import { $, badge, busy, debounce, errorNotice, failureNotice, fill, formatTime, h, progressBar, toast } from "./ui.js";

const PAGE = 100;
const TONES = {
  pending: "neutral",
  running: "busy",
  ready: "warn",
  applying: "busy",
  applied: "good",
  reverting: "busy",
  reverted: "neutral",
  restoring: "busy",
  restored: "neutral",
  failed: "bad",
  conflict: "bad",
  discarded: "neutral",
  cancelled: "neutral",
};

// The badge for a job's state as the API shows it.
export function jobStateBadge(job) {
  if (job.state === "done") return badge("Finished", "good");
  if (job.state === "cancelled") return badge("Cancelled", "neutral");
  return badge("In progress", "busy");
}

// A list of recent jobs: title(job) names each, open(id) shows one.
export function jobList(jobs, title, open) {
  return h(
    "ul",
    { class: "history" },
    jobs.map((job) =>
      h(
        "li",
        { class: "history-row" },
        h(
          "div",
          { class: "history-main" },
          h("span", { class: "history-title" }, title(job)),
          h("span", { class: "muted" }, formatTime(job.created_at)),
        ),
        jobStateBadge(job),
        h("button", { type: "button", class: "tertiary small", onclick: () => open(job.id) }, "Open"),
      ),
    ),
  );
}

// Creates a job view in root. config:
//   basePath     "/api/product-jobs"
//   noun         "product" or "image", for labels
//   states       {state: plain label}, in display order
//   working      states still being processed (no final result yet)
//   actions      [{path, label, busyLabel, states, done}]: per item
//   bulk         [{label, busyLabel, path, body, count(job), collect}]
//   itemName(item), renderDetail(item), onChange()
export function createJobView(root, config) {
  let job = null;
  let items = [];
  let nextCursor = null;
  const expanded = new Set();
  const selected = new Set();
  let lastSummary = "";

  const itemsPath = () => `${config.basePath}/${encodeURIComponent(job.id)}/items`;

  function working(counts) {
    return config.working.reduce((sum, state) => sum + (counts[state] || 0), 0);
  }

  function summary() {
    const counts = job.counts || {};
    const parts = [];
    for (const [state, label] of Object.entries(config.states)) {
      if (counts[state]) parts.push(`${counts[state]} ${label.toLowerCase()}`);
    }
    return `${job.total} ${config.noun}${job.total === 1 ? "" : "s"}: ${parts.join(", ") || "nothing yet"}.`;
  }

  function showError(error) {
    const slot = root.querySelector(".job-error");
    if (slot) fill(slot, errorNotice(error));
  }

  async function runAction(button, action, ids, body) {
    await busy(button, action.busyLabel, async () => {
      try {
        const result = await api("POST", `${config.basePath}/${encodeURIComponent(job.id)}/${action.path}`, body || { item_ids: ids });
        const accepted = result && result.accepted ? result.accepted.length : 0;
        const skipped = result && result.skipped ? result.skipped : [];
        toast(`${action.done}: ${accepted} item${accepted === 1 ? "" : "s"}.`);
        if (skipped.length) {
          toast(`${skipped.length} skipped: ${skipped[0].reason || skipped[0].state}.`, "warn");
        }
        for (const id of ids || []) selected.delete(id);
        fill(root.querySelector(".job-error"));
      } catch (error) {
        showError(error);
      }
    });
    await refresh();
    if (config.onChange) config.onChange();
  }

  // Every item id in state, across all pages.
  async function collect(state) {
    const ids = [];
    let cursor = null;
    do {
      const query = `?state=${encodeURIComponent(state)}&limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await api("GET", `${itemsPath()}${query}`);
      ids.push(...page.items.map((item) => item.id));
      cursor = page.next_cursor;
    } while (cursor);
    return ids;
  }

  async function runBulk(button, bulk) {
    if (bulk.collect) {
      let ids;
      try {
        ids = await collect(bulk.collect);
      } catch (error) {
        showError(error);
        return;
      }
      if (ids.length === 0) return;
      await runAction(button, bulk, ids);
    } else {
      await runAction(button, bulk, null, bulk.body || {});
    }
  }

  async function cancel(button) {
    await busy(button, "Cancelling…", async () => {
      try {
        job = await api("POST", `${config.basePath}/${encodeURIComponent(job.id)}/cancel`);
        toast("Job cancelled. Waiting items were released.");
      } catch (error) {
        showError(error);
      }
    });
    await refresh();
    if (config.onChange) config.onChange();
  }

  function itemActions(item) {
    return config.actions
      .filter((action) => action.states.includes(item.state))
      .map((action) =>
        h(
          "button",
          {
            type: "button",
            class: action.primary ? "primary small" : "secondary small",
            "aria-label": `${action.label}: ${config.itemName(item)}`,
            dataset: { focus: action.path },
            onclick: (event) => runAction(event.currentTarget, action, [item.id]),
          },
          action.label,
        ),
      );
  }

  function itemRow(item) {
    const detailId = `detail-${item.id}`;
    const open = expanded.has(item.id);
    const name = config.itemName(item);
    const detail = h("div", { class: "item-detail", id: detailId, hidden: !open }, open ? config.renderDetail(item) : null);
    return h(
      "li",
      { class: "item", dataset: { id: item.id, state: item.state } },
      h(
        "div",
        { class: "item-head" },
        h("input", {
          type: "checkbox",
          class: "item-select",
          "aria-label": `Select ${name}`,
          dataset: { focus: "select" },
          checked: selected.has(item.id),
          onchange: (event) => {
            if (event.currentTarget.checked) selected.add(item.id);
            else selected.delete(item.id);
            renderSelection();
          },
        }),
        h("span", { class: "item-name" }, name),
        badge(config.states[item.state] || item.state, TONES[item.state] || "neutral"),
        h(
          "span",
          { class: "item-actions" },
          itemActions(item),
          h(
            "button",
            {
              type: "button",
              class: "tertiary small",
              dataset: { focus: "toggle" },
              "aria-expanded": open ? "true" : "false",
              "aria-controls": detailId,
              onclick: () => {
                if (expanded.has(item.id)) expanded.delete(item.id);
                else expanded.add(item.id);
                render();
              },
            },
            open ? "Hide changes" : "Show changes",
          ),
        ),
      ),
      item.error ? failureNotice(item.error, !item.credits_charged) : null,
      detail,
    );
  }

  function renderSelection() {
    const bar = root.querySelector(".selection-bar");
    if (!bar) return;
    const chosen = items.filter((item) => selected.has(item.id));
    if (chosen.length === 0) {
      fill(bar, h("span", { class: "muted" }, "Tick items to act on several at once."));
      return;
    }
    fill(
      bar,
      h("span", { class: "muted" }, `${chosen.length} selected`),
      config.actions.map((action) => {
        const ids = chosen.filter((item) => action.states.includes(item.state)).map((item) => item.id);
        return h(
          "button",
          {
            type: "button",
            class: "secondary small",
            disabled: ids.length === 0,
            onclick: (event) => runAction(event.currentTarget, action, ids),
          },
          `${action.label} selected (${ids.length})`,
        );
      }),
    );
  }

  function render() {
    if (!job) {
      root.hidden = true;
      return;
    }
    const counts = job.counts || {};
    const total = job.total || 0;
    const busyCount = working(counts);
    const text = summary();
    const focus = focusKey();
    root.hidden = false;
    fill(
      root,
      h(
        "div",
        { class: "job-head" },
        h("h3", { class: "job-title", tabindex: "-1" }, `Job of ${total} ${config.noun}${total === 1 ? "" : "s"}`),
        jobStateBadge(job),
        h("span", { class: "muted" }, `Started ${formatTime(job.created_at)}${job.mode ? ` · ${job.mode === "auto" ? "applied automatically" : "review before applying"}` : ""}`),
      ),
      progressBar(total - busyCount, total, "Job progress"),
      h("p", { class: "job-summary" }, text),
      h(
        "div",
        { class: "toolbar" },
        config.bulk.map((bulk) => {
          const count = bulk.count(job);
          return h(
            "button",
            {
              type: "button",
              class: bulk.primary ? "primary" : "secondary",
              dataset: { focus: `bulk-${bulk.label}` },
              disabled: count === 0,
              onclick: (event) => runBulk(event.currentTarget, bulk),
            },
            `${bulk.label} (${count})`,
          );
        }),
        job.state === "running" && (counts.pending || 0) > 0
          ? h("button", { type: "button", class: "tertiary", onclick: (event) => cancel(event.currentTarget) }, "Cancel job")
          : null,
      ),
      h("div", { class: "job-error" }),
      h("div", { class: "selection-bar toolbar" }),
      h("ul", { class: "items", "aria-label": `${config.noun} items` }, items.map(itemRow)),
      nextCursor
        ? h("button", { type: "button", class: "secondary", onclick: () => loadMore() }, "Load more items")
        : null,
    );
    renderSelection();
    if (text !== lastSummary) {
      lastSummary = text;
      fill($(config.statusRegion), text);
    }
    restoreFocus(focus);
  }

  // Returns which control has the focus, so that a re-render can give it
  // back: the item's id (or "") and the control's data-focus name.
  function focusKey() {
    const active = document.activeElement;
    if (!active || !root.contains(active) || !active.dataset.focus) return null;
    const item = active.closest(".item");
    return { item: item ? item.dataset.id : "", name: active.dataset.focus };
  }

  function restoreFocus(key) {
    if (!key) return;
    const scope = key.item ? root.querySelector(`.item[data-id="${CSS.escape(key.item)}"]`) : root;
    const control = scope && scope.querySelector(`[data-focus="${CSS.escape(key.name)}"]`);
    if (control && !control.disabled) control.focus();
  }

  async function loadItems(count) {
    let loaded = [];
    let cursor = null;
    do {
      const limit = Math.min(PAGE, Math.max(1, count - loaded.length));
      const page = await api("GET", `${itemsPath()}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      loaded = loaded.concat(page.items);
      cursor = page.next_cursor;
    } while (cursor && loaded.length < count);
    return { loaded, cursor };
  }

  async function refresh() {
    if (!job) return;
    const id = job.id;
    try {
      const fresh = await api("GET", `${config.basePath}/${encodeURIComponent(id)}`);
      const { loaded, cursor } = await loadItems(Math.max(items.length, 20));
      if (!job || job.id !== id) return;
      job = fresh;
      items = loaded;
      nextCursor = cursor;
      render();
    } catch (error) {
      showError(error);
    }
  }

  async function loadMore() {
    try {
      const { loaded, cursor } = await loadItems(items.length + 50);
      items = loaded;
      nextCursor = cursor;
      render();
    } catch (error) {
      showError(error);
    }
  }

  const refreshSoon = debounce(refresh, 250);

  return {
    async open(jobOrId) {
      const id = typeof jobOrId === "string" ? jobOrId : jobOrId.id;
      job = typeof jobOrId === "string" ? { id, counts: {}, total: 0, state: "running" } : jobOrId;
      items = [];
      nextCursor = null;
      expanded.clear();
      selected.clear();
      lastSummary = "";
      await refresh();
      const heading = root.querySelector(".job-title");
      if (heading) heading.focus();
    },
    // A live change: refresh when it is this job or one of its items.
    change(change) {
      if (job && (change.id === job.id || change.parent_id === job.id)) refreshSoon();
    },
    // A resync: refresh while anything is still being processed.
    resync(reason) {
      if (!job) return;
      if (reason !== "poll" || job.state === "running") refreshSoon();
    },
    current() {
      return job;
    },
  };
}
