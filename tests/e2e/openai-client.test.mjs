// The official `openai` npm client against hearth in the browser: the request bodies the
// client builds go unchanged to hearth's `create()` through the client's `fetch` option, and
// the client parses hearth's replies (JSON, and server-sent events for streams) as it parses
// OpenAI's. Unsupported fields come back as the client's BadRequestError naming the field.
// A tool round trip runs on Qwen2.5 (the request's `model` picks the engine).

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import Ajv from "ajv";
import { MODEL_URL_PATH, REPO, openApiPage, startHarness } from "./harness.mjs";
import { WEATHER_TOOL } from "./tools.mjs";

const CLIENT_DIR = path.join(REPO, "tests", "e2e", "node_modules", "openai");

/**
 * Serves the client's ES modules under /openai/ (it has no dependencies), unbundled. One
 * module probes a Node-only CommonJS twin (`./x509-transport-state.js`) and uses its browser
 * variant when the probe finds nothing: the `.js` files are served as empty modules.
 */
function clientRoutes() {
  const routes = {};
  const serve = (body) => (request, response) => {
    response.writeHead(200, { "content-type": "text/javascript" });
    response.end(body);
  };
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      const url = `/openai/${path.relative(CLIENT_DIR, file).split(path.sep).join("/")}`;
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith(".mjs")) routes[url] = serve(readFileSync(file));
      else if (entry.name.endsWith(".js")) routes[url] = serve("export {};");
    }
  };
  walk(CLIENT_DIR);
  return routes;
}

let harness;
let page;

before(async () => {
  harness = await startHarness({ routes: clientRoutes() });
  page = await openApiPage(harness);
  await page.evaluate(async (model) => {
    const { default: OpenAI } = await import("/openai/index.mjs");
    const { Engine } = await import("./js/index.js");
    const engine = await Engine.load(model);
    // Engines by the request's `model`; the others answer as SmolLM2.
    window.engines = {};
    const encoder = new TextEncoder();
    const events = (stream) =>
      new ReadableStream({
        async start(controller) {
          for await (const chunk of stream) controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          controller.close();
        },
      });
    window.sent = [];
    // An OpenAI-compatible endpoint in the page: the body the client sends, as it is.
    const fetch = async (url, init) => {
      const body = JSON.parse(init.body);
      window.sent.push(body);
      const target = window.engines[body.model] ?? engine;
      const endpoint = new URL(url).pathname.endsWith("/chat/completions") ? target.chat.completions : target.completions;
      const json = (status, value) =>
        new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });
      try {
        const reply = await endpoint.create(body);
        if (body.stream) return new Response(events(reply), { headers: { "content-type": "text/event-stream" } });
        return json(200, reply);
      } catch (error) {
        return json(400, { error: { message: error.message, type: "invalid_request_error", code: error.code } });
      }
    };
    window.client = new OpenAI({
      apiKey: "not-needed",
      baseURL: "http://hearth.invalid/v1",
      dangerouslyAllowBrowser: true,
      maxRetries: 0,
      fetch,
    });
    window.OpenAI = OpenAI;
  }, MODEL_URL_PATH);
});

after(async () => {
  await harness?.close();
});

const QUESTION = [{ role: "user", content: "What is the capital of France?" }];

test("a chat completion with sampling fields and logprobs, parsed by the client", async () => {
  const { completion, sent } = await page.evaluate(async (messages) => {
    const completion = await window.client.chat.completions.create({
      model: "smollm2",
      messages,
      temperature: 0,
      max_completion_tokens: 6,
      seed: 7,
      stop: ["\n\n"],
      frequency_penalty: 0.1,
      logit_bias: { 0: -100 },
      logprobs: true,
      top_logprobs: 3,
    });
    return { completion, sent: window.sent.at(-1) };
  }, QUESTION);
  assert.equal(sent.model, "smollm2");
  assert.equal(completion.object, "chat.completion");
  assert.equal(completion.model, "smollm2");
  const choice = completion.choices[0];
  assert.equal(typeof choice.message.content, "string");
  assert.ok(choice.message.content.length > 0);
  assert.equal(choice.logprobs.content.length, completion.usage.completion_tokens);
  for (const entry of choice.logprobs.content) assert.equal(entry.top_logprobs.length, 3);
});

test("a stream with include_usage, read with the client's iterator", async () => {
  const { text, usage, finish } = await page.evaluate(async (messages) => {
    const stream = await window.client.chat.completions.create({
      model: "smollm2",
      messages,
      temperature: 0,
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage = null;
    let finish = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    return { text, usage, finish };
  }, QUESTION);
  assert.ok(text.length > 0);
  assert.ok(["stop", "length"].includes(finish), finish);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test("structured output and text completions through the client", async () => {
  const { person, text } = await page.evaluate(async () => {
    const completion = await window.client.chat.completions.create({
      model: "smollm2",
      messages: [{ role: "user", content: "Describe a made-up person as JSON." }],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "person",
          strict: true,
          schema: {
            type: "object",
            properties: { name: { type: "string", maxLength: 20 }, age: { type: "integer", minimum: 0, maximum: 99 } },
            required: ["name", "age"],
            additionalProperties: false,
          },
        },
      },
      temperature: 0,
      max_tokens: 60,
    });
    const text = await window.client.completions.create({ model: "smollm2", prompt: "Once upon a time", max_tokens: 5 });
    return { person: completion.choices[0].message.content, text: text.choices[0].text };
  });
  const value = JSON.parse(person);
  assert.deepEqual(Object.keys(value).sort(), ["age", "name"]);
  assert.ok(Number.isInteger(value.age) && value.age >= 0 && value.age <= 99, person);
  assert.ok(text.length > 0);
});

test("unsupported fields are the client's BadRequestError naming the field", async () => {
  const errors = await page.evaluate(async (messages) => {
    const attempt = async (body) => {
      try {
        await window.client.chat.completions.create({ model: "smollm2", messages, ...body });
        return null;
      } catch (error) {
        return { isBadRequest: error instanceof window.OpenAI.BadRequestError, status: error.status, message: error.message };
      }
    };
    return [
      await attempt({ store: true }),
      await attempt({ n: 2 }),
      await attempt({ tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }] }),
    ];
  }, QUESTION);
  for (const [field, error] of [["store"], ["n"], ["tools"]].map(([f], i) => [f, errors[i]])) {
    assert.ok(error?.isBadRequest, `${field}: ${JSON.stringify(error)}`);
    assert.equal(error.status, 400);
    assert.match(error.message, new RegExp(field));
  }
});

const QWEN = "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

test("a tool round trip on Qwen2.5 as apps write it: the client's stream helper gathers the call, its message goes back as it is", async (t) => {
  let outcome;
  try {
    outcome = await page.evaluate(
      async ({ model, tool }) => {
        const { Engine } = await import("./js/index.js");
        // The CPU backend: the same engine API, faster than this machine's software WebGPU.
        window.engines.qwen = await Engine.load(model, { backend: "cpu" });
        const messages = [
          { role: "system", content: "Answer the user's question in one sentence, using the tool results." },
          { role: "user", content: "What is the weather like in Paris right now?" },
        ];
        const stream = window.client.chat.completions.stream({
          model: "qwen",
          messages,
          tools: [tool],
          tool_choice: "auto",
          temperature: 0,
          max_tokens: 64,
        });
        const first = await stream.finalChatCompletion();
        const message = first.choices[0].message;
        messages.push(message);
        for (const call of message.tool_calls ?? []) {
          messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify({ temperature: 31, unit: "celsius" }) });
        }
        // The 0.5B model calls again when it may: "none" asks for the answer.
        const second = await window.client.chat.completions.create({
          model: "qwen",
          messages,
          tools: [tool],
          tool_choice: "none",
          temperature: 0,
          max_tokens: 40,
        });
        await window.engines.qwen.unload();
        delete window.engines.qwen;
        return { first, second };
      },
      { model: QWEN, tool: WEATHER_TOOL },
    );
  } catch (error) {
    t.diagnostic("page log:\n" + harness.logs.join("\n"));
    throw error;
  }
  const { first, second } = outcome;
  assert.equal(first.model, "qwen");
  assert.equal(first.choices[0].finish_reason, "tool_calls", JSON.stringify(first.choices[0].message));
  const calls = first.choices[0].message.tool_calls;
  assert.equal(calls.length, 1, JSON.stringify(calls));
  assert.equal(calls[0].type, "function");
  assert.equal(calls[0].function.name, "get_weather");
  const args = JSON.parse(calls[0].function.arguments);
  const validate = new Ajv().compile(WEATHER_TOOL.function.parameters);
  assert.ok(validate(args), `${calls[0].function.arguments}: ${JSON.stringify(validate.errors)}`);
  assert.match(args.city, /Paris/);
  assert.equal(second.choices[0].finish_reason, "stop");
  assert.match(second.choices[0].message.content, /31/, `the answer does not use the tool's result: ${second.choices[0].message.content}`);
});
