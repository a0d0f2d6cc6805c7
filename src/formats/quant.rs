//! CPU dequantization of the tensor types hearth reads, following ggml's block layouts
//! exactly (ggml-quants.c, `dequantize_row_q8_0` / `_q4_0` / `_q4_1`).
//!
//! Block layouts (32 elements per block, little-endian):
//! - Q8_0: `f16 d`, `i8 q[32]`;                      x[i] = d * q[i]
//! - Q4_0: `f16 d`, `u8 qs[16]`;                      x[i] = d * (nibble - 8)
//! - Q4_1: `f16 d`, `f16 m`, `u8 qs[16]`;             x[i] = d * nibble + m
//!
//! In both 4-bit formats byte `j` of `qs` holds element `j` in its low nibble and element
//! `j + 16` in its high nibble.
//!
//! The precision contract of the engine: weights are dequantized in f32, then rounded once
//! to f16 ([`to_f16`]); that is what the GPU stores and what the CPU reference computes with.

use half::{bf16, f16};

use super::{DType, Tensor};
use crate::error::{Error, Result};

/// Elements in one block of every quantized type hearth reads.
const QK: usize = 32;

/// Dequantizes a whole tensor to f32.
pub fn dequantize_f32(t: &Tensor) -> Result<Vec<f32>> {
    let n = checked_elements(t)?;
    let mut out = vec![0.0f32; n];
    dequantize_into(t.dtype, &t.data, &mut out).map_err(|e| name_error(e, &t.name))?;
    Ok(out)
}

/// Dequantizes a whole tensor to f32, then rounds every element to f16.
pub fn to_f16(t: &Tensor) -> Result<Vec<f16>> {
    Ok(dequantize_f32(t)?.into_iter().map(f16::from_f32).collect())
}

/// Dequantizes a whole tensor to f32 and rounds every element through f16 and back: the
/// exact values the GPU computes with, as f32 (what the CPU reference uses).
pub fn to_f16_rounded_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(dequantize_f32(t)?
        .into_iter()
        .map(|x| f16::from_f32(x).to_f32())
        .collect())
}

/// Dequantizes rows `rows` of a 2-D (or higher: trailing dimensions are the row) tensor,
/// without touching the others. Lets an uploader convert a large tensor one shard at a time.
pub fn dequantize_rows_f32(t: &Tensor, rows: std::ops::Range<usize>) -> Result<Vec<f32>> {
    checked_elements(t)?;
    let (n_rows, row_len) = rows_and_cols(t)?;
    if rows.start > rows.end || rows.end > n_rows {
        return Err(Error::InvalidRequest(format!(
            "rows {}..{} of tensor '{}' which has {n_rows} rows",
            rows.start, rows.end, t.name
        )));
    }
    let row_bytes = t
        .dtype
        .bytes_for(row_len)
        .map_err(|e| name_error(e, &t.name))?;
    let bytes = t
        .data
        .get(rows.start * row_bytes..rows.end * row_bytes)
        .ok_or_else(|| Error::Truncated(format!("tensor '{}' data", t.name)))?;
    let mut out = vec![0.0f32; (rows.end - rows.start) * row_len];
    dequantize_into(t.dtype, bytes, &mut out).map_err(|e| name_error(e, &t.name))?;
    Ok(out)
}

/// `(rows, cols)` of a tensor seen as a matrix: the last dimension is the row length, all
/// others are flattened into rows. A 1-D tensor is one row.
pub fn rows_and_cols(t: &Tensor) -> Result<(usize, usize)> {
    let cols = *t
        .shape
        .last()
        .ok_or_else(|| Error::Malformed(format!("tensor '{}' has no dimensions", t.name)))?;
    let rows = t.shape[..t.shape.len() - 1]
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Malformed(format!("tensor '{}' size overflows", t.name)))?;
    Ok((rows, cols))
}

/// Dequantizes raw bytes of `dtype` into `out`, whose length is the element count. The
/// byte length must be exactly what `out.len()` elements take.
pub fn dequantize_into(dtype: DType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let expected = dtype.bytes_for(out.len())?;
    if bytes.len() != expected {
        return Err(Error::Malformed(format!(
            "{} bytes of {} data for {} elements (expected {expected})",
            bytes.len(),
            dtype.name(),
            out.len()
        )));
    }
    match dtype {
        DType::F32 => {
            for (x, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        DType::F16 => {
            for (x, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *x = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        DType::BF16 => {
            for (x, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *x = bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        DType::Q8_0 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(34)) {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                for (x, &q) in xs.iter_mut().zip(&b[2..34]) {
                    *x = d * f32::from(q as i8);
                }
            }
        }
        DType::Q4_0 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(18)) {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                let (lo, hi) = xs.split_at_mut(QK / 2);
                for ((xl, xh), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(&b[2..18]) {
                    *xl = d * (f32::from(q & 0x0f) - 8.0);
                    *xh = d * (f32::from(q >> 4) - 8.0);
                }
            }
        }
        DType::Q4_1 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(20)) {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                let m = f16::from_le_bytes([b[2], b[3]]).to_f32();
                let (lo, hi) = xs.split_at_mut(QK / 2);
                for ((xl, xh), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(&b[4..20]) {
                    *xl = d * f32::from(q & 0x0f) + m;
                    *xh = d * f32::from(q >> 4) + m;
                }
            }
        }
    }
    Ok(())
}

/// Element count of a tensor, checked against its bytes before anything is allocated.
fn checked_elements(t: &Tensor) -> Result<usize> {
    let n = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Malformed(format!("tensor '{}' size overflows", t.name)))?;
    let expected = t.dtype.bytes_for(n).map_err(|e| name_error(e, &t.name))?;
    if t.data.len() != expected {
        return Err(Error::Truncated(format!(
            "tensor '{}' of shape {:?} and type {} needs {expected} bytes, has {}",
            t.name,
            t.shape,
            t.dtype.name(),
            t.data.len()
        )));
    }
    Ok(n)
}

/// Prefixes an error about anonymous bytes with the tensor it concerns.
fn name_error(e: Error, tensor: &str) -> Error {
    match e {
        Error::Malformed(m) => Error::Malformed(format!("tensor '{tensor}': {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: DType, shape: &[usize], data: Vec<u8>) -> Tensor {
        Tensor {
            name: "t".into(),
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn f32_f16_bf16_round_trip() {
        let xs = [1.5f32, -2.25, 0.0, 1024.0];
        let f32_bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let f16b: Vec<u8> = xs.iter().flat_map(|&x| f16_bytes(x)).collect();
        let bf16b: Vec<u8> = xs
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect();
        for (dtype, data) in [
            (DType::F32, f32_bytes),
            (DType::F16, f16b),
            (DType::BF16, bf16b),
        ] {
            let got = dequantize_f32(&tensor(dtype, &[2, 2], data)).unwrap();
            assert_eq!(got, xs, "{dtype:?}");
        }
    }

    #[test]
    fn q8_0_block() {
        let mut b = f16_bytes(0.5).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let got = dequantize_f32(&tensor(DType::Q8_0, &[32], b)).unwrap();
        let want: Vec<f32> = (0..32).map(|i| 0.5 * (i as f32 - 16.0)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn q4_0_block_low_nibbles_first() {
        let mut b = f16_bytes(2.0).to_vec();
        // byte j: low nibble j (element j), high nibble 15 - j (element j + 16)
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let got = dequantize_f32(&tensor(DType::Q4_0, &[32], b)).unwrap();
        for j in 0..16 {
            assert_eq!(got[j], 2.0 * (j as f32 - 8.0));
            assert_eq!(got[j + 16], 2.0 * ((15 - j) as f32 - 8.0));
        }
    }

    /// Two Q4_1 blocks, (d, m) = (0.25, -1) and (1, 3); byte j holds nibble j low and
    /// nibble 15 - j high.
    fn q4_1_blocks() -> Vec<u8> {
        let mut b = Vec::new();
        for (d, m) in [(0.25f32, -1.0f32), (1.0, 3.0)] {
            b.extend(f16_bytes(d));
            b.extend(f16_bytes(m));
            b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        }
        b
    }

    #[test]
    fn q4_1_two_blocks() {
        let got = dequantize_f32(&tensor(DType::Q4_1, &[2, 32], q4_1_blocks())).unwrap();
        for (blk, (d, m)) in [(0.25f32, -1.0f32), (1.0, 3.0)].into_iter().enumerate() {
            for j in 0..16 {
                assert_eq!(got[blk * 32 + j], d * j as f32 + m);
                assert_eq!(got[blk * 32 + j + 16], d * (15 - j) as f32 + m);
            }
        }
        let row1 =
            dequantize_rows_f32(&tensor(DType::Q4_1, &[2, 32], q4_1_blocks()), 1..2).unwrap();
        assert_eq!(row1, got[32..]);
    }

    #[test]
    fn to_f16_rounds_once() {
        let x = 1.0f32 + 1.0 / 4096.0; // not representable in f16
        let t = tensor(
            DType::F32,
            &[2],
            [x, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let h = to_f16(&t).unwrap();
        assert_eq!(h, vec![f16::from_f32(x), f16::from_f32(2.0)]);
        assert_eq!(
            to_f16_rounded_f32(&t).unwrap()[0],
            f16::from_f32(x).to_f32()
        );
    }

    #[test]
    fn wrong_lengths_are_typed_errors() {
        // one byte short
        let err = dequantize_f32(&tensor(DType::Q4_1, &[32], vec![0; 19])).unwrap_err();
        assert!(matches!(err, Error::Truncated(_)), "{err}");
        // elements that do not fill a block
        let err = dequantize_f32(&tensor(DType::Q8_0, &[31], vec![0; 34])).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
        // shape overflow
        let err = dequantize_f32(&tensor(DType::F32, &[usize::MAX, 2], vec![])).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
        let err = dequantize_rows_f32(&tensor(DType::F32, &[2, 2], vec![0; 16]), 1..3).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    }
}
