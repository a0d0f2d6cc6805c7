// A lost GPU device (driver reset, the browser reclaiming it; here `device.destroy()` through
// the engine's test hook): the request in flight fails with the typed "gpu_lost" error, and
// the next request loads the model again on a new device from the cache, then answers the
// same as before the loss; the chat page says "Reconnecting GPU…" meanwhile.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { ask, loadCatalogueModel, setSettings } from "./chat-page.mjs";
import {
  ANSWER_TIMEOUT_MS,
  ARTIFACTS,
  LOAD_TIMEOUT_MS,
  MODEL_URL_PATH,
  openApiPage,
  requireWebGpu,
  startHarness,
} from "./harness.mjs";

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness);
  await requireWebGpu(page);
  await page.evaluate(async (modelUrl) => {
    const { Engine } = await import("./js/index.js");
    window.phases = [];
    window.engine = await Engine.load(modelUrl, { backend: "webgpu", onProgress: (p) => window.phases.push(p.phase) });
  }, MODEL_URL_PATH);
});

after(async () => {
  await harness?.close();
});

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

test("a request in flight fails with gpu_lost; the next one reloads from the cache and answers", async (t) => {
  try {
    const outcome = await page.evaluate(async () => {
      const ask = async () => {
        const reply = await window.engine.chat.completions.create({
          messages: [{ role: "user", content: "What is the capital of France?" }],
          temperature: 0,
          max_tokens: 12,
        });
        return reply.hearth.token_ids;
      };
      const before = await ask();

      // Lose the device after the first streamed token of a long answer.
      const stream = await window.engine.chat.completions.create({
        messages: [{ role: "user", content: "Tell me a long story about a dragon." }],
        temperature: 0,
        max_tokens: 200,
        stream: true,
      });
      let chunks = 0;
      let error = null;
      try {
        for await (const chunk of stream) {
          chunks += 1;
          if (chunks === 2) await window.engine.simulateDeviceLoss();
        }
      } catch (e) {
        error = { code: e.code, name: e.name, message: e.message };
      }

      window.phases.length = 0;
      const afterLoss = await ask();
      return { before, afterLoss, error, chunks, phases: [...window.phases] };
    });
    assert.ok(outcome.error, `the stream went on after the loss (${outcome.chunks} chunks)`);
    assert.equal(outcome.error.code, "gpu_lost", JSON.stringify(outcome.error));
    assert.equal(outcome.error.name, "HearthError");
    assert.match(outcome.error.message, /GPU/);
    assert.ok(outcome.chunks < 200, `${outcome.chunks} chunks`);
    assert.equal(outcome.phases[0], "reconnect", `phases: ${outcome.phases}`);
    assert.ok(outcome.phases.includes("cache"), `the reload did not read the cache: ${outcome.phases}`);
    assert.deepEqual(outcome.afterLoss, outcome.before);
  } catch (error) {
    failed(t);
    throw error;
  }
});

test("the chat page says it is reconnecting the GPU, then answers", async (t) => {
  const chat = await harness.openPage("index.html");
  try {
    // Keep a handle on the engine the page loads, to destroy its device as a driver would.
    await chat.evaluate(async () => {
      const { Engine } = await import("./js/index.js");
      const load = Engine.load;
      Engine.load = async (...args) => (window.pageEngine = await load.apply(Engine, args));
    });
    await setSettings(chat, { backend: "webgpu" });
    await loadCatalogueModel(chat);
    await setSettings(chat, { temperature: 0, maxTokens: 8 });
    const first = await ask(chat, "What is the capital of France?");
    assert.equal(first.state, "done", JSON.stringify(first));

    await chat.evaluate(() => window.pageEngine.simulateDeviceLoss());
    await chat.locator("#prompt").fill("What is the capital of France?");
    await chat.locator("#send").click();
    await chat.waitForFunction(() => document.querySelector("#model-status").textContent.includes("Reconnecting GPU"), null, {
      timeout: LOAD_TIMEOUT_MS,
    });
    await chat.screenshot({ path: path.join(ARTIFACTS, "device-lost-reconnecting.png") });
    await chat.waitForFunction(
      () => {
        const answers = document.querySelectorAll("#conversation li.assistant");
        return answers.length === 2 && answers[1].dataset.state === "done";
      },
      null,
      { timeout: ANSWER_TIMEOUT_MS },
    );
    const answers = await chat.locator("#conversation li.assistant .body").allTextContents();
    assert.equal(answers[1], answers[0]);
    assert.ok(await chat.locator("#error").isHidden(), await chat.locator("#error").textContent());
    assert.doesNotMatch(await chat.locator("#model-status").textContent(), /Reconnecting/);
  } catch (error) {
    failed(t);
    throw error;
  } finally {
    await chat.close();
  }
});
