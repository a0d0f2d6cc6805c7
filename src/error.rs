//! The one error type of hearth. Every problem that input (a model file, a tokenizer, a
//! template, a request) can cause has a variant here; nothing derived from input panics.

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// The input ended before a complete structure was read.
    #[error("the file is truncated: {0}")]
    Truncated(String),
    /// The first bytes are not what the format requires.
    #[error("not a {format} file (bad magic {found:#010x})")]
    BadMagic { format: &'static str, found: u32 },
    #[error("unsupported {format} version {version}")]
    UnsupportedVersion { format: &'static str, version: u32 },
    #[error("tensor '{tensor}' has unsupported type {dtype}")]
    UnsupportedTensorType { tensor: String, dtype: String },
    /// Structurally invalid input: counts, offsets or sizes that make no sense.
    #[error("malformed model file: {0}")]
    Malformed(String),
    #[error("metadata key '{0}' is missing")]
    MissingKey(String),
    #[error("metadata key '{key}' has the wrong type (expected {expected})")]
    WrongType { key: String, expected: &'static str },
    #[error("tensor '{0}' is missing from the model")]
    MissingTensor(String),
    #[error("tensor '{tensor}' has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("unsupported model architecture '{0}'")]
    UnsupportedArchitecture(String),
    /// A known architecture with a variant hearth does not run yet (e.g. a rope scaling
    /// kind): refused rather than run wrongly.
    #[error("the model uses {0}, which hearth does not run yet")]
    UnsupportedFeature(String),
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    #[error("GPU: {0}")]
    Gpu(String),
    /// The browser or driver took the GPU device away (driver reset, background tab,
    /// `device.destroy()`); a new device and a reload of the model bring the engine back.
    #[error("the GPU device was lost: {0}")]
    GpuLost(String),
    /// The model (or its context) needs more than the device allows.
    #[error("the model does not fit on this device: {0}")]
    DoesNotFit(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("the prompt has {needed} tokens but the context holds {limit}")]
    ContextOverflow { needed: usize, limit: usize },
    #[error("I/O: {0}")]
    Io(String),
    /// The grammar of a `response_format` (or a required tool call) failed while decoding.
    #[error("structured output: {0}")]
    Grammar(String),
    #[error("generation was aborted")]
    Aborted,
}

impl Error {
    /// A stable machine-readable code, sent across the worker boundary so JS can rebuild
    /// a typed error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Truncated(_) => "truncated",
            Error::BadMagic { .. } => "bad_magic",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::UnsupportedTensorType { .. } => "unsupported_tensor_type",
            Error::Malformed(_) => "malformed",
            Error::MissingKey(_) => "missing_key",
            Error::WrongType { .. } => "wrong_type",
            Error::MissingTensor(_) => "missing_tensor",
            Error::ShapeMismatch { .. } => "shape_mismatch",
            Error::UnsupportedArchitecture(_) => "unsupported_architecture",
            Error::UnsupportedFeature(_) => "unsupported_feature",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Tokenizer(_) => "tokenizer",
            Error::Template(_) => "template",
            Error::NoAdapter(_) => "no_adapter",
            Error::Gpu(_) => "gpu",
            Error::GpuLost(_) => "gpu_lost",
            Error::DoesNotFit(_) => "does_not_fit",
            Error::InvalidRequest(_) => "invalid_request",
            Error::ContextOverflow { .. } => "context_overflow",
            Error::Io(_) => "io",
            Error::Grammar(_) => "grammar",
            Error::Aborted => "aborted",
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
