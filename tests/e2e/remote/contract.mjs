// The test body that runs unchanged against the local engine and a remote server: the
// OpenAI shapes of replies (keys and types, never the text: the two backends sample and
// template differently), abort through the signal, and typed errors for invalid requests.
// Each test evaluates in the page against `window[name]`, an Engine or a RemoteEngine.

import assert from "node:assert/strict";
import { test } from "node:test";

const QUESTION = [{ role: "user", content: "What is the capital of France?" }];
const MAX_TOKENS = 8;

const isInteger = (value) => Number.isInteger(value);

/** id, object, created, model: the fields every completion and chunk has. */
function assertMeta(object, kind, where) {
  assert.equal(typeof object.id, "string", `${where}: id`);
  assert.ok(object.id.length > 0, `${where}: empty id`);
  assert.equal(object.object, kind, `${where}: object`);
  assert.ok(isInteger(object.created) && object.created > 1_600_000_000, `${where}: created ${object.created}`);
  assert.equal(typeof object.model, "string", `${where}: model`);
  assert.ok(Array.isArray(object.choices) && object.choices.length === 1, `${where}: one choice`);
  assert.equal(object.choices[0].index, 0, `${where}: choices[0].index`);
}

function assertUsage(usage, where, { promptKnown }) {
  assert.ok(usage && typeof usage === "object", `${where}: no usage`);
  for (const key of ["prompt_tokens", "completion_tokens", "total_tokens"]) {
    assert.ok(isInteger(usage[key]) && usage[key] >= 0, `${where}: usage.${key} = ${usage[key]}`);
  }
  assert.ok(usage.completion_tokens > 0 && usage.completion_tokens <= MAX_TOKENS, `${where}: ${usage.completion_tokens} tokens`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `${where}: total_tokens`);
  if (promptKnown) assert.ok(usage.prompt_tokens > 0, `${where}: prompt_tokens`);
}

/**
 * A streamed reply: one id for all chunks, finish_reason null until the last chunk, which
 * has "stop" or "length" and the usage (counted by hearth when the server reports none,
 * and then marked `hearth.usage === "counted"`).
 */
function assertStream(chunks, kind, where) {
  assert.ok(chunks.length >= 2, `${where}: ${chunks.length} chunks`);
  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  for (const [index, chunk] of chunks.entries()) {
    assertMeta(chunk, object, `${where} chunk ${index}`);
    assert.equal(chunk.id, chunks[0].id, `${where}: chunk ${index} has another id`);
    const choice = chunk.choices[0];
    if (kind === "chat") {
      assert.ok(choice.delta && typeof choice.delta === "object", `${where}: chunk ${index} delta`);
      if (choice.delta.content !== undefined) assert.equal(typeof choice.delta.content, "string");
    } else {
      assert.equal(typeof choice.text, "string", `${where}: chunk ${index} text`);
    }
    if (index < chunks.length - 1) {
      assert.equal(choice.finish_reason, null, `${where}: chunk ${index} finish_reason`);
      assert.equal(chunk.usage ?? undefined, undefined, `${where}: usage before the last chunk`);
    }
  }
  if (kind === "chat") assert.equal(chunks[0].choices[0].delta.role, "assistant", `${where}: first delta's role`);
  const last = chunks.at(-1);
  assert.ok(["stop", "length"].includes(last.choices[0].finish_reason), `${where}: ${last.choices[0].finish_reason}`);
  const counted = last.hearth?.usage === "counted";
  assertUsage(last.usage, `${where} (last chunk)`, { promptKnown: !counted });
  const texts = chunks.map((c) => (kind === "chat" ? (c.choices[0].delta.content ?? "") : c.choices[0].text));
  assert.ok(texts.join("").length > 0, `${where}: no text`);
  assert.ok(texts.filter(Boolean).length <= MAX_TOKENS, `${where}: more text chunks than max_tokens`);
}

/**
 * Registers the shared tests for the engine at `window[name]` of `page()`.
 * @param {string} label   shown in the test names ("local", "remote")
 * @param {() => import("playwright-core").Page} page
 * @param {string} name    the global holding the engine in the page
 */
export function engineContract(label, page, name) {
  const run = (fn, arg) => page().evaluate(fn, { name, arg });

  test(`${label}: a non-streamed chat completion has OpenAI's shape`, async () => {
    const completion = await run(
      ({ name, arg }) => window[name].chat.completions.create(arg),
      { messages: QUESTION, temperature: 0, max_tokens: MAX_TOKENS },
    );
    assertMeta(completion, "chat.completion", "completion");
    const [choice] = completion.choices;
    assert.equal(choice.message.role, "assistant");
    assert.equal(typeof choice.message.content, "string");
    assert.ok(choice.message.content.length > 0, "empty answer");
    assert.ok(["stop", "length"].includes(choice.finish_reason), choice.finish_reason);
    assert.ok("logprobs" in choice, "choices[0].logprobs is missing");
    assertUsage(completion.usage, "completion", { promptKnown: true });
  });

  test(`${label}: a streamed chat completion yields chunks of one id, with finish_reason and usage last`, async () => {
    const chunks = await run(
      async ({ name, arg }) => {
        const out = [];
        for await (const chunk of await window[name].chat.completions.create(arg)) out.push(chunk);
        return out;
      },
      { messages: QUESTION, temperature: 0, max_tokens: MAX_TOKENS, stream: true },
    );
    assertStream(chunks, "chat", "stream");
  });

  test(`${label}: text completions of a raw prompt, streamed and not`, async () => {
    const { plain, chunks } = await run(
      async ({ name, arg }) => {
        const plain = await window[name].completions.create(arg);
        const chunks = [];
        for await (const chunk of await window[name].completions.create({ ...arg, stream: true })) chunks.push(chunk);
        return { plain, chunks };
      },
      { prompt: "The capital of France is", temperature: 0, max_tokens: MAX_TOKENS },
    );
    assertMeta(plain, "text_completion", "text completion");
    assert.equal(typeof plain.choices[0].text, "string");
    assert.ok(["stop", "length"].includes(plain.choices[0].finish_reason));
    assertUsage(plain.usage, "text completion", { promptKnown: true });
    assertStream(chunks, "text", "text stream");
  });

  test(`${label}: abort through the signal ends a stream with finish_reason "abort"; the next request answers`, async () => {
    const result = await run(
      async ({ name }) => {
        const engine = window[name];
        const story = [{ role: "user", content: "Tell me a long story about a lighthouse." }];
        const controller = new AbortController();
        // `create(request, { signal })`, as in OpenAI's client.
        const stream = await engine.chat.completions.create(
          { messages: story, temperature: 0.8, seed: 7, max_tokens: 400, stream: true },
          { signal: controller.signal },
        );
        let texts = 0;
        let afterAbort = 0;
        let abortedAt = 0;
        let final = null;
        for await (const chunk of stream) {
          if (chunk.choices[0].finish_reason) {
            final = chunk;
            break;
          }
          if (!chunk.choices[0].delta.content) continue;
          if (abortedAt) afterAbort += 1;
          texts += 1;
          if (texts === 2) {
            abortedAt = performance.now();
            controller.abort();
          }
        }
        const stopMs = performance.now() - abortedAt;
        // A non-streamed request, with `signal` in the request.
        const plainController = new AbortController();
        const pending = engine.chat.completions.create({
          messages: story,
          temperature: 0.8,
          seed: 7,
          max_tokens: 400,
          signal: plainController.signal,
        });
        setTimeout(() => plainController.abort(), 200);
        const plain = await pending;
        const next = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi!" }], max_tokens: 8 });
        return { final, afterAbort, stopMs, plain, next };
      },
      null,
    );
    assert.ok(result.final, "the stream ended without a final chunk");
    assert.equal(result.final.choices[0].finish_reason, "abort");
    assert.ok(isInteger(result.final.usage?.completion_tokens), "the abort chunk has no usage");
    assert.ok(result.afterAbort <= 1, `${result.afterAbort} chunks arrived after abort`);
    assert.ok(result.stopMs < 1000, `abort took ${result.stopMs} ms`);
    assert.equal(result.plain.object, "chat.completion");
    assert.equal(result.plain.choices[0].finish_reason, "abort");
    assert.equal(typeof result.plain.choices[0].message.content, "string");
    assert.ok(result.next.choices[0].message.content.length > 0, "no answer after the aborts");
  });

  test(`${label}: invalid requests are rejected with typed errors`, async () => {
    const errors = await run(async ({ name }) => {
      const attempt = async (request) => {
        try {
          await window[name].chat.completions.create(request);
          return null;
        } catch (error) {
          return { name: error.name, code: error.code };
        }
      };
      return [
        await attempt({ messages: [] }),
        await attempt({ messages: [{ role: "robot", content: "hi" }] }),
        await attempt({ messages: [{ role: "user", content: "hi" }], temperature: -1 }),
        await attempt({ messages: [{ role: "user", content: "hi" }], max_tokens: 0 }),
      ];
    }, null);
    for (const error of errors) assert.deepEqual(error, { name: "HearthError", code: "invalid_request" });
  });
}
