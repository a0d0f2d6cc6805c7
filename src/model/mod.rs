//! Model architectures: a `ModelConfig` plus named tensors mapped to roles.

pub mod config;

pub use config::{Arch, ModelConfig, RopeStyle};
