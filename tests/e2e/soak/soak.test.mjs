// Browser soak: many chat turns through the JS API on SmolLM2 (WebGPU on SwiftShader here),
// with random lengths, aborts in the middle of a third of them and prompts that overflow the
// context; every tenth of the run samples the worker's wasm memory and the page's JS heap,
// which must not grow once the engine is warm. HEARTH_SOAK_TURNS sets the turns (200).
//   node tests/e2e/run.mjs --soak     (make soak)

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ARTIFACTS, MODEL_URL_PATH, openApiPage, requireWebGpu, startHarness } from "../harness.mjs";

const TURNS = Number(process.env.HEARTH_SOAK_TURNS ?? 200);
const CONTEXT = 384;
/** Growth allowed after the first sample: wasm memory never shrinks, so any leak shows. */
const WASM_SLACK = 2 << 20;
/** The page's heap after a full collection: a retained request or stream per turn shows. */
const HEAP_SLACK = 1 << 20;

let harness;
let page;

before(async () => {
  // gc(): samples taken after a full collection; precise memory info: exact heap sizes.
  harness = await startHarness({ browserArgs: ["--js-flags=--expose-gc", "--enable-precise-memory-info"] });
  page = await openApiPage(harness);
  await requireWebGpu(page);
  await page.evaluate(
    async ({ modelUrl, context }) => {
      const { Engine } = await import("./js/index.js");
      window.engine = await Engine.load(modelUrl, { backend: "webgpu", contextLength: context });
    },
    { modelUrl: MODEL_URL_PATH, context: CONTEXT },
  );
});

after(async () => {
  await harness?.close();
});

test(`wasm memory and the JS heap stay flat over ${TURNS} turns`, { timeout: 3_600_000 }, async (t) => {
  const every = Math.max(1, Math.floor(TURNS / 10));
  const samples = [];
  const outcomes = { stop: 0, length: 0, abort: 0, overflow: 0 };
  let seed = 0x5eed;
  const random = (n) => {
    // A small deterministic generator (an LCG), so a failing run can be repeated.
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const words = ["the", "river", "capital", "France", "why", "small", "poem", "about", "cats", "seven", "gravity", "robot", "tea", "winter", "code"];
  const sentence = (n) => Array.from({ length: n }, () => words[random(words.length)]).join(" ");
  try {
    for (let turn = 1; turn <= TURNS; turn++) {
      const kind = random(12);
      const maxTokens = 1 + random(16);
      const abortAfter = random(3) === 0 ? 1 + random(maxTokens) : 0;
      const content = kind === 0 ? sentence(CONTEXT + 50) : sentence(1 + random(kind === 1 ? 100 : 16));
      const outcome = await page.evaluate(
        async ({ content, maxTokens, abortAfter, temperature, seed }) => {
          const controller = new AbortController();
          try {
            const stream = await window.engine.chat.completions.create(
              { messages: [{ role: "user", content }], max_tokens: maxTokens, temperature, seed, stream: true },
              { signal: controller.signal },
            );
            let chunks = 0;
            let finish = null;
            for await (const chunk of stream) {
              chunks += 1;
              if (chunks === abortAfter) controller.abort();
              finish = chunk.choices[0].finish_reason ?? finish;
            }
            return finish;
          } catch (error) {
            return error.code === "context_overflow" || error.code === "aborted" ? error.code : `error ${error.code}: ${error.message}`;
          }
        },
        { content, maxTokens, abortAfter, temperature: random(2) ? 0.8 : 0, seed: random(1 << 30) },
      );
      if (outcome === "context_overflow") outcomes.overflow += 1;
      else if (outcome === "aborted" || outcome === "abort") outcomes.abort += 1;
      else if (outcome in outcomes) outcomes[outcome] += 1;
      else assert.fail(`turn ${turn}: ${outcome}`);

      if (turn % every === 0) {
        const sample = await page.evaluate(() => {
          window.gc();
          return { wasm: window.engine.wasmMemory, heap: performance.memory?.usedJSHeapSize ?? null };
        });
        samples.push({ turn, ...sample });
        console.log(`turn ${turn}: wasm ${(sample.wasm / 2 ** 20).toFixed(1)} MiB, JS heap ${(sample.heap / 2 ** 20).toFixed(1)} MiB`);
      }
    }
    writeFileSync(path.join(ARTIFACTS, "soak-browser.json"), JSON.stringify({ outcomes, samples }, null, 2));
    console.log(`outcomes: ${JSON.stringify(outcomes)}`);
    const [first, ...rest] = samples;
    assert.ok(first.wasm > 0 && first.heap > 0, JSON.stringify(first));
    for (const sample of rest) {
      assert.ok(sample.wasm <= first.wasm + WASM_SLACK, `wasm memory grew: ${JSON.stringify(samples)}`);
      assert.ok(sample.heap <= first.heap + HEAP_SLACK, `the JS heap grew: ${JSON.stringify(samples)}`);
    }
    assert.ok(outcomes.abort >= TURNS / 6, JSON.stringify(outcomes));
    assert.ok(outcomes.overflow > 0 && outcomes.length > 0, JSON.stringify(outcomes));
  } catch (error) {
    t.diagnostic?.("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
});
