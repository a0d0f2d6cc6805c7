// The chat page, driven as a person would: no WebGPU, a hostile answer, broken model
// files, then the real model answering, being stopped, and answering again.
// The tests share one page and run in order: the broken files come first so that the
// successful load after them shows that the page stayed usable.

import assert from "node:assert/strict";
import { openSync, readSync, closeSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ask as askOn, loadCatalogueModel, setSettings, waitForLoaded } from "./chat-page.mjs";
import {
  ANSWER_TIMEOUT_MS,
  ARTIFACTS,
  LOAD_TIMEOUT_MS,
  MODEL_FILE,
  REPO,
  requireWebGpu,
  startHarness,
} from "./harness.mjs";

/** The first megabyte of the real model: a valid header whose tensors never arrive. */
function truncatedModel() {
  const bytes = Buffer.alloc(1 << 20);
  const fd = openSync(path.join(REPO, "models", MODEL_FILE), "r");
  try {
    readSync(fd, bytes, 0, bytes.length, 0);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

let harness;
let page;

before(async () => {
  const truncated = truncatedModel();
  harness = await startHarness({
    routes: {
      "/broken/truncated.gguf": (request, response) => {
        response.writeHead(200, { "content-type": "application/octet-stream", "content-length": truncated.length });
        response.end(truncated);
      },
    },
  });
  page = await harness.openPage("index.html");
  await requireWebGpu(page);
});

after(async () => {
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

async function loadModel(source) {
  await page.locator(`input[name=source][value=${source}]`).check();
  await page.locator("#load-button").click();
}

/** Sends a message and records every distinct text of the answer as it streams. */
async function ask(question) {
  await page.evaluate(() => {
    window.__answerUpdates = [];
    const observer = new MutationObserver(() => {
      const last = document.querySelector("#conversation li.assistant:last-child .body");
      const text = last?.textContent ?? "";
      if (text && window.__answerUpdates.at(-1) !== text) window.__answerUpdates.push(text);
    });
    observer.observe(document.querySelector("#conversation"), { childList: true, subtree: true, characterData: true });
  });
  await page.locator("#prompt").fill(question);
  const sentAt = Date.now();
  await page.locator("#send").click();
  return sentAt;
}

async function waitForAnswer() {
  await page.waitForFunction(
    () => {
      const last = document.querySelector("#conversation li.assistant:last-child");
      return last && last.dataset.state !== "streaming";
    },
    null,
    { timeout: ANSWER_TIMEOUT_MS },
  );
  const last = page.locator("#conversation li.assistant").last();
  return {
    state: await last.getAttribute("data-state"),
    text: await last.locator(".body").textContent(),
    stats: await last.locator(".stats").textContent(),
    updates: await page.evaluate(() => window.__answerUpdates),
  };
}

test("without WebGPU the page runs the model on the CPU and answers; WebGPU chosen in Settings is refused clearly", async () => {
  const noGpu = await harness.openPage("index.html", (p) =>
    p.addInitScript(() => Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined })),
  );
  await noGpu.waitForFunction(() => document.querySelector("#model-status").textContent.includes("No WebGPU here"));
  assert.ok(await noGpu.locator("#error").isHidden());
  await loadCatalogueModel(noGpu);
  assert.match(await noGpu.locator("#model-status").textContent(), / · CPU \(WebAssembly/);
  await setSettings(noGpu, { temperature: 0, maxTokens: 8 });
  const answer = await askOn(noGpu, "What is the capital of France?");
  assert.equal(answer.state, "done", JSON.stringify(answer));
  assert.match(answer.text, /Paris/);

  await setSettings(noGpu, { backend: "webgpu" });
  assert.match(await noGpu.locator("#backend").inputValue(), /webgpu/);
  await noGpu.reload();
  await noGpu.locator("#error").waitFor({ state: "visible" });
  assert.match(await noGpu.locator("#error").textContent(), /WebGPU is not available in this browser/);
  assert.match(await noGpu.locator("#error").textContent(), /Choose "Auto" or "CPU" in Settings/);
  assert.ok(await noGpu.locator("#load-button").isDisabled());
  await noGpu.close();
});

test("a hostile answer rendered by the page runs no script", async (t) => {
  const hostile = [
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<script>window.__pwned = 'script'</script>",
    "Here is **bold** and [a link](javascript:window.__pwned='link') and <a href=\"javascript:window.__pwned='a'\">click</a>",
    "<svg><script>window.__pwned='svg'</script></svg><iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>",
    "```html\n<script>window.__pwned = 'code'</script>\n```",
    "<details open ontoggle=\"window.__pwned='toggle'\">x</details><p onclick=\"window.__pwned='click'\">p</p>",
  ].join("\n\n");
  const result = await page.evaluate(async (text) => {
    const { renderInto } = await import("./markdown.js");
    const container = document.createElement("div");
    container.className = "message assistant";
    document.querySelector("#conversation").append(container);
    renderInto(container, text);
    container.querySelector("a")?.click();
    container.querySelector("p[onclick], p")?.click();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const html = container.innerHTML;
    const handlers = [...container.querySelectorAll("*")].flatMap((el) =>
      [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name),
    );
    const scripts = container.querySelectorAll("script, iframe").length;
    const javascriptLinks = [...container.querySelectorAll("[href]")].filter((a) =>
      /^\s*javascript:/i.test(a.getAttribute("href")),
    ).length;
    container.remove();
    return { pwned: window.__pwned ?? null, html, handlers, scripts, javascriptLinks };
  }, hostile);
  if (result.pwned) failed(t);
  assert.equal(result.pwned, null, `a script ran: ${result.pwned}`);
  assert.deepEqual(result.handlers, [], "event handler attributes survived sanitizing");
  assert.equal(result.scripts, 0, "script or iframe elements survived sanitizing");
  assert.equal(result.javascriptLinks, 0, "javascript: links survived sanitizing");
  assert.match(result.html, /<strong>bold<\/strong>/, "markdown was not rendered");
  assert.match(result.html, /&lt;script&gt;/, "code blocks must show markup as text");
});

test("a file that is not GGUF shows a readable error", async (t) => {
  await page.locator("#model-file").setInputFiles({
    name: "not-a-model.gguf",
    mimeType: "application/octet-stream",
    buffer: Buffer.from("<!doctype html><title>404 Not Found</title>".padEnd(4096, " ")),
  });
  await loadModel("file");
  await page.locator("#error").waitFor({ state: "visible", timeout: LOAD_TIMEOUT_MS });
  const message = await page.locator("#error").textContent();
  if (!/not a GGUF model/.test(message)) failed(t);
  assert.match(message, /This file is not a GGUF model \(bad magic\)\. Pick a \.gguf file\./);
  assert.ok(await page.locator("#load-button").isEnabled(), "the load button must stay usable");
  assert.ok(await page.locator("#prompt").isDisabled(), "no model: the message box stays disabled");
});

test("a truncated model shows a readable error", async (t) => {
  await page.locator("#model-url").fill("/broken/truncated.gguf");
  await loadModel("url");
  await page.waitForFunction(() => /incomplete|truncated/i.test(document.querySelector("#error").textContent), null, {
    timeout: LOAD_TIMEOUT_MS,
  });
  const message = await page.locator("#error").textContent();
  if (!/incomplete/.test(message)) failed(t);
  assert.match(message, /The model file is incomplete \(truncated\)/);
  assert.ok(await page.locator("#load-button").isEnabled(), "the load button must stay usable");
});

test("after those errors the default model loads and answers: Paris, streamed", async (t) => {
  await loadModel("default");
  await waitForLoaded(page).catch((error) => {
    failed(t);
    throw error;
  });
  await setSettings(page, { temperature: 0, maxTokens: 64 });
  await ask("What is the capital of France?");
  const answer = await waitForAnswer();
  await page.screenshot({ path: path.join(ARTIFACTS, "chat.png"), fullPage: true });
  if (answer.state !== "done" || !answer.text.includes("Paris")) failed(t);
  assert.equal(answer.state, "done");
  assert.match(answer.text, /Paris/);
  assert.ok(
    answer.updates.length >= 3,
    `expected several streamed updates, saw ${answer.updates.length}: ${JSON.stringify(answer.updates)}`,
  );
  assert.match(answer.stats, /tok\/s/);
  assert.match(answer.stats, /TTFT/);
});

test("Stop ends a long answer within a second and the next question works", async (t) => {
  await setSettings(page, { temperature: 0.8, maxTokens: 2000 });
  await ask("Write a very long story about a dragon who learns to cook. Use at least ten paragraphs.");
  await page.waitForFunction(() => window.__answerUpdates.length >= 2, null, { timeout: ANSWER_TIMEOUT_MS });
  const stoppedAt = Date.now();
  await page.locator("#stop").click();
  await page.waitForFunction(
    () => document.querySelector("#conversation li.assistant:last-child").dataset.state !== "streaming",
    null,
    {
      timeout: 30_000,
    },
  );
  const stopMs = Date.now() - stoppedAt;
  const stopped = await waitForAnswer();
  if (stopMs > 1000) failed(t);
  assert.ok(stopMs <= 1000, `Stop took ${stopMs} ms`);
  assert.equal(stopped.state, "done");
  assert.match(stopped.stats, /stopped/);

  await setSettings(page, { temperature: 0, maxTokens: 8 });
  await ask("What is the capital of France?");
  const next = await waitForAnswer();
  await page.screenshot({ path: path.join(ARTIFACTS, "chat-after-stop.png"), fullPage: true });
  if (next.state !== "done") failed(t);
  assert.equal(next.state, "done");
  assert.ok(next.text.trim().length > 0, "the answer after Stop is empty");
});

test("phone-sized window: the page fits without horizontal scrolling", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const { overflow, wide } = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className}`);
    return { overflow: document.documentElement.scrollWidth - width, wide };
  });
  await page.screenshot({ path: path.join(ARTIFACTS, "chat-phone.png"), fullPage: false });
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window: ${wide.join(", ")}`);
});
