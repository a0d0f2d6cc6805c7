//! `shaders/embedding.wgsl`: gathers token rows from a row-sharded fp16 table.

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/embedding.wgsl");

pub struct Embedding {
    pub kernel: Kernel,
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
        self.kernel.dispatch(pass, bind, [n_tokens as u32, 1, 1]);
    }
}
