//! `shaders/rmsnorm.wgsl`: y[t] = x[t] / rms(x[t]) * w (or y[t] += that), one invocation per
//! token (barrier-free).

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/rmsnorm.wgsl");

/// Tokens per workgroup (`WG` in the shader).
const TOKENS_PER_GROUP: u32 = 64;

pub struct RmsNorm {
    pub kernel: Kernel,
}

impl RmsNorm {
    /// `add`: add the normed rows to `y` instead of storing them.
    pub async fn new(ctx: &GpuContext, dim: usize, eps: f32, add: bool) -> Result<Self> {
        let constants = [
            ("DIM", constant(dim)),
            ("EPS", f64::from(eps)),
            ("ADD", f64::from(u8::from(add))),
        ];
        let label = format!("rmsnorm[dim{dim}{}]", if add { " add" } else { "" });
        let slots = [Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];
        Ok(Self {
            kernel: Kernel::new(ctx, &label, SOURCE, "main", &slots, &constants).await?,
        })
    }

    /// Normalizes the chunk's `step.n_tokens` rows of `x` [n, dim] into `y` with weight `w`.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        self.kernel.bind(ctx, &[step, x, w, y])
    }

    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        n_tokens: usize,
    ) {
        self.kernel.dispatch(
            pass,
            bind,
            [(n_tokens as u32).div_ceil(TOKENS_PER_GROUP), 1, 1],
        );
    }
}
