//! The GPU model of every family (Llama, SmolLM2, Mistral, Qwen2/3, Gemma 3, Phi-3, GPT-2):
//! one forward pass as a fixed list of kernel dispatches. The architectures differ only by
//! config flags (rope style, biases, head norms, post-norms, LayerNorm, learned positions,
//! an ungated FFN, tied embeddings).
//!
//! Per layer, with `x` the residual stream [n, dim]:
//! ```text
//! xb   = rmsnorm(x)
//! q, cache[pos..pos+n] = rope(xb · Wqkvᵀ (+ bqkv))   Wq, Wk, Wv stacked; rope, bias and
//!                                                    the KV store in the epilogue
//! att  = attention(q, cache)
//! x   += att · Woᵀ                                   residual add in the epilogue
//! xb   = rmsnorm(x)
//! act  = silu(xb · Wgateᵀ) · (xb · Wupᵀ)             gate and up paired, SwiGLU in the
//!                                                    epilogue
//! x   += act · Wdownᵀ
//! ```
//! then `logits = rmsnorm(x) · Wheadᵀ`. Decoding one token on a GPU, the products after an
//! RMSNorm norm their input themselves (each workgroup reads the whole row anyway:
//! `InputNorm`), so a layer is five dispatches; on CPU adapters, and for a prompt chunk, the
//! norms run as dispatches of their own (their work once per token, not once per few rows
//! or per 8-token tile) and a layer takes seven. Where a product
//! cannot be paired (`intake`), rope and silu·mul run as kernels of their own; so does rope
//! where query and key heads are normalized first (Qwen3). Every kernel is barrier-free on
//! CPU adapters (they pay microseconds per barrier); on GPUs the one-token products split K
//! over a workgroup (`KernelShape`). Prefill runs 8 tokens per invocation.
//! Weights keep their file's quantization (`gpu::formats`); `intake` decides where each
//! tensor goes, `linear` holds the products' pipelines and bind groups.
//! Activations, the KV cache and every bind group are created once, in `finish`; a call to
//! `forward` writes the small step uniform and the token ids, and records one command
//! encoder per chunk of at most `max_batch` tokens; greedy decoding queues the next step
//! before reading back the current one (`ahead`).

mod ahead;
mod intake;
mod linear;

use crate::error::{Error, Result};
use crate::gpu::kernels::rope::{Heads, RopeBindings};
use crate::gpu::kernels::{
    Argmax, Attention, AttentionBinds, Embedding, Epilogue, InputNorm, LinearOut, LinearSpec,
    NormKind, RmsNorm, Rope, SiluMul,
};
use crate::gpu::params::Step;
use crate::gpu::{GpuContext, KernelShape, RowLayout};
use crate::model::arch::FfnActivation;
use crate::model::forward::{check_context, check_request};
use crate::model::{ModelConfig, RopeStyle};

use ahead::{Ahead, Feed};
pub use intake::GpuModelBuilder;
use intake::{LayerBiases, LayerWeights, Weight};
use linear::{LinearBinds, LinearPipelines, ProductInput};

/// Most tokens run through the model in one chunk (prefill splits longer prompts).
pub const MAX_BATCH: usize = 128;

pub use crate::model::forward::{ForwardOutput, ForwardResult};

/// Checks that the KV cache and activations for `max_context` tokens fit the device's
/// binding limit; returns the tokens per chunk.
fn check_fits(ctx: &GpuContext, c: &ModelConfig, max_context: usize) -> Result<usize> {
    if c.n_embd == 0 || c.n_layer == 0 || c.n_vocab == 0 || !c.head_dim.is_multiple_of(2) {
        return Err(Error::InvalidConfig(format!(
            "unusable sizes: n_embd {}, n_layer {}, n_vocab {}, head_dim {}",
            c.n_embd, c.n_layer, c.n_vocab, c.head_dim
        )));
    }
    check_context(max_context)?;
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
    Ok(max_batch)
}

/// What one decode step costs, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeCost {
    /// Compute dispatches recorded for one token (through the argmax).
    pub dispatches: usize,
    /// Weight bytes the products read for one token.
    pub weight_bytes_read: u64,
    /// Bytes all weights take on the GPU.
    pub weight_bytes_stored: u64,
    /// Distinct compute pipelines the model compiled.
    pub pipelines: usize,
}

struct Kernels {
    embed: Embedding,
    /// The learned position embedding added to x (GPT-2).
    embed_positions: Option<Embedding>,
    norm: RmsNorm,
    /// The norm of a block's output added into the residual stream (Gemma 3).
    post_norm: Option<RmsNorm>,
    linear: LinearPipelines,
    /// Only where some product is not paired (`intake`).
    silu_mul: Option<SiluMul>,
    rope: Option<Rope>,
    attention: Attention,
    /// The sliding-window layers' attention.
    local_attention: Option<Attention>,
    argmax: Argmax,
}

impl Kernels {
    /// The attention of a global or a local (sliding-window) layer.
    fn layer_attention(&self, local: bool) -> &Attention {
        match (local, &self.local_attention) {
            (true, Some(kernel)) => kernel,
            _ => &self.attention,
        }
    }

    /// Compute pipelines compiled: the linear ones, one each for embed and norm, two for
    /// each attention (its two paths), the optional ones where needed, and the argmax's
    /// two passes.
    fn pipelines(&self) -> usize {
        let optional = [
            self.silu_mul.is_some(),
            self.rope.is_some(),
            self.post_norm.is_some(),
        ];
        let attentions = 1 + usize::from(self.local_attention.is_some());
        self.linear.len() + 2 + 2 * attentions + optional.into_iter().filter(|&o| o).count() + 2
    }
}

struct LayerBinds {
    attn_norm: wgpu::BindGroup,
    ffn_norm: wgpu::BindGroup,
    qkv: LinearBinds,
    /// The rope kernel, where the Q|K|V product is not paired.
    rope: Option<wgpu::BindGroup>,
    attention: AttentionBinds,
    /// The layer attends to a sliding window (`Kernels::local_attention`).
    local: bool,
    wo: LinearBinds,
    /// x += rmsnorm(attention output), where the model norms it (Gemma 3).
    attn_post_norm: Option<wgpu::BindGroup>,
    gate_up: LinearBinds,
    /// The silu·mul kernel, where the gate|up product is not paired.
    silu_mul: Option<wgpu::BindGroup>,
    down: LinearBinds,
    /// x += rmsnorm(FFN output), where the model norms it.
    ffn_post_norm: Option<wgpu::BindGroup>,
}

/// Activations and readback buffers, allocated once.
struct Buffers {
    /// Uniform `Step`.
    step: wgpu::Buffer,
    /// [max_batch] u32 token ids.
    tokens: wgpu::Buffer,
    /// [max_batch] u32 positions, for a learned position embedding.
    positions: Option<wgpu::Buffer>,
    /// [max_batch, n_vocab]
    logits: wgpu::Buffer,
    /// One u32: the argmax.
    result: wgpu::Buffer,
    logits_staging: wgpu::Buffer,
    /// Two argmax readbacks: a step's and the one queued ahead of it.
    result_staging: [wgpu::Buffer; 2],
    // Kept alive for the bind groups that reference them.
    _activations: Vec<wgpu::Buffer>,
}

/// The weights, kept alive for the bind groups that reference them.
struct Weights {
    _layers: Vec<LayerWeights>,
    _tok_embd: Weight,
    _pos_embd: Option<Weight>,
    _output: Option<Weight>,
    _output_norm: crate::gpu::GpuVector,
    _output_norm_bias: Option<crate::gpu::GpuVector>,
    stored_bytes: u64,
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
    /// Per shard of the position embedding (GPT-2).
    position_binds: Vec<wgpu::BindGroup>,
    layers: Vec<LayerBinds>,
    final_norm: wgpu::BindGroup,
    head: LinearBinds,
    argmax_binds: [wgpu::BindGroup; 2],
    weights: Weights,
    /// The greedy step queued ahead by the last `ArgmaxAhead` call.
    ahead: Option<Ahead>,
    /// How many calls took the step queued ahead for them.
    taken_ahead: u64,
}

/// The linear products of a layer, by their fixed shapes and fusions.
struct Specs {
    wo: LinearSpec,
    down: LinearSpec,
    head: LinearSpec,
    /// The norm the one-token kernels of the products after a norm apply themselves.
    input_norm: Option<InputNorm>,
    config: ModelConfig,
}

impl Specs {
    fn new(c: &ModelConfig, shape: KernelShape) -> Self {
        let rows = |k, n_out, residual, bias, norm| LinearSpec {
            k,
            n_out,
            epilogue: Epilogue::Rows {
                residual,
                bias,
                gelu: false,
            },
            norm,
        };
        let (dim, ff, q_dim) = (c.n_embd, c.n_ff, c.q_dim());
        // Outputs normed before their residual add are written out for the norm kernel.
        let residual = !c.post_norms;
        // RMSNorm in the prologue on GPUs, where it saves a dispatch (a launch and a
        // barrier) for a few loads a workgroup. On CPU adapters every invocation would read
        // and square the whole input row and the norm weight again for its few rows, which
        // costs more than the dispatch (SmolLM2 decodes 15 % slower fused on SwiftShader);
        // LayerNorm keeps its dispatch everywhere.
        let input_norm =
            (!c.layer_norm && shape == KernelShape::SplitK).then(|| InputNorm::rms(c.norm_eps));
        Self {
            wo: rows(q_dim, dim, residual, c.output_biases, None),
            down: rows(ff, dim, residual, c.output_biases, None),
            head: rows(dim, c.n_vocab, false, false, input_norm),
            input_norm,
            config: c.clone(),
        }
    }

    /// Q|K|V: rope and the KV store in the epilogue when paired.
    fn qkv(&self, layout: RowLayout) -> LinearSpec {
        let c = &self.config;
        let (dim, bias) = (c.n_embd, c.qkv_bias);
        let n_out = c.q_dim() + 2 * c.kv_dim();
        let norm = self.input_norm;
        match layout {
            RowLayout::Rows => LinearSpec {
                k: dim,
                n_out,
                epilogue: Epilogue::Rows {
                    residual: false,
                    bias,
                    gelu: false,
                },
                norm,
            },
            RowLayout::Pairs => LinearSpec {
                k: dim,
                n_out: n_out / 2,
                epilogue: Epilogue::RopeKv {
                    heads: heads(c),
                    pairwise: c.rope_style == RopeStyle::Pairwise,
                    bias,
                },
                norm,
            },
        }
    }

    /// Gate|up: SwiGLU in the epilogue when paired; an ungated FFN's up product with its
    /// bias and activation in the epilogue.
    fn gate_up(&self, layout: RowLayout) -> LinearSpec {
        let c = &self.config;
        let (dim, ff) = (c.n_embd, c.n_ff);
        let gelu = c.ffn_activation == FfnActivation::GeluTanh;
        let norm = self.input_norm;
        if !c.ffn_gated {
            return LinearSpec {
                k: dim,
                n_out: ff,
                epilogue: Epilogue::Rows {
                    residual: false,
                    bias: c.output_biases,
                    gelu,
                },
                norm,
            };
        }
        match layout {
            RowLayout::Rows => LinearSpec {
                k: dim,
                n_out: 2 * ff,
                epilogue: Epilogue::Rows {
                    residual: false,
                    bias: false,
                    gelu: false,
                },
                norm,
            },
            RowLayout::Pairs => LinearSpec {
                k: dim,
                n_out: ff,
                epilogue: Epilogue::Glu { gelu },
                norm,
            },
        }
    }
}

fn heads(c: &ModelConfig) -> Heads {
    Heads {
        n_head: c.n_head,
        n_head_kv: c.n_head_kv,
        head_dim: c.head_dim,
    }
}

impl GpuModel {
    async fn build(b: GpuModelBuilder) -> Result<Self> {
        let ctx = b.ctx.clone();
        let stored_bytes = b.weight_bytes();
        let c = b.config.clone();
        let (dim, ff, q_dim, kv_dim) = (c.n_embd, c.n_ff, c.q_dim(), c.kv_dim());
        let qkv_dim = q_dim + 2 * kv_dim;
        let (batch, n_ctx) = (b.max_batch, b.max_context);
        let eps = c.norm_eps;
        let heads = heads(&c);
        let specs = Specs::new(&c, ctx.kernel_shape());
        let (weights, tok_embd, output, output_norm) =
            (b.layers, b.tok_embd, b.output, b.output_norm);
        let (pos_embd, output_norm_bias) = (b.pos_embd, b.output_norm_bias);
        let pos_part = match &pos_embd {
            Some(w) => Some(
                w.parts
                    .first()
                    .ok_or_else(|| Error::MissingTensor("position_embd.weight".into()))?,
            ),
            None => None,
        };
        let head_w = output.as_ref().unwrap_or(&tok_embd);
        let embd = tok_embd
            .parts
            .first()
            .ok_or_else(|| Error::MissingTensor("token_embd.weight".into()))?;

        // Only the head computes a chunk's last token alone (the last-token logits).
        let mut linear = LinearPipelines::default();
        linear.prepare(&ctx, specs.head, head_w, true).await?;
        for w in &weights {
            linear
                .prepare(&ctx, specs.qkv(w.qkv.layout), &w.qkv, false)
                .await?;
            linear.prepare(&ctx, specs.wo, &w.wo, false).await?;
            linear
                .prepare(&ctx, specs.gate_up(w.gate_up.layout), &w.gate_up, false)
                .await?;
            linear.prepare(&ctx, specs.down, &w.down, false).await?;
        }
        // Products that are not paired write their rows for a rope or silu·mul kernel.
        let unpaired = |w: fn(&LayerWeights) -> &Weight| {
            weights.iter().any(|l| w(l).layout == RowLayout::Rows)
        };
        let unpaired_qkv = unpaired(|l| &l.qkv);
        // An ungated FFN's up product finishes in its own epilogue.
        let unpaired_gate_up = c.ffn_gated && unpaired(|l| &l.gate_up);
        let embed_scale = c.embedding_multiplier();
        let gelu = c.ffn_activation == FfnActivation::GeluTanh;
        let any_local = (0..c.n_layer).any(|l| c.layer_window(l).is_some());
        let norm_kind = match c.layer_norm {
            true => NormKind::Layer,
            false => NormKind::Rms,
        };
        let kernels = Kernels {
            embed: Embedding::new(&ctx, dim, embd.format, embed_scale, false).await?,
            embed_positions: match pos_part {
                Some(p) => Some(Embedding::new(&ctx, dim, p.format, 1.0, true).await?),
                None => None,
            },
            norm: RmsNorm::new(&ctx, dim, eps, norm_kind).await?,
            post_norm: match c.post_norms {
                true => Some(RmsNorm::new(&ctx, dim, eps, NormKind::RmsAdd).await?),
                false => None,
            },
            linear,
            silu_mul: match unpaired_gate_up {
                true => Some(SiluMul::new(&ctx, ff, gelu).await?),
                false => None,
            },
            rope: match unpaired_qkv {
                true => {
                    let qk_norm_eps = c.qk_norm.then_some(eps);
                    Some(Rope::new(&ctx, heads, c.rope_style, qk_norm_eps).await?)
                }
                false => None,
            },
            attention: Attention::new(&ctx, heads, None).await?,
            local_attention: match any_local {
                true => Some(Attention::new(&ctx, heads, Some(c.sliding_window)).await?),
                false => None,
            },
            argmax: Argmax::new(&ctx, c.n_vocab).await?,
        };

        let f32s = |n: usize| (n * 4) as u64;
        let step = ctx.uniform_init("step", bytemuck::bytes_of(&Step::default()));
        let tokens = ctx.storage("tokens", (batch * 4) as u64);
        let positions = pos_part.map(|_| ctx.storage("positions", (batch * 4) as u64));
        let x = ctx.storage("x (residual) [batch, dim]", f32s(batch * dim));
        let xb = ctx.storage("xb (normed) [batch, dim]", f32s(batch * dim));
        let q = ctx.storage("q (rotated) [batch, q_dim]", f32s(batch * q_dim));
        let att = ctx.storage("att [batch, q_dim]", f32s(batch * q_dim));
        let act = ctx.storage("silu(gate)·up [batch, ff]", f32s(batch * ff));
        let qkv = unpaired_qkv.then(|| ctx.storage("qkv [batch, q+2kv]", f32s(batch * qkv_dim)));
        let hidden =
            unpaired_gate_up.then(|| ctx.storage("gate|up [batch, 2 ff]", f32s(batch * 2 * ff)));
        let logits = ctx.storage("logits [batch, vocab]", f32s(batch * c.n_vocab));
        let scratch = ctx.storage("argmax scratch", kernels.argmax.scratch_bytes());
        let result = ctx.storage("argmax result", 4);
        // The global layers' rope table, and the local layers' (Gemma 3's have their own
        // base) where there are any.
        let rope_table = |local: bool| -> Result<wgpu::Buffer> {
            let freqs = c.rope(local, b.rope_freqs.as_deref())?;
            let table: Vec<f32> = freqs.table(n_ctx).into_iter().flatten().collect();
            let which = if local { "local" } else { "global" };
            let label = format!("rope cos/sin [n_ctx, head_dim/2], {which} layers");
            Ok(ctx.storage_init(&label, bytemuck::cast_slice(&table)))
        };
        let mut rope_tables = vec![rope_table(false)?];
        if any_local {
            rope_tables.push(rope_table(true)?);
        }
        let proj = c
            .post_norms
            .then(|| ctx.storage("block output [batch, dim]", f32s(batch * dim)));
        let logits_staging = ctx.staging("logits readback", f32s(batch * c.n_vocab));
        let result_staging = [0, 1].map(|_| ctx.staging("argmax readback", 4));

        let k = &kernels;
        let rows = |y, bias| LinearOut::Rows { y, bias };
        let (layers, embed_binds, final_norm, head, argmax_binds, caches) = ctx
            .checked("binding the model's buffers", || -> Result<_> {
                let lin = |spec, w: &Weight, input: ProductInput, out: LinearOut| {
                    LinearBinds::new(&ctx, &k.linear, spec, w, &step, input, out)
                };
                let normed = |weight| ProductInput::Normed {
                    normed: &xb,
                    residual: &x,
                    weight,
                };
                let missing =
                    || Error::Gpu("an unpaired product has no kernel to finish it".into());
                let mut caches = Vec::new();
                let mut layers = Vec::new();
                for (l, w) in weights.iter().enumerate() {
                    let local = c.layer_window(l).is_some();
                    let rope_table = &rope_tables[usize::from(local).min(rope_tables.len() - 1)];
                    let k_cache = ctx.storage(
                        &format!("blk.{l} K cache [n_ctx, kv_dim]"),
                        f32s(n_ctx * kv_dim),
                    );
                    let v_cache = ctx.storage(
                        &format!("blk.{l} V cache [n_ctx, kv_dim]"),
                        f32s(n_ctx * kv_dim),
                    );
                    let bias = w.qkv_bias.as_ref().map(|b| &b.buffer);
                    let (qkv_out, rope) = match (w.qkv.layout, &qkv, &k.rope) {
                        (RowLayout::Pairs, ..) => (
                            LinearOut::RopeKv {
                                q: &q,
                                bias,
                                cos_sin: rope_table,
                                k_cache: &k_cache,
                                v_cache: &v_cache,
                            },
                            None,
                        ),
                        (RowLayout::Rows, Some(qkv), Some(rope)) => (
                            rows(qkv, bias),
                            Some(rope.bind(
                                &ctx,
                                &RopeBindings {
                                    step: &step,
                                    qkv,
                                    cos_sin: rope_table,
                                    k_cache: &k_cache,
                                    v_cache: &v_cache,
                                    q: &q,
                                    qk_norm: w.qk_norm.as_ref().map(|n| &n.buffer),
                                },
                            )?),
                        ),
                        (RowLayout::Rows, ..) => return Err(missing()),
                    };
                    let biases = w.biases.as_ref();
                    let bias_of = |pick: fn(&LayerBiases) -> &crate::gpu::GpuVector| {
                        biases.map(|b| &pick(b).buffer)
                    };
                    let (gate_up_out, silu_mul) = match (w.gate_up.layout, &hidden, &k.silu_mul) {
                        _ if !c.ffn_gated => (rows(&act, bias_of(|b| &b.ffn_up)), None),
                        (RowLayout::Pairs, ..) => (LinearOut::Glu { act: &act }, None),
                        (RowLayout::Rows, Some(hidden), Some(silu_mul)) => (
                            rows(hidden, None),
                            Some(silu_mul.bind(&ctx, &step, hidden, &act)?),
                        ),
                        (RowLayout::Rows, ..) => return Err(missing()),
                    };
                    // Where a block's output is normed, its product writes `proj` and the
                    // norm adds it into x.
                    let block_out = proj.as_ref().unwrap_or(&x);
                    let post_norm = |v: &Option<crate::gpu::GpuVector>| -> Result<_> {
                        match (&k.post_norm, &proj, v) {
                            (Some(kernel), Some(proj), Some(v)) => {
                                Ok(Some(kernel.bind(&ctx, &step, proj, &v.buffer, None, &x)?))
                            }
                            (None, None, None) => Ok(None),
                            _ => Err(Error::Gpu("a post-norm lacks its kernel or weight".into())),
                        }
                    };
                    layers.push(LayerBinds {
                        attn_norm: k.norm.bind(
                            &ctx,
                            &step,
                            &x,
                            &w.attn_norm.buffer,
                            bias_of(|b| &b.attn_norm),
                            &xb,
                        )?,
                        local: c.layer_window(l).is_some(),
                        attn_post_norm: post_norm(&w.attn_post_norm)?,
                        ffn_post_norm: post_norm(&w.ffn_post_norm)?,
                        ffn_norm: k.norm.bind(
                            &ctx,
                            &step,
                            &x,
                            &w.ffn_norm.buffer,
                            bias_of(|b| &b.ffn_norm),
                            &xb,
                        )?,
                        qkv: lin(
                            specs.qkv(w.qkv.layout),
                            &w.qkv,
                            normed(&w.attn_norm.buffer),
                            qkv_out,
                        )?,
                        rope,
                        attention: k
                            .layer_attention(c.layer_window(l).is_some())
                            .bind(&ctx, &step, &q, &k_cache, &v_cache, &att)?,
                        wo: lin(
                            specs.wo,
                            &w.wo,
                            ProductInput::Plain(&att),
                            rows(block_out, bias_of(|b| &b.attn_output)),
                        )?,
                        gate_up: lin(
                            specs.gate_up(w.gate_up.layout),
                            &w.gate_up,
                            normed(&w.ffn_norm.buffer),
                            gate_up_out,
                        )?,
                        silu_mul,
                        down: lin(
                            specs.down,
                            &w.down,
                            ProductInput::Plain(&act),
                            rows(block_out, bias_of(|b| &b.ffn_down)),
                        )?,
                    });
                    caches.push(k_cache);
                    caches.push(v_cache);
                }
                let embed_binds = embd
                    .shards
                    .iter()
                    .map(|s| k.embed.bind(&ctx, &s.params, &tokens, &s.buffer, &x))
                    .collect::<Result<Vec<_>>>()?;
                let position_binds = match (pos_part, &positions, &k.embed_positions) {
                    (Some(p), Some(positions), Some(kernel)) => p
                        .shards
                        .iter()
                        .map(|s| kernel.bind(&ctx, &s.params, positions, &s.buffer, &x))
                        .collect::<Result<Vec<_>>>()?,
                    _ => Vec::new(),
                };
                let final_norm = k.norm.bind(
                    &ctx,
                    &step,
                    &x,
                    &output_norm.buffer,
                    output_norm_bias.as_ref().map(|b| &b.buffer),
                    &xb,
                )?;
                let head = lin(
                    specs.head,
                    head_w,
                    normed(&output_norm.buffer),
                    rows(&logits, None),
                )?;
                let argmax_binds = k.argmax.bind(&ctx, &logits, &scratch, &result)?;
                Ok((
                    layers,
                    (embed_binds, position_binds),
                    final_norm,
                    head,
                    argmax_binds,
                    caches,
                ))
            })
            .await??;
        let (embed_binds, position_binds) = embed_binds;

        let mut activations = vec![x, xb, q, att, act, scratch];
        activations.extend(rope_tables);
        activations.extend(proj);
        activations.extend(qkv);
        activations.extend(hidden);
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
                positions,
                logits,
                result,
                logits_staging,
                result_staging,
                _activations: activations,
            },
            embed_binds,
            position_binds,
            layers,
            final_norm,
            head,
            argmax_binds,
            weights: Weights {
                _layers: weights,
                _tok_embd: tok_embd,
                _pos_embd: pos_embd,
                _output: output,
                _output_norm: output_norm,
                _output_norm_bias: output_norm_bias,
                stored_bytes,
            },
            ahead: None,
            taken_ahead: 0,
        })
    }

    /// Dispatches of one decode step, counted by recording one (never submitted).
    fn count_dispatches(&self) -> usize {
        let mut enc = self.encoder("dispatch count");
        // Either attention path is one dispatch.
        self.record_pass(
            &mut enc,
            "dispatch count",
            1,
            1,
            ForwardOutput::Argmax,
            true,
        )
    }

    /// What one decode step reads and dispatches.
    pub fn decode_cost(&self) -> DecodeCost {
        let per_layer: u64 = self
            .layers
            .iter()
            .map(|l| {
                l.qkv.weight_bytes()
                    + l.wo.weight_bytes()
                    + l.gate_up.weight_bytes()
                    + l.down.weight_bytes()
            })
            .sum();
        DecodeCost {
            dispatches: self.count_dispatches(),
            weight_bytes_read: per_layer + self.head.weight_bytes(),
            weight_bytes_stored: self.weights.stored_bytes,
            pipelines: self.kernels.pipelines(),
        }
    }

    /// How many forward calls found their step already queued ahead (`ArgmaxAhead`).
    pub fn steps_taken_ahead(&self) -> u64 {
        self.taken_ahead
    }

    /// The device the model lives on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
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

    /// Runs `tokens` at positions `pos..pos + tokens.len()`, attending to the cache entries
    /// written by earlier calls at positions `< pos`.
    pub async fn forward(
        &mut self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<ForwardResult> {
        check_request(tokens, pos, self.max_context, self.config.n_vocab)?;
        // The step queued ahead is this call when it was fed this very token here.
        let ahead = self
            .ahead
            .take()
            .filter(|a| out.is_argmax() && a.runs(tokens, pos));
        let (slot, all, submission) = match ahead {
            Some(a) => {
                self.taken_ahead += 1;
                (a.slot, Vec::new(), a.submission)
            }
            None => {
                let (all, submission) = self.run_chunks(tokens, pos, out).await?;
                (0, all, submission)
            }
        };
        match out {
            ForwardOutput::AllLogits => Ok(ForwardResult::AllLogits(all)),
            ForwardOutput::LastLogits => {
                let bytes = (self.config.n_vocab * 4) as u64;
                let data = self
                    .ctx
                    .read_staging(&self.buffers.logits_staging, bytes, submission)
                    .await?;
                Ok(ForwardResult::LastLogits(
                    bytemuck::cast_slice::<u8, f32>(&data[..bytes as usize]).to_vec(),
                ))
            }
            ForwardOutput::Argmax | ForwardOutput::ArgmaxAhead => {
                let next = pos + tokens.len();
                if out == ForwardOutput::ArgmaxAhead && next < self.max_context {
                    let ahead_slot = Ahead::other_slot(slot);
                    let submitted = self
                        .ctx
                        .checked("forward", || {
                            let step = Step::new(next, 1);
                            self.submit_step(
                                Feed::LastArgmax,
                                step,
                                ForwardOutput::Argmax,
                                true,
                                ahead_slot,
                            )
                        })
                        .await?;
                    self.ahead = Some(Ahead::queued(next, ahead_slot, submitted));
                }
                let id = self.read_argmax(slot, submission).await;
                match (&id, self.ahead.as_mut()) {
                    (Ok(id), Some(a)) => a.fed = Some(*id),
                    _ => self.ahead = None,
                }
                Ok(ForwardResult::Argmax(id?))
            }
        }
    }

    /// Submits `tokens` in chunks of at most `max_batch`, with the head on the last one (on
    /// every one for AllLogits, whose logits are read after each and returned); an argmax
    /// goes to readback slot 0. Returns those logits and the last submission.
    async fn run_chunks(
        &self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<(Vec<f32>, wgpu::SubmissionIndex)> {
        let n_vocab = self.config.n_vocab;
        let mut all = Vec::new();
        let mut submission = None;
        let n_chunks = tokens.len().div_ceil(self.max_batch);
        for (i, chunk) in tokens.chunks(self.max_batch).enumerate() {
            let step = Step::new(pos + i * self.max_batch, chunk.len());
            let head = out == ForwardOutput::AllLogits || i + 1 == n_chunks;
            let submitted = self
                .ctx
                .checked("forward", || {
                    self.submit_step(Feed::Ids(chunk), step, out, head, 0)
                })
                .await?;
            if out == ForwardOutput::AllLogits {
                let bytes = (chunk.len() * n_vocab * 4) as u64;
                let data = self
                    .ctx
                    .read_staging(&self.buffers.logits_staging, bytes, submitted.clone())
                    .await?;
                all.extend(bytemuck::cast_slice::<u8, f32>(&data[..bytes as usize]));
            }
            submission = Some(submitted);
        }
        // check_request refused an empty `tokens`.
        let submission =
            submission.ok_or_else(|| Error::InvalidRequest("no tokens to run".into()))?;
        Ok((all, submission))
    }

    /// Reads the argmax copied to readback `slot` by `submission`.
    async fn read_argmax(&self, slot: usize, submission: wgpu::SubmissionIndex) -> Result<u32> {
        let data = self
            .ctx
            .read_staging(&self.buffers.result_staging[slot], 4, submission)
            .await?;
        data.get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| Error::Gpu("argmax readback was short".into()))
    }

    fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Records the dispatches of a chunk of `n` tokens whose last one attends to `n_keys`
    /// cache rows into one compute pass of `enc`; `head`: also the logits. Returns the
    /// number of dispatches.
    fn record_pass(
        &self,
        enc: &mut wgpu::CommandEncoder,
        label: &str,
        n: usize,
        n_keys: usize,
        out: ForwardOutput,
        head: bool,
    ) -> usize {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        });
        let pass = &mut pass;
        let k = &self.kernels;
        for g in &self.embed_binds {
            k.embed.dispatch(pass, g, n);
        }
        if let Some(kernel) = &k.embed_positions {
            for g in &self.position_binds {
                kernel.dispatch(pass, g, n);
            }
        }
        let mut count = self.embed_binds.len() + self.position_binds.len();
        let decode = n == 1;
        // A norm runs as a dispatch of its own only where the product after it does not
        // norm its input itself (prefill, LayerNorm).
        let norm = |pass: &mut wgpu::ComputePass<'_>, bind, product: &LinearBinds, last| {
            if product.reads_normed(n, last) {
                k.norm.dispatch(pass, bind, n);
                1
            } else {
                0
            }
        };
        for l in &self.layers {
            count += norm(pass, &l.attn_norm, &l.qkv, decode);
            count += l.qkv.record(pass, n, decode);
            if let (Some(bind), Some(rope)) = (&l.rope, &k.rope) {
                rope.dispatch(pass, bind, n);
                count += 1;
            }
            k.layer_attention(l.local)
                .dispatch(pass, &l.attention, n, n_keys);
            count += 1 + l.wo.record(pass, n, decode);
            if let (Some(bind), Some(post_norm)) = (&l.attn_post_norm, &k.post_norm) {
                post_norm.dispatch(pass, bind, n);
                count += 1;
            }
            count += norm(pass, &l.ffn_norm, &l.gate_up, decode);
            count += l.gate_up.record(pass, n, decode);
            if let (Some(bind), Some(silu_mul)) = (&l.silu_mul, &k.silu_mul) {
                silu_mul.dispatch(pass, bind, n);
                count += 1;
            }
            count += l.down.record(pass, n, decode);
            if let (Some(bind), Some(post_norm)) = (&l.ffn_post_norm, &k.post_norm) {
                post_norm.dispatch(pass, bind, n);
                count += 1;
            }
        }
        if head {
            // Every token's logits for AllLogits; otherwise the last token's, in row 0.
            let last_only = out != ForwardOutput::AllLogits;
            count += norm(pass, &self.final_norm, &self.head, last_only);
            count += self.head.record(pass, n, last_only);
            if out.is_argmax() {
                k.argmax.dispatch(pass, &self.argmax_binds);
                count += self.argmax_binds.len();
            }
        }
        count
    }

    /// Writes a step's values and token ids (or copies them from the last argmax on the
    /// device), records every dispatch into one encoder, and submits it. `head`: also
    /// compute logits (and the readback copy; an argmax to readback `slot`).
    fn submit_step(
        &self,
        feed: Feed<'_>,
        step: Step,
        out: ForwardOutput,
        head: bool,
        slot: usize,
    ) -> wgpu::SubmissionIndex {
        let n = step.n_tokens as usize;
        let q = self.ctx.queue();
        let b = &self.buffers;
        q.write_buffer(&b.step, 0, bytemuck::bytes_of(&step));
        let mut enc = self.encoder("forward");
        match feed {
            Feed::Ids(ids) => q.write_buffer(&b.tokens, 0, bytemuck::cast_slice(ids)),
            Feed::LastArgmax => enc.copy_buffer_to_buffer(&b.result, 0, &b.tokens, 0, 4),
        }
        if let Some(positions) = &b.positions {
            let at: Vec<u32> = (step.pos..step.pos + step.n_tokens).collect();
            q.write_buffer(positions, 0, bytemuck::cast_slice(&at));
        }
        let n_keys = (step.pos + step.n_tokens) as usize;
        self.record_pass(&mut enc, "forward", n, n_keys, out, head);
        if head {
            match out {
                ForwardOutput::Argmax | ForwardOutput::ArgmaxAhead => {
                    enc.copy_buffer_to_buffer(&b.result, 0, &b.result_staging[slot], 0, 4)
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
        q.submit([enc.finish()])
    }
}
