//! Rotary position embedding: how a head's dimensions pair up, and the table of angles,
//! shared by the GPU forward pass (which uploads it once at load) and the CPU reference
//! (which reads one row per position), so that both rotate by exactly the same angles.

use serde::{Deserialize, Serialize};

/// How rotary position embedding pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RopeStyle {
    /// Adjacent pairs (0,1),(2,3),... — GGUF llama-arch files, whose converter permuted Q/K.
    Pairwise,
    /// Halves (i, i + d/2) — Hugging Face checkpoints, and GGUF Qwen2 ("NEOX" style).
    RotateHalf,
}

/// The rotary table `[n_ctx, head_dim / 2]` of `(cos, sin)` of `pos · theta^(-2i/head_dim)`,
/// computed in f64 (the GPU reads the same table).
pub fn rope_table(theta: f32, head_dim: usize, n_ctx: usize) -> Vec<[f32; 2]> {
    (0..n_ctx)
        .flat_map(|pos| rope_row(theta, head_dim, pos))
        .collect()
}

/// One position's row of [`rope_table`]: `[head_dim / 2]` of `(cos, sin)`.
pub fn rope_row(theta: f32, head_dim: usize, pos: usize) -> Vec<[f32; 2]> {
    (0..head_dim / 2)
        .map(|i| {
            let freq = f64::from(theta).powf(-2.0 * i as f64 / head_dim as f64);
            let angle = pos as f64 * freq;
            [angle.cos() as f32, angle.sin() as f32]
        })
        .collect()
}
