//! Linear products of the model: the pipelines, looked up by (shape and fusions, weight
//! format) so each is compiled once however many matrices use it (both token variants per
//! key), and the bind groups of one product over all its parts and shards.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::kernels::{Linear, LinearBindings, LinearSpec, LinearTokens};
use crate::gpu::{GpuContext, GpuFormat};

use super::intake::Weight;

/// Tokens per invocation of the prefill linear kernels.
const PREFILL_TILE: u32 = 8;

/// The kernels of one linear product in one format: the last token only (decode,
/// last-token logits), and every token of a chunk (prefill).
pub(super) struct LinearPair {
    last: Linear,
    all: Linear,
}

/// Compiled linear pipelines by (spec, format).
#[derive(Default)]
pub(super) struct LinearPipelines {
    pairs: HashMap<(LinearSpec, GpuFormat), Arc<LinearPair>>,
}

impl LinearPipelines {
    /// Compiles the pipelines `weight` needs for `spec`, unless compiled already.
    pub async fn prepare(
        &mut self,
        ctx: &GpuContext,
        spec: LinearSpec,
        weight: &Weight,
    ) -> Result<()> {
        for part in &weight.parts {
            let key = (spec, part.format);
            if self.pairs.contains_key(&key) {
                continue;
            }
            let all = LinearTokens::All {
                per_invocation: PREFILL_TILE,
            };
            let pair = LinearPair {
                last: Linear::new(ctx, spec, part.format, LinearTokens::Last).await?,
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
        2 * self.pairs.len()
    }
}

/// One shard's dispatch of a product.
struct ShardBind {
    kernels: Arc<LinearPair>,
    rows: usize,
    last: wgpu::BindGroup,
    all: wgpu::BindGroup,
}

/// Bind groups of one use of a linear product, one per part and shard.
pub(super) struct LinearBinds {
    shards: Vec<ShardBind>,
    /// Weight bytes one token's product reads.
    bytes: u64,
}

/// The buffers of one use of a product.
pub(super) struct LinearIo<'a> {
    pub step: &'a wgpu::Buffer,
    pub x: &'a wgpu::Buffer,
    pub y: &'a wgpu::Buffer,
    pub bias: Option<&'a wgpu::Buffer>,
}

impl LinearBinds {
    pub fn new(
        ctx: &GpuContext,
        pipelines: &LinearPipelines,
        spec: LinearSpec,
        w: &Weight,
        io: &LinearIo,
    ) -> Result<Self> {
        let mut shards = Vec::new();
        for part in &w.parts {
            let kernels = pipelines.get(spec, part.format)?;
            for s in &part.shards {
                let b = LinearBindings {
                    step: io.step,
                    shard: &s.params,
                    x: io.x,
                    w: &s.buffer,
                    y: io.y,
                    bias: io.bias,
                };
                shards.push(ShardBind {
                    last: kernels.last.bind(ctx, &b)?,
                    all: kernels.all.bind(ctx, &b)?,
                    kernels: kernels.clone(),
                    rows: s.n_rows,
                });
            }
        }
        Ok(Self {
            shards,
            bytes: w.gpu_bytes(),
        })
    }

    /// Records every token of the chunk, or with `last_only` the last one (to output row
    /// 0). Returns the dispatches recorded.
    pub fn record(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        n_tokens: usize,
        last_only: bool,
    ) -> usize {
        for s in &self.shards {
            if last_only {
                s.kernels.last.dispatch(pass, &s.last, s.rows, n_tokens);
            } else {
                s.kernels.all.dispatch(pass, &s.all, s.rows, n_tokens);
            }
        }
        self.shards.len()
    }

    /// Weight bytes one pass over the product reads.
    pub fn weight_bytes(&self) -> u64 {
        self.bytes
    }
}
