//! The wasm-bindgen surface: everything JavaScript can call, and nothing else. It converts
//! types at the boundary and keeps no logic of its own; `js/worker.js` is its caller (and
//! `js/hasher.js`, for the SHA-256 of downloads).
//!
//! - values cross as plain JS objects (serde, JSON-compatible: maps become objects);
//! - every `hearth::Error` becomes a JS `Error` named `HearthError` with a stable `code`
//!   property (`Error::code`), which the worker forwards and `js/errors.js` turns into a
//!   message for the user.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::cpu::Activations;
use crate::backend::Backend;
use crate::engine::{Engine, EngineLoader, GenerateRequest, LoadOptions};
use crate::gpu::{GpuContext, KernelShape};
use crate::Error;

/// The threaded build's pool, `initThreadPool(n)` in JS: `n` Web Workers sharing this
/// instance's memory, over which the CPU backend spreads the rows of its products.
#[cfg(target_feature = "atomics")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// A JS `Error` carrying the hearth error code.
fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("HearthError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

fn to_js(error: Error) -> JsValue {
    js_error(error.code(), &error.to_string())
}

fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_error("internal", &format!("cannot convert a result to JS: {e}")))
}

/// An incremental SHA-256 (RustCrypto's `sha2`): model files are hundreds of megabytes and
/// arrive in chunks, partly from disk after an interrupted download, so they are hashed as
/// they stream (WebCrypto's `digest` takes only a whole buffer).
#[wasm_bindgen(js_name = Sha256)]
pub struct Sha256Hasher(sha2::Sha256);

#[wasm_bindgen(js_class = Sha256)]
impl Sha256Hasher {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256Hasher {
        Sha256Hasher(sha2::Digest::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    /// The digest of everything given so far, as 64 lowercase hex digits; the hasher
    /// starts over.
    pub fn hex(&mut self) -> String {
        use std::fmt::Write;
        let digest = sha2::Digest::finalize_reset(&mut self.0);
        digest
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }
}

impl Default for Sha256Hasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Makes a panic readable in the console (a panic is a bug: the instance is unusable after
/// it, and the worker reports that to the page).
#[wasm_bindgen(start)]
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&JsValue::from_str(&format!("hearth panicked: {info}")));
    }));
}

/// How the worker asks for a model to be loaded (a plain JS object).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoaderOptions {
    /// Caps the context (default: the model's own, as far as memory allows).
    context_length: Option<u32>,
    /// The backend the worker chose: `"cpu"` (weights in wasm memory; no WebGPU needed) or
    /// `"webgpu"` (the default: opens the GPU).
    backend: Option<String>,
    /// The CPU backend's activations: `"int16"` (the default) or `"f32"`.
    activations: Option<String>,
    /// The browser's adapter is a CPU implementation (wgpu cannot tell on the web), which
    /// picks the kernel shape made for it.
    software_adapter: Option<bool>,
}

impl LoaderOptions {
    fn from_js(options: JsValue) -> Result<Self, JsValue> {
        if options.is_undefined() || options.is_null() {
            return Ok(Self::default());
        }
        serde_wasm_bindgen::from_value(options)
            .map_err(|e| js_error("invalid_request", &format!("loader options: {e}")))
    }

    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            context_length: self.context_length.map(|n| n as usize),
        }
    }

    async fn backend(&self) -> Result<Backend, JsValue> {
        open_backend(
            self.backend.as_deref(),
            self.activations.as_deref(),
            self.software_adapter,
        )
        .await
    }
}

/// Returns a loader for a GGUF model, to be fed its bytes in order, with `options`
/// ([`LoaderOptions`]).
#[wasm_bindgen(js_name = createLoader)]
pub async fn create_loader(options: JsValue) -> Result<WebLoader, JsValue> {
    let options = LoaderOptions::from_js(options)?;
    Ok(WebLoader {
        inner: EngineLoader::gguf(options.backend().await?, options.load_options()),
    })
}

/// Returns a loader for a Hugging Face folder: its JSON files now, then each of
/// `safetensors_files` in turn, each announced with `beginFile(name)` before its bytes.
#[wasm_bindgen(js_name = createFolderLoader)]
pub async fn create_folder_loader(
    options: JsValue,
    config_json: Vec<u8>,
    tokenizer_json: Vec<u8>,
    tokenizer_config_json: Option<Vec<u8>>,
    safetensors_files: Vec<String>,
) -> Result<WebLoader, JsValue> {
    let options = LoaderOptions::from_js(options)?;
    let inner = EngineLoader::hf(
        options.backend().await?,
        options.load_options(),
        &config_json,
        &tokenizer_json,
        tokenizer_config_json.as_deref(),
        safetensors_files,
    )
    .map_err(to_js)?;
    Ok(WebLoader { inner })
}

async fn open_backend(
    backend: Option<&str>,
    activations: Option<&str>,
    software_adapter: Option<bool>,
) -> Result<Backend, JsValue> {
    let activations = match activations {
        None | Some("int16") => Activations::Int16,
        Some("f32") => Activations::F32,
        Some(other) => {
            return Err(js_error(
                "invalid_request",
                &format!("unknown activations '{other}': use \"int16\" or \"f32\""),
            ))
        }
    };
    match backend {
        None | Some("webgpu") => Ok(Backend::Gpu(open_gpu(software_adapter).await?)),
        Some("cpu") => Ok(Backend::Cpu(activations)),
        Some(other) => Err(js_error(
            "invalid_request",
            &format!("unknown backend '{other}': use \"webgpu\" or \"cpu\""),
        )),
    }
}

/// The GPU, with the kernel shape of its adapter.
async fn open_gpu(software_adapter: Option<bool>) -> Result<GpuContext, JsValue> {
    let context = GpuContext::new().await.map_err(to_js)?;
    Ok(match software_adapter {
        Some(true) => context.with_kernel_shape(KernelShape::Lanes),
        Some(false) => context.with_kernel_shape(KernelShape::SplitK),
        None => context,
    })
}

/// Push parser of a model file: tensors are uploaded to the GPU as their bytes complete,
/// so the wasm memory never holds the whole model.
#[wasm_bindgen]
pub struct WebLoader {
    inner: EngineLoader,
}

#[wasm_bindgen]
impl WebLoader {
    /// Announces the next file of a folder (a name from `createFolderLoader`'s list).
    #[wasm_bindgen(js_name = beginFile)]
    pub fn begin_file(&mut self, name: &str) -> Result<(), JsValue> {
        self.inner.begin_file(name).map_err(to_js)
    }

    /// Feeds the next bytes of the file; returns `{ bytes, tensors_done, tensors_total }`.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<JsValue, JsValue> {
        let progress = self.inner.feed(chunk).map_err(to_js)?;
        to_value(&progress)
    }

    /// Ends the file: checks that every tensor arrived and builds the engine (compiles the
    /// GPU pipelines). Consumes the loader (its JS handle becomes unusable).
    pub async fn finish(self) -> Result<WebEngine, JsValue> {
        let engine = self.inner.finish().await.map_err(to_js)?;
        Ok(WebEngine { inner: engine })
    }
}

/// A loaded model, ready to generate. `free()` (from wasm-bindgen) releases its GPU memory.
#[wasm_bindgen]
pub struct WebEngine {
    inner: Engine,
}

#[wasm_bindgen]
impl WebEngine {
    /// `ModelInfo`: name, format, config, parameter count, context length, adapter, ...
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_value(self.inner.info())
    }

    /// Starts a generation from a `GenerateRequest` object (OpenAI-like fields, snake_case).
    /// Returns the number of prompt tokens, after the oldest turns were dropped to fit.
    pub fn start(&mut self, request: JsValue) -> Result<usize, JsValue> {
        let request: GenerateRequest = serde_wasm_bindgen::from_value(request)
            .map_err(|e| to_js(Error::InvalidRequest(e.to_string())))?;
        self.inner.start(request).map_err(to_js)
    }

    /// Generates one token: `{ delta, token, logprobs, finish_reason, usage, timings }`
    /// (`logprobs` when the request asked for them; the last three on the final step only).
    pub async fn step(&mut self) -> Result<JsValue, JsValue> {
        let step = self.inner.step().await.map_err(to_js)?;
        to_value(&step)
    }

    /// Ends the current generation: the next `step` returns finish_reason "abort".
    pub fn abort(&mut self) {
        self.inner.abort();
    }

    /// A handle on the engine's GPU device, usable while a `step` holds the engine.
    pub fn device(&self) -> WebDevice {
        WebDevice {
            context: self.inner.gpu_context().cloned(),
        }
    }
}

/// The GPU device under an engine (nothing on the CPU backend).
#[wasm_bindgen]
pub struct WebDevice {
    context: Option<GpuContext>,
}

#[wasm_bindgen]
impl WebDevice {
    /// Why the device was lost (the worker then loads the model again on a new one), or
    /// `undefined` while it works.
    pub fn lost(&self) -> Option<String> {
        self.context.as_ref().and_then(GpuContext::lost_reason)
    }

    /// Destroys the device as a driver reset would: the test hook of the recovery path.
    pub fn destroy(&self) {
        if let Some(context) = &self.context {
            context.destroy();
        }
    }
}
