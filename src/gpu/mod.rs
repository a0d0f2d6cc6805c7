//! GPU: device, weights, kernels.

pub mod context;
pub mod kernels;
pub mod params;
pub mod weights;

pub use context::GpuContext;
pub use weights::{GpuMatrix, GpuVector, MatrixShard};
