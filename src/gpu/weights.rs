//! Weights on the GPU. Matrices are fp16, two per `u32` (kernels read them with
//! `unpack2x16float`, so no `shader-f16` is needed), split by rows into shards so that no
//! binding exceeds the device's storage binding limit. Each shard is stored TRANSPOSED,
//! `[cols/2 words][n_rows]`: word j of local row r (columns 2j, 2j+1) at `j * n_rows + r`,
//! so that kernels computing one row per invocation read adjacent words in adjacent
//! invocations. Norm weights and biases are f32.

use half::f16;

use super::context::GpuContext;
use super::params;
use crate::error::{Error, Result};
use crate::formats::{quant, Tensor};

/// Elements dequantized at a time while uploading: bounds the CPU memory an upload needs.
const UPLOAD_PIECE_ELEMENTS: usize = 1 << 22;

/// A contiguous run of rows of a matrix, in its own buffer.
pub struct MatrixShard {
    /// `cols / 2 * n_rows` packed fp16 pairs, transposed: word j of row r at `j * n_rows + r`.
    pub buffer: wgpu::Buffer,
    /// A uniform `params::Shard` describing this shard, for the kernels.
    pub params: wgpu::Buffer,
    pub row_start: usize,
    pub n_rows: usize,
}

/// A `[rows, cols]` fp16 matrix split by rows across bindings.
pub struct GpuMatrix {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub shards: Vec<MatrixShard>,
}

impl GpuMatrix {
    /// A zeroed matrix, sharded for `ctx.max_binding()`.
    pub fn new(ctx: &GpuContext, name: &str, rows: usize, cols: usize) -> Result<Self> {
        if cols == 0 || !cols.is_multiple_of(2) {
            return Err(Error::InvalidConfig(format!(
                "matrix '{name}' has {cols} columns; the GPU layout needs an even, non-zero count"
            )));
        }
        if rows == 0 {
            return Err(Error::InvalidConfig(format!("matrix '{name}' has no rows")));
        }
        let row_bytes = (cols * 2) as u64;
        let rows_per_shard = (ctx.max_binding() / row_bytes) as usize;
        if rows_per_shard == 0 {
            return Err(Error::DoesNotFit(format!(
                "one row of '{name}' takes {row_bytes} bytes, over the {}-byte binding limit",
                ctx.max_binding()
            )));
        }
        let u32_max = u32::MAX as usize;
        if rows > u32_max || cols > u32_max {
            return Err(Error::DoesNotFit(format!(
                "matrix '{name}' [{rows}, {cols}] is too large"
            )));
        }
        let mut shards = Vec::new();
        let mut row_start = 0;
        while row_start < rows {
            let n_rows = rows_per_shard.min(rows - row_start);
            let label = format!("{name}[rows {row_start}..{}]", row_start + n_rows);
            let p = params::Shard {
                row_start: row_start as u32,
                n_rows: n_rows as u32,
                pad0: 0,
                pad1: 0,
            };
            shards.push(MatrixShard {
                buffer: ctx.storage(&label, n_rows as u64 * row_bytes),
                params: ctx.uniform_init(&format!("{label} shard params"), bytemuck::bytes_of(&p)),
                row_start,
                n_rows,
            });
            row_start += n_rows;
        }
        Ok(Self {
            name: name.to_string(),
            rows,
            cols,
            shards,
        })
    }

    /// Uploads a 2-D tensor (any dtype `quant` reads), rounding it to fp16.
    pub fn upload(ctx: &GpuContext, t: &Tensor) -> Result<Self> {
        let (rows, cols) = matrix_shape(t)?;
        let m = Self::new(ctx, &t.name, rows, cols)?;
        m.write_tensor(ctx, 0, t)?;
        Ok(m)
    }

    /// Writes tensor `t` (whose rows are as long as this matrix's) at rows
    /// `row_offset..row_offset + t.rows`; used to stack Q, K and V into one matrix.
    pub fn write_tensor(&self, ctx: &GpuContext, row_offset: usize, t: &Tensor) -> Result<()> {
        let (rows, cols) = matrix_shape(t)?;
        if cols != self.cols
            || row_offset
                .checked_add(rows)
                .is_none_or(|end| end > self.rows)
        {
            return Err(Error::ShapeMismatch {
                tensor: t.name.clone(),
                expected: vec![self.rows.saturating_sub(row_offset), self.cols],
                found: t.shape.clone(),
            });
        }
        let piece_rows = (UPLOAD_PIECE_ELEMENTS / cols).max(1);
        let mut r = 0;
        while r < rows {
            let end = (r + piece_rows).min(rows);
            let values = quant::dequantize_rows_f32(t, r..end)?;
            let halves: Vec<f16> = values.into_iter().map(f16::from_f32).collect();
            self.write_f16_rows(ctx, row_offset + r, &halves)?;
            r = end;
        }
        Ok(())
    }

    /// Writes whole rows of fp16 values starting at row `row`, across shard boundaries.
    pub fn write_f16_rows(&self, ctx: &GpuContext, row: usize, values: &[f16]) -> Result<()> {
        if !values.len().is_multiple_of(self.cols) {
            return Err(Error::InvalidRequest(format!(
                "{} values are not whole rows of '{}' ({} columns)",
                values.len(),
                self.name,
                self.cols
            )));
        }
        let n_rows = values.len() / self.cols;
        if row + n_rows > self.rows {
            return Err(Error::InvalidRequest(format!(
                "rows {row}..{} of '{}', which has {}",
                row + n_rows,
                self.name,
                self.rows
            )));
        }
        let words = self.cols / 2;
        for shard in &self.shards {
            let start = row.max(shard.row_start);
            let end = (row + n_rows).min(shard.row_start + shard.n_rows);
            if start >= end {
                continue;
            }
            // The rows start..end transposed: run j holds word j of each row, and lands at
            // word `j * n_rows + (start - row_start)` of the shard.
            let run = end - start;
            let mut transposed = vec![0u32; words * run];
            for (i, r) in (start..end).enumerate() {
                let src = &values[(r - row) * self.cols..(r - row + 1) * self.cols];
                for (j, pair) in src.chunks_exact(2).enumerate() {
                    transposed[j * run + i] =
                        u32::from(pair[0].to_bits()) | (u32::from(pair[1].to_bits()) << 16);
                }
            }
            for (j, words_j) in transposed.chunks_exact(run).enumerate() {
                let offset = ((j * shard.n_rows + start - shard.row_start) * 4) as u64;
                ctx.queue()
                    .write_buffer(&shard.buffer, offset, bytemuck::cast_slice(words_j));
            }
        }
        Ok(())
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
fn matrix_shape(t: &Tensor) -> Result<(usize, usize)> {
    match t.shape.as_slice() {
        [rows, cols] => Ok((*rows, *cols)),
        _ => Err(Error::ShapeMismatch {
            tensor: t.name.clone(),
            expected: vec![0, 0],
            found: t.shape.clone(),
        }),
    }
}
