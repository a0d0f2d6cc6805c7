//! Model file formats. Both readers are push parsers: they are fed byte chunks of any size
//! and hand out tensors one at a time as their bytes complete, so a browser can stream a
//! file through them without ever holding the whole model.
//!
//! Conventions shared by every reader:
//! - Tensor shapes are row-major, outermost dimension first (PyTorch order). A linear
//!   weight is `[out_features, in_features]`. (GGUF stores `ne` innermost-first; the GGUF
//!   reader reverses it.)
//! - Tensor names are canonical GGUF names (`token_embd.weight`, `blk.3.attn_q.weight`,
//!   `output_norm.weight`, ...). The safetensors reader maps Hugging Face names onto them.

pub mod convert;
pub mod gguf;
pub mod hf;
pub mod loader;
pub mod metadata;
pub mod quant;
pub mod safetensors;
mod tensor_stream;

pub use metadata::{MetaValue, Metadata};

use crate::error::{Error, Result};

/// Element type of a tensor as stored in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
}

impl DType {
    /// Elements per quantization block (1 for plain floats).
    pub fn block_len(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 => 32,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 => 34,
            DType::Q4_0 => 18,
            DType::Q4_1 => 20,
        }
    }

    /// Bytes taken by `n_elements` elements; an error when they do not fill whole blocks
    /// or the size overflows.
    pub fn bytes_for(self, n_elements: usize) -> Result<usize> {
        if !n_elements.is_multiple_of(self.block_len()) {
            return Err(Error::Malformed(format!(
                "{n_elements} elements do not fill whole {self:?} blocks of {}",
                self.block_len()
            )));
        }
        (n_elements / self.block_len())
            .checked_mul(self.block_bytes())
            .ok_or_else(|| Error::Malformed("tensor size overflows".into()))
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::Q8_0 => "Q8_0",
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
        }
    }
}

/// Where a tensor lives in a file, before its bytes arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    /// Row-major, outermost first.
    pub shape: Vec<usize>,
    /// Byte offset from the start of the file's data section.
    pub offset: u64,
    /// Size in bytes.
    pub size: usize,
}

impl TensorInfo {
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A tensor whose bytes are complete: raw, exactly as stored in the file.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}
