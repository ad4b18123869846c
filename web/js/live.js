// Live updates: Server-Sent Events from GET /api/events, with polling as
// the fallback when the browser has no EventSource or the stream fails.
//
// Listeners get "generation" ({id, kind, parent_id, state, updated_at}),
// "credits" ({credits, reserved}) and "resync" ({reason}) events. While
// polling, a "resync" comes every POLL_MS and each tab fetches what it
// shows that is still in progress.

import { getInstance } from "./api.js";

const POLL_MS = 3000;
// After this many failed connections in a row, poll instead.
const STREAM_FAILURES_MAX = 3;
// How often polling tries the stream again.
const STREAM_RETRY_MS = 60000;

const listeners = { generation: [], credits: [], resync: [], mode: [] };
let source = null;
let failures = 0;
let pollTimer = null;
let retryTimer = null;
let mode = "connecting";

export function on(type, listener) {
  listeners[type].push(listener);
}

export function currentMode() {
  return mode;
}

function emit(type, data) {
  for (const listener of listeners[type]) {
    try {
      listener(data);
    } catch (error) {
      console.error(`live ${type} listener failed`, error);
    }
  }
}

function setMode(next) {
  if (mode === next) return;
  mode = next;
  emit("mode", next);
}

function startPolling() {
  setMode("polling");
  if (pollTimer) return;
  pollTimer = setInterval(() => emit("resync", { reason: "poll" }), POLL_MS);
  if (window.EventSource && !retryTimer) {
    retryTimer = setTimeout(() => {
      retryTimer = null;
      failures = 0;
      connect();
    }, STREAM_RETRY_MS);
  }
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

function connect() {
  if (source) source.close();
  const url = `/api/events?instance=${encodeURIComponent(getInstance())}`;
  source = new EventSource(url);
  source.addEventListener("ready", () => {
    failures = 0;
    stopPolling();
    clearTimeout(retryTimer);
    retryTimer = null;
    setMode("stream");
    // Whatever happened while the stream was down is fetched now.
    emit("resync", { reason: "connected" });
  });
  for (const type of ["generation", "credits", "resync"]) {
    source.addEventListener(type, (event) => {
      const data = parse(event);
      if (data) emit(type, data);
    });
  }
  source.addEventListener("error", () => {
    // EventSource reconnects by itself unless the server refused the
    // stream (readyState CLOSED). Poll meanwhile so nothing is missed.
    failures += 1;
    if (source.readyState === EventSource.CLOSED || failures >= STREAM_FAILURES_MAX) {
      source.close();
      source = null;
    }
    startPolling();
  });
}

// Starts updates: the stream when the browser has EventSource, else polling.
export function start() {
  if (window.EventSource) {
    setMode("connecting");
    connect();
  } else {
    startPolling();
  }
}
