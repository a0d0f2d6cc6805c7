//! What the loader knows about a model before its tensor bytes arrive, whichever format it
//! came in, and the two things every caller builds from it: the tokenizer and the chat
//! template's source.

use crate::error::Result;
use crate::formats::gguf::CHAT_TEMPLATE_KEY;
use crate::formats::hf::HfTokenizerConfig;
use crate::formats::{Metadata, TensorInfo};
use crate::model::config::ModelConfig;
use crate::tokenizer::Tokenizer;

/// Everything known about a model before its tensor bytes arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelHeader {
    pub config: ModelConfig,
    /// GGUF metadata; for Hugging Face models, the few keys config.json gives
    /// (`general.architecture`, `general.name`).
    pub metadata: Metadata,
    /// The contents of `tokenizer.json` (Hugging Face models only; GGUF files carry their
    /// tokenizer in `metadata`).
    pub tokenizer_json: Option<String>,
    /// The settings of `tokenizer_config.json` (Hugging Face models only, defaults when
    /// the folder has none): special tokens, whether BOS is prepended, the chat template.
    pub hf_tokenizer: Option<HfTokenizerConfig>,
    /// Canonical names. For sharded safetensors the index lists only names, so these are
    /// the architecture's expected shapes (verified as each shard's header arrives), the
    /// dtype is config.json's `torch_dtype`, and offsets are 0.
    pub tensors: Vec<TensorInfo>,
    /// `"gguf"` or `"safetensors"`.
    pub source_format: &'static str,
}

impl ModelHeader {
    /// The model's own chat template, if it has one: tokenizer_config.json's for a Hugging
    /// Face model, `tokenizer.chat_template` for a GGUF file (an error if that key is not a
    /// string).
    pub fn chat_template(&self) -> Result<Option<&str>> {
        match &self.hf_tokenizer {
            Some(hf) => Ok(hf.chat_template.as_deref()),
            None => self.metadata.opt_str(CHAT_TEMPLATE_KEY),
        }
    }

    /// The tokenizer the model's files describe: a Hugging Face model's tokenizer.json with
    /// the special tokens its tokenizer_config.json names, or the one built into a GGUF
    /// file.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        match &self.tokenizer_json {
            Some(json) => Tokenizer::from_hf(json.as_bytes(), self.hf_tokenizer.as_ref()),
            None => Tokenizer::from_gguf(&self.metadata),
        }
    }
}
