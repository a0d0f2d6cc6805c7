//! safetensors push reader.
//!
//! Layout: u64 LE header length N, N bytes of JSON
//! `{"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, ...,
//! "__metadata__": {"k": "v"}}`, then the data section; offsets are relative to its start.
//! Names are reported as stored (Hugging Face names); mapping them is the loader's job.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::formats::tensor_stream::TensorStream;
use crate::formats::{DType, Tensor, TensorInfo};

/// safetensors' own limit on the JSON header.
pub const MAX_HEADER_BYTES: u64 = 100 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct SafetensorsHeader {
    /// The `__metadata__` map (string to string), empty when absent.
    pub metadata: BTreeMap<String, String>,
    /// In offset order; offsets relative to `data_offset`.
    pub tensors: Vec<TensorInfo>,
    /// Absolute file offset of the data section (8 + header length).
    pub data_offset: u64,
}

#[derive(Debug, Clone)]
pub enum SafetensorsEvent {
    Header(SafetensorsHeader),
    Tensor(Tensor),
}

/// Push reader for one safetensors file: feed chunks of any size.
pub struct SafetensorsReader {
    file_len: Option<u64>,
    /// Bytes of the length prefix and JSON header received so far; never more than the
    /// header, so the data section is not copied through it.
    pending: Vec<u8>,
    data: Option<TensorStream>,
    /// Set by the first error: the parse state is then not to be trusted.
    failed: bool,
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

impl Default for SafetensorsReader {
    fn default() -> Self {
        Self::new()
    }
}

impl SafetensorsReader {
    pub fn new() -> Self {
        SafetensorsReader {
            file_len: None,
            pending: Vec::new(),
            data: None,
            failed: false,
        }
    }

    /// A reader that knows the file length and so rejects offsets past its end up front.
    pub fn with_file_len(file_len: u64) -> Self {
        SafetensorsReader {
            file_len: Some(file_len),
            ..Self::new()
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SafetensorsEvent>> {
        if self.failed {
            return Err(Error::InvalidRequest(
                "the safetensors reader already failed".into(),
            ));
        }
        let result = self.feed_inner(chunk);
        self.failed = result.is_err();
        result
    }

    fn feed_inner(&mut self, mut chunk: &[u8]) -> Result<Vec<SafetensorsEvent>> {
        if let Some(data) = self.data.as_mut() {
            let mut tensors = Vec::new();
            data.consume(chunk, &mut tensors);
            return Ok(tensors.into_iter().map(SafetensorsEvent::Tensor).collect());
        }
        if self.pending.len() < 8 {
            let take = (8 - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        match self.header_total()? {
            Some(total) => self.feed_header(total, chunk),
            None => Ok(Vec::new()),
        }
    }

    /// Length prefix plus JSON, once the prefix has arrived.
    fn header_total(&self) -> Result<Option<u64>> {
        let Some(prefix) = self.pending.get(..8) else {
            return Ok(None);
        };
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(prefix);
        let n = u64::from_le_bytes(bytes);
        if n > MAX_HEADER_BYTES {
            return Err(Error::Malformed(format!(
                "safetensors header length {n} exceeds {MAX_HEADER_BYTES} bytes"
            )));
        }
        if let Some(len) = self.file_len {
            if 8 + n > len {
                return Err(Error::Malformed(format!(
                    "safetensors header length {n} exceeds the {len}-byte file"
                )));
            }
        }
        Ok(Some(8 + n))
    }

    fn feed_header(&mut self, total: u64, chunk: &[u8]) -> Result<Vec<SafetensorsEvent>> {
        let want = (total as usize).saturating_sub(self.pending.len());
        let take = want.min(chunk.len());
        self.pending.extend_from_slice(&chunk[..take]);
        if (self.pending.len() as u64) < total {
            return Ok(Vec::new());
        }
        let header = parse_header(&self.pending[8..], total, self.file_len)?;
        self.pending = Vec::new();
        let mut data = TensorStream::new(
            header.tensors.clone(),
            header.data_offset,
            header.data_offset,
            self.file_len.is_some(),
        );
        let mut tensors = Vec::new();
        data.consume(&chunk[take..], &mut tensors);
        self.data = Some(data);
        let mut events = vec![SafetensorsEvent::Header(header)];
        events.extend(tensors.into_iter().map(SafetensorsEvent::Tensor));
        Ok(events)
    }

    /// An error when the header or a tensor did not complete.
    pub fn finish(&self) -> Result<()> {
        let Some(data) = &self.data else {
            return Err(Error::Truncated(format!(
                "safetensors header incomplete after {} bytes",
                self.pending.len()
            )));
        };
        match data.incomplete() {
            None => Ok(()),
            Some(t) => Err(Error::Truncated(format!(
                "safetensors tensor '{}' incomplete: file ended at byte {}",
                t.name,
                data.pos()
            ))),
        }
    }
}

/// The element type for a safetensors dtype string.
pub fn dtype_from_safetensors(name: &str) -> Option<DType> {
    match name {
        "F32" => Some(DType::F32),
        "F16" => Some(DType::F16),
        "BF16" => Some(DType::BF16),
        _ => None,
    }
}

/// Parses and validates the JSON header (`json` excludes the length prefix).
fn parse_header(json: &[u8], data_offset: u64, file_len: Option<u64>) -> Result<SafetensorsHeader> {
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| Error::Malformed(format!("safetensors header is not a JSON object: {e}")))?;
    let data_len = file_len.map(|len| len.saturating_sub(data_offset));
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            metadata = serde_json::from_value(value).map_err(|e| {
                Error::Malformed(format!("safetensors __metadata__ is not a string map: {e}"))
            })?;
            continue;
        }
        let entry: RawEntry = serde_json::from_value(value)
            .map_err(|e| Error::Malformed(format!("safetensors entry '{name}': {e}")))?;
        tensors.push(tensor_info(name, entry, data_len)?);
    }
    tensors.sort_by_key(|t| t.offset);
    for pair in tensors.windows(2) {
        if let [a, b] = pair {
            if a.offset + a.size as u64 > b.offset {
                return Err(Error::Malformed(format!(
                    "safetensors tensors '{}' and '{}' overlap",
                    a.name, b.name
                )));
            }
        }
    }
    Ok(SafetensorsHeader {
        metadata,
        tensors,
        data_offset,
    })
}

fn tensor_info(name: String, entry: RawEntry, data_len: Option<u64>) -> Result<TensorInfo> {
    let dtype =
        dtype_from_safetensors(&entry.dtype).ok_or_else(|| Error::UnsupportedTensorType {
            tensor: name.clone(),
            dtype: entry.dtype.clone(),
        })?;
    let shape = entry
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| Error::Malformed(format!("tensor '{name}' dimension overflows")))?;
    let size = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(dtype.block_bytes()))
        .ok_or_else(|| Error::Malformed(format!("tensor '{name}' size overflows")))?;
    let [begin, end] = entry.data_offsets;
    if end < begin || end - begin != size as u64 {
        return Err(Error::Malformed(format!(
            "tensor '{name}' data_offsets [{begin}, {end}] do not span its {size} bytes"
        )));
    }
    if let Some(len) = data_len {
        if end > len {
            return Err(Error::Malformed(format!(
                "tensor '{name}' ends at data byte {end}, past the {len} bytes of data"
            )));
        }
    }
    Ok(TensorInfo {
        name,
        dtype,
        shape,
        offset: begin,
        size,
    })
}
