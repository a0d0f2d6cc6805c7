//! `shaders/attention.wgsl`: causal grouped-query attention over the KV cache with an
//! online softmax, one invocation per (token, query head), barrier-free; optionally over a
//! sliding window. The shader's register arrays are sized to the head when it compiles.

use super::rope::Heads;
use super::{constant, Kernel, Slot};
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/attention.wgsl");

/// Largest head dimension the kernel holds in registers (Gemma 3's 256).
pub const MAX_HEAD_DIM: usize = 256;
/// The line of the shader that sizes the register arrays.
const MAX_VEC4_LINE: &str = "const MAX_VEC4: u32 = 32u;";

/// Invocations per workgroup (`WG` in the shader).
const INVOCATIONS_PER_GROUP: u32 = 64;

pub struct Attention {
    pub kernel: Kernel,
    pub heads: Heads,
}

impl Attention {
    /// `window`: attend to the last `window` positions only (a sliding-window layer).
    pub async fn new(ctx: &GpuContext, heads: Heads, window: Option<usize>) -> Result<Self> {
        if heads.head_dim == 0
            || heads.head_dim > MAX_HEAD_DIM
            || !heads.head_dim.is_multiple_of(4)
            || heads.n_head_kv == 0
            || !heads.n_head.is_multiple_of(heads.n_head_kv)
        {
            return Err(Error::InvalidConfig(format!(
                "attention needs head_dim a multiple of 4 up to {MAX_HEAD_DIM} and query heads a multiple of \
                 KV heads; got {heads:?}"
            )));
        }
        let constants = [
            ("N_HEAD", constant(heads.n_head)),
            ("N_HEAD_KV", constant(heads.n_head_kv)),
            ("HEAD_DIM", constant(heads.head_dim)),
            ("WINDOW", constant(window.unwrap_or(0))),
        ];
        let label = format!(
            "attention[h{}/{}x{}{}]",
            heads.n_head,
            heads.n_head_kv,
            heads.head_dim,
            window.map_or(String::new(), |w| format!(" window {w}"))
        );
        if !SOURCE.contains(MAX_VEC4_LINE) {
            return Err(Error::Gpu("attention.wgsl no longer sizes MAX_VEC4".into()));
        }
        let source = SOURCE.replacen(
            MAX_VEC4_LINE,
            &format!("const MAX_VEC4: u32 = {}u;", heads.head_dim / 4),
            1,
        );
        let slots = [
            Slot::Uniform,
            Slot::Read,
            Slot::Read,
            Slot::Read,
            Slot::ReadWrite,
        ];
        Ok(Self {
            kernel: Kernel::new(ctx, &label, &source, "main", &slots, &constants).await?,
            heads,
        })
    }

    /// Rotated queries are read from `q` [n_tokens, q_dim]; `out` is [n_tokens, q_dim].
    pub fn bind(
        &self,
        ctx: &GpuContext,
        step: &wgpu::Buffer,
        q: &wgpu::Buffer,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        self.kernel.bind(ctx, &[step, q, k_cache, v_cache, out])
    }

    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        n_tokens: usize,
    ) {
        let invocations = (self.heads.n_head * n_tokens) as u32;
        let groups = invocations.div_ceil(INVOCATIONS_PER_GROUP);
        self.kernel.dispatch(pass, bind, [groups, 1, 1]);
    }
}
