//! The CPU backend: the same forward pass as the GPU model, over weights kept in their
//! file's encoding in memory (`matrix`); a decoded token's products with Q4_0/Q4_1/Q8_0
//! rows are integer dots over 16-bit activations (`int16`), the rest is f32. The rows of
//! each product are spread over threads (rayon): natively, and in the threaded wasm build
//! (a pool of Web Workers); the single-thread wasm build runs on the worker's thread.
//!
//! Per layer, with `x` the residual stream [n, dim]:
//! `xb = rmsnorm(x)`, `q, k, v = xb · W{q,k,v}ᵀ (+ b)`, (Qwen3: rmsnorm of each q and k
//! head,) rope on q and k, k and v into the
//! cache, `x += attention(q, cache) · Woᵀ` (Gemma 3: normed first), `xb = rmsnorm(x)`,
//! `x += (silu(xb · Wgateᵀ) · (xb · Wupᵀ)) · Wdownᵀ`; then `logits = rmsnorm(x) · Wheadᵀ`.

mod attention;
mod int16;
mod matrix;

use std::collections::HashMap;

pub use matrix::CpuMatrix;

use crate::error::{Error, Result};
use crate::formats::{quant, Tensor, TensorInfo};
use crate::model::arch::Role;
use crate::model::forward::{check_context, check_request, ForwardOutput, ForwardResult};
use crate::model::tensors::{check_tensor_shape, check_tensors};
use crate::model::ModelConfig;
use crate::reference::{
    activated, add_bias, gated, head_norm, layernorm, rmsnorm, rope_with, Heads,
};
use attention::attention;

/// How the CPU backend's products treat activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activations {
    /// Quantized to 16 bits per 32-value block for the integer dot with Q4_0, Q4_1 and Q8_0
    /// weights when decoding; f32 with other formats and for a prompt's tokens.
    #[default]
    Int16,
    /// f32 throughout: each weight row is decoded to f32 and dotted in f32.
    F32,
}

impl Activations {
    /// How `engine.backend.kernels` names it.
    pub fn describe(self) -> &'static str {
        match self {
            Activations::Int16 => {
                "int16 activations when decoding (Q4_0, Q4_1, Q8_0 weights), f32 otherwise"
            }
            Activations::F32 => "f32 activations",
        }
    }
}

/// Where a tensor goes: `(role, layer)`.
type Slot = (Role, Option<usize>);

/// What one instance may address: wasm32's linear memory ends at 4 GiB; natively the
/// machine decides (an allocation that fails is reported by the allocator).
#[cfg(target_arch = "wasm32")]
const ADDRESS_SPACE_BYTES: u64 = 4 << 30;
#[cfg(not(target_arch = "wasm32"))]
const ADDRESS_SPACE_BYTES: u64 = u64::MAX;
/// Room beside the weights and the cache: activations, logits, tokenizer, the engine.
const WORKING_BYTES: u64 = 32 << 20;

/// Bytes a model needs in memory on this backend: its weights as stored (matrices in the
/// file's encoding, vectors as f32), the KV cache at `max_context` (f32) and working room.
pub fn memory_needed(config: &ModelConfig, tensors: &[TensorInfo], max_context: usize) -> u64 {
    let expected: HashMap<String, usize> = config
        .tensors()
        .into_iter()
        .map(|t| (t.name, t.shape.len()))
        .collect();
    let weights: u64 = tensors
        .iter()
        .filter_map(|t| match expected.get(&t.name) {
            Some(2) => Some(t.size as u64),
            Some(_) => Some(t.n_elements() as u64 * 4),
            None => None,
        })
        .sum();
    let kv = 2 * (config.n_layer as u64) * (max_context as u64) * (config.kv_dim() as u64) * 4;
    weights.saturating_add(kv).saturating_add(WORKING_BYTES)
}

/// Fails, before any weight arrives, when `needed` bytes exceed what can be addressed.
pub fn check_fits(needed: u64, address_space: u64) -> Result<()> {
    if needed > address_space {
        return Err(Error::DoesNotFit(format!(
            "the CPU backend needs {:.2} GiB for the weights, the context's cache and working \
             memory, more than the {:.0} GiB a WebAssembly instance can address; \
             use a smaller model or quantization, a shorter context, or WebGPU",
            needed as f64 / (1u64 << 30) as f64,
            address_space as f64 / (1u64 << 30) as f64,
        )));
    }
    Ok(())
}

/// Collects a model's tensors into memory as they stream in.
pub struct CpuModelBuilder {
    config: ModelConfig,
    activations: Activations,
    max_context: usize,
    /// Canonical name → slot and whole shape.
    expected: HashMap<String, (Slot, Vec<usize>)>,
    matrices: HashMap<Slot, CpuMatrix>,
    vectors: HashMap<Slot, Vec<f32>>,
}

impl CpuModelBuilder {
    pub fn new(
        config: &ModelConfig,
        tensors: &[TensorInfo],
        max_context: usize,
        activations: Activations,
    ) -> Result<Self> {
        check_tensors(config, tensors)?;
        check_context(max_context)?;
        check_fits(
            memory_needed(config, tensors, max_context),
            ADDRESS_SPACE_BYTES,
        )?;
        let expected = config
            .tensors()
            .into_iter()
            .map(|t| (t.name, ((t.role, t.layer), t.shape)))
            .collect();
        Ok(Self {
            config: config.clone(),
            activations,
            max_context,
            expected,
            matrices: HashMap::new(),
            vectors: HashMap::new(),
        })
    }

    /// Takes one tensor (or piece). Names the model does not use are ignored.
    pub fn add_tensor(&mut self, t: Tensor) -> Result<()> {
        let Some((slot, shape)) = self.expected.get(&t.name) else {
            return Ok(());
        };
        check_tensor_shape(&t, shape)?;
        if let [rows, cols] = shape.as_slice() {
            if !self.matrices.contains_key(slot) {
                let m = CpuMatrix::new(&t.name, t.dtype, *rows, *cols)?;
                self.matrices.insert(*slot, m);
            }
            if let Some(m) = self.matrices.get_mut(slot) {
                m.append(&t)?;
            }
        } else {
            self.vectors.insert(*slot, quant::dequantize_f32(&t)?);
        }
        Ok(())
    }

    /// Bytes the weights take.
    pub fn weight_bytes(&self) -> u64 {
        let m: usize = self.matrices.values().map(CpuMatrix::bytes).sum();
        let v: usize = self.vectors.values().map(|v| v.len() * 4).sum();
        (m + v) as u64
    }

    /// Checks that every tensor arrived whole.
    pub fn finish(self) -> Result<CpuModel> {
        let mut order: Vec<(&String, &(Slot, Vec<usize>))> = self.expected.iter().collect();
        order.sort_by_key(|(_, ((_, layer), _))| layer.map_or(0, |l| l + 1));
        for (name, (slot, shape)) in order {
            let present = match shape.len() {
                2 => self.matrices.get(slot).is_some_and(CpuMatrix::is_complete),
                _ => self.vectors.contains_key(slot),
            };
            if !present {
                return Err(Error::MissingTensor(name.clone()));
            }
        }
        let n_layer = self.config.n_layer;
        Ok(CpuModel {
            stored_bytes: self.weight_bytes(),
            activations: self.activations,
            config: self.config,
            max_context: self.max_context,
            matrices: self.matrices,
            vectors: self.vectors,
            k_cache: vec![Vec::new(); n_layer],
            v_cache: vec![Vec::new(); n_layer],
        })
    }
}

/// The vector of `role` (in block `layer`).
fn vector_of(
    vectors: &HashMap<Slot, Vec<f32>>,
    role: Role,
    layer: Option<usize>,
) -> Result<&[f32]> {
    vectors
        .get(&(role, layer))
        .map(Vec::as_slice)
        .ok_or_else(|| Error::MissingTensor(format!("{role:?} of layer {layer:?}")))
}

/// A model in memory, ready to run.
pub struct CpuModel {
    config: ModelConfig,
    activations: Activations,
    max_context: usize,
    matrices: HashMap<Slot, CpuMatrix>,
    vectors: HashMap<Slot, Vec<f32>>,
    /// Per layer: [positions so far, kv_dim].
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    stored_bytes: u64,
}

impl CpuModel {
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Bytes the weights take in memory.
    pub fn weight_bytes(&self) -> u64 {
        self.stored_bytes
    }

    fn matrix(&self, role: Role, layer: Option<usize>) -> Result<&CpuMatrix> {
        self.matrices
            .get(&(role, layer))
            .ok_or_else(|| Error::MissingTensor(format!("{role:?} of layer {layer:?}")))
    }

    fn vector(&self, role: Role, layer: Option<usize>) -> Result<&[f32]> {
        vector_of(&self.vectors, role, layer)
    }

    /// `x · Wᵀ` for the `n` tokens of `x`, for each of `roles` (matrices of the same input
    /// width), computed together.
    fn products<const N: usize>(
        &self,
        roles: [Role; N],
        layer: Option<usize>,
        x: &[f32],
        n: usize,
    ) -> Result<[Vec<f32>; N]> {
        let mut matrices = Vec::with_capacity(N);
        for role in roles {
            matrices.push(self.matrix(role, layer)?);
        }
        let mut ys: [Vec<f32>; N] = std::array::from_fn(|i| vec![0.0f32; n * matrices[i].rows]);
        let mut pairs: Vec<(&CpuMatrix, &mut [f32])> = matrices
            .iter()
            .zip(ys.iter_mut())
            .map(|(m, y)| (*m, y.as_mut_slice()))
            .collect();
        matrix::products(&mut pairs, x, n, self.activations)?;
        Ok(ys)
    }

    /// `x · Wᵀ` for the `n` tokens of `x`.
    fn product(&self, role: Role, layer: Option<usize>, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let [y] = self.products([role], layer, x, n)?;
        Ok(y)
    }

    /// Runs `tokens` at positions `pos..pos + tokens.len()`, attending to the cache entries
    /// written by earlier calls at positions `< pos`.
    pub fn forward(
        &mut self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<ForwardResult> {
        #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
        {
            self.forward_on_pool(tokens, pos, out)
        }
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        {
            self.forward_on_this_thread(tokens, pos, out)
        }
    }

    /// The pass on the thread pool. It runs on one of the pool's threads, and the others
    /// poll for the rows of its products until it ends rather than sleeping between them:
    /// a decode step is a few hundred products of a fraction of a millisecond each, and
    /// waking a sleeping thread for each (a futex in wasm, through the browser) costs
    /// about as much as the product, so sleeping threads made two threads slower than one.
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    fn forward_on_pool(
        &mut self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<ForwardResult> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = AtomicBool::new(false);
        rayon::scope(|scope| {
            for _ in 1..rayon::current_num_threads() {
                scope.spawn(|_| {
                    while !done.load(Ordering::Acquire) {
                        if rayon::yield_now() != Some(rayon::Yield::Executed) {
                            std::hint::spin_loop();
                        }
                    }
                });
            }
            let result = self.forward_on_this_thread(tokens, pos, out);
            done.store(true, Ordering::Release);
            result
        })
    }

    fn forward_on_this_thread(
        &mut self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<ForwardResult> {
        let c = self.config.clone();
        check_request(tokens, pos, self.max_context, c.n_vocab)?;
        let (dim, kv_dim, q_dim, n) = (c.n_embd, c.kv_dim(), c.q_dim(), tokens.len());
        let heads = Heads {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
        };
        // x [n, dim]: the residual stream
        let embd = self.matrix(Role::TokEmbd, None)?;
        let mut x = vec![0.0f32; n * dim];
        for (row, &t) in x.chunks_exact_mut(dim).zip(tokens) {
            embd.row(t as usize, row)?;
        }
        if c.embedding_scale {
            let scale = c.embedding_multiplier();
            x.iter_mut().for_each(|v| *v *= scale);
        }
        // GPT-2: the position's learned embedding is added.
        if c.learned_positions {
            let table = self.matrix(Role::PosEmbd, None)?;
            let mut p = vec![0.0f32; dim];
            for (t, row) in x.chunks_exact_mut(dim).enumerate() {
                table.row(pos + t, &mut p)?;
                row.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
            }
        }
        // RMSNorm, or LayerNorm with the bias of role `bias` (GPT-2).
        let vectors = &self.vectors;
        let norm_with = |x: &[f32], role: Role, bias: Role, layer: Option<usize>| {
            let w = vector_of(vectors, role, layer)?;
            let b = match c.layer_norm {
                true => vector_of(vectors, bias, layer)?,
                false => &[],
            };
            Ok::<_, Error>(
                x.chunks_exact(dim)
                    .flat_map(|r| match c.layer_norm {
                        true => layernorm(r, w, b, c.norm_eps),
                        false => rmsnorm(r, w, c.norm_eps),
                    })
                    .collect::<Vec<f32>>(),
            )
        };
        let norm = |x: &[f32], w: &[f32]| -> Vec<f32> {
            x.chunks_exact(dim)
                .flat_map(|r| rmsnorm(r, w, c.norm_eps))
                .collect()
        };
        // The products' biases, where the model has them (GPT-2).
        let output_bias = |m: &mut [f32], role: Role, layer: Option<usize>| -> Result<()> {
            if c.output_biases {
                add_bias(m, vector_of(vectors, role, layer)?);
            }
            Ok(())
        };
        // Gemma 3 norms the attention's and the FFN's outputs before the residual add.
        let add_output = |x: &mut [f32], y: Vec<f32>, post_norm: Result<&[f32]>| -> Result<()> {
            let y = match c.post_norms {
                true => norm(&y, post_norm?),
                false => y,
            };
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            Ok(())
        };
        let factors = match c.rope_factors_role(self.max_context) {
            Some(role) => Some(self.vector(role, None)?),
            None => None,
        };
        // Global and local (sliding-window) layers' rope.
        let ropes = [c.rope(false, factors)?, c.rope(true, None)?];
        for l in 0..c.n_layer {
            let layer = Some(l);
            let xb = norm_with(&x, Role::AttnNorm, Role::AttnNormBias, layer)?;
            let [mut q, mut k, mut v] =
                self.products([Role::AttnQ, Role::AttnK, Role::AttnV], layer, &xb, n)?;
            if c.qkv_bias {
                add_bias(&mut q, self.vector(Role::AttnQBias, layer)?);
                add_bias(&mut k, self.vector(Role::AttnKBias, layer)?);
                add_bias(&mut v, self.vector(Role::AttnVBias, layer)?);
            }
            if c.qk_norm {
                head_norm(&mut q, self.vector(Role::AttnQNorm, layer)?, c.norm_eps);
                head_norm(&mut k, self.vector(Role::AttnKNorm, layer)?, c.norm_eps);
            }
            let freqs = &ropes[usize::from(c.layer_window(l).is_some())];
            for t in 0..n {
                let p = pos + t;
                let qt = &mut q[t * q_dim..(t + 1) * q_dim];
                rope_with(qt, c.head_dim, p, freqs, c.rope_style);
                let kt = &mut k[t * kv_dim..(t + 1) * kv_dim];
                rope_with(kt, c.head_dim, p, freqs, c.rope_style);
            }
            // caches [pos + n, kv_dim]
            self.k_cache[l].truncate(pos * kv_dim);
            self.k_cache[l].extend_from_slice(&k);
            self.v_cache[l].truncate(pos * kv_dim);
            self.v_cache[l].extend_from_slice(&v);
            let window = c.layer_window(l);
            let att = attention(&q, &self.k_cache[l], &self.v_cache[l], pos, heads, window);
            let mut o = self.product(Role::AttnOutput, layer, &att, n)?;
            output_bias(&mut o, Role::AttnOutputBias, layer)?;
            add_output(&mut x, o, self.vector(Role::AttnPostNorm, layer))?;

            let xb = norm_with(&x, Role::FfnNorm, Role::FfnNormBias, layer)?;
            let act = match c.ffn_gated {
                true => {
                    let [gate, up] = self.products([Role::FfnGate, Role::FfnUp], layer, &xb, n)?;
                    gated(c.ffn_activation, &gate, &up)
                }
                false => {
                    let mut up = self.product(Role::FfnUp, layer, &xb, n)?;
                    output_bias(&mut up, Role::FfnUpBias, layer)?;
                    activated(c.ffn_activation, &up)
                }
            };
            let mut down = self.product(Role::FfnDown, layer, &act, n)?;
            output_bias(&mut down, Role::FfnDownBias, layer)?;
            add_output(&mut x, down, self.vector(Role::FfnPostNorm, layer))?;
        }
        let head = if c.tied_embeddings {
            Role::TokEmbd
        } else {
            Role::LmHead
        };
        // Logits of every token, or only of the last.
        let (from, rows) = match out {
            ForwardOutput::AllLogits => (0, n),
            _ => (n - 1, 1),
        };
        let xn = norm_with(
            &x[from * dim..],
            Role::OutputNorm,
            Role::OutputNormBias,
            None,
        )?;
        let logits = self.product(head, None, &xn, rows)?;
        Ok(match out {
            ForwardOutput::AllLogits => ForwardResult::AllLogits(logits),
            ForwardOutput::LastLogits => ForwardResult::LastLogits(logits),
            ForwardOutput::Argmax | ForwardOutput::ArgmaxAhead => {
                ForwardResult::Argmax(crate::reference::argmax(&logits).map_or(0, |i| i as u32))
            }
        })
    }
}
