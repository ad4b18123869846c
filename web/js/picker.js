// A product picker: search, collection filter, a paged list with
// thumbnails and checkboxes, and optionally "all products matching this
// search". The Products and Images tabs each have one.

import { api } from "./api.js";
import { badge, debounce, errorNotice, fill, h } from "./ui.js";

const PAGE = 25;

// Builds the picker in root. prefix makes its element ids unique;
// allMatching offers the "all matching" choice; onChange runs whenever
// the selection changes.
export function createProductPicker(root, { prefix, allMatching, onChange }) {
  let products = [];
  let nextCursor = null;
  let total = null;
  const chosen = new Map(); // product id -> product

  const searchInput = h("input", { id: `${prefix}-query`, type: "search", autocomplete: "off", placeholder: "Name of a product" });
  const collection = h("select", { id: `${prefix}-collection` }, h("option", { value: "" }, "All collections"));
  const pageAll = h("input", { type: "checkbox", id: `${prefix}-page-all` });
  const allBox = h("input", { type: "checkbox", id: `${prefix}-all-matching` });
  const allLabel = h("span", {}, "All products matching this search");
  const count = h("span", { class: "muted", "aria-live": "polite" }, "0 selected");
  const list = h("div", { class: "product-list" });
  const error = h("div", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more products");

  fill(
    root,
    h(
      "form",
      { class: "field-row", role: "search", onsubmit: (event) => { event.preventDefault(); reload(); } },
      h("div", { class: "field grow" }, h("label", { for: searchInput.id }, "Search products"), searchInput),
      h("div", { class: "field" }, h("label", { for: collection.id }, "Collection"), collection),
    ),
    h("div", { class: "toolbar" }, h("label", { class: "checkbox" }, pageAll, " Select all shown"), count),
    error,
    list,
    more,
    allMatching ? h("label", { class: "checkbox all-matching" }, allBox, " ", allLabel) : null,
  );

  function changed() {
    fill(count, allBox.checked ? "All matching products selected" : `${chosen.size} selected`);
    if (onChange) onChange();
  }

  function row(product) {
    const id = `${prefix}-product-${product.id}`;
    return h(
      "li",
      { class: "product" },
      h("input", {
        type: "checkbox",
        id,
        checked: chosen.has(product.id),
        onchange: (event) => {
          if (event.currentTarget.checked) chosen.set(product.id, product);
          else chosen.delete(product.id);
          changed();
        },
      }),
      h(
        "label",
        { for: id },
        product.image_url
          ? h("img", { class: "thumb", src: product.image_url, alt: "", loading: "lazy", width: 40, height: 40 })
          : h("span", { class: "thumb thumb-empty", "aria-hidden": "true" }),
        h("span", { class: "product-name" }, product.name || "(no name)"),
        h("span", { class: "muted product-price" }, product.price || ""),
        product.visible === false ? badge("Hidden", "neutral") : null,
      ),
    );
  }

  function render(failed = false) {
    let content = h("ul", { class: "products", "aria-label": "Products" }, products.map(row));
    if (products.length === 0) {
      content = failed
        ? h("p", { class: "muted" }, "The products could not be loaded.")
        : h("p", { class: "muted" }, "No products match.");
    }
    fill(list, content);
    more.hidden = !nextCursor;
    let text = "All products matching this search";
    if (total === 1) text = "The 1 product matching this search";
    else if (total !== null) text = `All ${total} products matching this search`;
    fill(allLabel, text);
    changed();
  }

  async function load(append) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    const query = searchInput.value.trim();
    if (query) params.set("search", query);
    if (collection.value) params.set("collection_id", collection.value);
    if (append && nextCursor) params.set("cursor", nextCursor);
    fill(error);
    list.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `/api/products?${params}`);
      products = append ? products.concat(page.products) : page.products;
      nextCursor = page.next_cursor;
      total = typeof page.total === "number" ? page.total : null;
      render();
    } catch (failure) {
      fill(
        error,
        errorNotice(failure),
        h("button", { type: "button", class: "secondary small", onclick: () => load(append) }, "Try again"),
      );
      if (!append) {
        products = [];
        nextCursor = null;
        render(true);
      }
    } finally {
      list.removeAttribute("aria-busy");
    }
  }

  function reload() {
    chosen.clear();
    pageAll.checked = false;
    allBox.checked = false;
    load(false);
  }

  async function loadCollections() {
    try {
      const { collections } = await api("GET", "/api/products/collections");
      fill(collection, h("option", { value: "" }, "All collections"),
        collections.map((item) => h("option", { value: item.id }, item.name)));
    } catch (failure) {
      // Catalog V3 has no collection filter here; the search still works.
      collection.disabled = true;
      if (failure.status !== 400) fill(error, errorNotice(failure));
    }
  }

  searchInput.addEventListener("input", debounce(reload, 350));
  collection.addEventListener("change", reload);
  more.addEventListener("click", () => load(true));
  allBox.addEventListener("change", changed);
  pageAll.addEventListener("change", () => {
    for (const product of products) {
      if (pageAll.checked) chosen.set(product.id, product);
      else chosen.delete(product.id);
    }
    render();
  });

  loadCollections();
  load(false);

  return {
    // {all, search, collection_id, ids, count}: count is null when all
    // matching products are chosen and the store did not say how many.
    selection() {
      if (allBox.checked) {
        return {
          all: true,
          search: searchInput.value.trim() || undefined,
          collection_id: collection.value || undefined,
          ids: [],
          count: total,
        };
      }
      return { all: false, ids: Array.from(chosen.keys()), count: chosen.size };
    },
    clear() {
      chosen.clear();
      allBox.checked = false;
      pageAll.checked = false;
      render();
    },
  };
}
