// Beyond CI (`make test-models`): Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB) loads in the
// browser with a small wasm heap (tensors stream to the GPU in pieces) and answers.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LOAD_TIMEOUT_MS, describeLoad, loadAndChat, openApiPage, startHarness } from "../harness.mjs";

const MODEL = "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
/**
 * The wasm heap after load. Tensors stream to the GPU in pieces of a few MB (a whole
 * embedding of this model would take 190 MB); most of what remains is the tokenizer of the
 * 151,936-token vocabulary (GGUF string and number arrays are read packed).
 */
const MAX_WASM_MEMORY = 64 * 2 ** 20;

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness, 4 * LOAD_TIMEOUT_MS);
});

after(async () => {
  await harness?.close();
});

test("Qwen2.5 1.5B Q4_K_M loads with a small wasm heap and answers", async (t) => {
  let result;
  try {
    result = await loadAndChat(page, MODEL, {
      messages: [{ role: "user", content: "What is the capital of France?" }],
      temperature: 0,
      max_tokens: 8,
    });
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
  const { stats, info, completion } = result;
  const text = completion.choices[0].message.content;
  console.log(`${describeLoad(stats, info)}; answer ${JSON.stringify(text)}`);
  assert.ok(stats.memory.after <= MAX_WASM_MEMORY, `wasm memory after load: ${stats.memory.after} bytes`);
  assert.match(text, /Paris/);
});
