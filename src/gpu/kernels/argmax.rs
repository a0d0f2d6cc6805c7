//! `shaders/argmax.wgsl`: index of the largest of `n` logits (ties: lowest index), in two
//! dispatches, so that only 4 bytes are read back per generated token.

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/argmax.wgsl");

/// Logits reduced by one workgroup of the first pass (`CHUNK` in the shader).
const CHUNK: usize = 1024;

pub struct Argmax {
    partial: Kernel,
    finish: Kernel,
    n: usize,
}

impl Argmax {
    pub async fn new(ctx: &GpuContext, n: usize) -> Result<Self> {
        let slots = [Slot::Read, Slot::ReadWrite, Slot::ReadWrite];
        let constants = [("N", constant(n))];
        let partial = Kernel::new(
            ctx,
            &format!("argmax.partial[n{n}]"),
            SOURCE,
            "partial",
            &slots,
            &constants,
        )
        .await?;
        let finish = Kernel::new(
            ctx,
            &format!("argmax.finish[n{n}]"),
            SOURCE,
            "finish",
            &slots,
            &constants,
        )
        .await?;
        Ok(Self { partial, finish, n })
    }

    /// Bytes the scratch buffer of `bind` needs.
    pub fn scratch_bytes(&self) -> u64 {
        (self.n.div_ceil(CHUNK) * 8) as u64
    }

    /// `logits` [n] f32, `scratch` of `scratch_bytes()`, `result` one u32.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        logits: &wgpu::Buffer,
        scratch: &wgpu::Buffer,
        result: &wgpu::Buffer,
    ) -> Result<[wgpu::BindGroup; 2]> {
        Ok([
            self.partial.bind(ctx, &[logits, scratch, result])?,
            self.finish.bind(ctx, &[logits, scratch, result])?,
        ])
    }

    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, binds: &[wgpu::BindGroup; 2]) {
        self.partial
            .dispatch(pass, &binds[0], [self.n.div_ceil(CHUNK) as u32, 1, 1]);
        self.finish.dispatch(pass, &binds[1], [1, 1, 1]);
    }
}
