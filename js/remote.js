// The same chat.completions API against an existing OpenAI-compatible server (llama.cpp's
// server, vLLM, Ollama, OpenAI): `Engine.connect(options)` and the `fallback` of
// `Engine.load` end here. index.js imports this module only when it is needed, so a page
// that runs models locally never loads it (nor its server-sent-events parser).
//
// What it guarantees, whatever the server:
//   - requests go only to the origin of `baseURL` (redirects are refused, never followed);
//   - the API key lives in this object's memory only, sent as `Authorization: Bearer`;
//   - requests are validated as the local engine validates them (same typed errors);
//   - a stream yields the server's chunks, and its last chunk carries `finish_reason` and
//     `usage` as the local engine's does (the usage-only chunk that OpenAI's
//     `stream_options.include_usage` adds is folded into it);
//   - aborting (the signal, `stream.abort()`, leaving the loop) ends the reply with
//     finish_reason "abort", as locally;
//   - failures are `HearthError`s: network, unauthorized (401/403), not_found (404, or a
//     model the server does not list), rate_limited (429, with `retryAfter`),
//     invalid_request (400/422), http (any other status), protocol (bad JSON, a stream cut
//     before its end).

import { createParser } from "eventsource-parser";
import { ChunkStream } from "./stream.js";
import { HearthError, SERVER_ADVICE, abortError } from "./errors.js";
import { invalid, toEngineRequest } from "./request.js";

/** How much of an error body is kept in a message. */
const MAX_ERROR_TEXT = 300;

/**
 * Checks and normalizes the options of `Engine.connect` (and of `fallback`).
 * @returns {{ baseURL: string, origin: string, model: string, apiKey: string | null, headers: Headers }}
 */
export function remoteConfig(options) {
  if (!options || typeof options !== "object") throw invalid("the server options must be an object");
  let url;
  try {
    url = new URL(String(options.baseURL ?? ""));
  } catch {
    throw invalid(`baseURL must be an absolute http(s) URL, got ${JSON.stringify(options.baseURL)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(`baseURL must be an http(s) URL, got ${url.protocol}`);
  }
  if (url.username || url.password) throw invalid("baseURL must not hold credentials: pass apiKey instead");
  if (url.search || url.hash) throw invalid("baseURL must not have a query or a fragment");
  if (typeof options.model !== "string" || options.model.trim() === "") {
    throw invalid("model must be the non-empty name of a model the server serves");
  }
  if (options.apiKey !== undefined && options.apiKey !== null && typeof options.apiKey !== "string") {
    throw invalid("apiKey must be a string");
  }
  let headers;
  try {
    headers = new Headers(options.headers ?? {});
  } catch (error) {
    throw invalid(`headers: ${error.message}`);
  }
  return {
    // "http://host:8080/v1/" and "http://host:8080/v1" name the same API root.
    baseURL: url.href.replace(/\/+$/, ""),
    origin: url.origin,
    model: options.model.trim(),
    apiKey: options.apiKey || null,
    headers,
  };
}

/**
 * Connects to the server: checks the options, and that the server lists the model when it
 * lists models at all (llama.cpp's servers answer any model name with their own model, so
 * this is where a wrong name is caught).
 * @param {object} options  { baseURL, model, apiKey?, headers? }
 * @param {{ signal?: AbortSignal, reason?: Error }} [extra]  reason: why the local engine
 *   was not used (Engine.load's fallback)
 */
export async function connect(options, { signal, reason } = {}) {
  const config = remoteConfig(options);
  if (signal?.aborted) throw abortError(signal);
  const models = await listModels(config, signal);
  if (models && !models.some((entry) => entry?.id === config.model)) {
    const served = models.map((entry) => entry?.id).filter((id) => typeof id === "string");
    throw new HearthError(
      "not_found",
      `${config.baseURL} does not serve the model '${config.model}'` +
        (served.length > 0 ? `; it serves: ${served.slice(0, 20).join(", ")}` : ""),
      { status: 404 },
    );
  }
  return new RemoteEngine(config, reason ?? null);
}

/** The server's model list (GET /models), or null when it has no such endpoint. */
async function listModels(config, signal) {
  let response;
  try {
    response = await send(config, "/models", { signal });
  } catch (error) {
    // No model list here (404, 405, 501): the first request will tell.
    if (error instanceof HearthError && [404, 405, 501].includes(error.status)) return null;
    throw error;
  }
  const body = await readJson(response, "/models", signal);
  return Array.isArray(body?.data) ? body.data : null;
}

/** An OpenAI-compatible server with the API of a local `Engine`. Create it with `Engine.connect`. */
export class RemoteEngine {
  #config;
  /** Requests in flight: `fail(error)` ends each one (unload). */
  #pending = new Set();
  #closed = null;

  constructor(config, reason) {
    if (!config?.headers) throw new TypeError("use Engine.connect(options) to create a RemoteEngine");
    this.#config = config;
    /** Which backend answers: `{ kind: "remote", baseURL, model, reason? }`. */
    this.backend = Object.freeze({
      kind: "remote",
      baseURL: config.baseURL,
      model: config.model,
      ...(reason ? { reason } : {}),
    });
  }

  /** OpenAI-style chat completions. */
  chat = Object.freeze({
    completions: Object.freeze({ create: (request, options) => this.#create("chat", request, options) }),
  });

  /** OpenAI-style (legacy) text completions of a raw prompt. */
  completions = Object.freeze({ create: (request, options) => this.#create("text", request, options) });

  /** Ends the requests in flight (they fail with code "unloaded"); later requests fail too. */
  async unload() {
    if (this.#closed) return;
    this.#closed = new HearthError("unloaded", "unload() was called");
    for (const request of [...this.#pending]) request.fail(this.#closed);
    this.#pending.clear();
  }

  async #create(kind, request, options) {
    toEngineRequest(request, kind);
    const signal = options?.signal ?? request.signal;
    if (signal?.aborted) throw abortError(signal);
    if (this.#closed) throw this.#closed;
    // The request goes out as the caller wrote it (fields hearth does not know included),
    // for the connection's model.
    const { signal: _signal, stream, ...fields } = request;
    const body = { ...fields, model: this.#config.model, stream: Boolean(stream) };
    const path = kind === "chat" ? "/chat/completions" : "/completions";
    if (stream) {
      body.stream_options ??= { include_usage: true };
      return this.#stream(kind, path, body, signal);
    }
    return this.#complete(kind, path, body, signal);
  }

  /** Tracks a request for unload(); returns the function that forgets it. */
  #track(fail) {
    const entry = { fail };
    this.#pending.add(entry);
    return () => this.#pending.delete(entry);
  }

  async #complete(kind, path, body, signal) {
    const controller = new AbortController();
    let unloaded = null;
    const forget = this.#track((error) => {
      unloaded = error;
      controller.abort();
    });
    const onAbort = () => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const response = await send(this.#config, path, { body, signal: controller.signal });
      const completion = await readJson(response, path, controller.signal);
      checkCompletion(completion, path);
      return completion;
    } catch (error) {
      if (unloaded) throw unloaded;
      // As locally: an aborted request resolves, with finish_reason "abort".
      if (controller.signal.aborted) return abortedCompletion(kind, this.#config.model);
      throw error;
    } finally {
      forget();
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async #stream(kind, path, body, signal) {
    const controller = new AbortController();
    const reply = new StreamReply(kind, this.#config.model, () => controller.abort());
    const forget = this.#track((error) => {
      reply.fail(error);
      controller.abort();
    });
    const onAbort = () => reply.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      forget();
      signal?.removeEventListener("abort", onAbort);
    };
    let response;
    try {
      response = await send(this.#config, path, { body, signal: controller.signal, stream: true });
    } catch (error) {
      done();
      if (reply.ended) return reply.stream;
      throw error;
    }
    reply.read(response, path).finally(done);
    return reply.stream;
  }
}

/** One streamed reply: server-sent events in, OpenAI chunks out through a ChunkStream. */
class StreamReply {
  /** Set once the stream has its end (final chunk, failure or abort). */
  ended = false;
  #kind;
  #model;
  #stopFetch;
  /** The last chunk seen: the abort chunk takes its id, created and model. */
  #last = null;
  /** The chunk with the finish_reason, held until the usage is known. */
  #final = null;
  #usage = null;
  /** Chunks with text: the usage of servers that report none in streams (one per token). */
  #counted = 0;
  #sawDone = false;

  constructor(kind, model, stopFetch) {
    this.#kind = kind;
    this.#model = model;
    this.#stopFetch = stopFetch;
    this.stream = new ChunkStream(() => this.abort());
  }

  /** Stops the reply: it ends with finish_reason "abort" (nothing more is read). */
  abort() {
    if (this.ended) return;
    this.ended = true;
    this.#stopFetch();
    const base = this.#last ?? syntheticMeta(this.#kind, this.#model);
    const choice =
      this.#kind === "chat"
        ? { index: 0, delta: {}, finish_reason: "abort", logprobs: null }
        : { index: 0, text: "", finish_reason: "abort", logprobs: null };
    this.stream.push({
      id: base.id,
      object: base.object,
      created: base.created,
      model: base.model,
      choices: [choice],
      usage: this.#countedUsage(),
      hearth: { usage: "counted" },
    });
    this.stream.end();
  }

  fail(error) {
    if (this.ended) return;
    this.ended = true;
    this.#stopFetch();
    this.stream.fail(error);
  }

  /** Reads the response's events until the end of the reply. */
  async read(response, path) {
    const where = `${response.url || path}`;
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !type.includes("text/event-stream")) {
      return this.fail(
        new HearthError("protocol", `${where} answered a stream request with ${type || "no content type"}, not events`),
      );
    }
    let failure = null;
    const parser = createParser({
      onEvent: (event) => {
        if (failure || this.#sawDone) return;
        try {
          this.#onEvent(event, where);
        } catch (error) {
          failure = error;
        }
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
        if (failure || this.#sawDone || this.ended) break;
      }
    } catch (error) {
      if (!this.ended) {
        this.fail(new HearthError("protocol", `the stream from ${where} was cut: ${error.message ?? error}`));
      }
      return;
    } finally {
      reader.cancel().catch(() => {});
    }
    if (this.ended) return;
    if (failure) return this.fail(failure);
    if (!this.#final) {
      return this.fail(
        new HearthError(
          "protocol",
          `the stream from ${where} ended before the answer did (no finish_reason${this.#sawDone ? "" : ", no [DONE]"})`,
        ),
      );
    }
    const final = this.#final;
    final.usage = this.#usage ?? this.#countedUsage();
    if (!this.#usage) final.hearth = { ...(final.hearth ?? {}), usage: "counted" };
    this.ended = true;
    this.stream.push(final);
    this.stream.end();
  }

  #onEvent(event, where) {
    if (event.data === "[DONE]") {
      this.#sawDone = true;
      return;
    }
    let chunk;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      throw new HearthError("protocol", `${where} sent an event that is not JSON: ${clip(event.data)}`);
    }
    if (event.event === "error" || chunk?.error) throw serverError(chunk, where);
    if (!chunk || typeof chunk !== "object" || !Array.isArray(chunk.choices)) {
      throw new HearthError("protocol", `${where} sent a chunk without choices: ${clip(event.data)}`);
    }
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices[0];
    // OpenAI's usage-only chunk (stream_options.include_usage) has no choices.
    if (!choice) return;
    if (!choice || typeof choice !== "object") {
      throw new HearthError("protocol", `${where} sent a malformed choice: ${clip(event.data)}`);
    }
    this.#last = chunk;
    const text = this.#kind === "chat" ? choice.delta?.content : choice.text;
    if (typeof text === "string" && text.length > 0) this.#counted += 1;
    if (this.#final) return;
    if (choice.finish_reason) {
      this.#final = chunk;
      return;
    }
    this.stream.push(chunk);
  }

  #countedUsage() {
    return { prompt_tokens: 0, completion_tokens: this.#counted, total_tokens: this.#counted };
  }
}

/**
 * One HTTP request to the server. Only URLs under `baseURL` are requested; a redirect is
 * an error (following it could leave the origin).
 */
async function send(config, path, { body, signal, stream = false } = {}) {
  const url = new URL(config.baseURL + path);
  if (url.origin !== config.origin) throw invalid(`${url.href} is outside ${config.origin}`);
  const headers = new Headers(config.headers);
  headers.set("accept", stream ? "text/event-stream" : "application/json");
  if (body !== undefined) headers.set("content-type", "application/json");
  if (config.apiKey) headers.set("authorization", `Bearer ${config.apiKey}`);
  let response;
  try {
    response = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      redirect: "manual",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw new HearthError("network", `${url.href}: ${error.message ?? error}`, { advice: SERVER_ADVICE.network });
  }
  if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
    throw new HearthError("http", `${url.href} redirected elsewhere: requests stay on ${config.origin}`, {
      status: response.status,
    });
  }
  if (!response.ok) throw await httpError(response, url.href);
  return response;
}

/** The typed error of an HTTP error status, with the server's own message. */
async function httpError(response, where) {
  const status = response.status;
  const text = await response.text().catch(() => "");
  let message = text.trim();
  try {
    const body = JSON.parse(text);
    message = errorMessage(body) ?? message;
  } catch {
    // Not JSON: keep the text.
  }
  const detail = `${where}: HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}${message ? `: ${clip(message)}` : ""}`;
  const retryAfter = status === 429 || status === 503 ? parseRetryAfter(response.headers.get("retry-after")) : undefined;
  const code =
    status === 401 || status === 403
      ? "unauthorized"
      : status === 404
        ? "not_found"
        : status === 429
          ? "rate_limited"
          : status === 400 || status === 422
            ? "invalid_request"
            : "http";
  const withWait = retryAfter !== undefined && retryAfter !== null ? `${detail}; retry after ${retryAfter} s` : detail;
  return new HearthError(code, withWait, { status, ...(retryAfter !== undefined ? { retryAfter } : {}) });
}

/** An error the server reported inside a stream (`data: {"error": ...}`). */
function serverError(chunk, where) {
  const status = Number(chunk?.error?.code);
  const message = errorMessage(chunk) ?? "unknown error";
  return new HearthError("http", `${where} reported an error mid-stream: ${clip(message)}`, {
    ...(Number.isInteger(status) && status >= 400 ? { status } : {}),
  });
}

/** The message of an error body: OpenAI's `{ error: { message } }` or FastAPI's `{ detail }`. */
function errorMessage(body) {
  const error = body?.error;
  if (typeof error === "string") return error;
  if (typeof error?.message === "string") return error.message;
  if (typeof body?.detail === "string") return body.detail;
  if (body?.detail !== undefined) return JSON.stringify(body.detail);
  if (typeof body?.message === "string") return body.message;
  return null;
}

/** Retry-After in seconds (delta-seconds or an HTTP date); null when absent or unreadable. */
function parseRetryAfter(value) {
  if (value === null || value === undefined || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

async function readJson(response, path, signal) {
  let text;
  try {
    text = await response.text();
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw new HearthError("protocol", `the answer of ${response.url || path} was cut: ${error.message ?? error}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HearthError("protocol", `${response.url || path} answered with something that is not JSON: ${clip(text)}`);
  }
}

function checkCompletion(completion, path) {
  const choice = Array.isArray(completion?.choices) ? completion.choices[0] : undefined;
  if (!choice || typeof choice !== "object") {
    throw new HearthError("protocol", `${path} answered without choices: ${clip(JSON.stringify(completion))}`);
  }
}

let abortCounter = 0;
function syntheticMeta(kind, model) {
  abortCounter += 1;
  return {
    id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-abort-${Date.now().toString(36)}${abortCounter}`,
    object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created: Math.floor(Date.now() / 1000),
    model,
  };
}

/** What a non-streamed request aborted before its answer resolves to (as locally). */
function abortedCompletion(kind, model) {
  const meta = syntheticMeta(kind, model);
  const choice =
    kind === "chat"
      ? { index: 0, message: { role: "assistant", content: "" }, finish_reason: "abort", logprobs: null }
      : { index: 0, text: "", finish_reason: "abort", logprobs: null };
  return {
    ...meta,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    choices: [choice],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}

function clip(text) {
  const value = String(text ?? "");
  return value.length > MAX_ERROR_TEXT ? `${value.slice(0, MAX_ERROR_TEXT)}…` : value;
}
