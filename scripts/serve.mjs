#!/usr/bin/env node
// A small static file server for the built site (dist/, from scripts/build-web.sh) with
// the repository's models/ folder mounted at /models/. It sends, as a header on every file,
// the Content-Security-Policy the site declares in its index.html: a header also reaches
// the Web Worker and the service worker (a <meta> policy binds only its page) and can carry
// frame-ancestors (ignored in a <meta>). It also makes the site cross-origin isolated
// (COOP same-origin + COEP require-corp), which the CPU backend's threads need.
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--root dist] [--no-isolation]
// tests/e2e imports `startServer` to run the same server on a free port.

import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".license": "text/plain; charset=utf-8",
};

/** The content type of a file; licence texts (LICENSE, marked.LICENSE) are plain text. */
function contentType(file) {
  if (path.basename(file) === "LICENSE") return TYPES[".txt"];
  return TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** The policy of `<meta http-equiv="Content-Security-Policy" content="...">` in `html`, or null. */
export function metaPolicy(html) {
  const match = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/i.exec(html);
  return match ? match[1].trim() : null;
}

/** The header policy of the site at `root`: its index.html's policy, plus what only a header can say. */
async function sitePolicy(root) {
  const html = await readFile(path.join(root, "index.html"), "utf8").catch(() => "");
  const policy = metaPolicy(html);
  return policy ? `${policy}; frame-ancestors 'none'` : null;
}

/**
 * The headers that make a page cross-origin isolated (SharedArrayBuffer, so wasm threads):
 * its window in a browsing context group of its own, and only resources that agree to be
 * embedded (same-origin ones here; cross-origin fetches in CORS mode still work).
 */
export const ISOLATION_HEADERS = Object.freeze({
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
});

/** Maps a URL path to a file under one of the mounts, or null when it would escape them. */
function resolvePath(mounts, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  for (const [prefix, dir] of mounts) {
    if (!decoded.startsWith(prefix)) continue;
    const file = path.resolve(dir, "." + path.posix.normalize("/" + decoded.slice(prefix.length)));
    return file === dir || file.startsWith(dir + path.sep) ? file : null;
  }
  return null;
}

/**
 * Starts the server. `routes` maps exact URL paths to `(request, response) => void`
 * handlers that take precedence over files (the e2e tests serve broken models this way).
 * `isolated: false` leaves out the cross-origin isolation headers.
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startServer({
  port = 8080,
  host = "127.0.0.1",
  root = path.join(REPO, "dist"),
  routes = {},
  isolated = true,
} = {}) {
  const mounts = [
    ["/models/", path.join(REPO, "models")],
    ["/", path.resolve(root)],
  ];
  // Read once: a site (dist/, target/site/) is built before it is served. A site without
  // a policy (the test app of tests/consumer) is served without one.
  const policy = await sitePolicy(path.resolve(root));
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const send = (status, text) => {
      response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      response.end(text);
    };
    if (routes[url.pathname]) return routes[url.pathname](request, response);
    if (request.method !== "GET" && request.method !== "HEAD") return send(405, "method not allowed");
    let file = resolvePath(mounts, url.pathname);
    if (!file) return send(404, "not found");
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = path.join(file, "index.html");
        info = await stat(file);
      }
      response.writeHead(200, {
        "content-type": contentType(file),
        "content-length": info.size,
        "cache-control": "no-cache",
        ...(policy ? { "content-security-policy": policy } : {}),
        ...(isolated ? ISOLATION_HEADERS : {}),
      });
      if (request.method === "HEAD") return response.end();
      createReadStream(file)
        .on("error", () => response.destroy())
        .pipe(response);
    } catch {
      send(404, "not found");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    url: `http://${host}:${address.port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const index = args.indexOf(`--${name}`);
    return index >= 0 && args[index + 1] ? args[index + 1] : fallback;
  };
  const port = Number(option("port", "8080"));
  const host = option("host", "127.0.0.1");
  const root = path.resolve(option("root", path.join(REPO, "dist")));
  const isolated = !args.includes("--no-isolation");
  const { url } = await startServer({ port, host, root, isolated });
  console.log(
    `serving ${path.relative(process.cwd(), root) || "."} (and models/ at /models/) on ${url.replace("127.0.0.1", "localhost")}`,
  );
}
