//! Weights on the GPU. A matrix keeps its file's quantization (`gpu::formats`): quantized
//! blocks are repacked into hearth's GPU formats while they stream in, float tensors are
//! rounded to fp16 (two per `u32`, read with `unpack2x16float`, so no `shader-f16` is
//! needed). A matrix is split by rows into shards so that no binding exceeds the device's
//! storage binding limit. Norm weights and biases are f32.
//!
//! Layout of a shard: rows are grouped in blocks of `ROW_BLOCK`; word `j` of group `g` of
//! row `i` of block `b` is at `((b * n_groups + g) * words + j) * ROW_BLOCK + i`. The
//! invocations of a subgroup take adjacent rows, so every weight load of a subgroup reads
//! consecutive 32-bit words (the same cache lines; SwiftShader and lavapipe still load
//! them lane by lane), and a block streams through memory in order. A workgroup of the
//! linear kernels takes a *tile* of two blocks; matrices are padded with zero rows to whole
//! tiles.
//!
//! A matrix produces output *units* (`RowLayout`): plain rows, or pairs of rows that one
//! invocation computes together so that an epilogue can combine them — gate and up of a
//! SwiGLU, the two rows rope rotates together. Pair `p` has its rows at row `p % 16` of
//! blocks `2 (p / 16)` and `2 (p / 16) + 1`. Each block is filled from one window of 32
//! rows of one file tensor (`RowMap`), so a tensor streamed in pieces of 32 rows never
//! leaves a block half written.
//!
//! A matrix may be one part of a stacked product (Q, K and V; gate and up): its units then
//! land at `unit_offset..` of the product's output, and parts of different formats are
//! separate matrices dispatched one after the other.

use std::collections::BTreeMap;

use half::f16;

use super::context::GpuContext;
use super::formats::{pack_f16_group, GpuFormat};
use super::params;
use crate::error::{Error, Result};
use crate::formats::{quant, Tensor};

/// Rows per block of the layout.
pub const ROW_BLOCK: usize = 16;
/// Rows per tile: what one workgroup of the linear kernels computes.
pub const ROW_TILE: usize = 2 * ROW_BLOCK;

/// Words repacked at a time while uploading: bounds the CPU memory an upload needs.
const UPLOAD_PIECE_WORDS: usize = 1 << 18;

/// What one output unit of a matrix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowLayout {
    /// One row: output unit `r` is row `r`.
    Rows,
    /// Two rows computed together (module docs).
    Pairs,
}

impl RowLayout {
    /// Output units per tile.
    pub fn units_per_tile(self) -> usize {
        match self {
            RowLayout::Rows => ROW_TILE,
            RowLayout::Pairs => ROW_BLOCK,
        }
    }
}

/// Where the rows of one file tensor go in a matrix, by the tensor's row index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowMap {
    /// `Rows` layout: tensor row `r` is row `at + r` (`at` a multiple of `ROW_TILE`).
    Offset(usize),
    /// `Pairs`: row `r` is side `side` (0 or 1) of pair `at + r` (gate and up of a SwiGLU).
    Side { at: usize, side: usize },
    /// `Pairs`: heads of `2 half` rows whose rows rope rotates together form a pair:
    /// `(k, k + half)`, or `(2k, 2k + 1)` when `pairwise`, is pair `at + head * half + k`.
    /// `half` is a multiple of `ROW_BLOCK`.
    Rotary {
        at: usize,
        half: usize,
        pairwise: bool,
    },
    /// `Pairs`: rows `32m + i` and `32m + 16 + i` (`i < 16`) are pair `at + 16m + i`.
    Chunks { at: usize },
}

impl RowMap {
    /// The matrix row of tensor row `r`.
    pub fn row(self, r: usize) -> usize {
        let pair =
            |p: usize, side: usize| (p / ROW_BLOCK) * ROW_TILE + side * ROW_BLOCK + p % ROW_BLOCK;
        match self {
            RowMap::Offset(at) => at + r,
            RowMap::Side { at, side } => pair(at + r, side),
            RowMap::Rotary { at, half, pairwise } => {
                let (head, k) = (r / (2 * half), r % (2 * half));
                if pairwise {
                    pair(at + head * half + k / 2, k % 2)
                } else {
                    pair(at + head * half + k % half, k / half)
                }
            }
            RowMap::Chunks { at } => pair(
                at + (r / ROW_TILE) * ROW_BLOCK + r % ROW_BLOCK,
                (r % ROW_TILE) / ROW_BLOCK,
            ),
        }
    }

    fn layout(self) -> RowLayout {
        match self {
            RowMap::Offset(_) => RowLayout::Rows,
            _ => RowLayout::Pairs,
        }
    }
}

/// A contiguous run of tiles of a matrix, in its own buffer.
pub struct MatrixShard {
    /// `tiles * ROW_TILE * n_groups * words` words in the blocked layout (module docs).
    pub buffer: wgpu::Buffer,
    /// A uniform `params::Shard` describing this shard, for the kernels.
    pub params: wgpu::Buffer,
    /// First output unit of the matrix in this shard.
    pub unit_start: usize,
    pub n_units: usize,
    /// Tiles (workgroups of a linear kernel) in this shard.
    pub tiles: usize,
}

impl MatrixShard {
    fn first_row(&self, layout: RowLayout) -> usize {
        self.unit_start / layout.units_per_tile() * ROW_TILE
    }
}

/// A matrix of `units` output units of `cols` columns in one GPU format, split by tiles
/// across bindings.
pub struct GpuMatrix {
    pub name: String,
    pub format: GpuFormat,
    pub layout: RowLayout,
    pub units: usize,
    pub cols: usize,
    /// Output unit of this matrix's unit 0 in the product it is part of.
    pub unit_offset: usize,
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
        layout: RowLayout,
        units: usize,
        cols: usize,
        unit_offset: usize,
    ) -> Result<Self> {
        format.check_cols(name, cols)?;
        if units == 0 {
            return Err(Error::InvalidConfig(format!("matrix '{name}' has no rows")));
        }
        let n_groups = cols / format.group();
        let tile_bytes = (n_groups * format.words() * 4 * ROW_TILE) as u64;
        let tiles_per_shard = (ctx.max_binding() / tile_bytes) as usize;
        if tiles_per_shard == 0 {
            return Err(Error::DoesNotFit(format!(
                "{ROW_TILE} rows of '{name}' take {tile_bytes} bytes, over the {}-byte binding limit",
                ctx.max_binding()
            )));
        }
        let u32_max = u32::MAX as usize;
        if units.saturating_add(unit_offset).saturating_mul(2) > u32_max || cols > u32_max {
            return Err(Error::DoesNotFit(format!(
                "matrix '{name}' [{units}, {cols}] is too large"
            )));
        }
        let per_tile = layout.units_per_tile();
        let mut shards = Vec::new();
        let mut unit_start = 0;
        while unit_start < units {
            let n_units = (tiles_per_shard * per_tile).min(units - unit_start);
            let tiles = n_units.div_ceil(per_tile);
            let label = format!(
                "{name}[{layout:?} {unit_start}..{}, {}]",
                unit_start + n_units,
                format.name()
            );
            let p = params::Shard {
                row_start: (unit_offset + unit_start) as u32,
                n_rows: n_units as u32,
                n_groups: n_groups as u32,
                pad1: 0,
            };
            shards.push(MatrixShard {
                buffer: ctx.weight_storage(&label, tiles as u64 * tile_bytes),
                params: ctx.uniform_init(&format!("{label} shard params"), bytemuck::bytes_of(&p)),
                unit_start,
                n_units,
                tiles,
            });
            unit_start += n_units;
        }
        Ok(Self {
            name: name.to_string(),
            format,
            layout,
            units,
            cols,
            unit_offset,
            n_groups,
            shards,
        })
    }

    /// Uploads a 2-D tensor, one output row per tensor row, in the format its type maps to.
    pub fn upload(ctx: &GpuContext, t: &Tensor) -> Result<Self> {
        let (rows, cols) = matrix_shape(t)?;
        let format = GpuFormat::for_dtype(t.dtype, &t.name)?;
        let m = Self::new(ctx, &t.name, format, RowLayout::Rows, rows, cols, 0)?;
        m.write_tensor(ctx, RowMap::Offset(0), t)?;
        Ok(m)
    }

    /// Bytes the shards take on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.buffer.size()).sum()
    }

    /// Rows the shards hold, padding included.
    fn padded_rows(&self) -> usize {
        self.shards.iter().map(|s| s.tiles * ROW_TILE).sum()
    }

    /// Writes tensor `t` (or the piece of it that `t` is: rows from `t.first_row()`) at the
    /// rows `map` gives.
    pub fn write_tensor(&self, ctx: &GpuContext, map: RowMap, t: &Tensor) -> Result<()> {
        let (rows, cols) = matrix_shape(t)?;
        let first = t.first_row();
        let mismatch = || Error::ShapeMismatch {
            tensor: t.name.clone(),
            expected: vec![self.units, self.cols],
            found: t.shape.clone(),
        };
        if cols != self.cols || map.layout() != self.layout || !first.is_multiple_of(ROW_TILE) {
            return Err(mismatch());
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
        // Whole windows of 32 rows at a time, so that every block is filled at once.
        let piece_rows = (UPLOAD_PIECE_WORDS / row_words / ROW_TILE).max(1) * ROW_TILE;
        let mut r = 0;
        while r < rows {
            let end = (r + piece_rows).min(rows);
            let blocks = self.repack_rows(t, r..end, |row| map.row(first + row))?;
            self.write_blocks(ctx, &blocks);
            r = end;
        }
        Ok(())
    }

    /// Rows `rows` of `t`, repacked into the blocks that `at` (tensor row → matrix row)
    /// puts them in; rows of a block that `rows` does not fill stay zero.
    fn repack_rows(
        &self,
        t: &Tensor,
        rows: std::ops::Range<usize>,
        at: impl Fn(usize) -> usize,
    ) -> Result<BTreeMap<usize, Vec<u32>>> {
        let (f, n_groups) = (self.format, self.n_groups);
        let words = f.words();
        let block_words = n_groups * words * ROW_BLOCK;
        let mut blocks: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        let mut group = vec![0u32; words];
        let limit = self.padded_rows();
        let mut place = |r: usize, g: usize, group: &[u32]| -> Result<()> {
            let row = at(r);
            if row >= limit {
                return Err(Error::ShapeMismatch {
                    tensor: t.name.clone(),
                    expected: vec![self.units, self.cols],
                    found: t.shape.clone(),
                });
            }
            let (b, i) = (row / ROW_BLOCK, row % ROW_BLOCK);
            let block = blocks.entry(b).or_insert_with(|| vec![0u32; block_words]);
            for (j, &w) in group.iter().enumerate() {
                block[(g * words + j) * ROW_BLOCK + i] = w;
            }
            Ok(())
        };
        match f.source_dtype() {
            None => {
                let values = quant::dequantize_rows_f32(t, rows.clone())?;
                let halves: Vec<f16> = values.into_iter().map(f16::from_f32).collect();
                for (r, row) in halves.chunks_exact(self.cols).enumerate() {
                    for (g, vals) in row.chunks_exact(f.group()).enumerate() {
                        pack_f16_group(vals, &mut group);
                        place(rows.start + r, g, &group)?;
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
                        place(rows.start + r, g, &group)?;
                    }
                }
            }
        }
        Ok(blocks)
    }

    /// Writes blocks (by matrix block index) into their shards, one write per run of
    /// consecutive blocks within a shard.
    fn write_blocks(&self, ctx: &GpuContext, blocks: &BTreeMap<usize, Vec<u32>>) {
        let block_bytes = (self.n_groups * self.format.words() * ROW_BLOCK * 4) as u64;
        let mut run: Vec<u32> = Vec::new();
        let mut run_start: Option<(usize, usize)> = None; // (shard, first block in shard)
        let mut next: Option<(usize, usize)> = None;
        let flush = |run: &mut Vec<u32>, start: Option<(usize, usize)>| {
            if let Some((s, b)) = start {
                ctx.queue().write_buffer(
                    &self.shards[s].buffer,
                    b as u64 * block_bytes,
                    bytemuck::cast_slice(run),
                );
            }
            run.clear();
        };
        for (&block, words) in blocks {
            let row = block * ROW_BLOCK;
            let Some((s, shard)) = self.shards.iter().enumerate().find(|(_, sh)| {
                let start = sh.first_row(self.layout);
                row >= start && row < start + sh.tiles * ROW_TILE
            }) else {
                continue;
            };
            let local = (row - shard.first_row(self.layout)) / ROW_BLOCK;
            if next != Some((s, local)) {
                flush(&mut run, run_start);
                run_start = Some((s, local));
            }
            run.extend_from_slice(words);
            next = Some((s, local + 1));
        }
        flush(&mut run, run_start);
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
