//! Model architectures: a `ModelConfig` plus named tensors mapped to roles.

pub mod arch;
pub mod config;
pub mod convert;
pub mod forward;
pub mod fused;
pub mod header;
pub mod hf_config;
pub mod loader;
pub mod rope;
pub mod tensors;

pub use arch::Arch;
pub use config::ModelConfig;
pub use header::ModelHeader;
pub use rope::RopeStyle;
