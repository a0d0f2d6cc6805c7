//! Weights on the GPU. Matrices are fp16, two per `u32` (kernels read them with
//! `unpack2x16float`, so no `shader-f16` is needed), split by rows into shards so that no
//! binding exceeds the device's storage binding limit. Norm weights and biases are f32.
//!
//! Layout of a shard, in 16-byte chunks (one `vec4<u32>`: 8 consecutive columns of a row):
//! rows are grouped in blocks of `ROW_BLOCK`; block b, column chunk c, row i of the block
//! is chunk `(b * col_chunks + c) * ROW_BLOCK + i`. A linear kernel invocation computes
//! `ROWS_PER_INVOCATION` adjacent rows of a block, so for each column chunk the invocations
//! of a block read one contiguous run of memory (coalesced on GPUs), and a block streams
//! through memory in order (what CPU implementations such as lavapipe need: they load per
//! SIMD lane, and strided walks defeat the prefetcher). Columns are padded with zeros to a
//! multiple of 8 and rows to a multiple of `ROW_BLOCK`.

use half::f16;

use super::context::GpuContext;
use super::params;
use crate::error::{Error, Result};
use crate::formats::{quant, Tensor};

/// Rows per block of the layout (8 SIMD lanes × `ROWS_PER_INVOCATION`).
pub const ROW_BLOCK: usize = 32;
/// Rows one linear kernel invocation computes.
pub const ROWS_PER_INVOCATION: usize = 4;
/// Columns per 16-byte chunk.
pub const CHUNK_COLS: usize = 8;

/// Elements dequantized at a time while uploading: bounds the CPU memory an upload needs.
const UPLOAD_PIECE_ELEMENTS: usize = 1 << 20;

/// A contiguous run of rows of a matrix, in its own buffer.
pub struct MatrixShard {
    /// `padded_rows * col_chunks` 16-byte chunks in the blocked layout (module docs).
    pub buffer: wgpu::Buffer,
    /// A uniform `params::Shard` describing this shard, for the kernels.
    pub params: wgpu::Buffer,
    pub row_start: usize,
    pub n_rows: usize,
    /// `n_rows` rounded up to `ROW_BLOCK`.
    pub padded_rows: usize,
}

/// A `[rows, cols]` fp16 matrix split by rows across bindings.
pub struct GpuMatrix {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    /// `cols / CHUNK_COLS`, rounded up.
    pub col_chunks: usize,
    pub shards: Vec<MatrixShard>,
}

impl GpuMatrix {
    /// A zeroed matrix, sharded for `ctx.max_binding()`.
    pub fn new(ctx: &GpuContext, name: &str, rows: usize, cols: usize) -> Result<Self> {
        if cols == 0 || !cols.is_multiple_of(4) {
            return Err(Error::InvalidConfig(format!(
                "matrix '{name}' has {cols} columns; the GPU layout needs a non-zero multiple \
                 of 4"
            )));
        }
        if rows == 0 {
            return Err(Error::InvalidConfig(format!("matrix '{name}' has no rows")));
        }
        let col_chunks = cols.div_ceil(CHUNK_COLS);
        let row_bytes = (col_chunks * 16) as u64;
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
        if rows > u32_max || cols > u32_max {
            return Err(Error::DoesNotFit(format!(
                "matrix '{name}' [{rows}, {cols}] is too large"
            )));
        }
        let mut shards = Vec::new();
        let mut row_start = 0;
        while row_start < rows {
            let n_rows = rows_per_shard.min(rows - row_start);
            let padded_rows = n_rows.div_ceil(ROW_BLOCK) * ROW_BLOCK;
            let label = format!("{name}[rows {row_start}..{}]", row_start + n_rows);
            let p = params::Shard {
                row_start: row_start as u32,
                n_rows: n_rows as u32,
                col_chunks: col_chunks as u32,
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
            rows,
            cols,
            col_chunks,
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
        // Whole row blocks per piece, so that pieces of a block-aligned tensor are written
        // in one contiguous run each.
        let piece_rows = (UPLOAD_PIECE_ELEMENTS / cols / ROW_BLOCK).max(1) * ROW_BLOCK;
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
        for shard in &self.shards {
            let start = row.max(shard.row_start);
            let end = (row + n_rows).min(shard.row_start + shard.n_rows);
            if start >= end {
                continue;
            }
            // Local blocks first..last of the shard; the rows of `values` start at `row`.
            let (first, last) = (
                (start - shard.row_start) / ROW_BLOCK,
                (end - 1 - shard.row_start) / ROW_BLOCK,
            );
            let mut run: Vec<[u32; 4]> = Vec::new();
            let mut run_block = first;
            for b in first..=last {
                let block_start = shard.row_start + b * ROW_BLOCK;
                let block_end = block_start + ROW_BLOCK;
                let (lo, hi) = (start.max(block_start), end.min(block_end));
                let whole = lo == block_start && (hi == block_end || hi == self.rows);
                if whole {
                    // A block written whole: part of one contiguous run of blocks.
                    if run.is_empty() {
                        run_block = b;
                    }
                    run.extend(self.block_chunks(values, row, block_start, lo..hi));
                    continue;
                }
                self.flush(ctx, shard, run_block, &mut run);
                // Part of a block: one write per column chunk, of the rows lo..hi.
                let chunks = self.block_chunks(values, row, block_start, lo..hi);
                for c in 0..self.col_chunks {
                    let first_chunk = (b * self.col_chunks + c) * ROW_BLOCK + lo - block_start;
                    let src = &chunks
                        [(c * ROW_BLOCK + lo - block_start)..(c * ROW_BLOCK + hi - block_start)];
                    ctx.queue().write_buffer(
                        &shard.buffer,
                        (first_chunk * 16) as u64,
                        bytemuck::cast_slice(src),
                    );
                }
            }
            self.flush(ctx, shard, run_block, &mut run);
        }
        Ok(())
    }

    /// The chunks of block rows `block_start..block_start + ROW_BLOCK` in layout order
    /// (column chunk, then row), holding `values` rows `rows` (rows of `values` start at
    /// `first_row`) and zeros elsewhere.
    fn block_chunks(
        &self,
        values: &[f16],
        first_row: usize,
        block_start: usize,
        rows: std::ops::Range<usize>,
    ) -> Vec<[u32; 4]> {
        let mut out = vec![[0u32; 4]; self.col_chunks * ROW_BLOCK];
        for r in rows {
            let src = &values[(r - first_row) * self.cols..(r - first_row + 1) * self.cols];
            for (c, cols) in src.chunks(CHUNK_COLS).enumerate() {
                let chunk = &mut out[c * ROW_BLOCK + r - block_start];
                for (w, pair) in chunk.iter_mut().zip(cols.chunks_exact(2)) {
                    *w = u32::from(pair[0].to_bits()) | (u32::from(pair[1].to_bits()) << 16);
                }
            }
        }
        out
    }

    /// Writes the whole blocks collected in `run`, starting at local block `block`.
    fn flush(&self, ctx: &GpuContext, shard: &MatrixShard, block: usize, run: &mut Vec<[u32; 4]>) {
        if run.is_empty() {
            return;
        }
        let offset = (block * self.col_chunks * ROW_BLOCK * 16) as u64;
        ctx.queue()
            .write_buffer(&shard.buffer, offset, bytemuck::cast_slice(run));
        run.clear();
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
