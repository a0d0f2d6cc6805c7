//! `shaders/argmax.wgsl`: index of the largest of `n` logits (ties: lowest index), in two
//! dispatches, so that only 4 bytes are read back per generated token.

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/argmax.wgsl");

/// Invocations of the first pass, each reducing every LANES-th logit (`LANES` in the shader).
const LANES: usize = 1024;
/// Invocations per workgroup of the first pass (`WG` in the shader).
const WG: usize = 64;

pub struct Argmax {
    partial: Kernel,
    finish: Kernel,
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
        Ok(Self { partial, finish })
    }

    /// Bytes the scratch buffer of `bind` needs.
    pub fn scratch_bytes(&self) -> u64 {
        (LANES * 8) as u64
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
            .dispatch(pass, &binds[0], [(LANES / WG) as u32, 1, 1]);
        self.finish.dispatch(pass, &binds[1], [1, 1, 1]);
    }
}
