// A Hugging Face model folder as the worker loads it: config.json, tokenizer.json and
// tokenizer_config.json read whole (they are small), then the safetensors files — the one
// `model.safetensors`, or the shards `model.safetensors.index.json` names — streamed one
// after another. The folder is a base URL (a Hugging Face repository's `resolve/<revision>/`,
// or any static host; the shards then go through the model cache like any URL) or the files
// of a folder the user picked.

import { HearthError } from "./errors.js";

/** The JSON files are read whole: refuse anything larger than the largest real ones. */
const MAX_JSON_BYTES = 64 << 20;
/** A shard name from an index: a plain file name, so that it cannot point elsewhere. */
const SHARD_NAME = /^[\w.-]+\.safetensors$/;

/**
 * @param {{ url: string } | { files: File[] }} folder
 * @param {(source: { url: string }) => Promise<{ reader: object, total: number, phase: string }>} openUrl
 *   opens a URL as a load does (through the cache)
 * @returns {Promise<{ config: Uint8Array, tokenizer: Uint8Array, tokenizerConfig: Uint8Array | null,
 *   shards: { name: string, open: () => Promise<{ reader: object, total: number, phase: string }> }[] }>}
 */
export async function openFolder(folder, openUrl) {
  const source = folder.files ? filesSource(folder.files) : urlSource(folder.url, openUrl);
  const config = await source.read("config.json", "invalid_config");
  const tokenizer = await source.read("tokenizer.json", "tokenizer");
  const tokenizerConfig = await source.read("tokenizer_config.json", null);
  const index = await source.read("model.safetensors.index.json", null);
  const names = index ? shardNames(index) : ["model.safetensors"];
  return { config, tokenizer, tokenizerConfig, shards: names.map((name) => ({ name, open: () => source.open(name) })) };
}

/** The shards an index maps tensors to, in order. */
function shardNames(index) {
  let map;
  try {
    map = JSON.parse(new TextDecoder().decode(index)).weight_map;
  } catch (error) {
    throw new HearthError("malformed", `model.safetensors.index.json: ${error.message}`);
  }
  if (!map || typeof map !== "object") throw new HearthError("malformed", "model.safetensors.index.json has no weight_map");
  const names = [...new Set(Object.values(map))].sort();
  const bad = names.find((name) => typeof name !== "string" || !SHARD_NAME.test(name));
  if (bad !== undefined || names.length === 0) {
    throw new HearthError("malformed", `model.safetensors.index.json names a shard ${JSON.stringify(bad)}, not a .safetensors file`);
  }
  return names;
}

function checkSize(name, size) {
  if (size > MAX_JSON_BYTES) throw new HearthError("malformed", `${name} is ${size} bytes, more than a model's ${name} holds`);
}

/**
 * Files the user picked (`<input type="file" webkitdirectory>`), by name. A picked folder
 * brings its subfolders too (repositories hold `onnx/`, `original/`...): only the files at
 * its top count, as for a folder at a URL.
 */
function filesSource(files) {
  const byName = new Map();
  for (const file of files) {
    const depth = (file.webkitRelativePath || file.name).split("/").length;
    if (depth <= 2) byName.set(file.name, file);
  }
  return {
    async read(name, requiredCode) {
      const file = byName.get(name);
      if (!file) {
        if (requiredCode) throw new HearthError(requiredCode, `the folder has no ${name}`);
        return null;
      }
      checkSize(name, file.size);
      return new Uint8Array(await file.arrayBuffer());
    },
    async open(name) {
      const file = byName.get(name);
      if (!file) throw new HearthError("missing_tensor", `the folder has no ${name}, which holds tensors of the model`);
      return { reader: file.stream().getReader(), total: file.size, phase: "upload" };
    },
  };
}

/** A folder at a base URL. */
function urlSource(base, openUrl) {
  const at = (name) => new URL(name, base).href;
  return {
    async read(name, requiredCode) {
      let response;
      try {
        response = await fetch(at(name));
      } catch (error) {
        throw new HearthError("network", `${at(name)}: ${error.message}`);
      }
      if (response.status === 404 && !requiredCode) return null;
      if (!response.ok) {
        const code = response.status === 404 ? requiredCode : "network";
        throw new HearthError(code, `${at(name)}: HTTP ${response.status} ${response.statusText}`);
      }
      checkSize(name, Number(response.headers.get("content-length")) || 0);
      const bytes = new Uint8Array(await response.arrayBuffer());
      checkSize(name, bytes.length);
      return bytes;
    },
    open: (name) => openUrl({ url: at(name) }),
  };
}
