//! Weight formats on the GPU and the repacking of file blocks into them.
//!
//! Quantized tensors stay quantized: each GGUF block type has a GPU format of hearth's own
//! that holds exactly the same numbers (ggml's `dequantize_row_*` values), rearranged so
//! that a kernel decodes 8 consecutive columns from as few 32-bit words as possible:
//!
//! - A row is cut into *groups* of `group()` columns (the file's block: 32, or 256 for
//!   K-quants), each stored as `words()` u32 words. Groups are cut into 32-column
//!   sub-blocks (one scale, or two for Q6_K) and 8-column units.
//! - 4-bit values: word `k` of the nibble section holds columns `8k..8k+8`: byte `b` holds
//!   column `8k+b` in its low and column `8k+b+4` in its high nibble (ggml stores column
//!   `j` and `j+16` in one byte). So `w & 0x0F0F0F0F` is 4 columns at once, and the
//!   one-token kernel reads 5 of the 8 nibbles in place, without a shift
//!   (`in_place` in shaders/quant/common.wgsl).
//! - Fifth bits (Q5_*): one word per 32 columns, bit `i` for column `i`. Q6_K's two high
//!   bits: one word per 16 columns, bits `2i..2i+2` for column `i`.
//! - Scales first: `[d | m]` as two f16 in one word for the 32-column formats; the K-quants
//!   keep ggml's `d, dmin` word and 12 bytes of packed 6-bit scales.
//!
//! | format | group | words | layout (words)                                   | bits/weight |
//! |--------|-------|-------|--------------------------------------------------|-------------|
//! | F16    | 32    | 16    | column pairs                                      | 16          |
//! | Q4_0   | 32    | 5     | d, 4 nibble                                       | 5           |
//! | Q4_1   | 32    | 5     | d·m, 4 nibble                                     | 5           |
//! | Q5_0   | 32    | 6     | d, 4 nibble, 1 high                               | 6           |
//! | Q5_1   | 32    | 6     | d·m, 4 nibble, 1 high                             | 6           |
//! | Q8_0   | 32    | 9     | d, 8 × 4 int8                                     | 9           |
//! | Q4_K   | 256   | 36    | d·dmin, 3 scales, 32 nibble                       | 4.5         |
//! | Q5_K   | 256   | 44    | d·dmin, 3 scales, 32 nibble, 8 high               | 5.5         |
//! | Q6_K   | 256   | 53    | d, 4 (16 int8 scales), 32 nibble, 16 two-bit      | 6.625       |
//!
//! Matrices are stored in blocks of `ROW_BLOCK` rows with the rows of a block interleaved
//! word by word (see `gpu::weights`), so the invocations of a subgroup, one row each, read
//! consecutive words.
//!
//! Float tensors (F32, F16, BF16: Hugging Face safetensors) are rounded to fp16.

use crate::error::{Error, Result};
use crate::formats::DType;

/// How a matrix is held on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpuFormat {
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl GpuFormat {
    /// Every format.
    pub const ALL: [GpuFormat; 9] = [
        GpuFormat::F16,
        GpuFormat::Q4_0,
        GpuFormat::Q4_1,
        GpuFormat::Q5_0,
        GpuFormat::Q5_1,
        GpuFormat::Q8_0,
        GpuFormat::Q4K,
        GpuFormat::Q5K,
        GpuFormat::Q6K,
    ];

    /// The GPU format of a file tensor type: the format that repacks its blocks, fp16 for
    /// float types.
    pub fn for_dtype(dtype: DType, tensor: &str) -> Result<Self> {
        if matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Ok(GpuFormat::F16);
        }
        Self::ALL
            .into_iter()
            .find(|f| f.source_dtype() == Some(dtype))
            .ok_or_else(|| Error::UnsupportedTensorType {
                tensor: tensor.to_string(),
                dtype: dtype.name().to_string(),
            })
    }

    /// The file type whose blocks this format repacks (`None` for F16, which takes any
    /// float or quantized tensor through f32).
    pub fn source_dtype(self) -> Option<DType> {
        match self {
            GpuFormat::F16 => None,
            GpuFormat::Q4_0 => Some(DType::Q4_0),
            GpuFormat::Q4_1 => Some(DType::Q4_1),
            GpuFormat::Q5_0 => Some(DType::Q5_0),
            GpuFormat::Q5_1 => Some(DType::Q5_1),
            GpuFormat::Q8_0 => Some(DType::Q8_0),
            GpuFormat::Q4K => Some(DType::Q4_K),
            GpuFormat::Q5K => Some(DType::Q5_K),
            GpuFormat::Q6K => Some(DType::Q6_K),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GpuFormat::F16 => "f16",
            GpuFormat::Q4_0 => "q4_0",
            GpuFormat::Q4_1 => "q4_1",
            GpuFormat::Q5_0 => "q5_0",
            GpuFormat::Q5_1 => "q5_1",
            GpuFormat::Q8_0 => "q8_0",
            GpuFormat::Q4K => "q4_k",
            GpuFormat::Q5K => "q5_k",
            GpuFormat::Q6K => "q6_k",
        }
    }

    /// Columns per group.
    pub fn group(self) -> usize {
        match self {
            GpuFormat::Q4K | GpuFormat::Q5K | GpuFormat::Q6K => 256,
            _ => 32,
        }
    }

    /// u32 words per group.
    pub fn words(self) -> usize {
        match self {
            GpuFormat::F16 => 16,
            GpuFormat::Q4_0 | GpuFormat::Q4_1 => 5,
            GpuFormat::Q5_0 | GpuFormat::Q5_1 => 6,
            GpuFormat::Q8_0 => 9,
            GpuFormat::Q4K => 36,
            GpuFormat::Q5K => 44,
            GpuFormat::Q6K => 53,
        }
    }

    /// The WGSL decode snippet (`shaders/quant/<name>.wgsl`) every weight-reading kernel
    /// includes: `GROUP`, `WORDS`, `struct Sub`, `sub_head(wi, s)` and `decode8(wi, h, u)`.
    pub fn snippet(self) -> &'static str {
        match self {
            GpuFormat::F16 => include_str!("../../shaders/quant/f16.wgsl"),
            GpuFormat::Q4_0 => include_str!("../../shaders/quant/q4_0.wgsl"),
            GpuFormat::Q4_1 => include_str!("../../shaders/quant/q4_1.wgsl"),
            GpuFormat::Q5_0 => include_str!("../../shaders/quant/q5_0.wgsl"),
            GpuFormat::Q5_1 => include_str!("../../shaders/quant/q5_1.wgsl"),
            GpuFormat::Q8_0 => include_str!("../../shaders/quant/q8_0.wgsl"),
            GpuFormat::Q4K => include_str!("../../shaders/quant/q4_k.wgsl"),
            GpuFormat::Q5K => include_str!("../../shaders/quant/q5_k.wgsl"),
            GpuFormat::Q6K => include_str!("../../shaders/quant/q6_k.wgsl"),
        }
    }

    /// Checks that rows of `cols` columns are whole groups.
    pub fn check_cols(self, name: &str, cols: usize) -> Result<()> {
        if cols == 0 || !cols.is_multiple_of(self.group()) {
            return Err(Error::InvalidConfig(format!(
                "matrix '{name}' has {cols} columns; its GPU format {} needs a non-zero \
                 multiple of {}",
                self.name(),
                self.group()
            )));
        }
        Ok(())
    }

    /// Repacks one group from the file's block bytes (`source_dtype`, exactly
    /// `group / block_len` blocks) into `out` (`words()` words).
    pub fn repack_group(self, src: &[u8], out: &mut [u32]) {
        let h = |i: usize| u32::from(u16::from_le_bytes([src[i], src[i + 1]]));
        let le = |i: usize| u32::from_le_bytes([src[i], src[i + 1], src[i + 2], src[i + 3]]);
        match self {
            // F16 groups are packed from values (`pack_f16_group`), not from blocks.
            GpuFormat::F16 => {}
            GpuFormat::Q4_0 => {
                out[0] = h(0);
                nibbles_legacy(&src[2..18], &mut out[1..5]);
            }
            GpuFormat::Q4_1 => {
                out[0] = h(0) | (h(2) << 16);
                nibbles_legacy(&src[4..20], &mut out[1..5]);
            }
            GpuFormat::Q5_0 => {
                out[0] = h(0);
                out[5] = le(2);
                nibbles_legacy(&src[6..22], &mut out[1..5]);
            }
            GpuFormat::Q5_1 => {
                out[0] = h(0) | (h(2) << 16);
                out[5] = le(4);
                nibbles_legacy(&src[8..24], &mut out[1..5]);
            }
            GpuFormat::Q8_0 => {
                out[0] = h(0);
                for (k, w) in out[1..9].iter_mut().enumerate() {
                    *w = le(2 + 4 * k);
                }
            }
            GpuFormat::Q4K | GpuFormat::Q5K => {
                // d, dmin and the 12 scale bytes as in the file.
                for (k, w) in out[0..4].iter_mut().enumerate() {
                    *w = le(4 * k);
                }
                let (qh, qs) = if self == GpuFormat::Q5K {
                    (Some(&src[16..48]), &src[48..176])
                } else {
                    (None, &src[16..144])
                };
                // Sub-block s (32 columns) of the 64-column pair p = s / 2 is the low (even s)
                // or high (odd s) nibble of bytes 32p..32p+32.
                for s in 0..8 {
                    let bytes = &qs[32 * (s / 2)..32 * (s / 2) + 32];
                    let shift = 4 * (s % 2);
                    for k in 0..4 {
                        out[4 + 4 * s + k] = pack_nibbles(|i| bytes[8 * k + i] >> shift);
                    }
                    if let Some(qh) = qh {
                        // Bit s of qh[l] is the fifth bit of column l of sub-block s.
                        out[36 + s] =
                            (0..32).fold(0u32, |w, l| w | (u32::from((qh[l] >> s) & 1) << l));
                    }
                }
            }
            GpuFormat::Q6K => {
                let (ql, qh) = (&src[0..128], &src[128..192]);
                out[0] = h(208);
                // The 16 signed scales as they are.
                for (k, w) in out[1..5].iter_mut().enumerate() {
                    *w = le(192 + 4 * k);
                }
                // ggml: column 128n + 32j + l (j = 0..4, l = 0..32) takes the low (j < 2) or
                // high (j >= 2) nibble of ql[64n + 32 (j % 2) + l] and bits 2j..2j+2 of
                // qh[32n + l].
                let q6 = |c: usize| -> (u32, u32) {
                    let (n, j, l) = (c / 128, (c % 128) / 32, c % 32);
                    let lo = ql[64 * n + 32 * (j % 2) + l] >> (4 * (j / 2)) & 0xF;
                    let hi = (qh[32 * n + l] >> (2 * j)) & 3;
                    (u32::from(lo), u32::from(hi))
                };
                for k in 0..32 {
                    out[5 + k] = pack_nibbles(|i| q6(8 * k + i).0 as u8);
                }
                for k in 0..16 {
                    out[37 + k] = (0..16).fold(0u32, |w, i| w | (q6(16 * k + i).1 << (2 * i)));
                }
            }
        }
    }
}

/// One group of 32 fp16 values as 16 words, column pairs low half first.
pub fn pack_f16_group(values: &[half::f16], out: &mut [u32]) {
    for (w, pair) in out.iter_mut().zip(values.chunks_exact(2)) {
        *w = u32::from(pair[0].to_bits()) | (u32::from(pair[1].to_bits()) << 16);
    }
}

/// Packs 8 nibbles: column `i < 4` in the low nibble of byte `i`, column `i >= 4` in the
/// high nibble of byte `i - 4`.
fn pack_nibbles(nibble: impl Fn(usize) -> u8) -> u32 {
    (0..8).fold(0u32, |w, i| {
        let shift = if i < 4 { 8 * i } else { 8 * (i - 4) + 4 };
        w | (u32::from(nibble(i) & 0xF) << shift)
    })
}

/// ggml's 32-column nibble bytes (byte j: column j low, column j + 16 high) as 4 words of
/// 8 consecutive columns.
fn nibbles_legacy(qs: &[u8], out: &mut [u32]) {
    let col = |c: usize| if c < 16 { qs[c] & 0xF } else { qs[c - 16] >> 4 };
    for (k, w) in out.iter_mut().enumerate() {
        *w = pack_nibbles(|i| col(8 * k + i));
    }
}

/// The values the GPU computes with for tensor `t`, as f32: exactly ggml's dequantization
/// for quantized types, fp16-rounded values for float matrices, f32 for vectors (norms and
/// biases stay f32). What the CPU reference is given.
pub fn gpu_values(t: &crate::formats::Tensor) -> Result<Vec<f32>> {
    let float = matches!(t.dtype, DType::F32 | DType::F16 | DType::BF16);
    if float && t.shape.len() >= 2 && t.shape.iter().filter(|&&d| d > 1).count() >= 2 {
        crate::formats::quant::to_f16_rounded_f32(t)
    } else {
        crate::formats::quant::dequantize_f32(t)
    }
}
