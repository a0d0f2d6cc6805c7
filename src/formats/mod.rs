//! Model file formats: bytes in, tensors and metadata out. This module is a leaf: it knows
//! file layouts (GGUF, safetensors, the Hugging Face JSON files, ggml block layouts) and
//! no model; `model::loader` gives the tensors their roles. Both tensor readers are push
//! parsers: they are fed byte chunks of any size and hand out tensors one at a time as
//! their bytes complete, so a browser can stream a file through them without ever holding
//! the whole model.
//!
//! Conventions shared by every reader:
//! - Tensor shapes are row-major, outermost dimension first (PyTorch order). A linear
//!   weight is `[out_features, in_features]`. (GGUF stores `ne` innermost-first; the GGUF
//!   reader reverses it.)
//! - Tensor names are as the file spells them; the model loader maps Hugging Face names
//!   onto canonical GGUF names.

pub mod gguf;
pub mod hf;
pub mod metadata;
pub mod quant;
pub mod safetensors;
mod tensor_stream;
pub use tensor_stream::PIECE_ROW_MULTIPLE;

pub use metadata::{MetaValue, Metadata, StringArray};

use crate::error::{Error, Result};

/// Element type of a tensor as stored in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// ggml's names (`Q4_K`), so that the types read as every GGUF tool prints them.
#[allow(non_camel_case_types)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
    /// A ggml type whose block size is known but which hearth cannot decode (Q2_K, the IQ
    /// types, integer tensors, ...): a file holding it can be described, and runs as long
    /// as the model does not use such a tensor.
    Unsupported(GgmlType),
}

impl DType {
    /// Elements per quantization block (1 for plain floats).
    pub fn block_len(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 => 32,
            DType::Q4_K | DType::Q5_K | DType::Q6_K => 256,
            DType::Unsupported(t) => t.block_len(),
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
            DType::Q5_0 => 22,
            DType::Q5_1 => 24,
            DType::Q4_K => 144,
            DType::Q5_K => 176,
            DType::Q6_K => 210,
            DType::Unsupported(t) => t.block_bytes(),
        }
    }

    /// Bytes taken by `n_elements` elements; an error when they do not fill whole blocks
    /// or the size overflows.
    pub fn bytes_for(self, n_elements: usize) -> Result<usize> {
        if !n_elements.is_multiple_of(self.block_len()) {
            return Err(Error::Malformed(format!(
                "{n_elements} elements do not fill whole {} blocks of {}",
                self.name(),
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
            DType::Q5_0 => "Q5_0",
            DType::Q5_1 => "Q5_1",
            DType::Q4_K => "Q4_K",
            DType::Q5_K => "Q5_K",
            DType::Q6_K => "Q6_K",
            DType::Unsupported(t) => t.name(),
        }
    }

    /// Whether hearth can decode (and so run) tensors of this type.
    pub fn is_supported(self) -> bool {
        !matches!(self, DType::Unsupported(_))
    }
}

/// A tensor type from ggml's type table, which fixes its block layout's size. It is an
/// index into the table and only the table builds one, so its sizes are always real (never
/// zero); being small keeps `DType` (in every tensor record) two bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType(u8);

impl GgmlType {
    /// The table entry of a ggml type id; `None` for ids that never had a layout or whose
    /// layout was withdrawn (4, 5, 31-33, 36-38).
    pub fn from_id(id: u32) -> Option<GgmlType> {
        let index = GGML_TYPES.iter().position(|t| t.id == id)?;
        u8::try_from(index).ok().map(GgmlType)
    }

    pub fn id(self) -> u32 {
        self.info().id
    }

    /// The name GGUF tools print (`Q2_K`, `IQ4_XS`, ...).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn block_len(self) -> usize {
        self.info().block_len
    }

    pub fn block_bytes(self) -> usize {
        self.info().block_bytes
    }

    fn info(self) -> &'static GgmlTypeInfo {
        // In range: `from_id` is the only constructor.
        &GGML_TYPES[usize::from(self.0)]
    }
}

impl std::fmt::Debug for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `Q2_K (ggml type 10)`: the name and the id, for messages.
impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (ggml type {})", self.name(), self.id())
    }
}

struct GgmlTypeInfo {
    id: u32,
    name: &'static str,
    block_len: usize,
    block_bytes: usize,
}

/// ggml's type table (`type_traits` in ggml.c; sizes are those of the block structs in
/// ggml-common.h): id, name, elements per block, bytes per block.
const GGML_TYPES: &[GgmlTypeInfo] = &[
    ggml(0, "F32", 1, 4),
    ggml(1, "F16", 1, 2),
    ggml(2, "Q4_0", 32, 18),
    ggml(3, "Q4_1", 32, 20),
    ggml(6, "Q5_0", 32, 22),
    ggml(7, "Q5_1", 32, 24),
    ggml(8, "Q8_0", 32, 34),
    ggml(9, "Q8_1", 32, 36),
    ggml(10, "Q2_K", 256, 84),
    ggml(11, "Q3_K", 256, 110),
    ggml(12, "Q4_K", 256, 144),
    ggml(13, "Q5_K", 256, 176),
    ggml(14, "Q6_K", 256, 210),
    ggml(15, "Q8_K", 256, 292),
    ggml(16, "IQ2_XXS", 256, 66),
    ggml(17, "IQ2_XS", 256, 74),
    ggml(18, "IQ3_XXS", 256, 98),
    ggml(19, "IQ1_S", 256, 50),
    ggml(20, "IQ4_NL", 32, 18),
    ggml(21, "IQ3_S", 256, 110),
    ggml(22, "IQ2_S", 256, 82),
    ggml(23, "IQ4_XS", 256, 136),
    ggml(24, "I8", 1, 1),
    ggml(25, "I16", 1, 2),
    ggml(26, "I32", 1, 4),
    ggml(27, "I64", 1, 8),
    ggml(28, "F64", 1, 8),
    ggml(29, "IQ1_M", 256, 56),
    ggml(30, "BF16", 1, 2),
    ggml(34, "TQ1_0", 256, 54),
    ggml(35, "TQ2_0", 256, 66),
    ggml(39, "MXFP4", 32, 17),
    ggml(40, "NVFP4", 64, 36),
    ggml(41, "Q1_0", 128, 18),
];

const fn ggml(id: u32, name: &'static str, block_len: usize, block_bytes: usize) -> GgmlTypeInfo {
    GgmlTypeInfo {
        id,
        name,
        block_len,
        block_bytes,
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

/// A tensor whose bytes are complete, or a piece of whole rows of one (readers cut large
/// tensors into pieces when asked to, so that no buffer holds a whole one): raw, exactly as
/// stored in the file.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    /// The shape of what `data` holds: a piece has the rows it holds in `shape[0]`.
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
    /// `None` for a whole tensor.
    pub piece: Option<Piece>,
}

/// Where a piece of a tensor lies: rows `first_row..first_row + shape[0]` of `total_rows`.
/// Pieces of a tensor arrive in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub first_row: usize,
    pub total_rows: usize,
}

impl Tensor {
    /// The first row this holds (0 for a whole tensor).
    pub fn first_row(&self) -> usize {
        self.piece.map_or(0, |p| p.first_row)
    }

    /// Whether this is a whole tensor or its last piece.
    pub fn ends_tensor(&self) -> bool {
        match self.piece {
            None => true,
            Some(p) => p.first_row + self.shape.first().copied().unwrap_or(0) >= p.total_rows,
        }
    }
}
