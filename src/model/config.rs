//! One `ModelConfig` for every supported architecture: architectures differ by flags here
//! wherever they can.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// Llama, SmolLM2, Mistral (no biases, RMSNorm, SiLU-gated FFN).
    Llama,
    /// Qwen2: like Llama plus biases on Q, K and V.
    Qwen2,
}

/// How rotary position embedding pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RopeStyle {
    /// Adjacent pairs (0,1),(2,3),... — GGUF llama-arch files, whose converter permuted Q/K.
    Pairwise,
    /// Halves (i, i + d/2) — Hugging Face checkpoints, and GGUF Qwen2 ("NEOX" style).
    RotateHalf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Human-readable name, when the file has one.
    pub name: Option<String>,
    pub n_vocab: usize,
    /// Hidden size (`n_embd`).
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// FFN inner size.
    pub n_ff: usize,
    /// Context length the model was trained for.
    pub n_ctx_train: usize,
    pub rope_theta: f32,
    pub rope_style: RopeStyle,
    pub norm_eps: f32,
    /// The LM head reuses the token embedding (no `output.weight`).
    pub tied_embeddings: bool,
    /// Q, K and V projections carry biases (Qwen2).
    pub qkv_bias: bool,
}

impl ModelConfig {
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}
