//! `shaders/rope.wgsl`: rotary embedding of Q and K (after an RMSNorm of each head where
//! the model has one), and the store of K and V into the KV cache, one workgroup per token.

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
    /// `[2 head_dim]`: the query heads' norm weight, then the key heads'; exactly when the
    /// kernel was made with a norm.
    pub qk_norm: Option<&'a wgpu::Buffer>,
}

pub struct Rope {
    pub kernel: Kernel,
}

impl Rope {
    /// `qk_norm_eps`: RMS-normalize each query and key head first, with this epsilon.
    pub async fn new(
        ctx: &GpuContext,
        heads: Heads,
        style: RopeStyle,
        qk_norm_eps: Option<f32>,
    ) -> Result<Self> {
        let pairwise = style == RopeStyle::Pairwise;
        let constants = [
            ("N_HEAD", constant(heads.n_head)),
            ("N_HEAD_KV", constant(heads.n_head_kv)),
            ("HEAD_DIM", constant(heads.head_dim)),
            ("PAIRWISE", f64::from(u8::from(pairwise))),
            ("EPS", f64::from(qk_norm_eps.unwrap_or(0.0))),
        ];
        let norm = if qk_norm_eps.is_some() {
            " qk-norm"
        } else {
            ""
        };
        let label = format!(
            "rope[{:?} h{}/{}x{}{norm}]",
            style, heads.n_head, heads.n_head_kv, heads.head_dim
        );
        let mut slots = vec![
            Slot::Uniform,
            Slot::Read,
            Slot::Read,
            Slot::ReadWrite,
            Slot::ReadWrite,
            Slot::ReadWrite,
        ];
        let entry = match qk_norm_eps {
            Some(_) => {
                slots.push(Slot::Read);
                "main_qk_norm"
            }
            None => "main",
        };
        Ok(Self {
            kernel: Kernel::new(ctx, &label, SOURCE, entry, &slots, &constants).await?,
        })
    }

    pub fn bind(&self, ctx: &GpuContext, b: &RopeBindings) -> Result<wgpu::BindGroup> {
        let mut buffers = vec![b.step, b.qkv, b.cos_sin, b.k_cache, b.v_cache, b.q];
        buffers.extend(b.qk_norm);
        self.kernel.bind(ctx, &buffers)
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
