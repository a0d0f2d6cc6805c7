//! `shaders/softmax.wgsl`: row-wise, max-subtracted softmax.

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/softmax.wgsl");

pub struct Softmax {
    pub kernel: Kernel,
}

impl Softmax {
    pub async fn new(ctx: &GpuContext, row_len: usize) -> Result<Self> {
        let label = format!("softmax[n{row_len}]");
        let slots = [Slot::Read, Slot::ReadWrite];
        Ok(Self {
            kernel: Kernel::new(
                ctx,
                &label,
                SOURCE,
                "main",
                &slots,
                &[("N", constant(row_len))],
            )
            .await?,
        })
    }

    pub fn bind(
        &self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        self.kernel.bind(ctx, &[x, y])
    }

    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        n_rows: usize,
    ) {
        self.kernel.dispatch(pass, bind, [n_rows as u32, 1, 1]);
    }
}
