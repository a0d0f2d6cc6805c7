//! The tensors an architecture needs, by canonical GGUF name and shape, and the check
//! that a file provides them — run on the header, before any tensor bytes are fetched.

use crate::error::{Error, Result};
use crate::formats::{DType, TensorInfo};
use crate::model::config::ModelConfig;

/// Every tensor the model needs, with its shape (row-major, outermost first).
pub fn expected_tensors(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (embd, ff, q, kv) = (config.n_embd, config.n_ff, config.q_dim(), config.kv_dim());
    let mut out = vec![("token_embd.weight".to_string(), vec![config.n_vocab, embd])];
    for l in 0..config.n_layer {
        let name = |role: &str| format!("blk.{l}.{role}");
        out.push((name("attn_norm.weight"), vec![embd]));
        out.push((name("attn_q.weight"), vec![q, embd]));
        out.push((name("attn_k.weight"), vec![kv, embd]));
        out.push((name("attn_v.weight"), vec![kv, embd]));
        if config.qkv_bias {
            out.push((name("attn_q.bias"), vec![q]));
            out.push((name("attn_k.bias"), vec![kv]));
            out.push((name("attn_v.bias"), vec![kv]));
        }
        out.push((name("attn_output.weight"), vec![embd, q]));
        out.push((name("ffn_norm.weight"), vec![embd]));
        out.push((name("ffn_gate.weight"), vec![ff, embd]));
        out.push((name("ffn_up.weight"), vec![ff, embd]));
        out.push((name("ffn_down.weight"), vec![embd, ff]));
    }
    out.push(("output_norm.weight".to_string(), vec![embd]));
    if !config.tied_embeddings {
        out.push(("output.weight".to_string(), vec![config.n_vocab, embd]));
    }
    out
}

/// Fails with the first tensor that is missing, has the wrong shape or has a type hearth
/// cannot decode — all known from the header, so a model that cannot run fails before any
/// weight is fetched or uploaded. Tensors the model does not use (e.g.
/// `rope_freqs.weight`) are ignored, whatever their type.
pub fn check_tensors(config: &ModelConfig, tensors: &[TensorInfo]) -> Result<()> {
    let by_name: std::collections::HashMap<&str, &TensorInfo> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    for (name, expected) in expected_tensors(config) {
        let info = by_name
            .get(name.as_str())
            .ok_or_else(|| Error::MissingTensor(name.clone()))?;
        if !shape_matches(&expected, &info.shape) {
            return Err(Error::ShapeMismatch {
                tensor: name,
                expected,
                found: info.shape.clone(),
            });
        }
        if let DType::Unsupported(t) = info.dtype {
            return Err(Error::UnsupportedTensorType {
                tensor: name,
                dtype: t.to_string(),
            });
        }
    }
    Ok(())
}

/// Shapes match exactly, or a 1-D vector is stored as a single row `[1, n]`.
pub fn shape_matches(expected: &[usize], found: &[usize]) -> bool {
    expected == found
        || (expected.len() == 1 && found.len() == 2 && found[0] == 1 && found[1] == expected[0])
}
