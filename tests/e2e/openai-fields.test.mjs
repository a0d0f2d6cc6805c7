// OpenAI's request fields in the browser, with the real engine and model: each field hearth
// implements has its effect (logit_bias, frequency and presence penalties, logprobs and
// top_logprobs, stream_options.include_usage, model, n, content parts, the developer and
// tool roles, `create(body, { signal })`), and every other field fails with its name.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MODEL_URL_PATH, fixture, openApiPage, startHarness } from "./harness.mjs";

/**
 * Our logits are within 0.05 of llama.cpp's (tests/greedy_fixtures.rs), so a gap between
 * two of them is within 0.1 of llama.cpp's gap. (Against our own logits the log-softmax
 * holds within 1e-3: tests/logprobs.rs, natively, where the logits can be read.)
 */
const GAP_TOLERANCE = 0.1;
/**
 * The same request twice: the second reuses the cached prompt prefix and computes its last
 * prompt token with the one-token kernels, so the logits agree to ~1e-5, not bit for bit.
 */
const REPEAT_TOLERANCE = 1e-4;
const QUESTION = [{ role: "user", content: "What is the capital of France?" }];
const REPETITIVE = "I love you. I love you. I love you. I love you.";

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness);
  await page.evaluate(async (modelUrl) => {
    const { Engine } = await import("./js/index.js");
    window.engine = await Engine.load(modelUrl, { backend: "webgpu" });
    /** The error a call throws, as a plain object; null when it resolves. */
    window.attempt = async (call) => {
      try {
        await call();
        return null;
      } catch (error) {
        return { name: error.name, code: error.code, message: error.message };
      }
    };
    window.collect = async (stream) => {
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      return chunks;
    };
  }, MODEL_URL_PATH);
});

after(async () => {
  await harness?.close();
});

const chat = (request) => page.evaluate((r) => window.engine.chat.completions.create(r), request);
const complete = (request) => page.evaluate((r) => window.engine.completions.create(r), request);
const chatStream = (request) =>
  page.evaluate(async (r) => window.collect(await window.engine.chat.completions.create(r)), {
    ...request,
    stream: true,
  });
const completeStream = (request) =>
  page.evaluate(async (r) => window.collect(await window.engine.completions.create(r)), { ...request, stream: true });

/** The fixture's top-20 logits at the end of a prompt: `[[id, logit], ...]`, largest first. */
const fixtureTop = (index) => fixture().logits[index].top;

/** Asserts that sorted log-probabilities have llama.cpp's gaps between its sorted logits. */
function assertGaps(logprobs, reference, where) {
  const ours = [...logprobs].sort((a, b) => b - a);
  const theirs = reference.map(([, logit]) => logit).sort((a, b) => b - a);
  for (let k = 0; k < ours.length; k += 1) {
    const gapOurs = ours[0] - ours[k];
    const gapTheirs = theirs[0] - theirs[k];
    assert.ok(
      Math.abs(gapOurs - gapTheirs) < GAP_TOLERANCE,
      `${where}: gap to the top at rank ${k}: ${gapOurs} vs llama.cpp's ${gapTheirs}`,
    );
  }
}

/** Deep equality, numbers within `tolerance`. */
function assertClose(actual, expected, tolerance, where) {
  if (typeof expected === "number") {
    assert.ok(Math.abs(actual - expected) <= tolerance, `${where}: ${actual} vs ${expected}`);
    return;
  }
  if (expected === null || typeof expected !== "object") {
    assert.equal(actual, expected, where);
    return;
  }
  assert.deepEqual(Object.keys(actual ?? {}), Object.keys(expected), `${where}: keys`);
  for (const key of Object.keys(expected)) assertClose(actual[key], expected[key], tolerance, `${where}.${key}`);
}

/** One `{ token, logprob, bytes }` of OpenAI's chat logprobs. */
function assertTokenLogprob(entry, where) {
  assert.equal(typeof entry.token, "string", `${where}: token`);
  assert.ok(Number.isFinite(entry.logprob) && entry.logprob <= 0, `${where}: logprob ${entry.logprob}`);
  assert.ok(Array.isArray(entry.bytes) && entry.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
  assert.equal(new TextDecoder().decode(Uint8Array.from(entry.bytes)), entry.token, `${where}: bytes are the token's`);
}

test("logit_bias +100 makes a token the greedy output, -100 on the greedy token changes it", async () => {
  const { prompt_ids: prompt } = fixture().logits[1];
  const top = fixtureTop(1).map(([id]) => id);
  const first = async (logit_bias) =>
    (await complete({ prompt, temperature: 0, max_tokens: 1, logit_bias })).hearth.token_ids[0];
  assert.equal(await first(undefined), top[0], "the greedy token is llama.cpp's");
  assert.equal(await first({ [top[7]]: 100 }), top[7], "+100 forces the token");
  assert.equal(await first({ [top[0]]: -100 }), top[1], "-100 bans the greedy token: the runner-up wins");

  // In a chat, at a temperature: banning the greedy first token keeps it out of every draw.
  const plain = await chat({ messages: QUESTION, temperature: 0, max_tokens: 4 });
  const greedyFirst = plain.hearth.token_ids[0];
  for (const seed of [1, 2, 3]) {
    const banned = await chat({
      messages: QUESTION,
      temperature: 1.5,
      seed,
      max_tokens: 1,
      logit_bias: { [greedyFirst]: -100 },
    });
    assert.notEqual(banned.hearth.token_ids[0], greedyFirst, `seed ${seed}`);
  }
  // The reported distribution is the biased one: a forced token is certain.
  const forced = await chat({
    messages: QUESTION,
    temperature: 0,
    max_tokens: 1,
    logit_bias: { [top[3]]: 100 },
    logprobs: true,
  });
  assert.equal(forced.hearth.token_ids[0], top[3]);
  assert.ok(forced.choices[0].logprobs.content[0].logprob > -1e-3, JSON.stringify(forced.choices[0].logprobs));
});

test("frequency_penalty and presence_penalty change a repetitive greedy answer", async () => {
  const answer = async (fields) =>
    (await complete({ prompt: REPETITIVE, temperature: 0, max_tokens: 16, ignore_eos: true, ...fields })).choices[0]
      .text;
  const repeats = (text) => text.split("I love you.").length - 1;
  const plain = await answer({});
  const frequency = await answer({ frequency_penalty: 2 });
  const presence = await answer({ presence_penalty: 2 });
  assert.ok(repeats(plain) >= 3, `greedy should repeat the sentence: ${JSON.stringify(plain)}`);
  assert.ok(repeats(frequency) <= 1, `frequency_penalty: ${JSON.stringify(frequency)}`);
  assert.ok(repeats(presence) <= 1, `presence_penalty: ${JSON.stringify(presence)}`);
  // The same fields in a chat completion are accepted and change nothing when 0.
  const zeros = { frequency_penalty: 0, presence_penalty: 0 };
  const zero = await chat({ messages: QUESTION, temperature: 0, max_tokens: 6, ...zeros });
  const none = await chat({ messages: QUESTION, temperature: 0, max_tokens: 6 });
  assert.deepEqual(zero.hearth.token_ids, none.hearth.token_ids);
});

test("chat logprobs: OpenAI's shape; each greedy step's top-1 is the sampled token; llama.cpp's gaps", async () => {
  const { chat: cases, logits } = fixture();
  // The fixture's first logits prompt is its first chat prompt.
  const [reference] = cases;
  assert.deepEqual(reference.prompt_ids, logits[0].prompt_ids);
  const request = { messages: reference.messages, temperature: 0, max_tokens: 8, logprobs: true, top_logprobs: 20 };
  const completion = await chat(request);
  assert.equal(completion.usage.prompt_tokens, reference.prompt_ids.length);
  const { logprobs } = completion.choices[0];
  assert.deepEqual(Object.keys(logprobs).sort(), ["content", "refusal"]);
  assert.equal(logprobs.content.length, completion.hearth.token_ids.length, "one entry per generated token");
  for (const [step, entry] of logprobs.content.entries()) {
    assertTokenLogprob(entry, `step ${step}`);
    assert.equal(entry.top_logprobs.length, 20);
    entry.top_logprobs.forEach((alternative, k) => assertTokenLogprob(alternative, `step ${step} top ${k}`));
    const values = entry.top_logprobs.map((t) => t.logprob);
    assert.deepEqual(values, [...values].sort((a, b) => b - a), `step ${step}: most likely first`);
    // Greedy picks the most likely token: its logprob is the top-1's.
    assert.equal(entry.logprob, values[0], `step ${step}`);
    assert.equal(entry.token, entry.top_logprobs[0].token, `step ${step}`);
    const total = values.reduce((sum, value) => sum + Math.exp(value), 0);
    assert.ok(total <= 1 + 1e-4, `step ${step}: probabilities sum to ${total}`);
  }
  assertGaps(
    logprobs.content[0].top_logprobs.map((t) => t.logprob),
    logits[0].top,
    "first step",
  );
  const eos = fixture().model.eos;
  const text = logprobs.content
    .filter((_, i) => completion.hearth.token_ids[i] !== eos)
    .map((entry) => entry.token)
    .join("");
  assert.equal(text, completion.choices[0].message.content, "the tokens spell the answer");

  // Greedy with logprobs reads the logits instead of the GPU's argmax: the same tokens.
  const plain = await chat({ messages: reference.messages, temperature: 0, max_tokens: 8 });
  assert.deepEqual(completion.hearth.token_ids, plain.hearth.token_ids);
  assert.equal(plain.choices[0].logprobs, null, "no logprobs unless asked for");

  // Streamed: one entry per token chunk, the same values.
  const chunks = await chatStream(request);
  const streamed = chunks.flatMap((chunk) => chunk.choices[0]?.logprobs?.content ?? []);
  assertClose(streamed, logprobs.content, REPEAT_TOLERANCE, "streamed");
  assert.ok(chunks.every((chunk) => (chunk.choices[0].logprobs?.content.length ?? 0) <= 1));

  // logprobs without top_logprobs: no alternatives.
  const bare = await chat({ messages: QUESTION, temperature: 0, max_tokens: 3, logprobs: true });
  assert.ok(bare.choices[0].logprobs.content.every((entry) => entry.top_logprobs.length === 0));
});

test("text completion logprobs: OpenAI's legacy shape, streamed and not, against llama.cpp's", async () => {
  const { raw, logits } = fixture();
  const prompt = raw[0].prompt;
  const completion = await complete({ prompt, temperature: 0, max_tokens: 6, logprobs: 3 });
  const { logprobs } = completion.choices[0];
  const { text } = completion.choices[0];
  assert.deepEqual(Object.keys(logprobs).sort(), ["text_offset", "token_logprobs", "tokens", "top_logprobs"]);
  const n = completion.hearth.token_ids.length;
  for (const key of ["tokens", "token_logprobs", "top_logprobs", "text_offset"]) {
    assert.equal(logprobs[key].length, n, key);
  }
  for (let i = 0; i < n; i += 1) {
    const alternatives = logprobs.top_logprobs[i];
    const values = Object.values(alternatives);
    assert.ok(values.length >= 1 && values.length <= 4, `step ${i}: up to logprobs + 1 entries`);
    const sampled = alternatives[logprobs.tokens[i]];
    assert.equal(sampled, logprobs.token_logprobs[i], `step ${i}: the sampled token is listed`);
    assert.equal(logprobs.token_logprobs[i], Math.max(...values), `step ${i}: greedy takes the most likely`);
    assert.equal(text.slice(logprobs.text_offset[i]).startsWith(logprobs.tokens[i]), true, `step ${i}: text_offset`);
  }
  assert.equal(logprobs.tokens.join(""), text);
  assert.equal(completion.hearth.token_ids[0], logits[1].top[0][0], "llama.cpp's greedy token");
  assertGaps(Object.values(logprobs.top_logprobs[0]), logits[1].top.slice(0, 3), "first step");

  // The prompt as token ids (OpenAI takes those too) gives the same answer.
  const byIds = await complete({ prompt: raw[0].prompt_ids, temperature: 0, max_tokens: 6, logprobs: 3 });
  assertClose(byIds.choices[0].logprobs, logprobs, REPEAT_TOLERANCE, "prompt as token ids");

  const chunks = await completeStream({ prompt, temperature: 0, max_tokens: 6, logprobs: 3 });
  const merged = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const chunk of chunks) {
    const part = chunk.choices[0]?.logprobs;
    if (part) for (const key of Object.keys(merged)) merged[key].push(...part[key]);
  }
  assertClose(merged, logprobs, REPEAT_TOLERANCE, "streamed");
  assert.equal((await complete({ prompt, temperature: 0, max_tokens: 2 })).choices[0].logprobs, null);
});

test("stream_options.include_usage adds OpenAI's usage-only chunk; without it no chunk has usage", async () => {
  const request = { messages: QUESTION, temperature: 0, max_tokens: 5 };
  const without = await chatStream(request);
  assert.ok(without.every((chunk) => !("usage" in chunk)), JSON.stringify(without.at(-1)));
  assert.ok(without.at(-1).choices[0].finish_reason, "the last chunk has the finish_reason");
  assert.ok(Array.isArray(without.at(-1).hearth.token_ids), "hearth's extension stays on the finish chunk");

  const chunks = await chatStream({ ...request, stream_options: { include_usage: true } });
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, []);
  assert.equal(usageChunk.id, chunks[0].id);
  assert.equal(usageChunk.object, "chat.completion.chunk");
  const { usage } = usageChunk;
  assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0 && usage.completion_tokens <= 5);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  const others = chunks.slice(0, -1);
  assert.ok(others.every((chunk) => chunk.usage === null), "the other chunks carry usage: null");
  assert.ok(others.at(-1).choices[0].finish_reason, "the finish chunk comes before the usage chunk");
  assert.equal(usage.completion_tokens, others.at(-1).hearth.token_ids.length);

  const text = await completeStream({
    prompt: "The capital of France is",
    temperature: 0,
    max_tokens: 3,
    ignore_eos: true,
    stream_options: { include_usage: true },
  });
  assert.deepEqual(text.at(-1).choices, []);
  assert.equal(text.at(-1).object, "text_completion");
  assert.equal(text.at(-1).usage.completion_tokens, 3);
});

test("model is accepted and echoed; without it the loaded model's name", async () => {
  const named = await chat({ model: "gpt-4o-mini", messages: QUESTION, max_tokens: 2 });
  assert.equal(named.model, "gpt-4o-mini");
  const chunks = await chatStream({ model: "my-model", messages: QUESTION, max_tokens: 2 });
  assert.ok(chunks.every((chunk) => chunk.model === "my-model"));
  const text = await complete({ model: "davinci-002", prompt: "Hello", max_tokens: 2 });
  assert.equal(text.model, "davinci-002");
  const unnamed = await chat({ messages: QUESTION, max_tokens: 2 });
  const name = await page.evaluate(() => window.engine.info.name ?? "hearth");
  assert.equal(unnamed.model, name);
});

test("n = 1 is accepted; n > 1 is a clear invalid_request", async () => {
  const one = await chat({ messages: QUESTION, max_tokens: 2, n: 1 });
  assert.equal(one.choices.length, 1);
  const errors = await page.evaluate(async (messages) => [
    await window.attempt(() => window.engine.chat.completions.create({ messages, n: 2 })),
    await window.attempt(() => window.engine.completions.create({ prompt: "Hi", n: 3 })),
  ], QUESTION);
  for (const error of errors) {
    assert.equal(error?.code, "invalid_request", JSON.stringify(error));
    assert.match(error.message, /\bn = \d: hearth generates one choice per request, so n must be 1/);
  }
});

test("create(body, { signal }) aborts, streamed and not", async () => {
  const result = await page.evaluate(async () => {
    const story = [{ role: "user", content: "Tell me a long story about a lighthouse." }];
    const controller = new AbortController();
    const stream = await window.engine.chat.completions.create(
      { messages: story, temperature: 0.8, seed: 3, max_tokens: 300, stream: true },
      { signal: controller.signal },
    );
    let texts = 0;
    let final = null;
    for await (const chunk of stream) {
      if (chunk.choices[0].finish_reason) final = chunk;
      else if (chunk.choices[0].delta.content && ++texts === 2) controller.abort();
    }
    const plainController = new AbortController();
    const pending = window.engine.chat.completions.create(
      { messages: story, temperature: 0.8, seed: 3, max_tokens: 300 },
      { signal: plainController.signal },
    );
    setTimeout(() => plainController.abort(), 300);
    const plain = await pending;
    return { finish: final?.choices[0].finish_reason, plain: plain.choices[0].finish_reason };
  });
  assert.equal(result.finish, "abort");
  assert.equal(result.plain, "abort");
});

test("content as text parts renders like the joined string; other part types are refused by name", async () => {
  const parts = [
    { role: "system", content: [{ type: "text", text: "You are a helpful assistant." }] },
    { role: "user", content: [{ type: "text", text: "What is the capital" }, { type: "text", text: "of France?" }] },
  ];
  const joined = [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is the capital\nof France?" },
  ];
  const a = await chat({ messages: parts, temperature: 0, max_tokens: 6 });
  const b = await chat({ messages: joined, temperature: 0, max_tokens: 6 });
  assert.equal(a.usage.prompt_tokens, b.usage.prompt_tokens);
  assert.deepEqual(a.hearth.token_ids, b.hearth.token_ids);

  const errors = await page.evaluate(async () => {
    const ask = (content) => () => window.engine.chat.completions.create({ messages: [{ role: "user", content }] });
    return [
      await window.attempt(ask([{ type: "image_url", image_url: { url: "https://example.com/cat.png" } }])),
      await window.attempt(ask([{ type: "text", text: "hi" }, { type: "input_audio", input_audio: {} }])),
      await window.attempt(ask([])),
      await window.attempt(ask(null)),
    ];
  });
  for (const error of errors) assert.equal(error?.code, "invalid_request", JSON.stringify(error));
  assert.match(errors[0].message, /messages\[0\]\.content\[0\] has type "image_url", which is not supported/);
  assert.match(errors[1].message, /messages\[0\]\.content\[1\] has type "input_audio"/);
});

test("the developer role renders as a system message", async () => {
  const as = (role) => [
    { role, content: "You are a pirate. Answer like one." },
    { role: "user", content: "What is the capital of France?" },
  ];
  const developer = await chat({ messages: as("developer"), temperature: 0, max_tokens: 8 });
  const system = await chat({ messages: as("system"), temperature: 0, max_tokens: 8 });
  assert.equal(developer.usage.prompt_tokens, system.usage.prompt_tokens);
  assert.deepEqual(developer.hearth.token_ids, system.hearth.token_ids);
  assert.equal(developer.choices[0].message.content, system.choices[0].message.content);
});

test("the tool role is accepted with its tool_call_id and reaches the prompt", async () => {
  const conversation = [
    { role: "user", content: "What is the weather in Paris?" },
    { role: "assistant", content: "Let me look it up." },
  ];
  const result = { role: "tool", tool_call_id: "call_1", content: '{"temperature": 21, "sky": "clear"}' };
  const without = await chat({ messages: conversation, temperature: 0, max_tokens: 4 });
  const withTool = await chat({ messages: [...conversation, result], temperature: 0, max_tokens: 4 });
  assert.ok(withTool.usage.prompt_tokens > without.usage.prompt_tokens + 10, "the tool's result is in the prompt");
  assert.equal(withTool.object, "chat.completion");

  const errors = await page.evaluate(async (conversation) => {
    const ask = (messages) => () => window.engine.chat.completions.create({ messages });
    return [
      await window.attempt(ask([...conversation, { role: "tool", content: "21 degrees" }])),
      await window.attempt(
        ask([{ role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function" }] }]),
      ),
      await window.attempt(ask([{ role: "user", name: "alice", content: "hi" }])),
    ];
  }, conversation);
  for (const error of errors) assert.equal(error?.code, "invalid_request", JSON.stringify(error));
  assert.match(errors[0].message, /messages\[2\]\.tool_call_id/);
  assert.match(errors[1].message, /messages\[0\]\.tool_calls\[0\]\.function must be/);
  assert.match(errors[2].message, /messages\[0\]\.name is not supported/);
});

test("every unsupported field is an invalid_request naming it", async () => {
  const chatFields = {
    response_format: { type: "xml" },
    // SmolLM2's template has no tool-call syntax: the engine refuses tools by name.
    tools: [{ type: "function", function: { name: "f" } }],
    tool_choice: "required",
    parallel_tool_calls: "yes",
    functions: [{ name: "f" }],
    function_call: "auto",
    audio: { voice: "alloy", format: "wav" },
    modalities: ["text"],
    prediction: { type: "content", content: "x" },
    reasoning_effort: "low",
    service_tier: "auto",
    store: false,
    metadata: { a: "b" },
    user: "user-1",
    web_search_options: {},
    verbosity: "low",
    prompt_cache_key: "k",
    safety_identifier: "s",
    best_of: 2,
    temprature: 0.5,
  };
  const textFields = { echo: true, suffix: "!", best_of: 2, top_logprobs: 2, user: "user-1" };
  const results = await page.evaluate(
    async ({ chatFields, textFields, messages }) => {
      const engine = window.engine;
      const out = [];
      const withChat = (field, value) => window.attempt(() => engine.chat.completions.create({ messages, [field]: value }));
      const withText = (field, value) => window.attempt(() => engine.completions.create({ prompt: "Hi", [field]: value }));
      for (const [field, value] of Object.entries(chatFields)) out.push({ field, error: await withChat(field, value) });
      for (const [field, value] of Object.entries(textFields)) out.push({ field, error: await withText(field, value) });
      // Streamed requests are checked before anything is generated, too.
      out.push({
        field: "audio",
        error: await window.attempt(() => engine.chat.completions.create({ messages, stream: true, audio: {} })),
      });
      return out;
    },
    { chatFields, textFields, messages: QUESTION },
  );
  for (const { field, error } of results) {
    assert.ok(error, `${field} was accepted`);
    assert.equal(error.code, "invalid_request", `${field}: ${JSON.stringify(error)}`);
    assert.ok(error.message.includes(field), `${field}: the message does not name it: ${error.message}`);
  }
  // null is JSON's "not set": an unsupported field left null is no request for it.
  const withNulls = await chat({ messages: QUESTION, max_tokens: 1, tools: null, user: null });
  assert.equal(withNulls.choices.length, 1);
});

test("values outside OpenAI's ranges are invalid_request errors naming the field", async () => {
  const cases = [
    ["chat", { logprobs: true, top_logprobs: 21 }, "top_logprobs"],
    ["chat", { top_logprobs: 2 }, "top_logprobs"],
    ["chat", { logprobs: 3 }, "logprobs"],
    ["text", { logprobs: 6 }, "logprobs"],
    ["chat", { logit_bias: { hello: 1 } }, "logit_bias"],
    ["chat", { logit_bias: { 42: 101 } }, "logit_bias"],
    ["chat", { logit_bias: { 999999: 5 } }, "logit_bias"],
    ["chat", { frequency_penalty: 2.5 }, "frequency_penalty"],
    ["text", { presence_penalty: -3 }, "presence_penalty"],
    ["chat", { stream_options: { include_usage: true } }, "stream_options"],
    ["chat", { stream: true, stream_options: { include_obfuscation: false } }, "stream_options.include_obfuscation"],
    ["chat", { max_tokens: 4, max_completion_tokens: 5 }, "max_completion_tokens"],
    ["chat", { model: 42 }, "model"],
    ["text", { prompt: ["one prompt", "another"] }, "prompt"],
  ];
  const errors = await page.evaluate(async ({ cases, messages }) => {
    const out = [];
    for (const [kind, fields] of cases) {
      const create =
        kind === "chat"
          ? (r) => window.engine.chat.completions.create({ messages, max_tokens: 1, ...r })
          : (r) => window.engine.completions.create({ prompt: "Hi", max_tokens: 1, ...r });
      out.push(await window.attempt(async () => {
        const reply = await create(fields);
        // A stream fails on its first chunk when the engine refuses the request.
        if (reply[Symbol.asyncIterator]) await window.collect(reply);
      }));
    }
    return out;
  }, { cases, messages: QUESTION });
  for (const [index, [, fields, field]] of cases.entries()) {
    const error = errors[index];
    assert.equal(error?.code, "invalid_request", `${JSON.stringify(fields)}: ${JSON.stringify(error)}`);
    assert.ok(error.message.includes(field), `${JSON.stringify(fields)}: ${error.message}`);
  }
  // max_completion_tokens is max_tokens' newer name.
  const capped = await chat({ messages: QUESTION, max_completion_tokens: 2, temperature: 0 });
  assert.equal(capped.usage.completion_tokens, 2);
});
