// Validation of OpenAI-style completion requests, shared by the local engine (index.js) and
// the remote one (remote.js), so that both reject the same requests with the same errors:
// the request's fields, and the chat messages converted into what the engine renders with
// the model's chat template (`{ role, content, tool_calls?, tool_call_id? }`, string content).
//
// Code written against OpenAI's client either runs unchanged or fails loudly: every field
// is on an allow-list (OpenAI's fields hearth implements, and hearth's own extensions);
// any other field is an `invalid_request` error that names it, never silently dropped.

import { HearthError } from "./errors.js";

export function invalid(detail) {
  return new HearthError("invalid_request", detail);
}

/**
 * The roles hearth accepts, each with the fields its messages may carry besides `role` and
 * `content`. `developer` is OpenAI's newer name for `system` and renders as one; `tool`
 * (a tool's result) renders as role "tool", which templates such as Qwen's handle.
 */
const ROLES = {
  system: [],
  developer: [],
  user: [],
  assistant: ["tool_calls"],
  tool: ["tool_call_id"],
};

/** Message fields of OpenAI's API that hearth does not take, with what to use instead. */
const MESSAGE_FIELDS_REPLACED = { function_call: "tool_calls" };

/** How several text parts of one message join: as vLLM joins them. */
const PART_SEPARATOR = "\n";

/**
 * Checks `messages` and returns them as the engine takes them: `developer` becomes
 * `system`, content parts become one string. Every field hearth does not use is an
 * `invalid_request` that names it.
 * @returns {{ role: string, content: string, tool_calls?: object[], tool_call_id?: string }[]}
 */
function toEngineMessages(messages) {
  if (!Array.isArray(messages) || messages.length === 0) throw invalid("messages must be a non-empty array");
  return messages.map((message, index) => toEngineMessage(message, `messages[${index}]`));
}

function toEngineMessage(message, where) {
  if (!message || typeof message !== "object" || Array.isArray(message)) throw invalid(`${where} must be an object`);
  if (!Object.hasOwn(ROLES, message.role)) {
    const roles = Object.keys(ROLES).map((role) => `"${role}"`);
    throw invalid(`${where}.role must be one of ${roles.join(", ")}, got ${JSON.stringify(message.role)}`);
  }
  const extra = ROLES[message.role];
  for (const [key, value] of Object.entries(message)) {
    if (key === "role" || key === "content" || value === undefined || value === null) continue;
    if (extra.includes(key)) continue;
    if (Object.hasOwn(MESSAGE_FIELDS_REPLACED, key)) {
      throw invalid(`${where}.${key} is not supported: use ${MESSAGE_FIELDS_REPLACED[key]}`);
    }
    throw invalid(`${where}.${key} is not supported in a "${message.role}" message`);
  }
  const out = { role: message.role === "developer" ? "system" : message.role };
  if (message.role === "tool") {
    if (typeof message.tool_call_id !== "string" || message.tool_call_id === "") {
      throw invalid(`${where}.tool_call_id must be the id of the tool call this message answers`);
    }
    out.tool_call_id = message.tool_call_id;
  }
  const toolCalls = isSet(message.tool_calls) ? checkToolCalls(message.tool_calls, `${where}.tool_calls`) : [];
  // OpenAI's assistant message that only calls tools has no content.
  const noContent = toolCalls.length > 0 && !isSet(message.content);
  out.content = noContent ? "" : contentText(message.content, `${where}.content`);
  if (toolCalls.length > 0) out.tool_calls = toolCalls;
  return out;
}

/** An assistant message's `tool_calls`: `[{ id, type: "function", function: { name, arguments } }]`. */
function checkToolCalls(calls, where) {
  if (!Array.isArray(calls)) throw invalid(`${where} must be an array`);
  return calls.map((call, index) => {
    const at = `${where}[${index}]`;
    if (!call || typeof call !== "object") throw invalid(`${at} must be an object`);
    if (typeof call.id !== "string") throw invalid(`${at}.id must be a string`);
    if (isSet(call.type) && call.type !== "function") throw invalid(`${at}.type must be "function"`);
    const fn = call.function;
    if (!fn || typeof fn.name !== "string" || typeof fn.arguments !== "string") {
      throw invalid(`${at}.function must be { name: string, arguments: string (JSON) }`);
    }
    return { id: call.id, type: "function", function: { name: fn.name, arguments: fn.arguments } };
  });
}

/**
 * `response_format`: `{ type: "text" }`, `{ type: "json_object" }` or `{ type: "json_schema",
 * json_schema: { name, description?, schema?, strict? } }`. The schema itself is checked by
 * the engine when it compiles it.
 */
function checkResponseFormat(format) {
  if (!isSet(format)) return undefined;
  const shape = 'response_format must be { type: "text" | "json_object" } or { type: "json_schema", json_schema: { name, schema } }';
  if (typeof format !== "object" || Array.isArray(format)) throw invalid(shape);
  const allowed = { text: ["type"], json_object: ["type"], json_schema: ["type", "json_schema"] }[format.type];
  if (!allowed) throw invalid(`${shape}, got type ${JSON.stringify(format.type)}`);
  for (const key of Object.keys(format)) {
    if (!allowed.includes(key) && isSet(format[key])) throw invalid(`response_format.${key} is not supported`);
  }
  if (format.type !== "json_schema") return { type: format.type };
  const spec = format.json_schema;
  if (!spec || typeof spec !== "object" || typeof spec.name !== "string" || spec.name === "") {
    throw invalid("response_format.json_schema needs a name");
  }
  for (const key of Object.keys(spec)) {
    if (!["name", "description", "schema", "strict"].includes(key) && isSet(spec[key])) {
      throw invalid(`response_format.json_schema.${key} is not supported`);
    }
  }
  if (isSet(spec.schema) && (typeof spec.schema !== "object" || Array.isArray(spec.schema))) {
    throw invalid("response_format.json_schema.schema must be a JSON schema object");
  }
  if (isSet(spec.strict) && typeof spec.strict !== "boolean") throw invalid("response_format.json_schema.strict must be a boolean");
  const json_schema = { name: spec.name };
  for (const key of ["description", "schema", "strict"]) if (isSet(spec[key])) json_schema[key] = spec[key];
  return { type: "json_schema", json_schema };
}

/** `tools`: OpenAI's function tools, passed to the chat template as they are. */
function checkTools(tools) {
  if (!isSet(tools)) return undefined;
  if (!Array.isArray(tools)) throw invalid("tools must be an array of { type: \"function\", function: { name, ... } }");
  for (const [index, tool] of tools.entries()) {
    const at = `tools[${index}]`;
    if (!tool || typeof tool !== "object" || tool.type !== "function") {
      throw invalid(`${at} must be { type: "function", function: { name, description, parameters } }`);
    }
    const fn = tool.function;
    if (!fn || typeof fn.name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(fn.name)) {
      throw invalid(`${at}.function.name must be 1 to 64 letters, digits, _ or -`);
    }
    if (isSet(fn.parameters) && (typeof fn.parameters !== "object" || Array.isArray(fn.parameters))) {
      throw invalid(`${at}.function.parameters must be a JSON schema object`);
    }
  }
  return tools.length > 0 ? tools : undefined;
}

/** `tool_choice`: "auto", "none", "required", or `{ type: "function", function: { name } }`. */
function checkToolChoice(choice, tools) {
  if (!isSet(choice)) return undefined;
  if (choice === "auto" || choice === "none") return choice;
  if (!tools) throw invalid(`tool_choice ${JSON.stringify(choice)} needs tools`);
  if (choice === "required") return choice;
  const name = choice?.function?.name;
  if (choice?.type !== "function" || typeof name !== "string") {
    throw invalid('tool_choice must be "auto", "none", "required" or { type: "function", function: { name } }');
  }
  if (!tools.some((tool) => tool.function.name === name)) {
    throw invalid(`tool_choice names ${JSON.stringify(name)}, which is not among tools`);
  }
  return { type: "function", function: { name } };
}

/** A message's content: a string, or an array of text parts `{ type: "text", text }`. */
function contentText(content, where) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) {
    const got = content === null ? "null" : typeof content;
    throw invalid(`${where} must be a string or an array of text parts, got ${got}`);
  }
  if (content.length === 0) throw invalid(`${where} is an empty array: give at least one text part`);
  return content
    .map((part, index) => {
      const at = `${where}[${index}]`;
      if (!part || typeof part !== "object") throw invalid(`${at} must be an object { type: "text", text }`);
      if (part.type !== "text") {
        throw invalid(`${at} has type ${JSON.stringify(part.type)}, which is not supported: only "text" parts are`);
      }
      if (typeof part.text !== "string") throw invalid(`${at}.text must be a string`);
      for (const key of Object.keys(part)) {
        if (key !== "type" && key !== "text" && part[key] !== undefined) throw invalid(`${at}.${key} is not supported`);
      }
      return part.text;
    })
    .join(PART_SEPARATOR);
}

/** OpenAI's request fields that hearth implements, per endpoint. */
const OPENAI_FIELDS = {
  chat: [
    "messages",
    "model",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
  ],
  text: [
    "prompt",
    "model",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "n",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
  ],
};

/** hearth's extensions: more sampling controls, benchmarks, and the abort signal. */
const HEARTH_FIELDS = ["top_k", "min_p", "repetition_penalty", "ignore_eos", "signal"];


/** OpenAI's limits: `top_logprobs` of chat completions, `logprobs` of text completions. */
const MAX_TOP_LOGPROBS = { chat: 20, text: 5 };

const isSet = (value) => value !== undefined && value !== null;

function checkNumber(request, key, min, max) {
  const value = request[key];
  if (!isSet(value)) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(`${key} must be a number between ${min} and ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkInteger(request, key, min, max) {
  const value = checkNumber(request, key, min, max);
  if (value !== undefined && !Number.isInteger(value)) throw invalid(`${key} must be an integer, got ${value}`);
  return value;
}

function checkBoolean(request, key) {
  const value = request[key];
  if (isSet(value) && typeof value !== "boolean") throw invalid(`${key} must be a boolean`);
  return isSet(value) ? value : undefined;
}

/** Rejects, by name, every field that is neither OpenAI's and implemented nor hearth's. */
function checkFields(request, kind) {
  const allowed = new Set([...OPENAI_FIELDS[kind], ...HEARTH_FIELDS]);
  for (const [key, value] of Object.entries(request)) {
    // null is how JSON says "not set".
    if (allowed.has(key) || !isSet(value)) continue;
    const endpoint = kind === "chat" ? "chat.completions" : "completions";
    throw invalid(`${key} is not supported by hearth's ${endpoint}; it takes: ${[...allowed].join(", ")}`);
  }
}

/** `prompt` of a text completion: a string, or token ids used as they are. */
function checkPrompt(prompt) {
  if (typeof prompt === "string") return { prompt };
  const isTokenId = (id) => Number.isInteger(id) && id >= 0 && id < 2 ** 32;
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(isTokenId)) {
    return { prompt_tokens: prompt };
  }
  if (Array.isArray(prompt) && prompt.some((item) => typeof item === "string" || Array.isArray(item))) {
    throw invalid("prompt holds several prompts: hearth answers one prompt per request");
  }
  throw invalid("prompt must be a string or a non-empty array of token ids");
}

/** OpenAI's `logit_bias`: `{ "token id": bias in [-100, 100] }`. */
function checkLogitBias(bias) {
  if (!isSet(bias)) return undefined;
  if (typeof bias !== "object" || Array.isArray(bias)) {
    throw invalid('logit_bias must be an object mapping token ids to biases, e.g. { "50256": -100 }');
  }
  for (const [token, value] of Object.entries(bias)) {
    if (!/^\d+$/.test(token) || Number(token) >= 2 ** 32) {
      throw invalid(`logit_bias key ${JSON.stringify(token)} is not a token id`);
    }
    if (typeof value !== "number" || !Number.isFinite(value) || value < -100 || value > 100) {
      throw invalid(`logit_bias of token ${token} must be a number between -100 and 100, got ${JSON.stringify(value)}`);
    }
  }
  return { ...bias };
}

/**
 * How many alternatives each token's log-probabilities list, or undefined for none. Chat:
 * `logprobs: true` with `top_logprobs` (0-20); text completions: `logprobs` (0-5).
 */
function checkLogprobs(request, kind) {
  const max = MAX_TOP_LOGPROBS[kind];
  if (kind === "text") return checkInteger(request, "logprobs", 0, max);
  const wanted = checkBoolean(request, "logprobs");
  const top = checkInteger(request, "top_logprobs", 0, max);
  if (top !== undefined && !wanted) throw invalid("top_logprobs needs logprobs: true");
  return wanted ? (top ?? 0) : undefined;
}

/** `max_tokens`, or its newer name `max_completion_tokens` (chat). */
function checkMaxTokens(request) {
  const max_tokens = checkInteger(request, "max_tokens", 1, 2 ** 31 - 1);
  const completion = checkInteger(request, "max_completion_tokens", 1, 2 ** 31 - 1);
  if (max_tokens !== undefined && completion !== undefined && max_tokens !== completion) {
    throw invalid(`max_tokens (${max_tokens}) and max_completion_tokens (${completion}) disagree: give one`);
  }
  return max_tokens ?? completion;
}

function checkStream(request) {
  const stream = checkBoolean(request, "stream") ?? false;
  const options = request.stream_options;
  if (!isSet(options)) return;
  if (!stream) throw invalid("stream_options needs stream: true");
  if (typeof options !== "object" || Array.isArray(options)) throw invalid("stream_options must be an object");
  for (const [key, value] of Object.entries(options)) {
    if (key !== "include_usage" && isSet(value)) throw invalid(`stream_options.${key} is not supported`);
  }
  checkBoolean(options, "include_usage");
}

/**
 * Validates an OpenAI-style request and returns the object the Rust engine deserializes
 * (`GenerateRequest`): snake_case fields, absent options left out.
 */
export function toEngineRequest(request, kind) {
  if (!request || typeof request !== "object") throw invalid("the request must be an object");
  checkFields(request, kind);
  const out = kind === "chat" ? { messages: toEngineMessages(request.messages) } : checkPrompt(request.prompt);
  if (isSet(request.model) && typeof request.model !== "string") throw invalid("model must be a string");
  if (isSet(request.n) && request.n !== 1) {
    throw invalid(`n = ${JSON.stringify(request.n)}: hearth generates one choice per request, so n must be 1`);
  }
  checkStream(request);
  const fields = {
    temperature: checkNumber(request, "temperature", 0, 2),
    top_p: checkNumber(request, "top_p", 0, 1),
    top_k: checkInteger(request, "top_k", 0, 2 ** 31 - 1),
    min_p: checkNumber(request, "min_p", 0, 1),
    repetition_penalty: checkNumber(request, "repetition_penalty", 0.01, 100),
    frequency_penalty: checkNumber(request, "frequency_penalty", -2, 2),
    presence_penalty: checkNumber(request, "presence_penalty", -2, 2),
    logit_bias: checkLogitBias(request.logit_bias),
    logprobs: checkLogprobs(request, kind),
    max_tokens: checkMaxTokens(request),
    seed: checkInteger(request, "seed", 0, Number.MAX_SAFE_INTEGER),
    // Non-standard: keep generating past end-of-sequence tokens (for benchmarks).
    ignore_eos: checkBoolean(request, "ignore_eos"),
  };
  if (kind === "chat") {
    fields.response_format = checkResponseFormat(request.response_format);
    fields.tools = checkTools(request.tools);
    fields.tool_choice = checkToolChoice(request.tool_choice, fields.tools);
    checkBoolean(request, "parallel_tool_calls");
  }
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  const stop = request.stop ?? [];
  const stops = typeof stop === "string" ? [stop] : stop;
  if (!Array.isArray(stops) || !stops.every((s) => typeof s === "string" && s.length > 0)) {
    throw invalid("stop must be a non-empty string or an array of them");
  }
  out.stop = stops;
  return out;
}
