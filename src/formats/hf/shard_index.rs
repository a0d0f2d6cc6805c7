//! `model.safetensors.index.json`: the shard files of a model split into several
//! safetensors files, and which tensor each holds.

use std::collections::{BTreeMap, BTreeSet};

use super::{field, parse_object};
use crate::error::{Error, Result};

/// The shard files of a `model.safetensors.index.json`, and which tensor each holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardIndex {
    /// Hugging Face tensor name → file name.
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    pub fn parse(bytes: &[u8]) -> Result<ShardIndex> {
        let map = parse_object(bytes, "model.safetensors.index.json")?;
        let weight_map =
            field(&map, "weight_map").ok_or_else(|| Error::MissingKey("weight_map".into()))?;
        let weight_map: BTreeMap<String, String> = serde_json::from_value(weight_map.clone())
            .map_err(|e| {
                Error::InvalidConfig(format!("model.safetensors.index.json weight_map: {e}"))
            })?;
        Ok(ShardIndex { weight_map })
    }

    /// The distinct shard files, sorted (the `-0000N-of-0000M` names sort in order).
    pub fn files(&self) -> Vec<String> {
        let files: BTreeSet<&String> = self.weight_map.values().collect();
        files.into_iter().cloned().collect()
    }
}
