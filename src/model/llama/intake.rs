//! Weights intake: where each file tensor of a Llama-family model goes on the GPU, decided
//! from the header (names, shapes, types) before any tensor bytes arrive.
//!
//! Stacked products (Q, K, V; gate, up) run as one product whose output rows are the parts'
//! rows one after the other. Parts of one format whose row counts keep every part on a row
//! block boundary share one matrix (one dispatch); a part of another format (Q4_K_M files
//! mix Q4_K, Q5_0, Q6_K and Q8_0 within a layer) gets a matrix of its own.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::formats::{DType, Tensor, TensorInfo};
use crate::gpu::weights::ROW_BLOCK;
use crate::gpu::{GpuContext, GpuFormat, GpuMatrix, GpuVector};
use crate::model::tensors::{expected_tensors, shape_matches};
use crate::model::ModelConfig;

/// The weight of one product: its parts' matrices, in output row order.
pub(super) struct Weight {
    pub parts: Vec<GpuMatrix>,
}

impl Weight {
    /// Creates the matrices of a product whose parts are `(tensor name, rows)`, in output
    /// order, all with `cols` columns; records where each tensor goes in `targets`.
    fn stacked(
        ctx: &GpuContext,
        label: &str,
        parts: &[(String, usize)],
        cols: usize,
        dtypes: &HashMap<&str, DType>,
        targets: &mut HashMap<String, Target>,
        role: Role,
    ) -> Result<Self> {
        // (format, first output row, rows) of each matrix.
        let mut plan: Vec<(GpuFormat, usize, usize)> = Vec::new();
        let mut row = 0;
        for (name, rows) in parts {
            let dtype = *dtypes
                .get(name.as_str())
                .ok_or_else(|| Error::MissingTensor(name.clone()))?;
            let format = GpuFormat::for_dtype(dtype, name)?;
            let target = match plan.last_mut() {
                Some((f, _, n)) if *f == format && n.is_multiple_of(ROW_BLOCK) => {
                    let at = *n;
                    *n += rows;
                    Target::Matrix(role, plan.len() - 1, at)
                }
                _ => {
                    plan.push((format, row, *rows));
                    Target::Matrix(role, plan.len() - 1, 0)
                }
            };
            targets.insert(name.clone(), target);
            row += rows;
        }
        let parts = plan
            .into_iter()
            .enumerate()
            .map(|(i, (format, offset, rows))| {
                let name = if parts.len() == 1 {
                    label.to_string()
                } else {
                    format!("{label}#{i}")
                };
                GpuMatrix::new(ctx, &name, format, rows, cols, offset)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { parts })
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
    Output,
    Qkv(usize),
    AttnOutput(usize),
    GateUp(usize),
    Down(usize),
}

/// Where a file tensor goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Part `.1` of the product's matrices, at row `.2` of that matrix.
    Matrix(Role, usize, usize),
    OutputNorm,
    AttnNorm(usize),
    FfnNorm(usize),
    /// The stacked Q/K/V bias of layer `.0`, at element `.1`.
    QkvBias(usize, usize),
}

/// One layer's weights.
pub(super) struct LayerWeights {
    pub attn_norm: GpuVector,
    /// [q_dim + 2 kv_dim, dim]: Wq, Wk, Wv stacked.
    pub qkv: Weight,
    /// [q_dim + 2 kv_dim] when the model has Q/K/V biases.
    pub qkv_bias: Option<GpuVector>,
    /// [dim, q_dim]
    pub wo: Weight,
    pub ffn_norm: GpuVector,
    /// [2 n_ff, dim]: Wgate, Wup stacked.
    pub gate_up: Weight,
    /// [dim, n_ff]
    pub down: Weight,
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
    pub(super) layers: Vec<LayerWeights>,
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
        let max_batch = super::check_fits(ctx, c, max_context)?;
        let dtypes: HashMap<&str, DType> =
            tensors.iter().map(|t| (t.name.as_str(), t.dtype)).collect();
        let listed = expected_tensors(c);
        let order: Vec<String> = listed.iter().map(|(n, _)| n.clone()).collect();
        let expected: HashMap<String, Vec<usize>> = listed.into_iter().collect();
        let mut targets = HashMap::new();
        let (dim, ff, q, kv) = (c.n_embd, c.n_ff, c.q_dim(), c.kv_dim());
        let mut layers = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let name = |role: &str| format!("blk.{l}.{role}");
            let mut weight = |label: &str, parts: &[(&str, usize)], cols: usize, role: Role| {
                let parts: Vec<(String, usize)> =
                    parts.iter().map(|(n, rows)| (name(n), *rows)).collect();
                Weight::stacked(ctx, &name(label), &parts, cols, &dtypes, &mut targets, role)
            };
            let qkv = weight(
                "attn_qkv",
                &[
                    ("attn_q.weight", q),
                    ("attn_k.weight", kv),
                    ("attn_v.weight", kv),
                ],
                dim,
                Role::Qkv(l),
            )?;
            let wo = weight(
                "attn_output",
                &[("attn_output.weight", dim)],
                q,
                Role::AttnOutput(l),
            )?;
            let gate_up = weight(
                "ffn_gate_up",
                &[("ffn_gate.weight", ff), ("ffn_up.weight", ff)],
                dim,
                Role::GateUp(l),
            )?;
            let down = weight("ffn_down", &[("ffn_down.weight", dim)], ff, Role::Down(l))?;
            targets.insert(name("attn_norm.weight"), Target::AttnNorm(l));
            targets.insert(name("ffn_norm.weight"), Target::FfnNorm(l));
            if c.qkv_bias {
                targets.insert(name("attn_q.bias"), Target::QkvBias(l, 0));
                targets.insert(name("attn_k.bias"), Target::QkvBias(l, q));
                targets.insert(name("attn_v.bias"), Target::QkvBias(l, q + kv));
            }
            layers.push(LayerWeights {
                attn_norm: GpuVector::new(ctx, &name("attn_norm.weight"), dim),
                qkv,
                qkv_bias: c
                    .qkv_bias
                    .then(|| GpuVector::new(ctx, &name("attn_qkv.bias"), q + 2 * kv)),
                wo,
                ffn_norm: GpuVector::new(ctx, &name("ffn_norm.weight"), dim),
                gate_up,
                down,
            });
        }
        let embd = [("token_embd.weight".to_string(), c.n_vocab)];
        let tok_embd = Weight::stacked(
            ctx,
            "token_embd.weight",
            &embd,
            dim,
            &dtypes,
            &mut targets,
            Role::TokEmbd,
        )?;
        let output = if c.tied_embeddings {
            None
        } else {
            let out = [("output.weight".to_string(), c.n_vocab)];
            Some(Weight::stacked(
                ctx,
                "output.weight",
                &out,
                dim,
                &dtypes,
                &mut targets,
                Role::Output,
            )?)
        };
        targets.insert("output_norm.weight".into(), Target::OutputNorm);
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
            layers,
        })
    }

    /// Uploads one tensor. Names the model does not use are ignored; a known name with the
    /// wrong shape is an error.
    pub fn add_tensor(&mut self, t: Tensor) -> Result<()> {
        let (Some(&target), Some(expected)) =
            (self.targets.get(&t.name), self.expected.get(&t.name))
        else {
            return Ok(());
        };
        // A piece holds rows first..first + shape[0] of the whole tensor.
        let first = t.first_row();
        let mut whole = t.shape.clone();
        if let (Some(p), Some(rows)) = (t.piece, whole.first_mut()) {
            if first + *rows > p.total_rows {
                return Err(Error::Malformed(format!(
                    "a piece of tensor '{}' reaches past its rows",
                    t.name
                )));
            }
            *rows = p.total_rows;
        }
        if !shape_matches(expected, &whole) {
            return Err(Error::ShapeMismatch {
                tensor: t.name.clone(),
                expected: expected.clone(),
                found: whole,
            });
        }
        let ctx = &self.ctx;
        let row_len: usize = t.shape.iter().skip(1).product();
        let vector_at = |at: usize| at + first * row_len;
        match target {
            Target::Matrix(role, part, row) => {
                let m = self.weight(role)?.parts.get(part).ok_or_else(|| {
                    Error::Malformed(format!("tensor '{}' has no matrix", t.name))
                })?;
                m.write_tensor(ctx, row + first, &t)?
            }
            Target::OutputNorm => write_vector(ctx, &self.output_norm, vector_at(0), &t)?,
            Target::AttnNorm(l) => write_vector(ctx, &self.layer(l)?.attn_norm, vector_at(0), &t)?,
            Target::FfnNorm(l) => write_vector(ctx, &self.layer(l)?.ffn_norm, vector_at(0), &t)?,
            Target::QkvBias(l, at) => {
                if let Some(b) = &self.layer(l)?.qkv_bias {
                    write_vector(ctx, b, vector_at(at), &t)?
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
                    + l.qkv.gpu_bytes()
                    + l.wo.gpu_bytes()
                    + l.gate_up.gpu_bytes()
                    + l.down.gpu_bytes()
            })
            .sum();
        layers
            + self.tok_embd.gpu_bytes()
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
