//! hearth: an LLM engine that runs in the browser. Rust compiled to WebAssembly drives
//! WebGPU through wgpu; WGSL compute shaders run the transformer. The same code runs
//! natively (wgpu on Vulkan/Metal/DX12) as the `hearth` CLI.
//!
//! The path of one token: model bytes → [`formats`] (push parsers) → [`gpu`] weights →
//! [`model`] forward pass (kernels in `shaders/`) → [`sampler`] → [`tokenizer`] → [`engine`].

pub mod backend;
pub mod chat;
pub mod engine;
pub mod error;
pub mod formats;
pub mod gpu;
pub mod grammar;
pub mod model;
pub mod reference;
pub mod sampler;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
