//! The GPU model for the Llama family (Llama, SmolLM2, Mistral, Qwen2): one forward pass
//! as a fixed list of kernel dispatches. The architectures differ only by config flags
//! (rope style, Q/K/V biases, tied embeddings).
//!
//! Per layer, with `x` the residual stream [n, dim]:
//! ```text
//! xb   = rmsnorm(x)
//! qkv  = xb · Wqkvᵀ (+ bqkv)                Wq, Wk, Wv stacked into one matrix at load
//! q, k = rope(q, k); cache[pos..pos+n] = k, v
//! att  = attention(q, cache)
//! x   += att · Woᵀ                          residual add fused into the product
//! xb   = rmsnorm(x)
//! gu   = xb · Wguᵀ                          Wgate, Wup stacked into one matrix
//! act  = silu(gate) · up
//! x   += act · Wdownᵀ
//! ```
//! then `logits = rmsnorm(x) · Wheadᵀ`. Norms and the activation are separate dispatches so
//! that their work is done once per token, not once per output row. Every kernel is
//! barrier-free (CPU WebGPU implementations pay microseconds per barrier). Decode (one
//! token) runs the linear kernel one token per invocation; prefill 8 tokens per invocation.
//! Activations, the KV cache and every bind group are created once, in `finish`; a call to
//! `forward` writes the small step uniform and the token ids, and records one command
//! encoder per chunk of at most `max_batch` tokens.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::formats::Tensor;
use crate::gpu::kernels::rope::Heads;
use crate::gpu::kernels::{
    Argmax, Attention, Embedding, Linear, LinearBindings, LinearSpec, LinearTokens, RmsNorm, Rope,
    SiluMul,
};
use crate::gpu::params::Step;
use crate::gpu::{GpuContext, GpuMatrix, GpuVector};
use crate::model::tensors::expected_tensors;
use crate::model::ModelConfig;
use crate::reference;

/// Most tokens run through the model in one chunk (prefill splits longer prompts).
pub const MAX_BATCH: usize = 128;

/// What `forward` reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardOutput {
    /// The logits of the last token.
    LastLogits,
    /// The logits of every token (for perplexity).
    AllLogits,
    /// Only the argmax of the last token's logits (4 bytes read back).
    Argmax,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ForwardResult {
    /// `[n_vocab]`.
    LastLogits(Vec<f32>),
    /// `[n_tokens * n_vocab]`, row-major.
    AllLogits(Vec<f32>),
    /// The id of the largest logit of the last token (ties: lowest id).
    Argmax(u32),
}

/// Where a file tensor goes in the GPU layout.
#[derive(Debug, Clone, Copy)]
enum Slot {
    TokEmbd,
    Output,
    OutputNorm,
    AttnNorm(usize),
    FfnNorm(usize),
    /// A block of rows of a stacked matrix of layer `.0`.
    Qkv(usize, usize),
    QkvBias(usize, usize),
    AttnOutput(usize),
    GateUp(usize, usize),
    Down(usize),
}

/// One layer's weights.
struct LayerWeights {
    attn_norm: GpuVector,
    /// [q_dim + 2 kv_dim, dim]: Wq, Wk, Wv stacked.
    qkv: GpuMatrix,
    /// [q_dim + 2 kv_dim] when the model has Q/K/V biases.
    qkv_bias: Option<GpuVector>,
    /// [dim, q_dim]
    wo: GpuMatrix,
    ffn_norm: GpuVector,
    /// [2 n_ff, dim]: Wgate, Wup stacked.
    gate_up: GpuMatrix,
    /// [dim, n_ff]
    down: GpuMatrix,
}

/// Collects a model's tensors onto the GPU as they stream in.
pub struct GpuModelBuilder {
    ctx: GpuContext,
    config: ModelConfig,
    max_context: usize,
    max_batch: usize,
    expected: Vec<(String, Vec<usize>)>,
    received: HashMap<String, bool>,
    tok_embd: GpuMatrix,
    output: Option<GpuMatrix>,
    output_norm: GpuVector,
    layers: Vec<LayerWeights>,
}

impl GpuModelBuilder {
    /// Allocates the weight buffers and checks that the KV cache and activations for
    /// `max_context` tokens fit the device's binding limit.
    pub fn new(ctx: &GpuContext, config: &ModelConfig, max_context: usize) -> Result<Self> {
        let c = config;
        if c.n_embd == 0 || c.n_layer == 0 || c.n_vocab == 0 || !c.head_dim.is_multiple_of(2) {
            return Err(Error::InvalidConfig(format!(
                "unusable sizes: n_embd {}, n_layer {}, n_vocab {}, head_dim {}",
                c.n_embd, c.n_layer, c.n_vocab, c.head_dim
            )));
        }
        if max_context == 0 || max_context > u32::MAX as usize / 2 {
            return Err(Error::InvalidRequest(format!(
                "context length {max_context}"
            )));
        }
        let limit = ctx.max_binding();
        let f32_bytes = |n: usize| (n as u64).saturating_mul(4);
        let logits_row = f32_bytes(c.n_vocab);
        let max_batch = (MAX_BATCH as u64).min(limit / logits_row.max(1)) as usize;
        if max_batch == 0 {
            return Err(Error::DoesNotFit(format!(
                "one row of logits ({logits_row} bytes) exceeds the {limit}-byte binding limit"
            )));
        }
        let qkv_dim = c.q_dim() + 2 * c.kv_dim();
        let needs = [
            (
                "KV cache of one layer",
                f32_bytes(max_context.saturating_mul(c.kv_dim())),
            ),
            (
                "rope table",
                f32_bytes(max_context.saturating_mul(c.head_dim)),
            ),
            ("QKV activations", f32_bytes(max_batch * qkv_dim)),
            ("FFN activations", f32_bytes(max_batch * 2 * c.n_ff)),
            ("residual stream", f32_bytes(max_batch * c.n_embd)),
        ];
        for (what, bytes) in needs {
            if bytes > limit {
                return Err(Error::DoesNotFit(format!(
                    "the {what} for a context of {max_context} takes {bytes} bytes; the device \
                     binds at most {limit}"
                )));
            }
        }
        let (dim, ff) = (c.n_embd, c.n_ff);
        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let name = |role: &str| format!("blk.{l}.{role}");
            layers.push(LayerWeights {
                attn_norm: GpuVector::new(ctx, &name("attn_norm.weight"), dim),
                qkv: GpuMatrix::new(ctx, &name("attn_qkv"), qkv_dim, dim)?,
                qkv_bias: c
                    .qkv_bias
                    .then(|| GpuVector::new(ctx, &name("attn_qkv.bias"), qkv_dim)),
                wo: GpuMatrix::new(ctx, &name("attn_output.weight"), dim, c.q_dim())?,
                ffn_norm: GpuVector::new(ctx, &name("ffn_norm.weight"), dim),
                gate_up: GpuMatrix::new(ctx, &name("ffn_gate_up"), 2 * ff, dim)?,
                down: GpuMatrix::new(ctx, &name("ffn_down.weight"), dim, ff)?,
            });
        }
        Ok(Self {
            ctx: ctx.clone(),
            config: config.clone(),
            max_context,
            max_batch,
            expected: expected_tensors(config),
            received: HashMap::new(),
            tok_embd: GpuMatrix::new(ctx, "token_embd.weight", c.n_vocab, dim)?,
            output: if c.tied_embeddings {
                None
            } else {
                Some(GpuMatrix::new(ctx, "output.weight", c.n_vocab, dim)?)
            },
            output_norm: GpuVector::new(ctx, "output_norm.weight", dim),
            layers,
        })
    }

    /// Uploads one tensor. Names the model does not use are ignored; a known name with the
    /// wrong shape is an error.
    pub fn add_tensor(&mut self, t: Tensor) -> Result<()> {
        let Some(slot) = self.slot(&t.name) else {
            return Ok(());
        };
        let Some((_, expected)) = self.expected.iter().find(|(n, _)| *n == t.name) else {
            return Ok(());
        };
        let n: usize = expected.iter().product();
        let same = t.shape == *expected
            || (expected.len() == 1 && t.shape.len() == 2 && t.shape[0] == 1 && t.shape[1] == n);
        if !same {
            return Err(Error::ShapeMismatch {
                tensor: t.name.clone(),
                expected: expected.clone(),
                found: t.shape.clone(),
            });
        }
        let ctx = &self.ctx;
        match slot {
            Slot::TokEmbd => self.tok_embd.write_tensor(ctx, 0, &t)?,
            Slot::Output => {
                if let Some(m) = &self.output {
                    m.write_tensor(ctx, 0, &t)?
                }
            }
            Slot::OutputNorm => write_vector(ctx, &self.output_norm, 0, &t)?,
            Slot::AttnNorm(l) => write_vector(ctx, &self.layer(l)?.attn_norm, 0, &t)?,
            Slot::FfnNorm(l) => write_vector(ctx, &self.layer(l)?.ffn_norm, 0, &t)?,
            Slot::Qkv(l, row) => self.layer(l)?.qkv.write_tensor(ctx, row, &t)?,
            Slot::QkvBias(l, at) => {
                if let Some(b) = &self.layer(l)?.qkv_bias {
                    write_vector(ctx, b, at, &t)?
                }
            }
            Slot::AttnOutput(l) => self.layer(l)?.wo.write_tensor(ctx, 0, &t)?,
            Slot::GateUp(l, row) => self.layer(l)?.gate_up.write_tensor(ctx, row, &t)?,
            Slot::Down(l) => self.layer(l)?.down.write_tensor(ctx, 0, &t)?,
        }
        self.received.insert(t.name, true);
        Ok(())
    }

    fn layer(&self, l: usize) -> Result<&LayerWeights> {
        self.layers
            .get(l)
            .ok_or_else(|| Error::Malformed(format!("layer {l} is out of range")))
    }

    /// Where `name` goes, if the model uses it.
    fn slot(&self, name: &str) -> Option<Slot> {
        let c = &self.config;
        let (q, kv, ff) = (c.q_dim(), c.kv_dim(), c.n_ff);
        match name {
            "token_embd.weight" => return Some(Slot::TokEmbd),
            "output.weight" => return Some(Slot::Output),
            "output_norm.weight" => return Some(Slot::OutputNorm),
            _ => {}
        }
        let rest = name.strip_prefix("blk.")?;
        let (l, role) = rest.split_once('.')?;
        let l: usize = l.parse().ok()?;
        if l >= c.n_layer {
            return None;
        }
        Some(match role {
            "attn_norm.weight" => Slot::AttnNorm(l),
            "ffn_norm.weight" => Slot::FfnNorm(l),
            "attn_q.weight" => Slot::Qkv(l, 0),
            "attn_k.weight" => Slot::Qkv(l, q),
            "attn_v.weight" => Slot::Qkv(l, q + kv),
            "attn_q.bias" => Slot::QkvBias(l, 0),
            "attn_k.bias" => Slot::QkvBias(l, q),
            "attn_v.bias" => Slot::QkvBias(l, q + kv),
            "attn_output.weight" => Slot::AttnOutput(l),
            "ffn_gate.weight" => Slot::GateUp(l, 0),
            "ffn_up.weight" => Slot::GateUp(l, ff),
            "ffn_down.weight" => Slot::Down(l),
            _ => return None,
        })
    }

    /// Checks that every tensor arrived, then creates the kernels, activations, KV cache and
    /// bind groups.
    pub async fn finish(self) -> Result<GpuModel> {
        if let Some((missing, _)) = self
            .expected
            .iter()
            .find(|(n, _)| !self.received.contains_key(n))
        {
            return Err(Error::MissingTensor(missing.clone()));
        }
        GpuModel::build(self).await
    }
}

fn write_vector(ctx: &GpuContext, v: &GpuVector, offset: usize, t: &Tensor) -> Result<()> {
    let values = crate::formats::quant::dequantize_f32(t)?;
    v.write(ctx, offset, &values)
}

/// Tokens per invocation of the prefill linear kernels.
const PREFILL_TILE: u32 = 8;

/// The kernels of one linear layer: the last token only (decode, last-token logits), and
/// every token of a chunk (prefill).
struct LinearPair {
    last: Linear,
    all: Linear,
}

impl LinearPair {
    async fn new(ctx: &GpuContext, spec: LinearSpec) -> Result<Self> {
        Ok(Self {
            last: Linear::new(ctx, spec, LinearTokens::Last).await?,
            all: Linear::new(
                ctx,
                spec,
                LinearTokens::All {
                    per_invocation: PREFILL_TILE,
                },
            )
            .await?,
        })
    }
}

/// Bind groups of one use of a linear layer, one per weight shard.
struct LinearBinds {
    shard_rows: Vec<usize>,
    last: Vec<wgpu::BindGroup>,
    all: Vec<wgpu::BindGroup>,
}

impl LinearBinds {
    fn new(
        ctx: &GpuContext,
        k: &LinearPair,
        w: &GpuMatrix,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        bias: Option<&wgpu::Buffer>,
    ) -> Result<Self> {
        let mut out = Self {
            shard_rows: Vec::new(),
            last: Vec::new(),
            all: Vec::new(),
        };
        for s in &w.shards {
            let b = LinearBindings {
                step,
                shard: &s.params,
                x,
                w: &s.buffer,
                y,
                bias,
            };
            out.shard_rows.push(s.n_rows);
            out.last.push(k.last.bind(ctx, &b)?);
            out.all.push(k.all.bind(ctx, &b)?);
        }
        Ok(out)
    }

    /// Every token of the chunk, or with `last_only` the last one (to output row 0).
    fn record(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        k: &LinearPair,
        n_tokens: usize,
        last_only: bool,
    ) {
        let (kernel, binds) = if last_only {
            (&k.last, &self.last)
        } else {
            (&k.all, &self.all)
        };
        for (g, &rows) in binds.iter().zip(&self.shard_rows) {
            kernel.dispatch(pass, g, rows, n_tokens);
        }
    }
}

struct Kernels {
    embed: Embedding,
    norm: RmsNorm,
    silu_mul: SiluMul,
    qkv: LinearPair,
    wo: LinearPair,
    gate_up: LinearPair,
    down: LinearPair,
    head: LinearPair,
    rope: Rope,
    attention: Attention,
    argmax: Argmax,
}

struct LayerBinds {
    attn_norm: wgpu::BindGroup,
    ffn_norm: wgpu::BindGroup,
    qkv: LinearBinds,
    rope: wgpu::BindGroup,
    attention: wgpu::BindGroup,
    wo: LinearBinds,
    gate_up: LinearBinds,
    silu_mul: wgpu::BindGroup,
    down: LinearBinds,
}

/// Activations and readback buffers, allocated once.
struct Buffers {
    /// Uniform `Step`.
    step: wgpu::Buffer,
    /// [max_batch] u32 token ids.
    tokens: wgpu::Buffer,
    /// [max_batch, n_vocab]
    logits: wgpu::Buffer,
    /// One u32: the argmax.
    result: wgpu::Buffer,
    logits_staging: wgpu::Buffer,
    result_staging: wgpu::Buffer,
    // Kept alive for the bind groups that reference them.
    _activations: Vec<wgpu::Buffer>,
}

/// A model on the GPU, ready to run.
pub struct GpuModel {
    ctx: GpuContext,
    config: ModelConfig,
    max_context: usize,
    max_batch: usize,
    kernels: Kernels,
    buffers: Buffers,
    embed_binds: Vec<wgpu::BindGroup>,
    layers: Vec<LayerBinds>,
    final_norm: wgpu::BindGroup,
    head: LinearBinds,
    argmax_binds: [wgpu::BindGroup; 2],
    _weights: (Vec<LayerWeights>, GpuMatrix, Option<GpuMatrix>, GpuVector),
}

impl GpuModel {
    async fn build(b: GpuModelBuilder) -> Result<Self> {
        let ctx = b.ctx.clone();
        let c = b.config.clone();
        let (dim, ff, q_dim, kv_dim) = (c.n_embd, c.n_ff, c.q_dim(), c.kv_dim());
        let qkv_dim = q_dim + 2 * kv_dim;
        let (batch, n_ctx) = (b.max_batch, b.max_context);
        let eps = c.norm_eps;
        let heads = Heads {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
        };
        let spec = |k, n_out, residual, bias| LinearSpec {
            k,
            n_out,
            residual,
            bias,
        };
        let kernels = Kernels {
            embed: Embedding::new(&ctx, dim).await?,
            norm: RmsNorm::new(&ctx, dim, eps).await?,
            silu_mul: SiluMul::new(&ctx, ff).await?,
            qkv: LinearPair::new(&ctx, spec(dim, qkv_dim, false, c.qkv_bias)).await?,
            wo: LinearPair::new(&ctx, spec(q_dim, dim, true, false)).await?,
            gate_up: LinearPair::new(&ctx, spec(dim, 2 * ff, false, false)).await?,
            down: LinearPair::new(&ctx, spec(ff, dim, true, false)).await?,
            head: LinearPair::new(&ctx, spec(dim, c.n_vocab, false, false)).await?,
            rope: Rope::new(&ctx, heads, c.rope_style).await?,
            attention: Attention::new(&ctx, heads).await?,
            argmax: Argmax::new(&ctx, c.n_vocab).await?,
        };

        let f32s = |n: usize| (n * 4) as u64;
        let step = ctx.uniform_init("step", bytemuck::bytes_of(&Step::default()));
        let tokens = ctx.storage("tokens", (batch * 4) as u64);
        let x = ctx.storage("x (residual) [batch, dim]", f32s(batch * dim));
        let xb = ctx.storage("xb (normed) [batch, dim]", f32s(batch * dim));
        let qkv = ctx.storage("qkv [batch, q+2kv]", f32s(batch * qkv_dim));
        let att = ctx.storage("att [batch, q_dim]", f32s(batch * q_dim));
        let hidden = ctx.storage("gate|up [batch, 2 ff]", f32s(batch * 2 * ff));
        let act = ctx.storage("silu(gate)·up [batch, ff]", f32s(batch * ff));
        let logits = ctx.storage("logits [batch, vocab]", f32s(batch * c.n_vocab));
        let scratch = ctx.storage("argmax scratch", kernels.argmax.scratch_bytes());
        let result = ctx.storage("argmax result", 4);
        let table: Vec<f32> = reference::rope_table(c.rope_theta, c.head_dim, n_ctx)
            .into_iter()
            .flatten()
            .collect();
        let rope_table = ctx.storage_init(
            "rope cos/sin [n_ctx, head_dim/2]",
            bytemuck::cast_slice(&table),
        );
        let logits_staging = ctx.staging("logits readback", f32s(batch * c.n_vocab));
        let result_staging = ctx.staging("argmax readback", 4);

        let (weights, tok_embd, output, output_norm) =
            (b.layers, b.tok_embd, b.output, b.output_norm);
        let head_w = output.as_ref().unwrap_or(&tok_embd);

        let k = &kernels;
        let (layers, embed_binds, final_norm, head, argmax_binds, caches) = ctx
            .checked("binding the model's buffers", || -> Result<_> {
                let mut caches = Vec::new();
                let mut layers = Vec::new();
                for (l, w) in weights.iter().enumerate() {
                    let k_cache = ctx.storage(
                        &format!("blk.{l} K cache [n_ctx, kv_dim]"),
                        f32s(n_ctx * kv_dim),
                    );
                    let v_cache = ctx.storage(
                        &format!("blk.{l} V cache [n_ctx, kv_dim]"),
                        f32s(n_ctx * kv_dim),
                    );
                    let bias = w.qkv_bias.as_ref().map(|b| &b.buffer);
                    layers.push(LayerBinds {
                        attn_norm: k.norm.bind(&ctx, &step, &x, &w.attn_norm.buffer, &xb)?,
                        ffn_norm: k.norm.bind(&ctx, &step, &x, &w.ffn_norm.buffer, &xb)?,
                        qkv: LinearBinds::new(&ctx, &k.qkv, &w.qkv, &step, &xb, &qkv, bias)?,
                        rope: k
                            .rope
                            .bind(&ctx, &step, &qkv, &rope_table, &k_cache, &v_cache)?,
                        attention: k
                            .attention
                            .bind(&ctx, &step, &qkv, &k_cache, &v_cache, &att)?,
                        wo: LinearBinds::new(&ctx, &k.wo, &w.wo, &step, &att, &x, None)?,
                        gate_up: LinearBinds::new(
                            &ctx, &k.gate_up, &w.gate_up, &step, &xb, &hidden, None,
                        )?,
                        silu_mul: k.silu_mul.bind(&ctx, &step, &hidden, &act)?,
                        down: LinearBinds::new(&ctx, &k.down, &w.down, &step, &act, &x, None)?,
                    });
                    caches.push(k_cache);
                    caches.push(v_cache);
                }
                let embed_binds = tok_embd
                    .shards
                    .iter()
                    .map(|s| k.embed.bind(&ctx, &s.params, &tokens, &s.buffer, &x))
                    .collect::<Result<Vec<_>>>()?;
                let final_norm = k.norm.bind(&ctx, &step, &x, &output_norm.buffer, &xb)?;
                let head = LinearBinds::new(&ctx, &k.head, head_w, &step, &xb, &logits, None)?;
                let argmax_binds = k.argmax.bind(&ctx, &logits, &scratch, &result)?;
                Ok((layers, embed_binds, final_norm, head, argmax_binds, caches))
            })
            .await??;

        let mut activations = vec![x, xb, qkv, att, hidden, act, scratch, rope_table];
        activations.extend(caches);
        Ok(Self {
            ctx,
            config: c,
            max_context: n_ctx,
            max_batch: batch,
            kernels,
            buffers: Buffers {
                step,
                tokens,
                logits,
                result,
                logits_staging,
                result_staging,
                _activations: activations,
            },
            embed_binds,
            layers,
            final_norm,
            head,
            argmax_binds,
            _weights: (weights, tok_embd, output, output_norm),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Tokens per internal chunk.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Forgets the cached context. Nothing to free: positions are explicit in `forward`,
    /// so the next call at position 0 overwrites the cache.
    pub fn reset(&mut self) {}

    /// Runs `tokens` at positions `pos..pos + tokens.len()`, attending to the cache entries
    /// written by earlier calls at positions `< pos`.
    pub async fn forward(
        &mut self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<ForwardResult> {
        if tokens.is_empty() {
            return Err(Error::InvalidRequest("no tokens to run".into()));
        }
        let needed = pos.saturating_add(tokens.len());
        if needed > self.max_context {
            return Err(Error::ContextOverflow {
                needed,
                limit: self.max_context,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.config.n_vocab) {
            return Err(Error::InvalidRequest(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.n_vocab
            )));
        }
        let n_vocab = self.config.n_vocab;
        let mut all = Vec::new();
        let n_chunks = tokens.len().div_ceil(self.max_batch);
        for (i, chunk) in tokens.chunks(self.max_batch).enumerate() {
            let chunk_pos = pos + i * self.max_batch;
            let last = i + 1 == n_chunks;
            let head = match out {
                ForwardOutput::AllLogits => true,
                _ => last,
            };
            self.ctx
                .checked("forward", || self.submit_chunk(chunk, chunk_pos, out, head))
                .await?;
            if out == ForwardOutput::AllLogits {
                let bytes = (chunk.len() * n_vocab * 4) as u64;
                let data = self
                    .ctx
                    .read_staging(&self.buffers.logits_staging, bytes)
                    .await?;
                all.extend(bytemuck::cast_slice::<u8, f32>(&data[..bytes as usize]));
            }
        }
        match out {
            ForwardOutput::AllLogits => Ok(ForwardResult::AllLogits(all)),
            ForwardOutput::LastLogits => {
                let bytes = (n_vocab * 4) as u64;
                let data = self
                    .ctx
                    .read_staging(&self.buffers.logits_staging, bytes)
                    .await?;
                Ok(ForwardResult::LastLogits(
                    bytemuck::cast_slice::<u8, f32>(&data[..bytes as usize]).to_vec(),
                ))
            }
            ForwardOutput::Argmax => {
                let data = self
                    .ctx
                    .read_staging(&self.buffers.result_staging, 4)
                    .await?;
                let id = data
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| Error::Gpu("argmax readback was short".into()))?;
                Ok(ForwardResult::Argmax(id))
            }
        }
    }

    /// Writes the chunk's step values and token ids, records every dispatch into one
    /// encoder, and submits it. `head`: also compute logits (and the readback copy).
    fn submit_chunk(&self, chunk: &[u32], pos: usize, out: ForwardOutput, head: bool) {
        let n = chunk.len();
        let q = self.ctx.queue();
        let step = Step {
            pos: pos as u32,
            n_tokens: n as u32,
            ..Default::default()
        };
        q.write_buffer(&self.buffers.step, 0, bytemuck::bytes_of(&step));
        q.write_buffer(&self.buffers.tokens, 0, bytemuck::cast_slice(chunk));
        let k = &self.kernels;
        let mut enc = self
            .ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("forward"),
            });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward"),
                timestamp_writes: None,
            });
            for g in &self.embed_binds {
                k.embed.dispatch(&mut pass, g, n);
            }
            let decode = n == 1;
            for l in &self.layers {
                k.norm.dispatch(&mut pass, &l.attn_norm, n);
                l.qkv.record(&mut pass, &k.qkv, n, decode);
                k.rope.dispatch(&mut pass, &l.rope, n);
                k.attention.dispatch(&mut pass, &l.attention, n);
                l.wo.record(&mut pass, &k.wo, n, decode);
                k.norm.dispatch(&mut pass, &l.ffn_norm, n);
                l.gate_up.record(&mut pass, &k.gate_up, n, decode);
                k.silu_mul.dispatch(&mut pass, &l.silu_mul, n);
                l.down.record(&mut pass, &k.down, n, decode);
            }
            if head {
                k.norm.dispatch(&mut pass, &self.final_norm, n);
                // Every token's logits for AllLogits; otherwise the last token's, in row 0.
                let last_only = out != ForwardOutput::AllLogits;
                self.head.record(&mut pass, &k.head, n, last_only);
                if out == ForwardOutput::Argmax {
                    k.argmax.dispatch(&mut pass, &self.argmax_binds);
                }
            }
        }
        if head {
            let b = &self.buffers;
            match out {
                ForwardOutput::Argmax => {
                    enc.copy_buffer_to_buffer(&b.result, 0, &b.result_staging, 0, 4)
                }
                ForwardOutput::LastLogits => {
                    let bytes = (self.config.n_vocab * 4) as u64;
                    enc.copy_buffer_to_buffer(&b.logits, 0, &b.logits_staging, 0, bytes)
                }
                ForwardOutput::AllLogits => {
                    let bytes = (n * self.config.n_vocab * 4) as u64;
                    enc.copy_buffer_to_buffer(&b.logits, 0, &b.logits_staging, 0, bytes)
                }
            }
        }
        q.submit([enc.finish()]);
    }
}
