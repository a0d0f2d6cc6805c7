//! `shaders/embedding.wgsl`: gathers token rows from a row-sharded fp16 table (blocked layout).

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/embedding.wgsl");

/// Column chunks (8 values) per workgroup (`WG` in the shader).
const CHUNKS_PER_GROUP: u32 = 64;

pub struct Embedding {
    pub kernel: Kernel,
    dim: usize,
}

impl Embedding {
    pub async fn new(ctx: &GpuContext, dim: usize) -> Result<Self> {
        let label = format!("embedding[dim{dim}]");
        let slots = [Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];
        Ok(Self {
            kernel: Kernel::new(
                ctx,
                &label,
                SOURCE,
                "main",
                &slots,
                &[("DIM", constant(dim))],
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
        let chunks = self.dim.div_ceil(crate::gpu::weights::CHUNK_COLS) as u32;
        let groups = chunks.div_ceil(CHUNKS_PER_GROUP);
        self.kernel
            .dispatch(pass, bind, [groups, n_tokens as u32, 1]);
    }
}
