//! Phi-3 and Phi-3.5: Llama's computation (RMSNorm, SiLU-gated FFN, no biases) from files
//! that stack Q|K|V into one tensor (`attn_qkv`, `qkv_proj`) and gate|up into another
//! (`ffn_up` with 2·n_ff rows, `gate_up_proj`); some GGUF files keep Q, K and V apart,
//! which loads as well. GGUF files keep the Hugging Face rope layout (rotate-half). Long-
//! context models scale rope with LongRoPE: per-dimension divisors for contexts within the
//! original one and beyond it, and a magnitude. The sliding window config.json names is
//! not applied, as llama.cpp does not apply it.

use super::Presence::{Always, LongRope, Untied};
use super::Role::*;
use super::Scope::{Block, Input, Output};
use super::{spec, ArchTable, FfnActivation, FusedSpec};
use crate::model::rope::RopeStyle;

#[rustfmt::skip]
pub const TABLE: ArchTable = ArchTable {
    gguf_name: "phi3",
    hf_model_types: &["phi3"],
    hf_classes: &["Phi3ForCausalLM"],
    hf_config_flags: &[],
    gguf_rope: RopeStyle::RotateHalf,
    qkv_bias: false,
    qk_norm: false,
    ffn_activation: FfnActivation::Silu,
    post_norms: false,
    embedding_scale: false,
    sliding_window: None,
    hf_norm_offset: 0.0,
    hf_tied_by_default: false,
    hf_layer_prefix: "model.layers.",
    hf_transposed: false,
    layer_norm: false,
    learned_positions: false,
    ffn_gated: true,
    output_biases: false,
    tensors: &[
        spec(TokEmbd,          Input,  "token_embd.weight",         "model.embed_tokens.weight",       |c| vec![c.n_vocab, c.n_embd], Always),
        spec(AttnNorm,         Block,  "attn_norm.weight",          "input_layernorm.weight",          |c| vec![c.n_embd], Always),
        spec(AttnQ,            Block,  "attn_q.weight",             "",                                |c| vec![c.q_dim, c.n_embd], Always),
        spec(AttnK,            Block,  "attn_k.weight",             "",                                |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnV,            Block,  "attn_v.weight",             "",                                |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnOutput,       Block,  "attn_output.weight",        "self_attn.o_proj.weight",         |c| vec![c.n_embd, c.q_dim], Always),
        spec(FfnNorm,          Block,  "ffn_norm.weight",           "post_attention_layernorm.weight", |c| vec![c.n_embd], Always),
        spec(FfnGate,          Block,  "ffn_gate.weight",           "",                                |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnUp,            Block,  "ffn_up.weight",             "",                                |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnDown,          Block,  "ffn_down.weight",           "mlp.down_proj.weight",            |c| vec![c.n_embd, c.n_ff], Always),
        spec(RopeFactorsLong,  Output, "rope_factors_long.weight",  "",                                |c| vec![c.head_dim / 2], LongRope),
        spec(RopeFactorsShort, Output, "rope_factors_short.weight", "",                                |c| vec![c.head_dim / 2], LongRope),
        spec(OutputNorm,       Output, "output_norm.weight",        "model.norm.weight",               |c| vec![c.n_embd], Always),
        spec(LmHead,           Output, "output.weight",             "lm_head.weight",                  |c| vec![c.n_vocab, c.n_embd], Untied),
    ],
    fused: &[
        FusedSpec { gguf: "attn_qkv.weight", hf: "self_attn.qkv_proj.weight", parts: &[AttnQ, AttnK, AttnV] },
        // GGUF calls the stack `ffn_up` (with twice the rows of the part of that name).
        FusedSpec { gguf: "ffn_up.weight",   hf: "mlp.gate_up_proj.weight",   parts: &[FfnGate, FfnUp] },
    ],
};
