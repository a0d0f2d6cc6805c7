//! Weights intake: where each file tensor of a Llama-family model goes on the GPU, decided
//! from the header (names, shapes, types) before any tensor bytes arrive.
//!
//! Stacked products (Q, K, V; gate, up) run as one product. Parts of one format share one
//! matrix (one dispatch) where each part starts on a tile; a part of another format (Q4_K_M
//! files mix Q4_K, Q5_0, Q6_K and Q8_0 within a layer) gets a matrix of its own.
//! Where the shapes allow, the products are *paired* (`RowLayout::Pairs`), so that their
//! epilogue finishes the work the next pass would do: Q|K|V pairs the rows rope rotates
//! together (head_dim a multiple of 32), gate|up pairs gate row i with up row i (gate and
//! up of one format). Otherwise they are plain stacked rows, and the model runs the
//! separate rope and silu·mul kernels.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::formats::{DType, Tensor, TensorInfo};
use crate::gpu::{GpuContext, GpuFormat, GpuMatrix, GpuVector, RowLayout, RowMap};
use crate::model::tensors::{check_tensor_shape, expected_tensors};
use crate::model::{ModelConfig, RopeStyle};

/// The weight of one product: its parts' matrices, in output order.
pub(super) struct Weight {
    pub parts: Vec<GpuMatrix>,
    pub layout: RowLayout,
}

/// How the rows of one part of a stacked product map to its matrix.
#[derive(Debug, Clone, Copy)]
enum PartRows {
    /// One output row per tensor row.
    Rows,
    /// Heads whose rows rope rotates together are pairs (`RowMap::Rotary`).
    Rotary { half: usize, pairwise: bool },
    /// Rows in chunks of 32 pair up (`RowMap::Chunks`).
    Chunks,
}

impl PartRows {
    /// Output units of a part of `rows` rows.
    fn units(self, rows: usize) -> usize {
        match self {
            PartRows::Rows => rows,
            _ => rows / 2,
        }
    }

    fn map(self, at: usize) -> RowMap {
        match self {
            PartRows::Rows => RowMap::Offset(at),
            PartRows::Rotary { half, pairwise } => RowMap::Rotary { at, half, pairwise },
            PartRows::Chunks => RowMap::Chunks { at },
        }
    }
}

/// The GPU format of tensor `name`, from the header's types.
fn format_of(dtypes: &HashMap<&str, DType>, name: &str) -> Result<GpuFormat> {
    let dtype = *dtypes
        .get(name)
        .ok_or_else(|| Error::MissingTensor(name.to_string()))?;
    GpuFormat::for_dtype(dtype, name)
}

impl Weight {
    /// Creates the matrices of a product whose parts are `(tensor name, rows, how rows
    /// map)`, in output order, all with `cols` columns; records where each tensor goes in
    /// `targets`.
    #[allow(clippy::too_many_arguments)]
    fn stacked(
        ctx: &GpuContext,
        label: &str,
        layout: RowLayout,
        parts: &[(String, usize, PartRows)],
        cols: usize,
        dtypes: &HashMap<&str, DType>,
        targets: &mut HashMap<String, Target>,
        role: Role,
    ) -> Result<Self> {
        // (format, first output unit, units) of each matrix.
        let mut plan: Vec<(GpuFormat, usize, usize)> = Vec::new();
        let mut unit = 0;
        for (name, rows, how) in parts {
            let format = format_of(dtypes, name)?;
            let units = how.units(*rows);
            let target = match plan.last_mut() {
                Some((f, _, n)) if *f == format && n.is_multiple_of(layout.units_per_tile()) => {
                    let at = *n;
                    *n += units;
                    Target::Matrix(role, plan.len() - 1, how.map(at))
                }
                _ => {
                    plan.push((format, unit, units));
                    Target::Matrix(role, plan.len() - 1, how.map(0))
                }
            };
            targets.insert(name.clone(), target);
            unit += units;
        }
        let parts = plan
            .into_iter()
            .enumerate()
            .map(|(i, (format, offset, units))| {
                let name = if parts.len() == 1 {
                    label.to_string()
                } else {
                    format!("{label}#{i}")
                };
                GpuMatrix::new(ctx, &name, format, layout, units, cols, offset)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { parts, layout })
    }

    /// Gate and up as one paired matrix (`Epilogue::Glu`), when they share a format.
    #[allow(clippy::too_many_arguments)]
    fn glu(
        ctx: &GpuContext,
        label: &str,
        gate: &str,
        up: &str,
        ff: usize,
        cols: usize,
        format: GpuFormat,
        targets: &mut HashMap<String, Target>,
        role: Role,
    ) -> Result<Self> {
        let m = GpuMatrix::new(ctx, label, format, RowLayout::Pairs, ff, cols, 0)?;
        targets.insert(
            gate.to_string(),
            Target::Matrix(role, 0, RowMap::Side { at: 0, side: 0 }),
        );
        targets.insert(
            up.to_string(),
            Target::Matrix(role, 0, RowMap::Side { at: 0, side: 1 }),
        );
        Ok(Self {
            parts: vec![m],
            layout: RowLayout::Pairs,
        })
    }

    /// Bytes the weight takes on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(GpuMatrix::gpu_bytes).sum()
    }
}

/// Which product of the model a matrix belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    TokEmbd,
    PosEmbd,
    Output,
    Qkv(usize),
    AttnOutput(usize),
    GateUp(usize),
    Down(usize),
}

/// Where a file tensor goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Part `.1` of the product's matrices, at the rows `.2` gives.
    Matrix(Role, usize, RowMap),
    OutputNorm,
    AttnNorm(usize),
    FfnNorm(usize),
    /// The stacked Q/K/V bias of layer `.0`, at element `.1`.
    QkvBias(usize, usize),
    /// The query (`.1` = 0) or key (`.1` = head_dim) head norm of layer `.0`.
    QkNorm(usize, usize),
    AttnPostNorm(usize),
    FfnPostNorm(usize),
    /// The file's rope frequency factors, read back to build the rope table.
    RopeFreqs,
    /// A bias of layer `.0` (GPT-2).
    LayerBias(usize, Bias),
    OutputNormBias,
}

/// The biases of a GPT-2 block, beside Q|K|V's.
#[derive(Debug, Clone, Copy)]
enum Bias {
    AttnNorm,
    FfnNorm,
    AttnOutput,
    FfnUp,
    FfnDown,
}

/// One layer's weights.
pub(super) struct LayerWeights {
    pub attn_norm: GpuVector,
    /// [q_dim + 2 kv_dim, dim]: Wq, Wk, Wv stacked (paired for rope where possible).
    pub qkv: Weight,
    /// [q_dim + 2 kv_dim] when the model has Q/K/V biases.
    pub qkv_bias: Option<GpuVector>,
    /// [2 head_dim]: the query heads' norm, then the key heads', when the model has them.
    pub qk_norm: Option<GpuVector>,
    /// [dim, q_dim]
    pub wo: Weight,
    pub ffn_norm: GpuVector,
    /// [dim] each: the norms of the attention's and the FFN's outputs (Gemma 3).
    pub attn_post_norm: Option<GpuVector>,
    pub ffn_post_norm: Option<GpuVector>,
    /// [2 n_ff, dim]: Wgate, Wup stacked (paired for SwiGLU where possible); [n_ff, dim],
    /// Wup alone, for an ungated FFN.
    pub gate_up: Weight,
    /// [dim, n_ff]
    pub down: Weight,
    /// GPT-2's: the LayerNorms' biases [dim], the attention output's [dim], the FFN's up
    /// [n_ff] and down [dim] products'.
    pub biases: Option<LayerBiases>,
}

pub(super) struct LayerBiases {
    pub attn_norm: GpuVector,
    pub ffn_norm: GpuVector,
    pub attn_output: GpuVector,
    pub ffn_up: GpuVector,
    pub ffn_down: GpuVector,
}

/// Collects a model's tensors onto the GPU as they stream in.
pub struct GpuModelBuilder {
    pub(super) ctx: GpuContext,
    pub(super) config: ModelConfig,
    pub(super) max_context: usize,
    pub(super) max_batch: usize,
    expected: HashMap<String, Vec<usize>>,
    /// The expected names in model order (token embedding first), for error messages.
    order: Vec<String>,
    targets: HashMap<String, Target>,
    arrived: HashSet<String>,
    pub(super) tok_embd: Weight,
    pub(super) output: Option<Weight>,
    pub(super) output_norm: GpuVector,
    /// The final LayerNorm's bias (GPT-2).
    pub(super) output_norm_bias: Option<GpuVector>,
    /// The learned position embedding [n_ctx_train, dim] (GPT-2).
    pub(super) pos_embd: Option<Weight>,
    pub(super) layers: Vec<LayerWeights>,
    /// The rope divisors of the model's tensors (`rope_freqs.weight`, or LongRoPE's set
    /// for the context), when its rope has them.
    pub(super) rope_freqs: Option<Vec<f32>>,
}

impl GpuModelBuilder {
    /// Allocates the weight buffers in the formats of the header's `tensors` and checks
    /// that the KV cache and activations for `max_context` tokens fit the device's binding
    /// limit.
    pub fn new(
        ctx: &GpuContext,
        config: &ModelConfig,
        tensors: &[TensorInfo],
        max_context: usize,
    ) -> Result<Self> {
        let c = config;
        // A learned position embedding has rows for the trained context only.
        if c.learned_positions && max_context > c.n_ctx_train {
            return Err(Error::InvalidRequest(format!(
                "context length {max_context} exceeds the {} learned positions",
                c.n_ctx_train
            )));
        }
        let max_batch = super::check_fits(ctx, c, max_context)?;
        let dtypes: HashMap<&str, DType> =
            tensors.iter().map(|t| (t.name.as_str(), t.dtype)).collect();
        let listed = expected_tensors(c);
        let order: Vec<String> = listed.iter().map(|(n, _)| n.clone()).collect();
        let expected: HashMap<String, Vec<usize>> = listed.into_iter().collect();
        let mut targets = HashMap::new();
        let (dim, ff, q, kv) = (c.n_embd, c.n_ff, c.q_dim(), c.kv_dim());
        // Rope pairs fill whole blocks of 16 pairs per head half. A head norm needs the
        // whole head before rope, so the rope kernel does both.
        let rope_pairs = c.head_dim.is_multiple_of(32) && !c.qk_norm;
        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let name = |role: &str| format!("blk.{l}.{role}");
            let weight = |targets: &mut HashMap<String, Target>,
                          label: &str,
                          layout: RowLayout,
                          parts: &[(&str, usize, PartRows)],
                          cols: usize,
                          role: Role| {
                let parts: Vec<(String, usize, PartRows)> = parts
                    .iter()
                    .map(|(n, rows, how)| (name(n), *rows, *how))
                    .collect();
                Weight::stacked(
                    ctx,
                    &name(label),
                    layout,
                    &parts,
                    cols,
                    &dtypes,
                    targets,
                    role,
                )
            };
            let qkv = if rope_pairs {
                let rotary = PartRows::Rotary {
                    half: c.head_dim / 2,
                    pairwise: c.rope_style == RopeStyle::Pairwise,
                };
                weight(
                    &mut targets,
                    "attn_qkv",
                    RowLayout::Pairs,
                    &[
                        ("attn_q.weight", q, rotary),
                        ("attn_k.weight", kv, rotary),
                        ("attn_v.weight", kv, PartRows::Chunks),
                    ],
                    dim,
                    Role::Qkv(l),
                )?
            } else {
                weight(
                    &mut targets,
                    "attn_qkv",
                    RowLayout::Rows,
                    &[
                        ("attn_q.weight", q, PartRows::Rows),
                        ("attn_k.weight", kv, PartRows::Rows),
                        ("attn_v.weight", kv, PartRows::Rows),
                    ],
                    dim,
                    Role::Qkv(l),
                )?
            };
            let wo = weight(
                &mut targets,
                "attn_output",
                RowLayout::Rows,
                &[("attn_output.weight", dim, PartRows::Rows)],
                q,
                Role::AttnOutput(l),
            )?;
            let (gate, up) = (name("ffn_gate.weight"), name("ffn_up.weight"));
            let gate_up = if !c.ffn_gated {
                weight(
                    &mut targets,
                    "ffn_up",
                    RowLayout::Rows,
                    &[("ffn_up.weight", ff, PartRows::Rows)],
                    dim,
                    Role::GateUp(l),
                )?
            } else if format_of(&dtypes, &gate)? == format_of(&dtypes, &up)? {
                Weight::glu(
                    ctx,
                    &name("ffn_gate_up"),
                    &gate,
                    &up,
                    ff,
                    dim,
                    format_of(&dtypes, &gate)?,
                    &mut targets,
                    Role::GateUp(l),
                )?
            } else {
                weight(
                    &mut targets,
                    "ffn_gate_up",
                    RowLayout::Rows,
                    &[
                        ("ffn_gate.weight", ff, PartRows::Rows),
                        ("ffn_up.weight", ff, PartRows::Rows),
                    ],
                    dim,
                    Role::GateUp(l),
                )?
            };
            let down = weight(
                &mut targets,
                "ffn_down",
                RowLayout::Rows,
                &[("ffn_down.weight", dim, PartRows::Rows)],
                ff,
                Role::Down(l),
            )?;
            targets.insert(name("attn_norm.weight"), Target::AttnNorm(l));
            targets.insert(name("ffn_norm.weight"), Target::FfnNorm(l));
            if c.qkv_bias {
                targets.insert(name("attn_q.bias"), Target::QkvBias(l, 0));
                targets.insert(name("attn_k.bias"), Target::QkvBias(l, q));
                targets.insert(name("attn_v.bias"), Target::QkvBias(l, q + kv));
            }
            if c.post_norms {
                targets.insert(name("post_attention_norm.weight"), Target::AttnPostNorm(l));
                targets.insert(name("post_ffw_norm.weight"), Target::FfnPostNorm(l));
            }
            // GPT-2's block biases; a kind the file does not hold stays zero.
            let biases = (c.layer_norm || c.output_biases).then(|| {
                for (file, bias) in [
                    ("attn_norm.bias", Bias::AttnNorm),
                    ("ffn_norm.bias", Bias::FfnNorm),
                    ("attn_output.bias", Bias::AttnOutput),
                    ("ffn_up.bias", Bias::FfnUp),
                    ("ffn_down.bias", Bias::FfnDown),
                ] {
                    targets.insert(name(file), Target::LayerBias(l, bias));
                }
                LayerBiases {
                    attn_norm: GpuVector::new(ctx, &name("attn_norm.bias"), dim),
                    ffn_norm: GpuVector::new(ctx, &name("ffn_norm.bias"), dim),
                    attn_output: GpuVector::new(ctx, &name("attn_output.bias"), dim),
                    ffn_up: GpuVector::new(ctx, &name("ffn_up.bias"), ff),
                    ffn_down: GpuVector::new(ctx, &name("ffn_down.bias"), dim),
                }
            });
            if c.qk_norm {
                targets.insert(name("attn_q_norm.weight"), Target::QkNorm(l, 0));
                targets.insert(name("attn_k_norm.weight"), Target::QkNorm(l, c.head_dim));
            }
            layers.push(LayerWeights {
                attn_norm: GpuVector::new(ctx, &name("attn_norm.weight"), dim),
                qkv,
                qkv_bias: c
                    .qkv_bias
                    .then(|| GpuVector::new(ctx, &name("attn_qkv.bias"), q + 2 * kv)),
                qk_norm: c
                    .qk_norm
                    .then(|| GpuVector::new(ctx, &name("attn_qk_norm.weight"), 2 * c.head_dim)),
                wo,
                ffn_norm: GpuVector::new(ctx, &name("ffn_norm.weight"), dim),
                attn_post_norm: c
                    .post_norms
                    .then(|| GpuVector::new(ctx, &name("post_attention_norm.weight"), dim)),
                ffn_post_norm: c
                    .post_norms
                    .then(|| GpuVector::new(ctx, &name("post_ffw_norm.weight"), dim)),
                gate_up,
                down,
                biases,
            });
        }
        let embd = [("token_embd.weight".to_string(), c.n_vocab, PartRows::Rows)];
        let tok_embd = Weight::stacked(
            ctx,
            "token_embd.weight",
            RowLayout::Rows,
            &embd,
            dim,
            &dtypes,
            &mut targets,
            Role::TokEmbd,
        )?;
        let output = if c.tied_embeddings {
            None
        } else {
            let out = [("output.weight".to_string(), c.n_vocab, PartRows::Rows)];
            Some(Weight::stacked(
                ctx,
                "output.weight",
                RowLayout::Rows,
                &out,
                dim,
                &dtypes,
                &mut targets,
                Role::Output,
            )?)
        };
        targets.insert("output_norm.weight".into(), Target::OutputNorm);
        let output_norm_bias = c.layer_norm.then(|| {
            targets.insert("output_norm.bias".into(), Target::OutputNormBias);
            GpuVector::new(ctx, "output_norm.bias", dim)
        });
        let pos_embd = match c.learned_positions {
            true => {
                let rows = [(
                    "position_embd.weight".to_string(),
                    c.n_ctx_train,
                    PartRows::Rows,
                )];
                Some(Weight::stacked(
                    ctx,
                    "position_embd.weight",
                    RowLayout::Rows,
                    &rows,
                    dim,
                    &dtypes,
                    &mut targets,
                    Role::PosEmbd,
                )?)
            }
            false => None,
        };
        // The rope divisors this context uses (LongRoPE's long or short set).
        if let Some(spec) = c
            .rope_factors_role(max_context)
            .and_then(|role| c.arch.table().spec(role))
        {
            targets.insert(spec.gguf.into(), Target::RopeFreqs);
        }
        Ok(Self {
            ctx: ctx.clone(),
            config: config.clone(),
            max_context,
            max_batch,
            expected,
            order,
            targets,
            arrived: HashSet::new(),
            tok_embd,
            output,
            output_norm: GpuVector::new(ctx, "output_norm.weight", dim),
            output_norm_bias,
            pos_embd,
            layers,
            rope_freqs: None,
        })
    }

    /// Uploads one tensor. Names the model does not use are ignored; a known name with the
    /// wrong shape is an error.
    pub fn add_tensor(&mut self, t: Tensor) -> Result<()> {
        let Some(expected) = self.expected.get(&t.name) else {
            return Ok(());
        };
        // A piece holds rows first..first + shape[0] of the whole tensor.
        check_tensor_shape(&t, expected)?;
        let Some(&target) = self.targets.get(&t.name) else {
            // A tensor of the model that this context does not read (LongRoPE's other set).
            if t.ends_tensor() {
                self.arrived.insert(t.name);
            }
            return Ok(());
        };
        let first = t.first_row();
        let ctx = &self.ctx;
        let row_len: usize = t.shape.iter().skip(1).product();
        let vector_at = |at: usize| at + first * row_len;
        match target {
            Target::Matrix(role, part, map) => {
                let m = self.weight(role)?.parts.get(part).ok_or_else(|| {
                    Error::Malformed(format!("tensor '{}' has no matrix", t.name))
                })?;
                m.write_tensor(ctx, map, &t)?
            }
            Target::OutputNorm => write_vector(ctx, &self.output_norm, vector_at(0), &t)?,
            Target::AttnNorm(l) => write_vector(ctx, &self.layer(l)?.attn_norm, vector_at(0), &t)?,
            Target::FfnNorm(l) => write_vector(ctx, &self.layer(l)?.ffn_norm, vector_at(0), &t)?,
            Target::QkvBias(l, at) => {
                if let Some(b) = &self.layer(l)?.qkv_bias {
                    write_vector(ctx, b, vector_at(at), &t)?
                }
            }
            Target::RopeFreqs => {
                let values = crate::formats::quant::dequantize_f32(&t)?;
                self.rope_freqs.get_or_insert_with(Vec::new).extend(values);
            }
            Target::LayerBias(l, which) => {
                if let Some(b) = &self.layer(l)?.biases {
                    let v = match which {
                        Bias::AttnNorm => &b.attn_norm,
                        Bias::FfnNorm => &b.ffn_norm,
                        Bias::AttnOutput => &b.attn_output,
                        Bias::FfnUp => &b.ffn_up,
                        Bias::FfnDown => &b.ffn_down,
                    };
                    write_vector(ctx, v, vector_at(0), &t)?
                }
            }
            Target::OutputNormBias => {
                if let Some(v) = &self.output_norm_bias {
                    write_vector(ctx, v, vector_at(0), &t)?
                }
            }
            Target::AttnPostNorm(l) => {
                if let Some(w) = &self.layer(l)?.attn_post_norm {
                    write_vector(ctx, w, vector_at(0), &t)?
                }
            }
            Target::FfnPostNorm(l) => {
                if let Some(w) = &self.layer(l)?.ffn_post_norm {
                    write_vector(ctx, w, vector_at(0), &t)?
                }
            }
            Target::QkNorm(l, at) => {
                if let Some(w) = &self.layer(l)?.qk_norm {
                    write_vector(ctx, w, vector_at(at), &t)?
                }
            }
        }
        if t.ends_tensor() {
            self.arrived.insert(t.name);
        }
        Ok(())
    }

    fn weight(&self, role: Role) -> Result<&Weight> {
        Ok(match role {
            Role::TokEmbd => &self.tok_embd,
            Role::PosEmbd => self
                .pos_embd
                .as_ref()
                .ok_or_else(|| Error::Malformed("the model has no position embedding".into()))?,
            Role::Output => self
                .output
                .as_ref()
                .ok_or_else(|| Error::Malformed("the model has tied embeddings".into()))?,
            Role::Qkv(l) => &self.layer(l)?.qkv,
            Role::AttnOutput(l) => &self.layer(l)?.wo,
            Role::GateUp(l) => &self.layer(l)?.gate_up,
            Role::Down(l) => &self.layer(l)?.down,
        })
    }

    fn layer(&self, l: usize) -> Result<&LayerWeights> {
        self.layers
            .get(l)
            .ok_or_else(|| Error::Malformed(format!("layer {l} is out of range")))
    }

    /// Bytes the weights take on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        let vec = |v: &GpuVector| v.buffer.size();
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                vec(&l.attn_norm)
                    + vec(&l.ffn_norm)
                    + l.qkv_bias.as_ref().map_or(0, vec)
                    + l.qk_norm.as_ref().map_or(0, vec)
                    + l.attn_post_norm.as_ref().map_or(0, vec)
                    + l.ffn_post_norm.as_ref().map_or(0, vec)
                    + l.qkv.gpu_bytes()
                    + l.wo.gpu_bytes()
                    + l.gate_up.gpu_bytes()
                    + l.down.gpu_bytes()
                    + l.biases.as_ref().map_or(0, |b| {
                        vec(&b.attn_norm)
                            + vec(&b.ffn_norm)
                            + vec(&b.attn_output)
                            + vec(&b.ffn_up)
                            + vec(&b.ffn_down)
                    })
            })
            .sum();
        layers
            + self.tok_embd.gpu_bytes()
            + self.pos_embd.as_ref().map_or(0, Weight::gpu_bytes)
            + self.output_norm_bias.as_ref().map_or(0, vec)
            + self.output.as_ref().map_or(0, Weight::gpu_bytes)
            + vec(&self.output_norm)
    }

    /// Checks that every tensor arrived, then creates the kernels, activations, KV cache and
    /// bind groups.
    pub async fn finish(self) -> Result<super::GpuModel> {
        if let Some(missing) = self.order.iter().find(|n| !self.arrived.contains(*n)) {
            return Err(Error::MissingTensor(missing.clone()));
        }
        super::GpuModel::build(self).await
    }
}

fn write_vector(ctx: &GpuContext, v: &GpuVector, offset: usize, t: &Tensor) -> Result<()> {
    let values = crate::formats::quant::dequantize_f32(t)?;
    v.write(ctx, offset, &values)
}
