//! CPU dequantization of the tensor types hearth reads, following ggml's block layouts
//! exactly (ggml-quants.c, `dequantize_row_q8_0` / `_q4_0` / `_q4_1` / `_q5_0` / `_q5_1` /
//! `_q4_K` / `_q5_K` / `_q6_K`): the same f32 operations in the same order, so the results
//! are bit-identical to ggml's.
//!
//! Block layouts (little-endian; `d`, `m`, `dmin` are f16):
//! - Q8_0 (32 elements, 34 bytes): `d`, `i8 q[32]`;          x[i] = d * q[i]
//! - Q4_0 (32, 18): `d`, `u8 qs[16]`;                         x[i] = d * (nibble - 8)
//! - Q4_1 (32, 20): `d`, `m`, `u8 qs[16]`;                    x[i] = d * nibble + m
//! - Q5_0 (32, 22): `d`, `u8 qh[4]`, `u8 qs[16]`;             x[i] = d * (q5 - 16)
//! - Q5_1 (32, 24): `d`, `m`, `u8 qh[4]`, `u8 qs[16]`;        x[i] = d * q5 + m
//! - Q4_K (256, 144): `d`, `dmin`, `u8 scales[12]`, `u8 qs[128]`
//! - Q5_K (256, 176): `d`, `dmin`, `u8 scales[12]`, `u8 qh[32]`, `u8 qs[128]`
//! - Q6_K (256, 210): `u8 ql[128]`, `u8 qh[64]`, `i8 scales[16]`, `d` (last)
//!
//! In the 32-element 4- and 5-bit formats byte `j` of `qs` holds element `j` in its low
//! nibble and element `j + 16` in its high nibble; for Q5 bit `j` of the u32 `qh` is the
//! fifth bit of element `j` and bit `j + 16` that of element `j + 16`.
//!
//! Q4_K and Q5_K split 256 elements into 8 sub-blocks of 32, each with a 6-bit scale `sc`
//! and 6-bit min `mn` packed into `scales` ([`scale_min_k4`]); x = d * sc * q - dmin * mn.
//! The elements go in groups of 64: 32 bytes of `qs` give the first sub-block of the group
//! in their low nibbles and the second in their high nibbles. Q5_K's fifth bits: bit `2g`
//! of `qh[l]` for element `l` of group `g`'s first sub-block, bit `2g + 1` for its second.
//!
//! Q6_K splits 256 elements into 16 sub-blocks of 16 with an i8 scale each;
//! x = d * scale * (q6 - 32). Each half of 128 elements takes 64 bytes of `ql` and 32 of
//! `qh`: element `l` (of 32) of its four quarters gets the low nibble of `ql[l]`, of
//! `ql[l + 32]`, the high nibble of `ql[l]`, of `ql[l + 32]`, and bits 0-1, 2-3, 4-5, 6-7
//! of `qh[l]` as its top two bits.
//!
//! The precision contract of the engine: weights are dequantized in f32, then rounded once
//! to f16 ([`to_f16`]); that is what the GPU stores and what the CPU reference computes with.

use half::{bf16, f16};

use super::{DType, Tensor};
use crate::error::{Error, Result};

/// Elements in one block of the 32-element quantized types.
const QK: usize = 32;
/// Elements in one K-quant super-block.
const QK_K: usize = 256;

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
    if let DType::Unsupported(t) = dtype {
        // The tensor's name is filled in by the callers that know it (`name_error`).
        return Err(Error::UnsupportedTensorType {
            tensor: String::new(),
            dtype: t.to_string(),
        });
    }
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
                let d = f16_at(b, 0);
                for (x, &q) in xs.iter_mut().zip(&b[2..34]) {
                    *x = d * f32::from(q as i8);
                }
            }
        }
        DType::Q4_0 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(18)) {
                let d = f16_at(b, 0);
                let (lo, hi) = xs.split_at_mut(QK / 2);
                for ((xl, xh), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(&b[2..18]) {
                    *xl = d * (f32::from(q & 0x0f) - 8.0);
                    *xh = d * (f32::from(q >> 4) - 8.0);
                }
            }
        }
        DType::Q4_1 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(20)) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let (lo, hi) = xs.split_at_mut(QK / 2);
                for ((xl, xh), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(&b[4..20]) {
                    *xl = d * f32::from(q & 0x0f) + m;
                    *xh = d * f32::from(q >> 4) + m;
                }
            }
        }
        DType::Q5_0 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(22)) {
                let d = f16_at(b, 0);
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                for_q5_pairs(xs, qh, &b[6..22], |q| d * (q - 16) as f32);
            }
        }
        DType::Q5_1 => {
            for (xs, b) in out.chunks_exact_mut(QK).zip(bytes.chunks_exact(24)) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                for_q5_pairs(xs, qh, &b[8..24], |q| d * q as f32 + m);
            }
        }
        DType::Q4_K => {
            for (xs, b) in out.chunks_exact_mut(QK_K).zip(bytes.chunks_exact(144)) {
                dequantize_q4_k_block(b, xs);
            }
        }
        DType::Q5_K => {
            for (xs, b) in out.chunks_exact_mut(QK_K).zip(bytes.chunks_exact(176)) {
                dequantize_q5_k_block(b, xs);
            }
        }
        DType::Q6_K => {
            for (xs, b) in out.chunks_exact_mut(QK_K).zip(bytes.chunks_exact(210)) {
                dequantize_q6_k_block(b, xs);
            }
        }
        // Rejected above, before the length check.
        DType::Unsupported(_) => {}
    }
    Ok(())
}

/// The f16 at byte `at` of a block, as f32.
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Fills a 32-element Q5_0/Q5_1 block: element `j` and `j + 16` take the low and high
/// nibble of `qs[j]` plus their fifth bit from `qh`; `value` maps the 5-bit code to f32.
fn for_q5_pairs(xs: &mut [f32], qh: u32, qs: &[u8], value: impl Fn(i32) -> f32) {
    let (lo, hi) = xs.split_at_mut(QK / 2);
    for (j, ((xl, xh), &q)) in lo.iter_mut().zip(hi.iter_mut()).zip(qs).enumerate() {
        let high_lo = ((qh >> j) << 4) & 0x10;
        let high_hi = (qh >> (j + 12)) & 0x10;
        *xl = value((u32::from(q & 0x0f) | high_lo) as i32);
        *xh = value((u32::from(q >> 4) | high_hi) as i32);
    }
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) packed in
/// the 12 `scales` bytes of a Q4_K/Q5_K block. Sub-blocks 0-3 use the low 6 bits of bytes
/// `j` and `j + 4`; sub-blocks 4-7 take their low 4 bits from the nibbles of byte `j + 4`
/// and their top 2 bits from the spare top bits of bytes `j - 4` and `j`.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// The scales and mins of sub-blocks `2g` and `2g + 1`, already multiplied by `d` and
/// `dmin` (as ggml does, before the per-element product).
fn k4_group_scales(scales: &[u8], g: usize, d: f32, dmin: f32) -> [(f32, f32); 2] {
    [2 * g, 2 * g + 1].map(|j| {
        let (sc, m) = scale_min_k4(j, scales);
        (d * f32::from(sc), dmin * f32::from(m))
    })
}

fn dequantize_q4_k_block(b: &[u8], xs: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (g, (group, q)) in xs.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
        let [(d1, m1), (d2, m2)] = k4_group_scales(scales, g, d, dmin);
        let (lo, hi) = group.split_at_mut(32);
        for ((xl, xh), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(q) {
            *xl = d1 * f32::from(q & 0x0f) - m1;
            *xh = d2 * f32::from(q >> 4) - m2;
        }
    }
}

fn dequantize_q5_k_block(b: &[u8], xs: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for (g, (group, q)) in xs.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
        let [(d1, m1), (d2, m2)] = k4_group_scales(scales, g, d, dmin);
        let (bit_lo, bit_hi) = (1u8 << (2 * g), 2u8 << (2 * g));
        let (lo, hi) = group.split_at_mut(32);
        for (((xl, xh), &q), &h) in lo.iter_mut().zip(hi.iter_mut()).zip(q).zip(qh) {
            let five_lo = if h & bit_lo != 0 { 16 } else { 0 };
            let five_hi = if h & bit_hi != 0 { 16 } else { 0 };
            *xl = d1 * f32::from((q & 0x0f) + five_lo) - m1;
            *xh = d2 * f32::from((q >> 4) + five_hi) - m2;
        }
    }
}

fn dequantize_q6_k_block(b: &[u8], xs: &mut [f32]) {
    let d = f16_at(b, 208);
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    for (n, half) in xs.chunks_exact_mut(128).enumerate() {
        let ql = &ql[64 * n..64 * n + 64];
        let qh = &qh[32 * n..32 * n + 32];
        let sc = &scales[8 * n..8 * n + 8];
        for l in 0..32 {
            let is = l / 16;
            let h = qh[l];
            let codes = [
                (ql[l] & 0x0f) | ((h & 3) << 4),
                (ql[l + 32] & 0x0f) | (((h >> 2) & 3) << 4),
                (ql[l] >> 4) | (((h >> 4) & 3) << 4),
                (ql[l + 32] >> 4) | (((h >> 6) & 3) << 4),
            ];
            for (quarter, code) in codes.into_iter().enumerate() {
                let scale = f32::from(sc[is + 2 * quarter] as i8);
                let q = f32::from(code as i8 - 32);
                half[l + 32 * quarter] = d * scale * q;
            }
        }
    }
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
        Error::UnsupportedTensorType { dtype, .. } => Error::UnsupportedTensorType {
            tensor: tensor.to_string(),
            dtype,
        },
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
            piece: None,
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
