//! The JSON files of a Hugging Face model folder, as raw contents: which shard holds which
//! tensor (`model.safetensors.index.json`) and the tokenizer settings
//! (`tokenizer_config.json`). What `config.json` means for a model is the model's business
//! (`model::hf_config`); this module only offers the JSON reading it shares.

mod shard_index;
mod tokenizer_config;

pub use shard_index::ShardIndex;
pub use tokenizer_config::HfTokenizerConfig;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The top-level object of a JSON file; anything else is an invalid configuration named
/// after `file`.
pub fn parse_object(bytes: &[u8], file: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::InvalidConfig(format!("{file} is not a JSON object"))),
        Err(e) => Err(Error::InvalidConfig(format!("{file}: {e}"))),
    }
}

/// A field of a JSON object; `null` counts as absent, as transformers writes unset options.
pub fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}
