// Shared setup of the browser tests: the static server (scripts/serve.mjs) on a free port,
// Debian's Chromium with WebGPU (SwiftShader) driven by playwright-core, and page logs
// that are printed when a test fails.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../../scripts/serve.mjs";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf";
export const MODEL_URL_PATH = `models/${MODEL_FILE}`;
export const ARTIFACTS = path.join(REPO, "target", "e2e");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Generous limits: SwiftShader runs WebGPU on the CPU. */
export const LOAD_TIMEOUT_MS = 300_000;
export const ANSWER_TIMEOUT_MS = 240_000;

const WEBGPU_ARG = "--enable-unsafe-webgpu";
const CHROMIUM_ARGS = [
  WEBGPU_ARG,
  "--headless=new",
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Fails with instructions when something the tests need is missing. */
export function checkPrerequisites() {
  const problems = [];
  if (!existsSync(CHROMIUM))
    problems.push(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  if (!existsSync(path.join(REPO, "dist", "js", "pkg", "hearth_bg.wasm"))) {
    problems.push("dist/ is not built: run scripts/install-web-tools.sh, then make web");
  }
  if (!existsSync(path.join(REPO, "models", MODEL_FILE)))
    problems.push("the test model is missing: run scripts/fetch-models.sh");
  if (problems.length > 0) throw new Error(`browser tests cannot run:\n  ${problems.join("\n  ")}`);
}

/** The llama.cpp reference outputs for the test model. */
export function fixture() {
  return JSON.parse(readFileSync(path.join(REPO, "tests", "fixtures", "smollm2-135m-q4_1.json"), "utf8"));
}

/**
 * Starts the server and the browser. `routes` are extra URL handlers for the server;
 * `root` is the folder it serves (default: dist/); `browserArgs` are extra Chromium flags;
 * `timezoneId` is the IANA time zone the pages (and their workers) live in. The server
 * makes its pages cross-origin isolated unless `isolated` is false. With `webgpu` false the
 * browser starts without the flag that gives headless Chromium on Linux its WebGPU
 * adapter, as Chrome is on a machine whose GPU it does not support.
 * @returns {Promise<{ baseUrl: string, openPage: (path: string, init?: (page) => Promise<void>) => Promise<object>, close: () => Promise<void> }>}
 */
export async function startHarness({
  routes = {},
  root,
  browserArgs = [],
  timezoneId,
  isolated = true,
  webgpu = true,
} = {}) {
  checkPrerequisites();
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer({ port: 0, routes, isolated, ...(root ? { root } : {}) });
  const userDataDir = mkdtempSync(path.join(tmpdir(), "hearth-e2e-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS.filter((arg) => webgpu || arg !== WEBGPU_ARG), ...browserArgs],
      viewport: { width: 1000, height: 900 },
      ...(timezoneId ? { timezoneId } : {}),
    });
  } catch (error) {
    await server.close();
    rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`could not start Chromium (${CHROMIUM}): ${error.message}`);
  }

  const logs = [];
  const openPage = async (urlPath, init) => {
    const page = await context.newPage();
    page.on("console", (message) => logs.push(`[console.${message.type()}] ${message.text()}`));
    page.on("pageerror", (error) => logs.push(`[pageerror] ${error.message}`));
    page.on("crash", () => logs.push("[crash] the page crashed"));
    if (init) await init(page);
    await page.goto(new URL(urlPath, server.url).href);
    return page;
  };

  return {
    baseUrl: server.url,
    context,
    openPage,
    /** Page logs gathered so far (console messages and uncaught errors). */
    logs,
    async close() {
      await context.close().catch(() => {});
      await server.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Asserts that this browser exposes a WebGPU adapter; explains how to get one if not. */
export async function requireWebGpu(page) {
  const adapter = await page.evaluate(async () => {
    if (!navigator.gpu) return { error: "navigator.gpu is undefined" };
    const found = await navigator.gpu.requestAdapter();
    if (!found) return { error: "requestAdapter() returned null" };
    const info = found.info ?? {};
    return { vendor: info.vendor, architecture: info.architecture, description: info.description };
  });
  if (adapter.error) {
    throw new Error(`no WebGPU in Chromium (${adapter.error}): it needs --enable-unsafe-webgpu and a Chromium >= 113`);
  }
  return adapter;
}

/**
 * A page of the site for tests of the JS API (so that "./js/index.js" resolves; the API
 * never touches its DOM), with WebGPU checked.
 */
export async function openApiPage(harness, timeout = LOAD_TIMEOUT_MS) {
  const page = await harness.openPage("bench.html");
  page.setDefaultTimeout(timeout);
  await requireWebGpu(page);
  return page;
}

/**
 * Loads `model` in `page` on WebGPU (the weights on the GPU, the wasm heap small), answers
 * one chat completion `request`, unloads the engine.
 * @returns {Promise<{ stats: object, info: object, completion: object }>}
 */
export async function loadAndChat(page, model, request) {
  return page.evaluate(
    async ({ model, request }) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.load(model, { backend: "webgpu" });
      const completion = await engine.chat.completions.create(request);
      const out = { stats: engine.loadStats, info: engine.info, completion };
      await engine.unload();
      return out;
    },
    { model, request },
  );
}

/** One line on a load: time, wasm memory before and after, GPU weight memory. */
export function describeLoad(stats, info) {
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
  return (
    `loaded in ${(stats.loadMs / 1000).toFixed(1)} s; wasm memory ${mib(stats.memory.before)} → ` +
    `${mib(stats.memory.after)} MiB; GPU weights ${(info.cost.weight_bytes_stored / 1e6).toFixed(1)} MB`
  );
}

/** Compares greedy ids with the reference under the near-tie rule of the native tests. */
export function compareGreedy(expected, actual, margins, { limit = 32, eos } = {}) {
  // A divergence is acceptable only where the reference's top two logits are within 0.1:
  // there fp16 weights and a different summation order may legitimately flip the choice.
  const n = Math.min(limit, expected.length);
  for (let step = 0; step < n; step += 1) {
    if (actual[step] === expected[step]) continue;
    const margin = margins[step];
    if (actual[step] === undefined && expected[step] === eos) return { ok: true, compared: step };
    if (margin !== undefined && margin < 0.1) return { ok: true, compared: step, nearTie: step };
    return {
      ok: false,
      compared: step,
      message: `token ${step}: expected ${expected[step]}, got ${actual[step]} (reference margin ${margin})`,
    };
  }
  return { ok: true, compared: n };
}
