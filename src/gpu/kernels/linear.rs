//! `shaders/linear.wgsl`: Y = X · Wᵀ (+ bias) (+ Y) over the shards of a matrix in any GPU
//! weight format, in the blocked layout of `gpu::weights`: one workgroup per row block, one
//! invocation per 4 output rows and tile of tokens.

use super::{constant, grid, with_format, Kernel, Slot};
use crate::error::{Error, Result};
use crate::gpu::context::{GpuContext, KernelShape};
use crate::gpu::formats::GpuFormat;
use crate::gpu::weights::ROW_BLOCK;

pub(super) const SOURCE: &str = include_str!("../../../shaders/linear.wgsl");

/// The fixed shape and fusions of one linear kernel variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinearSpec {
    /// Input length (matrix columns), a multiple of the format's group.
    pub k: usize,
    /// Rows of the whole (unsharded) matrix: the output row stride.
    pub n_out: usize,
    /// Add the result into the output buffer instead of overwriting it.
    pub residual: bool,
    /// Add a per-row bias.
    pub bias: bool,
}

/// Which tokens of the chunk one dispatch computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearTokens {
    /// Every token, `1` or `8` per invocation (8 reuses each weight word for 8 tokens).
    All { per_invocation: u32 },
    /// Only the chunk's last token, written to output row 0 (decode, last-token logits).
    Last,
}

impl LinearTokens {
    fn per_invocation(self) -> u32 {
        match self {
            Self::All { per_invocation } => per_invocation,
            Self::Last => 1,
        }
    }
}

/// The buffers a linear kernel reads and writes, for one shard of its weight.
pub struct LinearBindings<'a> {
    /// Uniform `params::Step`.
    pub step: &'a wgpu::Buffer,
    /// Uniform `params::Shard` of this shard (`MatrixShard::params`).
    pub shard: &'a wgpu::Buffer,
    /// `[n_tokens, k]` f32.
    pub x: &'a wgpu::Buffer,
    /// The shard's words (`gpu::weights` layout).
    pub w: &'a wgpu::Buffer,
    /// `[n_tokens, n_out]` f32.
    pub y: &'a wgpu::Buffer,
    /// Bias of the whole matrix, when the spec has one.
    pub bias: Option<&'a wgpu::Buffer>,
}

pub struct Linear {
    pub kernel: Kernel,
    pub spec: LinearSpec,
    pub format: GpuFormat,
    pub tokens: LinearTokens,
}

impl Linear {
    /// The variant of `ctx.kernel_shape()`: one-token products run split over K on GPUs
    /// (`splitk`), as lanes of rows on CPU adapters (`tile1`); 8-token tiles are one shape.
    pub async fn new(
        ctx: &GpuContext,
        spec: LinearSpec,
        format: GpuFormat,
        tokens: LinearTokens,
    ) -> Result<Self> {
        let split = ctx.kernel_shape() == KernelShape::SplitK;
        let entry = match tokens.per_invocation() {
            1 if split => "splitk",
            1 => "tile1",
            8 => "tile8",
            n => {
                return Err(Error::Gpu(format!(
                    "linear kernels compute 1 or 8 tokens per invocation, not {n}"
                )))
            }
        };
        format.check_cols("linear kernel input", spec.k)?;
        let last = tokens == LinearTokens::Last;
        let constants = [
            ("TILE1_LANES", f64::from(ctx.lanes())),
            ("K", constant(spec.k)),
            ("N_OUT", constant(spec.n_out)),
            ("RESIDUAL", f64::from(u8::from(spec.residual))),
            ("HAS_BIAS", f64::from(u8::from(spec.bias))),
            ("LAST_TOKEN", f64::from(u8::from(last))),
        ];
        let label = format!(
            "linear[{} {} k{}n{}{}{} {}]",
            entry,
            format.name(),
            spec.k,
            spec.n_out,
            if spec.bias { "+bias" } else { "" },
            if spec.residual { "+residual" } else { "" },
            if last {
                "last".to_string()
            } else {
                format!("x{}", tokens.per_invocation())
            }
        );
        let slots = [
            Slot::Uniform,
            Slot::Uniform,
            Slot::Read,
            Slot::Read,
            Slot::ReadWrite,
            Slot::Read,
        ];
        let source = with_format(SOURCE, format);
        let kernel = Kernel::new(ctx, &label, &source, entry, &slots, &constants).await?;
        Ok(Self {
            kernel,
            spec,
            format,
            tokens,
        })
    }

    pub fn bind(&self, ctx: &GpuContext, b: &LinearBindings) -> Result<wgpu::BindGroup> {
        let bias = match (self.spec.bias, b.bias) {
            (true, None) => {
                return Err(Error::Gpu(format!("{}: no bias bound", self.kernel.label)))
            }
            (_, bias) => bias.unwrap_or(ctx.placeholder()),
        };
        self.kernel
            .bind(ctx, &[b.step, b.shard, b.x, b.w, b.y, bias])
    }

    /// Records the product of the chunk's `n_tokens` with one shard of `shard_rows` rows.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        shard_rows: usize,
        n_tokens: usize,
    ) {
        // `grid` puts row groups beyond 65535 in its second dimension; tokens take y here,
        // so that overflow goes to z (the shader flattens x + z * num_workgroups.x).
        let [gx, overflow, _] = grid(shard_rows.div_ceil(ROW_BLOCK) as u32);
        let gy = match self.tokens {
            LinearTokens::Last => 1,
            LinearTokens::All { per_invocation } => (n_tokens as u32).div_ceil(per_invocation),
        };
        self.kernel.dispatch(pass, bind, [gx, gy, overflow]);
    }
}
