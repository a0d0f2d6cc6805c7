// hearth's JS API: an LLM engine in a Web Worker with OpenAI-shaped chat completions.
//
//   const engine = await Engine.load("/models/model.gguf", { onProgress });
//   const stream = await engine.chat.completions.create({ messages, stream: true });
//   for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
//
// The worker (worker.js) owns the wasm engine and the GPU; this module only validates
// requests, talks the protocol of protocol.js and shapes the replies as OpenAI does.
// `Engine.connect` (and `Engine.load`'s `fallback`) give the same API over an
// OpenAI-compatible server instead: remote.js, imported only then.

import { ChunkStream } from "./stream.js";
import { FromWorker, ToWorker } from "./protocol.js";
import { HearthError, abortError } from "./errors.js";
import { invalid, toEngineRequest } from "./request.js";

import { deleteCached, listCached } from "./cache.js";
import { checkRoomFor, downloadModel } from "./download.js";

export { HearthError } from "./errors.js";

/** Whether this context has the WebGPU API (an adapter may still be missing). */
function hasWebgpu() {
  return typeof navigator !== "undefined" && Boolean(navigator.gpu);
}

/**
 * Why WebGPU cannot run the engine here (no API, or no adapter), or null when it can.
 * @returns {Promise<HearthError | null>}
 */
async function webgpuObstacle() {
  if (!hasWebgpu()) return new HearthError("no_webgpu", "navigator.gpu is undefined");
  try {
    if (!(await navigator.gpu.requestAdapter())) return new HearthError("no_adapter", "requestAdapter() returned null");
  } catch (error) {
    return new HearthError("no_adapter", String(error?.message ?? error));
  }
  return null;
}

/**
 * Whether this browser can run the engine on WebGPU: the API present and an adapter available.
 * @returns {Promise<{ supported: boolean, reason?: string }>}
 */
export async function checkSupport() {
  const obstacle = await webgpuObstacle();
  return obstacle ? { supported: false, reason: obstacle.message } : { supported: true };
}

/** Normalizes a model source into what the worker accepts: `{ url }` or `{ file }`. */
function resolveSource(source) {
  if (typeof Blob !== "undefined" && source instanceof Blob) return { file: source };
  if (source instanceof URL) return { url: source.href };
  if (typeof source === "string") {
    if (source.startsWith("hf:")) return resolveSource({ hf: source.slice(3) });
    // A URL ending in "/" is a Hugging Face folder (config.json, tokenizer.json, safetensors).
    if (source.endsWith("/")) return resolveSource({ folder: source });
    // The worker resolves relative URLs against its own script, so resolve them here.
    return { url: new URL(source, globalThis.location?.href).href };
  }
  if (source && typeof source === "object") {
    if (source.file instanceof Blob) return { file: source.file };
    if (typeof source.url === "string") return { ...resolveSource(source.url), ...cacheFields(source) };
    if (source.folder !== undefined) return { folder: folderOf(source.folder) };
    if (typeof source.hf === "string") {
      // "owner/repo/path/to/file.gguf" or { hf: "owner/repo", file: "file.gguf" }
      const parts = source.hf.split("/");
      const repo = parts.slice(0, 2).join("/");
      const file = source.file ?? parts.slice(2).join("/");
      if (parts.length < 2 || parts.slice(0, 2).some((part) => part === "")) {
        throw new HearthError("invalid_request", "a Hugging Face source needs 'owner/repo' (and a file name for a GGUF file)");
      }
      const revision = encodeURIComponent(source.revision ?? "main");
      const base = `https://huggingface.co/${repo}/resolve/${revision}/`;
      // No file: the repository is a model folder (config.json, tokenizer.json, safetensors).
      return file ? { url: `${base}${file}` } : { folder: { url: base } };
    }
  }
  throw new HearthError(
    "invalid_request",
    "the model source must be a URL, a File, { hf: 'owner/repo', file? } or { folder: URL or the files of a folder }",
  );
}

/** A Hugging Face folder: a base URL (a trailing "/" is added) or the files the user picked. */
function folderOf(folder) {
  if (typeof folder === "string" || folder instanceof URL) {
    const url = new URL(folder, globalThis.location?.href).href;
    return { url: url.endsWith("/") ? url : `${url}/` };
  }
  const files = folder && typeof folder[Symbol.iterator] === "function" ? [...folder] : null;
  if (!files || files.length === 0 || !files.every((file) => typeof Blob !== "undefined" && file instanceof Blob && typeof file.name === "string")) {
    throw invalid("source.folder must be a URL or the files of a folder (a FileList or an array of File)");
  }
  return { files };
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

/** What runs a model unless `backend` says otherwise. */
const DEFAULT_BACKEND = "auto";
/** wasm32's address space, and the room the CPU backend needs beside the weights. */
const WASM_MEMORY_BYTES = 4 * 2 ** 30;
const CPU_WORKING_BYTES = 32 * 2 ** 20;

/**
 * Checks a load's options and source and asks for the room it needs (`load` and `reload`).
 * @returns {Promise<object>} the source as the worker takes it
 */
async function prepareLoad(source, { contextLength, signal, backend, threads, activations }) {
  if (signal?.aborted) throw abortError(signal);
  const resolved = resolveSource(source);
  if (contextLength !== undefined && (!Number.isInteger(contextLength) || contextLength < 1)) {
    throw invalid(`contextLength must be a positive integer, got ${contextLength}`);
  }
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw invalid(`threads must be a positive integer, got ${threads}`);
  }
  if (activations !== undefined && !["int16", "f32"].includes(activations)) {
    throw invalid(`activations must be "int16" or "f32", got ${JSON.stringify(activations)}`);
  }
  if (!["webgpu", "cpu", "auto"].includes(backend)) {
    throw invalid(`backend must be "webgpu", "cpu" or "auto", got ${JSON.stringify(backend)}`);
  }
  const webgpu = hasWebgpu();
  if (backend === "webgpu" && !webgpu) throw new HearthError("no_webgpu", "navigator.gpu is undefined");
  // The CPU backend keeps the weights in wasm memory, which ends at 4 GiB: a model known
  // to be larger is refused before anything downloads (its header is checked again).
  const size = resolved.file?.size ?? resolved.size;
  if ((backend === "cpu" || (backend === "auto" && !webgpu)) && size > WASM_MEMORY_BYTES - CPU_WORKING_BYTES) {
    throw new HearthError(
      "does_not_fit",
      `the model takes ${size} bytes; on the CPU backend it must fit, with its cache, in the 4 GiB of a WebAssembly instance`,
    );
  }
  if (resolved.url && resolved.cache !== false) {
    // Ask that cached models survive storage pressure. Not awaited: a browser may ask
    // the user, and the answer does not change how the model loads.
    navigator.storage?.persist?.().catch(() => {});
    if (resolved.size) await checkRoomFor({ id: resolved.id ?? resolved.url, size: resolved.size });
  }
  return resolved;
}

/**
 * The codes of a failed load that mean "this device cannot run this model", after which
 * `Engine.load` turns to its `fallback` server: no WebGPU or adapter, the model or its
 * context does not fit the device's memory or limits, the GPU rejected the work, or the
 * model's architecture or tensor types are ones the local engine does not run.
 */
export const FALLBACK_CODES = Object.freeze([
  "no_webgpu",
  "no_adapter",
  "does_not_fit",
  "gpu",
  "unsupported_architecture",
  "unsupported_tensor_type",
  "unsupported_feature",
]);

/**
 * Why this device cannot run a model, known before any download: no WebGPU or no adapter
 * when WebGPU is asked for, or a model whose size (when known) exceeds 3/4 of
 * the device's memory (`navigator.deviceMemory`, in GiB; the weights take about the
 * file's size).
 * @returns {Promise<HearthError | null>}
 */
async function localObstacle(resolved, backend) {
  // The CPU backend needs no WebGPU; "auto" turns to it when there is none.
  if (backend === "webgpu") {
    const obstacle = await webgpuObstacle();
    if (obstacle) return obstacle;
  }
  const size = resolved.file?.size ?? resolved.size;
  const memory = Number(navigator.deviceMemory) * 2 ** 30;
  if (size > 0 && memory > 0 && size > memory * 0.75) {
    return new HearthError(
      "does_not_fit",
      `the model takes ${size} bytes and this device has about ${navigator.deviceMemory} GiB of memory`,
    );
  }
  return null;
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
  /** The `onProgress` of `load`: also told when a lost GPU device makes a request reload. */
  #onProgress;
  /** The worker's wasm memory in bytes at the end of the last request. */
  #wasmMemory = null;

  /**
   * Starts a worker, streams the model into the GPU and resolves once it can generate.
   * With `fallback` (an OpenAI-compatible server), resolves to a `RemoteEngine` for that
   * server when this device cannot run the model: no WebGPU or no adapter, a model larger
   * than the device's memory (decided before downloading when the size is known), or a
   * load that fails with one of FALLBACK_CODES. `engine.backend.kind` tells which it is.
   * @param {string | URL | Blob | { url: string } | { file: Blob } | { hf: string, file?: string, revision?: string }} source
   * `backend`: "auto" (the default: WebGPU on a hardware adapter, the CPU without WebGPU or
   * on a software adapter, which the CPU backend outruns), "webgpu" or "cpu" (weights in
   * wasm memory, no WebGPU needed). `threads`: how many threads the CPU backend uses on a
   * cross-origin isolated page (default: one per processor; other pages run it on one).
   * `activations`: the CPU backend's when decoding, "int16" (the default: an integer dot
   * with Q4_0/Q4_1/Q8_0 weights) or "f32".
   * @param {{ onProgress?: (p: object) => void, contextLength?: number, backend?: "webgpu" | "cpu" | "auto", threads?: number, activations?: "int16" | "f32", signal?: AbortSignal, workerUrl?: string | URL, fallback?: { baseURL: string, model: string, apiKey?: string, headers?: object } }} [options]
   */
  static async load(source, options = {}) {
    const { fallback, ...local } = options;
    if (fallback === undefined || fallback === null) return Engine.#loadLocal(source, local);
    if (local.signal?.aborted) throw abortError(local.signal);
    const remote = await import("./remote.js");
    // Checked now, so that a mistyped fallback fails at once rather than after a download.
    remote.remoteConfig(fallback);
    const viaServer = (reason) =>
      remote.connect(fallback, { signal: local.signal, reason }).catch((error) => {
        // The server failed too: the error says why, its cause why the device was not used.
        if (error instanceof HearthError && error.cause === undefined) error.cause = reason;
        throw error;
      });
    const obstacle = await localObstacle(resolveSource(source), local.backend ?? DEFAULT_BACKEND);
    if (obstacle) return viaServer(obstacle);
    try {
      return await Engine.#loadLocal(source, local);
    } catch (error) {
      if (error instanceof HearthError && FALLBACK_CODES.includes(error.code)) return viaServer(error);
      throw error;
    }
  }

  /**
   * The same chat.completions API against an OpenAI-compatible server (llama.cpp's server,
   * vLLM, Ollama, OpenAI): resolves to a `RemoteEngine` once the server answered and, when
   * it lists its models, lists `model`. The API key is kept in memory only.
   * @param {{ baseURL: string, model: string, apiKey?: string, headers?: object }} options
   * @param {{ signal?: AbortSignal }} [init]
   */
  static async connect(options, { signal } = {}) {
    const { connect } = await import("./remote.js");
    return connect(options, { signal });
  }

  static async #loadLocal(source, options) {
    const { onProgress, contextLength, signal, workerUrl, threads, activations, backend = DEFAULT_BACKEND } = options;
    const resolved = await prepareLoad(source, { contextLength, signal, backend, threads, activations });
    // Written out in full so that bundlers (Vite, webpack 5) recognize the pattern and
    // bundle the worker with its imports and the wasm it fetches relative to itself.
    const worker = workerUrl
      ? new Worker(workerUrl, { type: "module", name: "hearth-engine" })
      : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "hearth-engine" });
    const engine = new Engine(worker);
    engine.#onProgress = onProgress;
    await engine.#loadInWorker(resolved, { contextLength, backend, threads, activations, signal });
    return engine;
  }

  /**
   * Loads `resolved` in this engine's worker. A failure (or `signal`) ends the engine: the
   * worker may hold half a model.
   */
  async #loadInWorker(resolved, { contextLength, backend, threads, activations, signal }) {
    const onAbort = () => this.#fail(abortError(signal));
    signal?.addEventListener("abort", onAbort, { once: true });
    const message = { kind: ToWorker.load, source: resolved, contextLength, backend, threads, activations };
    try {
      this.#loaded = await this.#request(message, (message) => {
        if (message.kind === FromWorker.progress) {
          this.#progress(message);
          return undefined;
        }
        if (message.kind === FromWorker.loaded) return { result: message };
        return undefined;
      });
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Replaces the model in the same worker (no new worker, no second wasm instance): the
   * requests in flight or queued end with code "unloaded", the old model's memory is
   * freed, then `source` loads as `Engine.load` loads it. Resolves to this engine.
   * @param {string | URL | Blob | { url: string } | { file: Blob } | { hf: string, file?: string, revision?: string }} source
   * `threads` takes effect on the engine's first load on the CPU backend (its pool stays).
   * @param {{ onProgress?: (p: object) => void, contextLength?: number, backend?: "webgpu" | "cpu" | "auto", threads?: number, activations?: "int16" | "f32", signal?: AbortSignal }} [options]
   */
  async reload(source, options = {}) {
    const { onProgress, contextLength, signal, threads, activations, backend = DEFAULT_BACKEND } = options;
    if (this.#closed) throw this.#closed;
    const resolved = await prepareLoad(source, { contextLength, signal, backend, threads, activations });
    if (onProgress) this.#onProgress = onProgress;
    this.#loaded = undefined;
    await this.#loadInWorker(resolved, { contextLength, backend, threads, activations, signal });
    return this;
  }

  /**
   * Stores a model in this origin's cache without loading it (no worker, no GPU), so that
   * a later `Engine.load` of the same source starts without the network. Progress as in
   * `load` (phase "download"; one "cache" report when it was already stored, which is
   * not read again). Aborting keeps the bytes that arrived: the next call resumes. Resolves
   * to the cache entry.
   * @param {string | URL | { url: string, id?: string, name?: string, size?: number, sha256?: string } | { hf: string, file?: string, revision?: string }} source
   * @param {{ onProgress?: (p: object) => void, signal?: AbortSignal }} [options]
   */
  static async download(source, { onProgress, signal } = {}) {
    if (signal?.aborted) throw abortError(signal);
    const resolved = resolveSource(source);
    if (!resolved.url) throw invalid("Engine.download takes a URL or Hugging Face source: a File is already on this device");
    if (resolved.cache === false) throw invalid("Engine.download stores models: source.cache cannot be false");
    navigator.storage?.persist?.().catch(() => {});
    const id = resolved.id ?? resolved.url;
    await downloadModel({ ...resolved, id }, { onProgress, signal });
    return (await listCached()).find((model) => model.id === id) ?? null;
  }

  /**
   * The models cached in this origin's storage (complete ones and interrupted downloads).
   * `list()` resolves to `[{ id, name, url, size, bytes, complete, sha256, storedAt }]`;
   * `has(id)` to whether a complete copy is stored (`id`: the source's `id`, or its URL as
   * `load` resolves it); `delete(id)` to whether the entry existed.
   */
  static cache = Object.freeze({
    list: () => listCached(),
    has: async (id) => {
      if (typeof id !== "string" || id === "") return false;
      const url = URL.canParse?.(id, globalThis.location?.href) ? new URL(id, globalThis.location?.href).href : id;
      return (await listCached()).some((model) => model.complete && (model.id === id || model.id === url));
    },
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

  /**
   * Which backend answers: `{ kind, adapter }`, kind as the engine reports it ("webgpu", or
   * "cpu" for its CPU backend, whose `adapter` then says its threads and SIMD level, e.g.
   * "2 threads, SIMD128"; on the CPU also `threads`, and `singleThreadReason` when the
   * page allowed one thread only). A `RemoteEngine` says "remote".
   */
  get backend() {
    const reported = this.info?.backend;
    const kind = typeof reported?.kind === "string" ? reported.kind : "webgpu";
    const threads = this.#loaded?.threads;
    return Object.freeze({
      kind,
      adapter: reported?.device ?? this.adapter,
      ...(kind === "cpu" && threads
        ? { threads: threads.count, ...(threads.singleThreadReason ? { singleThreadReason: threads.singleThreadReason } : {}) }
        : {}),
    });
  }

  /** Load figures: `{ loadMs, memory: { before, after } }` (wasm memory in bytes). */
  get loadStats() {
    if (!this.#loaded) return null;
    return { loadMs: this.#loaded.loadMs, memory: this.#loaded.memory };
  }

  /** The worker's wasm memory in bytes, as of the end of the last request (or the load). */
  get wasmMemory() {
    return this.#wasmMemory ?? this.#loaded?.memory?.after ?? null;
  }

  /** OpenAI-style chat completions. */
  chat = Object.freeze({
    completions: Object.freeze({ create: (request, options) => this.#create("chat", request, options) }),
  });

  /** OpenAI-style (legacy) text completions of a raw prompt, no chat template. */
  completions = Object.freeze({ create: (request, options) => this.#create("text", request, options) });

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

  /**
   * Destroys the GPU device as a driver reset would, to test an app's recovery path: a
   * request in flight fails with code "gpu_lost", the next one reloads the model (progress
   * phase "reconnect") and answers.
   */
  async simulateDeviceLoss() {
    await this.#request({ kind: ToWorker.destroyDevice }, (message) =>
      message.kind === FromWorker.deviceDestroyed ? { result: undefined } : undefined,
    );
  }

  /** Passes a progress message to the `onProgress` of `load` (also while reconnecting). */
  #progress(message) {
    const { kind, id, ...progress } = message;
    progress.fraction = progress.total > 0 ? Math.min(1, progress.bytes / progress.total) : null;
    this.#onProgress?.(progress);
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

  async #create(kind, request, options) {
    const engineRequest = toEngineRequest(request, kind);
    // `create(request, { signal })` as in OpenAI's client, or `signal` in the request.
    const signal = options?.signal ?? request.signal;
    if (signal?.aborted) throw abortError(signal);
    if (this.#closed) throw this.#closed;
    const id = this.#nextId;
    const meta = {
      id: completionId(kind === "chat" ? "chatcmpl" : "cmpl"),
      created: Math.floor(Date.now() / 1000),
      // The model the request named, as OpenAI echoes it; the loaded model's name without one.
      model: request.model ?? this.info?.name ?? "hearth",
    };
    const shape = {
      logprobs: engineRequest.logprobs !== undefined,
      // OpenAI's rule: usage only in an extra last chunk, and only when asked for.
      includeUsage: request.stream_options?.include_usage === true,
      parallelToolCalls: request.parallel_tool_calls !== false,
    };
    const reply = new ReplyText();
    const abort = () => {
      if (!this.#closed && this.#handlers.has(id)) this.#worker.postMessage({ kind: ToWorker.abort, id });
    };
    signal?.addEventListener("abort", abort, { once: true });
    const cleanup = () => signal?.removeEventListener("abort", abort);
    const message = { kind: ToWorker.generate, request: engineRequest };

    if (request.stream) {
      const stream = new ChunkStream(abort);
      let first = true;
      this.#request(message, (answer) => {
        if (answer.kind === FromWorker.progress) this.#progress(answer);
        if (answer.kind === FromWorker.chunk) {
          const logprobs = reply.add(kind, answer);
          // A token that completes no text yet (part of a character, a held-back stop
          // string) still gets its chunk when its log-probabilities were asked for.
          if (answer.delta || first || logprobs) {
            const includeUsage = shape.includeUsage;
            stream.push(chunkOf(kind, meta, { delta: answer.delta, first, logprobs, includeUsage }));
            first = false;
          }
          return undefined;
        }
        if (answer.kind === FromWorker.done) {
          this.#wasmMemory = answer.wasmMemory ?? this.#wasmMemory;
          const toolCalls = toolCallsOf(answer, shape);
          if (toolCalls) stream.push(toolCallChunkOf(meta, toolCalls, { first, includeUsage: shape.includeUsage }));
          stream.push(finalChunkOf(kind, meta, answer, shape));
          if (shape.includeUsage) stream.push(usageChunkOf(kind, meta, answer));
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

    try {
      const done = await this.#request(message, (answer) => {
        if (answer.kind === FromWorker.progress) this.#progress(answer);
        if (answer.kind === FromWorker.chunk) reply.add(kind, answer);
        if (answer.kind !== FromWorker.done) return undefined;
        this.#wasmMemory = answer.wasmMemory ?? this.#wasmMemory;
        return { result: answer };
      });
      return completionOf(kind, meta, reply, done, shape);
    } finally {
      cleanup();
    }
  }
}

// The OpenAI shapes of the replies, built from the worker's messages: stream chunks, the
// usage-only chunk of `stream_options.include_usage`, non-streamed completions, and
// log-probabilities (chat: `{ content: [...] }`; text completions: `{ tokens,
// token_logprobs, top_logprobs, text_offset }`).

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

const objectOf = (kind, streamed) =>
  kind === "text" ? "text_completion" : streamed ? "chat.completion.chunk" : "chat.completion";

/**
 * Log-probabilities of a chat completion for the engine's steps (`{ sampled, top }` each,
 * see `StepLogprobs` in src/engine/request.rs).
 */
function chatLogprobs(steps) {
  const entry = ({ token, logprob, bytes }) => ({ token, logprob, bytes });
  return {
    content: steps.map(({ sampled, top }) => ({ ...entry(sampled), top_logprobs: top.map(entry) })),
    refusal: null,
  };
}

/**
 * Log-probabilities of a text completion. `offsets[i]`: where token i's text starts in the
 * completion's text (the length of the text streamed before its step, in UTF-16 code
 * units). Each `top_logprobs` entry maps token text → logprob for the most likely tokens
 * and the sampled one (OpenAI: "up to logprobs + 1" entries).
 */
function textLogprobs(steps, offsets) {
  return {
    tokens: steps.map((step) => step.sampled.token),
    token_logprobs: steps.map((step) => step.sampled.logprob),
    top_logprobs: steps.map(({ sampled, top }) => {
      const alternatives = {};
      for (const { token, logprob } of [...top, sampled]) if (!(token in alternatives)) alternatives[token] = logprob;
      return alternatives;
    }),
    text_offset: offsets,
  };
}

/**
 * Gathers what a reply reports about its tokens as the worker's chunks arrive: the text,
 * and each token's log-probabilities with where its text starts.
 */
class ReplyText {
  text = "";
  /** The engine's `StepLogprobs` of each token, in order. */
  steps = [];
  offsets = [];

  /** Adds a chunk message; returns the log-probabilities of its token in the reply's shape, or null. */
  add(kind, chunk) {
    let logprobs = null;
    if (chunk.logprobs) {
      this.steps.push(chunk.logprobs);
      this.offsets.push(this.text.length);
      logprobs = kind === "text" ? textLogprobs([chunk.logprobs], [this.text.length]) : chatLogprobs([chunk.logprobs]);
    }
    this.text += chunk.delta ?? "";
    return logprobs;
  }

  /** Every token's log-probabilities, for a non-streamed reply; null when none were asked for. */
  logprobs(kind, wanted) {
    if (!wanted) return null;
    return kind === "text" ? textLogprobs(this.steps, this.offsets) : chatLogprobs(this.steps);
  }
}

/**
 * A chunk of text (or of nothing but log-probabilities). With `include_usage`, every chunk
 * but the usage-only one has `usage: null`, as OpenAI's have.
 */
function chunkOf(kind, meta, { delta, first, logprobs, includeUsage }) {
  const choice =
    kind === "text"
      ? { index: 0, text: delta, finish_reason: null, logprobs }
      : {
          index: 0,
          delta: first ? { role: "assistant", content: delta } : { content: delta },
          finish_reason: null,
          logprobs,
        };
  return { ...meta, object: objectOf(kind, true), choices: [choice], ...(includeUsage ? { usage: null } : {}) };
}

/** The calls an answer made (the first only under `parallel_tool_calls: false`), or null. */
function toolCallsOf(done, { parallelToolCalls }) {
  const calls = done.toolCalls;
  if (!calls?.length) return null;
  return parallelToolCalls ? calls : calls.slice(0, 1);
}

/** The chunk that streams an answer's tool calls, each whole, before the last chunk. */
function toolCallChunkOf(meta, calls, { first, includeUsage }) {
  const tool_calls = calls.map((call, index) => ({ index, ...call }));
  const delta = first ? { role: "assistant", content: null, tool_calls } : { tool_calls };
  const choice = { index: 0, delta, finish_reason: null, logprobs: null };
  return { ...meta, object: objectOf("chat", true), choices: [choice], ...(includeUsage ? { usage: null } : {}) };
}

/** The chunk with the finish_reason (and hearth's extension: token ids, timings). */
function finalChunkOf(kind, meta, done, { includeUsage }) {
  const choice =
    kind === "text"
      ? { index: 0, text: "", finish_reason: done.finishReason, logprobs: null }
      : { index: 0, delta: {}, finish_reason: done.finishReason, logprobs: null };
  return {
    ...meta,
    object: objectOf(kind, true),
    choices: [choice],
    ...(includeUsage ? { usage: null } : {}),
    hearth: { token_ids: done.tokenIds, timings: timingsOf(done) },
  };
}

/** OpenAI's last chunk under `stream_options: { include_usage: true }`: no choices, the usage. */
function usageChunkOf(kind, meta, done) {
  return { ...meta, object: objectOf(kind, true), choices: [], usage: done.usage };
}

/** A non-streamed completion. */
function completionOf(kind, meta, reply, done, shape) {
  const { logprobs } = shape;
  const toolCalls = kind === "chat" ? toolCallsOf(done, shape) : null;
  // OpenAI's: a message that only calls tools has `content: null`.
  const message = toolCalls
    ? { role: "assistant", content: reply.text || null, tool_calls: toolCalls }
    : { role: "assistant", content: reply.text };
  const choice =
    kind === "text"
      ? { index: 0, text: reply.text, finish_reason: done.finishReason, logprobs: reply.logprobs(kind, logprobs) }
      : {
          index: 0,
          message,
          finish_reason: done.finishReason,
          logprobs: reply.logprobs(kind, logprobs),
        };
  return {
    ...meta,
    object: objectOf(kind, false),
    choices: [choice],
    usage: done.usage,
    hearth: { token_ids: done.tokenIds, timings: timingsOf(done) },
  };
}
