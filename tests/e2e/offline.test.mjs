// The deployable site (scripts/build-site.sh) used offline: after one visit that loads the
// model, the browser goes offline, the page reloads from the service worker's cache, the
// model loads from the model cache with no request, and an answer streams. A local model
// file then loads with no network at all. The tests share one page and run in order.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { waitForLoaded } from "./chat-page.mjs";
import {
  ANSWER_TIMEOUT_MS,
  ARTIFACTS,
  MODEL_FILE,
  MODEL_URL_PATH,
  REPO,
  requireWebGpu,
  startHarness,
} from "./harness.mjs";

const SITE = path.join(ARTIFACTS, "site");
const MODEL_PATH = path.join(REPO, "models", MODEL_FILE);

/** GET requests for the model that reached the server. */
let modelRequests = 0;
/** Requests for a model file the browser attempted (sent or failed), by URL. */
const browserModelRequests = [];

function countedModel(request, response) {
  modelRequests += 1;
  response.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": statSync(MODEL_PATH).size,
  });
  createReadStream(MODEL_PATH)
    .on("error", () => response.destroy())
    .pipe(response);
}

/** Every file of the site except the model: what the service worker must keep. */
function shellFiles(dir, prefix = "") {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix + entry.name;
    if (entry.isDirectory()) return relative === "models" ? [] : shellFiles(path.join(dir, entry.name), `${relative}/`);
    // The service worker itself, the package's metadata and the licence texts are not loaded by the page.
    return /^(sw\.js|js\/index\.d\.ts|js\/package\.json)$|LICENSE$/.test(relative) ? [] : [relative];
  });
}

let harness;
let page;

before(async () => {
  execFileSync(path.join(REPO, "scripts", "build-site.sh"), ["--no-build", "--out", SITE], { stdio: "inherit" });
  harness = await startHarness({ root: SITE, routes: { [`/${MODEL_URL_PATH}`]: countedModel } });
  harness.context.on("request", (request) => {
    if (request.url().endsWith(".gguf")) browserModelRequests.push(request.url());
  });
  page = await harness.openPage("index.html");
  await requireWebGpu(page);
});

after(async () => {
  await harness?.context.setOffline(false).catch(() => {});
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

async function loadDefaultModel() {
  await page.locator("input[name=source][value=default]").check();
  await page.locator("#load-button").click();
  await waitForLoaded(page);
}

/** Asks a question with a short answer budget and waits for the streamed answer. */
async function askShort(question) {
  await page.evaluate(() => (document.querySelector("#settings").open = true));
  // Decoding on SwiftShader is slow: a short prompt (no system prompt) and a few tokens.
  await page.locator("#system-prompt").fill("");
  await page.locator("#temperature").fill("0");
  await page.locator("#max-tokens").fill("4");
  await page.locator("#prompt").fill(question);
  await page.locator("#send").click();
  await page.waitForFunction(
    () => {
      const last = document.querySelector("#conversation li.assistant:last-child");
      return last && last.dataset.state !== "streaming";
    },
    null,
    { timeout: ANSWER_TIMEOUT_MS },
  );
  const last = page.locator("#conversation li.assistant").last();
  return { state: await last.getAttribute("data-state"), text: await last.locator(".body").textContent() };
}

test("the first visit installs the service worker with the whole app shell and caches the model", async (t) => {
  try {
    const shell = shellFiles(SITE);
    const missing = await page.evaluate(async (files) => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) {
        await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve));
      }
      const absent = [];
      for (const file of files) if (!(await caches.match(new URL(file, location.href).href))) absent.push(file);
      return absent;
    }, shell);
    assert.deepEqual(missing, [], "shell files the service worker did not cache (add them to www/sw.js)");

    await loadDefaultModel();
    assert.equal(modelRequests, 1);
    const cached = await page.locator("#cached-models li").first();
    assert.equal(await cached.getAttribute("data-complete"), "true");
    assert.match(await cached.textContent(), /SmolLM2-135M-Instruct \(Q4_1\) \(98\.4 MB\)/);
  } catch (error) {
    failed(t);
    throw error;
  }
});

test("offline, the page reloads, the cached model loads without a request, and an answer streams", async (t) => {
  try {
    await harness.context.setOffline(true);
    browserModelRequests.length = 0;
    await page.reload();
    await page.locator("#load-button").waitFor({ state: "visible" });
    assert.equal(await page.locator("h1").textContent(), "hearth");
    await loadDefaultModel();
    assert.deepEqual(browserModelRequests, [], "the cached model was requested from the network");
    assert.equal(modelRequests, 1);
    // Backend "auto" on this machine's software adapter: the CPU backend, on every
    // processor (the page stays cross-origin isolated offline).
    const status = page.locator("#model-status");
    assert.equal(await status.getAttribute("data-backend"), "cpu");
    const processors = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.match(await status.textContent(), new RegExp(`CPU \\(WebAssembly, ${processors} threads, SIMD128\\)`));

    const answer = await askShort("What is the capital of France?");
    assert.equal(answer.state, "done");
    assert.ok(answer.text.trim().length > 0, "the answer is empty");
    await page.screenshot({ path: path.join(ARTIFACTS, "offline.png") });
  } catch (error) {
    failed(t);
    throw error;
  }
});

test("offline, a model opened from a local file loads", async (t) => {
  try {
    await page.evaluate(() => (document.querySelector("#model-panel").open = true));
    await page.locator("#model-file").setInputFiles(MODEL_PATH);
    await page.locator("input[name=source][value=file]").check();
    await page.locator("#load-button").click();
    await waitForLoaded(page);
    assert.match(await page.locator("#model-status").textContent(), /loaded in/);
    assert.deepEqual(browserModelRequests, []);
  } catch (error) {
    failed(t);
    throw error;
  }
});
