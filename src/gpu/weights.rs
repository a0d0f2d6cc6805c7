//! Weights on the GPU. A matrix keeps its file's quantization (`gpu::formats`): quantized
//! blocks are repacked into hearth's GPU formats while they stream in, float tensors are
//! rounded to fp16 (two per `u32`, read with `unpack2x16float`, so no `shader-f16` is
//! needed). A matrix is split by rows into shards so that no binding exceeds the device's
//! storage binding limit. Norm weights and biases are f32.
//!
//! Layout of a shard: rows are grouped in blocks of `ROW_BLOCK`; word `j` of group `g` of
//! row `i` of block `b` is at `((b * n_groups + g) * words + j) * ROW_BLOCK + i`. The
//! invocations of a subgroup take adjacent rows, so every weight load of a subgroup reads
//! consecutive 32-bit words (one wide load on SwiftShader, sequential on lavapipe), and a
//! block streams through memory in order. Rows are padded with zeros to a whole block.
//!
//! A matrix may be one part of a stacked product (Q, K and V; gate and up): its rows then
//! land at `row_offset..` of the product's output, and parts of different formats are
//! separate matrices dispatched one after the other.

use half::f16;

use super::context::GpuContext;
use super::formats::{pack_f16_group, GpuFormat};
use super::params;
use crate::error::{Error, Result};
use crate::formats::{quant, Tensor};

/// Rows per block of the layout.
pub const ROW_BLOCK: usize = 32;

/// Rows repacked at a time while uploading: bounds the CPU memory an upload needs.
const UPLOAD_PIECE_WORDS: usize = 1 << 20;

/// A contiguous run of rows of a matrix, in its own buffer.
pub struct MatrixShard {
    /// `padded_rows * n_groups * words` words in the blocked layout (module docs).
    pub buffer: wgpu::Buffer,
    /// A uniform `params::Shard` describing this shard, for the kernels.
    pub params: wgpu::Buffer,
    /// First row of the matrix in this shard.
    pub row_start: usize,
    pub n_rows: usize,
    /// `n_rows` rounded up to `ROW_BLOCK`.
    pub padded_rows: usize,
}

/// A `[rows, cols]` matrix in one GPU format, split by rows across bindings.
pub struct GpuMatrix {
    pub name: String,
    pub format: GpuFormat,
    pub rows: usize,
    pub cols: usize,
    /// Output row of this matrix's row 0 in the product it is part of.
    pub row_offset: usize,
    /// Groups per row: `cols / format.group()`.
    pub n_groups: usize,
    pub shards: Vec<MatrixShard>,
}

impl GpuMatrix {
    /// A zeroed matrix, sharded for `ctx.max_binding()`.
    pub fn new(
        ctx: &GpuContext,
        name: &str,
        format: GpuFormat,
        rows: usize,
        cols: usize,
        row_offset: usize,
    ) -> Result<Self> {
        format.check_cols(name, cols)?;
        if rows == 0 {
            return Err(Error::InvalidConfig(format!("matrix '{name}' has no rows")));
        }
        let n_groups = cols / format.group();
        let row_bytes = (n_groups * format.words() * 4) as u64;
        // Whole row blocks per shard, so that a padded shard still fits.
        let rows_per_shard = (ctx.max_binding() / row_bytes) as usize / ROW_BLOCK * ROW_BLOCK;
        if rows_per_shard == 0 {
            return Err(Error::DoesNotFit(format!(
                "{ROW_BLOCK} rows of '{name}' take {} bytes, over the {}-byte binding limit",
                row_bytes * ROW_BLOCK as u64,
                ctx.max_binding()
            )));
        }
        let u32_max = u32::MAX as usize;
        if rows.saturating_add(row_offset) > u32_max || cols > u32_max {
            return Err(Error::DoesNotFit(format!(
                "matrix '{name}' [{rows}, {cols}] is too large"
            )));
        }
        let mut shards = Vec::new();
        let mut row_start = 0;
        while row_start < rows {
            let n_rows = rows_per_shard.min(rows - row_start);
            let padded_rows = n_rows.div_ceil(ROW_BLOCK) * ROW_BLOCK;
            let label = format!(
                "{name}[rows {row_start}..{}, {}]",
                row_start + n_rows,
                format.name()
            );
            let p = params::Shard {
                row_start: (row_offset + row_start) as u32,
                n_rows: n_rows as u32,
                n_groups: n_groups as u32,
                pad1: 0,
            };
            shards.push(MatrixShard {
                buffer: ctx.storage(&label, padded_rows as u64 * row_bytes),
                params: ctx.uniform_init(&format!("{label} shard params"), bytemuck::bytes_of(&p)),
                row_start,
                n_rows,
                padded_rows,
            });
            row_start += n_rows;
        }
        Ok(Self {
            name: name.to_string(),
            format,
            rows,
            cols,
            row_offset,
            n_groups,
            shards,
        })
    }

    /// Uploads a 2-D tensor in the format its type maps to.
    pub fn upload(ctx: &GpuContext, t: &Tensor) -> Result<Self> {
        let (rows, cols) = matrix_shape(t)?;
        let format = GpuFormat::for_dtype(t.dtype, &t.name)?;
        let m = Self::new(ctx, &t.name, format, rows, cols, 0)?;
        m.write_tensor(ctx, 0, t)?;
        Ok(m)
    }

    /// Bytes the shards take on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.buffer.size()).sum()
    }

    /// Writes tensor `t` (rows as long as this matrix's) at rows `row..row + t.rows`;
    /// `row` is a multiple of `ROW_BLOCK` (stacked parts of one format start on a block).
    pub fn write_tensor(&self, ctx: &GpuContext, row: usize, t: &Tensor) -> Result<()> {
        let (rows, cols) = matrix_shape(t)?;
        if cols != self.cols
            || !row.is_multiple_of(ROW_BLOCK)
            || row.checked_add(rows).is_none_or(|end| end > self.rows)
        {
            return Err(Error::ShapeMismatch {
                tensor: t.name.clone(),
                expected: vec![self.rows.saturating_sub(row), self.cols],
                found: t.shape.clone(),
            });
        }
        let source = self.format.source_dtype();
        if source.is_some_and(|d| d != t.dtype) {
            return Err(Error::Gpu(format!(
                "tensor '{}' of type {} written into a {} matrix",
                t.name,
                t.dtype.name(),
                self.format.name()
            )));
        }
        let row_words = self.n_groups * self.format.words();
        let piece_rows = (UPLOAD_PIECE_WORDS / row_words / ROW_BLOCK).max(1) * ROW_BLOCK;
        let mut r = 0;
        while r < rows {
            let end = (r + piece_rows).min(rows);
            let words = self.repack_rows(t, r..end)?;
            self.write_blocks(ctx, row + r, end - r, &words);
            r = end;
        }
        Ok(())
    }

    /// Rows `rows` of `t` (a whole number of row blocks, or the tensor's last rows) in the
    /// blocked layout, padded with zero rows to whole blocks.
    fn repack_rows(&self, t: &Tensor, rows: std::ops::Range<usize>) -> Result<Vec<u32>> {
        let (f, n_groups) = (self.format, self.n_groups);
        let words = f.words();
        let n_blocks = (rows.end - rows.start).div_ceil(ROW_BLOCK);
        let mut out = vec![0u32; n_blocks * ROW_BLOCK * n_groups * words];
        let mut group = vec![0u32; words];
        let place = |out: &mut [u32], r: usize, g: usize, group: &[u32]| {
            let (b, i) = (r / ROW_BLOCK, r % ROW_BLOCK);
            for (j, &w) in group.iter().enumerate() {
                out[((b * n_groups + g) * words + j) * ROW_BLOCK + i] = w;
            }
        };
        match f.source_dtype() {
            None => {
                let values = quant::dequantize_rows_f32(t, rows.clone())?;
                let halves: Vec<f16> = values.into_iter().map(f16::from_f32).collect();
                for (r, row) in halves.chunks_exact(self.cols).enumerate() {
                    for (g, vals) in row.chunks_exact(f.group()).enumerate() {
                        pack_f16_group(vals, &mut group);
                        place(&mut out, r, g, &group);
                    }
                }
            }
            Some(dtype) => {
                let row_bytes = dtype.bytes_for(self.cols)?;
                let group_bytes = row_bytes / n_groups;
                let bytes = t
                    .data
                    .get(rows.start * row_bytes..rows.end * row_bytes)
                    .ok_or_else(|| Error::Truncated(format!("tensor '{}' data", t.name)))?;
                for (r, row) in bytes.chunks_exact(row_bytes).enumerate() {
                    for (g, src) in row.chunks_exact(group_bytes).enumerate() {
                        f.repack_group(src, &mut group);
                        place(&mut out, r, g, &group);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Writes whole row blocks starting at matrix row `row` (a multiple of `ROW_BLOCK`),
    /// splitting at shard boundaries (which fall on blocks).
    fn write_blocks(&self, ctx: &GpuContext, row: usize, n_rows: usize, words: &[u32]) {
        let block_words = self.n_groups * self.format.words() * ROW_BLOCK;
        for shard in &self.shards {
            let start = row.max(shard.row_start);
            let end = (row + n_rows).min(shard.row_start + shard.n_rows);
            if start >= end {
                continue;
            }
            let (first, last) = ((start - row) / ROW_BLOCK, (end - row).div_ceil(ROW_BLOCK));
            let offset = ((start - shard.row_start) / ROW_BLOCK * block_words * 4) as u64;
            ctx.queue().write_buffer(
                &shard.buffer,
                offset,
                bytemuck::cast_slice(&words[first * block_words..last * block_words]),
            );
        }
    }
}

/// An f32 vector (norm weight, bias).
pub struct GpuVector {
    pub name: String,
    pub len: usize,
    pub buffer: wgpu::Buffer,
}

impl GpuVector {
    pub fn new(ctx: &GpuContext, name: &str, len: usize) -> Self {
        Self {
            name: name.to_string(),
            len,
            buffer: ctx.storage(name, (len * 4) as u64),
        }
    }

    /// Uploads a tensor of any shape as a flat f32 vector.
    pub fn upload(ctx: &GpuContext, t: &Tensor) -> Result<Self> {
        let values = quant::dequantize_f32(t)?;
        let v = Self::new(ctx, &t.name, values.len());
        v.write(ctx, 0, &values)?;
        Ok(v)
    }

    /// Writes `values` at element `offset`.
    pub fn write(&self, ctx: &GpuContext, offset: usize, values: &[f32]) -> Result<()> {
        if offset + values.len() > self.len {
            return Err(Error::InvalidRequest(format!(
                "elements {offset}..{} of '{}', which has {}",
                offset + values.len(),
                self.name,
                self.len
            )));
        }
        ctx.queue().write_buffer(
            &self.buffer,
            (offset * 4) as u64,
            bytemuck::cast_slice(values),
        );
        Ok(())
    }
}

/// `(rows, cols)` of a tensor that must be 2-D.
pub fn matrix_shape(t: &Tensor) -> Result<(usize, usize)> {
    match t.shape.as_slice() {
        [rows, cols] => Ok((*rows, *cols)),
        _ => Err(Error::ShapeMismatch {
            tensor: t.name.clone(),
            expected: vec![0, 0],
            found: t.shape.clone(),
        }),
    }
}
