// The remote backend against a real llama.cpp server (llama-cpp-python, CPU build, from
// scripts/setup-remote.sh) serving SmolLM2 on 127.0.0.1:
//   - one test body (contract.mjs) runs against the local engine and against the server
//     through Engine.connect: both give the same shapes;
//   - a wrong model name, a wrong API key, a stream cut by the server's death and a stopped
//     server give typed errors;
//   - a page whose device cannot run the model (no WebGPU) answers through the server, from
//     the API (Engine.load's fallback) and from the chat page (its Server setting).
// Run by `make test-remote` (node tests/e2e/run.mjs --remote), outside the default suite.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS, MODEL_URL_PATH, openApiPage, startHarness } from "../harness.mjs";
import { engineContract } from "./contract.mjs";
import { SERVER_MODEL, startLlamaServer } from "./llama-server.mjs";

const NO_WEBGPU = () => Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });

let server;
let harness;
let page;
/** Model files the browser requested, by URL. */
const modelRequests = [];

before(async () => {
  server = await startLlamaServer();
  harness = await startHarness();
  harness.context.on("request", (request) => {
    if (request.url().endsWith(".gguf")) modelRequests.push(request.url());
  });
  page = await openApiPage(harness);
  const backends = await page.evaluate(
    async ({ modelUrl, baseURL, model }) => {
      const { Engine } = await import("./js/index.js");
      window.local = await Engine.load(modelUrl);
      window.remote = await Engine.connect({ baseURL, model });
      return { local: window.local.backend, remote: window.remote.backend };
    },
    { modelUrl: MODEL_URL_PATH, baseURL: server.baseURL, model: SERVER_MODEL },
  );
  assert.equal(backends.local.kind, "webgpu");
  assert.deepEqual(backends.remote, { kind: "remote", baseURL: server.baseURL, model: SERVER_MODEL });
});

after(async () => {
  await harness?.close();
  await server?.stop();
});

engineContract("local", () => page, "local");
engineContract("remote", () => page, "remote");

test("a model name the server does not serve is a typed not_found error", async () => {
  const error = await page.evaluate(async (baseURL) => {
    const { Engine } = await import("./js/index.js");
    try {
      await Engine.connect({ baseURL, model: "no-such-model" });
      return null;
    } catch (error) {
      return { name: error.name, code: error.code, status: error.status, message: error.message };
    }
  }, server.baseURL);
  assert.equal(error?.name, "HearthError");
  assert.equal(error.code, "not_found");
  assert.equal(error.status, 404);
  assert.match(error.message, /does not serve the model 'no-such-model'; it serves: smollm2/);
});

test("Engine.load on a page without WebGPU answers through its fallback, downloading nothing", async (t) => {
  const noGpu = await harness.openPage("bench.html", (p) => p.addInitScript(NO_WEBGPU));
  noGpu.setDefaultTimeout(ANSWER_TIMEOUT_MS);
  modelRequests.length = 0;
  try {
    const result = await noGpu.evaluate(
      async ({ modelUrl, baseURL, model }) => {
        const { Engine } = await import("./js/index.js");
        const engine = await Engine.load(modelUrl, { backend: "webgpu", fallback: { baseURL, model } });
        let text = "";
        let final = null;
        const stream = await engine.chat.completions.create({
          messages: [{ role: "user", content: "What is the capital of France?" }],
          temperature: 0,
          max_tokens: 16,
          stream: true,
        });
        for await (const chunk of stream) {
          text += chunk.choices[0].delta.content ?? "";
          if (chunk.choices[0].finish_reason) final = chunk;
        }
        return { backend: { ...engine.backend, reason: engine.backend.reason?.code }, text, final };
      },
      { modelUrl: MODEL_URL_PATH, baseURL: server.baseURL, model: SERVER_MODEL },
    );
    assert.deepEqual(result.backend, {
      kind: "remote",
      baseURL: server.baseURL,
      model: SERVER_MODEL,
      reason: "no_webgpu",
    });
    assert.ok(result.text.trim().length > 0, "no answer");
    assert.ok(["stop", "length"].includes(result.final?.choices[0].finish_reason));
    assert.deepEqual(modelRequests, [], "the model was downloaded although the device cannot run it");
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  } finally {
    await noGpu.close();
  }
});

test("the chat page without WebGPU answers through the server of its settings and says so", async (t) => {
  const chat = await harness.openPage("index.html", (p) => p.addInitScript(NO_WEBGPU));
  try {
    await chat.evaluate(() => (document.querySelector("#settings").open = true));
    await chat.locator("#server-url").fill(server.baseURL);
    await chat.locator("#server-model").fill(SERVER_MODEL);
    await chat.locator("#temperature").fill("0");
    await chat.locator("#max-tokens").fill("32");
    await chat.locator("#load-button").click();
    await chat.waitForFunction(() => document.querySelector("#model-status").dataset.backend, null, {
      timeout: LOAD_TIMEOUT_MS,
    });
    const status = await chat.locator("#model-status");
    assert.equal(await status.getAttribute("data-backend"), "remote");
    assert.ok((await status.textContent()).includes(`answered by the server ${server.baseURL}`));
    assert.match(await status.getAttribute("title"), /WebGPU is not available/);

    await chat.locator("#prompt").fill("What is the capital of France?");
    await chat.locator("#send").click();
    await chat.waitForFunction(
      () => document.querySelector("#conversation li.assistant:last-child")?.dataset.state !== "streaming",
      null,
      { timeout: ANSWER_TIMEOUT_MS },
    );
    const last = chat.locator("#conversation li.assistant").last();
    assert.equal(await last.getAttribute("data-state"), "done", await chat.locator("#error").textContent());
    assert.ok((await last.locator(".body").textContent()).trim().length > 0, "empty answer");
    assert.match(await last.locator(".stats").textContent(), /\d+ tokens/);
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  } finally {
    await chat.close();
  }
});

test("a server that wants an API key: unauthorized without it, a stream cut by its death, a network error once stopped", async () => {
  const apiKey = "test-key-42";
  const guarded = await startLlamaServer({ apiKey });
  try {
    const setup = await page.evaluate(
      async ({ baseURL, model, apiKey }) => {
        const { Engine } = await import("./js/index.js");
        let without = null;
        try {
          await Engine.connect({ baseURL, model });
        } catch (error) {
          without = { code: error.code, status: error.status };
        }
        window.guarded = await Engine.connect({ baseURL, model, apiKey });
        const completion = await window.guarded.chat.completions.create({
          messages: [{ role: "user", content: "Hi!" }],
          max_tokens: 4,
        });
        // A long answer, read in the background while the server dies.
        window.cut = { texts: 0, error: null, final: null };
        window.guarded.chat.completions
          .create({
            messages: [{ role: "user", content: "Tell me a long story about a lighthouse." }],
            max_tokens: 1000,
            stream: true,
          })
          .then(async (stream) => {
            for await (const chunk of stream) {
              if (chunk.choices[0].delta.content) window.cut.texts += 1;
              if (chunk.choices[0].finish_reason) window.cut.final = chunk.choices[0].finish_reason;
            }
          })
          .catch((error) => (window.cut.error = { code: error.code, message: error.message }));
        return { without, answered: completion.choices[0].message.content.length > 0 };
      },
      { baseURL: guarded.baseURL, model: SERVER_MODEL, apiKey },
    );
    assert.deepEqual(setup.without, { code: "unauthorized", status: 401 });
    assert.ok(setup.answered, "no answer with the API key");

    await page.waitForFunction(() => window.cut.texts >= 2, null, { timeout: ANSWER_TIMEOUT_MS });
    await guarded.kill();
    await page.waitForFunction(() => window.cut.error || window.cut.final, null, { timeout: 30_000 });
    const cut = await page.evaluate(() => window.cut);
    assert.equal(cut.final, null, "the stream ended as if complete");
    assert.equal(cut.error?.code, "protocol", JSON.stringify(cut));
    assert.match(cut.error.message, /cut|ended before the answer did/);

    const stopped = await page.evaluate(
      async ({ baseURL, model, apiKey }) => {
        const { Engine } = await import("./js/index.js");
        const summary = (error) => ({ code: error.code, message: error.message });
        const request = await window.guarded.chat.completions
          .create({ messages: [{ role: "user", content: "Hi!" }], max_tokens: 4 })
          .then(() => null, summary);
        const connect = await Engine.connect({ baseURL, model, apiKey }).then(() => null, summary);
        return { request, connect };
      },
      { baseURL: guarded.baseURL, model: SERVER_MODEL, apiKey },
    );
    for (const error of [stopped.request, stopped.connect]) {
      assert.equal(error?.code, "network", JSON.stringify(error));
      assert.match(error.message, /The server could not be reached/);
    }
  } finally {
    await guarded.stop();
  }
});
