//! The tensors an architecture needs, by canonical GGUF name and shape (from its table in
//! `model::arch`), and the check that a file provides them — run on the header, before any
//! tensor bytes are fetched.

use crate::error::{Error, Result};
use crate::formats::{DType, Tensor, TensorInfo};
use crate::model::config::ModelConfig;

/// Every tensor the model needs, by canonical name, with its shape (row-major, outermost
/// first): the architecture's table applied to `config`.
pub fn expected_tensors(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    config
        .tensors()
        .into_iter()
        .map(|t| (t.name, t.shape))
        .collect()
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

/// Checks that tensor `t` — whole, or a piece of whole rows (`Tensor::piece`) — is one of
/// `expected` shape, and that a piece stays within its tensor's rows.
pub fn check_tensor_shape(t: &Tensor, expected: &[usize]) -> Result<()> {
    let mut whole = t.shape.clone();
    if let (Some(p), Some(rows)) = (t.piece, whole.first_mut()) {
        if t.first_row() + *rows > p.total_rows {
            return Err(Error::Malformed(format!(
                "a piece of tensor '{}' reaches past its rows",
                t.name
            )));
        }
        *rows = p.total_rows;
    }
    if !shape_matches(expected, &whole) {
        return Err(Error::ShapeMismatch {
            tensor: t.name.clone(),
            expected: expected.to_vec(),
            found: whole,
        });
    }
    Ok(())
}
