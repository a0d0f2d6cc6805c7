//! A Hugging Face `config.json` read as a model: the [`ModelConfig`] it describes, the
//! storage dtype it declares, and the GGUF-style metadata that stands in for a GGUF
//! header's. (Tensor names map through the architecture tables, `model::arch`.)

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::formats::hf::{field, parse_object};
use crate::formats::{DType, MetaValue, Metadata, Tensor};
use crate::model::arch::{Arch, FfnActivation, Role};
use crate::model::config::ModelConfig;
use crate::model::rope::{RopeScaling, RopeStyle};

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

/// `key`, or GPT-2's name for the same size (`n_embd` for `hidden_size`, …).
fn size_or_gpt2(map: &Map<String, Value>, key: &str, gpt2: &str) -> Result<usize> {
    match opt_usize(map, key)? {
        Some(n) => Ok(n),
        None => opt_usize(map, gpt2)?.ok_or_else(|| Error::MissingKey(key.to_string())),
    }
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
    let unsupported = |name: &str| Error::UnsupportedArchitecture(name.to_string());
    match (model_type, class) {
        (Some(t), _) => Arch::from_hf_model_type(t).ok_or_else(|| unsupported(t)),
        (None, Some(c)) => Arch::from_hf_class(c).ok_or_else(|| unsupported(c)),
        (None, None) => Err(Error::MissingKey("model_type".into())),
    }
}

/// The kind of a config.json `rope_scaling` (transformers names it `rope_type`, older
/// files `type`).
fn scaling_kind(scaling: &Map<String, Value>) -> &str {
    field(scaling, "rope_type")
        .or_else(|| field(scaling, "type"))
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
}

/// config.json's `rope_scaling` ("default" is none); `map` is the whole config, where
/// Phi-3 keeps `original_max_position_embeddings`.
fn hf_rope_scaling(
    map: &Map<String, Value>,
    scaling: &Map<String, Value>,
    n_ctx_train: usize,
) -> Result<RopeScaling> {
    let kind = scaling_kind(scaling);
    let number =
        |key: &str| -> Result<Option<f32>> { Ok(opt_f64(scaling, key)?.map(|v| v as f32)) };
    let factor = || -> Result<f32> {
        match number("factor")? {
            Some(f) if f.is_finite() && f >= 1.0 => Ok(f),
            Some(f) => Err(Error::InvalidConfig(format!("rope scaling factor {f}"))),
            None => Err(Error::MissingKey("rope_scaling.factor".into())),
        }
    };
    let original = || -> Result<usize> {
        let key = "original_max_position_embeddings";
        Ok(match opt_usize(scaling, key)? {
            Some(n) => n,
            None => opt_usize(map, key)?.unwrap_or(n_ctx_train),
        })
    };
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor: factor()? },
        "yarn" => RopeScaling::Yarn {
            factor: factor()?,
            original_context: original()?,
            beta_fast: number("beta_fast")?.unwrap_or(32.0),
            beta_slow: number("beta_slow")?.unwrap_or(1.0),
        },
        "llama3" => RopeScaling::Llama3 {
            factor: factor()?,
            low_freq_factor: number("low_freq_factor")?.unwrap_or(1.0),
            high_freq_factor: number("high_freq_factor")?.unwrap_or(4.0),
            original_context: original()?,
        },
        // transformers' `_compute_longrope_parameters`: without an `attention_factor`,
        // √(1 + ln s / ln original) for a context stretched s times.
        "longrope" | "su" => {
            let original_context = original()?;
            let attn_factor = match number("attention_factor")? {
                Some(f) => f,
                None => {
                    let s = n_ctx_train as f64 / original_context.max(1) as f64;
                    match s > 1.0 && original_context > 1 {
                        true => (1.0 + s.ln() / (original_context as f64).ln()).sqrt() as f32,
                        false => 1.0,
                    }
                }
            };
            RopeScaling::LongRope {
                original_context,
                attn_factor,
            }
        }
        other => {
            return Err(Error::UnsupportedFeature(format!(
                "rope scaling '{other}' (config.json rope_scaling)"
            )))
        }
    })
}

/// LongRoPE's factor lists of config.json (`long_factor`, `short_factor`) as the F32
/// tensors a GGUF file holds them in (`rope_factors_long.weight`, `…_short.weight`), so
/// that the backends read them one way; none for other configs.
pub fn rope_factor_tensors(config_json: &[u8], config: &ModelConfig) -> Result<Vec<Tensor>> {
    if !matches!(config.rope_scaling, RopeScaling::LongRope { .. }) {
        return Ok(Vec::new());
    }
    let map = parse_object(config_json, "config.json")?;
    let scaling = field(&map, "rope_scaling").and_then(Value::as_object);
    let table = config.arch.table();
    let mut out = Vec::new();
    for (key, role) in [
        ("long_factor", Role::RopeFactorsLong),
        ("short_factor", Role::RopeFactorsShort),
    ] {
        let wrong = || Error::WrongType {
            key: format!("rope_scaling.{key}"),
            expected: "list of head_dim / 2 numbers",
        };
        let list = scaling
            .and_then(|s| field(s, key))
            .ok_or_else(|| Error::MissingKey(format!("rope_scaling.{key}")))?
            .as_array()
            .filter(|a| a.len() == config.head_dim / 2)
            .ok_or_else(wrong)?;
        let values = list
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32).ok_or_else(wrong))
            .collect::<Result<Vec<f32>>>()?;
        let name = table.spec(role).map_or("", |s| s.gguf).to_string();
        out.push(Tensor {
            name,
            dtype: DType::F32,
            shape: vec![values.len()],
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            piece: None,
        });
    }
    Ok(out)
}

/// How often a global layer comes, from `layer_types` (transformers' per-layer list of
/// "sliding_attention" and "full_attention"), when that list follows one period.
fn global_every_of(map: &Map<String, Value>, n_layer: usize) -> Result<Option<usize>> {
    let Some(types) = field(map, "layer_types").and_then(Value::as_array) else {
        return Ok(None);
    };
    let global: Vec<bool> = types
        .iter()
        .map(|t| t.as_str() == Some("full_attention"))
        .collect();
    let Some(first) = global.iter().position(|&g| g) else {
        return Ok(None);
    };
    let every = first + 1;
    let periodic = global.len() == n_layer
        && global
            .iter()
            .enumerate()
            .all(|(l, &g)| g == (l % every == every - 1));
    if !periodic {
        return Err(Error::UnsupportedFeature(
            "layer_types without a regular pattern of global layers (config.json)".into(),
        ));
    }
    Ok(Some(every))
}

/// The configuration described by a Hugging Face `config.json`.
pub fn config_from_hf(config_json: &[u8]) -> Result<ModelConfig> {
    let map = parse_object(config_json, "config.json")?;
    let arch = arch_of(&map)?;
    let n_embd = size_or_gpt2(&map, "hidden_size", "n_embd")?;
    let n_head = size_or_gpt2(&map, "num_attention_heads", "n_head")?;
    let n_ctx_train = size_or_gpt2(&map, "max_position_embeddings", "n_positions")?;
    let rope_scaling = match field(&map, "rope_scaling") {
        Some(Value::Object(scaling)) => hf_rope_scaling(&map, scaling, n_ctx_train)?,
        Some(Value::Null) | None => RopeScaling::None,
        Some(_) => {
            return Err(Error::WrongType {
                key: "rope_scaling".into(),
                expected: "object",
            })
        }
    };
    let head_dim = match opt_usize(&map, "head_dim")? {
        Some(d) => d,
        None if n_head > 0 => n_embd / n_head,
        None => 0,
    };
    let partial = opt_f64(&map, "partial_rotary_factor")?.unwrap_or(1.0);
    if partial != 1.0 {
        return Err(Error::UnsupportedFeature(format!(
            "partial rotary embedding (config.json partial_rotary_factor {partial})"
        )));
    }
    let table = arch.table();
    // LongRoPE's factors are tensors of the architectures that have them.
    if matches!(rope_scaling, RopeScaling::LongRope { .. })
        && table.spec(Role::RopeFactorsLong).is_none()
    {
        return Err(Error::UnsupportedFeature(format!(
            "rope scaling 'longrope' (config.json rope_scaling) in a {:?} model",
            arch
        )));
    }
    let rope_theta = opt_f64(&map, "rope_theta")?.unwrap_or(10_000.0) as f32;
    let mut config = ModelConfig {
        arch,
        name: field(&map, "_name_or_path")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        n_vocab: req_usize(&map, "vocab_size")?,
        n_embd,
        n_layer: size_or_gpt2(&map, "num_hidden_layers", "n_layer")?,
        n_head,
        n_head_kv: opt_usize(&map, "num_key_value_heads")?.unwrap_or(n_head),
        head_dim,
        // GPT-2 names it `n_inner`, null for 4 × n_embd.
        n_ff: match (
            opt_usize(&map, "intermediate_size")?,
            opt_usize(&map, "n_inner")?,
        ) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) if arch == Arch::Gpt2 => 4 * n_embd,
            (None, None) => return Err(Error::MissingKey("intermediate_size".into())),
        },
        n_ctx_train,
        rope_theta,
        // Hugging Face checkpoints keep Q/K in the rotate-half layout.
        rope_style: RopeStyle::RotateHalf,
        norm_eps: match table.layer_norm {
            true => opt_f64(&map, "layer_norm_epsilon")?.unwrap_or(1e-5),
            false => opt_f64(&map, "rms_norm_eps")?.unwrap_or(1e-6),
        } as f32,
        tied_embeddings: opt_bool(&map, "tie_word_embeddings")?.unwrap_or(table.hf_tied_by_default),
        qkv_bias: table.qkv_bias,
        qk_norm: table.qk_norm,
        ffn_activation: table.ffn_activation,
        post_norms: table.post_norms,
        embedding_scale: table.embedding_scale,
        sliding_window: 0,
        global_every: 0,
        // Without local layers, every layer's rope base is the one (as from GGUF).
        rope_theta_local: rope_theta,
        rope_scaling,
        layer_norm: table.layer_norm,
        learned_positions: table.learned_positions,
        ffn_gated: table.ffn_gated,
        output_biases: table.output_biases,
    };
    if let Some(defaults) = table.sliding_window {
        config.sliding_window = opt_usize(&map, "sliding_window")?.unwrap_or(0);
        config.global_every = match opt_usize(&map, "sliding_window_pattern")? {
            Some(n) => n,
            None => global_every_of(&map, config.n_layer)?.unwrap_or(defaults.global_every),
        };
        config.rope_theta_local =
            opt_f64(&map, "rope_local_base_freq")?.map_or(defaults.rope_theta_local, |v| v as f32);
    }
    let act = field(&map, "hidden_activation").or_else(|| field(&map, "activation_function"));
    if let Some(act) = act.and_then(Value::as_str) {
        let expected: &[&str] = match config.ffn_activation {
            FfnActivation::Silu => &["silu"],
            // GPT-2 names the tanh approximation `gelu_new`.
            FfnActivation::GeluTanh => &["gelu_pytorch_tanh", "gelu_new"],
        };
        let expected = match expected.contains(&act) {
            true => act,
            false => expected[0],
        };
        if act != expected {
            return Err(Error::UnsupportedFeature(format!(
                "hidden_activation '{act}' (config.json; this architecture runs '{expected}')"
            )));
        }
    }
    // Attention scaled other than by 1/√head_dim (Gemma 3 27B's query_pre_attn_scalar) and
    // logit soft-capping (Gemma 2) are not computed: refused rather than run without.
    if let Some(scalar) = opt_f64(&map, "query_pre_attn_scalar")? {
        if scalar != config.head_dim as f64 {
            return Err(Error::UnsupportedFeature(format!(
                "query_pre_attn_scalar {scalar} (config.json; attention is scaled by \
                 1/√head_dim = 1/√{})",
                config.head_dim
            )));
        }
    }
    for cap in ["final_logit_softcapping", "attn_logit_softcapping"] {
        if opt_f64(&map, cap)?.is_some_and(|v| v > 0.0) {
            return Err(Error::UnsupportedFeature(format!(
                "{cap} (config.json; logit soft-capping)"
            )));
        }
    }
    config.validate()?;
    Ok(config)
}

/// Metadata for a Hugging Face model, under the keys a GGUF file uses for the same facts,
/// so that a description of the model reads one shape. (The tokenizer settings travel
/// beside it, in `ModelHeader::hf_tokenizer`.)
pub fn hf_metadata(config: &ModelConfig) -> Metadata {
    let mut metadata = Metadata::default();
    let arch = config.arch.table().gguf_name;
    metadata.insert("general.architecture", MetaValue::String(arch.into()));
    if let Some(name) = &config.name {
        metadata.insert("general.name", MetaValue::String(name.clone()));
    }
    metadata
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
