// The CPU backend in the browser: weights in wasm memory, no WebGPU needed. A page without
// WebGPU loads SmolLM2 with backend "auto" onto the CPU and answers with llama.cpp's greedy
// tokens; "cpu" is also chosen explicitly on a page that has WebGPU. The test server makes
// its pages cross-origin isolated, so the threaded build runs (one thread per processor);
// a page served without the isolation headers runs on one thread and says why.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { REPO, compareGreedy, startHarness } from "./harness.mjs";

const MODEL = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
const FIXTURE = path.join(REPO, "tests", "fixtures", "smollm2-135m-q4_1.json");
const TOKENS = 16;

let harness;
/** The same pages served without the cross-origin isolation headers. */
let plainHarness;

before(async () => {
  harness = await startHarness();
  plainHarness = await startHarness({ isolated: false });
});

after(async () => {
  await harness?.close();
  await plainHarness?.close();
});

/** Loads the model with `backend` in `page` and answers the fixture's first chat case. */
async function chat(page, backend, reference, activations) {
  return page.evaluate(
    async ({ model, backend, activations, messages, tokens }) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.load(model, { backend, activations });
      const completion = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: tokens });
      const out = {
        backend: engine.backend,
        info: engine.info,
        completion,
        isolated: self.crossOriginIsolated,
        processors: navigator.hardwareConcurrency,
      };
      await engine.unload();
      return out;
    },
    { model: MODEL, backend, activations, messages: reference.messages, tokens: TOKENS },
  );
}

/** The threads and SIMD level the engine must report: one thread per processor when isolated. */
function checkThreads(result, { isolated }) {
  assert.equal(result.isolated, isolated);
  const threads = isolated ? result.processors : 1;
  assert.ok(!isolated || threads >= 2, `the browser reports ${threads} processors: the threaded build is not exercised`);
  assert.equal(result.backend.threads, threads);
  assert.equal(result.backend.adapter, `${threads} thread${threads === 1 ? "" : "s"}, SIMD128`);
  if (isolated) assert.equal(result.backend.singleThreadReason, undefined);
  else assert.match(result.backend.singleThreadReason, /not cross-origin isolated/);
}

function checkAnswer(result, reference, { isolated = true, activations = "int16" } = {}) {
  assert.equal(result.backend.kind, "cpu");
  checkThreads(result, { isolated });
  assert.equal(result.info.backend.kind, "cpu");
  // int16 (the default): the wasm SIMD128 integer dot decodes every token of this model.
  assert.ok(result.info.backend.kernels.startsWith(`${activations} activations`), result.info.backend.kernels);
  const verdict = compareGreedy(reference.greedy_ids, result.completion.hearth.token_ids, reference.top2_margins, {
    limit: TOKENS,
  });
  assert.ok(verdict.ok, verdict.message);
}

test("without WebGPU, backend auto runs on the CPU with llama.cpp's greedy tokens", async (t) => {
  const reference = JSON.parse(readFileSync(FIXTURE, "utf8")).chat[0];
  const page = await harness.openPage("bench.html", (p) =>
    p.addInitScript(() => {
      delete Object.getPrototypeOf(navigator).gpu;
    }),
  );
  page.setDefaultTimeout(120_000);
  assert.equal(await page.evaluate(() => "gpu" in navigator), false);
  try {
    checkAnswer(await chat(page, "auto", reference), reference);
    // Asking for WebGPU where there is none is still the typed error.
    const code = await page.evaluate(async (model) => {
      const { Engine } = await import("./js/index.js");
      return Engine.load(model, { backend: "webgpu" }).then(
        () => "loaded",
        (error) => error.code,
      );
    }, MODEL);
    assert.equal(code, "no_webgpu");
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
});

test("backend cpu runs on the CPU where WebGPU exists, with int16 or f32 activations; an unknown backend is refused", async () => {
  const reference = JSON.parse(readFileSync(FIXTURE, "utf8")).chat[0];
  const page = await harness.openPage("bench.html");
  page.setDefaultTimeout(120_000);
  checkAnswer(await chat(page, "cpu", reference), reference);
  checkAnswer(await chat(page, "cpu", reference, "f32"), reference, { activations: "f32" });
  const invalid = await page.evaluate(async (model) => {
    const { Engine } = await import("./js/index.js");
    return Engine.load(model, { backend: "cpu", activations: "int8" }).then(
      () => "loaded",
      (error) => error.code,
    );
  }, MODEL);
  assert.equal(invalid, "invalid_request");
  const code = await page.evaluate(async (model) => {
    const { Engine } = await import("./js/index.js");
    return Engine.load(model, { backend: "tpu" }).then(
      () => "loaded",
      (error) => error.code,
    );
  }, MODEL);
  assert.equal(code, "invalid_request");
});

test("a page without cross-origin isolation runs the CPU backend on one thread and says why", async () => {
  const reference = JSON.parse(readFileSync(FIXTURE, "utf8")).chat[0];
  const page = await plainHarness.openPage("bench.html");
  page.setDefaultTimeout(120_000);
  checkAnswer(await chat(page, "cpu", reference), reference, { isolated: false });
});

test("on the CPU, an abort and a second request are handled between tokens", async () => {
  const page = await harness.openPage("bench.html");
  page.setDefaultTimeout(120_000);
  const outcome = await page.evaluate(async (model) => {
    const { Engine } = await import("./js/index.js");
    const engine = await Engine.load(model, { backend: "cpu" });
    const controller = new AbortController();
    const stream = await engine.chat.completions.create({
      messages: [{ role: "user", content: "Tell me a long story about a lighthouse keeper." }],
      max_tokens: 400,
      ignore_eos: true,
      stream: true,
      signal: controller.signal,
    });
    let tokens = 0;
    let finish = null;
    let abortedAt = null;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content !== undefined) tokens += 1;
      if (tokens === 3 && abortedAt === null) {
        abortedAt = performance.now();
        controller.abort();
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    const stoppedMs = performance.now() - abortedAt;
    const next = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 2 });
    await engine.unload();
    return { tokens, finish, stoppedMs, next: next.choices[0].finish_reason };
  }, MODEL);
  assert.equal(outcome.finish, "abort");
  assert.ok(outcome.tokens < 400, `${outcome.tokens} tokens`);
  assert.ok(outcome.stoppedMs < 1000, `stopped ${outcome.stoppedMs} ms after the abort`);
  assert.equal(outcome.next, "length");
});
