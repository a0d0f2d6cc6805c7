// The engine's dedicated module worker: it owns the wasm instance and the GPU device, so
// neither loading nor generating ever blocks the page's thread. The messages it accepts
// and sends are documented in protocol.js.

import initSingle, * as single from "./pkg/hearth.js";
import { FromWorker, ToWorker } from "./protocol.js";
import { HearthError, wireError } from "./errors.js";
import { cacheAvailable } from "./cache.js";
import { checkedReader, openCachedModel } from "./download.js";
import { openFolder } from "./folder.js";
import { hashWith } from "./hasher.js";

/** Minimum interval between two progress messages, in ms. */
const PROGRESS_INTERVAL_MS = 100;

/** How long the thread pool's workers may take to start, in ms, before one thread is used. */
const POOL_START_MS = 20000;
/** Most threads the CPU backend asks for (more cost memory and rarely help a matvec). */
const MAX_THREADS = 16;

/**
 * The engine's two wasm builds, each instantiated at most once per worker, as promises of
 * `{ module, exports, threads, singleThreadReason }`: `single` (js/pkg, one thread, runs
 * anywhere) and `threads` (js/pkg-threads: the CPU backend spreads its products over a
 * pool of workers sharing the module's memory, which needs SharedArrayBuffer, so a cross-
 * origin isolated page).
 */
const builds = {};
/** The wasm exports of the build the current engine runs in (for the memory size). */
let wasm = null;
/** The loaded engine (a wasm-bindgen `WebEngine`), or null. */
let engine = null;
/** Its GPU device (a `WebDevice`, usable while a step holds the engine), or null. */
let device = null;
/** Set after a wasm trap: the instance's state is undefined, so every request fails. */
let broken = null;
/** The last successful `load` message: what to load again after the GPU device is lost. */
let lastLoad = null;

/** Generation requests waiting for the engine, oldest first. */
const queue = [];
/** The running generation: `{ id, request, abortRequested }`, or null. */
let running = null;

const post = (message) => self.postMessage(message);
const postError = (id, error) => post({ kind: FromWorker.error, id, error: wireError(error) });

self.onmessage = (event) => {
  const message = event.data ?? {};
  const { kind, id } = message;
  switch (kind) {
    case ToWorker.load:
      load(message).catch((error) => postError(id, error));
      break;
    case ToWorker.generate:
      queue.push({ id, request: message.request, abortRequested: false });
      pump();
      break;
    case ToWorker.abort:
      abort(id);
      break;
    case ToWorker.unload:
      unload(id);
      break;
    case ToWorker.destroyDevice:
      destroyDevice(id);
      break;
    default:
      postError(id, new HearthError("internal", `unknown message kind '${kind}'`));
  }
};

/** A wasm trap (panic, out of memory) leaves the instance unusable; remember it. */
function noteTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    broken = new HearthError("worker", `the engine crashed: ${error.message}`);
    engine = null;
    device = null;
  }
}

/**
 * Whether the browser's WebGPU adapter is a CPU implementation (SwiftShader, llvmpipe, WARP):
 * those want other kernels than GPUs do, and wgpu cannot tell from inside wasm. `null` when
 * there is no adapter at all.
 */
async function softwareAdapter() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    const info = adapter?.info;
    if (!adapter) return null;
    if (!info) return undefined;
    if (info.isFallbackAdapter) return true;
    const names = [info.vendor, info.architecture, info.device, info.description].join(" ");
    return /swiftshader|llvmpipe|lavapipe|warp|basic render/i.test(names);
  } catch {
    return null;
  }
}

/**
 * The backend that runs the model: "cpu" or "webgpu" as asked, or for "auto" WebGPU on a
 * hardware adapter and the CPU without WebGPU, without an adapter or on a software one
 * (which the CPU backend outruns).
 * @returns {Promise<{ backend: "cpu" | "webgpu", software?: boolean }>}
 */
async function chooseBackend(requested) {
  if (requested === "cpu") return { backend: "cpu" };
  if (!self.navigator?.gpu) {
    if (requested === "auto") return { backend: "cpu" };
    throw new HearthError("no_webgpu", "navigator.gpu is undefined");
  }
  const software = await softwareAdapter();
  if (requested === "auto" && (software === null || software === true)) return { backend: "cpu" };
  return { backend: "webgpu", software: software ?? undefined };
}

async function load(message) {
  // `reload`: the model in place goes first, so that two never share the memory.
  if (engine || running) await release("the engine loaded another model before this request ended");
  const loaded = await loadModel(message);
  lastLoad = message;
  post({ kind: FromWorker.loaded, id: message.id, ...loaded });
}

/** How long a failed step waits for the browser to report a lost device, in ms. */
const LOSS_REPORT_WAIT_MS = 1000;

/**
 * Why the GPU device `gpu` was lost, or null. The browser reports a loss through a promise,
 * which may settle after the failed step that revealed it (the GPU process answers both),
 * so a failed step waits a moment for it; a step failing on a working device is rare.
 */
async function deviceLost(gpu) {
  if (!gpu) return null;
  const deadline = performance.now() + LOSS_REPORT_WAIT_MS;
  for (;;) {
    try {
      const lost = gpu.lost();
      if (lost) return lost;
    } catch {
      return null;
    }
    if (performance.now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Loads the model of the last `load` again on a new GPU device, reporting progress under
 * request `id` (phase "reconnect" first): the model comes from the cache, or from the
 * file the page gave, so no network is needed.
 */
async function reconnect(id) {
  post({ kind: FromWorker.progress, id, phase: "reconnect", bytes: 0, total: 0, rate: 0, tensorsDone: 0, tensorsTotal: 0 });
  const lost = engine;
  engine = null;
  forgetDevice();
  try {
    lost?.free();
  } catch (error) {
    noteTrap(error);
  }
  await loadModel({ ...lastLoad, id });
}

function forgetDevice() {
  try {
    device?.free();
  } catch {
    // The instance trapped: nothing left to free.
  }
  device = null;
}

/** The test hook of the recovery path: destroys the GPU device as a driver reset would. */
function destroyDevice(id) {
  try {
    device?.destroy();
    post({ kind: FromWorker.deviceDestroyed, id });
  } catch (error) {
    postError(id, error);
  }
}

async function loadModel({ id, source, contextLength, backend: requested = "auto", threads, activations }) {
  const { backend, software } = await chooseBackend(requested);
  const started = performance.now();
  const build = await engineBuild(backend, threads);
  const { createFolderLoader, createLoader } = build.module;
  wasm = build.exports;
  hashWith(build.module);
  const memoryBefore = wasm.memory.buffer.byteLength;

  // A Hugging Face folder is its JSON files, then its safetensors files one after another;
  // any other source is one file. The first file opens before the GPU does, so that a
  // wrong address fails at once.
  const folder = source?.folder ? await openFolder(source.folder, openSource) : null;
  const files = folder?.shards ?? [{ name: null, open: () => openSource(source) }];
  let opened = await files[0].open();
  const options = { contextLength: contextLength ?? undefined, backend, activations, softwareAdapter: software };
  const loader = folder
    ? await createFolderLoader(
        options,
        folder.config,
        folder.tokenizer,
        folder.tokenizerConfig ?? undefined,
        folder.shards.map((shard) => shard.name),
      )
    : await createLoader(options);
  try {
    let bytes = 0;
    let total = 0;
    let phase = opened.phase;
    let progress = { tensors_done: 0, tensors_total: 0 };
    let lastPost = 0;
    const report = (phaseNow, force) => {
      const now = performance.now();
      if (!force && now - lastPost < PROGRESS_INTERVAL_MS) return;
      lastPost = now;
      const seconds = (now - started) / 1000;
      post({
        kind: FromWorker.progress,
        id,
        phase: phaseNow,
        bytes,
        // A folder's size is known file by file: the total grows as its files open.
        total,
        rate: seconds > 0 ? bytes / seconds : 0,
        tensorsDone: progress.tensors_done,
        tensorsTotal: progress.tensors_total,
      });
    };
    for (const [index, file] of files.entries()) {
      if (index > 0) opened = await file.open();
      if (file.name !== null) loader.beginFile(file.name);
      phase = opened.phase;
      total += opened.total;
      report(phase, true);
      for (;;) {
        const { done, value } = await opened.reader.read();
        if (done) break;
        bytes += value.byteLength;
        progress = loader.feed(value);
        report(phase, false);
      }
    }
    report("upload", true);
    report("compile", true);
    // `finish` consumes the loader: wasm-bindgen invalidates the JS handle.
    const ready = await loader.finish();
    const info = ready.info();
    engine = ready;
    device = ready.device();
    return {
      info,
      threads: backend === "cpu" ? { count: build.threads, singleThreadReason: build.singleThreadReason } : null,
      adapter: info?.adapter ?? null,
      memory: { before: memoryBefore, after: wasm.memory.buffer.byteLength },
      loadMs: performance.now() - started,
    };
  } catch (error) {
    noteTrap(error);
    try {
      loader.free();
    } catch {
      // Already consumed by `finish`, or the instance trapped: nothing left to free.
    }
    opened.reader.cancel().catch(() => {});
    throw error;
  }
}

/** Why the CPU backend cannot use threads on this page, or null when it can. */
function singleThreadReason() {
  if (!self.crossOriginIsolated) {
    return (
      "the page is not cross-origin isolated, so WebAssembly threads are unavailable; serve it with " +
      "the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp"
    );
  }
  if ((self.navigator?.hardwareConcurrency ?? 1) < 2) return "the device reports a single processor";
  return null;
}

/**
 * The wasm build that runs `backend`: the threaded one for the CPU backend when the page
 * allows threads (a pool of `threads` workers, by default one per processor), else the
 * single-thread one.
 */
async function engineBuild(backend, threads) {
  const reason = backend === "cpu" ? singleThreadReason() : null;
  if (backend === "cpu" && reason === null) {
    const count = Math.max(1, Math.min(threads ?? self.navigator.hardwareConcurrency, MAX_THREADS));
    builds.threads ??= instantiateThreaded(count).catch((error) => {
      // The pool did not start (a worker script the page's headers refuse, no memory for
      // another instance): one thread still answers, and the engine says why.
      builds.threads = null;
      return instantiateSingle(`the thread pool did not start (${error.message})`);
    });
    return builds.threads;
  }
  return instantiateSingle(reason);
}

async function instantiateSingle(reason) {
  builds.single ??= initSingle()
    .then((exports) => ({ module: single, exports, threads: 1 }))
    .catch((error) => {
      builds.single = null;
      throw error;
    });
  return { ...(await builds.single), singleThreadReason: reason };
}

/**
 * The threaded build, found next to this script at run time: a bundler that bundles the
 * worker into one file (Vite's and webpack's default) leaves it out, and the CPU backend
 * then runs on one thread, saying why; served as published (or copied with the worker),
 * it loads. A literal import would make such bundlers split the worker, which their
 * default worker format refuses.
 */
async function instantiateThreaded(count) {
  const url = new URL("./pkg-threads/hearth.js", import.meta.url).href;
  const module = await import(/* @vite-ignore */ /* webpackIgnore: true */ url);
  const exports = await module.default();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`its workers did not start within ${POOL_START_MS / 1000} s`)), POOL_START_MS);
  });
  try {
    await Promise.race([module.initThreadPool(count), timeout]);
  } finally {
    clearTimeout(timer);
  }
  return { module, exports, threads: count, singleThreadReason: null };
}

/** A byte reader for a model source, its size in bytes (0 if unknown) and its phase name. */
async function openSource(source) {
  if (source?.file instanceof Blob) {
    return { reader: source.file.stream().getReader(), total: source.file.size, phase: "upload" };
  }
  if (typeof source?.url !== "string") {
    throw new HearthError("invalid_request", "the model source must be a URL or a File");
  }
  if (source.cache !== false && cacheAvailable()) {
    const cached = await openCachedModel({
      id: source.id ?? source.url,
      url: source.url,
      name: source.name,
      size: source.size,
      sha256: source.sha256,
    });
    if (cached) return cached;
  }
  let response;
  try {
    response = await fetch(source.url);
  } catch (error) {
    throw new HearthError("network", `${source.url}: ${error.message}`);
  }
  if (!response.ok || !response.body) {
    throw new HearthError("network", `${source.url}: HTTP ${response.status} ${response.statusText}`);
  }
  const length = Number(response.headers.get("content-length"));
  return {
    reader: checkedReader(response.body.getReader(), source.sha256, source.url),
    total: Number.isFinite(length) ? length : 0,
    phase: "download",
  };
}

function abort(id) {
  if (running?.id === id) {
    // The page hears "abort" now; the engine ends after the step in flight (one token),
    // and requests queued behind it wait for that.
    running.abortRequested = true;
    finishJob(running, "abort", null);
    return;
  }
  const index = queue.findIndex((job) => job.id === id);
  if (index >= 0) {
    queue.splice(index, 1);
    post({
      kind: FromWorker.done,
      id,
      finishReason: "abort",
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      tokenIds: [],
      timings: null,
    });
  }
}

function unload(id) {
  release("the engine was unloaded before this request ran").then(() => post({ kind: FromWorker.unloaded, id }));
}

/**
 * Ends the queued requests (code "unloaded", with `reason`), aborts the running one and
 * frees the model; resolves once it is freed.
 */
function release(reason) {
  for (const job of queue.splice(0)) postError(job.id, new HearthError("unloaded", reason));
  if (running) running.abortRequested = true;
  // Dropping the Rust engine destroys its GPU buffers and device.
  const dropping = engine;
  engine = null;
  lastLoad = null;
  forgetDevice();
  return new Promise((resolve) => {
    const free = () => {
      try {
        dropping?.free();
      } catch (error) {
        noteTrap(error);
      }
      resolve();
    };
    // A running step holds the engine borrowed; free it once that generation returns.
    if (running) running.onFinished = free;
    else free();
  });
}

const taskChannel = new MessageChannel();
/** Resolves in a new task, after the messages already queued (no timer clamping). */
function nextTask() {
  return new Promise((resolve) => {
    taskChannel.port1.onmessage = resolve;
    taskChannel.port2.postMessage(null);
  });
}

/** Runs queued generations one after another. */
async function pump() {
  if (running) return;
  while (queue.length > 0) {
    running = queue.shift();
    try {
      await generate(running);
    } catch (error) {
      noteTrap(error);
      postError(running.id, error);
    }
    running.onFinished?.();
    running = null;
  }
}

/** Sends the `done` message of a job, once. */
function finishJob(job, finishReason, step) {
  if (job.finished) return;
  job.finished = true;
  const elapsedMs = performance.now() - job.started;
  const generated = job.tokenIds.length;
  const usage = step?.usage ?? {
    prompt_tokens: job.promptTokens,
    completion_tokens: generated,
    total_tokens: job.promptTokens + generated,
  };
  post({
    kind: FromWorker.done,
    id: job.id,
    finishReason,
    usage,
    tokenIds: job.tokenIds,
    // The engine's `ToolCall`s (OpenAI's shape) when the answer called tools.
    toolCalls: step?.tool_calls ?? null,
    wasmMemory: wasm?.memory.buffer.byteLength ?? null,
    timings: {
      ttft_ms: job.firstTokenMs,
      total_ms: elapsedMs,
      prefill_tokens: step?.timings?.prefill_tokens ?? null,
      prefill_ms: step?.timings?.prefill_ms ?? null,
      decode_tokens: step?.timings?.decode_tokens ?? null,
      decode_ms: step?.timings?.decode_ms ?? null,
      // Structured output: grammar masks computed and their time.
      mask_count: step?.timings?.mask_count ?? null,
      mask_ms: step?.timings?.mask_ms ?? null,
    },
  });
}

async function generate(job) {
  if (broken) throw broken;
  // The device was lost during or since the last request (or the reload after it failed):
  // a new device, the model again.
  if (lastLoad && (!engine || device?.lost())) await reconnect(job.id);
  if (!engine) throw new HearthError("unloaded", "no model is loaded");
  const current = engine;
  const gpu = device;
  try {
    await run(job, current);
  } catch (error) {
    // A GPU error may be the first sign of a lost device (the engine says "gpu_lost"
    // itself when the loss was reported before the step).
    const lost = error?.code === "gpu" ? await deviceLost(gpu) : null;
    if (lost) throw new HearthError("gpu_lost", lost);
    throw error;
  }
}

async function run(job, current) {
  job.started = performance.now();
  job.tokenIds = [];
  job.firstTokenMs = null;
  job.promptTokens = current.start(job.request);
  let abortSent = false;
  for (;;) {
    if (job.abortRequested && !abortSent) {
      // Takes effect at this step: the engine answers with finish_reason "abort".
      current.abort();
      abortSent = true;
    }
    const step = await current.step();
    // A CPU step settles without leaving this task: yield so that messages (an abort, the
    // next request) are handled between tokens, as they are while a GPU step awaits.
    await nextTask();
    if (!job.finished) {
      if (step.token !== undefined && step.token !== null) {
        job.tokenIds.push(step.token);
        job.firstTokenMs ??= performance.now() - job.started;
        // `logprobs`: the engine's `StepLogprobs` when the request asked for them, else null.
        const logprobs = step.logprobs ?? null;
        post({ kind: FromWorker.chunk, id: job.id, delta: step.delta ?? "", token: step.token, logprobs });
      } else if (step.delta) {
        post({ kind: FromWorker.chunk, id: job.id, delta: step.delta, token: null });
      }
    }
    if (step.finish_reason) {
      finishJob(job, step.finish_reason, step);
      return;
    }
  }
}
