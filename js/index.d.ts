// Types of hearth's JS API (index.js). Objects follow OpenAI's chat.completions shapes;
// fields named `hearth` are extensions.

/** Stable codes of `HearthError` (the Rust `hearth::Error::code()` values plus JS-side ones). */
export type HearthErrorCode =
  | "no_webgpu"
  | "no_adapter"
  | "gpu"
  | "does_not_fit"
  | "bad_magic"
  | "truncated"
  | "unsupported_version"
  | "unsupported_tensor_type"
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
  | "network"
  | "storage_quota"
  | "checksum"
  | "aborted"
  | "unloaded"
  | "worker"
  | "internal";

/** An error from the engine or the API. `message` says what the user can do. */
export class HearthError extends Error {
  readonly name: "HearthError";
  readonly code: HearthErrorCode;
  /** The technical description from the engine. */
  readonly detail: string;
  constructor(code: HearthErrorCode, detail?: string);
}

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
  | { hf: string; file?: string; revision?: string };

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
   *  last tensors, or a local file; "compile": building GPU pipelines. */
  phase: "cache" | "download" | "upload" | "compile";
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
  /** Aborting cancels the load: `Engine.load` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Where worker.js is, when a bundler moved it. */
  workerUrl?: string | URL;
}

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
  /** A description of the GPU adapter. */
  adapter: string;
}

export interface LoadStats {
  loadMs: number;
  /** Size of the wasm linear memory in bytes, before and after loading. */
  memory: { before: number; after: number };
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface SamplingOptions {
  /** 0 = greedy. Range 0..2. */
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  max_tokens?: number;
  seed?: number;
  stop?: string | string[];
  n?: 1;
  /** Non-standard: keep generating past end-of-sequence tokens (for benchmarks). */
  ignore_eos?: boolean;
  /** Aborting ends the generation within one token; the reply ends with finish_reason "abort". */
  signal?: AbortSignal;
}

export interface ChatCompletionRequest extends SamplingOptions {
  messages: ChatMessage[];
  stream?: boolean;
}

export interface CompletionRequest extends SamplingOptions {
  /** Raw text, no chat template. */
  prompt: string;
  stream?: boolean;
}

export type FinishReason = "stop" | "length" | "abort";

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
  prefill_tokens_per_s?: number;
  decode_tokens_per_s?: number;
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
  choices: [{ index: 0; message: { role: "assistant"; content: string }; finish_reason: FinishReason; logprobs: null }];
  usage: Usage;
  hearth: HearthExtension;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      delta: { role?: "assistant"; content?: string };
      finish_reason: FinishReason | null;
      logprobs: null;
    },
  ];
  /** On the final chunk only. */
  usage?: Usage;
  /** On the final chunk only. */
  hearth?: HearthExtension;
}

export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason | null; logprobs: null }];
  usage?: Usage;
  hearth?: HearthExtension;
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
    /** Deletes a cached model or an interrupted download; resolves to whether it existed. */
    delete(id: string): Promise<boolean>;
  };

  /** Starts the worker and streams the model to the GPU. */
  static load(source: ModelSource, options?: LoadOptions): Promise<Engine>;
  private constructor(worker: Worker);

  readonly info: ModelInfo | null;
  /** A description of the GPU adapter. */
  readonly adapter: string | null;
  readonly loadStats: LoadStats | null;

  readonly chat: {
    readonly completions: {
      create(request: ChatCompletionRequest & { stream: true }): Promise<CompletionStream<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
      create(request: ChatCompletionRequest): Promise<ChatCompletion | CompletionStream<ChatCompletionChunk>>;
    };
  };

  /** Text completion of a raw prompt (no chat template). */
  readonly completions: {
    create(request: CompletionRequest & { stream: true }): Promise<CompletionStream<Completion>>;
    create(request: CompletionRequest & { stream?: false }): Promise<Completion>;
    create(request: CompletionRequest): Promise<Completion | CompletionStream<Completion>>;
  };

  /** Frees the GPU memory and stops the worker; later requests fail with code "unloaded". */
  unload(): Promise<void>;
}
