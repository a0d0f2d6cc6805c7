//! `shaders/matvec.wgsl`: y = W · in(x) for the last token of a chunk (decode).

use super::{
    bind_linear, constant, grid, Kernel, LinearBindings, LinearInput, LinearSpec, LINEAR_SLOTS,
};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/matvec.wgsl");

/// Rows computed by one workgroup: `ROWS` per invocation × `WG` invocations.
const ROWS_PER_GROUP: u32 = 4 * 32;

pub struct Matvec {
    pub kernel: Kernel,
    pub spec: LinearSpec,
}

impl Matvec {
    pub async fn new(ctx: &GpuContext, spec: LinearSpec) -> Result<Self> {
        let eps = match spec.input {
            LinearInput::RmsNorm { eps } => f64::from(eps),
            _ => 1e-5,
        };
        let constants = [
            ("K", constant(spec.k)),
            ("INPUT_MODE", spec.input_mode()),
            ("RESIDUAL", f64::from(u8::from(spec.residual))),
            ("HAS_BIAS", f64::from(u8::from(spec.bias))),
            ("EPS", eps),
        ];
        let label = format!("matvec[{}]", spec.variant());
        let kernel = Kernel::new(ctx, &label, SOURCE, "main", &LINEAR_SLOTS, &constants).await?;
        Ok(Self { kernel, spec })
    }

    pub fn bind(&self, ctx: &GpuContext, b: &LinearBindings) -> Result<wgpu::BindGroup> {
        bind_linear(&self.kernel, ctx, &self.spec, b)
    }

    /// Records the product for one shard of `shard_rows` rows.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        shard_rows: usize,
    ) {
        let groups = (shard_rows as u32).div_ceil(ROWS_PER_GROUP);
        self.kernel.dispatch(pass, bind, grid(groups));
    }
}
