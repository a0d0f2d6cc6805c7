// Beyond CI (`make test-models`): Gemma 3 270M Q4_K_M (262,144-token vocabulary, head_dim
// 256, sliding-window layers) on WebGPU in the browser (SwiftShader here): every raw case of
// llama.cpp's fixture — the prompt with the BOS the model adds — gives llama.cpp's greedy
// tokens (a divergence only at a near-tie step). The load line reports the wasm heap (its
// 262k-token tokenizer keeps it above Qwen's).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { LOAD_TIMEOUT_MS, REPO, compareGreedy, describeLoad, startHarness } from "../harness.mjs";

const MODEL = "models/gemma-3-270m-q4_k_m.gguf";
const FIXTURE = "gemma-3-270m-q4_k_m.json";
/** Tokens compared per case: enough to cross several near-ties, short enough for SwiftShader. */
const TOKENS = 16;

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await harness.openPage("bench.html");
  page.setDefaultTimeout(4 * LOAD_TIMEOUT_MS);
});

after(async () => {
  await harness?.close();
});

test("Gemma 3 270M completes llama.cpp's raw prompts on WebGPU", async (t) => {
  const fixture = JSON.parse(readFileSync(path.join(REPO, "tests", "fixtures", FIXTURE), "utf8"));
  const prompts = fixture.raw.map((c) => c.prompt);
  let result;
  try {
    result = await page.evaluate(
      async ({ model, prompts, tokens }) => {
        const { Engine } = await import("./js/index.js");
        const engine = await Engine.load(model, { backend: "webgpu" });
        const stats = engine.loadStats;
        const info = engine.info;
        const answers = [];
        for (const prompt of prompts) {
          const completion = await engine.completions.create({ prompt, temperature: 0, max_tokens: tokens });
          answers.push({
            ids: completion.hearth.token_ids,
            text: completion.choices[0].text,
            promptTokens: completion.usage.prompt_tokens,
          });
        }
        const out = { backend: engine.backend, stats, info, answers };
        await engine.unload();
        return out;
      },
      { model: MODEL, prompts, tokens: TOKENS },
    );
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
  assert.equal(result.backend.kind, "webgpu");
  console.log(describeLoad(result.stats, result.info));
  for (const [index, reference] of fixture.raw.entries()) {
    const { ids, text, promptTokens } = result.answers[index];
    assert.equal(promptTokens, reference.prompt_ids.length, `raw case ${index}: prompt tokens (BOS included)`);
    const verdict = compareGreedy(reference.greedy_ids, ids, reference.top2_margins, {
      eos: fixture.model.eos,
      limit: TOKENS,
    });
    assert.ok(verdict.ok, `raw case ${index}: ${verdict.message}\n  expected ${reference.greedy_ids}\n  got      ${ids}`);
    console.log(`raw case ${index}: ${verdict.compared} tokens: ${JSON.stringify(reference.prompt + text)}`);
  }
});
