// Model bytes through the cache (cache.js): a complete cached copy is read from disk with
// no network request; otherwise the file is downloaded, written to the cache as it
// arrives, and handed on chunk by chunk, so the engine parses and uploads while the
// download runs.
//
// - Resuming: an interrupted download keeps the bytes it received. The next attempt
//   streams those from disk (they are hashed and parsed again; the engine needs them
//   anyway) and asks the server for the rest with `Range: bytes=<have>-` (and `If-Range`,
//   so a file changed on the server restarts from zero instead of being spliced).
// - Checking: the file is hashed with SHA-256 (in the engine's wasm, js/hasher.js) as it
//   downloads, once. A digest that differs from the expected one (the catalogue's)
//   deletes the entry; the digest is recorded with the entry. A complete entry then loads
//   without being hashed again (a 1 GB model would cost seconds on every load): it is
//   trusted if its size and its recorded digest still match what the caller expects.
// - Room: `navigator.storage.estimate()` is checked before the first byte is written; too
//   little room is a `storage_quota` error, and nothing is left in the cache. A write that
//   still runs out of room deletes the partial file.

import { HearthError, abortError } from "./errors.js";
import { cacheAvailable, cacheFolder, entryFiles, listCached, readRecord, removeEntry, writeRecord } from "./cache.js";
import { createSha256 } from "./hasher.js";

/** Room kept free beyond the model's bytes (the records, the browser's own bookkeeping). */
const QUOTA_MARGIN_BYTES = 1 << 20;

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Parses `Content-Range: bytes <start>-<end>/<total>`; null if absent or malformed. */
function contentRange(header) {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? "");
  if (!match) return null;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === "*" ? null : Number(match[3]) };
}

function isQuotaError(error) {
  return error?.name === "QuotaExceededError";
}

function quotaError(needed, available) {
  return new HearthError(
    "storage_quota",
    `the model needs ${megabytes(needed)} of storage, ${megabytes(Math.max(0, available))} is available`,
  );
}

/** Fails before anything is written when the origin's storage cannot hold `needed` more bytes. */
async function checkRoom(needed) {
  const estimate = await navigator.storage?.estimate?.();
  if (!estimate || !Number.isFinite(estimate.quota)) return;
  const available = estimate.quota - (estimate.usage ?? 0);
  if (needed + QUOTA_MARGIN_BYTES > available) throw quotaError(needed, available);
}

/**
 * Checks, before a worker is even started, that a model of known size fits in the room
 * left (counting what the cache already holds of it). It runs on the page's thread, where
 * `navigator.storage.estimate()` is the page's own; the worker checks again once the
 * server has said how large the file is.
 * @param {{ id: string, size: number }} model
 */
export async function checkRoomFor(model) {
  if (!cacheAvailable() || !(model.size > 0)) return;
  // An unreadable cache (storage blocked) counts as empty: the estimate still applies.
  const cached = (await listCached().catch(() => [])).find((entry) => entry.id === model.id);
  const have = cached && cached.size === model.size ? cached.bytes : 0;
  if (have < model.size) await checkRoom(model.size - have);
}

/** Appends to an OPFS file from `offset`: a sync access handle in a worker, else a writable. */
async function openWriter(handle, offset) {
  if (typeof handle.createSyncAccessHandle === "function") {
    let access;
    try {
      access = await handle.createSyncAccessHandle();
    } catch (error) {
      if (error?.name !== "NoModificationAllowedError") throw error;
      throw new HearthError("io", "this model is being downloaded in another tab; load it again once that finishes");
    }
    access.truncate(offset);
    let at = offset;
    return {
      write(bytes) {
        const written = access.write(bytes, { at });
        at += written;
        if (written !== bytes.byteLength) {
          throw new DOMException(`wrote ${written} of ${bytes.byteLength} bytes`, "QuotaExceededError");
        }
      },
      close() {
        access.flush();
        access.close();
      },
    };
  }
  const writable = await handle.createWritable({ keepExistingData: true });
  await writable.truncate(offset);
  await writable.seek(offset);
  return { write: (bytes) => writable.write(bytes), close: () => writable.close() };
}

/** Streams a Blob, hashing each chunk when given a hasher. */
async function* fileChunks(blob, hasher = null) {
  const reader = blob.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      hasher?.update(value);
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function fetchFrom(url, have, validator) {
  const headers = {};
  if (have > 0) {
    // `Range: bytes=N-` is a CORS-safelisted header; `If-Range` is not, and would need a
    // preflight that model hosts may refuse: across origins the ETag is compared instead.
    headers.Range = `bytes=${have}-`;
    if (validator && new URL(url, self.location?.href).origin === self.location?.origin) headers["If-Range"] = validator;
  }
  try {
    return await fetch(url, { headers, cache: "no-store" });
  } catch (error) {
    throw new HearthError("network", `${url}: ${error.message}`);
  }
}

/** Downloads the rest of an entry, after yielding the `have` bytes already cached. */
async function* fromNetwork(folder, model, files, record, response, have, total) {
  const hasher = await createSha256();
  const body = response.body.getReader();
  let writer = null;
  let received = have;
  try {
    if (have > 0) yield* fileChunks(await files.data.getFile(), hasher);
    writer = await openWriter(files.data, have);
    for (;;) {
      let chunk;
      try {
        chunk = await body.read();
      } catch (error) {
        throw new HearthError(
          "network",
          `${model.url}: the download stopped after ${received} of ${total} bytes (${error.message}); loading again resumes from there`,
        );
      }
      if (chunk.done) break;
      if (received + chunk.value.byteLength > total) {
        throw new HearthError("network", `${model.url}: the server sent more than the ${total} bytes it announced`);
      }
      try {
        await writer.write(chunk.value);
      } catch (error) {
        if (!isQuotaError(error)) throw error;
        writer.close();
        writer = null;
        await removeEntry(folder, model.id);
        throw new HearthError(
          "storage_quota",
          `the browser refused to store more than ${megabytes(received)} of the model's ${megabytes(total)}; the partial download was deleted`,
        );
      }
      received += chunk.value.byteLength;
      hasher.update(chunk.value);
      yield chunk.value;
    }
    await writer.close();
    writer = null;
    if (received !== total) {
      throw new HearthError("network", `${model.url}: the download ended after ${received} of ${total} bytes`);
    }
    const digest = hasher.hex();
    hasher.free();
    if (model.sha256 && digest !== model.sha256) {
      await removeEntry(folder, model.id);
      throw new HearthError(
        "checksum",
        `${model.url}: sha256 ${digest}, expected ${model.sha256}; the download was deleted`,
      );
    }
    await writeRecord(files.record, { ...record, digest, complete: true, storedAt: Date.now() });
  } finally {
    try {
      await writer?.close();
    } catch {
      // Closing after a failed write: the partial file stays for the next attempt.
    }
    body.cancel().catch(() => {});
  }
}

/**
 * Opens a model through the cache; null when this context has no usable cache (storage
 * blocked by the browser's settings), so the caller downloads without one.
 * @param {{ id: string, url: string, name?: string | null, size?: number, sha256?: string | null }} model
 * @returns {Promise<{ reader: { read(): Promise<IteratorResult<Uint8Array>>, cancel(): Promise<unknown> },
 *   total: number, phase: "cache" | "download" } | null>}
 */
export async function openCachedModel(model) {
  const sha256 = typeof model.sha256 === "string" ? model.sha256.toLowerCase() : null;
  model = { ...model, sha256 };
  let folder;
  try {
    folder = await cacheFolder({ create: true });
  } catch (error) {
    if (error?.name === "SecurityError" || error?.name === "NotAllowedError") return null;
    throw error;
  }
  let files = await entryFiles(folder, model.id);
  let record = await readRecord(files.record);
  let have = files.data ? (await files.data.getFile()).size : 0;
  // An entry of another address, or whose digest is not the one expected now, is not this model.
  const otherDigest = sha256 && [record?.sha256, record?.digest].some((known) => known && known !== sha256);
  if (!record || record.url !== model.url || otherDigest) {
    if (files.data || files.record) await removeEntry(folder, model.id);
    record = null;
    have = 0;
  }

  if (record?.complete && have === record.size) {
    const file = await files.data.getFile();
    return { reader: readerOf(fileChunks(file)), total: have, phase: "cache" };
  }

  let response = await fetchFrom(model.url, have, record?.validator);
  let total;
  const etag = response.headers.get("etag");
  if (response.status === 206 && have > 0 && etag && record?.validator && etag !== record.validator) {
    // The file changed on the server since the interrupted download: start over.
    response.body?.cancel().catch(() => {});
    response = await fetchFrom(model.url, 0, null);
    have = 0;
  }
  if (response.status === 206 && have > 0) {
    // Content-Range is hidden from cross-origin pages unless the host exposes it; then
    // the length of the rest has to do.
    const header = response.headers.get("content-range");
    const range = header === null ? null : contentRange(header);
    const length = Number(response.headers.get("content-length"));
    if (header !== null && (!range || range.start !== have || range.total === null)) {
      response.body?.cancel().catch(() => {});
      throw new HearthError("network", `${model.url}: the server answered a resume with Content-Range '${header}'`);
    }
    total = range ? range.total : length > 0 ? have + length : 0;
  } else {
    if (response.status === 416 || (response.ok && have > 0)) {
      // The partial copy does not fit the file on the server any more: start over.
      if (response.status === 416) response = await fetchFrom(model.url, 0, null);
      have = 0;
    }
    if (!response.ok || response.status === 206) {
      response.body?.cancel().catch(() => {});
      throw new HearthError("network", `${model.url}: HTTP ${response.status} ${response.statusText}`);
    }
    total = Number(response.headers.get("content-length")) || model.size || 0;
  }
  if (!response.body) throw new HearthError("network", `${model.url}: the response has no body`);
  if (!(total > 0)) {
    response.body.cancel().catch(() => {});
    throw new HearthError("network", `${model.url}: the server did not say how large the file is`);
  }
  if (model.size && model.size !== total) {
    response.body.cancel().catch(() => {});
    throw new HearthError("checksum", `${model.url}: the server has ${total} bytes, expected ${model.size}`);
  }

  try {
    await checkRoom(total - have);
  } catch (error) {
    response.body.cancel().catch(() => {});
    if (files.data || files.record) await removeEntry(folder, model.id);
    throw error;
  }

  files = await entryFiles(folder, model.id, { create: true });
  record = {
    id: model.id,
    url: model.url,
    name: model.name ?? null,
    size: total,
    sha256,
    digest: null,
    validator: response.headers.get("etag") ?? response.headers.get("last-modified") ?? record?.validator ?? null,
    complete: false,
    storedAt: 0,
  };
  await writeRecord(files.record, record);
  return { reader: readerOf(fromNetwork(folder, model, files, record, response, have, total)), total, phase: "download" };
}

/**
 * Stores a model in the cache without loading it (`Engine.download`): the bytes are read
 * through `openCachedModel` to the end, so they are written, resumed and checked exactly
 * as a load would; a model already stored is not read again.
 * Aborting keeps what arrived, for the next attempt to resume.
 * @param {{ id: string, url: string, name?: string | null, size?: number, sha256?: string | null }} model
 * @param {{ onProgress?: (p: object) => void, signal?: AbortSignal }} options
 */
export async function downloadModel(model, { onProgress, signal } = {}) {
  if (model.size) await checkRoomFor(model);
  const opened = await openCachedModel(model);
  if (!opened) {
    throw new HearthError("storage_quota", "this browser gives the page no storage (a private window, or storage is blocked)");
  }
  const { reader, total, phase } = opened;
  const started = performance.now();
  let bytes = 0;
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    const fraction = total > 0 ? Math.min(1, bytes / total) : null;
    onProgress?.({ phase, bytes, total, fraction, rate: seconds > 0 ? bytes / seconds : 0, tensorsDone: 0, tensorsTotal: 0 });
  };
  if (phase === "cache") {
    // Stored and checked when it was downloaded: nothing to read.
    await reader.cancel().catch(() => {});
    bytes = total;
    report();
    return;
  }
  try {
    report();
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      report();
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
}

/**
 * Wraps a byte reader that bypasses the cache so that its last read fails when the bytes'
 * SHA-256 differs from `sha256` (no check when it is not known).
 */
export function checkedReader(reader, sha256, url) {
  if (!sha256) return reader;
  const expected = sha256.toLowerCase();
  const hasher = createSha256();
  return {
    async read() {
      const chunk = await reader.read();
      if (!chunk.done) {
        (await hasher).update(chunk.value);
        return chunk;
      }
      const digest = (await hasher).hex();
      if (digest !== expected) throw new HearthError("checksum", `${url}: sha256 ${digest}, expected ${expected}`);
      return chunk;
    },
    cancel: (reason) => reader.cancel(reason),
  };
}

/** The `read`/`cancel` pair the worker's load loop uses, over an async generator. */
function readerOf(generator) {
  return { read: () => generator.next(), cancel: () => generator.return(undefined) };
}
