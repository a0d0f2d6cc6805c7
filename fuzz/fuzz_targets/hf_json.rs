//! The JSON files of a Hugging Face model folder: `config.json`, `tokenizer_config.json`
//! and `model.safetensors.index.json`, given as the input's parts split at NUL bytes (JSON
//! text holds no raw NUL). Checks that they never panic or over-allocate and that an
//! accepted config.json is a valid configuration.

#![no_main]

use hearth::formats::hf::{HfTokenizerConfig, ShardIndex};
use hearth::model::hf_config::{config_from_hf, hf_metadata, torch_dtype};
use hearth::model::tensors::expected_tensors;
use hearth_fuzz::budget::limit_heap;
use libfuzzer_sys::fuzz_target;

/// Heap per input byte: a document as `serde_json::Value`s (a two-byte `[]` becomes a
/// 32-byte value, doubled while its array grows), and maps copied out of it.
const HEAP_PER_INPUT_BYTE: usize = 128;
const HEAP_BASE: usize = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let _limit = limit_heap(HEAP_BASE + HEAP_PER_INPUT_BYTE * data.len());
    let mut parts = data.splitn(3, |&b| b == 0);
    let config_json = parts.next().unwrap_or_default();
    let tokenizer_config_json = parts.next().unwrap_or_default();
    let index_json = parts.next().unwrap_or_default();

    if let Ok(config) = config_from_hf(config_json) {
        config
            .validate()
            .expect("config_from_hf accepted an invalid config");
        let metadata = hf_metadata(&config);
        assert!(metadata.contains("general.architecture"));
        // The tensors the loader will ask for: shapes from the accepted sizes.
        let _ = expected_tensors(&config);
    }
    let _ = torch_dtype(config_json);

    if let Ok(tokenizer_config) = HfTokenizerConfig::parse(tokenizer_config_json) {
        let _ = tokenizer_config.chat_template.map(|t| t.len());
    }

    if let Ok(index) = ShardIndex::parse(index_json) {
        assert!(index.files().len() <= index.weight_map.len());
    }
});
