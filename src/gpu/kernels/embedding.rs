//! `shaders/embedding.wgsl`: gathers token rows from a row-sharded table in any GPU weight
//! format (blocked layout), decoding them to f32.

use super::{constant, with_format, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::formats::GpuFormat;

pub(super) const SOURCE: &str = include_str!("../../../shaders/embedding.wgsl");

/// 8-column units per workgroup (`WG` in the shader).
const UNITS_PER_GROUP: u32 = 64;

pub struct Embedding {
    pub kernel: Kernel,
    dim: usize,
}

impl Embedding {
    /// `scale` multiplies every value gathered (1 but for Gemma's √dim); `add`: the rows are
    /// added to the output (GPT-2's positions) instead of stored.
    pub async fn new(
        ctx: &GpuContext,
        dim: usize,
        format: GpuFormat,
        scale: f32,
        add: bool,
    ) -> Result<Self> {
        format.check_cols("token embedding", dim)?;
        let label = format!(
            "embedding[{} dim{dim}{}]",
            format.name(),
            if add { " add" } else { "" }
        );
        let source = with_format(SOURCE, format);
        let slots = [Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];
        Ok(Self {
            kernel: Kernel::new(
                ctx,
                &label,
                &source,
                "main",
                &slots,
                &[
                    ("DIM", constant(dim)),
                    ("SCALE", f64::from(scale)),
                    ("ADD", f64::from(u8::from(add))),
                ],
            )
            .await?,
            dim,
        })
    }

    /// One bind group per shard: its `params`, the token ids (u32), its rows, and the
    /// output [n_tokens, dim].
    pub fn bind(
        &self,
        ctx: &GpuContext,
        shard: &wgpu::Buffer,
        tokens: &wgpu::Buffer,
        table: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        self.kernel.bind(ctx, &[shard, tokens, table, x])
    }

    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        n_tokens: usize,
    ) {
        let units = (self.dim / 8) as u32;
        let groups = units.div_ceil(UNITS_PER_GROUP);
        self.kernel
            .dispatch(pass, bind, [groups, n_tokens as u32, 1]);
    }
}
