// Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M: Q4_K, Q5_0, Q6_K and Q8_0 tensors, kept
// quantized on the GPU) in the browser: it loads with a small wasm heap and answers a chat
// question with llama.cpp's greedy tokens.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import Ajv from "ajv";
import { REPO, compareGreedy, describeLoad, loadAndChat, openApiPage, startHarness } from "./harness.mjs";
import { TIME_TOOL, WEATHER_TOOL } from "./tools.mjs";

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

test("a tool call round trip: the weather question streams a call, the result comes back, the answer uses it", async (t) => {
  let outcome;
  try {
    outcome = await page.evaluate(
      async ({ model, tools }) => {
        const { Engine } = await import("./js/index.js");
        // The CPU backend: the tool API is the same on both, and the prompt (two tools in
        // Qwen's template) takes minutes to prefill on this machine's software WebGPU; the
        // test above runs Qwen2.5 on WebGPU.
        const engine = await Engine.load(model, { backend: "cpu" });
        const messages = [
          { role: "system", content: "Answer the user's question in one sentence, using the tool results." },
          { role: "user", content: "What is the weather like in Paris right now?" },
        ];
        const chunks = [];
        const stream = await engine.chat.completions.create({ messages, tools, temperature: 0, max_tokens: 64, stream: true });
        for await (const chunk of stream) chunks.push(chunk);
        const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? []);
        // As an app sends them back: the assistant's calls (without the stream's index), the result.
        messages.push({ role: "assistant", content: null, tool_calls: calls.map(({ index, ...call }) => call) });
        const result = JSON.stringify({ temperature: 31, unit: "celsius" });
        messages.push({ role: "tool", tool_call_id: calls[0]?.id, content: result });
        // The 0.5B model calls again when it may: "none" asks for the answer.
        const reply = await engine.chat.completions.create({
          messages,
          tools,
          tool_choice: "none",
          temperature: 0,
          max_tokens: 40,
        });
        await engine.unload();
        return { chunks, calls, reply };
      },
      { model: MODEL, tools: [WEATHER_TOOL, TIME_TOOL] },
    );
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
  const { chunks, calls, reply } = outcome;
  const text = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("");
  const finish = chunks.map((chunk) => chunk.choices[0]?.finish_reason).find(Boolean);
  assert.equal(finish, "tool_calls", `answered ${JSON.stringify(text)}`);
  assert.equal(text, "", "a call is not content");
  assert.equal(calls.length, 1, JSON.stringify(calls));
  const [call] = calls;
  assert.equal(call.index, 0);
  assert.equal(call.type, "function");
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, "get_weather");
  const args = JSON.parse(call.function.arguments);
  const validate = new Ajv().compile(WEATHER_TOOL.function.parameters);
  assert.ok(validate(args), `${call.function.arguments}: ${JSON.stringify(validate.errors)}`);
  assert.match(args.city, /Paris/);

  const choice = reply.choices[0];
  assert.equal(choice.finish_reason, "stop");
  assert.equal(choice.message.tool_calls, undefined);
  assert.match(choice.message.content, /31/, `the answer does not use the tool's result: ${choice.message.content}`);
});
