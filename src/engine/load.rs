//! Push loading: bytes in (from a file, the network or a cache), tensors uploaded to the
//! GPU as they complete. The same path serves the CLI and the browser.

use serde::Serialize;

use crate::backend::{Backend, ModelBuilder};
use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::model::loader::{LoadEvent, ModelLoader};
use crate::model::ModelHeader;
use crate::tokenizer::Tokenizer;

use super::{Engine, ModelInfo};

/// Default context length when the caller sets none: the model's, capped so the KV cache
/// stays modest on small devices.
pub const DEFAULT_CONTEXT: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Tokens of context (KV cache size). Default: min(model's, 4096).
    pub context_length: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LoadProgress {
    /// Bytes fed so far.
    pub bytes: u64,
    pub tensors_done: usize,
    /// Known once the header has been read (0 before).
    pub tensors_total: usize,
}

/// Everything known once the header is read: the model is being built on the GPU.
struct Building {
    header: ModelHeader,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    builder: ModelBuilder,
    context_length: usize,
}

pub struct EngineLoader {
    parser: ModelLoader,
    build: Build,
}

/// Turns load events into an engine, whoever parses the bytes: [`EngineLoader`] feeds it
/// from its own parser, `load_path` from the one the file loader drives.
struct Build {
    backend: Backend,
    options: LoadOptions,
    building: Option<Building>,
    progress: LoadProgress,
}

/// Large GGUF tensors stream to the GPU in pieces of at most this many bytes, so that the
/// wasm memory holds one piece, never a whole tensor (a 1.5B model's embedding is ~190 MB).
const TENSOR_PIECE_BYTES: usize = 2 << 20;

impl EngineLoader {
    /// A loader for one GGUF file, fed in order.
    pub fn gguf(backend: impl Into<Backend>, options: LoadOptions) -> Self {
        let parser = ModelLoader::gguf_with_pieces(Some(TENSOR_PIECE_BYTES));
        Self::with_parser(backend.into(), options, parser)
    }

    /// A loader for a Hugging Face folder: the small JSON files up front, then each
    /// safetensors file in turn (announced with [`EngineLoader::begin_file`]).
    pub fn hf(
        backend: impl Into<Backend>,
        options: LoadOptions,
        config_json: &[u8],
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&[u8]>,
        safetensors_files: Vec<String>,
    ) -> Result<Self> {
        let parser = ModelLoader::hf(
            config_json,
            tokenizer_json,
            tokenizer_config_json,
            safetensors_files,
        )?;
        Ok(Self::with_parser(backend.into(), options, parser))
    }

    fn with_parser(backend: Backend, options: LoadOptions, parser: ModelLoader) -> Self {
        EngineLoader {
            parser,
            build: Build::new(backend, options),
        }
    }

    pub fn begin_file(&mut self, name: &str) -> Result<()> {
        self.parser.begin_file(name)
    }

    /// Feeds the next bytes; tensors completed by them are uploaded before this returns.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<LoadProgress> {
        self.build.progress.bytes += chunk.len() as u64;
        for event in self.parser.feed(chunk)? {
            self.build.handle(event)?;
        }
        Ok(self.build.progress)
    }

    pub fn progress(&self) -> LoadProgress {
        self.build.progress
    }

    /// All bytes are in: checks that nothing is missing and returns the ready engine.
    pub async fn finish(mut self) -> Result<Engine> {
        self.parser.finish()?;
        self.build.into_engine().await
    }
}

impl Build {
    fn new(backend: Backend, options: LoadOptions) -> Self {
        Build {
            backend,
            options,
            building: None,
            progress: LoadProgress::default(),
        }
    }

    fn handle(&mut self, event: LoadEvent) -> Result<()> {
        match event {
            LoadEvent::Ready(header) => {
                if self.building.is_some() {
                    return Err(Error::Malformed("the model header appeared twice".into()));
                }
                self.building = Some(self.start_building(header)?);
            }
            LoadEvent::Tensor(tensor) => {
                let building = self.building.as_mut().ok_or_else(|| {
                    Error::Malformed(format!(
                        "tensor '{}' arrived before the header",
                        tensor.name
                    ))
                })?;
                let ends = tensor.ends_tensor();
                building.builder.add_tensor(tensor)?;
                self.progress.tensors_done += usize::from(ends);
            }
        }
        Ok(())
    }

    /// The header is known: the tokenizer and template are checked now, so a bad one fails
    /// before the weights are downloaded.
    fn start_building(&mut self, header: ModelHeader) -> Result<Building> {
        let tokenizer = header.tokenizer()?;
        let template = ChatTemplate::with_tokenizer(header.chat_template()?, &tokenizer)?;
        let context_length =
            resolve_context(self.options.context_length, header.config.n_ctx_train)?;
        let builder = ModelBuilder::new(
            &self.backend,
            &header.config,
            &header.tensors,
            context_length,
        )?;
        self.progress.tensors_total = header.tensors.len();
        Ok(Building {
            header,
            tokenizer,
            template,
            builder,
            context_length,
        })
    }

    async fn into_engine(mut self) -> Result<Engine> {
        let b = self
            .building
            .take()
            .ok_or_else(|| Error::Truncated("the model header never completed".into()))?;
        let model = b.builder.finish().await?;
        let info = ModelInfo::new(
            &b.header,
            &b.tokenizer,
            &self.backend,
            b.context_length,
            model.decode_cost(),
        );
        Ok(Engine::new(model, b.tokenizer, b.template, info))
    }
}

fn resolve_context(requested: Option<usize>, trained: usize) -> Result<usize> {
    let trained = if trained == 0 {
        DEFAULT_CONTEXT
    } else {
        trained
    };
    match requested {
        None => Ok(trained.min(DEFAULT_CONTEXT)),
        Some(0) => Err(Error::InvalidRequest(
            "context length must be at least 1".into(),
        )),
        Some(n) if n > trained => Err(Error::InvalidRequest(format!(
            "context length {n} exceeds the model's trained context of {trained}"
        ))),
        Some(n) => Ok(n),
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl EngineLoader {
    /// Loads a `.gguf` file or a Hugging Face folder from disk; `on_progress(done, total)`
    /// is called as bytes are read.
    pub async fn load_path(
        backend: impl Into<Backend>,
        options: LoadOptions,
        path: &std::path::Path,
        mut on_progress: impl FnMut(u64, u64),
    ) -> Result<Engine> {
        let mut build = Build::new(backend.into(), options);
        let pieces = Some(TENSOR_PIECE_BYTES);
        // The file loader drives its own parser and checks that every tensor arrived.
        crate::model::loader::load_path_with_pieces(
            path,
            1 << 20,
            pieces,
            |event, done, total| {
                on_progress(done, total);
                build.handle(event)
            },
        )?;
        build.into_engine().await
    }
}
