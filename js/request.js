// Validation of OpenAI-style completion requests, shared by the local engine (index.js) and
// the remote one (remote.js), so that both reject the same requests with the same errors.

import { HearthError } from "./errors.js";

const ROLES = new Set(["system", "user", "assistant"]);

export function invalid(detail) {
  return new HearthError("invalid_request", detail);
}

function checkNumber(request, key, min, max) {
  const value = request[key];
  if (value === undefined || value === null) return undefined;
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

/**
 * Validates an OpenAI-style request and returns the object the Rust engine deserializes
 * (`GenerateRequest`): snake_case fields, absent options left out.
 */
export function toEngineRequest(request, kind) {
  if (!request || typeof request !== "object") throw invalid("the request must be an object");
  const out = {};
  if (kind === "chat") {
    const { messages } = request;
    if (!Array.isArray(messages) || messages.length === 0) throw invalid("messages must be a non-empty array");
    out.messages = messages.map((message, index) => {
      if (!message || !ROLES.has(message.role)) {
        throw invalid(`messages[${index}].role must be "system", "user" or "assistant"`);
      }
      if (typeof message.content !== "string") throw invalid(`messages[${index}].content must be a string`);
      return { role: message.role, content: message.content };
    });
  } else {
    if (typeof request.prompt !== "string") throw invalid("prompt must be a string");
    out.prompt = request.prompt;
  }
  if (request.n !== undefined && request.n !== 1) throw invalid("only n = 1 is supported");
  const temperature = checkNumber(request, "temperature", 0, 2);
  const top_p = checkNumber(request, "top_p", 0, 1);
  const top_k = checkInteger(request, "top_k", 0, 2 ** 31 - 1);
  const min_p = checkNumber(request, "min_p", 0, 1);
  const repetition_penalty = checkNumber(request, "repetition_penalty", 0.01, 100);
  const max_tokens = checkInteger(request, "max_tokens", 1, 2 ** 31 - 1);
  const seed = checkInteger(request, "seed", 0, Number.MAX_SAFE_INTEGER);
  Object.assign(
    out,
    Object.fromEntries(
      Object.entries({ temperature, top_p, top_k, min_p, repetition_penalty, max_tokens, seed }).filter(
        ([, value]) => value !== undefined,
      ),
    ),
  );
  const stop = request.stop ?? [];
  const stops = typeof stop === "string" ? [stop] : stop;
  if (!Array.isArray(stops) || !stops.every((s) => typeof s === "string" && s.length > 0)) {
    throw invalid("stop must be a non-empty string or an array of them");
  }
  out.stop = stops;
  // Non-standard: keep generating past end-of-sequence tokens (for benchmarks).
  if (request.ignore_eos !== undefined) {
    if (typeof request.ignore_eos !== "boolean") throw invalid("ignore_eos must be a boolean");
    out.ignore_eos = request.ignore_eos;
  }
  if (request.stream !== undefined && typeof request.stream !== "boolean") throw invalid("stream must be a boolean");
  return out;
}
