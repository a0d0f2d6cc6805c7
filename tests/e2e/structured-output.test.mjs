// Structured output in the browser on SmolLM2: with `response_format: { type: "json_schema" }`
// every answer parses and validates against the schema (checked with Ajv), at ten seeds on
// the CPU backend and streamed on WebGPU; `json_object` gives an object; a bad schema is an
// invalid_request naming response_format.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import Ajv from "ajv";
import { MODEL_URL_PATH, openApiPage, startHarness } from "./harness.mjs";

/** Nested object, enum, array, integer range, pattern, required fields. */
const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 24 },
    age: { type: "integer", minimum: 0, maximum: 120 },
    role: { type: "string", enum: ["admin", "user", "guest"] },
    tags: { type: "array", items: { type: "string", maxLength: 12 }, minItems: 1, maxItems: 3 },
    address: {
      type: "object",
      properties: { city: { type: "string", maxLength: 24 }, zip: { type: "string", pattern: "^[0-9]{5}$" } },
      required: ["city", "zip"],
      additionalProperties: false,
    },
  },
  required: ["name", "age", "role", "tags", "address"],
  additionalProperties: false,
};
const FORMAT = { type: "json_schema", json_schema: { name: "person", schema: PERSON, strict: true } };
const MESSAGES = [{ role: "user", content: "Describe a made-up person as JSON." }];
const SEEDS = 10;

const validate = new Ajv({ allErrors: true }).compile(PERSON);

let harness;
let page;

before(async () => {
  harness = await startHarness();
  page = await openApiPage(harness);
});

after(async () => {
  await harness?.close();
});

/** Parses and validates an answer, failing with what is wrong. */
function checkPerson(text, where) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    assert.fail(`${where}: not JSON (${error.message}): ${text}`);
  }
  assert.ok(validate(value), `${where}: ${JSON.stringify(validate.errors)}: ${text}`);
  return value;
}

test("json_schema answers validate at ten seeds (CPU backend)", async () => {
  const replies = await page.evaluate(
    async ({ model, messages, format, seeds }) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.load(model, { backend: "cpu" });
      const replies = [];
      for (let seed = 0; seed < seeds; seed += 1) {
        replies.push(
          await engine.chat.completions.create({
            messages,
            response_format: format,
            temperature: 0.9,
            seed,
            max_tokens: 200,
          }),
        );
      }
      await engine.unload();
      return replies;
    },
    { model: MODEL_URL_PATH, messages: MESSAGES, format: FORMAT, seeds: SEEDS },
  );
  const answers = new Set();
  for (const [seed, reply] of replies.entries()) {
    const choice = reply.choices[0];
    assert.equal(choice.finish_reason, "stop", `seed ${seed}: ${choice.message.content}`);
    checkPerson(choice.message.content, `seed ${seed}`);
    answers.add(choice.message.content);
    assert.ok(reply.hearth.timings.mask_count > 0, "no grammar mask was computed");
  }
  assert.ok(answers.size > 1, "every seed gave the same answer");
  const masks = replies.reduce((n, r) => n + r.hearth.timings.mask_count, 0);
  const maskMs = replies.reduce((ms, r) => ms + r.hearth.timings.mask_ms, 0);
  console.log(`grammar masks: ${masks}, ${(maskMs / masks).toFixed(3)} ms each on average (wasm, CPU backend)`);
});

test("the same request streamed on WebGPU, json_object, and a bad schema", async () => {
  const outcome = await page.evaluate(
    async ({ model, messages, format }) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.load(model, { backend: "webgpu" });
      const chunks = [];
      const stream = await engine.chat.completions.create({
        messages,
        response_format: format,
        temperature: 0.9,
        seed: 3,
        max_tokens: 200,
        stream: true,
      });
      for await (const chunk of stream) chunks.push(chunk);
      const object = await engine.chat.completions.create({
        messages: [{ role: "user", content: "What is the capital of France? Answer in JSON." }],
        response_format: { type: "json_object" },
        temperature: 0,
        max_tokens: 200,
      });
      let badSchema = null;
      try {
        await engine.chat.completions.create({
          messages,
          response_format: { type: "json_schema", json_schema: { name: "bad", schema: { type: 5 } } },
        });
      } catch (error) {
        badSchema = { code: error.code, message: error.message };
      }
      const backend = engine.backend.kind;
      await engine.unload();
      return { chunks, object, badSchema, backend };
    },
    { model: MODEL_URL_PATH, messages: MESSAGES, format: FORMAT },
  );
  assert.equal(outcome.backend, "webgpu");
  const text = outcome.chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("");
  const finish = outcome.chunks.map((chunk) => chunk.choices[0]?.finish_reason).find(Boolean);
  assert.equal(finish, "stop", text);
  assert.ok(outcome.chunks.length > 10, "the answer was not streamed");
  checkPerson(text, "streamed");

  const objectChoice = outcome.object.choices[0];
  assert.equal(objectChoice.finish_reason, "stop", objectChoice.message.content);
  const value = JSON.parse(objectChoice.message.content);
  assert.equal(typeof value, "object");
  assert.ok(value !== null && !Array.isArray(value), objectChoice.message.content);

  assert.equal(outcome.badSchema?.code, "invalid_request", JSON.stringify(outcome.badSchema));
  assert.match(outcome.badSchema.message, /response_format/);
});
