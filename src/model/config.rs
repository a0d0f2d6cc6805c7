//! One `ModelConfig` for every supported architecture: architectures differ by flags here
//! wherever they can.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::formats::{Metadata, TensorInfo};
use crate::model::arch::{Arch, Dims, FfnActivation, ModelTensor, Role};
use crate::model::rope::{RopeFrequencies, RopeScaling, RopeStyle};

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
    /// Query and key heads are RMS-normalized before rope (Qwen3, Gemma 3).
    #[serde(default)]
    pub qk_norm: bool,
    /// What gates the FFN (SiLU, or GELU for Gemma).
    #[serde(default)]
    pub ffn_activation: FfnActivation,
    /// The attention's and the FFN's outputs are RMS-normalized before their residual adds
    /// (Gemma 3).
    #[serde(default)]
    pub post_norms: bool,
    /// The token embedding is scaled by √n_embd (Gemma).
    #[serde(default)]
    pub embedding_scale: bool,
    /// Local layers attend to the last `sliding_window` positions (their own included);
    /// 0: every layer is global.
    #[serde(default)]
    pub sliding_window: usize,
    /// With a sliding window, every `global_every`-th layer is global.
    #[serde(default)]
    pub global_every: usize,
    /// The rope base of the local layers.
    #[serde(default)]
    pub rope_theta_local: f32,
    /// How the global layers' rope is stretched.
    #[serde(default)]
    pub rope_scaling: RopeScaling,
    /// LayerNorm with biases instead of RMSNorm (GPT-2).
    #[serde(default)]
    pub layer_norm: bool,
    /// A learned position embedding instead of rope (GPT-2).
    #[serde(default)]
    pub learned_positions: bool,
    /// The FFN gates its up projection (every family but GPT-2).
    #[serde(default = "gated_by_default")]
    pub ffn_gated: bool,
    /// The attention's output and the FFN's products carry biases (GPT-2).
    #[serde(default)]
    pub output_biases: bool,
}

fn gated_by_default() -> bool {
    true
}

impl ModelConfig {
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// The window of layer `l` when it is a local (sliding-window) layer.
    pub fn layer_window(&self, l: usize) -> Option<usize> {
        let local = self.sliding_window > 0
            && self.global_every > 0
            && l % self.global_every < self.global_every - 1;
        local.then_some(self.sliding_window)
    }

    /// What the token embedding is multiplied by before the first block: √n_embd for
    /// Gemma, 1 otherwise.
    pub fn embedding_multiplier(&self) -> f32 {
        match self.embedding_scale {
            true => (self.n_embd as f32).sqrt(),
            false => 1.0,
        }
    }

    /// The rope of a local (sliding-window) or a global layer: local layers have a base of
    /// their own and no scaling. `factors`: the model's tensor of role
    /// [`ModelConfig::rope_factors_role`], if it has one.
    pub fn rope(&self, local: bool, factors: Option<&[f32]>) -> Result<RopeFrequencies> {
        if self.learned_positions {
            // No rotation: every angle 0, so the rope step leaves Q and K as they are.
            return Ok(RopeFrequencies::identity(self.head_dim));
        }
        match local {
            true => Ok(RopeFrequencies::plain(self.rope_theta_local, self.head_dim)),
            false => {
                RopeFrequencies::scaled(self.rope_theta, self.head_dim, self.rope_scaling, factors)
            }
        }
    }

    /// The tensor that holds the global layers' per-dimension rope divisors for a context
    /// of `n_ctx` positions: `rope_freqs`, or LongRoPE's long factors when the context
    /// exceeds the original one and its short factors otherwise (llama.cpp's choice).
    pub fn rope_factors_role(&self, n_ctx: usize) -> Option<Role> {
        match self.rope_scaling {
            RopeScaling::FreqFactors => Some(Role::RopeFreqs),
            RopeScaling::LongRope {
                original_context, ..
            } => Some(match n_ctx > original_context {
                true => Role::RopeFactorsLong,
                false => Role::RopeFactorsShort,
            }),
            _ => None,
        }
    }

    /// What the architecture's table reads of this config.
    pub fn dims(&self) -> Dims {
        Dims {
            n_vocab: self.n_vocab,
            n_embd: self.n_embd,
            n_layer: self.n_layer,
            q_dim: self.q_dim(),
            kv_dim: self.kv_dim(),
            head_dim: self.head_dim,
            n_ff: self.n_ff,
            qkv_bias: self.qkv_bias,
            tied_embeddings: self.tied_embeddings,
            rope_freqs: self.rope_scaling == RopeScaling::FreqFactors,
            long_rope: matches!(self.rope_scaling, RopeScaling::LongRope { .. }),
            n_ctx: self.n_ctx_train,
        }
    }

    /// Every tensor this model needs, from its architecture's table.
    pub fn tensors(&self) -> Vec<ModelTensor> {
        self.arch.table().tensors_for(&self.dims())
    }
}

/// Upper bounds that no real model reaches; values past them are treated as corrupt
/// rather than used to size buffers.
const MAX_VOCAB: usize = 1 << 22;
const MAX_EMBD: usize = 1 << 16;
const MAX_LAYERS: usize = 1024;
const MAX_HEADS: usize = 1024;
const MAX_HEAD_DIM: usize = 1024;
const MAX_FF: usize = 1 << 18;
const MAX_CTX: usize = 1 << 24;
/// Per-dimension rope frequency factors (llama.cpp writes Llama 3.1+'s rope scaling so).
const ROPE_FREQS_TENSOR: &str = "rope_freqs.weight";
/// LongRoPE's factors for long contexts (llama.cpp writes Phi-3's rope scaling so, with
/// `rope_factors_short.weight` beside it).
const ROPE_FACTORS_LONG_TENSOR: &str = "rope_factors_long.weight";

impl ModelConfig {
    /// The configuration described by GGUF metadata. `tensors` supplies what metadata may
    /// leave out: the vocabulary size (from `token_embd.weight`) and whether the LM head is
    /// tied (no `output.weight`).
    pub fn from_gguf(metadata: &Metadata, tensors: &[TensorInfo]) -> Result<ModelConfig> {
        let arch_name = metadata.str("general.architecture")?;
        // Mistral GGUFs are written with the llama architecture.
        let arch = Arch::from_gguf_name(arch_name)?;
        let table = arch.table();
        // The GGUF name of a model-level tensor, and the file's tensor of that name.
        let named = |role: Role| table.spec(role).map_or("", |s| s.gguf);
        let find = |role: Role| tensors.iter().find(|t| t.name == named(role));
        let key = |suffix: &str| format!("{arch_name}.{suffix}");
        let n_embd = metadata.usize(&key("embedding_length"))?;
        let n_layer = metadata.usize(&key("block_count"))?;
        let n_head = metadata.usize(&key("attention.head_count"))?;
        let n_head_kv = match metadata.opt_u64(&key("attention.head_count_kv"))? {
            Some(v) => to_usize(&key("attention.head_count_kv"), v)?,
            None => n_head,
        };
        let n_ff = metadata.usize(&key("feed_forward_length"))?;
        let n_ctx_train = metadata.usize(&key("context_length"))?;
        let rope_theta = metadata
            .opt_f64(&key("rope.freq_base"))?
            .unwrap_or(10_000.0) as f32;
        let n_ctx_train_key = key("context_length");
        let rope_scaling = gguf_rope_scaling(metadata, &key, &n_ctx_train_key)?;
        let stored = |name: &str| tensors.iter().any(|t| t.name == name);
        let attn_factor = metadata.opt_f64(&key("rope.scaling.attn_factor"))?;
        let rope_scaling = match (
            rope_scaling,
            stored(ROPE_FREQS_TENSOR),
            stored(ROPE_FACTORS_LONG_TENSOR),
        ) {
            (scaling, false, false) => scaling,
            (RopeScaling::None, true, false) if table.spec(Role::RopeFreqs).is_some() => {
                RopeScaling::FreqFactors
            }
            (RopeScaling::None, false, true) if table.spec(Role::RopeFactorsLong).is_some() => {
                RopeScaling::LongRope {
                    original_context: match metadata
                        .opt_u64(&key("rope.scaling.original_context_length"))?
                    {
                        Some(n) => to_usize(&key("rope.scaling.original_context_length"), n)?,
                        None => n_ctx_train,
                    },
                    attn_factor: attn_factor.unwrap_or(1.0) as f32,
                }
            }
            _ => {
                return Err(Error::UnsupportedFeature(format!(
                    "rope frequency factors ({ROPE_FREQS_TENSOR} or \
                     {ROPE_FACTORS_LONG_TENSOR}) in a {arch_name} model or beside another \
                     rope scaling"
                )))
            }
        };
        // Only LongRoPE is known to scale cos and sin by a factor of the file's.
        if !matches!(rope_scaling, RopeScaling::LongRope { .. })
            && attn_factor.is_some_and(|f| f != 1.0)
        {
            return Err(Error::UnsupportedFeature(format!(
                "{} with {rope_scaling:?} rope",
                key("rope.scaling.attn_factor")
            )));
        }
        let norm_eps = match table.layer_norm {
            true => metadata.f64(&key("attention.layer_norm_epsilon"))?,
            false => metadata.f64(&key("attention.layer_norm_rms_epsilon"))?,
        } as f32;
        // As llama.cpp: the head size is `key_length`, else n_embd / n_head; rope turns
        // `rope.dimension_count` of its dimensions, all of them unless the file says less.
        let head_dim = match metadata.opt_u64(&key("attention.key_length"))? {
            Some(v) => to_usize(&key("attention.key_length"), v)?,
            None if n_head > 0 => n_embd / n_head,
            None => 0,
        };
        if let Some(rotated) = metadata.opt_u64(&key("rope.dimension_count"))? {
            if rotated != head_dim as u64 {
                return Err(Error::UnsupportedFeature(format!(
                    "partial rotary embedding: rope turns {rotated} of each head's \
                     {head_dim} dimensions ({})",
                    key("rope.dimension_count")
                )));
            }
        }
        let n_vocab = if metadata.contains("tokenizer.ggml.tokens") {
            metadata.array_len("tokenizer.ggml.tokens")?
        } else {
            find(Role::TokEmbd)
                .and_then(|t| t.shape.first().copied())
                .ok_or_else(|| Error::MissingTensor(named(Role::TokEmbd).into()))?
        };
        let mut config = ModelConfig {
            arch,
            name: metadata.opt_str("general.name")?.map(str::to_string),
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx_train,
            rope_theta,
            // The Q/K row layout this architecture's GGUF files use (see its table).
            rope_style: table.gguf_rope,
            norm_eps,
            tied_embeddings: find(Role::LmHead).is_none(),
            qkv_bias: table.qkv_bias,
            qk_norm: table.qk_norm,
            ffn_activation: table.ffn_activation,
            post_norms: table.post_norms,
            embedding_scale: table.embedding_scale,
            sliding_window: 0,
            global_every: 0,
            rope_theta_local: rope_theta,
            rope_scaling,
            layer_norm: table.layer_norm,
            learned_positions: table.learned_positions,
            ffn_gated: table.ffn_gated,
            output_biases: table.output_biases,
        };
        if let Some(defaults) = table.sliding_window {
            if let Some(w) = metadata.opt_u64(&key("attention.sliding_window"))? {
                config.sliding_window = to_usize(&key("attention.sliding_window"), w)?;
            }
            config.global_every =
                match metadata.opt_u64(&key("attention.sliding_window_pattern"))? {
                    Some(n) => to_usize(&key("attention.sliding_window_pattern"), n)?,
                    None => defaults.global_every,
                };
            config.rope_theta_local = match metadata.opt_f64(&key("rope.freq_base_swa"))? {
                Some(theta) => theta as f32,
                None => defaults.rope_theta_local,
            };
        }
        // Logit soft-capping (Gemma 2's) is not computed: a file that asks for it is
        // refused rather than run without it.
        for cap in ["final_logit_softcapping", "attn_logit_softcapping"] {
            if metadata.opt_f64(&key(cap))?.is_some_and(|v| v > 0.0) {
                return Err(Error::UnsupportedFeature(format!(
                    "{} (logit soft-capping)",
                    key(cap)
                )));
            }
        }
        // llama.cpp scales Gemma 3 27B's queries by 1/√(n_embd / n_head), not 1/√head_dim
        // (it knows the model by its 62 layers); hearth's attention has one scale.
        if arch == Arch::Gemma3 && n_layer == 62 && n_embd / n_head.max(1) != head_dim {
            return Err(Error::UnsupportedFeature(
                "Gemma 3 27B's attention scale, 1/√(n_embd / n_head) instead of 1/√head_dim".into(),
            ));
        }
        config.validate()?;
        Ok(config)
    }

    /// Rejects zero sizes, head counts that do not divide, and values beyond any real model.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("n_vocab", self.n_vocab, MAX_VOCAB),
            ("n_embd", self.n_embd, MAX_EMBD),
            ("n_layer", self.n_layer, MAX_LAYERS),
            ("n_head", self.n_head, MAX_HEADS),
            ("n_head_kv", self.n_head_kv, MAX_HEADS),
            ("head_dim", self.head_dim, MAX_HEAD_DIM),
            ("n_ff", self.n_ff, MAX_FF),
            ("n_ctx_train", self.n_ctx_train, MAX_CTX),
        ];
        for (name, value, max) in sizes {
            if value == 0 || value > max {
                return Err(Error::InvalidConfig(format!(
                    "{name} = {value} (must be 1..={max})"
                )));
            }
        }
        if !self.n_head.is_multiple_of(self.n_head_kv) {
            return Err(Error::InvalidConfig(format!(
                "n_head {} is not a multiple of n_head_kv {}",
                self.n_head, self.n_head_kv
            )));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(Error::InvalidConfig(format!(
                "head_dim {} is odd; rope needs pairs",
                self.head_dim
            )));
        }
        let local = (self.sliding_window > 0).then_some(self.rope_theta_local);
        for theta in std::iter::once(self.rope_theta).chain(local) {
            if !(theta.is_finite() && theta > 0.0) {
                return Err(Error::InvalidConfig(format!(
                    "rope base {theta} is not a positive number"
                )));
            }
        }
        if self.sliding_window > MAX_CTX || self.global_every > MAX_LAYERS {
            return Err(Error::InvalidConfig(format!(
                "sliding window {} every {} layers is beyond any model",
                self.sliding_window, self.global_every
            )));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps >= 0.0 && self.norm_eps < 1.0) {
            return Err(Error::InvalidConfig(format!(
                "norm_eps {} is outside [0, 1)",
                self.norm_eps
            )));
        }
        Ok(())
    }
}

/// The rope scaling of a GGUF file (`<arch>.rope.scaling.*`, as llama.cpp reads them).
fn gguf_rope_scaling(
    metadata: &Metadata,
    key: &dyn Fn(&str) -> String,
    n_ctx_train_key: &str,
) -> Result<RopeScaling> {
    let Some(kind) = metadata.opt_str(&key("rope.scaling.type"))? else {
        return Ok(RopeScaling::None);
    };
    let factor = || -> Result<f32> {
        let factor = metadata.f64(&key("rope.scaling.factor"))? as f32;
        match factor.is_finite() && factor >= 1.0 {
            true => Ok(factor),
            false => Err(Error::InvalidConfig(format!(
                "rope scaling factor {factor}"
            ))),
        }
    };
    Ok(match kind {
        "none" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor: factor()? },
        "yarn" => RopeScaling::Yarn {
            factor: factor()?,
            original_context: match metadata
                .opt_u64(&key("rope.scaling.original_context_length"))?
            {
                Some(n) => to_usize(&key("rope.scaling.original_context_length"), n)?,
                None => metadata.usize(n_ctx_train_key)?,
            },
            beta_fast: metadata
                .opt_f64(&key("rope.scaling.yarn_beta_fast"))?
                .unwrap_or(32.0) as f32,
            beta_slow: metadata
                .opt_f64(&key("rope.scaling.yarn_beta_slow"))?
                .unwrap_or(1.0) as f32,
        },
        other => {
            return Err(Error::UnsupportedFeature(format!(
                "rope scaling '{other}' (rope.scaling.type)"
            )))
        }
    })
}

fn to_usize(key: &str, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::WrongType {
        key: key.to_string(),
        expected: "size",
    })
}
