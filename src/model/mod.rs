//! Model architectures: a `ModelConfig` plus named tensors mapped to roles.

pub mod config;
pub mod llama;
pub mod rope;
pub mod tensors;

pub use config::{Arch, ModelConfig, RopeStyle};
