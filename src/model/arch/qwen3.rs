//! Qwen3: Llama's layout (no biases) plus an RMSNorm over every query and key head, with
//! one weight vector per projection, applied before rope. Its GGUF files keep the Hugging
//! Face rope layout (rotate-half, "NEOX"); its head size is its own (`head_dim` in
//! config.json, `attention.key_length` in GGUF), so Q's rows need not equal the hidden size.

use super::Presence::{Always, Untied};
use super::Role::*;
use super::Scope::{Block, Input, Output};
use super::{spec, ArchTable, FfnActivation};
use crate::model::rope::RopeStyle;

#[rustfmt::skip]
pub const TABLE: ArchTable = ArchTable {
    gguf_name: "qwen3",
    hf_model_types: &["qwen3"],
    hf_classes: &["Qwen3ForCausalLM"],
    hf_config_flags: &[("attention_bias", false)],
    gguf_rope: RopeStyle::RotateHalf,
    qkv_bias: false,
    qk_norm: true,
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
        spec(TokEmbd,    Input,  "token_embd.weight",  "model.embed_tokens.weight",       |c| vec![c.n_vocab, c.n_embd], Always),
        spec(AttnNorm,   Block,  "attn_norm.weight",   "input_layernorm.weight",          |c| vec![c.n_embd], Always),
        spec(AttnQ,      Block,  "attn_q.weight",      "self_attn.q_proj.weight",         |c| vec![c.q_dim, c.n_embd], Always),
        spec(AttnK,      Block,  "attn_k.weight",      "self_attn.k_proj.weight",         |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnV,      Block,  "attn_v.weight",      "self_attn.v_proj.weight",         |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnQNorm,  Block,  "attn_q_norm.weight", "self_attn.q_norm.weight",         |c| vec![c.head_dim], Always),
        spec(AttnKNorm,  Block,  "attn_k_norm.weight", "self_attn.k_norm.weight",         |c| vec![c.head_dim], Always),
        spec(AttnOutput, Block,  "attn_output.weight", "self_attn.o_proj.weight",         |c| vec![c.n_embd, c.q_dim], Always),
        spec(FfnNorm,    Block,  "ffn_norm.weight",    "post_attention_layernorm.weight", |c| vec![c.n_embd], Always),
        spec(FfnGate,    Block,  "ffn_gate.weight",    "mlp.gate_proj.weight",            |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnUp,      Block,  "ffn_up.weight",      "mlp.up_proj.weight",              |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnDown,    Block,  "ffn_down.weight",    "mlp.down_proj.weight",            |c| vec![c.n_embd, c.n_ff], Always),
        spec(OutputNorm, Output, "output_norm.weight", "model.norm.weight",               |c| vec![c.n_embd], Always),
        spec(LmHead,     Output, "output.weight",      "lm_head.weight",                  |c| vec![c.n_vocab, c.n_embd], Untied),
    ],
    fused: &[],
};
