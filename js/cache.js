// The model cache: downloaded model files kept in the origin private file system (OPFS).
//
// Why OPFS and not the Cache API: the Cache API stores whole Responses, so an interrupted
// download leaves nothing to resume from, and a cached model can only be read back as one
// Response. An OPFS file can be appended to at any offset (a sync access handle in the
// worker writes fast, without copying through a stream), its current size says where a
// download stopped, and `getFile()` gives a Blob that streams back in chunks.
//
// Layout, in the folder `hearth-models/` of the origin's OPFS root, per model:
//   <key>.bin    the model's bytes (while downloading: the bytes received so far)
//   <key>.json   what is known about them (CacheRecord below)
// `key` is the model id made safe for a file name. An entry whose record says
// `complete: false` is a download to resume; only complete entries are read as models.
//
// Everything here uses the asynchronous OPFS API, so it runs on the page's thread as well
// as in the worker.

const FOLDER = "hearth-models";

/**
 * @typedef {object} CacheRecord
 * @property {string} id          the model id (catalogue id, or the URL)
 * @property {string} url         where the bytes come from
 * @property {string | null} name a display name
 * @property {number} size        the file's size in bytes (0 while unknown)
 * @property {string | null} sha256   the expected digest (catalogue), or null
 * @property {string | null} digest   the digest of the complete file, as downloaded
 * @property {string | null} validator  ETag or Last-Modified of the download, for If-Range
 * @property {boolean} complete   all bytes are stored and their digest checked
 * @property {number} storedAt    when the download completed (ms since the epoch), or 0
 */

/** Whether this context has an origin private file system. */
export function cacheAvailable() {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function";
}

/** The file-name stem of a model id: the id percent-encoded, so no "/" or ".." survives. */
export function cacheKey(id) {
  return encodeURIComponent(id).replace(/\./g, "%2E");
}

/** The cache folder, created on first use when `create` is set; null if absent. */
export async function cacheFolder({ create = false } = {}) {
  const root = await navigator.storage.getDirectory();
  try {
    return await root.getDirectoryHandle(FOLDER, { create });
  } catch (error) {
    if (error?.name === "NotFoundError") return null;
    throw error;
  }
}

async function fileIn(folder, name, create = false) {
  try {
    return await folder.getFileHandle(name, { create });
  } catch (error) {
    if (error?.name === "NotFoundError" || error?.name === "TypeMismatchError") return null;
    throw error;
  }
}

/** The data and record file handles of an entry (null where absent, unless `create`). */
export async function entryFiles(folder, id, { create = false } = {}) {
  const key = cacheKey(id);
  return {
    data: await fileIn(folder, `${key}.bin`, create),
    record: await fileIn(folder, `${key}.json`, create),
  };
}

/** Reads an entry's record; null when it is absent or unreadable (then the entry is junk). */
export async function readRecord(handle) {
  if (!handle) return null;
  try {
    const record = JSON.parse(await (await handle.getFile()).text());
    return record && typeof record.id === "string" && typeof record.url === "string" ? record : null;
  } catch {
    return null;
  }
}

/** Replaces an entry's record. */
export async function writeRecord(handle, record) {
  const writable = await handle.createWritable();
  await writable.write(JSON.stringify(record));
  await writable.close();
}

/** Removes an entry's files; true if there was anything to remove. */
export async function removeEntry(folder, id) {
  const key = cacheKey(id);
  let removed = false;
  for (const name of [`${key}.json`, `${key}.bin`]) {
    try {
      await folder.removeEntry(name);
      removed = true;
    } catch (error) {
      if (error?.name !== "NotFoundError") throw error;
    }
  }
  return removed;
}

/**
 * The cached models, complete ones and interrupted downloads alike.
 * @returns {Promise<Array<{ id: string, name: string | null, url: string, size: number,
 *   bytes: number, complete: boolean, sha256: string | null, storedAt: number }>>}
 */
export async function listCached() {
  if (!cacheAvailable()) return [];
  const folder = await cacheFolder();
  if (!folder) return [];
  const models = [];
  for await (const [name, handle] of folder.entries()) {
    if (handle.kind !== "file" || !name.endsWith(".json")) continue;
    const record = await readRecord(handle);
    if (!record) continue;
    const { data } = await entryFiles(folder, record.id);
    const bytes = data ? (await data.getFile()).size : 0;
    models.push({
      id: record.id,
      name: record.name ?? null,
      url: record.url,
      size: record.size || bytes,
      bytes,
      complete: Boolean(record.complete) && bytes === record.size,
      sha256: record.digest ?? record.sha256 ?? null,
      storedAt: record.storedAt ?? 0,
    });
  }
  return models.sort((a, b) => a.id.localeCompare(b.id));
}

/** Deletes a cached model (or an interrupted download of it); true if it was there. */
export async function deleteCached(id) {
  if (typeof id !== "string" || id === "" || !cacheAvailable()) return false;
  const folder = await cacheFolder();
  return folder ? removeEntry(folder, id) : false;
}
