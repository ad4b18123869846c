// Starts sitesmith-sandbox for a test file, drives its control API, and
// points every fetch in this process at it.
//
// The official clients take a base URL, except @wix/sdk 1.21.16, which
// hard-codes https://www.wixapis.com for its token calls and builds resource
// URLs as https://<host>. So the test process replaces globalThis.fetch:
// requests for the real API hosts are rewritten to the sandbox on
// 127.0.0.1, loopback requests pass through, and any other host throws
// before a byte leaves the machine.

import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import readline from "node:readline";

export const APP_ID = "fidelity-app-id";
export const APP_SECRET = "fidelity-app-secret-0123456789";

// Real API origins and where they live on the sandbox.
const HOST_MAP = [
  ["https://www.wixapis.com", "/wix"],
  ["https://api.openai.com/v1", "/openai/v1"],
  ["https://api.replicate.com/v1", "/replicate/v1"],
];

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

function sandboxBinary() {
  const buildDir = process.env.SITESMITH_BUILD_DIR;
  if (!buildDir) {
    throw new Error(
      "SITESMITH_BUILD_DIR is not set: point it at the CMake build folder " +
        "that holds sitesmith-sandbox",
    );
  }
  return path.join(buildDir, "sitesmith-sandbox");
}

// Starts the sandbox on a free loopback port and resolves with
// { baseUrl, requests: [...rewritten URLs], stop() }.
export async function startSandbox() {
  const child = spawn(
    sandboxBinary(),
    [
      "--listen",
      "127.0.0.1:0",
      "--quiet",
      "--app-id",
      APP_ID,
      "--app-secret",
      APP_SECRET,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = readline.createInterface({ input: child.stdout });
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`sitesmith-sandbox exited with status ${code}`);
  });
  const [first] = await Promise.race([once(lines, "line"), exited]);
  const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
  if (!match) {
    child.kill();
    throw new Error(`unexpected first line from sitesmith-sandbox: ${first}`);
  }
  exited.catch(() => {});
  return {
    baseUrl: match[1],
    async stop() {
      lines.close();
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    },
  };
}

function isLoopback(url) {
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

// Maps a URL to the sandbox, or throws for a host that is neither a
// known API nor loopback.
export function mapUrl(text, baseUrl) {
  for (const [origin, prefix] of HOST_MAP) {
    if (text === origin || text.startsWith(origin + "/") ||
        text.startsWith(origin + "?")) {
      return baseUrl + prefix + text.slice(origin.length);
    }
  }
  const url = new URL(text);
  if (isLoopback(url)) {
    return text;
  }
  throw new Error(
    `fidelity fetch: refusing ${url.origin}: tests send traffic to ` +
      "127.0.0.1 only",
  );
}

// Replaces globalThis.fetch for the rest of the process. Returns the list
// that records every URL the clients asked for (before mapping).
export function redirectFetch(baseUrl) {
  const realFetch = globalThis.fetch;
  const seen = [];
  globalThis.fetch = async (input, init) => {
    const original =
      input instanceof Request ? input.url : String(input);
    const mapped = mapUrl(original, baseUrl);
    seen.push(original);
    if (input instanceof Request) {
      return realFetch(new Request(mapped, input), init);
    }
    return realFetch(mapped, init);
  };
  return seen;
}

// Sends a JSON request to the sandbox itself (control API or an emulated
// endpoint) and returns { status, body }.
export async function call(baseUrl, method, pathname, body, headers = {}) {
  const response = await fetch(baseUrl + pathname, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export async function configure(baseUrl, settings) {
  const { status, body } = await call(
    baseUrl,
    "POST",
    "/__sandbox/config",
    settings,
  );
  if (status !== 200) {
    throw new Error(`POST /__sandbox/config: ${status} ${JSON.stringify(body)}`);
  }
}

export async function advanceClock(baseUrl, seconds) {
  const { status, body } = await call(baseUrl, "POST", "/__sandbox/clock", {
    advance_seconds: seconds,
  });
  if (status !== 200) {
    throw new Error(`POST /__sandbox/clock: ${status} ${JSON.stringify(body)}`);
  }
}

export async function reset(baseUrl) {
  const { status } = await call(baseUrl, "POST", "/__sandbox/reset", {});
  if (status !== 200) {
    throw new Error(`POST /__sandbox/reset: ${status}`);
  }
}

// Reads width, height and colour type from a PNG's IHDR chunk.
export function pngInfo(bytes) {
  const signature = "89504e470d0a1a0a";
  if (Buffer.from(bytes.subarray(0, 8)).toString("hex") !== signature) {
    throw new Error("not a PNG file");
  }
  const view = Buffer.from(bytes);
  return {
    width: view.readUInt32BE(16),
    height: view.readUInt32BE(20),
    colorType: view[25], // 6 = RGBA, 2 = RGB
  };
}
