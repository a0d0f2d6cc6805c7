//! The Hugging Face side of the loader: config.json and the tokenizer files up front, then
//! the safetensors files (one, or shards listed by an index) whose tensors are renamed to
//! canonical names through the architecture's table and checked against it.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::formats::hf::{HfTokenizerConfig, ShardIndex};
use crate::formats::safetensors::{SafetensorsEvent, SafetensorsReader};
use crate::formats::{DType, Metadata, Tensor, TensorInfo};
use crate::model::arch::Role;
use crate::model::config::ModelConfig;
use crate::model::fused::{part_names, split_infos, split_tensor};
use crate::model::header::ModelHeader;
use crate::model::hf_config as hf;
use crate::model::tensors::{check_tensors, expected_tensors, shape_matches};

use super::LoadEvent;

pub(super) struct HfSource {
    config: ModelConfig,
    metadata: Metadata,
    tokenizer_json: String,
    tokenizer: HfTokenizerConfig,
    /// `torch_dtype` from config.json, for the provisional index of sharded models.
    declared_dtype: DType,
    files: Vec<String>,
    index: Option<ShardIndex>,
    /// The file being read and its reader.
    current: Option<(String, SafetensorsReader, u64)>,
    files_begun: HashSet<String>,
    ready_sent: bool,
    /// Canonical name → expected shape.
    expected: HashMap<String, Vec<usize>>,
    /// Canonical names whose shard header has been seen.
    seen: HashSet<String>,
    /// Tensors that config.json holds (LongRoPE's factors), handed out after `Ready`.
    from_config: Vec<Tensor>,
}

impl HfSource {
    pub(super) fn new(
        config_json: &[u8],
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&[u8]>,
        files: Vec<String>,
    ) -> Result<Self> {
        let config = hf::config_from_hf(config_json)?;
        let tokenizer = match tokenizer_config_json {
            Some(bytes) => HfTokenizerConfig::parse(bytes)?,
            None => HfTokenizerConfig::default(),
        };
        let metadata = hf::hf_metadata(&config);
        let tokenizer_json = String::from_utf8(tokenizer_json.to_vec())
            .map_err(|_| Error::Tokenizer("tokenizer.json is not UTF-8".into()))?;
        if files.is_empty() {
            return Err(Error::InvalidConfig(
                "a Hugging Face model needs at least one safetensors file".into(),
            ));
        }
        let expected = expected_tensors(&config).into_iter().collect();
        let from_config = hf::rope_factor_tensors(config_json, &config)?;
        Ok(HfSource {
            declared_dtype: hf::torch_dtype(config_json)?.unwrap_or(DType::BF16),
            config,
            metadata,
            tokenizer_json,
            tokenizer,
            files,
            index: None,
            current: None,
            files_begun: HashSet::new(),
            ready_sent: false,
            expected,
            seen: from_config.iter().map(|t| t.name.clone()).collect(),
            from_config,
        })
    }

    /// `tensors` and the tensors of config.json.
    fn with_config_tensors(&self, mut tensors: Vec<TensorInfo>) -> Vec<TensorInfo> {
        tensors.extend(self.from_config.iter().map(|t| TensorInfo {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            offset: 0,
            size: t.data.len(),
        }));
        tensors
    }

    /// The `Ready` event for `tensors` (config.json's included), followed by config.json's
    /// tensors.
    fn ready(&mut self, tensors: Vec<TensorInfo>, out: &mut Vec<LoadEvent>) {
        out.push(LoadEvent::Ready(self.header(tensors)));
        out.extend(self.from_config.drain(..).map(LoadEvent::Tensor));
        self.ready_sent = true;
    }

    /// Takes the index of a sharded model, whose files must all be the model's.
    pub(super) fn set_index(&mut self, index: ShardIndex) -> Result<()> {
        if let Some(file) = index.files().into_iter().find(|f| !self.files.contains(f)) {
            return Err(Error::InvalidConfig(format!(
                "the safetensors index names '{file}', which is not among the model's files"
            )));
        }
        self.index = Some(index);
        Ok(())
    }

    /// `false` unless a file was begun and none of its bytes fed yet.
    pub(super) fn set_file_len(&mut self, len: u64) -> bool {
        match &mut self.current {
            Some((_, reader, 0)) => {
                *reader = SafetensorsReader::with_file_len(len);
                true
            }
            _ => false,
        }
    }

    fn header(&self, tensors: Vec<TensorInfo>) -> ModelHeader {
        ModelHeader {
            config: self.config.clone(),
            metadata: self.metadata.clone(),
            tokenizer_json: Some(self.tokenizer_json.clone()),
            hf_tokenizer: Some(self.tokenizer.clone()),
            tensors,
            source_format: "safetensors",
        }
    }

    pub(super) fn begin_file(&mut self, name: &str) -> Result<()> {
        if !self.files.iter().any(|f| f == name) {
            return Err(Error::InvalidRequest(format!(
                "'{name}' is not one of the model's safetensors files"
            )));
        }
        if !self.files_begun.insert(name.to_string()) {
            return Err(Error::InvalidRequest(format!("'{name}' was already read")));
        }
        if let Some((_, reader, _)) = &self.current {
            reader.finish()?;
        }
        self.current = Some((name.to_string(), SafetensorsReader::new(), 0));
        if self.files.len() > 1 && self.index.is_none() {
            return Err(needs_index());
        }
        Ok(())
    }

    /// The tensor list of a sharded model, from its index.
    fn index_tensors(&self) -> Result<Vec<TensorInfo>> {
        let Some(index) = &self.index else {
            return Err(needs_index());
        };
        let listed: HashSet<String> = index
            .weight_map
            .keys()
            .filter_map(|n| canonical_name(&self.config, n))
            .flat_map(|n| part_names(&self.config, &n))
            .collect();
        let mut tensors = Vec::new();
        for (name, shape) in expected_tensors(&self.config) {
            if self.from_config.iter().any(|t| t.name == name) {
                continue;
            }
            if !listed.contains(&name) {
                return Err(Error::MissingTensor(name));
            }
            let size = self
                .declared_dtype
                .bytes_for(shape.iter().product())
                .unwrap_or(0);
            tensors.push(TensorInfo {
                name,
                dtype: self.declared_dtype,
                shape,
                offset: 0,
                size,
            });
        }
        Ok(tensors)
    }

    pub(super) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<LoadEvent>> {
        let Some((file, reader, fed)) = self.current.as_mut() else {
            return Err(Error::InvalidRequest(
                "begin_file() must name a safetensors file before its bytes".into(),
            ));
        };
        *fed += chunk.len() as u64;
        let file = file.clone();
        let events = reader.feed(chunk)?;
        let mut out = Vec::new();
        if !self.ready_sent && self.files.len() > 1 {
            let tensors = self.with_config_tensors(self.index_tensors()?);
            self.ready(tensors, &mut out);
        }
        for event in events {
            match event {
                SafetensorsEvent::Header(header) => {
                    let tensors = self.map_shard(&file, header.tensors)?;
                    if !self.ready_sent {
                        let tensors = self.with_config_tensors(tensors);
                        check_tensors(&self.config, &tensors)?;
                        self.ready(tensors, &mut out);
                    }
                }
                SafetensorsEvent::Tensor(mut t) => {
                    let table = self.config.arch.table();
                    let Some(name) = canonical_name(&self.config, &t.name) else {
                        continue;
                    };
                    t.name = name;
                    if stored_transposed(&self.config, &t.name, t.shape.len()) {
                        t = transposed(t)?;
                    }
                    for mut part in split_tensor(&self.config, t)? {
                        let norm = table.role_of(&part.name).is_some_and(Role::is_norm);
                        if norm && table.hf_norm_offset != 0.0 {
                            part = offset_values(part, table.hf_norm_offset)?;
                        }
                        out.push(LoadEvent::Tensor(part));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Renames a shard's tensors to canonical names (dropping those the engine does not
    /// use) and checks their shapes against the architecture.
    fn map_shard(&mut self, file: &str, tensors: Vec<TensorInfo>) -> Result<Vec<TensorInfo>> {
        let mut renamed = Vec::with_capacity(tensors.len());
        for mut t in tensors {
            let Some(name) = canonical_name(&self.config, &t.name) else {
                continue;
            };
            t.name = name;
            if stored_transposed(&self.config, &t.name, t.shape.len()) {
                t.shape.reverse();
            }
            renamed.push(t);
        }
        let mut mapped = Vec::with_capacity(renamed.len());
        for t in split_infos(&self.config, renamed)? {
            if let Some(expected) = self.expected.get(&t.name) {
                if !shape_matches(expected, &t.shape) {
                    return Err(Error::ShapeMismatch {
                        tensor: t.name,
                        expected: expected.clone(),
                        found: t.shape,
                    });
                }
            }
            if !self.seen.insert(t.name.clone()) {
                return Err(Error::Malformed(format!(
                    "tensor '{}' appears twice (again in '{file}')",
                    t.name
                )));
            }
            mapped.push(t);
        }
        Ok(mapped)
    }

    pub(super) fn finish(&mut self) -> Result<()> {
        match &self.current {
            Some((_, reader, _)) => reader.finish()?,
            None => return Err(Error::Truncated("no safetensors file was read".into())),
        }
        if let Some(file) = self.files.iter().find(|f| !self.files_begun.contains(*f)) {
            return Err(Error::Truncated(format!(
                "safetensors file '{file}' was not read"
            )));
        }
        let mut missing: Vec<&String> = self
            .expected
            .keys()
            .filter(|n| !self.seen.contains(*n))
            .collect();
        missing.sort();
        match missing.first() {
            Some(name) => Err(Error::MissingTensor(name.to_string())),
            None => Ok(()),
        }
    }
}

/// The canonical name of a Hugging Face tensor, also under the `transformer.` prefix some
/// GPT-2 checkpoints have.
fn canonical_name(config: &ModelConfig, hf: &str) -> Option<String> {
    let table = config.arch.table();
    table.hf_to_gguf(hf).or_else(|| {
        hf.strip_prefix("transformer.")
            .and_then(|n| table.hf_to_gguf(n))
    })
}

/// Whether the file stores tensor `name` (canonical) as `[in, out]` (GPT-2's `Conv1D`): the
/// blocks' matrices of an architecture whose checkpoints do.
fn stored_transposed(config: &ModelConfig, name: &str, dims: usize) -> bool {
    config.arch.table().hf_transposed && dims == 2 && name.starts_with("blk.")
}

/// A whole `[a, b]` tensor of 2- or 4-byte values as `[b, a]`.
fn transposed(t: Tensor) -> Result<Tensor> {
    let (&[a, b], None) = (t.shape.as_slice(), t.piece) else {
        return Err(Error::Malformed(format!(
            "tensor '{}' cannot be transposed in pieces or with shape {:?}",
            t.name, t.shape
        )));
    };
    let size = match a.checked_mul(b).filter(|&n| n > 0) {
        Some(n) if t.data.len().is_multiple_of(n) && matches!(t.data.len() / n, 2 | 4) => {
            t.data.len() / n
        }
        _ => {
            return Err(Error::Malformed(format!(
                "tensor '{}' of {} bytes is not {a}×{b} 16- or 32-bit values",
                t.name,
                t.data.len()
            )))
        }
    };
    let mut data = vec![0u8; t.data.len()];
    for i in 0..a {
        for j in 0..b {
            let from = (i * b + j) * size;
            let to = (j * a + i) * size;
            data[to..to + size].copy_from_slice(&t.data[from..from + size]);
        }
    }
    Ok(Tensor {
        shape: vec![b, a],
        data,
        ..t
    })
}

/// `t` as f32 values with `offset` added to each (Gemma's norm weights are stored as
/// `w - 1`; GGUF files and the backends hold `w`).
fn offset_values(t: Tensor, offset: f32) -> Result<Tensor> {
    let values = crate::formats::quant::dequantize_f32(&t)?;
    Ok(Tensor {
        dtype: DType::F32,
        data: values
            .iter()
            .flat_map(|v| (v + offset).to_le_bytes())
            .collect(),
        ..t
    })
}

fn needs_index() -> Error {
    Error::InvalidConfig(
        "a model split into several safetensors files needs model.safetensors.index.json".into(),
    )
}
