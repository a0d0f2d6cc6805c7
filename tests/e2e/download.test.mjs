// The model cache's downloads: the SHA-256 they are checked with, a quota too small for the
// model, a download cut off halfway and resumed with a Range request, and a cached copy that
// is trusted once checked (loaded without the network or a second hashing) unless it is no
// longer whole. The tests share one page and run in order.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { LOAD_TIMEOUT_MS, MODEL_FILE, REPO, requireWebGpu, startHarness } from "./harness.mjs";

const MODEL_PATH = path.join(REPO, "models", MODEL_FILE);
const MODEL_SIZE = statSync(MODEL_PATH).size;
const MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const ETAG = '"smollm2-q4_1"';
const FLAKY = { id: "flaky", url: "flaky/model.gguf", size: MODEL_SIZE, sha256: MODEL_SHA256 };

/** What the flaky route was asked: `{ range, ifRange }` per GET. */
const requests = [];
/** Set to cut the next full download off after this many bytes. */
let dropAfter = null;

/** Serves the model with Range support (as static hosts do), dropping a download on demand. */
function flakyModel(request, response) {
  const range = request.headers.range ?? null;
  requests.push({ range, ifRange: request.headers["if-range"] ?? null });
  const match = /^bytes=(\d+)-$/.exec(range ?? "");
  const start = match && request.headers["if-range"] === ETAG ? Number(match[1]) : 0;
  const headers = { "content-type": "application/octet-stream", etag: ETAG, "accept-ranges": "bytes" };
  if (start >= MODEL_SIZE) {
    response.writeHead(416, { "content-range": `bytes */${MODEL_SIZE}` });
    return response.end();
  }
  if (start > 0) {
    headers["content-range"] = `bytes ${start}-${MODEL_SIZE - 1}/${MODEL_SIZE}`;
    headers["content-length"] = MODEL_SIZE - start;
    response.writeHead(206, headers);
  } else {
    headers["content-length"] = MODEL_SIZE;
    response.writeHead(200, headers);
  }
  const cut = dropAfter;
  dropAfter = null;
  const stream = createReadStream(MODEL_PATH, { start, end: cut === null ? undefined : start + cut - 1 });
  stream.on("error", () => response.destroy());
  if (cut === null) return stream.pipe(response);
  // The connection drops after `cut` bytes, with the response announced as complete.
  stream.pipe(response, { end: false });
  stream.on("end", () => response.write("", () => response.socket?.destroy()));
}

let harness;
let page;

before(async () => {
  harness = await startHarness({ routes: { "/flaky/model.gguf": flakyModel } });
  page = await harness.openPage("index.html");
  await requireWebGpu(page);
});

after(async () => {
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

/** Runs `Engine.load(source)` in the page: `{ ok, info }` or `{ ok: false, code, message }`. */
function loadInPage(source) {
  return page.evaluate(async (source) => {
    const { Engine } = await import("./js/index.js");
    try {
      const engine = await Engine.load(source);
      const info = engine.info;
      await engine.unload();
      return { ok: true, name: info?.name ?? null };
    } catch (error) {
      return { ok: false, code: error.code ?? error.name, message: error.message };
    }
  }, source);
}

const cachedModels = () =>
  page.evaluate(async () => {
    const { Engine } = await import("./js/index.js");
    return Engine.cache.list();
  });

/** Every file in the cache folder with its size (the records and the data). */
const cacheFiles = () =>
  page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    let folder;
    try {
      folder = await root.getDirectoryHandle("hearth-models");
    } catch {
      return {};
    }
    const files = {};
    for await (const [name, handle] of folder.entries()) files[name] = (await handle.getFile()).size;
    return files;
  });

test("the incremental SHA-256 (sha2 in the engine's wasm) matches node:crypto across block boundaries and chunkings", async () => {
  const lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65_537];
  const digests = await page.evaluate(async (lengths) => {
    const { createSha256 } = await import("./js/hasher.js");
    const out = [];
    for (const length of lengths) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
      for (const chunk of [1, 3, 64, 100, length || 1]) {
        const hasher = await createSha256();
        for (let offset = 0; offset < length; offset += chunk) hasher.update(bytes.subarray(offset, offset + chunk));
        out.push({ length, chunk, hex: hasher.hex() });
        hasher.free();
      }
    }
    return out;
  }, lengths);
  assert.equal(digests.length, lengths.length * 5);
  for (const { length, chunk, hex } of digests) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
    assert.equal(hex, createHash("sha256").update(bytes).digest("hex"), `${length} bytes in chunks of ${chunk}`);
  }
});

/** Loads the catalogue's default model through the page and returns the error shown. */
async function errorOfDefaultLoad(target) {
  await target.locator("input[name=source][value=default]").check();
  await target.locator("#load-button").click();
  await target.locator("#error").waitFor({ state: "visible", timeout: LOAD_TIMEOUT_MS });
  return target.locator("#error").textContent();
}

test("too little room, as storage.estimate() reports it, is a clear error before any download", async (t) => {
  const small = await harness.openPage("index.html", (target) =>
    target.addInitScript(() => {
      Object.defineProperty(navigator.storage, "estimate", {
        value: async () => ({ quota: 60_000_000, usage: 10_000_000 }),
      });
    }),
  );
  try {
    const message = await errorOfDefaultLoad(small);
    assert.match(message, /not enough storage space/i, message);
    assert.match(message, /needs 98\.4 MB of storage, 50\.0 MB is available/, message);
    assert.deepEqual(await cacheFiles(), {}, "a refused download left files in the cache");
  } catch (error) {
    failed(t);
    throw error;
  } finally {
    await small.close();
  }
});

test("a quota that runs out while writing is a clear error, and the partial file is deleted", async (t) => {
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(harness.baseUrl).origin;
  try {
    // The browser enforces this quota on writes (its estimate() keeps reporting the default).
    await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 20_000_000 });
    const message = await errorOfDefaultLoad(page);
    assert.match(message, /not enough storage space/i, message);
    assert.match(message, /partial download was deleted/, message);
    assert.deepEqual(await cacheFiles(), {}, "a refused download left files in the cache");
    assert.deepEqual(await cachedModels(), []);
  } catch (error) {
    failed(t);
    throw error;
  } finally {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin }).catch(() => {});
    await cdp.detach().catch(() => {});
  }
});

test("an interrupted download resumes with a Range request and passes its sha256 check", async (t) => {
  try {
    const half = Math.floor(MODEL_SIZE / 2);
    dropAfter = half;
    const first = await loadInPage(FLAKY);
    assert.equal(first.ok, false, "the load should fail when the connection drops");
    assert.equal(first.code, "network", first.message);
    const [partial] = await cachedModels();
    assert.equal(partial?.id, "flaky");
    assert.equal(partial.complete, false);
    assert.ok(partial.bytes > 0 && partial.bytes <= half, `kept ${partial.bytes} of the ${half} bytes sent`);

    requests.length = 0;
    const second = await loadInPage(FLAKY);
    assert.ok(second.ok, `the resumed load failed: ${second.message}`);
    assert.deepEqual(requests, [{ range: `bytes=${partial.bytes}-`, ifRange: ETAG }]);
    const [complete] = await cachedModels();
    assert.equal(complete.complete, true);
    assert.equal(complete.bytes, MODEL_SIZE);
    assert.equal(complete.sha256, MODEL_SHA256);
  } catch (error) {
    failed(t);
    throw error;
  }
});

test("a cached model loads with no request and no second hashing; a copy no longer whole is resumed", async (t) => {
  try {
    requests.length = 0;
    const cached = await loadInPage(FLAKY);
    assert.ok(cached.ok, `the cached load failed: ${cached.message}`);
    assert.deepEqual(requests, [], "a complete cached model must load without the network");

    // Bytes changed in the middle of the weights after the download's check: a load reads
    // the copy as stored, without hashing it again (it would cost seconds per load).
    await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const folder = await root.getDirectoryHandle("hearth-models");
      const file = await folder.getFileHandle("flaky.bin");
      const writable = await file.createWritable({ keepExistingData: true });
      await writable.write({ type: "write", position: 40_000_000, data: new Uint8Array(64).fill(0x11) });
      await writable.close();
    });
    const trusted = await loadInPage(FLAKY);
    assert.ok(trusted.ok, `the load of the stored copy failed: ${trusted.message}`);
    assert.deepEqual(requests, [], "a stored copy is not checked or fetched again");

    // A copy cut short is not whole: the rest is fetched with a Range request and the
    // whole file hashed (what is on disk and what arrives) against the expected digest,
    // which the bytes changed above now fail: the entry is deleted.
    await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const folder = await root.getDirectoryHandle("hearth-models");
      const writable = await (await folder.getFileHandle("flaky.bin")).createWritable({ keepExistingData: true });
      await writable.truncate(50_000_000);
      await writable.close();
    });
    const damaged = await loadInPage(FLAKY);
    assert.equal(damaged.ok, false, "a resumed download with wrong bytes on disk must fail its check");
    assert.equal(damaged.code, "checksum", damaged.message);
    assert.deepEqual(requests, [{ range: "bytes=50000000-", ifRange: ETAG }]);
    assert.deepEqual(await cacheFiles(), {}, "the entry that failed its check is deleted");

    // The next load downloads it whole and checks it again.
    requests.length = 0;
    const fresh = await loadInPage(FLAKY);
    assert.ok(fresh.ok, `the fresh download failed: ${fresh.message}`);
    assert.deepEqual(requests, [{ range: null, ifRange: null }]);
    const [entry] = await cachedModels();
    assert.equal(entry.complete, true);
    assert.equal(entry.sha256, MODEL_SHA256);

    assert.equal(await page.evaluate(async () => (await import("./js/index.js")).Engine.cache.delete("flaky")), true);
    assert.deepEqual(await cacheFiles(), {});
  } catch (error) {
    failed(t);
    throw error;
  }
}, { timeout: 3 * LOAD_TIMEOUT_MS });

test("bytes that differ from the expected sha256 are refused, cached or not, and nothing is kept", async (t) => {
  try {
    const wrong = "0".repeat(64);
    for (const cache of [true, false]) {
      const result = await loadInPage({ ...FLAKY, id: "wrong-digest", sha256: wrong, cache });
      assert.equal(result.ok, false, `cache: ${cache}: a model with the wrong digest loaded`);
      assert.equal(result.code, "checksum", result.message);
      assert.match(result.message, /integrity check \(sha256\)/, result.message);
      assert.deepEqual(await cacheFiles(), {}, `cache: ${cache}: the refused download was kept`);
    }
  } catch (error) {
    failed(t);
    throw error;
  }
}, { timeout: 2 * LOAD_TIMEOUT_MS });
