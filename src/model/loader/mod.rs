//! The one entry point the engine uses to load a model, natively and in the browser alike.
//!
//! A [`ModelLoader`] is fed the model's bytes in chunks (file by file for Hugging Face
//! shards) and emits [`LoadEvent::Ready`] once the configuration and the tensor index are
//! known and checked against the architecture — before any tensor bytes are needed — then
//! one [`LoadEvent::Tensor`] per tensor, under its canonical GGUF name.

mod gguf;
mod hf;
#[cfg(not(target_arch = "wasm32"))]
mod path;

use crate::error::{Error, Result};
use crate::formats::hf::ShardIndex;
use crate::formats::Tensor;
use crate::model::header::ModelHeader;
use gguf::GgufSource;
use hf::HfSource;
#[cfg(not(target_arch = "wasm32"))]
pub use path::{load_path, load_path_with_pieces};

#[derive(Debug, Clone)]
// `Ready` happens once per load; boxing it would only add noise at every match.
#[allow(clippy::large_enum_variant)]
pub enum LoadEvent {
    Ready(ModelHeader),
    Tensor(Tensor),
}

/// Push loader for a GGUF file or a Hugging Face safetensors model.
pub struct ModelLoader {
    source: Source,
    /// Set by the first error: a loader that failed part-way must not go on emitting.
    failed: bool,
}

// One per load: boxing the larger variant would save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
enum Source {
    Gguf(GgufSource),
    Hf(HfSource),
}

impl ModelLoader {
    /// A loader for one GGUF file.
    pub fn gguf() -> Self {
        Self::gguf_with_pieces(None)
    }

    /// A loader for one GGUF file that hands out tensors larger than `pieces` bytes as
    /// pieces of whole rows (`Tensor::piece`), so that no buffer holds a large tensor whole.
    pub fn gguf_with_pieces(pieces: Option<usize>) -> Self {
        ModelLoader {
            source: Source::Gguf(GgufSource::new(pieces)),
            failed: false,
        }
    }

    /// A loader for a Hugging Face model: its JSON files and the names of its safetensors
    /// files, which are then fed in turn after [`ModelLoader::begin_file`]. A model split
    /// into several files also needs [`ModelLoader::with_index`].
    pub fn hf(
        config_json: &[u8],
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&[u8]>,
        safetensors_files: Vec<String>,
    ) -> Result<Self> {
        Ok(ModelLoader {
            source: Source::Hf(HfSource::new(
                config_json,
                tokenizer_json,
                tokenizer_config_json,
                safetensors_files,
            )?),
            failed: false,
        })
    }

    /// Adds `model.safetensors.index.json`, which a sharded model needs so that it can be
    /// checked before its shards are downloaded.
    pub fn with_index(mut self, index_json: &[u8]) -> Result<Self> {
        let Source::Hf(source) = &mut self.source else {
            return Err(Error::InvalidRequest(
                "a safetensors index only applies to Hugging Face models".into(),
            ));
        };
        source.set_index(ShardIndex::parse(index_json)?)?;
        Ok(self)
    }

    /// Starts the next file (a safetensors shard; optional for GGUF, a single file). A
    /// sharded model's `Ready` comes from its index, with the first `feed` of the first file.
    pub fn begin_file(&mut self, name: &str) -> Result<()> {
        match &mut self.source {
            Source::Gguf(g) => g.begin_file(),
            Source::Hf(h) => h.begin_file(name),
        }
    }

    /// The length of the current file, when known, so that sizes and offsets past its end
    /// are rejected before their bytes are awaited. Call before feeding the file's bytes.
    pub fn set_file_len(&mut self, len: u64) -> Result<()> {
        let accepted = match &mut self.source {
            Source::Gguf(g) => g.set_file_len(len),
            Source::Hf(h) => h.set_file_len(len),
        };
        match accepted {
            true => Ok(()),
            false => Err(Error::InvalidRequest(
                "the file length must be set before the file's bytes".into(),
            )),
        }
    }

    /// Consumes the next chunk of the current file.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<LoadEvent>> {
        if self.failed {
            return Err(failed_before());
        }
        let result = match &mut self.source {
            Source::Gguf(g) => g.feed(chunk),
            Source::Hf(h) => h.feed(chunk),
        };
        self.failed = result.is_err();
        result
    }

    /// Checks that every file and every tensor arrived complete.
    pub fn finish(&mut self) -> Result<()> {
        if self.failed {
            return Err(failed_before());
        }
        match &mut self.source {
            Source::Gguf(g) => g.finish(),
            Source::Hf(h) => h.finish(),
        }
    }
}

fn failed_before() -> Error {
    Error::InvalidRequest("the model loader already failed".into())
}
