//! Linear products of the model: the pipelines, looked up by (shape and fusions, weight
//! format) so each is compiled once however many matrices use it (both token variants per
//! key), and the bind groups of one product over all its parts and shards.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::kernels::{Linear, LinearBindings, LinearOut, LinearSpec, LinearTokens};
use crate::gpu::{GpuContext, GpuFormat, RowLayout};

use super::intake::Weight;

/// Tokens per invocation of the prefill linear kernels.
const PREFILL_TILE: u32 = 8;

/// The kernels of one linear product in one format: one token (decode), the chunk's last
/// token only (the head's: the last-token logits of a prefill chunk), and every token of a
/// chunk, 8 per invocation (prefill).
pub(super) struct LinearPair {
    single: Linear,
    last: Option<Linear>,
    all: Linear,
}

/// Compiled linear pipelines by (spec, format).
#[derive(Default)]
pub(super) struct LinearPipelines {
    pairs: HashMap<(LinearSpec, GpuFormat), Arc<LinearPair>>,
}

impl LinearPipelines {
    /// Compiles the pipelines `weight` needs for `spec`, unless compiled already; with
    /// `last_token` (the head, to be prepared first) also the one of a chunk's last token.
    /// Only what runs is compiled: a pipeline costs up to a second of loading on a CPU
    /// adapter.
    pub async fn prepare(
        &mut self,
        ctx: &GpuContext,
        spec: LinearSpec,
        weight: &Weight,
        last_token: bool,
    ) -> Result<()> {
        // Paired epilogues need every token (rope positions, KV rows).
        let last_token = last_token && spec.epilogue.layout() == RowLayout::Rows;
        for part in &weight.parts {
            let key = (spec, part.format);
            if let Some(pair) = self.pairs.get(&key) {
                if last_token && pair.last.is_none() {
                    return Err(Error::Gpu(format!(
                        "{spec:?} in {} was prepared without its last-token kernel",
                        part.format.name()
                    )));
                }
                continue;
            }
            let all = LinearTokens::All {
                per_invocation: PREFILL_TILE,
            };
            let last = match last_token {
                true => Some(Linear::new(ctx, spec, part.format, LinearTokens::Last).await?),
                false => None,
            };
            let pair = LinearPair {
                single: Linear::new(ctx, spec, part.format, LinearTokens::Single).await?,
                last,
                all: Linear::new(ctx, spec, part.format, all).await?,
            };
            self.pairs.insert(key, Arc::new(pair));
        }
        Ok(())
    }

    fn get(&self, spec: LinearSpec, format: GpuFormat) -> Result<Arc<LinearPair>> {
        self.pairs.get(&(spec, format)).cloned().ok_or_else(|| {
            Error::Gpu(format!(
                "no linear pipeline for {spec:?} in {} (not prepared)",
                format.name()
            ))
        })
    }

    /// Distinct pipelines compiled.
    pub fn len(&self) -> usize {
        self.pairs
            .values()
            .map(|p| 2 + usize::from(p.last.is_some()))
            .sum()
    }
}

/// What a product reads.
#[derive(Clone, Copy)]
pub(super) enum ProductInput<'a> {
    /// `[n, k]`, read as it is.
    Plain(&'a wgpu::Buffer),
    /// The RMSNorm of `residual` with `weight`: the one-token kernels that norm their
    /// input read `residual` and `weight`; the others `normed`, written by a norm dispatch.
    Normed {
        normed: &'a wgpu::Buffer,
        residual: &'a wgpu::Buffer,
        weight: &'a wgpu::Buffer,
    },
}

impl<'a> ProductInput<'a> {
    /// The input and norm weight to bind to `kernel`.
    fn for_kernel(self, kernel: &Linear) -> (&'a wgpu::Buffer, Option<&'a wgpu::Buffer>) {
        match self {
            Self::Plain(x) => (x, None),
            Self::Normed {
                residual, weight, ..
            } if kernel.norms_input() => (residual, Some(weight)),
            Self::Normed { normed, .. } => (normed, None),
        }
    }
}

/// One shard's dispatch of a product.
struct ShardBind {
    kernels: Arc<LinearPair>,
    tiles: usize,
    single: wgpu::BindGroup,
    last: Option<wgpu::BindGroup>,
    all: wgpu::BindGroup,
}

impl ShardBind {
    /// The kernel (and its bind group) that computes what `LinearBinds::record` asks for.
    fn kernel(&self, n_tokens: usize, last_only: bool) -> (&Linear, &wgpu::BindGroup) {
        match (&self.kernels.last, &self.last) {
            _ if last_only && n_tokens == 1 => (&self.kernels.single, &self.single),
            (Some(kernel), Some(bind)) if last_only => (kernel, bind),
            _ => (&self.kernels.all, &self.all),
        }
    }
}

/// Bind groups of one use of a linear product, one per part and shard.
pub(super) struct LinearBinds {
    shards: Vec<ShardBind>,
    /// Weight bytes one token's product reads.
    bytes: u64,
}

impl LinearBinds {
    /// The product of `input` with `w` for `spec`, stored through `out`.
    pub fn new(
        ctx: &GpuContext,
        pipelines: &LinearPipelines,
        spec: LinearSpec,
        w: &Weight,
        step: &wgpu::Buffer,
        input: ProductInput,
        out: LinearOut,
    ) -> Result<Self> {
        let mut shards = Vec::new();
        for part in &w.parts {
            let kernels = pipelines.get(spec, part.format)?;
            for s in &part.shards {
                let bind = |kernel: &Linear| {
                    let (x, norm) = input.for_kernel(kernel);
                    let b = LinearBindings {
                        step,
                        shard: &s.params,
                        x,
                        w: &s.buffer,
                        norm,
                        out,
                    };
                    kernel.bind(ctx, &b)
                };
                shards.push(ShardBind {
                    single: bind(&kernels.single)?,
                    last: kernels.last.as_ref().map(bind).transpose()?,
                    all: bind(&kernels.all)?,
                    kernels: kernels.clone(),
                    tiles: s.tiles,
                });
            }
        }
        Ok(Self {
            shards,
            bytes: w.gpu_bytes(),
        })
    }

    /// Records every token of the chunk, or with `last_only` the last one (to output row
    /// 0; a product prepared without `last_token` takes `last_only` only for a chunk of
    /// one token). Returns the dispatches recorded.
    pub fn record(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        n_tokens: usize,
        last_only: bool,
    ) -> usize {
        for s in &self.shards {
            let (kernel, bind) = s.kernel(n_tokens, last_only);
            kernel.dispatch(pass, bind, s.tiles, n_tokens);
        }
        self.shards.len()
    }

    /// Whether `record` with these arguments dispatches a kernel that reads the normed
    /// input (`ProductInput::Normed`), which a norm dispatch must write first.
    pub fn reads_normed(&self, n_tokens: usize, last_only: bool) -> bool {
        self.shards
            .iter()
            .any(|s| !s.kernel(n_tokens, last_only).0.norms_input())
    }

    /// Weight bytes one pass over the product reads.
    pub fn weight_bytes(&self) -> u64 {
        self.bytes
    }
}
