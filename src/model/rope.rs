//! Rotary position embedding: how a head's dimensions pair up, and the table of angles,
//! shared by the GPU forward pass (which uploads it once at load) and the CPU reference
//! (which reads one row per position), so that both rotate by exactly the same angles.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How rotary position embedding pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RopeStyle {
    /// Adjacent pairs (0,1),(2,3),... — GGUF llama-arch files, whose converter permuted Q/K.
    Pairwise,
    /// Halves (i, i + d/2) — Hugging Face checkpoints, and GGUF Qwen2 ("NEOX" style).
    RotateHalf,
}

/// How a model stretches rope to contexts longer than it was trained on (llama.cpp's
/// kinds; applied to global layers only).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum RopeScaling {
    #[default]
    None,
    /// Positions divided by `factor`.
    Linear { factor: f32 },
    /// YaRN: frequencies between the two correction dimensions blend from interpolated
    /// (divided by `factor`) to original; cos and sin grow by 1 + 0.1 ln(factor).
    Yarn {
        factor: f32,
        original_context: usize,
        beta_fast: f32,
        beta_slow: f32,
    },
    /// Llama 3's per-dimension divisors, computed from config.json's parameters (the rule
    /// llama.cpp's converter writes into `rope_freqs.weight`).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_context: usize,
    },
    /// Per-dimension divisors stored in the file (`rope_freqs.weight`, Llama 3.1+ GGUF).
    FreqFactors,
    /// LongRoPE (Phi-3): per-dimension divisors from the model, one set for contexts up to
    /// `original_context` and one for longer ones, and cos and sin scaled by `attn_factor`.
    LongRope {
        original_context: usize,
        attn_factor: f32,
    },
}

impl RopeScaling {
    /// Whether the per-dimension divisors come from the model's tensors.
    pub fn has_factors(self) -> bool {
        matches!(
            self,
            RopeScaling::FreqFactors | RopeScaling::LongRope { .. }
        )
    }
}

/// Every pair's angle per position, and the magnitude of cos and sin: what a rope table is
/// made of.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeFrequencies {
    /// `[head_dim / 2]` radians per position.
    pub freqs: Vec<f64>,
    pub magnitude: f64,
}

impl RopeFrequencies {
    /// Unscaled rope: pair i turns by `theta^(-2i/head_dim)` per position.
    pub fn plain(theta: f32, head_dim: usize) -> Self {
        let freqs = (0..head_dim / 2)
            .map(|i| f64::from(theta).powf(-2.0 * i as f64 / head_dim as f64))
            .collect();
        Self {
            freqs,
            magnitude: 1.0,
        }
    }

    /// No rotation at all (models with learned positions): every angle is 0.
    pub fn identity(head_dim: usize) -> Self {
        Self {
            freqs: vec![0.0; head_dim / 2],
            magnitude: 1.0,
        }
    }

    /// Rope of base `theta` stretched by `scaling`; `factors` are the model's per-dimension
    /// divisors when the scaling has them ([`RopeScaling::has_factors`]).
    pub fn scaled(
        theta: f32,
        head_dim: usize,
        scaling: RopeScaling,
        factors: Option<&[f32]>,
    ) -> Result<Self> {
        let mut r = Self::plain(theta, head_dim);
        match scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => {
                r.freqs.iter_mut().for_each(|f| *f /= f64::from(factor));
            }
            RopeScaling::Yarn {
                factor,
                original_context,
                beta_fast,
                beta_slow,
            } => {
                // ggml_rope_yarn_corr_dims and rope_yarn_ramp, in f64.
                let corr_dim = |n_rot: f32| {
                    head_dim as f64
                        * (original_context as f64
                            / (f64::from(n_rot) * 2.0 * std::f64::consts::PI))
                            .ln()
                        / (2.0 * f64::from(theta).ln())
                };
                let low = corr_dim(beta_fast).floor().max(0.0);
                let high = corr_dim(beta_slow).ceil().min(head_dim as f64 - 1.0);
                let scale = 1.0 / f64::from(factor);
                for (i, f) in r.freqs.iter_mut().enumerate() {
                    let y = (i as f64 - low) / (high - low).max(0.001);
                    let ramp = 1.0 - y.clamp(0.0, 1.0);
                    *f *= scale * (1.0 - ramp) + ramp;
                }
                r.magnitude = 1.0 + 0.1 * f64::from(factor).ln();
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_context,
            } => {
                let divisors = llama3_factors(
                    &r.freqs,
                    factor,
                    low_freq_factor,
                    high_freq_factor,
                    original_context,
                );
                r.freqs.iter_mut().zip(divisors).for_each(|(f, d)| *f /= d);
            }
            RopeScaling::FreqFactors => divide_by_factors(&mut r.freqs, factors)?,
            RopeScaling::LongRope { attn_factor, .. } => {
                divide_by_factors(&mut r.freqs, factors)?;
                if !(attn_factor.is_finite() && attn_factor > 0.0) {
                    return Err(Error::InvalidConfig(format!(
                        "rope attention factor {attn_factor} is not a positive number"
                    )));
                }
                r.magnitude = f64::from(attn_factor);
            }
        }
        Ok(r)
    }

    /// The rotary table `[n_ctx, head_dim / 2]` of `(cos, sin)` (the GPU's).
    pub fn table(&self, n_ctx: usize) -> Vec<[f32; 2]> {
        (0..n_ctx).flat_map(|pos| self.row(pos)).collect()
    }

    /// One position's `(cos, sin)` per pair, in f64 rounded to f32.
    pub fn row(&self, pos: usize) -> Vec<[f32; 2]> {
        self.freqs
            .iter()
            .map(|f| {
                let angle = pos as f64 * f;
                let m = self.magnitude;
                [(angle.cos() * m) as f32, (angle.sin() * m) as f32]
            })
            .collect()
    }
}

/// Divides each frequency by the model's factor for it.
fn divide_by_factors(freqs: &mut [f64], factors: Option<&[f32]>) -> Result<()> {
    let n = freqs.len();
    let factors = factors.filter(|f| f.len() == n).ok_or_else(|| {
        Error::InvalidConfig(format!("rope frequency factors must be head_dim / 2 = {n}"))
    })?;
    for (f, d) in freqs.iter_mut().zip(factors) {
        if !(d.is_finite() && *d > 0.0) {
            return Err(Error::InvalidConfig(format!(
                "rope frequency factor {d} is not a positive number"
            )));
        }
        *f /= f64::from(*d);
    }
    Ok(())
}

/// Llama 3's divisor per frequency (transformers' `_compute_llama3_parameters`): 1 for
/// short wavelengths, `factor` for long ones, a smooth blend between.
fn llama3_factors(
    freqs: &[f64],
    factor: f32,
    low_freq_factor: f32,
    high_freq_factor: f32,
    original_context: usize,
) -> Vec<f64> {
    let (factor, low, high) = (
        f64::from(factor),
        f64::from(low_freq_factor),
        f64::from(high_freq_factor),
    );
    let old = original_context as f64;
    let (low_wavelen, high_wavelen) = (old / low, old / high);
    freqs
        .iter()
        .map(|f| {
            let wavelen = 2.0 * std::f64::consts::PI / f;
            if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (old / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect()
}

/// The rotary table `[n_ctx, head_dim / 2]` of `(cos, sin)` of `pos · theta^(-2i/head_dim)`,
/// computed in f64 (the GPU reads the same table).
pub fn rope_table(theta: f32, head_dim: usize, n_ctx: usize) -> Vec<[f32; 2]> {
    RopeFrequencies::plain(theta, head_dim).table(n_ctx)
}
