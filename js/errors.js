// Typed errors of the hearth JS API.
//
// The engine reports every failure as a stable `code` (the same strings as
// `hearth::Error::code()` in Rust, plus a few that only JS can detect) and a technical
// `detail`. Errors cross the worker boundary as plain `{ code, message }` objects and are
// rebuilt here, so callers can branch on `error.code` and show `error.message`, which says
// what the user can do about it.

/** Advice shown to the user for each code; the technical detail follows it. */
const ADVICE = {
  no_webgpu:
    "WebGPU is not available in this browser. Use Chrome or Edge 113+ (or another browser with WebGPU enabled) on a device with a supported GPU.",
  no_adapter:
    "WebGPU is present but no GPU adapter could be obtained. Check that hardware acceleration is enabled in the browser settings.",
  gpu: "The GPU reported an error.",
  gpu_lost:
    "The browser took the GPU away (a driver reset, or the tab was in the background). Send the request again: the model is reloaded on a new GPU device first.",
  does_not_fit:
    "This model does not fit in this device's memory (the GPU's, or the 4 GiB a WebAssembly instance has on the CPU backend). Pick a smaller model or a shorter context length.",
  bad_magic: "This file is not a GGUF model (bad magic). Pick a .gguf file.",
  truncated: "The model file is incomplete (truncated). Download it again.",
  unsupported_version: "This GGUF version is not supported.",
  unsupported_tensor_type:
    "This model uses a tensor type hearth does not support yet. Pick a model with another quantization.",
  malformed: "The model file is damaged or not a model.",
  missing_key: "The model file lacks required metadata.",
  wrong_type: "The model file has invalid metadata.",
  missing_tensor: "The model file lacks a required tensor.",
  shape_mismatch: "The model file has a tensor of the wrong shape.",
  unsupported_architecture: "This model architecture is not supported.",
  unsupported_feature: "This model uses a feature hearth does not run yet (the message names it). Pick another model of the family.",
  invalid_config: "The model's configuration is invalid.",
  tokenizer: "The model's tokenizer could not be used.",
  template: "The model's chat template could not be rendered.",
  invalid_request: "The request is invalid.",
  context_overflow:
    "The conversation is too long for the model's context. Start a new conversation or shorten the message.",
  io: "The model could not be read.",
  grammar: "The answer could not follow the requested format (response_format or a required tool call).",
  network: "The model could not be downloaded. Check the URL and the network connection.",
  storage_quota:
    "There is not enough storage space for this model. Free some space (delete cached models, or browsing data of other sites) or pick a smaller model.",
  checksum: "The model file failed its integrity check (sha256), so it was not used.",
  aborted: "The operation was cancelled.",
  // A remote server (Engine.connect, or Engine.load's fallback):
  http: "The server answered with an error.",
  protocol:
    "The server's answer could not be understood: it is not an OpenAI-compatible reply, or it was cut off.",
  not_found:
    "The server does not serve this model (or this API path). Check the model name and the server's base URL.",
  unauthorized: "The server refused the request. Check the API key.",
  rate_limited: "The server is busy or limits the rate of requests. Try again later.",
  unloaded: "The engine was unloaded. Load a model again.",
  worker: "The engine's worker stopped unexpectedly. Reload the model.",
  internal: "An internal error occurred in the engine.",
};

/** Advice for a code where a remote server, not a model download, was involved. */
export const SERVER_ADVICE = Object.freeze({
  network: "The server could not be reached. Check its address, that it is running, and the network connection.",
});

/** An error raised by the hearth engine or its JS API. */
export class HearthError extends Error {
  /**
   * @param {string} code    stable machine-readable code (see ADVICE)
   * @param {string} detail  technical description of what went wrong
   * @param {{ advice?: string, status?: number, retryAfter?: number | null, cause?: unknown }} [extra]
   *   advice: replaces the code's default advice; status: the HTTP status of a server's
   *   answer; retryAfter: seconds to wait before trying again (429/503), null if unknown
   */
  constructor(code, detail, extra = {}) {
    const advice = extra.advice ?? ADVICE[code] ?? ADVICE.internal;
    super(detail && detail !== advice ? `${advice} (${detail})` : advice, extra.cause ? { cause: extra.cause } : undefined);
    this.name = "HearthError";
    this.code = ADVICE[code] ? code : "internal";
    this.detail = detail ?? "";
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
  }

  /** The plain object that crosses the worker boundary. */
  toWire() {
    return { code: this.code, message: this.detail };
  }

  /** Rebuilds an error sent by `toWire` or by `wireError`. */
  static fromWire(wire) {
    return new HearthError(wire?.code ?? "internal", wire?.message ?? "");
  }
}

/**
 * Turns anything thrown (a HearthError, an Error carrying a `code` set by the wasm glue,
 * a DOMException, a string) into the `{ code, message }` object sent across the worker.
 */
export function wireError(error) {
  if (error instanceof HearthError) return error.toWire();
  if (error && typeof error === "object") {
    if (error.name === "AbortError") return { code: "aborted", message: String(error.message ?? "") };
    if (typeof error.code === "string" && ADVICE[error.code]) {
      return { code: error.code, message: String(error.message ?? "") };
    }
    if (error instanceof RangeError && /memory|allocat/i.test(String(error.message))) {
      return { code: "does_not_fit", message: String(error.message) };
    }
    return { code: "internal", message: String(error.message ?? error) };
  }
  return { code: "internal", message: String(error) };
}

/** The error a rejected promise or ended stream carries after `signal` fires. */
export function abortError(signal) {
  const reason = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException("The operation was aborted.", "AbortError");
}
