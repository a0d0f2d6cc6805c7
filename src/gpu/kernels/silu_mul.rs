//! `shaders/silu_mul.wgsl`: the SwiGLU activation silu(gate) · up of stacked gate|up rows,
//! one invocation per element.

use super::{constant, with_activation, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/silu_mul.wgsl");

/// Elements per workgroup (`WG` in the shader).
const ELEMENTS_PER_GROUP: u32 = 64;

pub struct SiluMul {
    pub kernel: Kernel,
    ff: usize,
}

impl SiluMul {
    /// `gelu`: GELU (tanh) instead of SiLU.
    pub async fn new(ctx: &GpuContext, ff: usize, gelu: bool) -> Result<Self> {
        let act = if gelu { "gelu" } else { "silu" };
        let label = format!("{act}_mul[ff{ff}]");
        let slots = [Slot::Uniform, Slot::Read, Slot::ReadWrite];
        let constants = [("FF", constant(ff)), ("GELU", f64::from(u8::from(gelu)))];
        Ok(Self {
            kernel: Kernel::new(
                ctx,
                &label,
                &with_activation(SOURCE),
                "main",
                &slots,
                &constants,
            )
            .await?,
            ff,
        })
    }

    /// `gate_up` [n_tokens, 2 ff] in, `out` [n_tokens, ff].
    pub fn bind(
        &self,
        ctx: &GpuContext,
        step: &wgpu::Buffer,
        gate_up: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        self.kernel.bind(ctx, &[step, gate_up, out])
    }

    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        n_tokens: usize,
    ) {
        let groups = (self.ff as u32).div_ceil(ELEMENTS_PER_GROUP);
        self.kernel
            .dispatch(pass, bind, [groups, n_tokens as u32, 1]);
    }
}
