// Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M: Q4_K, Q5_0, Q6_K and Q8_0 tensors, kept
// quantized on the GPU) in the browser: it loads with a small wasm heap and answers a chat
// question with llama.cpp's greedy tokens.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { REPO, compareGreedy, describeLoad, loadAndChat, openApiPage, startHarness } from "./harness.mjs";

const MODEL = "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
const FIXTURE = path.join(REPO, "tests", "fixtures", "qwen2.5-coder-0.5b-instruct-q4_k_m.json");
/**
 * The wasm heap after load. Tensors stream to the GPU in pieces of a few MB (a whole
 * 1.5B embedding would take 190 MB); most of what remains is the tokenizer of the
 * 151,936-token vocabulary (GGUF string and number arrays are read packed).
 */
const MAX_WASM_MEMORY = 64 * 2 ** 20;
/** Greedy tokens compared (each costs a decode step on a software adapter). */
const TOKENS = 8;

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness);
});

after(async () => {
  await harness?.close();
});

test("Qwen2.5 Q4_K_M loads and answers with llama.cpp's greedy tokens", async (t) => {
  const reference = JSON.parse(readFileSync(FIXTURE, "utf8")).chat[0];
  let result;
  try {
    result = await loadAndChat(page, MODEL, { messages: reference.messages, temperature: 0, max_tokens: TOKENS });
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
  const { stats, info, completion } = result;
  console.log(`${describeLoad(stats, info)}; answer ${JSON.stringify(completion.choices[0].message.content)}`);
  assert.ok(stats.memory.after <= MAX_WASM_MEMORY, `wasm memory after load: ${stats.memory.after} bytes`);
  const verdict = compareGreedy(reference.greedy_ids, completion.hearth.token_ids, reference.top2_margins, {
    limit: TOKENS,
  });
  assert.ok(verdict.ok, verdict.message);
});
