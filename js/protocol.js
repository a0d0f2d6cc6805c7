// The protocol between the page's thread (index.js) and the engine's worker (worker.js).
// This file is the one place it is written down; both sides import these names.
//
// Every message is a plain object `{ kind, id, ... }`. `id` ties replies to the request
// that caused them. The union is closed: a message of any other kind is a bug, and the
// receiver answers it with an `error`.
//
// Page → worker
//   load      { id, source, contextLength,    source: { url, id?, name?, size?, sha256?,
//               backend }                     cache? } | { file: Blob } | { folder: { url }
//                                             | { files: File[] } } (js/folder.js); a model already
//                                             loaded is freed first (`reload`), its requests
//                                             ending with code "unloaded"
//   generate  { id, request }                 request: a completion request validated by
//                                             request.js, as the engine's GenerateRequest
//                                             takes it (src/engine/request.rs): `messages`
//                                             (roles system/user/assistant/tool, string
//                                             content), `prompt` or `prompt_tokens`; the
//                                             sampling fields (temperature, top_p, top_k,
//                                             min_p, repetition_penalty, frequency_penalty,
//                                             presence_penalty, logit_bias { "id": bias },
//                                             seed), max_tokens, stop, ignore_eos, and
//                                             logprobs: the number of alternatives per token
//                                             (absent: no log-probabilities), tools,
//                                             tool_choice, response_format
//   abort     { id }                          id of a queued or running `generate`
//   unload    { id }
//   destroyDevice { id }                      test hook: destroys the GPU device as a
//                                             driver reset would (the recovery path)
//
// Worker → page
//   progress  { id, phase, bytes, total, rate, tensorsDone, tensorsTotal }
//             phase: "cache" (reading the cached copy, tensors uploaded as they complete),
//             "download" (bytes arriving, cached and uploaded tensor by tensor),
//             "upload" (the last tensors), "compile" (building GPU pipelines),
//             "reconnect" (under a `generate` id: the GPU device was lost, the model is
//             loaded again on a new one before the request runs; the phases above follow)
//   loaded    { id, info, adapter, memory: { before, after }, loadMs }
//             memory: the wasm linear memory in bytes before and after loading; it stays
//             far below the model's size because tensors stream straight to the GPU
//   chunk     { id, delta, token, logprobs }  one generated token (delta may be "");
//             logprobs: null, or when the request asked for them
//             { sampled: { id, token, bytes, logprob }, top: [{ id, token, bytes, logprob }] }
//             (log-softmax of the logits after logit_bias and penalties, before temperature)
//   done      { id, finishReason, usage, tokenIds, timings, wasmMemory, toolCalls }
//             finishReason: "stop" | "length" | "abort" | "tool_calls"; toolCalls: the
//             answer's calls ([{ id, type, function: { name, arguments } }]) or null
//             a `generate` whose device is lost mid-way fails with code "gpu_lost"; the
//             next one loads the model again first (phase "reconnect")
//   unloaded  { id }
//   deviceDestroyed { id }
//   error     { id, error: { code, message } }   the request `id` failed; the engine
//             stays usable unless the request was `load`

export const ToWorker = Object.freeze({
  load: "load",
  generate: "generate",
  abort: "abort",
  unload: "unload",
  destroyDevice: "destroyDevice",
});

export const FromWorker = Object.freeze({
  progress: "progress",
  loaded: "loaded",
  chunk: "chunk",
  done: "done",
  unloaded: "unloaded",
  deviceDestroyed: "deviceDestroyed",
  error: "error",
});
