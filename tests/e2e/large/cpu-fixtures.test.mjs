// Beyond CI (`make test-models`): in a Chromium that has no WebGPU adapter (started without
// the flag that gives headless Chromium on Linux one), backend "auto" runs SmolLM2-135M Q4_1,
// Qwen2.5-Coder-0.5B Q4_K_M and Gemma 3 270M Q4_K_M on the CPU backend, on every processor, and every chat and
// raw case of llama.cpp's fixtures gives its greedy tokens (all of them, up to 48; a
// divergence only at a near-tie step) from prompts of the fixture's token counts.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { LOAD_TIMEOUT_MS, REPO, compareGreedy, startHarness } from "../harness.mjs";

const MODELS = [
  ["models/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-q4_1.json"],
  ["models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.json"],
  ["models/gemma-3-270m-q4_k_m.gguf", "gemma-3-270m-q4_k_m.json"],
];

let harness;
let page;

before(async () => {
  harness = await startHarness({ webgpu: false });
  page = await harness.openPage("bench.html");
  page.setDefaultTimeout(4 * LOAD_TIMEOUT_MS);
});

after(async () => {
  await harness?.close();
});

test("the browser has no WebGPU adapter", async () => {
  const adapter = await page.evaluate(async () => (navigator.gpu ? (await navigator.gpu.requestAdapter()) !== null : false));
  assert.equal(adapter, false);
});

for (const [model, fixtureFile] of MODELS) {
  test(`${path.basename(model)}: backend auto runs on the CPU with llama.cpp's greedy tokens`, async (t) => {
    const fixture = JSON.parse(readFileSync(path.join(REPO, "tests", "fixtures", fixtureFile), "utf8"));
    const requests = [
      ...fixture.chat.map((c) => ({ kind: "chat", body: { messages: c.messages }, reference: c })),
      ...fixture.raw.map((c) => ({ kind: "raw", body: { prompt: c.prompt }, reference: c })),
    ].map(({ kind, body, reference }) => ({
      kind,
      reference,
      body: { ...body, temperature: 0, max_tokens: reference.greedy_ids.length },
    }));
    let result;
    try {
      result = await page.evaluate(
        async ({ model, requests }) => {
          const { Engine } = await import("./js/index.js");
          const engine = await Engine.load(model, { backend: "auto" });
          const answers = [];
          for (const { kind, body } of requests) {
            const api = kind === "chat" ? engine.chat.completions : engine.completions;
            const completion = await api.create(body);
            answers.push({ ids: completion.hearth.token_ids, promptTokens: completion.usage.prompt_tokens });
          }
          const out = { backend: engine.backend, processors: navigator.hardwareConcurrency, answers };
          await engine.unload();
          return out;
        },
        { model, requests: requests.map(({ kind, body }) => ({ kind, body })) },
      );
    } catch (error) {
      t.diagnostic("page log:\n" + harness.logs.join("\n"));
      throw error;
    }
    assert.equal(result.backend.kind, "cpu");
    assert.equal(result.backend.threads, result.processors);
    for (const [index, { kind, reference }] of requests.entries()) {
      const { ids, promptTokens } = result.answers[index];
      const label = `${kind} case ${index}`;
      assert.equal(promptTokens, reference.prompt_ids.length, `${label}: prompt tokens`);
      const verdict = compareGreedy(reference.greedy_ids, ids, reference.top2_margins, {
        eos: fixture.model.eos,
        limit: reference.greedy_ids.length,
      });
      assert.ok(verdict.ok, `${label}: ${verdict.message}\n  expected ${reference.greedy_ids}\n  got      ${ids}`);
      console.log(`${path.basename(model)} ${label}: ${verdict.compared} tokens${verdict.nearTie === undefined ? "" : `, near tie at ${verdict.nearTie}`}`);
    }
  });
}
