//! `shaders/rope.wgsl`: rotary embedding of Q and K, and the store of K and V into the
//! KV cache, one workgroup per token.

use super::{constant, Kernel, Slot};
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::model::RopeStyle;

pub(super) const SOURCE: &str = include_str!("../../../shaders/rope.wgsl");

/// Head layout shared by the rope and attention kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
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
            Slot::ReadWrite,
            Slot::Read,
            Slot::ReadWrite,
            Slot::ReadWrite,
        ];
        Ok(Self {
            kernel: Kernel::new(ctx, &label, SOURCE, "main", &slots, &constants).await?,
        })
    }

    /// `qkv` [n_tokens, q_dim + 2 kv_dim]; `cos_sin` [n_ctx, head_dim / 2] pairs (see
    /// `reference::rope_table`); caches [n_ctx, kv_dim].
    pub fn bind(
        &self,
        ctx: &GpuContext,
        step: &wgpu::Buffer,
        qkv: &wgpu::Buffer,
        cos_sin: &wgpu::Buffer,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        self.kernel
            .bind(ctx, &[step, qkv, cos_sin, k_cache, v_cache])
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
