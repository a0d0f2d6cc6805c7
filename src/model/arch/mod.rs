//! One table per architecture: the tensors a model of it needs, by role, with their GGUF
//! and Hugging Face names, their shapes as a function of the model's dimensions ([`Dims`])
//! and when they are present; and the flags that set the architecture apart (its GGUF and
//! Hugging Face names, how its GGUF files lay out rope, Q/K/V biases). Everything that
//! knows tensor names derives from these tables: the tensor check, the HF↔GGUF name
//! mapping, config detection, the conversion to a Hugging Face folder and the CPU
//! reference. The tables read dimensions, not the config itself, so that the config can
//! name its architecture without a loop between the two.
//!
//! Adding an architecture is one file here plus one line in the `architectures!` list.

mod gemma3;
mod gpt2;
mod llama;
mod phi3;
mod qwen2;
mod qwen3;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::rope::RopeStyle;

/// Declares [`Arch`], with one variant per registered table.
macro_rules! architectures {
    ($($(#[$doc:meta])* $variant:ident => $table:path,)*) => {
        /// An architecture hearth runs; its [`ArchTable`] holds what sets it apart.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Arch {
            $($(#[$doc])* $variant,)*
        }

        impl Arch {
            /// Every registered architecture.
            pub const ALL: &'static [Arch] = &[$(Arch::$variant,)*];

            pub fn table(self) -> &'static ArchTable {
                match self {
                    $(Arch::$variant => &$table,)*
                }
            }
        }
    };
}

architectures! {
    /// Llama, SmolLM2, Mistral (no biases, RMSNorm, SiLU-gated FFN).
    Llama => llama::TABLE,
    /// Qwen2: like Llama plus biases on Q, K and V.
    Qwen2 => qwen2::TABLE,
    /// Qwen3: like Llama plus an RMSNorm over each query and key head before rope.
    Qwen3 => qwen3::TABLE,
    /// Gemma 3: query/key head norms, norms after attention and FFN, a GELU-gated FFN,
    /// the embedding scaled by √dim, and sliding-window layers with their own rope base.
    Gemma3 => gemma3::TABLE,
    /// Phi-3 and Phi-3.5: Llama's computation from fused Q|K|V and gate|up tensors, with
    /// LongRoPE's per-dimension factors for long contexts.
    Phi3 => phi3::TABLE,
    /// GPT-2: learned position embeddings instead of rope, LayerNorms with biases, biases
    /// on every product, an ungated GELU FFN.
    Gpt2 => gpt2::TABLE,
}

impl Arch {
    /// The architecture a GGUF file names in `general.architecture`.
    pub fn from_gguf_name(name: &str) -> Result<Arch> {
        Self::find(|t| t.gguf_name == name)
            .ok_or_else(|| Error::UnsupportedArchitecture(name.to_string()))
    }

    /// The architecture of a config.json `model_type`.
    pub fn from_hf_model_type(model_type: &str) -> Option<Arch> {
        Self::find(|t| t.hf_model_types.contains(&model_type))
    }

    /// The architecture of a config.json `architectures` class (`LlamaForCausalLM`).
    pub fn from_hf_class(class: &str) -> Option<Arch> {
        Self::find(|t| t.hf_classes.contains(&class))
    }

    fn find(matches: impl Fn(&ArchTable) -> bool) -> Option<Arch> {
        Self::ALL.iter().copied().find(|a| matches(a.table()))
    }
}

/// Everything that sets one architecture apart.
pub struct ArchTable {
    /// `general.architecture` of its GGUF files, which also prefixes their config keys.
    pub gguf_name: &'static str,
    /// config.json `model_type` values; `hearth convert` writes the first.
    pub hf_model_types: &'static [&'static str],
    /// config.json `architectures` classes; `hearth convert` writes the first.
    pub hf_classes: &'static [&'static str],
    /// config.json flags transformers reads for this architecture beyond the common keys
    /// (written by `hearth convert`).
    pub hf_config_flags: &'static [(&'static str, bool)],
    /// How its GGUF files lay out Q/K rows for rope. (Hugging Face checkpoints always
    /// rotate halves.)
    pub gguf_rope: RopeStyle,
    /// Q, K and V projections carry biases.
    pub qkv_bias: bool,
    /// Each query and key head is RMS-normalized (weights of one head's size) before rope.
    pub qk_norm: bool,
    /// What gates the FFN's up projection.
    pub ffn_activation: FfnActivation,
    /// The attention's and the FFN's outputs are RMS-normalized before the residual add.
    pub post_norms: bool,
    /// The token embedding is multiplied by √n_embd before the first block.
    pub embedding_scale: bool,
    /// Layers attend to a sliding window: (window size and rope base when the GGUF file
    /// does not give them,) every `n`-th layer is global, the others local.
    pub sliding_window: Option<SlidingWindowDefaults>,
    /// Added to every RMSNorm weight of a Hugging Face checkpoint (Gemma stores `w - 1`;
    /// llama.cpp's converter adds the 1 into GGUF files).
    pub hf_norm_offset: f32,
    /// What config.json's `tie_word_embeddings` means when absent (transformers' default
    /// for this architecture).
    pub hf_tied_by_default: bool,
    /// What comes before the layer number in a block tensor's Hugging Face name.
    pub hf_layer_prefix: &'static str,
    /// Hugging Face files store the blocks' matrices transposed, `[in, out]` (GPT-2's
    /// `Conv1D`).
    pub hf_transposed: bool,
    /// LayerNorm (mean removed, then scaled and shifted by a bias) instead of RMSNorm.
    pub layer_norm: bool,
    /// A learned position embedding is added to the token embedding; no rope.
    pub learned_positions: bool,
    /// The FFN is `down(act(gate) · up)`; otherwise `down(act(up))`.
    pub ffn_gated: bool,
    /// The attention's output and the FFN's up and down products carry biases.
    pub output_biases: bool,
    /// Every tensor, in the order files and checks list them: the input's, one block's,
    /// the output's.
    pub tensors: &'static [TensorSpec],
    /// Block tensors that files store stacked: split into their parts as they load.
    pub fused: &'static [FusedSpec],
}

/// A block tensor that files store as the rows of several roles stacked (Phi-3's Q|K|V
/// and gate|up). The loader splits it by rows into its parts (each the table's row of its
/// role) before anything else sees it, so that backends and checks know only the parts.
pub struct FusedSpec {
    /// The GGUF name, after `blk.N.`.
    pub gguf: &'static str,
    /// The Hugging Face name, after the layer prefix and number.
    pub hf: &'static str,
    /// The parts, top rows first.
    pub parts: &'static [Role],
}

/// The nonlinearity of a gated FFN: `act(x · Wgateᵀ) · (x · Wupᵀ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FfnActivation {
    /// `x · sigmoid(x)` (SwiGLU).
    #[default]
    Silu,
    /// GELU, tanh approximation (GeGLU; `gelu_pytorch_tanh`).
    GeluTanh,
}

/// An architecture's sliding-window attention, where files leave parts unsaid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlidingWindowDefaults {
    /// Every `global_every`-th layer (counting from 1) attends to the whole context.
    pub global_every: usize,
    /// The rope base of the local layers.
    pub rope_theta_local: f32,
}

/// What a tensor does in the network, whatever a file calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    TokEmbd,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnQBias,
    AttnKBias,
    AttnVBias,
    /// The RMSNorm weight of every query head (and of every key head): [head_dim].
    AttnQNorm,
    AttnKNorm,
    AttnOutput,
    /// RMSNorm weight of the attention's output, before the residual add (Gemma 3).
    AttnPostNorm,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
    /// RMSNorm weight of the FFN's output, before the residual add (Gemma 3).
    FfnPostNorm,
    OutputNorm,
    /// The LM head (GGUF `output.weight`).
    LmHead,
    /// Per-dimension rope frequency divisors (GGUF `rope_freqs.weight`, Llama 3.1+).
    RopeFreqs,
    /// LongRoPE's divisors for contexts beyond the original one, and within it (Phi-3).
    RopeFactorsLong,
    RopeFactorsShort,
    /// Learned position embedding `[n_ctx_train, n_embd]` (GPT-2).
    PosEmbd,
    /// LayerNorm biases.
    AttnNormBias,
    FfnNormBias,
    OutputNormBias,
    /// Biases of the attention's output and the FFN's products.
    AttnOutputBias,
    FfnUpBias,
    FfnDownBias,
}

impl Role {
    /// An RMSNorm weight (a vector that scales normalized values).
    pub fn is_norm(self) -> bool {
        matches!(
            self,
            Role::AttnNorm
                | Role::AttnQNorm
                | Role::AttnKNorm
                | Role::AttnPostNorm
                | Role::FfnNorm
                | Role::FfnPostNorm
                | Role::OutputNorm
        )
    }
}

/// Where a tensor sits: before the blocks, in every block, or after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Input,
    Block,
    Output,
}

/// When a model has a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Always,
    /// Only when Q, K and V carry biases.
    QkvBias,
    /// Only when the LM head is not tied to the token embedding.
    Untied,
    /// Only when the file stores rope frequency factors.
    RopeFreqs,
    /// Only with LongRoPE scaling.
    LongRope,
}

impl Presence {
    fn holds(self, dims: &Dims) -> bool {
        match self {
            Presence::Always => true,
            Presence::QkvBias => dims.qkv_bias,
            Presence::Untied => !dims.tied_embeddings,
            Presence::RopeFreqs => dims.rope_freqs,
            Presence::LongRope => dims.long_rope,
        }
    }
}

/// What a table's shapes and presence rules read of a model: its sizes and the flags that
/// add or drop tensors (a model config gives them: `dims()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    /// Query rows: heads × head size.
    pub q_dim: usize,
    /// Key (and value) rows: KV heads × head size.
    pub kv_dim: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub qkv_bias: bool,
    pub tied_embeddings: bool,
    /// The file stores `rope_freqs.weight`.
    pub rope_freqs: bool,
    /// LongRoPE's two factor vectors are part of the model.
    pub long_rope: bool,
    /// Positions the model was trained for (rows of a learned position embedding).
    pub n_ctx: usize,
}

/// One row of an architecture's table.
pub struct TensorSpec {
    pub role: Role,
    pub scope: Scope,
    /// The GGUF name; in a block, what follows `blk.N.`.
    pub gguf: &'static str,
    /// The Hugging Face name; in a block, what follows `ArchTable::hf_layer_prefix` and
    /// the layer number.
    pub hf: &'static str,
    /// Row-major, outermost first.
    pub shape: fn(&Dims) -> Vec<usize>,
    pub present: Presence,
}

/// A table row, in the column order the tables are written in.
const fn spec(
    role: Role,
    scope: Scope,
    gguf: &'static str,
    hf: &'static str,
    shape: fn(&Dims) -> Vec<usize>,
    present: Presence,
) -> TensorSpec {
    TensorSpec {
        role,
        scope,
        gguf,
        hf,
        shape,
        present,
    }
}

/// What precedes the layer number in a block tensor's GGUF name.
const GGUF_LAYER_PREFIX: &str = "blk.";

/// One tensor a model of a given configuration needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTensor {
    pub role: Role,
    /// The block it belongs to; `None` before and after the blocks.
    pub layer: Option<usize>,
    /// The canonical (GGUF) name.
    pub name: String,
    pub hf_name: String,
    pub shape: Vec<usize>,
}

impl ArchTable {
    /// Every tensor a model of these dimensions needs, in the table's order, blocks in
    /// layer order.
    pub fn tensors_for(&self, dims: &Dims) -> Vec<ModelTensor> {
        let scoped = |scope: Scope| {
            self.tensors
                .iter()
                .filter(move |s| s.scope == scope && s.present.holds(dims))
        };
        let whole = |s: &TensorSpec| ModelTensor {
            role: s.role,
            layer: None,
            name: s.gguf.to_string(),
            hf_name: s.hf.to_string(),
            shape: (s.shape)(dims),
        };
        let mut out: Vec<ModelTensor> = scoped(Scope::Input).map(whole).collect();
        for l in 0..dims.n_layer {
            out.extend(scoped(Scope::Block).map(|s| ModelTensor {
                role: s.role,
                layer: Some(l),
                name: format!("{GGUF_LAYER_PREFIX}{l}.{}", s.gguf),
                hf_name: format!("{}{l}.{}", self.hf_layer_prefix, s.hf),
                shape: (s.shape)(dims),
            }));
        }
        out.extend(scoped(Scope::Output).map(whole));
        out
    }

    /// The role of a canonical (GGUF) tensor name.
    pub fn role_of(&self, gguf: &str) -> Option<Role> {
        let rest = gguf
            .strip_prefix(GGUF_LAYER_PREFIX)
            .and_then(|r| r.split_once('.'))
            .map_or(gguf, |(_, rest)| rest);
        self.tensors
            .iter()
            .find(|s| s.gguf == rest || s.gguf == gguf)
            .map(|s| s.role)
    }

    /// The row of `role`, if the architecture has such a tensor.
    pub fn spec(&self, role: Role) -> Option<&'static TensorSpec> {
        self.tensors.iter().find(|s| s.role == role)
    }

    /// The canonical GGUF name of a Hugging Face tensor, or `None` for tensors the
    /// architecture does not use (e.g. `rotary_emb.inv_freq`).
    pub fn hf_to_gguf(&self, hf: &str) -> Option<String> {
        self.rename(
            hf,
            |s| s.hf,
            self.hf_layer_prefix,
            |s| s.gguf,
            GGUF_LAYER_PREFIX,
        )
    }

    /// The Hugging Face name of a canonical GGUF tensor, or `None` for names the
    /// architecture does not use.
    pub fn gguf_to_hf(&self, gguf: &str) -> Option<String> {
        self.rename(
            gguf,
            |s| s.gguf,
            GGUF_LAYER_PREFIX,
            |s| s.hf,
            self.hf_layer_prefix,
        )
    }

    /// `name` in one naming (`from`, with block names after `from_prefix` and the layer)
    /// spelled in the other.
    fn rename(
        &self,
        name: &str,
        from: fn(&TensorSpec) -> &'static str,
        from_prefix: &str,
        to: fn(&TensorSpec) -> &'static str,
        to_prefix: &str,
    ) -> Option<String> {
        let whole = self
            .tensors
            .iter()
            .find(|s| s.scope != Scope::Block && from(s) == name);
        if let Some(s) = whole {
            return Some(to(s).to_string());
        }
        let (layer, rest) = name.strip_prefix(from_prefix)?.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        // Fused parts have no Hugging Face name of their own (`""`).
        let s = self.tensors.iter().find(|s| {
            s.scope == Scope::Block && from(s) == rest && !from(s).is_empty() && !to(s).is_empty()
        });
        let to_gguf = to_prefix == GGUF_LAYER_PREFIX;
        let to_name = match s {
            Some(s) => to(s),
            // A fused tensor has a name in either naming.
            None => {
                let f = self.fused.iter().find(|f| match to_gguf {
                    true => f.hf == rest,
                    false => f.gguf == rest,
                })?;
                match to_gguf {
                    true => f.gguf,
                    false => f.hf,
                }
            }
        };
        Some(format!("{to_prefix}{layer}.{to_name}"))
    }

    /// The fused tensor of a canonical (GGUF) name and its layer, if `gguf` names one.
    pub fn fused_of(&self, gguf: &str) -> Option<(usize, &'static FusedSpec)> {
        let (layer, rest) = gguf.strip_prefix(GGUF_LAYER_PREFIX)?.split_once('.')?;
        let layer = layer.parse().ok()?;
        let f = self.fused.iter().find(|f| f.gguf == rest)?;
        Some((layer, f))
    }

    /// The canonical name and rows of every part of fused tensor `f` in layer `layer`.
    pub fn fused_parts(&self, f: &FusedSpec, layer: usize, dims: &Dims) -> Vec<(String, usize)> {
        f.parts
            .iter()
            .filter_map(|&role| self.spec(role))
            .map(|s| {
                let rows = (s.shape)(dims).first().copied().unwrap_or(0);
                (format!("{GGUF_LAYER_PREFIX}{layer}.{}", s.gguf), rows)
            })
            .collect()
    }

    /// The fused tensor that role `role` is a part of in this architecture's files, and how
    /// many rows of it come before the part.
    pub fn fused_part_of(&self, role: Role, dims: &Dims) -> Option<(&'static FusedSpec, usize)> {
        let f = self.fused.iter().find(|f| f.parts.contains(&role))?;
        let before = f
            .parts
            .iter()
            .take_while(|&&r| r != role)
            .filter_map(|&r| self.spec(r))
            .map(|s| (s.shape)(dims).first().copied().unwrap_or(0))
            .sum();
        Some((f, before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(arch: Arch) -> Dims {
        Dims {
            n_vocab: 10,
            n_embd: 8,
            n_layer: 2,
            q_dim: 8,
            kv_dim: 4,
            head_dim: 4,
            n_ff: 16,
            qkv_bias: arch.table().qkv_bias,
            tied_embeddings: false,
            rope_freqs: false,
            long_rope: false,
            n_ctx: 16,
        }
    }

    /// Every table's names map both ways, and no role appears twice in one table.
    #[test]
    fn every_table_is_consistent() {
        for &arch in Arch::ALL {
            let table = arch.table();
            for t in table.tensors_for(&dims(arch)) {
                let d = dims(arch);
                match table.fused_part_of(t.role, &d) {
                    // A part has no name of its own in Hugging Face files; its fused
                    // tensor maps both ways, and the parts fill its rows.
                    Some((f, _)) => {
                        let layer = t.layer.unwrap();
                        let hf = format!("{}{layer}.{}", table.hf_layer_prefix, f.hf);
                        let gguf = format!("blk.{layer}.{}", f.gguf);
                        assert_eq!(table.hf_to_gguf(&hf).as_ref(), Some(&gguf));
                        assert_eq!(table.gguf_to_hf(&gguf).as_ref(), Some(&hf));
                        let parts = table.fused_parts(f, layer, &d);
                        assert!(parts.iter().any(|(n, _)| *n == t.name));
                    }
                    None => {
                        assert_eq!(table.hf_to_gguf(&t.hf_name).as_ref(), Some(&t.name));
                        assert_eq!(table.gguf_to_hf(&t.name).as_ref(), Some(&t.hf_name));
                    }
                }
            }
            for (i, s) in table.tensors.iter().enumerate() {
                assert!(table.tensors[..i].iter().all(|o| o.role != s.role));
            }
            assert_eq!(Arch::from_gguf_name(table.gguf_name).unwrap(), arch);
            for t in table.hf_model_types {
                assert_eq!(Arch::from_hf_model_type(t), Some(arch));
            }
            for c in table.hf_classes {
                assert_eq!(Arch::from_hf_class(c), Some(arch));
            }
        }
    }

    #[test]
    fn presence_follows_the_config() {
        let mut c = dims(Arch::Qwen2);
        let names = |c: &Dims| -> Vec<String> {
            Arch::Qwen2
                .table()
                .tensors_for(c)
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        let all = names(&c);
        assert_eq!(all.len(), 2 + 2 * 12 + 1);
        assert_eq!(all[0], "token_embd.weight");
        assert_eq!(all[5], "blk.0.attn_q.bias");
        assert_eq!(all.last().unwrap(), "output.weight");
        c.tied_embeddings = true;
        c.qkv_bias = false;
        let fewer = names(&c);
        assert_eq!(fewer.len(), 1 + 2 * 9 + 1);
        assert!(!fewer
            .iter()
            .any(|n| n.contains("bias") || n == "output.weight"));
    }
}
