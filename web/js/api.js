// Calls to sitesmith's HTTP API (docs/openapi.yaml) and the plain-words
// explanation of every error it can return.
//
// The Wix dashboard opens this page with a signed `instance` query
// parameter. It is read once, kept in memory and sent as X-Wix-Instance on
// every call; the server verifies it and never trusts anything else.

const instance = new URLSearchParams(window.location.search).get("instance");

export function getInstance() {
  return instance && instance.length > 0 ? instance : null;
}

// An API error: status 0 means the server could not be reached.
export class ApiError extends Error {
  constructor(status, body, requestId, retryAfter) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.field = error.field || "";
    this.balance = error.balance;
    this.cost = error.cost;
    this.requestId = requestId || "";
    this.retryAfter = retryAfter;
  }
}

// Listeners called on every 401, so the page can show one clear banner.
const unauthorizedListeners = [];
export function onUnauthorized(listener) {
  unauthorizedListeners.push(listener);
}

// Sends one request and returns the parsed JSON body. Throws ApiError.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (instance) headers["X-Wix-Instance"] = instance;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (cause) {
    throw new ApiError(0, { error: { code: "network", message: String(cause) } });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      parsed,
      response.headers.get("X-Request-Id"),
      Number(response.headers.get("Retry-After")) || undefined,
    );
    if (response.status === 401) {
      for (const listener of unauthorizedListeners) listener(error);
    }
    throw error;
  }
  return parsed;
}

// Fetches bytes (an image the API serves) with the instance header and
// returns a Blob. Throws ApiError like api().
export async function apiBlob(path) {
  const headers = {};
  if (instance) headers["X-Wix-Instance"] = instance;
  let response;
  try {
    response = await fetch(path, { headers, credentials: "omit", cache: "no-store" });
  } catch (cause) {
    throw new ApiError(0, { error: { code: "network", message: String(cause) } });
  }
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    throw new ApiError(response.status, parsed, response.headers.get("X-Request-Id"));
  }
  return response.blob();
}

const FIELD_NAMES = {
  topic: "Topic",
  keywords: "Keywords",
  tone: "Tone",
  language: "Language",
  product_ids: "Products",
  fields: "Fields to rewrite",
  max_lengths: "Maximum lengths",
  instructions: "Instructions",
  item_ids: "Selected items",
  operation: "Operation",
  instruction: "Instruction",
  format: "Format",
  quality: "Quality",
};

// Turns an error into {title, detail, action}: what happened, the
// server's own words, and what the owner can do about it.
export function explain(error) {
  const detail = error.message || "";
  const support = error.requestId
    ? ` If it keeps happening, contact support and mention request ${error.requestId}.`
    : "";
  switch (error.status) {
    case 0:
      return {
        title: "sitesmith can't be reached.",
        detail: "",
        action: "Check your internet connection and try again in a moment.",
      };
    case 400: {
      const field = FIELD_NAMES[error.field] || error.field;
      return {
        title: field ? `Please check "${field}".` : "Something in the request isn't valid.",
        detail,
        action: "Correct it and try again.",
      };
    }
    case 401:
      return {
        title: "Your session with sitesmith isn't valid.",
        detail,
        action: "Open sitesmith again from your Wix dashboard (Apps › sitesmith).",
      };
    case 402: {
      const numbers =
        typeof error.cost === "number" && typeof error.balance === "number"
          ? `This needs ${error.cost} credits and you have ${error.balance}. `
          : "";
      return {
        title: "You don't have enough credits.",
        detail: "",
        action: `${numbers}Choose fewer items, or add credits by upgrading your plan in the Wix dashboard.`,
      };
    }
    case 403:
      return {
        title: "sitesmith isn't allowed to do this on your site.",
        detail,
        action: "Check the app's permissions in your Wix dashboard, or reinstall the app.",
      };
    case 404:
      return {
        title: "It wasn't found.",
        detail,
        action: "It may have been removed. Reload the page to see the current state.",
      };
    case 409:
      return {
        title: "That can't be done in its current state.",
        detail,
        action: "The page has been refreshed; check the current state and try again.",
      };
    case 413:
      return {
        title: "The request is too large.",
        detail,
        action: "Select fewer items and try again.",
      };
    case 429:
      return {
        title: "Too many requests right now.",
        detail,
        action: `Wait ${error.retryAfter || 30} seconds and try again.`,
      };
    case 502:
    case 503:
    case 504:
      return {
        title: "A service sitesmith depends on is busy or unavailable.",
        detail,
        action: `Try again in a minute.${support}`,
      };
    default:
      return {
        title: "Something went wrong on sitesmith's side.",
        detail,
        action: `Try again.${support}`,
      };
  }
}
