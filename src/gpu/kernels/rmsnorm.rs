//! `shaders/rmsnorm.wgsl`: y[t] = x[t] / rms(x[t]) * w (or y[t] += that), or LayerNorm
//! (x[t] - mean) / std · w + b; one invocation per token (barrier-free).

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/rmsnorm.wgsl");

/// Tokens per workgroup (`WG` in the shader).
const TOKENS_PER_GROUP: u32 = 64;

/// Which normalization, and where its result goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm stored in `y`.
    Rms,
    /// RMSNorm added to `y` (a block output's norm before the residual add).
    RmsAdd,
    /// LayerNorm with a bias, stored in `y`.
    Layer,
}

pub struct RmsNorm {
    pub kernel: Kernel,
    kind: NormKind,
}

impl RmsNorm {
    pub async fn new(ctx: &GpuContext, dim: usize, eps: f32, kind: NormKind) -> Result<Self> {
        let add = kind == NormKind::RmsAdd;
        let mut constants = vec![("DIM", constant(dim)), ("EPS", f64::from(eps))];
        let mut slots = vec![Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];
        let entry = match kind {
            NormKind::Layer => {
                slots.push(Slot::Read);
                "main_layer"
            }
            _ => {
                constants.push(("ADD", f64::from(u8::from(add))));
                "main"
            }
        };
        let label = format!("norm[{kind:?} dim{dim}]");
        Ok(Self {
            kernel: Kernel::new(ctx, &label, SOURCE, entry, &slots, &constants).await?,
            kind,
        })
    }

    /// Normalizes the chunk's `step.n_tokens` rows of `x` [n, dim] into `y` with weight `w`
    /// (and, for LayerNorm, bias `b`).
    pub fn bind(
        &self,
        ctx: &GpuContext,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        b: Option<&wgpu::Buffer>,
        y: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        match (self.kind, b) {
            (NormKind::Layer, Some(b)) => self.kernel.bind(ctx, &[step, x, w, y, b]),
            (NormKind::Layer, None) => Err(crate::error::Error::Gpu(
                "a LayerNorm needs its bias".into(),
            )),
            _ => self.kernel.bind(ctx, &[step, x, w, y]),
        }
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
