// hearth's JS API: an LLM engine in a Web Worker with OpenAI-shaped chat completions.
//
//   const engine = await Engine.load("/models/model.gguf", { onProgress });
//   const stream = await engine.chat.completions.create({ messages, stream: true });
//   for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
//
// The worker (worker.js) owns the wasm engine and the GPU; this module only validates
// requests, talks the protocol of protocol.js and shapes the replies as OpenAI does.

import { ChunkStream } from "./stream.js";
import { FromWorker, ToWorker } from "./protocol.js";
import { HearthError, abortError } from "./errors.js";

import { deleteCached, listCached } from "./cache.js";
import { checkRoomFor } from "./download.js";

export { HearthError } from "./errors.js";

const ROLES = new Set(["system", "user", "assistant"]);

/**
 * Whether this browser can run the engine: WebGPU present and an adapter available.
 * @returns {Promise<{ supported: boolean, reason?: string }>}
 */
export async function checkSupport() {
  if (typeof navigator === "undefined" || !navigator.gpu) {
    return { supported: false, reason: new HearthError("no_webgpu", "navigator.gpu is undefined").message };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter)
      return { supported: false, reason: new HearthError("no_adapter", "requestAdapter() returned null").message };
  } catch (error) {
    return { supported: false, reason: new HearthError("no_adapter", String(error?.message ?? error)).message };
  }
  return { supported: true };
}

/** Normalizes a model source into what the worker accepts: `{ url }` or `{ file }`. */
function resolveSource(source) {
  if (typeof Blob !== "undefined" && source instanceof Blob) return { file: source };
  if (source instanceof URL) return { url: source.href };
  if (typeof source === "string") {
    if (source.startsWith("hf:")) return resolveSource({ hf: source.slice(3) });
    // The worker resolves relative URLs against its own script, so resolve them here.
    return { url: new URL(source, globalThis.location?.href).href };
  }
  if (source && typeof source === "object") {
    if (source.file instanceof Blob) return { file: source.file };
    if (typeof source.url === "string") return { ...resolveSource(source.url), ...cacheFields(source) };
    if (typeof source.hf === "string") {
      // "owner/repo/path/to/file.gguf" or { hf: "owner/repo", file: "file.gguf" }
      const parts = source.hf.split("/");
      const repo = parts.slice(0, 2).join("/");
      const file = source.file ?? parts.slice(2).join("/");
      if (parts.length < 2 || !file) {
        throw new HearthError("invalid_request", "a Hugging Face source needs 'owner/repo' and a file name");
      }
      const revision = encodeURIComponent(source.revision ?? "main");
      return { url: `https://huggingface.co/${repo}/resolve/${revision}/${file}` };
    }
  }
  throw new HearthError("invalid_request", "the model source must be a URL, a File, or { hf: 'owner/repo', file }");
}

/**
 * What the worker's cache needs to know about a URL source: the entry's id (default: the
 * URL), a display name, the expected size and sha256 (a catalogue entry has all of them),
 * and `cache: false` to bypass the cache.
 */
function cacheFields(source) {
  const fields = {};
  for (const key of ["id", "name", "sha256"]) {
    if (source[key] === undefined || source[key] === null) continue;
    if (typeof source[key] !== "string" || source[key] === "") throw invalid(`source.${key} must be a non-empty string`);
    fields[key] = source[key];
  }
  if (fields.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(fields.sha256)) {
    throw invalid("source.sha256 must be 64 hexadecimal digits");
  }
  if (source.size !== undefined && source.size !== null) {
    if (!Number.isSafeInteger(source.size) || source.size < 1) throw invalid("source.size must be a positive integer");
    fields.size = source.size;
  }
  if (source.cache !== undefined) {
    if (typeof source.cache !== "boolean") throw invalid("source.cache must be a boolean");
    fields.cache = source.cache;
  }
  return fields;
}

function invalid(detail) {
  return new HearthError("invalid_request", detail);
}

function checkNumber(request, key, min, max) {
  const value = request[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(`${key} must be a number between ${min} and ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkInteger(request, key, min, max) {
  const value = checkNumber(request, key, min, max);
  if (value !== undefined && !Number.isInteger(value)) throw invalid(`${key} must be an integer, got ${value}`);
  return value;
}

/**
 * Validates an OpenAI-style request and returns the object the Rust engine deserializes
 * (`GenerateRequest`): snake_case fields, absent options left out.
 */
function toEngineRequest(request, kind) {
  if (!request || typeof request !== "object") throw invalid("the request must be an object");
  const out = {};
  if (kind === "chat") {
    const { messages } = request;
    if (!Array.isArray(messages) || messages.length === 0) throw invalid("messages must be a non-empty array");
    out.messages = messages.map((message, index) => {
      if (!message || !ROLES.has(message.role)) {
        throw invalid(`messages[${index}].role must be "system", "user" or "assistant"`);
      }
      if (typeof message.content !== "string") throw invalid(`messages[${index}].content must be a string`);
      return { role: message.role, content: message.content };
    });
  } else {
    if (typeof request.prompt !== "string") throw invalid("prompt must be a string");
    out.prompt = request.prompt;
  }
  if (request.n !== undefined && request.n !== 1) throw invalid("only n = 1 is supported");
  const temperature = checkNumber(request, "temperature", 0, 2);
  const top_p = checkNumber(request, "top_p", 0, 1);
  const top_k = checkInteger(request, "top_k", 0, 2 ** 31 - 1);
  const min_p = checkNumber(request, "min_p", 0, 1);
  const repetition_penalty = checkNumber(request, "repetition_penalty", 0.01, 100);
  const max_tokens = checkInteger(request, "max_tokens", 1, 2 ** 31 - 1);
  const seed = checkInteger(request, "seed", 0, Number.MAX_SAFE_INTEGER);
  Object.assign(
    out,
    Object.fromEntries(
      Object.entries({ temperature, top_p, top_k, min_p, repetition_penalty, max_tokens, seed }).filter(
        ([, value]) => value !== undefined,
      ),
    ),
  );
  const stop = request.stop ?? [];
  const stops = typeof stop === "string" ? [stop] : stop;
  if (!Array.isArray(stops) || !stops.every((s) => typeof s === "string" && s.length > 0)) {
    throw invalid("stop must be a non-empty string or an array of them");
  }
  out.stop = stops;
  // Non-standard: keep generating past end-of-sequence tokens (for benchmarks).
  if (request.ignore_eos !== undefined) {
    if (typeof request.ignore_eos !== "boolean") throw invalid("ignore_eos must be a boolean");
    out.ignore_eos = request.ignore_eos;
  }
  if (request.stream !== undefined && typeof request.stream !== "boolean") throw invalid("stream must be a boolean");
  return out;
}

/** Derived speed figures for the non-standard `hearth` field of a completion. */
function timingsOf(done) {
  const timings = { ...(done.timings ?? {}) };
  // Engine figures: prefill_tokens excludes a prompt prefix reused from the previous turn;
  // decode_tokens counts the tokens after the first (which comes out of the prefill).
  if (timings.prefill_ms > 0 && timings.prefill_tokens > 0) {
    timings.prefill_tokens_per_s = (timings.prefill_tokens * 1000) / timings.prefill_ms;
  }
  if (timings.decode_ms > 0 && timings.decode_tokens > 0) {
    timings.decode_tokens_per_s = (timings.decode_tokens * 1000) / timings.decode_ms;
  }
  return timings;
}

let completionCounter = 0;
function completionId(prefix) {
  completionCounter += 1;
  const random = Math.random().toString(36).slice(2, 10);
  return `${prefix}-${Date.now().toString(36)}${random}${completionCounter}`;
}

/** An LLM loaded in a dedicated Web Worker. Create it with `Engine.load`. */
export class Engine {
  #worker;
  #handlers = new Map();
  #nextId = 1;
  #closed = null;
  #loaded;

  /**
   * Starts a worker, streams the model into the GPU and resolves once it can generate.
   * @param {string | URL | Blob | { url: string } | { file: Blob } | { hf: string, file?: string, revision?: string }} source
   * @param {{ onProgress?: (p: object) => void, contextLength?: number, signal?: AbortSignal, workerUrl?: string | URL }} [options]
   */
  static async load(source, options = {}) {
    const { onProgress, contextLength, signal, workerUrl } = options;
    if (signal?.aborted) throw abortError(signal);
    const resolved = resolveSource(source);
    if (contextLength !== undefined && (!Number.isInteger(contextLength) || contextLength < 1)) {
      throw invalid(`contextLength must be a positive integer, got ${contextLength}`);
    }
    if (typeof navigator === "undefined" || !navigator.gpu) {
      throw new HearthError("no_webgpu", "navigator.gpu is undefined");
    }
    if (resolved.url && resolved.cache !== false) {
      // Ask that cached models survive storage pressure. Not awaited: a browser may ask
      // the user, and the answer does not change how the model loads.
      navigator.storage?.persist?.().catch(() => {});
      if (resolved.size) await checkRoomFor({ id: resolved.id ?? resolved.url, size: resolved.size });
    }
    // Written out in full so that bundlers (Vite, webpack 5) recognize the pattern and
    // bundle the worker with its imports and the wasm it fetches relative to itself.
    const worker = workerUrl
      ? new Worker(workerUrl, { type: "module", name: "hearth-engine" })
      : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "hearth-engine" });
    const engine = new Engine(worker);
    const onAbort = () => engine.#fail(abortError(signal));
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      engine.#loaded = await engine.#request({ kind: ToWorker.load, source: resolved, contextLength }, (message) => {
        if (message.kind === FromWorker.progress) {
          const { kind, id, ...progress } = message;
          progress.fraction = progress.total > 0 ? Math.min(1, progress.bytes / progress.total) : null;
          onProgress?.(progress);
          return undefined;
        }
        if (message.kind === FromWorker.loaded) return { result: message };
        return undefined;
      });
    } catch (error) {
      engine.#fail(error);
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    return engine;
  }

  /**
   * The models cached in this origin's storage (complete ones and interrupted downloads).
   * `list()` resolves to `[{ id, name, url, size, bytes, complete, sha256, storedAt }]`;
   * `delete(id)` resolves to whether the entry existed.
   */
  static cache = Object.freeze({
    list: () => listCached(),
    delete: (id) => deleteCached(id),
  });

  constructor(worker) {
    if (!(worker instanceof Worker)) throw new TypeError("use Engine.load(source) to create an Engine");
    this.#worker = worker;
    worker.onmessage = (event) => this.#dispatch(event.data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new HearthError("worker", event.message || "the worker script failed to load"));
    };
    worker.onmessageerror = () => this.#fail(new HearthError("worker", "a message could not be decoded"));
  }

  /** What the engine reports about the model (name, arch, vocabulary, context length, ...). */
  get info() {
    return this.#loaded?.info ?? null;
  }

  /** The GPU adapter the engine runs on. */
  get adapter() {
    return this.#loaded?.adapter ?? this.#loaded?.info?.adapter ?? null;
  }

  /** Load figures: `{ loadMs, memory: { before, after } }` (wasm memory in bytes). */
  get loadStats() {
    if (!this.#loaded) return null;
    return { loadMs: this.#loaded.loadMs, memory: this.#loaded.memory };
  }

  /** OpenAI-style chat completions. */
  chat = Object.freeze({
    completions: Object.freeze({ create: (request) => this.#create("chat", request) }),
  });

  /** OpenAI-style (legacy) text completions of a raw prompt, no chat template. */
  completions = Object.freeze({ create: (request) => this.#create("text", request) });

  /** Frees the model's GPU memory and stops the worker. Pending requests fail with code "unloaded". */
  async unload() {
    if (this.#closed) return;
    try {
      await this.#request({ kind: ToWorker.unload }, (message) =>
        message.kind === FromWorker.unloaded ? { result: undefined } : undefined,
      );
    } catch {
      // The worker is going away either way.
    }
    this.#fail(new HearthError("unloaded", "unload() was called"));
  }

  #dispatch(message) {
    const handler = this.#handlers.get(message?.id);
    handler?.(message);
  }

  /** Ends the worker and fails everything still waiting on it. */
  #fail(error) {
    if (this.#closed) return;
    this.#closed = error;
    this.#worker.terminate();
    const handlers = [...this.#handlers.values()];
    this.#handlers.clear();
    for (const handler of handlers) handler({ kind: FromWorker.error, error });
  }

  /**
   * Sends a request and resolves when `onMessage` returns `{ result }`; rejects on an
   * `error` message. `onMessage` sees every other message for this id.
   */
  #request(message, onMessage) {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#handlers.set(id, (reply) => {
        if (reply.kind === FromWorker.error) {
          this.#handlers.delete(id);
          reject(reply.error instanceof Error ? reply.error : HearthError.fromWire(reply.error));
          return;
        }
        const outcome = onMessage(reply);
        if (outcome) {
          this.#handlers.delete(id);
          resolve(outcome.result);
        }
      });
      this.#worker.postMessage({ ...message, id });
    });
  }

  async #create(kind, request) {
    const engineRequest = toEngineRequest(request, kind);
    const { signal } = request;
    if (signal?.aborted) throw abortError(signal);
    if (this.#closed) throw this.#closed;
    const id = this.#nextId;
    const meta = {
      id: completionId(kind === "chat" ? "chatcmpl" : "cmpl"),
      created: Math.floor(Date.now() / 1000),
      model: this.info?.name ?? "hearth",
    };
    const abort = () => {
      if (!this.#closed && this.#handlers.has(id)) this.#worker.postMessage({ kind: ToWorker.abort, id });
    };
    signal?.addEventListener("abort", abort, { once: true });
    const cleanup = () => signal?.removeEventListener("abort", abort);
    const message = { kind: ToWorker.generate, request: engineRequest };

    if (request.stream) {
      const stream = new ChunkStream(abort);
      let first = true;
      this.#request(message, (reply) => {
        if (reply.kind === FromWorker.chunk) {
          if (reply.delta || first) {
            stream.push(chunkOf(kind, meta, reply.delta, first));
            first = false;
          }
          return undefined;
        }
        if (reply.kind === FromWorker.done) {
          stream.push(finalChunkOf(kind, meta, reply));
          return { result: undefined };
        }
        return undefined;
      }).then(
        () => {
          cleanup();
          stream.end();
        },
        (error) => {
          cleanup();
          stream.fail(error);
        },
      );
      return stream;
    }

    let text = "";
    try {
      const done = await this.#request(message, (reply) => {
        if (reply.kind === FromWorker.chunk) text += reply.delta;
        return reply.kind === FromWorker.done ? { result: reply } : undefined;
      });
      return completionOf(kind, meta, text, done);
    } finally {
      cleanup();
    }
  }
}

function chunkOf(kind, meta, delta, first) {
  if (kind === "text") {
    return {
      ...meta,
      object: "text_completion",
      choices: [{ index: 0, text: delta, finish_reason: null, logprobs: null }],
    };
  }
  return {
    ...meta,
    object: "chat.completion.chunk",
    choices: [
      {
        index: 0,
        delta: first ? { role: "assistant", content: delta } : { content: delta },
        finish_reason: null,
        logprobs: null,
      },
    ],
  };
}

function finalChunkOf(kind, meta, done) {
  const choice =
    kind === "text"
      ? { index: 0, text: "", finish_reason: done.finishReason, logprobs: null }
      : { index: 0, delta: {}, finish_reason: done.finishReason, logprobs: null };
  return {
    ...meta,
    object: kind === "text" ? "text_completion" : "chat.completion.chunk",
    choices: [choice],
    usage: done.usage,
    hearth: { token_ids: done.tokenIds, timings: timingsOf(done) },
  };
}

function completionOf(kind, meta, text, done) {
  const choice =
    kind === "text"
      ? { index: 0, text, finish_reason: done.finishReason, logprobs: null }
      : { index: 0, message: { role: "assistant", content: text }, finish_reason: done.finishReason, logprobs: null };
  return {
    ...meta,
    object: kind === "text" ? "text_completion" : "chat.completion",
    choices: [choice],
    usage: done.usage,
    hearth: { token_ids: done.tokenIds, timings: timingsOf(done) },
  };
}
