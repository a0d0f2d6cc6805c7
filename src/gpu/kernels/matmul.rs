//! `shaders/matmul.wgsl`: Y = in(X) · Wᵀ for every token of a chunk (prefill).

use super::{bind_linear, constant, Kernel, LinearBindings, LinearInput, LinearSpec, LINEAR_SLOTS};
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/matmul.wgsl");

/// Tokens per workgroup (`TOKENS` in the shader).
const TILE_TOKENS: u32 = 4;
/// Rows per workgroup: `ROWS` per invocation × `WG` invocations.
const TILE_ROWS: u32 = 4 * 32;

pub struct Matmul {
    pub kernel: Kernel,
    pub spec: LinearSpec,
}

impl Matmul {
    pub async fn new(ctx: &GpuContext, spec: LinearSpec) -> Result<Self> {
        if let LinearInput::RmsNorm { .. } = spec.input {
            return Err(Error::Gpu(
                "matmul does not fuse RMSNorm: normalize with the rmsnorm kernel first".into(),
            ));
        }
        let constants = [
            ("K", constant(spec.k)),
            ("N_OUT", constant(spec.n_out)),
            ("INPUT_MODE", spec.input_mode()),
            ("RESIDUAL", f64::from(u8::from(spec.residual))),
            ("HAS_BIAS", f64::from(u8::from(spec.bias))),
        ];
        let label = format!("matmul[{}]", spec.variant());
        let kernel = Kernel::new(ctx, &label, SOURCE, "main", &LINEAR_SLOTS, &constants).await?;
        Ok(Self { kernel, spec })
    }

    pub fn bind(&self, ctx: &GpuContext, b: &LinearBindings) -> Result<wgpu::BindGroup> {
        bind_linear(&self.kernel, ctx, &self.spec, b)
    }

    /// Records the product of `n_tokens` rows with one shard of `shard_rows` rows.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        shard_rows: usize,
        n_tokens: usize,
    ) {
        let groups = [
            (shard_rows as u32).div_ceil(TILE_ROWS),
            (n_tokens as u32).div_ceil(TILE_TOKENS),
            1,
        ];
        self.kernel.dispatch(pass, bind, groups);
    }
}
