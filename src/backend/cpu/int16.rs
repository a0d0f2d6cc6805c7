//! Products with activations quantized to 16 bits: each 32-value block of an input row
//! becomes 32 signed 16-bit integers with an f32 scale, and a weight row in a 32-block
//! format (Q4_0, Q4_1, Q8_0) is dotted with it in integers block by block, then scaled.
//! This skips decoding the weights to f32 (the f32 path's main cost) while rounding each
//! activation by at most 1/65534 of its block's range: 8-bit activations (llama.cpp's CPU
//! choice) cost as much here and moved SmolLM2's perplexity by 0.34 % and flipped answers
//! at near-ties that f32 and llama.cpp's references keep.
//!
//! Used for one token (decode), where reading the weights dominates; a prompt's tokens
//! share each row decoded once to f32 instead (`matrix`), which is faster than an integer
//! dot per token. In wasm the block dot uses SIMD128 (`i32x4.dot_i16x8_s`, four integer
//! lanes accumulated in f32 lanes); elsewhere plain integer loops, which the compiler
//! vectorizes (`pmaddwd` on x86).

#[cfg(target_arch = "wasm32")]
use std::sync::OnceLock;

#[cfg(target_arch = "wasm32")]
use half::f16;

use crate::formats::DType;

/// Values per quantization block (weights and activations).
const QK: usize = 32;

/// Whether rows of `dtype` have an integer dot with 16-bit activations.
pub fn supports(dtype: DType) -> bool {
    matches!(dtype, DType::Q4_0 | DType::Q4_1 | DType::Q8_0)
}

/// `n` rows of `cols` activations (`cols` a multiple of 32), block by block: 32 signed
/// 16-bit integers (|q| ≤ 32767), the scale `d`, the sum of the 32 integers and `d ×` that
/// sum.
pub struct Int16Rows {
    cols: usize,
    qs: Vec<i16>,
    d: Vec<f32>,
    sum: Vec<i32>,
    scaled_sum: Vec<f32>,
}

/// One row of [`Int16Rows`].
#[derive(Clone, Copy)]
pub struct Int16Row<'a> {
    qs: &'a [i16],
    d: &'a [f32],
    sum: &'a [i32],
    scaled_sum: &'a [f32],
}

impl Int16Rows {
    /// Quantizes `x` (`[n, cols]`, `cols` a multiple of 32), each block to its own range.
    pub fn quantize(x: &[f32], cols: usize) -> Self {
        debug_assert!(cols.is_multiple_of(QK) && x.len().is_multiple_of(cols));
        let blocks = x.len() / QK;
        let mut rows = Self {
            cols,
            qs: Vec::with_capacity(x.len()),
            d: Vec::with_capacity(blocks),
            sum: Vec::with_capacity(blocks),
            scaled_sum: Vec::with_capacity(blocks),
        };
        for block in x.chunks_exact(QK) {
            let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 32767.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for v in block {
                // |v × id| ≤ 32767 (up to rounding, which the cast saturates).
                let q = (v * id).round() as i16;
                sum += i32::from(q);
                rows.qs.push(q);
            }
            rows.d.push(d);
            rows.sum.push(sum);
            rows.scaled_sum.push(d * sum as f32);
        }
        rows
    }

    /// Row `t`.
    pub fn row(&self, t: usize) -> Int16Row<'_> {
        let b = self.cols / QK;
        Int16Row {
            qs: &self.qs[t * self.cols..(t + 1) * self.cols],
            d: &self.d[t * b..(t + 1) * b],
            sum: &self.sum[t * b..(t + 1) * b],
            scaled_sum: &self.scaled_sum[t * b..(t + 1) * b],
        }
    }
}

/// `w · x` for one weight row `w` (the row's bytes in `dtype`, one of [`supports`]) and an
/// activation row of the same length.
pub fn dot(dtype: DType, w: &[u8], x: Int16Row<'_>) -> f32 {
    match dtype {
        DType::Q8_0 => dot_q8_0(w, x),
        DType::Q4_0 => dot_q4(w, x, false),
        DType::Q4_1 => dot_q4(w, x, true),
        _ => unreachable!("int16::dot is only called for the formats `supports` names"),
    }
}

/// Every f16 as f32: in wasm a block's scales are converted by a lookup, since wasm has no
/// f16 conversion and the software one costs about as much as a block's integer dot
/// (natively `half` uses the CPU's conversion instruction where there is one, which is
/// faster than the lookup).
#[cfg(target_arch = "wasm32")]
fn f16_table() -> &'static [f32; 1 << 16] {
    static TABLE: OnceLock<Box<[f32; 1 << 16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Box::new([0.0f32; 1 << 16]);
        for (bits, v) in table.iter_mut().enumerate() {
            *v = f16::from_bits(bits as u16).to_f32();
        }
        table
    })
}

#[cfg(target_arch = "wasm32")]
fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_table()[usize::from(u16::from_le_bytes([b[at], b[at + 1]]))]
}

#[cfg(not(target_arch = "wasm32"))]
use crate::formats::quant::f16_at;

/// Q8_0 blocks (f16 scale, 32 signed bytes): `Σ d_w d_x Σ q_w q_x`.
fn dot_q8_0(w: &[u8], x: Int16Row<'_>) -> f32 {
    let mut acc = Lanes::default();
    for (i, (b, xq)) in w.chunks_exact(34).zip(x.qs.chunks_exact(QK)).enumerate() {
        let (Ok(qw), Ok(xq)) = (<&[u8; 32]>::try_from(&b[2..]), <&[i16; 32]>::try_from(xq)) else {
            continue;
        };
        acc.add(block_dot_bytes(qw, xq), f16_at(b, 0) * x.d[i]);
    }
    acc.sum()
}

/// Q4_0 (f16 scale, 16 bytes of nibble pairs; value `d (q − 8)`) or Q4_1 (f16 scale and
/// minimum; value `d q + m`). Element `j` of a block is the low nibble of byte `j`,
/// element `j + 16` its high nibble.
fn dot_q4(w: &[u8], x: Int16Row<'_>, with_min: bool) -> f32 {
    let block_bytes = if with_min { 20 } else { 18 };
    let quants_at = block_bytes - 16;
    let mut acc = Lanes::default();
    let mut mins = 0.0f32;
    for (i, (b, xq)) in w
        .chunks_exact(block_bytes)
        .zip(x.qs.chunks_exact(QK))
        .enumerate()
    {
        let (Ok(qw), Ok(xq)) = (
            <&[u8; 16]>::try_from(&b[quants_at..]),
            <&[i16; 32]>::try_from(xq),
        ) else {
            continue;
        };
        let scale = f16_at(b, 0) * x.d[i];
        if with_min {
            acc.add(block_dot_nibbles(qw, xq), scale);
            mins += f16_at(b, 2) * x.scaled_sum[i];
        } else {
            // Σ (q − 8) x = Σ q x − 8 Σ x, in integers.
            acc.add_minus(block_dot_nibbles(qw, xq), 8 * x.sum[i], scale);
        }
    }
    acc.sum() + mins
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    /// A block's integer dot as four i32 lanes (summed later, in f32).
    pub type BlockDot = v128;

    /// Four f32 accumulators.
    pub struct Lanes(v128);

    impl Default for Lanes {
        fn default() -> Self {
            Lanes(f32x4_splat(0.0))
        }
    }

    impl Lanes {
        /// `+= scale × dot`.
        #[inline(always)]
        pub fn add(&mut self, dot: BlockDot, scale: f32) {
            self.0 = f32x4_add(
                self.0,
                f32x4_mul(f32x4_convert_i32x4(dot), f32x4_splat(scale)),
            );
        }

        /// `+= scale × (dot − minus)`: `minus` taken from one lane.
        #[inline(always)]
        pub fn add_minus(&mut self, dot: BlockDot, minus: i32, scale: f32) {
            let dot = i32x4_sub(dot, i32x4_replace_lane::<0>(i32x4_splat(0), minus));
            self.add(dot, scale);
        }

        pub fn sum(&self) -> f32 {
            f32x4_extract_lane::<0>(self.0)
                + f32x4_extract_lane::<1>(self.0)
                + f32x4_extract_lane::<2>(self.0)
                + f32x4_extract_lane::<3>(self.0)
        }
    }

    /// `Σ w_j x_j`: 32 weights (as signed bytes) with 32 activations.
    #[inline(always)]
    pub fn block_dot_bytes(w: &[u8; 32], x: &[i16; 32]) -> BlockDot {
        // SAFETY: 16-byte loads inside a 32-byte and a 64-byte array (v128_load takes
        // unaligned addresses).
        let (w0, w1) = unsafe {
            (
                v128_load(w.as_ptr().cast()),
                v128_load(w.as_ptr().add(16).cast()),
            )
        };
        dot_32(
            [
                i16x8_extend_low_i8x16(w0),
                i16x8_extend_high_i8x16(w0),
                i16x8_extend_low_i8x16(w1),
                i16x8_extend_high_i8x16(w1),
            ],
            x,
        )
    }

    /// `Σ q_j x_j` with `q_j` the low nibbles (j < 16) and high nibbles (j ≥ 16) of `w`.
    #[inline(always)]
    pub fn block_dot_nibbles(w: &[u8; 16], x: &[i16; 32]) -> BlockDot {
        // SAFETY: a 16-byte load inside a 16-byte array.
        let v = unsafe { v128_load(w.as_ptr().cast()) };
        let lo = v128_and(v, u8x16_splat(0x0f));
        let hi = u8x16_shr(v, 4);
        dot_32(
            [
                u16x8_extend_low_u8x16(lo),
                u16x8_extend_high_u8x16(lo),
                u16x8_extend_low_u8x16(hi),
                u16x8_extend_high_u8x16(hi),
            ],
            x,
        )
    }

    /// 32 weights (four vectors of eight i16) dotted with 32 activations, as four i32
    /// lanes: |w x| ≤ 128 × 32767, so a pair fits i32 and so do the four pairs a lane adds.
    #[inline(always)]
    fn dot_32(w: [v128; 4], x: &[i16; 32]) -> v128 {
        let mut sum = i32x4_splat(0);
        for (i, w) in w.into_iter().enumerate() {
            // SAFETY: i < 4: eight i16 at 8 i, inside the 32.
            let x = unsafe { v128_load(x.as_ptr().add(8 * i).cast()) };
            sum = i32x4_add(sum, i32x4_dot_i16x8(w, x));
        }
        sum
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    /// A block's integer dot.
    pub type BlockDot = i32;

    /// One f32 accumulator.
    #[derive(Default)]
    pub struct Lanes(f32);

    impl Lanes {
        /// `+= scale × dot`.
        #[inline(always)]
        pub fn add(&mut self, dot: BlockDot, scale: f32) {
            self.0 += dot as f32 * scale;
        }

        /// `+= scale × (dot − minus)`.
        #[inline(always)]
        pub fn add_minus(&mut self, dot: BlockDot, minus: i32, scale: f32) {
            self.add(dot - minus, scale);
        }

        pub fn sum(&self) -> f32 {
            self.0
        }
    }

    /// `Σ w_j x_j`: 32 weights (as signed bytes) with 32 activations.
    #[inline(always)]
    pub fn block_dot_bytes(w: &[u8; 32], x: &[i16; 32]) -> BlockDot {
        w.iter()
            .zip(x)
            .map(|(&w, &x)| i32::from(w as i8) * i32::from(x))
            .sum()
    }

    /// `Σ q_j x_j` with `q_j` the low nibbles (j < 16) and high nibbles (j ≥ 16) of `w`.
    #[inline(always)]
    pub fn block_dot_nibbles(w: &[u8; 16], x: &[i16; 32]) -> BlockDot {
        let (x0, x1) = x.split_at(16);
        w.iter()
            .zip(x0.iter().zip(x1))
            .map(|(&w, (&a, &b))| {
                i32::from(w & 0x0f) * i32::from(a) + i32::from(w >> 4) * i32::from(b)
            })
            .sum()
    }
}

use lanes::{block_dot_bytes, block_dot_nibbles, Lanes};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::quant::dequantize_into;
    use half::f16;

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// Blocks of random bytes with small finite f16 scales.
    fn random_row(dtype: DType, blocks: usize, seed: u32) -> Vec<u8> {
        let block_bytes = dtype.bytes_for(QK).unwrap();
        let mut s = seed;
        let mut bytes: Vec<u8> = (0..blocks * block_bytes)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (s >> 16) as u8
            })
            .collect();
        for (i, b) in bytes.chunks_exact_mut(block_bytes).enumerate() {
            b[..2].copy_from_slice(&f16::from_f32(0.01 + 0.001 * i as f32).to_le_bytes());
            if dtype == DType::Q4_1 {
                b[2..4].copy_from_slice(&f16::from_f32(-0.05).to_le_bytes());
            }
        }
        bytes
    }

    #[test]
    fn int16_dot_matches_the_f32_dot_of_the_decoded_row() {
        let cols = 8 * QK;
        let x = pseudo_random(2 * cols, 7);
        let rows = Int16Rows::quantize(&x, cols);
        for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1] {
            let w = random_row(dtype, cols / QK, 3);
            let mut decoded = vec![0.0f32; cols];
            dequantize_into(dtype, &w, &mut decoded).unwrap();
            for t in 0..2 {
                let xt = &x[t * cols..(t + 1) * cols];
                let exact: f32 = decoded.iter().zip(xt).map(|(a, b)| a * b).sum();
                let norm: f32 = decoded.iter().zip(xt).map(|(a, b)| (a * b).abs()).sum();
                let got = dot(dtype, &w, rows.row(t));
                // Activations rounded to 1/65534 of their block's range.
                assert!(
                    (got - exact).abs() <= 1e-4 * norm,
                    "{dtype:?} row {t}: {got} vs {exact} (Σ|w x| {norm})"
                );
            }
        }
    }

    /// The integer dot is exact: it equals the f32 dot of the decoded weights with the
    /// dequantized activations (up to f32 rounding, and Q4_1's f16-rounded block sums).
    #[test]
    fn int16_dot_is_the_dot_of_the_dequantized_activations() {
        let cols = 8 * QK;
        let x = pseudo_random(cols, 5);
        let rows = Int16Rows::quantize(&x, cols);
        let r = rows.row(0);
        let x_back: Vec<f32> =
            r.qs.iter()
                .enumerate()
                .map(|(j, &q)| f32::from(q) * r.d[j / QK])
                .collect();
        for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1] {
            let w = random_row(dtype, cols / QK, 9);
            let mut decoded = vec![0.0f32; cols];
            dequantize_into(dtype, &w, &mut decoded).unwrap();
            let want: f32 = decoded.iter().zip(&x_back).map(|(a, b)| a * b).sum();
            let norm: f32 = decoded
                .iter()
                .zip(&x_back)
                .map(|(a, b)| (a * b).abs())
                .sum();
            let got = dot(dtype, &w, r);
            let tol = 1e-5;
            assert!(
                (got - want).abs() <= tol * norm,
                "{dtype:?}: {got} vs {want} (Σ|w x| {norm})"
            );
        }
    }

    #[test]
    fn quantized_activations_reconstruct_within_half_a_step() {
        let x = pseudo_random(QK * 3, 11);
        let rows = Int16Rows::quantize(&x, QK);
        for t in 0..3 {
            let r = rows.row(t);
            for (j, v) in x[t * QK..(t + 1) * QK].iter().enumerate() {
                let back = f32::from(r.qs[j]) * r.d[0];
                assert!((back - v).abs() <= 0.51 * r.d[0] + 1e-6, "{back} vs {v}");
            }
            let sum: i32 = r.qs.iter().map(|&q| i32::from(q)).sum();
            assert_eq!(sum, r.sum[0]);
        }
    }
}
