// The chat site's service worker: keeps the app shell (pages, scripts, the wasm engine,
// the catalogue) so that after one visit the site opens and chats with no network.
//
// Strategy: network first, cache as fallback. Online, every shell file comes fresh from
// the server (so a redeploy shows at once, and no version bookkeeping can go stale) and the
// cached copy is refreshed; offline, the cached copy answers. Model files are not touched
// here: the engine's worker keeps them in OPFS (js/cache.js) and reads them from there with
// no network request, and its Range requests must reach the server unchanged.
//
// It also makes the site cross-origin isolated where the host cannot send headers: every
// shell response gets COOP/COEP/CORP, which gives the page SharedArrayBuffer, so the CPU
// backend's threads (js/pkg-threads). app.js reloads a first visit once this worker controls it.
//
// Every URL is relative to this script, so the site works under any path of any static host.

/** Replaced by scripts/build-site.sh with a digest of the site's files. */
const VERSION = "dev";
const CACHE = `hearth-shell-${VERSION}`;

/** The shell, fetched when the worker installs: everything the page and the engine load. */
const SHELL = [
  "./",
  "index.html",
  "app.js",
  "markdown.js",
  "message-limit.js",
  "conversations.js",
  "code-blocks.js",
  "style.css",
  "catalogue.json",
  "bench.html",
  "bench.js",
  "vendor/marked.esm.js",
  "vendor/purify.es.mjs",
  "vendor/eventsource-parser.js",
  "vendor/highlight.min.js",
  "vendor/highlight-github.min.css",
  "vendor/highlight-github-dark.min.css",
  "js/index.js",
  "js/worker.js",
  "js/protocol.js",
  "js/errors.js",
  "js/request.js",
  "js/remote.js",
  "js/stream.js",
  "js/cache.js",
  "js/download.js",
  "js/folder.js",
  "js/hasher.js",
  "js/pkg/hearth.js",
  "js/pkg/hearth_bg.wasm",
  "js/pkg-threads/hearth.js",
  "js/pkg-threads/hearth_bg.wasm",
  // The thread pool's worker script (its folder name carries a hash): filled in by
  // scripts/build-web.sh.
];

/** The headers that make a page cross-origin isolated (the same as scripts/serve.mjs sends). */
const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** `response` with the isolation headers (a copy: fetched responses are immutable). */
function isolated(response) {
  if (response.status === 0) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

const scope = new URL("./", self.location.href);
const shellUrls = new Set(SHELL.map((path) => new URL(path, scope).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // `cache: "reload"` skips the HTTP cache, so the shell is what the server has now.
      await cache.addAll([...shellUrls].map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("hearth-shell-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

/** Whether a request is for a shell file (query strings ignored). */
function isShell(request) {
  if (request.method !== "GET" || request.headers.has("range")) return false;
  const url = new URL(request.url);
  url.search = "";
  url.hash = "";
  return shellUrls.has(url.href);
}

self.addEventListener("fetch", (event) => {
  if (!isShell(event.request)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(event.request, { cache: "no-cache" });
        if (response.ok) await cache.put(event.request, response.clone());
        return isolated(response);
      } catch (error) {
        const cached = await cache.match(event.request, { ignoreSearch: true });
        if (cached) return isolated(cached);
        throw error;
      }
    })(),
  );
});
