//! Fused tensors split by rows into their parts (Phi-3's Q|K|V and gate|up, GPT-2's Q|K|V
//! and its bias): in the header's tensor index, so that checks and memory plans see the
//! parts, and in the stream, whole tensors and pieces alike. Rows are whole blocks of any GGUF type, so a part is a run of
//! the fused tensor's bytes.

use crate::error::{Error, Result};
use crate::formats::{Piece, Tensor, TensorInfo, PIECE_ROW_MULTIPLE};
use crate::model::config::ModelConfig;

/// The parts of fused tensor `name` of `dims` dimensions with `total_rows` rows:
/// (canonical name, first row, rows). `None` when `name` is not fused in this architecture,
/// is not a matrix or vector, or has the rows of one of its parts already (Phi-3's GGUF
/// `ffn_up` is the stack, a split part takes its name).
fn parts_of(
    config: &ModelConfig,
    name: &str,
    dims: usize,
    total_rows: usize,
) -> Option<Vec<(String, usize, usize)>> {
    if !matches!(dims, 1 | 2) {
        return None;
    }
    let table = config.arch.table();
    let (layer, fused) = table.fused_of(name)?;
    let parts = table.fused_parts(fused, layer, &config.dims());
    if parts.iter().map(|(_, rows)| rows).sum::<usize>() != total_rows {
        return None;
    }
    let mut first = 0;
    Some(
        parts
            .into_iter()
            .map(|(name, rows)| {
                let part = (name, first, rows);
                first += rows;
                part
            })
            .collect(),
    )
}

/// The canonical names a file's tensor stands for: a fused tensor's parts, else itself
/// (for indexes that list names without shapes).
pub fn part_names(config: &ModelConfig, name: &str) -> Vec<String> {
    let table = config.arch.table();
    match table.fused_of(name) {
        Some((layer, fused)) => table
            .fused_parts(fused, layer, &config.dims())
            .into_iter()
            .map(|(n, _)| n)
            .collect(),
        None => vec![name.to_string()],
    }
}

/// `shape` with `rows` rows (a vector's rows are its elements).
fn with_rows(shape: &[usize], rows: usize) -> Vec<usize> {
    let mut shape = shape.to_vec();
    shape[0] = rows;
    shape
}

/// Bytes per row of a tensor of `size` bytes and `rows` rows.
fn row_bytes(name: &str, size: usize, rows: usize) -> Result<usize> {
    match rows > 0 && size.is_multiple_of(rows) {
        true => Ok(size / rows),
        false => Err(Error::Malformed(format!(
            "tensor '{name}' of {size} bytes does not hold {rows} whole rows"
        ))),
    }
}

/// The header's tensor index with every fused tensor replaced by its parts.
pub fn split_infos(config: &ModelConfig, tensors: Vec<TensorInfo>) -> Result<Vec<TensorInfo>> {
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        let rows = t.shape.first().copied().unwrap_or(0);
        let Some(parts) = parts_of(config, &t.name, t.shape.len(), rows) else {
            out.push(t);
            continue;
        };
        let row = row_bytes(&t.name, t.size, rows)?;
        out.extend(parts.into_iter().map(|(name, first, rows)| TensorInfo {
            name,
            dtype: t.dtype,
            shape: with_rows(&t.shape, rows),
            offset: t.offset + (first * row) as u64,
            size: rows * row,
        }));
    }
    Ok(out)
}

/// A fused tensor, or a piece of one, as the parts (or pieces of parts) it holds; any
/// other tensor unchanged.
pub fn split_tensor(config: &ModelConfig, t: Tensor) -> Result<Vec<Tensor>> {
    let total = t
        .piece
        .map_or(t.shape.first().copied().unwrap_or(0), |p| p.total_rows);
    let Some(parts) = parts_of(config, &t.name, t.shape.len(), total) else {
        return Ok(vec![t]);
    };
    let (first, rows) = (t.first_row(), t.shape[0]);
    let row = row_bytes(&t.name, t.data.len(), rows)?;
    let mut out = Vec::new();
    for (name, start, part_rows) in parts {
        let (lo, hi) = (first.max(start), (first + rows).min(start + part_rows));
        if lo >= hi {
            continue;
        }
        let whole = lo == start && hi == start + part_rows;
        // Pieces of a part must start on the row blocks GPU layouts are built in.
        if !whole && !(lo - start).is_multiple_of(PIECE_ROW_MULTIPLE) {
            return Err(Error::UnsupportedFeature(format!(
                "tensor '{}' streamed in pieces: its part '{name}' does not start on a \
                 multiple of {PIECE_ROW_MULTIPLE} rows",
                t.name
            )));
        }
        out.push(Tensor {
            name,
            dtype: t.dtype,
            shape: with_rows(&t.shape, hi - lo),
            data: t.data[(lo - first) * row..(hi - first) * row].to_vec(),
            piece: (!whole).then_some(Piece {
                first_row: lo - start,
                total_rows: part_rows,
            }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::DType;
    use crate::model::arch::Arch;
    use crate::model::rope::{RopeScaling, RopeStyle};

    fn phi3() -> ModelConfig {
        ModelConfig {
            arch: Arch::Phi3,
            name: None,
            n_vocab: 10,
            n_embd: 4,
            n_layer: 1,
            n_head: 2,
            n_head_kv: 1,
            head_dim: 32,
            n_ff: 32,
            n_ctx_train: 64,
            rope_theta: 1e4,
            rope_style: RopeStyle::RotateHalf,
            norm_eps: 1e-5,
            tied_embeddings: true,
            qkv_bias: false,
            qk_norm: false,
            ffn_activation: Default::default(),
            post_norms: false,
            embedding_scale: false,
            sliding_window: 0,
            global_every: 0,
            rope_theta_local: 1e4,
            rope_scaling: RopeScaling::None,
            layer_norm: false,
            learned_positions: false,
            ffn_gated: true,
            output_biases: false,
        }
    }

    /// Rows of 4 f32 values: row r holds r in every column.
    fn rows(first: usize, n: usize) -> Vec<u8> {
        (first..first + n)
            .flat_map(|r| [r as f32; 4])
            .flat_map(f32::to_le_bytes)
            .collect()
    }

    fn first_value(t: &Tensor) -> f32 {
        f32::from_le_bytes(t.data[..4].try_into().unwrap())
    }

    #[test]
    fn a_fused_index_entry_becomes_its_parts() {
        let qkv = TensorInfo {
            name: "blk.0.attn_qkv.weight".into(),
            dtype: DType::F32,
            shape: vec![128, 4],
            offset: 1000,
            size: 128 * 16,
        };
        let parts = split_infos(&phi3(), vec![qkv]).unwrap();
        let names: Vec<_> = parts
            .iter()
            .map(|p| (p.name.as_str(), p.shape[0], p.offset))
            .collect();
        assert_eq!(
            names,
            [
                ("blk.0.attn_q.weight", 64, 1000),
                ("blk.0.attn_k.weight", 32, 1000 + 64 * 16),
                ("blk.0.attn_v.weight", 32, 1000 + 96 * 16),
            ]
        );
        // A part-sized `ffn_up` is the part itself.
        let up = TensorInfo {
            name: "blk.0.ffn_up.weight".into(),
            dtype: DType::F32,
            shape: vec![32, 4],
            offset: 0,
            size: 32 * 16,
        };
        assert_eq!(split_infos(&phi3(), vec![up.clone()]).unwrap(), vec![up]);
    }

    #[test]
    fn pieces_of_a_fused_tensor_become_pieces_of_its_parts() {
        let piece = |first: usize, n: usize| Tensor {
            name: "blk.0.ffn_up.weight".into(),
            dtype: DType::F32,
            shape: vec![n, 4],
            data: rows(first, n),
            piece: Some(Piece {
                first_row: first,
                total_rows: 64,
            }),
        };
        // Rows 0..32 are the gate, 32..64 the up projection.
        let out = split_tensor(&phi3(), piece(0, 32)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].name.as_str(), out[0].piece),
            ("blk.0.ffn_gate.weight", None)
        );
        let whole = Tensor {
            piece: None,
            ..piece(0, 64)
        };
        let out = split_tensor(&phi3(), whole).unwrap();
        assert_eq!(out[1].name, "blk.0.ffn_up.weight");
        assert_eq!(
            (first_value(&out[1]), out[1].shape[0], out[1].piece),
            (32.0, 32, None)
        );
        // A split part is not split again.
        let again = split_tensor(&phi3(), out[1].clone()).unwrap();
        assert_eq!(again[0].data, out[1].data);
    }

    #[test]
    fn pieces_off_the_row_blocks_are_refused() {
        let mut c = phi3();
        c.head_dim = 16; // Q 32 rows, K and V 16 each: V starts at row 48.
        let t = Tensor {
            name: "blk.0.attn_qkv.weight".into(),
            dtype: DType::F32,
            shape: vec![32, 4],
            data: rows(32, 32),
            piece: Some(Piece {
                first_row: 32,
                total_rows: 64,
            }),
        };
        let out = split_tensor(&c, t).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].piece, None);
        let t = Tensor {
            name: "blk.0.attn_qkv.weight".into(),
            dtype: DType::F32,
            shape: vec![8, 4],
            data: rows(40, 8),
            piece: Some(Piece {
                first_row: 40,
                total_rows: 64,
            }),
        };
        assert!(matches!(
            split_tensor(&c, t),
            Err(Error::UnsupportedFeature(_))
        ));
    }
}
