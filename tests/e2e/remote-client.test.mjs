// The remote backend (Engine.connect, Engine.load's fallback) against a scripted
// OpenAI-compatible server on another origin: how replies are shaped, what is sent (and
// where), and every failure a server can cause, as typed errors. The real server
// (llama.cpp's, through llama-cpp-python) is in tests/e2e/remote/ (`make test-remote`).

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { MODEL_URL_PATH, startHarness } from "./harness.mjs";

const MODEL = "test-model";
const API_KEY = "sekret-key-123";
const NO_WEBGPU = () => Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });

/** Requests the scripted server received: `{ scenario, endpoint, method, headers, body }`. */
const received = [];
/** Streams of the "slow" scenario whose connection closed before they were done. */
let slowClosedEarly = 0;

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type, x-trace",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-expose-headers": "retry-after",
};

function chunk(kind, id, fields) {
  const base = { id, created: 1700000000, model: MODEL };
  if (kind === "chat") {
    const { content, role, finish_reason = null } = fields;
    const delta = finish_reason ? {} : { ...(role ? { role } : {}), ...(content !== undefined ? { content } : {}) };
    return { ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason }] };
  }
  const { content = "", finish_reason = null } = fields;
  return { ...base, object: "text_completion", choices: [{ index: 0, text: content, logprobs: null, finish_reason }] };
}

const sse = (data) => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

/** An OpenAI-compatible server whose behaviour is picked by the first path segment. */
function startScriptedServer() {
  const server = createServer((request, response) => {
    let raw = "";
    request.on("data", (part) => (raw += part));
    request.on("end", () => answer(request, response, raw));
  });
  function answer(request, response, raw) {
    const url = new URL(request.url, "http://localhost");
    const [, scenario, ...rest] = url.pathname.split("/");
    const endpoint = `/${rest.join("/")}`;
    if (request.method === "OPTIONS") {
      response.writeHead(204, CORS);
      return response.end();
    }
    let body = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    received.push({ scenario, endpoint, method: request.method, headers: request.headers, body });
    const json = (status, value, headers = {}) => {
      response.writeHead(status, { ...CORS, "content-type": "application/json", ...headers });
      response.end(JSON.stringify(value));
    };
    const kind = endpoint === "/v1/chat/completions" ? "chat" : "text";
    const startEvents = () => response.writeHead(200, { ...CORS, "content-type": "text/event-stream" });

    if (scenario === "auth") {
      if (request.headers.authorization !== `Bearer ${API_KEY}`) {
        return json(401, { error: { message: "Invalid API key", type: "invalid_request_error" } });
      }
    }
    if (endpoint === "/v1/models") {
      if (scenario === "nolist") return json(404, { error: { message: "no such route" } });
      if (scenario === "redirect") {
        response.writeHead(302, { ...CORS, location: `${redirectTarget}stolen` });
        return response.end();
      }
      return json(200, { object: "list", data: [{ id: MODEL, object: "model", owned_by: "test" }] });
    }
    if (endpoint !== "/v1/chat/completions" && endpoint !== "/v1/completions") return json(404, { error: "no route" });
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${scenario}-${received.length}`;
    switch (scenario) {
      case "nolist":
        return json(404, {
          error: { message: `The model '${body?.model}' does not exist`, type: "invalid_request_error", code: "model_not_found" },
        });
      case "limited":
        return json(429, { error: { message: "Rate limit reached", type: "requests" } }, { "retry-after": "7" });
      case "boom":
        response.writeHead(500, { ...CORS, "content-type": "text/plain" });
        return response.end("internal server error");
      case "invalid":
        return json(400, { detail: "Requested tokens (9000) exceed context window of 2048" });
      case "html":
        response.writeHead(200, { ...CORS, "content-type": "text/html" });
        return response.end("<!doctype html><title>Welcome to nginx</title>");
      case "cut":
        startEvents();
        response.write(sse(chunk(kind, id, { role: "assistant", content: "Hel" })));
        response.write(sse(chunk(kind, id, { content: "lo" })));
        return setTimeout(() => response.socket.destroy(), 50);
      case "early":
        startEvents();
        response.write(sse(chunk(kind, id, { role: "assistant", content: "Hel" })));
        return response.end(sse(chunk(kind, id, { content: "lo" })));
      case "badjson":
        startEvents();
        response.write(sse(chunk(kind, id, { role: "assistant", content: "Hel" })));
        return response.end(sse('{"id": oops'));
      case "errorevent":
        startEvents();
        response.write(sse(chunk(kind, id, { role: "assistant", content: "Hel" })));
        return response.end(sse({ error: { message: "the model crashed", code: 500 } }));
      case "slow": {
        startEvents();
        let sent = 0;
        const timer = setInterval(() => {
          sent += 1;
          if (sent > 100) {
            clearInterval(timer);
            response.write(sse(chunk(kind, id, { finish_reason: "length" })));
            return response.end(sse("[DONE]"));
          }
          response.write(sse(chunk(kind, id, { role: sent === 1 ? "assistant" : undefined, content: ` w${sent}` })));
        }, 40);
        response.on("close", () => {
          if (sent <= 100) slowClosedEarly += 1;
          clearInterval(timer);
        });
        return undefined;
      }
      default:
        break;
    }
    // "ok" and "auth": a short answer; streams end as OpenAI's do with include_usage.
    const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
    if (!body?.stream) {
      const choice =
        kind === "chat"
          ? { index: 0, message: { role: "assistant", content: "Hello world" }, logprobs: null, finish_reason: "stop" }
          : { index: 0, text: "Hello world", logprobs: null, finish_reason: "stop" };
      return json(200, {
        id,
        object: kind === "chat" ? "chat.completion" : "text_completion",
        created: 1700000000,
        model: MODEL,
        choices: [choice],
        usage,
      });
    }
    startEvents();
    response.write(sse(chunk(kind, id, { role: "assistant", content: "Hello" })));
    response.write(sse(chunk(kind, id, { content: " world" })));
    response.write(sse(chunk(kind, id, { finish_reason: "stop" })));
    if (body.stream_options?.include_usage) {
      response.write(sse({ id, object: "chat.completion.chunk", created: 1700000000, model: MODEL, choices: [], usage }));
    }
    return response.end(sse("[DONE]"));
  }
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((done) => (server.closeAllConnections(), server.close(() => done()))),
      });
    });
  });
}

/** A port on which nothing listens. */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let harness;
let scripted;
let page;
/** Where the "redirect" scenario points: the page's own server, which counts what it gets. */
let redirectTarget;
let stolen = 0;
/** Every URL the browser requested, to check that nothing leaves the two origins. */
const browserRequests = [];

before(async () => {
  scripted = await startScriptedServer();
  harness = await startHarness({
    routes: {
      "/stolen": (request, response) => {
        stolen += 1;
        response.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
        response.end("{}");
      },
    },
  });
  redirectTarget = harness.baseUrl;
  harness.context.on("request", (request) => browserRequests.push(request.url()));
  page = await harness.openPage("bench.html");
  await page.evaluate(() => {
    window.attempt = async (run) => {
      try {
        await run();
        return null;
      } catch (error) {
        return {
          name: error.name,
          code: error.code,
          status: error.status,
          retryAfter: error.retryAfter,
          message: error.message,
        };
      }
    };
    window.collect = async (stream) => {
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      return chunks;
    };
  });
});

after(async () => {
  await harness?.close();
  await scripted?.close();
});

const base = (scenario) => `${scripted.url}${scenario}/v1`;

test("connect checks that the server lists the model", async () => {
  const result = await page.evaluate(
    async ({ baseURL, model }) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.connect({ baseURL: `${baseURL}/`, model });
      const wrong = await window.attempt(() => Engine.connect({ baseURL, model: "no-such-model" }));
      const invalid = await Promise.all([
        window.attempt(() => Engine.connect({ baseURL: "ftp://example.com/v1", model })),
        window.attempt(() => Engine.connect({ baseURL, model: "" })),
        window.attempt(() => Engine.connect({ baseURL: "/relative/v1", model })),
      ]);
      return { backend: { ...engine.backend }, wrong, invalid };
    },
    { baseURL: base("ok"), model: MODEL },
  );
  assert.deepEqual(result.backend, { kind: "remote", baseURL: base("ok"), model: MODEL });
  assert.equal(result.wrong.name, "HearthError");
  assert.equal(result.wrong.code, "not_found");
  assert.equal(result.wrong.status, 404);
  assert.match(result.wrong.message, /does not serve the model 'no-such-model'; it serves: test-model/);
  for (const error of result.invalid) assert.equal(error?.code, "invalid_request", JSON.stringify(error));
});

test("replies are the server's, with finish_reason and usage on the last chunk; requests are sent as written", async () => {
  received.length = 0;
  const result = await page.evaluate(
    async ({ baseURL, model }) => {
      const { Engine } = await import("./js/index.js");
      const engine = await Engine.connect({ baseURL, model });
      const messages = [{ role: "user", content: "Say hello" }];
      const chunks = await window.collect(
        await engine.chat.completions.create({ model: "gpt-4o", messages, stream: true, frequency_penalty: 0.5 }),
      );
      const completion = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 4 });
      const textChunks = await window.collect(await engine.completions.create({ prompt: "Hi", stream: true }));
      const text = await engine.completions.create({ prompt: "Hi" });
      return { chunks, completion, textChunks, text };
    },
    { baseURL: base("ok"), model: MODEL },
  );
  const { chunks, completion, textChunks, text } = result;
  assert.equal(chunks.length, 3, JSON.stringify(chunks));
  assert.deepEqual(
    chunks.map((c) => c.choices[0].delta.content ?? ""),
    ["Hello", " world", ""],
  );
  assert.equal(chunks[0].choices[0].delta.role, "assistant");
  assert.ok(chunks.every((c) => c.id === chunks[0].id && c.object === "chat.completion.chunk"));
  assert.deepEqual(
    chunks.map((c) => c.choices[0].finish_reason),
    [null, null, "stop"],
  );
  // The usage-only chunk of include_usage is folded into the final one.
  assert.deepEqual(chunks[2].usage, { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
  assert.equal(chunks[2].hearth, undefined, "the server reported the usage: nothing was counted");

  assert.equal(completion.object, "chat.completion");
  assert.equal(completion.choices[0].message.content, "Hello world");
  assert.equal(completion.usage.total_tokens, 7);
  assert.equal(textChunks.at(-1).choices[0].finish_reason, "stop");
  assert.equal(textChunks.map((c) => c.choices[0].text).join(""), "Hello world");
  assert.equal(text.object, "text_completion");

  const posts = received.filter((r) => r.method === "POST");
  assert.deepEqual(
    posts.map((r) => r.endpoint),
    ["/v1/chat/completions", "/v1/chat/completions", "/v1/completions", "/v1/completions"],
  );
  const [streamed, plain] = posts;
  assert.equal(streamed.body.model, MODEL, "the connection's model is asked for");
  assert.equal(streamed.body.stream, true);
  assert.deepEqual(streamed.body.stream_options, { include_usage: true });
  assert.equal(streamed.body.frequency_penalty, 0.5, "fields hearth does not know pass through");
  assert.equal(streamed.headers.accept, "text/event-stream");
  assert.equal(plain.body.stream, false);
  assert.equal(plain.body.max_tokens, 4);
  assert.ok(!("signal" in plain.body) && !("stream_options" in plain.body));
});

test("the API key goes to the server only, in memory only", async () => {
  received.length = 0;
  browserRequests.length = 0;
  const result = await page.evaluate(
    async ({ baseURL, model, apiKey }) => {
      const { Engine } = await import("./js/index.js");
      const without = await window.attempt(() => Engine.connect({ baseURL, model }));
      const engine = await Engine.connect({ baseURL, model, apiKey, headers: { "X-Trace": "t1" } });
      const completion = await engine.chat.completions.create({ messages: [{ role: "user", content: "hi" }] });
      const storage = JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage });
      return {
        without,
        content: completion.choices[0].message.content,
        storage,
        visible: JSON.stringify(engine) + JSON.stringify(engine.backend),
      };
    },
    { baseURL: base("auth"), model: MODEL, apiKey: API_KEY },
  );
  assert.equal(result.without.code, "unauthorized");
  assert.equal(result.without.status, 401);
  assert.match(result.without.message, /Check the API key.*Invalid API key/s);
  assert.equal(result.content, "Hello world");
  assert.ok(!result.storage.includes(API_KEY), "the API key was written to storage");
  assert.ok(!result.visible.includes(API_KEY), "the API key is visible on the engine");
  const authorized = received.filter((r) => r.headers.authorization === `Bearer ${API_KEY}`);
  assert.ok(authorized.length >= 2, "the key was not sent");
  assert.ok(
    authorized.every((r) => r.headers["x-trace"] === "t1"),
    "the extra headers were not sent",
  );
  const foreign = browserRequests.filter((url) => !url.startsWith(scripted.url) && !url.startsWith(harness.baseUrl));
  assert.deepEqual(foreign, [], "requests left the configured origin");
});

test("HTTP errors are typed: 429 with retryAfter, 404 model, 400, 500, a redirect", async () => {
  const errors = await page.evaluate(async (urls) => {
    const { Engine } = await import("./js/index.js");
    const ask = async (baseURL, stream) => {
      const engine = await Engine.connect({ baseURL, model: "test-model" });
      return window.attempt(async () => {
        const reply = await engine.chat.completions.create({ messages: [{ role: "user", content: "hi" }], stream });
        if (stream) await window.collect(reply);
      });
    };
    return {
      limited: await ask(urls.limited, true),
      limitedPlain: await ask(urls.limited, false),
      missing: await ask(urls.nolist, false),
      invalid: await ask(urls.invalid, false),
      boom: await ask(urls.boom, true),
      redirect: await window.attempt(() => Engine.connect({ baseURL: urls.redirect, model: "test-model" })),
    };
  }, Object.fromEntries(["limited", "nolist", "invalid", "boom", "redirect"].map((s) => [s, base(s)])));
  for (const limited of [errors.limited, errors.limitedPlain]) {
    assert.equal(limited.code, "rate_limited");
    assert.equal(limited.status, 429);
    assert.equal(limited.retryAfter, 7);
    assert.match(limited.message, /Try again later.*Rate limit reached; retry after 7 s/s);
  }
  assert.equal(errors.missing.code, "not_found");
  assert.match(errors.missing.message, /does not exist/);
  assert.equal(errors.invalid.code, "invalid_request");
  assert.match(errors.invalid.message, /exceed context window/);
  assert.equal(errors.boom.code, "http");
  assert.equal(errors.boom.status, 500);
  assert.match(errors.boom.message, /internal server error/);
  assert.equal(errors.redirect.code, "http");
  assert.match(errors.redirect.message, /redirected elsewhere/);
  assert.equal(stolen, 0, "a redirect was followed to another origin");
});

test("protocol errors: a stream cut in the middle, an early end, bad JSON, an error event, HTML", async () => {
  const errors = await page.evaluate(async (urls) => {
    const { Engine } = await import("./js/index.js");
    const out = {};
    for (const [name, baseURL] of Object.entries(urls)) {
      const engine = await Engine.connect({ baseURL, model: "test-model" });
      const seen = [];
      const stream = name !== "html";
      const error = await window.attempt(async () => {
        const reply = await engine.chat.completions.create({ messages: [{ role: "user", content: "hi" }], stream });
        if (stream) for await (const chunk of reply) seen.push(chunk.choices[0].delta.content ?? "");
      });
      out[name] = { ...error, seen };
    }
    return out;
  }, Object.fromEntries(["cut", "early", "badjson", "errorevent", "html"].map((s) => [s, base(s)])));
  for (const name of ["cut", "early", "badjson"]) {
    assert.equal(errors[name].code, "protocol", `${name}: ${errors[name].message}`);
    assert.deepEqual(errors[name].seen.slice(0, 1), ["Hel"], `${name}: the chunks before the failure arrive`);
  }
  assert.match(errors.cut.message, /was cut|ended before the answer did/);
  assert.match(errors.early.message, /ended before the answer did/);
  assert.match(errors.badjson.message, /not JSON/);
  assert.equal(errors.errorevent.code, "http");
  assert.equal(errors.errorevent.status, 500);
  assert.match(errors.errorevent.message, /the model crashed/);
  assert.equal(errors.html.code, "protocol");
  assert.match(errors.html.message, /not JSON/);
});

test("a server that is not running gives a network error", async () => {
  const port = await closedPort();
  const error = await page.evaluate(async (baseURL) => {
    const { Engine } = await import("./js/index.js");
    return window.attempt(() => Engine.connect({ baseURL, model: "test-model" }));
  }, `http://127.0.0.1:${port}/v1`);
  assert.equal(error.code, "network");
  assert.match(error.message, /The server could not be reached/);
});

test("abort: a stream ends with finish_reason 'abort' and its connection closes; unload ends requests", async () => {
  slowClosedEarly = 0;
  const result = await page.evaluate(async (baseURL) => {
    const { Engine } = await import("./js/index.js");
    const engine = await Engine.connect({ baseURL, model: "test-model" });
    const messages = [{ role: "user", content: "a long answer" }];
    const controller = new AbortController();
    // The second argument, as in OpenAI's client.
    const stream = await engine.chat.completions.create({ messages, stream: true }, { signal: controller.signal });
    let texts = 0;
    let afterAbort = 0;
    let final = null;
    let abortedAt = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0].finish_reason) {
        final = chunk;
        break;
      }
      if (abortedAt) afterAbort += 1;
      texts += 1;
      if (texts === 3) {
        abortedAt = performance.now();
        controller.abort();
      }
    }
    const stopMs = performance.now() - abortedAt;
    // A non-streamed request aborted before its answer resolves with finish_reason "abort".
    const plainController = new AbortController();
    const pending = engine.chat.completions.create({ messages, signal: plainController.signal });
    setTimeout(() => plainController.abort(), 100);
    const plain = await pending;
    // Leaving the loop early aborts as well.
    const left = await engine.chat.completions.create({ messages, stream: true });
    for await (const chunk of left) if (chunk.choices[0].delta.content) break;
    // unload() ends what is in flight.
    const inFlight = await engine.chat.completions.create({ messages, stream: true });
    const unloaded = window.attempt(() => window.collect(inFlight));
    await engine.unload();
    const later = await window.attempt(() => engine.chat.completions.create({ messages }));
    return { final, afterAbort, stopMs, plain, unloaded: await unloaded, later };
  }, base("slow"));
  assert.equal(result.final.choices[0].finish_reason, "abort");
  assert.equal(result.afterAbort, 0);
  assert.ok(result.stopMs < 1000, `abort took ${result.stopMs} ms`);
  assert.deepEqual(result.final.usage, { prompt_tokens: 0, completion_tokens: 3, total_tokens: 3 });
  assert.deepEqual(result.final.hearth, { usage: "counted" });
  assert.equal(result.plain.choices[0].finish_reason, "abort");
  assert.equal(result.plain.object, "chat.completion");
  assert.equal(result.unloaded.code, "unloaded");
  assert.equal(result.later.code, "unloaded");
  // Each of the four slow streams was closed by the client before its end.
  const deadline = Date.now() + 5000;
  while (slowClosedEarly < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(slowClosedEarly, 4, "the server kept streaming to a client that had stopped");
});

test("on a page without WebGPU the default backend runs on the CPU; WebGPU asked for answers through the fallback, or fails without one", async () => {
  const noGpu = await harness.openPage("bench.html", (p) => p.addInitScript(NO_WEBGPU));
  try {
    const result = await noGpu.evaluate(
      async ({ modelUrl, baseURL, model }) => {
        const { Engine } = await import("./js/index.js");
        const local = await Engine.load(modelUrl, { fallback: { baseURL, model } });
        const localKind = local.backend.kind;
        await local.unload();
        const engine = await Engine.load(modelUrl, { backend: "webgpu", fallback: { baseURL, model } });
        const completion = await engine.chat.completions.create({ messages: [{ role: "user", content: "hi" }] });
        let plain;
        try {
          await Engine.load(modelUrl, { backend: "webgpu" });
        } catch (error) {
          plain = error.code;
        }
        return {
          localKind,
          kind: engine.backend.kind,
          reason: engine.backend.reason?.code,
          content: completion.choices[0].message.content,
          plain,
        };
      },
      { modelUrl: MODEL_URL_PATH, baseURL: base("ok"), model: MODEL },
    );
    assert.deepEqual(result, { localKind: "cpu", kind: "remote", reason: "no_webgpu", content: "Hello world", plain: "no_webgpu" });
  } finally {
    await noGpu.close();
  }
});

test("Engine.load turns to its fallback before downloading a model larger than the device's memory", async () => {
  const small = await harness.openPage("bench.html", (p) =>
    p.addInitScript(() => Object.defineProperty(Navigator.prototype, "deviceMemory", { get: () => 0.0625 })),
  );
  browserRequests.length = 0;
  try {
    const result = await small.evaluate(
      async ({ modelUrl, baseURL, model }) => {
        const { Engine } = await import("./js/index.js");
        const source = { url: modelUrl, size: 98362432, cache: false };
        const engine = await Engine.load(source, { fallback: { baseURL, model } });
        return { kind: engine.backend.kind, reason: engine.backend.reason?.code, message: engine.backend.reason?.message };
      },
      { modelUrl: MODEL_URL_PATH, baseURL: base("ok"), model: MODEL },
    );
    assert.equal(result.kind, "remote");
    assert.equal(result.reason, "does_not_fit", result.message);
    assert.deepEqual(
      browserRequests.filter((url) => url.endsWith(".gguf")),
      [],
      "the model was requested",
    );
  } finally {
    await small.close();
  }
});

test("a local load that fails because the engine cannot run the model turns to the fallback; a broken file does not", async () => {
  const result = await page.evaluate(
    async ({ baseURL, model }) => {
      const { Engine } = await import("./js/index.js");
      // The header of a GGUF file whose architecture the engine does not run.
      const encoder = new TextEncoder();
      const parts = [encoder.encode("GGUF")];
      const u32 = (value) => parts.push(new Uint8Array(new Uint32Array([value]).buffer));
      const u64 = (value) => parts.push(new Uint8Array(new BigUint64Array([BigInt(value)]).buffer));
      const string = (text) => {
        const bytes = encoder.encode(text);
        u64(bytes.length);
        parts.push(bytes);
      };
      u32(3); // version
      u64(0); // tensors
      u64(1); // metadata entries
      string("general.architecture");
      u32(8); // string
      string("mamba");
      const unsupported = new Blob(parts);
      const fallback = { baseURL, model };
      const engine = await Engine.load(unsupported, { fallback });
      let broken;
      try {
        await Engine.load(new Blob(["<!doctype html>".padEnd(4096, " ")]), { fallback });
      } catch (error) {
        broken = error.code;
      }
      return { kind: engine.backend.kind, reason: engine.backend.reason?.code, broken };
    },
    { baseURL: base("ok"), model: MODEL },
  );
  assert.deepEqual(result, { kind: "remote", reason: "unsupported_architecture", broken: "bad_magic" });
});

test("the chat page without WebGPU runs models on the CPU; with WebGPU chosen it answers through the server set in Settings, and stores the key only when asked", async () => {
  const chat = await harness.openPage("index.html", (p) => p.addInitScript(NO_WEBGPU));
  try {
    await chat.waitForFunction(() => document.querySelector("#model-status").textContent.includes("No WebGPU here"));
    assert.match(await chat.locator("#model-status").textContent(), /models run on the CPU/);
    assert.ok(await chat.locator("#error").isHidden(), "no WebGPU is not an error when the CPU can run models");
    assert.ok(await chat.locator("#load-button").isEnabled());
    await chat.evaluate(() => (document.querySelector("#settings").open = true));
    await chat.locator("#backend").selectOption("webgpu");
    await chat.locator("#error").waitFor({ state: "visible" });
    assert.match(await chat.locator("#error").textContent(), /WebGPU is not available in this browser/);
    assert.ok(await chat.locator("#load-button").isDisabled(), "WebGPU chosen, none there and no server: nothing can load");
    await chat.locator("#server-url").fill(base("auth"));
    await chat.locator("#server-model").fill(MODEL);
    await chat.locator("#server-key").fill(API_KEY);
    assert.ok(await chat.locator("#load-button").isEnabled(), "a server is set: loading falls back to it");
    assert.ok(await chat.locator("#error").isHidden(), "the no-WebGPU error stays although a server can answer");
    assert.ok(
      !(await chat.evaluate(() => JSON.stringify({ ...localStorage }))).includes(API_KEY),
      "the key was stored without being asked",
    );
    await chat.locator("#load-button").click();
    await chat.waitForFunction(() => document.querySelector("#model-status").dataset.backend === "remote");
    const status = await chat.locator("#model-status").textContent();
    assert.ok(status.includes(`answered by the server ${base("auth")}`), status);
    await chat.locator("#prompt").fill("hi");
    await chat.locator("#send").click();
    await chat.waitForFunction(() => document.querySelector("#conversation li.assistant:last-child")?.dataset.state === "done");
    assert.equal((await chat.locator("#conversation li.assistant .body").last().textContent()).trim(), "Hello world");

    await chat.evaluate(() => (document.querySelector("#settings").open = true));
    await chat.locator("#server-remember").check();
    assert.equal(await chat.evaluate(() => localStorage.getItem("hearth.server.apiKey")), API_KEY);
    await chat.locator("#server-remember").uncheck();
    assert.equal(await chat.evaluate(() => localStorage.getItem("hearth.server.apiKey")), null);
    // The base URL and the model are kept for the next visit (the key is not).
    await chat.reload();
    assert.equal(await chat.locator("#server-url").inputValue(), base("auth"));
    assert.equal(await chat.locator("#server-model").inputValue(), MODEL);
    assert.equal(await chat.locator("#server-key").inputValue(), "");
  } finally {
    await chat.close();
  }
});
