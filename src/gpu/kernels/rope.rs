//! `shaders/rope.wgsl`: rotary embedding of Q and K, and the store of K and V into the
//! KV cache, one workgroup per token.

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::model::RopeStyle;

pub(super) const SOURCE: &str = include_str!("../../../shaders/rope.wgsl");

/// Head layout shared by the rope and attention kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Heads {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
}

/// The buffers of the rope kernel.
pub struct RopeBindings<'a> {
    /// Uniform `params::Step`.
    pub step: &'a wgpu::Buffer,
    /// `[n_tokens, q_dim + 2 kv_dim]`: the Q|K|V product.
    pub qkv: &'a wgpu::Buffer,
    /// `[n_ctx, head_dim / 2]` (cos, sin) pairs (`reference::rope_table`).
    pub cos_sin: &'a wgpu::Buffer,
    /// `[n_ctx, kv_dim]` each.
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    /// `[n_tokens, q_dim]`: the rotated queries.
    pub q: &'a wgpu::Buffer,
}

pub struct Rope {
    pub kernel: Kernel,
}

impl Rope {
    pub async fn new(ctx: &GpuContext, heads: Heads, style: RopeStyle) -> Result<Self> {
        let pairwise = style == RopeStyle::Pairwise;
        let constants = [
            ("N_HEAD", constant(heads.n_head)),
            ("N_HEAD_KV", constant(heads.n_head_kv)),
            ("HEAD_DIM", constant(heads.head_dim)),
            ("PAIRWISE", f64::from(u8::from(pairwise))),
        ];
        let label = format!(
            "rope[{:?} h{}/{}x{}]",
            style, heads.n_head, heads.n_head_kv, heads.head_dim
        );
        let slots = [
            Slot::Uniform,
            Slot::Read,
            Slot::Read,
            Slot::ReadWrite,
            Slot::ReadWrite,
            Slot::ReadWrite,
        ];
        Ok(Self {
            kernel: Kernel::new(ctx, &label, SOURCE, "main", &slots, &constants).await?,
        })
    }

    pub fn bind(&self, ctx: &GpuContext, b: &RopeBindings) -> Result<wgpu::BindGroup> {
        self.kernel
            .bind(ctx, &[b.step, b.qkv, b.cos_sin, b.k_cache, b.v_cache, b.q])
    }

    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        n_tokens: usize,
    ) {
        self.kernel.dispatch(pass, bind, [n_tokens as u32, 1, 1]);
    }
}
