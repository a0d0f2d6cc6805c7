//! GPT-2: a learned position embedding added to the token embedding (no rope), LayerNorms
//! with biases, biases on every product, an ungated FFN with GELU (tanh), the LM head tied
//! to the embedding. Files stack Q|K|V (`attn_qkv`, `c_attn`) with its bias; Hugging Face
//! checkpoints store the blocks' matrices transposed (`Conv1D`, `[in, out]`).

use super::Presence::{Always, QkvBias, Untied};
use super::Role::*;
use super::Scope::{Block, Input, Output};
use super::{spec, ArchTable, FfnActivation, FusedSpec};
use crate::model::rope::RopeStyle;

#[rustfmt::skip]
pub const TABLE: ArchTable = ArchTable {
    gguf_name: "gpt2",
    hf_model_types: &["gpt2"],
    hf_classes: &["GPT2LMHeadModel"],
    hf_config_flags: &[],
    // No rope; the style is never used.
    gguf_rope: RopeStyle::RotateHalf,
    qkv_bias: true,
    qk_norm: false,
    ffn_activation: FfnActivation::GeluTanh,
    post_norms: false,
    embedding_scale: false,
    sliding_window: None,
    hf_norm_offset: 0.0,
    hf_tied_by_default: true,
    hf_layer_prefix: "h.",
    hf_transposed: true,
    layer_norm: true,
    learned_positions: true,
    ffn_gated: false,
    output_biases: true,
    tensors: &[
        spec(TokEmbd,        Input,  "token_embd.weight",    "wte.weight",        |c| vec![c.n_vocab, c.n_embd], Always),
        spec(PosEmbd,        Input,  "position_embd.weight", "wpe.weight",        |c| vec![c.n_ctx, c.n_embd], Always),
        spec(AttnNorm,       Block,  "attn_norm.weight",     "ln_1.weight",       |c| vec![c.n_embd], Always),
        spec(AttnNormBias,   Block,  "attn_norm.bias",       "ln_1.bias",         |c| vec![c.n_embd], Always),
        spec(AttnQ,          Block,  "attn_q.weight",        "",                  |c| vec![c.q_dim, c.n_embd], Always),
        spec(AttnK,          Block,  "attn_k.weight",        "",                  |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnV,          Block,  "attn_v.weight",        "",                  |c| vec![c.kv_dim, c.n_embd], Always),
        spec(AttnQBias,      Block,  "attn_q.bias",          "",                  |c| vec![c.q_dim], QkvBias),
        spec(AttnKBias,      Block,  "attn_k.bias",          "",                  |c| vec![c.kv_dim], QkvBias),
        spec(AttnVBias,      Block,  "attn_v.bias",          "",                  |c| vec![c.kv_dim], QkvBias),
        spec(AttnOutput,     Block,  "attn_output.weight",   "attn.c_proj.weight", |c| vec![c.n_embd, c.q_dim], Always),
        spec(AttnOutputBias, Block,  "attn_output.bias",     "attn.c_proj.bias",  |c| vec![c.n_embd], Always),
        spec(FfnNorm,        Block,  "ffn_norm.weight",      "ln_2.weight",       |c| vec![c.n_embd], Always),
        spec(FfnNormBias,    Block,  "ffn_norm.bias",        "ln_2.bias",         |c| vec![c.n_embd], Always),
        spec(FfnUp,          Block,  "ffn_up.weight",        "mlp.c_fc.weight",   |c| vec![c.n_ff, c.n_embd], Always),
        spec(FfnUpBias,      Block,  "ffn_up.bias",          "mlp.c_fc.bias",     |c| vec![c.n_ff], Always),
        spec(FfnDown,        Block,  "ffn_down.weight",      "mlp.c_proj.weight", |c| vec![c.n_embd, c.n_ff], Always),
        spec(FfnDownBias,    Block,  "ffn_down.bias",        "mlp.c_proj.bias",   |c| vec![c.n_embd], Always),
        spec(OutputNorm,     Output, "output_norm.weight",   "ln_f.weight",       |c| vec![c.n_embd], Always),
        spec(OutputNormBias, Output, "output_norm.bias",     "ln_f.bias",         |c| vec![c.n_embd], Always),
        spec(LmHead,         Output, "output.weight",        "lm_head.weight",    |c| vec![c.n_vocab, c.n_embd], Untied),
    ],
    fused: &[
        FusedSpec { gguf: "attn_qkv.weight", hf: "attn.c_attn.weight", parts: &[AttnQ, AttnK, AttnV] },
        FusedSpec { gguf: "attn_qkv.bias",   hf: "attn.c_attn.bias",   parts: &[AttnQBias, AttnKBias, AttnVBias] },
    ],
};
