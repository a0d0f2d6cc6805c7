//! `shaders/attention.wgsl`: causal grouped-query attention over the KV cache with an
//! online softmax, optionally over a sliding window: one invocation per (token, query
//! head), barrier-free (`main`), or for a few tokens over a long cache one workgroup per
//! (token, query head) that splits the keys (`split`). The shader's per-vec4 variables are
//! written out for the head when it compiles (`source`).

use super::rope::Heads;
use super::{constant, unroll, Kernel, Slot};
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;

pub(super) const SOURCE: &str = include_str!("../../../shaders/attention.wgsl");

/// Largest head dimension the kernel holds in registers (Gemma 3's 256).
pub const MAX_HEAD_DIM: usize = 256;
/// The line of the shader that sizes the register arrays.
const MAX_VEC4_LINE: &str = "const MAX_VEC4: u32 = 32u;";

/// Invocations per workgroup (`WG` in the shader).
const INVOCATIONS_PER_GROUP: u32 = 64;
/// Invocations sharing the keys of one (token, head) in `split` (`SPLITS` in the shader).
const SPLITS: usize = 32;

/// How a dispatch spreads the work (`Attention::dispatch` picks one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionPath {
    /// One invocation per (token, query head).
    Whole,
    /// One workgroup per (token, query head), the keys shared by its invocations.
    Split,
}

impl AttentionPath {
    /// `Split` where `Whole` would run fewer than 4 × SPLITS invocations, too few to keep
    /// an adapter busy, and the last token has more than two keys per `split` invocation.
    pub fn for_step(heads: &Heads, n_tokens: usize, n_keys: usize) -> Self {
        if n_tokens * heads.n_head < 4 * SPLITS && n_keys > 2 * SPLITS {
            AttentionPath::Split
        } else {
            AttentionPath::Whole
        }
    }
}

pub struct Attention {
    kernel: Kernel,
    split: Kernel,
    pub heads: Heads,
    /// The sliding window, if the layer has one.
    window: Option<usize>,
}

/// A layer's bindings for both paths.
pub struct AttentionBinds {
    whole: wgpu::BindGroup,
    split: wgpu::BindGroup,
}

/// The kernel's source for heads of `head_dim` (a multiple of 4): its arrays sized and its
/// `//#unroll` blocks written once per vec4 of the head.
pub fn source(head_dim: usize) -> Result<String> {
    if !SOURCE.contains(MAX_VEC4_LINE) {
        return Err(Error::Gpu("attention.wgsl no longer sizes MAX_VEC4".into()));
    }
    let d4 = head_dim / 4;
    Ok(unroll(
        &SOURCE.replacen(MAX_VEC4_LINE, &format!("const MAX_VEC4: u32 = {d4}u;"), 1),
        d4,
    ))
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
        let source = source(heads.head_dim)?;
        let slots = [
            Slot::Uniform,
            Slot::Read,
            Slot::Read,
            Slot::Read,
            Slot::ReadWrite,
        ];
        Ok(Self {
            kernel: Kernel::new(ctx, &label, &source, "main", &slots, &constants).await?,
            split: Kernel::new(
                ctx,
                &format!("{label} split"),
                &source,
                "split",
                &slots,
                &constants,
            )
            .await?,
            heads,
            window,
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
    ) -> Result<AttentionBinds> {
        let buffers = [step, q, k_cache, v_cache, out];
        Ok(AttentionBinds {
            whole: self.kernel.bind(ctx, &buffers)?,
            split: self.split.bind(ctx, &buffers)?,
        })
    }

    /// `n_keys`: the cache rows up to the step's last token (its position + 1), of which it
    /// attends to the last `window`.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        binds: &AttentionBinds,
        n_tokens: usize,
        n_keys: usize,
    ) {
        let attended = self.window.map_or(n_keys, |w| n_keys.min(w));
        let path = AttentionPath::for_step(&self.heads, n_tokens, attended);
        self.dispatch_path(pass, binds, n_tokens, path);
    }

    pub fn dispatch_path(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        binds: &AttentionBinds,
        n_tokens: usize,
        path: AttentionPath,
    ) {
        let pairs = (self.heads.n_head * n_tokens) as u32;
        match path {
            AttentionPath::Whole => {
                let groups = pairs.div_ceil(INVOCATIONS_PER_GROUP);
                self.kernel.dispatch(pass, &binds.whole, [groups, 1, 1]);
            }
            AttentionPath::Split => self.split.dispatch(pass, &binds.split, [pairs, 1, 1]),
        }
    }
}
