//! Qwen2 (and Qwen2.5): Llama's layout plus biases on Q, K and V. Its GGUF files keep the
//! Hugging Face rope layout (rotate-half, "NEOX").

use super::Presence::{Always, QkvBias, Untied};
use super::Role::*;
use super::Scope::{Block, Input, Output};
use super::{spec, ArchTable, FfnActivation};
use crate::model::rope::RopeStyle;

#[rustfmt::skip]
pub const TABLE: ArchTable = ArchTable {
    gguf_name: "qwen2",
    hf_model_types: &["qwen2"],
    hf_classes: &["Qwen2ForCausalLM"],
    hf_config_flags: &[],
    gguf_rope: RopeStyle::RotateHalf,
    qkv_bias: true,
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
        spec(TokEmbd,    Input,  "token_embd.weight",  "model.embed_tokens.weight",       |c| vec![c.n_vocab, c.n_embd], Always),
        spec(AttnNorm,   Block,  "attn_norm.weight",   "input_layernorm.weight",          |c| vec![c.n_embd], Always),
        spec(AttnQ,      Block,  "attn_q.weight",      "self_attn.q_proj.weight",         |c| vec![c.q_dim, c.n_embd], Always),
        spec(AttnK,      Block,  "attn_k.weight",      "self_attn.k_proj.weight",         |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnV,      Block,  "attn_v.weight",      "self_attn.v_proj.weight",         |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnQBias,  Block,  "attn_q.bias",        "self_attn.q_proj.bias",           |c| vec![c.q_dim], QkvBias),
        spec(AttnKBias,  Block,  "attn_k.bias",        "self_attn.k_proj.bias",           |c| vec![c.kv_dim], QkvBias),
        spec(AttnVBias,  Block,  "attn_v.bias",        "self_attn.v_proj.bias",           |c| vec![c.kv_dim], QkvBias),
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
