// The JS API in the browser, with the real engine and model: greedy token ids against
// llama.cpp's, OpenAI-shaped streaming, abort, queueing, typed errors, unload.

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  MODEL_FILE,
  MODEL_URL_PATH,
  REPO,
  compareGreedy,
  fixture,
  openApiPage,
  startHarness,
} from "./harness.mjs";

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness);
  const loaded = await page.evaluate(async (modelUrl) => {
    const { Engine } = await import("./js/index.js");
    const phases = new Set();
    let progressEvents = 0;
    window.engine = await Engine.load(modelUrl, {
      backend: "webgpu",
      onProgress(p) {
        phases.add(p.phase);
        progressEvents += 1;
      },
    });
    return { info: window.engine.info, stats: window.engine.loadStats, phases: [...phases], progressEvents };
  }, MODEL_URL_PATH);
  console.log(
    `loaded in ${(loaded.stats.loadMs / 1000).toFixed(1)} s; wasm memory ${loaded.stats.memory.before} → ${loaded.stats.memory.after} bytes`,
  );
  harness.loaded = loaded;
});

after(async () => {
  await harness?.close();
});

/**
 * Tokens to generate for a fixture case: the steps the near-tie rule compares (those
 * before the first near tie, at most 32) plus the tie step itself, whose token may differ.
 */
const comparedTokens = (reference) =>
  Math.max(1, Math.min(32, reference.first_near_tie + 1, reference.greedy_ids.length));

const failed = (t) => t.diagnostic?.("page log:\n" + harness.logs.join("\n"));

test("load reports progress and keeps the model out of wasm memory", () => {
  const { info, stats, phases, progressEvents } = harness.loaded;
  assert.ok(info && typeof info === "object", "engine.info is missing");
  assert.ok(progressEvents > 1, `expected progress events, got ${progressEvents}`);
  assert.ok(phases.includes("download"), `phases seen: ${phases}`);
  assert.ok(phases.includes("compile"), `phases seen: ${phases}`);
  // Tensors stream to the GPU in pieces of a few MB as they arrive, so the wasm heap never
  // holds a whole large tensor, let alone the file.
  const modelBytes = statSync(path.join(REPO, "models", MODEL_FILE)).size;
  const growth = stats.memory.after - stats.memory.before;
  assert.ok(growth < modelBytes, `wasm memory grew by ${growth} bytes while loading a ${modelBytes}-byte model`);
  assert.ok(stats.memory.after <= 64 * 2 ** 20, `wasm memory after load: ${stats.memory.after} bytes`);
});

test("greedy chat completions give llama.cpp's token ids", async (t) => {
  const { chat, model } = fixture();
  for (const [index, reference] of chat.entries()) {
    const completion = await page.evaluate((request) => window.engine.chat.completions.create(request), {
      messages: reference.messages,
      temperature: 0,
      max_tokens: comparedTokens(reference),
    });
    const ids = completion.hearth.token_ids;
    const verdict = compareGreedy(reference.greedy_ids, ids, reference.top2_margins, {
      eos: model.eos,
      limit: comparedTokens(reference),
    });
    if (!verdict.ok) failed(t);
    assert.ok(
      verdict.ok,
      `chat case ${index}: ${verdict.message}\n  expected ${reference.greedy_ids}\n  got      ${ids}`,
    );
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.choices[0].message.role, "assistant");
    assert.equal(completion.usage.prompt_tokens, reference.prompt_ids.length, `chat case ${index}: prompt tokens`);
    assert.equal(completion.usage.completion_tokens, ids.length);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + ids.length);
    if (verdict.compared === reference.greedy_ids.length || ids.length === reference.greedy_ids.length) {
      if (ids.join() === reference.greedy_ids.join()) {
        assert.equal(completion.choices[0].message.content.trim(), reference.greedy_text.trim());
      }
    }
  }
});

test("greedy text completions of raw prompts give llama.cpp's token ids", async (t) => {
  const { raw, model } = fixture();
  for (const [index, reference] of raw.entries()) {
    const completion = await page.evaluate((request) => window.engine.completions.create(request), {
      prompt: reference.prompt,
      temperature: 0,
      max_tokens: comparedTokens(reference),
    });
    const ids = completion.hearth.token_ids;
    const verdict = compareGreedy(reference.greedy_ids, ids, reference.top2_margins, {
      eos: model.eos,
      limit: comparedTokens(reference),
    });
    if (!verdict.ok) failed(t);
    assert.ok(
      verdict.ok,
      `raw case ${index}: ${verdict.message}\n  expected ${reference.greedy_ids}\n  got      ${ids}`,
    );
    assert.equal(completion.object, "text_completion");
    assert.equal(completion.usage.prompt_tokens, reference.prompt_ids.length, `raw case ${index}: prompt tokens`);
  }
});

test("streaming yields OpenAI-shaped chunks and, with include_usage, a final usage chunk", async () => {
  const result = await page.evaluate(async () => {
    const stream = await window.engine.chat.completions.create({
      messages: [{ role: "user", content: "What is the capital of France?" }],
      temperature: 0,
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  });
  assert.ok(result.length >= 4, `expected several chunks, got ${result.length}`);
  const [first] = result;
  const usageChunk = result.at(-1);
  const answer = result.slice(0, -1);
  const last = answer.at(-1);
  assert.equal(first.object, "chat.completion.chunk");
  assert.equal(first.choices[0].delta.role, "assistant");
  assert.ok(
    result.every((chunk) => chunk.id === first.id),
    "all chunks share the completion id",
  );
  assert.ok(answer.slice(0, -1).every((chunk) => chunk.choices[0].finish_reason === null));
  assert.ok(["stop", "length"].includes(last.choices[0].finish_reason));
  assert.deepEqual(usageChunk.choices, []);
  assert.ok(usageChunk.usage.completion_tokens > 0 && usageChunk.usage.prompt_tokens > 0);
  const text = answer.map((chunk) => chunk.choices[0].delta.content ?? "").join("");
  assert.match(text, /Paris/);
});

test("abort through the signal stops within one token and the engine answers the next request", async () => {
  const result = await page.evaluate(async () => {
    const controller = new AbortController();
    const stream = await window.engine.chat.completions.create({
      messages: [{ role: "user", content: "Tell me a long story about a lighthouse." }],
      temperature: 0.8,
      seed: 7,
      max_tokens: 200,
      stream: true,
      signal: controller.signal,
    });
    let tokens = 0;
    let tokensAfterAbort = 0;
    let abortedAt = 0;
    let final = null;
    for await (const chunk of stream) {
      if (chunk.choices[0].finish_reason) {
        final = chunk;
        break;
      }
      if (abortedAt) tokensAfterAbort += 1;
      tokens += 1;
      if (tokens === 2) {
        abortedAt = performance.now();
        controller.abort();
      }
    }
    const stopMs = performance.now() - abortedAt;
    const next = await window.engine.chat.completions.create({
      messages: [{ role: "user", content: "What is the capital of France?" }],
      temperature: 0,
      max_tokens: 8,
    });
    return {
      finish: final?.choices[0].finish_reason,
      usage: final?.usage,
      tokensAfterAbort,
      stopMs,
      next: next.choices[0].message.content,
    };
  });
  assert.equal(result.finish, "abort");
  assert.ok(result.tokensAfterAbort <= 1, `${result.tokensAfterAbort} tokens arrived after abort`);
  assert.ok(result.stopMs < 1000, `abort took ${result.stopMs} ms`);
  assert.match(result.next, /Paris/);
});

test("concurrent requests queue and each gets its own answer", async () => {
  const answers = await page.evaluate(async () => {
    const ask = (content) =>
      window.engine.chat.completions.create({ messages: [{ role: "user", content }], temperature: 0, max_tokens: 8 });
    const results = await Promise.all([ask("What is the capital of France?"), ask("What is the capital of France?")]);
    return results.map((r) => ({ text: r.choices[0].message.content, ids: r.hearth.token_ids, id: r.id }));
  });
  assert.equal(answers.length, 2);
  assert.notEqual(answers[0].id, answers[1].id);
  assert.deepEqual(answers[0].ids, answers[1].ids, "the same greedy request must give the same tokens");
  assert.match(answers[0].text, /Paris/);
});

test("invalid requests are rejected with typed errors", async () => {
  const errors = await page.evaluate(async () => {
    const attempt = async (request) => {
      try {
        await window.engine.chat.completions.create(request);
        return null;
      } catch (error) {
        return { name: error.name, code: error.code, message: error.message };
      }
    };
    return [
      await attempt({ messages: [] }),
      await attempt({ messages: [{ role: "robot", content: "hi" }] }),
      await attempt({ messages: [{ role: "user", content: "hi" }], temperature: -1 }),
      await attempt({ messages: [{ role: "user", content: "hi" }], max_tokens: 0 }),
      await attempt({ messages: [{ role: "user", content: "hi" }], stop: [1] }),
    ];
  });
  for (const error of errors) {
    assert.ok(error, "an invalid request was accepted");
    assert.equal(error.name, "HearthError");
    assert.equal(error.code, "invalid_request");
    assert.match(error.message, /The request is invalid/);
  }
});

test("unload frees the engine; later requests fail with code 'unloaded'", async () => {
  const outcome = await page.evaluate(async () => {
    await window.engine.unload();
    try {
      await window.engine.chat.completions.create({ messages: [{ role: "user", content: "hi" }] });
      return null;
    } catch (error) {
      return { name: error.name, code: error.code };
    }
  });
  assert.deepEqual(outcome, { name: "HearthError", code: "unloaded" });
});
