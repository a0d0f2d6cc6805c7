//! A plain f32 CPU forward pass: the oracle the kernel and model tests compare the GPU
//! against. It favours being obviously right over being fast: one loop per equation, every
//! buffer's shape in a comment. Give it the fp16-rounded weights the GPU holds
//! (`quant::to_f16_rounded_f32`) and the two differ only in summation order.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::model::arch::{FfnActivation, Role};
use crate::model::rope::RopeFrequencies;
use crate::model::{ModelConfig, RopeStyle};

/// The table lives beside the model; re-exported because the GPU forward pass and the kernel
/// tests read it from here.
pub use crate::model::rope::rope_table;

/// `x / sqrt(mean(x²) + eps) * w` over one row.
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ss: f32 = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (ss + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * scale * w).collect()
}

/// `(x - mean) / sqrt(var + eps) * w + b` over one row (LayerNorm).
pub fn layernorm(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> Vec<f32> {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let scale = 1.0 / (var + eps).sqrt();
    x.iter()
        .zip(w.iter().zip(b))
        .map(|(v, (w, b))| (v - mean) * scale * w + b)
        .collect()
}

/// `bias` added to every row of `m`.
pub fn add_bias(m: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in m.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
    }
}

/// RMS-normalizes every head of `x` [.., head_dim] in place with the one head's weight `w`
/// [head_dim] (Qwen3's query and key norms).
pub fn head_norm(x: &mut [f32], w: &[f32], eps: f32) {
    if w.is_empty() {
        return;
    }
    for head in x.chunks_exact_mut(w.len()) {
        let normed = rmsnorm(head, w, eps);
        head.copy_from_slice(&normed);
    }
}

/// Rotates every head of `x` [n_heads * head_dim] in place for position `pos`.
/// Pairwise rotates (2i, 2i+1); RotateHalf rotates (i, i + head_dim/2).
pub fn rope(x: &mut [f32], head_dim: usize, pos: usize, theta: f32, style: RopeStyle) {
    rope_with(
        x,
        head_dim,
        pos,
        &RopeFrequencies::plain(theta, head_dim),
        style,
    );
}

/// [`rope`] with the frequencies of a (possibly scaled) rope.
pub fn rope_with(
    x: &mut [f32],
    head_dim: usize,
    pos: usize,
    freqs: &RopeFrequencies,
    style: RopeStyle,
) {
    let half = head_dim / 2;
    let row = freqs.row(pos);
    for head in x.chunks_exact_mut(head_dim) {
        for (i, [c, s]) in row.iter().enumerate() {
            let (ia, ib) = match style {
                RopeStyle::Pairwise => (2 * i, 2 * i + 1),
                RopeStyle::RotateHalf => (i, i + half),
            };
            let (a, b) = (head[ia], head[ib]);
            head[ia] = a * c - b * s;
            head[ib] = a * s + b * c;
        }
    }
}

/// `y[t, r] = Σ_j x[t, j] · w[r, j]`: x [n, k], w [rows, k] → y [n, rows].
pub fn matmul(x: &[f32], w: &[f32], k: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity((x.len() / k) * (w.len() / k));
    for xt in x.chunks_exact(k) {
        for wr in w.chunks_exact(k) {
            y.push(xt.iter().zip(wr).map(|(a, b)| a * b).sum());
        }
    }
    y
}

/// In-place softmax of one row, max-subtracted.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// `silu(g) * u` elementwise.
pub fn silu_mul(g: &[f32], u: &[f32]) -> Vec<f32> {
    g.iter()
        .zip(u)
        .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
        .collect()
}

/// GELU, tanh approximation: `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh())
}

/// `act(g) * u` elementwise: the gated FFN's hidden values.
pub fn gated(act: FfnActivation, g: &[f32], u: &[f32]) -> Vec<f32> {
    match act {
        FfnActivation::Silu => silu_mul(g, u),
        FfnActivation::GeluTanh => g.iter().zip(u).map(|(g, u)| gelu_tanh(*g) * u).collect(),
    }
}

/// `act(u)` elementwise: the ungated FFN's hidden values (GPT-2).
pub fn activated(act: FfnActivation, u: &[f32]) -> Vec<f32> {
    match act {
        FfnActivation::Silu => u.iter().map(|u| u / (1.0 + (-u).exp())).collect(),
        FfnActivation::GeluTanh => u.iter().map(|u| gelu_tanh(*u)).collect(),
    }
}

/// Index of the largest value; ties go to the lowest index. `None` for an empty slice.
pub fn argmax(x: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in x.iter().enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Attention head layout.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
}

impl Heads {
    /// Width of a cache row: every KV head.
    pub fn kv_dim(self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Where the KV head of query head `h` starts in a cache row: query heads share KV
    /// heads in consecutive groups.
    pub fn kv_offset(self, h: usize) -> usize {
        h / (self.n_head / self.n_head_kv) * self.head_dim
    }

    /// The scores' scale, 1/√head_dim.
    pub fn scale(self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// The cache positions a query at `pos` attends to: all before it and itself, or with a
/// sliding `window` the last `window` of them.
pub fn visible_keys(pos: usize, window: Option<usize>) -> std::ops::Range<usize> {
    let first = window.map_or(0, |w| (pos + 1).saturating_sub(w));
    first..pos + 1
}

/// Causal grouped-query attention of `n` query rows at positions `pos..pos+n`.
/// q [n, n_head * head_dim] (already rotated); k_cache, v_cache [>= pos+n, n_head_kv *
/// head_dim] (rotated keys). Query head h reads KV head h / (n_head / n_head_kv). With a
/// sliding `window`, each query sees only the last `window` positions.
/// Returns [n, n_head * head_dim].
pub fn attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    pos: usize,
    heads: Heads,
    window: Option<usize>,
) -> Vec<f32> {
    let Heads {
        n_head, head_dim, ..
    } = heads;
    let q_dim = n_head * head_dim;
    let kv_dim = heads.kv_dim();
    let scale = heads.scale();
    let mut out = vec![0.0; q.len()];
    for (t, qt) in q.chunks_exact(q_dim).enumerate() {
        let keys = visible_keys(pos + t, window);
        for h in 0..n_head {
            let qh = &qt[h * head_dim..(h + 1) * head_dim];
            let kv_off = heads.kv_offset(h);
            // scores [visible keys]
            let mut scores: Vec<f32> = keys
                .clone()
                .map(|p| {
                    let kp = &k_cache[p * kv_dim + kv_off..p * kv_dim + kv_off + head_dim];
                    qh.iter().zip(kp).map(|(a, b)| a * b).sum::<f32>() * scale
                })
                .collect();
            softmax(&mut scores);
            let oh = &mut out[t * q_dim + h * head_dim..t * q_dim + (h + 1) * head_dim];
            for (p, a) in keys.clone().zip(&scores) {
                let vp = &v_cache[p * kv_dim + kv_off..p * kv_dim + kv_off + head_dim];
                for (o, v) in oh.iter_mut().zip(vp) {
                    *o += a * v;
                }
            }
        }
    }
    out
}

/// The CPU model: weights by role (and layer) as f32, plus its own KV cache.
pub struct ReferenceModel {
    config: ModelConfig,
    /// Keyed by role and block (`None` outside the blocks), as the architecture's table
    /// names them.
    weights: HashMap<(Role, Option<usize>), Vec<f32>>,
    /// Per layer: keys and values [positions so far, kv_dim] (rotated keys).
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
}

impl ReferenceModel {
    /// Takes `weights` by canonical GGUF name; checks that every tensor the config needs is
    /// present with the right size (others are ignored).
    pub fn new(config: ModelConfig, mut weights: HashMap<String, Vec<f32>>) -> Result<Self> {
        let mut by_role = HashMap::new();
        for t in config.tensors() {
            let len: usize = t.shape.iter().product();
            match weights.remove(&t.name) {
                None => return Err(Error::MissingTensor(t.name)),
                Some(w) if w.len() != len => {
                    return Err(Error::ShapeMismatch {
                        tensor: t.name,
                        expected: vec![len],
                        found: vec![w.len()],
                    })
                }
                Some(w) => {
                    by_role.insert((t.role, t.layer), w);
                }
            }
        }
        let n_layer = config.n_layer;
        Ok(Self {
            config,
            weights: by_role,
            k_cache: vec![Vec::new(); n_layer],
            v_cache: vec![Vec::new(); n_layer],
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The model-level weight of `role` (embedding, output norm, LM head).
    fn w(&self, role: Role) -> &[f32] {
        self.weight(role, None)
    }

    /// The weight of `role` in block `l`.
    fn lw(&self, l: usize, role: Role) -> &[f32] {
        self.weight(role, Some(l))
    }

    fn weight(&self, role: Role, layer: Option<usize>) -> &[f32] {
        // Presence and size were checked in `new`.
        self.weights
            .get(&(role, layer))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Runs `tokens` at positions `pos..`, returning the logits of every token
    /// ([tokens.len()][n_vocab]). The cache keeps positions `< pos` from earlier calls.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<Vec<f32>>> {
        let c = self.config.clone();
        let (dim, kv_dim) = (c.n_embd, c.kv_dim());
        if self.k_cache.first().is_some_and(|k| pos * kv_dim > k.len()) {
            return Err(Error::InvalidRequest(format!(
                "position {pos} is past the {} cached positions",
                self.k_cache[0].len() / kv_dim.max(1)
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(Error::InvalidRequest(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.n_vocab
            )));
        }
        let heads = Heads {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
        };
        let n = tokens.len();
        // x [n, dim]: the residual stream
        let embd = self.w(Role::TokEmbd);
        let mut x: Vec<f32> = tokens
            .iter()
            .flat_map(|&t| embd[t as usize * dim..(t as usize + 1) * dim].to_vec())
            .collect();
        if c.embedding_scale {
            let scale = c.embedding_multiplier();
            x.iter_mut().for_each(|v| *v *= scale);
        }
        // GPT-2: the position's learned embedding is added.
        if c.learned_positions {
            if pos + n > c.n_ctx_train {
                return Err(Error::InvalidRequest(format!(
                    "positions up to {} are past the model's {} learned ones",
                    pos + n,
                    c.n_ctx_train
                )));
            }
            let table = self.w(Role::PosEmbd);
            for (t, row) in x.chunks_exact_mut(dim).enumerate() {
                let p = &table[(pos + t) * dim..(pos + t + 1) * dim];
                row.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
        }
        // RMSNorm, or LayerNorm with the bias of role `bias`.
        let norm = |x: &[f32], w: &[f32], bias: &[f32]| -> Vec<f32> {
            x.chunks_exact(dim)
                .flat_map(|r| match c.layer_norm {
                    true => layernorm(r, w, bias, c.norm_eps),
                    false => rmsnorm(r, w, c.norm_eps),
                })
                .collect()
        };
        // Biases of the products where the model has them (GPT-2).
        let output_bias = |m: &mut Vec<f32>, bias: &[f32]| {
            if c.output_biases {
                add_bias(m, bias);
            }
        };
        // Gemma 3: the attention's and the FFN's outputs are normed before the residual add.
        let post_norm = |y: Vec<f32>, w: &[f32]| -> Vec<f32> {
            match c.post_norms {
                true => y
                    .chunks_exact(dim)
                    .flat_map(|r| rmsnorm(r, w, c.norm_eps))
                    .collect(),
                false => y,
            }
        };
        // Global and local (sliding-window) layers' rope.
        // The reference runs at the context the model was trained for.
        let factors = c.rope_factors_role(c.n_ctx_train).map(|role| self.w(role));
        let ropes = [c.rope(false, factors)?, c.rope(true, None)?];
        for l in 0..c.n_layer {
            // xb [n, dim]
            let xb = norm(
                &x,
                self.lw(l, Role::AttnNorm),
                self.lw(l, Role::AttnNormBias),
            );
            // q [n, q_dim], k and v [n, kv_dim]
            let mut q = matmul(&xb, self.lw(l, Role::AttnQ), dim);
            let mut k = matmul(&xb, self.lw(l, Role::AttnK), dim);
            let mut v = matmul(&xb, self.lw(l, Role::AttnV), dim);
            if c.qkv_bias {
                add_bias(&mut q, self.lw(l, Role::AttnQBias));
                add_bias(&mut k, self.lw(l, Role::AttnKBias));
                add_bias(&mut v, self.lw(l, Role::AttnVBias));
            }
            if c.qk_norm {
                head_norm(&mut q, self.lw(l, Role::AttnQNorm), c.norm_eps);
                head_norm(&mut k, self.lw(l, Role::AttnKNorm), c.norm_eps);
            }
            let freqs = &ropes[usize::from(c.layer_window(l).is_some())];
            for t in 0..n {
                rope_with(
                    &mut q[t * c.q_dim()..(t + 1) * c.q_dim()],
                    c.head_dim,
                    pos + t,
                    freqs,
                    c.rope_style,
                );
                rope_with(
                    &mut k[t * kv_dim..(t + 1) * kv_dim],
                    c.head_dim,
                    pos + t,
                    freqs,
                    c.rope_style,
                );
            }
            // caches [pos + n, kv_dim]
            self.k_cache[l].truncate(pos * kv_dim);
            self.k_cache[l].extend_from_slice(&k);
            self.v_cache[l].truncate(pos * kv_dim);
            self.v_cache[l].extend_from_slice(&v);
            // att [n, q_dim]
            let window = c.layer_window(l);
            let att = attention(&q, &self.k_cache[l], &self.v_cache[l], pos, heads, window);
            let mut o = matmul(&att, self.lw(l, Role::AttnOutput), c.q_dim());
            output_bias(&mut o, self.lw(l, Role::AttnOutputBias));
            let o = post_norm(o, self.lw(l, Role::AttnPostNorm));
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            let xb = norm(&x, self.lw(l, Role::FfnNorm), self.lw(l, Role::FfnNormBias));
            // up (and gate) [n, n_ff]
            let mut up = matmul(&xb, self.lw(l, Role::FfnUp), dim);
            output_bias(&mut up, self.lw(l, Role::FfnUpBias));
            let hidden = match c.ffn_gated {
                true => {
                    let gate = matmul(&xb, self.lw(l, Role::FfnGate), dim);
                    gated(c.ffn_activation, &gate, &up)
                }
                false => activated(c.ffn_activation, &up),
            };
            let mut down = matmul(&hidden, self.lw(l, Role::FfnDown), c.n_ff);
            output_bias(&mut down, self.lw(l, Role::FfnDownBias));
            let down = post_norm(down, self.lw(l, Role::FfnPostNorm));
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        let head = if c.tied_embeddings {
            Role::TokEmbd
        } else {
            Role::LmHead
        };
        let xn = norm(&x, self.w(Role::OutputNorm), self.w(Role::OutputNormBias));
        Ok(xn
            .chunks_exact(dim)
            .map(|r| matmul(r, self.w(head), dim))
            .collect())
    }
}
