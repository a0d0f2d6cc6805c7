//! Gemma 3 (text): RMSNorm over each query and key head before rope, RMSNorms of the
//! attention's and the FFN's outputs before their residual adds, a GELU (tanh)-gated FFN,
//! the token embedding scaled by √dim, and five sliding-window (local) layers to every
//! global one, the local ones with a rope base of their own. The LM head is the embedding.
//! Its GGUF files keep the rotate-half ("NEOX") rope layout, and hold norm weights with
//! Gemma's `1 +` already added; Hugging Face checkpoints store them without.

use super::Presence::{Always, Untied};
use super::Role::*;
use super::Scope::{Block, Input, Output};
use super::{spec, ArchTable, FfnActivation, SlidingWindowDefaults};
use crate::model::rope::RopeStyle;

#[rustfmt::skip]
pub const TABLE: ArchTable = ArchTable {
    gguf_name: "gemma3",
    hf_model_types: &["gemma3_text"],
    hf_classes: &["Gemma3ForCausalLM"],
    hf_config_flags: &[("attention_bias", false)],
    gguf_rope: RopeStyle::RotateHalf,
    qkv_bias: false,
    qk_norm: true,
    ffn_activation: FfnActivation::GeluTanh,
    post_norms: true,
    embedding_scale: true,
    sliding_window: Some(SlidingWindowDefaults { global_every: 6, rope_theta_local: 10_000.0 }),
    hf_norm_offset: 1.0,
    hf_tied_by_default: true,
    hf_layer_prefix: "model.layers.",
    hf_transposed: false,
    layer_norm: false,
    learned_positions: false,
    ffn_gated: true,
    output_biases: false,
    tensors: &[
        spec(TokEmbd,     Input,  "token_embd.weight",           "model.embed_tokens.weight",        |c| vec![c.n_vocab, c.n_embd], Always),
        spec(AttnNorm,    Block,  "attn_norm.weight",            "input_layernorm.weight",           |c| vec![c.n_embd], Always),
        spec(AttnQ,       Block,  "attn_q.weight",               "self_attn.q_proj.weight",          |c| vec![c.q_dim, c.n_embd], Always),
        spec(AttnK,       Block,  "attn_k.weight",               "self_attn.k_proj.weight",          |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnV,       Block,  "attn_v.weight",               "self_attn.v_proj.weight",          |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnQNorm,   Block,  "attn_q_norm.weight",          "self_attn.q_norm.weight",          |c| vec![c.head_dim], Always),
        spec(AttnKNorm,   Block,  "attn_k_norm.weight",          "self_attn.k_norm.weight",          |c| vec![c.head_dim], Always),
        spec(AttnOutput,  Block,  "attn_output.weight",          "self_attn.o_proj.weight",          |c| vec![c.n_embd, c.q_dim], Always),
        spec(AttnPostNorm, Block, "post_attention_norm.weight",  "post_attention_layernorm.weight",  |c| vec![c.n_embd], Always),
        spec(FfnNorm,     Block,  "ffn_norm.weight",             "pre_feedforward_layernorm.weight", |c| vec![c.n_embd], Always),
        spec(FfnGate,     Block,  "ffn_gate.weight",             "mlp.gate_proj.weight",             |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnUp,       Block,  "ffn_up.weight",               "mlp.up_proj.weight",               |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnDown,     Block,  "ffn_down.weight",             "mlp.down_proj.weight",             |c| vec![c.n_embd, c.n_ff], Always),
        spec(FfnPostNorm, Block,  "post_ffw_norm.weight",        "post_feedforward_layernorm.weight", |c| vec![c.n_embd], Always),
        spec(OutputNorm,  Output, "output_norm.weight",          "model.norm.weight",                |c| vec![c.n_embd], Always),
        spec(LmHead,      Output, "output.weight",               "lm_head.weight",                   |c| vec![c.n_vocab, c.n_embd], Untied),
    ],
    fused: &[],
};
