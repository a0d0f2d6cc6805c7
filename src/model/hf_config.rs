//! A Hugging Face `config.json` read as a model: the [`ModelConfig`] it describes, the
//! storage dtype it declares, and the GGUF-style metadata that stands in for a GGUF
//! header's, plus the mapping between Hugging Face tensor names and canonical GGUF names.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::formats::hf::{field, parse_object};
use crate::formats::{DType, MetaValue, Metadata};
use crate::model::config::{Arch, ModelConfig, RopeStyle};

fn opt_usize(map: &Map<String, Value>, key: &str) -> Result<Option<usize>> {
    match field(map, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| Error::WrongType {
                key: key.to_string(),
                expected: "unsigned integer",
            }),
    }
}

fn req_usize(map: &Map<String, Value>, key: &str) -> Result<usize> {
    opt_usize(map, key)?.ok_or_else(|| Error::MissingKey(key.to_string()))
}

fn opt_f64(map: &Map<String, Value>, key: &str) -> Result<Option<f64>> {
    match field(map, key) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| Error::WrongType {
            key: key.to_string(),
            expected: "number",
        }),
    }
}

fn opt_bool(map: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match field(map, key) {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| Error::WrongType {
            key: key.to_string(),
            expected: "bool",
        }),
    }
}

/// The architecture named by `model_type`, or else by `architectures[0]`.
fn arch_of(map: &Map<String, Value>) -> Result<Arch> {
    let model_type = field(map, "model_type").and_then(Value::as_str);
    let class = field(map, "architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    match (model_type, class) {
        (Some("llama" | "mistral"), _) => Ok(Arch::Llama),
        (Some("qwen2"), _) => Ok(Arch::Qwen2),
        (Some(other), _) => Err(Error::UnsupportedArchitecture(other.to_string())),
        (None, Some("LlamaForCausalLM" | "MistralForCausalLM")) => Ok(Arch::Llama),
        (None, Some("Qwen2ForCausalLM")) => Ok(Arch::Qwen2),
        (None, Some(other)) => Err(Error::UnsupportedArchitecture(other.to_string())),
        (None, None) => Err(Error::MissingKey("model_type".into())),
    }
}

/// The configuration described by a Hugging Face `config.json`.
pub fn config_from_hf(config_json: &[u8]) -> Result<ModelConfig> {
    let map = parse_object(config_json, "config.json")?;
    let arch = arch_of(&map)?;
    let n_embd = req_usize(&map, "hidden_size")?;
    let n_head = req_usize(&map, "num_attention_heads")?;
    if field(&map, "rope_scaling").is_some() {
        log::warn!("config.json: rope_scaling is not supported and is ignored");
    }
    let head_dim = match opt_usize(&map, "head_dim")? {
        Some(d) => d,
        None if n_head > 0 => n_embd / n_head,
        None => 0,
    };
    let config = ModelConfig {
        arch,
        name: field(&map, "_name_or_path")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        n_vocab: req_usize(&map, "vocab_size")?,
        n_embd,
        n_layer: req_usize(&map, "num_hidden_layers")?,
        n_head,
        n_head_kv: opt_usize(&map, "num_key_value_heads")?.unwrap_or(n_head),
        head_dim,
        n_ff: req_usize(&map, "intermediate_size")?,
        n_ctx_train: req_usize(&map, "max_position_embeddings")?,
        rope_theta: opt_f64(&map, "rope_theta")?.unwrap_or(10_000.0) as f32,
        // Hugging Face checkpoints keep Q/K in the rotate-half layout.
        rope_style: RopeStyle::RotateHalf,
        norm_eps: opt_f64(&map, "rms_norm_eps")?.unwrap_or(1e-6) as f32,
        // transformers' Llama, Mistral and Qwen2 configs all default to untied.
        tied_embeddings: opt_bool(&map, "tie_word_embeddings")?.unwrap_or(false),
        qkv_bias: arch == Arch::Qwen2,
    };
    config.validate()?;
    Ok(config)
}

/// Metadata for a Hugging Face model, under the keys a GGUF file uses for the same facts,
/// so that a description of the model reads one shape. (The tokenizer settings travel
/// beside it, in `ModelHeader::hf_tokenizer`.)
pub fn hf_metadata(config: &ModelConfig) -> Metadata {
    let mut metadata = Metadata::default();
    let arch = match config.arch {
        Arch::Llama => "llama",
        Arch::Qwen2 => "qwen2",
    };
    metadata.insert("general.architecture", MetaValue::String(arch.into()));
    if let Some(name) = &config.name {
        metadata.insert("general.name", MetaValue::String(name.clone()));
    }
    metadata
}

/// Per-layer tensor names: (Hugging Face suffix after `model.layers.N.`, GGUF role).
const LAYER_NAMES: [(&str, &str); 12] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.q_proj.bias", "attn_q.bias"),
    ("self_attn.k_proj.bias", "attn_k.bias"),
    ("self_attn.v_proj.bias", "attn_v.bias"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
];

/// Model-level tensor names: (Hugging Face, GGUF).
const GLOBAL_NAMES: [(&str, &str); 3] = [
    ("model.embed_tokens.weight", "token_embd.weight"),
    ("model.norm.weight", "output_norm.weight"),
    ("lm_head.weight", "output.weight"),
];

/// The canonical GGUF name of a Hugging Face tensor, or `None` for tensors the engine does
/// not use (e.g. `rotary_emb.inv_freq`).
pub fn hf_to_gguf_name(hf: &str) -> Option<String> {
    if let Some((_, gguf)) = GLOBAL_NAMES.iter().find(|(h, _)| *h == hf) {
        return Some(gguf.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (_, role) = LAYER_NAMES.iter().find(|(h, _)| *h == suffix)?;
    Some(format!("blk.{layer}.{role}"))
}

/// The Hugging Face name of a canonical GGUF tensor, or `None` for names with no
/// Hugging Face counterpart.
pub fn gguf_to_hf_name(gguf: &str) -> Option<String> {
    if let Some((hf, _)) = GLOBAL_NAMES.iter().find(|(_, g)| *g == gguf) {
        return Some(hf.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, role) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (suffix, _) = LAYER_NAMES.iter().find(|(_, g)| *g == role)?;
    Some(format!("model.layers.{layer}.{suffix}"))
}

/// The storage dtype config.json declares (`torch_dtype`), when it names one we read.
pub fn torch_dtype(config_json: &[u8]) -> Result<Option<DType>> {
    let map = parse_object(config_json, "config.json")?;
    Ok(match field(&map, "torch_dtype").and_then(Value::as_str) {
        Some("float16") => Some(DType::F16),
        Some("bfloat16") => Some(DType::BF16),
        Some("float32") => Some(DType::F32),
        _ => None,
    })
}
