// Types of hearth's JS API (index.js). Objects follow OpenAI's chat.completions shapes;
// fields named `hearth` are extensions.

/** Stable codes of `HearthError` (the Rust `hearth::Error::code()` values plus JS-side ones). */
export type HearthErrorCode =
  | "no_webgpu"
  | "no_adapter"
  | "gpu"
  /** The GPU device was lost during the request; the next request loads the model again. */
  | "gpu_lost"
  | "does_not_fit"
  | "bad_magic"
  | "truncated"
  | "unsupported_version"
  | "unsupported_tensor_type"
  | "unsupported_feature"
  | "malformed"
  | "missing_key"
  | "wrong_type"
  | "missing_tensor"
  | "shape_mismatch"
  | "unsupported_architecture"
  | "invalid_config"
  | "tokenizer"
  | "template"
  | "invalid_request"
  | "context_overflow"
  | "io"
  /** The answer could not follow `response_format` (or a required tool call's schema). */
  | "grammar"
  | "network"
  | "storage_quota"
  | "checksum"
  | "aborted"
  | "unloaded"
  | "worker"
  | "internal"
  // From a remote server (Engine.connect, or Engine.load's fallback); "network",
  // "invalid_request" (HTTP 400/422) and "unloaded" are used there too.
  /** Any HTTP error status without a code of its own (see `status`), or a redirect. */
  | "http"
  /** Bad JSON, a reply without choices, or a stream cut before its end. */
  | "protocol"
  /** HTTP 404, or a model the server does not list. */
  | "not_found"
  /** HTTP 401 or 403. */
  | "unauthorized"
  /** HTTP 429 (see `retryAfter`). */
  | "rate_limited";

/** An error from the engine or the API. `message` says what the user can do. */
export class HearthError extends Error {
  readonly name: "HearthError";
  readonly code: HearthErrorCode;
  /** The technical description from the engine. */
  readonly detail: string;
  /** The HTTP status of a server's answer, on errors of a remote server. */
  readonly status?: number;
  /**
   * Seconds to wait before trying again, from the Retry-After header of a 429 or 503
   * answer; null when the server sent none (a server on another origin must list it in
   * Access-Control-Expose-Headers for the page to see it).
   */
  readonly retryAfter?: number | null;
  constructor(
    code: HearthErrorCode,
    detail?: string,
    extra?: { advice?: string; status?: number; retryAfter?: number | null; cause?: unknown },
  );
}

/**
 * The codes of a failed local load after which `Engine.load` turns to its `fallback`:
 * "no_webgpu", "no_adapter", "does_not_fit", "gpu", "unsupported_architecture",
 * "unsupported_tensor_type", "unsupported_feature".
 */
export const FALLBACK_CODES: readonly HearthErrorCode[];

/** Whether this browser can run the engine (WebGPU present, an adapter available). */
export function checkSupport(): Promise<{ supported: boolean; reason?: string }>;

/**
 * Where the model comes from: a URL (absolute, relative to the page, or a Hugging Face
 * `resolve/main` URL), `"hf:owner/repo/file.gguf"`, a local `File`/`Blob`, or the object forms.
 */
export type ModelSource =
  | string
  | URL
  | Blob
  | UrlSource
  | { file: Blob }
  /** A GGUF file of a Hugging Face repository, or (no file) the repository as a model folder. */
  | { hf: string; file?: string; revision?: string }
  /**
   * A Hugging Face model folder: config.json, tokenizer.json, tokenizer_config.json and
   * model.safetensors (or the shards model.safetensors.index.json names), at a base URL
   * (a string URL ending in "/" also means a folder) or as the files of a folder the user
   * picked (`<input type="file" webkitdirectory>`).
   */
  | { folder: string | URL | FileList | File[] };

/**
 * A model URL with what the cache should know about it (a catalogue entry has all of it).
 * URL models are kept in the origin private file system and loaded from there next time
 * with no network request; an interrupted download resumes with an HTTP Range request.
 */
export interface UrlSource {
  url: string;
  /** The cache entry's id (default: the URL). */
  id?: string;
  name?: string;
  /** Expected size in bytes: a server announcing another size is an error. */
  size?: number;
  /** Expected SHA-256 (hex): checked after the download; a mismatch is a "checksum" error. */
  sha256?: string;
  /** false: download without storing (default true). */
  cache?: boolean;
}

/** A model in the cache (`Engine.cache.list()`). */
export interface CachedModel {
  id: string;
  name: string | null;
  url: string;
  /** The file's size in bytes. */
  size: number;
  /** Bytes stored: less than `size` for an interrupted download. */
  bytes: number;
  complete: boolean;
  /** The digest of the stored file (or the expected one while incomplete). */
  sha256: string | null;
  /** When the download completed (ms since the epoch), 0 if it has not. */
  storedAt: number;
}

export interface LoadProgress {
  /** "cache": reading the cached copy; "download": bytes arriving (tensors are uploaded
   *  as they complete, and the bytes are cached); "upload": the
   *  last tensors, or a local file; "compile": building GPU pipelines; "reconnect": the
   *  GPU device was lost and a request is loading the model again on a new one (from the
   *  cache or the same file; the other phases follow). */
  phase: "cache" | "download" | "upload" | "compile" | "reconnect";
  /** Bytes of the model read so far. */
  bytes: number;
  /** Size of the model in bytes; 0 when the server did not say. */
  total: number;
  /** bytes / total, or null when the total is unknown. */
  fraction: number | null;
  /** Average rate since the load started, in bytes per second. */
  rate: number;
  tensorsDone: number;
  tensorsTotal: number;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  /** Caps the context length (default: the model's, as far as the device allows). */
  contextLength?: number;
  /**
   * What runs the model: "auto" (the default: WebGPU on a hardware adapter; the CPU
   * without WebGPU, without an adapter, or on a software adapter such as SwiftShader, which
   * the CPU outruns), "webgpu", or "cpu" (weights in wasm memory; needs no WebGPU; a model
   * over 4 GiB with its cache is "does_not_fit" before it downloads).
   */
  backend?: "webgpu" | "cpu" | "auto";
  /**
   * Threads of the CPU backend on a cross-origin isolated page (default: one per processor,
   * `navigator.hardwareConcurrency`). A page without cross-origin isolation runs it on one
   * thread, and `engine.backend.singleThreadReason` says so.
   */
  threads?: number;
  /**
   * The CPU backend's activations when decoding: "int16" (the default: a decoded token's
   * products with Q4_0, Q4_1 and Q8_0 weights are integer dots over activations rounded
   * to 16 bits per 32-value block) or "f32" (each weight row decoded to f32).
   */
  activations?: "int16" | "f32";
  /** Aborting cancels the load: `Engine.load` rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Where worker.js is, when a bundler moved it; the package exports it as
   * "hearth-llm/worker.js" (e.g. Vite: `import workerUrl from "hearth-llm/worker.js?worker&url"`).
   */
  workerUrl?: string | URL;
  /**
   * An OpenAI-compatible server to answer instead when this device cannot run the model:
   * no WebGPU or no adapter for backend "webgpu", a model larger than 3/4 of `navigator.deviceMemory` (decided
   * before downloading when the source's size is known), or a load failing with one of
   * `FALLBACK_CODES`. `Engine.load` then resolves to a `RemoteEngine`
   * (`engine.backend.kind === "remote"`, with the local failure in `backend.reason`).
   */
  fallback?: RemoteOptions;
}

/** An OpenAI-compatible server: `Engine.connect(options)` or `LoadOptions.fallback`. */
export interface RemoteOptions {
  /**
   * The API root, as OpenAI's clients take it: requests go to `${baseURL}/chat/completions`,
   * `${baseURL}/completions` and `${baseURL}/models`, e.g. "http://localhost:8080/v1".
   * Nothing is ever sent to another origin (redirects are refused).
   */
  baseURL: string;
  /** The model to ask for (sent as `model` in every request). */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>`; kept in memory only, never stored. */
  apiKey?: string;
  /** Extra headers for every request. */
  headers?: HeadersInit;
}

/** Options of a single request, as in OpenAI's client: `create(request, { signal })`. */
export interface RequestOptions {
  /** Same as the request's own `signal`. */
  signal?: AbortSignal;
}

/** The local engine, on the GPU ("webgpu") or on its CPU backend ("cpu"). */
export interface LocalBackend {
  kind: "webgpu" | "cpu";
  /** A description of the GPU adapter (of the CPU's threads and SIMD level for "cpu"). */
  adapter: string | null;
  /** "cpu": the threads its products run on. */
  threads?: number;
  /** "cpu" on one thread: why threads were not available (e.g. no cross-origin isolation). */
  singleThreadReason?: string;
}

/** A remote OpenAI-compatible server. */
export interface RemoteBackend {
  kind: "remote";
  /** The API root, without a trailing slash. */
  baseURL: string;
  model: string;
  /** Set when `Engine.load` fell back to the server: why the device could not run the model. */
  reason?: HearthError;
}

export type Backend = LocalBackend | RemoteBackend;

/** What the engine reports about the loaded model. */
export interface ModelInfo {
  name: string | null;
  /** "gguf" or "safetensors". */
  format: string;
  /** The model's configuration (architecture, sizes, rope, ...). */
  config: Record<string, unknown>;
  n_params: number;
  context_length: number;
  bos_id: number | null;
  eos_id: number | null;
  has_chat_template: boolean;
  /** What runs the model. */
  backend: { kind: "webgpu" | "cpu"; device: string; kernels: string };
  /** A description of the GPU adapter (or the CPU's threads): `backend.device`. */
  adapter: string;
  /** How products are computed: `backend.kernels`. */
  kernels: string;
  /** What one decode step costs. */
  cost: {
    dispatches: number;
    weight_bytes_read: number;
    weight_bytes_stored: number;
    pipelines: number;
  };
}

export interface LoadStats {
  loadMs: number;
  /** Size of the wasm linear memory in bytes, before and after loading. */
  memory: { before: number; after: number };
}

/** A text part of a message's content; other part types (images, audio) are refused. */
export interface ChatTextPart {
  type: "text";
  text: string;
}

/** A string, or text parts (joined with "\n"). */
export type ChatContent = string | ChatTextPart[];

/**
 * A message. `developer` is OpenAI's newer name for `system` and renders as one. An
 * assistant message may carry the tool calls it made (content then may be null); a `tool`
 * message (a tool's result) answers one of them and renders through the chat template.
 * Fields not listed here (`name`, `function_call`, ...) are refused with an
 * `invalid_request` naming them.
 */
export type ChatMessage =
  | { role: "system" | "developer" | "user"; content: ChatContent }
  | { role: "assistant"; content: ChatContent | null; tool_calls?: ToolCall[] }
  | { role: "tool"; content: ChatContent; tool_call_id: string };

/** A call the model made; `arguments` is JSON text. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | {
      type: "json_schema";
      json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean };
    };

/** A function the model may call, described to it through its chat template. */
export interface Tool {
  type: "function";
  function: {
    /** 1 to 64 letters, digits, _ or -. */
    name: string;
    description?: string;
    /** A JSON schema of the arguments object. */
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

/**
 * "auto" (default): the model decides; "none": no tools are offered; "required": the
 * answer is a call; a named function: the answer calls it.
 */
export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

/**
 * The request fields both endpoints take. Any field not declared here (OpenAI's fields
 * hearth does not implement, such as `user`, `store`, `echo`) is an `invalid_request` naming it; null
 * means "not set".
 */
export interface SamplingOptions {
  /** Echoed in the reply's `model` (the loaded model's name when absent). */
  model?: string;
  /** 0 = greedy. Range 0..2. */
  temperature?: number;
  top_p?: number;
  /** Non-standard: keep the k most likely tokens. */
  top_k?: number;
  /** Non-standard: drop tokens less likely than min_p × the most likely one. */
  min_p?: number;
  /** Non-standard: CTRL-style penalty on tokens of the prompt and the answer. */
  repetition_penalty?: number;
  /**
   * OpenAI's, -2..2: subtracted from a token's logit once per time it was sampled in this
   * completion (the prompt's tokens are not counted).
   */
  frequency_penalty?: number;
  /** OpenAI's, -2..2: subtracted from a token's logit once it was sampled in this completion. */
  presence_penalty?: number;
  /** Token id → bias in -100..100 added to its logit; -100 bans the token, 100 all but forces it. */
  logit_bias?: Record<string, number>;
  max_tokens?: number;
  seed?: number;
  stop?: string | string[];
  /** One choice per request: any other n is an `invalid_request`. */
  n?: 1;
  stream?: boolean;
  /** With `stream: true` only. `include_usage`: a last chunk with `choices: []` and the usage. */
  stream_options?: { include_usage?: boolean };
  /** Non-standard: keep generating past end-of-sequence tokens (for benchmarks). */
  ignore_eos?: boolean;
  /** Aborting ends the generation within one token; the reply ends with finish_reason "abort". */
  signal?: AbortSignal;
}

export interface ChatCompletionRequest extends SamplingOptions {
  messages: ChatMessage[];
  /** max_tokens' newer name in OpenAI's API. */
  max_completion_tokens?: number;
  /**
   * Each generated token's log-probability: the log-softmax of the logits it was drawn
   * from, after logit_bias and penalties, before temperature.
   */
  logprobs?: boolean;
  /** 0..20 most likely tokens listed at each step (needs `logprobs: true`). */
  top_logprobs?: number;
  /**
   * Functions the model may call, for models whose chat template writes `<tool_call>` JSON
   * (Qwen 2.5 and 3); other models refuse tools with an `invalid_request`. An answer that
   * calls tools ends with finish_reason "tool_calls" and the calls in `message.tool_calls`
   * (streamed: one `delta.tool_calls` chunk with every call whole).
   */
  tools?: Tool[];
  tool_choice?: ToolChoice;
  /** false: only the first call of an answer is reported. */
  parallel_tool_calls?: boolean;
  /**
   * Structured output: the answer is constrained, token by token, to JSON (any object, or
   * one following `json_schema.schema`). Not together with `tools`.
   */
  response_format?: ResponseFormat;
}

export interface CompletionRequest extends SamplingOptions {
  /** Raw text (no chat template), or token ids used as they are. */
  prompt: string | number[];
  /** 0..5: each token's log-probability, with this many alternatives (see ChatCompletionRequest). */
  logprobs?: number;
}

/** A token with its log-probability (chat completions). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes (a token may hold part of a character: `token` shows U+FFFD). */
  bytes: number[];
}

/** OpenAI's `choices[0].logprobs` of chat completions: one entry per generated token. */
export interface ChatLogprobs {
  /** The end-of-turn token included, when the answer ended with one. */
  content: (TokenLogprob & { top_logprobs: TokenLogprob[] })[];
  refusal: null;
}

/** OpenAI's `choices[0].logprobs` of (legacy) text completions. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  /** Per token: token text → logprob of the most likely tokens and the sampled one. */
  top_logprobs: Record<string, number>[];
  /** Where each token's text starts in the completion's text (UTF-16 code units). */
  text_offset: number[];
}

export type FinishReason = "stop" | "length" | "abort" | "tool_calls";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Timings {
  /** From the start of the request's turn in the engine to the first token. */
  ttft_ms: number | null;
  total_ms: number;
  /** Prompt tokens computed (a prefix shared with the previous request is reused). */
  prefill_tokens: number | null;
  prefill_ms: number | null;
  /** Tokens decoded after the first one. */
  decode_tokens: number | null;
  decode_ms: number | null;
  /** Structured output: grammar masks computed (one per token) and their total time. */
  mask_count: number | null;
  mask_ms: number | null;
  prefill_tokens_per_s?: number;
  decode_tokens_per_s?: number;
}

/**
 * On the final chunk of a remote stream whose server reported no usage (llama-cpp-python
 * does not), or that was aborted: `usage.completion_tokens` then counts the chunks that
 * carried text (one per token on such servers) and `usage.prompt_tokens` is 0.
 */
export interface RemoteExtension {
  usage: "counted";
}

/** Non-standard extension on final chunks and completions. */
export interface HearthExtension {
  /** The generated token ids, in order. */
  token_ids: number[];
  timings: Timings;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      /** `content` is null when the answer only calls tools. */
      message: { role: "assistant"; content: string | null; tool_calls?: ToolCall[] };
      finish_reason: FinishReason;
      /** null unless the request asked for logprobs. */
      logprobs: ChatLogprobs | null;
    },
  ];
  usage: Usage;
  hearth: HearthExtension;
}

/**
 * A chunk of a stream. The chunk with the finish_reason carries `hearth`. With
 * `stream_options: { include_usage: true }` a last chunk follows it with `choices: []` and
 * the usage, and every other chunk has `usage: null`; without it no chunk has `usage`
 * (a remote server's stream keeps the usage on the finish chunk: see RemoteEngine).
 */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices:
    | [
        {
          index: 0;
          delta: {
            role?: "assistant";
            content?: string | null;
            tool_calls?: (ToolCall & { index: number })[];
          };
          finish_reason: FinishReason | null;
          /** The chunk's token, when the request asked for logprobs. */
          logprobs: ChatLogprobs | null;
        },
      ]
    | [];
  usage?: Usage | null;
  hearth?: HearthExtension | RemoteExtension;
}

/** A text completion, or a chunk of one (streams follow the rules of ChatCompletionChunk). */
export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices:
    | [{ index: 0; text: string; finish_reason: FinishReason | null; logprobs: CompletionLogprobs | null }]
    | [];
  usage?: Usage | null;
  hearth?: HearthExtension | RemoteExtension;
}

/** The stream of a `stream: true` request. Breaking out of the loop aborts the generation. */
export interface CompletionStream<T> extends AsyncIterable<T> {
  /** Stops the generation; the stream still ends with a chunk whose finish_reason is "abort". */
  abort(): void;
}

/** An LLM running in a dedicated Web Worker. Requests made while one runs are queued. */
export class Engine {
  /** The model cache of this origin (shared by every Engine). */
  static readonly cache: {
    list(): Promise<CachedModel[]>;
    /** Whether a complete copy is stored; `id`: the source's `id`, or its URL. */
    has(id: string): Promise<boolean>;
    /** Deletes a cached model or an interrupted download; resolves to whether it existed. */
    delete(id: string): Promise<boolean>;
  };

  /** Starts the worker and streams the model to the GPU. */
  static load(source: ModelSource, options?: LoadOptions & { fallback?: undefined }): Promise<Engine>;
  /** The same, answered by the `fallback` server when this device cannot run the model. */
  static load(source: ModelSource, options: LoadOptions): Promise<Engine | RemoteEngine>;
  /**
   * The same API against an OpenAI-compatible server. Resolves once the server answered
   * and, when it lists its models (GET /models), lists `model` (else "not_found").
   */
  static connect(options: RemoteOptions, init?: RequestOptions): Promise<RemoteEngine>;
  /**
   * Stores a model in the cache without loading it (no worker, no GPU); a later `load` of
   * the same source needs no network. Aborting keeps what arrived: the next call resumes.
   * Resolves to the cache entry.
   */
  static download(
    source: string | URL | UrlSource | { hf: string; file?: string; revision?: string },
    options?: { onProgress?: (progress: LoadProgress) => void; signal?: AbortSignal },
  ): Promise<CachedModel | null>;
  private constructor(worker: Worker);

  readonly info: ModelInfo | null;
  /** A description of the GPU adapter. */
  readonly adapter: string | null;
  readonly loadStats: LoadStats | null;
  /** The worker's wasm memory in bytes, as of the end of the last request (or the load). */
  readonly wasmMemory: number | null;
  readonly backend: LocalBackend;

  readonly chat: ChatCompletions;
  /** Text completion of a raw prompt (no chat template). */
  readonly completions: TextCompletions;

  /** Frees the GPU memory and stops the worker; later requests fail with code "unloaded". */
  unload(): Promise<void>;
  /**
   * Replaces the model in the same worker: requests in flight or queued end with code
   * "unloaded", the old model is freed, then `source` loads. Resolves to this engine.
   */
  reload(
    source: ModelSource,
    options?: Pick<LoadOptions, "onProgress" | "contextLength" | "backend" | "threads" | "activations" | "signal">,
  ): Promise<Engine>;
  /**
   * Destroys the GPU device as a driver reset would, to test an app's recovery path: a
   * request in flight fails with code "gpu_lost", the next one reloads the model (progress
   * phase "reconnect") and answers.
   */
  simulateDeviceLoss(): Promise<void>;
}

export interface ChatCompletions {
  readonly completions: {
    create(
      request: ChatCompletionRequest & { stream: true },
      options?: RequestOptions,
    ): Promise<CompletionStream<ChatCompletionChunk>>;
    create(request: ChatCompletionRequest & { stream?: false }, options?: RequestOptions): Promise<ChatCompletion>;
    create(
      request: ChatCompletionRequest,
      options?: RequestOptions,
    ): Promise<ChatCompletion | CompletionStream<ChatCompletionChunk>>;
  };
}

export interface TextCompletions {
  create(request: CompletionRequest & { stream: true }, options?: RequestOptions): Promise<CompletionStream<Completion>>;
  create(request: CompletionRequest & { stream?: false }, options?: RequestOptions): Promise<Completion>;
  create(request: CompletionRequest, options?: RequestOptions): Promise<Completion | CompletionStream<Completion>>;
}

/**
 * An OpenAI-compatible server behind the API of a local `Engine` (from `Engine.connect`, or
 * `Engine.load` with a `fallback`). Requests are validated as locally and sent as written,
 * for `backend.model`; replies are the server's own objects, except that a stream's last
 * chunk carries `finish_reason` and `usage` (see `RemoteExtension`) and that aborting ends
 * a reply with finish_reason "abort", as locally. Fields the server does not produce (such
 * as `hearth.token_ids`) are absent.
 */
export interface RemoteEngine {
  readonly backend: RemoteBackend;
  readonly chat: ChatCompletions;
  readonly completions: TextCompletions;
  /** Ends the requests in flight (code "unloaded"); later requests fail the same way. */
  unload(): Promise<void>;
}
