//! GPU: device, weights, kernels.

pub mod context;
pub mod formats;
pub mod kernels;
pub mod params;
pub mod weights;

pub use context::{GpuContext, KernelShape};
pub use formats::GpuFormat;
pub use weights::{GpuMatrix, GpuVector, MatrixShard, RowLayout, RowMap};
